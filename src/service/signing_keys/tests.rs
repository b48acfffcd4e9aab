#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::*;
use crate::service::actor::Actor;

fn database() -> (tempfile::TempDir, DbConnection) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let mut conn = store::connect_one(&url).unwrap();
    store::migrate_conn(&mut conn).unwrap();
    (dir, conn)
}

/// An org created at `start()`, without keys; returns its id. (Through the store: this module's
/// tests do not use `service::orgs`, which uses this module.)
fn created(conn: &mut DbConnection, slug: &str) -> String {
    let id = format!("org_{slug}");
    store::orgs::insert(conn, &id, slug, start()).unwrap();
    id
}

/// An org bootstrapped at `start()` with the keys bootstrap makes; returns its id.
fn bootstrapped(conn: &mut DbConnection, master: &MasterKey, slug: &str) -> String {
    let id = created(conn, slug);
    store::orgs::mark_bootstrapped(conn, &id, start()).unwrap();
    for key in first_keys(master, &id, start()).unwrap() {
        store::signing_keys::insert(conn, &key).unwrap();
    }
    id
}

fn start() -> DateTime<Utc> {
    "2026-12-01T12:00:00Z".parse().unwrap()
}

/// `start()` plus `secs`.
fn at(secs: i64) -> DateTime<Utc> {
    start() + TimeDelta::seconds(secs)
}

/// Token TTL 600 s + leeway 60 s; JWKS max-age 300 s (+ leeway: staged keys sign 360 s later).
const WINDOWS: RotationWindows = RotationWindows {
    retire: Duration::from_secs(660),
    prepublish: Duration::from_secs(360),
    jwks_max_age: Duration::from_secs(300),
};

fn request(alg: Option<&str>, immediate: bool) -> RotateRequest {
    RotateRequest {
        alg: alg.map(str::to_owned),
        immediate,
    }
}

struct Org {
    conn: DbConnection,
    master: MasterKey,
    id: String,
    _dir: tempfile::TempDir,
}

impl Org {
    fn new() -> Self {
        let (dir, mut conn) = database();
        let master = MasterKey::generate();
        let id = bootstrapped(&mut conn, &master, "acme");
        Org {
            conn,
            master,
            id,
            _dir: dir,
        }
    }

    fn rotate(
        &mut self,
        alg: Option<&str>,
        immediate: bool,
        now: DateTime<Utc>,
    ) -> ServiceResult<RotateOutcome> {
        let actor = Actor::cli(&self.id);
        let req = request(alg, immediate);
        rotate(&mut self.conn, &self.master, &actor, &req, WINDOWS, &|| now)
    }

    fn rotated(&mut self, alg: Option<&str>, immediate: bool, now: DateTime<Utc>) -> Rotated {
        match self.rotate(alg, immediate, now).unwrap() {
            RotateOutcome::Rotated(r) => *r,
            other => panic!("{other:?}"),
        }
    }

    fn staged(&mut self, alg: &str, now: DateTime<Utc>) -> SigningKeyView {
        match self.rotate(Some(alg), false, now).unwrap() {
            RotateOutcome::Staged(s) => s.next,
            other => panic!("{other:?}"),
        }
    }

    fn list(&mut self, now: DateTime<Utc>) -> Vec<SigningKeyView> {
        list(&mut self.conn, &self.id, now).unwrap()
    }

    /// `(kid, status)` of every key, as listed at `now`.
    fn statuses(&mut self, now: DateTime<Utc>) -> Vec<(String, SigningKeyStatus)> {
        self.list(now)
            .into_iter()
            .map(|k| (k.kid, k.status))
            .collect()
    }

    fn published(&mut self, now: DateTime<Utc>) -> usize {
        self.list(now)
            .iter()
            .filter(|k| k.status != SigningKeyStatus::Unpublished)
            .count()
    }

    fn of(&mut self, status: SigningKeyStatus, now: DateTime<Utc>) -> Vec<SigningKeyView> {
        self.list(now)
            .into_iter()
            .filter(|k| k.status == status)
            .collect()
    }
}

fn codes(warnings: &[crate::domain::Warning]) -> Vec<&str> {
    warnings.iter().map(|w| w.code).collect()
}

use SigningKeyStatus::{Current, Next, Retired, Unpublished};

#[test]
fn bootstrap_publishes_a_current_key_and_a_next_key() {
    let mut org = Org::new();
    let keys = org.list(start());
    let seen: Vec<_> = keys
        .iter()
        .map(|k| (k.status, k.alg.as_str(), k.activates_at))
        .collect();
    assert_eq!(
        seen,
        [(Next, "EdDSA", None), (Current, "EdDSA", Some(start()))]
    );
    assert_ne!(keys[0].kid, keys[1].kid);
}

