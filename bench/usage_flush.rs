//! How long one usage flush of N distinct keys' counters takes (SQLite by default).
//!
//!   cargo run --release --example usage_flush            # 100,000 keys, temp SQLite file
//!   cargo run --release --example usage_flush -- 20000   # another key count
//!   DATABASE_URL=postgres://… cargo run --release --example usage_flush
//!
//! Prints the seeding time and the flush time; nothing here is a test, and no test depends on it.
//! `ONLY_COUNTS=1` flushes the counters without the last-use updates, to see the split.

use std::time::Instant;

use latchkey::crypto::MasterKey;
use latchkey::domain::ip_rules::IpRules;
use latchkey::domain::key::{KeyAttributes, ValidKey};
use latchkey::domain::scope::Scope;
use latchkey::domain::usage::{TokenAuth, UsageEvent};
use latchkey::service::{self, orgs};
use latchkey::store::{self, DbConnection, PoolOptions};
use latchkey::usage::UsageRecorder;

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(100_000);
    let dir = tempfile::tempdir()?;
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("flush.db").display()));
    let pool = store::connect(&url, &PoolOptions::default())?;
    store::migrate(&pool)?;
    let mut conn = pool.get()?;
    let now = service::now();
    orgs::create(&mut conn, "bench", now)?;
    let boot = orgs::bootstrap(
        &mut conn,
        &MasterKey::generate(),
        "bench",
        &Default::default(),
        now,
    )?;

    let seeding = Instant::now();
    let ids = seed_keys(&mut conn, &boot.org.id, n)?;
    println!("seeded {n} keys in {:.2?}", seeding.elapsed());

    let recorder = UsageRecorder::default();
    let ip = "10.0.0.1".parse().ok();
    for id in &ids {
        recorder.record(
            id,
            UsageEvent::TokenIssued(TokenAuth::ClientSecret),
            now,
            ip,
        );
        recorder.record(id, UsageEvent::Request, now, ip);
    }
    if std::env::var("ONLY_COUNTS").is_ok() {
        let mut b = recorder.take();
        b.last_used.clear();
        let flush = Instant::now();
        latchkey::store::usage::flush(&mut *pool.get()?, &b)?;
        println!("counts only: {:.2?}", flush.elapsed());
        return Ok(());
    }
    let flush = Instant::now();
    let rows = recorder.flush(&pool)?;
    println!(
        "flushed {rows} key-hour counters (and {n} last-use updates) in {:.2?}",
        flush.elapsed()
    );
    Ok(())
}

/// Keys inserted straight through the store in one transaction (the service path would hash
/// 100k fresh secrets for nothing the flush measures).
fn seed_keys(conn: &mut DbConnection, org_id: &str, n: usize) -> anyhow::Result<Vec<String>> {
    let now = service::now();
    let ids: Vec<String> = (0..n).map(|i| format!("key_bench{i:016}")).collect();
    let read_all = vec![Scope::parse("read:*").map_err(anyhow::Error::msg)?];
    store::write_tx(conn, |conn| {
        for (i, id) in ids.iter().enumerate() {
            let key = ValidKey {
                name: id.clone(),
                scopes: read_all.clone(),
                ip_rules: IpRules::default(),
                expires_at: None,
                attributes: KeyAttributes::default(),
            }
            .into_key(id.clone(), org_id, "lk_…bnch".into(), now);
            store::keys::insert(conn, &key, &sha_of(i), now)?;
        }
        Ok::<_, store::StoreError>(())
    })?;
    Ok(ids)
}

fn sha_of(i: usize) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(i.to_le_bytes()).to_vec()
}
