//! shout as a library: connect to shoutd ([`mod@connect`]), chat from a prompt ([`interactive`])
//! or stream data through it ([`pipe`]), or load-test it ([`mod@bench`]) and chart the
//! results ([`report`]); [`cli`] runs the
//! command the options name and maps how it ended into an [`outcome::Outcome`], the one home
//! of the exit codes. Modules import one way, from `cli` down to `connect`.

pub mod bench;
pub mod cli;
pub mod connect;
pub mod histcodec;
pub mod interactive;
pub mod outcome;
pub mod pipe;
pub mod report;
pub mod stream;
mod sys;
pub mod terminal;
pub mod tls;

pub use connect::{connect, ConnectError, ConnectOptions};
