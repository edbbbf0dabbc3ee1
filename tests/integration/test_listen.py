"""Listening side (-b, -6, dual-stack default), IPv6 backends, -B."""

import os
import shutil
import subprocess

import pytest

from harness import (LOOP4, LOOP6, channel, connect, free_listen_port, get_tag, ipv6_available,
                     listeners, open_tagged, rendezvous_path, run_balance, run_ctl, wait_counters_zero)

needs_v6 = pytest.mark.skipif(not ipv6_available(), reason="no IPv6 loopback")


def assert_refused(port, host):
    with pytest.raises(ConnectionRefusedError):
        s = connect(port, host=host, timeout=3)
        s.close()


def test_default_listener_is_dual_stack(start_balance, backends):
    """Without -b both IPv4 and IPv6 clients are served (quirk 21 fixed)."""
    be = backends.tag("A")
    bal = start_balance([free_listen_port(), channel(be)])
    assert get_tag(bal.port, host=LOOP4) == "A"
    assert get_tag(bal.port, host="127.0.0.2") == "A"
    if ipv6_available():
        assert get_tag(bal.port, host=LOOP6) == "A"
    wait_counters_zero(bal)


@needs_v6
def test_ipv6_listen_flag(start_balance, backends):
    be = backends.tag("A")
    bal = start_balance(["-6", free_listen_port(), channel(be)])
    assert get_tag(bal.port, host=LOOP6) == "A"
    assert all(fam == 6 for fam, _ in listeners(bal.port)), listeners(bal.port)
    wait_counters_zero(bal)


def test_bind_address_v4(start_balance, backends, env, runtime_dir):
    be = backends.tag("A")
    port = free_listen_port()
    bal = start_balance(["-b", LOOP4, port, channel(be)])
    assert get_tag(port, host=LOOP4) == "A"
    assert_refused(port, "127.0.0.2")
    if ipv6_available():
        assert_refused(port, LOOP6)
    assert {addr for _, addr in listeners(port)} <= {LOOP4, "::ffff:127.0.0.1"}
    assert os.path.exists(rendezvous_path(runtime_dir, port, LOOP4)), os.listdir(runtime_dir)
    # an instance is identified by port + the -b string (3.54 keeps this)
    rc, out, err = run_ctl("show", port, env)
    assert rc != 0, f"-c without the instance's -b must not find it: {out!r}"
    rc, out, err = run_ctl("show", port, env, bind=LOOP4)
    assert rc == 0 and "127.0.0.1" in out, (rc, out, err)
    rc, out, err = run_balance(["-b", LOOP4, "-i", str(port)], env, stdin_data="show\n")
    assert rc == 0 and out.startswith("\nbalance ") and "127.0.0.1" in out, (rc, out, err)
    wait_counters_zero(bal)


@needs_v6
def test_bind_address_v6(start_balance, backends, runtime_dir):
    be = backends.tag("A")
    port = free_listen_port()
    bal = start_balance(["-b", LOOP6, port, channel(be)])
    assert get_tag(port, host=LOOP6) == "A"
    assert_refused(port, LOOP4)
    assert os.path.exists(rendezvous_path(runtime_dir, port, LOOP6)), os.listdir(runtime_dir)
    wait_counters_zero(bal)


def test_bind_v4_mapped_address(start_balance, backends):
    """Man page example: -b ::ffff:10.1.1.3 binds the IPv4 address."""
    be = backends.tag("A")
    port = free_listen_port()
    bal = start_balance(["-b", "::ffff:127.0.0.1", port, channel(be)])
    assert get_tag(port, host=LOOP4) == "A"
    assert_refused(port, "127.0.0.2")
    wait_counters_zero(bal)


@needs_v6
def test_ipv6_backends(start_balance, backends):
    v6 = backends.tag("V6", host=LOOP6)
    g = backends.tag("G")
    bal = start_balance([free_listen_port(), channel(v6, host=LOOP6, maxc=1), "!", channel(g)])
    rows = bal.show()
    assert rows[0]["ip"] == "::1" and rows[0]["port"] == v6.port and rows[0]["maxc"] == 1, rows[0]["line"]
    s, t = open_tagged(bal.port)
    try:
        assert t == "V6"
        assert get_tag(bal.port) == "G"
    finally:
        s.close()
    wait_counters_zero(bal)
    assert get_tag(bal.port, host=LOOP6) == "V6"
    wait_counters_zero(bal)


@needs_v6
def test_ipv6_backend_without_port(start_balance, backends):
    """`[::1]` alone: default port = the listening port."""
    port = free_listen_port()
    try:
        v6 = backends.tag("V6", host=LOOP6, port=port)
    except OSError:
        pytest.skip("port busy on ::1")
    bal = start_balance(["-b", LOOP4, port, "[::1]"])
    assert get_tag(port) == "V6"
    assert bal.show()[0]["port"] == port
    wait_counters_zero(bal)


