//! Writing layer tars: the one place that writes whiteouts (`.wh.NAME`,
//! `.wh..wh..opq`), chooses ustar or PAX for each field, clamps mtimes and
//! keeps hard links as links. The same entries always give the same bytes:
//! no atime or ctime, no user or group names, PAX records sorted.

use crate::fsmeta::{Kind, Meta};
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};

pub const WHITEOUT_PREFIX: &[u8] = b".wh.";
pub const OPAQUE_WHITEOUT: &[u8] = b".wh..wh..opq";
/// Names starting `.wh..wh.` are whiteout metadata, never user files.
pub const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";

const BLOCK: usize = 512;
const USTAR_MAX_ID: u64 = 0o7777777;
const USTAR_MAX_SIZE: u64 = 0o77777777777;

/// The path of the whiteout that deletes `path`.
pub fn whiteout_path(path: &[u8]) -> Vec<u8> {
    match path.iter().rposition(|b| *b == b'/') {
        Some(i) => [&path[..=i], WHITEOUT_PREFIX, &path[i + 1..]].concat(),
        None => [WHITEOUT_PREFIX, path].concat(),
    }
}

fn octal(field: &mut [u8], mut v: u64) {
    // Zero-padded octal digits and a NUL, without allocating: this runs
    // seven times for every entry of every layer.
    let digits = field.len() - 1;
    field[digits] = 0;
    for slot in field[..digits].iter_mut().rev() {
        *slot = b'0' + (v & 7) as u8;
        v >>= 3;
    }
}

fn pax_record(key: &[u8], value: &[u8]) -> Vec<u8> {
    // "LEN KEY=VALUE\n", where LEN counts the whole record, its own digits too.
    let rest = key.len() + value.len() + 3;
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    let mut r = format!("{len} ").into_bytes();
    r.extend_from_slice(key);
    r.push(b'=');
    r.extend_from_slice(value);
    r.push(b'\n');
    r
}

struct HeaderFields<'a> {
    name: &'a [u8],
    typeflag: u8,
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: u32,
    link: &'a [u8],
    dev: (u32, u32),
    xattrs: Option<&'a BTreeMap<Vec<u8>, Vec<u8>>>,
}

/// A ustar header; `nums` are mode, uid, gid, size and mtime.
fn ustar(name: &[u8], typeflag: u8, link: &[u8], dev: (u32, u32), nums: [u64; 5]) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    let n = name.len().min(100);
    h[..n].copy_from_slice(&name[..n]);
    let [mode, uid, gid, size, mtime] = nums;
    octal(&mut h[100..108], mode);
    octal(&mut h[108..116], uid);
    octal(&mut h[116..124], gid);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], mtime);
    h[156] = typeflag;
    let l = link.len().min(100);
    h[157..157 + l].copy_from_slice(&link[..l]);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    octal(&mut h[329..337], dev.0 as u64);
    octal(&mut h[337..345], dev.1 as u64);
    h[148..156].fill(b' ');
    let sum: u64 = h.iter().map(|b| *b as u64).sum();
    octal(&mut h[148..155], sum);
    h[155] = b' ';
    h
}

/// Writes a layer tar entry by entry.
pub struct LayerWriter<W: Write> {
    out: W,
    /// (dev, inode) of files with several links -> the path written first.
    links: HashMap<(u64, u64), Vec<u8>>,
    clamp: Option<i64>,
    buf: Vec<u8>,
}

impl<W: Write> LayerWriter<W> {
    /// `clamp`: no entry gets an mtime later than this (SOURCE_DATE_EPOCH).
    pub fn new(out: W, clamp: Option<i64>) -> Self {
        LayerWriter {
            out,
            links: HashMap::new(),
            clamp,
            buf: vec![0u8; 32 * 1024],
        }
    }

