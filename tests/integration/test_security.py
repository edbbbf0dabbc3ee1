"""Control-plane security: rendezvous file permissions and secret, other
users refused, forged secrets refused, garbage on the control port."""

import os
import re
import secrets
import shutil
import socket
import stat
import struct
import subprocess
import time

import pytest

from harness import (BALANCE_BIN, LOOP4, LOOP6, channel, connect, echo_roundtrip, free_listen_port,
                     listeners, make_runtime_dir, parse_kv_file, parse_show, remove_tree,
                     rendezvous_path, run_ctl, wait_counters_zero)

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


def test_control_port_listens_on_loopback_only(start_balance, backends, runtime_dir):
    be = backends.echo()
    bal = start_balance([free_listen_port(), channel(be)], foreground=False)
    info = parse_kv_file(rendezvous_path(runtime_dir, bal.port))
    ctl_port = int(info["port"])
    addrs = {addr for _, addr in listeners(ctl_port)}
    assert addrs, "control port not listening"
    for addr in addrs:
        assert addr.startswith("127.") or addr in ("::1",) or addr.startswith("::ffff:127."), \
            f"control port {ctl_port} listens on {addr}"


def _nobody_run(args, env, timeout=10):
    cmd = _as_nobody() + [BALANCE_BIN] + [str(a) for a in args]
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{cmd} hung")
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def _nobody_can_exec(env):
    rc, out, err = _nobody_run(["-c", "show", str(free_listen_port())], env)
    return rc not in (126, 127)


@needs_root
@pytest.mark.parametrize("dir_mode", [0o700, 0o755], ids=["private-dir", "world-readable-dir"])
def test_other_user_cannot_control(dir_mode, start_balance, backends, workdir):
    """`balance -c "disable 0" PORT` as nobody fails and changes nothing."""
    rt = make_runtime_dir(base="/tmp", mode=dir_mode)
    try:
        env = dict(os.environ, BALANCE_RUNTIME_DIR=rt)
        if not _nobody_can_exec(env):
            pytest.skip(f"nobody cannot execute {BALANCE_BIN}")
        be = backends.echo()
        bal = start_balance([free_listen_port(), channel(be)], foreground=False, env=env)
        before = bal.show()
        rc, out, err = _nobody_run(["-c", "disable 0", bal.port], env)
        assert rc != 0, f"nobody could run disable: rc={rc} out={out!r} err={err!r}"
        rc, out, err = _nobody_run(["-c", "show", bal.port], env)
        assert rc != 0, f"nobody could run show: {out!r}"
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
    assert rc != 0, f"a forged secret was accepted: {out!r}"
    assert "channel 0 disabled" not in out
    assert bal.show()[0]["state"] == "ENA"


GARBAGE = [
    b"",
    b"\x00" * 64,
    b"\xff" * 64,
    b"\xff\xff\xff\x7f" + b"A" * 100,  # huge length prefix
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"show\n",
    b"kill\n",
]


def _control_address(info):
    port = int(info["port"])
    host = info.get("host") or info.get("address") or info.get("addr") or LOOP4
    return host, port


def test_garbage_on_control_port(start_balance, backends):
    be = backends.echo()
    bal = start_balance([free_listen_port(), channel(be)], foreground=False)
    host, ctl_port = _control_address(bal.rendezvous())
    payloads = GARBAGE + [os.urandom(65536), os.urandom(7), bytes(range(256)) * 16]
    for data in payloads:
        try:
            s = connect(ctl_port, host=host, timeout=3)
        except OSError:
            s = connect(ctl_port, host=LOOP6, timeout=3)
        try:
            try:
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
                s.settimeout(1)
                for _ in range(64):
                    if not s.recv(65536):
                        break
            except (socket.timeout, OSError):
                pass
        finally:
            s.close()
    # idle half-open connections must not block the control plane
    idle = []
    try:
        for _ in range(5):
            c = connect(ctl_port, host=host, timeout=3)
            c.sendall(b"\x00\x00")
            idle.append(c)
        rc, out, err = bal.ctl("show", timeout=10)
        assert rc == 0 and len(parse_show(out)) == 1, (rc, out, err)
    finally:
        for c in idle:
            c.close()
    assert bal.alive(), "daemon died from garbage on its control port"
    s = connect(bal.port)
    try:
        assert echo_roundtrip(s, b"alive\n") == b"alive\n"
    finally:
        s.close()
    rows = wait_counters_zero(bal)
    assert rows[0]["state"] == "ENA"


def _vm_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


@pytest.mark.xfail(strict=False, reason=(
    "known limitation of CAF 0.17: BASP reserves a peer's announced payload "
    "before anything is authenticated, and the local control endpoint is "
    "plain BASP on loopback (mutual TLS there stalled concurrent clients); "
    "see docs/architecture.md"))
@pytest.mark.parametrize("op", [1, 2], ids=["handshake", "message"])
def test_forged_length_prefix_on_control_port(op, start_balance, backends):
    """An unauthenticated peer announcing a huge message (a 32-byte header in
    the control protocol's framing - operation, 3 bytes, a big-endian 32-bit
    payload length, 24 bytes - with a 256 MB length) must not make the
    daemon reserve that memory: N such connections would exhaust the host.
    The control plane keeps answering and the proxy keeps working."""
    be = backends.echo()
    bal = start_balance([free_listen_port(), channel(be)])
    host, ctl_port = _control_address(bal.rendezvous())
    peak_before = _vm_kb(bal.pid, "VmHWM")
    header = struct.pack(">BBBBIQQQ", op, 0, 0, 0, 256 << 20, 0, 0, 0)
    s = connect(ctl_port, host=host, timeout=3)
    try:
        s.settimeout(1)
        try:
            s.recv(65536)  # the server's greeting, if any
        except OSError:
            pass
        try:
            s.sendall(header + b"\0" * 1024)
        except OSError:
            pass
        deadline = time.monotonic() + 1.5
        grown = 0
        while time.monotonic() < deadline:
            grown = max(grown, _vm_kb(bal.pid, "VmHWM") - peak_before)
            time.sleep(0.1)  # sampling memory use
        rc, out, err = bal.ctl("show", timeout=10)
        assert rc == 0, f"control plane unusable while the forged header is pending: {(rc, out, err)}"
    finally:
        s.close()
    assert grown < 64 * 1024, f"daemon memory grew by {grown // 1024} MB for a forged 256 MB header"
    assert bal.alive()
    c = connect(bal.port)
    try:
        assert echo_roundtrip(c, b"alive\n") == b"alive\n"
    finally:
        c.close()
    wait_counters_zero(bal)
