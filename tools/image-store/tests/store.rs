//! image-store against stores that image-assemble wrote.

use slipway_common::image::InspectRecord;
use slipway_tests::*;
use std::collections::BTreeSet;
use std::fs;

fn setup() -> Env {
    let env = Env::new();
    let base = busybox_layer(env.dir.path());
    let mut c = env.cmd("image-assemble");
    c.args([
        "-q",
        "--tag",
        "busybox:1.36",
        "--tag",
        "localhost:5000/tools/busybox:x",
    ])
    .arg(&base);
    ok(c);
    let app = files_layer(env.dir.path(), "app.tar", &[("app", b"app")]);
    let mut c = env.cmd("image-assemble");
    c.args([
        "-q",
        "--base",
        "busybox:1.36",
        "--tag",
        "app:1",
        "--label",
        "team=web",
        "--label",
        "tier=front",
    ])
    .arg(&app);
    ok(c);
    env
}

fn store(env: &Env, args: &[&str]) -> String {
    let mut c = env.cmd("image-store");
    c.args(args);
    ok(c)
}

#[test]
fn ls_prints_the_docker_images_table() {
    let env = setup();
    let out = store(&env, &["ls"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    let head: Vec<&str> = lines[0]
        .split("   ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(head, ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]);
    assert!(lines
        .iter()
        .any(|l| l.starts_with("localhost:5000/tools/busybox ") && l.contains(" x ")));
    // IMAGE ID is the config digest, 12 digits.
    let rows = json(&store(&env, &["ls", "--json"]));
    let app = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["repository"] == "app")
        .unwrap();
    let id = app["id"].as_str().unwrap();
    assert!(out.contains(&id[7..19]));
    let q: BTreeSet<String> = store(&env, &["ls", "-q"])
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(q.len(), 2, "two distinct images: {q:?}");
}

#[test]
fn filters_match_references_by_glob_and_labels_by_key_and_value() {
    let env = setup();
    let names = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["ls", "--format", "{{.Repository}}:{{.Tag}}"];
        a.extend_from_slice(args);
        let mut v: Vec<String> = store(&env, &a).lines().map(str::to_string).collect();
        v.sort();
        v
    };
    assert_eq!(names(&["--filter", "reference=busy*"]), ["busybox:1.36"]);
    assert_eq!(
        names(&["--filter", "reference=*:1*"]),
        ["app:1", "busybox:1.36"]
    );
    assert_eq!(
        names(&["--filter", "reference=localhost:5000/*/*"]),
        ["localhost:5000/tools/busybox:x"]
    );
    assert_eq!(names(&["--filter", "label=team"]), ["app:1"]);
    assert_eq!(
        names(&["--filter", "label=team=web", "--filter", "label=tier=front"]),
        ["app:1"]
    );
    assert!(names(&["--filter", "label=team=db"]).is_empty());
    let mut c = env.cmd("image-store");
    c.args(["ls", "--filter", "color=red"]);
    assert!(fails(c, "image-store").contains("unknown filter"));
}

#[test]
fn format_templates_fill_placeholders_and_tables() {
    let env = setup();
    let out = store(
        &env,
        &[
            "ls",
            "--filter",
            "reference=app",
            "--format",
            "{{.Repository}} {{.Tag}} {{.Labels}} {{.Size}}",
        ],
    );
    assert!(out.starts_with("app 1 team=web,tier=front "), "{out}");
    let table = store(
        &env,
        &[
            "ls",
            "--filter",
            "reference=app",
            "--format",
            "table {{.Repository}}\\t{{.ID}}",
        ],
    );
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("REPOSITORY") && lines[0].ends_with("IMAGE ID"),
        "{table}"
    );
    let j = json(
        store(
            &env,
            &["ls", "--filter", "reference=app", "--format", "{{json .}}"],
        )
        .trim(),
    );
    assert_eq!(j["labels"]["team"], "web");
}

