//! What a rotation does (SPEC `POST /v1/signing-keys/rotate`), decided from the org's keys and
//! the request alone; the service writes what is decided here.
//!
//! An org's keys that do not sign yet (status `next`) are its *pending* next key, published and
//! awaiting promotion (no `activates_at`), and, while a staged rotation runs, the *staged* key,
//! which signs from its `activates_at`. A staged rotation publishes both at once, the staged key
//! and the pending one for after it (of the same algorithm), so that the org still has a next
//! key once the staged one signs, with no write at that instant.

/// One of the org's keys, as far as the decision goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRef<'a> {
    pub kid: &'a str,
    /// `EdDSA`, `RS256` or `ES256`, as stored.
    pub alg: &'a str,
}

/// The org's keys a rotation looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrgKeys<'a> {
    /// The key that signs now.
    pub current: KeyRef<'a>,
    /// The key staged to sign from its `activates_at`, if a staged rotation runs.
    pub staged: Option<KeyRef<'a>>,
    /// The next key awaiting promotion (none only in a database from before next keys).
    pub pending: Option<KeyRef<'a>>,
}

/// What happens to the signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// The already published key `kid` signs from now on (the current key retires now): the
    /// answer to a request without `alg` or with the next key's. A verifier whose JWKS copy is
    /// younger than that key knows its kid. The next key promoted is the staged one if a staged
    /// rotation runs, else the pending one.
    Promote { kid: String },
    /// A key of `alg` is published now and signs from the end of the pre-publication window; the
    /// current key retires at that instant. With it, the pending next key for after it.
    Stage,
    /// A fresh key of `alg` signs from now on (the current key retires now), with a fresh
    /// pending next key: for a key believed compromised. No published key is reused, since one
    /// published alongside the compromised key may have been exposed with it; caching verifiers
    /// refuse the fresh key's tokens until their JWKS copy expires.
    Immediate,
}

/// A rotation, decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    pub kind: Kind,
    /// The algorithm of the key that signs after it, and of every key it generates.
    pub alg: String,
    /// Keys that never signed and that it takes out of the JWKS now: next keys of another
    /// algorithm than the one to come, or all of them for a staged or immediate rotation.
    pub replaces: Vec<String>,
    /// Whether it publishes a new pending next key (a promotion does when no pending key of
    /// the promoted key's algorithm is left).
    pub new_pending: bool,
}

impl Rotation {
    /// `alg` is the requested algorithm, already checked to be one Latchkey signs with.
    pub fn decide(keys: OrgKeys<'_>, alg: Option<&str>, immediate: bool) -> Rotation {
        let unsigned: Vec<KeyRef<'_>> = keys.staged.into_iter().chain(keys.pending).collect();
        let all = || unsigned.iter().map(|k| k.kid.to_owned()).collect();
        let next = keys.staged.or(keys.pending);
        match next {
            _ if immediate => Rotation {
                kind: Kind::Immediate,
                alg: alg.unwrap_or(keys.current.alg).to_owned(),
                replaces: all(),
                new_pending: true,
            },
            Some(next) if alg.is_none_or(|a| a == next.alg) => {
                // A pending key stays the next key only if it is not the one promoted and is of
                // the promoted key's algorithm.
                let kept = keys
                    .pending
                    .filter(|p| p.kid != next.kid && p.alg == next.alg);
                Rotation {
                    kind: Kind::Promote {
                        kid: next.kid.to_owned(),
                    },
                    alg: next.alg.to_owned(),
                    replaces: unsigned
                        .iter()
                        .filter(|k| k.kid != next.kid && Some(**k) != kept)
                        .map(|k| k.kid.to_owned())
                        .collect(),
                    new_pending: kept.is_none(),
                }
            }
            _ => Rotation {
                kind: Kind::Stage,
                alg: alg
                    .or(next.map(|n| n.alg))
                    .unwrap_or(keys.current.alg)
                    .to_owned(),
                replaces: all(),
                new_pending: true,
            },
        }
    }

    /// How many keys it generates: the pending next key if it needs one, and the staged or
    /// fresh current key of a staged or immediate rotation.
    pub fn fresh_keys(&self) -> usize {
        usize::from(self.new_pending) + usize::from(!matches!(self.kind, Kind::Promote { .. }))
    }

    /// How many more of the org's keys are published after it than before (may be negative):
    /// the keys it generates less those it replaces; the retiring key stays published.
    pub fn adding(&self) -> isize {
        self.fresh_keys() as isize - self.replaces.len() as isize
    }

