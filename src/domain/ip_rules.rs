//! Allowed client networks of a key (`allowed_cidrs`).
//!
//! Rules: entries are stored canonical (host bits cleared); IPv4 and IPv6 are matched
//! independently; an empty list allows every address.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net};

use super::{FieldError, Warning};

/// Parsed, canonical allow-list. Empty means allow all (`0.0.0.0/0` + `::/0`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IpRules {
    /// Kept in input order so the API echoes the list the way the caller wrote it; at most
    /// [`IpRules::MAX_ENTRIES`] long, so a linear scan per request is cheap.
    nets: Vec<IpNet>,
}

impl IpRules {
    /// Bounds per-request matching cost and stored row size.
    pub const MAX_ENTRIES: usize = 100;

    /// Validates user input for create/update. `field` is e.g. `"allowed_cidrs"`; errors and
    /// warnings are addressed as `allowed_cidrs[2]`. Collects ALL entry errors so a client
    /// can fix its list in one round trip.
    ///
    /// Accepted but warned: host bits set (`cidr_canonicalised`), IPv4-mapped IPv6 entries
    /// (rewritten as IPv4, because mapped peers are matched as IPv4 and such a rule could
    /// never match otherwise; also `cidr_canonicalised`), `/0` ranges (`wildcard_cidr`), and
    /// repeats after canonicalisation (dropped, `duplicate_cidr`).
    pub fn parse(
        field: &str,
        entries: &[String],
    ) -> Result<(IpRules, Vec<Warning>), Vec<FieldError>> {
        if entries.len() > Self::MAX_ENTRIES {
            return Err(vec![FieldError::new(
                field,
                format!(
                    "at most {} entries are allowed; got {}",
                    Self::MAX_ENTRIES,
                    entries.len()
                ),
            )]);
        }
        let mut nets: Vec<IpNet> = Vec::with_capacity(entries.len());
        // Index of the input entry each kept net came from, for duplicate messages.
        let mut origin: Vec<usize> = Vec::with_capacity(entries.len());
        let mut warnings = Vec::new();
        let mut errors = Vec::new();
        for (i, raw) in entries.iter().enumerate() {
            let path = format!("{field}[{i}]");
            let given = match parse_entry(raw) {
                Ok(n) => n,
                Err(msg) => {
                    errors.push(FieldError::new(path, msg));
                    continue;
                }
            };
            let net = canonical(given);
            if net != given {
                let why = if matches!(given, IpNet::V6(_)) && matches!(net, IpNet::V4(_)) {
                    "is an IPv4-mapped IPv6 range, matched as IPv4"
                } else {
                    "has host bits set"
                };
                warnings.push(Warning {
                    code: "cidr_canonicalised",
                    field: path.clone(),
                    message: format!("{raw} {why}; stored as {net}"),
                });
            }
            if let Some(pos) = nets.iter().position(|n| *n == net) {
                warnings.push(Warning {
                    code: "duplicate_cidr",
                    field: path,
                    message: format!(
                        "{net} repeats {field}[{}]; the duplicate was dropped",
                        origin[pos]
                    ),
                });
                continue;
            }
            if net.prefix_len() == 0 {
                let family = if matches!(net, IpNet::V4(_)) {
                    "IPv4"
                } else {
                    "IPv6"
                };
                warnings.push(Warning {
                    code: "wildcard_cidr",
                    field: path,
                    message: format!("{net} allows every {family} address"),
                });
            }
            nets.push(net);
            origin.push(i);
        }
        if errors.is_empty() {
            Ok((IpRules { nets }, warnings))
        } else {
            Err(errors)
        }
    }

