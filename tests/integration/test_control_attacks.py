"""The control plane under attack. Every control connection passes the
gate (an AF_UNIX socket checked by SO_PEERCRED, a TCP door that wants the
secret first, a mutual-TLS door) before CAF's BASP parser sees a byte of
it. Each test ends with the daemon alive, `-c show` answering exactly and
the proxy forwarding. Where the threat is another local user, the hostile
peer runs as `nobody`."""

import concurrent.futures
import os
import shutil
import subprocess
import time

import pytest

import hostile
from harness import (BALANCE_BIN, LOOP4, SLACK, channel, connect, cpu_seconds, echo_roundtrip,
                     free_listen_port, free_port, is_listening, parse_show, run_balance,
                     wait_counters_zero, wait_for)

CAF_PROBE = os.environ.get("BALANCE_CAF_PROBE",
                           os.path.join(os.path.dirname(BALANCE_BIN), "tests", "caf_probe"))
TLS_FLAGS = ("--tls-cert", "--tls-key", "--tls-ca")

needs_nobody = pytest.mark.skipif(hostile.nobody_prefix() is None,
                                  reason="needs root and setpriv/runuser to act as nobody")


def _start(start_balance, backends, door, pki=None, extra=(), **kw):
    """A daemon with the given control door; returns (bal, backend, (kind, address))."""
    be = backends.echo()
    args = list(extra)
    ctl_port = None
    if door in ("tcp", "tls"):
        ctl_port = free_port(LOOP4)
        args += ["--control-listen", f"127.0.0.1:{ctl_port}"]
        if door == "tls":
            args += ["--tls-cert", pki["server_cert"], "--tls-key", pki["server_key"],
                     "--tls-ca", pki["ca"]]
    bal = start_balance(args + [free_listen_port(), channel(be)], **kw)
    if ctl_port:
        wait_for(lambda: is_listening(ctl_port), 10, what="the control door to listen")
        return bal, be, ("tcp", f"127.0.0.1:{ctl_port}")
    return bal, be, ("unix", bal.rendezvous().get("socket"))


def _assert_healthy(bal, be):
    assert bal.alive(), f"the daemon died; stderr={bal.stderr()!r}"
    rows = parse_show(bal.ctl_ok("show"))
    assert [(r["port"], r["state"]) for r in rows] == [(be.port, "ENA")], rows
    s = connect(bal.port)
    try:
        assert echo_roundtrip(s, b"alive\n") == b"alive\n"
    finally:
        s.close()
    wait_counters_zero(bal)


@pytest.mark.parametrize("door", ["local", "tcp", "tls"])
def test_hostile_bytes_reach_nothing(door, start_balance, backends, pki):
    """The bytes that crashed (empty handshake) or ballooned (1 GiB
    announcement) CAF 0.17's BASP, random data and a wrong secret: the peer
    is closed without a byte written to it (TLS may answer with its own
    alerts), memory stays put, nothing else changes."""
    bal, be, (kind, address) = _start(start_balance, backends, door, pki)
    peak_before = hostile.vm_kb(bal.pid, "VmHWM")
    names = list(hostile.PAYLOADS)
    if kind == "tcp" and hostile.nobody_prefix():
        results = hostile.send_as_nobody(kind, address, names)
    else:
        results = []
        for name in names:
            outcome, got = hostile.send(kind, address, name)
            results.append((name, outcome, len(got)))
    assert len(results) == len(names), results
    for name, outcome, n in results:
        assert outcome in ("closed", "open"), (name, outcome)
        if door != "tls":
            assert n == 0, f"{name}: the gate wrote {n} bytes to an unauthenticated peer"
    grown = hostile.vm_kb(bal.pid, "VmHWM") - peak_before
    assert grown < 16 * 1024, f"peak memory grew by {grown} KiB"
    _assert_healthy(bal, be)


