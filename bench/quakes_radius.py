#!/usr/bin/python3
"""Radius search on the earthquake catalogue: the naive query against the one the API runs.

    STRATA_BIN=build/strata /usr/bin/python3 bench/quakes_radius.py postgresql://postgres@127.0.0.1:PORT/EMPTYDB

The database must be empty (or hold only the Strata schema): the script runs `strata migrate`,
inserts --rows generated events (60 % clustered around six subduction-zone hot spots, 40 % spread
over the globe, times over two years), adds the naive baseline's index and ANALYZEs. Then, for each
scenario (radius x time window x where the centre falls), it times 40 random circles, each run
once by both queries on the same connection, interleaved, warm cache:

  naive: a btree (time DESC, id) and the geography GiST, and
         WHERE time BETWEEN .. AND ST_DWithin(geom, centre, metres) ORDER BY time DESC, id LIMIT 51
  api:   the list statement of src/apps/quakes/sql.h: a planar box prefilter on the GiST (pt, time)
         index (the box holds the whole circle; split at the antimeridian, every longitude near a
         pole), then the exact ST_DWithin on the spheroid

Both return the same rows (checked). Prints p50/p95 milliseconds per scenario, with parallel
query off (what interactive connections should use, see docs/decisions.md) and, with --parallel,
also with PostgreSQL's default max_parallel_workers_per_gather. Not part of `make bench`.
"""

import argparse
import math
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import quakes_sql  # noqa: E402

NAIVE = ("SELECT id FROM quakes WHERE ($1::timestamptz IS NULL OR time >= $1::timestamptz)"
         " AND ($2::timestamptz IS NULL OR time <= $2::timestamptz)"
         " AND ST_DWithin(geom, ST_SetSRID(ST_MakePoint($3::float8, $4::float8), 4326)::geography, $5::float8)"
         " AND status <> 'deleted' ORDER BY time DESC, id LIMIT 51")

GENERATE = """
INSERT INTO quakes (id, time, updated, mag, magtype, place, lon, lat, depth_km, status, eventtype, properties)
SELECT 'gen' || g, t, t + interval '10 minutes', m, 'ml', 'generated', lon, lat, d,
       CASE WHEN g % 3 = 0 THEN 'automatic' ELSE 'reviewed' END, 'earthquake', '{}'::jsonb
FROM (
  SELECT g, timestamptz '2022-01-01' + random() * interval '730 days' AS t,
         round((-ln(random() + 1e-9))::numeric, 2)::float8 AS m, round((random() * 100)::numeric, 2)::float8 AS d,
         CASE WHEN g % 10 < 6 THEN (ARRAY[-122.0, -150.0, 142.0, -71.0, 120.0, 178.0])[1 + g % 6] + (random() - 0.5) * 6
              ELSE random() * 360 - 180 END AS lon0,
         CASE WHEN g % 10 < 6 THEN (ARRAY[37.0, 61.0, 38.0, -30.0, -5.0, -18.0])[1 + g % 6] + (random() - 0.5) * 6
              ELSE degrees(asin(2 * random() - 1)) END AS lat
  FROM generate_series(1, {rows}) g
) s, LATERAL (SELECT CASE WHEN lon0 > 180 THEN lon0 - 360 WHEN lon0 < -180 THEN lon0 + 360 ELSE lon0 END AS lon) l
"""

HOT = [(37.0, -122.0), (61.0, -150.0), (38.0, 142.0), (-30.0, -71.0), (-5.0, 120.0), (-18.0, 178.0)]


def sql_header():
    """sql.h's statements and the list statements' parameter count (scripts/quakes_sql.py)."""
    texts, numbers = quakes_sql.read_headers(quakes_sql.SQL_H)
    return texts, numbers["QUAKES_SQL_NPARAMS"]


