//! Latency histograms as text, so a JSON report carries them whole: HdrHistogram's
//! compressed V2 encoding (`V2DeflateSerializer`, what HdrHistogram's interval logs hold),
//! then base64 (standard alphabet, padded). Percentiles cannot be averaged across runs;
//! histograms can be added exactly, which is what `shout report --merge` does.
//!
//! Below both `bench` (writes them) and `report` (reads them).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

/// The name of the encoding, as the JSON report states it.
pub const ENCODING: &str = "hdrhistogram-v2-deflate-base64";

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

/// The histogram that [`encode`] made `text` from.
pub fn decode(text: &str) -> anyhow::Result<Histogram<u64>> {
    let bytes = STANDARD
        .decode(text.trim())
        .map_err(|e| anyhow::anyhow!("histogram is not base64: {e}"))?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| anyhow::anyhow!("histogram cannot be decoded: {e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values: &[u64]) -> Histogram<u64> {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for &v in values {
            h.record(v).unwrap();
        }
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
}
