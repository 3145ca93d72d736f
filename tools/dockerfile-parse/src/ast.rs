//! The Dockerfile syntax tree, read the way BuildKit's parser reads it:
//! parser directives, logical lines joined by the escape character,
//! comments and blank lines inside continuations, builder flags, each
//! instruction's own argument grammar, and heredocs.

use crate::gostr;
use crate::stream::{self, Failed, Lazy, WriteError};
use slipway_common::shell::{Lex, NoEnv};
use std::io::Write;

const MAX_LINE: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub col: usize,
    pub msg: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.col, self.msg)
    }
}

impl std::error::Error for ParseError {}

fn perr<T>(line: usize, msg: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        line,
        col: 1,
        msg: msg.into(),
    })
}

/// An argument: a value, or (for ONBUILD) a whole instruction.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum Arg {
    Value(String),
    Instruction(Box<Instruction>),
}

pub use slipway_common::plan::Heredoc;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Instruction {
    /// The keyword as written.
    pub keyword: String,
    /// The keyword in lower case.
    pub cmd: String,
    pub flags: Vec<String>,
    pub args: Vec<Arg>,
    /// Exec form: the arguments came from a JSON array.
    pub json: bool,
    /// The logical line, continuations joined.
    pub original: String,
    pub start_line: usize,
    pub end_line: usize,
    pub heredocs: Vec<Heredoc>,
    pub comments: Vec<String>,
}

