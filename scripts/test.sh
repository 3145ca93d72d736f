#!/usr/bin/env bash
# Runs every test. Installs what the tests need where it is missing: the
# peers used as oracles (skopeo, umoci, oci-image-tool), busybox-static for
# root filesystems, docker-registry for registry tests (with openssl for
# their CAs, certificates and token signatures, apache2-utils for bcrypt
# htpasswd files, curl as a client), slirp4netns for container
# networking, runc and crun (the runtime peers), uidmap (newuidmap and
# newgidmap) for the rootless tests, which add users of their own, and
# podman, buildah and containerd, the engines that run container-runtime
# in its tests; nftables and iptables, the two firewalls networks are made
# with (each tested); openssh-client for the agent of RUN --mount=type=ssh;
# git for git contexts and ADD of repositories.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

apt_need skopeo umoci oci-image-tool busybox-static docker-registry pigz gzip tar ca-certificates passt \
    openssl apache2-utils curl slirp4netns runc crun procps iproute2 uidmap passwd util-linux \
    podman buildah containerd nftables iptables openssh-client git
tun_for_users
# RUN steps of foreign platforms: qemu's arm64 emulator registered, and
# Debian's busybox-static:arm64 for the base images of those tests.
qemu_binfmt aarch64
foreign_busybox arm64 /var/cache/slipway-tests/busybox-arm64
need_cargo
# crun (a peer, and container-run --runtime crun) refuses a hybrid cgroup
# host until its v2 controllers move to v1.
crun_on_hybrid_cgroups
# The cross-tool tests spawn the built binaries: build them all first.
cargo build --workspace --locked
cargo test --workspace --locked --no-fail-fast "$@"
