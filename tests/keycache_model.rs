//! Model-based test of the key cache and the authority over it: random sequences of key
//! lifecycle operations, credential use on two nodes sharing one database, change-feed polls
//! and clock steps, each answer checked against a plain model of what the database says.
//!
//! The promise checked after every step (`service::authority::keycache`'s module doc): a node
//! answers as the database does now, or as it did at some moment since the node last learned of
//! a change to that key (its last poll of the feed, or its own write); never older. A node whose
//! cache is stale (no poll for more than a second) answers as the database does now.
//!
//! Console sessions are keys too: a key may start one (`StartSession`), and the model ends a
//! key's live sessions whenever the key is revoked, rolled or re-scoped, as the database must
//! (`keys::sessions::end_with_parent`), so every node is held to refusing a session once it has
//! heard of its parent's change. Editing or rolling a session's own key must fail.
//!
//! Runs on SQLite in `cargo test` (`LATCHKEY_MODEL_CASES`, default 256) and on PostgreSQL when
//! it is installed (`LATCHKEY_MODEL_PG_CASES`, default 32). A longer run:
//! `LATCHKEY_MODEL_CASES=2000 LATCHKEY_MODEL_PG_CASES=300 cargo test --release --test keycache_model`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/cases.rs"]
mod cases;
#[path = "support/postgres.rs"]
mod postgres;
#[path = "support/authority.rs"]
mod support;

use support::{Database, THROTTLE_OFF};

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;

use cases::{cases, config};
use serde_json::{Value, json};

use latchkey::domain::oauth::{AuthMethod, ClientAuth, ClientCredentials};
use latchkey::domain::refusal::Refusal;
use latchkey::domain::scope::{Scope, format_scope_list};
use latchkey::domain::secret::Secret;
use latchkey::service::actor::Actor;
use latchkey::service::authority::keycache::MAX_STALENESS;
use latchkey::service::authority::{Authority, GrantRequest, Presented};
use latchkey::store::{self, Conn, Pool};

// ---------------------------------------------------------------------------------------------
// The operations.

const SCOPE_SETS: [&[&str]; 4] = [&["read:a"], &["read:a", "write:b"], &["*:*"], &["write:b"]];
const CIDR_SETS: [&[&str]; 3] = [&[], &["10.0.0.0/8"], &["192.0.2.0/24"]];
const IPS: [&str; 2] = ["10.0.0.1", "192.0.2.1"];

/// Who makes a change: a node (which forgets the key at once, as its handlers do) or another
/// process on the database (the CLI), which no node hears of before its next poll.
#[derive(Debug, Clone, Copy)]
enum Via {
    Node(usize),
    Cli,
}

#[derive(Debug, Clone)]
enum Op {
    Create {
        scopes: usize,
        cidrs: usize,
        expires_in_ms: Option<i64>,
    },
    /// `secret` picks among every secret the key ever had; `None` is one it never had.
    UseSecret {
        node: usize,
        key: usize,
        secret: Option<usize>,
        ip: usize,
    },
    MintToken {
        node: usize,
        key: usize,
        secret: usize,
        ip: usize,
    },
    UseToken {
        node: usize,
        token: usize,
        ip: usize,
    },
    Roll {
        key: usize,
        grace_s: i64,
        via: Via,
    },
    EditScopes {
        key: usize,
        scopes: usize,
        via: Via,
    },
    EditCidrs {
        key: usize,
        cidrs: usize,
        via: Via,
    },
    Revoke {
        key: usize,
        via: Via,
    },
    /// Key `parent` starts a console session (refused if it is one, or is not active).
    StartSession {
        parent: usize,
    },
    Poll {
        node: usize,
    },
    /// Moves both the wall clock and the monotonic clock the caches age by.
    Step {
        ms: i64,
    },
}

fn via() -> impl Strategy<Value = Via> {
    prop_oneof![(0..2usize).prop_map(Via::Node), Just(Via::Cli)]
}

