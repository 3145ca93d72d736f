//! An image index whose images are all in one layout: what a
//! multi-platform build makes, `image-pull --all-platforms` keeps and
//! `image-push` sends whole. An index with a child missing (a pull that
//! chose one platform from it) is not one of these: it is read one image at
//! a time, as `Image::load` does.

use crate::digest::Digest;
use crate::image::{decode, digest_of, doc_kind, DocKind, Image, ImageError};
use crate::layout::{canonical_json, Layout, LayoutError};
use crate::platform::Platform;
use oci_spec::image::{
    Descriptor, DescriptorBuilder, ImageIndex, ImageIndexBuilder, MediaType, PlatformBuilder,
};
use std::collections::HashMap;

pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// An index and every image it lists, in its order.
#[derive(Clone, Debug)]
pub struct MultiImage {
    pub descriptor: Descriptor,
    pub index: ImageIndex,
    pub images: Vec<Image>,
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Attestation(Box<crate::attestation::AttestationError>),
    #[error(transparent)]
    Map(Box<dyn std::error::Error + Send + Sync>),
}

impl From<crate::attestation::AttestationError> for IndexError {
    fn from(e: crate::attestation::AttestationError) -> IndexError {
        IndexError::Attestation(Box::new(e))
    }
}

impl MultiImage {
    /// The index `desc` names with all its images, or None when `desc` is
    /// a manifest, or an index some of whose images the layout lacks.
    pub fn load(layout: &Layout, desc: &Descriptor) -> Result<Option<MultiImage>, ImageError> {
        let digest = digest_of(desc)?;
        if doc_kind(desc.media_type().as_ref(), None) == DocKind::Manifest {
            return Ok(None);
        }
        let bytes = layout.read_blob(&digest, Some(desc.size()))?;
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| ImageError::Malformed {
                what: "index",
                digest: digest.clone(),
                msg: e.to_string(),
            })?;
        if doc_kind(desc.media_type().as_ref(), Some(&value)) != DocKind::Index {
            return Ok(None);
        }
        let index: ImageIndex = decode(&bytes).map_err(|msg| ImageError::Malformed {
            what: "index",
            digest: digest.clone(),
            msg,
        })?;
        let mut images = Vec::new();
        for m in index.manifests() {
            let d = digest_of(m)?;
            if !layout.has_blob(&d) {
                return Ok(None);
            }
            if doc_kind(m.media_type().as_ref(), None) == DocKind::Index {
                return Err(ImageError::TooDeep(d));
            }
            let any = Platform::host();
            let img = Image::load(layout, m, &any)?;
            if img
                .manifest
                .layers()
                .iter()
                .chain([img.manifest.config()])
                .any(|b| digest_of(b).is_ok_and(|d| !layout.has_blob(&d)))
            {
                return Ok(None);
            }
            images.push(img);
        }
        Ok(Some(MultiImage {
            descriptor: desc.clone(),
            index,
            images,
        }))
    }

    pub fn digest(&self) -> Digest {
        digest_of(&self.descriptor).expect("checked when loaded")
    }

    pub fn is_docker(&self) -> bool {
        self.descriptor.media_type().to_string() == DOCKER_MANIFEST_LIST
    }

    /// The platforms of its images, in order (attestations left out).
    pub fn platforms(&self) -> Vec<String> {
        self.index
            .manifests()
            .iter()
            .filter(|m| !crate::attestation::is_attestation(m))
            .map(|m| match m.platform() {
                Some(p) => {
                    let mut s = format!("{}/{}", p.os(), p.architecture());
                    if let Some(v) = p.variant() {
                        s.push('/');
                        s.push_str(v);
                    }
                    s
                }
                None => "unknown".into(),
            })
            .collect()
    }

    /// Every blob it takes in a layout: the index, then each image's.
    pub fn blob_sizes(&self) -> Vec<(Digest, u64)> {
        let mut v = vec![(self.digest(), self.descriptor.size())];
        for i in &self.images {
            for b in i.blob_sizes() {
                if !v.contains(&b) {
                    v.push(b);
                }
            }
        }
        v
    }

    /// The same index with each image replaced by `f`'s (which may move
    /// its manifest, as compression does), new blobs written to `to` (the
    /// old ones are in `from`). An attestation of an image that moved is
    /// made again about the new one. The entries keep their platforms and
    /// annotations.
    pub fn map_images<E: std::error::Error + Send + Sync + 'static>(
        &self,
        from: &Layout,
        to: &Layout,
        mut f: impl FnMut(&Image) -> Result<Image, E>,
    ) -> Result<MultiImage, IndexError> {
        let entries = self.index.manifests();
        let mut images = Vec::new();
        let mut moved: HashMap<Digest, Digest> = HashMap::new();
        for (e, img) in entries.iter().zip(&self.images) {
            if crate::attestation::is_attestation(e) {
                images.push(img.clone());
                continue;
            }
            let new = f(img).map_err(|e| IndexError::Map(Box::new(e)))?;
            if new.digest() != img.digest() {
                moved.insert(img.digest(), new.digest());
            }
            images.push(new);
        }
        let mut index = self.index.clone();
        let mut new_entries = entries.clone();
        for (i, e) in entries.iter().enumerate() {
            let Some(new) = crate::attestation::subject_of(e).and_then(|d| moved.get_key_value(&d))
            else {
                continue;
            };
            if !crate::attestation::is_attestation(e) {
                continue;
            }
            let (img, entry) = crate::attestation::retarget(from, to, &images[i], new.0, new.1)?;
            images[i] = img;
            new_entries[i] = entry;
        }
        // Each moved image's entry names its new manifest.
        for (e, img) in new_entries.iter_mut().zip(&images) {
            point_at(e, img);
        }
        index.set_manifests(new_entries);
        Ok(self.rebuild(to, index, images)?)
    }

    /// The same index listing `images` (one for each of its own, in its
    /// order), written to `layout` when any of them moved.
    pub fn with_images(
        &self,
        layout: &Layout,
        images: Vec<Image>,
    ) -> Result<MultiImage, LayoutError> {
        let mut index = self.index.clone();
        let mut entries = index.manifests().clone();
        for (e, img) in entries.iter_mut().zip(&images) {
            point_at(e, img);
        }
        index.set_manifests(entries);
        self.rebuild(layout, index, images)
    }

    /// This index as `index` lists `images`: itself when nothing changed,
    /// else a new index blob written to `layout`.
    fn rebuild(
        &self,
        layout: &Layout,
        index: ImageIndex,
        images: Vec<Image>,
    ) -> Result<MultiImage, LayoutError> {
        if index == self.index {
            return Ok(MultiImage {
                images,
                ..self.clone()
            });
        }
        let descriptor = write_index(layout, &index, self.descriptor.media_type().clone())?;
        Ok(MultiImage {
            descriptor,
            index,
            images,
        })
    }
}

