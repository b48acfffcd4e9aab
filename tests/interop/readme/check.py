import os

import requests  # pip install requests

LATCHKEY = os.environ["LATCHKEY_ISSUER"].rstrip("/")
API_KEY = os.environ["LATCHKEY_API_KEY"]  # this API's own key: any active key of the org
session = requests.Session()  # one kept-alive connection for every check


def decide(credential: str, action: str, resource: str, client_ip: str, cost: int = 1) -> dict:
    """Latchkey's decision on one incoming request (spends `cost` of the caller's limits and
    quota when allowed): {"allowed", "reason", "key_id", "scopes", "ratelimit", "quota_remaining"}."""
    r = session.post(f"{LATCHKEY}/v1/check", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=2,
                     json={"token": credential, "action": action, "resource": resource, "ip": client_ip, "cost": cost})
    r.raise_for_status()
    return r.json()


def status_for(decision: dict) -> int:
    """The HTTP status your API answers with."""
    if decision["allowed"]:
        return 200
    return {"rate_limited": 429, "quota_exhausted": 429, "scope_not_allowed": 403, "ip_not_allowed": 403}.get(
        decision["reason"], 401)
