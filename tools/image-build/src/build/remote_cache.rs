//! --cache-to and --cache-from: the build cache shared through a registry,
//! so CI runners share steps without a shared disk, as BuildKit's registry
//! cache does.
//!
//! What goes to the registry: every step image this build made or took
//! from the cache, pushed by digest into the cache's repository, and an
//! index of them: an image with no layers whose config labels map each
//! step's cache key to its image (`io.slipway.build-cache.KEYHEX` =
//! `sha256:MANIFEST`), under the --cache-to tag. A build with --cache-from
//! reads that index first; a step its own store misses but the index has
//! is pulled by digest (only that image's blobs the store lacks) and
//! recorded locally, so the next build hits without the registry.

use super::{lock, Driver};
use crate::tools::{Action, Call, Word};
use slipway_common::buildcache;
use slipway_common::compress::{Compression, Settings};
use slipway_common::digest::Digest;
use slipway_common::platform::Platform;
use slipway_common::reference::{ImageRef, Reference};
use slipway_common::source;
use std::collections::{BTreeMap, HashMap};

const LABEL_PREFIX: &str = "io.slipway.build-cache.";

/// Steps other builds left in registries: key -> (repository, image).
pub(super) type Remote = HashMap<Digest, (String, Digest)>;

/// A --cache-to/--cache-from reference as a registry reference: REF, or
/// buildx's `type=registry,ref=REF[,mode=max|...]` (every step is exported
/// either way: this cache is always what buildx calls mode=max).
fn registry_ref(r: &str) -> Result<Reference, String> {
    let plain = if r.contains('=') {
        let mut reference = None;
        for field in r.split(',') {
            match field.split_once('=') {
                Some(("type", "registry")) | Some(("mode", _)) => {}
                Some(("ref", v)) => reference = Some(v),
                _ => return Err(format!("{r}: takes REF or type=registry,ref=REF")),
            }
        }
        reference.ok_or_else(|| format!("{r}: no ref="))?
    } else {
        r.strip_prefix("docker://").unwrap_or(r)
    };
    Reference::parse(plain).map_err(|e| format!("{r}: {e}"))
}

