"""Schemathesis hooks for tests/schemathesis.rs (loaded through SCHEMATHESIS_HOOKS).

The test gives the run four keys of org `default`, by id in the environment:

- `LATCHKEY_ADMIN_KEY_ID`: the bootstrap admin key (`*:*`), whose secret authenticates every
  admin call (`Authorization: Bearer`, schemathesis.toml);
- `LATCHKEY_CLIENT_KEY_ID`: the OAuth client of `POST /oauth/token` (HTTP Basic);
- `LATCHKEY_TARGET_KEY_ID`: what every generated `{id}` names, so that reads, edits and rolls
  reach a real key instead of a 404;
- `LATCHKEY_REVOKED_KEY_ID`: what `DELETE /v1/keys/{id}` and `POST /v1/keys/{id}/revoke` name
  (revocation is idempotent: every call reaches a real key).

The stateful phase also uses the ids that responses return, and `GET /v1/keys` lists all of
these. Revoking, rolling or editing the admin or client key would lock the run out of its own
server (every later request a 401), and revoking the target key would make every later edit a
409; so such a call goes to a well-formed id that no key has, which the server answers 404 like
any unknown key. The keys the stateful phase creates are revoked, read and edited freely.
"""

import base64
import os

import schemathesis

ADMIN_KEY_ID = os.environ["LATCHKEY_ADMIN_KEY_ID"]
CLIENT_KEY_ID = os.environ["LATCHKEY_CLIENT_KEY_ID"]
TARGET_KEY_ID = os.environ["LATCHKEY_TARGET_KEY_ID"]
# `key_` + 22 URL-safe characters, as the server's ids; no key has it.
DECOY_KEY_ID = "key_NotARealKeyDecoy00000"
REVOKING = {("DELETE", "/v1/keys/{id}"), ("POST", "/v1/keys/{id}/revoke")}


def _issued_cursor(text):
    """Whether `text` has the shape of a cursor the server issues (base64url, no padding)."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return False
    head, _, tail = raw.partition(".")
    return (head == "evt" and tail.isdigit()) or (head.isdigit() and tail.startswith("key_"))


@schemathesis.hook
def before_call(context, case, kwargs):
    method = case.method.upper()
    params = case.path_parameters
    if params and "id" in params and method != "GET":
        key = params["id"]
        if key in (ADMIN_KEY_ID, CLIENT_KEY_ID) or (
            key == TARGET_KEY_ID and (method, case.path) in REVOKING
        ):
            params["id"] = DECOY_KEY_ID
    # Cursors are opaque: the server refuses any it did not issue (422, "is not a cursor
    # returned by this API"), and Schemathesis can only invent them. One that does not come
    # from a response is left out; paging itself is tested in tests/api.
    query = case.query
    if query and "cursor" in query:
        cursor = query["cursor"]
        if not (isinstance(cursor, str) and _issued_cursor(cursor)):
            del query["cursor"]
    # The token endpoint's client authenticates with HTTP Basic (schemathesis.toml); credentials
    # in the form as well are `invalid_request` (SPEC.md: never both), so the form's own
    # `client_id` and `client_secret` are left out.
    if method == "POST" and case.path == "/oauth/token" and isinstance(case.body, dict):
        case.body.pop("client_id", None)
        case.body.pop("client_secret", None)
