//! Layer compression: detection from the bytes, decompression, and
//! compression that uses every core yet gives the same bytes whatever the
//! number of threads (gzip as pigz does it: independent 128 KiB blocks, each
//! primed with the previous 32 KiB as dictionary; zstd in its multi-threaded
//! mode, whose output does not depend on the worker count).

use flate2::{Compress, Crc, FlushCompress, Status};
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::str::FromStr;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl FromStr for Compression {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" | "uncompressed" => Ok(Compression::None),
            "gzip" => Ok(Compression::Gzip),
            "zstd" => Ok(Compression::Zstd),
            _ => Err(format!("unknown compression {s:?} (gzip, zstd or none)")),
        }
    }
}

impl Compression {
    /// Recognizes gzip and zstd by their magic numbers; anything else is
    /// taken as uncompressed (and checked as a tar later).
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// The OCI layer media type for a layer so compressed.
    pub fn oci_layer_media_type(self) -> &'static str {
        match self {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }

    /// The Docker schema 2 layer media type, where Docker has one.
    pub fn docker_layer_media_type(self) -> Option<&'static str> {
        match self {
            Compression::None => Some("application/vnd.docker.image.rootfs.diff.tar"),
            Compression::Gzip => Some("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Compression::Zstd => None,
        }
    }

    pub fn default_level(self) -> i32 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 6,
            Compression::Zstd => 3,
        }
    }

    /// `--compression-level N` checked against this format's range.
    pub fn check_level(self, level: i32) -> Result<i32, String> {
        match self.level_range().contains(&level) {
            true => Ok(level),
            false => Err(format!(
                "--compression-level {level}: {self:?} takes {:?}",
                self.level_range()
            )),
        }
    }

    pub fn level_range(self) -> std::ops::RangeInclusive<i32> {
        match self {
            Compression::None => 0..=0,
            Compression::Gzip => 1..=9,
            Compression::Zstd => 1..=22,
        }
    }
}

/// Wraps `input` in the decompressor its first bytes call for.
pub fn decompress<'a, R: Read + 'a>(input: R) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    let mut buf = BufReader::with_capacity(64 * 1024, input);
    let kind = Compression::detect(buf.fill_buf()?);
    let reader: Box<dyn Read> = match kind {
        Compression::None => Box::new(buf),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buf)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(buf)?),
    };
    Ok((kind, reader))
}

/// Wraps an archive (what ADD unpacks: a tar, plain or compressed with
/// gzip, bzip2, xz or zstd) in the decompressor its first bytes call for;
/// also says which one it was ("none" for a plain tar).
pub fn decompress_archive<'a, R: Read + 'a>(
    input: R,
) -> io::Result<(&'static str, Box<dyn Read + 'a>)> {
    let mut buf = BufReader::with_capacity(64 * 1024, input);
    let head = buf.fill_buf()?;
    if head.starts_with(b"BZh") {
        return Ok(("bzip2", Box::new(bzip2::bufread::MultiBzDecoder::new(buf))));
    }
    if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return Ok((
            "xz",
            Box::new(xz2::bufread::XzDecoder::new_multi_decoder(buf)),
        ));
    }
    let (kind, r) = decompress(buf)?;
    Ok((
        match kind {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        },
        r,
    ))
}

/// How to compress: which format, what level, how many threads.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub kind: Compression,
    pub level: i32,
    pub threads: usize,
}

impl Settings {
    /// `--compression` with the `--compression-level` given, if any,
    /// checked against the format's range.
    pub fn chosen(kind: Compression, level: Option<i32>) -> Result<Settings, String> {
        let mut s = Settings::new(kind);
        if let Some(l) = level {
            s.level = kind.check_level(l)?;
        }
        Ok(s)
    }

