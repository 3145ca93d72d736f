//! `.dockerignore` rules as Docker's patternmatcher applies them: patterns
//! cleaned (a leading `/` dropped), `*` and `?` within one path component,
//! `**` across components, `[…]` classes, `\` escapes, `!` exceptions, the
//! last matching pattern deciding, and a pattern that matches a parent
//! directory matching everything below it.

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Lit(char),
    Star,
    Quest,
    /// `**/` in the middle: any number of whole components, even none.
    AnyDirs,
    /// `**` at the end: anything.
    AnyRest,
    Class {
        negated: bool,
        items: Vec<(char, char)>,
    },
}

#[derive(Clone, Debug)]
struct Pattern {
    exclusion: bool,
    toks: Vec<Tok>,
    text: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bad ignore pattern {0:?}: {1}")]
pub struct PatternError(pub String, pub &'static str);

/// Go's filepath.Clean on a slash-separated path.
pub fn clean_path(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

fn compile(p: &str) -> Result<Vec<Tok>, &'static str> {
    let chars: Vec<char> = p.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' if chars.get(i + 1) == Some(&'*') => {
                i += 2;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                toks.push(if i >= chars.len() {
                    Tok::AnyRest
                } else {
                    Tok::AnyDirs
                });
                continue;
            }
            '*' => toks.push(Tok::Star),
            '?' => toks.push(Tok::Quest),
            '\\' => {
                i += 1;
                let c = *chars.get(i).ok_or("ends with a lone backslash")?;
                toks.push(Tok::Lit(c));
            }
            '[' => {
                let mut j = i + 1;
                let negated = chars.get(j) == Some(&'^');
                if negated {
                    j += 1;
                }
                let mut items = Vec::new();
                let mut first = true;
                loop {
                    let c = *chars.get(j).ok_or("unclosed [")?;
                    if c == ']' && !first {
                        break;
                    }
                    first = false;
                    let lo = if c == '\\' {
                        j += 1;
                        *chars.get(j).ok_or("unclosed [")?
                    } else {
                        c
                    };
                    if chars.get(j + 1) == Some(&'-') && chars.get(j + 2).is_some_and(|c| *c != ']')
                    {
                        items.push((lo, chars[j + 2]));
                        j += 3;
                    } else {
                        items.push((lo, lo));
                        j += 1;
                    }
                }
                toks.push(Tok::Class { negated, items });
                i = j;
            }
            c => toks.push(Tok::Lit(c)),
        }
        i += 1;
    }
    Ok(toks)
}

fn matches(toks: &[Tok], s: &[char]) -> bool {
    // Memoized backtracking: at most len(toks) * len(s) states.
    let mut memo = vec![None; (toks.len() + 1) * (s.len() + 1)];
    fn go(toks: &[Tok], s: &[char], t: usize, i: usize, memo: &mut Vec<Option<bool>>) -> bool {
        let key = t * (s.len() + 1) + i;
        if let Some(v) = memo[key] {
            return v;
        }
        let r = match toks.get(t) {
            None => i == s.len(),
            Some(Tok::Lit(c)) => s.get(i) == Some(c) && go(toks, s, t + 1, i + 1, memo),
            Some(Tok::Quest) => {
                s.get(i).is_some_and(|c| *c != '/') && go(toks, s, t + 1, i + 1, memo)
            }
            Some(Tok::Class { negated, items }) => {
                s.get(i).is_some_and(|c| {
                    *c != '/' && items.iter().any(|(lo, hi)| lo <= c && c <= hi) != *negated
                }) && go(toks, s, t + 1, i + 1, memo)
            }
            Some(Tok::Star) => {
                let mut j = i;
                loop {
                    if go(toks, s, t + 1, j, memo) {
                        break true;
                    }
                    if j == s.len() || s[j] == '/' {
                        break false;
                    }
                    j += 1;
                }
            }
            Some(Tok::AnyRest) => true,
            Some(Tok::AnyDirs) => {
                // (.*/)? : nothing, or anything up to and including a '/'.
                go(toks, s, t + 1, i, memo)
                    || (i..s.len()).any(|j| s[j] == '/' && go(toks, s, t + 1, j + 1, memo))
            }
        };
        memo[key] = Some(r);
        r
    }
    go(toks, s, 0, 0, &mut memo)
}

/// A compiled list of ignore patterns.
#[derive(Clone, Debug, Default)]
pub struct Matcher {
    patterns: Vec<Pattern>,
}

impl Matcher {
    /// Compiles patterns as written in a `.dockerignore` (already split).
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Matcher, PatternError> {
        let mut out = Vec::new();
        for raw in patterns {
            let mut p = raw.as_ref().trim();
            if p.is_empty() {
                continue;
            }
            let exclusion = p.starts_with('!');
            if exclusion {
                p = p[1..].trim();
            }
            let mut cleaned = clean_path(p);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            if cleaned == "." {
                // Docker: "." would match everything; it is ignored.
                continue;
            }
            let toks =
                compile(&cleaned).map_err(|why| PatternError(raw.as_ref().to_string(), why))?;
            out.push(Pattern {
                exclusion,
                toks,
                text: raw.as_ref().to_string(),
            });
        }
        Ok(Matcher { patterns: out })
    }

