//! The container's filesystem, made inside its new mount namespace: the
//! root (overlayfs or a bind), /proc, /sys, /dev (see dev.rs), the /etc
//! files, the user's mounts, then pivot_root and the masked and read-only
//! paths.
//!
//! Every mount target inside the root is opened with openat2
//! RESOLVE_IN_ROOT and mounted on through /proc/self/fd, so a symlink in
//! the image cannot send a mount to a host path.

use crate::config::{MountKind, Network, Plan, Root};
use slipway_common::container::sys::{At, Loc, Open, SysError, Syscall};
use slipway_common::mount::{ATTR_NODEV, ATTR_RDONLY};
use std::io;
use std::path::Path;

/// Docker's masked paths: hidden behind /dev/null or an empty read-only
/// tmpfs, as they leak host information or control.
pub const MASKED: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's read-only paths.
pub const READ_ONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

pub(crate) fn ctx<T>(what: impl FnOnce() -> String) -> impl FnOnce(io::Error) -> io::Result<T> {
    move |e| Err(io::Error::new(e.kind(), format!("{}: {e}", what())))
}

/// As `ctx`, for an error of the seam (which names its call already).
pub(crate) fn sys_ctx<T>(what: impl FnOnce() -> String) -> impl FnOnce(SysError) -> io::Result<T> {
    move |e| Err(io::Error::new(e.source.kind(), format!("{}: {e}", what())))
}

/// For a mount point made inside the root: ELOOP there is a symlink on
/// its path that leads out of the root (through a /proc magic link,
/// which resolving in the root refuses) or that loops, not a mystery.
fn point_ctx<T>(target: &str) -> impl FnOnce(SysError) -> io::Result<T> + '_ {
    move |e| {
        let why = if e.errno() == Some(libc::ELOOP) {
            "a symlink on its path leads out of the container's root, or loops".to_string()
        } else {
            e.source.to_string()
        };
        Err(io::Error::new(
            e.source.kind(),
            format!("create mount point {target}: {why}"),
        ))
    }
}

pub(crate) fn overlay_options(
    sys: &dyn Syscall,
    lowers: &[String],
    upper: &Path,
    work: &Path,
    rootless: bool,
) -> String {
    let mut o = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowers.join(":"),
        upper.display(),
        work.display()
    );
    // In a user namespace overlay keeps its own attributes as user.*
    // xattrs (kernel 5.11 and later), and makes no redirects: it refuses
    // redirect_dir=off there, as it is already off.
    if rootless {
        o.push_str(",userxattr");
    }
    // The build reads the upper dir with layer-diff --upper: renamed
    // directories and metadata-only copies would hide changes from it, and
    // the inode index is of no use to a throwaway mount.
    for (param, opt) in [
        ("index", ",index=off"),
        ("redirect_dir", ",redirect_dir=off"),
        ("metacopy", ",metacopy=off"),
    ] {
        if rootless && param == "redirect_dir" {
            continue;
        }
        if sys.overlay_param(param) {
            o.push_str(opt);
        }
    }
    o
}

fn attr_words(attr: u64) -> &'static str {
    match (attr & ATTR_RDONLY != 0, attr & ATTR_NODEV != 0) {
        (true, true) => "read-only and nodev",
        (true, false) => "read-only",
        _ => "nodev",
    }
}

/// A bind remount with `flags`; refused (EPERM) because it would clear a
/// flag the kernel locks on mounts from a more privileged namespace
/// (nosuid, nodev, noexec, rdonly, the atime flags), it is tried again
/// with the mount's own flags kept, as runc does rootless.
fn remount(sys: &dyn Syscall, target: Loc, flags: libc::c_ulong) -> Result<(), SysError> {
    let flags = libc::MS_BIND | libc::MS_REMOUNT | flags;
    match sys.mount(None, target, None, flags, None) {
        Err(e) if e.errno() == Some(libc::EPERM) => {
            let locked = sys.mount_flags(target);
            sys.mount(None, target, None, flags | locked, None)
        }
        r => r,
    }
}

