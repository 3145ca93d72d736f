//! image-push: an image to a registry, blobs first, the manifest last.

use clap::Parser;
use slipway_common::cli::StoreArgs;
use slipway_common::compress::{Compression, Settings};
use slipway_common::convert::{self, ConvertError};
use slipway_common::image::{digest_of, Image};
use slipway_common::layout::{Layout, LayoutError};
use slipway_common::reference::{ImageRef, Reference, ReferenceError};
use slipway_common::registry::{
    self, Access, BlobSources, Job, PushPullError, Registry, RegistryArgs, Transfer,
};
use slipway_common::source::{self, SourceError};
use std::io::Write;
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  image-push busybox:local docker://127.0.0.1:5000/tools/busybox:1
  image-push oci:out:app localhost:5000/app:v2 localhost:5000/app:latest --digestfile app.digest
  image-push --creds ci:$TOKEN --chunk-size 4m app:1 ghcr.io/acme/app:1";

/// Push an image to a registry (OCI distribution API).
///
/// Blobs the registry lacks (checked with HEAD first) are mounted from
/// another repository of the same registry where the store has seen them,
/// uploaded otherwise: in one streamed PUT, or in PATCH chunks with
/// --chunk-size, resumed from where the registry stands after a dropped
/// connection. Each is verified against its digest as it streams and
/// confirmed present; the manifest goes up last, byte for byte, so the
/// digest never changes on the way. Prints the manifest digest.
///
/// Layers kept uncompressed locally are compressed as they leave
/// (--compression, gzip by default), once: what each became is
/// remembered in the store, and compression is deterministic, so the
/// pushed digest is the same every time. Layers already compressed go as
/// they are.
#[derive(Parser, Debug)]
#[command(name = "image-push", version, after_help = EXAMPLES)]
pub struct Args {
    /// The image: NAME[:TAG|@DIGEST] in the store, oci:DIR[:REF],
    /// oci-archive:FILE[:REF] ('-' is stdin) or docker-archive:FILE.
    #[arg(value_name = "SOURCE")]
    pub source: String,
    /// Where: docker://HOST/REPO[:TAG|@DIGEST] (the docker:// may be left
    /// out); several destinations get the same image, blobs mounted
    /// between repositories of one registry.
    #[arg(value_name = "DEST", required = true)]
    pub dests: Vec<String>,
    /// Upload each blob in PATCH requests of this size (as registries with
    /// a request limit need, such as GHCR's 4 MiB) instead of one PUT.
    #[arg(long, value_name = "SIZE", value_parser = parse_chunk)]
    pub chunk_size: Option<u64>,
    /// Also write the manifest digest to this file.
    #[arg(long, value_name = "FILE")]
    pub digestfile: Option<PathBuf>,
    /// What uncompressed layers become on the way: gzip, zstd or none
    /// (pushed as tars). Compressed layers are pushed as they are.
    #[arg(long, value_name = "ALGO", default_value = "gzip")]
    pub compression: Compression,
    /// Compression level (gzip 1-9, default 6; zstd 1-22, default 3).
    #[arg(long, value_name = "N")]
    pub compression_level: Option<i32>,
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
    #[error(transparent)]
    Convert(#[from] ConvertError),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(transparent)]
    Index(#[from] slipway_common::index::IndexError),
}

/// The image as it leaves: uncompressed layers compressed. In the store
/// (or an archive's temporary copy) the new blobs go beside the old ones,
/// the store remembering them for the next push; an `oci:DIR` the user
/// gave is not written to: the new blobs go to a staging layout, beside
/// links to (or copies of) the blobs that go up as they are.
fn outgoing(
    from: &Layout,
    to: &Layout,
    img: &Image,
    s: Settings,
    present: convert::Present,
) -> Result<Image, Error> {
    let needs = img.manifest.layers().iter().any(convert::is_uncompressed);
    if s.kind == Compression::None || !needs {
        return Ok(img.clone());
    }
    if from.root() == to.root() {
        let _session = from.write_session()?;
        return Ok(convert::compress_layers_into(from, from, img, s, present)?);
    }
    // What goes up as it is: the config and the compressed layers. The
    // uncompressed ones are read from the source as they are compressed.
    let kept = img
        .manifest
        .layers()
        .iter()
        .filter(|l| !convert::is_uncompressed(l))
        .chain([img.manifest.config()]);
    for d in kept {
        let digest = digest_of(d).map_err(|e| Error::Invalid(e.to_string()))?;
        let (from_path, to_path) = (from.blob_path(&digest), to.blob_path(&digest));
        if std::fs::hard_link(&from_path, &to_path).is_err() && !to.has_blob(&digest) {
            to.copy_blob_from(from, &digest, Some(d.size()))?;
        }
    }
    Ok(convert::compress_layers_into(from, to, img, s, present)?)
}

/// Where a manifest's (or an index's) blobs are once it is ready to go:
/// the staging layout when it was written there, else the source's.
fn blobs_of<'a>(
    manifest: &slipway_common::digest::Digest,
    source: &'a Layout,
    staging: &'a Option<(tempfile::TempDir, Layout)>,
) -> &'a Layout {
    match staging {
        Some((_, l)) if l.has_blob(manifest) => l,
        _ => source,
    }
}

