//! The calls image-build makes to the other tools, as data: the same list
//! either runs (one process per call, a pipe where two are joined) or is
//! printed as a POSIX shell script (`--print-script`), so what the script
//! does is exactly what the build does.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::progress::{Progress, Style};

/// The tools the driver calls.
pub const TOOLS: [&str; 7] = [
    "dockerfile-parse",
    "container-run",
    "layer-diff",
    "image-assemble",
    "image-store",
    "image-pull",
    "image-push",
];

/// A word of a command line: literal text, or a path inside the build's
/// temporary directory (`$T` in the script).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Word {
    Lit(String),
    Tmp(String),
}

impl From<&str> for Word {
    fn from(s: &str) -> Word {
        Word::Lit(s.to_string())
    }
}

impl From<String> for Word {
    fn from(s: String) -> Word {
        Word::Lit(s)
    }
}

impl From<&Path> for Word {
    fn from(p: &Path) -> Word {
        Word::Lit(p.to_string_lossy().into_owned())
    }
}

/// Where a call's stdout goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Out {
    /// Not wanted (`>/dev/null`).
    Discard,
    /// Into a file (`> FILE`).
    File(Word),
    /// The build's output stream: a RUN's output, shown on stderr as
    /// progress (`>&2`).
    Progress,
    /// The build's own stdout (an image written there by --output).
    Stdout,
}

/// One tool call.
#[derive(Clone, Debug)]
pub struct Call {
    pub tool: &'static str,
    pub args: Vec<Word>,
    pub stdout: Out,
    /// Read from this file (`< FILE`) instead of nothing.
    pub stdin: Option<Word>,
    /// Joined by a pipe to this call's stdin (then `stdout` is unused).
    pub pipe_to: Option<Box<Call>>,
    /// Variables for this process alone: how a secret reaches container-run
    /// (`-e NAME` passes it on) without showing on any command line.
    pub env: Vec<(String, std::ffi::OsString)>,
}

impl Call {
    pub fn new(tool: &'static str) -> Call {
        Call {
            tool,
            args: vec![],
            stdout: Out::Discard,
            stdin: None,
            pipe_to: None,
            env: vec![],
        }
    }
    pub fn env(mut self, name: &str, value: std::ffi::OsString) -> Call {
        self.env.push((name.to_string(), value));
        self
    }
    pub fn stdin(mut self, w: Word) -> Call {
        self.stdin = Some(w);
        self
    }
    pub fn arg(mut self, w: impl Into<Word>) -> Call {
        self.args.push(w.into());
        self
    }
    pub fn args<W: Into<Word>>(mut self, ws: impl IntoIterator<Item = W>) -> Call {
        self.args.extend(ws.into_iter().map(Into::into));
        self
    }
    pub fn stdout(mut self, o: Out) -> Call {
        self.stdout = o;
        self
    }
    pub fn pipe(mut self, next: Call) -> Call {
        self.pipe_to = Some(Box::new(next));
        self
    }
}

/// One thing a step does.
#[derive(Clone, Debug)]
pub enum Action {
    Call(Call),
    /// Remove a temporary path (`rm -rf`), so a call starts afresh.
    Remove(Word),
    /// An empty directory, created afresh.
    Mkdir(Word),
    /// A directory made if missing (`mkdir -p`), what it holds kept: a
    /// user's destination.
    EnsureDir(Word),
    /// A file with this text and mode (a heredoc), its directory made.
    Write(Word, String, u32),
}

/// A call that failed: the tool, its exit status, and its error line.
#[derive(Debug)]
pub struct Failed {
    pub tool: &'static str,
    pub status: Option<i32>,
    pub message: String,
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.message.is_empty() {
            f.write_str(&self.message)
        } else {
            match self.status {
                Some(s) => write!(f, "{} failed: exit status {s}", self.tool),
                None => write!(f, "{} was killed by a signal", self.tool),
            }
        }
    }
}

/// Where each tool is: beside our own executable, else in PATH.
#[derive(Clone, Debug)]
pub struct Tools {
    paths: Vec<(&'static str, PathBuf)>,
}

impl Tools {
    pub fn find() -> Result<Tools, String> {
        let mut paths = Vec::new();
        for t in TOOLS {
            match slipway_common::cli::find_tool(t) {
                Some(p) => paths.push((t, p)),
                None => {
                    return Err(format!(
                        "{t} is not installed: it is looked for beside image-build and in PATH"
                    ))
                }
            }
        }
        Ok(Tools { paths })
    }

    pub fn path(&self, tool: &str) -> &Path {
        self.paths
            .iter()
            .find(|(t, _)| *t == tool)
            .map(|(_, p)| p.as_path())
            .expect("every tool is found before the build starts")
    }

