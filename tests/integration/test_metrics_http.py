"""--metrics-listen: GET /metrics over HTTP, scraped with curl and checked
with promtool; the bounds (oversize and slow request heads closed, at
most 16 connections held by a slowloris client) keep scrapes and the
proxy going."""

import os
import shutil
import socket
import subprocess
import time

import pytest

from harness import (EX_DATAERR, EX_OSERR, EX_USAGE, LOOP4, LOOP6, channel, closed_by_peer, connect,
                     echo_roundtrip, free_listen_port, free_port, ipv6_available,
                     proc_tcp_sockets, recv_all, run_balance, scaled, wait_counters_zero,
                     wait_for)

CURL = shutil.which("curl")
# scripts/setup unpacks it into .tools/ when the package is not installed.
PROMTOOL = shutil.which("promtool") or next(
    (p for p in [os.path.join(os.path.dirname(__file__), "..", "..", ".tools", "bin", "promtool")]
     if os.access(p, os.X_OK)), None)
CONTENT_TYPE = "text/plain; version=0.0.4"

pytestmark = pytest.mark.skipif(CURL is None, reason="curl is not installed")


def curl(url, *args, timeout=10):
    """(status, headers dict (lower-case names), body, status line)."""
    cmd = [CURL, "-sS", "-D", "-", "--max-time", str(scaled(timeout)), *args, url]
    p = subprocess.run(cmd, capture_output=True, timeout=scaled(timeout) + 5)
    assert p.returncode == 0, f"{' '.join(cmd)}: rc={p.returncode} {p.stderr!r}"
    head, _, body = p.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(lines[0].split()[1]), headers, body.decode(), lines[0]


@pytest.fixture
def metered(start_balance, backends):
    """An instance with an echo channel and --metrics-listen on loopback:
    (balance, metrics port, echo backend)."""
    be = backends.echo()
    mport = free_port()
    bal = start_balance(["--metrics-listen", f"{LOOP4}:{mport}", free_listen_port(), channel(be)])
    wait_for(lambda: connect_ok(mport), 5, what="the metrics port")
    return bal, mport, be


def connect_ok(port, host=LOOP4):
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def without_uptime(text):
    return [line for line in text.splitlines() if not line.startswith("balance_uptime_seconds ")]


def test_get_metrics_is_the_metrics_command_over_http(metered):
    bal, mport, be = metered
    s = connect(bal.port)
    assert echo_roundtrip(s, b"x" * 1000) == b"x" * 1000
    s.close()
    wait_counters_zero(bal)
    status, headers, body, line = curl(f"http://{LOOP4}:{mport}/metrics")
    assert line == "HTTP/1.1 200 OK"
    assert headers["content-type"] == CONTENT_TYPE
    assert int(headers["content-length"]) == len(body.encode())
    assert without_uptime(body) == without_uptime(bal.ctl_ok("metrics"))
    assert 'balance_channel_sent_bytes_total{group="0",channel="0"' in body
    assert "} 1000\n" in body


def test_http_10_and_head(metered):
    bal, mport, _ = metered
    status, headers, body, line = curl(f"http://{LOOP4}:{mport}/metrics", "-0")
    assert line == "HTTP/1.0 200 OK" and headers["content-type"] == CONTENT_TYPE
    assert "balance_info" in body
    status, headers, _, _ = curl(f"http://{LOOP4}:{mport}/metrics", "-I")
    assert status == 200 and headers["content-type"] == CONTENT_TYPE
    assert int(headers["content-length"]) > 100
    # HEAD: the headers, not one byte more.
    s = connect(mport)
    try:
        s.sendall(b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        raw = recv_all(s)
    finally:
        s.close()
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n") and raw.endswith(b"\r\n\r\n"), raw
    assert raw.count(b"\r\n\r\n") == 1


@pytest.mark.parametrize("path,args", [("/", ()), ("/metricsx", ()), ("/metrics", ("-X", "POST"))],
                         ids=["root", "other-path", "post"])
def test_anything_else_is_404(path, args, metered):
    _, mport, _ = metered
    status, _, body, _ = curl(f"http://{LOOP4}:{mport}{path}", *args)
    assert status == 404 and body == "not found\n"


def test_promtool_accepts_the_body(metered, backends, start_balance):
    """promtool's linter passes the text, also with several groups and
    channels and an IPv6 channel."""
    assert PROMTOOL, "promtool is missing: scripts/setup unpacks it into .tools/"
    bal, mport, _ = metered
    _, _, body, _ = curl(f"http://{LOOP4}:{mport}/metrics")
    a, b = backends.echo(), backends.echo()
    chans = [channel(a), channel(b), "%", channel(a)]
    if ipv6_available():
        chans.append(channel(backends.echo(host=LOOP6), host=LOOP6))
    m2 = free_port()
    bal2 = start_balance(["--metrics-listen", f"[::ffff:127.0.0.1]:{m2}", free_listen_port()] + chans)
    wait_for(lambda: connect_ok(m2), 5, what="the metrics port")
    _, _, body2, _ = curl(f"http://{LOOP4}:{m2}/metrics")
    for text in (body, body2):
        p = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(), capture_output=True,
                           timeout=scaled(30))
        assert p.returncode == 0, f"promtool: {p.stdout!r} {p.stderr!r}\n{text}"
    assert body2.count("balance_channel_up{") == len(chans) - 1


