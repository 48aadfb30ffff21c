//! Upgrades in place with TLS: TLS connections stay in the old process and are served until
//! quiet, then end with close_notify; new TLS connections are served throughout; options that
//! no longer load fail an upgrade.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rustix::process::Signal;
use shout_server::Model;
use shout_tests::daemon::{
    read_pid_file, signal_pid, start_copy as start, upgrade, upgrade_in_a_row, wait_active,
    wait_exited, BinaryCopy, KillOnDrop,
};
use shout_tests::*;

/// Options that no longer validate (a certificate file broken since start): the new process
/// exits with its error, the old one serves on; once the file is repaired the upgrade
/// succeeds, and the new process serves TLS.
#[test]
fn upgrade_with_broken_options_fails_then_succeeds() {
    let copy = BinaryCopy::new();
    let certs = Certs::new();
    let cert = copy.dir.join("cert.pem");
    std::fs::copy(&certs.server.cert_file, &cert).unwrap();
    let cert_arg = cert.to_str().unwrap().to_string();
    let key_arg = certs.server.key_file.to_str().unwrap().to_string();
    let (mut shoutd, pid_file) = start(
        &copy,
        Model::Pool,
        &["--tls-cert", &cert_arg, "--tls-key", &key_arg],
    );
    let pid = shoutd.child.id();
    std::fs::write(&cert, "broken\n").unwrap();
    shoutd.signal(Signal::USR2);
    let lines = shoutd.log_until("upgrade failed");
    assert!(
        lines.iter().any(|l| l.contains("--tls-cert")),
        "the new process's own error is not logged: {lines:#?}"
    );
    assert_eq!(read_pid_file(&pid_file), Some(pid));
    let mut client = TlsClient::connect(shoutd.addr, certs.client_config(None)).unwrap();
    client.send(b"tls").unwrap();
    assert_eq!(client.read_n(3).unwrap(), b"TLS");
    drop(client);

    std::fs::copy(&certs.server.cert_file, &cert).unwrap();
    let new = upgrade(&shoutd, &pid_file, pid);
    let _guard = KillOnDrop(new);
    // Once the old process is gone, only the new one can have served this.
    assert_eq!(shoutd.wait_exit().code(), Some(0));
    let mut fresh = TlsClient::connect(shoutd.addr, certs.client_config(None)).unwrap();
    fresh.send(b"new").unwrap();
    assert_eq!(fresh.read_n(3).unwrap(), b"NEW");
    drop(fresh);
    signal_pid(new, Signal::TERM);
    wait_exited(new);
}

model_tests! {
    /// TLS connections stay and drain in the old process: served until quiet (a line sent right
    /// after the hand-over is answered), then close_notify; new TLS connections are served by the
    /// new one.
    fn tls_connections_drain_in_the_old_process(model) {
        let copy = BinaryCopy::new();
        let certs = Certs::new();
        let tls = certs.shoutd_args();
        let tls: Vec<&str> = tls.iter().map(String::as_str).collect();
        let (mut shoutd, pid_file) = start(&copy, model, &tls);
        let pid = shoutd.child.id();
        let mut client = TlsClient::connect(shoutd.addr, certs.client_config(None)).unwrap();
        client.send(b"before\n").unwrap();
        assert_eq!(client.read_n(7).unwrap(), b"BEFORE\n");
        // The old process's drain has begun (its two lines come in either order).
        signal_pid(pid, Signal::USR2);
        let lines = shoutd.log_until("upgrade: the new process serves");
        if !lines.iter().any(|l| l.contains("shutting down: no longer accepting")) {
            shoutd.expect_log("shutting down: no longer accepting");
        }
        let new = read_pid_file(&pid_file).expect("a PID in the PID file");
        assert_ne!(new, pid, "the PID file still names the old process");
        let _guard = KillOnDrop(new);
        client.send(b"during\n").unwrap();
        assert_eq!(client.read_n(7).unwrap(), b"DURING\n");
        let answered = Instant::now();
        assert_eq!(client.read_to_close_notify().unwrap(), b"");
        // The close waits for a second without input (a lower bound: a busy machine only makes
        // it later); without the wait it comes as the drain begins.
        let quiet = answered.elapsed();
        assert!(quiet >= Duration::from_millis(500), "closed {quiet:?} after the last answer");
        drop(client);
        assert_eq!(shoutd.wait_exit().code(), Some(0));
        let mut fresh = TlsClient::connect(shoutd.addr, certs.client_config(None)).unwrap();
        fresh.send(b"after").unwrap();
        assert_eq!(fresh.read_n(5).unwrap(), b"AFTER");
        drop(fresh);
        signal_pid(new, Signal::TERM);
        wait_exited(new);
    }
}

/// Like [`churn`], over TLS: a new connection every 2 ms, each a handshake, one line and its
/// answer.
fn churn_tls(
    addr: SocketAddr,
    certs: &Certs,
    stop: Arc<AtomicBool>,
) -> JoinHandle<(usize, Vec<String>)> {
    let config = certs.client_config(None);
    thread::spawn(move || {
        let mut served = 0;
        let mut failures = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let line = format!("line {served}\n");
            let result = TlsClient::connect(addr, Arc::clone(&config)).and_then(|mut client| {
                client.send(line.as_bytes())?;
                client.read_n(line.len())
            });
            match result {
                Ok(answer) if answer == line.to_uppercase().as_bytes() => served += 1,
                Ok(answer) => failures.push(format!("{line:?} answered {answer:?}")),
                Err(e) => failures.push(format!("{line:?}: {e}")),
            }
            thread::sleep(Duration::from_millis(2));
        }
        (served, failures)
    })
}

