"""`balance top`: --batch snapshots against a known load (rates within a
tolerance), a fleet with its total row, the full-screen view driven in
tmux (rows shown, `d` disables the selected channel, `q` gives the terminal
back), a lost instance, and bad arguments."""
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from harness import (BALANCE_BIN, LOOP4, channel, free_listen_port, free_port, scaled,
                     wait_for)

# A download of RATE bytes a second: CHUNK every CHUNK/RATE seconds.
RATE = 400_000
CHUNK = 20_000


def paced_sender(conn, rec):
    """Sends CHUNK bytes every CHUNK/RATE s until the client leaves."""
    try:
        while True:
            conn.sendall(b"x" * CHUNK)
            time.sleep(CHUNK / RATE)
    except OSError:
        pass


class Downloader(threading.Thread):
    """One client reading everything through the proxy."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.sock = socket.create_connection((LOOP4, port), timeout=scaled(5))
        self.stop_ev = threading.Event()
        self.start()

    def run(self):
        try:
            while not self.stop_ev.is_set():
                if not self.sock.recv(65536):
                    return
        except OSError:
            pass

    def stop(self):
        self.stop_ev.set()
        self.sock.close()
        self.join(scaled(5))


class Connector(threading.Thread):
    """PER_SECOND short connections a second (connect, close)."""

    def __init__(self, port, per_second):
        super().__init__(daemon=True)
        self.port, self.gap = port, 1.0 / per_second
        self.stop_ev = threading.Event()
        self.start()

    def run(self):
        next_at = time.monotonic()
        while not self.stop_ev.is_set():
            try:
                socket.create_connection((LOOP4, self.port), timeout=2).close()
            except OSError:
                pass
            next_at += self.gap
            self.stop_ev.wait(max(0, next_at - time.monotonic()))

    def stop(self):
        self.stop_ev.set()
        self.join(scaled(5))


def run_top(args, env, timeout=30):
    return subprocess.run([BALANCE_BIN, "top"] + args, env=env, capture_output=True,
                          text=True, timeout=scaled(timeout))


def snapshots(text):
    """Each --batch snapshot's table rows as dicts."""
    out = []
    for block in text.strip().split("\n\n"):
        lines = block.splitlines()
        head = next(i for i, l in enumerate(lines) if "ADDRESS:PORT" in l)
        names = lines[head].split()
        rows = []
        for line in lines[head + 1:]:
            cells = line.split()
            if cells[0] == "total":
                rows.append({"total": True, "cells": cells})
                continue
            rows.append(dict(zip(names, cells[len(cells) - len(names):])) | {"line": line})
        out.append({"header": lines[:head], "rows": rows})
    return out


def rate(text):
    """'399K' → 399000.0"""
    units = {"K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
    return float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text)


def test_batch_rates_match_a_known_load(start_balance, backends, env):
    sender = backends.threaded(paced_sender)
    idle = backends.echo()
    bal = start_balance([free_listen_port(), channel(sender), channel(idle)])
    # Round robin: the download goes to channel 0, the connector's
    # connections alternate over both.
    dl = Downloader(bal.port)
    conns = Connector(bal.port, 10)
    try:
        time.sleep(1)  # the pace settles (a load, not a synchronisation)
        res = run_top([str(bal.port), "--batch", "3", "--interval", "1"], env)
    finally:
        conns.stop()
        dl.stop()
    assert res.returncode == 0, res.stderr
    snaps = snapshots(res.stdout)
    assert len(snaps) == 3, res.stdout
    for snap in snaps[1:]:  # the first one's interval began at start
        assert snap["header"][0].startswith("balance top: 1 instance"), snap["header"]
        assert snap["header"][1].startswith(f"port {bal.port}: balance "), snap["header"]
        rows = snap["rows"]
        assert [(r["GRP"], r["#"]) for r in rows] == [("0", "0"), ("0", "1")], rows
        out0 = rate(rows[0]["OUT/S"])
        assert 0.6 * RATE < out0 < 1.4 * RATE, rows[0]["line"]
        assert rate(rows[1]["OUT/S"]) < 0.1 * RATE, rows[1]["line"]
        total_conns = rate(rows[0]["CONN/S"]) + rate(rows[1]["CONN/S"])
        assert 5 <= total_conns <= 14, [r["line"] for r in rows]
        assert rows[0]["S"] == "ENA" and rows[0]["HEALTH"] == "-"


