//! `--pull`: a run of an image the store lacks pulls it first, as
//! `docker run` does, by running image-pull (so the stage stays
//! swappable and its progress and errors are its own).

use crate::{Args, Error};
use slipway_common::compress::{Compression, Settings};
use slipway_common::platform::Platform;
use slipway_common::reference::{ImageRef, Reference};
use slipway_common::registries;
use slipway_common::source::{self, Source, SourceError};
use slipway_common::store::{Store, StoreError};
use std::path::Path;
use std::process::{Command, Stdio};

/// When to pull, as `docker run --pull` says.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pull {
    /// Only when the store lacks the image.
    Missing,
    /// Every time, so the tag's newest image runs.
    Always,
    /// Never: an image the store lacks is an error.
    Never,
}

/// The image `r` names (`typed` as the user wrote it), pulled first where
/// `args.pull` says. An image by ID or from a layout or archive is never
/// pulled.
pub fn open(
    args: &Args,
    r: &ImageRef,
    typed: &str,
    store: &Path,
    platform: &Platform,
) -> Result<Source, Error> {
    let settings = Settings::new(Compression::Gzip);
    let reference = match r {
        ImageRef::Store(x) | ImageRef::Registry(x) => x,
        _ => return Ok(source::open(r, store, platform, settings)?),
    };
    let typed = typed.strip_prefix("docker://").unwrap_or(typed);
    let local = || open_local(reference, typed, store, platform, settings);
    let pull = match args.pull {
        Pull::Never => false,
        Pull::Always => true,
        Pull::Missing => match local()? {
            Some(s) => return Ok(s),
            None => {
                eprintln!("container-run: unable to find image '{reference}' locally");
                true
            }
        },
    };
    if pull {
        // A short name goes as typed: image-pull looks for it where
        // registries.conf says.
        let name = if registries::is_short(typed) {
            typed.to_string()
        } else {
            reference.to_string()
        };
        run_image_pull(&name, store, args.platform.as_deref())?;
    }
    local()?.ok_or_else(|| SourceError::Store(StoreError::NotFound(reference.to_string())).into())
}

/// The image in the store (None if it lacks it): by its Docker Hub name,
/// or for a short name under any name registries.conf makes of it.
fn open_local(
    reference: &Reference,
    typed: &str,
    store: &Path,
    platform: &Platform,
    settings: Settings,
) -> Result<Option<Source>, Error> {
    let by_name = ImageRef::Store(reference.clone());
    let found = match source::open(&by_name, store, platform, settings) {
        Err(SourceError::Store(StoreError::NotFound(_))) if registries::is_short(typed) => {
            match Store::open(store)
                .map_err(SourceError::from)?
                .resolve(typed)
            {
                Ok(desc) => {
                    let by_digest = ImageRef::parse(desc.digest().as_ref())
                        .map_err(|e| Error::Invalid(e.to_string()))?;
                    source::open(&by_digest, store, platform, settings)
                }
                Err(StoreError::NotFound(_)) => return Ok(None),
                Err(e) => Err(e.into()),
            }
        }
        other => other,
    };
    match found {
        Ok(s) => Ok(Some(s)),
        Err(SourceError::Store(StoreError::NotFound(_))) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn run_image_pull(reference: &str, store: &Path, platform: Option<&str>) -> Result<(), Error> {
    let tool = slipway_common::cli::find_tool("image-pull").ok_or_else(|| {
        Error::Invalid(format!(
            "{reference} must be pulled, and image-pull is neither beside container-run nor in PATH"
        ))
    })?;
    let mut c = Command::new(&tool);
    // Its progress goes to stderr, as docker run shows a pull.
    c.arg("--store").arg(store);
    if let Some(p) = platform {
        c.arg("--platform").arg(p);
    }
    // stdout is the container's; image-pull's digest is not.
    c.arg(reference).stdin(Stdio::null()).stdout(Stdio::null());
    let status = c
        .status()
        .map_err(|e| Error::Invalid(format!("run {}: {e}", tool.display())))?;
    if !status.success() {
        // image-pull said why on stderr.
        return Err(Error::Invalid(format!("could not pull {reference}")));
    }
    Ok(())
}
