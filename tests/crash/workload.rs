//! The clients' workload and what they were told: each client owns the keys it creates and
//! records, per key, the last acknowledged state and the one change in flight at the kill.

use std::collections::BTreeMap;
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// Upper bound on one client's requests, should the kill never come.
pub const MAX_STEPS: usize = 5_000;

/// The parts of a key a change can touch, in a comparable form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyState {
    pub name: String,
    /// `action:resource`, sorted.
    pub scopes: Vec<String>,
    /// Canonical CIDRs, sorted.
    pub cidrs: Vec<String>,
    pub revoked: bool,
}

impl KeyState {
    /// From a key object of the API.
    pub fn of_json(key: &Value) -> Self {
        let mut scopes: Vec<String> = key["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                format!(
                    "{}:{}",
                    s["action"].as_str().unwrap(),
                    s["resource"].as_str().unwrap()
                )
            })
            .collect();
        scopes.sort();
        let mut cidrs: Vec<String> = key["allowed_cidrs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        cidrs.sort();
        let revoked = key["status"] == "revoked";
        assert_eq!(revoked, !key["revoked_at"].is_null(), "{key}");
        KeyState {
            name: key["name"].as_str().unwrap().to_owned(),
            scopes,
            cidrs,
            revoked,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Pending {
    Edit(KeyState),
    Revoke,
}

/// A key this client created.
#[derive(Debug)]
pub struct Owned {
    pub id: String,
    /// The create's number, in the key's names.
    pub n: usize,
    /// `None` for a key whose create was in flight at a kill (and was found after it).
    pub secret: Option<String>,
    /// The state of the last acknowledged change.
    pub acked: KeyState,
    pub acked_edits: usize,
    /// The change in flight when the server died (its answer never came).
    pub pending: Option<Pending>,
}

impl Owned {
    pub fn pending_state(&self) -> Option<KeyState> {
        match &self.pending {
            None => None,
            Some(Pending::Edit(s)) => Some(s.clone()),
            Some(Pending::Revoke) => Some(KeyState {
                revoked: true,
                ..self.acked.clone()
            }),
        }
    }
}

#[derive(Debug)]
pub struct ClientLog {
    pub c: usize,
    pub rng: Rng,
    pub keys: Vec<Owned>,
    /// A create in flight when the server died: the key must be absent or exactly this.
    pub lost_create: Option<(usize, KeyState)>,
    /// Creates attempted (so names are never reused).
    pub next_n: usize,
    pub creates: usize,
    pub edits: usize,
    pub revokes: usize,
    pub tokens: usize,
}

impl ClientLog {
    pub fn new(c: usize) -> Self {
        ClientLog {
            c,
            rng: Rng(0x9E37_79B9_7F4A_7C15 ^ ((c as u64 + 1) * 0x1000_0000_01B3)),
            keys: Vec::new(),
            lost_create: None,
            next_n: 0,
            creates: 0,
            edits: 0,
            revokes: 0,
            tokens: 0,
        }
    }

    pub fn in_flight(&self) -> usize {
        usize::from(self.lost_create.is_some())
            + self.keys.iter().filter(|k| k.pending.is_some()).count()
    }

    /// After a round's checks: what happened to the changes in flight is now known.
    pub fn settle(&mut self, found: &BTreeMap<String, KeyState>) -> usize {
        let mut applied = 0;
        for k in &mut self.keys {
            let Some(p) = k.pending.take() else { continue };
            if found[&k.id] != k.acked {
                applied += 1;
                k.acked = found[&k.id].clone();
                k.acked_edits += usize::from(matches!(p, Pending::Edit(_)));
            }
        }
        if let Some((n, want)) = self.lost_create.take()
            && let Some((id, _)) = found.iter().find(|(_, f)| **f == want)
        {
            applied += 1;
            self.keys.push(Owned {
                id: id.clone(),
                n,
                secret: None,
                acked: want,
                acked_edits: 0,
                pending: None,
            });
        }
        applied
    }
}

/// Tiny deterministic generator (xorshift64*): the same workload on every run.
#[derive(Debug)]
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}

pub fn scopes_for(rng: &mut Rng, c: usize, n: usize, version: usize) -> Vec<(String, String)> {
    let mut scopes = vec![("read".to_owned(), format!("projects/{c}/{n}/**"))];
    if rng.below(2) == 0 {
        scopes.push(("write".to_owned(), format!("projects/{c}/{n}/docs/*")));
    }
    if rng.below(3) == 0 {
        scopes.push(("admin".to_owned(), format!("keys/v{version}")));
    }
    scopes
}

pub fn cidrs_for(rng: &mut Rng, c: usize, n: usize, version: usize) -> Vec<String> {
    // Loopback always, so the test can ask for tokens with every key.
    let mut cidrs = vec!["127.0.0.1/32".to_owned()];
    cidrs.push(format!("10.{c}.{}.0/24", (n + version) % 256));
    if rng.below(2) == 0 {
        // Canonical already (no zero group to compress): answers echo it unchanged.
        cidrs.push(format!("2001:db8:{c:x}:{:x}::/64", version + 1));
    }
    cidrs
}

pub fn scope_json(scopes: &[(String, String)]) -> Value {
    Value::Array(
        scopes
            .iter()
            .map(|(a, r)| json!({"action": a, "resource": r}))
            .collect(),
    )
}

pub fn state_of(name: &str, scopes: &[(String, String)], cidrs: &[String]) -> KeyState {
    let mut s: Vec<String> = scopes.iter().map(|(a, r)| format!("{a}:{r}")).collect();
    s.sort();
    let mut c = cidrs.to_vec();
    c.sort();
    KeyState {
        name: name.to_owned(),
        scopes: s,
        cidrs: c,
        revoked: false,
    }
}

/// Shared between the clients: the count that triggers the kill, and the process to kill.
pub struct Burst {
    pub base: String,
    pub admin: String,
    pub http: reqwest::Client,
    pub acked: AtomicUsize,
    pub kill_after: usize,
    pub killed: AtomicBool,
    pub child: Arc<Mutex<Child>>,
}

impl Burst {
    /// One more acknowledged change; the one that reaches `kill_after` kills the server.
    pub fn acknowledged(&self) {
        if self.acked.fetch_add(1, Ordering::SeqCst) + 1 == self.kill_after {
            self.killed.store(true, Ordering::SeqCst);
            // `Child::kill` is SIGKILL.
            self.child.lock().unwrap().kill().unwrap();
        }
    }
}

pub enum Answer {
    /// 2xx and a complete JSON body.
    Acked(Value),
    /// No complete answer because the server is gone: the change may or may not have happened.
    Lost,
}

pub async fn call(
    burst: &Burst,
    req: reqwest::RequestBuilder,
    what: &str,
) -> Result<Answer, String> {
    let lost_or = |e: reqwest::Error| {
        if burst.killed.load(Ordering::SeqCst) {
            Ok(Answer::Lost)
        } else {
            Err(format!("{what}: {e} (before the kill)"))
        }
    };
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return lost_or(e),
    };
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        return Err(format!("{what}: {status} {body}"));
    }
    match resp.json::<Value>().await {
        Ok(v) => Ok(Answer::Acked(v)),
        Err(e) => lost_or(e),
    }
}

