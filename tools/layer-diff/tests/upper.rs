//! --upper on a real overlayfs: the layer made from the upper dir, applied
//! to a copy of the lower dir, gives what the mount showed.

mod common;

use common::*;
use slipway_tests::{manifest_diff, tree_manifest};
use std::ffi::{CString, OsStr};
use std::fs;
use std::path::Path;
use std::process::Command;

struct Overlay {
    merged: std::path::PathBuf,
}

impl Overlay {
    fn mount(lower: &Path, upper: &Path, work: &Path, merged: &Path) -> Overlay {
        for d in [upper, work, merged] {
            fs::create_dir_all(d).unwrap();
        }
        let opts = CString::new(format!(
            "lowerdir={},upperdir={},workdir={},redirect_dir=off,metacopy=off",
            lower.display(),
            upper.display(),
            work.display()
        ))
        .unwrap();
        let fstype = CString::new("overlay").unwrap();
        // SAFETY: valid C strings.
        let rc = unsafe {
            libc::mount(
                fstype.as_ptr(),
                c(merged).as_ptr(),
                fstype.as_ptr(),
                0,
                opts.as_ptr().cast(),
            )
        };
        assert_eq!(rc, 0, "mount overlay: {}", std::io::Error::last_os_error());
        Overlay {
            merged: merged.to_path_buf(),
        }
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        // SAFETY: valid C string.
        unsafe { libc::umount2(c(&self.merged).as_ptr(), libc::MNT_DETACH) };
    }
}

