"""Webhook receiver for tests/integration/test_notification.sh (http.server).

Listens on 127.0.0.1 (port 0 unless given), prints "PORT <n>" once ready and
appends every request as a JSON line {n, path, key, ref, status} to
<outdir>/hooks.jsonl. Paths:
  /ok           200
  /flaky/<k>    500 for the first k requests of each idempotency key, then 200
  /perm         400
  /slow         200 after 0.2 s
  /switch/<s>   400 until the file <outdir>/<s>.ok exists, then 200
Usage: notif_webhook.py OUTDIR [PORT]
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OUTDIR = sys.argv[1]
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 0
lock = threading.Lock()
seen = {}
counter = [0]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        key = self.headers.get("Idempotency-Key", "")
        try:
            ref = json.loads(body).get("data", {}).get("ref_id", "")
        except ValueError:
            ref = ""
        parts = self.path.strip("/").split("/")
        with lock:
            counter[0] += 1
            n = counter[0]
            seen[key] = seen.get(key, 0) + 1
            tries = seen[key]
        status = 200
        if parts[0] == "flaky" and tries <= int(parts[1]):
            status = 500
        elif parts[0] == "perm":
            status = 400
        elif parts[0] == "slow":
            time.sleep(0.2)
        elif parts[0] == "switch" and not os.path.exists(os.path.join(OUTDIR, parts[1] + ".ok")):
            status = 400
        with lock:
            with open(os.path.join(OUTDIR, "hooks.jsonl"), "a") as f:
                f.write(json.dumps({"n": n, "path": self.path, "key": key, "ref": ref,
                                    "status": status}) + "\n")
        data = json.dumps({"id": "rcv-%d" % n} if status == 200 else {"error": "as asked"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main():
    os.makedirs(OUTDIR, exist_ok=True)
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    server.daemon_threads = True
    print("PORT", server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
