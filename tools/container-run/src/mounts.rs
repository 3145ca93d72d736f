//! The container's filesystem, made inside its new mount namespace: the
//! root (overlayfs or a bind), /proc, /sys, /dev (see dev.rs), the /etc
//! files, the user's mounts, then pivot_root and the masked and read-only
//! paths.
//!
//! Every mount target inside the root is opened with openat2
//! RESOLVE_IN_ROOT and mounted on through /proc/self/fd, so a symlink in
//! the image cannot send a mount to a host path.

use crate::config::{MountKind, Network, Plan, Root};
use slipway_common::apply::{mkdir_all_in_root, openat_in_root};
use slipway_common::container::cgroups::{hierarchy, Hierarchy};
use slipway_common::mount::mount;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
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

pub(crate) fn c(s: &str) -> CString {
    CString::new(s).expect("no NUL in a mount argument")
}

pub(crate) fn ctx<T>(what: impl FnOnce() -> String) -> impl FnOnce(io::Error) -> io::Result<T> {
    move |e| Err(io::Error::new(e.kind(), format!("{}: {e}", what())))
}

/// For a mount point made inside the root: ELOOP there is a symlink on
/// its path that leads out of the root (through a /proc magic link,
/// which resolving in the root refuses) or that loops, not a mystery.
fn point_ctx<T>(target: &str) -> impl FnOnce(io::Error) -> io::Result<T> + '_ {
    move |e| {
        let why = if e.raw_os_error() == Some(libc::ELOOP) {
            "a symlink on its path leads out of the container's root, or loops".to_string()
        } else {
            e.to_string()
        };
        Err(io::Error::new(
            e.kind(),
            format!("create mount point {target}: {why}"),
        ))
    }
}

/// The path that names an open descriptor, for mount(2).
pub(crate) fn fd_path(fd: &OwnedFd) -> CString {
    c(&format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

pub(crate) fn open_path(root: RawFd, path: &str) -> io::Result<OwnedFd> {
    openat_in_root(root, path.as_bytes(), libc::O_PATH, 0)
}

/// Opens directory `path` inside the root, creating what is missing; a
/// symlink on the way is followed inside the root, never out of it.
pub(crate) fn mkdir_all(root: RawFd, path: &str) -> io::Result<OwnedFd> {
    mkdir_all_in_root(root, path.as_bytes())
}

/// Opens file `path` inside the root, creating it (and its parents).
pub(crate) fn touch(root: RawFd, path: &str) -> io::Result<OwnedFd> {
    if let Some((parent, _)) = path.trim_end_matches('/').rsplit_once('/') {
        mkdir_all(root, parent)?;
    }
    match open_path(root, path) {
        Ok(fd) => Ok(fd),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            let fd = openat_in_root(
                root,
                path.as_bytes(),
                libc::O_CREAT | libc::O_WRONLY | libc::O_NOFOLLOW,
                0o644,
            )?;
            drop(fd);
            open_path(root, path)
        }
        Err(e) => Err(e),
    }
}

fn is_dir(fd: &OwnedFd) -> io::Result<bool> {
    // SAFETY: stat is plain data written by the kernel.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor and out pointer.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.st_mode & libc::S_IFMT == libc::S_IFDIR)
}

pub(crate) fn overlay_options(
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
        if Path::new("/sys/module/overlay/parameters")
            .join(param)
            .exists()
        {
            o.push_str(opt);
        }
    }
    o
}

/// The flags of the mount at `path` that a remount inside a user
/// namespace must keep: the kernel locks nosuid, nodev, noexec, rdonly
/// and the atime flags of mounts that came from a more privileged
/// namespace.
fn locked_flags(path: &CString) -> libc::c_ulong {
    // SAFETY: statvfs is plain data written by the kernel.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C string and out pointer.
    if unsafe { libc::statvfs(path.as_ptr(), &mut st) } < 0 {
        return 0;
    }
    [
        (libc::ST_RDONLY, libc::MS_RDONLY),
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
    ]
    .into_iter()
    .filter(|(st_flag, _)| st.f_flag & st_flag != 0)
    .fold(0, |acc, (_, ms)| acc | ms)
}

fn attr_words(attr: u64) -> &'static str {
    match (
        attr & slipway_common::mount::ATTR_RDONLY != 0,
        attr & slipway_common::mount::ATTR_NODEV != 0,
    ) {
        (true, true) => "read-only and nodev",
        (true, false) => "read-only",
        _ => "nodev",
    }
}