/// An index entry made to name `img`'s manifest, its platform and
/// annotations kept.
fn point_at(e: &mut Descriptor, img: &Image) {
    let d = &img.manifest_descriptor;
    if e.digest() != d.digest() {
        e.set_digest(d.digest().clone());
        e.set_size(d.size());
        e.set_media_type(d.media_type().clone());
    }
}

/// The index entry for an image: its manifest, and the platform its
/// config names.
fn entry(img: &Image) -> Result<Descriptor, IndexError> {
    let p = crate::image::config_platform(&img.config);
    if p.os.is_empty() || p.architecture.is_empty() {
        return Err(IndexError::Invalid(format!(
            "image {}: its config names no os and architecture, which an index entry needs",
            img.digest()
        )));
    }
    let mut pb = PlatformBuilder::default()
        .os(p.os.as_str())
        .architecture(p.architecture.as_str());
    if let Some(v) = p.variant.as_ref().filter(|v| !v.is_empty()) {
        pb = pb.variant(v.clone());
    }
    if let Some(v) = img.config.get("os.version").and_then(|v| v.as_str()) {
        pb = pb.os_version(v.to_string());
    }
    let platform = pb.build().map_err(|e| IndexError::Invalid(e.to_string()))?;
    let d = &img.manifest_descriptor;
    Ok(DescriptorBuilder::default()
        .media_type(d.media_type().clone())
        .digest(d.digest().clone())
        .size(d.size())
        .platform(platform)
        .build()
        .expect("complete descriptor"))
}

/// How an index is made.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// A Docker manifest list (Some(true)), an OCI index (Some(false)),
    /// or whichever the images' manifests are (None).
    pub docker: Option<bool>,
    /// On the index.
    pub annotations: HashMap<String, String>,
    /// On each image's entry.
    pub image_annotations: HashMap<String, String>,
}