#[test]
fn inspect_tag_and_rm_work_by_name_digest_and_id() {
    let env = setup();
    let records = |q: &str| -> Vec<InspectRecord> {
        serde_json::from_str(&store(&env, &["inspect", q])).expect("inspect records")
    };
    let doc = records("app:1").remove(0);
    let digest = doc.digest.to_string();
    let id = doc.id.to_string();
    assert_eq!(doc.names, ["docker.io/library/app:1"]);
    let labels = doc.container_config().labels.unwrap_or_default();
    assert_eq!(labels.get("team").map(String::as_str), Some("web"));
    assert_eq!(doc.manifest.layers().len(), 2);
    // --format gives one line per image.
    assert_eq!(
        store(
            &env,
            &[
                "inspect",
                "--format",
                "{{.Digest}} {{.Id}} {{.Names}}",
                "app:1",
                &digest
            ]
        ),
        format!("{digest} {id} docker.io/library/app:1\n{digest} {id} docker.io/library/app:1\n")
    );
    let mut c = env.cmd("image-store");
    c.args(["inspect", "--format", "{{.Nope}}", "app:1"]);
    assert!(fails(c, "image-store").contains("Nope"));
    // The same image by digest, name@digest and ID prefix.
    for q in [
        digest.clone(),
        format!("app@{digest}"),
        id[7..19].to_string(),
        id.clone(),
    ] {
        assert_eq!(records(&q)[0].digest.to_string(), digest, "{q}");
    }
    store(&env, &["tag", &id[7..19], "registry.example/team/app:2"]);
    assert_eq!(
        records("registry.example/team/app:2")[0].digest.to_string(),
        digest
    );
    // By ID with names in two repositories: refused without --force.
    let mut c = env.cmd("image-store");
    c.args(["rm", &id[7..19]]);
    assert!(fails(c, "image-store").contains("--force"));
    let out = store(&env, &["rm", "app:1"]);
    assert_eq!(out.trim(), "Untagged: app:1");
    let mut c = env.cmd("image-store");
    c.args(["inspect", "app:1"]);
    assert!(fails(c, "image-store").contains("no such image"));
    // The blobs stay until gc.
    assert_eq!(records(&digest)[0].digest.to_string(), digest);
}

#[test]
fn gc_removes_only_what_no_tag_reaches() {
    let env = setup();
    let before = json(&store(&env, &["du", "--json"]));
    assert_eq!(before["reclaimable_bytes"], 0);
    store(&env, &["rm", "app:1"]);
    let after_rm = json(&store(&env, &["du", "--json"]));
    assert!(after_rm["reclaimable_bytes"].as_u64().unwrap() > 0);
    let report = json(&store(&env, &["gc", "--json"]));
    assert_eq!(
        report["blobs"], 3,
        "app's manifest, config and own layer: {report}"
    );
    assert_eq!(report["bytes"], after_rm["reclaimable_bytes"]);
    // busybox still reads whole.
    let mut c = std::process::Command::new(peer("skopeo"));
    c.args(["copy", "--quiet"])
        .arg(format!(
            "oci:{}:docker.io/library/busybox:1.36",
            env.store().display()
        ))
        .arg(format!("oci:{}:b", env.path("copy").display()));
    ok(c);
    let again = json(&store(&env, &["gc", "--json"]));
    assert_eq!(again["blobs"], 0);
}

#[test]
fn du_splits_shared_and_unique_sizes() {
    let env = setup();
    let d = json(&store(&env, &["du", "--json"]));
    let images = d["images"].as_array().unwrap();
    let app = images.iter().find(|i| i["repository"] == "app").unwrap();
    let bb = images
        .iter()
        .find(|i| i["repository"] == "busybox")
        .unwrap();
    // busybox's only layer is app's base layer: shared.
    let layer = json(&store(&env, &["inspect", "busybox:1.36"]))[0]["manifest"]["layers"][0]
        ["size"]
        .as_u64()
        .unwrap();
    assert_eq!(bb["shared_size"].as_u64().unwrap(), layer);
    assert_eq!(app["shared_size"].as_u64().unwrap(), layer);
    assert_eq!(
        app["unique_size"].as_u64().unwrap() + layer,
        app["size"].as_u64().unwrap()
    );
    let table = store(&env, &["du"]);
    assert!(table.contains("SHARED SIZE") && table.contains("UNIQUE SIZE"));
}

