"""Process life cycle: daemonising, foreground, rendezvous file, kill,
signals, stale files, several instances."""

import fcntl
import os
import socket
import re
import shutil
import signal
import stat
import struct
import subprocess
import termios
import threading
import time

from harness import (BALANCE_BIN, EX_UNAVAILABLE, LOOP4, ExitTrap, channel, closed_by_peer,
                     connect, echo_roundtrip, free_listen_port, get_tag, is_listening, kill_pid,
                     parse_kv_file, parse_show, pid_alive, pids_listening, port_bindable,
                     rendezvous_path, run_balance, run_ctl, scaled, wait_counters_zero, wait_for)

import pytest


def test_daemon_returns_once_ready(start_balance, backends):
    """The command returns 0 once the proxy listens and is controllable:
    no polling needed afterwards."""
    be = backends.tag("A")
    port = free_listen_port()
    bal = start_balance([port, channel(be)], foreground=False)
    assert bal.start_elapsed < 10
    assert is_listening(port)
    assert get_tag(port) == "A"
    rc, out, err = bal.ctl("show")
    assert rc == 0 and len(parse_show(out)) == 1, (rc, out, err)
    assert bal.pid and pid_alive(bal.pid), "daemon pid not found or not alive"
    wait_counters_zero(bal)


def test_daemon_releases_callers_stdout_and_stderr(env, backends, balance_bin):
    """`out=$(balance 8080 host)` returns: the daemon does not keep the
    caller's stdout/stderr pipes open."""
    be = backends.echo()
    port = free_listen_port()
    p = subprocess.Popen([BALANCE_BIN, str(port), channel(be)], env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        try:
            out, err = p.communicate(timeout=scaled(15))
        except subprocess.TimeoutExpired:
            p.kill()
            pytest.fail("the daemon kept the caller's stdout/stderr pipes open")
        assert p.returncode == 0, err
        assert is_listening(port)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(scaled(5))
        for pid in pids_listening(port):
            kill_pid(pid)


def test_rendezvous_file(start_balance, backends, runtime_dir):
    be = backends.echo()
    port = free_listen_port()
    bal = start_balance([port, channel(be)], foreground=False)
    path = rendezvous_path(runtime_dir, port)
    assert os.path.exists(path), f"no rendezvous file {path}; dir has {os.listdir(runtime_dir)}"
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    assert st.st_uid == os.geteuid()
    info = parse_kv_file(path)
    assert info.get("socket", "").startswith(runtime_dir + "/"), f"no socket= line: {info}"
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(info["socket"])  # the control socket accepts connections
    finally:
        probe.close()
    if "pid" in info:
        assert int(info["pid"]) in pids_listening(port), "pid= is not the process listening"


def test_foreground_stays_in_foreground(start_balance, backends, runtime_dir):
    be = backends.echo()
    port = free_listen_port()
    bal = start_balance([port, channel(be)])
    assert os.path.exists(rendezvous_path(runtime_dir, port)), os.listdir(runtime_dir)
    assert bal.proc.poll() is None
    assert pids_listening(port) == {bal.proc.pid}, "-f must not fork away"


def _assert_gone(bal, port, runtime_dir, bind=None):
    wait_for(lambda: not bal.alive(), 3, what="the daemon to exit")
    wait_for(lambda: port_bindable(port), 1, what=f"port {port} to be free")
    path = rendezvous_path(runtime_dir, port, bind)
    assert not os.path.exists(path), "rendezvous file left behind"
    prefix = os.path.basename(path)
    left = [f for f in os.listdir(runtime_dir) if f.startswith(prefix)]
    assert not left, f"instance files left behind in the runtime dir: {left}"


def test_kill_command(start_balance, backends, runtime_dir):
    be = backends.echo()
    port = free_listen_port()
    bal = start_balance([port, channel(be)], foreground=False)
    rc, out, err = bal.ctl("kill")
    assert rc == 0, (rc, out, err)
    assert "shutdown complete, exiting." in out, (out, err)
    _assert_gone(bal, port, runtime_dir)


def test_kill_command_foreground_exit_status(start_balance, backends, runtime_dir):
    be = backends.echo()
    port = free_listen_port()
    bal = start_balance([port, channel(be)])
    # reap the foreground process as soon as it exits (as a shell would)
    reaper = threading.Thread(target=lambda: bal.proc.wait(scaled(10)), daemon=True)
    reaper.start()
    t0 = time.monotonic()
    rc, out, err = bal.ctl("kill")
    assert rc == 0 and "shutdown complete, exiting." in out, (rc, out, err)
    assert time.monotonic() - t0 < 3
    reaper.join(scaled(6))
    assert bal.proc.returncode == 0, f"exit status {bal.proc.returncode}; stderr={bal.stderr()!r}"
    _assert_gone(bal, port, runtime_dir)


def test_kill_not_delayed_by_unreaped_daemon(start_balance, backends, runtime_dir):
    """`-c kill` waits for the daemon to be gone: a dead daemon that its
    parent has not reaped yet (a zombie, e.g. under a container's PID 1
    that does not reap) is gone too, and must not stall the client."""
    be = backends.echo()
    port = free_listen_port()
    bal = start_balance([port, channel(be)])  # our child: not reaped until wait()
    t0 = time.monotonic()
    rc, out, err = bal.ctl("kill")
    elapsed = time.monotonic() - t0
    assert rc == 0 and "shutdown complete, exiting." in out, (rc, out, err)
    assert elapsed < 2.5, f"-c kill took {elapsed:.1f}s: a zombie daemon counts as alive"


def test_kill_closes_open_connections(start_balance, backends, env):
    """`kill` closes open connections itself, before the daemon is gone
    (quirk 17), not merely by exiting: the daemon is held at its exit
    (ExitTrap: its files are still open then), and by that time both sides
    of the connection must be closed already."""
    be = backends.echo()
    # The trap ptraces the daemon's main thread, which LeakSanitizer's exit
    # check also has to do: leaks at kill are checked by the other tests.
    asan = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "detect_leaks=0"]))
    bal = start_balance([free_listen_port(), channel(be)], foreground=False,
                        env=dict(env, ASAN_OPTIONS=asan))
    s = connect(bal.port)
    try:
        assert echo_roundtrip(s, b"hi\n") == b"hi\n"
        try:
            trap = ExitTrap(bal.pid)
        except OSError as exc:
            pytest.skip(f"cannot hold the daemon at its exit: {exc}")
        try:
            client = subprocess.Popen([BALANCE_BIN, "-c", "kill", str(bal.port)], env=env,
                                      stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE)
            assert trap.wait(10), "the daemon did not exit after kill"
            assert closed_by_peer(s, 2), \
                "the client's connection was still open as the daemon exited: kill did not close it"
            wait_for(lambda: be.active == 0, 2,
                     what="the backend's connection closed before the daemon exited")
        finally:
            trap.release()
        out, err = client.communicate(timeout=scaled(10))
        assert client.returncode == 0 and b"shutdown complete" in out, (client.returncode, out, err)
    finally:
        s.close()


