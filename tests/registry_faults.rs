//! Pushes and pulls through a proxy that drops connections mid-blob and
//! answers 500 and 429 once each: they finish, and every digest verifies.

use slipway_tests::*;

fn image(env: &Env) -> String {
    let data = noise(2 << 20);
    let layer = files_layer(env.dir.path(), "l.tar", &[("noise", &data[..])]);
    let mut c = env.cmd("image-assemble");
    c.args(["-q", "--tag", "app:1"]).arg(&layer);
    ok(c).trim().to_string()
}

fn push_and_pull_through_faults(chunk: Option<&str>) {
    let reg = TestRegistry::start();
    let env = Env::new();
    let digest = image(&env);

    let proxy = FaultProxy::start(&reg.host, Faults::all());
    let dest = format!("docker://{}/f/app:1", proxy.host);
    let mut c = env.cmd("image-push");
    if let Some(size) = chunk {
        c.args(["--chunk-size", size]);
    }
    c.args(["app:1", &dest]);
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}\n{:?}", proxy.requests());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), digest);
    let injected = proxy.injected();
    for fault in ["cut upload", "500 HEAD", "429 PUT"] {
        assert!(
            injected.iter().any(|f| f.starts_with(fault)),
            "{fault}: {injected:?}"
        );
    }
    assert!(
        err.contains("resuming at byte") || err.contains("starting again"),
        "{err}"
    );
    // The registry holds exactly what was pushed (straight, not through the proxy).
    let info = skopeo_inspect(&[
        "--tls-verify=false",
        &format!("docker://{}/f/app:1", reg.host),
    ]);
    assert_eq!(info["Digest"].as_str(), Some(digest.as_str()));
    drop(proxy);

    let proxy = FaultProxy::start(&reg.host, Faults::all());
    let other = Env::new();
    let mut c = other.cmd("image-pull");
    c.arg(format!("{}/f/app:1", proxy.host));
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}\n{:?}", proxy.requests());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), digest);
    let injected = proxy.injected();
    for fault in ["cut download", "500 GET", "429 GET"] {
        assert!(
            injected.iter().any(|f| f.starts_with(fault)),
            "{fault}: {injected:?}"
        );
    }
    assert!(err.contains("resuming at byte"), "{err}");
    // Every blob verified on the way into the store, and again here.
    validate_image(&other.store(), &format!("{}/f/app:1", proxy.host));
}

#[test]
fn one_put_uploads_and_pulls_survive_drops_500_and_429() {
    push_and_pull_through_faults(None);
}

#[test]
fn chunked_uploads_resume_where_the_registry_stands() {
    push_and_pull_through_faults(Some("256k"));
}
