//! commit: a container's writable layer as a new image on top of its own,
//! made by the tools whose job that is, run as processes:
//! `layer-diff --upper UPPER | image-assemble --base IMAGE -`.

use crate::{out_err, Error};
use slipway_common::container::state::Containers;
use slipway_common::reference::ImageRef;
use slipway_common::shell::{Lex, NoEnv};
use slipway_common::store::Store;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(clap::Args, Debug)]
pub struct CommitArgs {
    /// The history text of the new layer (default: the container's
    /// command, as docker's created_by).
    #[arg(short, long, value_name = "MESSAGE")]
    pub message: Option<String>,
    /// The image author.
    #[arg(short, long, value_name = "NAME")]
    pub author: Option<String>,
    /// A Dockerfile instruction to apply to the config: CMD, ENTRYPOINT,
    /// ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME or WORKDIR
    /// (repeatable).
    #[arg(short = 'c', long = "change", value_name = "INSTRUCTION")]
    pub changes: Vec<String>,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// A name for the new image, NAME[:TAG] (default: untagged).
    #[arg(value_name = "IMAGE")]
    pub image: Option<String>,
}

/// The image-assemble flags that make one `--change`.
fn change_flags(change: &str) -> Result<Vec<String>, Error> {
    let bad = |why: &str| Error::Invalid(format!("commit --change {change:?}: {why}"));
    let change = change.trim();
    let (instr, rest) = change
        .split_once(char::is_whitespace)
        .map_or((change, ""), |(i, r)| (i, r.trim()));
    if rest.is_empty() {
        return Err(bad("the instruction needs an argument"));
    }
    let mut lex = Lex::new('\\');
    lex.skip_unset_env = true;
    let words = || {
        lex.process_words(rest, &NoEnv)
            .map_err(|e| bad(&e.to_string()))
    };
    // VOLUME takes a JSON array as well as words.
    let list = || -> Result<Vec<String>, Error> {
        if rest.starts_with('[') {
            serde_json::from_str(rest).map_err(|e| bad(&e.to_string()))
        } else {
            words()
        }
    };
    let each = |flag: &str, values: Vec<String>| {
        values
            .into_iter()
            .flat_map(|v| [flag.to_string(), v])
            .collect::<Vec<_>>()
    };
    let one = |flag: &str| vec![flag.to_string(), rest.to_string()];
    Ok(match instr.to_ascii_uppercase().as_str() {
        "CMD" => one("--cmd"),
        "ENTRYPOINT" => one("--entrypoint"),
        "USER" => one("--user"),
        "WORKDIR" => one("--workdir"),
        "STOPSIGNAL" => one("--stopsignal"),
        "ONBUILD" => one("--onbuild"),
        "EXPOSE" => each("--expose", words()?),
        "VOLUME" => each("--volume", list()?),
        "LABEL" => {
            let w = words()?;
            if let Some(x) = w.iter().find(|x| !x.contains('=')) {
                return Err(bad(&format!("{x:?} is not KEY=VALUE")));
            }
            each("--label", w)
        }
        "ENV" => {
            let w = words()?;
            if w.first().is_some_and(|x| x.contains('=')) {
                if let Some(x) = w.iter().find(|x| !x.contains('=')) {
                    return Err(bad(&format!("{x:?} is not KEY=VALUE")));
                }
                each("--env", w)
            } else {
                // The old form: ENV KEY the rest is the value.
                let (key, value) = rest
                    .split_once(char::is_whitespace)
                    .ok_or_else(|| bad("ENV needs KEY=VALUE or KEY VALUE"))?;
                vec!["--env".into(), format!("{key}={}", value.trim())]
            }
        }
        other => {
            return Err(bad(&format!(
                "{other} is not a change commit can make (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR)"
            )))
        }
    })
}

/// A slipway tool: beside our own executable (as installed, or built in
/// target/), else in PATH.
fn tool(name: &str) -> Result<PathBuf, Error> {
    slipway_common::cli::find_tool(name).ok_or_else(|| {
        Error::Invalid(format!(
            "commit needs {name}, which is neither beside container-ctl nor in PATH"
        ))
    })
}

fn spawn_err(name: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Os {
        what: format!("run {name}"),
        source,
    }
}

/// The last line a failed tool printed: its one error line.
fn last_line(stderr: &[u8], name: &str, status: std::process::ExitStatus) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_string())
        .unwrap_or_else(|| format!("{name} failed ({status})"))
}

/// The container's image as image-assemble's --base takes it. From the
/// store, by ID (a tag moved since the container started does not change
/// the base), written NAME@DIGEST with a name the store still gives it.
fn base(store: &Path, image: &str, image_id: &str, container: &str) -> Result<String, Error> {
    if let Ok(r) = ImageRef::parse(image) {
        if !matches!(r, ImageRef::Store(_) | ImageRef::Id(_)) {
            return Ok(image.to_string());
        }
    }
    let st = Store::open(store)?;
    let digest = st.resolve(image_id)?.digest().to_string();
    st.entries()?
        .into_iter()
        .filter(|e| e.descriptor.digest().to_string() == digest)
        .find_map(|e| e.name)
        .map(|n| format!("{}@{digest}", n.name()))
        .ok_or_else(|| {
            Error::Invalid(format!(
                "the image of container {container} ({image_id}) has no name in the store any more: name it (image-store tag ID NAME) and commit again"
            ))
        })
}