pub use slipway_common::plan::Warning;

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Directives {
    pub escape: Option<String>,
    pub syntax: Option<String>,
    pub check: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ast {
    pub instructions: Vec<Instruction>,
    pub directives: Directives,
    pub escape: char,
    pub warnings: Vec<Warning>,
}

struct DirectiveState {
    done: bool,
    seen: Vec<String>,
    escape: char,
    directives: Directives,
}

/// `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`
fn directive_match(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix('#')?.trim_start();
    let name_len = rest
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    let name = &rest[..name_len];
    if name.is_empty() || !name.as_bytes()[0].is_ascii_alphabetic() {
        return None;
    }
    let rest = rest[name_len..].trim_start().strip_prefix('=')?.trim();
    if rest.is_empty() {
        return None;
    }
    Some((name.to_ascii_lowercase(), rest.to_string()))
}

impl DirectiveState {
    fn possible(&mut self, line: &str, lineno: usize) -> Result<(), ParseError> {
        if self.done {
            return Ok(());
        }
        let Some((k, v)) = directive_match(line) else {
            self.done = true;
            return Ok(());
        };
        if !["escape", "syntax", "check"].contains(&k.as_str()) {
            self.done = true;
            return Ok(());
        }
        if self.seen.contains(&k) {
            return perr(lineno, format!("only one {k} parser directive can be used"));
        }
        self.seen.push(k.clone());
        match k.as_str() {
            "escape" => {
                if v != "`" && v != "\\" {
                    return perr(
                        lineno,
                        format!("invalid escape token '{v}' does not match ` or \\"),
                    );
                }
                self.escape = v.chars().next().expect("checked");
                self.directives.escape = Some(v);
            }
            "syntax" => self.directives.syntax = Some(v),
            _ => self.directives.check = Some(v),
        }
        Ok(())
    }
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Drops a trailing escape character (and blanks after it): the line
/// continues. Returns the line and whether it ended.
///
/// BuildKit's rule is the regex `([^E])?E[ \t]*$` with E the escape char,
/// leftmost match: an escape after another escape (`\\`) is an escaped
/// escape and does not continue the line; a lone escape does.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let t = line.trim_end_matches([' ', '\t']);
    match t.strip_suffix(escape) {
        Some(head) if !head.ends_with(escape) => (head, false),
        _ => (line, true),
    }
}

fn is_go_space(c: char) -> bool {
    c.is_whitespace()
}

/// BuildKit's extractBuilderFlags: the leading `--name[=value]` words.
/// Like BuildKit it works on bytes: every delimiter is ASCII.
fn extract_flags(line: &str, escape: char) -> (&str, Vec<String>) {
    let b = line.as_bytes();
    let esc = escape as u8;
    let mut words = Vec::new();
    let (mut word, mut blank_ok, mut quote) = (Vec::new(), false, 0u8);
    #[derive(PartialEq)]
    enum P {
        Spaces,
        Word,
        Quote,
    }
    let mut phase = P::Spaces;
    let mut pos = 0;
    // The buffer is kept for the next word; each word is copied out once.
    let take = |w: &mut Vec<u8>| {
        let s = String::from_utf8_lossy(w).into_owned();
        w.clear();
        s
    };
    loop {
        let at_end = pos == b.len();
        let ch = if at_end { 0 } else { b[pos] };
        if phase == P::Spaces {
            if at_end {
                break;
            }
            if ch.is_ascii_whitespace() || ch == 0x0b {
                pos += 1;
                continue;
            }
            if ch != b'-' || pos + 1 == b.len() || b[pos + 1] != b'-' {
                return (&line[pos..], words);
            }
            phase = P::Word;
        }
        if at_end {
            if word != b"--" && (blank_ok || !word.is_empty()) {
                words.push(take(&mut word));
            }
            break;
        }
        if phase == P::Word {
            if ch.is_ascii_whitespace() || ch == 0x0b {
                phase = P::Spaces;
                if word == b"--" {
                    return (&line[pos..], words);
                }
                if blank_ok || !word.is_empty() {
                    words.push(take(&mut word));
                }
                word.clear();
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == b'\'' || ch == b'"' {
                quote = ch;
                blank_ok = true;
                phase = P::Quote;
                pos += 1;
                continue;
            }
            let mut c = ch;
            if ch == esc {
                if pos + 1 == b.len() {
                    pos += 1;
                    continue;
                }
                pos += 1;
                c = b[pos];
            }
            word.push(c);
            pos += 1;
            continue;
        }
        // In quotes.
        if ch == quote {
            phase = P::Word;
            pos += 1;
            continue;
        }
        let mut c = ch;
        if ch == esc {
            if pos + 1 == b.len() {
                phase = P::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            c = b[pos];
        }
        word.push(c);
        pos += 1;
    }
    ("", words)
}

/// BuildKit's parseWords: whitespace-separated words, quotes kept.
///
/// A word keeps every character it spans, escapes and quotes too, but an
/// escape that ends the input: each word is a slice of `rest`.
pub fn parse_words(rest: &str, escape: char) -> Vec<String> {
    words(rest, escape)
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// `parse_words`, borrowing.
fn words(rest: &str, escape: char) -> Vec<&str> {
    let mut words = Vec::new();
    let mut chars = rest.char_indices().peekable();
    loop {
        let start = loop {
            match chars.peek() {
                None => return words,
                Some(&(_, c)) if is_go_space(c) => {
                    chars.next();
                }
                Some(&(i, _)) => break i,
            }
        };
        let mut end = rest.len();
        let (mut blank_ok, mut quote) = (false, None);
        while let Some((i, ch)) = chars.next() {
            let escapes = match quote {
                None => {
                    if is_go_space(ch) {
                        end = i;
                        break;
                    }
                    if ch == '\'' || ch == '"' {
                        quote = Some(ch);
                        blank_ok = true;
                    }
                    ch == escape
                }
                Some(q) => {
                    if ch == q {
                        quote = None;
                    }
                    ch == escape && q != '\''
                }
            };
            // The escaped character is kept whatever it is; an escape with
            // nothing after it goes.
            if escapes && chars.next().is_none() {
                end = i;
            }
        }
        let word = &rest[start..end];
        if blank_ok || !word.is_empty() {
            words.push(word);
        }
    }
}

/// Go's regexp `[\t\v\f\r ]+` split.
fn split_ws(s: &str, limit: Option<usize>) -> Vec<String> {
    let is = |c: char| matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ');
    let mut out = Vec::new();
    let mut rest = s;
    loop {
        if limit.is_some_and(|l| out.len() + 1 == l) {
            out.push(rest.to_string());
            break;
        }
        match rest.find(is) {
            Some(i) => {
                out.push(rest[..i].to_string());
                rest = rest[i..].trim_start_matches(is);
            }
            None => {
                out.push(rest.to_string());
                break;
            }
        }
    }
    out
}

enum Json {
    Strings(Vec<String>),
    NotStrings,
    Invalid,
}

fn parse_json(rest: &str) -> Json {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Json::Invalid;
    }
    match serde_json::from_str::<Vec<serde_json::Value>>(rest) {
        Ok(v) => {
            let mut out = Vec::new();
            for x in v {
                match x {
                    serde_json::Value::String(s) => out.push(s),
                    _ => return Json::NotStrings,
                }
            }
            Json::Strings(out)
        }
        Err(_) => Json::Invalid,
    }
}

const NOT_STRINGS: &str = "when using JSON array syntax, arrays must be comprised of strings only";

fn values(v: Vec<String>) -> Vec<Arg> {
    v.into_iter().map(Arg::Value).collect()
}

type Parsed = (Vec<Arg>, bool);

fn maybe_json(rest: &str, line: usize) -> Result<Parsed, ParseError> {
    if rest.is_empty() {
        return Ok((vec![], false));
    }
    match parse_json(rest) {
        Json::Strings(v) => Ok((values(v), true)),
        Json::NotStrings => perr(line, NOT_STRINGS),
        Json::Invalid => Ok((vec![Arg::Value(rest.to_string())], false)),
    }
}

fn maybe_json_list(rest: &str, line: usize) -> Result<Parsed, ParseError> {
    match parse_json(rest) {
        Json::Strings(v) => Ok((values(v), true)),
        Json::NotStrings => perr(line, NOT_STRINGS),
        Json::Invalid => Ok((ws_delimited(rest), false)),
    }
}

fn ws_delimited(rest: &str) -> Vec<Arg> {
    if rest.is_empty() {
        return vec![];
    }
    values(split_ws(rest, None))
}

fn name_val(rest: &str, key: &str, escape: char, line: usize) -> Result<Parsed, ParseError> {
    let words = words(rest, escape);
    if words.is_empty() {
        return Ok((vec![], false));
    }
    if !words[0].contains('=') {
        let parts = split_ws(rest, Some(2));
        if parts.len() < 2 {
            return perr(line, format!("{key} must have two arguments"));
        }
        return Ok((
            values(vec![parts[0].clone(), parts[1].clone(), String::new()]),
            false,
        ));
    }
    let mut out = Vec::with_capacity(words.len() * 3);
    for w in words {
        let Some((k, v)) = w.split_once('=') else {
            return perr(
                line,
                format!(
                    "Syntax error - can't find = in {}. Must be of the form: name=value",
                    gostr::quote(w)
                ),
            );
        };
        out.extend([k, v, "="].map(|s| Arg::Value(s.to_string())));
    }
    Ok((out, false))
}

fn health(rest: &str, line: usize) -> Result<Parsed, ParseError> {
    let sep = rest.find(is_go_space).unwrap_or(rest.len());
    if sep == 0 {
        return Ok((vec![], false));
    }
    let typ = &rest[..sep];
    let next = rest[sep..].trim_start_matches(is_go_space);
    let (cmd, json) = maybe_json(next, line)?;
    let mut args = vec![Arg::Value(typ.to_string())];
    args.extend(cmd);
    Ok((args, json))
}

/// The parse of one logical line (an instruction without its heredocs,
/// and without its `original` text, which the caller moves in).
fn node_from_line(line: &str, escape: char, lineno: usize) -> Result<Instruction, ParseError> {
    let is = |c: char| matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ');
    let trimmed = line.trim();
    let (keyword, rest) = match trimmed.find(is) {
        Some(i) => (&trimmed[..i], trimmed[i..].trim_start_matches(is)),
        None => (trimmed, ""),
    };
    let keyword = keyword.to_string();
    let (rest, flags) = if rest.is_empty() {
        ("", vec![])
    } else {
        extract_flags(rest, escape)
    };
    let rest = rest.trim();
    let cmd = keyword.to_lowercase();
    let (args, json) = match cmd.as_str() {
        "add" | "copy" | "volume" => maybe_json_list(rest, lineno)?,
        "arg" => (
            words(rest, escape)
                .into_iter()
                .map(|w| Arg::Value(w.to_string()))
                .collect(),
            false,
        ),
        "cmd" | "entrypoint" | "run" | "shell" => maybe_json(rest, lineno)?,
        "env" => name_val(rest, "ENV", escape, lineno)?,
        "label" => name_val(rest, "LABEL", escape, lineno)?,
        "expose" | "from" => (ws_delimited(rest), false),
        "healthcheck" => health(rest, lineno)?,
        "maintainer" | "user" | "workdir" | "stopsignal" => (
            if rest.is_empty() {
                vec![]
            } else {
                vec![Arg::Value(rest.to_string())]
            },
            false,
        ),
        "onbuild" => {
            if rest.is_empty() {
                (vec![], false)
            } else {
                let mut child = node_from_line(rest, escape, lineno)?;
                child.original = rest.to_string();
                (vec![Arg::Instruction(Box::new(child))], false)
            }
        }
        // Unknown instructions parse (and are refused later).
        _ => (vec![Arg::Value(String::new())], false),
    };
    Ok(Instruction {
        keyword,
        cmd,
        flags,
        args,
        json,
        original: String::new(),
        start_line: lineno,
        end_line: lineno,
        heredocs: vec![],
        comments: vec![],
    })
}

/// `^(\d*)<<(-?)([^<]*)$` and the quoting rules of BuildKit's ParseHeredoc.
pub fn parse_heredoc(word: &str) -> Result<Option<Heredoc>, ParseError> {
    let digits = word.bytes().take_while(u8::is_ascii_digit).count();
    let Some(after) = word[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, rest) = match after.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, after),
    };
    // `\s*` between `<<-` and the name.
    let rest = rest.trim_start();
    if rest.contains('<') || rest.is_empty() {
        return Ok(None);
    }
    let fd: u32 = word[..digits].parse().unwrap_or(0);
    let mut lex = Lex::new('\\');
    lex.skip_unset_env = true;
    let words = lex.process_words(rest, &NoEnv).map_err(|e| ParseError {
        line: 0,
        col: 1,
        msg: e.0,
    })?;
    if words.len() != 1 {
        return Ok(None);
    }
    lex.raw_quotes = true;
    let raw = lex.process_words(rest, &NoEnv).map_err(|e| ParseError {
        line: 0,
        col: 1,
        msg: e.0,
    })?;
    if raw.len() != words.len() {
        return perr(
            0,
            format!("internal lexing of heredoc produced inconsistent results: {rest}"),
        );
    }
    let quotes = |s: &str| s.matches(['\'', '"']).count();
    Ok(Some(Heredoc {
        name: words[0].clone(),
        content: String::new(),
        expand: quotes(&words[0]) == quotes(&raw[0]),
        chomp,
        fd,
    }))
}

pub fn heredocs_from_line(line: &str) -> Result<Vec<Heredoc>, ParseError> {
    let mut lex = Lex::new('\\');
    lex.raw_quotes = true;
    lex.raw_escapes = true;
    lex.skip_unset_env = true;
    let words = lex.process_words(line, &NoEnv).unwrap_or_default();
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        // `<< EOF` and `<<- EOF`: the operator and the name may stand apart.
        let bare = {
            let w = words[i].trim_start_matches(|c: char| c.is_ascii_digit());
            w == "<<" || w == "<<-"
        };
        let word = match words.get(i + 1) {
            Some(next) if bare => {
                i += 1;
                format!("{} {next}", words[i - 1])
            }
            _ => words[i].clone(),
        };
        if let Some(h) = parse_heredoc(&word)? {
            out.push(h);
        }
        i += 1;
    }
    Ok(out)
}

