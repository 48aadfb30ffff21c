//! Why bench connections failed: the error of each failed connection attempt and of each
//! connection that died in use, counted by kind, with a hint for the kinds an operator can do
//! something about (a port range exhausted by `TIME_WAIT`, nothing listening, no descriptors,
//! a server certificate from a CA the bench does not trust).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;

use rustix::io::Errno;
use serde_json::Value;

/// Why a connection attempt failed or a connection in use ended.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// An operating-system error, by its `errno`.
    Os(i32),
    /// An error without an `errno`, by its kind.
    Kind(io::ErrorKind),
    /// The connection was not established within `--timeout`.
    ConnectTimeout,
    /// The server ended the connection (end of stream) while it was in use.
    ClosedByServer,
    /// An answer did not come within `--timeout` and `--reconnect` gave the connection up.
    AnswerTimeout,
    /// The server refused the connection with its busy line (`ERR server busy`): it is at its
    /// connection limit, in all or for this address.
    Busy,
    /// TLS went wrong: the handshake failed (a certificate not trusted, an alert from the
    /// server), a record could not be decrypted, or the connection ended without close_notify.
    /// The text says which, in rustls' words (such as `TLS handshake failed: invalid peer
    /// certificate: UnknownIssuer`).
    Tls(String),
}

impl Reason {
    /// The reason of `e`.
    pub fn of(e: &io::Error) -> Reason {
        match e.raw_os_error() {
            Some(errno) => Reason::Os(errno),
            None => Reason::Kind(e.kind()),
        }
    }

    /// A short name for the report, such as `connection refused`.
    pub fn label(&self) -> String {
        match self {
            Reason::Os(errno) => {
                let errno = *errno;
                let e = Errno::from_raw_os_error(errno);
                // The commonest ones by name, so they can be looked up; the rest as the system
                // describes them.
                let known = [
                    (Errno::CONNREFUSED, "connection refused"),
                    (Errno::CONNRESET, "connection reset"),
                    (
                        Errno::ADDRNOTAVAIL,
                        "no free local address or port (EADDRNOTAVAIL)",
                    ),
                    (Errno::TIMEDOUT, "connection timed out (ETIMEDOUT)"),
                    (Errno::MFILE, "too many open files (EMFILE)"),
                    (Errno::NFILE, "too many open files in the system (ENFILE)"),
                    (Errno::NETUNREACH, "network unreachable"),
                    (Errno::HOSTUNREACH, "host unreachable"),
                    (Errno::PIPE, "broken pipe"),
                ];
                match known.iter().find(|(k, _)| *k == e) {
                    Some((_, label)) => (*label).to_owned(),
                    None => describe(&io::Error::from_raw_os_error(errno)),
                }
            }
            Reason::Kind(kind) => describe(&io::Error::from(*kind)),
            Reason::ConnectTimeout => "not connected within --timeout".to_owned(),
            Reason::ClosedByServer => "closed by the server".to_owned(),
            Reason::AnswerTimeout => "no answer within --timeout (reconnected)".to_owned(),
            Reason::Busy => "refused by the server: busy (ERR server busy)".to_owned(),
            Reason::Tls(text) => text.clone(),
        }
    }

    /// What to do about it, for the reasons that have a usual cause.
    pub fn hint(&self) -> Option<&'static str> {
        let &Reason::Os(errno) = self else {
            return match self {
                Reason::ConnectTimeout => Some(
                    "connections were not accepted in time: the server's accept queue may be \
                     full (its --backlog, net.core.somaxconn) or it is unreachable; \
                     --connect-rate ramps connections up",
                ),
                Reason::Busy => Some(
                    "the server is at its connection limit (shoutd --max-connections or \
                     --max-connections-per-ip): use fewer connections or raise the limit; \
                     --reconnect tries again after a backoff",
                ),
                Reason::Tls(text) if text.contains("UnknownIssuer") => Some(
                    "the server's certificate is not signed by a CA the bench trusts: give its \
                     CA with --tls-ca FILE",
                ),
                Reason::Tls(text) if text.contains("NotValidForName") => Some(
                    "the server's certificate is for another name: --tls-server-name NAME \
                     gives the name to expect",
                ),
                Reason::Tls(text) if text.contains("CertificateRequired") => Some(
                    "the server requires a client certificate: give one with --tls-cert FILE \
                     --tls-key FILE",
                ),
                _ => None,
            };
        };
        let e = Errno::from_raw_os_error(errno);
        if e == Errno::ADDRNOTAVAIL {
            Some(
                "the local ports ran out: connections of an earlier run may still be in \
                 TIME_WAIT (about a minute; `ss -s` counts them): wait for them to go, widen \
                 the range (sysctl -w net.ipv4.ip_local_port_range=\"1024 65535\"), or spread \
                 the load over more server addresses",
            )
        } else if e == Errno::CONNREFUSED {
            Some("nothing listens at the address: is shoutd running?")
        } else if e == Errno::MFILE || e == Errno::NFILE {
            Some("out of file descriptors: raise the limit (ulimit -n) or use fewer connections")
        } else {
            None
        }
    }
}

/// `e` as the system describes it, lower case, without the `(os error N)` suffix.
fn describe(e: &io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or_default();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "unknown error".to_owned(),
    }
}

/// Counts by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally(BTreeMap<Reason, u64>);

