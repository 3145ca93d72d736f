//! COPY and ADD sources from the build context: paths cleaned into the
//! context, wildcards expanded as BuildKit does (Go's `filepath.Match`, one
//! path component at a time), `.dockerignore` honoured, and the
//! destination rules of the Dockerfile reference (a trailing slash, the
//! contents of a directory rather than the directory).

use slipway_common::ignore::{clean_path, Matcher};
use std::path::{Path, PathBuf};

/// The build context: its root and its ignore rules.
pub struct Context {
    pub root: PathBuf,
    pub ignore: Matcher,
    /// What it is, for errors: None for the build context, else the
    /// stage or image of a COPY --from.
    pub from: Option<String>,
}

/// One source and where it lands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The source, an absolute path inside the context.
    pub src: PathBuf,
    /// Relative to the context root, `/`-separated ("." for the root).
    pub rel: String,
    pub is_dir: bool,
    /// Where it goes in the image: the directory whose contents it fills
    /// (a directory source) or the file's path.
    pub target: String,
    /// Paths below `src` that the ignore rules leave out, as exact
    /// patterns relative to `src` (for `layer-diff --exclude`).
    pub excludes: Vec<String>,
}

/// Whether a word has unescaped wildcard characters.
pub fn has_wildcards(s: &str) -> bool {
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

/// Go's `filepath.Match` on one path component: `*`, `?`, `[…]` classes
/// (with `^` and ranges) and `\` escapes. A bad pattern matches nothing.
pub fn glob_match(pat: &str, name: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let n: Vec<char> = name.chars().collect();
    fn class(p: &[char], mut i: usize, c: char) -> Option<(bool, usize)> {
        // p[i] is just after '['.
        let negate = p.get(i) == Some(&'^');
        if negate {
            i += 1;
        }
        let mut matched = false;
        let mut first = true;
        loop {
            let ch = *p.get(i)?;
            if ch == ']' && !first {
                return Some((matched != negate, i + 1));
            }
            first = false;
            let mut lo = ch;
            if lo == '\\' {
                i += 1;
                lo = *p.get(i)?;
            }
            i += 1;
            let mut hi = lo;
            if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|x| *x != ']') {
                i += 1;
                hi = *p.get(i)?;
                if hi == '\\' {
                    i += 1;
                    hi = *p.get(i)?;
                }
                i += 1;
            }
            if lo <= c && c <= hi {
                matched = true;
            }
        }
    }
    fn go(p: &[char], pi: usize, n: &[char], ni: usize) -> bool {
        if pi == p.len() {
            return ni == n.len();
        }
        match p[pi] {
            '*' => (ni..=n.len()).any(|k| go(p, pi + 1, n, k)),
            '?' => ni < n.len() && go(p, pi + 1, n, ni + 1),
            '[' => {
                if ni >= n.len() {
                    return false;
                }
                match class(p, pi + 1, n[ni]) {
                    Some((true, next)) => go(p, next, n, ni + 1),
                    _ => false,
                }
            }
            '\\' => {
                pi + 1 < p.len() && ni < n.len() && p[pi + 1] == n[ni] && go(p, pi + 2, n, ni + 1)
            }
            c => ni < n.len() && c == n[ni] && go(p, pi + 1, n, ni + 1),
        }
    }
    go(&p, 0, &n, 0)
}

/// Escapes a path so that a `.dockerignore` pattern matches it exactly.
pub fn escape_pattern(path: &str) -> String {
    let mut s = String::with_capacity(path.len());
    for c in path.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            s.push('\\');
        }
        s.push(c);
    }
    if s.starts_with('!') || s.starts_with('#') {
        s.insert(0, '\\');
    }
    s
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn join_rel(a: &str, b: &str) -> String {
    if a.is_empty() || a == "." {
        b.to_string()
    } else {
        format!("{a}/{b}")
    }
}

impl Context {
    fn what(&self) -> String {
        match &self.from {
            Some(f) => format!("--from={f}"),
            None => "the build context".into(),
        }
    }

