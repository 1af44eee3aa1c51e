"""The earthquake catalogue API (SPEC §5 quakes): GET /api/v1/earthquakes and
GET /api/v1/earthquakes/{id}.

The bundled week (data/usgs_all_week_2023-08-04.geojson, 2,124 events) is loaded straight into
the tables with psycopg (not through the ingest), with two documented changes so every code
path has data: DELETED events are marked status=deleted, and NOMAG events lose their magnitude.
Every expected answer is computed in Python from the same features, independently of SQL:
time windows, magnitudes, depths, rectangles (the antimeridian written USGS style, 170..190),
circles by Vincenty's formulae on WGS 84 (test circles are chosen, and checked, to have no
event within 1 km of their edge), alert level, event type, review status, deleted events.

Query plans: src/apps/quakes/sql.h holds the text of every statement the server prepares;
this module reads that header (resolving its macros), prepares the statements in its own
session over 200,000 generated rows and runs EXPLAIN (FORMAT JSON) EXECUTE with representative
parameters, asserting that a time window, a magnitude floor and a radius each use an index and
that PostgreSQL keeps planning them with the actual values (no generic plan).
"""

import base64
import hashlib
import hmac
import json
import math
import re
import struct
import sys
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlencode, urlsplit

import psycopg
import pytest
import requests

import authutil as au
from authutil import API_KEY_SECRET, auth_env, bearer
from conftest import REPO, assert_problem, run_strata_cli

sys.path.insert(0, str(REPO / "scripts"))
import quakes_sql  # noqa: E402

LIST = "/api/v1/earthquakes"
DATA = REPO / "data" / "usgs_all_week_2023-08-04.geojson"
T = 60
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


# ---- the reference catalogue ---------------------------------------------------------------------

def _pick(ids, salt, n):
    """n ids chosen by a stable hash (same every run, spread over the week)."""
    return set(sorted(ids, key=lambda i: hashlib.sha256((salt + i).encode()).hexdigest())[:n])


class Event:
    __slots__ = ("id", "time", "updated", "mag", "magtype", "place", "lon", "lat", "depth", "status", "type",
                 "alert", "tsunami", "sig", "felt", "cdi", "mmi", "gap", "net", "code", "sources", "url", "title",
                 "props")

    def __init__(self, feat):
        p = dict(feat["properties"])
        lon, lat, depth = feat["geometry"]["coordinates"]
        self.id = feat["id"]
        self.time, self.updated = p["time"], p["updated"]  # ms since the epoch
        self.mag, self.magtype, self.place = p["mag"], p["magType"], p["place"]
        self.lon, self.lat, self.depth = lon, lat, depth
        self.status, self.type, self.alert = p["status"].lower(), p["type"], p["alert"]
        self.tsunami = bool(p["tsunami"])
        self.sig, self.felt, self.cdi, self.mmi, self.gap = p["sig"], p["felt"], p["cdi"], p["mmi"], p["gap"]
        self.net, self.code, self.sources, self.url, self.title = p["net"], p["code"], p["sources"], p["url"], p["title"]
        self.props = p

    def magkey(self):
        return self.mag if self.mag is not None else -math.inf


def load_reference():
    feats = json.loads(DATA.read_text())["features"]
    assert len(feats) == 2124
    events = [Event(f) for f in feats]
    ids = [e.id for e in events]
    deleted = _pick(ids, "deleted", 20)
    nomag = _pick(ids, "nomag", 6) | _pick(deleted, "nomag-deleted", 3)
    for e in events:
        if e.id in deleted:
            e.status = e.props["status"] = "deleted"
        if e.id in nomag:
            e.mag = e.props["mag"] = None
    return events


def ts(ms):
    return EPOCH + timedelta(milliseconds=ms)


def iso_ms(ms):
    return ts(ms).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def insert_events(conn, events):
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO quakes (id, time, updated, mag, magtype, place, lon, lat, depth_km, status, eventtype, alert,"
            " tsunami, sig, felt, cdi, mmi, gap, net, code, sources, title, properties)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(e.id, ts(e.time), ts(e.updated), e.mag, e.magtype, e.place, e.lon, e.lat, e.depth, e.status, e.type,
              e.alert, e.tsunami, e.sig, e.felt, e.cdi, e.mmi, e.gap, e.net, e.code, e.sources, e.title,
              psycopg.types.json.Jsonb(e.props)) for e in events])


# ---- Vincenty on WGS 84 (the spheroid PostGIS geography measures on) --------------------------------

WGS84_A, WGS84_F = 6378137.0, 1 / 298.257223563
WGS84_B = WGS84_A * (1 - WGS84_F)


def vincenty_m(lat1, lon1, lat2, lon2):
    """Distance in metres between two points on WGS 84 (Vincenty's inverse formula)."""
    if lat1 == lat2 and lon1 == lon2:
        return 0.0
    f = WGS84_F
    L = math.radians(lon2 - lon1)
    U1 = math.atan((1 - f) * math.tan(math.radians(lat1)))
    U2 = math.atan((1 - f) * math.tan(math.radians(lat2)))
    sinU1, cosU1, sinU2, cosU2 = math.sin(U1), math.cos(U1), math.sin(U2), math.cos(U2)
    lam = L
    for _ in range(200):
        sinL, cosL = math.sin(lam), math.cos(lam)
        sin_sigma = math.hypot(cosU2 * sinL, cosU1 * sinU2 - sinU1 * cosU2 * cosL)
        if sin_sigma == 0:
            return 0.0
        cos_sigma = sinU1 * sinU2 + cosU1 * cosU2 * cosL
        sigma = math.atan2(sin_sigma, cos_sigma)
        sin_alpha = cosU1 * cosU2 * sinL / sin_sigma
        cos2_alpha = 1 - sin_alpha ** 2
        cos2sm = cos_sigma - 2 * sinU1 * sinU2 / cos2_alpha if cos2_alpha else 0.0
        C = f / 16 * cos2_alpha * (4 + f * (4 - 3 * cos2_alpha))
        prev = lam
        lam = L + (1 - C) * f * sin_alpha * (sigma + C * sin_sigma * (cos2sm + C * cos_sigma * (-1 + 2 * cos2sm ** 2)))
        if abs(lam - prev) < 1e-12:
            break
    else:
        raise AssertionError("Vincenty did not converge (near-antipodal points): pick another test circle")
    u2 = cos2_alpha * (WGS84_A ** 2 - WGS84_B ** 2) / WGS84_B ** 2
    A = 1 + u2 / 16384 * (4096 + u2 * (-768 + u2 * (320 - 175 * u2)))
    B = u2 / 1024 * (256 + u2 * (-128 + u2 * (74 - 47 * u2)))
    ds = B * sin_sigma * (cos2sm + B / 4 * (cos_sigma * (-1 + 2 * cos2sm ** 2)
                                            - B / 6 * cos2sm * (-3 + 4 * sin_sigma ** 2) * (-3 + 4 * cos2sm ** 2)))
    return WGS84_B * A * (sigma - ds)


