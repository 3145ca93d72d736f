//! cp: files between a container and the host, or a tar stream, as
//! `docker cp` copies them. Every path inside the container is resolved by
//! the kernel within the container's root (openat2 RESOLVE_IN_ROOT), the
//! trees are walked through directory descriptors and written by the same
//! safe applier layers use: a container that swaps a directory for a
//! symlink while it is copied reaches nothing outside (CVE-2018-15664 was
//! docker's cp doing otherwise). A running container is reached through
//! its /proc/PID/root (its volumes included); a stopped one has its
//! overlay mounted in a mount namespace of our own, gone when we exit.

use crate::Error;
use slipway_common::apply::{apply_at, mkdir_all_in_root, openat_in_root, Whiteouts};
use slipway_common::container::state::{Containers, State, Status};
use slipway_common::copytree::{self, tar_children, tar_tree, Owner};
use slipway_common::dirfd::Dir;
use slipway_common::fsmeta::Kind;
use slipway_common::layer_tar::LayerWriter;
use std::ffi::CString;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct CpArgs {
    /// Archive mode: keep the files' owners (default: the container's
    /// root owns what goes in, the caller what comes out) and their
    /// extended attributes.
    #[arg(short, long)]
    pub archive: bool,
    /// Follow a symlink that SRC names (its parents are always followed,
    /// inside the container's root).
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// CONTAINER:PATH, a host path, or - for a tar stream on stdin.
    #[arg(value_name = "SRC")]
    pub src: String,
    /// CONTAINER:PATH, a host path, or - for a tar stream on stdout.
    #[arg(value_name = "DEST")]
    pub dest: String,
}

#[derive(Debug, PartialEq, Eq)]
enum End {
    Stdio,
    Host(PathBuf),
    Container { name: String, path: String },
}

/// docker's rule: NAME:PATH names a container unless the part before the
/// colon looks like a path (has a slash, or the whole starts with / or .).
fn end(s: &str) -> End {
    if s == "-" {
        return End::Stdio;
    }
    if !s.starts_with('/') && !s.starts_with('.') {
        if let Some((c, p)) = s.split_once(':') {
            if !c.is_empty() && !c.contains('/') {
                return End::Container {
                    name: c.to_string(),
                    path: p.to_string(),
                };
            }
        }
    }
    End::Host(PathBuf::from(s))
}

fn os(what: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let what = what.into();
    move |source| Error::Os { what, source }
}

fn cstring(b: &[u8]) -> Result<CString, Error> {
    CString::new(b).map_err(|_| Error::Invalid("a path holds a NUL byte".into()))
}

/// A path in the container split as (parent, last name, whether it asks
/// for a directory's contents: `DIR/.`). The root itself is its contents.
fn split(path: &str) -> (String, Vec<u8>, bool) {
    let contents = path.ends_with("/.") || path == ".";
    let trimmed = path.trim_end_matches("/.").trim_end_matches('/');
    let trimmed = if trimmed == "." { "" } else { trimmed };
    match trimmed.rsplit_once('/') {
        _ if trimmed.is_empty() => ("/".into(), b".".to_vec(), true),
        Some((parent, name)) => (
            if parent.is_empty() {
                "/".into()
            } else {
                parent.to_string()
            },
            name.as_bytes().to_vec(),
            contents,
        ),
        None => (".".into(), trimmed.as_bytes().to_vec(), contents),
    }
}

/// What to copy: a directory open for reading and the name in it (or its
/// contents only), and the name it takes in the tar.
struct Source {
    dir: Dir,
    name: CString,
    contents: bool,
    tar_name: Vec<u8>,
}

impl Source {
    fn write(self, out: impl Write, owner: &Owner) -> io::Result<()> {
        let mut w = LayerWriter::new(out, None);
        if self.contents {
            let sub = self.dir.open_dir(&self.name)?;
            tar_children(&mut w, &sub, b"", owner)?;
        } else {
            tar_tree(&mut w, &self.dir, &self.name, &self.tar_name, owner)?;
        }
        w.finish()?;
        Ok(())
    }

