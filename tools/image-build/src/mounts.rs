//! RUN --mount as BuildKit reads it: CSV fields of `key=value` (a field
//! with a comma may be quoted), keys case-insensitive, bare `ro`/`rw`
//! allowed, `type=bind` by default.

use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sharing {
    Shared,
    Private,
    Locked,
}

/// One --mount, its values expanded; `from` is whether it names a stage
/// or image (the plan resolves which, in order).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Mount {
    Bind {
        target: String,
        source: String,
        from: bool,
        rw: bool,
    },
    Cache {
        target: String,
        id: String,
        /// Seeded, when first made, from this directory of the `from`
        /// stage or image (BuildKit's cache mount with a base).
        source: String,
        from: bool,
        sharing: Sharing,
        ro: bool,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    Tmpfs {
        target: String,
        size: Option<String>,
    },
    Secret {
        id: String,
        /// Where the file goes; None with `env=` alone.
        target: Option<String>,
        env: Option<String>,
        required: bool,
        mode: u32,
        uid: u32,
        gid: u32,
    },
}

/// Go's encoding/csv on one line: `"` quotes a field, `""` inside is a
/// quote.
fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err(format!("{s:?}: an unterminated quote")),
                }
            }
            match chars.next() {
                None => {
                    out.push(field);
                    return Ok(out);
                }
                Some(',') => {}
                Some(c) => return Err(format!("{s:?}: {c:?} after a quoted field")),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        out.push(field);
                        return Ok(out);
                    }
                    Some(',') => break,
                    Some(c) => field.push(c),
                }
            }
        }
        out.push(field);
    }
}

fn boolean(key: &str, v: Option<&str>) -> Result<bool, String> {
    match v.map(str::to_ascii_lowercase).as_deref() {
        None | Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(other) => Err(format!("invalid value for {key}: {other:?}")),
    }
}

fn octal(key: &str, v: &str) -> Result<u32, String> {
    u32::from_str_radix(v, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("invalid {key} {v:?}: an octal mode"))
}

fn id_num(key: &str, v: &str) -> Result<u32, String> {
    v.parse()
        .map_err(|_| format!("invalid {key} {v:?}: a number"))
}

