"""quakes live: SSE /api/v1/earthquakes/stream and WebSocket /ws/earthquakes, fed by
`strata ingest --replay` in another process through the change log and the bus."""

import json
import socket
import threading
import time
from pathlib import Path

import pytest
import requests
import websocket  # Debian python3-websocket (websocket-client)

from conftest import REPO, assert_problem, run_strata_cli, wait_until

WEEK = REPO / "data" / "usgs_all_week_2023-08-04.geojson"


def feature_file(tmp_path, name, n, start=0, mag=None, updated_bump=0, status=None):
    week = json.loads(WEEK.read_text())
    feats = []
    for i, f in enumerate(week["features"][start:start + n]):
        f = json.loads(json.dumps(f))
        f["id"] = f"{name}{i}"
        f["properties"]["updated"] += updated_bump
        if mag is not None:
            f["properties"]["mag"] = mag
        if status:
            f["properties"]["status"] = status
        feats.append(f)
    p = tmp_path / f"{name}-{n}-{updated_bump}-{status}.geojson"
    p.write_text(json.dumps({"type": "FeatureCollection", "metadata": {}, "features": feats}))
    return p


def replay(s, path):
    p = run_strata_cli(["ingest", "--replay", str(path), "--speed", "0"],
                       env={"STRATA_DATABASE_URL": s.db_url, "STRATA_ENV": "development",
                            "STRATA_VAR_DIR": str(Path(path).parent / "ingest-var")}, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]


