"""Errors found after daemonising: the forked instance reports them through
its startup pipe and the command exits with the instance's code and message
(in the foreground the same error is printed directly).  Each is checked in
both modes: exit status, a message naming the cause, nothing left running.
(A non-loopback --control-listen without TLS: test_control_options.py.)"""

import os
import resource
import socket

import pytest

from harness import (EX_OSERR, EX_USAGE, LOOP4, channel, free_listen_port, pids_listening,
                     rendezvous_path, run_balance, wait_for)


def _run(foreground, args, env, preexec_fn=None):
    return run_balance((["-f"] if foreground else []) + list(args), env, timeout=20,
                       preexec_fn=preexec_fn)


def _assert_nothing_left(port, *more_ports):
    """Neither the failed instance nor a half-started daemon listens."""
    for p in (port,) + more_ports:
        wait_for(lambda: not pids_listening(p), 3, what=f"nothing listening on {p}")


MODES = pytest.mark.parametrize("foreground", [False, True], ids=["daemon", "foreground"])


@MODES
@pytest.mark.parametrize("endpoint", ["127.0.0.1", ":4711", "127.0.0.1:99999", "[::1]:x"],
                         ids=["no-port", "no-host", "port-too-big", "port-junk"])
def test_control_listen_malformed(endpoint, foreground, backends, env, guard_ports):
    be = backends.echo()
    port = free_listen_port()
    guard_ports.append(port)
    rc, out, err = _run(foreground, ["--control-listen", endpoint, port, channel(be)], env)
    assert rc == EX_USAGE, (rc, err)
    assert "--control-listen" in err and endpoint in err, err
    _assert_nothing_left(port)


@MODES
def test_control_listen_port_taken(foreground, backends, env, guard_ports):
    be = backends.echo()
    port = free_listen_port()
    guard_ports.append(port)
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        blocker.bind((LOOP4, 0))
        blocker.listen(1)
        endpoint = f"{LOOP4}:{blocker.getsockname()[1]}"
        rc, out, err = _run(foreground, ["--control-listen", endpoint, port, channel(be)], env)
        assert rc == EX_OSERR, (rc, err)
        assert endpoint in err, err
    finally:
        blocker.close()
    _assert_nothing_left(port)


@MODES
def test_runtime_directory_unusable(foreground, backends, env, workdir, guard_ports):
    """BALANCE_RUNTIME_DIR below a regular file: no control file can be
    made, so the instance does not run uncontrollable."""
    be = backends.echo()
    port = free_listen_port()
    guard_ports.append(port)
    blocker = os.path.join(workdir, "a-file")
    open(blocker, "w").close()
    bad_env = dict(env, BALANCE_RUNTIME_DIR=os.path.join(blocker, "rt"))
    rc, out, err = _run(foreground, [port, channel(be)], bad_env)
    assert rc == EX_OSERR, (rc, err)
    assert err.strip(), "no message"
    _assert_nothing_left(port)


@MODES
def test_control_file_cannot_be_written(foreground, backends, env, runtime_dir, guard_ports):
    """A directory where the control file must go: writing it fails."""
    be = backends.echo()
    port = free_listen_port()
    guard_ports.append(port)
    path = rendezvous_path(runtime_dir, port)
    os.mkdir(path)
    rc, out, err = _run(foreground, [port, channel(be)], env)
    assert rc == EX_OSERR, (rc, err)
    assert path in err, err
    _assert_nothing_left(port)
    assert os.path.isdir(path)


def test_daemon_dying_before_its_verdict(backends, env, guard_ports):
    """A daemon that dies during startup without reporting (here: killed by
    SIGXFSZ as it writes its control file, under RLIMIT_FSIZE 0) makes the
    command fail with 71 and say so, instead of hanging or claiming
    success."""
    be = backends.echo()
    port = free_listen_port()
    guard_ports.append(port)

    def no_file_writes():
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    # A coverage build's waiting parent would write its counters, which the
    # limit forbids too: send them where no file can be made instead.
    no_counters = dict(env, GCOV_PREFIX="/proc/self/no-coverage-counters")
    rc, out, err = _run(False, [port, channel(be)], no_counters, preexec_fn=no_file_writes)
    assert rc == EX_OSERR, (rc, err)
    assert "startup" in err, err
    _assert_nothing_left(port)
