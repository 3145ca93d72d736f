//! The local store: an OCI image layout whose `index.json` names images by
//! the `org.opencontainers.image.ref.name` annotation (the full normalized
//! name, `docker.io/library/alpine:latest`), so skopeo, umoci and podman can
//! read it as `oci:STORE:NAME`.

use crate::buildcache;
use crate::digest::Digest;
use crate::fsutil::IoError;
use crate::image::{self, digest_of, DocKind, Image, ImageError};
use crate::layout::{Layout, LayoutError};
use crate::platform::Platform;
use crate::reference::{Reference, ReferenceError};
use oci_spec::image::Descriptor;
use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::Path;

pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error("no such image: {0}")]
    NotFound(String),
    #[error("{query:?} is ambiguous: it matches {count} images")]
    Ambiguous { query: String, count: usize },
    #[error("image {0} is tagged in several repositories; remove it by name, or use --force")]
    MultipleTags(String),
}

/// One `index.json` entry: a descriptor and, unless it is dangling, its name.
#[derive(Clone, Debug)]
pub struct Entry {
    pub name: Option<Reference>,
    pub descriptor: Descriptor,
}

/// Where the store is when neither `--store` nor `$SLIPWAY_STORE` says.
pub use crate::cli::default_store_path as default_path;

pub struct Store {
    layout: Layout,
}

fn ref_name(d: &Descriptor) -> Option<&String> {
    d.annotations().as_ref().and_then(|a| a.get(REF_NAME))
}

fn with_name(mut d: Descriptor, name: Option<&Reference>) -> Descriptor {
    let mut ann = d.annotations().clone().unwrap_or_default();
    ann.remove(REF_NAME);
    if let Some(n) = name {
        ann.insert(REF_NAME.to_string(), n.to_string());
    }
    d.set_annotations(if ann.is_empty() { None } else { Some(ann) });
    d
}

