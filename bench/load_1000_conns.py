#!/usr/bin/python3
"""Load test: hold N (default 1,000) concurrent keep-alive HTTP/1.1 connections to a Strata server.

    /usr/bin/python3 bench/load_1000_conns.py http://127.0.0.1:PORT [--conns 1000] [--hold 10]

Opens every connection first (all must be established before the hold starts), then for
--hold seconds sends one `GET /healthz` on every connection once a second and reads each
answer (status 200, Content-Length body, connection kept alive). Midway it reads the
server's own count (strata_http_connections_open from /metrics) on one extra connection.
An error is: a connect failure, a non-200 answer, a connection closed by the server, or an
answer that takes longer than --timeout. The whole test is bounded by --deadline seconds.

Prints `LOAD conns_held <n> errors <e>` and exits 0 only when all connections were held with
zero errors. --jsonl FILE appends one {"type":"load",...} line (with --run RUN as run id).
Raise the server's STRATA_MAX_CONNECTIONS above --conns (the default, 4096, is enough).
Standard library only; run it with /usr/bin/python3.
"""

import argparse
import errno
import json
import os
import resource
import selectors
import socket
import sys
import time
import urllib.parse


class Conn:
    __slots__ = ("sock", "buf", "waiting", "sent_at", "ok", "dead", "answers")

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.waiting = False
        self.sent_at = 0.0
        self.ok = True
        self.dead = False
        self.answers = 0


