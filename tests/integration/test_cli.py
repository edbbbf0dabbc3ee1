"""Command line: syntax accepted as 3.54, bad command lines refused before
anything listens (message naming the bad argument, sysexits code), limits."""

import os
import re
import socket
import time

import pytest

from harness import (EX_DATAERR, EX_OSERR, EX_UNAVAILABLE, EX_USAGE, LOOP4, channel, connect,
                     echo_roundtrip, free_listen_port, get_tag, is_listening, open_tagged,
                     pids_listening, rendezvous_path, run_balance, scaled, wait_counters_zero)


def assert_nothing_started(port, runtime_dir, bind=None, allowed_pids=()):
    """No balance listens on `port`, now or a moment later (a daemon forked
    before validating would bind after the parent returned), and no
    rendezvous file was left."""
    deadline = time.monotonic() + scaled(0.5)
    while True:
        pids = pids_listening(port) - set(allowed_pids)
        assert not pids, f"something listens on {port} after a refused command line (pids {pids})"
        if time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    assert not os.path.exists(rendezvous_path(runtime_dir, port, bind)), "rendezvous file left behind"


# (id, argument template, expected exit status, token that the message must name)
# {P} = listening port, {B} = a live backend channel, {BP} = its port
BAD_COMMAND_LINES = [
    ("no-channel", ["{P}"], EX_USAGE, None),
    ("unknown-option", ["-z", "{P}", "{B}"], EX_USAGE, "-z"),
    ("t-not-a-number", ["-t", "abc", "{P}", "{B}"], EX_USAGE, "abc"),
    ("t-negative", ["-t", "-1", "{P}", "{B}"], EX_USAGE, "-1"),
    ("T-not-a-number", ["-T", "x5", "{P}", "{B}"], EX_USAGE, "x5"),
    ("T-trailing-junk", ["-T", "5s", "{P}", "{B}"], EX_USAGE, "5s"),
    ("t-missing-value", ["{P}", "{B}", "-t"], EX_USAGE, "-t"),
    ("listen-port-too-big", ["70000", "{B}"], EX_USAGE, "70000"),
    ("listen-port-zero", ["0", "{B}"], EX_USAGE, "0"),
    ("listen-port-junk", ["80abc", "{B}"], EX_USAGE, "80abc"),
    ("listen-port-unknown-service", ["nosuchservice", "{B}"], EX_USAGE, "nosuchservice"),
    ("channel-port-unknown-service", ["{P}", "127.0.0.1:nosuchservice"], EX_USAGE,
     "127.0.0.1:nosuchservice"),
    ("channel-port-junk", ["{P}", "127.0.0.1:80abc"], EX_USAGE, "127.0.0.1:80abc"),
    ("channel-port-too-big", ["{P}", "127.0.0.1:70000"], EX_USAGE, "127.0.0.1:70000"),
    ("channel-port-zero", ["{P}", "127.0.0.1:0"], EX_USAGE, "127.0.0.1:0"),
    ("channel-maxc-junk", ["{P}", "127.0.0.1:{BP}:abc"], EX_USAGE, "abc"),
    ("channel-maxc-negative", ["{P}", "127.0.0.1:{BP}:-1"], EX_USAGE, "-1"),
    ("channel-extra-field", ["{P}", "127.0.0.1:{BP}:1:2"], EX_USAGE, "127.0.0.1:{BP}:1:2"),
    ("channel-v6-port-too-big", ["{P}", "[::1]:70000"], EX_USAGE, "70000"),
    ("bad-channel-in-later-group", ["{P}", "{B}", "!", "127.0.0.1:99999"], EX_USAGE, "99999"),
    ("unknown-host", ["{P}", "nosuchhost.invalid"], EX_DATAERR, "nosuchhost.invalid"),
    ("unknown-host-with-port", ["{P}", "nosuchhost.invalid:{BP}"], EX_DATAERR, "nosuchhost.invalid"),
    ("unknown-host-in-later-group", ["{P}", "{B}", "!", "nosuchhost.invalid"], EX_DATAERR,
     "nosuchhost.invalid"),
    ("empty-group-middle", ["{P}", "{B}", "!", "!", "{B}"], EX_UNAVAILABLE, None),
    ("empty-group-two-trailing", ["{P}", "{B}", "!", "%"], EX_UNAVAILABLE, None),
    ("empty-group-leading-bang", ["{P}", "!", "{B}"], EX_UNAVAILABLE, None),
    ("empty-group-double-percent", ["{P}", "{B}", "%", "%", "{B}"], EX_UNAVAILABLE, None),
    ("listen-address-not-local", ["-b", "192.0.2.1", "{P}", "{B}"], EX_OSERR, None),
    ("outgoing-bind-unknown-host", ["-B", "nosuchhost.invalid", "{P}", "{B}"], EX_DATAERR,
     "nosuchhost.invalid"),
    ("send-proxy-v3", ["--send-proxy", "v3", "{P}", "{B}"], EX_USAGE, "v3"),
    ("send-proxy-missing-value", ["{P}", "{B}", "--send-proxy"], EX_USAGE, "--send-proxy"),
    ("accept-proxy-prefix-33", ["--accept-proxy", "10.0.0.0/33", "{P}", "{B}"], EX_USAGE,
     "10.0.0.0/33"),
    ("accept-proxy-bad-entry", ["--accept-proxy", "127.0.0.1,nonsense", "{P}", "{B}"], EX_USAGE,
     "nonsense"),
    ("metrics-listen-nonsense", ["--metrics-listen", "nonsense", "{P}", "{B}"], EX_USAGE,
     "nonsense"),
    ("metrics-listen-port-too-big", ["--metrics-listen", "127.0.0.1:70000", "{P}", "{B}"],
     EX_USAGE, "127.0.0.1:70000"),
    ("metrics-listen-unknown-host", ["--metrics-listen", "nosuchhost.invalid:9100", "{P}", "{B}"],
     EX_DATAERR, "nosuchhost.invalid"),
]