impl Store {
    /// Opens the store at `path`, creating an empty one there if needed.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Ok(Store {
            layout: Layout::create(path)?,
        })
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn entries(&self) -> Result<Vec<Entry>, StoreError> {
        let index = self.layout.read_index()?;
        Ok(index
            .manifests()
            .iter()
            .map(|d| Entry {
                name: ref_name(d).and_then(|n| Reference::parse(n).ok()),
                descriptor: d.clone(),
            })
            .collect())
    }

    /// Points each name at `desc`, moving the name from any image that had
    /// it; with no names the image goes in dangling (`<none>`) until gc.
    pub fn set_tags(&self, names: &[Reference], desc: &Descriptor) -> Result<(), StoreError> {
        let plain = with_name(desc.clone(), None);
        self.layout.update_index(|index| {
            let mut manifests = index.manifests().clone();
            let wanted: BTreeSet<String> = names.iter().map(|n| n.to_string()).collect();
            manifests.retain(|d| match ref_name(d) {
                Some(n) => !wanted.contains(n),
                // A dangling entry for this same image is superseded.
                None => d.digest() != plain.digest() || !names.is_empty(),
            });
            if names.is_empty() {
                manifests.push(plain.clone());
            }
            for n in names {
                manifests.push(with_name(plain.clone(), Some(n)));
            }
            index.set_manifests(manifests);
            Ok(())
        })?;
        Ok(())
    }

    /// Removes names (and, given an image by digest or ID, its untagged
    /// entry); blobs stay until gc.
    pub fn remove(&self, query: &str, force: bool) -> Result<Vec<Removed>, StoreError> {
        let (names, image): (Vec<Reference>, Option<Digest>) = match self.matching(query)? {
            Match::Names(entries) => (entries.into_iter().filter_map(|e| e.name).collect(), None),
            Match::Image(digest, entries) => {
                let names: Vec<Reference> = entries.into_iter().filter_map(|e| e.name).collect();
                let repos: BTreeSet<String> = names.iter().map(Reference::name).collect();
                if repos.len() > 1 && !force {
                    return Err(StoreError::MultipleTags(digest.short().to_string()));
                }
                (names, Some(digest))
            }
        };
        let wanted: BTreeSet<String> = names.iter().map(|n| n.to_string()).collect();
        let image_digest = image.as_ref().map(|d| d.to_string());
        self.layout.update_index(|index| {
            let mut manifests = index.manifests().clone();
            manifests.retain(|d| match ref_name(d) {
                Some(n) => !wanted.contains(n),
                None => image_digest.as_deref() != Some(d.digest().as_ref()),
            });
            index.set_manifests(manifests);
            Ok(())
        })?;
        let mut out: Vec<Removed> = names.into_iter().map(Removed::Untagged).collect();
        if out.is_empty() {
            out.extend(image.map(Removed::Dangling));
        }
        Ok(out)
    }

    fn by_id(
        &self,
        entries: &[Entry],
        hex: &str,
    ) -> Result<HashMap<Digest, Vec<Entry>>, StoreError> {
        let mut found: HashMap<Digest, Vec<Entry>> = HashMap::new();
        let host = Platform::host();
        for e in entries {
            let mdigest = digest_of(&e.descriptor).map_err(ImageError::from)?;
            let id = Image::load(&self.layout, &e.descriptor, &host)
                .ok()
                .map(|i| i.id());
            if mdigest.hex().starts_with(hex)
                || id.as_ref().is_some_and(|i| i.hex().starts_with(hex))
            {
                found.entry(mdigest).or_default().push(e.clone());
            }
        }
        Ok(found)
    }

    /// As docker does: a name first, then a digest or an image ID (the
    /// config digest) whole or as a unique prefix.
    fn matching(&self, query: &str) -> Result<Match, StoreError> {
        let entries = self.entries()?;
        let parsed = Reference::parse(query);
        if let Ok(r) = &parsed {
            let hits: Vec<Entry> = match r.digest() {
                Some(d) => entries
                    .iter()
                    .filter(|e| digest_of(&e.descriptor).is_ok_and(|x| &x == d))
                    .filter(|e| e.name.as_ref().is_some_and(|n| n.name() == r.name()))
                    .cloned()
                    .collect(),
                None => entries
                    .iter()
                    .filter(|e| e.name.as_ref() == Some(r))
                    .cloned()
                    .collect(),
            };
            if !hits.is_empty() {
                if let Some(d) = r.digest() {
                    return Ok(Match::Image(d.clone(), hits));
                }
                return Ok(Match::Names(hits));
            }
        }
        let hex = query.strip_prefix("sha256:").unwrap_or(query);
        let is_hex = !hex.is_empty()
            && hex.len() <= 64
            && hex
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
        if !is_hex {
            parsed?;
            return Err(StoreError::NotFound(query.to_string()));
        }
        let mut found = self.by_id(&entries, hex)?;
        match found.len() {
            0 => Err(StoreError::NotFound(query.to_string())),
            1 => {
                let (d, v) = found.drain().next().expect("one");
                Ok(Match::Image(d, v))
            }
            n => Err(StoreError::Ambiguous {
                query: query.to_string(),
                count: n,
            }),
        }
    }

    /// Finds one image by name, `name@digest`, digest or image-ID prefix.
    /// A whole manifest digest also finds an image that no index entry
    /// names but whose blobs are kept (the build cache's step images).
    pub fn resolve(&self, query: &str) -> Result<Descriptor, StoreError> {
        match self.matching(query) {
            Ok(Match::Names(v)) => Ok(with_name(v[0].descriptor.clone(), None)),
            Ok(Match::Image(_, v)) => Ok(with_name(v[0].descriptor.clone(), None)),
            Err(StoreError::NotFound(q)) => self
                .unindexed(query)
                .or_else(|| self.in_named_index(query))
                .or_else(|| self.short_name(query))
                .ok_or(StoreError::NotFound(q)),
            Err(e) => Err(e),
        }
    }

    /// A short name the store has under one of the names registries.conf
    /// makes of it (`busybox` pulled as `registry.example/busybox`), as
    /// podman finds it. Docker Hub's name was tried first, as docker has it.
    fn short_name(&self, query: &str) -> Option<Descriptor> {
        if !crate::registries::is_short(query) || query.contains("sha256:") {
            return None;
        }
        let conf = crate::registries::Conf::load().ok()?;
        conf.candidates(query)
            .ok()?
            .into_iter()
            .find_map(|r| match self.matching(&r.to_string()) {
                Ok(Match::Names(v)) | Ok(Match::Image(_, v)) => {
                    Some(with_name(v[0].descriptor.clone(), None))
                }
                Err(_) => None,
            })
    }

    /// `NAME@DIGEST` where DIGEST is an image of a multi-platform image
    /// NAME has (as `FROM alpine@sha256:…` names one platform's image of
    /// the index `alpine` names).
    fn in_named_index(&self, query: &str) -> Option<Descriptor> {
        let r = Reference::parse(query).ok()?;
        let want = r.digest()?;
        self.entries()
            .ok()?
            .into_iter()
            .filter(|e| e.name.as_ref().is_some_and(|n| n.name() == r.name()))
            .find_map(|e| {
                let bytes = self
                    .layout
                    .read_blob(&digest_of(&e.descriptor).ok()?, Some(e.descriptor.size()))
                    .ok()?;
                let index: oci_spec::image::ImageIndex = image::decode(&bytes).ok()?;
                index
                    .manifests()
                    .iter()
                    .find(|m| digest_of(m).is_ok_and(|d| &d == want))
                    .filter(|m| {
                        self.layout.has_blob(want) && m.size() <= crate::layout::JSON_BLOB_MAX
                    })
                    .cloned()
            })
    }

    /// A manifest (or index) kept as a blob, named by its whole digest.
    fn unindexed(&self, query: &str) -> Option<Descriptor> {
        let digest: Digest = query.parse().ok()?;
        // A layer named by mistake is not read whole.
        let size = fs::metadata(self.layout.blob_path(&digest)).ok()?.len();
        if size > crate::layout::JSON_BLOB_MAX {
            return None;
        }
        let bytes = self.layout.read_blob(&digest, Some(size)).ok()?;
        let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        let media = value
            .get("mediaType")
            .and_then(|m| m.as_str())
            .unwrap_or_default()
            .to_string();
        let media = match image::doc_kind(&media, Some(&value)) {
            DocKind::Manifest if media.is_empty() => {
                "application/vnd.oci.image.manifest.v1+json".to_string()
            }
            DocKind::Index if media.is_empty() => {
                "application/vnd.oci.image.index.v1+json".to_string()
            }
            DocKind::Manifest | DocKind::Index => media,
            _ => return None,
        };
        oci_spec::image::DescriptorBuilder::default()
            .media_type(oci_spec::image::MediaType::from(media.as_str()))
            .digest(digest.to_oci())
            .size(bytes.len() as u64)
            .build()
            .ok()
    }

    /// Resolves a parsed reference (what `ImageRef::Store` holds). A name
    /// that is all hex digits and found nowhere is tried as an image ID
    /// prefix, as `docker run 3f2a…` does.
    pub fn resolve_reference(&self, r: &Reference) -> Result<Descriptor, StoreError> {
        match self.resolve(&r.to_string()) {
            Err(StoreError::NotFound(q)) => match hex_name(r) {
                Some(hex) => self.resolve(hex).map_err(|e| match e {
                    StoreError::NotFound(_) => StoreError::NotFound(q),
                    e => e,
                }),
                None => Err(StoreError::NotFound(q)),
            },
            other => other,
        }
    }

    /// Deletes what no tag reaches: dangling entries, unreferenced blobs,
    /// unpacked layers no kept image lists and no mounted overlay stacks,
    /// and temp files left by writers that died. Waits for running writers. The
    /// build cache's images are kept, unless `forget_build_cache` drops the
    /// cache first (as `docker builder prune` does). `sweep_layers` gets the
    /// diff IDs of the kept images' layers, called while no writer runs,
    /// and returns how many unpacked layers and bytes it removed.
    pub fn gc(
        &self,
        forget_build_cache: bool,
        keep_failed: bool,
        sweep_layers: impl FnOnce(&BTreeSet<Digest>) -> std::io::Result<(usize, u64)>,
    ) -> Result<GcReport, StoreError> {
        let _session = self.layout.exclusive_session()?;
        let mut report = GcReport::default();
        let root = self.layout.root().to_path_buf();
        let mut cached = Vec::new();
        if forget_build_cache {
            report.cache_records = buildcache::clear(&root).map_err(|e| {
                LayoutError::from(IoError {
                    op: "clear the build cache in",
                    path: buildcache::dir(&root),
                    source: e,
                })
            })?;
        } else {
            for (key, rec) in buildcache::records(&root) {
                match self.unindexed(&rec.image.to_string()) {
                    Some(d) => cached.push(d),
                    // Its image is gone: the record can never hit again.
                    None => {
                        if buildcache::forget(&root, &key).is_ok() {
                            report.cache_records += 1;
                        }
                    }
                }
            }
        }
        let kept = self.layout.update_index(|index| {
            let mut manifests = index.manifests().clone();
            let before = manifests.len();
            manifests.retain(|d| ref_name(d).is_some());
            report.untagged = before - manifests.len();
            // What builds left behind: steps of builds that died, the
            // states failed RUNs stopped in (unless kept).
            let before = manifests.len();
            manifests.retain(|d| {
                let Some((id, tag)) = ref_name(d).and_then(|n| buildcache::private_name(n)) else {
                    return true;
                };
                (keep_failed && tag.ends_with("-failed")) || buildcache::build_alive(&root, id)
            });
            report.build_leftovers = before - manifests.len();
            index.set_manifests(manifests.clone());
            Ok(manifests)
        })?;
        let mut live = BTreeSet::new();
        let mut live_layers = BTreeSet::new();
        for d in kept.iter().chain(&cached) {
            self.mark(d, &mut live, &mut live_layers, 0)?;
        }
        let blobs = self.layout.root().join("blobs").join("sha256");
        if let Ok(rd) = fs::read_dir(&blobs) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                let keep = format!("sha256:{name}")
                    .parse::<Digest>()
                    .is_ok_and(|d| live.contains(&d));
                if !keep {
                    let size = e.metadata().map(|m| m.len()).unwrap_or(0);
                    if fs::remove_file(e.path()).is_ok() {
                        report.blobs += 1;
                        report.bytes += size;
                    }
                }
            }
        }
        let (layers, bytes) = sweep_layers(&live_layers).map_err(|e| {
            LayoutError::from(IoError {
                op: "remove unused unpacked layers in",
                path: root.join(".slipway"),
                source: e,
            })
        })?;
        report.unpacked_layers = layers;
        report.bytes += bytes;
        report.temp_files += buildcache::remove_dead_builds(&root);
        // With the session held exclusively no writer is alive: every temp
        // file is a leftover of one that died.
        if let Ok(rd) = fs::read_dir(self.layout.tmp_dir()) {
            for e in rd.flatten() {
                let size = e.metadata().map(|m| m.len()).unwrap_or(0);
                if fs::remove_file(e.path()).is_ok() {
                    report.temp_files += 1;
                    report.bytes += size;
                }
            }
        }
        Ok(report)
    }

    fn mark(
        &self,
        d: &Descriptor,
        live: &mut BTreeSet<Digest>,
        live_layers: &mut BTreeSet<Digest>,
        depth: u32,
    ) -> Result<(), StoreError> {
        let digest = digest_of(d).map_err(ImageError::from)?;
        if !live.insert(digest.clone()) || depth > 4 || !self.layout.has_blob(&digest) {
            return Ok(());
        }
        let media = d.media_type().to_string();
        let kind = image::doc_kind(&media, None);
        let might_be_doc = kind != DocKind::Other || media.ends_with("+json") || media.is_empty();
        if !might_be_doc || d.size() > crate::layout::JSON_BLOB_MAX {
            return Ok(());
        }
        // A blob that fails to read or parse keeps what it names alive
        // rather than guessing: gc must never delete a reachable blob.
        let Ok(bytes) = self.layout.read_blob(&digest, Some(d.size())) else {
            return Ok(());
        };
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            return Ok(());
        };
        // A config's layers stay unpacked for the containers to come.
        if let Some(ids) = value
            .get("rootfs")
            .and_then(|r| r.get("diff_ids"))
            .and_then(|d| d.as_array())
        {
            live_layers.extend(ids.iter().filter_map(|v| v.as_str()?.parse().ok()));
        }
        let mut children: Vec<Descriptor> = Vec::new();
        for key in ["config", "subject"] {
            if let Some(c) = value
                .get(key)
                .and_then(|c| serde_json::from_value(c.clone()).ok())
            {
                children.push(c);
            }
        }
        for key in ["layers", "manifests", "blobs"] {
            if let Some(list) = value
                .get(key)
                .and_then(|l| serde_json::from_value::<Vec<Descriptor>>(l.clone()).ok())
            {
                children.extend(list);
            }
        }
        for c in &children {
            self.mark(c, live, live_layers, depth + 1)?;
        }
        Ok(())
    }
}

