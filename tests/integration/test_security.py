"""Control-plane security: the rendezvous file (mode, secret, who may be
trusted), other users refused, forged secrets refused, squatted runtime
directories and planted files, a removed file or socket restored. Hostile
bytes and floods on the control doors are in test_control_attacks.py."""

import os
import pwd
import re
import secrets
import shutil
import stat
import subprocess

import pytest

import hostile
from harness import (BALANCE_BIN, channel, free_listen_port, kill_pid, make_runtime_dir,
                     parse_kv_file, parse_show, pids_listening, proc_tcp_sockets, remove_tree,
                     rendezvous_path, run_ctl, wait_for)

SECRET_RE = re.compile(r"^[A-Za-z0-9+/=_\-.:]{16,}$")


def _secret_keys(info):
    """Keys of the rendezvous file whose value looks like a secret token."""
    return [k for k, v in info.items()
            if k not in ("pid", "port", "host", "address", "addr", "version")
            and SECRET_RE.match(v) and not v.isdigit() and not v.startswith("/")
            and not re.match(r"^\[?[0-9a-fA-F.:]+\]?:\d+$", v)]


def _as_nobody():
    for tool in (["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"],
                 ["runuser", "-u", "nobody", "--"]):
        if shutil.which(tool[0]):
            return tool
    return None


needs_root = pytest.mark.skipif(os.geteuid() != 0 or _as_nobody() is None,
                                reason="needs root and setpriv/runuser to act as nobody")


def test_rendezvous_file_mode_and_secret(start_balance, backends, runtime_dir):
    be = backends.echo()
    bal1 = start_balance([free_listen_port(), channel(be)], foreground=False)
    bal2 = start_balance([free_listen_port(), channel(be)], foreground=False)
    infos = []
    for bal in (bal1, bal2):
        path = rendezvous_path(runtime_dir, bal.port)
        prefix = os.path.basename(path)
        for name in os.listdir(runtime_dir):
            if name.startswith(prefix):  # the file and any companion (keys...)
                st = os.stat(os.path.join(runtime_dir, name))
                assert stat.S_IMODE(st.st_mode) == 0o600, f"{name} mode {oct(st.st_mode)}"
                assert st.st_uid == os.geteuid()
        info = parse_kv_file(path)
        keys = _secret_keys(info)
        assert keys, f"no secret-looking value in the rendezvous file: {sorted(info)}"
        infos.append({info[k] for k in keys})
    assert not (infos[0] & infos[1]), "two instances share a secret"


def _listening_ports_of(pid):
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return {port for _, _, port, _, ino in proc_tcp_sockets() if ino in inodes}


def test_no_tcp_control_endpoint_by_default(start_balance, backends, runtime_dir):
    """Local control is an AF_UNIX socket in the private runtime directory:
    the daemon listens on no TCP port but the proxy's."""
    be = backends.echo()
    bal = start_balance([free_listen_port(), channel(be)], foreground=False)
    info = parse_kv_file(rendezvous_path(runtime_dir, bal.port))
    assert stat.S_ISSOCK(os.stat(info["socket"]).st_mode)
    assert os.path.dirname(info["socket"]) == runtime_dir
    assert _listening_ports_of(bal.pid) == {bal.port}


@pytest.fixture
def nobody_bin():
    """The binary where nobody may run it (the tree may sit in a private home)."""
    path, d = hostile.public_copy_of(BALANCE_BIN)
    yield path
    remove_tree(d)


def _nobody_run(binary, args, env, timeout=10):
    cmd = _as_nobody() + [binary] + [str(a) for a in args]
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{cmd} hung")
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


@needs_root
@pytest.mark.parametrize("dir_mode,expected_rc", [(0o700, 69), (0o755, 77)],
                         ids=["private-dir", "world-readable-dir"])
def test_other_user_cannot_control(dir_mode, expected_rc, start_balance, backends, workdir,
                                   nobody_bin):
    """`balance -c "disable 0" PORT` as nobody fails and changes nothing: in
    a private directory it cannot even see the instance (69); in a readable
    one the file's secret is not readable (77)."""
    rt = make_runtime_dir(base="/tmp", mode=dir_mode)
    try:
        env = dict(os.environ, BALANCE_RUNTIME_DIR=rt)
        be = backends.echo()
        bal = start_balance([free_listen_port(), channel(be)], foreground=False, env=env)
        before = bal.show()
        rc, out, err = _nobody_run(nobody_bin, ["-c", "disable 0", bal.port], env)
        assert rc == expected_rc, f"nobody could run disable: rc={rc} out={out!r} err={err!r}"
        rc, out, err = _nobody_run(nobody_bin, ["-c", "show", bal.port], env)
        assert rc == expected_rc, f"nobody could run show: rc={rc} {out!r}"
        after = bal.show()
        assert [r["state"] for r in after] == ["ENA"]
        assert after == before
    finally:
        remove_tree(rt)


