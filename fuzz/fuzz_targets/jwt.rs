//! Access-token parsing in introspection (`src/crypto/jws.rs`): `peek_header` and
//! `Verifier::verify` against a fixed, real Ed25519 key.
//!
//! Checks: neither panics on any input; `verify` accepts a token only if it is byte for byte
//! what the matching signer produces for its header and payload (Ed25519 is deterministic,
//! so the harness re-signs the first two parts with the fixed key and compares); a token the
//! harness signs from input-derived claims is accepted with exactly those claims, and then
//! mutated by input-driven edits (byte changes, truncation, part swaps, re-encoded headers
//! such as `alg: none` or `HS256`), every one of which must be refused unless it leaves the
//! token a genuine signature of the key. (`verify` alone does not look at `typ`: that is
//! `peek_header`'s job, and introspection always calls it first, as `examine` does.)

#![no_main]

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use arbitrary::{Arbitrary, Unstructured};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer as _, SigningKey};
use latchkey::crypto::jws::{EdDsaSigner, Verifier, peek_header};
use latchkey::crypto::signing::SigningAlg;
use latchkey::domain::token::AccessClaims;
use libfuzzer_sys::fuzz_target;

const ISSUER: &str = "https://issuer.example";
const KID: &str = "fuzz-kid-1";
/// Fixed so that the committed corpus's real token verifies. Never a production key.
const SEED: [u8; 32] = *b"latchkey fuzz harness ed25519 k!";

