"""Runs README's /v1/check snippet (tests/interop/readme/check.py) as a resource server would:
per incoming request, one decision that spends the caller's rate limit and quota. Prints one
JSON line on success."""

import os
import sys

import requests

from common import ADMIN_SECRET, ISSUER, TIMEOUT, check_eq, main

os.environ["LATCHKEY_ISSUER"] = ISSUER
os.environ["LATCHKEY_API_KEY"] = ADMIN_SECRET
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "readme"))
import check as readme  # noqa: E402  (after the environment it reads)


def run():
    r = requests.post(f"{ISSUER.rstrip('/')}/v1/keys", headers={"Authorization": f"Bearer {ADMIN_SECRET}"},
                      json={"name": "metered caller", "scopes": ["read:projects/**"],
                            "rate_limits": [{"limit": 3, "window_seconds": 3600}],
                            "quota": {"remaining": 100}}, timeout=TIMEOUT)
    check_eq(r.status_code, 201, "create status")
    caller = r.json()["secret"]
    statuses, left = [], []
    for _ in range(4):
        d = readme.decide(caller, "read", "projects/42", "203.0.113.7")
        statuses.append(readme.status_for(d))
        left.append(d["quota_remaining"])
    check_eq(statuses, [200, 200, 200, 429], "statuses")
    check_eq(left[:3], [99, 98, 97], "credits left")
    d = readme.decide(caller, "write", "projects/42", "203.0.113.7")
    check_eq((d["reason"], readme.status_for(d)), ("scope_not_allowed", 403), "a write")
    return {"statuses": statuses}


main(run)
