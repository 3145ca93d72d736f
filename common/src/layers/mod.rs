//! Unpacked layers, kept in the store by diff ID to be overlayfs lower
//! dirs: each layer is unpacked alone, once, with its whiteouts kept in
//! overlay's form, so a stack of them mounts as the image's filesystem.

use crate::apply::{self, ApplyError, Whiteouts};
use crate::compress;
use crate::digest::{Digest, DigestError, HashingReader};
use crate::fsutil::{IoContext, IoError};
use crate::image::{digest_of, Image};
use crate::layout::{Layout, LayoutError};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

mod pending;
pub use pending::settle;

#[derive(Debug, thiserror::Error)]
pub enum LayersError {
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Digest(#[from] DigestError),
    #[error("layer {layer}: {source}")]
    Apply {
        layer: String,
        #[source]
        source: ApplyError,
    },
    #[error("layer {layer}: {source}")]
    Read {
        layer: String,
        #[source]
        source: io::Error,
    },
    #[error("layer {layer} unpacks to {actual}, but the config's diff ID is {expected}")]
    DiffId {
        layer: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("the config lists {diff_ids} diff IDs for {layers} layers")]
    Count { diff_ids: usize, layers: usize },
}

/// Where unpacked layers live: `STORE/.slipway/layers/HEX`.
pub fn layers_dir(store: &Path) -> PathBuf {
    store.join(".slipway").join("layers")
}

/// Where layers unpacked for overlay's `userxattr` mode (rootless) live:
/// `STORE/.slipway/layers-userns/HEX`. They differ on disk from root's
/// and must not be mistaken for them: opaque directories are marked with
/// user xattrs, and files belong to the user's subordinate IDs, not to the
/// IDs the image names.
pub fn layers_dir_for(store: &Path, user_xattr: bool) -> PathBuf {
    if user_xattr {
        store.join(".slipway").join("layers-userns")
    } else {
        layers_dir(store)
    }
}

/// The image's diff IDs, bottom layer first.
pub fn diff_ids(image: &Image) -> Result<Vec<Digest>, DigestError> {
    image
        .config
        .get("rootfs")
        .and_then(|r| r.get("diff_ids"))
        .and_then(|d| d.as_array())
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().unwrap_or_default().parse())
                .collect()
        })
        .unwrap_or_else(|| Ok(Vec::new()))
}

/// Unpacks what is missing and returns the layer directories, bottom
/// first. `user_xattr` marks opaque directories as overlay's `userxattr`
/// mode (rootless) reads them, in [`layers_dir_for`]; rootless, call it
/// inside the user namespace, so that files get the owners the image
/// names as that namespace maps them.
pub fn unpack(
    layout: &Layout,
    store: &Path,
    image: &Image,
    user_xattr: bool,
    mut progress: impl FnMut(&str),
) -> Result<Vec<PathBuf>, LayersError> {
    let ids = diff_ids(image)?;
    let layers = image.manifest.layers();
    if ids.len() != layers.len() {
        return Err(LayersError::Count {
            diff_ids: ids.len(),
            layers: layers.len(),
        });
    }
    let dir = layers_dir_for(store, user_xattr);
    crate::fsutil::create_dir_all(&dir)?;
    settle(&dir).ctx("settle the unpacked layers in", &dir)?;
    let mut out = Vec::with_capacity(ids.len());
    let mut missing: Vec<(Digest, u64, &Digest, PathBuf)> = Vec::new();
    for (desc, id) in layers.iter().zip(&ids) {
        let path = dir.join(id.hex());
        if !path.is_dir() && !missing.iter().any(|m| m.3 == path) {
            let blob = digest_of(desc)?;
            progress(&format!("unpacking layer {}", blob.short()));
            missing.push((blob, desc.size(), id, path.clone()));
        }
        out.push(path);
    }
    // Each layer goes to a directory of its own: they unpack side by
    // side, one per core, as containerd's unpacker does.
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(missing.len());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failed: std::sync::Mutex<Option<LayersError>> = std::sync::Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some((blob, size, id, path)) = missing.get(i) else {
                    break;
                };
                let mut first = failed.lock().unwrap_or_else(|e| e.into_inner());
                if first.is_some() {
                    break;
                }
                drop(first);
                if let Err(e) = unpack_one(layout, blob, *size, id, path, user_xattr) {
                    first = failed.lock().unwrap_or_else(|e| e.into_inner());
                    first.get_or_insert(e);
                    break;
                }
            });
        }
    });
    if let Some(e) = failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    Ok(overlay_stack(out))
}

