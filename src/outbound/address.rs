//! Which addresses a URL that a user configured may reach (SSRF): public unicast only. Pure;
//! `client.rs` applies it to every address a name resolves to, and to an address written in
//! the URL itself (which no resolver sees).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is not one a user-given URL may reach, or `None` for a public address.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_unspecified() || a == 0 => "an unspecified (0.0.0.0/8) address",
        _ if ip.is_loopback() => "a loopback address",
        _ if ip.is_private() => "a private (RFC 1918) address",
        _ if ip.is_link_local() => "a link-local address (cloud metadata lives there)",
        (100, 64..=127, _) => "a carrier-grade NAT (100.64.0.0/10) address",
        (192, 0, 0) => "an IETF protocol (192.0.0.0/24) address",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "a documentation address",
        (198, 18..=19, _) => "a benchmarking (198.18.0.0/15) address",
        _ if ip.is_multicast() => "a multicast address",
        _ if a >= 240 => "a reserved (240.0.0.0/4) or broadcast address",
        _ => return None,
    })
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    // An IPv4 address inside IPv6 (mapped ::ffff:a.b.c.d, NAT64, 6to4) reaches that IPv4
    // address: judge it as one.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    let s = ip.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    // NAT64: the well-known 64:ff9b::/96 and the local-use 64:ff9b:1::/48 (RFC 8215) carry the
    // IPv4 address in their last 32 bits; 6to4 (2002::/16) in bits 16–48.
    if s[0] == 0x64 && s[1] == 0xff9b && (s[2..6] == [0, 0, 0, 0] || s[2] == 1) {
        return forbidden_v4(v4(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return forbidden_v4(v4(s[1], s[2]));
    }
    Some(match s[0] {
        // Teredo (2001::/32) tunnels to an obfuscated IPv4 address, and SIIT's
        // IPv4-translated ::ffff:0:0/96 (RFC 2765) is another spelling of IPv4: never a host of
        // their own a user-given URL needs.
        0x2001 if s[1] == 0 => "a Teredo (2001::/32) address",
        0 if s[..4] == [0; 4] && s[4] == 0xffff && s[5] == 0 => "an IPv4-translated address",
        _ if ip.is_unspecified() => "an unspecified address",
        _ if ip.is_loopback() => "a loopback address",
        // Deprecated IPv4-compatible addresses (::a.b.c.d).
        _ if s[..6] == [0; 6] => "an IPv4-compatible address",
        x if x & 0xfe00 == 0xfc00 => "a unique-local (fc00::/7) address",
        x if x & 0xffc0 == 0xfe80 => "a link-local address",
        x if x & 0xffc0 == 0xfec0 => "a site-local address",
        x if x & 0xff00 == 0xff00 => "a multicast address",
        0x2001 if s[1] == 0x0db8 => "a documentation address",
        0x0100 if s[1..4] == [0, 0, 0] => "a discard-only (100::/64) address",
        _ => return None,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn refused(text: &str) -> bool {
        forbidden(text.parse().unwrap()).is_some()
    }

    #[test]
    fn private_loopback_and_link_local_are_refused() {
        for ip in [
            "127.0.0.1",
            "127.255.0.9",
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "192.0.0.170",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "::127.0.0.1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
        ] {
            assert!(refused(ip), "{ip} must be refused");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "140.82.112.3",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(!refused(ip), "{ip} must be allowed");
        }
    }
}

/// Review 17: IPv6 transition forms that carry a forbidden IPv4 address.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod review_tests {
    use super::*;

    /// Finding: only `::ffff:0:0/96` (mapped) and NAT64's well-known `64:ff9b::/96` are judged
    /// as the IPv4 address they carry. The local-use NAT64 prefix `64:ff9b:1::/48` (RFC 8215),
    /// 6to4 `2002::/16` (the IPv4 address in bits 16–48) and Teredo `2001::/32`, and the
    /// IPv4-translated `::ffff:0:a.b.c.d` (RFC 2765) pass as public. On a host with a NAT64
    /// gateway using a local-use prefix, or a 6to4/Teredo interface, a `jwks_uri` of
    /// `https://[64:ff9b:1::a9fe:a9fe]/` reaches the metadata service at 169.254.169.254.
    /// Expected: each refused (judged as its embedded IPv4 address, or the ranges refused).
    #[test]
    fn ipv6_transition_forms_carrying_a_forbidden_ipv4_address_are_refused() {
        let passed: Vec<&str> = [
            // RFC 8215 local-use NAT64, 169.254.169.254 and 127.0.0.1 inside.
            "64:ff9b:1::a9fe:a9fe",
            "64:ff9b:1::7f00:1",
            // 6to4 of 169.254.169.254, 10.0.0.1, 127.0.0.1.
            "2002:a9fe:a9fe::1",
            "2002:a00:1::1",
            "2002:7f00:1::",
            // Teredo (server 0.0.0.0 / client ~127.0.0.1 obfuscated): not a unicast host of its own.
            "2001:0:0:0:0:0:80ff:fefe",
            // IPv4-translated (SIIT) ::ffff:0:169.254.169.254.
            "::ffff:0:a9fe:a9fe",
        ]
        .into_iter()
        .filter(|ip| forbidden(ip.parse().unwrap()).is_none())
        .collect::<Vec<_>>();
        assert!(passed.is_empty(), "{passed:?} must be refused");
    }
}
