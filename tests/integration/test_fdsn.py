"""The FDSN event web service (fdsnws-event 1.2 subset) under /fdsnws/event/1/.

The bundled week is loaded as test_quakes_api.py loads it (same deleted/no-magnitude changes);
every expected count is computed in Python from the GeoJSON with that module's reference
filter (Vincenty on WGS 84 for circles, with test circles checked to have no event near
their edge). Covers: version, catalogs, contributors, the WADL (exactly the accepted
parameters), every alias, text/csv/geojson, count, offset/limit paging, nodata, the error
documents (plain and jsonerror), unknown parameters, 413 with a small maximum, 501s, and
access (query/count need quakes:read unless STRATA_QUAKES_PUBLIC_READ=true).
"""

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

import pytest
import requests

import authutil as au
from authutil import auth_env, bearer
from test_quakes_api import assert_circle_margin, insert_events, iso_ms, load_reference, reference

BASE = "/fdsnws/event/1/"
T = 60
KM_PER_DEG = 111.19492664455873
WADL_NS = "{http://wadl.dev.java.net/2009/02}"

ACCEPTED = {
    "starttime", "start", "endtime", "end", "minlatitude", "minlat", "maxlatitude", "maxlat",
    "minlongitude", "minlon", "maxlongitude", "maxlon", "latitude", "lat", "longitude", "lon",
    "minradius", "maxradius", "minradiuskm", "maxradiuskm", "mindepth", "maxdepth",
    "minmagnitude", "minmag", "maxmagnitude", "maxmag", "eventid", "limit", "offset", "orderby",
    "eventtype", "reviewstatus", "alertlevel", "includedeleted", "updatedafter", "format", "nodata",
    "includearrivals", "includeallorigins", "includeallmagnitudes", "jsonerror",
}
ALIASES = {"start": "starttime", "end": "endtime", "minlat": "minlatitude", "maxlat": "maxlatitude",
           "minlon": "minlongitude", "maxlon": "maxlongitude", "lat": "latitude", "lon": "longitude",
           "minmag": "minmagnitude", "maxmag": "maxmagnitude"}


@pytest.fixture(scope="module")
def servers(request, pg, tmp_path_factory):
    yield from au.servers_fixture(request, pg, tmp_path_factory, "fdsn")


@pytest.fixture(scope="module")
def srv(servers):
    s = servers.start(env=auth_env(STRATA_QUAKES_PUBLIC_READ="true"))
    if requests.get(s.url + BASE + "version", timeout=T).status_code == 404:
        pytest.fail("the FDSN routes are not registered: main.c must add quakes_fdsn_routes", pytrace=False)
    return s


@pytest.fixture(scope="module")
def small(servers, srv):
    """Not public, and at most 100 events per query."""
    return servers.start(env=auth_env(STRATA_QUAKES_FDSN_MAX_EVENTS="100",
                                          STRATA_QUAKES_FDSN_BASE_URL="https://fdsn.example.org/"))


@pytest.fixture(scope="module")
def events(servers, srv):
    evs = load_reference()
    with servers.connect() as conn:
        insert_events(conn, evs)
        conn.execute("ANALYZE quakes")
    return evs


def q(srv, what, params=None, headers=None):
    return requests.get(srv.url + BASE + what, params=params, headers=headers or {}, timeout=T)


def canon(params):
    """FDSN query -> the REST reference's parameter names (radius in km)."""
    out = {}
    for k, v in params.items():
        k = ALIASES.get(k, k)
        if k == "maxradius":
            k, v = "maxradiuskm", str(float(v) * KM_PER_DEG)
        if k in ("format", "nodata", "limit", "offset"):
            continue
        out[k] = v
    return out


def count(srv, params):
    r = q(srv, "count", params)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain")
    return int(r.text.strip())


def text_rows(r):
    lines = r.text.splitlines()
    assert lines[0] == ("#EventID|Time|Latitude|Longitude|Depth/km|Author|Catalog|Contributor|ContributorID|"
                        "MagType|Magnitude|MagAuthor|EventLocationName")
    rows = [ln.split("|") for ln in lines[1:]]
    for row in rows:
        assert len(row) == 13, row
    return rows


