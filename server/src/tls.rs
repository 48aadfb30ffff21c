//! TLS settings for `--tls-cert`, `--tls-key` and `--tls-client-ca`: the certificate files are
//! read once, at start, into a rustls [`ServerConfig`] with the `ring` crypto provider (see
//! docs/server.md, "TLS", for why `ring`). Each connection then gets its own sans-IO
//! [`rustls::ServerConnection`] (in `transport.rs`).

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, OtherError, RootCertStore,
    ServerConfig, SignatureScheme,
};
use shout_common::tlsfiles;

/// Connections over the connection limit (or the per-address cap) that may be in their TLS
/// handshake at once, to get the busy line over TLS: more are closed at once with nothing sent.
/// Refused connections do not count as active, so without this bound a flood over the limit
/// would get a handshake each (a thread each in the thread model) until the handshake deadline.
pub const MAX_TLS_REFUSALS: usize = 64;

/// A server's TLS settings, shared by every connection. Equal when they are the same settings
/// (the same `Arc`).
#[derive(Clone)]
pub struct TlsConfig {
    config: Arc<ServerConfig>,
    client_auth: bool,
}

impl TlsConfig {
    /// Reads the certificate chain and key (PEM), and the CA that client certificates must be
    /// signed by (mutual TLS), if given. An error names the file and what is wrong with it.
    pub fn load(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<TlsConfig, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certs = read_certs(cert, "--tls-cert")?;
        if let Some(old) = tlsfiles::old_certificate(&certs) {
            return Err(format!("--tls-cert {}: {old}", cert.display()));
        }
        let key = tlsfiles::read_key_file(key)
            .and_then(|pem| {
                PrivateKeyDer::from_pem_slice(&pem)
                    .map_err(|e| format!("no usable private key (PEM): {e}"))
            })
            .map_err(|e| format!("--tls-key {}: {e}", key.display()))?;
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS set-up failed: {e}"))?;
        let builder = match client_ca {
            None => builder.with_no_client_auth(),
            Some(path) => {
                let mut roots = RootCertStore::empty();
                for ca in read_certs(path, "--tls-client-ca")? {
                    roots.add(ca).map_err(|e| {
                        format!(
                            "--tls-client-ca {}: unusable CA certificate: {e}",
                            path.display()
                        )
                    })?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| format!("--tls-client-ca {}: {e}", path.display()))?;
                builder.with_client_cert_verifier(Arc::new(CappedChain(verifier)))
            }
        };
        let config = builder.with_single_cert(certs, key).map_err(|e| {
            format!(
                "--tls-cert {} and --tls-key: the key does not fit the certificate or is unusable: {e}",
                cert.display()
            )
        })?;
        Ok(TlsConfig::from_rustls(
            Arc::new(config),
            client_ca.is_some(),
        ))
    }

    /// Settings from a rustls configuration built elsewhere (tests, embedding programs);
    /// `client_auth` says whether it requires client certificates (for logs only).
    pub fn from_rustls(config: Arc<ServerConfig>, client_auth: bool) -> TlsConfig {
        TlsConfig {
            config,
            client_auth,
        }
    }

    /// The rustls configuration.
    pub fn rustls(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    /// Whether clients must present a certificate (mutual TLS).
    pub fn client_auth(&self) -> bool {
        self.client_auth
    }
}

impl PartialEq for TlsConfig {
    fn eq(&self, other: &TlsConfig) -> bool {
        Arc::ptr_eq(&self.config, &other.config)
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("client_auth", &self.client_auth)
            .finish_non_exhaustive()
    }
}

/// Every certificate in PEM file `path` (at least one), for option `option`.
fn read_certs(path: &Path, option: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let context = |e: &dyn fmt::Display| format!("{option} {}: {e}", path.display());
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| context(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| context(&e))?;
    if certs.is_empty() {
        return Err(context(&"no certificate (PEM) in the file"));
    }
    Ok(certs)
}

/// The longest client certificate chain verified under mutual TLS (the client's certificate
/// and the CA certificates it sends with it); longer ones are refused before any of it is
/// verified, as a bad certificate. A real client chain has its certificate and one to three
/// CAs. The bound must be small: webpki tries every order of CA certificates that share a name
/// (it checks signatures only once a path reaches a trusted root), so a chain of CAs all
/// named as the client certificate's issuer costs factorially more with each one. Measured
/// uncapped (`tests/tests/chain_cost.rs`, four runs), against one normal handshake: 5
/// certificates 1 to 1.6 times, 6 certificates 2 to 7, 7 certificates 12 to 31, 8
/// certificates 78 to 185, 100 certificates 100 to 460; capped, about 2 at most, any length.
pub const MAX_CLIENT_CHAIN: usize = 5;

/// A client certificate verifier that refuses a chain over [`MAX_CLIENT_CHAIN`] certificates
/// before the one it wraps spends any work on it.
#[derive(Debug)]
struct CappedChain(Arc<dyn ClientCertVerifier>);

/// The error of a client chain over [`MAX_CLIENT_CHAIN`]. Its `Debug` is its message: rustls
/// shows the errors of a verifier with `Debug`, and that is what the handshake failure logs.
struct ChainTooLong(usize);

impl fmt::Debug for ChainTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for ChainTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a client certificate chain of {} certificates, over the {MAX_CLIENT_CHAIN} accepted",
            self.0
        )
    }
}

