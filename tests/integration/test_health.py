"""Health checks (issue 13): active checks (--check-interval, --check-timeout,
--rise, --fall, --check-send/--check-expect), passive ones (--observe),
--on-down, the `health` command and health in `show json` and `metrics`.

Intervals are short (0.2-0.4 s) so the file runs in well under a minute; the
bounds the contract states (interval x fall + timeout to go down, interval x
rise to come up) get a fixed allowance for polling and the jitter
(+-10 %), and are scaled by BALANCE_TEST_SLACK like every other wait."""

import json
import re
import socket
import threading
import time

import pytest

from harness import (EX_USAGE, LOOP4, LOOP6, SHOW_HEADER, channel, connect, dead_port, echo_roundtrip,
                     format_row, free_listen_port, get_tag, ipv6_available, is_listening, open_tagged,
                     pids_listening,
                     run_balance,
                     scaled, sources, wait_counters_zero, wait_for)

INTERVAL = 0.2
# What the stated bounds are given on top, for polling `health` (one
# process per poll), the +-10 % jitter and timers on a busy machine.
ALLOWANCE = 0.6

HEALTH_HEADER = "GRP  #   S       ip-address  port health succ fail   since error"
HEALTH_RE = re.compile(r"^\s*(\d+)\s+(\d+)\s+(ENA|dis)\s+(\S+)\s+(\d+)\s+(up|down|-)\s+(\d+)\s+(\d+)"
                       r"\s+(\d+) (.+)$")
HEALTH_KEYS = ("grp", "ch", "state", "ip", "port", "health", "succ", "fail", "since", "error")
ERRORS = {"refused", "timeout", "expect mismatch", "closed", "reset", "unreachable", "failed", "-"}


def format_health_row(r):
    return "%3d %2d %3s %16s %5d %6s %4d %4d %7d %s" % tuple(r[k] for k in HEALTH_KEYS)


def parse_health(out):
    """Rows of `-c health` by (group, channel); the header and every row's
    layout are checked exactly."""
    lines = out.splitlines()
    assert lines and lines[0] == HEALTH_HEADER, f"health header: {out!r}"
    rows = {}
    for line in lines[1:]:
        m = HEALTH_RE.match(line)
        assert m, f"not a health row: {line!r} in {out!r}"
        g = m.groups()
        r = {"grp": int(g[0]), "ch": int(g[1]), "state": g[2], "ip": g[3], "port": int(g[4]),
             "health": g[5], "succ": int(g[6]), "fail": int(g[7]), "since": int(g[8]),
             "error": g[9], "line": line}
        assert format_health_row(r) == line, f"health row layout: {line!r}"
        assert r["error"] in ERRORS, f"unknown error in {line!r}"
        rows[(r["grp"], r["ch"])] = r
    return rows


def health(bal):
    return parse_health(bal.ctl_ok("health"))


def wait_health(bal, ch, pred, timeout, grp=0, what=None):
    """Polls `health` until pred(row of grp/ch) holds (timeout scaled);
    returns the row."""
    last = {}

    def check():
        last["rows"] = health(bal)
        return pred(last["rows"][(grp, ch)])

    try:
        wait_for(check, timeout, interval=0.02, what=what or f"health of channel {ch}")
    except AssertionError as exc:
        rows = last.get("rows") or {}
        raise AssertionError(f"{exc}; last health: {[r['line'] for r in rows.values()]}")
    return last["rows"][(grp, ch)]


def is_up(r):
    return r["health"] == "up"


def is_down(r):
    return r["health"] == "down"


def answer_timeout():
    """--check-timeout for destinations that answer from a Python thread
    (a late answer would be a failed check): 0.5 s, scaled."""
    return f"{scaled(0.5):.2f}"


def down_bound(interval=INTERVAL, fall=3, timeout=None):
    """interval x fall + timeout (default timeout: the interval), plus the
    allowance."""
    return interval * 1.1 * fall + (interval if timeout is None else timeout) + ALLOWANCE


def up_bound(interval=INTERVAL, rise=2):
    return interval * 1.1 * rise + ALLOWANCE


def addr(port):
    return f"127.0.0.1:{port}"


def wait_log(bal, text, timeout=2.0):
    wait_for(lambda: text in bal.stderr(), timeout, what=f"{text!r} on stderr")


def tags(port, n, **kw):
    return [get_tag(port, **kw) for _ in range(n)]


def timed_tags(port, n):
    """n consecutive clients: ([tag], [seconds each took])."""
    got, took = [], []
    for _ in range(n):
        t0 = time.monotonic()
        got.append(get_tag(port, timeout=10))
        took.append(time.monotonic() - t0)
    return got, took


def totalc(bal, ch):
    return bal.row(0, ch)["totalc"]


def rebind_tag(backends, name, port):
    """A tag server on `port` again (a destination started again)."""
    try:
        return backends.tag(name, port=port)
    except OSError:
        pytest.skip(f"port {port} was taken meanwhile")


def echo_handler(c, rec):
    while True:
        data = c.recv(65536)
        if not data:
            return
        c.sendall(data)


