//! image-assemble's behaviour: what goes into the config, the manifest
//! and the store, checked by decoding what it wrote.

use slipway_tests::*;
use std::fs;

fn config_of(env: &Env, name: &str) -> serde_json::Value {
    let mut c = env.cmd("image-store");
    c.args(["inspect", name]);
    json(&ok(c))[0]["config"].clone()
}

fn manifest_of(env: &Env, name: &str) -> serde_json::Value {
    let mut c = env.cmd("image-store");
    c.args(["inspect", name]);
    json(&ok(c))[0]["manifest"].clone()
}

#[test]
fn config_records_diff_ids_history_and_edits_on_top_of_the_base() {
    let env = Env::new();
    let base = busybox_layer(env.dir.path());
    let mut c = env.cmd("image-assemble");
    c.args([
        "-q",
        "--tag",
        "base:1",
        "--cmd",
        "sh",
        "--env",
        "PATH=/bin",
        "--platform",
        "linux/amd64",
    ])
    .arg(&base);
    ok(c);
    let app = files_layer(env.dir.path(), "app.tar", &[("app/hello.txt", b"hello\n")]);
    let more = files_layer(env.dir.path(), "more.tar", &[("app/more.txt", b"more\n")]);
    let mut c = env.cmd("image-assemble");
    c.args([
        "-q",
        "--base",
        "base:1",
        "--tag",
        "app:2",
        "--env",
        "MODE=prod",
        "--workdir",
        "/app",
    ])
    .args([
        "--label",
        "org.example=1",
        "--expose",
        "8080",
        "--user",
        "1000:1000",
        "--volume",
        "/data",
    ])
    .args([
        "--stopsignal",
        "SIGINT",
        "--healthcheck",
        "--interval=5s CMD true",
        "--history",
        "COPY app",
    ])
    .args(["--history", "COPY more"])
    .arg(&app)
    .arg(&more);
    let digest = ok(c).trim().to_string();
    let cfg = config_of(&env, "app:2");
    let base_cfg = config_of(&env, "base:1");
    let diff_ids = cfg["rootfs"]["diff_ids"].as_array().unwrap();
    assert_eq!(diff_ids.len(), 3);
    assert_eq!(diff_ids[0], base_cfg["rootfs"]["diff_ids"][0]);
    let app_sha = format!("sha256:{}", sha256_hex(&fs::read(&app).unwrap()));
    assert_eq!(
        diff_ids[1],
        serde_json::json!(app_sha),
        "diff ID is the uncompressed tar's digest"
    );
    // One history entry per layer, empty_layer for metadata-only edits.
    let history = cfg["history"].as_array().unwrap();
    let layered: Vec<_> = history
        .iter()
        .filter(|h| h["empty_layer"] != true)
        .collect();
    assert_eq!(layered.len(), diff_ids.len());
    assert_eq!(layered[1]["created_by"], "COPY app");
    assert_eq!(layered[2]["created_by"], "COPY more");
    assert!(history
        .iter()
        .any(|h| h["created_by"] == "ENV MODE=prod" && h["empty_layer"] == true));
    let c = &cfg["config"];
    assert_eq!(c["Env"], serde_json::json!(["PATH=/bin", "MODE=prod"]));
    assert_eq!(
        c["Cmd"],
        serde_json::json!(["/bin/sh", "-c", "sh"]),
        "inherited from the base"
    );
    assert_eq!(c["WorkingDir"], "/app");
    assert_eq!(c["User"], "1000:1000");
    assert_eq!(c["Labels"]["org.example"], "1");
    assert!(c["ExposedPorts"].get("8080/tcp").is_some());
    assert!(c["Volumes"].get("/data").is_some());
    assert_eq!(c["StopSignal"], "SIGINT");
    assert_eq!(
        c["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "true"])
    );
    assert_eq!(c["Healthcheck"]["Interval"], 5_000_000_000u64);
    assert_eq!(cfg["architecture"], "amd64");
    assert_eq!(cfg["os"], "linux");
    assert!(cfg["created"].as_str().unwrap().ends_with('Z'));
    // The manifest: base layer carried over by digest, new ones gzip.
    let m = manifest_of(&env, "app:2");
    let bm = manifest_of(&env, "base:1");
    assert_eq!(m["layers"][0]["digest"], bm["layers"][0]["digest"]);
    assert_eq!(
        m["layers"][1]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    assert_eq!(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    let mut c = env.cmd("image-store");
    c.args([
        "ls",
        "--digests",
        "--format",
        "{{.Digest}}",
        "--filter",
        "reference=app",
    ]);
    assert_eq!(ok(c).trim(), digest);
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn edits_document_and_flags_give_the_same_config() {
    let env = Env::new();
    let layer = files_layer(env.dir.path(), "l.tar", &[("f", b"x")]);
    let doc = r#"{"env": ["A=1"], "cmd": ["run", "--fast"], "entrypoint": "/init", "workdir": "/w",
        "user": "app", "expose": ["53/udp"], "labels": {"k": "v"}, "volumes": ["/v"],
        "stopsignal": "SIGQUIT", "healthcheck": {"test": ["CMD", "check"], "retries": 2},
        "annotations": {"org.opencontainers.image.title": "t"}, "history": ["ADD f"]}"#;
    fs::write(env.path("edits.json"), doc).unwrap();
    let epoch = "1700000000";
    let mut c = env.cmd("image-assemble");
    c.env("SOURCE_DATE_EPOCH", epoch)
        .args(["-q", "--edits", "edits.json", "--tag", "a"])
        .arg(&layer);
    let from_doc = ok(c);
    let mut c = env.cmd("image-assemble");
    c.env("SOURCE_DATE_EPOCH", epoch)
        .args([
            "-q",
            "--tag",
            "b",
            "--env",
            "A=1",
            "--cmd",
            r#"["run","--fast"]"#,
            "--entrypoint",
            "/init",
        ])
        .args([
            "--workdir",
            "/w",
            "--user",
            "app",
            "--expose",
            "53/udp",
            "--label",
            "k=v",
            "--volume",
            "/v",
        ])
        .args([
            "--stopsignal",
            "SIGQUIT",
            "--healthcheck",
            "--retries=2 CMD [\"check\"]",
        ])
        .args([
            "--annotation",
            "org.opencontainers.image.title=t",
            "--history",
            "ADD f",
        ])
        .arg(&layer);
    let from_flags = ok(c);
    assert_eq!(from_doc, from_flags, "same edits, same image digest");
    let cfg = config_of(&env, "a");
    assert_eq!(
        cfg["config"]["Entrypoint"],
        serde_json::json!(["/bin/sh", "-c", "/init"])
    );
    assert_eq!(cfg["config"]["Cmd"], serde_json::json!(["run", "--fast"]));
    assert_eq!(
        manifest_of(&env, "a")["annotations"]["org.opencontainers.image.title"],
        "t"
    );
}

#[test]
fn same_inputs_with_source_date_epoch_give_the_same_digest_whatever_the_threads() {
    let env = Env::new();
    // Big enough for many compression blocks.
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8 % 17 + b'a')
        .collect();
    let layer = files_layer(
        env.dir.path(),
        "big.tar",
        &[("big.txt", &data), ("small", b"s")],
    );
    for compression in ["gzip", "zstd", "none"] {
        let mut digests = Vec::new();
        for (i, threads) in ["1", "2", "4"].iter().enumerate() {
            let mut c = env.cmd("image-assemble");
            c.env("SOURCE_DATE_EPOCH", "1700000000")
                .env(
                    "SLIPWAY_STORE",
                    env.path(&format!("store-{compression}-{i}")),
                )
                .args([
                    "-q",
                    "--compression",
                    compression,
                    "--threads",
                    threads,
                    "--tag",
                    "det",
                    "--cmd",
                    "sh",
                ])
                .arg(&layer);
            digests.push(ok(c));
        }
        assert!(
            digests.windows(2).all(|w| w[0] == w[1]),
            "{compression}: {digests:?}"
        );
    }
}

#[test]
fn json_prints_the_manifest_descriptor() {
    let env = Env::new();
    let layer = files_layer(env.dir.path(), "l.tar", &[("f", b"x")]);
    let mut c = env.cmd("image-assemble");
    c.args(["-q", "--json", "--tag", "j"]).arg(&layer);
    let d = json(&ok(c));
    assert_eq!(d["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert!(d["digest"].as_str().unwrap().starts_with("sha256:"));
    let blob = env
        .store()
        .join("blobs/sha256")
        .join(&d["digest"].as_str().unwrap()[7..]);
    assert_eq!(
        d["size"].as_u64().unwrap(),
        fs::metadata(blob).unwrap().len()
    );
}

#[test]
fn compressed_layers_are_detected_and_stored_as_asked() {
    let env = Env::new();
    let layer = files_layer(env.dir.path(), "l.tar", &[("f", b"contents")]);
    let tar = fs::read(&layer).unwrap();
    let gz = {
        let out = std::process::Command::new("gzip")
            .arg("-c")
            .arg(&layer)
            .output()
            .unwrap();
        out.stdout
    };
    fs::write(env.path("l.tar.gz"), &gz).unwrap();
    let zst = zstd::encode_all(&tar[..], 3).unwrap();
    fs::write(env.path("l.tar.zst"), &zst).unwrap();
    let mut ids = Vec::new();
    for (input, compression, media) in [
        (
            "l.tar.gz",
            "zstd",
            "application/vnd.oci.image.layer.v1.tar+zstd",
        ),
        (
            "l.tar.zst",
            "none",
            "application/vnd.oci.image.layer.v1.tar",
        ),
        (
            "l.tar",
            "gzip",
            "application/vnd.oci.image.layer.v1.tar+gzip",
        ),
    ] {
        let mut c = env.cmd("image-assemble");
        c.args(["-q", "--compression", compression, "--tag", input, input]);
        ok(c);
        assert_eq!(manifest_of(&env, input)["layers"][0]["mediaType"], media);
        ids.push(config_of(&env, input)["rootfs"]["diff_ids"][0].clone());
    }
    assert!(
        ids.iter().all(|i| *i == ids[0]),
        "one diff ID whatever the input compression: {ids:?}"
    );
}

#[test]
fn layer_from_stdin_and_docker_media_types_on_request() {
    let env = Env::new();
    let layer = files_layer(env.dir.path(), "l.tar", &[("f", b"x")]);
    let mut c = env.cmd("image-assemble");
    c.args(["-q", "--format", "docker", "--tag", "d", "-"]);
    let out = run_with_input(c, &fs::read(&layer).unwrap());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = manifest_of(&env, "d");
    assert_eq!(
        m["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.docker.container.image.v1+json"
    );
    assert_eq!(
        m["layers"][0]["mediaType"],
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    );
}

#[test]
fn untagged_assembly_stays_until_gc() {
    let env = Env::new();
    let layer = files_layer(env.dir.path(), "l.tar", &[("f", b"x")]);
    let mut c = env.cmd("image-assemble");
    c.arg("-q").arg(&layer);
    ok(c);
    let mut c = env.cmd("image-store");
    c.args(["ls", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(ok(c).trim(), "<none>:<none>");
    let mut c = env.cmd("image-store");
    c.args(["gc", "--json"]);
    let r = json(&ok(c));
    assert_eq!(r["untagged"], 1);
    assert_eq!(r["blobs"], 3, "manifest, config and layer");
}

#[test]
fn layers_of_rebases_another_images_layers_as_they_are() {
    let env = Env::new();
    let base = files_layer(env.dir.path(), "base.tar", &[("etc/base", b"base\n")]);
    let mut c = env.cmd("image-assemble");
    c.args(["-q", "-t", "base:1", "--env", "A=1"]).arg(&base);
    ok(c);
    let linked = files_layer(env.dir.path(), "linked.tar", &[("app/linked", b"linked\n")]);
    let mut c = env.cmd("image-assemble");
    c.args([
        "-q",
        "-t",
        "link:1",
        "--history",
        "COPY --link app /app",
        "--env",
        "IGNORED=1",
    ])
    .arg(&linked);
    ok(c);
    let top = files_layer(env.dir.path(), "top.tar", &[("top", b"top\n")]);
    let mut c = env.cmd("image-assemble");
    c.args([
        "-q",
        "--base",
        "base:1",
        "--layers-of",
        "link:1",
        "-t",
        "rebased:1",
    ])
    .arg(&top);
    ok(c);
    let m = manifest_of(&env, "rebased:1");
    let layers: Vec<&str> = m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap())
        .collect();
    let link_layer = manifest_of(&env, "link:1")["layers"][0]["digest"].clone();
    assert_eq!(layers.len(), 3);
    assert_eq!(layers[1], link_layer, "the same blob, not recompressed");
    let cfg = config_of(&env, "rebased:1");
    let link_cfg = config_of(&env, "link:1");
    assert_eq!(
        cfg["rootfs"]["diff_ids"][1],
        link_cfg["rootfs"]["diff_ids"][0]
    );
    let history: Vec<&str> = cfg["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["created_by"].as_str().unwrap())
        .collect();
    assert!(history.contains(&"COPY --link app /app"), "{history:?}");
    // Only its layers: not its config.
    assert_eq!(cfg["config"]["Env"], serde_json::json!(["A=1"]));
    validate_image(&env.store(), "docker.io/library/rebased:1");
}

#[test]
fn skip_empty_leaves_out_a_layer_without_entries_and_keeps_its_history() {
    let env = Env::new();
    let full = files_layer(env.dir.path(), "full.tar", &[("f", b"x")]);
    let empty = files_layer(env.dir.path(), "empty.tar", &[]);
    let mut c = env.cmd("image-assemble");
    c.args(["-q", "-t", "base"]).arg(&full);
    ok(c);
    let assemble = |tag: &str, layer: &std::path::Path, extra: &[&str]| {
        let mut c = env.cmd("image-assemble");
        c.args(["-q", "--base", "base", "-t", tag, "--skip-empty"])
            .args(["--no-edit-history", "-w", "/w", "--history", "WORKDIR /w"])
            .args(extra)
            .arg(layer);
        ok(c);
        config_of(&env, tag)
    };
    let skipped = assemble("skipped", &empty, &[]);
    assert_eq!(skipped["rootfs"]["diff_ids"].as_array().unwrap().len(), 1);
    assert_eq!(skipped["config"]["WorkingDir"], "/w");
    let last = skipped["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["created_by"], "WORKDIR /w");
    assert_eq!(last["empty_layer"], true);
    assert_eq!(skipped["history"].as_array().unwrap().len(), 2);
    // A layer with entries goes in, and the edit adds no entry of its own.
    let kept = assemble("kept", &full, &[]);
    assert_eq!(kept["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
    let h = kept["history"].as_array().unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(h[1]["created_by"], "WORKDIR /w");
    assert!(h[1].get("empty_layer").is_none());
}

#[test]
fn top_layer_of_rebases_only_the_last_layer_and_its_history() {
    let env = Env::new();
    let base = files_layer(env.dir.path(), "base.tar", &[("etc/base", b"base\n")]);
    let mut c = env.cmd("image-assemble");
    c.args(["-q", "-t", "base:1", "--label", "v=1"]).arg(&base);
    ok(c);
    let step = files_layer(env.dir.path(), "step.tar", &[("app/step", b"step\n")]);
    let mut c = env.cmd("image-assemble");
    c.args([
        "-q",
        "--base",
        "base:1",
        "-t",
        "built:1",
        "--history",
        "RUN make",
    ])
    .arg(&step);
    ok(c);
    // The same base with other metadata: the step's layer goes on it.
    let mut c = env.cmd("image-assemble");
    c.args(["-q", "--base", "base:1", "-t", "base:2", "--label", "v=2"]);
    ok(c);
    let mut c = env.cmd("image-assemble");
    c.args([
        "-q",
        "--base",
        "base:2",
        "--top-layer-of",
        "built:1",
        "-t",
        "rebased:1",
    ]);
    ok(c);
    let m = manifest_of(&env, "rebased:1");
    let layers = m["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    assert_eq!(
        layers[1]["digest"],
        manifest_of(&env, "built:1")["layers"][1]["digest"]
    );
    let cfg = config_of(&env, "rebased:1");
    assert_eq!(
        cfg["rootfs"]["diff_ids"][1],
        config_of(&env, "built:1")["rootfs"]["diff_ids"][1]
    );
    assert_eq!(cfg["config"]["Labels"]["v"], "2", "the new parent's config");
    let history: Vec<&str> = cfg["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["created_by"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        history.iter().filter(|h| **h == "RUN make").count(),
        1,
        "{history:?}"
    );
    validate_image(&env.store(), "docker.io/library/rebased:1");
}