fn op() -> impl Strategy<Value = Op> {
    let idx = 0..64usize;
    prop_oneof![
        1 => (0..SCOPE_SETS.len(), 0..CIDR_SETS.len(), proptest::option::weighted(0.3, 500..8_000i64))
            .prop_map(|(scopes, cidrs, expires_in_ms)| Op::Create { scopes, cidrs, expires_in_ms }),
        6 => (0..2usize, idx.clone(), proptest::option::weighted(0.9, 0..64usize), 0..IPS.len())
            .prop_map(|(node, key, secret, ip)| Op::UseSecret { node, key, secret, ip }),
        2 => (0..2usize, idx.clone(), 0..64usize, 0..IPS.len())
            .prop_map(|(node, key, secret, ip)| Op::MintToken { node, key, secret, ip }),
        3 => (0..2usize, idx.clone(), 0..IPS.len())
            .prop_map(|(node, token, ip)| Op::UseToken { node, token, ip }),
        2 => (idx.clone(), prop_oneof![Just(0i64), 1..4i64], via())
            .prop_map(|(key, grace_s, via)| Op::Roll { key, grace_s, via }),
        1 => (idx.clone(), 0..SCOPE_SETS.len(), via())
            .prop_map(|(key, scopes, via)| Op::EditScopes { key, scopes, via }),
        1 => (idx.clone(), 0..CIDR_SETS.len(), via())
            .prop_map(|(key, cidrs, via)| Op::EditCidrs { key, cidrs, via }),
        1 => (idx.clone(), via()).prop_map(|(key, via)| Op::Revoke { key, via }),
        1 => idx.prop_map(|parent| Op::StartSession { parent }),
        3 => (0..2usize).prop_map(|node| Op::Poll { node }),
        2 => prop_oneof![0..400i64, 400..1_600i64].prop_map(|ms| Op::Step { ms }),
    ]
}

// ---------------------------------------------------------------------------------------------
// The reference model: what the database says, in plain terms.

#[derive(Debug, Clone)]
struct ModelKey {
    id: String,
    /// Every secret the key ever had, oldest first: secret `i` is of generation `i`.
    secrets: Vec<String>,
    previous_until: Option<DateTime<Utc>>,
    scopes: Vec<String>,
    cidrs: Vec<String>,
    revoked: bool,
    expires_at: Option<DateTime<Utc>>,
    /// For a console session: the key that started it.
    parent: Option<usize>,
}

impl ModelKey {
    fn live(&self, now: DateTime<Utc>) -> bool {
        !self.revoked && self.expires_at.is_none_or(|e| e > now)
    }

    fn generation(&self) -> usize {
        self.secrets.len() - 1
    }

    fn covers(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == "*:*" || s == scope)
    }

    fn ip_allowed(&self, ip: &str) -> bool {
        let ip: IpAddr = ip.parse().unwrap();
        self.cidrs.is_empty()
            || self
                .cidrs
                .iter()
                .any(|c| c.parse::<ipnet::IpNet>().unwrap().contains(&ip))
    }

    fn admit(&self, ip: &str, now: DateTime<Utc>) -> Result<(), Refusal> {
        if self.revoked {
            Err(Refusal::KeyRevoked)
        } else if self.expires_at.is_some_and(|e| e <= now) {
            Err(Refusal::KeyExpired)
        } else if !self.ip_allowed(ip) {
            Err(Refusal::IpNotAllowed)
        } else {
            Ok(())
        }
    }

    /// Presenting a secret: the scopes it authenticates with, or why not.
    fn use_secret(&self, secret: &str, ip: &str, now: DateTime<Utc>) -> Outcome {
        let current = self.secrets.last().map(String::as_str) == Some(secret);
        let previous = self.secrets.len() >= 2
            && self.secrets[self.secrets.len() - 2] == secret
            && self.previous_until.is_some_and(|u| u > now);
        if !current && !previous {
            return Err(Refusal::BadSecret);
        }
        self.admit(ip, now)?;
        Ok(sorted(self.scopes.clone()))
    }

    /// Presenting a token minted with secret generation `generation`.
    fn use_token(&self, token: &MintedToken, ip: &str, now: DateTime<Utc>) -> Outcome {
        if token.exp < now.timestamp() {
            return Err(Refusal::TokenExpired);
        }
        // The key's state first (revoked, expired), then the secret behind the token.
        if self.revoked {
            return Err(Refusal::KeyRevoked);
        }
        if self.expires_at.is_some_and(|e| e <= now) {
            return Err(Refusal::KeyExpired);
        }
        let live = token.generation == self.generation()
            || (token.generation + 1 == self.generation()
                && self.previous_until.is_some_and(|u| u > now));
        if !live {
            return Err(Refusal::TokenSuperseded);
        }
        self.admit(ip, now)?;
        Ok(sorted(
            token
                .scopes
                .iter()
                .filter(|s| self.covers(s))
                .cloned()
                .collect(),
        ))
    }
}

