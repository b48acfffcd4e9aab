//! Write ordering under concurrency, at the store: what the caches and the edit checks rely on.
//! Each test holds one transaction open at a chosen point and shows that a second writer waits
//! for it (PostgreSQL through the locks taken for this; SQLite because writers are serialised).

use std::sync::mpsc;
use std::time::Duration;

use diesel::Connection;
use latchkey::store::{self, StoreError, change_log, keys};
use serde_json::json;

use crate::helpers::spawn_app;

/// How long the second writer must still be waiting: generous, since a wrongly unblocked writer
/// finishes in milliseconds.
const HELD: Duration = Duration::from_millis(300);

backend_tests! {
    /// Feed entries commit in sequence order: otherwise a follower could read 101 and 103,
    /// move past 102 before it commits, and never apply it.
    async fn change_feed_entries_commit_in_sequence_order(backend) {
        let app = spawn_app(backend).await;
        let now = chrono::Utc::now();
        let (appended_tx, appended) = mpsc::channel();
        let (commit_tx, commit) = mpsc::channel::<()>();
        let mut a = app.pool.get().unwrap();
        let first = std::thread::spawn(move || {
            a.transaction::<_, StoreError, _>(|c| {
                change_log::append(c, change_log::KIND_KEY, "first", now)?;
                appended_tx.send(()).unwrap();
                commit.recv().unwrap();
                Ok(())
            })
            .unwrap();
        });
        appended.recv().unwrap();
        let (done_tx, done) = mpsc::channel();
        let mut b = app.pool.get().unwrap();
        let second = std::thread::spawn(move || {
            b.transaction::<_, StoreError, _>(|c| {
                change_log::append(c, change_log::KIND_KEY, "second", now)
            })
            .unwrap();
            done_tx.send(()).unwrap();
        });
        assert!(
            done.recv_timeout(HELD).is_err(),
            "a second append committed while the first was still open"
        );
        commit_tx.send(()).unwrap();
        first.join().unwrap();
        second.join().unwrap();
        let mut conn = app.pool.get().unwrap();
        let subjects: Vec<String> = change_log::since(&mut conn, 0)
            .unwrap()
            .into_iter()
            .filter(|(_, _, s)| s == "first" || s == "second")
            .map(|(_, _, s)| s)
            .collect();
        assert_eq!(subjects, ["first", "second"], "sequence order = commit order");
    }

    /// Who may edit or roll a key is decided on the row `find_locked` returned: no other write
    /// to that key may land between the check and the write.
    async fn a_key_read_for_a_check_stays_as_read_until_the_write(backend) {
        let app = spawn_app(backend).await;
        let (id, _) = app.create_key("locked", json!(["read:*"])).await;
        let org = app.org_id();
        let (read_tx, read) = mpsc::channel();
        let (commit_tx, commit) = mpsc::channel::<()>();
        let mut a = app.pool.get().unwrap();
        let (org_a, id_a) = (org.clone(), id.clone());
        let checker = std::thread::spawn(move || {
            a.transaction::<_, StoreError, _>(|c| {
                let k = keys::find_locked(c, &org_a, &id_a)?.unwrap();
                read_tx.send(k).unwrap();
                commit.recv().unwrap();
                Ok(())
            })
            .unwrap();
        });
        let mut key = read.recv().unwrap();
        assert!(key.ip_rules.to_strings().is_empty());
        let (done_tx, done) = mpsc::channel();
        let mut b = app.pool.get().unwrap();
        let writer = std::thread::spawn(move || {
            key.ip_rules =
                latchkey::domain::ip_rules::IpRules::from_canonical(&["10.0.0.0/8".to_owned()])
                    .unwrap();
            store::write_tx(&mut b, |c| keys::update(c, &key, chrono::Utc::now())).unwrap();
            done_tx.send(()).unwrap();
        });
        assert!(
            done.recv_timeout(HELD).is_err(),
            "another write to the key landed while it was held for a check"
        );
        commit_tx.send(()).unwrap();
        checker.join().unwrap();
        writer.join().unwrap();
    }
}
