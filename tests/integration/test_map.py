"""The live earthquake dashboard (GET /, GET /map/{file}; src/apps/quakes/map.c and web/).

HTTP checks with plain requests (the page's Content-Security-Policy and other headers, the
whitelist of files, 503 without the npm assets), and one end-to-end run in Debian's headless
Chromium driven by tests/browser/map.test.mjs (npm playwright-core, installed by
`scripts/ui.sh browser`; it never downloads a browser): the catalogue is not public, so the
page must sign in through its form (password grant, client strata-web); it must then show the
preloaded events as markers and rows, a USGS place name carrying HTML as text, and the changes
this test replays into the database while the page is open (a new event, an update, a
deletion), which reach the page through the real SSE stream (ingestor -> NOTIFY -> API
process -> /api/v1/earthquakes/stream).

Skipped, saying so, when /usr/bin/chromium is not installed (Debian package `chromium`).
"""

import http.client
import json
import os
import queue
import re
import secrets
import shutil
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from conftest import REPO, run_strata_cli

CHROMIUM = Path("/usr/bin/chromium")
SCRIPT = REPO / "tests" / "browser" / "map.test.mjs"
BROWSER_PREFIX = REPO / "build" / "test-browser"
NPM_DIR = REPO / "build" / "ui" / "node_modules"
WEB_DIR = REPO / "src" / "apps" / "quakes" / "web"
ADMIN_USER = "map.admin"
ADMIN_PASSWORD = "Map-" + secrets.token_urlsafe(18) + "!1"
XSS_PLACE = '5 km N of <img src=x onerror=alert(1)> "Town" & <script>alert(2)</script>'
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
FILES = {
    "map.js": ("text/javascript", WEB_DIR / "map.js"),
    "map.css": ("text/css", WEB_DIR / "map.css"),
    "favicon.svg": ("image/svg+xml", WEB_DIR / "favicon.svg"),
    "leaflet.js": ("text/javascript", NPM_DIR / "leaflet" / "dist" / "leaflet.js"),
    "leaflet.css": ("text/css", NPM_DIR / "leaflet" / "dist" / "leaflet.css"),
    "topojson-client.min.js": ("text/javascript", NPM_DIR / "topojson-client" / "dist" / "topojson-client.min.js"),
    "countries-110m.json": ("application/json", NPM_DIR / "world-atlas" / "countries-110m.json"),
}
# STRATA_MAP_SCREENSHOT=FILE keeps a picture of the page at the end of the browser test
SCREENSHOT = ["--screenshot", os.environ["STRATA_MAP_SCREENSHOT"]] if os.environ.get("STRATA_MAP_SCREENSHOT") else []
NO_PROXY = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
            "http_proxy": None, "https_proxy": None, "HTTP_PROXY": None, "HTTPS_PROXY": None}


# ---- helpers ------------------------------------------------------------------------------------

def feature(fid, t_ms, mag, lon, lat, depth, place, updated=None, status="reviewed"):
    """A feature shaped like USGS's."""
    p = {"mag": mag, "place": place, "time": t_ms, "updated": t_ms + 60_000 if updated is None else updated,
         "tz": None, "url": f"https://earthquake.usgs.gov/earthquakes/eventpage/{fid}", "detail": None,
         "felt": None, "cdi": None, "mmi": None, "alert": None, "status": status, "tsunami": 0, "sig": 100,
         "net": fid[:2], "code": fid[2:], "ids": f",{fid},", "sources": f",{fid[:2]},", "types": ",origin,",
         "nst": 10, "dmin": 0.1, "rms": 0.2, "gap": 90, "magType": "ml", "type": "earthquake",
         "title": f"M {mag} - {place}"}
    return {"type": "Feature", "properties": p, "geometry": {"type": "Point", "coordinates": [lon, lat, depth]},
            "id": fid}


def write_collection(path, features):
    path.write_text(json.dumps({"type": "FeatureCollection",
                                "metadata": {"generated": int(time.time() * 1000), "count": len(features)},
                                "features": features}))
    return path


