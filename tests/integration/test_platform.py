"""The HTTP platform every app relies on: health, readiness, request ids, limits, errors,
timeouts, keep-alive, graceful shutdown, query cancellation (SPEC §3)."""

import http.client
import signal
import socket
import threading
import time

import psycopg
import pytest
import requests

from conftest import PgCluster, assert_problem, wait_until

PROBLEM = "application/problem+json"


def readyz_ok(srv):
    r = requests.get(srv.url + "/readyz", timeout=5)
    return r if r.status_code == 200 else None  # wait_until: None = not yet


# --- health and readiness -------------------------------------------------------------------------


def test_healthz_readyz_and_migrations(start_strata, db_url):
    srv = start_strata()
    r = requests.get(srv.url + "/healthz", timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {"status": "ok"}

    r = wait_until(lambda: readyz_ok(srv), 30, what="/readyz 200")
    body = r.json()
    assert body["status"] == "ready", body

    with psycopg.connect(db_url) as conn:
        (n,) = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()
    assert n > 0, "schema_migrations is empty although /readyz said ready"


def test_readiness_follows_the_database(start_strata):
    cluster = PgCluster()
    try:
        cluster.start()
        cluster.createdb("strata")
        srv = start_strata(env={"STRATA_DATABASE_URL": cluster.url("strata")})
        pid = srv.pid
        wait_until(lambda: readyz_ok(srv), 30, what="/readyz 200 with the database up")

        cluster.stop()

        def not_ready():
            assert requests.get(srv.url + "/healthz", timeout=5).status_code == 200
            r = requests.get(srv.url + "/readyz", timeout=5)
            return r if r.status_code == 503 else None

        r = wait_until(not_ready, 15, what="/readyz 503 after the database stopped")
        body = assert_problem(r, 503)
        assert "database" in body.get("detail", "").lower(), body

        cluster.start()  # same folder, same port

        def ready_again():
            assert requests.get(srv.url + "/healthz", timeout=5).status_code == 200
            return readyz_ok(srv)

        r = wait_until(ready_again, 20, what="/readyz 200 after the database came back")
        assert r.json()["status"] == "ready"
        assert srv.proc.poll() is None and srv.pid == pid, "strata restarted or exited"
        assert srv.stop() == 0
    finally:
        cluster.close()


# --- request ids ----------------------------------------------------------------------------------


def _log_has_request_id(srv, rid):
    return any(rec.get("request_id") == rid for rec in srv.log_records())


def test_request_id_echoed_replaced_generated_and_logged(start_strata):
    srv = start_strata()
    url = srv.url + "/healthz"

    for good in ("abc-123", "req.1:2/3_~!#\"x", "x", "A" * 128):
        r = requests.get(url, headers={"X-Request-ID": good}, timeout=5)
        assert r.status_code == 200
        assert r.headers.get("X-Request-ID") == good, f"valid id {good!r} not echoed"

    seen = set()
    for bad in ("a" * 129, "has space", ""):
        r = requests.get(url, headers={"X-Request-ID": bad}, timeout=5)
        assert r.status_code == 200
        rid = r.headers.get("X-Request-ID")
        assert rid, f"no X-Request-ID generated for invalid {bad!r}"
        assert rid != bad and rid != bad.strip()
        assert 1 <= len(rid) <= 128 and " " not in rid
        seen.add(rid)

    r = requests.get(url, timeout=5)
    gen = r.headers.get("X-Request-ID")
    assert gen, "no X-Request-ID generated"
    seen.add(gen)
    r2 = requests.get(url, timeout=5)
    assert r2.headers.get("X-Request-ID") not in seen, "generated ids repeat"

    # Every line a request causes carries its id: at least the access line.
    wait_until(lambda: _log_has_request_id(srv, "abc-123"), 5,
               what="a JSON log line with request_id abc-123")
    wait_until(lambda: _log_has_request_id(srv, gen), 5,
               what=f"a JSON log line with the generated request_id {gen}")
    access = [rec for rec in srv.log_records() if rec.get("request_id") == "abc-123"]
    for key in ("time", "level", "msg"):
        assert all(key in rec for rec in access), access
    lines = [rec for rec in access if rec.get("status") == 200 and rec.get("method") == "GET"
             and rec.get("path") == "/healthz"]
    assert lines, f"no access line for request abc-123: {access}"
    for key in ("route", "latency_ms", "bytes"):
        assert key in lines[0], f"access line lacks {key}: {lines[0]}"

    # Error responses carry the id too.
    r = requests.get(srv.url + "/no/such/path", headers={"X-Request-ID": "err-42"}, timeout=5)
    assert r.headers.get("X-Request-ID") == "err-42"
    assert assert_problem(r, 404).get("request_id") == "err-42"


# --- parameters, errors ---------------------------------------------------------------------------


def test_unknown_and_bad_query_parameters(start_strata):
    srv = start_strata(ready=True)
    r = requests.get(srv.url + "/api/v1/_debug/sleep?seconds=0", timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["slept"] == 0

    r = requests.get(srv.url + "/api/v1/_debug/sleep?seconds=0&bogus=1", timeout=10)
    body = assert_problem(r, 400)
    assert body["errors"][0]["field"] == "bogus", body
    assert body["errors"][0].get("message"), body

    r = requests.get(srv.url + "/api/v1/_debug/sleep?seconds=abc", timeout=10)
    body = assert_problem(r, 400)
    assert body["errors"][0]["field"] == "seconds", body


def test_404_and_405(start_strata):
    srv = start_strata()
    r = requests.get(srv.url + "/api/v1/no-such-thing", timeout=5)
    assert_problem(r, 404)

    r = requests.delete(srv.url + "/healthz", timeout=5)
    assert r.status_code == 405, r.text
    allow = [m.strip() for m in r.headers.get("Allow", "").split(",")]
    assert "GET" in allow, r.headers
    assert_problem(r, 405)


# --- limits ---------------------------------------------------------------------------------------


def test_header_limit_default(start_strata):
    srv = start_strata()
    r = requests.get(srv.url + "/healthz", headers={"X-Big": "a" * 20 * 1024}, timeout=10)
    assert r.status_code == 431, r.text[:300]
    assert requests.get(srv.url + "/healthz", headers={"X-Big": "a" * 8 * 1024},
                        timeout=10).status_code == 200


def test_header_limit_configured(start_strata):
    srv = start_strata(env={"STRATA_HEADER_LIMIT": "4KiB"})
    r = requests.get(srv.url + "/healthz", headers={"X-Big": "a" * 5 * 1024}, timeout=10)
    assert r.status_code == 431, r.text[:300]
    r = requests.get(srv.url + "/healthz", headers={"X-Big": "a" * 3 * 1024}, timeout=10)
    assert r.status_code == 200, r.text[:300]


def test_body_limit_and_content_type(start_strata):
    srv = start_strata()
    url = srv.url + "/api/v1/_debug/echo"
    js = {"Content-Type": "application/json"}

    big = b'{"pad": "' + b"x" * 2048 + b'"}'
    assert_problem(requests.post(url, data=big, headers=js, timeout=10), 413)

    doc = {"name": "quake", "mag": 4.5, "tags": ["a", "b"], "ok": True, "n": None}
    raw = requests.compat.json.dumps(doc).encode()
    raw = raw + b" " * (100 - len(raw)) if len(raw) < 100 else raw
    r = requests.post(url, data=raw, headers=js, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": doc}

    assert_problem(requests.post(url, data=b'{"a": ', headers=js, timeout=10), 400)
    assert_problem(requests.post(url, data=b'{"a": 1}', headers={"Content-Type": "text/plain"},
                                 timeout=10), 415)


# --- timeouts and connections ---------------------------------------------------------------------


def test_slow_client_is_cut_off(start_strata):
    srv = start_strata(env={"STRATA_CLIENT_TIMEOUT": "1s"})
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # ... and never the blank line
        t0 = time.monotonic()
        data = b""
        while True:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                break
            except socket.timeout:
                pytest.fail(f"connection still open {time.monotonic() - t0:.1f}s later")
            if not chunk:
                break
            data += chunk
        elapsed = time.monotonic() - t0
    finally:
        s.close()
    assert elapsed < 5.0, f"closed only after {elapsed:.1f}s"
    assert data == b"" or data.startswith(b"HTTP/1.1 408"), data[:200]
    assert requests.get(srv.url + "/healthz", timeout=5).status_code == 200


def test_keep_alive_reuses_one_connection(start_strata):
    srv = start_strata()
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    try:
        conn.connect()
        sock = conn.sock
        local = sock.getsockname()
        for i in range(200):
            conn.request("GET", "/healthz")
            r = conn.getresponse()
            body = r.read()
            assert r.status == 200, (i, body)
            assert not r.will_close, f"server asked to close after request {i}"
            assert conn.sock is sock, f"connection reopened at request {i}"
        assert sock.getsockname() == local
    finally:
        conn.close()


def test_graceful_shutdown(start_strata):
    srv = start_strata(env={"STRATA_SHUTDOWN_GRACE": "10s"}, ready=True)
    result = {}

    def slow():
        try:
            result["r"] = requests.get(srv.url + "/api/v1/_debug/sleep?seconds=2", timeout=20)
        except Exception as e:  # noqa: BLE001
            result["e"] = e

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.5)
    t_sig = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)

    # A new connection while the in-flight request drains is refused or fails.
    assert srv.proc.poll() is None, "strata exited before its in-flight request finished"
    try:
        r = requests.get(srv.url + "/healthz", timeout=3)
    except requests.RequestException:
        pass
    else:
        assert r.status_code == 503, f"new request after SIGTERM got {r.status_code}"

    t.join(20)
    assert "e" not in result, f"in-flight request failed: {result.get('e')!r}"
    r = result["r"]
    assert r.status_code == 200, r.text
    assert r.json()["slept"] == 2

    try:
        rc = srv.proc.wait(timeout=12)
    except Exception:  # noqa: BLE001
        pytest.fail("strata still running 12s after SIGTERM (grace 10s)")
    took = time.monotonic() - t_sig
    assert srv.stop() == 0 == rc, f"exit status {rc}"
    assert took < 11, f"shutdown took {took:.1f}s"


def test_shutdown_with_idle_keep_alive_connections(start_strata):
    # A browser (or make run's dashboard) keeps idle keep-alive connections open: SIGTERM must
    # still end the process at once, cleanly (exit 0, nothing leaked), closing them.
    srv = start_strata(env={"STRATA_SHUTDOWN_GRACE": "10s"})
    conns = []
    for _ in range(4):
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        c.request("GET", "/healthz")
        r = c.getresponse()
        r.read()
        assert r.status == 200 and not r.will_close
        conns.append(c)
    try:
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        try:
            srv.proc.wait(timeout=12)
        except Exception:  # noqa: BLE001
            pytest.fail("strata still running 12s after SIGTERM with idle connections open")
        took = time.monotonic() - t0
        for c in conns:
            c.sock.settimeout(2)
            try:
                assert c.sock.recv(1) == b"", "idle connection still open after exit"
            except ConnectionResetError:
                pass
        rc = srv.stop()
        assert rc == 0, f"exit status {rc}"
        assert took < 5, f"idle keep-alive connections delayed shutdown by {took:.1f}s"
    finally:
        for c in conns:
            c.close()


def test_query_cancelled_when_client_disconnects(start_strata, db_url):
    srv = start_strata(ready=True)

    def sleeping():
        with psycopg.connect(db_url, autocommit=True) as conn:
            (n,) = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state = 'active' AND query ILIKE '%pg_sleep%'"
            ).fetchone()
        return n

    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    try:
        s.sendall(b"GET /api/v1/_debug/sleep?seconds=30 HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_until(lambda: sleeping() >= 1, 10, what="pg_sleep running in pg_stat_activity")
    finally:
        s.close()
    wait_until(lambda: sleeping() == 0, 5,
               what="pg_sleep to be cancelled after the client went away")
    assert requests.get(srv.url + "/healthz", timeout=5).status_code == 200


def test_sigint_stops_strata_even_when_started_with_sigint_ignored(start_strata):
    """A background job of a non-interactive shell starts with SIGINT ignored; strata takes the
    stop signals over, so Ctrl-C forwarded by a supervisor still stops it gracefully."""
    import signal as _signal
    old = _signal.signal(_signal.SIGINT, _signal.SIG_IGN)  # inherited by the child
    try:
        s = start_strata()
    finally:
        _signal.signal(_signal.SIGINT, old)
    with open(f"/proc/{s.pid}/status") as f:
        ign = int(next(line for line in f if line.startswith("SigIgn:")).split()[1], 16)
    assert not ign & (1 << (_signal.SIGINT - 1)), "strata left SIGINT ignored"
    assert s.stop(sig=_signal.SIGINT) == 0
    assert any(rec.get("msg") == "shutting down" and "SIGINT" in rec.get("detail", "") for rec in s.log_records())
