//! Where COPY and ADD sources come from beyond the context: a URL ADD
//! downloads, the owner --chown names, the items --parents keeps.

use super::*;

impl Driver<'_> {
    /// Downloads a URL for ADD into the build's temp dir: mode 0600 and
    /// the server's Last-Modified, as BuildKit gives it.
    pub(super) fn fetch(&mut self, url: &str, n: usize) -> Result<Fetched, String> {
        let Some(r) = self.exec.running() else {
            return Err("--print-script cannot write ADD of a URL yet".into());
        };
        let dir = r.tmp.join(format!("url-{n}"));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let part = dir.join(".download");
        let got = slipway_common::registry::fetch::fetch(url, &part)?;
        let from_url = url
            .split(['?', '#'])
            .next()
            .unwrap_or(url)
            .rsplit('/')
            .next()
            .filter(|n| !n.is_empty() && !n.contains(':') && *n != "." && *n != "..")
            .unwrap_or("__unnamed__");
        let name = got.filename.clone().unwrap_or_else(|| from_url.to_string());
        let file = dir.join(&name);
        std::fs::rename(&part, &file).map_err(|e| format!("{}: {e}", file.display()))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("{}: {e}", file.display()))?;
        let mtime = std::time::UNIX_EPOCH
            + std::time::Duration::from_secs(got.last_modified.unwrap_or(0).max(0) as u64);
        std::fs::File::options()
            .write(true)
            .open(&file)
            .and_then(|f| f.set_modified(mtime))
            .map_err(|e| format!("{}: {e}", file.display()))?;
        Ok(Fetched {
            url: url.to_string(),
            file,
            name,
            digest: got.digest.to_string(),
            last_modified: got.last_modified,
        })
    }

    /// `--chown`'s USER[:GROUP] as numbers: names from the /etc/passwd
    /// and /etc/group of the image the step starts from; a user alone is
    /// its own group, as Docker documents.
    pub(super) fn owner(&mut self, image: &str, spec: &str) -> Result<String, String> {
        use slipway_common::owner;
        if let Some((u, g)) = owner::numeric_checked(spec)? {
            return Ok(format!("{u}:{g}"));
        }
        if self.script() {
            return Err("--print-script takes numeric ids only: names are looked up in the image, which exists only once the build runs".into());
        }
        let root = self.unpack(image)?;
        let (u, g) = owner::in_root(&root, spec)?;
        Ok(format!("{u}:{g}"))
    }
}

/// The sources' items and where they land. With --parents each keeps its
/// path below the context (or the image's root) under the destination:
/// below the `./` in it when it has one, as BuildKit's pivot.
pub(super) fn resolve(
    ctx: &Context,
    up: &str,
    sources: &[String],
    dest: &str,
    workdir: &str,
    parents: bool,
) -> Result<Vec<Item>, String> {
    if !parents {
        return Ok(ctx.resolve(up, sources, dest, workdir)?.1);
    }
    let dir_dest = if dest.ends_with('/') {
        dest.to_string()
    } else {
        format!("{dest}/")
    };
    let mut out = vec![];
    for s in sources {
        if s.contains("**") {
            return Err(format!(
                "{s:?}: {up} --parents with ** is not supported yet"
            ));
        }
        // `a/./b/c`: b/c is the path kept.
        let (dropped, full) = match s.split_once("/./") {
            Some((pre, rest)) => (clean_path(&format!("/{pre}")), format!("{pre}/{rest}")),
            None => ("/".to_string(), s.clone()),
        };
        let (dest_abs, items) = ctx.resolve(up, &[full], &dir_dest, workdir)?;
        for mut item in items {
            let rel = clean_path(&format!("/{}", item.rel));
            let kept = rel
                .strip_prefix(dropped.trim_end_matches('/'))
                .unwrap_or(&rel)
                .trim_start_matches('/');
            item.target = clean_path(&format!("{dest_abs}/{kept}"));
            out.push(item);
        }
    }
    Ok(out)
}
