//! `--ssh` and `RUN --mount=type=ssh`: an SSH agent reached from one RUN
//! only. A `--ssh ID` names an agent's socket (`default`: $SSH_AUTH_SOCK)
//! or key files, which an ssh-agent started for the build serves. Each
//! mount gets a socket of its own in the build's private temp dir, owned
//! and moded as the mount says, that forwards to the agent: the agent's
//! own socket never enters the container, and nothing of it a layer or
//! the history.

use super::run_mounts::{make_private_dir, volume, Given, Planned};
use super::{lock, Driver};
use crate::mounts::Mount;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Where a `--ssh ID` agent is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SshSource {
    Socket(PathBuf),
    Keys(Vec<PathBuf>),
}

/// buildx's `--ssh default|ID[=SOCKET|KEY[,KEY…]]`.
pub fn parse(s: &str) -> Result<(String, SshSource), String> {
    let (id, paths) = match s.split_once('=') {
        Some((id, p)) => (id, Some(p)),
        None => (s, None),
    };
    if id.is_empty() {
        return Err(format!("{s:?}: expected default or ID[=SOCKET|KEY,…]"));
    }
    let source = match paths {
        None => match std::env::var_os("SSH_AUTH_SOCK") {
            Some(p) if !p.is_empty() => SshSource::Socket(p.into()),
            _ => {
                return Err(format!(
                    "--ssh {s}: SSH_AUTH_SOCK is not set: give the agent's socket or key files ({id}=PATH)"
                ))
            }
        },
        Some(p) => {
            let list: Vec<PathBuf> = p.split(',').filter(|x| !x.is_empty()).map(PathBuf::from).collect();
            use std::os::unix::fs::FileTypeExt;
            match list.as_slice() {
                [one] if std::fs::metadata(one).is_ok_and(|m| m.file_type().is_socket()) => {
                    SshSource::Socket(one.clone())
                }
                [] => return Err(format!("--ssh {s}: no socket or key file")),
                keys => {
                    for k in keys {
                        if !k.is_file() {
                            return Err(format!("--ssh {s}: {} is neither a socket nor a key file", k.display()));
                        }
                    }
                    SshSource::Keys(keys.to_vec())
                }
            }
        }
    };
    Ok((id.to_string(), source))
}

/// The ssh-agents a build started for key files: killed with it.
#[derive(Default)]
pub struct Agents {
    children: std::sync::Mutex<Vec<Child>>,
    sockets: std::sync::Mutex<std::collections::HashMap<String, PathBuf>>,
}

