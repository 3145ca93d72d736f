//! `--build-context NAME=SOURCE`, as buildx takes it: a local directory,
//! `docker-image://REF`, `oci-layout://DIR[:TAG]`, a git repository or an
//! http(s) URL of a tar (fetched as a context would be). `FROM NAME`,
//! `COPY --from=NAME` and `RUN --mount from=NAME` get it in place of the
//! image of that name.

use std::path::PathBuf;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NamedContext {
    /// A directory: its files, as an image of one layer.
    Dir(PathBuf),
    /// An image (in the store, or pulled).
    Image(String),
    /// An image of an OCI layout: the layout's dir and its ref, as
    /// image-assemble --base takes it (`oci:DIR[:REF]`).
    Layout(String),
    /// A git repository or a tar's URL: fetched into the build's temp
    /// dir, then a directory.
    Remote(crate::remote::Remote),
}

pub fn parse(s: &str) -> Result<(String, NamedContext), String> {
    let (name, source) = s
        .split_once('=')
        .filter(|(n, v)| !n.is_empty() && !v.is_empty())
        .ok_or_else(|| format!("{s:?}: expected NAME=SOURCE"))?;
    let ctx = if let Some(r) = source.strip_prefix("docker-image://") {
        slipway_common::reference::Reference::parse(r).map_err(|e| format!("{s}: {e}"))?;
        NamedContext::Image(r.to_string())
    } else if let Some(l) = source.strip_prefix("oci-layout://") {
        let (dir, rest) = match l.find(['@', ':']) {
            Some(i) if !l[..i].is_empty() => (&l[..i], &l[i..]),
            _ => (l, ""),
        };
        if !std::path::Path::new(dir).join("index.json").is_file() {
            return Err(format!("{s}: {dir} is no OCI layout (no index.json)"));
        }
        if rest.starts_with('@') {
            return Err(format!(
                "{s}: an image of a layout by digest is not supported yet: name it by its tag (oci-layout://{dir}:TAG)"
            ));
        }
        let reference = rest.trim_start_matches(':');
        match reference {
            "" => NamedContext::Layout(format!("oci:{dir}")),
            r => NamedContext::Layout(format!("oci:{dir}:{r}")),
        }
    } else if let Some(r) = crate::remote::classify(source) {
        NamedContext::Remote(r)
    } else if source.contains("://") {
        return Err(format!(
            "{s}: not a source a named context takes: a directory, docker-image://, oci-layout://, a git repository or an http(s) URL"
        ));
    } else {
        let dir = PathBuf::from(source);
        if !dir.is_dir() {
            return Err(format!("{s}: {source} is not a directory"));
        }
        NamedContext::Dir(dir)
    };
    Ok((name.to_string(), ctx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_kinds_parse_and_urls_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().to_str().unwrap();
        assert_eq!(
            parse(&format!("src={dir}")).unwrap(),
            ("src".into(), NamedContext::Dir(d.path().into()))
        );
        assert_eq!(
            parse("alpine=docker-image://busybox:1").unwrap().1,
            NamedContext::Image("busybox:1".into())
        );
        std::fs::write(d.path().join("index.json"), "{}").unwrap();
        assert_eq!(
            parse(&format!("base=oci-layout://{dir}:v1")).unwrap().1,
            NamedContext::Layout(format!("oci:{dir}:v1"))
        );
        assert_eq!(
            parse(&format!("base=oci-layout://{dir}")).unwrap().1,
            NamedContext::Layout(format!("oci:{dir}"))
        );
        assert!(matches!(
            parse("x=https://example.invalid/c.tar").unwrap().1,
            NamedContext::Remote(crate::remote::Remote::Url(_))
        ));
        assert!(matches!(
            parse("x=https://example.invalid/r.git#main").unwrap().1,
            NamedContext::Remote(crate::remote::Remote::Git(_))
        ));
        assert!(parse("x=ftp://example.invalid/c")
            .unwrap_err()
            .contains("not a source"));
        assert!(parse("x=/no/such/dir")
            .unwrap_err()
            .contains("not a directory"));
        assert!(parse("=x").is_err());
    }
}
