"""The control options, through the external interface only (command line,
exit status, printed text): --control with several targets and their
`== host:port ==` labels, --secret-file, --insecure-control,
--tls-passphrase-file, and the documented exit statuses 77 (control
refused: wrong or unreadable secret) and 78 (bad TLS files)."""

import os
import re
import shutil

import pytest

from harness import (EX_OSERR, EX_UNAVAILABLE, EX_USAGE, LOOP4, LOOP6, channel, connect, dead_port,
                     echo_roundtrip, free_listen_port, free_port, ipv6_available, parse_show,
                     pids_listening, run_balance, run_ctl, wait_counters_zero)

EX_NOPERM = 77
EX_CONFIG = 78

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl CLI")


def _tls(pki, side, key=None, passphrase=None):
    """--tls-* arguments for `side` ("server" or "client")."""
    args = ["--tls-cert", pki[f"{side}_cert"], "--tls-key", key or pki[f"{side}_key"],
            "--tls-ca", pki["ca"]]
    if passphrase:
        args += ["--tls-passphrase-file", passphrase]
    return args


def _start_with_control(start_balance, backends, extra=(), host=LOOP4):
    """A daemon that also publishes its control endpoint on host:<port>;
    returns (instance, backend, "host:port").  Daemon mode: the start
    returns once the instance is controllable."""
    be = backends.echo()
    endpoint = f"{host}:{free_port(LOOP6 if host.startswith('[') else LOOP4)}"
    bal = start_balance(["--control-listen", endpoint] + list(extra)
                        + [free_listen_port(), channel(be)], foreground=False)
    return bal, be, endpoint


def _remote(cmd, endpoints, env, extra=()):
    args = ["-c", cmd]
    for ep in endpoints:
        args += ["--control", ep]
    return run_balance(args + list(extra), env, timeout=20)


LABEL_RE = re.compile(r"^== (.+) ==$", re.M)


def _sections(out):
    """[(label, text under it)] of a fleet's output, in order."""
    marks = list(LABEL_RE.finditer(out))
    return [(m.group(1), out[m.end():marks[i + 1].start() if i + 1 < len(marks) else len(out)])
            for i, m in enumerate(marks)]


def _forged_copy(bal, path):
    """The instance's control file with a wrong secret of the same length,
    written to `path` (mode 0600)."""
    text = open(bal.rendezvous_path()).read()
    m = re.search(r"(?m)^secret=(\S+)$", text)
    assert m, f"no secret= line in the control file: {text!r}"
    real = m.group(1)
    wrong = real[:-1] + ("0" if real[-1] != "0" else "1")
    with open(path, "w") as f:
        f.write(text.replace(f"secret={real}", f"secret={wrong}"))
    os.chmod(path, 0o600)
    return path


def _assert_untouched(bal, be):
    """The instance survived a refused request unchanged and still relays."""
    assert bal.alive(), "the instance is gone"
    rows = bal.show()
    assert [r["state"] for r in rows] == ["ENA"], rows
    s = connect(bal.port)
    try:
        assert echo_roundtrip(s, b"still here\n") == b"still here\n"
    finally:
        s.close()
    wait_counters_zero(bal)


# -- 77: control refused ------------------------------------------------------

REFUSED_COMMANDS = ["show", "kill", "disable 0", "mrtg-conns 0 0"]


@pytest.mark.parametrize("cmd", REFUSED_COMMANDS)
def test_wrong_secret_in_local_control_file_exits_77(cmd, start_balance, backends, workdir):
    """A control file naming the instance with a wrong secret: every command
    (show and kill included, not only the changing ones) is refused with
    77 and changes nothing."""
    be = backends.echo()
    bal = start_balance([free_listen_port(), channel(be)], foreground=False)
    forged_dir = os.path.join(workdir, "forged-rt")
    os.mkdir(forged_dir, 0o700)
    _forged_copy(bal, os.path.join(forged_dir, os.path.basename(bal.rendezvous_path())))
    rc, out, err = run_ctl(cmd, bal.port, dict(bal.env, BALANCE_RUNTIME_DIR=forged_dir))
    assert rc == EX_NOPERM, f"{cmd}: exit {rc}, want 77; stdout={out!r} stderr={err!r}"
    assert err.strip(), "no message for a refused request"
    assert not parse_show(out) and "disabled" not in out and "shutdown" not in out, out
    _assert_untouched(bal, be)


@pytest.mark.parametrize("cmd", REFUSED_COMMANDS)
def test_wrong_secret_file_exits_77(cmd, start_balance, backends, workdir, env):
    bal, be, endpoint = _start_with_control(start_balance, backends)
    forged = _forged_copy(bal, os.path.join(workdir, "forged"))
    rc, out, err = _remote(cmd, [endpoint], env, ["--secret-file", forged])
    assert rc == EX_NOPERM, f"{cmd}: exit {rc}, want 77; stdout={out!r} stderr={err!r}"
    assert err.strip(), "no message for a refused request"
    assert not parse_show(out) and "disabled" not in out and "shutdown" not in out, out
    _assert_untouched(bal, be)


