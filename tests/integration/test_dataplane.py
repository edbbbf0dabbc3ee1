"""Data path: integrity, half-close both ways, independent directions,
concurrency, idle timeout, -p packet dump, -d diagnostics."""

import fcntl
import select
import signal
import socket
import struct
import termios
import threading
import time

from harness import (channel, closed_by_peer, connect, cpu_seconds, det_bytes, echo_roundtrip, free_listen_port,
                     greet_then_shutdown_handler, make_bulk_handler, make_flood_handler, recv_all,
                     recv_exact, recv_line, scaled, sha, wait_counters_zero, wait_for, wait_show)

import pytest

MB = 1 << 20


def test_echo_through_daemon(start_balance, backends):
    be = backends.echo()
    bal = start_balance([free_listen_port(), channel(be)], foreground=False)
    s = connect(bal.port)
    try:
        for i in range(5):
            msg = f"line {i}\n".encode()
            assert echo_roundtrip(s, msg) == msg
    finally:
        s.close()
    wait_counters_zero(bal)


def test_half_close_client_to_backend(start_balance, backends):
    """Client shuts down its write side: the backend sees EOF and can still
    send its reply, which reaches the client (3.54 quirk 4 fixed)."""
    srv = backends.halfclose()
    bal = start_balance([free_listen_port(), channel(srv)])
    data = det_bytes(300000, 1)
    s = connect(bal.port)
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        reply = recv_all(s, 10)
    finally:
        s.close()
    assert reply == f"GOT {len(data)} {sha(data)}\n".encode()
    wait_counters_zero(bal)


def test_half_close_backend_to_client(start_balance, backends):
    """The backend shuts down its write side first: the client sees EOF and
    can still send; the backend receives it all."""
    srv = backends.threaded(greet_then_shutdown_handler)
    bal = start_balance([free_listen_port(), channel(srv)])
    data = det_bytes(200000, 2)
    s = connect(bal.port)
    try:
        assert recv_line(s) == b"HELLO\n"
        s.settimeout(scaled(5))
        assert s.recv(10) == b"", "the backend's EOF was not forwarded to the client"
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        recs = srv.wait_records(1, timeout=10)
        assert recs[0].get("received_bytes") == len(data), recs
        assert recs[0]["received_sha"] == sha(data)
        assert closed_by_peer(s, 5)
    finally:
        s.close()
    wait_counters_zero(bal)


def send_and_collect(port, payload):
    """Sends `payload` then EOF from one thread while collecting everything
    the other side sends until its EOF; returns what was received."""
    s = connect(port, timeout=30)
    errors = []

    def sender():
        try:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
        except OSError as exc:
            errors.append(exc)

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    try:
        got = recv_all(s, 40)
    finally:
        t.join(scaled(10))
        s.close()
    assert not errors, errors
    return got


def test_echo_8mb_both_ways_concurrently(start_balance, backends):
    be = backends.echo()
    bal = start_balance([free_listen_port(), channel(be)])
    payload = det_bytes(8 * MB, 3)
    got = send_and_collect(bal.port, payload)
    assert len(got) == len(payload)
    assert sha(got) == sha(payload)
    wait_show(bal, lambda rs: rs[0]["sent"] == len(payload) and rs[0]["rcvd"] == len(payload),
              what="sent/rcvd = 8 MB")
    wait_counters_zero(bal)


def test_bulk_8mb_each_way_distinct(start_balance, backends):
    up = det_bytes(8 * MB, 4)
    down = det_bytes(8 * MB, 5)
    srv = backends.threaded(make_bulk_handler(down))
    bal = start_balance([free_listen_port(), channel(srv)])
    got = send_and_collect(bal.port, up)
    assert sha(got) == sha(down), f"client got {len(got)} bytes, wrong content"
    rec = srv.wait_records(1, timeout=20)[0]
    assert rec.get("received_bytes") == len(up) and rec["received_sha"] == sha(up), rec
    rows = wait_show(bal, lambda rs: rs[0]["sent"] == len(up) and rs[0]["rcvd"] == len(down),
                     what="sent/rcvd = 8 MB each")
    wait_counters_zero(bal)