    fn header(&mut self, f: HeaderFields<'_>) -> io::Result<()> {
        let (mut mtime, mut nsec) = (f.mtime, f.mtime_nsec);
        if let Some(c) = self.clamp {
            if mtime > c || (mtime == c && nsec > 0) {
                (mtime, nsec) = (c, 0);
            }
        }
        let mut pax: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        if f.name.len() > 100 {
            pax.insert(b"path".to_vec(), f.name.to_vec());
        }
        if f.link.len() > 100 {
            pax.insert(b"linkpath".to_vec(), f.link.to_vec());
        }
        if f.uid > USTAR_MAX_ID {
            pax.insert(b"uid".to_vec(), f.uid.to_string().into_bytes());
        }
        if f.gid > USTAR_MAX_ID {
            pax.insert(b"gid".to_vec(), f.gid.to_string().into_bytes());
        }
        if f.size > USTAR_MAX_SIZE {
            pax.insert(b"size".to_vec(), f.size.to_string().into_bytes());
        }
        if nsec != 0 || mtime < 0 {
            let v = if nsec != 0 {
                format!("{mtime}.{nsec:09}")
            } else {
                mtime.to_string()
            };
            let v = if nsec != 0 {
                v.trim_end_matches('0').to_string()
            } else {
                v
            };
            pax.insert(b"mtime".to_vec(), v.into_bytes());
        }
        for (k, v) in f.xattrs.into_iter().flatten() {
            pax.insert([&b"SCHILY.xattr."[..], k].concat(), v.clone());
        }
        if !pax.is_empty() {
            let records: Vec<u8> = pax.iter().flat_map(|(k, v)| pax_record(k, v)).collect();
            let h = ustar(
                b"././@PaxHeader",
                b'x',
                b"",
                (0, 0),
                [0o644, 0, 0, records.len() as u64, 0],
            );
            self.out.write_all(&h)?;
            self.out.write_all(&records)?;
            self.pad(records.len() as u64)?;
        }
        let size = if f.size > USTAR_MAX_SIZE { 0 } else { f.size };
        let nums = [
            f.mode as u64,
            f.uid.min(USTAR_MAX_ID),
            f.gid.min(USTAR_MAX_ID),
            size,
            mtime.max(0) as u64,
        ];
        let h = ustar(f.name, f.typeflag, f.link, f.dev, nums);
        self.out.write_all(&h)
    }

    fn pad(&mut self, size: u64) -> io::Result<()> {
        let rem = (size % BLOCK as u64) as usize;
        if rem != 0 {
            self.out.write_all(&[0u8; BLOCK][..BLOCK - rem])?;
        }
        Ok(())
    }

