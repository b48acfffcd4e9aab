//! Attacks on the authority at the service level, from a security review of the
//! authentication core: each failed before its fix. The cache is driven with a hand-moved clock
//! and explicit polls, so every interleaving here is exact.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use latchkey::domain::bucket::Rate;
use latchkey::domain::oauth::{AuthMethod, ClientAuth, ClientCredentials};
use latchkey::domain::refusal::Refusal;
use latchkey::domain::secret::Secret;
use latchkey::service::actor::Actor;
use latchkey::service::authority::{Authority, CheckRequest, GrantRequest, Presented};
use latchkey::store::{self, Conn, Pool};
use latchkey::usage::UsageRecorder;

#[path = "support/authority.rs"]
mod support;

use support::{Database, THROTTLE_OFF as OFF};

struct Sys {
    _db: Database,
    pool: Pool,
    node: Authority,
    ms: Arc<AtomicU64>,
    org_id: String,
}

fn start(rate: Rate) -> Sys {
    let db = Database::start(None);
    Sys {
        pool: db.pool.clone(),
        node: db.plain_node(rate),
        ms: db.ms.clone(),
        org_id: db.org_id.clone(),
        _db: db,
    }
}

impl Sys {
    fn cli(&self) -> Actor {
        Actor::cli(&self.org_id)
    }
    fn create(&self, scopes: &[&str]) -> (String, String) {
        let draft = serde_json::from_value(json!({"name": "k", "scopes": scopes})).unwrap();
        let mut conn = self.pool.get().unwrap();
        let c = latchkey::service::keys::create(
            &mut conn,
            &self.cli(),
            &draft,
            false,
            &Default::default(),
            latchkey::service::now(),
        )
        .unwrap();
        (c.key.id.clone(), c.secret.unwrap().expose().to_owned())
    }
    fn read<T>(&self, f: impl Fn(&mut Conn<'_>) -> latchkey::service::ServiceResult<T>) -> T {
        match f(&mut Conn::Offline) {
            Err(latchkey::service::ServiceError::Store(store::StoreError::Offline)) => {
                let mut conn = self.pool.get().unwrap();
                f(&mut Conn::Attached(&mut conn)).unwrap()
            }
            other => other.unwrap(),
        }
    }
    fn auth(&self, credential: &str, now: DateTime<Utc>) -> Result<(), Refusal> {
        let p = Presented::Bearer(credential.to_owned());
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        self.read(|c| self.node.authenticate(c, &p, ip, now))
            .map(|_| ())
    }
    fn mint(&self, id: &str, secret: &str, now: DateTime<Utc>) -> String {
        let request = GrantRequest {
            client: ClientAuth::Secret(ClientCredentials {
                client_id: id.to_owned(),
                client_secret: secret.to_owned(),
                method: AuthMethod::ClientSecretBasic,
            }),
            scope: None,
            target: Default::default(),
            ip: "10.0.0.1".parse().unwrap(),
        };
        self.read(|c| self.node.grant(c, &request, now))
            .unwrap()
            .access_token
    }
    fn poll(&self) {
        let mut conn = self.pool.get().unwrap();
        self.node.key_cache().poll(&mut conn).unwrap();
    }
    fn advance_ms(&self, ms: u64) {
        self.ms.fetch_add(ms, Ordering::AcqRel);
    }
}

/// A node that could not follow the feed for longer than its retention (partition, paused VM,
/// SIGSTOP) came back after every entry it missed was purged and nothing changed since: the
/// poll found nothing, saw no gap, marked the cache fresh, and the revoked key was served from
/// memory forever.
#[test]
fn a_revocation_purged_from_the_feed_while_a_node_was_away_is_never_applied() {
    let sys = start(OFF);
    let (id, secret) = sys.create(&["read:a"]);
    // An unrelated change first, so that the node's feed position is > 0.
    let (other, _) = sys.create(&["read:a"]);
    {
        let mut conn = sys.pool.get().unwrap();
        latchkey::service::keys::revoke(&mut conn, &sys.cli(), &other, latchkey::service::now())
            .unwrap();
    }
    sys.poll();
    let now = latchkey::service::now();
    assert_eq!(sys.auth(&secret, now), Ok(()), "cached on the node");
    // The node stops hearing the feed. Meanwhile the key is revoked by another node ...
    sys.advance_ms(2 * 3600 * 1000);
    {
        let mut conn = sys.pool.get().unwrap();
        latchkey::service::keys::revoke(&mut conn, &sys.cli(), &id, now).unwrap();
        // ... and an hour later another node's follower purges the feed (FEED_RETENTION).
        store::change_log::purge(&mut conn, now + Duration::hours(2)).unwrap();
    }
    // The node is back: its first poll succeeds.
    sys.poll();
    assert_eq!(
        sys.auth(&secret, latchkey::service::now()),
        Err(Refusal::KeyRevoked),
        "a revoked key must not authenticate after the node's poll"
    );
}

/// The same with entries after the purged one: the gap test was skipped when the node's feed
/// position was 0, i.e. for a node that started on an empty feed.
#[test]
fn a_gap_is_not_detected_from_feed_position_zero() {
    let sys = start(OFF);
    let (id, secret) = sys.create(&["read:a"]);
    let (other, _) = sys.create(&["read:a"]);
    let now = latchkey::service::now();
    assert_eq!(sys.auth(&secret, now), Ok(()), "cached on the node");
    {
        let mut conn = sys.pool.get().unwrap();
        assert_eq!(
            store::change_log::head(&mut conn).unwrap(),
            0,
            "node started on an empty feed"
        );
        latchkey::service::keys::revoke(&mut conn, &sys.cli(), &id, now).unwrap(); // seq 1
        // The entry is purged (node away > FEED_RETENTION); a later change is still there.
        store::change_log::purge(&mut conn, now + Duration::hours(2)).unwrap();
        latchkey::service::keys::revoke(&mut conn, &sys.cli(), &other, now).unwrap(); // seq 2
    }
    sys.advance_ms(2 * 3600 * 1000);
    sys.poll();
    assert_eq!(
        sys.auth(&secret, latchkey::service::now()),
        Err(Refusal::KeyRevoked),
        "a revoked key must not authenticate after the node's poll"
    );
}

/// An RFC 7009-revoked access token: the denylist dropped it when `exp <= now`, while
/// verification accepts a token until `exp < now`. In the token's last second, after any poll,
/// the revoked token was accepted again on every node.
#[test]
fn a_revoked_token_is_accepted_again_in_its_last_second() {
    let sys = start(OFF);
    let (id, secret) = sys.create(&["admin:keys"]);
    // Wait until early in a wall-clock second, so the whole test runs within one second.
    while latchkey::service::now().timestamp_subsec_millis() > 200 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let real = latchkey::service::now();
    // Minted 600 s ago (TTL 600): exp == this very second.
    let minted_at = real - Duration::seconds(600);
    let token = sys.mint(&id, &secret, minted_at);
    assert_eq!(sys.auth(&token, minted_at), Ok(()));
    // Revoked (through /oauth/revoke) a moment before its end.
    let caller = Actor {
        org_id: sys.org_id.clone(),
        key_id: Some(id.clone()),
        scopes: vec![],
        ip: Some("10.0.0.1".parse().unwrap()),
        session_parent: None,
    };
    {
        let mut conn = sys.pool.get().unwrap();
        let r = sys
            .node
            .revoke(&mut conn, &caller, &token, real - Duration::seconds(1))
            .unwrap();
        assert!(r.is_ok());
    }
    assert_eq!(
        sys.auth(&token, real - Duration::seconds(1)),
        Err(Refusal::TokenRevoked)
    );
    // The follower's regular poll, now (real clock) in the token's last second.
    sys.poll();
    let now = latchkey::service::now();
    assert_eq!(
        now.timestamp(),
        real.timestamp(),
        "test ran within one second"
    );
    assert_eq!(
        sys.auth(&token, now),
        Err(Refusal::TokenRevoked),
        "a revoked token must stay refused until it expires"
    );
}

/// Lockout: made-up API keys that a resource server forwards to /v1/check counted against the
/// resource server's *address*, so anyone who could make it forward one locked out everything
/// from that address that needs the database (its own key, after a restart). They now count
/// against the calling key's own budget for subjects: that budget limits only lookups of
/// subjects the node does not hold, never the caller's own authentication.
#[test]
fn forged_subjects_at_check_do_not_lock_out_the_resource_servers_address() {
    let sys = start(Rate {
        burst: 3,
        per_sec: 0.001,
    });
    let (rs_key, rs_secret) = sys.create(&["read:a"]);
    let (user, user_secret) = sys.create(&["read:a"]);
    let ip: IpAddr = "198.51.100.7".parse().unwrap();
    let rs = Actor {
        org_id: sys.org_id.clone(),
        key_id: Some(rs_key),
        scopes: vec![],
        ip: Some(ip),
        session_parent: None,
    };
    let now = latchkey::service::now();
    let check = |token: &str| {
        let req: CheckRequest = serde_json::from_value(json!({
            "token": token, "action": "read", "resource": "a"
        }))
        .unwrap();
        sys.read(|c| sys.node.check(c, &rs, &req, now))
    };
    // An attacker (an end user of the resource server) sends well-formed made-up secrets.
    for _ in 0..3 {
        let forged = Secret::generate().expose().to_owned();
        assert!(check(&forged).is_ok());
    }
    assert!(matches!(
        check(Secret::generate().expose()),
        Err(Refusal::Throttled(_))
    ));
    // The resource server's own key, not cached on this node, still authenticates from there.
    let p = Presented::Bearer(rs_secret.clone());
    assert!(sys.read(|c| sys.node.authenticate(c, &p, ip, now)).is_ok());
    // And a user's token is still decided (it needs no lookup of an unknown secret).
    let token = sys.mint(&user, &user_secret, now);
    assert!(matches!(check(&token), Ok(ref d) if d.allowed));
}

/// Memory: a malformed secret was refused before the throttle's gate, yet recorded against the
/// *claimed* client id, in the throttle's key table and in the usage recorder. The id was not
/// validated (up to the 64 KiB body), so one blocked address kept adding ~64 KiB entries: 65,536
/// of them in the throttle (~4 GiB) and, while the database is away, without bound in the
/// recorder. A client id that cannot be a key id is now nobody's, and a blocked address is
/// refused before anything is recorded.
#[test]
fn a_blocked_address_keeps_growing_memory_with_long_client_ids() {
    let db = Database::start(None);
    let usage = Arc::new(UsageRecorder::default());
    let node = db.node(
        Rate {
            burst: 3,
            per_sec: 0.001,
        },
        65_536,
        usage.clone(),
    );
    let now = latchkey::service::now();
    let ip: IpAddr = "203.0.113.9".parse().unwrap();
    let mut throttled = 0;
    for i in 0..1000 {
        let request = GrantRequest {
            client: ClientAuth::Secret(ClientCredentials {
                client_id: format!("{i}{}", "x".repeat(60_000)),
                client_secret: "not-a-secret".into(),
                method: AuthMethod::ClientSecretPost,
            }),
            scope: None,
            target: Default::default(),
            ip,
        };
        // Offline: no database needed at all.
        match node.grant(&mut Conn::Offline, &request, now).unwrap() {
            Err(Refusal::Throttled(_)) => throttled += 1,
            Err(_) => {}
            Ok(_) => unreachable!(),
        }
    }
    let (_, key_ids) = node.throttle_tracked();
    let recorded = usage.take().counts.len();
    println!("throttled={throttled} key_ids_tracked={key_ids} usage_entries={recorded}");
    assert!(
        throttled >= 990 && key_ids == 0 && recorded == 0,
        "a blocked address should cost nothing: throttled={throttled}, \
         throttle key-id entries={key_ids} (~{} MB), usage entries={recorded}",
        key_ids * 60 / 1000
    );
}

/// A blocked address presenting JWS-shaped junk with an unknown `kid` was not refused before
/// work: each request failed offline and was re-run on the blocking pool with a pooled
/// connection (for a keyring reload that then did not even happen), unthrottled.
#[test]
fn a_blocked_address_still_gets_pool_work_with_unknown_kid_tokens() {
    let sys = start(Rate {
        burst: 3,
        per_sec: 0.001,
    });
    let ip: IpAddr = "203.0.113.10".parse().unwrap();
    let now = latchkey::service::now();
    for _ in 0..3 {
        let p = Presented::Bearer(Secret::generate().expose().to_owned());
        let _ = sys.read(|c| sys.node.authenticate(c, &p, ip, now));
    }
    // header {"alg":"EdDSA","kid":"nope","typ":"at+jwt"}
    let junk = "eyJhbGciOiJFZERTQSIsImtpZCI6Im5vcGUiLCJ0eXAiOiJhdCtqd3QifQ.e30.AAAA";
    let p = Presented::Bearer(junk.to_owned());
    let offline = sys.node.authenticate(&mut Conn::Offline, &p, ip, now);
    let needs_db = matches!(
        offline,
        Err(latchkey::service::ServiceError::Store(
            store::StoreError::Offline
        ))
    );
    assert!(
        !needs_db && matches!(offline, Ok(Err(Refusal::Throttled(_)))),
        "a blocked address was sent to the database pool: {offline:?}"
    );
}
