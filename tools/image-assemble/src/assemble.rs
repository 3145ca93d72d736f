//! One assembly, step by step: the checks that come before any write, the
//! base and the images whose layers are rebased, the new layers, the
//! config with its history, the manifest, and where the result goes.

use super::*;
use serde_json::{json, Map, Value};
use slipway_common::image::ImageConfig;
use slipway_common::layer::LayerBlob;
use slipway_common::source::Source;

/// The LAYER files given: each with the name it was given by.
type Inputs = Vec<(String, Box<dyn Read>)>;

pub fn run(args: &Args) -> Result<(), Error> {
    let edits = collect_edits(args)?;
    let docker = args.format == "docker";
    let tags = tags(args)?;
    let (output, stdout_archive) = output(args)?;
    let (kind, settings) = compression(args, docker, &tags, &output)?;
    let created = time::build_time().map_err(|e| Error::Invalid(e.to_string()))?;
    let platform = args.platform.clone().unwrap_or_else(Platform::host);
    let store_path = args.store.path();
    let inputs = open_inputs(args)?;
    let base = open_base(args, &store_path, &platform, settings)?;

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
        None => scratch_config(&platform),
    };
    let mut layers = base_layers(base.as_ref(), &primary, docker)?;
    let rebased = rebase(
        args,
        &store_path,
        &platform,
        settings,
        &primary,
        docker,
        &mut layers,
    )?;
    if args.unpacked.is_some() && (inputs.len() != 1 || store.is_none()) {
        return Err(Error::Invalid(
            "--unpacked goes with exactly one layer, into the store".into(),
        ));
    }
    let into_store = store.is_some();
    let Ingested {
        blobs: new_blobs,
        kept,
    } = ingest(args, inputs, &primary, settings, into_store)?;
    for (_, blob) in &new_blobs {
        let media = if docker {
            kind.docker_layer_media_type().expect("zstd refused above")
        } else {
            kind.oci_layer_media_type()
        };
        layers.push(descriptor(media, &blob.digest, blob.size));
    }

    let said = edits.apply(&mut config).map_err(Error::Edit)?;
    let stamp = time::format_rfc3339(created);
    let history = history(args, &edits, &kept, said, &stamp)?;
    extend_config(&mut config, rebased, &new_blobs, layers.len(), history)?;
    config.insert("created".into(), stamp.into());
    image::check_config(&config)
        .map_err(|e| Error::Invalid(format!("the resulting config is invalid: {e}")))?;
    let (mdigest, mdesc) = write_manifest(&primary, &config, layers, &edits, docker)?;
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
        export::export(&primary, export::Exported::Image(&assembled), dest, &tags)?;
    }
    if let (Some(dir), Some((_, blob))) = (&args.unpacked, new_blobs.last()) {
        adopt_unpacked(args, &primary, &blob.diff_id, dir);
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

fn tags(args: &Args) -> Result<Vec<Reference>, Error> {
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
    Ok(tags)
}

/// --output, and whether it is an archive on stdout; stdin feeds one
/// input at most.
fn output(args: &Args) -> Result<(Option<Output>, bool), Error> {
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
    Ok((output, stdout_archive))
}

/// How new layers are compressed.
fn compression(
    args: &Args,
    docker: bool,
    tags: &[Reference],
    output: &Option<Output>,
) -> Result<(Compression, Settings), Error> {
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
        args.compression.check_level(l).map_err(Error::Invalid)?;
        if kind == args.compression {
            settings.level = l;
        }
    }
    if let Some(t) = args.threads {
        settings.threads = t.max(1);
    }
    Ok((kind, settings))
}

/// Every layer file, opened before anything is written.
fn open_inputs(args: &Args) -> Result<Inputs, Error> {
    let mut inputs: Inputs = Vec::new();
    for l in &args.layers {
        let r: Box<dyn Read> = if l == "-" {
            Box::new(io::stdin().lock())
        } else {
            Box::new(File::open(l).ctx("open layer", std::path::Path::new(l))?)
        };
        inputs.push((l.clone(), r));
    }
    Ok(inputs)
}

/// The base (none for scratch), of the platform --platform asks for.
fn open_base(
    args: &Args,
    store_path: &std::path::Path,
    platform: &Platform,
    settings: Settings,
) -> Result<Option<Source>, Error> {
    let b = match args.base.as_str() {
        "scratch" => return Ok(None),
        b => b,
    };
    let r = ImageRef::parse(b)?;
    let base = source::open(&r, store_path, platform, settings)
        .map_err(|e| Error::Base(b.to_string(), Box::new(e)))?;
    if let Some(want) = &args.platform {
        let view = ImageConfig::of(&base.image.config)
            .map_err(|e| Error::Invalid(format!("the config of {}: {e}", args.base)))?;
        let (os, arch) = (
            view.os.unwrap_or_default(),
            view.architecture.unwrap_or_default(),
        );
        if !want.matches(&os, &arch, view.variant.as_deref()) {
            return Err(Error::Invalid(format!(
                "--platform {want}: the base {} is {os}/{arch}",
                args.base,
            )));
        }
    }
    Ok(Some(base))
}