    /// The directories the tools are in, for the script's PATH.
    pub fn dirs(&self) -> Vec<PathBuf> {
        let set: BTreeSet<PathBuf> = self
            .paths
            .iter()
            .filter_map(|(_, p)| p.parent().map(Path::to_path_buf))
            .collect();
        set.into_iter().collect()
    }
}

/// Runs actions for real.
pub struct Runner<'a> {
    pub tools: &'a Tools,
    pub tmp: PathBuf,
    pub store: PathBuf,
    /// Where RUN output and the tools' warnings go.
    pub progress: std::sync::Arc<Progress>,
    /// The step the calls run for (whose output they are).
    pub step: std::cell::Cell<usize>,
}

impl Runner<'_> {
    fn word(&self, w: &Word) -> OsString {
        match w {
            Word::Lit(s) => s.into(),
            Word::Tmp(rel) => self.tmp.join(rel).into_os_string(),
        }
    }

    fn command(&self, c: &Call) -> Command {
        let mut cmd = Command::new(self.tools.path(c.tool));
        cmd.args(c.args.iter().map(|w| self.word(w)))
            .envs(c.env.iter().map(|(k, v)| (k, v)))
            .env("SLIPWAY_STORE", &self.store)
            .stdin(Stdio::null())
            .stderr(Stdio::piped());
        // A build killed outright (kill -9) takes its tools with it: a
        // RUN's container-run gets SIGTERM and stops its container,
        // rather than running it to the end with nobody to read it.
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: prctl, getppid and raise are async-signal-safe; nothing
        // is allocated between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                // Died before the prctl took: no signal would come.
                if libc::getppid() != parent {
                    libc::raise(libc::SIGTERM);
                }
                Ok(())
            });
        }
        cmd
    }

    fn stdout_for(&self, o: &Out) -> Result<Stdio, Failed> {
        Ok(match o {
            Out::Discard => Stdio::null(),
            Out::File(w) => {
                let p = self.word(w);
                let f = std::fs::File::create(&p).map_err(|e| Failed {
                    tool: "image-build",
                    status: None,
                    message: format!("{}: {e}", PathBuf::from(&p).display()),
                })?;
                Stdio::from(f)
            }
            // Plain progress passes RUN output straight through; tty
            // progress reads it (see call).
            Out::Progress => match self.progress.style() {
                Style::Plain => std::io::stderr()
                    .as_fd()
                    .try_clone_to_owned()
                    .map(Stdio::from)
                    .unwrap_or_else(|_| Stdio::null()),
                Style::Tty => Stdio::piped(),
                Style::Quiet => Stdio::null(),
            },
            Out::Stdout => Stdio::inherit(),
        })
    }

    pub fn run(&self, a: &Action) -> Result<(), Failed> {
        let fs_err = |p: &OsString, e: std::io::Error| Failed {
            tool: "image-build",
            status: None,
            message: format!("{}: {e}", PathBuf::from(p).display()),
        };
        match a {
            Action::Remove(w) => {
                let p = self.word(w);
                match std::fs::symlink_metadata(&p) {
                    Ok(m) if m.is_dir() => std::fs::remove_dir_all(&p).map_err(|e| fs_err(&p, e)),
                    Ok(_) => std::fs::remove_file(&p).map_err(|e| fs_err(&p, e)),
                    Err(_) => Ok(()),
                }
            }
            Action::EnsureDir(w) => {
                let p = self.word(w);
                std::fs::create_dir_all(&p).map_err(|e| fs_err(&p, e))
            }
            Action::Mkdir(w) => {
                self.run(&Action::Remove(w.clone()))?;
                let p = self.word(w);
                std::fs::create_dir_all(&p).map_err(|e| fs_err(&p, e))
            }
            Action::Write(w, data, mode) => {
                use std::os::unix::fs::PermissionsExt;
                let p = PathBuf::from(self.word(w));
                let err = |e| fs_err(&p.as_os_str().to_owned(), e);
                if let Some(d) = p.parent() {
                    std::fs::create_dir_all(d).map_err(err)?;
                }
                std::fs::write(&p, data).map_err(err)?;
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode)).map_err(err)
            }
            Action::Call(c) => self.call(c),
        }
    }

    /// Starts a call; the guard passes a signal on to it while it runs.
    fn spawn(
        &self,
        c: &Call,
        cmd: &mut Command,
    ) -> Result<(Child, StderrReader, Option<crate::signals::Child>), Failed> {
        let mut child = cmd.spawn().map_err(|e| Failed {
            tool: c.tool,
            status: None,
            message: format!("{}: {e}", self.tools.path(c.tool).display()),
        })?;
        let guard = crate::signals::register(child.id());
        let stderr = child.stderr.take().expect("stderr is piped");
        let reader = StderrReader::start(c.tool, stderr, self.progress.clone(), self.step.get());
        // A RUN's own output, read for tty progress.
        let ours = c.stdout == Out::Progress && c.pipe_to.is_none();
        if let Some(out) = ours.then(|| child.stdout.take()).flatten() {
            let (p, step) = (self.progress.clone(), self.step.get());
            std::thread::spawn(move || {
                for line in BufReader::new(out).split(b'\n').map_while(Result::ok) {
                    p.output(step, &String::from_utf8_lossy(&line));
                }
            });
        }
        Ok((child, reader, guard))
    }

    fn call(&self, c: &Call) -> Result<(), Failed> {
        let mut first = self.command(c);
        if let Some(w) = &c.stdin {
            let p = self.word(w);
            let f = std::fs::File::open(&p).map_err(|e| Failed {
                tool: "image-build",
                status: None,
                message: format!("{}: {e}", PathBuf::from(&p).display()),
            })?;
            first.stdin(Stdio::from(f));
        }
        match &c.pipe_to {
            None => {
                first.stdout(self.stdout_for(&c.stdout)?);
                let (mut child, reader, guard) = self.spawn(c, &mut first)?;
                let status = child.wait();
                // Reaped: its pid may be anyone's now.
                drop(guard);
                finish(c.tool, status, reader)
            }
            Some(next) => {
                first.stdout(Stdio::piped());
                let (mut a, ra, _ga) = self.spawn(c, &mut first)?;
                drop(first);
                let pipe = a.stdout.take().expect("stdout is piped");
                let mut second = self.command(next);
                second
                    .stdin(Stdio::from(pipe))
                    .stdout(self.stdout_for(&next.stdout)?);
                let spawned = self.spawn(next, &mut second);
                // The Command keeps its copy of the pipe's read end: were
                // it kept, a reader that dies would leave the writer
                // blocked on a full pipe for ever.
                drop(second);
                let (mut b, rb, gb) = match spawned {
                    Ok(x) => x,
                    Err(e) => {
                        let _ = a.kill();
                        let _ = a.wait();
                        return Err(e);
                    }
                };
                let sb = b.wait();
                drop(gb);
                let reader_failed = !sb.as_ref().is_ok_and(|s| s.success());
                if reader_failed {
                    let _ = a.kill();
                }
                let sa = a.wait();
                drop(_ga);
                let wrote = finish(c.tool, sa, ra);
                let read = finish(next.tool, sb, rb);
                // The writer's own error explains a reader's failure best,
                // unless we stopped the writer because the reader failed.
                match (wrote, read) {
                    (Err(w), Err(r)) if reader_failed && w.message.is_empty() => Err(r),
                    (Err(w), _) => Err(w),
                    (Ok(()), r) => r,
                }
            }
        }
    }
}

