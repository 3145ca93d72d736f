//! image-build's command line: what `docker build` and buildx users type,
//! and what the man page says of it.

use crate::build;
use clap::{Parser, ValueEnum};
use slipway_common::cli::StoreArgs;
use slipway_common::compress::Compression;
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  image-build -t hello:1 examples/hello
  image-build -t app --build-arg VERSION=2 --target runtime -f build/Dockerfile .
  image-build --print-script -t app . > build.sh && sh -e build.sh
  image-build --progress quiet --iidfile id.txt -t app . && container-run --rm app";

/// Build an image from a Dockerfile and a context directory, as docker build does.
///
/// The Dockerfile goes through dockerfile-parse; each instruction then runs
/// as calls of the other slipway tools: RUN in container-run, its writable
/// layer turned into a layer by layer-diff (and kept in the store as that
/// layer's unpacked copy); COPY and ADD as layers made by layer-diff
/// straight from the context (honouring .dockerignore, or
/// Dockerfile.dockerignore beside the Dockerfile); every instruction
/// committed by image-assemble as a new image in the store, under a
/// build-private name (localhost/image-build/ID:STAGE-STEP) removed at the
/// end. Stages that do not depend on each other build at the same time.
/// The final image gets the --tag names (without one it keeps its
/// build-private name); its manifest digest is printed on stdout, its image
/// ID written by --iidfile.
///
/// Each step is cached in the store by a key of the image it starts from,
/// the expanded instruction and the contents (not the mtimes) of the files
/// it reads, so an unchanged step is a lookup; a stat cache of the context
/// keeps unchanged files from being read again. `image-store gc` keeps the
/// cache, `image-store gc --build-cache` forgets it; --cache-to and
/// --cache-from share it through a registry.
///
/// An image the store lacks (FROM, COPY --from) is pulled by image-pull.
/// RUN --mount takes bind (the context, a stage or an image), cache (kept
/// in the store; sharing shared, locked or private), tmpfs and secret
/// (--secret) and ssh (--ssh) mounts. ADD unpacks local tar archives
/// (plain, gzip, bzip2, xz, zstd) and downloads http(s) URLs (--checksum
/// checked); COPY and ADD take heredoc sources; a RUN heredoc that starts
/// with #! runs as a file of its own. The base's ONBUILD triggers run right
/// after its FROM. SIGINT, SIGTERM and SIGHUP stop the build and its
/// cleanup runs.
///
/// COPY --link makes its layer as if onto nothing and caches it apart
/// from the image below, so a changed earlier step rebases it rather than
/// copying again.
///
/// COPY --parents keeps each source's path (below a `./` pivot); `**` in
/// its sources is not supported yet.
///
/// A step that runs instead of coming from the cache says why in the
/// progress (`cache miss: …`) and in --metadata-file: the first input of
/// its key that differs from the closest earlier build of that step (its
/// base image, the parent step that re-ran, a build arg, the files that
/// changed, the instruction's text), or that there was none.
///
/// ADD takes a git repository as its source (REPO#REF:DIR,
/// --keep-git-dir, --checksum as the commit), keyed by the commit its ref
/// names, fetched only when the step runs.
///
/// Not in this version, in --print-script: COPY --from, --chown with names,
/// URLs, secrets and mounts from stages (all need what only the running
/// build has).
#[derive(Parser, Debug)]
#[command(name = "image-build", version, after_help = EXAMPLES)]
pub struct Args {
    /// The build context: a directory; '-' for stdin: a tar of the
    /// context (plain, gzip, bzip2, xz or zstd), or a Dockerfile alone
    /// (an empty context); a git repository (https://…/repo.git#REF:DIR,
    /// git@host:repo.git, git://, ssh://), fetched with git (its .git
    /// left out unless the build arg BUILDKIT_CONTEXT_KEEP_GIT_DIR=1); or
    /// an http(s) URL of a tar or a Dockerfile, as docker build reads them.
    #[arg(value_name = "CONTEXT|-|URL")]
    pub context: PathBuf,

    /// Name the image NAME[:TAG] (repeatable).
    #[arg(short = 't', long = "tag", value_name = "NAME[:TAG]", value_parser = parse_tag)]
    pub tags: Vec<String>,

    /// The Dockerfile ('-' for stdin). Default: CONTEXT/Dockerfile.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// A build argument (repeatable); KEY alone takes the value from the
    /// environment.
    #[arg(long = "build-arg", value_name = "KEY[=VALUE]")]
    pub build_args: Vec<String>,

