"""The FDSN event web service (fdsnws-event 1.2) under /fdsnws/event/1/.

The bundled week is loaded as test_quakes_api.py loads it (same deleted/no-magnitude changes);
every expected count is computed in Python from the GeoJSON with that module's reference
filter (Vincenty on WGS 84 for circles, with test circles checked to have no event near
their edge). Covers: version, catalogs, contributors, the WADL (exactly the accepted
parameters), every alias and USGS extension, QuakeML (the default) and text/csv/geojson,
count, offset/limit paging, answers streamed page by page (larger than one page, gzip),
nodata, the error documents (plain and jsonerror, unknown parameters included), 413 with a
small maximum, 501s, and access (query/count need quakes:read unless
STRATA_QUAKES_PUBLIC_READ=true).
"""

import csv
import gzip
import io
import json
import math
import re
import socket
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

import pytest
import requests

import authutil as au
from authutil import auth_env, bearer
import psycopg
from test_quakes_api import (assert_circle_margin, big, insert_events, iso_ms, load_reference, parse_sql_header,  # noqa: F401
                             reference, vincenty_m)

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
    "magnitudetype", "magtype", "catalog", "contributor", "minsig", "maxsig", "minfelt", "mincdi", "maxcdi",
    "minmmi", "maxmmi", "mingap", "maxgap",
}
ALIASES = {"start": "starttime", "end": "endtime", "minlat": "minlatitude", "maxlat": "maxlatitude",
           "minlon": "minlongitude", "maxlon": "maxlongitude", "lat": "latitude", "lon": "longitude",
           "minmag": "minmagnitude", "maxmag": "maxmagnitude", "magtype": "magnitudetype"}


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


def qtext(srv, params=None, headers=None):
    """query with format=text unless the params say otherwise (QuakeML is the default)."""
    return q(srv, "query", dict({"format": "text"}, **(params or {})), headers)


def canon(params):
    """FDSN query -> the REST reference's parameter names (radius in km)."""
    out = {}
    for k, v in params.items():
        k = ALIASES.get(k, k)
        if k == "maxradius":
            k, v = "maxradiuskm", str(float(v) * KM_PER_DEG)
        if k in ("format", "nodata", "limit", "offset") or k in EXTRA:
            continue
        out[k] = v
    return out


def _in(v, lo, hi):
    return v is not None and (lo is None or v >= lo) and (hi is None or v <= hi)


def _f(params, k):
    return float(params[k]) if k in params else None


# the FDSN-only filters, as predicates on one event (the reference's own reading of the feed)
EXTRA = {"magnitudetype", "catalog", "contributor", "minsig", "maxsig", "minfelt", "mincdi", "maxcdi", "minmmi",
         "maxmmi", "mingap", "maxgap", "minradius", "minradiuskm"}


def extra(params, e):
    p = {ALIASES.get(k, k): v for k, v in params.items()}
    if "magnitudetype" in p and (e.magtype or "").lower() != p["magnitudetype"].lower():
        return False
    if "catalog" in p and e.net != p["catalog"]:
        return False
    if "contributor" in p and f",{p['contributor']}," not in (e.sources or ""):
        return False
    if ("minsig" in p or "maxsig" in p) and not _in(e.sig, _f(p, "minsig"), _f(p, "maxsig")):
        return False
    if "minfelt" in p and not _in(e.felt, _f(p, "minfelt"), None):
        return False
    for name, v in (("cdi", e.cdi), ("mmi", e.mmi), ("gap", e.gap)):
        if ("min" + name in p or "max" + name in p) and not _in(v, _f(p, "min" + name), _f(p, "max" + name)):
            return False
    inner = _f(p, "minradiuskm") or ((_f(p, "minradius") or 0) * KM_PER_DEG)
    if inner > 0:
        d = vincenty_m(float(p.get("latitude", 0)), float(p.get("longitude", 0)), e.lat, e.lon)
        if d < inner * 1000:
            return False
    return True


