//! Latchkey's pure rules, one copy shared by the server (`latchkey`) and the resource-server
//! SDK: no I/O, no clock of its own (callers pass the time), no HTTP or database types.
//!
//! - [`scope`]: actions, resource filters and scopes (`read:projects/**`), what a scope
//!   allows, and when one covers another (the no-escalation rule).
//!
//! ```
//! use latchkey_rules::scope::{Action, parse_scope_list};
//!
//! let scopes = parse_scope_list("read:projects/** write:projects/42")?;
//! assert!(scopes.iter().any(|s| s.allows(Action::Write, "projects/42")));
//! # Ok::<(), String>(())
//! ```
//!
//! # Features
//!
//! None is on by default; without them the crate has no dependency.
//!
//! | feature | adds | for |
//! |---|---|---|
//! | `serde` | `Serialize`/`Deserialize` of [`scope::Action`] and [`scope::ResourceFilter`] in their wire forms | JSON bodies |
//! | `schema` | `utoipa::ToSchema` for [`scope::Action`] (implies `serde`) | the server's OpenAPI document |

pub mod scope;