#[test]
fn a_rotation_promotes_the_next_key_and_publishes_a_new_one_of_its_alg() {
    let mut org = Org::new();
    let before = org.list(start());
    let now = at(3600);
    let r = org.rotated(None, false, now);
    assert_eq!(
        r.signing_key.kid, before[0].kid,
        "the next key, not a new one"
    );
    assert_eq!(
        (r.signing_key.status, r.signing_key.activates_at),
        (Current, Some(now))
    );
    assert_eq!(r.retired.kid, before[1].kid);
    assert_eq!(r.retired.status, Retired);
    assert_eq!(r.retired.retired_at, Some(now));
    assert_eq!(r.retired.unpublish_at, Some(at(3600 + 660)));
    assert_eq!((r.next.status, r.next.alg.as_str()), (Next, "EdDSA"));
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(
        org.statuses(now),
        [
            (r.next.kid.clone(), Next),
            (r.signing_key.kid.clone(), Current),
            (r.retired.kid.clone(), Retired),
        ]
    );
    assert_eq!(
        org.of(Unpublished, at(3600 + 660))[0].kid,
        r.retired.kid,
        "the retired key leaves after token TTL + leeway"
    );
    // With the next key's alg named, the same.
    let again = org.rotated(Some("EdDSA"), false, at(7200));
    assert_eq!(again.signing_key.kid, r.next.kid);
}

#[test]
fn promoting_a_next_key_younger_than_max_age_plus_leeway_says_so() {
    let mut org = Org::new();
    let r = org.rotated(None, false, at(10));
    assert_eq!(codes(&r.warnings), ["next_key_recently_published"]);
    assert!(
        r.warnings[0].message.contains("10 s ago"),
        "{:?}",
        r.warnings
    );
    assert!(org.rotated(None, false, at(10 + 360)).warnings.is_empty());
}

#[test]
fn another_alg_is_staged_and_signs_from_max_age_plus_leeway_later_with_no_write_then() {
    let mut org = Org::new();
    let before = org.list(start());
    let now = at(3600);
    let next = org.staged("ES256", now);
    let activates = at(3600 + 360);
    assert_eq!(
        (next.alg.as_str(), next.status, next.activates_at),
        ("ES256", Next, Some(activates))
    );
    // The old next key never signed: it is simply unpublished.
    let old_next = org
        .list(now)
        .into_iter()
        .find(|k| k.kid == before[0].kid)
        .unwrap();
    assert_eq!(
        (
            old_next.status,
            old_next.activates_at,
            old_next.unpublish_at
        ),
        (Unpublished, None, Some(now))
    );
    // The current key signs until the staged one starts, and its window is reckoned from then.
    let current = &org.of(Current, now)[0];
    assert_eq!(current.kid, before[1].kid);
    assert_eq!(current.retired_at, Some(activates));
    assert_eq!(current.unpublish_at, Some(at(3600 + 360 + 660)));
    let just_before = activates - TimeDelta::microseconds(1);
    assert_eq!(org.of(Current, just_before)[0].kid, before[1].kid);
    // At `activates_at`, the same rows say the staged key is current.
    assert_eq!(org.of(Current, activates)[0].kid, next.kid);
    assert_eq!(org.of(Retired, activates)[0].kid, before[1].kid);
    // And the next key for after it, published with it, is the next key.
    let after = org.of(Next, activates);
    assert_eq!(after.len(), 1);
    assert_eq!(
        (after[0].alg.as_str(), after[0].activates_at),
        ("ES256", None)
    );
    assert_eq!(
        org.published(activates),
        3,
        "the retired, the staged and the next key"
    );
    let r = org.rotated(None, false, at(3600 + 1000));
    assert_eq!(r.retired.kid, next.kid);
    assert_eq!(r.signing_key.kid, after[0].kid);
    assert_eq!(r.next.alg, "ES256");
}

#[test]
fn during_a_staged_rotation_the_listing_shows_the_next_key_after_it_first() {
    let mut org = Org::new();
    let staged = org.staged("ES256", at(100));
    let seen: Vec<_> = org
        .list(at(100))
        .into_iter()
        .map(|k| (k.status, k.activates_at))
        .collect();
    assert_eq!(
        &seen[..3],
        [
            (Next, None),
            (Next, staged.activates_at),
            (Current, Some(start()))
        ]
    );
}

