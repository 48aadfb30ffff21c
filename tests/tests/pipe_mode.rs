//! The real `shout` in pipe mode against the real `shoutd`: stdin streams through the server to
//! stdout, 100 MiB of binary data included, and empty input ends at once.

use shout_common::{transform_all, Mode};
use shout_tests::*;

/// With nothing to send, shout half-closes at once and exits 0 with no output.
#[test]
fn pipe_mode_empty_input() {
    let shoutd = Shoutd::start(&[]);
    let (code, out, err) = run_shout(&[&shoutd.addr.to_string()], Vec::new());
    assert_eq!((code, out.len()), (Some(0), 0), "stderr: {err}");
}

model_tests! {
/// `shout < f > g` through the real shoutd gives the transformed `f`: 100 MiB, binary bytes,
/// streamed both ways at once, exit 0.
fn pipe_mode_100_mib(model) {
    let shoutd = Shoutd::start(&model_args(model));
    let input = pipe_payload(100 << 20);
    let expected = transform_all(Mode::Upper, &input);
    let (code, out, err) = run_shout(&[&shoutd.addr.to_string()], input);
    assert_eq!(code, Some(0), "stderr: {err}");
    assert_eq!(out.len(), expected.len());
    assert!(out == expected, "answer differs from the transform");
}
}