def ref_ids(events, params):
    return [e.id for e in reference(events, canon(params)) if extra(params, e)]


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
    assert [c.text for c in root] == sorted({e.net for e in events if e.net})
    # public even where the catalogue is not
    for what in ("version", "catalogs", "contributors", "application.wadl"):
        assert q(small, what).status_code == 200, what
    r = q(srv, "contributors")
    assert r.status_code == 200
    got = [c.text for c in ET.fromstring(r.content)]
    assert got == sorted({s for e in events for s in (e.sources or "").split(",") if s})
    assert len(got) > len(root)  # some networks only contribute


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
    assert defaults["format"] == "xml" and defaults["nodata"] == "204" and defaults["offset"] == "1"
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
    "annulus degrees": {"lat": "61.2", "lon": "-150", "maxradius": "2.7", "minradius": "1.4262"},
    "annulus km": {"lat": "61.2", "lon": "-150", "maxradiuskm": "300", "minradiuskm": "62.7"},
    "annulus without maxradius": {"lat": "36", "lon": "-118", "minradius": "60"},
    "magnitudetype": {"magnitudetype": "ML"},
    "magtype alias": {"magtype": "md"},
    "catalog": {"catalog": "ak"},
    "contributor": {"contributor": "us"},
    "sig": {"minsig": "100", "maxsig": "400"},
    "felt": {"minfelt": "2"},
    "cdi": {"mincdi": "2", "maxcdi": "4"},
    "mmi": {"minmmi": "3"},
    "gap": {"mingap": "50", "maxgap": "150"},
    "combined extras": {"minmag": "2", "magtype": "ML", "catalog": "tx", "maxgap": "200"},
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_count_matches_reference(srv, events, name):
    params = CASES[name]
    ref = canon(params)
    if "maxradiuskm" in ref:
        assert_circle_margin(events, float(ref["latitude"]), float(ref["longitude"]), float(ref["maxradiuskm"]))
    inner = params.get("minradiuskm") or (float(params.get("minradius", 0)) * KM_PER_DEG)
    if float(inner):
        assert_circle_margin(events, float(params.get("lat", 0)), float(params.get("lon", 0)), float(inner))
    want = ref_ids(events, params)
    assert count(srv, params) == len(want)
    r = qtext(srv, params)
    if not want:
        assert r.status_code == 204
        return
    assert r.status_code == 200, r.text
    rows = text_rows(r)
    assert len(r.text.splitlines()) == len(want) + 1
    assert [row[0] for row in rows] == want


def test_some_cases_are_not_trivial(events):
    for name in ("time window", "magnitudes", "rectangle", "antimeridian", "circle km", "eventtype", "deleted only",
                 "annulus degrees", "annulus km", "annulus without maxradius", "magnitudetype", "magtype alias",
                 "catalog", "contributor", "sig", "felt", "cdi", "mmi", "gap", "combined extras"):
        n = len(ref_ids(events, CASES[name]))
        assert 0 < n < len(events), name
    # the annulus leaves out the inner disc
    assert len(ref_ids(events, CASES["annulus degrees"])) < len(ref_ids(events, CASES["circle degrees"]))


def test_count_geojson(srv, events):
    r = q(srv, "count", {"format": "geojson", "minmag": "3"})
    assert r.status_code == 200
    assert r.json() == {"count": len(reference(events, {"minmagnitude": "3"})), "maxAllowed": 20000}


def test_eventid(srv, events):
    e = next(ev for ev in events if ev.status != "deleted")
    r = qtext(srv, {"eventid": e.id})
    assert r.status_code == 200
    rows = text_rows(r)
    assert [row[0] for row in rows] == [e.id]
    assert count(srv, {"eventid": e.id}) == 1
    assert qtext(srv, {"eventid": "nosuchevent"}).status_code == 204


# ---- formats --------------------------------------------------------------------------------------------

def test_text_fields(srv, events):
    ref = reference(events, {"minmagnitude": "4"})
    r = qtext(srv, {"minmag": "4", "orderby": "magnitude"})
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
        r = qtext(srv, dict(params, offset=str(offset), limit="100"))
        if r.status_code == 204:
            break
        assert r.status_code == 200
        page = [row[0] for row in text_rows(r)]
        assert 0 < len(page) <= 100
        got += page
        offset += len(page)
    assert got == ref
    r = qtext(srv, dict(params, offset="5", limit="3"))
    assert [row[0] for row in text_rows(r)] == ref[4:7]


# ---- no data, errors ---------------------------------------------------------------------------------------

NONE = {"minmagnitude": "11.5"}