    fn is_dir(&self) -> bool {
        self.contents || self.dir.open_dir(&self.name).is_ok()
    }
}

/// Opens a directory inside `root`, resolved there.
fn open_in(root: &OwnedFd, path: &str) -> io::Result<Dir> {
    use std::os::fd::AsRawFd;
    let fd = openat_in_root(
        root.as_raw_fd(),
        path.as_bytes(),
        libc::O_RDONLY | libc::O_DIRECTORY,
        0,
    )?;
    Ok(Dir::from_owned(fd))
}

/// `path` in the container as a Source; with -L a final symlink is
/// followed (inside the root) until it names no symlink.
fn container_source(root: &OwnedFd, path: &str, follow: bool) -> Result<Source, Error> {
    let mut path = path.to_string();
    for _ in 0..40 {
        let (parent, name, contents) = split(&path);
        let dir = open_in(root, &parent).map_err(os(format!("open {parent} in the container")))?;
        let cname = cstring(&name)?;
        let meta = dir
            .stat_at(&cname)
            .map_err(os(format!("{path} in the container")))?;
        match meta.kind {
            Kind::Symlink(target) if follow && !contents => {
                let t = String::from_utf8_lossy(&target).into_owned();
                path = if t.starts_with('/') {
                    t
                } else {
                    format!("{}/{t}", parent.trim_end_matches('/'))
                };
            }
            _ => {
                return Ok(Source {
                    dir,
                    name: cname,
                    contents,
                    tar_name: name,
                })
            }
        }
    }
    Err(Error::Invalid(format!(
        "{path}: too many levels of symlinks"
    )))
}

fn host_source(path: &Path, follow: bool) -> Result<Source, Error> {
    let s = path.to_string_lossy();
    let resolved = if follow {
        std::fs::canonicalize(path).map_err(os(format!("{s}")))?
    } else {
        path.to_path_buf()
    };
    let (parent, name, contents) = split(&resolved.to_string_lossy());
    let dir = Dir::open(Path::new(&parent)).map_err(os(format!("open {parent}")))?;
    let cname = cstring(&name)?;
    dir.stat_at(&cname).map_err(os(format!("{s}")))?;
    Ok(Source {
        dir,
        name: cname,
        contents,
        tar_name: name,
    })
}

fn pipe() -> Result<(File, File), Error> {
    copytree::pipe().map_err(os("pipe"))
}

/// Streams `src` as a tar into the directory `into`, the source's top
/// entry renamed to `rename` where given.
fn transfer(
    mut src: Source,
    into: OwnedFd,
    rename: Option<Vec<u8>>,
    owner: &Owner,
) -> Result<(), Error> {
    if let Some(r) = rename {
        src.tar_name = r;
    }
    let (reader, writer) = pipe()?;
    std::thread::scope(|sc| {
        let producer = sc.spawn(move || src.write(writer, owner));
        let applied = apply_at(reader, into, Whiteouts::Literal);
        let produced = producer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("panicked")));
        // The reader's error is the cause when the writer only saw the
        // pipe close.
        applied.map_err(|e| Error::Invalid(format!("copy: {e}")))?;
        produced.map_err(os("read the source"))
    })
}

/// The container's root, open: its live root, or its layers mounted.
fn container_root(containers: &Containers, s: &State) -> Result<OwnedFd, Error> {
    if s.current_status() == Status::Running {
        if let Some(pid) = s.pid {
            let p = format!("/proc/{pid}/root");
            return open_path(Path::new(&p)).map_err(os(format!("open {p}")));
        }
    }
    stopped_root(containers, s)
}

