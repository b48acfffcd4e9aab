"""Shared helpers for the Python interop scripts (run by tests/interop.rs with the venv's python).

The harness passes the server under test through the environment:
INTEROP_ISSUER (e.g. http://127.0.0.1:PORT), INTEROP_CLIENT_ID, INTEROP_CLIENT_SECRET, and
INTEROP_ADMIN_SECRET (the org's `*:*` admin secret, for scripts that rotate signing keys or
create keys of their own).
Each script prints exactly one JSON line on success, or fails with a message and a non-zero exit.
"""

import base64
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


# RFC 7523 §2.2: client_assertion_type of a JWT client assertion (private_key_jwt).
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# The scopes of the keys the private_key_jwt scripts create.
ASSERTION_KEY_SCOPES = ["read:projects/**"]


def create_key(name, public_keys, secret=False):
    """POST /v1/keys as the org's admin: a key holding `public_keys` (public JWKs, each with a
    kid), without a secret unless `secret`. Checks what the answer says about both and returns
    its id."""
    check(ADMIN_SECRET, "INTEROP_ADMIN_SECRET is set")
    body = {"name": name, "scopes": ASSERTION_KEY_SCOPES, "public_keys": public_keys}
    if not secret:
        body["secret"] = False
    r = requests.post(
        f"{ISSUER}/v1/keys",
        json=body,
        headers={"Authorization": f"Bearer {ADMIN_SECRET}"},
        timeout=TIMEOUT,
    )
    check_eq(r.status_code, 201, f"creating key {name!r} (body {r.text!r})")
    created = r.json()
    check_eq(created["key"].get("public_keys"), public_keys, f"key {name!r}: public_keys")
    if secret:
        check(isinstance(created["secret"], str), f"key {name!r} has a secret", answer=created)
    else:
        check(created["secret"] is None, f"key {name!r}: no secret", answer=created)
    return created["key"]["id"]


def check_private_key_jwt_metadata(algs):
    """RFC 8414: the token endpoint takes private_key_jwt, signed with each of `algs`."""
    md = metadata()
    check("private_key_jwt" in md.get("token_endpoint_auth_methods_supported", []),
          "metadata lists private_key_jwt", metadata=md)
    advertised = md.get("token_endpoint_auth_signing_alg_values_supported", [])
    for alg in algs:
        check(alg in advertised, f"metadata lists {alg} for assertions", advertised=advertised)
    return md


def jwt_parts(jwt):
    """Header and claims of a compact JWS, read without verifying anything."""
    head, payload, _ = jwt.split(".")

    def decode(part):
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))

    return decode(head), decode(payload)


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
