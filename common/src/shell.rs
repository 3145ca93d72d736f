//! Shell-like word processing as BuildKit's Dockerfile frontend does it
//! (its `shell.Lex`): quotes, the escape character, `$VAR` and `${VAR…}`
//! with every operator, and splitting into words. The parser and the build
//! driver share it, so a word means the same thing at both ends.

use std::collections::HashMap;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("{0}")]
pub struct ShellError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ShellError> {
    Err(ShellError(msg.into()))
}

/// Where variables come from: returns None when a name is unset.
pub trait Env {
    fn get(&self, name: &str) -> Option<String>;
}

impl Env for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

/// `KEY=VALUE` lists, as image configs hold them; a later entry wins.
impl Env for [String] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter().rev().find_map(|kv| {
            kv.split_once('=')
                .filter(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }
}

/// No variables at all.
pub struct NoEnv;

impl Env for NoEnv {
    fn get(&self, _: &str) -> Option<String> {
        None
    }
}

/// The lexer's settings (BuildKit's `Lex` fields).
#[derive(Clone, Copy, Debug)]
pub struct Lex {
    pub escape: char,
    /// Keep quote characters in the result.
    pub raw_quotes: bool,
    /// Keep escape characters in the result.
    pub raw_escapes: bool,
    /// Leave `$VAR` of an unset variable as written.
    pub skip_unset_env: bool,
    /// Treat quotes as ordinary characters.
    pub skip_process_quotes: bool,
}

impl Lex {
    pub fn new(escape: char) -> Lex {
        Lex {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_unset_env: false,
            skip_process_quotes: false,
        }
    }

    /// One word: quotes removed, escapes and variables processed, no
    /// splitting.
    pub fn process_word(&self, word: &str, env: &dyn Env) -> Result<String, ShellError> {
        self.run(word, env).map(|(w, _)| w)
    }

    /// Words: as `process_word`, then split on unquoted whitespace
    /// (an unquoted expansion is split too).
    pub fn process_words(&self, word: &str, env: &dyn Env) -> Result<Vec<String>, ShellError> {
        self.run(word, env).map(|(_, ws)| ws)
    }

    fn run(&self, word: &str, env: &dyn Env) -> Result<(String, Vec<String>), ShellError> {
        let mut sw = ShellWord {
            chars: word.chars().collect(),
            pos: 0,
            env,
            lex: *self,
            raw_escapes: self.raw_escapes,
        };
        sw.process_stop_on(None, self.raw_escapes)
            .map_err(|e| ShellError(format!("failed to process \"{word}\": {}", e.0)))
    }
}

#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() && self.in_word {
            if !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else if !ch.is_whitespace() {
            self.add_raw_char(ch);
        }
    }
    fn add_raw_char(&mut self, ch: char) {
        self.word.push(ch);
        self.in_word = true;
    }
    fn add_string(&mut self, s: &str) {
        for c in s.chars() {
            self.add_char(c);
        }
    }
    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }
    fn get_words(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(std::mem::take(&mut self.word));
        }
        self.words
    }
}

struct ShellWord<'a> {
    chars: Vec<char>,
    pos: usize,
    env: &'a dyn Env,
    lex: Lex,
    raw_escapes: bool,
}