@pytest.mark.parametrize("fmt", ["xml", "quakeml", "text", "csv", "geojson"])
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
    check_error_doc(q(srv, "query", {"lat": "10", "lon": "10", "maxradius": "5", "minradius": "20"}), 400,
                    "minradius")
    check_error_doc(q(srv, "query", {"maxradius": "5", "maxradiuskm": "20"}), 400, "maxradius")
    check_error_doc(q(srv, "query", {"minradius": "5", "minradiuskm": "20"}), 400, "minradius")
    check_error_doc(q(srv, "query", {"minsig": "500", "maxsig": "100"}), 400, "maxsig")
    check_error_doc(q(srv, "query", {"mincdi": "5", "maxcdi": "3"}), 400, "maxcdi")
    check_error_doc(q(srv, "query", {"minmmi": "13"}), 400, "minmmi")
    check_error_doc(q(srv, "query", {"mingap": "-1"}), 400, "mingap")
    check_error_doc(q(srv, "query", {"minfelt": "x"}), 400, "minfelt")
    check_error_doc(q(srv, "query", {"magtype": "m" * 40}), 400, "magtype")
    check_error_doc(q(srv, "query", {"format": "miniseed"}), 400, "format")
    check_error_doc(q(srv, "query", {"includearrivals": "true"}), 501)
    r = q(srv, "query", {"minmag": "9", "includeallorigins": "true", "includeallmagnitudes": "true"})
    assert r.status_code == 204


def test_unknown_parameter(srv, events):
    # the FDSN error document naming it (the route binds its own query)
    for what, name in (("query", "bogusparam"), ("count", "magnitude")):
        r = q(srv, what, {"minmag": "3", name: "1"})
        check_error_doc(r, 400, name)
        assert "unknown parameter" in r.text
    r = q(srv, "query", {"bogusparam": "1", "jsonerror": "true"})
    assert r.status_code == 400 and "bogusparam" in r.json()["error"]["message"]
    # repeated parameter
    r = requests.get(srv.url + BASE + "query?minmag=3&minmag=4", timeout=T)
    check_error_doc(r, 400, "minmag")


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
    r = qtext(small, {"limit": "100"}, headers=h)
    assert r.status_code == 200 and len(text_rows(r)) == 100
    # few enough events: no limit needed
    few = {"minmagnitude": "4.5"}
    n = len(reference(events, few))
    assert 0 < n <= 100
    r = qtext(small, few, headers=h)
    assert r.status_code == 200 and len(text_rows(r)) == n
    # past an offset that leaves at most 100
    r = qtext(small, {"offset": str(total - 50)}, headers=h)
    assert r.status_code == 200 and len(text_rows(r)) == 51


# ---- QuakeML --------------------------------------------------------------------------------------------

Q_NS = "{http://quakeml.org/xmlns/quakeml/1.2}"
BED = "{http://quakeml.org/xmlns/bed/1.2}"
RESOURCE_ID = re.compile(r"(smi|quakeml):[\w\d][\w\d\-\.\*\(\)_~']{2,}/[\w\d\-\.\*\(\)_~'][\w\d\-\.\*\(\)\+\?_~'=,;#/&]*")


def quakeml_events(r):
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/xml")
    root = ET.fromstring(r.content)
    assert root.tag == Q_NS + "quakeml"
    params = root.find(BED + "eventParameters")
    assert params is not None and RESOURCE_ID.fullmatch(params.get("publicID"))
    return params.findall(BED + "event")


def val(el, path):
    x = el.find(path)
    return None if x is None else x.text


def test_quakeml_is_the_default(srv, events):
    want = ref_ids(events, {"minmagnitude": "4"})
    for params in ({"minmag": "4"}, {"minmag": "4", "format": "xml"}, {"minmag": "4", "format": "quakeml"}):
        evs = quakeml_events(q(srv, "query", params))
        assert [e.get("publicID").rsplit("=", 1)[-1] for e in evs] == want


