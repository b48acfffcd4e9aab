"""Runs README's PyJWT snippet (tests/interop/readme/pyjwt.py) as a resource server would: a
token verified, a tampered one refused. Prints one JSON line on success."""

import os
import sys

import jwt

from common import CLIENT_ID, ISSUER, check, check_eq, flip_signature, main, raw_token

os.environ["LATCHKEY_ISSUER"] = ISSUER
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "readme"))
import pyjwt as readme  # noqa: E402  (after the environment it reads)


def run():
    token = raw_token()["access_token"]
    claims = readme.verify(token)
    check_eq(claims["sub"], CLIENT_ID, "sub")
    try:
        readme.verify(flip_signature(token))
        check(False, "a tampered token was accepted")
    except jwt.InvalidTokenError:
        pass
    return {"sub": claims["sub"], "scope": claims["scope"]}


main(run)
