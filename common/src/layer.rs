//! Taking a layer in: decompress whatever came (tar, gzip, zstd), check that
//! it is a whole tar archive while it streams past, learn its diff ID, and
//! compress it as asked, in one pass and in bounded memory.

use crate::compress::{self, Compression, Settings};
use crate::digest::{Digest, Hasher, HashingWriter};
use std::io::{self, Read, Write};

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum TarError {
    #[error("not a tar archive: the input is empty")]
    Empty,
    #[error("not a tar archive: bad header checksum at offset {0}")]
    Checksum(u64),
    #[error("not a tar archive: bad size field at offset {0}")]
    Size(u64),
    #[error("truncated tar archive: the input ends inside the entry at offset {0}")]
    Truncated(u64),
    #[error("malformed tar archive: PAX header at offset {0} is too large")]
    PaxTooLarge(u64),
}

const BLOCK: u64 = 512;
const PAX_MAX: u64 = 1 << 20;

/// A push parser that follows tar headers over a byte stream without keeping
/// the stream: it knows where each header starts and checks it.
#[derive(Default)]
pub struct TarChecker {
    offset: u64,
    header: Vec<u8>,
    /// Data bytes (with padding) still to skip, and the entry's own size.
    remaining: u64,
    entry_start: u64,
    pax: Option<Vec<u8>>,
    pax_len: u64,
    next_size: Option<u64>,
    ended: bool,
    entries: u64,
}

fn parse_octal(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        // GNU base-256 for values that do not fit in octal.
        let mut v: u64 = (field[0] & 0x7f) as u64;
        for b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(*b as u64)?;
        }
        return Some(v);
    }
    let s: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|b| *b == b' ')
        .take_while(|b| *b != 0 && *b != b' ')
        .collect();
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(std::str::from_utf8(&s).ok()?, 8).ok()
}

fn checksum_ok(h: &[u8]) -> bool {
    let Some(stored) = parse_octal(&h[148..156]) else {
        return false;
    };
    // The field itself counts as spaces; old writers summed signed bytes.
    let (mut unsigned, mut signed) = (0u64, 0i64);
    for (i, b) in h.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { *b };
        unsigned += b as u64;
        signed += b as i8 as i64;
    }
    stored == unsigned || stored as i64 == signed
}

fn pax_size(records: &[u8]) -> Option<u64> {
    let mut rest = records;
    let mut size = None;
    while !rest.is_empty() {
        let sp = rest.iter().position(|b| *b == b' ')?;
        let len: usize = std::str::from_utf8(&rest[..sp]).ok()?.parse().ok()?;
        if len <= sp || len > rest.len() {
            return None;
        }
        let record = &rest[sp + 1..len];
        if let Some(v) = record.strip_prefix(b"size=") {
            size = std::str::from_utf8(v.strip_suffix(b"\n")?)
                .ok()?
                .parse()
                .ok();
        }
        rest = &rest[len..];
    }
    size
}

impl TarChecker {
    pub fn new() -> TarChecker {
        TarChecker::default()
    }

