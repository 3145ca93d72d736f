//! image-assemble: a base image, layer tars and config edits in; an image
//! out, into the store, an OCI layout, or an archive.

mod assemble;
pub mod edits;

use clap::Parser;
use edits::{CommandForm, Edits, Healthcheck};
use oci_spec::image::{
    Descriptor, DescriptorBuilder, ImageManifest, ImageManifestBuilder, MediaType,
};
use slipway_common::archive::ArchiveError;
use slipway_common::cli::StoreArgs;
use slipway_common::compress::{Compression, Settings};
use slipway_common::digest::Digest;
use slipway_common::export::{self, Destination, ExportError};
use slipway_common::fsutil::{IoContext, IoError};
use slipway_common::image::{self, Image, ImageError, DOCKER_CONFIG, DOCKER_MANIFEST};
use slipway_common::layer::{self, LayerError};
use slipway_common::layers;
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

    /// Unpack each LAYER into the store's unpacked layers as it is stored
    /// (as image-pull does), so a container of the new image stacks it
    /// instead of extracting it: what image-build asks for a COPY, whose
    /// files are then written once. As root; rootless, a layer is
    /// unpacked inside the user namespace that owns it, at first use.
    #[arg(long, conflicts_with = "unpacked")]
    pub unpack: bool,

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
    Layers(#[from] slipway_common::layers::LayersError),
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
    assemble::run(&args)
}