@needs_nobody
def test_other_user_cannot_open_the_local_socket(start_balance, backends):
    bal, be, (kind, address) = _start(start_balance, backends, "local")
    os.chmod(os.path.dirname(address), 0o755)  # let nobody reach the file itself
    results = hostile.send_as_nobody(kind, address, ["empty-handshake"])
    assert results[0][1] == "refused:13", results  # EACCES: the socket is 0600
    _assert_healthy(bal, be)


@needs_nobody
def test_stock_caf_client_gets_no_handshake(start_balance, backends, workdir):
    """CAF's own middleman connect (what any CAF program does) against the
    TCP door, as another user: no server handshake, so no node id, no actor
    id, nothing to send an exit to."""
    bal, be, (_, address) = _start(start_balance, backends, "tcp")
    probe, tmp = hostile.public_copy_of(CAF_PROBE)
    try:
        host, port = address.rsplit(":", 1)
        p = subprocess.run(hostile.nobody_prefix() + [probe, "connect", host, port],
                           capture_output=True, timeout=20, cwd="/", stdin=subprocess.DEVNULL)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = p.stdout.decode()
    assert p.returncode == 0 and out.startswith("NOT-REACHED"), (p.returncode, out, p.stderr)
    _assert_healthy(bal, be)


def test_exit_messages_from_an_authenticated_peer_leave_control_working(start_balance, backends):
    """Even a peer that passed the gate (same user, right secret) cannot
    leave the daemon uncontrollable: exit messages with a user-defined reason
    are dropped, and an untrappable `kill` exit only makes the watchdog start
    a new control actor."""
    bal, be, (_, socket_path) = _start(start_balance, backends, "local")
    secret = bal.rendezvous()["secret"]
    p = subprocess.run([CAF_PROBE, "local", socket_path, secret], capture_output=True,
                       timeout=20, stdin=subprocess.DEVNULL)
    assert p.stdout.decode().startswith("REACHED"), (p.stdout, p.stderr)
    wait_for(lambda: bal.ctl("show")[0] == 0, 5, what="control to answer again")
    assert "channel 0 disabled" in bal.ctl_ok("disable 0")
    assert "channel 0 enabled" in bal.ctl_ok("enable 0")
    assert "control actor terminated" in bal.stderr()
    _assert_healthy(bal, be)


@pytest.mark.timeout_s(90)
@pytest.mark.parametrize("door", ["local", "tcp"])
def test_flood_of_idle_connections(door, start_balance, backends, tmp_path):
    """1 100 idle connections to a control door, the daemon started under
    soft limit 1 024: the proxy keeps serving, the gate does not spin, and
    control answers once the flood is gone."""
    bal, be, (kind, address) = _start(start_balance, backends, door,
                                      rlimit_nofile=(1024, 20000))
    flood = hostile.flood(kind, address, 1100)
    try:
        assert len(flood) >= 200, f"only {len(flood)} flood connections opened"
        cpu0, t0 = cpu_seconds(bal.pid), time.monotonic()
        served = 0
        for _ in range(20):
            try:
                s = connect(bal.port, timeout=2)
                try:
                    served += echo_roundtrip(s, b"x\n", timeout=2) == b"x\n"
                finally:
                    s.close()
            except OSError:
                pass
        time.sleep(max(0.0, 2.0 - (time.monotonic() - t0)))  # a 2 s CPU sample
        used = cpu_seconds(bal.pid) - cpu0
        assert served >= 18, f"{served} of 20 clients served during the flood"
        assert used < 0.5 * SLACK, f"{used:.2f} CPU-s in 2 s during the flood"
    finally:
        for s in flood:
            s.close()
    wait_for(lambda: bal.ctl("show")[0] == 0, 15, interval=0.2, what="control after the flood")
    if door == "tcp":
        rc, out, err = run_balance(["-c", "show", "--control", address, "--secret-file",
                                    bal.rendezvous_path()], bal.env, timeout=15)
        assert rc == 0 and len(parse_show(out)) == 1, (rc, out, err)
    _assert_healthy(bal, be)


