//! Image archives: `oci-archive` (a tar of an OCI layout) and
//! `docker-archive` (the `docker save` / `docker load` format), read with
//! safe extraction and written deterministically.

use crate::compress;
use crate::digest::Digest;
use crate::fsutil::{self, IoContext, IoError};
use crate::image::{digest_of, Image};
use crate::layout::{canonical_json, Layout, LayoutError, INDEX_FILE, OCI_LAYOUT_FILE};
use crate::reference::{PathOrStdio, Reference};
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error("{archive}: {msg}")]
    Bad { archive: String, msg: String },
}

fn bad(archive: &str, msg: impl Into<String>) -> ArchiveError {
    ArchiveError::Bad {
        archive: archive.to_string(),
        msg: msg.into(),
    }
}

/// A path from an archive, made relative and checked to stay inside the
/// extraction root: no absolute paths, no `..`.
pub fn safe_relative(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// Opens a file argument or stdin.
pub fn open_input(src: &PathOrStdio) -> Result<Box<dyn Read>, IoError> {
    Ok(match src {
        PathOrStdio::Stdio => Box::new(io::stdin().lock()),
        PathOrStdio::Path(p) => Box::new(File::open(p).ctx("open", p)?),
    })
}

/// Extracts regular files and directories (and, with `links`, symlinks
/// that stay inside) of a tar into `dest`. Everything else is refused.
fn extract(input: impl Read, dest: &Path, name: &str, links: bool) -> Result<(), ArchiveError> {
    let mut ar = tar::Archive::new(input);
    let entries = ar.entries().map_err(|e| bad(name, e.to_string()))?;
    let mut any = false;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(name, format!("not a readable tar: {e}")))?;
        any = true;
        let raw = entry
            .path()
            .map_err(|e| bad(name, e.to_string()))?
            .into_owned();
        let Some(rel) = safe_relative(&raw) else {
            return Err(bad(name, format!("unsafe path {:?} in archive", raw)));
        };
        let path = dest.join(&rel);
        // Never write through a symlink: an archive's links may only be
        // read later, through checks that resolve them physically.
        let mut prefix = dest.to_path_buf();
        for c in rel.parent().into_iter().flat_map(Path::components) {
            prefix.push(c);
            if fs::symlink_metadata(&prefix).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(bad(
                    name,
                    format!(
                        "{} goes through the symlink {}",
                        rel.display(),
                        prefix.display()
                    ),
                ));
            }
        }
        if let Some(parent) = path.parent() {
            fsutil::create_dir_all(parent)?;
        }
        let is_dir = entry.header().entry_type() == tar::EntryType::Directory;
        if let Ok(m) = fs::symlink_metadata(&path) {
            if !(is_dir && m.is_dir()) {
                return Err(bad(
                    name,
                    format!("{} appears twice in the archive", rel.display()),
                ));
            }
        }
        match entry.header().entry_type() {
            tar::EntryType::Directory => fsutil::create_dir_all(&path)?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut f = File::create(&path).ctx("create", &path)?;
                io::copy(&mut entry, &mut f)
                    .map_err(|e| bad(name, format!("reading {}: {e}", rel.display())))?;
            }
            tar::EntryType::Symlink if links => {
                let target = entry
                    .link_name()
                    .map_err(|e| bad(name, e.to_string()))?
                    .ok_or_else(|| bad(name, "symlink without target"))?
                    .into_owned();
                let base = rel.parent().unwrap_or(Path::new(""));
                let joined = base.join(&target);
                if target.is_absolute() || normalize(&joined).is_none() {
                    return Err(bad(
                        name,
                        format!("symlink {} points outside the archive", rel.display()),
                    ));
                }
                std::os::unix::fs::symlink(&target, &path).ctx("symlink", &path)?;
            }
            t => {
                return Err(bad(
                    name,
                    format!("unexpected {t:?} entry {} in archive", rel.display()),
                ));
            }
        }
    }
    if !any {
        return Err(bad(name, "empty archive"));
    }
    Ok(())
}

