//! The `shoutd` command line: options (each also an environment variable), logging set-up, and
//! the glue that turns them into a running [`Server`](crate::Server) (through [`daemon`](crate::daemon::run)).

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

use anyhow::{bail, Context};
use clap::{ArgAction, Parser};
use shout_common::cli::{format_duration, parse_duration};
use shout_common::{Mode, DEFAULT_ADDR};
use tracing::warn;

use crate::config::{
    Config, Model, DEFAULT_BACKLOG, DEFAULT_DRAIN_TIMEOUT, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_TLS_HANDSHAKE_TIMEOUT, DEFAULT_WORKERS, DEFAULT_WRITE_TIMEOUT,
    MAX_BACKLOG, MAX_WORKERS,
};
use crate::daemon;
use crate::limits;
use crate::logging::LogFormat;
use crate::proxy::{ProxyConfig, DEFAULT_HEADER_TIMEOUT};
use crate::renew::TlsFiles;
use crate::tls::TlsConfig;

/// shoutd: a TCP server that answers whatever it receives in uppercase.
#[derive(Debug, Parser)]
#[command(name = "shoutd", version, about, long_about = None, args_conflicts_with_subcommands = true)]
pub struct Args {
    /// Print shell completions or the man page instead of serving.
    #[command(subcommand)]
    pub command: Option<shout_common::cli::Tool>,