type Outcome = Result<Vec<String>, Refusal>;

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[derive(Debug, Clone)]
struct MintedToken {
    key: usize,
    token: String,
    generation: usize,
    exp: i64,
    scopes: Vec<String>,
}

/// The database's states, one per write, and what each node has heard of.
struct Model {
    history: Vec<Vec<ModelKey>>,
    /// Per node and key: the first state the node may still answer from (see the module doc).
    floor: [Vec<usize>; 2],
    /// Per node: the monotonic time of its last poll.
    polled_at_ms: [u64; 2],
    tokens: Vec<MintedToken>,
}

impl Model {
    fn now_state(&self) -> &Vec<ModelKey> {
        self.history.last().unwrap()
    }

    fn version(&self) -> usize {
        self.history.len() - 1
    }

    /// A write to `key` (and to the sessions it ended, `ended`) made `via` a node, which
    /// forgets them all at once, or the CLI.
    fn write(&mut self, keys: Vec<ModelKey>, key: usize, ended: &[usize], via: Via) {
        self.history.push(keys);
        let v = self.version();
        if let Via::Node(n) = via {
            for k in std::iter::once(&key).chain(ended) {
                self.floor[n][*k] = v;
            }
        }
    }

    /// Every answer node `node` may give for `key`, given `eval` on one state of that key.
    fn allowed(
        &self,
        node: usize,
        key: usize,
        stale: bool,
        eval: impl Fn(&ModelKey) -> Outcome,
    ) -> Vec<Outcome> {
        let from = if stale {
            self.version()
        } else {
            self.floor[node][key]
        };
        let mut out: Vec<Outcome> = self.history[from..]
            .iter()
            .filter_map(|keys| keys.get(key))
            .map(eval)
            .collect();
        out.dedup();
        out
    }
}

// ---------------------------------------------------------------------------------------------
// The system: two authorities on one database, with a clock the test moves.

struct System {
    pool: Pool,
    nodes: [Authority; 2],
    ms: Arc<AtomicU64>,
    now: DateTime<Utc>,
    org_id: String,
    _db: Database,
}

impl System {
    fn start(database_url: Option<String>) -> Self {
        let db = Database::start(database_url);
        System {
            pool: db.pool.clone(),
            nodes: [db.plain_node(THROTTLE_OFF), db.plain_node(THROTTLE_OFF)],
            ms: db.ms.clone(),
            now: latchkey::service::now(),
            org_id: db.org_id.clone(),
            _db: db,
        }
    }

    fn cli(&self) -> Actor {
        Actor::cli(&self.org_id)
    }

    fn stale(&self, model: &Model, node: usize) -> bool {
        let age = self.ms.load(Ordering::Acquire) - model.polled_at_ms[node];
        u128::from(age) > MAX_STALENESS.as_millis()
    }