    /// Loads stored strings. They were written by [`IpRules::to_strings`], so anything that
    /// is not exactly canonical means corruption and is refused rather than reinterpreted.
    pub fn from_canonical(entries: &[String]) -> Result<IpRules, String> {
        let nets = entries
            .iter()
            .map(|s| match s.parse::<IpNet>() {
                Ok(n) if canonical(n) == n && n.to_string() == *s => Ok(n),
                _ => Err(format!("stored CIDR '{s}' is not a canonical network")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(IpRules { nets })
    }

    /// Whether a request from `ip` passes. An IPv4-mapped IPv6 peer (`::ffff:a.b.c.d`, what
    /// a dual-stack socket reports for IPv4 clients) is treated as IPv4; otherwise an address
    /// only matches rules of its own family.
    pub fn allows(&self, ip: IpAddr) -> bool {
        if self.nets.is_empty() {
            return true;
        }
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// Whether every address these rules allow, `wider` allows too (each network inside one of
    /// `wider`'s; the empty list allows all). Canonical rules hold IPv4-mapped networks as IPv4,
    /// so comparing within each family is exact.
    pub fn within(&self, wider: &IpRules) -> bool {
        wider.nets.is_empty()
            || (!self.nets.is_empty()
                && self
                    .nets
                    .iter()
                    .all(|n| wider.nets.iter().any(|w| w.contains(n))))
    }

    /// True for the empty list only; an explicit `0.0.0.0/0` still restricts IPv6.
    pub fn is_allow_all(&self) -> bool {
        self.nets.is_empty()
    }

    /// Canonical strings (always with a prefix length, e.g. `10.0.0.1/32`), input order.
    pub fn to_strings(&self) -> Vec<String> {
        self.nets.iter().map(IpNet::to_string).collect()
    }
}

/// One entry: a CIDR, or a bare address meaning a single host (/32 or /128).
fn parse_entry(raw: &str) -> Result<IpNet, String> {
    const EXPECTED: &str = "expected an IP address or CIDR such as 10.0.0.0/8 or 2001:db8::/32";
    if raw.is_empty() {
        return Err(format!("the entry is empty; {EXPECTED}"));
    }
    let Some((addr, prefix)) = raw.split_once('/') else {
        return raw
            .parse::<IpAddr>()
            .map(IpNet::from)
            .map_err(|_| format!("'{raw}' is not a valid IP address; {EXPECTED}"));
    };
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| format!("'{addr}' in '{raw}' is not a valid IP address; {EXPECTED}"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let family = if addr.is_ipv4() { "IPv4" } else { "IPv6" };
    // Digits only: `u8::from_str` would also accept a leading '+'.
    let len = prefix
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| prefix.parse::<u8>().ok())
        .flatten()
        .filter(|&l| l <= max)
        .ok_or_else(|| {
            format!(
                "prefix length '{prefix}' in '{raw}' must be a number from 0 to {max} for {family}"
            )
        })?;
    IpNet::new(addr, len).map_err(|_| format!("'{raw}' is not a valid CIDR; {EXPECTED}"))
}

/// Host bits cleared; IPv4-mapped IPv6 ranges (inside `::ffff:0:0/96`) become IPv4.
fn canonical(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net
        && v6.prefix_len() >= 96
        && let Some(v4) = v6.addr().to_ipv4_mapped()
        && let Ok(n) = Ipv4Net::new(v4, v6.prefix_len() - 96)
    {
        return IpNet::V4(n.trunc());
    }
    net.trunc()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn ok(v: &[&str]) -> (IpRules, Vec<Warning>) {
        IpRules::parse("allowed_cidrs", &strs(v)).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn codes(w: &[Warning]) -> Vec<(&'static str, &str)> {
        w.iter().map(|w| (w.code, w.field.as_str())).collect()
    }

    #[test]
    fn canonicalises_with_warning() {
        let (r, w) = ok(&["10.1.2.3/8", "2001:db8::1/32"]);
        assert_eq!(r.to_strings(), strs(&["10.0.0.0/8", "2001:db8::/32"]));
        assert_eq!(
            codes(&w),
            vec![
                ("cidr_canonicalised", "allowed_cidrs[0]"),
                ("cidr_canonicalised", "allowed_cidrs[1]")
            ]
        );
        assert_eq!(
            w[0].message,
            "10.1.2.3/8 has host bits set; stored as 10.0.0.0/8"
        );
    }

    #[test]
    fn canonical_input_has_no_warnings() {
        let (r, w) = ok(&["10.0.0.0/8", "192.168.1.7", "2001:db8::1"]);
        assert!(w.is_empty());
        assert_eq!(
            r.to_strings(),
            strs(&["10.0.0.0/8", "192.168.1.7/32", "2001:db8::1/128"])
        );
        assert!(r.allows(ip("192.168.1.7")));
        assert!(!r.allows(ip("192.168.1.8")));
        assert!(r.allows(ip("2001:db8::1")));
        assert!(!r.allows(ip("2001:db8::2")));
    }

    #[test]
    fn ipv6_ranges() {
        let (r, _) = ok(&["2001:db8::/32"]);
        assert!(r.allows(ip("2001:db8:ffff::1")));
        assert!(!r.allows(ip("2001:db9::1")));
    }

    #[test]
    fn mapped_peer_matches_v4_rule() {
        let (r, _) = ok(&["10.0.0.0/8"]);
        assert!(r.allows(ip("::ffff:10.9.8.7")));
        assert!(!r.allows(ip("::ffff:11.0.0.1")));
        // IPv4-compatible (deprecated) form is not mapped and stays IPv6.
        assert!(!r.allows(ip("::10.9.8.7")));
    }

    #[test]
    fn mapped_rule_is_stored_as_v4() {
        let (r, w) = ok(&["::ffff:10.1.2.3", "::ffff:10.0.0.0/104"]);
        assert_eq!(r.to_strings(), strs(&["10.1.2.3/32", "10.0.0.0/8"]));
        assert_eq!(w.len(), 2);
        assert!(w.iter().all(|w| w.code == "cidr_canonicalised"));
        assert!(r.allows(ip("10.1.2.3")));
        assert!(r.allows(ip("::ffff:10.200.0.1")));
    }

    #[test]
    fn families_are_independent() {
        let (v6_only, _) = ok(&["2001:db8::/32"]);
        assert!(!v6_only.allows(ip("10.0.0.1")));
        assert!(!v6_only.allows(ip("::ffff:10.0.0.1")));
        let (v4_only, _) = ok(&["10.0.0.0/8"]);
        assert!(!v4_only.allows(ip("2001:db8::1")));
        let (mixed, _) = ok(&["10.0.0.0/8", "2001:db8::/32"]);
        assert!(mixed.allows(ip("10.0.0.1")));
        assert!(mixed.allows(ip("2001:db8::1")));
        assert!(!mixed.allows(ip("11.0.0.1")));
        assert!(!mixed.allows(ip("2001:db9::1")));
    }

    #[test]
    fn empty_allows_all() {
        let (r, w) = ok(&[]);
        assert!(w.is_empty());
        assert!(r.is_allow_all());
        assert_eq!(r, IpRules::default());
        assert!(r.allows(ip("1.2.3.4")));
        assert!(r.allows(ip("2001:db8::1")));
        assert!(r.to_strings().is_empty());
    }

    #[test]
    fn wildcards_warn_per_family() {
        let (r, w) = ok(&["0.0.0.0/0", "::/0"]);
        assert_eq!(
            codes(&w),
            vec![
                ("wildcard_cidr", "allowed_cidrs[0]"),
                ("wildcard_cidr", "allowed_cidrs[1]")
            ]
        );
        assert!(!r.is_allow_all());
        assert!(r.allows(ip("8.8.8.8")) && r.allows(ip("2001:db8::1")));
        let (v4, w) = ok(&["10.0.0.0/0"]);
        assert_eq!(
            codes(&w),
            vec![
                ("cidr_canonicalised", "allowed_cidrs[0]"),
                ("wildcard_cidr", "allowed_cidrs[0]")
            ]
        );
        assert!(!v4.allows(ip("2001:db8::1")));
    }

    #[test]
    fn duplicates_dropped() {
        let (r, w) = ok(&["10.0.0.0/8", "192.168.0.1", "10.9.9.9/8", "192.168.0.1/32"]);
        assert_eq!(r.to_strings(), strs(&["10.0.0.0/8", "192.168.0.1/32"]));
        assert_eq!(
            codes(&w),
            vec![
                ("cidr_canonicalised", "allowed_cidrs[2]"),
                ("duplicate_cidr", "allowed_cidrs[2]"),
                ("duplicate_cidr", "allowed_cidrs[3]"),
            ]
        );
        assert!(
            w[1].message.contains("allowed_cidrs[0]"),
            "{}",
            w[1].message
        );
    }

    #[test]
    fn all_errors_collected() {
        let input = strs(&[
            "10.0.0.0/8",
            "nope",
            "",
            "10.0.0.0/33",
            "2001:db8::/129",
            "1.2.3.4/+8",
            "010.0.0.1",
            " 10.0.0.1",
        ]);
        let errs = IpRules::parse("allowed_cidrs", &input).unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "allowed_cidrs[1]",
                "allowed_cidrs[2]",
                "allowed_cidrs[3]",
                "allowed_cidrs[4]",
                "allowed_cidrs[5]",
                "allowed_cidrs[6]",
                "allowed_cidrs[7]"
            ]
        );
        assert!(
            errs[2].message.contains("0 to 32 for IPv4"),
            "{}",
            errs[2].message
        );
        assert!(
            errs[3].message.contains("0 to 128 for IPv6"),
            "{}",
            errs[3].message
        );
    }

    #[test]
    fn too_many_entries() {
        let many: Vec<String> = (0..101).map(|i| format!("10.0.{i}.0/24")).collect();
        let errs = IpRules::parse("allowed_cidrs", &many).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "allowed_cidrs");
        assert!(IpRules::parse("allowed_cidrs", &many[..100]).is_ok());
    }

    #[test]
    fn from_canonical_round_trip() {
        let (r, _) = ok(&["10.1.2.3/8", "2001:db8::1", "192.168.0.1"]);
        assert_eq!(IpRules::from_canonical(&r.to_strings()).unwrap(), r);
        assert_eq!(IpRules::from_canonical(&[]).unwrap(), IpRules::default());
        let rules = |list: &[&str]| IpRules::from_canonical(&strs(list)).unwrap();
        let office = rules(&["10.0.0.0/8", "2001:db8::/32"]);
        assert!(rules(&["10.1.0.0/16"]).within(&office));
        assert!(rules(&["10.1.0.0/16", "2001:db8:1::/48"]).within(&office));
        assert!(office.within(&office));
        assert!(
            office.within(&IpRules::default()),
            "anything is within allow-all"
        );
        assert!(!IpRules::default().within(&office), "allow-all is wider");
        assert!(!rules(&["0.0.0.0/0"]).within(&office));
        assert!(!rules(&["10.0.0.0/8", "192.168.0.0/16"]).within(&office));
        for bad in ["10.1.2.3/8", "10.0.0.1", "junk", "2001:DB8::/32"] {
            assert!(IpRules::from_canonical(&strs(&[bad])).is_err(), "{bad}");
        }
    }
}
