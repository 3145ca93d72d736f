//! `--platform A,B,…`: the target built once per platform, each build's
//! steps tagged apart and keyed by its platform, then the images joined
//! into one index by `image-store manifest create`, which is named,
//! written out and pushed as a single image is (image-store and
//! image-push take an index whole).

use super::*;

/// A platform as a tag or directory name: linux/arm/v7 is linux_arm_v7,
/// as buildx names the per-platform directories of a local output.
pub fn slug(platform: &str) -> String {
    platform.replace('/', "_")
}

impl<'a> Driver<'a> {
    /// Builds the target once per platform, each from the plan parsed for
    /// it (its TARGETPLATFORM, its FROM lines), then joins the images
    /// into one index and publishes that.
    pub fn build_platforms(&mut self, plans: &'a [(String, Plan)]) -> Result<Built, Error> {
        let mut images = Vec::new();
        for (p, plan) in plans {
            self.plan = plan;
            self.opts.target_platform = p.clone();
            self.platform = p.clone();
            self.tag_prefix = format!("{}-", slug(p));
            // Stage results are one platform's: the next builds its own.
            lock(&self.shared.results).clear();
            self.num = self.next_number();
            self.say(self.num, format!("building for {p}"));
            self.take_materials();
            if let Some(image) = self.build_image()? {
                images.push((p.clone(), image, self.take_materials()));
            }
        }
        self.tag_prefix.clear();
        if self.opts.explain {
            return Ok(Built {
                reference: String::new(),
            });
        }
        let index = self.join(&images)?;
        self.platform_images = images.into_iter().map(|(p, i, _)| (p, i)).collect();
        self.publish(index)
    }
}

impl Driver<'_> {
    /// The index a multi-platform build made, as the build reports it:
    /// its digest is the image's, and its ID too (as buildx's --iidfile
    /// and docker's containerd store name a multi-platform image).
    pub fn inspect_index(&self, reference: &str) -> Result<Inspected, String> {
        let store =
            slipway_common::store::Store::open(&self.opts.store).map_err(|e| e.to_string())?;
        let desc = store.resolve(reference).map_err(|e| e.to_string())?;
        let digest = slipway_common::image::digest_of(&desc).map_err(|e| e.to_string())?;
        Ok(Inspected {
            digest: digest.to_string(),
            id: digest.to_string(),
            config: Default::default(),
            by_digest_only: false,
            platform: slipway_common::platform::Platform::host(),
        })
    }
}

impl Driver<'_> {
    /// The images built (by platform) joined into an index with a
    /// provenance statement about each; returns the index's name.
    pub(super) fn join(
        &mut self,
        images: &[(String, String, Vec<provenance::Material>)],
    ) -> Result<String, Error> {
        let index = format!("{}:index", self.repo);
        self.temps.push(index.clone());
        let mut c = Call::new("image-store").args(["manifest", "create"]);
        for (k, v) in &self.opts.index_annotations {
            c = c.arg("--annotation").arg(format!("{k}={v}"));
        }
        for (k, v) in &self.opts.entry_annotations {
            c = c.arg("--image-annotation").arg(format!("{k}={v}"));
        }
        let mut writes = vec![];
        if self.opts.provenance.is_some() {
            for (n, (platform, image, materials)) in images.iter().enumerate() {
                let found = self.inspect(image).map_err(Error::Msg)?;
                let statement = self.provenance(&found.digest, platform, materials);
                self.statements
                    .push((platform.clone(), statement["predicate"].clone()));
                // A statement names digests only a running build knows:
                // --print-script refuses --provenance.
                let Some(r) = self.exec.running() else {
                    unreachable!("a printed script makes no provenance")
                };
                let file = r.tmp.join(format!("provenance-{n}.json"));
                writes.push(Action::Write(
                    Word::from(file.as_path()),
                    String::from_utf8(slipway_common::layout::canonical_json(&statement))
                        .expect("JSON is UTF-8"),
                    0o600,
                ));
                c = c.arg("--attest").arg(format!("{image}={}", file.display()));
            }
        }
        c = c
            .arg(index.as_str())
            .args(images.iter().map(|(_, i, _)| i.as_str()))
            .stdout(Out::Discard);
        self.num = self.next_number();
        let names: Vec<&str> = images.iter().map(|(p, _, _)| p.as_str()).collect();
        self.say(
            self.num,
            match self.opts.provenance {
                Some(_) => format!(
                    "joining {} with provenance into one index",
                    names.join(", ")
                ),
                None => format!("joining {} into one index", names.join(", ")),
            },
        );
        writes.push(Action::Call(c));
        self.act(&writes).map_err(|e| Error::Msg(e.to_string()))?;
        Ok(index)
    }
}
