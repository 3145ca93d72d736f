//! image-assemble: a base image, layer tars and config edits in; an image
//! out, into the store, an OCI layout, or an archive.

pub mod edits;

use clap::Parser;
use edits::{CommandForm, Edits, Healthcheck};
use oci_spec::image::{
    Descriptor, DescriptorBuilder, ImageManifest, ImageManifestBuilder, MediaType,
};
use slipway_common::archive::ArchiveError;
use slipway_common::cli::StoreArgs;
use slipway_common::compress::{Compression, Settings};
use slipway_common::container::layers;
use slipway_common::digest::Digest;
use slipway_common::export::{self, Destination, ExportError};
use slipway_common::fsutil::{IoContext, IoError};
use slipway_common::image::{self, Image, ImageError, DOCKER_CONFIG, DOCKER_MANIFEST};
use slipway_common::layer::{self, LayerError};
use slipway_common::layout::{canonical_json, Layout, LayoutError};
use slipway_common::oci_spec;
use slipway_common::platform::Platform;
use slipway_common::reference::{ImageRef, PathOrStdio, Reference, ReferenceError};
use slipway_common::source::{self, SourceError};
use slipway_common::store::{Store, StoreError};
use slipway_common::time;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  # A base image from busybox-static, tagged into the store
  tar -C rootfs -c . | image-assemble --tag busybox:local --cmd sh -

  # Add a layer to it and write an OCI layout
  image-assemble --base busybox:local --env MODE=prod --output oci:out:v1 app.tar

  # Stream an archive to skopeo
  image-assemble --base busybox:local --output oci-archive:- app.tar.gz | \\
    skopeo copy oci-archive:/dev/stdin oci:elsewhere:app";

/// Assemble an OCI image from a base image, layer tars and config edits.
///
/// Layers are tar archives, uncompressed or compressed with gzip or zstd
/// (told apart by their bytes), given as files or '-' for stdin. They are
/// checked to be whole tar archives and stored compressed as --compression
/// says. Prints the manifest digest (with --json, its descriptor) on stdout.
/// With SOURCE_DATE_EPOCH set, the same inputs always give the same digest.
#[derive(Parser, Debug)]
#[command(name = "image-assemble", version, after_help = EXAMPLES)]
pub struct Args {
    /// Layer tars to add on top of the base, in order ('-' is stdin).
    #[arg(value_name = "LAYER")]
    pub layers: Vec<String>,

    /// The base image: NAME[:TAG|@DIGEST] in the store, oci:DIR[:REF],
    /// oci-archive:FILE[:REF], docker-archive:FILE[:NAME:TAG], or scratch.
    #[arg(long, value_name = "REF", default_value = "scratch")]
    pub base: String,

    /// Tag the image into the store under this name (repeatable). Without
    /// --tag or --output the image goes into the store untagged.
    #[arg(short = 't', long = "tag", value_name = "NAME[:TAG]")]
    pub tags: Vec<String>,

    /// Write the image here instead of (or, with --tag, as well as) the
    /// store: oci:DIR[:REF], oci-archive:FILE[:REF] or
    /// docker-archive:FILE[:NAME:TAG] ('-' as FILE is stdout).
    #[arg(short = 'o', long, value_name = "REF")]
    pub output: Option<String>,

    /// Compression of the new layers: gzip, zstd or none.
    #[arg(long, value_name = "ALGO", default_value = "gzip")]
    pub compression: Compression,

    /// Compression level (gzip 1-9, default 6; zstd 1-22, default 3).
    #[arg(long, value_name = "N")]
    pub compression_level: Option<i32>,

    /// Compression threads (default: one per core). The output does not
    /// depend on it.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// Manifest and config media types: oci, or docker (schema 2).
    #[arg(long, value_name = "FORMAT", default_value = "oci", value_parser = ["oci", "docker"])]
    pub format: String,

    /// The platform of an image on scratch, and the one chosen from a
    /// multi-platform base (default: the host's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<Platform>,