def test_forged_secret_refused(start_balance, backends, workdir):
    """A rendezvous file with the right endpoint but a wrong secret: the
    daemon refuses the request and changes nothing."""
    be = backends.echo()
    bal = start_balance([free_listen_port(), channel(be)], foreground=False)
    info = parse_kv_file(bal.rendezvous_path())
    keys = _secret_keys(info)
    if not keys:
        pytest.skip("no secret found in the rendezvous file")
    text = open(bal.rendezvous_path()).read()
    for k in keys:
        forged = secrets.token_hex(max(16, len(info[k]) // 2))[: len(info[k])]
        text = re.sub(rf"^{re.escape(k)}\s*=.*$", f"{k}={forged}", text, flags=re.M)
    rt2 = os.path.join(workdir, "forged-rt")
    os.mkdir(rt2, 0o700)
    path2 = rendezvous_path(rt2, bal.port)
    with open(path2, "w") as f:
        f.write(text)
    os.chmod(path2, 0o600)
    env2 = dict(bal.env, BALANCE_RUNTIME_DIR=rt2)
    rc, out, err = run_ctl("disable 0", bal.port, env2)
    assert rc == 77, f"a forged secret was accepted: rc={rc} {out!r} {err!r}"
    assert "channel 0 disabled" not in out
    assert bal.show()[0]["state"] == "ENA"


def test_planted_file_owned_by_another_user_is_refused(start_balance, backends, runtime_dir):
    """A file in the runtime directory that another user could have written
    (owned by them) is refused before anything is connected to."""
    be = backends.echo()
    bal = start_balance([free_listen_port(), channel(be)], foreground=False)
    path = bal.rendezvous_path()
    os.chown(path, 65534, 65534)
    rc, out, err = bal.ctl("show")
    assert rc == 77 and "refusing" in err and "belongs to uid 65534" in err, (rc, out, err)
    os.chown(path, os.geteuid(), os.getegid())
    os.chmod(path, 0o622)
    rc, out, err = bal.ctl("show")
    assert rc == 77 and "writable by other users" in err, (rc, out, err)
    os.chmod(path, 0o600)
    assert len(bal.show()) == 1


def test_planted_symlink_is_refused(start_balance, backends, runtime_dir, workdir):
    be = backends.echo()
    bal = start_balance([free_listen_port(), channel(be)], foreground=False)
    path = bal.rendezvous_path()
    real = os.path.join(workdir, "elsewhere")
    os.rename(path, real)
    os.symlink(real, path)
    try:
        rc, out, err = bal.ctl("show")
        assert rc == 77 and "symbolic link" in err, (rc, out, err)
    finally:
        os.unlink(path)
        os.rename(real, path)
    assert len(bal.show()) == 1


def test_runtime_dir_writable_by_others_is_ignored(start_balance, backends, runtime_dir):
    be = backends.echo()
    bal = start_balance([free_listen_port(), channel(be)], foreground=False)
    os.chmod(runtime_dir, 0o777)
    try:
        rc, out, err = bal.ctl("show")
        assert rc == 69 and "writable by other users" in err, (rc, out, err)
    finally:
        os.chmod(runtime_dir, 0o700)
    assert len(bal.show()) == 1


def test_removed_control_file_and_socket_come_back(start_balance, backends, runtime_dir):
    """A cleaner of /tmp (or an operator's rm) must not leave an instance
    that runs on but cannot be controlled."""
    be = backends.echo()
    bal = start_balance([free_listen_port(), channel(be)], foreground=False)
    info = bal.rendezvous()
    os.unlink(bal.rendezvous_path())
    os.unlink(info["socket"])
    wait_for(lambda: os.path.exists(bal.rendezvous_path()) and os.path.exists(info["socket"]),
             5, what="the control file and socket to be re-created")
    rows = bal.show()
    assert len(rows) == 1 and rows[0]["state"] == "ENA"


@needs_root
def test_squatted_tmp_dir_does_not_stop_a_daemon(backends, nobody_bin, workdir):
    """Another user creates /tmp/balance-$UID before the daemon's user does:
    the daemon starts all the same (in a directory nobody can claim in
    advance), and its user's clients find it."""
    uid = pwd.getpwnam("nobody").pw_uid
    squat = f"/tmp/balance-{uid}"
    if os.path.lexists(squat):
        pytest.skip(f"{squat} exists already")
    os.mkdir(squat, 0o777)
    os.chmod(squat, 0o777)
    env = {k: v for k, v in os.environ.items() if k != "BALANCE_RUNTIME_DIR"}
    be = backends.echo()
    port = free_listen_port()
    made = []
    try:
        rc, out, err = _nobody_run(nobody_bin, [port, channel(be)], env)
        assert rc == 0, (rc, out, err)
        made = [d for d in os.listdir("/tmp") if d.startswith(f"balance-{uid}.")]
        assert made, "no private fallback directory"
        rc, out, err = _nobody_run(nobody_bin, ["-c", "show", port], env)
        assert rc == 0 and len(parse_show(out)) == 1, (rc, out, err)
        rc, out, err = _nobody_run(nobody_bin, ["-c", "kill", port], env)
        assert rc == 0, (rc, out, err)
    finally:
        for pid in pids_listening(port):
            kill_pid(pid)
        remove_tree(squat)
        for d in made:
            remove_tree(os.path.join("/tmp", d))