def stop_listening(srv):
    """Closes a ThreadedServer's listening socket only: its accept loop ends
    on `_stopping` and closes the listener; the connections it accepted
    stay open (until srv.stop())."""
    srv._stopping = True
    srv.join(scaled(3))
    assert not srv.is_alive(), "the accept loop did not end"
    wait_for(lambda: not is_listening(srv.port), 2, what="the listener closed")


def wait_end(sock, timeout):
    """How the connection ends within `timeout` (scaled): "reset", "eof",
    or "open" if it is still open then (data is discarded)."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return "open"
        sock.settimeout(left)
        try:
            if not sock.recv(65536):
                return "eof"
        except socket.timeout:
            return "open"
        except ConnectionResetError:
            return "reset"


# ---------------------------------------------------------------- down and up again


def test_stopped_destination_goes_down_then_up_again(start_balance, backends):
    """A destination that stops listening is down within interval x fall +
    timeout; then 200 consecutive clients are all served by the others, none
    of them trying it; listening again, it is up within interval x rise and
    gets clients again (defaults: --rise 2, --fall 3, timeout = interval)."""
    a, b, c = backends.tag("A"), backends.tag("B"), backends.tag("C")
    bal = start_balance(["-t", "5", "--check-interval", str(INTERVAL), free_listen_port(),
                         channel(a), channel(b), channel(c)])
    wait_health(bal, 0, lambda r: is_up(r) and r["succ"] >= 2, 3, what="A checked and up")
    assert sorted(tags(bal.port, 3)) == ["A", "B", "C"]
    wait_counters_zero(bal)
    a_port, a_total = a.port, totalc(bal, 0)

    t0 = time.monotonic()
    a.stop()
    row = wait_health(bal, 0, is_down, down_bound(), what="A down")
    elapsed = time.monotonic() - t0
    assert elapsed <= scaled(down_bound()), f"down after {elapsed:.2f}s"
    assert row["error"] == "refused" and row["fail"] >= 3 and row["state"] == "ENA", row["line"]
    assert row["since"] <= 1, f"since counts from the change: {row['line']}"
    wait_log(bal, f"channel 0 of group 0 ({addr(a_port)}) is down: "
                  "3 consecutive checks failed (refused)")

    t0 = time.monotonic()
    got, took = timed_tags(bal.port, 200)
    total = time.monotonic() - t0
    assert set(got) <= {"B", "C"} and None not in got, {t: got.count(t) for t in set(got)}
    assert max(took) < scaled(1.0), f"a client took {max(took):.2f}s (-t 5)"
    assert total < scaled(8.0), f"200 clients took {total:.2f}s"
    rows = wait_counters_zero(bal)
    assert rows[0]["totalc"] == a_total, "a client was sent to the down channel"
    assert rows[1]["totalc"] + rows[2]["totalc"] >= 200

    rebind_tag(backends, "A", a_port)
    t0 = time.monotonic()
    row = wait_health(bal, 0, is_up, up_bound(), what="A up again")
    elapsed = time.monotonic() - t0
    assert elapsed <= scaled(up_bound()), f"up after {elapsed:.2f}s"
    assert row["succ"] >= 2 and row["fail"] == 0, row["line"]
    wait_log(bal, f"channel 0 of group 0 ({addr(a_port)}) is up: 2 consecutive checks passed")
    got = tags(bal.port, 6)
    assert "A" in got and None not in got, got
    rows = wait_counters_zero(bal)
    assert rows[0]["totalc"] > a_total


def test_syn_dropping_destination_goes_down_by_timeout(start_balance, backends):
    """A destination that never answers the SYN goes down by the check
    timeout (default: the interval, not -t 5); then no client waits for
    -t on it."""
    bh = backends.blackhole()
    b = backends.tag("B")
    t0 = time.monotonic()
    bal = start_balance(["-t", "5", "--check-interval", str(INTERVAL), free_listen_port(),
                         channel(bh), channel(b)])
    row = wait_health(bal, 0, is_down, down_bound(), what="the SYN-dropping channel down")
    elapsed = time.monotonic() - t0
    # from before the start: the start itself is in it
    assert elapsed <= scaled(down_bound() + 0.5), f"down {elapsed:.2f}s after the start"
    assert row["error"] == "timeout", row["line"]
    assert health(bal)[(0, 1)]["health"] == "up"
    wait_log(bal, f"channel 0 of group 0 ({addr(bh.port)}) is down: "
                  "3 consecutive checks failed (timeout)")
    got, took = timed_tags(bal.port, 200)
    assert got == ["B"] * 200, {t: got.count(t) for t in set(got)}
    assert max(took) < scaled(1.0), f"a client took {max(took):.2f}s: it waited for -t 5"
    rows = wait_counters_zero(bal)
    assert rows[0]["totalc"] == 0, "a client was sent to the down channel"
    assert bh.verify(), "the destination answered meanwhile (the test proves nothing)"


# ---------------------------------------------------------------- send / expect


def banner_handler(answer):
    """Reads the check's request (up to CRLF), records it, then answers
    `answer` and waits for the checker to end the connection; None: closes
    without answering (a FIN, the request having been read)."""

    def handler(c, rec):
        c.settimeout(scaled(5))
        got = b""
        while not got.endswith(b"\r\n") and len(got) < 256:
            chunk = c.recv(256)
            if not chunk:
                break
            got += chunk
        rec["request"] = got
        if answer is None:
            return
        c.sendall(answer)
        try:
            while c.recv(256):
                pass
        except OSError:
            pass

    return handler


@pytest.mark.parametrize("version,header", [
    ("v1", b"PROXY UNKNOWN\r\n"),
    ("v2", b"\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00"),
])
def test_talking_check_sends_a_local_proxy_header_first(start_balance, backends, version, header):
    """Behind --send-proxy a destination reads a PROXY header before
    anything else: a check that talks sends v1 UNKNOWN or v2 LOCAL first
    (no addresses: the check is balance's own connection)."""
    good = backends.threaded(banner_handler(b"PONG\r\n"))
    bal = start_balance(["--send-proxy", version, "--check-interval", str(INTERVAL),
                         "--check-timeout", answer_timeout(), "--check-send", "PING\r\n",
                         "--check-expect", "PONG", free_listen_port(), channel(good)])
    wait_health(bal, 0, lambda r: r["succ"] >= 2, 3, what="the check passing")
    records = good.wait_records(2)
    assert records[0]["request"] == header + b"PING\r\n", records[0]


def test_send_expect(start_balance, backends):
    """--check-send 'PING\\t\\\\\\x21\\r\\n' --check-expect '\\x50ONG': the
    destination gets exactly those bytes, escapes decoded; one answering
    PONG... is up, one answering another banner is down (expect mismatch),
    one closing without answering is down (closed)."""
    good = backends.threaded(banner_handler(b"PONG ready\r\n"))
    wrong = backends.threaded(banner_handler(b"-ERR unknown command\r\n"))
    mute = backends.threaded(banner_handler(None))
    bal = start_balance(["--check-interval", str(INTERVAL), "--check-timeout", answer_timeout(),
                         "--check-send", "PING\\t\\\\\\x21\\r\\n", "--check-expect", "\\x50ONG",
                         free_listen_port(),
                         channel(good), channel(wrong), channel(mute)])
    wait_health(bal, 1, is_down, down_bound(), what="the wrong banner down")
    wait_health(bal, 2, is_down, down_bound(), what="the mute destination down")
    rows = wait_health(bal, 0, lambda r: r["succ"] >= 3, 3, what="the right banner passing")
    rows = health(bal)
    assert rows[(0, 0)]["health"] == "up" and rows[(0, 0)]["error"] == "-", rows[(0, 0)]["line"]
    assert rows[(0, 1)]["error"] == "expect mismatch", rows[(0, 1)]["line"]
    assert rows[(0, 2)]["error"] == "closed", rows[(0, 2)]["line"]
    wait_log(bal, f"channel 1 of group 0 ({addr(wrong.port)}) is down: "
                  "3 consecutive checks failed (expect mismatch)")
    wait_log(bal, f"channel 2 of group 0 ({addr(mute.port)}) is down: "
                  "3 consecutive checks failed (closed)")
    assert "channel 0 of group 0" not in bal.stderr(), bal.stderr()
    for srv in (good, wrong, mute):
        requests = [r["request"] for r in list(srv.records) if "request" in r]
        assert len(requests) >= 3, srv.records
        assert set(requests) == {b"PING\t\\!\r\n"}, requests


def speaks_first(*parts):
    """Sends `parts` as separate segments (a short pause between them) as
    soon as connected, then waits for the checker to end the connection;
    no parts: says nothing."""

    def handler(c, rec):
        for i, part in enumerate(parts):
            if i:
                time.sleep(0.05)
            c.sendall(part)
        c.settimeout(scaled(5))
        try:
            while c.recv(256):
                pass
        except OSError:
            pass

    return handler


def test_expect_without_send(start_balance, backends):
    """--check-expect alone (a server that speaks first, as SMTP): the
    banner passes even when it comes in pieces; a destination that never
    answers is down by the check timeout."""
    whole = backends.threaded(speaks_first(b"220 mail ready\r\n"))
    pieces = backends.threaded(speaks_first(b"2", b"20 ", b"ready\r\n"))
    silent = backends.threaded(speaks_first())
    timeout = answer_timeout()
    bal = start_balance(["--check-interval", str(INTERVAL), "--check-timeout", timeout,
                         "--check-expect", "220 ", free_listen_port(),
                         channel(whole), channel(pieces), channel(silent)])
    row = wait_health(bal, 2, is_down, down_bound(timeout=float(timeout)) + 3 * float(timeout),
                      what="the silent destination down")
    assert row["error"] == "timeout", row["line"]
    rows = health(bal)
    for ch in (0, 1):
        r = rows[(0, ch)]
        assert (r["health"], r["fail"], r["error"]) == ("up", 0, "-") and r["succ"] >= 3, r["line"]


def note_end(c, rec):
    """Records how the connection ends without sending anything: "eof",
    "reset", or the bytes received."""
    c.settimeout(scaled(5))
    try:
        data = c.recv(64)
        rec["end"] = data if data else "eof"
    except ConnectionResetError:
        rec["end"] = "reset"


def test_plain_check_never_reaches_the_application(start_balance, backends):
    """Without --check-send a check is HAProxy's layer-4 one: the kernel's
    SYN-ACK proves the listener and a reset ends the handshake, so the
    destination's application accepts nothing and logs nothing."""
    srv = backends.threaded(note_end)
    bal = start_balance(["--check-interval", str(INTERVAL), free_listen_port(), channel(srv)])
    wait_health(bal, 0, lambda r: is_up(r) and r["succ"] >= 5, 3, what="5 checks passed")
    assert srv.records == [], srv.records
    assert bal.row(0, 0)["totalc"] == 0, "checks counted as client connections"
    # The channel still serves clients, and the application sees those.
    with socket.create_connection((LOOP4, bal.port), timeout=scaled(5)) as c:
        c.sendall(b"hello")
    records = srv.wait_records(1)
    assert [r.get("end") for r in records] == [b"hello"], records


# ---------------------------------------------------------------- passive checks


def test_observe_without_active_checks(start_balance, backends):
    """--observe, --check-interval 0: three refused client connects take the
    channel down (the clients are served by the other); nothing re-checks
    it, so it stays down while the destination listens again, until
    `enable` brings it back."""
    x_port = dead_port()
    b = backends.tag("B")
    bal = start_balance(["--observe", "--check-interval=0", free_listen_port(),
                         channel(x_port), channel(b)])
    assert health(bal)[(0, 0)]["health"] == "up"
    assert tags(bal.port, 2) == ["B", "B"]
    assert wait_counters_zero(bal)[0]["totalc"] == 2
    assert health(bal)[(0, 0)]["health"] == "up", "down after 2 failures with --fall 3"
    assert tags(bal.port, 1) == ["B"]
    row = wait_health(bal, 0, is_down, 2, what="down after 3 refused clients")
    assert row["error"] == "refused", row["line"]
    wait_log(bal, f"channel 0 of group 0 ({addr(x_port)}) is down: "
                  "3 client connects failed in a row (refused)")
    assert tags(bal.port, 10) == ["B"] * 10
    assert wait_counters_zero(bal)[0]["totalc"] == 3, "a client was sent to the down channel"

    rebind_tag(backends, "X", x_port)
    # Nothing may bring it back by itself: watched for 1.5 s (bounded).
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        assert health(bal)[(0, 0)]["health"] == "down", "came up without active checks"
        time.sleep(0.1)
    assert tags(bal.port, 4) == ["B"] * 4
    assert wait_counters_zero(bal)[0]["totalc"] == 3

    assert bal.ctl_ok("enable 0") == "channel 0 enabled\n"
    wait_health(bal, 0, is_up, 1, what="up after enable")
    wait_log(bal, f"channel 0 of group 0 ({addr(x_port)}) is up")
    got = tags(bal.port, 4)
    assert sorted(set(got)) == ["B", "X"], got
    wait_counters_zero(bal)


def test_observe_counts_client_connect_timeouts(start_balance, backends):
    """--observe: clients' connects that time out (-t 1, a SYN-dropping
    destination) count too; once down, no client waits for it."""
    bh = backends.blackhole()
    b = backends.tag("B")
    bal = start_balance(["-t", "1", "--observe", "--check-interval=0", free_listen_port(),
                         channel(bh), channel(b)])
    assert tags(bal.port, 3) == ["B"] * 3
    row = wait_health(bal, 0, is_down, 2, what="down after 3 clients' connect timeouts")
    assert row["error"] == "timeout", row["line"]
    wait_log(bal, f"channel 0 of group 0 ({addr(bh.port)}) is down: "
                  "3 client connects failed in a row (timeout)")
    got, took = timed_tags(bal.port, 10)
    assert got == ["B"] * 10
    assert max(took) < scaled(0.5), f"a client took {max(took):.2f}s: it waited for -t 1"
    assert wait_counters_zero(bal)[0]["totalc"] == 3


def test_autodisable_unchanged_by_checks(start_balance, backends):
    """-a as 3.54: a failed client connect disables the channel until an
    operator enables it; passing checks do not enable it."""
    x_port = dead_port()
    b = backends.tag("B")
    bal = start_balance(["-a", "--check-interval", str(INTERVAL), free_listen_port(),
                         channel(x_port), channel(b)])
    assert get_tag(bal.port) == "B"  # tried the dead channel first
    assert bal.row(0, 0)["state"] == "dis"
    wait_log(bal, "autodisabled")
    rebind_tag(backends, "X", x_port)
    deadline = time.monotonic() + up_bound() + 0.5
    while time.monotonic() < deadline:
        assert bal.row(0, 0)["state"] == "dis", "checks enabled an autodisabled channel"
        time.sleep(0.1)
    assert health(bal)[(0, 0)]["state"] == "dis"
    assert tags(bal.port, 4) == ["B"] * 4
    assert wait_counters_zero(bal)[0]["totalc"] == 1
    assert bal.ctl_ok("enable 0") == "channel 0 enabled\n"
    wait_health(bal, 0, is_up, up_bound(), what="channel 0 up")
    assert sorted(set(tags(bal.port, 4))) == ["B", "X"]
    wait_counters_zero(bal)


# ---------------------------------------------------------------- flapping


class Flapper(threading.Thread):
    """A destination on `port` that flaps on its own clock: it listens for
    `period` seconds, then does not (connects are refused) for as long, and
    again.  A plain check never reaches the application (the kernel answers
    it), so the flapping cannot follow the checks; with checks every 0.4 s
    (give or take a tenth) and a period of 0.6 s no phase holds more than
    two checks, and a stall of this thread makes a phase longer by as much
    (hence --rise 4 --fall 4 below)."""

    def __init__(self, port, period):
        super().__init__(daemon=True)
        self.port = port
        self.period = period
        self.phases = 0
        self.error = None
        self._stop_ev = threading.Event()
        self.start()

    def run(self):
        try:
            while not self._stop_ev.is_set():
                ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                try:
                    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    ls.bind((LOOP4, self.port))
                    ls.listen(8)
                    self._stop_ev.wait(self.period)
                finally:
                    ls.close()
                self.phases += 1
                self._stop_ev.wait(self.period)
        except OSError as exc:
            self.error = exc

    def stop(self):
        self._stop_ev.set()
        self.join(scaled(3))


def watch_health(bal, ch, seconds):
    """`health` rows of channel `ch` polled for `seconds` (not scaled: a
    span of checks to watch)."""
    seen = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen.append(health(bal)[(0, ch)])
        time.sleep(0.05)
    return seen


@pytest.mark.timeout_s(90)
def test_flapping_never_changes_state(start_balance, backends):
    """--rise 4 --fall 4: a destination alternating between listening and
    refusing faster than that never goes down (while up) and never comes
    up (while down)."""
    interval = 0.4
    port = dead_port()
    b = backends.tag("B")
    flap = Flapper(port, period=1.5 * interval)
    try:
        bal = start_balance(["--check-interval", str(interval), "--rise", "4", "--fall", "4",
                             free_listen_port(), channel(port), channel(b)])
        seen = watch_health(bal, 0, 12 * interval)
    finally:
        flap.stop()
    assert flap.error is None, flap.error
    assert flap.phases >= 3, f"only {flap.phases} phases"
    assert all(r["health"] == "up" for r in seen), [r["line"] for r in seen if r["health"] != "up"]
    assert max(r["fail"] for r in seen) >= 1, "no check failed: the destination did not flap"
    assert "is down" not in bal.stderr(), bal.stderr()

    wait_health(bal, 0, is_down, down_bound(interval, 4), what="down once it stays away")
    flap = Flapper(port, period=1.5 * interval)
    try:
        seen = watch_health(bal, 0, 12 * interval)
    finally:
        flap.stop()
    assert flap.error is None, flap.error
    assert flap.phases >= 3, f"only {flap.phases} phases"
    assert all(r["health"] == "down" for r in seen), [r["line"] for r in seen if r["health"] != "down"]
    assert max(r["succ"] for r in seen) >= 1, "no check passed: the destination did not flap"
    assert "is up" not in bal.stderr(), bal.stderr()
    assert bal.stderr().count("is down") == 1, bal.stderr()


# ---------------------------------------------------------------- operator precedence


def test_operator_state_takes_precedence(start_balance, backends):
    """`disable` keeps an up channel out (it is still checked and stays up);
    `enable` does not bring a down channel back ("already enabled"): no
    client goes to it until the checks bring it up."""
    a, b = backends.tag("A"), backends.tag("B")
    bal = start_balance(["--check-interval", str(INTERVAL), free_listen_port(), channel(a), channel(b)])
    wait_health(bal, 1, lambda r: r["succ"] >= 2, 3, what="B checked")
    assert bal.ctl_ok("disable 1") == "channel 1 disabled\n"
    assert tags(bal.port, 6) == ["A"] * 6
    assert wait_counters_zero(bal)[1]["totalc"] == 0
    for row in watch_health(bal, 1, 3 * INTERVAL):
        assert row["state"] == "dis" and row["health"] == "up", row["line"]
    assert bal.row(0, 1)["state"] == "dis"
    assert "is down" not in bal.stderr() and "is up" not in bal.stderr(), bal.stderr()
    assert bal.ctl_ok("enable 1") == "channel 1 enabled\n"
    assert sorted(set(tags(bal.port, 4))) == ["A", "B"]
    b_total = wait_counters_zero(bal)[1]["totalc"]

    b_port = b.port
    b.stop()
    wait_health(bal, 1, is_down, down_bound(), what="B down")
    assert bal.ctl_ok("enable 1") == "channel 1 already enabled\n"
    row = health(bal)[(0, 1)]
    assert row["state"] == "ENA" and row["health"] == "down", row["line"]
    assert bal.row(0, 1)["state"] == "ENA"
    assert tags(bal.port, 6) == ["A"] * 6
    assert wait_counters_zero(bal)[1]["totalc"] == b_total, "enable sent clients to a down channel"
    assert health(bal)[(0, 1)]["health"] == "down"
    assert "is up" not in bal.stderr(), bal.stderr()
    rebind_tag(backends, "B", b_port)
    wait_health(bal, 1, is_up, up_bound(), what="B up again")
    assert sorted(set(tags(bal.port, 4))) == ["A", "B"]
    assert wait_counters_zero(bal)[1]["totalc"] > b_total


# ---------------------------------------------------------------- --on-down


def tag_echo_handler(name):
    """Sends `name` and a newline, then echoes."""

    def handler(c, rec):
        c.sendall(name.encode() + b"\n")
        echo_handler(c, rec)

    return handler


def test_on_down_shutdown_resets_live_connections(start_balance, backends):
    """--on-down shutdown: once the channel goes down (its destination no
    longer listens), its live connections are reset, although each one's
    own connection to the destination still works; another channel's
    connection is left alone."""
    srv = backends.threaded(tag_echo_handler("A"))
    other = backends.threaded(tag_echo_handler("B"))
    bal = start_balance(["--check-interval", str(INTERVAL), "--on-down", "shutdown",
                         free_listen_port(), channel(srv), channel(other)])
    wait_health(bal, 0, lambda r: r["succ"] >= 1, 3, what="checked")
    s, tag = open_tagged(bal.port)
    s2, tag2 = open_tagged(bal.port)
    try:
        assert (tag, tag2) == ("A", "B")
        assert echo_roundtrip(s, b"hello\n") == b"hello\n"
        t0 = time.monotonic()
        stop_listening(srv)
        how = wait_end(s, down_bound() + 1.0)
        elapsed = time.monotonic() - t0
        assert how == "reset", f"the client's connection: {how} after {elapsed:.2f}s"
        assert elapsed <= scaled(down_bound() + 0.3), f"reset {elapsed:.2f}s after the listener closed"
        assert health(bal)[(0, 0)]["health"] == "down"
        assert echo_roundtrip(s2, b"other\n", timeout=scaled(5)) == b"other\n", \
            "another channel's connection was cut"
    finally:
        s.close()
        s2.close()
    wait_counters_zero(bal)


def test_on_down_keep_leaves_live_connections(start_balance, backends):
    """--on-down keep (the default, spelled out): the live connection keeps
    working after its channel went down."""
    srv = backends.threaded(echo_handler)
    bal = start_balance(["--check-interval", str(INTERVAL), "--on-down", "keep",
                         free_listen_port(), channel(srv)])
    wait_health(bal, 0, lambda r: r["succ"] >= 1, 3, what="checked")
    s = connect(bal.port)
    try:
        assert echo_roundtrip(s, b"hello\n") == b"hello\n"
        stop_listening(srv)
        wait_health(bal, 0, is_down, down_bound(), what="down")
        assert wait_end(s, 2 * INTERVAL) == "open", "the connection ended with --on-down keep"
        assert echo_roundtrip(s, b"still there\n", timeout=scaled(5)) == b"still there\n"
        assert bal.row(0, 0)["c"] == 1
    finally:
        s.close()
    wait_counters_zero(bal)


# ---------------------------------------------------------------- reporting


def _json_channels(bal):
    doc = json.loads(bal.ctl_ok("show json"))
    return {(g["group"], ch["channel"]): ch for g in doc["groups"] for ch in g["channels"]}


def _metric_samples(bal, name):
    out = bal.ctl_ok("metrics")
    samples = {}
    for line in out.splitlines():
        if line.startswith(name + "{"):
            labels, value = line[len(name):].rsplit(" ", 1)
            samples[labels] = float(value)
    return out, samples


def _labels(grp, ch, port):
    return f'{{group="{grp}",channel="{ch}",address="127.0.0.1",port="{port}"}}'


def test_health_json_metrics_and_unchanged_show(start_balance, backends):
    """health, show json and metrics report up and down; show keeps 3.54's
    exact layout, its S column the operator state (ENA for a down channel)."""
    a = backends.tag("A")
    x_port = dead_port()
    bal = start_balance(["--check-interval", str(INTERVAL), free_listen_port(),
                         channel(a), channel(x_port)], foreground=False)
    wait_health(bal, 1, lambda r: is_down(r) and r["fail"] >= 4, down_bound() + 1, what="down")
    wait_health(bal, 0, lambda r: r["succ"] >= 4 and r["since"] >= 1, 3, what="A passing 1 s")
    assert tags(bal.port, 2) == ["A", "A"]
    show_rows = wait_counters_zero(bal)

    rows = health(bal)
    assert sorted(rows) == [(0, 0), (0, 1)]
    up, down = rows[(0, 0)], rows[(0, 1)]
    assert (up["state"], up["ip"], up["port"], up["health"], up["fail"], up["error"]) == \
        ("ENA", "127.0.0.1", a.port, "up", 0, "-"), up["line"]
    assert (down["state"], down["port"], down["health"], down["succ"], down["error"]) == \
        ("ENA", x_port, "down", 0, "refused"), down["line"]

    chans = _json_channels(bal)
    assert chans[(0, 0)]["health"] == "up" and chans[(0, 1)]["health"] == "down", chans
    assert chans[(0, 0)]["check_successes"] >= 4 and chans[(0, 0)]["check_failures"] == 0
    assert chans[(0, 1)]["check_failures"] >= 4 and chans[(0, 1)]["check_successes"] == 0
    assert chans[(0, 1)]["last_check_error"] == "refused"
    assert chans[(0, 0)]["last_check_error"] in ("", "-", None)
    assert chans[(0, 0)]["health_changed_seconds_ago"] >= 1
    assert isinstance(chans[(0, 1)]["health_changed_seconds_ago"], int)
    assert chans[(0, 1)]["enabled"] is True

    out, healthy = _metric_samples(bal, "balance_channel_healthy")
    assert healthy == {_labels(0, 0, a.port): 1, _labels(0, 1, x_port): 0}, out
    out, failures = _metric_samples(bal, "balance_channel_check_failures")
    assert failures[_labels(0, 0, a.port)] == 0 and failures[_labels(0, 1, x_port)] >= 4, out

    show = bal.ctl_ok("show")
    expect = [SHOW_HEADER]
    for ch, port, total, rcvd in ((0, a.port, 2, 4), (1, x_port, 0, 0)):
        expect.append(format_row({"grp": 0, "type": "RR", "ch": ch, "state": "ENA",
                                  "ip": "127.0.0.1", "port": port, "c": 0, "totalc": total,
                                  "maxc": 0, "sent": 0, "rcvd": rcvd}))
    assert show == "\n".join(expect) + "\n", show
    assert [r["line"] for r in show_rows] == expect[1:]
    # appended after 3.54's commands: `h`, `he` still mean help
    assert bal.ctl_ok("h") == bal.ctl_ok("he") == bal.ctl_ok("help")
    assert bal.ctl_ok("hea").splitlines()[0] == HEALTH_HEADER


def test_unchecked_channels_reported_as_such(start_balance, backends):
    """Without checks: health `-`, "unchecked" in show json, no
    balance_channel_healthy sample."""
    a = backends.tag("A")
    x_port = dead_port()
    bal = start_balance([free_listen_port(), channel(a), channel(x_port)])
    assert tags(bal.port, 2) == ["A", "A"]
    wait_counters_zero(bal)
    rows = health(bal)
    for key, port in (((0, 0), a.port), ((0, 1), x_port)):
        r = rows[key]
        assert (r["port"], r["health"], r["succ"], r["fail"], r["error"]) == \
            (port, "-", 0, 0, "-"), r["line"]
    chans = _json_channels(bal)
    assert {k: v["health"] for k, v in chans.items()} == {(0, 0): "unchecked", (0, 1): "unchecked"}
    out, healthy = _metric_samples(bal, "balance_channel_healthy")
    assert healthy == {}, out
    assert "balance_channel_up{" in out


# ---------------------------------------------------------------- hash groups


def hash_map(port, srcs):
    return {src: get_tag(port, src=src) for src in srcs}


def test_hash_group_down_channel_moves_only_its_clients(start_balance, backends):
    """In a hash group a down channel is skipped as a disabled one: its
    clients go to another channel of the group, nobody else moves, and the
    mapping comes back with it."""
    a, b, c, d = (backends.tag(n) for n in "ABCD")
    bal = start_balance(["--check-interval", str(INTERVAL), free_listen_port(),
                         channel(a), channel(b), channel(c), "%", channel(d)])
    srcs = sources(59)
    before = hash_map(bal.port, srcs)
    on_b = [s for s in srcs if before[s] == "B"]
    assert on_b and None not in before.values(), before
    b_total = wait_counters_zero(bal)[1]["totalc"]
    b_port = b.port
    b.stop()
    wait_health(bal, 1, is_down, down_bound(), what="B down")
    after = hash_map(bal.port, srcs)
    moved = {s: (before[s], after[s]) for s in srcs if before[s] != after[s]}
    assert set(moved) == set(on_b), f"only B's clients may move: {moved}"
    assert {new for _, new in moved.values()} <= {"A", "C"}, \
        f"B's clients go to another channel of the group: {moved}"
    assert wait_counters_zero(bal)[1]["totalc"] == b_total, "a client was sent to the down channel"
    rebind_tag(backends, "B", b_port)
    wait_health(bal, 1, is_up, up_bound(), what="B up again")
    assert hash_map(bal.port, srcs) == before, "B's clients did not come back"
    wait_counters_zero(bal)


# ---------------------------------------------------------------- channels created at run time


def test_created_channel_is_checked(start_balance, backends):
    """`create` + `enable` with checks on: the new channel is checked (its
    successes grow; one whose destination is dead goes down) and gets
    clients."""
    a, e = backends.tag("A"), backends.tag("E")
    x_port = dead_port()
    bal = start_balance(["--check-interval", str(INTERVAL), free_listen_port(), channel(a)])
    assert bal.ctl_ok(f"create 127.0.0.1 {e.port}; enable 1").split("\n")[:2] == \
        ["channel created", "channel 1 enabled"]
    row = wait_health(bal, 1, lambda r: r["succ"] >= 2, 3, what="the created channel checked")
    assert row["health"] == "up" and row["port"] == e.port, row["line"]
    wait_health(bal, 1, lambda r: r["succ"] >= row["succ"] + 2, 3, what="its successes growing")
    assert bal.ctl_ok(f"create 127.0.0.1 {x_port}; enable 2").split("\n")[:2] == \
        ["channel created", "channel 2 enabled"]
    row = wait_health(bal, 2, is_down, down_bound() + 0.5, what="the dead created channel down")
    assert row["error"] == "refused", row["line"]
    wait_log(bal, f"channel 2 of group 0 ({addr(x_port)}) is down")
    got = tags(bal.port, 6)
    assert sorted(set(got)) == ["A", "E"], got
    assert wait_counters_zero(bal)[2]["totalc"] == 0


# ---------------------------------------------------------------- bad options

BAD_OPTIONS = [
    ("interval-junk", ["--check-interval", "abc"], "--check-interval"),
    ("interval-negative", ["--check-interval", "-1"], "--check-interval"),
    ("timeout-junk", ["--check-interval", "1", "--check-timeout", "1s"], "--check-timeout"),
    ("rise-zero", ["--check-interval", "1", "--rise", "0"], "--rise"),
    ("fall-junk", ["--check-interval", "1", "--fall", "many"], "--fall"),
    ("on-down-unknown", ["--check-interval", "1", "--on-down", "maybe"], "--on-down"),
    ("send-bad-escape", ["--check-interval", "1", "--check-send", "\\xZZ"], "--check-send"),
    ("send-without-interval", ["--check-send", "PING"], "--check-send"),
    ("expect-without-interval", ["--check-expect", "OK"], "--check-expect"),
    ("timeout-without-interval", ["--check-timeout", "1"], "--check-timeout"),
    ("send-with-interval-0", ["--check-interval", "0", "--check-send", "PING"], "--check-send"),
    ("shutdown-without-checks", ["--on-down", "shutdown"], "--on-down"),
]


@pytest.mark.parametrize("case", BAD_OPTIONS, ids=[c[0] for c in BAD_OPTIONS])
def test_bad_health_options(case, env, backends, balance_bin, guard_ports):
    """Refused with exit 64 and a message naming the option; nothing
    started."""
    name, opts, token = case
    be = backends.echo()
    port = free_listen_port()
    guard_ports.append(port)
    rc, out, err = run_balance(opts + [port, channel(be)], env)
    assert rc == EX_USAGE, (rc, out, err)
    assert token in err, err
    # a daemon forked before validating would bind a moment later
    deadline = time.monotonic() + scaled(0.5)
    while time.monotonic() < deadline:
        assert not pids_listening(port), "something listens after a refused command line"
        time.sleep(0.05)


def test_on_down_shutdown_with_observe_alone_is_accepted(start_balance, backends):
    """--on-down shutdown needs checks: --observe is enough."""
    b = backends.tag("B")
    bal = start_balance(["--observe", "--on-down=shutdown", free_listen_port(), channel(b)])
    assert tags(bal.port, 2) == ["B", "B"]
    wait_counters_zero(bal)


# ---------------------------------------------------------------- the checks' sockets


def answer_then_note_end(c, rec):
    """Records the check's peer address and request, answers PONG, then
    how the checker ended the connection ("eof" or "reset")."""
    c.settimeout(scaled(5))
    rec["request"] = c.recv(256)
    c.sendall(b"PONG\r\n")
    try:
        rec["end"] = "eof" if not c.recv(256) else "data"
    except ConnectionResetError:
        rec["end"] = "reset"


def test_checks_leave_from_the_bind_address_and_end_with_a_reset(start_balance, backends):
    """A check's socket comes from its io thread's idle ones
    (net/check_sockets), bound once: every check leaves from the -B
    address, from a port of its own, and ends with a reset (no FIN, no
    TIME_WAIT at the destination)."""
    srv = backends.threaded(answer_then_note_end)
    bal = start_balance(["-B", "127.0.0.2", "--check-interval", str(INTERVAL),
                         "--check-timeout", answer_timeout(), "--check-send", "PING\r\n",
                         "--check-expect", "PONG", free_listen_port(), channel(srv)])
    wait_health(bal, 0, lambda r: is_up(r) and r["succ"] >= 4, 3, what="4 checks passed")
    records = srv.wait_records(4)[:4]
    assert {r["peer"][0] for r in records} == {"127.0.0.2"}, records
    assert [r.get("end") for r in records] == ["reset"] * 4, records
    assert len({r["peer"][1] for r in records}) == 4, "a local port was not freed: %r" % records


def test_ipv6_and_ipv4_channels_checked_side_by_side(start_balance, backends):
    """Idle sockets are kept per address family: an IPv6 and an IPv4
    channel checked by the same threads both stay up, and a stopped IPv6
    destination goes down."""
    if not ipv6_available():
        pytest.skip("no IPv6 loopback here")
    v6 = backends.tag("V6", host=LOOP6)
    v4 = backends.tag("V4")
    dead6 = dead_port(host=LOOP6)
    bal = start_balance(["--check-interval", str(INTERVAL), free_listen_port(),
                         channel(v6, host=LOOP6), channel(v4), channel(dead6, host=LOOP6)])
    wait_health(bal, 0, lambda r: is_up(r) and r["succ"] >= 4, 3, what="IPv6 checks passing")
    wait_health(bal, 1, lambda r: is_up(r) and r["succ"] >= 4, 3, what="IPv4 checks passing")
    wait_health(bal, 2, is_down, down_bound(), what="the stopped IPv6 destination down")
    assert sorted(tags(bal.port, 2)) == ["V4", "V6"]
