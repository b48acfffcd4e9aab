//! Token requests authenticated by `private_key_jwt`, for `bench/oauth.sh token-pkjwt`: each
//! assertion is single-use, so wrk cannot repeat one body; this writes as many as a run needs,
//! one per line, for `post.lua` to send in turn (`BENCH_BODIES`).
//!
//!   assertion_bodies keygen DIR                 # DIR/key.jwk (public) and DIR/key.pk8 (private)
//!   assertion_bodies sign DIR KEY_ID AUD COUNT  # DIR/bodies: COUNT form bodies, an hour valid
//!
//! Ed25519 (what most clients would pick), each with a fresh `jti`.

use std::io::Write;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signer, SigningKey};

const KID: &str = "bench";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("keygen") => {
            let dir = std::path::Path::new(&args[2]);
            let mut seed = [0u8; 32];
            rand::fill(&mut seed);
            let key = SigningKey::from_bytes(&seed);
            let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
            let jwk = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": KID});
            std::fs::write(dir.join("key.jwk"), jwk.to_string())?;
            std::fs::write(
                dir.join("key.pk8"),
                key.to_pkcs8_der()
                    .map_err(|e| anyhow::anyhow!("{e}"))?
                    .as_bytes(),
            )?;
        }
        Some("sign") => {
            let dir = std::path::Path::new(&args[2]);
            let (key_id, aud) = (&args[3], &args[4]);
            let count: usize = args[5].parse()?;
            let key = SigningKey::from_pkcs8_der(&std::fs::read(dir.join("key.pk8"))?)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"EdDSA","kid":"{KID}"}}"#));
            let now = chrono::Utc::now().timestamp();
            let mut out = std::io::BufWriter::new(std::fs::File::create(dir.join("bodies"))?);
            for i in 0..count {
                let claims = serde_json::json!({
                    "iss": key_id, "sub": key_id, "aud": aud, "iat": now, "exp": now + 3600,
                    "jti": format!("bench-{now}-{i}"),
                });
                let signed = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
                let signature = URL_SAFE_NO_PAD.encode(key.sign(signed.as_bytes()).to_bytes());
                writeln!(
                    out,
                    "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={signed}.{signature}"
                )?;
            }
        }
        _ => anyhow::bail!("usage: assertion_bodies keygen DIR | sign DIR KEY_ID AUD COUNT"),
    }
    Ok(())
}
