//! Each verb lowered to the tool calls that do it, then run: the one
//! call of most verbs replaces slipway (exec), so its exit status,
//! signals and terminal are the tool's own.

use crate::{Error, Rest, Verb};
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// One tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub tool: &'static str,
    pub args: Vec<OsString>,
}

/// Every tool a verb may run, in the order `version` and `info` list them.
const TOOLS: [&str; 10] = [
    "image-build",
    "container-run",
    "container-ctl",
    "image-store",
    "image-pull",
    "image-push",
    "image-assemble",
    "layer-diff",
    "dockerfile-parse",
    "container-runtime",
];

fn call(tool: &'static str, lead: &[&str], r: &Rest) -> Invocation {
    let mut args: Vec<OsString> = lead.iter().map(OsString::from).collect();
    args.extend(r.args.iter().cloned());
    Invocation { tool, args }
}

/// The calls that do `verb`: one, or for `inspect` two, the second tried
/// when the first finds no such container. Version and info call none.
pub fn plan(verb: &Verb) -> Result<Vec<Invocation>, Error> {
    use Verb::*;
    let one = |i| Ok(vec![i]);
    match verb {
        Build(r) => one(call("image-build", &[], r)),
        Run(r) => one(call("container-run", &[], r)),
        Create(r) => one(call("container-run", &["--create"], r)),
        Start(r) => one(call("container-ctl", &["start"], r)),
        Attach(r) => one(call("container-ctl", &["attach"], r)),
        Ps(r) => one(call("container-ctl", &["ps"], r)),
        Stop(r) => one(call("container-ctl", &["stop"], r)),
        Kill(r) => one(call("container-ctl", &["kill"], r)),
        Rm(r) => one(call("container-ctl", &["rm"], r)),
        Logs(r) => one(call("container-ctl", &["logs"], r)),
        Exec(r) => one(call("container-ctl", &["exec"], r)),
        Commit(r) => one(call("container-ctl", &["commit"], r)),
        Wait(r) => one(call("container-ctl", &["wait"], r)),
        Pause(r) => one(call("container-ctl", &["pause"], r)),
        Unpause(r) => one(call("container-ctl", &["unpause"], r)),
        Rename(r) => one(call("container-ctl", &["rename"], r)),
        Port(r) => one(call("container-ctl", &["port"], r)),
        Top(r) => one(call("container-ctl", &["top"], r)),
        Stats(r) => one(call("container-ctl", &["stats"], r)),
        Diff(r) => one(call("container-ctl", &["diff"], r)),
        Cp(r) => one(call("container-ctl", &["cp"], r)),
        Container(r) => container(r),
        Volume(r) => one(call("container-ctl", &["volume"], r)),
        Network(r) => one(call("container-ctl", &["network"], r)),
        Inspect(r) => Ok(vec![
            call("container-ctl", &["inspect"], r),
            call("image-store", &["inspect"], r),
        ]),
        Images(r) => one(call("image-store", &["ls"], r)),
        Image(r) => image(r),
        Manifest(r) => manifest(r).map(|i| vec![i]),
        Pull(r) => one(call("image-pull", &[], r)),
        Push(r) => push(r).map(|i| vec![i]),
        Tag(r) => one(call("image-store", &["tag"], r)),
        Rmi(r) => one(call("image-store", &["rm"], r)),
        Save(r) => save(r).map(|i| vec![i]),
        Load(r) => one(call("image-store", &["load"], r)),
        History(r) => one(call("image-store", &["history"], r)),
        Version | Info | Completion { .. } | System(_) | Login(_) | Logout(_) => Ok(Vec::new()),
    }
}

