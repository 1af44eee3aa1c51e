#!/usr/bin/python3
"""The live fan-out of `make bench` (bench/quakes.py sse): idle SSE subscribers, then a burst.

1. Checks that GET /api/v1/earthquakes/stream answers 200 text/event-stream. When it does not,
   the result is recorded as not measured and both LIMIT lines say nan.
2. Waits until the server has no open connections left from the loads before, reads its resident
   memory (process_resident_memory_bytes in /metrics). Then bench/sse_fanout.c (compiled here
   with cc and libpq into the temp folder) opens its own libpq connection to --database-url and
   runs LISTEN quakes_events, then opens --subscribers (5,000) connections to the stream, with no
   filter, 250 at a time, and waits until each has its 200 and the stream's first frame. One
   second later the memory is read again. `sse_kib_per_idle_subscriber` is the difference divided
   by the subscribers.
3. Writes --events (100) new events (new ids, origin times in the last 100 s) to a GeoJSON file,
   notes the wall-clock time T, hands T to sse_fanout and starts
   `strata ingest --replay FILE --speed 0`. That is what a real ingest does: process start, the
   migrations check, parse, then COPY + upsert + change log + NOTIFY quakes_events in one
   transaction. PostgreSQL delivers the NOTIFY at COMMIT to every listener alike: to the server's
   bus thread, which then reads the change log and fans the events out, and to sse_fanout's
   independent LISTEN connection, which notes its arrival time T_commit (the first NOTIFY at or
   after T), in the same loop and on the same clock as the streams.
   Delivery = from the commit of the burst (NOTIFY on an independent LISTEN connection) to the
   receipt of the subscriber's last event (its 100th `created`). `sse_p99_delivery_ms` (the LIMIT
   line, record field p99_delivery_ms) is the 99th percentile of that over the subscribers;
   p50_delivery_ms and max_delivery_ms likewise. first_event_ms is the earliest receipt of any
   event, also from T_commit.
   Kept for reference, from T: p99_from_ingest_start_ms, the p99 receipt of the last event from
   the ingest process's start (it includes the process's start-up, migrations check, parse and
   store, the figure this benchmark reported before); commit_after_start_ms, T to T_commit;
   replay_process_ms, T to the ingest process's exit.
4. Sanity checks: T < T_commit < the ingest's exit, and T_commit before the first event any
   subscriber received. When no NOTIFY arrived, or a check fails, the SSE result is recorded as
   not measured with the reason (`skipped`; both LIMIT lines nan; the run fails), never a figure
   from another starting point.

An `overflow` event, a connection closed by the server or a missing event counts as an error.
File descriptors: sse_fanout raises its soft limit to the hard limit; the server needs one per
subscriber too (scripts/bench.sh raises the shell's limit before it starts the server).
Standard library only; sse_fanout needs libpq (libpq-dev, found with pkg-config).
"""

import json
import os
import select
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import measure as M

HERE = os.path.dirname(os.path.abspath(__file__))
STREAM = "/api/v1/earthquakes/stream"
OPEN_TIMEOUT_S = 90
DELIVERY_TIMEOUT_MS = 30000
NEW_ID_BASE = 2000000000


def metric(url, name):
    text = M.metrics_text(url)
    if text is None:
        return None
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            try:
                return float(line.rsplit(" ", 1)[1])
            except ValueError:
                return None
    return None


