"""PROXY protocol (HAProxy's doc/proxy-protocol.txt): --send-proxy writes
the exact header before the client's first byte (v1 and v2; IPv4, IPv6 and
a v4-mapped client), nginx behind balance learns the client's address, and
--accept-proxy takes a header from trusted sources only: hashed by the
header's address, relayed as data from others, closed when malformed."""

import os
import re
import shutil
import socket
import struct
import subprocess
import time

import pytest

from harness import (LOOP4, LOOP6, _read_to_eof, channel, closed_by_peer, connect,
                     det_bytes, echo_roundtrip, free_listen_port, free_port, ipv6_available,
                     is_listening, kill_pid, recv_all, recv_line, scaled, sources,
                     wait_counters_zero, wait_for)

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def recording_handler(c, rec):
    """Keeps every byte the destination receives, then closes."""
    buf = bytearray()
    while True:
        data = c.recv(65536)
        if not data:
            break
        buf += data
    rec["bytes"] = bytes(buf)


def expected_header(version, src, sport, dst, dport):
    """The header the spec prescribes for TCP from src:sport to dst:dport
    (plain IPv4 text / 4-byte addresses for IPv4)."""
    v6 = ":" in src
    if version == "v1":
        return f"PROXY {'TCP6' if v6 else 'TCP4'} {src} {dst} {sport} {dport}\r\n".encode()
    fam = socket.AF_INET6 if v6 else socket.AF_INET
    block = (socket.inet_pton(fam, src) + socket.inet_pton(fam, dst)
             + struct.pack("!HH", sport, dport))
    return V2_SIG + bytes([0x21, 0x21 if v6 else 0x11]) + struct.pack("!H", len(block)) + block


def send_through(port, host, src, payload):
    """Connects from `src` to balance, sends payload, half-closes; returns
    the client's (address, port) as the client saw it."""
    s = connect(port, host=host, src=src)
    try:
        me = s.getsockname()
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        recv_all(s)  # until balance closes (the recording backend did)
    finally:
        s.close()
    return me[0], me[1]


# -- --send-proxy: the exact bytes ---------------------------------------------

CLIENTS = [
    # (id, extra options, client connects to, client source, header addresses)
    ("ipv4", ["-b", LOOP4], LOOP4, "127.0.0.2", ("127.0.0.2", "127.0.0.1")),
    ("v4-mapped", [], LOOP4, "127.0.0.3", ("127.0.0.3", "127.0.0.1")),
    ("ipv6", [], LOOP6, LOOP6, ("::1", "::1")),
]


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("client", CLIENTS, ids=[c[0] for c in CLIENTS])
def test_send_proxy_writes_the_exact_header_first(client, version, start_balance, backends):
    """The destination receives the header the spec prescribes, byte for
    byte, then exactly the client's bytes: a v4-mapped client on the
    dual-stack listener is TCP4 with plain IPv4 addresses."""
    name, extra, host, src, (hsrc, hdst) = client
    if ":" in host and not ipv6_available():
        pytest.skip("no IPv6 loopback")
    be = backends.threaded(recording_handler)
    bal = start_balance(["--send-proxy", version] + extra + [free_listen_port(), channel(be)])
    payload = b"GET / HTTP/1.0\r\n\r\n"
    _, sport = send_through(bal.port, host, src, payload)
    rec = be.wait_records(1)[0]
    want = expected_header(version, hsrc, sport, hdst, bal.port) + payload
    got = rec.get("bytes", b"")
    assert got == want, f"{name} {version}: destination got {got!r}, want {want!r}"
    wait_counters_zero(bal)


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_send_proxy_header_precedes_a_spliced_bulk_upload(version, start_balance, backends):
    """A large upload, which the relay splices, still arrives whole behind
    the header: splice() cannot pass it."""
    be = backends.threaded(recording_handler)
    bal = start_balance(["--send-proxy", version, "-b", LOOP4, free_listen_port(), channel(be)])
    payload = det_bytes(8 << 20, seed=15)
    _, sport = send_through(bal.port, LOOP4, "127.0.0.4", payload)
    got = be.wait_records(1)[0].get("bytes", b"")
    header = expected_header(version, "127.0.0.4", sport, LOOP4, bal.port)
    assert got[:len(header)] == header
    assert len(got) == len(header) + len(payload)
    assert got[len(header):] == payload
    wait_counters_zero(bal)