/// `image SUBCOMMAND`, as `docker image` has them.
fn image(r: &Rest) -> Result<Vec<Invocation>, Error> {
    let Some((sub, rest)) = r.args.split_first() else {
        return Err(Error::Usage(
            "image: name a command: ls, rm, inspect, tag, save, load, history, prune, pull or push"
                .into(),
        ));
    };
    let rest = Rest {
        args: rest.to_vec(),
    };
    let one = |i| Ok(vec![i]);
    match sub.to_str() {
        Some("ls" | "list") => one(call("image-store", &["ls"], &rest)),
        Some("rm" | "remove") => one(call("image-store", &["rm"], &rest)),
        Some("inspect") => one(call("image-store", &["inspect"], &rest)),
        Some("tag") => one(call("image-store", &["tag"], &rest)),
        Some("save") => save(&rest).map(|i| vec![i]),
        Some("load") => one(call("image-store", &["load"], &rest)),
        Some("history") => one(call("image-store", &["history"], &rest)),
        Some("pull") => one(call("image-pull", &[], &rest)),
        Some("push") => push(&rest).map(|i| vec![i]),
        // gc never asks before it deletes: docker's -f (do not ask) is
        // what it always does.
        Some("prune") => {
            let args = Rest {
                args: rest
                    .args
                    .iter()
                    .filter(|a| *a != "-f" && *a != "--force")
                    .cloned()
                    .collect(),
            };
            one(call("image-store", &["gc"], &args))
        }
        _ => Err(Error::Usage(format!(
            "image {}: not a command slipway has (ls, rm, inspect, tag, save, load, history, prune, pull, push)",
            sub.to_string_lossy()
        ))),
    }
}

/// `manifest SUBCOMMAND`, as `docker manifest` and `podman manifest`
/// have them.
fn manifest(r: &Rest) -> Result<Invocation, Error> {
    let usage = || Error::Usage("manifest: name a command: create, inspect, push or rm".into());
    let (sub, rest) = r.args.split_first().ok_or_else(usage)?;
    let rest = Rest {
        args: rest.to_vec(),
    };
    match sub.to_str() {
        Some("create") => Ok(call("image-store", &["manifest", "create"], &rest)),
        Some("inspect") => Ok(call("image-store", &["manifest", "inspect"], &rest)),
        Some("rm") => Ok(call("image-store", &["rm"], &rest)),
        // push LIST DEST, as podman's; push LIST alone to the registry
        // its name says, as docker's.
        Some("push") => {
            let names: Vec<&OsString> = rest
                .args
                .iter()
                .filter(|a| !a.to_string_lossy().starts_with('-'))
                .collect();
            match names.as_slice() {
                [_] => push(&rest),
                [_, dest] => {
                    let dest = (*dest).clone();
                    let mut args = rest.args.clone();
                    args.retain(|a| *a != dest);
                    let mut i = call("image-push", &[], &Rest { args });
                    let mut d = OsString::from("docker://");
                    d.push(dest.to_string_lossy().trim_start_matches("docker://"));
                    i.args.push(d);
                    Ok(i)
                }
                _ => Err(Error::Usage(
                    "manifest push: give LIST, or LIST DEST".into(),
                )),
            }
        }
        _ => Err(usage()),
    }
}

/// `container SUBCOMMAND`, as `docker container` has them: `run` is
/// container-run, the others container-ctl's commands of the same names.
fn container(r: &Rest) -> Result<Vec<Invocation>, Error> {
    const CTL: &[&str] = &[
        "ls", "list", "ps", "stop", "kill", "rm", "remove", "logs", "exec", "commit", "inspect",
        "wait", "pause", "unpause", "rename", "port", "top", "stats", "diff", "cp", "start",
        "attach", "prune",
    ];
    let Some((sub, rest)) = r.args.split_first() else {
        return Err(Error::Usage(format!(
            "container: name a command: run, create, {}",
            CTL.join(", ")
        )));
    };
    let rest = Rest {
        args: rest.to_vec(),
    };
    match sub.to_str() {
        Some("run") => Ok(vec![call("container-run", &[], &rest)]),
        Some("create") => Ok(vec![call("container-run", &["--create"], &rest)]),
        Some(s) if CTL.contains(&s) => {
            let s = if s == "remove" { "rm" } else { s };
            Ok(vec![call(
                "container-ctl",
                &[CTL.iter().find(|c| **c == s).expect("listed")],
                &rest,
            )])
        }
        _ => Err(Error::Usage(format!(
            "container {}: not a command slipway has (run, create, {})",
            sub.to_string_lossy(),
            CTL.join(", ")
        ))),
    }
}