/// The parser directives at the top of a file (only the known ones).
pub fn directives(text: &str) -> Result<Directives, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut d = DirectiveState {
        done: false,
        seen: vec![],
        escape: '\\',
        directives: Directives::default(),
    };
    for (n, line) in text.lines().enumerate() {
        d.possible(line.trim_start(), n + 1)?;
        if d.done {
            break;
        }
    }
    Ok(d.directives)
}

/// Parses a whole Dockerfile.
pub fn parse(text: &str) -> Result<Ast, ParseError> {
    let mut p = Parser::new(text);
    let instructions = p.by_ref().collect::<Result<Vec<_>, _>>()?;
    let (directives, escape, warnings) = p.finish();
    Ok(Ast {
        instructions,
        directives,
        escape,
        warnings,
    })
}

/// A Dockerfile read one instruction at a time: a caller that writes each
/// instruction out before reading the next holds one instruction in memory,
/// not the whole syntax tree (a 10 MB file has hundreds of thousands).
///
/// The directives and the escape character are final once the first
/// instruction is out: directives must come before it. After an error the
/// parser yields nothing more.
pub struct Parser<'a> {
    // Lines as bufio.ScanLines gives them: split on \n, a final \r dropped
    // (below), no empty line after a final \n.
    lines: std::str::SplitTerminator<'a, char>,
    d: DirectiveState,
    comments: Vec<String>,
    /// The number of the last line read.
    current: usize,
    warnings: Vec<Warning>,
    any: bool,
    done: bool,
}

