//! Golden tests: tests/fixtures/<case>/Dockerfile with the expected plan
//! (expected.json) or the expected error line (error.txt). `args`, when
//! present, holds extra command-line arguments, one per line. With
//! SLIPWAY_BLESS=1 the expected files are written from the current output.

use std::fs;
use std::path::Path;
use std::process::Command;

#[test]
fn every_fixture_gives_its_expected_plan_or_error() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let bless = std::env::var_os("SLIPWAY_BLESS").is_some();
    let mut cases: Vec<_> = fs::read_dir(&root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 80, "{} golden cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dockerfile-parse"));
        cmd.current_dir(case)
            .arg("Dockerfile")
            .env_remove("SOURCE_DATE_EPOCH");
        if let Ok(a) = fs::read_to_string(case.join("args")) {
            cmd.args(a.lines().filter(|l| !l.is_empty()));
        }
        // The platform is pinned so the plans do not depend on the host.
        if !fs::read_to_string(case.join("args"))
            .unwrap_or_default()
            .contains("--platform")
        {
            cmd.args(["--platform", "linux/amd64"]);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!stderr.contains("panicked"), "{}: {stderr}", case.display());
        let (file, got) = if out.status.success() {
            ("expected.json", String::from_utf8(out.stdout).unwrap())
        } else {
            assert_eq!(out.status.code(), Some(1), "{}: {stderr}", case.display());
            assert_eq!(stderr.lines().count(), 1, "{}: {stderr}", case.display());
            ("error.txt", stderr)
        };
        let other = if file == "error.txt" {
            "expected.json"
        } else {
            "error.txt"
        };
        if bless {
            fs::write(case.join(file), &got).unwrap();
            let _ = fs::remove_file(case.join(other));
            continue;
        }
        match fs::read_to_string(case.join(file)) {
            Ok(want) if want == got => {}
            Ok(want) => failures.push(format!(
                "{}: {file} differs\n--- want\n{want}\n--- got\n{got}",
                case.display()
            )),
            Err(_) => failures.push(format!(
                "{}: no {file} (got {})",
                case.display(),
                got.lines().next().unwrap_or("")
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