def stream_available(url):
    """(True, None) when the route streams; (False, why) when it does not."""
    req = urllib.request.Request(url + STREAM, headers={"Accept": "text/event-stream"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            ctype = r.headers.get("Content-Type", "")
            if r.status == 200 and ctype.startswith("text/event-stream"):
                return True, None
            return False, f"{STREAM} answered {r.status} {ctype}"
    except urllib.error.HTTPError as e:
        return False, f"{STREAM} answered {e.code}"
    except Exception as e:  # noqa: BLE001
        return False, f"{STREAM}: {e}"


def burst_file(path, n):
    now_ms = int(time.time() * 1000)
    feats = []
    for k in range(n):
        eid = str(NEW_ID_BASE + k)
        t = now_ms - (n - k) * 1000
        props = {"mag": round(1.0 + (k % 40) / 10, 2), "place": "10 km N of Bench, CA", "time": t, "updated": t + 1000,
                 "tz": None, "url": f"https://earthquake.usgs.gov/earthquakes/eventpage/{eid}",
                 "detail": f"https://earthquake.usgs.gov/earthquakes/feed/v1.0/detail/{eid}.geojson", "felt": None,
                 "cdi": None, "mmi": None, "alert": None, "status": "automatic", "tsunami": 0, "sig": 30, "net": "nc",
                 "code": eid, "ids": f",{eid},", "sources": ",nc,", "types": ",origin,phase-data,", "nst": 12,
                 "dmin": 0.05, "rms": 0.1, "gap": 80, "magType": "md", "type": "earthquake",
                 "title": "M 1.0 - 10 km N of Bench, CA"}
        feats.append({"type": "Feature", "properties": props,
                      "geometry": {"type": "Point", "coordinates": [-122.0 + k / 1000, 37.0 + k / 1000, 5.0]},
                      "id": eid})
    with open(path, "w") as f:
        json.dump({"type": "FeatureCollection", "metadata": {"count": n}, "features": feats}, f)


def pct(xs, q):
    """Nearest-rank percentile of a sorted list."""
    if not xs:
        return None
    return xs[min(len(xs) - 1, max(0, -(-q * len(xs) // 100) - 1))]


def read_line(p, prefix, timeout):
    """The first stdout line of p starting with prefix, within timeout seconds."""
    end = time.monotonic() + timeout
    buf = b""
    fd = p.stdout.fileno()
    while time.monotonic() < end:
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.startswith(prefix.encode()):
                return line.decode()
        r, _, _ = select.select([fd], [], [], max(0.0, end - time.monotonic()))
        if not r:
            break
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        buf += chunk
    while b"\n" in buf:
        line, buf = buf.split(b"\n", 1)
        if line.startswith(prefix.encode()):
            return line.decode()
    return None


def run(args):
    rec = {"type": "quakes_sse", "run": args.run, "subscribers": args.subscribers, "events": args.events}
    ok, why = stream_available(args.url)
    if not ok:
        rec["skipped"] = why
        M.write_line(args.out, rec)
        print(f"  SSE: not measured: {why}", flush=True)
        return 0
    binary = os.path.join(args.tmp, "sse_fanout")
    pq = subprocess.run(["pkg-config", "--cflags", "--libs", "libpq"], capture_output=True, text=True)
    if pq.returncode != 0:
        raise RuntimeError(f"pkg-config libpq failed (libpq-dev is needed for bench/sse_fanout.c): {pq.stderr}")
    cc = subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-o", binary, os.path.join(HERE, "sse_fanout.c")]
                        + pq.stdout.split(), capture_output=True, text=True)
    if cc.returncode != 0:
        raise RuntimeError(f"cc bench/sse_fanout.c failed: {cc.stderr}")
    max_fds = metric(args.url, "process_max_fds")
    if max_fds is not None and max_fds < args.subscribers + 200:
        raise RuntimeError(f"the server may open {max_fds:.0f} files; {args.subscribers} subscribers need more"
                           " (raise ulimit -n before it starts)")

    # the loads before have closed their connections (the RSS baseline is the idle server)
    t = time.monotonic()
    conns0 = metric(args.url, "strata_http_connections_open")
    while conns0 is not None and conns0 > 1 and time.monotonic() - t < 10:
        time.sleep(0.2)
        conns0 = metric(args.url, "strata_http_connections_open")
    rss0 = metric(args.url, "process_resident_memory_bytes")

    u = urllib.parse.urlsplit(args.url)
    # the database URL in the environment, not in argv (ps would show it)
    fan = subprocess.Popen([binary, u.hostname, str(u.port), STREAM, str(args.subscribers), str(args.events),
                            str(DELIVERY_TIMEOUT_MS)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, start_new_session=True,
                           env=dict(os.environ, STRATA_DATABASE_URL=args.database_url))
    replay = None
    try:
        ready = read_line(fan, "READY", OPEN_TIMEOUT_S)
        if ready is None:
            fan.kill()
            raise RuntimeError(f"sse_fanout did not open {args.subscribers} streams: "
                               f"{fan.communicate()[1].decode(errors='replace')[-1000:]}")
        open_s = int(ready.split()[1]) / 1000
        time.sleep(1.0)
        rss1 = metric(args.url, "process_resident_memory_bytes")
        conns1 = metric(args.url, "strata_http_connections_open")
        kib = (rss1 - rss0) / args.subscribers / 1024 if rss0 is not None and rss1 is not None else None
        print(f"  SSE: {args.subscribers:,} subscribers open in {open_s:.1f} s (server: {conns1:.0f} connections"
              f" open, {conns0:.0f} before); server RSS {rss0 / 2**20:.1f} -> {rss1 / 2**20:.1f} MiB ="
              f" {M.fmt(kib, 2)} KiB per idle subscriber", flush=True)

        # the burst
        path = os.path.join(args.tmp, "sse_burst.geojson")
        burst_file(path, args.events)
        env = dict(os.environ, STRATA_DATABASE_URL=args.database_url, STRATA_LOG_LEVEL="warn")
        sampler = M.CpuSampler(args.server_pid, args.postmaster_pid)
        s0 = sampler.sample()
        c0 = M.children_cpu()
        t_start = time.time_ns()
        fan.stdin.write(f"GO {t_start}\n".encode())
        fan.stdin.flush()
        replay = subprocess.Popen([args.strata, "ingest", "--replay", path, "--speed", "0"], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        out = replay.communicate(timeout=DELIVERY_TIMEOUT_MS / 1000)[0].decode("utf-8", "replace")
        replay_ms = (time.time_ns() - t_start) / 1e6
        result = read_line(fan, "RESULT", DELIVERY_TIMEOUT_MS / 1000 + 10)
        s1 = sampler.sample()
        fan.stdin.close()
        fan.wait(timeout=30)
        reaped_cpu = M.children_cpu() - c0  # the ingest and sse_fanout (its whole run), both reaped now
        if replay.returncode != 0:
            raise RuntimeError(f"the burst's strata ingest --replay failed (rc {replay.returncode}): {out[-2000:]}")
        if result is None:
            raise RuntimeError(f"sse_fanout gave no result: {fan.stderr.read().decode(errors='replace')[-1000:]}")
    finally:
        for p in (fan, replay):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
    r = json.loads(result.split(" ", 1)[1])
    # load generator = the ingest + sse_fanout's CPU from GO on (not its connection phase)
    wall, secs, cores = M.CpuSampler.delta(s0, s1, reaped_cpu - r["cpu_seconds"] + r["burst_cpu_seconds"])
    done0, first0 = r["done_ms"], r["first_ms"]  # ms after T (the ingest's start), sorted
    commit = r["commit_ms"]  # T_commit in ms after T, None when no NOTIFY came
    complete = r["complete"]
    errors = {"incomplete": args.subscribers - complete, "overflow": r["overflow"], "closed": r["closed"]}
    rec.update({
        "open_seconds": round(open_s, 2), "rss_before_bytes": rss0, "rss_after_bytes": rss1,
        "connections_open_before": conns0, "connections_open_after": conns1,
        "replay_process_ms": round(replay_ms, 1),
        "commit_after_start_ms": None if commit is None else round(commit, 1),
        "notifies": r["notifies"], "notifies_before_start": r["notifies_before_go"],
        "complete": complete, "errors": errors,
        "burst_wall_seconds": round(wall, 3), "cpu_seconds": secs, "cpu_cores": cores,
        "client_cpu_seconds": r["burst_cpu_seconds"],
    })
    why = None
    if commit is None:
        why = "no NOTIFY on quakes_events reached the independent LISTEN connection after the burst started"
    elif not 0 < commit < replay_ms:
        why = (f"the burst's NOTIFY arrived {commit:.1f} ms after the ingest started, not between its start"
               f" and its exit ({replay_ms:.1f} ms)")
    elif first0 and first0[0] <= commit:
        why = (f"a subscriber received an event {first0[0]:.1f} ms after the ingest started, before the NOTIFY"
               f" ({commit:.1f} ms)")
    if why is not None:
        # both LIMIT lines nan: the summary reads p99_delivery_ms and kib_per_idle_subscriber, absent here
        rec["skipped"] = why
        rec["kib_per_idle_subscriber_unchecked"] = None if kib is None else round(kib, 3)
        M.write_line(args.out, rec)
        print(f"  SSE: not measured: {why}", flush=True)
        return 1
    done = [x - commit for x in done0]
    p99 = pct(done, 99) if complete == args.subscribers else None
    p99_start = pct(done0, 99) if complete == args.subscribers else None
    rec.update({
        "kib_per_idle_subscriber": None if kib is None else round(kib, 3),
        "delivery_from": "commit (first NOTIFY on an independent LISTEN connection)",
        "first_event_ms": None if not first0 else round(first0[0] - commit, 1),
        "p50_delivery_ms": None if not done else round(pct(done, 50), 1),
        "p99_delivery_ms": None if p99 is None else round(p99, 1),
        "max_delivery_ms": None if not done else round(done[-1], 1),
        "p99_from_ingest_start_ms": None if p99_start is None else round(p99_start, 1),
    })
    M.write_line(args.out, rec)
    print(f"  SSE burst: {args.events} events to {args.subscribers:,} subscribers: committed (NOTIFY)"
          f" {rec['commit_after_start_ms']:.1f} ms after the ingest started (its process took"
          f" {rec['replay_process_ms']:.0f} ms); from the commit: first event after"
          f" {M.fmt(rec['first_event_ms'], 1)} ms, all {args.events}: p50 {M.fmt(rec['p50_delivery_ms'], 1)} ms,"
          f" p99 {M.fmt(rec['p99_delivery_ms'], 1)} ms, max {M.fmt(rec['max_delivery_ms'], 1)} ms;"
          f" p99 from the ingest's start {M.fmt(rec['p99_from_ingest_start_ms'], 1)} ms;"
          f" complete {complete}/{args.subscribers}; cpu s: server"
          f" {secs['server']:.2f} postgres {secs['postgres']:.2f} ingest+client {secs['loadgen']:.2f}"
          f" (client {r['burst_cpu_seconds']:.2f}) other {secs['other']:.2f} in {wall:.2f} s", flush=True)
    return 0 if sum(errors.values()) == 0 else 1
