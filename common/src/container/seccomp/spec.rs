//! A runtime-spec `linux.seccomp` profile compiled into classic BPF, as
//! runc has libseccomp compile it: the default action, then per syscall
//! its rules in order, each with its argument conditions (all must hold),
//! the first that matches deciding.
//!
//! As with Docker's profile here, only the native architecture gets rules:
//! a process entering through another one (the x86 and x32 entries a
//! profile lists beside x86_64) is killed rather than filtered by tables
//! this module does not carry. Syscall names this architecture does not
//! know are skipped, as runc skips what libseccomp cannot resolve.

use super::{check_arch, errno, number, Asm, Filter, Label, Next, To, ARG0, HIGH, JEQ, JGE, LOW};
use serde::Deserialize;
use std::collections::BTreeMap;

const JGT: u16 = (libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K) as u16;
const AND: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;

/// `linux.seccomp` as the runtime spec writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub default_action: String,
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    #[serde(default)]
    pub architectures: Vec<String>,
    #[serde(default)]
    pub flags: Vec<String>,
    #[serde(default)]
    pub listener_path: Option<String>,
    #[serde(default)]
    pub syscalls: Vec<Syscalls>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Syscalls {
    pub names: Vec<String>,
    pub action: String,
    #[serde(default)]
    pub errno_ret: Option<u32>,
    #[serde(default)]
    pub args: Vec<Arg>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    pub index: u32,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Ne,
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
    MaskedEq,
}

#[derive(Debug, Clone, Copy)]
struct Cond {
    index: u32,
    value: u64,
    value_two: u64,
    op: Op,
}

/// One rule of a syscall: when every condition holds, `action`.
#[derive(Debug, Clone)]
struct Case {
    conds: Vec<Cond>,
    action: u32,
}

/// An SCMP_ACT_* as the value a filter returns.
fn action(name: &str, errno_ret: Option<u32>) -> Result<u32, String> {
    let data = |e: u32| e & libc::SECCOMP_RET_DATA;
    Ok(match name {
        "SCMP_ACT_ALLOW" => libc::SECCOMP_RET_ALLOW,
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => libc::SECCOMP_RET_KILL_THREAD,
        "SCMP_ACT_KILL_PROCESS" => libc::SECCOMP_RET_KILL_PROCESS,
        "SCMP_ACT_TRAP" => libc::SECCOMP_RET_TRAP,
        "SCMP_ACT_ERRNO" => errno(errno_ret.unwrap_or(libc::EPERM as u32) as i32),
        "SCMP_ACT_TRACE" => libc::SECCOMP_RET_TRACE | data(errno_ret.unwrap_or(libc::EPERM as u32)),
        "SCMP_ACT_LOG" => libc::SECCOMP_RET_LOG,
        "SCMP_ACT_NOTIFY" => {
            return Err("the seccomp action SCMP_ACT_NOTIFY is not supported".into())
        }
        other => return Err(format!("unknown seccomp action {other:?}")),
    })
}

fn op(name: &str) -> Result<Op, String> {
    Ok(match name {
        "SCMP_CMP_NE" => Op::Ne,
        "SCMP_CMP_LT" => Op::Lt,
        "SCMP_CMP_LE" => Op::Le,
        "SCMP_CMP_EQ" => Op::Eq,
        "SCMP_CMP_GE" => Op::Ge,
        "SCMP_CMP_GT" => Op::Gt,
        "SCMP_CMP_MASKED_EQ" => Op::MaskedEq,
        other => return Err(format!("unknown seccomp operator {other:?}")),
    })
}

/// The flags of seccomp(2) a profile may ask for.
fn flag(name: &str) -> Result<libc::c_uint, String> {
    Ok(match name {
        "SECCOMP_FILTER_FLAG_TSYNC" => 1,
        "SECCOMP_FILTER_FLAG_LOG" => 2,
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => 4,
        other => return Err(format!("the seccomp flag {other} is not supported")),
    })
}