impl<'a> Parser<'a> {
    pub fn new(text: &'a str) -> Parser<'a> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        Parser {
            lines: text.split_terminator('\n'),
            d: DirectiveState {
                done: false,
                seen: vec![],
                escape: '\\',
                directives: Directives::default(),
            },
            comments: Vec::new(),
            current: 0,
            warnings: Vec::new(),
            any: false,
            done: false,
        }
    }

    pub fn directives(&self) -> &Directives {
        &self.d.directives
    }

    pub fn escape(&self) -> char {
        self.d.escape
    }

    /// The directives, the escape character and the warnings.
    pub fn finish(self) -> (Directives, char, Vec<Warning>) {
        (self.d.directives, self.d.escape, self.warnings)
    }

    fn instruction(&mut self) -> Result<Option<Instruction>, ParseError> {
        while let Some(raw) = self.lines.next() {
            if raw.len() > MAX_LINE {
                return perr(
                    self.current + 1,
                    "dockerfile line greater than max allowed size of 65535",
                );
            }
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            if is_comment(raw) {
                let c = raw.trim_start()[1..].trim();
                if c.is_empty() {
                    self.comments.clear();
                } else {
                    self.comments.push(c.to_string());
                }
            }
            let token = raw.trim_start();
            self.d.possible(token, self.current + 1)?;
            let token = if is_comment(token) { "" } else { token };
            self.current += 1;
            let start = self.current;
            let (first, mut ended) = trim_continuation(token, self.d.escape);
            if ended && first.is_empty() {
                continue;
            }
            let mut buf = first.to_string();
            let mut empty_continuation = false;
            while !ended {
                let Some(next) = self.lines.next() else { break };
                let next = next.strip_suffix('\r').unwrap_or(next);
                self.d.possible(next, self.current + 1)?;
                self.current += 1;
                if is_comment(next) {
                    continue;
                }
                if next.trim_start().is_empty() {
                    empty_continuation = true;
                    continue;
                }
                let (part, e) = trim_continuation(next, self.d.escape);
                ended = e;
                buf.push_str(part);
            }
            if empty_continuation {
                self.warnings.push(Warning {
                    line: start,
                    rule: "NoEmptyContinuation".into(),
                    message: format!("Empty continuation line found in: {buf}"),
                });
            }
            let mut node = node_from_line(&buf, self.d.escape, start).map_err(|mut e| {
                e.line = start;
                e
            })?;
            node.comments = std::mem::take(&mut self.comments);
            if matches!(node.cmd.as_str(), "add" | "copy" | "run")
                && !node.json
                && buf.contains("<<")
            {
                let mut docs = heredocs_from_line(&buf).map_err(|mut e| {
                    e.line = start;
                    e
                })?;
                for h in &mut docs {
                    let mut terminated = false;
                    for body in self.lines.by_ref() {
                        self.current += 1;
                        let body_trim = body.strip_suffix('\r').unwrap_or(body);
                        let candidate = if h.chomp {
                            body_trim.trim_start_matches('\t')
                        } else {
                            body_trim
                        };
                        if candidate == h.name {
                            terminated = true;
                            break;
                        }
                        h.content.push_str(body_trim);
                        h.content.push('\n');
                    }
                    if !terminated {
                        return perr(start, "unterminated heredoc");
                    }
                }
                node.heredocs = docs;
            }
            node.original = buf;
            node.start_line = start;
            node.end_line = self.current;
            return Ok(Some(node));
        }
        Ok(None)
    }
}