fn scratch_config(platform: &Platform) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("architecture".into(), platform.architecture.clone().into());
    m.insert("os".into(), platform.os.clone().into());
    if let Some(v) = &platform.variant {
        m.insert("variant".into(), v.clone().into());
    }
    m.insert("rootfs".into(), json!({"type": "layers", "diff_ids": []}));
    m.insert("config".into(), json!({}));
    m
}

/// A layer of another layout's image, its blob copied into `primary`
/// and its media type made the format's.
fn carry_layer(
    l: &Descriptor,
    from: &Layout,
    primary: &Layout,
    docker: bool,
) -> Result<Descriptor, Error> {
    let d = image::digest_of(l).map_err(ImageError::from)?;
    if from.root() != primary.root() {
        primary.copy_blob_from(from, &d, Some(l.size()))?;
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
    Ok(nl)
}

fn base_layers(
    base: Option<&Source>,
    primary: &Layout,
    docker: bool,
) -> Result<Vec<Descriptor>, Error> {
    let Some(b) = base else {
        return Ok(Vec::new());
    };
    b.image
        .manifest
        .layers()
        .iter()
        .map(|l| carry_layer(l, &b.layout, primary, docker))
        .collect()
}

/// What --layers-of and --top-layer-of bring beside their layers.
struct Rebased {
    diff_ids: Vec<Value>,
    history: Vec<Value>,
}

/// --layers-of: other images' layers, rebased onto the base as they are.
fn rebase(
    args: &Args,
    store_path: &std::path::Path,
    platform: &Platform,
    settings: Settings,
    primary: &Layout,
    docker: bool,
    layers: &mut Vec<Descriptor>,
) -> Result<Rebased, Error> {
    let mut out = Rebased {
        diff_ids: Vec::new(),
        history: Vec::new(),
    };
    let sources = args
        .layers_of
        .iter()
        .map(|r| (r, false))
        .chain(args.top_layer_of.iter().map(|r| (r, true)));
    for (r, top_only) in sources {
        let src = source::open(&ImageRef::parse(r)?, store_path, platform, settings)
            .map_err(|e| Error::Base(r.to_string(), Box::new(e)))?;
        let all = src.image.manifest.layers();
        let skip = match (top_only, all.len()) {
            (false, _) => 0,
            (true, 0) => {
                return Err(Error::Invalid(format!(
                    "--top-layer-of {r}: it has no layers"
                )))
            }
            (true, n) => n - 1,
        };
        for l in &all[skip..] {
            layers.push(carry_layer(l, &src.layout, primary, docker)?);
        }
        let view = ImageConfig::of(&src.image.config)
            .map_err(|e| Error::Invalid(format!("the config of {r}: {e}")))?;
        let ids = view.rootfs.map(|r| r.diff_ids).unwrap_or_default();
        out.diff_ids
            .extend(ids.into_iter().skip(skip).map(Value::String));
        // The history of its layers, not of its metadata.
        let made: Vec<Value> = view
            .history
            .unwrap_or_default()
            .into_iter()
            .filter(|h| !h.is_empty_layer())
            .map(|h| serde_json::to_value(h).expect("a map of JSON values"))
            .collect();
        let from = if top_only {
            made.len().saturating_sub(1)
        } else {
            0
        };
        out.history.extend(made.into_iter().skip(from));
    }
    Ok(out)
}

/// The LAYERs that went in as blobs, and per LAYER given whether it went
/// in (--skip-empty leaves the empty ones out).
struct Ingested {
    blobs: Vec<(String, LayerBlob)>,
    kept: Vec<bool>,
}

/// Each LAYER given, compressed into a blob.
fn ingest(
    args: &Args,
    inputs: Inputs,
    primary: &Layout,
    settings: Settings,
    into_store: bool,
) -> Result<Ingested, Error> {
    let mut new_blobs = Vec::new();
    let mut kept = Vec::new();
    let unpack = args.unpack && into_store && !slipway_common::userns::rootless();
    for (i, (name, input)) in inputs.into_iter().enumerate() {
        let feed = match unpack {
            true => Some(layers::Feed::start_unnamed(primary.root(), &name, false)?),
            false => None,
        };
        let w = layers::Tee {
            inner: primary.blob_writer()?,
            feed,
        };
        let (w, blob) =
            layer::ingest(input, w, settings).map_err(|e| Error::Layer(name.clone(), e))?;
        let layers::Tee { inner: w, feed } = w;
        if args.skip_empty && blob.entries == 0 {
            // Dropped unfinished: the temp blob and the unpacking go with it.
            drop(w);
            progress(args.quiet, || format!("layer {}: empty, left out", i + 1));
            kept.push(false);
            continue;
        }
        kept.push(true);
        w.finish(Some(&blob.digest))?;
        if let Some(f) = feed {
            match f.finish() {
                Ok(id) if id == blob.diff_id => {}
                // The blob is kept; the layer is unpacked again at first use.
                Ok(id) => eprintln!(
                    "image-assemble: warning: {name}: unpacked as {id}, not {}",
                    blob.diff_id
                ),
                Err(e) => eprintln!("image-assemble: warning: {name}: not unpacked: {e}"),
            }
        }
        if into_store {
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
                match settings.kind {
                    Compression::None => "uncompressed",
                    Compression::Gzip => "gzip",
                    Compression::Zstd => "zstd",
                }
            )
        });
        new_blobs.push((name, blob));
    }
    Ok(Ingested {
        blobs: new_blobs,
        kept,
    })
}

