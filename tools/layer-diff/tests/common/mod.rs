//! Building trees that hold every kind of entry a layer must carry.
// Each test crate uses some of these helpers, not all.
#![allow(dead_code)]

use std::ffi::{CString, OsStr};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output, Stdio};

pub fn c(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap()
}

pub fn is_root() -> bool {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() == 0 }
}

pub fn mknod(p: &Path, kind: libc::mode_t, major: u32, minor: u32) {
    // SAFETY: valid C string.
    let rc = unsafe { libc::mknod(c(p).as_ptr(), kind | 0o644, libc::makedev(major, minor)) };
    assert_eq!(
        rc,
        0,
        "mknod {}: {}",
        p.display(),
        std::io::Error::last_os_error()
    );
}

pub fn lchown(p: &Path, uid: u32, gid: u32) {
    // SAFETY: valid C string.
    let rc = unsafe { libc::lchown(c(p).as_ptr(), uid, gid) };
    assert_eq!(
        rc,
        0,
        "lchown {}: {}",
        p.display(),
        std::io::Error::last_os_error()
    );
}

pub fn set_mtime(p: &Path, secs: i64, nsec: i64) {
    let t = libc::timespec {
        tv_sec: secs,
        tv_nsec: nsec,
    };
    // SAFETY: valid C string and two timespecs.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c(p).as_ptr(),
            [t, t].as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    assert_eq!(
        rc,
        0,
        "utimensat {}: {}",
        p.display(),
        std::io::Error::last_os_error()
    );
}

pub fn set_xattr(p: &Path, k: &str, v: &[u8]) {
    let k = CString::new(k).unwrap();
    // SAFETY: valid C strings and buffer.
    let rc = unsafe { libc::lsetxattr(c(p).as_ptr(), k.as_ptr(), v.as_ptr().cast(), v.len(), 0) };
    assert_eq!(
        rc,
        0,
        "setxattr {}: {}",
        p.display(),
        std::io::Error::last_os_error()
    );
}

fn write(p: &Path, data: &[u8], mode: u32) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, data).unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

/// Tree A: what B is made from.
pub fn tree_a(a: &Path) {
    fs::create_dir_all(a).unwrap();
    write(&a.join("etc/config"), b"old config\n", 0o644);
    write(&a.join("etc/unchanged"), b"same\n", 0o644);
    write(&a.join("gone/deep/file"), b"bye\n", 0o644);
    write(&a.join("dir_becomes_file/inner"), b"inner\n", 0o644);
    write(&a.join("file_becomes_dir"), b"flat\n", 0o644);
    write(&a.join("mode_changes"), b"m\n", 0o644);
    write(&a.join("owner_changes"), b"o\n", 0o644);
    write(&a.join("recreated/old_child"), b"old\n", 0o644);
    symlink("etc/config", a.join("link_retargeted")).unwrap();
    set_mtime(&a.join("etc/unchanged"), 1_600_000_000, 0);
}

/// Tree B: A changed in every way a layer must carry. Returns whether
/// it holds a socket (left out of layers, with a warning).
pub fn tree_b(a: &Path, b: &Path) {
    let out = Command::new("cp").arg("-a").arg(a).arg(b).output().unwrap();
    assert!(out.status.success());
    write(&b.join("etc/config"), b"new config\n", 0o600);
    fs::remove_dir_all(b.join("gone")).unwrap();
    fs::remove_dir_all(b.join("dir_becomes_file")).unwrap();
    write(&b.join("dir_becomes_file"), b"now a file\n", 0o644);
    fs::remove_file(b.join("file_becomes_dir")).unwrap();
    write(&b.join("file_becomes_dir/child"), b"child\n", 0o644);
    fs::set_permissions(b.join("mode_changes"), fs::Permissions::from_mode(0o4755)).unwrap();
    lchown(&b.join("owner_changes"), 3_000_000, 3_000_001);
    fs::remove_dir_all(b.join("recreated")).unwrap();
    write(&b.join("recreated/new_child"), b"new\n", 0o644);
    fs::remove_file(b.join("link_retargeted")).unwrap();
    symlink(
        "../".repeat(40) + "etc/unchanged",
        b.join("link_retargeted"),
    )
    .unwrap();
    let n = b.join("new");
    fs::create_dir_all(&n).unwrap();
    fs::set_permissions(&n, fs::Permissions::from_mode(0o750)).unwrap();
    write(&n.join("empty"), b"", 0o644);
    write(&n.join("hard1"), b"shared inode\n", 0o640);
    fs::hard_link(n.join("hard1"), n.join("hard2")).unwrap();
    symlink("/absolute/target", n.join("abs_link")).unwrap();
    let long = n
        .join("l".repeat(60))
        .join("o".repeat(60))
        .join("n".repeat(60) + ".txt");
    write(&long, b"long name\n", 0o644);
    write(&n.join("ünïcödé-名前"), b"unicode\n", 0o644);
    write(
        &n.join(OsStr::from_bytes(b"bad\xff\xfename")),
        b"not utf-8\n",
        0o644,
    );
    // SAFETY: valid C string.
    assert_eq!(
        unsafe { libc::mkfifo(c(&n.join("fifo")).as_ptr(), 0o600) },
        0
    );
    mknod(&n.join("null"), libc::S_IFCHR, 1, 3);
    mknod(&n.join("loop"), libc::S_IFBLK, 7, 200);
    write(&n.join("capable"), b"#!/bin/sh\n", 0o755);
    // VFS_CAP_REVISION_2, cap_net_bind_service permitted and effective.
    set_xattr(
        &n.join("capable"),
        "security.capability",
        &[1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    );
    set_xattr(&n.join("capable"), "user.note", b"kept");
    fs::create_dir_all(n.join("sticky")).unwrap();
    fs::set_permissions(n.join("sticky"), fs::Permissions::from_mode(0o1777)).unwrap();
    write(&n.join("fraction"), b"sub-second\n", 0o644);
    set_mtime(&n.join("fraction"), 1_700_000_000, 123_456_789);
    lchown(&n.join("abs_link"), 42, 43);
    set_mtime(&n.join("abs_link"), 1_650_000_000, 5);
    set_mtime(&n, 1_690_000_000, 987_654_321);
}

/// A socket in the tree: layer-diff must skip it and say so.
pub fn add_socket(dir: &Path) -> std::os::unix::net::UnixListener {
    std::os::unix::net::UnixListener::bind(dir.join("sock")).unwrap()
}

pub fn layer_diff(args: &[&OsStr], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(slipway_tests::bin("layer-diff"));
    cmd.args(args).env_remove("SOURCE_DATE_EPOCH");
    match stdin {
        Some(data) => slipway_tests::run_with_input(cmd, data),
        None => cmd.stdin(Stdio::null()).output().unwrap(),
    }
}

pub fn ok(out: Output) -> Vec<u8> {
    assert!(
        out.status.success(),
        "layer-diff failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