/// `push [FLAGS] NAME`: the image goes to the registry its name says.
fn push(r: &Rest) -> Result<Invocation, Error> {
    let name = r
        .args
        .last()
        .filter(|a| !a.to_string_lossy().starts_with('-'))
        .ok_or_else(|| Error::Usage("push: name the image, as NAME[:TAG]".into()))?;
    let mut i = call("image-push", &[], r);
    let mut dest = OsString::from("docker://");
    dest.push(name);
    i.args.push(dest);
    Ok(i)
}

/// `save [-o FILE] IMAGE`: a docker-archive, to FILE or stdout.
fn save(r: &Rest) -> Result<Invocation, Error> {
    let mut out: Option<OsString> = None;
    let mut rest: Vec<OsString> = Vec::new();
    let mut args = r.args.iter();
    while let Some(a) = args.next() {
        let s = a.to_string_lossy();
        if s == "-o" || s == "--output" {
            out = Some(
                args.next()
                    .cloned()
                    .ok_or_else(|| Error::Usage(format!("save: {s} needs a file")))?,
            );
        } else if let Some(f) = s.strip_prefix("--output=") {
            out = Some(f.into());
        } else if let Some(f) = s.strip_prefix("-o").filter(|f| !f.is_empty()) {
            out = Some(f.into());
        } else {
            rest.push(a.clone());
        }
    }
    let images: Vec<&OsString> = rest
        .iter()
        .filter(|a| !a.to_string_lossy().starts_with('-'))
        .collect();
    if images.len() != 1 {
        return Err(Error::Usage(
            "save: name one image (an archive of several is not supported)".into(),
        ));
    }
    let file = match out {
        Some(f) => f,
        None if std::io::IsTerminal::is_terminal(&std::io::stdout()) => {
            return Err(Error::Usage(
                "save: refusing to write an archive to a terminal: use -o FILE or redirect stdout"
                    .into(),
            ))
        }
        None => "-".into(),
    };
    let mut dest = OsString::from("docker-archive:");
    dest.push(file);
    let mut args: Vec<OsString> = vec!["save".into()];
    args.extend(rest);
    args.push(dest);
    Ok(Invocation {
        tool: "image-store",
        args,
    })
}

fn command(tool: &str) -> Result<Command, Error> {
    let path =
        slipway_common::cli::find_tool(tool).ok_or_else(|| Error::Missing { tool: tool.into() })?;
    // The tool names itself in its messages, as the user knows it.
    let mut c = Command::new(path);
    c.arg0(tool);
    Ok(c)
}

/// The calls of `system SUBCOMMAND`.
pub fn system_plan(r: &Rest) -> Result<Vec<Invocation>, Error> {
    let Some((sub, rest)) = r.args.split_first() else {
        return Err(Error::Usage("system: name a command: df or prune".into()));
    };
    let flags: Vec<String> = rest
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let flag = |f: &str| flags.iter().any(|x| x == f);
    match sub.to_str() {
        Some("df") => Ok(vec![call(
            "image-store",
            &["du"],
            &Rest {
                args: rest.to_vec(),
            },
        )]),
        Some("prune") => {
            if let Some(x) = flags
                .iter()
                .find(|x| !matches!(x.as_str(), "-f" | "--force" | "-a" | "--all" | "--volumes"))
            {
                return Err(Error::Usage(format!(
                    "system prune {x}: takes -f, -a and --volumes"
                )));
            }
            let none = Rest { args: vec![] };
            let mut steps = vec![call("container-ctl", &["prune", "-f"], &none)];
            if flag("--volumes") {
                steps.push(call(
                    "container-ctl",
                    &["volume", "prune", "-a", "-f"],
                    &none,
                ));
            }
            // gc removes every image no tag reaches; -a (unused tagged
            // images too) is not something it does.
            if flag("-a") || flag("--all") {
                return Err(Error::Usage(
                    "system prune -a: removing tagged images no container uses is not supported; remove them with rmi".into(),
                ));
            }
            steps.push(call("image-store", &["gc"], &none));
            Ok(steps)
        }
        _ => Err(Error::Usage(format!(
            "system {}: not a command slipway has (df, prune)",
            sub.to_string_lossy()
        ))),
    }
}

