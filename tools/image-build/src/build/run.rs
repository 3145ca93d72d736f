//! RUN: the command in container-run on the stage's image, its writable
//! layer turned into the step's layer by layer-diff; a failed one leaves
//! the state it failed in and a command that opens a shell there.

use super::{Driver, State};
use crate::plan::{Network, Run, Security, Step};
use crate::tools::{render_command, Action, Call, Failed, Out, Word};
use crate::Error;
use serde_json::json;
use slipway_common::digest::Digest;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

/// What one RUN runs and how, before its mounts.
struct Command {
    argv: Vec<String>,
    /// A `#!` heredoc: its name and content, bind mounted read-only.
    script: Option<(String, String)>,
    network: &'static str,
    /// container-run's options for the step's ARGs, WORKDIR and USER.
    opts: Vec<String>,
    history: String,
}

impl Driver<'_> {
    pub(super) fn run(
        &mut self,
        st: &mut State,
        step: &Step,
        run: &Run,
        next: String,
    ) -> Result<bool, Error> {
        let fail = |d: &Driver, m: String| d.err(step.line, &step.original, m);
        let cmd = self.run_command(st, step, run)?;
        let (planned, mount_key) = self.plan_mounts(st, run).map_err(|m| fail(self, m))?;
        let spec = json!({"cmd": "run", "argv": cmd.argv, "opts": cmd.opts, "network": cmd.network,
                          "history": cmd.history, "mounts": mount_key, "script": cmd.script});
        let key = self.key(st, spec.clone());
        // The layers-only key adds the config the command reads: the
        // image's ENV (USER, WORKDIR and the ARGs are in opts already).
        let mut fs_spec = spec;
        fs_spec["env"] = json!(st.env);
        let fs_key = self.fs_key(st, &fs_spec);
        if self
            .reuse(st, &key, &fs_key, &next)
            .map_err(|e| fail(self, e.to_string()))?
        {
            return Ok(true);
        }
        let mut given = self.give_mounts(&planned).map_err(|m| fail(self, m))?;
        if let Some((name, content)) = &cmd.script {
            let file = Word::Tmp(format!("heredoc/{name}"));
            given
                .prep
                .push(Action::Write(file.clone(), content.clone(), 0o755));
            given.done.push(Action::Remove(Word::Tmp("heredoc".into())));
            let path = match self.exec.running() {
                Some(r) => r
                    .tmp
                    .join("heredoc")
                    .join(name)
                    .to_string_lossy()
                    .into_owned(),
                None => format!("$T/heredoc/{name}"),
            };
            given
                .args
                .extend(["-v".into(), format!("{path}:/dev/pipes/{name}:ro").into()]);
        }
        let upper = Word::Tmp("upper".into());
        let layer = Word::Tmp("layer.tar".into());
        // Stopped builds stop their RUN at once: SIGKILL a second after
        // the SIGTERM.
        let mut run = Call::new("container-run").args(["--rm", "--stop-timeout", "1"]);
        // A foreign stage's image runs through its emulator, knowingly.
        if !self.platform_is_host() {
            run = run.args(["--platform", self.platform.as_str()]);
        }
        // Another runtime makes the same layer: it is not in the key, and
        // the debug hint opens its shell with ours (-it needs ours).
        if let Some(rt) = &self.opts.runtime {
            run = run.args(["--runtime", rt.as_str()]);
        }
        let mut run = run
            .arg("--upper")
            .arg(upper.clone())
            .args(["--network", cmd.network, "--entrypoint", ""])
            .args(cmd.opts.clone())
            .args(given.args);
        for (k, v) in given.env {
            run = run.env(&k, v);
        }
        let run = run
            .arg(st.image.as_str())
            .args(cmd.argv.clone())
            .stdout(Out::Progress);
        let mut prep = vec![Action::Remove(upper.clone())];
        prep.extend(given.prep);
        self.act(&prep).map_err(|e| fail(self, e.to_string()))?;
        let ran = self.act(&[Action::Call(run)]);
        // Locked cache mounts are free again once the command is done, and
        // secrets and mount copies gone.
        drop(given.locks);
        let _ = self.act(&given.done);
        if let Err(e) = ran {
            let msg = self.run_failed(st, &cmd, &next, upper, given.hint, e);
            return Err(fail(self, msg));
        }
        self.commit_run(st, next, upper, layer, cmd.history, key)
            .map_err(|m| fail(self, m))?;
        self.advance(st, fs_key);
        Ok(false)
    }

    /// What the RUN runs, with the checks of its flags and stage that
    /// come before anything is made.
    fn run_command(&self, st: &State, step: &Step, run: &Run) -> Result<Command, Error> {
        let fail = |d: &Driver, m: String| d.err(step.line, &step.original, m);
        if !run.flags.device.is_empty() {
            return Err(fail(self, "RUN --device is not supported yet".into()));
        }
        if run.flags.security == Some(Security::Insecure) {
            return Err(fail(
                self,
                "RUN --security=insecure is not supported".into(),
            ));
        }
        let network = match run.flags.network {
            None | Some(Network::Default) => self.opts.network,
            Some(Network::None) => "none",
            Some(Network::Host) => "host",
        };
        if st.image == "scratch" {
            return Err(fail(
                self,
                "the stage is still empty (FROM scratch): there is nothing to run".into(),
            ));
        }
        // A #! heredoc is its own file, bind mounted read-only.
        let mut script_file = None;
        let argv = if step.is_exec() {
            step.args.clone()
        } else {
            match run_script(step) {
                Script::Shell(script) => {
                    let mut v = st.shell.clone();
                    v.push(script);
                    v
                }
                Script::File { name, content } => {
                    if name.contains('/') || name.contains(':') || name == "." || name == ".." {
                        return Err(fail(self, format!("{name:?} cannot name a heredoc script")));
                    }
                    let path = format!("/dev/pipes/{name}");
                    script_file = Some((name, content));
                    vec![path]
                }
            }
        };
        // The container: the ARGs as environment for this command only;
        // the image's own ENV, USER and WORKDIR are in its config.
        let mut opts: Vec<String> = vec![];
        for kv in st.run_args() {
            opts.extend(["-e".into(), kv]);
        }
        opts.extend(["-w".into(), st.workdir.clone()]);
        if !st.user.is_empty() {
            opts.extend(["-u".into(), st.user.clone()]);
        }
        let history = format!("RUN {} # buildkit", run_history(st, &argv));
        Ok(Command {
            argv,
            script: script_file,
            network,
            opts,
            history,
        })
    }

    /// After the command failed: the error's text, with the command that
    /// opens a shell where it failed. `hint` is the mounts' options
    /// without the build's temp files.
    fn run_failed(
        &mut self,
        st: &State,
        cmd: &Command,
        next: &str,
        upper: Word,
        hint: Vec<String>,
        e: Failed,
    ) -> String {
        let status = match e.status {
            Some(n) => format!("exit status {n}"),
            None => "killed by a signal".to_string(),
        };
        let cause = if e.message.is_empty() {
            status
        } else {
            format!("{status} ({})", e.message)
        };
        // The state it failed in: what the command changed before it
        // failed, as an image on the one it started from (kept, by a
        // build-private name), unless the build is being stopped.
        let stopping =
            crate::signals::caught().is_some() || self.shared.failed.load(Ordering::SeqCst);
        let failed_at = if stopping {
            None
        } else {
            self.keep_failed_state(st, next, &upper, &cmd.history, &cause)
        };
        // One command that opens a shell where the step failed: that
        // state, the step's environment, user and workdir.
        let mut dbg: Vec<String> = vec!["--rm".into(), "-it".into()];
        if let Some(s) = &self.opts.store_flag {
            dbg.extend(["--store".into(), s.clone()]);
        }
        dbg.extend([
            "--network".into(),
            cmd.network.into(),
            "--entrypoint".into(),
            "".into(),
        ]);
        dbg.extend(cmd.opts.iter().cloned());
        dbg.extend(hint);
        dbg.push(failed_at.clone().unwrap_or_else(|| st.image.clone()));
        dbg.push(
            st.shell
                .first()
                .cloned()
                .unwrap_or_else(|| "/bin/sh".into()),
        );
        // Kept for the hint, unless the build is being stopped.
        if !stopping {
            self.keep = Some(failed_at.unwrap_or_else(|| st.image.clone()));
        }
        let _ = self.act(&[Action::Remove(upper)]);
        format!(
            "{cause}; to debug it: {}",
            render_command("container-run", &dbg)
        )
    }

    /// The command's writable layer as the step's layer, committed as
    /// `next`.
    fn commit_run(
        &mut self,
        st: &mut State,
        next: String,
        upper: Word,
        layer: Word,
        history: String,
        key: Option<Digest>,
    ) -> Result<(), String> {
        // The root it ran on, so that directories overlay marked opaque
        // become what BuildKit's differ writes (whiteouts of what they
        // hid, nothing where nothing was).
        let (root, mut actions, done) = self.root_under(st)?;
        actions.push(Action::Call(
            Call::new("layer-diff")
                .arg("--upper")
                .arg(upper.clone())
                .arg("--lower")
                .arg(root)
                .arg("--fix-upper")
                .stdout(Out::File(layer.clone())),
        ));
        let diffed = self.act(&actions);
        let _ = self.act(&done);
        diffed.map_err(|e| e.to_string())?;
        // The upper dir is the layer unpacked: the store keeps it as such,
        // and the next RUN stacks it instead of extracting the layer.
        self.commit(
            st,
            next,
            vec![
                "--unpacked".into(),
                upper.clone(),
                "--history".into(),
                history.into(),
            ],
            Some(layer.clone()),
            key,
        )
        .map_err(|e| e.to_string())?;
        self.act(&[Action::Remove(upper), Action::Remove(layer)])
            .map_err(|e| e.to_string())
    }

    /// A failed RUN's writable layer committed on the image it started
    /// from, under `NEXT-failed`: the name of the state it failed in, or
    /// None when that cannot be made (then the hint starts from before).
    fn keep_failed_state(
        &mut self,
        st: &State,
        next: &str,
        upper: &Word,
        history: &str,
        cause: &str,
    ) -> Option<String> {
        let layer = Word::Tmp("failed-layer.tar".into());
        let name = format!("{next}-failed");
        let actions = [
            Action::Call(
                Call::new("layer-diff")
                    .arg("--upper")
                    .arg(upper.clone())
                    .stdout(Out::File(layer.clone())),
            ),
            Action::Call(
                Call::new("image-assemble")
                    .arg("-q")
                    .args(["--compression", "none"])
                    .arg("--base")
                    .arg(st.image.as_str())
                    .arg("-t")
                    .arg(name.as_str())
                    .arg("--history")
                    .arg(format!("{history} (failed: {cause})"))
                    .arg(layer.clone()),
            ),
        ];
        let made = self.act(&actions).is_ok();
        let _ = self.act(&[Action::Remove(layer)]);
        made.then(|| {
            self.temps.push(name.clone());
            name
        })
    }
}

