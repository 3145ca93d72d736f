//! Where blobs were last seen in registries, so a push can mount a blob
//! from a repository of the same registry instead of uploading it again
//! (what skopeo's blob-info cache and Docker's v2 metadata do).
//!
//! A cache, kept in the store as one line per sighting,
//! `DIGEST HOST REPO`, appended as blobs move: a lost or damaged file
//! costs an upload, never a wrong result, because the registry checks
//! every mount.

use crate::digest::Digest;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const FILE: &str = ".slipway/blob-sources";
/// Past this size the file starts over: it is a cache, and a push reads it whole.
const MAX_BYTES: u64 = 8 << 20;

pub struct BlobSources {
    path: Option<PathBuf>,
    seen: Mutex<HashMap<String, Vec<(String, String)>>>,
}

impl BlobSources {
    /// The sightings recorded in the store at `root`; none (and nothing
    /// recorded) when there is no store there.
    pub fn load(root: Option<&Path>) -> BlobSources {
        let path = root
            .filter(|r| r.join(".slipway").is_dir())
            .map(|r| r.join(FILE));
        let mut seen: HashMap<String, Vec<(String, String)>> = HashMap::new();
        if let Some(p) = &path {
            if std::fs::metadata(p).is_ok_and(|m| m.len() > MAX_BYTES) {
                let _ = std::fs::remove_file(p);
            }
            for line in std::fs::read_to_string(p).unwrap_or_default().lines() {
                let mut f = line.split(' ');
                if let (Some(d), Some(h), Some(r), None) = (f.next(), f.next(), f.next(), f.next())
                {
                    let list = seen.entry(d.to_string()).or_default();
                    let pair = (h.to_string(), r.to_string());
                    list.retain(|p| *p != pair);
                    list.push(pair);
                }
            }
        }
        BlobSources {
            path,
            seen: Mutex::new(seen),
        }
    }

    /// A repository of `host` other than `repo` that had the blob, the
    /// latest sighting first.
    pub fn find(&self, digest: &Digest, host: &str, repo: &str) -> Option<String> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.get(&digest.to_string())?
            .iter()
            .rev()
            .find(|(h, r)| h == host && r != repo)
            .map(|(_, r)| r.clone())
    }

    /// The blob is in `host`/`repo` now.
    pub fn record(&self, digest: &Digest, host: &str, repo: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let list = seen.entry(digest.to_string()).or_default();
        let pair = (host.to_string(), repo.to_string());
        if list.last() == Some(&pair) {
            return;
        }
        list.retain(|p| *p != pair);
        list.push(pair);
        if let Some(p) = &self.path {
            // One short write to an O_APPEND file: concurrent tools
            // interleave whole lines. A failure only costs a future upload.
            let line = format!("{digest} {host} {repo}\n");
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
            {
                let _ = f.write_all(line.as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sightings_survive_a_reload_and_the_latest_wins() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".slipway")).unwrap();
        let d = Digest::of(b"x");
        let s = BlobSources::load(Some(dir.path()));
        assert_eq!(s.find(&d, "h:5000", "app"), None);
        s.record(&d, "h:5000", "a");
        s.record(&d, "h:5000", "b");
        s.record(&d, "other:1", "c");
        let s = BlobSources::load(Some(dir.path()));
        assert_eq!(s.find(&d, "h:5000", "app").as_deref(), Some("b"));
        assert_eq!(s.find(&d, "h:5000", "b").as_deref(), Some("a"));
        assert_eq!(s.find(&d, "nowhere", "app"), None);
    }

    #[test]
    fn without_a_store_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let s = BlobSources::load(Some(dir.path()));
        s.record(&Digest::of(b"x"), "h", "r");
        assert!(!dir.path().join(FILE).exists());
        assert_eq!(s.find(&Digest::of(b"x"), "h", "q").as_deref(), Some("r"));
    }
}
