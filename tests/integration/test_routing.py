"""Scheduling: round robin (3.54 cursor), failover on refused connect and on
connect timeout, groups, maxc, autodisable, hash groups (rendezvous)."""

import socket
import struct
import threading
import time

import pytest

from harness import (LOOP4, LOOP6, channel, closed_by_peer, connect, dead_port, det_bytes,
                     free_listen_port, get_tag, halfclose_handler, ipv6_available, open_tagged, recv_all,
                     scaled, sha, sources, wait_counters_zero, wait_show)


def tags(port, n, **kw):
    return [get_tag(port, **kw) for _ in range(n)]


# ---------------------------------------------------------------- round robin


def test_round_robin_order(start_balance, backends):
    a, b, c = backends.tag("A"), backends.tag("B"), backends.tag("C")
    bal = start_balance([free_listen_port(), channel(a), channel(b), channel(c)])
    assert tags(bal.port, 7) == ["A", "B", "C", "A", "B", "C", "A"]
    wait_counters_zero(bal)


def test_round_robin_daemon_mode(start_balance, backends):
    a, b = backends.tag("A"), backends.tag("B")
    bal = start_balance([free_listen_port(), channel(a), channel(b)], foreground=False)
    assert tags(bal.port, 4) == ["A", "B", "A", "B"]
    wait_counters_zero(bal)


def test_cursor_moves_past_granted_channel(start_balance, backends):
    """3.54: after a failover the cursor moves past the channel actually
    used, so with channel 0 refusing the others alternate: B C B C."""
    a = dead_port()
    b, c = backends.tag("B"), backends.tag("C")
    bal = start_balance([free_listen_port(), channel(a), channel(b), channel(c)])
    assert tags(bal.port, 6) == ["B", "C", "B", "C", "B", "C"]
    wait_counters_zero(bal)


def test_refused_connect_marks_nothing(start_balance, backends):
    """Without -a a refused channel stays enabled and is used again as soon
    as it answers."""
    x_port = dead_port()
    b = backends.tag("B")
    bal = start_balance([free_listen_port(), channel(x_port), channel(b)])
    assert tags(bal.port, 2) == ["B", "B"]
    try:
        backends.tag("X", port=x_port)
    except OSError:
        pytest.skip("the refused port was taken meanwhile")
    assert tags(bal.port, 4) == ["X", "B", "X", "B"]
    rows = wait_counters_zero(bal)
    assert rows[0]["state"] == "ENA"


def test_round_robin_skips_disabled_channel(start_balance, backends):
    a, b, c = backends.tag("A"), backends.tag("B"), backends.tag("C")
    bal = start_balance([free_listen_port(), channel(a), channel(b), channel(c)])
    bal.ctl_ok("disable 1")
    assert tags(bal.port, 4) == ["A", "C", "A", "C"]
    wait_counters_zero(bal)


def test_early_data_survives_failover(start_balance, backends):
    """Bytes and even the EOF a client sends while balance is still trying
    channels (here one that times out) reach the channel finally used."""
    bh = backends.blackhole()
    srv = backends.threaded(halfclose_handler)
    bal = start_balance(["-t", "1", free_listen_port(), channel(bh), channel(srv)])
    data = det_bytes(100000, 11)
    s = connect(bal.port, timeout=10)
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        assert recv_all(s, 10) == f"GOT {len(data)} {sha(data)}\n".encode()
    finally:
        s.close()
    wait_counters_zero(bal)


def test_maxc_strict_under_concurrency(start_balance, backends):
    """Many clients at once: maxc is never exceeded, the rest spills."""
    a, b, g = backends.tag("A"), backends.tag("B"), backends.tag("G")
    bal = start_balance([free_listen_port(), channel(a, maxc=25), channel(b, maxc=25), "!", channel(g)])
    held, lock, errors = [], threading.Lock(), []

    def worker():
        for _ in range(10):
            try:
                s, t = open_tagged(bal.port, timeout=15)
            except OSError as exc:
                errors.append(exc)
                return
            with lock:
                held.append((s, t))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(10)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(scaled(30))
        assert not errors, errors
        got = [t for _, t in held]
        assert (got.count("A"), got.count("B"), got.count("G")) == (25, 25, 50), \
            {k: got.count(k) for k in set(got)}
        wait_show(bal, lambda rs: [r["c"] for r in rs] == [25, 25, 50], what="c = 25 25 50")
    finally:
        for s, _ in held:
            s.close()
    wait_counters_zero(bal, timeout=5)


