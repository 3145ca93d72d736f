//! `--mount`, docker's key=value form of -v and --tmpfs.

use crate::config::{named_volume, Mount, MountKind};
use crate::Error;
use slipway_common::fsutil::IoContext;
use std::path::Path;

fn bad(spec: &str, why: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("--mount {spec:?}: {why}"))
}

/// A boolean option: present alone or `=true`/`=1` is true.
fn flag(spec: &str, key: &str, value: Option<&str>) -> Result<bool, Error> {
    match value {
        None | Some("true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(v) => Err(bad(spec, format!("{key}={v}: takes true or false"))),
    }
}

pub fn parse(spec: &str, store: &Path) -> Result<Mount, Error> {
    let mut kind = "volume";
    let (mut source, mut target) = (None, None);
    let mut read_only = false;
    let (mut size, mut mode) = (None, None);
    for field in spec.split(',').filter(|f| !f.is_empty()) {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (field, None),
        };
        let value = || v.ok_or_else(|| bad(spec, format!("{k} needs a value")));
        match k {
            "type" => kind = value()?,
            "source" | "src" => source = Some(value()?),
            "target" | "destination" | "dst" => target = Some(value()?),
            "readonly" | "ro" => read_only = flag(spec, k, v)?,
            "tmpfs-size" => size = Some(value()?),
            "tmpfs-mode" => mode = Some(value()?),
            other => {
                return Err(bad(spec, format!("{other}: not an option slipway has")));
            }
        }
    }
    let target = target.ok_or_else(|| bad(spec, "name the target (target=PATH)"))?;
    if !target.starts_with('/') {
        return Err(bad(spec, "the target must be an absolute path"));
    }
    if kind != "tmpfs" && (size.is_some() || mode.is_some()) {
        return Err(bad(spec, "tmpfs-size and tmpfs-mode go with type=tmpfs"));
    }
    let kind = match kind {
        "bind" => {
            let src = source.ok_or_else(|| bad(spec, "a bind mount needs source=PATH"))?;
            // Unlike -v, --mount does not make a missing source (docker's
            // rule too): a typo must not bind an empty directory.
            let source = std::fs::canonicalize(src).ctx("find the bind source", Path::new(src))?;
            MountKind::Bind {
                source,
                read_only,
                recursive: true,
                options: String::new(),
            }
        }
        "volume" => {
            let name = source.ok_or_else(|| {
                bad(
                    spec,
                    "name the volume (source=NAME): anonymous volumes are not supported",
                )
            })?;
            MountKind::Bind {
                source: named_volume(store, name)?,
                read_only,
                recursive: true,
                options: String::new(),
            }
        }
        "tmpfs" => {
            if source.is_some() {
                return Err(bad(spec, "a tmpfs has no source"));
            }
            let mut opts = vec!["nosuid".to_string(), "nodev".into(), "noexec".into()];
            if read_only {
                opts.push("ro".into());
            }
            if let Some(s) = size {
                opts.push(format!("size={s}"));
            }
            if let Some(m) = mode {
                u32::from_str_radix(m, 8)
                    .map_err(|_| bad(spec, format!("tmpfs-mode={m}: not an octal mode")))?;
                opts.push(format!("mode={m}"));
            }
            MountKind::Tmpfs {
                options: opts.join(","),
            }
        }
        other => {
            return Err(bad(
                spec,
                format!("type={other}: takes bind, volume or tmpfs"),
            ))
        }
    };
    Ok(Mount {
        target: target.to_string(),
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_type_becomes_the_mount_v_or_tmpfs_would_make() {
        let store = tempfile::tempdir().unwrap();
        let m = parse("type=bind,src=/tmp,dst=/data,readonly", store.path()).unwrap();
        assert_eq!(m.target, "/data");
        assert!(matches!(
            m.kind,
            MountKind::Bind {
                read_only: true,
                ..
            }
        ));
        let m = parse("type=volume,source=cache,target=/c", store.path()).unwrap();
        let MountKind::Bind {
            source, read_only, ..
        } = m.kind
        else {
            panic!("a bind")
        };
        assert!(!read_only);
        assert_eq!(source, store.path().join(".slipway/volumes/cache"));
        assert!(source.is_dir());
        let m = parse(
            "type=tmpfs,target=/run/x,tmpfs-size=64m,tmpfs-mode=1770",
            store.path(),
        )
        .unwrap();
        let MountKind::Tmpfs { options } = m.kind else {
            panic!("a tmpfs")
        };
        assert_eq!(options, "nosuid,nodev,noexec,size=64m,mode=1770");
    }

    #[test]
    fn what_docker_would_refuse_or_slipway_lacks_is_refused_by_name() {
        let store = tempfile::tempdir().unwrap();
        for (spec, why) in [
            ("type=bind,target=/x", "source=PATH"),
            ("type=bind,source=/no/such/dir,target=/x", "bind source"),
            ("type=volume,target=/x", "anonymous volumes"),
            ("type=tmpfs,target=x", "absolute"),
            ("type=tmpfs,target=/x,tmpfs-mode=9", "octal"),
            (
                "type=bind,source=/tmp,target=/x,bind-propagation=shared",
                "bind-propagation",
            ),
            ("type=npipe,target=/x", "type=npipe"),
            (
                "type=volume,source=v,target=/x,readonly=maybe",
                "true or false",
            ),
        ] {
            let e = parse(spec, store.path()).unwrap_err().to_string();
            assert!(e.contains(why), "{spec}: {e}");
        }
    }
}
