//! layer-diff: filesystem changes to OCI layer tars, and layer tars back
//! to files. Like diff and patch, one tool holds both directions.

mod ahead;
mod diff;
mod emit;
mod tree;
mod upper;
mod walk;

use clap::Parser;
pub use diff::Compare;
use emit::Emitter;
use slipway_common::apply::{self, ApplyError};
use slipway_common::compress;
use slipway_common::ignore::{Matcher, PatternError};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

const EXAMPLES: &str = "\
Examples:
  # What a build step changed, as a layer
  layer-diff rootfs.before rootfs.after > step.tar

  # A container's writable overlay layer
  layer-diff --upper /var/lib/slipway/containers/c1/upper | gzip > c1.tar.gz

  # COPY app/ /srv/app, owned by 1000:1000, without the tests
  layer-diff --dir app --to /srv/app --chown 1000:1000 --exclude 'test*' > copy.tar

  # docker diff
  layer-diff --changes --upper upper/ | jq -r 'select(.kind==\"deleted\").path'

  # And back: unpack layers into a root filesystem
  zstd -dc layer.tar.zst | layer-diff --apply rootfs";

/// Turn filesystem changes into an OCI layer tar on stdout, or apply one.
///
/// Exactly one mode: OLD NEW (two trees), --upper (an overlayfs upper
/// dir), --dir (a whole tree), or --apply (a layer on stdin, plain, gzip or
/// zstd). Entries are sorted and carry no atime, ctime or user names, so the
/// same trees always give the same bytes.
#[derive(Parser, Debug)]
#[command(name = "layer-diff", version, after_help = EXAMPLES)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["old", "upper", "dir", "apply"])))]
pub struct Args {
    /// The tree before.
    #[arg(value_name = "OLD", requires = "new")]
    pub old: Option<PathBuf>,
    /// The tree after.
    #[arg(value_name = "NEW")]
    pub new: Option<PathBuf>,

    /// An overlayfs upper directory to turn into a layer.
    #[arg(long, value_name = "DIR")]
    pub upper: Option<PathBuf>,

    /// With --upper: what lies under it (repeatable; best the one merged
    /// root, say from image-store mount), to report a change as modified
    /// rather than added, and to write an opaque directory as BuildKit
    /// does: a plain directory where the lower has none, else whiteouts
    /// of the lower entries it lacks, with no opaque marker.
    #[arg(long, value_name = "DIR", requires = "upper")]
    pub lower: Vec<PathBuf>,

    /// With --upper and --lower: make the upper dir itself say what the
    /// layer says (opaque marks dropped, whiteouts made for what they
    /// hid), so it can be kept as the layer's unpacked copy and stacked
    /// on any parent.
    #[arg(long, requires = "lower")]
    pub fix_upper: bool,

    /// A whole directory (or file) as a layer.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// With --dir: where in the layer the tree goes (default /).
    #[arg(long, value_name = "DEST", requires = "dir", default_value = "/")]
    pub to: String,

    /// With --dir: owner UID:GID (or UID, which is the GID too) for every
    /// entry. With --parents-in, USER[:GROUP] names too, looked up in that
    /// root's /etc/passwd and /etc/group.
    #[arg(long, value_name = "UID:GID", requires = "dir")]
    pub chown: Option<String>,

    /// With --dir: the root filesystem the layer will go on (a mounted
    /// image): the destination's parents it has, and the destination
    /// directory a directory's contents go into, are written as they are
    /// there (mode, owner, mtime), so they keep them, as COPY leaves them;
    /// those it lacks are written 0755, owned as --chown says. Without it
    /// every parent is written, root's and 0755.
    #[arg(long, value_name = "ROOT", requires = "dir")]
    pub parents_in: Option<PathBuf>,

    /// With --parents-in: a destination directory the root already has,
    /// with nothing to put in it, gives a layer with no entries; a missing
    /// one is written with its parents as the root has them, as an
    /// overlay copies them up (how WORKDIR makes its directory only where
    /// it is missing, and leaves its parents to their owners).
    #[arg(long, requires = "parents_in")]
    pub skip_existing: bool,

    /// With --dir: octal mode for every file and directory.
    #[arg(long, value_name = "MODE", requires = "dir")]
    pub chmod: Option<String>,

    /// With --dir: leave out paths matching a .dockerignore pattern (repeatable).
    #[arg(long, value_name = "PATTERN", requires = "dir")]
    pub exclude: Vec<String>,

    /// Read a layer tar on stdin and apply it to DIR (created if missing).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["changes", "upper", "dir", "old"])]
    pub apply: Option<PathBuf>,

    /// With --apply: stdin is an archive, not a layer (what ADD unpacks):
    /// a tar, plain or compressed with gzip, bzip2, xz or zstd, whose
    /// `.wh.` names are ordinary files. Still confined to DIR.
    #[arg(long, requires = "apply")]
    pub archive: bool,