    /// Config edits as a JSON document (a file, or '-' for stdin); see
    /// image-assemble-edits(5). Flags apply after it.
    #[arg(long = "edits", value_name = "FILE")]
    pub edits_file: Option<String>,

    /// Set an environment variable (KEY=VALUE, repeatable).
    #[arg(short = 'e', long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,

    /// The default command: a JSON array (exec form) or a string (shell form).
    #[arg(long, value_name = "CMD", allow_hyphen_values = true)]
    pub cmd: Option<String>,

    /// The entrypoint: a JSON array (exec form) or a string (shell form).
    /// As in a Dockerfile, it drops an inherited CMD unless --cmd is given.
    #[arg(long, value_name = "CMD", allow_hyphen_values = true)]
    pub entrypoint: Option<String>,

    /// The working directory (relative to the previous one).
    #[arg(short = 'w', long, value_name = "DIR")]
    pub workdir: Option<String>,

    /// The user (NAME or UID, optionally :GROUP).
    #[arg(short = 'u', long, value_name = "USER")]
    pub user: Option<String>,

    /// Expose a port: PORT[/PROTO] or a range START-END[/PROTO] (repeatable).
    #[arg(long, value_name = "PORT")]
    pub expose: Vec<String>,

    /// Set a config label (KEY=VALUE, repeatable).
    #[arg(short = 'l', long, value_name = "KEY=VALUE")]
    pub label: Vec<String>,

    /// Declare a volume (repeatable).
    #[arg(long, value_name = "PATH")]
    pub volume: Vec<String>,

    /// The signal that stops the container (SIGTERM, 9, …).
    #[arg(long, value_name = "SIGNAL")]
    pub stopsignal: Option<String>,

    /// A HEALTHCHECK as the instruction writes it: NONE, or
    /// "[--interval=D] [--timeout=D] [--start-period=D] [--start-interval=D]
    /// [--retries=N] CMD command".
    #[arg(long, value_name = "CHECK", allow_hyphen_values = true)]
    pub healthcheck: Option<String>,

    /// The shell for shell-form commands, as a JSON array.
    #[arg(long, value_name = "JSON")]
    pub shell: Option<String>,

    /// Add an ONBUILD trigger (repeatable).
    #[arg(long, value_name = "INSTRUCTION", allow_hyphen_values = true)]
    pub onbuild: Vec<String>,

    /// Drop the base image's ONBUILD triggers (once a build has run them,
    /// as docker build does); --onbuild adds new ones after.
    #[arg(long)]
    pub clear_onbuild: bool,

    /// The image author.
    #[arg(long, value_name = "NAME")]
    pub author: Option<String>,

    /// Set a manifest annotation (KEY=VALUE, repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub annotation: Vec<String>,

    /// History text for the new layers, in order (repeatable). With no
    /// layers, the texts become metadata-only (empty_layer) entries in place
    /// of one entry per edit.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub history: Vec<String>,

    /// A LAYER with no entries (a step that changed nothing) is left out,
    /// its --history text kept as a metadata-only (empty_layer) entry, as
    /// BuildKit leaves out empty layers.
    #[arg(long)]
    pub skip_empty: bool,

    /// The edits add no history entries of their own: the --history texts
    /// already say what the step did (as WORKDIR's, which makes a layer
    /// and sets the working directory).
    #[arg(long)]
    pub no_edit_history: bool,

    /// Print the manifest descriptor as JSON instead of the digest.
    #[arg(long)]
    pub json: bool,

    /// Also write the manifest digest to this file.
    #[arg(long, value_name = "FILE")]
    pub digestfile: Option<PathBuf>,

    /// Add the layers of this image on top of the base, before the LAYER
    /// files: the same blobs (no recompression) with their diff IDs and
    /// history, as BuildKit rebases a COPY --link layer. Repeatable.
    #[arg(long = "layers-of", value_name = "REF")]
    pub layers_of: Vec<String>,

    /// Add the top layer of this image on top of the base, after any
    /// --layers-of: its blob as it is, its diff ID and the history entry
    /// that made it. How the build cache puts a step's layer, made on a
    /// parent that differs only in metadata, onto the new parent.
    #[arg(long = "top-layer-of", value_name = "REF")]
    pub top_layer_of: Option<String>,