    /// A named context, as buildx's (repeatable): NAME=DIR,
    /// NAME=docker-image://REF, NAME=oci-layout://DIR[:TAG], or a git
    /// repository or tar's URL (fetched as a context is). FROM NAME,
    /// COPY --from=NAME and RUN --mount from=NAME take it instead of the
    /// image of that name (a directory as an image of one layer of its
    /// files, less what its .dockerignore leaves out).
    #[arg(long = "build-context", value_name = "NAME=SOURCE", value_parser = crate::named::parse)]
    pub build_contexts: Vec<(String, crate::named::NamedContext)>,

    /// Build this stage (by name) and the stages it needs, not the last one.
    #[arg(long, value_name = "STAGE")]
    pub target: Option<String>,

    /// Set a label on the final image (repeatable); KEY alone sets an
    /// empty value, as docker build does.
    #[arg(long = "label", value_name = "KEY[=VALUE]", value_parser = parse_label)]
    pub labels: Vec<(String, String)>,

    /// Where the result goes besides the store, as buildx's --output:
    /// type=local,dest=DIR (the final stage's files; `-o DIR` too),
    /// type=tar,dest=FILE (them as one tar; `-o -` for stdout),
    /// type=oci,dest=FILE[,tar=false] and type=docker,dest=FILE (the image
    /// as an archive or layout), type=image,name=NAME[,NAME…][,push=true]
    /// or type=registry,name=… (names, pushed); or oci:DIR[:REF],
    /// oci-archive:FILE[:REF], docker-archive:FILE[:NAME:TAG] ('-' as FILE
    /// is stdout, which then carries nothing else). Without --tag the
    /// store keeps no name for it.
    #[arg(short = 'o', long, value_name = "OUTPUT", value_parser = crate::outputs::parse)]
    pub output: Option<crate::outputs::Output>,

    /// Write what buildx writes of the build to FILE as JSON:
    /// containerimage.digest, containerimage.config.digest, image.name,
    /// buildx.build.ref, and slipway.cache.misses (each step that ran,
    /// and why the cache did not have it).
    #[arg(long, value_name = "FILE")]
    pub metadata_file: Option<PathBuf>,

    /// An annotation (repeatable): KEY=VALUE or manifest:KEY=VALUE on each
    /// image's manifest; index:KEY=VALUE on the index of a multi-platform
    /// build (manifest,index:… on both); manifest-descriptor:KEY=VALUE on
    /// each image's entry in that index. index-descriptor is refused.
    #[arg(long = "annotation", value_name = "[manifest|index:]KEY=VALUE", value_parser = parse_annotation)]
    pub annotations: Vec<Annotation>,

    /// Attach a SLSA provenance attestation (v0.2, as BuildKit makes it)
    /// to each image: true or mode=min (the Dockerfile's digest, the base
    /// images by digest, a git context's commit, platform and times),
    /// mode=max (also the build arguments' values, secret and ssh ids and
    /// the Dockerfile), false (none, the default). The result is then an
    /// index of the image and its attestation, as buildx pushes it.
    #[arg(long, value_name = "true|false|mode=min|mode=max", value_parser = crate::build::provenance::parse_flag)]
    pub provenance: Option<crate::build::provenance::Setting>,

    /// buildx's --attest type=provenance[,mode=min|max]: as --provenance.
    /// (type=sbom is not made.)
    #[arg(long, value_name = "type=provenance[,mode=…]", value_parser = parse_attest)]
    pub attest: Vec<crate::build::provenance::Setting>,

    /// The image's media types, as buildah bud's --format: oci, or docker
    /// (schema 2 manifests, and a Docker manifest list for several
    /// --platform).
    #[arg(long, value_name = "FORMAT", default_value = "oci", value_parser = ["oci", "docker"])]
    pub format: String,

    /// Push every --tag to its registry (image-push) once built.
    #[arg(long, requires = "tags")]
    pub push: bool,

    /// What the layers are compressed with as the image leaves the
    /// machine (--output, --push, --cache-to): gzip, zstd or none. In the
    /// store they stay uncompressed, so no step waits on a compressor.
    #[arg(long, value_name = "ALGO", default_value = "gzip")]
    pub compression: Compression,

    /// Compression level (gzip 1-9, default 6; zstd 1-22, default 3).
    #[arg(long, value_name = "N")]
    pub compression_level: Option<i32>,

    /// Import a build cache that --cache-to pushed: a registry reference
    /// (REG/REPO:TAG, or type=registry,ref=REG/REPO:TAG). Steps this store
    /// misses and the cache has are pulled instead of run. Repeatable.
    #[arg(long = "cache-from", value_name = "REF")]
    pub cache_from: Vec<String>,