/// Runs `system SUBCOMMAND`: each call in turn, stopping at the first that
/// fails (its status is ours).
pub fn system(r: &Rest) -> Result<u8, Error> {
    for step in system_plan(r)? {
        let status = command(step.tool)?
            .args(&step.args)
            .status()
            .map_err(|source| Error::Spawn {
                tool: step.tool.into(),
                source,
            })?;
        if !status.success() {
            return Ok(status.code().map_or(1, |c| c.clamp(1, 255) as u8));
        }
    }
    Ok(0)
}

/// Runs the calls: the last replaces slipway; an earlier one (inspect's
/// container lookup) runs to its end and, when it succeeds, is the answer.
pub fn execute(steps: &[Invocation]) -> Result<(), Error> {
    let Some((last, first)) = steps.split_last() else {
        return Ok(());
    };
    for step in first {
        let out = command(step.tool)?
            .args(&step.args)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .map_err(|source| Error::Spawn {
                tool: step.tool.into(),
                source,
            })?;
        if out.status.success() {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(&out.stdout).and_then(|()| stdout.flush());
            return Ok(());
        }
    }
    let e = command(last.tool)?.args(&last.args).exec();
    Err(Error::Spawn {
        tool: last.tool.into(),
        source: e,
    })
}

fn version_of(tool: &str) -> Option<String> {
    let out = command(tool).ok()?.arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    Some(text.lines().next()?.trim().to_string())
}

pub fn version() -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    let mut lines = vec![format!("slipway {}", env!("CARGO_PKG_VERSION"))];
    for t in TOOLS {
        lines.push(version_of(t).unwrap_or_else(|| format!("{t}: not found")));
    }
    for l in lines {
        let _ = writeln!(out, "{l}");
    }
    Ok(())
}

