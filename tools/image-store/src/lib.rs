//! image-store: list, inspect, tag, remove, collect garbage in and measure
//! the local store.

mod glob;
mod history;
mod load;
mod manifest;
mod mount;
mod usage;

use clap::{Parser, Subcommand};
use serde_json::{json, Value};
use slipway_common::cli::StoreArgs;
use slipway_common::compress::{Compression, Settings};
use slipway_common::convert::{self, ConvertError};
use slipway_common::digest::Digest;
use slipway_common::export::{self, Destination, ExportError};
use slipway_common::fsutil::{IoContext, IoError};
use slipway_common::image::{self, Image, InspectRecord};
use slipway_common::index::{IndexError, MultiImage};
use slipway_common::layout::canonical_json;
use slipway_common::layout::LayoutError;
use slipway_common::platform::Platform;
use slipway_common::reference::{Reference, ReferenceError};
use slipway_common::store::{Removed, Store, StoreError};
use slipway_common::template::{table, Fields, Template};
use slipway_common::time;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{self, Write};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  image-store ls
  image-store ls --filter reference='busy*' --format '{{.Repository}}:{{.Tag}} {{.Size}}'
  image-store inspect busybox:local | jq '.[0].config.config.Cmd'
  image-store tag busybox:local registry.example/team/busybox:1
  image-store rm busybox:local && image-store gc
  image-store history busybox:local
  image-store save busybox:local docker-archive:- | image-store load
  skopeo inspect oci:$(image-store path):docker.io/library/busybox:local";