# ---- the reference filter -------------------------------------------------------------------------

def parse_time(s):
    """The few request time forms this module uses -> ms since the epoch."""
    if re.fullmatch(r"\d{4}-\d\d-\d\d", s):
        s += "T00:00:00"
    dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return (dt - EPOCH) // timedelta(microseconds=1) / 1000


def lon_in(lon, lo, hi):
    if hi - lo >= 360:
        return True
    return any(lo <= lon + 360 * k <= hi for k in (-2, -1, 0, 1, 2))


def matches(e, q):
    g = lambda k: q.get(k)  # noqa: E731
    inc = g("includedeleted") or "false"
    if inc == "false" and e.status == "deleted" or inc == "only" and e.status != "deleted":
        return False
    if g("starttime") and e.time < parse_time(g("starttime")):
        return False
    if g("endtime") and e.time > parse_time(g("endtime")):
        return False
    if g("updatedafter") and not e.updated > parse_time(g("updatedafter")):
        return False
    if g("minmagnitude") is not None and (e.mag is None or e.mag < float(g("minmagnitude"))):
        return False
    if g("maxmagnitude") is not None and (e.mag is None or e.mag > float(g("maxmagnitude"))):
        return False
    if g("mindepth") is not None and e.depth < float(g("mindepth")):
        return False
    if g("maxdepth") is not None and e.depth > float(g("maxdepth")):
        return False
    if any(g(k) is not None for k in ("minlatitude", "maxlatitude", "minlongitude", "maxlongitude")):
        if not float(g("minlatitude") or -90) <= e.lat <= float(g("maxlatitude") or 90):
            return False
        if not lon_in(e.lon, float(g("minlongitude") or -180), float(g("maxlongitude") or 180)):
            return False
    if g("maxradiuskm") is not None and float(g("maxradiuskm")) < 20000:
        if vincenty_m(float(g("latitude")), float(g("longitude")), e.lat, e.lon) > float(g("maxradiuskm")) * 1000:
            return False
    if g("alertlevel") and e.alert != g("alertlevel"):
        return False
    if g("eventtype") and e.type != g("eventtype"):
        return False
    if g("reviewstatus") and e.status != g("reviewstatus"):
        return False
    return True


ORDER_KEYS = {
    "time": (lambda e: (e.time, e.id), True),
    "time-asc": (lambda e: (e.time, e.id), False),
    "magnitude": (lambda e: (e.magkey(), e.id), True),
    "magnitude-asc": (lambda e: (e.magkey(), e.id), False),
}


def reference(events, q):
    key, rev = ORDER_KEYS[q.get("orderby", "time")]
    return sorted((e for e in events if matches(e, q)), key=key, reverse=rev)


def assert_circle_margin(events, lat, lon, km, margin_m=1000):
    """A test circle must have no event within margin_m of its edge, so spheroid formulas
    that differ by millimetres cannot disagree on it."""
    for e in events:
        d = vincenty_m(lat, lon, e.lat, e.lon)
        assert abs(d - km * 1000) > margin_m, f"circle ({lat}, {lon}, {km} km): {e.id} lies {d:.0f} m away"


# ---- the cursor, as the server signs it (key derived from STRATA_API_KEY_SECRET) ------------------------

CURSOR_KEY = hmac.new(API_KEY_SECRET.encode()[:64], b"strata:quakes:cursor:v1", hashlib.sha256).digest()
ORDER_CODES = {"time": 0, "time-asc": 1, "magnitude": 2, "magnitude-asc": 3}


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def forge_cursor(order, key_bits, ident, key=CURSOR_KEY, version=1):
    idb = ident.encode() if isinstance(ident, str) else ident
    body = bytes([version, order]) + struct.pack(">Q", key_bits & (2 ** 64 - 1)) + bytes([len(idb) & 255]) + idb
    return b64u(body + hmac.new(key, body, hashlib.sha256).digest()[:16])


def decode_cursor(text):
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    body, mac = raw[:-16], raw[-16:]
    assert hmac.compare_digest(hmac.new(CURSOR_KEY, body, hashlib.sha256).digest()[:16], mac)
    version, order = body[0], body[1]
    (bits,) = struct.unpack(">Q", body[2:10])
    ident = body[11:11 + body[10]].decode()
    return version, order, bits, ident


# ---- helpers ---------------------------------------------------------------------------------------

def get(srv, path, headers=None, params=None):
    return requests.get(srv.url + path, headers=headers or {}, params=params, timeout=T)


def walk(srv, headers, q, limit=1000, fmt="json"):
    """Every page of a listing, following the Link header; returns (items, pages)."""
    params = dict(q, limit=str(limit))
    if fmt != "json":
        params["format"] = fmt
    url = srv.url + LIST + "?" + urlencode(params)
    items, pages, seen_cursors = [], 0, set()
    while True:
        r = requests.get(url, headers=headers, timeout=T)
        assert r.status_code == 200, f"{url}: {r.status_code} {r.text[:400]}"
        body = r.json()
        pages += 1
        if fmt == "json":
            page, nxt = body["data"], body["next_cursor"]
        else:
            page, nxt = body["features"], body["metadata"]["next_cursor"]
        assert len(page) <= limit
        items += page
        link = r.headers.get("Link")
        if nxt is None:
            assert link is None, link
            break
        assert len(page) == limit, "a page before the last one is full"
        assert nxt not in seen_cursors
        seen_cursors.add(nxt)
        m = re.fullmatch(r'<(/api/v1/earthquakes\?[^>]*)>; rel="next"', link or "")
        assert m, f"Link header {link!r}"
        got = parse_qsl(urlsplit(m.group(1)).query, keep_blank_values=True)
        assert dict(got)["cursor"] == nxt
        want = {k: v for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True) if k != "cursor"}
        assert {k: v for k, v in got if k != "cursor"} == want, "Link keeps every other parameter"
        url = srv.url + m.group(1)
        assert pages < 10000
    return items, pages


