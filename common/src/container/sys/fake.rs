//! A `Syscall` that makes no call: it writes each one down, as a line a
//! test compares, against a model of the paths in the root, so the mount
//! plan is tested without root or a kernel's mounts.

use super::{flag_words, mount_call, At, Loc, Open, Result, SysError, Syscall};
use crate::mount::MountInfo;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
}

/// The recording seam.
pub struct Recorder {
    calls: RefCell<Vec<String>>,
    tree: RefCell<BTreeMap<String, Kind>>,
    fail: Vec<(String, i32)>,
    cgroup2: bool,
    locked: libc::c_ulong,
    mounts: Vec<MountInfo>,
}

impl Default for Recorder {
    fn default() -> Recorder {
        Recorder::new()
    }
}

/// `/a//b/` as `/a/b`.
fn norm(p: &str) -> String {
    let parts: Vec<&str> = p
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

fn join(dir: &At, name: &str) -> String {
    norm(&format!("{}/{name}", dir.path()))
}

impl Recorder {
    /// A root with nothing in it, on a host with cgroup v1.
    pub fn new() -> Recorder {
        Recorder {
            calls: RefCell::default(),
            tree: RefCell::new([("/".to_string(), Kind::Dir)].into()),
            fail: Vec::new(),
            cgroup2: false,
            locked: 0,
            mounts: Vec::new(),
        }
    }
    /// Directories the image has.
    pub fn dirs(self, paths: &[&str]) -> Recorder {
        for p in paths {
            self.add(&norm(p), Kind::Dir);
        }
        self
    }
    /// Files the image has.
    pub fn files(self, paths: &[&str]) -> Recorder {
        for p in paths {
            self.add(&norm(p), Kind::File);
        }
        self
    }
    pub fn cgroup2(mut self, yes: bool) -> Recorder {
        self.cgroup2 = yes;
        self
    }
    /// The flags the kernel locks on every mount (a user namespace's).
    pub fn locked(mut self, flags: libc::c_ulong) -> Recorder {
        self.locked = flags;
        self
    }
    /// The mount namespace's mounts, as mountinfo gives them.
    pub fn mounts(mut self, mounts: Vec<MountInfo>) -> Recorder {
        self.mounts = mounts;
        self
    }
    /// Every call whose line starts with `prefix` fails with `errno`.
    pub fn failing(mut self, prefix: &str, errno: i32) -> Recorder {
        self.fail.push((prefix.to_string(), errno));
        self
    }
    /// The calls made, one line each.
    pub fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }

    fn add(&self, path: &str, kind: Kind) {
        let mut tree = self.tree.borrow_mut();
        let mut at = String::new();
        for c in path.split('/').filter(|c| !c.is_empty()) {
            tree.entry(if at.is_empty() {
                "/".into()
            } else {
                at.clone()
            })
            .or_insert(Kind::Dir);
            at = format!("{at}/{c}");
        }
        tree.insert(if at.is_empty() { "/".into() } else { at }, kind);
    }

    /// Writes a call down, or fails it as told.
    fn call(&self, line: String, name: String) -> Result<()> {
        if let Some((_, errno)) = self.fail.iter().find(|(p, _)| line.starts_with(p.as_str())) {
            return Err(SysError::new(name, io::Error::from_raw_os_error(*errno)));
        }
        self.calls.borrow_mut().push(line);
        Ok(())
    }

    fn at(path: &str) -> Result<At> {
        let fd: OwnedFd = std::fs::File::open("/dev/null")
            .map_err(|e| SysError::new("open /dev/null", e))?
            .into();
        Ok(At::new(fd, path))
    }
}

impl Syscall for Recorder {
    fn open_dir(&self, path: &Path) -> Result<At> {
        Self::at(&path.display().to_string())
    }

    fn open(&self, _root: &At, path: &str, how: Open) -> Result<At> {
        let p = norm(path);
        let exists = self.tree.borrow().contains_key(&p);
        match how {
            Open::Existing if !exists => {
                return Err(SysError::new(
                    format!("open {p}"),
                    io::Error::from_raw_os_error(libc::ENOENT),
                ))
            }
            Open::Dir if !exists => self.add(&p, Kind::Dir),
            Open::File if !exists => self.add(&p, Kind::File),
            _ => {}
        }
        Self::at(&p)
    }

    fn is_dir(&self, at: &At) -> Result<bool> {
        Ok(self.tree.borrow().get(at.path()) == Some(&Kind::Dir))
    }

    fn mount(
        &self,
        source: Option<Loc>,
        target: Loc,
        fstype: Option<&str>,
        flags: libc::c_ulong,
        data: Option<&str>,
    ) -> Result<()> {
        let mut line = mount_call(source, target, fstype, flags);
        if let Some(t) = fstype {
            line += &format!(" type={t}");
        }
        if flags != 0 {
            line += &format!(" flags={}", flag_words(flags));
        }
        if let Some(d) = data.filter(|d| !d.is_empty()) {
            line += &format!(" data={d}");
        }
        self.call(line, mount_call(source, target, fstype, flags))
    }

