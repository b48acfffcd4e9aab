//! The web console at `/console/`: static HTML, CSS and JavaScript embedded in the binary (no
//! build step, nothing to install). It is a client of the public API like any other: it signs in
//! at `POST /oauth/token` and calls `/v1/…`; the server adds no endpoint for it. Its files are
//! the route table's one undocumented exception (`Router::static_file`): fixed paths, GET and
//! HEAD, no input.
//!
//! Every response carries a strict Content-Security-Policy (scripts, styles and fetches from this
//! origin only, no inline code, no framing), `nosniff`, `no-referrer`, and an `ETag` with
//! `Cache-Control: no-cache`, so a browser revalidates (cheaply, `304`) and never runs the
//! JavaScript of an older binary against a newer server.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use sha2::{Digest, Sha256};

use super::ops::method_not_allowed;
use super::router::{Router, STATIC_PREFIX};

/// NEVER loosen this without a real need: the console handles admin credentials, and this is
/// what keeps an injected script or style from running.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// One embedded file, served at `/console/{name}` (`index.html` at `/console/`).
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!("../console/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every file under `src/console/` (tests/console.rs checks none is missing).
pub const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", CSS),
    asset!("js/app.js", JS),
    asset!("js/api.js", JS),
    asset!("js/session.js", JS),
    asset!("js/dom.js", JS),
    asset!("js/keys.js", JS),
    asset!("js/key_form.js", JS),
    asset!("js/federation_rows.js", JS),
    asset!("js/key_page.js", JS),
    asset!("js/key_chips.js", JS),
    asset!("js/limits_text.js", JS),
    asset!("js/use_key.js", JS),
    asset!("js/usage.js", JS),
    asset!("js/audit.js", JS),
    asset!("js/signing_keys.js", JS),
    asset!("js/webhooks.js", JS),
    asset!("js/settings.js", JS),
    asset!("vendor/uplot/uPlot.iife.min.js", JS),
    asset!("vendor/uplot/uPlot.min.css", CSS),
    asset!("vendor/uplot/LICENSE", "text/plain; charset=utf-8"),
];

/// The URL path of an asset.
pub fn path_of(asset: &Asset) -> String {
    match asset.name {
        "index.html" => format!("{STATIC_PREFIX}/"),
        name => format!("{STATIC_PREFIX}/{name}"),
    }
}

pub fn routes(router: &mut Router) {
    // `console/`, relative: right behind a proxy that mounts the server under a path prefix.
    router.static_file(STATIC_PREFIX, method_not_allowed, || async {
        secured(HttpResponse::PermanentRedirect())
            .insert_header((header::LOCATION, "console/"))
            .finish()
    });
    for asset in ASSETS {
        let etag = etag(asset.body);
        router.static_file(
            &path_of(asset),
            method_not_allowed,
            move |req: HttpRequest| {
                let etag = etag.clone();
                async move { serve(&req, asset, etag) }
            },
        );
    }
}

/// A strong validator: the SHA-256 of the body, quoted (RFC 9110 §8.8.3).
fn etag(body: &[u8]) -> HeaderValue {
    let digest = Sha256::digest(body);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    HeaderValue::from_str(&format!("\"{hex}\"")).unwrap_or(HeaderValue::from_static("\"\""))
}

fn serve(req: &HttpRequest, asset: &'static Asset, etag: HeaderValue) -> HttpResponse {
    let fresh = req
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/").as_bytes() == etag.as_bytes()
        });
    let mut response = if fresh {
        secured(HttpResponse::NotModified())
    } else {
        secured(HttpResponse::Ok())
    };
    response.insert_header((header::ETAG, etag));
    if fresh {
        return response.finish();
    }
    response
        .insert_header((header::CONTENT_TYPE, asset.content_type))
        .body(asset.body)
}

/// The headers every console response carries.
fn secured(mut builder: HttpResponseBuilder) -> HttpResponseBuilder {
    builder
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"));
    builder
}