def test_outgoing_bind_address(start_balance, backends):
    """-B: connections to the backends come from that address."""
    be = backends.tag("A")
    bal = start_balance(["-B", "127.0.0.5", free_listen_port(), channel(be)])
    assert get_tag(bal.port) == "A"
    assert get_tag(bal.port) == "A"
    assert [p[0] for p in be.peers] == ["127.0.0.5", "127.0.0.5"], be.peers
    wait_counters_zero(bal)


# getaddrinfo() answers for this name once, and fails afterwards: a -B that
# is looked up again after the startup check would then silently be lost.
ONE_LOOKUP_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <string.h>

int getaddrinfo(const char* node, const char* service,
                const struct addrinfo* hints, struct addrinfo** res) {
  static int calls;
  int (*real)(const char*, const char*, const struct addrinfo*,
              struct addrinfo**) = dlsym(RTLD_NEXT, "getaddrinfo");
  if (node != NULL && strcmp(node, "once.balance.test") == 0)
    return calls++ == 0 ? real("127.0.0.5", service, hints, res) : EAI_NONAME;
  return real(node, service, hints, res);
}
"""


def test_outgoing_bind_name_is_resolved_once(start_balance, backends, env, workdir):
    """-B is resolved once at start, and that checked address is the one
    used (a second lookup's result was used unchecked, and lost if it
    failed)."""
    cc = shutil.which("cc")
    if not cc:
        pytest.skip("no C compiler for the getaddrinfo shim")
    src = os.path.join(workdir, "one_lookup.c")
    lib = os.path.join(workdir, "one_lookup.so")
    with open(src, "w") as f:
        f.write(ONE_LOOKUP_SHIM)
    subprocess.run([cc, "-shared", "-fPIC", "-o", lib, src, "-ldl"], check=True, timeout=60)
    be = backends.tag("A")
    shimmed = dict(env, LD_PRELOAD=lib)
    bal = start_balance(["-B", "once.balance.test", free_listen_port(), channel(be)], env=shimmed)
    assert get_tag(bal.port) == "A"
    assert [p[0] for p in be.peers] == ["127.0.0.5"], be.peers
    wait_counters_zero(bal)


@needs_v6
def test_outgoing_bind_address_v6(start_balance, backends):
    """-B with an IPv6 address (checked as local at startup, then bound
    for every connection to an IPv6 backend)."""
    be = backends.tag("V6", host=LOOP6)
    bal = start_balance(["-B", LOOP6, free_listen_port(), channel(be, host=LOOP6)])
    assert get_tag(bal.port) == "V6"
    assert [p[0] for p in be.peers] == [LOOP6], be.peers
    wait_counters_zero(bal)


def test_bind_address_by_name(start_balance, backends, env):
    """-b takes a host name; the instance is then addressed with that name."""
    be = backends.tag("A")
    port = free_listen_port()
    bal = start_balance(["-b", "localhost", port, channel(be)])
    addrs = {addr for _, addr in listeners(port)}
    assert addrs and addrs <= {LOOP4, LOOP6, "::ffff:127.0.0.1"}, addrs
    host = LOOP4 if addrs & {LOOP4, "::ffff:127.0.0.1"} else LOOP6
    assert get_tag(port, host=host) == "A"
    rc, out, err = run_ctl("show", port, env, bind="localhost")
    assert rc == 0 and str(be.port) in out, (rc, out, err)
    wait_counters_zero(bal)


@needs_v6
def test_outgoing_bind_failure_fails_over(start_balance, backends):
    """-B with an IPv4 address cannot reach an IPv6 channel: that bind
    failure is an ordinary connect failure and fails over."""
    v6 = backends.tag("V6", host=LOOP6)
    g = backends.tag("G")
    bal = start_balance(["-B", "127.0.0.5", free_listen_port(), channel(v6, host=LOOP6), "!", channel(g)])
    assert get_tag(bal.port) == "G"
    rows = wait_counters_zero(bal)
    assert rows[0]["totalc"] == 1 and rows[1]["totalc"] == 1


def test_second_instance_on_a_served_port_is_refused(start_balance, backends, env):
    """Each io thread listens on its own SO_REUSEPORT socket, yet the port is
    still exclusive: a second instance (which would join the group if it
    could) is refused with 71 and the first goes on serving."""
    be = backends.tag("A")
    other = backends.tag("B")
    bal = start_balance(["--io-threads", "3", free_listen_port(), channel(be)])
    assert len(listeners(bal.port)) == 3, listeners(bal.port)
    rc, out, err = run_balance(["-f", "--io-threads", "2", str(bal.port), channel(other)],
                               env, timeout=20)
    assert rc == 71, f"exit {rc}, want 71; stderr={err!r}"
    assert "in use" in err.lower(), err
    # Every client still reaches the first instance's backend: no listener of
    # the refused instance joined the port (each of 30 connections hashes to
    # one of the sockets).
    assert {get_tag(bal.port) for _ in range(30)} == {"A"}
    wait_counters_zero(bal)