def test_created_channel_in_new_group(start_balance, backends):
    """`group 1; create ...` adds a group at run time; failover reaches it."""
    g = backends.tag("G")
    bal = start_balance([free_listen_port(), channel(dead_port())])
    s = connect(bal.port)
    try:
        assert closed_by_peer(s, 3)
    finally:
        s.close()
    out = bal.ctl_ok(f"group 1; create 127.0.0.1 {g.port}; enable 0")
    assert out.split("\n")[:2] == ["channel created", "channel 0 enabled"], out
    assert tags(bal.port, 2) == ["G", "G"]
    rows = wait_counters_zero(bal)
    assert [(r["grp"], r["ch"]) for r in rows] == [(0, 0), (1, 0)]


def test_failover_to_next_group(start_balance, backends):
    g1 = backends.tag("G1")
    bal = start_balance([free_listen_port(), channel(dead_port()), channel(dead_port()), "!", channel(g1)])
    assert tags(bal.port, 3) == ["G1", "G1", "G1"]
    wait_counters_zero(bal)


def test_failover_skips_unusable_in_next_group(start_balance, backends):
    """Failover into group 1 only tries usable channels there: a full one
    is skipped (3.54 quirk 3 fixed)."""
    a, b = backends.tag("A"), backends.tag("B")
    bal = start_balance([free_listen_port(), channel(dead_port()), "!", channel(a, maxc=1), channel(b)])
    s1, t1 = open_tagged(bal.port)
    try:
        assert t1 == "A"
        assert tags(bal.port, 3) == ["B", "B", "B"]
    finally:
        s1.close()
    wait_counters_zero(bal)


def test_all_channels_fail_closes_client(start_balance, backends):
    bal = start_balance([free_listen_port(), channel(dead_port()), "!", channel(dead_port())])
    t0 = time.monotonic()
    s = connect(bal.port)
    try:
        assert closed_by_peer(s, 5.0), "client not closed although every channel refuses"
    finally:
        s.close()
    assert time.monotonic() - t0 < 3.0
    wait_counters_zero(bal)


# ---------------------------------------------------------------- connect timeout


def test_connect_timeout_fails_over_within_group(start_balance, backends):
    bh = backends.blackhole()
    b = backends.tag("B")
    bal = start_balance(["-t", "1", free_listen_port(), channel(bh), channel(b)])
    t0 = time.monotonic()
    assert get_tag(bal.port, timeout=10) == "B"
    elapsed = time.monotonic() - t0
    assert 0.7 <= elapsed <= 4.0, f"failover after {elapsed:.2f}s with -t 1"
    wait_counters_zero(bal)


def test_connect_timeout_fails_over_to_next_group(start_balance, backends):
    bh = backends.blackhole()
    g1 = backends.tag("G1")
    bal = start_balance(["-t", "1", free_listen_port(), channel(bh), "!", channel(g1)])
    t0 = time.monotonic()
    assert get_tag(bal.port, timeout=10) == "G1"
    assert 0.7 <= time.monotonic() - t0 <= 4.0
    wait_counters_zero(bal)


def test_connect_timeout_all_fail_closes_client(start_balance, backends):
    bh = backends.blackhole()
    bal = start_balance(["-t", "1", free_listen_port(), channel(bh)])
    t0 = time.monotonic()
    s = connect(bal.port)
    try:
        assert closed_by_peer(s, 6.0), "client not closed after the connect timeout"
    finally:
        s.close()
    elapsed = time.monotonic() - t0
    assert 0.7 <= elapsed <= 4.0, f"closed after {elapsed:.2f}s with -t 1"
    wait_counters_zero(bal)


def test_default_connect_timeout_is_5s(start_balance, backends):
    bh = backends.blackhole()
    bal = start_balance([free_listen_port(), channel(bh)])
    t0 = time.monotonic()
    s = connect(bal.port)
    try:
        assert closed_by_peer(s, 12.0), "client not closed after the default connect timeout"
    finally:
        s.close()
    elapsed = time.monotonic() - t0
    assert 4.0 <= elapsed <= 9.0, f"closed after {elapsed:.2f}s; default -t is 5"
    wait_counters_zero(bal)


