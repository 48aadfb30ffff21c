//! Helpers shared by the end-to-end tests, one module per job. Test files take them all with
//! `use shout_tests::*;`.
//!
//! Every socket has a timeout and every wait a bound ([`TIMEOUT`]): a bug fails a test, it never
//! hangs it.

// Waiting with a bound.
pub mod wait;
pub use wait::{join_within, wait_until, TIMEOUT};

// Sockets: connecting with timeouts, reading answers, free ports, a flooding client.
pub mod net;
pub use net::{
    closed_within, connect, connect_from, free_port_addr, proxy_v2_header, read_n, read_to_end,
    round_trip, Flood,
};

// The server in this process.
pub mod server;
pub use server::TestServer;

// A small HTTP client for the metrics endpoint (`shout_tests::http::…`).
pub mod http;

// The real binaries as child processes.
pub mod process;
pub use process::{
    assert_not_spinning, bin, leave_descriptors, pipe_payload, run_bin, run_shout, run_text,
    wait_child,
};
pub mod shoutd;
pub use shoutd::{log_field, Shoutd};
// Processes that outlive the first one: upgrades, PID files.
pub mod daemon;

// The real binaries on a pseudo-terminal.
pub mod pty;
pub use pty::Terminal;

// TLS: certificates made at test time, TLS servers, a rustls client.
pub mod tls;
pub use tls::{tls_server, Certs, TlsClient};

// Every server test on both concurrency models (and the `model_tests!` macro).
pub mod models;
pub use models::{model_args, server_with};

// `shout bench` in this process (`shout_tests::bench::…`).
pub mod bench;

// Bench reports made up for the `shout report` tests (`shout_tests::report::…`).
pub mod report;

// A server whose capacity is limited on purpose (for `--find-max`).
pub mod limited;
pub use limited::LimitedServer;

// Network faults in private network namespaces.
pub mod netns;

// The harness of the tests that need a tool from outside the toolchain: ignored, not passed,
// where it is missing.
pub mod needs;

// The check that modules import one way (`tests/tests/layers.rs`).
pub mod layers;

/// Checking `--help` against the clap definitions.
pub mod help;
