"""Helpers for balance's end-to-end tests: backends, clients, process control.

Everything here is bounded: every wait has a deadline, every socket has a
timeout, every loop has a limit.  Only loopback addresses are used.
"""

import errno
import hashlib
import os
import random
import re
import selectors
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

BALANCE_BIN = os.environ.get("BALANCE_BIN", "/work/main/build/balance")
LOOP4 = "127.0.0.1"
LOOP6 = "::1"

# Multiplies every wait for something that is expected to happen, for slow
# or heavily loaded CI machines: wait_for and the helpers built on it,
# process starts, exits and runs (run_balance), connect, recv_line, recv_all,
# closed_by_peer, wait_records, the per-test alarm; tests scale their own
# joins and waits with scaled().  Not scaled: the bounds the contract states
# (such as "within ~1 s") and probes that take a timeout as their answer
# (echo_roundtrip / recv_exact with a short timeout).
SLACK = float(os.environ.get("BALANCE_TEST_SLACK", "1"))


def scaled(seconds):
    """A wait of `seconds` on an unloaded machine, stretched by SLACK."""
    return seconds * SLACK

# Exit statuses (sysexits) of the contract.
EX_USAGE = 64
EX_DATAERR = 65
EX_UNAVAILABLE = 69
EX_OSERR = 71


# --------------------------------------------------------------------------
# waiting


def wait_for(pred, timeout, interval=0.02, what="condition"):
    """Polls pred() until it returns a truthy value (returned) or the deadline
    passes (AssertionError naming `what`)."""
    timeout = scaled(timeout)
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = pred()
            if value:
                return value
        except (OSError, ValueError) as exc:  # transient while polling
            last_exc = exc
        if time.monotonic() >= deadline:
            extra = f" (last error: {last_exc!r})" if last_exc else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{extra}")
        time.sleep(interval)


# --------------------------------------------------------------------------
# ports and /proc/net


def free_port(host=LOOP4):
    """A free TCP port on `host` (bind port 0, read it, release it)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def free_listen_port():
    """A port free for a dual-stack listener: bound on [::] with V6ONLY off
    (which also covers 0.0.0.0), falling back to IPv4 only."""
    for _ in range(20):
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                s.bind(("::", 0))
                port = s.getsockname()[1]
        except OSError:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("0.0.0.0", 0))
                port = s.getsockname()[1]
        if not is_listening(port):
            return port
    raise RuntimeError("no free port found")


def dead_port(host=LOOP4):
    """A port nothing listens on: connects to it are refused."""
    return free_port(host)


def _decode_proc_addr(hexaddr):
    raw = bytes.fromhex(hexaddr)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words)


def proc_tcp_sockets(states=("0A",)):
    """[(family, local_addr, local_port, state, inode)] from /proc/net/tcp*."""
    out = []
    for path, fam in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 6)):
        try:
            with open(path) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10:
                continue
            st = fields[3]
            if states and st not in states:
                continue
            addr_hex, port_hex = fields[1].split(":")
            out.append((fam, _decode_proc_addr(addr_hex), int(port_hex, 16), st, fields[9]))
    return out


def listeners(port):
    """[(family, addr)] of LISTEN sockets on `port`."""
    return [(fam, addr) for fam, addr, p, _, _ in proc_tcp_sockets() if p == port]


def is_listening(port):
    return bool(listeners(port))


def pids_listening(port):
    """Pids of processes holding a LISTEN socket on `port` (scan of /proc)."""
    inodes = {ino for _, _, p, _, ino in proc_tcp_sockets() if p == port and ino != "0"}
    if not inodes:
        return set()
    targets = {f"socket:[{ino}]" for ino in inodes}
    pids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fd_dir = f"/proc/{entry}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"{fd_dir}/{fd}") in targets:
                    pids.add(int(entry))
                    break
            except OSError:
                continue
    return pids


def port_bindable(port, host="::"):
    """True if a server could bind `port` now (SO_REUSEADDR, as servers do;
    on [::] with V6ONLY off this also covers 0.0.0.0)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind((host, port))
        s.listen(1)
        return True
    except OSError:
        return False
    finally:
        s.close()


