"""Fixtures for balance's end-to-end tests (see harness.py for helpers).

Every test gets its own runtime dir (env BALANCE_RUNTIME_DIR), its own
backends and balance instances; all of them are stopped by pid in the
finalizers.  A per-test alarm (BALANCE_TEST_TIMEOUT, default 60 s) turns a
hang into a failure so that a whole file stays within ctest's timeout.
"""

import os
import resource
import signal
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

TEST_TIMEOUT = int(os.environ.get("BALANCE_TEST_TIMEOUT", "60"))


def pytest_configure(config):
    config.addinivalue_line("markers", "timeout_s(n): per-test alarm in seconds")
    # Daemons are handed to us when their parent exits: their exit statuses
    # are checked when they are stopped (harness.Balance.stop).
    harness.become_subreaper()
    # 500 concurrent connections need ~1000 fds here and in balance.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 16384 if hard == resource.RLIM_INFINITY else min(hard, 16384)
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (ValueError, OSError):
            pass


@pytest.fixture(scope="session")
def balance_bin():
    path = harness.BALANCE_BIN
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"balance binary not found or not executable: {path} (set BALANCE_BIN)")
    return path


class _TestTimeout(Exception):
    pass


@pytest.fixture(autouse=True)
def _alarm(request):
    marker = request.node.get_closest_marker("timeout_s")
    seconds = max(1, round(harness.scaled(marker.args[0] if marker else TEST_TIMEOUT)))

    def on_alarm(signum, frame):
        raise _TestTimeout(f"test exceeded {seconds}s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """Certificates for mutual TLS (see pki.py); skips without openssl."""
    import shutil

    from pki import make_pki
    if shutil.which("openssl") is None:
        pytest.skip("no openssl CLI")
    return make_pki(str(tmp_path_factory.mktemp("pki")))


SANITIZER_OPTION_VARS = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")


@pytest.fixture(autouse=True)
def _sanitizer_reports(tmp_path):
    """In a sanitizer build every balance process this test starts writes
    its reports to files here (a daemon's stderr is /dev/null), and a test
    whose processes left one fails with it.  Autouse, so set up before
    `env` copies os.environ and torn down after every instance is stopped.
    (Harmless for an uninstrumented binary: it ignores these variables.)"""
    logs = tmp_path / "sanitizer"
    logs.mkdir()
    saved = {k: os.environ.get(k) for k in SANITIZER_OPTION_VARS}
    for k in SANITIZER_OPTION_VARS:
        prefix = k.split("_")[0].lower()
        os.environ[k] = ":".join(filter(None, [saved[k], f"log_path={logs}/{prefix}"]))
    try:
        yield str(logs)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    reports = harness.sanitizer_reports(str(logs))
    if reports:
        pytest.fail("sanitizer report(s) from balance processes of this test:\n" + reports,
                    pytrace=False)


@pytest.fixture
def workdir(tmp_path):
    return str(tmp_path)


@pytest.fixture
def runtime_dir(tmp_path):
    d = tmp_path / "rt"
    d.mkdir(mode=0o700)
    return str(d)


@pytest.fixture
def env(runtime_dir):
    e = dict(os.environ)
    e["BALANCE_RUNTIME_DIR"] = runtime_dir
    e.setdefault("LC_ALL", "C")
    return e


@pytest.fixture
def backends():
    b = harness.Backends()
    yield b
    b.close_all()


@pytest.fixture
def start_balance(balance_bin, env, workdir, _sanitizer_reports):
    """start_balance(args, foreground=True, env=None, ready=True) → Balance.

    Foreground instances get -f and are waited for (listening + rendezvous
    file); daemon instances must return exit 0 (ready and controllable)."""
    started = []

    def _start(args, foreground=True, env=None, ready=True, ready_timeout=15.0, rlimit_nofile=None):
        b = harness.Balance(args, env or _env_default(), foreground, workdir, rlimit_nofile=rlimit_nofile)
        started.append(b)
        b.start(ready=ready, ready_timeout=ready_timeout)
        return b

    def _env_default():
        return env

    yield _start
    failures = []
    for b in reversed(started):
        try:
            b.stop()
        except AssertionError as exc:  # stop the others first, then report
            failures.append(str(exc))
    if failures:
        # pytest shows one teardown error per test: include the reports
        # that probably explain the exit status.
        reports = harness.sanitizer_reports(_sanitizer_reports)
        pytest.fail("instance ended badly: " + "\n".join(failures)
                    + (f"\nsanitizer report(s):\n{reports}" if reports else ""), pytrace=False)


@pytest.fixture
def ctl(env):
    """ctl(cmd, port, bind=None) → (rc, stdout, stderr) with this test's env."""

    def _ctl(cmd, port, bind=None, timeout=10.0, env_=None):
        return harness.run_ctl(cmd, port, env_ or env, bind=bind, timeout=timeout)

    return _ctl


@pytest.fixture
def guard_ports():
    """Ports a test expects nothing to be started on: whatever still listens
    there at teardown (a daemon started by mistake) is killed by pid."""
    ports = []
    yield ports
    for port in ports:
        for pid in harness.pids_listening(port):
            if pid != os.getpid():
                harness.kill_pid(pid)
