//! image-build: `docker build` composed from the other tools. The plan
//! comes from dockerfile-parse; each instruction becomes calls of
//! container-run, layer-diff, image-assemble and image-store, run as
//! processes, or printed as a shell script with `--print-script`.

mod build;
mod cli;
mod context;
mod digests;
mod mounts;
mod named;
mod outputs;
mod plan;
mod progress;
mod remote;
mod signals;
mod tools;

use build::executor::Script;
use slipway_common::compress::Settings;
use slipway_common::ignore::Matcher;
use std::io::Write;
use std::path::{Path, PathBuf};
use tools::{Runner, Tools};

pub use cli::{Args, Network, Progress};
pub use tools::sh_quote;

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

/// --build-arg as KEY=VALUE pairs: a bare KEY takes its value from the
/// environment, or is left out when the environment has none, as docker
/// build does.
fn build_args(args: &Args) -> Vec<(String, String)> {
    args.build_args
        .iter()
        .filter_map(|b| match b.split_once('=') {
            Some((k, v)) => Some((k.to_string(), v.to_string())),
            None => std::env::var(b).ok().map(|v| (b.clone(), v)),
        })
        .collect()
}

/// The plan: dockerfile-parse run on the Dockerfile.
fn parse(
    tools: &Tools,
    args: &Args,
    dockerfile: &Path,
    file_name: &str,
    stdin: Option<&[u8]>,
    platform: Option<&str>,
) -> Result<plan::Plan, Error> {
    let mut c = std::process::Command::new(tools.path("dockerfile-parse"));
    for (k, v) in build_args(args) {
        c.arg("--build-arg").arg(format!("{k}={v}"));
    }
    if let Some(t) = &args.target {
        c.arg("--target").arg(t);
    }
    if let Some(p) = platform {
        c.arg("--platform").arg(p);
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
        let msg = tools::tool_error("dockerfile-parse", &String::from_utf8_lossy(&out.stderr));
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

fn build(mut args: Args) -> Result<(), Error> {
    // -o type=image,name=…: names for the store, as --tag gives them.
    if let Some(outputs::Output::Names { names, push }) = args.output.clone() {
        args.tags.extend(names);
        args.push |= push;
        args.output = None;
        if args.tags.is_empty() {
            return Err(Error::Msg("-o type=image|registry needs name=NAME".into()));
        }
    }
    let tools = Tools::find().map_err(Error::Msg)?;
    let platforms = platforms(&args)?;
    let makes_index = platforms.len() > 1 || provenance_mode(&args).is_some();
    if !makes_index
        && args
            .annotations
            .iter()
            .any(|a| a.index || a.manifest_descriptor)
    {
        return Err(Error::Msg(
            "--annotation index:… or manifest-descriptor:…: a single-platform build makes no index (build several --platform, add --provenance, or annotate the manifest)".into(),
        ));
    }
    let input = Input::read(&args, &tools)?;
    // The plan holds the predefined platform ARGs and what FROM lines
    // make of them: one per platform.
    let mut plans = Vec::new();
    for p in platforms
        .iter()
        .map(Some)
        .chain(platforms.is_empty().then_some(None))
    {
        let plan = parse(
            &tools,
            &args,
            &input.dockerfile,
            &input.file_name,
            input.stdin.as_deref(),
            p.map(String::as_str),
        )?;
        plans.push((p.cloned().unwrap_or_default(), plan));
    }
    let multi = plans.len() > 1;
    let plan = &plans[0].1;
    let ignore = input.ignore_rules()?;
    let quiet = args.quiet || args.progress == Progress::Quiet || args.explain;
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
    checks_verdict(plan, &file_name, args.check)?;
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
    let opts = options(&args, file_name, &shown, &input)?;
    if args.print_script && opts.provenance.is_some() {
        return Err(Error::Msg(
            "--print-script prints the build before it runs, and a provenance names the digests it makes: leave out --provenance".into(),
        ));
    }
    let id = build_id();
    if args.print_script && (!args.cache_from.is_empty() || args.cache_to.is_some()) {
        return Err(Error::Msg(
            "--print-script prints a build that runs every step: it takes no --cache-from or --cache-to".into(),
        ));
    }
    if args.print_script {
        return print_script(&plans, &ctx, &tools, opts, &store, &id);
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
    let exec: Box<dyn build::executor::Executor + Send> = match args.explain {
        true => Box::new(build::executor::Dry::new(runner)),
        false => Box::new(runner),
    };
    let mut d = build::Driver::new(plan, &ctx, &tools, opts, exec, &id);
    if args.explain {
        // Nothing was tagged or mounted (the dry run refuses it): nothing
        // to clean up.
        let r = run_build(&mut d, &plans);
        shown.finish();
        return r.map(|_| ());
    }
    // The final image is inspected before the intermediate tags go: one
    // of them may be the only name it has.
    let indexed = multi || d.opts.provenance.is_some();
    let result = run_build(&mut d, &plans).and_then(|b| {
        let mut found = match indexed {
            true => d.inspect_index(&b.reference).map_err(Error::Msg)?,
            false => d.inspect(&b.reference).map_err(Error::Msg)?,
        };
        if matches!(args.output, Some(outputs::Output::Image(_))) || args.push {
            // The image the user names is the one that went out, its
            // layers compressed on the way.
            let local: slipway_common::digest::Digest = found
                .digest
                .parse()
                .map_err(|e| Error::Msg(format!("{}: {e}", found.digest)))?;
            found.digest = d.outgoing_digest(&local).map_err(Error::Msg)?.to_string();
        }
        Ok(found)
    });
    let cleaned = d.cleanup();
    shown.finish();
    let found = result?;
    cleaned.map_err(|e| Error::Msg(e.to_string()))?;
    report(&args, quiet, &found, &d)?;
    if let Some(f) = &args.metadata_file {
        metadata(f, &args, &found, &d, &id, input.git.as_ref())?;
    }
    Ok(())
}

/// The --annotation pairs of one level.
fn annotations_at(args: &Args, level: fn(&cli::Annotation) -> bool) -> Vec<(String, String)> {
    args.annotations
        .iter()
        .filter(|a| level(a))
        .map(|a| (a.key.clone(), a.value.clone()))
        .collect()
}

/// The build: one platform's, or each platform's joined into an index.
fn run_build<'a>(
    d: &mut build::Driver<'a>,
    plans: &'a [(String, plan::Plan)],
) -> Result<build::Built, Error> {
    match plans.len() {
        1 => d.build(),
        _ => d.build_platforms(plans),
    }
}

/// --metadata-file: buildx's keys, for the CI steps that read them.
fn metadata(
    file: &Path,
    args: &Args,
    found: &build::Inspected,
    d: &build::Driver,
    id: &str,
    git: Option<&(String, String)>,
) -> Result<(), Error> {
    let mut m = serde_json::Map::new();
    if let Some((url, commit)) = git {
        m.insert("slipway.context.git.url".into(), url.clone().into());
        m.insert("slipway.context.git.commit".into(), commit.clone().into());
    }
    m.insert(
        "buildx.build.ref".into(),
        format!("slipway/local/{id}").into(),
    );
    // Files out (type=local, type=tar) make no image for anyone to use.
    let files_only = matches!(
        args.output,
        Some(outputs::Output::Local(_) | outputs::Output::Tar(_))
    );
    if !files_only {
        m.insert("containerimage.digest".into(), found.digest.clone().into());
        // An index has no config of its own: buildx leaves the key out.
        if found.id != found.digest {
            m.insert(
                "containerimage.config.digest".into(),
                found.id.clone().into(),
            );
        }
        if !args.tags.is_empty() {
            m.insert("image.name".into(), args.tags.join(",").into());
        }
    }
    // As buildx: the provenance's predicate, per platform when several.
    match d.statements.as_slice() {
        [(_, one)] => {
            m.insert("buildx.build.provenance".into(), one.clone());
        }
        many => {
            for (p, pred) in many {
                m.insert(format!("buildx.build.provenance/{p}"), pred.clone());
            }
        }
    }
    m.insert(
        "slipway.cache.misses".into(),
        serde_json::to_value(d.misses()).expect("misses serialize"),
    );
    let mut text = serde_json::to_vec_pretty(&serde_json::Value::Object(m)).expect("JSON");
    text.push(b'\n');
    slipway_common::fsutil::write_atomic(file, &text).map_err(|e| Error::Msg(e.to_string()))
}

/// --platform: none (the host's), one (the host's or another, its RUN
/// steps emulated), or several, comma separated or repeated: each
/// normalized (linux/arm64), each once.
fn platforms(args: &Args) -> Result<Vec<String>, Error> {
    let mut out: Vec<String> = Vec::new();
    for p in args.platform.iter().flat_map(|p| p.split(',')) {
        let norm = p
            .trim()
            .parse::<slipway_common::platform::Platform>()
            .map(|p| p.to_string())
            .map_err(|e| Error::Msg(format!("--platform {p}: {e}")))?;
        if !out.contains(&norm) {
            out.push(norm);
        }
    }
    Ok(out)
}

/// The platform the build targets (the first of several), normalized.
fn target_platform(args: &Args) -> Result<String, Error> {
    Ok(platforms(args)?
        .into_iter()
        .next()
        .unwrap_or_else(|| slipway_common::platform::Platform::host().to_string()))
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
    /// A context unpacked here (stdin, a URL, a git repository): its path
    /// is new each build, so no stat cache is kept for it.
    stdin_context: bool,
    /// The git repository and commit a git context was checked out at.
    git: Option<(String, String)>,
}

impl Input {
    fn read(args: &Args, tools: &Tools) -> Result<Input, Error> {
        let mut from_stdin = args.file.as_deref() == Some(Path::new("-"));
        let remote = args.context.to_str().and_then(remote::classify);
        let stdin_context = args.context.as_os_str() == "-" || remote.is_some();
        if stdin_context && from_stdin {
            return Err(Error::Msg(
                "stdin cannot be both the context and the Dockerfile (-f -)".into(),
            ));
        }
        // A context on stdin: a tar unpacked into a temp dir, or a
        // Dockerfile with an empty context.
        let mut stdin_dockerfile = None;
        let mut stdin_dir = None;
        let mut git = None;
        let context = if let Some(r) = &remote {
            let dir = tempfile::Builder::new()
                .prefix("image-build-context.")
                .tempdir()
                .map_err(|e| Error::Msg(format!("a temporary directory: {e}")))?;
            let path = match r {
                remote::Remote::Git(src) => {
                    let keep = args.build_args.iter().any(|a| {
                        matches!(
                            a.as_str(),
                            "BUILDKIT_CONTEXT_KEEP_GIT_DIR=1"
                                | "BUILDKIT_CONTEXT_KEEP_GIT_DIR=true"
                        )
                    });
                    let commit = remote::checkout(src, dir.path(), keep).map_err(Error::Msg)?;
                    git = Some((src.url.clone(), commit));
                    match &src.subdir {
                        Some(d)
                            if Path::new(d)
                                .components()
                                .any(|c| !matches!(c, std::path::Component::Normal(_))) =>
                        {
                            return Err(Error::Msg(format!(
                                "{}: the subdirectory {d:?} must stay inside the repository",
                                src.url
                            )))
                        }
                        Some(d) => dir.path().join(d),
                        None => dir.path().to_path_buf(),
                    }
                }
                remote::Remote::Url(url) => {
                    let file = dir.path().join(".download");
                    slipway_common::registry::fetch::fetch(url, &file).map_err(Error::Msg)?;
                    let root = dir.path().join("context");
                    std::fs::create_dir_all(&root).map_err(io_at(&root))?;
                    let f = std::fs::File::open(&file).map_err(io_at(&file))?;
                    stdin_dockerfile =
                        context::from_reader(tools, &root, f, url).map_err(Error::Msg)?;
                    root
                }
            };
            stdin_dir = Some(dir);
            path
        } else if stdin_context {
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
            git,
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

/// --provenance, else the last --attest type=provenance: the mode asked
/// for, or None.
fn provenance_mode(args: &Args) -> Option<build::provenance::Mode> {
    args.provenance
        .or_else(|| args.attest.last().copied())
        .and_then(|s| s.0)
}

/// The driver's options from the command line.
fn options(
    args: &Args,
    file_name: String,
    shown: &std::sync::Arc<progress::Progress>,
    input: &Input,
) -> Result<build::Options, Error> {
    let stdin_context = input.stdin_context;
    let provenance = match provenance_mode(args) {
        None => None,
        Some(mode) => Some(build::provenance::Inputs {
            mode,
            dockerfile: (
                file_name.clone(),
                match &input.stdin {
                    Some(b) => b.clone(),
                    None => std::fs::read(&input.dockerfile).map_err(io_at(&input.dockerfile))?,
                },
            ),
            args: build_args(args),
            git: input.git.clone(),
            target: args.target.clone(),
            started: slipway_common::time::now(),
        }),
    };
    let network = match args.network {
        Network::Private => "private",
        Network::Host => "host",
        Network::None => "none",
    };
    Ok(build::Options {
        file_name,
        network,
        progress: shown.clone(),
        labels: args.labels.clone(),
        annotations: annotations_at(args, |a| a.manifest),
        index_annotations: annotations_at(args, |a| a.index),
        entry_annotations: annotations_at(args, |a| a.manifest_descriptor),
        docker_format: args.format == "docker",
        provenance,
        explain: args.explain,
        target_platform: target_platform(args)?,
        contexts: args.build_contexts.iter().cloned().collect(),
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
        ssh: args.ssh.clone(),
        pull: args.pull,
        output: args.output.clone(),
        runtime: args.runtime.clone(),
        cache_from: args.cache_from.clone(),
        cache_to: args.cache_to.clone(),
        push: args.push,
        compression: Settings::chosen(args.compression, args.compression_level)
            .map_err(Error::Msg)?,
        compression_level: args.compression_level,
        // A context unpacked from stdin has a new path each time: its
        // stat cache would never hit.
        stat_cache: !stdin_context,
        epoch: std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .filter(|v| !v.is_empty()),
    })
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
    let archive_on_stdout = args.output.as_ref().is_some_and(|o| o.is_stdout());
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
    plans: &[(String, plan::Plan)],
    ctx: &context::Context,
    tools: &Tools,
    opts: build::Options,
    store: &Path,
    id: &str,
) -> Result<(), Error> {
    let mut d = build::Driver::new(
        &plans[0].1,
        ctx,
        tools,
        opts,
        Box::new(Script::default()),
        id,
    );
    // Only images that exist now are inspected: the FROM images.
    let built = run_build(&mut d, plans)?;
    let cleanup = d.cleanup_actions();
    let lines = d.exec.take_script();
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
    s.push_str("# the manifest digest (an index's), then the intermediate tags go\n");
    if plans.len() > 1 {
        s.push_str(&format!(
            "image-store ls --digests --format '{{{{.Digest}}}}' --filter reference={}\n",
            sh_quote(&built.reference)
        ));
    } else {
        s.push_str(&format!(
            "image-store inspect --format '{{{{.Digest}}}}' {}\n",
            sh_quote(&built.reference)
        ));
    }
    for a in &cleanup {
        s.push_str(&tools::render(a));
        s.push('\n');
    }
    let mut out = std::io::stdout().lock();
    out.write_all(s.as_bytes())
        .and_then(|()| out.flush())
        .map_err(io_at(Path::new("stdout")))
}
