"""A webhook receiver for the tests: verifies every delivery with the real `standardwebhooks`
library (https://www.standardwebhooks.com) and logs it.

Prints `port <n>` once listening on 127.0.0.1. Control endpoints (the test's, not Latchkey's):
  POST /_secret   body: the whsec_ secret to verify with
  POST /_fail     body: {"count": n, "status": s}: answer the next n deliveries with status s
  POST /_later    body: seconds: the library's clock runs that far ahead (a replay, later)
  GET  /_log      every request to /hook: {id, timestamp, signature, body, verified, error,
                  answered}
Deliveries go to POST /hook: 204 when verified, 400 when the library refuses them.
"""

import datetime as real_datetime
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import standardwebhooks.webhooks as swh
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

state = {"secret": None, "fail": 0, "status": 500, "later": 0.0, "log": []}
lock = threading.Lock()


class ShiftedDatetime(real_datetime.datetime):
    """The library's `datetime`, moved `later` seconds on: what it sees of the clock."""

    @classmethod
    def now(cls, tz=None):
        return real_datetime.datetime.now(tz) + real_datetime.timedelta(seconds=state["later"])


swh.datetime = ShiftedDatetime


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def body(self):
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def answer(self, status, payload=None):
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/_log":
            with lock:
                return self.answer(200, state["log"])
        self.answer(404)

    def do_POST(self):
        body = self.body()
        if self.path == "/_secret":
            state["secret"] = body.decode()
            return self.answer(204)
        if self.path == "/_fail":
            wanted = json.loads(body)
            with lock:
                state["fail"], state["status"] = wanted["count"], wanted["status"]
            return self.answer(204)
        if self.path == "/_later":
            state["later"] = float(body)
            return self.answer(204)
        if self.path != "/hook":
            return self.answer(404)
        entry = {
            "id": self.headers.get("webhook-id"),
            "timestamp": self.headers.get("webhook-timestamp"),
            "signature": self.headers.get("webhook-signature"),
            "body": body.decode(errors="replace"),
            "verified": False,
            "error": None,
        }
        with lock:
            failing = state["fail"] > 0
            if failing:
                state["fail"] -= 1
        if failing:
            entry["answered"] = state["status"]
        else:
            try:
                Webhook(state["secret"]).verify(body, dict(self.headers.items()))
                entry["verified"], entry["answered"] = True, 204
            except WebhookVerificationError as e:
                entry["error"], entry["answered"] = str(e), 400
        with lock:
            state["log"].append(entry)
        self.answer(entry["answered"])


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"port {server.server_address[1]}", flush=True)
server.serve_forever()