fn finish(
    tool: &'static str,
    status: std::io::Result<std::process::ExitStatus>,
    reader: StderrReader,
) -> Result<(), Failed> {
    let lines = reader.join();
    let status = status.map_err(|e| Failed {
        tool,
        status: None,
        message: format!("{tool}: {e}"),
    })?;
    if status.success() {
        return Ok(());
    }
    let prefix = format!("{tool}: error:");
    let message = lines
        .iter()
        .rev()
        .find(|l| l.starts_with(&prefix))
        .cloned()
        .unwrap_or_default();
    Err(Failed {
        tool,
        status: status.code(),
        message,
    })
}

/// Reads a child's stderr on a thread: keeps its error lines, and shows
/// container-run's (the RUN's own output) and every tool's warnings.
struct StderrReader {
    handle: std::thread::JoinHandle<Vec<String>>,
}

impl StderrReader {
    fn start(
        tool: &'static str,
        stderr: impl Read + Send + 'static,
        progress: std::sync::Arc<Progress>,
        step: usize,
    ) -> StderrReader {
        let handle = std::thread::spawn(move || {
            let mut kept = Vec::new();
            let prefix = format!("{tool}: ");
            for line in BufReader::new(stderr).split(b'\n') {
                let Ok(line) = line else { break };
                let line = String::from_utf8_lossy(&line).into_owned();
                let ours = line.starts_with(&prefix);
                if line.contains(": warning:") {
                    progress.warn(&line);
                } else if tool == "container-run" {
                    progress.output(step, &line);
                }
                if ours {
                    kept.push(line);
                    if kept.len() > 50 {
                        kept.remove(0);
                    }
                }
            }
            kept
        });
        StderrReader { handle }
    }

