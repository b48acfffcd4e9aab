//! A fake OpenID issuer on loopback for the federation and `jwks_uri` tests: its discovery
//! document and its JWKS over real HTTP (a thread with a `TcpListener`: one request per
//! connection, `Connection: close`), tokens signed by real keys, and switches for what a test
//! needs to see: the issuer down, a `Cache-Control`, a discovery document naming another
//! issuer, and how often each document was fetched.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use latchkey::crypto::signing::{SigningAlg, generate, rsa_pkcs1_from_pkcs8};
use serde_json::{Value, json};

/// A signing key of the issuer (or of a client publishing its own JWKS).
pub struct Signer {
    pub jwk: Value,
    pub kid: String,
    pub alg: Algorithm,
    encoding: EncodingKey,
}

impl Signer {
    pub fn new(alg: SigningAlg) -> Signer {
        let g = generate(alg).unwrap();
        let jwk: Value = serde_json::from_str(&g.public_jwk).unwrap();
        let (encoding, alg) = match alg {
            SigningAlg::EdDsa => (EncodingKey::from_ed_der(&g.private_pkcs8), Algorithm::EdDSA),
            SigningAlg::Es256 => (EncodingKey::from_ec_der(&g.private_pkcs8), Algorithm::ES256),
            SigningAlg::Rs256 => (
                EncodingKey::from_rsa_der(&rsa_pkcs1_from_pkcs8(&g.private_pkcs8).unwrap()),
                Algorithm::RS256,
            ),
        };
        Signer {
            jwk,
            kid: g.kid,
            alg,
            encoding,
        }
    }

    /// `claims` signed, with this key's `kid` (or `kid` when given).
    pub fn sign(&self, claims: &Value, kid: Option<&str>) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(kid.unwrap_or(&self.kid).to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

#[derive(Default)]
struct State {
    keys: Vec<Value>,
    cache_control: Option<String>,
    down: bool,
    /// `issuer` of the discovery document when it is not the issuer's own.
    claimed_issuer: Option<String>,
    discovery_fetches: usize,
    jwks_fetches: usize,
}

pub struct FakeIssuer {
    /// `http://127.0.0.1:PORT`, the issuer identifier.
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl FakeIssuer {
    pub fn start() -> FakeIssuer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let (shared, issuer) = (state.clone(), url.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut line = String::new();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                // The headers, up to the blank line (GET has no body).
                let mut header = String::new();
                while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                    header.clear();
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let (status, body, cache) = {
                    let mut s = shared.lock().unwrap();
                    match path.as_str() {
                        _ if s.down => (503, json!({"error": "down"}), None),
                        "/.well-known/openid-configuration" => {
                            s.discovery_fetches += 1;
                            let named = s.claimed_issuer.clone().unwrap_or(issuer.clone());
                            (
                                200,
                                json!({"issuer": named, "jwks_uri": format!("{issuer}/jwks"),
                                       "id_token_signing_alg_values_supported": ["RS256", "ES256"]}),
                                None,
                            )
                        }
                        "/jwks" => {
                            s.jwks_fetches += 1;
                            (200, json!({"keys": s.keys}), s.cache_control.clone())
                        }
                        _ => (404, json!({"error": "not found"}), None),
                    }
                };
                let body = body.to_string();
                let cache = cache.map_or(String::new(), |c| format!("Cache-Control: {c}\r\n"));
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{cache}Connection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        FakeIssuer { url, state }
    }

    /// Publishes `signer`'s public key (after the others).
    pub fn publish(&self, signer: &Signer) {
        self.state.lock().unwrap().keys.push(signer.jwk.clone());
    }

    /// Sends this `Cache-Control` with the JWKS.
    pub fn cache_control(&self, value: &str) {
        self.state.lock().unwrap().cache_control = Some(value.to_owned());
    }

    /// Answers every request with a 503 while `down`.
    pub fn set_down(&self, down: bool) {
        self.state.lock().unwrap().down = down;
    }

    /// Makes the discovery document name `issuer` instead of this one.
    pub fn claim_issuer(&self, issuer: &str) {
        self.state.lock().unwrap().claimed_issuer = Some(issuer.to_owned());
    }

    /// (discovery, JWKS) fetches so far.
    pub fn fetches(&self) -> (usize, usize) {
        let s = self.state.lock().unwrap();
        (s.discovery_fetches, s.jwks_fetches)
    }

    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.url)
    }
}