def ids(items):
    return [it["id"] for it in items]


# ---- fixtures ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def servers(request, pg, tmp_path_factory):
    yield from au.servers_fixture(request, pg, tmp_path_factory, "qapi")


@pytest.fixture(scope="module")
def srv(servers):
    s = servers.start(env=auth_env())
    r = get(s, LIST)
    if r.status_code == 404:
        pytest.fail("GET /api/v1/earthquakes is not routed: main.c must register quakes_api_routes "
                    "(and quakes_register_config)", pytrace=False)
    return s


@pytest.fixture(scope="module")
def events(servers, srv):
    evs = load_reference()
    with servers.connect() as conn:
        insert_events(conn, evs)
        conn.execute("ANALYZE quakes")
    return evs


@pytest.fixture(scope="module")
def admin(srv):
    return bearer(au.admin_token(srv.url))


@pytest.fixture(scope="module")
def users(srv, admin):
    made = au.create_users(srv.url, admin["Authorization"][7:], [("qapi.viewer", "viewer"), ("qapi.operator", "operator")])
    return {name: bearer(au.login(srv.url, name, pw)["access_token"]) for name, (uid, pw) in made.items()}


@pytest.fixture(scope="module")
def viewer(users):
    return users["qapi.viewer"]


# ---- filters: counts and contents against the reference ----------------------------------------------------

CIRCLES = [
    (38.8, -122.8, 50),     # The Geysers, California: many small events
    (61.2, -150.0, 300),    # south-central Alaska
    (19.4, -155.3, 42),     # Hawaii
    (-18.0, 178.0, 1200),   # Fiji: the circle crosses the antimeridian
    (52.0, -175.0, 800),    # Aleutians, reaching across 180 the other way
    (0.0, 0.0, 20001.6),    # the whole Earth
]

FILTER_CASES = {
    "everything": {},
    "time window": {"starttime": "2023-08-01T00:00:00Z", "endtime": "2023-08-02T12:00:00Z"},
    "time window, dates and offsets": {"starttime": "2023-08-02", "endtime": "2023-08-03T14:00:00+02:00"},
    "starttime only": {"starttime": "2023-08-03T18:30:00"},
    "endtime only": {"endtime": "2023-07-29T00:00:00Z"},
    "updatedafter": {"updatedafter": "2023-08-03T00:00:00Z"},
    "minmagnitude": {"minmagnitude": "2.5"},
    "maxmagnitude": {"maxmagnitude": "1"},
    "magnitude range": {"minmagnitude": "1.5", "maxmagnitude": "2.5"},
    "negative magnitudes": {"maxmagnitude": "0"},
    "depth range": {"mindepth": "10", "maxdepth": "35"},
    "above sea level": {"maxdepth": "0"},
    "deep": {"mindepth": "300"},
    "rectangle California": {"minlatitude": "32", "maxlatitude": "42", "minlongitude": "-125", "maxlongitude": "-114"},
    "rectangle across the antimeridian": {"minlongitude": "170", "maxlongitude": "190"},
    "rectangle across the antimeridian, west form": {"minlongitude": "-190", "maxlongitude": "-170"},
    "rectangle Fiji-Tonga": {"minlatitude": "-30", "maxlatitude": "-10", "minlongitude": "160", "maxlongitude": "200"},
    "rectangle shifted by 360": {"minlongitude": "200", "maxlongitude": "250"},
    "north of 60": {"minlatitude": "60"},
    "whole globe": {"minlongitude": "-360", "maxlongitude": "360"},
    "alertlevel": {"alertlevel": "green"},
    "eventtype quarry blast": {"eventtype": "quarry blast"},
    "eventtype explosion": {"eventtype": "explosion"},
    "reviewstatus automatic": {"reviewstatus": "automatic"},
    "reviewstatus reviewed": {"reviewstatus": "reviewed"},
    "includedeleted true": {"includedeleted": "true"},
    "includedeleted only": {"includedeleted": "only"},
    "deleted and magnitude": {"includedeleted": "only", "minmagnitude": "1"},
    "combined": {"starttime": "2023-07-30", "minmagnitude": "1", "maxdepth": "20", "minlatitude": "30",
                 "maxlatitude": "65", "minlongitude": "-160", "maxlongitude": "-110", "reviewstatus": "reviewed"},
    "circle and magnitude": {"latitude": "61.2", "longitude": "-150", "maxradiuskm": "300", "minmagnitude": "1.5"},
    "circle and rectangle": {"latitude": "38.8", "longitude": "-122.8", "maxradiuskm": "50", "maxlatitude": "38.8"},
}
for _lat, _lon, _km in CIRCLES:
    FILTER_CASES[f"circle {_lat},{_lon} {_km} km"] = {"latitude": str(_lat), "longitude": str(_lon),
                                                      "maxradiuskm": str(_km)}


def test_reference_sanity(events):
    """The test data exercise what they are meant to: each case is neither empty nor everything."""
    for lat, lon, km in CIRCLES:
        if km < 20000:
            assert_circle_margin(events, lat, lon, km)
    total = len(reference(events, {}))
    assert total == 2124 - 20
    for name, q in FILTER_CASES.items():
        n = len(reference(events, q))
        if name not in ("everything", "includedeleted true", "whole globe", "circle 0.0,0.0 20001.6 km"):
            assert 0 < n < total, f"{name}: {n} of {total}"
    assert any(e.lon > 170 for e in events) and any(e.lon < -170 for e in events)
    # the whole-Earth circle (20001.6 km) misses only points within ~2 km of its antipode
    assert all(vincenty_m(0.0, 180.0, e.lat, e.lon) > 100_000 for e in events)