def test_directions_are_independent(start_balance, backends):
    """A backend that floods a client which does not read must not stall the
    client→backend direction (3.54 quirk 5 fixed)."""
    srv = backends.threaded(make_flood_handler(256 * MB))
    bal = start_balance([free_listen_port(), channel(srv)])
    data = det_bytes(8 * MB, 6)
    s = connect(bal.port, timeout=20)
    try:
        try:
            s.sendall(data)
        except socket.timeout:
            pytest.fail("client→backend stalled while the backend→client direction was full")
        s.shutdown(socket.SHUT_WR)
        rec = srv.wait_records(1, timeout=20)[0]
        assert rec.get("received_bytes") == len(data), rec
        assert rec["received_sha"] == sha(data)
    finally:
        s.close()
    wait_counters_zero(bal)


def test_backend_closes_first(start_balance, backends):
    def bye(c, rec):
        c.sendall(b"BYE\n")

    srv = backends.threaded(bye)
    bal = start_balance([free_listen_port(), channel(srv)])
    for _ in range(3):
        s = connect(bal.port)
        try:
            assert recv_all(s, 5) == b"BYE\n"
        finally:
            s.close()
    wait_counters_zero(bal)


def test_client_reset_mid_transfer(start_balance, backends):
    be = backends.echo()
    bal = start_balance([free_listen_port(), channel(be)])
    for _ in range(3):
        s = connect(bal.port)
        s.sendall(det_bytes(256 * 1024, 7))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()  # RST
    wait_counters_zero(bal)
    s = connect(bal.port)
    try:
        assert echo_roundtrip(s, b"still fine\n") == b"still fine\n"
    finally:
        s.close()
    wait_counters_zero(bal)


def test_urgent_data_does_not_stall_the_relay(start_balance, backends):
    # recv stops short at an urgent mark with bytes behind it and no new
    # epoll edge follows: the relay must read on. The urgent byte itself
    # is dropped (out of band, as 3.54 does).
    be = backends.echo()
    bal = start_balance([free_listen_port(), channel(be)])
    s = connect(bal.port)
    try:
        assert echo_roundtrip(s, b"ready\n") == b"ready\n"
        # Corked, so the bytes and the urgent mark mostly arrive in one
        # segment (the case that stalls; the unit test pins it down).
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        s.sendall(b"ab")
        s.send(b"c", socket.MSG_OOB)
        s.sendall(b"def\n")
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
        assert recv_exact(s, 6, timeout=3.0) == b"abdef\n"
    finally:
        s.close()
    wait_counters_zero(bal)


def test_urgent_data_in_a_bulk_transfer(start_balance, backends):
    # A bulk direction moves bytes with splice(), which stops for good at an
    # urgent mark: the relay must step over it with recv and read on.
    be = backends.echo()
    bal = start_balance([free_listen_port(), channel(be)])
    bulk = det_bytes(2 * MB, 11)
    want = bulk + b"end\n"
    s = connect(bal.port, timeout=30)
    got = []
    reader = threading.Thread(target=lambda: got.append(recv_exact(s, len(want),
                                                                   timeout=scaled(10))),
                              daemon=True)
    reader.start()
    try:
        s.sendall(bulk)
        s.send(b"!", socket.MSG_OOB)
        s.sendall(b"end\n")
        reader.join(scaled(15))
        assert got and got[0] == want, "the relay stalled at the urgent mark"
    finally:
        s.close()
    wait_counters_zero(bal)


def test_client_reset_after_half_close_releases_the_connection(start_balance, backends):
    # The client ends its request (FIN), then resets while the backend is
    # still silent: the connection must end now, not when the backend speaks.
    got_eof = threading.Event()
    silent = threading.Event()

    def read_then_wait(c, rec):
        while c.recv(65536):
            pass
        got_eof.set()
        silent.wait(scaled(10))

    srv = backends.threaded(read_then_wait)
    bal = start_balance([free_listen_port(), channel(srv)])
    try:
        s = connect(bal.port)
        s.sendall(b"request\n")
        s.shutdown(socket.SHUT_WR)
        assert got_eof.wait(scaled(3)), "the client's FIN did not reach the backend"
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()  # RST
        wait_counters_zero(bal)
    finally:
        silent.set()