impl Iterator for Parser<'_> {
    type Item = Result<Instruction, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = match self.instruction() {
            Ok(Some(i)) => {
                self.any = true;
                return Some(Ok(i));
            }
            Ok(None) if self.any => None,
            Ok(None) => Some(perr(self.current.max(1), "file with no instructions")),
            Err(e) => Some(Err(e)),
        };
        self.done = true;
        r
    }
}

impl Instruction {
    /// Go's `Node.Dump()` of this instruction, without the outer parens.
    pub fn dump(&self) -> String {
        let mut s = String::new();
        self.dump_into(&mut s);
        s
    }

    /// `dump`, appended to `out`.
    fn dump_into(&self, out: &mut String) {
        let start = out.len();
        out.push_str(&self.cmd);
        if !self.flags.is_empty() {
            out.push_str(" [");
            for (n, f) in self.flags.iter().enumerate() {
                if n > 0 {
                    out.push(' ');
                }
                gostr::quote_into(f, out);
            }
            out.push(']');
        }
        for a in &self.args {
            match a {
                Arg::Value(v) => {
                    out.push(' ');
                    gostr::quote_into(v, out);
                }
                Arg::Instruction(i) => {
                    out.push_str(" (");
                    i.dump_into(out);
                    out.push(')');
                }
            }
        }
        let trimmed = out[start..].trim();
        if trimmed.len() != out.len() - start {
            let trimmed = trimmed.to_string();
            out.truncate(start);
            out.push_str(&trimmed);
        }
    }
}

