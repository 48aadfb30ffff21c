//! Options that repeat what cannot be repeated are usage errors (exit 2) that name the
//! repetition: the same address twice for shoutd (which used to fail with "Address already in
//! use", as if another program held it), and two `--slo` bounds on one percentile for the
//! bench (which used to keep the first silently).

use std::net::TcpListener;

use shout_tests::*;

/// A port nobody listens on, as `127.0.0.1:PORT`.
fn free_addr() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("its address").to_string()
}

/// `-l A -l A`, and `--metrics-listen A` with `-l A`: exit 2, both named, nothing bound.
#[test]
fn shoutd_refuses_an_address_given_twice() {
    let addr = free_addr();
    for args in [
        ["--listen", addr.as_str(), "--listen", addr.as_str()],
        ["--listen", addr.as_str(), "--metrics-listen", addr.as_str()],
    ] {
        let (code, _, err) = run_bin("shoutd", &args, Vec::new());
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(&format!("{} {addr} is", args[2])), "{err}");
        assert!(err.contains(&format!("is --listen {addr}")), "{err}");
        assert!(!err.contains("already in use"), "{err}");
    }
}

/// `--slo p99=1ms --slo p99=2ms`: exit 2 naming the percentile, before any connection.
#[test]
fn bench_refuses_two_bounds_on_one_percentile() {
    let (code, _, err) = run_shout(
        &[
            "bench",
            "--find-max",
            "--slo",
            "p99=1ms",
            "--slo",
            "p99=2ms",
            &free_addr(),
        ],
        Vec::new(),
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--slo gives p99 twice"), "{err}");
}