@pytest.mark.parametrize("name", list(FILTER_CASES))
def test_filter_matches_reference(srv, events, admin, name):
    q = FILTER_CASES[name]
    items, _ = walk(srv, admin, q)
    want = reference(events, q)
    assert len(items) == len(want), f"{name}: {len(items)} events, reference {len(want)}"
    assert set(ids(items)) == {e.id for e in want}
    assert ids(items) == [e.id for e in want], "newest first, ties by id"


def test_fields_match_the_feed(srv, events, admin):
    items, pages = walk(srv, admin, {"includedeleted": "true"}, limit=1000)
    assert pages == 3
    by_id = {e.id: e for e in events}
    assert len(items) == 2124
    keys = ["id", "time", "updated", "magnitude", "magtype", "place", "latitude", "longitude", "depth_km", "status",
            "type", "alert", "tsunami", "sig", "felt", "cdi", "mmi", "gap", "net", "url", "title"]
    for it in items:
        e = by_id[it["id"]]
        assert list(it) == (keys if e.url is not None else [k for k in keys if k != "url"]), list(it)
        assert it["time"] == iso_ms(e.time) and it["updated"] == iso_ms(e.updated)
        assert it["magnitude"] == e.mag and it["magtype"] == e.magtype and it["place"] == e.place
        assert (it["longitude"], it["latitude"], it["depth_km"]) == (e.lon, e.lat, e.depth)
        assert it["status"] == e.status and it["type"] == e.type and it["alert"] == e.alert
        assert it["tsunami"] is e.tsunami and it["sig"] == e.sig and it["felt"] == e.felt
        assert (it["cdi"], it["mmi"], it["gap"]) == (e.cdi, e.mmi, e.gap)
        assert it["net"] == e.net and it["url"] == e.url and it["title"] == e.title


def test_boundaries_are_inclusive(srv, events, admin):
    e = sorted(events, key=lambda x: x.time)[1000]
    q = {"starttime": iso_ms(e.time), "endtime": iso_ms(e.time)}
    items, _ = walk(srv, admin, q)
    assert e.id in ids(items) and ids(items) == [x.id for x in reference(events, q)]
    m = next(x for x in events if x.mag is not None and x.status != "deleted" and x.mag * 100 == round(x.mag * 100))
    q = {"minmagnitude": repr(m.mag), "maxmagnitude": repr(m.mag)}
    items, _ = walk(srv, admin, q)
    assert m.id in ids(items) and set(ids(items)) == {x.id for x in reference(events, q)}
    d = next(x for x in events if x.status != "deleted")
    q = {"mindepth": repr(d.depth), "maxdepth": repr(d.depth)}
    assert d.id in ids(walk(srv, admin, q)[0])
    q = {"minlatitude": repr(d.lat), "maxlatitude": repr(d.lat), "minlongitude": repr(d.lon),
         "maxlongitude": repr(d.lon)}
    assert d.id in ids(walk(srv, admin, q)[0])


# ---- keyset paging ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("orderby", list(ORDER_KEYS))
@pytest.mark.parametrize("q", [{"includedeleted": "true"}, {"minmagnitude": "1", "maxdepth": "15"},
                               {"minlongitude": "170", "maxlongitude": "190"}], ids=["all", "filtered", "antimeridian"])
def test_cursor_walk_every_ordering(srv, events, admin, orderby, q):
    q = dict(q, orderby=orderby)
    items, pages = walk(srv, admin, q, limit=97)
    want = reference(events, q)
    assert pages == max(1, math.ceil(len(want) / 97))
    assert ids(items) == [e.id for e in want]
    assert len(set(ids(items))) == len(items)


def test_cursor_walk_geojson(srv, events, admin):
    q = {"orderby": "magnitude", "includedeleted": "only"}
    feats, pages = walk(srv, admin, q, limit=7, fmt="geojson")
    assert pages == 3
    assert ids(feats) == [e.id for e in reference(events, q)]
    mags = [f["properties"]["mag"] for f in feats]
    k = mags.index(None)
    assert k <= len(mags) - 3 and all(m is None for m in mags[k:]), f"no magnitude sorts last: {mags}"


def test_cursor_content_is_the_last_row(srv, events, admin):
    for orderby in ORDER_KEYS:
        r = get(srv, LIST, admin, {"orderby": orderby, "limit": "3", "includedeleted": "true"})
        body = r.json()
        version, order, bits, ident = decode_cursor(body["next_cursor"])
        last = body["data"][-1]
        assert (version, order, ident) == (1, ORDER_CODES[orderby], last["id"])
        if orderby.startswith("time"):
            e = next(x for x in events if x.id == ident)
            assert bits == e.time * 1000
        else:
            assert struct.unpack(">d", struct.pack(">Q", bits))[0] == (last["magnitude"] if last["magnitude"]
                                                                      is not None else -math.inf)


@pytest.mark.parametrize("orderby", ["time", "magnitude-asc"])
def test_walk_while_rows_arrive(servers, srv, events, admin, orderby):
    """Keyset paging while the ingest inserts: nothing seen twice, the order holds, every event
    present at the start is seen, new events ahead of the position are seen, those behind are not."""
    rev = ORDER_KEYS[orderby][1]
    q = {"orderby": orderby, "includedeleted": "true"}
    url = srv.url + LIST + "?" + urlencode(dict(q, limit="150"))
    base = {e.id for e in events}
    seen, ahead, behind, n = [], set(), set(), 0
    template = events[0]
    try:
        with servers.connect() as conn:
            while url:
                body = requests.get(url, headers=admin, timeout=T).json()
                seen += body["data"]
                if not body["next_cursor"]:
                    break
                last = body["data"][-1]
                t = int(datetime.fromisoformat(last["time"].replace("Z", "+00:00")).timestamp() * 1000)
                m = last["magnitude"] if last["magnitude"] is not None else -1.0
                new = []
                for where in ("ahead", "behind"):
                    n += 1
                    e = Event({"id": f"zzwalk{orderby}{n}", "properties": dict(template.props),
                               "geometry": {"coordinates": [10.0, 10.0, 5.0]}})
                    e.status = "reviewed"
                    sign = 1 if (where == "ahead") != rev else -1
                    if orderby.startswith("time"):
                        e.time = t + sign * 60_000
                    else:
                        e.mag = round(m + sign * 0.05, 2)
                    (ahead if where == "ahead" else behind).add(e.id)
                    new.append(e)
                insert_events(conn, new)
                url = srv.url + LIST + "?" + urlencode(dict(q, limit="150", cursor=body["next_cursor"]))
            got = ids(seen)
            assert len(got) == len(set(got)), "an event was repeated"
            keys = []
            for it in seen:
                tt = datetime.fromisoformat(it["time"].replace("Z", "+00:00"))
                mk = it["magnitude"] if it["magnitude"] is not None else -math.inf
                keys.append((tt, it["id"]) if orderby.startswith("time") else (mk, it["id"]))
            assert keys == sorted(keys, reverse=rev), "the order held"
            assert base <= set(got), "every event present at the start was seen"
            assert ahead <= set(got), "events inserted ahead of the position were seen"
            assert not (behind & set(got)), "events inserted behind the position were not"
            assert n >= 20
    finally:
        with servers.connect() as conn:
            conn.execute("DELETE FROM quakes WHERE id LIKE 'zzwalk%'")


