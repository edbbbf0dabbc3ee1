"""Drain and upgrade: `-c drain` and SIGQUIT let live connections finish
and refuse new clients; `--drain-timeout` resets what is left; `-c
upgrade` hands the listening sockets, the control endpoint and the runtime
state to a new process without one failed connect, and a new binary that
fails (exits, or never says it is ready) leaves the old one serving."""

import json
import os
import shutil
import signal
import socket
import stat
import struct
import subprocess
import threading
import time

import pytest

from harness import (BALANCE_BIN, channel, connect, det_bytes, echo_roundtrip, exit_status,
                     free_listen_port, free_port, kill_pid, parse_kv_file, parse_show, pid_alive,
                     pids_listening, run_balance, run_ctl, scaled, sha, wait_for)

MB = 1 << 20


# ---------------------------------------------------------------- helpers


def trickle_handler(payload, chunk=64 * 1024, pause=0.02):
    """Sends `payload` in chunks with pauses (a download that takes a
    while), then its FIN; reads whatever the client sends."""

    def handler(c, rec):
        try:
            for i in range(0, len(payload), chunk):
                c.sendall(payload[i:i + chunk])
                time.sleep(pause)
            c.shutdown(socket.SHUT_WR)
            rec["sent_all"] = True
            while c.recv(65536):
                pass
        except OSError as exc:
            rec["error"] = repr(exc)

    return handler


def endless_handler(chunk=1024, pause=0.05, limit=30.0):
    """Sends a little every `pause` seconds for up to `limit` seconds: a
    transfer that is still running when a drain runs out of time (and whose
    client reads promptly, so that no byte is owed when it is cut)."""

    def handler(c, rec):
        deadline = time.monotonic() + limit
        try:
            while time.monotonic() < deadline:
                c.sendall(b"t" * chunk)
                time.sleep(pause)
        except OSError as exc:
            rec["error"] = repr(exc)

    return handler


class Reader(threading.Thread):
    """Reads a socket to its end: the bytes, and "eof" or "reset"."""

    def __init__(self, sock, timeout=30.0):
        super().__init__(daemon=True)
        self.sock = sock
        self.data = bytearray()
        self.end = None
        self.timeout = timeout
        self.start()

    def run(self):
        self.sock.settimeout(scaled(self.timeout))
        try:
            while True:
                got = self.sock.recv(65536)
                if not got:
                    self.end = "eof"
                    return
                self.data += got
        except ConnectionResetError:
            self.end = "reset"
        except OSError as exc:
            self.end = repr(exc)

    def finish(self, timeout):
        self.join(scaled(timeout))
        assert not self.is_alive(), f"the transfer did not end within {timeout}s"
        return bytes(self.data), self.end


def refused(port):
    """True if a connect to `port` is refused (nothing listens)."""
    try:
        connect(port, timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True


def show_json(bal_or_port, env=None):
    if isinstance(bal_or_port, int):
        rc, out, err = run_ctl("show json", bal_or_port, env)
    else:
        rc, out, err = bal_or_port.ctl("show json")
    assert rc == 0, (rc, out, err)
    return json.loads(out)


def rendezvous_pid(bal):
    info = bal.rendezvous() or {}
    return int(info["pid"]) if info.get("pid", "").isdigit() else None


def write_script(path, body):
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body)
    os.chmod(path, stat.S_IRWXU)
    return path


@pytest.fixture
def successors():
    """Pids of the processes upgrades started: whatever still runs at the
    end is stopped by pid (SIGTERM, then SIGKILL), and each must have
    exited 0 by itself."""
    pids = []
    yield pids
    problems = []
    for pid in reversed(pids):
        if pid_alive(pid):
            try:
                wait_for(lambda: parent_of(pid) == os.getpid(), 5)
            except (AssertionError, OSError):
                pass  # stopped all the same; its status may stay unknown
            if kill_pid(pid) == "kill":
                problems.append(f"process {pid} ignored SIGTERM")
        status = exit_status(pid)
        if status not in (0, None):
            problems.append(f"process {pid} ended with status {status}")
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