/// Manage the local image store (an OCI image layout).
#[derive(Parser, Debug)]
#[command(name = "image-store", version, after_help = EXAMPLES)]
pub struct Args {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List images, as `docker images` does.
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Show images' manifests and configs as a JSON array.
    Inspect {
        /// Images: NAME[:TAG], NAME@DIGEST, a digest or an image ID prefix.
        #[arg(required = true, value_name = "REF")]
        refs: Vec<String>,
        /// A line per image from a template instead of the JSON array:
        /// {{.Digest}}, {{.Id}}, {{.Names}} (comma-separated), {{json .}}.
        #[arg(short = 'f', long, value_name = "TEMPLATE")]
        format: Option<String>,
        /// Of a multi-platform image, the image for this platform
        /// (default: the host's).
        #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
        platform: Option<Platform>,
    },
    /// Give an image another name.
    Tag {
        /// The image: NAME[:TAG], NAME@DIGEST, a digest or an image ID prefix.
        source: String,
        /// The new name, NAME[:TAG].
        target: String,
    },
    /// Remove names (untag). Blobs stay until gc.
    #[command(alias = "rmi")]
    Rm {
        /// Remove every name of an image given by ID, even across repositories.
        #[arg(short, long)]
        force: bool,
        #[arg(required = true, value_name = "REF")]
        refs: Vec<String>,
    },
    /// Delete what no tag reaches: untagged images, unreferenced blobs,
    /// unpacked layers no kept image lists (those a running container or
    /// a mount stacks stay) and leftovers of interrupted writes. Safe
    /// while other tools write.
    Gc {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Also forget image-build's cache, so the images only it kept go
        /// too (as `docker builder prune -a`).
        #[arg(long)]
        build_cache: bool,
        /// Keep the states failed RUNs stopped in (the images the build's
        /// error names to debug it), which gc otherwise removes once their
        /// build is over.
        #[arg(long)]
        keep_failed: bool,
    },
    /// Disk usage: per image, its blobs, the part it shares with other
    /// images and the part only it uses (as `docker system df -v`); then
    /// every byte under the store by what holds it (image blobs, unpacked
    /// layers, containers, build cache, cache mounts, running builds,
    /// other), adding up to what du -sb counts (each inode once; what is
    /// mounted below the store is not counted).
    Du {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print the store's path.
    Path,
    /// Mount an image's filesystem read-only at DIR (as `buildah mount`):
    /// its layers, unpacked once into the store, stacked with overlayfs.
    /// Needs root.
    Mount {
        /// The image: NAME[:TAG], NAME@DIGEST, a digest or an image ID prefix.
        image: String,
        /// Where (created if missing).
        dir: PathBuf,
    },
    /// Write an image out of the store, as `docker save` and `podman save`
    /// do: into an OCI layout, an oci-archive or a docker-archive ('-' as
    /// FILE is stdout). The image is the same (same manifest, same digest)
    /// unless the store keeps its layers uncompressed: those are
    /// compressed as they leave, as --compression says, once (the store
    /// remembers the result, and compression is deterministic).
    Save {
        /// The image: NAME[:TAG], NAME@DIGEST, a digest or an image ID prefix.
        image: String,
        /// oci:DIR[:REF], oci-archive:FILE[:REF] or docker-archive:FILE[:NAME:TAG].
        dest: String,
        /// The names a docker-archive gives the image (repeatable; '' for
        /// none), instead of the names the store gives it.
        #[arg(long = "name", value_name = "NAME[:TAG]")]
        names: Vec<String>,
        /// What uncompressed layers become: gzip, zstd or none.
        #[arg(long, value_name = "ALGO", default_value = "gzip")]
        compression: Compression,
        /// Compression level (gzip 1-9, default 6; zstd 1-22, default 3).
        #[arg(long, value_name = "N")]
        compression_level: Option<i32>,
    },
    /// Unmount what `mount` mounted at DIR.
    Umount { dir: PathBuf },
    /// An image's history, newest step first, as `docker history`.
    History(history::HistoryArgs),
    /// Load the images of a docker-archive (`docker save`'s format) or an
    /// oci-archive into the store, named as the archive names them, as
    /// `docker load`.
    Load(load::LoadArgs),
    /// Multi-platform images: join images into an index, show one.
    #[command(subcommand)]
    Manifest(manifest::ManifestCommand),
}

#[derive(clap::Args, Debug)]
pub struct LsArgs {
    /// Also the names image-build keeps for itself (the steps of builds
    /// that run, the states failed RUNs stopped in), as docker images -a
    /// shows intermediate images.
    #[arg(short, long)]
    pub all: bool,
    /// Only image IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// A JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
    /// A Go-style template per image: {{.Repository}}, {{.Tag}}, {{.ID}},
    /// {{.Digest}}, {{.CreatedSince}}, {{.CreatedAt}}, {{.Size}} (as docker
    /// images: the layers' uncompressed sizes),
    /// {{.Labels}}, {{json .}}; a leading "table " prints a header.
    #[arg(long, value_name = "TEMPLATE")]
    pub format: Option<String>,
    /// reference=PATTERN (glob on NAME or NAME:TAG), label=KEY[=VALUE],
    /// dangling=true|false. Repeatable: references are OR'ed, the rest AND'ed.
    #[arg(short, long, value_name = "FILTER")]
    pub filter: Vec<String>,
    /// Full image IDs.
    #[arg(long)]
    pub no_trunc: bool,
    /// Show manifest digests.
    #[arg(long)]
    pub digests: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error(transparent)]
    Convert(#[from] ConvertError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error("{0}")]
    Invalid(String),
}

/// One row of `ls`: one name of an image (or an untagged image).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Row {
    pub repository: String,
    pub tag: String,
    pub name: Option<String>,
    pub id: Digest,
    pub digest: Digest,
    pub created: Option<String>,
    /// What docker images shows: the layers' uncompressed sizes.
    pub size: u64,
    /// What its blobs (manifest, config, layers) take in the store.
    pub disk_size: u64,
    pub labels: BTreeMap<String, String>,
    /// The platform its config names (linux/arm64).
    pub platform: String,
    #[serde(skip)]
    created_secs: i64,
    #[serde(skip)]
    blobs: Vec<(Digest, u64)>,
}

fn out_err(e: io::Error) -> Error {
    Error::Io(IoError {
        op: "write",
        path: "<stdout>".into(),
        source: e,
    })
}