def check_error_doc(r, status, needle=None):
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("text/plain")
    t = r.text
    m = re.fullmatch(r"Error (\d+): ([^\n]+)\n\n(.+?)\n\nUsage details are available from (\S+)\n\n"
                     r"Request:\n(\S+)\n\nRequest Submitted:\n(\S+)\n\nService version:\n1\.2\.0\n", t, re.S)
    assert m, t
    assert int(m.group(1)) == status
    assert m.group(4).endswith("/fdsnws/event/1/application.wadl")
    assert "/fdsnws/event/1/" in m.group(5)
    datetime.strptime(m.group(6), "%Y-%m-%dT%H:%M:%S.%fZ")
    if needle:
        assert needle in m.group(3), m.group(3)
    return m.group(3)


# ---- static documents --------------------------------------------------------------------------------

def test_version(srv):
    r = q(srv, "version")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    assert r.text.strip() == "1.2.0"


def test_catalogs_and_contributors(srv, events, small):
    r = q(srv, "catalogs")
    assert r.status_code == 200
    root = ET.fromstring(r.content)
    assert [c.text for c in root] == ["strata"]
    # public even where the catalogue is not
    for what in ("version", "catalogs", "contributors", "application.wadl"):
        assert q(small, what).status_code == 200, what
    r = q(srv, "contributors")
    assert r.status_code == 200
    got = [c.text for c in ET.fromstring(r.content)]
    assert got == sorted({e.net for e in events if e.net})


def test_wadl_lists_exactly_the_accepted_parameters(srv):
    r = q(srv, "application.wadl")
    assert r.status_code == 200
    root = ET.fromstring(r.content)
    assert root.tag == WADL_NS + "application"
    res = {x.get("path"): x for x in root.iter(WADL_NS + "resource")}
    assert {"query", "count", "version", "catalogs", "contributors", "application.wadl"} <= set(res)
    names = [p.get("name") for p in res["query"].iter(WADL_NS + "param")]
    assert len(names) == len(set(names))
    assert set(names) == ACCEPTED
    for p in res["query"].iter(WADL_NS + "param"):
        assert p.get("type", "").startswith("xs:"), p.attrib
    defaults = {p.get("name"): p.get("default") for p in res["query"].iter(WADL_NS + "param")}
    assert defaults["format"] == "text" and defaults["nodata"] == "204" and defaults["offset"] == "1"
    # every listed parameter is accepted by query (an unknown one is a 400)
    for name in names:
        assert "unknown" not in q(srv, "count", {name: ""}).text


# ---- counts against the reference ------------------------------------------------------------------------

