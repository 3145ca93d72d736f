//! An image as read from a layout: its manifest (chosen from an index by
//! platform), and its config kept as raw JSON so that fields oci-spec does
//! not model (Docker's Healthcheck, OnBuild, Shell…) survive an edit.

use crate::digest::{Digest, DigestError};
use crate::layout::{Layout, LayoutError};
use crate::platform::Platform;
use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType};

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// The `PATH` Docker gives a process whose image sets none, and the one
/// BuildKit writes into the config of an image built from scratch.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const DOCKER_SCHEMA1: &[&str] = &[
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(transparent)]
    Digest(#[from] DigestError),
    #[error("{what} {digest}: {msg}")]
    Malformed {
        what: &'static str,
        digest: Digest,
        msg: String,
    },
    #[error("Docker schema 1 manifest {0}: this format is deprecated and not supported; convert it with a current registry or skopeo")]
    Schema1(Digest),
    #[error("no image for platform {platform} in index {digest} (it has: {available})")]
    NoPlatform {
        platform: Platform,
        digest: Digest,
        available: String,
    },
    #[error("nested index {0} is deeper than supported")]
    TooDeep(Digest),
}

/// A single-platform image.
#[derive(Clone, Debug)]
pub struct Image {
    pub manifest_descriptor: Descriptor,
    pub manifest: ImageManifest,
    pub config: serde_json::Map<String, serde_json::Value>,
}

/// The `config` of an image config (image-spec's "config" object, in
/// Docker's field names): what the tools read of it, typed once for all of
/// them; every other field kept as it was in `other`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<std::collections::BTreeMap<String, EmptyObject>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<std::collections::BTreeMap<String, EmptyObject>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// The top of an image config as the tools read it: a typed view decoded
/// from the stored JSON, which stays the bytes it was (so no digest moves);
/// what the view does not name is kept in `other`, and `config` is read
/// through `ContainerConfig::of`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootfs: Option<RootFs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<History>>,
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl ImageConfig {
    pub fn of(
        config: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<ImageConfig, serde_json::Error> {
        serde_json::from_value(serde_json::Value::Object(config.clone()))
    }
}

/// An image config's `rootfs`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

/// One entry of an image config's `history`, every field as it was.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_layer: Option<bool>,
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl History {
    /// An entry for metadata, with no layer of its own.
    pub fn is_empty_layer(&self) -> bool {
        self.empty_layer == Some(true)
    }
}

/// The `{}` that ExposedPorts and Volumes map each key to.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EmptyObject {}

/// Docker's Healthcheck: the test and its durations in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    /// `["NONE"]`, `["CMD", args…]` or `["CMD-SHELL", command]`.
    pub test: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u64>,
}

impl ContainerConfig {
    /// The `config` of a whole image config; a field of the wrong type
    /// (a config written by hand) reads as absent rather than failing.
    pub fn of(image_config: &serde_json::Map<String, serde_json::Value>) -> ContainerConfig {
        let Some(c) = image_config.get("config").and_then(|c| c.as_object()) else {
            return ContainerConfig::default();
        };
        serde_json::from_value(serde_json::Value::Object(c.clone())).unwrap_or_else(|_| {
            // Field by field: keep what reads.
            let mut out = ContainerConfig::default();
            for (k, v) in c {
                let one = serde_json::json!({ k: v });
                if let Ok(part) = serde_json::from_value::<ContainerConfig>(one) {
                    out.merge(part);
                }
            }
            out
        })
    }

    fn merge(&mut self, o: ContainerConfig) {
        macro_rules! take {
            ($($f:ident),*) => { $( if o.$f.is_some() { self.$f = o.$f; } )* };
        }
        take!(
            user,
            env,
            entrypoint,
            cmd,
            working_dir,
            stop_signal,
            shell,
            on_build,
            labels,
            exposed_ports,
            volumes,
            healthcheck
        );
        self.other.extend(o.other);
    }
}

/// One image as `image-store inspect` prints it (a JSON array of these):
/// the contract between image-store and every tool or script that reads
/// it. The config is kept whole, as stored; `container_config` is its
/// typed view.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct InspectRecord {
    /// The store's names for the image (NAME:TAG).
    pub names: Vec<String>,
    /// The manifest's digest.
    pub digest: Digest,
    /// The config's digest (docker's image ID).
    pub id: Digest,
    pub manifest: ImageManifest,
    pub config: serde_json::Map<String, serde_json::Value>,
}