fn rows(store: &Store) -> Result<Vec<Row>, Error> {
    let host = Platform::host();
    let mut out = Vec::new();
    for e in store.entries()? {
        // A whole index is one row: the host's image (else its first)
        // for the sizes and ID, every platform listed, every blob counted.
        let multi = MultiImage::load(store.layout(), &e.descriptor)
            .ok()
            .flatten();
        let loaded = Image::load(store.layout(), &e.descriptor, &host).or_else(|err| {
            match multi.as_ref().and_then(|m| m.images.first()) {
                Some(i) => Ok(i.clone()),
                None => Err(err),
            }
        });
        let img = match loaded {
            Ok(i) => i,
            Err(err) => {
                let what = e
                    .name
                    .as_ref()
                    .map(|n| n.familiar())
                    .unwrap_or_else(|| e.descriptor.digest().to_string());
                eprintln!("image-store: warning: {what}: {err}");
                continue;
            }
        };
        let labels = img.labels().into_iter().collect();
        let blobs = match &multi {
            Some(m) => m.blob_sizes(),
            None => img.blob_sizes(),
        };
        let mut size = 0;
        for l in img.manifest.layers() {
            let d = image::digest_of(l).map_err(|err| Error::Invalid(err.to_string()))?;
            size += slipway_common::sizes::uncompressed(store.layout(), &d, l.size())
                .unwrap_or_else(|err| {
                    eprintln!("image-store: warning: layer {d}: {err}");
                    l.size()
                });
        }
        let (repository, tag) = match &e.name {
            Some(n) => (n.familiar_name(), n.tag().unwrap_or("<none>").to_string()),
            None => ("<none>".into(), "<none>".into()),
        };
        out.push(Row {
            repository,
            tag,
            name: e.name.as_ref().map(|n| n.to_string()),
            id: img.id(),
            digest: image::digest_of(&e.descriptor)
                .map_err(|err| Error::Invalid(err.to_string()))?,
            created: img
                .config
                .get("created")
                .and_then(|c| c.as_str())
                .map(str::to_string),
            size,
            disk_size: blobs.iter().map(|(_, s)| s).sum(),
            labels,
            platform: match &multi {
                Some(m) => m.platforms().join(","),
                None => image::config_platform(&img.config).to_string(),
            },
            created_secs: img.created().unwrap_or(0),
            blobs,
        });
    }
    out.sort_by(|a, b| {
        b.created_secs
            .cmp(&a.created_secs)
            .then(a.repository.cmp(&b.repository))
            .then(a.tag.cmp(&b.tag))
    });
    Ok(out)
}

struct Filters {
    references: Vec<String>,
    labels: Vec<(String, Option<String>)>,
    dangling: Option<bool>,
}

fn parse_filters(list: &[String]) -> Result<Filters, Error> {
    let mut f = Filters {
        references: vec![],
        labels: vec![],
        dangling: None,
    };
    for s in list {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| Error::Invalid(format!("bad filter {s:?}: expected KEY=VALUE")))?;
        match k {
            "reference" => f.references.push(v.to_string()),
            "label" => f.labels.push(match v.split_once('=') {
                Some((a, b)) => (a.to_string(), Some(b.to_string())),
                None => (v.to_string(), None),
            }),
            "dangling" => {
                f.dangling = Some(match v {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => {
                        return Err(Error::Invalid(format!(
                            "bad filter {s:?}: dangling takes true or false"
                        )))
                    }
                })
            }
            _ => {
                return Err(Error::Invalid(format!(
                    "unknown filter {k:?} (reference, label or dangling)"
                )))
            }
        }
    }
    Ok(f)
}

impl Filters {
    fn keep(&self, r: &Row) -> bool {
        let refs_ok = self.references.is_empty()
            || r.name
                .as_ref()
                .and_then(|n| Reference::parse(n).ok())
                .is_some_and(|n| {
                    self.references.iter().any(|p| {
                        glob::matches(p, &n.familiar_name()) || glob::matches(p, &n.familiar())
                    })
                });
        let labels_ok = self.labels.iter().all(|(k, v)| match (r.labels.get(k), v) {
            (Some(_), None) => true,
            (Some(have), Some(want)) => have == want,
            (None, _) => false,
        });
        let dangling_ok = self.dangling.is_none_or(|d| d == r.name.is_none());
        refs_ok && labels_ok && dangling_ok
    }
}

fn field(r: &Row, name: &str, no_trunc: bool) -> String {
    match name {
        "Repository" => r.repository.clone(),
        "Tag" => r.tag.clone(),
        "ID" => {
            if no_trunc {
                r.id.to_string()
            } else {
                r.id.short().to_string()
            }
        }
        "Digest" => r.digest.to_string(),
        "CreatedSince" => r.created.as_ref().map_or("N/A".into(), |_| {
            time::human_since(r.created_secs, time::now())
        }),
        "CreatedAt" => r.created.clone().unwrap_or_else(|| "N/A".into()),
        "Size" => time::human_size(r.size),
        "Platform" => r.platform.clone(),
        "Labels" => r
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
        _ => String::new(),
    }
}