def test_abandoned_client_releases_slot_promptly(start_balance, backends):
    """A client that aborts while balance is still connecting (default
    -t 5, a channel that never answers): its slot must not stay taken
    until the connect timeout - c returns to 0 within a couple of seconds
    of the last client leaving, as after any traffic. (A client that only
    sends a FIN may be half-closing and waiting for an answer: see
    test_half_close_before_the_connect_completes.)"""
    bh = backends.blackhole()
    bal = start_balance([free_listen_port(), channel(bh)])
    s = connect(bal.port)
    try:
        wait_show(bal, lambda rs: rs[0]["c"] == 1, what="the connect attempt granted")
    finally:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()  # RST
    wait_counters_zero(bal, timeout=2.5)


class SlowHandshake:
    """A backend whose handshake completes about a second late: backlog 0
    and one connection it does not accept yet fill its queue, so the kernel
    drops the first SYN; release() accepts that one, and the client's
    retransmitted SYN (after ~1 s) completes the connect. The connection
    after it is served by `handler` (as ThreadedServer's)."""

    def __init__(self, handler):
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.bind((LOOP4, 0))
        self.lsock.listen(0)
        self.port = self.lsock.getsockname()[1]
        self.filler = socket.create_connection((LOOP4, self.port), timeout=2)
        self.handler = handler
        self.records = []
        self.thread = None

    def release(self):
        def serve():
            self.lsock.settimeout(10)
            first, _ = self.lsock.accept()
            first.close()
            c, _ = self.lsock.accept()
            c.settimeout(10)
            rec = {}
            try:
                self.handler(c, rec)
            finally:
                c.close()
                self.records.append(rec)

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()

    def stop(self):
        self.filler.close()
        self.lsock.close()
        if self.thread:
            self.thread.join(5)


@pytest.mark.parametrize("request_bytes", [b"GET / HTTP/1.0\r\n\r\n", b""], ids=["request", "no-request"])
def test_half_close_before_the_connect_completes(request_bytes, start_balance):
    """`printf ... | nc -N`: the client sends its request (or, to a server
    that speaks first, nothing) and half-closes before the connect to the
    channel has completed. That FIN is a half-close like any other: it
    reaches the server once connected, and the client gets the answer."""
    srv = SlowHandshake(halfclose_handler)
    try:
        bal = start_balance([free_listen_port(), channel(srv)])
        s = connect(bal.port)
        try:
            s.sendall(request_bytes)
            s.shutdown(socket.SHUT_WR)
            # The first SYN went out (and was dropped) when the slot was granted.
            wait_show(bal, lambda rs: rs[0]["totalc"] == 1, what="the connect attempt granted")
            srv.release()
            got = recv_all(s, 10)
        finally:
            s.close()
        assert got == f"GOT {len(request_bytes)} {sha(request_bytes)}\n".encode(), \
            "the client's early FIN cost it the answer"
        wait_counters_zero(bal)
    finally:
        srv.stop()


# ---------------------------------------------------------------- maxc


def test_maxc_full_channel_spills_within_group(start_balance, backends):
    a, b, c = backends.tag("A"), backends.tag("B"), backends.tag("C")
    bal = start_balance([free_listen_port(), channel(a, maxc=1), channel(b), channel(c)])
    held = []
    try:
        for _ in range(6):
            s, t = open_tagged(bal.port)
            held.append((s, t))
        assert [t for _, t in held] == ["A", "B", "C", "B", "C", "B"]
        rows = wait_show(bal, lambda rs: [r["c"] for r in rs] == [1, 3, 2], what="c = 1 3 2")
        assert [r["maxc"] for r in rows] == [1, 0, 0]
    finally:
        for s, _ in held:
            s.close()
    wait_counters_zero(bal)


def test_maxc_spills_to_next_group_and_slot_is_released(start_balance, backends):
    a, g = backends.tag("A"), backends.tag("G")
    bal = start_balance([free_listen_port(), channel(a, maxc=1), "!", channel(g)])
    s1, t1 = open_tagged(bal.port)
    try:
        assert t1 == "A"
        assert tags(bal.port, 2) == ["G", "G"]
    finally:
        s1.close()
    wait_counters_zero(bal)
    assert get_tag(bal.port) == "A"
    wait_counters_zero(bal)


def test_maxc_zero_is_unlimited(start_balance, backends):
    a, g = backends.tag("A"), backends.tag("G")
    bal = start_balance([free_listen_port(), channel(a, maxc=0), "!", channel(g)])
    held = []
    try:
        for _ in range(20):
            held.append(open_tagged(bal.port))
        assert all(t == "A" for _, t in held), [t for _, t in held]
        wait_show(bal, lambda rs: rs[0]["c"] == 20, what="c == 20")
    finally:
        for s, _ in held:
            s.close()
    wait_counters_zero(bal)


