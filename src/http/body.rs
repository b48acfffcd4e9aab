//! Request bodies: size-limited, and deserialization errors reported at their JSON path.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use super::MAX_BODY_BYTES;
use super::problem::ApiError;
use crate::domain::FieldError;

/// Longest a client may take to send a body once its headers are in (a slow-loris guard: actix
/// times out the headers itself, `startup::CLIENT_REQUEST_TIMEOUT`).
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads the whole body, refusing more than `MAX_BODY_BYTES` (413) without buffering it, or a
/// body that takes longer than `BODY_TIMEOUT` to arrive (408).
pub async fn read_limited<S, E>(payload: &mut S) -> Result<Vec<u8>, ApiError>
where
    S: futures_util::Stream<Item = Result<actix_web::web::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    actix_web::rt::time::timeout(BODY_TIMEOUT, read_all(payload))
        .await
        .unwrap_or(Err(ApiError::RequestTimeout))
}

async fn read_all<S, E>(payload: &mut S) -> Result<Vec<u8>, ApiError>
where
    S: futures_util::Stream<Item = Result<actix_web::web::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::BadRequest(format!("could not read the request body: {e}")))?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Whether the request's `Content-Length` is over `MAX_BODY_BYTES`: refused (413) before any of
/// the body is read.
pub fn declares_too_large(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > MAX_BODY_BYTES)
}

/// Query parameters of type `T`; a malformed query string is a 400 problem.
pub fn query<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    serde_urlencoded::from_str(req.query_string())
        .map_err(|e| ApiError::BadRequest(format!("invalid query string: {e}")))
}

/// A JSON body of type `T`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let declared_too_large = declares_too_large(req);
        let mut payload = payload.take();
        Box::pin(async move {
            if declared_too_large {
                return Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES));
            }
            let bytes = read_limited(&mut payload).await?;
            parse_json(&bytes).map(JsonBody)
        })
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest(
            "the request body must be a JSON object".into(),
        ));
    }
    // serde's derived structs also take an array of their fields in order (`[]` is a body whose
    // fields all have defaults); every body of this API is an object.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[')
        && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
    {
        return Err(ApiError::BadBody(vec![FieldError::new(
            "body",
            "must be a JSON object, not an array",
        )]));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::BadRequest(format!("the request body is not valid JSON: {inner}"))
        } else {
            let field = if path == "." {
                String::from("body")
            } else {
                path
            };
            ApiError::BadBody(vec![FieldError::new(
                field,
                strip_position(&inner.to_string()),
            )])
        }
    })
}

/// serde_json appends " at line 1 column 9", which means nothing to a caller given a field path.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}
