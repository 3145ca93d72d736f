//! Opening an image wherever it lives (the store, an OCI layout, an
//! oci-archive, a docker-archive) as one thing: a layout that holds its
//! blobs and the image read from it.

use crate::archive::{self, ArchiveError};
use crate::compress::Settings;
use crate::digest::Digest;
use crate::fsutil::{IoContext, IoError};
use crate::image::{self, Image, ImageError};
use crate::index::MultiImage;
use crate::layer::{self, LayerError};
use crate::layout::{canonical_json, Layout, LayoutError};
use crate::platform::Platform;
use crate::reference::ImageRef;
use crate::store::{Store, StoreError, REF_NAME};
use oci_spec::image::{Descriptor, DescriptorBuilder, ImageManifestBuilder, MediaType};
use std::fs::File;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("{0}: {1}")]
    Layer(String, LayerError),
    #[error("{0}: no image named {1:?} in the layout")]
    NoSuchRef(String, String),
    #[error("{0}: the layout holds {1} images; name one as {0}:REF")]
    Ambiguous(String, usize),
    #[error(
        "{0}: this tool reads local images; pull it into the store first with `image-pull {0}`"
    )]
    Registry(String),
}

/// An opened image. `_tmp` keeps an unpacked archive alive while in use.
pub struct Source {
    pub layout: Layout,
    /// The image for the platform asked for (from an index whose image
    /// for it is missing: its first).
    pub image: Image,
    /// The whole index, when the reference names one whose images the
    /// layout all holds.
    pub multi: Option<MultiImage>,
    _tmp: Option<tempfile::TempDir>,
}

/// The image `desc` names for `platform`, and the whole index it is in.
fn load(
    layout: &Layout,
    desc: &Descriptor,
    platform: &Platform,
) -> Result<(Image, Option<MultiImage>), SourceError> {
    let multi = MultiImage::load(layout, desc)?;
    let image = match (Image::load(layout, desc, platform), &multi) {
        (Ok(i), _) => i,
        (Err(ImageError::NoPlatform { .. }), Some(m)) if !m.images.is_empty() => {
            m.images[0].clone()
        }
        (Err(e), _) => return Err(e.into()),
    };
    Ok((image, multi))
}

/// Finds the index entry called `name` (or the only entry) in a layout.
pub fn find_in_layout(
    layout: &Layout,
    name: Option<&str>,
    what: &str,
) -> Result<Descriptor, SourceError> {
    let index = layout.read_index()?;
    let named = |d: &&Descriptor| {
        d.annotations()
            .as_ref()
            .and_then(|a| a.get(REF_NAME))
            .is_some_and(|n| Some(n.as_str()) == name)
    };
    match name {
        Some(n) => index
            .manifests()
            .iter()
            .find(named)
            .cloned()
            .ok_or_else(|| SourceError::NoSuchRef(what.to_string(), n.to_string())),
        None => match index.manifests().as_slice() {
            [one] => Ok(one.clone()),
            many => Err(SourceError::Ambiguous(what.to_string(), many.len())),
        },
    }
}

/// Writes an image of an unpacked docker-archive into `layout`: its config,
/// its layers (compressed as `settings` says) and a manifest made for
/// them, which is returned.
pub fn import_docker_image(
    layout: &Layout,
    found: &archive::DockerArchiveImage,
    settings: Settings,
    what: &str,
) -> Result<Descriptor, SourceError> {
    let config_bytes = std::fs::read(&found.config).ctx("read", &found.config)?;
    image::parse_config(&config_bytes).map_err(|msg| ImageError::Malformed {
        what: "config",
        digest: Digest::of(&config_bytes),
        msg,
    })?;
    let (cdigest, csize) = layout.write_blob(&config_bytes)?;
    let mut layers = Vec::new();
    for path in &found.layers {
        let input = File::open(path).ctx("open", path)?;
        let w = layout.blob_writer()?;
        let (w, blob) = layer::ingest(input, w, settings)
            .map_err(|e| SourceError::Layer(format!("{what}: layer {}", path.display()), e))?;
        w.finish(Some(&blob.digest))?;
        layers.push(
            DescriptorBuilder::default()
                .media_type(MediaType::from(blob.compression.oci_layer_media_type()))
                .digest(blob.digest.to_oci())
                .size(blob.size)
                .build()
                .expect("complete descriptor"),
        );
    }
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(
            DescriptorBuilder::default()
                .media_type(MediaType::ImageConfig)
                .digest(cdigest.to_oci())
                .size(csize)
                .build()
                .expect("complete descriptor"),
        )
        .layers(layers)
        .build()
        .expect("complete manifest");
    let mbytes = canonical_json(&manifest);
    let (mdigest, msize) = layout.write_blob(&mbytes)?;
    Ok(DescriptorBuilder::default()
        .media_type(MediaType::ImageManifest)
        .digest(mdigest.to_oci())
        .size(msize)
        .build()
        .expect("complete descriptor"))
}

/// Opens `r`. `settings` says how to compress the layers of a
/// docker-archive, whose layers are stored uncompressed.
pub fn open(
    r: &ImageRef,
    store: &Path,
    platform: &Platform,
    settings: Settings,
) -> Result<Source, SourceError> {
    let what = r.to_string();
    match r {
        ImageRef::Store(_) | ImageRef::Id(_) => {
            let s = Store::open(store)?;
            let desc = match r {
                ImageRef::Store(reference) => s.resolve_reference(reference)?,
                _ => s.resolve(&what)?,
            };
            let (image, multi) = load(s.layout(), &desc, platform)?;
            Ok(Source {
                layout: s.layout().clone(),
                image,
                multi,
                _tmp: None,
            })
        }
        ImageRef::Oci { dir, name } => {
            let layout = Layout::open(dir)?;
            let desc = find_in_layout(&layout, name.as_deref(), &what)?;
            let (image, multi) = load(&layout, &desc, platform)?;
            Ok(Source {
                layout,
                image,
                multi,
                _tmp: None,
            })
        }
        ImageRef::OciArchive { file, name } => {
            let tmp = tempfile::tempdir().ctx("create a temp dir in", &std::env::temp_dir())?;
            let layout = archive::extract_oci_archive(file, tmp.path())?;
            let desc = find_in_layout(&layout, name.as_deref(), &what)?;
            let (image, multi) = load(&layout, &desc, platform)?;
            Ok(Source {
                layout,
                image,
                multi,
                _tmp: Some(tmp),
            })
        }
        ImageRef::DockerArchive { file, name } => {
            let tmp = tempfile::tempdir().ctx("create a temp dir in", &std::env::temp_dir())?;
            let found =
                archive::extract_docker_archive(file, name.as_ref(), &tmp.path().join("archive"))?;
            let layout = Layout::create(&tmp.path().join("layout"))?;
            let desc = import_docker_image(&layout, &found, settings, &what)?;
            let (image, multi) = load(&layout, &desc, platform)?;
            Ok(Source {
                layout,
                image,
                multi,
                _tmp: Some(tmp),
            })
        }
        ImageRef::Registry(_) => Err(SourceError::Registry(what)),
    }
}
