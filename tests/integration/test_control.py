"""Control plane: `-c` / `-i` commands and their exact replies (compat.md),
show / mrtg formats, abbreviations, JSON and Prometheus renderings."""

import json
import re
import socket
import threading

import pytest

from harness import (SHOW_HEADER, channel, connect, dead_port, echo_roundtrip, format_row, free_listen_port,
                     get_tag, ipv6_available, open_tagged, parse_show, recv_all, run_balance, scaled, sha, sources,
                     wait_counters_zero, wait_for, wait_show)


def reply(bal, cmd):
    """stdout of `-c cmd`, which must exit 0."""
    return bal.ctl_ok(cmd)


def reply_lines(bal, cmd):
    return [line for line in reply(bal, cmd).splitlines() if line.strip()]


def transfer(port, n_up, src=None):
    """One connection through balance to a half-close backend: sends n_up
    bytes, returns the reply's length (bytes backend→client)."""
    data = bytes(range(256)) * (n_up // 256) + bytes(range(n_up % 256))
    s = connect(port, src=src)
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        got = recv_all(s, 10)
    finally:
        s.close()
    assert got == f"GOT {n_up} {sha(data)}\n".encode(), got
    return len(got)


# ---------------------------------------------------------------- show


def test_show_exact_format(start_balance, backends):
    a, b, c, d = (backends.echo() for _ in range(4))
    bal = start_balance([free_listen_port(), channel(a), channel(b), "!", channel(c, maxc=3), "%",
                         channel(d, maxc=7)])
    out = reply(bal, "show")
    lines = [line for line in out.split("\n") if line.strip()]
    assert lines[0] == SHOW_HEADER, f"header {lines[0]!r} != {SHOW_HEADER!r}"
    rows = parse_show(out)
    assert len(lines) == 1 + len(rows) == 5, f"unexpected lines in show: {out!r}"
    for line, r in zip(lines[1:], rows):
        assert format_row(r) == line, f"row not in 3.54 format:\n{line!r}\n{format_row(r)!r}"
    want = [(0, "RR", 0, a.port, 0), (0, "RR", 1, b.port, 0), (1, "Hash", 0, c.port, 3),
            (2, "RR", 0, d.port, 7)]
    got = [(r["grp"], r["type"], r["ch"], r["port"], r["maxc"]) for r in rows]
    assert got == want
    for r in rows:
        assert (r["state"], r["ip"], r["c"], r["totalc"], r["sent"], r["rcvd"]) == \
            ("ENA", "127.0.0.1", 0, 0, 0, 0), r["line"]


def test_show_ipv6_address_printed_whole(start_balance, backends):
    """IPv4 rows stay byte-identical; an IPv6 address is printed whole,
    widening its column."""
    a = backends.echo()
    long_v6 = "fd00:1234:5678:9abc:def0:1234:5678:9abc"
    bal = start_balance([free_listen_port(), channel(a), f"[{long_v6}]:80:3"])
    out = reply(bal, "show")
    rows = parse_show(out)
    assert [r["ip"] for r in rows] == ["127.0.0.1", long_v6], out
    for r in rows:
        assert format_row(r) == r["line"], r["line"]
    assert (rows[1]["port"], rows[1]["maxc"]) == (80, 3)


def test_show_counters_after_transfer(start_balance, backends):
    srv = backends.halfclose()
    bal = start_balance([free_listen_port(), channel(srv)])
    s = connect(bal.port)
    try:
        s.sendall(b"x" * 1000)
        wait_show(bal, lambda rs: rs[0]["c"] == 1, what="c == 1 while the connection is open")
        s.shutdown(socket.SHUT_WR)
        got = recv_all(s, 10)
    finally:
        s.close()
    rows = wait_show(bal, lambda rs: rs[0]["sent"] == 1000 and rs[0]["rcvd"] == len(got),
                     what="sent == 1000 (client→backend), rcvd == reply length")
    assert rows[0]["totalc"] == 1
    wait_counters_zero(bal)


def test_c_column_tracks_open_connections(start_balance, backends):
    a, b = backends.tag("A"), backends.tag("B")
    bal = start_balance([free_listen_port(), channel(a), channel(b)])
    held = [open_tagged(bal.port) for _ in range(3)]
    try:
        assert [t for _, t in held] == ["A", "B", "A"]
        wait_show(bal, lambda rs: [r["c"] for r in rs] == [2, 1], what="c = 2 1")
        held.pop(0)[0].close()
        wait_show(bal, lambda rs: [r["c"] for r in rs] == [1, 1], what="c = 1 1")
    finally:
        for s, _ in held:
            s.close()
    rows = wait_counters_zero(bal)
    assert [r["totalc"] for r in rows] == [2, 1]


# ---------------------------------------------------------------- mrtg


def test_mrtg_formats_after_known_transfer(start_balance, backends):
    """mrtg-bytes: rcvd, sent, UNKNOWN, name; mrtg-conns: totalc (failed
    attempts included), UNKNOWN, UNKNOWN, name."""
    srv = backends.halfclose()
    bal = start_balance([free_listen_port(), channel(dead_port()), channel(srv)])
    down = transfer(bal.port, 1000) + transfer(bal.port, 500)
    want_bytes = f"{down}\n1500\nUNKNOWN\ngroup 0 channel 1\n"
    last = []
    try:
        wait_for(lambda: last.append(reply(bal, "mrtg-bytes 0 1")) or last[-1] == want_bytes, 3,
                 interval=0.1, what="mrtg-bytes 0 1")
    except AssertionError:
        pytest.fail(f"mrtg-bytes 0 1 printed {last[-1]!r}, want {want_bytes!r}")
    assert reply(bal, "mrtg-conns 0 1") == "2\nUNKNOWN\nUNKNOWN\ngroup 0 channel 1\n"
    # channel 0 refused both times: totalc counts attempts
    assert reply(bal, "mrtg-conns 0 0") == "2\nUNKNOWN\nUNKNOWN\ngroup 0 channel 0\n"
    assert reply(bal, "mrtg-bytes 0 0") == "0\n0\nUNKNOWN\ngroup 0 channel 0\n"
    rows = wait_counters_zero(bal)
    assert (rows[1]["sent"], rows[1]["rcvd"], rows[1]["totalc"]) == (1500, down, 2)
    assert rows[0]["totalc"] == 2


def test_mrtg_checks_requested_group(start_balance, backends):
    """Range checks use the requested group, not the current one (quirk 11)."""
    a, b, c, d = (backends.echo() for _ in range(4))
    bal = start_balance([free_listen_port(), channel(a), "!", channel(b), channel(c), channel(d)])
    assert reply(bal, "mrtg-conns 1 2") == "0\nUNKNOWN\nUNKNOWN\ngroup 1 channel 2\n"
    assert reply(bal, "mrtg-bytes 1 2") == "0\n0\nUNKNOWN\ngroup 1 channel 2\n"
    maxgroups = int(re.search(r"MAXGROUPS=(\d+)", reply(bal, "version")).group(1))
    for g in (maxgroups, 99999):
        assert reply_lines(bal, f"mrtg-bytes {g} 0") == ["unknown group"]
        assert reply_lines(bal, f"mrtg-conns {g} 0") == ["unknown group"]
    # a group in range without channels (yet): no such channel
    assert reply_lines(bal, "mrtg-bytes 2 0") == ["unknown channel"]
    assert reply_lines(bal, "mrtg-bytes 0 1") == ["unknown channel"]
    assert reply_lines(bal, "mrtg-bytes 1 3") == ["unknown channel"]


@pytest.mark.timeout_s(90)
def test_concurrent_control_clients(start_balance, backends, env):
    """Several `-c` clients at once (MRTG polls many targets in parallel)."""
    srv = backends.halfclose()
    bal = start_balance([free_listen_port(), channel(srv)], foreground=False)
    down = transfer(bal.port, 321)
    wait_show(bal, lambda rs: rs[0]["sent"] == 321, what="sent 321")
    want = f"{down}\n321\nUNKNOWN\ngroup 0 channel 0\n"
    results = []

    def poll():
        results.append(bal.ctl("mrtg-bytes 0 0", timeout=20))

    for _ in range(3):
        threads = [threading.Thread(target=poll, daemon=True) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(scaled(25))
    assert len(results) == 18
    bad = [r for r in results if r[0] != 0 or r[1] != want]
    assert not bad, f"{len(bad)} of 18 concurrent -c clients failed: {bad[:3]}"


# ---------------------------------------------------------------- enable / disable


def test_disable_enable_replies(start_balance, backends):
    a = backends.echo()
    bal = start_balance([free_listen_port(), channel(a)])
    assert reply_lines(bal, "disable 0") == ["channel 0 disabled"]
    assert reply_lines(bal, "disable 0") == ["channel 0 already disabled"]
    assert bal.show()[0]["state"] == "dis"
    assert reply_lines(bal, "enable 0") == ["channel 0 enabled"]
    assert reply_lines(bal, "enable 0") == ["channel 0 already enabled"]
    assert bal.show()[0]["state"] == "ENA"
    assert reply_lines(bal, "disable 9") == ["no such channel 9"]
    assert reply_lines(bal, "enable 9") == ["no such channel 9"]
    assert reply_lines(bal, "reset 9") == ["no such channel 9"]


def test_disable_steers_traffic(start_balance, backends):
    a, b, g = backends.tag("A"), backends.tag("B"), backends.tag("G")
    bal = start_balance([free_listen_port(), channel(a), channel(b), "!", channel(g)])
    reply(bal, "disable 0")
    assert [get_tag(bal.port) for _ in range(4)] == ["B"] * 4
    reply(bal, "disable 1")
    assert [get_tag(bal.port) for _ in range(2)] == ["G"] * 2, "all of group 0 disabled: next group"
    reply(bal, "enable 0")
    reply(bal, "enable 1")
    got = [get_tag(bal.port) for _ in range(4)]
    assert sorted(got) == ["A", "A", "B", "B"], got
    rows = wait_counters_zero(bal)
    assert rows[0]["totalc"] == 2, "a disabled channel must not be tried"


def test_disabled_channel_in_next_group_is_skipped(start_balance, backends):
    """Failover into a group only tries its usable channels (quirk 3)."""
    a, b = backends.tag("A"), backends.tag("B")
    bal = start_balance([free_listen_port(), channel(dead_port()), "!", channel(a), channel(b)])
    assert reply_lines(bal, "group 1; disable 0") == ["channel 0 disabled"]
    assert [get_tag(bal.port) for _ in range(3)] == ["B"] * 3
    rows = wait_counters_zero(bal)
    assert rows[1]["totalc"] == 0


def test_several_commands_and_group_0_start(start_balance, backends):
    """`-c` runs ';'-separated commands in order; each -c starts in group 0."""
    a, b = backends.echo(), backends.echo()
    bal = start_balance([free_listen_port(), channel(a), "!", channel(b)])
    assert reply_lines(bal, "group 1; disable 0") == ["channel 0 disabled"]
    rows = bal.show()
    assert [(r["grp"], r["state"]) for r in rows] == [(0, "ENA"), (1, "dis")]
    assert reply_lines(bal, "disable 0") == ["channel 0 disabled"]
    assert [r["state"] for r in bal.show()] == ["dis", "dis"]
    assert reply_lines(bal, "enable 0; group 1; enable 0") == ["channel 0 enabled", "channel 0 enabled"]
    assert [r["state"] for r in bal.show()] == ["ENA", "ENA"]


def test_group_out_of_range(start_balance, backends):
    a = backends.echo()
    bal = start_balance([free_listen_port(), channel(a)])
    assert reply_lines(bal, "group 99999") == ["value out of range"]
    maxgroups = int(re.search(r"MAXGROUPS=(\d+)", reply(bal, "version")).group(1))
    if maxgroups <= 256:
        # 3.54 parsed into a char: group 256 was group 0 (quirk 14)
        assert reply_lines(bal, "group 256") == ["value out of range"]
    assert reply_lines(bal, f"group {maxgroups}") == ["value out of range"]


# ---------------------------------------------------------------- maxc / create / assign


def test_maxc_command(start_balance, backends):
    a, g = backends.tag("A"), backends.tag("G")
    bal = start_balance([free_listen_port(), channel(a), "!", channel(g)])
    assert reply_lines(bal, "maxc 0 5") == ["maxc of channel 0 changed to 5"]
    assert bal.show()[0]["maxc"] == 5
    assert reply_lines(bal, "maxc 9 1") == ["unknown channel"]
    assert reply_lines(bal, "maxc 0 1") == ["maxc of channel 0 changed to 1"]
    s, t = open_tagged(bal.port)
    try:
        assert t == "A"
        assert get_tag(bal.port) == "G", "maxc 1 reached: next group"
    finally:
        s.close()
    wait_counters_zero(bal)
    assert reply_lines(bal, "maxc 0 0") == ["maxc of channel 0 changed to 0"]
    held = [open_tagged(bal.port) for _ in range(3)]
    try:
        assert [t for _, t in held] == ["A"] * 3, "maxc 0 = unlimited"
    finally:
        for s, _ in held:
            s.close()
    wait_counters_zero(bal)


def test_maxc_lowered_below_current(start_balance, backends):
    """maxc below the open connections: they stay, new ones spill until c
    drops under the new maxc."""
    a, g = backends.tag("A"), backends.tag("G")
    bal = start_balance([free_listen_port(), channel(a), "!", channel(g)])
    held = [open_tagged(bal.port) for _ in range(3)]
    try:
        assert [t for _, t in held] == ["A"] * 3
        assert reply_lines(bal, "maxc 0 2") == ["maxc of channel 0 changed to 2"]
        assert get_tag(bal.port) == "G"
        held.pop()[0].close()
        wait_show(bal, lambda rs: rs[0]["c"] == 2, what="c == 2")
        assert get_tag(bal.port) == "G"
        held.pop()[0].close()
        wait_show(bal, lambda rs: rs[0]["c"] == 1, what="c == 1")
        assert get_tag(bal.port) == "A"
    finally:
        for s, _ in held:
            s.close()
    wait_counters_zero(bal)


def test_disable_keeps_open_connections(start_balance, backends):
    """disable affects new connections only; open ones keep working and are
    released normally."""
    a, b = backends.echo(), backends.echo()
    bal = start_balance([free_listen_port(), channel(a), channel(b)])
    s = connect(bal.port)
    try:
        assert echo_roundtrip(s, b"before\n") == b"before\n"
        reply(bal, "disable 0")
        assert echo_roundtrip(s, b"after\n") == b"after\n"
        assert bal.show()[0]["c"] == 1
    finally:
        s.close()
    wait_counters_zero(bal)


def test_assign_with_open_connection(start_balance, backends):
    """Reassigning a disabled channel that still has a connection open: the
    old connection lives on and is released from that channel."""
    a, b, c = backends.tag("A"), backends.tag("B"), backends.tag("C")
    bal = start_balance([free_listen_port(), channel(a), channel(b)])
    s, t = open_tagged(bal.port)
    try:
        assert t == "A"
        assert reply_lines(bal, f"disable 0; assign 0 127.0.0.1 {c.port}") == \
            ["channel 0 disabled", "channel reassigned"]
        assert echo_roundtrip(s, b"still\n") == b"still\n"
        assert bal.show()[0]["c"] == 1
    finally:
        s.close()
    wait_counters_zero(bal)
    reply(bal, "enable 0")
    assert sorted(get_tag(bal.port) for _ in range(2)) == ["B", "C"]
    wait_counters_zero(bal)


def test_byte_counters_update_while_connection_open(start_balance, backends):
    """Long-lived connections show up in sent/rcvd before they close (MRTG
    polls while they run)."""
    a = backends.echo()
    bal = start_balance([free_listen_port(), channel(a)])
    s = connect(bal.port)
    try:
        data = bytes(100000)
        assert echo_roundtrip(s, data) == data
        wait_show(bal, lambda rs: rs[0]["sent"] == 100000 and rs[0]["rcvd"] == 100000, timeout=6,
                  what="byte counters of an open connection")
    finally:
        s.close()
    wait_counters_zero(bal)


def test_create_channel(start_balance, backends):
    a, b, g, h = backends.tag("A"), backends.tag("B"), backends.tag("G"), backends.tag("H")
    bal = start_balance([free_listen_port(), channel(a), "!", channel(g)])
    assert reply_lines(bal, f"create 127.0.0.1 {b.port}") == ["channel created"]
    rows = bal.show()
    new = [r for r in rows if r["grp"] == 0 and r["ch"] == 1]
    assert new, rows
    assert (new[0]["state"], new[0]["ip"], new[0]["port"], new[0]["c"], new[0]["totalc"], new[0]["maxc"],
            new[0]["sent"], new[0]["rcvd"]) == ("dis", "127.0.0.1", b.port, 0, 0, 0, 0, 0), new[0]["line"]
    assert [get_tag(bal.port) for _ in range(2)] == ["A", "A"], "a created channel starts disabled"
    assert reply_lines(bal, "enable 1") == ["channel 1 enabled"]
    assert sorted(get_tag(bal.port) for _ in range(4)) == ["A", "A", "B", "B"]
    assert reply_lines(bal, f"group 1; create 127.0.0.1 {h.port}; enable 1") == \
        ["channel created", "channel 1 enabled"]
    assert [(r["grp"], r["ch"], r["port"]) for r in bal.show() if r["grp"] == 1] == \
        [(1, 0, g.port), (1, 1, h.port)]
    assert reply_lines(bal, "create nosuchhost.invalid 80") == ["invalid address"]
    wait_counters_zero(bal)


def test_create_ipv6_and_invalid_addresses(start_balance, backends):
    if not ipv6_available():
        pytest.skip("no IPv6 loopback")
    a = backends.echo()
    v6 = backends.tag("V6", host="::1")
    bal = start_balance([free_listen_port(), channel(a)])
    assert reply_lines(bal, f"create ::1 {v6.port}") == ["channel created"]
    r = bal.row(0, 1)
    assert (r["ip"], r["port"], r["state"]) == ("::1", v6.port, "dis"), r["line"]
    reply(bal, "disable 0; enable 1")
    assert get_tag(bal.port) == "V6"
    reply(bal, "disable 1")
    assert reply_lines(bal, "assign 1 nosuchhost.invalid 80") == ["invalid address"]
    assert bal.row(0, 1)["port"] == v6.port
    wait_counters_zero(bal)


def test_assign_channel(start_balance, backends):
    a, b, c = backends.tag("A"), backends.tag("B"), backends.tag("C")
    bal = start_balance([free_listen_port(), channel(a), channel(b)])
    assert reply_lines(bal, f"assign 1 127.0.0.1 {c.port}") == \
        ["channel must be disabled to assign new address"]
    assert bal.show()[1]["port"] == b.port
    reply(bal, "disable 1")
    assert reply_lines(bal, f"assign 1 127.0.0.1 {c.port}") == ["channel reassigned"]
    assert bal.show()[1]["port"] == c.port
    reply(bal, "enable 1")
    got = [get_tag(bal.port) for _ in range(4)]
    assert sorted(got) == ["A", "A", "C", "C"], got
    assert reply_lines(bal, f"assign 9 127.0.0.1 {c.port}") == ["unknown channel"]
    wait_counters_zero(bal)


def test_hash_and_rr_commands(start_balance, backends):
    a, b = backends.tag("A"), backends.tag("B")
    bal = start_balance([free_listen_port(), channel(a), channel(b)])
    assert reply_lines(bal, "hash") == ["group 0 set to hash"]
    assert {r["type"] for r in bal.show()} == {"Hash"}
    for src in sources(6):
        got = {get_tag(bal.port, src=src) for _ in range(3)}
        assert len(got) == 1, f"hash group: client {src} moved between {got}"
    assert reply_lines(bal, "rr") == ["group 0 set to round robin"]
    assert {r["type"] for r in bal.show()} == {"RR"}
    assert sorted(get_tag(bal.port, src="127.0.0.9") for _ in range(4)) == ["A", "A", "B", "B"]
    assert reply_lines(bal, "group 0; hash") == ["group 0 set to hash"]
    wait_counters_zero(bal)


def test_reset_counters_keeps_c(start_balance, backends):
    """reset zeroes sent, rcvd and totalc, not c (quirk 12); c returns to 0
    afterwards without underflow."""
    srv = backends.halfclose()
    bal = start_balance([free_listen_port(), channel(srv)])
    transfer(bal.port, 700)
    wait_show(bal, lambda rs: rs[0]["sent"] == 700, what="sent == 700")
    s = connect(bal.port)  # held open on channel 0
    try:
        wait_show(bal, lambda rs: rs[0]["c"] == 1, what="c == 1")
        assert reply_lines(bal, "reset 0") == ["channel 0 counters reset"]
        r = bal.show()[0]
        assert (r["c"], r["totalc"], r["sent"], r["rcvd"]) == (1, 0, 0, 0), r["line"]
    finally:
        s.close()
    rows = wait_counters_zero(bal)
    assert rows[0]["c"] == 0


def test_syntax_errors(start_balance, backends):
    a = backends.echo()
    bal = start_balance([free_listen_port(), channel(a)])
    for cmd in ("frobnicate", "disable", "enable", "maxc 0", "assign 0", "create 127.0.0.1",
                "mrtg-bytes 0", "mrtg-conns", "reset"):
        assert reply_lines(bal, cmd) == ["syntax error"], cmd
    assert bal.show()[0]["state"] == "ENA"
    # words are separated by any run of blanks, as 3.54's strtok(" \t\n")
    assert reply_lines(bal, "  disable \t 0  ") == ["channel 0 disabled"]
    assert reply_lines(bal, "enable\t0") == ["channel 0 enabled"]


def test_help(start_balance, backends):
    a = backends.echo()
    bal = start_balance([free_listen_port(), channel(a)])
    lines = [line for line in reply(bal, "help").splitlines() if line.strip()]
    assert lines[0] == "available commands:", lines
    assert all(line.startswith("  ") for line in lines[1:]), lines
    text = "\n".join(lines)
    for cmd in ("assign", "create", "disable", "enable", "group", "hash", "help", "kill", "maxc",
                "mrtg-bytes", "mrtg-conns", "quit", "reset", "rr", "show", "version"):
        assert re.search(rf"^\s+{re.escape(cmd)}\b", text, re.M), f"help does not list {cmd}"


def test_abbreviations(start_balance, backends):
    """Prefix matching, first in 3.54's order wins (quirk 15)."""
    srv = backends.halfclose()
    bal = start_balance([free_listen_port(), channel(srv)], foreground=False)
    transfer(bal.port, 300)
    wait_show(bal, lambda rs: rs[0]["sent"] == 300, what="sent == 300")
    assert reply(bal, "s") == reply(bal, "show")
    assert reply(bal, "sh") == reply(bal, "show")
    assert reply(bal, "h") == reply(bal, "help")
    assert reply(bal, "?") == reply(bal, "help")
    assert reply(bal, "mrtg 0 0") == reply(bal, "mrtg-bytes 0 0")
    assert reply(bal, "mrtg-c 0 0") == reply(bal, "mrtg-conns 0 0")
    assert reply_lines(bal, "m 0 4") == ["maxc of channel 0 changed to 4"]
    assert reply_lines(bal, "d 0") == ["channel 0 disabled"]
    assert reply_lines(bal, "e 0") == ["channel 0 enabled"]
    assert reply_lines(bal, "r 0") == ["channel 0 counters reset"]
    r = bal.show()[0]
    assert (r["maxc"], r["totalc"], r["sent"]) == (4, 0, 0), r["line"]
    rc, out, err = bal.ctl("k")
    assert rc == 0 and "shutdown complete, exiting." in out, (rc, out, err)
    wait_for(lambda: not bal.alive(), 3, what="daemon gone after `k`")


# ---------------------------------------------------------------- interactive shell


BANNER_RE = re.compile(r"\nbalance (\d+(?:\.\d+)+) interactive command shell\nPID of master process is (\d+)\n\n")


def test_interactive_shell(start_balance, backends, env):
    a, b = backends.echo(), backends.echo()
    bal = start_balance([free_listen_port(), channel(a), "!", channel(b)], foreground=False)
    show = reply(bal, "show")
    version = re.search(r"This is balance (\S+)", reply(bal, "version")).group(1)
    rc, out, err = run_balance(["-i", str(bal.port)], env, stdin_data="show\ngroup 1\nshow\n")
    assert rc == 0, (rc, out, err)
    m = BANNER_RE.match(out)
    assert m, f"banner: {out[:200]!r}"
    assert m.group(1) == version
    if bal.pid:
        assert int(m.group(2)) == bal.pid
    rest = out[m.end():]
    want = "balance[0] " + show + "balance[0] " + "balance[1] " + show + "balance[1] " + "\n"
    assert rest == want, f"\n{rest!r}\n!=\n{want!r}"


def test_interactive_empty_input(start_balance, backends, env):
    a = backends.echo()
    bal = start_balance([free_listen_port(), channel(a)], foreground=False)
    rc, out, err = run_balance(["-i", str(bal.port)], env, stdin_data="")
    assert rc == 0, (rc, out, err)
    m = BANNER_RE.match(out)
    assert m and out[m.end():] == "balance[0] \n", repr(out)


def test_interactive_commands_change_state(start_balance, backends, env):
    a, b = backends.echo(), backends.echo()
    bal = start_balance([free_listen_port(), channel(a), "!", channel(b)])
    rc, out, err = run_balance(["-i", str(bal.port)], env,
                               stdin_data="frobnicate\ngroup 1\ndisable 0\nquit\nshow\n")
    assert rc == 0, (rc, out, err)
    assert "balance[0] syntax error\nbalance[0] balance[1] channel 0 disabled\nbalance[1] " in out, out
    assert out.endswith("balance[1] channel 0 disabled\nbalance[1] ") or \
        out.endswith("balance[1] channel 0 disabled\nbalance[1] \n"), f"quit must end the shell: {out!r}"
    assert [r["state"] for r in bal.show()] == ["ENA", "dis"]


def test_interactive_kill(start_balance, backends, env):
    a = backends.echo()
    bal = start_balance([free_listen_port(), channel(a)], foreground=False)
    rc, out, err = run_balance(["-i", str(bal.port)], env, stdin_data="kill\nshow\n")
    assert rc == 0, (rc, out, err)
    assert "balance[0] shutdown complete, exiting.\n" in out, out
    assert "GRP" not in out, "the shell must end after kill"
    wait_for(lambda: not bal.alive(), 3, what="daemon gone")


# ---------------------------------------------------------------- new renderings


def _ints_in(obj):
    """Every integer in a JSON value (numbers, and digit runs in strings)."""
    out = []
    if isinstance(obj, bool):
        return out
    if isinstance(obj, int):
        out.append(obj)
    elif isinstance(obj, float) and obj.is_integer():
        out.append(int(obj))
    elif isinstance(obj, str):
        out += [int(x) for x in re.findall(r"\d+", obj)]
    elif isinstance(obj, dict):
        for v in obj.values():
            out += _ints_in(v)
    elif isinstance(obj, list):
        for v in obj:
            out += _ints_in(v)
    return out


def _channel_objects(doc, ports):
    """The largest JSON objects that mention exactly one backend port."""
    found = {}

    def walk(o):
        children = o.values() if isinstance(o, dict) else o if isinstance(o, list) else []
        for ch in children:
            if not isinstance(ch, (dict, list)):
                continue
            p = {v for v in _ints_in(ch) if v in ports}
            if len(p) == 1 and isinstance(ch, dict):
                found.setdefault(p.pop(), []).append(ch)
            elif len(p) > 1 or (len(p) == 1 and isinstance(ch, list)):
                walk(ch)

    walk(doc)
    return found


def test_show_json(start_balance, backends):
    a, b, c = backends.halfclose(), backends.halfclose(), backends.halfclose()
    bal = start_balance([free_listen_port(), channel(a), channel(b, maxc=5), "%", channel(c)])
    down = transfer(bal.port, 1000, src="127.0.0.3")
    rows = wait_show(bal, lambda rs: sum(r["sent"] for r in rs) == 1000, what="sent 1000")
    used = [r for r in rows if r["totalc"] == 1]
    assert len(used) == 1
    rc, out, err = bal.ctl("show json")
    assert rc == 0, (rc, out, err)
    doc = json.loads(out)
    ports = {a.port, b.port, c.port}
    objs = _channel_objects(doc, ports)
    assert set(objs) == ports, f"JSON lacks channels: found {set(objs)} of {ports}: {out[:2000]}"
    assert all(len(v) == 1 for v in objs.values()), objs
    used_vals = _ints_in(objs[used[0]["port"]][0])
    assert 1000 in used_vals and down in used_vals, f"counters missing in {objs[used[0]['port']][0]}"
    assert 5 in _ints_in(objs[b.port][0]), "maxc missing"
    assert "hash" in out.lower(), "group type missing"
    wait_counters_zero(bal)


PROM_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)( -?\d+)?$")
PROM_COMMENT = re.compile(r"^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*)( .*)?$")


def test_metrics_prometheus(start_balance, backends):
    srv = backends.halfclose()
    bal = start_balance([free_listen_port(), channel(srv), "!", channel(dead_port())])
    down = transfer(bal.port, 1234)
    wait_show(bal, lambda rs: rs[0]["sent"] == 1234, what="sent 1234")
    rc, out, err = bal.ctl("metrics")
    assert rc == 0, (rc, out, err)
    samples = []
    for line in out.splitlines():
        if not line.strip():
            continue
        if line.startswith("#"):
            m = PROM_COMMENT.match(line)
            if m and m.group(1) == "TYPE":
                assert m.group(3).strip() in ("counter", "gauge", "histogram", "summary", "untyped"), line
            continue
        m = PROM_SAMPLE.match(line)
        assert m, f"not Prometheus text exposition: {line!r}"
        samples.append((m.group(1), m.group(2) or "", float(m.group(3))))
    assert samples, out
    assert any(v == 1234 for _, _, v in samples), "bytes sent not exported"
    assert any(v == down for _, _, v in samples), "bytes received not exported"
    labelled = [lbl for _, lbl, v in samples if v == 1234]
    assert any(("group" in lbl or "channel" in lbl or str(srv.port) in lbl) for lbl in labelled), labelled
    wait_counters_zero(bal)
