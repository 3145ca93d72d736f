//! load: images from a docker-archive (what `docker save` writes) or an
//! oci-archive into the store, with the names the archive gives them, as
//! `docker load` does.

use crate::{out_err, Error};
use slipway_common::archive;
use slipway_common::compress::{Compression, Settings};
use slipway_common::fsutil::IoContext;
use slipway_common::image::Image;
use slipway_common::index::MultiImage;
use slipway_common::platform::Platform;
use slipway_common::reference::PathOrStdio;
use slipway_common::reference::Reference;
use slipway_common::source::{self, SourceError};
use slipway_common::store::{Store, StoreError, REF_NAME};
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct LoadArgs {
    /// The archive (default: stdin).
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Print nothing.
    #[arg(short, long)]
    pub quiet: bool,
}

fn source_err(e: SourceError) -> Error {
    Error::Invalid(e.to_string())
}

pub fn load(store: &Store, a: &LoadArgs, out: &mut dyn Write) -> Result<(), Error> {
    let tmp = tempfile::tempdir_in(store.layout().root())
        .ctx("create a temp dir in", store.layout().root())?;
    // The stream is read once: spooled to a file, it can be tried as
    // both kinds of archive.
    let file = match &a.input {
        Some(f) => f.clone(),
        None => {
            let spool = tmp.path().join("input.tar");
            let mut w = std::fs::File::create(&spool).ctx("create", &spool)?;
            std::io::copy(&mut std::io::stdin().lock(), &mut w)
                .ctx("read", std::path::Path::new("<stdin>"))?;
            spool
        }
    };
    let what = file.display().to_string();
    let _session = store.layout().write_session().map_err(StoreError::from)?;
    let mut loaded: Vec<(Vec<Reference>, String)> = Vec::new();
    match archive::extract_docker_archive_all(
        &PathOrStdio::Path(file.clone()),
        &tmp.path().join("d"),
    ) {
        Ok(images) => {
            for found in &images {
                // The store keeps layers uncompressed; they are compressed
                // once, when they leave.
                let desc = source::import_docker_image(
                    store.layout(),
                    found,
                    Settings::new(Compression::None),
                    &what,
                )
                .map_err(source_err)?;
                let names = found
                    .repo_tags
                    .iter()
                    .map(|t| Reference::parse(t))
                    .collect::<Result<Vec<_>, _>>()?;
                store.set_tags(&names, &desc)?;
                loaded.push((names, desc.digest().to_string()));
            }
        }
        Err(docker) => {
            // Not a docker-archive: an oci-archive, each named image of
            // its index taken with its name.
            let Ok(layout) = archive::extract_oci_archive(
                &PathOrStdio::Path(file.clone()),
                &tmp.path().join("o"),
            ) else {
                return Err(Error::Invalid(format!(
                    "{what}: neither a docker-archive nor an oci-archive ({docker})"
                )));
            };
            let index = layout.read_index().map_err(StoreError::from)?;
            for d in index.manifests() {
                // A whole index is kept whole (a multi-platform image
                // saved by image-store save); of one missing images, the
                // host's image, as a pull takes it.
                let (blobs, desc) = match MultiImage::load(&layout, d).map_err(StoreError::from)? {
                    Some(m) => (m.blob_sizes(), m.descriptor.clone()),
                    None => {
                        let img =
                            Image::load(&layout, d, &Platform::host()).map_err(StoreError::from)?;
                        (img.blob_sizes(), img.manifest_descriptor.clone())
                    }
                };
                for (blob, size) in blobs {
                    store
                        .layout()
                        .copy_blob_from(&layout, &blob, Some(size))
                        .map_err(StoreError::from)?;
                }
                let name = d
                    .annotations()
                    .as_ref()
                    .and_then(|m| m.get(REF_NAME))
                    .and_then(|n| Reference::parse(n).ok());
                let names: Vec<Reference> = name.into_iter().collect();
                store.set_tags(&names, &desc)?;
                loaded.push((names, desc.digest().to_string()));
            }
        }
    }
    if !a.quiet {
        for (names, digest) in &loaded {
            if names.is_empty() {
                writeln!(out, "Loaded image ID: {digest}").map_err(out_err)?;
            }
            for n in names {
                writeln!(out, "Loaded image: {}", n.familiar()).map_err(out_err)?;
            }
        }
    }
    Ok(())
}
