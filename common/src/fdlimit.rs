//! The open-file limit (feature `fdlimit`): both binaries raise it at start and fit what they
//! open to it, shoutd its connections and `shout bench` its clients.

/// File descriptors kept back for everything that is not a connection (stdio, listeners,
/// epoll instances, timers, log and report files) when fitting connections to the open-file
/// limit, in shoutd and in `shout bench` alike.
pub const RESERVED_FDS: u64 = 64;

/// Raises the soft open-file limit to the hard limit; returns the new soft limit.
pub fn raise_nofile_limit() -> std::io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}