/// A bind remount with `flags`; refused (EPERM) because it would clear a
/// locked flag, it is tried again with the mount's own flags kept, as runc
/// does rootless.
fn remount(target: &CString, flags: libc::c_ulong) -> io::Result<()> {
    let flags = libc::MS_BIND | libc::MS_REMOUNT | flags;
    match mount(None, target, None, flags, None) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            mount(None, target, None, flags | locked_flags(target), None)
        }
        r => r,
    }
}

/// A mount's options as mount(2) takes them: flags, a propagation
/// change (made by a call of its own) and the filesystem's data.
struct MountOptions<'a> {
    flags: libc::c_ulong,
    propagation: libc::c_ulong,
    data: Vec<&'a str>,
}

impl<'a> MountOptions<'a> {
    fn parse(options: &'a str) -> MountOptions<'a> {
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
    fn propagate(&self, r: RawFd, target: &str) -> io::Result<()> {
        if self.propagation == 0 {
            return Ok(());
        }
        let now = open_path(r, target)?;
        mount(None, &fd_path(&now), None, self.propagation, None)
            .or_else(ctx(|| format!("set the propagation of {target}")))
    }
}

/// A bind mount of a host path (a volume, or a bundle's bind) at `target`
/// in the root `r`: read-only and nodev all the way down where asked.
fn bind_mount(
    r: RawFd,
    target: &str,
    source: &Path,
    read_only: bool,
    recursive: bool,
    options: &str,
    nodev: libc::c_ulong,
) -> io::Result<()> {
    let point = if source.is_dir() {
        mkdir_all(r, target)
    } else {
        touch(r, target)
    }
    .or_else(point_ctx(target))?;
    let src = c(&source.to_string_lossy());
    let rec = if recursive { libc::MS_REC } else { 0 };
    mount(
        Some(&src),
        &fd_path(&point),
        None,
        libc::MS_BIND | rec,
        None,
    )
    .or_else(ctx(|| format!("mount {} at {target}", source.display())))?;
    let o = MountOptions::parse(options);
    let ro = if read_only { libc::MS_RDONLY } else { 0 };
    let flags = o.flags | ro | nodev;
    if flags != 0 {
        let now = open_path(r, target)?;
        remount(&fd_path(&now), flags).or_else(ctx(|| format!("remount {target}")))?;
        // And every mount the source has below it, as Docker 25 makes :ro
        // recursive: a tmpfs under a volume's source must neither open
        // devices nor take writes through :ro.
        let mut attr = 0;
        if flags & libc::MS_RDONLY != 0 {
            attr |= slipway_common::mount::ATTR_RDONLY;
        }
        if nodev != 0 {
            attr |= slipway_common::mount::ATTR_NODEV;
        }
        if attr != 0 && recursive {
            match slipway_common::mount::set_attr_recursive(now.as_raw_fd(), attr) {
                Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {}
                r => r.or_else(ctx(|| {
                    format!("make the mounts below {target} {}", attr_words(attr))
                }))?,
            }
        }
    }
    o.propagate(r, target)
}

/// Assembles the root at the plan's mountpoint and moves into it.
pub fn setup(plan: &Plan, root_mounted: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
    let host_ns = plan.host_namespaces & libc::CLONE_NEWNS != 0;
    if !host_ns {
        mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None)
            .or_else(ctx(|| "make / private".into()))?;
    }
    // Device nodes work only where we put them: every other mount is
    // nodev, so a node made with CAP_MKNOD (a host disk, say) cannot be
    // opened. This is the policy Docker's device cgroup enforces, without
    // needing the devices controller (v1) or a BPF program (v2).
    let nodev = if plan.privileged { 0 } else { libc::MS_NODEV };
    let mp = c(&plan.mountpoint.to_string_lossy());
    mount_root(plan, &mp, nodev)?;
    root_mounted().or_else(ctx(|| "say the root is mounted".into()))?;
    if host_ns {
        // Nothing mounted under the root reaches the host's other mounts
        // (the bundle's directory the root is bound from, say).
        mount(None, &mp, None, libc::MS_REC | libc::MS_PRIVATE, None)
            .or_else(ctx(|| "make the root private".into()))?;
    }
    // SAFETY: valid C string.
    let raw = unsafe {
        libc::open(
            mp.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error()).or_else(ctx(|| "open the root".into()));
    }
    // SAFETY: a descriptor we just opened.
    let root = unsafe { OwnedFd::from_raw_fd(raw) };
    let r = root.as_raw_fd();

    mkdir_all(r, &plan.cwd)
        .or_else(ctx(|| format!("create the working directory {}", plan.cwd)))?;

    standard_mounts(plan, r)?;

    for (target, host) in &plan.etc {
        let fd = touch(r, target).or_else(ctx(|| format!("create {target}")))?;
        let src = c(&host.to_string_lossy());
        mount(Some(&src), &fd_path(&fd), None, libc::MS_BIND, None)
            .or_else(ctx(|| format!("mount {target}")))?;
    }

    user_mounts(plan, r, nodev)?;

    // In the container's namespaces, on the host's root still.
    let hooks = &plan.hooks;
    if !hooks.create_container.is_empty() {
        let state = hooks.identity.state("creating");
        crate::hooks::run("createContainer", &hooks.create_container, &state)
            .map_err(io::Error::other)?;
    }
    enter_root(plan, &root, host_ns)?;
    drop(root);
    if let Some(flags) = plan.rootfs_propagation {
        mount(None, c"/", None, flags, None).or_else(ctx(|| {
            "set the root's propagation (linux.rootfsPropagation)".into()
        }))?;
    }

    if plan.read_only {
        remount(&c("/"), libc::MS_RDONLY).or_else(ctx(|| "make the root read-only".into()))?;
    }
    // Before /proc/sys goes read-only; the keys were checked to be the
    // container's own namespaces'.
    for (key, value) in &plan.sysctls {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        std::fs::write(&path, value).or_else(ctx(|| format!("set the sysctl {key} ({path})")))?;
    }
    if !plan.privileged {
        mask_paths(&plan.masked, &plan.readonly)?;
    }
    Ok(())
}

/// The root at its mount point: the overlay of the image's layers, or
/// the directory bound there.
fn mount_root(plan: &Plan, mp: &CString, nodev: libc::c_ulong) -> io::Result<()> {
    match &plan.root {
        Root::Overlay {
            lowers_dir,
            lowers,
            upper,
            work,
        } => {
            // Lower dirs are named relative to their directory, so that many
            // layers fit in the one page mount options may take.
            std::env::set_current_dir(lowers_dir)
                .or_else(ctx(|| format!("enter {}", lowers_dir.display())))?;
            let opts = c(&overlay_options(lowers, upper, work, plan.rootless));
            mount(Some(c"overlay"), mp, Some(c"overlay"), nodev, Some(&opts))
                .or_else(ctx(|| "mount the overlay root".into()))?;
        }
        Root::Bind(dir) => {
            let src = c(&dir.to_string_lossy());
            mount(Some(&src), mp, None, libc::MS_BIND | libc::MS_REC, None)
                .or_else(ctx(|| format!("bind mount {}", dir.display())))?;
            if nodev != 0 {
                remount(mp, nodev).or_else(ctx(|| format!("remount {} nodev", dir.display())))?;
            }
        }
    }
    Ok(())
}

/// /proc, /dev (with the devices granted and the spec's nodes) and /sys,
/// in the order of runc's default spec.
fn standard_mounts(plan: &Plan, r: RawFd) -> io::Result<()> {
    let nosuid_nodev_noexec = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    let proc_ = mkdir_all(r, "/proc").or_else(ctx(|| "create /proc".into()))?;
    mount(
        Some(c"proc"),
        &fd_path(&proc_),
        Some(c"proc"),
        nosuid_nodev_noexec,
        None,
    )
    .or_else(ctx(|| "mount /proc".into()))?;

    // /dev before /sys: the order of runc's default spec, which runtime
    // spec tests read back from mountinfo.
    // In a user namespace no node can be made: the host's are bound.
    let userns = plan.rootless || plan.userns.is_some();
    crate::dev::setup(r, plan.privileged, userns)?;
    crate::dev::grant(r, &plan.devices)?;
    crate::dev::make_nodes(r, &plan.spec_nodes, userns)?;

    let sys = mkdir_all(r, "/sys").or_else(ctx(|| "create /sys".into()))?;
    let ro = if plan.privileged { 0 } else { libc::MS_RDONLY };
    let sys_result = mount(
        Some(c"sysfs"),
        &fd_path(&sys),
        Some(c"sysfs"),
        nosuid_nodev_noexec | ro,
        None,
    );
    match sys_result {
        Ok(()) => {}
        // A host network namespace as a non-init user cannot mount sysfs:
        // bind the host's instead, as runc does.
        Err(e) if plan.network == Network::Host && e.raw_os_error() == Some(libc::EPERM) => {
            mount(
                Some(c"/sys"),
                &fd_path(&sys),
                None,
                libc::MS_BIND | libc::MS_REC,
                None,
            )
            .or_else(ctx(|| "bind /sys".into()))?;
        }
        Err(e) => return Err(e).or_else(ctx(|| "mount /sys".into())),
    }
    if hierarchy() == Hierarchy::V2 {
        let cg = mkdir_all(r, "/sys/fs/cgroup").or_else(ctx(|| "open /sys/fs/cgroup".into()))?;
        mount(
            Some(c"cgroup2"),
            &fd_path(&cg),
            Some(c"cgroup2"),
            nosuid_nodev_noexec | ro,
            None,
        )
        .or_else(ctx(|| "mount /sys/fs/cgroup".into()))?;
    }

    Ok(())
}

/// --volume and --tmpfs, or a spec's mounts in the spec's order.
fn user_mounts(plan: &Plan, r: RawFd, nodev: libc::c_ulong) -> io::Result<()> {
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
            } => bind_mount(r, &m.target, source, *read_only, *recursive, options, nodev)?,
            MountKind::Tmpfs { options } => {
                let target = mkdir_all(r, &m.target).or_else(point_ctx(&m.target))?;
                let o = MountOptions::parse(options);
                let data = c(&o.data.join(","));
                mount(
                    Some(c"tmpfs"),
                    &fd_path(&target),
                    Some(c"tmpfs"),
                    o.flags | nodev,
                    Some(&data),
                )
                .or_else(ctx(|| format!("mount tmpfs at {}", m.target)))?;
                o.propagate(r, &m.target)?;
            }
        }
    }

    Ok(())
}