    /// Print JSON lines {"path":…,"kind":"added|modified|deleted"} (as
    /// docker diff reports) instead of a tar.
    #[arg(long)]
    pub changes: bool,

    /// How OLD NEW decide that a file changed (two-tree mode only).
    #[arg(long, value_enum, default_value = "metadata", requires = "old")]
    pub compare: Compare,

    /// Clamp every mtime in the layer written to at most this many seconds
    /// since 1970 (default: $SOURCE_DATE_EPOCH when set). Not used by --apply,
    /// which keeps the layer's own times.
    #[arg(long, value_name = "SECONDS", env = "SOURCE_DATE_EPOCH")]
    pub mtime: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Io(String),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error(transparent)]
    Pattern(#[from] PatternError),
    #[error("{0}")]
    Invalid(String),
}

fn io_at(what: &str) -> impl FnOnce(io::Error) -> Error + '_ {
    move |e| Error::Io(format!("{what}: {e}"))
}

fn parse_chown(s: &str) -> Result<(u64, u64), Error> {
    let bad = || {
        Error::Invalid(format!(
            "--chown {s:?}: expected numeric UID[:GID] (names need --parents-in)"
        ))
    };
    let (u, g) = s.split_once(':').unwrap_or((s, s));
    Ok((u.parse().map_err(|_| bad())?, g.parse().map_err(|_| bad())?))
}

fn need_dir(p: &Path) -> Result<(), Error> {
    match std::fs::metadata(p) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::Invalid(format!("{}: not a directory", p.display()))),
        Err(e) => Err(Error::Io(format!("{}: {e}", p.display()))),
    }
}

pub fn run(args: Args) -> Result<(), Error> {
    if let Some(dir) = &args.apply {
        std::fs::create_dir_all(dir).map_err(io_at(&dir.display().to_string()))?;
        let report = if args.archive {
            let (_, input) =
                compress::decompress_archive(io::stdin().lock()).map_err(io_at("stdin"))?;
            apply::apply_with(input, dir, apply::Whiteouts::Literal)?
        } else {
            let (_, input) = compress::decompress(io::stdin().lock()).map_err(io_at("stdin"))?;
            apply::apply(input, dir)?
        };
        for w in report.warnings {
            eprintln!("layer-diff: warning: {w}");
        }
        return Ok(());
    }
    let stdout = io::stdout();
    if !args.changes && stdout.is_terminal() {
        return Err(Error::Invalid(
            "refusing to write a tar to a terminal: redirect stdout".into(),
        ));
    }
    let out: Box<dyn Write> = Box::new(BufWriter::with_capacity(32 * 1024, stdout.lock()));
    let mut em = if args.changes {
        Emitter::changes(out)
    } else {
        Emitter::tar(out, args.mtime)
    };
    if let (Some(old), Some(new)) = (&args.old, &args.new) {
        need_dir(old)?;
        need_dir(new)?;
        diff::diff(&mut em, args.compare, old, new).map_err(io_at("diff"))?;
    } else if let Some(up) = &args.upper {
        need_dir(up)?;
        upper::Upper {
            em: &mut em,
            lowers: args.lower.clone(),
            fix: args.fix_upper,
        }
        .walk(up)
        .map_err(io_at(&up.display().to_string()))?;
    } else if let Some(src) = &args.dir {
        let to = apply::clean(args.to.as_bytes())?;
        let chmod = args
            .chmod
            .as_deref()
            .map(|m| {
                u32::from_str_radix(m, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .ok_or_else(|| Error::Invalid(format!("--chmod {m:?}: expected an octal mode")))
            })
            .transpose()?;
        tree::Tree {
            em: &mut em,
            to,
            chown: match (&args.chown, &args.parents_in) {
                (Some(c), Some(root)) if slipway_common::owner::numeric(c).is_none() => {
                    let (u, g) = slipway_common::owner::in_root(root, c)
                        .map_err(|e| Error::Invalid(format!("--chown {c:?}: {e}")))?;
                    Some((u.into(), g.into()))
                }
                (c, _) => c.as_deref().map(parse_chown).transpose()?,
            },
            skip_existing: args.skip_existing,
            chmod,
            exclude: Matcher::new(&args.exclude)?,
            parent_mtime: args.mtime.unwrap_or(0),
            parents_in: args
                .parents_in
                .as_deref()
                .map(std::fs::File::open)
                .transpose()
                .map_err(|e| Error::Io(format!("--parents-in: {e}")))?,
            parents_in_path: args.parents_in.clone(),
        }
        .walk(src)
        .map_err(io_at(&src.display().to_string()))?;
    }
    let warnings = std::mem::take(&mut em.warnings);
    em.finish().map_err(io_at("write"))?;
    for w in warnings {
        eprintln!("layer-diff: warning: {w}");
    }
    Ok(())
}
