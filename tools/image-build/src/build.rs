//! The driver: walks the plan's stages and turns each instruction into
//! calls of the other tools (see `tools`). Every step makes a new image in
//! the store under a build-private tag, so the next step, a debug shell or
//! a rerun of one line of the script can name it.

mod cache;
mod copy;
mod meta;
mod remote_cache;
mod run;
mod run_mounts;
mod state;

pub use run_mounts::SecretSource;

use crate::context::Context;
use crate::digests::StatCache;
use crate::plan::{Base, Instruction, Plan, Source, Stage, Step};
use crate::tools::{render, Action, Call, Failed, Out, Runner, Tools, Word};
use crate::Error;
use cache::lits;
use serde_json::json;
use slipway_common::buildcache;
use slipway_common::digest::Digest;
use slipway_common::image::{ContainerConfig, InspectRecord, DEFAULT_PATH};
use slipway_common::shell::Lex;
use state::{default_shell, State};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

/// An image as `image-store inspect` reports it.
pub struct Inspected {
    pub digest: String,
    pub id: String,
    config: ContainerConfig,
}

/// What the driver does with the calls: run them, or print them.
pub enum Mode<'a> {
    Run(Runner<'a>),
    Script(Vec<String>),
}

#[derive(Clone)]
pub struct Options {
    pub file_name: String,
    pub network: &'static str,
    pub progress: Arc<crate::progress::Progress>,
    pub labels: Vec<(String, String)>,
    pub tags: Vec<String>,
    /// `--store DIR` for the debug hint, when one was given.
    pub store_flag: Option<String>,
    pub store: std::path::PathBuf,
    /// Take results from the build cache (false with --no-cache; steps
    /// are recorded either way).
    pub use_cache: bool,
    /// Pull every image the build names, even one the store has.
    pub pull: bool,
    /// --output: where the image is written besides (or instead of) the
    /// store's tags.
    pub output: Option<String>,
    /// --push: every tag goes to its registry.
    pub push: bool,
    /// --runtime: the OCI runtime container-run hands RUN steps to.
    pub runtime: Option<String>,
    /// --cache-from: registry references of cache indexes to read.
    pub cache_from: Vec<String>,
    /// --cache-to: where to push this build's steps and their index.
    pub cache_to: Option<String>,
    /// Keep the context's stat cache in the store across builds.
    pub stat_cache: bool,
    /// SOURCE_DATE_EPOCH, which the tools read too.
    pub epoch: Option<String>,
    /// --secret: id and where its bytes come from.
    pub secrets: Vec<(String, SecretSource)>,
}

pub struct Driver<'a> {
    pub plan: &'a Plan,
    pub ctx: &'a Context,
    pub tools: &'a Tools,
    pub opts: Options,
    pub mode: Mode<'a>,
    lex: Lex,
    /// The build-private repository the intermediate images are tagged in.
    repo: String,
    /// Every intermediate tag, removed at the end.
    pub temps: Vec<String>,
    /// The tag a failed RUN's debug hint names: kept.
    pub keep: Option<String>,
    /// Without --tag, the final image keeps its build-private name: an
    /// image without any name would be left to image-store gc.
    pub keep_final: Option<String>,
    /// What the stages of one build share, between the threads that
    /// build independent stages at once.
    shared: Arc<Shared>,
    /// Source images of COPY --from mounted by this driver: reference ->
    /// the mount point (absolute).
    rootfs: HashMap<String, std::path::PathBuf>,
    /// Every mount point this driver made, unmounted by the cleanup.
    mounted: Vec<std::path::PathBuf>,
    platform: String,
    /// The number (BuildKit's #N) of the step under way.
    num: usize,
    /// One of several stages built at once (a fork).
    concurrent: bool,
    started: Instant,
}

/// One build's state that every stage's driver sees.
pub struct Shared {
    /// Built stages, by index.
    results: Mutex<HashMap<usize, State>>,
    /// Signalled when a stage is done or one failed.
    changed: Condvar,
    /// A stage failed: the others stop at their next step.
    failed: AtomicBool,
    /// Steps numbered so far.
    count: AtomicUsize,
    /// Content digests of context files (a running build only).
    stat: Option<Mutex<StatCache>>,
    /// Images pulled by this build (pulled once even with --pull).
    pulled: Mutex<BTreeSet<String>>,
    /// Steps that --cache-from indexes name.
    remote: Mutex<remote_cache::Remote>,
    /// Every step's key and image in this build, for --cache-to.
    used: Mutex<std::collections::BTreeMap<Digest, Digest>>,
}

