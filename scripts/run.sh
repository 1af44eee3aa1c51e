#!/usr/bin/env bash
# `make run`: install what is missing, build, start a private PostgreSQL+PostGIS when no
# database URL is configured, write the effective settings to var/strata.env, and run
# `strata all` in the foreground until Ctrl-C (or SIGTERM). Safe to run again and again.
#
# Environment:
#   STRATA_DATABASE_URL  use this database; no private cluster is started
#   STRATA_PG_PORT       port of the private cluster (default 55439)
#   STRATA_RUN_DIR       state folder instead of ./var (pg data, pg.log, strata.env); the tests
#                        use it so that they never collide with a developer's own `make run`
#   STRATA_HTTP_ADDR     listen address (default 127.0.0.1:8080); any other STRATA_* setting
#                        is passed to strata as usual
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$repo"
# shellcheck source=scripts/pg.sh
. "$repo/scripts/pg.sh"

say() { echo "run.sh: $*" >&2; }

"$repo/scripts/deps.sh" run
make --no-print-directory -C "$repo" build
"$repo/scripts/ui.sh"   # Swagger UI assets for /docs (npm swagger-ui-dist, pinned)
export STRATA_DOCS_UI_DIR=${STRATA_DOCS_UI_DIR:-$repo/build/ui/node_modules/swagger-ui-dist}
export STRATA_QUAKES_WEB_DIR=${STRATA_QUAKES_WEB_DIR:-$repo/src/apps/quakes/web}
export STRATA_QUAKES_MAP_ASSETS_DIR=${STRATA_QUAKES_MAP_ASSETS_DIR:-$repo/build/ui/node_modules}

bin="$repo/build/strata"
[ -x "$bin" ] || {
    say "$bin was not built"
    exit 1
}

state=$(pg_state_dir)
mkdir -p "$state"

pg_datadir=
we_started_pg=0
strata_pid=

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$strata_pid" ] && pg_pid_alive "$strata_pid"; then
        kill -TERM "$strata_pid" 2>/dev/null || true
        wait "$strata_pid" 2>/dev/null || true
    fi
    if [ "$we_started_pg" = 1 ]; then
        "$repo/scripts/pg.sh" stop "$pg_datadir" || rc=1
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -z "${STRATA_DATABASE_URL:-}" ]; then
    pg_port=${STRATA_PG_PORT:-55439}
    pg_datadir=$(pg_default_datadir)
    if pg_running_pid "$pg_datadir" >/dev/null; then
        running_port=$(pg_running_port "$pg_datadir")
        say "PostgreSQL already running in $pg_datadir (port $running_port): using it, leaving it running"
        pg_port=$running_port
    else
        # Set before the start so that an interrupted start is still cleaned up.
        we_started_pg=1
        "$repo/scripts/pg.sh" start "$pg_datadir" "$pg_port" >/dev/null
    fi
    "$repo/scripts/pg.sh" createdb "$pg_port" strata
    STRATA_DATABASE_URL=$("$repo/scripts/pg.sh" url "$pg_port" strata)
    export STRATA_DATABASE_URL
fi

export STRATA_ENV=${STRATA_ENV:-development}
export STRATA_QUAKES_PUBLIC_READ=${STRATA_QUAKES_PUBLIC_READ:-true}
# The admin: created on the first run with a generated password, printed once by strata
# (set STRATA_ADMIN_PASSWORD to choose it; it is then reset to that value at every start).
export STRATA_ADMIN_USER=${STRATA_ADMIN_USER:-admin}
# The demo: the bundled real week of USGS data replayed as if live, moved so its newest event
# is now, at 300 x real time (the week takes about 34 minutes). There is no internet access to
# poll USGS from here by default; set STRATA_QUAKES_POLL=true where there is.
export STRATA_QUAKES_REPLAY_FILE=${STRATA_QUAKES_REPLAY_FILE:-$repo/data/usgs_all_week_2023-08-04.geojson}
export STRATA_QUAKES_REPLAY_SHIFT_TO_NOW=${STRATA_QUAKES_REPLAY_SHIFT_TO_NOW:-true}
export STRATA_QUAKES_REPLAY_SPEED=${STRATA_QUAKES_REPLAY_SPEED:-300}
export STRATA_QUAKES_POLL=${STRATA_QUAKES_POLL:-false}
export STRATA_VAR_DIR=${STRATA_VAR_DIR:-$state}

# The effective settings, so that `strata` commands run from the checkout reach the same
# database (`set -a; . var/strata.env; set +a`). Secrets inside: mode 600.
(
    umask 077
    "$bin" config --print --show-secrets >"$state/strata.env.tmp"
)
mv -f "$state/strata.env.tmp" "$state/strata.env"

http_addr=${STRATA_HTTP_ADDR:-127.0.0.1:8080}
db_shown=$(printf '%s' "$STRATA_DATABASE_URL" | sed 's#://\([^:/@]*\):[^@]*@#://\1:********@#')
cat >&2 <<EOF

  Strata  ->  http://$http_addr
  database:   $db_shown
  settings:   $state/strata.env
  Ctrl-C stops$([ "$we_started_pg" = 1 ] && echo " (and stops the PostgreSQL started for this run)").

EOF

# Forward INT/TERM to strata as one SIGTERM. strata gets its own session (setsid execs, so
# $! is strata), so a Ctrl-C on the terminal reaches it only through here, exactly once.
got_signal=0
on_signal() {
    got_signal=1
    [ -n "$strata_pid" ] && kill -TERM "$strata_pid" 2>/dev/null || true
}
trap on_signal INT TERM

setsid "$bin" all </dev/null &
strata_pid=$!

while :; do
    got_signal=0
    rc=0
    wait "$strata_pid" || rc=$?
    # A trapped signal interrupts `wait` (status > 128) while strata still runs: wait again.
    if [ "$got_signal" = 1 ] && [ "$rc" -gt 128 ]; then
        continue
    fi
    break
done
strata_pid=
say "strata exited with status $rc"
exit "$rc"
