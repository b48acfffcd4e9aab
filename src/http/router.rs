//! The route table. Every endpoint is added through the `__path_…` item that its
//! `#[utoipa::path]` attribute generates: the path, the methods and the OpenAPI operation all
//! come from that one attribute, so the routing and the document (`GET /v1/openapi.json`) are
//! two readings of the same table and cannot disagree.
//!
//! NEVER register an actix route anywhere else: it would be served but undocumented.
//! tests/api/openapi.rs fails when a source file outside this one registers a route.
//!
//! The one exception to "every route is documented" is also made here, so that it stays
//! visible and bounded: `Router::static_file` serves the web console's files (HTML, CSS,
//! JavaScript), which are not API operations and have no place in the OpenAPI document. They
//! answer GET and HEAD only, take no input, and must lie under `STATIC_PREFIX`; the test checks
//! that the server routes exactly the documented operations plus these.
//!
//! An issuer with a path (`--issuer https://host/tenant`) has every route served twice: at the
//! root, as documented, and under the path (`Router::under`), so that the URLs the metadata
//! advertises work without a proxy rewriting them. The copies are made here too, from the same
//! `add` and `static_file` calls, so they cannot drift from the originals: same handler, same
//! methods, same 405 and `Allow`, a metrics label of their own (the pattern under the path), and
//! no entry in the OpenAPI document, which keeps describing the root once.

use actix_web::http::Method;
use actix_web::http::header::{ALLOW, HeaderValue};
use actix_web::{FromRequest, Handler, HttpResponse, Responder, Route, web};
use utoipa::openapi::path::{HttpMethod, Paths};
use utoipa::openapi::{RefOr, Schema};

/// The answer for a known path asked with a method it does not serve. The router adds the
/// `Allow` header (RFC 9110 §15.5.6) from the methods registered on the path.
pub type Fallback = fn() -> HttpResponse;

/// Which resource of the route table served a request: `Router::register` attaches it to each
/// resource as app data, so a middleware (the metrics' `track`) finds the route pattern without
/// matching the path again (what `match_pattern()` does) or allocating a label. It is the index
/// of the resource's path in `Router::resource_paths`.
#[derive(Debug, Clone, Copy)]
pub struct RouteId(pub usize);

/// Where the undocumented static files live (`Router::static_file`): the web console.
pub const STATIC_PREFIX: &str = "/console";

/// What a resource of the table is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An operation of the OpenAPI document.
    Documented,
    /// A file of the web console (`Router::static_file`), left out of the document.
    Static,
    /// A copy of either under the issuer's path (`Router::under`), or the metadata at its RFC
    /// 8414 §3.1 path-insertion URL (`Section::add_well_known`); left out of the document.
    Alias,
}

/// One actix resource: a path, its routes, and the 405 answer for any other method.
struct Resource {
    path: String,
    fallback: Fallback,
    methods: Vec<Method>,
    routes: Vec<Route>,
    kind: Kind,
}

/// A named schema that an operation refers to (`#/components/schemas/{name}`).
pub type NamedSchema = (String, RefOr<Schema>);

/// Every route of the service and its OpenAPI operation, collected together.
#[derive(Default)]
pub struct Router {
    resources: Vec<Resource>,
    paths: Paths,
    schemas: Vec<NamedSchema>,
    /// The issuer's path every route is also served under: `""` for none, else `/a/b`.
    mount: String,
}

impl Router {
    /// A table that also serves every route it is given under `mount`, the issuer's path
    /// (`domain::issuer::Issuer::path`: `""` for none, else `/a/b` of literal segments, never
    /// `/.well-known/…`).
    pub fn under(mount: &str) -> Self {
        debug_assert!(
            mount.is_empty() || (mount.starts_with('/') && !mount.ends_with('/')),
            "mount {mount:?}"
        );
        Router {
            mount: mount.to_owned(),
            ..Router::default()
        }
    }

