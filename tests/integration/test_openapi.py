"""/openapi.json and the Swagger UI at /docs, against the real binary.

The document is checked three ways:
- by a real validator: @apidevtools/swagger-parser (OpenAPI 3.1 JSON Schema, $refs) plus the
  specification's own rules it leaves out, in tests/openapi/validate.mjs;
- against what the server routes, learnt from the server and not from the document: `OPTIONS`
  on a path answers 405 with an `Allow` header listing every method registered there (404 when
  none is), probed for every documented path and every route declared in src/; and the route
  labels /metrics reports after each documented GET operation is called;
- against what the server enforces: out-of-bounds, non-enum, too-long and undeclared parameters
  are refused with 400 naming the parameter, bodies above `x-body-limit` with 413.

Two servers: debug routes on (its /docs has swagger-ui-dist) and off (its docs_ui_dir points
nowhere: /docs answers 503, /openapi.json still works).
"""

import http.client
import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
VALIDATOR = ROOT / "tests" / "openapi" / "validate.mjs"
UI_DIR = ROOT / "build" / "ui" / "node_modules" / "swagger-ui-dist"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

CORE = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/{file}"),
}
DEBUG_PREFIX = "/api/v1/_debug/"
# Paths no route serves; each must be absent from the document and unknown to the server.
NON_ROUTES = ["/index.html", "/api", "/api/v1", "/openapi.yaml", "/swagger.json", "/docs/a/b", "/healthz/x",
              "/api/v1/_debug"]
ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-standalone-preset.js": "text/javascript",
    "favicon-32x32.png": "image/png",
}
PAGE_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "object-src 'none'; base-uri 'self'; frame-ancestors 'none'")


# ---- helpers ------------------------------------------------------------------------------------

def call(base, method, path, body=None, headers=None):
    """One request with the path sent exactly as given (no client-side normalisation)."""
    u = urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        conn.close()


def shape(path):
    return re.sub(r"\{[^}]+\}", "{}", path)


def operations(doc):
    return {(m.upper(), p) for p, item in doc["paths"].items() for m in item if m in METHODS}


def declared_routes():
    """Every route declared in a `const struct route NAME[]` table under src/, by table."""
    table = re.compile(r"const\s+struct\s+route\s+(\w+)\s*\[\s*\]\s*=\s*\{(.*?)\n\};", re.S)
    # literal paths only ("/a/" PREFIX macros are left to the OPTIONS probe of the document)
    entry = re.compile(r'\.method\s*=\s*"([A-Z]+)"\s*,\s*\.path\s*=\s*"([^"]+)"\s*,')
    tables = {}
    for f in sorted((ROOT / "src").rglob("*.c")):
        for m in table.finditer(f.read_text()):
            tables[m.group(1)] = set(entry.findall(m.group(2)))
    return tables


def server_methods(base, template):
    """Methods the server routes at a template, from OPTIONS' 405 + Allow (HEAD comes with GET)."""
    path = re.sub(r"\{[^}]+\}", "1", template)
    status, headers, body = call(base, "OPTIONS", path)
    if status == 404:
        assert json.loads(body)["detail"] == "no such resource", (template, body)
        return set()
    assert status == 405, (template, status, body)
    return {m.strip() for m in headers["allow"].split(",")} - {"HEAD"}


def sample(schema):
    """A valid value for a parameter schema, as query text."""
    if schema.get("type") == "array":
        return sample(schema["items"])
    if "default" in schema:
        d = schema["default"]
        return json.dumps(d) if isinstance(d, bool) else str(d)
    if "enum" in schema:
        return schema["enum"][0]
    t = schema.get("type")
    if t == "integer":
        return str(schema.get("minimum", 1))
    if t == "number":
        return str(schema.get("minimum", 0))
    if t == "boolean":
        return "false"
    if schema.get("format") == "date-time":
        return "2023-08-04T00:00:00Z"
    return "x"