def test_oversize_request_head_is_closed(metered):
    _, mport, _ = metered
    s = connect(mport)
    try:
        try:
            s.sendall(b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed while we were still sending
        s.settimeout(scaled(5))
        try:
            got = s.recv(65536)
        except ConnectionResetError:
            got = b""
        assert got == b"", f"an oversize head got an answer: {got[:200]!r}"
    finally:
        s.close()
    assert curl(f"http://{LOOP4}:{mport}/metrics")[0] == 200


def test_slow_request_head_is_closed_after_2s(metered):
    _, mport, _ = metered
    s = connect(mport)
    try:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        t0 = time.monotonic()
        assert closed_by_peer(s, 10)
        took = time.monotonic() - t0
    finally:
        s.close()
    assert 1.5 <= took <= scaled(4), f"closed after {took:.2f}s, want 2 s"


def held_by(port):
    """Accepted connections on `port` (a socket not yet accepted has no
    inode in /proc/net/tcp*)."""
    return sum(1 for _, _, p, _, ino in proc_tcp_sockets(states=("01",)) if p == port and ino != "0")


@pytest.mark.timeout_s(120)
def test_slowloris_does_not_stop_scrapes_or_the_proxy(metered):
    """100 clients that send a request head byte by byte, never finishing:
    at most 16 are held at a time (the others wait in the backlog), the
    proxy relays meanwhile, each held one is closed after 2 s, and a scrape
    made during the attack is answered once the slow ones ahead of it have
    timed out."""
    bal, mport, _ = metered
    slow = []
    try:
        for _ in range(100):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex((LOOP4, mport))
            slow.append(s)
        for s in slow:
            try:
                s.send(b"G")
            except OSError:
                pass
        time.sleep(0.3)
        peak = 0
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            peak = max(peak, held_by(mport))
            time.sleep(0.05)
        assert 0 < peak <= 16, f"{peak} slow connections held"
        c = connect(bal.port)
        assert echo_roundtrip(c, b"still relaying") == b"still relaying"
        c.close()
        # A scrape queued behind the slow clients is served after them.
        t0 = time.monotonic()
        status, _, body, _ = curl(f"http://{LOOP4}:{mport}/metrics", timeout=60)
        assert status == 200 and "balance_info" in body
        took = time.monotonic() - t0
        assert took <= scaled(40), f"scrape took {took:.1f}s"
        # Every slow client was closed by the server, none answered.
        for s in slow:
            s.setblocking(True)
            assert closed_by_peer(s, 20)
        assert curl(f"http://{LOOP4}:{mport}/metrics")[0] == 200
    finally:
        for s in slow:
            s.close()
    wait_counters_zero(bal)


def test_metrics_in_a_daemon(start_balance, backends):
    """The server thread starts in the daemonised process."""
    be = backends.echo()
    mport = free_port()
    start_balance(["--metrics-listen", f"{LOOP4}:{mport}", free_listen_port(), channel(be)],
                  foreground=False)
    wait_for(lambda: connect_ok(mport), 5, what="the metrics port")
    assert curl(f"http://{LOOP4}:{mport}/metrics")[0] == 200


@pytest.mark.skipif(not ipv6_available(), reason="no IPv6 loopback")
def test_metrics_on_ipv6_loopback(start_balance, backends):
    be = backends.echo()
    mport = free_port(LOOP6)
    start_balance(["--metrics-listen", f"[::1]:{mport}", free_listen_port(), channel(be)])
    wait_for(lambda: connect_ok(mport, LOOP6), 5, what="the metrics port")
    assert curl(f"http://[::1]:{mport}/metrics")[0] == 200


@pytest.mark.parametrize("foreground", [True, False], ids=["foreground", "daemon"])
def test_metrics_port_in_use_exits_71(foreground, env, backends, guard_ports):
    be = backends.echo()
    busy = socket.socket()
    busy.bind((LOOP4, 0))
    busy.listen(1)
    mport = busy.getsockname()[1]
    port = free_listen_port()
    guard_ports.append(port)
    try:
        args = (["-f"] if foreground else []) + ["--metrics-listen", f"{LOOP4}:{mport}", port,
                                                 channel(be)]
        rc, out, err = run_balance(args, env, timeout=20)
    finally:
        busy.close()
    assert rc == EX_OSERR, f"exit {rc}; stderr={err!r}"
    assert f"{LOOP4}:{mport}" in err and "metrics" in err


def test_metrics_listen_unknown_host_exits_65(env, backends, guard_ports):
    be = backends.echo()
    port = free_listen_port()
    guard_ports.append(port)
    rc, out, err = run_balance(["--metrics-listen", "nosuchhost.invalid:9100", port, channel(be)],
                               env, timeout=20)
    assert rc == EX_DATAERR and "nosuchhost.invalid" in err, (rc, err)


def test_scrape_carries_health(start_balance, backends):
    """With health checks the scraped text has balance_channel_healthy, as
    `-c metrics` does: 1 for a listening channel, 0 for a dead one."""
    be = backends.echo()
    dead = socket.socket()
    dead.bind((LOOP4, 0))
    dead_port = dead.getsockname()[1]
    dead.close()
    mport = free_port()
    start_balance(["--metrics-listen", f"{LOOP4}:{mport}", "--check-interval", "0.2",
                   "--fall", "1", free_listen_port(), channel(be), f"{LOOP4}:{dead_port}"])
    wait_for(lambda: connect_ok(mport), 5, what="the metrics port")

    def healthy_lines():
        status, _, body, _ = curl(f"http://{LOOP4}:{mport}/metrics")
        lines = [l for l in body.splitlines() if l.startswith("balance_channel_healthy{")]
        return lines if status == 200 and any(l.endswith(" 0") for l in lines) else None

    lines = wait_for(healthy_lines, 5, what="the dead channel down in the scrape")
    assert any(f'port="{be.port}"' in l and l.endswith(" 1") for l in lines), lines
    assert any(f'port="{dead_port}"' in l and l.endswith(" 0") for l in lines), lines