pub async fn client(burst: Arc<Burst>, mut log: ClientLog) -> Result<ClientLog, String> {
    let c = log.c;
    let base = burst.base.clone();
    for _ in 0..MAX_STEPS {
        let live: Vec<usize> = (0..log.keys.len())
            .filter(|&i| !log.keys[i].acked.revoked)
            .collect();
        let roll = log.rng.below(100);
        if live.is_empty() || roll < 40 {
            let n = log.next_n;
            log.next_n += 1;
            let name = format!("c{c}-k{n}");
            let scopes = scopes_for(&mut log.rng, c, n, 0);
            let cidrs = cidrs_for(&mut log.rng, c, n, 0);
            let want = state_of(&name, &scopes, &cidrs);
            let req = burst
                .http
                .post(format!("{base}/v1/keys"))
                .bearer_auth(&burst.admin)
                .json(
                    &json!({"name": name, "scopes": scope_json(&scopes), "allowed_cidrs": cidrs}),
                );
            match call(&burst, req, &format!("create {name}")).await? {
                Answer::Acked(v) => {
                    let got = KeyState::of_json(&v["key"]);
                    if got != want {
                        return Err(format!("create {name}: answered {got:?}, asked {want:?}"));
                    }
                    log.keys.push(Owned {
                        id: v["key"]["id"].as_str().unwrap().to_owned(),
                        n,
                        secret: Some(v["secret"].as_str().unwrap().to_owned()),
                        acked: got,
                        acked_edits: 0,
                        pending: None,
                    });
                    log.creates += 1;
                    burst.acknowledged();
                }
                Answer::Lost => {
                    log.lost_create = Some((n, want));
                    return Ok(log);
                }
            }
        } else if roll < 75 {
            let i = live[log.rng.below(live.len())];
            let version = log.keys[i].acked_edits + 1;
            let n = log.keys[i].n;
            let name = format!("c{c}-k{n}-e{version}");
            let mut body = json!({"name": name});
            let mut want = KeyState {
                name: name.clone(),
                ..log.keys[i].acked.clone()
            };
            // Each edit renames the key (so every version is distinct) and replaces the scopes,
            // the CIDRs or both.
            let what = log.rng.below(3);
            if what != 1 {
                let scopes = scopes_for(&mut log.rng, c, n, version);
                want.scopes = state_of("", &scopes, &[]).scopes;
                body["scopes"] = scope_json(&scopes);
            }
            if what != 0 {
                let cidrs = cidrs_for(&mut log.rng, c, n, version);
                want.cidrs = state_of("", &[], &cidrs).cidrs;
                body["allowed_cidrs"] = json!(cidrs);
            }
            let id = log.keys[i].id.clone();
            let req = burst
                .http
                .patch(format!("{base}/v1/keys/{id}"))
                .bearer_auth(&burst.admin)
                .json(&body);
            match call(&burst, req, &format!("edit {id}")).await? {
                Answer::Acked(v) => {
                    let got = KeyState::of_json(&v["key"]);
                    if got != want {
                        return Err(format!("edit {id}: answered {got:?}, asked {want:?}"));
                    }
                    let k = &mut log.keys[i];
                    k.acked = got;
                    k.acked_edits += 1;
                    log.edits += 1;
                    burst.acknowledged();
                }
                Answer::Lost => {
                    log.keys[i].pending = Some(Pending::Edit(want));
                    return Ok(log);
                }
            }
        } else if roll < 90 {
            let i = live[log.rng.below(live.len())];
            let id = log.keys[i].id.clone();
            let req = burst
                .http
                .delete(format!("{base}/v1/keys/{id}"))
                .bearer_auth(&burst.admin);
            match call(&burst, req, &format!("revoke {id}")).await? {
                Answer::Acked(v) => {
                    let got = KeyState::of_json(&v);
                    let want = KeyState {
                        revoked: true,
                        ..log.keys[i].acked.clone()
                    };
                    if got != want {
                        return Err(format!("revoke {id}: answered {got:?}, expected {want:?}"));
                    }
                    log.keys[i].acked = got;
                    log.revokes += 1;
                    burst.acknowledged();
                }
                Answer::Lost => {
                    log.keys[i].pending = Some(Pending::Revoke);
                    return Ok(log);
                }
            }
        } else {
            // A token now and then: usage counters to flush.
            let k = &log.keys[live[log.rng.below(live.len())]];
            let Some(secret) = &k.secret else { continue };
            let req = burst
                .http
                .post(format!("{base}/oauth/token"))
                .basic_auth(&k.id, Some(secret))
                .form(&[("grant_type", "client_credentials")]);
            match call(&burst, req, &format!("token for {}", k.id)).await? {
                Answer::Acked(_) => log.tokens += 1,
                Answer::Lost => return Ok(log),
            }
        }
    }
    Err(format!(
        "client {c}: {MAX_STEPS} requests and the server was never killed"
    ))
}