def test_kill_with_bind_address(start_balance, backends, runtime_dir):
    be = backends.echo()
    port = free_listen_port()
    bal = start_balance(["-b", LOOP4, port, channel(be)], foreground=False)
    rc, out, err = bal.ctl("kill")
    assert rc == 0 and "shutdown complete, exiting." in out, (rc, out, err)
    _assert_gone(bal, port, runtime_dir, bind=LOOP4)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_foreground_signal_cleans_up(sig, start_balance, backends, runtime_dir):
    be = backends.echo()
    port = free_listen_port()
    bal = start_balance([port, channel(be)])
    assert os.path.exists(rendezvous_path(runtime_dir, port))
    bal.proc.send_signal(sig)
    try:
        bal.proc.wait(scaled(5))
    except subprocess.TimeoutExpired:
        pytest.fail(f"balance -f did not exit on {sig.name}")
    _assert_gone(bal, port, runtime_dir)


def test_daemon_sigterm_cleans_up(start_balance, backends, runtime_dir):
    be = backends.echo()
    port = free_listen_port()
    bal = start_balance([port, channel(be)], foreground=False)
    assert bal.pid
    os.kill(bal.pid, signal.SIGTERM)
    _assert_gone(bal, port, runtime_dir)


def test_sighup_ignored_under_nohup(backends, env, workdir, runtime_dir):
    """Started under nohup (SIGHUP ignored), balance -f keeps ignoring
    SIGHUP. Pending signals are taken lowest first, so if a SIGHUP sent just
    before a SIGTERM counted, it would be the one that stops the instance."""
    be = backends.echo()
    port = free_listen_port()
    err_path = os.path.join(workdir, "nohup.err")
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(["nohup", BALANCE_BIN, "-f", str(port), channel(be)], env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                start_new_session=True)
    try:
        wait_for(lambda: os.path.exists(rendezvous_path(runtime_dir, port)), 10,
                 what="the instance to be ready")
        os.kill(proc.pid, signal.SIGHUP)
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    with open(err_path, errors="replace") as f:
        text = f.read()
    assert f"signal {int(signal.SIGTERM)}: shutting down" in text, \
        f"a SIGHUP ignored by the caller stopped balance: {text!r}"


