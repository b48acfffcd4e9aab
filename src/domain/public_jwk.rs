//! The public keys a client key may hold for RFC 7523 `private_key_jwt` (issue 17): which JWKs
//! are accepted, checked member by member with field paths, and the algorithms each allows.
//! Pure rules; verifying a signature with them is the crypto layer's.
//!
//! Accepted: Ed25519 (`OKP`), P-256 (`EC`) and RSA of at least 2048 bits, each with a `kid`.
//! Refused: any private member (a client must never hand over its private key: it would then be
//! a shared secret again), symmetric keys, other curves, a `use` other than `sig`, an `alg` the
//! key type cannot have.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::FieldError;

/// Most public keys one client key may hold.
pub const MAX_PUBLIC_KEYS: usize = 5;
/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits (bounds the cost of a verification).
pub const MAX_RSA_BITS: usize = 8192;

/// JWK members that only a private key has (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A signature algorithm a client assertion may use: never `none`, never HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum AssertionAlg {
    EdDSA,
    ES256,
    RS256,
    PS256,
}

impl AssertionAlg {
    pub const ALL: [AssertionAlg; 4] = [
        AssertionAlg::EdDSA,
        AssertionAlg::ES256,
        AssertionAlg::RS256,
        AssertionAlg::PS256,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            AssertionAlg::EdDSA => "EdDSA",
            AssertionAlg::ES256 => "ES256",
            AssertionAlg::RS256 => "RS256",
            AssertionAlg::PS256 => "PS256",
        }
    }

    /// The algorithm a JWS header (or a JWK's `alg`) names, if it is one of ours (case matters:
    /// RFC 7515). `Ed25519` is RFC 9864's fully-specified name for EdDSA over Ed25519, which
    /// WebCrypto exports and oauth4webapi signs with: the same algorithm, so the same answer.
    pub fn parse(text: &str) -> Option<Self> {
        if text == "Ed25519" {
            return Some(AssertionAlg::EdDSA);
        }
        Self::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

/// The kind of a public key, with the algorithms it verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Ed25519,
    P256,
    /// With the modulus size in bits.
    Rsa(usize),
}

impl KeyKind {
    pub fn allows(&self, alg: AssertionAlg) -> bool {
        matches!(
            (self, alg),
            (KeyKind::Ed25519, AssertionAlg::EdDSA)
                | (KeyKind::P256, AssertionAlg::ES256)
                | (KeyKind::Rsa(_), AssertionAlg::RS256 | AssertionAlg::PS256)
        )
    }
}

/// A public key as a client key holds it: the JWK as given (public members only) and what it
/// is. `alg`, when the JWK names one, pins the algorithm. Stored and shown as the JWK itself,
/// and checked again whenever it is read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Map<String, Value>", into = "Map<String, Value>")]
pub struct PublicJwk {
    pub kid: String,
    pub kind: KeyKind,
    pub alg: Option<AssertionAlg>,
    /// The JWK's members, private ones never among them.
    pub jwk: Map<String, Value>,
}

impl PublicJwk {
    /// Whether an assertion signed with `alg` may be verified with this key.
    pub fn accepts(&self, alg: AssertionAlg) -> bool {
        self.kind.allows(alg) && self.alg.is_none_or(|pinned| pinned == alg)
    }
}

impl TryFrom<Map<String, Value>> for PublicJwk {
    type Error = String;

