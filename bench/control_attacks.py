#!/usr/bin/env python3
"""What a hostile local peer does to a balance binary's control plane, for
before/after comparisons (a measurement, not a test: it prints, it does
not assert; the assertions live in tests/integration/test_control_attacks.py).

    bench/control_attacks.py BALANCE_BIN [CAF_PROBE]

Starts BALANCE_BIN in the foreground with --control-listen on loopback and
an echo backend, and reports, each on a fresh instance: whether an empty
BASP client handshake kills it, the RSS a 1 GiB length announcement costs
while its connection stays open, what a stock CAF client can do (exit the
control actor?), and the CPU and service during 1 100 idle connections to
the control port under soft descriptor limit 1 024 (hard 20 000)."""

import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import hostile  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
PROBE = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(BIN), "tests",
                                                              "caf_probe")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def echo_backend():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(512)

    def serve(c):
        with c:
            while True:
                data = c.recv(4096)
                if not data:
                    return
                c.sendall(data)

    def accept():
        while True:
            c, _ = srv.accept()
            threading.Thread(target=serve, args=(c,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return srv.getsockname()[1]


BACKEND = echo_backend()


def start(limits=None):
    port, ctl = free_port(), free_port()
    env = dict(os.environ, BALANCE_RUNTIME_DIR=tempfile.mkdtemp())
    pre = (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, limits)) if limits else None
    p = subprocess.Popen([BIN, "-f", "--control-listen", f"127.0.0.1:{ctl}", str(port),
                          f"127.0.0.1:{BACKEND}"], env=env, preexec_fn=pre,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):  # until it listens (bounded)
        try:
            socket.create_connection(("127.0.0.1", ctl), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    return p, env, port, ctl


def show_rc(env, port):
    return subprocess.run([BIN, "-c", "show", str(port)], env=env, capture_output=True,
                          timeout=20).returncode


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop(p):
    p.kill()
    p.wait()


p, env, port, ctl = start()
outcome = hostile.send("tcp", f"127.0.0.1:{ctl}", "empty-handshake")[0]
print(f"empty BASP handshake: connection {outcome}, daemon alive: {p.poll() is None}")
stop(p)

p, env, port, ctl = start()
before = hostile.vm_kb(p.pid)
s = socket.create_connection(("127.0.0.1", ctl))
s.sendall(hostile.payload("gib-handshake"))
time.sleep(1.5)  # let the daemon act on it while the connection stays open
print(f"1 GiB announcement: RSS {before} -> {hostile.vm_kb(p.pid)} KiB, "
      f"alive: {p.poll() is None}")
s.close()
stop(p)

p, env, port, ctl = start()
out = subprocess.run([PROBE, "connect", "127.0.0.1", str(ctl)], capture_output=True,
                     timeout=30).stdout.decode().strip()
time.sleep(0.5)
print(f"stock CAF client: {out}; `-c show` afterwards exits {show_rc(env, port)}")
stop(p)

p, env, port, ctl = start((1024, 20000))
flood = hostile.flood("tcp", f"127.0.0.1:{ctl}", 1100)
time.sleep(0.5)
cpu0, t0, served = cpu_seconds(p.pid), time.monotonic(), 0
for _ in range(20):
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=2)
        c.settimeout(2)
        c.sendall(b"x")
        served += c.recv(1) == b"x"
        c.close()
    except OSError:
        pass
time.sleep(2)
wall = time.monotonic() - t0
used = cpu_seconds(p.pid) - cpu0
print(f"1 100 idle control connections: {used:.2f} CPU-s in {wall:.1f} s "
      f"({2 * used / wall:.2f} per 2 s), proxy clients served {served} of 20")
for s in flood:
    s.close()
time.sleep(3)  # the gate's 2 s deadline clears what it had accepted
print(f"after the flood: `-c show` exits {show_rc(env, port)}")
stop(p)
