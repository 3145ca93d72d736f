//! Whole images to and from a registry: blobs several at a time, each
//! resumed after a dropped connection and verified, the manifest last.

use super::client::{backoff, Piece, Registry, Upload, UploadFailure};
use super::progress::Progress;
use super::sources::BlobSources;
use super::{PushPullError, RegistryError};
use crate::digest::Digest;
use crate::layers::Feed;
use crate::layout::Layout;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};

/// How blobs move.
#[derive(Clone, Copy, Debug)]
pub struct Transfer {
    /// Blobs at once (docker and skopeo move 3).
    pub jobs: usize,
    /// Upload in PATCH requests of this many bytes instead of one PUT.
    pub chunk_size: Option<u64>,
}

impl Default for Transfer {
    fn default() -> Self {
        Transfer {
            jobs: 3,
            chunk_size: None,
        }
    }
}

/// What every blob of one image's transfer shares.
pub struct Job<'a> {
    pub reg: &'a Registry,
    pub layout: &'a Layout,
    pub repo: &'a str,
    pub sources: &'a BlobSources,
    pub transfer: Transfer,
    pub progress: &'a Progress,
    /// A pull also unpacks each layer into this store's unpacked layers
    /// (overlay's form for root) as it arrives.
    pub unpack_into: Option<&'a std::path::Path>,
}

/// Runs `work` on every item, `jobs` at a time; the first error stops the
/// rest from starting and is returned.
fn for_each_parallel<T: Sync>(
    items: &[T],
    jobs: usize,
    work: impl Fn(&T) -> Result<(), PushPullError> + Sync,
) -> Result<(), PushPullError> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let first_err = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1).min(items.len()) {
            scope.spawn(|| loop {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { return };
                if let Err(e) = work(item) {
                    stop.store(true, Ordering::Relaxed);
                    first_err
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get_or_insert(e);
                    return;
                }
            });
        }
    });
    first_err
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .map_or(Ok(()), Err)
}

/// A reader that counts what passes for the progress bar.
struct Counting<'a, R> {
    inner: R,
    done: u64,
    progress: &'a Progress,
    bar: usize,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        self.progress.update(self.bar, self.done);
        Ok(n)
    }
}

/// A reader of the local blob that keeps its own failure (a damaged blob,
/// a read error) apart from the network's, which a retry may cure.
struct Local<R> {
    inner: R,
    failed: Arc<Mutex<Option<io::Error>>>,
}

impl<R: Read> Read for Local<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            *self.failed.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(io::Error::new(e.kind(), e.to_string()));
        })
    }
}

/// `left` bytes of a reader; with `check_end`, the read that delivers the
/// last of them also reads the inner reader's end, so its verdict (a
/// digest mismatch) fails the request before the registry gets the end.
/// An HTTP client stops reading at Content-Length and would never ask.
struct Piecewise<R> {
    inner: R,
    left: u64,
    check_end: bool,
}

impl<R: Read> Read for Piecewise<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let max = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        self.left -= n as u64;
        if self.left == 0 && self.check_end && self.inner.read(&mut [0u8; 1])? != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the blob is longer than its descriptor says",
            ));
        }
        Ok(n)
    }
}

