//! Checks on the TLS files given to shoutd and shout (`--tls-cert`, `--tls-key`) that rustls
//! does not make itself, or reports in terms that do not name the cause: an X.509 version 1
//! certificate (rustls says "UnsupportedCertVersion", or that the key does not fit), an
//! encrypted key ("no items found"), a key file with several keys (rustls takes the first).
//! Plain bytes in, a message out: no TLS library needed.

use std::fmt;
use std::path::Path;

/// How to make a certificate that TLS accepts, for messages about one that it does not.
pub const HOW_TO_MAKE_V3: &str = "make a version 3 one: `openssl req -x509 ...` (self-signed), \
     or `openssl x509 -req ... -extfile v3.ext` where v3.ext holds an extension such as \
     `subjectAltName=DNS:localhost`";

/// What is wrong with a certificate chain read from a PEM file, for TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OldCertificate {
    /// Which certificate of the file (1 is the first).
    pub position: usize,
    /// Its X.509 version (1 or 2).
    pub version: u8,
}

impl fmt::Display for OldCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let which = if self.position == 1 {
            "the certificate".to_owned()
        } else {
            format!("certificate {} of the file", self.position)
        };
        write!(
            f,
            "{which} is X.509 version {}, but TLS needs version 3 ({HOW_TO_MAKE_V3})",
            self.version
        )
    }
}

/// The first certificate in `chain` (DER) that is not X.509 version 3, if any. A certificate
/// too malformed to tell is left for the TLS library to report.
pub fn old_certificate<C: AsRef<[u8]>>(chain: &[C]) -> Option<OldCertificate> {
    chain.iter().enumerate().find_map(|(i, der)| {
        x509_version(der.as_ref())
            .filter(|&v| v < 3)
            .map(|version| OldCertificate {
                position: i + 1,
                version,
            })
    })
}

/// The version (1, 2 or 3) of the X.509 certificate `der`; `None` if it is not one.
///
/// `Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { version [0] EXPLICIT INTEGER
/// DEFAULT v1, ... } ... }`: a certificate without the `[0]` field is version 1.
pub fn x509_version(der: &[u8]) -> Option<u8> {
    let (cert, _) = der_element(der, 0x30)?;
    let (tbs, _) = der_element(cert, 0x30)?;
    if tbs.first() != Some(&0xA0) {
        return Some(1);
    }
    let (explicit, _) = der_element(tbs, 0xA0)?;
    match der_element(explicit, 0x02)? {
        ([v @ 0..=2], _) => Some(v + 1),
        _ => None,
    }
}

/// The contents of the DER element with tag `tag` at the start of `bytes`, and what follows
/// it; `None` if it is another tag or cut short.
fn der_element(bytes: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    match der_next(bytes)? {
        (first, contents, rest) if first == tag => Some((contents, rest)),
        _ => None,
    }
}

/// The DER element at the start of `bytes`: its tag, its contents and what follows it; `None`
/// if it is cut short or its length takes more than 4 bytes.
pub fn der_next(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = bytes.split_first()?;
    let (&len, mut rest) = rest.split_first()?;
    let len = if len < 0x80 {
        usize::from(len)
    } else {
        // Long form: the next 1 to 4 bytes hold the length.
        let count = usize::from(len & 0x7f);
        if !(1..=4).contains(&count) || rest.len() < count {
            return None;
        }
        let (digits, after) = rest.split_at(count);
        rest = after;
        digits
            .iter()
            .fold(0usize, |n, &d| (n << 8) | usize::from(d))
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// What is wrong with a private-key PEM file for shout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyFileProblem {
    /// The key is encrypted (PKCS#8 `ENCRYPTED PRIVATE KEY`, or a legacy `Proc-Type:
    /// 4,ENCRYPTED` header).
    Encrypted,
    /// More than one private key: which one is meant cannot be told.
    SeveralKeys(usize),
}

impl fmt::Display for KeyFileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyFileProblem::Encrypted => f.write_str(
                "the private key is encrypted (protected by a passphrase), and shout needs it \
                 unencrypted: write a decrypted copy with `openssl pkey -in KEY -out PLAIN` \
                 and make it readable by the server's user only",
            ),
            KeyFileProblem::SeveralKeys(n) => write!(
                f,
                "the file holds {n} private keys; give a file with exactly one, the key of \
                 the certificate"
            ),
        }
    }
}

/// The contents of the private-key PEM file at `path`, refused (with the reason) if it cannot
/// be read, is encrypted or holds several keys. The TLS library parses what is returned.
pub fn read_key_file(path: &Path) -> Result<Vec<u8>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    match key_file_problem(&pem) {
        Some(problem) => Err(problem.to_string()),
        None => Ok(pem),
    }
}

