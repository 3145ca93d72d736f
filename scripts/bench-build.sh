#!/usr/bin/env bash
# image-build against `buildah bud --layers` (Debian's buildah): the same
# Dockerfile and context, the same busybox base pulled from the same
# loopback docker-registry, one after the other in each run; medians of
# wall time and peak RSS, printed as ratios (ours / buildah).
#
#   scripts/bench-build.sh [--runs N] [--copy | --debian | --apps | --platforms] [--disk]
#
# --disk: stores, context and Buildah's storage on the ordinary disk
# (/var/tmp) instead of tmpfs, where creating each file costs what it
# costs a CI runner.
#
# The build: a two-stage app over a 40 MB context of 2,000 files; with
# --copy instead the cold-build issue's case, a 210 MB context of 20,000
# files COPY'd whole and then walked by a RUN (`find`); with --debian, a
# debootstrapped Debian base (minbase, ~6k files; made once and kept in
# /var/cache/slipway-bench) with a RUN useradd and a COPY of 200 sources;
# with --apps, an app on that base: nginx and python3 installed with apt
# (its cache and lists on cache mounts) from the Debian mirror, over each
# builder's default network, then the sources COPY'd and read by python;
# with --platforms, the buildx cross-compile shape for linux/amd64 and
# linux/arm64 at once (one index; buildah bud --manifest): a stage on
# $BUILDPLATFORM reads the sources for each target, the final stage of
# each platform copies its output and runs a RUN (arm64's emulated by
# qemu-user-static), on a busybox base index of both platforms.
#
# cold:      empty store and empty buildah storage (the base is pulled)
# unchanged: the same build again, nothing changed
# one file:  one source file changed (the steps from its COPY on rerun)
#
# Both run their RUN steps without a network, on tmpfs (/dev/shm).
# buildah runs them with crun, its default; crun needs the hybrid cgroup
# host's v2 controllers moved to v1 (crun_on_hybrid_cgroups).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

RUNS=5
COPY=
DEBIAN=
APPS=
PLATFORMS=
PLACE=/dev/shm
while [ $# -gt 0 ]; do
    case $1 in
        --runs) RUNS=$2; shift 2 ;;
        --copy) COPY=1; shift ;;
        --debian) DEBIAN=1; shift ;;
        --apps) DEBIAN=1; APPS=1; shift ;;
        --platforms) PLATFORMS=1; shift ;;
        --disk) PLACE=/var/tmp; shift ;;
        *) echo "usage: $0 [--runs N] [--copy | --debian | --apps | --platforms] [--disk]" >&2; exit 2 ;;
    esac
done

apt_need bc buildah crun docker-registry busybox-static python3 time
[ -z "$DEBIAN" ] || apt_need debootstrap
[ -z "$PLATFORMS" ] || qemu_binfmt aarch64
need_cargo
cargo build --release --workspace --bins -q
BIN=$PWD/target/release
crun_on_hybrid_cgroups