# ---- format=geojson -------------------------------------------------------------------------------------------

def test_geojson_structure(srv, events, admin):
    q = {"minmagnitude": "2", "starttime": "2023-08-01", "limit": "25", "format": "geojson"}
    r = get(srv, LIST, admin, q)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    fc = r.json()
    assert fc["type"] == "FeatureCollection"
    md = fc["metadata"]
    assert set(md) == {"generated", "url", "title", "status", "api", "count", "next_cursor"}
    assert md["status"] == 200 and md["count"] == 25 == len(fc["features"]) and isinstance(md["title"], str)
    assert abs(md["generated"] / 1000 - datetime.now(timezone.utc).timestamp()) < 120
    assert md["url"] == LIST + "?" + urlencode(q)
    assert isinstance(md["next_cursor"], str)
    by_id = {e.id: e for e in events}
    want = [e.id for e in reference(events, q)][:25]
    assert [f["id"] for f in fc["features"]] == want
    for f in fc["features"]:
        e = by_id[f["id"]]
        assert set(f) == {"type", "properties", "geometry", "id"} and f["type"] == "Feature"
        assert f["geometry"] == {"type": "Point", "coordinates": [e.lon, e.lat, e.depth]}
        assert f["properties"] == e.props, "every USGS property, as received"
    coords = [f["geometry"]["coordinates"] for f in fc["features"]]
    assert fc["bbox"] == [min(c[0] for c in coords), min(c[1] for c in coords), min(c[2] for c in coords),
                          max(c[0] for c in coords), max(c[1] for c in coords), max(c[2] for c in coords)]
    # next page via the cursor in the metadata
    r2 = get(srv, LIST, admin, dict(q, cursor=md["next_cursor"]))
    fc2 = r2.json()
    assert fc2["metadata"]["url"] == LIST + "?" + urlencode(dict(q, cursor=md["next_cursor"]))
    assert not ({f["id"] for f in fc2["features"]} & set(want))
    # an empty collection has no bbox
    r3 = get(srv, LIST, admin, {"format": "geojson", "minmagnitude": "11"})
    fc3 = r3.json()
    assert fc3["features"] == [] and fc3["metadata"]["count"] == 0 and fc3["metadata"]["next_cursor"] is None
    assert "bbox" not in fc3


def test_json_shape_and_defaults(srv, events, admin):
    r = get(srv, LIST, admin)
    body = r.json()
    assert set(body) == {"data", "next_cursor"} and len(body["data"]) == 50
    assert ids(body["data"]) == [e.id for e in reference(events, {})][:50]
    r = get(srv, LIST, admin, {"limit": "1000", "minmagnitude": "4.5"})
    assert r.json()["next_cursor"] is None and "Link" not in r.headers


# ---- one event ---------------------------------------------------------------------------------------------------

def test_item_and_etag(servers, srv, events, admin):
    e = next(x for x in events if x.felt is not None and x.status != "deleted")
    path = f"{LIST}/{e.id}"
    r = get(srv, path, admin)
    assert r.status_code == 200
    it = r.json()
    assert it["id"] == e.id and it["properties"] == e.props and it["magnitude"] == e.mag
    assert it["time"] == iso_ms(e.time) and it["felt"] == e.felt and it["depth_km"] == e.depth
    etag = r.headers["ETag"]
    assert re.fullmatch(r'W/"\d+"', etag), etag
    for inm in (etag, etag[2:], f'"nope", {etag}', f'W/"1" ,{etag} ', "*"):
        r2 = get(srv, path, dict(admin, **{"If-None-Match": inm}))
        assert r2.status_code == 304, inm
        assert r2.content == b"" and r2.headers["ETag"] == etag
    for inm in ('W/"1"', '"x"', etag[:-2] + '"'):
        assert get(srv, path, dict(admin, **{"If-None-Match": inm})).status_code == 200, inm
    # an update moves the ETag
    with servers.connect() as conn:
        conn.execute("UPDATE quakes SET updated = updated + interval '1 second' WHERE id = %s", (e.id,))
    try:
        r3 = get(srv, path, dict(admin, **{"If-None-Match": etag}))
        assert r3.status_code == 200 and r3.headers["ETag"] != etag
        assert get(srv, path, dict(admin, **{"If-None-Match": r3.headers["ETag"]})).status_code == 304
    finally:
        with servers.connect() as conn:
            conn.execute("UPDATE quakes SET updated = %s WHERE id = %s", (ts(e.updated), e.id))


def test_item_not_found_and_deleted(srv, events, admin):
    assert_problem(get(srv, f"{LIST}/nc00000000", admin), 404)
    assert_problem(get(srv, f"{LIST}/a%2Fb", admin), 404)
    assert_problem(get(srv, f"{LIST}/" + "x" * 300, admin), 400)
    d = next(x for x in events if x.status == "deleted")
    r = get(srv, f"{LIST}/{d.id}", admin)
    assert r.status_code == 200 and r.json()["status"] == "deleted", "a deleted event is known, not 404"