/// What is wrong with the private-key PEM file `pem` before its key is read, if anything.
pub fn key_file_problem(pem: &[u8]) -> Option<KeyFileProblem> {
    let mut keys = 0;
    for line in pem.split(|&b| b == b'\n') {
        let line = line.trim_ascii();
        if line == b"Proc-Type: 4,ENCRYPTED" || line == b"-----BEGIN ENCRYPTED PRIVATE KEY-----" {
            return Some(KeyFileProblem::Encrypted);
        }
        if line.starts_with(b"-----BEGIN ") && line.ends_with(b"PRIVATE KEY-----") {
            keys += 1;
        }
    }
    (keys > 1).then_some(KeyFileProblem::SeveralKeys(keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal certificate: the outer SEQUENCE around a tbsCertificate starting with `tbs`.
    fn cert(tbs: &[u8]) -> Vec<u8> {
        let mut inner = vec![0x30, tbs.len() as u8];
        inner.extend_from_slice(tbs);
        let mut outer = vec![0x30, inner.len() as u8];
        outer.extend_from_slice(&inner);
        outer
    }

    /// The version field is read: absent is version 1, `[0] INTEGER 2` is version 3.
    #[test]
    fn versions_are_read() {
        assert_eq!(x509_version(&cert(&[0x02, 0x01, 0x05])), Some(1));
        assert_eq!(
            x509_version(&cert(&[0xA0, 0x03, 0x02, 0x01, 0x02])),
            Some(3)
        );
        assert_eq!(
            x509_version(&cert(&[0xA0, 0x03, 0x02, 0x01, 0x01])),
            Some(2)
        );
        assert_eq!(x509_version(&cert(&[0xA0, 0x03, 0x02, 0x01, 0x07])), None);
        assert_eq!(x509_version(b""), None);
        assert_eq!(x509_version(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(x509_version(&[0x30, 0x85, 0, 0, 0, 0, 0]), None);
    }

    /// Long-form lengths are followed into the certificate.
    #[test]
    fn long_lengths() {
        let mut tbs = vec![0xA0, 0x03, 0x02, 0x01, 0x02];
        tbs.resize(300, 0);
        let mut inner = vec![0x30, 0x82, 0x01, 0x2c];
        inner.extend_from_slice(&tbs);
        let mut outer = vec![0x30, 0x82];
        outer.extend_from_slice(&(inner.len() as u16).to_be_bytes());
        outer.extend_from_slice(&inner);
        assert_eq!(x509_version(&outer), Some(3));
    }

    /// The first old certificate of a chain is named, with how to make a new one.
    #[test]
    fn old_certificates_in_a_chain() {
        let v3 = cert(&[0xA0, 0x03, 0x02, 0x01, 0x02]);
        let v1 = cert(&[0x02, 0x01, 0x05]);
        assert_eq!(old_certificate(&[&v3, &v3]), None);
        let old = old_certificate(&[&v3, &v1]).expect("the second is old");
        assert_eq!(
            old,
            OldCertificate {
                position: 2,
                version: 1
            }
        );
        let first = old_certificate(&[&v1]).expect("old").to_string();
        assert!(
            first.starts_with("the certificate is X.509 version 1"),
            "{first}"
        );
        assert!(first.contains("-extfile"), "{first}");
        // Something that is no certificate at all is not called old.
        assert_eq!(old_certificate(&[b"junk"]), None);
    }

    /// Encrypted keys (both PEM forms) and files of several keys are found.
    #[test]
    fn key_files() {
        let plain = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert_eq!(key_file_problem(plain), None);
        let pkcs8 =
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert_eq!(key_file_problem(pkcs8), Some(KeyFileProblem::Encrypted));
        let legacy = b"-----BEGIN RSA PRIVATE KEY-----\r\nProc-Type: 4,ENCRYPTED\r\nDEK-Info: AES-128-CBC,00\r\n\r\nAAAA\r\n-----END RSA PRIVATE KEY-----\r\n";
        assert_eq!(key_file_problem(legacy), Some(KeyFileProblem::Encrypted));
        let two = [
            &plain[..],
            b"-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
        ]
        .concat();
        assert_eq!(key_file_problem(&two), Some(KeyFileProblem::SeveralKeys(2)));
        // A certificate next to the key is not a second key.
        let with_cert = [
            &plain[..],
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        ]
        .concat();
        assert_eq!(key_file_problem(&with_cert), None);
        assert!(KeyFileProblem::Encrypted
            .to_string()
            .contains("unencrypted"));
    }
}
