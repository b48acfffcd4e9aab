"""PyJWT as a resource server across signing-key rotations: the org's next key is promoted, then
the org moves to RS256 and ES256 at once (immediate rotations). Every token is verified with the
algorithm of its JWK only, and tokens signed before each rotation keep verifying while their key
is published.

A promotion signs with the next key, which was in the JWKS before the rotation: a PyJWKClient with
its defaults, whose cached key set predates the rotation, verifies the promoted key's first token
without fetching the JWKS again. An immediate rotation signs with a fresh key at once, so for those
the client is told not to wait between refetches (cooldown_duration=0): by default PyJWKClient
(like jose's createRemoteJWKSet) refetches for an unknown kid at most every 30 s."""

import jwt
from jwt import PyJWKClient

from common import (
    CLIENT_ID,
    ISSUER,
    TIMEOUT,
    check,
    check_eq,
    main,
    metadata,
    raw_token,
    rotate_signing_key,
)

REQUIRED = ["iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope", "org_id"]


def verify(token, jwks_client):
    """The key by kid; the algorithm from that key's JWK, never from the token."""
    signing_key = jwks_client.get_signing_key_from_jwt(token)
    return jwt.decode(
        token,
        signing_key.key,
        algorithms=[signing_key.algorithm_name],
        issuer=ISSUER,
        audience=ISSUER,
        options={"require": REQUIRED},
    )


def run():
    md = metadata()
    for alg in ["EdDSA", "RS256", "ES256"]:
        check(alg in md["id_token_signing_alg_values_supported"], f"{alg} advertised", md=md)
    jwks_client = PyJWKClient(md["jwks_uri"], timeout=TIMEOUT, cooldown_duration=0)

    tokens = [raw_token()["access_token"]]
    verify(tokens[0], jwks_client)

    # A caching verifier with PyJWKClient's defaults, its key set fetched before the promotion.
    cached = PyJWKClient(md["jwks_uri"], timeout=TIMEOUT)
    fetches = []
    fetch_data = cached.fetch_data
    cached.fetch_data = lambda: fetches.append(1) or fetch_data()
    verify(tokens[0], cached)
    check_eq(len(fetches), 1, "the caching client fetched the JWKS once")
    promoted = rotate_signing_key()
    token = raw_token()["access_token"]
    check_eq(jwt.get_unverified_header(token).get("kid"), promoted["kid"], "the next key signs")
    verify(token, cached)
    promoted_from_cache = len(fetches) == 1
    tokens.append(token)

    earlier_verified = []
    for alg in ["RS256", "ES256"]:
        new_key = rotate_signing_key(alg, immediate=True)
        token = raw_token()["access_token"]
        header = jwt.get_unverified_header(token)
        check_eq(header.get("alg"), alg, "header alg after the rotation")
        check_eq(header.get("kid"), new_key["kid"], "header kid is the new key")
        check_eq(header.get("typ"), "at+jwt", "header typ")
        claims = verify(token, jwks_client)
        check_eq(claims["sub"], CLIENT_ID, "sub")
        tokens.append(token)
        # Every token signed before this rotation still verifies.
        for earlier in tokens[:-1]:
            verify(earlier, jwks_client)
        earlier_verified.append(len(tokens) - 1)  # how many tokens signed before it verify

    kids = [jwt.get_unverified_header(t)["kid"] for t in tokens]
    published = {k.key_id for k in jwks_client.get_signing_keys(refresh=True)}
    check(set(kids) <= published, "every kid is published", kids=kids, published=published)

    # An RS256 token verified as ES256 (what a confused verifier might try) must fail.
    rs256_key = jwks_client.get_signing_key(kids[2])
    try:
        jwt.decode(tokens[2], rs256_key.key, algorithms=["ES256"], issuer=ISSUER, audience=ISSUER)
    except jwt.InvalidAlgorithmError:
        wrong_alg_refused = True
    else:
        wrong_alg_refused = False

    return {
        "algs": [jwt.get_unverified_header(t)["alg"] for t in tokens],
        "kids_distinct": len(set(kids)) == len(kids),
        "published": len(published),
        "earlier_tokens_verified": earlier_verified,
        "promoted_from_cache": promoted_from_cache,
        "wrong_alg_refused": wrong_alg_refused,
        "sub": CLIENT_ID,
    }


if __name__ == "__main__":
    main(run)
