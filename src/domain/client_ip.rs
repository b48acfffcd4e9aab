//! Which address a request comes from. The TCP peer, unless the peer is a trusted proxy: then the
//! nearest untrusted hop named in `X-Forwarded-For` (or RFC 7239 `Forwarded`). Headers from
//! anyone else are ignored, or any client could claim an allowed address.

use std::net::IpAddr;

use ipnet::IpNet;

/// `forwarded_for` lists the hops (client first) taken from the forwarding headers, already split.
pub fn resolve(peer: IpAddr, forwarded_for: &[&str], trusted: &[IpNet]) -> IpAddr {
    let peer = unmap(peer);
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    // Walk from the proxy nearest to us outwards; the first hop we do not trust is the client.
    let mut client = peer;
    for hop in forwarded_for.iter().rev() {
        match parse_hop(hop) {
            Some(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            // A garbled hop: stop trusting the chain beyond it.
            None => break,
        }
    }
    client
}

/// Hops of an `X-Forwarded-For` header value (`client, proxy1, proxy2`).
pub fn split_x_forwarded_for(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// Hops of a `Forwarded` header value (`for=192.0.2.1;proto=https, for="[2001:db8::1]:443"`).
pub fn split_forwarded(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').filter_map(|element| {
        element.split(';').find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("for")
                .then(|| v.trim().trim_matches('"'))
        })
    })
}

/// `1.2.3.4`, `1.2.3.4:567`, `[2001:db8::1]`, `[2001:db8::1]:443`, `2001:db8::1`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(unmap(ip));
    }
    if let Some(rest) = hop.strip_prefix('[') {
        let end = rest.find(']')?;
        return rest[..end].parse::<IpAddr>().ok().map(unmap);
    }
    let (host, port) = hop.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// `::ffff:a.b.c.d` is an IPv4 client on a dual-stack socket.
pub fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        assert_eq!(
            resolve(ip("203.0.113.9"), &["10.0.0.1"], &nets(&["127.0.0.1/32"])),
            ip("203.0.113.9")
        );
        assert_eq!(
            resolve(ip("203.0.113.9"), &["10.0.0.1"], &[]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client() {
        let trusted = nets(&["127.0.0.0/8", "10.0.0.0/8"]);
        assert_eq!(
            resolve(ip("127.0.0.1"), &["198.51.100.7"], &trusted),
            ip("198.51.100.7")
        );
        // client, spoofed-by-client, our inner proxy: the first untrusted from the right wins.
        assert_eq!(
            resolve(
                ip("127.0.0.1"),
                &["1.1.1.1", "198.51.100.7", "10.0.0.2"],
                &trusted
            ),
            ip("198.51.100.7")
        );
        assert_eq!(resolve(ip("127.0.0.1"), &[], &trusted), ip("127.0.0.1"));
        assert_eq!(
            resolve(ip("127.0.0.1"), &["garbage"], &trusted),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn forwarded_and_mapped_forms_parse() {
        let hops: Vec<_> =
            split_forwarded(r#"for=192.0.2.60;proto=http, For="[2001:db8:cafe::17]:4711""#)
                .collect();
        assert_eq!(hops, vec!["192.0.2.60", "[2001:db8:cafe::17]:4711"]);
        let trusted = nets(&["127.0.0.1/32"]);
        assert_eq!(
            resolve(ip("127.0.0.1"), &hops, &trusted),
            ip("2001:db8:cafe::17")
        );
        assert_eq!(
            resolve(ip("::ffff:127.0.0.1"), &["192.0.2.1:80"], &trusted),
            ip("192.0.2.1")
        );
        assert_eq!(unmap(ip("::ffff:10.1.2.3")), ip("10.1.2.3"));
        let xff: Vec<_> = split_x_forwarded_for(" 1.2.3.4 ,, 5.6.7.8").collect();
        assert_eq!(xff, vec!["1.2.3.4", "5.6.7.8"]);
    }
}
