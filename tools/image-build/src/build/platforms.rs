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
