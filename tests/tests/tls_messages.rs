//! TLS problems named by their real cause, in shoutd and in shout: an X.509 version 1
//! certificate, an encrypted key, a key file with several keys, a client refused by mutual TLS
//! after its handshake (exit 2, saying a client certificate is required), and a TLS server too
//! busy to hand out even its busy line.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;

use shout_server::Config;
use std::process::ExitCode;

use shout_tests::needs::{self, Need, Test};
use shout_tests::tls::Certs;
use shout_tests::*;

fn main() -> ExitCode {
    needs::run([
        Test::new(
            "version_1_certificate_is_named",
            &[Need::Openssl],
            version_1_certificate_is_named,
        ),
        Test::new(
            "encrypted_key_is_named",
            &[Need::Openssl],
            encrypted_key_is_named,
        ),
        Test::new(
            "key_file_with_two_keys_is_refused",
            &[],
            key_file_with_two_keys_is_refused,
        ),
        Test::new(
            "refused_by_mutual_tls_exits_2",
            &[],
            refused_by_mutual_tls_exits_2,
        ),
        Test::new(
            "busy_tls_server_is_called_possibly_busy",
            &[],
            busy_tls_server_is_called_possibly_busy,
        ),
        Test::new(
            "client_chain_over_the_cap_is_refused",
            &[],
            client_chain_over_the_cap_is_refused,
        ),
    ])
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// Runs `openssl args…` in `dir`; panics if it fails.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes, in `dir`, what `openssl x509 -req` makes without `-extfile`: an X.509 version 1
/// certificate for `localhost` signed by its own key (`v1.pem`, key `v1.key`).
fn version_1_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "v1.key",
            "-subj",
            "/CN=localhost",
            "-out",
            "v1.csr",
        ],
    );
    openssl(
        dir,
        &[
            "x509", "-req", "-in", "v1.csr", "-signkey", "v1.key", "-days", "2", "-out", "v1.pem",
        ],
    );
    (dir.join("v1.pem"), dir.join("v1.key"))
}

/// Runs `shout` with the client certificate `cert` and key `key` (towards a closed port): it
/// must exit 2 before connecting; returns its stderr.
fn shout_refuses_client_files(certs: &Certs, cert: &Path, key: &Path) -> String {
    let (code, _, err) = run_shout(
        &[
            "--tls-ca",
            path(&certs.ca_file),
            "--tls-cert",
            path(cert),
            "--tls-key",
            path(key),
            "127.0.0.1:1",
        ],
        Vec::new(),
    );
    assert_eq!(code, Some(2), "{err}");
    err
}

/// shoutd's exit code and stderr for `args` (it must not start).
fn shoutd_fails(args: &[&str]) -> (Option<i32>, String) {
    let argv: Vec<&str> = ["--listen", "127.0.0.1:0"]
        .iter()
        .chain(args)
        .copied()
        .collect();
    let (code, _, err) = run_bin("shoutd", &argv, Vec::new());
    assert_ne!(code, Some(0), "shoutd started with {args:?}: {err}");
    (code, err)
}

/// An X.509 version 1 certificate is called that, with how to make a version 3 one, in
/// shoutd (`--tls-cert`) and in shout (a client certificate), instead of "the key does not
/// fit" or "UnsupportedCertVersion".
fn version_1_certificate_is_named() {
    let certs = Certs::new();
    let (cert, key) = version_1_certificate(&certs.dir);

    let (_, err) = shoutd_fails(&["--tls-cert", path(&cert), "--tls-key", path(&key)]);
    assert!(err.contains("is X.509 version 1"), "{err}");
    assert!(err.contains("needs version 3"), "{err}");
    assert!(err.contains("-extfile"), "{err}");
    assert!(!err.contains("does not fit"), "{err}");

    let err = shout_refuses_client_files(&certs, &cert, &key);
    assert!(err.contains("is X.509 version 1"), "{err}");
    assert!(!err.contains("does not match"), "{err}");
}

/// An encrypted private key (PKCS#8, as `openssl pkey -aes128` writes it) is called encrypted,
/// and the message says an unencrypted one is needed, in shoutd and shout.
fn encrypted_key_is_named() {
    let certs = Certs::new();
    let encrypted = certs.dir.join("encrypted.key");
    openssl(
        &certs.dir,
        &[
            "pkey",
            "-in",
            path(&certs.server.key_file),
            "-aes128",
            "-passout",
            "pass:secret",
            "-out",
            path(&encrypted),
        ],
    );
    let cert = path(&certs.server.cert_file);
    let (_, err) = shoutd_fails(&["--tls-cert", cert, "--tls-key", path(&encrypted)]);
    assert!(err.contains("encrypted"), "{err}");
    assert!(err.contains("unencrypted"), "{err}");
    assert!(!err.contains("no items found"), "{err}");

    let err = shout_refuses_client_files(&certs, &certs.client.cert_file, &encrypted);
    assert!(err.contains("is encrypted"), "{err}");
}