def test_quakeml_content(srv, events):
    byid = {e.id: e for e in events}
    evs = quakeml_events(q(srv, "query", {"includedeleted": "true", "orderby": "time-asc"}))
    assert len(evs) == len(ref_ids(events, {"includedeleted": "true"}))
    seen_types, seen_nomag = set(), 0
    for ev in evs:
        pid = ev.get("publicID")
        assert RESOURCE_ID.fullmatch(pid), pid
        e = byid[pid.rsplit("=", 1)[-1]]
        origins = ev.findall(BED + "origin")
        assert len(origins) == 1
        o = origins[0]
        assert val(ev, BED + "preferredOriginID") == o.get("publicID")
        assert RESOURCE_ID.fullmatch(o.get("publicID"))
        assert val(o, f"{BED}time/{BED}value") == iso_ms(e.time) or \
            val(o, f"{BED}time/{BED}value").startswith(iso_ms(e.time)[:-1])
        assert float(val(o, f"{BED}latitude/{BED}value")) == pytest.approx(e.lat)
        assert float(val(o, f"{BED}longitude/{BED}value")) == pytest.approx(e.lon)
        # depth in metres
        assert float(val(o, f"{BED}depth/{BED}value")) == pytest.approx(e.depth * 1000, abs=1e-6)
        derr = e.props.get("depthError")
        got = val(o, f"{BED}depth/{BED}uncertainty")
        assert (got is None) if derr is None else float(got) == pytest.approx(derr * 1000, abs=1e-6)
        herr = e.props.get("horizontalError")
        got = val(o, f"{BED}originUncertainty/{BED}horizontalUncertainty")
        assert (got is None) if herr is None else float(got) == pytest.approx(herr * 1000, abs=1e-6)
        if e.gap is not None:
            assert float(val(o, f"{BED}quality/{BED}azimuthalGap")) == pytest.approx(e.gap)
        mags = ev.findall(BED + "magnitude")
        if e.mag is None:
            seen_nomag += 1
            assert mags == [] and ev.find(BED + "preferredMagnitudeID") is None
        else:
            assert len(mags) == 1
            m = mags[0]
            assert val(ev, BED + "preferredMagnitudeID") == m.get("publicID")
            assert float(val(m, f"{BED}mag/{BED}value")) == pytest.approx(e.mag)
            assert val(m, BED + "type") == e.magtype
        if e.place:
            assert val(ev, f"{BED}description/{BED}text") == e.place
        typ = val(ev, BED + "type")
        seen_types.add((e.type, typ))
        if e.type in ("earthquake", "quarry blast", "explosion", "ice quake"):
            assert typ == e.type
        assert val(ev, f"{BED}creationInfo/{BED}agencyID") == e.net
    assert seen_nomag > 0  # the reference has events without a magnitude
    assert ("quarry blast", "quarry blast") in seen_types


def test_quakeml_obspy_shape(srv, events):
    """What ObsPy's reader needs: every event has a preferred origin with time, latitude and
    longitude, and evaluation fields from the QuakeML enumerations."""
    for ev in quakeml_events(q(srv, "query", {"minmag": "2"})):
        o = ev.find(BED + "origin")
        for f in ("time", "latitude", "longitude"):
            assert val(o, f"{BED}{f}/{BED}value"), f
        assert val(o, BED + "evaluationMode") in ("manual", "automatic")
        assert val(o, BED + "evaluationStatus") in ("preliminary", "confirmed", "reviewed", "final", "rejected")


# ---- streaming, gzip ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def paged(servers, srv, events):
    """Public, 7 rows per database page: every answer below spans many pages."""
    return servers.start(env=auth_env(STRATA_QUAKES_PUBLIC_READ="true", STRATA_QUAKES_FDSN_PAGE_ROWS="7"))


@pytest.mark.parametrize("fmt", ["xml", "text", "csv", "geojson"])
@pytest.mark.parametrize("orderby", ["time", "magnitude-asc"])
def test_paged_answers_equal_single_page(srv, paged, events, fmt, orderby):
    params = {"minmag": "1.5", "format": fmt, "orderby": orderby, "offset": "3"}
    a, b = q(srv, "query", params), q(paged, "query", params)
    assert a.status_code == b.status_code == 200
    if fmt == "geojson":
        ja, jb = a.json(), b.json()
        assert ja["features"] == jb["features"]
        assert jb["metadata"]["count"] == len(jb["features"]) == len(ref_ids(events, params)) - 2
    elif fmt == "xml":
        ids_a = [e.get("publicID") for e in quakeml_events(a)]
        assert ids_a == [e.get("publicID") for e in quakeml_events(b)]
        assert len(ids_a) == len(ref_ids(events, params)) - 2 > 7 * 10
    else:
        assert a.text == b.text
    # limited: stops exactly at the limit, mid-page
    r = qtext(paged, dict(params, format="text", limit="5"))
    assert len(text_rows(r)) == 5
    r = qtext(paged, dict(params, format="text", limit="23"))
    assert [row[0] for row in text_rows(r)] == ref_ids(events, params)[2:25]


