#!/usr/bin/env python3
"""bench/ab_rate.py: connection rate of a few proxies, run after run in turn.

    bench/ab_rate.py [--variant NAME=BINARY [ARGS...]]... [--haproxy] [--nginx] [--pen]
                     [--connections 50,10,1] [--rounds 8] [--duration 2]

Unlike bench/run, every contender is started once and stays up, and the
runs alternate with short pauses (1.5 s): for comparing variants of
balance with each other and with HAProxy when the difference is a few %.
Before every run it waits (up to 30 s) for the machine to be quiet
(busy under --quiet of all CPUs over one second), and a run during which
processes the script did not start took more than 8 % of one CPU does
not count (on the 2-core VM others' builds come and go). Each run is
`wrk -t1 -cN -dDs -H 'Connection: close'` against the same nginx
backends as bench/run's rate workload (two ports).

Prints, per connection count and contender: the median connections/s
of the counted runs, their range, the machine's busy % (all CPUs, irq
and softirq included, 200 = both cores), and the ratio to HAProxy's
median. Default: --variant balance=../build/balance --haproxy.
python3 stdlib only; shares bench/run's process handling (every process
is killed by PID at the end).
"""
import argparse
import importlib.machinery
import importlib.util
import os
import re
import resource
import shlex
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
_loader = importlib.machinery.SourceFileLoader("bench_run", os.path.join(HERE, "run"))
_spec = importlib.util.spec_from_loader("bench_run", _loader)
br = importlib.util.module_from_spec(_spec)
_loader.exec_module(br)

FOREIGN_MAX = 8.0  # % of one CPU taken by others that voids a run


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="bench/ab_rate.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=BINARY [ARGS]",
                    help="a balance binary (and extra arguments) to compare; repeatable")
    ap.add_argument("--haproxy", action="store_true", help="HAProxy too (bench/run's configuration)")
    ap.add_argument("--nginx", action="store_true", help="nginx stream too (bench/run's configuration)")
    ap.add_argument("--pen", action="store_true", help="pen too (bench/run's configuration)")
    ap.add_argument("--connections", default="50", help="comma-separated wrk -c values (default 50)")
    ap.add_argument("--rounds", type=int, default=8, help="runs per contender and connection count")
    ap.add_argument("--duration", type=int, default=2, help="seconds per wrk run")
    ap.add_argument("--one-session", action="store_true",
                    help="start everything in this script's session (one autogroup) instead of "
                    "a session each, as bench/run does")
    ap.add_argument("--quiet", type=float, default=0.08,
                    help="wait for the machine to be busy under this share before a run")
    args = ap.parse_args(argv)
    if not args.variant and not (args.haproxy or args.nginx or args.pen):
        args.variant = ["balance=" + os.path.normpath(os.path.join(HERE, "..", "build", "balance"))]
        args.haproxy = True
    args.connections = [int(c) for c in args.connections.split(",")]
    return args


def busy_share():
    cpu0, _ = br.proc_stat_sample()
    time.sleep(1)
    cpu1, _ = br.proc_stat_sample()
    d = [b - a for a, b in zip(cpu0, cpu1)]
    return (d[0] + d[1] + d[2] + d[5] + d[6]) / max(1, sum(d[:8]))


def one_run(ctx, port, procs, conns, duration):
    """(conn/s, machine busy %, others' %) of one wrk run."""
    own0 = sum(br.cpu_seconds(p.pid) or 0.0 for p in procs)
    ch0 = br.children_cpu_seconds()
    cpu0, _ = br.proc_stat_sample()
    t0 = time.monotonic()
    rc, out, err = ctx.procs.run("wrk", [br.tool("wrk"), "-t1", "-c%d" % conns, "-d%ds" % duration,
                                         "--timeout", "2s", "-H", "Connection: close",
                                         "http://%s:%d/" % (br.LOOP, port)], timeout=duration + 20)
    cpu1, _ = br.proc_stat_sample()
    wall = time.monotonic() - t0
    own = sum(br.cpu_seconds(p.pid) or 0.0 for p in procs) - own0 + br.children_cpu_seconds() - ch0
    d = [b - a for a, b in zip(cpu0, cpu1)]
    busy = (d[0] + d[1] + d[2] + d[5] + d[6]) / br.CLK_TCK / wall * 100
    foreign = max(0.0, (d[0] + d[1] + d[2]) / br.CLK_TCK - own) / wall * 100
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rc != 0 or not m:
        raise br.BenchError("wrk: %s %s" % (out[-200:], err))
    return float(m.group(1)), busy, foreign


