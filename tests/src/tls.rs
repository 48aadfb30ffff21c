//! TLS for tests: certificates made at test time with `rcgen` (a server CA and certificate, a
//! client CA with a client certificate, and a client certificate from another CA), written as
//! PEM files for shoutd, `openssl` and `socat`; servers with TLS on; and a rustls client.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use shout_server::{Config, Model, TlsConfig};

use crate::net::connect;
use crate::server::TestServer;

/// A certificate and its key, as DER (for the rustls client) and as PEM files.
pub struct Identity {
    /// The certificate, DER.
    pub cert: CertificateDer<'static>,
    key: Vec<u8>,
    /// The certificate's PEM file.
    pub cert_file: PathBuf,
    /// The key's PEM file.
    pub key_file: PathBuf,
}

impl Identity {
    /// The private key.
    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone()))
    }
}

/// Every certificate a TLS test needs, in a directory of its own (removed on drop).
pub struct Certs {
    /// The directory of the PEM files.
    pub dir: PathBuf,
    /// The CA that signed the server's certificate (PEM file), for clients.
    pub ca_file: PathBuf,
    ca: CertificateDer<'static>,
    /// The server's certificate (for `localhost` and `127.0.0.1`) and key.
    pub server: Identity,
    /// The CA that signs client certificates (PEM file): shoutd's `--tls-client-ca`.
    pub client_ca_file: PathBuf,
    /// A client certificate signed by the client CA.
    pub client: Identity,
    /// A client certificate signed by another CA.
    pub stranger: Identity,
}

/// A CA certificate and key.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn make_ca(name: &str) -> Ca {
    let key = KeyPair::generate().expect("generate a key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let cert = params.self_signed(&key).expect("self-sign the CA");
    Ca { cert, key }
}

fn make_leaf(
    dir: &Path,
    name: &str,
    ca: &Ca,
    sans: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> Identity {
    let key = KeyPair::generate().expect("generate a key");
    let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(sans).expect("certificate parameters");
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![usage];
    let cert = params
        .signed_by(&key, &ca.cert, &ca.key)
        .expect("sign the certificate");
    let cert_file = dir.join(format!("{name}.pem"));
    let key_file = dir.join(format!("{name}.key"));
    std::fs::write(&cert_file, cert.pem()).expect("write a certificate");
    std::fs::write(&key_file, key.serialize_pem()).expect("write a key");
    Identity {
        cert: cert.der().clone(),
        key: key.serialize_der(),
        cert_file,
        key_file,
    }
}

impl Certs {
    /// Makes a fresh set of certificates and keys in a new temporary directory.
    pub fn new() -> Certs {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "shout-tls-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create the certificates' directory");
        let ca = make_ca("shout test CA");
        let client_ca = make_ca("shout test client CA");
        let other_ca = make_ca("some other CA");
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca.cert.pem()).expect("write the CA");
        let client_ca_file = dir.join("client-ca.pem");
        std::fs::write(&client_ca_file, client_ca.cert.pem()).expect("write the client CA");
        let server = make_leaf(
            &dir,
            "server",
            &ca,
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let client = make_leaf(
            &dir,
            "client",
            &client_ca,
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        let stranger = make_leaf(
            &dir,
            "stranger",
            &other_ca,
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        Certs {
            dir,
            ca_file,
            ca: ca.cert.der().clone(),
            server,
            client_ca_file,
            client,
            stranger,
        }
    }

    /// The server's TLS settings, read from the files as shoutd reads them; `mutual` requires
    /// client certificates from the client CA.
    pub fn server_config(&self, mutual: bool) -> TlsConfig {
        TlsConfig::load(
            &self.server.cert_file,
            &self.server.key_file,
            mutual.then_some(self.client_ca_file.as_path()),
        )
        .expect("load the test certificates")
    }

    /// shoutd's options for TLS with these certificates.
    pub fn shoutd_args(&self) -> Vec<String> {
        let path = |p: &Path| p.to_str().expect("a UTF-8 path").to_string();
        vec![
            "--tls-cert".into(),
            path(&self.server.cert_file),
            "--tls-key".into(),
            path(&self.server.key_file),
        ]
    }

    /// A client configuration trusting the test CA, presenting `identity` if given.
    pub fn client_config(&self, identity: Option<&Identity>) -> Arc<ClientConfig> {
        self.client_config_with(identity.map(|id| (vec![id.cert.clone()], id.key())))
    }

    /// A client configuration trusting the test CA, presenting `chain` (the client's
    /// certificate first) with its `key`, whatever they are: for hostile chains.
    pub fn client_config_chain(
        &self,
        chain: &[CertificateDer<'static>],
        key: &PrivateKeyDer<'static>,
    ) -> Arc<ClientConfig> {
        self.client_config_with(Some((chain.to_vec(), key.clone_key())))
    }

    fn client_config_with(
        &self,
        auth: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    ) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.clone()).expect("add the test CA");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots);
        let config = match auth {
            None => builder.with_no_client_auth(),
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, key)
                .expect("a client certificate"),
        };
        Arc::new(config)
    }
}

