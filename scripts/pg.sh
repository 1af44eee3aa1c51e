#!/usr/bin/env bash
# Private PostgreSQL 15 (+ PostGIS) clusters for `make run` and the tests. Never touches a
# system cluster (Debian's 15/main on 5432): every cluster here has its own data folder, its
# own port, listens on 127.0.0.1 only and keeps its unix socket in a private folder.
#
#   scripts/pg.sh start DATADIR PORT     initdb when needed, start, wait until ready, print the PID
#                                        (extra server options: PG_EXTRA_OPTS="-c fsync=off ...")
#   scripts/pg.sh stop DATADIR           fast shutdown, wait until gone (ok when not running)
#   scripts/pg.sh status DATADIR         exit 0 and print "PID PORT" when running, else exit 1
#   scripts/pg.sh url PORT [DBNAME]      postgresql://postgres@127.0.0.1:PORT/DBNAME (default strata)
#   scripts/pg.sh createdb PORT DBNAME   create the database when missing, with the postgis extension
#   scripts/pg.sh default-datadir        the data folder `make run` uses (see pg_default_datadir)
#
# Layout around DATADIR: DATADIR/../pg.log (server log), DATADIR/../sock (unix socket folder).
# As root, initdb and postgres run as user `postgres` (PostgreSQL refuses to run as root) via
# `setpriv`, which execs, so `$!` is the postmaster; DATADIR is chown'ed to postgres and every
# parent folder must be searchable (o+x) by postgres. Otherwise they run as the current user.
#
# The file can be sourced (run.sh does) for pg_default_datadir and the helpers.

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PG_SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
PG_REPO_DIR=$(dirname "$PG_SCRIPT_DIR")

pg_die() {
    echo "pg.sh: $*" >&2
    exit 1
}

pg_is_root() { [ "$(id -u)" -eq 0 ]; }

# Runs a command as the user that owns the clusters (postgres when we are root). Foreground
# use only: a daemon must be started with setpriv inline so that $! is the daemon itself.
pg_as_owner() {
    if pg_is_root; then
        setpriv --reuid=postgres --regid=postgres --init-groups "$@"
    else
        "$@"
    fi
}

pg_abspath() { realpath -m -- "$1"; }

# True when PID is a live process (not a zombie: PID 1 here may not reap orphans).
pg_pid_alive() {
    local st
    [ -n "${1:-}" ] || return 1
    st=$(sed -n 's/.*) \([A-Za-z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# Prints the postmaster PID of DATADIR when that cluster runs, else returns 1.
pg_running_pid() {
    local datadir pidfile pid cwd
    datadir=$(pg_abspath "$1")
    pidfile="$datadir/postmaster.pid"
    [ -r "$pidfile" ] || return 1
    pid=$(head -n 1 "$pidfile" 2>/dev/null || true)
    case "$pid" in '' | *[!0-9]*) return 1 ;; esac
    pg_pid_alive "$pid" || return 1
    # A stale postmaster.pid whose PID was reused: the postmaster's cwd is its data folder.
    if cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null); then
        [ "$cwd" = "$(realpath -- "$datadir")" ] || return 1
    elif [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != postgres ]; then
        return 1
    fi
    echo "$pid"
}

pg_running_port() { sed -n '4p' "$(pg_abspath "$1")/postmaster.pid" 2>/dev/null; }

pg_log_tail() {
    local log=$1
    if [ -s "$log" ]; then
        echo "pg.sh: last lines of $log:" >&2
        tail -n 25 "$log" | sed 's/^/    /' >&2
    fi
}

# Whether the cluster owner (postgres when root) can use folder $1 as a data folder: every
# parent searchable and $1 writable. Creates $1 (and chowns it when root) only when its parent
# is reachable.
pg_dir_usable() {
    local d=$1 parent
    parent=$(dirname "$d")
    mkdir -p "$parent" 2>/dev/null || return 1
    pg_as_owner test -x "$parent" 2>/dev/null || return 1
    mkdir -p "$d" 2>/dev/null || return 1
    if pg_is_root; then
        id -u postgres >/dev/null 2>&1 || return 1
        chown postgres:postgres "$d" 2>/dev/null || return 1
    fi
    pg_as_owner test -w "$d" -a -x "$d" 2>/dev/null
}

# The state folder of a checkout: $STRATA_RUN_DIR when set, else <checkout>/var.
pg_state_dir() {
    if [ -n "${STRATA_RUN_DIR:-}" ]; then
        pg_abspath "$STRATA_RUN_DIR"
    else
        echo "$PG_REPO_DIR/var"
    fi
}