    fn authenticate(&self, node: usize, credential: &str, ip: &str) -> Outcome {
        let mut conn = self.pool.get().unwrap();
        let presented = Presented::Bearer(credential.to_owned());
        // As the handlers do: offline first (cache and keyring), then with the database.
        let attempt = |c: &mut Conn<'_>| {
            self.nodes[node].authenticate(c, &presented, ip.parse().unwrap(), self.now)
        };
        let result = match attempt(&mut Conn::Offline) {
            Err(latchkey::service::ServiceError::Store(store::StoreError::Offline)) => {
                attempt(&mut Conn::Attached(&mut conn))
            }
            other => other,
        };
        result
            .unwrap()
            .map(|actor| sorted(scope_strings(&format_scope_list(&actor.scopes))))
    }

    fn mint(&self, node: usize, id: &str, secret: &str, ip: &str) -> Result<String, Refusal> {
        let mut conn = self.pool.get().unwrap();
        let request = GrantRequest {
            client: ClientAuth::Secret(ClientCredentials {
                client_id: id.to_owned(),
                client_secret: secret.to_owned(),
                method: AuthMethod::ClientSecretBasic,
            }),
            scope: None,
            target: Default::default(),
            ip: ip.parse().unwrap(),
        };
        self.nodes[node]
            .grant(&mut Conn::Attached(&mut conn), &request, self.now)
            .unwrap()
            .map(|issued| issued.access_token)
    }

    /// What a node's handler forgets after a change it made: the key and the sessions the
    /// change ended.
    fn forget(&self, via: Via, id: &str, ended: &[String]) {
        if let Via::Node(n) = via {
            self.nodes[n].forget(id);
            for session in ended {
                self.nodes[n].forget(session);
            }
        }
    }
}

/// Ends the live sessions of `parent` in the model, as the database must; returns them.
fn end_sessions(keys: &mut [ModelKey], parent: usize, now: DateTime<Utc>) -> Vec<usize> {
    let ended: Vec<usize> = (0..keys.len())
        .filter(|&k| keys[k].parent == Some(parent) && keys[k].live(now))
        .collect();
    for &k in &ended {
        keys[k].revoked = true;
    }
    ended
}

/// The model keys of the session ids a change ended, checked against the model's own list.
fn check_ended(
    model_ended: &[usize],
    keys: &[ModelKey],
    ended_ids: &[String],
    at: &str,
) -> Result<(), TestCaseError> {
    let mut expected: Vec<&str> = model_ended.iter().map(|&k| keys[k].id.as_str()).collect();
    let mut got: Vec<&str> = ended_ids.iter().map(String::as_str).collect();
    expected.sort_unstable();
    got.sort_unstable();
    prop_assert_eq!(got, expected, "{}: the sessions ended", at);
    Ok(())
}

