//! `-o/--output` as buildx takes it: `type=local,dest=DIR` (the final
//! stage's files), `type=tar,dest=FILE|-` (them as one tar), `type=oci`,
//! `type=docker` (archives), `type=image|registry,name=…[,push=true]`;
//! the short forms (`-o DIR`, `-o -`), and slipway's transports
//! (`oci:DIR`, `oci-archive:FILE`, `docker-archive:FILE`).

use std::path::PathBuf;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Written by image-store save to this destination (a transport).
    Image(String),
    /// The final image's files, into this directory.
    Local(PathBuf),
    /// The final image's files as a tar, to this file or `-` (stdout).
    Tar(String),
    /// Named in the store (and pushed with push=true).
    Names { names: Vec<String>, push: bool },
}

impl Output {
    /// Whether it goes to stdout (which then carries nothing else).
    pub fn is_stdout(&self) -> bool {
        match self {
            Output::Tar(f) => f == "-",
            Output::Image(d) => {
                slipway_common::export::Destination::parse(d).is_ok_and(|d| d.is_stdout())
            }
            _ => false,
        }
    }
}

const TRANSPORTS: [&str; 3] = ["oci:", "oci-archive:", "docker-archive:"];

pub fn parse(s: &str) -> Result<Output, String> {
    if TRANSPORTS.iter().any(|t| s.starts_with(t)) {
        slipway_common::export::Destination::parse(s).map_err(|e| e.to_string())?;
        return Ok(Output::Image(s.to_string()));
    }
    if s == "-" {
        return Ok(Output::Tar("-".into()));
    }
    if !s.contains('=') {
        return Ok(Output::Local(PathBuf::from(s)));
    }
    let mut kind = None;
    let mut dest = None;
    let mut names = Vec::new();
    let mut push = false;
    let mut tar = true;
    let mut parts = s.split(',').peekable();
    while let Some(f) = parts.next() {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| format!("{f:?}: expected KEY=VALUE"))?;
        match k {
            "type" => kind = Some(v.to_string()),
            "dest" => dest = Some(v.to_string()),
            // name=a,b: buildx takes the names after name= up to the next
            // key as one list.
            "name" => {
                names.push(v.to_string());
                while let Some(next) = parts.peek() {
                    if next.contains('=') {
                        break;
                    }
                    names.push(parts.next().expect("peeked").to_string());
                }
            }
            "push" => push = parse_bool(k, v)?,
            "tar" => tar = parse_bool(k, v)?,
            _ => {
                return Err(format!(
                    "{k}: an output option this build does not take (type, dest, name, push, tar)"
                ))
            }
        }
    }
    let need_dest = |kind: &str| {
        dest.clone()
            .filter(|d| !d.is_empty())
            .ok_or_else(|| format!("type={kind} needs dest="))
    };
    match kind.as_deref() {
        Some("local") => Ok(Output::Local(need_dest("local")?.into())),
        Some("tar") => Ok(Output::Tar(need_dest("tar")?)),
        Some("oci") => {
            let d = need_dest("oci")?;
            let name = names.first().map(|n| format!(":{n}")).unwrap_or_default();
            let t = if tar {
                format!("oci-archive:{d}{name}")
            } else {
                format!("oci:{d}{name}")
            };
            parse(&t)
        }
        Some("docker") => {
            let d = need_dest("docker")?;
            let name = names.first().map(|n| format!(":{n}")).unwrap_or_default();
            parse(&format!("docker-archive:{d}{name}"))
        }
        Some("image") => Ok(Output::Names { names, push }),
        Some("registry") => Ok(Output::Names { names, push: true }),
        Some(other) => Err(format!(
            "type={other}: not an output type here (local, tar, oci, docker, image, registry)"
        )),
        None => Err("an output needs type= (local, tar, oci, docker, image, registry)".into()),
    }
}

fn parse_bool(k: &str, v: &str) -> Result<bool, String> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!("{k}={v}: expected true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buildx_forms_and_short_forms_parse() {
        assert_eq!(
            parse("type=local,dest=out").unwrap(),
            Output::Local("out".into())
        );
        assert_eq!(parse("out").unwrap(), Output::Local("out".into()));
        assert_eq!(parse("-").unwrap(), Output::Tar("-".into()));
        assert_eq!(
            parse("type=tar,dest=fs.tar").unwrap(),
            Output::Tar("fs.tar".into())
        );
        assert_eq!(
            parse("type=oci,dest=img.tar").unwrap(),
            Output::Image("oci-archive:img.tar".into())
        );
        assert_eq!(
            parse("type=oci,dest=layout,tar=false").unwrap(),
            Output::Image("oci:layout".into())
        );
        assert_eq!(
            parse("type=docker,dest=d.tar,name=app:1").unwrap(),
            Output::Image("docker-archive:d.tar:app:1".into())
        );
        assert_eq!(
            parse("type=image,name=r/a:1,r/b:2,push=true").unwrap(),
            Output::Names {
                names: vec!["r/a:1".into(), "r/b:2".into()],
                push: true
            }
        );
        assert_eq!(
            parse("type=registry,name=r/a:1").unwrap(),
            Output::Names {
                names: vec!["r/a:1".into()],
                push: true
            }
        );
        assert_eq!(
            parse("oci-archive:x.tar").unwrap(),
            Output::Image("oci-archive:x.tar".into())
        );
        assert!(parse("type=local").unwrap_err().contains("dest="));
        assert!(parse("type=cacheonly").is_err());
        assert!(parse("type=local,dest=x,compression=zstd").is_err());
        assert!(parse("type=docker,dest=-").unwrap().is_stdout());
    }
}