impl Filter {
    /// The filter a runtime-spec profile describes; what it cannot honour
    /// is an error naming it.
    pub fn from_spec(p: &Profile) -> Result<Filter, String> {
        if p.listener_path.as_deref().is_some_and(|l| !l.is_empty()) {
            return Err("a seccomp listenerPath is not supported".into());
        }
        let default = action(&p.default_action, p.default_errno_ret)?;
        let mut flags = 0;
        for f in &p.flags {
            flags |= flag(f)?;
        }
        let mut by_nr: BTreeMap<u32, Vec<Case>> = BTreeMap::new();
        for s in &p.syscalls {
            let act = action(&s.action, s.errno_ret)?;
            let mut conds = Vec::new();
            for a in &s.args {
                if a.index > 5 {
                    return Err(format!("seccomp argument index {} (0 to 5)", a.index));
                }
                conds.push(Cond {
                    index: a.index,
                    value: a.value,
                    value_two: a.value_two,
                    op: op(&a.op)?,
                });
            }
            for name in &s.names {
                if let Some(nr) = number(name) {
                    by_nr.entry(nr).or_default().push(Case {
                        conds: conds.clone(),
                        action: act,
                    });
                }
            }
        }
        let mut asm = Asm::default();
        check_arch(&mut asm);
        for (nr, cases) in &by_nr {
            let next = asm.label();
            asm.jump(JEQ, *nr, Next, To(next));
            for c in cases {
                let fail = asm.label();
                for cond in &c.conds {
                    emit_cond(&mut asm, cond, fail);
                }
                asm.ret(c.action);
                asm.bind(fail);
            }
            asm.ret(default);
            // Reached only by the jump above: the number is still loaded.
            asm.bind(next);
        }
        asm.ret(default);
        let insns = asm
            .try_finish()
            .map_err(|e| format!("the seccomp profile is too large to compile: {e}"))?;
        Ok(Filter { insns, flags })
    }
}

/// Jumps to `fail` unless the 64-bit argument satisfies `c`; falls
/// through when it does.
fn emit_cond(asm: &mut Asm, c: &Cond, fail: Label) {
    let hi_off = ARG0 + 8 * c.index + HIGH;
    let lo_off = ARG0 + 8 * c.index + LOW;
    let (vhi, vlo) = ((c.value >> 32) as u32, c.value as u32);
    let pass = asm.label();
    match c.op {
        Op::Eq => {
            asm.load(hi_off);
            asm.jump(JEQ, vhi, Next, To(fail));
            asm.load(lo_off);
            asm.jump(JEQ, vlo, Next, To(fail));
        }
        Op::Ne => {
            asm.load(hi_off);
            asm.jump(JEQ, vhi, Next, To(pass));
            asm.load(lo_off);
            asm.jump(JEQ, vlo, To(fail), Next);
        }
        Op::MaskedEq => {
            let (mhi, mlo) = ((c.value >> 32) as u32, c.value as u32);
            let (whi, wlo) = ((c.value_two >> 32) as u32, c.value_two as u32);
            asm.load(hi_off);
            asm.plain(AND, mhi);
            asm.jump(JEQ, whi, Next, To(fail));
            asm.load(lo_off);
            asm.plain(AND, mlo);
            asm.jump(JEQ, wlo, Next, To(fail));
        }
        // Unsigned 64-bit orderings: the high words decide unless equal.
        Op::Gt | Op::Ge => {
            asm.load(hi_off);
            asm.jump(JGT, vhi, To(pass), Next);
            asm.jump(JEQ, vhi, Next, To(fail));
            asm.load(lo_off);
            let code = if c.op == Op::Gt { JGT } else { JGE };
            asm.jump(code, vlo, Next, To(fail));
        }
        // x < v is !(x >= v); x <= v is !(x > v).
        Op::Lt | Op::Le => {
            asm.load(hi_off);
            asm.jump(JGT, vhi, To(fail), Next);
            asm.jump(JEQ, vhi, Next, To(pass));
            asm.load(lo_off);
            let code = if c.op == Op::Lt { JGE } else { JGT };
            asm.jump(code, vlo, To(fail), Next);
        }
    }
    asm.bind(pass);
}
