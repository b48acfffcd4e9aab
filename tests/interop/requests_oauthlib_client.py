"""requests-oauthlib's BackendApplicationClient (oauthlib's client-credentials client); it sends
the credentials with HTTP Basic by default."""

import os

# oauthlib refuses plain http unless told otherwise; the test server is http on loopback.
os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"

from oauthlib.oauth2 import BackendApplicationClient  # noqa: E402
from requests_oauthlib import OAuth2Session  # noqa: E402

from common import CLIENT_ID, CLIENT_SECRET, ISSUER, TIMEOUT, check, check_eq, main  # noqa: E402

TOKEN_URL = f"{ISSUER}/oauth/token"


def run():
    sent = {}

    def record(response, *args, **kwargs):
        sent["authorization"] = response.request.headers.get("Authorization", "")
        sent["body"] = response.request.body
        return response

    session = OAuth2Session(client=BackendApplicationClient(client_id=CLIENT_ID))
    session.hooks["response"].append(record)
    token = session.fetch_token(
        TOKEN_URL, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, timeout=TIMEOUT
    )
    check(sent["authorization"].startswith("Basic "), "requests-oauthlib used Basic auth", sent=sent)
    check("client_secret" not in (sent["body"] or ""), "no secret in the body", sent=sent)
    check_eq(token.get("token_type"), "Bearer", "token_type")
    check_eq(token.get("expires_in"), 600, "expires_in")
    # oauthlib turns the space-delimited scope string into a list.
    check_eq(token.get("scope"), ["read:projects/**", "write:projects/42"], "scope")

    # The session now carries the token as a Bearer credential: the introspection endpoint takes it.
    r = session.post(f"{ISSUER}/oauth/introspect", data={"token": token["access_token"]},
                     timeout=TIMEOUT)
    check_eq(r.status_code, 200, f"introspection with the Bearer token (body {r.text!r})")
    check_eq(r.json().get("active"), True, "self-introspection active")

    return {"scope": token["scope"], "auth": "basic", "self_introspection": r.json()["active"]}


if __name__ == "__main__":
    main(run)
