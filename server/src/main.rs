//! shoutd. 
fn main() {}