    /// Routes added through the section answer other methods on their paths with `fallback`.
    pub fn section(&mut self, fallback: Fallback) -> Section<'_> {
        Section {
            router: self,
            fallback,
        }
    }

    /// The OpenAPI paths object of every route added so far.
    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// The schemas the operations refer to (with duplicates).
    pub fn schemas(&self) -> &[NamedSchema] {
        &self.schemas
    }

    /// Every documented `(path, method)` served, in registration order: exactly the
    /// operations of the OpenAPI document.
    pub fn routes(&self) -> impl Iterator<Item = (&str, &Method)> {
        self.of_kind(Kind::Documented)
    }

    /// Every `(path, method)` of the static files (`static_file`), in registration order.
    pub fn static_routes(&self) -> impl Iterator<Item = (&str, &Method)> {
        self.of_kind(Kind::Static)
    }

    /// Every `(path, method)` served besides those two: the copies under the issuer's path and
    /// the metadata's path-insertion URLs. Empty for an issuer without a path.
    pub fn alias_routes(&self) -> impl Iterator<Item = (&str, &Method)> {
        self.of_kind(Kind::Alias)
    }

    fn of_kind(&self, kind: Kind) -> impl Iterator<Item = (&str, &Method)> {
        self.resources
            .iter()
            .filter(move |r| r.kind == kind)
            .flat_map(|r| r.methods.iter().map(move |m| (r.path.as_str(), m)))
    }

    /// Adds `handler` for `methods` at `path` as a resource of `kind`, or to the resource of
    /// that kind already there.
    ///
    /// # Panics
    /// When `path` is already routed as another kind, or the method twice: programming errors
    /// (or an issuer path that makes a copy land on an original, which `Issuer::parse` rules
    /// out for today's routes) that every test run hits at startup.
    fn route<F, Args>(
        &mut self,
        kind: Kind,
        path: String,
        fallback: Fallback,
        methods: &[Method],
        handler: &F,
    ) where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let index = match self.resources.iter().position(|r| r.path == path) {
            Some(i) => i,
            None => {
                self.resources.push(Resource {
                    path: path.clone(),
                    fallback,
                    methods: Vec::new(),
                    routes: Vec::new(),
                    kind,
                });
                self.resources.len() - 1
            }
        };
        let resource = &mut self.resources[index];
        assert!(
            resource.kind == kind,
            "{path} is routed as {:?} and as {kind:?}",
            resource.kind
        );
        for method in methods {
            assert!(
                !resource.methods.contains(method),
                "{method} {path} is registered twice"
            );
            resource
                .routes
                .push(web::method(method.clone()).to(handler.clone()));
            resource.methods.push(method.clone());
        }
    }

    /// The copy of `path`'s route under the issuer's path, when there is one.
    fn route_under_mount<F, Args>(
        &mut self,
        path: &str,
        fallback: Fallback,
        methods: &[Method],
        handler: &F,
    ) where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        if !self.mount.is_empty() {
            let under = format!("{}{path}", self.mount);
            self.route(Kind::Alias, under, fallback, methods, handler);
        }
    }

    /// Serves a static file that is not part of the API (the web console's pages, scripts and
    /// styles) at `path`, for GET and HEAD, and leaves it out of the OpenAPI document; other
    /// methods get `fallback` with `Allow`. The handler must not read a body, a query or a
    /// path parameter: this door is for fixed files only, which is why it is not documented.
    /// Under an issuer path the file is served there too: the console calls the API relative
    /// to its own URL, so under the path it uses the API under the path.
    ///
    /// # Panics
    /// When `path` is not `STATIC_PREFIX` or below it, or is already routed: both are
    /// programming errors that every test run hits at startup.
    pub fn static_file<F, Args>(&mut self, path: &str, fallback: Fallback, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let below = path
            .strip_prefix(STATIC_PREFIX)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
        assert!(
            below && !path.contains('{'),
            "static file {path} is not a fixed path under {STATIC_PREFIX}"
        );
        assert!(
            self.resources.iter().all(|r| r.path != path),
            "{path} is routed twice"
        );
        let methods = [Method::GET, Method::HEAD];
        self.route(Kind::Static, path.to_owned(), fallback, &methods, &handler);
        self.route_under_mount(path, fallback, &methods, &handler);
        self
    }

    /// Every path served, documented or static, in registration order: the index of a path is
    /// the `RouteId` its resource carries (see `register`).
    pub fn resource_paths(&self) -> impl Iterator<Item = &str> {
        self.resources.iter().map(|r| r.path.as_str())
    }

    /// Hands the table to actix: one resource per path, with its fallback as default service and
    /// its `RouteId` (the metrics label) as app data.
    ///
    /// Fixed paths are registered before templates: actix tries resources in order and matches a
    /// template with a regex, so `/v1/check` would otherwise pay for trying `/v1/keys/{id}` and
    /// its siblings first (12 % of a `/v1/check`, bench/instructions.sh). A fixed path also
    /// wins over a template that matches it, as in most routers.
    pub fn register(self, cfg: &mut web::ServiceConfig) {
        let mut resources: Vec<_> = self.resources.into_iter().enumerate().collect();
        resources.sort_by_key(|(_, r)| r.path.contains('{'));
        for (id, r) in resources {
            let allow = r
                .methods
                .iter()
                .map(Method::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            let allow = HeaderValue::from_str(&allow).unwrap_or(HeaderValue::from_static(""));
            let fallback = r.fallback;
            let mut resource = web::resource(r.path).app_data(RouteId(id));
            for route in r.routes {
                resource = resource.route(route);
            }
            cfg.service(resource.default_service(web::to(move || {
                let allow = allow.clone();
                async move {
                    let mut response = fallback();
                    response.headers_mut().insert(ALLOW, allow);
                    response
                }
            })));
        }
    }
}