/// Makes `root` the root: pivot_root, or chroot in the host's mount
/// namespace, or with --no-pivot the root moved over /.
fn enter_root(plan: &Plan, root: &OwnedFd, host_ns: bool) -> io::Result<()> {
    if host_ns {
        // The host's mount namespace: pivot_root would move every
        // process's root; chroot moves ours, as runc does then.
        crate::moveroot::chroot(root)
    } else if plan.no_pivot {
        crate::moveroot::move_root(root, &plan.mountpoint)
    } else {
        pivot(root)
    }
}

/// pivot_root into `root` with the old root stacked on it and detached,
/// as runc does: no directory for the old root is needed in the image.
fn pivot(root: &OwnedFd) -> io::Result<()> {
    // SAFETY: a valid directory descriptor.
    if unsafe { libc::fchdir(root.as_raw_fd()) } < 0 {
        return Err(io::Error::last_os_error()).or_else(ctx(|| "enter the root".into()));
    }
    // SAFETY: valid C strings.
    if unsafe { libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) } < 0 {
        return Err(io::Error::last_os_error()).or_else(ctx(|| "pivot_root".into()));
    }
    mount(None, c".", None, libc::MS_SLAVE | libc::MS_REC, None)
        .or_else(ctx(|| "make the old root a slave".into()))?;
    slipway_common::mount::umount(c".", libc::MNT_DETACH)
        .or_else(ctx(|| "detach the old root".into()))?;
    std::env::set_current_dir("/").or_else(ctx(|| "enter /".into()))
}