def cpu_seconds(pid):
    """user+system CPU time consumed so far by `pid`."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# Exit statuses (os.waitpid's) of the processes the harness reaped, by pid.
# A daemon is not our child when it starts (balance forks and its parent
# exits), but the test process is a child subreaper (become_subreaper), so
# the kernel hands orphaned daemons to it and their status is ours to read.
_reaped = {}


def become_subreaper():
    """Makes this process adopt its orphaned descendants (daemons), so that
    their exit statuses can be checked.  False where prctl is unavailable."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_CHILD_SUBREAPER = 36
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _reap(pid):
    """Collects `pid`'s exit status if it is our exited child."""
    try:
        res = os.waitpid(pid, os.WNOHANG)
    except (ChildProcessError, OSError):
        return False
    if res[0] == pid:
        _reaped[pid] = res[1]
        return True
    return False


def exit_status(pid):
    """How `pid` ended, as subprocess reports it (exit code, or -signal),
    if the harness reaped it; None when it was not our child."""
    status = _reaped.get(pid)
    return None if status is None else os.waitstatus_to_exitcode(status)


def pid_alive(pid):
    """True while `pid` exists and is not a zombie (a zombie child of ours
    is reaped here, its status kept for exit_status)."""
    if not pid:
        return False
    if _reap(pid):
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def kill_pid(pid, timeout=3.0):
    """SIGTERM, wait, SIGKILL: ends one process by its pid.  Returns how it
    was ended: "gone" (already), "term" or "kill"."""
    if not pid_alive(pid):
        return "gone"
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return "gone"
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return "term"
        time.sleep(0.02)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return "term"
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.02)
    return "kill"


def sanitizer_reports(log_dir, limit=4000):
    """The reports sanitizer-built processes wrote under `log_dir` (ASan's
    and UBSan's log_path files, `<prefix>.<pid>`), as one text; "" if none."""
    texts = []
    for name in sorted(os.listdir(log_dir)):
        path = os.path.join(log_dir, name)
        try:
            with open(path, errors="replace") as f:
                text = f.read()
        except OSError:
            continue
        if text.strip():
            texts.append(f"--- {name}\n{text[:limit]}")
    return "\n".join(texts)


class ExitTrap:
    """Holds a process at its exit, before the kernel closes its files, so a
    test can tell what the process closed itself from what its exit closed.

    ptrace(PTRACE_SEIZE, PTRACE_O_TRACEEXIT) on the thread `tid` (default:
    the main thread, which is the one balance exits from): when that thread
    exits it stops, still holding the process's file table, until
    release().  Raises OSError when ptrace is not permitted here."""

    PTRACE_CONT, PTRACE_DETACH, PTRACE_SEIZE, PTRACE_INTERRUPT = 7, 17, 0x4206, 0x4207
    PTRACE_O_TRACEEXIT, PTRACE_EVENT_EXIT = 0x40, 6
    WALL = 0x40000000

    def __init__(self, pid):
        import ctypes
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._libc.ptrace.restype = ctypes.c_long
        self._libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p,
                                      ctypes.c_void_p]
        self.pid = pid
        self.stopped = False
        if self._ptrace(self.PTRACE_SEIZE, 0, self.PTRACE_O_TRACEEXIT) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"ptrace(PTRACE_SEIZE, {pid}): {os.strerror(err)}")

    def _ptrace(self, request, addr, data):
        return self._libc.ptrace(request, self.pid, addr, data)

    def wait(self, timeout):
        """Waits (bounded, scaled by SLACK) until the traced thread stops at
        its exit; True then, False if it did not exit in time.  Any other
        stop (a signal) is passed on."""
        deadline = time.monotonic() + scaled(timeout)
        while time.monotonic() < deadline:
            try:
                wpid, status = os.waitpid(self.pid, os.WNOHANG | self.WALL)
            except ChildProcessError:
                return False
            if wpid == 0:
                time.sleep(0.005)
                continue
            if os.WIFEXITED(status) or os.WIFSIGNALED(status):
                _reaped[self.pid] = status
                return False
            if os.WIFSTOPPED(status):
                if status >> 8 == (signal.SIGTRAP | (self.PTRACE_EVENT_EXIT << 8)):
                    self.stopped = True
                    return True
                sig = os.WSTOPSIG(status)
                self._ptrace(self.PTRACE_CONT, 0, 0 if sig == signal.SIGTRAP else sig)
        return False

    def release(self):
        """Lets the process finish exiting, or go on untraced if it never
        stopped (detaching needs a stop: PTRACE_INTERRUPT makes one)."""
        sig = 0
        if not self.stopped:
            if self._ptrace(self.PTRACE_INTERRUPT, 0, 0) != 0:
                return  # gone already
            deadline = time.monotonic() + scaled(3)
            while time.monotonic() < deadline:
                try:
                    wpid, status = os.waitpid(self.pid, os.WNOHANG | self.WALL)
                except ChildProcessError:
                    return
                if wpid == 0:
                    time.sleep(0.005)
                    continue
                if not os.WIFSTOPPED(status):
                    _reaped[self.pid] = status
                    return
                if status >> 16 == 0 and os.WSTOPSIG(status) != signal.SIGTRAP:
                    sig = os.WSTOPSIG(status)  # a signal on its way in: deliver it
                break
        self._ptrace(self.PTRACE_DETACH, 0, sig)
        self.stopped = False