/// The fields of `ls --format` and their table headers.
const FIELDS: &[(&str, &str)] = &[
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("ID", "IMAGE ID"),
    ("Digest", "DIGEST"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("Platform", "PLATFORM"),
    ("Labels", "LABELS"),
];

/// A row as `--format` shows it.
struct Shown<'a> {
    row: &'a Row,
    no_trunc: bool,
}

impl Fields for Shown<'_> {
    fn field(&self, name: &str) -> String {
        field(self.row, name, self.no_trunc)
    }
    fn json(&self) -> String {
        String::from_utf8(canonical_json(self.row)).expect("JSON is UTF-8")
    }
}

fn ls(store: &Store, a: &LsArgs, out: &mut dyn Write) -> Result<(), Error> {
    let filters = parse_filters(&a.filter)?;
    let list: Vec<Row> = rows(store)?
        .into_iter()
        .filter(|r| filters.keep(r))
        .filter(|r| {
            a.all
                || r.name
                    .as_deref()
                    .and_then(slipway_common::buildcache::private_name)
                    .is_none()
        })
        .collect();
    if a.json {
        writeln!(
            out,
            "{}",
            String::from_utf8(canonical_json(&list)).expect("UTF-8")
        )
        .map_err(out_err)?;
        return Ok(());
    }
    if a.quiet {
        let mut seen = BTreeSet::new();
        for r in &list {
            let id = if a.no_trunc {
                r.id.to_string()
            } else {
                r.id.short().to_string()
            };
            if seen.insert(id.clone()) {
                writeln!(out, "{id}").map_err(out_err)?;
            }
        }
        return Ok(());
    }
    if let Some(f) = &a.format {
        let t = Template::parse(f, FIELDS).map_err(|e| Error::Invalid(e.to_string()))?;
        let shown: Vec<Shown> = list
            .iter()
            .map(|row| Shown {
                row,
                no_trunc: a.no_trunc,
            })
            .collect();
        let rows: Vec<&dyn Fields> = shown.iter().map(|s| s as &dyn Fields).collect();
        return t.write(&rows, out).map_err(out_err);
    }
    let mut head = vec!["REPOSITORY", "TAG"];
    if a.digests {
        head.push("DIGEST");
    }
    head.extend(["IMAGE ID", "CREATED", "SIZE"]);
    let mut grid = vec![head.iter().map(|s| s.to_string()).collect::<Vec<_>>()];
    for r in &list {
        let mut row = vec![r.repository.clone(), r.tag.clone()];
        if a.digests {
            row.push(r.digest.to_string());
        }
        row.push(field(r, "ID", a.no_trunc));
        row.push(field(r, "CreatedSince", false));
        row.push(field(r, "Size", false));
        grid.push(row);
    }
    write!(out, "{}", table(&grid)).map_err(out_err)
}

/// The fields of `inspect --format`.
const INSPECT_FIELDS: &[(&str, &str)] = &[("Digest", "DIGEST"), ("Id", "ID"), ("Names", "NAMES")];

struct Inspected(InspectRecord);

impl Fields for Inspected {
    fn field(&self, name: &str) -> String {
        match name {
            "Digest" => self.0.digest.to_string(),
            "Id" => self.0.id.to_string(),
            "Names" => self.0.names.join(","),
            _ => String::new(),
        }
    }
    fn json(&self) -> String {
        serde_json::to_string(&self.0).expect("an inspect record serializes")
    }
}

