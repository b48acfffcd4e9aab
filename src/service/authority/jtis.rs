//! The `jti`s of client assertions, recorded once for every node (`store::assertions`) with
//! their writes grouped: each accepted assertion needs one row written before its token is
//! issued, and one write transaction per request made writers queue (2,500 tokens/s on SQLite,
//! docs/performance.md). Requests hand their `jti` to one writer thread and wait for its answer;
//! the writer takes every `jti` waiting, inserts them all in one transaction and answers each:
//! recorded now, or already there (a replay, also within the same batch). Nothing is answered
//! before its transaction committed, so a replay is refused exactly as with one write each.
//!
//! Without a writer (an authority that does not follow the database, as in some tests), the
//! request writes its row itself.

use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Mutex, OnceLock};

use chrono::{DateTime, Utc};

use crate::service::ServiceResult;
use crate::store::{self, DbConnection, Pool, StoreError};

/// Most `jti`s written in one transaction.
const BATCH: usize = 512;

type Answer = SyncSender<Result<bool, String>>;

struct Pending {
    client_id: String,
    jti: String,
    expires_at: DateTime<Utc>,
    answer: Answer,
}

#[derive(Default)]
pub struct Jtis {
    writer: OnceLock<Mutex<Sender<Pending>>>,
}

impl Jtis {
    /// Starts the writer on its own connection from `pool` (once).
    pub fn start(&self, pool: Pool) {
        let (send, receive) = mpsc::channel();
        if self.writer.set(Mutex::new(send)).is_err() {
            return;
        }
        // Its connection is taken now, while the pool is idle: later, requests waiting for the
        // writer hold theirs, and it could queue behind them. Not from a pool of one or two,
        // which it would leave (nearly) empty for everything else: there it checks one out per
        // batch, and requests fall back to writing their own row when it cannot.
        let own = (pool.max_size() > 2).then(|| pool.get().ok()).flatten();
        let spawned = std::thread::Builder::new()
            .name("assertion-jtis".into())
            .spawn(move || write_batches(&receive, &pool, own));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the assertion jti writer; requests write their own");
        }
    }

    /// Records `jti` of `client_id` until `expires_at`: `true` the first time, `false` for a
    /// replay. Through the writer when there is one (the calling thread waits for its commit),
    /// else on `conn`.
    pub fn remember(
        &self,
        conn: &mut DbConnection,
        client_id: &str,
        jti: &str,
        expires_at: DateTime<Utc>,
    ) -> ServiceResult<bool> {
        let Some(writer) = self.writer.get() else {
            return Ok(store::assertions::remember(
                conn, client_id, jti, expires_at,
            )?);
        };
        let (answer, receive) = mpsc::sync_channel(1);
        let pending = Pending {
            client_id: client_id.to_owned(),
            jti: jti.to_owned(),
            expires_at,
            answer,
        };
        let sent = writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .send(pending);
        if sent.is_err() {
            // The writer is gone (it never stops while the authority lives): write here.
            return Ok(store::assertions::remember(
                conn, client_id, jti, expires_at,
            )?);
        }
        match receive.recv() {
            Ok(Ok(first)) => Ok(first),
            // The batch rolled back (nothing of it recorded) or the writer is gone: this request
            // writes its own row, and meets the database's own error if there is one.
            Ok(Err(_)) | Err(_) => Ok(store::assertions::remember(
                conn, client_id, jti, expires_at,
            )?),
        }
    }
}

/// The writer: one transaction per batch of whatever is waiting, until every sender is gone. It
/// keeps one pooled connection for itself (requests wait for it while holding theirs, so it must
/// not have to queue for one), and takes a new one after a failure.
fn write_batches(
    receive: &Receiver<Pending>,
    pool: &Pool,
    mut own: Option<crate::store::PooledConn>,
) {
    while let Ok(first) = receive.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match receive.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let outcome = match own
            .take()
            .map_or_else(|| pool.get().map_err(StoreError::from), Ok)
        {
            Ok(mut conn) => {
                let written = record(&mut conn, &batch);
                if written.is_ok() {
                    own = Some(conn);
                }
                written
            }
            Err(e) => Err(e),
        };
        match outcome {
            Ok(firsts) => {
                for (pending, first) in batch.into_iter().zip(firsts) {
                    let _ = pending.answer.send(Ok(first));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "recording client assertion jtis failed; requests write their own");
                for pending in batch {
                    let _ = pending.answer.send(Err(e.to_string()));
                }
            }
        }
    }
}

/// One transaction for the whole batch; whether each `jti` was new.
fn record(conn: &mut DbConnection, batch: &[Pending]) -> Result<Vec<bool>, StoreError> {
    store::write_tx(conn, |conn| {
        batch
            .iter()
            .map(|p| store::assertions::remember(conn, &p.client_id, &p.jti, p.expires_at))
            .collect()
    })
}
