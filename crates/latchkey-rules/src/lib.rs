//! Latchkey's pure rules, one copy shared by the server (`latchkey`) and the resource-server
//! SDK: no I/O, no clock of its own (callers pass the time), no HTTP or database types.
//!
//! - [`scope`]: actions, resource filters and scopes (`read:projects/**`), what a scope
//!   allows, and when one covers another (the no-escalation rule).
//! - [`secret`]: the API-key secret format (a prefix, `lk_` unless the deployment chose
//!   another, + 43 base62 characters + a base62 CRC32), parsed and checked without a lookup,
//!   and the rule a prefix follows.
//! - [`jwks_cache`]: when a cached key set (a JWKS) may be used and when it must be fetched
//!   again (`Cache-Control`, unknown `kid`s at most once a second, bounded stale-if-error).
//!
//! ```
//! use latchkey_rules::scope::{Action, parse_scope_list};
//! use latchkey_rules::secret::Secret;
//!
//! let scopes = parse_scope_list("read:projects/** write:projects/42")?;
//! assert!(scopes.iter().any(|s| s.allows(Action::Write, "projects/42")));
//! assert!(Secret::parse("lk_not-a-secret").is_err());
//! # Ok::<(), String>(())
//! ```
//!
//! # Features
//!
//! None is on by default; without them the crate depends on `crc32fast` alone.
//!
//! | feature | adds | for |
//! |---|---|---|
//! | `serde` | `Serialize`/`Deserialize` of [`scope::Action`] and [`scope::ResourceFilter`] in their wire forms | JSON bodies |
//! | `schema` | `utoipa::ToSchema` for [`scope::Action`] (implies `serde`) | the server's OpenAPI document |
//! | `generate` | `Secret::generate` and `Secret::generate_with` (`rand`) | the issuer |
//! | `digest` | `Secret::digest` and `SecretDigest`: SHA-256, constant-time comparison (`sha2`, `subtle`) | the issuer |

pub mod jwks_cache;
pub mod scope;
pub mod secret;
