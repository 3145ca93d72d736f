#!/usr/bin/env bash
# Runs the dockerfile-parse fuzz targets (parser and word expander) for a
# bounded time each: scripts/fuzz.sh [SECONDS]  (default 60).
# cargo fuzz wants a nightly compiler for its sanitizer flags; the stable
# toolchain accepts them with RUSTC_BOOTSTRAP=1, which is set here alone.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_cargo
SECS=${1:-60}
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
FIXTURES=$PWD/tools/dockerfile-parse/tests/fixtures
cd tools/dockerfile-parse/fuzz
mkdir -p corpus/parse corpus/expand
# Seed the parser with the golden cases.
for d in "$FIXTURES"/*/; do cp "$d/Dockerfile" "corpus/parse/$(basename "$d")"; done
failed=0
for t in parse expand; do
    log=$(mktemp)
    if RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" "corpus/$t" -- -max_total_time="$SECS" -max_len=4096 >"$log" 2>&1; then
        echo "fuzz $t: $(grep -E '^Done [0-9]+ runs' "$log" || tail -n1 "$log")"
    else
        echo "fuzz $t: FAILED" >&2
        grep -E "panicked|ERROR|SUMMARY|Test unit written" "$log" >&2 || tail -n 30 "$log" >&2
        failed=$((failed + 1))
    fi
    rm -f "$log"
done
echo "fuzz: $((2 - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
