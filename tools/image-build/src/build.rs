//! The driver: walks the plan's stages and turns each instruction into
//! calls of the other tools (see `tools`). Every step makes a new image in
//! the store under a build-private tag, so the next step, a debug shell or
//! a rerun of one line of the script can name it.

mod cache;
mod copy;
pub mod executor;
mod explain;
mod files_out;
mod images;
mod meta;
mod named_ctx;
pub mod platforms;
pub mod provenance;
mod remote_cache;
mod run;
mod run_mounts;
mod schedule;
mod source_kind;
pub mod ssh;
mod stage;
mod state;

pub use run_mounts::SecretSource;

use crate::context::Context;
use crate::digests::StatCache;
use crate::plan::{Base, Instruction, Plan, Source, Stage, Step};
use crate::tools::{Action, Call, Failed, Out, Runner, Tools, Word};
use crate::Error;
use cache::lits;
use executor::Executor;
use serde_json::json;
use slipway_common::buildcache;
use slipway_common::compress::{Compression, Settings};
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
    /// Reached by its digest alone: found by a short name under the name
    /// registries.conf made of it (which the name as given does not
    /// reach), or an image of a multi-platform image (which its name
    /// names as a whole).
    pub by_digest_only: bool,
    /// The platform its config names.
    pub platform: slipway_common::platform::Platform,
}

impl Inspected {
    /// The image pinned by digest, so a tag moved during the build does
    /// not change it halfway: `NAME@DIGEST`, or the digest alone where
    /// the name would not find it again.
    pub fn pin(&self, r: &str) -> String {
        if self.by_digest_only {
            return self.digest.clone();
        }
        format!("{}@{}", r.split('@').next().unwrap_or(r), self.digest)
    }
}

#[derive(Clone)]
pub struct Options {
    pub file_name: String,
    pub network: &'static str,
    pub progress: Arc<crate::progress::Progress>,
    pub labels: Vec<(String, String)>,
    /// --platform: what the stages build for unless their FROM
    /// --platform says otherwise (the host's by default).
    pub target_platform: String,
    /// --explain: a dry run that says which steps would run, and why.
    pub explain: bool,
    /// --build-context: by name.
    pub contexts: std::collections::BTreeMap<String, crate::named::NamedContext>,
    /// --annotation: on the final image's manifest.
    pub annotations: Vec<(String, String)>,
    /// --provenance: what a statement about each image records.
    pub provenance: Option<provenance::Inputs>,
    /// --format docker: Docker schema 2 manifests (and manifest list).
    pub docker_format: bool,
    /// --annotation manifest-descriptor:…: on each image's index entry.
    pub entry_annotations: Vec<(String, String)>,
    /// --annotation index:…: on the index of a multi-platform build.
    pub index_annotations: Vec<(String, String)>,
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
    pub output: Option<crate::outputs::Output>,
    /// --push: every tag goes to its registry.
    pub push: bool,
    /// --compression and --compression-level: what the layers become as
    /// they leave.
    pub compression: Settings,
    /// Whether --compression-level was given (image-push and image-store
    /// save are told it only then).
    pub compression_level: Option<i32>,
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
    /// --ssh: id and where its agent is.
    pub ssh: Vec<(String, ssh::SshSource)>,
    /// --secret: id and where its bytes come from.
    pub secrets: Vec<(String, SecretSource)>,
}

impl Options {
    /// --compression and --compression-level as image-push and
    /// image-store save take them.
    pub fn compression_args(&self) -> Vec<String> {
        let kind = match self.compression.kind {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::None => "none",
        };
        let mut out = vec!["--compression".to_string(), kind.to_string()];
        if let Some(l) = self.compression_level {
            out.extend(["--compression-level".to_string(), l.to_string()]);
        }
        out
    }
}