    /// Address to listen on; repeat (or separate with commas) for several. Port 0 picks one.
    #[arg(short, long = "listen", value_name = "ADDR", env = "SHOUT_LISTEN",
          value_delimiter = ',', default_value = DEFAULT_ADDR)]
    pub listen: Vec<String>,

    /// What to answer: `upper` uppercases UTF-8 (other bytes unchanged), `echo` returns bytes as they came.
    #[arg(long, value_enum, env = "SHOUT_MODE", default_value_t = Mode::default())]
    pub mode: Mode,

    /// Concurrency model: `pool` (worker threads, each an event loop over many connections) or
    /// `threads` (a thread per connection).
    #[arg(long, value_enum, env = "SHOUT_MODEL", default_value_t = Model::default())]
    pub model: Model,

    /// Worker threads of the pool model (0: one per available core; at most 1024).
    #[arg(long, value_name = "N", env = "SHOUT_WORKERS", default_value_t = DEFAULT_WORKERS,
          value_parser = clap::value_parser!(u16).range(0..=MAX_WORKERS as i64))]
    pub workers: u16,

    /// Connections served at once; more get `ERR server busy ...` and are closed. Lowered to
    /// fit the open-file limit.
    #[arg(long, value_name = "N", env = "SHOUT_MAX_CONNECTIONS",
          default_value_t = DEFAULT_MAX_CONNECTIONS as u64, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,

    /// Connections served at once from one client address; more get the busy line and are
    /// closed (default: no per-address cap).
    #[arg(long, value_name = "N", env = "SHOUT_MAX_CONNECTIONS_PER_IP",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections_per_ip: Option<u64>,

    /// Close a connection that sends nothing for this long (0: never).
    #[arg(long, value_name = "DURATION", env = "SHOUT_IDLE_TIMEOUT",
          default_value = format_duration(DEFAULT_IDLE_TIMEOUT),
          value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// Close a connection that accepts no bytes for this long (0: never).
    #[arg(long, value_name = "DURATION", env = "SHOUT_WRITE_TIMEOUT",
          default_value = format_duration(DEFAULT_WRITE_TIMEOUT),
          value_parser = parse_duration)]
    pub write_timeout: Duration,

    /// At SIGINT/SIGTERM, how long connections get to finish before they are closed.
    #[arg(long, value_name = "DURATION", env = "SHOUT_DRAIN_TIMEOUT",
          default_value = format_duration(DEFAULT_DRAIN_TIMEOUT),
          value_parser = parse_duration)]
    pub drain_timeout: Duration,

    /// Listen backlog: connections the kernel queues before they are accepted.
    #[arg(long, value_name = "N", env = "SHOUT_BACKLOG", default_value_t = DEFAULT_BACKLOG,
          value_parser = clap::value_parser!(i32).range(1..=i64::from(MAX_BACKLOG)))]
    pub backlog: i32,

    /// Bind the listeners with SO_REUSEPORT, so that several shoutd processes can listen on one
    /// port, the kernel spreading new connections across them. Upgrades do not need it
    /// (SIGUSR2 hands the listeners over); closing one of such processes resets the
    /// connections waiting in its own backlog.
    #[arg(long, env = "SHOUT_REUSE_PORT")]
    pub reuse_port: bool,

    /// Serve Prometheus metrics at http://ADDR/metrics (off unless given); host names and
    /// several addresses as for --listen.
    #[arg(
        long,
        value_name = "ADDR",
        env = "SHOUT_METRICS_LISTEN",
        value_delimiter = ','
    )]
    pub metrics_listen: Vec<String>,

    /// Log a one-line summary (connections, msgs/s, bytes/s) this often (0: never).
    #[arg(long, value_name = "DURATION", env = "SHOUT_STATS_INTERVAL", default_value = "0",
          value_parser = parse_duration)]
    pub stats_interval: Duration,

    /// Speak TLS on every listener with this certificate chain (PEM, the server's certificate
    /// first); needs --tls-key.
    #[arg(
        long,
        value_name = "FILE",
        env = "SHOUT_TLS_CERT",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(
        long,
        value_name = "FILE",
        env = "SHOUT_TLS_KEY",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,

    /// Mutual TLS: require a client certificate signed by a CA in this file (PEM); clients
    /// without one are refused during the handshake.
    #[arg(
        long,
        value_name = "FILE",
        env = "SHOUT_TLS_CLIENT_CA",
        requires = "tls_cert"
    )]
    pub tls_client_ca: Option<PathBuf>,

    /// Close a connection whose TLS handshake is not done this long after it connected.
    #[arg(long, value_name = "DURATION", env = "SHOUT_TLS_HANDSHAKE_TIMEOUT",
          default_value = format_duration(DEFAULT_TLS_HANDSHAKE_TIMEOUT),
          value_parser = parse_nonzero_duration)]
    pub tls_handshake_timeout: Duration,

    /// Connections begin with a PROXY protocol header (v1 or v2, as HAProxy's send-proxy and
    /// send-proxy-v2): its client address is the one logged, counted and capped.
    #[arg(long, env = "SHOUT_PROXY_PROTOCOL")]
    pub proxy_protocol: bool,

    /// With --proxy-protocol: the addresses (CIDR, or one address) allowed to connect and
    /// send the header; repeat or separate with commas. Others are closed at once.
    #[arg(long, value_name = "CIDR", env = "SHOUT_PROXY_FROM", value_delimiter = ',',
          default_value = "127.0.0.0/8,::1/128", value_parser = parse_cidr)]
    pub proxy_from: Vec<IpNet>,

    /// With --proxy-protocol: close a connection whose header is not complete this long after
    /// it connected.
    #[arg(long, value_name = "DURATION", env = "SHOUT_PROXY_HEADER_TIMEOUT",
          default_value = format_duration(DEFAULT_HEADER_TIMEOUT),
          value_parser = parse_nonzero_duration)]
    pub proxy_header_timeout: Duration,

    /// Write the PID of the process that serves to this file (atomically; again by the new
    /// process of an upgrade); removed at a clean exit if it still holds this PID.
    #[arg(long, value_name = "FILE", env = "SHOUT_PID_FILE")]
    pub pid_file: Option<PathBuf>,

    /// Log format on stderr.
    #[arg(long, value_enum, env = "SHOUT_LOG_FORMAT", default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// More log detail (-v: per-connection events, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, action = ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Less log detail (-q: warnings and errors, -qq: errors only). RUST_LOG overrides.
    #[arg(short, long, action = ArgAction::Count)]
    pub quiet: u8,
}

impl Args {
    /// The log level chosen with `-v`/`-q`.
    pub fn log_level(&self) -> tracing::Level {
        match i16::from(self.verbose) - i16::from(self.quiet) {
            i16::MIN..=-2 => tracing::Level::ERROR,
            -1 => tracing::Level::WARN,
            0 => tracing::Level::INFO,
            1 => tracing::Level::DEBUG,
            _ => tracing::Level::TRACE,
        }
    }

    /// Resolves the listen addresses (`host:port` names are allowed).
    pub fn listen_addrs(&self) -> anyhow::Result<Vec<SocketAddr>> {
        let addrs = resolve(&self.listen, "listen")?;
        if addrs.is_empty() {
            bail!("no address to listen on");
        }
        Ok(addrs)
    }

    /// Resolves the metrics addresses, as [`Args::listen_addrs`] does (none: metrics off).
    pub fn metrics_addrs(&self) -> anyhow::Result<Vec<SocketAddr>> {
        resolve(&self.metrics_listen, "metrics")
    }

