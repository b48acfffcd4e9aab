//! `GET /v1/openapi.json`: the OpenAPI 3.1 document of every route the server serves.
//!
//! It is assembled once at startup from the route table (`router.rs`), which is also what actix
//! routes: paths, methods, parameters, bodies and responses all come from the handlers'
//! `#[utoipa::path]` attributes and the `ToSchema` types they name. What is fixed lives here:
//! `info`, the tags, the security schemes and the reusable error responses. There is no
//! `servers` entry: clients resolve paths against the URL they fetched the document from.

use actix_web::{HttpResponse, web};
use serde_json::json;
use utoipa::OpenApi;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayItems, ObjectBuilder, OneOfBuilder, SchemaType, Type,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, Ref, RefOr, Required, Schema};

use super::oauth_doc::{
    OAuthBadRequest, OAuthError, OAuthInvalidClient, OAuthPayloadTooLarge, OAuthServerError,
    OAuthTooManyRequests, OAuthUnavailable,
};
use super::problem::Problem;
use super::problem::responses::{
    BadRequest, Conflict, Forbidden, InternalError, NotFound, PayloadTooLarge, ServiceUnavailable,
    TooManyRequests, TooManySigningKeys, Unauthorized, ValidationFailed,
};
use super::router::Router;

pub fn routes(router: &mut Router) {
    router
        .section(super::ops::method_not_allowed)
        .add(__path_document_json, document_json);
}

/// The fixed part of the document; `document` adds the routes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Latchkey",
        version = env!("CARGO_PKG_VERSION"),
        description = "API keys that are also OAuth 2.0 clients. The admin API (`/v1`) takes \
`Authorization: Bearer <API-key secret or access token>` and needs `admin` (or `*`) over the \
resource path it touches (`keys`, `keys/{id}`, `signing-keys`); its errors are RFC 9457 problem \
documents. The OAuth endpoints (`/oauth/…`) take form bodies and answer RFC 6749 errors.",
    ),
    components(schemas(Problem, OAuthError), responses(
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        PayloadTooLarge,
        ValidationFailed,
        InternalError,
        ServiceUnavailable,
        TooManyRequests,
        TooManySigningKeys,
        OAuthBadRequest,
        OAuthInvalidClient,
        OAuthPayloadTooLarge,
        OAuthServerError,
        OAuthUnavailable,
        OAuthTooManyRequests,
    )),
    tags(
        (name = "keys", description = "The API-key lifecycle: create (secret shown once), list, edit, roll, revoke"),
        (name = "signing-keys", description = "The organization's token-signing keys and their rotation"),
        (name = "check", description = "Access decisions for resource servers"),
        (name = "usage", description = "Tokens issued, authentications and denials, per key and per organization"),
        (name = "audit", description = "Who changed what, when and from where"),
        (name = "oauth", description = "Client-credentials grant (RFC 6749 §4.4), introspection (RFC 7662), revocation (RFC 7009)"),
        (name = "discovery", description = "Authorization-server metadata (RFC 8414) and the JWKS (RFC 7517)"),
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "openapi", description = "This document"),
    ),
)]
struct Fixed;

/// The whole document: the fixed part, then every route of `router` with the schemas it names.
pub fn document(router: &Router) -> Document {
    let mut doc = Fixed::openapi();
    doc.paths = router.paths().clone();
    let components = doc.components.get_or_insert_with(Default::default);
    for (name, schema) in router.schemas() {
        components
            .schemas
            .entry(name.clone())
            .or_insert_with(|| schema.clone());
    }
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "An API-key secret (`lk_…`, or the deployment's own prefix) or an access token from `POST /oauth/token`",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        "basic",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Basic)
                .description(Some(
                    "`client_secret_basic` (RFC 6749 §2.3.1): the key id as user name and its \
                     secret as password, each form-encoded. The alternative, \
                     `client_secret_post`, sends `client_id` and `client_secret` in the form \
                     body instead (never both).",
                ))
                .build(),
        ),
    );
    document_scope_items(&mut doc);
    single_valued_forms(&mut doc);
    optional_bodies(&mut doc);
    doc
}

