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
    /// The SSH agent of a --ssh ID, reached at `target` (and through
    /// SSH_AUTH_SOCK) for this RUN only.
    Ssh {
        id: String,
        /// None: /run/buildkit/ssh_agent.N, N the ssh mount's place.
        target: Option<String>,
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
    let f = Fields::read(spec, expand)?;
    let kind = f.get(&["type"]).unwrap_or_else(|| "bind".into());
    match kind.as_str() {
        "bind" => {
            f.only(&kind, &COMMON)?;
            Ok(Mount::Bind {
                target: f.target()?,
                source: f.get(&["source", "src"]).unwrap_or_default(),
                from: f.has("from"),
                rw: f.writable(false)?,
            })
        }
        "cache" => cache(&f, &kind),
        "tmpfs" => {
            f.only(&kind, &["type", "target", "dst", "destination", "size"])?;
            Ok(Mount::Tmpfs {
                target: f.target()?,
                size: f.get(&["size"]),
            })
        }
        "secret" => secret(&f, &kind),
        "ssh" => {
            f.only(
                &kind,
                &[
                    "type",
                    "target",
                    "dst",
                    "destination",
                    "id",
                    "required",
                    "mode",
                    "uid",
                    "gid",
                ],
            )?;
            let (mode, uid, gid) = f.owner()?;
            Ok(Mount::Ssh {
                id: f
                    .get(&["id"])
                    .filter(|i| !i.is_empty())
                    .unwrap_or_else(|| "default".into()),
                target: f
                    .get(&["target", "dst", "destination"])
                    .filter(|t| !t.is_empty())
                    .map(|t| absolute(&t)),
                // BuildKit's default: an ssh mount with no agent fails.
                required: f.flag(&["required"])?.unwrap_or(true),
                mode: mode.unwrap_or(0o600),
                uid,
                gid,
            })
        }
        other => Err(format!("unsupported mount type {other:?}")),
    }
}

/// The keys bind and cache mounts share.
const COMMON: [&str; 11] = [
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

fn cache(f: &Fields, kind: &str) -> Result<Mount, String> {
    f.only(
        kind,
        &[&COMMON[..], &["id", "sharing", "mode", "uid", "gid"]].concat(),
    )?;
    let from = f.has("from");
    let source = f.get(&["source", "src"]);
    if source.is_some() && !from {
        return Err(
            "source= on a cache mount needs from= (the stage or image it names a directory of)"
                .into(),
        );
    }
    let target = f.target()?;
    let sharing = match f.get(&["sharing"]).as_deref() {
        None | Some("shared") => Sharing::Shared,
        Some("private") => Sharing::Private,
        Some("locked") => Sharing::Locked,
        Some(o) => return Err(format!("unsupported sharing value {o:?}")),
    };
    let (mode, uid, gid) = f.owner()?;
    Ok(Mount::Cache {
        id: f
            .get(&["id"])
            .filter(|i| !i.is_empty())
            .unwrap_or_else(|| target.clone()),
        target,
        source: source.unwrap_or_default(),
        from,
        sharing,
        ro: !f.writable(true)?,
        mode: mode.unwrap_or(0o755),
        uid,
        gid,
    })
}

fn secret(f: &Fields, kind: &str) -> Result<Mount, String> {
    f.only(
        kind,
        &[
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
        ],
    )?;
    let target = f
        .get(&["target", "dst", "destination"])
        .filter(|t| !t.is_empty())
        .map(|t| absolute(&t));
    let env = f.get(&["env"]).filter(|e| !e.is_empty());
    let id = match f.get(&["id"]).filter(|i| !i.is_empty()) {
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
    let (mode, uid, gid) = f.owner()?;
    Ok(Mount::Secret {
        id,
        target,
        env,
        required: f.flag(&["required"])?.unwrap_or(false),
        mode: mode.unwrap_or(0o400),
        uid,
        gid,
    })
}

fn absolute(t: &str) -> String {
    if t.starts_with('/') {
        t.to_string()
    } else {
        format!("/{t}")
    }
}

/// A --mount value's fields, keys lowercased, values expanded.
struct Fields(BTreeMap<String, Option<String>>);

impl Fields {
    fn read(spec: &str, expand: &dyn Fn(&str) -> Result<String, String>) -> Result<Fields, String> {
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
        Ok(Fields(kv))
    }

    fn has(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// The value of the first of `keys` given.
    fn get(&self, keys: &[&str]) -> Option<String> {
        keys.iter().find_map(|k| self.0.get(*k).cloned()).flatten()
    }

    fn flag(&self, keys: &[&str]) -> Result<Option<bool>, String> {
        for k in keys {
            if let Some(v) = self.0.get(*k) {
                return boolean(k, v.as_deref()).map(Some);
            }
        }
        Ok(None)
    }

    /// ro/readonly or rw/readwrite, else the type's default.
    fn writable(&self, default: bool) -> Result<bool, String> {
        let ro = self.flag(&["ro", "readonly"])?;
        let rw = self.flag(&["rw", "readwrite"])?;
        Ok(match (ro, rw) {
            (Some(r), _) => !r,
            (None, Some(w)) => w,
            (None, None) => default,
        })
    }

    fn only(&self, kind: &str, allowed: &[&str]) -> Result<(), String> {
        match self.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(format!("unexpected key '{k}' for a {kind} mount")),
            None => Ok(()),
        }
    }

    /// The target, made absolute; it must be given.
    fn target(&self) -> Result<String, String> {
        self.get(&["target", "dst", "destination"])
            .filter(|t| !t.is_empty())
            .map(|t| absolute(&t))
            .ok_or_else(|| "the mount has no target".to_string())
    }

    /// mode (its default is the type's), uid and gid.
    fn owner(&self) -> Result<(Option<u32>, u32, u32), String> {
        Ok((
            self.get(&["mode"]).map(|m| octal("mode", &m)).transpose()?,
            self.get(&["uid"])
                .map(|u| id_num("uid", &u))
                .transpose()?
                .unwrap_or(0),
            self.get(&["gid"])
                .map(|g| id_num("gid", &g))
                .transpose()?
                .unwrap_or(0),
        ))
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
            p("type=ssh").unwrap(),
            Mount::Ssh {
                id: "default".into(),
                target: None,
                required: true,
                mode: 0o600,
                uid: 0,
                gid: 0
            }
        );
        assert!(matches!(
            p("type=ssh,id=git,target=/a,required=false").unwrap(),
            Mount::Ssh { ref id, required: false, ref target, .. } if id == "git" && target.as_deref() == Some("/a")
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
            ("type=ssh,source=/x", "unexpected key 'source'"),
            ("type=cache,target=/c,source=/x", "needs from="),
            ("type=secret", "needs an id"),
        ] {
            let e = p(spec).unwrap_err();
            assert!(e.contains(want), "{spec}: {e}");
        }
    }
}
