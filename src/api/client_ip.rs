//! The client IP behind a reverse proxy: `X-Forwarded-For` is believed only when it was written
//! by a proxy we trust (`security.trusted_proxies`), because anyone can send the header.
//!
//! nginx appends the address it saw to the header (`$proxy_add_x_forwarded_for`), so the list
//! reads client, proxy1, proxy2…, and only its right end is trustworthy: we walk it from the
//! right while the hop is a trusted proxy, and the first untrusted address is the client. A
//! header sent by the client itself sits left of that and is never reached.

use std::net::IpAddr;
use std::str::FromStr;

/// Proxies whose `X-Forwarded-For` is honoured: IP addresses or CIDR networks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrustedProxies(Vec<ipnet::IpNet>);

impl TrustedProxies {
    /// Parses `10.0.0.0/8`, `172.18.0.5`, `::1`…; the error names the entry.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        entries
            .iter()
            .map(|e| e.trim())
            // `APP__SECURITY__TRUSTED_PROXIES=` (set but empty) means none.
            .filter(|e| !e.is_empty())
            .map(|e| {
                ipnet::IpNet::from_str(e)
                    .or_else(|_| IpAddr::from_str(e).map(ipnet::IpNet::from))
                    .map_err(|_| format!("`{e}` is neither an IP address nor a CIDR network"))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address given the TCP peer and the `X-Forwarded-For` header values in
    /// the order received. The peer itself unless it is a trusted proxy.
    pub fn client_ip<'a>(
        &self,
        peer: Option<IpAddr>,
        forwarded_for: impl Iterator<Item = &'a str>,
    ) -> Option<IpAddr> {
        let mut current = canonical(peer?);
        if !self.trusts(current) {
            return Some(current);
        }
        let hops: Vec<&str> = forwarded_for.flat_map(|v| v.split(',')).collect();
        for hop in hops.iter().rev() {
            // A hop that is not an address (garbage, "unknown") ends the trusted chain.
            let Some(ip) = parse_hop(hop) else { break };
            current = ip;
            if !self.trusts(current) {
                break;
            }
        }
        Some(current)
    }
}

/// `1.2.3.4`, `1.2.3.4:5678`, `::1`, `[::1]:5678`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    IpAddr::from_str(hop)
        .ok()
        .or_else(|| std::net::SocketAddr::from_str(hop).ok().map(|s| s.ip()))
        .map(canonical)
}

/// An IPv4 peer on a dual-stack socket shows as `::ffff:a.b.c.d`; compare it as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
            .expect("valid")
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().expect("ip"))
    }

    #[test]
    fn forwarded_for_is_ignored_from_an_untrusted_peer() {
        let p = proxies(&["10.0.0.0/8"]);
        assert_eq!(
            p.client_ip(ip("203.0.113.9"), ["1.1.1.1"].into_iter()),
            ip("203.0.113.9")
        );
        assert_eq!(
            TrustedProxies::default().client_ip(ip("127.0.0.1"), ["1.1.1.1"].into_iter()),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn the_first_untrusted_hop_from_the_right_is_the_client() {
        let p = proxies(&["10.0.0.0/8", "127.0.0.1"]);
        // The client forged "6.6.6.6"; nginx appended the address it saw.
        assert_eq!(
            p.client_ip(
                ip("127.0.0.1"),
                ["6.6.6.6, 198.51.100.7", "10.1.2.3"].into_iter()
            ),
            ip("198.51.100.7")
        );
        // Only proxies in the chain: the leftmost is the best we know.
        assert_eq!(
            p.client_ip(ip("127.0.0.1"), ["10.0.0.1"].into_iter()),
            ip("10.0.0.1")
        );
        // Garbage stops the walk at the last address a trusted proxy vouched for.
        assert_eq!(
            p.client_ip(ip("127.0.0.1"), ["1.1.1.1, unknown, 10.0.0.2"].into_iter()),
            ip("10.0.0.2")
        );
        assert_eq!(
            p.client_ip(ip("::ffff:127.0.0.1"), ["[2001:db8::1]:443"].into_iter()),
            ip("2001:db8::1")
        );
    }

    #[test]
    fn bad_entries_are_named() {
        let err = TrustedProxies::parse(&["10.0.0.0/8".to_owned(), "nas.local".to_owned()])
            .expect_err("invalid");
        assert!(err.contains("nas.local"), "{err}");
    }
}