WORK=$(mktemp -d "$PLACE/slipway-bench-build.XXXXXX")
REG_PID=
cleanup() {
    stop_registry
    for root in "$WORK"/buildah/root-*; do
        [ -d "$root" ] || continue
        buildah --root "$root" --runroot "${root/root-/run-}" rm --all >/dev/null 2>&1 || true
        umount -R "$root/overlay" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

start_registry "$WORK"
BASE=127.0.0.1:$PORT/base/busybox:1

# The base: busybox-static (or a debootstrapped Debian), pushed to the
# registry.
if [ -n "$DEBIAN" ]; then
    DEBIAN_TAR=/var/cache/slipway-bench/debian-bookworm-minbase.tar
    if [ ! -f "$DEBIAN_TAR" ]; then
        mkdir -p /var/cache/slipway-bench
        debootstrap --variant=minbase bookworm "$WORK/rootfs" http://deb.debian.org/debian >"$WORK/debootstrap.log" 2>&1 \
            || { tail "$WORK/debootstrap.log" >&2; exit 1; }
        tar -C "$WORK/rootfs" --numeric-owner -cf "$DEBIAN_TAR.tmp" . && mv "$DEBIAN_TAR.tmp" "$DEBIAN_TAR"
        rm -rf "$WORK/rootfs"
    fi
    cp "$DEBIAN_TAR" "$WORK/busybox.tar"
else
    busybox_rootfs "$WORK/rootfs"
    tar -C "$WORK/rootfs" --numeric-owner --owner=0 --group=0 -cf "$WORK/busybox.tar" .
fi
SLIPWAY_STORE=$WORK/base-store "$BIN/image-assemble" -q --tag busybox:bench --cmd '["sh"]' "$WORK/busybox.tar" >/dev/null
if [ -n "$PLATFORMS" ]; then
    # The base for both platforms: arm64's busybox is Debian's, the
    # index made and pushed whole by our tools.
    foreign_busybox arm64 /var/cache/slipway-bench/busybox-arm64
    cp -a "$WORK/rootfs" "$WORK/rootfs-arm64"
    cp /var/cache/slipway-bench/busybox-arm64/bin/busybox "$WORK/rootfs-arm64/bin/busybox"
    tar -C "$WORK/rootfs-arm64" --numeric-owner --owner=0 --group=0 -cf "$WORK/busybox-arm64.tar" .
    SLIPWAY_STORE=$WORK/base-store "$BIN/image-assemble" -q --tag busybox:bench-arm64 --platform linux/arm64 --cmd '["sh"]' "$WORK/busybox-arm64.tar" >/dev/null
    SLIPWAY_STORE=$WORK/base-store "$BIN/image-store" manifest create busybox:bench busybox:bench busybox:bench-arm64 >/dev/null
fi
SLIPWAY_STORE=$WORK/base-store "$BIN/image-push" -q busybox:bench "docker://$BASE" >/dev/null

if [ -n "$DEBIAN" ]; then
# The context: 200 small source files.
python3 - "$WORK/ctx" <<'EOF'
import os, random, sys
root = sys.argv[1]
rng = random.Random(5)
os.makedirs(f'{root}/src', exist_ok=True)
for f in range(200):
    open(f'{root}/src/unit{f:03}.c', 'w').write(''.join(rng.choice('abcdefgh \n') for _ in range(2000)))
EOF
if [ -n "$APPS" ]; then
cat > "$WORK/ctx/Dockerfile" <<DOCKERFILE
FROM $BASE
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \\
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \\
    rm -f /etc/apt/apt.conf.d/docker-clean && apt-get update -q \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -q -y --no-install-recommends nginx-light python3
COPY src/ /srv/app/
RUN python3 -c "import glob, hashlib; print(hashlib.sha256(b''.join(open(f, 'rb').read() for f in sorted(glob.glob('/srv/app/*.c')))).hexdigest())" > /srv/app/sum
CMD ["nginx", "-g", "daemon off;"]
DOCKERFILE
else
cat > "$WORK/ctx/Dockerfile" <<DOCKERFILE
FROM $BASE
RUN useradd -m -u 1000 app
COPY src/ /home/app/src/
RUN chown -R app /home/app/src
USER app
CMD ["ls", "/home/app/src"]
DOCKERFILE
fi
elif [ -n "$COPY" ]; then
# The context: 210 MB in 20,000 files (200 directories of 100), text.
python3 - "$WORK/ctx" <<'EOF'
import os, random, sys
root = sys.argv[1]
rng = random.Random(11)
words = [''.join(rng.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(rng.randint(2, 9))) for _ in range(5000)]
chunk = ' '.join(rng.choice(words) for _ in range(40000))
for d in range(200):
    os.makedirs(f'{root}/d{d:03}', exist_ok=True)
    for f in range(100):
        start = rng.randint(0, len(chunk) - 10500)
        open(f'{root}/d{d:03}/f{f:03}.txt', 'w').write(chunk[start:start + 10500] + '\n')
os.makedirs(f'{root}/src', exist_ok=True)
open(f'{root}/src/unit000.c', 'w').write('x\n')
EOF
cat > "$WORK/ctx/Dockerfile" <<DOCKERFILE
FROM $BASE
COPY . /ctx
RUN find /ctx -type f | wc -l > /count
DOCKERFILE
else
# The context: 40 MB of dependencies in 2,000 files (text, as vendored
# sources are) and 200 small source files; made the same on every run.
python3 - "$WORK/ctx" <<'EOF'
import os, random, sys
root = sys.argv[1]
rng = random.Random(7)
words = [''.join(rng.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(rng.randint(2, 9))) for _ in range(5000)]
def text(n):
    out, size = [], 0
    while size < n:
        w = rng.choice(words); out.append(w); size += len(w) + 1
    return ' '.join(out)[:n] + '\n'
for d in range(40):
    os.makedirs(f'{root}/deps/pkg{d:02}', exist_ok=True)
    for f in range(50):
        open(f'{root}/deps/pkg{d:02}/mod{f:02}.txt', 'w').write(text(20000))
os.makedirs(f'{root}/src', exist_ok=True)
for f in range(200):
    open(f'{root}/src/unit{f:03}.c', 'w').write(text(2000))
EOF
if [ -n "$PLATFORMS" ]; then
cat > "$WORK/ctx/Dockerfile" <<DOCKERFILE
FROM --platform=\$BUILDPLATFORM $BASE AS build
ARG TARGETARCH
WORKDIR /app
COPY deps/ deps/
RUN mkdir gen && for d in deps/*; do cat "\$d"/* | md5sum > "gen/\${d#deps/}.sum"; done
COPY src/ src/
RUN cat src/* | sha256sum > build.sum && echo "\$TARGETARCH" > arch && tar -czf app.tgz src gen arch

FROM $BASE
WORKDIR /srv/app
COPY --from=build /app/app.tgz /app/build.sum ./
RUN tar -xzf app.tgz && rm app.tgz && uname -m > machine
CMD ["cat", "build.sum"]
DOCKERFILE
else
cat > "$WORK/ctx/Dockerfile" <<DOCKERFILE
FROM $BASE AS build
WORKDIR /app
COPY deps/ deps/
RUN mkdir gen && for d in deps/*; do cat "\$d"/* | md5sum > "gen/\${d#deps/}.sum"; done
COPY src/ src/
RUN cat src/* | sha256sum > build.sum && tar -czf app.tgz src gen

FROM $BASE
ENV APP=/srv/app
WORKDIR /srv/app
COPY --from=build /app/app.tgz /app/build.sum ./
RUN tar -xzf app.tgz && rm app.tgz
CMD ["cat", "build.sum"]
DOCKERFILE
fi

fi

declare -A SECS RSS
measure() {  # name cmd...: wall seconds and peak RSS (KB)
    local name=$1; shift
    if ! /usr/bin/time -f "%e %M" -o "$WORK/t" "$@" >"$WORK/out" 2>&1; then
        cat "$WORK/out" >&2
        echo "error: $name failed" >&2
        exit 1
    fi
    read -r s m < "$WORK/t"
    SECS[$name]="${SECS[$name]:-} $s"
    RSS[$name]="${RSS[$name]:-} $m"
}
median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# Each cold build gets new, empty stores; the old ones are removed only at
# the end. On an ext4 without a journal (this VM's disk) creating a file
# skips, one by one, every inode freed in the last dirty_expire seconds
# (+5): a build just after 20,000 files were deleted (by a removed store,
# or by Buildah removing its working container) spends seconds in the
# kernel's recently_deleted(). So on disk each cold build also waits that
# window out: neither builder pays for the other's deletions, and each
# starts as a CI runner does, on a disk that has deleted nothing lately.
STORES=0
BUILDAH=()
fresh() {
    STORES=$((STORES + 1))
    export SLIPWAY_STORE=$WORK/store-$STORES
    BUILDAH=(buildah --root "$WORK/buildah/root-$STORES" --runroot "$WORK/buildah/run-$STORES" --storage-driver overlay)
    THEIRS=("${BUILDAH[@]}" bud -q --layers "${NET[@]}" --tls-verify=false "${TAG_THEIRS[@]}" "$WORK/ctx")
    # Each cold build starts on a quiet disk: neither builder pays for the
    # writeback of the other's last build.
    sync
    if [ "$PLACE" != /dev/shm ]; then
        sleep $(($(cat /proc/sys/vm/dirty_expire_centisecs) / 100 + 6))
    fi
}
# The apps case fetches packages: both on their default network.
NET=(--network none)
[ -z "$APPS" ] || NET=()
TAG_THEIRS=(-t bench:1)
TAG_OURS=(-t bench:1)
if [ -n "$PLATFORMS" ]; then
    TAG_THEIRS=(--platform linux/amd64,linux/arm64 --manifest bench:1)
    TAG_OURS=(--platform linux/amd64,linux/arm64 -t bench:1)
fi
OURS=("$BIN/image-build" -q "${NET[@]}" "${TAG_OURS[@]}" "$WORK/ctx")
build() {  # name who
    if [ "$2" = ours ]; then measure "$1_ours" "${OURS[@]}"; else measure "$1_theirs" "${THEIRS[@]}"; fi
}

n=0
for i in $(seq "$RUNS"); do
    for who in $( [ $((i % 2)) -eq 0 ] && echo "ours theirs" || echo "theirs ours"); do
        fresh
        printf 'unit000 %s\n' "$i" > "$WORK/ctx/src/unit000.c"
        build cold "$who"
        build unchanged "$who"
        n=$((n + 1))
        printf 'unit000 %s changed %s\n' "$i" "$n" > "$WORK/ctx/src/unit000.c"
        build onefile "$who"
    done
done

where=tmpfs
[ "$PLACE" = /dev/shm ] || where=disk
printf '%-28s %9s %9s %7s   %9s %9s\n' "median of $RUNS ($where)" ours buildah ratio "RSS ours" buildah
for op in cold unchanged onefile; do
    a=$(median "${SECS[${op}_ours]}"); b=$(median "${SECS[${op}_theirs]}")
    ra=$(median "${RSS[${op}_ours]}"); rb=$(median "${RSS[${op}_theirs]}")
    case $op in cold) what="cold build";; unchanged) what="rebuild, nothing changed";; onefile) what="rebuild, one file changed";; esac
    printf '%-28s %8.2fs %8.2fs %7.2f   %7d MB %7d MB\n' "$what" "$a" "$b" \
        "$(echo "$a / $b" | bc -l)" $((ra / 1024)) $((rb / 1024))
done
