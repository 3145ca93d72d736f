//! Layers compressed as an image leaves the machine. A local image may
//! keep its layers as they were made (uncompressed: nothing to inflate
//! when it is unpacked, nothing to deflate when it is built); a push or
//! an export compresses each such layer once. What a layer became is
//! remembered beside the layout (as Buildah's blob-info cache), so the
//! next push of the same layer does not compress it again; compression is
//! deterministic, so its digest is the same either way.

use crate::compress::{Compression, Settings};
use crate::digest::Digest;
use crate::image::{digest_of, Image, ImageError, DOCKER_MANIFEST};
use crate::layer::LayerError;
use crate::layout::{canonical_json, Layout, LayoutError};
use crate::platform::Platform;
use oci_spec::image::{Descriptor, DescriptorBuilder, MediaType};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("layer {digest}: {source}")]
    Layer {
        digest: Digest,
        #[source]
        source: LayerError,
    },
    #[error("{0}")]
    Invalid(String),
}

const OCI_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
const DOCKER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";

/// Whether a layer descriptor is an uncompressed tar.
pub fn is_uncompressed(d: &Descriptor) -> bool {
    matches!(d.media_type(), MediaType::ImageLayer)
        || matches!(d.media_type(), MediaType::Other(m) if m == DOCKER_TAR || m == OCI_TAR)
}

/// Where the blob-info cache of `layout` lives.
fn cache_dir(layout: &Layout) -> PathBuf {
    layout.root().join("blob-info")
}

/// The cache's record of what `diff_id` became under `s`.
fn cache_file(layout: &Layout, diff_id: &Digest, s: Settings) -> PathBuf {
    let kind = match s.kind {
        Compression::Gzip => "gzip",
        Compression::Zstd => "zstd",
        Compression::None => "none",
    };
    cache_dir(layout).join(format!("{}-{kind}-{}", diff_id.hex(), s.level))
}

/// Says whether the place an image goes (a registry) already holds a blob:
/// a layer compressed earlier whose blob is gone from the layout (`gc`
/// took it) need not be compressed again only to find it is there.
pub type Present<'a> = &'a (dyn Fn(&Digest) -> bool + Sync);

/// A compressed blob recorded earlier, if the layout still has it, or if
/// `present` says where it goes has it.
fn cached(
    layout: &Layout,
    diff_id: &Digest,
    s: Settings,
    present: Present,
) -> Option<(Digest, u64)> {
    let text = std::fs::read_to_string(cache_file(layout, diff_id, s)).ok()?;
    let (d, n) = text.trim().split_once(' ')?;
    let (digest, size): (Digest, u64) = (d.parse().ok()?, n.parse().ok()?);
    match std::fs::metadata(layout.blob_path(&digest)) {
        Ok(m) => (m.len() == size).then_some((digest, size)),
        Err(_) => present(&digest).then_some((digest, size)),
    }
}

fn remember(layout: &Layout, diff_id: &Digest, s: Settings, digest: &Digest, size: u64) {
    // A cache that cannot be written costs a compression next time, no more.
    let _ = std::fs::create_dir_all(cache_dir(layout));
    let _ = crate::fsutil::write_atomic(
        &cache_file(layout, diff_id, s),
        format!("{digest} {size}\n").as_bytes(),
    );
}

/// One uncompressed layer of `from` compressed into `layout` (or found
/// compressed before): the compressed blob's digest and size.
fn compress_layer(
    from: &Layout,
    layout: &Layout,
    diff_id: &Digest,
    size: u64,
    s: Settings,
    present: Present,
) -> Result<(Digest, u64), ConvertError> {
    if let Some(hit) = cached(layout, diff_id, s, present) {
        return Ok(hit);
    }
    let layer_err = |source| ConvertError::Layer {
        digest: diff_id.clone(),
        source,
    };
    let input = from.open_blob(diff_id, Some(size))?;
    let w = layout.blob_writer()?;
    let (w, blob) = crate::layer::ingest(input, w, s).map_err(layer_err)?;
    if blob.diff_id != *diff_id {
        return Err(ConvertError::Invalid(format!(
            "layer {diff_id}: its blob reads as {}",
            blob.diff_id
        )));
    }
    w.finish(Some(&blob.digest))?;
    remember(layout, diff_id, s, &blob.digest, blob.size);
    Ok((blob.digest, blob.size))
}

/// `image` as it leaves the machine: each uncompressed layer compressed as
/// `s` says, the new blobs and manifest written to `layout` (the config is
/// the same: its diff_ids name the uncompressed tars). An image with no
/// uncompressed layer, or `s` of none, comes back as it is.
pub fn compress_layers(layout: &Layout, image: &Image, s: Settings) -> Result<Image, ConvertError> {
    compress_layers_into(layout, layout, image, s, &|_| false)
}

/// As `compress_layers`, reading the uncompressed layers from `from` and
/// writing into `layout`, which must hold the image's config and its
/// other layers: a layout of the user's is read, never written to. A
/// layer compressed before whose blob `present` finds where the image
/// goes is named, not compressed again, and its blob is not in `layout`.
pub fn compress_layers_into(
    from: &Layout,
    layout: &Layout,
    image: &Image,
    s: Settings,
    present: Present,
) -> Result<Image, ConvertError> {
    let layers = image.manifest.layers();
    if s.kind == Compression::None || !layers.iter().any(is_uncompressed) {
        return Ok(image.clone());
    }
    let docker = image.manifest_descriptor.media_type().to_string() == DOCKER_MANIFEST;
    let media = if docker {
        s.kind.docker_layer_media_type().ok_or_else(|| {
            ConvertError::Invalid(format!(
                "a Docker manifest cannot hold {:?} layers: push it as OCI, or with gzip",
                s.kind
            ))
        })?
    } else {
        s.kind.oci_layer_media_type()
    };
    let mut out = Vec::with_capacity(layers.len());
    for l in layers {
        if !is_uncompressed(l) {
            out.push(l.clone());
            continue;
        }
        let diff_id = digest_of(l).map_err(|e| ConvertError::Invalid(e.to_string()))?;
        let (digest, size) = compress_layer(from, layout, &diff_id, l.size(), s, present)?;
        let mut b = DescriptorBuilder::default()
            .media_type(MediaType::from(media))
            .digest(digest.to_oci())
            .size(size);
        if let Some(a) = l.annotations() {
            b = b.annotations(a.clone());
        }
        out.push(
            b.build()
                .map_err(|e| ConvertError::Invalid(e.to_string()))?,
        );
    }
    let mut manifest = image.manifest.clone();
    manifest.set_layers(out);
    let (mdigest, msize) = layout.write_blob(&canonical_json(&manifest))?;
    let desc = DescriptorBuilder::default()
        .media_type(image.manifest_descriptor.media_type().clone())
        .digest(mdigest.to_oci())
        .size(msize)
        .build()
        .map_err(|e| ConvertError::Invalid(e.to_string()))?;
    let platform = Platform::host();
    Ok(Image::load(layout, &desc, &platform)?)
}
