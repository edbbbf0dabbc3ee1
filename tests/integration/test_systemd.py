"""Under systemd: readiness and stop notices on $NOTIFY_SOCKET (Type=notify)
and socket activation ($LISTEN_FDS/$LISTEN_PID, descriptor 3)."""

import os
import signal
import socket
import subprocess

from harness import (BALANCE_BIN, LOOP4, channel, connect, echo_roundtrip, free_listen_port,
                     is_listening, parse_show, run_ctl, scaled, wait_counters_zero, wait_for)


def _notices(sock, until, timeout):
    """Datagrams from the notify socket until one contains `until`."""
    got = []
    sock.settimeout(scaled(timeout))
    while not any(until in g for g in got):
        got.append(sock.recv(4096).decode())
    return got


def test_ready_and_stopping_are_notified(env, backends, workdir):
    be = backends.echo()
    path = os.path.join(workdir, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    port = free_listen_port()
    p = subprocess.Popen([BALANCE_BIN, "-f", str(port), channel(be)], env=dict(env, NOTIFY_SOCKET=path),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    try:
        got = _notices(sock, "READY=1", 15)
        # READY means listening and controllable, at that very moment.
        assert is_listening(port)
        rc, out, err = run_ctl("show", port, env)
        assert rc == 0 and len(parse_show(out)) == 1, (rc, out, err)
        assert any(f"MAINPID={p.pid}" in g for g in got), got
        p.send_signal(signal.SIGTERM)
        assert any("STOPPING=1" in g for g in _notices(sock, "STOPPING=1", 10))
        assert p.wait(scaled(10)) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)
        sock.close()


def test_a_notify_socket_nobody_reads_does_not_hold_the_daemon(env, backends, workdir):
    """A reader whose queue is full (systemd busy, a supervisor reading
    late) costs notices, not the daemon: it serves, answers control and
    stops on SIGTERM."""
    be = backends.echo()
    path = os.path.join(workdir, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    filler = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    filler.connect(path)
    filler.setblocking(False)
    queued = 0
    while queued < 100_000:  # net.unix.max_dgram_qlen: 10 here, 512 under systemd
        try:
            filler.send(b"X-FILLER=1")
        except BlockingIOError:
            break
        queued += 1
    assert 0 < queued < 100_000, queued
    port = free_listen_port()
    p = subprocess.Popen([BALANCE_BIN, "-f", str(port), channel(be)], env=dict(env, NOTIFY_SOCKET=path),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    try:
        wait_for(lambda: is_listening(port), 15, what="the listener")
        s = connect(port)
        assert echo_roundtrip(s, b"served") == b"served"
        s.close()
        rc, out, err = run_ctl("show", port, env)
        assert rc == 0 and len(parse_show(out)) == 1, (rc, out, err)
        # Blocked in a send to the full queue, the main loop would never
        # take the signal.
        p.send_signal(signal.SIGTERM)
        assert p.wait(scaled(10)) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)
        filler.close()
        sock.close()


def test_socket_activation_uses_the_passed_listener(env, backends):
    """The test binds the port itself (no SO_REUSEPORT), so balance could
    not bind it: it serves only if it takes descriptor 3 as its listener."""
    be = backends.echo()
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.bind((LOOP4, 0))
    lst.listen(128)
    port = lst.getsockname()[1]

    def as_fd3():
        os.dup2(lst.fileno(), 3)

    # LISTEN_PID must be balance's own pid: sh sets it, then execs balance.
    cmd = ["sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@"', BALANCE_BIN, "-f", str(port),
           channel(be)]
    p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, preexec_fn=as_fd3, pass_fds=(3,))
    lst.close()  # balance holds it now
    try:
        wait_for(lambda: run_ctl("show", port, env)[0] == 0, 15, interval=0.1,
                 what="the socket-activated instance to answer")
        s = connect(port)
        try:
            assert echo_roundtrip(s, b"activated\n") == b"activated\n"
        finally:
            s.close()
        wait_counters_zero(balance_like(port, env))
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(scaled(10))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
    assert p.returncode == 0, p.stderr.read().decode()


class balance_like:
    """Enough of harness.Balance for wait_counters_zero()."""

    def __init__(self, port, env):
        self.port, self.env = port, env

    def ctl(self, cmd, timeout=10.0):
        return run_ctl(cmd, self.port, self.env, timeout=timeout)