fn open_path(p: &Path) -> io::Result<OwnedFd> {
    let c = CString::new(p.as_os_str().as_bytes()).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: a valid C string.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Mounts a stopped container's overlay (its lowers, its writable layer)
/// at its rootfs dir, in a mount namespace only this process has.
fn stopped_root(containers: &Containers, s: &State) -> Result<OwnedFd, Error> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(Error::Invalid(format!(
            "container {}: cp of a stopped rootless container is not supported; start it, or copy as root",
            s.name
        )));
    }
    if s.lowers.is_empty() {
        return Err(Error::Invalid(format!(
            "container {} records no image layers (a --rootfs directory, or an older slipway started it): start it to copy",
            s.name
        )));
    }
    if let Some(l) = s.lowers.iter().find(|l| !l.is_dir()) {
        return Err(Error::Invalid(format!(
            "container {}: its layer {} is gone (removed by image-store gc?)",
            s.name,
            l.display()
        )));
    }
    let dir = containers.dir(&s.id);
    let upper = containers.upper_dir(s);
    let work = match &s.upper {
        Some(u) => u.parent().unwrap_or(Path::new("/")).join(format!(
            ".{}.work-{}",
            u.file_name().unwrap_or_default().to_string_lossy(),
            &s.id[..12]
        )),
        None => dir.join("work"),
    };
    let target = dir.join("rootfs");
    slipway_common::fsutil::create_dir_all(&target)?;
    slipway_common::fsutil::create_dir_all(&work)?;
    // SAFETY: unshare with a flag; this process has no other thread yet.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } < 0 {
        return Err(os("unshare the mount namespace")(io::Error::last_os_error()));
    }
    use slipway_common::mount::mount;
    mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None).map_err(os("make / private"))?;
    let lowers: Vec<String> = s.lowers.iter().map(|l| l.display().to_string()).collect();
    let opts = format!(
        "lowerdir={},upperdir={},workdir={},index=off,redirect_dir=off,metacopy=off",
        lowers.join(":"),
        upper.display(),
        work.display()
    );
    let ctarget = cstring(target.as_os_str().as_bytes())?;
    mount(
        Some(c"overlay"),
        &ctarget,
        Some(c"overlay"),
        libc::MS_NODEV,
        Some(&cstring(opts.as_bytes())?),
    )
    .map_err(os(format!("mount the overlay on {}", target.display())))?;
    open_path(&target).map_err(os(format!("open {}", target.display())))
}

pub fn cp(containers: &Containers, a: &CpArgs) -> Result<(), Error> {
    let owner_in = Owner {
        ids: (!a.archive).then_some((0, 0)),
    };
    // SAFETY: getuid and getgid have no preconditions.
    let me = unsafe { (libc::getuid() as u64, libc::getgid() as u64) };
    let owner_out = Owner {
        ids: (!a.archive).then_some(me),
    };
    match (end(&a.src), end(&a.dest)) {
        (End::Container { name, path }, dest @ (End::Stdio | End::Host(_))) => {
            let s = containers.find(&name)?;
            let root = container_root(containers, &s)?;
            let src = container_source(&root, &path, a.follow_link)?;
            match dest {
                End::Stdio => {
                    let out = io::stdout().lock();
                    src.write(out, &owner_out).map_err(os("write the tar"))
                }
                End::Host(d) => {
                    let (into, rename) = host_target(&d, &src)?;
                    transfer(src, into, rename, &owner_out)
                }
                End::Container { .. } => unreachable!(),
            }
        }
        (src @ (End::Stdio | End::Host(_)), End::Container { name, path }) => {
            let s = containers.find(&name)?;
            let root = container_root(containers, &s)?;
            match src {
                End::Stdio => {
                    let dir = open_in(&root, &path).map_err(os(format!(
                        "{path} in container {name}: the destination of a tar stream must be a directory"
                    )))?;
                    let fd = OwnedFd::from(dir);
                    apply_at(io::stdin().lock(), fd, Whiteouts::Literal)
                        .map(|_| ())
                        .map_err(|e| Error::Invalid(format!("copy: {e}")))
                }
                End::Host(p) => {
                    let src = host_source(&p, a.follow_link)?;
                    let (into, rename) = container_target(&root, &path, &src, &name)?;
                    transfer(src, into, rename, &owner_in)
                }
                End::Container { .. } => unreachable!(),
            }
        }
        (End::Container { .. }, End::Container { .. }) => Err(Error::Invalid(
            "copying between containers is not supported: copy to the host, then in".into(),
        )),
        _ => Err(Error::Invalid(
            "one of SRC and DEST must be CONTAINER:PATH".into(),
        )),
    }
}