/// Resolves `..` lexically; None when it climbs out of the root.
fn normalize(p: &Path) -> Option<PathBuf> {
    let mut out = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop()?;
            }
            _ => return None,
        }
    }
    Some(out.iter().collect())
}

/// Unpacks an oci-archive into `dest` and opens it as a layout.
pub fn extract_oci_archive(src: &PathOrStdio, dest: &Path) -> Result<Layout, ArchiveError> {
    let name = src.to_string();
    extract(open_input(src)?, dest, &name, false)?;
    Layout::open(dest).map_err(|e| bad(&name, format!("not an OCI layout archive: {e}")))
}

fn header(path: &str, size: u64, dir: bool) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_path(path).expect("archive paths are short and ASCII");
    h.set_size(size);
    h.set_mode(if dir { 0o755 } else { 0o644 });
    h.set_entry_type(if dir {
        tar::EntryType::Directory
    } else {
        tar::EntryType::Regular
    });
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_cksum();
    h
}

/// Writes the tar to `dest` (via a temp file and a rename, so a failed run
/// leaves no half archive) or to stdout.
pub fn write_output(
    dest: &PathOrStdio,
    write: impl FnOnce(&mut dyn Write) -> Result<(), ArchiveError>,
) -> Result<(), ArchiveError> {
    match dest {
        PathOrStdio::Stdio => {
            let stdout = io::stdout();
            let mut w = BufWriter::with_capacity(128 * 1024, stdout.lock());
            write(&mut w)?;
            w.flush().ctx("write", Path::new("<stdout>"))?;
            Ok(())
        }
        PathOrStdio::Path(p) => {
            let dir = p
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let tmp = tempfile::Builder::new()
                .prefix(".tmp-archive-")
                .tempfile_in(dir)
                .ctx("create a temp file in", dir)?;
            let mut w = BufWriter::with_capacity(128 * 1024, tmp.as_file());
            write(&mut w)?;
            w.flush().ctx("write", tmp.path())?;
            drop(w);
            tmp.as_file().sync_all().ctx("fsync", tmp.path())?;
            tmp.persist(p)
                .map_err(|e| e.error)
                .ctx("rename into place", p)?;
            Ok(())
        }
    }
}

/// Tars an OCI layout (its `oci-layout`, `index.json` and blobs; not the
/// `.slipway` state), in sorted order with fixed metadata.
pub fn write_layout_tar(layout: &Layout, out: &mut dyn Write) -> Result<(), ArchiveError> {
    let mut b = tar::Builder::new(out);
    let root = layout.root();
    let io_err = |p: &Path| {
        let p = p.to_path_buf();
        move |e: io::Error| {
            ArchiveError::Io(IoError {
                op: "write archive entry for",
                path: p,
                source: e,
            })
        }
    };
    for name in [OCI_LAYOUT_FILE, INDEX_FILE] {
        let bytes = fs::read(root.join(name)).ctx("read", &root.join(name))?;
        b.append(&header(name, bytes.len() as u64, false), &bytes[..])
            .map_err(io_err(&root.join(name)))?;
    }
    b.append(&header("blobs/", 0, true), io::empty())
        .map_err(io_err(root))?;
    b.append(&header("blobs/sha256/", 0, true), io::empty())
        .map_err(io_err(root))?;
    let dir = root.join("blobs").join("sha256");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .ctx("read directory", &dir)?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| format!("sha256:{n}").parse::<Digest>().is_ok())
        .collect();
    names.sort();
    for n in names {
        let d: Digest = format!("sha256:{n}").parse().expect("filtered");
        let size = fs::metadata(layout.blob_path(&d))
            .ctx("stat", &layout.blob_path(&d))?
            .len();
        let mut r = layout.open_blob(&d, Some(size))?;
        b.append(&header(&format!("blobs/sha256/{n}"), size, false), &mut r)
            .map_err(|e| crate::layout::verify_error(e, &layout.blob_path(&d)))?;
    }
    b.into_inner().map_err(io_err(root))?;
    Ok(())
}