/// A group of routes sharing one fallback (the admin API's problem documents, or the OAuth
/// endpoints' RFC 6749 error object).
pub struct Section<'a> {
    router: &'a mut Router,
    fallback: Fallback,
}

impl Section<'_> {
    /// Serves `handler` at the path and methods of its `#[utoipa::path]` attribute and
    /// documents it with that attribute's operation and the schemas it refers to. `doc` is the
    /// `__path_<handler>` item the attribute generates beside the handler; only its type is used.
    ///
    /// `SchemaReferences` and `Tags` are utoipa's hidden traits for this, the ones its own
    /// actix-web and axum bindings use (on the same major version); they save a hand-kept list
    /// of schemas that could miss one.
    pub fn add<P, F, Args>(&mut self, _doc: P, handler: F) -> &mut Self
    where
        P: utoipa::Path + utoipa::__dev::SchemaReferences + utoipa::__dev::Tags<'static>,
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let path = P::path();
        let methods = P::methods();
        let actix_methods: Vec<Method> = methods.iter().map(actix_method).collect();
        let router = &mut *self.router;
        router.route(
            Kind::Documented,
            path.clone(),
            self.fallback,
            &actix_methods,
            &handler,
        );
        router.route_under_mount(&path, self.fallback, &actix_methods, &handler);
        let mut operation = P::operation();
        let tags = P::tags();
        if !tags.is_empty() {
            operation
                .tags
                .get_or_insert_with(Vec::new)
                .extend(tags.into_iter().map(str::to_owned));
        }
        self.router
            .paths
            .add_path_operation(&path, methods, operation);
        P::schemas(&mut self.router.schemas);
        self
    }
}

impl Section<'_> {
    /// `add` for a document clients locate from the issuer under `/.well-known/` (the
    /// authorization-server metadata). Under an issuer path it is served at three more URLs:
    /// the path-insertion one of RFC 8414 §3.1 (`/.well-known/{name}/a/b`, what OAuth clients
    /// ask), the appended one of OpenID Connect Discovery §4 (`/a/b/.well-known/{name}`, the
    /// copy every route gets), and both for either name, since clients of each kind try both.
    pub fn add_well_known<P, F, Args>(&mut self, doc: P, handler: F) -> &mut Self
    where
        P: utoipa::Path + utoipa::__dev::SchemaReferences + utoipa::__dev::Tags<'static>,
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let path = P::path();
        assert!(
            path.starts_with("/.well-known/"),
            "{path} is not well-known"
        );
        if !self.router.mount.is_empty() {
            let inserted = format!("{path}{}", self.router.mount);
            let methods: Vec<Method> = P::methods().iter().map(actix_method).collect();
            self.router
                .route(Kind::Alias, inserted, self.fallback, &methods, &handler);
        }
        self.add(doc, handler)
    }
}

fn actix_method(m: &HttpMethod) -> Method {
    match m {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Options => Method::OPTIONS,
        HttpMethod::Head => Method::HEAD,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Trace => Method::TRACE,
    }
}