def api_params(nparams, start, end, lat, lon, km):
    p = [None] * nparams
    p[0], p[1] = start, end
    for i, box in zip((15, 19), quakes_sql.circle_boxes(lat, lon, km)):
        p[i:i + 4] = box
    p[23], p[24], p[25] = lon, lat, km * 1000.0
    p[29], p[32], p[33] = "false", 51, False
    return p


def enc(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return b"t" if v else b"f"
    return str(v).encode()


def timed(pg, name, params):
    t0 = time.perf_counter()
    r = pg.exec_prepared(name, [enc(x) for x in params])
    dt = (time.perf_counter() - t0) * 1000
    if r.status != 2:
        raise SystemExit(f"{name}: {r.error_message.decode(errors='replace')}")
    return dt, sorted(r.get_value(i, 0) for i in range(r.ntuples))


def run(conn, nparams, parallel):
    conn.execute("RESET max_parallel_workers_per_gather" if parallel else "SET max_parallel_workers_per_gather = 0")
    pg = conn.pgconn
    rng = random.Random(7)
    q = lambda v: f"{statistics.median(v):7.2f} /{sorted(v)[int(len(v) * .95)]:7.2f}"  # noqa: E731
    print(f"\nparallel query {'on (PostgreSQL default)' if parallel else 'off'}")
    print(f"{'radius':>7} {'window':>6} {'centre':>6}   {'naive p50/p95 ms':>18}   {'api p50/p95 ms':>18}   rows")
    for km in (50, 300, 1000):
        for days in (7, 90, None):
            for where in ("hot", "any"):
                tn, ta, rows = [], [], 0
                for i in range(41):
                    if where == "hot":
                        lat, lon = rng.choice(HOT)
                        lat, lon = lat + rng.uniform(-2, 2), lon + rng.uniform(-2, 2)
                    else:
                        lat, lon = math.degrees(math.asin(rng.uniform(-1, 1))), rng.uniform(-180, 180)
                    lon = (lon + 180) % 360 - 180
                    start = end = None
                    if days:
                        s = 1640995200 + rng.uniform(0, (730 - days) * 86400)
                        start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(s))
                        end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(s + days * 86400))
                    a, ra = timed(pg, b"naive", [start, end, lon, lat, km * 1000.0])
                    b, rb = timed(pg, b"api", api_params(nparams, start, end, lat, lon, km))
                    if ra != rb:
                        raise SystemExit(f"different answers for ({lat}, {lon}, {km} km, {start})")
                    if i:  # the first circle of a scenario warms up
                        tn.append(a)
                        ta.append(b)
                        rows += len(rb)
                print(f"{km:5} km {str(days) + 'd' if days else 'none':>6} {where:>6}   {q(tn):>18}   {q(ta):>18}"
                      f"   {rows / len(ta):4.0f}")
                sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("database_url")
    ap.add_argument("--rows", type=int, default=200000)
    ap.add_argument("--parallel", action="store_true", help="also measure with parallel query on")
    args = ap.parse_args()
    strata = os.environ.get("STRATA_BIN", str(REPO / "build" / "strata"))
    subprocess.run([strata, "migrate"], env=dict(os.environ, STRATA_DATABASE_URL=args.database_url), check=True,
                   capture_output=True)
    sql, nparams = sql_header()
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        if conn.execute("SELECT count(*) FROM quakes").fetchone()[0] != args.rows:
            conn.execute("TRUNCATE quakes")
            conn.execute(GENERATE.replace("{rows}", str(int(args.rows))))
        conn.execute("CREATE INDEX IF NOT EXISTS bench_naive_time_id ON quakes (time DESC, id)")
        conn.execute("VACUUM ANALYZE quakes")
        conn.pgconn.prepare(b"naive", NAIVE.encode())
        conn.pgconn.prepare(b"api", sql["QUAKES_SQL_LIST_TIME"].encode())
        print(f"{args.rows} events; PostgreSQL {conn.info.server_version}; 40 circles per scenario")
        run(conn, nparams, parallel=False)
        if args.parallel:
            run(conn, nparams, parallel=True)


if __name__ == "__main__":
    main()