/// The history this assembly adds: one entry per LAYER given, then the
/// metadata edits.
fn history(
    args: &Args,
    edits: &Edits,
    kept: &[bool],
    said: Vec<String>,
    stamp: &str,
) -> Result<Vec<Value>, Error> {
    if edits.history.len() > kept.len() && !kept.is_empty() {
        return Err(Error::Invalid(format!(
            "{} --history texts for {} layers",
            edits.history.len(),
            kept.len()
        )));
    }
    let mut history = Vec::new();
    for (i, &went_in) in kept.iter().enumerate() {
        let text = edits
            .history
            .get(i)
            .cloned()
            .unwrap_or_else(|| "image-assemble: add layer".to_string());
        history.push(if went_in {
            json!({"created": stamp, "created_by": text})
        } else {
            json!({"created": stamp, "created_by": text, "empty_layer": true})
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
        history.push(json!({"created": stamp, "created_by": line, "empty_layer": true}));
    }
    Ok(history)
}

/// The config's diff_ids and history, extended by the rebased images'
/// and the new layers'; as many diff_ids as the manifest has layers.
fn extend_config(
    config: &mut Map<String, Value>,
    rebased: Rebased,
    new_blobs: &[(String, LayerBlob)],
    layer_count: usize,
    history: Vec<Value>,
) -> Result<(), Error> {
    let rootfs = config
        .entry("rootfs")
        .or_insert_with(|| json!({"type": "layers", "diff_ids": []}));
    let ids = rootfs
        .get_mut("diff_ids")
        .and_then(|d| d.as_array_mut())
        .ok_or_else(|| Error::Invalid("the base config has no rootfs.diff_ids".into()))?;
    ids.extend(rebased.diff_ids);
    ids.extend(new_blobs.iter().map(|(_, b)| json!(b.diff_id.to_string())));
    if ids.len() != layer_count {
        return Err(Error::Invalid(format!(
            "the base and --layers-of images have {} layers but {} diff_ids in their configs",
            layer_count - new_blobs.len(),
            ids.len() - new_blobs.len()
        )));
    }
    let h = config.entry("history").or_insert_with(|| json!([]));
    if h.is_null() {
        *h = json!([]);
    }
    let list = h
        .as_array_mut()
        .ok_or_else(|| Error::Invalid("the base config's history is not a list".into()))?;
    list.extend(rebased.history);
    list.extend(history);
    Ok(())
}

/// The config and the manifest as blobs; the manifest's digest and
/// descriptor.
fn write_manifest(
    primary: &Layout,
    config: &Map<String, Value>,
    layers: Vec<Descriptor>,
    edits: &Edits,
    docker: bool,
) -> Result<(Digest, Descriptor), Error> {
    let config_bytes = canonical_json(config);
    let (cdigest, csize) = primary.write_blob(&config_bytes)?;
    let (config_media, manifest_media) = if docker {
        (DOCKER_CONFIG, DOCKER_MANIFEST)
    } else {
        (
            "application/vnd.oci.image.config.v1+json",
            "application/vnd.oci.image.manifest.v1+json",
        )
    };
    let mut mb = ImageManifestBuilder::default()
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
    Ok((mdigest, mdesc))
}

/// --unpacked: the caller's directory becomes the layer's unpacked copy,
/// or stays the caller's with a warning.
fn adopt_unpacked(args: &Args, primary: &Layout, diff_id: &Digest, dir: &std::path::Path) {
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
