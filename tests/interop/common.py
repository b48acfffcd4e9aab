"""Shared helpers for the Python interop scripts (run by tests/interop.rs with the venv's python).

The harness passes the server under test through the environment:
INTEROP_ISSUER (e.g. http://127.0.0.1:PORT), INTEROP_CLIENT_ID, INTEROP_CLIENT_SECRET, and
INTEROP_ADMIN_SECRET (the org's `*:*` admin secret, for scripts that rotate signing keys).
Each script prints exactly one JSON line on success, or fails with a message and a non-zero exit.
"""

import json
import os
import sys

import requests

ISSUER = os.environ["INTEROP_ISSUER"]
CLIENT_ID = os.environ["INTEROP_CLIENT_ID"]
CLIENT_SECRET = os.environ["INTEROP_CLIENT_SECRET"]
ADMIN_SECRET = os.environ.get("INTEROP_ADMIN_SECRET")
TIMEOUT = 10


class CheckFailed(AssertionError):
    pass


def check(condition, message, **context):
    """Like assert, but never optimised away and with the values that mattered."""
    if not condition:
        detail = " ".join(f"{k}={v!r}" for k, v in context.items())
        raise CheckFailed(f"{message} {detail}".rstrip())


def check_eq(actual, expected, what):
    check(actual == expected, f"{what}: expected {expected!r}, got {actual!r}")


def metadata_url(issuer=ISSUER):
    """RFC 8414 §3.1: the well-known segment goes between the host and the issuer's path (its
    terminating "/" removed), so an issuer with a path or a trailing slash is found too."""
    scheme, rest = issuer.split("://", 1)
    host, _, path = rest.partition("/")
    path = path.rstrip("/")
    return f"{scheme}://{host}/.well-known/oauth-authorization-server{'/' + path if path else ''}"


def metadata():
    """RFC 8414 authorization-server metadata."""
    r = requests.get(metadata_url(), timeout=TIMEOUT)
    check_eq(r.status_code, 200, "metadata status")
    md = r.json()
    check_eq(md["issuer"], ISSUER, "metadata issuer")
    return md


def raw_token(scope=None):
    """A token fetched with plain requests (Basic auth), independent of the OAuth libraries."""
    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    r = requests.post(
        f"{ISSUER}/oauth/token",
        data=data,
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=TIMEOUT,
    )
    check_eq(r.status_code, 200, f"token status (body {r.text!r})")
    return r.json()


def rotate_signing_key(alg=None, immediate=False):
    """POST /v1/signing-keys/rotate as the org's admin, for a rotation that signs at once (a
    promotion of the next key, or `immediate`); returns the new key's view."""
    check(ADMIN_SECRET, "INTEROP_ADMIN_SECRET is set")
    body = {"immediate": immediate}
    if alg is not None:
        body["alg"] = alg
    r = requests.post(
        f"{ISSUER}/v1/signing-keys/rotate",
        json=body,
        headers={"Authorization": f"Bearer {ADMIN_SECRET}"},
        timeout=TIMEOUT,
    )
    check_eq(r.status_code, 201, f"rotate status (body {r.text!r})")
    return r.json()["signing_key"]


def flip_signature(jws):
    """The same compact JWS with the first signature character changed: never a valid signature."""
    head, payload, sig = jws.split(".")
    return f"{head}.{payload}.{'B' if sig[0] == 'A' else 'A'}{sig[1:]}"


def emit(result):
    print(json.dumps(result, sort_keys=True))
    sys.stdout.flush()


def main(run):
    try:
        emit(run())
    except CheckFailed as e:
        print(f"CHECK FAILED: {e}", file=sys.stderr)
        sys.exit(1)