    /// For the audit log: `promoted`, `staged` or `immediate`.
    pub fn outcome(&self) -> &'static str {
        match self.kind {
            Kind::Promote { .. } => "promoted",
            Kind::Stage => "staged",
            Kind::Immediate => "immediate",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: &'static str, alg: &'static str) -> KeyRef<'static> {
        KeyRef { kid, alg }
    }

    /// The usual state: a current EdDSA key and a pending EdDSA next key.
    fn usual() -> OrgKeys<'static> {
        OrgKeys {
            current: key("cur", "EdDSA"),
            staged: None,
            pending: Some(key("nxt", "EdDSA")),
        }
    }

    /// A staged rotation to ES256 running.
    fn staging() -> OrgKeys<'static> {
        OrgKeys {
            current: key("cur", "EdDSA"),
            staged: Some(key("stg", "ES256")),
            pending: Some(key("aft", "ES256")),
        }
    }

    fn summary(r: &Rotation) -> (&'static str, &str, Vec<&str>, bool, usize, isize) {
        let replaces = r.replaces.iter().map(String::as_str).collect();
        (
            r.outcome(),
            r.alg.as_str(),
            replaces,
            r.new_pending,
            r.fresh_keys(),
            r.adding(),
        )
    }

    #[test]
    fn without_alg_or_with_the_next_keys_the_next_key_is_promoted_and_a_new_one_published() {
        for alg in [None, Some("EdDSA")] {
            let r = Rotation::decide(usual(), alg, false);
            assert_eq!(r.kind, Kind::Promote { kid: "nxt".into() });
            assert_eq!(summary(&r), ("promoted", "EdDSA", vec![], true, 1, 1));
        }
        // The next key's algorithm decides, not the current key's.
        let mut es = usual();
        es.pending = Some(key("es", "ES256"));
        assert_eq!(Rotation::decide(es, None, false).alg, "ES256");
    }

    #[test]
    fn another_alg_stages_a_key_of_it_with_the_next_key_for_after_it() {
        let r = Rotation::decide(usual(), Some("RS256"), false);
        assert_eq!(summary(&r), ("staged", "RS256", vec!["nxt"], true, 2, 1));
        assert_eq!(r.kind, Kind::Stage);
        // Staged again with yet another alg: both unsigned keys are replaced.
        let r = Rotation::decide(staging(), Some("RS256"), false);
        assert_eq!(
            summary(&r),
            ("staged", "RS256", vec!["stg", "aft"], true, 2, 0)
        );
        // Staged again with the current alg (a change of mind): the same, it signs later.
        let r = Rotation::decide(staging(), Some("EdDSA"), false);
        assert_eq!(r.kind, Kind::Stage);
    }

    #[test]
    fn during_a_staged_rotation_a_promotion_promotes_the_staged_key_and_keeps_the_one_after() {
        for alg in [None, Some("ES256")] {
            let r = Rotation::decide(staging(), alg, false);
            assert_eq!(r.kind, Kind::Promote { kid: "stg".into() });
            assert_eq!(summary(&r), ("promoted", "ES256", vec![], false, 0, 0));
        }
        // A pending key of another alg than the promoted one (not made by a rotation) goes.
        let mut odd = staging();
        odd.pending = Some(key("aft", "RS256"));
        let r = Rotation::decide(odd, None, false);
        assert_eq!(summary(&r), ("promoted", "ES256", vec!["aft"], true, 1, 0));
    }

    #[test]
    fn immediate_makes_fresh_keys_of_alg_or_the_current_alg_and_replaces_every_unsigned_key() {
        let r = Rotation::decide(usual(), None, true);
        assert_eq!(r.kind, Kind::Immediate);
        assert_eq!(summary(&r), ("immediate", "EdDSA", vec!["nxt"], true, 2, 1));
        // Even with the next key's own alg: fresh keys, not the next one.
        let r = Rotation::decide(staging(), Some("ES256"), true);
        assert_eq!(
            summary(&r),
            ("immediate", "ES256", vec!["stg", "aft"], true, 2, 0)
        );
    }

    #[test]
    fn without_a_next_key_a_rotation_stages_one_and_immediate_needs_none() {
        let legacy = OrgKeys {
            pending: None,
            ..usual()
        };
        let r = Rotation::decide(legacy, None, false);
        assert_eq!(summary(&r), ("staged", "EdDSA", vec![], true, 2, 2));
        assert_eq!(Rotation::decide(legacy, Some("ES256"), false).alg, "ES256");
        let r = Rotation::decide(legacy, None, true);
        assert_eq!(summary(&r), ("immediate", "EdDSA", vec![], true, 2, 2));
    }
}