/// A mount's options as mount(2) takes them: flags, a propagation
/// change (made by a call of its own) and the filesystem's data.
pub(crate) struct MountOptions<'a> {
    flags: libc::c_ulong,
    propagation: libc::c_ulong,
    data: Vec<&'a str>,
}

impl<'a> MountOptions<'a> {
    pub(crate) fn parse(options: &'a str) -> MountOptions<'a> {
        let mut o = MountOptions {
            flags: 0,
            propagation: 0,
            data: Vec::new(),
        };
        for w in options.split(',').filter(|w| !w.is_empty()) {
            match w {
                "shared" => o.propagation = libc::MS_SHARED,
                "rshared" => o.propagation = libc::MS_SHARED | libc::MS_REC,
                "slave" => o.propagation = libc::MS_SLAVE,
                "rslave" => o.propagation = libc::MS_SLAVE | libc::MS_REC,
                "private" => o.propagation = libc::MS_PRIVATE,
                "rprivate" => o.propagation = libc::MS_PRIVATE | libc::MS_REC,
                "unbindable" => o.propagation = libc::MS_UNBINDABLE,
                "runbindable" => o.propagation = libc::MS_UNBINDABLE | libc::MS_REC,
                "nosuid" => o.flags |= libc::MS_NOSUID,
                "nodev" => o.flags |= libc::MS_NODEV,
                // Device nodes work only in the /dev we make: a mount
                // asked for with `dev` stays nodev unless the container is
                // privileged (Docker's device cgroup would refuse their
                // opening all the same).
                "dev" => {}
                "noexec" => o.flags |= libc::MS_NOEXEC,
                "ro" => o.flags |= libc::MS_RDONLY,
                "strictatime" => o.flags |= libc::MS_STRICTATIME,
                "noatime" => o.flags |= libc::MS_NOATIME,
                "nodiratime" => o.flags |= libc::MS_NODIRATIME,
                // The defaults a spec's list may repeat, and what says
                // the mount is a bind.
                "rw" | "relatime" | "suid" | "exec" | "bind" | "rbind" => {}
                w => o.data.push(w),
            }
        }
        o
    }

    /// The propagation change, if one was asked for.
    fn propagate(&self, sys: &dyn Syscall, root: &At, target: &str) -> io::Result<()> {
        if self.propagation == 0 {
            return Ok(());
        }
        let now = sys.open(root, target, Open::Existing)?;
        sys.mount(None, Loc::At(&now), None, self.propagation, None)
            .or_else(sys_ctx(|| format!("set the propagation of {target}")))
    }
}

/// A bind mount of a host path (a volume, or a bundle's bind) at `target`
/// in the root: read-only and nodev all the way down where asked.
struct Bind<'a> {
    target: &'a str,
    source: &'a Path,
    read_only: bool,
    recursive: bool,
    options: &'a str,
}

impl Bind<'_> {
    fn mount(&self, sys: &dyn Syscall, root: &At, nodev: libc::c_ulong) -> io::Result<()> {
        let target = self.target;
        let how = if self.source.is_dir() {
            Open::Dir
        } else {
            Open::File
        };
        let point = sys.open(root, target, how).or_else(point_ctx(target))?;
        let rec = if self.recursive { libc::MS_REC } else { 0 };
        let source = Loc::Path(self.source);
        sys.mount(
            Some(source),
            Loc::At(&point),
            None,
            libc::MS_BIND | rec,
            None,
        )?;
        let o = MountOptions::parse(self.options);
        let ro = if self.read_only { libc::MS_RDONLY } else { 0 };
        let flags = o.flags | ro | nodev;
        if flags != 0 {
            let now = sys.open(root, target, Open::Existing)?;
            remount(sys, Loc::At(&now), flags).or_else(sys_ctx(|| format!("remount {target}")))?;
            // And every mount the source has below it, as Docker 25 makes :ro
            // recursive: a tmpfs under a volume's source must neither open
            // devices nor take writes through :ro.
            let mut attr = 0;
            if flags & libc::MS_RDONLY != 0 {
                attr |= ATTR_RDONLY;
            }
            if nodev != 0 {
                attr |= ATTR_NODEV;
            }
            if attr != 0 && self.recursive {
                match sys.set_attr_recursive(&now, attr) {
                    Err(e) if e.errno() == Some(libc::ENOSYS) => {}
                    r => r.or_else(sys_ctx(|| {
                        format!("make the mounts below {target} {}", attr_words(attr))
                    }))?,
                }
            }
        }
        o.propagate(sys, root, target)
    }
}