def test_send_proxy_before_a_server_that_speaks_first(start_balance, backends):
    """The header goes out at once, not held for the client's first byte:
    a server that speaks first (SMTP) gets it and answers."""
    def greeter(c, rec):
        header = c.recv(4096)
        rec["header"] = header
        c.sendall(b"220 ready\r\n")
        _read_to_eof(c, rec)

    be = backends.threaded(greeter)
    bal = start_balance(["--send-proxy", "v1", free_listen_port(), channel(be)])
    s = connect(bal.port, src="127.0.0.5")
    try:
        assert recv_line(s) == b"220 ready\r\n"
    finally:
        s.close()
    rec = be.wait_records(1)[0]
    assert rec["header"].startswith(b"PROXY TCP4 127.0.0.5 127.0.0.1 ")
    wait_counters_zero(bal)


def test_without_send_proxy_no_header_is_written(start_balance, backends):
    be = backends.threaded(recording_handler)
    bal = start_balance([free_listen_port(), channel(be)])
    send_through(bal.port, LOOP4, "127.0.0.2", b"plain")
    assert be.wait_records(1)[0].get("bytes") == b"plain"


# -- nginx behind balance --------------------------------------------------------

NGINX_CONF = """\
daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 64; }}
http {{
    log_format pp '$proxy_protocol_addr $proxy_protocol_port $remote_addr';
    access_log {dir}/access.log pp;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port} proxy_protocol;
        location / {{ return 200 "client=$proxy_protocol_addr:$proxy_protocol_port\\n"; }}
    }}
}}
"""


