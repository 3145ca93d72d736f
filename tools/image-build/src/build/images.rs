//! The images a build starts from and reads: inspected through
//! image-store, mounted for a step's tools, and the ONBUILD triggers and
//! stage sources they bring.

use super::*;
use crate::tools::tool_error;

impl<'a> Driver<'a> {
    /// `image-store inspect REF`, run in both modes: only images that
    /// exist before the build are inspected.
    pub fn inspect(&self, reference: &str) -> Result<Inspected, String> {
        inspect(self.tools, reference, &self.opts.store)
    }

    /// ONBUILD triggers as the steps they are: dockerfile-parse reads them
    /// as the instructions of a stage of their own.
    pub(super) fn parse_triggers(&self, triggers: &[String]) -> Result<Vec<Step>, String> {
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
            return Err(tool_error(
                "dockerfile-parse",
                &String::from_utf8_lossy(&out.stderr),
            ));
        }
        let mut plan: Plan = serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("dockerfile-parse printed an unexpected plan: {e}"))?;
        Ok(plan.stages.pop().map(|s| s.steps).unwrap_or_default())
    }

    /// A trigger's COPY --from and RUN --mount from= name this Dockerfile's
    /// stages by name, as the Dockerfile's own instructions do: parsed on
    /// their own they read as images. The stages must be built, or be
    /// being built at the same time (then they are waited for).
    pub(super) fn stage_sources(&self, step: &mut Step) -> Result<(), String> {
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
    pub(super) fn image(&mut self, r: &str) -> Result<Inspected, String> {
        if let Some(ctx) = self.opts.contexts.get(r).cloned() {
            return self.named_context(r, &ctx);
        }
        self.image_by_name(r)
    }

    /// The image `r` of the stage's platform: the store's if it is of it,
    /// else pulled for it (image-pull --platform), as FROM resolves an
    /// image for its platform.
    pub(super) fn image_for_platform(&mut self, r: &str) -> Result<Inspected, String> {
        let found = self.image_for_platform_unrecorded(r)?;
        self.material(r, &found);
        Ok(found)
    }

    fn image_for_platform_unrecorded(&mut self, r: &str) -> Result<Inspected, String> {
        let found = self.image(r)?;
        let Ok(want) = self.platform.parse::<slipway_common::platform::Platform>() else {
            return Ok(found);
        };
        let of = |f: &Inspected| {
            f.platform.architecture.is_empty()
                || want.matches(
                    &f.platform.os,
                    &f.platform.architecture,
                    f.platform.variant.as_deref(),
                )
        };
        if of(&found) {
            return Ok(found);
        }
        // A multi-platform image in the store: its image for this platform.
        if let Ok(mut child) = inspect_for(self.tools, r, &self.opts.store, Some(&want.to_string()))
        {
            if of(&child) && child.digest != found.digest {
                child.by_digest_only = true;
                return Ok(child);
            }
        }
        let named = self.opts.contexts.contains_key(r);
        if self.script() || named {
            return Err(format!("the image is {}, not {want}", found.platform));
        }
        self.say(self.num, format!("pulling {r} for {want}"));
        let pull = Call::new("image-pull")
            .args(["-q", "--platform"])
            .arg(want.to_string())
            .arg(r);
        self.act(&[Action::Call(pull)]).map_err(|e| {
            let m = tool_error("image-pull", &e.to_string());
            format!(
                "the store's image is {}, not {want}, and pulling it for {want} failed: {m}",
                found.platform
            )
        })?;
        lock(&self.shared.pulled).insert(r.to_string());
        let again = self.image_by_name(r)?;
        match of(&again) {
            true => Ok(again),
            false => Err(format!("the image is {}, not {want}", again.platform)),
        }
    }

    /// The image of a name, from the store or pulled (named contexts
    /// aside).
    pub(super) fn image_by_name(&mut self, r: &str) -> Result<Inspected, String> {
        let want_pull = self.opts.pull && !lock(&self.shared.pulled).contains(r);
        // By its whole name: as BuildKit, FROM 0 names the image
        // docker.io/library/0, never an image whose ID starts with 0.
        let name = slipway_common::reference::Reference::parse(r)
            .map(|n| n.to_string())
            .unwrap_or_else(|_| r.to_string());
        // A short name registries.conf sends elsewhere is kept under the
        // name it was found by: the store finds it by the short name.
        let short =
            slipway_common::registries::is_short(r) && !r.bytes().all(|b| b.is_ascii_hexdigit());
        if !want_pull {
            match self.inspect(&name).or_else(|e| match short {
                true => self.by_digest_only(r),
                false => Err(e),
            }) {
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
            let m = tool_error("image-pull", &e.to_string());
            format!("no such image in the store, and pulling it failed: {m}")
        })?;
        lock(&self.shared.pulled).insert(r.to_string());
        self.inspect(&name).or_else(|e| match short {
            true => self.by_digest_only(r),
            false => Err(e),
        })
    }

    fn by_digest_only(&self, r: &str) -> Result<Inspected, String> {
        self.inspect(r).map(|found| Inspected {
            by_digest_only: true,
            ..found
        })
    }

    /// The root filesystem the stage has reached, for a layer made to go
    /// on it: the path to give the tools, the actions that make it there
    /// and those that undo them. A running build mounts each image once;
    /// a script mounts it for the step and unmounts it after.
    pub(super) fn root_under(
        &mut self,
        st: &State,
    ) -> Result<(Word, Vec<Action>, Vec<Action>), String> {
        if !self.script() {
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
    pub(super) fn unpack(&mut self, image: &str) -> Result<std::path::PathBuf, String> {
        let Some(r) = self.exec.running() else {
            return Err("only a running build mounts images".into());
        };
        let tmp = r.tmp.clone();
        if let Some(dir) = self.rootfs.get(image) {
            return Ok(dir.clone());
        }
        if let Some(pending) = image.strip_prefix(super::copy::GIT_PENDING) {
            let (url, reference, commit, keep): (String, Option<String>, String, bool) =
                serde_json::from_str(pending).map_err(|e| format!("{pending}: {e}"))?;
            let dir = tmp.join(format!("git-{}", self.rootfs.len()));
            let _ = std::fs::remove_dir_all(&dir);
            self.say(self.num, format!("fetching {url}"));
            let src = crate::remote::GitSource {
                url: url.clone(),
                reference,
                subdir: None,
            };
            let got = crate::remote::checkout(&src, &dir, keep)?;
            if got != commit {
                return Err(format!(
                    "{url}: the ref moved during the build ({commit} → {got})"
                ));
            }
            self.rootfs.insert(image.to_string(), dir.clone());
            return Ok(dir);
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
}

/// `image-store inspect REF` as the driver needs it.
pub fn inspect(
    tools: &Tools,
    reference: &str,
    store: &std::path::Path,
) -> Result<Inspected, String> {
    inspect_for(tools, reference, store, None)
}

/// `image-store inspect [--platform P] REF`: of a multi-platform image,
/// its image for `platform` (the host's without one).
pub fn inspect_for(
    tools: &Tools,
    reference: &str,
    store: &std::path::Path,
    platform: Option<&str>,
) -> Result<Inspected, String> {
    let mut c = std::process::Command::new(tools.path("image-store"));
    c.arg("inspect");
    if let Some(p) = platform {
        c.arg("--platform").arg(p);
    }
    c.arg(reference).env("SLIPWAY_STORE", store);
    let out = c
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("image-store: {e}"))?;
    if !out.status.success() {
        return Err(tool_error(
            "image-store",
            &String::from_utf8_lossy(&out.stderr),
        ));
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
        by_digest_only: false,
        platform: e.platform(),
    })
}