impl Driver<'_> {
    /// Reads the cache indexes of --cache-from. One that cannot be read
    /// (not pushed yet, say) is a warning: the build runs without it.
    pub(super) fn load_remote_cache(&mut self) -> Result<(), String> {
        let Some(r) = self.exec.running() else {
            return Ok(());
        };
        let tmp = r.tmp.clone();
        let mut remote = Remote::new();
        for (n, from) in self.opts.cache_from.clone().iter().enumerate() {
            let reference = registry_ref(from)?;
            let layout = tmp.join(format!("cache-from-{n}"));
            let pull = Call::new("image-pull")
                .arg("-q")
                .arg("--output")
                .arg(format!("oci:{}:index", layout.display()))
                .arg(reference.to_string());
            self.num = self.next_number();
            self.say(self.num, format!("importing cache from {from}"));
            if let Err(e) = self.act(&[Action::Call(pull)]) {
                self.warn(format!("--cache-from {from}: {e}"));
                continue;
            }
            let src = source::open(
                &ImageRef::Oci {
                    dir: layout.clone(),
                    name: Some("index".into()),
                },
                &self.opts.store,
                &Platform::host(),
                Settings::new(Compression::Gzip),
            );
            let src = match src {
                Ok(s) => s,
                Err(e) => {
                    self.warn(format!("--cache-from {from}: {e}"));
                    continue;
                }
            };
            let labels = src.image.labels();
            let repo = reference.name();
            for (k, v) in &labels {
                let Some(hex) = k.strip_prefix(LABEL_PREFIX) else {
                    continue;
                };
                let (Ok(key), Ok(image)) = (
                    format!("sha256:{hex}").parse::<Digest>(),
                    v.parse::<Digest>(),
                ) else {
                    continue;
                };
                remote.insert(key, (repo.clone(), image));
            }
            let _ = std::fs::remove_dir_all(&layout);
        }
        *lock(&self.shared.remote) = remote;
        Ok(())
    }

    /// A step the local cache missed, from a --cache-from index: pulled
    /// by digest into the store and recorded. Whether it was there.
    pub(super) fn pull_cached(&mut self, key: &Digest) -> Option<Digest> {
        let (repo, image) = lock(&self.shared.remote).get(key).cloned()?;
        let pull = Call::new("image-pull")
            .arg("-q")
            .arg(format!("{repo}@{image}"));
        if let Err(e) = self.act(&[Action::Call(pull)]) {
            self.warn(format!("the cache's {image} in {repo}: {e}"));
            return None;
        }
        let rec = buildcache::Record {
            image: image.clone(),
            created: slipway_common::time::now().max(0) as u64,
        };
        let _ = buildcache::record(&self.opts.store, key, &rec);
        Some(image)
    }

    /// The digest `image` has once its layers are compressed as it leaves
    /// (the store keeps the compressed blobs, so the tool that sends it
    /// out finds them made).
    pub(crate) fn outgoing_digest(&self, image: &Digest) -> Result<Digest, String> {
        let store =
            slipway_common::store::Store::open(&self.opts.store).map_err(|e| e.to_string())?;
        let desc = store
            .resolve(&image.to_string())
            .map_err(|e| e.to_string())?;
        let layout = store.layout();
        let _session = layout.write_session().map_err(|e| e.to_string())?;
        // A multi-platform image leaves as an index of its images, each
        // compressed.
        if let Some(m) =
            slipway_common::index::MultiImage::load(layout, &desc).map_err(|e| e.to_string())?
        {
            let s = self.opts.compression;
            let out = m
                .map_images(layout, layout, |i| {
                    slipway_common::convert::compress_layers(layout, i, s)
                })
                .map_err(|e| format!("compress {image}: {e}"))?;
            return Ok(out.digest());
        }
        let img = slipway_common::image::Image::load(layout, &desc, &Platform::host())
            .map_err(|e| e.to_string())?;
        let out = slipway_common::convert::compress_layers(layout, &img, self.opts.compression)
            .map_err(|e| format!("compress {image}: {e}"))?;
        Ok(out.digest())
    }

    /// --cache-to: every step image of this build pushed by digest, then
    /// the index of them under the tag.
    pub(super) fn export_cache(&mut self) -> Result<(), String> {
        let Some(to) = self.opts.cache_to.clone() else {
            return Ok(());
        };
        let reference = registry_ref(&to)?;
        let repo = reference.name();
        let used: BTreeMap<Digest, Digest> = lock(&self.shared.used).clone();
        self.num = self.next_number();
        self.say(
            self.num,
            format!("exporting {} cached steps to {to}", used.len()),
        );
        let mut images: Vec<&Digest> = used.values().collect();
        images.sort();
        images.dedup();
        let mut actions = vec![];
        // A step image leaves with its layers compressed, under the digest
        // that gives: worked out here (the store remembers the compressed
        // blobs, so image-push finds them made), as the index must name it.
        let mut pushed: BTreeMap<Digest, Digest> = BTreeMap::new();
        for image in images {
            let out = self.outgoing_digest(image)?;
            actions.push(Action::Call(
                Call::new("image-push")
                    .arg("-q")
                    .args(self.opts.compression_args())
                    .arg(image.to_string())
                    .arg(format!("docker://{repo}@{out}")),
            ));
            pushed.insert(image.clone(), out);
        }
        let labels: BTreeMap<String, String> = used
            .iter()
            .map(|(k, v)| (format!("{LABEL_PREFIX}{}", k.hex()), pushed[v].to_string()))
            .collect();
        let edits = serde_json::json!({
            "labels": labels,
            "history": ["image-build build cache index"],
        });
        let edits_file = Word::Tmp("cache-index.json".into());
        let index = format!("{}:cache-index", self.repo);
        self.temps.push(index.clone());
        actions.push(Action::Write(edits_file.clone(), edits.to_string(), 0o600));
        actions.push(Action::Call(
            Call::new("image-assemble")
                .arg("-q")
                .arg("--edits")
                .arg(edits_file)
                .arg("-t")
                .arg(index.as_str()),
        ));
        actions.push(Action::Call(
            Call::new("image-push")
                .arg("-q")
                .args(self.opts.compression_args())
                .arg(index.as_str())
                .arg(format!("docker://{reference}")),
        ));
        self.act(&actions)
            .map_err(|e| format!("--cache-to {to}: {e}"))
    }
}
