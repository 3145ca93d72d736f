//! apply's rules, each on a layer tar built here and a temporary root.

use super::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

/// A layer tar built entry by entry.
struct Layer(tar::Builder<Vec<u8>>);

impl Layer {
    fn new() -> Layer {
        Layer(tar::Builder::new(Vec::new()))
    }
    fn entry(
        mut self,
        path: &str,
        kind: tar::EntryType,
        mode: u32,
        data: &[u8],
        link: Option<&str>,
    ) -> Layer {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_mtime(1_000_000);
        // set_path refuses `..`; a hostile layer would not.
        let name = &mut h.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
        }
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }
    fn file(self, path: &str, data: &str) -> Layer {
        self.entry(path, tar::EntryType::Regular, 0o640, data.as_bytes(), None)
    }
    fn dir(self, path: &str) -> Layer {
        self.entry(path, tar::EntryType::Directory, 0o755, b"", None)
    }
    fn symlink(self, path: &str, to: &str) -> Layer {
        self.entry(path, tar::EntryType::Symlink, 0o777, b"", Some(to))
    }
    fn hardlink(self, path: &str, to: &str) -> Layer {
        self.entry(path, tar::EntryType::Link, 0o644, b"", Some(to))
    }
    fn bytes(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_whiteout_deletes_what_a_lower_layer_had() {
    let root = tempfile::tempdir().unwrap();
    let lower = Layer::new()
        .dir("etc")
        .file("etc/a", "1")
        .file("etc/b", "2")
        .bytes();
    apply(&lower[..], root.path()).unwrap();
    apply(&Layer::new().file("etc/.wh.a", "").bytes()[..], root.path()).unwrap();
    assert_eq!(names(&root.path().join("etc")), ["b"]);
}

#[test]
fn an_opaque_directory_hides_the_lower_contents_but_keeps_its_own() {
    let root = tempfile::tempdir().unwrap();
    let lower = Layer::new().dir("d").file("d/old", "1").bytes();
    apply(&lower[..], root.path()).unwrap();
    let upper = Layer::new()
        .dir("d")
        .file("d/new", "2")
        .file("d/.wh..wh..opq", "")
        .bytes();
    apply(&upper[..], root.path()).unwrap();
    assert_eq!(names(&root.path().join("d")), ["new"]);
}

#[test]
fn overlay_whiteouts_become_devices_and_opaque_xattrs() {
    if unsafe { libc::geteuid() } != 0 {
        return; // mknod and trusted.* xattrs want root
    }
    let root = tempfile::tempdir().unwrap();
    let layer = Layer::new()
        .dir("d")
        .file("d/.wh..wh..opq", "")
        .file("d/.wh.gone", "")
        .bytes();
    apply_with(
        &layer[..],
        root.path(),
        Whiteouts::Overlay { user_xattr: false },
    )
    .unwrap();
    let m = std::fs::symlink_metadata(root.path().join("d/gone")).unwrap();
    assert_eq!((m.mode() & libc::S_IFMT, m.rdev()), (libc::S_IFCHR, 0));
    let c = cstr(root.path().join("d").as_os_str().as_encoded_bytes()).unwrap();
    let mut v = [0u8; 4];
    let n = unsafe {
        libc::lgetxattr(
            c.as_ptr(),
            c"trusted.overlay.opaque".as_ptr(),
            v.as_mut_ptr().cast(),
            4,
        )
    };
    assert_eq!(&v[..n.max(0) as usize], b"y");
}

#[test]
fn literal_whiteouts_are_ordinary_files() {
    let root = tempfile::tempdir().unwrap();
    apply_with(
        &Layer::new().file(".wh.x", "kept").bytes()[..],
        root.path(),
        Whiteouts::Literal,
    )
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(root.path().join(".wh.x")).unwrap(),
        "kept"
    );
}

#[test]
fn a_dotdot_path_is_refused_and_writes_nothing_outside() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let e = apply(&Layer::new().file("../escaped", "x").bytes()[..], &root).unwrap_err();
    assert!(matches!(e, ApplyError::Unsafe { .. }), "{e}");
    assert!(!outer.path().join("escaped").exists());
}

#[test]
fn a_file_written_through_an_absolute_symlink_stays_in_the_root() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let target = outer.path().display().to_string();
    let layer = Layer::new()
        .symlink("out", &target)
        .file("out/planted", "x")
        .bytes();
    apply(&layer[..], &root).unwrap();
    assert!(!outer.path().join("planted").exists());
    let inside = root.join(target.trim_start_matches('/')).join("planted");
    assert_eq!(std::fs::read_to_string(inside).unwrap(), "x");
}

#[test]
fn a_whiteout_naming_a_path_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let e = apply(&Layer::new().file(".wh..", "").bytes()[..], root.path()).unwrap_err();
    assert!(matches!(e, ApplyError::Unsafe { .. }), "{e}");
}

#[test]
fn a_hard_link_shares_the_inode_and_a_file_keeps_mode_and_mtime() {
    let root = tempfile::tempdir().unwrap();
    let layer = Layer::new().file("a", "data").hardlink("b", "a").bytes();
    apply(&layer[..], root.path()).unwrap();
    let (a, b) = (root.path().join("a"), root.path().join("b"));
    let (ma, mb) = (
        std::fs::metadata(&a).unwrap(),
        std::fs::metadata(&b).unwrap(),
    );
    assert_eq!(ma.ino(), mb.ino());
    assert_eq!(ma.permissions().mode() & 0o7777, 0o640);
    assert_eq!(ma.mtime(), 1_000_000);
}

#[test]
fn a_file_replaces_a_directory_and_a_directory_a_file() {
    let root = tempfile::tempdir().unwrap();
    apply(
        &Layer::new()
            .dir("x")
            .file("x/in", "1")
            .file("y", "2")
            .bytes()[..],
        root.path(),
    )
    .unwrap();
    apply(
        &Layer::new().file("x", "now a file").dir("y").bytes()[..],
        root.path(),
    )
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(root.path().join("x")).unwrap(),
        "now a file"
    );
    assert!(root.path().join("y").is_dir());
}

#[test]
fn a_truncated_layer_is_a_tar_error() {
    let root = tempfile::tempdir().unwrap();
    let mut bytes = Layer::new().file("big", &"z".repeat(4096)).bytes();
    bytes.truncate(1024);
    let e = apply(&bytes[..], root.path()).unwrap_err();
    assert!(matches!(e, ApplyError::Tar(_)), "{e}");
}