#[test]
fn a_rotation_without_alg_promotes_a_staged_key_at_once() {
    let mut org = Org::new();
    let old = org.of(Current, start())[0].clone();
    let next = org.staged("RS256", at(100));
    let r = org.rotated(None, false, at(200));
    assert_eq!(r.signing_key.kid, next.kid);
    assert_eq!(
        r.signing_key.activates_at,
        Some(at(200)),
        "now, not at its staged time"
    );
    assert_eq!(r.retired.kid, old.kid);
    assert_eq!(r.retired.retired_at, Some(at(200)));
    assert_eq!(r.retired.unpublish_at, Some(at(200 + 660)));
    assert_eq!(r.next.alg, "RS256");
    assert_eq!(r.next.status, Next);
    assert_eq!(
        org.of(Next, at(200)).len(),
        1,
        "the one published with the staged key"
    );
    assert_eq!(org.published(at(200)), 3);
}

#[test]
fn a_second_staged_rotation_replaces_the_first_and_moves_the_switch() {
    let mut org = Org::new();
    let first = org.staged("RS256", at(100));
    let second = org.staged("ES256", at(200));
    assert_eq!(second.activates_at, Some(at(200 + 360)));
    let statuses = org.statuses(at(200));
    assert!(
        statuses.contains(&(first.kid.clone(), Unpublished)),
        "{statuses:?}"
    );
    assert_eq!(
        org.of(Unpublished, at(200)).len(),
        3,
        "the first next key, staged key and its next"
    );
    assert_eq!(org.published(at(200)), 3);
    let current = &org.of(Current, at(200))[0];
    assert_eq!(current.retired_at, second.activates_at);
    assert_eq!(org.of(Current, at(100 + 360))[0].kid, current.kid);
    assert_eq!(org.of(Current, at(200 + 360))[0].kid, second.kid);
}

#[test]
fn an_immediate_rotation_makes_a_fresh_key_current_and_replaces_the_next_key() {
    let mut org = Org::new();
    let before = org.list(start());
    let now = at(3600);
    let r = org.rotated(None, true, now);
    let kids: Vec<&str> = before.iter().map(|k| k.kid.as_str()).collect();
    assert!(
        !kids.contains(&r.signing_key.kid.as_str()),
        "never an existing key"
    );
    assert!(!kids.contains(&r.next.kid.as_str()));
    assert_eq!(
        (r.signing_key.alg.as_str(), r.signing_key.status),
        ("EdDSA", Current)
    );
    assert_eq!(r.retired.kid, before[1].kid);
    assert_eq!(r.retired.unpublish_at, Some(at(3600 + 660)));
    assert_eq!(codes(&r.warnings), ["verifiers_may_refuse"]);
    assert!(r.warnings[0].message.contains("300 s"), "{:?}", r.warnings);
    let statuses = org.statuses(now);
    assert!(
        statuses.contains(&(before[0].kid.clone(), Unpublished)),
        "{statuses:?}"
    );
    assert_eq!(org.published(now), 3);
    // Of another alg: the fresh key and the next key are both of it.
    let r = org.rotated(Some("ES256"), true, at(3700));
    assert_eq!(
        (r.signing_key.alg.as_str(), r.next.alg.as_str()),
        ("ES256", "ES256")
    );
}

#[test]
fn an_org_has_at_most_ten_published_keys_counting_its_next_key() {
    let mut org = Org::new();
    // Bootstrap published two; each promotion adds one (the retired key stays).
    for i in 0..8 {
        org.rotated(None, false, at(i));
    }
    assert_eq!(
        org.published(at(8)),
        signing_key::MAX_PUBLISHED_SIGNING_KEYS
    );
    let full = match org.rotate(None, false, at(10)) {
        Err(ServiceError::TooManySigningKeys(full)) => full,
        other => panic!("{other:?}"),
    };
    assert_eq!(full.published, 10);
    assert_eq!(full.retry_after_secs, 650, "until the bootstrap key leaves");
    // Staging publishes two keys and replaces one: refused as well.
    assert!(matches!(
        org.rotate(Some("RS256"), false, at(10)),
        Err(ServiceError::TooManySigningKeys(f)) if f == full
    ));
    assert_eq!(org.published(at(10)), 10);
    // Room comes back as the oldest retired key leaves.
    org.rotated(None, false, at(660));
    assert!(matches!(
        org.rotate(None, false, at(660)),
        Err(ServiceError::TooManySigningKeys(_))
    ));
}

