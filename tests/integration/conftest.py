"""Integration test harness: real PostgreSQL (+PostGIS) and real strata processes.

* ``pg`` (session): one throwaway cluster (scripts/pg.sh) on a free port with a template
  database ``tmpl`` that has PostGIS; stopped at the end of the session, also on Ctrl-C.
* ``db_url`` (function): ``CREATE DATABASE t_<n> TEMPLATE tmpl``, dropped afterwards.
* ``start_strata`` (function): starts ``$STRATA_BIN`` (e.g. ``serve``) on a free port against
  ``db_url`` and waits for /healthz. At teardown every server still running is stopped, and a
  test fails when a server's stderr shows an AddressSanitizer / UBSan / LeakSanitizer report.
* ``PgCluster``: a private cluster for tests that need their own (stop/start the database).

Run: ``STRATA_BIN=$PWD/build/debug/strata /usr/bin/python3 -m pytest -q tests/integration``
(``make test`` does this). Uses Debian's python3-pytest, python3-requests, python3-psycopg.
"""

import atexit
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
PG_SH = REPO / "scripts" / "pg.sh"
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")
FAST_PG_OPTS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"

STRATA_BIN = os.environ.get("STRATA_BIN", "")


def pytest_configure(config):
    if not STRATA_BIN:
        raise pytest.UsageError(
            "STRATA_BIN is not set: run `make test`, or "
            "STRATA_BIN=$PWD/build/debug/strata /usr/bin/python3 -m pytest tests/integration")
    if not os.access(STRATA_BIN, os.X_OK):
        raise pytest.UsageError(f"STRATA_BIN={STRATA_BIN} is not an executable file (make debug?)")


# --- small helpers ------------------------------------------------------------------------------


def free_port():
    """A TCP port that was free a moment ago (bind to port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def pid_alive(pid):
    """Live and not a zombie (PID 1 of this machine may not reap orphans)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_until(pred, timeout, interval=0.1, what="condition"):
    """Polls pred() until it returns something other than None/False (exceptions count as
    None); returns that, or fails after timeout. (A requests.Response for a 4xx/5xx is falsy,
    hence no plain truthiness test.)"""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = pred()
        except Exception as e:  # noqa: BLE001 - keep polling through transient errors
            last = None
            err = e
        else:
            err = None
        if last is not None and last is not False:
            return last
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}"
                        + (f" (last error: {err!r})" if err else ""))
        time.sleep(interval)