/// Where a source goes on the host, by docker's rules: into DEST if it is
/// a directory; else as DEST (a new name, or over a file), its parent
/// existing.
fn host_target(dest: &Path, src: &Source) -> Result<(OwnedFd, Option<Vec<u8>>), Error> {
    let d = dest.to_string_lossy();
    let open = |p: &Path| open_path(p).map_err(os(format!("open {}", p.display())));
    match std::fs::metadata(dest) {
        Ok(m) if m.is_dir() => Ok((open(dest)?, None)),
        Ok(_) if src.is_dir() => Err(Error::Invalid(format!(
            "cannot copy a directory to the file {d}"
        ))),
        Ok(_) => {
            let (parent, name, _) = split(&d);
            Ok((open(Path::new(&parent))?, Some(name)))
        }
        Err(_) if d.ends_with('/') => Err(Error::Invalid(format!(
            "the destination directory {d} does not exist"
        ))),
        Err(_) if src.contents => {
            std::fs::create_dir(dest).map_err(os(format!("create {d}")))?;
            Ok((open(dest)?, None))
        }
        Err(_) => {
            let (parent, name, _) = split(&d);
            Ok((open(Path::new(&parent))?, Some(name)))
        }
    }
}

/// As [`host_target`], inside the container's root.
fn container_target(
    root: &OwnedFd,
    dest: &str,
    src: &Source,
    container: &str,
) -> Result<(OwnedFd, Option<Vec<u8>>), Error> {
    use std::os::fd::AsRawFd;
    match open_in(root, dest) {
        Ok(dir) => Ok((OwnedFd::from(dir), None)),
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) && src.is_dir() => Err(Error::Invalid(
            format!("cannot copy a directory to the file {dest} in container {container}"),
        )),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) && dest.ends_with('/') => {
            Err(Error::Invalid(format!(
                "the destination directory {dest} does not exist in container {container}"
            )))
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) && src.contents => {
            let fd = mkdir_all_in_root(root.as_raw_fd(), dest.as_bytes())
                .map_err(os(format!("create {dest} in container {container}")))?;
            Ok((fd, None))
        }
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
            let (parent, name, _) = split(dest);
            let dir =
                open_in(root, &parent).map_err(os(format!("{parent} in container {container}")))?;
            Ok((OwnedFd::from(dir), Some(name)))
        }
        Err(e) => Err(os(format!("{dest} in container {container}"))(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_colon_names_a_container_unless_the_side_is_a_path() {
        assert_eq!(
            end("web:/etc/hosts"),
            End::Container {
                name: "web".into(),
                path: "/etc/hosts".into()
            }
        );
        assert_eq!(end("./a:b"), End::Host("./a:b".into()));
        assert_eq!(end("/tmp/a:b"), End::Host("/tmp/a:b".into()));
        assert_eq!(end("dir/a:b"), End::Host("dir/a:b".into()));
        assert_eq!(end("-"), End::Stdio);
        assert_eq!(end("file"), End::Host("file".into()));
    }

    #[test]
    fn paths_split_into_parent_name_and_whether_contents_are_asked() {
        assert_eq!(
            split("/etc/hosts"),
            ("/etc".into(), b"hosts".to_vec(), false)
        );
        assert_eq!(split("/etc/"), ("/".into(), b"etc".to_vec(), false));
        assert_eq!(split("/etc/."), ("/".into(), b"etc".to_vec(), true));
        assert_eq!(split("/"), ("/".into(), b".".to_vec(), true));
        assert_eq!(split("out"), (".".into(), b"out".to_vec(), false));
    }
}
