//! actix-web 4 integration (feature `actix`): [`VerifyToken`] verifies the Bearer token of
//! every request, [`Verified`](crate::Verified) extracts its claims, and [`require`] wraps a
//! resource to check its scope with the path parameters filled in.
//!
//! ```
//! use actix_web::{App, web};
//! use latchkey_verify::actix::{VerifyToken, require};
//! use latchkey_verify::{Verified, Verifier, doc_example};
//!
//! async fn project(Verified(claims): Verified) -> String {
//!     format!("hello {}", claims.sub)
//! }
//!
//! let verifier = Verifier::builder(doc_example::ISSUER).static_jwks(doc_example::JWKS).build()?;
//! let app = App::new().wrap(VerifyToken::new(verifier)).service(
//!     web::resource("/projects/{id}")
//!         .wrap(require("read", "projects/{id}"))
//!         .route(web::get().to(project)),
//! );
//! # Ok::<(), latchkey_verify::BuildError>(())
//! ```

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{Error, FromRequest, HttpMessage, HttpRequest, HttpResponse};

use crate::Verifier;
use crate::bearer::{self, Refusal};
use crate::require::Requirement;
use crate::verified::{Authenticated, Verified};

type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// A middleware that verifies `Authorization: Bearer` on every request it wraps: `401`
/// (RFC 6750) when missing or invalid, `503` when no key set is usable; else the claims go to
/// [`Verified`](crate::Verified) and [`require`].
///
/// ```
/// use latchkey_verify::actix::VerifyToken;
/// use latchkey_verify::{Verifier, doc_example};
/// let middleware = VerifyToken::new(Verifier::builder(doc_example::ISSUER).static_jwks(doc_example::JWKS).build()?);
/// # Ok::<(), latchkey_verify::BuildError>(())
/// ```
#[derive(Clone, Debug)]
pub struct VerifyToken {
    verifier: Verifier,
}

impl VerifyToken {
    /// The middleware for tokens `verifier` accepts.
    ///
    /// ```
    /// # use latchkey_verify::{Verifier, actix::VerifyToken};
    /// let middleware = VerifyToken::new(Verifier::builder("https://auth.example.com").build()?);
    /// # Ok::<(), latchkey_verify::BuildError>(())
    /// ```
    pub fn new(verifier: Verifier) -> Self {
        VerifyToken { verifier }
    }
}

impl<S, B> Transform<S, ServiceRequest> for VerifyToken
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = VerifyTokenService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(VerifyTokenService {
            service: Rc::new(service),
            verifier: self.verifier.clone(),
        }))
    }
}

/// The service [`VerifyToken`] wraps around an app, scope or resource.
pub struct VerifyTokenService<S> {
    service: Rc<S>,
    verifier: Verifier,
}

impl<S, B> Service<ServiceRequest> for VerifyTokenService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<Result<Self::Response, Error>>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let service = self.service.clone();
        let verifier = self.verifier.clone();
        Box::pin(async move {
            let authorization = request.headers().get(header::AUTHORIZATION);
            let token = match bearer::token(authorization.map(|v| v.as_bytes())) {
                Ok(token) => Arc::<str>::from(token),
                Err(refusal) => return Ok(refuse(request, &refusal)),
            };
            let claims = match verifier.verify(&token).await {
                Ok(claims) => Arc::new(claims),
                Err(e) => return Ok(refuse(request, &e.into())),
            };
            request.extensions_mut().insert(Authenticated {
                claims,
                token,
                verifier,
            });
            service
                .call(request)
                .await
                .map(ServiceResponse::map_into_left_body)
        })
    }
}

impl FromRequest for Verified {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match request.extensions().get::<Authenticated>() {
            Some(auth) => Ok(Verified(auth.claims.clone())),
            None => Err(actix_web::error::InternalError::from_response(
                "no VerifyToken middleware",
                render(&Refusal::Misconfigured),
            )
            .into()),
        })
    }
}

/// A middleware requiring `action` on `template` (`{name}` filled from the path parameter
/// `name`): `403 insufficient_scope` with the needed `scope` otherwise. Wrap a resource (or a
/// scope whose path holds the parameters), under [`VerifyToken`].
///
/// # Panics
///
/// When `action` or `template` does not parse: a route table bug, found at startup (use
/// [`Requirement::parse`] and [`Require::new`] to handle it instead).
///
/// ```
/// use latchkey_verify::actix::require;
/// let middleware = require("write", "projects/{id}/files/{file}");
/// ```
#[allow(clippy::panic)]
pub fn require(action: &str, template: &str) -> Require {
    match Requirement::parse(action, template) {
        Ok(need) => Require::new(need),
        Err(e) => panic!("require({action:?}, {template:?}): {e}"),
    }
}

/// The middleware [`require`] makes.
///
/// ```
/// use latchkey_verify::Requirement;
/// use latchkey_verify::actix::Require;
/// let middleware = Require::new(Requirement::parse("read", "projects/{id}")?);
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Debug)]
pub struct Require {
    need: Rc<Requirement>,
}

impl Require {
    /// A middleware requiring `need`.
    ///
    /// ```
    /// # use latchkey_verify::{Requirement, actix::Require};
    /// let middleware = Require::new(Requirement::parse("admin", "settings")?);
    /// # Ok::<(), String>(())
    /// ```
    pub fn new(need: Requirement) -> Self {
        Require {
            need: Rc::new(need),
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for Require
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = RequireService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequireService {
            service: Rc::new(service),
            need: self.need.clone(),
        }))
    }
}

/// The service [`Require`] wraps around a resource.
pub struct RequireService<S> {
    service: Rc<S>,
    need: Rc<Requirement>,
}

impl<S, B> Service<ServiceRequest> for RequireService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<Result<Self::Response, Error>>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let service = self.service.clone();
        let need = self.need.clone();
        Box::pin(async move {
            let Some(auth) = request.extensions().get::<Authenticated>().cloned() else {
                return Ok(refuse(request, &Refusal::Misconfigured));
            };
            let resource = need.resource(|name| request.match_info().get(name));
            let Some(resource) = resource else {
                return Ok(refuse(
                    request,
                    &Refusal::Forbidden("not a resource".into()),
                ));
            };
            let ip = request.peer_addr().map(|a| a.ip());
            let checked = auth
                .verifier
                .check(&auth.claims, &auth.token, need.action(), &resource, ip)
                .await;
            if let Err(e) = checked {
                return Ok(refuse(request, &e.into()));
            }
            service
                .call(request)
                .await
                .map(ServiceResponse::map_into_left_body)
        })
    }
}

fn refuse<B>(request: ServiceRequest, refusal: &Refusal) -> ServiceResponse<EitherBody<B>> {
    request.into_response(render(refusal)).map_into_right_body()
}

fn render(refusal: &Refusal) -> HttpResponse {
    let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::UNAUTHORIZED);
    let mut response = HttpResponse::build(status);
    response.content_type("application/json");
    if let Some(challenge) = refusal.challenge() {
        response.insert_header((header::WWW_AUTHENTICATE, challenge));
    }
    response.body(refusal.body())
}