# --------------------------------------------------------------------------
# rendezvous file


def rendezvous_path(runtime_dir, port, bind=None):
    return os.path.join(runtime_dir, f"balance.{port}.{bind or '0.0.0.0'}")


def parse_kv_file(path):
    """key=value lines of a rendezvous file (other lines ignored)."""
    out = {}
    with open(path, errors="replace") as f:
        for line in f:
            line = line.strip()
            if "=" in line:
                k, v = line.split("=", 1)
                out[k.strip()] = v.strip()
    return out


# --------------------------------------------------------------------------
# running balance


def _port_from_args(args):
    """The listening port: the first positional argument (3.54 getopt)."""
    value_opts = {"-b", "-B", "-t", "-T", "-c"}
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            return args[i + 1] if i + 1 < len(args) else None
        if a.startswith("--"):
            if "=" not in a and a not in ("--insecure-control", "--observe"):
                i += 1  # long options take a value, but these two
        elif a.startswith("-") and len(a) > 1:
            if a in value_opts:
                i += 1
        else:
            return a
        i += 1
    return None


def _bind_from_args(args):
    for i, a in enumerate(args[:-1]):
        if a == "-b":
            return args[i + 1]
    return None


def run_balance(args, env, timeout=15.0, stdin_data=None, preexec_fn=None):
    """Runs balance to completion: (rc, stdout, stderr) as text.  A daemon
    that keeps our pipes open would make this time out (AssertionError).
    preexec_fn runs in the child before exec (e.g. to set a limit)."""
    cmd = [BALANCE_BIN] + [str(a) for a in args]
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, timeout=scaled(timeout),
                           input=(stdin_data.encode() if isinstance(stdin_data, str) else stdin_data),
                           stdin=None if stdin_data is not None else subprocess.DEVNULL,
                           preexec_fn=preexec_fn)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{' '.join(cmd)} did not finish within {scaled(timeout)}s; "
                             f"stdout={exc.stdout!r} stderr={exc.stderr!r}")
    return (p.returncode, p.stdout.decode(errors="replace"),
            p.stderr.decode(errors="replace"))


def run_ctl(cmd, port, env, bind=None, timeout=10.0, extra=()):
    """`balance [-b bind] -c cmd port` → (rc, stdout, stderr)."""
    args = list(extra)
    if bind:
        args += ["-b", bind]
    args += ["-c", cmd, str(port)]
    return run_balance(args, env, timeout=timeout)


