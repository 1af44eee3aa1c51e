#!/usr/bin/env bash
# Runs every built libFuzzer target (build/fuzz/fuzz/fuzz_<name>) for FUZZ_SECONDS (default 60).
# Each target works on a copy of its seed corpus in a temporary folder, so new coverage inputs
# never land in the repository; the seed folder is passed second, read-only (libFuzzer only
# writes to its first corpus folder). A crash, leak, timeout or OOM is copied into
# fuzz/corpus/<name>/ as crash-<sha1> so `make test` replays it from then on, and the script
# exits non-zero after all targets have run. One summary line per target.
set -uo pipefail

cd "$(dirname "$0")/.."
BIN_DIR=${FUZZ_BIN_DIR:-build/fuzz/fuzz}
SECONDS_PER_TARGET=${FUZZ_SECONDS:-60}

shopt -s nullglob
targets=("$BIN_DIR"/fuzz_*)
if [ ${#targets[@]} -eq 0 ]; then
    echo "fuzz.sh: no fuzz targets in $BIN_DIR (run: make T=fuzz fuzz-bin)" >&2
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/strata-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

failed=0
summary=()
for bin in "${targets[@]}"; do
    [ -x "$bin" ] || continue
    name=${bin##*/fuzz_}
    seeds=fuzz/corpus/$name
    corpus=$work/$name/corpus
    artifacts=$work/$name/artifacts
    log=$work/$name/log
    mkdir -p "$corpus" "$artifacts" "$seeds"
    cp -R "$seeds"/. "$corpus"/
    before=$(find "$corpus" -type f | wc -l)

    args=(-max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=10
          -print_final_stats=1 -artifact_prefix="$artifacts/")
    [ -f "fuzz/dict/$name.dict" ] && args+=(-dict="fuzz/dict/$name.dict")

    "$bin" "${args[@]}" "$corpus" "$seeds" >"$log" 2>&1
    rc=$?

    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    after=$(find "$corpus" -type f | wc -l)
    saved=()
    for a in "$artifacts"/crash-* "$artifacts"/leak-* "$artifacts"/timeout-* "$artifacts"/oom-*; do
        sha=$(sha1sum "$a" | cut -d' ' -f1)
        cp "$a" "$seeds/crash-$sha"
        saved+=("$seeds/crash-$sha")
    done
    if [ $rc -ne 0 ] || [ ${#saved[@]} -gt 0 ]; then
        failed=1
        mkdir -p build/fuzz && cp "$log" "build/fuzz/fuzz_$name.log"
        summary+=("fuzz_$name: FAILED (exit $rc) after ${runs:-?} runs; saved: ${saved[*]:-none}; log: build/fuzz/fuzz_$name.log")
    else
        summary+=("fuzz_$name: ok, ${runs:-?} runs in ${SECONDS_PER_TARGET}s, corpus $before -> $after")
    fi
done

printf '%s\n' "${summary[@]}"
exit $failed
