//! image-pull: an image from a registry into the store.

use clap::Parser;
use slipway_common::archive;
use slipway_common::cli::StoreArgs;
use slipway_common::fsutil::IoContext;
use slipway_common::layout::Layout;
use slipway_common::reference::{ImageRef, PathOrStdio, Reference, ReferenceError};
use slipway_common::registries::Conf;
use slipway_common::registry::{
    self, Access, BlobSources, Job, PushPullError, Registry, RegistryArgs, Transfer,
};
use slipway_common::store::{Store, StoreError};
use std::io::Write;
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  image-pull docker://127.0.0.1:5000/tools/busybox:1
  image-pull localhost:5000/app@sha256:... --tag app:pinned
  image-pull --output oci:./layout:app 127.0.0.1:5000/app:1
  image-pull -q --output oci-archive:- 127.0.0.1:5000/app:1 > app.tar";

/// Pull an image from a registry (OCI distribution API) into the store, or
/// into an OCI layout or archive.
///
/// The manifest is fetched for the tag or digest (from an index, the
/// platform asked for, default the host's); every blob is verified against
/// its digest before it is kept, and blobs the store has are not fetched.
/// Blobs are fetched several at once and resumed with a Range request
/// after a dropped connection. The image is tagged with its own name (and
/// --tag names). Prints the manifest digest.
#[derive(Parser, Debug)]
#[command(name = "image-pull", version, after_help = EXAMPLES)]
pub struct Args {
    /// The image: docker://HOST/REPO[:TAG|@DIGEST] (the docker:// may be
    /// left out). A short name (busybox, team/app) is looked for as
    /// containers-registries.conf(5) says: its alias, else on each of
    /// unqualified-search-registries in turn, else on Docker Hub; and a
    /// registry's images come from its [[registry]] mirrors, then its
    /// location, insecure where it says so.
    #[arg(value_name = "SOURCE")]
    pub source: String,
    /// Also tag the image in the store under this name (repeatable).
    #[arg(short = 't', long = "tag", value_name = "NAME[:TAG]")]
    pub tags: Vec<String>,
    /// Write the image to an OCI layout (oci:DIR[:REF]) or an OCI archive
    /// (oci-archive:FILE[:REF], '-' for stdout) instead of the store.
    #[arg(short, long, value_name = "DEST", conflicts_with = "tags")]
    pub output: Option<String>,
    /// Keep the whole index of a multi-platform image, every platform's
    /// image in it (as `ctr pull --all-platforms`, `skopeo copy --all`);
    /// the layers of the host's platform are unpacked as they arrive.
    #[arg(long, conflicts_with = "platform")]
    pub all_platforms: bool,
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
    #[error(transparent)]
    Archive(#[from] slipway_common::archive::ArchiveError),
    #[error(transparent)]
    Io(#[from] slipway_common::fsutil::IoError),
    #[error("{0}")]
    Invalid(String),
}

/// Where the pulled image goes.
enum Dest {
    Store,
    Oci {
        dir: PathBuf,
        name: Option<String>,
    },
    Archive {
        file: PathOrStdio,
        name: Option<String>,
    },
}

fn parse_output(s: &str) -> Result<Dest, Error> {
    match ImageRef::parse(s)? {
        ImageRef::Oci { dir, name } => Ok(Dest::Oci { dir, name }),
        ImageRef::OciArchive { file, name } => Ok(Dest::Archive { file, name }),
        _ => Err(Error::Invalid(format!(
            "--output {s:?}: takes oci:DIR[:REF] or oci-archive:FILE[:REF] (the store is the default)"
        ))),
    }
}

pub fn run(args: Args) -> Result<(), Error> {
    let typed = args
        .source
        .strip_prefix("docker://")
        .unwrap_or(&args.source);
    // A short name is looked for where registries.conf says, a registry's
    // images fetched from its mirrors first.
    let conf = Conf::load().map_err(|e| Error::Invalid(e.to_string()))?;
    let candidates = conf
        .pull_candidates(typed)
        .map_err(|e| Error::Invalid(e.to_string()))?;
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
    let dest = match &args.output {
        Some(o) => parse_output(o)?,
        None => Dest::Store,
    };
    // The blobs land in the store, the layout asked for, or a staging
    // layout that becomes the archive.
    let mut _staging_dir = None;
    let (store, owned) = match &dest {
        Dest::Store => (Some(Store::open(&args.store.path())?), None),
        Dest::Oci { dir, .. } => (None, Some(Layout::create(dir)?)),
        Dest::Archive { .. } => {
            let tmp = tempfile::tempdir().ctx("create a temp dir in", &std::env::temp_dir())?;
            let l = Layout::create(tmp.path())?;
            _staging_dir = Some(tmp);
            (None, Some(l))
        }
    };
    let layout = match (&store, &owned) {
        (Some(s), _) => s.layout(),
        (None, Some(l)) => l,
        (None, None) => return Err(Error::Invalid("no destination".into())),
    };
    layout.read_index()?;
    let _session = layout.write_session()?;
    let platform = args.registry.platform();
    let progress = args.registry.progress("image-pull");
    let sources = BlobSources::load(Some(&args.store.path()));
    let transfer = Transfer {
        jobs: args.registry.jobs.into(),
        chunk_size: None,
    };
    // Into the store, each layer is unpacked as it arrives, as containerd
    // does, so the first container (or build step) on the image starts
    // without extracting it. Rootless layers must be unpacked inside the
    // user namespace that owns them: they wait for their first use.
    let store_root = args.store.path();
    let unpack_into = match &dest {
        Dest::Store if !slipway_common::userns::rootless() => Some(store_root.as_path()),
        _ => None,
    };
    // gc must not take the layers unpacked here before the image that
    // names them is tagged.
    let _layers_held = match unpack_into {
        Some(root) => {
            Some(slipway_common::layers::startup_lock(root).ctx("lock the layers in", root)?)
        }
        None => None,
    };
    let mut failures = Vec::new();
    let mut pulled = None;
    'each: for src in &candidates {
        let endpoints = match conf.endpoints(src) {
            Ok(e) => e,
            Err(e) => {
                failures.push((src.to_string(), Error::Invalid(e.to_string())));
                continue;
            }
        };
        for ep in endpoints {
            let at = &ep.reference;
            let tried = (|| -> Result<_, Error> {
                let mut options = args.registry.options(at.domain())?;
                options.insecure |= ep.insecure || conf.insecure_host(at.domain());
                let reg = Registry::connect(at.domain(), &options, Access::Pull)?;
                let reference = match (at.digest(), at.tag()) {
                    (Some(d), _) => d.to_string(),
                    (None, Some(t)) => t.to_string(),
                    (None, None) => "latest".into(),
                };
                let job = Job {
                    reg: &reg,
                    layout,
                    repo: at.path(),
                    sources: &sources,
                    transfer,
                    progress: &progress,
                    unpack_into,
                };
                match args.all_platforms {
                    true => Ok(registry::pull_all(&job, &reference)?),
                    false => Ok(registry::pull_image(&job, &reference, &platform)?),
                }
            })();
            match tried {
                Ok(desc) => {
                    pulled = Some((src.clone(), desc));
                    break 'each;
                }
                Err(e) => failures.push((at.to_string(), e)),
            }
        }
    }
    let Some((src, desc)) = pulled else {
        // One place tried: its error as it was; several: each one's.
        if failures.len() == 1 {
            return Err(failures.remove(0).1);
        }
        let all: Vec<String> = failures
            .iter()
            .map(|(at, e)| format!("{at}: {}", slipway_common::cli::one_line(&e.to_string())))
            .collect();
        return Err(Error::Invalid(format!(
            "{typed}: not pulled from any of the places registries.conf gives: {}",
            all.join("; ")
        )));
    };
    if src.digest().is_none() {
        names.insert(0, src.clone());
    }
    match &dest {
        Dest::Store => {
            if let Some(s) = &store {
                s.set_tags(&names, &desc)?;
            }
        }
        Dest::Oci { name, .. } => layout.add_manifest(&desc, name.as_deref())?,
        Dest::Archive { file, name } => {
            layout.add_manifest(&desc, name.as_deref())?;
            archive::write_output(file, |w| archive::write_layout_tar(layout, w))?;
            if matches!(file, PathOrStdio::Stdio) {
                // stdout holds the archive.
                return Ok(());
            }
        }
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", desc.digest())
        .and_then(|_| out.flush())
        .map_err(|e| Error::Invalid(format!("stdout: {e}")))?;
    Ok(())
}
