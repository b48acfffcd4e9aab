//! The one HTTP client for URLs that users configured (a client key's `jwks_uri`, a federated
//! issuer): https only, public addresses only, checked on the addresses actually connected to
//! (the resolver below drops the others, so a name cannot resolve to a public address when
//! checked and a private one when used), no redirects, no proxy, a timeout on the whole
//! exchange, and bodies read only up to a limit.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::{Url, header, redirect};

use super::address::forbidden;

/// What outbound requests may reach beyond public https: only for tests and closed networks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reach {
    /// Plain `http://` URLs (`--allow-http-issuers`).
    pub http: bool,
    /// Loopback, private and link-local addresses (`--allow-private-issuers`).
    pub private: bool,
}

/// Why a fetch gave nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The URL itself may not be fetched (scheme, address, form).
    #[error("{0}")]
    Refused(String),
    /// No answer: resolution, connection, TLS or timeout.
    #[error("{0}")]
    Unreachable(String),
    #[error("answered HTTP {0}")]
    Status(u16),
    #[error("answered more than {0} bytes")]
    TooLarge(usize),
}

/// An answer's body and its `Cache-Control`.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub body: Vec<u8>,
    pub cache_control: Option<String>,
}

pub struct Outbound {
    client: reqwest::Client,
    reach: Reach,
}

impl Outbound {
    pub fn new(reach: Reach, timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(PublicOnly {
                private: reach.private,
            }))
            .redirect(redirect::Policy::none())
            .no_proxy()
            .https_only(!reach.http)
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("latchkey/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Outbound { client, reach })
    }

    pub fn reach(&self) -> Reach {
        self.reach
    }

    /// `text` as a URL this client would fetch, or why not. Checks what can be checked without
    /// the network: the scheme, no credentials, and an address written in the URL.
    pub fn check_url(&self, text: &str) -> Result<Url, FetchError> {
        check_url(text, self.reach)
    }

    /// GET `url`, its body at most `max_bytes`.
    pub async fn get(&self, url: &str, max_bytes: usize) -> Result<Fetched, FetchError> {
        let url = self.check_url(url)?;
        let mut response = self
            .client
            .get(url)
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| FetchError::Unreachable(chain(&e)))?;
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status().as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > max_bytes as u64)
        {
            return Err(FetchError::TooLarge(max_bytes));
        }
        let cache_control = response
            .headers()
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| FetchError::Unreachable(chain(&e)))?
        {
            if body.len() + chunk.len() > max_bytes {
                return Err(FetchError::TooLarge(max_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            body,
            cache_control,
        })
    }
}

/// What a POST got back: the status, the body read at most up to the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub status: u16,
}

impl Outbound {
    /// POSTs `body` as JSON with `headers`; reads at most `max_response` bytes of the answer
    /// (and drops them: what a receiver answers is its own business, and a huge or endless
    /// answer must not hold the sender). Any status is returned; only no answer is an error.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: String,
        max_response: usize,
    ) -> Result<Posted, FetchError> {
        let url = self.check_url(url)?;
        let mut request = self
            .client
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| FetchError::Unreachable(chain(&e)))?;
        let status = response.status().as_u16();
        let mut read = 0;
        while read < max_response {
            match response.chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                // The status is the answer; a body cut short does not change it.
                Ok(None) | Err(_) => break,
            }
        }
        Ok(Posted { status })
    }
}

/// [`check_url`], then the name resolved the way the client will, refused when every address
/// it has is one the client may not reach (a URL naming an internal host is refused when it is
/// saved, not only each time it is used). A name that does not resolve now passes: the client
/// checks again on every connection, and DNS may be back by then.
pub fn check_resolved(text: &str, reach: Reach) -> Result<Url, FetchError> {
    use std::net::ToSocketAddrs;
    let url = check_url(text, reach)?;
    if reach.private {
        return Ok(url);
    }
    if let Some(url::Host::Domain(name)) = url.host() {
        let port = url.port_or_known_default().unwrap_or(443);
        if let Ok(found) = (name, port).to_socket_addrs() {
            let found: Vec<SocketAddr> = found.collect();
            let reasons: Vec<&str> = found.iter().filter_map(|a| forbidden(a.ip())).collect();
            if !found.is_empty() && reasons.len() == found.len() {
                return Err(FetchError::Refused(format!(
                    "{name} resolves to {}, which is refused",
                    reasons[0]
                )));
            }
        }
    }
    Ok(url)
}

/// The rules of [`Outbound::check_url`], without a client.
pub fn check_url(text: &str, reach: Reach) -> Result<Url, FetchError> {
    let refuse = |why: &str| Err(FetchError::Refused(why.to_owned()));
    let Ok(url) = Url::parse(text) else {
        return refuse("is not an absolute URL");
    };
    match url.scheme() {
        "https" => {}
        "http" if reach.http => {}
        "http" => return refuse("must be an https URL"),
        _ => return refuse("must be an https URL"),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return refuse("must not carry credentials");
    }
    if url.fragment().is_some() {
        return refuse("must not have a #fragment");
    }
    let literal = match url.host() {
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(url::Host::Domain(_)) => None,
        None => return refuse("has no host"),
    };
    if let Some(ip) = literal
        && !reach.private
        && let Some(why) = forbidden(ip)
    {
        return Err(FetchError::Refused(format!("points at {why}")));
    }
    Ok(url)
}

/// Resolution that keeps only the addresses a user-given URL may reach: hyper connects to
/// what this returns, nothing else.
struct PublicOnly {
    private: bool,
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let private = self.private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut why = None;
            let usable: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| match forbidden(a.ip()) {
                    Some(reason) if !private => {
                        why = Some(reason);
                        false
                    }
                    _ => true,
                })
                .collect();
            if usable.is_empty() {
                let reason = why.unwrap_or("no address");
                return Err(format!("{host} resolves to {reason}, which is refused").into());
            }
            Ok(Box::new(usable.into_iter()) as Addrs)
        })
    }
}

/// An error with its causes: reqwest's own message ("error sending request") says little.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public() -> Reach {
        Reach::default()
    }

    #[test]
    fn only_https_urls_to_public_hosts_pass() {
        assert!(check_url("https://token.actions.githubusercontent.com", public()).is_ok());
        assert!(check_url("https://example.com:8443/jwks.json", public()).is_ok());
        for bad in [
            "http://example.com/jwks",
            "ftp://example.com/jwks",
            "file:///etc/passwd",
            "https://user:pw@example.com/",
            "https://example.com/#frag",
            "https://127.0.0.1/jwks",
            "https://10.0.0.1/",
            "https://169.254.169.254/latest/meta-data/",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://0x7f000001/",
            "https://2130706433/",
            "not a url",
            "/relative",
        ] {
            assert!(check_url(bad, public()).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn the_flags_open_http_and_private_addresses() {
        let all = Reach {
            http: true,
            private: true,
        };
        assert!(check_url("http://127.0.0.1:8080/jwks", all).is_ok());
        let http_only = Reach {
            http: true,
            private: false,
        };
        assert!(check_url("http://127.0.0.1:8080/jwks", http_only).is_err());
        assert!(check_url("http://example.com/jwks", http_only).is_ok());
    }
}