/// Assembles the root at the plan's mountpoint and moves into it, every
/// call through `sys`.
pub fn setup(
    sys: &dyn Syscall,
    plan: &Plan,
    root_mounted: impl FnOnce() -> io::Result<()>,
) -> io::Result<()> {
    let host_ns = plan.host_namespaces & libc::CLONE_NEWNS != 0;
    let slash = Loc::Path(Path::new("/"));
    if !host_ns {
        sys.mount(None, slash, None, libc::MS_REC | libc::MS_PRIVATE, None)
            .or_else(sys_ctx(|| "make / private".into()))?;
    }
    // Device nodes work only where we put them: every other mount is
    // nodev, so a node made with CAP_MKNOD (a host disk, say) cannot be
    // opened. This is the policy Docker's device cgroup enforces, without
    // needing the devices controller (v1) or a BPF program (v2).
    let nodev = if plan.privileged { 0 } else { libc::MS_NODEV };
    mount_root(sys, plan, nodev)?;
    root_mounted().or_else(ctx(|| "say the root is mounted".into()))?;
    let mp = Loc::Path(&plan.mountpoint);
    if host_ns {
        // Nothing mounted under the root reaches the host's other mounts
        // (the bundle's directory the root is bound from, say).
        sys.mount(None, mp, None, libc::MS_REC | libc::MS_PRIVATE, None)
            .or_else(sys_ctx(|| "make the root private".into()))?;
    }
    let root = sys.open_dir(&plan.mountpoint)?;
    sys.open(&root, &plan.cwd, Open::Dir)
        .or_else(sys_ctx(|| "create the working directory".into()))?;

    standard_mounts(sys, plan, &root)?;

    for (target, host) in &plan.etc {
        let fd = sys.open(&root, target, Open::File)?;
        sys.mount(
            Some(Loc::Path(host)),
            Loc::At(&fd),
            None,
            libc::MS_BIND,
            None,
        )?;
    }

    user_mounts(sys, plan, &root, nodev)?;

    // In the container's namespaces, on the host's root still.
    let hooks = &plan.hooks;
    if !hooks.create_container.is_empty() {
        let state = hooks.identity.state("creating");
        crate::hooks::run("createContainer", &hooks.create_container, &state)
            .map_err(io::Error::other)?;
    }
    enter_root(sys, plan, &root, host_ns)?;
    drop(root);
    if let Some(flags) = plan.rootfs_propagation {
        sys.mount(None, slash, None, flags, None)
            .or_else(sys_ctx(|| {
                "set the root's propagation (linux.rootfsPropagation)".into()
            }))?;
    }

    if plan.read_only {
        remount(sys, slash, libc::MS_RDONLY)
            .or_else(sys_ctx(|| "make the root read-only".into()))?;
    }
    // Before /proc/sys goes read-only; the keys were checked to be the
    // container's own namespaces'.
    for (key, value) in &plan.sysctls {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        sys.write(Path::new(&path), value)
            .or_else(sys_ctx(|| format!("set the sysctl {key}")))?;
    }
    if !plan.privileged {
        mask_paths(sys, &plan.masked, &plan.readonly)?;
    }
    Ok(())
}