def parent_of(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("PPid:"):
                return int(line.split()[1])
    return None


def wait_gone_ok(pid, timeout=10.0):
    """Waits until `pid` has exited and been reaped here (a process an
    upgrade started is handed to us, the subreaper, once every thread of
    its parent is gone), and checks that it exited 0 by itself."""
    wait_for(lambda: not pid_alive(pid) and exit_status(pid) is not None, timeout,
             what=f"process {pid} to exit and be handed to us")
    status = exit_status(pid)
    assert status == 0, f"process {pid} ended with status {status}"


def stop_ok(pid, timeout=10.0):
    """SIGTERM to a process an upgrade started, once it is ours to reap
    (its parent fully gone), and it must exit 0."""
    wait_for(lambda: parent_of(pid) == os.getpid(), timeout,
             what=f"process {pid} to be handed to us")
    os.kill(pid, signal.SIGTERM)
    # (A zombie main thread may wait for the others a moment: until then
    # the status is not ours to read.)
    wait_gone_ok(pid, timeout)


def upgrade(bal, successors, path=None, timeout=30.0):
    """`-c upgrade [path]`: the new process's pid (checked to own the
    control file and to answer)."""
    cmd = "upgrade" + (f" {path}" if path else "")
    rc, out, err = bal.ctl(cmd, timeout=timeout)
    assert rc == 0 and out.startswith("upgrade complete: new master process is "), (rc, out, err)
    pid = int(out.split()[-1])
    successors.append(pid)
    assert rendezvous_pid(bal) == pid
    return pid


# ---------------------------------------------------------------- drain


@pytest.mark.parametrize("how", ["command", "SIGQUIT"])
def test_drain_lets_a_download_finish_and_refuses_new_clients(how, start_balance, backends):
    payload = det_bytes(4 * MB, 14)
    srv = backends.threaded(trickle_handler(payload))
    bal = start_balance([free_listen_port(), channel(srv)])
    s = connect(bal.port)
    reader = Reader(s)
    try:
        wait_for(lambda: len(reader.data) >= 256 * 1024, 10, what="the download to begin")
        if how == "command":
            rc, out, err = bal.ctl("drain")
            assert rc == 0, (rc, out, err)
            assert out.startswith("draining: listener closed, 1 connections left, at most 30 s"), out
        else:
            bal.proc.send_signal(signal.SIGQUIT)
            wait_for(lambda: refused(bal.port), 5, what="the listener to close on SIGQUIT")
        # Once the drain says so, nothing listens: new clients are refused.
        assert refused(bal.port)
        # show keeps answering (3.54's table unchanged), JSON says draining.
        rows = bal.show()
        assert len(rows) == 1 and rows[0]["c"] == 1
        doc = show_json(bal)
        assert doc["draining"] is True and 0 < doc["drain_seconds_left"] <= 30
        rc, out, _ = bal.ctl("metrics")
        assert "\nbalance_draining 1\n" in out
        rc, out, _ = bal.ctl("drain")
        assert rc == 0 and out == "already draining\n"
        data, end = reader.finish(30)
        assert end == "eof" and sha(data) == sha(payload), (len(data), end)
    finally:
        s.close()
    # The last connection gone, the process ends by itself, cleanly.
    assert bal.proc.wait(scaled(10)) == 0
    assert not os.path.exists(bal.rendezvous_path())
    assert not os.path.exists(bal.rendezvous_path() + ".sock")


def test_drain_timeout_resets_what_is_left(start_balance, backends):
    srv = backends.threaded(endless_handler())
    bal = start_balance(["--drain-timeout", "1", free_listen_port(), channel(srv)])
    s = connect(bal.port)
    reader = Reader(s)
    try:
        wait_for(lambda: len(reader.data) >= 4096, 10, what="the transfer to begin")
        t0 = time.monotonic()
        rc, out, err = bal.ctl("drain")
        assert rc == 0 and "at most 1 s" in out, (rc, out, err)
        data, end = reader.finish(10)
        elapsed = time.monotonic() - t0
        # Cut at the deadline: a reset, never a FIN that would pass the
        # transfer off as complete.
        assert end == "reset", f"the cut transfer ended with {end} after {len(data)} bytes"
        assert 0.9 <= elapsed <= scaled(5), elapsed
    finally:
        s.close()
    assert bal.proc.wait(scaled(10)) == 0


def test_drain_of_an_idle_daemon_exits_at_once(start_balance, backends):
    be = backends.echo()
    bal = start_balance([free_listen_port(), channel(be)], foreground=False)
    rc, out, err = bal.ctl("drain")
    assert rc == 0 and "0 connections left" in out, (rc, out, err)
    wait_gone_ok(bal.pid)
    assert not os.path.exists(bal.rendezvous_path())


@pytest.mark.parametrize("how", ["kill", "SIGTERM"])
def test_kill_and_sigterm_stay_immediate_during_a_drain(how, start_balance, backends):
    srv = backends.threaded(endless_handler())
    bal = start_balance([free_listen_port(), channel(srv)])
    s = connect(bal.port)
    reader = Reader(s)
    try:
        wait_for(lambda: len(reader.data) >= 4096, 10, what="the transfer to begin")
        assert bal.ctl("drain")[0] == 0
        t0 = time.monotonic()
        if how == "kill":
            rc, out, err = bal.ctl("kill")
            assert rc == 0 and out == "shutdown complete, exiting.\n", (rc, out, err)
        else:
            bal.proc.send_signal(signal.SIGTERM)
            assert bal.proc.wait(scaled(10)) == 0
        assert time.monotonic() - t0 < scaled(5)  # not the drain's 30 s
        reader.finish(10)
    finally:
        s.close()
    assert bal.proc.wait(scaled(10)) == 0


class NotifySocket:
    """$NOTIFY_SOCKET played by the test: every datagram with its sender's
    pid (SCM_CREDENTIALS)."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.got = []  # (sender pid, text)

    def collect(self, until, timeout):
        deadline = time.monotonic() + scaled(timeout)
        while not any(until(pid, text) for pid, text in self.got):
            left = deadline - time.monotonic()
            assert left > 0, self.got
            self.sock.settimeout(left)
            data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(struct.calcsize("3i")))
            sender = None
            for level, kind, value in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    sender = struct.unpack("3i", value[:12])[0]
            self.got.append((sender, data.decode()))

    def close(self):
        self.sock.close()


def test_drain_tells_systemd(env, backends, workdir):
    srv = backends.threaded(endless_handler(limit=15))
    notify = NotifySocket(os.path.join(workdir, "notify"))
    port = free_listen_port()
    p = subprocess.Popen([BALANCE_BIN, "-f", "--drain-timeout", "2", str(port), channel(srv)],
                         env=dict(env, NOTIFY_SOCKET=notify.path), stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        notify.collect(lambda pid, t: "READY=1" in t, 15)
        s = connect(port)
        reader = Reader(s)
        wait_for(lambda: len(reader.data) >= 1024, 10, what="the transfer to begin")
        p.send_signal(signal.SIGQUIT)
        notify.collect(lambda pid, t: "STOPPING=1" in t
                       and "STATUS=draining: 1 connections left" in t, 10)
        assert reader.finish(10)[1] == "reset"  # at the 2 s deadline
        s.close()
        assert p.wait(scaled(10)) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)
        notify.close()


# ---------------------------------------------------------------- upgrade


def test_upgrade_carries_state_and_control(start_balance, backends, successors):
    """A daemon (not -f): the new process answers -c show with what
    operators changed and the counters, under the same control file and
    secret; the old one exits 0 once its connections are done."""
    be = backends.echo()
    port = free_listen_port()
    bal = start_balance([port, channel(be), channel(be), channel(be)], foreground=False)
    old = bal.pid
    secret = bal.rendezvous()["secret"]
    bal.ctl_ok(f"disable 1; maxc 2 500; group 1; create 127.0.0.1 {be.port}; hash")
    for _ in range(4):
        s = connect(port)
        assert echo_roundtrip(s, b"before\n") == b"before\n"
        s.close()
    held = connect(port)  # lives across the upgrade, in the old process
    assert echo_roundtrip(held, b"held\n") == b"held\n"
    before = bal.show()
    new = upgrade(bal, successors)
    assert new != old and pid_alive(old)
    assert bal.rendezvous()["secret"] == secret
    after = bal.show()
    key = lambda r: (r["grp"], r["ch"], r["type"], r["state"], r["ip"], r["port"], r["maxc"])
    assert [key(r) for r in after] == [key(r) for r in before]
    assert [(r["grp"], r["ch"], r["state"], r["maxc"]) for r in after] == [
        (0, 0, "ENA", 0), (0, 1, "dis", 0), (0, 2, "ENA", 500), (1, 0, "dis", 0)]
    assert after[3]["type"] == "Hash"
    for b, a in zip(before, after):
        assert (a["totalc"], a["sent"], a["rcvd"]) == (b["totalc"], b["sent"], b["rcvd"])
        assert a["c"] == 0  # the held connection is the old process's
    doc = show_json(bal)
    assert doc["pid"] == new and doc["draining"] is False
    assert doc["uptime_seconds"] >= 0
    # New clients reach the new process; the held one still works.
    s = connect(port)
    assert echo_roundtrip(s, b"after\n") == b"after\n"
    s.close()
    assert echo_roundtrip(held, b"still\n") == b"still\n"
    assert pid_alive(old)
    held.close()
    wait_gone_ok(old)
    # The old process's exit left the new one's control file and socket.
    assert rendezvous_pid(bal) == new
    assert bal.ctl("show")[0] == 0
    bal.pid = new  # stop() ends (and checks) the instance's process now


def test_upgrade_hands_over_the_tcp_control_door(start_balance, backends, successors):
    """--control-listen: the new process answers on the same port with the
    same secret (the door's socket is handed over, not bound again)."""
    be = backends.echo()
    endpoint = f"127.0.0.1:{free_port()}"
    bal = start_balance(["--control-listen", endpoint, free_listen_port(), channel(be)])
    secret_file = bal.rendezvous_path()

    def remote_pid():
        rc, out, err = run_balance(["-c", "show json", "--control", endpoint,
                                    "--secret-file", secret_file], bal.env)
        assert rc == 0, (rc, out, err)
        return json.loads(out)["pid"]

    assert remote_pid() == bal.proc.pid
    new = upgrade(bal, successors)
    assert remote_pid() == new
    assert pids_listening(int(endpoint.split(":")[1])) == {new}
    assert bal.proc.wait(scaled(10)) == 0


def _scrape(port):
    """GET /metrics (plain HTTP/1.0, no curl needed): (status, body)."""
    s = connect(port)
    try:
        s.sendall(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        raw = b""
        while chunk := s.recv(65536):
            raw += chunk
    finally:
        s.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


def test_upgrade_hands_over_the_metrics_port(start_balance, backends, successors):
    """--metrics-listen: the new process serves /metrics on the same socket
    (not bound again: the old one still holds the port while the new one
    starts), with the drain gauge."""
    be = backends.echo()
    mport = free_port()
    bal = start_balance(["--metrics-listen", f"127.0.0.1:{mport}", free_listen_port(),
                         channel(be)])
    status, body = _scrape(mport)
    assert status == 200 and "\nbalance_draining 0\n" in body, body[:300]
    new = upgrade(bal, successors)
    assert pids_listening(mport) == {new}  # the old one closed its copy
    status, body = _scrape(mport)
    assert status == 200 and "balance_channel_up" in body
    assert bal.proc.wait(scaled(10)) == 0


def test_commands_and_upgrades_the_old_process_refuses(start_balance, backends, successors):
    be = backends.echo()
    bal = start_balance([free_listen_port(), channel(be)])
    held = connect(bal.port)
    assert echo_roundtrip(held, b"x\n") == b"x\n"
    # An -i shell opened before the upgrade stays with the old process.
    shell = subprocess.Popen([BALANCE_BIN, "-i", str(bal.port)], env=bal.env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    try:
        shell.stdin.write(b"version\n")
        shell.stdin.flush()
        lines = []
        reader = threading.Thread(
            target=lambda: lines.extend(iter(shell.stdout.readline, b"")), daemon=True)
        reader.start()
        wait_for(lambda: any(b"MAXCHANNELS" in l for l in lines), 10,
                 what="the shell to be connected")
        new = upgrade(bal, successors)
        shell.stdin.write(b"show\ndisable 0\ndrain\nupgrade\n")
        shell.stdin.close()
        assert shell.wait(scaled(20)) == 0
        reader.join(scaled(5))
        text = b"".join(lines).decode()
        err = shell.stderr.read().decode()
        assert f"PID of master process is {bal.proc.pid}" in text
        assert " ENA " in text  # show still answers in the old process
        assert "handing the instance over" in err, err  # disable: not here
        assert f"already draining (handed over to process {new})" in text, text
        assert f"the instance is draining (handed over to process {new}): not upgrading" in text
    finally:
        if shell.poll() is None:
            shell.kill()
            shell.wait(5)
    # The new process has the instance: nothing was disabled there.
    assert bal.show()[0]["state"] == "ENA"
    rc, out, err = bal.ctl("disable 0")
    assert rc == 0 and out == "channel 0 disabled\n"
    held.close()
    assert bal.proc.wait(scaled(10)) == 0


def test_upgrade_notifies_systemd_of_the_new_main_pid(env, backends, workdir, successors):
    be = backends.echo()
    notify = NotifySocket(os.path.join(workdir, "notify"))
    port = free_listen_port()
    p = subprocess.Popen([BALANCE_BIN, "-f", str(port), channel(be)],
                         env=dict(env, NOTIFY_SOCKET=notify.path), stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        notify.collect(lambda pid, t: "READY=1" in t, 15)
        rc, out, err = run_ctl("upgrade", port, env, timeout=30)
        assert rc == 0, (rc, out, err)
        new = int(out.split()[-1])
        successors.append(new)
        # The old process, still the main pid, names the new one...
        notify.collect(lambda pid, t: pid == p.pid and f"MAINPID={new}" in t, 10)
        # ...and the new one says it is ready, as the main pid.
        notify.collect(lambda pid, t: pid == new and "READY=1" in t and f"MAINPID={new}" in t, 10)
        assert p.wait(scaled(10)) == 0
        # After the hand-over the old process told systemd nothing more.
        after = [t for pid, t in notify.got if pid == p.pid]
        assert not any("STOPPING=1" in t for t in after), after
        stop_ok(new)
        notify.collect(lambda pid, t: pid == new and "STOPPING=1" in t, 10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)
        notify.close()


def test_upgrade_found_by_pid(start_balance, backends, successors):
    """systemd's ExecReload knows the main pid, not the port:
    `balance -c upgrade --pid $MAINPID`."""
    be = backends.echo()
    bal = start_balance([free_listen_port(), channel(be)])
    rc, out, err = run_balance(["-c", "upgrade", "--pid", str(bal.proc.pid)], bal.env,
                               timeout=30)
    assert rc == 0 and "new master process is" in out, (rc, out, err)
    new = int(out.split()[-1])
    successors.append(new)
    rc, out, err = run_balance(["-c", "show", "--pid", str(new)], bal.env)
    assert rc == 0 and len(parse_show(out)) == 1, (rc, out, err)
    rc, out, err = run_balance(["-c", "show", "--pid", "999999"], bal.env)
    assert rc == 69 and "no instance whose master process is 999999" in err
    assert bal.proc.wait(scaled(10)) == 0


def test_upgrade_defaults_to_the_binary_now_on_disk(env, backends, workdir, successors):
    """A package update renames the new file over the running binary:
    `upgrade` without a path starts what is at the old path now."""
    be = backends.echo()
    bindir = os.path.join(workdir, "bin")
    os.mkdir(bindir)
    binary = os.path.join(bindir, "balance")
    shutil.copy2(BALANCE_BIN, binary)
    port = free_listen_port()
    p = subprocess.Popen([binary, "-f", str(port), channel(be)], env=env,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: run_ctl("show", port, env)[0] == 0, 15, what="the copy to answer")
        shutil.copy2(BALANCE_BIN, binary + ".new")
        os.rename(binary + ".new", binary)
        assert os.readlink(f"/proc/{p.pid}/exe") == binary + " (deleted)"
        rc, out, err = run_ctl("upgrade", port, env, timeout=30)
        assert rc == 0, (rc, out, err)
        new = int(out.split()[-1])
        successors.append(new)
        assert os.readlink(f"/proc/{new}/exe") == binary
        assert p.wait(scaled(10)) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)


def _forged_start(port, be, state, workdir, env):
    """Starts balance as an upgrade would, but from the test: a listening
    socket at 3, the state (a memfd) at 4, a readiness pipe at 5, a stderr
    at 6. Returns (exit status, what it said on the pipe, its stderr)."""
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.bind(("127.0.0.1", port))
    lst.listen(16)
    state_fd = os.memfd_create("forged-state")
    os.write(state_fd, state.encode())
    ready_r, ready_w = os.pipe()
    err_path = os.path.join(workdir, "forged.err")
    err = open(err_path, "wb")
    sources = [lst.fileno(), state_fd, ready_w, err.fileno()]

    def place():
        high = [os.dup2(fd, 100 + i) for i, fd in enumerate(sources)]
        for i, fd in enumerate(high):
            os.dup2(fd, 3 + i)

    cmd = ["sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=proxy BALANCE_HANDOVER=4:5:6 '
           'exec "$0" "$@"', BALANCE_BIN, "-f", str(port), channel(be)]
    try:
        p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=err, preexec_fn=place, pass_fds=(3, 4, 5, 6))
        os.close(ready_w)
        try:
            rc = p.wait(scaled(15))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
            raise AssertionError("a forged hand-over was taken")
        said = b""
        while chunk := os.read(ready_r, 4096):
            said += chunk
    finally:
        lst.close()
        os.close(state_fd)
        os.close(ready_r)
        err.close()
    with open(err_path, errors="replace") as f:
        return rc, said.decode(), f.read()


def test_a_forged_hand_over_is_refused(start_balance, backends, workdir, env):
    """The state says it comes from our parent, but the control file it
    names belongs to another live instance: whoever forged it does not own
    that instance, and the new process must not take its control file."""
    be = backends.echo()
    bal = start_balance([free_listen_port(), channel(be)])
    info = bal.rendezvous()
    state = (f"balance-handover 1\npid {os.getpid()}\ntoken {info['secret']}\nuptime 0\n"
             f"rendezvous {bal.rendezvous_path()}\ngroup 0 rr 0\n"
             f"channel 0 0 127.0.0.1 {be.port} 0 enabled 0 0 0\nend\n")
    rc, said, err = _forged_start(free_port(), be, state, workdir, env)
    assert rc == 77, (rc, said, err)
    assert said.startswith("77 hand-over refused: the control file "), said
    assert f"belongs to process {bal.proc.pid}, which is not handing over" in said
    assert rendezvous_pid(bal) == bal.proc.pid and bal.rendezvous() == info
    s = connect(bal.port)
    assert echo_roundtrip(s, b"mine\n") == b"mine\n"
    s.close()


def test_a_broken_hand_over_state_is_refused(backends, workdir, env):
    be = backends.echo()
    for state, why in [("balance-handover 1\npid 1\n", "incomplete state"),
                       ("rm -rf /\n", "not a balance hand-over state"),
                       ("balance-handover 1\npid 1\ntoken " + "a" * 64 + "\nuptime 0\n"
                        "rendezvous /x\ngroup 99 rr 0\nend\n", "malformed group")]:
        rc, said, err = _forged_start(free_port(), be, state, workdir, env)
        assert rc == 70 and "the hand-over state is broken" in err and why in err, (rc, err)
        assert said == ""


@pytest.mark.timeout_s(60)
def test_failed_upgrades_leave_the_old_process_serving(start_balance, backends, workdir):
    be = backends.echo()
    bal = start_balance([free_listen_port(), channel(be)])
    exits = write_script(os.path.join(workdir, "exits"),
                         'echo "new balance: cannot read its configuration" >&2\nexit 3\n')
    hangs = write_script(os.path.join(workdir, "hangs"),
                         'echo "new balance: starting slowly" >&2\nexec sleep 60\n')

    def still_serving():
        assert rendezvous_pid(bal) == bal.proc.pid
        assert pids_listening(bal.port) == {bal.proc.pid}
        s = connect(bal.port)
        try:
            assert echo_roundtrip(s, b"alive\n") == b"alive\n"
        finally:
            s.close()
        rc, out, err = bal.ctl("disable 0; enable 0")
        assert rc == 0 and out == "channel 0 disabled\nchannel 0 enabled\n", (rc, out, err)

    rc, out, err = bal.ctl(f"upgrade {exits}", timeout=30)
    assert rc == 69, (rc, out, err)
    assert f"{exits} exited with status 3 before it was ready" in err, err
    assert "new balance: cannot read its configuration" in err, err
    still_serving()

    t0 = time.monotonic()
    rc, out, err = bal.ctl(f"upgrade {hangs}", timeout=40)
    elapsed = time.monotonic() - t0
    assert rc == 69, (rc, out, err)
    assert f"{hangs} did not report ready within 10 s" in err, err
    assert "new balance: starting slowly" in err, err
    assert 9.5 <= elapsed <= scaled(20), elapsed
    still_serving()

    rc, out, err = bal.ctl(f"upgrade {workdir}/no-such-binary")
    assert rc == 69 and "cannot execute" in err and "No such file" in err, (rc, out, err)
    still_serving()
    assert show_json(bal)["draining"] is False


# ------------------------------------------------- upgrade under load


class Load:
    """Clients opening new connections as fast as they can (each one byte
    echoed, then closed), every attempt recorded with its time."""

    def __init__(self, port, threads=2):
        self.port = port
        self.ok = []      # completion times
        self.failed = []  # (time, error)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _run(self):
        while not self.stop.is_set():
            try:
                s = connect(self.port, timeout=5)
                try:
                    s.sendall(b"x")
                    if s.recv(1) != b"x":
                        raise OSError("no echo")
                finally:
                    s.close()
                with self.lock:
                    self.ok.append(time.monotonic())
            except OSError as exc:
                with self.lock:
                    self.failed.append((time.monotonic(), repr(exc)))

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(scaled(10))

    def rate(self, start, end):
        with self.lock:
            n = sum(1 for t in self.ok if start <= t < end)
        return n / (end - start) if end > start else 0.0

    def longest_gap(self, start, end):
        """The longest time in [start, end] without a completed connection."""
        with self.lock:
            times = sorted(t for t in self.ok if start <= t <= end)
        marks = [start] + times + [end]
        return max(b - a for a, b in zip(marks, marks[1:]))


class LongLived:
    """`n` echo connections held open, each exercised in turn until told to
    stop: a reset or a wrong echo is recorded."""

    def __init__(self, port, n=50):
        self.socks = [connect(port) for _ in range(n)]
        self.errors = []
        self.rounds = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        k = 0
        while not self.stop.is_set():
            for i, s in enumerate(self.socks):
                msg = f"long {i} {k}\n".encode()
                try:
                    if echo_roundtrip(s, msg, timeout=5) != msg:
                        self.errors.append((i, k, "wrong echo"))
                except OSError as exc:
                    self.errors.append((i, k, repr(exc)))
            k += 1
            self.rounds = k
            self.stop.wait(0.2)

    def finish(self):
        self.stop.set()
        self.thread.join(scaled(20))
        for s in self.socks:
            s.close()


@pytest.mark.timeout_s(150)
def test_upgrade_under_load_fails_no_connect(start_balance, backends, successors):
    be = backends.echo()
    bal = start_balance([free_listen_port(), channel(be), channel(be), channel(be)])
    port = bal.port
    bal.ctl_ok("disable 1; maxc 2 900")
    chain = [bal.proc.pid]
    long_lived = LongLived(port)
    load = Load(port)
    switches = []  # (start, end, new pid)
    try:
        time.sleep(1.5)  # load before the first switch, to compare with
        for n in range(5):
            before = bal.show()
            t0 = time.monotonic()
            new = upgrade(bal, successors)
            t1 = time.monotonic()
            switches.append((t0, t1, new))
            chain.append(new)
            after = bal.show()
            assert [(r["state"], r["maxc"]) for r in after] == [("ENA", 0), ("dis", 0), ("ENA", 900)]
            for b, a in zip(before, after):
                assert a["totalc"] >= b["totalc"] and a["sent"] >= b["sent"], (before, after)
            time.sleep(1.5)
    finally:
        load.finish()
        long_lived.finish()
    ok, failed = len(load.ok), load.failed
    print(f"\nupgrade under load: {ok} connections, {len(failed)} failed, "
          f"{long_lived.rounds} rounds over 50 long-lived connections")
    quiet = (switches[0][0] - 1.25, switches[0][0] - 0.25)  # no switch near
    print(f"before any switch: {load.rate(*quiet):.0f} conn/s, longest gap in 1 s "
          f"{load.longest_gap(*quiet) * 1000:.1f} ms")
    print("switch | -c upgrade took | conn/s, 1 s before | 0.2 s around | 1 s after"
          " | longest gap ±1 s")
    for i, (t0, t1, pid) in enumerate(switches, 1):
        mid = (t0 + t1) / 2
        print(f"{i:6d} | {t1 - t0:13.3f} s | {load.rate(t0 - 1, t0):18.0f} | "
              f"{load.rate(mid - 0.1, mid + 0.1):12.0f} | {load.rate(t1, t1 + 1):9.0f} | "
              f"{load.longest_gap(t0 - 1, t1 + 1) * 1000:11.1f} ms")
    assert not failed, f"{len(failed)} failed connects, first: {failed[:5]}"
    assert not long_lived.errors, long_lived.errors[:5]
    assert ok > 0
    # Every old process exits 0 once its connections are done (the first
    # held the long-lived ones until now).
    assert bal.proc.wait(scaled(15)) == 0
    for pid in chain[1:-1]:
        wait_gone_ok(pid, 15)
    final = chain[-1]
    assert rendezvous_pid(bal) == final and pid_alive(final)
    rows = bal.show()
    assert sum(r["totalc"] for r in rows) >= 50
    assert all(r["c"] == 0 for r in rows)
    stop_ok(final)


# ------------------------------------------------- clients and daemons of other versions


OLD_BIN = os.environ.get("BALANCE_OLD_BIN")


@pytest.mark.skipif(not OLD_BIN, reason="BALANCE_OLD_BIN (a build without drain) not set")
def test_versions_without_drain(start_balance, backends, env, workdir):
    """An older client shows a newer daemon (its interface is a superset);
    a newer client tells an older daemon's lack of `drain`."""
    be = backends.echo()
    bal = start_balance([free_listen_port(), channel(be)])
    old = subprocess.run([OLD_BIN, "-c", "show", str(bal.port)], env=env, capture_output=True,
                         timeout=scaled(15))
    assert old.returncode == 0 and len(parse_show(old.stdout.decode())) == 1, old
    port = free_listen_port()
    d = subprocess.Popen([OLD_BIN, "-f", str(port), channel(be)], env=env,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: run_ctl("show", port, env)[0] == 0, 15, what="the old daemon")
        rc, out, err = run_ctl("drain", port, env)
        assert rc == 69 and "does not support 'drain'" in err, (rc, out, err)
        rc, out, err = run_ctl("show json", port, env)
        assert rc == 0 and "draining" not in json.loads(out), (rc, out, err)
    finally:
        d.terminate()
        d.wait(scaled(10))