/// `3f2a` in `docker.io/library/3f2a:latest`: a short name of hex digits
/// that may be an image ID prefix.
fn hex_name(r: &Reference) -> Option<&str> {
    let name = r.path().strip_prefix("library/")?;
    let hex = r.domain() == crate::reference::DEFAULT_DOMAIN
        && r.tag() == Some(crate::reference::DEFAULT_TAG)
        && r.digest().is_none()
        && name
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
    hex.then_some(name)
}

enum Match {
    /// Entries found by name (each one tag).
    Names(Vec<Entry>),
    /// All entries of one image found by digest or ID.
    Image(Digest, Vec<Entry>),
}

/// What `remove` took out of the index.
#[derive(Debug, PartialEq, Eq)]
pub enum Removed {
    Untagged(Reference),
    /// An untagged image's entry, given by digest or ID.
    Dangling(Digest),
}

#[derive(Debug, Default, serde::Serialize)]
pub struct GcReport {
    pub untagged: usize,
    /// Names image-build kept for itself, of builds that are over.
    pub build_leftovers: usize,
    /// Build cache records forgotten: all of them when asked to, else
    /// those whose image is gone.
    pub cache_records: usize,
    pub blobs: usize,
    /// Unpacked layers (overlay lower dirs) no kept image lists.
    pub unpacked_layers: usize,
    pub temp_files: usize,
    pub bytes: u64,
}