    fn try_from(map: Map<String, Value>) -> Result<Self, Self::Error> {
        let mut errors = Vec::new();
        check_jwk(&Value::Object(map), "public key", &mut errors).ok_or_else(|| {
            errors
                .into_iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

impl From<PublicJwk> for Map<String, Value> {
    fn from(key: PublicJwk) -> Self {
        key.jwk
    }
}

/// `public_keys` of a create or PATCH body: `null` or a list of at most [`MAX_PUBLIC_KEYS`]
/// public JWKs with unique `kid`s. Every problem is reported with its field path.
pub fn check_public_keys(value: &Value, errors: &mut Vec<FieldError>) -> Option<Vec<PublicJwk>> {
    let items = match value {
        Value::Null => return Some(Vec::new()),
        Value::Array(items) => items,
        _ => {
            errors.push(FieldError::new(
                "public_keys",
                "must be a list of public JWKs (Ed25519 OKP, P-256 EC or RSA ≥ 2048 bits), each with a kid",
            ));
            return None;
        }
    };
    if items.len() > MAX_PUBLIC_KEYS {
        errors.push(FieldError::new(
            "public_keys",
            format!(
                "has {} keys; a key may hold at most {MAX_PUBLIC_KEYS}",
                items.len()
            ),
        ));
        return None;
    }
    let before = errors.len();
    let mut keys: Vec<PublicJwk> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("public_keys[{i}]");
        match check_jwk(item, &at, errors) {
            Some(k) if keys.iter().any(|other| other.kid == k.kid) => errors.push(FieldError::new(
                format!("{at}.kid"),
                format!("`{}` is the kid of another key; kids must be unique", k.kid),
            )),
            Some(k) => keys.push(k),
            None => {}
        }
    }
    (errors.len() == before).then_some(keys)
}

/// One public JWK at `at`.
fn check_jwk(value: &Value, at: &str, errors: &mut Vec<FieldError>) -> Option<PublicJwk> {
    let Value::Object(map) = value else {
        errors.push(FieldError::new(at, "must be a JWK object"));
        return None;
    };
    let field = |name: &str| format!("{at}.{name}");
    let before = errors.len();
    for private in PRIVATE_MEMBERS.iter().filter(|m| map.contains_key(**m)) {
        errors.push(FieldError::new(
            field(private),
            "is a private key member: give the public key only (the private key never leaves the client)",
        ));
    }
    if errors.len() > before {
        return None;
    }
    let kid = match map.get("kid") {
        Some(Value::String(k)) if is_kid(k) => Some(k.clone()),
        Some(_) => {
            errors.push(FieldError::new(
                field("kid"),
                "must be 1–128 printable ASCII characters",
            ));
            None
        }
        None => {
            errors.push(FieldError::new(
                field("kid"),
                "is required: assertions name their key by kid",
            ));
            None
        }
    };
    if let Some(u) = map.get("use")
        && u != "sig"
    {
        errors.push(FieldError::new(
            field("use"),
            "must be \"sig\" (or absent): the key verifies signatures",
        ));
    }
    let kind = match map.get("kty").and_then(Value::as_str) {
        Some("OKP") => check_okp(map, &field, errors),
        Some("EC") => check_ec(map, &field, errors),
        Some("RSA") => check_rsa(map, &field, errors),
        Some("oct") => {
            errors.push(FieldError::new(
                field("kty"),
                "a symmetric key is a shared secret: give an OKP, EC or RSA public key",
            ));
            None
        }
        _ => {
            errors.push(FieldError::new(
                field("kty"),
                "must be \"OKP\" (Ed25519), \"EC\" (P-256) or \"RSA\"",
            ));
            None
        }
    };
    let alg = match map.get("alg") {
        None => None,
        Some(Value::String(a)) => match (AssertionAlg::parse(a), kind) {
            (Some(alg), Some(kind)) if kind.allows(alg) => Some(alg),
            (Some(_), None) => None,
            _ => {
                errors.push(FieldError::new(
                    field("alg"),
                    format!("`{a}` is not an algorithm this key type signs with (EdDSA for OKP, ES256 for EC, RS256 or PS256 for RSA)"),
                ));
                None
            }
        },
        Some(_) => {
            errors.push(FieldError::new(field("alg"), "must be a string"));
            None
        }
    };
    match (kid, kind) {
        (Some(kid), Some(kind)) if errors.len() == before => Some(PublicJwk {
            kid,
            kind,
            alg,
            jwk: map.clone(),
        }),
        _ => None,
    }
}

fn check_okp(
    map: &Map<String, Value>,
    field: &dyn Fn(&str) -> String,
    errors: &mut Vec<FieldError>,
) -> Option<KeyKind> {
    if map.get("crv").and_then(Value::as_str) != Some("Ed25519") {
        errors.push(FieldError::new(
            field("crv"),
            "must be \"Ed25519\" for an OKP key",
        ));
        return None;
    }
    fixed_bytes(map, "x", 32, field, errors).map(|_| KeyKind::Ed25519)
}

fn check_ec(
    map: &Map<String, Value>,
    field: &dyn Fn(&str) -> String,
    errors: &mut Vec<FieldError>,
) -> Option<KeyKind> {
    if map.get("crv").and_then(Value::as_str) != Some("P-256") {
        errors.push(FieldError::new(
            field("crv"),
            "must be \"P-256\" for an EC key",
        ));
        return None;
    }
    let x = fixed_bytes(map, "x", 32, field, errors);
    let y = fixed_bytes(map, "y", 32, field, errors);
    (x.is_some() && y.is_some()).then_some(KeyKind::P256)
}

fn check_rsa(
    map: &Map<String, Value>,
    field: &dyn Fn(&str) -> String,
    errors: &mut Vec<FieldError>,
) -> Option<KeyKind> {
    let n = b64url(map, "n", field, errors)?;
    let e = b64url(map, "e", field, errors)?;
    let bits = significant_bits(&n);
    if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
        errors.push(FieldError::new(
            field("n"),
            format!(
                "is a {bits}-bit modulus; RSA keys must have {MIN_RSA_BITS} to {MAX_RSA_BITS} bits"
            ),
        ));
        return None;
    }
    // 3 or more and odd, as every RSA implementation requires; 65537 in practice.
    let e_value = e.iter().skip_while(|b| **b == 0).try_fold(0u64, |acc, b| {
        acc.checked_mul(256).map(|a| a + u64::from(*b))
    });
    if !e_value.is_some_and(|v| v >= 3 && v % 2 == 1) {
        errors.push(FieldError::new(
            field("e"),
            "must be an odd public exponent of at least 3 (usually AQAB, 65537)",
        ));
        return None;
    }
    Some(KeyKind::Rsa(bits))
}

/// A base64url member decoding to exactly `len` bytes.
fn fixed_bytes(
    map: &Map<String, Value>,
    name: &str,
    len: usize,
    field: &dyn Fn(&str) -> String,
    errors: &mut Vec<FieldError>,
) -> Option<Vec<u8>> {
    let bytes = b64url(map, name, field, errors)?;
    if bytes.len() == len {
        Some(bytes)
    } else {
        errors.push(FieldError::new(
            field(name),
            format!("must encode {len} bytes, not {}", bytes.len()),
        ));
        None
    }
}

/// A required base64url (no padding) member.
fn b64url(
    map: &Map<String, Value>,
    name: &str,
    field: &dyn Fn(&str) -> String,
    errors: &mut Vec<FieldError>,
) -> Option<Vec<u8>> {
    match map.get(name) {
        Some(Value::String(text)) => match URL_SAFE_NO_PAD.decode(text) {
            Ok(bytes) if !bytes.is_empty() => Some(bytes),
            _ => {
                errors.push(FieldError::new(
                    field(name),
                    "must be base64url without padding",
                ));
                None
            }
        },
        _ => {
            errors.push(FieldError::new(field(name), "is required"));
            None
        }
    }
}

/// Bits of a big-endian unsigned integer, leading zeros not counted.
fn significant_bits(bytes: &[u8]) -> usize {
    match bytes.iter().position(|b| *b != 0) {
        None => 0,
        Some(i) => (bytes.len() - i) * 8 - bytes[i].leading_zeros() as usize,
    }
}

fn is_kid(kid: &str) -> bool {
    (1..=128).contains(&kid.len()) && kid.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn fields(value: Value) -> Vec<String> {
        let mut errors = Vec::new();
        check_public_keys(&value, &mut errors);
        errors.into_iter().map(|e| e.field).collect()
    }

    fn rsa(bits: usize) -> Value {
        let mut n = vec![0xffu8; bits / 8];
        n[0] = 0x80 | 0x01;
        json!({"kty": "RSA", "kid": "r", "n": b64(&n), "e": "AQAB"})
    }

    #[test]
    fn each_key_type_is_accepted_with_its_algorithms() {
        let okp = json!({"kty": "OKP", "crv": "Ed25519", "kid": "a", "x": b64(&[7; 32])});
        let ec = json!({"kty": "EC", "crv": "P-256", "kid": "b", "x": b64(&[1; 32]), "y": b64(&[2; 32]), "alg": "ES256", "use": "sig"});
        let mut errors = Vec::new();
        let keys = check_public_keys(&json!([okp, ec, rsa(2048)]), &mut errors).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            keys.iter().map(|k| k.kind).collect::<Vec<_>>(),
            [KeyKind::Ed25519, KeyKind::P256, KeyKind::Rsa(2048)]
        );
        assert!(keys[0].accepts(AssertionAlg::EdDSA) && !keys[0].accepts(AssertionAlg::ES256));
        assert!(keys[1].accepts(AssertionAlg::ES256) && !keys[1].accepts(AssertionAlg::RS256));
        assert!(keys[2].accepts(AssertionAlg::RS256) && keys[2].accepts(AssertionAlg::PS256));
        assert_eq!(AssertionAlg::parse("none"), None);
        assert_eq!(AssertionAlg::parse("HS256"), None);
        assert_eq!(AssertionAlg::parse("eddsa"), None);
        assert_eq!(AssertionAlg::parse("Ed25519"), Some(AssertionAlg::EdDSA));
        let mut errors = Vec::new();
        let pinned = json!([{"kty": "OKP", "crv": "Ed25519", "kid": "w", "x": b64(&[7; 32]), "alg": "Ed25519"}]);
        let keys = check_public_keys(&pinned, &mut errors).unwrap();
        assert_eq!(keys[0].alg, Some(AssertionAlg::EdDSA));
    }

    #[test]
    fn private_members_symmetric_keys_and_weak_keys_are_refused_by_field() {
        assert_eq!(
            fields(
                json!([{"kty": "OKP", "crv": "Ed25519", "kid": "a", "x": b64(&[7; 32]), "d": b64(&[9; 32])}])
            ),
            ["public_keys[0].d"]
        );
        assert_eq!(
            fields(json!([{"kty": "oct", "kid": "a", "k": "c2VjcmV0"}])),
            ["public_keys[0].k"]
        );
        assert_eq!(
            fields(json!([{"kty": "oct", "kid": "a"}])),
            ["public_keys[0].kty"]
        );
        assert_eq!(fields(json!([rsa(1024)])), ["public_keys[0].n"]);
        assert_eq!(
            fields(json!([{"kty": "EC", "crv": "P-384", "kid": "a", "x": "AA", "y": "AA"}])),
            ["public_keys[0].crv"]
        );
        assert_eq!(
            fields(json!([{"kty": "OKP", "crv": "Ed25519", "x": b64(&[7; 31]), "alg": "RS256"}])),
            ["public_keys[0].kid", "public_keys[0].x"]
        );
        assert_eq!(
            fields(
                json!([{"kty": "OKP", "crv": "Ed25519", "kid": "a", "x": b64(&[7; 32]), "alg": "RS256", "use": "enc"}])
            ),
            ["public_keys[0].use", "public_keys[0].alg"]
        );
        let same = json!({"kty": "OKP", "crv": "Ed25519", "kid": "a", "x": b64(&[7; 32])});
        assert_eq!(fields(json!([same.clone(), same])), ["public_keys[1].kid"]);
        assert_eq!(fields(Value::Array(vec![rsa(2048); 6])), ["public_keys"]);
        assert_eq!(fields(json!("a pem")), ["public_keys"]);
        let mut bad_e = rsa(2048);
        bad_e["e"] = json!(b64(&[2]));
        assert_eq!(fields(json!([bad_e])), ["public_keys[0].e"]);
    }

    #[test]
    fn a_key_reads_back_as_it_was_stored_and_a_tampered_one_does_not() {
        let okp = json!({"kty": "OKP", "crv": "Ed25519", "kid": "a", "x": b64(&[7; 32])});
        let key: PublicJwk = serde_json::from_value(okp.clone()).unwrap();
        assert_eq!(serde_json::to_value(&key).unwrap(), okp);
        let mut with_d = okp;
        with_d["d"] = json!(b64(&[1; 32]));
        assert!(serde_json::from_value::<PublicJwk>(with_d).is_err());
    }

    #[test]
    fn modulus_bits_do_not_count_leading_zeros() {
        assert_eq!(significant_bits(&[0, 0, 1]), 1);
        assert_eq!(significant_bits(&[0x80, 0]), 16);
        assert_eq!(significant_bits(&[]), 0);
    }
}