/// The layer directories as overlayfs can stack them: overlay refuses a
/// lower dir that appears twice (ELOOP, "overlapping layers"), yet images
/// list one diff ID many times (every RUN that changes nothing adds the
/// same empty layer). Only the topmost copy of a layer is kept: a layer
/// applied again on top decides every path it names, so its lower copies
/// can change nothing that shows.
pub fn overlay_stack(bottom_first: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut seen = std::collections::HashSet::new();
    let mut top_first: Vec<PathBuf> = bottom_first
        .into_iter()
        .rev()
        .filter(|p| seen.insert(p.clone()))
        .collect();
    top_first.reverse();
    top_first
}

fn unpack_one(
    layout: &Layout,
    blob: &Digest,
    size: u64,
    diff_id: &Digest,
    dest: &Path,
    user_xattr: bool,
) -> Result<(), LayersError> {
    let input = layout.open_blob(blob, Some(size))?;
    let parent = dest.parent().expect("a layer dir has a parent");
    let (tmp, _) = unpack_stream(input, &blob.to_string(), Some(diff_id), parent, user_xattr)?;
    publish(tmp, dest)
}

/// Unpacks the layer `label` (compressed or not) read from `input` into a
/// temp dir in `parent` and checks it against `diff_id` where one is
/// given; the temp dir goes away again unless it is published. Returns it
/// with the diff ID the layer has.
fn unpack_stream(
    input: impl io::Read,
    label: &str,
    diff_id: Option<&Digest>,
    parent: &Path,
    user_xattr: bool,
) -> Result<(tempfile::TempDir, Digest), LayersError> {
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempdir_in(parent)
        .ctx("create a temp dir in", parent)?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))
        .ctx("chmod", tmp.path())?;
    let (_, plain) = compress::decompress(input).map_err(|source| LayersError::Read {
        layer: label.to_string(),
        source,
    })?;
    let mut hashing = HashingReader::new(plain);
    apply::apply_with(&mut hashing, tmp.path(), Whiteouts::Overlay { user_xattr }).map_err(
        |source| LayersError::Apply {
            layer: label.to_string(),
            source,
        },
    )?;
    // The tar's end-of-archive blocks and any padding after count too.
    io::copy(&mut hashing, &mut io::sink()).map_err(|source| LayersError::Read {
        layer: label.to_string(),
        source,
    })?;
    let (actual, _) = hashing.finish();
    if let Some(expected) = diff_id.filter(|d| **d != actual) {
        return Err(LayersError::DiffId {
            layer: label.to_string(),
            expected: expected.clone(),
            actual,
        });
    }
    Ok((tmp, actual))
}

/// Renames an unpacked, checked layer to where containers look for it,
/// marked as not yet known to be on disk (see [`pending`]): a crash
/// before it is must not leave a torn layer that later containers trust.
fn publish(tmp: tempfile::TempDir, dest: &Path) -> Result<(), LayersError> {
    let (layers, name) = split(dest);
    let marked = pending::mark(layers, name).ctx("mark as pending", dest)?;
    if marked.is_none() {
        pending::syncfs(tmp.path()).ctx("sync", tmp.path())?;
    }
    let tmp = tmp.keep();
    match std::fs::rename(&tmp, dest) {
        Ok(()) => Ok(()),
        // Another container unpacked it first: theirs is as good.
        Err(_) if dest.is_dir() => {
            let _ = std::fs::remove_dir_all(&tmp);
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            Err(IoError {
                op: "rename",
                path: dest.to_path_buf(),
                source: e,
            }
            .into())
        }
    }
}

/// A layer directory's parent and name.
fn split(dest: &Path) -> (&Path, &str) {
    let layers = dest.parent().expect("a layer dir has a parent");
    let name = dest
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a layer dir is named by its hex digest");
    (layers, name)
}

fn lock_path(store: &Path) -> PathBuf {
    store.join(".slipway").join("layers.lock")
}

/// Held from unpacking layers until the overlay that stacks them is
/// mounted (or the image that names them is tagged): gc waits for it.
pub fn startup_lock(store: &Path) -> io::Result<crate::lock::FileLock> {
    crate::layout::private_state_dir(store)?;
    crate::lock::FileLock::acquire(&lock_path(store), crate::lock::LockKind::Shared)
}

