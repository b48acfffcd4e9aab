//! Allowed-IP rules (`src/domain/ip_rules.rs`): parsing, canonical storage and matching.
//!
//! Input: one allow-list entry a line, then an empty line, then one peer address a line.
//!
//! Checks: parsing never panics, and an error list addresses only the field or one of its
//! entries; accepted rules store canonical text (host bits cleared, no duplicates, mapped
//! IPv6 ranges as IPv4) that `from_canonical` loads back to the same rules and that `parse`
//! accepts again without any canonicalisation or duplicate warning; stored text that did not
//! come from `to_strings` is refused or loaded verbatim; `allows` agrees with `ipnet`'s
//! `contains` over the canonical networks (an IPv4-mapped IPv6 peer counted as IPv4, the
//! empty list allowing everything) for the input's peers and for each rule's first and last
//! address and the addresses just outside them; an IPv4 peer gets the same answer in its
//! mapped IPv6 spelling.

#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use latchkey::domain::ip_rules::IpRules;
use libfuzzer_sys::fuzz_target;

/// The reference: ipnet's own containment over the canonical networks.
fn reference(nets: &[IpNet], ip: IpAddr) -> bool {
    if nets.is_empty() {
        return true;
    }
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    nets.iter().any(|n| n.contains(&ip))
}

fn neighbours(ip: IpAddr) -> [IpAddr; 2] {
    match ip {
        IpAddr::V4(v4) => {
            let n = u32::from(v4);
            [n.wrapping_sub(1), n.wrapping_add(1)].map(|n| IpAddr::V4(Ipv4Addr::from(n)))
        }
        IpAddr::V6(v6) => {
            let n = u128::from(v6);
            [n.wrapping_sub(1), n.wrapping_add(1)].map(|n| IpAddr::V6(Ipv6Addr::from(n)))
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (list, peers) = text.split_once("\n\n").unwrap_or((&text, ""));
    let entries: Vec<String> = if list.is_empty() {
        Vec::new()
    } else {
        list.split('\n').map(str::to_owned).collect()
    };

    // The same lines as stored text that did not come from `to_strings`.
    if let Ok(r) = IpRules::from_canonical(&entries) {
        assert_eq!(r.to_strings(), entries);
    }

    let (rules, warnings) = match IpRules::parse("allowed_cidrs", &entries) {
        Ok(ok) => ok,
        Err(errors) => {
            assert!(!errors.is_empty());
            for e in &errors {
                let ok = e.field == "allowed_cidrs"
                    || e.field
                        .strip_prefix("allowed_cidrs[")
                        .and_then(|s| s.strip_suffix(']'))
                        .and_then(|i| i.parse::<usize>().ok())
                        .is_some_and(|i| i < entries.len());
                assert!(ok, "error addressed to {:?}", e.field);
            }
            return;
        }
    };
    for w in &warnings {
        assert!(
            ["cidr_canonicalised", "duplicate_cidr", "wildcard_cidr"].contains(&w.code),
            "{w:?}"
        );
    }

    let strings = rules.to_strings();
    assert!(strings.len() <= entries.len());
    assert_eq!(rules.is_allow_all(), strings.is_empty());
    let nets: Vec<IpNet> = strings
        .iter()
        .map(|s| s.parse::<IpNet>().expect("canonical text is a CIDR"))
        .collect();
    for (i, n) in nets.iter().enumerate() {
        assert_eq!(n.trunc(), *n, "host bits cleared: {n}");
        assert_eq!(n.to_string(), strings[i]);
        assert!(!nets[..i].contains(n), "duplicate {n} kept");
        if let IpNet::V6(v6) = n {
            // A mapped range is stored as IPv4; a rule like this could never match.
            assert!(
                !(v6.prefix_len() >= 96 && v6.addr().to_ipv4_mapped().is_some()),
                "{n} should be IPv4"
            );
        }
    }

    let loaded = IpRules::from_canonical(&strings).expect("canonical strings load");
    assert_eq!(loaded, rules);
    let (again, again_warnings) =
        IpRules::parse("allowed_cidrs", &strings).expect("canonical strings re-parse");
    assert_eq!(again, rules);
    assert!(
        again_warnings.iter().all(|w| w.code == "wildcard_cidr"),
        "{again_warnings:?}"
    );

    let mut probes: Vec<IpAddr> = peers.split('\n').filter_map(|p| p.parse().ok()).collect();
    for n in &nets {
        for edge in [n.network(), n.broadcast()] {
            probes.push(edge);
            probes.extend(neighbours(edge));
        }
    }
    for ip in probes {
        let got = rules.allows(ip);
        assert_eq!(got, reference(&nets, ip), "{ip} against {strings:?}");
        if let IpAddr::V4(v4) = ip {
            assert_eq!(
                rules.allows(IpAddr::V6(v4.to_ipv6_mapped())),
                got,
                "{ip} mapped"
            );
        }
    }
});
