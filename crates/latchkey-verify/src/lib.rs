//! Verify Latchkey access tokens in your API.
//!
//! Latchkey issues RFC 9068 JWT access tokens (`typ: at+jwt`, EdDSA or the org's RS256/ES256).
//! A [`Verifier`] checks them locally in microseconds against the issuer's JWKS, fetched by
//! RFC 8414 discovery and cached under Latchkey's own cache policy
//! ([`latchkey_rules::jwks_cache`]: `max-age` clamped to 30 s–1 h, an unknown `kid` refetched
//! at most once a second, an hour of stale keys while Latchkey is down). Scopes are parsed
//! and matched by [`latchkey_rules::scope`], the code the server decides with, so
//! [`Claims::allows`] answers exactly as `POST /v1/check` would. The optional
//! [online mode](OnlineCheck) asks `/v1/check` too, for revocations that apply at once.
//!
//! A token verified once is remembered (by its SHA-256, a bounded number of them) until its
//! `exp`, as long as the key that verified it stays in the issuer's JWKS: a client's repeated
//! token costs microseconds, its first request one signature check.
//!
//! ```
//! use latchkey_verify::{Verifier, doc_example};
//! use latchkey_verify::scope::Action;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // In production: Verifier::builder(std::env::var("LATCHKEY_ISSUER")?).build()?
//! let verifier = Verifier::builder(doc_example::ISSUER)
//!     .static_jwks(doc_example::JWKS)
//!     .build()?;
//! let claims = verifier.verify(doc_example::TOKEN).await?;
//! assert!(claims.allows(Action::Write, "projects/42"));
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! | feature | adds |
//! |---|---|
//! | `axum` | `axum::VerifyLayer` (a tower `Layer`), the `Verified` extractor and `axum::require` |
//! | `actix` | `actix::VerifyToken` (a middleware), the `Verified` extractor and `actix::require` |
//!
//! Neither is on by default. Refusals follow RFC 6750 §3: `401` with
//! `WWW-Authenticate: Bearer error="invalid_token"`, `403` with `error="insufficient_scope"`
//! and the needed `scope`, `503` when no key set is usable.

#![forbid(unsafe_code)]

mod authorize;
#[cfg_attr(not(any(feature = "axum", feature = "actix")), allow(dead_code))]
mod bearer;
mod claims;
mod error;
mod fetch;
mod jwks;
mod keys;
mod require;
mod seen;
mod verified;
mod verifier;

#[cfg(feature = "actix")]
pub mod actix;
#[cfg(feature = "axum")]
pub mod axum;

#[doc(hidden)]
pub mod doc_example;

pub use authorize::{AuthzError, FailMode, OnlineCheck};
pub use claims::Claims;
pub use error::{BuildError, FetchError, VerifyError};
pub use latchkey_rules::jwks_cache::CachePolicy;
pub use require::Requirement;
pub use verified::Verified;
pub use verifier::{Verifier, VerifierBuilder};

/// Latchkey's scope grammar, re-exported from `latchkey-rules`: [`scope::Action`],
/// [`scope::Scope`], [`scope::parse_scope_list`], …
///
/// ```
/// use latchkey_verify::scope::{Action, Scope};
/// assert!(Scope::parse("read:projects/*")?.allows(Action::Read, "projects/1"));
/// # Ok::<(), String>(())
/// ```
pub mod scope {
    pub use latchkey_rules::scope::*;
}
