"""`make run` end to end (SPEC §2): builds, starts its own PostgreSQL, serves, and on Ctrl-C
(SIGINT to the make process group) stops strata and the PostgreSQL it started, twice in a row.
State goes to a private STRATA_RUN_DIR so that a developer's own `make run` is never touched."""

import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

from conftest import REPO, base_env, free_port, pid_alive, port_open


def _procs_with_env(marker):
    """Live processes whose environment contains marker (e.g. STRATA_RUN_DIR=/tmp/x)."""
    found = []
    needle = marker.encode()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            env = (d / "environ").read_bytes().split(b"\0")
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if needle in env and pid_alive(int(d.name)):
            found.append(f"{d.name}: {cmd}")
    return found


def _default_signals():
    # As on a terminal: when the test runner itself was started with SIGINT ignored (a
    # background job of a non-interactive shell), make and run.sh would inherit that.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


@pytest.fixture
def run_dir():
    base = Path(tempfile.mkdtemp(prefix="strata-it-run-"))
    os.chmod(base, 0o755)  # the postgres user must reach <run dir>/pg
    d = base / "var"
    yield d
    # Last resort if the test failed half-way: stop what is left, by PID.
    subprocess.run([str(REPO / "scripts" / "pg.sh"), "stop", str(d / "pg")],
                   capture_output=True, timeout=60)
    shutil.rmtree(base, ignore_errors=True)


def _make_run_cycle(run_dir, http_port, pg_port, log_path, timeout):
    env = base_env()
    env.update({
        "STRATA_HTTP_ADDR": f"127.0.0.1:{http_port}",
        "STRATA_PG_PORT": str(pg_port),
        "STRATA_RUN_DIR": str(run_dir),
    })
    with open(log_path, "wb") as log:
        make = subprocess.Popen(["make", "run"], cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_default_signals)
    base = f"http://127.0.0.1:{http_port}"

    def output(tail=5000):
        text = log_path.read_text(errors="replace")
        return text[-tail:] if tail else text

    try:
        deadline = time.monotonic() + timeout
        while True:
            if make.poll() is not None:
                pytest.fail(f"make run exited with {make.returncode} before /readyz was 200:\n"
                            f"{output()}", pytrace=False)
            try:
                if requests.get(base + "/readyz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() >= deadline:
                pytest.fail(f"/readyz not 200 within {timeout}s of make run:\n{output()}",
                            pytrace=False)
            time.sleep(0.25)

        assert requests.get(base + "/healthz", timeout=5).json() == {"status": "ok"}

        # The private cluster lives in <run dir>/pg and listens on STRATA_PG_PORT.
        datadir = run_dir / "pg"
        pidfile = datadir / "postmaster.pid"
        assert pidfile.exists(), f"no {pidfile}: make run did not use STRATA_RUN_DIR"
        lines = pidfile.read_text().splitlines()
        pg_pid, pg_port_seen = int(lines[0]), int(lines[3])
        assert pg_port_seen == pg_port
        assert pid_alive(pg_pid)

        # Effective settings written for CLI use, secrets included, mode 600.
        envf = run_dir / "strata.env"
        assert envf.exists(), "make run did not write strata.env"
        assert stat.S_IMODE(envf.stat().st_mode) == 0o600, oct(envf.stat().st_mode)
        text = envf.read_text()
        assert f"STRATA_DATABASE_URL='postgresql://postgres@127.0.0.1:{pg_port}/strata'" in text
        assert "STRATA_ENV='development'" in text

        os.killpg(make.pid, signal.SIGINT)  # what Ctrl-C on the terminal does
        try:
            make.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"make run still running 30s after SIGINT:\n{output()}", pytrace=False)
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()

    assert not port_open(http_port), "strata still listening after make run ended"
    t0 = time.monotonic()
    while pid_alive(pg_pid) and time.monotonic() - t0 < 5:
        time.sleep(0.05)
    assert not pid_alive(pg_pid), "the PostgreSQL make run started is still running"
    assert not pidfile.exists(), f"{pidfile} left behind"
    assert not port_open(pg_port), "something still listens on STRATA_PG_PORT"
    left = _procs_with_env(f"STRATA_RUN_DIR={run_dir}")
    assert not left, "processes of this make run survived it:\n" + "\n".join(left)
    return output(tail=None)


def test_make_run_twice(run_dir, tmp_path):
    http_port, pg_port = free_port(), free_port()
    # First run may build the release binary: allow 180 s.
    out = _make_run_cycle(run_dir, http_port, pg_port, tmp_path / "run1.log", timeout=180)
    assert f"http://127.0.0.1:{http_port}" in out, "no banner with the URL"
    assert (run_dir / "pg" / "PG_VERSION").exists()
    # the admin is created with a generated password, printed once (SPEC §2)
    assert out.count("admin password for admin: ") == 1, "no generated admin password in the output"
    # Second run reuses the data folder (no initdb) and must work the same.
    out = _make_run_cycle(run_dir, http_port, pg_port, tmp_path / "run2.log", timeout=60)
    assert "initdb" not in out, "second make run ran initdb again"
    assert "admin password for" not in out, "the generated password is printed once, on creation only"
