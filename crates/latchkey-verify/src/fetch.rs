//! The HTTP client of the verifier: discovery (RFC 8414), the JWKS and the online check.
//!
//! reqwest on rustls with ring, like the server (`src/outbound/client.rs`): one TLS stack in
//! the workspace and no C toolchain (aws-lc-rs). Unlike the server's client this one fetches
//! only URLs the API's operator configured, so it needs no address filtering; it still refuses
//! redirects (a key set is served where discovery says) and bounds time and body size.

use std::time::Duration;

use reqwest::{Client, Response, redirect};

use crate::error::{BuildError, FetchError};

/// The most a discovery document, a JWKS or a check answer may weigh.
const MAX_BODY: usize = 1 << 20;

/// A `200` body and its `Cache-Control`.
pub(crate) struct Fetched {
    pub body: Vec<u8>,
    pub cache_control: Option<String>,
}

pub(crate) fn client(timeout: Duration) -> Result<Client, BuildError> {
    Client::builder()
        .redirect(redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("latchkey-verify/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| BuildError::Client(e.to_string()))
}

/// `GET url`, a `200` answer read up to the limit.
pub(crate) async fn get(client: &Client, url: &str) -> Result<Fetched, FetchError> {
    let response = client
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| FetchError::Unreachable(e.to_string()))?;
    read_ok(response).await
}

/// A `200` answer's body up to [`MAX_BODY`], or why not.
pub(crate) async fn read_ok(mut response: Response) -> Result<Fetched, FetchError> {
    let status = response.status().as_u16();
    if status != 200 {
        return Err(FetchError::Status(status));
    }
    let cache_control = response
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| FetchError::Unreachable(e.to_string()))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(FetchError::TooLarge(MAX_BODY));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched {
        body,
        cache_control,
    })
}

/// RFC 8414 §3.1: the metadata URL of `issuer`, `/.well-known/oauth-authorization-server`
/// inserted between the host and the issuer's path (a final `/` removed first). Latchkey
/// serves it there and at `{issuer}/.well-known/…` alike; other servers only there.
pub(crate) fn metadata_url(issuer: &url::Url) -> String {
    let path = issuer.path().trim_end_matches('/');
    let mut url = issuer.clone();
    url.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_metadata_url_inserts_the_well_known_path_before_the_issuers_path() {
        let u = |s: &str| metadata_url(&url::Url::parse(s).unwrap());
        assert_eq!(
            u("https://auth.example.com"),
            "https://auth.example.com/.well-known/oauth-authorization-server"
        );
        assert_eq!(
            u("https://auth.example.com/"),
            "https://auth.example.com/.well-known/oauth-authorization-server"
        );
        assert_eq!(
            u("https://example.com/tenant/a/"),
            "https://example.com/.well-known/oauth-authorization-server/tenant/a"
        );
    }
}
