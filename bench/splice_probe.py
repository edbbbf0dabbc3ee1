#!/usr/bin/env python3
"""bench/splice_probe.py: one iperf3 run through a proxy, with the proxy's
syscalls counted (or its CPU profiled).

    bench/splice_probe.py stat|record|strace|none PROXY STREAMS [SECONDS]

PROXY is a balance binary or `haproxy`/`haproxy-splice` (bench/run's
settings, `maxpipes 128` for both). It starts `iperf3 -s` and the proxy on
ports 29101/29102 (below the ephemeral range: others' connections on a
busy machine took 45 202 once), waits, attaches the monitor to the proxy's
PID, runs `iperf3 -c -t SECONDS -P STREAMS`, and prints Gbit/s, the
proxy's CPU (utime+stime from /proc) per GB and:

- stat: `perf stat` on the syscall tracepoints (splice, of those the
  EAGAIN ones, epoll_wait, recvfrom, ...), context switches; per GB.
- record: `perf record -g` into the temp dir it names (`perf report -i`;
  the only mode that leaves its temp dir behind).
- strace: `strace -c -f` (slows the proxy: counts, not speed).

For docs/architecture.md, "Bulk against HAProxy's splice": it gives the
syscalls per GB that bench/run's bulk table cannot. Env BALANCE_* and any
experiment switches pass through to balance; PROBE_RATE (e.g. 200M) caps
iperf3 for a light functional check. Run it under `flock
/tmp/bench.lock` like every benchmark. Needs root for perf's tracepoints.
Every process it starts is stopped by PID.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SRV, PX = 29101, 29102

HAPROXY_CFG = """global
    nbthread 2
    maxconn 9800
    maxpipes 128
defaults
    mode tcp
    timeout connect 1s
    timeout client 60s
    timeout server 60s
{options}
frontend fe
    bind 127.0.0.1:{px}
    default_backend be
backend be
    server s0 127.0.0.1:{srv}
"""

EVENTS = ["syscalls:sys_enter_splice", "syscalls:sys_exit_splice",
          "syscalls:sys_enter_epoll_wait", "syscalls:sys_enter_epoll_ctl",
          "syscalls:sys_enter_recvfrom", "syscalls:sys_enter_sendto",
          "raw_syscalls:sys_enter", "context-switches", "task-clock"]


def wait_port(port):
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("port %d not up" % port)


def cpu_s(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def monitor_argv(mode, tmp, pid):
    if mode == "stat":
        argv = ["perf", "stat", "-x,", "-o", tmp + "/perf.txt", "-p", str(pid)]
        for e in EVENTS:
            argv += ["-e", e]
            if e == "syscalls:sys_exit_splice":
                argv += ["--filter", "ret == -11"]  # EAGAIN
        return argv
    if mode == "record":
        return ["perf", "record", "-g", "-o", tmp + "/perf.data", "-p", str(pid)]
    if mode == "strace":
        return ["strace", "-c", "-f", "-o", tmp + "/strace.txt", "-p", str(pid)]
    return None


def main():
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    mode, who, streams = sys.argv[1], sys.argv[2], int(sys.argv[3])
    secs = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    tmp = tempfile.mkdtemp(prefix="splice-probe-")
    procs = []

    def start(argv, **kw):
        log = open("%s/%d.log" % (tmp, len(procs)), "w")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True, **kw)
        procs.append(p)
        return p

    try:
        start(["iperf3", "-s", "-B", "127.0.0.1", "-p", str(SRV)])
        wait_port(SRV)
        if who.startswith("haproxy"):
            opts = ""
            if who == "haproxy-splice":
                opts = "    option splice-request\n    option splice-response\n"
            with open(tmp + "/h.cfg", "w") as f:
                f.write(HAPROXY_CFG.format(options=opts, px=PX, srv=SRV))
            px = start(["haproxy", "-db", "-f", tmp + "/h.cfg"])
        else:
            rt = tmp + "/run"
            os.mkdir(rt, 0o700)
            px = start([who, "-f", str(PX), "127.0.0.1:%d" % SRV],
                       env=dict(os.environ, BALANCE_RUNTIME_DIR=rt))
        wait_port(PX)
        time.sleep(0.5)
        argv = monitor_argv(mode, tmp, px.pid)
        mon = start(argv) if argv else None
        time.sleep(0.5)  # perf/strace attached
        c0 = cpu_s(px.pid)
        client = ["iperf3", "-c", "127.0.0.1", "-p", str(PX), "-t", str(secs),
                  "-J", "-P", str(streams)]
        if os.environ.get("PROBE_RATE"):
            client += ["-b", os.environ["PROBE_RATE"]]
        out = subprocess.run(client, capture_output=True, text=True,
                             timeout=secs + 30).stdout
        c1 = cpu_s(px.pid)
        if mon:
            mon.send_signal(signal.SIGINT)
            mon.wait(timeout=60)
        got = json.loads(out)["end"]["sum_received"]
        gb = got["bytes"] / 1e9
        print("%s %s, %d stream(s): %.2f Gbit/s, %.2f GB, proxy CPU %.2f s, "
              "%.3f CPU-s/GB (in %s)"
              % (mode, who, streams, got["bits_per_second"] / 1e9, gb, c1 - c0,
                 (c1 - c0) / gb, tmp))
        if mode == "stat":
            for line in open(tmp + "/perf.txt"):
                f = line.strip().split(",")
                if len(f) > 3 and f[0][:1].isdigit():
                    name = f[2] + (" (EAGAIN)" if "exit_splice" in f[2] else "")
                    print("  %-36s %12.0f %10.1f /GB"
                          % (name, float(f[0]), float(f[0]) / gb))
        elif mode == "strace":
            print(open(tmp + "/strace.txt").read())
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if mode != "record":  # perf.data is read afterwards
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
