//! Upgrades in place (SIGUSR2) and `--pid-file`: the new process takes the listeners over and
//! serves while the old one drains and exits; failed upgrades change nothing; one upgrade at a
//! time; SIGTERM during an upgrade stops cleanly.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use rustix::process::Signal;
use shout_server::Model;
use shout_tests::daemon::{
    exited, read_pid_file, signal_pid, start_copy as start, upgrade, upgrade_in_a_row, wait_active,
    wait_exited, BinaryCopy, KillOnDrop,
};
use shout_tests::http::scrape;
use shout_tests::*;

/// Opens a new connection every 2 ms until stopped, each sending one line and checking its
/// answer; returns (served, failures with their reasons).
fn churn(addr: SocketAddr, stop: Arc<AtomicBool>) -> JoinHandle<(usize, Vec<String>)> {
    thread::spawn(move || {
        let mut served = 0;
        let mut failures = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let line = format!("line {served}\n");
            match one_line(addr, &line) {
                Ok(answer) if answer == line.to_uppercase() => served += 1,
                Ok(answer) => failures.push(format!("{line:?} answered {answer:?}")),
                Err(e) => failures.push(format!("{line:?}: {e}")),
            }
            thread::sleep(Duration::from_millis(2));
        }
        (served, failures)
    })
}

/// A long-lived connection sending a line every 20 ms until stopped, checking each answer;
/// returns (lines answered, failures). Any close is a failure.
fn chatter(addr: SocketAddr, stop: Arc<AtomicBool>) -> JoinHandle<(usize, Vec<String>)> {
    thread::spawn(move || {
        let mut stream = connect(addr);
        let mut answered = 0;
        let mut failures = Vec::new();
        while !stop.load(Ordering::Relaxed) && failures.is_empty() {
            let line = format!("tick {answered} é\n");
            let mut answer = vec![0u8; line.len()];
            let result = stream
                .write_all(line.as_bytes())
                .and_then(|()| stream.read_exact(&mut answer));
            match result {
                Ok(()) if answer == line.to_uppercase().as_bytes() => answered += 1,
                Ok(()) => failures.push(format!("{line:?} answered {answer:?}")),
                Err(e) => {
                    failures.push(format!("long-lived connection after {answered} lines: {e}"))
                }
            }
            thread::sleep(Duration::from_millis(20));
        }
        (answered, failures)
    })
}

/// One connection, one line, its whole answer, then end of stream.
fn one_line(addr: SocketAddr, line: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    stream.write_all(line.as_bytes())?;
    let mut answer = vec![0u8; line.len()];
    stream.read_exact(&mut answer)?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

model_tests! {
    /// Five upgrades in a row under new connections every few milliseconds and long-lived
    /// connections sending a line every 20 ms: none refused, reset, wrong or unanswered, no
    /// long-lived connection closed; each old process exits 0 after it handed over; the PID
    /// file follows the process that serves, and is removed when the last one stops.
    fn upgrades_hand_the_listeners_over(model) {
        let copy = BinaryCopy::new();
        let (mut shoutd, pid_file) = start(&copy, model, &[]);
        let first = shoutd.child.id();
        assert_eq!(read_pid_file(&pid_file), Some(first));
        let stop = Arc::new(AtomicBool::new(false));
        let load = churn(shoutd.addr, Arc::clone(&stop));
        let chats: Vec<_> = (0..3).map(|_| chatter(shoutd.addr, Arc::clone(&stop))).collect();

        let (pid, _guards) = upgrade_in_a_row(&mut shoutd, &pid_file, 5);
        stop.store(true, Ordering::Relaxed);
        let (served, failures) = join_within(load, TIMEOUT);
        assert!(failures.is_empty(), "{} failures: {failures:#?}", failures.len());
        assert!(served > 0, "no connection served during the upgrades");
        for chat in chats {
            let (answered, failures) = join_within(chat, TIMEOUT);
            assert!(failures.is_empty(), "{failures:#?}");
            assert!(answered > 0);
        }
        assert_eq!(round_trip(shoutd.addr, b"last"), b"LAST");

        signal_pid(pid, Signal::TERM);
        wait_exited(pid);
        assert!(!pid_file.exists(), "the PID file outlived a clean exit");
    }
}

/// Failed upgrades change nothing: a binary that exits 1, then one that never becomes ready
/// (killed after 10 s), then one that closes the channel and lives on (killed after 1 s): the
/// old process serves on, its PID file unchanged, each failure one
/// error line naming the reason and counted.
#[test]
fn failed_upgrades_change_nothing() {
    let copy = BinaryCopy::new();
    let (shoutd, pid_file) = start(&copy, Model::Pool, &["--metrics-listen", "127.0.0.1:0"]);
    let pid = shoutd.child.id();

    copy.replace_with_script("exit 1");
    shoutd.signal(Signal::USR2);
    let line = shoutd.expect_log("upgrade failed");
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("exit status: 1"), "{line}");
    assert_eq!(read_pid_file(&pid_file), Some(pid));
    assert_eq!(round_trip(shoutd.addr, b"still"), b"STILL");

    copy.replace_with_script("exec sleep 60");
    shoutd.signal(Signal::USR2);
    let lines = shoutd.log_until_within("upgrade failed", Duration::from_secs(25));
    let line = lines.last().expect("the failure line");
    assert!(line.contains("not ready within 10s"), "{line}");
    assert_eq!(read_pid_file(&pid_file), Some(pid));
    assert_eq!(round_trip(shoutd.addr, b"on"), b"ON");

    // One that connects, takes the listeners, closes the channel and lives on: killed, and said so (not reported as
    // having exited with the kill's signal).
    copy.replace_with_script(
        "exec python3 -c 'import os, socket, time\n\
         s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)\n\
         s.connect(\"\\0\" + os.environ[\"SHOUTD_UPGRADE_FROM\"])\n\
         s.recv(65536)\n\
         s.close()\n\
         time.sleep(60)'",
    );
    shoutd.signal(Signal::USR2);
    let line = shoutd.expect_log("upgrade failed");
    assert!(
        line.contains("closed the channel before it was ready and did not exit within 1s; killed"),
        "{line}"
    );
    assert!(!line.contains("signal"), "{line}");
    assert_eq!(read_pid_file(&pid_file), Some(pid));
    assert_eq!(round_trip(shoutd.addr, b"again"), b"AGAIN");

    let metrics = scrape(shoutd.metrics_addr());
    assert_eq!(
        metrics.counter("shout_upgrades_total{result=\"exited\"}"),
        2
    );
    assert_eq!(
        metrics.counter("shout_upgrades_total{result=\"timeout\"}"),
        1
    );
    assert_eq!(metrics.counter("shout_upgrades_total{result=\"ok\"}"), 0);
}

