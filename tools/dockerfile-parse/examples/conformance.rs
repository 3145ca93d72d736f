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
        extracted::heredocs(root),
        extracted::expansion(root),
        extracted::misc(root),
        extracted::directives(root),
        extracted::doc_snippets(root),
        instructions::cases(root),
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

mod extracted {
    use super::*;
    use serde_json::Value;

    fn load(root: &Path, name: &str) -> Value {
        serde_json::from_str(&fs::read_to_string(root.join("extracted").join(name)).unwrap())
            .unwrap()
    }

    fn env_of(v: &Value) -> HashMap<String, String> {
        v.as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn heredoc_json(h: &ast::Heredoc) -> Value {
        serde_json::json!({"name": h.name, "content": h.content, "expand": h.expand, "chomp": h.chomp, "fd": h.fd})
    }

    pub fn heredocs(root: &Path) -> Tally {
        let mut t = Tally::new("extracted: heredocs");
        let d = load(root, "parser_heredoc_cases.json");
        let e = &d["extracts_heredoc"];
        match ast::parse(e["dockerfile"].as_str().unwrap()) {
            Err(err) => t.check(false, || format!("extracts_heredoc: rejected: {err}")),
            Ok(a) => {
                for c in e["expected_children"].as_array().unwrap() {
                    let i = c["child_index"].as_u64().unwrap() as usize;
                    let got: Value = match a.instructions.get(i) {
                        Some(ins) if !ins.heredocs.is_empty() => {
                            Value::Array(ins.heredocs.iter().map(heredoc_json).collect())
                        }
                        _ => Value::Null,
                    };
                    t.check(got == c["heredocs"], || {
                        format!(
                            "extracts_heredoc child {i}: want {}, got {got}",
                            c["heredocs"]
                        )
                    });
                }
            }
        }
        let j = &d["json_form_never_heredoc"];
        let a = ast::parse(j["dockerfile"].as_str().unwrap()).unwrap();
        for i in j["children_without_heredocs"].as_array().unwrap() {
            let i = i.as_u64().unwrap() as usize;
            t.check(a.instructions[i].heredocs.is_empty(), || {
                format!("json form child {i} took a heredoc")
            });
        }
        let p = &d["parse_heredoc_word"];
        for w in p["valid"].as_array().unwrap() {
            let w = w.as_str().unwrap();
            let got = ast::parse_heredoc(w);
            t.check(matches!(&got, Ok(Some(h)) if h.name == "EOF"), || {
                format!("heredoc word {w:?}: {got:?}")
            });
        }
        for w in p["invalid"].as_array().unwrap() {
            let w = w.as_str().unwrap();
            t.check(ast::parse_heredoc(w).is_err(), || {
                format!("heredoc word {w:?} should be an error")
            });
        }
        for w in p["not_heredoc"].as_array().unwrap() {
            let w = w.as_str().unwrap();
            t.check(matches!(ast::parse_heredoc(w), Ok(None)), || {
                format!("{w:?} is not a heredoc")
            });
        }
        for c in d["heredocs_from_line"]["cases"].as_array().unwrap() {
            let line = c["line"].as_str().unwrap();
            let got = ast::heredocs_from_line(line);
            let ok = match (&got, c["names"].as_array()) {
                (Ok(h), Some(names)) => {
                    h.iter()
                        .map(|x| Value::from(x.name.clone()))
                        .collect::<Vec<_>>()
                        == *names
                }
                (Ok(_), None) => true,
                _ => false,
            };
            t.check(ok, || format!("heredocs_from_line {line:?}: {got:?}"));
        }
        t
    }

    pub fn expansion(root: &Path) -> Tally {
        let mut t = Tally::new("extracted: expansion");
        let d = load(root, "shell_expansion_cases.json");
        let lex = Lex::new('\\');
        for key in [
            "process_with_matches",
            "mandatory_env_vars",
            "platform_release_name",
        ] {
            for c in d[key].as_array().unwrap() {
                let input = c["input"].as_str().unwrap();
                let got = lex.process_word(input, &env_of(&c["env"]));
                let ok = if c["expect_error"] == true {
                    got.as_ref().is_err_and(|e| {
                        c["error_contains"].as_str().is_none_or(|m| e.0.contains(m))
                    })
                } else {
                    got.as_deref().ok() == c["expected"].as_str()
                };
                t.check(ok, || {
                    format!("{key} {input:?}: want {}, got {got:?}", c["expected"])
                });
            }
        }
        for c in d["get_env_list_semantics"].as_array().unwrap() {
            let list: Vec<String> = c["env_list"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect();
            let got = slipway_common::shell::Env::get(&list[..], c["lookup"].as_str().unwrap())
                .unwrap_or_default();
            t.check(Some(got.as_str()) == c["expected"].as_str(), || {
                format!("env list {list:?}: got {got:?}")
            });
        }
        t
    }

    pub fn misc(root: &Path) -> Tally {
        let mut t = Tally::new("extracted: parser misc");
        let d = load(root, "parser_misc_cases.json");
        for c in d["parse_words"]["cases"].as_array().unwrap() {
            let got = ast::parse_words(c["input"].as_str().unwrap(), '\\');
            t.check(serde_json::json!(got) == c["expected"], || {
                format!("parse_words {}: {got:?}", c["input"])
            });
        }
        let ln = &d["line_numbers"];
        let a = ast::parse(&fs::read_to_string(root.join(ln["file"].as_str().unwrap())).unwrap())
            .unwrap();
        let spans: Vec<Value> = a
            .instructions
            .iter()
            .map(|i| serde_json::json!([i.start_line, i.end_line]))
            .collect();
        t.check(Value::Array(spans.clone()) == ln["children"], || {
            format!("line spans {spans:?}")
        });
        let w = &d["empty_continuation_warnings"];
        let a = ast::parse(w["dockerfile"].as_str().unwrap()).unwrap();
        t.check(
            a.warnings.len() as u64 == w["expected_warning_count"].as_u64().unwrap(),
            || format!("warnings {:?}", a.warnings),
        );
        for (i, parts) in w["warning_contains"].as_array().unwrap().iter().enumerate() {
            let ok = a.warnings.get(i).is_some_and(|x| {
                parts
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|p| x.message.contains(p.as_str().unwrap()))
            });
            t.check(ok, || format!("warning {i}: {:?}", a.warnings.get(i)));
        }
        let long = &d["line_too_long"];
        let src = long["dockerfile_template"]
            .as_str()
            .unwrap()
            .replace("{a*65536}", &"a".repeat(65536));
        let got = ast::parse(&src);
        t.check(
            got.as_ref()
                .is_err_and(|e| e.msg == long["expected_error"].as_str().unwrap()),
            || format!("line too long: {:?}", got.err()),
        );
        let j = &d["json_arrays"];
        for c in j["valid"].as_array().unwrap() {
            let src = format!("CMD {}", c["input"].as_str().unwrap());
            let got = ast::parse(&src).map(|a| a.instructions[0].args.clone());
            let want: Vec<ast::Arg> = c["expected"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| ast::Arg::Value(v.as_str().unwrap().into()))
                .collect();
            t.check(got.as_ref().ok() == Some(&want), || {
                format!("json {}: {got:?}", c["input"])
            });
        }
        for c in j["invalid_not_string_array"].as_array().unwrap() {
            let src = format!("CMD {}", c.as_str().unwrap());
            t.check(ast::parse(&src).is_err(), || {
                format!("json {c} should be refused")
            });
        }
        for c in d["name_val"]["cases"].as_array().unwrap() {
            let src = format!(
                "{} {}",
                c["key"].as_str().unwrap(),
                c["input"].as_str().unwrap()
            );
            let got = ast::parse(&src);
            let ok = if c["expect_error"] == true {
                got.as_ref()
                    .is_err_and(|e| e.msg == c["error"].as_str().unwrap())
            } else {
                got.as_ref().is_ok_and(|a| {
                    let vals: Vec<Value> = a.instructions[0]
                        .args
                        .iter()
                        .map(|x| match x {
                            ast::Arg::Value(v) => Value::from(v.clone()),
                            _ => Value::Null,
                        })
                        .collect();
                    Value::Array(vals) == c["expected_chain"]
                })
            };
            t.check(ok, || format!("name_val {src:?}: {got:?}"));
        }
        t
    }

    pub fn directives(root: &Path) -> Tally {
        let mut t = Tally::new("extracted: directives");
        let d = load(root, "parser_directive_cases.json");
        for (key, any) in [("detect_syntax", true), ("parse_directive_check", false)] {
            let name = if key == "detect_syntax" {
                "syntax"
            } else {
                "check"
            };
            for c in d[key]["cases"].as_array().unwrap() {
                let mut text = c["text"].as_str().unwrap().to_string();
                if c.get("text_hex_prefix").is_some() {
                    text.insert(0, '\u{feff}');
                }
                let got = ast::detect_directive(&text, name, any);
                let ok = match (&got, c["ok"].as_bool().unwrap()) {
                    (Some(f), true) => {
                        c["ref"].as_str().is_none_or(|r| r == f.reference)
                            && c["cmdline"].as_str().is_none_or(|v| v == f.value)
                            && c["line"].as_u64().is_none_or(|l| l as usize == f.line)
                    }
                    (None, false) => true,
                    _ => false,
                };
                t.check(ok, || format!("{key} {text:?}: {got:?}"));
            }
        }
        for c in d["parse_all"]["cases"].as_array().unwrap() {
            let got = ast::directives(c["text"].as_str().unwrap());
            let want = &c["expected"][0];
            t.check(
                got.as_ref()
                    .is_ok_and(|g| g.escape.as_deref() == want["value"].as_str()),
                || format!("directives {}: {got:?}", c["text"]),
            );
        }
        t
    }

    pub fn doc_snippets(root: &Path) -> Tally {
        let mut t = Tally::new("doc snippets (golden dumps)");
        let dir = root.join("doc-snippets");
        for line in fs::read_to_string(dir.join("GOLDEN.buildkit-ast.jsonl"))
            .unwrap()
            .lines()
        {
            let c: Value = serde_json::from_str(line).unwrap();
            let file = c["file"].as_str().unwrap();
            let src = fs::read_to_string(dir.join(file)).unwrap();
            let got = ast::parse(&src);
            let ok = match (&got, c["ok"].as_bool().unwrap()) {
                (Ok(a), true) => {
                    let spans_ok = c["children"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .zip(&a.instructions)
                        .all(|(w, g)| {
                            w["start_line"].as_u64() == Some(g.start_line as u64)
                                && w["end_line"].as_u64() == Some(g.end_line as u64)
                        });
                    Some(a.dump().as_str()) == c["result"].as_str()
                        && spans_ok
                        && a.warnings.len() == c["warnings"].as_array().map_or(0, |w| w.len())
                }
                (Err(_), false) => true,
                _ => false,
            };
            t.check(ok, || {
                format!(
                    "{file}: want {} got {:?}",
                    c["result"],
                    got.map(|a| (
                        a.dump(),
                        a.warnings.len(),
                        a.instructions
                            .iter()
                            .map(|i| (i.start_line, i.end_line))
                            .collect::<Vec<_>>()
                    ))
                )
            });
        }
        t
    }
}

mod instructions {
    use super::*;
    use dockerfile_parse::plan;
    use serde_json::Value;

    fn plan_of(df: &str) -> Result<plan::Plan, String> {
        let opts = plan::Options {
            build_platform: "linux/amd64".into(),
            target_platform: "linux/amd64".into(),
            ..Default::default()
        };
        // The vectors are single instructions: give them a stage.
        let src = format!("FROM scratch\n{df}");
        let a = ast::parse(&src).map_err(|e| e.msg)?;
        plan::plan(a, &opts).map_err(|e| e.msg)
    }

    pub fn cases(root: &Path) -> Tally {
        let mut t = Tally::new("extracted: instruction layer");
        let d: Value = serde_json::from_str(
            &fs::read_to_string(root.join("extracted/instructions_cases.json")).unwrap(),
        )
        .unwrap();
        for key in [
            "exactly_one_argument",
            "at_least_one_argument",
            "no_destination",
        ] {
            let c = &d[key];
            for df in c["dockerfiles"].as_array().unwrap() {
                let df = df.as_str().unwrap();
                let cmd = df.split_whitespace().next().unwrap();
                let want = c["error"].as_str().unwrap().replace("<CMD>", cmd);
                let got = plan_of(df);
                t.check(got.as_ref().is_err_and(|e| e == &want), || {
                    format!("{df:?}: want {want:?}, got {:?}", got.err())
                });
            }
        }
        for c in d["error_cases"].as_array().unwrap() {
            let df = c["dockerfile"].as_str().unwrap();
            let got = plan_of(df);
            t.check(
                got.as_ref()
                    .is_err_and(|e| e.contains(c["error_contains"].as_str().unwrap())),
                || {
                    format!(
                        "{}: want error {:?}, got {:?}",
                        c["name"],
                        c["error_contains"],
                        got.as_ref().err()
                    )
                },
            );
        }
        for c in d["copy_heredoc"].as_array().unwrap() {
            let df = c["dockerfile"].as_str().unwrap();
            let got = plan_of(df);
            let copy_of = |p: &plan::Plan| match &p.stages[0].steps[0].ins {
                slipway_common::plan::Instruction::Copy(c)
                | slipway_common::plan::Instruction::Add(c) => Some(c.clone()),
                _ => None,
            };
            let ok = got.as_ref().ok().and_then(copy_of).is_some_and(|s| {
                let inline: Vec<Value> = s
                    .inline
                    .iter()
                    .map(
                        |i| serde_json::json!({"path": i.path, "data": i.data, "expand": i.expand}),
                    )
                    .collect();
                Some(s.dest.as_str()) == c["dest"].as_str()
                    && serde_json::json!(s.sources) == c["source_paths"]
                    && Value::Array(inline) == c["source_contents"]
            });
            t.check(ok, || {
                format!("copy heredoc {df:?}: {:?}", got.as_ref().map(copy_of))
            });
        }
        for c in d["run_heredoc"].as_array().unwrap() {
            let df = c["dockerfile"].as_str().unwrap();
            let got = plan_of(df);
            let ok = got.as_ref().is_ok_and(|p| {
                let s = &p.stages[0].steps[0];
                let files: Vec<Value> = s.heredocs.iter().map(|h| serde_json::json!({"name": h.name, "data": h.content, "chomp": h.chomp})).collect();
                (s.ins.form() == Some(plan::Form::Shell)) == c["prepend_shell"].as_bool().unwrap() && serde_json::json!(s.args) == c["cmdline"] && Value::Array(files) == c["files"]
            });
            t.check(ok, || format!("run heredoc {df:?}"));
        }
        let r = &d["run_flags_used"];
        let got = plan_of(r["dockerfile"].as_str().unwrap());
        t.check(
            got.as_ref().is_ok_and(|p| match &p.stages[0].steps[0].ins {
                slipway_common::plan::Instruction::Run(r) => {
                    r.flags
                        == plan::RunFlags {
                            mount: r.flags.mount.clone(),
                            ..Default::default()
                        }
                        && !r.flags.mount.is_empty()
                }
                _ => false,
            }),
            || "run flags used".into(),
        );
        t
    }
}
