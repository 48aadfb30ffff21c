//! Every server test runs on both concurrency models: [`model_tests!`](crate::model_tests)
//! defines a test once per model, and the helpers start a server of the model given.

use shout_server::{Config, Model};

use crate::server::TestServer;

/// Defines each test once per concurrency model: `model_tests! { /// doc
/// fn name(model) { ... } }` becomes module `name` with tests `pool` and `threads`, each
/// running the body with `model` set to that [`shout_server::Model`].
#[macro_export]
macro_rules! model_tests {
    ($( $(#[doc = $doc:expr])* fn $name:ident($model:ident) $body:block )*) => {
        $(
            $(#[doc = $doc])*
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                fn run($model: shout_server::Model) $body

                /// With the event-driven worker pool.
                #[test]
                fn pool() {
                    run(shout_server::Model::Pool)
                }

                /// With a thread per connection.
                #[test]
                fn threads() {
                    run(shout_server::Model::Threads)
                }
            }
        )*
    };
}

/// Starts an in-process server with the default configuration and the given model.
pub fn server_with(model: Model) -> TestServer {
    TestServer::start(Config {
        model,
        ..Config::default()
    })
}

/// The `--model` arguments for the real shoutd.
pub fn model_args(model: Model) -> [&'static str; 2] {
    ["--model", model.as_str()]
}