fn scope_strings(list: &str) -> Vec<String> {
    list.split_whitespace().map(str::to_owned).collect()
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// One run.

fn run(database_url: Option<String>, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut sys = System::start(database_url);
    let start_ms = sys.ms.load(Ordering::Acquire);
    let mut model = Model {
        history: vec![Vec::new()],
        floor: [Vec::new(), Vec::new()],
        polled_at_ms: [start_ms, start_ms],
        tokens: Vec::new(),
    };
    let mut ops = ops.to_vec();
    // Two keys to start with, so that early operations have something to act on.
    ops.splice(
        0..0,
        [
            Op::Create {
                scopes: 1,
                cidrs: 0,
                expires_in_ms: None,
            },
            Op::Create {
                scopes: 2,
                cidrs: 1,
                expires_in_ms: None,
            },
        ],
    );
    for (step, op) in ops.iter().enumerate() {
        let keys = model.now_state().len();
        let at = format!("step {step}: {op:?}");
        match *op {
            Op::Create {
                scopes,
                cidrs,
                expires_in_ms,
            } => {
                let expires_at = expires_in_ms.map(|ms| sys.now + Duration::milliseconds(ms));
                let draft = serde_json::from_value(json!({
                    "name": "model",
                    "scopes": SCOPE_SETS[scopes],
                    "allowed_cidrs": CIDR_SETS[cidrs],
                    "expires_at": expires_at,
                }))
                .unwrap();
                let mut conn = sys.pool.get().unwrap();
                let created = latchkey::service::keys::create(
                    &mut conn,
                    &sys.cli(),
                    &draft,
                    false,
                    &Default::default(),
                    sys.now,
                )
                .unwrap();
                let mut next = model.now_state().clone();
                next.push(ModelKey {
                    id: created.key.id.clone(),
                    secrets: vec![created.secret.unwrap().expose().to_owned()],
                    previous_until: None,
                    scopes: SCOPE_SETS[scopes].iter().map(|s| s.to_string()).collect(),
                    cidrs: CIDR_SETS[cidrs].iter().map(|s| s.to_string()).collect(),
                    revoked: false,
                    expires_at,
                    parent: None,
                });
                model.history.push(next);
                let v = model.version();
                for floor in &mut model.floor {
                    floor.push(v);
                }
            }
            Op::UseSecret {
                node,
                key,
                secret,
                ip,
            } => {
                let key = key % keys;
                let k = &model.now_state()[key];
                let presented = match secret {
                    Some(i) => k.secrets[i % k.secrets.len()].clone(),
                    None => Secret::generate().expose().to_owned(),
                };
                let got = sys.authenticate(node, &presented, IPS[ip]);
                let now = sys.now;
                let allowed = model.allowed(node, key, sys.stale(&model, node), |k| {
                    k.use_secret(&presented, IPS[ip], now)
                });
                prop_assert!(
                    allowed.contains(&got),
                    "{at}: node {node} answered {got:?}; the database allows {allowed:?}"
                );
            }
            Op::MintToken {
                node,
                key,
                secret,
                ip,
            } => {
                let key = key % keys;
                let k = model.now_state()[key].clone();
                let generation = secret % k.secrets.len();
                let presented = &k.secrets[generation];
                let got = sys.mint(node, &k.id, presented, IPS[ip]);
                let now = sys.now;
                let allowed = model.allowed(node, key, sys.stale(&model, node), |k| {
                    k.use_secret(presented, IPS[ip], now)
                });
                let as_outcome = got
                    .as_ref()
                    .map(|t| sorted(scope_strings(claims(t)["scope"].as_str().unwrap())))
                    .map_err(|r| match r {
                        // The token endpoint names no other key's secret: a bad client.
                        Refusal::BadClient => Refusal::BadSecret,
                        other => other.clone(),
                    });
                prop_assert!(
                    allowed.contains(&as_outcome),
                    "{at}: node {node} minted {as_outcome:?}; the database allows {allowed:?}"
                );
                if let Ok(token) = got {
                    let c = claims(&token);
                    let jti_generation = c["jti"]
                        .as_str()
                        .unwrap()
                        .rsplit_once('.')
                        .unwrap()
                        .1
                        .parse::<usize>()
                        .unwrap();
                    prop_assert_eq!(jti_generation, generation, "{}: jti generation", at);
                    model.tokens.push(MintedToken {
                        key,
                        generation,
                        exp: c["exp"].as_i64().unwrap(),
                        scopes: scope_strings(c["scope"].as_str().unwrap()),
                        token,
                    });
                }
            }
            Op::UseToken { node, token, ip } => {
                if model.tokens.is_empty() {
                    continue;
                }
                let t = model.tokens[token % model.tokens.len()].clone();
                let got = sys.authenticate(node, &t.token, IPS[ip]);
                let now = sys.now;
                let allowed = model.allowed(node, t.key, sys.stale(&model, node), |k| {
                    k.use_token(&t, IPS[ip], now)
                });
                prop_assert!(
                    allowed.contains(&got),
                    "{at}: node {node} answered {got:?} for a token; the database allows {allowed:?}"
                );
            }
            Op::Roll { key, grace_s, via } => {
                let key = key % keys;
                let id = model.now_state()[key].id.clone();
                let mut conn = sys.pool.get().unwrap();
                let rolled = latchkey::service::keys::roll(
                    &mut conn,
                    &sys.cli(),
                    &id,
                    Some(grace_s),
                    &Default::default(),
                    sys.now,
                );
                let mut next = model.now_state().clone();
                if next[key].revoked || next[key].parent.is_some() {
                    sys.forget(via, &id, &[]);
                    prop_assert!(
                        rolled.is_err(),
                        "{}: a revoked key or a session was rolled",
                        at
                    );
                    continue;
                }
                let rolled = rolled.unwrap();
                sys.forget(via, &id, &rolled.ended_sessions);
                let k = &mut next[key];
                k.secrets.push(rolled.secret.expose().to_owned());
                k.previous_until = (grace_s > 0).then(|| sys.now + Duration::seconds(grace_s));
                let ended = end_sessions(&mut next, key, sys.now);
                check_ended(&ended, &next, &rolled.ended_sessions, &at)?;
                model.write(next, key, &ended, via);
            }
            Op::EditScopes { key, scopes, via } => {
                let set = SCOPE_SETS[scopes];
                edit(
                    &sys,
                    &mut model,
                    key % keys,
                    json!({"scopes": set}),
                    via,
                    &at,
                    |k| {
                        k.scopes = set.iter().map(|s| s.to_string()).collect();
                    },
                )?;
            }
            Op::EditCidrs { key, cidrs, via } => {
                let set = CIDR_SETS[cidrs];
                edit(
                    &sys,
                    &mut model,
                    key % keys,
                    json!({"allowed_cidrs": set}),
                    via,
                    &at,
                    |k| {
                        k.cidrs = set.iter().map(|s| s.to_string()).collect();
                    },
                )?;
            }
            Op::Revoke { key, via } => {
                let key = key % keys;
                let id = model.now_state()[key].id.clone();
                let mut conn = sys.pool.get().unwrap();
                let revoked =
                    latchkey::service::keys::revoke(&mut conn, &sys.cli(), &id, sys.now).unwrap();
                sys.forget(via, &id, &revoked.ended_sessions);
                let mut next = model.now_state().clone();
                let ended = end_sessions(&mut next, key, sys.now);
                check_ended(&ended, &next, &revoked.ended_sessions, &at)?;
                if model.now_state()[key].revoked {
                    prop_assert!(ended.is_empty(), "{}: a revoked key had live sessions", at);
                    continue;
                }
                next[key].revoked = true;
                model.write(next, key, &ended, via);
            }
            Op::StartSession { parent } => {
                let parent = parent % keys;
                let p = model.now_state()[parent].clone();
                let actor = Actor {
                    key_id: Some(p.id.clone()),
                    scopes: p.scopes.iter().map(|s| Scope::parse(s).unwrap()).collect(),
                    ..sys.cli()
                };
                let mut conn = sys.pool.get().unwrap();
                let started = latchkey::service::keys::sessions::start(
                    &mut conn,
                    &actor,
                    Duration::hours(8),
                    &Default::default(),
                    sys.now,
                );
                if p.parent.is_some() || !p.live(sys.now) {
                    prop_assert!(
                        started.is_err(),
                        "{}: a session of a session or a dead key",
                        at
                    );
                    continue;
                }
                let started = started.unwrap();
                // Eight hours, never past the parent's expiry nor the end of a roll's grace
                // period in progress (the rolled-away secret may be what started it).
                let mut eight_hours = sys.now + Duration::hours(8);
                if let Some(grace) = p.previous_until.filter(|g| *g > sys.now) {
                    eight_hours = eight_hours.min(grace);
                }
                let mut next = model.now_state().clone();
                next.push(ModelKey {
                    id: started.key.id.clone(),
                    secrets: vec![started.secret.expose().to_owned()],
                    previous_until: None,
                    scopes: p.scopes.clone(),
                    cidrs: p.cidrs.clone(),
                    revoked: false,
                    expires_at: Some(p.expires_at.map_or(eight_hours, |e| e.min(eight_hours))),
                    parent: Some(parent),
                });
                model.history.push(next);
                let v = model.version();
                for floor in &mut model.floor {
                    floor.push(v);
                }
            }
            Op::Poll { node } => {
                let mut conn = sys.pool.get().unwrap();
                sys.nodes[node].key_cache().poll(&mut conn).unwrap();
                let v = model.version();
                for floor in model.floor[node].iter_mut() {
                    *floor = v;
                }
                model.polled_at_ms[node] = sys.ms.load(Ordering::Acquire);
            }
            Op::Step { ms } => {
                sys.now += Duration::milliseconds(ms);
                sys.ms
                    .fetch_add(u64::try_from(ms).unwrap(), Ordering::AcqRel);
            }
        }
    }
    Ok(())
}

/// A PATCH of key `key` made `via` a node or the CLI, and its effect on the model.
fn edit(
    sys: &System,
    model: &mut Model,
    key: usize,
    patch: Value,
    via: Via,
    at: &str,
    apply: impl FnOnce(&mut ModelKey),
) -> Result<(), TestCaseError> {
    let id = model.now_state()[key].id.clone();
    let patch = serde_json::from_value(patch).unwrap();
    let mut conn = sys.pool.get().unwrap();
    let updated =
        latchkey::service::keys::update(&mut conn, &sys.cli(), &id, &patch, false, sys.now);
    let mut next = model.now_state().clone();
    if next[key].revoked || next[key].parent.is_some() {
        sys.forget(via, &id, &[]);
        prop_assert!(
            updated.is_err(),
            "{}: a revoked key or a session was edited",
            at
        );
        return Ok(());
    }
    let updated = updated.unwrap();
    sys.forget(via, &id, &updated.ended_sessions);
    let before = next[key].clone();
    apply(&mut next[key]);
    // Only a change of what bounds a session ends it (the same set is no change).
    let changed = before.scopes != next[key].scopes || before.cidrs != next[key].cidrs;
    let ended = if changed {
        end_sessions(&mut next, key, sys.now)
    } else {
        Vec::new()
    };
    check_ended(&ended, &next, &updated.ended_sessions, at)?;
    model.write(next, key, &ended, via);
    Ok(())
}

#[test]
fn every_answer_is_the_databases_within_the_bound_sqlite() {
    proptest!(config(cases("LATCHKEY_MODEL_CASES", 256)), |(ops in proptest::collection::vec(op(), 1..60))| {
        run(None, &ops)?;
    });
}

#[test]
fn every_answer_is_the_databases_within_the_bound_postgres() {
    if postgres::server().is_none() {
        return;
    }
    proptest!(config(cases("LATCHKEY_MODEL_PG_CASES", 32)), |(ops in proptest::collection::vec(op(), 1..60))| {
        run(Some(postgres::fresh_database_url().unwrap()), &ops)?;
    });
}

/// The cascade as a fixed sequence: key 0 starts a session (key 2), which node 1 caches by
/// secret; key 0 is revoked by another process; after node 1's poll the session is refused.
/// Then key 1 starts one (key 3), node 0 revokes key 1 itself: refused on node 0 at once.
#[test]
fn a_session_ends_on_every_node_with_its_parent() {
    let use_session = |node, key| Op::UseSecret {
        node,
        key,
        secret: Some(0),
        ip: 0,
    };
    let ops = [
        Op::StartSession { parent: 0 },
        use_session(1, 2),
        Op::Revoke {
            key: 0,
            via: Via::Cli,
        },
        use_session(1, 2),
        Op::Poll { node: 1 },
        use_session(1, 2),
        Op::StartSession { parent: 1 },
        use_session(0, 3),
        Op::Revoke {
            key: 1,
            via: Via::Node(0),
        },
        use_session(0, 3),
        Op::StartSession { parent: 3 },
        Op::EditScopes {
            key: 3,
            scopes: 0,
            via: Via::Node(1),
        },
    ];
    run(None, &ops).unwrap();
}

/// The repro of the first finding, as a fixed sequence: the old secret, cached on node B; a
/// roll by another process; the new secret used on B before B's poll; then the poll and a
/// revocation. Under the old cache the old secret authenticated on B forever.
#[test]
fn the_rolled_away_secret_does_not_outlive_the_poll() {
    let ops = [
        Op::UseSecret {
            node: 1,
            key: 0,
            secret: Some(0),
            ip: 0,
        },
        Op::Roll {
            key: 0,
            grace_s: 0,
            via: Via::Cli,
        },
        Op::UseSecret {
            node: 1,
            key: 0,
            secret: Some(1),
            ip: 0,
        },
        Op::Poll { node: 1 },
        Op::UseSecret {
            node: 1,
            key: 0,
            secret: Some(0),
            ip: 0,
        },
        Op::Revoke {
            key: 0,
            via: Via::Cli,
        },
        Op::Poll { node: 1 },
        Op::UseSecret {
            node: 1,
            key: 0,
            secret: Some(0),
            ip: 0,
        },
        Op::UseSecret {
            node: 1,
            key: 0,
            secret: Some(1),
            ip: 0,
        },
    ];
    run(None, &ops).unwrap();
}
