//! The verifier against a real Latchkey server, started in-process on SQLite in a tempdir (as
//! the server's own `tests/api/helpers.rs` does), one server per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;
mod jwks_cache;
mod middleware;
mod online;
mod scopes;
mod tokens;