CASES = {
    "all": {},
    "time window": {"starttime": "2023-08-01T00:00:00", "endtime": "2023-08-02T12:00:00"},
    "time aliases": {"start": "2023-08-01T00:00:00", "end": "2023-08-02T12:00:00"},
    "magnitudes": {"minmagnitude": "2.5", "maxmagnitude": "4.5"},
    "magnitude aliases": {"minmag": "2.5", "maxmag": "4.5"},
    "depths": {"mindepth": "10", "maxdepth": "70"},
    "rectangle": {"minlatitude": "30", "maxlatitude": "45", "minlongitude": "-125", "maxlongitude": "-110"},
    "rectangle aliases": {"minlat": "30", "maxlat": "45", "minlon": "-125", "maxlon": "-110"},
    "antimeridian": {"minlongitude": "170", "maxlongitude": "190"},
    "circle km": {"latitude": "61.2", "longitude": "-150", "maxradiuskm": "300"},
    "circle degrees": {"latitude": "61.2", "longitude": "-150", "maxradius": "2.7"},
    "circle aliases": {"lat": "61.2", "lon": "-150", "maxradius": "2.7"},
    "eventtype": {"eventtype": "quarry blast"},
    "reviewstatus": {"reviewstatus": "reviewed"},
    "alertlevel": {"alertlevel": "green"},
    "deleted too": {"includedeleted": "true"},
    "deleted only": {"includedeleted": "only"},
    "updatedafter": {"updatedafter": "2023-08-03T00:00:00"},
    "zero minradius": {"lat": "61.2", "lon": "-150", "maxradius": "2.7", "minradius": "0"},
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_count_matches_reference(srv, events, name):
    params = CASES[name]
    ref = canon(params)
    if "maxradiuskm" in ref:
        assert_circle_margin(events, float(ref["latitude"]), float(ref["longitude"]), float(ref["maxradiuskm"]))
    want = len(reference(events, ref))
    assert count(srv, params) == want
    r = q(srv, "query", params)
    if want == 0:
        assert r.status_code == 204
        return
    assert r.status_code == 200, r.text
    rows = text_rows(r)
    assert len(r.text.splitlines()) == want + 1
    assert [row[0] for row in rows] == [e.id for e in reference(events, ref)]


def test_some_cases_are_not_trivial(events):
    for name in ("time window", "magnitudes", "rectangle", "antimeridian", "circle km", "eventtype", "deleted only"):
        n = len(reference(events, canon(CASES[name])))
        assert 0 < n < len(events), name


def test_count_geojson(srv, events):
    r = q(srv, "count", {"format": "geojson", "minmag": "3"})
    assert r.status_code == 200
    assert r.json() == {"count": len(reference(events, {"minmagnitude": "3"})), "maxAllowed": 20000}


def test_eventid(srv, events):
    e = next(ev for ev in events if ev.status != "deleted")
    r = q(srv, "query", {"eventid": e.id})
    assert r.status_code == 200
    rows = text_rows(r)
    assert [row[0] for row in rows] == [e.id]
    assert count(srv, {"eventid": e.id}) == 1
    assert q(srv, "query", {"eventid": "nosuchevent"}).status_code == 204


# ---- formats --------------------------------------------------------------------------------------------

def test_text_fields(srv, events):
    ref = reference(events, {"minmagnitude": "4"})
    r = q(srv, "query", {"minmag": "4", "orderby": "magnitude"})
    rows = text_rows(r)
    byid = {e.id: e for e in ref}
    assert len(rows) == len(ref)
    mags = [float(row[10]) for row in rows]
    assert mags == sorted(mags, reverse=True)
    for row in rows:
        e = byid[row[0]]
        assert row[1] == iso_ms(e.time)[:-1]
        assert float(row[2]) == pytest.approx(e.lat) and float(row[3]) == pytest.approx(e.lon)
        assert float(row[4]) == pytest.approx(e.depth)
        assert row[5] == e.net and row[7] == e.net and row[8] == e.id
        assert row[9] == e.magtype and float(row[10]) == pytest.approx(e.mag)
        assert row[12] == (e.place or "").replace("|", " ")


def test_csv(srv, events):
    ref = reference(events, {"minmagnitude": "3"})
    r = q(srv, "query", {"minmag": "3", "format": "csv", "orderby": "time-asc"})
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["time", "latitude", "longitude", "depth", "mag", "magType", "nst", "gap", "dmin", "rms", "net",
                       "id", "updated", "place", "type", "horizontalError", "depthError", "magError", "magNst",
                       "status", "locationSource", "magSource"]
    body = rows[1:]
    assert [row[11] for row in body] == [e.id for e in sorted(ref, key=lambda e: (e.time, e.id))]
    byid = {e.id: e for e in ref}
    for row in body:
        e = byid[row[11]]
        assert row[0] == iso_ms(e.time) and row[12] == iso_ms(e.updated)
        assert row[13] == (e.place or "") and row[14] == e.type
        for col, key in ((6, "nst"), (8, "dmin"), (9, "rms"), (15, "horizontalError"), (16, "depthError"),
                         (17, "magError"), (18, "magNst")):
            v = e.props.get(key)
            assert (row[col] == "") if v is None else float(row[col]) == pytest.approx(v), (key, row[col], v)
        assert row[19] == e.status
        assert row[20] == e.props.get("locationSource", e.net) and row[21] == e.props.get("magSource", e.net)


def test_geojson(srv, events):
    ref = reference(events, {"minmagnitude": "4"})
    r = q(srv, "query", {"minmag": "4", "format": "geojson"})
    assert r.status_code == 200
    body = r.json()
    assert body["type"] == "FeatureCollection"
    assert body["metadata"]["count"] == len(ref)
    assert [f["id"] for f in body["features"]] == [e.id for e in ref]
    f0, e0 = body["features"][0], ref[0]
    assert f0["geometry"] == {"type": "Point", "coordinates": [e0.lon, e0.lat, e0.depth]}
    assert f0["properties"]["mag"] == e0.mag


# ---- paging ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("orderby", ["time", "time-asc", "magnitude", "magnitude-asc"])
def test_offset_limit_paging(srv, events, orderby):
    params = {"minmag": "1", "orderby": orderby}
    ref = [e.id for e in reference(events, dict(canon(params)))]
    assert len(ref) > 300
    got, offset = [], 1
    while True:
        r = q(srv, "query", dict(params, offset=str(offset), limit="100"))
        if r.status_code == 204:
            break
        assert r.status_code == 200
        page = [row[0] for row in text_rows(r)]
        assert 0 < len(page) <= 100
        got += page
        offset += len(page)
    assert got == ref
    r = q(srv, "query", dict(params, offset="5", limit="3"))
    assert [row[0] for row in text_rows(r)] == ref[4:7]


# ---- no data, errors ---------------------------------------------------------------------------------------

NONE = {"minmagnitude": "11.5"}


@pytest.mark.parametrize("fmt", ["text", "csv", "geojson"])
def test_nodata(srv, events, fmt):
    r = q(srv, "query", dict(NONE, format=fmt))
    assert r.status_code == 204 and r.content == b""
    r = q(srv, "query", dict(NONE, format=fmt, nodata="404"))
    check_error_doc(r, 404)
    assert count(srv, NONE) == 0


def test_error_documents(srv, events):
    desc = check_error_doc(q(srv, "query", {"minlatitude": "100"}), 400, "minlatitude")
    assert desc
    check_error_doc(q(srv, "query", {"minlat": "abc"}), 400, "minlat")
    check_error_doc(q(srv, "count", {"minmag": "5", "maxmag": "3"}), 400)
    check_error_doc(q(srv, "query", {"orderby": "depth"}), 400, "orderby")
    check_error_doc(q(srv, "query", {"limit": "0"}), 400, "limit")
    check_error_doc(q(srv, "query", {"offset": "0"}), 400, "offset")
    check_error_doc(q(srv, "query", {"lat": "10", "lon": "10", "maxradius": "200"}), 400, "maxradius")
    check_error_doc(q(srv, "query", {"lat": "10", "lon": "10", "maxradius": "20", "minradius": "5"}), 400,
                    "not supported")
    check_error_doc(q(srv, "query", {"format": "xml"}), 501)
    check_error_doc(q(srv, "query", {"format": "quakeml"}), 501)
    check_error_doc(q(srv, "query", {"includearrivals": "true"}), 501)
    r = q(srv, "query", {"minmag": "9", "includeallorigins": "true", "includeallmagnitudes": "true"})
    assert r.status_code == 204


def test_unknown_parameter(srv, events):
    # rejected by the core before the handler (problem+json naming it): see docs/fdsn.md
    for what, name in (("query", "bogusparam"), ("count", "magnitude")):
        r = q(srv, what, {"minmag": "3", name: "1"})
        assert r.status_code == 400
        assert name in r.text


def test_jsonerror(srv, events):
    r = q(srv, "query", {"minlat": "abc", "jsonerror": "true"})
    assert r.status_code == 400
    body = r.json()
    assert body["error"]["code"] == 400 and "minlat" in body["error"]["message"]
    r = q(srv, "query", dict(NONE, nodata="404", jsonerror="true"))
    assert r.status_code == 404 and r.json()["error"]["code"] == 404


def test_request_url_in_error(srv, events):
    r = q(srv, "query", {"minlat": "100"})
    assert "\nRequest:\n/fdsnws/event/1/query?minlat=100\n" in r.text


def test_base_url_setting(small):
    r = q(small, "query", {"minlat": "100"}, headers=bearer(au.admin_token(small.url)))
    assert "\nRequest:\nhttps://fdsn.example.org/fdsnws/event/1/query?minlat=100\n" in r.text
    assert "available from https://fdsn.example.org/fdsnws/event/1/application.wadl\n" in r.text
    root = ET.fromstring(q(small, "application.wadl").content)
    assert root.find(WADL_NS + "resources").get("base") == "https://fdsn.example.org/fdsnws/event/1/"


# ---- maximum, access ---------------------------------------------------------------------------------------

def test_413_and_access(small, events):
    assert q(small, "query", {"minmag": "4"}).status_code == 401
    assert q(small, "count").status_code == 401
    h = bearer(au.admin_token(small.url))
    total = len(reference(events, {}))
    r = q(small, "count", {"format": "geojson"}, headers=h)
    assert r.json() == {"count": total, "maxAllowed": 100}
    check_error_doc(q(small, "query", headers=h), 413)
    check_error_doc(q(small, "query", {"limit": "101"}, headers=h), 413)
    r = q(small, "query", {"limit": "100"}, headers=h)
    assert r.status_code == 200 and len(text_rows(r)) == 100
    # few enough events: no limit needed
    few = {"minmagnitude": "4.5"}
    n = len(reference(events, few))
    assert 0 < n <= 100
    r = q(small, "query", few, headers=h)
    assert r.status_code == 200 and len(text_rows(r)) == n
    # past an offset that leaves at most 100
    r = q(small, "query", {"offset": str(total - 50)}, headers=h)
    assert r.status_code == 200 and len(text_rows(r)) == 51
