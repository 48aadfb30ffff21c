//! Latency histograms as text, so a JSON report carries them whole: HdrHistogram's
//! compressed V2 encoding (`V2DeflateSerializer`, what HdrHistogram's interval logs hold),
//! then base64 (standard alphabet, padded). Percentiles cannot be averaged across runs;
//! histograms can be added exactly, which is what `shout report --merge` does.
//!
//! Report files come from anywhere, so [`decode`] checks what hdrhistogram would trust before
//! it allocates anything of the size a header claims: the text's length, the inflated size
//! ([`MAX_DECODED_BYTES`], inflated through a bounded reader) and the bounds of the histogram
//! ([`LOWEST`], [`MAX_HIGHEST`], [`MAX_DIGITS`]), so that no histogram takes more than about
//! 200 KiB however it was made.
//!
//! Below both `bench` (writes them) and `report` (reads them).

use std::io::Read as _;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use flate2::read::ZlibDecoder;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

/// The name of the encoding, as the JSON report states it.
pub const ENCODING: &str = "hdrhistogram-v2-deflate-base64";

/// The lowest discernible value a histogram must have (1 µs, as the bench writes).
pub const LOWEST: u64 = 1;

/// The highest trackable value a histogram may have: 2^33 - 1 µs (2 hours 23 minutes), the
/// end of the bucket that holds 2^32. HdrHistogram rounds a histogram's range up to the end of
/// a bucket, so a header of 2^32 already holds values up to 2^33 - 1, and a sum of histograms
/// grows its range to the largest value it holds: this cap is the range of the widest
/// histogram it admits, so whatever is read, added and written back reads again (a header of
/// 2^33 - 1 takes the same memory as one of 2^32). The bench writes an hour (3,600,000,000 µs).
pub const MAX_HIGHEST: u64 = (1 << 33) - 1;

/// The most significant digits a histogram may have (the bench writes 3): each digit more
/// takes ten times the memory, and 5 digits with the highest value 2^64-1 take 48 MiB.
pub const MAX_DIGITS: u8 = 3;

/// The most a histogram's V2 encoding may take once inflated: its 40-byte header and at most
/// 9 bytes for each of the 24,576 counts of the widest accepted bounds (216 KiB), rounded up.
/// A larger one is refused before it is decoded.
pub const MAX_DECODED_BYTES: usize = 256 * 1024;

/// The most base64 text a histogram may take: its compressed form is at most a little larger
/// than [`MAX_DECODED_BYTES`] (deflate's stored blocks), and base64 is 4/3 of that.
pub const MAX_TEXT_BYTES: usize = (MAX_DECODED_BYTES + 4096) / 3 * 4;

/// The cookie of HdrHistogram's V2 encoding.
const V2_COOKIE: u32 = 0x1c84_9313;

/// The cookie of its compressed form: the V2 encoding deflated, after its compressed length.
const V2_COMPRESSED_COOKIE: u32 = 0x1c84_9314;

/// Bytes of the V2 header: cookie, payload length, normalizing offset, significant digits,
/// lowest and highest value, integer-to-double ratio.
const V2_HEADER: usize = 40;

