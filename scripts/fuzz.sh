#!/usr/bin/env bash
# Runs the fuzz targets for a bounded time each: dockerfile-parse's parser
# and word expander, and common's decoders of what registries and layouts
# hand over (manifests, indexes, image configs).
#   scripts/fuzz.sh [SECONDS]  (default 60 per target)
# cargo fuzz wants a nightly compiler for its sanitizer flags; the stable
# toolchain accepts them with RUSTC_BOOTSTRAP=1, which is set here alone.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_cargo
SECS=${1:-60}
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
ROOT=$PWD
FIXTURES=$ROOT/tools/dockerfile-parse/tests/fixtures
mkdir -p tools/dockerfile-parse/fuzz/corpus/parse tools/dockerfile-parse/fuzz/corpus/expand \
    common/fuzz/corpus/image_docs
# Seed the parser with the golden cases, the decoders with real documents.
for d in "$FIXTURES"/*/; do cp "$d/Dockerfile" "tools/dockerfile-parse/fuzz/corpus/parse/$(basename "$d")"; done
i=0
for f in $(grep -rlE '"schemaVersion"|"rootfs"' tools/*/tests/data common/tests 2>/dev/null | head -n 50); do
    cp "$f" "common/fuzz/corpus/image_docs/seed-$i"; i=$((i + 1))
done
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%064d","size":2},"layers":[]}' 0 \
    >common/fuzz/corpus/image_docs/seed-manifest
printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"]},"rootfs":{"type":"layers","diff_ids":[]}}' \
    >common/fuzz/corpus/image_docs/seed-config
# -timeout: one input that takes more than 30 s is a finding, reported
# with the input libFuzzer writes, not a run that stalls for libFuzzer's
# default of 20 minutes (one did, once, in the word expander).
failed=0
total=0
for pt in tools/dockerfile-parse/fuzz:parse tools/dockerfile-parse/fuzz:expand common/fuzz:image_docs; do
    dir=${pt%%:*} t=${pt##*:}
    total=$((total + 1))
    log=$(mktemp)
    if (cd "$dir" && RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" "corpus/$t" -- -max_total_time="$SECS" -max_len=4096 -timeout=30) >"$log" 2>&1; then
        echo "fuzz $t: $(grep -E '^Done [0-9]+ runs' "$log" || tail -n1 "$log")"
    else
        echo "fuzz $t: FAILED" >&2
        grep -E "panicked|ERROR|SUMMARY|Test unit written" "$log" >&2 || tail -n 30 "$log" >&2
        failed=$((failed + 1))
    fi
    rm -f "$log"
done
echo "fuzz: $((total - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