    /// Parses `.dockerignore` text: `#` comments, blank lines, a BOM.
    pub fn parse(text: &str) -> Result<Matcher, PatternError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        Matcher::new(&lines)
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether any `!` exception could bring back something below an
    /// ignored directory (so the walk must still look inside it).
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// The patterns as given, for the plan and for messages.
    pub fn patterns(&self) -> Vec<&str> {
        self.patterns.iter().map(|p| p.text.as_str()).collect()
    }

    /// Whether `path` (relative to the context, `/`-separated) is ignored.
    pub fn ignored(&self, path: &str) -> bool {
        let file = clean_path(path);
        let file = file.trim_start_matches('/');
        let chars: Vec<char> = file.chars().collect();
        let parents: Vec<usize> = chars
            .iter()
            .enumerate()
            .filter(|(_, c)| **c == '/')
            .map(|(i, _)| i)
            .collect();
        let mut matched = false;
        for p in &self.patterns {
            // Only a pattern that could change the answer is evaluated.
            if p.exclusion != matched {
                continue;
            }
            let hit = matches(&p.toks, &chars)
                || parents.iter().any(|&end| matches(&p.toks, &chars[..end]));
            if hit {
                matched = !p.exclusion;
            }
        }
        matched
    }
}

/// Which ignore file applies to a build: `<Dockerfile>.dockerignore`
/// beside the Dockerfile wins, else `.dockerignore` at the context root.
pub fn ignore_file_for(
    context: &std::path::Path,
    dockerfile: &std::path::Path,
) -> Option<std::path::PathBuf> {
    let mut beside = dockerfile.as_os_str().to_owned();
    beside.push(".dockerignore");
    let beside = std::path::PathBuf::from(beside);
    if beside.is_file() {
        return Some(beside);
    }
    let root = context.join(".dockerignore");
    root.is_file().then_some(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerfile_specific_ignore_file_wins() {
        let t = tempfile::tempdir().unwrap();
        let df = t.path().join("build/Dockerfile");
        std::fs::create_dir_all(df.parent().unwrap()).unwrap();
        std::fs::write(&df, "FROM a\n").unwrap();
        assert_eq!(ignore_file_for(t.path(), &df), None);
        std::fs::write(t.path().join(".dockerignore"), "*.log\n").unwrap();
        assert_eq!(
            ignore_file_for(t.path(), &df),
            Some(t.path().join(".dockerignore"))
        );
        std::fs::write(t.path().join("build/Dockerfile.dockerignore"), "*.tmp\n").unwrap();
        assert_eq!(
            ignore_file_for(t.path(), &df),
            Some(t.path().join("build/Dockerfile.dockerignore"))
        );
    }

    #[test]
    fn docker_ignore_rules() {
        // (patterns, path, ignored)
        let cases: &[(&[&str], &str, bool)] = &[
            (&["*.md"], "README.md", true),
            (&["*.md"], "docs/README.md", false),
            (&["**/*.md"], "docs/README.md", true),
            (&["**/*.md"], "README.md", true),
            (&["docs"], "docs/a/b.txt", true),
            (&["/docs"], "docs/x", true),
            (&["./docs/"], "docs/x", true),
            (&["docs/**"], "docs/a/b", true),
            (&["docs/**"], "docs", false),
            (&["*", "!keep"], "keep", false),
            (&["*", "!keep"], "other", true),
            (&["*.go", "!main.go", "main.go"], "main.go", true),
            (&["a?c"], "abc", true),
            (&["a?c"], "a/c", false),
            (&["[a-c]x"], "bx", true),
            (&["[^a-c]x"], "bx", false),
            (&["[^a-c]x"], "dx", true),
            (&["\\*star"], "*star", true),
            (&["\\*star"], "xstar", false),
            (&["a/**/b"], "a/b", true),
            (&["a/**/b"], "a/x/y/b", true),
            (&["a/**/b"], "a/x/y/c", false),
            (&["node_modules"], "node_modules/x/y.js", true),
            (&["**"], "anything/at/all", true),
            (&["dir/*"], "dir/f", true),
            (&["dir/*"], "dir/sub/f", true),
            (&["dir/*", "!dir/sub"], "dir/sub/f", false),
            (&["#comment"], "#comment", true),
            (&["a/../b"], "b", true),
            (&["  spaced  "], "spaced", true),
            (&["."], "x", false),
            (&["*/temp*"], "somedir/temporary.txt", true),
            (&["temp?"], "temp1", true),
        ];
        for (pats, path, want) in cases {
            let m = Matcher::new(pats).unwrap();
            assert_eq!(m.ignored(path), *want, "{pats:?} on {path}");
        }
    }

    #[test]
    fn parse_skips_comments_blank_lines_and_a_bom() {
        let m = Matcher::parse("\u{feff}# a comment\n\n*.log\n!important.log\n").unwrap();
        assert!(m.ignored("x.log"));
        assert!(!m.ignored("important.log"));
        assert_eq!(m.patterns(), ["*.log", "!important.log"]);
        assert!(Matcher::new(&["[abc"]).is_err());
    }

    #[test]
    fn clean_path_matches_go() {
        for (i, o) in [
            ("a/./b/../c", "a/c"),
            ("/../x", "/x"),
            ("../a", "../a"),
            ("", "."),
            ("a/", "a"),
            ("//a//b", "/a/b"),
        ] {
            assert_eq!(clean_path(i), o);
        }
    }
}