impl std::error::Error for ChainTooLong {}

impl ClientCertVerifier for CappedChain {
    fn offer_client_auth(&self) -> bool {
        self.0.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.0.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let len = intermediates.len() + 1;
        if len > MAX_CLIENT_CHAIN {
            return Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(ChainTooLong(len))),
            )));
        }
        self.0.verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }

    fn requires_raw_public_keys(&self) -> bool {
        self.0.requires_raw_public_keys()
    }
}

/// How a TLS handshake ended, for `shout_tls_handshakes_total{result}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    /// Completed.
    Ok,
    /// Mutual TLS: the client sent no certificate.
    NoClientCert,
    /// Mutual TLS: the client's certificate is not signed by `--tls-client-ca` (or is invalid).
    BadClientCert,
    /// Not completed within `--tls-handshake-timeout`.
    Timeout,
    /// The client closed or reset the connection during the handshake.
    Aborted,
    /// Another protocol error (not TLS at all, no common cipher suite, ...).
    Error,
}

impl Handshake {
    /// Every result, in a fixed order (counters and metrics).
    pub const ALL: [Handshake; 6] = [
        Handshake::Ok,
        Handshake::NoClientCert,
        Handshake::BadClientCert,
        Handshake::Timeout,
        Handshake::Aborted,
        Handshake::Error,
    ];

    /// The metrics label and log name.
    pub fn as_str(self) -> &'static str {
        match self {
            Handshake::Ok => "ok",
            Handshake::NoClientCert => "no_client_cert",
            Handshake::BadClientCert => "bad_client_cert",
            Handshake::Timeout => "timeout",
            Handshake::Aborted => "aborted",
            Handshake::Error => "error",
        }
    }

    /// How a rustls error during the handshake is counted.
    pub fn of_error(e: &rustls::Error) -> Handshake {
        match e {
            rustls::Error::NoCertificatesPresented => Handshake::NoClientCert,
            rustls::Error::InvalidCertificate(_) => Handshake::BadClientCert,
            _ => Handshake::Error,
        }
    }

    /// Index into counters.
    pub fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A verifier that accepts everything and counts the chains it was given.
    #[derive(Debug, Default)]
    struct Counting(AtomicUsize);

    impl ClientCertVerifier for Counting {
        fn root_hint_subjects(&self) -> &[DistinguishedName] {
            &[]
        }

        fn verify_client_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: UnixTime,
        ) -> Result<ClientCertVerified, rustls::Error> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(ClientCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            _: &[u8],
            _: &CertificateDer<'_>,
            _: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            Ok(HandshakeSignatureValid::assertion())
        }

        fn verify_tls13_signature(
            &self,
            _: &[u8],
            _: &CertificateDer<'_>,
            _: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            Ok(HandshakeSignatureValid::assertion())
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            vec![SignatureScheme::ED25519]
        }
    }

    /// A chain up to the cap goes to the real verifier; a longer one is refused as a bad
    /// certificate without it being asked.
    #[test]
    fn client_chains_over_the_cap_are_not_verified() {
        let inner = Arc::new(Counting::default());
        let capped = CappedChain(inner.clone());
        let cert = CertificateDer::from(vec![0x30, 0x00]);
        let chain = vec![cert.clone(); 99];
        let now = UnixTime::now();
        capped
            .verify_client_cert(&cert, &chain[..MAX_CLIENT_CHAIN - 1], now)
            .expect("a chain at the cap is verified");
        assert_eq!(inner.0.load(Ordering::SeqCst), 1);
        let e = capped
            .verify_client_cert(&cert, &chain[..MAX_CLIENT_CHAIN], now)
            .expect_err("one over the cap");
        assert_eq!(Handshake::of_error(&e), Handshake::BadClientCert);
        let over = format!(
            "chain of {} certificates, over the {MAX_CLIENT_CHAIN}",
            MAX_CLIENT_CHAIN + 1
        );
        assert!(e.to_string().contains(&over), "{e}");
        capped
            .verify_client_cert(&cert, &chain, now)
            .expect_err("100 certificates");
        assert_eq!(
            inner.0.load(Ordering::SeqCst),
            1,
            "the long chains were verified"
        );
        assert_eq!(
            capped.supported_verify_schemes(),
            [SignatureScheme::ED25519]
        );
    }
}
