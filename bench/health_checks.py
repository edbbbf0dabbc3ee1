#!/usr/bin/env python3
"""bench/health_checks.py: what active health checks cost the proxy.

Starts a loopback destination (PORTS listening sockets, accepting and
closing in one thread), then each contender in turn with CHANNELS channels
spread over those ports, checked every INTERVAL seconds (balance:
--check-interval; HAProxy: `check inter`), and measures over SECONDS:

  * checks/s: connect()s in the network namespace the script runs in
    (/proc/net/snmp Tcp ActiveOpens; as root it re-runs itself in a new
    one with `unshare --net`, so that no other process's connects count),
  * the contender's CPU (user+system of every thread, /proc/PID/stat),
    minus the same contender idle without checks (measured first),
  * that as % of one core and as microseconds per check.

Issue 13's budget: 1 000 channels every 0.5 s under 2 % of one core.
A benchmark, not a test: it reports, never asserts. python3 stdlib only.

usage: bench/health_checks.py [--balance-bin PATH] [--channels N]
         [--interval S] [--seconds S] [--contenders balance,haproxy]
         [--repeats N] [--baseline-bin PATH (contender `baseline`)]
"""
import argparse
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PORTS = 10


def log(msg):
    sys.stderr.write("[health-bench %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def active_opens():
    """The machine's TCP connect()s so far (/proc/net/snmp)."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Tcp:")]
    return int(rows[1][rows[0].index("ActiveOpens")])


def cpu_seconds(pid):
    """CPU seconds of every thread of `pid`: the scheduler's run time in
    ns (/proc/PID/task/*/schedstat) where the kernel keeps it, as the
    tick-sampled user+system of /proc/PID/stat varies by a tenth between
    identical 20 s runs at 2 % of a core; else that."""
    try:
        total = 0
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        return total / 1e9
    except (OSError, ValueError, IndexError):
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK


class destination:
    """PORTS listeners on 127.0.0.1 that accept and close, counting."""

    def __init__(self):
        self.socks = []
        self.sel = selectors.DefaultSelector()
        for _ in range(PORTS):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            s.listen(4096)
            s.setblocking(False)
            self.sel.register(s, selectors.EVENT_READ)
            self.socks.append(s)
        self.ports = [s.getsockname()[1] for s in self.socks]
        self.accepted = 0
        self.stopping = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopping:
            for key, _ in self.sel.select(0.2):
                for _ in range(256):  # bounded per wake-up
                    try:
                        c, _ = key.fileobj.accept()
                    except (BlockingIOError, ConnectionAbortedError):
                        break
                    c.close()
                    self.accepted += 1

    def stop(self):
        self.stopping = True
        self.thread.join(5)
        for s in self.socks:
            s.close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_listening(port, proc, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("contender exited with %s" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("port %d not listening after %d s" % (port, timeout))


def start_balance(args, tmp, port, channels, checked, binary=None):
    rt = os.path.join(tmp, "rt-%d" % port)
    os.mkdir(rt, 0o700)
    argv = [binary or args.balance_bin, "-f"]
    if checked:
        argv += ["--check-interval", str(args.interval)]
    argv += [str(port)] + ["127.0.0.1:%d" % p for p in channels]
    env = dict(os.environ, BALANCE_RUNTIME_DIR=rt)
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(tmp, "balance.log"), "a"))


def start_haproxy(args, tmp, port, channels, checked):
    conf = os.path.join(tmp, "haproxy-%d.cfg" % port)
    inter = "%dms" % int(args.interval * 1000)
    with open(conf, "w") as f:
        f.write("global\n  nbthread 2\n  maxconn 4000\n"
                "defaults\n  mode tcp\n  timeout connect 1s\n"
                "  timeout client 30s\n  timeout server 30s\n"
                "frontend fe\n  bind 127.0.0.1:%d\n  default_backend be\n"
                "backend be\n  balance roundrobin\n" % port)
        for i, p in enumerate(channels):
            f.write("  server s%d 127.0.0.1:%d%s\n"
                    % (i, p, (" check inter %s" % inter) if checked else ""))
    return subprocess.Popen(["haproxy", "-db", "-f", conf],
                            stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(tmp, "haproxy.log"), "a"))


def start_baseline(args, tmp, port, channels, checked):
    """balance built from another commit (--baseline-bin), side by side."""
    return start_balance(args, tmp, port, channels, checked, args.baseline_bin)


STARTERS = {"balance": start_balance, "haproxy": start_haproxy,
            "baseline": start_baseline}


def measure(args, tmp, dest, name, checked):
    """CPU seconds of the contender over args.seconds, and checks seen."""
    port = free_port()
    channels = [dest.ports[i % PORTS] for i in range(args.channels)]
    proc = STARTERS[name](args, tmp, port, channels, checked)
    try:
        wait_listening(port, proc)
        # One interval and a bit: every channel's first check is done and
        # the checks are spread.
        time.sleep(args.interval * 2 + 1)
        c0, a0, t0 = cpu_seconds(proc.pid), active_opens(), time.monotonic()
        time.sleep(args.seconds)
        c1, a1, t1 = cpu_seconds(proc.pid), active_opens(), time.monotonic()
        return (c1 - c0) / (t1 - t0), (a1 - a0) / (t1 - t0)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def own_network_namespace():
    """Re-runs this script in a fresh network namespace (root only), with
    its loopback up; returns when already in one or when that cannot be."""
    if os.environ.get("BALANCE_BENCH_NETNS") or os.geteuid() != 0 \
            or not shutil.which("unshare") or not shutil.which("ip"):
        if not os.environ.get("BALANCE_BENCH_NETNS"):
            log("not in a network namespace of its own: checks/s counts "
                "every connect() on the machine")
        return
    if os.environ.get("BALANCE_BENCH_NETNS") is None:
        env = dict(os.environ, BALANCE_BENCH_NETNS="1")
        os.execvpe("unshare", ["unshare", "--net", "--", sys.executable,
                               os.path.abspath(__file__)] + sys.argv[1:], env)


def main():
    own_network_namespace()
    if os.environ.get("BALANCE_BENCH_NETNS"):
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--balance-bin",
                    default=os.path.join(HERE, "..", "build", "balance"))
    ap.add_argument("--channels", type=int, default=1000)
    ap.add_argument("--interval", type=float, default=0.5)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--contenders", default="balance,haproxy")
    ap.add_argument("--baseline-bin",
                    help="another balance binary: contender `baseline`")
    ap.add_argument("--repeats", type=int, default=1,
                    help="runs per contender, alternating; the median is shown")
    args = ap.parse_args()
    names = [n for n in args.contenders.split(",") if n]
    for n in names:
        if n not in STARTERS:
            ap.error("unknown contender %s" % n)
    if "baseline" in names and not args.baseline_bin:
        ap.error("contender baseline needs --baseline-bin")
    if "haproxy" in names and not shutil.which("haproxy"):
        log("haproxy not installed: skipped")
        names.remove("haproxy")
    tmp = tempfile.mkdtemp(prefix="balance-health-bench-")
    dest = destination()
    runs = {name: [] for name in names}
    try:
        for r in range(args.repeats):
            for name in names:
                log("%s idle, no checks (%g s), run %d of %d"
                    % (name, args.seconds, r + 1, args.repeats))
                idle, _ = measure(args, tmp, dest, name, False)
                log("%s with %d channels every %g s (%g s)"
                    % (name, args.channels, args.interval, args.seconds))
                busy, rate = measure(args, tmp, dest, name, True)
                cost = max(0.0, busy - idle)
                per = cost / rate * 1e6 if rate else float("nan")
                log("%s: %.0f checks/s, cost %.2f %% of a core, %.1f µs per check"
                    % (name, rate, cost * 100, per))
                runs[name].append((cost, (name, rate, idle, busy, cost, per)))
    finally:
        dest.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    # The run of median cost, whole (its rate and idle with it).
    rows = [sorted(runs[n], key=lambda run: run[0])[len(runs[n]) // 2][1]
            for n in names if runs[n]]
    print("\n%d channels checked every %g s, %g s measured (expected %.0f checks/s), "
          "median of %d run(s)\n"
          % (args.channels, args.interval, args.seconds,
             args.channels / args.interval, args.repeats))
    print("| contender | checks/s | idle CPU % of a core | with checks | checks' cost | µs per check |")
    print("|---|---|---|---|---|---|")
    for name, rate, idle, busy, cost, per in rows:
        print("| %s | %.0f | %.2f | %.2f | **%.2f** | %.1f |"
              % (name, rate, idle * 100, busy * 100, cost * 100, per))


if __name__ == "__main__":
    main()
