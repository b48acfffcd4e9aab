//! `GET /v1/openapi.json`: the document describes exactly the routes the server serves.
//!
//! How completeness is guaranteed, in both directions:
//!
//! 1. **By construction.** actix gets its routes only from `latchkey::http::router()`, whose
//!    one way in (`Section::add`) takes a handler's `#[utoipa::path]` item and routes the path
//!    and methods written there while adding its operation to the document. `startup.rs` adds
//!    nothing else but the default 404 service.
//! 2. **Nothing bypasses the table** (`no_route_is_registered_outside_the_route_table`): no
//!    source file but `src/http/router.rs` calls an actix registration API, so (1) stays true
//!    when someone adds an endpoint.
//! 3. **The live server agrees with the document**
//!    (`the_document_matches_what_the_server_routes`): for every documented path the server is
//!    asked with every method, without credentials. A documented method must reach its handler
//!    (a status the operation documents; never 405), and an undocumented one must get 405 with
//!    `Allow` listing exactly the documented methods. `/metrics` then proves each request was
//!    routed under the documented path template itself, never to the unmatched-route service.
//!    The document's `(path, method)` pairs also equal the table handed to actix.
//!
//! So a route served but missing from the document would need a registration outside the table
//! (2 fails) or a method on a documented path (3 fails); a documented route not served fails 3.
//! The one exception is made inside the table too, `Router::static_file` for the web console's
//! files: GET and HEAD only, under `/console`, checked in 3 (tests/console.rs tests the files).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::helpers::{spawn_app, spawn_app_with};

/// Every method a probe tries on every documented path.
const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE",
];

/// A syntactically valid key id for `{id}`: the handlers check the credential first, so no
/// probe depends on the key existing.
const SAMPLE_ID: &str = "key_AAAAAAAAAAAAAAAAAAAAAA";

/// `(path, METHOD)` → operation object.
fn operations(doc: &Value) -> BTreeMap<(String, String), Value> {
    let mut ops = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths").iter() {
        for (method, op) in item.as_object().expect("path item").iter() {
            if METHODS.contains(&method.to_uppercase().as_str()) {
                ops.insert((path.clone(), method.to_uppercase()), op.clone());
            }
        }
    }
    ops
}

/// Follows a local `$ref` (`#/components/…`) in the document.
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

fn collect_refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => {
                        out.insert(r.clone());
                    }
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// The label the metrics middleware gives a method.
fn method_label(method: &str) -> &str {
    if method == "TRACE" { "other" } else { method }
}

