//! How a `shout` command ended, and the exit code of each ending: the one place exit codes
//! are defined. The prompt, pipe mode, `shout bench` and the packaging tools all map the way
//! they ended into an [`Outcome`]; `main` returns its code.

use std::process::ExitCode;

use crate::connect::ConnectError;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything was sent and answered exactly (exit code 0).
    Success,
    /// Something failed once connected: a connection reset or closed early, an I/O error, or
    /// (bench) an answer wrong or missing (exit code 1).
    Failed,
    /// A usage error, or the server could not be reached at all (or its TLS refused us, for
    /// want of a client certificate it accepts); for the bench, connections
    /// that could not be set up or a run that could not start (exit code 2).
    UsageOrConnect,
    /// The bench was stopped early by this signal (or as by Ctrl-C), its answers otherwise
    /// exact: exit code 128 + the signal's number, as shells report a death by signal (130 for
    /// Ctrl-C, 143 for `SIGTERM`).
    Stopped(i32),
}

impl Outcome {
    /// The process exit code.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Success => 0,
            Outcome::Failed => 1,
            Outcome::UsageOrConnect => 2,
            // Signal numbers are small; one beyond an exit code's range is still no success.
            Outcome::Stopped(signal) => u8::try_from(128 + signal).unwrap_or(1),
        }
    }

    /// The ending of a chat (prompt or pipe) that failed with `e`: connecting failed, or
    /// something after it did.
    pub fn of_error(e: &anyhow::Error) -> Outcome {
        if e.is::<ConnectError>()
            || e.is::<crate::tls::TlsSetupError>()
            || e.is::<crate::stream::TlsRefused>()
        {
            Outcome::UsageOrConnect
        } else {
            Outcome::Failed
        }
    }

    /// The ending of a bench run: connections that could not be set up outrank wrong or
    /// missing answers.
    pub fn of_bench(answers_ok: bool, setup_failed: bool) -> Outcome {
        if setup_failed {
            Outcome::UsageOrConnect
        } else if answers_ok {
            Outcome::Success
        } else {
            Outcome::Failed
        }
    }
}

impl From<Outcome> for ExitCode {
    fn from(outcome: Outcome) -> ExitCode {
        ExitCode::from(outcome.exit_code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connect error is a 2, any other error a 1.
    #[test]
    fn chat_errors() {
        let refused = ConnectError {
            addr: "x".into(),
            source: std::io::ErrorKind::ConnectionRefused.into(),
            timeout: std::time::Duration::from_secs(1),
        };
        let e = anyhow::Error::from(refused).context("while starting");
        assert_eq!(Outcome::of_error(&e).exit_code(), 2);
        let e = anyhow::anyhow!("connection lost");
        assert_eq!(Outcome::of_error(&e).exit_code(), 1);
        // Refused by mutual TLS after the handshake: as a failed handshake, a 2.
        let refused = crate::stream::TlsRefused(rustls::AlertDescription::CertificateRequired);
        let e = crate::stream::lost(
            std::io::Error::new(std::io::ErrorKind::PermissionDenied, refused),
            "connection lost while receiving",
        );
        assert_eq!(Outcome::of_error(&e).exit_code(), 2);
        assert_eq!(
            e.to_string(),
            "the server requires a client certificate (--tls-cert/--tls-key)"
        );
    }

    /// Setup failures win over wrong answers; only a clean run is a 0.
    #[test]
    fn bench_endings() {
        assert_eq!(Outcome::of_bench(true, false), Outcome::Success);
        assert_eq!(Outcome::of_bench(false, false), Outcome::Failed);
        assert_eq!(Outcome::of_bench(false, true), Outcome::UsageOrConnect);
        assert_eq!(Outcome::of_bench(true, true), Outcome::UsageOrConnect);
    }
}
