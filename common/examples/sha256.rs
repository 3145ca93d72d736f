//! Hashes files with slipway's streaming digest code, printing
//! `DIGEST  FILE` lines; scripts/bench.sh times it against openssl.

use slipway_common::digest::HashingReader;
use std::fs::File;
use std::io::{self, BufReader};

fn main() -> io::Result<()> {
    for path in std::env::args().skip(1) {
        let f = File::open(&path)?;
        let mut r = HashingReader::new(BufReader::with_capacity(128 << 10, f));
        io::copy(&mut r, &mut io::sink())?;
        let (d, _) = r.finish();
        println!("{d}  {path}");
    }
    Ok(())
}
