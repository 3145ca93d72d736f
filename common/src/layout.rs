//! The OCI image layout (image-spec 1.1): `oci-layout`, `index.json` and
//! `blobs/sha256/…`, written crash-safe and read verified.
//!
//! Blob writes go to a temp file under `.slipway/tmp`, are hashed while they
//! stream, checked against the expected digest, fsynced and renamed into
//! place. `index.json` is replaced atomically under `.slipway/index.lock`.
//! Writers hold `.slipway/gc.lock` shared for as long as they have blobs that
//! no index entry reaches yet; `gc` holds it exclusively.

use crate::digest::{Digest, DigestError, HashingWriter, VerifyingReader};
use crate::fsutil::{self, IoContext, IoError};
use crate::lock::{FileLock, LockKind};
use oci_spec::image::{Descriptor, ImageIndex, MediaType};
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

pub const OCI_LAYOUT_FILE: &str = "oci-layout";
pub const INDEX_FILE: &str = "index.json";
pub const STATE_DIR: &str = ".slipway";
/// The largest manifest, index or config read into memory.
pub const JSON_BLOB_MAX: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("{}: not an OCI image layout (no readable {OCI_LAYOUT_FILE} file)", .0.display())]
    NotALayout(PathBuf),
    #[error("{}: malformed: {msg}", path.display())]
    Malformed { path: PathBuf, msg: String },
    #[error("blob {digest} is missing from {}", root.display())]
    MissingBlob { digest: Digest, root: PathBuf },
    #[error("{0}")]
    Corrupt(String),
    #[error(transparent)]
    Digest(#[from] DigestError),
    #[error("{what} is {size} bytes, more than the {JSON_BLOB_MAX} allowed")]
    TooLarge { what: String, size: u64 },
}

/// The store's own state beside the layout (`.slipway`), made (or made
/// again) 0700: it holds unpacked layers, build cache mounts and the
/// builds' temp dirs, where a setuid file a container made must not be
/// reachable by other users of the host, as Docker keeps /var/lib/docker.
pub fn private_state_dir(root: &Path) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = root.join(STATE_DIR);
    std::fs::create_dir_all(&dir)?;
    let m = std::fs::metadata(&dir)?;
    // SAFETY: geteuid has no preconditions.
    if m.mode() & 0o077 != 0 && m.uid() == unsafe { libc::geteuid() } {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(dir)
}

/// Serializes through `serde_json::Value`, whose maps are sorted, so the
/// bytes never depend on a `HashMap`'s order: the same image always gets
/// the same digest.
pub fn canonical_json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    let value = serde_json::to_value(v).expect("image types serialize to JSON");
    serde_json::to_vec(&value).expect("a JSON value serializes")
}

#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
}

fn empty_index() -> ImageIndex {
    oci_spec::image::ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(Vec::<Descriptor>::new())
        .build()
        .expect("an empty index is valid")
}

