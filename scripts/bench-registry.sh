#!/usr/bin/env bash
# image-push and image-pull against `skopeo copy`: the same image (about
# SIZE_MB in 4 layers), the same loopback docker-registry, one after the
# other in each run; medians of wall time and peak RSS, as ratios.
#
#   scripts/bench-registry.sh [--size MB] [--runs N]
#
# Every run gets a registry of its own on a new port, so neither side finds
# the blobs there already, nor in its own record of where blobs were seen
# (skopeo's blob-info cache, our store's blob sources): both upload.
# "again" pushes the same image to the same repository a second time,
# when nothing has changed.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

SIZE_MB=1024
RUNS=3
while [ $# -gt 0 ]; do
    case $1 in
        --size) SIZE_MB=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        *) echo "usage: $0 [--size MB] [--runs N]" >&2; exit 2 ;;
    esac
done

apt_need bc skopeo docker-registry python3 time
need_cargo
cargo build --release --workspace --bins -q
BIN=$PWD/target/release

WORK=$(mktemp -d /dev/shm/slipway-bench-reg.XXXXXX)
REG_PID=
trap 'stop_registry; rm -rf "$WORK"' EXIT

# 4 layers of incompressible data (what registries mostly move: gzip'd
# tars), stored uncompressed so the set-up stays quick.
echo "making a ${SIZE_MB} MB image in 4 layers ..." >&2
LAYERS=()
for l in 1 2 3 4; do
    mkdir -p "$WORK/l$l"
    head -c $((SIZE_MB / 4))M /dev/urandom > "$WORK/l$l/data.bin"
    tar -C "$WORK/l$l" -cf "$WORK/l$l.tar" .
    rm -rf "$WORK/l$l"
    LAYERS+=("$WORK/l$l.tar")
done
export SLIPWAY_STORE=$WORK/store
"$BIN/image-assemble" -q --compression none --tag regbench "${LAYERS[@]}" > /dev/null
rm -f "${LAYERS[@]}"

declare -A SECS RSS
measure() {  # name cmd...: wall seconds and peak RSS (KB)
    local name=$1; shift
    /usr/bin/time -f "%e %M" -o "$WORK/t" "$@" > /dev/null
    read -r s m < "$WORK/t"
    SECS[$name]="${SECS[$name]:-} $s"
    RSS[$name]="${RSS[$name]:-} $m"
}
median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

SRC="oci:$SLIPWAY_STORE:docker.io/library/regbench:latest"
for i in $(seq "$RUNS"); do
    start_registry "$WORK"
    R=127.0.0.1:$PORT
    # Which side goes first alternates.
    for who in $( [ $((i % 2)) -eq 0 ] && echo "ours skopeo" || echo "skopeo ours"); do
        if [ "$who" = ours ]; then
            measure push_ours "$BIN/image-push" -q regbench "docker://$R/ours:1"
            measure again_ours "$BIN/image-push" -q regbench "docker://$R/ours:1"
            rm -rf "$WORK/pull-ours"
            measure pull_ours "$BIN/image-pull" -q --store "$WORK/pull-ours" "$R/ours:1"
        else
            measure push_skopeo skopeo copy -q --dest-tls-verify=false "$SRC" "docker://$R/theirs:1"
            measure again_skopeo skopeo copy -q --dest-tls-verify=false "$SRC" "docker://$R/theirs:1"
            rm -rf "$WORK/pull-skopeo"
            measure pull_skopeo skopeo copy -q --src-tls-verify=false "docker://$R/theirs:1" "oci:$WORK/pull-skopeo:x"
        fi
    done
    stop_registry
done

# Bounded memory: one layer of 2 GiB pushed and pulled by ours alone.
rm -rf "$SLIPWAY_STORE" "$WORK/pull-ours" "$WORK/pull-skopeo"
mkdir -p "$WORK/big"
head -c 2G /dev/urandom > "$WORK/big/data.bin"
tar -C "$WORK/big" -cf "$WORK/big.tar" .
rm -rf "$WORK/big"
"$BIN/image-assemble" -q --compression none --tag big "$WORK/big.tar" > /dev/null
rm -f "$WORK/big.tar"
start_registry "$WORK"
measure big_push "$BIN/image-push" -q big "docker://127.0.0.1:$PORT/big:1"
measure big_pull "$BIN/image-pull" -q --store "$WORK/pull-ours" "127.0.0.1:$PORT/big:1"
stop_registry

printf '%-34s %9s %9s %7s   %9s %9s\n' "median of $RUNS (tmpfs, loopback)" ours skopeo ratio "RSS ours" skopeo
for op in push again pull; do
    a=$(median "${SECS[${op}_ours]}"); b=$(median "${SECS[${op}_skopeo]}")
    ra=$(median "${RSS[${op}_ours]}"); rb=$(median "${RSS[${op}_skopeo]}")
    printf '%-34s %8.2fs %8.2fs %7.2f   %7d MB %7d MB\n' "$op ${SIZE_MB} MB image, 4 layers" "$a" "$b" \
        "$(echo "$a / $b" | bc -l)" $((ra / 1024)) $((rb / 1024))
done
printf '%-34s %8.2fs %9s %7s   %7d MB\n' "push, one 2 GiB layer" "$(median "${SECS[big_push]}")" - - $(( $(median "${RSS[big_push]}") / 1024 ))
printf '%-34s %8.2fs %9s %7s   %7d MB\n' "pull, one 2 GiB layer" "$(median "${SECS[big_pull]}")" - - $(( $(median "${RSS[big_pull]}") / 1024 ))