def _fill(template, port, backend):
    return [a.replace("{P}", str(port)).replace("{BP}", str(backend.port))
            .replace("{B}", channel(backend)) for a in template]


@pytest.mark.parametrize("case", BAD_COMMAND_LINES, ids=[c[0] for c in BAD_COMMAND_LINES])
def test_bad_command_line_daemon_mode(case, env, runtime_dir, backends, balance_bin, guard_ports):
    """Default (daemonising) mode must validate everything before it forks:
    non-zero sysexits status, a message naming the bad argument, nothing
    listening (3.54 quirk 6 fixed)."""
    name, template, want_rc, token = case
    be = backends.echo()
    port = free_listen_port()
    guard_ports.append(port)
    args = _fill(template, port, be)
    rc, out, err = run_balance(args, env, timeout=20)
    assert rc == want_rc, f"balance {' '.join(args)}: exit {rc}, want {want_rc}; stderr={err!r}"
    assert err.strip(), f"no message on stderr for {args}"
    if token is not None:
        token = _fill([token], port, be)[0]
        assert token in err, f"stderr does not name the bad argument {token!r}: {err!r}"
    assert_nothing_started(port, runtime_dir)


@pytest.mark.parametrize("case", [c for c in BAD_COMMAND_LINES
                                  if c[0] in ("unknown-host", "empty-group-two-trailing",
                                              "channel-port-junk", "channel-maxc-negative",
                                              "outgoing-bind-unknown-host", "send-proxy-v3",
                                              "accept-proxy-prefix-33",
                                              "metrics-listen-nonsense")],
                         ids=lambda c: c[0])
def test_bad_command_line_foreground(case, env, runtime_dir, backends, balance_bin, guard_ports):
    name, template, want_rc, token = case
    be = backends.echo()
    port = free_listen_port()
    guard_ports.append(port)
    args = ["-f"] + _fill(template, port, be)
    rc, out, err = run_balance(args, env, timeout=20)
    assert rc == want_rc, f"balance {' '.join(args)}: exit {rc}, want {want_rc}; stderr={err!r}"
    if token is not None:
        assert _fill([token], port, be)[0] in err
    assert_nothing_started(port, runtime_dir)


