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

/// Packaging helpers of both binaries, generated from their clap definitions.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Tool {
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Man,
}

/// Writes what `tool` asks for to stdout, for `command` (the binary's clap definition).
pub fn print_tool(tool: &Tool, mut command: clap::Command) -> std::io::Result<()> {
    let name = command.get_name().to_owned();
    let mut out = std::io::stdout().lock();
    match tool {
        Tool::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(*shell, &mut command, name, &mut buf);
            std::io::Write::write_all(&mut out, &buf)
        }
        Tool::Man => clap_mangen::Man::new(command).render(&mut out),
    }
    // A reader that stopped early (`| head`) is not an error.
    .or_else(|e| match e.kind() {
        std::io::ErrorKind::BrokenPipe => Ok(()),
        _ => Err(e),
    })
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