# ---- hostile input: 400 naming the field ---------------------------------------------------------------------

def _cursors(srv, admin):
    out = {}
    for orderby in ORDER_KEYS:
        out[orderby] = get(srv, LIST, admin, {"orderby": orderby, "limit": "2"}).json()["next_cursor"]
    return out


HOSTILE = [
    ({"starttime": "yesterday"}, "starttime"),
    ({"starttime": "2023-13-01"}, "starttime"),
    ({"starttime": "2023-02-30"}, "starttime"),
    ({"endtime": "2023-08-01T25:00:00"}, "endtime"),
    ({"starttime": "2023-08-03", "endtime": "2023-08-02"}, "endtime"),
    ({"starttime": ["2023-08-01", "2023-08-02"]}, "starttime"),
    ({"updatedafter": "12345"}, "updatedafter"),
    ({"minmagnitude": "abc"}, "minmagnitude"),
    ({"minmagnitude": "nan"}, "minmagnitude"),
    ({"minmagnitude": "inf"}, "minmagnitude"),
    ({"minmagnitude": "0x10"}, "minmagnitude"),
    ({"minmagnitude": "13"}, "minmagnitude"),
    ({"maxmagnitude": "-11"}, "maxmagnitude"),
    ({"minmagnitude": "5", "maxmagnitude": "4"}, "maxmagnitude"),
    ({"mindepth": "abc"}, "mindepth"),
    ({"mindepth": "-1000"}, "mindepth"),
    ({"maxdepth": "1e9"}, "maxdepth"),
    ({"mindepth": "50", "maxdepth": "10"}, "maxdepth"),
    ({"minlatitude": "-91"}, "minlatitude"),
    ({"maxlatitude": "90.5"}, "maxlatitude"),
    ({"minlatitude": "10", "maxlatitude": "-10"}, "maxlatitude"),
    ({"minlongitude": "-361"}, "minlongitude"),
    ({"maxlongitude": "400"}, "maxlongitude"),
    ({"minlongitude": "190", "maxlongitude": "170"}, "maxlongitude"),
    ({"minlongitude": "200"}, "minlongitude"),
    ({"maxlongitude": "-200"}, "maxlongitude"),
    ({"latitude": "100", "longitude": "0", "maxradiuskm": "10"}, "latitude"),
    ({"latitude": "0", "longitude": "181", "maxradiuskm": "10"}, "longitude"),
    ({"maxradiuskm": "100"}, "latitude"),
    ({"latitude": "10", "maxradiuskm": "100"}, "longitude"),
    ({"longitude": "10", "maxradiuskm": "100"}, "latitude"),
    ({"latitude": "10", "longitude": "10"}, "maxradiuskm"),
    ({"latitude": "0", "longitude": "0", "maxradiuskm": "-1"}, "maxradiuskm"),
    ({"latitude": "0", "longitude": "0", "maxradiuskm": "20002"}, "maxradiuskm"),
    ({"alertlevel": "purple"}, "alertlevel"),
    ({"alertlevel": "RED"}, "alertlevel"),
    ({"reviewstatus": "pending"}, "reviewstatus"),
    ({"includedeleted": "maybe"}, "includedeleted"),
    ({"includedeleted": "only", "reviewstatus": "reviewed"}, "reviewstatus"),
    ({"orderby": "depth"}, "orderby"),
    ({"orderby": ["time", "magnitude"]}, "orderby"),
    ({"limit": "0"}, "limit"),
    ({"limit": "1001"}, "limit"),
    ({"limit": "-5"}, "limit"),
    ({"limit": "1e3"}, "limit"),
    ({"format": "xml"}, "format"),
    ({"eventtype": "x" * 300}, "eventtype"),
    ({"eventtype": "quarry\x01blast"}, "eventtype"),
    ({"foo": "bar"}, "foo"),
    ({"cursor": "garbage"}, "cursor"),
    ({"cursor": "AAAA"}, "cursor"),
    ({"cursor": "@time", "orderby": "magnitude"}, "cursor"),
    ({"cursor": "@magnitude"}, "cursor"),
    ({"cursor": "@time-asc", "orderby": "magnitude-asc"}, "cursor"),
    ({"cursor": "@time+flip"}, "cursor"),
    ({"cursor": "@time+pad"}, "cursor"),
    ({"cursor": "@time+trunc"}, "cursor"),
    ({"cursor": "@forged-other-key"}, "cursor"),
    ({"cursor": "@signed-nan", "orderby": "magnitude"}, "cursor"),
    ({"cursor": "@signed-bad-utf8"}, "cursor"),
    ({"cursor": "@signed-version-2"}, "cursor"),
    ({"cursor": "@signed-year-10000"}, "cursor"),
]


def _resolve(value, cursors):
    if not isinstance(value, str) or not value.startswith("@"):
        return value
    name = value[1:]
    t = 1691117533180000
    special = {
        "forged-other-key": lambda: forge_cursor(0, t, "nc73919986", key=b"k" * 32),
        "signed-nan": lambda: forge_cursor(2, 0x7FF8000000000000, "nc73919986"),
        "signed-bad-utf8": lambda: forge_cursor(0, t, b"nc\xc0\xaf"),
        "signed-version-2": lambda: forge_cursor(0, t, "nc73919986", version=2),
        "signed-year-10000": lambda: forge_cursor(0, 253402300800 * 1000000, "nc1"),
    }
    if name in special:
        return special[name]()
    base, _, how = name.partition("+")
    c = cursors[base]
    if how == "flip":
        i = len(c) // 2
        return c[:i] + ("A" if c[i] != "A" else "B") + c[i + 1:]
    if how == "pad":
        return c + "=="
    if how == "trunc":
        return c[:-3]
    return c


def test_forged_cursors_are_well_formed(srv, admin):
    """The Python encoder above matches the server's format, so the forged cases test what they say."""
    c = forge_cursor(0, 1691117533180000, "nc73919986")
    r = get(srv, LIST, admin, {"cursor": c})
    assert r.status_code == 200, r.text
    assert all(it["time"] < "2023-08-04T02:52:13.180Z" for it in r.json()["data"])