# The data folder of `make run`'s cluster (SPEC §2): <state>/pg when the cluster owner can reach
# and write it, else /var/tmp/strata-<12 hex of sha256(absolute checkout path)>/pg (with
# STRATA_RUN_DIR set, the hash is of that folder's absolute path instead, so a test's cluster
# never shares a developer's). Prints the path on stdout; says why on stderr when it falls back.
pg_default_datadir() {
    local state d key hash
    state=$(pg_state_dir)
    d="$state/pg"
    if pg_dir_usable "$d"; then
        echo "$d"
        return 0
    fi
    if [ -n "${STRATA_RUN_DIR:-}" ]; then key=$state; else key=$PG_REPO_DIR; fi
    hash=$(printf '%s' "$key" | sha256sum | cut -c1-12)
    local base="/var/tmp/strata-$hash"
    mkdir -p "$base" && chmod 755 "$base"
    d="$base/pg"
    echo "pg.sh: $state/pg is not reachable by user $(pg_is_root && echo postgres || id -un)" \
        "(a parent folder without o+x?); using the per-checkout folder $d" >&2
    pg_dir_usable "$d" || pg_die "cannot prepare $d for the cluster"
    echo "$d"
}

pg_cmd_start() {
    [ $# -eq 2 ] || pg_die "usage: pg.sh start DATADIR PORT"
    local datadir port parent sockdir log pid deadline extra=() sockopt=()
    datadir=$(pg_abspath "$1")
    port=$2
    case "$port" in '' | *[!0-9]*) pg_die "bad port: $port" ;; esac
    parent=$(dirname "$datadir")
    sockdir="$parent/sock"
    log="$parent/pg.log"
    [ -x "$PGBIN/postgres" ] || pg_die "$PGBIN/postgres not found: run scripts/deps.sh run"

    if pid=$(pg_running_pid "$datadir"); then
        local rport
        rport=$(pg_running_port "$datadir")
        if [ "$rport" != "$port" ]; then
            echo "pg.sh: note: the cluster in $datadir already runs on port $rport, not $port" >&2
        else
            echo "pg.sh: already running in $datadir (pid $pid, port $port)" >&2
        fi
        echo "$pid"
        return 0
    fi

    if pg_is_root; then
        id -u postgres >/dev/null 2>&1 ||
            pg_die "user postgres does not exist (it comes with postgresql-15: scripts/deps.sh run)"
    fi
    mkdir -p "$datadir" "$sockdir"
    if pg_is_root; then
        chown postgres:postgres "$datadir" "$sockdir"
    fi
    chmod 700 "$datadir"
    pg_as_owner test -w "$datadir" -a -w "$sockdir" 2>/dev/null ||
        pg_die "user $(pg_is_root && echo postgres || id -un) cannot write $datadir or $sockdir:" \
            "every parent folder must be searchable (chmod o+x) by that user"

    # Work from / so that postgres (another user when we are root) never sees an unreadable cwd.
    cd /

    if [ ! -f "$datadir/PG_VERSION" ]; then
        if [ -n "$(ls -A "$datadir" 2>/dev/null)" ]; then
            pg_die "$datadir is neither empty nor a PostgreSQL data folder (no PG_VERSION); remove it"
        fi
        echo "pg.sh: initdb $datadir" >&2
        if ! pg_as_owner "$PGBIN/initdb" -D "$datadir" -U postgres -A trust -E UTF8 \
            --locale=C.UTF-8 --no-sync >>"$log" 2>&1; then
            pg_log_tail "$log"
            pg_die "initdb failed (log: $log)"
        fi
    fi

    # The socket path is limited to 107 bytes; TCP on 127.0.0.1 is what everything here uses.
    if [ $((${#sockdir} + 20)) -le 100 ]; then
        sockopt=(-k "$sockdir")
    else
        sockopt=(-c "unix_socket_directories=")
    fi
    if [ -n "${PG_EXTRA_OPTS:-}" ]; then
        read -r -a extra <<<"$PG_EXTRA_OPTS"
    fi

    # Started inline (not through a function) so that $! is the postmaster: setsid and setpriv
    # both exec. setsid keeps it out of the caller's process group, so a Ctrl-C meant for
    # `make run` does not reach it; whoever started it stops it with `pg.sh stop`.
    if pg_is_root; then
        setsid setpriv --reuid=postgres --regid=postgres --init-groups \
            "$PGBIN/postgres" -D "$datadir" -p "$port" "${sockopt[@]}" \
            -c listen_addresses=127.0.0.1 "${extra[@]}" </dev/null >>"$log" 2>&1 &
    else
        setsid "$PGBIN/postgres" -D "$datadir" -p "$port" "${sockopt[@]}" \
            -c listen_addresses=127.0.0.1 "${extra[@]}" </dev/null >>"$log" 2>&1 &
    fi
    pid=$!

    # Ready = our postmaster is alive, its postmaster.pid says "ready", and pg_isready agrees
    # (pg_isready alone could be answered by another server already on that port).
    deadline=$((SECONDS + 30))
    while :; do
        if ! pg_pid_alive "$pid"; then
            pg_log_tail "$log"
            pg_die "postgres exited during start (port $port in use? log: $log)"
        fi
        if [ "$(sed -n '1p' "$datadir/postmaster.pid" 2>/dev/null)" = "$pid" ] &&
            [ "$(sed -n '8p' "$datadir/postmaster.pid" 2>/dev/null | tr -d ' ')" = ready ] &&
            "$PGBIN/pg_isready" -q -U postgres -h 127.0.0.1 -p "$port" -t 2; then
            break
        fi
        if [ $SECONDS -ge $deadline ]; then
            pg_log_tail "$log"
            pg_die "postgres (pid $pid) not ready on 127.0.0.1:$port after 30 s (log: $log)"
        fi
        sleep 0.1
    done
    echo "pg.sh: started postgres in $datadir on 127.0.0.1:$port (pid $pid, log $log)" >&2
    echo "$pid"
}

pg_cmd_stop() {
    [ $# -eq 1 ] || pg_die "usage: pg.sh stop DATADIR"
    local datadir pid deadline
    datadir=$(pg_abspath "$1")
    if ! pid=$(pg_running_pid "$datadir"); then
        echo "pg.sh: not running in $datadir" >&2
        return 0
    fi
    kill -INT "$pid" 2>/dev/null || true # fast shutdown
    deadline=$((SECONDS + 30))
    while pg_pid_alive "$pid"; do
        if [ $SECONDS -ge $deadline ]; then
            pg_log_tail "$(dirname "$datadir")/pg.log"
            pg_die "postgres (pid $pid) still running 30 s after SIGINT"
        fi
        sleep 0.05
    done
    echo "pg.sh: stopped postgres in $datadir (pid $pid)" >&2
}

pg_cmd_status() {
    [ $# -eq 1 ] || pg_die "usage: pg.sh status DATADIR"
    local pid
    pid=$(pg_running_pid "$1") || return 1
    echo "$pid $(pg_running_port "$1")"
}

pg_cmd_url() {
    [ $# -ge 1 ] && [ $# -le 2 ] || pg_die "usage: pg.sh url PORT [DBNAME]"
    echo "postgresql://postgres@127.0.0.1:$1/${2:-strata}"
}

pg_psql() {
    local port=$1
    shift
    PGOPTIONS='-c client_min_messages=warning' PGCONNECT_TIMEOUT=10 \
        "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres "$@"
}

pg_cmd_createdb() {
    [ $# -eq 2 ] || pg_die "usage: pg.sh createdb PORT DBNAME"
    local port=$1 db=$2 exists
    [[ "$db" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || pg_die "database name must match [A-Za-z_][A-Za-z0-9_]*: $db"
    exists=$(pg_psql "$port" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'") ||
        pg_die "cannot connect to 127.0.0.1:$port"
    if [ -z "$exists" ]; then
        if ! pg_psql "$port" -d postgres -c "CREATE DATABASE \"$db\""; then
            # Lost a race with another createdb?
            exists=$(pg_psql "$port" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")
            [ -n "$exists" ] || pg_die "CREATE DATABASE $db failed"
        fi
    fi
    pg_psql "$port" -d "$db" -c 'CREATE EXTENSION IF NOT EXISTS postgis' ||
        pg_die "CREATE EXTENSION postgis failed in $db (is postgresql-15-postgis-3 installed?)"
}

pg_main() {
    set -euo pipefail
    local cmd=${1:-}
    [ $# -gt 0 ] && shift
    case "$cmd" in
        start) pg_cmd_start "$@" ;;
        stop) pg_cmd_stop "$@" ;;
        status) pg_cmd_status "$@" ;;
        url) pg_cmd_url "$@" ;;
        createdb) pg_cmd_createdb "$@" ;;
        default-datadir) pg_default_datadir ;;
        *)
            sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
            exit 2
            ;;
    esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    pg_main "$@"
fi
