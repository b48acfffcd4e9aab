"""Authlib's RFC 7523 `private_key_jwt` client authentication (authlib.oauth2.rfc7523.PrivateKeyJWT)
with its requests-based OAuth2Session, for keys without a secret.

For each of EdDSA (Ed25519), ES256 (P-256) and RS256 (RSA 2048): a key pair generated with
`cryptography`, its public JWK exported by joserfc (authlib's JOSE backend) with the RFC 7638
thumbprint as kid, a key created through the admin API with that JWK and `"secret": false`, then
OAuth2Session with the `private_key_jwt` method registered: a client-credentials token, a second
one (a fresh assertion), introspection of it and its revocation, each authenticated by an
assertion whose audience is the endpoint's own URL (PrivateKeyJWT with no fixed endpoint).
EdDSA and ES256 keys are handed over as joserfc key objects (PrivateKeyJWT imports anything else
as RSA); the RSA key as a PEM string, the way authlib's documentation shows it.

authlib 1.9 signs assertions that expire an hour after their iat (sign_jwt_bearer_assertion's
expires_in=3600) and PrivateKeyJWT passes no lifetime down. Latchkey takes up to an hour, so
PrivateKeyJWT as it comes works (checked once, two tokens, so two jtis); the per-algorithm runs
go through a subclass that passes expires_in=60 to private_key_jwt_sign, authlib's own signing
function, as a careful client would. PrivateKeyJWT(claims={"exp": ...}) trips over authlib
writing the jti it generates into that dict: every later assertion repeats it, and the server
refuses the second as a replay (checked once too).
"""

import time

from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc.jwk import ECKey, OKPKey, RSAKey