fn parse_chunk(s: &str) -> Result<u64, String> {
    match slipway_common::time::parse_bytes(s)? {
        0 => Err("the chunk size must be more than 0".into()),
        n => Ok(n),
    }
}

/// A destination as a registry reference and the tag (or digest) to put
/// the manifest under.
fn destination(dest: &str) -> Result<(Reference, String), Error> {
    let r = match dest.strip_prefix("docker://") {
        Some(d) => Reference::parse(d)?,
        None if dest.contains(':')
            && ImageRef::parse(dest)
                .is_ok_and(|r| !matches!(r, ImageRef::Store(_) | ImageRef::Id(_))) =>
        {
            return Err(Error::Invalid(format!(
                "{dest}: image-push writes to a registry (docker://HOST/REPO[:TAG])"
            )))
        }
        None => Reference::parse(dest)?,
    };
    let tag = match (r.tag(), r.digest()) {
        (Some(t), _) => t.to_string(),
        (None, Some(d)) => d.to_string(),
        (None, None) => "latest".to_string(),
    };
    Ok((r, tag))
}

pub fn run(args: Args) -> Result<(), Error> {
    let dests: Vec<(Reference, String)> = args
        .dests
        .iter()
        .map(|d| destination(d))
        .collect::<Result<_, _>>()?;
    let src = ImageRef::parse(&args.source)?;
    if matches!(src, ImageRef::Registry(_)) {
        return Err(Error::Invalid(
            "registry to registry copies are not supported yet: pull first".into(),
        ));
    }
    let platform = args.registry.platform();
    let store = args.store.path();
    let settings =
        Settings::chosen(args.compression, args.compression_level).map_err(Error::Invalid)?;
    let source = source::open(&src, &store, &platform, Settings::new(Compression::Gzip))
        .map_err(|e| Error::Source(args.source.clone(), Box::new(e)))?;
    // Tags of one repository go up together, after its blobs.
    let mut targets: Vec<(Registry, String, Vec<String>)> = Vec::new();
    let mut options: Vec<(String, registry::Options)> = Vec::new();
    for (dest, _) in &dests {
        if targets
            .iter()
            .any(|(r, repo, _)| r.host() == dest.domain() && repo == dest.path())
        {
            continue;
        }
        let tags: Vec<String> = dests
            .iter()
            .filter(|(d, _)| d.domain() == dest.domain() && d.path() == dest.path())
            .map(|(_, t)| t.clone())
            .collect();
        // Options once per host: --creds USER asks for the password once.
        let opts = match options.iter().find(|(h, _)| h == dest.domain()) {
            Some((_, o)) => o.clone(),
            None => {
                let o = args.registry.options(dest.domain())?;
                options.push((dest.domain().to_string(), o.clone()));
                o
            }
        };
        let reg = Registry::connect(dest.domain(), &opts, Access::Push)?;
        targets.push((reg, dest.path().to_string(), tags));
    }
    // A layer whose compressed blob every destination holds already is
    // not compressed again, even when gc took it from the store.
    let present = |d: &slipway_common::digest::Digest| {
        targets
            .iter()
            .all(|(reg, repo, _)| matches!(reg.has_blob(repo, d), Ok(Some(_))))
    };
    // An index whose images are all here goes whole, as docker push sends
    // a multi-platform image; --platform picks one image of it, as skopeo
    // copy does without --all.
    let whole = match (&source.multi, &args.registry.platform) {
        (Some(m), None) => Some(m),
        _ => None,
    };
    // New blobs (compressed layers, the manifests naming them) go beside
    // the old ones, the store remembering them for the next push; an
    // `oci:DIR` the user gave is not written to: they go to a staging
    // layout, beside links to (or copies of) the blobs that go up as
    // they are.
    let images: Vec<&Image> = match whole {
        Some(m) => m.images.iter().collect(),
        None => vec![&source.image],
    };
    let compresses = settings.kind != Compression::None
        && images
            .iter()
            .any(|i| i.manifest.layers().iter().any(convert::is_uncompressed));
    let staging = match matches!(src, ImageRef::Oci { .. }) && compresses {
        true => {
            let dir =
                tempfile::tempdir().map_err(|e| Error::Invalid(format!("a temp dir: {e}")))?;
            let layout = Layout::create(dir.path())?;
            Some((dir, layout))
        }
        false => None,
    };
    let to = staging.as_ref().map_or(&source.layout, |(_, l)| l);
    let multi = match whole {
        Some(m) => Some(m.map_images(&source.layout, to, |img| {
            outgoing(&source.layout, to, img, settings, &present)
        })?),
        None => None,
    };
    let image = match &multi {
        Some(_) => None,
        None => Some(outgoing(
            &source.layout,
            to,
            &source.image,
            settings,
            &present,
        )?),
    };
    let out_digest = match (&multi, &image) {
        (Some(m), _) => m.digest(),
        (None, Some(i)) => i.digest(),
        (None, None) => unreachable!("one of them is made"),
    };
    for (dest, _) in &dests {
        if let Some(d) = dest.digest() {
            if *d != out_digest {
                return Err(Error::Invalid(format!(
                    "{dest}: the image's digest is {out_digest}"
                )));
            }
        }
    }
    let sources = BlobSources::load(Some(&store));
    let progress = args.registry.progress("image-push");
    let transfer = Transfer {
        jobs: args.registry.jobs.into(),
        chunk_size: args.chunk_size,
    };
    let mut digest = None;
    for (reg, repo, tags) in &targets {
        let job = |layout| Job {
            reg,
            layout,
            repo,
            sources: &sources,
            transfer,
            progress: &progress,
            unpack_into: None,
        };
        digest = Some(match (&multi, &image) {
            (Some(m), _) => {
                // The images' blobs may be in two layouts (the staged and
                // the source's): one job per image.
                for img in &m.images {
                    let j = job(blobs_of(&img.digest(), &source.layout, &staging));
                    registry::push_image(&j, img, &[img.digest().to_string()])?;
                }
                let j = job(blobs_of(&m.digest(), &source.layout, &staging));
                registry::put_index(&j, m, tags)?
            }
            (None, Some(img)) => {
                let j = job(blobs_of(&img.digest(), &source.layout, &staging));
                registry::push_image(&j, img, tags)?
            }
            (None, None) => unreachable!("one of them is made"),
        });
    }
    let Some(digest) = digest else {
        return Err(Error::Invalid("no destination given".into()));
    };
    if let Some(f) = &args.digestfile {
        slipway_common::fsutil::write_atomic(f, digest.to_string().as_bytes())?;
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{digest}")
        .and_then(|_| out.flush())
        .map_err(|e| Error::Invalid(format!("stdout: {e}")))?;
    Ok(())
}