/// tree_a as the lower, changed through an overlay: the lower, the upper
/// dir and a copy of what the mount showed.
fn changed_overlay(t: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    assert!(is_root(), "overlayfs needs root");
    let (lower, upper, work, merged) = (
        t.join("lower"),
        t.join("upper"),
        t.join("work"),
        t.join("merged"),
    );
    tree_a(&lower);
    let expect = t.join("expect");
    {
        let ov = Overlay::mount(&lower, &upper, &work, &merged);
        let m = &ov.merged;
        // Change the merged view: edit, delete a file and a directory,
        // replace a directory by a new one (opaque), add, chmod.
        fs::write(m.join("etc/config"), b"edited through overlay\n").unwrap();
        fs::remove_file(m.join("etc/unchanged")).unwrap();
        fs::remove_dir_all(m.join("gone")).unwrap();
        fs::remove_dir_all(m.join("recreated")).unwrap();
        fs::create_dir(m.join("recreated")).unwrap();
        fs::write(m.join("recreated/fresh"), b"fresh\n").unwrap();
        fs::create_dir_all(m.join("added/deeper")).unwrap();
        fs::write(m.join("added/deeper/f"), b"f\n").unwrap();
        set_xattr(&m.join("added/deeper/f"), "user.kept", b"yes");
        fs::set_permissions(
            m.join("mode_changes"),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        let out = Command::new("cp")
            .arg("-a")
            .arg(m)
            .arg(&expect)
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    (lower, upper, expect)
}

/// The layer applied to a copy of the lower gives the merged view.
fn assert_applies_to_the_merged_view(t: &Path, lower: &Path, expect: &Path, layer: &[u8]) {
    let applied = t.join(format!("applied-{}", layer.len()));
    let out = Command::new("cp")
        .arg("-a")
        .arg(lower)
        .arg(&applied)
        .output()
        .unwrap();
    assert!(out.status.success());
    ok(layer_diff(
        &[OsStr::new("--apply"), applied.as_os_str()],
        Some(layer),
    ));
    let (want, got) = (tree_manifest(expect), tree_manifest(&applied));
    assert!(
        want == got,
        "applied tree differs from the merged view:\n{}",
        manifest_diff(&want, &got)
    );
}

fn names_in(layer: &[u8]) -> Vec<String> {
    let mut ar = tar::Archive::new(layer);
    ar.entries()
        .unwrap()
        .map(|e| String::from_utf8_lossy(&e.unwrap().path_bytes()).into_owned())
        .collect()
}

#[test]
fn upper_dir_layer_reproduces_the_merged_view() {
    let t = tempfile::tempdir().unwrap();
    let (lower, upper, expect) = changed_overlay(t.path());
    // The upper dir holds overlay's whiteouts and opaque marker.
    let upper_manifest = tree_manifest(&upper);
    assert!(
        upper_manifest[&b"gone"[..]].starts_with("dev:c:0"),
        "{:?}",
        upper_manifest.get(&b"gone"[..])
    );
    assert!(upper_manifest[&b"recreated"[..]].contains("trusted.overlay.opaque"));

    let layer = ok(layer_diff(
        &[OsStr::new("--upper"), upper.as_os_str()],
        None,
    ));
    let mut ar = tar::Archive::new(&layer[..]);
    let mut names = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        names.push(String::from_utf8_lossy(&e.path_bytes()).into_owned());
        if let Some(exts) = e.pax_extensions().unwrap() {
            for x in exts {
                assert!(
                    !x.unwrap().key().unwrap().contains("overlay."),
                    "overlay xattrs leaked"
                );
            }
        }
    }
    for n in [
        ".wh.gone",
        "etc/.wh.unchanged",
        "recreated/.wh..wh..opq",
        "recreated/fresh",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
    }

    assert_applies_to_the_merged_view(t.path(), &lower, &expect, &layer);

    // --changes with the lower dir tells added from modified.
    let changes = String::from_utf8(ok(layer_diff(
        &[
            OsStr::new("--changes"),
            OsStr::new("--upper"),
            upper.as_os_str(),
            OsStr::new("--lower"),
            lower.as_os_str(),
        ],
        None,
    )))
    .unwrap();
    assert!(
        changes.contains(r#"{"path":"/etc/config","kind":"modified"}"#),
        "{changes}"
    );
    assert!(
        changes.contains(r#"{"path":"/added","kind":"added"}"#),
        "{changes}"
    );
    assert!(
        changes.contains(r#"{"path":"/gone","kind":"deleted"}"#),
        "{changes}"
    );
}

#[test]
fn with_the_lower_an_opaque_directory_becomes_whiteouts_of_what_it_hid() {
    let t = tempfile::tempdir().unwrap();
    let (lower, upper, expect) = changed_overlay(t.path());
    // Marked opaque as the kernel may mark any new directory: the lower
    // has no "added", so nothing is hidden there.
    set_xattr(&upper.join("added"), "trusted.overlay.opaque", b"y");
    let layer = ok(layer_diff(
        &[
            OsStr::new("--upper"),
            upper.as_os_str(),
            OsStr::new("--lower"),
            lower.as_os_str(),
        ],
        None,
    ));
    let names = names_in(&layer);
    assert!(
        !names.iter().any(|n| n.ends_with(".wh..wh..opq")),
        "no opaque markers, as BuildKit: {names:?}"
    );
    let hid: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with("recreated/.wh."))
        .collect();
    assert!(
        !hid.is_empty(),
        "recreated hides its old entries: {names:?}"
    );
    assert!(
        !names.iter().any(|n| n.starts_with("added/.wh.")),
        "{names:?}"
    );
    assert_applies_to_the_merged_view(t.path(), &lower, &expect, &layer);
    // --fix-upper makes the upper dir say the same: stacked as a lower
    // layer on another parent, it hides what the layer hides, no more.
    ok(layer_diff(
        &[
            OsStr::new("--upper"),
            upper.as_os_str(),
            OsStr::new("--lower"),
            lower.as_os_str(),
            OsStr::new("--fix-upper"),
        ],
        None,
    ));
    let fixed = tree_manifest(&upper);
    assert!(
        !fixed.values().any(|l| l.contains("overlay.opaque")),
        "{fixed:?}"
    );
    assert!(fixed[&b"recreated/old_child"[..]].starts_with("dev:c:0"));
    let again = ok(layer_diff(
        &[OsStr::new("--upper"), upper.as_os_str()],
        None,
    ));
    assert_eq!(
        names_in(&again),
        names,
        "the same layer from the fixed upper"
    );
}
