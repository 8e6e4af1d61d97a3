"""A real HTTP server for tests/integration/test_notifiers (http.server).

Listens on 127.0.0.1 (port 0 unless given), prints "PORT <n>" once ready and
appends every request as a JSON line to <outdir>/requests.jsonl.

  /webhook/<mode>  checks Billow-Signature (HMAC-SHA256 of "<t>.<body>" with
                   SECRET, t within 5 minutes): a bad one gets 401
  /sms/<mode>      wants "Authorization: Bearer <TOKEN>", else 401
  mode: ok -> 200 with {"id": ...}; 500, 400, 429 -> that status;
        hang -> no answer for 30 s
Usage: http_server.py SECRET TOKEN OUTDIR [PORT]
"""
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET, TOKEN, OUTDIR = sys.argv[1].encode(), sys.argv[2], sys.argv[3]
PORT = int(sys.argv[4]) if len(sys.argv) > 4 else 0
lock = threading.Lock()
counter = [0]


def signature_ok(header, body):
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    t, v1 = parts.get("t", ""), parts.get("v1", "")
    if not t.isdigit() or abs(time.time() - int(t)) > 300:
        return False
    want = hmac.new(SECRET, t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, v1)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        parts = self.path.strip("/").split("/")
        kind, mode = parts[0], parts[1] if len(parts) > 1 else "ok"
        if kind == "webhook":
            authorized = signature_ok(self.headers.get("Billow-Signature", ""), body)
        else:
            authorized = self.headers.get("Authorization") == "Bearer " + TOKEN
        with lock:
            counter[0] += 1
            n = counter[0]
            rec = {"n": n, "path": self.path, "authorized": authorized,
                   "headers": {k.lower(): v for k, v in self.headers.items()},
                   "body": body.decode("utf-8", "replace")}
            with open(os.path.join(OUTDIR, "requests.jsonl"), "a") as f:
                f.write(json.dumps(rec) + "\n")
        if mode == "hang":
            time.sleep(30)
            return
        if not authorized:
            return self.reply(401, {"error": "bad signature or token"})
        if mode in ("500", "400", "429"):
            return self.reply(int(mode), {"error": "as asked"})
        if kind == "sms":
            return self.reply(200, {"message_id": "sms-%d" % n})
        return self.reply(200, {"id": "rcv-%d" % n})


def main():
    os.makedirs(OUTDIR, exist_ok=True)
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    server.daemon_threads = True
    print("PORT", server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