    /// The sources a word names: itself, or what its wildcards match, in
    /// name order; ignored paths are not in the context.
    fn expand(&self, word: &str) -> Result<Vec<String>, String> {
        let cleaned = clean_path(&format!("/{word}"));
        let rel = cleaned.trim_start_matches('/');
        if rel.is_empty() {
            return Ok(vec![".".into()]);
        }
        if !has_wildcards(rel) {
            let rel = unescape(rel);
            if !self.exists(&rel) || self.ignored(&rel) {
                return Err(format!("{word:?}: not found in {}", self.what()));
            }
            return Ok(vec![rel]);
        }
        let mut found = vec![String::new()];
        for comp in rel.split('/') {
            let mut next = Vec::new();
            for base in &found {
                if !has_wildcards(comp) {
                    let name = unescape(comp);
                    if self.exists(&join_rel(base, &name)) {
                        next.push(join_rel(base, &name));
                    }
                    continue;
                }
                let Ok(dir) = self.real(base) else { continue };
                let Ok(rd) = std::fs::read_dir(&dir) else {
                    continue;
                };
                let mut names: Vec<String> = rd
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| glob_match(comp, n))
                    .collect();
                names.sort();
                next.extend(names.into_iter().map(|n| join_rel(base, &n)));
            }
            found = next;
        }
        found.retain(|r| !self.ignored(r));
        if found.is_empty() {
            return Err(format!("{word:?}: no file in {} matches", self.what()));
        }
        Ok(found)
    }

    /// Where `rel` is, resolved inside the context as BuildKit resolves a
    /// source: symlinks followed, never out of the context.
    fn real(&self, rel: &str) -> Result<PathBuf, String> {
        slipway_common::fsutil::resolve_in_root(&self.root, rel)
            .map_err(|e| format!("{rel:?}: {e}"))
    }

    fn exists(&self, rel: &str) -> bool {
        self.real(rel)
            .is_ok_and(|p| std::fs::symlink_metadata(p).is_ok())
    }

    /// What `rel` names, or what it resolves to, is ignored.
    fn ignored(&self, rel: &str) -> bool {
        self.ignore.ignored(rel)
            || self.real(rel).is_ok_and(|p| {
                p.strip_prefix(&self.root).is_ok_and(|r| {
                    !r.as_os_str().is_empty() && self.ignore.ignored(&r.to_string_lossy())
                })
            })
    }

    /// What the ignore rules leave out below `rel` (a directory), relative
    /// to it: a whole directory when nothing below it comes back.
    fn excludes(&self, rel: &str) -> Vec<String> {
        let mut out = Vec::new();
        if !self.ignore.is_empty() {
            self.walk_excludes(rel, "", &mut out);
        }
        out
    }

    fn walk_excludes(&self, base: &str, sub: &str, out: &mut Vec<String>) {
        let dir = self.root.join(join_rel(base, sub));
        let Ok(rd) = std::fs::read_dir(&dir) else {
            return;
        };
        let mut entries: Vec<(String, bool)> = rd
            .flatten()
            .map(|e| {
                let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
                (e.file_name().to_string_lossy().into_owned(), is_dir)
            })
            .collect();
        entries.sort();
        for (name, is_dir) in entries {
            let inner = join_rel(sub, &name);
            let ctx_rel = join_rel(base, &inner);
            if self.ignore.ignored(&ctx_rel) {
                if is_dir && self.ignore.has_exceptions() && self.keeps_some(&ctx_rel) {
                    self.walk_excludes(base, &inner, out);
                } else {
                    out.push(escape_pattern(&inner));
                }
            } else if is_dir {
                self.walk_excludes(base, &inner, out);
            }
        }
    }

    /// Whether an `!` exception brings back anything below `rel`.
    fn keeps_some(&self, rel: &str) -> bool {
        let Ok(rd) = std::fs::read_dir(self.root.join(rel)) else {
            return false;
        };
        rd.flatten().any(|e| {
            let r = join_rel(rel, &e.file_name().to_string_lossy());
            !self.ignore.ignored(&r)
                || (e.file_type().is_ok_and(|t| t.is_dir()) && self.keeps_some(&r))
        })
    }

    /// Resolves a COPY: the sources (already expanded for variables) and
    /// the destination (absolute, or relative to `workdir`). Returns the
    /// destination directory (or file) and the items.
    pub fn resolve(
        &self,
        cmd: &str,
        sources: &[String],
        dest: &str,
        workdir: &str,
    ) -> Result<(String, Vec<Item>), String> {
        // BuildKit: a trailing slash, or "." alone, makes the destination
        // a directory.
        let dest_is_dir = dest.ends_with('/') || dest == "." || dest.ends_with("/.");
        let dest_abs = if dest.starts_with('/') {
            clean_path(dest)
        } else {
            clean_path(&format!(
                "{}/{dest}",
                if workdir.is_empty() { "/" } else { workdir }
            ))
        };
        let mut rels = Vec::new();
        let mut wildcard = false;
        for s in sources {
            wildcard |= has_wildcards(s);
            rels.extend(self.expand(s)?);
        }
        if (sources.len() > 1 || (wildcard && rels.len() > 1)) && !dest_is_dir {
            return Err(format!(
                "When using {cmd} with more than one source file, the destination must be a directory and end with a /"
            ));
        }
        let mut items = Vec::new();
        for rel in rels {
            // A source that is a symlink is what it points at, inside the
            // context: the link's target is copied, as BuildKit does.
            let src = self.real(&rel)?;
            let real_rel = src
                .strip_prefix(&self.root)
                .map(|r| r.to_string_lossy().into_owned())
                .unwrap_or_default();
            let is_dir = std::fs::symlink_metadata(&src).is_ok_and(|m| m.is_dir());
            let target = if is_dir || !dest_is_dir {
                dest_abs.clone()
            } else {
                let base = rel.rsplit('/').next().unwrap_or(&rel);
                clean_path(&format!("{dest_abs}/{base}"))
            };
            let excludes = if is_dir {
                self.excludes(if real_rel.is_empty() { "." } else { &real_rel })
            } else {
                vec![]
            };
            items.push(Item {
                src,
                rel,
                is_dir,
                target,
                excludes,
            });
        }
        Ok((dest_abs, items))
    }
}

