"""PyJWT as a resource server would use it: discover jwks_uri (RFC 8414), fetch the signing key
with PyJWKClient and verify the access token (RFC 9068) with EdDSA, issuer and audience."""

import jwt
from jwt import PyJWKClient

from common import (
    CLIENT_ID,
    ISSUER,
    TIMEOUT,
    check,
    check_eq,
    flip_signature,
    main,
    metadata,
    raw_token,
)

REQUIRED = ["iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope", "org_id"]


def verify(token, jwks_client):
    signing_key = jwks_client.get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        signing_key.key,
        algorithms=["EdDSA"],
        issuer=ISSUER,
        audience=ISSUER,
        options={"require": REQUIRED},
    )
    return signing_key, claims


def run():
    md = metadata()
    check_eq(md["jwks_uri"], f"{ISSUER}/.well-known/jwks.json", "jwks_uri")
    jwks_client = PyJWKClient(md["jwks_uri"], timeout=TIMEOUT)

    token = raw_token()["access_token"]
    header = jwt.get_unverified_header(token)
    check_eq(header.get("typ"), "at+jwt", "header typ")
    check_eq(header.get("alg"), "EdDSA", "header alg")
    check(header.get("kid"), "header has a kid", header=header)

    signing_key, claims = verify(token, jwks_client)
    check_eq(signing_key.key_id, header["kid"], "JWKS key id")
    check_eq(claims["sub"], CLIENT_ID, "sub")
    check_eq(claims["client_id"], CLIENT_ID, "client_id")
    check_eq(claims["scope"], "read:projects/** write:projects/42", "scope")
    check_eq(claims["exp"] - claims["iat"], 600, "exp - iat")
    check(isinstance(claims["jti"], str) and claims["jti"], "jti is a non-empty string")

    scoped = raw_token(scope="write:projects/42")["access_token"]
    _, scoped_claims = verify(scoped, jwks_client)
    check_eq(scoped_claims["scope"], "write:projects/42", "narrowed scope claim")
    check(scoped_claims["jti"] != claims["jti"], "every token has its own jti")

    # A flipped signature byte must not verify.
    tampered = flip_signature(token)
    try:
        verify(tampered, jwks_client)
    except jwt.InvalidSignatureError:
        pass
    else:
        raise AssertionError("a tampered signature verified")

    # The wrong audience must not verify either.
    try:
        jwt.decode(token, signing_key.key, algorithms=["EdDSA"], issuer=ISSUER,
                   audience="https://somebody-else.example")
    except jwt.InvalidAudienceError:
        pass
    else:
        raise AssertionError("a token verified for another audience")

    return {"kid": header["kid"], "typ": header["typ"], "sub": claims["sub"],
            "scope": claims["scope"], "ttl": claims["exp"] - claims["iat"]}


if __name__ == "__main__":
    main(run)
