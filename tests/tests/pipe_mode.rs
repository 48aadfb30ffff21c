//! The real `shout` in pipe mode against the real `shoutd`: stdin streams through the server to
//! stdout, 100 MiB of binary data included, and empty input ends at once.

use shout_common::{transform_all, Mode};
use shout_tests::*;

/// 100 MiB of mixed text and arbitrary bytes (deterministic).
fn payload(len: usize) -> Vec<u8> {
    let text = "Grüße aus Köln, straße ǆ ﬁ 😀 plain ascii text\n".as_bytes();
    let mut out = Vec::with_capacity(len);
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    while out.len() < len {
        out.extend_from_slice(text);
        for _ in 0..16 {
            // xorshift: some bytes that are not UTF-8
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            out.push(state as u8);
        }
    }
    out.truncate(len);
    out
}

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
    let input = payload(100 << 20);
    let expected = transform_all(Mode::Upper, &input);
    let (code, out, err) = run_shout(&[&shoutd.addr.to_string()], input);
    assert_eq!(code, Some(0), "stderr: {err}");
    assert_eq!(out.len(), expected.len());
    assert!(out == expected, "answer differs from the transform");
}
}