def test_all_channels_full_closes_client(start_balance, backends):
    a = backends.tag("A")
    bal = start_balance([free_listen_port(), channel(a, maxc=2)])
    held = [open_tagged(bal.port) for _ in range(2)]
    try:
        assert [t for _, t in held] == ["A", "A"]
        s = connect(bal.port)
        try:
            assert closed_by_peer(s, 3), "client not closed although every channel is full"
        finally:
            s.close()
        rows = bal.show()
        assert (rows[0]["c"], rows[0]["totalc"]) == (2, 2), rows[0]["line"]
    finally:
        for s, _ in held:
            s.close()
    wait_counters_zero(bal)


def test_client_gone_while_connecting(start_balance, backends):
    """Clients that hang up while balance is still connecting (here: to a
    channel that never answers) must not leak c."""
    bh = backends.blackhole()
    bal = start_balance(["-t", "1", free_listen_port(), channel(bh, maxc=10)])
    for _ in range(5):
        s = connect(bal.port)
        s.close()
    wait_show(bal, lambda rs: rs[0]["totalc"] == 5, what="5 attempts granted")
    rows = wait_counters_zero(bal, timeout=4)
    assert rows[0]["totalc"] == 5


# ---------------------------------------------------------------- autodisable


def test_autodisable_failing_channel(start_balance, backends):
    x_port = dead_port()
    b = backends.tag("B")
    bal = start_balance(["-a", free_listen_port(), channel(x_port), channel(b)])
    assert get_tag(bal.port) == "B"
    rows = wait_show(bal, lambda rs: rs[0]["state"] == "dis", what="channel 0 autodisabled")
    assert rows[1]["state"] == "ENA"
    try:
        backends.tag("X", port=x_port)
    except OSError:
        pytest.skip("the refused port was taken meanwhile")
    assert tags(bal.port, 4) == ["B"] * 4, "an autodisabled channel must stay disabled"
    out = bal.ctl_ok("enable 0")
    assert "channel 0 enabled" in out
    got = tags(bal.port, 4)
    assert sorted(set(got)) == ["B", "X"], got
    wait_counters_zero(bal)


def test_autodisable_all_fail_then_next_group(start_balance, backends):
    """Under -a the failure disables the channel before the next client
    (which starts after the failed one has been served elsewhere) picks:
    it is tried exactly once."""
    g = backends.tag("G")
    bal = start_balance(["-a", free_listen_port(), channel(dead_port()), "!", channel(g)])
    rounds = 50
    for i in range(rounds):
        if i:
            assert "channel 0 enabled" in bal.ctl_ok("enable 0")
        assert tags(bal.port, 3) == ["G"] * 3
    rows = wait_counters_zero(bal)
    assert rows[0]["state"] == "dis"
    assert rows[0]["totalc"] == rounds, \
        f"a channel autodisabled by a failed connect was tried again ({rows[0]['totalc']} tries in {rounds} rounds)"


def test_autodisable_on_connect_timeout(start_balance, backends):
    bh = backends.blackhole()
    b = backends.tag("B")
    bal = start_balance(["-a", "-t", "1", free_listen_port(), channel(bh), channel(b)])
    assert get_tag(bal.port, timeout=10) == "B"
    rows = wait_counters_zero(bal)
    assert rows[0]["state"] == "dis"
    assert tags(bal.port, 2) == ["B", "B"]
    rows = wait_counters_zero(bal)
    assert rows[0]["totalc"] == 1, "an autodisabled channel was tried again"


@pytest.mark.skipif(not ipv6_available(), reason="no IPv6 loopback")
def test_autodisable_spares_a_channel_for_a_local_error(start_balance, backends):
    """-a disables a channel that fails; a bind this host cannot do (here an
    IPv4 -B address for an IPv6 channel: EINVAL) is not the channel failing.
    The client fails over, the channel stays enabled, and the log says why."""
    v6 = backends.tag("V6", host=LOOP6)
    g = backends.tag("G")
    bal = start_balance(["-a", "-B", "127.0.0.5", free_listen_port(), channel(v6, host=LOOP6),
                         "!", channel(g)])
    assert tags(bal.port, 2) == ["G", "G"]
    rows = wait_counters_zero(bal)
    assert rows[0]["state"] == "ENA", "-a disabled a channel for a local bind error"
    assert rows[0]["totalc"] == 2, "the channel was not tried for the second client"
    assert "not the channel's fault" in bal.stderr(), bal.stderr()


