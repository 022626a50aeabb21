#!/usr/bin/env python3
"""An SMTP server for the tests: a real one (`aiosmtpd` from PyPI) in its own
process, which records every mail it accepts.

    smtp_receiver.py --listen 127.0.0.1:0

prints `smtp receiver listening on smtp://HOST:PORT control http://HOST:PORT`,
then serves SMTP on the first address and, on the second:

* POST /control: JSON `{"fail": N}`: the next N mails are answered
  `451 4.3.0` (a temporary failure) after their data was sent, and not
  recorded.
* GET /received: JSON list of the mails accepted, in arrival order: `from`
  and `to` (the envelope), `headers` (name to value, the last of a repeated
  name), `text` and `html` (the decoded parts of a multipart/alternative
  body), `content_type`, and `refused` (how many were answered 451 so far).
"""

import argparse
import asyncio
import email
import email.policy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.smtp import SMTP

lock = threading.Lock()
state = {"fail": 0, "refused": 0, "received": []}


def body_of(message, subtype):
    part = message.get_body(preferencelist=(subtype,))
    return part.get_content() if part is not None else None


class Recorder:
    async def handle_DATA(self, server, session, envelope):
        with lock:
            if state["fail"] > 0:
                state["fail"] -= 1
                state["refused"] += 1
                return "451 4.3.0 failing on purpose"
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        record = {
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "headers": {name: str(value) for name, value in message.items()},
            "content_type": message.get_content_type(),
            "text": body_of(message, "plain"),
            "html": body_of(message, "html"),
        }
        with lock:
            state["received"].append(record)
        return "250 2.0.0 OK"


class Control(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path != "/received":
            return self.reply(404, {"error": "not found"})
        with lock:
            received = [dict(record, refused=state["refused"]) for record in state["received"]]
        return self.reply(200, received)

    def do_POST(self):
        if self.path != "/control":
            return self.reply(404, {"error": "not found"})
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        with lock:
            state.update(json.loads(body))
        return self.reply(200, {"ok": True})


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:0")
    args = parser.parse_args()
    host, port = args.listen.rsplit(":", 1)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Recorder(), hostname="receiver.test"), host, int(port))
    smtp_port = server.sockets[0].getsockname()[1]
    control = ThreadingHTTPServer((host, 0), Control)
    threading.Thread(target=control.serve_forever, daemon=True).start()
    print(
        f"smtp receiver listening on smtp://{host}:{smtp_port} control http://{host}:{control.server_address[1]}",
        flush=True,
    )
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