impl InspectRecord {
    pub fn of(image: &Image, names: Vec<String>) -> InspectRecord {
        InspectRecord {
            names,
            digest: image.digest(),
            id: image.id(),
            manifest: image.manifest.clone(),
            config: image.config.clone(),
        }
    }

    pub fn container_config(&self) -> ContainerConfig {
        ContainerConfig::of(&self.config)
    }

    /// The platform its config names (os, architecture, variant).
    pub fn platform(&self) -> crate::platform::Platform {
        config_platform(&self.config)
    }
}

/// The platform an image config names (os, architecture, variant; empty
/// where it names none).
pub fn config_platform(
    config: &serde_json::Map<String, serde_json::Value>,
) -> crate::platform::Platform {
    #[derive(serde::Deserialize, Default)]
    struct P {
        #[serde(default)]
        os: String,
        #[serde(default)]
        architecture: String,
        variant: Option<String>,
    }
    let p: P =
        serde_json::from_value(serde_json::Value::Object(config.clone())).unwrap_or_default();
    crate::platform::Platform {
        os: p.os,
        architecture: p.architecture,
        variant: p.variant,
    }
}

/// A manifest, an index or any JSON document decoded into its type, an
/// error naming the field and the value at fault (`layers[0].size:
/// invalid value: integer \`-1\`, expected u64 …`), not oci-spec's
/// bare "serde failed".
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        }
    })
}

/// What kind of document a descriptor (or the JSON itself) says it is.
#[derive(Debug, PartialEq, Eq)]
pub enum DocKind {
    Manifest,
    Index,
    Schema1,
    Other,
}

pub fn doc_kind(media_type: &str, body: Option<&serde_json::Value>) -> DocKind {
    match media_type {
        "application/vnd.oci.image.manifest.v1+json" | DOCKER_MANIFEST => DocKind::Manifest,
        "application/vnd.oci.image.index.v1+json" | DOCKER_MANIFEST_LIST => DocKind::Index,
        t if DOCKER_SCHEMA1.contains(&t) => DocKind::Schema1,
        _ => match body {
            Some(v) if v.get("manifests").is_some() => DocKind::Index,
            Some(v) if v.get("layers").is_some() && v.get("config").is_some() => DocKind::Manifest,
            Some(v) if v.get("fsLayers").is_some() => DocKind::Schema1,
            _ => DocKind::Other,
        },
    }
}

pub fn digest_of(d: &Descriptor) -> Result<Digest, DigestError> {
    Digest::from_oci(d.digest())
}

impl Image {
    /// Loads the image a descriptor names, choosing `platform` from an index.
    pub fn load(
        layout: &Layout,
        desc: &Descriptor,
        platform: &Platform,
    ) -> Result<Image, ImageError> {
        Image::load_depth(layout, desc, platform, 0)
    }

    fn load_depth(
        layout: &Layout,
        desc: &Descriptor,
        platform: &Platform,
        depth: u32,
    ) -> Result<Image, ImageError> {
        let digest = digest_of(desc)?;
        let bytes = layout.read_blob(&digest, Some(desc.size()))?;
        let malformed = |what, msg: String| ImageError::Malformed {
            what,
            digest: digest.clone(),
            msg,
        };
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| malformed("manifest", e.to_string()))?;
        let declared = value
            .get("mediaType")
            .and_then(|m| m.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| desc.media_type().to_string());
        match doc_kind(&declared, Some(&value)) {
            DocKind::Schema1 => Err(ImageError::Schema1(digest)),
            DocKind::Index => {
                if depth > 2 {
                    return Err(ImageError::TooDeep(digest));
                }
                let index: ImageIndex = decode(&bytes).map_err(|e| malformed("index", e))?;
                let chosen =
                    select_platform(&index, platform).ok_or_else(|| ImageError::NoPlatform {
                        platform: platform.clone(),
                        digest: digest.clone(),
                        available: index
                            .manifests()
                            .iter()
                            .filter_map(|m| m.platform().as_ref())
                            .map(|p| format!("{}/{}", p.os(), p.architecture()))
                            .collect::<Vec<_>>()
                            .join(", "),
                    })?;
                Image::load_depth(layout, &chosen, platform, depth + 1)
            }
            DocKind::Manifest | DocKind::Other => {
                let manifest: ImageManifest =
                    decode(&bytes).map_err(|e| malformed("manifest", e))?;
                let cdesc = manifest.config();
                let cdigest = digest_of(cdesc)?;
                let cbytes = layout.read_blob(&cdigest, Some(cdesc.size()))?;
                let config = parse_config(&cbytes).map_err(|msg| ImageError::Malformed {
                    what: "config",
                    digest: cdigest.clone(),
                    msg,
                })?;
                Ok(Image {
                    manifest_descriptor: desc.clone(),
                    manifest,
                    config,
                })
            }
        }
    }

    pub fn digest(&self) -> Digest {
        digest_of(&self.manifest_descriptor).expect("checked when loaded")
    }

    /// The config digest: what Docker shows as the image ID.
    pub fn id(&self) -> Digest {
        digest_of(self.manifest.config()).expect("checked when loaded")
    }

    /// `created` as seconds since the epoch, where the config has it.
    pub fn created(&self) -> Option<i64> {
        self.config
            .get("created")
            .and_then(|c| c.as_str())
            .and_then(crate::time::parse_rfc3339)
    }

    /// The config's `config` (what a container of the image starts
    /// with), typed; a field of the wrong type reads as absent.
    pub fn container_config(&self) -> ContainerConfig {
        ContainerConfig::of(&self.config)
    }

    pub fn labels(&self) -> std::collections::BTreeMap<String, String> {
        self.container_config().labels.unwrap_or_default()
    }

    /// Manifest, config and layer sizes: what the image takes in a layout.
    pub fn blob_sizes(&self) -> Vec<(Digest, u64)> {
        let mut v = vec![
            (self.digest(), self.manifest_descriptor.size()),
            (self.id(), self.manifest.config().size()),
        ];
        for l in self.manifest.layers() {
            if let Ok(d) = digest_of(l) {
                v.push((d, l.size()));
            }
        }
        v
    }
}