/// Writes an index of `images` (each in `layout` already) and returns its
/// descriptor: a Docker manifest list when every image is a Docker
/// manifest (or `docker` says so, and then every image must be), else an
/// OCI index. Two images of one platform are refused: a client could not
/// choose between them.
pub fn create(
    layout: &Layout,
    images: &[Image],
    attestations: &[(Digest, Vec<u8>)],
    opts: &Options,
) -> Result<Descriptor, IndexError> {
    let (annotations, entry_annotations) = (&opts.annotations, &opts.image_annotations);
    if images.is_empty() {
        return Err(IndexError::Invalid(
            "an index needs at least one image".into(),
        ));
    }
    let all_docker = images
        .iter()
        .all(|i| i.manifest_descriptor.media_type().to_string() == DOCKER_MANIFEST);
    let docker = opts.docker.unwrap_or(all_docker);
    if docker && !entry_annotations.is_empty() {
        return Err(IndexError::Invalid(
            "a Docker manifest list has no annotations: use the OCI format".into(),
        ));
    }
    if docker && !all_docker {
        return Err(IndexError::Invalid(
            "a Docker manifest list holds only Docker manifests: build or convert every image with --format docker".into(),
        ));
    }
    let mut entries = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for img in images {
        let mut e = entry(img)?;
        if !entry_annotations.is_empty() {
            e.set_annotations(Some(entry_annotations.clone()));
        }
        let p = crate::image::config_platform(&img.config).to_string();
        if seen.contains(&p) {
            return Err(IndexError::Invalid(format!(
                "two images for {p}: an index holds one per platform"
            )));
        }
        seen.push(p);
        entries.push(e);
    }
    // Each attestation after the images, naming the image it is about.
    for (subject, statement) in attestations {
        if docker {
            return Err(IndexError::Invalid(
                "a Docker manifest list holds no attestations: use the OCI format".into(),
            ));
        }
        if !images.iter().any(|i| &i.digest() == subject) {
            return Err(IndexError::Invalid(format!(
                "an attestation about {subject}, which is not one of the images"
            )));
        }
        let (_, entry) = crate::attestation::attach(layout, statement, subject)?;
        entries.push(entry);
    }
    let media = if docker {
        MediaType::Other(DOCKER_MANIFEST_LIST.into())
    } else {
        MediaType::ImageIndex
    };
    let mut b = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(media.clone())
        .manifests(entries);
    if !annotations.is_empty() {
        if docker {
            return Err(IndexError::Invalid(
                "a Docker manifest list has no annotations: use the OCI format".into(),
            ));
        }
        b = b.annotations(annotations.clone());
    }
    let index = b.build().map_err(|e| IndexError::Invalid(e.to_string()))?;
    Ok(write_index(layout, &index, media)?)
}

fn write_index(
    layout: &Layout,
    index: &ImageIndex,
    media: MediaType,
) -> Result<Descriptor, LayoutError> {
    let bytes = canonical_json(index);
    let (digest, size) = layout.write_blob(&bytes)?;
    Ok(DescriptorBuilder::default()
        .media_type(media)
        .digest(digest.to_oci())
        .size(size)
        .build()
        .expect("complete descriptor"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(layout: &Layout, arch: &str, docker: bool) -> Image {
        let config = format!(
            r#"{{"architecture":"{arch}","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}}}}"#
        );
        let (cd, cs) = layout.write_blob(config.as_bytes()).unwrap();
        let mt = if docker {
            DOCKER_MANIFEST
        } else {
            "application/vnd.oci.image.manifest.v1+json"
        };
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{mt}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{cd}","size":{cs}}},"layers":[]}}"#
        );
        let (md, ms) = layout.write_blob(manifest.as_bytes()).unwrap();
        let desc = DescriptorBuilder::default()
            .media_type(MediaType::from(mt))
            .digest(md.to_oci())
            .size(ms)
            .build()
            .unwrap();
        Image::load(layout, &desc, &Platform::host()).unwrap()
    }

    #[test]
    fn an_index_of_two_platforms_reads_back_whole_with_their_platforms() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        let imgs = [
            image(&layout, "amd64", false),
            image(&layout, "arm64", false),
        ];
        let desc = create(&layout, &imgs, &[], &Options::default()).unwrap();
        assert_eq!(desc.media_type(), &MediaType::ImageIndex);
        let multi = MultiImage::load(&layout, &desc).unwrap().unwrap();
        assert_eq!(multi.platforms(), ["linux/amd64", "linux/arm64"]);
        assert_eq!(multi.images.len(), 2);
        // A manifest is not an index.
        assert!(MultiImage::load(&layout, &imgs[0].manifest_descriptor)
            .unwrap()
            .is_none());
    }

    #[test]
    fn docker_manifests_make_a_manifest_list_and_mixed_ones_refuse_it() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        let d = [image(&layout, "amd64", true), image(&layout, "arm64", true)];
        let desc = create(&layout, &d, &[], &Options::default()).unwrap();
        assert_eq!(desc.media_type().to_string(), DOCKER_MANIFEST_LIST);
        let mixed = [
            image(&layout, "amd64", true),
            image(&layout, "arm64", false),
        ];
        assert!(create(
            &layout,
            &mixed,
            &[],
            &Options {
                docker: Some(true),
                ..Options::default()
            }
        )
        .is_err());
        let same = [
            image(&layout, "amd64", false),
            image(&layout, "amd64", false),
        ];
        let e = create(&layout, &same, &[], &Options::default()).unwrap_err();
        assert!(e.to_string().contains("two images for linux/amd64"), "{e}");
    }

    #[test]
    fn an_index_missing_an_image_is_not_whole() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        let imgs = [
            image(&layout, "amd64", false),
            image(&layout, "arm64", false),
        ];
        let desc = create(&layout, &imgs, &[], &Options::default()).unwrap();
        std::fs::remove_file(layout.blob_path(&imgs[1].digest())).unwrap();
        assert!(MultiImage::load(&layout, &desc).unwrap().is_none());
    }
}