impl Ast {
    /// BuildKit's dump of the whole file: one `(…)` line per instruction.
    pub fn dump(&self) -> String {
        let mut s = String::new();
        for i in &self.instructions {
            s.push_str(&format!("({})\n", i.dump()));
        }
        format!("{}\n", s.trim())
    }
}

/// Writes BuildKit's dump of `text` (as `Ast::dump`) while parsing it.
/// The file is parsed once before anything is written, so that a file
/// that fails prints nothing.
pub fn write_dump<W: Write>(text: &str, mut w: W) -> Result<(), WriteError> {
    for i in Parser::new(text) {
        i?;
    }
    let mut line = String::new();
    for i in Parser::new(text) {
        line.clear();
        line.push('(');
        i?.dump_into(&mut line);
        line.push_str(")\n");
        w.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// The `--format ast` document.
#[derive(serde::Serialize)]
struct AstDoc<'a, I> {
    version: u32,
    directives: &'a Directives,
    escape: String,
    warnings: &'a [Warning],
    instructions: I,
}

/// Writes the syntax tree of `text` as pretty JSON while parsing it. The
/// warnings come before the instructions, so a first pass gathers them
/// (and finds any error before anything is written).
pub fn write_json<W: Write>(text: &str, w: W) -> Result<(), WriteError> {
    let mut p = Parser::new(text);
    for i in p.by_ref() {
        i?;
    }
    let (directives, escape, warnings) = p.finish();
    let failed = Failed::default();
    let doc = AstDoc {
        version: 1,
        directives: &directives,
        escape: escape.to_string(),
        warnings: &warnings,
        instructions: Lazy::new(Parser::new(text), &failed),
    };
    stream::write_pretty(w, &doc, &failed)
}

/// A directive found by `detect_directive`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The value up to its first whitespace (the frontend reference).
    pub reference: String,
    /// The whole value.
    pub value: String,
    /// 1-based line.
    pub line: usize,
}

/// BuildKit's ParseDirective: finds directive `key` at the top of `text`.
/// A `#!` first line is skipped; a blank line ends the search. With
/// `any_format` (as for `syntax`), a whole-file JSON object
/// `{"syntax": "…"}` and `//key=value` comments count too.
pub fn detect_directive(text: &str, key: &str, any_format: bool) -> Option<Found> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let found = |value: &str, line: usize| Found {
        reference: value.split_whitespace().next().unwrap_or("").to_string(),
        value: value.to_string(),
        line,
    };
    let scan = |prefix: &str| -> Option<Found> {
        for (n, raw) in text.lines().enumerate() {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if n == 0 && line.starts_with("#!") {
                continue;
            }
            let rest = line.strip_prefix(prefix)?;
            let (k, v) = directive_match(&format!("#{rest}"))?;
            if k == key {
                return Some(found(&v, n + 1));
            }
        }
        None
    };
    if let Some(f) = scan("#") {
        return Some(f);
    }
    if !any_format {
        return None;
    }
    if let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(text) {
        if let Some(serde_json::Value::String(v)) = m.get(key) {
            return Some(found(v, 1));
        }
    }
    scan("//")
}
