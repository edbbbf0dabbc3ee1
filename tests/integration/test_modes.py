"""The binary's other modes: --version, --help and --demo (two echo
backends behind 127.0.0.1:8888, in the foreground)."""

import re
import socket

import pytest

from harness import (EX_OSERR, LOOP4, Balance, channel, connect, echo_roundtrip, free_listen_port,
                     is_listening, recv_line, run_balance, scaled, wait_counters_zero, wait_for)

DEMO_PORT = 8888


def test_version_option(start_balance, backends, env):
    """`balance --version`: one line with the version and the limits, the
    same as a running instance's `version` reply."""
    rc, out, err = run_balance(["--version"], env)
    assert rc == 0, (rc, out, err)
    m = re.fullmatch(r"balance (\S+) \(MAXGROUPS=(\d+), MAXCHANNELS=(\d+)\)\n", out)
    assert m, f"--version printed {out!r}"
    bal = start_balance([free_listen_port(), channel(backends.echo())])
    reply = bal.ctl_ok("version")
    assert f"This is balance {m.group(1)}" in reply, reply
    assert f"MAXGROUPS={m.group(2)}" in reply and f"MAXCHANNELS={m.group(3)}" in reply, reply


def test_help_option(env):
    rc, out, err = run_balance(["--help"], env)
    assert rc == 0, (rc, out, err)
    assert out.lower().startswith("usage"), out[:200]
    for flag in ("--control", "--control-listen", "--insecure-control", "--secret-file",
                 "--tls-cert", "--tls-key", "--tls-ca", "--tls-passphrase-file", "--demo",
                 "--version"):
        assert flag in out, f"--help does not mention {flag}"


@pytest.fixture
def demo_port_free():
    """8888 is fixed: wait (bounded) for it to be free, else skip."""
    try:
        wait_for(lambda: not is_listening(DEMO_PORT), 10, what=f"port {DEMO_PORT} to be free")
    except AssertionError:
        pytest.skip(f"port {DEMO_PORT} is in use by something else")


def test_demo(demo_port_free, env, workdir):
    """--demo proxies 127.0.0.1:8888 round robin to two greeting echo
    backends, is controllable as `-b 127.0.0.1 ... 8888`, and stops on
    `kill` with exit 0."""
    demo = Balance(["--demo"], env, foreground=True, workdir=workdir)
    demo.port, demo.bind = DEMO_PORT, LOOP4
    try:
        demo.start(ready=True)
        greetings = []
        for _ in range(2):
            s = connect(DEMO_PORT)
            try:
                greetings.append(recv_line(s).decode())
                assert echo_roundtrip(s, b"echo me\n") == b"echo me\n"
            finally:
                s.close()
        assert sorted(greetings) == ["hello from backend-a\n", "hello from backend-b\n"], greetings
        rows = demo.show()
        assert [(r["grp"], r["ch"], r["state"], r["totalc"]) for r in rows] == \
            [(0, 0, "ENA", 1), (0, 1, "ENA", 1)], rows
        wait_counters_zero(demo)
        assert f"{LOOP4}:{DEMO_PORT}" in demo.stdout(), demo.stdout()
        rc, out, err = demo.ctl("kill")
        assert rc == 0 and "shutdown complete" in out, (rc, out, err)
        demo.proc.wait(scaled(5))
    finally:
        demo.stop()


def test_demo_port_taken(env):
    """--demo needs 127.0.0.1:8888: taken, it says so and exits 71."""
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        try:
            blocker.bind((LOOP4, DEMO_PORT))
            blocker.listen(1)
        except OSError:
            pass  # taken by something else already: just as good
        rc, out, err = run_balance(["--demo"], env)
        assert rc == EX_OSERR, (rc, out, err)
        assert str(DEMO_PORT) in err, err
    finally:
        blocker.close()
