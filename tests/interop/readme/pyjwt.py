import os

import jwt  # pip install "pyjwt[crypto]"

ISSUER = os.environ["LATCHKEY_ISSUER"]
AUDIENCE = os.environ.get("LATCHKEY_AUDIENCE", ISSUER)
jwks = jwt.PyJWKClient(ISSUER.rstrip("/") + "/.well-known/jwks.json")


def verify(token: str) -> dict:
    """The token's claims, or jwt.InvalidTokenError."""
    key = jwks.get_signing_key_from_jwt(token)  # by kid; an unknown kid refetches the JWKS
    return jwt.decode(token, key, algorithms=[key.algorithm_name], issuer=ISSUER, audience=AUDIENCE,
                      options={"require": ["exp", "iat", "iss", "aud", "sub"]})