/// Held by gc while it removes layers: no one unpacks meanwhile.
pub fn exclusive_lock(store: &Path) -> io::Result<crate::lock::FileLock> {
    crate::layout::private_state_dir(store)?;
    crate::lock::FileLock::acquire(&lock_path(store), crate::lock::LockKind::Exclusive)
}

/// A layer unpacked while its blob is still arriving, as containerd's
/// unpacker does on pull: the downloader hands each piece to
/// [`Feed::put`] and a thread of its own extracts them, so the network
/// and the disk work at once. Nothing is published before
/// [`Feed::finish`], which the caller calls only once the blob's digest
/// is verified; dropped instead (a digest mismatch, a failed download),
/// the feed leaves nothing behind.
pub struct Feed {
    tx: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    worker: Option<std::thread::JoinHandle<Result<(tempfile::TempDir, Digest), LayersError>>>,
    label: String,
    dir: PathBuf,
}

/// Pieces in flight between the downloader and the extractor: with the
/// downloader's 256 KiB reads, at most a few MiB per layer in memory.
const FEED_DEPTH: usize = 16;

impl Feed {
    /// Starts unpacking the layer `blob` of diff ID `diff_id` into the
    /// store at `store`; `None` when that layer is unpacked already.
    pub fn start(
        store: &Path,
        blob: &Digest,
        diff_id: &Digest,
        user_xattr: bool,
    ) -> Result<Option<Feed>, LayersError> {
        let dir = layers_dir_for(store, user_xattr);
        if dir.join(diff_id.hex()).is_dir() {
            return Ok(None);
        }
        Self::spawn(store, blob.to_string(), Some(diff_id.clone()), user_xattr).map(Some)
    }

    /// Starts unpacking a layer whose diff ID is known only at its end (a
    /// layer being made): it is published under the diff ID it has.
    pub fn start_unnamed(store: &Path, label: &str, user_xattr: bool) -> Result<Feed, LayersError> {
        Self::spawn(store, label.to_string(), None, user_xattr)
    }

    fn spawn(
        store: &Path,
        label: String,
        diff_id: Option<Digest>,
        user_xattr: bool,
    ) -> Result<Feed, LayersError> {
        let dir = layers_dir_for(store, user_xattr);
        crate::fsutil::create_dir_all(&dir)?;
        settle(&dir).ctx("settle the unpacked layers in", &dir)?;
        let (tx, rx) = std::sync::mpsc::sync_channel(FEED_DEPTH);
        let (name, at) = (label.clone(), dir.clone());
        let worker = std::thread::spawn(move || {
            let input = Pieces {
                rx,
                piece: Vec::new(),
                pos: 0,
            };
            unpack_stream(input, &name, diff_id.as_ref(), &at, user_xattr)
        });
        Ok(Feed {
            tx: Some(tx),
            worker: Some(worker),
            label,
            dir,
        })
    }

    /// Hands the next bytes of the blob to the extractor. An extractor
    /// that has stopped (a malformed tar) takes nothing more; its error
    /// comes from [`Feed::finish`].
    pub fn put(&mut self, bytes: &[u8]) {
        if let Some(tx) = &self.tx {
            if tx.send(bytes.to_vec()).is_err() {
                self.tx = None;
            }
        }
    }

    /// Ends the stream, waits for the extractor, and publishes the layer
    /// under its diff ID, which it returns.
    pub fn finish(mut self) -> Result<Digest, LayersError> {
        self.tx = None;
        let worker = self.worker.take().expect("a feed finishes once");
        let (tmp, diff_id) = worker.join().unwrap_or_else(|_| {
            Err(LayersError::Read {
                layer: self.label.clone(),
                source: io::Error::other("the unpacking thread panicked"),
            })
        })?;
        publish(tmp, &self.dir.join(diff_id.hex()))?;
        Ok(diff_id)
    }
}

/// A writer that hands everything written through it to a [`Feed`] too.
pub struct Tee<W> {
    pub inner: W,
    pub feed: Option<Feed>,
}

