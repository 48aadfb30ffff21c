//! The `--hdr-log` file: the latency histogram of each second in HdrHistogram's interval log
//! format, written as the run goes (one line a second, flushed), so a run that ends badly or
//! is watched live (`tail -f`) has every second it measured on disk.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::time::SystemTime;

use hdrhistogram::serialization::interval_log::IntervalLogWriterBuilder;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;

use crate::histcodec;

/// Values are microseconds; the log's `Interval_Max` column is in seconds.
const MAX_VALUE_DIVISOR: f64 = 1e6;

/// An interval log being written.
#[derive(Debug)]
pub struct HdrLog {
    out: BufWriter<File>,
}

impl HdrLog {
    /// Starts the log in `file` (created for it before the run, see
    /// [`super::outputs::prepare`]) for a run that started at `started_at`: writes its header.
    pub fn start(file: File, started_at: SystemTime) -> anyhow::Result<HdrLog> {
        let mut out = BufWriter::new(file);
        let mut serializer = V2DeflateSerializer::new();
        IntervalLogWriterBuilder::new()
            .add_comment("shout bench latency log, values in microseconds")
            .with_start_time(started_at)
            .with_base_time(started_at)
            .with_max_value_divisor(MAX_VALUE_DIVISOR)
            .begin_log_with(&mut out, &mut serializer)?;
        out.flush()?;
        Ok(HdrLog { out })
    }

    /// Writes the histogram of second `i` since the start, and flushes it to the file. The
    /// line is the one the crate's `IntervalLogWriter` writes (start, length, max, then the
    /// compressed histogram in base64), which cannot be kept between seconds: it borrows its
    /// writer.
    pub fn interval(&mut self, i: usize, hist: &Histogram<u64>) -> anyhow::Result<()> {
        writeln!(
            self.out,
            "{:.3},{:.3},{:.3},{}",
            i as f64,
            1.0,
            hist.max() as f64 / MAX_VALUE_DIVISOR,
            histcodec::encode(hist)
        )?;
        self.out.flush()?;
        Ok(())
    }

    /// Writes a comment line (`#` and `text`), flushed.
    pub fn comment(&mut self, text: &str) -> anyhow::Result<()> {
        writeln!(self.out, "#{text}")?;
        self.out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    /// Each interval is on disk as soon as it is written, and the file reads back as an
    /// interval log with the histograms recorded.
    #[test]
    fn intervals_are_on_disk_at_once() {
        let path = std::env::temp_dir().join(format!("shout-hdrlog-{}.hlog", std::process::id()));
        let file = File::create(&path).expect("create");
        let mut log = HdrLog::start(file, SystemTime::now()).expect("start");
        let mut hist = crate::bench::series::new_histogram();
        hist.record(12_000).expect("in range");
        log.interval(0, &hist).expect("write");
        hist.record(2_000_000).expect("in range");
        log.interval(1, &hist).expect("write");
        log.comment("stopped early").expect("write");
        let text = std::fs::read(&path).expect("read");
        let _ = std::fs::remove_file(&path);
        let intervals: Vec<(f64, u64)> = IntervalLogIterator::new(&text)
            .filter_map(|e| match e.expect("parses") {
                LogEntry::Interval(h) => Some((
                    h.max(),
                    histcodec::decode(h.encoded_histogram())
                        .expect("decodes")
                        .len(),
                )),
                _ => None,
            })
            .collect();
        assert_eq!(intervals.len(), 2, "{intervals:?}");
        assert_eq!(intervals[0], (0.012, 1));
        assert!((intervals[1].0 - 2.0).abs() < 0.01, "{intervals:?}");
        assert_eq!(intervals[1].1, 2);
        assert!(String::from_utf8_lossy(&text).ends_with("#stopped early\n"));
    }
}