    /// How many entries (PAX and GNU extension headers included) went by.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), TarError> {
        while !bytes.is_empty() {
            if self.ended {
                // Padding after the end-of-archive blocks: kept, not read.
                self.offset += bytes.len() as u64;
                return Ok(());
            }
            if self.remaining > 0 {
                let n = (self.remaining.min(bytes.len() as u64)) as usize;
                if let Some(pax) = self.pax.as_mut() {
                    let want = (self.pax_len as usize).saturating_sub(pax.len()).min(n);
                    pax.extend_from_slice(&bytes[..want]);
                }
                self.remaining -= n as u64;
                self.offset += n as u64;
                bytes = &bytes[n..];
                if self.remaining == 0 {
                    if let Some(pax) = self.pax.take() {
                        if let Some(size) = pax_size(&pax) {
                            self.next_size = Some(size);
                        }
                    }
                }
                continue;
            }
            let n = (512 - self.header.len()).min(bytes.len());
            self.header.extend_from_slice(&bytes[..n]);
            self.offset += n as u64;
            bytes = &bytes[n..];
            if self.header.len() == 512 {
                let header = std::mem::take(&mut self.header);
                self.on_header(&header)?;
            }
        }
        Ok(())
    }

    fn on_header(&mut self, h: &[u8]) -> Result<(), TarError> {
        let at = self.offset - BLOCK;
        if h.iter().all(|b| *b == 0) {
            self.ended = true;
            return Ok(());
        }
        if !checksum_ok(h) {
            return Err(TarError::Checksum(at));
        }
        self.entries += 1;
        let typeflag = h[156];
        let field = parse_octal(&h[124..136]).ok_or(TarError::Size(at))?;
        let size = match typeflag {
            // Header-only types carry no data, whatever their size field says.
            b'1' | b'2' | b'3' | b'4' | b'5' | b'6' => 0,
            b'x' | b'g' | b'L' | b'K' => field,
            _ => self.next_size.take().unwrap_or(field),
        };
        if typeflag == b'x' {
            if size > PAX_MAX {
                return Err(TarError::PaxTooLarge(at));
            }
            self.pax = Some(Vec::with_capacity(size as usize));
            self.pax_len = size;
        } else if typeflag != b'g' && typeflag != b'L' && typeflag != b'K' {
            self.next_size = None;
        }
        self.entry_start = at;
        self.remaining = size.div_ceil(BLOCK) * BLOCK;
        Ok(())
    }

    /// Call at EOF: the stream must end between entries.
    pub fn finish(&self) -> Result<(), TarError> {
        if self.offset == 0 {
            return Err(TarError::Empty);
        }
        if self.ended {
            return Ok(());
        }
        if !self.header.is_empty() {
            return Err(TarError::Truncated(self.offset - self.header.len() as u64));
        }
        if self.remaining > 0 || self.pax.is_some() {
            return Err(TarError::Truncated(self.entry_start));
        }
        Ok(())
    }
}

/// A reader over an uncompressed layer that checks the tar structure and
/// hashes the bytes (the diff ID) as they pass.
pub struct CheckedTar<R> {
    inner: R,
    checker: TarChecker,
    hasher: Hasher,
    done: bool,
}

impl<R: Read> CheckedTar<R> {
    pub fn new(inner: R) -> Self {
        CheckedTar {
            inner,
            checker: TarChecker::new(),
            hasher: Hasher::new(),
            done: false,
        }
    }
    /// The diff ID and the uncompressed size; only meaningful after EOF.
    pub fn finish(self) -> (Digest, u64) {
        let len = self.hasher.len();
        (self.hasher.finish(), len)
    }

    /// Entries seen so far (all of them after EOF).
    pub fn entries(&self) -> u64 {
        self.checker.entries()
    }
}

fn tar_err(e: TarError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl<R: Read> Read for CheckedTar<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() && !self.done {
            self.done = true;
            self.checker.finish().map_err(tar_err)?;
        }
        self.checker.feed(&buf[..n]).map_err(tar_err)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// What a layer became once taken in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerBlob {
    /// Digest and size of the blob as stored (compressed).
    pub digest: Digest,
    pub size: u64,
    /// Digest and size of the uncompressed tar.
    pub diff_id: Digest,
    pub uncompressed_size: u64,
    pub compression: Compression,
    /// Tar entries (extension headers included): 0 for a layer that
    /// changes nothing.
    pub entries: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("{0}")]
    Tar(#[from] TarError),
    #[error("{0}")]
    Io(io::Error),
}

impl From<io::Error> for LayerError {
    fn from(e: io::Error) -> Self {
        let tar = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<TarError>())
            .cloned();
        match tar {
            Some(t) => LayerError::Tar(t),
            None => LayerError::Io(e),
        }
    }
}

