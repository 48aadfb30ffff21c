//! Reading a report file with a bound: at most [`MAX_REPORT_BYTES`] of it, parsed as it is
//! read (no copy of the text is kept), a larger regular file refused from its size unread and
//! a longer stream (a pipe, a device) once the limit is passed; and at most
//! [`MAX_JSON_VALUES`] values in it, an object's keys counted as values, since a value takes
//! many times its text once parsed (`0` is 2 bytes of text and 32 in memory, `{}` a map of
//! about 640 bytes, the key `"a":` 4 bytes of text and about 100 in memory).

use std::cell::Cell;
use std::io::Read;
use std::path::Path;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// The most `shout report` reads of one file: 1 GiB. A one-hour report at 5,000 messages a
/// second is about 6.5 MiB (a day about 160 MiB); a larger input is refused, not read.
pub const MAX_REPORT_BYTES: u64 = 1 << 30;

/// The most JSON values `shout report` reads of one file: 16 million, an object counting as
/// [`OBJECT_COST`] values and each of its keys as [`KEY_COST`] (about two days of per-second
/// series: a one-hour report has about 310,000). About 700 MiB at most once parsed, whatever
/// the values and keys are (the text of long strings and keys, at most the file's size,
/// aside).
pub const MAX_JSON_VALUES: u64 = 16_000_000;

/// What an object counts for in [`MAX_JSON_VALUES`]: serde_json's map allocates room for 11
/// entries at once (about 640 bytes), a number or a null takes 32.
pub const OBJECT_COST: u64 = 20;

/// What a key of an object counts for in [`MAX_JSON_VALUES`]: its `String` beside its value
/// in the map's nodes (which are half empty after splitting) and the smallest heap block of
/// its text take about twice what a number does. Uncounted, `{"k00000000":0,...}` within the
/// bound took 2.1 GiB.
pub const KEY_COST: u64 = 2;

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
    let size = if limit.is_multiple_of(1 << 20) {
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
        MAX_JSON_VALUES,
        path,
    )
}

/// Builds a JSON value as serde_json's `Value` does, spending one of `left` for each value
/// ([`OBJECT_COST`] for an object, [`KEY_COST`] for each key) and failing (with `exceeded`
/// set) once none is left.
#[derive(Clone, Copy)]
struct Budget<'a> {
    left: &'a Cell<u64>,
    exceeded: &'a Cell<bool>,
}

impl Budget<'_> {
    fn spend<E: serde::de::Error>(&self) -> Result<(), E> {
        self.spend_n(1)
    }

    fn spend_n<E: serde::de::Error>(&self, n: u64) -> Result<(), E> {
        match self.left.get().checked_sub(n) {
            None => {
                self.exceeded.set(true);
                Err(E::custom("too many values"))
            }
            Some(left) => {
                self.left.set(left);
                Ok(())
            }
        }
    }
}

impl<'de> DeserializeSeed<'de> for Budget<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Budget<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        self.spend()?;
        // JSON text has no NaN or infinity; serde_json never hands one over.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        self.visit_string(v.to_owned())
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::String(v))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.spend()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.spend_n(OBJECT_COST)?;
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            self.spend_n(KEY_COST)?;
            let value = map.next_value_seed(self)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

/// The JSON document `input` (read from `path`) holds, refused once more than `limit` bytes
/// were read or more than `values` values parsed.
fn parse_within(
    input: impl Read,
    limit: u64,
    values: u64,
    path: &Path,
) -> Result<Value, LoadError> {
    let mut reader = Bounded {
        inner: input,
        left: limit,
        exceeded: false,
    };
    let (left, exceeded) = (Cell::new(values), Cell::new(false));
    let budget = Budget {
        left: &left,
        exceeded: &exceeded,
    };
    let parsed = {
        let mut de = serde_json::Deserializer::from_reader(&mut reader);
        budget
            .deserialize(&mut de)
            .and_then(|v| de.end().map(|()| v))
    };
    if reader.exceeded {
        return Err(too_large(path, limit));
    }
    if exceeded.get() {
        return Err(LoadError(format!(
            "{} has more than {values} JSON values (an object counting {OBJECT_COST}, a key \
             {KEY_COST}), the most shout report reads of one file (a one-hour report has about \
             310,000): refused",
            path.display()
        )));
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
        let e = crate::report::within(move || parse_within(endless, 1000, 100, Path::new("s")))
            .unwrap_err();
        assert!(e.0.starts_with("s is larger than 1000 bytes"), "{e}");
        let text = br#"{"a": 1}"#;
        let limit = text.len() as u64;
        let parsed = parse_within(&text[..], limit, 100, Path::new("f")).unwrap();
        assert_eq!(parsed["a"], 1);
        let e = parse_within(&text[..], limit - 1, 100, Path::new("f")).unwrap_err();
        assert!(e.0.contains("larger than 7 bytes"), "{e}");
        let e = parse_within(&b"\0\0\0"[..], limit, 100, Path::new("/dev/zero")).unwrap_err();
        assert!(e.0.contains("/dev/zero is not JSON"), "{e}");
    }

    /// At most `values` values are parsed (each takes up to 60 times its text in memory), an
    /// object's keys counted: a document of exactly that many reads, one more is refused; what
    /// is read is what serde_json reads.
    #[test]
    fn values_are_bounded() {
        let doc = br#"{"a": [0, 1.5, -2, "x", null, true, {}], "b": {"c": []}}"#;
        // Three objects, three keys, two arrays and six other values.
        let n = 3 * OBJECT_COST + 3 * KEY_COST + 8;
        let parsed = parse_within(&doc[..], 1 << 20, n, Path::new("f")).unwrap();
        assert_eq!(parsed, serde_json::from_slice::<Value>(doc).unwrap());
        let e = parse_within(&doc[..], 1 << 20, n - 1, Path::new("f")).unwrap_err();
        assert!(
            e.0.starts_with(&format!("f has more than {} JSON values", n - 1)),
            "{e}"
        );
        let e = parse_within(&br#"{"a": 1} x"#[..], 1 << 20, n, Path::new("f")).unwrap_err();
        assert!(e.0.contains("f is not JSON"), "{e}");
    }

    /// Keys are counted: an object of many keys, each with a small value, is refused once its
    /// keys and values together pass the bound (its values alone are within it), so keys cannot
    /// double the memory a bound of values allows.
    #[test]
    fn keys_are_counted() {
        let keys = 1000;
        let doc = format!(
            "{{{}}}",
            (0..keys)
                .map(|i| format!("\"key number {i}\": 0"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let values_alone = OBJECT_COST + keys;
        let with_keys = values_alone + keys * KEY_COST;
        let parsed = parse_within(doc.as_bytes(), 1 << 20, with_keys, Path::new("k")).unwrap();
        assert_eq!(parsed.as_object().map(|o| o.len()), Some(keys as usize));
        let e = parse_within(doc.as_bytes(), 1 << 20, values_alone, Path::new("k")).unwrap_err();
        assert!(
            e.0.starts_with(&format!("k has more than {values_alone} JSON values")),
            "{e}"
        );
        assert!(e.0.contains("a key 2"), "{e}");
    }
}