/// Masked paths get /dev/null (files) or an empty read-only tmpfs
/// (directories); read-only paths are bound onto themselves read-only.
fn mask_paths(masked: &[String], readonly: &[String]) -> io::Result<()> {
    // SAFETY: valid C string.
    let raw = unsafe {
        libc::open(
            c"/".as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor we just opened.
    let root = unsafe { OwnedFd::from_raw_fd(raw) };
    let r = root.as_raw_fd();
    let null = open_path(r, "/dev/null")?;
    for path in masked {
        let fd = match open_path(r, path) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(e).or_else(ctx(|| format!("open {path}"))),
        };
        if is_dir(&fd)? {
            mount(
                Some(c"tmpfs"),
                &fd_path(&fd),
                Some(c"tmpfs"),
                libc::MS_RDONLY,
                None,
            )
        } else {
            mount(
                Some(&fd_path(&null)),
                &fd_path(&fd),
                None,
                libc::MS_BIND,
                None,
            )
        }
        .or_else(ctx(|| format!("mask {path}")))?;
    }
    for path in readonly {
        let fd = match open_path(r, path) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(e).or_else(ctx(|| format!("open {path}"))),
        };
        let p = fd_path(&fd);
        mount(Some(&p), &p, None, libc::MS_BIND | libc::MS_REC, None)
            .or_else(ctx(|| format!("bind {path}")))?;
        let now = open_path(r, path)?;
        remount(
            &fd_path(&now),
            libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_REC,
        )
        .or_else(ctx(|| format!("make {path} read-only")))?;
    }
    Ok(())
}