/// The root at its mount point: the overlay of the image's layers, or
/// the directory bound there. The one place a root is mounted: also for
/// the spec container-run hands to another runtime.
pub(crate) fn mount_root(sys: &dyn Syscall, plan: &Plan, nodev: libc::c_ulong) -> io::Result<()> {
    let mp = Loc::Path(&plan.mountpoint);
    match &plan.root {
        Root::Overlay {
            lowers_dir,
            lowers,
            upper,
            work,
        } => {
            // Lower dirs are named relative to their directory, so that many
            // layers fit in the one page mount options may take.
            sys.chdir(lowers_dir)?;
            let opts = overlay_options(sys, lowers, upper, work, plan.rootless);
            sys.mount(
                Some(Loc::Name("overlay")),
                mp,
                Some("overlay"),
                nodev,
                Some(&opts),
            )?;
        }
        Root::Bind(dir) => {
            sys.mount(
                Some(Loc::Path(dir)),
                mp,
                None,
                libc::MS_BIND | libc::MS_REC,
                None,
            )?;
            if nodev != 0 {
                remount(sys, mp, nodev).or_else(sys_ctx(|| "make the root nodev".into()))?;
            }
        }
    }
    Ok(())
}

/// /proc, /dev (with the devices granted and the spec's nodes) and /sys,
/// in the order of runc's default spec.
fn standard_mounts(sys: &dyn Syscall, plan: &Plan, root: &At) -> io::Result<()> {
    let nosuid_nodev_noexec = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    let proc_ = sys.open(root, "/proc", Open::Dir)?;
    let name = |n| Some(Loc::Name(n));
    sys.mount(
        name("proc"),
        Loc::At(&proc_),
        Some("proc"),
        nosuid_nodev_noexec,
        None,
    )?;

    // /dev before /sys: the order of runc's default spec, which runtime
    // spec tests read back from mountinfo.
    // In a user namespace no node can be made: the host's are bound.
    let userns = plan.rootless || plan.userns.is_some();
    let dev = crate::dev::Dev {
        sys,
        root,
        shm_size: plan.shm_size.unwrap_or(crate::dev::SHM_SIZE),
    };
    dev.setup(plan.privileged, userns)?;
    dev.grant(&plan.devices)?;
    dev.make_nodes(&plan.spec_nodes, userns)?;

    let sys_dir = sys.open(root, "/sys", Open::Dir)?;
    let ro = if plan.privileged { 0 } else { libc::MS_RDONLY };
    let flags = nosuid_nodev_noexec | ro;
    match sys.mount(name("sysfs"), Loc::At(&sys_dir), Some("sysfs"), flags, None) {
        Ok(()) => {}
        // A host network namespace as a non-init user cannot mount sysfs:
        // bind the host's instead, as runc does.
        Err(e) if plan.network == Network::Host && e.errno() == Some(libc::EPERM) => {
            let host_sys = Some(Loc::Path(Path::new("/sys")));
            sys.mount(
                host_sys,
                Loc::At(&sys_dir),
                None,
                libc::MS_BIND | libc::MS_REC,
                None,
            )?;
        }
        Err(e) => return Err(e.into()),
    }
    if sys.cgroup2() {
        let cg = sys.open(root, "/sys/fs/cgroup", Open::Dir)?;
        sys.mount(name("cgroup2"), Loc::At(&cg), Some("cgroup2"), flags, None)?;
    }
    Ok(())
}