def _tls(pki, side):
    return ["--tls-cert", pki[f"{side}_cert"], "--tls-key", pki[f"{side}_key"],
            "--tls-ca", pki["ca"]]


def test_fleet_over_control_endpoints(start_balance, backends, env, pki):
    """Every instance under its label, and a total row."""
    endpoints = []
    for _ in range(2):
        endpoint = f"{LOOP4}:{free_port(LOOP4)}"
        bal = start_balance(["--control-listen", endpoint] + _tls(pki, "server")
                            + [free_listen_port(), channel(backends.echo())], foreground=False)
        socket.create_connection((LOOP4, bal.port), timeout=scaled(5)).close()
        endpoints.append(endpoint)
    args = []
    for ep in endpoints:
        args += ["--control", ep]
    res = run_top(args + _tls(pki, "client") + ["--batch", "1", "--interval", "0.5"], env)
    assert res.returncode == 0, res.stderr
    snap = snapshots(res.stdout)[0]
    assert snap["header"][0].startswith("balance top: 2 instances"), snap["header"]
    assert [h.split(":")[0] + ":" + h.split(":")[1] for h in snap["header"][1:]] == endpoints, snap
    labels = [r["line"].split()[0] for r in snap["rows"] if "line" in r]
    assert labels == endpoints, labels
    total = snap["rows"][-1]
    assert total.get("total"), snap["rows"]
    assert total["cells"][-1] == "2", total  # totalc: one connection each


def test_a_lost_instance_is_shown_and_top_goes_on(start_balance, backends, env):
    bal = start_balance([free_listen_port(), channel(backends.echo())])
    proc = subprocess.Popen([BALANCE_BIN, "top", str(bal.port), "--batch", "3",
                             "--interval", "0.7"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.3)
        bal.stop()
        out, err = proc.communicate(timeout=scaled(30))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert f"port {bal.port}: lost (" in out and "retrying" in out, out


@pytest.mark.parametrize("args,word", [
    (["--batch", "0", "8888"], "--batch"),
    (["--interval", "0.01", "8888"], "--interval"),
    (["--interval", "x", "8888"], "--interval"),
    ([], "port"),
])
def test_bad_top_arguments_are_usage_errors(args, word, env):
    res = run_top(args, env, timeout=10)
    assert res.returncode == 64, (res.stdout, res.stderr)
    assert word in res.stderr, res.stderr


def test_top_options_outside_top_are_refused(env):
    res = subprocess.run([BALANCE_BIN, "--batch", "2", "8888", "localhost:80"], env=env,
                         capture_output=True, text=True, timeout=scaled(10))
    assert res.returncode == 64 and "balance top" in res.stderr, res.stderr


def test_top_without_a_terminal_asks_for_batch(start_balance, backends, env):
    bal = start_balance([free_listen_port(), channel(backends.echo())])
    res = subprocess.run([BALANCE_BIN, "top", str(bal.port)], env=env, stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, timeout=scaled(10))
    assert res.returncode == 64 and "--batch" in res.stderr, res.stderr


# ---------------------------------------------------------------- full screen in tmux

needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None,
                                reason="tmux is not installed (scripts/setup installs it)")


class Tmux:
    """A detached tmux server of this test's own (its own socket)."""

    def __init__(self, workdir, env):
        self.sock = os.path.join(workdir, "tmux.sock")
        self.env = env

    def run(self, *args, check=True):
        return subprocess.run(["tmux", "-S", self.sock] + list(args), env=self.env,
                              capture_output=True, text=True, timeout=scaled(10), check=check)

    def capture(self):
        return self.run("capture-pane", "-p", "-t", "top").stdout

    def fmt(self, what):
        return self.run("display-message", "-p", "-t", "top", what).stdout.strip()

    def log_output(self, path):
        """Copies what the pane's program writes from now on to `path`."""
        self.run("pipe-pane", "-t", "top", "-o", f"cat > {path}")

    def kill(self):
        self.run("kill-server", check=False)


