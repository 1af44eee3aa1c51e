"""quakes ingest: `strata ingest` replay, poller and FDSN backfill against a real PostgreSQL +
PostGIS. There is no internet here: USGS is played by a local HTTP server (FakeUSGS) that
serves recorded or synthetic responses, and the settings point at it.

Expected values are computed in Python from the GeoJSON itself, never from the SQL under test.
"""

import json
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import psycopg
import pytest
import requests

from conftest import REPO, PgCluster, run_strata_cli, wait_until

WEEK = REPO / "data" / "usgs_all_week_2023-08-04.geojson"
NO_PROXY = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
            "http_proxy": None, "https_proxy": None, "HTTP_PROXY": None, "HTTPS_PROXY": None}


# --- helpers --------------------------------------------------------------------------------------


def records(text):
    """The structured log lines (JSON objects) in a stderr text."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def by_msg(recs, msg):
    return [r for r in recs if r.get("msg") == msg]


def logged(srv, msg):
    """srv's log lines with this msg, or None (for wait_until, which takes [] as an answer)."""
    return by_msg(srv.log_records(), msg) or None


def ingest(db_url, *args, env=None, expect=0, timeout=180):
    e = {"STRATA_DATABASE_URL": db_url, "STRATA_ENV": "development", "STRATA_LOG_LEVEL": "debug",
         **NO_PROXY}
    e.update(env or {})
    p = run_strata_cli(["ingest", *args], env=e, timeout=timeout)
    if expect is not None:
        assert p.returncode == expect, f"strata ingest {' '.join(args)} exited {p.returncode}:\n{p.stderr[-4000:]}"
    return p


def ms(dt):
    return int(dt.timestamp() * 1000)


