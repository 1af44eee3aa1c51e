"""Swagger UI's Authorize button obtains a token from the real token endpoint with the public
client strata-web, and a protected call then works from the page (headless Chromium)."""

import json
import os
import shutil
import subprocess

import pytest

from conftest import REPO

SCRIPT = REPO / "tests" / "browser" / "swagger.test.mjs"


@pytest.fixture(scope="module")
def browser_packages():
    if not os.path.exists("/usr/bin/chromium"):
        pytest.skip("Debian chromium is not installed (make test installs it)")
    r = subprocess.run([str(REPO / "scripts" / "ui.sh"), "browser"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]


def test_authorize_with_strata_web_then_call_a_protected_operation(browser_packages, start_strata):
    assert shutil.which("node"), "node is required"
    s = start_strata(env={"STRATA_ADMIN_USER": "docs.admin", "STRATA_ADMIN_PASSWORD": "Docs-Admin-Passw0rd-7",
                          "STRATA_DOCS_UI_DIR": str(REPO / "build" / "ui" / "node_modules" / "swagger-ui-dist")})
    p = subprocess.run(["node", str(SCRIPT), "--url", s.url, "--user", "docs.admin", "--password",
                        "Docs-Admin-Passw0rd-7"], capture_output=True, text=True, timeout=180)
    lines = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
    assert p.returncode == 0 and lines and lines[-1]["step"] == "done", p.stdout[-3000:] + p.stderr[-3000:]
    assert 200 in lines[-1]["token_status"]
    # the server saw the token request from the page and the authorized call
    recs = [r for r in s.log_records() if r.get("msg") == "request"]
    assert any(r.get("route") == "/api/v1/auth/token" and r.get("status") == 200 for r in recs)
    assert any(r.get("route") == "/api/v1/users" and r.get("status") == 200 and r.get("user") == "docs.admin"
               for r in recs)