/// A key file with two keys is refused (which one is meant cannot be told), in shoutd and
/// shout; rustls alone would take the first silently.
fn key_file_with_two_keys_is_refused() {
    let certs = Certs::new();
    let two = certs.dir.join("two.key");
    let keys = [
        std::fs::read(&certs.server.key_file).expect("the server key"),
        std::fs::read(&certs.client.key_file).expect("the client key"),
    ]
    .concat();
    std::fs::write(&two, keys).expect("write the key file");

    let cert = path(&certs.server.cert_file);
    let (_, err) = shoutd_fails(&["--tls-cert", cert, "--tls-key", path(&two)]);
    assert!(err.contains("holds 2 private keys"), "{err}");

    let err = shout_refuses_client_files(&certs, &certs.client.cert_file, &two);
    assert!(err.contains("holds 2 private keys"), "{err}");
}

/// A client without a certificate, refused by mutual TLS after its TLS 1.3 handshake, says the
/// server requires one and exits 2 (as for a failed handshake), in pipe mode and at the
/// prompt; one with a certificate from another CA says it was refused.
fn refused_by_mutual_tls_exits_2() {
    let certs = Certs::new();
    let server = TestServer::start(Config {
        tls: Some(certs.server_config(true)),
        ..Config::default()
    });
    let addr = server.addr.to_string();
    let ca = path(&certs.ca_file);
    let (code, out, err) = run_shout(&["--tls-ca", ca, &addr], b"nobody\n".to_vec());
    assert!(out.is_empty(), "answered without a certificate: {out:?}");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("the server requires a client certificate (--tls-cert/--tls-key)"),
        "{err}"
    );

    let stranger = [
        "--tls-ca",
        ca,
        "--tls-cert",
        path(&certs.stranger.cert_file),
        "--tls-key",
        path(&certs.stranger.key_file),
        &addr,
    ];
    let (code, _, err) = run_shout(&stranger, b"stranger\n".to_vec());
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("the server refused the client certificate"),
        "{err}"
    );

    let mut term = Terminal::spawn("mutual-refused", &["--tls-ca", ca, &addr]);
    term.expect(">>> ");
    term.send("hello\r");
    term.expect("the server requires a client certificate (--tls-cert/--tls-key)");
    let status = term.wait_exit();
    assert_eq!(status.code(), Some(2), "{status}");
}

/// A TLS server whose slots for refusing over TLS are all taken closes a new connection at
/// once, with nothing said: shout says the server may be busy (not only "is it a TLS
/// server?"), exit 2.
fn busy_tls_server_is_called_possibly_busy() {
    let certs = Certs::new();
    let server = TestServer::start(Config {
        max_connections: 1,
        tls: Some(certs.server_config(false)),
        ..Config::default()
    });
    let mut served = TlsClient::connect(server.addr, certs.client_config(None)).expect("TLS");
    served.send(b"x\n").expect("send");
    assert_eq!(served.read_n(2).expect("answer"), b"X\n");
    // Silent connections over the limit each hold a refusal slot until their handshake
    // deadline.
    let silent: Vec<TcpStream> = (0..shout_server::MAX_TLS_REFUSALS)
        .map(|_| connect(server.addr))
        .collect();
    server.wait_for("every refusal slot taken", |s| {
        s.rejected == shout_server::MAX_TLS_REFUSALS as u64
    });
    let (code, _, err) = run_shout(
        &["--tls-ca", path(&certs.ca_file), &server.addr.to_string()],
        b"hello\n".to_vec(),
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("during the TLS handshake"), "{err}");
    assert!(err.contains("may be busy"), "{err}");
    drop(silent);
}

/// Under mutual TLS a client chain of `MAX_CLIENT_CHAIN` certificates is verified (here the
/// client's certificate followed by copies of itself, which verification does not need), and
/// one more certificate is refused before verifying, though the first one is valid.
fn client_chain_over_the_cap_is_refused() {
    let certs = Certs::new();
    let server = TestServer::start(Config {
        tls: Some(certs.server_config(true)),
        ..Config::default()
    });
    let max = shout_server::tls::MAX_CLIENT_CHAIN;
    for (len, accepted) in [(max, true), (max + 1, false)] {
        let chain = vec![certs.client.cert.clone(); len];
        let config = certs.client_config_chain(&chain, &certs.client.key());
        let mut client = TlsClient::connect(server.addr, config).expect("handshake");
        // Under TLS 1.3 the verdict comes with the first read.
        let answer = client.send(b"x\n").and_then(|()| client.read_n(2));
        match answer {
            Ok(answer) => {
                assert!(accepted, "a chain of {len} was accepted");
                assert_eq!(answer, b"X\n");
            }
            Err(e) => assert!(!accepted, "a chain of {len} was refused: {e}"),
        }
    }
    server.wait_for("the refusal counted", |s| {
        s.handshakes(shout_server::Handshake::BadClientCert) == 1
    });
}
