//! `mount` and `umount`: an image's filesystem, read-only, at a directory
//! of the host, as `buildah mount` and `podman image mount` give it. The
//! layers are unpacked once per diff ID into the store (what container-run
//! stacks too) and stacked with overlayfs, so reading a file of a large
//! image costs no extraction after the first time.

use crate::Error;
use slipway_common::fsutil::{IoContext, IoError};
use slipway_common::image::Image;
use slipway_common::layers;
use slipway_common::platform::Platform;
use slipway_common::store::{Store, StoreError};
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

fn cstr(p: &Path) -> Result<CString, Error> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::Invalid(format!("{}: a path with a NUL byte", p.display())))
}

fn sys_mount(
    src: &CString,
    target: &CString,
    fstype: Option<&CString>,
    flags: libc::c_ulong,
    data: Option<&CString>,
) -> io::Result<()> {
    slipway_common::mount::mount(
        Some(src),
        target,
        fstype.map(|f| f.as_c_str()),
        flags,
        data.map(|d| d.as_c_str()),
    )
}

/// Mounts `image` read-only at `dir` (created if missing).
pub fn mount(store: &Store, image: &str, dir: &Path) -> Result<(), Error> {
    let root = store.layout().root().to_path_buf();
    let desc = store.resolve(image)?;
    let img = Image::load(store.layout(), &desc, &Platform::host()).map_err(StoreError::from)?;
    // Until the mount is up, gc must not take the layers away.
    let _unpacking =
        slipway_common::container::layergc::startup_lock(&root).ctx("lock the layers in", &root)?;
    let stack = layers::unpack(store.layout(), &root, &img, false, |_| {})
        .map_err(|e| Error::Invalid(format!("{image}: {e}")))?;
    std::fs::create_dir_all(dir).ctx("create", dir)?;
    // Absolute: the overlay below is mounted from inside the layers
    // directory, where a relative target would name another place.
    let dir = &std::fs::canonicalize(dir).ctx("find", dir)?;
    let target = cstr(dir)?;
    let ro = libc::MS_RDONLY | libc::MS_NODEV | libc::MS_NOSUID;
    let fail = |what: &str, e: io::Error| {
        Error::Io(IoError {
            op: "mount",
            path: dir.to_path_buf(),
            source: io::Error::new(e.kind(), format!("{what}: {e}")),
        })
    };
    match stack.as_slice() {
        // overlayfs wants two lower dirs when there is no upper: one layer
        // (or none) is a read-only bind mount.
        [] | [_] => {
            let src = match stack.first() {
                Some(l) => l.clone(),
                None => {
                    let empty = layers::layers_dir(&root).join("empty");
                    std::fs::create_dir_all(&empty).ctx("create", &empty)?;
                    empty
                }
            };
            sys_mount(&cstr(&src)?, &target, None, libc::MS_BIND, None)
                .map_err(|e| fail("bind", e))?;
            if let Err(e) = sys_mount(
                &cstr(&src)?,
                &target,
                None,
                libc::MS_BIND | libc::MS_REMOUNT | ro,
                None,
            ) {
                let _ = umount_path(&target);
                return Err(fail("remount read-only", e));
            }
        }
        _ => {
            // Lower dirs are named relative to the layers directory, so
            // that many of them fit in the page mount options may take.
            let dir_of = layers::layers_dir(&root);
            let names: Vec<String> = stack
                .iter()
                .rev()
                .map(|p| {
                    p.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                })
                .collect();
            let here = std::env::current_dir().ok();
            std::env::set_current_dir(&dir_of).ctx("enter", &dir_of)?;
            let opts = CString::new(format!("lowerdir={}", names.join(":")))
                .expect("hex names have no NUL");
            let overlay = CString::from(c"overlay");
            let r = sys_mount(&overlay, &target, Some(&overlay), ro, Some(&opts));
            if let Some(h) = here {
                let _ = std::env::set_current_dir(h);
            }
            r.map_err(|e| fail("overlay", e))?;
        }
    }
    Ok(())
}

fn umount_path(target: &CString) -> io::Result<()> {
    slipway_common::mount::umount(target, libc::UMOUNT_NOFOLLOW)
}

/// Unmounts what `mount` mounted at `dir`.
pub fn umount(dir: &Path) -> Result<(), Error> {
    let abs: PathBuf = std::fs::canonicalize(dir).ctx("find", dir)?;
    umount_path(&cstr(&abs)?).ctx("unmount", &abs)?;
    Ok(())
}
