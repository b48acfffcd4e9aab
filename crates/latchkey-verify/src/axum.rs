//! axum 0.8 integration (feature `axum`): [`VerifyLayer`] verifies the Bearer token of every
//! request, [`Verified`](crate::Verified) extracts its claims, and [`require`] is a route layer that checks the
//! route's scope with the path parameters filled in.
//!
//! ```
//! use axum::{Router, routing::get};
//! use latchkey_verify::axum::{VerifyLayer, require};
//! use latchkey_verify::{Verified, Verifier, doc_example};
//!
//! async fn project(Verified(claims): Verified) -> String {
//!     format!("hello {}", claims.sub)
//! }
//!
//! let verifier = Verifier::builder(doc_example::ISSUER).static_jwks(doc_example::JWKS).build()?;
//! let app: Router = Router::new()
//!     .route("/projects/{id}", get(project).route_layer(require("read", "projects/{id}")))
//!     .layer(VerifyLayer::new(verifier));
//! # Ok::<(), latchkey_verify::BuildError>(())
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, RawPathParams};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderValue, Request, StatusCode, header};
use tower_layer::Layer;
use tower_service::Service;

use crate::Verifier;
use crate::bearer::{self, Refusal};
use crate::require::Requirement;
use crate::verified::{Authenticated, Verified};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A tower [`Layer`] that verifies `Authorization: Bearer` on every request: `401` (RFC 6750)
/// when missing or invalid, `503` when no key set is usable; else the claims go to
/// [`Verified`](crate::Verified) and [`require`].
///
/// ```
/// use latchkey_verify::axum::VerifyLayer;
/// use latchkey_verify::{Verifier, doc_example};
/// let layer = VerifyLayer::new(Verifier::builder(doc_example::ISSUER).static_jwks(doc_example::JWKS).build()?);
/// # Ok::<(), latchkey_verify::BuildError>(())
/// ```
#[derive(Clone, Debug)]
pub struct VerifyLayer {
    verifier: Verifier,
}

impl VerifyLayer {
    /// The layer for tokens `verifier` accepts.
    ///
    /// ```
    /// # use latchkey_verify::{Verifier, axum::VerifyLayer};
    /// let layer = VerifyLayer::new(Verifier::builder("https://auth.example.com").build()?);
    /// # Ok::<(), latchkey_verify::BuildError>(())
    /// ```
    pub fn new(verifier: Verifier) -> Self {
        VerifyLayer { verifier }
    }
}

impl<S> Layer<S> for VerifyLayer {
    type Service = VerifyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        VerifyService {
            inner,
            verifier: self.verifier.clone(),
        }
    }
}

/// The service [`VerifyLayer`] wraps around routes.
#[derive(Clone, Debug)]
pub struct VerifyService<S> {
    inner: S,
    verifier: Verifier,
}

impl<S> Service<Request<Body>> for VerifyService<S>
where
    S: Service<Request<Body>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        // The ready service goes with this call; its clone waits for the next poll_ready.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        Box::pin(async move {
            let authorization = request.headers().get(header::AUTHORIZATION);
            let token = match bearer::token(authorization.map(HeaderValue::as_bytes)) {
                Ok(token) => Arc::<str>::from(token),
                Err(refusal) => return Ok(render(&refusal)),
            };
            let claims = match verifier.verify(&token).await {
                Ok(claims) => Arc::new(claims),
                Err(e) => return Ok(render(&e.into())),
            };
            request.extensions_mut().insert(Authenticated {
                claims,
                token,
                verifier,
            });
            inner.call(request).await
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Verified {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        match parts.extensions.get::<Authenticated>() {
            Some(auth) => Ok(Verified(auth.claims.clone())),
            None => Err(render(&Refusal::Misconfigured)),
        }
    }
}

/// A route layer requiring `action` on `template` (`{name}` filled from the path parameter
/// `name`): `403 insufficient_scope` with the needed `scope` otherwise. Use with
/// `route_layer`, under a [`VerifyLayer`].
///
/// # Panics
///
/// When `action` or `template` does not parse: a route table bug, found at startup (use
/// [`Requirement::parse`] and [`RequireLayer::new`] to handle it instead).
///
/// ```
/// use latchkey_verify::axum::require;
/// let layer = require("write", "projects/{id}/files/{file}");
/// ```
#[allow(clippy::panic)]
pub fn require(action: &str, template: &str) -> RequireLayer {
    match Requirement::parse(action, template) {
        Ok(need) => RequireLayer::new(need),
        Err(e) => panic!("require({action:?}, {template:?}): {e}"),
    }
}

/// The layer [`require`] makes.
///
/// ```
/// use latchkey_verify::Requirement;
/// use latchkey_verify::axum::RequireLayer;
/// let layer = RequireLayer::new(Requirement::parse("read", "projects/{id}")?);
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Debug)]
pub struct RequireLayer {
    need: Arc<Requirement>,
}

impl RequireLayer {
    /// A layer requiring `need`.
    ///
    /// ```
    /// # use latchkey_verify::{Requirement, axum::RequireLayer};
    /// let layer = RequireLayer::new(Requirement::parse("admin", "settings")?);
    /// # Ok::<(), String>(())
    /// ```
    pub fn new(need: Requirement) -> Self {
        RequireLayer {
            need: Arc::new(need),
        }
    }
}

impl<S> Layer<S> for RequireLayer {
    type Service = RequireService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireService {
            inner,
            need: self.need.clone(),
        }
    }
}

/// The service [`RequireLayer`] wraps around a route.
#[derive(Clone, Debug)]
pub struct RequireService<S> {
    inner: S,
    need: Arc<Requirement>,
}

impl<S> Service<Request<Body>> for RequireService<S>
where
    S: Service<Request<Body>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let need = self.need.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let Some(auth) = parts.extensions.get::<Authenticated>().cloned() else {
                return Ok(render(&Refusal::Misconfigured));
            };
            let params = RawPathParams::from_request_parts(&mut parts, &())
                .await
                .ok();
            let resource = params.as_ref().and_then(|p| {
                need.resource(|name| p.iter().find(|(n, _)| *n == name).map(|(_, v)| v))
            });
            let Some(resource) = resource else {
                // No scope names a resource that is not one: nothing can allow it.
                return Ok(render(&Refusal::Forbidden("not a resource".into())));
            };
            let ip = parts
                .extensions
                .get::<ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip());
            let checked = auth
                .verifier
                .check(&auth.claims, &auth.token, need.action(), &resource, ip)
                .await;
            if let Err(e) = checked {
                return Ok(render(&e.into()));
            }
            inner.call(Request::from_parts(parts, body)).await
        })
    }
}

fn render(refusal: &Refusal) -> Response {
    let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::UNAUTHORIZED);
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        refusal.body(),
    )
        .into_response();
    if let Some(challenge) = refusal
        .challenge()
        .and_then(|c| HeaderValue::try_from(c).ok())
    {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, challenge);
    }
    response
}