pub struct Driver<'a> {
    pub plan: &'a Plan,
    pub ctx: &'a Context,
    pub tools: &'a Tools,
    pub opts: Options,
    pub exec: Box<dyn Executor<'a> + Send + 'a>,
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
    /// What the last keyed step's key was made of (its parent and
    /// inputs), for the explanation of a miss.
    last_key: std::cell::RefCell<Option<(String, serde_json::Value)>>,
    /// Before every step's tag in a multi-platform build: its platform's.
    tag_prefix: String,
    /// A multi-platform build's images, by platform, once built.
    platform_images: Vec<(String, String)>,
    /// The provenance predicates attached, by platform.
    pub statements: Vec<(String, serde_json::Value)>,
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
    /// The ssh-agents started for --ssh key files.
    ssh: ssh::Agents,
    /// The steps that missed the cache, and why.
    misses: Mutex<Vec<explain::Miss>>,
    /// The images read from outside (FROM, COPY --from, RUN --mount
    /// from=), for --provenance.
    materials: Mutex<Vec<provenance::Material>>,
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
        exec: Box<dyn Executor<'a> + Send + 'a>,
        build_id: &str,
    ) -> Driver<'a> {
        let escape = plan.escape.chars().next().unwrap_or('\\');
        // One stat cache per context directory, in the store.
        let stat = exec.running().is_some().then(|| {
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
        let platform = opts.target_platform.clone();
        Driver {
            plan,
            ctx,
            tools,
            opts,
            exec,
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
                misses: Mutex::new(Vec::new()),
                materials: Mutex::new(Vec::new()),
                ssh: Default::default(),
            }),
            rootfs: HashMap::new(),
            mounted: vec![],
            platform,
            num: 0,
            concurrent: false,
            started: Instant::now(),
            last_key: Default::default(),
            tag_prefix: String::new(),
            platform_images: Vec::new(),
            statements: Vec::new(),
        }
    }

    fn script(&self) -> bool {
        self.exec.running().is_none()
    }

    /// A line about step `num` that is not a step of its own (pulling,
    /// pushing); a comment in a printed script.
    fn say(&mut self, num: usize, text: String) {
        self.exec.note(num, &text);
    }

    /// Step `num` begins: `[stage i/n] INSTRUCTION`.
    fn begin(&mut self, num: usize, header: String) {
        self.exec.begin(num, &header);
    }

    fn end(&self, num: usize, how: crate::progress::End) {
        self.exec.end(num, how);
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
        self.exec
            .act(actions)
            .map_err(|e| match crate::signals::caught() {
                // The tool died of the signal that stops the build.
                Some(sig) => Failed {
                    tool: e.tool,
                    status: e.status,
                    message: format!("interrupted by {}", crate::signals::name(sig)),
                },
                None => e,
            })
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

    /// Whether the stage being built is of the host's platform.
    pub(super) fn platform_is_host(&self) -> bool {
        self.platform
            .parse::<slipway_common::platform::Platform>()
            .map_or(true, |p| p.is_native())
    }

    /// Builds the stages the target needs: one after the other in a
    /// script, else each on a thread of its own as soon as the stages it
    /// needs are built, so stages that do not depend on each other run at
    /// the same time.
    /// Builds the target, then names it, writes it out and pushes it as
    /// asked.
    pub fn build(&mut self) -> Result<Built, Error> {
        let Some(fin) = self.build_image()? else {
            return Ok(Built {
                reference: String::new(),
            });
        };
        // With a provenance, the image goes out as an index of it and its
        // attestation, as BuildKit sends it.
        if self.opts.provenance.is_some() {
            let materials = self.take_materials();
            let platform = self.opts.target_platform.clone();
            let index = self.join(&[(platform, fin, materials)])?;
            return self.publish(index);
        }
        self.publish(fin)
    }

    /// Builds the target stage and gives back the name of its image
    /// (None for --explain, which builds nothing).
    fn build_image(&mut self) -> Result<Option<String>, Error> {
        let plan = self.plan;
        let needed: Vec<&Stage> = plan.stages.iter().filter(|s| s.needed).collect();
        if !self.opts.cache_from.is_empty() {
            self.load_remote_cache().map_err(Error::Msg)?;
        }
        let built = if self.script() || needed.len() == 1 || self.opts.explain {
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
        if self.opts.explain {
            return Ok(None);
        }
        let mut fin = lock(&self.shared.results)
            .remove(&plan.target)
            .unwrap_or_default();
        if !self.opts.labels.is_empty()
            || !self.opts.annotations.is_empty()
            || fin.image == "scratch"
        {
            let next = self.next_tag(plan.target, "final");
            let mut edits: Vec<Word> = vec![];
            let mut texts = vec![];
            for (k, v) in &self.opts.labels {
                edits.push("-l".into());
                edits.push(format!("{k}={v}").into());
                texts.push(format!("{k}={v}"));
            }
            for (k, v) in &self.opts.annotations {
                edits.push("--annotation".into());
                edits.push(format!("{k}={v}").into());
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
        Ok(Some(fin.image))
    }

    /// Names the built image (or index) `image` with the tags, writes it
    /// to --output and pushes it.
    fn publish(&mut self, image: String) -> Result<Built, Error> {
        let mut actions = vec![];
        for t in &self.opts.tags {
            actions.push(Action::Call(
                Call::new("image-store")
                    .arg("tag")
                    .arg(image.as_str())
                    .arg(t.as_str()),
            ));
        }
        self.act(&actions).map_err(|e| Error::Msg(e.to_string()))?;
        let mut exports = vec![];
        if let Some(o) = self.opts.output.clone() {
            if let Some(files) = self.files_out(&image, &o) {
                exports.extend(files);
            }
        }
        if let Some(crate::outputs::Output::Image(out)) = self.opts.output.clone() {
            self.num = self.next_number();
            self.say(self.num, format!("writing the image to {out}"));
            let stdout =
                slipway_common::export::Destination::parse(&out).is_ok_and(|d| d.is_stdout());
            let to = if stdout { Out::Stdout } else { Out::Discard };
            // A docker-archive carries the --tag names, never the build's
            // private ones.
            let mut save = Call::new("image-store")
                .arg("save")
                .args(self.opts.compression_args());
            if self.opts.tags.is_empty() {
                save = save.args(["--name", ""]);
            }
            for t in &self.opts.tags {
                save = save.arg("--name").arg(t.as_str());
            }
            exports.push(Action::Call(
                save.arg(image.as_str()).arg(out.as_str()).stdout(to),
            ));
        }
        if self.opts.push {
            for t in self.opts.tags.clone() {
                self.num = self.next_number();
                self.say(self.num, format!("pushing {t}"));
                exports.push(Action::Call(
                    Call::new("image-push")
                        .arg("-q")
                        .args(self.opts.compression_args())
                        .arg(image.as_str())
                        .arg(format!("docker://{t}")),
                ));
            }
        }
        self.act(&exports).map_err(|e| Error::Msg(e.to_string()))?;
        self.export_cache().map_err(Error::Msg)?;
        let reference = match self.opts.tags.first() {
            Some(t) => t.clone(),
            // An image written to --output needs no name in the store.
            None if self.opts.output.is_some() => image.clone(),
            // Its own name, apart from the steps' (which gc removes once
            // the build is over): the build's result, as docker keeps an
            // untagged one.
            None => {
                let name = format!("{}:latest", self.repo);
                let tag = Call::new("image-store")
                    .arg("tag")
                    .arg(image.as_str())
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

    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
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
        assert_eq!(port_keys("53/UDP"), ["53/udp"]);
        assert_eq!(port_keys("8000-8002"), ["8000/tcp", "8001/tcp", "8002/tcp"]);
    }
}