def parse_response(buf):
    """Returns (status, bytes consumed) for one complete response at the start of buf, or None."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buf[:end].decode("latin-1").split("\r\n")
    try:
        status = int(head[0].split(" ", 2)[1])
    except (IndexError, ValueError):
        return (-1, len(buf))
    length = None
    closing = False
    for h in head[1:]:
        k, _, v = h.partition(":")
        k = k.strip().lower()
        if k == "content-length":
            length = int(v.strip())
        elif k == "connection" and v.strip().lower() == "close":
            closing = True
        elif k == "transfer-encoding":
            return (-2, len(buf))  # Strata always sets Content-Length on these routes
    if length is None:
        return (-3, len(buf))
    if len(buf) < end + 4 + length:
        return None
    return (-4 if closing else status, end + 4 + length)


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = need + 64
    if soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(hard, max(want, soft))
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        soft = new
    if soft < want:
        sys.exit(f"load: open-file limit {soft} is below {want} (raise it: ulimit -n {want})")


def server_open_conns(host, port, hostport, timeout):
    """strata_http_connections_open summed over its series, read from /metrics (None if absent)."""
    try:
        s = socket.create_connection((host, port), timeout=timeout)
        s.sendall(f"GET /metrics HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
    except OSError:
        return None
    total = None
    for line in data.decode("utf-8", "replace").splitlines():
        if line.startswith("strata_http_connections_open"):
            try:
                total = (total or 0) + float(line.rsplit(" ", 1)[1])
            except ValueError:
                pass
    return None if total is None else int(total)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("url", help="server base URL, e.g. http://127.0.0.1:8080")
    ap.add_argument("--conns", type=int, default=1000)
    ap.add_argument("--hold", type=float, default=10.0, help="seconds to hold the connections")
    ap.add_argument("--path", default="/healthz")
    ap.add_argument("--timeout", type=float, default=5.0, help="per connect / per answer, seconds")
    ap.add_argument("--deadline", type=float, default=60.0, help="bound on the whole test, seconds")
    ap.add_argument("--jsonl", help="append a JSON line with the result to this file")
    ap.add_argument("--run", default=None, help="run id written in the JSON line")
    args = ap.parse_args()

    u = urllib.parse.urlsplit(args.url)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    hostport = f"{host}:{port}"
    request = f"GET {args.path} HTTP/1.1\r\nHost: {hostport}\r\nUser-Agent: strata-load\r\n\r\n".encode()
    raise_nofile(args.conns + 16)

    t_start = time.monotonic()
    deadline = t_start + args.deadline
    sel = selectors.DefaultSelector()
    conns = []
    errors = {"connect": 0, "status": 0, "closed": 0, "timeout": 0}
    first_error = []

    def fail(c, kind, detail):
        errors[kind] += 1
        if not first_error:
            first_error.append(f"{kind}: {detail}")
        if c is not None and not c.dead:
            c.dead = True
            c.ok = False
            try:
                sel.unregister(c.sock)
            except (KeyError, ValueError):
                pass
            c.sock.close()

    # 1. connect them all (non-blocking, in batches so the listen backlog never overflows)
    pending = {}
    batch = 200
    for i in range(args.conns):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        rc = s.connect_ex((host, port))
        if rc not in (0, errno.EINPROGRESS):
            s.close()
            fail(None, "connect", os.strerror(rc))
            continue
        c = Conn(s)
        conns.append(c)
        pending[s.fileno()] = c
        sel.register(s, selectors.EVENT_WRITE, c)
        if len(pending) >= batch or i == args.conns - 1:
            t_batch = time.monotonic()
            while pending and time.monotonic() - t_batch < args.timeout:
                for key, _ in sel.select(timeout=0.2):
                    cc = key.data
                    err = cc.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    del pending[cc.sock.fileno()]
                    if err:
                        fail(cc, "connect", os.strerror(err))
                    else:
                        sel.modify(cc.sock, selectors.EVENT_READ, cc)
            for cc in list(pending.values()):
                fail(cc, "connect", "timed out")
            pending.clear()
    connected = sum(1 for c in conns if not c.dead)
    t_connected = time.monotonic()

    # 2. hold: one request per connection per second, read every answer
    rounds = max(1, int(round(args.hold)))
    server_seen = None
    for rnd in range(rounds):
        t_round = time.monotonic()
        if t_round > deadline:
            break
        live = [c for c in conns if not c.dead]
        for c in live:
            try:
                c.sock.send(request)  # 60-odd bytes into an empty socket buffer: never partial
                c.waiting = True
                c.sent_at = time.monotonic()
            except OSError as e:
                fail(c, "closed", f"send: {e}")
        waiting = sum(1 for c in live if c.waiting and not c.dead)
        while waiting and time.monotonic() - t_round < args.timeout and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.2):
                c = key.data
                try:
                    chunk = c.sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as e:
                    fail(c, "closed", f"recv: {e}")
                    waiting -= 1
                    continue
                if not chunk:
                    if c.waiting:
                        waiting -= 1
                    fail(c, "closed", "connection closed by the server")
                    continue
                c.buf += chunk
                r = parse_response(c.buf)
                if r is None:
                    continue
                status, used = r
                c.buf = c.buf[used:]
                if c.waiting:
                    c.waiting = False
                    waiting -= 1
                if status != 200:
                    fail(c, "status", f"status {status}" if status > 0 else "bad or closing response")
                else:
                    c.answers += 1
        for c in live:
            if c.waiting and not c.dead:
                c.waiting = False
                fail(c, "timeout", f"no answer within {args.timeout} s")
        if rnd == rounds // 2:
            server_seen = server_open_conns(host, port, hostport, args.timeout)
        rest = 1.0 - (time.monotonic() - t_round)
        if rnd < rounds - 1 and rest > 0:
            time.sleep(rest)

    held = sum(1 for c in conns if not c.dead and c.answers == rounds)
    total_errors = sum(errors.values())
    for c in conns:
        if not c.dead:
            sel.unregister(c.sock)
            c.sock.close()
    elapsed = time.monotonic() - t_start

    result = {
        "type": "load", "run": args.run, "target": "keepalive_conns", "url": args.url + args.path,
        "conns": args.conns, "connected": connected, "conns_held": held, "requests_per_conn": rounds,
        "errors": total_errors, "error_kinds": errors, "first_error": first_error[0] if first_error else None,
        "server_connections_open_midway": server_seen,
        "connect_seconds": round(t_connected - t_start, 3), "elapsed_seconds": round(elapsed, 3),
    }
    if args.jsonl:
        with open(args.jsonl, "a") as f:
            f.write(json.dumps(result) + "\n")
    detail = f"connected in {result['connect_seconds']} s, {rounds} requests each"
    if server_seen is not None:
        detail += f", server counted {server_seen} open"
    if first_error:
        detail += f"; first error: {first_error[0]}"
    print(f"  load: {detail}", file=sys.stderr)
    print(f"LOAD conns_held {held} errors {total_errors}", flush=True)
    return 0 if (held == args.conns and total_errors == 0) else 1


if __name__ == "__main__":
    sys.exit(main())