impl Default for Certs {
    fn default() -> Self {
        Certs::new()
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts an in-process server of `model` speaking TLS with `certs` (and `config`'s other
/// settings).
pub fn tls_server(model: Model, certs: &Certs, config: Config) -> TestServer {
    TestServer::start(Config {
        model,
        tls: Some(certs.server_config(false)),
        ..config
    })
}

/// [`tls_server`] with the metrics endpoint on as well (on an ephemeral port).
pub fn tls_server_with_metrics(model: Model, certs: &Certs, config: Config) -> TestServer {
    tls_server(
        model,
        certs,
        Config {
            metrics_listen: vec!["127.0.0.1:0".parse().expect("a valid address")],
            ..config
        },
    )
}

/// A TLS client over a TCP connection with timeouts (rustls, blocking).
pub struct TlsClient {
    /// The TLS stream.
    pub tls: StreamOwned<ClientConnection, TcpStream>,
}

impl TlsClient {
    /// Connects to `addr` as `localhost`, with `config`, and completes the handshake (as far as
    /// the client sees it: under TLS 1.3 the server checks a client certificate after that).
    pub fn connect(addr: SocketAddr, config: Arc<ClientConfig>) -> io::Result<TlsClient> {
        TlsClient::over(connect(addr), config)
    }

    /// Speaks TLS over `sock` (already connected, perhaps after a PROXY header).
    pub fn over(mut sock: TcpStream, config: Arc<ClientConfig>) -> io::Result<TlsClient> {
        let name = ServerName::try_from("localhost").expect("a valid name");
        let mut conn = ClientConnection::new(config, name).map_err(io::Error::other)?;
        while conn.is_handshaking() {
            conn.complete_io(&mut sock)?;
        }
        Ok(TlsClient {
            tls: StreamOwned::new(conn, sock),
        })
    }

    /// Sends `data` (one TLS record per call).
    pub fn send(&mut self, data: &[u8]) -> io::Result<()> {
        self.tls.write_all(data)?;
        self.tls.flush()
    }

    /// Reads exactly `n` plaintext bytes.
    pub fn read_n(&mut self, n: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; n];
        self.tls.read_exact(&mut buf)?;
        Ok(buf)
    }

    /// Sends close_notify and half-closes the TCP connection.
    pub fn close_notify(&mut self) -> io::Result<()> {
        self.tls.conn.send_close_notify();
        self.tls.flush()?;
        self.tls.sock.shutdown(Shutdown::Write)
    }

    /// Reads until the server's close_notify: an error if the connection ends without one
    /// (rustls reports `UnexpectedEof`) or breaks.
    pub fn read_to_close_notify(&mut self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.tls.read_to_end(&mut out)?;
        Ok(out)
    }
}