    /// Export this build's cache to a registry: every step's image by
    /// digest, and their index under REF (REG/REPO:TAG), for
    /// --cache-from on other machines.
    #[arg(long = "cache-to", value_name = "REF")]
    pub cache_to: Option<String>,

    /// Run RUN steps with another OCI runtime (runc, crun, or a path)
    /// through a runtime bundle: container-run --runtime.
    #[arg(long, value_name = "PROGRAM")]
    pub runtime: Option<String>,

    /// The platform to build for (default: the host's): its base images
    /// pulled for it, its RUN steps run under the emulator binfmt_misc
    /// has for it (qemu-user-static, registered with the fix-binary
    /// flag); a `FROM --platform=$BUILDPLATFORM` stage runs natively.
    /// TARGETPLATFORM, TARGETARCH… are set from it. Several, comma
    /// separated (or the flag repeated): each built, and the images
    /// joined into one index (a Docker manifest list when they are
    /// Docker manifests), named, written out and pushed as one image.
    #[arg(long, value_name = "OS/ARCH[/VARIANT][,…]")]
    pub platform: Vec<String>,

    /// Write the image ID (the config digest) to this file.
    #[arg(long, value_name = "FILE")]
    pub iidfile: Option<PathBuf>,

    /// The network of RUN steps: private (their own namespace, as Docker's
    /// default bridge), host, or none. RUN --network overrides it.
    #[arg(long, value_enum, default_value = "private", value_name = "MODE")]
    pub network: Network,

    /// Do not take any step from the build cache (each one still records
    /// what it makes, for the next build).
    #[arg(long)]
    pub no_cache: bool,

    /// A secret for RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VAR
    /// (id=ID alone: the variable ID if set, else the file ID). Repeatable.
    /// Its bytes never go into a layer, the history or a cache key.
    #[arg(long = "secret", value_name = "id=ID,src=FILE|env=VAR", value_parser = parse_secret)]
    pub secrets: Vec<(String, build::SecretSource)>,

    /// An SSH agent for RUN --mount=type=ssh: default (the one at
    /// $SSH_AUTH_SOCK), ID=SOCKET, or ID=KEY[,KEY…] (served by an
    /// ssh-agent started for the build). Repeatable. The agent is reached
    /// from those RUNs only; nothing of it goes into a layer.
    #[arg(long = "ssh", value_name = "default|ID[=SOCKET|KEY,…]", value_parser = build::ssh::parse)]
    pub ssh: Vec<(String, build::ssh::SshSource)>,

    /// Pull every image the build names (FROM, COPY --from) even when the
    /// store has it; without it only missing images are pulled.
    #[arg(long)]
    pub pull: bool,

    /// Print the build as a POSIX shell script of tool calls instead of
    /// running it; any line can be rerun alone.
    #[arg(long)]
    pub print_script: bool,

    /// Build nothing: look every step up in the cache and print, step by
    /// step, whether it is cached or would run and why (its base image, a
    /// build arg, the files that changed, the instruction's text, a parent
    /// step that would re-run). Nothing is pulled, made or recorded.
    #[arg(long, conflicts_with_all = ["print_script", "push", "output"])]
    pub explain: bool,

    /// Run the build checks only, as docker build --check: print what
    /// they find and build nothing; exit 1 when they found anything.
    #[arg(long, conflicts_with = "print_script")]
    pub check: bool,

    /// plain: one line per event and the RUN output as it comes; tty: the
    /// steps under way redrawn in place with the last lines of their
    /// output; quiet: nothing but errors; auto: tty when stderr is a
    /// terminal, else plain.
    #[arg(long, value_enum, default_value = "auto", value_name = "MODE")]
    pub progress: Progress,

