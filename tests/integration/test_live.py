"""Live streams (SSE) and fan-out across event loops, through the debug topic:
GET /api/v1/_debug/events subscribes, POST /api/v1/_debug/events publishes."""

import socket
import threading
import time

import requests

from conftest import wait_until


class SseClient:
    """A raw-socket SSE reader (so the test controls reading speed and sees every byte)."""

    def __init__(self, port, path="/api/v1/_debug/events", rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:  # before connect, so the TCP window stays small
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n".encode())
        self.buf = b""
        self.headers = None

    def read_until(self, pred, timeout=10):
        self.sock.settimeout(0.2)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred(self.buf):
                return True
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                return pred(self.buf)
            self.buf += chunk
        return pred(self.buf)

    def events(self):
        body = self.buf.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in self.buf else b""
        # de-chunk loosely: SSE frames are recognisable by their field names
        out = []
        for block in body.replace(b"\r\n", b"\n").split(b"\n\n"):
            ev = {}
            for line in block.split(b"\n"):
                for field in (b"id", b"event", b"data"):
                    if line.startswith(field + b": "):
                        ev[field.decode()] = line[len(field) + 2:].decode()
            if "event" in ev:
                out.append(ev)
        return out

    def close(self):
        self.sock.close()


def publish(s, text, count=1, pad=0):
    r = requests.post(s.url + "/api/v1/_debug/events", params={"text": text, "count": count, "pad": pad})
    assert r.status_code == 200, r.text
    return r.json()


def test_every_subscriber_on_every_loop_gets_every_event_in_order(start_strata):
    s = start_strata(env={"STRATA_HTTP_THREADS": "2"})
    clients = [SseClient(s.port) for _ in range(12)]  # SO_REUSEPORT spreads them over both loops
    for c in clients:
        assert c.read_until(lambda b: b"stream open" in b)
        assert b"content-type: text/event-stream" in c.buf.lower()
    out = publish(s, "hello", count=50)
    assert out["subscribers"] == 12
    for c in clients:
        assert c.read_until(lambda b: b"id: 50\n" in b.replace(b"\r\n", b"\n"))
        evs = [e for e in c.events() if e["event"] == "message"]
        assert [int(e["id"]) for e in evs] == list(range(1, 51))
        assert all(e["data"] == '{"text":"hello"}' for e in evs)
        c.close()


def test_heartbeats_keep_idle_streams_alive(start_strata):
    s = start_strata(env={"STRATA_SSE_HEARTBEAT": "300ms"})
    c = SseClient(s.port)
    assert c.read_until(lambda b: b.count(b": heartbeat") >= 3, timeout=10)
    c.close()


def test_slow_consumer_is_cut_off_with_a_final_event_not_buffered_forever(start_strata):
    s = start_strata(env={"STRATA_SSE_QUEUE_LIMIT": "256KiB"})
    slow = SseClient(s.port, rcvbuf=4096)   # never reads until the end
    fast = SseClient(s.port)
    assert fast.read_until(lambda b: b"stream open" in b)
    done = threading.Event()
    reader = threading.Thread(target=lambda: fast.read_until(lambda b: done.is_set(), timeout=120))
    reader.start()
    try:
        # 8 MB in batches: far more than the slow client's socket buffers and queue limit
        for _ in range(100):
            publish(s, "bulk", count=20, pad=4000)
        wait_until(lambda: b"id: 2000\n" in fast.buf.replace(b"\r\n", b"\n") or None, 60, what="fast client")
    finally:
        done.set()
        reader.join()
    # the fast one kept everything, in order
    ids = [int(e["id"]) for e in fast.events() if e["event"] == "message"]
    assert ids == list(range(1, 2001))
    # the slow one got a final overflow event and the stream ended
    assert slow.read_until(lambda b: b"event: overflow" in b.replace(b"\r\n", b"\n"), timeout=30)
    assert slow.read_until(lambda b: False, timeout=2) is False
    assert any("slow" in (rec.get("msg") or "") for rec in s.log_records())
    slow.close()
    fast.close()


def test_shutdown_closes_streams_cleanly(start_strata):
    s = start_strata()
    c = SseClient(s.port)
    assert c.read_until(lambda b: b"stream open" in b)
    t0 = time.monotonic()
    code = s.stop()
    assert code == 0
    assert time.monotonic() - t0 < 8, "an open stream must not hold shutdown for the whole grace period"
    assert c.read_until(lambda b: b"event: shutdown" in b, timeout=5)
    c.close()


def test_client_leaving_unsubscribes(start_strata):
    s = start_strata()
    cs = [SseClient(s.port) for _ in range(5)]
    for c in cs:
        assert c.read_until(lambda b: b"stream open" in b)
    assert publish(s, "x")["subscribers"] == 5
    for c in cs[:3]:
        c.close()
    # a vanished client is noticed at the next write: publish until the count drops
    wait_until(lambda: publish(s, "y")["subscribers"] == 2 or None, 10, interval=0.2, what="unsubscribed")
    for c in cs[3:]:
        c.close()


def test_events_cross_processes_through_the_bus(start_strata):
    """The bus (LISTEN/NOTIFY) carries a notice from one process to the subscribers of another."""
    a = start_strata()
    b = start_strata()
    subs = [SseClient(b.port), SseClient(a.port)]
    for c in subs:
        assert c.read_until(lambda buf: b"stream open" in buf)
    r = requests.post(a.url + "/api/v1/_debug/events", params={"text": "across", "via_bus": "true"})
    assert r.status_code == 202, r.text
    for c in subs:
        assert c.read_until(lambda buf: b'{"text":"across"}' in buf, timeout=10)
        c.close()
