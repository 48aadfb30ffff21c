//! A measurement, not a check (run it with `cargo test -p shout-tests --test chain_cost --
//! --ignored --nocapture`): what a hostile client certificate chain costs a mutual-TLS server,
//! with shoutd's cap on the chain's length (`MAX_CLIENT_CHAIN`) and without it. The chain is a
//! client certificate followed by CA certificates that all carry the name of its issuer, none
//! of them trusted: webpki tries every order of them before giving up. Each figure is the wall
//! time of one handshake and first read, client and server in this process, over loopback.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use shout_server::{Config, TlsConfig};
use shout_tests::tls::Certs;
use shout_tests::*;

/// Every certificate in the PEM file at `path`.
fn pem_certs(path: &std::path::Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .expect("a PEM file")
        .map(|c| c.expect("a certificate"))
        .collect()
}

/// The mean wall time in µs of `n` handshakes with a first exchange (refused or not).
fn micros_per_handshake(addr: SocketAddr, config: &Arc<ClientConfig>, n: usize) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        let mut client = TlsClient::connect(addr, Arc::clone(config)).expect("handshake");
        // Refused chains fail here: that is the cost being measured.
        let _ = client.send(b"x\n").and_then(|()| client.read_n(2));
    }
    start.elapsed().as_secs_f64() * 1e6 / n as f64
}

/// shoutd's mutual-TLS settings without the cap: rustls' verifier as it comes.
fn uncapped(certs: &Certs) -> TlsConfig {
    let mut roots = RootCertStore::empty();
    for ca in pem_certs(&certs.client_ca_file) {
        roots.add(ca).expect("add the client CA");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .expect("a verifier");
    let key = PrivateKeyDer::from_pem_file(&certs.server.key_file).expect("the server key");
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(pem_certs(&certs.server.cert_file), key)
        .expect("the server certificate");
    TlsConfig::from_rustls(Arc::new(config), true)
}

/// Prints the cost of hostile chains of several lengths, capped and uncapped, against a
/// normal handshake.
#[test]
#[ignore = "a measurement: run with --ignored --nocapture"]
fn hostile_client_chain_cost() {
    let certs = Certs::new();
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "hostile CA");
    let cas: Vec<(rcgen::Certificate, KeyPair)> = (0..99)
        .map(|_| {
            let key = KeyPair::generate().expect("a key");
            (ca.clone().self_signed(&key).expect("a CA"), key)
        })
        .collect();
    let leaf_key = KeyPair::generate().expect("a key");
    let mut leaf = CertificateParams::new(Vec::<String>::new()).expect("parameters");
    leaf.distinguished_name.push(DnType::CommonName, "hostile");
    let leaf = leaf
        .signed_by(&leaf_key, &cas[0].0, &cas[0].1)
        .expect("a leaf");
    let chain: Vec<CertificateDer<'static>> = std::iter::once(leaf.der().clone())
        .chain(cas.iter().map(|(c, _)| c.der().clone()))
        .collect();
    let hostile_key = PrivateKeyDer::try_from(leaf_key.serialize_der()).expect("the key");

    for (name, tls) in [
        ("capped", certs.server_config(true)),
        ("uncapped", uncapped(&certs)),
    ] {
        let server = TestServer::start(Config {
            tls: Some(tls),
            ..Config::default()
        });
        let normal = certs.client_config(Some(&certs.client));
        micros_per_handshake(server.addr, &normal, 20);
        let base = micros_per_handshake(server.addr, &normal, 200);
        eprintln!("{name}: a normal handshake {base:.0} µs");
        for len in [3, 5, 6, 7, 8, 100] {
            let hostile = certs.client_config_chain(&chain[..len], &hostile_key);
            let n = if len > 6 { 20 } else { 100 };
            let cost = micros_per_handshake(server.addr, &hostile, n);
            eprintln!(
                "{name}: a hostile chain of {len:>3}: {cost:>8.0} µs, {:.1} times",
                cost / base
            );
        }
    }
}
