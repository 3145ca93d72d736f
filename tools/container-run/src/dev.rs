//! A container's /dev: a tmpfs of ours with the standard device nodes
//! (made, or the host's bound where they cannot be), the usual symlinks,
//! and a devpts, shm and mqueue of the container's own.

use crate::config::Device;
use crate::mounts::ctx;
use slipway_common::container::sys::{At, Loc, Open, Syscall};
use std::io;
use std::os::fd::OwnedFd;
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

/// The root a /dev is made in, and the seam it is made through.
pub struct Dev<'a> {
    pub sys: &'a dyn Syscall,
    pub root: &'a At,
    /// The size of /dev/shm, in bytes.
    pub shm_size: u64,
}

/// /dev/shm's size when none is asked for: Docker's.
pub const SHM_SIZE: u64 = 64 << 20;

/// The host's node `host` as an O_PATH reference, which does not open
/// the device (the host's /dev/tty cannot be opened without a terminal),
/// if it is the device (`block` or char, `rdev`) it should be.
fn host_node(
    host: &Path,
    extra_flags: libc::c_int,
    block: bool,
    rdev: libc::dev_t,
) -> io::Result<Option<At>> {
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
    let at = At::new(OwnedFd::from(src), format!("the host's {}", host.display()));
    Ok((is_kind && meta.rdev() as libc::dev_t == rdev).then_some(at))
}

impl Dev<'_> {
    /// A fresh /dev: a tmpfs of ours with the standard nodes, so nothing in
    /// the image can stand in for /dev/null while masked paths use it.
    /// Rootless, no node can be made (mknod needs the host's CAP_MKNOD): the
    /// host's are bound, those of --privileged as far as they can be.
    pub fn setup(&self, privileged: bool, rootless: bool) -> io::Result<()> {
        let sys = self.sys;
        let dev = sys.open(self.root, "/dev", Open::Dir)?;
        let nodev = if privileged { 0 } else { libc::MS_NODEV };
        let flags = libc::MS_NOSUID | libc::MS_STRICTATIME | nodev;
        let tmpfs = Some(Loc::Name("tmpfs"));
        sys.mount(
            tmpfs,
            Loc::At(&dev),
            Some("tmpfs"),
            flags,
            Some("mode=755,size=65536k"),
        )?;
        let d = sys.open(self.root, "/dev", Open::Existing)?;
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
            let optional = !DEVICES.iter().any(|(d, _, _)| *d == name);
            if privileged && !rootless {
                sys.mknod(&d, &name, kind | 0o666, rdev)?;
                // The umask must not narrow them.
                sys.chmod(&d, &name, 0o666)?;
                continue;
            }
            // The host's node, bound over an empty file: the bind mount keeps
            // the host /dev's permission to open devices, our nodev /dev not.
            let host = format!("/dev/{name}");
            match self.bind_device(&host, kind, rdev) {
                // A host device we may not bind is left out, as podman does.
                Err(_) if optional => {
                    let _ = sys.unlink(&d, &name);
                }
                other => other?,
            }
        }
        self.symlinks_and_filesystems(&d, rootless)
    }

    /// Binds the node `src` refers to over the file `target`.
    fn bind_node(&self, src: &At, target: &At) -> io::Result<()> {
        Ok(self.sys.mount(
            Some(Loc::At(src)),
            Loc::At(target),
            None,
            libc::MS_BIND,
            None,
        )?)
    }

    /// Binds the host's device node `path` at the same path in the
    /// container, after checking it is the device it should be.
    fn bind_device(&self, path: &str, kind: libc::mode_t, rdev: libc::dev_t) -> io::Result<()> {
        let block = kind == libc::S_IFBLK;
        let src = host_node(Path::new(path), libc::O_NOFOLLOW, block, rdev)?.ok_or_else(|| {
            io::Error::other(format!("the host's {path} is not the device it should be"))
        })?;
        let target = self.sys.open(self.root, path, Open::File)?;
        self.bind_node(&src, &target)
    }

    /// The devices --device gives: the host's node bound at the container's
    /// path (on a nodev /dev only a bind keeps it usable), checked to be
    /// still the node that was granted; the cgroup rule lets it be opened.
    pub fn grant(&self, devices: &[Device]) -> io::Result<()> {
        for d in devices {
            let host = d.host.display().to_string();
            let src = host_node(&d.host, 0, d.kind == 'b', d.rdev)?.ok_or_else(|| {
                io::Error::other(format!(
                    "--device {host}: no longer the device it was when the container was made"
                ))
            })?;
            let target = self.sys.open(self.root, &d.target, Open::File)?;
            self.bind_node(&src, &target)?;
        }
        Ok(())
    }

    /// A spec's linux.devices: each node made at its path with its mode and
    /// owner (one our /dev already has is left as it is). Under a nodev /dev
    /// a node is there but opens only where the host's is bound; the cgroup
    /// rules of the spec decide the rest.
    pub fn make_nodes(&self, nodes: &[crate::bundle::Node], userns: bool) -> io::Result<()> {
        let sys = self.sys;
        for n in nodes {
            if userns && n.kind != libc::S_IFIFO {
                // As runc in a user namespace: the host's node at that path,
                // bound (it must be the device the spec names).
                self.bind_device(&n.path, n.kind, n.rdev)?;
                continue;
            }
            let (parent, name) = n.path.rsplit_once('/').unwrap_or(("/", &n.path));
            let parent = if parent.is_empty() { "/" } else { parent };
            let dir = sys.open(self.root, parent, Open::Dir)?;
            match sys.mknod(&dir, name, n.kind | (n.mode & 0o777), n.rdev) {
                Err(e) if e.errno() == Some(libc::EEXIST) => continue,
                r => r?,
            }
            sys.chown(&dir, name, n.uid, n.gid)?;
            // The umask must not narrow the mode.
            sys.chmod(&dir, name, n.mode)?;
        }
        Ok(())
    }

    /// /dev's symlinks, its devpts, shm and mqueue.
    fn symlinks_and_filesystems(&self, d: &At, rootless: bool) -> io::Result<()> {
        let sys = self.sys;
        for (name, target) in [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
            ("ptmx", "pts/ptmx"),
            ("core", "/proc/kcore"),
        ] {
            sys.symlink(d, name, target)?;
        }
        // The tty group owns the ptys, where the user namespace has it (a
        // user without a subgid range has only its own group, as 0).
        let pts = if rootless && !slipway_common::userns::gid_mapped(5) {
            "newinstance,ptmxmode=0666,mode=0620"
        } else {
            "newinstance,ptmxmode=0666,mode=0620,gid=5"
        };
        let nosuid_nodev_noexec = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
        let shm = format!("mode=1777,size={}k", self.shm_size / 1024);
        // (source, type): shm's source is "shm", as Docker and runc name it.
        for (name, (source, fstype), flags, data) in [
            (
                "pts",
                ("devpts", "devpts"),
                libc::MS_NOSUID | libc::MS_NOEXEC,
                pts,
            ),
            ("shm", ("shm", "tmpfs"), nosuid_nodev_noexec, shm.as_str()),
            ("mqueue", ("mqueue", "mqueue"), nosuid_nodev_noexec, ""),
        ] {
            sys.mkdir(d, name, 0o755)?;
            let at = sys.open(self.root, &format!("/dev/{name}"), Open::Existing)?;
            sys.mount(
                Some(Loc::Name(source)),
                Loc::At(&at),
                Some(fstype),
                flags,
                Some(data),
            )?;
        }
        Ok(())
    }
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
