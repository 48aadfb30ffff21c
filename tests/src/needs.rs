//! Tests that need something from outside the Rust toolchain (haproxy, openssl, socat, network
//! namespaces) run under this harness (`harness = false` in `tests/Cargo.toml`, with
//! `libtest-mimic`): where what a test needs is missing, the test is reported as **ignored**
//! (never as passed), its reason beside its name saying what to install. Where the matching
//! `SHOUT_REQUIRE_*` variable is set (`.ci/run` sets them all), a missing tool fails the test
//! instead, so CI never skips one.
//!
//! The harness takes libtest's options (a name filter, `--exact`, `--test-threads`,
//! `--list`, `--include-ignored`), so `cargo test` runs these files like any other.

use std::process::{Command, ExitCode, Stdio};
use std::sync::OnceLock;

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use shout_server::Model;

/// Something a test needs that a fresh machine may lack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Need {
    /// The `haproxy` binary (Debian package `haproxy`).
    Haproxy,
    /// The `openssl` command (Debian package `openssl`).
    Openssl,
    /// The `socat` command (Debian package `socat`).
    Socat,
    /// Private network namespaces: root, `ip` (iproute2) and a working `iptables`.
    Netns,
}

impl Need {
    /// The variable that turns a missing `self` into a failure.
    pub fn required_by(self) -> &'static str {
        match self {
            Need::Haproxy => "SHOUT_REQUIRE_HAPROXY",
            Need::Openssl | Need::Socat => "SHOUT_REQUIRE_TLS_TOOLS",
            Need::Netns => "SHOUT_REQUIRE_NETNS",
        }
    }

    /// Whether the variable of [`Need::required_by`] is set (to anything but `0` or empty).
    pub fn is_required(self) -> bool {
        std::env::var_os(self.required_by()).is_some_and(|v| !v.is_empty() && v != "0")
    }

    /// `Ok` if `self` is there; otherwise what is missing and how to get it.
    pub fn check(self) -> Result<(), String> {
        match self {
            Need::Haproxy => runs("haproxy", &["-v"], "apt-get install haproxy"),
            Need::Openssl => runs("openssl", &["version"], "apt-get install openssl"),
            Need::Socat => runs("socat", &["-V"], "apt-get install socat"),
            Need::Netns => crate::netns::Netns::probe().map_err(|why| {
                format!(
                    "network namespaces are unavailable ({why}); run as root with iproute2 and \
                     iptables (apt-get install iproute2 iptables)"
                )
            }),
        }
    }
}

/// `Ok` if `program args` can be started; otherwise why not, with `install`.
fn runs(program: &str, args: &[&str], install: &str) -> Result<(), String> {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(drop)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!("{program} is not installed: {install}"),
            _ => format!("{program} cannot be started ({e}): {install}"),
        })
}

/// One test of a harness file: its name, what it needs, and its body (which panics on failure).
pub struct Test {
    name: String,
    needs: &'static [Need],
    body: Box<dyn FnOnce() + Send>,
}

impl Test {
    /// A test named `name` that needs `needs`.
    pub fn new(name: &str, needs: &'static [Need], body: impl FnOnce() + Send + 'static) -> Test {
        Test {
            name: name.to_owned(),
            needs,
            body: Box::new(body),
        }
    }

    /// The test on both concurrency models, named `NAME::pool` and `NAME::threads` as the
    /// `model_tests!` macro names them.
    pub fn both_models(name: &str, needs: &'static [Need], body: fn(Model)) -> [Test; 2] {
        [
            Test::new(&format!("{name}::pool"), needs, move || body(Model::Pool)),
            Test::new(&format!("{name}::threads"), needs, move || {
                body(Model::Threads)
            }),
        ]
    }
}

/// Runs `tests` as libtest would, with the command line's options: a test whose needs are
/// missing is ignored (the reason beside its name), or fails if its `SHOUT_REQUIRE_*` is set.
/// Each need is checked once, when the first test that needs it runs.
pub fn run(tests: impl IntoIterator<Item = Test>) -> ExitCode {
    let trials = tests
        .into_iter()
        .map(|test| {
            let (needs, body) = (test.needs, test.body);
            Trial::ignorable_test(test.name, move || {
                match decide(needs, checked, Need::is_required) {
                    Decision::Run => {
                        body();
                        Ok(Completion::Completed)
                    }
                    Decision::Ignore(why) => Ok(Completion::ignored_with(why)),
                    Decision::Fail(why) => Err(Failed::from(why)),
                }
            })
        })
        .collect();
    libtest_mimic::run(&Arguments::from_args(), trials).exit_code()
}

/// What to do with a test, given what it needs.
#[derive(Debug, PartialEq, Eq)]
enum Decision {
    /// Everything is there.
    Run,
    /// Something is missing (why and how to install it): reported as ignored.
    Ignore(String),
    /// Something required is missing: a failure.
    Fail(String),
}

/// The decision for a test that needs `needs`, with `check` telling what is there and
/// `required` which needs must not be ignored.
fn decide(
    needs: &[Need],
    check: impl Fn(Need) -> Result<(), String>,
    required: impl Fn(Need) -> bool,
) -> Decision {
    let mut ignore = Vec::new();
    let mut fail = Vec::new();
    for &need in needs {
        if let Err(why) = check(need) {
            if required(need) {
                fail.push(format!("{why} (required: {} is set)", need.required_by()));
            } else {
                ignore.push(why);
            }
        }
    }
    if !fail.is_empty() {
        Decision::Fail(fail.join("; "))
    } else if !ignore.is_empty() {
        Decision::Ignore(ignore.join("; "))
    } else {
        Decision::Run
    }
}

/// [`Need::check`], made once per need and process.
fn checked(need: Need) -> Result<(), String> {
    static CHECKS: [OnceLock<Result<(), String>>; 4] = [
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
    ];
    CHECKS[need as usize].get_or_init(|| need.check()).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A missing program is an error naming the program and how to install it.
    #[test]
    fn a_missing_program_names_itself_and_its_package() {
        let why = runs("shout-no-such-program", &[], "apt-get install it").unwrap_err();
        assert!(
            why.contains("shout-no-such-program is not installed"),
            "{why}"
        );
        assert!(why.contains("apt-get install it"), "{why}");
        assert_eq!(runs("true", &[], "-"), Ok(()));
    }

    /// A test whose need is missing is ignored, never run (and so never passed), unless the
    /// need is required: then it fails, naming the variable.
    #[test]
    fn missing_means_ignored_or_failed_never_run() {
        let missing = |need: Need| match need {
            Need::Socat => Err("socat is not installed".to_owned()),
            _ => Ok(()),
        };
        let nothing = |_: Need| false;
        assert_eq!(decide(&[Need::Openssl], missing, nothing), Decision::Run);
        assert_eq!(decide(&[], missing, nothing), Decision::Run);
        assert_eq!(
            decide(&[Need::Openssl, Need::Socat], missing, nothing),
            Decision::Ignore("socat is not installed".to_owned())
        );
        let tls_tools = |need: Need| need.required_by() == "SHOUT_REQUIRE_TLS_TOOLS";
        assert_eq!(
            decide(&[Need::Socat], missing, tls_tools),
            Decision::Fail(
                "socat is not installed (required: SHOUT_REQUIRE_TLS_TOOLS is set)".to_owned()
            )
        );
    }
}
