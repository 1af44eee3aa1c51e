#!/bin/sh
# Regenerates the settings table in README.md from `strata config --markdown` (the test
# test_readme_settings_table_is_current fails when they differ). Usage: scripts/readme-settings.sh [strata binary]
set -eu
cd "$(dirname "$0")/.."
bin=${1:-build/debug/strata}
table=$(mktemp)
"$bin" config --markdown > "$table"
awk -v tf="$table" '
    /<!-- settings table/ { print; while ((getline line < tf) > 0) print line; skip = 1; next }
    /<!-- end of settings table -->/ { skip = 0 }
    !skip { print }
' README.md > README.md.new
mv README.md.new README.md
rm -f "$table"
