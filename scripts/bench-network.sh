#!/usr/bin/env bash
# Containers on a user-defined network, against podman's (netavark, its
# aardvark-dns): start-to-exit of `true` on a network of its own (the
# bridge, rules and responder made and taken down each time), and with a
# container kept on the network (one veth, address and rule set more),
# and a name looked up from one container to another. Medians over N runs
# each, the two alternating so the machine's drift hits both alike. As
# root; the network's firewall is whichever the host has.
#
#   scripts/bench-network.sh [--runs N]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

RUNS=10
while [ $# -gt 0 ]; do
    case $1 in
        --runs) RUNS=$2; shift 2 ;;
        *) echo "usage: $0 [--runs N]" >&2; exit 2 ;;
    esac
done

# podman's own name resolution is netavark's aardvark-dns; its CNI
# backend (the default where CNI networks exist) has none.
apt_need podman netavark aardvark-dns busybox-static python3 iproute2 nftables
need_cargo
cargo build --release --workspace --bins -q
BIN=$PWD/target/release

WORK=$(mktemp -d /dev/shm/slipway-bench-net.XXXXXX)
export SLIPWAY_STORE=$WORK/store
# podman on these VMs: their default ulimits exceed the machine's.
mkdir -p "$WORK/containers"
printf '[network]\nnetwork_backend = "netavark"\n' > "$WORK/containers/containers.conf"
export CONTAINERS_CONF=$WORK/containers/containers.conf
PODMAN=(podman --root "$WORK/podman" --runroot "$WORK/podman-run")
PRUN=(run --ulimit nofile=1024:1024 --ulimit nproc=4096:4096)
cleanup() {
    "$BIN/container-ctl" rm -f keep >/dev/null 2>&1 || true
    "$BIN/container-ctl" network rm benchnet >/dev/null 2>&1 || true
    "${PODMAN[@]}" rm -f pkeep >/dev/null 2>&1 || true
    "${PODMAN[@]}" network rm -f pbenchnet >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

busybox_rootfs "$WORK/rootfs"
tar -C "$WORK/rootfs" --numeric-owner --owner=0 --group=0 -cf "$WORK/bb.tar" .
"$BIN/image-assemble" -q -t busybox:bench "$WORK/bb.tar" >/dev/null
"$BIN/image-store" save busybox:bench "docker-archive:$WORK/bb-docker.tar:busybox:bench" >/dev/null
"${PODMAN[@]}" load -q -i "$WORK/bb-docker.tar" >/dev/null
"$BIN/container-ctl" network create benchnet >/dev/null
"${PODMAN[@]}" network create pbenchnet >/dev/null
# Unpacked and warmed once, not timed.
"$BIN/container-run" --rm --network benchnet busybox:bench true
"${PODMAN[@]}" "${PRUN[@]}" --rm --network pbenchnet busybox:bench true

now() { date +%s%N; }
declare -A T
for i in $(seq 1 "$RUNS"); do
    t0=$(now); "$BIN/container-run" --rm --network benchnet busybox:bench true; t1=$(now)
    T[ours_alone]+="$(( (t1 - t0) / 1000 )) "
    t0=$(now); "${PODMAN[@]}" "${PRUN[@]}" --rm --network pbenchnet busybox:bench true; t1=$(now)
    T[podman_alone]+="$(( (t1 - t0) / 1000 )) "
done
"$BIN/container-run" -d --name keep --network benchnet busybox:bench sleep 600 >/dev/null
"${PODMAN[@]}" "${PRUN[@]}" -d --name pkeep --network pbenchnet busybox:bench sleep 600 >/dev/null
for i in $(seq 1 "$RUNS"); do
    t0=$(now); "$BIN/container-run" --rm --network benchnet busybox:bench true; t1=$(now)
    T[ours_beside]+="$(( (t1 - t0) / 1000 )) "
    t0=$(now); "${PODMAN[@]}" "${PRUN[@]}" --rm --network pbenchnet busybox:bench true; t1=$(now)
    T[podman_beside]+="$(( (t1 - t0) / 1000 )) "
    t0=$(now); "$BIN/container-run" --rm --network benchnet busybox:bench nslookup keep >/dev/null; t1=$(now)
    T[ours_lookup]+="$(( (t1 - t0) / 1000 )) "
    t0=$(now); "${PODMAN[@]}" "${PRUN[@]}" --rm --network pbenchnet busybox:bench nslookup pkeep >/dev/null; t1=$(now)
    T[podman_lookup]+="$(( (t1 - t0) / 1000 )) "
done

python3 - "${T[ours_alone]}" "${T[podman_alone]}" "${T[ours_beside]}" "${T[podman_beside]}" \
    "${T[ours_lookup]}" "${T[podman_lookup]}" <<'EOF'
import statistics, sys
m = [statistics.median(int(x) for x in a.split()) / 1000 for a in sys.argv[1:]]
rows = [("true, alone on the network", m[0], m[1]),
        ("true, beside a running container", m[2], m[3]),
        ("nslookup of the other container", m[4], m[5])]
print(f"{'case':36} {'slipway ms':>11} {'podman ms':>10} {'ratio':>6}")
for name, ours, theirs in rows:
    print(f"{name:36} {ours:11.1f} {theirs:10.1f} {ours / theirs:6.2f}")
EOF