#[test]
fn the_store_flag_and_variable_choose_the_store() {
    let env = setup();
    assert_eq!(
        store(&env, &["path"]).trim(),
        env.store().display().to_string()
    );
    let other = env.path("other");
    assert_eq!(
        store(&env, &["--store", other.to_str().unwrap(), "path"]).trim(),
        other.display().to_string()
    );
    assert!(store(&env, &["--store", other.to_str().unwrap(), "ls", "-q"]).is_empty());
}

#[test]
fn rm_by_id_removes_an_untagged_image() {
    let env = setup();
    let layer = files_layer(env.dir.path(), "u.tar", &[("u", b"u")]);
    let mut c = env.cmd("image-assemble");
    c.arg("-q").arg(&layer);
    let digest = ok(c).trim().to_string();
    let dangling = store(
        &env,
        &["ls", "--filter", "dangling=true", "--format", "{{.Digest}}"],
    );
    assert_eq!(dangling.trim(), digest);
    assert_eq!(
        store(&env, &["rm", &digest]).trim(),
        format!("Deleted: {digest}")
    );
    assert!(store(&env, &["ls", "--filter", "dangling=true", "-q"]).is_empty());
    assert_eq!(
        store(&env, &["ls", "--filter", "dangling=false", "-q"])
            .lines()
            .count(),
        2
    );
}

#[test]
fn mount_shows_an_image_read_only_with_its_layers_stacked() {
    let env = Env::new();
    let l1 = files_layer(
        env.dir.path(),
        "l1.tar",
        &[("a", b"a1"), ("gone", b"x"), ("d/keep", b"k")],
    );
    let l2 = files_layer(env.dir.path(), "l2.tar", &[("a", b"a2"), (".wh.gone", b"")]);
    for (tag, layers) in [
        ("two", vec![&l1, &l2]),
        ("one", vec![&l1]),
        ("none", vec![]),
    ] {
        let mut c = env.cmd("image-assemble");
        c.args(["-q", "-t", tag]).args(layers);
        ok(c);
    }
    let m = env.path("m");
    store(&env, &["mount", "two", m.to_str().unwrap()]);
    let seen = (
        fs::read_to_string(m.join("a")).unwrap(),
        m.join("gone").exists(),
        fs::read_to_string(m.join("d/keep")).unwrap(),
    );
    let written = fs::write(m.join("new"), "x");
    store(&env, &["umount", m.to_str().unwrap()]);
    assert_eq!(seen, ("a2".into(), false, "k".into()));
    assert!(written.is_err(), "the mount is read-only");
    assert!(!m.join("a").exists(), "unmounted");
    // One layer is a bind mount, none an empty directory.
    store(&env, &["mount", "one", m.to_str().unwrap()]);
    let one = fs::read_to_string(m.join("a")).unwrap();
    store(&env, &["umount", m.to_str().unwrap()]);
    assert_eq!(one, "a1");
    store(&env, &["mount", "none", m.to_str().unwrap()]);
    let none = fs::read_dir(&m).unwrap().count();
    store(&env, &["umount", m.to_str().unwrap()]);
    assert_eq!(none, 0);
}