    /// Writes one entry. `path` is relative, without a leading `/`; a
    /// regular file's bytes come from `content`, exactly `meta.size` of them.
    pub fn entry(
        &mut self,
        path: &[u8],
        meta: &Meta,
        content: Option<&mut dyn Read>,
    ) -> io::Result<()> {
        let mut name = path.to_vec();
        let (typeflag, size, link, dev): (u8, u64, Vec<u8>, (u32, u32)) = match &meta.kind {
            Kind::File => {
                if meta.nlink > 1 {
                    if let Some(first) = self.links.get(&(meta.dev, meta.ino)) {
                        let first = first.clone();
                        return self.header(HeaderFields {
                            name: &name,
                            typeflag: b'1',
                            mode: meta.mode,
                            uid: meta.uid,
                            gid: meta.gid,
                            size: 0,
                            mtime: meta.mtime,
                            mtime_nsec: meta.mtime_nsec,
                            link: &first,
                            dev: (0, 0),
                            xattrs: Some(&meta.xattrs),
                        });
                    }
                    self.links.insert((meta.dev, meta.ino), name.clone());
                }
                (b'0', meta.size, vec![], (0, 0))
            }
            Kind::Dir => {
                if !name.ends_with(b"/") {
                    name.push(b'/');
                }
                (b'5', 0, vec![], (0, 0))
            }
            Kind::Symlink(t) => (b'2', 0, t.clone(), (0, 0)),
            Kind::Char { major, minor } => (b'3', 0, vec![], (*major, *minor)),
            Kind::Block { major, minor } => (b'4', 0, vec![], (*major, *minor)),
            Kind::Fifo => (b'6', 0, vec![], (0, 0)),
            Kind::Socket => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "sockets cannot be put in a layer",
                ));
            }
        };
        self.header(HeaderFields {
            name: &name,
            typeflag,
            mode: meta.mode,
            uid: meta.uid,
            gid: meta.gid,
            size,
            mtime: meta.mtime,
            mtime_nsec: meta.mtime_nsec,
            link: &link,
            dev,
            xattrs: Some(&meta.xattrs),
        })?;
        if typeflag == b'0' && size > 0 {
            let r = content
                .ok_or_else(|| io::Error::other("a regular file entry needs its content"))?;
            let mut left = size;
            while left > 0 {
                let want = left.min(self.buf.len() as u64) as usize;
                let n = match r.read(&mut self.buf[..want]) {
                    Ok(0) => {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            format!(
                                "{}: the file shrank while it was read",
                                String::from_utf8_lossy(path)
                            ),
                        ))
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                self.out.write_all(&self.buf[..n])?;
                left -= n as u64;
            }
            self.pad(size)?;
        }
        Ok(())
    }

    /// Deletes `path` (and all below it) from the layers beneath.
    pub fn whiteout(&mut self, path: &[u8]) -> io::Result<()> {
        self.marker(&whiteout_path(path))
    }

    /// Hides everything the layers beneath have in directory `dir`.
    pub fn opaque(&mut self, dir: &[u8]) -> io::Result<()> {
        let dir = dir.strip_suffix(b"/").unwrap_or(dir);
        let path = if dir.is_empty() {
            OPAQUE_WHITEOUT.to_vec()
        } else {
            [dir, b"/", OPAQUE_WHITEOUT].concat()
        };
        self.marker(&path)
    }

    fn marker(&mut self, name: &[u8]) -> io::Result<()> {
        let mtime = self.clamp.unwrap_or(0);
        self.header(HeaderFields {
            name,
            typeflag: b'0',
            mode: 0,
            uid: 0,
            gid: 0,
            size: 0,
            mtime,
            mtime_nsec: 0,
            link: b"",
            dev: (0, 0),
            xattrs: None,
        })
    }

    /// Ends the archive and returns the writer, flushed.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&[0u8; 2 * BLOCK])?;
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(kind: Kind) -> Meta {
        Meta {
            kind,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: 0,
            mtime: 1_700_000_000,
            mtime_nsec: 0,
            dev: 1,
            ino: 1,
            nlink: 1,
            xattrs: BTreeMap::new(),
        }
    }

    #[test]
    fn pax_records_count_their_own_length() {
        assert_eq!(pax_record(b"path", b"abc"), b"12 path=abc\n");
        let long = pax_record(b"k", &[b'x'; 95]);
        assert_eq!(long.len(), 102);
        assert!(long.starts_with(b"102 k="));
    }

    #[test]
    fn long_names_big_ids_fractions_and_xattrs_read_back_with_the_tar_crate() {
        let name = "d/".repeat(70) + "file";
        let mut m = meta(Kind::File);
        m.size = 5;
        m.uid = 5_000_000;
        m.gid = 70_000;
        m.mtime_nsec = 250_000_000;
        m.xattrs
            .insert(b"security.capability".to_vec(), vec![1, 0, 0, 2, 0xff]);
        let mut w = LayerWriter::new(Vec::new(), None);
        w.entry(name.as_bytes(), &m, Some(&mut &b"hello"[..]))
            .unwrap();
        w.whiteout(b"etc/gone").unwrap();
        w.opaque(b"var/cache").unwrap();
        let bytes = w.finish().unwrap();
        let mut ar = tar::Archive::new(&bytes[..]);
        let mut entries = ar.entries().unwrap();
        let mut e = entries.next().unwrap().unwrap();
        assert_eq!(e.path().unwrap().to_str().unwrap(), name);
        assert_eq!(e.header().uid().unwrap(), 5_000_000, "from the PAX record");
        let pax: Vec<(String, Vec<u8>)> = e
            .pax_extensions()
            .unwrap()
            .unwrap()
            .map(|r| {
                let r = r.unwrap();
                (r.key().unwrap().to_string(), r.value_bytes().to_vec())
            })
            .collect();
        assert!(pax.contains(&("uid".into(), b"5000000".to_vec())));
        assert!(pax.contains(&("mtime".into(), b"1700000000.25".to_vec())));
        assert!(pax.contains(&(
            "SCHILY.xattr.security.capability".into(),
            vec![1, 0, 0, 2, 0xff]
        )));
        let mut s = String::new();
        e.read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello");
        assert_eq!(
            entries.next().unwrap().unwrap().path().unwrap().to_str(),
            Some("etc/.wh.gone")
        );
        assert_eq!(
            entries.next().unwrap().unwrap().path().unwrap().to_str(),
            Some("var/cache/.wh..wh..opq")
        );
    }

    #[test]
    fn second_link_to_an_inode_is_a_hard_link_entry_and_mtimes_clamp() {
        let mut m = meta(Kind::File);
        m.size = 1;
        m.nlink = 2;
        let mut w = LayerWriter::new(Vec::new(), Some(1_600_000_000));
        w.entry(b"a", &m, Some(&mut &b"x"[..])).unwrap();
        w.entry(b"b", &m, Some(&mut &b"x"[..])).unwrap();
        let bytes = w.finish().unwrap();
        let mut ar = tar::Archive::new(&bytes[..]);
        let es: Vec<_> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().header().clone())
            .collect();
        assert_eq!(es[1].entry_type(), tar::EntryType::Link);
        assert_eq!(es[1].link_name().unwrap().unwrap().to_str(), Some("a"));
        assert_eq!(es[0].mtime().unwrap(), 1_600_000_000);
    }

    #[test]
    fn whiteout_paths_sit_beside_what_they_delete() {
        assert_eq!(whiteout_path(b"a/b/c"), b"a/b/.wh.c");
        assert_eq!(whiteout_path(b"top"), b".wh.top");
    }
}
