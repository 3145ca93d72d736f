//! What the build shows on stderr while it runs, in BuildKit's styles:
//! plain (a line per event, `#N [stage i/n] INSTRUCTION`, `#N CACHED`,
//! `#N DONE 0.3s`, and the RUN output as it comes), tty (the steps under
//! way redrawn in place with their time and the last lines of their
//! output, each finished step left as one line), or quiet.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Plain,
    Tty,
    Quiet,
}

/// How a step ended.
pub enum End {
    Cached,
    Done(f64),
    /// A step that takes no time worth showing (FROM, ENV, LABEL...):
    /// nothing in plain style, its line in tty style.
    Quiet,
    Failed,
}

/// Lines of output a running step shows in tty mode.
const TAIL: usize = 6;

struct Active {
    header: String,
    started: Instant,
    tail: VecDeque<String>,
}

#[derive(Default)]
struct Screen {
    active: BTreeMap<usize, Active>,
    /// Lines of the live block now on the terminal, to be redrawn.
    drawn: usize,
}

pub struct Progress {
    style: Style,
    screen: Mutex<Screen>,
    ticking: AtomicBool,
}

fn width() -> usize {
    // SAFETY: winsize is plain data; the ioctl fills it in or fails.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: a valid descriptor and out pointer.
    let ok = unsafe { libc::ioctl(2, libc::TIOCGWINSZ, &mut ws) } == 0;
    if ok && ws.ws_col > 20 {
        ws.ws_col as usize
    } else {
        100
    }
}

fn cut(s: &str, n: usize) -> String {
    let mut out: String = s.chars().filter(|c| !c.is_control()).take(n).collect();
    if s.chars().count() > n {
        out.pop();
        out.push('…');
    }
    out
}

impl Progress {
    pub fn new(style: Style) -> Arc<Progress> {
        let p = Arc::new(Progress {
            style,
            screen: Mutex::new(Screen::default()),
            ticking: AtomicBool::new(style == Style::Tty),
        });
        if style == Style::Tty {
            // The times of the steps under way move on between events.
            let weak = Arc::downgrade(&p);
            std::thread::spawn(move || loop {
                std::thread::sleep(Duration::from_millis(250));
                match weak.upgrade() {
                    Some(p) if p.ticking.load(Ordering::SeqCst) => p.redraw(&[]),
                    _ => return,
                }
            });
        }
        p
    }

    pub fn style(&self) -> Style {
        self.style
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Screen> {
        self.screen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Prints `lines` above the live block and draws the block again.
    fn redraw(&self, lines: &[String]) {
        let mut sc = self.lock();
        let w = width();
        let mut out = String::new();
        if sc.drawn > 0 {
            out.push_str(&format!("\x1b[{}A\r\x1b[J", sc.drawn));
        }
        for l in lines {
            out.push_str(l);
            out.push('\n');
        }
        let mut drawn = 0;
        for a in sc.active.values() {
            let secs = format!(" {:.1}s", a.started.elapsed().as_secs_f64());
            out.push_str(&format!(
                "\x1b[1m=> {}\x1b[0m{secs}\n",
                cut(&a.header, w.saturating_sub(secs.len() + 3))
            ));
            drawn += 1;
            for t in &a.tail {
                out.push_str(&format!("\x1b[2m   {}\x1b[0m\n", cut(t, w - 3)));
                drawn += 1;
            }
        }
        sc.drawn = drawn;
        let mut e = std::io::stderr().lock();
        let _ = e.write_all(out.as_bytes());
        let _ = e.flush();
    }

    /// Step `num` starts: `[stage i/n] INSTRUCTION`.
    pub fn begin(&self, num: usize, header: &str) {
        match self.style {
            Style::Plain => eprintln!("#{num} {header}"),
            Style::Tty => {
                self.lock().active.insert(
                    num,
                    Active {
                        header: header.to_string(),
                        started: Instant::now(),
                        tail: VecDeque::new(),
                    },
                );
                self.redraw(&[]);
            }
            Style::Quiet => {}
        }
    }

    /// Step `num` ended; a failed one's output tail stays on screen.
    pub fn end(&self, num: usize, how: End) {
        match self.style {
            Style::Plain => match how {
                End::Cached => eprintln!("#{num} CACHED"),
                End::Done(secs) => eprintln!("#{num} DONE {secs:.1}s"),
                End::Quiet | End::Failed => {}
            },
            Style::Tty => {
                let Some(a) = self.lock().active.remove(&num) else {
                    return;
                };
                let line = match how {
                    End::Cached => format!("=> CACHED {}", a.header),
                    End::Done(secs) => format!("=> {} {secs:.1}s", a.header),
                    End::Quiet => format!("=> {}", a.header),
                    End::Failed => format!("=> ERROR {}", a.header),
                };
                let mut lines = vec![cut(&line, width())];
                if matches!(how, End::Failed) {
                    lines.extend(a.tail.iter().map(|t| format!("   {t}")));
                }
                self.redraw(&lines);
            }
            Style::Quiet => {}
        }
    }

    /// A line of its own for step `num` (pulling, pushing, exporting).
    pub fn note(&self, num: usize, text: &str) {
        match self.style {
            Style::Plain => eprintln!("#{num} {text}"),
            Style::Tty => self.redraw(&[format!("=> {text}")]),
            Style::Quiet => {}
        }
    }

    /// A line of a RUN's output.
    pub fn output(&self, num: usize, line: &str) {
        match self.style {
            Style::Plain => eprintln!("{line}"),
            Style::Tty => {
                {
                    let mut sc = self.lock();
                    let Some(a) = sc.active.get_mut(&num) else {
                        drop(sc);
                        return self.redraw(&[line.to_string()]);
                    };
                    a.tail.push_back(line.to_string());
                    if a.tail.len() > TAIL {
                        a.tail.pop_front();
                    }
                }
                self.redraw(&[]);
            }
            Style::Quiet => {}
        }
    }

    /// A warning: shown in every style but quiet.
    pub fn warn(&self, line: &str) {
        match self.style {
            Style::Plain => eprintln!("{line}"),
            Style::Tty => self.redraw(&[line.to_string()]),
            Style::Quiet => {}
        }
    }

    /// Clears the live block before the last words are printed.
    pub fn finish(&self) {
        self.ticking.store(false, Ordering::SeqCst);
        if self.style == Style::Tty {
            self.lock().active.clear();
            self.redraw(&[]);
        }
    }
}