/// Why a histogram's text was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum DecodeError {
    /// The text is not base64.
    NotBase64(String),
    /// Larger than any accepted histogram (text, or once inflated): refused before decoding.
    TooLarge(String),
    /// Bounds outside the accepted range (they decide how much the histogram takes).
    Bounds {
        /// The lowest discernible value the header gives.
        lowest: u64,
        /// The highest trackable value.
        highest: u64,
        /// Significant digits.
        digits: u32,
    },
    /// Not a compressed V2 histogram, or a damaged one.
    Malformed(String),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::NotBase64(e) => write!(f, "histogram is not base64: {e}"),
            DecodeError::TooLarge(what) => write!(
                f,
                "histogram refused: {what}, more than any histogram shout reads (at most {} KiB \
                 decoded)",
                MAX_DECODED_BYTES / 1024
            ),
            DecodeError::Bounds {
                lowest,
                highest,
                digits,
            } => write!(
                f,
                "histogram refused: bounds {lowest} to {highest} with {digits} significant digits; \
                 shout reads lowest value {LOWEST}, highest value up to {MAX_HIGHEST} and 1 to \
                 {MAX_DIGITS} significant digits (the bench writes 1 to 3600000000 with 3)"
            ),
            DecodeError::Malformed(e) => write!(f, "histogram cannot be decoded: {e}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// `hist` as base64 text of its compressed V2 encoding.
pub fn encode(hist: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    // Writing into a Vec fails only if the histogram cannot be encoded at all (counts past
    // i64::MAX), which recorded latencies never reach; an empty string then decodes as an
    // error rather than as wrong figures.
    match V2DeflateSerializer::new().serialize(hist, &mut bytes) {
        Ok(_) => STANDARD.encode(bytes),
        Err(_) => String::new(),
    }
}

/// The big-endian u32 at `at` of `b` (which the caller made long enough).
fn be_u32(b: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(word)
}

/// The big-endian u64 at `at` of `b` (which the caller made long enough).
fn be_u64(b: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(word)
}

/// Checks the bounds in the V2 header `h` (at least [`V2_HEADER`] bytes) against the accepted
/// range, and its payload length against the `payload` bytes that follow it.
fn check_header(h: &[u8], payload: usize) -> Result<(), DecodeError> {
    if be_u32(h, 0) != V2_COOKIE {
        return Err(DecodeError::Malformed(
            "the inflated data is not a V2 histogram".into(),
        ));
    }
    let claimed = be_u32(h, 4) as usize;
    if claimed != payload {
        return Err(DecodeError::Malformed(format!(
            "its header claims {claimed} bytes of counts, it has {payload}"
        )));
    }
    let (digits, lowest, highest) = (be_u32(h, 12), be_u64(h, 16), be_u64(h, 24));
    if lowest != LOWEST
        || !(2..=MAX_HIGHEST).contains(&highest)
        || !(1..=u32::from(MAX_DIGITS)).contains(&digits)
    {
        return Err(DecodeError::Bounds {
            lowest,
            highest,
            digits,
        });
    }
    Ok(())
}

/// Checks that no count of the V2 `payload` is the one zig-zag value (i64::MIN) whose
/// negation overflows in hdrhistogram's decoder (a panic in a debug build).
fn check_counts(payload: &[u8]) -> Result<(), DecodeError> {
    let mut rest = payload;
    while !rest.is_empty() {
        // LEB128 of at most 9 bytes: 8 of 7 bits, then one whole byte.
        let mut value: u64 = 0;
        let mut used = 0;
        for (i, &b) in rest.iter().take(9).enumerate() {
            used = i + 1;
            if i == 8 {
                value |= u64::from(b) << 56;
                break;
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                break;
            }
        }
        if value == u64::MAX {
            return Err(DecodeError::Malformed("a count is out of range".into()));
        }
        rest = &rest[used..];
    }
    Ok(())
}

/// What `inflater` yields, refused once it is more than `cap` bytes: at most `cap + 1` bytes
/// are ever asked of it, however much its input would inflate to (a deflate bomb).
fn inflate(inflater: impl std::io::Read, cap: usize) -> Result<Vec<u8>, DecodeError> {
    let mut inflated = Vec::new();
    inflater
        .take(cap as u64 + 1)
        .read_to_end(&mut inflated)
        .map_err(|e| DecodeError::Malformed(format!("not deflate data: {e}")))?;
    if inflated.len() > cap {
        return Err(DecodeError::TooLarge(format!(
            "it inflates to more than {cap} bytes"
        )));
    }
    Ok(inflated)
}

#[cfg(test)]
thread_local! {
    /// Calls of [`decode`] on this thread: tests count what a command decodes.
    pub(crate) static DECODES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The histogram that [`encode`] made `text` from; refused (before anything of the size it
/// claims is allocated) when larger than [`MAX_DECODED_BYTES`] inflated or with bounds
/// outside the accepted range.
pub fn decode(text: &str) -> Result<Histogram<u64>, DecodeError> {
    #[cfg(test)]
    DECODES.with(|n| n.set(n.get() + 1));
    let text = text.trim();
    if text.len() > MAX_TEXT_BYTES {
        return Err(DecodeError::TooLarge(format!(
            "{} bytes of text",
            text.len()
        )));
    }
    let bytes = STANDARD
        .decode(text)
        .map_err(|e| DecodeError::NotBase64(e.to_string()))?;
    if bytes.len() < 8 || be_u32(&bytes, 0) != V2_COMPRESSED_COOKIE {
        return Err(DecodeError::Malformed(
            "not a compressed V2 histogram (wrong cookie)".into(),
        ));
    }
    let compressed = be_u32(&bytes, 4) as usize;
    if compressed != bytes.len() - 8 {
        return Err(DecodeError::Malformed(format!(
            "its header claims {compressed} compressed bytes, it has {}",
            bytes.len() - 8
        )));
    }
    let inflated = inflate(ZlibDecoder::new(&bytes[8..]), MAX_DECODED_BYTES)?;
    if inflated.len() < V2_HEADER {
        return Err(DecodeError::Malformed("shorter than its header".into()));
    }
    check_header(&inflated, inflated.len() - V2_HEADER)?;
    check_counts(&inflated[V2_HEADER..])?;
    Deserializer::new()
        .deserialize(&mut inflated.as_slice())
        .map_err(|e| DecodeError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::V2Serializer;
    use std::io::Write as _;

    fn hist(values: &[u64]) -> Histogram<u64> {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for &v in values {
            h.record(v).unwrap();
        }
        h
    }

    /// `inner` (a V2 encoding, or anything) deflated and framed as the compressed V2 form.
    fn framed(inner: &[u8]) -> String {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(inner).unwrap();
        let deflated = z.finish().unwrap();
        let mut out = V2_COMPRESSED_COOKIE.to_be_bytes().to_vec();
        out.extend_from_slice(&(deflated.len() as u32).to_be_bytes());
        out.extend_from_slice(&deflated);
        STANDARD.encode(out)
    }

    /// A V2 header with these bounds and payload length.
    fn header(payload: u32, digits: u32, low: u64, high: u64) -> Vec<u8> {
        let mut h = V2_COOKIE.to_be_bytes().to_vec();
        h.extend_from_slice(&payload.to_be_bytes());
        h.extend_from_slice(&0u32.to_be_bytes());
        h.extend_from_slice(&digits.to_be_bytes());
        h.extend_from_slice(&low.to_be_bytes());
        h.extend_from_slice(&high.to_be_bytes());
        h.extend_from_slice(&1f64.to_be_bytes());
        h
    }

    #[test]
    fn round_trip_is_exact() {
        let h = hist(&[1, 2, 3, 150, 150, 9_999, 1_000_000, 3_000_000_000]);
        let back = decode(&encode(&h)).unwrap();
        assert_eq!(back.len(), h.len());
        for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(back.value_at_quantile(q), h.value_at_quantile(q), "q={q}");
        }
        assert_eq!(back.max(), h.max());
        assert_eq!(back.min(), h.min());
    }

    #[test]
    fn empty_round_trips() {
        let back = decode(&encode(&hist(&[]))).unwrap();
        assert_eq!(back.len(), 0);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(decode("not base64!").is_err());
        assert!(decode("aGVsbG8=").is_err());
    }

    /// The bench's own histograms, full to the top, fit the caps: the widest accepted bounds
    /// with every count as long as a count can be encoded stay within `MAX_DECODED_BYTES`, and
    /// a sum of the bench's histograms (grown to its largest value) still decodes.
    #[test]
    fn the_caps_hold_every_histogram_the_bench_writes() {
        let mut widest = Histogram::<u64>::new_with_bounds(LOWEST, MAX_HIGHEST, MAX_DIGITS)
            .expect("the widest accepted bounds are valid");
        let values: Vec<u64> = widest.iter_all().map(|v| v.value_iterated_to()).collect();
        assert!(values.len() >= 24_000, "{} counts", values.len());
        for v in values {
            widest.record_n(v, 1 << 62).unwrap();
        }
        let mut raw = Vec::new();
        V2Serializer::new().serialize(&widest, &mut raw).unwrap();
        assert!(raw.len() <= MAX_DECODED_BYTES, "{} bytes", raw.len());
        let text = encode(&widest);
        assert!(text.len() <= MAX_TEXT_BYTES, "{} bytes of text", text.len());
        assert_eq!(decode(&text).unwrap().len(), widest.len());

        let bench = crate::bench::series::new_histogram();
        let mut sum = Histogram::new_from(&bench);
        sum.auto(true);
        sum.record(bench.high()).unwrap();
        sum.record(u64::from(u32::MAX)).unwrap();
        assert!(decode(&encode(&sum)).is_ok(), "high {}", sum.high());
    }

    /// What is read can be added and written back, and reads again: every accepted header
    /// holds no value above `MAX_HIGHEST` (HdrHistogram rounds its range up to the end of a
    /// bucket), so a sum of accepted histograms, grown to hold their largest value by either
    /// way hdrhistogram grows one (adding, recording), has bounds that are accepted too.
    #[test]
    fn what_is_read_and_added_is_written_readable() {
        for digits in 1..=MAX_DIGITS {
            let widest = Histogram::<u64>::new_with_bounds(LOWEST, MAX_HIGHEST, digits).unwrap();
            let top = widest.iter_all().last().unwrap().value_iterated_to();
            assert!(top <= MAX_HIGHEST, "{digits} digits hold up to {top}");
        }
        // The largest value an accepted histogram holds, read from a file (as `--merge` does).
        let mut full = Histogram::<u64>::new_with_bounds(LOWEST, 1 << 32, MAX_DIGITS).unwrap();
        let top = full.iter_all().last().unwrap().value_iterated_to();
        full.record(top).unwrap();
        let read = decode(&encode(&full)).expect("accepted");
        assert_eq!(read.max(), top);
        // Added to the bench's own histogram, which must grow to hold it.
        let bench = crate::bench::series::new_histogram();
        let mut sum = None;
        crate::report::digest::add_into(&mut sum, &bench);
        crate::report::digest::add_into(&mut sum, &read);
        let sum = sum.unwrap();
        assert!(sum.high() > bench.high(), "grown to {}", sum.high());
        assert!(decode(&encode(&sum)).is_ok(), "sum's high {}", sum.high());
        // Recorded into it.
        let mut grown = Histogram::new_from(&bench);
        grown.auto(true);
        grown.record(top).unwrap();
        assert!(
            decode(&encode(&grown)).is_ok(),
            "grown's high {}",
            grown.high()
        );
    }

    /// A header claiming 0xFFFFFFFF bytes of counts is refused, not trusted (hdrhistogram
    /// reserves what it claims).
    #[test]
    fn a_claimed_payload_beyond_the_data_is_refused() {
        let text = framed(&header(u32::MAX, 3, 1, 3_600_000_000));
        match decode(&text) {
            Err(DecodeError::Malformed(e)) => assert!(e.contains("4294967295"), "{e}"),
            other => panic!("{other:?}"),
        }
        // The outer length too.
        let mut bytes = STANDARD.decode(encode(&hist(&[5]))).unwrap();
        bytes[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            decode(&STANDARD.encode(bytes)),
            Err(DecodeError::Malformed(_))
        ));
    }

    /// Counts the bytes read through it.
    struct Counted<R> {
        inner: R,
        read: usize,
    }

    impl<R: std::io::Read> std::io::Read for Counted<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.read += n;
            Ok(n)
        }
    }

    /// A deflate bomb stops at the cap: 64 MiB of zeros (64 KiB compressed) is refused having
    /// inflated no more than `MAX_DECODED_BYTES + 1` bytes; a longer text is refused unread.
    #[test]
    fn a_deflate_bomb_is_refused_at_the_cap() {
        let mut inner = header(64 << 20, 3, 1, 3_600_000_000);
        inner.resize(64 << 20, 0);
        let text = framed(&inner);
        assert!(text.len() < MAX_TEXT_BYTES, "{} bytes", text.len());
        match decode(&text) {
            Err(DecodeError::TooLarge(e)) => assert!(e.contains("inflates to more than"), "{e}"),
            other => panic!("{other:?}"),
        }
        let bytes = STANDARD.decode(&text).unwrap();
        let mut counted = Counted {
            inner: ZlibDecoder::new(&bytes[8..]),
            read: 0,
        };
        assert!(matches!(
            inflate(&mut counted, MAX_DECODED_BYTES),
            Err(DecodeError::TooLarge(_))
        ));
        assert!(
            counted.read <= MAX_DECODED_BYTES + 1,
            "{} bytes inflated",
            counted.read
        );
        let long = "A".repeat(MAX_TEXT_BYTES + 4);
        match decode(&long) {
            Err(e @ DecodeError::TooLarge(_)) => {
                assert!(e.to_string().contains("bytes of text"), "{e}")
            }
            other => panic!("{other:?}"),
        }
    }

    /// Bounds that would take tens of MiB (5 digits up to 2^64-1), or outside what the bench
    /// writes, are refused from the header, before a histogram is made.
    #[test]
    fn bounds_outside_the_range_are_refused() {
        for (digits, low, high) in [
            (5, 1, u64::MAX),
            (4, 1, 3_600_000_000),
            (3, 1, MAX_HIGHEST + 1),
            (3, 1000, 3_600_000_000),
            (0, 1, 3_600_000_000),
        ] {
            let text = framed(&header(0, digits, low, high));
            match decode(&text) {
                Err(e @ DecodeError::Bounds { .. }) => {
                    let msg = e.to_string();
                    assert!(
                        msg.contains(&format!("{digits} significant digits")),
                        "{msg}"
                    );
                }
                other => panic!("{digits} {low} {high}: {other:?}"),
            }
        }
        // Within the range, an empty histogram decodes.
        assert!(decode(&framed(&header(0, 2, 1, 1_000_000))).is_ok());
    }

    /// A count encoded as u64::MAX (zig-zag i64::MIN) is refused rather than negated.
    #[test]
    fn a_count_out_of_range_is_refused() {
        let mut inner = header(9, 3, 1, 3_600_000_000);
        inner.extend_from_slice(&[0xff; 9]);
        match decode(&framed(&inner)) {
            Err(DecodeError::Malformed(e)) => assert!(e.contains("out of range"), "{e}"),
            other => panic!("{other:?}"),
        }
    }
}