/// Parses one --mount value; `expand` expands a value's variables (all
/// but `from`, as BuildKit does).
pub fn parse(spec: &str, expand: &dyn Fn(&str) -> Result<String, String>) -> Result<Mount, String> {
    let mut kv: BTreeMap<String, Option<String>> = BTreeMap::new();
    for f in csv_fields(spec)? {
        let (k, v) = match f.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.to_string())),
            None => (f.trim().to_ascii_lowercase(), None),
        };
        let boolean_key = matches!(
            k.as_str(),
            "ro" | "readonly" | "rw" | "readwrite" | "required"
        );
        if v.is_none() && !boolean_key {
            return Err(format!("invalid field '{f}' must be a key=value pair"));
        }
        let v = match (k.as_str(), v) {
            ("from", v) => v,
            (_, Some(v)) => Some(expand(&v)?),
            (_, None) => None,
        };
        kv.insert(k, v);
    }
    let get = |keys: &[&str]| -> Option<String> {
        keys.iter().find_map(|k| kv.get(*k).cloned()).flatten()
    };
    let flag = |keys: &[&str]| -> Result<Option<bool>, String> {
        for k in keys {
            if let Some(v) = kv.get(*k) {
                return boolean(k, v.as_deref()).map(Some);
            }
        }
        Ok(None)
    };
    let ro = flag(&["ro", "readonly"])?;
    let rw = flag(&["rw", "readwrite"])?;
    let writable = |default: bool| match (ro, rw) {
        (Some(r), _) => !r,
        (None, Some(w)) => w,
        (None, None) => default,
    };
    let target = get(&["target", "dst", "destination"]);
    let source = get(&["source", "src"]);
    let kind = get(&["type"]).unwrap_or_else(|| "bind".into());
    let only = |allowed: &[&str]| -> Result<(), String> {
        match kv.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(format!("unexpected key '{k}' for a {kind} mount")),
            None => Ok(()),
        }
    };
    let need_target = || {
        target
            .clone()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| "the mount has no target".to_string())
    };
    let abs = |t: String| {
        if t.starts_with('/') {
            t
        } else {
            format!("/{t}")
        }
    };
    // mode (its default depends on the type), uid and gid.
    let owner = (
        get(&["mode"]).map(|m| octal("mode", &m)).transpose()?,
        get(&["uid"])
            .map(|u| id_num("uid", &u))
            .transpose()?
            .unwrap_or(0),
        get(&["gid"])
            .map(|g| id_num("gid", &g))
            .transpose()?
            .unwrap_or(0),
    );
    let common = [
        "type",
        "target",
        "dst",
        "destination",
        "source",
        "src",
        "from",
        "ro",
        "readonly",
        "rw",
        "readwrite",
    ];
    match kind.as_str() {
        "bind" => {
            only(&common)?;
            Ok(Mount::Bind {
                target: abs(need_target()?),
                source: source.unwrap_or_default(),
                from: kv.contains_key("from"),
                rw: writable(false),
            })
        }
        "cache" => {
            only(&[&common[..], &["id", "sharing", "mode", "uid", "gid"]].concat())?;
            let from = kv.contains_key("from");
            if source.is_some() && !from {
                return Err("source= on a cache mount needs from= (the stage or image it names a directory of)".into());
            }
            let target = abs(need_target()?);
            let sharing = match get(&["sharing"]).as_deref() {
                None | Some("shared") => Sharing::Shared,
                Some("private") => Sharing::Private,
                Some("locked") => Sharing::Locked,
                Some(o) => return Err(format!("unsupported sharing value {o:?}")),
            };
            Ok(Mount::Cache {
                id: get(&["id"])
                    .filter(|i| !i.is_empty())
                    .unwrap_or_else(|| target.clone()),
                target,
                source: source.unwrap_or_default(),
                from,
                sharing,
                ro: !writable(true),
                mode: owner.0.unwrap_or(0o755),
                uid: owner.1,
                gid: owner.2,
            })
        }
        "tmpfs" => {
            only(&["type", "target", "dst", "destination", "size"])?;
            Ok(Mount::Tmpfs {
                target: abs(need_target()?),
                size: get(&["size"]),
            })
        }
        "secret" => {
            only(&[
                "type",
                "target",
                "dst",
                "destination",
                "id",
                "env",
                "required",
                "mode",
                "uid",
                "gid",
            ])?;
            let target = target.filter(|t| !t.is_empty()).map(abs);
            let env = get(&["env"]).filter(|e| !e.is_empty());
            let id = match get(&["id"]).filter(|i| !i.is_empty()) {
                Some(id) => id,
                None => target
                    .as_deref()
                    .and_then(|t| t.rsplit('/').next())
                    .filter(|b| !b.is_empty())
                    .map(str::to_string)
                    .ok_or("a secret mount needs an id or a target")?,
            };
            // A file at /run/secrets/ID unless only an env var is asked for.
            let target = match (target, &env) {
                (Some(t), _) => Some(t),
                (None, Some(_)) => None,
                (None, None) => Some(format!("/run/secrets/{id}")),
            };
            Ok(Mount::Secret {
                id,
                target,
                env,
                required: flag(&["required"])?.unwrap_or(false),
                mode: owner.0.unwrap_or(0o400),
                uid: owner.1,
                gid: owner.2,
            })
        }
        "ssh" => {
            Err("RUN --mount=type=ssh is not supported: image-build forwards no SSH agent".into())
        }
        other => Err(format!("unsupported mount type {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Mount, String> {
        parse(s, &|v: &str| Ok(v.replace("$V", "x")))
    }

    #[test]
    fn fields_split_as_go_csv_reads_them() {
        assert_eq!(csv_fields("a=1,b=2").unwrap(), ["a=1", "b=2"]);
        assert_eq!(csv_fields("\"a=1,2\",b").unwrap(), ["a=1,2", "b"]);
        assert_eq!(csv_fields("\"say \"\"hi\"\"\"").unwrap(), ["say \"hi\""]);
        assert!(csv_fields("\"open").is_err());
    }

    #[test]
    fn each_type_takes_buildkits_defaults() {
        assert_eq!(
            p("target=/src").unwrap(),
            Mount::Bind {
                target: "/src".into(),
                source: "".into(),
                from: false,
                rw: false
            }
        );
        assert_eq!(
            p("type=bind,from=builder,src=/out,dst=in,rw").unwrap(),
            Mount::Bind {
                target: "/in".into(),
                source: "/out".into(),
                from: true,
                rw: true
            }
        );
        assert_eq!(
            p("type=cache,target=/root/.cache/$V").unwrap(),
            Mount::Cache {
                target: "/root/.cache/x".into(),
                id: "/root/.cache/x".into(),
                source: "".into(),
                from: false,
                sharing: Sharing::Shared,
                ro: false,
                mode: 0o755,
                uid: 0,
                gid: 0
            }
        );
        assert_eq!(
            p("type=cache,id=go,target=/go,sharing=locked,mode=0700,uid=1000,gid=1000,ro").unwrap(),
            Mount::Cache {
                target: "/go".into(),
                id: "go".into(),
                source: "".into(),
                from: false,
                sharing: Sharing::Locked,
                ro: true,
                mode: 0o700,
                uid: 1000,
                gid: 1000
            }
        );
        assert!(matches!(
            p("type=cache,from=builder,source=/out,target=/c").unwrap(),
            Mount::Cache { ref source, from: true, ref id, .. } if source == "/out" && id == "/c"
        ));
        assert_eq!(
            p("type=secret,id=tok").unwrap(),
            Mount::Secret {
                id: "tok".into(),
                target: Some("/run/secrets/tok".into()),
                env: None,
                required: false,
                mode: 0o400,
                uid: 0,
                gid: 0
            }
        );
        assert!(matches!(
            p("type=secret,id=tok,env=TOKEN,required").unwrap(),
            Mount::Secret {
                target: None,
                required: true,
                ..
            }
        ));
        assert!(matches!(
            p("type=secret,target=/etc/key").unwrap(),
            Mount::Secret { ref id, .. } if id == "key"
        ));
        assert_eq!(
            p("type=tmpfs,target=/t,size=10m").unwrap(),
            Mount::Tmpfs {
                target: "/t".into(),
                size: Some("10m".into())
            }
        );
    }

    #[test]
    fn bad_mounts_say_what_is_wrong() {
        for (spec, want) in [
            ("type=nope,target=/x", "unsupported mount type"),
            ("type=cache", "no target"),
            ("type=bind,target", "must be a key=value pair"),
            ("type=tmpfs,target=/t,id=x", "unexpected key 'id'"),
            ("type=cache,target=/c,sharing=sometimes", "sharing"),
            ("type=cache,target=/c,mode=999", "octal"),
            ("type=ssh", "not supported"),
            ("type=cache,target=/c,source=/x", "needs from="),
            ("type=secret", "needs an id"),
        ] {
            let e = p(spec).unwrap_err();
            assert!(e.contains(want), "{spec}: {e}");
        }
    }
}
