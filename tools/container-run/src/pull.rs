//! `--pull`: a run of an image the store lacks pulls it first, as
//! `docker run` does, by running image-pull (so the stage stays
//! swappable and its progress and errors are its own).

use crate::{Args, Error};
use slipway_common::compress::{Compression, Settings};
use slipway_common::platform::Platform;
use slipway_common::reference::ImageRef;
use slipway_common::source::{self, Source, SourceError};
use slipway_common::store::StoreError;
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

/// The image `r` names, pulled first where `args.pull` says. An image by
/// ID or from a layout or archive is never pulled.
pub fn open(args: &Args, r: &ImageRef, store: &Path, platform: &Platform) -> Result<Source, Error> {
    let settings = Settings::new(Compression::Gzip);
    let reference = match r {
        ImageRef::Store(x) | ImageRef::Registry(x) => x,
        _ => return Ok(source::open(r, store, platform, settings)?),
    };
    let local = ImageRef::Store(reference.clone());
    let pull = match args.pull {
        Pull::Never => false,
        Pull::Always => true,
        Pull::Missing => match source::open(&local, store, platform, settings) {
            Ok(s) => return Ok(s),
            Err(SourceError::Store(StoreError::NotFound(_))) => {
                eprintln!("container-run: unable to find image '{reference}' locally");
                true
            }
            Err(e) => return Err(e.into()),
        },
    };
    if pull {
        run_image_pull(&reference.to_string(), store, args.platform.as_deref())?;
    }
    Ok(source::open(&local, store, platform, settings)?)
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
