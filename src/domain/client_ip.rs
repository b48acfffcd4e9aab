//! Which address a request comes from. The TCP peer, unless the peer is a trusted proxy: then the
//! nearest untrusted hop named in `X-Forwarded-For` (or RFC 7239 `Forwarded`). Headers from
//! anyone else are ignored, or any client could claim an allowed address.

use std::net::IpAddr;

use ipnet::IpNet;

/// The one forwarding header believed from a trusted proxy (`serve --forwarded-header`).
///
/// Exactly one, named by the operator: a proxy appends the client's address to the header it
/// writes and passes every other header through as the client sent it. nginx, HAProxy, Envoy
/// and the cloud load balancers append to `X-Forwarded-For` and forward a client's `Forwarded`
/// untouched, so believing `Forwarded` whenever it is present let any client name its own
/// address (IP allow-lists, throttling, `last_used_ip` and the audit trail all follow it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2`: what nearly every proxy appends to.
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`: only for proxies that append to it.
    Forwarded,
}

impl ForwardedHeader {
    /// Every choice, in the order `--help` lists them.
    pub const ALL: [ForwardedHeader; 2] =
        [ForwardedHeader::XForwardedFor, ForwardedHeader::Forwarded];

    /// The header's name, lowercase: the value of the setting and the header looked up.
    pub const fn name(self) -> &'static str {
        match self {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        }
    }
}

impl std::fmt::Display for ForwardedHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl ForwardedHeader {
    /// The hops one field value of this header names, client first; `None` for a hop that is
    /// not an address (`unknown`, an obfuscated identifier, garbage, a `Forwarded` element
    /// without `for=`). Empty list elements are skipped, as RFC 9110 §5.6.1 asks.
    ///
    /// Bytes, not text: a proxy appends its hop to whatever the client sent, bytes beyond ASCII
    /// included, and such a value must still yield the proxy's hop. Dropping the whole value
    /// (as a `&str` conversion would) made the client the proxy itself.
    fn hops(self, value: &[u8]) -> impl DoubleEndedIterator<Item = Option<IpAddr>> + '_ {
        value
            .split(|b| *b == b',')
            .map(<[u8]>::trim_ascii)
            .filter(|element| !element.is_empty())
            .map(move |element| {
                let hop = match self {
                    ForwardedHeader::XForwardedFor => Some(element),
                    ForwardedHeader::Forwarded => forwarded_for(element),
                };
                hop.and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(parse_hop)
            })
    }
}

/// The client address. The TCP peer, unless the peer is a trusted proxy: then the nearest hop
/// of the believed header that is not trusted. `values` are that header's field values in the
/// order received (a proxy that adds a field line adds it last); the other header is never
/// read. Walks the hops in place, without collecting them.
pub fn resolve<'a>(
    peer: IpAddr,
    trusted: &[IpNet],
    header: ForwardedHeader,
    values: impl DoubleEndedIterator<Item = &'a [u8]>,
) -> IpAddr {
    let peer = unmap(peer);
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    // Walk from the proxy nearest to us outwards; the first hop we do not trust is the client.
    let mut client = peer;
    for hop in values.rev().flat_map(|value| header.hops(value).rev()) {
        match hop {
            Some(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            // A hop that names no address: stop trusting the chain beyond it.
            None => break,
        }
    }
    client
}

/// The `for=` value of one `Forwarded` element (`for=192.0.2.1;proto=https`), unquoted.
fn forwarded_for(element: &[u8]) -> Option<&[u8]> {
    element.split(|b| *b == b';').find_map(|pair| {
        let eq = pair.iter().position(|b| *b == b'=')?;
        let (key, value) = (pair[..eq].trim_ascii(), pair[eq + 1..].trim_ascii());
        key.eq_ignore_ascii_case(b"for").then(|| unquote(value))
    })
}

/// `"[2001:db8::1]:443"` → `[2001:db8::1]:443`.
fn unquote(value: &[u8]) -> &[u8] {
    let start = value.iter().position(|b| *b != b'"').unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| *b != b'"')
        .map_or(start, |i| i + 1);
    &value[start..end]
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

    fn xff(peer: &str, values: &[&str], trusted: &[IpNet]) -> IpAddr {
        resolve(
            ip(peer),
            trusted,
            ForwardedHeader::XForwardedFor,
            values.iter().map(|v| v.as_bytes()),
        )
    }

    fn forwarded(peer: &str, values: &[&str], trusted: &[IpNet]) -> IpAddr {
        resolve(
            ip(peer),
            trusted,
            ForwardedHeader::Forwarded,
            values.iter().map(|v| v.as_bytes()),
        )
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let loopback = nets(&["127.0.0.1/32"]);
        for trusted in [&loopback[..], &[]] {
            assert_eq!(
                xff("203.0.113.9", &["10.0.0.1"], trusted),
                ip("203.0.113.9")
            );
            assert_eq!(
                forwarded("203.0.113.9", &["for=10.0.0.1"], trusted),
                ip("203.0.113.9")
            );
        }
    }

    #[test]
    fn a_trusted_proxy_names_the_client() {
        let trusted = nets(&["127.0.0.0/8", "10.0.0.0/8"]);
        assert_eq!(
            xff("127.0.0.1", &["198.51.100.7"], &trusted),
            ip("198.51.100.7")
        );
        // client, spoofed-by-client, our inner proxy: the first untrusted from the right wins.
        assert_eq!(
            xff("127.0.0.1", &["1.1.1.1, 198.51.100.7, 10.0.0.2"], &trusted),
            ip("198.51.100.7")
        );
        // The same over several field lines: a proxy that adds a line adds it last.
        assert_eq!(
            xff(
                "127.0.0.1",
                &["1.1.1.1, 198.51.100.7", "10.0.0.2"],
                &trusted
            ),
            ip("198.51.100.7")
        );
        assert_eq!(xff("127.0.0.1", &[], &trusted), ip("127.0.0.1"));
        assert_eq!(xff("127.0.0.1", &["garbage"], &trusted), ip("127.0.0.1"));
        assert_eq!(
            xff("127.0.0.1", &["198.51.100.7, garbage"], &trusted),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn bytes_beyond_ascii_spoil_only_their_own_hop() {
        let trusted = nets(&["127.0.0.1/32"]);
        let resolve_bytes =
            |header, value: &[u8]| resolve(ip("127.0.0.1"), &trusted, header, [value].into_iter());
        // What the client sent, then what the proxy appended: the proxy's hop still counts.
        assert_eq!(
            resolve_bytes(ForwardedHeader::XForwardedFor, b"\xff\xfe, 198.51.100.7"),
            ip("198.51.100.7")
        );
        assert_eq!(
            resolve_bytes(
                ForwardedHeader::Forwarded,
                b"for=\"\xff\", for=198.51.100.7"
            ),
            ip("198.51.100.7")
        );
        // A spoiled hop nearest to us names nobody: the walk stops at the proxy.
        assert_eq!(
            resolve_bytes(ForwardedHeader::XForwardedFor, b"198.51.100.7, 10.0.0.\xff"),
            ip("127.0.0.1")
        );
        assert_eq!(unquote(b"\"\""), b"");
        assert_eq!(unquote(b"\"a\""), b"a");
    }

    #[test]
    fn each_setting_reads_its_own_header_syntax_only() {
        let trusted = nets(&["127.0.0.1/32"]);
        // What the caller hands over is the believed header's values; the other header's
        // syntax in them names no address.
        assert_eq!(
            xff("127.0.0.1", &["for=198.51.100.7"], &trusted),
            ip("127.0.0.1")
        );
        assert_eq!(
            forwarded("127.0.0.1", &["198.51.100.7"], &trusted),
            ip("127.0.0.1")
        );
        assert_eq!(ForwardedHeader::default(), ForwardedHeader::XForwardedFor);
        let names: Vec<_> = ForwardedHeader::ALL.iter().map(|h| h.to_string()).collect();
        assert_eq!(names, ["x-forwarded-for", "forwarded"]);
    }

    #[test]
    fn forwarded_and_mapped_forms_parse() {
        let trusted = nets(&["127.0.0.1/32"]);
        assert_eq!(
            forwarded(
                "127.0.0.1",
                &[r#"for=192.0.2.60;proto=http, For="[2001:db8:cafe::17]:4711""#],
                &trusted
            ),
            ip("2001:db8:cafe::17")
        );
        assert_eq!(
            forwarded(
                "127.0.0.1",
                &["for=192.0.2.60, proto=https;by=10.0.0.1"],
                &trusted
            ),
            ip("127.0.0.1"),
            "an element without `for` names no client: the walk stops there"
        );
        assert_eq!(
            forwarded("127.0.0.1", &["for=192.0.2.60, for=unknown"], &trusted),
            ip("127.0.0.1")
        );
        assert_eq!(
            xff("::ffff:127.0.0.1", &["192.0.2.1:80"], &trusted),
            ip("192.0.2.1")
        );
        assert_eq!(unmap(ip("::ffff:10.1.2.3")), ip("10.1.2.3"));
        assert_eq!(
            xff("127.0.0.1", &[" 1.2.3.4 ,, 5.6.7.8 ,"], &trusted),
            ip("5.6.7.8"),
            "empty list elements are skipped"
        );
    }
}
