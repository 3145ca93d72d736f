#!/usr/bin/env bash
# Container start-to-exit: `/bin/true` from a busybox image with
# container-run, against `runc run` and `crun run` of the same image
# unpacked as a bundle (umoci unpack), medians over N runs each, the three
# alternating so that the machine's drift hits all alike.
#
#   scripts/bench-run.sh [--runs N]
#
# crun refuses a hybrid cgroup host while any controller is left on the v2
# mount; where hugetlb is (as on these VMs), the script moves it to a v1
# hierarchy of its own, the change crun's message asks for.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

RUNS=20
while [ $# -gt 0 ]; do
    case $1 in
        --runs) RUNS=$2; shift 2 ;;
        *) echo "usage: $0 [--runs N]" >&2; exit 2 ;;
    esac
done

apt_need runc crun umoci busybox-static python3
need_cargo
cargo build --release --workspace --bins -q
BIN=$PWD/target/release

crun_on_hybrid_cgroups

WORK=$(mktemp -d /dev/shm/slipway-bench-run.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export SLIPWAY_STORE=$WORK/store
busybox_bench_bundle "$BIN" "$WORK"
python3 - "$WORK/bundle/config.json" <<'EOF'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["args"] = ["/bin/true"]
c["process"]["terminal"] = False
json.dump(c, open(p, "w"))
EOF
# The first run unpacks the layer into the store; it is not timed.
"$BIN/container-run" --rm --network none busybox:bench /bin/true

now() { date +%s%N; }
declare -A T
n=0
for i in $(seq 1 "$RUNS"); do
    t0=$(now); "$BIN/container-run" --rm --network none busybox:bench /bin/true; t1=$(now)
    T[ours]+="$(( (t1 - t0) / 1000 )) "
    t0=$(now); "$BIN/container-run" --rm --network none --rootfs "$WORK/bundle/rootfs" /bin/true; t1=$(now)
    T[ours_rootfs]+="$(( (t1 - t0) / 1000 )) "
    t0=$(now); "$BIN/container-run" --rm --bundle "$WORK/bundle" >/dev/null; t1=$(now)
    T[ours_bundle]+="$(( (t1 - t0) / 1000 )) "
    t0=$(now); runc run -b "$WORK/bundle" "bench-runc-$i" >/dev/null; t1=$(now)
    T[runc]+="$(( (t1 - t0) / 1000 )) "
    t0=$(now); crun run -b "$WORK/bundle" "bench-crun-$i" >/dev/null; t1=$(now)
    T[crun]+="$(( (t1 - t0) / 1000 )) "
    n=$i
done

median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ours=$(median "${T[ours]}"); rootfs=$(median "${T[ours_rootfs]}"); bundle=$(median "${T[ours_bundle]}")
runc=$(median "${T[runc]}"); crun=$(median "${T[crun]}")
printf '%-46s %8s\n' "start-to-exit of /bin/true, median of $n (µs)" ""
printf '  %-44s %8d\n' "container-run IMAGE (overlay over the store)" "$ours"
printf '  %-44s %8d\n' "container-run --rootfs BUNDLE/rootfs" "$rootfs"
printf '  %-44s %8d\n' "container-run --bundle BUNDLE" "$bundle"
printf '  %-44s %8d\n' "runc run BUNDLE" "$runc"
printf '  %-44s %8d\n' "crun run BUNDLE" "$crun"
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
echo "ratios (ours / theirs, below 1 is faster):"
echo "  image vs runc:  $(ratio "$ours" "$runc")    image vs crun:  $(ratio "$ours" "$crun")"
echo "  rootfs vs runc: $(ratio "$rootfs" "$runc")    rootfs vs crun: $(ratio "$rootfs" "$crun")"
echo "  bundle vs runc: $(ratio "$bundle" "$runc")    bundle vs crun: $(ratio "$bundle" "$crun")"