def process_alive(pid):
    """Running (a zombie has exited: tmux reaps a remain-on-exit pane's
    process only later)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def cursor_shown_at_the_end(log_path):
    """What top wrote ends the hidden cursor (a dead pane's cursor_flag
    says nothing: tmux clears it when it marks the pane dead)."""
    text = open(log_path, encoding="latin-1").read()
    if "\x1b[?1049l" not in text:
        return False
    return text.rfind("\x1b[?25h") > text.rfind("\x1b[?25l")


@needs_tmux
def test_full_screen_select_disable_and_quit(start_balance, backends, env, workdir):
    a, b = backends.echo(), backends.echo()
    bal = start_balance([free_listen_port(), channel(a), channel(b)])
    tm = Tmux(workdir, env)
    try:
        exit_file = os.path.join(workdir, "top.exit")
        tm.run("new-session", "-d", "-s", "top", "-x", "150", "-y", "30",
               f"{BALANCE_BIN} top {bal.port} --interval 0.3; echo $? > {exit_file}")
        tm.run("set-option", "-t", "top", "remain-on-exit", "on")
        log = os.path.join(workdir, "pane.log")
        tm.log_output(log)
        screen = wait_for(lambda: (lambda s: s if f"127.0.0.1:{b.port}" in s else None)(tm.capture()),
                            timeout=10, what="top shows the rows")
        assert "> " in screen and f"127.0.0.1:{a.port}" in screen, screen
        assert tm.fmt("#{alternate_on}") == "1"
        tm.run("send-keys", "-t", "top", "j")
        tm.run("send-keys", "-t", "top", "d")
        wait_for(lambda: bal.row(0, 1)["state"] == "dis", timeout=10,
                   what="channel 1 disabled through top")
        assert bal.row(0, 0)["state"] == "ENA"
        wait_for(lambda: "channel 1 disabled" in tm.capture(), timeout=10,
                   what="the status line confirms")
        tm.run("send-keys", "-t", "top", "q")
        # tmux marks the pane dead before it has the exit status
        # (tmux's pane_dead_status is sometimes never set: the shell
        # around top writes the status instead)
        status = wait_for(lambda: open(exit_file).read().strip() if os.path.exists(exit_file) else None,
                          timeout=10, what="top exits on q")
        assert status == "0", status
        assert tm.fmt("#{alternate_on}") == "0", "the alternate screen was left on"
        wait_for(lambda: cursor_shown_at_the_end(log), timeout=5, what="the cursor shown again")
    finally:
        tm.kill()


@needs_tmux
def test_full_screen_read_only_and_sigterm_restore_the_terminal(start_balance, backends, env, workdir):
    bal = start_balance([free_listen_port(), channel(backends.echo())])
    tm = Tmux(workdir, env)
    try:
        tm.run("new-session", "-d", "-s", "top", "-x", "150", "-y", "30",
               f"{BALANCE_BIN} top {bal.port} --read-only --interval 0.3")
        tm.run("set-option", "-t", "top", "remain-on-exit", "on")
        log = os.path.join(workdir, "pane.log")
        tm.log_output(log)
        wait_for(lambda: "read-only" in tm.capture(), timeout=10, what="top is up")
        tm.run("send-keys", "-t", "top", "d")
        wait_for(lambda: "enable and disable are off" in tm.capture(), timeout=10,
                   what="d refused")
        assert bal.row(0, 0)["state"] == "ENA"
        pid = int(tm.fmt("#{pane_pid}"))
        os.kill(pid, 15)
        wait_for(lambda: tm.fmt("#{pane_dead}") == "1", timeout=10, what="top exits on SIGTERM")
        # the pane dies when top's terminal closes, a moment before tmux
        # has reaped it
        wait_for(lambda: not process_alive(pid), timeout=5, what="top gone after SIGTERM")
        assert tm.fmt("#{alternate_on}") == "0"
        wait_for(lambda: cursor_shown_at_the_end(log), timeout=5, what="the cursor shown again")
    finally:
        tm.kill()