struct Keys {
    key: SigningKey,
    signer: EdDsaSigner,
    verifier: Verifier,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let key = SigningKey::from_bytes(&SEED);
        let x = URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes());
        Keys {
            signer: EdDsaSigner::new(KID, key.clone()),
            verifier: Verifier::ed25519(KID, "org_fuzz", &x).expect("a valid public key"),
            key,
        }
    })
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The oracle: is `token` exactly what the fixed key signs for its first two parts?
fn genuinely_signed(token: &str) -> bool {
    let mut parts = token.splitn(3, '.');
    let (Some(h), Some(p), Some(sig)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let signature = keys().key.sign(format!("{h}.{p}").as_bytes());
    sig == URL_SAFE_NO_PAD.encode(signature.to_bytes())
}

/// What introspection does with a presented token (`service::tokens`): `peek_header` picks
/// the key by `kid` and refuses other `typ`s, then `verify` checks signature, `alg`, `exp` and
/// `iss`. `verify` is also called on its own, as it must be safe on anything.
fn examine(token: &str) -> Option<AccessClaims> {
    let peeked = peek_header(token);
    let as_value = keys().verifier.verify::<serde_json::Value>(token, ISSUER, now());
    let claims = keys().verifier.verify::<AccessClaims>(token, ISSUER, now());
    if as_value.is_ok() || claims.is_ok() {
        assert!(
            genuinely_signed(token),
            "verify accepted a token the key did not sign: {token:?}"
        );
        if let Ok((_, alg)) = &peeked {
            assert_eq!(*alg, SigningAlg::EdDsa.jwt_algorithm());
        }
    }
    peeked.ok().and(claims.ok())
}

#[derive(Arbitrary, Debug)]
struct ClaimsGen {
    sub: String,
    org_id: String,
    scope: String,
    jti: String,
    right_issuer: bool,
    /// Seconds from now; negative means already expired.
    exp_offset: i32,
}

#[derive(Arbitrary, Debug)]
enum Mutation {
    SetByte(u16, u8),
    Insert(u16, u8),
    Remove(u16),
    Truncate(u16),
    SwapParts(u8, u8),
    DuplicatePart(u8),
    /// Replace the header with this JSON (e.g. `{"alg":"none"}`), base64url-encoded.
    Header(HeaderGen),
    /// Replace the payload with this text, base64url-encoded.
    Payload(String),
    Append(String),
}

#[derive(Arbitrary, Debug)]
struct HeaderGen {
    alg: u8,
    typ: u8,
    kid: bool,
    extra: Option<String>,
}

fn header_json(h: &HeaderGen) -> String {
    let alg = [
        "EdDSA", "none", "HS256", "RS256", "ES256", "eddsa", "EDDSA", "PS256",
    ][usize::from(h.alg) % 8];
    let typ = ["at+jwt", "AT+JWT", "application/at+jwt", "JWT", ""][usize::from(h.typ) % 5];
    let mut v = serde_json::json!({"alg": alg, "typ": typ});
    if h.kid {
        v["kid"] = KID.into();
    }
    if let Some(e) = &h.extra {
        v["crit"] = serde_json::json!([e]);
    }
    v.to_string()
}

fn mutate(token: &str, m: &Mutation) -> String {
    let mut bytes = token.as_bytes().to_vec();
    let at = |i: u16, len: usize| if len == 0 { 0 } else { usize::from(i) % len };
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    match m {
        Mutation::SetByte(i, b) => {
            let i = at(*i, bytes.len());
            if let Some(x) = bytes.get_mut(i) {
                *x = *b;
            }
        }
        Mutation::Insert(i, b) => bytes.insert(at(*i, bytes.len() + 1), *b),
        Mutation::Remove(i) => {
            if !bytes.is_empty() {
                bytes.remove(at(*i, bytes.len()));
            }
        }
        Mutation::Truncate(i) => bytes.truncate(at(*i, bytes.len())),
        Mutation::SwapParts(a, b) => {
            let n = parts.len();
            parts.swap(usize::from(*a) % n, usize::from(*b) % n);
            return parts.join(".");
        }
        Mutation::DuplicatePart(a) => {
            let p = parts[usize::from(*a) % parts.len()].clone();
            parts.push(p);
            return parts.join(".");
        }
        Mutation::Header(h) => {
            parts[0] = URL_SAFE_NO_PAD.encode(header_json(h));
            return parts.join(".");
        }
        Mutation::Payload(p) => {
            if parts.len() > 1 {
                parts[1] = URL_SAFE_NO_PAD.encode(p);
            }
            return parts.join(".");
        }
        Mutation::Append(s) => return format!("{token}{s}"),
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fuzz_target!(|data: &[u8]| {
    // 1. The input itself as a presented token (the corpus holds real ones to start from).
    if let Ok(text) = std::str::from_utf8(data) {
        examine(text);
    }

    // 2. A real token from input-derived claims, then mutated.
    let mut u = Unstructured::new(data);
    let Ok(cg) = ClaimsGen::arbitrary(&mut u) else {
        return;
    };
    let iat = now();
    let claims = AccessClaims {
        iss: if cg.right_issuer {
            ISSUER.into()
        } else {
            format!("{ISSUER}/other")
        },
        sub: cg.sub.clone(),
        client_id: cg.sub,
        org_id: cg.org_id,
        aud: ISSUER.into(),
        iat,
        exp: iat.saturating_add(i64::from(cg.exp_offset)),
        jti: cg.jti,
        scope: cg.scope,
    };
    let token = keys().signer.sign(&claims).expect("claims serialise");
    let accepted = examine(&token);
    // Two seconds of margin: the clock may tick between signing and verifying.
    if cg.right_issuer && cg.exp_offset > 2 {
        assert_eq!(
            accepted.as_ref(),
            Some(&claims),
            "a genuine token is accepted"
        );
    } else if !cg.right_issuer || cg.exp_offset < -2 {
        assert_eq!(accepted, None, "wrong issuer or expired");
    }

    // `arbitrary` keeps producing defaults once the data runs out: stop there, and bound the
    // chain so one input stays cheap.
    let mut current = token;
    for _ in 0..16 {
        if u.is_empty() {
            break;
        }
        let Ok(m) = Mutation::arbitrary(&mut u) else {
            break;
        };
        current = mutate(&current, &m);
        examine(&current);
    }
});