impl<W: io::Write> io::Write for Tee<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(f) = self.feed.as_mut() {
            f.put(&buf[..n]);
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Drop for Feed {
    // Waits for the extractor so that its temp dir is gone when the
    // caller goes on: a failed pull leaves nothing behind.
    fn drop(&mut self) {
        self.tx = None;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

/// The reading end of a [`Feed`]: the pieces in order, then the end of
/// the stream once the sender is gone.
struct Pieces {
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    piece: Vec<u8>,
    pos: usize,
}

impl io::Read for Pieces {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.piece.len() {
            match self.rx.recv() {
                Ok(p) => {
                    self.piece = p;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.piece.len() - self.pos);
        buf[..n].copy_from_slice(&self.piece[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Takes `dir`, the overlayfs upper dir a container left (whiteouts and
/// opaque dirs already in overlay's form), as the unpacked copy of the
/// layer `diff_id` made from it, so a container on the new image stacks
/// it instead of extracting the layer again (as BuildKit's overlay
/// snapshotter commits an upper dir). Overlay's own bookkeeping xattrs
/// (origin, impure) are dropped, the opaque marks kept; with `clamp`,
/// mtimes later than it are set back to it, as the layer's are. Returns
/// false, leaving `dir` alone, when it cannot be renamed into the store
/// (another filesystem) or the layer is there already.
pub fn adopt(store: &Path, diff_id: &Digest, dir: &Path, clamp: Option<i64>) -> io::Result<bool> {
    // A rootless container's upper dir is in overlay's userxattr form,
    // as the rootless layers are.
    let layers = layers_dir_for(store, crate::userns::rootless());
    std::fs::create_dir_all(&layers)?;
    let dest = layers.join(diff_id.hex());
    if dest.exists() {
        return Ok(false);
    }
    tidy(dir, clamp)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    // Marked until known to be on disk: a crash before must not leave a
    // torn layer that later containers would stack.
    let (layers, name) = split(&dest);
    let marked = pending::mark(layers, name)?;
    if marked.is_none() {
        pending::syncfs(dir)?;
    }
    match std::fs::rename(dir, &dest) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) || dest.exists() => Ok(false),
        Err(e) => Err(e),
    }
}

/// The xattrs overlayfs keeps for itself on an upper dir's entries, which
/// mean nothing (or the wrong thing) in a lower layer.
const OVERLAY_PRIVATE: [&[u8]; 4] = [
    b"trusted.overlay.origin",
    b"trusted.overlay.impure",
    b"user.overlay.origin",
    b"user.overlay.impure",
];

fn tidy(dir: &Path, clamp: Option<i64>) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let p = e.path();
            let m = std::fs::symlink_metadata(&p)?;
            if m.is_dir() {
                todo.push(p.clone());
            }
            let c = std::ffi::CString::new(p.as_os_str().as_bytes())
                .map_err(|_| io::Error::other("a path with a NUL byte"))?;
            for name in OVERLAY_PRIVATE {
                let n = std::ffi::CString::new(name).expect("no NUL");
                // SAFETY: valid C strings; a missing xattr is ENODATA.
                unsafe { libc::lremovexattr(c.as_ptr(), n.as_ptr()) };
            }
            if let Some(t) = clamp {
                if m.mtime() > t {
                    let times = [
                        libc::timespec {
                            tv_sec: 0,
                            tv_nsec: libc::UTIME_OMIT,
                        },
                        libc::timespec {
                            tv_sec: t as libc::time_t,
                            tv_nsec: 0,
                        },
                    ];
                    // SAFETY: valid C string and two timespecs.
                    unsafe {
                        libc::utimensat(
                            libc::AT_FDCWD,
                            c.as_ptr(),
                            times.as_ptr(),
                            libc::AT_SYMLINK_NOFOLLOW,
                        )
                    };
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::overlay_stack;
    use std::path::PathBuf;

    fn paths(names: &[&str]) -> Vec<PathBuf> {
        names.iter().map(PathBuf::from).collect()
    }

    #[test]
    fn a_repeated_layer_stacks_once_at_its_topmost_place() {
        let stack = overlay_stack(paths(&["base", "empty", "a", "empty", "empty"]));
        assert_eq!(stack, paths(&["base", "a", "empty"]));
    }

    /// A layout holding an image of these layer tars (uncompressed), its
    /// config naming `diff_ids` (the tars' own unless given).
    fn image_of(
        layout: &crate::layout::Layout,
        tars: &[Vec<u8>],
        diff_ids: Option<Vec<String>>,
    ) -> crate::image::Image {
        use crate::digest::Digest;
        let mut descs = vec![];
        let mut ids = vec![];
        for t in tars {
            let (d, n) = layout.write_blob(t).unwrap();
            descs.push(serde_json::json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": d.to_string(), "size": n
            }));
            ids.push(Digest::of(t).to_string());
        }
        let config = serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": diff_ids.unwrap_or(ids)}
        });
        let (cd, cn) = layout.write_blob(config.to_string().as_bytes()).unwrap();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": cd.to_string(), "size": cn},
            "layers": descs
        });
        let (md, mn) = layout.write_blob(manifest.to_string().as_bytes()).unwrap();
        let desc = oci_spec::image::DescriptorBuilder::default()
            .media_type(oci_spec::image::MediaType::ImageManifest)
            .digest(md.to_oci())
            .size(mn)
            .build()
            .unwrap();
        let host = crate::platform::Platform::host();
        crate::image::Image::load(layout, &desc, &host).unwrap()
    }

    fn tar_of(name: &str) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(name.len() as u64);
        h.set_cksum();
        b.append_data(&mut h, name, name.as_bytes()).unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn several_layers_unpack_side_by_side_each_into_its_own_directory() {
        let store = tempfile::tempdir().unwrap();
        let layout = crate::layout::Layout::create(store.path()).unwrap();
        let tars: Vec<_> = ["a", "b", "c", "d"].iter().map(|n| tar_of(n)).collect();
        let image = image_of(&layout, &tars, None);
        let dirs = super::unpack(&layout, store.path(), &image, false, |_| {}).unwrap();
        assert_eq!(dirs.len(), 4);
        for (dir, name) in dirs.iter().zip(["a", "b", "c", "d"]) {
            assert_eq!(std::fs::read_to_string(dir.join(name)).unwrap(), name);
        }
    }

    #[test]
    fn a_layer_that_is_not_its_diff_id_fails_and_leaves_nothing_half_made() {
        let store = tempfile::tempdir().unwrap();
        let layout = crate::layout::Layout::create(store.path()).unwrap();
        let tars: Vec<_> = ["a", "b", "c"].iter().map(|n| tar_of(n)).collect();
        let mut ids: Vec<String> = tars
            .iter()
            .map(|t| crate::digest::Digest::of(t).to_string())
            .collect();
        ids[1] = crate::digest::Digest::of(b"something else").to_string();
        let image = image_of(&layout, &tars, Some(ids.clone()));
        let e = super::unpack(&layout, store.path(), &image, false, |_| {}).unwrap_err();
        assert!(matches!(e, super::LayersError::DiffId { .. }), "{e}");
        let dir = super::layers_dir(store.path());
        let left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!left.iter().any(|n| n.starts_with(".tmp-")), "{left:?}");
        let bad = ids[1].trim_start_matches("sha256:");
        assert!(!left.iter().any(|n| n == bad), "{left:?}");
    }

    fn leftovers(store: &std::path::Path) -> Vec<String> {
        std::fs::read_dir(super::layers_dir(store))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn a_fed_layer_is_published_only_when_finished() {
        use crate::digest::Digest;
        let store = tempfile::tempdir().unwrap();
        let tar = tar_of("f");
        let id = Digest::of(&tar);
        let mut feed = super::Feed::start(store.path(), &id, &id, false)
            .unwrap()
            .unwrap();
        for piece in tar.chunks(100) {
            feed.put(piece);
        }
        let dest = super::layers_dir(store.path()).join(id.hex());
        assert!(!dest.exists(), "published before finish");
        feed.finish().unwrap();
        assert_eq!(std::fs::read_to_string(dest.join("f")).unwrap(), "f");
        assert!(super::Feed::start(store.path(), &id, &id, false)
            .unwrap()
            .is_none());
    }

    #[test]
    fn a_dropped_or_wrong_feed_leaves_nothing() {
        use crate::digest::Digest;
        let store = tempfile::tempdir().unwrap();
        let tar = tar_of("f");
        let id = Digest::of(&tar);
        // Dropped half way, as when the blob's digest is wrong.
        let mut feed = super::Feed::start(store.path(), &id, &id, false)
            .unwrap()
            .unwrap();
        feed.put(&tar[..700]);
        drop(feed);
        assert!(leftovers(store.path()).is_empty());
        // Whole, but not the diff ID the config names.
        let other = Digest::of(b"other");
        let mut feed = super::Feed::start(store.path(), &id, &other, false)
            .unwrap()
            .unwrap();
        feed.put(&tar);
        let e = feed.finish().unwrap_err();
        assert!(matches!(e, super::LayersError::DiffId { .. }), "{e}");
        assert!(leftovers(store.path()).is_empty());
    }

    #[test]
    fn distinct_layers_keep_their_order() {
        let stack = overlay_stack(paths(&["base", "a", "b"]));
        assert_eq!(stack, paths(&["base", "a", "b"]));
    }
}