class Balance:
    """One balance instance started by the tests (foreground or daemon)."""

    def __init__(self, args, env, foreground, workdir, rlimit_nofile=None):
        self.args = [str(a) for a in args]
        self.env = env
        self.foreground = foreground
        self.runtime_dir = env.get("BALANCE_RUNTIME_DIR")
        port_arg = _port_from_args(self.args) or ""
        self.port = None
        if port_arg.isdigit():
            self.port = int(port_arg)
        elif port_arg:
            try:
                self.port = socket.getservbyname(port_arg, "tcp")
            except OSError:
                self.port = None
        self.bind = _bind_from_args(self.args)
        self.workdir = workdir
        self.stdout_path = os.path.join(workdir, f"balance-{id(self)}.out")
        self.stderr_path = os.path.join(workdir, f"balance-{id(self)}.err")
        self.proc = None
        self.pid = None
        self.start_rc = None
        self.start_elapsed = None
        self._stopped = False
        self.started = False  # start() succeeded: stop() checks the exit status
        # Exit statuses stop() accepts; a test that ends an instance some
        # other way says so here.
        self.expected_exit = {0}
        self._preexec = None
        if rlimit_nofile:
            import resource
            # one number: soft = hard; a pair: (soft, hard)
            limits = (tuple(rlimit_nofile) if isinstance(rlimit_nofile, (tuple, list))
                      else (rlimit_nofile, rlimit_nofile))

            def _limit():
                resource.setrlimit(resource.RLIMIT_NOFILE, limits)

            self._preexec = _limit

    # -- life cycle
    def start(self, ready=True, ready_timeout=15.0):
        out = open(self.stdout_path, "wb")
        err = open(self.stderr_path, "wb")
        try:
            if self.foreground:
                self.proc = subprocess.Popen([BALANCE_BIN, "-f"] + self.args, env=self.env,
                                             stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                             start_new_session=True, preexec_fn=self._preexec)
                self.pid = self.proc.pid
                if ready:
                    self.wait_ready(ready_timeout)
            else:
                t0 = time.monotonic()
                p = subprocess.Popen([BALANCE_BIN] + self.args, env=self.env,
                                     stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                     preexec_fn=self._preexec)
                try:
                    self.start_rc = p.wait(timeout=scaled(ready_timeout))
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(scaled(5))
                    raise AssertionError(f"daemon start did not return within {ready_timeout}s: "
                                         f"{self.args} stderr={self.stderr()!r}")
                self.start_elapsed = time.monotonic() - t0
                if self.start_rc != 0:
                    raise AssertionError(f"balance {' '.join(self.args)} exited {self.start_rc}; "
                                         f"stderr={self.stderr()!r}")
                self.pid = self.find_daemon_pid()
                _reaped.pop(self.pid, None)  # an earlier process's, if the pid was reused
            self.started = True
        finally:
            out.close()
            err.close()
        return self

    def find_daemon_pid(self, timeout=3.0):
        """The daemon's pid: the rendezvous file's pid= line, else the owner
        of the listening socket."""
        deadline = time.monotonic() + scaled(timeout)
        while True:
            pid = None
            info = self.rendezvous()
            if info:
                for key in ("pid", "PID", "master_pid"):
                    if info.get(key, "").isdigit():
                        pid = int(info[key])
                        break
            if pid is None and self.port:
                pids = pids_listening(self.port)
                if pids:
                    pid = min(pids)
            if pid or time.monotonic() >= deadline:
                return pid
            time.sleep(0.05)

    def wait_ready(self, timeout=15.0, control_grace=3.0):
        """Foreground readiness: listening (seen in /proc/net, no connection
        made) and the rendezvous file present (waited for a short grace)."""
        deadline = time.monotonic() + scaled(timeout)
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"balance {' '.join(self.args)} exited early rc={self.proc.returncode}; "
                                     f"stderr={self.stderr()!r}")
            if self.port is None or is_listening(self.port):
                break
            if time.monotonic() >= deadline:
                raise AssertionError(f"balance {' '.join(self.args)} not listening after {timeout}s; "
                                     f"stderr={self.stderr()!r}")
            time.sleep(0.02)
        if self.runtime_dir and self.port:
            grace = time.monotonic() + scaled(control_grace)
            while not os.path.exists(self.rendezvous_path()) and time.monotonic() < grace:
                if self.proc is not None and self.proc.poll() is not None:
                    break
                time.sleep(0.02)
        return self

    def alive(self):
        if self.proc is not None:
            return self.proc.poll() is None
        return pid_alive(self.pid)

    def stop(self):
        """Ends every process of this instance by pid (finalizer), then
        checks how the instance ended: it must have exited with a status in
        `expected_exit` (0: after SIGTERM, SIGINT or `kill`), by itself and
        not by SIGKILL.  AssertionError naming what went wrong; every
        process is ended first either way."""
        if self._stopped:
            return
        self._stopped = True
        problems = []
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(scaled(3))
                except subprocess.TimeoutExpired:
                    problems.append(f"still running {scaled(3)}s after SIGTERM (SIGKILLed)")
                    self.proc.kill()
                    try:
                        self.proc.wait(scaled(3))
                    except subprocess.TimeoutExpired:
                        pass
            self._check_status(self.proc.returncode, problems)
        elif self.pid:
            if kill_pid(self.pid) == "kill":
                problems.append(f"daemon {self.pid} still running {scaled(3)}s after SIGTERM "
                                "(SIGKILLed)")
            self._check_status(exit_status(self.pid), problems)
        if self.port and not self.foreground:
            # a daemon we could not identify earlier still holds the port
            for pid in pids_listening(self.port):
                if pid != os.getpid():
                    kill_pid(pid)
        if problems and self.started:
            raise AssertionError(f"balance {' '.join(self.args)}: {'; '.join(problems)}; "
                                 f"stderr={self.stderr()[-2000:]!r}")

    def _check_status(self, status, problems):
        """status: exit code or -signal (None: unknown, not our child)."""
        if status is not None and status not in self.expected_exit:
            how = f"killed by signal {-status}" if status < 0 else f"exited {status}"
            problems.append(f"{how}, expected exit status {sorted(self.expected_exit)}")

    # -- outputs
    def stdout(self):
        try:
            with open(self.stdout_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    # -- control
    def rendezvous_path(self):
        return rendezvous_path(self.runtime_dir, self.port, self.bind)

    def rendezvous(self):
        try:
            return parse_kv_file(self.rendezvous_path())
        except OSError:
            return None

    def ctl(self, cmd, timeout=10.0, env=None):
        return run_ctl(cmd, self.port, env or self.env, bind=self.bind, timeout=timeout)

    def ctl_ok(self, cmd, timeout=10.0):
        rc, out, err = self.ctl(cmd, timeout)
        assert rc == 0, f"balance -c {cmd!r} {self.port} → rc={rc} stdout={out!r} stderr={err!r}"
        return out

    def show(self):
        """Parsed rows of `-c show` (AssertionError on failure)."""
        out = self.ctl_ok("show")
        return parse_show(out)

    def row(self, grp, ch):
        for r in self.show():
            if r["grp"] == grp and r["ch"] == ch:
                return r
        raise AssertionError(f"no row for group {grp} channel {ch} in show")


# --------------------------------------------------------------------------
# show parsing and checks

SHOW_HEADER = "%3s %4s %2s %3s %16s %5s %4s %11s %4s %11s %11s" % (
    "GRP", "Type", "#", "S", "ip-address", "port", "c", "totalc", "maxc", "sent", "rcvd")
ROW_RE = re.compile(r"^\s*(\d+)\s+(RR|Hash)\s+(\d+)\s+(ENA|dis)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$")
ROW_KEYS = ("grp", "type", "ch", "state", "ip", "port", "c", "totalc", "maxc", "sent", "rcvd")


def format_row(r):
    return "%3d %4s %2d %3s %16s %5d %4d %11d %4d %11d %11d" % tuple(r[k] for k in ROW_KEYS)


def parse_show(out):
    rows = []
    for line in out.splitlines():
        m = ROW_RE.match(line)
        if not m:
            continue
        g = m.groups()
        rows.append({"grp": int(g[0]), "type": g[1], "ch": int(g[2]), "state": g[3], "ip": g[4],
                     "port": int(g[5]), "c": int(g[6]), "totalc": int(g[7]), "maxc": int(g[8]),
                     "sent": int(g[9]), "rcvd": int(g[10]), "line": line})
    return rows


def wait_counters_zero(bal, timeout=3.0):
    """After all client connections are closed, `c` must come back to 0 on
    every channel within a couple of seconds (counters never drift)."""
    last = {"out": None}

    def settled():
        rc, out, err = bal.ctl("show")
        last["out"] = (rc, out, err)
        if rc != 0:
            return False
        rows = parse_show(out)
        return rows and all(r["c"] == 0 for r in rows)

    try:
        wait_for(settled, timeout, interval=0.1, what="show's c column to return to 0")
    except AssertionError:
        raise AssertionError(f"c did not return to 0 within {timeout}s; last show: {last['out']!r}")
    return parse_show(last["out"][1])


def wait_show(bal, pred, timeout=3.0, what="show condition"):
    """Polls show until pred(rows) holds; returns the rows."""
    last = {"rows": None}

    def check():
        rows = bal.show()
        last["rows"] = rows
        return pred(rows)

    try:
        wait_for(check, timeout, interval=0.1, what=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last rows: {[r['line'] for r in last['rows'] or []]}")
    return last["rows"]


# --------------------------------------------------------------------------
# clients


def connect(port, host=LOOP4, src=None, timeout=5.0):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(scaled(timeout))
    try:
        if src:
            s.bind((src, 0))
        s.connect((host, port))
    except BaseException:
        s.close()
        raise
    return s


def recv_line(sock, timeout=5.0, limit=65536):
    """Bytes up to and including the first newline (or what came before EOF)."""
    sock.settimeout(scaled(timeout))
    buf = b""
    while b"\n" not in buf and len(buf) < limit:
        try:
            chunk = sock.recv(4096)
        except ConnectionResetError:
            break
        if not chunk:
            break
        buf += chunk
    return buf


def recv_exact(sock, n, timeout=10.0):
    sock.settimeout(timeout)
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(65536, n - len(buf)))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def recv_all(sock, timeout=10.0, limit=1 << 28):
    """Everything until EOF (a reset also ends it)."""
    timeout = scaled(timeout)
    deadline = time.monotonic() + timeout
    buf = bytearray()
    while len(buf) < limit:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no EOF within {timeout}s ({len(buf)} bytes read)")
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def closed_by_peer(sock, timeout):
    """True if the peer closes (EOF or reset) within `timeout`, discarding any
    data; False if the connection is still open at the deadline."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        if not chunk:
            return True


def echo_roundtrip(sock, data, timeout=5.0):
    sock.sendall(data)
    return recv_exact(sock, len(data), timeout)


def get_tag(port, host=LOOP4, src=None, timeout=10.0):
    """Connects through balance to a TagServer and returns its name, or None
    if balance closed the connection without reaching a backend."""
    s = connect(port, host=host, src=src, timeout=timeout)
    try:
        line = recv_line(s, timeout)
    finally:
        s.close()
    if not line.endswith(b"\n"):
        return None
    return line.decode().strip()


def open_tagged(port, host=LOOP4, src=None, timeout=10.0):
    """Like get_tag but keeps the connection open: (socket, tag or None)."""
    s = connect(port, host=host, src=src, timeout=timeout)
    line = recv_line(s, timeout)
    tag = line.decode().strip() if line.endswith(b"\n") else None
    return s, tag


def det_bytes(n, seed):
    """n deterministic pseudo-random bytes."""
    rnd = random.Random(seed)
    if hasattr(rnd, "randbytes"):
        return rnd.randbytes(n)
    return bytes(rnd.getrandbits(8) for _ in range(n))


def sha(data):
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------
# backends


class SelectorServer(threading.Thread):
    """Single-threaded non-blocking server for many connections.

    mode "echo": echoes everything; closes after the peer's EOF once its
    buffer is flushed.  mode "tag": first sends `tag + "\\n"`, then echoes.
    """

    def __init__(self, mode="echo", tag=None, host=LOOP4, port=0, backlog=1024):
        super().__init__(daemon=True)
        self.mode = mode
        self.tag = tag
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.lsock = socket.socket(fam, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, port))
        self.lsock.listen(backlog)
        self.lsock.setblocking(False)
        self.host = host
        self.port = self.lsock.getsockname()[1]
        self.sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self.lock = threading.Lock()
        self.accepted = 0
        self.active = 0
        self.peers = []
        self._conns = {}
        self._stopping = False
        self.start()

    def run(self):
        self.sel.register(self.lsock, selectors.EVENT_READ, "listen")
        self.sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        while not self._stopping:
            for key, ev in self.sel.select(timeout=0.5):
                if key.data == "wake":
                    try:
                        self._wake_r.recv(64)
                    except OSError:
                        pass
                elif key.data == "listen":
                    self._accept()
                else:
                    self._service(key.fileobj, ev)
        for c in list(self._conns):
            self._close(c)
        try:
            self.sel.unregister(self.lsock)
        except (KeyError, ValueError):
            pass
        self.lsock.close()
        self.sel.close()

    def _accept(self):
        for _ in range(256):
            try:
                c, addr = self.lsock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            c.setblocking(False)
            state = {"out": bytearray(), "eof": False, "reading": True}
            if self.mode == "tag":
                state["out"] += (self.tag + "\n").encode()
            self._conns[c] = state
            with self.lock:
                self.accepted += 1
                self.active += 1
                self.peers.append(addr)
            self.sel.register(c, self._events(state), "conn")

    @staticmethod
    def _events(state):
        ev = 0
        if state["reading"]:
            ev |= selectors.EVENT_READ
        if state["out"]:
            ev |= selectors.EVENT_WRITE
        return ev or selectors.EVENT_READ

    def _service(self, c, ev):
        state = self._conns.get(c)
        if state is None:
            return
        try:
            if ev & selectors.EVENT_READ and state["reading"]:
                data = c.recv(65536)
                if not data:
                    state["eof"] = True
                    state["reading"] = False
                else:
                    state["out"] += data
                    if len(state["out"]) > (1 << 20):
                        state["reading"] = False  # backpressure
            if ev & selectors.EVENT_WRITE and state["out"]:
                n = c.send(state["out"])
                del state["out"][:n]
                if not state["eof"] and len(state["out"]) < (1 << 19):
                    state["reading"] = True
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._close(c)
            return
        if state["eof"] and not state["out"]:
            self._close(c)
            return
        try:
            self.sel.modify(c, self._events(state), "conn")
        except (KeyError, ValueError, OSError):
            self._close(c)

    def _close(self, c):
        if self._conns.pop(c, None) is None:
            return
        try:
            self.sel.unregister(c)
        except (KeyError, ValueError):
            pass
        try:
            c.close()
        except OSError:
            pass
        with self.lock:
            self.active -= 1

    def stop(self):
        if self._stopping:
            return
        self._stopping = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        self.join(5)
        self._wake_w.close()
        self._wake_r.close()


class ThreadedServer(threading.Thread):
    """Accept loop; each connection handled by handler(conn, record) in its
    own thread; `record` is a dict appended to self.records."""

    def __init__(self, handler, host=LOOP4, port=0, backlog=128):
        super().__init__(daemon=True)
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.lsock = socket.socket(fam, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, port))
        self.lsock.listen(backlog)
        self.lsock.settimeout(0.2)
        self.host = host
        self.port = self.lsock.getsockname()[1]
        self.handler = handler
        self.records = []
        self.lock = threading.Lock()
        self.done = threading.Condition(self.lock)
        self._stopping = False
        self._conns = []
        self.start()

    @property
    def accepted(self):
        with self.lock:
            return len(self.records)

    def run(self):
        while not self._stopping:
            try:
                c, addr = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            c.settimeout(60)
            rec = {"peer": addr, "done": False}
            with self.lock:
                self.records.append(rec)
                self._conns.append(c)
            threading.Thread(target=self._run_one, args=(c, rec), daemon=True).start()
        self.lsock.close()

    def _run_one(self, c, rec):
        try:
            self.handler(c, rec)
        except Exception as exc:  # recorded for the test to see
            rec["error"] = repr(exc)
        finally:
            try:
                c.close()
            except OSError:
                pass
            with self.done:
                rec["done"] = True
                self.done.notify_all()

    def wait_records(self, n, timeout=20.0):
        """Waits until n connections have been fully handled."""
        timeout = scaled(timeout)
        deadline = time.monotonic() + timeout
        with self.done:
            while sum(1 for r in self.records if r["done"]) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"backend handled {sum(1 for r in self.records if r['done'])} "
                                         f"of {n} connections within {timeout}s: {self.records!r}")
                self.done.wait(left)
            return list(self.records)

    def stop(self):
        self._stopping = True
        with self.lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.close()
            except OSError:
                pass
        self.join(5)


def _read_to_eof(c, rec, key="received"):
    h = hashlib.sha256()
    n = 0
    while True:
        data = c.recv(65536)
        if not data:
            break
        h.update(data)
        n += len(data)
    rec[key + "_bytes"] = n
    rec[key + "_sha"] = h.hexdigest()
    return n, h.hexdigest()


def halfclose_handler(c, rec):
    """Reads to EOF, then replies `GOT <n> <sha256>\\n` and closes."""
    n, digest = _read_to_eof(c, rec)
    c.sendall(f"GOT {n} {digest}\n".encode())
    c.shutdown(socket.SHUT_WR)


def greet_then_shutdown_handler(c, rec):
    """Sends `HELLO\\n`, shuts down its write side, then reads to EOF."""
    c.sendall(b"HELLO\n")
    c.shutdown(socket.SHUT_WR)
    _read_to_eof(c, rec)


def make_bulk_handler(payload):
    """Sends `payload` while concurrently reading to EOF (both recorded)."""

    def handler(c, rec):
        def writer():
            try:
                c.sendall(payload)
                c.shutdown(socket.SHUT_WR)
                rec["sent_ok"] = True
            except OSError as exc:
                rec["send_error"] = repr(exc)

        t = threading.Thread(target=writer, daemon=True)
        t.start()
        _read_to_eof(c, rec)
        t.join(60)

    return handler


def make_flood_handler(total=64 << 20):
    """Writes up to `total` bytes to a client that does not read, while
    reading everything the client sends (counted)."""

    def handler(c, rec):
        stop = threading.Event()

        def writer():
            chunk = b"F" * 65536
            sent = 0
            try:
                while sent < total and not stop.is_set():
                    sent += c.send(chunk)
            except OSError:
                pass
            rec["flood_sent"] = sent

        t = threading.Thread(target=writer, daemon=True)
        t.start()
        try:
            _read_to_eof(c, rec)
        finally:
            stop.set()
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            t.join(10)

    return handler


class Blackhole:
    """A listener that never answers SYNs: backlog 0, its accept queue filled
    by connections that are never accepted, so further connects time out
    (instead of being refused)."""

    def __init__(self, host=LOOP4):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.fam = fam
        self.host = host
        self.lsock = socket.socket(fam, socket.SOCK_STREAM)
        self.lsock.bind((host, 0))
        self.lsock.listen(0)
        self.port = self.lsock.getsockname()[1]
        self.fillers = []
        for _ in range(8):
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex((host, self.port))
            sel = selectors.DefaultSelector()
            sel.register(s, selectors.EVENT_WRITE)
            ready = sel.select(0.3)
            sel.close()
            if ready and s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                self.fillers.append(s)
            else:
                s.close()
                break
        if not self.verify():
            self.close()
            raise RuntimeError("SYN-dropping listener does not work on this kernel "
                               "(connect was not left unanswered)")

    def verify(self, timeout=0.5):
        """True if a connect to it times out (neither refused nor accepted)."""
        s = socket.socket(self.fam, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect((self.host, self.port))
            return False
        except socket.timeout:
            return True
        except OSError:
            return False
        finally:
            s.close()

    def close(self):
        for s in self.fillers:
            s.close()
        self.fillers = []
        self.lsock.close()

    stop = close


class Backends:
    """Factory for backends; everything it starts is stopped by close_all()."""

    def __init__(self):
        self.items = []

    def _add(self, item):
        self.items.append(item)
        return item

    def echo(self, host=LOOP4, port=0):
        return self._add(SelectorServer("echo", host=host, port=port))

    def tag(self, name, host=LOOP4, port=0):
        return self._add(SelectorServer("tag", tag=name, host=host, port=port))

    def threaded(self, handler, host=LOOP4, port=0):
        return self._add(ThreadedServer(handler, host=host, port=port))

    def halfclose(self, host=LOOP4):
        return self.threaded(halfclose_handler, host=host)

    def blackhole(self, host=LOOP4):
        return self._add(Blackhole(host))

    def close_all(self):
        for item in reversed(self.items):
            try:
                item.stop()
            except Exception:
                pass
        self.items = []


def channel(server_or_port, host=LOOP4, maxc=None):
    """`host:port[:maxc]` (IPv6 hosts bracketed)."""
    port = server_or_port if isinstance(server_or_port, int) else server_or_port.port
    h = f"[{host}]" if ":" in host else host
    s = f"{h}:{port}"
    if maxc is not None:
        s += f":{maxc}"
    return s


def sources(n=59, first=2):
    """Client source addresses 127.0.0.<first>..: distinct hash identities."""
    return [f"127.0.0.{i}" for i in range(first, first + n)]


def make_runtime_dir(base=None, mode=0o700):
    d = tempfile.mkdtemp(prefix="balance-rt-", dir=base)
    os.chmod(d, mode)
    return d


def remove_tree(path):
    shutil.rmtree(path, ignore_errors=True)


def ipv6_available():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind((LOOP6, 0))
        return True
    except OSError:
        return False


def errno_name(exc):
    return errno.errorcode.get(getattr(exc, "errno", None) or 0, repr(exc))