def test_unknown_listen_host_refused(env, runtime_dir, backends, balance_bin, guard_ports):
    be = backends.echo()
    port = free_listen_port()
    guard_ports.append(port)
    rc, out, err = run_balance(["-b", "nosuchhost.invalid", str(port), channel(be)], env, timeout=20)
    assert rc in (EX_DATAERR, EX_OSERR), f"exit {rc}; stderr={err!r}"
    assert "nosuchhost.invalid" in err
    assert_nothing_started(port, runtime_dir, bind="nosuchhost.invalid")


def test_outgoing_bind_address_not_local_refused(env, runtime_dir, backends, balance_bin, guard_ports):
    """-B with an address that is not local is refused at startup (quirk 24)."""
    be = backends.echo()
    port = free_listen_port()
    guard_ports.append(port)
    rc, out, err = run_balance(["-B", "192.0.2.1", str(port), channel(be)], env, timeout=20)
    assert rc != 0, f"-B 192.0.2.1 accepted (exit 0); stderr={err!r}"
    assert rc > 0, f"killed by signal {-rc}"
    assert "192.0.2.1" in err, f"message does not name the -B address: {err!r}"
    assert_nothing_started(port, runtime_dir)


@pytest.mark.parametrize("out_bind,channel_host", [("::1", LOOP4), (LOOP4, "::1")],
                         ids=["v6-bind-v4-channels", "v4-bind-v6-channels"])
def test_outgoing_bind_family_no_channel_can_use_refused(out_bind, channel_host, env, runtime_dir,
                                                         backends, balance_bin, guard_ports):
    """A -B address of a family no channel has could never bind a connect:
    refused at startup (64), naming it, instead of failing every client."""
    port = free_listen_port()
    guard_ports.append(port)
    target = f"[{channel_host}]:80" if ":" in channel_host else f"{channel_host}:80"
    rc, out, err = run_balance(["-B", out_bind, str(port), target, "!", target], env, timeout=20)
    assert rc == EX_USAGE, f"-B {out_bind} with {target} channels: exit {rc}; stderr={err!r}"
    assert f"-B {out_bind}" in err, err
    assert_nothing_started(port, runtime_dir)


