# Shared by the scripts: install missing Debian packages, build the tools.
# shellcheck shell=bash

# apt_need PKG... : installs the packages that are not installed yet.
apt_need() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing: ${missing[*]}" >&2
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: ${missing[*]} must be installed (run as root, or install them)" >&2
        return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# tun_for_users: /dev/net/tun open to every user, as udev's default rule
# makes it (KERNEL=="tun", MODE="0666"); a host without udev leaves the
# kernel's 0600, and rootless slirp4netns cannot open it. Opening it grants
# nothing by itself: making a device needs CAP_NET_ADMIN in a namespace.
tun_for_users() {
    if [ -c /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != 666 ] && [ "$(id -u)" -eq 0 ]; then
        echo "making /dev/net/tun mode 0666, as udev does, for rootless slirp4netns" >&2
        chmod 0666 /dev/net/tun
    fi
}

# need_cargo: a Rust toolchain new enough for the workspace.
need_cargo() {
    if ! command -v cargo >/dev/null 2>&1; then
        [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        apt_need cargo rustc gcc
    fi
    local v
    v=$(rustc --version | awk '{print $2}')
    if [ "$(printf '%s\n1.80.0\n' "$v" | sort -V | head -n1)" != "1.80.0" ]; then
        echo "error: rustc $v is too old; slipway needs 1.80 or newer (rustup's stable)" >&2
        return 1
    fi
}

# busybox_rootfs DIR: a minimal root filesystem from the host's busybox-static.
busybox_rootfs() {
    local dir=$1 bb
    bb=$(command -v busybox)
    mkdir -p "$dir/bin" "$dir/etc" "$dir/tmp" "$dir/root"
    cp "$bb" "$dir/bin/busybox"
    for a in $("$bb" --list); do
        [ "$a" = busybox ] || ln -sf busybox "$dir/bin/$a"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$dir/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' > "$dir/etc/group"
    chmod 1777 "$dir/tmp"
}

# crun_on_hybrid_cgroups: crun refuses a hybrid cgroup host while any
# controller is left on the v2 mount; where one is (hugetlb, on these VMs),
# it is moved to a v1 hierarchy of its own, the change crun's message asks
# for. Needs root; does nothing on a pure v1 or v2 host.
crun_on_hybrid_cgroups() {
    if [ "$(stat -fc %T /sys/fs/cgroup)" = tmpfs ] && grep -q . /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null; then
        for c in $(cat /sys/fs/cgroup/unified/cgroup.controllers); do
            echo "moving the $c controller from cgroup v2 to v1 for crun" >&2
            mkdir -p "/sys/fs/cgroup/$c"
            mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c"
        done
    fi
}

# start_registry DIR: Debian's docker-registry on a free loopback port,
# storing under DIR, in the background; sets PORT and REG_PID.
# stop_registry ends it.
start_registry() {
    local dir=$1
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    rm -rf "$dir/registry"
    mkdir -p "$dir"
    cat > "$dir/registry.yml" <<YML
version: 0.1
storage: { filesystem: { rootdirectory: $dir/registry } }
http: { addr: 127.0.0.1:$PORT }
log: { level: error }
YML
    docker-registry serve "$dir/registry.yml" >"$dir/registry.log" 2>&1 &
    REG_PID=$!
    until (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null; do sleep 0.1; done
}

stop_registry() {
    if [ -n "${REG_PID:-}" ]; then
        kill "$REG_PID" 2>/dev/null || true
        wait "$REG_PID" 2>/dev/null || true
        REG_PID=
    fi
}

# busybox_bench_bundle BIN WORK: busybox:bench in the store $SLIPWAY_STORE
# (made with BIN's image-assemble) and unpacked by umoci as the runtime
# bundle WORK/bundle, for the runtime benchmarks.
busybox_bench_bundle() {
    local bin=$1 work=$2
    busybox_rootfs "$work/rootfs"
    tar -C "$work/rootfs" -cf "$work/busybox.tar" .
    "$bin/image-assemble" -q --tag busybox:bench --cmd sh "$work/busybox.tar" >/dev/null
    umoci unpack --image "$SLIPWAY_STORE:docker.io/library/busybox:bench" "$work/bundle" >/dev/null
}

# qemu_binfmt ARCH...: qemu-user-static's emulators registered with
# binfmt_misc (mounted if it is not), each as Debian's binfmt.d file says:
# with the fix-binary flag, so the kernel opens the emulator once and a
# container's RUN of a foreign binary finds it whatever its root holds.
qemu_binfmt() {
    apt_need qemu-user-static
    if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    fi
    local a conf
    for a in "$@"; do
        [ -e "/proc/sys/fs/binfmt_misc/qemu-$a" ] && continue
        conf=/usr/lib/binfmt.d/qemu-$a.conf
        if [ ! -f "$conf" ]; then
            echo "error: no $conf: qemu-user-static has no emulator for $a" >&2
            return 1
        fi
        echo "registering the qemu-$a emulator with binfmt_misc" >&2
        grep -v '^#' "$conf" > /proc/sys/fs/binfmt_misc/register
    done
}

# foreign_busybox ARCH DIR: Debian's busybox-static for ARCH (arm64, …)
# unpacked into DIR (its binary at DIR/bin/busybox), for images of a
# foreign platform made without a network of their own.
foreign_busybox() {
    local arch=$1 dir=$2 tmp
    [ -x "$dir/bin/busybox" ] && return 0
    if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
        dpkg --add-architecture "$arch"
        apt-get update -qq >&2
    fi
    tmp=$(mktemp -d)
    (cd "$tmp" && apt-get download -qq "busybox-static:$arch" 2>/dev/null) || {
        apt-get update -qq >&2
        (cd "$tmp" && apt-get download -qq "busybox-static:$arch")
    }
    mkdir -p "$dir"
    dpkg-deb -x "$tmp"/busybox-static_*.deb "$dir"
    rm -rf "$tmp"
}
