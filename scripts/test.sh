#!/usr/bin/env bash
# `make test` (and .ci/run): the whole suite under ASan + UBSan.
#   1. install what is missing (scripts/deps.sh test)
#   2. build build/debug/strata, the cmocka unit tests and the fuzz targets (replay mode)
#   3. run every build/debug/tests/test_* binary
#   4. replay every fuzz corpus: build/debug/fuzz/fuzz_<name> fuzz/corpus/<name>
#   5. integration tests (pytest; they start their own PostgreSQL and strata processes)
# Every stage runs even when an earlier one failed; the last line sums up, and the exit status
# is non-zero on any failure.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$repo"

say() { echo "test.sh: $*" >&2; }

scripts/deps.sh test || {
    say "installing the test dependencies failed"
    exit 1
}
make --no-print-directory debug || {
    say "make debug failed"
    exit 1
}
make --no-print-directory T=debug unit-bin fuzz-bin || {
    say "building the unit tests / fuzz targets failed"
    exit 1
}

# --- sanitizers ------------------------------------------------------------------------------
# LeakSanitizer needs ptrace-like thread suspension; some sandboxes forbid it, and then every
# ASan binary would end in "LeakSanitizer has encountered a fatal error". Probe it once.
detect_leaks=1
probe_dir=$(mktemp -d)
cat >"$probe_dir/leak.c" <<'EOF'
#include <stdlib.h>
void *volatile sink;
int main(void) { sink = malloc(33); sink = 0; return 0; }
EOF
if ${CC:-cc} -fsanitize=address -g -o "$probe_dir/leak" "$probe_dir/leak.c" 2>"$probe_dir/cc.err"; then
    ASAN_OPTIONS=detect_leaks=1 "$probe_dir/leak" >"$probe_dir/out" 2>&1
    if ! grep -q 'detected memory leaks' "$probe_dir/out"; then
        detect_leaks=0
        say "LeakSanitizer cannot run on this machine, leak detection is OFF. Probe said:"
        head -n 5 "$probe_dir/out" | sed 's/^/    /' >&2
    fi
else
    detect_leaks=0
    say "could not compile the LeakSanitizer probe, leak detection is OFF:"
    head -n 5 "$probe_dir/cc.err" | sed 's/^/    /' >&2
fi
rm -rf "$probe_dir"

export ASAN_OPTIONS="abort_on_error=1:detect_leaks=$detect_leaks:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$repo/tests/lsan.supp:print_suppressions=0"
export PYTHONDONTWRITEBYTECODE=1

logdir=$(mktemp -d)
trap 'rm -rf "$logdir"' EXIT
failed=0

# --- unit tests ------------------------------------------------------------------------------
unit_total=0
unit_ok=0
echo "== unit tests"
for t in build/debug/tests/test_*; do
    [ -f "$t" ] && [ -x "$t" ] || continue
    unit_total=$((unit_total + 1))
    name=$(basename "$t")
    if timeout 300 "$t" >"$logdir/$name.log" 2>&1; then
        unit_ok=$((unit_ok + 1))
        summary=$(grep -E '^\[  (PASSED|FAILED)  \]' "$logdir/$name.log" | tail -n 1)
        echo "  $name: ${summary:-ok}"
    else
        rc=$?
        failed=1
        echo "  $name: FAILED (exit $rc)"
        sed 's/^/    | /' "$logdir/$name.log"
    fi
done
[ "$unit_total" -gt 0 ] || echo "  (no unit test binaries)"

# --- fuzz corpus replay ----------------------------------------------------------------------
fuzz_total=0
fuzz_ok=0
echo "== fuzz corpus replay"
for f in build/debug/fuzz/fuzz_*; do
    [ -f "$f" ] && [ -x "$f" ] || continue
    fuzz_total=$((fuzz_total + 1))
    name=$(basename "$f")
    name=${name#fuzz_}
    corpus="fuzz/corpus/$name"
    if [ ! -d "$corpus" ]; then
        failed=1
        echo "  fuzz_$name: FAILED (no corpus folder $corpus)"
        continue
    fi
    n=$(find "$corpus" -type f | wc -l)
    if timeout 600 "$f" "$corpus" >"$logdir/fuzz_$name.log" 2>&1; then
        fuzz_ok=$((fuzz_ok + 1))
        echo "  fuzz_$name: ok ($n inputs)"
    else
        rc=$?
        failed=1
        echo "  fuzz_$name: FAILED (exit $rc, corpus $corpus)"
        tail -n 40 "$logdir/fuzz_$name.log" | sed 's/^/    | /'
    fi
done
[ "$fuzz_total" -gt 0 ] || echo "  (no fuzz targets)"

# --- integration -----------------------------------------------------------------------------
echo "== integration tests"
scripts/ui.sh test >/dev/null || { say "installing the Swagger UI / OpenAPI validator npm packages failed"; failed=1; }
STRATA_BIN="$repo/build/debug/strata" /usr/bin/python3 -m pytest -q -p no:cacheprovider --timeout=300 --basetemp="$logdir/pytest" \
    tests/integration 2>&1 | tee "$logdir/pytest.log"
prc=${PIPESTATUS[0]}
# pytest's last line: "== 1 failed, 22 passed in 41.20s ==" or "23 passed in 40.02s"
integ=$(grep -E '[0-9]+ (passed|failed|error|errors|skipped|deselected)|no tests ran' "$logdir/pytest.log" |
    tail -n 1 | sed -e 's/=//g' -e 's/ in [0-9.]*s.*$//' -e 's/^ *//' -e 's/ *$//')
[ -n "$integ" ] || integ="pytest exit $prc"
if [ "$prc" -ne 0 ]; then
    failed=1
fi

echo "make test: unit $unit_ok/$unit_total binaries passed, fuzz replay $fuzz_ok/$fuzz_total, integration $integ$([ "$failed" = 0 ] || echo ' -- FAILED')"
exit "$failed"