# ---------------------------------------------------------------- hash groups


def hash_map(port, srcs, host=LOOP4):
    return {src: get_tag(port, host=host, src=src) for src in srcs}


def test_hash_same_client_same_channel_and_spread(start_balance, backends):
    a, b, c, d = (backends.tag(n) for n in "ABCD")
    bal = start_balance([free_listen_port(), channel(a), channel(b), channel(c), "%", channel(d)])
    srcs = sources(59)
    first = hash_map(bal.port, srcs)
    second = hash_map(bal.port, srcs)
    assert first == second, "a client address must always land on the same channel"
    assert None not in first.values()
    counts = {t: list(first.values()).count(t) for t in "ABCD"}
    assert counts["D"] == 0, f"nothing should fail over to group 1: {counts}"
    assert all(counts[t] > 0 for t in "ABC"), f"hash does not spread clients (3.54 quirk 1): {counts}"
    rows = wait_counters_zero(bal)
    assert rows[0]["type"] == "Hash" and rows[3]["type"] == "RR"


def test_hash_group_reached_by_failover(start_balance, backends):
    """A hash group reached by failover hashes the client the same way as a
    first group (3.54 quirk 2 fixed)."""
    a, b, c, e = (backends.tag(n) for n in "ABCE")
    bal = start_balance([free_listen_port(), channel(dead_port()), "!", channel(a), channel(b), channel(c),
                         "%", channel(e)])
    srcs = sources(40)
    first = hash_map(bal.port, srcs)
    assert first == hash_map(bal.port, srcs)
    counts = {t: list(first.values()).count(t) for t in "ABCE"}
    assert counts["E"] == 0 and all(counts[t] for t in "ABC"), counts
    wait_counters_zero(bal)


def test_hash_v4_mapped_folded_to_v4(start_balance, backends):
    """An IPv4 client seen on the dual-stack socket (v4-mapped) hashes like
    the same client on an IPv4 socket."""
    a, b, c, d = (backends.tag(n) for n in "ABCD")
    chans = [channel(a), channel(b), channel(c), "%", channel(d)]
    dual = start_balance([free_listen_port()] + chans)
    v4 = start_balance(["-b", LOOP4, free_listen_port()] + chans)
    srcs = sources(30)
    assert hash_map(dual.port, srcs) == hash_map(v4.port, srcs)
    wait_counters_zero(dual)
    wait_counters_zero(v4)


@pytest.mark.skipif(not ipv6_available(), reason="no IPv6 loopback")
def test_hash_ipv6_client_is_stable(start_balance, backends):
    a, b, c, d = (backends.tag(n) for n in "ABCD")
    bal = start_balance([free_listen_port(), channel(a), channel(b), channel(c), "%", channel(d)])
    got = tags(bal.port, 4, host=LOOP6)
    assert got[0] in ("A", "B", "C") and got == [got[0]] * 4
    wait_counters_zero(bal)


def _moved(before, after):
    return {s: (before[s], after[s]) for s in before if before[s] != after[s]}


@pytest.mark.parametrize("hash_failover", [False, True], ids=["no-H", "H"])
def test_hash_disable_moves_only_that_channels_clients(hash_failover, start_balance, backends):
    a, b, c, d = (backends.tag(n) for n in "ABCD")
    opts = ["-H"] if hash_failover else []
    bal = start_balance(opts + [free_listen_port(), channel(a), channel(b), channel(c), "%", channel(d)])
    srcs = sources(59)
    before = hash_map(bal.port, srcs)
    on_b = [s for s in srcs if before[s] == "B"]
    assert on_b, f"no client on B: {before}"
    assert "channel 1 disabled" in bal.ctl_ok("disable 1")
    after = hash_map(bal.port, srcs)
    moved = _moved(before, after)
    assert set(moved) == set(on_b), f"only B's clients may move: {moved}"
    targets = {new for _, new in moved.values()}
    # A disabled channel leaves the ranking (docs/balance.1): with or
    # without -H its clients go to their next channel in the same group.
    assert targets <= {"A", "C"}, f"B's clients go to their next channel in the group: {moved}"
    if len(on_b) >= 12:
        assert targets == {"A", "C"}, f"the next channel follows each client's rank order: {moved}"
    assert "channel 1 enabled" in bal.ctl_ok("enable 1")
    assert hash_map(bal.port, srcs) == before, "re-enabling must restore the original mapping"
    wait_counters_zero(bal)


