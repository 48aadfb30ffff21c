//! The open-file limit: raised at start, and the connection cap fitted to it.

pub use shout_common::cli::{raise_nofile_limit, RESERVED_FDS};

/// The connection cap that fits in `nofile` descriptors (one per connection), or `requested`
/// if that fits already.
pub fn fit_connections(requested: usize, nofile: u64) -> usize {
    let room = nofile.saturating_sub(RESERVED_FDS).max(1);
    usize::try_from(room).map_or(requested, |room| requested.min(room))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cap is lowered only when the limit cannot hold it, and never to zero.
    #[test]
    fn fits_connections_to_the_limit() {
        assert_eq!(fit_connections(10_000, 20_000), 10_000);
        assert_eq!(fit_connections(10_000, 1024), 1024 - RESERVED_FDS as usize);
        assert_eq!(fit_connections(10, 5), 1);
    }
}
