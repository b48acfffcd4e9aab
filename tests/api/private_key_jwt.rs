//! Keys without shared secrets (issue 17): RFC 7523 `private_key_jwt` client authentication at
//! the token and introspection endpoints, over HTTP on both databases, with assertions signed
//! here by `jsonwebtoken` with Ed25519, P-256 and RSA keys. Real client libraries are in
//! `tests/interop.rs`.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use latchkey::crypto::signing::{SigningAlg, generate, rsa_pkcs1_from_pkcs8};

use crate::helpers::{TestApp, error_fields, spawn_app, status_json};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A client's key pair: its public JWK (no `alg`, so RSA signs RS256 and PS256) and a signer.
struct Pair {
    jwk: Value,
    kid: String,
    encoding: EncodingKey,
}

fn pair(alg: SigningAlg) -> Pair {
    let g = generate(alg).unwrap();
    let mut jwk: Value = serde_json::from_str(&g.public_jwk).unwrap();
    jwk.as_object_mut().unwrap().remove("alg");
    let encoding = match alg {
        SigningAlg::EdDsa => EncodingKey::from_ed_der(&g.private_pkcs8),
        SigningAlg::Es256 => EncodingKey::from_ec_der(&g.private_pkcs8),
        SigningAlg::Rs256 => {
            EncodingKey::from_rsa_der(&rsa_pkcs1_from_pkcs8(&g.private_pkcs8).unwrap())
        }
    };
    Pair {
        jwk,
        kid: g.kid,
        encoding,
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn assertion(p: &Pair, alg: Algorithm, claims: Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(p.kid.clone());
    jsonwebtoken::encode(&header, &claims, &p.encoding).unwrap()
}

fn claims(app: &TestApp, id: &str, jti: &str) -> Value {
    json!({"iss": id, "sub": id, "aud": app.url("/oauth/token"), "iat": now(), "exp": now() + 120, "jti": jti})
}

async fn token_with(app: &TestApp, form: &[(&str, &str)]) -> (u16, Value) {
    let r = app
        .client
        .post(app.url("/oauth/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    status_json(r).await
}

async fn token_by_assertion(app: &TestApp, jwt: &str) -> (u16, Value) {
    token_with(
        app,
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", jwt),
        ],
    )
    .await
}

backend_tests! {
    async fn a_key_without_a_secret_authenticates_with_assertions_of_each_algorithm(backend) {
        let app = spawn_app(backend).await;
        let (ed, ec, rsa) = (pair(SigningAlg::EdDsa), pair(SigningAlg::Es256), pair(SigningAlg::Rs256));
        let (status, created) = status_json(app.post("/v1/keys", &app.admin_secret, &json!({
            "name": "workload", "scopes": ["read:projects/**"], "secret": false,
            "public_keys": [ed.jwk, ec.jwk, rsa.jwk],
        })).await).await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["secret"], Value::Null);
        assert_eq!((created["key"]["secret"].clone(), created["key"]["secret_hint"].clone()), (json!(false), json!("")));
        assert_eq!(created["key"]["public_keys"][0], ed.jwk);
        let id = created["key"]["id"].as_str().unwrap().to_owned();

        for (p, alg, jti) in [(&ed, Algorithm::EdDSA, "e"), (&ec, Algorithm::ES256, "c"), (&rsa, Algorithm::RS256, "r"), (&rsa, Algorithm::PS256, "p")] {
            let jwt = assertion(p, alg, claims(&app, &id, jti));
            let (status, v) = token_by_assertion(&app, &jwt).await;
            assert_eq!(status, 200, "{alg:?}: {v}");
            assert_eq!(v["scope"], "read:projects/**");
            // Used once: a replay is refused, and says why.
            let (status, v) = token_by_assertion(&app, &jwt).await;
            assert_eq!((status, v["error"].clone()), (401, json!("invalid_client")), "{alg:?} replay: {v}");
            assert!(v["error_description"].as_str().unwrap().contains("jti"), "{v}");
        }
        // With client_id in the body too, and the issuer as audience.
        let mut c = claims(&app, &id, "with-id");
        c["aud"] = json!([app.address.clone()]);
        let jwt = assertion(&ed, Algorithm::EdDSA, c);
        let (status, v) = token_with(&app, &[
            ("grant_type", "client_credentials"), ("client_id", &id),
            ("client_assertion_type", ASSERTION_TYPE), ("client_assertion", &jwt),
        ]).await;
        assert_eq!(status, 200, "{v}");

        // Introspection, authenticated by assertion: the client learns about its own token.
        let token = v["access_token"].as_str().unwrap().to_owned();
        let jwt = assertion(&ed, Algorithm::EdDSA, {
            let mut c = claims(&app, &id, "introspect");
            c["aud"] = json!(app.url("/oauth/introspect"));
            c
        });
        let r = app.client.post(app.url("/oauth/introspect")).form(&[
            ("token", token.as_str()), ("client_assertion_type", ASSERTION_TYPE), ("client_assertion", jwt.as_str()),
        ]).send().await.unwrap();
        let (status, v) = status_json(r).await;
        assert_eq!((status, v["active"].clone(), v["client_id"].clone()), (200, json!(true), json!(id)), "{v}");

        // A key without a secret cannot be rolled.
        let (status, v) = status_json(app.post(&format!("/v1/keys/{id}/roll"), &app.admin_secret, &json!({})).await).await;
        assert_eq!((status, v["type"].as_str().map(|t| t.ends_with("no_secret"))), (409, Some(true)), "{v}");
        // Nor lose its last public key.
        let (status, v) = status_json(app.patch(&format!("/v1/keys/{id}"), &app.admin_secret, &json!({"public_keys": []})).await).await;
        assert_eq!((status, error_fields(&v)), (422, vec!["public_keys".to_owned()]), "{v}");

        // Revoked: a valid assertion is refused, and the signer is told why.
        assert_eq!(app.post(&format!("/v1/keys/{id}/revoke"), &app.admin_secret, &json!({})).await.status(), 200);
        let (status, v) = token_by_assertion(&app, &assertion(&ed, Algorithm::EdDSA, claims(&app, &id, "late"))).await;
        assert_eq!(status, 401, "{v}");
        assert!(v["error_description"].as_str().unwrap().contains("revoked"), "{v}");
    }

    async fn every_bad_assertion_is_refused_and_says_which_check_failed(backend) {
        let app = spawn_app(backend).await;
        let ed = pair(SigningAlg::EdDsa);
        let (status, created) = status_json(app.post("/v1/keys", &app.admin_secret, &json!({
            "name": "signer", "scopes": ["read"], "public_keys": [ed.jwk],
        })).await).await;
        assert_eq!(status, 201, "{created}");
        let id = created["key"]["id"].as_str().unwrap().to_owned();
        let secret = created["secret"].as_str().unwrap().to_owned();
        let stranger = pair(SigningAlg::EdDsa);
        let base = claims(&app, &id, "x");
        let with = |change: Value| {
            let mut c = base.clone();
            for (k, v) in change.as_object().unwrap() {
                c[k] = v.clone();
            }
            c
        };
        let x = ed.jwk["x"].as_str().unwrap().to_owned();
        let hs256 = {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some(ed.kid.clone());
            jsonwebtoken::encode(&header, &with(json!({"jti": "hs"})), &EncodingKey::from_secret(x.as_bytes())).unwrap()
        };
        let none = {
            use base64::Engine;
            let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
            format!("{}.{}.", b64(&json!({"alg": "none", "kid": ed.kid})), b64(&with(json!({"jti": "none"}))))
        };
        let foreign = {
            let mut header = Header::new(Algorithm::EdDSA);
            header.kid = Some(ed.kid.clone());
            jsonwebtoken::encode(&header, &with(json!({"jti": "foreign"})), &stranger.encoding).unwrap()
        };
        for (what, jwt, says) in [
            ("expired", assertion(&ed, Algorithm::EdDSA, with(json!({"exp": now() - 120, "jti": "1"}))), "expired"),
            ("too long", assertion(&ed, Algorithm::EdDSA, with(json!({"exp": now() + 7200, "jti": "2"}))), "after its iat"),
            ("wrong aud", assertion(&ed, Algorithm::EdDSA, with(json!({"aud": "https://elsewhere", "jti": "3"}))), "aud"),
            ("wrong iss", assertion(&ed, Algorithm::EdDSA, with(json!({"iss": "key_someoneelse0000000", "jti": "4"}))), "iss"),
            ("no jti", assertion(&ed, Algorithm::EdDSA, with(json!({"jti": ""}))), "jti"),
            ("unknown kid", assertion(&stranger, Algorithm::EdDSA, with(json!({"jti": "5"}))), "kid"),
            ("signed by another key", foreign, "signature"),
            ("HS256 keyed with the public key", hs256, "HS256"),
            ("alg none", none, "none"),
        ] {
            let (status, v) = token_by_assertion(&app, &jwt).await;
            assert_eq!((status, v["error"].clone()), (401, json!("invalid_client")), "{what}: {v}");
            assert!(v["error_description"].as_str().unwrap().contains(says), "{what}: {v}");
        }
        // The key's secret still works for it; an assertion plus a secret is one method too many.
        let r = app.client.post(app.url("/oauth/token")).basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "client_credentials")]).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let jwt = assertion(&ed, Algorithm::EdDSA, with(json!({"jti": "both"})));
        let r = app.client.post(app.url("/oauth/token")).basic_auth(&id, Some(&secret)).form(&[
            ("grant_type", "client_credentials"), ("client_assertion_type", ASSERTION_TYPE), ("client_assertion", &jwt),
        ]).send().await.unwrap();
        let (status, v) = status_json(r).await;
        assert_eq!((status, v["error"].clone()), (400, json!("invalid_request")), "{v}");
        let (status, v) = token_with(&app, &[
            ("grant_type", "client_credentials"), ("client_assertion_type", "urn:other"), ("client_assertion", &jwt),
        ]).await;
        assert_eq!((status, v["error"].clone()), (401, json!("invalid_client")), "{v}");
    }

    /// A `jti` is used once on every node: the replay table is the database's, not a node's.
    async fn an_assertion_replayed_on_another_node_is_refused(backend) {
        let a = spawn_app(backend).await;
        let b = crate::cache::second_node_with(&a, backend, |_| {}).await;
        let ed = pair(SigningAlg::EdDsa);
        let (status, created) = status_json(a.post("/v1/keys", &a.admin_secret, &json!({
            "name": "roaming", "scopes": ["read"], "secret": false, "public_keys": [ed.jwk],
        })).await).await;
        assert_eq!(status, 201, "{created}");
        let id = created["key"]["id"].as_str().unwrap().to_owned();
        let jwt = assertion(&ed, Algorithm::EdDSA, claims(&a, &id, "once"));
        assert_eq!(token_by_assertion(&b, &jwt).await.0, 200);
        let (status, v) = token_by_assertion(&a, &jwt).await;
        assert_eq!(status, 401, "{v}");
        assert!(v["error_description"].as_str().unwrap().contains("jti"), "{v}");
        let (status, _) = token_by_assertion(&b, &jwt).await;
        assert_eq!(status, 401);
    }

    /// The same assertion sent 40 times at once: exactly one token (the jti is recorded once,
    /// whatever batching the writes go through), and fresh assertions sent at once all pass.
    async fn concurrent_uses_of_one_assertion_yield_one_token(backend) {
        let app = spawn_app(backend).await;
        let ed = pair(SigningAlg::EdDsa);
        let (status, created) = status_json(app.post("/v1/keys", &app.admin_secret, &json!({
            "name": "racer", "scopes": ["read"], "secret": false, "public_keys": [ed.jwk],
        })).await).await;
        assert_eq!(status, 201, "{created}");
        let id = created["key"]["id"].as_str().unwrap().to_owned();
        let jwt = assertion(&ed, Algorithm::EdDSA, claims(&app, &id, "race"));
        let tries = (0..40).map(|_| token_by_assertion(&app, &jwt));
        let statuses: Vec<u16> = futures_util::future::join_all(tries).await.into_iter().map(|(s, _)| s).collect();
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
        assert!(statuses.iter().all(|s| *s == 200 || *s == 401), "{statuses:?}");
        let fresh: Vec<String> = (0..40).map(|i| assertion(&ed, Algorithm::EdDSA, claims(&app, &id, &format!("fresh-{i}")))).collect();
        let answers = futures_util::future::join_all(fresh.iter().map(|j| token_by_assertion(&app, j))).await;
        assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");
    }

    async fn public_keys_are_validated_and_need_standing(backend) {
        let app = spawn_app(backend).await;
        let ed = pair(SigningAlg::EdDsa);
        let mut private = ed.jwk.clone();
        private["d"] = json!("AAAA");
        for (body, fields) in [
            (json!({"public_keys": [private]}), vec!["public_keys[0].d"]),
            (json!({"public_keys": [{"kty": "oct", "kid": "s", "k": "c2VjcmV0"}]}), vec!["public_keys[0].k"]),
            (json!({"secret": false}), vec!["public_keys"]),
            (json!({"secret": "no", "public_keys": [ed.jwk]}), vec!["secret"]),
        ] {
            let mut b = json!({"name": "v", "scopes": ["read"]});
            for (k, v) in body.as_object().unwrap() {
                b[k] = v.clone();
            }
            let (status, v) = status_json(app.post("/v1/keys", &app.admin_secret, &b).await).await;
            assert_eq!((status, error_fields(&v)), (422, fields.iter().map(|f| f.to_string()).collect::<Vec<_>>()), "{body}: {v}");
        }
        // A key admin without standing over a wider key cannot add its own public key to it.
        let (wide, _) = app.create_key("wide", json!(["*:*"])).await;
        let (_, admin_secret) = app.create_key("key admin", json!(["admin:keys/**"])).await;
        let (status, v) = status_json(app.patch(&format!("/v1/keys/{wide}"), &admin_secret, &json!({"public_keys": [ed.jwk]})).await).await;
        assert_eq!((status, error_fields(&v)), (403, vec!["public_keys".to_owned()]), "{v}");
        let (status, _) = status_json(app.patch(&format!("/v1/keys/{wide}"), &app.admin_secret, &json!({"public_keys": [ed.jwk]})).await).await;
        assert_eq!(status, 200);
    }
}