/// An image found in a docker-archive after extraction.
pub struct DockerArchiveImage {
    pub config: PathBuf,
    pub layers: Vec<PathBuf>,
    pub repo_tags: Vec<String>,
}

#[derive(serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Unpacks a docker-archive into `dest` and finds the image named `name`
/// (or the only one).
pub fn extract_docker_archive(
    src: &PathOrStdio,
    name: Option<&Reference>,
    dest: &Path,
) -> Result<DockerArchiveImage, ArchiveError> {
    let aname = src.to_string();
    let entries = extract_docker_entries(src, dest)?;
    let chosen = match name {
        Some(want) => entries.iter().find(|e| {
            e.repo_tags
                .iter()
                .flatten()
                .any(|t| Reference::parse(t).is_ok_and(|r| &r == want))
        }),
        None if entries.len() == 1 => entries.first(),
        None => {
            return Err(bad(
                &aname,
                format!(
                    "holds {} images: name one as docker-archive:FILE:NAME:TAG",
                    entries.len()
                ),
            ))
        }
    }
    .ok_or_else(|| bad(&aname, "no such image in the archive"))?;
    docker_image(&aname, dest, chosen)
}

/// Unpacks a docker-archive into `dest`: every image in it, as `docker
/// load` takes them all.
pub fn extract_docker_archive_all(
    src: &PathOrStdio,
    dest: &Path,
) -> Result<Vec<DockerArchiveImage>, ArchiveError> {
    let aname = src.to_string();
    extract_docker_entries(src, dest)?
        .iter()
        .map(|e| docker_image(&aname, dest, e))
        .collect()
}

fn extract_docker_entries(
    src: &PathOrStdio,
    dest: &Path,
) -> Result<Vec<DockerManifestEntry>, ArchiveError> {
    let aname = src.to_string();
    // docker save links identical layers with symlinks.
    extract(open_input(src)?, dest, &aname, true)?;
    let mpath = dest.join("manifest.json");
    let bytes =
        fs::read(&mpath).map_err(|_| bad(&aname, "no manifest.json: not a docker-archive"))?;
    serde_json::from_slice(&bytes).map_err(|e| bad(&aname, format!("manifest.json: {e}")))
}

/// One entry of an unpacked docker-archive's manifest.json, its paths
/// checked to stay inside `dest`.
fn docker_image(
    aname: &str,
    dest: &Path,
    chosen: &DockerManifestEntry,
) -> Result<DockerArchiveImage, ArchiveError> {
    let inside = |p: &str| -> Result<PathBuf, ArchiveError> {
        let rel =
            safe_relative(Path::new(p)).ok_or_else(|| bad(aname, format!("unsafe path {p:?}")))?;
        let full = dest.join(rel);
        let canon = full
            .canonicalize()
            .map_err(|_| bad(aname, format!("{p} is missing")))?;
        let root = dest.canonicalize().ctx("resolve", dest)?;
        if !canon.starts_with(&root) {
            return Err(bad(aname, format!("{p} points outside the archive")));
        }
        Ok(canon)
    };
    Ok(DockerArchiveImage {
        config: inside(&chosen.config)?,
        layers: chosen
            .layers
            .iter()
            .map(|l| inside(l))
            .collect::<Result<_, _>>()?,
        repo_tags: chosen.repo_tags.clone().unwrap_or_default(),
    })
}

