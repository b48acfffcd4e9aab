//! Creating a key over HTTP, for the tests that run the real binary (no `TestApp` there).

use serde_json::{Value, json};

/// `POST {base}/v1/keys` as `admin` with `name` and `scopes`; the new key's id and secret.
pub async fn create_key(
    client: &reqwest::Client,
    base: &str,
    admin: &str,
    name: &str,
    scopes: Value,
) -> (String, String) {
    let created: Value = client
        .post(format!("{base}/v1/keys"))
        .bearer_auth(admin)
        .json(&json!({"name": name, "scopes": scopes}))
        .send()
        .await
        .expect("create a key")
        .json()
        .await
        .expect("a key object");
    (
        created["key"]["id"].as_str().expect("key id").to_owned(),
        created["secret"].as_str().expect("secret").to_owned(),
    )
}
