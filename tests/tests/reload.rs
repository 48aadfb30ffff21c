//! Certificate renewal on SIGHUP: new handshakes use the files as they are now, established
//! connections go on, a broken file keeps the previous certificates; the reloads and the
//! certificate's expiry are in the metrics, and an expiry within 14 days is warned about.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use rustix::process::Signal;
use shout_tests::http::scrape;
use shout_tests::*;

/// A directory with `cert.pem` and `key.pem`, the files shoutd is started with, that a test
/// overwrites to renew them (removed on drop).
struct LiveFiles {
    dir: PathBuf,
}

impl LiveFiles {
    fn new(from: &Certs, name: &str) -> LiveFiles {
        let dir = from.dir.join(name);
        std::fs::create_dir_all(&dir).expect("create the live directory");
        let live = LiveFiles { dir };
        live.install(&from.server.cert_file, &from.server.key_file);
        live
    }

    fn cert(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }

    fn key(&self) -> PathBuf {
        self.dir.join("key.pem")
    }

    /// Copies a certificate and key into place.
    fn install(&self, cert: &Path, key: &Path) {
        std::fs::copy(cert, self.cert()).expect("copy the certificate");
        std::fs::copy(key, self.key()).expect("copy the key");
    }

    fn args(&self) -> Vec<String> {
        let path = |p: PathBuf| p.to_str().expect("a UTF-8 path").to_string();
        vec![
            "--tls-cert".into(),
            path(self.cert()),
            "--tls-key".into(),
            path(self.key()),
            "--metrics-listen".into(),
            "127.0.0.1:0".into(),
        ]
    }
}

/// Whether a TLS handshake with a client trusting `certs`' CA succeeds, with one round trip.
fn served_with(shoutd: &Shoutd, certs: &Certs) -> bool {
    match TlsClient::connect(shoutd.addr, certs.client_config(None)) {
        Ok(mut client) => {
            client.send(b"hi").expect("send");
            matches!(client.read_n(2), Ok(answer) if answer == b"HI")
        }
        Err(e) => {
            assert_eq!(
                e.kind(),
                ErrorKind::InvalidData,
                "not a certificate error: {e}"
            );
            false
        }
    }
}

model_tests! {
    /// HUP with a second certificate: new handshakes get the second one (a client that trusts
    /// only the first CA fails), a connection opened before goes on; then a broken certificate
    /// file keeps the second one, with one error line naming the file; both counted.
    fn hup_reloads_certificates(model) {
        let first = Certs::new();
        let second = Certs::new();
        let live = LiveFiles::new(&first, "live");
        let mut args = live.args();
        args.extend(model_args(model).map(String::from));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let shoutd = Shoutd::start(&args);
        assert!(served_with(&shoutd, &first));
        let mut open = TlsClient::connect(shoutd.addr, first.client_config(None)).unwrap();
        open.send(b"before").unwrap();
        assert_eq!(open.read_n(6).unwrap(), b"BEFORE");

        live.install(&second.server.cert_file, &second.server.key_file);
        shoutd.signal(Signal::HUP);
        shoutd.expect_log("TLS certificates reloaded");
        assert!(served_with(&shoutd, &second), "the new certificate is not served");
        assert!(!served_with(&shoutd, &first), "the old certificate is still served");
        open.send(b"after").unwrap();
        assert_eq!(open.read_n(5).unwrap(), b"AFTER");

        std::fs::write(live.cert(), "not a certificate\n").unwrap();
        shoutd.signal(Signal::HUP);
        let line = shoutd.expect_log("TLS reload failed");
        assert!(line.contains("ERROR"), "{line}");
        assert!(line.contains(&live.cert().display().to_string()), "{line}");
        assert!(served_with(&shoutd, &second), "a broken file replaced the certificate");

        let metrics = scrape(shoutd.metrics_addr());
        assert_eq!(metrics.counter("shout_tls_reloads_total{result=\"ok\"}"), 1);
        assert_eq!(metrics.counter("shout_tls_reloads_total{result=\"error\"}"), 1);
    }
}

/// A certificate valid until `not_after` (`(year, month, day)`), self-signed for
/// `localhost`, written as `cert.pem`/`key.pem` in directory `name` under `certs`.
fn cert_until(certs: &Certs, name: &str, not_after: (i32, u8, u8)) -> LiveFiles {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
    params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
    let cert = params.self_signed(&key).unwrap();
    let live = LiveFiles::new(certs, name);
    std::fs::write(live.cert(), cert.pem()).unwrap();
    std::fs::write(live.key(), key.serialize_pem()).unwrap();
    live
}

/// The leaf's notAfter is in the metrics; a certificate far from expiry gets no warning, one
/// that has expired (within 14 days of now, then) gets one at start and at each reload.
#[test]
fn certificate_expiry_is_exported_and_warned() {
    let certs = Certs::new();
    let live = cert_until(&certs, "live", (2040, 1, 1));
    let args = live.args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let shoutd = Shoutd::start(&args);
    assert!(
        !shoutd.startup.iter().any(|l| l.contains("expires within")),
        "{:?}",
        shoutd.startup
    );
    let metrics = scrape(shoutd.metrics_addr());
    assert_eq!(
        metrics.gauge("shout_tls_certificate_expiry_timestamp_seconds"),
        2_208_988_800
    );

    let expired = cert_until(&certs, "expired", (2020, 1, 1));
    live.install(&expired.cert(), &expired.key());
    shoutd.signal(Signal::HUP);
    let lines = shoutd.log_until("TLS certificates reloaded");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("WARN") && l.contains("expires within 14 days")),
        "{lines:#?}"
    );
    let metrics = scrape(shoutd.metrics_addr());
    assert_eq!(
        metrics.gauge("shout_tls_certificate_expiry_timestamp_seconds"),
        1_577_836_800
    );

    let soon = Shoutd::start(&args);
    assert!(
        soon.startup
            .iter()
            .any(|l| l.contains("expires within 14 days")),
        "no warning at start: {:?}",
        soon.startup
    );
}

/// Without TLS, HUP logs that there is nothing to reload, and serving goes on.
#[test]
fn hup_without_tls_has_nothing_to_reload() {
    let mut shoutd = Shoutd::start(&[]);
    shoutd.signal(Signal::HUP);
    shoutd.expect_log("nothing to reload");
    assert_eq!(round_trip(shoutd.addr, b"still"), b"STILL");
    shoutd.signal(Signal::TERM);
    assert_eq!(shoutd.wait_exit().code(), Some(0));
}
