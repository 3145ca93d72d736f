//! image-push: an image to a registry, blobs first, the manifest last.

use clap::Parser;
use slipway_common::cli::{RegistryArgs, StoreArgs};
use slipway_common::compress::{Compression, Settings};
use slipway_common::reference::{ImageRef, Reference, ReferenceError};
use slipway_common::registry::{self, PushPullError, Registry};
use slipway_common::source::{self, SourceError};
use std::io::Write;
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  image-push busybox:local docker://127.0.0.1:5000/tools/busybox:1
  image-push oci:out:app localhost:5000/app:v2 --digestfile app.digest";

/// Push an image to a registry (OCI distribution API).
///
/// Blobs the registry lacks are uploaded (checked with HEAD first), each
/// verified against its digest as it streams; the manifest goes up last,
/// byte for byte, so the digest never changes on the way. Prints the
/// manifest digest. This version speaks plain HTTP to loopback registries
/// and to hosts given with --insecure-registry, without authentication.
#[derive(Parser, Debug)]
#[command(name = "image-push", version, after_help = EXAMPLES)]
pub struct Args {
    /// The image: NAME[:TAG|@DIGEST] in the store, oci:DIR[:REF],
    /// oci-archive:FILE[:REF] ('-' is stdin) or docker-archive:FILE.
    #[arg(value_name = "SOURCE")]
    pub source: String,
    /// Where: docker://HOST/REPO[:TAG] (the docker:// may be left out).
    #[arg(value_name = "DEST")]
    pub dest: String,
    /// Also write the manifest digest to this file.
    #[arg(long, value_name = "FILE")]
    pub digestfile: Option<PathBuf>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error("source {0}: {1}")]
    Source(String, Box<SourceError>),
    #[error(transparent)]
    Push(#[from] PushPullError),
    #[error(transparent)]
    Registry(#[from] registry::RegistryError),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Io(#[from] slipway_common::fsutil::IoError),
}

pub fn run(args: Args) -> Result<(), Error> {
    let dest = match args.dest.strip_prefix("docker://") {
        Some(d) => Reference::parse(d)?,
        None if args.dest.contains(':')
            && ImageRef::parse(&args.dest).is_ok_and(|r| !matches!(r, ImageRef::Store(_))) =>
        {
            return Err(Error::Invalid(format!(
                "{}: image-push writes to a registry (docker://HOST/REPO[:TAG])",
                args.dest
            )))
        }
        None => Reference::parse(&args.dest)?,
    };
    let tag = match (dest.tag(), dest.digest()) {
        (Some(t), _) => t.to_string(),
        (None, Some(d)) => d.to_string(),
        (None, None) => "latest".to_string(),
    };
    let src = ImageRef::parse(&args.source)?;
    if matches!(src, ImageRef::Registry(_)) {
        return Err(Error::Invalid(
            "registry to registry copies are not supported yet: pull first".into(),
        ));
    }
    let platform = args.registry.platform();
    let source = source::open(
        &src,
        &args.store.path(),
        &platform,
        Settings::new(Compression::Gzip),
    )
    .map_err(|e| Error::Source(args.source.clone(), Box::new(e)))?;
    if let Some(d) = dest.digest() {
        if *d != source.image.digest() {
            return Err(Error::Invalid(format!(
                "{}: the image's digest is {}",
                args.dest,
                source.image.digest()
            )));
        }
    }
    let reg = Registry::for_reference(&dest, args.registry.insecure(dest.domain()))?;
    let mut progress = args.registry.progress("image-push");
    let digest = registry::push_image(
        &reg,
        &source.layout,
        &source.image,
        dest.path(),
        &tag,
        &mut progress,
    )?;
    if let Some(f) = &args.digestfile {
        slipway_common::fsutil::write_atomic(f, digest.to_string().as_bytes())?;
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{digest}")
        .and_then(|_| out.flush())
        .map_err(|e| Error::Invalid(format!("stdout: {e}")))?;
    Ok(())
}
