use jsonwebtoken::{
    Algorithm, DecodingKey, Validation, decode, decode_header, errors::ErrorKind, jwk::JwkSet,
};

/// A Latchkey access token's claims. `jwks` is `{issuer}/.well-known/jwks.json`, fetched once
/// and fetched again when a token names a `kid` it lacks.
pub fn verify(
    token: &str,
    jwks: &JwkSet,
    issuer: &str,
    audience: &str,
) -> jsonwebtoken::errors::Result<serde_json::Value> {
    let kid = decode_header(token)?.kid.ok_or(ErrorKind::InvalidToken)?;
    let jwk = jwks.find(&kid).ok_or(ErrorKind::InvalidKeyFormat)?;
    let alg = Algorithm::try_from(
        jwk.common
            .key_algorithm
            .ok_or(ErrorKind::InvalidAlgorithm)?,
    )?;
    let mut validation = Validation::new(alg); // the JWK's algorithm, never the token's choice
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    Ok(decode::<serde_json::Value>(token, &DecodingKey::from_jwk(jwk)?, &validation)?.claims)
}
