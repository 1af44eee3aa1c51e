#!/usr/bin/env bash
# Installs the Debian 12 packages a mode needs, and only the missing ones.
#
#   scripts/deps.sh build|run|test|fuzz|bench
#
# Checks every package with dpkg-query first; runs `apt-get update` (once) and
# `apt-get install` only when something is missing. As root it calls apt-get directly,
# otherwise through sudo when sudo exists; without either it prints the exact command and
# fails. After an install it warns when a package's postinst started a daemon on a default
# port (Debian's postgresql postinst creates and starts cluster 15/main on 5432 when the
# machine has no /usr/sbin/policy-rc.d). Strata never uses nor touches that daemon.
set -euo pipefail

mode=${1:-}

pkgs_build="build-essential pkg-config libh2o-evloop-dev libwslay-dev libpq-dev libjansson-dev
            libsodium-dev libcurl4-openssl-dev libssl-dev zlib1g-dev"
pkgs_run="$pkgs_build postgresql-15 postgresql-15-postgis-3 postgresql-contrib"
pkgs_test="$pkgs_run libcmocka-dev libxml2-dev python3-pytest python3-pytest-timeout python3-requests python3-psycopg python3-yaml python3-websocket chromium
           prometheus"
# libFuzzer and the sanitizer runtimes of clang 14 live in libclang-rt-14-dev. libxml2-dev:
# test_quakeml and fuzz_quakeml parse the QuakeML they render (their *_PKGS in deps.mk).
pkgs_fuzz="$pkgs_build clang libclang-rt-14-dev libxml2-dev"
pkgs_bench="$pkgs_run wrk"

case "$mode" in
    build) want=$pkgs_build ;;
    run) want=$pkgs_run ;;
    test) want=$pkgs_test ;;
    fuzz) want=$pkgs_fuzz ;;
    bench) want=$pkgs_bench ;;
    *)
        echo "usage: $0 build|run|test|fuzz|bench" >&2
        exit 2
        ;;
esac

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "deps.sh: dpkg-query not found: this script supports Debian 12 (bookworm) only." >&2
    echo "deps.sh: install by hand: $(echo $want)" >&2
    exit 1
fi

missing=()
for p in $want; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    if [ "$status" != "install ok installed" ]; then
        missing+=("$p")
    fi
done

# Node.js and npm (Swagger UI assets, the OpenAPI validator) count as present when the
# commands exist: a machine may carry another build of Node (e.g. nodesource), and Debian's
# npm package would conflict with it.
case "$mode" in
    run|test)
        if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
            missing+=(nodejs npm)
        fi
        ;;
esac

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "deps.sh ($mode): missing Debian packages: ${missing[*]}" >&2

if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
else
    echo "deps.sh: not root and sudo is not installed. Run as root:" >&2
    echo "  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi

# Listening TCP ports before the install, to spot daemons a postinst starts.
listening() {
    if command -v ss >/dev/null 2>&1; then
        ss -Hltn 2>/dev/null | awk '{print $4}' | sed 's/.*://' | sort -u
    fi
}
before=$(listening || true)

"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"

# Default ports of daemons whose Debian packages may start them: PostgreSQL, Prometheus.
after=$(listening || true)
for port in 5432 9090; do
    if printf '%s\n' "$after" | grep -qx "$port" && ! printf '%s\n' "$before" | grep -qx "$port"; then
        echo "deps.sh: note: the package install started a daemon on port $port (no policy-rc.d on" \
            "this machine). Strata does not use it and leaves it alone; its private PostgreSQL" \
            "runs on its own port." >&2
    fi
done
echo "deps.sh ($mode): installed ${missing[*]}" >&2
