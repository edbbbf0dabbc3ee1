"""Remote control over mutual TLS (`--control-listen` on the daemon,
`--control` on the client).  Skipped only on a positive sign of a build
without TLS (`balance --help` runs, prints its usage and does not mention
--tls-ca); a binary that is missing, crashes or fails on --help fails every
test here instead.  The flag names live in the constants below."""

import os
import shutil
import socket
import subprocess

import pytest

from harness import (BALANCE_BIN, LOOP4, channel, connect, free_listen_port, free_port, is_listening,
                     kill_pid, parse_show, pids_listening, run_balance, wait_for)

# daemon side
F_CONTROL_LISTEN = "--control-listen"
# client side
F_CONTROL = "--control"
# both sides
F_CERT, F_KEY, F_CA = "--tls-cert", "--tls-key", "--tls-ca"


def _probe_help():
    """(help text, None) when `balance --help` worked, else ("", why not)."""
    try:
        p = subprocess.run([BALANCE_BIN, "--help"], capture_output=True, timeout=10,
                           stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return "", f"cannot run {BALANCE_BIN} --help: {exc!r}"
    text = (p.stdout + p.stderr).decode(errors="replace")
    if p.returncode != 0 or "usage" not in text.lower():
        return "", f"{BALANCE_BIN} --help: rc={p.returncode}, output={text[:500]!r}"
    return text, None


HELP_TEXT, HELP_FAILURE = _probe_help()
BUILT_WITHOUT_TLS = HELP_FAILURE is None and F_CA not in HELP_TEXT

pytestmark = [
    pytest.mark.skipif(BUILT_WITHOUT_TLS, reason="balance --help does not mention --tls-ca"),
    pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl CLI"),
]


@pytest.fixture(autouse=True)
def _binary_answers_help():
    """A binary that cannot even print its usage is a failure, not a reason
    to skip."""
    if HELP_FAILURE:
        pytest.fail(HELP_FAILURE)


@pytest.fixture
def empty_env(tmp_path):
    """A client env whose runtime dir is empty: only --control can work."""
    d = tmp_path / "client-rt"
    d.mkdir(mode=0o700)
    return dict(os.environ, BALANCE_RUNTIME_DIR=str(d))


def _start_tls_daemon(start_balance, backends, pki):
    be = backends.echo()
    ctl_port = free_port(LOOP4)
    bal = start_balance([F_CONTROL_LISTEN, f"127.0.0.1:{ctl_port}", F_CERT, pki["server_cert"],
                         F_KEY, pki["server_key"], F_CA, pki["ca"], free_listen_port(), channel(be)])
    wait_for(lambda: is_listening(ctl_port), 10, what="the TLS control port to listen")
    return bal, be, ctl_port


def _remote(cmd, ctl_port, env, cert=None, key=None, ca=None):
    args = ["-c", cmd, F_CONTROL, f"127.0.0.1:{ctl_port}"]
    if cert:
        args += [F_CERT, cert]
    if key:
        args += [F_KEY, key]
    if ca:
        args += [F_CA, ca]
    return run_balance(args, env, timeout=15)


def test_remote_show_with_mutual_tls(start_balance, backends, pki, empty_env):
    bal, be, ctl_port = _start_tls_daemon(start_balance, backends, pki)
    rc, out, err = _remote("show", ctl_port, empty_env, pki["client_cert"], pki["client_key"], pki["ca"])
    assert rc == 0, (rc, out, err)
    assert str(be.port) in out and "ENA" in out, out
    assert out == bal.ctl_ok("show") or len(parse_show(out)) == 1


def test_remote_disable_applies(start_balance, backends, pki, empty_env):
    bal, be, ctl_port = _start_tls_daemon(start_balance, backends, pki)
    rc, out, err = _remote("disable 0", ctl_port, empty_env, pki["client_cert"], pki["client_key"],
                           pki["ca"])
    assert rc == 0 and "channel 0 disabled" in out, (rc, out, err)
    assert bal.show()[0]["state"] == "dis"


@pytest.mark.parametrize("which", ["cert-from-other-ca", "no-client-cert"])
def test_client_without_valid_cert_refused(which, start_balance, backends, pki, empty_env):
    bal, be, ctl_port = _start_tls_daemon(start_balance, backends, pki)
    if which == "cert-from-other-ca":
        rc, out, err = _remote("disable 0", ctl_port, empty_env, pki["rogue_cert"], pki["rogue_key"],
                               pki["ca"])
    else:
        rc, out, err = _remote("disable 0", ctl_port, empty_env, ca=pki["ca"])
    assert rc != 0, f"{which}: accepted: {out!r}"
    assert rc > 0, f"client killed by signal {-rc}"
    assert "channel 0 disabled" not in out
    assert bal.alive()
    assert bal.show()[0]["state"] == "ENA"


def test_client_rejects_server_from_other_ca(start_balance, backends, pki, empty_env):
    bal, be, ctl_port = _start_tls_daemon(start_balance, backends, pki)
    rc, out, err = _remote("disable 0", ctl_port, empty_env, pki["client_cert"], pki["client_key"],
                           pki["rogue_ca"])
    assert rc != 0, f"client trusted a server its CA did not sign: {out!r}"
    assert bal.show()[0]["state"] == "ENA"


def test_garbage_on_tls_control_port(start_balance, backends, pki, empty_env):
    bal, be, ctl_port = _start_tls_daemon(start_balance, backends, pki)
    for data in (os.urandom(4096), b"\x16\x03\x01\x00\x05hello", b"GET / HTTP/1.0\r\n\r\n"):
        s = connect(ctl_port, timeout=3)
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            s.settimeout(2)
            try:
                while s.recv(4096):
                    pass
            except OSError:
                pass
        finally:
            s.close()
    assert bal.alive()
    rc, out, err = _remote("show", ctl_port, empty_env, pki["client_cert"], pki["client_key"], pki["ca"])
    assert rc == 0, (rc, out, err)


@pytest.mark.parametrize("bad", ["missing-cert", "missing-key", "missing-ca", "garbage-cert"])
@pytest.mark.parametrize("foreground", [True, False], ids=["foreground", "daemon"])
def test_bad_tls_file_at_start(bad, foreground, pki, backends, env, tmp_path):
    files = {F_CERT: pki["server_cert"], F_KEY: pki["server_key"], F_CA: pki["ca"]}
    missing = str(tmp_path / "does-not-exist.pem")
    target = {"missing-cert": F_CERT, "missing-key": F_KEY, "missing-ca": F_CA,
              "garbage-cert": F_CERT}[bad]
    files[target] = pki["garbage"] if bad == "garbage-cert" else missing
    be = backends.echo()
    port, ctl_port = free_listen_port(), free_port(LOOP4)
    args = (["-f"] if foreground else []) + [F_CONTROL_LISTEN, f"127.0.0.1:{ctl_port}"]
    for flag, path in files.items():
        args += [flag, path]
    args += [str(port), channel(be)]
    try:
        rc, out, err = run_balance(args, env, timeout=15)
        assert rc != 0, f"{bad}: started anyway"
        assert rc > 0, f"{bad}: crashed with signal {-rc}; stderr={err!r}"
        assert files[target] in err, f"{bad}: the message does not name {files[target]}: {err!r}"
        assert not is_listening(port) and not is_listening(ctl_port)
    finally:
        for p in pids_listening(port) | pids_listening(ctl_port):
            kill_pid(p)


def test_control_listen_non_loopback_requires_tls(backends, env):
    """Publishing the control endpoint on a non-loopback address without TLS
    files is refused, naming the way out (TLS or the insecure flag).  The
    address is TEST-NET (192.0.2.1): never local, so nothing can bind even
    if the check were missing."""
    be = backends.echo()
    port, ctl_port = free_listen_port(), free_port(LOOP4)
    try:
        rc, out, err = run_balance(["-f", F_CONTROL_LISTEN, f"192.0.2.1:{ctl_port}", str(port),
                                    channel(be)], env, timeout=15)
        assert rc > 0, (rc, err)
        assert "tls" in err.lower() or "insecure" in err.lower(), err
        assert not is_listening(port)
    finally:
        for p in pids_listening(port):
            kill_pid(p)
