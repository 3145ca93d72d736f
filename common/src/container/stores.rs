//! The stores containers were made in on this host, so `ps --all-stores`
//! finds a container whatever store the user's environment names now, and
//! a name not found in one store says which store has it. A list of
//! absolute paths in the runtime dir (`/run/slipway/stores` as root,
//! `$XDG_RUNTIME_DIR/slipway/stores` otherwise): it starts empty at boot,
//! as the containers' processes do.

use std::io::Write;
use std::path::{Path, PathBuf};

fn list_file() -> PathBuf {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let base = if uid == 0 {
        PathBuf::from("/run")
    } else {
        std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join(format!("slipway-{uid}")))
    };
    base.join("slipway").join("stores")
}

/// Notes `store` (best effort: a host without a writable runtime dir only
/// loses the cross-store listing).
pub fn note(store: &Path) {
    let Ok(store) = std::fs::canonicalize(store) else {
        return;
    };
    if known().contains(&store) {
        return;
    }
    let file = list_file();
    if let Some(dir) = file.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    // One short O_APPEND write: whole lines even with writers racing.
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)
    {
        let mut line = store.as_os_str().as_encoded_bytes().to_vec();
        line.push(b'\n');
        let _ = f.write_all(&line);
    }
}

/// The stores noted, each once, those gone left out.
pub fn known() -> Vec<PathBuf> {
    let text = std::fs::read_to_string(list_file()).unwrap_or_default();
    let mut out: Vec<PathBuf> = Vec::new();
    for l in text.lines().filter(|l| l.starts_with('/')) {
        let p = PathBuf::from(l);
        if !out.contains(&p) && p.is_dir() {
            out.push(p);
        }
    }
    out
}
