//! The PROXY protocol (`--proxy-protocol`), as HAProxy's `send-proxy` (v1, text) and
//! `send-proxy-v2` (binary) send it: which peers may send a header (`--proxy-from`), and a
//! sans-IO reader that takes the header's bytes as they arrive and gives the client address.
//! The parsing itself is the `ppp` crate's.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use ppp::{v1, v2, HeaderResult, PartialResult};

/// The longest header accepted: a v1 header is at most 107 bytes; a v2 header is 16 bytes plus
/// addresses (at most 216) plus optional TLVs, which HAProxy sends only when told to. Longer
/// is refused, so a peer cannot make a connection buffer more.
pub const MAX_HEADER: usize = 16 + 216 + 256;

/// The longest v1 header, CRLF included.
const V1_MAX: usize = 107;

/// The default time a peer gets to send the whole header.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// The ranges `--proxy-from` allows by default: loopback only.
pub fn default_from() -> Vec<IpNet> {
    vec![
        "127.0.0.0/8".parse().expect("a valid range"),
        "::1/128".parse().expect("a valid range"),
    ]
}

/// The PROXY protocol settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyConfig {
    /// Peers that may (and must) send a header; connections from elsewhere are closed.
    pub from: Vec<IpNet>,
    /// Time from accept to a complete header.
    pub header_timeout: Duration,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            from: default_from(),
            header_timeout: DEFAULT_HEADER_TIMEOUT,
        }
    }
}

impl ProxyConfig {
    /// Whether `peer` (the balancer's own address) may send a header.
    pub fn allows(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.from.iter().any(|net| net.contains(&peer))
    }
}

/// Why a connection was closed before its header was read, for
/// `shout_proxy_rejected_total{reason}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyRefusal {
    /// The peer is not in `--proxy-from`.
    NotAllowed,
    /// The bytes are not a valid PROXY header (or it is too long).
    Invalid,
    /// No complete header within the header timeout (or the peer closed before one).
    Timeout,
}

impl ProxyRefusal {
    /// Every reason, in a fixed order.
    pub const ALL: [ProxyRefusal; 3] = [
        ProxyRefusal::NotAllowed,
        ProxyRefusal::Invalid,
        ProxyRefusal::Timeout,
    ];

    /// The metrics label and log name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyRefusal::NotAllowed => "not_allowed",
            ProxyRefusal::Invalid => "invalid",
            ProxyRefusal::Timeout => "timeout",
        }
    }

    /// Index into counters.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// What a complete header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    /// The header's length: the connection's own bytes begin after it.
    pub len: usize,
    /// The client's address, or `None` for a header without one (v1 `UNKNOWN`, v2 `LOCAL`,
    /// such as HAProxy's health checks): the connection keeps the peer's address.
    pub client: Option<SocketAddr>,
}

