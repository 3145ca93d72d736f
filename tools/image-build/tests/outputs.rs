//! What CI pipelines read back from a build, as buildx gives it: the
//! final stage's files (-o type=local, type=tar), archives in buildx's
//! key=value forms, --metadata-file, --annotation; and why each step
//! missed the cache, pinned reason by reason.

use slipway_tests::{env_with_bb, json, ok, write_files, Env};
use std::fs;
use std::path::Path;
use std::process::Command;

fn build(env: &Env, ctx: &Path, args: &[&str]) -> std::process::Output {
    let mut c = env.cmd("image-build");
    c.args(["--progress", "plain", "--network", "none"])
        .args(args)
        .arg(ctx);
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The "cache miss: …" lines of a build's progress, in order.
fn misses(out: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| l.split_once("cache miss: ").map(|(_, r)| r.to_string()))
        .collect()
}

#[test]
fn files_outputs_write_the_final_stages_tree_to_a_directory_or_a_tar() {
    let (env, ctx) = env_with_bb();
    write_files(
        &ctx,
        &[
            ("Dockerfile", "FROM bb AS build\nRUN echo built > /artifact\nFROM scratch\nCOPY --from=build /artifact /out/artifact\nCOPY notes.txt /out/\n"),
            ("notes.txt", "notes\n"),
        ],
    );
    let dest = env.path("dest");
    fs::create_dir_all(&dest).unwrap();
    fs::write(dest.join("kept"), "the user's\n").unwrap();
    build(
        &env,
        &ctx,
        &["-o", &format!("type=local,dest={}", dest.display())],
    );
    assert_eq!(
        fs::read_to_string(dest.join("out/artifact")).unwrap(),
        "built\n"
    );
    assert_eq!(
        fs::read_to_string(dest.join("out/notes.txt")).unwrap(),
        "notes\n"
    );
    assert_eq!(
        fs::read_to_string(dest.join("kept")).unwrap(),
        "the user's\n"
    );
    // -o DIR is type=local too.
    let short = env.path("short");
    build(&env, &ctx, &["-o", short.to_str().unwrap()]);
    assert!(short.join("out/artifact").is_file());

    let tar = env.path("fs.tar");
    build(
        &env,
        &ctx,
        &["-o", &format!("type=tar,dest={}", tar.display())],
    );
    let listed = Command::new("tar").arg("-tf").arg(&tar).output().unwrap();
    let names = String::from_utf8_lossy(&listed.stdout);
    assert!(
        names
            .lines()
            .any(|l| l.trim_start_matches("./") == "out/artifact"),
        "{names}"
    );
    // -o -: the tar on stdout, and nothing else there.
    let out = build(&env, &ctx, &["-o", "-"]);
    let unpack = env.path("unpacked");
    fs::create_dir_all(&unpack).unwrap();
    let mut t = Command::new("tar");
    t.arg("-x").arg("-C").arg(&unpack);
    let done = slipway_tests::run_with_input(t, &out.stdout);
    assert!(done.status.success());
    assert_eq!(
        fs::read_to_string(unpack.join("out/notes.txt")).unwrap(),
        "notes\n"
    );
}

#[test]
fn buildx_archive_forms_metadata_file_and_annotations() {
    let (env, ctx) = env_with_bb();
    write_files(&ctx, &[("Dockerfile", "FROM bb\nRUN echo x > /x\n")]);
    let archive = env.path("img.tar");
    let meta = env.path("meta.json");
    let out = build(
        &env,
        &ctx,
        &[
            "-t",
            "app:1",
            "--annotation",
            "org.opencontainers.image.source=https://example.invalid/app",
            "--metadata-file",
            meta.to_str().unwrap(),
            "-o",
            &format!("type=oci,dest={}", archive.display()),
        ],
    );
    let digest = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let seen = slipway_tests::skopeo_inspect(&[&format!("oci-archive:{}", archive.display())]);
    assert_eq!(seen["Digest"], digest.as_str());
    let raw = Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci-archive:{}", archive.display()))
        .output()
        .unwrap();
    let manifest = json(&String::from_utf8_lossy(&raw.stdout));
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.source"],
        "https://example.invalid/app"
    );
    let m = json(&fs::read_to_string(&meta).unwrap());
    assert_eq!(m["containerimage.digest"], digest.as_str());
    assert_eq!(m["image.name"], "app:1");
    assert!(m["containerimage.config.digest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert!(m["buildx.build.ref"]
        .as_str()
        .unwrap()
        .starts_with("slipway/"));
    // type=image,name=… names it in the store, as --tag.
    build(&env, &ctx, &["-o", "type=image,name=named:2"]);
    let mut c = env.cmd("image-store");
    c.args(["inspect", "named:2"]);
    ok(c);
    // A descriptor-level annotation is not made: refused by name.
    let mut c = env.cmd("image-build");
    c.args(["--annotation", "index-descriptor:a=b"]).arg(&ctx);
    let out = c.output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("index-descriptor level"));
}

