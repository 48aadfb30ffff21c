//! Certificate renewal: the files of `--tls-cert`, `--tls-key` and `--tls-client-ca`, read at
//! start and again at each `SIGHUP`, and the leaf certificate's expiry (its notAfter), read with
//! a small DER walk so that operators can alert before it comes.
//!
//! The DER walk reads only the path `Certificate → tbsCertificate → validity → notAfter`
//! (RFC 5280, 4.1): a certificate it cannot walk has an unknown expiry, never a panic.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use shout_common::tlsfiles::der_next as element;

use crate::tls::TlsConfig;

/// A certificate that expires within this long gets a warning at start and at each reload.
pub const EXPIRY_WARNING: Duration = Duration::from_secs(14 * 24 * 3600);

/// The TLS files shoutd was started with, read again at each reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// `--tls-cert`: the chain, leaf first.
    pub cert: PathBuf,
    /// `--tls-key`.
    pub key: PathBuf,
    /// `--tls-client-ca` (mutual TLS), if given.
    pub client_ca: Option<PathBuf>,
}

/// TLS settings read from [`TlsFiles`], with the leaf's expiry.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The settings for new handshakes.
    pub tls: TlsConfig,
    /// The leaf certificate's notAfter, seconds since the Unix epoch (`None`: unreadable).
    pub expiry: Option<i64>,
}

impl TlsFiles {
    /// Reads every file; an error names the file and what is wrong with it.
    pub fn load(&self) -> Result<Loaded, String> {
        let tls = TlsConfig::load(&self.cert, &self.key, self.client_ca.as_deref())?;
        Ok(Loaded {
            tls,
            expiry: leaf_expiry(&self.cert),
        })
    }
}

/// The notAfter of the first certificate in PEM file `path` (`None`: unreadable).
pub fn leaf_expiry(path: &Path) -> Option<i64> {
    let leaf = CertificateDer::pem_file_iter(path).ok()?.next()?.ok()?;
    not_after(&leaf)
}

/// Whether a certificate with notAfter `expiry` (seconds since the epoch) expires within
/// [`EXPIRY_WARNING`] of `now`; also true once it has expired.
pub fn expires_soon(expiry: i64, now: SystemTime) -> bool {
    let now = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let warning = i64::try_from(EXPIRY_WARNING.as_secs()).unwrap_or(i64::MAX);
    expiry.saturating_sub(now) < warning
}

/// The notAfter of DER certificate `der`, in seconds since the Unix epoch.
pub fn not_after(der: &[u8]) -> Option<i64> {
    let (tag, cert, _) = element(der)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, tbs, _) = element(cert)?;
    if tag != SEQUENCE {
        return None;
    }
    let mut rest = tbs;
    // [0] version (optional), serialNumber, signature, issuer, then validity.
    let (tag, _, after) = element(rest)?;
    if tag == VERSION {
        rest = after;
    }
    for _ in 0..3 {
        rest = element(rest)?.2;
    }
    let (tag, validity, _) = element(rest)?;
    if tag != SEQUENCE {
        return None;
    }
    let not_before = element(validity)?.2;
    let (tag, time, _) = element(not_before)?;
    parse_time(tag, time)
}

const SEQUENCE: u8 = 0x30;
const VERSION: u8 = 0xa0;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// A UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`), as Unix seconds.
fn parse_time(tag: u8, text: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?.strip_suffix('Z')?;
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |s: &str| s.parse::<i64>().ok();
    let (year, rest) = match tag {
        UTC_TIME if text.len() == 12 => {
            let yy = num(&text[..2])?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        GENERALIZED_TIME if text.len() == 14 => (num(&text[..4])?, &text[4..]),
        _ => return None,
    };
    let [month, day, hour, minute, second] =
        [0, 2, 4, 6, 8].map(|at| num(&rest[at..at + 2]).unwrap_or(-1));
    let valid = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && (0..=23).contains(&hour)
        && (0..=59).contains(&minute)
        && (0..=60).contains(&second);
    if !valid {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate valid until `(year, month, day)`.
    fn cert_until(year: i32, month: u8, day: u8) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        params.not_after = rcgen::date_time_ymd(year, month, day);
        params.self_signed(&key).unwrap().der().to_vec()
    }

    /// notAfter is read from certificates rcgen makes, in both time encodings (UTCTime before
    /// 2050, GeneralizedTime from 2050 on).
    #[test]
    fn reads_not_after() {
        assert_eq!(not_after(&cert_until(2040, 1, 1)), Some(2_208_988_800));
        assert_eq!(not_after(&cert_until(1999, 12, 31)), Some(946_598_400));
        assert_eq!(not_after(&cert_until(2051, 3, 1)), Some(2_561_241_600));
    }

    /// Anything that is not a certificate has no expiry, and no panic, whatever its bytes.
    #[test]
    fn garbage_has_no_expiry() {
        let cert = cert_until(2040, 1, 1);
        for len in 0..cert.len() {
            let _ = not_after(&cert[..len]);
        }
        assert_eq!(not_after(b""), None);
        assert_eq!(not_after(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(not_after(b"not DER at all"), None);
    }

    /// The warning window: 14 days before notAfter, and after it.
    #[test]
    fn expiry_warning_window() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let day = 86_400;
        assert!(expires_soon(1_000_000_000 + 13 * day, now));
        assert!(expires_soon(1_000_000_000 - day, now));
        assert!(!expires_soon(1_000_000_000 + 15 * day, now));
    }
}