/// Whether these first bytes start a tar, plain or compressed as ADD and
/// `docker build -` take them.
pub fn looks_like_archive(h: &[u8]) -> bool {
    h.starts_with(&[0x1f, 0x8b])
        || h.starts_with(b"BZh")
        || h.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0])
        || h.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || (h.len() >= 262 && &h[257..262] == b"ustar")
}

/// `image-build -`: stdin is a tar of the context, unpacked into `dir` by
/// layer-diff (None), or else a Dockerfile, returned with `dir` left as an
/// empty context.
pub fn from_stdin(tools: &crate::tools::Tools, dir: &Path) -> Result<Option<Vec<u8>>, String> {
    from_reader(tools, dir, std::io::stdin().lock(), "the context on stdin")
}

/// As [`from_stdin`], from any reader (a downloaded context); `what`
/// names it in errors.
pub fn from_reader(
    tools: &crate::tools::Tools,
    dir: &Path,
    mut stdin: impl std::io::Read,
    what: &str,
) -> Result<Option<Vec<u8>>, String> {
    use std::io::Write;
    let mut head = vec![0u8; 512];
    let mut n = 0;
    while n < head.len() {
        match stdin.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("{what}: {e}")),
        }
    }
    head.truncate(n);
    if !looks_like_archive(&head) {
        stdin
            .read_to_end(&mut head)
            .map_err(|e| format!("{what}: {e}"))?;
        return Ok(Some(head));
    }
    let mut child = std::process::Command::new(tools.path("layer-diff"))
        .arg("--apply")
        .arg(dir)
        .arg("--archive")
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("layer-diff: {e}"))?;
    let mut w = child.stdin.take().expect("stdin is piped");
    let fed = w
        .write_all(&head)
        .and_then(|()| std::io::copy(&mut stdin, &mut w).map(|_| ()));
    drop(w);
    let out = child
        .wait_with_output()
        .map_err(|e| format!("layer-diff: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err.lines().last().unwrap_or("layer-diff failed");
        return Err(format!("{what}: {line}"));
    }
    fed.map_err(|e| format!("{what}: {e}"))?;
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_like_go_filepath_match() {
        for (pat, name, want) in [
            ("*.txt", "a.txt", true),
            ("*.txt", "a.txt.bak", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("[a-c]x", "bx", true),
            ("[^a-c]x", "bx", false),
            ("[^a-c]x", "dx", true),
            ("\\*", "*", true),
            ("\\*", "a", false),
            ("*", "", true),
            ("a*b*c", "aXbYc", true),
            ("[", "[", false),
        ] {
            assert_eq!(glob_match(pat, name), want, "{pat} vs {name}");
        }
    }

    #[test]
    fn wildcards_are_found_unless_escaped() {
        assert!(has_wildcards("src/*.rs"));
        assert!(has_wildcards("a[bc]"));
        assert!(!has_wildcards("plain/path"));
        assert!(!has_wildcards("lit\\*eral"));
    }

    #[test]
    fn exact_patterns_escape_what_dockerignore_reads_specially() {
        assert_eq!(escape_pattern("a*b/c?"), "a\\*b/c\\?");
        assert_eq!(escape_pattern("!x"), "\\!x");
        let m = Matcher::new(&[escape_pattern("we[ir]d*")]).unwrap();
        assert!(m.ignored("we[ir]d*"));
        assert!(!m.ignored("weird"));
    }

    fn ctx(ignore: &[&str]) -> (tempfile::TempDir, Context) {
        let t = tempfile::tempdir().unwrap();
        for f in [
            "a.txt",
            "b.txt",
            "c.log",
            "dir/x",
            "dir/skip.log",
            "dir/sub/y",
        ] {
            let p = t.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, f).unwrap();
        }
        let c = Context {
            from: None,
            root: t.path().to_path_buf(),
            ignore: Matcher::new(ignore).unwrap(),
        };
        (t, c)
    }

    #[test]
    fn destination_rules_follow_the_dockerfile_reference() {
        let (_t, c) = ctx(&[]);
        // A file to a directory keeps its name; to a path, takes it.
        let (_, items) = c.resolve("COPY", &["a.txt".into()], "/app/", "/").unwrap();
        assert_eq!(items[0].target, "/app/a.txt");
        let (_, items) = c.resolve("COPY", &["a.txt".into()], "/app", "/").unwrap();
        assert_eq!(items[0].target, "/app");
        // A directory's contents fill the destination.
        let (_, items) = c.resolve("COPY", &["dir".into()], "/d", "/").unwrap();
        assert!(items[0].is_dir);
        assert_eq!(items[0].target, "/d");
        // Relative to WORKDIR; "." is a directory.
        let (d, items) = c.resolve("COPY", &["a.txt".into()], ".", "/w").unwrap();
        assert_eq!((d.as_str(), items[0].target.as_str()), ("/w", "/w/a.txt"));
        // Several sources need a directory destination.
        let e = c
            .resolve("COPY", &["a.txt".into(), "b.txt".into()], "/app", "/")
            .unwrap_err();
        assert!(e.contains("must be a directory and end with a /"), "{e}");
        // ".." cannot leave the context.
        let (_, items) = c
            .resolve("COPY", &["../../a.txt".into()], "/x", "/")
            .unwrap();
        assert_eq!(items[0].rel, "a.txt");
    }

    #[test]
    fn wildcards_expand_in_name_order_without_ignored_files() {
        let (_t, c) = ctx(&["b.txt", "dir/*.log"]);
        let (_, items) = c.resolve("COPY", &["*.txt".into()], "/app/", "/").unwrap();
        let rels: Vec<&str> = items.iter().map(|i| i.rel.as_str()).collect();
        assert_eq!(rels, ["a.txt"]);
        let e = c
            .resolve("COPY", &["b.txt".into()], "/app/", "/")
            .unwrap_err();
        assert!(e.contains("not found"), "{e}");
        let (_, items) = c.resolve("COPY", &["dir".into()], "/d/", "/").unwrap();
        assert_eq!(items[0].excludes, ["skip.log"]);
        let e = c
            .resolve("COPY", &["*.none".into()], "/d/", "/")
            .unwrap_err();
        assert!(e.contains("matches"), "{e}");
    }

    #[test]
    fn an_exception_keeps_the_walk_going_below_an_ignored_directory() {
        let (_t, c) = ctx(&["dir", "!dir/sub"]);
        let (_, items) = c.resolve("COPY", &[".".into()], "/", "/").unwrap();
        assert_eq!(items[0].excludes, ["dir/skip.log", "dir/x"]);
    }
}