    pub fn new(kind: Compression) -> Settings {
        Settings {
            kind,
            level: kind.default_level(),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// Compresses all of `input` into `output`.
pub fn compress(input: &mut dyn Read, output: &mut dyn Write, s: Settings) -> io::Result<()> {
    match s.kind {
        Compression::None => io::copy(input, output).map(drop),
        Compression::Gzip => gzip_blocks(input, output, s.level as u32, s.threads.max(1)),
        Compression::Zstd => {
            let mut enc = zstd::stream::write::Encoder::new(output, s.level)?;
            // nbWorkers >= 1 always, so the frame is the same for any count.
            enc.multithread(s.threads.max(1) as u32)?;
            enc.include_contentsize(false)?;
            io::copy(input, &mut enc)?;
            enc.finish()?;
            Ok(())
        }
    }
}

const BLOCK: usize = 128 * 1024;
const DICT: usize = 32 * 1024;
// gzip header: deflate, no flags, mtime 0, no extra flags, OS unknown.
const GZ_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
// An empty fixed-Huffman block with BFINAL set: ends the deflate stream
// after blocks that each ended with a sync flush.
const FINAL_BLOCK: [u8; 2] = [0x03, 0x00];

struct Job {
    seq: u64,
    dict: Arc<Vec<u8>>,
    data: Arc<Vec<u8>>,
}

struct Done {
    seq: u64,
    out: io::Result<Vec<u8>>,
    crc: Crc,
}

fn deflate_block(level: u32, dict: &[u8], data: &[u8]) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(flate2::Compression::new(level), false);
    if !dict.is_empty() {
        c.set_dictionary(dict).map_err(io::Error::other)?;
    }
    let mut out = Vec::with_capacity(data.len() + data.len() / 8 + 1024);
    loop {
        let consumed = c.total_in() as usize;
        let status = c
            .compress_vec(&data[consumed..], &mut out, FlushCompress::Sync)
            .map_err(io::Error::other)?;
        // Done when all input is in and the flush did not fill the buffer.
        if c.total_in() as usize == data.len() && out.len() < out.capacity() {
            return Ok(out);
        }
        if status == Status::BufError || out.len() == out.capacity() {
            out.reserve(out.capacity() / 2 + 1024);
        }
    }
}

fn read_block(input: &mut dyn Read) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; BLOCK];
    let mut n = 0;
    while n < BLOCK {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(n);
    Ok(buf)
}

fn gzip_blocks(
    input: &mut dyn Read,
    out: &mut dyn Write,
    level: u32,
    threads: usize,
) -> io::Result<()> {
    out.write_all(&GZ_HEADER)?;
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    let max_in_flight = threads * 3;
    std::thread::scope(|scope| -> io::Result<()> {
        for _ in 0..threads {
            let job_rx = Arc::clone(&job_rx);
            let done_tx = done_tx.clone();
            scope.spawn(move || loop {
                let job = match job_rx.lock().map(|rx| rx.recv()) {
                    Ok(Ok(job)) => job,
                    _ => return,
                };
                let mut crc = Crc::new();
                crc.update(&job.data);
                let out = deflate_block(level, &job.dict, &job.data);
                if done_tx
                    .send(Done {
                        seq: job.seq,
                        out,
                        crc,
                    })
                    .is_err()
                {
                    return;
                }
            });
        }
        drop(done_tx);
        // The reading, the ordering and the writing stay on this thread, so
        // neither the input nor the output has to be Send.
        let result = (|| -> io::Result<Crc> {
            let mut crc = Crc::new();
            let mut pending: BTreeMap<u64, Done> = BTreeMap::new();
            let (mut next_send, mut next_write) = (0u64, 0u64);
            let mut dict = Arc::new(Vec::new());
            let mut eof = false;
            loop {
                while !eof && next_send - next_write < max_in_flight as u64 {
                    let data = read_block(input)?;
                    if data.is_empty() {
                        eof = true;
                        break;
                    }
                    let tail = data.len().saturating_sub(DICT);
                    let data = Arc::new(data);
                    let next_dict = Arc::new(data[tail..].to_vec());
                    job_tx
                        .send(Job {
                            seq: next_send,
                            dict,
                            data,
                        })
                        .map_err(|_| io::Error::other("compression worker died"))?;
                    dict = next_dict;
                    next_send += 1;
                }
                if next_write == next_send {
                    return Ok(crc);
                }
                let done = done_rx
                    .recv()
                    .map_err(|_| io::Error::other("compression worker died"))?;
                pending.insert(done.seq, done);
                while let Some(done) = pending.remove(&next_write) {
                    out.write_all(&done.out?)?;
                    crc.combine(&done.crc);
                    next_write += 1;
                }
            }
        })();
        drop(job_tx);
        let crc = result?;
        out.write_all(&FINAL_BLOCK)?;
        out.write_all(&crc.sum().to_le_bytes())?;
        out.write_all(&crc.amount().to_le_bytes())?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(len: usize) -> Vec<u8> {
        // Compressible but not trivial: words with a counter.
        let mut v = Vec::with_capacity(len);
        let mut i = 0u64;
        while v.len() < len {
            v.extend_from_slice(
                format!("line {i} of the slipway sample {}\n", i * 7919 % 1013).as_bytes(),
            );
            i += 1;
        }
        v.truncate(len);
        v
    }

    fn roundtrip(kind: Compression, data: &[u8], threads: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let s = Settings {
            kind,
            level: kind.default_level(),
            threads,
        };
        compress(&mut &data[..], &mut out, s).unwrap();
        let mut back = Vec::new();
        {
            let (detected, mut r) = decompress(&out[..]).unwrap();
            assert_eq!(detected, kind);
            r.read_to_end(&mut back).unwrap();
        }
        assert_eq!(back, data);
        out
    }

    #[test]
    fn gzip_blocks_decompress_to_the_input_and_ignore_thread_count() {
        for len in [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 5 * BLOCK + 333] {
            let data = sample(len);
            let one = roundtrip(Compression::Gzip, &data, 1);
            let four = roundtrip(Compression::Gzip, &data, 4);
            assert_eq!(one, four, "len {len}");
        }
    }

    #[test]
    fn gzip_blocks_are_readable_by_the_gzip_decoder_of_another_implementation() {
        let data = sample(3 * BLOCK + 17);
        let mut out = Vec::new();
        compress(&mut &data[..], &mut out, Settings::new(Compression::Gzip)).unwrap();
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&out[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        // The shared dictionary keeps the ratio close to one stream's.
        let mut single = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        single.write_all(&data).unwrap();
        let single = single.finish().unwrap();
        assert!(
            out.len() < single.len() + single.len() / 50 + 64,
            "{} vs {}",
            out.len(),
            single.len()
        );
    }

    #[test]
    fn zstd_output_ignores_thread_count() {
        let data = sample(3 << 20);
        assert_eq!(
            roundtrip(Compression::Zstd, &data, 1),
            roundtrip(Compression::Zstd, &data, 3)
        );
    }

    #[test]
    fn detection_reads_magic_numbers() {
        assert_eq!(Compression::detect(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(
            Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd]),
            Compression::Zstd
        );
        assert_eq!(Compression::detect(b"etc/"), Compression::None);
        assert_eq!(Compression::detect(b""), Compression::None);
    }
}