/// Uploads one blob of `layout` to `repo`, resuming from where the
/// registry says it stands after a failure, within the retry budget.
fn upload_blob(
    job: &Job,
    digest: &Digest,
    size: u64,
    session: Option<String>,
    bar: usize,
) -> Result<(), PushPullError> {
    let Job {
        reg,
        layout,
        repo,
        transfer,
        progress,
        ..
    } = *job;
    let mut session = session;
    let mut offset = 0u64;
    let mut failures = 0;
    let mut chunk_size = transfer.chunk_size;
    // The local blob, left where the last piece stopped: the next chunk
    // goes on from there instead of reading the blob again to its offset.
    let mut source: Option<(u64, BlobReader)> = None;
    loop {
        let location = match session.take() {
            Some(l) => l,
            None => {
                offset = 0;
                match reg.start_upload(repo, None)? {
                    Upload::Session(l) => l,
                    Upload::Mounted => return Ok(()),
                }
            }
        };
        let piece = match chunk_size {
            _ if offset >= size && (offset > 0 || chunk_size.is_some()) => Piece::Finish,
            None if offset == 0 => Piece::Whole { size },
            chunk => Piece::Patch {
                offset,
                len: chunk.unwrap_or(size).min(size - offset),
            },
        };
        let failed = Arc::new(Mutex::new(None));
        let len = match piece {
            Piece::Whole { size } => size,
            Piece::Patch { len, .. } => len,
            Piece::Finish => 0,
        };
        let mut opened = match source.take() {
            _ if len == 0 => None,
            Some((pos, r)) if pos == offset => Some(r),
            _ => Some(open_at(layout, digest, size, offset)?),
        };
        let mut nothing = io::empty();
        let inner: &mut dyn Read = match opened.as_mut() {
            Some(r) => r,
            None => &mut nothing,
        };
        let body = Counting {
            inner: Local {
                inner: Piecewise {
                    inner,
                    left: len,
                    // The piece that ends the blob reads on to EOF, where
                    // the verifying reader checks the digest: a damaged
                    // local blob fails here, not at the registry.
                    check_end: offset + len == size,
                },
                failed: failed.clone(),
            },
            done: offset,
            progress,
            bar,
        };
        match reg.send_upload(repo, &location, digest, piece, body) {
            Ok(None) => return Ok(()),
            Ok(Some(next)) => {
                offset += len;
                session = Some(next);
                source = opened.map(|r| (offset, r));
            }
            Err(f) => {
                if let Some(e) = failed.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    reg.cancel_upload(repo, &location);
                    let what = layout.blob_path(digest);
                    return Err(crate::layout::verify_error(e, &what).into());
                }
                if chunk_size.is_none() && is_too_large(&f) {
                    // A registry with a request size limit: chunks it can take.
                    progress.note(&format!(
                        "{digest}: {} (uploading in chunks of {} instead)",
                        f.error,
                        crate::time::human_size(FALLBACK_CHUNK)
                    ));
                    reg.cancel_upload(repo, &location);
                    chunk_size = Some(FALLBACK_CHUNK);
                    session = None;
                    failures += 1;
                } else if is_range_refused(&f) {
                    // The registry lost count: start over in a new session.
                    reg.cancel_upload(repo, &location);
                    session = None;
                    failures += 1;
                } else if !f.retry {
                    return Err(f.error.into());
                } else {
                    failures += 1;
                    if failures > reg.retries() {
                        return Err(f.error.into());
                    }
                    std::thread::sleep(
                        f.retry_after
                            .map(|d| d.min(super::client::RETRY_AFTER_MAX))
                            .unwrap_or_else(|| backoff(failures - 1)),
                    );
                    match reg.upload_status(repo, &location) {
                        Ok((next, loc)) if next <= size => {
                            progress
                                .note(&format!("{digest}: {} (resuming at byte {next})", f.error));
                            offset = next;
                            session = Some(loc);
                        }
                        _ => {
                            progress.note(&format!("{digest}: {} (starting again)", f.error));
                            session = None;
                        }
                    }
                }
                if failures > reg.retries() {
                    return Err(f.error.into());
                }
            }
        }
    }
}

/// The chunk size after a 413: GHCR's limit per request, which the others
/// allow too.
const FALLBACK_CHUNK: u64 = 4 << 20;

fn is_too_large(f: &UploadFailure) -> bool {
    matches!(f.error, RegistryError::Status { status: 413, .. })
}

fn is_range_refused(f: &UploadFailure) -> bool {
    matches!(f.error, RegistryError::Status { status: 416, .. })
}

type BlobReader = crate::digest::VerifyingReader<io::BufReader<std::fs::File>>;

/// The blob from `offset` on, still verified whole: the bytes before the
/// offset are read and hashed, not sent, so a damaged blob never passes.
fn open_at(
    layout: &Layout,
    digest: &Digest,
    size: u64,
    offset: u64,
) -> Result<BlobReader, PushPullError> {
    let mut r = layout.open_blob(digest, Some(size))?;
    if offset > 0 {
        io::copy(&mut (&mut r).take(offset), &mut io::sink())
            .map_err(|e| crate::layout::verify_error(e, &layout.blob_path(digest)))?;
    }
    Ok(r)
}