#[test]
fn an_immediate_rotation_is_never_refused_and_unpublishes_the_oldest_retired_key_early() {
    let mut org = Org::new();
    for i in 0..8 {
        org.rotated(None, false, at(i));
    }
    let oldest = org
        .of(Retired, at(8))
        .into_iter()
        .min_by_key(|k| k.unpublish_at)
        .unwrap();
    let r = org.rotated(None, true, at(20));
    assert_eq!(
        codes(&r.warnings),
        ["verifiers_may_refuse", "retired_key_unpublished_early"]
    );
    assert!(r.warnings[1].message.contains(&oldest.kid));
    assert_eq!(org.published(at(20)), 10);
    let now_listed = org.list(at(20));
    let gone = now_listed.iter().find(|k| k.kid == oldest.kid).unwrap();
    assert_eq!(
        (gone.status, gone.unpublish_at),
        (Unpublished, Some(at(20)))
    );
}

#[test]
fn an_unknown_algorithm_is_a_validation_error_on_alg() {
    let mut org = Org::new();
    for bad in ["HS256", "none", "rs256", ""] {
        for immediate in [false, true] {
            match org.rotate(Some(bad), immediate, at(1)) {
                Err(ServiceError::Validation(e)) => assert_eq!(e[0].field, "alg"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
    assert_eq!(org.list(at(1)).len(), 2);
}

#[test]
fn an_org_that_is_not_bootstrapped_has_nothing_to_rotate() {
    let (_dir, mut conn) = database();
    let master = MasterKey::generate();
    let org = created(&mut conn, "fresh");
    for (alg, immediate) in [(None, false), (Some("RS256"), false), (None, true)] {
        let req = request(alg, immediate);
        match rotate(
            &mut conn,
            &master,
            &Actor::cli(&org),
            &req,
            WINDOWS,
            &|| at(1),
        ) {
            Err(ServiceError::OrgNotBootstrapped(slug)) => assert_eq!(slug, "fresh"),
            other => panic!("{other:?}"),
        }
    }
    assert!(list(&mut conn, &org, at(1)).unwrap().is_empty());
}

/// An org as a database from before next keys has it: one current key, activated when made.
fn legacy_org(conn: &mut DbConnection, master: &MasterKey, slug: &str) -> String {
    let org = created(conn, slug);
    store::orgs::mark_bootstrapped(conn, &org, start()).unwrap();
    let key = generate(master, &org, SigningAlg::Rs256, start(), start().into()).unwrap();
    store::signing_keys::insert(conn, &key).unwrap();
    org
}

#[test]
fn startup_gives_every_org_without_a_next_key_one_of_its_current_alg_once() {
    let (_dir, mut conn) = database();
    let master = MasterKey::generate();
    let legacy = legacy_org(&mut conn, &master, "old");
    let fresh = bootstrapped(&mut conn, &master, "new");
    assert_eq!(
        ensure_next_keys(&mut conn, &master, at(5)).unwrap(),
        std::slice::from_ref(&legacy)
    );
    let keys = list(&mut conn, &legacy, at(5)).unwrap();
    let seen: Vec<_> = keys.iter().map(|k| (k.status, k.alg.as_str())).collect();
    assert_eq!(seen, [(Next, "RS256"), (Current, "RS256")]);
    assert!(
        ensure_next_keys(&mut conn, &master, at(6))
            .unwrap()
            .is_empty()
    );
    assert_eq!(list(&mut conn, &fresh, at(6)).unwrap().len(), 2);
}

#[test]
fn a_rotation_of_an_org_without_a_next_key_stages_one_instead_of_signing_with_an_unknown_key() {
    let (_dir, mut conn) = database();
    let master = MasterKey::generate();
    let org = legacy_org(&mut conn, &master, "old");
    let req = request(None, false);
    let outcome = rotate(
        &mut conn,
        &master,
        &Actor::cli(&org),
        &req,
        WINDOWS,
        &|| at(5),
    )
    .unwrap();
    let RotateOutcome::Staged(staged) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(staged.next.alg, "RS256");
    assert_eq!(staged.next.activates_at, Some(at(5 + 360)));
}

/// A node whose clock is behind the one that rotated last (or a rotation that read the clock
/// before waiting for the org's lock) must not see the key just promoted as one still to come.
#[test]
fn a_rotation_never_judges_the_keys_earlier_than_the_newest_was_made() {
    let mut org = Org::new();
    let first = org.rotated(None, false, at(100));
    let second = org.rotated(None, false, at(99));
    assert_eq!(second.retired.kid, first.signing_key.kid);
    assert_eq!(second.signing_key.kid, first.next.kid);
    assert_eq!(
        second.retired.retired_at,
        Some(at(100)),
        "judged at the newest key's time"
    );
    assert_eq!(org.of(Current, at(100)).len(), 1);
    assert_eq!(org.of(Next, at(100)).len(), 1);
    assert_eq!(org.published(at(100)), 4);
}