@pytest.mark.timeout_s(120)
def test_3000_connections_under_soft_limit_1024(start_balance, backends):
    """The daemon raises its soft descriptor limit to the hard one (and says
    so with -d): 3 000 concurrent proxied connections under soft 1 024."""
    bal, be, _ = _start(start_balance, backends, "local", extra=["-d"],
                        rlimit_nofile=(1024, 20000))
    socks = []
    try:
        for i in range(3000):
            s = connect(bal.port, timeout=10)
            socks.append(s)
        for i, s in enumerate(socks):
            msg = f"{i}\n".encode()
            assert echo_roundtrip(s, msg, timeout=10) == msg, f"connection {i}"
        row = parse_show(bal.ctl_ok("show"))[0]
        assert row["c"] == 3000, row
    finally:
        for s in socks:
            s.close()
    assert "descriptor limit raised from 1024 to 20000" in bal.stderr()
    wait_counters_zero(bal, timeout=10)
    _assert_healthy(bal, be)


def _parallel(n, fn):
    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(lambda _: fn(), range(n)))


def test_64_concurrent_show(start_balance, backends):
    bal, be, _ = _start(start_balance, backends, "local", foreground=False)
    t0 = time.monotonic()
    results = _parallel(64, lambda: bal.ctl("show", timeout=10))
    elapsed = time.monotonic() - t0
    bad = [r for r in results if r[0] != 0 or len(parse_show(r[1])) != 1]
    assert not bad, bad[:3]
    assert elapsed < 10 * SLACK, f"64 concurrent show took {elapsed:.1f}s"
    _assert_healthy(bal, be)


def test_16_concurrent_remote_tls_clients(start_balance, backends, pki, tmp_path):
    bal, be, (_, address) = _start(start_balance, backends, "tls", pki)
    client_rt = tmp_path / "client-rt"
    client_rt.mkdir(mode=0o700)
    env = dict(bal.env, BALANCE_RUNTIME_DIR=str(client_rt))
    args = ["-c", "show", "--control", address, "--tls-cert", pki["client_cert"],
            "--tls-key", pki["client_key"], "--tls-ca", pki["ca"]]
    t0 = time.monotonic()
    results = _parallel(16, lambda: run_balance(args, env, timeout=15))
    elapsed = time.monotonic() - t0
    bad = [r for r in results if r[0] != 0 or len(parse_show(r[1])) != 1]
    assert not bad, bad[:3]
    assert elapsed < 10 * SLACK, f"16 concurrent TLS clients took {elapsed:.1f}s"
    _assert_healthy(bal, be)


@pytest.mark.timeout_s(240)
def test_mrtg_polling_does_not_leak(start_balance, backends):
    """5 000 consecutive `balance -c` calls (an MRTG job's life): the
    daemon's RSS grows by less than 2 MiB once warm. Every call is a new CAF
    node to the daemon; CAF 0.17 keeps an entry per node it met, which the
    watchdog drops for nodes that are gone."""
    bal, be, _ = _start(start_balance, backends, "local", foreground=False)
    loop = ('for i in $(seq "$N"); do "$BIN" -c "mrtg-bytes 0 0" "$PORT" >/dev/null '
            '|| { echo "call $i failed"; exit 1; }; done')

    def calls(n):
        env = dict(bal.env, N=str(n), BIN=BALANCE_BIN, PORT=str(bal.port))
        p = subprocess.run(["sh", "-c", loop], env=env, capture_output=True, timeout=200)
        assert p.returncode == 0, p.stdout + p.stderr

    calls(500)  # warm: allocator arenas and CAF's caches reach their size
    time.sleep(1.5)  # one watchdog round drops the nodes of the warm-up
    before = hostile.vm_kb(bal.pid)
    calls(5000)
    time.sleep(1.5)
    grown = hostile.vm_kb(bal.pid) - before
    assert grown < 2048, f"RSS grew by {grown} KiB over 5 000 control calls"
    _assert_healthy(bal, be)
