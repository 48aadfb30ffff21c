//! TLS for the client's connections (`--tls`): the options, the rustls client configuration
//! they make, and the name the server's certificate must carry.
//!
//! The server's certificate is verified against the system's trusted roots (read with
//! `rustls-native-certs`), or only against `--tls-ca FILE` when given. `--tls-cert` and
//! `--tls-key` present a client certificate (for a server that requires one: mutual TLS).
//! Crypto comes from rustls' `ring` provider, as in shoutd (it builds with a C compiler alone).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, Context};
use clap::Args;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use shout_common::tlsfiles;

/// TLS options of the client (prompt, pipe and bench).
#[derive(Debug, Clone, Default, Args)]
pub struct TlsArgs {
    /// Talk TLS to the server (verified against the system's roots, or --tls-ca).
    #[arg(long, env = "SHOUT_TLS")]
    pub tls: bool,

    /// Trust only the CA certificates in this PEM file (implies --tls).
    #[arg(long, value_name = "FILE", env = "SHOUT_TLS_CA")]
    pub tls_ca: Option<PathBuf>,

    /// The name the server's certificate must carry [default: the host of ADDR] (implies --tls).
    #[arg(long, value_name = "NAME", env = "SHOUT_TLS_SERVER_NAME")]
    pub tls_server_name: Option<String>,

    /// A client certificate chain (PEM) to present, for servers that require one (implies --tls).
    #[arg(
        long,
        value_name = "FILE",
        env = "SHOUT_TLS_CERT",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,

    /// The private key (PEM) of --tls-cert.
    #[arg(
        long,
        value_name = "FILE",
        env = "SHOUT_TLS_KEY",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
}

impl TlsArgs {
    /// Whether any option asks for TLS.
    pub fn enabled(&self) -> bool {
        self.tls
            || self.tls_ca.is_some()
            || self.tls_server_name.is_some()
            || self.tls_cert.is_some()
    }
}

/// TLS could not be set up from the options (an unreadable or invalid file, no trusted
/// roots): a usage problem, reported before connecting.
#[derive(Debug)]
pub struct TlsSetupError(pub anyhow::Error);

impl std::fmt::Display for TlsSetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for TlsSetupError {}

/// What a TLS connection to one server needs: the configuration and the name to verify.
#[derive(Debug, Clone)]
pub struct TlsClient {
    /// The rustls configuration, shared by every connection.
    pub config: Arc<ClientConfig>,
    /// The name the server's certificate must carry.
    pub name: ServerName<'static>,
}

impl TlsClient {
    /// The TLS set-up for connections to `addr` (`host:port` or a bare host), or `None` when
    /// the options do not ask for TLS.
    pub fn from_args(args: &TlsArgs, addr: &str) -> Result<Option<TlsClient>, TlsSetupError> {
        if !args.enabled() {
            return Ok(None);
        }
        let config = client_config(args).map_err(TlsSetupError)?;
        let name = match &args.tls_server_name {
            Some(name) => name.as_str(),
            None => host_of(addr),
        };
        let name = ServerName::try_from(name.to_owned())
            .map_err(|e| TlsSetupError(anyhow!("invalid TLS server name {name:?}: {e}")))?;
        Ok(Some(TlsClient { config, name }))
    }
}

/// The host part of `addr`: `host` of `host:port`, the address inside `[v6]:port`, or all of
/// a bare host.
pub fn host_of(addr: &str) -> &str {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match addr.rsplit_once(':') {
        // A bare IPv6 address has more than one colon and no port.
        Some((host, _)) if !host.contains(':') => host,
        _ => addr,
    }
}

/// The rustls client configuration the options describe.
pub fn client_config(args: &TlsArgs) -> anyhow::Result<Arc<ClientConfig>> {
    let roots = match &args.tls_ca {
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for cert in read_certs(path, "--tls-ca")? {
                roots.add(cert).with_context(|| {
                    format!("--tls-ca {}: not a CA certificate", path.display())
                })?;
            }
            roots
        }
        None => system_roots()?,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS set-up")?
        .with_root_certificates(roots);
    let config = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => builder
            .with_client_auth_cert(read_client_certs(cert)?, read_key(key)?)
            .with_context(|| {
                format!(
                    "--tls-key {} does not match --tls-cert {}",
                    key.display(),
                    cert.display()
                )
            })?,
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// The system's trusted roots; an error if there are none (nothing could be verified).
fn system_roots() -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(anyhow!(
            "no trusted root certificates found on this system; give the server's CA with --tls-ca FILE"
        ));
    }
    Ok(roots)
}

/// Every certificate in the PEM file at `path` (at least one).
pub fn read_certs(path: &Path, option: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow!("{option} {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(anyhow!(
            "{option} {}: no certificate in the file",
            path.display()
        ));
    }
    Ok(certs)
}

/// The client's certificate chain (`--tls-cert`): X.509 version 3 only.
fn read_client_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = read_certs(path, "--tls-cert")?;
    if let Some(old) = tlsfiles::old_certificate(&certs) {
        return Err(anyhow!("--tls-cert {}: {old}", path.display()));
    }
    Ok(certs)
}

/// The private key in the PEM file at `path`: one, unencrypted.
fn read_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    tlsfiles::read_key_file(path)
        .and_then(|pem| PrivateKeyDer::from_pem_slice(&pem).map_err(|e| e.to_string()))
        .map_err(|e| anyhow!("--tls-key {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_of_every_form() {
        assert_eq!(host_of("localhost:9999"), "localhost");
        assert_eq!(host_of("localhost"), "localhost");
        assert_eq!(host_of("127.0.0.1:1"), "127.0.0.1");
        assert_eq!(host_of("[::1]:9999"), "::1");
        assert_eq!(host_of("[::1]"), "::1");
        assert_eq!(host_of("::1"), "::1");
    }

    #[test]
    fn any_tls_option_turns_it_on() {
        assert!(!TlsArgs::default().enabled());
        let with_ca = TlsArgs {
            tls_ca: Some("ca.pem".into()),
            ..TlsArgs::default()
        };
        assert!(with_ca.enabled());
    }

    #[test]
    fn missing_ca_file_is_one_clear_error() {
        let args = TlsArgs {
            tls_ca: Some("/nonexistent/ca.pem".into()),
            ..TlsArgs::default()
        };
        let e = TlsClient::from_args(&args, "localhost:1").unwrap_err();
        assert!(
            e.to_string().contains("--tls-ca /nonexistent/ca.pem"),
            "{e}"
        );
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let path = std::env::temp_dir().join(format!("shout-empty-{}.pem", std::process::id()));
        std::fs::write(&path, "nothing here\n").unwrap();
        let e = read_certs(&path, "--tls-ca").unwrap_err();
        let _ = std::fs::remove_file(&path);
        assert!(e.to_string().contains("no certificate"), "{e}");
    }
}
