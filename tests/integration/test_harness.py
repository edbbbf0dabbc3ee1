"""Self-checks of the harness: the techniques other tests rely on to be
able to fail.  These test the test machinery, not balance."""

import os
import socket
import subprocess
import sys

import pytest

from harness import (LOOP4, ExitTrap, closed_by_peer, exit_status, pid_alive,
                     sanitizer_reports, scaled, wait_for)


def test_blackhole_connects_time_out(backends):
    """The SYN-dropping listener (connect-timeout tests): a connect to it is
    neither refused nor accepted, it times out."""
    bh = backends.blackhole()
    assert bh.verify(0.5)


def test_daemons_are_adopted_and_their_exit_status_read():
    """A process whose parent exits (as a daemonising balance) is handed to
    the test process (a child subreaper), so exit_status() can read how it
    ended: what Balance.stop() checks."""
    code = ("import os, sys, time\n"
            "if os.fork():\n"
            "    os._exit(0)\n"
            "print(os.getpid(), flush=True)\n"
            "time.sleep(0.3)\n"
            "os._exit(7)\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=scaled(10))
    pid = int(p.stdout)
    wait_for(lambda: not pid_alive(pid), 5, what="the orphan to exit")
    assert exit_status(pid) == 7


def test_exit_trap_holds_files_open_until_release():
    """ExitTrap (test_kill_closes_open_connections): a process held at its
    exit still holds its sockets open; they close on release."""
    lsock = socket.socket()
    lsock.bind((LOOP4, 0))
    lsock.listen(1)
    # os._exit: the socket is left for the kernel to close at exit
    code = ("import os, socket, sys\n"
            f"s = socket.create_connection(('{LOOP4}', {lsock.getsockname()[1]}))\n"
            "sys.stdin.readline()\n"
            "os._exit(0)\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)
    conn = None
    try:
        lsock.settimeout(scaled(10))
        conn, _ = lsock.accept()
        try:
            trap = ExitTrap(p.pid)
        except OSError as exc:
            pytest.skip(f"ptrace not permitted: {exc}")
        try:
            p.stdin.write(b"exit\n")
            p.stdin.flush()
            assert trap.wait(10), "the child did not reach its exit"
            assert not closed_by_peer(conn, 0.5), "the socket closed while the process was held"
        finally:
            trap.release()
        assert closed_by_peer(conn, 5), "the socket did not close after release"
        p.wait(scaled(10))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)
        if conn:
            conn.close()
        lsock.close()


def test_sanitizer_reports_are_found(tmp_path):
    """The report files a sanitizer writes under log_path are what the
    autouse fixture fails a test with; empty files are not reports."""
    (tmp_path / "asan.123").write_text("==123==ERROR: AddressSanitizer: heap-use-after-free\n")
    (tmp_path / "ubsan.124").write_text("")
    text = sanitizer_reports(str(tmp_path))
    assert "asan.123" in text and "heap-use-after-free" in text and "ubsan.124" not in text
    os.remove(tmp_path / "asan.123")
    assert sanitizer_reports(str(tmp_path)) == ""
