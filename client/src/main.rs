//! shout.
fn main() {}
