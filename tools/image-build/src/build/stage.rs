//! One stage: its base, its ONBUILD triggers, then each step, every one
//! committed as an image of its own.

use super::*;

impl<'a> Driver<'a> {
    pub(super) fn next_tag(&self, stage: usize, step: &str) -> String {
        format!("{}:{}{stage}-{step}", self.repo, self.tag_prefix)
    }

    /// image-assemble: the state's image plus an optional layer and edits
    /// becomes `next`, recorded in the cache under `key`.
    pub(super) fn commit(
        &mut self,
        st: &mut State,
        next: String,
        edits: Vec<Word>,
        layer: Option<Word>,
        key: Option<Digest>,
    ) -> Result<(), Failed> {
        let digestfile = Word::Tmp("digest".into());
        // Layers stay uncompressed in the store: compressed once, if ever,
        // as the image leaves (image-push, image-store save).
        let mut c = Call::new("image-assemble")
            .arg("-q")
            .args(["--compression", "none"])
            .arg("--base")
            .arg(st.image.as_str())
            .arg("-t")
            .arg(next.as_str());
        if self.opts.docker_format {
            c = c.args(["--format", "docker"]);
        }
        // On scratch, the image is of the stage's platform.
        if st.image == "scratch" && !self.platform_is_host() {
            c = c.arg("--platform").arg(self.platform.as_str());
        }
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
        if let Some(r) = self.exec.running() {
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

    pub(super) fn stage(&mut self, stage: &Stage) -> Result<(), Error> {
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
        // The stage's platform: FROM --platform, else the build's target.
        let platform: slipway_common::platform::Platform = stage
            .platform
            .as_deref()
            .unwrap_or(&self.opts.target_platform)
            .parse()
            .map_err(|e| self.err(stage.line, &from_line, format!("--platform: {e}")))?;
        self.platform = platform.to_string();
        let runs = stage
            .steps
            .iter()
            .any(|s| matches!(s.ins, Instruction::Run(_)));
        if runs && !platform.is_native() {
            match platform.emulator() {
                Some(e) if e.fix_binary => {}
                Some(e) => {
                    return Err(self.err(
                        stage.line,
                        &from_line,
                        format!(
                            "the emulator for {platform} ({}) is registered without the fix-binary flag (F): a container's root would have to hold it; register it again with F",
                            e.interpreter.display()
                        ),
                    ))
                }
                None => {
                    return Err(self.err(
                        stage.line,
                        &from_line,
                        format!("RUN for {platform}: {}", slipway_common::platform::no_emulator(&platform)),
                    ))
                }
            }
        }
        let mut st = match self.base_state(stage, &from_line) {
            Err(_) if self.exec.refused() => {
                self.explained(
                    &format!("[{name} 1/{total}] {from_line}"),
                    "would run: the image is not in the store (it would be pulled)",
                );
                State {
                    dirty: true,
                    ..State::default()
                }
            }
            r => r?,
        };
        if self.opts.explain && !st.dirty {
            self.explained(&format!("[{name} 1/{total}] {from_line}"), "cached");
        }
        self.end(from_num, crate::progress::End::Quiet);
        if !st.dirty {
            self.onbuild_triggers(stage, &mut st, &name, total, &from_line)?;
        }
        for (i, step) in stage.steps.iter().enumerate() {
            if self.opts.explain {
                let title = format!(
                    "[{name} {}/{total}] {}",
                    i + 2,
                    one_line_text(&step.original)
                );
                self.explain_step(stage, i, step, &title, &mut st)?;
                continue;
            }
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
            self.last_key.replace(None);
            let parent_ran = st.ran;
            let cached = self.step(&mut st, step, next).inspect_err(|_| {
                self.end(num, crate::progress::End::Failed);
            })?;
            if let Some((parent, inputs)) = self.last_key.take() {
                let ident = format!(
                    "{}|{}|{}|{i}",
                    self.ctx.root.display(),
                    self.opts.file_name,
                    stage.index
                );
                let title = format!(
                    "[{name} {}/{total}] {}",
                    i + 2,
                    one_line_text(&step.original)
                );
                self.after_keyed_step(&super::explain::KeyedStep {
                    ident,
                    title,
                    parent,
                    spec: inputs,
                    cached,
                    parent_ran,
                    first: i == 0,
                });
                st.ran = !cached;
            }
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
    pub(super) fn base_state(&mut self, stage: &Stage, from_line: &str) -> Result<State, Error> {
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
                    .image_for_platform(r)
                    .map_err(|e| self.err(stage.line, from_line, e))?;
                // Pinned by digest: a tag moved during the build does not
                // change it halfway.
                let image = match r.split_once('@') {
                    Some(_) if !found.by_digest_only => r.clone(),
                    _ => found.pin(r),
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
                    ran: false,
                    dirty: false,
                }
            }
        })
    }

    /// The base's ONBUILD triggers, run first as instructions of this
    /// stage at its FROM line; the image this stage makes has them no more.
    pub(super) fn onbuild_triggers(
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
    pub(super) fn step(
        &mut self,
        st: &mut State,
        step: &Step,
        next: String,
    ) -> Result<bool, Error> {
        match &step.ins {
            Instruction::Run(run) => self.run(st, step, run, next),
            Instruction::Copy(c) => self.copy(st, step, c, false, next),
            Instruction::Add(c) => self.copy(st, step, c, true, next),
            _ => self.config_step(st, step, next),
        }
    }
}