def utc(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(timezone.utc)


def feature(fid, t_ms, updated=None, mag=2.5, lon=-120.5, lat=35.25, depth=7.5, status="reviewed", **props):
    """A feature shaped like USGS's."""
    p = {"mag": mag, "place": f"somewhere near {fid}", "time": t_ms,
         "updated": t_ms + 60_000 if updated is None else updated, "tz": None,
         "url": f"https://earthquake.usgs.gov/earthquakes/eventpage/{fid}", "felt": None, "cdi": None,
         "mmi": None, "alert": None, "status": status, "tsunami": 0, "sig": 100, "net": fid[:2],
         "code": fid[2:], "ids": f",{fid},", "sources": f",{fid[:2]},", "types": ",origin,",
         "nst": 10, "dmin": 0.1, "rms": 0.2, "gap": 90, "magType": "ml", "type": "earthquake",
         "title": f"M {mag} - somewhere near {fid}"}
    p.update(props)
    return {"type": "Feature", "properties": p,
            "geometry": {"type": "Point", "coordinates": [lon, lat, depth]}, "id": fid}


def collection(features):
    return {"type": "FeatureCollection", "metadata": {"generated": int(time.time() * 1000), "count": len(features)},
            "features": features}


def write(tmp_path, name, features):
    f = tmp_path / name
    f.write_text(json.dumps(collection(features)))
    return f


def q(db_url, sql, *params):
    with psycopg.connect(db_url, autocommit=True) as c:
        return c.execute(sql, params).fetchall()


def one(db_url, sql, *params):
    return q(db_url, sql, *params)[0][0]


def row(db_url, fid):
    rows = q(db_url, "SELECT (extract(epoch FROM time) * 1000)::bigint, (extract(epoch FROM updated) * 1000)::bigint,"
                     " mag, status, properties FROM quakes WHERE id = %s", fid)
    return rows[0] if rows else None


def events(db_url, fid=None):
    if fid:
        return q(db_url, "SELECT seq, kind FROM quake_events WHERE quake_id = %s ORDER BY seq", fid)
    return q(db_url, "SELECT seq, quake_id, kind FROM quake_events ORDER BY seq")


T0 = ms(utc("2023-08-01T00:00:00Z"))


# --- a local USGS ----------------------------------------------------------------------------------


class Req:
    def __init__(self, path, query, headers):
        self.path, self.query, self.headers = path, query, headers


class FakeUSGS:
    """ThreadingHTTPServer on 127.0.0.1 answering with respond(req) -> (status, headers, body);
    a status of None hangs the request (until close). Every request is recorded."""

    def __init__(self, respond):
        self.respond = respond
        self.requests = []
        self.lock = threading.Lock()
        self.closing = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                u = urlsplit(self.path)
                req = Req(u.path, dict(parse_qsl(u.query)), {k.lower(): v for k, v in self.headers.items()})
                with outer.lock:
                    outer.requests.append(req)
                status, headers, body = outer.respond(req)
                if status is None:
                    outer.closing.wait(120)
                    self.close_connection = True
                    return
                data = body.encode() if isinstance(body, str) else (body or b"")
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                if status not in (204, 304):
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if status not in (204, 304):
                    self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def count(self):
        with self.lock:
            return len(self.requests)

    def close(self):
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_usgs():
    servers = []

    def make(respond):
        s = FakeUSGS(respond)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


def json_reply(obj, **headers):
    return 200, {"Content-Type": "application/json", **headers}, json.dumps(obj)


# --- replay ----------------------------------------------------------------------------------------


def test_replay_week_stores_every_feature_with_properties_and_geometry(db_url):
    doc = json.loads(WEEK.read_text())
    feats = {f["id"]: f for f in doc["features"]}
    assert len(feats) == len(doc["features"]) == doc["metadata"]["count"]

    p = ingest(db_url, "--replay", str(WEEK), "--speed", "0")
    done = by_msg(records(p.stderr), "quakes replay done")
    assert done and done[0]["features"] == len(feats) and done[0]["created"] == len(feats), done
    assert done[0]["invalid"] == 0

    rows = q(db_url,
             "SELECT id, (extract(epoch FROM time) * 1000)::bigint, (extract(epoch FROM updated) * 1000)::bigint,"
             " mag, magtype, place, status, eventtype, alert, tsunami, sig, felt, cdi, mmi, gap, net, code,"
             " sources, title, properties, lon, lat, depth_km, ST_X(geom::geometry), ST_Y(geom::geometry),"
             " ST_SRID(geom::geometry), ST_X(pt), ST_Y(pt), GeometryType(pt) FROM quakes")
    assert len(rows) == len(feats)
    for (fid, t, upd, mag, magtype, place, status, etype, alert, tsunami, sig, felt, cdi, mmi, gap, net, code,
         sources, title, props, lon, lat, depth, gx, gy, srid, px, py, gtype) in rows:
        f = feats[fid]
        fp = f["properties"]
        lon0, lat0, depth0 = f["geometry"]["coordinates"]
        assert props == fp, fid  # every property, as received
        assert (t, upd) == (fp["time"], fp["updated"])
        assert (mag, magtype, place, status, etype, alert) == (fp["mag"], fp["magType"], fp["place"],
                                                               fp["status"], fp["type"], fp["alert"])
        assert (tsunami, sig, felt, cdi, mmi, gap) == (fp["tsunami"] == 1, fp["sig"], fp["felt"], fp["cdi"],
                                                       fp["mmi"], fp["gap"])
        assert (net, code, sources, title) == (fp["net"], fp["code"], fp["sources"], fp["title"])
        assert (lon, lat, depth) == (lon0, lat0, depth0)
        assert (gx, gy, srid, px, py, gtype) == (lon0, lat0, 4326, lon0, lat0, "POINT")

    ev = events(db_url)
    assert len(ev) == len(feats)
    assert {k for _, _, k in ev} == {"created"}
    assert {i for _, i, _ in ev} == set(feats)
    seqs = [s for s, _, _ in ev]
    assert seqs == sorted(set(seqs))
    # one batch: its events follow origin time
    times = [feats[i]["properties"]["time"] for _, i, _ in ev]
    assert times == sorted(times)


def test_replay_twice_adds_no_rows_and_no_events(db_url):
    ingest(db_url, "--replay", str(WEEK), "--speed", "0")
    n, nev = one(db_url, "SELECT count(*) FROM quakes"), one(db_url, "SELECT count(*) FROM quake_events")
    p = ingest(db_url, "--replay", str(WEEK), "--speed=0")
    done = by_msg(records(p.stderr), "quakes replay done")[0]
    assert (done["created"], done["updated"], done["deleted"], done["ignored"]) == (0, 0, 0, n)
    assert one(db_url, "SELECT count(*) FROM quakes") == n
    assert one(db_url, "SELECT count(*) FROM quake_events") == nev


def test_newer_updated_replaces_and_notifies_older_or_equal_is_ignored(db_url, tmp_path):
    t = T0 + 3_600_000
    ingest(db_url, "--replay", str(write(tmp_path, "a.json", [feature("us1", t, updated=t + 1000, mag=3.0)])),
           "--speed", "0")
    assert row(db_url, "us1")[:3] == (t, t + 1000, 3.0)
    assert events(db_url, "us1") == [(1, "created")]

    got = []
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.add_notify_handler(got.append)
        listener.execute("LISTEN quakes_events")
        newer = feature("us1", t, updated=t + 2000, mag=3.4, place="revised place")
        p = ingest(db_url, "--replay", str(write(tmp_path, "b.json", [newer])), "--speed", "0")
        wait_until(lambda: listener.execute("SELECT 1") and got or None, 10, what="NOTIFY quakes_events")
    assert [(n.channel, n.payload) for n in got] == [("quakes_events", "2")]
    assert by_msg(records(p.stderr), "quakes replay done")[0]["updated"] == 1
    r = row(db_url, "us1")
    assert r[:3] == (t, t + 2000, 3.4)
    assert r[4] == newer["properties"]
    assert events(db_url, "us1") == [(1, "created"), (2, "updated")]

    older = feature("us1", t, updated=t + 1500, mag=9.9)
    same = feature("us1", t, updated=t + 2000, mag=8.8)
    for name, f in (("c.json", older), ("d.json", same)):
        p = ingest(db_url, "--replay", str(write(tmp_path, name, [f])), "--speed", "0")
        done = by_msg(records(p.stderr), "quakes replay done")[0]
        assert (done["updated"], done["ignored"]) == (0, 1)
    assert row(db_url, "us1")[:3] == (t, t + 2000, 3.4)
    assert events(db_url, "us1") == [(1, "created"), (2, "updated")]

    # the same id twice in one file: the newest version wins, one event
    two = [feature("us2", t, updated=t + 5000, mag=4.0), feature("us2", t, updated=t + 9000, mag=4.2)]
    ingest(db_url, "--replay", str(write(tmp_path, "e.json", two)), "--speed", "0")
    assert row(db_url, "us2")[:3] == (t, t + 9000, 4.2)
    assert [k for _, k in events(db_url, "us2")] == ["created"]


def test_status_deleted_logs_deleted_and_keeps_the_row(db_url, tmp_path):
    t = T0
    ingest(db_url, "--replay", str(write(tmp_path, "a.json", [feature("ak1", t, updated=t + 10)])), "--speed", "0")
    gone = feature("ak1", t, updated=t + 20, status="deleted")
    p = ingest(db_url, "--replay", str(write(tmp_path, "b.json", [gone])), "--speed", "0")
    assert by_msg(records(p.stderr), "quakes replay done")[0]["deleted"] == 1
    assert [k for _, k in events(db_url, "ak1")] == ["created", "deleted"]
    r = row(db_url, "ak1")
    assert r[3] == "deleted" and r[1] == t + 20 and r[4]["status"] == "deleted"
    # disappearing from a later file is not a deletion
    ingest(db_url, "--replay", str(write(tmp_path, "c.json", [feature("ak2", t)])), "--speed", "0")
    assert one(db_url, "SELECT count(*) FROM quakes") == 2
    assert [k for _, k in events(db_url, "ak1")] == ["created", "deleted"]


def test_malformed_features_are_skipped_counted_and_logged(db_url, tmp_path):
    t = T0
    good = [feature(f"nc{i}", t + i * 1000) for i in range(5)]

    def bad(fid, fn):
        f = feature(fid, t)
        fn(f)
        return f

    bads = {
        "bad1": bad("bad1", lambda f: f["properties"].pop("time")),
        "bad2": bad("bad2", lambda f: f.__setitem__("geometry", None)),
        "bad3": bad("bad3", lambda f: f["geometry"].__setitem__("coordinates", [1.0, 95.0, 3.0])),
        "bad4": bad("bad4", lambda f: f["geometry"].__setitem__("coordinates", [200.0, 5.0, 3.0])),
        "bad5": bad("bad5", lambda f: f["geometry"].__setitem__("coordinates", [1.0, 5.0, 5000.0])),
        "bad6": bad("bad6", lambda f: f["properties"].__setitem__("mag", 42)),
        "bad7": bad("bad7", lambda f: f["properties"].__setitem__("mag", "4.5")),
        "bad8": bad("bad8", lambda f: f["properties"].__setitem__("time", "2023-08-01T00:00:00Z")),
        "bad9": bad("bad9", lambda f: f["properties"].__setitem__("place", "nul \u0000 inside")),
        "bad10": bad("bad10", lambda f: f["geometry"].__setitem__("coordinates", ["1", "2", "3"])),
        "bad11": bad("bad11", lambda f: f["properties"].__setitem__("sig", "high")),
    }
    no_id = feature("x", t)
    del no_id["id"]
    slash = feature("x", t)
    slash["id"] = "us/../../etc"
    feats = good[:2] + list(bads.values()) + [no_id, slash, 42, None, "feature"] + good[2:]
    p = ingest(db_url, "--replay", str(write(tmp_path, "mixed.json", feats)), "--speed", "0")
    recs = records(p.stderr)
    done = by_msg(recs, "quakes replay done")[0]
    n_bad = len(feats) - len(good)
    assert (done["features"], done["created"], done["invalid"]) == (len(good), len(good), n_bad)
    refused = by_msg(recs, "quake feature refused")
    assert len(refused) == n_bad
    assert {r["id"] for r in refused if r["id"]} >= set(bads) | {"us/../../etc"}
    assert all(r["reason"] and r["source"] == "replay" for r in refused)
    for fid in bads:  # each logged once, with a reason naming the member
        assert len([r for r in refused if r["id"] == fid]) == 1
    assert "time" in next(r for r in refused if r["id"] == "bad1")["reason"]
    assert "latitude" in next(r for r in refused if r["id"] == "bad3")["reason"]
    assert {r[0] for r in q(db_url, "SELECT id FROM quakes")} == {f["id"] for f in good}


def test_sorted_file_is_stored_while_parsed_in_batches(db_url, tmp_path):
    """A file already in event-time order is streamed (parser thread, batches of 2 here): every
    semantic of the whole-file path holds across batch boundaries."""
    t = T0
    feats = [feature("sb1", t, updated=t + 10), feature("sb2", t + 500),
             feature("sb1", t + 1000, updated=t + 2000, mag=4.0),  # a newer version in a later batch
             feature("sb3", t + 2000, lat=95.0),                    # refused by feature.c
             feature("sb4", t + 3000, place="MARKER"),              # its own text is not JSON
             feature("sb5", t + 4000, status="deleted"),
             feature("sb6", t + 5000), feature("sb7", t + 6000)]
    f = tmp_path / "sorted.json"
    f.write_text(json.dumps(collection(feats)).replace('"MARKER"', "tru"))
    p = ingest(db_url, "--replay", str(f), "--speed", "0", env={"STRATA_QUAKES_BATCH_SIZE": "2"})
    recs = records(p.stderr)
    assert by_msg(recs, "quakes replay started")[0]["streamed"] is True
    done = by_msg(recs, "quakes replay done")[0]
    assert (done["features"], done["created"], done["updated"], done["deleted"], done["invalid"]) == (6, 4, 1, 1, 2)
    refused = {r["id"]: r["reason"] for r in by_msg(recs, "quake feature refused")}
    assert "latitude" in refused["sb3"] and "invalid JSON" in refused[None]
    assert row(db_url, "sb1")[2] == 4.0
    assert [(i, k) for _, i, k in events(db_url)] == [
        ("sb1", "created"), ("sb2", "created"), ("sb1", "updated"), ("sb5", "deleted"), ("sb6", "created"),
        ("sb7", "created")]


def test_unsorted_file_is_still_replayed_in_event_time_order(db_url, tmp_path):
    """Newest first (as USGS feeds are), with ties on time broken by updated then id: streamed
    in replay order all the same (the feature spans are sorted, not the text)."""
    t = T0
    feats = [feature(f"us{i}", t + i * 1000) for i in range(6)][::-1]
    feats.insert(2, feature("tie-b", t + 3000, updated=t + 9000))
    feats.insert(0, feature("tie-a", t + 3000, updated=t + 9000))
    feats.append(feature("tie-c", t + 3000, updated=t + 3500))
    p = ingest(db_url, "--replay", str(write(tmp_path, "rev.json", feats)), "--speed", "0",
               env={"STRATA_QUAKES_BATCH_SIZE": "2"})
    assert by_msg(records(p.stderr), "quakes replay started")[0]["streamed"] is True
    assert [i for _, i, _ in events(db_url)] == ["us0", "us1", "us2", "tie-c", "tie-a", "tie-b", "us3", "us4",
                                                 "us5"]


def test_file_with_an_unkeyed_feature_is_replayed_whole(db_url, tmp_path):
    """A sort key written with an escape: the scan cannot order it, jansson reads the whole file."""
    t = T0
    feats = [feature(f"uk{i}", t + i * 1000) for i in range(4)][::-1]
    f = tmp_path / "unkeyed.json"
    f.write_text(json.dumps(collection(feats)).replace('"uk2"', '"\\u0075k2"'))
    p = ingest(db_url, "--replay", str(f), "--speed", "0", env={"STRATA_QUAKES_BATCH_SIZE": "2"})
    assert by_msg(records(p.stderr), "quakes replay started")[0]["streamed"] is False
    assert [i for _, i, _ in events(db_url)] == [f"uk{i}" for i in range(4)]


@pytest.mark.parametrize("content,what", [("{not json", "unreadable"), ('{"type":"Feature"}', "unusable")])
def test_unusable_replay_file_fails(db_url, tmp_path, content, what):
    f = tmp_path / "x.json"
    f.write_text(content)
    p = ingest(db_url, "--replay", str(f), "--speed", "0", expect=1)
    assert by_msg(records(p.stderr), f"quakes replay file {what}")
    p = ingest(db_url, "--replay", str(tmp_path / "missing.json"), "--speed", "0", expect=1)
    assert by_msg(records(p.stderr), "quakes replay file unreadable")


def test_shift_to_now_moves_the_newest_event_to_now(db_url):
    doc = json.loads(WEEK.read_text())
    orig = {f["id"]: (f["properties"]["time"], f["properties"]["updated"]) for f in doc["features"]}
    newest = max(t for t, _ in orig.values())
    before = time.time() * 1000
    p = ingest(db_url, "--replay", str(WEEK), "--speed", "0", "--shift-to-now")
    after = time.time() * 1000
    shift = by_msg(records(p.stderr), "quakes replay started")[0]["shift_ms"]
    assert before - 1000 <= newest + shift <= after
    rows = q(db_url, "SELECT id, (extract(epoch FROM time) * 1000)::bigint,"
                     " (extract(epoch FROM updated) * 1000)::bigint, properties FROM quakes")
    assert len(rows) == len(orig)
    for fid, t, upd, props in rows:
        assert (t - orig[fid][0], upd - orig[fid][1]) == (shift, shift), fid
        assert (props["time"], props["updated"]) == (t, upd)
    assert one(db_url, "SELECT (extract(epoch FROM max(time)) * 1000)::bigint FROM quakes") == newest + shift


def test_replay_paces_events_at_speed(db_url, tmp_path):
    t = T0
    feats = [feature("pc1", t), feature("pc3", t + 3_600_000), feature("pc2", t + 1_800_000)]
    start = time.monotonic()
    ingest(db_url, "--replay", str(write(tmp_path, "paced.json", feats)), "--speed", "1800")
    took = time.monotonic() - start
    ev = q(db_url, "SELECT quake_id, extract(epoch FROM at) FROM quake_events ORDER BY seq")
    assert [i for i, _ in ev] == ["pc1", "pc2", "pc3"]  # origin-time order, not file order
    gaps = [float(ev[i + 1][1] - ev[i][1]) for i in range(2)]
    assert all(0.8 <= g <= 2.0 for g in gaps), gaps  # 30 min apart at 1800x: 1 s
    assert took >= 1.8


def test_change_log_retention_prunes_old_events(db_url, tmp_path):
    env = {"STRATA_QUAKES_EVENT_RETENTION": "1s"}
    ingest(db_url, "--replay", str(write(tmp_path, "a.json", [feature("rt1", T0), feature("rt2", T0 + 1)])),
           "--speed", "0", env=env)
    assert len(events(db_url)) == 2
    time.sleep(1.5)
    ingest(db_url, "--replay", str(write(tmp_path, "b.json", [feature("rt3", T0 + 2)])), "--speed", "0", env=env)
    assert events(db_url) == [(3, "rt3", "created")]  # seq keeps increasing
    assert one(db_url, "SELECT count(*) FROM quakes") == 3


def test_cli_refuses_bad_arguments(db_url, tmp_path):
    f = write(tmp_path, "a.json", [feature("cl1", T0)])
    for args in (["--speed", "0"], ["--replay", str(f), "--speed", "-1"], ["--replay", str(f), "--speed", "fast"],
                 ["--backfill"], ["--backfill", "--starttime", "2023-08-01"],
                 ["--backfill", "--starttime", "yesterday", "--endtime", "2023-08-02"],
                 ["--backfill", "--starttime", "2023-08-02", "--endtime", "2023-08-01"],
                 ["--replay", str(f), "--backfill", "--starttime", "2023-08-01", "--endtime", "2023-08-02"],
                 ["--bogus"], ["--replay"]):
        p = ingest(db_url, *args, expect=2)
        assert "usage: strata ingest" in p.stderr, args
    p = ingest(db_url, expect=2, env={"STRATA_QUAKES_REPLAY_SPEED": "-3"})
    p = ingest("", "--replay", str(f), expect=2)
    assert "STRATA_DATABASE_URL" in p.stderr
    p = ingest("postgresql://postgres@127.0.0.1:1/none", "--replay", str(f), env={"STRATA_AUTO_MIGRATE": "false"},
               expect=1)
    assert by_msg(records(p.stderr), "quakes ingest database unavailable")


def test_concurrent_replays_neither_duplicate_nor_deadlock(db_url, tmp_path):
    first = json.loads(WEEK.read_text())["features"][:1]
    ingest(db_url, "--replay", str(write(tmp_path, "one.json", first)), "--speed", "0")  # schema in place
    results = []
    threads = [threading.Thread(target=lambda: results.append(
        ingest(db_url, "--replay", str(WEEK), "--speed", "0", env={"STRATA_QUAKES_BATCH_SIZE": "300"},
               expect=None))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [p.returncode for p in results] == [0, 0, 0], [p.stderr[-2000:] for p in results]
    n = len(json.loads(WEEK.read_text())["features"])
    assert one(db_url, "SELECT count(*) FROM quakes") == n
    assert one(db_url, "SELECT count(*) FROM quake_events") == n
    created = sum(by_msg(records(p.stderr), "quakes replay done")[0]["created"] for p in results)
    assert created == n - 1


def test_ingest_runs_beside_serve(start_strata, db_url):
    srv = start_strata()
    ingest(db_url, "--replay", str(WEEK), "--speed", "0")
    assert one(db_url, "SELECT count(*) FROM quakes") == len(json.loads(WEEK.read_text())["features"])
    assert requests.get(srv.url + "/readyz", timeout=5).status_code == 200


def test_role_replays_the_setting_file_then_idles(start_strata, db_url, tmp_path):
    f = write(tmp_path, "demo.json", [feature("dm1", T0), feature("dm2", T0 + 1000)])
    srv = start_strata(args=("ingest",), wait=False,
                       env={"STRATA_QUAKES_REPLAY_FILE": str(f), "STRATA_QUAKES_REPLAY_SPEED": "0",
                            "STRATA_QUAKES_REPLAY_SHIFT_TO_NOW": "true", "STRATA_QUAKES_POLL": "false", **NO_PROXY})
    wait_until(lambda: one(db_url, "SELECT count(*) FROM quakes") == 2, 30, what="demo replay")
    wait_until(lambda: logged(srv, "quakes ingest idle until stopped"), 10, what="idle")
    newest = one(db_url, "SELECT max(time) FROM quakes")
    assert abs((datetime.now(timezone.utc) - newest).total_seconds()) < 60
    assert srv.proc.poll() is None  # a role runs until stopped
    assert srv.stop() == 0


# --- poller ----------------------------------------------------------------------------------------


def poller(start_strata, url, **settings):
    env = {"STRATA_QUAKES_FEED_URL": url, "STRATA_QUAKES_POLL_INTERVAL": "300ms",
           "STRATA_QUAKES_HTTP_BACKOFF": "100ms", **NO_PROXY}
    env.update({f"STRATA_QUAKES_{k.upper()}": str(v) for k, v in settings.items()})
    return start_strata(args=("ingest",), wait=False, env=env)


def test_poller_sends_conditional_requests_and_handles_304(start_strata, db_url, fake_usgs):
    state = {"version": 1}
    t = T0

    def respond(req):
        v = state["version"]
        etag = f'"v{v}"'
        lm = f"Tue, 01 Aug 2023 00:0{v}:00 GMT"
        if req.headers.get("if-none-match") == etag:
            return 304, {"ETag": etag, "Last-Modified": lm}, b""
        feats = [feature("hr1", t, updated=t + v * 1000, mag=1.0 + v), feature("hr2", t + 5000)]
        return json_reply(collection(feats), ETag=etag, **{"Last-Modified": lm})

    usgs = fake_usgs(respond)
    srv = poller(start_strata, usgs.url("/earthquakes/feed/v1.0/summary/all_hour.geojson"))
    wait_until(lambda: one(db_url, "SELECT count(*) FROM quakes") == 2, 30, what="first poll stored")
    wait_until(lambda: usgs.count() >= 3, 10, what="more polls")
    first, second = usgs.requests[0], usgs.requests[1]
    assert "if-none-match" not in first.headers and "if-modified-since" not in first.headers
    assert second.headers.get("if-none-match") == '"v1"'
    assert second.headers.get("if-modified-since") == "Tue, 01 Aug 2023 00:01:00 GMT"
    assert "strata" in second.headers.get("user-agent", "")
    wait_until(lambda: logged(srv, "quakes poll"), 10, what="poll log")
    assert [k for _, k in events(db_url, "hr1")] == ["created"]

    state["version"] = 2  # the feed changes: a 200, hr1 updated, hr2 ignored
    wait_until(lambda: row(db_url, "hr1")[2] == 3.0, 10, what="updated feature stored")
    assert [k for _, k in events(db_url, "hr1")] == ["created", "updated"]
    assert [k for _, k in events(db_url, "hr2")] == ["created"]
    wait_until(lambda: any(r.headers.get("if-none-match") == '"v2"' for r in usgs.requests), 10, what="new ETag")
    polls = by_msg(srv.log_records(), "quakes poll")
    assert any(p["status"] == 304 for p in polls) and any(p["status"] == 200 for p in polls)
    assert not by_msg(srv.log_records(), "quakes poll failed")
    assert srv.stop() == 0


def test_poller_survives_500_and_recovers(start_strata, db_url, fake_usgs):
    def respond(req):
        if len(usgs.requests) <= 2:
            return 500, {"Content-Type": "text/plain"}, "upstream trouble"
        return json_reply(collection([feature("er1", T0)]))

    usgs = fake_usgs(respond)
    srv = poller(start_strata, usgs.url("/feed.geojson"), http_retries=0)
    wait_until(lambda: one(db_url, "SELECT count(*) FROM quakes") == 1, 30, what="stored after recovery")
    failed = by_msg(srv.log_records(), "quakes poll failed")
    assert len(failed) == 2 and all(f["error"] == "HTTP 500" for f in failed), failed
    assert srv.proc.poll() is None
    assert srv.stop() == 0


def test_poller_retries_within_one_poll(start_strata, db_url, fake_usgs):
    def respond(req):
        if len(usgs.requests) <= 2:
            return 503, {"Retry-After": "1"}, "busy"
        return json_reply(collection([feature("er2", T0)]))

    usgs = fake_usgs(respond)
    srv = poller(start_strata, usgs.url("/feed.geojson"), http_retries=3)
    wait_until(lambda: one(db_url, "SELECT count(*) FROM quakes") == 1, 30, what="stored after retries")
    retries = by_msg(srv.log_records(), "quakes request failed, retrying")
    assert [r["attempt"] for r in retries] == [1, 2] and [r["retry_in_ms"] for r in retries] == [100, 200]
    assert not by_msg(srv.log_records(), "quakes poll failed")
    assert srv.stop() == 0


def test_poller_times_out_a_hanging_server_and_stops_promptly(start_strata, db_url, fake_usgs):
    state = {"hang": True}

    def respond(req):
        if state["hang"]:
            return None, None, None
        return json_reply(collection([feature("hg1", T0)]))

    usgs = fake_usgs(respond)
    srv = poller(start_strata, usgs.url("/feed.geojson"), http_retries=0, http_timeout="1s")
    failed = wait_until(lambda: logged(srv, "quakes poll failed"), 20, what="timeout")
    assert "timed out" in failed[0]["error"].lower(), failed
    assert 900 <= failed[0]["ms"] < 5000, failed
    state["hang"] = False
    wait_until(lambda: one(db_url, "SELECT count(*) FROM quakes") == 1, 20, what="stored after the hang")
    assert srv.stop() == 0

    # a stop during a hanging request does not wait for the timeout
    state["hang"] = True
    n = usgs.count()
    srv2 = poller(start_strata, usgs.url("/feed.geojson"), http_retries=0, http_timeout="60s")
    wait_until(lambda: usgs.count() > n, 20, what="a hanging request")
    time.sleep(0.3)
    t = time.monotonic()
    assert srv2.stop() == 0
    assert time.monotonic() - t < 5
    assert not by_msg(srv2.log_records(), "quakes poll failed")


def test_poller_bad_documents_fail_the_poll_not_the_process(start_strata, db_url, fake_usgs):
    bodies = ["{truncated", json.dumps({"type": "Feature"}), None]

    def respond(req):
        i = len(usgs.requests) - 1
        if i < 2:
            return 200, {"Content-Type": "application/json"}, bodies[i]
        return json_reply(collection([feature("bd1", T0), {"type": "Feature", "id": "bd2"}]))

    usgs = fake_usgs(respond)
    srv = poller(start_strata, usgs.url("/feed.geojson"), http_retries=0)
    wait_until(lambda: one(db_url, "SELECT count(*) FROM quakes") == 1, 30, what="good feature stored")
    failed = by_msg(srv.log_records(), "quakes poll failed")
    assert "invalid JSON" in failed[0]["error"] and "FeatureCollection" in failed[1]["error"], failed
    refused = wait_until(lambda: logged(srv, "quake feature refused"), 10, what="refusal")
    assert refused[0]["id"] == "bd2" and refused[0]["source"] == "poll"
    assert srv.stop() == 0


def test_poller_reconnects_after_the_database_restarts(start_strata, fake_usgs):
    cluster = PgCluster()
    try:
        cluster.start()
        cluster.createdb("strata")
        url = cluster.url("strata")
        state = {"n": 0}

        def respond(req):
            state["n"] += 1
            return json_reply(collection([feature("db1", T0, updated=T0 + state["n"])]))

        usgs = fake_usgs(respond)
        env = {"STRATA_DATABASE_URL": url, "STRATA_QUAKES_FEED_URL": usgs.url("/f"),
               "STRATA_QUAKES_POLL_INTERVAL": "300ms", "STRATA_QUAKES_HTTP_BACKOFF": "100ms", **NO_PROXY}
        srv = start_strata(args=("ingest",), wait=False, env=env)
        wait_until(lambda: one(url, "SELECT count(*) FROM quake_events") >= 2, 30, what="polls stored")
        cluster.stop()
        wait_until(lambda: logged(srv, "quakes ingest database unavailable")
                   or by_msg(srv.log_records(), "quakes ingest database connection lost"), 30, what="outage noticed")
        cluster.start()
        before = len(by_msg(srv.log_records(), "quakes poll"))
        wait_until(lambda: len(by_msg(srv.log_records(), "quakes poll")) > before + 1, 60, what="polls after restart")
        assert srv.proc.poll() is None
        assert srv.stop() == 0
    finally:
        cluster.close()


# --- backfill --------------------------------------------------------------------------------------


def fdsn(pool, limit, fail=None):
    """An FDSN event service over pool (features): starttime/endtime inclusive, orderby=time-asc,
    400 like USGS above limit, 204 when empty; fail(req) -> True answers 500."""

    def respond(req):
        if req.path != "/fdsnws/event/1/query":
            return 404, {}, "not found"
        if fail and fail(req):
            return 500, {}, "Error 500"
        assert req.query.get("format") == "geojson" and req.query.get("orderby") == "time-asc", req.query
        a = ms(datetime.fromisoformat(req.query["starttime"]).replace(tzinfo=timezone.utc))
        b = ms(datetime.fromisoformat(req.query["endtime"]).replace(tzinfo=timezone.utc))
        hits = sorted((f for f in pool if a <= f["properties"]["time"] <= b), key=lambda f: f["properties"]["time"])
        if len(hits) > limit:
            return 400, {"Content-Type": "text/plain"}, (
                f"Error 400: Bad Request\n\n{len(hits)} matching events exceeds search limit of {limit}. "
                "Modify the search to match fewer events.\n")
        if not hits:
            return 204, {}, b""
        return json_reply(collection(hits))

    return respond


def windows(usgs):
    return [(utc(r.query["starttime"] + "Z"), utc(r.query["endtime"] + "Z")) for r in usgs.requests]


DAY = 86_400_000


def pool_3_days():
    """Day 1: 25 events (over the limit of 10), day 2: exactly 10 (at the limit), day 3: none."""
    day1 = [feature(f"bf1x{i}", T0 + i * (DAY // 25)) for i in range(25)]
    day2 = [feature(f"bf2x{i}", T0 + DAY + i * (DAY // 10)) for i in range(10)]
    return day1 + day2


def test_backfill_splits_windows_over_the_limit(db_url, fake_usgs):
    pool = pool_3_days()
    usgs = fake_usgs(fdsn(pool, limit=10))
    env = {"STRATA_QUAKES_FDSN_URL": usgs.url("/fdsnws/event/1/query"), "STRATA_QUAKES_BACKFILL_LIMIT": "10",
           "STRATA_QUAKES_HTTP_RETRIES": "0"}
    p = ingest(db_url, "--backfill", "--starttime", "2023-08-01T00:00:00Z", "--endtime", "2023-08-04", env=env)
    assert {r[0] for r in q(db_url, "SELECT id FROM quakes")} == {f["id"] for f in pool}
    recs = records(p.stderr)
    assert by_msg(recs, "quakes backfill window split")
    done = by_msg(recs, "quakes backfill done")[0]
    assert (done["features"], done["created"]) == (len(pool), len(pool))

    # the stored windows tile the range exactly: each starts where the last ended
    stored = [(utc(w["starttime"] + "Z"), utc(w["endtime"] + "Z")) for w in by_msg(recs, "quakes backfill window")]
    assert stored[0][0] == utc("2023-08-01T00:00:00Z")
    for (a1, b1), (a2, _) in zip(stored, stored[1:]):
        assert (a2 - b1).total_seconds() == pytest.approx(0.001)
    assert stored[-1][1] == utc("2023-08-03T23:59:59.999Z")
    # day 1 got a 400 and was split; day 2 came back with exactly the limit and was split too
    asked = windows(usgs)
    assert (utc("2023-08-01T00:00:00Z"), utc("2023-08-01T23:59:59.999Z")) in asked
    assert (utc("2023-08-02T00:00:00Z"), utc("2023-08-02T23:59:59.999Z")) in asked
    assert (utc("2023-08-02T00:00:00Z"), utc("2023-08-02T11:59:59.999Z")) in asked
    assert one(db_url, "SELECT done_until FROM quake_backfill_progress") == utc("2023-08-04T00:00:00Z")


def test_backfill_resumes_after_the_last_completed_window(db_url, fake_usgs):
    pool = pool_3_days() + [feature("bf3x0", T0 + 2 * DAY + 5000)]
    state = {"broken": True}
    day3 = T0 + 2 * DAY
    usgs = fake_usgs(fdsn(pool, limit=100, fail=lambda r: state["broken"] and ms(
        datetime.fromisoformat(r.query["starttime"]).replace(tzinfo=timezone.utc)) >= day3))
    env = {"STRATA_QUAKES_FDSN_URL": usgs.url("/fdsnws/event/1/query"), "STRATA_QUAKES_HTTP_RETRIES": "0"}
    args = ("--backfill", "--starttime", "2023-08-01", "--endtime", "2023-08-04")

    p = ingest(db_url, *args, env=env, expect=1)
    assert by_msg(records(p.stderr), "quakes backfill window failed")
    assert one(db_url, "SELECT done_until FROM quake_backfill_progress") == utc("2023-08-03T00:00:00Z")
    assert one(db_url, "SELECT count(*) FROM quakes") == 35
    first_run = usgs.count()
    assert first_run == 3

    state["broken"] = False
    p = ingest(db_url, *args, env=env)
    second = windows(usgs)[first_run:]
    assert second == [(utc("2023-08-03T00:00:00Z"), utc("2023-08-03T23:59:59.999Z"))]
    assert by_msg(records(p.stderr), "quakes backfill started")[0]["detail"].endswith(
        "resume_from=2023-08-03T00:00:00.000Z")
    assert one(db_url, "SELECT count(*) FROM quakes") == 36
    assert q(db_url, "SELECT done_until, windows FROM quake_backfill_progress") == [(utc("2023-08-04T00:00:00Z"), 3)]

    n = usgs.count()
    p = ingest(db_url, *args, env=env)
    assert usgs.count() == n
    assert by_msg(records(p.stderr), "quakes backfill already complete")
