"""Authlib's requests-based OAuth2Session against the token endpoint: client_secret_basic,
client_secret_post, a narrowed scope, and the RFC 6749 §5.2 errors surfaced as OAuthError."""

from authlib.integrations.requests_client import OAuth2Session, OAuthError

from common import CLIENT_ID, CLIENT_SECRET, ISSUER, TIMEOUT, check, check_eq, main

TOKEN_URL = f"{ISSUER}/oauth/token"
ALL_SCOPES = "read:projects/** write:projects/42"


def fetch(method, secret=CLIENT_SECRET, **kwargs):
    session = OAuth2Session(CLIENT_ID, secret, token_endpoint_auth_method=method)
    return session.fetch_token(
        TOKEN_URL, grant_type="client_credentials", timeout=TIMEOUT, **kwargs
    )


def check_token(token, scope, what):
    check(isinstance(token.get("access_token"), str) and token["access_token"].count(".") == 2,
          f"{what}: access_token is not a compact JWS", token=token)
    check_eq(token.get("token_type"), "Bearer", f"{what}: token_type")
    check_eq(token.get("expires_in"), 600, f"{what}: expires_in")
    check(isinstance(token.get("expires_at"), int), f"{what}: authlib computes expires_at")
    check_eq(token.get("scope"), scope, f"{what}: scope")
    check("refresh_token" not in token, f"{what}: no refresh token", token=token)


def oauth_error(what, **kwargs):
    try:
        token = fetch(**kwargs)
    except OAuthError as e:
        return {"error": e.error, "description": e.description}
    raise AssertionError(f"{what}: expected an OAuthError, got a token {dict(token)!r}")


def run():
    basic = fetch("client_secret_basic")
    check_token(basic, ALL_SCOPES, "client_secret_basic")

    post = fetch("client_secret_post")
    check_token(post, ALL_SCOPES, "client_secret_post")

    scoped = fetch("client_secret_basic", scope="read:projects/42/**")
    check_token(scoped, "read:projects/42/**", "scoped")

    # Change the last character to one it is not (a fixed replacement equals it one time in 64).
    wrong_last = "y" if CLIENT_SECRET.endswith("x") else "x"
    bad_secret = oauth_error(
        "wrong secret", method="client_secret_basic", secret=CLIENT_SECRET[:-1] + wrong_last
    )
    check_eq(bad_secret["error"], "invalid_client", "wrong secret (basic): error")
    bad_secret_post = oauth_error(
        "wrong secret", method="client_secret_post", secret="lk_not-a-secret"
    )
    check_eq(bad_secret_post["error"], "invalid_client", "wrong secret (post): error")

    bad_scope = oauth_error(
        "out-of-range scope", method="client_secret_basic", scope="write:projects/43"
    )
    check_eq(bad_scope["error"], "invalid_scope", "out-of-range scope: error")

    return {
        "basic_scope": basic["scope"],
        "post_scope": post["scope"],
        "scoped_scope": scoped["scope"],
        "tokens_distinct": len({basic["access_token"], post["access_token"], scoped["access_token"]}) == 3,
        "bad_secret": bad_secret,
        "bad_secret_post": bad_secret_post,
        "bad_scope": bad_scope,
    }


if __name__ == "__main__":
    main(run)
