//! No input makes the parser panic or hang: thousands of generated
//! Dockerfiles, spliced from fragments that exercise every part of the
//! grammar, each parsed and planned. It runs with every `cargo test`; the
//! coverage-guided fuzz targets (scripts/fuzz.sh) go further in CI.

use dockerfile_parse::{ast, plan};

const FRAGMENTS: &[&str] = &[
    "FROM ",
    "RUN ",
    "COPY ",
    "ADD ",
    "ENV ",
    "ARG ",
    "LABEL ",
    "ONBUILD ",
    "HEALTHCHECK ",
    "SHELL ",
    "CMD ",
    "EXPOSE ",
    "WORKDIR ",
    "USER ",
    "VOLUME ",
    "STOPSIGNAL ",
    "MAINTAINER ",
    "FOO ",
    "\n",
    "\\\n",
    "\\",
    "`",
    "# escape=`\n",
    "# syntax=x\n",
    "#",
    "\"",
    "'",
    "[",
    "]",
    "[\"a\", \"b\"]",
    "[1]",
    "{",
    "}",
    "$",
    "${",
    "${A:-x}",
    "${A/b/c}",
    "${A#*}",
    "<<EOF\n",
    "<<-'E'\n",
    "EOF\n",
    "E\n",
    "--from=0 ",
    "--mount=type=cache,target=/x ",
    "--",
    "--flag",
    "=",
    "a=b ",
    " AS ",
    "x ",
    "\t",
    "\r\n",
    "\u{feff}",
    "é",
    "♥",
    "\u{0}",
    "0",
    "9<<X ",
    "alpine:3 ",
    "scratch",
    "NONE",
    "CMD",
];

#[test]
fn generated_inputs_never_panic_and_errors_are_one_line() {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let opts = plan::Options {
        build_platform: "linux/amd64".into(),
        target_platform: "linux/amd64".into(),
        ..Default::default()
    };
    for _ in 0..20_000 {
        let n = (rnd() % 40) as usize;
        let mut src = String::new();
        for _ in 0..n {
            src.push_str(FRAGMENTS[(rnd() % FRAGMENTS.len() as u64) as usize]);
        }
        match ast::parse(&src) {
            Ok(a) => {
                let _ = a.dump();
                if let Err(e) = plan::plan(a, &opts) {
                    assert!(!e.msg.is_empty(), "{src:?}");
                }
            }
            Err(e) => assert!(e.line >= 1 && !e.msg.is_empty(), "{src:?}: {e:?}"),
        }
    }
}

/// The documents the tool writes while it parses (`plan::streamed`,
/// `ast::write_dump`, `ast::write_json`) are, byte for byte, those built
/// from the whole syntax tree, and a file that fails fails with the same
/// error (a parse error anywhere before a plan error).
#[test]
fn streamed_documents_equal_the_ones_built_whole() {
    #[derive(serde::Serialize)]
    struct AstDoc<'a> {
        version: u32,
        directives: &'a ast::Directives,
        escape: String,
        warnings: &'a [ast::Warning],
        instructions: &'a [ast::Instruction],
    }
    const HEADS: &[&str] = &[
        "# check=skip=JSONArgsRecommended\n",
        "# escape=`\n",
        "# syntax=x\n",
        "ARG B=alpine\n",
        "",
    ];
    const LINES: &[&str] = &[
        "FROM ${B:-x} AS a\n",
        "from scratch as b\n",
        "FROM a\n",
        "FROM alpine AS A\n",
        "FROM --platform=$TARGETPLATFORM ${NOPE:-busybox}\n",
        "RUN --mount=type=cache,target=/c,from=a echo \\\n  two \\\n\n  three\n",
        "run echo hi\n",
        "RUN <<EOF\nbody\nEOF\n",
        "COPY --from=a /x /y\n",
        "COPY <<-E /dst\n\tdata\nE\n",
        "ENV K v\n",
        "ENV API_TOKEN=1 B=\"two words\"\n",
        "LABEL k=v\n",
        "ARG N\n",
        "CMD a\n",
        "CMD [\"a\"]\n",
        "ENTRYPOINT x\n",
        "HEALTHCHECK NONE\n",
        "WORKDIR rel\n",
        "EXPOSE 80/TCP 1:2\n",
        "ONBUILD RUN x\n",
        "MAINTAINER me\n",
        "# a comment\n",
        "\n",
        "SHELL [\"sh\", \"-c\"]\n",
    ];
    // Each fails one way; a few inputs have one.
    const BAD: &[&str] = &[
        "# check=error=maybe\n",
        "COPY --from=9 /x /y\n",
        "FOO bar\n",
        "RUN [1]\n",
        "USER\n",
        "RUN <<EOF\n",
        "FROM a AS 1x\n",
    ];
    let opts = plan::Options {
        build_platform: "linux/amd64".into(),
        target_platform: "linux/amd64".into(),
        ..Default::default()
    };
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    let mut sources: Vec<String> = Vec::new();
    for _ in 0..3_000 {
        let mut src = String::from(HEADS[rnd(HEADS.len())]);
        src.push_str("FROM ${B:-alpine} AS base\n");
        for _ in 0..rnd(12) {
            if rnd(40) == 0 {
                src.push_str(BAD[rnd(BAD.len())]);
            } else {
                src.push_str(LINES[rnd(LINES.len())]);
            }
        }
        sources.push(src);
    }
    for _ in 0..3_000 {
        let mut src = String::new();
        for _ in 0..rnd(40) {
            src.push_str(FRAGMENTS[rnd(FRAGMENTS.len())]);
        }
        sources.push(src);
    }
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for case in std::fs::read_dir(fixtures).unwrap().flatten() {
        if let Ok(src) = std::fs::read_to_string(case.path().join("Dockerfile")) {
            sources.push(src);
        }
    }
    let parse_error = |e: dockerfile_parse::stream::WriteError| match e {
        dockerfile_parse::stream::WriteError::Parse(p) => p,
        e => panic!("{e}"),
    };
    let mut planned = 0;
    for src in &sources {
        let parsed = ast::parse(src);

        let want = parsed.clone().map(|a| a.dump());
        let mut got = Vec::new();
        let got = ast::write_dump(src, &mut got)
            .map(|()| String::from_utf8(got).unwrap())
            .map_err(parse_error);
        assert_eq!(got, want, "buildkit-ast of {src:?}");

        let want = parsed.as_ref().map(|a| {
            let doc = AstDoc {
                version: 1,
                directives: &a.directives,
                escape: a.escape.to_string(),
                warnings: &a.warnings,
                instructions: &a.instructions,
            };
            serde_json::to_string_pretty(&doc).unwrap() + "\n"
        });
        let mut got = Vec::new();
        let got = ast::write_json(src, &mut got)
            .map(|()| String::from_utf8(got).unwrap())
            .map_err(parse_error);
        assert_eq!(got, want.map_err(Clone::clone), "ast of {src:?}");

        let want = parsed
            .and_then(|a| plan::plan(a, &opts))
            .map(|p| serde_json::to_string_pretty(&p).unwrap() + "\n");
        let got = plan::streamed(src, &opts).and_then(|s| {
            let mut out = Vec::new();
            s.write(&mut out).map_err(parse_error)?;
            Ok(String::from_utf8(out).unwrap())
        });
        planned += usize::from(want.is_ok());
        assert_eq!(got, want, "plan of {src:?}");
    }
    assert!(planned > 2_000, "only {planned} of the inputs planned");
}