/// Reads a layer in any compression, checks it is a tar, and writes it to
/// `out` compressed as `settings` says. Returns `out` and what was written.
pub fn ingest<W: Write>(
    input: impl Read,
    out: W,
    settings: Settings,
) -> Result<(W, LayerBlob), LayerError> {
    let (_, reader) = compress::decompress(input)?;
    let mut tar = CheckedTar::new(reader);
    if settings.kind == Compression::None {
        // The blob is the tar itself: its digest is the diff ID, hashed once.
        let mut out = out;
        io::copy(&mut tar, &mut out)?;
        out.flush()?;
        let entries = tar.entries();
        let (diff_id, size) = tar.finish();
        return Ok((
            out,
            LayerBlob {
                digest: diff_id.clone(),
                size,
                diff_id,
                uncompressed_size: size,
                compression: Compression::None,
                entries,
            },
        ));
    }
    let mut sink = HashingWriter::new(out);
    compress::compress(&mut tar, &mut sink, settings)?;
    sink.flush()?;
    let (out, digest, size) = sink.finish();
    let entries = tar.entries();
    let (diff_id, uncompressed_size) = tar.finish();
    Ok((
        out,
        LayerBlob {
            digest,
            size,
            diff_id,
            uncompressed_size,
            compression: settings.kind,
            entries,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn check(bytes: &[u8]) -> Result<(), TarError> {
        let mut c = TarChecker::new();
        // Odd chunk sizes exercise the header reassembly.
        for chunk in bytes.chunks(97) {
            c.feed(chunk)?;
        }
        c.finish()
    }

    #[test]
    fn checker_accepts_whole_archives_and_long_names() {
        let long = "d/".repeat(80) + "file";
        let t = tar_of(&[("a", b"hello"), (&long, b"x"), ("empty", b"")]);
        assert_eq!(check(&t), Ok(()));
        // Without the end-of-archive blocks it still ends between entries.
        assert_eq!(check(&t[..t.len() - 1024]), Ok(()));
    }

    #[test]
    fn checker_rejects_truncation_garbage_and_empty_input() {
        let t = tar_of(&[("a", &[7u8; 2000])]);
        assert_eq!(check(&t[..700]), Err(TarError::Truncated(0)));
        assert_eq!(check(&t[..300]), Err(TarError::Truncated(0)));
        assert_eq!(check(b""), Err(TarError::Empty));
        assert!(matches!(check(&[b'x'; 1024]), Err(TarError::Checksum(0))));
    }

    #[test]
    fn checker_follows_pax_size_records() {
        let mut h = tar::Header::new_ustar();
        h.set_size(3);
        h.set_mode(0o644);
        h.set_cksum();
        let mut b = tar::Builder::new(Vec::new());
        // A PAX header that says the next entry has 600 bytes of data.
        b.append_pax_extensions([("size", &b"600"[..])]).unwrap();
        let mut h2 = tar::Header::new_ustar();
        h2.set_size(0);
        h2.set_mode(0o644);
        h2.set_cksum();
        b.append_data(&mut h2, "big", &[1u8; 0][..]).unwrap();
        let mut bytes = b.into_inner().unwrap();
        // Entry data of 600 bytes (2 blocks) goes after the header.
        let end = bytes.len() - 1024;
        bytes.truncate(end);
        bytes.extend_from_slice(&[1u8; 1024]);
        bytes.extend_from_slice(&[0u8; 1024]);
        assert_eq!(check(&bytes), Ok(()));
        // The same without its data is truncated.
        assert!(matches!(
            check(&bytes[..end + 512]),
            Err(TarError::Truncated(_))
        ));
    }

    #[test]
    fn ingest_reports_diff_id_of_the_uncompressed_tar_whatever_came_in() {
        let t = tar_of(&[("etc/hostname", b"slipway\n")]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&t).unwrap();
        let gz = gz.finish().unwrap();
        for input in [&t[..], &gz[..]] {
            for kind in [Compression::None, Compression::Gzip, Compression::Zstd] {
                let (out, blob) = ingest(input, Vec::new(), Settings::new(kind)).unwrap();
                assert_eq!(blob.diff_id, Digest::of(&t));
                assert_eq!(blob.digest, Digest::of(&out));
                assert_eq!(blob.size, out.len() as u64);
                assert_eq!(blob.uncompressed_size, t.len() as u64);
            }
        }
        let err = ingest(
            &gz[..gz.len() - 10],
            Vec::new(),
            Settings::new(Compression::Gzip),
        )
        .unwrap_err();
        assert!(
            matches!(err, LayerError::Io(_) | LayerError::Tar(_)),
            "{err}"
        );
    }
}
