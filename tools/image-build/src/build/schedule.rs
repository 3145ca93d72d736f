//! Stages that do not depend on each other run at once, each on a
//! driver of its own; a stage waits for those it copies from.

use super::*;

impl<'a> Driver<'a> {
    /// A driver for one stage on a thread of its own: the same build, its
    /// own temp dir for the files its steps pass along.
    pub(super) fn fork(&self, stage: usize) -> Result<Driver<'a>, Error> {
        let Some(r) = self.exec.running() else {
            unreachable!("a printed script builds one stage at a time")
        };
        // Each platform's stages of a multi-platform build apart: a
        // stage's mounts stay until the build's cleanup.
        let tmp = r.tmp.join(format!("{}stage-{stage}", self.tag_prefix));
        std::fs::create_dir_all(&tmp).map_err(|e| Error::Msg(format!("{}: {e}", tmp.display())))?;
        Ok(Driver {
            plan: self.plan,
            ctx: self.ctx,
            tools: self.tools,
            opts: self.opts.clone(),
            exec: Box::new(Runner {
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
            last_key: Default::default(),
            tag_prefix: self.tag_prefix.clone(),
            platform_images: Vec::new(),
            statements: Vec::new(),
        })
    }

    /// Every needed stage on a thread, each waiting for the stages it
    /// needs; the first failure stops the rest at their next step.
    pub(super) fn build_concurrently(&mut self, needed: &[&Stage]) -> Result<(), Error> {
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
    pub(super) fn wait_for(&self, deps: &[usize]) -> Result<(), Error> {
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
}