impl Layout {
    /// Opens an existing layout.
    pub fn open(root: &Path) -> Result<Layout, LayoutError> {
        let text = fs::read_to_string(root.join(OCI_LAYOUT_FILE))
            .map_err(|_| LayoutError::NotALayout(root.to_path_buf()))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| LayoutError::Malformed {
                path: root.join(OCI_LAYOUT_FILE),
                msg: e.to_string(),
            })?;
        if v.get("imageLayoutVersion")
            .and_then(|v| v.as_str())
            .is_none()
        {
            return Err(LayoutError::Malformed {
                path: root.join(OCI_LAYOUT_FILE),
                msg: "no imageLayoutVersion".into(),
            });
        }
        Ok(Layout {
            root: root.to_path_buf(),
        })
    }

    /// Opens a layout, making an empty one first where there is none.
    pub fn create(root: &Path) -> Result<Layout, LayoutError> {
        fsutil::create_dir_all(&root.join("blobs").join("sha256"))?;
        let layout = Layout {
            root: root.to_path_buf(),
        };
        private_state_dir(root).ctx("create", &layout.state_dir())?;
        fsutil::create_dir_all(&layout.tmp_dir())?;
        if !root.join(OCI_LAYOUT_FILE).exists() {
            fsutil::write_atomic(
                &root.join(OCI_LAYOUT_FILE),
                br#"{"imageLayoutVersion":"1.0.0"}"#,
            )?;
        }
        if !root.join(INDEX_FILE).exists() {
            let _lock = layout.index_lock()?;
            if !root.join(INDEX_FILE).exists() {
                fsutil::write_atomic(&root.join(INDEX_FILE), &canonical_json(&empty_index()))?;
            }
        }
        Layout::open(root)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn state_dir(&self) -> PathBuf {
        self.root.join(STATE_DIR)
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.state_dir().join("tmp")
    }

    fn lock(&self, name: &str, kind: LockKind) -> Result<FileLock, LayoutError> {
        let dir = self.state_dir();
        fsutil::create_dir_all(&dir)?;
        let path = dir.join(name);
        Ok(FileLock::acquire(&path, kind).ctx("lock", &path)?)
    }

    fn index_lock(&self) -> Result<FileLock, LayoutError> {
        self.lock("index.lock", LockKind::Exclusive)
    }

    /// Held by a writer from its first blob until its index entry is in:
    /// gc waits for it, so it never deletes a blob about to be referenced.
    pub fn write_session(&self) -> Result<FileLock, LayoutError> {
        self.lock("gc.lock", LockKind::Shared)
    }

    /// Held by gc: no writer is between its blobs and its index entry.
    pub fn exclusive_session(&self) -> Result<FileLock, LayoutError> {
        self.lock("gc.lock", LockKind::Exclusive)
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs").join("sha256").join(digest.hex())
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Opens a blob through a reader that fails at EOF unless the bytes
    /// match the digest (and the size, when given).
    pub fn open_blob(
        &self,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<VerifyingReader<BufReader<File>>, LayoutError> {
        let path = self.blob_path(digest);
        let file = File::open(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                LayoutError::MissingBlob {
                    digest: digest.clone(),
                    root: self.root.clone(),
                }
            } else {
                IoError {
                    op: "open",
                    path: path.clone(),
                    source: e,
                }
                .into()
            }
        })?;
        Ok(VerifyingReader::new(
            BufReader::with_capacity(128 * 1024, file),
            digest.clone(),
            size,
            format!("blob {}", path.display()),
        ))
    }

    /// Reads a small (JSON) blob whole, verified.
    pub fn read_blob(&self, digest: &Digest, size: Option<u64>) -> Result<Vec<u8>, LayoutError> {
        let path = self.blob_path(digest);
        let actual = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if size.unwrap_or(actual) > JSON_BLOB_MAX {
            return Err(LayoutError::TooLarge {
                what: format!("blob {digest}"),
                size: size.unwrap_or(actual),
            });
        }
        let mut r = self.open_blob(digest, size)?;
        let mut buf = Vec::new();
        r.read_to_end(&mut buf)
            .map_err(|e| verify_error(e, &path))?;
        Ok(buf)
    }

    /// A writer for a new blob; `finish` puts it in place.
    pub fn blob_writer(&self) -> Result<BlobWriter, LayoutError> {
        let tmp_dir = self.tmp_dir();
        fsutil::create_dir_all(&tmp_dir)?;
        let tmp = tempfile::Builder::new()
            .prefix("blob-")
            .tempfile_in(&tmp_dir)
            .ctx("create a temp file in", &tmp_dir)?;
        let file = tmp.reopen().ctx("open", tmp.path())?;
        Ok(BlobWriter {
            inner: HashingWriter::new(BufWriter::with_capacity(128 * 1024, file)),
            tmp,
            blobs: self.root.join("blobs").join("sha256"),
        })
    }

    /// Writes a whole blob from memory.
    pub fn write_blob(&self, bytes: &[u8]) -> Result<(Digest, u64), LayoutError> {
        let digest = Digest::of(bytes);
        if self.has_blob(&digest) {
            return Ok((digest, bytes.len() as u64));
        }
        let mut w = self.blob_writer()?;
        w.write_all(bytes).ctx("write", w.tmp.path())?;
        w.finish(Some(&digest))
    }

    /// Copies a blob from another layout unless this one has it; the copy
    /// is verified on the way.
    pub fn copy_blob_from(
        &self,
        src: &Layout,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<(), LayoutError> {
        if self.has_blob(digest) {
            return Ok(());
        }
        let from = src.blob_path(digest);
        // Blobs never change once written: a hard link is a safe copy, and
        // free. It is only taken when the source is verified.
        if fs::hard_link(&from, self.blob_path(digest)).is_ok() {
            let check = src.open_blob(digest, size).and_then(|mut r| {
                io::copy(&mut r, &mut io::sink()).map_err(|e| verify_error(e, &from))
            });
            if let Err(e) = check {
                let _ = fs::remove_file(self.blob_path(digest));
                return Err(e);
            }
            return Ok(());
        }
        let mut r = src.open_blob(digest, size)?;
        let mut w = self.blob_writer()?;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(verify_error(e, &from)),
            };
            w.put(&buf[..n])?;
        }
        w.finish(Some(digest))?;
        Ok(())
    }

    pub fn read_index(&self) -> Result<ImageIndex, LayoutError> {
        let path = self.root.join(INDEX_FILE);
        let bytes = fs::read(&path).ctx("read", &path)?;
        // serde_json first: its errors name the line and column.
        serde_json::from_slice::<serde_json::Value>(&bytes).map_err(|e| {
            LayoutError::Malformed {
                path: path.clone(),
                msg: e.to_string(),
            }
        })?;
        crate::image::decode::<ImageIndex>(&bytes)
            .map_err(|msg| LayoutError::Malformed { path, msg })
    }

    /// Reads, edits and atomically replaces `index.json` under its lock, so
    /// concurrent writers never lose each other's entries.
    pub fn update_index<T>(
        &self,
        edit: impl FnOnce(&mut ImageIndex) -> Result<T, LayoutError>,
    ) -> Result<T, LayoutError> {
        let _lock = self.index_lock()?;
        let mut index = self.read_index()?;
        let out = edit(&mut index)?;
        fsutil::write_atomic(&self.root.join(INDEX_FILE), &canonical_json(&index))?;
        Ok(out)
    }

    /// Lists a manifest in `index.json`, named `name` (the ref.name
    /// annotation, as umoci and skopeo name images in a layout): an entry
    /// of that name gives way; unnamed, only an unnamed entry of the same
    /// digest does.
    pub fn add_manifest(
        &self,
        desc: &oci_spec::image::Descriptor,
        name: Option<&str>,
    ) -> Result<(), LayoutError> {
        use crate::store::REF_NAME;
        let mut entry = desc.clone();
        if let Some(n) = name {
            entry.set_annotations(Some(std::collections::HashMap::from([(
                REF_NAME.to_string(),
                n.to_string(),
            )])));
        }
        self.update_index(|index| {
            let mut m = index.manifests().clone();
            m.retain(|d| {
                let existing = d.annotations().as_ref().and_then(|a| a.get(REF_NAME));
                match name {
                    Some(n) => existing.map(String::as_str) != Some(n),
                    None => existing.is_some() || d.digest() != desc.digest(),
                }
            });
            m.push(entry);
            index.set_manifests(m);
            Ok(())
        })
    }
}