impl Tally {
    /// Counts one more `reason`.
    pub fn add(&mut self, reason: Reason) {
        *self.0.entry(reason).or_default() += 1;
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &Tally) {
        for (reason, &n) in &other.0 {
            *self.0.entry(reason.clone()).or_default() += n;
        }
    }

    /// Nothing counted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The count of `reason`.
    pub fn get(&self, reason: &Reason) -> u64 {
        self.0.get(reason).copied().unwrap_or(0)
    }

    /// The reasons and counts, most frequent first.
    pub fn by_count(&self) -> Vec<(Reason, u64)> {
        let mut all: Vec<(Reason, u64)> = self.0.iter().map(|(r, &n)| (r.clone(), n)).collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        all
    }

    /// One line: `connection refused 50, connection reset 2`.
    pub fn line(&self) -> String {
        let mut s = String::new();
        for (i, (reason, n)) in self.by_count().into_iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            let _ = write!(s, "{sep}{} {n}", reason.label());
        }
        s
    }

    /// A JSON object from label to count.
    pub fn json(&self) -> Value {
        let map = self
            .by_count()
            .into_iter()
            .map(|(reason, n)| (reason.label(), Value::from(n)))
            .collect();
        Value::Object(map)
    }

    /// The hints for the reasons counted, once each.
    pub fn hints(&self) -> Vec<&'static str> {
        let mut hints: Vec<&'static str> = Vec::new();
        for (reason, _) in self.by_count() {
            if let Some(hint) = reason.hint() {
                if !hints.contains(&hint) {
                    hints.push(hint);
                }
            }
        }
        hints
    }
}

/// Failed connection attempts and connections that died in use, by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Failures {
    /// Connection attempts that failed (as counted in `connect_failures`).
    pub connect: Tally,
    /// Connections that ended while in use (as counted in `conn_errors`).
    pub closed: Tally,
}

impl Failures {
    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &Failures) {
        self.connect.merge(&other.connect);
        self.closed.merge(&other.closed);
    }

    /// The hints for every reason counted, once each.
    pub fn hints(&self) -> Vec<&'static str> {
        let mut hints = self.connect.hints();
        for hint in self.closed.hints() {
            if !hints.contains(&hint) {
                hints.push(hint);
            }
        }
        hints
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(e: Errno) -> Reason {
        Reason::Os(e.raw_os_error())
    }

    /// Common errors get short names; others the system's words without "(os error N)".
    #[test]
    fn labels() {
        assert_eq!(os(Errno::CONNREFUSED).label(), "connection refused");
        assert!(os(Errno::ADDRNOTAVAIL).label().contains("EADDRNOTAVAIL"));
        let other = os(Errno::ACCESS).label();
        assert!(!other.contains("os error"), "{other}");
        assert!(other.starts_with(char::is_lowercase), "{other}");
        assert_eq!(Reason::ClosedByServer.label(), "closed by the server");
        let refused = io::Error::from_raw_os_error(Errno::CONNREFUSED.raw_os_error());
        assert_eq!(Reason::of(&refused), os(Errno::CONNREFUSED));
    }

    /// Address exhaustion and refusals come with a hint; each hint is given once.
    #[test]
    fn hints_once_each() {
        let mut tally = Tally::default();
        tally.add(os(Errno::ADDRNOTAVAIL));
        tally.add(os(Errno::ADDRNOTAVAIL));
        tally.add(os(Errno::CONNREFUSED));
        tally.add(Reason::ClosedByServer);
        let hints = tally.hints();
        assert_eq!(hints.len(), 2, "{hints:?}");
        assert!(hints[0].contains("ip_local_port_range"), "{hints:?}");
        assert!(hints[0].contains("TIME_WAIT"), "{hints:?}");
        assert!(hints[1].contains("is shoutd running"), "{hints:?}");
    }

    /// Counts merge, and print most frequent first.
    #[test]
    fn merge_and_line() {
        let mut a = Tally::default();
        a.add(os(Errno::CONNREFUSED));
        let mut b = Tally::default();
        b.add(os(Errno::CONNRESET));
        b.add(os(Errno::CONNRESET));
        a.merge(&b);
        assert_eq!(a.line(), "connection reset 2, connection refused 1");
        assert_eq!(a.get(&os(Errno::CONNRESET)), 2);
        assert_eq!(a.json()["connection refused"], 1);
    }

    /// TLS failures are counted by rustls' words, and the ones an option fixes get a hint.
    #[test]
    fn tls_reasons() {
        let mut tally = Tally::default();
        let untrusted =
            Reason::Tls("TLS handshake failed: invalid peer certificate: UnknownIssuer".into());
        tally.add(untrusted.clone());
        tally.add(untrusted.clone());
        tally.add(Reason::Tls(
            "TLS error: received fatal alert: CertificateRequired".into(),
        ));
        assert_eq!(tally.get(&untrusted), 2);
        assert_eq!(
            tally.line(),
            "TLS handshake failed: invalid peer certificate: UnknownIssuer 2, \
             TLS error: received fatal alert: CertificateRequired 1"
        );
        let hints = tally.hints();
        assert_eq!(hints.len(), 2, "{hints:?}");
        assert!(hints[0].contains("--tls-ca"), "{hints:?}");
        assert!(hints[1].contains("--tls-cert"), "{hints:?}");
    }
}
