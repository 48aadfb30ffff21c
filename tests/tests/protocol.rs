//! The protocol over real sockets: answers at once, Unicode, invalid bytes, cut characters,
//! large pipelined streams, half-close.

use std::io::Write;
use std::net::Shutdown;
use std::thread;
use std::time::Duration;

use shout_common::{transform_all, Mode};
use shout_server::Config;
use shout_tests::*;

/// Sends `input` from one thread while reading the answer on this one.
fn round_trip_concurrent(addr: std::net::SocketAddr, input: Vec<u8>) -> Vec<u8> {
    let mut stream = connect(addr);
    let mut writer = stream.try_clone().unwrap();
    let sender = thread::spawn(move || {
        for chunk in input.chunks(100_000) {
            writer.write_all(chunk).unwrap();
        }
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let answer = read_to_end(&mut stream);
    join_within(sender, TIMEOUT);
    answer
}

model_tests! {
/// A client that sends no newline gets its answer at once (the original Python client).
fn answers_without_newline(model) {
    let server = server_with(model);
    let mut stream = server.connect();
    for word in ["hello", "world", "x"] {
        stream.write_all(word.as_bytes()).unwrap();
        assert_eq!(
            read_n(&mut stream, word.len()),
            word.to_uppercase().as_bytes()
        );
    }
}

/// Full Unicode uppercasing, and bytes that are not UTF-8 come back unchanged.
fn unicode_and_invalid_bytes(model) {
    let server = server_with(model);
    let input = [
        "straße ǆ ﬁ héllo 日本 😀\n".as_bytes(),
        b"\xff\xfe raw \xc3\x28 \xed\xa0\x80 end",
    ]
    .concat();
    let answer = round_trip(server.addr, &input);
    let mut expected = "STRASSE Ǆ FI HÉLLO 日本 😀\n".as_bytes().to_vec();
    expected.extend_from_slice(b"\xff\xfe RAW \xc3\x28 \xed\xa0\x80 END");
    assert_eq!(answer, expected);
}

/// A character sent one byte at a time is answered whole once its last byte arrives.
fn character_one_byte_at_a_time(model) {
    let server = server_with(model);
    let mut stream = server.connect();
    stream.set_nodelay(true).unwrap();
    for ch in ["ß", "😀", "ǆ"] {
        let bytes = ch.as_bytes();
        for &b in &bytes[..bytes.len() - 1] {
            stream.write_all(&[b]).unwrap();
            thread::sleep(Duration::from_millis(20));
        }
        // Nothing may come back for a partial character.
        assert!(!closed_within(&mut stream, Duration::from_millis(50)));
        stream.write_all(&bytes[bytes.len() - 1..]).unwrap();
        let want = ch.to_uppercase();
        assert_eq!(read_n(&mut stream, want.len()), want.as_bytes());
    }
}

/// Several MiB sent without waiting come back complete and in order while we keep sending
/// (the server never waits for a newline or buffers without bound).
fn several_mib_pipelined(model) {
    let server = server_with(model);
    let unit = ["abc déf ﬁ straße 😀 ".as_bytes(), b"\xff\n"].concat();
    let input: Vec<u8> = unit.iter().copied().cycle().take(8 << 20).collect();
    let expected = transform_all(Mode::Upper, &input);
    assert_eq!(round_trip_concurrent(server.addr, input), expected);
}

/// After the client half-closes, everything sent is answered (including a cut character at
/// the very end, unchanged), then the server closes.
fn half_close_answers_everything(model) {
    let server = server_with(model);
    let mut stream = server.connect();
    stream.write_all(b"last words \xc3").unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_end(&mut stream), b"LAST WORDS \xc3");
    let s = server.wait_for("the close to be counted", |s| s.active == 0);
    assert_eq!(s.closed(shout_server::CloseReason::Done), 1);
}

/// Echo mode sends back every byte unchanged.
fn echo_mode(model) {
    let server = TestServer::start(Config {
        model,
        mode: Mode::Echo,
        ..Config::default()
    });
    let input = b"Mixed Case \xff stra\xc3\x9fe";
    assert_eq!(round_trip(server.addr, input), input);
}
}
