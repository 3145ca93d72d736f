//! image-build: `docker build` composed from the other tools. The plan
//! comes from dockerfile-parse; each instruction becomes calls of
//! container-run, layer-diff, image-assemble and image-store, run as
//! processes, or printed as a shell script with `--print-script`.

mod build;
mod context;
mod digests;
mod mounts;
mod plan;
mod progress;
mod signals;
mod tools;

use build::Mode;
use clap::{Parser, ValueEnum};
use slipway_common::cli::StoreArgs;
use slipway_common::ignore::Matcher;
use std::io::Write;
use std::path::{Path, PathBuf};
use tools::{Runner, Tools};

pub use tools::sh_quote;

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
/// (--secret) mounts; ssh is refused. ADD unpacks local tar archives
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
/// Not in this version: ADD of git repositories, and in --print-script: COPY --from, --chown with names,
/// URLs, secrets and mounts from stages (all need what only the running
/// build has).
#[derive(Parser, Debug)]
#[command(name = "image-build", version, after_help = EXAMPLES)]
pub struct Args {
    /// The build context: a directory, or '-' for stdin: a tar of the
    /// context (plain, gzip, bzip2, xz or zstd), or a Dockerfile alone
    /// (an empty context), as docker build reads it.
    #[arg(value_name = "CONTEXT|-")]
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

    /// Build this stage (by name) and the stages it needs, not the last one.
    #[arg(long, value_name = "STAGE")]
    pub target: Option<String>,

    /// Set a label on the final image (repeatable); KEY alone sets an
    /// empty value, as docker build does.
    #[arg(long = "label", value_name = "KEY[=VALUE]", value_parser = parse_label)]
    pub labels: Vec<(String, String)>,

    /// Also write the image to oci:DIR[:REF], oci-archive:FILE[:REF] or
    /// docker-archive:FILE[:NAME:TAG] ('-' as FILE is stdout, which then
    /// carries nothing else). Without --tag the store keeps no name for it.
    #[arg(short = 'o', long, value_name = "REF", value_parser = parse_output)]
    pub output: Option<String>,

    /// Push every --tag to its registry (image-push) once built.
    #[arg(long, requires = "tags")]
    pub push: bool,

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

    /// The platform to build for: only the host's (no emulation here).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,

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

    /// Pull every image the build names (FROM, COPY --from) even when the
    /// store has it; without it only missing images are pulled.
    #[arg(long)]
    pub pull: bool,