/// Pushes an image whose blobs are in `layout` to `repo`: every blob the
/// registry lacks is mounted from another repository where one is known,
/// uploaded otherwise, and confirmed present; the manifest goes up last,
/// byte for byte, under each of `tags`. Returns the manifest digest.
pub fn push_image(
    job: &Job,
    image: &crate::image::Image,
    tags: &[String],
) -> Result<Digest, PushPullError> {
    let Job {
        reg,
        layout,
        repo,
        sources,
        transfer,
        progress,
        ..
    } = *job;
    use crate::image::digest_of;
    let mut blobs: Vec<(Digest, u64)> = Vec::new();
    for l in image.manifest.layers() {
        blobs.push((digest_of(l)?, l.size()));
    }
    blobs.push((image.id(), image.manifest.config().size()));
    let bars: Vec<usize> = blobs
        .iter()
        .map(|(d, s)| progress.start(&d.to_string(), *s))
        .collect();
    let work: Vec<(Digest, u64, usize)> = blobs
        .into_iter()
        .zip(bars)
        .map(|((d, s), b)| (d, s, b))
        .collect();
    for_each_parallel(&work, transfer.jobs, |(d, size, bar)| {
        if reg.has_blob(repo, d)?.is_some() {
            sources.record(d, reg.host(), repo);
            progress.finish(*bar, "already there");
            return Ok(());
        }
        let mut session = None;
        if let Some(from) = sources.find(d, reg.host(), repo) {
            match reg.start_upload(repo, Some((d, &from))) {
                Ok(Upload::Mounted) => {
                    sources.record(d, reg.host(), repo);
                    progress.finish(*bar, &format!("mounted from {from}"));
                    return Ok(());
                }
                Ok(Upload::Session(l)) => session = Some(l),
                // A refused mount is only a missed shortcut.
                Err(_) => {}
            }
        }
        upload_blob(job, d, *size, session, *bar)?;
        match reg.has_blob(repo, d)? {
            Some(n) if n == *size || n == 0 => {}
            Some(n) => {
                return Err(RegistryError::Protocol(format!(
                    "{d}: the registry holds {n} bytes after the upload, not {size}"
                ))
                .into())
            }
            None => {
                return Err(
                    RegistryError::Protocol(format!("{d}: not in {repo} after the upload")).into(),
                )
            }
        }
        sources.record(d, reg.host(), repo);
        progress.finish(
            *bar,
            &format!("pushed ({})", crate::time::human_size(*size)),
        );
        Ok(())
    })?;
    let mdigest = image.digest();
    let mbytes = layout.read_blob(&mdigest, Some(image.manifest_descriptor.size()))?;
    let media = image.manifest_descriptor.media_type().to_string();
    for tag in tags {
        reg.put_manifest(repo, tag, &media, &mbytes)?;
    }
    Ok(mdigest)
}

/// Puts an index, byte for byte, under each of `tags` once its images are
/// pushed (by digest, with `push_image`). Returns the index digest.
pub fn put_index(
    job: &Job,
    multi: &crate::index::MultiImage,
    tags: &[String],
) -> Result<Digest, PushPullError> {
    let digest = multi.digest();
    let bytes = job
        .layout
        .read_blob(&digest, Some(multi.descriptor.size()))?;
    let media = multi.descriptor.media_type().to_string();
    for tag in tags {
        job.reg.put_manifest(job.repo, tag, &media, &bytes)?;
    }
    Ok(digest)
}

/// A manifest or index by tag or digest, its bytes checked against a
/// digest reference, parsed as JSON.
fn fetch_manifest(
    job: &Job,
    reference: &str,
) -> Result<(String, Vec<u8>, serde_json::Value), PushPullError> {
    let (media, bytes) = job.reg.get_manifest(job.repo, reference)?;
    if let Ok(want) = reference.parse::<Digest>() {
        if Digest::of(&bytes) != want {
            return Err(RegistryError::Protocol(format!(
                "manifest {reference}: the registry sent other bytes"
            ))
            .into());
        }
    }
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| RegistryError::Protocol(format!("manifest {reference}: {e}")))?;
    Ok((media, bytes, value))
}