def replay(db_url, path):
    p = run_strata_cli(["ingest", "--replay", str(path), "--speed", "0"],
                       env={"STRATA_DATABASE_URL": db_url, "STRATA_ENV": "development", **NO_PROXY}, timeout=120)
    assert p.returncode == 0, f"strata ingest --replay exited {p.returncode}:\n{p.stderr[-4000:]}"


def raw_get(base, path):
    """GET with the path sent exactly as given (requests would normalise dot segments)."""
    u = urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def token(srv):
    r = requests.post(srv.url + "/api/v1/auth/token", timeout=30,
                      data={"grant_type": "password", "username": ADMIN_USER, "password": ADMIN_PASSWORD,
                            "client_id": "strata-web"})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def map_env(**extra):
    env = {
        "STRATA_ADMIN_USER": ADMIN_USER,
        "STRATA_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "STRATA_QUAKES_PUBLIC_READ": "false",
        "STRATA_QUAKES_WEB_DIR": str(WEB_DIR),
        "STRATA_QUAKES_MAP_ASSETS_DIR": str(NPM_DIR),
        "STRATA_AUTH_RATE_PER_MINUTE": "100000",
        "STRATA_AUTH_USER_RATE_PER_MINUTE": "100000",
    }
    env.update(extra)
    return env


