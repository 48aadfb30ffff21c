//! A server whose capacity is known because it is limited on purpose: [`LimitedServer`]
//! answers each line in upper case (the bench's payloads are ASCII), but at most a set number
//! of lines a second over all its connections (a token bucket), so a load above that rate
//! queues up. The `--find-max` tests search for that capacity.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long a connection may stay silent before the server gives it up.
const IDLE: Duration = Duration::from_secs(30);

/// The shared allowance of lines: `rate` a second, at most `burst` saved up.
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// Waits until a line may be answered, and takes its token.
    fn take(bucket: &Mutex<Bucket>) {
        loop {
            let wait = {
                let mut b = bucket.lock().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                let earned = now.duration_since(b.last).as_secs_f64() * b.rate;
                b.tokens = (b.tokens + earned).min(b.burst);
                b.last = now;
                if b.tokens >= 1.0 {
                    b.tokens -= 1.0;
                    return;
                }
                Duration::from_secs_f64((1.0 - b.tokens) / b.rate)
            };
            thread::sleep(wait);
        }
    }
}

/// A loopback server answering at most `capacity` lines a second in all; stopped on drop.
pub struct LimitedServer {
    /// The bound address.
    pub addr: SocketAddr,
    /// Lines answered so far.
    pub answered: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    accept: Option<thread::JoinHandle<()>>,
}

impl LimitedServer {
    /// Starts one on `127.0.0.1:0` answering at most `capacity` lines a second (a hundredth
    /// of a second's worth may be saved up, so short stalls cost no capacity).
    pub fn start(capacity: f64) -> LimitedServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let addr = listener.local_addr().expect("a bound address");
        let bucket = Arc::new(Mutex::new(Bucket {
            rate: capacity,
            burst: (capacity / 100.0).max(1.0),
            tokens: 0.0,
            last: Instant::now(),
        }));
        let answered = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let (answered, stop) = (answered.clone(), stop.clone());
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let (bucket, answered) = (bucket.clone(), answered.clone());
                    thread::spawn(move || serve(stream, &bucket, &answered));
                }
            })
        };
        LimitedServer {
            addr,
            answered,
            stop,
            accept: Some(accept),
        }
    }
}

/// Answers one connection's lines in upper case, each after taking a token, until the
/// client closes it (or stays silent for [`IDLE`]).
fn serve(stream: TcpStream, bucket: &Mutex<Bucket>, answered: &AtomicU64) {
    let _ = stream.set_read_timeout(Some(IDLE));
    let _ = stream.set_write_timeout(Some(IDLE));
    let _ = stream.set_nodelay(true);
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let mut lines = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        match lines.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        Bucket::take(bucket);
        line.make_ascii_uppercase();
        if out.write_all(&line).is_err() {
            return;
        }
        answered.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for LimitedServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}
