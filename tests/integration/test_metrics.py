"""/metrics: Prometheus text format, access rules, and a real Prometheus scraping it."""

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

from conftest import free_port, wait_until


def series(text, name):
    """{labels-string: value} for one metric name in exposition text."""
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            key, _, val = line.rpartition(" ")
            out[key[len(name):]] = float(val)
    return out


def test_metrics_counts_requests_by_route_template_and_status(start_strata):
    s = start_strata()
    before = series(requests.get(s.url + "/metrics").text, "strata_http_requests_total")
    for _ in range(3):
        assert requests.get(s.url + "/healthz").status_code == 200
    assert requests.get(s.url + "/api/v1/_debug/items/abc").status_code == 400
    assert requests.get(s.url + "/no/such/path").status_code == 404
    r = requests.get(s.url + "/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    total = series(r.text, "strata_http_requests_total")
    key = '{route="/healthz",method="GET",status="200"}'
    assert total[key] - before.get(key, 0) == 3
    # the template, never the raw path (which would explode cardinality)
    assert total['{route="/api/v1/_debug/items/{id}",method="GET",status="400"}'] == 1
    assert total['{route="unmatched",method="GET",status="404"}'] == 1
    buckets = series(r.text, "strata_http_request_duration_seconds_bucket")
    assert buckets['{route="/healthz",method="GET",status="200",le="+Inf"}'] == total[key]
    assert "# TYPE strata_http_request_duration_seconds histogram" in r.text
    for name in ("strata_http_requests_in_flight", "strata_http_connections_open", "strata_db_connections_ready",
                 "strata_db_pipeline_depth", "strata_db_waiting", "process_resident_memory_bytes",
                 "process_open_fds"):
        assert series(r.text, name), f"{name} missing"
    assert series(r.text, "process_resident_memory_bytes")[""] > 1e6
    # pool figures are published every 50 ms: wait until the loops have reported
    wait_until(lambda: series(requests.get(s.url + "/metrics").text, "strata_db_connections_ready")[""] > 0,
               10, what="pool gauges")


def test_metrics_token_protects_metrics_when_set(start_strata):
    s = start_strata(env={"STRATA_METRICS_TOKEN": "s3cret-token-123"})
    r = requests.get(s.url + "/metrics")
    assert r.status_code == 401
    assert r.headers.get("WWW-Authenticate", "").startswith("Bearer")
    assert requests.get(s.url + "/metrics", headers={"Authorization": "Bearer wrong-token-123"}).status_code == 401
    assert requests.get(s.url + "/metrics", headers={"Authorization": "Bearer s3cret-token-123"}).status_code == 200
    # health stays public
    assert requests.get(s.url + "/healthz").status_code == 200


def test_db_statement_outcomes_are_counted(start_strata):
    s = start_strata()
    assert requests.get(s.url + "/api/v1/_debug/sleep", params={"seconds": "0"}).status_code == 200

    def sent():
        v = series(requests.get(s.url + "/metrics").text, "strata_db_statements_total")
        return v.get('{outcome="sent"}', 0) >= 1 or None
    wait_until(sent, 10, what="statements counted")


@pytest.mark.skipif(not shutil.which("prometheus"), reason="prometheus not installed (make test installs it)")
def test_real_prometheus_scrapes_strata(start_strata):
    s = start_strata()
    requests.get(s.url + "/healthz")
    d = Path(tempfile.mkdtemp(prefix="strata-prom-"))
    port = free_port()
    (d / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: strata\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{s.port}']}}]\n")
    proc = subprocess.Popen(
        ["prometheus", f"--config.file={d / 'prometheus.yml'}", f"--storage.tsdb.path={d / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1h", "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=open(d / "prom.log", "wb"))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: requests.get(base + "/-/ready", timeout=1).status_code == 200 or None, 30,
                   what="prometheus ready")

        def target_up():
            t = requests.get(base + "/api/v1/targets", timeout=2).json()["data"]["activeTargets"]
            return t and t[0]["health"] == "up" and t[0]["lastError"] == "" or None
        # the scrape manager applies new targets on a 5 s tick: poll, never sleep a fixed time
        wait_until(target_up, 60, interval=0.5, what="strata target up in prometheus")

        def value():
            q = requests.get(base + "/api/v1/query",
                             params={"query": 'strata_http_requests_total{route="/healthz",status="200"}'},
                             timeout=2).json()
            res = q["data"]["result"]
            return res and float(res[0]["value"][1]) >= 1 or None
        wait_until(value, 60, interval=0.5, what="a strata series in prometheus")
        up = requests.get(base + "/api/v1/query", params={"query": 'up{job="strata"}'}).json()
        assert up["data"]["result"][0]["value"][1] == "1"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(d, ignore_errors=True)