@pytest.mark.parametrize("foreground", [False, True], ids=["daemon", "foreground"])
def test_second_instance_on_same_port_leaves_first_alone(foreground, start_balance, backends, env,
                                                          runtime_dir):
    """A second `balance PORT ...` fails (71) and must not clobber the
    running instance's rendezvous file: the first stays controllable."""
    a, b = backends.tag("A"), backends.tag("B")
    port = free_listen_port()
    bal = start_balance([port, channel(a)], foreground=False)
    before = open(rendezvous_path(runtime_dir, port)).read()
    rc, out, err = run_balance((["-f"] if foreground else []) + [str(port), channel(b)], env, timeout=20)
    assert rc == 71, (rc, err)
    assert open(rendezvous_path(runtime_dir, port)).read() == before
    rows = bal.show()
    assert rows[0]["port"] == a.port
    assert get_tag(port) == "A"
    wait_counters_zero(bal)


def test_no_master_process(env, balance_bin):
    port = free_listen_port()
    t0 = time.monotonic()
    rc, out, err = run_ctl("show", port, env)
    elapsed = time.monotonic() - t0
    assert rc == EX_UNAVAILABLE, (rc, out, err)
    assert "no master process, exiting." in out + err
    assert elapsed < 3.5, f"took {elapsed:.1f}s"


def test_no_master_process_interactive(env, balance_bin):
    port = free_listen_port()
    t0 = time.monotonic()
    rc, out, err = run_balance(["-i", str(port)], env, stdin_data="show\n")
    assert rc == EX_UNAVAILABLE, (rc, out, err)
    assert "no master process, exiting." in out + err
    assert time.monotonic() - t0 < 3.5


def test_stale_rendezvous_file(start_balance, backends, runtime_dir, env, workdir):
    """A rendezvous file left by a dead daemon: -c fails fast with a clear
    message; a new daemon on that port starts and replaces it."""
    be = backends.echo()
    port = free_listen_port()
    bal = start_balance([port, channel(be)], foreground=False)
    path = rendezvous_path(runtime_dir, port)
    saved = os.path.join(workdir, "saved-rendezvous")
    shutil.copy2(path, saved)
    old_pid = bal.pid
    rc, out, err = bal.ctl("kill")
    assert rc == 0, (rc, out, err)
    wait_for(lambda: not pid_alive(old_pid), 3, what="the daemon to exit")
    shutil.copy2(saved, path)
    os.chmod(path, 0o600)

    t0 = time.monotonic()
    rc, out, err = run_ctl("show", port, env)
    elapsed = time.monotonic() - t0
    assert rc != 0, f"-c show succeeded against a stale file: {out!r}"
    assert rc > 0, f"killed by signal {-rc}"
    assert (out + err).strip(), "no message for a stale rendezvous file"
    assert elapsed < 3.5, f"took {elapsed:.1f}s"

    bal2 = start_balance([port, channel(be)], foreground=False)
    rc, out, err = bal2.ctl("show")
    assert rc == 0 and len(parse_show(out)) == 1, (rc, out, err)
    info = parse_kv_file(path)
    if "pid" in info:
        assert int(info["pid"]) == bal2.pid != old_pid