/// A storm of 20 SIGUSR2 starts one upgrade; the others are logged and ignored.
#[test]
fn usr2_storm_starts_one_upgrade() {
    let copy = BinaryCopy::new();
    let (mut shoutd, pid_file) = start(&copy, Model::Pool, &[]);
    for _ in 0..20 {
        shoutd.signal(Signal::USR2);
    }
    let lines = shoutd.log_until("upgrade: the new process serves");
    let new = read_pid_file(&pid_file).expect("the new PID");
    let _guard = KillOnDrop(new);
    assert_eq!(shoutd.wait_exit().code(), Some(0));
    let mut lines = lines;
    lines.extend(shoutd.log.try_iter());
    let started = lines
        .iter()
        .filter(|l| l.contains("upgrade: starting the new process"))
        .count();
    assert_eq!(started, 1, "{lines:#?}");
    assert!(!exited(new));
    assert_eq!(round_trip(shoutd.addr, b"one"), b"ONE");
    signal_pid(new, Signal::TERM);
    wait_exited(new);
}

/// SIGTERM while the new process is starting: it is killed, the upgrade is logged as failed,
/// and the old process drains (an open connection gets every answer) and exits 0.
#[test]
fn term_during_upgrade_stops_cleanly() {
    let copy = BinaryCopy::new();
    let (mut shoutd, pid_file) = start(&copy, Model::Threads, &[]);
    let mut client = connect(shoutd.addr);
    client.write_all(b"kept").unwrap();
    assert_eq!(read_n(&mut client, 4), b"KEPT");
    copy.replace_with_script("exec sleep 60");
    shoutd.signal(Signal::USR2);
    shoutd.expect_log("upgrade: starting the new process");
    shoutd.signal(Signal::TERM);
    let line = shoutd.expect_log("upgrade failed");
    assert!(line.contains("cancelled"), "{line}");
    assert_eq!(read_to_end(&mut client), b"");
    drop(client);
    assert_eq!(shoutd.wait_exit().code(), Some(0));
    assert!(!pid_file.exists());
}

/// A PID file that cannot be written is an error at start (exit 1) naming the file.
#[test]
fn unwritable_pid_file_is_an_error() {
    let (code, _, stderr) = run_text(
        "shoutd",
        &[
            "--listen",
            "127.0.0.1:0",
            "--pid-file",
            "/nonexistent-dir/shoutd.pid",
        ],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("/nonexistent-dir/shoutd.pid"), "{stderr}");
}