def test_hostile_parameters(srv, admin):
    assert len(HOSTILE) >= 40
    cursors = _cursors(srv, admin)
    failures = []
    for q, field in HOSTILE:
        params = [(k, _resolve(v, cursors)) for k, vs in q.items() for v in (vs if isinstance(vs, list) else [vs])]
        r = get(srv, LIST, admin, params)
        try:
            body = assert_problem(r, 400)
            got = body["errors"][0]["field"]
            assert got == field, f"errors[0].field {got!r}, want {field!r}: {body['errors']}"
            assert body["errors"][0]["message"]
        except AssertionError as ex:
            failures.append(f"{q}: {ex}")
    assert not failures, "\n".join(failures)


# ---- permissions ----------------------------------------------------------------------------------------------

def test_permissions_public_read_off(srv, events, viewer, users):
    for path in (LIST, f"{LIST}/{events[0].id}"):
        au.assert_unauthorized(get(srv, path), path)
        au.assert_unauthorized(get(srv, path, {"Authorization": "Bearer not.a.token"}), path)
        assert get(srv, path, viewer).status_code == 200, path
        assert_problem(get(srv, path, users["qapi.operator"]), 403)


def test_public_read_and_max_limit(servers, srv, events, users):
    pub = servers.start(env=auth_env(STRATA_QUAKES_PUBLIC_READ="true", STRATA_QUAKES_MAX_LIMIT="100"))
    r = get(pub, LIST, params={"limit": "100"})
    assert r.status_code == 200, f"public read: {r.status_code} {r.text[:300]}"
    assert ids(r.json()["data"]) == [e.id for e in reference(events, {})][:100]
    assert get(pub, f"{LIST}/{events[0].id}").status_code == 200
    assert get(pub, LIST, users["qapi.operator"]).status_code == 200, "public means anyone"
    # as on every public route, credentials only name the caller: a bad one is not a 401 here
    assert get(pub, LIST, {"Authorization": "Bearer not.a.token"}).status_code == 200
    body = assert_problem(get(pub, LIST, params={"limit": "101"}), 400)
    assert body["errors"][0]["field"] == "limit" and "100" in body["errors"][0]["message"]
    # the cursors of one process are good on another (same server key)
    c = get(srv, LIST, users["qapi.viewer"], {"limit": "100"}).json()["next_cursor"]
    r = get(pub, LIST, params={"limit": "100", "cursor": c})
    assert r.status_code == 200 and ids(r.json()["data"]) == [e.id for e in reference(events, {})][100:200]


# ---- query plans on 200,000 generated rows -------------------------------------------------------------------------

def parse_sql_header():
    """sql.h's and fdsn_sql.h's statements and the list statements' parameter count, as the C
    preprocessor reads them (scripts/quakes_sql.py)."""
    texts, numbers = quakes_sql.read_headers()
    return texts, numbers["QUAKES_SQL_NPARAMS"]


def stmt_params(nparams, start=None, end=None, minmag=None, circle=None, cursor=(None, None), fetch=51):
    p = [None] * nparams
    p[0], p[1], p[3] = start, end, minmag
    if circle:
        lat, lon, km = circle
        for i, box in zip((15, 19), quakes_sql.circle_boxes(lat, lon, km)):
            p[i:i + 4] = box
        p[23], p[24], p[25] = lon, lat, km * 1000.0
    p[29], (p[30], p[31]), p[32], p[33] = "false", cursor, fetch, False
    return p


def lit(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return "'" + str(v).replace("'", "''") + "'"


def plan_nodes(node):
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)


GENERATE = """
SELECT setseed(0.42);
INSERT INTO quakes (id, time, updated, mag, magtype, place, lon, lat, depth_km, status, eventtype, alert, tsunami,
                    sig, net, code, title, properties)
SELECT 'gen' || g, t, t + interval '10 minutes', m, 'ml', 'generated', lon, lat, d,
       CASE WHEN g % 97 = 0 THEN 'deleted' WHEN g % 3 = 0 THEN 'automatic' ELSE 'reviewed' END, 'earthquake',
       CASE WHEN m > 4.5 THEN 'green' END, false, (m * 100)::int, 'gn', g::text, 'M ' || m, '{}'::jsonb
FROM (
  SELECT g,
         timestamptz '2022-01-01' + random() * interval '730 days' AS t,
         CASE WHEN g % 500 = 0 THEN NULL ELSE round((-ln(random() + 1e-9))::numeric, 2)::float8 END AS m,
         round((random() * 100)::numeric, 2)::float8 AS d,
         CASE WHEN g % 10 < 6 THEN (ARRAY[-122.0, -150.0, 142.0, -71.0, 120.0, 178.0])[1 + g % 6] + (random() - 0.5) * 6
              ELSE random() * 360 - 180 END AS lon0,
         CASE WHEN g % 10 < 6 THEN (ARRAY[37.0, 61.0, 38.0, -30.0, -5.0, -18.0])[1 + g % 6] + (random() - 0.5) * 6
              ELSE degrees(asin(2 * random() - 1)) END AS lat
  FROM generate_series(1, 200000) g
) s, LATERAL (SELECT CASE WHEN lon0 > 180 THEN lon0 - 360 WHEN lon0 < -180 THEN lon0 + 360 ELSE lon0 END AS lon) l;
"""