def invalid_values(schema):
    """Values the schema rules out, each of which the server must refuse."""
    t = schema.get("type")
    out = []
    if t in ("integer", "number"):
        if "maximum" in schema:
            out.append(str(schema["maximum"] + 1))
        if "minimum" in schema:
            out.append(str(schema["minimum"] - 1))
        out.append("abc")
    if t == "boolean":
        out.append("maybe")
    if "enum" in schema:
        out.append("not-" + "-".join(schema["enum"]))
    if t == "string" and "maxLength" in schema:
        out.append("x" * (schema["maxLength"] + 1))
    if schema.get("format") == "date-time":
        out.append("2023-13-45")
    return out


def concrete(op_path, params, override=None):
    """The path of an operation with its path parameters filled, plus a valid query string."""
    override = override or {}
    path = op_path
    query = []
    for p in params:
        value = override.get((p["in"], p["name"])) or sample(p["schema"])
        if p["in"] == "path":
            path = path.replace("{" + p["name"] + "}", quote(value, safe=""))
        elif p["in"] == "query" and (p.get("required") or (p["in"], p["name"]) in override):
            query.append((p["name"], value))
    return path + ("?" + urlencode(query) if query else "")


def get_doc(srv):
    status, headers, body = call(srv.url, "GET", "/openapi.json")
    assert status == 200, body
    assert headers["content-type"].startswith("application/json")
    return json.loads(body), body