from common import (
    ASSERTION_KEY_SCOPES,
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
INTROSPECT_URL = f"{ISSUER}/oauth/introspect"
REVOKE_URL = f"{ISSUER}/oauth/revoke"
ALGS = ["EdDSA", "ES256", "RS256"]


def generate(alg):
    """A private key from `cryptography`, as PKCS#8 PEM."""
    if alg == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
    elif alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class ShortLivedPrivateKeyJWT(PrivateKeyJWT):
    """PrivateKeyJWT whose assertions live 60 s (authlib's default is 3600 s), and which keeps
    each assertion it sends so the script can look at it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sent = []

    def sign(self, auth, token_endpoint):
        key = auth.client_secret
        if not isinstance(key, (RSAKey, ECKey, OKPKey)):
            key = RSAKey.import_key(key)
        assertion = private_key_jwt_sign(
            key,
            client_id=auth.client_id,
            token_endpoint=token_endpoint,
            claims=self.claims,
            header=self.headers,
            alg=self.alg,
            expires_in=60,
        )
        self.sent.append(assertion)
        return assertion


def session(client_id, key, method):
    s = OAuth2Session(
        client_id,
        key,
        token_endpoint_auth_method="private_key_jwt",
        revocation_endpoint_auth_method="private_key_jwt",
    )
    s.register_client_auth_method(method)
    return s


def token(s):
    return s.fetch_token(TOKEN_URL, grant_type="client_credentials", timeout=TIMEOUT)


def refused(what, s):
    try:
        t = token(s)
    except OAuthError as e:
        return {"error": e.error, "description": e.description}
    raise AssertionError(f"{what}: expected an OAuthError, got a token {dict(t)!r}")


def check_access_token(t, client_id, what):
    check(isinstance(t.get("access_token"), str) and t["access_token"].count(".") == 2,
          f"{what}: access_token is not a compact JWS", token=t)
    check_eq(t.get("token_type"), "Bearer", f"{what}: token_type")
    check_eq(t.get("scope"), " ".join(ASSERTION_KEY_SCOPES), f"{what}: scope")
    header, claims = jwt_parts(t["access_token"])
    check_eq(header.get("typ"), "at+jwt", f"{what}: access token typ")
    check_eq(claims.get("iss"), ISSUER, f"{what}: access token iss")
    check_eq(claims.get("client_id"), client_id, f"{what}: access token client_id")
    return claims


def check_assertion(assertion, alg, kid, client_id, aud, what):
    header, claims = jwt_parts(assertion)
    check_eq(header.get("alg"), alg, f"{what}: assertion alg")
    check_eq(header.get("kid"), kid, f"{what}: assertion kid")
    check_eq((claims.get("iss"), claims.get("sub")), (client_id, client_id), f"{what}: iss, sub")
    check_eq(claims.get("aud"), aud, f"{what}: assertion aud")
    check(isinstance(claims.get("jti"), str) and claims["jti"], f"{what}: jti", claims=claims)
    return claims


def one_algorithm(alg):
    pem = generate(alg)
    key = {"EdDSA": OKPKey, "ES256": ECKey, "RS256": RSAKey}[alg].import_key(pem)
    kid = key.thumbprint()
    jwk = {**key.as_dict(private=False), "kid": kid}
    check(all(m not in jwk for m in ("d", "p", "q")), f"{alg}: the JWK is public", jwk=jwk)
    client_id = create_key(f"authlib {alg}", [jwk])

    method = ShortLivedPrivateKeyJWT(headers={"kid": kid}, alg=alg)
    # The RSA key the way authlib's documentation hands it over: a PEM string.
    s = session(client_id, pem.decode() if alg == "RS256" else key, method)
    first = token(s)
    claims = check_access_token(first, client_id, f"{alg} first token")
    second = token(s)
    check_access_token(second, client_id, f"{alg} second token")
    check(first["access_token"] != second["access_token"], f"{alg}: two distinct tokens")

    introspected = s.introspect_token(INTROSPECT_URL, token=second["access_token"], timeout=TIMEOUT)
    check_eq(introspected.status_code, 200, f"{alg}: introspection status ({introspected.text})")
    active = introspected.json()
    check_eq((active.get("active"), active.get("client_id")), (True, client_id), f"{alg}: introspection")
    revoked = s.revoke_token(REVOKE_URL, token=second["access_token"], timeout=TIMEOUT)
    check_eq(revoked.status_code, 200, f"{alg}: revocation status ({revoked.text})")
    after = s.introspect_token(INTROSPECT_URL, token=second["access_token"], timeout=TIMEOUT).json()
    check_eq(after, {"active": False}, f"{alg}: introspection after revocation")

    check_eq(len(method.sent), 5, f"{alg}: assertions sent (2 tokens, 2 introspections, 1 revocation)")
    auds = [TOKEN_URL, TOKEN_URL, INTROSPECT_URL, REVOKE_URL, INTROSPECT_URL]
    sent = [check_assertion(a, alg, kid, client_id, aud, f"{alg} assertion {i}")
            for i, (a, aud) in enumerate(zip(method.sent, auds))]
    check_eq(len({c["jti"] for c in sent}), len(sent), f"{alg}: one jti per assertion")
    return {
        "key_id": client_id,
        "sub": claims["sub"],
        "assertion_alg": jwt_parts(method.sent[0])[0]["alg"],
        "assertion_lifetime": sent[0]["exp"] - sent[0]["iat"],
        "second_token": True,
        "introspected": active["active"],
        "revoked": after["active"] is False,
    }


def run():
    check_private_key_jwt_metadata(ALGS)
    results = {alg: one_algorithm(alg) for alg in ALGS}

    # PrivateKeyJWT as it comes: hour-long assertions, taken, one token per fresh jti.
    pem = generate("ES256")
    key = ECKey.import_key(pem)
    kid = key.thumbprint()
    client_id = create_key("authlib stock", [{**key.as_dict(private=False), "kid": kid}])
    stock_session = session(client_id, key, PrivateKeyJWT(headers={"kid": kid}, alg="ES256"))
    check_access_token(token(stock_session), client_id, "stock PrivateKeyJWT, first token")
    check_access_token(token(stock_session), client_id, "stock PrivateKeyJWT, second token")
    stock = {"ok": True}

    # PrivateKeyJWT(claims={"exp": ...}): authlib stores the jti it generates in that dict, so
    # the second assertion repeats the first's jti, and the server refuses it as a replay.
    pinned = PrivateKeyJWT(claims={"exp": int(time.time()) + 60}, headers={"kid": kid}, alg="ES256")
    s = session(client_id, key, pinned)
    check_access_token(token(s), client_id, "claims-pinned first token")
    replayed = refused("claims-pinned second token", s)

    return {
        "algs": [alg for alg in ALGS if results[alg]["second_token"]],
        "results": results,
        "stock_lifetime": stock,
        "claims_dict_replay": replayed,
    }


if __name__ == "__main__":
    main(run)