pub fn commit(store: &Path, containers: &Containers, a: &CommitArgs) -> Result<(), Error> {
    let s = containers.find(&a.container)?;
    let Some(image_id) = &s.image_id else {
        return Err(Error::Invalid(format!(
            "container {} runs a directory (--rootfs), not an image: there is no image to commit onto",
            a.container
        )));
    };
    let base = base(store, &s.image, image_id, &a.container)?;
    let upper = containers.upper_dir(&s);
    if !upper.is_dir() {
        return Err(Error::Invalid(format!(
            "container {}: its writable layer {} is gone",
            a.container,
            upper.display()
        )));
    }
    let mut flags: Vec<String> = Vec::new();
    for c in &a.changes {
        flags.extend(change_flags(c)?);
    }
    let history = a.message.clone().unwrap_or_else(|| s.command.join(" "));
    let (layer_diff, image_assemble) = (tool("layer-diff")?, tool("image-assemble")?);

    // docker pauses a running container while it copies the layer; we do
    // not: the layer is what the upper dir holds while layer-diff walks it,
    // so a container that writes meanwhile may be caught mid-change.
    let mut diff = Command::new(&layer_diff)
        .arg("--upper")
        .arg(&upper)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_err("layer-diff"))?;
    let layer = diff.stdout.take().expect("piped stdout");
    let mut diff_stderr = diff.stderr.take().expect("piped stderr");
    let diff_errors = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = diff_stderr.read_to_end(&mut b);
        b
    });
    let mut assemble = Command::new(&image_assemble);
    assemble
        .arg("--store")
        .arg(store)
        .args(["--quiet", "--base", &base, "--history", &history]);
    if let Some(t) = &a.image {
        assemble.args(["--tag", t]);
    }
    if let Some(author) = &a.author {
        assemble.args(["--author", author]);
    }
    let assembled = assemble
        .args(&flags)
        .arg("-")
        .stdin(Stdio::from(layer))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_err("image-assemble"))
        .and_then(|c| c.wait_with_output().map_err(spawn_err("image-assemble")));
    let diff_status = diff.wait().map_err(spawn_err("layer-diff"))?;
    let diff_errors = diff_errors.join().unwrap_or_default();
    let assembled = assembled?;
    // layer-diff's own failure explains image-assemble's (a cut tar);
    // one killed by a closed pipe is explained by image-assemble's.
    if !diff_status.success() && diff_status.code().is_some() {
        return Err(Error::Invalid(format!(
            "commit {}: {}",
            a.container,
            last_line(&diff_errors, "layer-diff", diff_status)
        )));
    }
    if !assembled.status.success() {
        return Err(Error::Invalid(format!(
            "commit {}: {}",
            a.container,
            last_line(&assembled.stderr, "image-assemble", assembled.status)
        )));
    }
    if !diff_status.success() {
        return Err(Error::Invalid(format!(
            "commit {}: {}",
            a.container,
            last_line(&diff_errors, "layer-diff", diff_status)
        )));
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    out.write_all(&assembled.stdout).map_err(out_err)?;
    out.flush().map_err(out_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(c: &str) -> Vec<String> {
        change_flags(c).unwrap()
    }

    #[test]
    fn changes_become_image_assemble_flags() {
        assert_eq!(
            flags(r#"CMD ["sh", "-c", "x"]"#),
            ["--cmd", r#"["sh", "-c", "x"]"#]
        );
        assert_eq!(flags("cmd echo hi"), ["--cmd", "echo hi"]);
        assert_eq!(
            flags(r#"ENV A=1 B="two words""#),
            ["--env", "A=1", "--env", "B=two words"]
        );
        assert_eq!(flags("ENV A one two"), ["--env", "A=one two"]);
        assert_eq!(
            flags("EXPOSE 80 53/udp"),
            ["--expose", "80", "--expose", "53/udp"]
        );
        assert_eq!(
            flags(r#"VOLUME ["/a", "/b"]"#),
            ["--volume", "/a", "--volume", "/b"]
        );
        assert_eq!(flags("LABEL team=web"), ["--label", "team=web"]);
        assert_eq!(flags("WORKDIR /srv"), ["--workdir", "/srv"]);
        assert_eq!(flags("USER app:app"), ["--user", "app:app"]);
    }

    #[test]
    fn other_instructions_and_empty_ones_are_refused() {
        for bad in ["RUN echo", "CMD", "FROM busybox", "LABEL novalue"] {
            assert!(change_flags(bad).is_err(), "{bad}");
        }
    }
}
