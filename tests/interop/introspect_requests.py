"""RFC 7662 introspection with plain requests and HTTP Basic client authentication."""

import requests

from common import (
    CLIENT_ID,
    CLIENT_SECRET,
    ISSUER,
    TIMEOUT,
    check_eq,
    flip_signature,
    main,
    raw_token,
)

URL = f"{ISSUER}/oauth/introspect"


def introspect(token, **extra):
    r = requests.post(URL, data={"token": token, **extra}, auth=(CLIENT_ID, CLIENT_SECRET),
                      timeout=TIMEOUT)
    check_eq(r.status_code, 200, f"introspection status (body {r.text!r})")
    check_eq(r.headers.get("Cache-Control"), "no-store", "Cache-Control")
    return r.json()


def run():
    token = raw_token(scope="read:projects/7")["access_token"]

    active = introspect(token, token_type_hint="access_token")
    check_eq(active.get("active"), True, "active")
    check_eq(active.get("client_id"), CLIENT_ID, "client_id")
    check_eq(active.get("sub"), CLIENT_ID, "sub")
    check_eq(active.get("scope"), "read:projects/7", "scope")
    check_eq(active.get("token_type"), "Bearer", "token_type")
    check_eq(active.get("iss"), ISSUER, "iss")
    check_eq(active.get("aud"), ISSUER, "aud")
    check_eq(active["exp"] - active["iat"], 600, "exp - iat")

    garbage = introspect("not-a-token")
    check_eq(garbage, {"active": False}, "garbage token")
    garbage_jwt = introspect(flip_signature(token))
    check_eq(garbage_jwt, {"active": False}, "token with a broken signature")

    # RFC 7662 §2.1: the caller must authenticate.
    r = requests.post(URL, data={"token": token}, timeout=TIMEOUT)
    check_eq(r.status_code, 401, f"unauthenticated introspection (body {r.text!r})")
    check_eq(r.json().get("error"), "invalid_client", "unauthenticated introspection error")

    return {"active": active, "garbage": garbage}


if __name__ == "__main__":
    main(run)
