"""joserfc (authlib's JOSE library) as a resource server: the JWKS from the discovered metadata,
a token verified and its claims validated (issuer, audience, expiry), a tampered token refused.
Run by tests/interop.rs with the venv's python; prints one JSON line on success."""

import os

import requests
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from common import (
    CLIENT_ID,
    CLIENT_SECRET,
    ISSUER,
    TIMEOUT,
    check,
    check_eq,
    flip_signature,
    main,
    metadata,
)

# RFC 8707: when set, tokens are asked for this resource, which is then their audience.
RESOURCE = os.environ.get("INTEROP_RESOURCE") or None
AUDIENCE = RESOURCE or ISSUER


def fetch_token():
    """A token from the discovered token endpoint, for RESOURCE when set."""
    data = {"grant_type": "client_credentials", "scope": "read:projects/**"}
    if RESOURCE:
        data["resource"] = RESOURCE
    r = requests.post(md["token_endpoint"], data=data, auth=(CLIENT_ID, CLIENT_SECRET), timeout=TIMEOUT)
    check_eq(r.status_code, 200, f"token status (body {r.text!r})")
    return r.json()["access_token"]


md = {}


def run():
    md.update(metadata())
    keys = KeySet.import_key_set(requests.get(md["jwks_uri"], timeout=TIMEOUT).json())
    access_token = fetch_token()
    token = jwt.decode(access_token, keys, algorithms=["EdDSA", "ES256", "RS256"])
    check_eq(token.header["typ"], "at+jwt", "typ")
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": AUDIENCE},
        exp={"essential": True},
        client_id={"essential": True},
    )
    registry.validate(token.claims)
    check_eq(token.claims["scope"], "read:projects/**", "scope")
    try:
        jwt.decode(flip_signature(access_token), keys, algorithms=["EdDSA", "ES256", "RS256"])
        check(False, "a tampered token was accepted")
    except BadSignatureError:
        pass
    return {"alg": token.header["alg"], "sub": token.claims["sub"], "scope": token.claims["scope"]}


main(run)