#[test]
fn gc_removes_unpacked_layers_no_image_lists_unless_mounted() {
    let env = Env::new();
    let l1 = files_layer(env.dir.path(), "l1.tar", &[("a", b"a1")]);
    let l2 = files_layer(env.dir.path(), "l2.tar", &[("b", b"b2")]);
    for (tag, layers) in [("two", vec![&l1, &l2]), ("one", vec![&l1])] {
        let mut c = env.cmd("image-assemble");
        c.args(["-q", "-t", tag]).args(layers);
        ok(c);
    }
    let unpacked = || {
        fs::read_dir(env.store().join(".slipway/layers"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.len() == 64)
            .count()
    };
    let gc = || json(&store(&env, &["gc", "--json"]))["unpacked_layers"].clone();
    let m = env.path("m");
    let m = m.to_str().unwrap();
    store(&env, &["mount", "two", m]);
    store(&env, &["rm", "two"]);
    let while_mounted = gc();
    store(&env, &["umount", m]);
    assert_eq!(while_mounted, 0, "a mounted overlay's lower dirs stay");
    assert_eq!(unpacked(), 2);
    assert_eq!(gc(), 1, "two's own layer goes, one's stays");
    assert_eq!(unpacked(), 1);
    // A one-layer image is a bind mount of its layer dir.
    store(&env, &["mount", "one", m]);
    store(&env, &["rm", "one"]);
    let while_bound = gc();
    let still = fs::read_to_string(env.path("m").join("a"));
    store(&env, &["umount", m]);
    assert_eq!(while_bound, 0);
    assert_eq!(still.unwrap(), "a1");
    assert_eq!(gc(), 1);
    assert_eq!(unpacked(), 0);
}

#[test]
fn save_writes_the_same_image_to_a_layout_and_archives() {
    let env = setup();
    let digest = json(&store(&env, &["inspect", "app:1"]))[0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let layout = env.path("out");
    store(
        &env,
        &["save", "app:1", &format!("oci:{}:saved", layout.display())],
    );
    let seen = skopeo_inspect(&[&format!("oci:{}:saved", layout.display())]);
    assert_eq!(seen["Digest"], digest.as_str());
    // An oci-archive on stdout, and a docker-archive that keeps the name.
    let mut c = env.cmd("image-store");
    c.args(["save", "app:1", "oci-archive:-"]);
    let out = c.output().unwrap();
    assert!(out.status.success());
    let tarball = env.path("app.tar");
    fs::write(&tarball, &out.stdout).unwrap();
    let seen = skopeo_inspect(&[&format!("oci-archive:{}", tarball.display())]);
    assert_eq!(seen["Digest"], digest.as_str());
    let dockerish = env.path("docker.tar");
    store(
        &env,
        &[
            "save",
            "app:1",
            &format!("docker-archive:{}", dockerish.display()),
        ],
    );
    skopeo_inspect(&[&format!("docker-archive:{}", dockerish.display())]);
    let mut a = tar::Archive::new(fs::File::open(&dockerish).unwrap());
    let manifest = a
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .find(|e| e.path().unwrap().to_str() == Some("manifest.json"))
        .map(|mut e| {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).unwrap();
            s
        })
        .unwrap();
    assert_eq!(json(&manifest)[0]["RepoTags"], serde_json::json!(["app:1"]));
    let mut c = env.cmd("image-store");
    c.args(["save", "app:1", "docker://example.org/x"]);
    fails(c, "image-store");
}

#[test]
fn save_compresses_layers_kept_uncompressed_as_compression_says() {
    let env = Env::new();
    let layer = files_layer(env.dir.path(), "l.tar", &[("f", b"f\n")]);
    let mut c = env.cmd("image-assemble");
    c.args(["-q", "--compression", "none", "--tag", "plain:1"])
        .arg(&layer);
    let local = ok(c).trim().to_string();
    let out = env.path("out");
    let save = |args: &[&str], name: &str| {
        let mut all = vec!["save"];
        all.extend_from_slice(args);
        let dest = format!("oci:{}:{name}", out.display());
        all.extend(["plain:1", dest.as_str()]);
        store(&env, &all);
        skopeo_inspect(&[&dest])["Digest"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // gzip by default: another manifest, the same config.
    let gz = save(&[], "gz");
    assert_ne!(gz, local);
    let config = |name: &str| {
        let m = skopeo_manifest(&[], &format!("oci:{}:{name}", out.display()));
        m.config().digest().to_string()
    };
    let v: Vec<InspectRecord> =
        serde_json::from_str(&store(&env, &["inspect", "plain:1"])).unwrap();
    assert_eq!(config("gz"), v[0].id.to_string());
    assert_eq!(
        skopeo_layer_types(&[], &format!("oci:{}:gz", out.display())),
        ["application/vnd.oci.image.layer.v1.tar+gzip"]
    );
    // Again: the same digest (deterministic, and remembered).
    assert_eq!(save(&[], "gz2"), gz);
    let zst = save(
        &["--compression", "zstd", "--compression-level", "19"],
        "zst",
    );
    assert_eq!(
        skopeo_layer_types(&[], &format!("oci:{}:zst", out.display())),
        ["application/vnd.oci.image.layer.v1.tar+zstd"]
    );
    assert_ne!(zst, gz);
    // none: the store's own image, digest and all.
    assert_eq!(save(&["--compression", "none"], "tar"), local);
    let mut c = env.cmd("image-store");
    c.args(["save", "--compression-level", "0", "plain:1"])
        .arg(format!("oci:{}:bad", out.display()));
    assert!(fails(c, "image-store").contains("--compression-level 0"));
}

#[test]
fn load_takes_docker_and_oci_archives_with_their_names() {
    let env = setup();
    let id = json(&store(&env, &["inspect", "app:1"]))[0]["id"].clone();
    let docker = env.path("docker.tar");
    store(
        &env,
        &[
            "save",
            "app:1",
            &format!("docker-archive:{}", docker.display()),
        ],
    );
    // One written by skopeo too: the archive of another tool.
    let layout = env.path("layout");
    store(
        &env,
        &[
            "save",
            "busybox:1.36",
            &format!("oci:{}:bb", layout.display()),
        ],
    );
    let theirs = env.path("skopeo.tar");
    let o = std::process::Command::new("skopeo")
        .args(["copy", "-q"])
        .arg(format!("oci:{}:bb", layout.display()))
        .arg(format!("docker-archive:{}:peer/bb:2", theirs.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let other = Env::new();
    assert_eq!(
        store(&other, &["load", "-i", docker.to_str().unwrap()]),
        "Loaded image: app:1\n"
    );
    assert_eq!(json(&store(&other, &["inspect", "app:1"]))[0]["id"], id);
    assert_eq!(
        store(&other, &["load", "--input", theirs.to_str().unwrap()]),
        "Loaded image: peer/bb:2\n"
    );
    // An oci-archive on stdin, named by its index.
    let mut c = env.cmd("image-store");
    c.args(["save", "app:1", "oci-archive:-:app:oci"]);
    let oci = c.output().unwrap().stdout;
    let mut l = other.cmd("image-store");
    l.arg("load");
    let o = run_with_input(l, &oci);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(store(&other, &["ls"]).contains("oci"));
    // Not an archive: one error, nothing added.
    let mut bad = other.cmd("image-store");
    bad.arg("load");
    let o = run_with_input(bad, b"not a tar at all");
    assert_one_error(&o, "image-store");
}

#[test]
fn history_lists_the_steps_newest_first_as_docker_history() {
    let env = setup();
    let out = store(&env, &["history", "app:1"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("IMAGE") && lines[0].contains("CREATED BY"),
        "{out}"
    );
    let id = json(&store(&env, &["inspect", "app:1"]))[0]["id"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")[..12]
        .to_string();
    assert!(lines[1].starts_with(&id), "{out}");
    assert!(
        lines[2..].iter().all(|l| l.starts_with("<missing>")),
        "{out}"
    );
    // Two LABEL steps (no layer) over two layers, newest first.
    assert_eq!(lines.len(), 5, "{out}");
    assert!(
        lines[1].contains("LABEL tier=front") && lines[1].contains(" 0B"),
        "{out}"
    );
    assert!(
        lines[4].contains("image-assemble") && !lines[4].contains(" 0B"),
        "{out}"
    );
    let q = store(&env, &["history", "-q", "app:1"]);
    assert_eq!(q.lines().next(), Some(id.as_str()));
    let sizes = store(
        &env,
        &["history", "-H=false", "--format", "{{.Size}}", "app:1"],
    );
    assert!(sizes.lines().all(|l| l.parse::<u64>().is_ok()), "{sizes}");
}