impl Drop for Agents {
    fn drop(&mut self) {
        for c in lock(&self.children).iter_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Forwards every connection to `at` to the agent at `upstream`, for as
/// long as the build lasts.
fn proxy(upstream: PathBuf, at: &Path, mode: u32, uid: u32, gid: u32) -> Result<(), String> {
    let io = |e: std::io::Error| format!("{}: {e}", at.display());
    let listener = UnixListener::bind(at).map_err(io)?;
    std::fs::set_permissions(at, std::fs::Permissions::from_mode(mode)).map_err(io)?;
    std::os::unix::fs::chown(at, Some(uid), Some(gid)).map_err(io)?;
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(down) = conn else { continue };
            let Ok(up) = UnixStream::connect(&upstream) else {
                continue;
            };
            let (Ok(down2), Ok(up2)) = (down.try_clone(), up.try_clone()) else {
                continue;
            };
            std::thread::spawn(move || {
                let (mut r, mut w) = (&down, &up);
                let _ = std::io::copy(&mut r, &mut w);
                let _ = up.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let (mut r, mut w) = (&up2, &down2);
                let _ = std::io::copy(&mut r, &mut w);
                let _ = down2.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    Ok(())
}

impl Driver<'_> {
    /// The agent socket of `--ssh ID`, an agent started for key files.
    fn ssh_socket(&self, id: &str) -> Result<Option<PathBuf>, String> {
        let Some((_, source)) = self.opts.ssh.iter().find(|(i, _)| i == id) else {
            return Ok(None);
        };
        let keys = match source {
            SshSource::Socket(p) => return Ok(Some(p.clone())),
            SshSource::Keys(k) => k,
        };
        let agents = &self.shared.ssh;
        if let Some(s) = lock(&agents.sockets).get(id) {
            return Ok(Some(s.clone()));
        }
        let Some(r) = self.exec.running() else {
            return Err("--print-script cannot write RUN --mount=type=ssh yet".into());
        };
        let dir = r.tmp.join("ssh-agents");
        make_private_dir(&dir)?;
        let sock = dir.join(format!("{}.sock", lock(&agents.sockets).len()));
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!("--ssh {id}: start ssh-agent (apt install openssh-client): {e}")
            })?;
        lock(&agents.children).push(child);
        let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !sock.exists() && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let added = Command::new("ssh-add")
            .args(keys)
            .env("SSH_AUTH_SOCK", &sock)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("--ssh {id}: ssh-add: {e}"))?;
        if !added.status.success() {
            let why = String::from_utf8_lossy(&added.stderr);
            return Err(format!(
                "--ssh {id}: ssh-add refused the keys: {}",
                why.lines().next().unwrap_or(
                    "(no reason given; a key with a passphrase needs an agent of yours)"
                )
            ));
        }
        lock(&agents.sockets).insert(id.to_string(), sock.clone());
        Ok(Some(sock))
    }

    /// `RUN --mount=type=ssh`: the agent at its target (the `k`th ssh
    /// mount of the RUN: /run/buildkit/ssh_agent.k by default), and
    /// SSH_AUTH_SOCK naming the first.
    pub(super) fn give_ssh(
        &mut self,
        n: usize,
        k: usize,
        p: &Planned,
        g: &mut Given,
    ) -> Result<(), String> {
        let Mount::Ssh {
            id,
            target,
            required,
            mode,
            uid,
            gid,
        } = &p.mount
        else {
            unreachable!("an ssh mount")
        };
        if self.script() {
            return Err("--print-script cannot write RUN --mount=type=ssh yet".into());
        }
        let Some(upstream) = self.ssh_socket(id)? else {
            if *required {
                return Err(format!(
                    "no SSH agent for id {id:?}: give --ssh {id}=SOCKET|KEY (or --ssh default with SSH_AUTH_SOCK set)"
                ));
            }
            return Ok(());
        };
        let Some(r) = self.exec.running() else {
            unreachable!("checked above")
        };
        let dir = r.tmp.join("ssh");
        make_private_dir(&dir)?;
        let at = dir.join(format!("{n}.sock"));
        let _ = std::fs::remove_file(&at);
        proxy(upstream, &at, *mode, *uid, *gid)?;
        let target = target
            .clone()
            .unwrap_or_else(|| format!("/run/buildkit/ssh_agent.{k}"));
        g.args.extend([
            "-v".into(),
            volume(&at.to_string_lossy(), &target, false)?.into(),
        ]);
        if k == 0 {
            g.args
                .extend(["-e".into(), format!("SSH_AUTH_SOCK={target}").into()]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_flags_name_sockets_or_keys() {
        let d = tempfile::tempdir().unwrap();
        let sock = d.path().join("agent.sock");
        let _l = UnixListener::bind(&sock).unwrap();
        let key = d.path().join("id");
        std::fs::write(&key, "k").unwrap();
        assert_eq!(
            parse(&format!("git={}", sock.display())).unwrap(),
            ("git".into(), SshSource::Socket(sock.clone()))
        );
        assert_eq!(
            parse(&format!("default={}", key.display())).unwrap().1,
            SshSource::Keys(vec![key.clone()])
        );
        assert!(parse("x=/no/such").unwrap_err().contains("neither"));
        assert!(parse("=y").is_err());
    }
}
