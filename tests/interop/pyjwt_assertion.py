"""RFC 7523 client assertions built by hand with PyJWT and sent with plain requests: no OAuth
library in between, so every claim and header is the script's own.

For each of EdDSA (Ed25519), ES256 (P-256) and RS256 (RSA 2048): a key pair from `cryptography`,
its public JWK exported by PyJWT (`Algorithm.to_jwk`) with a kid, a key created through the admin
API without a secret; then a client-credentials token with an assertion (the audience is the
token endpoint URL, the issuer, or an array holding the issuer, with `client_id` in the body for
one of them), and the same assertion sent again, which is refused as a replay.

Then the refusals a resource owner counts on, each 401 `invalid_client` with a description that
says which check failed: `alg: none`; HS256 keyed with the Ed25519 JWK's `x` and with the RSA
public key's PEM (algorithm confusion); a valid signature by another key under the right kid; an
expired assertion; one valid for two hours (more than the hour allowed); and HTTP Basic with a
made-up secret for a key created with `"secret": false`. A fresh, good assertion still works
after all that.
"""

import base64
import hashlib
import hmac
import json
import secrets
import time

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import get_default_algorithms

from common import (
    ASSERTION_KEY_SCOPES,
    ASSERTION_TYPE,
    ISSUER,
    TIMEOUT,
    check,
    check_eq,
    check_private_key_jwt_metadata,
    create_key,
    jwt_parts,
    main,
)

TOKEN_URL = f"{ISSUER}/oauth/token"
ALGS = ["EdDSA", "ES256", "RS256"]
# Each algorithm's assertions name the audience a different way RFC 7523 §3 allows.
AUDIENCES = {"EdDSA": TOKEN_URL, "ES256": [ISSUER], "RS256": ISSUER}


def generate(alg):
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(alg, private, kid):
    jwk = get_default_algorithms()[alg].to_jwk(private.public_key(), as_dict=True)
    return {**jwk, "kid": kid}


def claims(client_id, aud=TOKEN_URL, **changes):
    now = int(time.time())
    c = {"iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": now + 60,
         "jti": secrets.token_urlsafe(16)}
    c.update(changes)
    return c


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_signed(header, payload, sign):
    """A compact JWS put together byte by byte, for what PyJWT refuses to make."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


def post_token(assertion, client_id=None, auth=None):
    data = {"grant_type": "client_credentials"}
    if assertion is not None:
        data.update({"client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion})
    if client_id is not None:
        data["client_id"] = client_id
    return requests.post(TOKEN_URL, data=data, auth=auth, timeout=TIMEOUT)


def granted(r, client_id, what):
    check_eq(r.status_code, 200, f"{what}: token status (body {r.text!r})")
    t = r.json()
    check_eq(t.get("scope"), " ".join(ASSERTION_KEY_SCOPES), f"{what}: scope")
    header, at = jwt_parts(t["access_token"])
    check_eq(header.get("typ"), "at+jwt", f"{what}: access token typ")
    check_eq((at.get("sub"), at.get("client_id")), (client_id, client_id), f"{what}: sub, client_id")
    return at


def refusal(r, what):
    """A 401 invalid_client: its status, error and description."""
    body = r.json()
    check_eq((r.status_code, body.get("error")), (401, "invalid_client"), f"{what} (body {body!r})")
    return {"status": r.status_code, "error": body["error"],
            "description": body.get("error_description", "")}


def run():
    check_private_key_jwt_metadata(ALGS)
    keys = {}
    results = {}
    for alg in ALGS:
        private = generate(alg)
        kid = f"pyjwt-{alg.lower()}"
        client_id = create_key(f"pyjwt {alg}", [public_jwk(alg, private, kid)])
        keys[alg] = (private, kid, client_id)

        assertion = jwt.encode(claims(client_id, AUDIENCES[alg]), private, algorithm=alg,
                               headers={"kid": kid})
        check_eq(jwt_parts(assertion)[0], {"alg": alg, "kid": kid, "typ": "JWT"}, f"{alg}: header")
        # RFC 7521 §4.2: client_id is optional; sent with one of them.
        at = granted(post_token(assertion, client_id if alg == "ES256" else None), client_id, alg)
        replay = refusal(post_token(assertion), f"{alg}: the same assertion again")
        check("jti" in replay["description"], f"{alg}: the replay's description names the jti",
              replay=replay)
        results[alg] = {"key_id": client_id, "sub": at["sub"], "replay": replay}

    ed, ed_kid, ed_id = keys["EdDSA"]
    rsa_key, rsa_kid, rsa_id = keys["RS256"]
    ed_x = public_jwk("EdDSA", ed, ed_kid)["x"]
    rsa_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    now = int(time.time())
    attempts = {
        "alg_none": jwt.encode(claims(ed_id), None, algorithm="none", headers={"kid": ed_kid}),
        # PyJWT keys HS256 with the JWK's x (the bytes anyone can read from the key's view) ...
        "hs256_jwk_x": jwt.encode(claims(ed_id), ed_x.encode(), algorithm="HS256",
                                  headers={"kid": ed_kid}),
        # ... but refuses a PEM as an HMAC secret, so the classic confusion is made by hand.
        "hs256_rsa_pem": hand_signed(
            {"alg": "HS256", "typ": "JWT", "kid": rsa_kid}, claims(rsa_id),
            lambda data: hmac.new(rsa_pem, data, hashlib.sha256).digest()),
        "foreign_signature": jwt.encode(claims(ed_id), ed25519.Ed25519PrivateKey.generate(),
                                        algorithm="EdDSA", headers={"kid": ed_kid}),
        "expired": jwt.encode(claims(ed_id, iat=now - 180, exp=now - 120), ed,
                              algorithm="EdDSA", headers={"kid": ed_kid}),
        "two_hours_long": jwt.encode(claims(ed_id, exp=now + 7200), ed, algorithm="EdDSA",
                                headers={"kid": ed_kid}),
    }
    check_eq(jwt_parts(attempts["alg_none"])[0].get("alg"), "none", "alg none header")
    check(attempts["alg_none"].endswith("."), "alg none: no signature")
    refusals = {name: refusal(post_token(a), name) for name, a in attempts.items()}

    # The key holds no secret: Basic with a made-up one (well-formed or not) gets nowhere.
    made_up = "lk_" + secrets.token_urlsafe(32)
    refusals["basic_made_up_secret"] = refusal(
        post_token(None, auth=(ed_id, made_up)), "Basic with a made-up secret")
    refusals["post_made_up_secret"] = refusal(
        requests.post(TOKEN_URL, data={"grant_type": "client_credentials", "client_id": ed_id,
                                       "client_secret": made_up}, timeout=TIMEOUT),
        "client_secret_post with a made-up secret")

    # Nothing above spoiled the key: a fresh assertion works.
    after = granted(post_token(jwt.encode(claims(ed_id), ed, algorithm="EdDSA",
                                          headers={"kid": ed_kid})), ed_id, "after the refusals")
    return {
        "algs": [alg for alg in ALGS if results[alg]["sub"] == keys[alg][2]],
        "results": results,
        "refusals": refusals,
        "after_refusals_sub": after["sub"],
    }


if __name__ == "__main__":
    main(run)