/// What a shell-form RUN runs.
enum Script {
    /// A script for the stage's SHELL.
    Shell(String),
    /// A heredoc that starts with `#!`: a file of its own, run as
    /// `/dev/pipes/NAME` so its first line picks the interpreter, as
    /// BuildKit runs it.
    File { name: String, content: String },
}

/// The script of a shell-form RUN, heredocs as BuildKit treats them: a
/// RUN that is only `<<EOF` runs the body; otherwise the heredocs are put
/// back after the command line for the shell to read.
fn run_script(step: &Step) -> Script {
    let cmdline = step.args.join(" ");
    if step.heredocs.is_empty() {
        return Script::Shell(cmdline);
    }
    let first = &step.heredocs[0];
    if step.heredocs.len() == 1 && is_lone_heredoc(&cmdline, &first.name) {
        let body = if first.chomp {
            crate::plan::chomp(&first.content)
        } else {
            first.content.clone()
        };
        if body.starts_with("#!") {
            return Script::File {
                name: first.name.clone(),
                content: body,
            };
        }
        return Script::Shell(body);
    }
    let mut full = cmdline;
    for h in &step.heredocs {
        full.push('\n');
        full.push_str(&h.content);
        full.push_str(&h.name);
    }
    Script::Shell(full)
}

/// Whether a command line is just `<<NAME` (`<<-`, quotes allowed).
fn is_lone_heredoc(cmdline: &str, name: &str) -> bool {
    let Some(rest) = cmdline.trim().strip_prefix("<<") else {
        return false;
    };
    let rest = rest.strip_prefix('-').unwrap_or(rest).trim();
    let unquoted = rest
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .or_else(|| rest.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')))
        .unwrap_or(rest);
    unquoted == name
}

/// BuildKit's history text of a RUN: `|N K=V… ` for the stage's ARGs, then
/// the command.
pub(super) fn run_history(st: &State, argv: &[String]) -> String {
    let lookup = st.lookup();
    let mut args: Vec<String> = vec![];
    let mut seen = BTreeSet::new();
    for (k, v) in &st.args {
        if seen.insert(k.clone()) {
            let v = lookup.get(k).cloned().or(v.clone()).unwrap_or_default();
            args.push(format!("{k}={v}"));
        }
    }
    let mut parts = vec![];
    if !args.is_empty() {
        parts.push(format!("|{}", args.len()));
        parts.extend(args);
    }
    parts.extend(argv.iter().cloned());
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_heredoc_is_the_whole_script() {
        assert!(is_lone_heredoc("<<EOF", "EOF"));
        assert!(is_lone_heredoc("<<-'EOT'", "EOT"));
        assert!(!is_lone_heredoc("cat <<EOF", "EOF"));
    }
}