def test_gzip(paged, events):
    params = {"minmag": "1", "format": "text"}
    plain = q(paged, "query", params, headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers
    raw = requests.get(paged.url + BASE + "query", params=params, headers={"Accept-Encoding": "gzip"},
                       timeout=T, stream=True)
    assert raw.status_code == 200
    assert raw.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in raw.headers.get("Vary", "")
    body = raw.raw.read(decode_content=False)
    assert body[:2] == b"\x1f\x8b"
    assert gzip.decompress(body).decode() == plain.text
    assert len(body) < len(plain.content) / 2
    # q=0 means no
    r = q(paged, "query", params, headers={"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in r.headers and r.text == plain.text
    # errors and 204 are not streamed
    r = q(paged, "query", dict(NONE), headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 204


def test_client_leaving_mid_stream(paged, events):
    """A client that reads a little and hangs up: the server ends the stream and keeps serving."""
    host, port = paged.url.split("//")[1].split(":")
    for _ in range(5):
        with socket.create_connection((host, int(port)), timeout=T) as s:
            s.sendall(f"GET {BASE}query?format=xml&minmag=0 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert s.recv(4096).startswith(b"HTTP/1.1 200")
    r = qtext(paged, {"minmag": "4"})
    assert r.status_code == 200 and len(text_rows(r)) == len(ref_ids(events, {"minmag": "4"}))


# ---- the count plan ------------------------------------------------------------------------------------

def test_count_of_a_window_is_an_index_only_scan(big):
    """FDSN count (and query without a limit, which counts first): a time window with a magnitude
    floor reads only the time index (migration 0003 puts mag and status in it), on 200,000 rows."""
    from test_quakes_api import lit, plan_nodes
    fdsn, _ = parse_sql_header()
    n = 44
    with psycopg.connect(big, autocommit=True) as conn:
        conn.execute("SET max_parallel_workers_per_gather = 0")
        conn.execute(f"PREPARE fdsn_count AS {fdsn['QUAKES_FDSN_SQL_COUNT']}")
        for day in range(1, 13):  # past PostgreSQL's five custom plans
            p = [None] * n
            p[0], p[1], p[3], p[29] = f"2023-03-{day:02d}T00:00:00Z", f"2023-03-{day + 14:02d}T00:00:00Z", 2.5, "false"
            args = ", ".join(map(lit, p))
            plan = conn.execute(f"EXPLAIN (FORMAT JSON) EXECUTE fdsn_count({args})").fetchone()[0][0]["Plan"]
            nodes = [(x["Node Type"], x.get("Index Name")) for x in plan_nodes(plan)]
            assert ("Index Only Scan", "quakes_time_id") in nodes, nodes
            got = conn.execute(f"EXECUTE fdsn_count({args})").fetchone()[0]
            want = conn.execute("SELECT count(*) FROM quakes WHERE time BETWEEN %s AND %s AND mag >= 2.5"
                                " AND status <> 'deleted'", (p[0], p[1])).fetchone()[0]
            assert got == want > 0


def test_the_request_obspy_sends(srv, events):
    """ObsPy's Client.get_events(starttime=UTCDateTime(...), endtime=..., minmagnitude=4,
    latitude=..., longitude=..., maxradius=...) sends times as 2023-08-01T00:00:00.000000 (no
    offset), numbers as Python writes floats, and no format (QuakeML)."""
    params = {"starttime": "2023-08-01T00:00:00.000000", "endtime": "2023-08-05T00:00:00.000000",
              "minmagnitude": "2.0", "latitude": "61.2", "longitude": "-150.0", "maxradius": "2.7"}
    want = ref_ids(events, params)
    assert want
    evs = quakeml_events(q(srv, "query", params))
    assert [e.get("publicID").rsplit("=", 1)[-1] for e in evs] == want


def test_head_of_a_streamed_answer(paged, events):
    r = requests.head(paged.url + BASE + "query", params={"minmag": "1", "format": "text"},
                      headers={"Accept-Encoding": "gzip"}, timeout=T)
    assert r.status_code == 200 and r.content == b""
    assert r.headers["Content-Type"].startswith("text/plain")
    r = qtext(paged, {"minmag": "4"})
    assert r.status_code == 200 and len(text_rows(r)) == len(ref_ids(events, {"minmag": "4"}))
