//! A `--build-context` made an image the build can start from, copy from
//! or mount: an image by another name as it is, an OCI layout's image
//! copied into the store, a directory's files as an image of one layer
//! (what its .dockerignore leaves out left out). Made by tool calls under
//! a build-private tag, removed with the build's others.

use super::{Driver, Inspected};
use crate::named::NamedContext;
use crate::tools::{Action, Call};

impl Driver<'_> {
    pub(super) fn named_context(
        &mut self,
        name: &str,
        ctx: &NamedContext,
    ) -> Result<Inspected, String> {
        let pinned = |mut found: Inspected| {
            // Known by digest alone: the context's name finds nothing.
            found.by_digest_only = true;
            found
        };
        let image = match ctx {
            NamedContext::Image(r) => return self.image_by_name(r).map(pinned),
            NamedContext::Layout(_) | NamedContext::Dir(_) | NamedContext::Remote(_) => {
                let safe: String = name
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() {
                            c.to_ascii_lowercase()
                        } else {
                            '-'
                        }
                    })
                    .collect();
                format!("{}:context-{safe}", self.repo)
            }
        };
        if let Ok(found) = self.inspect(&image) {
            return Ok(pinned(found));
        }
        if self.script() {
            return Err(format!(
                "--print-script cannot write the build context {name} yet: make the image first"
            ));
        }
        self.say(self.num, format!("loading the build context {name}"));
        // A remote one: fetched into the build's temp dir, then as a
        // directory.
        let fetched;
        let ctx = match ctx {
            NamedContext::Remote(r) => {
                fetched = NamedContext::Dir(self.fetch_context(name, r)?);
                &fetched
            }
            other => other,
        };
        let assemble = Call::new("image-assemble")
            .args(["--compression", "none", "--tag"])
            .arg(image.as_str());
        let call = match ctx {
            NamedContext::Layout(base) => assemble.arg("--base").arg(base.as_str()),
            NamedContext::Dir(dir) => {
                let mut diff = Call::new("layer-diff").arg("--dir").arg(dir.as_path());
                for pattern in dockerignore(dir) {
                    diff = diff.arg("--exclude").arg(pattern);
                }
                diff.pipe(assemble.arg("-"))
            }
            NamedContext::Image(_) | NamedContext::Remote(_) => unreachable!("handled above"),
        };
        self.temps.push(image.clone());
        self.act(&[Action::Call(call)])
            .map_err(|e| format!("the build context {name}: {e}"))?;
        self.inspect(&image).map(pinned)
    }
}

impl Driver<'_> {
    /// A remote named context's files, in a directory of the build's.
    fn fetch_context(
        &self,
        name: &str,
        r: &crate::remote::Remote,
    ) -> Result<std::path::PathBuf, String> {
        let Some(run) = self.exec.running() else {
            return Err(format!(
                "--print-script cannot write the build context {name} yet"
            ));
        };
        let safe: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let dir = run.tmp.join(format!("context-{safe}"));
        let _ = std::fs::remove_dir_all(&dir);
        match r {
            crate::remote::Remote::Git(g) => {
                crate::remote::checkout(g, &dir, false)?;
                Ok(match &g.subdir {
                    Some(d)
                        if std::path::Path::new(d)
                            .components()
                            .all(|c| matches!(c, std::path::Component::Normal(_))) =>
                    {
                        dir.join(d)
                    }
                    Some(d) => {
                        return Err(format!(
                            "{}: the subdirectory {d:?} must stay inside the repository",
                            g.url
                        ))
                    }
                    None => dir,
                })
            }
            crate::remote::Remote::Url(url) => {
                std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                let file = run.tmp.join(format!("context-{safe}.download"));
                slipway_common::registry::fetch::fetch(url, &file)?;
                let f =
                    std::fs::File::open(&file).map_err(|e| format!("{}: {e}", file.display()))?;
                let dockerfile = crate::context::from_reader(self.tools, &dir, f, url)?;
                let _ = std::fs::remove_file(&file);
                if dockerfile.is_some() {
                    return Err(format!(
                        "{url}: not a tar: a named context is a tree of files"
                    ));
                }
                Ok(dir)
            }
        }
    }
}

/// The patterns of a directory's .dockerignore (none without one).
fn dockerignore(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(dir.join(".dockerignore"))
        .map(|t| {
            t.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}
