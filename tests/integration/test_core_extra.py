"""Core behaviours beyond the basic platform checks: transactions, trusted proxies, CORS,
request timeout, queue back-pressure, and the README's settings table."""

import concurrent.futures
import json
import re
import socket
import time
from pathlib import Path

import psycopg
import requests

from conftest import REPO, assert_problem, run_strata_cli, wait_until


def test_transaction_runs_on_one_connection_and_connections_return(start_strata):
    s = start_strata(env={"STRATA_DB_TX_POOL_SIZE": "1", "STRATA_HTTP_THREADS": "1"})
    r = requests.get(s.url + "/api/v1/_debug/tx")
    assert r.status_code == 200
    assert r.json() == {"same_transaction": True, "outcome": "committed"}
    assert requests.get(s.url + "/api/v1/_debug/tx", params={"rollback": "true"}).json()["outcome"] == "rolled back"
    # one tx connection, many concurrent transactions: each waits its turn, none is lost
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        codes = list(ex.map(lambda _: requests.get(s.url + "/api/v1/_debug/tx", timeout=20).json(), range(40)))
    assert all(c["same_transaction"] for c in codes)


def _client_of(s, request_id):
    for rec in s.log_records():
        if rec.get("msg") == "request" and rec.get("request_id") == request_id:
            return rec.get("client")
    return None


def test_x_forwarded_for_is_trusted_only_from_configured_proxies(start_strata):
    s = start_strata()
    requests.get(s.url + "/healthz", headers={"X-Forwarded-For": "203.0.113.7", "X-Request-ID": "xff-untrusted"})
    wait_until(lambda: _client_of(s, "xff-untrusted"), 5, what="access log line")
    assert _client_of(s, "xff-untrusted") == "127.0.0.1"
    s.stop()

    s2 = start_strata(env={"STRATA_TRUSTED_PROXIES": "127.0.0.0/8, ::1"})
    requests.get(s2.url + "/healthz",
                 headers={"X-Forwarded-For": "198.51.100.9, 203.0.113.7, 127.0.0.5", "X-Request-ID": "xff-trusted"})
    wait_until(lambda: _client_of(s2, "xff-trusted"), 5, what="access log line")
    # right-most address that is not a trusted proxy
    assert _client_of(s2, "xff-trusted") == "203.0.113.7"


def test_invalid_trusted_proxy_stops_the_start(start_strata):
    s = start_strata(env={"STRATA_TRUSTED_PROXIES": "10.0.0.0/99"}, wait=False)
    assert s.proc.wait(timeout=20) == 2
    assert "STRATA_TRUSTED_PROXIES" in s.log()


