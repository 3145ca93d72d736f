//! Writing a document while it is parsed: JSON arrays whose items are made
//! only as they are written, so that memory follows one instruction rather
//! than the file (a plan is ten times its Dockerfile once pretty).

use crate::ast::ParseError;
use serde::ser::{Error as _, Serialize, SerializeSeq, Serializer};
use std::cell::{Cell, RefCell};
use std::io::{self, Write};

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Where a `Lazy` array leaves the parse error that stopped it: serde
/// carries only a message through the serializer, and the caller wants the
/// error itself (with its line) back.
pub type Failed = Cell<Option<ParseError>>;

/// A JSON array of what `items` yields, pulled one at a time while it is
/// written. It is written once: a second time it is empty.
pub struct Lazy<'f, I> {
    items: RefCell<Option<I>>,
    failed: &'f Failed,
}

impl<'f, I> Lazy<'f, I> {
    pub fn new(items: I, failed: &'f Failed) -> Self {
        Lazy {
            items: RefCell::new(Some(items)),
            failed,
        }
    }
}

impl<I, T> Serialize for Lazy<'_, I>
where
    I: Iterator<Item = Result<T, ParseError>>,
    T: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let items = self.items.borrow_mut().take();
        // No length: serde_json prints an array the same either way.
        let mut seq = s.serialize_seq(None)?;
        for item in items.into_iter().flatten() {
            match item {
                Ok(x) => seq.serialize_element(&x)?,
                Err(e) => {
                    let msg = e.to_string();
                    self.failed.set(Some(e));
                    return Err(S::Error::custom(msg));
                }
            }
        }
        seq.end()
    }
}

/// `serde_json::to_writer_pretty` and the final newline, telling a parse
/// error that stopped a `Lazy` array apart from a failed write.
pub fn write_pretty<W: Write, T: Serialize>(
    mut w: W,
    value: &T,
    failed: &Failed,
) -> Result<(), WriteError> {
    let mut ser = serde_json::Serializer::with_formatter(&mut w, Pretty::default());
    match value.serialize(&mut ser) {
        Ok(()) => Ok(w.write_all(b"\n")?),
        Err(e) => Err(match failed.take() {
            Some(p) => WriteError::Parse(p),
            None => WriteError::Io(e.into()),
        }),
    }
}

/// serde_json's `PrettyFormatter` (two spaces), byte for byte, but for
/// writing a line break and its indent in one call rather than one per
/// level: the steps of a plan sit five levels deep, and those calls were a
/// tenth of the time of writing a large plan.
#[derive(Default)]
struct Pretty {
    indent: usize,
    has_value: bool,
}

/// `,` and a line break, then the indent of up to 32 levels.
const BREAK: &[u8; 66] = b",\n                                                                ";

impl Pretty {
    fn line<W: ?Sized + Write>(&self, w: &mut W, comma: bool) -> io::Result<()> {
        let from = usize::from(!comma);
        let mut spaces = self.indent * 2;
        let first = spaces.min(BREAK.len() - 2);
        w.write_all(&BREAK[from..2 + first])?;
        spaces -= first;
        while spaces > 0 {
            let n = spaces.min(BREAK.len() - 2);
            w.write_all(&BREAK[2..2 + n])?;
            spaces -= n;
        }
        Ok(())
    }

    fn open<W: ?Sized + Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.indent += 1;
        self.has_value = false;
        w.write_all(bracket)
    }

    fn close<W: ?Sized + Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.indent = self.indent.saturating_sub(1);
        if self.has_value {
            self.line(w, false)?;
        }
        w.write_all(bracket)
    }
}

impl serde_json::ser::Formatter for Pretty {
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.line(w, !first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.line(w, !first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nested past the width of `BREAK`, empty and full, every JSON type.
    #[test]
    fn pretty_writes_what_serde_json_pretty_writes() {
        let mut deep = serde_json::json!([]);
        for i in 0..40 {
            deep =
                serde_json::json!({"k": i, "a": [deep, [], {}], "s": "x\ny", "n": null, "b": true});
        }
        for v in [
            deep,
            serde_json::json!([]),
            serde_json::json!({}),
            serde_json::json!([[], [[]], {"a": {}}]),
            serde_json::json!(1.5),
        ] {
            let want = serde_json::to_string_pretty(&v).unwrap() + "\n";
            let mut got = Vec::new();
            write_pretty(&mut got, &v, &Failed::default()).unwrap();
            assert_eq!(String::from_utf8(got).unwrap(), want);
        }
    }
}