@pytest.mark.parametrize("how", ["no-secret-file", "missing-secret-file"])
def test_plain_control_without_readable_secret_exits_77(how, start_balance, backends, env,
                                                         workdir):
    bal, be, endpoint = _start_with_control(start_balance, backends)
    missing = os.path.join(workdir, "does-not-exist")
    extra = [] if how == "no-secret-file" else ["--secret-file", missing]
    rc, out, err = _remote("disable 0", [endpoint], env, extra)
    assert rc == EX_NOPERM, f"exit {rc}, want 77; stdout={out!r} stderr={err!r}"
    if how == "missing-secret-file":
        assert missing in err, f"the message does not name the file: {err!r}"
    _assert_untouched(bal, be)


# -- --secret-file --------------------------------------------------------------

def test_secret_file_gives_plain_remote_control(start_balance, backends, env):
    """--control host:port --secret-file <the instance's control file>:
    show, a change and kill all work over the published endpoint."""
    bal, be, endpoint = _start_with_control(start_balance, backends)
    secret = ["--secret-file", bal.rendezvous_path()]
    rc, out, err = _remote("show", [endpoint], env, secret)
    assert rc == 0, (rc, out, err)
    assert [r["port"] for r in parse_show(out)] == [be.port], out
    rc, out, err = _remote("disable 0", [endpoint], env, secret)
    assert rc == 0 and "channel 0 disabled" in out, (rc, out, err)
    assert bal.show()[0]["state"] == "dis"
    rc, out, err = _remote("kill", [endpoint], env, secret)
    assert rc == 0 and "shutdown complete" in out, (rc, out, err)
    # stop() checks that the instance exits 0 by itself


@pytest.mark.skipif(not ipv6_available(), reason="no IPv6 loopback")
def test_control_on_ipv6_loopback(start_balance, backends, env):
    """[::1]:port on both sides: loopback, so no TLS is needed."""
    bal, be, endpoint = _start_with_control(start_balance, backends, host=f"[{LOOP6}]")
    rc, out, err = _remote("show", [endpoint], env, ["--secret-file", bal.rendezvous_path()])
    assert rc == 0, (rc, out, err)
    assert [r["port"] for r in parse_show(out)] == [be.port], out


# -- several --control targets --------------------------------------------------

@needs_openssl
def test_several_targets_each_reply_labelled(start_balance, backends, pki, env):
    """One command to a fleet: every instance answers under its own
    `== host:port ==` label, in command-line order; changes apply to each."""
    fleet = [_start_with_control(start_balance, backends, _tls(pki, "server")) for _ in range(2)]
    endpoints = [ep for _, _, ep in fleet]
    client = _tls(pki, "client")
    rc, out, err = _remote("show", endpoints, env, client)
    assert rc == 0, (rc, out, err)
    sections = _sections(out)
    assert [label for label, _ in sections] == endpoints, out
    for (label, text), (bal, be, ep) in zip(sections, fleet):
        assert [r["port"] for r in parse_show(text)] == [be.port], f"{label}: {text!r}"
    rc, out, err = _remote("disable 0", endpoints, env, client)
    assert rc == 0, (rc, out, err)
    assert [label for label, _ in _sections(out)] == endpoints, out
    assert all("channel 0 disabled" in text for _, text in _sections(out)), out
    for bal, _, _ in fleet:
        assert bal.show()[0]["state"] == "dis"


@needs_openssl
def test_several_targets_go_on_past_an_unreachable_one(start_balance, backends, pki, env):
    """An unreachable instance is reported under its label, the others still
    answer, and the exit status says one failed (69)."""
    bal, be, endpoint = _start_with_control(start_balance, backends, _tls(pki, "server"))
    gone = f"{LOOP4}:{dead_port()}"
    rc, out, err = _remote("show", [gone, endpoint], env, _tls(pki, "client"))
    assert rc == EX_UNAVAILABLE, (rc, out, err)
    sections = dict(_sections(out))
    assert list(sections) == [gone, endpoint], out
    assert not parse_show(sections[gone]) and "no master process" in sections[gone], out
    assert [r["port"] for r in parse_show(sections[endpoint])] == [be.port], out


# -- --insecure-control ---------------------------------------------------------

@pytest.mark.parametrize("foreground", [True, False], ids=["foreground", "daemon"])
def test_insecure_control_lifts_the_tls_requirement(foreground, backends, env, guard_ports):
    """A non-loopback --control-listen without TLS files is refused (64,
    naming the way out); with --insecure-control that check is gone and the
    instance goes on to publish there.  192.0.2.1 (TEST-NET) is never local,
    so that publish fails (71) and nothing non-loopback is ever bound."""
    be = backends.echo()
    port = free_listen_port()
    guard_ports.append(port)
    endpoint = f"192.0.2.1:{free_port(LOOP4)}"
    base = (["-f"] if foreground else []) + ["--control-listen", endpoint]
    rc, out, err = run_balance(base + [str(port), channel(be)], env, timeout=20)
    assert rc == EX_USAGE, (rc, err)
    assert "--insecure-control" in err and "--tls-" in err, err
    rc, out, err = run_balance(base + ["--insecure-control", str(port), channel(be)], env,
                               timeout=20)
    assert rc == EX_OSERR, (rc, err)
    assert endpoint in err and "--insecure-control" not in err, err
    assert not pids_listening(port)