def base_env():
    """os.environ without any STRATA_* (a developer's own settings must not leak in) and
    without make's variables, plus the sanitizer options make test uses."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("STRATA_") and k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS",
                                                          "MAKEOVERRIDES")}
    env.setdefault("ASAN_OPTIONS", "abort_on_error=1:detect_leaks=1:strict_string_checks=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    env.setdefault("LSAN_OPTIONS",
                   f"suppressions={REPO}/tests/lsan.supp:print_suppressions=0")
    return env


def sanitizer_report(text):
    """The sanitizer lines in text, or '' when there are none."""
    hits = [line for line in text.splitlines() if any(m in line for m in SANITIZER_MARKERS)]
    return "\n".join(hits)


def run_strata_cli(args, env=None, cwd=None, timeout=30):
    """Runs `$STRATA_BIN args...` to completion; fails on sanitizer reports."""
    e = base_env()
    for k, v in (env or {}).items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    p = subprocess.run([STRATA_BIN, *args], env=e, cwd=cwd, capture_output=True, text=True,
                       timeout=timeout)
    rep = sanitizer_report(p.stderr)
    assert not rep, f"sanitizer report from strata {' '.join(args)}:\n{p.stderr[-6000:]}"
    return p


def assert_problem(resp, status):
    """resp is an RFC 9457 problem with this status; returns the parsed body."""
    assert resp.status_code == status, f"expected {status}, got {resp.status_code}: {resp.text[:500]}"
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.startswith("application/problem+json"), f"Content-Type {ctype!r}: {resp.text[:300]}"
    body = resp.json()
    assert body.get("status") == status, body
    assert isinstance(body.get("type"), str) and body["type"], body
    assert isinstance(body.get("title"), str) and body["title"], body
    return body


# --- PostgreSQL ---------------------------------------------------------------------------------


class PgCluster:
    """A private cluster managed with scripts/pg.sh, in a folder of its own."""

    def __init__(self, extra_opts=FAST_PG_OPTS, port=None):
        self.base = Path(tempfile.mkdtemp(prefix="strata-it-pg-"))
        # mkdtemp gives 0700; the postgres user (we may be root) must reach the data folder.
        os.chmod(self.base, 0o755)
        self.datadir = self.base / "data"
        self.port = port or free_port()
        self.extra_opts = extra_opts
        self.pid = None
        self._closed = False
        atexit.register(self.close)

    def _sh(self, *args, env=None, timeout=60):
        e = dict(os.environ)
        e.update(env or {})
        p = subprocess.run([str(PG_SH), *map(str, args)], env=e, capture_output=True, text=True,
                           timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError(f"pg.sh {' '.join(map(str, args))} failed ({p.returncode}):\n"
                               f"{p.stdout}{p.stderr}")
        return p.stdout.strip()

    def start(self):
        self.pid = int(self._sh("start", self.datadir, self.port,
                                env={"PG_EXTRA_OPTS": self.extra_opts}).splitlines()[-1])
        return self.pid

    def stop(self):
        self._sh("stop", self.datadir)

    def createdb(self, name):
        self._sh("createdb", self.port, name)

    def url(self, dbname="postgres"):
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def close(self):
        """Stops the cluster (by its PID as a last resort) and removes its folder."""
        if self._closed:
            return
        self._closed = True
        try:
            self.stop()
        except Exception:  # noqa: BLE001
            pidfile = self.datadir / "postmaster.pid"
            try:
                pid = int(pidfile.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                pid = self.pid
            if pid and pid_alive(pid):
                os.kill(pid, signal.SIGQUIT)
                for _ in range(100):
                    if not pid_alive(pid):
                        break
                    time.sleep(0.05)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="session")
def pg(request):
    cluster = PgCluster()
    request.addfinalizer(cluster.close)  # before start: an interrupted start is cleaned up too
    cluster.start()
    cluster.createdb("tmpl")
    return cluster


_db_counter = itertools.count(1)


@pytest.fixture
def db_url(pg):
    name = f"t_{next(_db_counter)}"
    with psycopg.connect(pg.url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE tmpl')
    yield pg.url(name)
    with psycopg.connect(pg.url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- strata -------------------------------------------------------------------------------------


class Strata:
    def __init__(self, proc, url, port, err_path, out_path, cmd):
        self.proc = proc
        self.url = url
        self.port = port
        self.err_path = err_path
        self.out_path = out_path
        self.cmd = cmd
        self._checked = False

    @property
    def pid(self):
        return self.proc.pid

    def log(self):
        """Everything strata wrote to stderr so far."""
        return self.err_path.read_text(errors="replace")

    def stdout(self):
        return self.out_path.read_text(errors="replace")

    def log_records(self):
        """stderr lines that are JSON objects (the structured log)."""
        out = []
        for line in self.log().splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if isinstance(rec, dict):
                    out.append(rec)
        return out

    def check_sanitizers(self):
        rep = sanitizer_report(self.log())
        if rep and not self._checked:
            self._checked = True
            pytest.fail(f"sanitizer report in strata's stderr ({' '.join(self.cmd)}):\n"
                        f"{self.log()[-8000:]}", pytrace=False)

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Sends sig (if still running), waits up to timeout s; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.check_sanitizers()
                pytest.fail(f"strata did not exit within {timeout}s of signal {sig!s}; "
                            f"stderr tail:\n{self.log()[-3000:]}", pytrace=False)
        self.check_sanitizers()
        return self.proc.returncode


def wait_started(srv, proc, probe, timeout):
    """Until GET probe answers 200; fails the test (with the server's stderr) when the process
    exits first or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            srv.check_sanitizers()
            pytest.fail(f"strata exited with {proc.returncode} during start; stderr:\n"
                        f"{srv.log()[-4000:]}", pytrace=False)
        try:
            if requests.get(srv.url + probe, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() >= deadline:
            pytest.fail(f"strata: {probe} not 200 within {timeout}s; stderr:\n"
                        f"{srv.log()[-4000:]}", pytrace=False)
        time.sleep(0.05)


@pytest.fixture
def start_strata(request, db_url, tmp_path):
    """start_strata(env=None, args=("serve",), config_file=None, wait=True, ready=True)
    -> Strata. wait: until /healthz is 200 (the process serves HTTP); ready: also until
    /readyz is 200 (database pool connected, migrations applied), for tests that query."""
    started = []
    counter = itertools.count(1)

    def _start(env=None, args=("serve",), config_file=None, wait=True, ready=True, timeout=30):
        n = next(counter)
        port = free_port()
        e = base_env()
        e.update({
            "STRATA_HTTP_ADDR": f"127.0.0.1:{port}",
            "STRATA_DATABASE_URL": db_url,
            "STRATA_ENV": "development",
            "STRATA_DEBUG_ROUTES": "true",
            "STRATA_LOG_LEVEL": "debug",
            "STRATA_VAR_DIR": str(tmp_path / f"var{n}"),
        })
        for k, v in (env or {}).items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = str(v)
        cmd = [STRATA_BIN]
        if config_file:
            cmd += ["--config", str(config_file)]
        cmd += list(args)
        err_path = tmp_path / f"strata{n}.stderr"
        out_path = tmp_path / f"strata{n}.stdout"
        with open(err_path, "wb") as err, open(out_path, "wb") as out:
            proc = subprocess.Popen(cmd, env=e, cwd=tmp_path, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=err)
        addr = e["STRATA_HTTP_ADDR"]
        srv = Strata(proc, f"http://{addr}", int(addr.rsplit(":", 1)[1]), err_path, out_path,
                     cmd)
        started.append(srv)
        if wait:
            wait_started(srv, proc, "/readyz" if ready else "/healthz", timeout)
        return srv

    yield _start

    problems = []
    for srv in started:
        try:
            srv.stop()
        except pytest.fail.Exception as e:
            problems.append(str(e))
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)
