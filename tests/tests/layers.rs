//! Layers that import one way: no module of shout-server, shout-client, shout-common (or these
//! tests' helpers) imports one that, directly or through others, imports it back. The check
//! reads the `use crate::` graph from the sources (`shout_tests::layers`, whose own unit tests
//! show it fails on a cycle); CI runs it with the rest of the suite.

use std::path::{Path, PathBuf};

use shout_tests::layers;

/// The `src/` folder of workspace member `member`.
fn src(member: &str) -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lies in the workspace");
    workspace.join(member).join("src")
}

/// Checks `member` and returns how many edges its graph has, panicking with the report of
/// every cycle.
fn assert_one_way(member: &str) -> usize {
    let graph = layers::check(&src(member)).unwrap_or_else(|report| panic!("{report}"));
    graph.edges.values().map(|targets| targets.len()).sum()
}

/// The server's modules import one way (and the check sees its imports: `accept` names
/// `shared`).
#[test]
fn server_layers_run_one_way() {
    let graph = layers::check(&src("server")).unwrap_or_else(|report| panic!("{report}"));
    assert!(
        graph.edges["crate::accept"].contains_key("crate::shared"),
        "the check did not see accept.rs import shared.rs: {:#?}",
        graph.edges
    );
}

/// The client's modules import one way.
#[test]
fn client_layers_run_one_way() {
    assert!(assert_one_way("client") > 0, "no import seen in the client");
}

/// The protocol crate's modules import one way.
#[test]
fn common_layers_run_one_way() {
    assert!(assert_one_way("common") > 0, "no import seen in common");
}

/// These tests' own helpers import one way.
#[test]
fn test_helpers_run_one_way() {
    assert_one_way("tests");
}