def test_cors_allow_list(start_strata):
    s = start_strata(env={"STRATA_CORS_ORIGINS": "https://app.example.com"})
    ok = requests.get(s.url + "/healthz", headers={"Origin": "https://app.example.com"})
    assert ok.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "Origin" in ok.headers.get("Vary", "")
    bad = requests.get(s.url + "/healthz", headers={"Origin": "https://evil.example.net"})
    assert "Access-Control-Allow-Origin" not in bad.headers
    pre = requests.options(s.url + "/api/v1/_debug/echo",
                           headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST",
                                    "Access-Control-Request-Headers": "content-type"})
    assert pre.status_code == 204
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in pre.headers["Access-Control-Allow-Headers"]
    denied = requests.options(s.url + "/api/v1/_debug/echo",
                              headers={"Origin": "https://evil.example.net", "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in denied.headers
    assert denied.status_code == 405


def _active_sleeps(db_url):
    with psycopg.connect(db_url, autocommit=True) as c:
        return c.execute("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%pg_sleep%'"
                         " AND pid <> pg_backend_pid()").fetchone()[0]


def test_request_timeout_answers_503_and_cancels_the_query(start_strata, db_url):
    s = start_strata(env={"STRATA_REQUEST_TIMEOUT": "1s"})
    t0 = time.monotonic()
    r = requests.get(s.url + "/api/v1/_debug/sleep", params={"seconds": "20"}, timeout=15)
    assert time.monotonic() - t0 < 10
    body = assert_problem(r, 503)
    assert "Retry-After" in r.headers
    assert "too long" in body["detail"]
    wait_until(lambda: _active_sleeps(db_url) == 0 or None, 10, what="the statement cancelled")


def test_statement_timeout_by_class_is_a_503_not_an_sql_message(start_strata):
    s = start_strata(env={"STRATA_STATEMENT_TIMEOUT_FAST": "300ms"})
    r = requests.get(s.url + "/api/v1/_debug/sleep", params={"seconds": "3"}, timeout=15)
    body = assert_problem(r, 503)
    assert "canceling" not in json.dumps(body) and "pg_sleep" not in json.dumps(body)
    # the connection stays usable afterwards
    assert requests.get(s.url + "/api/v1/_debug/sleep", params={"seconds": "0"}).status_code == 200


def test_full_wait_queue_is_refused_with_503_not_a_hang(start_strata):
    s = start_strata(env={"STRATA_HTTP_THREADS": "1", "STRATA_DB_POOL_SIZE": "1", "STRATA_DB_PIPELINE_DEPTH": "1",
                          "STRATA_DB_QUEUE_MAX": "1"})
    with concurrent.futures.ThreadPoolExecutor(6) as ex:
        futs = [ex.submit(requests.get, s.url + "/api/v1/_debug/sleep", params={"seconds": "1"}, timeout=20)
                for _ in range(6)]
        results = [f.result() for f in futs]
    codes = sorted(r.status_code for r in results)
    assert 200 in codes and 503 in codes, codes
    for r in results:
        if r.status_code == 503:
            body = assert_problem(r, 503)
            assert r.headers.get("Retry-After")
            assert "busy" in body["detail"]


def test_database_statement_error_is_500_without_sql(start_strata, db_url):
    # a table the lookup route expects, with a column of the wrong type: the statement fails
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("CREATE TABLE bench_items (id bigint PRIMARY KEY, name text, value float8, created_at text)")
        c.execute("INSERT INTO bench_items VALUES (1, 'x', 1, 'not-a-time')")
    s = start_strata()
    r = requests.get(s.url + "/api/v1/_debug/items/1")
    body = assert_problem(r, 500)
    text = json.dumps(body).lower()
    assert "select" not in text and "bench_items" not in text and "syntax" not in text
    assert body["request_id"] == r.headers["X-Request-ID"]
    # logged once, by the database layer, without the client seeing it
    assert any(rec.get("msg", "").startswith("db ") and "failed" in rec.get("msg", "") for rec in s.log_records())


def test_lookup_route_returns_the_row_as_json(start_strata, db_url):
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("CREATE TABLE bench_items (id bigint PRIMARY KEY, name text, value float8, created_at timestamptz)")
        c.execute("INSERT INTO bench_items VALUES (7, 'seven \"quoted\"\n', 3.25, '2023-08-04T12:00:00Z')")
    s = start_strata()
    r = requests.get(s.url + "/api/v1/_debug/items/7")
    assert r.status_code == 200
    assert r.json() == {"id": 7, "name": "seven \"quoted\"\n", "value": 3.25, "created_at": "2023-08-04T12:00:00.000Z"}
    assert_problem(requests.get(s.url + "/api/v1/_debug/items/8"), 404)


def test_many_concurrent_pipelined_lookups_all_answer_correctly(start_strata, db_url):
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("CREATE TABLE bench_items (id bigint PRIMARY KEY, name text, value float8, created_at timestamptz)")
        c.execute("INSERT INTO bench_items SELECT g, 'n' || g, g * 0.5, now() FROM generate_series(1, 500) g")
    s = start_strata()

    def get(i):
        sess = requests.Session()
        out = []
        for k in range(20):
            item = (i * 20 + k) % 500 + 1
            out.append((item, sess.get(f"{s.url}/api/v1/_debug/items/{item}").json()))
        return out
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        for chunk in ex.map(get, range(32)):
            for item, body in chunk:
                assert body["id"] == item and body["name"] == f"n{item}" and body["value"] == item * 0.5


def test_readme_settings_table_is_current():
    p = run_strata_cli(["config", "--markdown"])
    assert p.returncode == 0
    readme = (REPO / "README.md").read_text()
    m = re.search(r"<!-- settings table.*?-->\n(.*?)<!-- end of settings table -->", readme, re.S)
    assert m, "README lacks the settings table markers"
    assert m.group(1).strip() == p.stdout.strip(), "README settings table is stale: paste `strata config --markdown`"


def test_head_answers_like_get_without_a_body(start_strata):
    s = start_strata()
    with socket.create_connection(("127.0.0.1", s.port)) as c:
        c.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := c.recv(4096):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"content-length: 15" in head.lower()
    assert body == b""


def test_writes_survive_failing_neighbours_in_the_pipeline(start_strata, db_url):
    """A write shares no implicit transaction with other requests' statements: interleave
    NOTIFYs (transactional writes) with statements that fail (no bench_items table), all on
    one pipelined connection, and every NOTIFY the server confirmed must be delivered."""
    s = start_strata(env={"STRATA_HTTP_THREADS": "1", "STRATA_DB_POOL_SIZE": "1"})
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute("LISTEN it_writes")

        def one(i):
            if i % 2:
                return requests.get(f"{s.url}/api/v1/_debug/items/{i}", timeout=20).status_code
            return requests.post(s.url + "/api/v1/_debug/notify", params={"channel": "it_writes", "payload": str(i)},
                                 timeout=20).status_code
        with concurrent.futures.ThreadPoolExecutor(24) as ex:
            codes = list(ex.map(one, range(200)))
        confirmed = {str(i) for i, c in enumerate(codes) if i % 2 == 0 and c == 204}
        assert len(confirmed) == 100, codes
        odd = [c for i, c in enumerate(codes) if i % 2]
        assert all(c == 404 for c in odd), sorted(set(odd))
        got = set()
        listener.add_notify_handler(lambda n: got.add(n.payload))
        deadline = time.monotonic() + 10
        while got != confirmed and time.monotonic() < deadline:
            listener.execute("SELECT 1")  # psycopg hands pending notifications to the handler
            time.sleep(0.1)
        assert got == confirmed, f"lost writes: {sorted(confirmed - got)[:10]}"
