//! What the driver does with a step once it is lowered to actions: a
//! running build runs them (tools.rs's `Runner`), `--print-script` writes
//! them as shell lines. Steps are lowered alike for both; what only a
//! running build can do (read a digest back, download a URL, stage a
//! file) asks `running()` for the runner and its temp dir.

use crate::progress::End;
use crate::tools::{render, Action, Failed, Runner};

pub trait Executor<'a> {
    /// Runs, or writes down, the actions in order.
    fn act(&mut self, actions: &[Action]) -> Result<(), Failed>;
    /// A line about step `num` that is not a step of its own (pulling).
    fn note(&mut self, num: usize, text: &str);
    /// Step `num` begins: `[stage i/n] INSTRUCTION`.
    fn begin(&mut self, num: usize, header: &str);
    fn end(&self, num: usize, how: End);
    /// The runner of a running build; None while a script is printed.
    fn running(&self) -> Option<&Runner<'a>>;
    /// The lines a printed script has so far, taken.
    fn take_script(&mut self) -> Vec<String>;
    /// Whether an action was refused because this is a dry run
    /// (--explain): what a step would change was about to run.
    fn refused(&self) -> bool {
        false
    }
}

/// `--explain`: a running build that changes nothing. Reads of the store
/// happen outside the executor; every tool call but `image-store
/// inspect` is refused, and the step that asked would have run.
pub struct Dry<'a> {
    pub inner: Runner<'a>,
    refused: std::cell::Cell<bool>,
}

impl<'a> Dry<'a> {
    pub fn new(inner: Runner<'a>) -> Dry<'a> {
        Dry {
            inner,
            refused: std::cell::Cell::new(false),
        }
    }
}

impl<'a> Executor<'a> for Dry<'a> {
    fn act(&mut self, actions: &[Action]) -> Result<(), Failed> {
        for a in actions {
            let read_only = match a {
                Action::Call(c) => {
                    c.tool == "image-store"
                        && c.pipe_to.is_none()
                        && c.args.first().is_some_and(
                            |w| matches!(w, crate::tools::Word::Lit(s) if s == "inspect"),
                        )
                }
                _ => false,
            };
            if !read_only {
                self.refused.set(true);
                return Err(Failed {
                    tool: "image-build",
                    status: None,
                    message: "not run: --explain changes nothing".into(),
                });
            }
            self.inner.run(a)?;
        }
        Ok(())
    }
    fn note(&mut self, _num: usize, _text: &str) {}
    fn begin(&mut self, _num: usize, _header: &str) {
        self.refused.set(false);
    }
    fn end(&self, _num: usize, _how: End) {}
    fn running(&self) -> Option<&Runner<'a>> {
        Some(&self.inner)
    }
    fn take_script(&mut self) -> Vec<String> {
        Vec::new()
    }
    fn refused(&self) -> bool {
        self.refused.get()
    }
}

impl<'a> Executor<'a> for Runner<'a> {
    fn act(&mut self, actions: &[Action]) -> Result<(), Failed> {
        actions.iter().try_for_each(|a| self.run(a))
    }
    fn note(&mut self, num: usize, text: &str) {
        self.progress.note(num, text);
    }
    fn begin(&mut self, num: usize, header: &str) {
        self.step.set(num);
        self.progress.begin(num, header);
    }
    fn end(&self, num: usize, how: End) {
        self.progress.end(num, how);
    }
    fn running(&self) -> Option<&Runner<'a>> {
        Some(self)
    }
    fn take_script(&mut self) -> Vec<String> {
        Vec::new()
    }
}

/// `--print-script`: each step's actions as shell lines, its header and
/// notes as comments.
#[derive(Default)]
pub struct Script {
    lines: Vec<String>,
}

impl<'a> Executor<'a> for Script {
    fn act(&mut self, actions: &[Action]) -> Result<(), Failed> {
        self.lines.extend(actions.iter().map(render));
        Ok(())
    }
    fn note(&mut self, num: usize, text: &str) {
        self.lines.push(format!("# #{num} {text}"));
    }
    fn begin(&mut self, num: usize, header: &str) {
        self.lines.push(format!("# #{num} {header}"));
    }
    fn end(&self, _num: usize, _how: End) {}
    fn running(&self) -> Option<&Runner<'a>> {
        None
    }
    fn take_script(&mut self) -> Vec<String> {
        std::mem::take(&mut self.lines)
    }
}
