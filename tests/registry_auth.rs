//! Authentication and TLS against docker-registry set up as the test says:
//! htpasswd Basic over TLS with a CA made by the test, and Docker's token
//! flow with a token server written for the tests. No secret may appear
//! in anything the tools print.

use slipway_tests::*;
use std::process::{Command, Output};

const USER: &str = "builder";
const PASS: &str = "s3cr3t-Pa55";

fn image(env: &Env, name: &str) -> String {
    let layer = files_layer(env.dir.path(), "l.tar", &[("hello", b"hello\n")]);
    let mut c = env.cmd("image-assemble");
    c.args(["-q", "--tag", name]).arg(&layer);
    ok(c).trim().to_string()
}

fn run(mut c: Command) -> Output {
    let out = c.output().expect("run");
    for stream in [&out.stdout, &out.stderr] {
        let text = String::from_utf8_lossy(stream);
        assert!(!text.contains(PASS), "a secret leaked: {text}");
    }
    out
}

fn failed_line(out: &Output, tool: &str) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_one_error(out, tool)
}

#[test]
fn basic_auth_over_tls_with_a_ca_of_the_test() {
    let reg = TestRegistry::start_tls_basic(USER, PASS);
    let env = Env::new();
    let digest = image(&env, "app:1");
    let dest = format!("docker://{}/t/app:1", reg.host);
    let cert_dir = reg.cert_dir.clone().expect("cert dir");
    let creds = format!("{USER}:{PASS}");

    // Verified strictly, the test's CA is unknown to the system.
    let mut c = env.cmd("image-push");
    c.args(["-q", "--tls-verify", "--creds", &creds, "app:1", &dest]);
    let line = failed_line(&run(c), "image-push");
    assert!(
        line.contains("UnknownIssuer") || line.contains("certificate"),
        "{line}"
    );

    // With the CA: no credentials, then wrong ones, are refused clearly.
    let mut c = env.cmd("image-push");
    c.args(["-q", "--tls-verify", "--cert-dir"])
        .arg(&cert_dir)
        .args(["app:1", &dest]);
    let line = failed_line(&run(c), "image-push");
    assert!(line.contains("authentication required"), "{line}");
    let mut c = env.cmd("image-push");
    c.args(["-q", "--tls-verify", "--cert-dir"]).arg(&cert_dir);
    c.args(["--creds", &format!("{USER}:wrong-{PASS}"), "app:1", &dest]);
    let line = failed_line(&run(c), "image-push");
    assert!(line.contains("401"), "{line}");

    // The right ones push; skopeo reads it back with the same CA.
    let mut c = env.cmd("image-push");
    c.args(["-q", "--tls-verify", "--cert-dir"]).arg(&cert_dir);
    c.args(["--creds", &creds, "app:1", &dest]);
    let out = run(c);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), digest);
    let info = skopeo_inspect(&[
        "--cert-dir",
        cert_dir.to_str().unwrap(),
        "--creds",
        &creds,
        &dest,
    ]);
    assert_eq!(info["Digest"].as_str(), Some(digest.as_str()));

    // Pull with the credentials from an auth file, as skopeo and podman
    // keep them; localhost is an insecure registry by default, so no CA.
    let auth = env.path("auth.json");
    std::fs::write(
        &auth,
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#,
            reg.host,
            base64(&creds)
        ),
    )
    .unwrap();
    let other = Env::new();
    let mut c = other.cmd("image-pull");
    c.env("REGISTRY_AUTH_FILE", &auth).args(["-q", &dest]);
    let out = run(c);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), digest);
}

#[test]
fn the_token_flow_caches_tokens_and_refuses_wrong_passwords() {
    let reg = TestRegistry::start_token(USER, PASS);
    let env = Env::new();
    let digest = image(&env, "app:1");
    let dest = format!("docker://{}/team/app:1", reg.host);

    let mut c = env.cmd("image-push");
    c.args(["-q", "--creds", &format!("{USER}:nope"), "app:1", &dest]);
    let line = failed_line(&run(c), "image-push");
    assert!(line.contains("authentication failed"), "{line}");

    let before = reg.token_requests();
    let mut c = env.cmd("image-push");
    c.args(["-q", "--creds", &format!("{USER}:{PASS}"), "app:1", &dest]);
    let out = run(c);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        reg.log()
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), digest);
    // Two blobs checked and uploaded and a manifest put, three at a time,
    // all on one token.
    assert_eq!(reg.token_requests() - before, 1, "{:?}", reg.token_scopes());
    assert!(reg
        .token_scopes()
        .contains(&"repository:team/app:pull,push".to_string()));

    // Anonymous: the token grants nothing, and the refusal is one line.
    let other = Env::new();
    let mut c = other.cmd("image-pull");
    c.args(["-q", &dest]);
    let line = failed_line(&run(c), "image-pull");
    assert!(line.contains("401"), "{line}");

    // A credential helper named by Docker's config.json for this host.
    let bin = other.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-slipwaytest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\n[ \"$server\" = {host} ] || {{ echo 'credentials not found in native keychain'; exit 1; }}\necho '{{\"ServerURL\":\"{host}\",\"Username\":\"{USER}\",\"Secret\":\"{PASS}\"}}'\n",
            host = reg.host
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let docker = other.path("docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(
        docker.join("config.json"),
        format!(r#"{{"credHelpers":{{"{}":"slipwaytest"}}}}"#, reg.host),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = other.cmd("image-pull");
    c.env("PATH", path)
        .env("DOCKER_CONFIG", &docker)
        .env_remove("REGISTRY_AUTH_FILE")
        .env("HOME", other.dir.path())
        .env_remove("XDG_RUNTIME_DIR")
        .args(["-q", &dest]);
    let out = run(c);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), digest);

    // A second repository: the blobs are mounted with a token that covers
    // both repositories.
    let mut c = env.cmd("image-push");
    c.args(["--creds", &format!("{USER}:{PASS}"), "app:1"]);
    c.arg(format!("docker://{}/team/copy:1", reg.host));
    let out = run(c);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(err.matches("mounted from team/app").count(), 2, "{err}");
    assert!(reg
        .token_scopes()
        .iter()
        .any(|s| s == "repository:team/app:pull"));
}

fn base64(s: &str) -> String {
    let mut c = Command::new("base64");
    c.arg("-w0");
    String::from_utf8(run_with_input(c, s.as_bytes()).stdout).unwrap()
}
