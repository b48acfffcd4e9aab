"""The served OpenAPI document is valid OpenAPI 3.1, and real responses match it.

1. `openapi-spec-validator` validates `GET /v1/openapi.json` as OpenAPI 3.1 (structure, `$ref`s,
   path parameters, unique operation ids).
2. Every documented operation is then called for real, on its success and its usual error paths:
   the status must be documented for that operation, the response's media type must be one it
   documents, and the body must validate (JSON Schema 2020-12, `jsonschema`) against the
   documented schema. The output lists the operations exercised, so the harness can check that
   none was left out.
"""

import jsonschema
import referencing
import requests
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from referencing.jsonschema import DRAFT202012

from common import (
    ADMIN_SECRET,
    CLIENT_ID,
    CLIENT_SECRET,
    ISSUER,
    TIMEOUT,
    check,
    check_eq,
    main,
    raw_token,
)

DOC_URI = "urn:latchkey:openapi"


def escape(token):
    """A JSON-pointer reference token (RFC 6901 §3)."""
    return token.replace("~", "~0").replace("/", "~1")


class Contract:
    def __init__(self, doc):
        self.doc = doc
        resource = referencing.Resource.from_contents(doc, default_specification=DRAFT202012)
        self.registry = referencing.Registry().with_resource(DOC_URI, resource)
        self.exercised = set()
        self.checked = 0

    def response_pointer(self, template, method, status):
        """JSON pointer of the documented response, following a `$ref` to the components."""
        op = self.doc["paths"].get(template, {}).get(method.lower())
        check(op is not None, "operation is documented", method=method, path=template)
        self.exercised.add(op["operationId"])
        response = op["responses"].get(str(status))
        check(response is not None, "status is documented", method=method, path=template,
              status=status, documented=sorted(op["responses"]))
        if "$ref" in response:
            return response["$ref"].removeprefix("#")
        return f"/paths/{escape(template)}/{method.lower()}/responses/{status}"

    def verify(self, template, method, r):
        """`r` (a requests response to `method template`) is what the document says."""
        pointer = self.response_pointer(template, method, r.status_code)
        response = self.doc
        for token in pointer.strip("/").split("/"):
            response = response[token.replace("~1", "/").replace("~0", "~")]
        content = response.get("content", {})
        media = (r.headers.get("Content-Type") or "").split(";")[0].strip()
        if not content:
            check_eq(r.content, b"", f"body of {method} {template} {r.status_code}")
        else:
            check(media in content, "media type is documented", method=method, path=template,
                  status=r.status_code, media=media, documented=sorted(content))
            schema_ref = f"{DOC_URI}#{pointer}/content/{escape(media)}/schema"
            validator = jsonschema.Draft202012Validator(
                {"$ref": schema_ref}, registry=self.registry
            )
            is_json = media == "application/json" or media.endswith("+json")
            body = r.json() if is_json else r.text
            errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
            check(not errors, "body matches the documented schema", method=method,
                  path=template, status=r.status_code,
                  errors=[f"{list(e.path)}: {e.message}" for e in errors[:5]], body=body)
        self.checked += 1
        return r

    def call(self, method, template, expect, path_params=None, **kwargs):
        """`method template` (`{…}` filled from `path_params`), checked against the document;
        `kwargs` go to `requests.request`."""
        path = template.format(**(path_params or {}))
        r = requests.request(method, f"{ISSUER}{path}", timeout=TIMEOUT, **kwargs)
        check_eq(r.status_code, expect, f"{method} {path} status (body {r.text[:300]!r})")
        return self.verify(template, method, r)


def admin():
    return {"Authorization": f"Bearer {ADMIN_SECRET}"}


