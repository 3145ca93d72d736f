#!/usr/bin/env bash
# OCI runtimes as an engine drives them: `create`, `start`, wait for the
# exit, `delete`, of /bin/true in one busybox bundle on tmpfs, for
# container-runtime, runc and crun. Each runtime runs its N cycles back to
# back (a runtime's deferred cleanup must not land on the next one's
# timing, as it does when they alternate); medians, and ratios to the
# peers.
#
#   scripts/bench-runtime.sh [--runs N] [--release]
#
# --release times a release build; by default the dev build CI makes
# (optimized, with debug info).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

RUNS=50
PROFILE=debug
while [ $# -gt 0 ]; do
    case $1 in
        --runs) RUNS=$2; shift 2 ;;
        --release) PROFILE=release; shift ;;
        *) echo "usage: $0 [--runs N] [--release]" >&2; exit 2 ;;
    esac
done

apt_need runc crun umoci busybox-static python3
need_cargo
if [ "$PROFILE" = release ]; then
    cargo build --release --workspace --bins -q
else
    cargo build --workspace --bins -q
fi
BIN=$PWD/target/$PROFILE
crun_on_hybrid_cgroups

WORK=$(mktemp -d /dev/shm/slipway-bench-runtime.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export SLIPWAY_STORE=$WORK/store
busybox_bench_bundle "$BIN" "$WORK"

python3 - "$WORK" "$RUNS" "$BIN/container-runtime" "$(command -v runc)" "$(command -v crun)" <<'EOF'
import json, os, statistics, subprocess, sys, time

work, runs, runtimes = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
bundle = os.path.join(work, "bundle")
cfg_path = os.path.join(bundle, "config.json")
cfg = json.load(open(cfg_path))
cfg["process"]["args"] = ["/bin/true"]
cfg["process"]["terminal"] = False
json.dump(cfg, open(cfg_path, "w"))

def cycle(rt, root, cid):
    # (The container keeps create's stdio: a pipe would never close.)
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    t0 = time.perf_counter()
    subprocess.run([rt, "--root", root, "create", "--bundle", bundle, cid], **quiet)
    subprocess.run([rt, "--root", root, "start", cid], **quiet)
    # Wait for the exit as an engine's shim would, by polling state.
    while True:
        out = subprocess.run([rt, "--root", root, "state", cid], capture_output=True, check=True)
        if json.loads(out.stdout)["status"] == "stopped":
            break
    subprocess.run([rt, "--root", root, "delete", cid], **quiet)
    return time.perf_counter() - t0

medians = {}
for rt in runtimes:
    name = os.path.basename(rt)
    root = os.path.join(work, "state-" + name)
    cycle(rt, root, "warm")  # the first run pays for page cache and the like
    times = [cycle(rt, root, f"c{i}") for i in range(runs)]
    medians[name] = statistics.median(times) * 1000
print(f"create+start+wait+delete of /bin/true, median of {runs} back to back (ms)")
for name, ms in medians.items():
    print(f"  {name:20s} {ms:8.2f}")
ours = medians[os.path.basename(runtimes[0])]
for name, ms in list(medians.items())[1:]:
    print(f"  container-runtime / {name}: {ours / ms:.2f} (below 1 is faster)")
EOF