    /// DIR holds the one LAYER given, unpacked as an overlayfs upper dir
    /// (what container-run --upper left and layer-diff --upper read): it
    /// is moved into the store as that layer's unpacked copy, so a
    /// container of the new image does not extract the layer again. Left
    /// where it is when it cannot be moved (another filesystem).
    #[arg(long, value_name = "DIR")]
    pub unpacked: Option<PathBuf>,

    /// No progress lines on stderr.
    #[arg(short = 'q', long)]
    pub quiet: bool,

    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error("base {0}: {1}")]
    Base(String, Box<SourceError>),
    #[error("layer {0}: {1}")]
    Layer(String, LayerError),
    #[error("edits: {0}")]
    Edit(String),
    #[error("{0}")]
    Invalid(String),
}

/// Where the assembled image goes besides the store.
type Output = Destination;

fn collect_edits(args: &Args) -> Result<Edits, Error> {
    let mut edits = match &args.edits_file {
        Some(f) => {
            let bytes = if f == "-" {
                let mut v = Vec::new();
                io::stdin()
                    .read_to_end(&mut v)
                    .ctx("read", std::path::Path::new("<stdin>"))?;
                v
            } else {
                std::fs::read(f).ctx("read", std::path::Path::new(f))?
            };
            serde_json::from_slice::<Edits>(&bytes).map_err(|e| Error::Edit(format!("{f}: {e}")))?
        }
        None => Edits::default(),
    };
    let kv = |list: &[String], what| -> Result<Vec<(String, String)>, Error> {
        list.iter()
            .map(|s| edits::split_kv(s, what).map_err(Error::Edit))
            .collect()
    };
    let flags = Edits {
        env: args.env.clone(),
        cmd: args.cmd.as_deref().map(CommandForm::parse_flag),
        entrypoint: args.entrypoint.as_deref().map(CommandForm::parse_flag),
        workdir: args.workdir.clone(),
        user: args.user.clone(),
        expose: args.expose.clone(),
        labels: kv(&args.label, "label")?.into_iter().collect(),
        volumes: args.volume.clone(),
        stopsignal: args.stopsignal.clone(),
        healthcheck: args
            .healthcheck
            .as_deref()
            .map(Healthcheck::parse_flag)
            .transpose()
            .map_err(Error::Edit)?,
        shell: args
            .shell
            .as_deref()
            .map(|s| {
                serde_json::from_str::<Vec<String>>(s).map_err(|_| {
                    Error::Edit(format!("--shell {s:?}: expected a JSON array of strings"))
                })
            })
            .transpose()?,
        onbuild: args.onbuild.clone(),
        clear_onbuild: args.clear_onbuild,
        author: args.author.clone(),
        annotations: kv(&args.annotation, "annotation")?.into_iter().collect(),
        history: args.history.clone(),
    };
    edits.merge(flags);
    edits.validate().map_err(Error::Edit)?;
    Ok(edits)
}

fn parse_output(s: &str) -> Result<Output, Error> {
    Ok(match ImageRef::parse(s)? {
        ImageRef::Oci { dir, name } => Output::Oci { dir, name },
        ImageRef::OciArchive { file, name } => Output::OciArchive { file, name },
        ImageRef::DockerArchive { file, name } => Output::DockerArchive { file, name },
        ImageRef::Store(_) | ImageRef::Id(_) => {
            return Err(Error::Invalid(format!(
                "--output {s:?}: use --tag for the store; --output takes oci:, oci-archive: or docker-archive:"
            )))
        }
        ImageRef::Registry(_) => {
            return Err(Error::Invalid(format!("--output {s:?}: pushing to a registry is image-push's job")))
        }
    })
}

fn descriptor(media: &str, digest: &Digest, size: u64) -> Descriptor {
    DescriptorBuilder::default()
        .media_type(MediaType::from(media))
        .digest(digest.to_oci())
        .size(size)
        .build()
        .expect("a descriptor with media type, digest and size is complete")
}