/// The OAuth endpoints' forms take every parameter at most once (`domain::oauth::Params`
/// refuses a repeated one with `invalid_request`) and ignore the ones they do not know (RFC 6749
/// §3.1): any other field is one string, never a list of them.
fn single_valued_forms(doc: &mut Document) {
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    for name in ["TokenRequest", "TokenQuery"] {
        if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(name) {
            object.additional_properties = Some(Box::new(AdditionalProperties::RefOr(
                ObjectBuilder::new().schema_type(Type::String).into(),
            )));
        }
    }
}

/// `request_body(content = Option<T>)` is how a handler says its JSON body may be left out;
/// utoipa writes that as `oneOf [T, null]`, which would tell clients to send `null` (refused).
/// Document `T` with `required: false` instead.
fn optional_bodies(doc: &mut Document) {
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            let Some(RefOr::T(body)) = operation.request_body.as_mut() else {
                continue;
            };
            let mut optional = false;
            for content in body.content.values_mut() {
                if let RefOr::T(content) = content
                    && let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema
                    && let [a, b] = one_of.items.as_slice()
                {
                    let schema = match (is_null(a), is_null(b)) {
                        (true, false) => b.clone(),
                        (false, true) => a.clone(),
                        _ => continue,
                    };
                    content.schema = Some(schema);
                    optional = true;
                }
            }
            if optional {
                body.required = Some(Required::False);
            }
        }
    }
}

fn is_null(schema: &RefOr<Schema>) -> bool {
    matches!(schema, RefOr::T(Schema::Object(o)) if o.schema_type == SchemaType::Type(Type::Null))
}

/// `KeyDraft` and `KeyPatch` take their scopes as loose JSON values, so that each bad item is
/// reported at its own path; say here what an item may be: an object with just `action` and
/// `resource`, or the wire form (`action:filter`, or the action alone; the filter as
/// `Scope.resource` states it).
fn document_scope_items(doc: &mut Document) {
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    let mut filter = None;
    if let Some(RefOr::T(Schema::Object(scope))) = components.schemas.get_mut("Scope") {
        scope.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
        if let Some(RefOr::T(Schema::Object(resource))) = scope.properties.get("resource") {
            filter = resource.pattern.clone();
        }
    }
    let mut wire = ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some("The wire form `action:filter`"))
        .examples([json!("read:projects/42/**")]);
    if let Some(filter) = filter {
        let filter = filter.trim_start_matches('^').trim_end_matches('$');
        wire = wire
            .pattern(Some(format!(r"^(read|write|admin|\*)(:{filter})?$")))
            // `admin:` and the longest filter.
            .max_length(Some(6 + 512));
    }
    let item: RefOr<Schema> = OneOfBuilder::new()
        .item(Ref::from_schema_name("Scope"))
        .item(wire)
        .into();
    for name in ["KeyDraft", "KeyPatch"] {
        if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(name)
            && let Some(RefOr::T(Schema::Array(array))) = object.properties.get_mut("scopes")
        {
            array.items = ArrayItems::RefOrSchema(Box::new(item.clone()));
        }
    }
}

/// The document, serialised once at startup (`Bytes`: each response shares the buffer).
pub struct ApiDocument(web::Bytes);

impl ApiDocument {
    pub fn new(router: &Router) -> Result<Self, serde_json::Error> {
        Ok(Self(document(router).to_json()?.into()))
    }
}

/// This document
///
/// The OpenAPI 3.1 description of every endpoint, generated from the server's own route
/// table.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "openapi",
    operation_id = "openapi",
    responses(
        (status = 200, description = "The OpenAPI document", body = Object, content_type = "application/json"),
    ),
)]
async fn document_json(doc: web::Data<ApiDocument>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.0.clone())
}
