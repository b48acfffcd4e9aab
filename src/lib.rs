//! Latchkey: API keys that are also OAuth 2.0 clients.
//!
//! Layers, each depending only on those below it: `http` and `cli` (adapters) → `service` (use
//! cases) → `store` (the only diesel code) and `crypto`; `domain` holds the pure rules.
//! `usage` (the in-memory usage counters) sits between `store` and `service`; `background` runs
//! the periodic jobs of any of them and depends on none.

pub mod background;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod http;
pub mod outbound;
pub mod service;
pub mod startup;
pub mod store;
pub mod usage;