#[test]
fn a_step_that_misses_the_cache_says_why() {
    let (env, ctx) = env_with_bb();
    write_files(
        &ctx,
        &[
            ("Dockerfile", "FROM bb\nARG VERSION=1\nRUN echo v$VERSION > /v\nCOPY src /src\nRUN ls /src > /list\n"),
            ("src/a.py", "a\n"),
            ("src/b.py", "b\n"),
        ],
    );
    let first = build(&env, &ctx, &[]);
    assert_eq!(misses(&first), vec!["no earlier build of this step"; 4]);
    assert!(misses(&build(&env, &ctx, &[])).is_empty(), "all cached");
    fs::write(ctx.join("src/b.py"), "changed\n").unwrap();
    fs::write(ctx.join("src/c.py"), "new\n").unwrap();
    let meta = env.path("meta.json");
    let out = build(&env, &ctx, &["--metadata-file", meta.to_str().unwrap()]);
    assert_eq!(
        misses(&out),
        ["2 files changed: src/b.py, src/c.py", "parent step re-ran"]
    );
    let m = json(&fs::read_to_string(&meta).unwrap());
    assert_eq!(
        m["slipway.cache.misses"][0]["step"],
        "[stage-0 4/5] COPY src /src"
    );
    assert_eq!(
        m["slipway.cache.misses"][0]["reason"],
        "2 files changed: src/b.py, src/c.py"
    );
    let out = build(&env, &ctx, &["--build-arg", "VERSION=2"]);
    assert_eq!(misses(&out)[0], "build arg VERSION changed");
    fs::write(
        ctx.join("Dockerfile"),
        "FROM bb\nARG VERSION=1\nRUN echo v$VERSION > /v\nCOPY src /src\nRUN ls -a /src > /list\n",
    )
    .unwrap();
    assert_eq!(
        misses(&build(&env, &ctx, &[])),
        ["instruction text changed"]
    );
    // Another base image under the same name.
    slipway_tests::busybox_image(&env, "bb", &["--label", "rebuilt=yes"]);
    let out = build(&env, &ctx, &[]);
    assert!(
        misses(&out)[0].starts_with("base image changed ("),
        "{:?}",
        misses(&out)
    );
    assert_eq!(misses(&build(&env, &ctx, &["--no-cache"]))[0], "--no-cache");
}

#[test]
fn explain_says_what_would_run_and_why_and_changes_nothing() {
    let (env, ctx) = env_with_bb();
    write_files(
        &ctx,
        &[
            (
                "Dockerfile",
                "FROM bb\nCOPY src /src\nRUN ls /src > /list\nFROM bb\nCOPY --from=0 /list /list\n",
            ),
            ("src/a.py", "a\n"),
        ],
    );
    build(&env, &ctx, &[]);
    let explain = |env: &Env| {
        let mut c = env.cmd("image-build");
        c.args(["--explain", "--network", "none"]).arg(&ctx);
        ok(c)
    };
    assert_eq!(
        explain(&env),
        "[stage-0 1/3] FROM bb: cached\n[stage-0 2/3] COPY src /src: cached\n[stage-0 3/3] RUN ls /src > /list: cached\n[stage-1 1/2] FROM bb: cached\n[stage-1 2/2] COPY --from=0 /list /list: cached\n"
    );
    fs::write(ctx.join("src/a.py"), "changed\n").unwrap();
    let images = |env: &Env| {
        let mut c = env.cmd("image-store");
        c.args(["ls", "-a", "-q"]);
        ok(c)
    };
    let before = images(&env);
    let said = explain(&env);
    assert_eq!(
        said,
        "[stage-0 1/3] FROM bb: cached\n[stage-0 2/3] COPY src /src: would run: 1 file changed: src/a.py\n[stage-0 3/3] RUN ls /src > /list: would run: parent step would re-run\n[stage-1 1/2] FROM bb: cached\n[stage-1 2/2] COPY --from=0 /list /list: would run: stage 0 it copies from would re-run\n"
    );
    assert_eq!(images(&env), before, "--explain made an image");
    // Nothing recorded either: the build says the same.
    let out = build(&env, &ctx, &[]);
    assert_eq!(misses(&out)[0], "1 file changed: src/a.py");
}

