//! A container's /dev: a tmpfs of ours with the standard device nodes
//! (made, or the host's bound where they cannot be), the usual symlinks,
//! and a devpts, shm and mqueue of the container's own.

use crate::config::Device;
use crate::mounts::{c, ctx, fd_path, mkdir_all, open_path};
use slipway_common::mount::mount;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

/// The device nodes of a container's /dev: name, major, minor.
const DEVICES: &[(&str, u32, u32)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// A fresh /dev: a tmpfs of ours with the standard nodes, so nothing in
/// the image can stand in for /dev/null while masked paths use it.
/// Rootless, no node can be made (mknod needs the host's CAP_MKNOD): the
/// host's are bound, those of --privileged as far as they can be.
pub fn setup(r: RawFd, privileged: bool, rootless: bool) -> io::Result<()> {
    let dev = mkdir_all(r, "/dev").or_else(ctx(|| "create /dev".into()))?;
    let nodev = if privileged { 0 } else { libc::MS_NODEV };
    mount(
        Some(c"tmpfs"),
        &fd_path(&dev),
        Some(c"tmpfs"),
        libc::MS_NOSUID | libc::MS_STRICTATIME | nodev,
        Some(c"mode=755,size=65536k"),
    )
    .or_else(ctx(|| "mount /dev".into()))?;
    let dev = open_path(r, "/dev")?;
    // SAFETY: a valid path descriptor, reopened as a directory.
    let d = unsafe {
        libc::openat(
            dev.as_raw_fd(),
            c".".as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if d < 0 {
        return Err(io::Error::last_os_error()).or_else(ctx(|| "open /dev".into()));
    }
    // SAFETY: a descriptor we just opened.
    let d = unsafe { OwnedFd::from_raw_fd(d) };
    let mut nodes: Vec<(String, libc::mode_t, libc::dev_t)> = DEVICES
        .iter()
        .map(|(n, ma, mi)| (n.to_string(), libc::S_IFCHR, libc::makedev(*ma, *mi)))
        .collect();
    if privileged {
        for (name, mode, rdev) in host_devices() {
            // ptmx is the devpts instance's, through the symlink below.
            if name != "ptmx" && !nodes.iter().any(|(n, _, _)| *n == name) {
                nodes.push((name, mode, rdev));
            }
        }
    }
    for (name, kind, rdev) in nodes {
        let n = c(&name);
        let optional = !DEVICES.iter().any(|(d, _, _)| *d == name);
        if privileged && !rootless {
            // SAFETY: valid descriptor and C string.
            let rc = unsafe { libc::mknodat(d.as_raw_fd(), n.as_ptr(), kind | 0o666, rdev) };
            if rc < 0 {
                return Err(io::Error::last_os_error())
                    .or_else(ctx(|| format!("create /dev/{name}")));
            }
            // The umask must not narrow them.
            // SAFETY: valid descriptor and C string.
            unsafe { libc::fchmodat(d.as_raw_fd(), n.as_ptr(), 0o666, 0) };
            continue;
        }
        // The host's node, bound over an empty file: the bind mount keeps
        // the host /dev's permission to open devices, our nodev /dev not.
        let host = format!("/dev/{name}");
        match bind_device(r, &d, &n, &host, kind, rdev) {
            // A host device we may not bind is left out, as podman does.
            Err(_) if optional => {
                // SAFETY: valid descriptor and C string.
                unsafe { libc::unlinkat(d.as_raw_fd(), n.as_ptr(), 0) };
            }
            other => other?,
        }
    }
    symlinks_and_filesystems(r, &d, rootless)
}

/// The host's node `host` as an O_PATH reference, which does not open
/// the device (the host's /dev/tty cannot be opened without a terminal),
/// if it is the device (`block` or char, `rdev`) it should be.
fn host_node(
    host: &Path,
    extra_flags: libc::c_int,
    block: bool,
    rdev: libc::dev_t,
) -> io::Result<Option<std::fs::File>> {
    let src = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | extra_flags)
        .open(host)
        .or_else(ctx(|| format!("open the host's {}", host.display())))?;
    let meta = src.metadata()?;
    let ft = meta.file_type();
    let is_kind = if block {
        ft.is_block_device()
    } else {
        ft.is_char_device()
    };
    Ok((is_kind && meta.rdev() as libc::dev_t == rdev).then_some(src))
}

/// Binds the node `src` refers to over the file `target`.
fn bind_node(src: &std::fs::File, target: &OwnedFd, what: &str) -> io::Result<()> {
    let src_path = c(&format!("/proc/self/fd/{}", src.as_raw_fd()));
    mount(Some(&src_path), &fd_path(target), None, libc::MS_BIND, None)
        .or_else(ctx(|| format!("mount {what}")))
}

/// Binds the host's device node `host` at `/dev/NAME`, after checking it
/// is the device it should be.
fn bind_device(
    r: RawFd,
    d: &OwnedFd,
    n: &CString,
    host: &str,
    kind: libc::mode_t,
    rdev: libc::dev_t,
) -> io::Result<()> {
    let src = host_node(
        Path::new(host),
        libc::O_NOFOLLOW,
        kind == libc::S_IFBLK,
        rdev,
    )?
    .ok_or_else(|| io::Error::other(format!("the host's {host} is not the device it should be")))?;
    // SAFETY: valid descriptor and C string.
    let fd = unsafe {
        libc::openat(
            d.as_raw_fd(),
            n.as_ptr(),
            libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_CLOEXEC,
            0o666,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error()).or_else(ctx(|| format!("create {host}")));
    }
    // SAFETY: a descriptor we just opened.
    drop(unsafe { OwnedFd::from_raw_fd(fd) });
    bind_node(&src, &open_path(r, host)?, host)
}

/// The devices --device gives: the host's node bound at the container's
/// path (on a nodev /dev only a bind keeps it usable), checked to be
/// still the node that was granted; the cgroup rule lets it be opened.
pub fn grant(r: RawFd, devices: &[Device]) -> io::Result<()> {
    for d in devices {
        let host = d.host.display().to_string();
        let src = host_node(&d.host, 0, d.kind == 'b', d.rdev)?.ok_or_else(|| {
            io::Error::other(format!(
                "--device {host}: no longer the device it was when the container was made"
            ))
        })?;
        let target = crate::mounts::touch(r, &d.target)
            .or_else(ctx(|| format!("create {} for --device", d.target)))?;
        bind_node(&src, &target, &format!("{host} at {}", d.target))?;
    }
    Ok(())
}

/// A spec's linux.devices: each node made at its path with its mode and
/// owner (one our /dev already has is left as it is). Under a nodev /dev
/// a node is there but opens only where the host's is bound; the cgroup
/// rules of the spec decide the rest.
pub fn make_nodes(r: RawFd, nodes: &[crate::bundle::Node], userns: bool) -> io::Result<()> {
    for n in nodes {
        let (parent, name) = n.path.rsplit_once('/').unwrap_or(("/", &n.path));
        let parent = if parent.is_empty() { "/" } else { parent };
        let dir = mkdir_all(r, parent).or_else(ctx(|| format!("create {parent}")))?;
        let cname = c(name);
        if userns && n.kind != libc::S_IFIFO {
            // As runc in a user namespace: the host's node at that path,
            // bound (it must be the device the spec names).
            bind_device(r, &dir, &cname, &n.path, n.kind, n.rdev)?;
            continue;
        }
        // SAFETY: valid descriptor and C string.
        let rc = unsafe {
            libc::mknodat(
                dir.as_raw_fd(),
                cname.as_ptr(),
                n.kind | (n.mode & 0o777),
                n.rdev,
            )
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EEXIST) {
                continue;
            }
            return Err(e).or_else(ctx(|| format!("create the device {}", n.path)));
        }
        // SAFETY: valid descriptor and C string.
        let rc = unsafe {
            libc::fchownat(
                dir.as_raw_fd(),
                cname.as_ptr(),
                n.uid,
                n.gid,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error()).or_else(ctx(|| format!("chown {}", n.path)));
        }
        // The umask must not narrow the mode.
        // SAFETY: valid descriptor and C string.
        if unsafe { libc::fchmodat(dir.as_raw_fd(), cname.as_ptr(), n.mode, 0) } < 0 {
            return Err(io::Error::last_os_error()).or_else(ctx(|| format!("chmod {}", n.path)));
        }
    }
    Ok(())
}

/// /dev's symlinks, its devpts, shm and mqueue.
fn symlinks_and_filesystems(r: RawFd, d: &OwnedFd, rootless: bool) -> io::Result<()> {
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
        ("core", "/proc/kcore"),
    ] {
        let (n, t) = (c(name), c(target));
        // SAFETY: valid C strings and descriptor.
        if unsafe { libc::symlinkat(t.as_ptr(), d.as_raw_fd(), n.as_ptr()) } < 0 {
            return Err(io::Error::last_os_error()).or_else(ctx(|| format!("create /dev/{name}")));
        }
    }
    // The tty group owns the ptys, where the user namespace has it (a
    // user without a subgid range has only its own group, as 0).
    let pts = if rootless && !slipway_common::userns::gid_mapped(5) {
        c"newinstance,ptmxmode=0666,mode=0620"
    } else {
        c"newinstance,ptmxmode=0666,mode=0620,gid=5"
    };
    // (source, type): shm's source is "shm", as Docker and runc name it.
    for (name, (source, fstype), flags, data) in [
        (
            "pts",
            (c"devpts", c"devpts"),
            libc::MS_NOSUID | libc::MS_NOEXEC,
            pts,
        ),
        (
            "shm",
            (c"shm", c"tmpfs"),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            c"mode=1777,size=65536k",
        ),
        (
            "mqueue",
            (c"mqueue", c"mqueue"),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            c"",
        ),
    ] {
        let n = c(name);
        // SAFETY: valid descriptor and C string.
        if unsafe { libc::mkdirat(d.as_raw_fd(), n.as_ptr(), 0o755) } < 0 {
            return Err(io::Error::last_os_error()).or_else(ctx(|| format!("create /dev/{name}")));
        }
        let fd = open_path(r, &format!("/dev/{name}"))?;
        mount(Some(source), &fd_path(&fd), Some(fstype), flags, Some(data))
            .or_else(ctx(|| format!("mount /dev/{name}")))?;
    }
    Ok(())
}

/// The host's device nodes at the top of /dev, for --privileged.
fn host_devices() -> Vec<(String, libc::mode_t, libc::dev_t)> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/dev") {
        for e in rd.flatten() {
            let Ok(m) = e.path().symlink_metadata() else {
                continue;
            };
            let ft = m.file_type();
            let kind = if ft.is_char_device() {
                libc::S_IFCHR
            } else if ft.is_block_device() {
                libc::S_IFBLK
            } else {
                continue;
            };
            if let Some(name) = e.file_name().to_str() {
                out.push((name.to_string(), kind, m.rdev() as libc::dev_t));
            }
        }
    }
    out
}
