//! How a run is shared out: how many worker threads, and each one's [`Plan`] (its
//! connections, its share of the rate and of the message count, and the run's timeline).

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use super::args::{BenchArgs, Length, CONNECTIONS_PER_THREAD, OPEN_LOOP_RATE_PER_THREAD};
use super::payload::Payload;
use super::profile::{Curve, RateProfile};
use super::stop::StopHandle;
use crate::tls::TlsClient;

/// What one worker is told to do (shared with its thread, read-only).
#[derive(Debug)]
pub struct Plan {
    /// Which worker (its reports say so).
    pub worker: usize,
    /// This worker's share of the connections, and so of the rate.
    pub share: f64,
    /// Server addresses; connection `i` goes to `addrs[i % len]`.
    pub addrs: Vec<SocketAddr>,
    /// TLS: the set-up for each address of `addrs` (`None`: plain TCP). Set by the caller.
    pub tls: Option<Vec<TlsClient>>,
    /// This worker's connections (global numbers).
    pub ids: Vec<u64>,
    /// What the messages look like, and the answer to expect.
    pub payload: Payload,
    /// Messages in flight per connection at most.
    pub pipeline: usize,
    /// Open loop: this worker's messages per second, over time. `None`: closed loop.
    pub rate: Option<Curve>,
    /// Messages this worker starts in all (`None`: until `end`).
    pub messages: Option<u64>,
    /// When the run started; the schedule, the seconds and latencies count from here.
    pub start: Instant,
    /// Messages scheduled before this are run but left out of the figures.
    pub warmup_end: Instant,
    /// No new message is started from this time (`None`: until the message count is reached).
    pub end: Option<Instant>,
    /// Pause between connection openings: connection `id` opens at `start + id * interval`
    /// (`None`: all at once).
    pub connect_interval: Option<Duration>,
    /// Reopen connections the server closes, and send their unanswered messages again.
    pub reconnect: bool,
    /// An answer later than this is a timeout; also the limit for connecting and closing.
    pub timeout: Duration,
    /// Says when the run is stopped early (shared with whoever may stop it; set by the
    /// caller).
    pub stop: StopHandle,
}

impl Plan {
    /// The plan of worker `w` of `workers`, for a run starting at `start` at the rates of
    /// `profile` (`None`: closed loop): connections are dealt round robin, the rate and message
    /// count shared in proportion. With `--find-max` the run has no set end: the main thread
    /// ends it.
    pub fn for_worker(
        args: &BenchArgs,
        profile: Option<&RateProfile>,
        addrs: &[SocketAddr],
        w: u64,
        workers: u64,
        start: Instant,
    ) -> Plan {
        let ids: Vec<u64> = (w..args.connections).step_by(workers as usize).collect();
        let share = ids.len() as f64 / args.connections as f64;
        let warmup = args.effective_warmup();
        let warmup_end = start + warmup;
        Plan {
            worker: w as usize,
            share,
            addrs: addrs.to_vec(),
            tls: None,
            payload: Payload {
                seed: args.seed,
                size: args.size as usize,
                mode: args.mode,
            },
            pipeline: args.pipeline as usize,
            rate: profile.map(|p| p.scaled(share).curve(warmup)),
            messages: args.messages.map(|m| split(m, args.connections, &ids)),
            ids,
            start,
            warmup_end,
            end: match args.length() {
                _ if args.find_max => None,
                Length::Duration(d) => Some(warmup_end + d),
                Length::Messages(_) => None,
            },
            connect_interval: args.connect_rate.map(|c| Duration::from_secs_f64(1.0 / c)),
            reconnect: args.reconnect,
            timeout: args.timeout,
            stop: StopHandle::new(),
        }
    }
}

/// This worker's share of `total` messages: proportional to its connections, remainders to
/// the lowest connection numbers.
fn split(total: u64, connections: u64, ids: &[u64]) -> u64 {
    let base = total / connections;
    let extra = total % connections;
    ids.iter().map(|&id| base + u64::from(id < extra)).sum()
}

/// Worker threads: `--threads`, else one per core in closed loop; in open loop only as many as
/// the schedule needs (one per [`OPEN_LOOP_RATE_PER_THREAD`], and one per
/// [`CONNECTIONS_PER_THREAD`]), at most one per core. Fewer threads batch more messages per
/// wake-up, which is what keeps the generator cheaper than the server it drives (measured:
/// `bench/generator-cost.sh`).
pub fn worker_count(args: &BenchArgs) -> u64 {
    let cores = thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let wanted = match (args.threads, &args.rate) {
        (Some(t), _) => t,
        // The rates to come are not known yet.
        (None, _) if args.find_max => cores,
        (None, Some(rate)) => ((rate.peak() / OPEN_LOOP_RATE_PER_THREAD).ceil() as u64)
            .max(args.connections.div_ceil(CONNECTIONS_PER_THREAD))
            .min(cores),
        (None, None) => cores,
    };
    wanted.clamp(1, args.connections)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Message budgets split exactly, remainders to the first connections.
    #[test]
    fn splits_messages_exactly() {
        let ids_a = [0, 2, 4];
        let ids_b = [1, 3];
        assert_eq!(split(11, 5, &ids_a) + split(11, 5, &ids_b), 11);
        assert_eq!(split(11, 5, &ids_a), 7); // 2+1, 2, 2
    }

    /// Workers share connections round robin, and the rate and count in proportion.
    #[test]
    fn workers_share_the_run() {
        let args = BenchArgs::try_parse_from(["-c", "5", "-r", "1000", "-n", "11"]).expect("valid");
        let addrs = ["127.0.0.1:1".parse().expect("an address")];
        let start = Instant::now();
        let profile = args.rate_profile().expect("valid");
        let plans: Vec<Plan> = (0..2)
            .map(|w| Plan::for_worker(&args, profile.as_ref(), &addrs, w, 2, start))
            .collect();
        assert_eq!(plans[0].ids, [0, 2, 4]);
        assert_eq!(plans[1].ids, [1, 3]);
        let mut rates = plans.iter().map(|p| p.rate.clone().expect("open loop"));
        let one_second = Duration::from_secs(1);
        assert_eq!(rates.next().map(|mut c| c.due_by(one_second)), Some(600.0));
        assert_eq!(rates.next().map(|mut c| c.due_by(one_second)), Some(400.0));
        assert_eq!((plans[0].messages, plans[1].messages), (Some(7), Some(4)));
        assert_eq!(plans[0].end, None, "a message count, not a duration");
        let timed = BenchArgs::try_parse_from(["-d", "2s", "--warmup", "1s"]).expect("valid");
        let plan = Plan::for_worker(&timed, None, &addrs, 0, 1, start);
        assert_eq!(plan.end, Some(start + Duration::from_secs(3)));
    }

    /// An explicit thread count is kept, but never more threads than connections.
    #[test]
    fn thread_count() {
        let args = BenchArgs::try_parse_from(["-c", "3", "--threads", "8"]).expect("valid");
        assert_eq!(worker_count(&args), 3);
        let args = BenchArgs::try_parse_from(["-c", "30", "--threads", "2"]).expect("valid");
        assert_eq!(worker_count(&args), 2);
        let args = BenchArgs::try_parse_from(["-c", "30", "-r", "10"]).expect("valid");
        assert_eq!(worker_count(&args), 1, "one thread holds a low rate");
    }
}
