//! Accept errors: when shoutd runs out of file descriptors (`EMFILE`) it logs once, pauses
//! accepting briefly instead of spinning, keeps serving its connections, and resumes.

use std::io::Write;
use std::net::TcpStream;

use shout_tests::*;

model_tests! {
/// Out of descriptors, shoutd pauses accepting (no busy loop), keeps serving, then resumes.
fn emfile_pauses_accepting_without_spinning(model) {
    let shoutd = Shoutd::start(&model_args(model));
    let pid = shoutd.child.id();
    let mut first = connect(shoutd.addr);
    first.write_all(b"before").unwrap();
    assert_eq!(read_n(&mut first, 6), b"BEFORE");

    // Leave shoutd room for only a few more sockets.
    leave_descriptors(&shoutd.child, 5);

    let mut clients: Vec<TcpStream> = (0..20).map(|_| connect(shoutd.addr)).collect();
    shoutd.expect_log("accept failed");

    // Paused, not spinning.
    assert_not_spinning(pid, "while out of descriptors");

    // Existing connections are served meanwhile.
    first.write_all(b"during").unwrap();
    assert_eq!(read_n(&mut first, 6), b"DURING");

    // Free descriptors: the pending connections are accepted and served.
    let mut last = clients.pop().unwrap();
    clients.clear();
    drop(first);
    last.write_all(b"after").unwrap();
    assert_eq!(read_n(&mut last, 5), b"AFTER");
}
}