class Sse:
    def __init__(self, port, query="", headers=None, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:  # before connect, so that the TCP window stays small
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(("127.0.0.1", port))
        h = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.sock.sendall(f"GET /api/v1/earthquakes/stream{query} HTTP/1.1\r\nHost: x\r\n{h}\r\n".encode())
        self.buf = b""

    def read_until(self, pred, timeout=15):
        self.sock.settimeout(0.2)
        end = time.monotonic() + timeout
        while time.monotonic() < end and not pred(self):
            try:
                c = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not c:
                break
            self.buf += c
        return pred(self)

    def events(self):
        text = self.buf.replace(b"\r\n", b"\n").decode(errors="replace")
        out = []
        for block in text.split("\n\n"):
            ev = {}
            for line in block.split("\n"):
                for field in ("id", "event", "data"):
                    if line.startswith(field + ": "):
                        ev[field] = line[len(field) + 2:]
            if "event" in ev and ev["event"] in ("created", "updated", "deleted", "reset"):
                out.append(ev)
        return out

    def close(self):
        self.sock.close()


@pytest.fixture
def server(start_strata, db_url):
    s = start_strata(env={"STRATA_QUAKES_PUBLIC_READ": "true"})
    s.db_url = db_url
    return s


def test_created_updated_deleted_arrive_live_with_increasing_ids(server, tmp_path):
    c = Sse(server.port)
    assert c.read_until(lambda c: b"stream open" in c.buf)
    replay(server, feature_file(tmp_path, "live", 5))
    assert c.read_until(lambda c: len(c.events()) >= 5)
    replay(server, feature_file(tmp_path, "live", 2, updated_bump=60000))           # newer: updated
    replay(server, feature_file(tmp_path, "live", 1, updated_bump=120000, status="deleted"))
    assert c.read_until(lambda c: len(c.events()) >= 8)
    evs = c.events()
    kinds = [e["event"] for e in evs]
    assert kinds == ["created"] * 5 + ["updated"] * 2 + ["deleted"], kinds
    ids = [int(e["id"]) for e in evs]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    first = json.loads(evs[0]["data"])
    assert first["id"].startswith("live") and {"time", "magnitude", "latitude", "longitude", "depth_km"} <= first.keys()
    # an older or equal version is ignored: nothing is sent
    replay(server, feature_file(tmp_path, "live", 2))
    time.sleep(1)
    c.read_until(lambda c: False, timeout=1)
    assert len(c.events()) == 8
    c.close()


def test_filters_apply_to_the_live_feed(server, tmp_path):
    big = Sse(server.port, "?minmagnitude=6")
    small = Sse(server.port, "?maxmagnitude=3")
    for c in (big, small):
        assert c.read_until(lambda c: b"stream open" in c.buf)
    replay(server, feature_file(tmp_path, "big", 3, mag=6.5))
    replay(server, feature_file(tmp_path, "small", 4, start=10, mag=1.0))
    assert big.read_until(lambda c: len(c.events()) >= 3)
    assert small.read_until(lambda c: len(c.events()) >= 4)
    time.sleep(1)
    big.read_until(lambda c: False, timeout=0.5)
    small.read_until(lambda c: False, timeout=0.5)
    assert {json.loads(e["data"])["id"][:3] for e in big.events()} == {"big"}
    assert {json.loads(e["data"])["id"][:5] for e in small.events()} == {"small"}
    assert len(big.events()) == 3 and len(small.events()) == 4


def test_last_event_id_replays_what_was_missed_without_gaps_or_duplicates(server, tmp_path):
    c = Sse(server.port)
    assert c.read_until(lambda c: b"stream open" in c.buf)
    replay(server, feature_file(tmp_path, "a", 4))
    assert c.read_until(lambda c: len(c.events()) >= 4)
    seen = c.events()
    c.close()  # disconnect
    replay(server, feature_file(tmp_path, "b", 6, start=20))  # missed while away
    last = seen[-1]["id"]
    # resume with the header; new events keep arriving during and after the replay
    r = Sse(server.port, headers={"Last-Event-ID": last})
    t = threading.Thread(target=replay, args=(server, feature_file(tmp_path, "c", 3, start=40)))
    t.start()
    t.join()
    assert r.read_until(lambda c: len(c.events()) >= 9, timeout=20)
    time.sleep(1)
    r.read_until(lambda c: False, timeout=0.5)
    evs = r.events()
    ids = [int(e["id"]) for e in evs]
    assert ids == sorted(ids) and len(set(ids)) == len(ids), ids
    assert min(ids) == int(last) + 1, "nothing missed and nothing repeated at the seam"
    got = [json.loads(e["data"])["id"] for e in evs]
    assert sorted(x for x in got if x.startswith("b")) == [f"b{i}" for i in range(6)]
    assert sorted(x for x in got if x.startswith("c")) == [f"c{i}" for i in range(3)]
    # the same through the query parameter (EventSource polyfills)
    q = Sse(server.port, f"?last_event_id={last}")
    assert q.read_until(lambda c: len(c.events()) >= 9)
    assert [e["id"] for e in q.events()][:9] == [e["id"] for e in evs][:9]
    r.close()
    q.close()


def test_websocket_feed(server, tmp_path):
    url = f"ws://127.0.0.1:{server.port}/ws/earthquakes?minmagnitude=0"
    ws = websocket.create_connection(url, subprotocols=["quakes.v1"], timeout=10)
    assert ws.getsubprotocol() == "quakes.v1"
    replay(server, feature_file(tmp_path, "ws", 3))
    msgs = [json.loads(ws.recv()) for _ in range(3)]
    assert [m["event"] for m in msgs] == ["created"] * 3
    assert all(m["data"]["id"].startswith("ws") for m in msgs)
    assert msgs[0]["id"] < msgs[1]["id"] < msgs[2]["id"]
    ws.close()
    # a token offered as a subprotocol is accepted, the application protocol selected, never echoed
    ws2 = websocket.create_connection(f"ws://127.0.0.1:{server.port}/ws/earthquakes",
                                      subprotocols=["quakes.v1", "bearer.not-a-real-token"], timeout=10)
    assert ws2.getsubprotocol() == "quakes.v1"
    ws2.close()


def test_websocket_needs_the_permission_when_not_public(start_strata, db_url):
    s = start_strata(env={"STRATA_QUAKES_PUBLIC_READ": "false"})
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        websocket.create_connection(f"ws://127.0.0.1:{s.port}/ws/earthquakes", subprotocols=["quakes.v1"], timeout=10)
    assert e.value.status_code == 401
    r = requests.get(s.url + "/api/v1/earthquakes/stream", timeout=5)
    assert_problem(r, 401)


def test_bad_stream_parameters_are_400(server):
    for q, field in [("?minmagnitude=abc", "minmagnitude"), ("?minmagnitude=5&maxmagnitude=4", "maxmagnitude"),
                     ("?latitude=10", "longitude"), ("?last_event_id=-3", "last_event_id"), ("?bogus=1", "bogus")]:
        r = requests.get(server.url + "/api/v1/earthquakes/stream" + q, timeout=5)
        body = assert_problem(r, 400)
        assert any(e["field"] == field for e in body["errors"]), (q, body)
    r = requests.get(server.url + "/api/v1/earthquakes/stream", headers={"Last-Event-ID": "x1"}, timeout=5)
    assert_problem(r, 400)


def test_browser_credentials_subprotocol_and_query_token(start_strata, db_url):
    """Browsers cannot set headers on WebSocket/EventSource: a bearer.<token> subprotocol
    (WebSocket) or ?access_token= (SSE) carries the token."""
    s = start_strata(env={"STRATA_QUAKES_PUBLIC_READ": "false", "STRATA_ADMIN_USER": "ws.admin",
                          "STRATA_ADMIN_PASSWORD": "Ws-Admin-Passw0rd-42"})
    tok = requests.post(s.url + "/api/v1/auth/token",
                        data={"grant_type": "password", "username": "ws.admin", "password": "Ws-Admin-Passw0rd-42",
                              "client_id": "strata-web"}, timeout=10).json()["access_token"]
    ws = websocket.create_connection(f"ws://127.0.0.1:{s.port}/ws/earthquakes",
                                     subprotocols=["quakes.v1", f"bearer.{tok}"], timeout=10)
    assert ws.getsubprotocol() == "quakes.v1"  # the token is never echoed
    ws.close()
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        websocket.create_connection(f"ws://127.0.0.1:{s.port}/ws/earthquakes",
                                    subprotocols=["quakes.v1", "bearer.garbage"], timeout=10)
    assert e.value.status_code == 401
    c = Sse(s.port, f"?access_token={tok}")
    assert c.read_until(lambda c: b"stream open" in c.buf)
    c.close()
    # the token never reaches the logs
    assert tok not in s.log()


def created_count(c):
    return c.buf.replace(b"\r\n", b"\n").count(b"\nevent: created\n")


def updated_count(c):
    return c.buf.replace(b"\r\n", b"\n").count(b"\nevent: updated\n")


def test_a_burst_arrives_complete_and_in_order_to_many_subscribers(start_strata, db_url, tmp_path):
    """One ingest of 400 events is one read of the change log and one batch: every subscriber on
    both loops gets all of it (or all that its filter takes), once each, in order, whole frames,
    over SSE and WebSocket alike."""
    s = start_strata(env={"STRATA_QUAKES_PUBLIC_READ": "true", "STRATA_HTTP_THREADS": "2"})
    s.db_url = db_url
    n = 400
    path = feature_file(tmp_path, "burst", n)
    feats = json.loads(path.read_text())["features"]
    big = sorted(f["id"] for f in feats if f["properties"]["mag"] is not None and f["properties"]["mag"] >= 2.5)
    assert 0 < len(big) < n
    plain = [Sse(s.port) for _ in range(24)]
    filtered = [Sse(s.port, "?minmagnitude=2.5") for _ in range(8)]
    for c in plain + filtered:
        assert c.read_until(lambda c: b"stream open" in c.buf)
    ws = websocket.create_connection(f"ws://127.0.0.1:{s.port}/ws/earthquakes", subprotocols=["quakes.v1"],
                                     timeout=20)
    replay(s, path)
    msgs = [json.loads(ws.recv()) for _ in range(n)]
    assert sorted(m["data"]["id"] for m in msgs) == sorted(f["id"] for f in feats)
    ws_ids = [m["id"] for m in msgs]
    assert ws_ids == sorted(ws_ids) and len(set(ws_ids)) == n
    for c in plain:
        assert c.read_until(lambda c: created_count(c) >= n, timeout=30), created_count(c)
    for c in filtered:
        assert c.read_until(lambda c: created_count(c) >= len(big), timeout=30), created_count(c)
    time.sleep(0.5)
    for c in plain + filtered:
        c.read_until(lambda c: False, timeout=0.2)
    for c in plain:
        evs = c.events()
        assert [int(e["id"]) for e in evs] == ws_ids  # the same events, in the same order
        assert all(json.loads(e["data"])["id"].startswith("burst") for e in evs)  # each frame whole
    for c in filtered:
        evs = c.events()
        ids = [int(e["id"]) for e in evs]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        assert sorted(json.loads(e["data"])["id"] for e in evs) == big
    for c in plain + filtered:
        c.close()
    ws.close()


def test_a_slow_consumer_is_still_cut_off_by_bursts(start_strata, db_url, tmp_path):
    """Bursts are written whole, but buffering stays bounded: a client that does not read gets
    the final overflow event and its stream ends; one that reads gets everything."""
    s = start_strata(env={"STRATA_QUAKES_PUBLIC_READ": "true", "STRATA_SSE_QUEUE_LIMIT": "512KiB"})
    s.db_url = db_url
    slow = Sse(s.port, rcvbuf=4096)  # never reads until the end
    fast = Sse(s.port)
    assert fast.read_until(lambda c: b"stream open" in c.buf)
    done = threading.Event()
    reader = threading.Thread(target=lambda: fast.read_until(lambda c: done.is_set(), timeout=300))
    reader.start()
    n, rounds = 1000, 14
    try:
        # bursts of about 600 KB (more than the limit: a client that keeps up is not cut off for
        # that), 8.4 MB in all: more than what can wait for the slow one without the queue limit
        # being reached (the kernel's send buffer grows to tcp_wmem's 4 MiB, plus one write in
        # flight of up to a burst, plus the 512 KiB queue); 5 MB was not always enough
        for k in range(rounds):
            replay(s, feature_file(tmp_path, "slow", n, updated_bump=1000 * k))
        wait_until(lambda: created_count(fast) + updated_count(fast) >= n * rounds or None, 60, what="fast client")
    finally:
        done.set()
        reader.join()
    ids = [int(e["id"]) for e in fast.events()]
    assert len(ids) == n * rounds and ids == sorted(ids) and len(set(ids)) == n * rounds
    assert slow.read_until(lambda c: b"event: overflow" in c.buf.replace(b"\r\n", b"\n"), timeout=30)
    t0 = time.monotonic()
    slow.read_until(lambda c: False, timeout=10)
    assert time.monotonic() - t0 < 8, "the stream ended after the overflow event"
    assert any("slow" in (rec.get("msg") or "") for rec in s.log_records())
    slow.close()
    fast.close()