# ---- fixtures -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ui_packages():
    """leaflet, world-atlas, topojson-client (build/ui) and playwright-core (build/test-browser),
    pinned; a no-op when already installed."""
    r = subprocess.run([str(REPO / "scripts" / "ui.sh"), "browser"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"scripts/ui.sh browser failed:\n{r.stderr}"
    for _, f in FILES.values():
        assert f.is_file(), f


@pytest.fixture
def server(ui_packages, start_strata):
    return start_strata(env=map_env())


# ---- HTTP ---------------------------------------------------------------------------------------

def test_page_headers_and_markup(server):
    r = requests.get(server.url + "/", timeout=30)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.headers["Content-Security-Policy"] == PAGE_CSP
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Cache-Control"] == "no-cache"
    html = r.text
    # no inline script, no inline style, no event handler attribute, nothing from elsewhere
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert "<style" not in html and " style=" not in html
    assert not re.search(r"\son[a-z]+=", html)
    assert not re.search(r'(src|href)="(https?:)?//', html)
    refs = re.findall(r'(?:src|href|data-atlas)="(/map/[^"]+)"', html)
    assert {urlpath.split("?")[0][len("/map/"):] for urlpath in refs} == set(FILES)
    for ref in refs:
        name, version = re.fullmatch(r"/map/([^?]+)\?v=([0-9a-f]{16})", ref).groups()
        got = requests.get(server.url + ref, timeout=30)
        assert got.status_code == 200, ref
        assert got.content == FILES[name][1].read_bytes(), ref
    # HEAD works, and the page holds no data (it is the same for everyone)
    h = requests.head(server.url + "/", timeout=30)
    assert h.status_code == 200 and h.content == b""


def test_files_are_the_whitelisted_ones(server):
    for name, (ctype, path) in FILES.items():
        r = requests.get(server.url + "/map/" + name, timeout=30)
        assert r.status_code == 200, name
        assert r.headers["Content-Type"].split(";")[0] == ctype, name
        assert r.headers["Cache-Control"] == "public, max-age=86400", name
        assert r.headers["X-Content-Type-Options"] == "nosniff", name
        assert r.content == path.read_bytes(), name
    assert requests.get(server.url + "/map/favicon.svg", timeout=30).headers["Content-Security-Policy"] == \
        "default-src 'none'"
    # the JS never writes data as HTML
    js = (WEB_DIR / "map.js").read_text()
    assert not re.search(r"\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write", js)
    page = requests.get(server.url + "/", timeout=30).content
    for path in ["/map/%2e%2e", "/map/..", "/map/../map/../"]:
        # H2O resolves dot segments before routing: these are "/" itself, nothing more
        status, headers, body = raw_get(server.url, path)
        assert (status, body) == (200, page), path
    for path in ["/map/unknown.js", "/map/leaflet-src.js", "/map/leaflet.js.map", "/map/package.json",
                 "/map/..%2f..%2fetc%2fpasswd", "/map/..%2fpackage.json", "/map/%2e%2e%2fmap.js",
                 "/map/../../etc/passwd", "/map/map.js%00.txt", "/map/images/layers.png", "/map/" + "x" * 300]:
        status, headers, body = raw_get(server.url, path)
        assert status in (400, 404), (path, status)
        assert headers["content-type"] == "application/problem+json", path
        assert b"root:" not in body
    # the page takes no parameters; the files only their cache key
    assert requests.get(server.url + "/?x=1", timeout=30).status_code == 400
    assert requests.get(server.url + "/map/map.js?v=whatever", timeout=30).status_code == 200
    assert requests.get(server.url + "/map/map.js?w=1", timeout=30).status_code == 400


def test_without_npm_assets_503(ui_packages, start_strata, tmp_path):
    srv = start_strata(env=map_env(STRATA_QUAKES_MAP_ASSETS_DIR=str(tmp_path / "nothing")))
    for path in ("/", "/map/map.js", "/map/leaflet.js"):
        r = requests.get(srv.url + path, timeout=30)
        assert r.status_code == 503, path
        assert r.headers["Content-Type"] == "application/problem+json"
        detail = r.json()["detail"]
        assert "STRATA_QUAKES_MAP_ASSETS_DIR" in detail and "leaflet" in detail
        assert str(tmp_path) not in detail  # the folder is logged, not shown
    assert requests.get(srv.url + "/map/nope.js", timeout=30).status_code == 404
    assert any(rec.get("msg") == "quakes map not installed" for rec in srv.log_records())


# ---- the browser --------------------------------------------------------------------------------

class Node:
    """The browser script as a child process; its stdout JSON lines arrive on a queue."""

    def __init__(self, args, cwd):
        self.proc = subprocess.Popen(["node", str(SCRIPT), *args], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd)
        self.lines = queue.Queue()
        self.stderr = []
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines.put), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr.append), daemon=True).start()

    @staticmethod
    def _pump(stream, sink):
        for line in stream:
            sink(line)

    def expect(self, step, timeout):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                pytest.fail(f"the browser script did not report {step!r} within {timeout}s; "
                            f"stderr:\n{''.join(self.stderr)[-4000:]}")
            try:
                line = self.lines.get(timeout=min(left, 1))
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    pytest.fail(f"the browser script exited {self.proc.returncode} before {step!r}; "
                                f"stderr:\n{''.join(self.stderr)[-4000:]}")
                continue
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if msg.get("step") == "fail":
                self.proc.wait(timeout=30)
                pytest.fail("the browser script failed: " + msg.get("error", "") +
                            ("\n" + "\n".join(msg["also"]) if msg.get("also") else "") +
                            f"\nstderr:\n{''.join(self.stderr)[-4000:]}", pytrace=False)
            if msg.get("step") == step:
                return msg

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def dashboard_scenario(start_strata, db_url, tmp_path, public):
    """Preloads events, opens the page (signing in unless public), replays changes, and checks
    that the page showed them; returns the server."""
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed (Debian package chromium; scripts/deps.sh test "
                    "installs it): the dashboard's browser test cannot run")
    assert shutil.which("node"), "node is required (Debian 12: apt-get install nodejs)"
    srv = start_strata(env=map_env(STRATA_QUAKES_PUBLIC_READ="true" if public else "false"))

    # preloaded: 12 events of the last hours around the world (two by the antimeridian), one
    # with HTML in its place
    now = int(time.time() * 1000)
    tag = secrets.token_hex(3)
    spots = [(-122.8, 38.8, 2.1), (142.4, 38.3, 35.0), (-70.6, -33.4, 110.0), (28.9, 40.9, 8.0),
             (120.9, 23.9, 18.0), (-155.3, 19.4, 31.0), (174.8, -41.3, 210.0), (-99.1, 19.4, 55.0),
             (85.3, 27.7, 12.0), (179.5, -18.0, 560.0), (-179.8, 51.6, 42.0), (13.4, 38.1, 320.0)]
    initial = [feature(f"tm{tag}{i:02d}", now - (i + 1) * 600_000, round(1.2 + 0.55 * i, 1), lon, lat, depth,
                       f"{10 + i} km SE of Test Place {i}") for i, (lon, lat, depth) in enumerate(spots)]
    xss = initial[3]
    xss["properties"]["place"] = XSS_PLACE
    replay(db_url, write_collection(tmp_path / "initial.geojson", initial))
    tok = token(srv)
    listed = requests.get(srv.url + "/api/v1/earthquakes?limit=100",
                          headers={"Authorization": "Bearer " + tok}, timeout=30).json()["data"]
    assert {e["id"] for e in listed} == {f["id"] for f in initial}
    anon = requests.get(srv.url + "/api/v1/earthquakes", timeout=30).status_code
    assert anon == (200 if public else 401)

    # live: a new event (HTML in its place too), a revised magnitude, a deletion
    new_id = f"tl{tag}new"
    new = feature(new_id, now - 60_000, 5.7, 140.1, 35.6, 40.0, XSS_PLACE + " (live)")
    upd = initial[0]
    revised = feature(upd["id"], upd["properties"]["time"], 4.4, *upd["geometry"]["coordinates"],
                      upd["properties"]["place"], updated=upd["properties"]["updated"] + 120_000)
    gone = initial[5]
    deleted = feature(gone["id"], gone["properties"]["time"], gone["properties"]["mag"],
                      *gone["geometry"]["coordinates"], gone["properties"]["place"],
                      updated=gone["properties"]["updated"] + 120_000, status="deleted")
    live = write_collection(tmp_path / "live.geojson", [new, revised, deleted])

    who = ["--anonymous"] if public else ["--user", ADMIN_USER, "--password", ADMIN_PASSWORD]
    # at the end the page filters on magnitude >= 4: what is left after the live changes
    after = {f["id"]: f["properties"]["mag"] for f in initial if f is not gone}
    after.update({new_id: 5.7, upd["id"]: 4.4})
    at_least_4 = sum(1 for m in after.values() if m >= 4)
    node = Node(["--url", srv.url, *who, "--min-markers", str(len(initial)),
                 "--xss-id", xss["id"], "--xss-place", XSS_PLACE,
                 "--expect-new", new_id, "--expect-update", f"{upd['id']}=4.4", "--expect-gone", gone["id"],
                 "--filter-minmag", "4", "--filter-count", str(at_least_4),
                 "--prefix", str(BROWSER_PREFIX), "--chromium", str(CHROMIUM), "--timeout-ms", "60000",
                 "--artifacts", str(tmp_path / "artifacts"), *SCREENSHOT], cwd=tmp_path)
    try:
        ready = node.expect("ready", 120)
        assert ready["markers"] == ready["rows"] == len(initial), ready
        replay(db_url, live)  # a second process: the API process hears of it through NOTIFY
        done = node.expect("done", 120)
        node.proc.wait(timeout=30)
        assert node.proc.returncode == 0, "".join(node.stderr)[-4000:]
    finally:
        node.kill()
    assert done["markers"] == done["rows"] == done["count"] == len(initial), done  # one new, one deleted
    assert done["live"] == "open", done
    assert new_id in done["fresh"], done
    assert 0 < at_least_4 < len(initial)
    return srv, tok


def test_dashboard_in_chromium(ui_packages, start_strata, db_url, tmp_path):
    srv, tok = dashboard_scenario(start_strata, db_url, tmp_path, public=False)
    # the page used the stream with its token in the query: no log line shows a token
    log = srv.log()
    assert "access_token=" not in log and tok not in log
    assert ADMIN_PASSWORD not in log
    streams = [r for r in srv.log_records() if r.get("msg") == "request" and r.get("path") == "/api/v1/earthquakes/stream"]
    assert any(r["status"] == 401 for r in streams), streams  # before signing in
    assert any(r["status"] == 200 and r.get("user") == ADMIN_USER for r in streams), streams


def test_dashboard_public_read_in_chromium(ui_packages, start_strata, db_url, tmp_path):
    """As `make run` serves it (STRATA_QUAKES_PUBLIC_READ=true): no sign-in needed."""
    srv, _ = dashboard_scenario(start_strata, db_url, tmp_path, public=True)
    streams = [r for r in srv.log_records() if r.get("msg") == "request" and r.get("path") == "/api/v1/earthquakes/stream"]
    assert streams and all(r["status"] == 200 and "user" not in r for r in streams), streams
