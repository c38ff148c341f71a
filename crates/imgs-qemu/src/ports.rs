//! The host port the guest's SSH port is forwarded from: the first free one in `host_port_min..=max`,
//! starting at a varying place so parallel builds rarely try the same port first (as Packer picks).

use std::net::TcpListener;
use std::ops::RangeInclusive;
use std::time::{SystemTime, UNIX_EPOCH};

/// The first port of `range`, going round from `start`, that is not in `skip` and that `is_free` accepts.
pub fn first_free(
    range: &RangeInclusive<u16>,
    start: u16,
    skip: &[u16],
    mut is_free: impl FnMut(u16) -> bool,
) -> Option<u16> {
    let (min, max) = (u32::from(*range.start()), u32::from(*range.end()));
    if min > max {
        return None;
    }
    let len = max - min + 1;
    let offset = u32::from(start).saturating_sub(min) % len;
    (0..len)
        .map(|i| (min + (offset + i) % len) as u16)
        .filter(|port| !skip.contains(port))
        .find(|&port| is_free(port))
}

/// A free loopback port in `range`, or `None` when every one is taken. qemu binds it a moment later;
/// the caller retries with another port if someone else was quicker.
pub fn pick(range: &RangeInclusive<u16>, skip: &[u16]) -> Option<u16> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let start = (nanos ^ std::process::id()) as u16;
    first_free(range, start, skip, |port| {
        TcpListener::bind(("127.0.0.1", port)).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goes_round_from_the_start() {
        let range = 2222..=2225;
        assert_eq!(first_free(&range, 2224, &[], |_| true), Some(2224));
        assert_eq!(
            first_free(&range, 2224, &[], |p| p != 2224 && p != 2225),
            Some(2222)
        );
        // A start outside the range lands inside it.
        assert!(range.contains(&first_free(&range, 9, &[], |_| true).unwrap()));
        assert!(range.contains(&first_free(&range, 65535, &[], |_| true).unwrap()));
    }

    #[test]
    fn skipped_and_taken_ports_exhaust_the_range() {
        let range = 3000..=3002;
        assert_eq!(
            first_free(&range, 3000, &[3000, 3001], |_| true),
            Some(3002)
        );
        assert_eq!(first_free(&range, 3000, &[3002], |p| p == 3002), None);
        assert_eq!(first_free(&(5..=5), 5, &[], |_| true), Some(5));
        assert_eq!(
            first_free(&(0..=65535), 0, &[], |p| p == 65535),
            Some(65535)
        );
    }

    #[test]
    fn a_port_someone_listens_on_is_not_picked() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        assert_eq!(pick(&(port..=port), &[]), None);
    }
}