impl ShellWord<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn process_stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), ShellError> {
        let saved = self.raw_escapes;
        self.raw_escapes = raw_escapes;
        let r = self.stop_on(stop);
        self.raw_escapes = saved;
        r
    }

    fn stop_on(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), ShellError> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.next();
                return Ok((result, words.get_words()));
            }
            let special = ch == '$' || (!self.lex.skip_process_quotes && (ch == '\'' || ch == '"'));
            if special {
                let tmp = match ch {
                    '$' => self.dollar()?,
                    '\'' => self.single_quote()?,
                    _ => self.double_quote()?,
                };
                result.push_str(&tmp);
                if ch == '$' {
                    words.add_string(&tmp);
                } else {
                    words.add_raw_string(&tmp);
                }
                continue;
            }
            let mut ch = self.next().expect("peeked");
            if ch == self.lex.escape {
                if self.raw_escapes {
                    words.add_raw_char(ch);
                    result.push(ch);
                }
                match self.next() {
                    None => break,
                    Some(c) => ch = c,
                }
                words.add_raw_char(ch);
            } else {
                words.add_char(ch);
            }
            result.push(ch);
        }
        if let Some(s) = stop {
            return err(format!(
                "unexpected end of statement while looking for matching {s}"
            ));
        }
        Ok((result, words.get_words()))
    }

    fn single_quote(&mut self) -> Result<String, ShellError> {
        let mut result = String::new();
        let q = self.next().expect("peeked");
        if self.lex.raw_quotes {
            result.push(q);
        }
        loop {
            match self.next() {
                None => {
                    return err(
                        "unexpected end of statement while looking for matching single-quote",
                    )
                }
                Some('\'') => {
                    if self.lex.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    fn double_quote(&mut self) -> Result<String, ShellError> {
        let mut result = String::new();
        let q = self.next().expect("peeked");
        if self.lex.raw_quotes {
            result.push(q);
        }
        loop {
            match self.peek() {
                None => {
                    return err(
                        "unexpected end of statement while looking for matching double-quote",
                    )
                }
                Some('"') => {
                    self.next();
                    if self.lex.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let v = self.dollar()?;
                    result.push_str(&v);
                }
                Some(_) => {
                    let mut ch = self.next().expect("peeked");
                    if ch == self.lex.escape {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            // A lone escape at the end of the word is dropped.
                            None => continue,
                            Some(c) if c == '"' || c == '$' || c == self.lex.escape => {
                                ch = self.next().expect("peeked");
                            }
                            _ => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    self.next();
                    name.push(d);
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return ch.to_string();
            }
            if !ch.is_alphanumeric() && ch != '_' {
                break;
            }
            self.next();
            name.push(ch);
        }
        name
    }

    fn getenv(&self, name: &str) -> Option<String> {
        self.env.get(name)
    }

    fn dollar(&mut self) -> Result<String, ShellError> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.getenv(&name) {
                Some(v) => v,
                None if self.lex.skip_unset_env => format!("${name}"),
                None => String::new(),
            });
        }
        self.next();
        match self.peek() {
            None => return err("syntax error: missing '}'"),
            Some('{' | '}' | ':') => return err("syntax error: bad substitution"),
            _ => {}
        }
        let name = self.name();
        let first = self.next();
        let mut chs: String = first.map(String::from).unwrap_or_default();
        let mut ch = first;
        let mut null_is_unset = false;
        match ch {
            Some('}') => {
                return Ok(match self.getenv(&name) {
                    Some(v) => v,
                    None if self.lex.skip_unset_env => format!("${{{name}}}"),
                    None => String::new(),
                })
            }
            Some(':') => {
                null_is_unset = true;
                ch = self.next();
                if let Some(c) = ch {
                    chs.push(c);
                }
            }
            Some('/') => return self.replace(&name),
            _ => {}
        }
        let op = match ch {
            Some(c @ ('+' | '-' | '?' | '#' | '%')) => c,
            _ => return err(format!("unsupported modifier ({chs}) in substitution")),
        };
        let raw = op == '#' || op == '%';
        if null_is_unset && raw {
            return err(format!("unsupported modifier ({chs}) in substitution"));
        }
        let word = match self.process_stop_on(Some('}'), raw) {
            Ok((w, _)) => w,
            Err(e) => {
                if self.peek().is_none() {
                    return err("syntax error: missing '}'");
                }
                return Err(e);
            }
        };
        let value = self.getenv(&name);
        if self.lex.skip_unset_env && value.is_none() {
            return Ok(format!("${{{name}{chs}{word}}}"));
        }
        let empty = value.as_deref() == Some("");
        match op {
            '-' => Ok(if value.is_none() || (null_is_unset && empty) {
                word
            } else {
                value.unwrap_or_default()
            }),
            '+' => Ok(if value.is_none() || (null_is_unset && empty) {
                String::new()
            } else {
                word
            }),
            '?' => match value {
                None => err(format!(
                    "{name}: {}",
                    if word.is_empty() {
                        "is not allowed to be unset"
                    } else {
                        &word
                    }
                )),
                Some(v) if null_is_unset && v.is_empty() => err(format!(
                    "{name}: {}",
                    if word.is_empty() {
                        "is not allowed to be empty"
                    } else {
                        &word
                    }
                )),
                Some(v) => Ok(v),
            },
            _ => {
                let (greedy, pat) = match word.strip_prefix(op) {
                    Some(rest) => (true, rest.to_string()),
                    None => (false, word),
                };
                let value = value.unwrap_or_default();
                if op == '%' {
                    trim_suffix(&pat, &value, greedy)
                } else {
                    trim_prefix(&pat, &value, greedy)
                }
            }
        }
    }

    fn replace(&mut self, name: &str) -> Result<String, ShellError> {
        let all = self.peek() == Some('/');
        if all {
            self.next();
        }
        let missing = |s: &Self, e: ShellError| {
            if s.peek().is_none() {
                ShellError("syntax error: missing '}'".into())
            } else {
                e
            }
        };
        let pattern = self
            .process_stop_on(Some('/'), true)
            .map_err(|e| missing(self, e))?
            .0;
        let replacement = self
            .process_stop_on(Some('}'), true)
            .map_err(|e| missing(self, e))?
            .0;
        let value = self.getenv(name);
        if self.lex.skip_unset_env && value.is_none() {
            return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
        }
        let value = value.unwrap_or_default();
        let pat = compile_pattern(&pattern)
            .map_err(|e| ShellError(format!("invalid pattern ({pattern}) in substitution: {e}")))?;
        let v: Vec<char> = value.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        let mut replaced = false;
        while i <= v.len() {
            if !replaced || all {
                if let Some(end) = match_at(&pat, &v, i, true) {
                    out.push_str(&replacement);
                    replaced = true;
                    if end == i {
                        // An empty match: keep the next char and go on.
                        if i < v.len() {
                            out.push(v[i]);
                        }
                        i += 1;
                    } else {
                        i = end;
                    }
                    continue;
                }
            }
            if i < v.len() {
                out.push(v[i]);
            }
            i += 1;
        }
        Ok(out)
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Pat {
    Lit(char),
    Any,
    Star,
}

/// BuildKit's shell patterns: `*`, `?`, and `\` escaping `*`, `?` or `\`
/// (`\}` and `\/` lose their backslash); everything else is literal.
fn compile_pattern(p: &str) -> Result<Vec<Pat>, String> {
    let c: Vec<char> = p.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '*' => out.push(Pat::Star),
            '?' => out.push(Pat::Any),
            '\\' => {
                if matches!(c.get(i + 1), Some('}' | '/')) {
                    i += 1;
                    continue;
                }
                i += 1;
                match c.get(i) {
                    Some(&t @ ('*' | '?' | '\\')) => out.push(Pat::Lit(t)),
                    Some(t) => return Err(format!("invalid escape '\\{t}'")),
                    None => return Err("invalid escape '\\'".into()),
                }
            }
            ch => out.push(Pat::Lit(ch)),
        }
        i += 1;
    }
    Ok(out)
}

/// Matches `pat` at `s[start..]` as Go's regexp would (leftmost-first):
/// returns the end of the match. `*` and `?` do not match a newline.
/// Backtracking tries the same (pattern, position) pair again and again
/// when stars follow each other, exponentially often; each pair's answer
/// is remembered, so a match costs at most pattern × text × text steps.
fn match_at(pat: &[Pat], s: &[char], start: usize, greedy: bool) -> Option<usize> {
    struct Matcher<'a> {
        pat: &'a [Pat],
        s: &'a [char],
        greedy: bool,
        seen: HashMap<(usize, usize), Option<usize>>,
    }
    impl Matcher<'_> {
        fn go(&mut self, p: usize, i: usize) -> Option<usize> {
            if let Some(r) = self.seen.get(&(p, i)) {
                return *r;
            }
            let r = match self.pat.get(p) {
                None => Some(i),
                Some(Pat::Lit(c)) if self.s.get(i) == Some(c) => self.go(p + 1, i + 1),
                Some(Pat::Lit(_)) => None,
                Some(Pat::Any) => match self.s.get(i) {
                    Some(c) if *c != '\n' => self.go(p + 1, i + 1),
                    _ => None,
                },
                Some(Pat::Star) => {
                    let mut max = i;
                    while max < self.s.len() && self.s[max] != '\n' {
                        max += 1;
                    }
                    if self.greedy {
                        (i..=max).rev().find_map(|j| self.go(p + 1, j))
                    } else {
                        (i..=max).find_map(|j| self.go(p + 1, j))
                    }
                }
            };
            self.seen.insert((p, i), r);
            r
        }
    }
    Matcher {
        pat,
        s,
        greedy,
        seen: HashMap::new(),
    }
    .go(0, start)
}