/// Pulls `reference` whole when it names an index: every manifest it
/// lists (layers unpacked only for the host's platform, the one that runs
/// here), then the index itself. A manifest is pulled as `pull_image`
/// does. Returns the descriptor of what `reference` names.
pub fn pull_all(job: &Job, reference: &str) -> Result<oci_spec::image::Descriptor, PushPullError> {
    use crate::image::{doc_kind, DocKind};
    let (media, bytes, value) = fetch_manifest(job, reference)?;
    let host = crate::platform::Platform::host();
    if doc_kind(&media, Some(&value)) != DocKind::Index {
        return pull_image(job, reference, &host);
    }
    let index: oci_spec::image::ImageIndex = crate::image::decode(&bytes)
        .map_err(|e| RegistryError::Protocol(format!("index {reference}: {e}")))?;
    for m in index.manifests() {
        if doc_kind(m.media_type().as_ref(), None) == DocKind::Index {
            return Err(RegistryError::Unsupported(format!(
                "{}:{reference}: an index inside an index ({}) is not pulled",
                job.repo,
                m.digest()
            ))
            .into());
        }
        let native = m.platform().as_ref().is_some_and(|p| {
            host.matches(
                &p.os().to_string(),
                &p.architecture().to_string(),
                p.variant().as_deref(),
            )
        });
        let child = Job {
            unpack_into: job.unpack_into.filter(|_| native),
            ..*job
        };
        let got = pull_image(&child, m.digest().as_ref(), &host)?;
        if got.digest() != m.digest() {
            return Err(RegistryError::Protocol(format!(
                "{}: the registry sent another manifest than the index lists",
                m.digest()
            ))
            .into());
        }
    }
    let (digest, size) = job.layout.write_blob(&bytes)?;
    let media = if media.is_empty() {
        value["mediaType"]
            .as_str()
            .unwrap_or("application/vnd.oci.image.index.v1+json")
            .to_string()
    } else {
        media
    };
    Ok(oci_spec::image::DescriptorBuilder::default()
        .media_type(oci_spec::image::MediaType::from(media.as_str()))
        .digest(digest.to_oci())
        .size(size)
        .build()
        .expect("complete descriptor"))
}

/// Fetches one blob into `layout`, resuming with a Range request after a
/// dropped connection; kept only when its size and digest are right.
/// With `feed`, every byte also goes to the layer's extractor, which
/// publishes only after the digest is verified.
fn download_blob(
    job: &Job,
    digest: &Digest,
    size: u64,
    bar: usize,
    mut feed: Option<Feed>,
) -> Result<(), PushPullError> {
    let Job {
        reg,
        layout,
        repo,
        progress,
        ..
    } = *job;
    let mut w = layout.blob_writer()?;
    let what = layout.blob_path(digest);
    let mut done = 0u64;
    let mut failures = 0;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let (status, mut body) = reg.get_blob(repo, digest, done)?;
        let mut skip = if status == 206 { 0 } else { done };
        let net_err: Option<io::Error> = loop {
            let n = match body.read(&mut buf) {
                Ok(0) => break None,
                Ok(n) => n,
                Err(e) => break Some(e),
            };
            // A registry that ignored the Range sends the start again.
            let fresh = &buf[(skip.min(n as u64) as usize)..n];
            skip -= skip.min(n as u64);
            if done + fresh.len() as u64 > size {
                return Err(RegistryError::Protocol(format!(
                    "{digest}: the registry sent more than the {size} bytes the manifest says"
                ))
                .into());
            }
            w.put(fresh)?;
            if let Some(f) = feed.as_mut() {
                f.put(fresh);
            }
            done += fresh.len() as u64;
            progress.update(bar, done);
        };
        // Every byte arrived: an error after the last one changes nothing
        // (and a Range from the end would only get a 416); the digest
        // check below judges the bytes.
        if done == size {
            break;
        }
        failures += 1;
        let why = net_err.map_or_else(
            || "the connection closed early".to_string(),
            |e| e.to_string(),
        );
        if failures > reg.retries() {
            return Err(RegistryError::Transport {
                method: "GET",
                url: format!("blob {digest}"),
                message: format!("{why} after {done} of {size} bytes"),
            }
            .into());
        }
        progress.note(&format!("{digest}: {why} (resuming at byte {done})"));
        std::thread::sleep(backoff(failures - 1));
    }
    w.flush()
        .map_err(|e| crate::layout::verify_error(e, &what))?;
    w.finish(Some(digest))?;
    if let Some(f) = feed {
        // The blob is right and kept; a layer that will not unpack is
        // reported now and unpacked (and its error told) again where a
        // container needs it, as with a blob pulled to an OCI layout.
        if let Err(e) = f.finish() {
            progress.note(&format!("{digest}: not unpacked: {e}"));
        }
    }
    Ok(())
}

/// The config's diff IDs when it names one per layer; otherwise none, and
/// the layers are unpacked (and the config's fault told) where used.
fn diff_ids_of(
    layout: &Layout,
    config: &oci_spec::image::Descriptor,
    layers: usize,
) -> Vec<Digest> {
    let Ok(d) = crate::image::digest_of(config) else {
        return Vec::new();
    };
    let Ok(bytes) = layout.read_blob(&d, Some(config.size())) else {
        return Vec::new();
    };
    let ids: Vec<Digest> = crate::image::decode::<crate::image::ImageConfig>(&bytes)
        .ok()
        .and_then(|c| c.rootfs)
        .map(|r| r.diff_ids.iter().filter_map(|s| s.parse().ok()).collect())
        .unwrap_or_default();
    if ids.len() == layers {
        ids
    } else {
        Vec::new()
    }
}

