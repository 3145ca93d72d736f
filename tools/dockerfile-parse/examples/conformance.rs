//! Runs BuildKit's parser test data (../shared/conformance/buildkit) against
//! dockerfile-parse and the shared word expander, and reports how many
//! cases pass: `cargo run --example conformance -- DIR [-v]`.

use dockerfile_parse::ast;
use slipway_common::shell::Lex;
use std::collections::HashMap;
use std::fs;
use std::path::Path;

struct Tally {
    name: &'static str,
    pass: usize,
    fail: Vec<String>,
}

impl Tally {
    fn new(name: &'static str) -> Tally {
        Tally {
            name,
            pass: 0,
            fail: vec![],
        }
    }
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if ok {
            self.pass += 1;
        } else {
            self.fail.push(what());
        }
    }
}

fn testfiles(dir: &Path) -> Tally {
    let mut t = Tally::new("testfiles (dump equals result)");
    let mut cases: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    cases.sort();
    for case in cases {
        let src = fs::read_to_string(case.join("Dockerfile")).unwrap();
        let want = fs::read_to_string(case.join("result")).unwrap();
        let got = ast::parse(&src).map(|a| a.dump());
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        t.check(got.as_ref().ok() == Some(&want), || match &got {
            Ok(g) => format!("{name}: dump differs\n--- want\n{want}--- got\n{g}"),
            Err(e) => format!("{name}: rejected: {e}"),
        });
    }
    t
}

fn negatives(dir: &Path) -> Tally {
    let mut t = Tally::new("testfiles-negative (rejected)");
    let mut cases: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    cases.sort();
    for case in cases {
        let src = fs::read_to_string(case.join("Dockerfile")).unwrap_or_default();
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        t.check(ast::parse(&src).is_err(), || format!("{name}: accepted"));
    }
    t
}

fn env_var_test(path: &Path) -> Tally {
    let mut t = Tally::new("envVarTest (ProcessWord)");
    let env: HashMap<String, String> = [
        ("PWD", "/home"),
        ("SHELL", "bash"),
        ("KOREAN", "한국어"),
        ("NULL", ""),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let lex = Lex::new('\\');
    for line in fs::read_to_string(path).unwrap().lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.trim().split('|').map(str::trim).collect();
        if f.len() != 3 || f[0] == "W" {
            continue;
        }
        let got = lex.process_word(f[1], &env);
        let ok = match f[2] {
            "error" => got.is_err(),
            want => got.as_deref() == Ok(want),
        };
        t.check(ok, || format!("{:?}: want {:?}, got {got:?}", f[1], f[2]));
    }
    t
}

fn words_test(path: &Path) -> Tally {
    let mut t = Tally::new("wordsTest (ProcessWords)");
    let mut env: HashMap<String, String> = HashMap::new();
    let lex = Lex::new('\\');
    for line in fs::read_to_string(path).unwrap().lines() {
        if line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("ENV ") {
            let (k, v) = rest.trim_start().split_once('=').unwrap();
            env.insert(k.to_string(), v.to_string());
            continue;
        }
        let Some((src, want)) = line.split_once('|') else {
            continue;
        };
        let src = src.trim();
        let want = want.trim_start();
        let got = lex.process_words(src, &env);
        let ok = match want {
            "error" => got.is_err(),
            w => got.as_ref().ok().map(|g| g.join(",")) == Some(w.to_string()),
        };
        t.check(ok, || format!("{src:?}: want {want:?}, got {got:?}"));
    }
    t
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let verbose = args.iter().any(|a| a == "-v");
    let Some(root) = args.iter().find(|a| *a != "-v") else {
        eprintln!("usage: conformance DIR [-v]   (DIR: shared/conformance/buildkit)");
        std::process::exit(2);
    };
    let root = Path::new(root);
    let p = root.join("frontend/dockerfile");
    let tallies = [
        testfiles(&p.join("parser/testfiles")),
        negatives(&p.join("parser/testfiles-negative")),
        env_var_test(&p.join("shell/envVarTest")),
        words_test(&p.join("shell/wordsTest")),
    ];
    let (mut pass, mut fail) = (0, 0);
    for t in &tallies {
        println!(
            "{:<40} {:>4} passed, {:>3} failed",
            t.name,
            t.pass,
            t.fail.len()
        );
        if verbose {
            for f in &t.fail {
                println!("  FAIL {f}");
            }
        }
        pass += t.pass;
        fail += t.fail.len();
    }
    println!("conformance: {pass} passed, {fail} failed");
    if fail > 0 {
        std::process::exit(1);
    }
}