fn trim_prefix(pattern: &str, value: &str, greedy: bool) -> Result<String, ShellError> {
    let pat = compile_pattern(pattern)
        .map_err(|e| ShellError(format!("invalid pattern ({pattern}) in substitution: {e}")))?;
    let v: Vec<char> = value.chars().collect();
    Ok(match match_at(&pat, &v, 0, greedy) {
        Some(end) => v[end..].iter().collect(),
        None => value.to_string(),
    })
}

/// Reverses a pattern, keeping each escape in front of what it escapes.
fn reverse_pattern(p: &str) -> String {
    let r: Vec<char> = p.chars().collect();
    let last = r.len().saturating_sub(1);
    let mut out = vec![' '; r.len()];
    let mut i = 0;
    while i < r.len() {
        let o = last - i;
        if r[i] == '\\' && i != last {
            out[o - 1] = r[i];
            out[o] = r[i + 1];
            i += 2;
        } else {
            out[o] = r[i];
            i += 1;
        }
    }
    out.into_iter().collect()
}

fn trim_suffix(pattern: &str, value: &str, greedy: bool) -> Result<String, ShellError> {
    let rev: String = value.chars().rev().collect();
    let t = trim_prefix(&reverse_pattern(pattern), &rev, greedy)?;
    Ok(t.chars().rev().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> HashMap<String, String> {
        [("PWD", "/home"), ("NULL", ""), ("V", "abcabc")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn operators() {
        let lex = Lex::new('\\');
        for (src, want) in [
            ("${PWD}", Some("/home")),
            ("${X:-d}", Some("d")),
            ("${NULL:-d}", Some("d")),
            ("${NULL-d}", Some("")),
            ("${PWD:+s}", Some("s")),
            ("${NULL+s}", Some("s")),
            ("${NULL:+s}", Some("")),
            ("${X?}", None),
            ("${NULL:?}", None),
            ("${NULL?}", Some("")),
            ("${V#a*b}", Some("cabc")),
            ("${V##a*b}", Some("c")),
            ("${V%b*c}", Some("abca")),
            ("${V%%b*c}", Some("a")),
            ("${V/b/X}", Some("aXcabc")),
            ("${V//b/X}", Some("aXcaXc")),
            ("'$PWD'", Some("$PWD")),
            ("\"$PWD\"", Some("/home")),
            ("\\$PWD", Some("$PWD")),
            ("${}", None),
            ("${PWD", None),
            ("${X:=1}", None),
        ] {
            let got = lex.process_word(src, &env()).ok();
            assert_eq!(got.as_deref(), want, "{src}");
        }
    }

    #[test]
    fn words_split_unquoted_expansions() {
        let mut e = env();
        e.insert("S".into(), "a  b".into());
        let lex = Lex::new('\\');
        assert_eq!(lex.process_words("x${S}y", &e).unwrap(), ["xa", "by"]);
        assert_eq!(lex.process_words("x\"${S}\"y", &e).unwrap(), ["xa  by"]);
    }

    /// Patterns of many stars once took time exponential in their
    /// length (the fuzzer found a word that ran for over 20 minutes).
    #[test]
    fn many_stars_match_in_polynomial_time() {
        let lex = Lex::new('\\');
        let stars = "*".repeat(3000);
        let e = env();
        for op in ["#", "##", "%", "%%"] {
            let got = lex
                .process_word(&format!("${{V{op}{stars}x}}"), &e)
                .unwrap();
            assert_eq!(got, "abcabc", "{op}");
        }
        let got = lex
            .process_word(&format!("${{V//{stars}x/y}}"), &e)
            .unwrap();
        assert_eq!(got, "abcabc");
        let got = lex
            .process_word(&format!("${{V#{}}}", "*".repeat(3000)), &e)
            .unwrap();
        assert_eq!(got, "abcabc");
        let got = lex
            .process_word(&format!("${{V##{}}}", "*".repeat(3000)), &e)
            .unwrap();
        assert_eq!(got, "");
    }
}