/// The result of a build.
pub struct Built {
    /// What names the image: the first tag, else an intermediate tag.
    pub reference: String,
}

/// A lock that a panicked thread cannot poison for the rest.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<'a> Driver<'a> {
    pub fn new(
        plan: &'a Plan,
        ctx: &'a Context,
        tools: &'a Tools,
        opts: Options,
        mode: Mode<'a>,
        build_id: &str,
    ) -> Driver<'a> {
        let escape = plan.escape.chars().next().unwrap_or('\\');
        // One stat cache per context directory, in the store.
        let stat = matches!(mode, Mode::Run(_)).then(|| {
            if !opts.stat_cache {
                return StatCache::in_memory();
            }
            let name = Digest::of(ctx.root.as_os_str().as_encoded_bytes());
            StatCache::load(
                buildcache::dir(&opts.store)
                    .join("context")
                    .join(name.hex()),
            )
        });
        Driver {
            plan,
            ctx,
            tools,
            opts,
            mode,
            lex: Lex::new(escape),
            repo: format!("localhost/image-build/{build_id}"),
            temps: vec![],
            keep: None,
            keep_final: None,
            shared: Arc::new(Shared {
                results: Mutex::new(HashMap::new()),
                changed: Condvar::new(),
                failed: AtomicBool::new(false),
                count: AtomicUsize::new(0),
                stat: stat.map(Mutex::new),
                pulled: Mutex::new(BTreeSet::new()),
                remote: Mutex::new(HashMap::new()),
                used: Mutex::new(std::collections::BTreeMap::new()),
            }),
            rootfs: HashMap::new(),
            mounted: vec![],
            platform: slipway_common::platform::Platform::host().to_string(),
            num: 0,
            concurrent: false,
            started: Instant::now(),
        }
    }

    fn script(&self) -> bool {
        matches!(self.mode, Mode::Script(_))
    }

    /// A line about step `num` that is not a step of its own (pulling,
    /// pushing); a comment in a printed script.
    fn say(&mut self, num: usize, text: String) {
        match &mut self.mode {
            Mode::Script(lines) => lines.push(format!("# #{num} {text}")),
            Mode::Run(_) => self.opts.progress.note(num, &text),
        }
    }

    /// Step `num` begins: `[stage i/n] INSTRUCTION`.
    fn begin(&mut self, num: usize, header: String) {
        match &mut self.mode {
            Mode::Script(lines) => lines.push(format!("# #{num} {header}")),
            Mode::Run(r) => {
                r.step.set(num);
                self.opts.progress.begin(num, &header);
            }
        }
    }

    fn end(&self, num: usize, how: crate::progress::End) {
        if !self.script() {
            self.opts.progress.end(num, how);
        }
    }

    fn warn(&self, text: String) {
        self.opts
            .progress
            .warn(&format!("image-build: warning: {text}"));
    }

    fn err(&self, step_line: usize, what: &str, msg: impl Into<String>) -> Error {
        Error::Step {
            file: self.opts.file_name.clone(),
            line: step_line,
            what: one_line_text(what),
            msg: msg.into(),
        }
    }

    /// Runs (or prints) the actions of one step.
    fn act(&mut self, actions: &[Action]) -> Result<(), Failed> {
        match &mut self.mode {
            Mode::Script(lines) => {
                lines.extend(actions.iter().map(render));
                Ok(())
            }
            Mode::Run(r) => actions.iter().try_for_each(|a| r.run(a)).map_err(|e| {
                match crate::signals::caught() {
                    // The tool died of the signal that stops the build.
                    Some(sig) => Failed {
                        tool: e.tool,
                        status: e.status,
                        message: format!("interrupted by {}", crate::signals::name(sig)),
                    },
                    None => e,
                }
            }),
        }
    }

    /// Stops before the next step once a signal came, or another stage
    /// failed.
    fn check_interrupted(&self) -> Result<(), Error> {
        match crate::signals::caught() {
            Some(sig) => Err(Error::Interrupted(sig)),
            None if self.shared.failed.load(Ordering::SeqCst) => Err(Error::Cancelled),
            None => Ok(()),
        }
    }

    /// The next step number, BuildKit's #N.
    fn next_number(&self) -> usize {
        self.shared.count.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// A driver for one stage on a thread of its own: the same build, its
    /// own temp dir for the files its steps pass along.
    fn fork(&self, stage: usize) -> Result<Driver<'a>, Error> {
        let Mode::Run(r) = &self.mode else {
            unreachable!("a printed script builds one stage at a time")
        };
        let tmp = r.tmp.join(format!("stage-{stage}"));
        std::fs::create_dir_all(&tmp).map_err(|e| Error::Msg(format!("{}: {e}", tmp.display())))?;
        Ok(Driver {
            plan: self.plan,
            ctx: self.ctx,
            tools: self.tools,
            opts: self.opts.clone(),
            mode: Mode::Run(Runner {
                tools: r.tools,
                tmp,
                store: r.store.clone(),
                progress: r.progress.clone(),
                step: std::cell::Cell::new(0),
            }),
            lex: self.lex,
            repo: self.repo.clone(),
            temps: vec![],
            keep: None,
            keep_final: None,
            shared: self.shared.clone(),
            rootfs: HashMap::new(),
            mounted: vec![],
            platform: self.platform.clone(),
            num: 0,
            concurrent: true,
            started: self.started,
        })
    }

    /// Every needed stage on a thread, each waiting for the stages it
    /// needs; the first failure stops the rest at their next step.
    fn build_concurrently(&mut self, needed: &[&Stage]) -> Result<(), Error> {
        let mut forks = vec![];
        for stage in needed {
            forks.push((*stage, self.fork(stage.index)?));
        }
        let shared = self.shared.clone();
        let done: Vec<(Driver<'a>, Result<(), Error>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = forks
                .into_iter()
                .map(|(stage, mut d)| {
                    let shared = shared.clone();
                    scope.spawn(move || {
                        let mut r = d.wait_for(&stage.depends_on).and_then(|()| d.stage(stage));
                        if r.is_err() {
                            // Only the first failure is the build's: the
                            // stages it stops fail after it.
                            if shared.failed.swap(true, Ordering::SeqCst) {
                                r = Err(Error::Cancelled);
                            }
                            crate::signals::stop_children();
                            shared.changed.notify_all();
                        }
                        (d, r)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a stage's thread does not panic"))
                .collect()
        });
        let mut first: Option<Error> = None;
        for (d, r) in done {
            self.temps.extend(d.temps);
            self.mounted.extend(d.mounted);
            if d.keep.is_some() {
                self.keep = d.keep;
            }
            match (r, &first) {
                // A stage stopped because another failed says less than
                // the failure.
                (Err(Error::Cancelled), _) | (Ok(()), _) => {}
                (Err(e), None) => first = Some(e),
                (Err(_), Some(_)) => {}
            }
        }
        match first {
            Some(e) => Err(e),
            None if shared.failed.load(Ordering::SeqCst) => Err(Error::Cancelled),
            None => Ok(()),
        }
    }

    /// Blocks until the stages `deps` are built (or the build failed).
    fn wait_for(&self, deps: &[usize]) -> Result<(), Error> {
        let mut results = lock(&self.shared.results);
        loop {
            self.check_interrupted()?;
            if deps.iter().all(|d| results.contains_key(d)) {
                return Ok(());
            }
            results = self
                .shared
                .changed
                .wait_timeout(results, std::time::Duration::from_millis(200))
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// `image-store inspect REF`, run in both modes: only images that
    /// exist before the build are inspected.
    pub fn inspect(&self, reference: &str) -> Result<Inspected, String> {
        inspect(self.tools, reference, &self.opts.store)
    }

    /// ONBUILD triggers as the steps they are: dockerfile-parse reads them
    /// as the instructions of a stage of their own.
    fn parse_triggers(&self, triggers: &[String]) -> Result<Vec<Step>, String> {
        let mut text = String::new();
        if self.plan.escape != "\\" {
            text.push_str(&format!("# escape={}\n", self.plan.escape));
        }
        text.push_str("FROM scratch\n");
        for t in triggers {
            text.push_str(t);
            text.push('\n');
        }
        let mut c = std::process::Command::new(self.tools.path("dockerfile-parse"));
        c.arg("-")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = c.spawn().map_err(|e| format!("dockerfile-parse: {e}"))?;
        if let Some(mut w) = child.stdin.take() {
            std::io::Write::write_all(&mut w, text.as_bytes())
                .map_err(|e| format!("dockerfile-parse: {e}"))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| format!("dockerfile-parse: {e}"))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let line = err.lines().last().unwrap_or("dockerfile-parse failed");
            return Err(line
                .strip_prefix("dockerfile-parse: error: ")
                .unwrap_or(line)
                .to_string());
        }
        let mut plan: Plan = serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("dockerfile-parse printed an unexpected plan: {e}"))?;
        Ok(plan.stages.pop().map(|s| s.steps).unwrap_or_default())
    }

    /// A trigger's COPY --from and RUN --mount from= name this Dockerfile's
    /// stages by name, as the Dockerfile's own instructions do: parsed on
    /// their own they read as images. The stages must be built, or be
    /// being built at the same time (then they are waited for).
    fn stage_sources(&self, step: &mut Step) -> Result<(), String> {
        let mut deps = vec![];
        for src in step.reads_from_mut() {
            let Source::Image(name) = src else { continue };
            let Some(i) = self
                .plan
                .stages
                .iter()
                .position(|s| s.name.as_deref() == Some(name.to_ascii_lowercase().as_str()))
            else {
                continue;
            };
            if !self.plan.stages[i].needed {
                return Err(format!("{name:?} is a stage this build does not build"));
            }
            *src = Source::Stage(i);
            deps.push(i);
        }
        let built = {
            let results = lock(&self.shared.results);
            deps.iter().all(|d| results.contains_key(d))
        };
        if !built && !self.concurrent {
            return Err("it names a stage that comes later in the Dockerfile".into());
        }
        self.wait_for(&deps).map_err(|e| e.to_string())
    }

    /// An image the build starts from or copies from: from the store, or
    /// pulled into it by image-pull when the store lacks it (always with
    /// --pull, as docker build --pull does).
    fn image(&mut self, r: &str) -> Result<Inspected, String> {
        let want_pull = self.opts.pull && !lock(&self.shared.pulled).contains(r);
        // By its whole name: as BuildKit, FROM 0 names the image
        // docker.io/library/0, never an image whose ID starts with 0.
        let name = slipway_common::reference::Reference::parse(r)
            .map(|n| n.to_string())
            .unwrap_or_else(|_| r.to_string());
        if !want_pull {
            match self.inspect(&name) {
                Ok(found) => return Ok(found),
                Err(e) if self.script() => {
                    return Err(format!(
                        "{e}: pull it into the store first (image-pull {r})"
                    ))
                }
                Err(_) => {}
            }
        }
        if self.script() {
            // A printed script pulls nothing while it is printed.
            return self.inspect(&name);
        }
        self.say(self.num, format!("pulling {r}"));
        let pull = Call::new("image-pull").arg("-q").arg(r);
        self.act(&[Action::Call(pull)]).map_err(|e| {
            let m = e.to_string();
            let m = m
                .strip_prefix("image-pull: error: ")
                .unwrap_or(&m)
                .to_string();
            format!("no such image in the store, and pulling it failed: {m}")
        })?;
        lock(&self.shared.pulled).insert(r.to_string());
        self.inspect(&name)
    }

    fn expand(&self, st: &State, step: &Step, word: &str) -> Result<String, Error> {
        if !step.expand {
            return Ok(word.to_string());
        }
        self.lex
            .process_word(word, &st.lookup())
            .map_err(|e| self.err(step.line, &step.original, e.0))
    }

    fn expand_words(&self, st: &State, step: &Step, word: &str) -> Result<Vec<String>, Error> {
        if !step.expand {
            return Ok(vec![word.to_string()]);
        }
        self.lex
            .process_words(word, &st.lookup())
            .map_err(|e| self.err(step.line, &step.original, e.0))
    }

    /// Builds the stages the target needs: one after the other in a
    /// script, else each on a thread of its own as soon as the stages it
    /// needs are built, so stages that do not depend on each other run at
    /// the same time.
    pub fn build(&mut self) -> Result<Built, Error> {
        let plan = self.plan;
        let needed: Vec<&Stage> = plan.stages.iter().filter(|s| s.needed).collect();
        if !self.opts.cache_from.is_empty() {
            self.load_remote_cache().map_err(Error::Msg)?;
        }
        let built = if self.script() || needed.len() == 1 {
            needed.iter().try_for_each(|stage| self.stage(stage))
        } else {
            self.build_concurrently(&needed)
        };
        if let Some(stat) = &self.shared.stat {
            if let Err(e) = lock(stat).save() {
                self.warn(format!("the context's stat cache: {e}"));
            }
        }
        built?;
        let mut fin = lock(&self.shared.results)
            .remove(&plan.target)
            .unwrap_or_default();
        if !self.opts.labels.is_empty() || fin.image == "scratch" {
            let next = self.next_tag(plan.target, "final");
            let mut edits: Vec<Word> = vec![];
            let mut texts = vec![];
            for (k, v) in &self.opts.labels {
                edits.push("-l".into());
                edits.push(format!("{k}={v}").into());
                texts.push(format!("{k}={v}"));
            }
            if !texts.is_empty() {
                edits.push("--history".into());
                edits.push(format!("LABEL {} (image-build --label)", texts.join(" ")).into());
            }
            self.num = self.next_number();
            self.begin(self.num, "[final] labels and tags".into());
            let key = self.key(&fin, json!({"cmd": "final", "edits": lits(&edits)}));
            if !self.cached(&mut fin, &key) {
                self.commit(&mut fin, next, edits, None, key)
                    .map_err(|e| Error::Msg(e.to_string()))?;
            }
            self.end(self.num, crate::progress::End::Quiet);
        }
        let mut actions = vec![];
        for t in &self.opts.tags {
            actions.push(Action::Call(
                Call::new("image-store")
                    .arg("tag")
                    .arg(fin.image.as_str())
                    .arg(t.as_str()),
            ));
        }
        self.act(&actions).map_err(|e| Error::Msg(e.to_string()))?;
        let mut exports = vec![];
        if let Some(out) = self.opts.output.clone() {
            self.num = self.next_number();
            self.say(self.num, format!("writing the image to {out}"));
            let stdout =
                slipway_common::export::Destination::parse(&out).is_ok_and(|d| d.is_stdout());
            let to = if stdout { Out::Stdout } else { Out::Discard };
            // A docker-archive carries the --tag names, never the build's
            // private ones.
            let mut save = Call::new("image-store").arg("save");
            if self.opts.tags.is_empty() {
                save = save.args(["--name", ""]);
            }
            for t in &self.opts.tags {
                save = save.arg("--name").arg(t.as_str());
            }
            exports.push(Action::Call(
                save.arg(fin.image.as_str()).arg(out.as_str()).stdout(to),
            ));
        }
        if self.opts.push {
            for t in self.opts.tags.clone() {
                self.num = self.next_number();
                self.say(self.num, format!("pushing {t}"));
                exports.push(Action::Call(
                    Call::new("image-push")
                        .arg("-q")
                        .arg(fin.image.as_str())
                        .arg(format!("docker://{t}")),
                ));
            }
        }
        self.act(&exports).map_err(|e| Error::Msg(e.to_string()))?;
        self.export_cache().map_err(Error::Msg)?;
        let reference = match self.opts.tags.first() {
            Some(t) => t.clone(),
            // An image written to --output needs no name in the store.
            None if self.opts.output.is_some() => fin.image.clone(),
            // Its own name, apart from the steps' (which gc removes once
            // the build is over): the build's result, as docker keeps an
            // untagged one.
            None => {
                let name = format!("{}:latest", self.repo);
                let tag = Call::new("image-store")
                    .arg("tag")
                    .arg(fin.image.as_str())
                    .arg(name.as_str());
                self.act(&[Action::Call(tag)])
                    .map_err(|e| Error::Msg(e.to_string()))?;
                self.keep_final = Some(name.clone());
                name
            }
        };
        Ok(Built { reference })
    }

    /// The calls that unmount the images mounted and remove the
    /// intermediate tags (all but `keep`).
    pub fn cleanup_actions(&self) -> Vec<Action> {
        let mut out: Vec<Action> = self
            .mounted
            .iter()
            .map(|dir| Action::Call(Call::new("image-store").arg("umount").arg(dir.as_path())))
            .collect();
        let tags: Vec<&String> = self
            .temps
            .iter()
            .filter(|t| Some(*t) != self.keep.as_ref() && Some(*t) != self.keep_final.as_ref())
            .collect();
        if !tags.is_empty() {
            out.push(Action::Call(
                Call::new("image-store")
                    .arg("rm")
                    .args(tags.into_iter().map(String::as_str)),
            ));
        }
        out
    }

    /// Runs every cleanup call, even after one fails; the first failure
    /// is returned.
    pub fn cleanup(&mut self) -> Result<(), Failed> {
        crate::signals::cleaning();
        let mut first = Ok(());
        for a in self.cleanup_actions() {
            let r = self.act(&[a]);
            if first.is_ok() {
                first = r;
            }
        }
        self.rootfs.clear();
        self.mounted.clear();
        first
    }

    fn next_tag(&self, stage: usize, step: &str) -> String {
        format!("{}:{stage}-{step}", self.repo)
    }

    /// image-assemble: the state's image plus an optional layer and edits
    /// becomes `next`, recorded in the cache under `key`.
    fn commit(
        &mut self,
        st: &mut State,
        next: String,
        edits: Vec<Word>,
        layer: Option<Word>,
        key: Option<Digest>,
    ) -> Result<(), Failed> {
        let digestfile = Word::Tmp("digest".into());
        let mut c = Call::new("image-assemble")
            .arg("-q")
            .arg("--base")
            .arg(st.image.as_str())
            .arg("-t")
            .arg(next.as_str());
        if !self.script() {
            c = c.arg("--digestfile").arg(digestfile);
        }
        c = c.args(std::mem::take(&mut st.pending)).args(edits);
        if let Some(l) = layer {
            c = c.arg(l);
        }
        self.temps.push(next.clone());
        self.act(&[Action::Call(c)])?;
        st.image = next;
        st.digest = None;
        if let Mode::Run(r) = &self.mode {
            let file = r.tmp.join("digest");
            let digest: Digest = std::fs::read_to_string(&file)
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .ok_or_else(|| Failed {
                    tool: "image-assemble",
                    status: None,
                    message: format!("image-assemble: error: no digest in {}", file.display()),
                })?;
            if let Some(k) = key {
                self.remember(&k, &digest);
            }
            st.digest = Some(digest.to_string());
        }
        Ok(())
    }

    fn stage(&mut self, stage: &Stage) -> Result<(), Error> {
        let name = stage
            .name
            .clone()
            .unwrap_or_else(|| format!("stage-{}", stage.index));
        let total = stage.steps.len() + 1;
        self.num = self.next_number();
        let from_text = match &stage.base {
            Base::Scratch => "scratch".to_string(),
            Base::Stage(i) => self.plan.stages[*i]
                .name
                .clone()
                .unwrap_or_else(|| i.to_string()),
            Base::Image(r) => r.clone(),
        };
        let from_num = self.num;
        self.begin(from_num, format!("[{name} 1/{total}] FROM {from_text}"));
        let from_line = format!("FROM {from_text}");
        if let Some(p) = &stage.platform {
            let host = slipway_common::platform::Platform::host().to_string();
            if *p != host && format!("{p}/") != format!("{host}/") {
                return Err(self.err(
                    stage.line,
                    &from_line,
                    format!("--platform={p}: building for another platform than the host's ({host}) is not supported yet"),
                ));
            }
        }
        let mut st = self.base_state(stage, &from_line)?;
        self.end(from_num, crate::progress::End::Quiet);
        self.onbuild_triggers(stage, &mut st, &name, total, &from_line)?;
        for (i, step) in stage.steps.iter().enumerate() {
            self.num = self.next_number();
            let num = self.num;
            let started = Instant::now();
            self.begin(
                num,
                format!(
                    "[{name} {}/{total}] {}",
                    i + 2,
                    one_line_text(&step.original)
                ),
            );
            self.check_interrupted()?;
            let next = self.next_tag(stage.index, &(i + 1).to_string());
            let cached = self.step(&mut st, step, next).inspect_err(|_| {
                self.end(num, crate::progress::End::Failed);
            })?;
            use crate::progress::End;
            self.end(
                num,
                match (
                    matches!(
                        step.ins,
                        Instruction::Run(_) | Instruction::Copy(_) | Instruction::Add(_)
                    ),
                    cached,
                ) {
                    (true, true) => End::Cached,
                    (true, false) => End::Done(started.elapsed().as_secs_f64()),
                    (false, _) => End::Quiet,
                },
            );
        }
        lock(&self.shared.results).insert(stage.index, st);
        self.shared.changed.notify_all();
        Ok(())
    }

    /// The state a stage starts from: scratch's, the stage it is built
    /// on, or an image's config.
    fn base_state(&mut self, stage: &Stage, from_line: &str) -> Result<State, Error> {
        Ok(match &stage.base {
            // BuildKit's empty image has the default PATH in its config.
            Base::Scratch => State {
                image: "scratch".into(),
                env: vec![format!("PATH={DEFAULT_PATH}")],
                workdir: "/".into(),
                shell: default_shell(),
                pending: vec!["-e".into(), format!("PATH={DEFAULT_PATH}")],
                lineage: Some("scratch".into()),
                ..State::default()
            },
            Base::Stage(i) => {
                let prev = lock(&self.shared.results).get(i).cloned().ok_or_else(|| {
                    self.err(stage.line, from_line, format!("stage {i} was not built"))
                })?;
                State {
                    cmd_set: None,
                    args: vec![],
                    ..prev
                }
            }
            Base::Image(r) => {
                let found = self
                    .image(r)
                    .map_err(|e| self.err(stage.line, from_line, e))?;
                // Pinned by digest: a tag moved during the build does not
                // change it halfway.
                let image = match r.split_once('@') {
                    Some(_) => r.clone(),
                    None => format!("{r}@{}", found.digest),
                };
                let c = found.config;
                State {
                    image,
                    lineage: Some(found.digest.clone()),
                    digest: Some(found.digest.clone()),
                    env: c.env.unwrap_or_default(),
                    workdir: c
                        .working_dir
                        .filter(|w| !w.is_empty())
                        .unwrap_or("/".into()),
                    user: c.user.unwrap_or_default(),
                    shell: c
                        .shell
                        .filter(|s| !s.is_empty())
                        .unwrap_or_else(default_shell),
                    cmd_set: None,
                    args: vec![],
                    onbuild: c.on_build.unwrap_or_default(),
                    pending: vec![],
                }
            }
        })
    }

    /// The base's ONBUILD triggers, run first as instructions of this
    /// stage at its FROM line; the image this stage makes has them no more.
    fn onbuild_triggers(
        &mut self,
        stage: &Stage,
        st: &mut State,
        name: &str,
        total: usize,
        from_line: &str,
    ) -> Result<(), Error> {
        let triggers = std::mem::take(&mut st.onbuild);
        if triggers.is_empty() {
            return Ok(());
        }
        st.pending.push("--clear-onbuild".into());
        let steps = self
            .parse_triggers(&triggers)
            .map_err(|e| self.err(stage.line, from_line, format!("ONBUILD trigger: {e}")))?;
        for (i, mut step) in steps.into_iter().enumerate() {
            self.num = self.next_number();
            let num = self.num;
            let text = one_line_text(&step.original);
            self.begin(num, format!("[{name} 1/{total}] ONBUILD {text}"));
            step.line = stage.line;
            self.stage_sources(&mut step)
                .map_err(|e| self.err(stage.line, from_line, format!("ONBUILD trigger: {e}")))?;
            self.check_interrupted()?;
            let next = self.next_tag(stage.index, &format!("onbuild-{}", i + 1));
            let cached = self.step(st, &step, next).inspect_err(|_| {
                self.end(num, crate::progress::End::Failed);
            })?;
            self.end(
                num,
                if cached {
                    crate::progress::End::Cached
                } else {
                    crate::progress::End::Quiet
                },
            );
        }
        Ok(())
    }

    /// One instruction; true when its image came from the cache.
    fn step(&mut self, st: &mut State, step: &Step, next: String) -> Result<bool, Error> {
        match &step.ins {
            Instruction::Run(run) => self.run(st, step, run, next),
            Instruction::Copy(c) => self.copy(st, step, c, false, next),
            Instruction::Add(c) => self.copy(st, step, c, true, next),
            _ => self.config_step(st, step, next),
        }
    }

    /// The root filesystem the stage has reached, for a layer made to go
    /// on it: the path to give the tools, the actions that make it there
    /// and those that undo them. A running build mounts each image once;
    /// a script mounts it for the step and unmounts it after.
    fn root_under(&mut self, st: &State) -> Result<(Word, Vec<Action>, Vec<Action>), String> {
        if let Mode::Run(_) = &self.mode {
            let dir = self
                .unpack(&st.image)
                .map_err(|m| format!("mounting {}: {m}", st.image))?;
            return Ok((Word::from(dir.as_path()), vec![], vec![]));
        }
        let dir = Word::Tmp("parent-root".into());
        let mut actions = vec![Action::Mkdir(dir.clone())];
        let mut done = vec![];
        if st.image != "scratch" {
            actions.push(Action::Call(
                Call::new("image-store")
                    .arg("mount")
                    .arg(st.image.as_str())
                    .arg(dir.clone()),
            ));
            done.push(Action::Call(
                Call::new("image-store").arg("umount").arg(dir.clone()),
            ));
        }
        Ok((dir, actions, done))
    }

    /// The root filesystem of a store image, read-only: mounted once per
    /// build by `image-store mount` over the store's unpacked layers (so
    /// the layers are extracted once, not once per build), unmounted by
    /// the cleanup.
    fn unpack(&mut self, image: &str) -> Result<std::path::PathBuf, String> {
        let Mode::Run(r) = &self.mode else {
            return Err("only a running build mounts images".into());
        };
        let tmp = r.tmp.clone();
        if let Some(dir) = self.rootfs.get(image) {
            return Ok(dir.clone());
        }
        if image == "scratch" {
            let dir = tmp.join("rootfs-scratch");
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            return Ok(dir);
        }
        let dir = tmp.join(format!("rootfs-{}", self.rootfs.len()));
        let mount = Call::new("image-store")
            .arg("mount")
            .arg(image)
            .arg(dir.as_path());
        self.act(&[
            Action::Mkdir(Word::from(dir.as_path())),
            Action::Call(mount),
        ])
        .map_err(|e| e.to_string())?;
        self.rootfs.insert(image.to_string(), dir.clone());
        self.mounted.push(dir.clone());
        Ok(dir)
    }

    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

/// `image-store inspect REF` as the driver needs it.
pub fn inspect(
    tools: &Tools,
    reference: &str,
    store: &std::path::Path,
) -> Result<Inspected, String> {
    let mut c = std::process::Command::new(tools.path("image-store"));
    c.arg("inspect").arg(reference).env("SLIPWAY_STORE", store);
    let out = c
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("image-store: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err.lines().last().unwrap_or("image-store inspect failed");
        return Err(line
            .strip_prefix("image-store: error: ")
            .unwrap_or(line)
            .to_string());
    }
    let mut v: Vec<InspectRecord> = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("image-store inspect {reference}: unexpected output: {e}"))?;
    if v.is_empty() {
        return Err(format!("no such image: {reference}"));
    }
    let e = v.remove(0);
    Ok(Inspected {
        digest: e.digest.to_string(),
        id: e.id.to_string(),
        config: e.container_config(),
    })
}

/// The text after the instruction keyword.
fn strip_keyword(original: &str) -> &str {
    let t = original.trim_start();
    t[t.find(char::is_whitespace).unwrap_or(t.len())..].trim()
}

/// A progress or error text on one line.
fn one_line_text(s: &str) -> String {
    let first = s.lines().next().unwrap_or("");
    if s.lines().count() > 1 {
        format!("{first} …")
    } else {
        first.to_string()
    }
}

fn is_remote(s: &str) -> bool {
    s.contains("://") || s.starts_with("git@")
}

/// A tar or a compressed file, which ADD would extract.
/// Whether ADD unpacks `p`: as Docker's `IsArchivePath`, only what starts
/// a tar once decompressed; a gzip of a plain file is copied as it is.
fn is_archive(p: &std::path::Path) -> bool {
    use std::io::Read;
    let Ok(f) = std::fs::File::open(p) else {
        return false;
    };
    let Ok((_, r)) = slipway_common::compress::decompress_archive(f) else {
        return false;
    };
    let mut head = Vec::with_capacity(512);
    if r.take(512).read_to_end(&mut head).is_err() {
        return false;
    }
    starts_a_tar(&head)
}

/// Whether `h` is a tar header block: ustar's magic, or (for old v7
/// tars) a checksum that adds up, as Go's archive/tar accepts them.
fn starts_a_tar(h: &[u8]) -> bool {
    if h.len() < 512 || h.iter().all(|b| *b == 0) {
        return false;
    }
    if &h[257..262] == b"ustar" {
        return true;
    }
    let field = String::from_utf8_lossy(&h[148..156]);
    let Ok(want) = u32::from_str_radix(field.trim_matches(|c: char| c == '\0' || c == ' '), 8)
    else {
        return false;
    };
    let sum: u32 = h[..512]
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(*b)
            }
        })
        .sum();
    sum == want
}