def validate(tmp_path, body):
    node = shutil.which("node")
    assert node, "node is required (Debian 12: apt-get install nodejs)"
    f = tmp_path / "openapi.json"
    f.write_bytes(body)
    r = subprocess.run([node, str(VALIDATOR), str(f)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"validator refused the document:\n{r.stdout}{r.stderr}"
    return r.stdout.strip()


# ---- fixtures -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def node_packages():
    """swagger-ui-dist and the validator, pinned (no-op when already installed)."""
    r = subprocess.run([str(ROOT / "scripts" / "ui.sh"), "test"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"scripts/ui.sh test failed:\n{r.stderr}"
    assert (UI_DIR / "swagger-ui-bundle.js").exists()


@pytest.fixture
def debug_on(node_packages, start_strata):
    return start_strata(env={"STRATA_DEBUG_ROUTES": "true", "STRATA_DOCS_UI_DIR": str(UI_DIR)})


@pytest.fixture
def debug_off(node_packages, start_strata, tmp_path):
    return start_strata(env={"STRATA_DEBUG_ROUTES": "false",
                             "STRATA_DOCS_UI_DIR": str(tmp_path / "no-ui" / "swagger-ui-dist")})


@pytest.fixture(params=["debug_on", "debug_off"])
def server(request):
    return request.getfixturevalue(request.param)


# ---- the document -------------------------------------------------------------------------------

def test_document_is_valid_openapi_3_1(server, tmp_path):
    doc, body = get_doc(server)
    out = validate(tmp_path, body)
    assert out.startswith("valid: OpenAPI 3.1.0"), out
    assert doc["info"]["title"] == "Strata API"
    assert doc["servers"] == [{"url": "/"}]
    # rendered once per process: the same bytes every time
    assert get_doc(server)[1] == body


def test_every_operation_is_described(server):
    doc, _ = get_doc(server)
    for method, path in operations(doc):
        op = doc["paths"][path][method.lower()]
        where = f"{method} {path}"
        assert op.get("summary"), f"{where}: the route declares no summary"
        assert op.get("tags"), f"{where}: the route declares no tag"
        assert "400" in op["responses"], where
        assert isinstance(op["security"], list), where
        if op["security"]:
            assert op["x-permission"], where
            assert {"401", "403"} <= set(op["responses"]), where


def test_documented_operations_are_exactly_the_routed_ones(server):
    doc, _ = get_doc(server)
    documented = operations(doc)
    by_shape = {}
    for m, p in documented:
        by_shape.setdefault(shape(p), set()).add(m)
    candidates = {p for _, p in documented}
    for routes in declared_routes().values():
        candidates |= {p for _, p in routes}
    for template in sorted(candidates):
        assert server_methods(server.url, template) == by_shape.get(shape(template), set()), template
    for path in NON_ROUTES:
        assert shape(path) not in by_shape, path
        assert server_methods(server.url, path) == set(), path


def test_core_routes_and_debug_routes(debug_on, debug_off):
    declared_debug = declared_routes()["debug_routes"]
    assert declared_debug and all(p.startswith(DEBUG_PREFIX) for _, p in declared_debug)
    on = operations(get_doc(debug_on)[0])
    off = operations(get_doc(debug_off)[0])
    assert CORE <= on and CORE <= off
    assert {("GET", "/api/v1/_debug/sleep"), ("POST", "/api/v1/_debug/echo"),
            ("GET", "/api/v1/_debug/items/{id}")} <= on
    debug_on_ops = {op for op in on if op[1].startswith(DEBUG_PREFIX)}
    assert declared_debug <= debug_on_ops
    assert not {op for op in off if op[1].startswith(DEBUG_PREFIX)}
    # nothing else differs between the two
    assert on - debug_on_ops == off


def is_stream(op):
    """A live stream (text/event-stream) never ends by itself: not one to GET and read."""
    ok = op.get("responses", {}).get("200", {}).get("content", {})
    return any(ct.startswith("text/event-stream") for ct in ok)


def test_metrics_routes_match_the_document(debug_on):
    doc, _ = get_doc(debug_on)
    exercised = set()
    for method, path in sorted(operations(doc)):
        if method != "GET":
            continue
        op = doc["paths"][path]["get"]
        if is_stream(op):
            continue
        status, _, body = call(debug_on.url, "GET", concrete(path, op.get("parameters", [])))
        assert status != 404 or json.loads(body)["detail"] != "no such resource", path
        exercised.add(path)
    _, _, body = call(debug_on.url, "GET", "/metrics")
    labels = set(re.findall(r'strata_http_requests_total\{route="([^"]+)"', body.decode()))
    labels.discard("unmatched")
    documented_shapes = {shape(p) for _, p in operations(doc)}
    assert {shape(p) for p in labels} <= documented_shapes
    assert exercised <= labels


def test_parameter_bounds_are_enforced(debug_on):
    doc, _ = get_doc(debug_on)
    checked = 0
    for method, path in sorted(operations(doc)):
        if method != "GET":
            continue
        op = doc["paths"][path]["get"]
        params = op.get("parameters", [])
        # an undeclared query parameter is refused on every operation
        # without credentials a protected operation stops at 401 before looking at parameters
        if op["security"]:
            continue
        url = concrete(path, params)
        url += ("&" if "?" in url else "?") + "zz_undeclared=1"
        status, _, body = call(debug_on.url, "GET", url)
        assert status == 400, (url, body)
        assert any(e["field"] == "zz_undeclared" for e in json.loads(body)["errors"]), body
        for p in params:
            for bad in invalid_values(p["schema"]):
                url = concrete(path, params, {(p["in"], p["name"]): bad})
                status, headers, body = call(debug_on.url, "GET", url)
                assert status == 400, (url, status, body)
                assert headers["content-type"] == "application/problem+json"
                assert any(e["field"] == p["name"] for e in json.loads(body)["errors"]), (url, body)
                checked += 1
    assert checked >= 5  # seconds (sleep), id (items), rollback (tx), file (docs)


def test_body_limits_are_enforced(debug_on):
    doc, _ = get_doc(debug_on)
    checked = 0
    for method, path in sorted(operations(doc)):
        op = doc["paths"][path][method.lower()]
        body_spec = op.get("requestBody")
        if not body_spec or "application/json" not in body_spec["content"]:
            continue
        limit = body_spec["x-body-limit"]
        url = concrete(path, op.get("parameters", []))
        auth = {"401", "403"} if op["security"] else set()
        big = json.dumps({"pad": "x" * limit}).encode()
        status, _, _ = call(debug_on.url, method, url, big, {"Content-Type": "application/json"})
        assert str(status) in {"413"} | auth, (path, status)
        if "415" in op["responses"]:
            status, _, _ = call(debug_on.url, method, url, b"hello", {"Content-Type": "text/plain"})
            assert str(status) in {"415"} | auth, (path, status)
        checked += 1
    assert checked >= 1


# ---- /docs ---------------------------------------------------------------------------------------

def test_docs_page(debug_on):
    status, headers, body = call(debug_on.url, "GET", "/docs")
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["content-security-policy"] == PAGE_CSP
    assert headers["x-content-type-options"] == "nosniff"
    html = body.decode()
    for ref in ("/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js", "/docs/swagger-ui-standalone-preset.js",
                "/docs/init.js"):
        assert f'"{ref}"' in html, ref
    # no CDN, and no inline script for the CSP to allow
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    # every file the page loads is served
    for ref in re.findall(r'(?:src|href)="(/docs/[^"]+)"', html):
        assert call(debug_on.url, "GET", ref)[0] == 200, ref


def test_docs_assets(debug_on):
    for name, ctype in ASSETS.items():
        status, headers, body = call(debug_on.url, "GET", "/docs/" + name)
        assert status == 200, name
        assert headers["content-type"].split(";")[0] == ctype, name
        assert headers["cache-control"] == "public, max-age=86400", name
        assert body == (UI_DIR / name).read_bytes(), name
    status, headers, body = call(debug_on.url, "GET", "/docs/init.js")
    assert status == 200
    assert headers["content-type"].startswith("text/javascript")
    js = body.decode()
    assert "SwaggerUIBundle(" in js and '"/openapi.json"' in js
    assert not re.search(r"https?://", js)
    status, headers, body = call(debug_on.url, "HEAD", "/docs/swagger-ui-bundle.js")
    assert status == 200 and body == b""


def test_docs_serves_only_its_files(debug_on):
    root_status, root_headers, _ = call(debug_on.url, "GET", "/")
    for path in ("/docs/%2e%2e", "/docs/.."):  # H2O resolves dot segments: this is "/" (the dashboard)
        status, headers, body = call(debug_on.url, "GET", path)
        assert (status, headers["content-type"]) == (root_status, root_headers["content-type"]), path
        assert b"root:" not in body, path
    for path in [
        "/docs/unknown.js",
        "/docs/index.html",  # in swagger-ui-dist, not on the list
        "/docs/swagger-ui.js.map",
        "/docs/..%2f..%2fetc%2fpasswd",
        "/docs/../etc/passwd",
        "/docs/swagger-ui.css%00.js",
        "/docs/" + "x" * 300,
    ]:
        status, headers, body = call(debug_on.url, "GET", path)
        assert status in (404, 400), (path, status)
        assert headers["content-type"] == "application/problem+json", path
        assert b"root:" not in body, path


def test_docs_without_swagger_ui(debug_off):
    for path in ("/docs", "/docs/swagger-ui-bundle.js", "/docs/init.js"):
        status, headers, body = call(debug_off.url, "GET", path)
        assert status == 503, path
        assert headers["content-type"] == "application/problem+json"
        problem = json.loads(body)
        assert "docs_ui_dir" in problem["detail"] and "STRATA_DOCS_UI_DIR" in problem["detail"]
        assert "swagger-ui-dist" in problem["detail"]
        assert "/tmp" not in problem["detail"]  # the folder is logged, not shown
    assert call(debug_off.url, "GET", "/docs/unknown.js")[0] == 404
    assert call(debug_off.url, "GET", "/openapi.json")[0] == 200