    /// No progress: --progress quiet.
    #[arg(short, long)]
    pub quiet: bool,

    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Network {
    Private,
    Host,
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Progress {
    Auto,
    Plain,
    Tty,
    Quiet,
}

fn parse_tag(s: &str) -> Result<String, String> {
    let r = slipway_common::reference::Reference::parse(s).map_err(|e| e.to_string())?;
    if r.digest().is_some() {
        return Err(format!("{s}: a tag names NAME[:TAG], not a digest"));
    }
    Ok(s.to_string())
}

/// buildx's --secret: `id=ID[,src=FILE|source=FILE][,env=VAR][,type=file|env]`.
fn parse_secret(s: &str) -> Result<(String, build::SecretSource), String> {
    let (mut id, mut src, mut env, mut kind) = (None, None, None, None);
    for f in s.split(',') {
        match f.split_once('=') {
            Some(("id", v)) => id = Some(v.to_string()),
            Some(("src" | "source", v)) => src = Some(v.to_string()),
            Some(("env", v)) => env = Some(v.to_string()),
            Some(("type", v)) if v == "file" || v == "env" => kind = Some(v.to_string()),
            _ => return Err(format!("{f:?}: expected id=, src=, env= or type=file|env")),
        }
    }
    let id = id.filter(|i| !i.is_empty()).ok_or("a secret needs id=ID")?;
    let source = match (src, env, kind.as_deref()) {
        (Some(_), Some(_), _) => return Err("a secret takes src= or env=, not both".into()),
        (Some(f), None, Some("env")) | (None, Some(f), _) => build::SecretSource::Env(f),
        (Some(f), None, _) => build::SecretSource::File(f.into()),
        (None, None, Some("env")) => build::SecretSource::Env(id.clone()),
        (None, None, Some(_)) => build::SecretSource::File(id.clone().into()),
        (None, None, None) if std::env::var_os(&id).is_some() => {
            build::SecretSource::Env(id.clone())
        }
        (None, None, None) => build::SecretSource::File(id.clone().into()),
    };
    Ok((id, source))
}

/// An annotation and the levels it goes on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Annotation {
    pub manifest: bool,
    pub index: bool,
    /// On each image's entry in the index.
    pub manifest_descriptor: bool,
    pub key: String,
    pub value: String,
}

/// buildx's `--annotation [TYPE[,TYPE…]:]KEY=VALUE`, for the manifest
/// (the default) and the index levels.
fn parse_annotation(s: &str) -> Result<Annotation, String> {
    let (levels, kv) = match s.split_once('=') {
        Some((k, _)) if k.contains(':') && !k.contains('/') => s.split_once(':').expect("checked"),
        _ => ("manifest", s),
    };
    let (mut manifest, mut index, mut manifest_descriptor) = (false, false, false);
    for level in levels.split(',') {
        match level {
            "manifest" => manifest = true,
            "index" => index = true,
            "manifest-descriptor" => manifest_descriptor = true,
            other => {
                return Err(format!(
                    "{s:?}: annotations at the {other} level are not made (give KEY=VALUE, manifest:, index: or manifest-descriptor:KEY=VALUE)"
                ))
            }
        }
    }
    match kv.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok(Annotation {
            manifest,
            index,
            manifest_descriptor,
            key: k.to_string(),
            value: v.to_string(),
        }),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

/// `--attest type=provenance[,mode=min|max][,disabled=true]`.
fn parse_attest(s: &str) -> Result<crate::build::provenance::Setting, String> {
    parse_attest_mode(s).map(crate::build::provenance::Setting)
}

fn parse_attest_mode(s: &str) -> Result<Option<crate::build::provenance::Mode>, String> {
    let mut kind = None;
    let mut rest = vec![];
    for part in s.split(',') {
        match part.split_once('=') {
            Some(("type", t)) => kind = Some(t),
            Some(("disabled", "true")) => rest.push("false"),
            Some(("disabled", "false")) => {}
            _ => rest.push(part),
        }
    }
    match kind {
        Some("provenance") if rest.is_empty() => Ok(Some(crate::build::provenance::Mode::Min)),
        Some("provenance") => crate::build::provenance::parse(&rest.join(",")),
        Some(other) => Err(format!(
            "type={other}: only provenance attestations are made here"
        )),
        None => Err(format!("{s:?}: --attest needs type=provenance")),
    }
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').unwrap_or((s, ""));
    if k.is_empty() {
        return Err(format!("{s:?} is not KEY[=VALUE]: the key is empty"));
    }
    Ok((k.to_string(), v.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_go_on_the_manifest_unless_they_name_the_index() {
        let a = parse_annotation("org.opencontainers.image.source=https://x/y").unwrap();
        assert!(a.manifest && !a.index);
        assert_eq!(
            (a.key.as_str(), a.value.as_str()),
            ("org.opencontainers.image.source", "https://x/y")
        );
        let a = parse_annotation("index:a=b").unwrap();
        assert!(!a.manifest && a.index);
        let a = parse_annotation("manifest,index:a=b").unwrap();
        assert!(a.manifest && a.index);
        assert!(
            parse_annotation("manifest-descriptor:a=b")
                .unwrap()
                .manifest_descriptor
        );
        assert!(parse_annotation("index-descriptor:a=b")
            .unwrap_err()
            .contains("index-descriptor level"));
        assert!(parse_annotation("=b").is_err());
    }

    #[test]
    fn label_without_value_is_empty_as_in_docker_build() {
        assert_eq!(parse_label("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(parse_label("test"), Ok(("test".into(), String::new())));
        assert!(parse_label("=x").is_err());
        assert!(parse_label("").is_err());
    }
}
