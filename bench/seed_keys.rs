//! Adds N keys to an org, straight through the store, for the large-table benchmark (issue:
//! token throughput with 1,000,000 keys within 10 % of the 1-key case).
//!
//!   DATABASE_URL=sqlite://… cargo run --release --example seed_keys -- 1000000 bench
//!
//! The keys are real rows (random SHA-256 digests, `read:*`, 1 % with allowed CIDRs), so the
//! secret-digest index is as deep as in production; nobody knows their secrets, so they only
//! weigh on the table and its indexes. Batches of 50,000 per write transaction.

use std::time::Instant;

use latchkey::domain::ip_rules::IpRules;
use latchkey::domain::key::{KeyAttributes, ValidKey};
use latchkey::domain::scope::Scope;
use latchkey::service;
use latchkey::store::{self, PoolOptions};
use rand::RngExt;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let slug = args.next().unwrap_or_else(|| "bench".into());
    let url = std::env::var("DATABASE_URL")?;
    let pool = store::connect(&url, &PoolOptions::default())?;
    store::migrate(&pool)?;
    let mut conn = pool.get()?;
    let org = store::orgs::find_by_slug(&mut conn, &slug)?
        .ok_or_else(|| anyhow::anyhow!("no org {slug:?}: create and bootstrap it first"))?;
    let now = service::now();
    let started = Instant::now();
    let mut rng = rand::rng();
    let mut done = 0;
    let read_all = vec![Scope::parse("read:*").map_err(anyhow::Error::msg)?];
    while done < n {
        let batch = (n - done).min(50_000);
        store::write_tx(&mut conn, |conn| {
            for i in done..done + batch {
                let id = format!("key_seed{i:016}");
                let digest: [u8; 32] = rng.random();
                let cidrs: Vec<String> = if i % 100 == 0 {
                    vec!["10.0.0.0/8".into()]
                } else {
                    vec![]
                };
                let key = ValidKey {
                    name: id.clone(),
                    scopes: read_all.clone(),
                    ip_rules: IpRules::from_canonical(&cidrs)
                        .map_err(store::StoreError::Corrupt)?,
                    expires_at: None,
                    attributes: KeyAttributes::default(),
                }
                .into_key(id, &org.id, "lk_…seed".into(), now);
                store::keys::insert(conn, &key, &digest, now)?;
            }
            Ok::<_, store::StoreError>(())
        })?;
        done += batch;
        eprintln!("{done} keys ({:.1?})", started.elapsed());
    }
    println!(
        "seeded {n} keys into org {slug} in {:.2?}",
        started.elapsed()
    );
    Ok(())
}