@pytest.mark.parametrize("foreground", [False, True], ids=["daemon", "foreground"])
def test_port_in_use_exit_71(foreground, env, runtime_dir, backends, balance_bin):
    be = backends.echo()
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        blocker.bind(("0.0.0.0", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        args = (["-f"] if foreground else []) + [str(port), channel(be)]
        rc, out, err = run_balance(args, env, timeout=20)
        assert rc == EX_OSERR, f"exit {rc}, want 71; stderr={err!r}"
        assert "in use" in err.lower(), f"stderr does not say the address is in use: {err!r}"
        assert_nothing_started(port, runtime_dir, allowed_pids={os.getpid()})
    finally:
        blocker.close()


def test_port_in_use_with_bind_address(env, runtime_dir, backends, balance_bin):
    be = backends.echo()
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        blocker.bind((LOOP4, 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        rc, out, err = run_balance(["-b", LOOP4, str(port), channel(be)], env, timeout=20)
        assert rc == EX_OSERR, f"exit {rc}, want 71; stderr={err!r}"
        assert_nothing_started(port, runtime_dir, bind=LOOP4, allowed_pids={os.getpid()})
    finally:
        blocker.close()


def test_usage_mentions_ipv6_option(env, backends, balance_bin):
    """The usage text (printed for a bad option) documents -6 (quirk 25)."""
    be = backends.echo()
    rc, out, err = run_balance(["-z", str(free_listen_port()), channel(be)], env)
    assert rc == EX_USAGE
    text = out + err
    assert "usage" in text.lower(), f"no usage text: {text!r}"
    assert re.search(r"-[A-Za-z]*6", text), f"usage does not mention -6: {text!r}"


# ---------------------------------------------------------------- limits


def _limits(bal):
    out = bal.ctl_ok("version")
    lines = out.rstrip("\n").split("\n")
    assert len(lines) == 3, f"version must print 3 lines: {out!r}"
    m0 = re.fullmatch(r"  This is balance (\d+(?:\.\d+)+)", lines[0])
    m1 = re.fullmatch(r"  MAXGROUPS=(\d+)", lines[1])
    m2 = re.fullmatch(r"  MAXCHANNELS=(\d+)", lines[2])
    assert m0 and m1 and m2, f"version format: {out!r}"
    return m0.group(1), int(m1.group(1)), int(m2.group(1))


def test_version_format_and_limits(start_balance, backends):
    be = backends.echo()
    bal = start_balance([free_listen_port(), channel(be)], foreground=False)
    version, maxgroups, maxchannels = _limits(bal)
    assert maxgroups >= 16
    assert maxchannels >= 64


def test_too_many_channels_exit_64(start_balance, backends, env, runtime_dir, guard_ports):
    be = backends.echo()
    bal = start_balance([free_listen_port(), channel(be)], foreground=False)
    _, _, maxchannels = _limits(bal)
    if maxchannels > 20000:
        pytest.skip(f"MAXCHANNELS={maxchannels} too large for one command line")
    port = free_listen_port()
    guard_ports.append(port)
    args = [str(port)] + [channel(be)] * (maxchannels + 1)
    rc, out, err = run_balance(args, env, timeout=30)
    assert rc == EX_USAGE, f"{maxchannels + 1} channels: exit {rc}, want 64; stderr={err[-500:]!r}"
    assert "channel" in err.lower()
    assert_nothing_started(port, runtime_dir)


def test_max_channels_accepted(start_balance, backends):
    be = backends.echo()
    bal = start_balance([free_listen_port(), channel(be)], foreground=False)
    _, _, maxchannels = _limits(bal)
    if maxchannels > 4096:
        pytest.skip(f"MAXCHANNELS={maxchannels} too large to start")
    big = start_balance([free_listen_port()] + [channel(be)] * maxchannels)
    rows = big.show()
    assert len(rows) == maxchannels
    assert sorted(r["ch"] for r in rows) == list(range(maxchannels))


def test_too_many_groups_exit_69(start_balance, backends, env, runtime_dir, guard_ports):
    be = backends.echo()
    bal = start_balance([free_listen_port(), channel(be)], foreground=False)
    _, maxgroups, _ = _limits(bal)
    if maxgroups > 10000:
        pytest.skip(f"MAXGROUPS={maxgroups} too large for one command line")
    port = free_listen_port()
    guard_ports.append(port)
    args = [str(port)]
    for g in range(maxgroups + 1):
        if g:
            args.append("!")
        args.append(channel(be))
    rc, out, err = run_balance(args, env, timeout=30)
    assert rc == EX_UNAVAILABLE, f"{maxgroups + 1} groups: exit {rc}, want 69; stderr={err[-500:]!r}"
    assert "group" in err.lower()
    assert_nothing_started(port, runtime_dir)


def test_max_groups_accepted(start_balance, backends):
    be = backends.echo()
    bal = start_balance([free_listen_port(), channel(be)], foreground=False)
    _, maxgroups, _ = _limits(bal)
    if maxgroups > 1024:
        pytest.skip(f"MAXGROUPS={maxgroups} too large to start")
    args = [free_listen_port()]
    for g in range(maxgroups):
        if g:
            args.append("!")
        args.append(channel(be))
    big = start_balance(args)
    rows = big.show()
    assert sorted(r["grp"] for r in rows) == list(range(maxgroups))


# ---------------------------------------------------------------- accepted syntax


def test_compat_flags_accepted(start_balance, backends):
    """-M is accepted and ignored; flags combine as with getopt (-dM); -T 0
    means never (quirk 26)."""
    be = backends.echo()
    bal = start_balance(["-dM", "-T", "0", "-t", "2", free_listen_port(), channel(be)])
    s = connect(bal.port)
    assert echo_roundtrip(s, b"ping\n") == b"ping\n"
    s.close()
    wait_counters_zero(bal)


@pytest.mark.parametrize("layout,groups", [
    (["A", "B", "%"], [("Hash", ["A", "B"])]),
    (["A", "B", "!"], [("RR", ["A", "B"])]),
    (["A", "B", "!", "C", "D", "%"], [("RR", ["A", "B"]), ("Hash", ["C", "D"])]),
], ids=["hash", "rr", "two-groups"])
def test_trailing_separator_closes_the_last_group(layout, groups, start_balance, backends):
    """3.54 declares a single hash group as `balance 8080 a b %`: a trailing
    separator closes the last group (giving its type) and opens none."""
    servers = {name: backends.tag(name) for name in layout if name not in "!%"}
    args = [free_listen_port()] + [a if a in "!%" else channel(servers[a]) for a in layout]
    bal = start_balance(args)
    rows = bal.show()
    want = [(g, kind, c, servers[name].port)
            for g, (kind, names) in enumerate(groups) for c, name in enumerate(names)]
    assert [(r["grp"], r["type"], r["ch"], r["port"]) for r in rows] == want
    if groups[0][0] == "Hash":
        # One client address, one channel: it hashes.
        assert len({get_tag(bal.port) for _ in range(6)}) == 1
    wait_counters_zero(bal)


def test_default_channel_port_is_listening_port(start_balance, backends):
    """`host` alone = the listening port; `host::1` = that port with maxc 1."""
    port = free_listen_port()
    same_port = backends.tag("SAMEPORT", host="127.0.0.2", port=port)
    spill = backends.tag("SPILL")
    bal = start_balance(["-b", LOOP4, port, "127.0.0.2::1", "!", channel(spill)])
    rows = bal.show()
    assert rows[0]["port"] == port and rows[0]["maxc"] == 1 and rows[0]["ip"] == "127.0.0.2"
    s1, t1 = open_tagged(port)
    try:
        assert t1 == "SAMEPORT"
        assert get_tag(port) == "SPILL"  # maxc 1 reached: next group
    finally:
        s1.close()
    wait_counters_zero(bal)
    assert get_tag(port) == "SAMEPORT"
    wait_counters_zero(bal)
    assert same_port.accepted == 2


def _service_ports(count):
    """`count` tcp service names from /etc/services whose port is free (>1024)."""
    found = []
    seen = set()
    try:
        with open("/etc/services") as f:
            lines = f.read().splitlines()
    except OSError:
        return found
    for line in lines:
        line = line.split("#", 1)[0].split()
        if len(line) < 2 or not line[1].endswith("/tcp"):
            continue
        name, port = line[0], int(line[1].split("/")[0])
        if port <= 1024 or port in seen:
            continue
        seen.add(port)
        try:
            if socket.getservbyname(name, "tcp") != port:
                continue
        except OSError:
            continue
        if is_listening(port):
            continue
        found.append((name, port))
        if len(found) == count:
            break
    return found


def test_ports_by_service_name(start_balance, backends):
    """Listening and channel ports may be /etc/services names."""
    services = _service_ports(2)
    if len(services) < 2:
        pytest.skip("no two free named services in /etc/services")
    (listen_name, listen_port), (chan_name, chan_port) = services
    try:
        be = backends.tag("NAMED", port=chan_port)
    except OSError:
        pytest.skip(f"service port {chan_port} busy")
    bal = start_balance([listen_name, f"127.0.0.1:{chan_name}"])
    assert bal.port == listen_port
    assert get_tag(listen_port) == "NAMED"
    rows = bal.show()
    assert rows[0]["port"] == chan_port
    wait_counters_zero(bal)
