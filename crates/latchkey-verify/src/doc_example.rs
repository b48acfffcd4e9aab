//! A static key set and a token signed by it, for the doctests: an Ed25519 key made for them
//! alone (its private half is not in this crate), the token valid until 2100 for issuer and
//! audience `https://auth.example.com` with scopes `read:projects/** write:projects/42`.

/// The issuer and audience of [`TOKEN`].
pub const ISSUER: &str = "https://auth.example.com";

/// A JWKS with one Ed25519 key.
pub const JWKS: &str = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"6kpsY-KcUgq-9VB7Ey7F-ZVHdq6-vnuSQh7qaRRG0iw","kid":"--6IM5l0OosLj9yWskISYhUA3n_3CURQkmrYMSha_ck","alg":"EdDSA","use":"sig"}]}"#;

/// An access token signed by the key of [`JWKS`].
pub const TOKEN: &str = "eyJhbGciOiJFZERTQSIsInR5cCI6ImF0K2p3dCIsImtpZCI6Ii0tNklNNWwwT29zTGo5eVdza0lTWWhVQTNuXzNDVVJRa21yWU1TaGFfY2sifQ.eyJpc3MiOiJodHRwczovL2F1dGguZXhhbXBsZS5jb20iLCJzdWIiOiJrZXlfZGVtbyIsImNsaWVudF9pZCI6ImtleV9kZW1vIiwib3JnX2lkIjoib3JnX2RlbW8iLCJhdWQiOiJodHRwczovL2F1dGguZXhhbXBsZS5jb20iLCJpYXQiOjE3NjcyMjU2MDAsImV4cCI6NDEwMjQ0NDgwMCwianRpIjoiZGVtby4wIiwic2NvcGUiOiJyZWFkOnByb2plY3RzLyoqIHdyaXRlOnByb2plY3RzLzQyIn0.Jdqnozl-npAUKJBnd9v6vL7pj3UL-zdbil-h0sEux9ytfzK0h7NOMm9J08MubptQb2ZLDvRVy6wWEwEec3C9Bg";