/// Parses a config, checking it against the OCI schema while keeping every
/// field as it was.
pub fn parse_config(bytes: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let serde_json::Value::Object(map) = value else {
        return Err("not a JSON object".into());
    };
    check_config(&map)?;
    Ok(map)
}

/// Checks a raw config against oci-spec's model of it.
pub fn check_config(map: &serde_json::Map<String, serde_json::Value>) -> Result<(), String> {
    serde_json::from_value::<ImageConfiguration>(serde_json::Value::Object(map.clone()))
        .map(drop)
        .map_err(|e| e.to_string())
}

/// The index entry for `platform`; an entry without a platform matches
/// anything (single-image indexes often omit it).
pub fn select_platform(index: &ImageIndex, platform: &Platform) -> Option<Descriptor> {
    let manifests = index.manifests();
    manifests
        .iter()
        .find(|m| {
            m.platform().as_ref().is_some_and(|p| {
                platform.matches(
                    &p.os().to_string(),
                    &p.architecture().to_string(),
                    p.variant().as_deref(),
                )
            })
        })
        .or_else(|| {
            manifests
                .iter()
                .find(|m| m.platform().is_none() && m.media_type() != &MediaType::ImageIndex)
        })
        .cloned()
}

#[cfg(test)]
mod container_config_tests {
    use super::{decode, ContainerConfig};
    use oci_spec::image::ImageManifest;

    #[test]
    fn a_bad_manifest_field_is_named_with_its_value() {
        let doc = |layer: &str| {
            format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
                "config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{h}","size":2}},
                "layers":[{layer}]}}"#,
                h = "a".repeat(64)
            )
        };
        let good = format!(
            r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:{}","size":3}}"#,
            "b".repeat(64)
        );
        assert!(decode::<ImageManifest>(doc(&good).as_bytes()).is_ok());
        let e = decode::<ImageManifest>(doc(&good.replace(":3}", ":-1}")).as_bytes()).unwrap_err();
        assert!(e.starts_with("layers[0].size: ") && e.contains("-1"), "{e}");
        let e = decode::<ImageManifest>(doc(&good.replace("sha256:b", "sha256:Z")).as_bytes())
            .unwrap_err();
        assert!(e.starts_with("layers[0].digest: "), "{e}");
    }

    #[test]
    fn the_container_config_reads_typed_and_keeps_the_rest() {
        let v = serde_json::json!({"config": {"Env": ["A=1"], "Cmd": null, "User": "app",
            "StopSignal": "SIGUSR1", "ExposedPorts": {"80/tcp": {}}, "Entrypoint": 7}});
        let c = ContainerConfig::of(v.as_object().unwrap());
        assert_eq!(c.env.as_deref(), Some(&["A=1".to_string()][..]));
        assert_eq!(c.cmd, None);
        assert_eq!(c.user.as_deref(), Some("app"));
        assert_eq!(c.stop_signal.as_deref(), Some("SIGUSR1"));
        assert_eq!(c.entrypoint, None, "a number is no entrypoint");
        assert!(c.exposed_ports.is_some_and(|p| p.contains_key("80/tcp")));
    }
}
