//! A context that is not a directory here: a git repository
//! (`https://host/repo.git#ref:subdir`, `git@host:repo.git`, `git://`,
//! `ssh://`) fetched with the git CLI, or a plain HTTP(S) URL of a tar
//! (or of a Dockerfile alone), as docker build takes them.

use std::path::Path;
use std::process::{Command, Stdio};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Remote {
    Git(GitSource),
    Url(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitSource {
    pub url: String,
    /// A branch, tag or commit (default: the remote's HEAD).
    pub reference: Option<String>,
    /// The context's directory in the repository.
    pub subdir: Option<String>,
}

/// Whether `s` names a remote context, and which.
pub fn classify(s: &str) -> Option<Remote> {
    let (base, fragment) = match s.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (s, None),
    };
    let git = s.starts_with("git://")
        || s.starts_with("git@")
        || s.starts_with("ssh://")
        || ((base.starts_with("https://")
            || base.starts_with("http://")
            || base.starts_with("file://"))
            && base.ends_with(".git"));
    if git {
        let (reference, subdir) = match fragment {
            None => (None, None),
            Some(f) => match f.split_once(':') {
                Some((r, d)) => (Some(r.to_string()), Some(d.to_string())),
                None => (Some(f.to_string()), None),
            },
        };
        return Some(Remote::Git(GitSource {
            url: base.to_string(),
            reference: reference.filter(|r| !r.is_empty()),
            subdir: subdir.filter(|d| !d.is_empty() && d != "."),
        }));
    }
    (s.starts_with("https://") || s.starts_with("http://")).then(|| Remote::Url(s.to_string()))
}

fn git(args: &[&str], dir: &Path) -> Result<String, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("git (apt install git): {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("failed");
        return Err(format!("git {}: {line}", args.first().unwrap_or(&"")));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The commit `src`'s ref names now (`git ls-remote`); a full commit
/// hash names itself.
pub fn resolve(src: &GitSource) -> Result<String, String> {
    let reference = src.reference.as_deref().unwrap_or("HEAD");
    if reference.len() == 40 && reference.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(reference.to_string());
    }
    let out = git(&["ls-remote", &src.url, reference], Path::new("."))
        .map_err(|e| format!("{}: {e}", src.url))?;
    // A tag's peeled commit (^{}) wins over the tag object.
    let lines: Vec<&str> = out.lines().collect();
    let pick = lines
        .iter()
        .find(|l| l.ends_with("^{}"))
        .or_else(|| lines.first())
        .ok_or_else(|| format!("{}: no ref {reference}", src.url))?;
    Ok(pick
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string())
}

/// The repository at its ref checked out into `dir` (its submodules
/// too); the commit. Without `keep_git_dir` the .git directory goes, as
/// BuildKit leaves it out of a context.
pub fn checkout(src: &GitSource, dir: &Path, keep_git_dir: bool) -> Result<String, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let url = &src.url;
    git(&["init", "-q"], dir)?;
    git(&["remote", "add", "origin", url], dir)?;
    let reference = src.reference.as_deref().unwrap_or("HEAD");
    git(&["fetch", "-q", "--depth", "1", "origin", reference], dir)
        .map_err(|e| format!("{url}#{reference}: {e}"))?;
    git(&["checkout", "-q", "FETCH_HEAD"], dir)?;
    if dir.join(".gitmodules").is_file() {
        git(
            &[
                "submodule",
                "update",
                "-q",
                "--init",
                "--recursive",
                "--depth",
                "1",
            ],
            dir,
        )?;
    }
    let commit = git(&["rev-parse", "HEAD"], dir)?;
    if !keep_git_dir {
        let g = dir.join(".git");
        std::fs::remove_dir_all(&g).map_err(|e| format!("{}: {e}", g.display()))?;
    }
    Ok(commit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_urls_and_their_fragments_are_told_from_plain_urls() {
        assert_eq!(
            classify("https://example.invalid/app.git#v1:docker"),
            Some(Remote::Git(GitSource {
                url: "https://example.invalid/app.git".into(),
                reference: Some("v1".into()),
                subdir: Some("docker".into()),
            }))
        );
        assert_eq!(
            classify("git@example.invalid:team/app.git"),
            Some(Remote::Git(GitSource {
                url: "git@example.invalid:team/app.git".into(),
                reference: None,
                subdir: None,
            }))
        );
        assert!(matches!(
            classify("git://127.0.0.1:9418/r.git#main"),
            Some(Remote::Git(_))
        ));
        assert_eq!(
            classify("https://example.invalid/ctx.tar.gz"),
            Some(Remote::Url("https://example.invalid/ctx.tar.gz".into()))
        );
        assert_eq!(classify("./dir"), None);
        assert_eq!(classify("-"), None);
    }
}