    /// Refuses an address given twice (`-l A -l A`, or `--metrics-listen` equal to a
    /// `--listen`), or one that another covers (`0.0.0.0:P` and `127.0.0.1:P`): the second
    /// bind would fail with "Address already in use", which sounds like another program.
    /// Port 0 picks a new port each time, so it never collides.
    pub fn check_distinct_addrs(&self) -> anyhow::Result<()> {
        let specs = (self.listen.iter().map(|spec| ("--listen", "listen", spec))).chain(
            self.metrics_listen
                .iter()
                .map(|spec| ("--metrics-listen", "metrics", spec)),
        );
        let mut seen: Vec<(SocketAddr, &str, &str)> = Vec::new();
        for (option, what, spec) in specs {
            for addr in resolve(std::slice::from_ref(spec), what)? {
                if addr.port() == 0 {
                    continue;
                }
                let clash = seen.iter().find(|(other, _, _)| {
                    other.port() == addr.port()
                        && other.is_ipv4() == addr.is_ipv4()
                        && (other.ip() == addr.ip()
                            || other.ip().is_unspecified()
                            || addr.ip().is_unspecified())
                });
                if let Some((other, other_option, other_spec)) = clash {
                    let how = if *other == addr { "is" } else { "overlaps" };
                    return Err(UsageError(format!(
                        "{option} {} {how} {other_option} {}: each address can be listened \
                         on once",
                        named(spec, addr),
                        named(other_spec, *other)
                    ))
                    .into());
                }
                seen.push((addr, option, spec));
            }
        }
        Ok(())
    }

    /// The server configuration, with the connection cap fitted to `nofile` descriptors.
    pub fn config(&self, nofile: u64) -> anyhow::Result<Config> {
        self.check_distinct_addrs()?;
        let requested = usize::try_from(self.max_connections).unwrap_or(usize::MAX);
        let max_connections = limits::fit_connections(requested, nofile);
        if max_connections < requested {
            warn!(
                requested,
                max_connections,
                open_file_limit = nofile,
                "--max-connections lowered to fit the open-file limit"
            );
        }
        let nonzero = |d: Duration| (!d.is_zero()).then_some(d);
        let listen = self.listen_addrs()?;
        let max_connections_per_ip = self
            .max_connections_per_ip
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        if max_connections_per_ip.is_none() {
            for addr in listen.iter().filter(|a| a.ip().is_unspecified()) {
                warn!(
                    %addr,
                    "listening on every interface without --max-connections-per-ip: one client \
                     address can take every connection slot"
                );
            }
        }
        Ok(Config {
            listen,
            max_connections_per_ip,
            mode: self.mode,
            model: self.model,
            workers: usize::from(self.workers),
            max_connections,
            idle_timeout: nonzero(self.idle_timeout),
            write_timeout: nonzero(self.write_timeout),
            drain_timeout: self.drain_timeout,
            backlog: self.backlog,
            reuse_port: self.reuse_port,
            metrics_listen: self.metrics_addrs()?,
            stats_interval: nonzero(self.stats_interval),
            tls: self.tls()?,
            tls_handshake_timeout: self.tls_handshake_timeout,
            proxy: self.proxy_protocol.then(|| ProxyConfig {
                from: self.proxy_from.clone(),
                header_timeout: self.proxy_header_timeout,
            }),
        })
    }

    /// The TLS settings, with the certificate files read (`None`: no --tls-cert).
    pub fn tls(&self) -> anyhow::Result<Option<TlsConfig>> {
        match self.tls_files() {
            Some(files) => Ok(Some(files.load().map_err(anyhow::Error::msg)?.tls)),
            None => Ok(None),
        }
    }

    /// The TLS files, read at start and again at each SIGHUP (`None`: no --tls-cert).
    pub fn tls_files(&self) -> Option<TlsFiles> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: self.tls_client_ca.clone(),
            }),
            _ => None,
        }
    }
}

/// `spec` as given, with the address it resolved to if that is not the same text.
fn named(spec: &str, addr: SocketAddr) -> String {
    if spec == addr.to_string() {
        spec.to_owned()
    } else {
        format!("{spec} ({addr})")
    }
}

/// A mistake in the options that only the user can fix, found after parsing: exit code 2,
/// as for clap's own usage errors.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// A duration that is not zero (a zero deadline would close every connection at once).
fn parse_nonzero_duration(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if d.is_zero() => Err("must be more than 0".into()),
        d => Ok(d),
    }
}