def run():
    check(ADMIN_SECRET, "INTEROP_ADMIN_SECRET is set")
    r = requests.get(f"{ISSUER}/v1/openapi.json", timeout=TIMEOUT)
    check_eq(r.status_code, 200, "document status")
    doc = r.json()
    validate(doc, cls=OpenAPIV31SpecValidator)  # raises with the first violation

    c = Contract(doc)
    c.verify("/v1/openapi.json", "GET", r)
    documented = {
        op["operationId"]
        for item in doc["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    }

    # Operations and discovery.
    for path in ["/healthz", "/readyz", "/metrics", "/.well-known/jwks.json",
                 "/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"]:
        c.call("GET", path, 200)

    # The token endpoint: success, and each error status.
    token_form = {"grant_type": "client_credentials"}
    token = c.call("POST", "/oauth/token", 200, data=token_form,
                   auth=(CLIENT_ID, CLIENT_SECRET)).json()["access_token"]
    c.call("POST", "/oauth/token", 200,
           data={**token_form, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})
    c.call("POST", "/oauth/token", 400, data={**token_form, "scope": "admin:everything"},
           auth=(CLIENT_ID, CLIENT_SECRET))
    c.call("POST", "/oauth/token", 400, data={"grant_type": "password"},
           auth=(CLIENT_ID, CLIENT_SECRET))
    c.call("POST", "/oauth/token", 401, data=token_form, auth=(CLIENT_ID, "lk_wrong"))

    # Introspection: a token, a raw key, garbage, and no client authentication.
    basic = (CLIENT_ID, CLIENT_SECRET)
    active = c.call("POST", "/oauth/introspect", 200, data={"token": token}, auth=basic).json()
    check_eq(active["active"], True, "token introspection")
    key = c.call("POST", "/oauth/introspect", 200, data={"token": CLIENT_SECRET},
                 auth=basic).json()
    check_eq(key["token_type"], "api_key", "key introspection")
    c.call("POST", "/oauth/introspect", 200, data={"token": "garbage"}, auth=basic)
    c.call("POST", "/oauth/introspect", 400, data={}, auth=basic)
    c.call("POST", "/oauth/introspect", 401, data={"token": token})

    # The admin API, through a key's whole life.
    c.call("GET", "/v1/keys", 200, headers=admin(), params={"status": "all", "limit": 1})
    c.call("GET", "/v1/keys", 401)
    draft = {"name": "openapi", "scopes": [{"action": "read", "resource": "docs/**"},
                                            "write:docs/1"],
             "allowed_cidrs": ["127.0.0.1/8"], "expires_at": "2999-01-01T00:00:00Z"}
    c.call("POST", "/v1/keys", 200, headers=admin(), json=draft, params={"dry_run": "true"})
    created = c.call("POST", "/v1/keys", 201, headers=admin(), json=draft).json()
    kid, secret = created["key"]["id"], created["secret"]
    c.call("POST", "/v1/keys", 422, headers=admin(), json={"name": "", "scopes": []})
    c.call("POST", "/v1/keys", 400, headers=admin(), data="{not json")
    c.call("POST", "/v1/keys", 413, headers=admin(), data=b"x" * (65 * 1024))
    c.call("POST", "/v1/keys", 403, headers={"Authorization": f"Bearer {CLIENT_SECRET}"},
           json=draft)
    ids = {"id": kid}
    c.call("GET", "/v1/keys/{id}", 200, ids, headers=admin())
    c.call("GET", "/v1/keys/{id}", 404, {"id": "key_AAAAAAAAAAAAAAAAAAAAAA"}, headers=admin())
    c.call("PATCH", "/v1/keys/{id}", 200, ids, headers=admin(),
           json={"allowed_cidrs": None, "expires_at": None})
    rolled = c.call("POST", "/v1/keys/{id}/roll", 200, ids, headers=admin(),
                    json={"grace_seconds": 60}).json()
    latest = c.call("POST", "/v1/keys/{id}/roll", 200, ids, headers=admin()).json()
    check(rolled["secret"] != secret, "roll gives a new secret")
    c.call("POST", "/v1/check", 200, headers=admin(),
           json={"token": rolled["secret"], "action": "read", "resource": "docs/1"})
    c.call("POST", "/v1/check", 422, headers=admin(), json={"action": "fly"})
    # A quota: its credits changed, the check's answer with limits, and the refusals.
    c.call("PATCH", "/v1/keys/{id}", 200, ids, headers=admin(),
           json={"rate_limits": [{"limit": 100, "window_seconds": 60}],
                 "quota": {"remaining": 10, "refill": {"amount": 10, "interval": "monthly",
                                                       "day_of_month": 31}}})
    c.call("POST", "/v1/keys/{id}/quota", 200, ids, headers=admin(), json={"add": 5})
    c.call("POST", "/v1/keys/{id}/quota", 200, ids, headers=admin(), json={"set": 2})
    c.call("POST", "/v1/keys/{id}/quota", 422, ids, headers=admin(), json={"add": -1})
    c.call("POST", "/v1/keys/{id}/quota", 404, {"id": "key_AAAAAAAAAAAAAAAAAAAAAA"},
           headers=admin(), json={"add": 1})
    limited = c.call("POST", "/v1/check", 200, headers=admin(),
                     json={"token": latest["secret"], "action": "read", "resource": "docs/1",
                           "cost": 2}).json()
    check_eq(limited["quota_remaining"], 0, "quota_remaining after the check")
    c.call("GET", "/v1/keys/{id}/usage", 200, ids, headers=admin(),
           params={"granularity": "day"})
    c.call("GET", "/v1/keys/{id}/usage", 404, {"id": "key_AAAAAAAAAAAAAAAAAAAAAA"},
           headers=admin())
    c.call("GET", "/v1/usage", 200, headers=admin())
    c.call("GET", "/v1/usage", 200, headers=admin(), params={"include_sessions": "true"})
    c.call("GET", "/v1/usage", 422, headers=admin(), params={"granularity": "week"})
    c.call("POST", "/v1/keys/{id}/revoke", 200, ids, headers=admin())
    c.call("DELETE", "/v1/keys/{id}", 200, ids, headers=admin())
    c.call("PATCH", "/v1/keys/{id}", 409, ids, headers=admin(), json={"name": "late"})

    # A console session of the admin key: started, listed by kind, refused nesting and editing.
    session = c.call("POST", "/v1/console/sessions", 201, headers=admin(),
                     json={"expires_in": 600}).json()
    check_eq(session["key"]["kind"], "console_session", "session kind")
    sid = {"id": session["key"]["id"]}
    c.call("POST", "/v1/console/sessions", 201, headers=admin())
    c.call("POST", "/v1/console/sessions", 409,
           headers={"Authorization": f"Bearer {session['secret']}"}, json={})
    c.call("POST", "/v1/console/sessions", 422, headers=admin(), json={"expires_in": 0})
    c.call("POST", "/v1/console/sessions", 403,
           headers={"Authorization": f"Bearer {CLIENT_SECRET}"}, json={})
    c.call("POST", "/v1/console/sessions", 401, json={})
    c.call("GET", "/v1/keys", 200, headers=admin(), params={"kind": "console_session"})
    c.call("PATCH", "/v1/keys/{id}", 409, sid, headers=admin(), json={"name": "mine"})
    c.call("POST", "/v1/keys/{id}/revoke", 200, sid, headers=admin())

    # Revocation of an access token, then the signing keys.
    c.call("POST", "/oauth/revoke", 200, data={"token": token}, auth=basic)
    c.call("POST", "/oauth/revoke", 200, data={"token": token,
                                               "token_type_hint": "refresh_token"}, auth=basic)
    c.call("POST", "/oauth/revoke", 400, data={"token_type_hint": "access_token"}, auth=basic)
    c.call("POST", "/oauth/revoke", 401, data={"token": token})
    c.call("GET", "/v1/signing-keys", 200, headers=admin())
    c.call("POST", "/v1/signing-keys/rotate", 202, headers=admin(), json={"alg": "ES256"})
    c.call("POST", "/v1/signing-keys/rotate", 201, headers=admin())
    c.call("POST", "/v1/signing-keys/rotate", 201, headers=admin(), json={"immediate": True})
    c.call("POST", "/v1/signing-keys/rotate", 422, headers=admin(), json={"alg": "HS256"})
    c.call("GET", "/v1/audit", 200, headers=admin(), params={"limit": 5})
    c.call("GET", "/v1/audit", 422, headers=admin(), params={"action": "key.exploded"})

    # Webhooks, the org's leak policy, leak reports.
    hook = c.call("POST", "/v1/webhooks", 201, headers=admin(),
                  json={"url": "https://hooks.example.com/x", "events": ["key.created"]}).json()
    c.call("POST", "/v1/webhooks", 422, headers=admin(),
           json={"url": "https://127.0.0.1/x", "events": ["key.created"]})
    hid = {"id": hook["webhook"]["id"]}
    c.call("GET", "/v1/webhooks", 200, headers=admin())
    c.call("GET", "/v1/webhooks/{id}", 200, hid, headers=admin())
    c.call("GET", "/v1/webhooks/{id}", 404, {"id": "wh_nothing"}, headers=admin())
    c.call("PATCH", "/v1/webhooks/{id}", 200, hid, headers=admin(), json={"description": "d"})
    queued = c.call("POST", "/v1/webhooks/{id}/test", 202, hid, headers=admin()).json()
    c.call("GET", "/v1/webhooks/{id}/deliveries", 200, hid, headers=admin())
    c.call("GET", "/v1/webhooks/{id}/deliveries", 422, hid, headers=admin(),
           params={"cursor": "junk"})
    c.call("POST", "/v1/webhooks/{id}/deliveries/{delivery_id}/retry", 202,
           {**hid, "delivery_id": queued["id"]}, headers=admin())
    c.call("DELETE", "/v1/webhooks/{id}", 204, hid, headers=admin())
    c.call("GET", "/v1/org", 200, headers=admin())
    c.call("PATCH", "/v1/org", 200, headers=admin(), json={"leak_policy": "notify"})
    c.call("PATCH", "/v1/org", 422, headers=admin(), json={"leak_policy": "ignore"})
    c.call("POST", "/v1/leaks", 200, headers=admin(), json={"secrets": ["lk_unknown"]})
    c.call("POST", "/v1/leaks", 422, headers=admin(), json={"secrets": []})
    c.call("POST", "/v1/secret-scanning/github", 404, json=[])

    missing = sorted(documented - c.exercised)
    return {
        "openapi": doc["openapi"],
        "valid": True,
        "checked": c.checked,
        "operations": len(documented),
        "not_exercised": missing,
    }


if __name__ == "__main__":
    main(run)