    /// Print the build as a POSIX shell script of tool calls instead of
    /// running it; any line can be rerun alone.
    #[arg(long)]
    pub print_script: bool,

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

fn parse_output(s: &str) -> Result<String, String> {
    slipway_common::export::Destination::parse(s).map_err(|e| e.to_string())?;
    Ok(s.to_string())
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').unwrap_or((s, ""));
    if k.is_empty() {
        return Err(format!("{s:?} is not KEY[=VALUE]: the key is empty"));
    }
    Ok((k.to_string(), v.to_string()))
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Msg(String),
    #[error("interrupted by {}", signals::name(*.0))]
    Interrupted(i32),
    #[error("stopped: another stage failed")]
    Cancelled,
    #[error("{file}:{line}: {what}: {msg}")]
    Step {
        file: String,
        line: usize,
        what: String,
        msg: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

fn io_at(p: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: p.display().to_string(),
        source,
    }
}

/// The plan: dockerfile-parse run on the Dockerfile.
fn parse(
    tools: &Tools,
    args: &Args,
    dockerfile: &Path,
    file_name: &str,
    stdin: Option<&[u8]>,
) -> Result<plan::Plan, Error> {
    let mut c = std::process::Command::new(tools.path("dockerfile-parse"));
    for b in &args.build_args {
        match b.split_once('=') {
            Some(_) => {
                c.arg("--build-arg").arg(b);
            }
            None => {
                if let Ok(v) = std::env::var(b) {
                    c.arg("--build-arg").arg(format!("{b}={v}"));
                }
            }
        }
    }
    if let Some(t) = &args.target {
        c.arg("--target").arg(t);
    }
    c.arg(dockerfile)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .stdin(if stdin.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        });
    let mut child = c
        .spawn()
        .map_err(|e| Error::Msg(format!("dockerfile-parse: {e}")))?;
    if let (Some(data), Some(mut w)) = (stdin, child.stdin.take()) {
        w.write_all(data)
            .map_err(|e| Error::Msg(format!("dockerfile-parse: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::Msg(format!("dockerfile-parse: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err
            .lines()
            .rev()
            .find(|l| l.starts_with("dockerfile-parse: error: "))
            .unwrap_or("dockerfile-parse failed");
        let msg = line
            .strip_prefix("dockerfile-parse: error: ")
            .unwrap_or(line);
        let given = dockerfile.display().to_string();
        let msg = match msg.strip_prefix(&given) {
            Some(rest) if rest.starts_with(':') => format!("{file_name}{rest}"),
            _ => msg.to_string(),
        };
        return Err(Error::Msg(msg));
    }
    let plan: plan::Plan = serde_json::from_slice(&out.stdout)
        .map_err(|e| Error::Msg(format!("dockerfile-parse printed an unexpected plan: {e}")))?;
    if plan.version != plan::PLAN_VERSION {
        return Err(Error::Msg(format!(
            "dockerfile-parse printed plan version {}, this image-build reads version {}",
            plan.version,
            plan::PLAN_VERSION
        )));
    }
    Ok(plan)
}

/// A name for this build's intermediate images: unique enough that two
/// builds at once do not meet.
fn build_id() -> String {
    let mut b = [0u8; 6];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_ok();
    if !ok {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let mix = t ^ ((std::process::id() as u128) << 64);
        b.copy_from_slice(&mix.to_le_bytes()[..6]);
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The build; its exit status is 0, or 128 + the signal that stopped it
/// (after the cleanup), as a shell reports a command a signal ended.
pub fn run(args: Args) -> Result<u8, Error> {
    signals::install();
    match build(args) {
        Err(e) => match signals::caught() {
            Some(sig) => {
                let msg = match e {
                    Error::Interrupted(_) => e.to_string(),
                    other => format!("interrupted by {}: {other}", signals::name(sig)),
                };
                eprintln!("image-build: error: {msg}");
                Ok(128 + sig as u8)
            }
            None => Err(e),
        },
        Ok(()) => Ok(0),
    }
}

fn build(args: Args) -> Result<(), Error> {
    let tools = Tools::find().map_err(Error::Msg)?;
    check_platform(&args)?;
    let input = Input::read(&args, &tools)?;
    let plan = parse(
        &tools,
        &args,
        &input.dockerfile,
        &input.file_name,
        input.stdin.as_deref(),
    )?;
    let ignore = input.ignore_rules()?;
    let quiet = args.quiet || args.progress == Progress::Quiet;
    let shown = progress::Progress::new(progress_style(&args, quiet));
    let file_name = input.file_name.clone();
    if (!quiet && !args.print_script) || args.check {
        for w in &plan.warnings {
            eprintln!(
                "image-build: warning: {file_name}:{}: {}: {}",
                w.line, w.rule, w.message
            );
        }
    }
    checks_verdict(&plan, &file_name, args.check)?;
    if args.check {
        eprintln!("Check complete, no warnings found.");
        return Ok(());
    }
    let ctx = context::Context {
        from: None,
        root: input.context.clone(),
        ignore,
    };
    let store = args.store.path();
    let opts = options(&args, file_name, &shown, input.stdin_context);
    let id = build_id();
    if args.print_script && (!args.cache_from.is_empty() || args.cache_to.is_some()) {
        return Err(Error::Msg(
            "--print-script prints a build that runs every step: it takes no --cache-from or --cache-to".into(),
        ));
    }
    if args.print_script {
        return print_script(&plan, &ctx, &tools, opts, &store, &id);
    }
    // The build's temp dir is in the store: a RUN's upper dir is renamed
    // into the store's layers, which needs the same filesystem. Named with
    // the build's ID, and locked while it runs: image-store gc tells a dead
    // build's temp dir and private names from a live one's by the lock.
    slipway_common::layout::private_state_dir(&store).map_err(io_at(&store))?;
    let builds = slipway_common::buildcache::builds_dir(&store);
    std::fs::create_dir_all(&builds).map_err(io_at(&builds))?;
    // What a build killed outright left (kill -9 runs no cleanup) goes
    // now rather than at the next gc.
    slipway_common::buildcache::remove_dead_builds(&store);
    let tmp = tempfile::Builder::new()
        .prefix(&slipway_common::buildcache::build_dir_prefix(&id))
        .tempdir_in(&builds)
        .map_err(|e| {
            Error::Msg(format!(
                "a temporary directory in {}: {e}",
                builds.display()
            ))
        })?;
    let _alive =
        slipway_common::buildcache::hold_build_dir(tmp.path()).map_err(io_at(tmp.path()))?;
    let runner = Runner {
        tools: &tools,
        tmp: tmp.path().to_path_buf(),
        store: store.clone(),
        progress: shown.clone(),
        step: std::cell::Cell::new(0),
    };
    let mut d = build::Driver::new(&plan, &ctx, &tools, opts, Mode::Run(runner), &id);
    // The final image is inspected before the intermediate tags go: one
    // of them may be the only name it has.
    let result = d
        .build()
        .and_then(|b| d.inspect(&b.reference).map_err(Error::Msg));
    let cleaned = d.cleanup();
    shown.finish();
    let found = result?;
    cleaned.map_err(|e| Error::Msg(e.to_string()))?;
    report(&args, quiet, &found, &d)
}

/// --platform: only the host's, for now.
fn check_platform(args: &Args) -> Result<(), Error> {
    let Some(p) = &args.platform else {
        return Ok(());
    };
    let host = slipway_common::platform::Platform::host();
    let want: slipway_common::platform::Platform = p
        .parse()
        .map_err(|e| Error::Msg(format!("--platform {p}: {e}")))?;
    if want != host {
        return Err(Error::Msg(format!(
            "--platform {p}: building for another platform than the host's ({host}) is not supported (no emulation here)"
        )));
    }
    Ok(())
}

/// Where the context and the Dockerfile are, either of them possibly on
/// stdin.
struct Input {
    context: PathBuf,
    /// A context that came on stdin, unpacked: removed when dropped.
    _stdin_dir: Option<tempfile::TempDir>,
    dockerfile: PathBuf,
    /// The Dockerfile's name, as errors name it.
    file_name: String,
    /// The Dockerfile's bytes, when it came on stdin.
    stdin: Option<Vec<u8>>,
    stdin_context: bool,
}

impl Input {
    fn read(args: &Args, tools: &Tools) -> Result<Input, Error> {
        let mut from_stdin = args.file.as_deref() == Some(Path::new("-"));
        let stdin_context = args.context.as_os_str() == "-";
        if stdin_context && from_stdin {
            return Err(Error::Msg(
                "stdin cannot be both the context and the Dockerfile (-f -)".into(),
            ));
        }
        // A context on stdin: a tar unpacked into a temp dir, or a
        // Dockerfile with an empty context.
        let mut stdin_dockerfile = None;
        let mut stdin_dir = None;
        let context = if stdin_context {
            let dir = tempfile::Builder::new()
                .prefix("image-build-context.")
                .tempdir()
                .map_err(|e| Error::Msg(format!("a temporary directory: {e}")))?;
            stdin_dockerfile = context::from_stdin(tools, dir.path()).map_err(Error::Msg)?;
            let path = dir.path().to_path_buf();
            stdin_dir = Some(dir);
            path
        } else {
            args.context.canonicalize().map_err(io_at(&args.context))?
        };
        if !context.is_dir() {
            return Err(Error::Msg(format!(
                "{}: the context must be a directory",
                args.context.display()
            )));
        }
        if stdin_dockerfile.is_some() {
            from_stdin = true;
        }
        let (dockerfile, file_name, stdin) = if from_stdin {
            let data = match stdin_dockerfile.take() {
                Some(d) => d,
                None => {
                    let mut data = Vec::new();
                    std::io::Read::read_to_end(&mut std::io::stdin(), &mut data)
                        .map_err(io_at(Path::new("stdin")))?;
                    data
                }
            };
            (PathBuf::from("-"), "Dockerfile".to_string(), Some(data))
        } else {
            let f = match &args.file {
                // In a context that came on stdin, -f names a file of it.
                Some(f) if stdin_context && f.is_relative() => context.join(f),
                Some(f) => f.clone(),
                None => context.join("Dockerfile"),
            };
            // Errors name the file as BuildKit does: by its name alone.
            let name = f
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "Dockerfile".into());
            (f, name, None)
        };
        Ok(Input {
            context,
            _stdin_dir: stdin_dir,
            dockerfile,
            file_name,
            stdin,
            stdin_context,
        })
    }

    /// The .dockerignore rules: the Dockerfile's own ignore file, else the
    /// context's.
    fn ignore_rules(&self) -> Result<Matcher, Error> {
        let ignore_file = if self.stdin.is_some() {
            Some(self.context.join(".dockerignore")).filter(|p| p.is_file())
        } else {
            slipway_common::ignore::ignore_file_for(&self.context, &self.dockerfile)
        };
        match &ignore_file {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(io_at(p))?;
                Matcher::parse(&text).map_err(|e| Error::Msg(format!("{}: {}", p.display(), e.0)))
            }
            None => Ok(Matcher::default()),
        }
    }
}

fn progress_style(args: &Args, quiet: bool) -> progress::Style {
    match args.progress {
        _ if quiet => progress::Style::Quiet,
        Progress::Plain => progress::Style::Plain,
        Progress::Tty => progress::Style::Tty,
        Progress::Auto if std::io::IsTerminal::is_terminal(&std::io::stderr()) => {
            progress::Style::Tty
        }
        Progress::Auto => progress::Style::Plain,
        Progress::Quiet => progress::Style::Quiet,
    }
}

/// The driver's options from the command line.
fn options(
    args: &Args,
    file_name: String,
    shown: &std::sync::Arc<progress::Progress>,
    stdin_context: bool,
) -> build::Options {
    let network = match args.network {
        Network::Private => "private",
        Network::Host => "host",
        Network::None => "none",
    };
    build::Options {
        file_name,
        network,
        progress: shown.clone(),
        labels: args.labels.clone(),
        tags: args.tags.clone(),
        // The debug hint names the store only when the environment
        // would not.
        store_flag: args
            .store
            .store
            .as_ref()
            .filter(|p| std::env::var_os("SLIPWAY_STORE").as_deref() != Some(p.as_os_str()))
            .map(|p| p.display().to_string()),
        store: args.store.path(),
        use_cache: !args.no_cache,
        secrets: args.secrets.clone(),
        pull: args.pull,
        output: args.output.clone(),
        runtime: args.runtime.clone(),
        cache_from: args.cache_from.clone(),
        cache_to: args.cache_to.clone(),
        push: args.push,
        // A context unpacked from stdin has a new path each time: its
        // stat cache would never hit.
        stat_cache: !stdin_context,
        epoch: std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .filter(|v| !v.is_empty()),
    }
}

/// The built image: --iidfile, the summary line, and its digest on
/// stdout (unless the image itself went there).
fn report(
    args: &Args,
    quiet: bool,
    found: &build::Inspected,
    d: &build::Driver,
) -> Result<(), Error> {
    if let Some(f) = &args.iidfile {
        std::fs::write(f, &found.id).map_err(io_at(f))?;
    }
    if !quiet {
        eprintln!(
            "image-build: built {} in {:.1}s{}",
            found.digest,
            d.elapsed(),
            match (args.tags.as_slice(), &d.keep_final) {
                ([], Some(name)) => format!(", named {name} (no --tag given)"),
                ([], None) => String::new(),
                (t, _) => format!(", tagged {}", t.join(", ")),
            }
        );
    }
    let archive_on_stdout = args
        .output
        .as_deref()
        .and_then(|o| slipway_common::export::Destination::parse(o).ok())
        .is_some_and(|d| d.is_stdout());
    if archive_on_stdout {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", found.digest)
        .and_then(|()| out.flush())
        .map_err(io_at(Path::new("stdout")))
}

/// What the build checks' warnings mean for the build: with --check any
/// of them fails it, as does `# check=error=true` in the Dockerfile (as
/// BuildKit fails the build and names the rules).
fn checks_verdict(plan: &plan::Plan, file_name: &str, check_only: bool) -> Result<(), Error> {
    let Some(first) = plan.warnings.first() else {
        return Ok(());
    };
    let n = plan.warnings.len();
    if check_only {
        let s = if n == 1 { "" } else { "s" };
        return Err(Error::Msg(format!(
            "check complete, {n} warning{s} found (first at {file_name}:{})",
            first.line
        )));
    }
    if plan.check.as_ref().is_some_and(|c| c.error) {
        let mut rules: Vec<&str> = vec![];
        for w in &plan.warnings {
            if !rules.contains(&w.rule.as_str()) {
                rules.push(&w.rule);
            }
        }
        return Err(Error::Msg(format!(
            "{file_name}:{}: lint violation found for rules: {} (the check directive says error=true)",
            first.line,
            rules.join(", ")
        )));
    }
    Ok(())
}

fn print_script(
    plan: &plan::Plan,
    ctx: &context::Context,
    tools: &Tools,
    opts: build::Options,
    store: &Path,
    id: &str,
) -> Result<(), Error> {
    let mut d = build::Driver::new(plan, ctx, tools, opts, Mode::Script(vec![]), id);
    // Only images that exist now are inspected: the FROM images.
    let built = d.build()?;
    let cleanup = d.cleanup_actions();
    let Mode::Script(lines) = d.mode else {
        unreachable!("a script driver")
    };
    let dirs: Vec<String> = tools
        .dirs()
        .iter()
        .map(|p| sh_quote(&p.to_string_lossy()))
        .collect();
    let mut s = String::new();
    s.push_str("#!/bin/sh\n");
    s.push_str(&format!(
        "# image-build --print-script: the build of {} as calls of the slipway tools.\n",
        sh_quote(&ctx.root.to_string_lossy())
    ));
    s.push_str("# Each step makes an image tagged in the build's own repository, so any\n");
    s.push_str("# line can be rerun alone once the image it starts from exists.\n");
    s.push_str("set -eu\n");
    s.push_str(&format!("PATH={}:\"$PATH\"\n", dirs.join(":")));
    s.push_str(&format!(
        "SLIPWAY_STORE={}\nexport SLIPWAY_STORE\n",
        sh_quote(&store.to_string_lossy())
    ));
    s.push_str("T=$(mktemp -d \"${TMPDIR:-/tmp}/image-build.XXXXXX\")\n");
    s.push_str("trap 'rm -rf \"$T\"' EXIT\n");
    for l in lines {
        s.push_str(&l);
        s.push('\n');
    }
    s.push_str("# the manifest digest, then the intermediate tags go\n");
    s.push_str(&format!(
        "image-store inspect --format '{{{{.Digest}}}}' {}\n",
        sh_quote(&built.reference)
    ));
    for a in &cleanup {
        s.push_str(&tools::render(a));
        s.push('\n');
    }
    let mut out = std::io::stdout().lock();
    out.write_all(s.as_bytes())
        .and_then(|()| out.flush())
        .map_err(io_at(Path::new("stdout")))
}

#[cfg(test)]
mod tests {
    use super::parse_label;

    #[test]
    fn label_without_value_is_empty_as_in_docker_build() {
        assert_eq!(parse_label("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(parse_label("test"), Ok(("test".into(), String::new())));
        assert!(parse_label("=x").is_err());
        assert!(parse_label("").is_err());
    }
}