/// The layer media type for the chosen manifest format.
fn convert_layer_media(media: &str, docker: bool) -> Result<String, Error> {
    let kind = match media {
        "application/vnd.oci.image.layer.v1.tar"
        | "application/vnd.docker.image.rootfs.diff.tar" => Some(Compression::None),
        "application/vnd.oci.image.layer.v1.tar+gzip"
        | "application/vnd.docker.image.rootfs.diff.tar.gzip" => Some(Compression::Gzip),
        "application/vnd.oci.image.layer.v1.tar+zstd" => Some(Compression::Zstd),
        _ => None,
    };
    match (kind, docker) {
        (Some(k), false) => Ok(k.oci_layer_media_type().to_string()),
        (Some(k), true) => k
            .docker_layer_media_type()
            .map(str::to_string)
            .ok_or_else(|| {
                Error::Invalid(
                    "Docker schema 2 has no zstd layers: use --format oci or --compression gzip"
                        .into(),
                )
            }),
        // Foreign and other layer types are carried over as they are.
        (None, _) => Ok(media.to_string()),
    }
}

fn progress(quiet: bool, msg: impl FnOnce() -> String) {
    if !quiet {
        eprintln!("image-assemble: {}", msg());
    }
}

pub fn run(args: Args) -> Result<(), Error> {
    let edits = collect_edits(&args)?;
    let docker = args.format == "docker";
    let tags: Vec<Reference> = args
        .tags
        .iter()
        .map(|t| Reference::parse(t))
        .collect::<Result<_, _>>()?;
    if tags.iter().any(|t| t.digest().is_some()) {
        return Err(Error::Invalid(
            "--tag takes NAME[:TAG], not a digest".into(),
        ));
    }
    let output = args.output.as_deref().map(parse_output).transpose()?;
    let stdio_inputs = args.layers.iter().filter(|l| *l == "-").count()
        + usize::from(args.edits_file.as_deref() == Some("-"))
        + usize::from(matches!(
            ImageRef::parse(&args.base),
            Ok(ImageRef::OciArchive {
                file: PathOrStdio::Stdio,
                ..
            } | ImageRef::DockerArchive {
                file: PathOrStdio::Stdio,
                ..
            })
        ));
    if stdio_inputs > 1 {
        return Err(Error::Invalid("stdin ('-') can feed only one input".into()));
    }
    let stdout_archive = matches!(
        output,
        Some(
            Output::OciArchive {
                file: PathOrStdio::Stdio,
                ..
            } | Output::DockerArchive {
                file: PathOrStdio::Stdio,
                ..
            }
        )
    );
    if stdout_archive && args.json {
        return Err(Error::Invalid(
            "--json prints to stdout, which carries the archive: use --digestfile".into(),
        ));
    }
    let only_docker_archive =
        tags.is_empty() && matches!(output, Some(Output::DockerArchive { .. }));
    // A docker-archive holds layers uncompressed: compressing them only to
    // decompress them again would be wasted work.
    let kind = if only_docker_archive {
        Compression::None
    } else {
        args.compression
    };
    if docker && kind == Compression::Zstd {
        return Err(Error::Invalid(
            "Docker schema 2 has no zstd layers: use --format oci or --compression gzip".into(),
        ));
    }
    let mut settings = Settings::new(kind);
    if let Some(l) = args.compression_level {
        if !args.compression.level_range().contains(&l) {
            return Err(Error::Invalid(format!(
                "--compression-level {l}: {:?} takes {:?}",
                args.compression,
                args.compression.level_range()
            )));
        }
        if kind == args.compression {
            settings.level = l;
        }
    }
    if let Some(t) = args.threads {
        settings.threads = t.max(1);
    }
    let created = time::build_time().map_err(|e| Error::Invalid(e.to_string()))?;
    let platform = args.platform.clone().unwrap_or_else(Platform::host);
    let store_path = args.store.path();

    // Check every layer file opens before anything is written.
    let mut inputs: Vec<(String, Box<dyn Read>)> = Vec::new();
    for l in &args.layers {
        let r: Box<dyn Read> = if l == "-" {
            Box::new(io::stdin().lock())
        } else {
            Box::new(File::open(l).ctx("open layer", std::path::Path::new(l))?)
        };
        inputs.push((l.clone(), r));
    }

    let base = match args.base.as_str() {
        "scratch" => None,
        b => {
            let r = ImageRef::parse(b)?;
            Some(
                source::open(&r, &store_path, &platform, settings)
                    .map_err(|e| Error::Base(b.to_string(), Box::new(e)))?,
            )
        }
    };

    if let (Some(want), Some(b)) = (&args.platform, &base) {
        let field = |k: &str| {
            b.image
                .config
                .get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        };
        let variant = b.image.config.get("variant").and_then(|v| v.as_str());
        if !want.matches(&field("os"), &field("architecture"), variant) {
            return Err(Error::Invalid(format!(
                "--platform {want}: the base {} is {}/{}",
                args.base,
                field("os"),
                field("architecture")
            )));
        }
    }

    // The layout the image is assembled in: the store when it is tagged
    // there, else the output layout, else a staging layout for an archive.
    let staging;
    let store = if tags.is_empty() && output.is_some() {
        None
    } else {
        Some(Store::open(&store_path)?)
    };
    let primary: Layout = match (&store, &output) {
        (Some(s), _) => s.layout().clone(),
        (None, Some(Output::Oci { dir, .. })) => Layout::create(dir)?,
        (None, _) => {
            staging = tempfile::tempdir().ctx("create a temp dir in", &std::env::temp_dir())?;
            Layout::create(staging.path())?
        }
    };
    // A store or layout whose index cannot be read is refused before a
    // single blob goes into it.
    primary.read_index()?;
    let _session = primary.write_session()?;

    let mut config = match &base {
        Some(b) => b.image.config.clone(),
        None => {
            let mut m = serde_json::Map::new();
            m.insert("architecture".into(), platform.architecture.clone().into());
            m.insert("os".into(), platform.os.clone().into());
            if let Some(v) = &platform.variant {
                m.insert("variant".into(), v.clone().into());
            }
            m.insert(
                "rootfs".into(),
                serde_json::json!({"type": "layers", "diff_ids": []}),
            );
            m.insert("config".into(), serde_json::json!({}));
            m
        }
    };
    let mut layers: Vec<Descriptor> = Vec::new();
    if let Some(b) = &base {
        for l in b.image.manifest.layers() {
            let d = image::digest_of(l).map_err(ImageError::from)?;
            if b.layout.root() != primary.root() {
                primary.copy_blob_from(&b.layout, &d, Some(l.size()))?;
            } else if !primary.has_blob(&d) {
                return Err(LayoutError::MissingBlob {
                    digest: d,
                    root: primary.root().to_path_buf(),
                }
                .into());
            }
            let mut nl = l.clone();
            nl.set_media_type(MediaType::from(
                convert_layer_media(l.media_type().as_ref(), docker)?.as_str(),
            ));
            layers.push(nl);
        }
    }

    // --layers-of: other images' layers, rebased onto the base as they are.
    let mut rebased_ids: Vec<serde_json::Value> = Vec::new();
    let mut rebased_history: Vec<serde_json::Value> = Vec::new();
    let sources = args
        .layers_of
        .iter()
        .map(|r| (r, false))
        .chain(args.top_layer_of.iter().map(|r| (r, true)));
    for (r, top_only) in sources {
        let src = source::open(&ImageRef::parse(r)?, &store_path, &platform, settings)
            .map_err(|e| Error::Base(r.to_string(), Box::new(e)))?;
        let all = src.image.manifest.layers();
        let skip = if top_only {
            if all.is_empty() {
                return Err(Error::Invalid(format!(
                    "--top-layer-of {r}: it has no layers"
                )));
            }
            all.len() - 1
        } else {
            0
        };
        for l in &all[skip..] {
            let d = image::digest_of(l).map_err(ImageError::from)?;
            if src.layout.root() != primary.root() {
                primary.copy_blob_from(&src.layout, &d, Some(l.size()))?;
            }
            let mut nl = l.clone();
            nl.set_media_type(MediaType::from(
                convert_layer_media(l.media_type().as_ref(), docker)?.as_str(),
            ));
            layers.push(nl);
        }
        let c = &src.image.config;
        let ids = c
            .get("rootfs")
            .and_then(|r| r.get("diff_ids"))
            .and_then(|d| d.as_array())
            .cloned()
            .unwrap_or_default();
        rebased_ids.extend(ids.into_iter().skip(skip));
        // The history of its layers, not of its metadata.
        let made: Vec<serde_json::Value> = c
            .get("history")
            .and_then(|h| h.as_array())
            .into_iter()
            .flatten()
            .filter(|h| h.get("empty_layer") != Some(&serde_json::Value::Bool(true)))
            .cloned()
            .collect();
        let from = if top_only {
            made.len().saturating_sub(1)
        } else {
            0
        };
        rebased_history.extend(made.into_iter().skip(from));
    }

    if args.unpacked.is_some() && (inputs.len() != 1 || store.is_none()) {
        return Err(Error::Invalid(
            "--unpacked goes with exactly one layer, into the store".into(),
        ));
    }
    let mut new_blobs = Vec::new();
    // Per LAYER given: whether it went in (--skip-empty leaves some out).
    let mut kept = Vec::new();
    for (i, (name, input)) in inputs.into_iter().enumerate() {
        let w = primary.blob_writer()?;
        let (w, blob) =
            layer::ingest(input, w, settings).map_err(|e| Error::Layer(name.clone(), e))?;
        if args.skip_empty && blob.entries == 0 {
            // Dropped unfinished: the temp blob goes with it.
            drop(w);
            progress(args.quiet, || format!("layer {}: empty, left out", i + 1));
            kept.push(false);
            continue;
        }
        kept.push(true);
        w.finish(Some(&blob.digest))?;
        if store.is_some() {
            // What ls shows as the image's size, known now for free.
            let _ =
                slipway_common::sizes::record(primary.root(), &blob.digest, blob.uncompressed_size);
        }
        progress(args.quiet, || {
            format!(
                "layer {}: {} ({} -> {}, {})",
                i + 1,
                blob.diff_id,
                time::human_size(blob.uncompressed_size),
                time::human_size(blob.size),
                match kind {
                    Compression::None => "uncompressed",
                    Compression::Gzip => "gzip",
                    Compression::Zstd => "zstd",
                }
            )
        });
        let media = if docker {
            kind.docker_layer_media_type().expect("zstd refused above")
        } else {
            kind.oci_layer_media_type()
        };
        layers.push(descriptor(media, &blob.digest, blob.size));
        new_blobs.push((name, blob));
    }

    // The history: one entry per new layer, then the metadata edits.
    let said = edits.apply(&mut config).map_err(Error::Edit)?;
    if edits.history.len() > kept.len() && !kept.is_empty() {
        return Err(Error::Invalid(format!(
            "{} --history texts for {} layers",
            edits.history.len(),
            kept.len()
        )));
    }
    let stamp = time::format_rfc3339(created);
    let mut history: Vec<serde_json::Value> = Vec::new();
    for (i, &went_in) in kept.iter().enumerate() {
        let text = edits
            .history
            .get(i)
            .cloned()
            .unwrap_or_else(|| "image-assemble: add layer".to_string());
        history.push(if went_in {
            serde_json::json!({"created": stamp, "created_by": text})
        } else {
            serde_json::json!({"created": stamp, "created_by": text, "empty_layer": true})
        });
    }
    let metadata_lines = if kept.is_empty() && !edits.history.is_empty() {
        edits.history.clone()
    } else if args.no_edit_history {
        Vec::new()
    } else {
        said
    };
    for line in metadata_lines {
        history
            .push(serde_json::json!({"created": stamp, "created_by": line, "empty_layer": true}));
    }
    {
        let rootfs = config
            .entry("rootfs")
            .or_insert_with(|| serde_json::json!({"type": "layers", "diff_ids": []}));
        let ids = rootfs
            .get_mut("diff_ids")
            .and_then(|d| d.as_array_mut())
            .ok_or_else(|| Error::Invalid("the base config has no rootfs.diff_ids".into()))?;
        ids.extend(rebased_ids);
        ids.extend(
            new_blobs
                .iter()
                .map(|(_, b)| serde_json::json!(b.diff_id.to_string())),
        );
        if ids.len() != layers.len() {
            return Err(Error::Invalid(format!(
                "the base and --layers-of images have {} layers but {} diff_ids in their configs",
                layers.len() - new_blobs.len(),
                ids.len() - new_blobs.len()
            )));
        }
        let h = config
            .entry("history")
            .or_insert_with(|| serde_json::json!([]));
        if h.is_null() {
            *h = serde_json::json!([]);
        }
        let list = h
            .as_array_mut()
            .ok_or_else(|| Error::Invalid("the base config's history is not a list".into()))?;
        list.extend(rebased_history);
        list.extend(history);
    }
    config.insert("created".into(), stamp.clone().into());
    image::check_config(&config)
        .map_err(|e| Error::Invalid(format!("the resulting config is invalid: {e}")))?;

    let config_bytes = canonical_json(&config);
    let (cdigest, csize) = primary.write_blob(&config_bytes)?;
    let config_media = if docker {
        DOCKER_CONFIG
    } else {
        "application/vnd.oci.image.config.v1+json"
    };
    let manifest_media = if docker {
        DOCKER_MANIFEST
    } else {
        "application/vnd.oci.image.manifest.v1+json"
    };
    let mut mb = ImageManifestBuilder::default();
    mb = mb
        .schema_version(2u32)
        .media_type(MediaType::from(manifest_media))
        .config(descriptor(config_media, &cdigest, csize))
        .layers(layers);
    if !edits.annotations.is_empty() {
        mb = mb.annotations(
            edits
                .annotations
                .clone()
                .into_iter()
                .collect::<HashMap<_, _>>(),
        );
    }
    let manifest: ImageManifest = mb.build().map_err(|e| Error::Invalid(e.to_string()))?;
    let mbytes = canonical_json(&manifest);
    let (mdigest, msize) = primary.write_blob(&mbytes)?;
    let mdesc = descriptor(manifest_media, &mdigest, msize);
    let assembled = Image::load(&primary, &mdesc, &platform)?;

    if let Some(s) = &store {
        if tags.is_empty() && output.is_none() {
            s.set_tags(&[], &mdesc)?;
        } else if !tags.is_empty() {
            s.set_tags(&tags, &mdesc)?;
        }
        for t in &tags {
            progress(args.quiet, || format!("tagged {}", t.familiar()));
        }
    }
    if let Some(dest) = &output {
        export::export(&primary, &assembled, &mdesc, dest, &tags)?;
    }
    let new_diff_id = new_blobs.last().map(|(_, b)| b.diff_id.clone());
    if let (Some(dir), Some(diff_id)) = (&args.unpacked, &new_diff_id) {
        let clamp = std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|v| v.parse::<i64>().ok());
        match layers::adopt(primary.root(), diff_id, dir, clamp) {
            Ok(true) => progress(args.quiet, || {
                format!("kept {} as the layer's unpacked copy", dir.display())
            }),
            Ok(false) => {}
            Err(e) => eprintln!(
                "image-assemble: warning: {}: not kept as the layer's unpacked copy: {e}",
                dir.display()
            ),
        }
    }
    if let Some(f) = &args.digestfile {
        slipway_common::fsutil::write_atomic(f, mdigest.to_string().as_bytes())?;
    }
    if !stdout_archive {
        let mut out = io::stdout().lock();
        let line = if args.json {
            String::from_utf8(canonical_json(&mdesc)).expect("JSON is UTF-8")
        } else {
            mdigest.to_string()
        };
        writeln!(out, "{line}")
            .and_then(|_| out.flush())
            .ctx("write", std::path::Path::new("<stdout>"))?;
    }
    Ok(())
}
