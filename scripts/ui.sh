#!/usr/bin/env bash
# Installs the npm packages Strata needs, each from a pinned package.json + package-lock.json
# kept in the repository, into a folder under build/ (never into the source tree):
#
#   scripts/ui.sh          ui/: swagger-ui-dist (served at /docs); leaflet, world-atlas,
#                          topojson-client (the quakes map at /, /map/*)          -> build/ui
#   scripts/ui.sh test     the above, and the OpenAPI validator (tests/openapi/) -> build/test-node
#   scripts/ui.sh browser  the above (ui/ only), and playwright-core (tests/browser/), which
#                          drives Debian's /usr/bin/chromium; it never downloads a browser
#                                                                                -> build/test-browser
#
# `npm ci` installs exactly what the lock file says. Nothing is installed again when the folder
# already holds every pinned dependency at its version from the same lock file (a changed
# package set changes the lock file, so it is installed again). Package install scripts are not run:
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

# install <source folder with package.json + package-lock.json> <destination>
# Every dependency of package.json must end up installed at its pinned version.
install() {
    local src=$1 dest=$2
    if [ ! -f "$src/package.json" ] || [ ! -f "$src/package-lock.json" ]; then
        die "$src must hold package.json and package-lock.json"
    fi
    if cmp -s "$src/package-lock.json" "$dest/package-lock.json" && pinned_ok "$src" "$dest"; then
        return 0
    fi
    echo "ui.sh: installing $(deps "$src" | tr '\n' ' ')into ${dest#"$root"/}" >&2
    mkdir -p "$dest"
    cp "$src/package.json" "$src/package-lock.json" "$dest/"
    # PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: belt and braces; playwright-core has no install script
    # and --ignore-scripts runs none anyway.
    SCARF_ANALYTICS=false PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 "$npm" ci --prefix "$dest" --ignore-scripts \
        --no-audit --no-fund --loglevel=error ||
        die "npm ci failed for $src (is the npm registry reachable? see \`npm config get registry\`)"
    pinned_ok "$src" "$dest" || die "$src: installed versions differ from the pinned ones: $(pinned_report "$src" "$dest")"
}

# "name@version" of every dependency of <src>/package.json, one a line
deps() {
    node -e 'const d = require(process.argv[1]).dependencies || {};
             for (const [n, v] of Object.entries(d)) console.log(n + "@" + v);' "$1/package.json"
}

# what differs between the pinned and the installed versions ("" when nothing does)
pinned_report() {
    node -e 'const fs = require("fs"), path = require("path");
             const d = require(process.argv[1]).dependencies || {};
             const bad = [];
             for (const [n, v] of Object.entries(d)) {
               const f = path.join(process.argv[2], "node_modules", n, "package.json");
               let have = "missing";
               try { have = JSON.parse(fs.readFileSync(f, "utf8")).version; } catch (e) {}
               if (have !== v) bad.push(n + ": pinned " + v + ", installed " + have);
             }
             process.stdout.write(bad.join("; "));' "$1/package.json" "$2"
}

pinned_ok() {
    [ -z "$(pinned_report "$1" "$2")" ]
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
        install "$root/ui" "$build/ui"
        ;;
    test)
        install "$root/ui" "$build/ui"
        install "$root/tests/openapi" "$build/test-node"
        ;;
    browser)
        install "$root/ui" "$build/ui"
        install "$root/tests/browser" "$build/test-browser"
        ;;
    *)
        echo "usage: $0 [ui|test|browser]" >&2
        exit 2
        ;;
esac
