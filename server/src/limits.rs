//! Limits on connections: the connection cap fitted to the open-file limit (which `cli` raises
//! at start) and the per-address cap of `--max-connections-per-ip`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use shout_common::fdlimit::RESERVED_FDS;

use crate::sync::lock;

/// The connection cap that fits in `nofile` descriptors (one per connection), or `requested`
/// if that fits already.
pub fn fit_connections(requested: usize, nofile: u64) -> usize {
    let room = nofile.saturating_sub(RESERVED_FDS).max(1);
    usize::try_from(room).map_or(requested, |room| requested.min(room))
}

/// Connections open per client address, for `--max-connections-per-ip`.
///
/// Only addresses with an open connection have an entry, so the map holds at most
/// `--max-connections` entries. Off (no map, no lock) when no cap is set. IPv4-mapped IPv6
/// addresses count as their IPv4 address.
#[derive(Debug)]
pub struct PerIp {
    max: Option<usize>,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl PerIp {
    /// A tracker allowing `max` connections per address (`None`: unlimited, not tracked).
    pub fn new(max: Option<usize>) -> PerIp {
        PerIp {
            max,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a slot for `ip`; false (and nothing taken) if it already has `max` connections.
    pub fn try_acquire(&self, ip: IpAddr) -> bool {
        let Some(max) = self.max else { return true };
        let mut open = lock(&self.open);
        let n = open.entry(ip.to_canonical()).or_insert(0);
        if *n >= max {
            return false;
        }
        *n += 1;
        true
    }

    /// Takes a slot for `ip` even beyond `max`: a connection handed over by an upgrade's old
    /// process, which already held one there.
    pub fn acquire(&self, ip: IpAddr) {
        if self.max.is_some() {
            *lock(&self.open).entry(ip.to_canonical()).or_insert(0) += 1;
        }
    }

    /// Gives back a slot taken by [`try_acquire`](PerIp::try_acquire).
    pub fn release(&self, ip: IpAddr) {
        if self.max.is_none() {
            return;
        }
        let ip = ip.to_canonical();
        let mut open = lock(&self.open);
        if let Some(n) = open.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&ip);
            }
        }
    }

    /// Addresses with at least one open connection.
    #[cfg(test)]
    fn addresses(&self) -> usize {
        lock(&self.open).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each address gets `max` slots, mapped IPv4 counts as IPv4, and released slots are
    /// reusable; entries go away with their last connection.
    #[test]
    fn per_ip_cap() {
        let cap = PerIp::new(Some(2));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(cap.try_acquire(a));
        assert!(cap.try_acquire(mapped));
        assert!(!cap.try_acquire(a));
        assert!(cap.try_acquire(b));
        cap.release(a);
        assert!(cap.try_acquire(mapped));
        for ip in [a, a, b] {
            cap.release(ip);
        }
        assert_eq!(cap.addresses(), 0);
        let off = PerIp::new(None);
        assert!((0..100).all(|_| off.try_acquire(a)));
        assert_eq!(off.addresses(), 0);
    }

    /// The cap is lowered only when the limit cannot hold it, and never to zero.
    #[test]
    fn fits_connections_to_the_limit() {
        assert_eq!(fit_connections(10_000, 20_000), 10_000);
        assert_eq!(fit_connections(10_000, 1024), 1024 - RESERVED_FDS as usize);
        assert_eq!(fit_connections(10, 5), 1);
    }
}