    fn join(self) -> Vec<String> {
        self.handle.join().unwrap_or_default()
    }
}

/// Quotes a word for a POSIX shell.
/// What a tool said when it failed, without its `TOOL: error: ` prefix
/// (the build says which step failed in its own words): its last error
/// line, else its last line.
pub fn tool_error(tool: &str, stderr: &str) -> String {
    let prefix = format!("{tool}: error: ");
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with(&prefix))
        .or_else(|| stderr.lines().last())
        .unwrap_or("");
    match line.strip_prefix(&prefix).unwrap_or(line) {
        "" => format!("{tool} failed"),
        m => m.to_string(),
    }
}

pub fn sh_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&c));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn render_word(w: &Word) -> String {
    match w {
        Word::Lit(s) => sh_quote(s),
        Word::Tmp(rel) => format!("\"$T\"/{}", sh_quote(rel)),
    }
}

fn render_call(c: &Call) -> String {
    let mut s = c.tool.to_string();
    for w in &c.args {
        s.push(' ');
        s.push_str(&render_word(w));
    }
    if let Some(w) = &c.stdin {
        s.push_str(" < ");
        s.push_str(&render_word(w));
    }
    match &c.pipe_to {
        Some(next) => {
            s.push_str(" | ");
            s.push_str(&render_call(next));
        }
        None => match &c.stdout {
            Out::Discard => s.push_str(" >/dev/null"),
            Out::File(w) => {
                s.push_str(" > ");
                s.push_str(&render_word(w));
            }
            Out::Progress => s.push_str(" >&2"),
            Out::Stdout => {}
        },
    }
    s
}

/// The script line of an action.
pub fn render(a: &Action) -> String {
    match a {
        Action::Call(c) => render_call(c),
        Action::Remove(w) => format!("rm -rf {}", render_word(w)),
        Action::Mkdir(w) => format!("rm -rf {0} && mkdir -p {0}", render_word(w)),
        Action::EnsureDir(w) => format!("mkdir -p {}", render_word(w)),
        Action::Write(w, data, mode) => {
            let dir = match w {
                Word::Tmp(rel) => rel.rsplit_once('/').map(|(d, _)| Word::Tmp(d.to_string())),
                Word::Lit(_) => None,
            };
            let mk = dir
                .map(|d| format!("mkdir -p {} && ", render_word(&d)))
                .unwrap_or_default();
            let f = render_word(w);
            format!(
                "{mk}printf '%s' {} > {f} && chmod {mode:o} {f}",
                sh_quote(data)
            )
        }
    }
}

/// A command line as a user would type it (for the debug hint).
pub fn render_command(tool: &str, args: &[String]) -> String {
    let mut s = tool.to_string();
    for a in args {
        s.push(' ');
        s.push_str(&sh_quote(a));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_error_is_its_last_error_line_without_the_prefix() {
        let err = "warning: x\nimage-store: error: no such image: a\nnote\n";
        assert_eq!(tool_error("image-store", err), "no such image: a");
        assert_eq!(
            tool_error("image-pull", "connection refused\n"),
            "connection refused"
        );
        assert_eq!(tool_error("image-pull", ""), "image-pull failed");
    }

    #[test]
    fn quoting_keeps_words_whole() {
        for (w, want) in [
            ("plain", "plain"),
            ("", "''"),
            ("a b", "'a b'"),
            ("it's", "'it'\\''s'"),
            ("$HOME", "'$HOME'"),
            ("line\nbreak", "'line\nbreak'"),
            ("A=1", "A=1"),
        ] {
            assert_eq!(sh_quote(w), want, "{w:?}");
        }
    }

    #[test]
    fn calls_render_as_script_lines() {
        let c = Call::new("layer-diff")
            .arg("--dir")
            .arg("/ctx/app dir")
            .pipe(
                Call::new("layer-diff")
                    .arg("--apply")
                    .arg(Word::Tmp("s1".into())),
            );
        assert_eq!(
            render(&Action::Call(c)),
            "layer-diff --dir '/ctx/app dir' | layer-diff --apply \"$T\"/s1 >/dev/null"
        );
        let c = Call::new("layer-diff")
            .arg("--upper")
            .arg(Word::Tmp("upper".into()))
            .stdout(Out::File(Word::Tmp("layer.tar".into())));
        assert_eq!(
            render(&Action::Call(c)),
            "layer-diff --upper \"$T\"/upper > \"$T\"/layer.tar"
        );
    }
}
