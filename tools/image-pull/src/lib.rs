//! image-pull: an image from a registry into the store.

use clap::Parser;
use slipway_common::cli::{RegistryArgs, StoreArgs};
use slipway_common::reference::{Reference, ReferenceError};
use slipway_common::registry::{self, PushPullError, Registry};
use slipway_common::store::{Store, StoreError};
use std::io::Write;

const EXAMPLES: &str = "\
Examples:
  image-pull docker://127.0.0.1:5000/tools/busybox:1
  image-pull localhost:5000/app@sha256:... --tag app:pinned";

/// Pull an image from a registry (OCI distribution API) into the store.
///
/// The manifest is fetched for the tag or digest (from an index, the
/// platform asked for, default the host's); every blob is verified against
/// its digest before it is kept, and blobs the store has are not fetched.
/// The image is tagged with its own name (and --tag names). Prints the
/// manifest digest. This version speaks plain HTTP to loopback registries
/// and to hosts given with --insecure-registry, without authentication.
#[derive(Parser, Debug)]
#[command(name = "image-pull", version, after_help = EXAMPLES)]
pub struct Args {
    /// The image: docker://HOST/REPO[:TAG|@DIGEST] (the docker:// may be left out).
    #[arg(value_name = "SOURCE")]
    pub source: String,
    /// Also tag the image in the store under this name (repeatable).
    #[arg(short = 't', long = "tag", value_name = "NAME[:TAG]")]
    pub tags: Vec<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Pull(#[from] PushPullError),
    #[error(transparent)]
    Registry(#[from] registry::RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Layout(#[from] slipway_common::layout::LayoutError),
    #[error("{0}")]
    Invalid(String),
}

pub fn run(args: Args) -> Result<(), Error> {
    let src = Reference::parse(
        args.source
            .strip_prefix("docker://")
            .unwrap_or(&args.source),
    )?;
    let mut names: Vec<Reference> = args
        .tags
        .iter()
        .map(|t| Reference::parse(t))
        .collect::<Result<_, _>>()?;
    if names.iter().any(|n| n.digest().is_some()) {
        return Err(Error::Invalid(
            "--tag takes NAME[:TAG], not a digest".into(),
        ));
    }
    let reference = match (src.digest(), src.tag()) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.to_string(),
        (None, None) => "latest".into(),
    };
    if src.digest().is_none() {
        names.insert(0, src.clone());
    }
    let reg = Registry::for_reference(&src, args.registry.insecure(src.domain()))?;
    let store = Store::open(&args.store.path())?;
    store.layout().read_index()?;
    let _session = store.layout().write_session()?;
    let platform = args.registry.platform();
    let mut progress = args.registry.progress("image-pull");
    let desc = registry::pull_image(
        &reg,
        store.layout(),
        src.path(),
        &reference,
        &platform,
        &mut progress,
    )?;
    store.set_tags(&names, &desc)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", desc.digest())
        .and_then(|_| out.flush())
        .map_err(|e| Error::Invalid(format!("stdout: {e}")))?;
    Ok(())
}