/// The statement of the attestation entry of the index in `layout` (an
/// OCI layout directory) named `name`: (image entry, attestation entry,
/// statement).
fn attested(
    layout: &Path,
    name: &str,
) -> (serde_json::Value, serde_json::Value, serde_json::Value) {
    let blob = |d: &str| {
        fs::read(
            layout
                .join("blobs/sha256")
                .join(d.strip_prefix("sha256:").unwrap()),
        )
        .unwrap()
    };
    let top = json(&fs::read_to_string(layout.join("index.json")).unwrap());
    let entry = top["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == name)
        .unwrap_or_else(|| panic!("{name} in {top}"))
        .clone();
    let index = json(&String::from_utf8(blob(entry["digest"].as_str().unwrap())).unwrap());
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{index}");
    let (image, att) = (entries[0].clone(), entries[1].clone());
    let manifest = json(&String::from_utf8(blob(att["digest"].as_str().unwrap())).unwrap());
    let layer = &manifest["layers"][0];
    assert_eq!(layer["mediaType"], "application/vnd.in-toto+json");
    assert_eq!(
        layer["annotations"]["in-toto.io/predicate-type"],
        "https://slsa.dev/provenance/v0.2"
    );
    let statement = json(&String::from_utf8(blob(layer["digest"].as_str().unwrap())).unwrap());
    (image, att, statement)
}

#[test]
fn provenance_is_attached_as_buildkit_attaches_it_and_follows_the_pushed_image() {
    use sha2::Digest as _;
    let reg = slipway_tests::TestRegistry::start();
    let (env, ctx) = env_with_bb();
    let dockerfile = "FROM bb\nARG V\nRUN echo $V > /v\n";
    write_files(&ctx, &[("Dockerfile", dockerfile)]);
    let dest = format!("{}/app/prov:1", reg.host);
    let out = build(
        &env,
        &ctx,
        &[
            "--provenance",
            "mode=max",
            "--build-arg",
            "V=7",
            "-t",
            &dest,
            "--push",
        ],
    );
    let pushed = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let mut c = env.cmd("image-store");
    c.args(["inspect", "--format", "{{.Digest}}", "bb"]);
    let base = ok(c).trim().to_string();
    // In the store: the image and its attestation, as BuildKit lays them
    // out.
    let (image, att, st) = attested(&env.store(), &dest);
    assert_eq!(att["platform"]["os"], "unknown");
    assert_eq!(
        att["annotations"]["vnd.docker.reference.type"],
        "attestation-manifest"
    );
    assert_eq!(
        att["annotations"]["vnd.docker.reference.digest"],
        image["digest"]
    );
    assert_eq!(st["predicateType"], "https://slsa.dev/provenance/v0.2");
    let hex = |d: &serde_json::Value| {
        d.as_str()
            .unwrap()
            .strip_prefix("sha256:")
            .unwrap()
            .to_string()
    };
    assert_eq!(
        st["subject"][0]["digest"]["sha256"].as_str().unwrap(),
        hex(&image["digest"])
    );
    let p = &st["predicate"];
    assert_eq!(p["buildType"], "https://mobyproject.org/buildkit@v1");
    assert!(p["materials"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["digest"]["sha256"].as_str() == base.strip_prefix("sha256:")));
    assert_eq!(
        p["invocation"]["configSource"]["digest"]["sha256"]
            .as_str()
            .unwrap(),
        hex::encode(sha2::Sha256::digest(dockerfile.as_bytes()))
    );
    assert_eq!(p["invocation"]["parameters"]["args"]["build-arg:V"], "7");
    assert_eq!(p["invocation"]["environment"]["platform"], "linux/amd64");
    // Pushed: the image went with its layers compressed, and the
    // attestation that went with it names that image, not the store's.
    let layout = env.path("pulled");
    let mut c = env.cmd("image-pull");
    c.args(["-q", "--all-platforms", "--output"])
        .arg(format!("oci:{}:x", layout.display()))
        .arg(&dest);
    assert_eq!(ok(c).trim(), pushed);
    let (image2, att2, st2) = attested(&layout, "x");
    assert_ne!(image2["digest"], image["digest"]);
    assert_eq!(
        att2["annotations"]["vnd.docker.reference.digest"],
        image2["digest"]
    );
    assert_eq!(
        st2["subject"][0]["digest"]["sha256"].as_str().unwrap(),
        hex(&image2["digest"])
    );
    // skopeo reads the pushed index and picks the image, not the
    // attestation.
    let info = slipway_tests::skopeo_inspect(&["--tls-verify=false", &format!("docker://{dest}")]);
    assert_eq!(info["Architecture"], "amd64");
    // containers/image checks every manifest it copies: skopeo copy --all
    // takes the attestation manifest as it takes BuildKit's.
    let copied = env.path("copied");
    let out = Command::new(slipway_tests::peer("skopeo"))
        .args([
            "copy",
            "--all",
            "--src-tls-verify=false",
            &format!("docker://{dest}"),
        ])
        .arg(format!("oci:{}:c", copied.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, att3, _) = attested(&copied, "c");
    assert_eq!(att3["digest"], att2["digest"]);
    // mode=min leaves the build arguments' values out; the metadata file
    // carries the predicate, as buildx's does.
    let meta = env.path("meta.json");
    build(
        &env,
        &ctx,
        &[
            "--provenance",
            "true",
            "--build-arg",
            "V=8",
            "-t",
            "min",
            "--metadata-file",
            meta.to_str().unwrap(),
        ],
    );
    let m = json(&fs::read_to_string(&meta).unwrap());
    assert_eq!(
        m["buildx.build.provenance"]["buildType"],
        "https://mobyproject.org/buildkit@v1"
    );
    let (_, _, st) = attested(&env.store(), "docker.io/library/min:latest");
    assert!(
        st["predicate"]["invocation"]["parameters"]["args"]
            .get("build-arg:V")
            .is_none(),
        "{st}"
    );
}
