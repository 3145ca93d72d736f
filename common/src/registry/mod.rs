//! A registry client for the OCI distribution API (Docker registry v2):
//! blobs checked with HEAD, uploaded in one streamed PUT and fetched as
//! streams; manifests put and got byte for byte.
//!
//! This first cut speaks plain HTTP to loopback registries (and to hosts
//! named insecure) without authentication. TLS, the token flow, chunked
//! and resumed uploads and retries are not here yet: asking for them is a
//! clear error, never a silent fallback.

use crate::digest::Digest;
use crate::reference::Reference;
use std::io::Read;
use std::time::Duration;

pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.list.v2+json";

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{method} {url}: {status} {message}")]
    Status {
        method: &'static str,
        url: String,
        status: u16,
        message: String,
    },
    #[error("{method} {url}: {message}")]
    Transport {
        method: &'static str,
        url: String,
        message: String,
    },
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Protocol(String),
}

/// One registry host.
pub struct Registry {
    agent: ureq::Agent,
    base: String,
}

/// Whether a host is on this machine (plain HTTP is fine there, as Docker
/// allows).
pub fn is_loopback(host: &str) -> bool {
    let h = host.rsplit_once(':').map_or(host, |(h, p)| {
        if p.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    h == "localhost" || h.starts_with("127.") || h == "[::1]"
}

fn fail(method: &'static str, url: &str, e: ureq::Error) -> RegistryError {
    match e {
        ureq::Error::Status(status, resp) => {
            let body = resp.into_string().unwrap_or_default();
            // Registries explain errors in {"errors":[{"code","message"}]}.
            let message = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["errors"][0]["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| body.chars().take(200).collect());
            RegistryError::Status {
                method,
                url: url.to_string(),
                status,
                message,
            }
        }
        ureq::Error::Transport(t) => RegistryError::Transport {
            method,
            url: url.to_string(),
            message: t.to_string(),
        },
    }
}

impl Registry {
    /// The registry a reference names. `insecure` allows plain HTTP to a
    /// host that is not on this machine.
    pub fn for_reference(r: &Reference, insecure: bool) -> Result<Registry, RegistryError> {
        let host = match r.domain() {
            "docker.io" => "registry-1.docker.io",
            d => d,
        };
        if !is_loopback(host) && !insecure {
            return Err(RegistryError::Unsupported(format!(
                "{host}: HTTPS registries are not supported yet (plain HTTP works for loopback hosts and for --insecure-registry)"
            )));
        }
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(30))
            .timeout_read(Duration::from_secs(300))
            .redirects(5)
            .build();
        Ok(Registry {
            agent,
            base: format!("http://{host}"),
        })
    }

    fn url(&self, repo: &str, tail: &str) -> String {
        format!("{}/v2/{repo}/{tail}", self.base)
    }

    /// Whether the registry has a blob.
    pub fn has_blob(&self, repo: &str, digest: &Digest) -> Result<bool, RegistryError> {
        let url = self.url(repo, &format!("blobs/{digest}"));
        match self.agent.head(&url).call() {
            Ok(_) => Ok(true),
            Err(ureq::Error::Status(404, _)) => Ok(false),
            Err(e) => Err(fail("HEAD", &url, e)),
        }
    }

    /// Uploads a blob in one streamed PUT (the form every registry takes).
    pub fn push_blob(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        body: impl Read,
    ) -> Result<(), RegistryError> {
        let start = self.url(repo, "blobs/uploads/");
        let resp = self
            .agent
            .post(&start)
            .set("Content-Length", "0")
            .call()
            .map_err(|e| fail("POST", &start, e))?;
        let location = resp.header("Location").ok_or_else(|| {
            RegistryError::Protocol(format!("POST {start}: no Location for the upload"))
        })?;
        let mut put = if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            location.to_string()
        };
        put.push(if put.contains('?') { '&' } else { '?' });
        put.push_str(&format!("digest={digest}"));
        self.agent
            .put(&put)
            .set("Content-Type", "application/octet-stream")
            .set("Content-Length", &size.to_string())
            .send(body)
            .map_err(|e| fail("PUT", &put, e))?;
        Ok(())
    }

    /// Puts a manifest under a tag or digest; returns the digest the
    /// registry reports (checked against the bytes).
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest, RegistryError> {
        let url = self.url(repo, &format!("manifests/{reference}"));
        let resp = self
            .agent
            .put(&url)
            .set("Content-Type", media_type)
            .send_bytes(bytes)
            .map_err(|e| fail("PUT", &url, e))?;
        let ours = Digest::of(bytes);
        if let Some(theirs) = resp.header("Docker-Content-Digest") {
            if theirs != ours.to_string() {
                return Err(RegistryError::Protocol(format!(
                    "PUT {url}: the registry stored {theirs}, not {ours}"
                )));
            }
        }
        Ok(ours)
    }

    /// Gets a manifest (or index): its media type and bytes.
    pub fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<(String, Vec<u8>), RegistryError> {
        let url = self.url(repo, &format!("manifests/{reference}"));
        let resp = self
            .agent
            .get(&url)
            .set("Accept", MANIFEST_ACCEPT)
            .call()
            .map_err(|e| fail("GET", &url, e))?;
        let media = resp
            .header("Content-Type")
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        let mut bytes = Vec::new();
        resp.into_reader()
            .take(crate::layout::JSON_BLOB_MAX + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| RegistryError::Transport {
                method: "GET",
                url: url.clone(),
                message: e.to_string(),
            })?;
        if bytes.len() as u64 > crate::layout::JSON_BLOB_MAX {
            return Err(RegistryError::Protocol(format!(
                "GET {url}: manifest larger than {} bytes",
                crate::layout::JSON_BLOB_MAX
            )));
        }
        Ok((media, bytes))
    }

    /// A blob as a stream (to be verified by the caller).
    pub fn get_blob(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<Box<dyn Read + Send>, RegistryError> {
        let url = self.url(repo, &format!("blobs/{digest}"));
        let resp = self
            .agent
            .get(&url)
            .call()
            .map_err(|e| fail("GET", &url, e))?;
        Ok(resp.into_reader())
    }
}

/// How many blobs move at once, as docker and skopeo do by default.
pub const PARALLEL_BLOBS: usize = 3;

/// Runs `work` on every item, `PARALLEL_BLOBS` at a time, reporting each
/// result line through `progress` (on this thread) as it comes; the first
/// error stops the rest from starting and is returned.
fn for_each_parallel<T: Sync>(
    items: &[T],
    progress: &mut dyn FnMut(&str),
    work: impl Fn(&T) -> Result<String, PushPullError> + Sync,
) -> Result<(), PushPullError> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = std::sync::mpsc::channel::<Result<String, PushPullError>>();
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL_BLOBS.min(items.len()) {
            let tx = tx.clone();
            let (next, stop, work) = (&next, &stop, &work);
            scope.spawn(move || loop {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { return };
                let r = work(item);
                if r.is_err() {
                    stop.store(true, Ordering::Relaxed);
                }
                if tx.send(r).is_err() {
                    return;
                }
            });
        }
        drop(tx);
        let mut first_err = None;
        for r in rx {
            match r {
                Ok(line) => progress(&line),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    })
}

/// Pushes an image whose blobs are in `layout`: layers and config first
/// (each skipped when the registry has it), the manifest last, byte for
/// byte. Returns the manifest digest.
pub fn push_image(
    reg: &Registry,
    layout: &crate::layout::Layout,
    image: &crate::image::Image,
    repo: &str,
    tag: &str,
    progress: &mut dyn FnMut(&str),
) -> Result<Digest, PushPullError> {
    use crate::image::digest_of;
    let mut blobs: Vec<(Digest, u64)> = Vec::new();
    for l in image.manifest.layers() {
        blobs.push((digest_of(l)?, l.size()));
    }
    blobs.push((image.id(), image.manifest.config().size()));
    for_each_parallel(&blobs, progress, |(d, size)| {
        if reg.has_blob(repo, d)? {
            return Ok(format!("{d}: already there"));
        }
        // The reader verifies the digest as it streams: a damaged blob in
        // the store fails the upload instead of reaching the registry.
        reg.push_blob(repo, d, *size, layout.open_blob(d, Some(*size))?)?;
        Ok(format!("{d}: pushed ({})", crate::time::human_size(*size)))
    })?;
    let mdigest = image.digest();
    let mbytes = layout.read_blob(&mdigest, Some(image.manifest_descriptor.size()))?;
    let media = image.manifest_descriptor.media_type().to_string();
    reg.put_manifest(repo, tag, &media, &mbytes)?;
    Ok(mdigest)
}

/// Pulls `reference` (a tag or digest) of `repo` into `layout`, choosing
/// `platform` from an index; every blob is verified before it is kept.
/// Returns the descriptor of the image manifest.
pub fn pull_image(
    reg: &Registry,
    layout: &crate::layout::Layout,
    repo: &str,
    reference: &str,
    platform: &crate::platform::Platform,
    progress: &mut dyn FnMut(&str),
) -> Result<oci_spec::image::Descriptor, PushPullError> {
    use crate::image::{doc_kind, select_platform, DocKind};
    use std::io::Write;
    let (mut media, mut bytes) = reg.get_manifest(repo, reference)?;
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
    match doc_kind(&media, Some(&value)) {
        DocKind::Index => {
            let index = oci_spec::image::ImageIndex::from_reader(&bytes[..])
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
    let manifest = oci_spec::image::ImageManifest::from_reader(&bytes[..])
        .map_err(|e| RegistryError::Protocol(format!("manifest: {e}")))?;
    let mut blobs = vec![manifest.config().clone()];
    blobs.extend(manifest.layers().iter().cloned());
    for_each_parallel(&blobs, progress, |b| {
        let d = crate::image::digest_of(b)?;
        if layout.has_blob(&d) {
            return Ok(format!("{d}: already there"));
        }
        let body = reg.get_blob(repo, &d)?;
        let mut verified = crate::digest::VerifyingReader::new(
            body,
            d.clone(),
            Some(b.size()),
            format!("blob {d}"),
        );
        let mut w = layout.blob_writer()?;
        let what = std::path::PathBuf::from(d.to_string());
        std::io::copy(&mut verified, &mut w).map_err(|e| crate::layout::verify_error(e, &what))?;
        w.flush()
            .map_err(|e| crate::layout::verify_error(e, &what))?;
        w.finish(Some(&d))?;
        Ok(format!(
            "{d}: pulled ({})",
            crate::time::human_size(b.size())
        ))
    })?;
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

#[derive(Debug, thiserror::Error)]
pub enum PushPullError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Layout(#[from] crate::layout::LayoutError),
    #[error(transparent)]
    Digest(#[from] crate::digest::DigestError),
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_hosts() {
        for (h, want) in [
            ("localhost:5000", true),
            ("127.0.0.1:5000", true),
            ("[::1]:5000", true),
            ("ghcr.io", false),
            ("localhost.example.com", false),
        ] {
            assert_eq!(super::is_loopback(h), want, "{h}");
        }
    }
}
