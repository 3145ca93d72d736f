//! What a COPY or ADD step hands on: its cache key's parts, and the
//! layer-diff call that makes one part of its layer.

use super::*;

/// What the step's key is made of: everything that decides the layer
/// and the history, the sources by their contents.
pub(super) fn key_spec(
    st: &State,
    spec: &Spec,
    c: &Copy,
    contents: &[Value],
    fetched: &[Fetched],
    history: &str,
) -> Value {
    let remote: Vec<Value> = match &spec.checksum {
        Some(sum) => vec![json!({"url": spec.urls[0], "checksum": sum})],
        None => fetched
            .iter()
            .map(|f| json!({"url": f.url, "name": f.name, "digest": f.digest, "mtime": f.last_modified}))
            .collect(),
    };
    json!({"cmd": spec.up, "from": spec.from.as_ref().map(|f| &f.1), "sources": spec.sources,
        "dest": spec.dest, "workdir": st.workdir, "chown": spec.chown, "chmod": spec.chmod,
        "excludes": spec.excludes, "contents": contents, "inline": spec.inline, "remote": remote,
        "unpack": c.flags.unpack, "history": history, "link": c.flags.link})
}

/// layer-diff's call for one part: to the destination itself when it is
/// the only part, else below the destination in the staging tree.
pub(super) fn part_call(
    spec: &Spec,
    p: &Part,
    src: Word,
    single: bool,
    parents_in: &Word,
    chown: Option<&str>,
) -> Call {
    let to = if single {
        p.item.target.clone()
    } else {
        let rel = p
            .item
            .target
            .strip_prefix(spec.dest_abs.trim_end_matches('/'))
            .filter(|r| r.is_empty() || r.starts_with('/'))
            .unwrap_or("");
        if rel.is_empty() {
            "/".to_string()
        } else {
            rel.to_string()
        }
    };
    let mut c = Call::new("layer-diff")
        .arg("--dir")
        .arg(src)
        .arg("--to")
        .arg(to.as_str());
    if single {
        c = c.arg("--parents-in").arg(parents_in.clone());
    }
    // What ADD unpacks from a tar keeps the tar's owners: BuildKit's
    // unpack takes --chown only for the directories it makes.
    if let (Some(o), false) = (chown.or(p.default_owner), p.archive) {
        c = c.args(["--chown", o]);
    }
    if let (Some(m), false) = (&spec.chmod, p.archive) {
        c = c.args(["--chmod", m.as_str()]);
    }
    for e in p.item.excludes.iter().chain(&spec.excludes) {
        c = c.arg("--exclude").arg(e.as_str());
    }
    c
}
