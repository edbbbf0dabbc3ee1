"""`balance -i` on a terminal: line editing (libedit) reads from a pty, the
prompt names the current group, commands run, quit leaves cleanly."""
import os
import shutil
import subprocess

import pytest

from harness import channel, free_listen_port

pytestmark = pytest.mark.skipif(shutil.which("script") is None,
                                reason="util-linux script(1) gives the pty")


def run_on_tty(balance_bin, args, env, keys, timeout=15):
    """Runs balance under script(1), so its stdin is a terminal."""
    cmd = " ".join([balance_bin] + [str(a) for a in args])
    proc = subprocess.run(["script", "-qec", cmd, "/dev/null"], input=keys.encode(),
                          env=env, capture_output=True, timeout=timeout)
    return proc.returncode, proc.stdout.decode(errors="replace").replace("\r", "")


def test_interactive_shell_on_a_terminal(balance_bin, start_balance, backends, env):
    a, b = backends.echo(), backends.echo()
    bal = start_balance([free_listen_port(), channel(a), "!", channel(b)])
    rc, out = run_on_tty(balance_bin, ["-i", bal.port], env,
                         "show\ngroup 1\ndisable 0\nquit\n")
    assert rc == 0, out
    assert "interactive command shell" in out
    assert "balance[0] " in out and "balance[1] " in out, out
    assert "GRP Type  #   S       ip-address" in out, out
    assert "channel 0 disabled" in out, out
    assert [r["state"] for r in bal.show()] == ["ENA", "dis"]