    fn umount(&self, target: Loc, flags: libc::c_int) -> Result<()> {
        let detach = if flags & libc::MNT_DETACH != 0 {
            " detach"
        } else {
            ""
        };
        let name = format!("umount {}", target.describe());
        self.call(format!("{name}{detach}"), name)
    }

    fn set_attr_recursive(&self, target: &At, attr: u64) -> Result<()> {
        let name = format!("mount_setattr {}", target.path());
        self.call(format!("{name} attr={attr:#x} recursive"), name)
    }

    fn mount_flags(&self, _target: Loc) -> libc::c_ulong {
        self.locked
    }

    fn fchdir(&self, dir: &At) -> Result<()> {
        let name = format!("chdir {}", dir.path());
        self.call(name.clone(), name)
    }

    fn chdir(&self, path: &Path) -> Result<()> {
        let name = format!("chdir {}", path.display());
        self.call(name.clone(), name)
    }

    fn pivot_root_here(&self) -> Result<()> {
        self.call("pivot_root . .".into(), "pivot_root . .".into())
    }

    fn chroot_here(&self) -> Result<()> {
        self.call("chroot .".into(), "chroot .".into())
    }

    fn write(&self, path: &Path, data: &str) -> Result<()> {
        let name = format!("write {}", path.display());
        self.call(format!("{name} {data:?}"), name)
    }

    fn mknod(&self, dir: &At, name: &str, mode: libc::mode_t, dev: libc::dev_t) -> Result<()> {
        let p = join(dir, name);
        let kind = if mode & libc::S_IFMT == libc::S_IFBLK {
            'b'
        } else {
            'c'
        };
        let (ma, mi) = (libc::major(dev), libc::minor(dev));
        self.call(
            format!("mknod {p} {kind} {ma}:{mi} {:o}", mode & 0o7777),
            format!("mknod {p}"),
        )?;
        self.add(&p, Kind::File);
        Ok(())
    }

    fn chmod(&self, dir: &At, name: &str, mode: libc::mode_t) -> Result<()> {
        let p = join(dir, name);
        self.call(format!("chmod {p} {mode:o}"), format!("chmod {p}"))
    }

    fn chown(&self, dir: &At, name: &str, uid: u32, gid: u32) -> Result<()> {
        let p = join(dir, name);
        self.call(format!("chown {p} {uid}:{gid}"), format!("chown {p}"))
    }

    fn unlink(&self, dir: &At, name: &str) -> Result<()> {
        let p = join(dir, name);
        self.call(format!("unlink {p}"), format!("unlink {p}"))?;
        self.tree.borrow_mut().remove(&p);
        Ok(())
    }

    fn symlink(&self, dir: &At, name: &str, target: &str) -> Result<()> {
        let p = join(dir, name);
        self.call(format!("symlink {p} -> {target}"), format!("symlink {p}"))?;
        self.add(&p, Kind::File);
        Ok(())
    }

    fn mkdir(&self, dir: &At, name: &str, mode: libc::mode_t) -> Result<()> {
        let p = join(dir, name);
        self.call(format!("mkdir {p} {mode:o}"), format!("mkdir {p}"))?;
        self.add(&p, Kind::Dir);
        Ok(())
    }

    fn setgroups(&self, groups: &[libc::gid_t]) -> Result<()> {
        let line = format!("setgroups {groups:?}");
        self.call(line.clone(), line)
    }

    fn setresgid(&self, gid: libc::gid_t) -> Result<()> {
        let line = format!("setresgid {gid}");
        self.call(line.clone(), line)
    }

    fn setresuid(&self, uid: libc::uid_t) -> Result<()> {
        let line = format!("setresuid {uid}");
        self.call(line.clone(), line)
    }

    fn setns(&self, _fd: std::os::fd::RawFd, nstype: libc::c_int) -> Result<()> {
        let line = format!("setns {}", super::ns_words(nstype));
        self.call(line.clone(), line)
    }

    fn setsid(&self) -> Result<()> {
        self.call("setsid".into(), "setsid".into())
    }

    fn unshare(&self, flags: libc::c_int) -> Result<()> {
        let name = format!("unshare {}", super::ns_words(flags));
        self.call(name.clone(), name)
    }

    fn sethostname(&self, name: &str) -> Result<()> {
        let line = format!("sethostname {name}");
        self.call(line.clone(), line)
    }

    fn join_session_keyring(&self, name: &str) -> Result<()> {
        let line = format!("keyctl join {name}");
        self.call(line.clone(), line)
    }

    fn setrlimit(&self, resource: libc::c_int, soft: u64, hard: u64) -> Result<()> {
        let line = format!("setrlimit {resource} {soft}:{hard}");
        self.call(line.clone(), line)
    }

    fn umask(&self, mask: libc::mode_t) {
        let _ = self.call(format!("umask {mask:03o}"), "umask".into());
    }

    fn mountinfo(&self) -> Result<Vec<MountInfo>> {
        Ok(self.mounts.clone())
    }

    fn cgroup2(&self) -> bool {
        self.cgroup2
    }

    fn overlay_param(&self, _name: &str) -> bool {
        true
    }
}