pub fn info() -> Result<(), Error> {
    let store = std::env::var_os("SLIPWAY_STORE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(slipway_common::cli::default_store_path);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "Store: {}", store.display());
    let _ = writeln!(
        out,
        "Rootless: {}",
        if slipway_common::userns::rootless() {
            "yes"
        } else {
            "no"
        }
    );
    let _ = writeln!(out, "Tools:");
    for t in TOOLS {
        let at = slipway_common::cli::find_tool(t)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "not found".into());
        let _ = writeln!(out, " {t}: {at}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rest(args: &[&str]) -> Rest {
        Rest {
            args: args.iter().map(OsString::from).collect(),
        }
    }

    fn args(i: &Invocation) -> Vec<&str> {
        i.args.iter().map(|a| a.to_str().unwrap()).collect()
    }

    #[test]
    fn push_sends_the_image_to_the_registry_its_name_says() {
        let i = push(&rest(&["--tls-verify=false", "reg:5000/app:1"])).unwrap();
        assert_eq!(i.tool, "image-push");
        assert_eq!(
            args(&i),
            [
                "--tls-verify=false",
                "reg:5000/app:1",
                "docker://reg:5000/app:1"
            ]
        );
        assert!(push(&rest(&[])).is_err());
    }

    #[test]
    fn save_writes_a_docker_archive_to_the_file_dash_o_names() {
        for form in [
            &["-o", "a.tar", "app"][..],
            &["--output=a.tar", "app"],
            &["-oa.tar", "app"],
        ] {
            let i = save(&rest(form)).unwrap();
            assert_eq!(i.tool, "image-store");
            assert_eq!(args(&i), ["save", "app", "docker-archive:a.tar"]);
        }
        assert!(save(&rest(&["-o", "a.tar", "one", "two"])).is_err());
        assert!(save(&rest(&["-o"])).is_err());
    }

    #[test]
    fn image_subcommands_map_to_the_store_and_prune_never_asks() {
        let p = plan(&Verb::Container(rest(&["ls", "-a"]))).unwrap();
        assert_eq!(p[0].tool, "container-ctl");
        assert_eq!(p[0].args, ["ls", "-a"]);
        let p = plan(&Verb::Container(rest(&["run", "bb"]))).unwrap();
        assert_eq!(
            (p[0].tool, p[0].args.clone()),
            ("container-run", vec!["bb".into()])
        );
        assert!(plan(&Verb::Container(rest(&["frobnicate"]))).is_err());
        let p = plan(&Verb::Cp(rest(&["web:/a", "."]))).unwrap();
        assert_eq!(p[0].args, ["cp", "web:/a", "."]);
        let p = system_plan(&rest(&["prune", "-f", "--volumes"])).unwrap();
        let calls: Vec<(&str, Vec<OsString>)> =
            p.iter().map(|i| (i.tool, i.args.clone())).collect();
        assert_eq!(
            calls,
            [
                ("container-ctl", vec!["prune".into(), "-f".into()]),
                (
                    "container-ctl",
                    vec!["volume".into(), "prune".into(), "-a".into(), "-f".into()]
                ),
                ("image-store", vec!["gc".into()]),
            ]
        );
        assert_eq!(system_plan(&rest(&["df"])).unwrap()[0].args, ["du"]);
        assert!(system_plan(&rest(&["prune", "-a"])).is_err());
        assert!(system_plan(&rest(&["frobnicate"])).is_err());
        let p = plan(&Verb::Image(rest(&["prune", "-f"]))).unwrap();
        assert_eq!(p[0].tool, "image-store");
        assert_eq!(args(&p[0]), ["gc"]);
        let p = plan(&Verb::Image(rest(&["ls", "-q"]))).unwrap();
        assert_eq!(args(&p[0]), ["ls", "-q"]);
        assert!(plan(&Verb::Image(rest(&["frobnicate"]))).is_err());
        let p = plan(&Verb::Manifest(rest(&["create", "app", "a", "b"]))).unwrap();
        assert_eq!(p[0].tool, "image-store");
        assert_eq!(p[0].args, ["manifest", "create", "app", "a", "b"]);
        let p = plan(&Verb::Manifest(rest(&["push", "app", "reg.example/app:1"]))).unwrap();
        assert_eq!(p[0].tool, "image-push");
        assert_eq!(p[0].args, ["app", "docker://reg.example/app:1"]);
        let p = plan(&Verb::Manifest(rest(&["push", "reg.example/app:1"]))).unwrap();
        assert_eq!(
            p[0].args,
            ["reg.example/app:1", "docker://reg.example/app:1"]
        );
        assert!(plan(&Verb::Manifest(rest(&["annotate"]))).is_err());
        assert!(plan(&Verb::Image(rest(&[]))).is_err());
    }

    #[test]
    fn inspect_asks_for_a_container_first_then_an_image() {
        let p = plan(&Verb::Inspect(rest(&["web"]))).unwrap();
        let tools: Vec<_> = p.iter().map(|i| (i.tool, args(i))).collect();
        assert_eq!(
            tools,
            [
                ("container-ctl", vec!["inspect", "web"]),
                ("image-store", vec!["inspect", "web"])
            ]
        );
    }

    #[test]
    fn the_verbs_arguments_pass_through_untouched() {
        let p = plan(&Verb::Run(rest(&[
            "--rm", "-e", "A=1", "app", "sh", "-c", "echo $A",
        ])))
        .unwrap();
        assert_eq!(p[0].tool, "container-run");
        assert_eq!(
            args(&p[0]),
            ["--rm", "-e", "A=1", "app", "sh", "-c", "echo $A"]
        );
    }
}
