//! The verifier's scope decisions are the server's: random scopes and resources, each decided
//! by `Claims::allows` and by `POST /v1/check`.

use latchkey_verify::scope::Action;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::json;

use crate::helpers::spawn;

const ACTIONS: [&str; 4] = ["read", "write", "admin", "*"];

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![Just("a"), Just("b"), Just("42"), Just("x.y")].prop_map(str::to_owned)
}

fn filter() -> impl Strategy<Value = String> {
    let body = prop::collection::vec(prop_oneof![3 => segment(), 1 => Just("*".to_owned())], 1..4);
    (body, any::<bool>(), any::<bool>()).prop_map(|(mut segs, globstar, all)| {
        if all {
            return "*".to_owned();
        }
        if globstar {
            segs.push("**".to_owned());
        }
        segs.join("/")
    })
}

fn scope() -> impl Strategy<Value = String> {
    (prop::sample::select(&ACTIONS[..]), filter()).prop_map(|(a, f)| format!("{a}:{f}"))
}

fn resource() -> impl Strategy<Value = String> {
    prop::collection::vec(segment(), 1..5).prop_map(|s| s.join("/"))
}

#[tokio::test]
async fn scope_decisions_are_the_same_as_the_servers_check() {
    let server = spawn().await;
    let verifier = server.verifier().build().unwrap();
    let cases = std::env::var("LATCHKEY_VERIFY_SCOPE_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(40);
    let mut runner = TestRunner::new(Config::with_cases(cases));
    let strategy = (
        prop::collection::vec(scope(), 1..4),
        prop::collection::vec((prop::sample::select(&ACTIONS[..3]), resource()), 8),
    );
    let mut disagreements = Vec::new();
    let mut allowed = 0;
    for _ in 0..cases {
        let (scopes, requests) = strategy.new_tree(&mut runner).unwrap().current();
        let (id, secret) = server.create_key(json!(scopes)).await;
        let token = server.token_for(&id, &secret).await;
        let claims = verifier.verify(&token).await.unwrap();
        for (action, resource) in requests {
            let body = json!({"token": token, "action": action, "resource": resource});
            let (status, v) = server.post("/v1/check", &server.admin_secret, &body).await;
            assert_eq!(status, 200, "{v}");
            let server_says = v["allowed"].as_bool().unwrap();
            let we_say = claims.allows(Action::parse(action).unwrap(), &resource);
            allowed += usize::from(we_say);
            if server_says != we_say {
                disagreements.push(format!(
                    "{scopes:?} {action}:{resource}: server {server_says}, verifier {we_say}"
                ));
            }
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
    assert!(
        allowed > 0,
        "the generator never produced an allowed request"
    );
}