@pytest.fixture
def nginx(tmp_path):
    """nginx (Debian's) on a free loopback port, expecting PROXY headers; run
    as this test's own process (its own prefix and config), killed by pid."""
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if not binary:
        pytest.skip("nginx is not installed (bench/setup installs it)")
    d = tmp_path / "nginx"
    d.mkdir()
    port = free_port()
    conf = d / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=d, port=port))
    proc = subprocess.Popen([binary, "-p", str(d), "-e", str(d / "error.log"), "-c", str(conf)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=open(d / "stderr", "wb"))
    try:
        wait_for(lambda: proc.poll() is not None or is_listening(port), 10, what="nginx listening")
        if proc.poll() is not None:
            pytest.fail(f"nginx exited {proc.returncode}: {(d / 'stderr').read_text()}"
                        f"{(d / 'error.log').read_text() if (d / 'error.log').exists() else ''}")
        yield port, d
    finally:
        kill_pid(proc.pid)
        proc.wait(scaled(5))


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_nginx_learns_the_client_address(version, nginx, start_balance):
    nginx_port, d = nginx
    bal = start_balance(["--send-proxy", version, "-b", LOOP4, free_listen_port(),
                         f"{LOOP4}:{nginx_port}"])
    s = connect(bal.port, src="127.0.0.9")
    try:
        sport = s.getsockname()[1]
        s.sendall(b"GET / HTTP/1.0\r\nHost: test\r\n\r\n")
        answer = recv_all(s)
    finally:
        s.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert answer.endswith(f"client=127.0.0.9:{sport}\n".encode()), answer
    log = wait_for(lambda: (d / "access.log").read_text(), 5, what="nginx's access log")
    assert f"127.0.0.9 {sport} 127.0.0.1" in log, log
    wait_counters_zero(bal)


# -- --accept-proxy ------------------------------------------------------------------


def tag_via_header(port, header, src, payload=b""):
    """Sends `header` (+payload) from `src`; the tag of the backend reached,
    or None if balance closed the connection instead."""
    s = connect(port, src=src)
    try:
        s.sendall(header + payload)
        line = recv_line(s)
    finally:
        s.close()
    return line.decode().strip() if line.endswith(b"\n") else None


def v1_header(src, dst="192.0.2.1", sport=4000, dport=80):
    fam = "TCP6" if ":" in src else "TCP4"
    return f"PROXY {fam} {src} {dst} {sport} {dport}\r\n".encode()


def test_trusted_source_is_hashed_by_the_header_address(start_balance, backends):
    """Only 127.0.0.2 is trusted. Each header it sends, naming 127.0.0.k,
    lands on the channel an untrusted client really coming from 127.0.0.k
    gets: the header's address decides, not the real one (which is the same
    for all of them, yet they spread over both channels)."""
    a, b = backends.tag("A"), backends.tag("B")
    bal = start_balance(["--accept-proxy", "127.0.0.2/32", free_listen_port(), channel(a),
                         channel(b), "%"])
    named = sources(28, first=3)
    direct = {src: tag_via_header(bal.port, b"", src) for src in named}
    assert None not in direct.values()
    assert set(direct.values()) == {"A", "B"}, f"the hash does not spread: {direct}"
    via_header = {src: tag_via_header(bal.port, v1_header(src), "127.0.0.2") for src in named}
    assert via_header == direct
    v2 = {src: tag_via_header(bal.port, expected_header("v2", src, 4000, "192.0.2.1", 80),
                              "127.0.0.2") for src in named[:8]}
    assert v2 == {src: direct[src] for src in named[:8]}
    wait_counters_zero(bal)


def test_untrusted_source_header_is_relayed_as_data(start_balance, backends):
    be = backends.echo()
    bal = start_balance(["--accept-proxy", "127.0.0.2", free_listen_port(), channel(be)])
    for header in (v1_header("203.0.113.5"), expected_header("v2", "203.0.113.5", 1, "192.0.2.1", 2)):
        s = connect(bal.port, src="127.0.0.3")
        try:
            data = header + b"payload"
            assert echo_roundtrip(s, data) == data
        finally:
            s.close()
    wait_counters_zero(bal)


MALFORMED = [
    ("bad-address", b"PROXY TCP4 10.0.0.256 192.0.2.1 4000 80\r\nsecret"),
    ("lf-only", b"PROXY TCP4 10.0.0.1 192.0.2.1 4000 80\nsecret"),
    ("no-crlf", b"PROXY UNKNOWN " + b"x" * 120),
    ("v2-version-3", V2_SIG + bytes([0x31, 0x11, 0, 12]) + bytes(12) + b"secret"),
    ("v2-too-long", V2_SIG + bytes([0x21, 0x11, 0xff, 0xff]) + b"secret"),
    ("no-header", b"GET / HTTP/1.0\r\n\r\nsecret"),
]


@pytest.mark.parametrize("case", MALFORMED, ids=[c[0] for c in MALFORMED])
def test_trusted_source_malformed_header_is_closed(case, start_balance, backends):
    """A malformed header from a trusted source closes the connection with a
    log line; no byte of it (no connection at all) reaches a destination."""
    name, data = case
    be = backends.threaded(recording_handler)
    bal = start_balance(["--accept-proxy", "127.0.0.0/8", free_listen_port(), channel(be)])
    s = connect(bal.port, src="127.0.0.2")
    try:
        s.sendall(data)
        assert closed_by_peer(s, 5), f"{name}: balance kept the connection open"
    finally:
        s.close()
    wait_for(lambda: "bad PROXY protocol header" in bal.stderr(), 5, what="the log line")
    assert be.accepted == 0, f"{name}: a destination was connected: {be.records!r}"
    wait_counters_zero(bal)


def test_trusted_source_header_must_arrive_in_time(start_balance, backends):
    """A header cut short is waited for (at least 3 s, the spec's minimum,
    here with -t 1), then the connection is closed; nothing reaches a
    destination."""
    be = backends.threaded(recording_handler)
    bal = start_balance(["-t", "1", "--accept-proxy", "127.0.0.0/8", free_listen_port(), channel(be)])
    s = connect(bal.port, src="127.0.0.2")
    try:
        s.sendall(b"PROXY TCP4 10.0.0.1 ")
        t0 = time.monotonic()
        assert closed_by_peer(s, 10)
        took = time.monotonic() - t0
    finally:
        s.close()
    assert 2.5 <= took <= scaled(6), f"closed after {took:.1f}s, want about 3 s"
    assert be.accepted == 0
    wait_counters_zero(bal)


def test_header_split_over_segments_is_waited_for(start_balance, backends):
    be = backends.threaded(recording_handler)
    bal = start_balance(["--send-proxy", "v1", "--accept-proxy", "127.0.0.2", free_listen_port(),
                         channel(be)])
    s = connect(bal.port, src="127.0.0.2")
    try:
        header = v1_header("203.0.113.7", "198.51.100.1", 4444, 80)
        for i in range(0, len(header), 7):
            s.sendall(header[i:i + 7])
            time.sleep(0.05)
        s.sendall(b"after")
        s.shutdown(socket.SHUT_WR)
        recv_all(s)
    finally:
        s.close()
    assert be.wait_records(1)[0]["bytes"] == header + b"after"
    wait_counters_zero(bal)


@pytest.mark.parametrize("inbound,outbound", [("v1", "v2"), ("v2", "v1"), ("v2", "v2")])
def test_accepted_header_addresses_are_sent_on(inbound, outbound, start_balance, backends):
    """With both options, the destination's header names the addresses of
    the client's header (not the trusted proxy's), and the bytes behind the
    inbound header (sent in the same segment) follow it intact."""
    be = backends.threaded(recording_handler)
    bal = start_balance(["--send-proxy", outbound, "--accept-proxy", "127.0.0.2",
                         free_listen_port(), channel(be)])
    if inbound == "v1":
        header = v1_header("2001:db8::7", "2001:db8::1", 4444, 443)
    else:  # with a TLV (NOOP) that is skipped
        block = (socket.inet_pton(socket.AF_INET6, "2001:db8::7")
                 + socket.inet_pton(socket.AF_INET6, "2001:db8::1")
                 + struct.pack("!HH", 4444, 443) + b"\x04\x00\x02ab")
        header = V2_SIG + bytes([0x21, 0x21]) + struct.pack("!H", len(block)) + block
    send_through(bal.port, LOOP4, "127.0.0.2", header + b"hello")
    want = expected_header(outbound, "2001:db8::7", 4444, "2001:db8::1", 443) + b"hello"
    assert be.wait_records(1)[0]["bytes"] == want
    wait_counters_zero(bal)


def test_local_and_unknown_headers_keep_the_real_addresses(start_balance, backends):
    """A health check's header (v1 UNKNOWN, v2 LOCAL) is accepted and the
    connection's own addresses are passed on."""
    be = backends.threaded(recording_handler)
    bal = start_balance(["--send-proxy", "v1", "-b", LOOP4, "--accept-proxy", "127.0.0.2",
                         free_listen_port(), channel(be)])
    for header in (b"PROXY UNKNOWN\r\n", V2_SIG + bytes([0x20, 0x00, 0, 0])):
        _, sport = send_through(bal.port, LOOP4, "127.0.0.2", header + b"x")
    recs = be.wait_records(2)
    for rec in recs:
        assert re.fullmatch(rb"PROXY TCP4 127\.0\.0\.2 127\.0\.0\.1 \d+ %d\r\nx" % bal.port,
                            rec["bytes"]), rec["bytes"]
    wait_counters_zero(bal)
