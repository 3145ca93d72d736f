//! Multi-platform images: an index made in the store, pushed whole,
//! pulled whole, written out whole; skopeo as the oracle for what the
//! registry and the layouts hold.

use slipway_tests::*;

/// A store with busybox for the host (`bb`) and for arm64 (`bb-arm64`)
/// joined into the index `multi`; returns the index digest.
fn two_platforms(env: &Env) -> String {
    busybox_image(env, "bb", &[]);
    foreign_busybox_image(env, "bb-arm64", "arm64");
    let mut c = env.cmd("image-store");
    c.args(["manifest", "create", "multi", "bb", "bb-arm64"]);
    ok(c).trim().to_string()
}

#[test]
fn an_index_made_in_the_store_lists_each_platform_and_runs_the_hosts() {
    let env = Env::new();
    let digest = two_platforms(&env);
    let mut c = env.cmd("image-store");
    c.args(["manifest", "inspect", "multi"]);
    let index = json(&ok(c));
    assert_eq!(
        index["mediaType"].as_str(),
        Some("application/vnd.oci.image.index.v1+json")
    );
    let platforms: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{}/{}",
                m["platform"]["os"].as_str().unwrap(),
                m["platform"]["architecture"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    let mut c = env.cmd("image-store");
    c.args([
        "ls",
        "--digests",
        "--format",
        "{{.Digest}} {{.Platform}}",
        "--filter",
        "reference=multi",
    ]);
    assert_eq!(ok(c), format!("{digest} linux/amd64,linux/arm64\n"));
    // skopeo reads the store's index as any OCI layout's.
    let store = env.store();
    let raw = std::process::Command::new(peer("skopeo"))
        .args(["inspect", "--raw"])
        .arg(format!(
            "oci:{}:docker.io/library/multi:latest",
            store.display()
        ))
        .output()
        .unwrap();
    assert!(
        raw.status.success(),
        "{}",
        String::from_utf8_lossy(&raw.stderr)
    );
    assert_eq!(
        json(&String::from_utf8_lossy(&raw.stdout))["manifests"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // The host's image runs from it.
    let mut c = env.cmd("container-run");
    c.args(["--rm", "--network", "none", "multi", "uname", "-m"]);
    assert_eq!(ok(c), "x86_64\n");
    // One image per platform: a second amd64 image is refused.
    let mut c = env.cmd("image-store");
    c.args(["manifest", "create", "twice", "bb", "bb"]);
    assert!(fails(c, "image-store").contains("two images for linux/amd64"));
    // gc keeps every image the index lists.
    for n in ["bb", "bb-arm64"] {
        let mut c = env.cmd("image-store");
        c.args(["rm", n]);
        ok(c);
    }
    let mut c = env.cmd("image-store");
    c.arg("gc");
    ok(c);
    let mut c = env.cmd("image-store");
    c.args(["manifest", "inspect", "multi"]);
    ok(c);
    let oci = format!("oci:{}:docker.io/library/multi:latest", store.display());
    for arch in ["amd64", "arm64"] {
        let info = skopeo_inspect(&["--override-arch", arch, &oci]);
        assert_eq!(info["Architecture"].as_str(), Some(arch));
    }
}

#[test]
fn an_index_is_pushed_whole_and_pulled_whole_or_for_one_platform() {
    let reg = TestRegistry::start();
    let env = Env::new();
    two_platforms(&env);
    let dest = format!("docker://{}/multi/bb:1", reg.host);
    let mut c = env.cmd("image-push");
    c.args(["-q", "multi", &dest]);
    let pushed = ok(c).trim().to_string();
    // The registry holds the index, and each platform's image in it.
    let raw = std::process::Command::new(peer("skopeo"))
        .args(["inspect", "--tls-verify=false", "--raw", &dest])
        .output()
        .unwrap();
    let index = json(&String::from_utf8_lossy(&raw.stdout));
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
    for (arch, uname) in [("amd64", "amd64"), ("arm64", "arm64")] {
        let info = skopeo_inspect(&["--tls-verify=false", "--override-arch", arch, &dest]);
        assert_eq!(info["Architecture"].as_str(), Some(uname));
    }
    // Every layer went compressed: the store's were tars.
    for m in index["manifests"].as_array().unwrap() {
        let at = format!(
            "docker://{}/multi/bb@{}",
            reg.host,
            m["digest"].as_str().unwrap()
        );
        let types = skopeo_layer_types(&["--tls-verify=false"], &at);
        assert!(types.iter().all(|t| t.ends_with("tar+gzip")), "{types:?}");
    }

    // Pulled whole: the same index digest, both images kept.
    let other = Env::new();
    let mut c = other.cmd("image-pull");
    c.args(["-q", "--all-platforms", &dest]);
    assert_eq!(ok(c).trim(), pushed);
    let mut c = other.cmd("image-store");
    c.args(["ls", "--format", "{{.Platform}}"]);
    assert_eq!(ok(c), "linux/amd64,linux/arm64\n");
    // ... and it goes out whole again, byte for byte.
    let mut c = other.cmd("image-push");
    c.args([
        "-q",
        &format!("{}/multi/bb:1", reg.host),
        &format!("docker://{}/again/bb:1", reg.host),
    ]);
    assert_eq!(ok(c).trim(), pushed);
    // Written out whole to an oci-archive that skopeo reads per platform.
    let tar = other.path("multi.tar");
    let mut c = other.cmd("image-store");
    c.args(["save", &format!("{}/multi/bb:1", reg.host)])
        .arg(format!("oci-archive:{}", tar.display()));
    ok(c);
    let info = skopeo_inspect(&[
        "--override-arch",
        "arm64",
        &format!("oci-archive:{}", tar.display()),
    ]);
    assert_eq!(info["Architecture"].as_str(), Some("arm64"));
    // ... and loaded back whole.
    let fourth = Env::new();
    let mut c = fourth.cmd("image-store");
    c.args(["load", "-i"]).arg(&tar);
    ok(c);
    let mut c = fourth.cmd("image-store");
    c.args(["ls", "--format", "{{.Platform}}"]);
    assert_eq!(ok(c), "linux/amd64,linux/arm64\n");

    // Without --all-platforms: the host's image alone, as before.
    let third = Env::new();
    let mut c = third.cmd("image-pull");
    c.args(["-q", &dest]);
    let one = ok(c).trim().to_string();
    assert_ne!(one, pushed);
    let mut c = third.cmd("image-store");
    c.args(["ls", "--format", "{{.Platform}}"]);
    assert_eq!(ok(c), "linux/amd64\n");
    // The front door's verb, as podman manifest push LIST DEST.
    let front = format!("{}/front/bb:1", reg.host);
    let mut c = env.cmd("slipway");
    c.args(["manifest", "push", "-q", "multi", &front]);
    assert_eq!(ok(c).trim(), pushed);
    // --platform pushes one image of an index, as skopeo copy does.
    let mut c = env.cmd("image-push");
    c.args([
        "-q",
        "--platform",
        "linux/arm64",
        "multi",
        &format!("docker://{}/arm/bb:1", reg.host),
    ]);
    ok(c);
    let raw = std::process::Command::new(peer("skopeo"))
        .args([
            "inspect",
            "--tls-verify=false",
            "--raw",
            &format!("docker://{}/arm/bb:1", reg.host),
        ])
        .output()
        .unwrap();
    assert!(json(&String::from_utf8_lossy(&raw.stdout))
        .get("layers")
        .is_some());
}