fn inspect(
    store: &Store,
    refs: &[String],
    format: Option<&str>,
    platform: Option<&Platform>,
    out: &mut dyn Write,
) -> Result<(), Error> {
    // Parsed before any image is read: a bad template prints nothing.
    let template = format
        .map(|f| Template::parse(f, INSPECT_FIELDS).map_err(|e| Error::Invalid(e.to_string())))
        .transpose()?;
    let host = platform.cloned().unwrap_or_else(Platform::host);
    let entries = store.entries()?;
    let mut docs = Vec::new();
    for r in refs {
        let desc = store.resolve(r)?;
        let img = Image::load(store.layout(), &desc, &host).map_err(StoreError::from)?;
        let names: Vec<String> = entries
            .iter()
            .filter(|e| e.descriptor.digest() == desc.digest())
            .filter_map(|e| e.name.as_ref().map(|n| n.to_string()))
            .collect();
        docs.push(InspectRecord::of(&img, names));
    }
    if let Some(t) = template {
        let rows: Vec<Inspected> = docs.into_iter().map(Inspected).collect();
        let rows: Vec<&dyn Fields> = rows.iter().map(|r| r as &dyn Fields).collect();
        return t.write(&rows, out).map_err(out_err);
    }
    let text = serde_json::to_string_pretty(&docs).expect("inspect records serialize");
    writeln!(out, "{text}").map_err(out_err)
}

