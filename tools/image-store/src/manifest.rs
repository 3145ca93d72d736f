//! manifest: multi-platform images (an index of one image per platform),
//! made from images in the store and shown, as `podman manifest create`
//! and `docker manifest inspect` do.

use crate::{out_err, Error};
use slipway_common::attestation;
use slipway_common::fsutil::IoContext;
use slipway_common::image::Image;
use slipway_common::index::{self, MultiImage};
use slipway_common::platform::Platform;
use slipway_common::reference::Reference;
use slipway_common::store::{Store, StoreError};
use std::collections::HashMap;
use std::io::Write;

#[derive(clap::Subcommand, Debug)]
pub enum ManifestCommand {
    /// Join images of different platforms into one index named NAME (a
    /// name it had moves to the new index). An image that is itself a
    /// whole index adds every image it lists. Prints the index digest.
    Create {
        /// OCI makes an OCI image index; docker a Docker manifest list
        /// (every image must then be a Docker manifest). Default: a list
        /// when every image is a Docker manifest, else an OCI index.
        #[arg(long, value_name = "oci|docker")]
        format: Option<Format>,
        /// An annotation of the index (repeatable; OCI only).
        #[arg(long = "annotation", value_name = "KEY=VALUE")]
        annotations: Vec<String>,
        /// An annotation of each image's entry in the index (repeatable;
        /// OCI only): buildx's manifest-descriptor level.
        #[arg(long = "image-annotation", value_name = "KEY=VALUE")]
        image_annotations: Vec<String>,
        /// Attach the in-toto statement in FILE (a provenance, an SBOM)
        /// to IMAGE, one of the images, as BuildKit attaches attestations:
        /// an attestation manifest in the index (repeatable). The
        /// statement's subject must name IMAGE's manifest digest.
        #[arg(long = "attest", value_name = "IMAGE=FILE")]
        attest: Vec<String>,
        /// The index's name, NAME[:TAG].
        name: String,
        /// The images: NAME[:TAG], NAME@DIGEST, a digest or an image ID prefix.
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<String>,
    },
    /// Print an index (or a manifest) as the store holds it, byte for byte.
    Inspect {
        /// NAME[:TAG], NAME@DIGEST or a digest.
        name: String,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Format {
    Oci,
    Docker,
}

pub fn run(store: &Store, cmd: &ManifestCommand, out: &mut dyn Write) -> Result<(), Error> {
    match cmd {
        ManifestCommand::Create {
            format,
            annotations,
            image_annotations,
            attest,
            name,
            images,
        } => {
            let target = Reference::parse(name)?;
            if target.digest().is_some() {
                return Err(Error::Invalid(format!(
                    "{target}: a name cannot carry a digest"
                )));
            }
            let mut statements = Vec::new();
            for a in attest {
                let (image, file) = a
                    .split_once('=')
                    .filter(|(i, f)| !i.is_empty() && !f.is_empty())
                    .ok_or_else(|| {
                        Error::Invalid(format!("--attest {a:?}: expected IMAGE=FILE"))
                    })?;
                let bytes = std::fs::read(file).ctx("read", std::path::Path::new(file))?;
                statements.push((image.to_string(), bytes));
            }
            let opts = index::Options {
                docker: format.map(|f| matches!(f, Format::Docker)),
                annotations: parse_annotations(annotations)?,
                image_annotations: parse_annotations(image_annotations)?,
            };
            let digest = create(store, &target, images, &statements, &opts)?;
            writeln!(out, "{digest}").map_err(out_err)
        }
        ManifestCommand::Inspect { name } => {
            let desc = store.resolve(name)?;
            let digest = slipway_common::image::digest_of(&desc)
                .map_err(|e| Error::Invalid(e.to_string()))?;
            let bytes = store
                .layout()
                .read_blob(&digest, Some(desc.size()))
                .map_err(StoreError::from)?;
            out.write_all(&bytes).map_err(out_err)?;
            writeln!(out).map_err(out_err)
        }
    }
}

/// Makes the index of `images` (found in the store) and names it
/// `target`; returns its digest.
pub fn create(
    store: &Store,
    target: &Reference,
    images: &[String],
    statements: &[(String, Vec<u8>)],
    opts: &index::Options,
) -> Result<slipway_common::digest::Digest, Error> {
    let layout = store.layout();
    let _session = layout.write_session().map_err(StoreError::from)?;
    let mut list: Vec<Image> = Vec::new();
    for r in images {
        let desc = store.resolve(r)?;
        match MultiImage::load(layout, &desc).map_err(StoreError::from)? {
            // Its images, not its attestations: those are about the index
            // they were made for.
            Some(m) => list.extend(
                m.index
                    .manifests()
                    .iter()
                    .zip(m.images)
                    .filter(|(e, _)| !attestation::is_attestation(e))
                    .map(|(_, i)| i),
            ),
            None => {
                list.push(Image::load(layout, &desc, &Platform::host()).map_err(StoreError::from)?)
            }
        }
    }
    let mut attestations = Vec::new();
    for (r, bytes) in statements {
        let desc = store.resolve(r)?;
        let d =
            slipway_common::image::digest_of(&desc).map_err(|e| Error::Invalid(e.to_string()))?;
        attestations.push((d, bytes.clone()));
    }
    let desc = index::create(layout, &list, &attestations, opts)?;
    store.set_tags(std::slice::from_ref(target), &desc)?;
    slipway_common::image::digest_of(&desc).map_err(|e| Error::Invalid(e.to_string()))
}

fn parse_annotations(list: &[String]) -> Result<HashMap<String, String>, Error> {
    list.iter()
        .map(|a| match a.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(Error::Invalid(format!(
                "--annotation {a:?}: expected KEY=VALUE"
            ))),
        })
        .collect()
}