/// Turns a verification failure surfacing as an io::Error into a
/// `Corrupt` error that says which blob.
pub fn verify_error(e: io::Error, path: &Path) -> LayoutError {
    if e.kind() == io::ErrorKind::InvalidData {
        LayoutError::Corrupt(e.to_string())
    } else {
        IoError {
            op: "read",
            path: path.to_path_buf(),
            source: e,
        }
        .into()
    }
}

/// A blob being written: a temp file that becomes `blobs/sha256/<digest>`
/// only once complete, checked and on disk. Dropped unfinished, it vanishes.
pub struct BlobWriter {
    inner: HashingWriter<BufWriter<File>>,
    tmp: tempfile::NamedTempFile,
    blobs: PathBuf,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl BlobWriter {
    /// Writes `buf`; a failure (a full disk) says write and names the file
    /// being written, not the blob being read.
    pub fn put(&mut self, buf: &[u8]) -> Result<(), LayoutError> {
        let path = self.tmp.path().to_path_buf();
        Ok(self.inner.write_all(buf).ctx("write", &path)?)
    }

    pub fn finish(self, expected: Option<&Digest>) -> Result<(Digest, u64), LayoutError> {
        let path = self.tmp.path().to_path_buf();
        let (buf, digest, size) = self.inner.finish();
        let file = buf
            .into_inner()
            .map_err(|e| e.into_error())
            .ctx("write", &path)?;
        if let Some(want) = expected {
            if *want != digest {
                return Err(LayoutError::Corrupt(format!(
                    "digest mismatch: expected {want}, got {digest}"
                )));
            }
        }
        // tempfile makes 0600 files; blobs are for every reader of the layout.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o644))
            .ctx("chmod", &path)?;
        file.sync_all().ctx("fsync", &path)?;
        let dest = self.blobs.join(digest.hex());
        if !dest.exists() {
            self.tmp
                .persist(&dest)
                .map_err(|e| e.error)
                .ctx("rename into place", &dest)?;
            fsutil::sync_dir(&self.blobs).ctx("fsync", &self.blobs)?;
        }
        Ok((digest, size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_round_trip_and_corruption_is_caught_on_read() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::create(dir.path()).unwrap();
        let (d, n) = l.write_blob(b"{\"a\":1}").unwrap();
        assert_eq!(n, 7);
        assert_eq!(l.read_blob(&d, Some(7)).unwrap(), b"{\"a\":1}");
        fs::write(l.blob_path(&d), b"{\"a\":2}").unwrap();
        let err = l.read_blob(&d, Some(7)).unwrap_err();
        assert!(matches!(err, LayoutError::Corrupt(_)), "{err}");
        assert!(fs::read_dir(l.tmp_dir()).unwrap().next().is_none());
    }

    #[test]
    fn a_full_disk_is_reported_as_a_write_of_the_file_written() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: needs root to mount a small tmpfs");
            return;
        }
        let src_dir = tempfile::tempdir().unwrap();
        let src = Layout::create(src_dir.path()).unwrap();
        let (d, n) = src.write_blob(&vec![7u8; 512 * 1024]).unwrap();
        let small = tempfile::tempdir().unwrap();
        let p = std::ffi::CString::new(small.path().as_os_str().as_encoded_bytes()).unwrap();
        crate::mount::mount(Some(c"tmpfs"), &p, Some(c"tmpfs"), 0, Some(c"size=128k")).unwrap();
        let result = Layout::create(small.path()).and_then(|l| l.copy_blob_from(&src, &d, Some(n)));
        let _ = crate::mount::umount(&p, libc::MNT_DETACH);
        let msg = result.unwrap_err().to_string();
        assert!(msg.starts_with("write "), "{msg}");
        assert!(msg.contains("No space left on device"), "{msg}");
        assert!(
            !msg.contains(&src_dir.path().display().to_string()),
            "{msg}"
        );
    }

    #[test]
    fn blob_writer_rejects_a_digest_mismatch_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::create(dir.path()).unwrap();
        let mut w = l.blob_writer().unwrap();
        w.write_all(b"abc").unwrap();
        assert!(w.finish(Some(&Digest::of(b"abd"))).is_err());
        assert!(!l.has_blob(&Digest::of(b"abc")));
        assert!(fs::read_dir(l.tmp_dir()).unwrap().next().is_none());
    }

    #[test]
    fn malformed_index_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::create(dir.path()).unwrap();
        fs::write(dir.path().join(INDEX_FILE), b"{not json").unwrap();
        assert!(matches!(l.read_index(), Err(LayoutError::Malformed { .. })));
        assert!(matches!(
            Layout::open(&dir.path().join("nope")),
            Err(LayoutError::NotALayout(_))
        ));
    }
}