/// A CIDR range (`10.0.0.0/8`) or one address (`10.1.2.3`, as `/32`).
fn parse_cidr(s: &str) -> Result<IpNet, String> {
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("'{s}' is not an address range (such as 10.0.0.0/8) or an address"))
}

/// Every address that `specs` (`host:port`, names allowed) resolve to, in order; an error
/// names the first that does not resolve as a `what` address.
fn resolve(specs: &[String], what: &str) -> anyhow::Result<Vec<SocketAddr>> {
    let mut addrs = Vec::new();
    for spec in specs {
        let resolved = spec
            .to_socket_addrs()
            .with_context(|| format!("invalid {what} address '{spec}'"))?;
        addrs.extend(resolved);
    }
    Ok(addrs)
}

/// What `shoutd` does after parsing: raise the file limit, bind, handle signals, serve.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let nofile = match shout_common::fdlimit::raise_nofile_limit() {
        Ok(n) => n,
        Err(e) => {
            warn!(error = %e, "cannot read or raise the open-file limit");
            u64::MAX
        }
    };
    let config = args.config(nofile)?;
    let options = daemon::Options {
        tls: args.tls_files(),
        pid_file: args.pid_file.clone(),
    };
    daemon::run(config, options)
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, FromArgMatches};

    use super::*;

    /// Parses `argv` as `shoutd` does, ignoring the `SHOUT_*` environment of whoever runs the
    /// tests.
    fn parse(argv: &[&str]) -> Args {
        let command = Args::command().mut_args(|arg| arg.env(None));
        let matches = command.try_get_matches_from(argv).expect("valid options");
        Args::from_arg_matches(&matches).expect("matches of this command")
    }

    /// `shoutd` with no options serves what `Config::default()` describes: each default has
    /// one home, which the options and the library both read.
    #[test]
    fn no_options_give_the_default_config() {
        let config = parse(&["shoutd"]).config(u64::MAX).unwrap();
        assert_eq!(config, Config::default());
    }

    /// The same address twice, in `--listen` or between `--listen` and `--metrics-listen`, or
    /// one covered by an unspecified address on its port, is a usage error naming both;
    /// port 0 and other ports are fine.
    #[test]
    fn duplicate_addresses_are_named() {
        let clash = |argv: &[&str]| {
            let e = parse(argv).config(u64::MAX).unwrap_err();
            assert!(e.is::<UsageError>(), "{e:#}");
            e.to_string()
        };
        let e = clash(&["shoutd", "-l", "127.0.0.1:7001", "-l", "127.0.0.1:7001"]);
        assert_eq!(
            e,
            "--listen 127.0.0.1:7001 is --listen 127.0.0.1:7001: each address can be \
             listened on once"
        );
        let e = clash(&["shoutd", "-l", "localhost:7001", "-l", "127.0.0.1:7001"]);
        assert!(e.contains("localhost:7001 (127.0.0.1:7001)"), "{e}");
        let e = clash(&[
            "shoutd",
            "-l",
            "127.0.0.1:7001",
            "--metrics-listen",
            "127.0.0.1:7001",
        ]);
        assert!(e.starts_with("--metrics-listen 127.0.0.1:7001"), "{e}");
        let e = clash(&["shoutd", "-l", "0.0.0.0:7001,127.0.0.1:7001"]);
        assert!(e.contains("overlaps --listen 0.0.0.0:7001"), "{e}");
        for fine in [
            &["shoutd", "-l", "127.0.0.1:0", "-l", "127.0.0.1:0"][..],
            &[
                "shoutd",
                "-l",
                "127.0.0.1:7001",
                "--metrics-listen",
                "127.0.0.1:7002",
            ],
            &["shoutd", "-l", "0.0.0.0:7001", "-l", "[::1]:7001"],
        ] {
            parse(fine)
                .check_distinct_addrs()
                .expect("distinct addresses");
        }
        // An address that does not parse is named with its own option.
        let e = parse(&["shoutd", "--metrics-listen", "nowhere"])
            .check_distinct_addrs()
            .expect_err("not an address")
            .to_string();
        assert!(e.contains("invalid metrics address 'nowhere'"), "{e}");
    }

    /// The help line of `--workers` states the limit the parser enforces.
    #[test]
    fn workers_help_states_the_limit() {
        let command = Args::command();
        let workers = command
            .get_arguments()
            .find(|arg| arg.get_id() == "workers")
            .expect("a --workers option");
        let help = workers.get_help().expect("a help line").to_string();
        assert!(help.contains(&format!("at most {MAX_WORKERS}")), "{help}");
    }
}