def read_to_end(sock, timeout=5.0, chunk=65536, pause=0.0):
    """Reads until EOF or an error: (bytes, "eof" or "reset"); with `pause`,
    as a slow reader does."""
    sock.settimeout(scaled(timeout))
    got = b""
    try:
        while True:
            data = sock.recv(chunk)
            if not data:
                return got, "eof"
            got += data
            if pause:
                time.sleep(pause)
    except ConnectionResetError:
        return got, "reset"


def unacked(sock):
    """Bytes sent on `sock` that its peer has not acknowledged (SIOCOUTQ)."""
    return struct.unpack("i", fcntl.ioctl(sock, termios.TIOCOUTQ, b"\0" * 4))[0]


def reset(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_backend_reset_reaches_the_client_after_its_data(start_balance, backends):
    # A backend that aborts after part of its answer: the client gets those
    # bytes and then a reset, as it would directly; a clean EOF would pass
    # the cut answer off as complete.
    def partial_then_reset(c, rec):
        c.recv(65536)
        c.sendall(b"partial answer")
        reset(c)

    srv = backends.threaded(partial_then_reset)
    bal = start_balance([free_listen_port(), channel(srv)])
    s = connect(bal.port)
    try:
        s.sendall(b"request\n")
        assert read_to_end(s) == (b"partial answer", "reset")
    finally:
        s.close()
    wait_counters_zero(bal)


def test_backend_reset_waits_until_a_slow_client_has_the_answer(start_balance, backends):
    # A reset throws away what its peer has not acknowledged. The backend
    # resets once the proxy has acknowledged its whole answer (so directly,
    # the client would get all of it): the relay must reset the slow client
    # only once that has everything, not drop what it still had queued.
    answer = det_bytes(1 * MB, 13)

    def answer_then_reset(c, rec):
        c.recv(65536)
        c.sendall(answer)
        deadline = time.monotonic() + scaled(10)
        while unacked(c) and time.monotonic() < deadline:
            time.sleep(0.002)
        rec["unacked"] = unacked(c)
        reset(c)

    srv = backends.threaded(answer_then_reset)
    bal = start_balance([free_listen_port(), channel(srv)])
    s = connect(bal.port)
    try:
        s.sendall(b"request\n")
        got, how = read_to_end(s, timeout=10, chunk=16384, pause=0.005)
        assert len(got) == len(answer) and got == answer
        assert how == "reset"
        assert srv.wait_records(1)[0]["unacked"] == 0
    finally:
        s.close()
    wait_counters_zero(bal)


def upload_until_the_end(sock, timeout=10.0):
    """Uploads until the other side ends the connection, reading whatever
    comes back: (bytes, "eof" or "reset"). One thread, reads first: a FIN
    is seen by recv before any send could fail. A send that meets the reset
    takes the error with it; what arrived before it is still read."""
    sock.setblocking(False)
    chunk = b"u" * 65536
    got = b""
    reset_seen = False
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        readable, writable, _ = select.select([sock], [] if reset_seen else [sock], [], 1.0)
        try:
            if readable:
                data = sock.recv(65536)
                if not data:
                    return got, "reset" if reset_seen else "eof"
                got += data
            elif writable:
                sock.send(chunk)
        except BlockingIOError:
            pass
        except ConnectionResetError:
            if readable:
                return got, "reset"
            reset_seen = True
        except BrokenPipeError:
            reset_seen = True
    raise AssertionError(f"no end within {timeout}s, got {got!r}")


def test_backend_answer_before_its_reset_reaches_an_uploading_client(start_balance, backends):
    # A backend refuses an upload: answers, then closes with the upload
    # unread (a reset). The relay's next send to it may fail before the
    # answer waiting in its socket was read: that answer must still reach
    # the client, and then the reset.
    def refuse(c, rec):
        c.recv(1024)
        c.sendall(b"413 too large\n")
        reset(c)

    srv = backends.threaded(refuse)
    bal = start_balance([free_listen_port(), channel(srv)])
    for _ in range(5):
        s = connect(bal.port, timeout=10)
        try:
            assert upload_until_the_end(s) == (b"413 too large\n", "reset")
        finally:
            s.close()
    wait_counters_zero(bal)


def test_client_reset_reaches_the_backend_after_its_data(start_balance, backends):
    # The mirror image: a client that aborts mid-request must not look to
    # the backend like one that finished it (EOF-delimited uploads would be
    # taken as complete).
    outcome = []
    done = threading.Event()

    def greet_then_read(c, rec):
        c.sendall(b"HELLO\n")
        outcome.append(read_to_end(c))
        done.set()

    srv = backends.threaded(greet_then_read)
    bal = start_balance([free_listen_port(), channel(srv)])
    s = connect(bal.port)
    assert recv_line(s) == b"HELLO\n"
    s.sendall(b"half a requ")
    reset(s)
    assert done.wait(scaled(5)), "the backend never saw the connection end"
    assert outcome == [(b"half a requ", "reset")]
    wait_counters_zero(bal)


def test_quick_connect_close_no_drift(start_balance, backends):
    """Clients that connect and hang up at once, before or while the
    backend connection is made: c must return to 0."""
    be = backends.echo()
    bal = start_balance([free_listen_port(), channel(be)])
    for i in range(100):
        s = connect(bal.port)
        if i % 2:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    wait_show(bal, lambda rs: rs[0]["totalc"] == 100, timeout=5, what="100 connections granted")
    wait_counters_zero(bal, timeout=5)
    wait_for(lambda: be.active == 0, 3, what="backend connections closed")


@pytest.mark.timeout_s(90)
def test_500_concurrent_connections(start_balance, backends):
    be = backends.echo()
    bal = start_balance([free_listen_port(), channel(be)])
    n = 500
    socks = []
    try:
        for i in range(n):
            socks.append(connect(bal.port, timeout=15))
        for i, s in enumerate(socks):
            s.sendall(b"%d\n" % i)
        for i, s in enumerate(socks):
            want = b"%d\n" % i
            assert recv_exact(s, len(want), timeout=15) == want, f"connection {i}"
        wait_show(bal, lambda rs: rs[0]["c"] == n, timeout=5, what=f"c == {n} (sum(c) == live sessions)")
        assert be.active == n
    finally:
        for s in socks:
            s.close()
    rows = wait_counters_zero(bal, timeout=5)
    assert rows[0]["totalc"] == n


@pytest.mark.timeout_s(90)
def test_accept_survives_fd_exhaustion(start_balance, backends):
    """Out of file descriptors (RLIMIT_NOFILE 128): no busy loop, and
    service resumes once connections close (DESIGN rule 4)."""
    be = backends.echo()
    bal = start_balance([free_listen_port(), channel(be)], rlimit_nofile=128)
    socks = []
    try:
        for _ in range(150):
            socks.append(connect(bal.port, timeout=10))
        served = 0
        for s in socks:
            try:
                if echo_roundtrip(s, b"x\n", timeout=0.5) == b"x\n":
                    served += 1
            except OSError:
                pass
        assert served >= 20, f"only {served} connections served below the fd limit"
        c0 = cpu_seconds(bal.pid)
        time.sleep(1.5)  # measuring CPU use while out of fds
        used = cpu_seconds(bal.pid) - c0
        assert used < 0.6, f"balance burnt {used:.2f}s CPU in 1.5s while out of fds"
    finally:
        for s in socks:
            s.close()
    assert bal.alive()

    def works():
        s = connect(bal.port, timeout=3)
        try:
            return echo_roundtrip(s, b"again\n", timeout=2) == b"again\n"
        finally:
            s.close()

    wait_for(works, 10, interval=0.2, what="service after fd exhaustion")
    wait_counters_zero(bal, timeout=6)


def test_running_out_of_descriptors_is_no_fault_of_the_channel(start_balance, backends):
    """-a disables a channel that fails; a backend socket this process could
    not even open (EMFILE) is not the channel failing. Whether the last free
    descriptor goes to an accept or to a backend socket depends on how many
    the process holds at rest, so two limits of either parity are tried."""
    be = backends.echo()
    seen = False
    for limit in (128, 129):
        bal = start_balance(["-d", "-a", free_listen_port(), channel(be)], rlimit_nofile=limit)
        socks = []
        try:
            for _ in range(150):
                socks.append(connect(bal.port, timeout=10))
            try:
                wait_for(lambda: "cannot open a socket" in bal.stderr(), 3,
                         what="a backend socket refused for want of descriptors")
                seen = True
            except AssertionError:
                assert "Too many open files" in bal.stderr(), bal.stderr()[-2000:]
        finally:
            for s in socks:
                s.close()
        wait_counters_zero(bal, timeout=6)
        assert bal.show()[0]["state"] == "ENA", "-a disabled the channel for a local EMFILE"
        bal.stop()
        if seen:
            break
    assert seen, "no limit made a backend socket fail for want of descriptors"


# ---------------------------------------------------------------- idle timeout


def test_idle_timeout_closes_idle_connection(start_balance, backends):
    be = backends.echo()
    bal = start_balance(["-T", "1", free_listen_port(), channel(be)])
    s = connect(bal.port)
    try:
        assert echo_roundtrip(s, b"x\n") == b"x\n"
        t0 = time.monotonic()
        assert closed_by_peer(s, 6), "-T 1: idle connection not closed"
        elapsed = time.monotonic() - t0
    finally:
        s.close()
    assert 0.7 <= elapsed <= 3.5, f"-T 1 closed the idle connection after {elapsed:.2f}s"
    wait_counters_zero(bal)


def test_idle_timeout_keeps_active_connection(start_balance, backends):
    be = backends.echo()
    bal = start_balance(["-T", "1", free_listen_port(), channel(be)])
    s = connect(bal.port)
    try:
        end = time.monotonic() + 3.0
        i = 0
        while time.monotonic() < end and i < 100:
            msg = b"%d\n" % i
            assert echo_roundtrip(s, msg) == msg, f"active connection broken after {i} round trips"
            time.sleep(0.3)  # pacing the traffic, not synchronisation
            i += 1
    finally:
        s.close()
    wait_counters_zero(bal)


def test_idle_timeout_one_direction_active(start_balance, backends):
    """Bytes in one direction only also keep the connection alive."""
    srv = backends.halfclose()
    bal = start_balance(["-T", "1", free_listen_port(), channel(srv)])
    s = connect(bal.port)
    sent = b""
    try:
        end = time.monotonic() + 2.5
        while time.monotonic() < end and len(sent) < 100:
            s.sendall(b"k")
            sent += b"k"
            time.sleep(0.3)  # pacing
        s.shutdown(socket.SHUT_WR)
        assert recv_all(s, 5) == f"GOT {len(sent)} {sha(sent)}\n".encode()
    finally:
        s.close()
    wait_counters_zero(bal)


def connect_slow_reader(port, rcvbuf=32768, timeout=10.0):
    """A client with a small receive buffer (set before connecting, so the
    window stays small): what it does not read stays queued in the proxy."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    return s


def test_idle_timeout_spares_a_slow_download(start_balance, backends):
    """Idle means no byte in either direction: a client that reads a large
    download slowly but steadily keeps it, although nothing new comes from
    the backend for longer than -T while the proxy's queues drain to it."""
    payload = det_bytes(6 * MB, 21)
    srv = backends.threaded(make_bulk_handler(payload))
    bal = start_balance(["-T", "1", free_listen_port(), channel(srv)])
    s = connect_slow_reader(bal.port)
    try:
        got, how = read_to_end(s, timeout=10, chunk=65536, pause=0.05)
    finally:
        s.close()
    assert (len(got), how) == (len(payload), "eof"), "-T cut a download that was still draining"
    assert got == payload
    wait_counters_zero(bal)


def test_idle_timeout_zero_means_never(start_balance, backends):
    be = backends.echo()
    bal = start_balance(["-T", "0", free_listen_port(), channel(be)])
    s = connect(bal.port)
    try:
        assert echo_roundtrip(s, b"a\n") == b"a\n"
        assert not closed_by_peer(s, 2.5), "-T 0 closed an idle connection"
        assert echo_roundtrip(s, b"b\n") == b"b\n"
    finally:
        s.close()
    wait_counters_zero(bal)


# ---------------------------------------------------------------- -p / -d

DUMP_MSG = b"hello\\world\x01\xff\r\n"
DUMP_TEXT = "hello\\\\world\\01\\FF\\0D\\0A\n\n"


def test_packet_dump_format_and_flush(start_balance, backends):
    """-p: `-> N` / `-< N`, escapes, flushed per chunk (quirk 23), EOF as
    `-> 0` with an empty line."""
    be = backends.echo()
    bal = start_balance(["-p", free_listen_port(), channel(be)])
    s = connect(bal.port)
    try:
        assert echo_roundtrip(s, DUMP_MSG) == DUMP_MSG
        expected = f"-> 15\n{DUMP_TEXT}-< 15\n{DUMP_TEXT}"
        try:
            wait_for(lambda: bal.stdout() == expected, 3, what="the dump of one round trip")
        except AssertionError:
            pytest.fail(f"-p output while running: {bal.stdout()!r}, want {expected!r}")
        s.shutdown(socket.SHUT_WR)
        assert closed_by_peer(s, 5)
    finally:
        s.close()
    expected += "-> 0\n\n-< 0\n\n"
    try:
        wait_for(lambda: bal.stdout() == expected, 3, what="the EOF lines")
    except AssertionError:
        pytest.fail(f"-p output: {bal.stdout()!r}, want {expected!r}")
    wait_counters_zero(bal)


def test_packet_dump_shows_every_byte_of_a_bulk_transfer(start_balance, backends):
    """-p keeps a bulk transfer in user space (no splice), so the dump has
    all of it."""
    be = backends.echo()
    bal = start_balance(["-p", free_listen_port(), channel(be)])
    size = 300 * 1024
    s = connect(bal.port, timeout=30)
    try:
        got = []
        reader = threading.Thread(target=lambda: got.append(recv_exact(s, size,
                                                                       timeout=scaled(10))),
                                  daemon=True)
        reader.start()
        s.sendall(b"a" * size)
        reader.join(scaled(15))
        assert got and got[0] == b"a" * size
    finally:
        s.close()
    wait_counters_zero(bal)
    wait_for(lambda: bal.stdout().count("a") == 2 * size, 5,
             what="every byte of both directions in the dump")


def test_packet_dump_wraps_long_lines(start_balance, backends):
    be = backends.echo()
    bal = start_balance(["-p", free_listen_port(), channel(be)])
    s = connect(bal.port)
    try:
        assert echo_roundtrip(s, b"a" * 200) == b"a" * 200
        wait_for(lambda: "\n-< 200\n" in bal.stdout() and bal.stdout().count("a") == 400
                 and bal.stdout().endswith("\n"), 3, what="dump of 200 bytes both ways")
    finally:
        s.close()
    out = bal.stdout()
    first = out.split("-< 200\n")[0]
    assert first.startswith("-> 200\n")
    body = first[len("-> 200\n"):]
    lines = body.split("\n")
    assert "".join(lines) == "a" * 200
    assert max(len(x) for x in lines) <= 84, f"lines not wrapped near 80 columns: {lines}"
    assert len([x for x in lines if x]) >= 3
    wait_counters_zero(bal)


def test_debug_goes_to_stderr_with_real_client_address(start_balance, backends):
    """-d: diagnostics on stderr only, with the real client address (quirk 22)."""
    be = backends.echo()
    bal = start_balance(["-d", free_listen_port(), channel(be)])
    s = connect(bal.port, src="127.0.0.7")
    try:
        assert echo_roundtrip(s, b"dbg\n") == b"dbg\n"
    finally:
        s.close()
    wait_counters_zero(bal)
    wait_for(lambda: "127.0.0.7" in bal.stderr(), 3, what="-d output naming the client 127.0.0.7")
    assert bal.stdout() == "", f"-d wrote to stdout: {bal.stdout()!r}"


def test_debug_lists_the_configuration_at_start(start_balance, backends):
    """-d: as 3.54, the channels it was given are listed when it starts
    (every group with its type, every channel with address:port and maxc),
    before any client; then each connection says what it does."""
    a, b, c = backends.echo(), backends.echo(), backends.echo()
    bal = start_balance(["-d", free_listen_port(), channel(a), f"localhost:{b.port}:3", "%",
                         channel(c, maxc=7)])
    want = [
        "balance: group 0 Hash",
        f"balance:   channel 0 127.0.0.1:{a.port} maxc 0",
        f"balance:   channel 1 127.0.0.1:{b.port} maxc 3 (localhost)",
        "balance: group 1 RR",
        f"balance:   channel 0 127.0.0.1:{c.port} maxc 7",
    ]
    lines = bal.stderr().splitlines()
    assert lines[:len(want)] == want, f"-d startup lines: {lines!r}"
    s = connect(bal.port, src="127.0.0.9")
    try:
        assert echo_roundtrip(s, b"x\n") == b"x\n"
    finally:
        s.close()
    wait_counters_zero(bal)
    wait_for(lambda: "client 127.0.0.9" in bal.stderr(), 3, what="a per-connection -d line")


# ---------------------------------------------------------------- cut transfers


def _cut(bal, how):
    if how == "kill":
        rc, out, err = bal.ctl("kill")
        assert rc == 0 and "shutdown complete, exiting." in out, (rc, out, err)
    elif how == "SIGTERM":
        bal.proc.send_signal(signal.SIGTERM)
        bal.proc.wait(10)
    else:  # -T: the stalled connection is idle; it ends by itself
        wait_counters_zero(bal, timeout=6)


@pytest.mark.parametrize("how", ["kill", "SIGTERM", "idle"])
def test_cut_download_ends_with_a_reset(how, start_balance, backends):
    """kill, SIGTERM and -T close connections; one whose client is still
    owed bytes (queued in the proxy) was cut short and must not look
    complete: the client gets a reset, not a FIN."""
    srv = backends.threaded(make_flood_handler(64 * MB))
    bal = start_balance((["-T", "1"] if how == "idle" else []) + [free_listen_port(), channel(srv)])
    s = connect_slow_reader(bal.port)
    try:
        assert len(recv_exact(s, 65536)) == 65536
        # The proxy has relayed far more than the client has room for: the
        # rest waits in the proxy's socket and buffers.
        wait_show(bal, lambda rs: rs[0]["rcvd"] >= 1 * MB, timeout=5, what="1 MB relayed")
        _cut(bal, how)
        got, end = read_to_end(s, timeout=10)
        assert end == "reset", f"a download cut by {how} ended with a FIN after {len(got)} more bytes"
    finally:
        s.close()


def test_cut_upload_ends_with_a_reset(start_balance, backends):
    """The other direction: kill cuts an upload the backend has not read
    yet; the backend must see a reset, not the end of a complete upload."""
    go = threading.Event()
    seen = []

    def read_later(c, rec):
        go.wait(20)
        seen.append(read_to_end(c, timeout=10))

    srv = backends.threaded(read_later)
    bal = start_balance([free_listen_port(), channel(srv)])
    s = connect(bal.port, timeout=10)
    s.setblocking(False)
    try:
        chunk = b"u" * 65536

        def uploaded():
            try:
                while True:
                    s.send(chunk)
            except BlockingIOError:
                pass
            return bal.show()[0]["sent"] >= 1 * MB

        wait_for(uploaded, 5, what="1 MB relayed to the backend")
        _cut(bal, "kill")
        go.set()
        wait_for(lambda: seen, 10, what="the backend to read to the end")
        assert seen[0][1] == "reset", f"a cut upload ended with a FIN after {len(seen[0][0])} bytes"
    finally:
        go.set()
        s.close()
