"""The Debian package as an operator gets it: `cpack` in the build tree
makes balance_<version>_amd64.deb; unpacked, its binary runs and proxies,
its man page renders, its systemd unit is well-formed, and its Depends name
the runtime libraries."""

import os
import re
import shutil
import subprocess

import pytest

from harness import (BALANCE_BIN, channel, connect, echo_roundtrip, free_listen_port, parse_show,
                     run_ctl, scaled, wait_for)

BUILD_DIR = os.path.dirname(os.path.abspath(BALANCE_BIN))

pytestmark = pytest.mark.skipif(
    not os.path.isfile(os.path.join(BUILD_DIR, "CPackConfig.cmake")),
    reason="BALANCE_BIN is not in a CMake build tree")


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("deb"))
    p = subprocess.run(["cpack", "-G", "DEB", "-B", out], cwd=BUILD_DIR, capture_output=True,
                       timeout=scaled(300), stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()
    debs = [f for f in os.listdir(out) if f.endswith(".deb")]
    assert len(debs) == 1 and re.fullmatch(r"balance_[0-9.]+_amd64\.deb", debs[0]), debs
    deb = os.path.join(out, debs[0])
    tree = os.path.join(out, "root")
    subprocess.run(["dpkg-deb", "-x", deb, tree], check=True, timeout=60)
    return deb, tree


def _field(deb, name):
    return subprocess.run(["dpkg-deb", "-f", deb, name], capture_output=True, check=True,
                          timeout=30).stdout.decode()


def test_metadata_and_depends(package):
    deb, _ = package
    depends = _field(deb, "Depends")
    for lib in ("libcaf-core", "libcaf-io", "libssl3", "libedit2", "libstdc++6"):
        assert lib in depends, f"Depends lacks {lib}: {depends!r}"
    assert _field(deb, "Package").strip() == "balance"
    assert _field(deb, "Section").strip() == "net"
    assert "balance 3.54" in _field(deb, "Description")


def test_unpacked_binary_runs_and_proxies(package, env, backends):
    _, tree = package
    binary = os.path.join(tree, "usr", "bin", "balance")
    p = subprocess.run([binary, "--version"], capture_output=True, timeout=30)
    assert p.returncode == 0 and p.stdout.decode().startswith("balance "), p
    be = backends.echo()
    port = free_listen_port()
    d = subprocess.Popen([binary, "-f", str(port), channel(be)], env=env,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: run_ctl("show", port, env)[0] == 0, 15, interval=0.1,
                 what="the packaged balance to answer")
        s = connect(port)
        try:
            assert echo_roundtrip(s, b"packaged\n") == b"packaged\n"
        finally:
            s.close()
        assert len(parse_show(run_ctl("show", port, env)[1])) == 1
    finally:
        d.terminate()
        assert d.wait(scaled(10)) == 0


def test_man_page_renders(package):
    _, tree = package
    page = os.path.join(tree, "usr", "share", "man", "man1", "balance.1")
    p = subprocess.run(["man", "-l", page], capture_output=True, timeout=30,
                       env=dict(os.environ, MANPAGER="cat", PAGER="cat", MANWIDTH="80"))
    text = p.stdout.decode()
    assert p.returncode == 0 and "CONTROL AND SECURITY" in text, (p.returncode, p.stderr)


def test_systemd_unit(package, tmp_path):
    _, tree = package
    unit = os.path.join(tree, "usr", "lib", "systemd", "system", "balance@.service")
    text = open(unit).read()
    assert "Type=notify" in text
    assert "ExecStart=/usr/bin/balance -f $BALANCE_ARGS" in text
    assert "ExecReload=/usr/bin/balance -c upgrade --pid $MAINPID" in text
    if shutil.which("systemd-analyze") is None:
        pytest.skip("no systemd-analyze")
    # verify wants the environment file and the binary where the unit says.
    root = str(tmp_path / "root")
    shutil.copytree(tree, root, symlinks=True)
    os.makedirs(os.path.join(root, "etc", "default"))
    with open(os.path.join(root, "etc", "default", "balance-web"), "w") as f:
        f.write('BALANCE_ARGS="8080 127.0.0.1:80"\n')
    p = subprocess.run(["systemd-analyze", "verify", "--man=no", f"--root={root}",
                        "balance@web.service"], capture_output=True, timeout=60)
    # The unpacked tree has no systemd of its own: missing targets are not
    # the unit's fault; anything else said about it is.
    problems = [line for line in p.stderr.decode().splitlines()
                if line.strip() and "target not found" not in line]
    assert not problems, p.stderr.decode()
