#!/usr/bin/env bash
# Installs the npm packages Strata needs, each from a pinned package.json + package-lock.json
# kept in the repository, into a folder under build/ (never into the source tree):
#
#   scripts/ui.sh          swagger-ui-dist (ui/)            -> build/ui         (served at /docs)
#   scripts/ui.sh test     the above, and the OpenAPI validator (tests/openapi/) -> build/test-node
#
# `npm ci` installs exactly what the lock file says. Nothing is installed again when the folder
# already holds the pinned version from the same lock file. Package install scripts are not run:
# none is needed, and swagger-ui-dist's dependency @scarf/scarf only uses its postinstall to
# report the download to a third party.
#
# Environment: NPM (default npm), BUILD_DIR (default build).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build}
npm=${NPM:-npm}
mode=${1:-ui}

die() {
    echo "ui.sh: $*" >&2
    exit 1
}

# install <source folder with package.json + package-lock.json> <destination> <package to check>
install() {
    local src=$1 dest=$2 pkg=$3
    if [ ! -f "$src/package.json" ] || [ ! -f "$src/package-lock.json" ]; then
        die "$src must hold package.json and package-lock.json"
    fi
    local want have=""
    want=$(node -p "require(process.argv[1]).dependencies[process.argv[2]]" "$src/package.json" "$pkg")
    if [ -f "$dest/node_modules/$pkg/package.json" ]; then
        have=$(node -p "require(process.argv[1]).version" "$dest/node_modules/$pkg/package.json")
    fi
    if [ "$have" = "$want" ] && cmp -s "$src/package-lock.json" "$dest/package-lock.json"; then
        return 0
    fi
    echo "ui.sh: installing $pkg $want into ${dest#"$root"/}" >&2
    mkdir -p "$dest"
    cp "$src/package.json" "$src/package-lock.json" "$dest/"
    SCARF_ANALYTICS=false "$npm" ci --prefix "$dest" --ignore-scripts --no-audit --no-fund \
        --loglevel=error ||
        die "npm ci failed for $pkg (is the npm registry reachable? see \`npm config get registry\`)"
    have=$(node -p "require(process.argv[1]).version" "$dest/node_modules/$pkg/package.json")
    [ "$have" = "$want" ] || die "$pkg: installed $have, pinned $want"
}

if ! command -v node >/dev/null 2>&1 || ! command -v "$npm" >/dev/null 2>&1; then
    die "node and npm are required (Debian 12: apt-get install nodejs npm)"
fi

mkdir -p "$build"
# one install at a time: parallel make targets may call this script concurrently
exec 9>"$build/.ui.lock"
flock 9

case "$mode" in
    ui)
        install "$root/ui" "$build/ui" swagger-ui-dist
        ;;
    test)
        install "$root/ui" "$build/ui" swagger-ui-dist
        install "$root/tests/openapi" "$build/test-node" @apidevtools/swagger-parser
        ;;
    *)
        echo "usage: $0 [ui|test]" >&2
        exit 2
        ;;
esac
