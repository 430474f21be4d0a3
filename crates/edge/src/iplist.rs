//! Allow and deny lists of addresses and CIDR prefixes, in prefix tries: a lookup walks at
//! most 32 (IPv4) or 128 (IPv6) levels whatever the number of entries, so a million entries do
//! not slow the request path.

use std::net::IpAddr;
use std::path::Path;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use prefix_trie::PrefixSet;

/// A set of prefixes.
#[derive(Default)]
pub struct IpSet {
    v4: PrefixSet<Ipv4Net>,
    v6: PrefixSet<Ipv6Net>,
    len: usize,
}

impl IpSet {
    /// Adds a prefix.
    pub fn insert(&mut self, net: IpNet) {
        let new = match net.trunc() {
            IpNet::V4(n) => self.v4.insert(n),
            IpNet::V6(n) => self.v6.insert(n),
        };
        if new {
            self.len += 1;
        }
    }

    /// Whether an address falls in any prefix of the set.
    pub fn contains(&self, ip: IpAddr) -> bool {
        if self.len == 0 {
            return false;
        }
        match ip {
            IpAddr::V4(a) => self.v4.get_lpm(&Ipv4Net::from(a)).is_some(),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => self.v4.get_lpm(&Ipv4Net::from(v4)).is_some(),
                None => self.v6.get_lpm(&Ipv6Net::from(a)).is_some(),
            },
        }
    }

    /// How many prefixes the set holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds every prefix of a file: one address or CIDR per line; `#` starts a comment.
    /// Errors name the file and the line.
    pub fn extend_from_file(&mut self, path: &Path) -> Result<(), String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read the list: {e}", path.display()))?;
        for (i, line) in text.lines().enumerate() {
            let entry = line.split('#').next().unwrap_or("").trim();
            if entry.is_empty() {
                continue;
            }
            let net = crate::config::parse_net(entry).ok_or_else(|| {
                format!(
                    "{}:{}: '{entry}' is not an IP address or CIDR such as 203.0.113.0/24",
                    path.display(),
                    i + 1
                )
            })?;
            self.insert(net);
        }
        Ok(())
    }
}

/// Allow and deny lists. An allowed address is never denied by the same or a wider scope's
/// deny list: an operator's explicit allowance wins over a broad block.
#[derive(Default)]
pub struct IpRules {
    /// Always let through.
    pub allow: IpSet,
    /// Refuse.
    pub deny: IpSet,
}

/// What the lists say about an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// On the allow list.
    Allowed,
    /// On the deny list and not allowed.
    Denied,
    /// On neither.
    Unlisted,
}

impl IpRules {
    /// The verdict for an address.
    pub fn check(&self, ip: IpAddr) -> Verdict {
        if self.allow.contains(ip) {
            Verdict::Allowed
        } else if self.deny.contains(ip) {
            Verdict::Denied
        } else {
            Verdict::Unlisted
        }
    }

    /// Whether both lists are empty.
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn longest_prefix_and_allow_wins() {
        let mut r = IpRules::default();
        r.deny.insert("203.0.113.0/24".parse().unwrap());
        r.deny.insert("2001:db8::/32".parse().unwrap());
        r.allow.insert("203.0.113.7/32".parse().unwrap());
        assert_eq!(r.check(ip("203.0.113.9")), Verdict::Denied);
        assert_eq!(r.check(ip("203.0.113.7")), Verdict::Allowed);
        assert_eq!(r.check(ip("203.0.114.1")), Verdict::Unlisted);
        assert_eq!(r.check(ip("2001:db8:1::5")), Verdict::Denied);
        assert_eq!(
            r.check(ip("::ffff:203.0.113.9")),
            Verdict::Denied,
            "v4-mapped"
        );
        assert_eq!(r.check(ip("2001:db9::1")), Verdict::Unlisted);
    }

    #[test]
    fn a_million_entries() {
        let mut s = IpSet::default();
        for i in 0..1_000_000u32 {
            // Spread /32s over 10.0.0.0/8 and beyond.
            s.insert(IpNet::V4(
                Ipv4Net::new((0x0A00_0000 + i * 3).into(), 32).unwrap(),
            ));
        }
        assert_eq!(s.len(), 1_000_000);
        assert!(s.contains(ip("10.0.0.3")));
        assert!(!s.contains(ip("10.0.0.4")));
    }

    #[test]
    fn files_report_the_bad_line() {
        let dir = std::env::temp_dir().join(format!("rempart-iplist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("deny.txt");
        std::fs::write(&f, "# header\n198.51.100.0/24\n\nnot-an-ip\n").unwrap();
        let mut s = IpSet::default();
        let err = s.extend_from_file(&f).unwrap_err();
        assert!(
            err.ends_with(
                "deny.txt:4: 'not-an-ip' is not an IP address or CIDR such as 203.0.113.0/24"
            ),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
