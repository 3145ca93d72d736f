#!/usr/bin/env bash
# Sets slipway up on a Debian machine and runs the main job: builds the
# tools, installs them into $PREFIX/bin (default /usr/local), assembles a
# base image from the host's busybox-static into the store, builds
# examples/hello on it with image-build and runs the result with
# container-run. The man pages go to $PREFIX/share/man (`man image-build`),
# every tool's shell completions where bash, zsh and fish look for them.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

PREFIX=${PREFIX:-/usr/local}
apt_need busybox-static ca-certificates slirp4netns passt man-db iproute2 nftables
# RUN steps of arm64 images (image-build --platform linux/arm64) run under
# qemu's emulator; a host that cannot register it still builds its own.
qemu_binfmt aarch64 || echo "warning: no arm64 emulator registered: foreign RUN steps will be refused" >&2
need_cargo
cargo build --release --workspace --locked
TOOLS=(slipway container-ctl container-run container-runtime image-build dockerfile-parse image-assemble image-pull image-push image-store layer-diff)
if [ -w "$PREFIX/bin" ] || [ "$(id -u)" -eq 0 ]; then
    mkdir -p "$PREFIX/bin"
    for t in "${TOOLS[@]}"; do install -m 0755 "target/release/$t" "$PREFIX/bin/$t"; done
    BIN=$PREFIX/bin
    echo "installed ${TOOLS[*]} into $BIN" >&2
    install -d "$PREFIX/share/man/man1" "$PREFIX/share/man/man5"
    install -m 0644 man/*.1 "$PREFIX/share/man/man1/"
    install -m 0644 man/*.5 "$PREFIX/share/man/man5/"
    # The index serves only apropos; man finds the pages without it.
    mandb -q "$PREFIX/share/man" 2>/dev/null || true
    install -d "$PREFIX/share/bash-completion/completions" "$PREFIX/share/zsh/site-functions" \
        "$PREFIX/share/fish/vendor_completions.d"
    # Every tool's flags, generated from its clap definition.
    install -m 0644 completions/bash/* "$PREFIX/share/bash-completion/completions/"
    install -m 0644 completions/zsh/_* "$PREFIX/share/zsh/site-functions/"
    install -m 0644 completions/fish/*.fish "$PREFIX/share/fish/vendor_completions.d/"
    echo "installed the man pages into $PREFIX/share/man and the tools' completions" >&2
    # Not enabled: bringing containers back at boot is the user's choice.
    install -d "$PREFIX/lib/systemd/system"
    sed "s|@BIN@|$BIN|" contrib/slipway-restart.service > "$PREFIX/lib/systemd/system/slipway-restart.service"
    echo "installed slipway-restart.service (systemctl enable it to start --restart always containers at boot)" >&2
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
