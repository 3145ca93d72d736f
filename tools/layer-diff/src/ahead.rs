//! Reading OLD's directories on a second thread while the diff reads
//! NEW's. The walk costs a few system calls per entry and per side, and
//! little else: two sides, two cores, about half the time.
//!
//! The reader walks OLD by itself, depth first in byte order, as the diff
//! does, and queues each directory it has read. The diff takes them in that
//! order, dropping those it does not walk (what NEW deleted or replaced);
//! it marks those as soon as it sees them, so that the reader does not
//! read their insides. The reader stops reading ahead at `MAX_READY_*`, so
//! memory stays bounded whatever the tree.

use crate::walk::Listing;
use slipway_common::dirfd::Dir;
use slipway_common::fsmeta::Kind;
use std::collections::VecDeque;
use std::ffi::CString;
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// Each holds a descriptor open: well under the usual limit of 1024.
const MAX_READY_DIRS: usize = 128;
const MAX_READY_ENTRIES: usize = 1 << 16;

/// One of OLD's directories, to tell the diff's from the reader's and to
/// mark as not walked.
pub struct Mark {
    skip: AtomicBool,
    parent: Option<Arc<Mark>>,
}

impl Mark {
    fn new(parent: Option<Arc<Mark>>) -> Arc<Mark> {
        Arc::new(Mark {
            skip: AtomicBool::new(false),
            parent,
        })
    }

    fn skipped(&self) -> bool {
        let mut m = Some(self);
        while let Some(x) = m {
            if x.skip.load(Ordering::Relaxed) {
                return true;
            }
            m = x.parent.as_deref();
        }
        false
    }
}

/// A directory of OLD as read, and the marks of its subdirectories.
pub struct Old {
    pub listing: Listing,
    /// The mark of each entry that is a directory.
    pub children: Vec<Option<Arc<Mark>>>,
}

impl Old {
    /// Entry `i` is a directory the diff will not walk.
    pub fn skip(&self, i: usize) {
        if let Some(Some(m)) = self.children.get(i) {
            m.skip.store(true, Ordering::Relaxed);
        }
    }
}

/// A directory to read: `name` in `parent`, which is at `parent_path`
/// (shared: a directory of many subdirectories has as many jobs).
struct Job {
    parent: Arc<Dir>,
    parent_path: Arc<Path>,
    name: CString,
    mark: Arc<Mark>,
}

impl Job {
    fn path(&self) -> PathBuf {
        match self.name.to_bytes() {
            b"." => self.parent_path.to_path_buf(),
            n => self.parent_path.join(OsStr::from_bytes(n)),
        }
    }
}

/// The walk of OLD, one directory a step.
struct Walker {
    stack: Vec<Job>,
}

impl Walker {
    /// Reads the next directory not marked skipped, if there is one left.
    fn step(&mut self) -> Option<(Arc<Mark>, io::Result<Old>)> {
        let job = loop {
            let job = self.stack.pop()?;
            if !job.mark.skipped() {
                break job;
            }
        };
        let path = job.path();
        let read = match job.parent.open_dir(&job.name) {
            Ok(dir) => Listing::read(dir, path, true),
            Err(e) => Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
        };
        let old = read.map(|listing| {
            let children: Vec<Option<Arc<Mark>>> = (0..listing.names.len())
                .map(|i| {
                    (listing.meta(i).map(|m| &m.kind) == Some(&Kind::Dir))
                        .then(|| Mark::new(Some(Arc::clone(&job.mark))))
                })
                .collect();
            let parent_path: Arc<Path> = Arc::from(listing.path.as_path());
            // Reversed, so that the first is read next.
            for (i, m) in children.iter().enumerate().rev() {
                if let Some(m) = m {
                    self.stack.push(Job {
                        parent: Arc::clone(&listing.dir),
                        parent_path: Arc::clone(&parent_path),
                        name: listing.names.get(i).to_owned(),
                        mark: Arc::clone(m),
                    });
                }
            }
            Old { listing, children }
        });
        Some((job.mark, old))
    }
}

