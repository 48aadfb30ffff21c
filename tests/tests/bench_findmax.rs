//! `shout bench --find-max`: against a server whose capacity is known (it answers at most
//! 2,000 lines a second), the search finds a rate between half and 1.1 times that capacity,
//! on one set of connections, and reports every step; an SLO no rate can meet ends with exit
//! code 1 and no answer.

use std::time::Duration;

use shout_client::bench::report::Report;
use shout_tests::bench::{bench_args, exclusive_cores, spawn_bench};
use shout_tests::*;

/// The server's capacity, in messages per second.
const CAPACITY: f64 = 2000.0;

/// Runs a find-max bench in-process; panics if it cannot start or outlives its bound: every
/// step at most its warm-up and two measurements (and the second it starts in), plus
/// [`TIMEOUT`] to finish.
fn run_find_max(server: std::net::SocketAddr, opts: &[&str]) -> Report {
    let args = bench_args(&[server], opts);
    let step = args.effective_warmup() + 2 * args.step_measure() + Duration::from_secs(1);
    let limit = step * args.max_steps + TIMEOUT;
    join_within(spawn_bench(args), limit).expect("the bench runs")
}

/// The search from 500 msgs/s with a loose SLO (overload is caught by the achieved rate and
/// the climbing latency, which no SLO can hide): the answer lies in [0.5, 1.1] x capacity,
/// every step above 1.1 x capacity failed, the steps follow the search (growth, then
/// bisection), and the series' scheduled rate follows the steps.
#[test]
fn finds_the_capacity_of_a_limited_server() {
    let _cores = exclusive_cores();
    let server = LimitedServer::start(CAPACITY);
    let opts = [
        "--find-max",
        "--slo",
        "p99=500ms",
        "--rate",
        "500",
        "-d",
        "1s",
        "--warmup",
        "1s",
        "--max-steps",
        "6",
        "-c",
        "20",
        "--label",
        "find-max",
    ];
    let report = run_find_max(server.addr, &opts);
    let table = report.table();
    let f = report.find_max().expect("a find-max run");
    let answer = f.answer.expect("an answer");
    assert!(
        (0.5 * CAPACITY..=1.1 * CAPACITY).contains(&answer),
        "answer {answer}\n{table}"
    );
    assert!(f.found());
    assert_eq!(report.exit_code(), 0, "{table}");
    assert!(f.steps.len() <= 6, "{table}");
    let rates: Vec<f64> = f.steps.iter().map(|s| s.target).collect();
    assert_eq!(
        rates[..2],
        [500.0, 1000.0],
        "growth from the start: {table}"
    );
    for step in &f.steps {
        if step.target > 1.1 * CAPACITY {
            assert!(!step.met, "{step:?}\n{table}");
        }
        if step.met {
            assert!(step.steady, "{step:?}");
        }
    }
    let best = f
        .steps
        .iter()
        .filter(|s| s.met)
        .map(|s| s.target)
        .fold(0.0, f64::max);
    assert_eq!(best, answer);
    assert!(table.contains("answer        "), "{table}");
    assert!(table.contains("result        OK"), "{table}");

    let json = report.json();
    let fm = &json["find_max"];
    assert_eq!(fm["found"], true);
    assert_eq!(fm["answer_msgs_per_s"], answer);
    assert_eq!(fm["slo"]["p99_us"], 500_000);
    assert!(fm["slo"]["p50_us"].is_null());
    assert_eq!(fm["steps"].as_array().map(Vec::len), Some(f.steps.len()));
    for key in [
        "target_msgs_per_s",
        "achieved_msgs_per_s",
        "p50_us",
        "p99_us",
        "p99_9_us",
        "max_us",
        "errors",
        "error_rate",
        "steady",
        "met",
        "duration_s",
        "start_s",
    ] {
        assert!(!fm["steps"][0][key].is_null(), "{key}: {}", fm["steps"][0]);
    }
    // Each step's last measured second was scheduled at its rate.
    let series = json["series"].as_array().expect("series");
    for step in &f.steps {
        let measured = (step.start_s + step.duration_s - 1) as usize;
        let target = series[measured]["target_msgs_per_s"]
            .as_f64()
            .expect("a rate");
        // Within 10%: a worker stalled as the step began may change its rate a little late.
        assert!(
            (target - step.target).abs() <= 0.1 * step.target,
            "{step:?}: {target}"
        );
        assert_eq!(series[measured]["warmup"], false);
        assert_eq!(series[step.start_s as usize]["warmup"], true);
    }
    assert_eq!(report.counts().opened, 20, "one set of connections");
    assert_eq!(report.counts().reopened, 0);
}

/// An SLO no rate can meet (p99 within a microsecond): the search gives up after its steps,
/// finds nothing, and the run's exit code is 1.
#[test]
fn an_unattainable_slo_exits_1() {
    let _cores = exclusive_cores();
    let server = TestServer::default_config();
    let report = run_find_max(
        server.addr,
        &[
            "--find-max",
            "--slo",
            "p99=1us",
            "--rate",
            "200",
            "-d",
            "1s",
            "--max-steps",
            "2",
            "-c",
            "4",
        ],
    );
    let f = report.find_max().expect("a find-max run");
    let table = report.table();
    assert_eq!(f.steps.len(), 2, "{table}");
    assert!(f.steps.iter().all(|s| !s.met), "{table}");
    assert_eq!(f.steps[1].target, 100.0, "halved after a failure: {table}");
    assert_eq!(f.answer, None);
    assert!(!f.found());
    assert_eq!(report.exit_code(), 1, "{table}");
    assert!(table.contains("no rate tried met the SLO"), "{table}");
    let json = report.json();
    assert_eq!(json["find_max"]["found"], false);
    assert!(json["find_max"]["answer_msgs_per_s"].is_null());
    assert_eq!(json["exit_code"], 1);
}

/// --find-max without an SLO, or with a profile, is a usage error (exit code 2).
#[test]
fn find_max_usage_errors() {
    for (args, words) in [
        (&["--find-max"][..], "--slo"),
        (
            &[
                "--find-max",
                "--slo",
                "p99=1ms",
                "--rate",
                "1..2",
                "--ramp",
                "1s",
            ][..],
            "--ramp",
        ),
        (
            &["--find-max", "--slo", "p97=1ms"][..],
            "p50, p90, p99, p99.9",
        ),
        (&["--slo", "p99=1ms"][..], "--find-max"),
        (
            &["--find-max", "--slo", "p99=1ms", "-n", "100"][..],
            "--messages",
        ),
    ] {
        let mut argv = vec!["bench"];
        argv.extend_from_slice(args);
        argv.push("127.0.0.1:1");
        let (code, out, err) = run_text("shout", &argv);
        assert_eq!(code, Some(2), "{args:?}\nstdout: {out}\nstderr: {err}");
        assert!(err.contains(words), "{args:?}: {err}");
    }
}