def main(argv):
    args = parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    ctx = br.Ctx()
    ctx.tmp = tempfile.mkdtemp(prefix="balance-ab-")
    ctx.procs = br.Procs(ctx.tmp)
    ctx.procs.new_session = not args.one_session
    ctx.ports = br.Ports()
    ctx.backends = br.Backends(ctx)
    contenders = []  # (name, port, proc)
    try:
        backends = ctx.backends.http()
        for spec in args.variant:
            name, _, cmd = spec.partition("=")
            argv_ = shlex.split(cmd)
            if os.sep in argv_[0]:  # it runs in its own directory
                argv_[0] = os.path.abspath(argv_[0])
            port = ctx.ports.get()
            rt = tempfile.mkdtemp(prefix="%s-" % name, dir=ctx.tmp)
            os.chmod(rt, 0o700)
            env = dict(os.environ, BALANCE_RUNTIME_DIR=rt)
            full = argv_[:1] + argv_[1:] + ["-f", str(port)] + ["%s:%d" % (br.LOOP, b) for b in backends]
            proc = ctx.procs.start(name, full, env=env, cwd=rt)
            br.wait_port(port, 10, proc, name)
            contenders.append((name, port, proc))
        for wanted, peer in ((args.haproxy, br.HAProxy), (args.nginx, br.Nginx), (args.pen, br.Pen)):
            if not wanted:
                continue
            port = ctx.ports.get()
            proc = peer(ctx).start(port, backends, "ab")
            br.wait_port(port, 10, proc, peer.name)
            contenders.append((peer.name, port, proc))
        fixed = [ctx.backends.http_proc]
        for conns in args.connections:
            res = {name: [] for name, _, _ in contenders}
            for r in range(args.rounds):
                k = r % len(contenders)
                for name, port, proc in contenders[k:] + contenders[:k]:
                    for _ in range(30):
                        if busy_share() < args.quiet:
                            break
                    res[name].append(one_run(ctx, port, fixed + [proc], conns, args.duration))
                    br.log("c%d %s: %.0f conn/s, busy %.0f%%, others %.0f%%"
                           % ((conns, name) + res[name][-1]))
                    time.sleep(1.5)
            print("### wrk -t1 -c%d -d%ds -H 'Connection: close', %d rounds\n"
                  % (conns, args.duration, args.rounds))
            print("| contender | counted runs | conn/s median | range | machine busy % | × haproxy |")
            print("|---|---:|---:|---:|---:|---:|")
            hap = [x[0] for x in res.get("haproxy", []) if x[2] <= FOREIGN_MAX]
            for name, _, _ in contenders:
                ok = [x for x in res[name] if x[2] <= FOREIGN_MAX]
                if not ok:
                    print("| %s | 0/%d | – | | | |" % (name, len(res[name])))
                    continue
                rates = [x[0] for x in ok]
                med = statistics.median(rates)
                print("| %s | %d/%d | %s | %s–%s | %.0f | %s |" % (
                    name, len(ok), len(res[name]), br.fmt(med), br.fmt(min(rates)), br.fmt(max(rates)),
                    statistics.median(x[1] for x in ok),
                    br.ratio(med, statistics.median(hap) if hap else None)))
            print()
    except KeyboardInterrupt:
        return 130
    except br.BenchError as e:
        br.log("error: %s" % e)
        return 1
    finally:
        ctx.procs.stop_all()
        shutil.rmtree(ctx.tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
