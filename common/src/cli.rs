//! Command-line helpers shared by `shoutd` and `shout` (feature `cli`).

use std::time::Duration;

/// Parses a duration in human form (`30s`, `5m`, `1h 30m`, `250ms`); a bare `0` is zero.
///
/// Used as a clap `value_parser`, so both binaries accept the same spellings.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(s).map_err(|e| format!("'{s}' is not a duration like 30s or 5m: {e}"))
}

/// Raises the soft open-file limit to the hard limit; returns the new soft limit. Both
/// binaries do this at start: shoutd for its connections, `shout bench` for its clients.
pub fn raise_nofile_limit() -> std::io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// Formats a duration the way [`parse_duration`] reads it (for help texts and logs).
pub fn format_duration(d: Duration) -> String {
    if d.is_zero() {
        "0".to_owned()
    } else {
        humantime::format_duration(d).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Human durations parse, zero means zero, and junk is refused with a clear message.
    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("soon").unwrap_err().contains("30s"));
        assert_eq!(format_duration(Duration::from_secs(300)), "5m");
        assert_eq!(format_duration(Duration::ZERO), "0");
    }
}