model_tests! {
    /// A plaintext connection moves with its state: a character cut by the last read before
    /// the upgrade is completed by the first byte after it, and answers the client had not yet
    /// read when the upgrade began (2 MiB, the client not reading) all arrive, in order.
    fn handed_over_connection_keeps_its_state(model) {
        let copy = BinaryCopy::new();
        let (shoutd, pid_file) = start(&copy, model, &[]);
        let pid = shoutd.child.id();
        let mut client = connect(shoutd.addr);
        client.write_all(b"caf\xc3").unwrap();
        assert_eq!(read_n(&mut client, 3), b"CAF");
        let new = upgrade(&shoutd, &pid_file, pid);
        let _guard = KillOnDrop(new);
        client.write_all(b"\xa9!").unwrap();
        assert_eq!(read_n(&mut client, 3), "É!".as_bytes());

        // 2 MiB sent without reading: the old process stalls on the answers.
        let payload = vec![b'x'; 2 << 20];
        let mut writer = client.try_clone().unwrap();
        let sent = payload.clone();
        let writing = thread::spawn(move || writer.write_all(&sent).is_ok());
        let newer = upgrade(&shoutd, &pid_file, new);
        let _guard2 = KillOnDrop(newer);
        let answer = read_n(&mut client, payload.len());
        assert!(answer.iter().all(|&b| b == b'X'), "answers lost or changed");
        assert!(join_within(writing, TIMEOUT));
        client.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(read_to_end(&mut client), b"");
        signal_pid(newer, Signal::TERM);
        wait_exited(newer);
    }
}

/// A PROXY-protocol connection moves with the client address of its header, which keeps its
/// per-address slot in the new process: a second connection from that address is refused.
#[test]
fn proxied_connection_keeps_its_client_address() {
    let copy = BinaryCopy::new();
    let (mut shoutd, pid_file) = start(
        &copy,
        Model::Pool,
        &["--proxy-protocol", "--max-connections-per-ip", "1"],
    );
    let pid = shoutd.child.id();
    let mut client = connect(shoutd.addr);
    client.write_all(&proxy_v2_header("10.1.2.3:4000")).unwrap();
    client.write_all(b"via proxy\n").unwrap();
    assert_eq!(read_n(&mut client, 10), b"VIA PROXY\n");
    let new = upgrade(&shoutd, &pid_file, pid);
    let _guard = KillOnDrop(new);
    // The hand-over is over once the old process has exited and the new one has counted what
    // it took.
    assert_eq!(shoutd.wait_exit().code(), Some(0));
    let taken = shoutd.expect_log("connections taken over from the old process");
    assert!(taken.contains("connections=1"), "{taken}");
    client.write_all(b"still\n").unwrap();
    assert_eq!(read_n(&mut client, 6), b"STILL\n");
    let mut second = connect(shoutd.addr);
    second.write_all(&proxy_v2_header("10.1.2.3:4001")).unwrap();
    let refused = String::from_utf8_lossy(&read_to_end(&mut second)).into_owned();
    assert!(refused.starts_with("ERR server busy"), "{refused:?}");
    let mut other = connect(shoutd.addr);
    other.write_all(&proxy_v2_header("10.9.9.9:4000")).unwrap();
    other.write_all(b"other\n").unwrap();
    assert_eq!(read_n(&mut other, 6), b"OTHER\n");
    drop((client, other));
    signal_pid(new, Signal::TERM);
    wait_exited(new);
}

model_tests! {
    /// A connection the old process accepted whose PROXY header has not come when the
    /// hand-over begins finishes its set-up there, then moves: nothing is lost.
    fn connection_in_set_up_finishes_then_moves(model) {
        let copy = BinaryCopy::new();
        let (mut shoutd, pid_file) = start(
            &copy,
            model,
            &["--proxy-protocol", "--metrics-listen", "127.0.0.1:0"],
        );
        let pid = shoutd.child.id();
        let mut client = connect(shoutd.addr);
        wait_active(shoutd.metrics_addr(), 1);
        let new = upgrade(&shoutd, &pid_file, pid);
        let _guard = KillOnDrop(new);
        client.write_all(&proxy_v2_header("10.1.2.3:4000")).unwrap();
        client.write_all(b"late\n").unwrap();
        assert_eq!(read_n(&mut client, 5), b"LATE\n");
        assert_eq!(shoutd.wait_exit().code(), Some(0));
        client.write_all(b"more\n").unwrap();
        assert_eq!(read_n(&mut client, 5), b"MORE\n");
        drop(client);
        signal_pid(new, Signal::TERM);
        wait_exited(new);
    }
}
