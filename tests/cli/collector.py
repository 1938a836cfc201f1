#!/usr/bin/python3
"""A test collector for cbpscan delivery: HTTPS on loopback.

Usage: collector.py --port-file F --log F --cert C --key K [--client-ca CA]
                    [--mode MODE] [--fail N] [--token T]

Every request is appended to --log as one JSON line: method, path, headers
and the records it carried (the body un-gzipped and split per format).  A
request counts as accepted only when the collector answered 2xx and the
item was not refused, so the test can tell "arrived" from "was sent".

MODE (the answer to the first --fail requests, then 200 / success):
  ok        always succeed
  500       HTTP 500
  hec9      HTTP 503 with {"text":"Server is busy","code":9}
  429       HTTP 429 with Retry-After: 1
  hang      read the request, then sleep past the client's timeout
  reset     close the connection without an answer
  badtoken  HTTP 401 (HEC code 4 body) always, for a wrong token
  bulkpart  _bulk: first item 429, second 409, third 400, rest 201

--ack now|late|never turns on HEC indexer acknowledgement: each event
request needs X-Splunk-Request-Channel and gets an ackId; the ack endpoint
answers true at once (now), after --ack-polls polls of that id (late), or
never (until a file LOG.acks-on appears: the indexer caught up).  With acks, "accepted" records are logged by the ack poll that
answered true (as "acked"), not by the event request.
"""
import argparse
import gzip
import json
import os
import socket
import ssl
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATE = {"n": 0, "next_ack": 0, "acks": {}, "polls": {}}


def split_records(path, body):
    text = body.decode("utf-8", "surrogateescape")
    if path.endswith("/services/collector/event"):
        dec = json.JSONDecoder()
        out, pos = [], 0
        while pos < len(text):
            while pos < len(text) and text[pos] in " \r\n\t":
                pos += 1
            if pos >= len(text):
                break
            obj, pos = dec.raw_decode(text, pos)
            out.append(obj)
        return out
    lines = [json.loads(x) for x in text.split("\n") if x]
    return lines


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_ack(self, raw):
        a = self.server.args
        ids = json.loads(raw)["acks"]
        out, acked, entry = {}, [], {"path": self.path, "headers": dict(self.headers.items()),
                                     "ack_poll": ids, "records": [], "accepted": [],
                                     "statuses": []}
        mode = a.ack
        if mode == "never" and os.path.exists(a.log + ".acks-on"):
            mode = "now"                # the indexer caught up (test switch)
        with LOCK:
            for i in ids:
                STATE["polls"][i] = STATE["polls"].get(i, 0) + 1
                ok = i in STATE["acks"] and (
                    mode == "now" or (mode == "late" and STATE["polls"][i] > a.ack_polls))
                out[str(i)] = ok
                if ok:
                    acked.append(i)
                    entry["accepted"] += STATE["acks"][i]
        entry["acked"] = acked
        self.log(entry)
        self.answer(200, json.dumps({"acks": out}).encode())

    def do_POST(self):
        a = self.server.args
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n)
        if "/services/collector/ack" in self.path:
            return self.do_ack(raw)
        body = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
        with LOCK:
            STATE["n"] += 1
            nth = STATE["n"]
        failing = a.mode == "badtoken" or nth <= a.fail
        entry = {"path": self.path, "headers": dict(self.headers.items()),
                 "raw_len": len(raw), "nth": nth, "records": [],
                 "accepted": [], "statuses": []}
        try:
            recs = split_records(self.path, body)
        except ValueError as e:
            entry["error"] = str(e)
            recs = []
        entry["records"] = recs
        if failing and a.mode in ("ok", "bulkpart"):
            failing = False
        bad_token = bool(a.token) and \
            self.headers.get("Authorization", "").split(" ")[-1] != a.token
        code, out, hdrs = 200, b"", []
        if bad_token:
            self.log(entry)
            self.answer(401, b'{"text":"Invalid token","code":4}')
            return
        if failing:
            if a.mode == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                self.close_connection = True
                self.log(entry)
                return
            if a.mode == "hang":
                self.log(entry)
                time.sleep(a.hang)
                self.close_connection = True
                return
            code = {"500": 500, "hec9": 503, "429": 429, "badtoken": 401}.get(a.mode, 500)
            if a.mode == "hec9":
                out = b'{"text":"Server is busy","code":9}'
            if a.mode == "badtoken":
                out = b'{"text":"Invalid token","code":4}'
            if a.mode == "429":
                hdrs.append(("Retry-After", "1"))
        elif self.path.endswith("/_bulk"):
            items = []
            for i, r in enumerate(recs[1::2]):
                st = 201
                if a.mode == "bulkpart" and nth == 1:
                    st = {0: 429, 1: 409, 2: 400}.get(i, 201)
                items.append({"create": {"_id": r.get("event_id"), "status": st}})
                entry["statuses"].append(st)
                if st in (201, 409):
                    entry["accepted"].append(r)
            out = json.dumps({"took": 1, "errors": True, "items": items}).encode()
        elif a.ack and self.path.endswith("/services/collector/event"):
            if not self.headers.get("X-Splunk-Request-Channel"):
                code, out = 400, b'{"text":"Data channel is missing","code":10}'
            else:
                with LOCK:
                    aid = STATE["next_ack"]
                    STATE["next_ack"] += 1
                    STATE["acks"][aid] = [r.get("event", r) for r in recs]
                entry["ack_id"] = aid
                out = json.dumps({"text": "Success", "code": 0, "ackId": aid}).encode()
        else:
            entry["accepted"] = [r.get("event", r) for r in recs]
            if self.path.endswith("/services/collector/event"):
                out = b'{"text":"Success","code":0}'
        self.log(entry)
        self.answer(code, out, hdrs)

    def log(self, entry):
        with LOCK, open(self.server.args.log, "a") as f:
            f.write(json.dumps(entry) + "\n")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--client-ca")
    p.add_argument("--mode", default="ok")
    p.add_argument("--fail", type=int, default=0)
    p.add_argument("--hang", type=float, default=5.0)
    p.add_argument("--token")
    p.add_argument("--ack", choices=["now", "late", "never"])
    p.add_argument("--ack-polls", type=int, default=2)
    a = p.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.args = a
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    if a.client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(a.client_ca)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
