//! Observability over HTTP for `--metrics-listen`: Prometheus metrics (text format at
//! `/metrics`) from the [`collector`], answered by the [`endpoint`]'s own event loop, which
//! reads requests and writes answers with [`http`]. (The `--stats-interval` log line has its
//! own module, `stats_log`.)

mod collector;
mod endpoint;
mod http;

pub(crate) use collector::registry;
pub(crate) use endpoint::{Endpoint, BACKLOG};
