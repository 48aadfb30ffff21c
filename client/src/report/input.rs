//! Reading a report file with a bound: at most [`MAX_REPORT_BYTES`] of it, parsed as it is
//! read (no copy of the text is kept), a larger regular file refused from its size unread and
//! a longer stream (a pipe, a device) once the limit is passed.

use std::io::Read;
use std::path::Path;

use serde_json::Value;

/// The most `shout report` reads of one file: 1 GiB. A one-hour report at 5,000 messages a
/// second is about 6.5 MiB (a day about 160 MiB); a larger input is refused, not read.
pub const MAX_REPORT_BYTES: u64 = 1 << 30;

/// Why a JSON report could not be read.
#[derive(Debug)]
pub struct LoadError(pub String);

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LoadError {}

/// A reader that fails once more than `left` bytes were asked of it.
struct Bounded<R> {
    inner: R,
    left: u64,
    exceeded: bool,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            // One byte more tells a file of exactly the limit from a larger one.
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? == 0 {
                return Ok(0);
            }
            self.exceeded = true;
            return Err(std::io::Error::other("larger than the limit"));
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// Why `path` was refused: larger than `limit` bytes.
fn too_large(path: &Path, limit: u64) -> LoadError {
    let size = if limit % (1 << 20) == 0 {
        format!("{} MiB", limit >> 20)
    } else {
        format!("{limit} bytes")
    };
    LoadError(format!(
        "{} is larger than {size}, the most shout report reads of one file (a one-hour report \
         is a few MiB): refused",
        path.display()
    ))
}

/// The JSON document at `path`, reading at most `limit` bytes of it (a larger regular file
/// is refused from its size, unread).
pub(crate) fn read_json(path: &Path, limit: u64) -> Result<Value, LoadError> {
    let file = std::fs::File::open(path)
        .map_err(|e| LoadError(format!("cannot read {}: {e}", path.display())))?;
    if file
        .metadata()
        .is_ok_and(|m| m.is_file() && m.len() > limit)
    {
        return Err(too_large(path, limit));
    }
    parse_within(
        std::io::BufReader::with_capacity(1 << 16, file),
        limit,
        path,
    )
}

/// The JSON document `input` (read from `path`) holds, refused once more than `limit` bytes
/// were read.
fn parse_within(input: impl Read, limit: u64, path: &Path) -> Result<Value, LoadError> {
    let mut reader = Bounded {
        inner: input,
        left: limit,
        exceeded: false,
    };
    let parsed = serde_json::from_reader(&mut reader);
    if reader.exceeded {
        return Err(too_large(path, limit));
    }
    parsed.map_err(|e| {
        if e.is_io() {
            LoadError(format!("cannot read {}: {e}", path.display()))
        } else {
            LoadError(format!(
                "{} is not JSON (a `shout bench --json=FILE` report): {e}",
                path.display()
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reading stops at the limit: a stream longer than it (endless blanks after a `{`, which
    /// a JSON parser would read for ever) is refused as too large, a file of exactly the limit
    /// is read and a longer one refused.
    #[test]
    fn reading_is_bounded() {
        let endless = std::io::Cursor::new(b"{").chain(std::io::repeat(b' '));
        let e =
            crate::report::within(move || parse_within(endless, 1000, Path::new("s"))).unwrap_err();
        assert!(e.0.starts_with("s is larger than 1000 bytes"), "{e}");
        let text = br#"{"a": 1}"#;
        let limit = text.len() as u64;
        let parsed = parse_within(&text[..], limit, Path::new("f")).unwrap();
        assert_eq!(parsed["a"], 1);
        let e = parse_within(&text[..], limit - 1, Path::new("f")).unwrap_err();
        assert!(e.0.contains("larger than 7 bytes"), "{e}");
        let e = parse_within(&b"\0\0\0"[..], limit, Path::new("/dev/zero")).unwrap_err();
        assert!(e.0.contains("/dev/zero is not JSON"), "{e}");
    }
}
