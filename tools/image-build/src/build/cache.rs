//! The build cache: the keys of build steps, and the driver's lookups
//! and records by them. A step's key is the digest of everything its
//! result depends on: the image it starts from (by its config digest, the
//! image ID, which names every layer by its uncompressed digest: so a
//! changed base or an earlier step that changed makes a new key, and an
//! image keys alike whether its layers are kept compressed or not), what
//! the step does once expanded (its command, environment, build args,
//! flags, the history text it leaves) and the digests of the contents it
//! reads. Two steps with the same key make the same image, so the second
//! takes the first one's image from the record (slipway_common::buildcache).
//!
//! A step that changes the filesystem has a second, layers-only key
//! (`fs_key`), so its cached layer can be rebased onto a parent whose
//! config alone changed.

use super::{lock, Driver, State};
use crate::tools::{Failed, Word};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use slipway_common::buildcache;
use slipway_common::digest::Digest;

/// Bumped whenever what a key covers changes meaning, so old records miss.
const FORMAT: &str = "slipway image-build step cache 3";

/// The key of a step on `parent` ("scratch" or an image ID). `epoch`
/// is SOURCE_DATE_EPOCH, which changes the times written into layers and
/// configs.
pub fn step_key(parent: &str, epoch: Option<&str>, platform: &str, step: &Value) -> Digest {
    let mut h = Sha256::new();
    for part in [
        FORMAT,
        env!("CARGO_PKG_VERSION"),
        platform,
        parent,
        epoch.unwrap_or("-"),
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    // serde_json's maps are sorted: the same step always gives the same
    // bytes.
    h.update(serde_json::to_vec(step).expect("a JSON value serializes"));
    let out: [u8; 32] = h.finalize().into();
    format!("sha256:{}", hex::encode(out))
        .parse()
        .expect("a sha256 digest")
}

/// The words of a call as they go into a cache key.
pub(super) fn lits(words: &[Word]) -> Vec<String> {
    words
        .iter()
        .map(|w| match w {
            Word::Lit(s) => s.clone(),
            Word::Tmp(rel) => format!("$T/{rel}"),
        })
        .collect()
}

impl Driver<'_> {
    /// The cache key of a step on the state's image: none in a printed
    /// script, which always runs every step.
    pub(super) fn key(&self, st: &State, step: serde_json::Value) -> Option<Digest> {
        if self.script() {
            return None;
        }
        let parent = match st.image.as_str() {
            "scratch" => "scratch".to_string(),
            _ => self.image_id(st.digest.as_deref()?)?,
        };
        let mut inputs = step.clone();
        if let Some(o) = inputs.as_object_mut() {
            o.insert("pending".into(), json!(st.pending));
        }
        self.last_key.replace(Some((parent.clone(), inputs)));
        let mut step = json!({"step": step, "pending": st.pending});
        // A Docker-format step image is another manifest of the same
        // config: keyed apart (OCI keys stay as they were).
        if self.opts.docker_format {
            step["format"] = json!("docker");
        }
        Some(step_key(
            &parent,
            self.opts.epoch.as_deref(),
            &self.platform,
            &step,
        ))
    }

    /// The config digest (image ID) of the store's image `manifest`: what
    /// a step on it is keyed by. The build's own steps keep their layers
    /// uncompressed and an image from a --cache-from registry has them
    /// compressed; by ID both key the next step alike.
    pub(super) fn image_id(&self, manifest: &str) -> Option<String> {
        let digest: Digest = manifest.parse().ok()?;
        // Read only: opening the layout creates nothing.
        let layout = slipway_common::layout::Layout::open(&self.opts.store).ok()?;
        let bytes = layout.read_blob(&digest, None).ok()?;
        #[derive(serde::Deserialize)]
        struct Manifest {
            config: Config,
        }
        #[derive(serde::Deserialize)]
        struct Config {
            digest: String,
        }
        let m: Manifest = serde_json::from_slice(&bytes).ok()?;
        Some(m.config.digest)
    }

    /// The step's key by what its layer depends on: the layers below it
    /// (the lineage) and the step itself with the config it reads, not the
    /// rest of the parent's metadata. A step that misses by the parent's
    /// digest (a LABEL changed above it, an ARG it does not use) but hits
    /// here has its cached layer rebased onto the new parent, as
    /// BuildKit's cache keeps a layer whose parent differs only in the
    /// image config.
    pub(super) fn fs_key(&self, st: &State, spec: &serde_json::Value) -> Option<Digest> {
        if self.script() {
            return None;
        }
        let lineage = st.lineage.as_deref()?;
        Some(step_key(
            &format!("layers:{lineage}"),
            self.opts.epoch.as_deref(),
            &self.platform,
            spec,
        ))
    }

    /// The step's image from the cache: by its key, else its layer
    /// rebased by its layers-only key; the lineage goes on from it. False
    /// on a miss.
    pub(super) fn reuse(
        &mut self,
        st: &mut State,
        key: &Option<Digest>,
        fs_key: &Option<Digest>,
        next: &str,
    ) -> Result<bool, Failed> {
        if self.cached(st, key) || self.rebased(st, fs_key, next, key.clone())? {
            self.advance(st, fs_key.clone());
            return Ok(true);
        }
        Ok(false)
    }

    /// The step's layer from the layer cache (`fs_key`), put on the
    /// state's image as `next`; false when the cache has none.
    fn rebased(
        &mut self,
        st: &mut State,
        fs_key: &Option<Digest>,
        next: &str,
        key: Option<Digest>,
    ) -> Result<bool, Failed> {
        let Some(image) = fs_key.as_ref().and_then(|k| self.find_cached(k)) else {
            return Ok(false);
        };
        let edits = vec!["--top-layer-of".into(), image.to_string().into()];
        self.commit(st, next.to_string(), edits, None, key)?;
        Ok(true)
    }

    /// After a step that changed the filesystem: the lineage goes on from
    /// it, and the image made is remembered under its layers-only key.
    pub(super) fn advance(&self, st: &mut State, fs_key: Option<Digest>) {
        if let (Some(k), Some(d)) = (&fs_key, &st.digest) {
            if let Ok(d) = d.parse::<Digest>() {
                self.remember(k, &d);
            }
        }
        st.lineage = fs_key.map(|k| k.to_string());
    }

    /// Takes the step's image from the cache, if it holds one.
    pub(super) fn cached(&mut self, st: &mut State, key: &Option<Digest>) -> bool {
        let Some(key) = key else { return false };
        let Some(image) = self.find_cached(key) else {
            return false;
        };
        st.image = image.to_string();
        st.digest = Some(image.to_string());
        st.pending.clear();
        true
    }

    /// The image the cache holds for `key`: in the store, or pulled from
    /// a --cache-from registry. Recorded as used by this build.
    pub(super) fn find_cached(&mut self, key: &Digest) -> Option<Digest> {
        if !self.opts.use_cache {
            return None;
        }
        let local = buildcache::lookup(&self.opts.store, key)
            .map(|rec| rec.image)
            // The record outlives its image only until gc; then it misses.
            .filter(|image| {
                self.opts
                    .store
                    .join("blobs/sha256")
                    .join(image.hex())
                    .is_file()
            });
        let image = local.or_else(|| self.pull_cached(key))?;
        lock(&self.shared.used).insert(key.clone(), image.clone());
        Some(image)
    }

    /// Records what `key`'s step made (a failure to is a warning: a miss
    /// next time).
    pub(super) fn remember(&self, key: &Digest, image: &Digest) {
        lock(&self.shared.used).insert(key.clone(), image.clone());
        let rec = buildcache::Record {
            image: image.clone(),
            created: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        };
        if let Err(e) = buildcache::record(&self.opts.store, key, &rec) {
            self.warn(format!("the build cache: {e}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_input_of_a_key_changes_it() {
        let step = json!({"cmd": "run", "argv": ["sh", "-c", "true"]});
        let k = step_key("sha256:aa", None, "linux/amd64", &step);
        assert_eq!(k, step_key("sha256:aa", None, "linux/amd64", &step));
        for other in [
            step_key("sha256:ab", None, "linux/amd64", &step),
            step_key("sha256:aa", Some("0"), "linux/amd64", &step),
            step_key("sha256:aa", None, "linux/arm64", &step),
            step_key(
                "sha256:aa",
                None,
                "linux/amd64",
                &json!({"cmd": "run", "argv": ["sh", "-c", "false"]}),
            ),
        ] {
            assert_ne!(k, other);
        }
    }
}
