//! shout as a library: connect to shoutd, chat from a prompt ([`interactive`]) or stream data
//! through it ([`pipe`]), or load-test it ([`mod@bench`]).

pub mod bench;
pub mod cli;
pub mod connect;
pub mod interactive;
pub mod outcome;
pub mod pipe;
mod sys;

pub use connect::{connect, ConnectError, ConnectOptions};
