//! A set of address prefixes as sorted, disjoint ranges over one 128-bit space (IPv4 as
//! IPv4-mapped IPv6), so that a lookup is one bisection whatever the number of prefixes.

use std::net::IpAddr;

use ipnet::IpNet;

/// A set of IPv4 and IPv6 prefixes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpSet {
    /// Inclusive ranges, sorted and merged.
    ranges: Vec<(u128, u128)>,
}

fn key(ip: IpAddr) -> u128 {
    match ip {
        // IPv4-mapped IPv6 (::ffff:a.b.c.d), so a v4 client seen on a v6 socket matches too.
        IpAddr::V4(a) => 0xffff_0000_0000 | u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn range(net: &IpNet) -> (u128, u128) {
    (key(net.network()), key(net.broadcast()))
}

impl IpSet {
    /// The set of these prefixes (overlaps are merged).
    pub fn new<I: IntoIterator<Item = IpNet>>(nets: I) -> IpSet {
        let mut ranges: Vec<(u128, u128)> = nets.into_iter().map(|n| range(&n)).collect();
        ranges.sort_unstable();
        let mut merged: Vec<(u128, u128)> = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        merged.shrink_to_fit();
        IpSet { ranges: merged }
    }

    /// Whether `ip` is in one of the prefixes.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let k = key(ip);
        let i = self.ranges.partition_point(|r| r.0 <= k);
        i > 0 && self.ranges[i - 1].1 >= k
    }

    /// How many disjoint ranges the set holds.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(nets: &[&str]) -> IpSet {
        IpSet::new(nets.iter().map(|n| n.parse::<IpNet>().expect("net")))
    }

    #[test]
    fn v4_and_v6_prefixes() {
        let s = set(&["10.0.0.0/8", "192.0.2.1/32", "2001:db8::/32"]);
        assert!(s.contains("10.1.2.3".parse().unwrap()));
        assert!(s.contains("192.0.2.1".parse().unwrap()));
        assert!(!s.contains("192.0.2.2".parse().unwrap()));
        assert!(!s.contains("11.0.0.0".parse().unwrap()));
        assert!(s.contains("2001:db8:ffff::1".parse().unwrap()));
        assert!(!s.contains("2001:db9::1".parse().unwrap()));
        // A v4 client on a dual-stack socket.
        assert!(s.contains("::ffff:10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn overlaps_and_neighbours_merge() {
        let s = set(&["10.0.0.0/9", "10.128.0.0/9", "10.0.0.0/16", "0.0.0.0/0"]);
        assert_eq!(s.len(), 1);
        assert!(s.contains("255.255.255.255".parse().unwrap()));
        assert!(!s.contains("::1".parse().unwrap()));
        let all = set(&["::/0"]);
        assert!(all.contains("::".parse().unwrap()));
        assert!(all.contains("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap()));
        assert!(set(&[]).is_empty());
    }
}
