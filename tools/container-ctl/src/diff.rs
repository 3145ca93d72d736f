//! diff: what a container changed in its filesystem, as `docker diff`
//! prints it: `A` added, `C` changed, `D` deleted, one path a line, in
//! path order; read from its writable layer against the layers below.

use crate::{out_err, Error};
use slipway_common::container::state::Containers;
use slipway_common::fsmeta;
use std::collections::BTreeSet;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

fn is_whiteout(m: &std::fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

/// Overlay's opaque mark, as root (`trusted.`) or rootless (`user.`)
/// layers carry it.
fn is_opaque(p: &Path) -> bool {
    fsmeta::xattrs(p).is_ok_and(|x| {
        [&b"trusted.overlay.opaque"[..], b"user.overlay.opaque"]
            .iter()
            .any(|k| x.get(*k).is_some_and(|v| v == b"y"))
    })
}

/// Whether `rel` (no leading /) is seen through the `lowers` stack, topmost
/// first, as overlayfs resolves it: a whiteout above hides it, an opaque
/// directory above hides what lies below it.
pub fn in_lowers(lowers: &[PathBuf], rel: &Path) -> bool {
    for layer in lowers {
        let mut hidden_below = false;
        let mut q = layer.clone();
        let parts: Vec<_> = rel.components().collect();
        for (i, c) in parts.iter().enumerate() {
            q.push(c);
            let Ok(m) = std::fs::symlink_metadata(&q) else {
                break;
            };
            if is_whiteout(&m) {
                return false;
            }
            if i + 1 == parts.len() {
                return true;
            }
            if !m.is_dir() {
                return false;
            }
            if is_opaque(&q) {
                hidden_below = true;
            }
        }
        if hidden_below {
            return false;
        }
    }
    false
}

/// The names in directory `rel` as the lowers show it.
fn lower_children(lowers: &[PathBuf], rel: &Path) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut hidden = BTreeSet::new();
    for layer in lowers {
        let dir = layer.join(rel);
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            match e.metadata() {
                Ok(m) if is_whiteout(&m) => {
                    hidden.insert(name);
                }
                Ok(_) if !hidden.contains(&name) => {
                    seen.insert(name);
                }
                _ => {}
            }
        }
        if is_opaque(&dir) {
            break;
        }
    }
    seen
}

/// Walks `upper`'s directory `rel`, noting each change.
fn walk(
    upper: &Path,
    rel: &Path,
    lowers: &[PathBuf],
    out: &mut Vec<(char, PathBuf)>,
) -> io::Result<()> {
    let dir = upper.join(rel);
    let mut names: Vec<_> = std::fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    names.sort();
    for name in names {
        let path = rel.join(&name);
        let m = std::fs::symlink_metadata(upper.join(&path))?;
        if is_whiteout(&m) {
            out.push(('D', path));
            continue;
        }
        let below = in_lowers(lowers, &path);
        out.push((if below { 'C' } else { 'A' }, path.clone()));
        if m.is_dir() {
            if below && is_opaque(&upper.join(&path)) {
                for child in lower_children(lowers, &path) {
                    if std::fs::symlink_metadata(upper.join(&path).join(&child)).is_err() {
                        out.push(('D', path.join(child)));
                    }
                }
            }
            walk(upper, &path, lowers, out)?;
        }
    }
    Ok(())
}

/// The changes in `upper` over `lowers`, in path order.
pub fn changes(upper: &Path, lowers: &[PathBuf]) -> io::Result<Vec<(char, PathBuf)>> {
    let mut out = Vec::new();
    walk(upper, Path::new(""), lowers, &mut out)?;
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

pub fn diff(containers: &Containers, name: &str) -> Result<(), Error> {
    let s = containers.find(name)?;
    if s.lowers.is_empty() {
        return Err(Error::Invalid(format!(
            "container {name} records no image layers (it runs a --rootfs directory, or an older slipway started it): diff needs them"
        )));
    }
    let upper = containers.upper_dir(&s);
    let list = changes(&upper, &s.lowers).map_err(|e| Error::Os {
        what: format!("read {}", upper.display()),
        source: e,
    })?;
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    for (kind, path) in list {
        writeln!(w, "{kind} /{}", path.display()).map_err(out_err)?;
    }
    w.flush().map_err(out_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn whiteout(p: &Path) {
        let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid C string; mknod of a 0/0 character device.
        let rc = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, 0) };
        assert_eq!(rc, 0, "mknod needs root");
    }

    #[test]
    fn changes_read_as_docker_diff_prints_them() {
        let t = tempfile::tempdir().unwrap();
        let (low, up) = (t.path().join("low"), t.path().join("up"));
        for d in ["etc", "var/log", "opt/old"] {
            fs::create_dir_all(low.join(d)).unwrap();
        }
        fs::write(low.join("etc/passwd"), "root").unwrap();
        fs::write(low.join("etc/gone"), "x").unwrap();
        fs::write(low.join("var/log/a"), "x").unwrap();
        fs::write(low.join("opt/old/f"), "x").unwrap();
        fs::create_dir_all(up.join("etc")).unwrap();
        fs::write(up.join("etc/passwd"), "root\napp").unwrap();
        whiteout(&up.join("etc/gone"));
        fs::create_dir_all(up.join("new/sub")).unwrap();
        fs::write(up.join("new/sub/f"), "x").unwrap();
        // An opaque dir: what the lower had there is gone.
        fs::create_dir_all(up.join("opt/old")).unwrap();
        fs::create_dir_all(up.join("opt")).unwrap();
        let c = std::ffi::CString::new(up.join("opt/old").as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: valid C strings and a value of the length passed.
        let rc = unsafe {
            libc::lsetxattr(
                c.as_ptr(),
                c"trusted.overlay.opaque".as_ptr(),
                b"y".as_ptr().cast(),
                1,
                0,
            )
        };
        assert_eq!(rc, 0);
        let got: Vec<String> = changes(&up, &[low])
            .unwrap()
            .into_iter()
            .map(|(k, p)| format!("{k} /{}", p.display()))
            .collect();
        assert_eq!(
            got,
            [
                "C /etc",
                "D /etc/gone",
                "C /etc/passwd",
                "A /new",
                "A /new/sub",
                "A /new/sub/f",
                "C /opt",
                "C /opt/old",
                "D /opt/old/f",
            ]
        );
    }

    #[test]
    fn a_whiteout_or_an_opaque_dir_above_hides_what_is_below() {
        let t = tempfile::tempdir().unwrap();
        let (top, bottom) = (t.path().join("top"), t.path().join("bottom"));
        fs::create_dir_all(bottom.join("a/b")).unwrap();
        fs::write(bottom.join("a/b/f"), "x").unwrap();
        fs::create_dir_all(&top).unwrap();
        whiteout(&top.join("a"));
        let lowers = [top.clone(), bottom.clone()];
        assert!(!in_lowers(&lowers, Path::new("a/b/f")));
        assert!(in_lowers(&lowers[1..], Path::new("a/b/f")));
        assert!(!in_lowers(&lowers[1..], Path::new("a/b/g")));
    }
}