@pytest.fixture(scope="module")
def big(pg, servers):
    """A second database with the schema (strata migrate) and 200,000 generated events."""
    name = f"{servers.dbname}_big"
    with psycopg.connect(pg.url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE tmpl')
    url = pg.url(name)
    p = run_strata_cli(["migrate"], env={"STRATA_DATABASE_URL": url}, timeout=120)
    assert p.returncode == 0, p.stderr
    with psycopg.connect(url, autocommit=True) as conn:
        for stmt in GENERATE.split(";\n"):
            if stmt.strip():
                conn.execute(stmt)
        conn.execute("VACUUM ANALYZE quakes")
        # Index-only scans are planned only on all-visible pages. Measured: the VACUUM straight
        # after the insert sometimes leaves relallvisible at 0 (cause not pinned down; a later
        # VACUUM sets it), so vacuum again until the map is set, as autovacuum would have by now
        # on a live table.
        for _ in range(100):
            pages, visible = conn.execute("SELECT relpages, relallvisible FROM pg_class"
                                          " WHERE relname = 'quakes'").fetchone()
            if visible >= pages:
                break
            time.sleep(0.1)
            conn.execute("VACUUM quakes")
        assert conn.execute("SELECT count(*) FROM quakes").fetchone()[0] == 200000
    yield url
    with psycopg.connect(pg.url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


PLAN_CASES = [
    # name, statement, params, index that must drive the plan, text its Index Cond must contain
    ("time window", "QUAKES_SQL_LIST_TIME", dict(start="2023-03-01T00:00:00Z", end="2023-03-02T00:00:00Z"),
     "quakes_time_id", '"time" >='),
    ("time window, oldest first", "QUAKES_SQL_LIST_TIME_ASC",
     dict(start="2023-03-01T00:00:00Z", end="2023-03-02T00:00:00Z"), "quakes_time_id", '"time" >='),
    ("time window, keyset page", "QUAKES_SQL_LIST_TIME",
     dict(start="2022-03-01T00:00:00Z", cursor=("2023-03-01T00:00:00Z", "gen5")), "quakes_time_id", "ROW("),
    ("magnitude floor, newest first", "QUAKES_SQL_LIST_TIME", dict(minmag=6.5), "quakes_magkey_id", ">="),
    ("magnitude floor, largest first", "QUAKES_SQL_LIST_MAG", dict(minmag=3.0), "quakes_magkey_id", ">="),
    ("magnitude keyset page", "QUAKES_SQL_LIST_MAG", dict(cursor=(2.5, "gen77")), "quakes_magkey_id", "ROW("),
    ("magnitude ascending keyset page", "QUAKES_SQL_LIST_MAG_ASC", dict(cursor=(2.5, "gen77")), "quakes_magkey_id",
     "ROW("),
    ("radius", "QUAKES_SQL_LIST_TIME", dict(circle=(10.0, 20.0, 300)), "quakes_pt_time", "pt &&"),
    ("radius and time window", "QUAKES_SQL_LIST_TIME",
     dict(circle=(37.0, -122.0, 100), start="2023-03-01T00:00:00Z", end="2023-03-31T00:00:00Z"),
     "quakes_pt_time", "pt &&"),
    ("radius across the antimeridian", "QUAKES_SQL_LIST_TIME",
     dict(circle=(-18.0, 179.5, 150), start="2023-01-01T00:00:00Z", end="2023-01-15T00:00:00Z"),
     "quakes_pt_time", "pt &&"),
    ("radius near the pole", "QUAKES_SQL_LIST_MAG", dict(circle=(88.0, 0.0, 500)), "quakes_pt_time", "pt &&"),
]


def test_plans_use_indexes(big):
    sql, nparams = parse_sql_header()
    assert nparams == 34 and {"QUAKES_SQL_LIST_TIME", "QUAKES_SQL_LIST_MAG", "QUAKES_SQL_GET"} <= set(sql)
    problems = []
    with psycopg.connect(big, autocommit=True) as conn:
        for name in ("QUAKES_SQL_LIST_TIME", "QUAKES_SQL_LIST_TIME_ASC", "QUAKES_SQL_LIST_MAG",
                     "QUAKES_SQL_LIST_MAG_ASC"):
            conn.execute(f"PREPARE {name.lower()} AS {sql[name]}")
        # Warm the plan cache past PostgreSQL's five custom plans with a mix of shapes, so the
        # plans below are the ones a long-lived server connection gets.
        for i in range(12):
            for name, stmt, kw, _, _ in PLAN_CASES:
                conn.execute(f"EXECUTE {stmt.lower()}({', '.join(map(lit, stmt_params(nparams, **kw)))})").fetchall()
        for name, stmt, kw, index, cond in PLAN_CASES:
            args = ", ".join(map(lit, stmt_params(nparams, **kw)))
            plan = conn.execute(f"EXPLAIN (FORMAT JSON) EXECUTE {stmt.lower()}({args})").fetchone()[0][0]["Plan"]
            nodes = list(plan_nodes(plan))
            seq = [n for n in nodes if n["Node Type"] == "Seq Scan"]
            used = [n for n in nodes if n.get("Index Name") == index
                    and n["Node Type"] in ("Index Scan", "Index Only Scan", "Bitmap Index Scan")
                    and cond in n.get("Index Cond", "")]
            if seq or not used:
                problems.append(f"{name}: wants {index} with {cond!r}; plan: "
                                + json.dumps([(n["Node Type"], n.get("Index Name"), n.get("Index Cond")) for n in nodes]))
        generic = conn.execute("SELECT name, generic_plans, custom_plans FROM pg_prepared_statements"
                               " WHERE name LIKE 'quakes_sql_%'").fetchall()
    assert not problems, "\n".join(problems)
    assert all(g == 0 and c > 5 for _, g, c in generic), f"a generic plan was chosen: {generic}"


def test_radius_exact_on_generated_rows(servers, big, admin):
    """On 200,000 rows, the prefilter boxes lose nothing: the API's circles (poles, antimeridian,
    huge and tiny radii) give exactly the events ST_DWithin on the geography finds."""
    s = servers.start(env=auth_env(STRATA_DATABASE_URL=big))
    tok = bearer(au.admin_token(s.url))
    circles = [(37.0, -122.0, 80), (-18.0, 179.9, 300), (-18.0, -179.9, 300), (61.0, -150.0, 40),
               (89.5, 45.0, 400), (-89.0, -120.0, 900), (0.0, 180.0, 250), (45.0, -180.0, 120),
               (10.0, 20.0, 2500), (-30.0, -71.0, 0.5), (-5.0, 120.0, 150)]
    with psycopg.connect(big, autocommit=True) as conn:
        for lat, lon, km in circles:
            want = {r[0] for r in conn.execute(
                "SELECT id FROM quakes WHERE status <> 'deleted' AND ST_DWithin(geom,"
                " ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography, %s)", (lon, lat, km * 1000.0))}
            q = {"latitude": str(lat), "longitude": str(lon), "maxradiuskm": str(km)}
            got, _ = walk(s, tok, q, limit=1000)
            assert set(ids(got)) == want and len(got) == len(want), f"circle {lat},{lon} {km} km"
