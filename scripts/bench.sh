#!/usr/bin/env bash
# Benchmarks slipway against its peers, side by side in one run, and prints
# each comparison as a ratio (ours / theirs: below 1 is faster).
#
#   scripts/bench.sh [--size MB] [--runs N]
#
# image-push/image-pull: scripts/bench-registry.sh; container start:
# scripts/bench-run.sh.
#
# Work that is CPU-bound runs on tmpfs (/dev/shm) so the disk's noise stays
# out of it; the runs alternate ours/theirs and the median counts.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

SIZE_MB=500
RUNS=3
while [ $# -gt 0 ]; do
    case $1 in
        --size) SIZE_MB=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        *) echo "usage: $0 [--size MB] [--runs N]" >&2; exit 2 ;;
    esac
done

apt_need bc cpio pigz openssl umoci busybox-static python3
need_cargo
cargo build --release --workspace --bins --examples -q
BIN=$PWD/target/release

WORK=$(mktemp -d /dev/shm/slipway-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# The busybox base image in a store of its own.
export SLIPWAY_STORE=$WORK/store
busybox_rootfs "$WORK/rootfs"
tar -C "$WORK/rootfs" -cf "$WORK/busybox.tar" .
"$BIN/image-assemble" -q --tag busybox:bench --cmd sh "$WORK/busybox.tar" >/dev/null

# A layer of about SIZE_MB: the host's own files, many small and some large,
# chosen in sorted order so every run of the script uses the same ones.
echo "making a ${SIZE_MB} MB layer from /usr ..." >&2
find /usr/lib /usr/share /usr/bin -xdev -type f -readable -print0 2>/dev/null | sort -z |
    python3 -c '
import os, sys
# Three fifths of the budget in files under 64 KiB, the rest in files over
# 1 MiB: many small files and some large ones, as real layers have.
limit = int(sys.argv[1]) << 20
small, large, out = 0, 0, []
for p in sys.stdin.buffer.read().split(b"\0"):
    if not p: continue
    try: size = os.path.getsize(p)
    except OSError: continue
    if size < 65536 and small + size <= limit * 3 // 5:
        small += size; out.append(p)
    elif size > 1 << 20 and large + size <= limit * 2 // 5:
        large += size; out.append(p)
sys.stdout.buffer.write(b"".join(p + b"\0" for p in out))
' "$SIZE_MB" > "$WORK/files"
tar --null -cf "$WORK/layer.tar" --files-from "$WORK/files" 2>/dev/null
FILES=$(tr -cd '\0' < "$WORK/files" | wc -c)
LAYER_MB=$(( $(stat -c %s "$WORK/layer.tar") >> 20 ))
echo "layer: $LAYER_MB MB, $FILES files" >&2
head -c 1G /dev/urandom > "$WORK/1g.bin"

# median of the elapsed seconds of N runs of a command
declare -A TIMES
timeit() {  # name cmd...
    local name=$1; shift
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null
    t1=$(date +%s.%N)
    TIMES[$name]="${TIMES[$name]:-} $(echo "$t1 - $t0" | bc -l)"
}
median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
report() {  # label ours theirs
    local a b
    a=$(median "${TIMES[$2]}"); b=$(median "${TIMES[$3]}")
    printf '%-46s %8.3fs %8.3fs   ratio %.2f\n' "$1" "$a" "$b" "$(echo "$a / $b" | bc -l)"
}

for i in $(seq "$RUNS"); do
    rm -rf "$WORK/store-gz"
    timeit assemble_gzip env SLIPWAY_STORE="$WORK/store-gz" "$BIN/image-assemble" -q --base oci:"$WORK/store":docker.io/library/busybox:bench --tag bench "$WORK/layer.tar"
    timeit pigz sh -c "pigz -6 -c '$WORK/layer.tar' > '$WORK/layer.tar.gz'"
    timeit sha_ours "$BIN/examples/sha256" "$WORK/1g.bin"
    timeit sha_openssl openssl dgst -sha256 "$WORK/1g.bin"
done


# layer-diff: a tree of 20,000 files, about 200 MB (90% of the files small).
python3 - "$WORK/tree" <<'PY'
import os, random, sys
random.seed(42)
root = sys.argv[1]
for d in range(200):
    dp = os.path.join(root, f"d{d:03}", f"sub{d % 7}")
    os.makedirs(dp, exist_ok=True)
    for f in range(100):
        size = random.randint(64, 8192) if random.random() < 0.9 else random.randint(32768, 98304)
        with open(os.path.join(dp, f"f{f:03}.bin"), "wb") as fh:
            fh.write(os.urandom(size))
PY
mkdir -p "$WORK/emptydir"
cp -a "$WORK/tree" "$WORK/tree2"
for f in $(cd "$WORK/tree2" && find . -type f | sort | awk "NR<=10"); do
    echo changed >> "$WORK/tree2/$f"
done
tar -cf "$WORK/tree.tar" -C "$WORK/tree" .
# An overlay upper dir after the same 10 edits holds just those files.
mkdir -p "$WORK/upper10"
(cd "$WORK/tree2" && find . -type f | sort | awk "NR<=10" | cpio -pdm --quiet "$WORK/upper10")
LD=$BIN/layer-diff
for i in $(seq "$RUNS"); do
    timeit ld_full sh -c "'$LD' '$WORK/emptydir' '$WORK/tree' | cat > /dev/null"
    timeit tar_full sh -c "tar -cf - -C '$WORK/tree' . | cat > /dev/null"
    timeit ld_full_null sh -c "'$LD' '$WORK/emptydir' '$WORK/tree' > /dev/null"
    timeit tar_full_null sh -c "tar -cf - -C '$WORK/tree' . > /dev/null"
    timeit ld_diff10 sh -c "'$LD' '$WORK/tree' '$WORK/tree2' | cat > /dev/null"
    timeit ld_upper sh -c "'$LD' --upper '$WORK/tree' | cat > /dev/null"
    timeit ld_upper10 sh -c "'$LD' --upper '$WORK/upper10' | cat > /dev/null"
    # Which goes first alternates: freeing the last run's tmpfs pages
    # costs the next one.
    for who in $( [ $((i % 2)) -eq 0 ] && echo "ours tar" || echo "tar ours"); do
        rm -rf "$WORK/x"; mkdir -p "$WORK/x"
        if [ "$who" = ours ]; then
            timeit ld_apply sh -c "'$LD' --apply '$WORK/x' < '$WORK/tree.tar'"
        else
            timeit tar_apply sh -c "tar -xf '$WORK/tree.tar' -C '$WORK/x'"
        fi
    done
done
echo
printf '%-46s %9s %9s\n' "comparison (median of $RUNS, tmpfs)" ours peer
report "image-assemble gzip ${LAYER_MB}MB vs pigz -6" assemble_gzip pigz
report "sha256 1 GiB vs openssl dgst -sha256" sha_ours sha_openssl
ours_size=$(find "$WORK/store-gz/blobs" -type f -size +1M -printf '%s\n' | sort -n | tail -1)
pigz_size=$(stat -c %s "$WORK/layer.tar.gz")
printf '%-46s %9s %9s   ratio %.3f\n' "compressed size (bytes)" "$ours_size" "$pigz_size" "$(echo "$ours_size / $pigz_size" | bc -l)"
report "layer-diff EMPTY TREE | cat vs tar -cf - | cat" ld_full tar_full
report "layer-diff EMPTY TREE >/dev/null vs tar (*)" ld_full_null tar_full_null
report "layer-diff, 10 files changed vs full tar" ld_diff10 tar_full
report "layer-diff --upper vs tar -cf" ld_upper tar_full
report "layer-diff --upper, 10 files changed vs full tar" ld_upper10 tar_full
report "layer-diff --apply vs tar -xf" ld_apply tar_apply
# dockerfile-parse: linear time and memory on a generated 10 MB Dockerfile
# (no peer here: BuildKit's parser is not packaged for Debian).
python3 - "$WORK/Dockerfile.big" <<'PY'
import sys
parts = ["ARG BASE=alpine\n"]
i = 0
size = 0
while size < 10 << 20:
    chunk = (f"FROM $BASE AS s{i}\nENV A{i}=1 B{i}=\"two words\"\n"
             f"RUN --mount=type=cache,target=/c{i} echo step {i} && \\\n    make -j2 target{i}\n"
             f"COPY --from=s{max(i-1,0)} /a /b\nLABEL k{i}=v{i}\n")
    parts.append(chunk)
    size += len(chunk)
    i += 1
open(sys.argv[1], "w").write("".join(parts))
PY
DP=$BIN/dockerfile-parse
/usr/bin/time -f "%e %M" "$DP" "$WORK/Dockerfile.big" > /dev/null 2> "$WORK/dp.time"
read -r dp_secs dp_kb < <(tail -n1 "$WORK/dp.time")
printf '%-46s %8.3fs, peak RSS %d MB for %d MB of Dockerfile\n' "dockerfile-parse 10 MB Dockerfile (plan)" "$dp_secs" $((dp_kb / 1024)) $(( $(stat -c %s "$WORK/Dockerfile.big") >> 20 ))
echo "(*) GNU tar does not read file contents when its archive is /dev/null."
