#!/usr/bin/env bash
# Sets slipway up on a Debian machine and runs the main job: builds the
# tools, installs them into $PREFIX/bin (default /usr/local), assembles a
# base image from the host's busybox-static into the store, builds
# examples/hello on it with image-build and runs the result with
# container-run.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

PREFIX=${PREFIX:-/usr/local}
apt_need busybox-static ca-certificates slirp4netns
need_cargo
cargo build --release --workspace --locked
TOOLS=(container-ctl container-run container-runtime image-build dockerfile-parse image-assemble image-pull image-push image-store layer-diff)
if [ -w "$PREFIX/bin" ] || [ "$(id -u)" -eq 0 ]; then
    mkdir -p "$PREFIX/bin"
    for t in "${TOOLS[@]}"; do install -m 0755 "target/release/$t" "$PREFIX/bin/$t"; done
    BIN=$PREFIX/bin
    echo "installed ${TOOLS[*]} into $BIN" >&2
else
    BIN=$PWD/target/release
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
busybox_rootfs "$work/rootfs"
tar -C "$work/rootfs" --numeric-owner --owner=0 --group=0 -cf "$work/busybox.tar" .
bbver=$({ busybox 2>&1 || true; } | head -n1 | awk '{print $2}')
"$BIN/image-assemble" --tag busybox:latest --cmd '["sh"]' \
    --history "busybox-static $bbver from the host" "$work/busybox.tar"
"$BIN/image-store" ls
# The main job: examples/hello (two stages: RUN, COPY, ENV, WORKDIR, CMD)
# built on it, and a container of the result.
"$BIN/image-build" --network none -t hello:latest examples/hello
"$BIN/image-store" ls
"$BIN/container-run" --rm --network none hello:latest