/// Writes `image` (blobs in `layout`) as a docker-archive: config, and each
/// layer uncompressed as `docker load` and skopeo expect, named by diff ID.
pub fn write_docker_archive(
    out: &mut dyn Write,
    layout: &Layout,
    image: &Image,
    repo_tags: &[String],
    scratch: &Path,
) -> Result<(), ArchiveError> {
    let mut b = tar::Builder::new(out);
    let wrap = |e: io::Error| {
        ArchiveError::Io(IoError {
            op: "write",
            path: "<docker-archive>".into(),
            source: e,
        })
    };
    let id = image.id();
    let config_name = format!("{}.json", id.hex());
    let config = layout.read_blob(&id, Some(image.manifest.config().size()))?;
    b.append(
        &header(&config_name, config.len() as u64, false),
        &config[..],
    )
    .map_err(wrap)?;
    let mut layer_names = Vec::new();
    let mut written = std::collections::BTreeSet::new();
    for l in image.manifest.layers() {
        let d = digest_of(l).map_err(|e| bad("image", e.to_string()))?;
        // The size of the uncompressed tar is only known after reading it,
        // and a tar header needs it first: stage it in a temp file.
        let mut staged = tempfile::tempfile_in(scratch).ctx("create a temp file in", scratch)?;
        let (_, mut plain) = compress::decompress(layout.open_blob(&d, Some(l.size()))?)
            .map_err(|e| crate::layout::verify_error(e, &layout.blob_path(&d)))?;
        let mut hw = crate::digest::HashingWriter::new(&mut staged);
        io::copy(&mut plain, &mut hw)
            .map_err(|e| crate::layout::verify_error(e, &layout.blob_path(&d)))?;
        let (_, diff_id, size) = hw.finish();
        let name = format!("{}.tar", diff_id.hex());
        if written.insert(name.clone()) {
            io::Seek::seek(&mut staged, io::SeekFrom::Start(0)).map_err(wrap)?;
            b.append(&header(&name, size, false), &mut staged)
                .map_err(wrap)?;
        }
        layer_names.push(name);
    }
    let manifest = vec![DockerManifestEntry {
        config: config_name,
        repo_tags: Some(repo_tags.to_vec()),
        layers: layer_names,
    }];
    let mbytes = canonical_json(&manifest);
    b.append(
        &header("manifest.json", mbytes.len() as u64, false),
        &mbytes[..],
    )
    .map_err(wrap)?;
    b.into_inner().map_err(wrap)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar written byte by byte, so it can hold what tar::Builder refuses.
    fn tar_with(entries: &[(&str, Option<&str>)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (path, link) in entries {
            let mut h = tar::Header::new_old();
            h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
            h.set_mode(0o644);
            match link {
                Some(target) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
                    h.set_size(0);
                    h.set_cksum();
                    out.extend_from_slice(h.as_bytes());
                }
                None => {
                    h.set_size(4);
                    h.set_cksum();
                    out.extend_from_slice(h.as_bytes());
                    let mut data = b"evil".to_vec();
                    data.resize(512, 0);
                    out.extend_from_slice(&data);
                }
            }
        }
        out.extend_from_slice(&[0u8; 1024]);
        out
    }

    #[test]
    fn extraction_never_writes_through_symlinks_or_outside() {
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        for entries in [
            // A link to the archive root makes "a/b/l" live one level up.
            vec![
                ("a/x", None),
                ("a/b", Some(".")),
                ("a/b/l", Some("../..")),
                ("a/b/l/victim", None),
            ],
            vec![("d", Some("sub")), ("d/f", None)],
            vec![("f", None), ("f", None)],
            vec![("../victim", None)],
            vec![("/abs", None)],
            vec![("l", Some("/etc"))],
        ] {
            let root = outside.path().join("root");
            let _ = fs::remove_dir_all(&root);
            fs::create_dir_all(&root).unwrap();
            let bytes = tar_with(&entries);
            assert!(
                extract(&bytes[..], &root, "t", true).is_err(),
                "{entries:?}"
            );
            assert!(!victim.exists(), "{entries:?} wrote outside");
        }
    }

    #[test]
    fn safe_relative_refuses_escapes() {
        assert_eq!(
            safe_relative(Path::new("./blobs/sha256/x")),
            Some(PathBuf::from("blobs/sha256/x"))
        );
        assert_eq!(safe_relative(Path::new("../etc/passwd")), None);
        assert_eq!(safe_relative(Path::new("/etc/passwd")), None);
        assert_eq!(safe_relative(Path::new("a/../../b")), None);
        assert_eq!(safe_relative(Path::new(".")), None);
    }
}
