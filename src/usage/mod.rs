//! Usage metering off the hot path, in one place: requests add to in-memory counters (sharded
//! by key, [`UsageRecorder`]); a background job flushes them to the database in one batched
//! upsert per interval, and [`flush_at_shutdown`] once more when the server stops; another job
//! rolls old hourly rows up into days. A failed flush puts the counts back, so an unavailable
//! database delays them but does not lose them.
//!
//! Dependencies point one way: `domain::usage` (what is counted, the [`Batch`] of counts) ←
//! `store::usage` (the SQL) ← this module (the counters and their jobs) ← the services that
//! record (`service::authority`) and the server that starts the jobs (`startup`). Reports are
//! read by `service::usage`, from the store, and never touch the counters.
//!
//! [`Batch`]: crate::domain::usage::Batch

mod jobs;
mod recorder;

pub use jobs::{flush_at_shutdown, spawn_flusher, spawn_retention};
pub use recorder::UsageRecorder;
