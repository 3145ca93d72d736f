//! ADD and COPY beyond plain files: local archives unpacked (each
//! compression), URLs downloaded (0600, the server's mtime, --checksum),
//! heredoc sources, and what each means for the cache.

mod common;

use common::{build, run_in};
use slipway_tests::http::{FileServer, LAST_MODIFIED};
use slipway_tests::{busybox_image, env_with_bb, fails, write_files, Env};
use std::process::Command;

fn archive(dir: &std::path::Path, name: &str, flag: &str) {
    let src = dir.join("tree");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("sub/inner"), "inner\n").unwrap();
    let mut tar = Command::new("tar");
    tar.arg("-C")
        .arg(&src)
        .args(["--owner=1234", "--group=5678", "-c", "-f"])
        .arg(dir.join(name));
    if !flag.is_empty() {
        tar.arg(flag);
    }
    assert!(tar.arg(".").status().unwrap().success());
}

#[test]
fn add_unpacks_local_archives_and_copy_does_not() {
    let (env, ctx) = env_with_bb();
    std::fs::create_dir_all(&ctx).unwrap();
    for (name, flag) in [
        ("a.tar", ""),
        ("a.tgz", "-z"),
        ("a.tbz2", "-j"),
        ("a.txz", "-J"),
        ("a.tzst", "--zstd"),
    ] {
        archive(&ctx, name, flag);
    }
    write_files(
        &ctx,
        &[(
            "Dockerfile",
            "FROM bb\n\
             ADD a.tar /plain\nADD a.tgz /gz/\nADD a.tbz2 /bz2\nADD a.txz /xz\nADD a.tzst /zst\n\
             ADD --chown=7:8 a.tgz /owned\n\
             ADD --unpack=false a.tgz /kept/\n\
             COPY a.tgz /copied/\n",
        )],
    );
    build(&env, &ctx, &[]);
    let out = run_in(
        &env,
        "app",
        "for d in plain gz bz2 xz zst; do cat /$d/sub/inner; done; \
         stat -c '%u:%g' /plain/sub/inner /owned/sub/inner; ls /kept; ls /copied",
    );
    assert_eq!(
        out,
        // --chown does not reach into what ADD unpacks: the tar's owners
        // stay, as BuildKit's unpack keeps them.
        format!(
            "{}1234:5678\n1234:5678\na.tgz\na.tgz\n",
            "inner\n".repeat(5)
        )
    );
}

#[test]
fn add_fetches_urls_with_their_time_and_checks_checksums() {
    let env = Env::new();
    busybox_image(&env, "bb", &[]);
    let server = FileServer::start(&[
        ("/files/tool.sh", b"echo tool\n"),
        ("/files/data.bin", b"data"),
    ]);
    let ctx = env.path("ctx");
    let sum = "sha256:3a6eb0790f39ac87c94f3856b2dd2c5d110e6811602261a9a923d3bb23adc8b7";
    write_files(
        &ctx,
        &[(
            "Dockerfile",
            &format!(
                "FROM bb\n\
                 ADD {u}/files/tool.sh /opt/\n\
                 ADD --checksum={sum} {u}/files/data.bin /data/named\n\
                 RUN stat -c '%a %u %Y' /opt/tool.sh > /stat\n",
                u = server.url
            ),
        )],
    );
    build(&env, &ctx, &[]);
    assert_eq!(
        run_in(&env, "app", "cat /opt/tool.sh /data/named; echo; cat /stat"),
        format!("echo tool\ndata\n600 0 {LAST_MODIFIED}\n")
    );
    // Unchanged: cached. A URL without a checksum is fetched again to
    // learn that; one with a checksum is not fetched at all.
    let log = build(&env, &ctx, &[]);
    assert_eq!(log.matches("CACHED").count(), 3, "{log}");
    assert_eq!(
        (
            server.hits("/files/tool.sh"),
            server.hits("/files/data.bin")
        ),
        (2, 1)
    );
    // New bytes at the URL: the step and the ones after it run again.
    server.put("/files/tool.sh", b"echo tool v2\n");
    let log = build(&env, &ctx, &[]);
    assert_eq!(log.matches("CACHED").count(), 0, "{log}");
    assert_eq!(run_in(&env, "app", "cat /opt/tool.sh"), "echo tool v2\n");
    // A wrong checksum stops the build, naming both.
    server.put("/files/data.bin", b"tampered");
    let mut c = env.cmd("image-build");
    c.args(["-q", "--no-cache", "--network", "none"]).arg(&ctx);
    let line = fails(c, "image-build");
    assert!(
        line.contains("Dockerfile:3:") && line.contains(sum),
        "{line}"
    );
}

#[test]
fn heredoc_sources_become_files_expanded_unless_quoted() {
    let (env, ctx) = env_with_bb();
    write_files(
        &ctx,
        &[(
            "Dockerfile",
            "FROM bb\nARG NAME=world\n\
             COPY <<EOF <<'RAW' /etc/greet/\nhello \"$NAME\"\nEOF\nhello $NAME\nRAW\n\
             COPY --chmod=755 <<EOF /usr/local/bin/hi\n#!/bin/sh\necho hi $NAME\nEOF\n\
             RUN <<EOF\n#!/bin/sh -e\necho \"from a script: $0\" > /ran\nEOF\n",
        )],
    );
    build(&env, &ctx, &[]);
    assert_eq!(
        run_in(
            &env,
            "app",
            "cat /etc/greet/EOF /etc/greet/RAW; hi; stat -c '%a %u' /etc/greet/EOF; cat /ran"
        ),
        "hello \"world\"\nhello $NAME\nhi world\n644 0\nfrom a script: /dev/pipes/EOF\n"
    );
}