/// --volume and --tmpfs, or a spec's mounts in the spec's order.
fn user_mounts(sys: &dyn Syscall, plan: &Plan, root: &At, nodev: libc::c_ulong) -> io::Result<()> {
    let mut user_mounts: Vec<_> = plan.mounts.iter().collect();
    if !plan.mounts_in_order {
        // Parents before children, whatever the order on the command line.
        user_mounts.sort_by_key(|m| m.target.split('/').filter(|c| !c.is_empty()).count());
    }
    for m in user_mounts {
        match &m.kind {
            MountKind::Bind {
                source,
                read_only,
                recursive,
                options,
            } => Bind {
                target: &m.target,
                source,
                read_only: *read_only,
                recursive: *recursive,
                options,
            }
            .mount(sys, root, nodev)?,
            MountKind::Tmpfs { options } => {
                let target = sys
                    .open(root, &m.target, Open::Dir)
                    .or_else(point_ctx(&m.target))?;
                let o = MountOptions::parse(options);
                let data = o.data.join(",");
                let tmpfs = Some(Loc::Name("tmpfs"));
                sys.mount(
                    tmpfs,
                    Loc::At(&target),
                    Some("tmpfs"),
                    o.flags | nodev,
                    Some(&data),
                )?;
                o.propagate(sys, root, &m.target)?;
            }
        }
    }
    Ok(())
}

/// Makes `root` the root: pivot_root, or chroot in the host's mount
/// namespace, or with --no-pivot the root moved over /.
fn enter_root(sys: &dyn Syscall, plan: &Plan, root: &At, host_ns: bool) -> io::Result<()> {
    if host_ns {
        // The host's mount namespace: pivot_root would move every
        // process's root; chroot moves ours, as runc does then.
        crate::moveroot::chroot(sys, root)
    } else if plan.no_pivot {
        crate::moveroot::move_root(sys, root, &plan.mountpoint)
    } else {
        pivot(sys, root)
    }
}

/// pivot_root into `root` with the old root stacked on it and detached,
/// as runc does: no directory for the old root is needed in the image.
fn pivot(sys: &dyn Syscall, root: &At) -> io::Result<()> {
    let here = Loc::Path(Path::new("."));
    sys.fchdir(root)?;
    sys.pivot_root_here()?;
    sys.mount(None, here, None, libc::MS_SLAVE | libc::MS_REC, None)
        .or_else(sys_ctx(|| "make the old root a slave".into()))?;
    sys.umount(here, libc::MNT_DETACH)
        .or_else(sys_ctx(|| "detach the old root".into()))?;
    Ok(sys.chdir(Path::new("/"))?)
}

/// Masked paths get /dev/null (files) or an empty read-only tmpfs
/// (directories); read-only paths are bound onto themselves read-only.
fn mask_paths(sys: &dyn Syscall, masked: &[String], readonly: &[String]) -> io::Result<()> {
    let root = sys.open_dir(Path::new("/"))?;
    let null = sys.open(&root, "/dev/null", Open::Existing)?;
    let existing = |path: &str| match sys.open(&root, path, Open::Existing) {
        Ok(at) => Ok(Some(at)),
        Err(e) if e.errno() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    };
    for path in masked {
        let Some(at) = existing(path)? else { continue };
        if sys.is_dir(&at)? {
            let tmpfs = Some(Loc::Name("tmpfs"));
            sys.mount(tmpfs, Loc::At(&at), Some("tmpfs"), libc::MS_RDONLY, None)
        } else {
            sys.mount(
                Some(Loc::At(&null)),
                Loc::At(&at),
                None,
                libc::MS_BIND,
                None,
            )
        }
        .or_else(sys_ctx(|| format!("mask {path}")))?;
    }
    for path in readonly {
        let Some(at) = existing(path)? else { continue };
        sys.mount(
            Some(Loc::At(&at)),
            Loc::At(&at),
            None,
            libc::MS_BIND | libc::MS_REC,
            None,
        )
        .or_else(sys_ctx(|| format!("bind {path}")))?;
        let now = sys.open(&root, path, Open::Existing)?;
        let flags =
            libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_REC;
        remount(sys, Loc::At(&now), flags).or_else(sys_ctx(|| format!("make {path} read-only")))?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "mounts_tests.rs"]
pub(crate) mod tests;