@pytest.mark.parametrize("hash_failover", [False, True], ids=["no-H", "H"])
def test_hash_refused_channel_failover(hash_failover, start_balance, backends):
    """A channel that refuses: without -H its clients go to the next group,
    with -H to their next channel in the same group; others stay put."""
    a, b, c, d = (backends.tag(n) for n in "ABCD")
    opts = ["-H"] if hash_failover else []
    bal = start_balance(opts + [free_listen_port(), channel(a), channel(b), channel(c), "%", channel(d)])
    srcs = sources(59)
    before = hash_map(bal.port, srcs)
    on_b = [s for s in srcs if before[s] == "B"]
    assert on_b
    b.stop()  # now refused
    after = hash_map(bal.port, srcs)
    moved = _moved(before, after)
    assert set(moved) == set(on_b), moved
    targets = {new for _, new in moved.values()}
    if hash_failover:
        assert targets <= {"A", "C"}, moved
    else:
        assert targets == {"D"}, moved
    wait_counters_zero(bal)


@pytest.mark.parametrize("hash_failover", [False, True], ids=["no-H", "H"])
def test_hash_full_channel(hash_failover, start_balance, backends):
    """A client whose channel is full (maxc): without -H the next group,
    with -H its next channel in the same group."""
    a, b, c, d = (backends.tag(n) for n in "ABCD")
    opts = ["-H"] if hash_failover else []
    bal = start_balance(opts + [free_listen_port(), channel(a), channel(b), channel(c), "%", channel(d)])
    # map first without a limit (sequential connections may overlap while
    # the previous one is being released), then set maxc 1 on A
    before = hash_map(bal.port, sources(59))
    on_a = [s for s, t in before.items() if t == "A"]
    assert len(on_a) >= 2, before
    wait_counters_zero(bal)
    bal.ctl_ok("maxc 0 1")
    held, tag = open_tagged(bal.port, src=on_a[0])
    try:
        assert tag == "A"
        for src in on_a[1:4]:
            got = get_tag(bal.port, src=src)
            if hash_failover:
                assert got in ("B", "C"), f"-H: {src} got {got}"
            else:
                assert got == "D", f"without -H: {src} got {got}"
        others = [s for s in before if before[s] != "A"][:10]
        assert {s: get_tag(bal.port, src=s) for s in others} == {s: before[s] for s in others}
    finally:
        held.close()
    wait_counters_zero(bal)


def test_hash_failover_all_unusable_goes_to_next_group(start_balance, backends):
    a, b, d = backends.tag("A"), backends.tag("B"), backends.tag("D")
    bal = start_balance(["-H", free_listen_port(), channel(a), channel(b), "%", channel(d)])
    bal.ctl_ok("disable 0; disable 1")
    assert set(hash_map(bal.port, sources(10)).values()) == {"D"}
    wait_counters_zero(bal)


def test_hash_new_channel_takes_only_its_own_clients(start_balance, backends):
    """create + enable in a hash group: clients either stay or move to the
    new channel (rendezvous hashing)."""
    a, b, c, d, e = (backends.tag(n) for n in "ABCDE")
    bal = start_balance([free_listen_port(), channel(a), channel(b), channel(c), "%", channel(d)])
    srcs = sources(59)
    before = hash_map(bal.port, srcs)
    assert bal.ctl_ok(f"create 127.0.0.1 {e.port}; enable 3").split() == \
        "channel created channel 3 enabled".split()
    after = hash_map(bal.port, srcs)
    moved = _moved(before, after)
    assert moved, "the new channel got no client at all"
    assert {new for _, new in moved.values()} == {"E"}, moved
    wait_counters_zero(bal)


def test_hash_created_disabled_channel_moves_nobody(start_balance, backends):
    """`create` makes a disabled channel (3.54 workflow: create, then
    enable): until it is enabled nobody's channel may change; a channel
    that never served anyone has no clients to send to the next group."""
    a, b, c, d, e = (backends.tag(n) for n in "ABCDE")
    bal = start_balance([free_listen_port(), channel(a), channel(b), channel(c), "%", channel(d)])
    srcs = sources(59)
    before = hash_map(bal.port, srcs)
    assert "channel created" in bal.ctl_ok(f"create 127.0.0.1 {e.port}")
    moved = _moved(before, hash_map(bal.port, srcs))
    assert not moved, f"creating a disabled channel moved clients: {moved}"
    wait_counters_zero(bal)