/// What a long-lived TLS connection saw: lines answered, clean drains (close_notify in place
/// of an answer: the server had not read that line), failures (anything else: a reset, a
/// close without close_notify, a wrong or partial answer).
#[derive(Debug, Default)]
struct TlsChat {
    answered: usize,
    drained: usize,
    failures: Vec<String>,
}

/// A long-lived TLS connection sending a line every 20 ms until stopped; after a clean drain
/// it connects again (to whichever process serves).
fn chatter_tls(addr: SocketAddr, certs: &Certs, stop: Arc<AtomicBool>) -> JoinHandle<TlsChat> {
    let config = certs.client_config(None);
    thread::spawn(move || {
        let mut chat = TlsChat::default();
        'connections: while !stop.load(Ordering::Relaxed) && chat.failures.is_empty() {
            let mut client = match TlsClient::connect(addr, Arc::clone(&config)) {
                Ok(client) => client,
                Err(e) => {
                    chat.failures.push(format!("connect: {e}"));
                    break;
                }
            };
            while !stop.load(Ordering::Relaxed) {
                let line = format!("tick {} é\n", chat.answered);
                if let Err(e) = client.send(line.as_bytes()) {
                    chat.failures.push(format!("{line:?}: {e}"));
                    break 'connections;
                }
                let mut answer = vec![0u8; line.len()];
                let mut got = 0;
                while got < answer.len() {
                    match client.tls.read(&mut answer[got..]) {
                        Ok(0) => break,
                        Ok(n) => got += n,
                        Err(e) => {
                            chat.failures
                                .push(format!("{line:?} after {got} bytes: {e}"));
                            break 'connections;
                        }
                    }
                }
                if got == 0 {
                    chat.drained += 1;
                    continue 'connections;
                }
                if answer != line.to_uppercase().as_bytes() {
                    chat.failures.push(format!("{line:?} answered {answer:?}"));
                    break 'connections;
                }
                chat.answered += 1;
                thread::sleep(Duration::from_millis(20));
            }
        }
        chat
    })
}

model_tests! {
    /// Five upgrades in a row under TLS load: new TLS connections every few milliseconds are
    /// all served (one the old process accepted just before the hand-over included: it is
    /// served until quiet), and long-lived TLS connections each end only cleanly, with
    /// close_notify after every line the old process read was answered, then connect again.
    fn tls_upgrades_under_load(model) {
        let copy = BinaryCopy::new();
        let certs = Certs::new();
        let mut args = certs.shoutd_args();
        args.extend(["--drain-timeout".to_string(), "2s".to_string()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (mut shoutd, pid_file) = start(&copy, model, &args);
        let stop = Arc::new(AtomicBool::new(false));
        let load = churn_tls(shoutd.addr, &certs, Arc::clone(&stop));
        let chats: Vec<_> = (0..3)
            .map(|_| chatter_tls(shoutd.addr, &certs, Arc::clone(&stop)))
            .collect();

        let (pid, _guards) = upgrade_in_a_row(&mut shoutd, &pid_file, 5);
        stop.store(true, Ordering::Relaxed);
        let (served, failures) = join_within(load, TIMEOUT);
        assert!(failures.is_empty(), "{} failures: {failures:#?}", failures.len());
        assert!(served > 0, "no connection served during the upgrades");
        let mut drained = 0;
        for chat in chats {
            let chat = join_within(chat, TIMEOUT);
            assert!(chat.failures.is_empty(), "{chat:#?}");
            assert!(chat.answered > 0, "{chat:#?}");
            drained += chat.drained;
        }
        // Each old process drained the long-lived connections it served.
        assert!(drained >= 5, "{drained} clean drains in 5 upgrades");

        signal_pid(pid, Signal::TERM);
        wait_exited(pid);
    }
}

model_tests! {
    /// A TLS connection the old process accepted whose handshake has not begun when the
    /// hand-over begins completes its handshake, answers the line sent right after it, then
    /// drains cleanly (close_notify), never a cut connection.
    fn tls_handshake_under_way_completes(model) {
        let copy = BinaryCopy::new();
        let certs = Certs::new();
        let mut args = certs.shoutd_args();
        args.extend(["--metrics-listen".to_string(), "127.0.0.1:0".to_string()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (shoutd, pid_file) = start(&copy, model, &args);
        let pid = shoutd.child.id();
        let sock = connect(shoutd.addr);
        wait_active(shoutd.metrics_addr(), 1);
        let new = upgrade(&shoutd, &pid_file, pid);
        let _guard = KillOnDrop(new);
        let mut client = TlsClient::over(sock, certs.client_config(None))
            .expect("the handshake completes");
        // The server sends its session tickets once it has the client's Finished, that is once
        // its set-up is over; the line goes after them (sent with the Finished, it would be
        // read with it). Served until quiet, it is answered before the close_notify.
        client.tls.conn.read_tls(&mut client.tls.sock).expect("the server's tickets");
        client.tls.conn.process_new_packets().expect("valid records");
        client.send(b"late\n").unwrap();
        assert_eq!(client.read_n(5).unwrap(), b"LATE\n");
        assert_eq!(client.read_to_close_notify().unwrap(), b"");
        drop(client);
        signal_pid(new, Signal::TERM);
        wait_exited(new);
    }
}