def _make_stale(start_balance, backends, runtime_dir, workdir):
    """Starts and kills a daemon, then puts its rendezvous file back."""
    be = backends.echo()
    port = free_listen_port()
    bal = start_balance([port, channel(be)], foreground=False)
    path = rendezvous_path(runtime_dir, port)
    saved = os.path.join(workdir, "saved-rendezvous")
    shutil.copy2(path, saved)
    rc, out, err = bal.ctl("kill")
    assert rc == 0, (rc, out, err)
    wait_for(lambda: not pid_alive(bal.pid), 3, what="the daemon to exit")
    with open(saved) as f:
        return port, path, f.read()


def _write_600(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


def test_stale_rendezvous_file_with_reused_pid(start_balance, backends, runtime_dir, env, workdir):
    """The stale file's pid now belongs to an unrelated live process (pid
    reuse): the client must still fail fast and clearly, and signal nobody."""
    port, path, text = _make_stale(start_balance, backends, runtime_dir, workdir)
    _write_600(path, re.sub(r"(?m)^pid=.*$", f"pid={os.getpid()}", text))
    t0 = time.monotonic()
    rc, out, err = run_ctl("show", port, env)
    elapsed = time.monotonic() - t0
    assert rc > 0, (rc, out, err)
    assert (out + err).strip()
    assert elapsed < 3.5, f"took {elapsed:.1f}s"


def test_stale_rendezvous_file_pointing_at_silent_listener(start_balance, backends, runtime_dir, env,
                                                           workdir):
    """The stale file's control port was reused by a server that accepts and
    never answers: the client gives up with an error, it does not hang."""
    port, path, text = _make_stale(start_balance, backends, runtime_dir, workdir)

    def silent(c, rec):
        c.settimeout(20)
        try:
            while c.recv(4096):
                pass
        except OSError:
            pass

    srv = backends.threaded(silent)
    _write_600(path, re.sub(r"(?m)^port=.*$", f"port={srv.port}", text))
    t0 = time.monotonic()
    rc, out, err = run_ctl("show", port, env, timeout=20)
    elapsed = time.monotonic() - t0
    assert rc > 0, (rc, out, err)
    assert (out + err).strip()
    assert elapsed < 12, f"took {elapsed:.1f}s"


def test_two_instances_on_different_ports(start_balance, backends):
    a, b = backends.tag("A"), backends.tag("B")
    bal1 = start_balance([free_listen_port(), channel(a)], foreground=False)
    bal2 = start_balance([free_listen_port(), channel(b)], foreground=False)
    assert bal1.show()[0]["port"] == a.port
    assert bal2.show()[0]["port"] == b.port
    assert "channel 0 disabled" in bal1.ctl_ok("disable 0")
    assert bal2.show()[0]["state"] == "ENA"
    assert bal1.show()[0]["state"] == "dis"
    assert get_tag(bal2.port) == "B"
    wait_counters_zero(bal2)


def test_same_port_different_bind_addresses(start_balance, backends, runtime_dir):
    """Instance identity is port + -b string: two instances on one port."""
    a, b = backends.tag("A"), backends.tag("B")
    port = free_listen_port()
    bal1 = start_balance(["-b", "127.0.0.1", port, channel(a)], foreground=False)
    bal2 = start_balance(["-b", "127.0.0.2", port, channel(b)], foreground=False)
    assert get_tag(port, host="127.0.0.1") == "A"
    assert get_tag(port, host="127.0.0.2") == "B"
    assert bal1.show()[0]["port"] == a.port
    assert bal2.show()[0]["port"] == b.port
    assert os.path.exists(rendezvous_path(runtime_dir, port, "127.0.0.1"))
    assert os.path.exists(rendezvous_path(runtime_dir, port, "127.0.0.2"))
    wait_counters_zero(bal1)
    wait_counters_zero(bal2)


# ---------------------------------------------------------------- kill that cannot finish in time


class StuckDaemon:
    """A foreground balance with one io thread, stuck: its -p dump fills a
    stdout pipe that nobody reads, so the thread blocks in write() and the
    listener cannot close its acceptor there until the pipe is drained."""

    def __init__(self, env, workdir, runtime_dir, backend):
        self.port = free_listen_port()
        self.runtime_dir = runtime_dir
        self.err_path = os.path.join(workdir, "stuck.err")
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen([BALANCE_BIN, "-f", "-p", "--io-threads", "1", str(self.port),
                                          channel(backend)], env=env, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=err, start_new_session=True)
        self.drainer = None
        wait_for(lambda: os.path.exists(rendezvous_path(runtime_dir, self.port)), 10,
                 what="the instance to be ready")
        self.client = connect(self.port)
        self.client.setblocking(False)
        chunk = b"d" * 65536
        pipe_fd = self.proc.stdout.fileno()

        def stuck():
            try:
                self.client.send(chunk)  # echoed, and dumped both ways
            except BlockingIOError:
                pass
            queued = struct.unpack("i", fcntl.ioctl(pipe_fd, termios.FIONREAD, b"\0" * 4))[0]
            return queued >= 60000  # a full pipe: the dump is blocked

        wait_for(stuck, 10, what="the io thread to block on the full stdout pipe")

    def stderr(self):
        with open(self.err_path, errors="replace") as f:
            return f.read()

    def unblock(self):
        def drain():
            while self.proc.stdout.read(65536):
                pass
        self.drainer = threading.Thread(target=drain, daemon=True)
        self.drainer.start()

    def stop(self):
        self.client.close()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        if self.drainer is None:
            self.unblock()
        self.drainer.join(5)


@pytest.fixture
def stuck_daemon(env, workdir, runtime_dir, backends):
    d = StuckDaemon(env, workdir, runtime_dir, backends.echo())
    yield d
    d.stop()


@pytest.mark.timeout_s(90)
def test_kill_that_times_out_can_be_retried(stuck_daemon, env):
    """A kill whose listener stop times out reports failure and leaves the
    daemon able to try again: no later kill may claim a shutdown that is not
    happening, and once the io thread is free a kill stops the process."""
    d = stuck_daemon
    for attempt in (1, 2):
        rc, out, err = run_ctl("kill", d.port, env, timeout=20)
        assert (rc, out) == (EX_UNAVAILABLE, "shutdown failed.\n"), \
            f"kill #{attempt} with a stuck io thread: rc={rc} out={out!r} err={err!r}"
        assert d.proc.poll() is None
    d.unblock()
    rc, out, err = run_ctl("kill", d.port, env, timeout=20)
    assert (rc, out) == (0, "shutdown complete, exiting.\n"), (rc, out, err, d.stderr())
    assert d.proc.wait(5) == 0
    wait_for(lambda: port_bindable(d.port), 2, what="the port to be free")


@pytest.mark.timeout_s(60)
def test_kill_while_a_kill_is_under_way_waits_for_the_process(stuck_daemon, env):
    """A second kill during the first is told `already`: it waits for the
    process like the first one and reports what happened."""
    d = stuck_daemon
    first = subprocess.Popen([BALANCE_BIN, "-c", "kill", str(d.port)], env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: "kill: closing the listener" in d.stderr(), 5, what="the first kill to start")
        second = subprocess.Popen([BALANCE_BIN, "-c", "kill", str(d.port)], env=env,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        try:
            wait_for(lambda: "kill: already under way" in d.stderr(), 5,
                     what="the second kill to be told `already`")
            d.unblock()  # the first kill can finish now
            out2, err2 = second.communicate(timeout=20)
        finally:
            if second.poll() is None:
                second.kill()
        out1, err1 = first.communicate(timeout=20)
    finally:
        if first.poll() is None:
            first.kill()
    assert (first.returncode, out1) == (0, b"shutdown complete, exiting.\n"), (out1, err1)
    assert (second.returncode, out2) == (0, b"shutdown complete, exiting.\n"), (out2, err2)
    assert d.proc.wait(5) == 0
