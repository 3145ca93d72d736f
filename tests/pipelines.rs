//! Pipelines of the built tools, with a validation step after each stage.

use slipway_tests::*;
use std::process::{Command, Stdio};

#[test]
fn an_archive_streamed_between_two_assemblies_keeps_every_digest() {
    let env = Env::new();
    let base = busybox_layer(env.dir.path());
    let mut c = env.cmd("image-assemble");
    c.args(["-q", "--tag", "busybox:p", "--cmd", "sh"])
        .arg(&base);
    ok(c);
    let first = validate_image(&env.store(), "docker.io/library/busybox:p");

    // image-assemble | image-assemble: an oci-archive on a pipe as the base.
    let app = files_layer(env.dir.path(), "app.tar", &[("etc/motd", b"welcome\n")]);
    let mut producer = env.cmd("image-assemble");
    producer
        .args([
            "-q",
            "--base",
            "busybox:p",
            "--env",
            "FIRST=1",
            "--output",
            "oci-archive:-:stage1",
        ])
        .arg(&app)
        .stdout(Stdio::piped());
    let mut producer = producer.spawn().unwrap();
    let mut consumer = env.cmd("image-assemble");
    consumer
        .args([
            "-q",
            "--base",
            "oci-archive:-:stage1",
            "--tag",
            "app:p",
            "--env",
            "SECOND=2",
        ])
        .stdin(producer.stdout.take().unwrap());
    let out = consumer.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let digest = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(producer.wait().unwrap().success());
    assert_eq!(
        validate_image(&env.store(), "docker.io/library/app:p"),
        digest
    );

    // The store's view agrees with the files.
    let mut c = env.cmd("image-store");
    c.args(["inspect", "app:p"]);
    let doc = json(&ok(c));
    assert_eq!(doc[0]["digest"], digest.as_str());
    assert_eq!(
        doc[0]["config"]["config"]["Env"],
        serde_json::json!(["FIRST=1", "SECOND=2"])
    );
    let history = doc[0]["config"]["history"].as_array().unwrap();
    assert_eq!(
        history.iter().filter(|h| h["empty_layer"] != true).count(),
        2
    );
    assert_ne!(first, digest);

    // skopeo copies it out of the store and back into an OCI layout that
    // validates the same way.
    let mut c = Command::new(peer("skopeo"));
    c.args(["copy", "--quiet"])
        .arg(format!(
            "oci:{}:docker.io/library/app:p",
            env.store().display()
        ))
        .arg(format!("oci:{}:out", env.path("out").display()));
    ok(c);
    assert_eq!(
        validate_image(&env.path("out"), "out"),
        digest,
        "skopeo kept the bytes"
    );
}
