//! Network faults reproduced for real: the real `shoutd` and `shout bench` run in a private
//! network namespace whose iptables drops 5% or 25% of all packets at random, or resets a
//! share of connections. Under loss every answer that arrives is exact (zero mismatches; a slow
//! answer is a timeout, nothing else) and every message is accounted for; under resets,
//! `--reconnect` gets every message its exact answer. Each test runs against both models.
//!
//! These tests need root, iproute2 and iptables (see `shout_tests::netns`). They run under
//! [`shout_tests::needs`]: where namespaces are unavailable they are reported as ignored, or
//! fail when `SHOUT_REQUIRE_NETNS=1` (as in `.ci/run`).

use std::process::ExitCode;
use std::time::Duration;

use rustix::process::Signal;
use shout_tests::needs::{self, Need, Test};
use shout_tests::netns::{BenchRun, Netns};
use shout_tests::*;

fn main() -> ExitCode {
    let mut tests = Vec::new();
    // 5% of packets dropped: every answer that arrives is exact, every message accounted for.
    tests.extend(Test::both_models(
        "loss_5_percent",
        &[Need::Netns],
        |model| under_loss(model, "0.05"),
    ));
    // 25% of packets dropped: every answer that arrives is exact (late ones are timeouts, not
    // mismatches), every message accounted for.
    tests.extend(Test::both_models(
        "loss_25_percent",
        &[Need::Netns],
        |model| under_loss(model, "0.25"),
    ));
    // 1% of the client's data packets answered with a TCP reset: with `--reconnect` every
    // message still gets its exact answer.
    tests.extend(Test::both_models(
        "resets_with_reconnect",
        &[Need::Netns],
        |model| under_resets(model, "0.01"),
    ));
    needs::run(tests)
}

/// Every run: this many messages, open loop at this rate (three seconds of load), over this
/// many connections with up to 8 messages in flight on each.
const MESSAGES: u64 = 3000;
const RATE: u64 = 1000;
const CONNECTIONS: u64 = 20;

/// The bench options of every run (the address and `--timeout` are added).
fn load() -> Vec<String> {
    [
        "--connections".to_owned(),
        CONNECTIONS.to_string(),
        "--rate".to_owned(),
        RATE.to_string(),
        "--messages".to_owned(),
        MESSAGES.to_string(),
        "--pipeline".to_owned(),
        "8".to_owned(),
    ]
    .into()
}

/// How long a run may take at most: its load, then up to one answer timeout to finish and one
/// to close, and a margin for a busy machine.
fn limit(timeout: Duration) -> Duration {
    Duration::from_secs(MESSAGES / RATE) + 2 * timeout + TIMEOUT
}

/// Starts shoutd with `model` inside `ns`, short drains so a stop never waits long for a
/// connection whose client is gone.
fn start_shoutd(ns: &Netns, model: shout_server::Model) -> Shoutd {
    let mut args = model_args(model).to_vec();
    args.extend(["--drain-timeout", "1s"]);
    ns.shoutd(&args)
}

/// Runs the bench inside `ns` against `shoutd` with the common load, `timeout` and `extra`.
fn bench(ns: &Netns, shoutd: &Shoutd, timeout: Duration, extra: &[&str]) -> BenchRun {
    let mut args = vec![shoutd.addr.to_string()];
    args.extend(load());
    args.push(format!("--timeout={}ms", timeout.as_millis()));
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ns.bench(&args, limit(timeout))
}

/// Stops shoutd with SIGTERM; returns its byte counts in and out, from its summary line.
fn stop(mut shoutd: Shoutd) -> (u64, u64) {
    shoutd.signal(Signal::TERM);
    let line = shoutd.expect_log("stopped:");
    let field = |name: &str| {
        line.split(&format!(" {name}="))
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no {name} in: {line}"))
    };
    let bytes = (field("bytes_in"), field("bytes_out"));
    assert!(shoutd.wait_exit().success(), "shoutd failed to stop");
    bytes
}

/// Drops `probability` of every packet in a fresh namespace and runs the bench without
/// `--reconnect`: zero mismatches, and every message sent is answered, timed out or cut short.
fn under_loss(model: shout_server::Model, probability: &str) {
    let ns = Netns::create();
    let shoutd = start_shoutd(&ns, model);
    ns.iptables(&[
        "-A",
        "INPUT",
        "-m",
        "statistic",
        "--mode",
        "random",
        "--probability",
        probability,
        "-j",
        "DROP",
    ]);
    // Short enough that some answers come late under heavy loss: they must count as timeouts.
    let run = bench(&ns, &shoutd, Duration::from_secs(2), &[]);
    let (bytes_in, bytes_out) = stop(shoutd);
    let evidence = format!(
        "{}\nserver: {bytes_in} bytes in, {bytes_out} bytes out",
        run.summary()
    );
    eprintln!("{probability} loss, {model:?}: {evidence}");
    let sent = run.count("messages", "sent");
    let answered = run.count("messages", "answered");
    let timeouts = run.count("errors", "timeouts");
    let short = run.count("errors", "short_answers");
    assert_eq!(
        run.count("errors", "mismatches"),
        0,
        "a wrong answer under {probability} loss: {evidence}"
    );
    assert_eq!(
        sent,
        answered + timeouts + short,
        "every message sent is answered, timed out or cut short, once: {evidence}"
    );
    assert!(
        run.count("messages", "late") <= timeouts,
        "a late answer is counted as a timeout: {evidence}"
    );
    assert!(answered > 0, "nothing answered: {evidence}");
}

/// Resets `probability` of the client's data packets to the server (the client gets a TCP
/// reset in their place) and runs the bench with `--reconnect`: every message gets its exact
/// answer, and connections were really reset and reopened.
fn under_resets(model: shout_server::Model, probability: &str) {
    let ns = Netns::create();
    let shoutd = start_shoutd(&ns, model);
    let port = shoutd.addr.port().to_string();
    // Only packets carrying data (a 64-byte message makes a 116-byte packet; handshake and
    // bare acknowledgements are 60 bytes at most), so connecting is never refused: every reset
    // hits an open connection with messages in flight, and the client learns of it at once.
    ns.iptables(&[
        "-A",
        "INPUT",
        "-p",
        "tcp",
        "--dport",
        &port,
        "-m",
        "length",
        "--length",
        "100:65535",
        "-m",
        "statistic",
        "--mode",
        "random",
        "--probability",
        probability,
        "-j",
        "REJECT",
        "--reject-with",
        "tcp-reset",
    ]);
    let run = bench(&ns, &shoutd, TIMEOUT / 2, &["--reconnect"]);
    let (bytes_in, bytes_out) = stop(shoutd);
    let evidence = format!(
        "{}\nserver: {bytes_in} bytes in, {bytes_out} bytes out",
        run.summary()
    );
    eprintln!("{probability} resets, {model:?}: {evidence}");
    for error in ["mismatches", "short_answers", "timeouts"] {
        assert_eq!(run.count("errors", error), 0, "{error}: {evidence}");
    }
    assert_eq!(run.count("messages", "unsent"), 0, "{evidence}");
    assert_eq!(
        run.count("messages", "answered"),
        MESSAGES,
        "every message answered: {evidence}"
    );
    assert_eq!(run.code, Some(0), "{evidence}");
    assert!(
        run.count("errors", "connection_errors") > 0 && run.count("connections", "reopened") > 0,
        "no connection was reset: {evidence}"
    );
}