/// Parses the header at the start of `buf`: `Ok(None)` if more bytes are needed.
pub fn parse(buf: &[u8]) -> Result<Option<Parsed>, ProxyRefusal> {
    // Anything but the start of a header is refused at once, not after the timeout.
    const V1: &[u8] = b"PROXY ";
    const V2: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";
    let starts = |sig: &[u8]| {
        let n = buf.len().min(sig.len());
        buf[..n] == sig[..n]
    };
    if !starts(V1) && !starts(V2) {
        return Err(ProxyRefusal::Invalid);
    }
    // Framing here, parsing by `ppp` once the whole header is in: v1 ends at its CRLF (at
    // most 107 bytes), v2 says its length in bytes 14 and 15.
    let result: HeaderResult<'_> = if starts(V2) {
        if buf.len() < 16 {
            return Ok(None);
        }
        if buf[12] >> 4 != 2 {
            return Err(ProxyRefusal::Invalid);
        }
        let len = 16 + usize::from(u16::from_be_bytes([buf[14], buf[15]]));
        if len > MAX_HEADER {
            return Err(ProxyRefusal::Invalid);
        }
        if buf.len() < len {
            return Ok(None);
        }
        v2::Header::try_from(&buf[..len]).into()
    } else {
        match buf.windows(2).position(|w| w == b"\r\n") {
            Some(end) => v1::Header::try_from(&buf[..end + 2]).into(),
            None if buf.len() >= V1_MAX => return Err(ProxyRefusal::Invalid),
            None => return Ok(None),
        }
    };
    if result.is_incomplete() {
        return Err(ProxyRefusal::Invalid);
    }
    let parsed = match result {
        HeaderResult::V1(Ok(header)) => Parsed {
            len: header.header.len(),
            client: match header.addresses {
                v1::Addresses::Tcp4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
                v1::Addresses::Tcp6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
                v1::Addresses::Unknown => None,
            },
        },
        HeaderResult::V2(Ok(header)) => Parsed {
            len: header.len(),
            client: match (header.command, header.addresses) {
                (v2::Command::Proxy, v2::Addresses::IPv4(a)) => {
                    Some(SocketAddr::from((a.source_address, a.source_port)))
                }
                (v2::Command::Proxy, v2::Addresses::IPv6(a)) => {
                    Some(SocketAddr::from((a.source_address, a.source_port)))
                }
                _ => None,
            },
        },
        _ => return Err(ProxyRefusal::Invalid),
    };
    if parsed.len > MAX_HEADER {
        return Err(ProxyRefusal::Invalid);
    }
    Ok(Some(parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// v1 headers, whole or cut anywhere, with data after them.
    #[test]
    fn v1_headers() {
        let header = b"PROXY TCP4 10.1.2.3 127.0.0.1 4567 9999\r\n";
        let mut input = header.to_vec();
        input.extend_from_slice(b"hello");
        for cut in 0..header.len() {
            assert_eq!(parse(&input[..cut]), Ok(None), "cut at {cut}");
        }
        let parsed = parse(&input).unwrap().unwrap();
        assert_eq!(parsed.len, header.len());
        assert_eq!(parsed.client, Some("10.1.2.3:4567".parse().unwrap()));
        let v6 = b"PROXY TCP6 2001:db8::1 ::1 4567 9999\r\n";
        assert_eq!(
            parse(v6).unwrap().unwrap().client,
            Some("[2001:db8::1]:4567".parse().unwrap())
        );
        assert_eq!(parse(b"PROXY UNKNOWN\r\n").unwrap().unwrap().client, None);
    }

    /// v2 headers (PROXY and LOCAL), built by `ppp`'s own builder.
    #[test]
    fn v2_headers() {
        let addrs: v2::Addresses = (
            "10.9.8.7:1234".parse::<SocketAddr>().unwrap(),
            "127.0.0.1:9999".parse::<SocketAddr>().unwrap(),
        )
            .into();
        let header = v2::Builder::with_addresses(
            v2::Version::Two | v2::Command::Proxy,
            v2::Protocol::Stream,
            addrs,
        )
        .build()
        .unwrap();
        for cut in 0..header.len() {
            assert_eq!(parse(&header[..cut]), Ok(None), "cut at {cut}");
        }
        let mut input = header.clone();
        input.extend_from_slice(b"data");
        let parsed = parse(&input).unwrap().unwrap();
        assert_eq!(parsed.len, header.len());
        assert_eq!(parsed.client, Some("10.9.8.7:1234".parse().unwrap()));
        let local = v2::Builder::with_addresses(
            v2::Version::Two | v2::Command::Local,
            v2::Protocol::Unspecified,
            v2::Addresses::Unspecified,
        )
        .build()
        .unwrap();
        assert_eq!(parse(&local).unwrap().unwrap().client, None);
    }

    /// Not a header, a broken one, or one that never ends: refused.
    #[test]
    fn invalid_headers() {
        assert_eq!(parse(b"hello\n"), Err(ProxyRefusal::Invalid));
        assert_eq!(
            parse(b"PROXY TCP4 nonsense\r\n"),
            Err(ProxyRefusal::Invalid)
        );
        let endless = [b"PROXY TCP4 ".as_slice(), &[b'1'; 200]].concat();
        assert_eq!(parse(&endless), Err(ProxyRefusal::Invalid));
        let bad_version = b"\r\n\r\n\0\r\nQUIT\n\x99\x11\x00\x0c";
        assert_eq!(parse(bad_version), Err(ProxyRefusal::Invalid));
        let mut v2_huge = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\xff\xff".to_vec();
        v2_huge.resize(MAX_HEADER + 10, 0);
        assert_eq!(parse(&v2_huge), Err(ProxyRefusal::Invalid));
    }

    /// Loopback only by default, IPv4-mapped addresses as IPv4.
    #[test]
    fn allowed_peers() {
        let config = ProxyConfig::default();
        assert!(config.allows("127.0.0.2".parse().unwrap()));
        assert!(config.allows("::1".parse().unwrap()));
        assert!(config.allows("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!config.allows("10.0.0.1".parse().unwrap()));
    }
}

#[cfg(test)]
mod robustness {
    use super::*;

    /// Valid headers with bytes changed, cut or appended at random: `parse` answers every one
    /// (a header, "more", or a refusal) without panicking, and never a length beyond the input.
    #[test]
    fn mutated_headers_never_panic() {
        let addrs: v2::Addresses = (
            "10.9.8.7:1234".parse::<SocketAddr>().unwrap(),
            "127.0.0.1:9999".parse::<SocketAddr>().unwrap(),
        )
            .into();
        let v2 = v2::Builder::with_addresses(
            v2::Version::Two | v2::Command::Proxy,
            v2::Protocol::Stream,
            addrs,
        )
        .write_tlv(0x01, b"h2")
        .unwrap()
        .build()
        .unwrap();
        let seeds = [
            v2,
            b"PROXY TCP4 10.1.2.3 127.0.0.1 4567 9999\r\n".to_vec(),
            b"PROXY TCP6 2001:db8::1 ::1 4567 9999\r\n".to_vec(),
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (mut headers, mut refused) = (0, 0);
        for _ in 0..200_000 {
            let mut input = seeds[(next() % 3) as usize].clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() as usize) % input.len();
                match next() % 3 {
                    0 => input[at] = next() as u8,
                    1 => input.truncate(at.max(1)),
                    _ => input.insert(at, next() as u8),
                }
            }
            match parse(&input) {
                Ok(Some(parsed)) => {
                    assert!(parsed.len <= input.len(), "{input:?}");
                    headers += 1;
                }
                Ok(None) => {}
                Err(_) => refused += 1,
            }
        }
        // Both ways were taken often: the mutations reach the parser, not only the framing.
        assert!(
            headers > 1000 && refused > 1000,
            "{headers} headers, {refused} refused"
        );
    }
}