/// Pulls `reference` (a tag or digest) of `repo` into `layout`, choosing
/// `platform` from an index; every blob is verified before it is kept.
/// Returns the descriptor of the image manifest.
pub fn pull_image(
    job: &Job,
    reference: &str,
    platform: &crate::platform::Platform,
) -> Result<oci_spec::image::Descriptor, PushPullError> {
    let Job {
        reg,
        layout,
        repo,
        sources,
        transfer,
        progress,
        unpack_into,
    } = *job;
    use crate::image::{doc_kind, select_platform, DocKind};
    let (mut media, mut bytes, value) = fetch_manifest(job, reference)?;
    match doc_kind(&media, Some(&value)) {
        DocKind::Index => {
            let index: oci_spec::image::ImageIndex = crate::image::decode(&bytes)
                .map_err(|e| RegistryError::Protocol(format!("index {reference}: {e}")))?;
            let chosen = select_platform(&index, platform).ok_or_else(|| {
                RegistryError::Protocol(format!("{repo}:{reference}: no image for {platform}"))
            })?;
            let d = chosen.digest().to_string();
            (media, bytes) = reg.get_manifest(repo, &d)?;
            if Digest::of(&bytes).to_string() != d {
                return Err(RegistryError::Protocol(format!(
                    "manifest {d}: the registry sent other bytes"
                ))
                .into());
            }
        }
        DocKind::Schema1 => {
            return Err(RegistryError::Unsupported(format!(
                "{repo}:{reference} is a Docker schema 1 manifest, which is not supported"
            ))
            .into())
        }
        _ => {}
    }
    let manifest: oci_spec::image::ImageManifest = crate::image::decode(&bytes)
        .map_err(|e| RegistryError::Protocol(format!("manifest {reference}: {e}")))?;
    let fetch = |b: &oci_spec::image::Descriptor, bar: usize, diff_id: Option<&Digest>| {
        let d = crate::image::digest_of(b)?;
        if layout.has_blob(&d) {
            progress.finish(bar, "already there");
            return Ok(());
        }
        let feed = match (unpack_into, diff_id) {
            (Some(store), Some(id)) => Feed::start(store, &d, id, false)?,
            _ => None,
        };
        download_blob(job, &d, b.size(), bar, feed)?;
        sources.record(&d, reg.host(), repo);
        progress.finish(
            bar,
            &format!("pulled ({})", crate::time::human_size(b.size())),
        );
        Ok::<(), PushPullError>(())
    };
    let config = manifest.config();
    let config_bar = progress.start(config.digest().as_ref(), config.size());
    let layers: Vec<(&oci_spec::image::Descriptor, usize)> = manifest
        .layers()
        .iter()
        .map(|b| (b, progress.start(b.digest().as_ref(), b.size())))
        .collect();
    // Unpacking as the layers arrive needs their diff IDs, which only the
    // config knows: it comes first (one small request) when there is
    // somewhere to unpack to.
    let diff_ids = if unpack_into.is_some() {
        fetch(config, config_bar, None)?;
        diff_ids_of(layout, config, layers.len())
    } else {
        Vec::new()
    };
    let mut work: Vec<(&oci_spec::image::Descriptor, usize, Option<&Digest>)> = layers
        .iter()
        .enumerate()
        .map(|(i, (b, bar))| (*b, *bar, diff_ids.get(i)))
        .collect();
    if unpack_into.is_none() {
        work.insert(0, (config, config_bar, None));
    }
    for_each_parallel(&work, transfer.jobs, |(b, bar, id)| fetch(b, *bar, *id))?;
    let (mdigest, msize) = layout.write_blob(&bytes)?;
    let media = if media.is_empty() {
        value["mediaType"]
            .as_str()
            .unwrap_or("application/vnd.oci.image.manifest.v1+json")
            .to_string()
    } else {
        media
    };
    Ok(oci_spec::image::DescriptorBuilder::default()
        .media_type(oci_spec::image::MediaType::from(media.as_str()))
        .digest(mdigest.to_oci())
        .size(msize)
        .build()
        .expect("complete descriptor"))
}
