//! `USER[:GROUP]` as COPY --chown and WORKDIR read it: numbers as they
//! are, names looked up in the image's own /etc/passwd and /etc/group
//! (resolved inside its root, so a symlinked /etc never reads the
//! host's). A user named without a group gets that user's primary group
//! from /etc/passwd, and a bare number is its own group, as BuildKit's
//! chown resolves them.

use std::path::Path;

/// `UID[:GID]` with numbers only, or None when a name is in it.
pub fn numeric(spec: &str) -> Option<(u32, u32)> {
    let (u, g) = spec.split_once(':').unwrap_or((spec, spec));
    Some((u.parse().ok()?, g.parse().ok()?))
}

/// `UID[:GID]` with numbers only, each checked: None when a name is in
/// it, an error for an ID out of range.
pub fn numeric_checked(spec: &str) -> Result<Option<(u32, u32)>, String> {
    numeric(spec).map(checked).transpose()
}

/// (uid_t)-1 is "no change" to chown and setresuid: IDs stop at
/// 2147483647, as runc has them.
fn checked((uid, gid): (u32, u32)) -> Result<(u32, u32), String> {
    for id in [uid, gid] {
        if id > i32::MAX as u32 {
            return Err(format!("{id} is out of range: IDs go up to {}", i32::MAX));
        }
    }
    Ok((uid, gid))
}

/// The numeric owner `spec` names in the root filesystem at `root`.
pub fn in_root(root: &Path, spec: &str) -> Result<(u32, u32), String> {
    if let Some(n) = numeric_checked(spec)? {
        return Ok(n);
    }
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    // The entry's third and fourth fields: the id, and for passwd the
    // user's primary group.
    let find = |file: &str, name: &str| -> Result<(u32, Option<u32>), String> {
        if let Ok(n) = name.parse::<u32>() {
            return Ok((n, None));
        }
        let p = crate::fsutil::resolve_in_root(root, file).map_err(|e| format!("/{file}: {e}"))?;
        let text = std::fs::read_to_string(&p)
            .map_err(|_| format!("the image has no /{file} to look up {name:?} in"))?;
        text.lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.first() == Some(&name))
            .and_then(|f| {
                let id = f.get(2)?.parse().ok()?;
                Some((id, f.get(3).and_then(|g| g.parse().ok())))
            })
            .ok_or_else(|| format!("no {name:?} in the image's /{file}"))
    };
    let (uid, primary) = find("etc/passwd", user)?;
    let gid = match group {
        Some(g) => find("etc/group", g)?.0,
        None => primary.unwrap_or(uid),
    };
    checked((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_looked_up_in_the_root_and_numbers_kept() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        std::fs::write(
            root.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n\
             web:x:1001:1002::/srv:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(root.path().join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        assert_eq!(in_root(root.path(), "app"), Ok((1000, 1000)));
        assert_eq!(
            in_root(root.path(), "web"),
            Ok((1001, 1002)),
            "a name alone takes the user's primary group"
        );
        assert_eq!(in_root(root.path(), "1001"), Ok((1001, 1001)));
        assert_eq!(in_root(root.path(), "app:staff"), Ok((1000, 50)));
        assert_eq!(in_root(root.path(), "7:8"), Ok((7, 8)));
        assert_eq!(in_root(root.path(), "app:9"), Ok((1000, 9)));
        assert!(in_root(root.path(), "nobody")
            .unwrap_err()
            .contains("no \"nobody\""));
        assert_eq!(numeric("5"), Some((5, 5)));
        assert!(in_root(root.path(), "4294967295:0").is_err(), "uid -1");
        assert!(numeric_checked("0:2147483648").is_err());
        assert_eq!(
            numeric_checked("2147483647"),
            Ok(Some((2147483647, 2147483647)))
        );
        assert_eq!(numeric("app"), None);
    }
}
