//! What the middleware leaves on a request once its token is verified, and the extractor that
//! hands the claims to handlers (implemented for axum and actix-web in their modules).

use std::sync::Arc;

use crate::Verifier;
use crate::claims::Claims;

/// The verified claims of the request's token: an extractor under the `axum` and `actix`
/// middleware (without the middleware: `500`).
///
/// ```
/// use std::sync::Arc;
/// use latchkey_verify::{Claims, Verified};
///
/// fn owner(Verified(claims): Verified) -> String {
///     claims.sub.clone()
/// }
/// # let _ = owner;
/// ```
#[derive(Debug, Clone)]
pub struct Verified(pub Arc<Claims>);

impl std::ops::Deref for Verified {
    type Target = Claims;
    fn deref(&self) -> &Claims {
        &self.0
    }
}

/// Left in the request's extensions by the verify middleware, for extractors and `require`.
#[derive(Clone)]
#[cfg_attr(not(any(feature = "axum", feature = "actix")), allow(dead_code))]
pub(crate) struct Authenticated {
    pub claims: Arc<Claims>,
    pub token: Arc<str>,
    pub verifier: Verifier,
}