fn du(store: &Store, json_out: bool, out: &mut dyn Write) -> Result<(), Error> {
    let list = rows(store)?;
    let root = store.layout().root();
    let (parts, total) = usage::usage(root).ctx("measure", root)?;
    // How many distinct images use each blob.
    let mut users: HashMap<Digest, BTreeSet<Digest>> = HashMap::new();
    for r in &list {
        for (d, _) in &r.blobs {
            users.entry(d.clone()).or_default().insert(r.digest.clone());
        }
    }
    let mut report = Vec::new();
    for r in &list {
        let shared: u64 = r
            .blobs
            .iter()
            .filter(|(d, _)| users[d].len() > 1)
            .map(|(_, s)| s)
            .sum();
        report.push((r, shared));
    }
    let blobs_dir = store.layout().root().join("blobs").join("sha256");
    let on_disk: u64 = std::fs::read_dir(&blobs_dir)
        .ctx("read directory", &blobs_dir)?
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    let referenced: u64 = {
        let mut seen: BTreeMap<&Digest, u64> = BTreeMap::new();
        for r in list.iter().filter(|r| r.name.is_some()) {
            for (d, s) in &r.blobs {
                seen.insert(d, *s);
            }
        }
        seen.values().sum()
    };
    if json_out {
        let images: Vec<Value> = report
            .iter()
            .map(|(r, shared)| {
                json!({
                    "repository": r.repository, "tag": r.tag, "id": r.id.to_string(),
                    "digest": r.digest.to_string(), "size": r.disk_size, "shared_size": shared,
                    "unique_size": r.disk_size - shared,
                })
            })
            .collect();
        let doc = json!({"images": images, "total_blob_bytes": on_disk,
            "reclaimable_bytes": on_disk.saturating_sub(referenced),
            "parts": parts, "total_bytes": total});
        writeln!(
            out,
            "{}",
            String::from_utf8(canonical_json(&doc)).expect("UTF-8")
        )
        .map_err(out_err)?;
        return Ok(());
    }
    let mut grid = vec![[
        "REPOSITORY",
        "TAG",
        "IMAGE ID",
        "CREATED",
        "SIZE",
        "SHARED SIZE",
        "UNIQUE SIZE",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect::<Vec<_>>()];
    for (r, shared) in &report {
        grid.push(vec![
            r.repository.clone(),
            r.tag.clone(),
            r.id.short().to_string(),
            field(r, "CreatedSince", false),
            time::human_size(r.disk_size),
            time::human_size(*shared),
            time::human_size(r.disk_size - shared),
        ]);
    }
    write!(out, "{}", table(&grid)).map_err(out_err)?;
    // Then the whole store, part by part: every byte du -sb counts.
    let mut grid = vec![vec!["STORE".to_string(), "SIZE".to_string()]];
    for p in usage::PARTS {
        grid.push(vec![p.to_string(), time::human_size(parts[p])]);
    }
    grid.push(vec!["total".into(), time::human_size(total)]);
    write!(out, "\n{}", table(&grid)).map_err(out_err)?;
    writeln!(
        out,
        "\nImage blobs: {} reclaimable by gc",
        time::human_size(on_disk.saturating_sub(referenced))
    )
    .map_err(out_err)
}

/// Runs a command, writing its data to `out`.
pub fn run_to(args: Args, out: &mut dyn Write) -> Result<(), Error> {
    let path = args.store.path();
    if let Command::Path = args.command {
        return writeln!(out, "{}", path.display()).map_err(out_err);
    }
    if let Command::Umount { dir } = &args.command {
        return mount::umount(dir);
    }
    let store = Store::open(&path)?;
    match &args.command {
        Command::Mount { image, dir } => mount::mount(&store, image, dir)?,
        Command::History(a) => history::history(&store, a, out)?,
        Command::Load(a) => load::load(&store, a, out)?,
        Command::Manifest(m) => manifest::run(&store, m, out)?,
        Command::Save {
            image,
            dest,
            names: given,
            compression,
            compression_level,
        } => {
            let dest = Destination::parse(dest)?;
            let settings =
                Settings::chosen(*compression, *compression_level).map_err(Error::Invalid)?;
            let desc = store.resolve(image)?;
            let layout = store.layout();
            let _session = layout.write_session().map_err(StoreError::from)?;
            // An index whose images are all here goes whole; each image's
            // layers compressed, which moves the index too.
            let multi = MultiImage::load(layout, &desc)
                .map_err(StoreError::from)?
                .map(|m| {
                    m.map_images(layout, layout, |i| {
                        convert::compress_layers(layout, i, settings)
                    })
                })
                .transpose()?;
            let img = match &multi {
                Some(_) => None,
                None => {
                    let img =
                        Image::load(layout, &desc, &Platform::host()).map_err(StoreError::from)?;
                    Some(convert::compress_layers(layout, &img, settings)?)
                }
            };
            let what = match (&multi, &img) {
                (Some(m), _) => export::Exported::Index(m),
                (None, Some(i)) => export::Exported::Image(i),
                (None, None) => unreachable!("one of them is loaded"),
            };
            // A docker-archive is named as --name says, else by the names
            // the store gives it.
            let names: Vec<Reference> = if given.is_empty() {
                store
                    .entries()?
                    .into_iter()
                    .filter(|e| e.descriptor.digest() == desc.digest())
                    .filter_map(|e| e.name)
                    .collect()
            } else {
                given
                    .iter()
                    .filter(|n| !n.is_empty())
                    .map(|n| Reference::parse(n))
                    .collect::<Result<_, _>>()?
            };
            export::export(layout, what, &dest, &names)?;
        }
        Command::Umount { .. } => unreachable!("handled above"),
        Command::Ls(a) => ls(&store, a, out)?,
        Command::Inspect {
            refs,
            format,
            platform,
        } => inspect(&store, refs, format.as_deref(), platform.as_ref(), out)?,
        Command::Tag { source, target } => {
            let target = Reference::parse(target)?;
            if target.digest().is_some() {
                return Err(Error::Invalid(format!(
                    "{target}: a tag cannot carry a digest"
                )));
            }
            let desc = store.resolve(source)?;
            store.set_tags(&[target], &desc)?;
        }
        Command::Rm { force, refs } => {
            for r in refs {
                for removed in store.remove(r, *force)? {
                    match removed {
                        Removed::Untagged(n) => writeln!(out, "Untagged: {}", n.familiar()),
                        Removed::Dangling(d) => writeln!(out, "Deleted: {d}"),
                    }
                    .map_err(out_err)?;
                }
            }
        }
        Command::Gc {
            json: as_json,
            build_cache,
            keep_failed,
        } => {
            let root = store.layout().root().to_path_buf();
            let r = store.gc(*build_cache, *keep_failed, |live| {
                let r = slipway_common::container::layergc::remove_unused(&root, live)?;
                Ok((r.layers, r.bytes))
            })?;
            if *as_json {
                writeln!(
                    out,
                    "{}",
                    String::from_utf8(canonical_json(&r)).expect("UTF-8")
                )
                .map_err(out_err)?;
            } else {
                writeln!(
                    out,
                    "removed {} untagged images, {} names of builds that are over, {} blobs, {} unpacked layers, {} temp files and {} build cache records: {} freed",
                    r.untagged,
                    r.build_leftovers,
                    r.blobs,
                    r.unpacked_layers,
                    r.temp_files,
                    r.cache_records,
                    time::human_size(r.bytes)
                )
                .map_err(out_err)?;
            }
        }
        Command::Du { json } => du(&store, *json, out)?,
        Command::Path => unreachable!("handled above"),
    }
    out.flush().map_err(out_err)
}

pub fn run(args: Args) -> Result<(), Error> {
    let stdout = io::stdout();
    let mut lock = stdout.lock();
    run_to(args, &mut lock)
}