fn entries(r: &io::Result<Old>) -> usize {
    r.as_ref().map_or(0, |o| o.listing.names.len())
}

#[derive(Default)]
struct Queue {
    ready: VecDeque<(Arc<Mark>, io::Result<Old>)>,
    entries: usize,
    /// The reader has read all there is (or has ended).
    finished: bool,
    closed: bool,
    diff_waits: bool,
    reader_waits: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    /// The reader waits here for room.
    room: Condvar,
    /// The diff waits here for the next directory.
    ready: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Nothing here panics while it holds the lock; a poisoned queue
        // is still consistent.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// OLD's reader: on its own thread, or where there is one core (or no
/// thread to be had) the diff reading each directory when it gets there.
pub struct Ahead {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// Without a thread, the walk the diff steps itself.
    inline: Option<Walker>,
}

impl Ahead {
    /// Starts reading `old` (at `path`), whose mark is returned for `take`.
    pub fn new(old: Dir, path: &Path) -> (Ahead, Arc<Mark>) {
        let mark = Mark::new(None);
        let old = Arc::new(old);
        let walker = || Walker {
            stack: vec![Job {
                parent: Arc::clone(&old),
                name: c".".to_owned(),
                parent_path: Arc::from(path),
                mark: Arc::clone(&mark),
            }],
        };
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            room: Condvar::new(),
            ready: Condvar::new(),
        });
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let thread = if cores > 1 {
            let (s, w) = (Arc::clone(&shared), walker());
            std::thread::Builder::new()
                .name("layer-diff-old".into())
                .spawn(move || reader(&s, w))
                .ok()
        } else {
            None
        };
        let inline = thread.is_none().then(walker);
        let ahead = Ahead {
            shared,
            thread,
            inline,
        };
        (ahead, mark)
    }

    /// The directory marked `want`, once read. Those before it in the
    /// walk are ones the diff does not walk, and are dropped.
    pub fn take(&mut self, want: &Arc<Mark>) -> io::Result<Old> {
        if let Some(w) = self.inline.as_mut() {
            while let Some((mark, old)) = w.step() {
                if Arc::ptr_eq(&mark, want) {
                    return old;
                }
            }
            return Err(io::Error::other("lost a directory of OLD"));
        }
        let mut q = self.shared.lock();
        loop {
            if let Some((mark, old)) = q.ready.pop_front() {
                q.entries -= entries(&old);
                if q.reader_waits {
                    self.shared.room.notify_one();
                }
                if Arc::ptr_eq(&mark, want) {
                    return old;
                }
                // Closing its descriptors is no business of the lock's.
                drop(q);
                drop(old);
                q = self.shared.lock();
                continue;
            }
            if q.finished {
                return Err(io::Error::other("lost a directory of OLD"));
            }
            q.diff_waits = true;
            q = self.shared.ready.wait(q).unwrap_or_else(|e| e.into_inner());
            q.diff_waits = false;
        }
    }
}

impl Drop for Ahead {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.room.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Marks the reader finished however it ends, so the diff never waits on
/// it in vain.
struct Finished<'a>(&'a Shared);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        self.0.lock().finished = true;
        self.0.ready.notify_one();
    }
}

fn reader(shared: &Shared, mut walker: Walker) {
    let _finished = Finished(shared);
    loop {
        {
            let mut q = shared.lock();
            while !q.closed && (q.ready.len() >= MAX_READY_DIRS || q.entries >= MAX_READY_ENTRIES) {
                q.reader_waits = true;
                q = shared.room.wait(q).unwrap_or_else(|e| e.into_inner());
                q.reader_waits = false;
            }
            if q.closed {
                return;
            }
        }
        let Some((mark, old)) = walker.step() else {
            return;
        };
        let mut q = shared.lock();
        q.entries += entries(&old);
        q.ready.push_back((mark, old));
        if q.diff_waits {
            shared.ready.notify_one();
        }
    }
}
