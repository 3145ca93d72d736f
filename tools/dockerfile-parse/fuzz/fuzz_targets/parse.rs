//! Any bytes as a Dockerfile: the parser, the dump and the plan must
//! return (an error is fine) and never panic.
#![no_main]

use dockerfile_parse::{ast, plan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(a) = ast::parse(text) {
        let _ = a.dump();
        let opts = plan::Options {
            build_platform: "linux/amd64".into(),
            target_platform: "linux/amd64".into(),
            ..Default::default()
        };
        let _ = plan::plan(a, &opts);
    }
    let _ = ast::detect_directive(text, "syntax", true);
});
