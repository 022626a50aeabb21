#!/usr/bin/env python3
"""A webhook receiver for the tests: a real HTTP server in its own process
that verifies every delivery with the official Standard Webhooks library
(`standardwebhooks` from PyPI).

    webhook_receiver.py --listen 127.0.0.1:0

prints `webhook receiver listening on http://HOST:PORT`, then serves:

* POST any path: a delivery. Verified against every configured secret;
  401 unless one verifies. While `fail` is above zero, answers its status
  (after verifying) and counts it down. Otherwise 200, recording the
  delivery (the first time its webhook-id is seen; repeats are counted).
* POST /control: JSON `{"secrets": [...], "fail": N, "status": 503,
  "retry_after": "1"}`, each optional: sets what the receiver does next.
* GET /received: JSON list of the deliveries recorded, in arrival order:
  webhook_id, type, ticket_id, verified_by (indexes of the secrets whose
  signature verified), repeats.
"""

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

lock = threading.Lock()
state = {"secrets": [], "fail": 0, "status": 503, "retry_after": None, "received": [], "seen": {}}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path != "/received":
            return self.reply(404, {"error": "not found"})
        with lock:
            return self.reply(200, state["received"])

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        if self.path == "/control":
            with lock:
                state.update(json.loads(body))
            return self.reply(200, {"ok": True})
        headers = {name: value for name, value in self.headers.items()}
        with lock:
            secrets = list(state["secrets"])
        verified_by = []
        payload = None
        for index, secret in enumerate(secrets):
            try:
                payload = Webhook(secret).verify(body, headers)
                verified_by.append(index)
            except WebhookVerificationError:
                pass
        if not verified_by:
            return self.reply(401, {"error": "no signature verified"})
        with lock:
            if state["fail"] > 0:
                state["fail"] -= 1
                extra = [("retry-after", state["retry_after"])] if state["retry_after"] else []
                return self.reply(state["status"], {"error": "failing on purpose"}, extra)
            webhook_id = headers.get("webhook-id") or headers.get("Webhook-Id")
            if webhook_id in state["seen"]:
                state["seen"][webhook_id]["repeats"] += 1
            else:
                data = payload.get("data", {})
                ticket = data.get("ticket") or {}
                record = {
                    "webhook_id": webhook_id,
                    "type": payload.get("type"),
                    "ticket_id": ticket.get("id") or data.get("ticket_id"),
                    "verified_by": verified_by,
                    "repeats": 0,
                }
                state["seen"][webhook_id] = record
                state["received"].append(record)
        return self.reply(200, {"received": True})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:0")
    args = parser.parse_args()
    host, port = args.listen.rsplit(":", 1)
    server = ThreadingHTTPServer((host, int(port)), Handler)
    print(f"webhook receiver listening on http://{host}:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