#[cfg(test)]
mod tests {
    use super::meta::{go_quote_list, port_keys};
    use super::run::run_history;
    use super::*;

    #[test]
    fn history_texts_are_buildkits() {
        assert_eq!(
            go_quote_list(&["/bin/sh".into(), "-c".into(), "echo \"hi\"".into()]),
            r#"["/bin/sh" "-c" "echo \"hi\""]"#
        );
        let st = State {
            args: vec![("V".into(), Some("2".into())), ("U".into(), None)],
            env: vec!["U=env".into()],
            ..State::default()
        };
        assert_eq!(
            run_history(&st, &["/bin/sh".into(), "-c".into(), "echo $V".into()]),
            "|2 V=2 U=env /bin/sh -c echo $V"
        );
        assert_eq!(port_keys("80"), ["80/tcp"]);
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_old();
        h.set_path("f").unwrap();
        h.set_size(0);
        h.set_cksum();
        b.append(&h, std::io::empty()).unwrap();
        let v7 = b.into_inner().unwrap();
        assert!(starts_a_tar(&v7), "an old v7 header");
        assert!(!starts_a_tar(&[b'x'; 512]), "text");
        assert!(
            !starts_a_tar(&[0; 1024]),
            "an empty tar holds nothing to unpack"
        );
        assert_eq!(port_keys("53/UDP"), ["53/udp"]);
        assert_eq!(port_keys("8000-8002"), ["8000/tcp", "8001/tcp", "8002/tcp"]);
    }
}
