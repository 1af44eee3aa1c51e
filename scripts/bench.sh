#!/usr/bin/env bash
# `make bench`: Strata's benchmarks against this machine's own limit, measured in the same run.
# Never part of `make test`. See bench/README.md for what is measured and how to read it.
#
#  1. installs what is missing (scripts/deps.sh bench: wrk, PostgreSQL 15), builds build/strata
#  2. starts a private PostgreSQL 15 cluster in a temp folder on a free port, creates the
#     database and bench_items with BENCH_ROWS (1,000,000) rows, VACUUM ANALYZE, prewarm
#  3. starts `build/strata serve` (run from a copy in the temp folder) on a free port (debug
#     routes on, log level warn, development auth: secrets generated in the temp folder, an admin
#     user with a random password, token endpoint rate limits raised), waits for /readyz, logs
#     the admin in (password grant) for an access token, checks that the protected route
#     answers 200 with it and 401 without, warms up
#  4. BENCH_ROUNDS (3) interleaved rounds of: wrk static /healthz, wrk primary-key lookup
#     /api/v1/_debug/items/<random id>, the same lookups on /api/v1/_debug/protected/items/<id>
#     with the bearer token (quakes:read), the open lookups again while a second wrk posts
#     password-grant logins on BENCH_LOGIN_CONNS (4) connections, pgbench with the same SQL
#     prepared -- BENCH_SECONDS (10) each, recording CPU per process (server, PostgreSQL, load
#     generator, other). BENCH_AUTH=0 leaves out the two authentication loads.
#  5. one lookup run with STRATA_LOG_LEVEL=info (the cost of access logs; BENCH_LOG_ROUND=0 skips)
#  6. the load test: 1,000 concurrent keep-alive connections held ~10 s (BENCH_LOAD=0 skips)
#  7. the quakes benchmark (BENCH_QUAKES=0 skips; bench/quakes.py): BENCH_QUAKES_EVENTS (1,000,000)
#     synthetic events over 10 years (bench/quakes_gen.py, generated in the background while
#     steps 2-3 run); with the server stopped, `strata ingest --replay FILE --speed 0` of them into
#     the empty quakes table, then COPY of the same rows into an equivalent empty table, which
#     then becomes the naive radius baseline's table; then BENCH_QUAKES_ROUNDS (3) interleaved
#     rounds of wrk (item, list, radius) against pgbench (the same SQL; the naive radius query),
#     BENCH_QUAKES_SECONDS (4) each; then BENCH_QUAKES_SUBSCRIBERS (5,000) SSE subscribers and a
#     burst of 100 events (bench/quakes_sse.py, bench/sse_fanout.c, built with libpq): delivery =
#     from the commit of the burst (NOTIFY on an independent LISTEN connection) to the receipt
#     of the subscriber's last event
#  8. writes bench/results/<UTC timestamp>.jsonl, prints a table and, last, one line per target:
#       RATIO lookup_vs_pgbench <x> target 1.0
#       RATIO static_rps_per_core <x> target 40000
#       LIMIT p99_lookup_ms <x> max 10
#       RATIO protected_vs_open <x> target 0.9
#       RATIO lookups_during_logins <x> target 0.8
#       RATIO item_vs_pgbench <x> target 1.0
#       RATIO list_vs_pgbench <x> target 0.8
#       RATIO radius_vs_naive_pgbench <x> target 5
#       RATIO ingest_vs_copy <x> target 0.7
#       LIMIT sse_p99_delivery_ms <x> max 100
#       LIMIT sse_kib_per_idle_subscriber <x> max 64
# Exit status: 0 when every measurement ran without errors (missing a target is reported, not
# failed); 1 on errors (non-2xx, socket errors, failed transactions, load test failure).
# Everything started here is stopped by PID on exit, Ctrl-C included. Runs in about 3.8 minutes
# without the quakes benchmark, 7.5-8 with it (its ingest of 1,000,000 events alone takes
# 77-99 s; see bench/README.md).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"

BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_CONNS=${BENCH_CONNS:-64}
BENCH_ROWS=${BENCH_ROWS:-1000000}
BENCH_PGBENCH_CLIENTS=${BENCH_PGBENCH_CLIENTS:-16}
BENCH_WARMUP_SECONDS=${BENCH_WARMUP_SECONDS:-3}
BENCH_LOG_ROUND=${BENCH_LOG_ROUND:-1}
BENCH_LOAD=${BENCH_LOAD:-1}
BENCH_LOAD_CONNS=${BENCH_LOAD_CONNS:-1000}
BENCH_AUTH=${BENCH_AUTH:-1}
BENCH_LOGIN_CONNS=${BENCH_LOGIN_CONNS:-4}
BENCH_QUAKES=${BENCH_QUAKES:-1}
BENCH_QUAKES_EVENTS=${BENCH_QUAKES_EVENTS:-1000000}
BENCH_QUAKES_SECONDS=${BENCH_QUAKES_SECONDS:-4}
BENCH_QUAKES_ROUNDS=${BENCH_QUAKES_ROUNDS:-3}
BENCH_QUAKES_SUBSCRIBERS=${BENCH_QUAKES_SUBSCRIBERS:-5000}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PY=/usr/bin/python3 # not the python3 on PATH (may be a pyenv shim without Debian's modules)
DB=strata_bench

say() { echo "bench: $*" >&2; }
die() {
    say "$*"
    exit 1
}

# ---- 1. dependencies and build --------------------------------------------------------------
if [ -x scripts/deps.sh ]; then
    scripts/deps.sh bench
