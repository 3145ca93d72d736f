//! Progress of blob transfers on stderr: a bar per blob on a terminal,
//! one plain line per finished blob otherwise, nothing when quiet.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Quiet,
    Lines,
    Bars,
}

struct Bar {
    label: String,
    done: u64,
    total: u64,
    status: String,
}

struct State {
    bars: Vec<Bar>,
    drawn: usize,
    last: Option<Instant>,
}

/// Shared by the threads that move blobs; every call is cheap when quiet.
pub struct Progress {
    tool: &'static str,
    mode: Mode,
    state: Mutex<State>,
}

/// Redraws at most this often: a terminal is slower than a loopback socket.
const REDRAW: Duration = Duration::from_millis(100);

impl Progress {
    /// Bars when stderr is a terminal, lines otherwise, nothing if `quiet`.
    pub fn new(tool: &'static str, quiet: bool) -> Progress {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bars
        } else {
            Mode::Lines
        };
        Progress {
            tool,
            mode,
            state: Mutex::new(State {
                bars: Vec::new(),
                drawn: 0,
                last: None,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new bar for `label` (a blob) of `total` bytes; returns its handle.
    pub fn start(&self, label: &str, total: u64) -> usize {
        let mut s = self.state();
        s.bars.push(Bar {
            label: label.to_string(),
            done: 0,
            total,
            status: "waiting".into(),
        });
        s.bars.len() - 1
    }

    /// `done` bytes of bar `id` have moved.
    pub fn update(&self, id: usize, done: u64) {
        if self.mode != Mode::Bars {
            return;
        }
        let mut s = self.state();
        if let Some(b) = s.bars.get_mut(id) {
            b.done = done;
            b.status.clear();
        }
        if s.last.is_none_or(|t| t.elapsed() >= REDRAW) {
            self.draw(&mut s);
        }
    }

    /// Bar `id` is over: `message` says how ("pushed (12 MB)").
    pub fn finish(&self, id: usize, message: &str) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Lines => {
                let s = self.state();
                let label = s.bars.get(id).map_or("", |b| b.label.as_str());
                eprintln!("{}: {label}: {message}", self.tool);
            }
            Mode::Bars => {
                let mut s = self.state();
                if let Some(b) = s.bars.get_mut(id) {
                    b.done = b.total;
                    b.status = message.to_string();
                }
                self.draw(&mut s);
            }
        }
    }

    /// A line of its own (a retry, a resume), above the bars.
    pub fn note(&self, message: &str) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Lines => eprintln!("{}: {message}", self.tool),
            Mode::Bars => {
                let mut s = self.state();
                let mut err = std::io::stderr().lock();
                // Up over the bars, the note, then the bars again below it.
                let _ = write!(err, "{}\r\x1b[J{}: {message}\n", up(s.drawn), self.tool);
                s.drawn = 0;
                drop(err);
                self.draw(&mut s);
            }
        }
    }

    fn draw(&self, s: &mut State) {
        let mut out = String::new();
        out.push_str(&up(s.drawn));
        for b in &s.bars {
            out.push_str("\r\x1b[2K");
            out.push_str(&render(b));
            out.push('\n');
        }
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(out.as_bytes());
        let _ = err.flush();
        s.drawn = s.bars.len();
        s.last = Some(Instant::now());
    }
}

fn up(lines: usize) -> String {
    if lines == 0 {
        String::new()
    } else {
        format!("\x1b[{lines}A")
    }
}

fn render(b: &Bar) -> String {
    const WIDTH: u64 = 30;
    let filled = (u128::from(b.done.min(b.total)) * u128::from(WIDTH))
        .checked_div(u128::from(b.total))
        .map_or(WIDTH, |f| f as u64);
    let bar: String = (0..WIDTH)
        .map(|i| if i < filled { '=' } else { ' ' })
        .collect();
    let status = if b.status.is_empty() {
        format!(
            "{} / {}",
            crate::time::human_size(b.done),
            crate::time::human_size(b.total)
        )
    } else {
        b.status.clone()
    };
    format!("{} [{bar}] {status}", short(&b.label))
}

/// `sha256:0123456789ab` — enough of a digest to tell blobs apart.
fn short(label: &str) -> &str {
    let cut = label.find(':').map_or(0, |i| i + 1) + 12;
    label.get(..cut).unwrap_or(label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_shows_its_share_and_then_its_outcome() {
        let mut b = Bar {
            label: "sha256:0123456789abcdef".into(),
            done: 50,
            total: 100,
            status: String::new(),
        };
        let line = render(&b);
        assert!(line.starts_with("sha256:0123456789ab ["), "{line}");
        assert_eq!(line.matches('=').count(), 15, "{line}");
        b.status = "pushed".into();
        assert!(render(&b).ends_with("] pushed"));
        b.total = 0;
        assert_eq!(render(&b).matches('=').count(), 30);
    }
}