backend_tests! {
    async fn the_document_is_openapi_3_1_with_security_schemes_and_no_servers(backend) {
        let app = spawn_app(backend).await;
        let r = app.client.get(app.url("/v1/openapi.json")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
        let doc: Value = r.json().await.unwrap();

        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."), "{}", doc["openapi"]);
        assert_eq!(doc["info"]["title"], "Latchkey");
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        assert!(doc.get("servers").is_none(), "clients use the host they reached");
        let schemes = &doc["components"]["securitySchemes"];
        assert_eq!(schemes["bearer"]["type"], "http");
        assert_eq!(schemes["bearer"]["scheme"], "bearer");
        assert_eq!(schemes["basic"]["type"], "http");
        assert_eq!(schemes["basic"]["scheme"], "basic");

        let mut refs = BTreeSet::new();
        collect_refs(&doc, &mut refs);
        for r in &refs {
            assert!(resolve(&doc, r).is_some(), "dangling $ref {r}");
        }
        let mut ids = BTreeSet::new();
        for ((path, method), op) in operations(&doc) {
            let id = op["operationId"].as_str().unwrap_or_default().to_owned();
            assert!(ids.insert(id.clone()), "operationId {id:?} of {method} {path} is not unique");
            assert!(op["tags"].as_array().is_some_and(|t| !t.is_empty()), "{method} {path} has no tag");
            let security: Vec<String> = op["security"]
                .as_array()
                .map(|s| s.iter().flat_map(|r| r.as_object().unwrap().keys().cloned()).collect())
                .unwrap_or_default();
            // GitHub's secret scanning signs its alerts instead (`Github-Public-Key-Signature`).
            if path.starts_with("/v1/") && path != "/v1/openapi.json" && path != "/v1/secret-scanning/github" {
                assert_eq!(security, ["bearer"], "{method} {path}");
                for status in ["401", "500", "503"] {
                    assert!(op["responses"].get(status).is_some(), "{method} {path} lacks {status}");
                }
            }
            if path.starts_with("/oauth/") {
                assert!(security.contains(&"basic".to_owned()), "{method} {path}");
            }
        }
        // Problem documents carry these members (RFC 9457 plus the field errors).
        let problem = &doc["components"]["schemas"]["Problem"]["properties"];
        for member in ["type", "title", "status", "detail", "errors"] {
            assert!(problem.get(member).is_some(), "Problem lacks {member}");
        }
        let oauth_error = &doc["components"]["schemas"]["OAuthError"]["properties"];
        for member in ["error", "error_description"] {
            assert!(oauth_error.get(member).is_some(), "OAuthError lacks {member}");
        }
    }

    async fn the_document_matches_what_the_server_routes(backend) {
        let app = spawn_app(backend).await;
        let doc: Value = app
            .client
            .get(app.url("/v1/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let documented = operations(&doc);
        assert!(documented.len() >= 20, "only {} operations documented", documented.len());

        // The table actix was handed is the table the document was made from.
        let routed: BTreeSet<(String, String)> = latchkey::http::router()
            .routes()
            .map(|(path, method)| (path.to_owned(), method.to_string()))
            .collect();
        assert_eq!(routed, documented.keys().cloned().collect::<BTreeSet<_>>());
        // The table's one undocumented exception, the console's static files
        // (`Router::static_file`), stays inside its prefix, is read-only and documents nothing.
        let statics: Vec<(String, String)> = latchkey::http::router()
            .static_routes()
            .map(|(path, method)| (path.to_owned(), method.to_string()))
            .collect();
        assert!(!statics.is_empty(), "the console is served");
        for (path, method) in &statics {
            assert!(path == "/console" || path.starts_with("/console/"), "{path} is served undocumented");
            assert!(method == "GET" || method == "HEAD", "{method} {path}");
            assert!(doc["paths"].get(path).is_none(), "{path} is in the API document");
        }

        let paths: BTreeSet<&String> = documented.keys().map(|(p, _)| p).collect();
        let mut expected_lines = Vec::new();
        for path in paths {
            let url = app.url(&path.replace("{id}", SAMPLE_ID).replace("{delivery_id}", "dlv_1"));
            assert!(!url.contains('{'), "no sample value for a parameter of {path}");
            let allowed: BTreeSet<&str> = METHODS
                .iter()
                .copied()
                .filter(|m| documented.contains_key(&(path.clone(), (*m).to_owned())))
                .collect();
            for method in METHODS {
                let r = app
                    .client
                    .request(method.parse().unwrap(), &url)
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                let content_type = r
                    .headers()
                    .get("content-type")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                if let Some(op) = documented.get(&(path.clone(), method.to_owned())) {
                    assert_ne!(status, 405, "{method} {path} is documented but refused");
                    assert!(
                        op["responses"].get(status.to_string()).is_some(),
                        "{method} {path} answered {status}, which its operation does not document"
                    );
                    let security = op["security"].as_array().map(Vec::len).unwrap_or(0);
                    if security == 1 && op["security"][0].get("bearer").is_some() {
                        assert_eq!(status, 401, "{method} {path} without credentials");
                        assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
                    }
                } else {
                    assert_eq!(status, 405, "{method} {path} is not documented but answered {status}");
                    let allow: BTreeSet<&str> = r.headers()["allow"]
                        .to_str()
                        .unwrap()
                        .split(", ")
                        .collect();
                    assert_eq!(allow, allowed, "Allow of {path}");
                    if method != "HEAD" {
                        if path.starts_with("/oauth/") {
                            assert!(content_type.starts_with("application/json"), "{path}: {content_type}");
                        } else {
                            assert_eq!(content_type, "application/problem+json", "{method} {path}");
                        }
                    }
                }
                expected_lines.push(format!(
                    "http_requests_total{{route=\"{path}\",method=\"{}\",status=\"{status}\"}}",
                    method_label(method)
                ));
            }
        }

        // Every probe was routed under its documented path template, none as unmatched.
        let metrics = app
            .client
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for line in expected_lines {
            assert!(metrics.contains(&line), "missing `{line}` in:\n{metrics}");
        }
        assert!(!metrics.contains("route=\"unmatched\""), "{metrics}");
    }

    /// With an issuer that has a path, every documented operation is also served under it: the
    /// route table adds it there (`Router::under`), so the answers, the 405s and their `Allow`
    /// are the root's, and the metrics label the pattern under the path. The document stays the
    /// root's, without duplicates.
    async fn under_an_issuer_path_every_operation_answers_as_at_the_root(backend) {
        const MOUNT: &str = "/t/x";
        let app = spawn_app_with(backend, |s| s.issuer = Some(format!("https://auth.example.com{MOUNT}/"))).await;
        let root = latchkey::http::router();
        let mounted = latchkey::http::router_under(MOUNT);
        let documented: BTreeSet<(String, String)> =
            root.routes().map(|(p, m)| (p.to_owned(), m.to_string())).collect();
        assert_eq!(
            documented,
            mounted.routes().map(|(p, m)| (p.to_owned(), m.to_string())).collect(),
            "the same document"
        );
        assert_eq!(
            serde_json::to_value(root.paths()).unwrap(),
            serde_json::to_value(mounted.paths()).unwrap(),
        );
        let doc: Value = app.client.get(app.url(&format!("{MOUNT}/v1/openapi.json"))).send().await.unwrap().json().await.unwrap();
        assert_eq!(
            operations(&doc).into_keys().collect::<BTreeSet<_>>(),
            documented,
            "served under the path, the document is the root's"
        );

        let paths: BTreeSet<&String> = documented.iter().map(|(p, _)| p).collect();
        let mut expected_lines = Vec::new();
        for path in paths {
            let path = path.replace("{id}", SAMPLE_ID);
            for method in METHODS {
                let ask = |at: String| {
                    let request = app.client.request(method.parse().unwrap(), app.url(&at));
                    async move {
                        let r = request.send().await.unwrap();
                        let allow = r.headers().get("allow").map(|v| v.to_str().unwrap().to_owned());
                        (r.status().as_u16(), allow)
                    }
                };
                let at_root = ask(path.clone()).await;
                let under = ask(format!("{MOUNT}{path}")).await;
                assert_eq!(under, at_root, "{method} {MOUNT}{path} and {method} {path}");
            }
        }
        for (path, method) in &documented {
            expected_lines.push(format!("route=\"{MOUNT}{path}\",method=\"{}\"", method_label(method)));
        }
        let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        for line in expected_lines {
            assert!(metrics.contains(&line), "missing `{line}` in:\n{metrics}");
        }
        assert!(!metrics.contains("route=\"unmatched\""), "{metrics}");
        // The console's files are there too, and only for GET and HEAD.
        let aliases: Vec<(String, String)> = mounted
            .alias_routes()
            .map(|(p, m)| (p.to_owned(), m.to_string()))
            .collect();
        for (path, method) in root.static_routes() {
            assert!(aliases.contains(&(format!("{MOUNT}{path}"), method.to_string())), "{method} {path}");
        }
    }
}

/// Part 2 of the guarantee in the module comment: the only place that registers actix routes
/// is the route table. (The application's default service, the 404 for unknown paths, is the
/// one exception, in `startup.rs`.)
#[test]
fn no_route_is_registered_outside_the_route_table() {
    const REGISTRATIONS: &[&str] = &[
        "web::resource(",
        "web::scope(",
        "web::route(",
        "web::get(",
        "web::post(",
        "web::put(",
        "web::patch(",
        "web::delete(",
        "web::head(",
        "web::method(",
        "web::Resource::new(",
        "web::Scope::new(",
        ".route(",
        ".service(",
        ".default_service(",
        "#[get(",
        "#[post(",
        "#[put(",
        "#[patch(",
        "#[delete(",
        "#[head(",
        "#[route(",
        "#[routes]",
    ];
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![src.clone()];
    let mut offending = Vec::new();
    let mut files = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("http/router.rs") {
                continue;
            }
            files += 1;
            let text = std::fs::read_to_string(&path).unwrap();
            for (n, line) in text.lines().enumerate() {
                let code = line.trim_start();
                if code.starts_with("//") {
                    continue;
                }
                let default_404 = path.ends_with("startup.rs")
                    && code.starts_with(".default_service(web::to(http::ops::not_found))");
                if !default_404 && REGISTRATIONS.iter().any(|r| code.contains(r)) {
                    offending.push(format!("{}:{}: {}", path.display(), n + 1, code));
                }
            }
        }
    }
    assert!(
        files > 20,
        "scanned only {files} files under {}",
        src.display()
    );
    assert!(
        offending.is_empty(),
        "register routes through `http::router()` (src/http/router.rs) so they are documented:\n{}",
        offending.join("\n")
    );
}

/// An issuer path that repeats the start of the root's own paths still gives every copy a path
/// of its own (`Router::route` panics at startup on a collision), and copies every route once.
#[test]
fn issuer_paths_that_look_like_routes_do_not_collide_with_them() {
    let root = latchkey::http::router();
    let (documented, statics) = (root.routes().count(), root.static_routes().count());
    for mount in [
        "/v1",
        "/v1/keys",
        "/oauth",
        "/console",
        "/healthz",
        "/t/.well-known",
        "/a/b/c",
    ] {
        let mounted = latchkey::http::router_under(mount);
        let aliases: Vec<(&str, &actix_web::http::Method)> = mounted.alias_routes().collect();
        // Each route once under the mount, and the two metadata documents at their
        // path-insertion URLs.
        assert_eq!(aliases.len(), documented + statics + 2, "{mount}");
        assert!(
            aliases
                .iter()
                .all(|(p, _)| p.starts_with(mount) || p.starts_with("/.well-known/")),
            "{mount}"
        );
    }
    assert_eq!(root.alias_routes().count(), 0);
}

/// The `grants_key_management` warning knows Latchkey's own resources by their roots
/// (`domain::key::OWN_RESOURCES`): every `/v1` route but the two that need no `admin` lies
/// under one, so an admin endpoint added without its root fails here rather than going unwarned.
#[test]
fn every_admin_route_lies_under_one_of_latchkeys_own_resources() {
    const NOT_ADMIN: [&str; 3] = [
        "/v1/check",
        "/v1/openapi.json",
        "/v1/secret-scanning/github",
    ];
    // Operations on the caller's org, on leaked keys and on the caller's own console session,
    // which need `admin` over `keys`.
    const OVER_KEYS: [&str; 3] = ["/v1/leaks", "/v1/org", "/v1/console/sessions"];
    let own = latchkey::domain::key::OWN_RESOURCES;
    let mut seen = BTreeSet::new();
    for (path, _) in latchkey::http::router().routes() {
        let Some(resource) = path.strip_prefix("/v1/") else {
            continue;
        };
        if NOT_ADMIN.contains(&path) || OVER_KEYS.contains(&path) {
            continue;
        }
        let root = resource.split('/').next().unwrap();
        assert!(own.contains(&root), "{path}: add `{root}` to OWN_RESOURCES");
        seen.insert(root.to_owned());
    }
    for root in ["keys", "usage", "audit", "signing-keys", "webhooks"] {
        assert!(seen.contains(root), "no route under {root}: {seen:?}");
    }
}