def test_insecure_control_on_a_host_name(start_balance, backends, env):
    """--control-listen by host name (not a loopback address literal) needs
    --insecure-control without TLS; with it the endpoint works."""
    bal, be, endpoint = _start_with_control(start_balance, backends, ["--insecure-control"],
                                            host="localhost")
    rc, out, err = _remote("show", [endpoint], env, ["--secret-file", bal.rendezvous_path()])
    assert rc == 0, (rc, out, err)
    assert [r["port"] for r in parse_show(out)] == [be.port], out


# -- --tls-passphrase-file ------------------------------------------------------

@needs_openssl
def test_passphrase_file_unlocks_encrypted_keys(start_balance, backends, pki, env):
    bal, be, endpoint = _start_with_control(
        start_balance, backends,
        _tls(pki, "server", pki["server_key_encrypted"], pki["passphrase"]))
    rc, out, err = _remote("show", [endpoint], env,
                           _tls(pki, "client", pki["client_key_encrypted"], pki["passphrase"]))
    assert rc == 0, (rc, out, err)
    assert [r["port"] for r in parse_show(out)] == [be.port], out


# -- 78: bad TLS files ----------------------------------------------------------

# (id, side, how the files are spoiled, the path the message must name)
BAD_TLS = [
    ("server-missing-key", "server", {"key": "MISSING"}, "MISSING"),
    ("server-garbage-cert", "server", {"cert": "garbage"}, "garbage"),
    ("server-cert-only", "server", {"key": None, "ca": None}, "--tls-key"),
    ("server-key-of-another-cert", "server", {"key": "client_key"}, "client_key"),
    ("server-garbage-ca", "server", {"ca": "garbage"}, "garbage"),
    ("server-wrong-passphrase", "server",
     {"key": "server_key_encrypted", "passphrase": "wrong_passphrase"}, "server_key_encrypted"),
    ("server-no-passphrase", "server", {"key": "server_key_encrypted"}, "server_key_encrypted"),
    ("server-missing-passphrase-file", "server",
     {"key": "server_key_encrypted", "passphrase": "MISSING"}, "MISSING"),
    ("client-missing-ca", "client", {"ca": "MISSING"}, "MISSING"),
    ("client-garbage-cert", "client", {"cert": "garbage"}, "garbage"),
    ("client-wrong-passphrase", "client",
     {"key": "client_key_encrypted", "passphrase": "wrong_passphrase"}, "client_key_encrypted"),
]


def _spoiled_tls(pki, side, spoil, missing):
    files = {"cert": pki[f"{side}_cert"], "key": pki[f"{side}_key"], "ca": pki["ca"],
             "passphrase": None}
    for what, which in spoil.items():
        files[what] = None if which is None else missing if which == "MISSING" else pki[which]
    args = []
    for what, flag in (("cert", "--tls-cert"), ("key", "--tls-key"), ("ca", "--tls-ca"),
                       ("passphrase", "--tls-passphrase-file")):
        if files[what]:
            args += [flag, files[what]]
    return args


# The daemon side both in the foreground and daemonising; a client once.
BAD_TLS_RUNS = [pytest.param(c, fg, id=f"{c[0]}-{'foreground' if fg else 'daemon'}")
                for c in BAD_TLS if c[1] == "server" for fg in (True, False)] \
    + [pytest.param(c, True, id=c[0]) for c in BAD_TLS if c[1] == "client"]


@needs_openssl
@pytest.mark.parametrize("case,foreground", BAD_TLS_RUNS)
def test_bad_tls_files_exit_78(case, foreground, pki, backends, env, workdir, guard_ports):
    """A bad, missing, incomplete or locked TLS file is refused with 78 and a
    message naming it, before anything listens (the daemon side) or
    connects (the client side)."""
    name, side, spoil, named = case
    missing = os.path.join(workdir, "does-not-exist.pem")
    tls = _spoiled_tls(pki, side, spoil, missing)
    named = missing if named == "MISSING" else pki.get(named, named)
    be = backends.echo()
    port, ctl_port = free_listen_port(), free_port(LOOP4)
    guard_ports.extend([port, ctl_port])
    if side == "server":
        args = (["-f"] if foreground else []) + ["--control-listen", f"{LOOP4}:{ctl_port}"] \
            + tls + [str(port), channel(be)]
    else:
        args = ["-c", "show", "--control", f"{LOOP4}:{ctl_port}"] + tls
    rc, out, err = run_balance(args, env, timeout=20)
    assert rc == EX_CONFIG, f"{name}: exit {rc}, want 78; stderr={err!r}"
    assert named in err, f"{name}: the message does not name {named}: {err!r}"
    assert not pids_listening(port) and not pids_listening(ctl_port)