else
    missing=()
    command -v wrk >/dev/null 2>&1 || missing+=(wrk)
    [ -x "$PGBIN/pgbench" ] || missing+=(postgresql-15 postgresql-15-postgis-3 postgresql-contrib)
    if [ ${#missing[@]} -gt 0 ]; then
        sudo=()
        [ "$(id -u)" -eq 0 ] || sudo=(sudo)
        "${sudo[@]}" apt-get update
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
    fi
fi
command -v wrk >/dev/null 2>&1 || die "wrk not found (apt-get install wrk)"
[ -x "$PGBIN/pgbench" ] || die "$PGBIN/pgbench not found (apt-get install postgresql-15)"
[ -x "$PY" ] || die "$PY not found"
[ "$BENCH_ROWS" -ge 1000000 ] || say "note: BENCH_ROWS=$BENCH_ROWS, but bench/pgbench_lookup.sql draws ids up to 1,000,000"

make --no-print-directory build >&2
[ -x build/strata ] || die "build/strata missing after make build"
# One socket per SSE subscriber in the server (and in the load test's client): the soft limit on
# open files up to the hard one, for everything started below.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---- cleanup: everything started here, by PID -------------------------------------------------
TMP=$(mktemp -d /tmp/strata-bench.XXXXXX)
chmod 755 "$TMP" # the postgres user must reach the data folder inside
SERVER_PID=
GEN_PID=
KEEP_TMP=0

stop_server() {
    local pid=$SERVER_PID i
    [ -n "$pid" ] || return 0
    SERVER_PID=
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        # a zombie (PID 1 here may not reap) counts as gone
        [ "$(sed -n 's/.*) \([A-Za-z]\).*/\1/p' "/proc/$pid/stat" 2>/dev/null)" != Z ] || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null && [ "$(sed -n 's/.*) \([A-Za-z]\).*/\1/p' "/proc/$pid/stat" 2>/dev/null)" != Z ]; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_server
    if [ -n "$GEN_PID" ]; then # the generator and its forked writer: their own process group
        kill -TERM -- -"$GEN_PID" 2>/dev/null || true
        wait "$GEN_PID" 2>/dev/null || true
    fi
    if [ -f "$TMP/pg/data/postmaster.pid" ]; then
        scripts/pg.sh stop "$TMP/pg/data" 2>/dev/null || say "could not stop PostgreSQL in $TMP/pg/data"
    fi
    if [ "$KEEP_TMP" = 1 ]; then
        # logs only: no data, no binary, and none of the run's secrets (token, admin password)
        rm -rf "$TMP/pg/data" "$TMP/bin" "$TMP/var" "$TMP/token" "$TMP/token.json" "$TMP/login.form" "$TMP/quakes"
        say "logs kept in $TMP (server-*.log, pg/pg.log)"
    else
        rm -rf "$TMP"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'KEEP_TMP=0; say interrupted; exit 130' INT TERM

# Every start below runs this copy: others may rebuild build/strata during the run (make test on
# the same tree), and a restart on a different binary meets migrations changed after they were
# applied, or measures other code. The copy keeps the name strata (checked in /proc/<pid>/comm).
mkdir -p "$TMP/bin"
cp -L build/strata "$TMP/bin/strata"
STRATA_BIN=$TMP/bin/strata

# The quakes catalogue (about 18 s of CPU, 1.5 GB of files) is generated while PostgreSQL starts,
# bench_items loads and the server starts; it must be done before the warm-up (step 4). setsid:
# the generator and the child it forks are one process group, stopped together on exit.
if [ "$BENCH_QUAKES" = 1 ]; then
    mkdir -p "$TMP/quakes"
    setsid "$PY" bench/quakes_gen.py "$TMP/quakes" --events "$BENCH_QUAKES_EVENTS" >"$TMP/quakes-gen.log" 2>&1 &
    GEN_PID=$!
fi

free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# ---- 2. PostgreSQL and data -------------------------------------------------------------------
PG_PORT=$(free_port)
KEEP_TMP=1
PG_PID=$(PG_EXTRA_OPTS="-c shared_buffers=256MB -c max_connections=100 -c fsync=off \
-c synchronous_commit=off -c full_page_writes=off" scripts/pg.sh start "$TMP/pg/data" "$PG_PORT")
scripts/pg.sh createdb "$PG_PORT" "$DB" # with postgis, which Strata's first migration needs
psql_db() {
    PGOPTIONS='-c client_min_messages=warning' "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 \
        -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$DB" "$@"
}
say "loading $BENCH_ROWS rows into bench_items"
t0=$SECONDS
psql_db -v rows="$BENCH_ROWS" <<'SQL'
CREATE TABLE bench_items (id bigint PRIMARY KEY, name text, value float8, created_at timestamptz);
INSERT INTO bench_items
SELECT g, 'item-' || g, (g * 7919 % 100000) / 100.0,
       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second'
FROM generate_series(1::bigint, :rows::bigint) AS g;
VACUUM ANALYZE bench_items;
SQL
# Table and index into shared_buffers, so that round 1 is not a cold-cache round.
if psql_db -c 'CREATE EXTENSION IF NOT EXISTS pg_prewarm' 2>/dev/null; then
    psql_db -tAc "SELECT pg_prewarm('bench_items'), pg_prewarm('bench_items_pkey')" >/dev/null
fi
say "data ready in $((SECONDS - t0)) s ($(psql_db -tAc "SELECT pg_size_pretty(pg_total_relation_size('bench_items'))"))"

# ---- 3. the server ----------------------------------------------------------------------------
HTTP_PORT=$(free_port)
URL=http://127.0.0.1:$HTTP_PORT
# The server, PostgreSQL (pg.sh) and each load generator (measure.py) run in sessions of their
# own, as separate services would. Linux's autogroup scheduler (kernel.sched_autogroup_enabled,
# on by default) shares CPU between sessions first: with wrk in the server's session, wrk's p99
# was 250-960 ms instead of 10-17 ms. setsid execs (no fork here: we are not a group leader), so
# $! is the server itself; Ctrl-C does not reach it, the EXIT trap stops it.
# Auth: development mode generates the JWT and API-key secrets once under STRATA_VAR_DIR (in the
# temp folder, so they survive the restarts below and tokens stay valid); the admin user is
# created at the first start with a random password. The token endpoint's limits (30/min per
# address, 10/min per user by default) would turn the login load into 429s: raised to the maximum.
ADMIN_USER=bench-admin
MAX_CONNS=$((BENCH_QUAKES_SUBSCRIBERS + 1024 > 4096 ? BENCH_QUAKES_SUBSCRIBERS + 1024 : 4096))
ADMIN_PASSWORD=Bench-$("$PY" -c 'import secrets; print(secrets.token_hex(12))')
start_server() { # $1 = log level
    local level=$1 i
    mkdir -p "$TMP/var"
    STRATA_HTTP_ADDR=127.0.0.1:$HTTP_PORT \
        STRATA_DATABASE_URL="postgresql://postgres@127.0.0.1:$PG_PORT/$DB" \
        STRATA_DEBUG_ROUTES=true STRATA_LOG_LEVEL=$level STRATA_ENV=development \
        STRATA_VAR_DIR="$TMP/var" STRATA_MAX_CONNECTIONS=$MAX_CONNS STRATA_SHUTDOWN_GRACE=2s \
        STRATA_QUAKES_PUBLIC_READ=true \
        STRATA_ADMIN_USER=$ADMIN_USER STRATA_ADMIN_PASSWORD=$ADMIN_PASSWORD \
        STRATA_AUTH_RATE_PER_MINUTE=100000 STRATA_AUTH_USER_RATE_PER_MINUTE=100000 \
        STRATA_ACCESS_TOKEN_TTL=1h \
        setsid "$STRATA_BIN" serve >>"$TMP/server-$level.log" 2>&1 &
    SERVER_PID=$!
    for i in $(seq 1 300); do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            tail -n 20 "$TMP/server-$level.log" >&2 || true
            die "strata serve ($STRATA_BIN, a copy of build/strata) exited during start (log above)"
        fi
        if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$URL/readyz" 2>/dev/null)" = 200 ]; then
            [ "$(cat "/proc/$SERVER_PID/comm" 2>/dev/null)" = strata ] ||
                die "pid $SERVER_PID is not the server (setsid forked?): CPU accounting would be wrong"
            say "server ready: $URL (pid $SERVER_PID, log level $level, $(nproc) cores)"
            return 0
        fi
        sleep 0.1
    done
    tail -n 20 "$TMP/server-$level.log" >&2 || true
    die "server not ready on $URL after 30 s"
}
start_server warn
code=$(curl -s -o "$TMP/probe.json" -w '%{http_code}' "$URL/api/v1/_debug/items/42")
[ "$code" = 200 ] || die "lookup probe answered $code: $(cat "$TMP/probe.json")"

# The admin's access token (password grant, public client strata-web) for the protected route,
# and the same form for the login load. Both files stay in the temp folder (mode 600).
AUTH_ARGS=()
if [ "$BENCH_AUTH" = 1 ]; then
    (
        umask 077
        printf 'grant_type=password&username=%s&password=%s&client_id=strata-web' \
            "$ADMIN_USER" "$ADMIN_PASSWORD" >"$TMP/login.form"
    )
    code=$(curl -s -o "$TMP/token.json" -w '%{http_code}' -X POST \
        -H 'Content-Type: application/x-www-form-urlencoded' --data-binary @"$TMP/login.form" \
        "$URL/api/v1/auth/token")
    [ "$code" = 200 ] || die "admin login answered $code: $(cat "$TMP/token.json")"
    (
        umask 077
        "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' \
            "$TMP/token.json" >"$TMP/token"
    ) || die "no access_token in the token endpoint's answer"
    code=$(curl -s -o "$TMP/probe.json" -w '%{http_code}' -H "Authorization: Bearer $(cat "$TMP/token")" \
        "$URL/api/v1/_debug/protected/items/42")
    [ "$code" = 200 ] || die "protected lookup probe (with the admin token) answered $code: $(cat "$TMP/probe.json")"
    code=$(curl -s -o "$TMP/probe.json" -w '%{http_code}' "$URL/api/v1/_debug/protected/items/42")
    [ "$code" = 401 ] || die "protected lookup probe without a token answered $code, not 401: $(cat "$TMP/probe.json")"
    AUTH_ARGS=(--token-file "$TMP/token" --login-form-file "$TMP/login.form" --login-conns "$BENCH_LOGIN_CONNS")
    say "admin token obtained; protected route answers 200 with it, 401 without"
fi

# ---- 4. measurements --------------------------------------------------------------------------
mkdir -p bench/results
RUN=$(date -u +%Y%m%dT%H%M%SZ)
OUT=bench/results/$RUN.jsonl
export BENCH_ROWS
M=("$PY" bench/measure.py --out "$OUT" --run "$RUN" --url "$URL" --postmaster-pid "$PG_PID"
    --pg-port "$PG_PORT" --db "$DB" --pgbench "$PGBIN/pgbench" --conns "$BENCH_CONNS"
    --wrk-threads "$(nproc)" --pgbench-clients "$BENCH_PGBENCH_CLIENTS" --pgbench-threads "$(nproc)"
    ${AUTH_ARGS[@]+"${AUTH_ARGS[@]}"})
if [ -n "$GEN_PID" ]; then
    if ! wait "$GEN_PID"; then
        GEN_PID=
        die "bench/quakes_gen.py failed: $(tail -n 5 "$TMP/quakes-gen.log")"
    fi
    GEN_PID=
    say "quakes catalogue: $(tail -n 1 "$TMP/quakes-gen.log")"
fi
say "warm-up"
"${M[@]}" warmup --server-pid "$SERVER_PID" --seconds "$BENCH_WARMUP_SECONDS"
if [ "$BENCH_AUTH" = 1 ]; then
    say "$BENCH_ROUNDS rounds of static, lookup, protected, lookup_logins, pgbench, $BENCH_SECONDS s each ($BENCH_CONNS wrk connections, $BENCH_LOGIN_CONNS login connections, $BENCH_PGBENCH_CLIENTS pgbench clients)"
else
    say "$BENCH_ROUNDS rounds of static, lookup, pgbench, $BENCH_SECONDS s each ($BENCH_CONNS wrk connections, $BENCH_PGBENCH_CLIENTS pgbench clients)"
fi
"${M[@]}" rounds --server-pid "$SERVER_PID" --seconds "$BENCH_SECONDS" --rounds "$BENCH_ROUNDS"

# ---- 5. the cost of access logs: one lookup run at log level info ------------------------------
if [ "$BENCH_LOG_ROUND" = 1 ]; then
    stop_server
    start_server info
    "${M[@]}" warmup --server-pid "$SERVER_PID" --seconds 1 >/dev/null
    "${M[@]}" single --kind lookup_log_info --log-level info --server-pid "$SERVER_PID" --seconds "$BENCH_SECONDS"
    say "access log written at level info: $(wc -l <"$TMP/server-info.log") lines, $(du -h "$TMP/server-info.log" | cut -f1)"
    stop_server
    start_server warn
fi

# ---- 6. load test -------------------------------------------------------------------------------
load_rc=0
if [ "$BENCH_LOAD" = 1 ]; then
    say "load test: $BENCH_LOAD_CONNS concurrent keep-alive connections"
    "$PY" bench/load_1000_conns.py "$URL" --conns "$BENCH_LOAD_CONNS" --hold 10 --deadline 60 \
        --jsonl "$OUT" --run "$RUN" >/dev/null || load_rc=$?
fi
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    tail -n 20 "$TMP/server-warn.log" >&2 || true
    die "the server died during the load test"
fi

# ---- 7. quakes: ingest vs COPY, item/list/radius vs pgbench, SSE fan-out -------------------------
quakes_rc=0
if [ "$BENCH_QUAKES" = 1 ]; then
    Q=("$PY" bench/quakes.py --out "$OUT" --run "$RUN" --data "$TMP/quakes" --tmp "$TMP" --strata "$STRATA_BIN"
        --database-url "postgresql://postgres@127.0.0.1:$PG_PORT/$DB" --pg-port "$PG_PORT" --db "$DB"
        --pgbench "$PGBIN/pgbench" --postmaster-pid "$PG_PID" --conns "$BENCH_CONNS" --wrk-threads "$(nproc)"
        --pgbench-clients "$BENCH_PGBENCH_CLIENTS" --pgbench-threads "$(nproc)")
    # both loads alone on the machine: no server (its bus thread would read and encode every
    # change-log row the ingest writes, for no subscriber)
    stop_server
    say "quakes: ingest of $BENCH_QUAKES_EVENTS events vs COPY of the same rows (server stopped)"
    "${Q[@]}" prepare
    start_server warn
    say "quakes: $BENCH_QUAKES_ROUNDS rounds of item, list, radius (wrk, $BENCH_CONNS connections) and the same SQL or the naive radius query (pgbench, $BENCH_PGBENCH_CLIENTS clients), $BENCH_QUAKES_SECONDS s each"
    "${Q[@]}" rounds --url "$URL" --server-pid "$SERVER_PID" --seconds "$BENCH_QUAKES_SECONDS" \
        --rounds "$BENCH_QUAKES_ROUNDS"
    say "quakes: SSE fan-out, $BENCH_QUAKES_SUBSCRIBERS subscribers, a burst of 100 events"
    "${Q[@]}" sse --url "$URL" --server-pid "$SERVER_PID" --subscribers "$BENCH_QUAKES_SUBSCRIBERS" \
        --events 100 || quakes_rc=$?
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        tail -n 20 "$TMP/server-warn.log" >&2 || true
        die "the server died during the quakes benchmark"
    fi
fi
# (at shutdown the server logs "db connection lost ... pool closing" at level error: not counted)
if grep '"level":"error"' "$TMP"/server-*.log 2>/dev/null | grep -vq 'pool closing'; then
    say "server logged errors during the run:"
    grep -h '"level":"error"' "$TMP"/server-*.log | grep -v 'pool closing' | head -n 5 >&2
fi

# ---- 8. summary: table, LOAD line, then one line per target (last) ------------------------------
stop_server
sum_rc=0
"${M[@]}" summary --quakes "$BENCH_QUAKES" || sum_rc=$?
[ $sum_rc -eq 0 ] && [ $load_rc -eq 0 ] && [ $quakes_rc -eq 0 ] || exit 1
KEEP_TMP=0
