"""Delivery to a central endpoint (issue 11): spool, formats, retries, flush.

A loopback HTTPS collector (collector.py, run by /usr/bin/python3) with a
CA, server and client certificates made here with the openssl CLI answers
in the ways a real endpoint fails.  Every test checks what arrived against
what the scan wrote locally (its JSON Lines output, same event_id).
"""
import gzip
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import CBPSCAN, run, state_dir, write_tree
from cbptest import fixtures as F

HERE = Path(__file__).resolve().parent
PY = "/usr/bin/python3"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    """ca.pem, server.pem/key (127.0.0.1), client.pem/key, and a second CA
    (wrong-ca.pem) with a server certificate of its own (wrong.pem/key)."""
    d = tmp_path_factory.mktemp("certs")
    for ca in ("ca", "wrong-ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", f"/CN=cbp test {ca}", "-keyout", f"{ca}.key", "-out", f"{ca}.pem",
                cwd=d)
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, ca in (("server", "ca"), ("client", "ca"), ("wrong", "wrong-ca")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey",
                f"{ca}.key", "-CAcreateserial", "-days", "2", "-extfile", "san.ext",
                "-out", f"{name}.pem", cwd=d)
    return d


class Collector:
    def __init__(self, tmp, certs, mode="ok", fail=0, wrong=False, token=None,
                 client_ca=False, hang=3.0, ack=None):
        self.log = tmp / f"collector-{mode}-{random.getrandbits(32)}.log"
        pf = Path(str(self.log) + ".port")
        cert = "wrong" if wrong else "server"
        cmd = [PY, str(HERE / "collector.py"), "--port-file", str(pf), "--log", str(self.log),
               "--cert", str(certs / f"{cert}.pem"), "--key", str(certs / f"{cert}.key"),
               "--mode", mode, "--fail", str(fail), "--hang", str(hang)]
        if token:
            cmd += ["--token", token]
        if client_ca:
            cmd += ["--client-ca", str(certs / "ca.pem")]
        if ack:
            cmd += ["--ack", ack]
        self.proc = subprocess.Popen(cmd)
        for _ in range(500):
            if pf.exists():
                break
            if self.proc.poll() is not None:
                raise RuntimeError("collector died")
            time.sleep(0.01)
        self.port = int(pf.read_text())
        self.url = f"https://127.0.0.1:{self.port}/ingest"

    def requests(self):
        if not self.log.exists():
            return []
        return [json.loads(x) for x in self.log.read_text().splitlines() if x]

    def accepted(self):
        out = []
        for r in self.requests():
            out += r["accepted"]
        return out

    def stop(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def collector(tmp_path, certs):
    made = []

    def start(**kw):
        c = Collector(tmp_path, certs, **kw)
        made.append(c)
        return c
    yield start
    for c in made:
        c.stop()


def config(tmp_path, **extra):
    """A config with quick retries (the defaults wait seconds)."""
    d = {"retry_min_ms": 10, "retry_max_ms": 100, "timeout_ms": 1500,
         "connect_timeout_ms": 1000, "exit_wait_ms": 20000, "linger_ms": 10,
         "flush_wait_ms": 20000, "replay_rate": 0}
    d.update(extra)
    p = tmp_path / f"cbpscan-{random.getrandbits(32)}.conf"
    p.write_text("delivery:\n" + "".join(f"  {k}: {v}\n" for k, v in d.items()))
    os.chmod(p, 0o600)
    return p


@pytest.fixture
def token(tmp_path):
    p = tmp_path / "token"
    p.write_text("s3cret-T0ken\n")
    os.chmod(p, 0o600)
    return p


@pytest.fixture
def findings_tree(tmp_path, lpr_jpeg, plain_jpeg):
    files = {f"lpr/{i:03d}.jpg": lpr_jpeg for i in range(12)}
    files.update({f"plain/{i:03d}.jpg": plain_jpeg for i in range(3)})
    return write_tree(tmp_path / "tree", files)


def deliver_args(c, certs, cfg, token, fmt="ndjson", state=None, spool=None):
    a = ["--endpoint", c.url, "--endpoint-format", fmt, "--ca-file", str(certs / "ca.pem"),
         "--config", str(cfg)]
    if token is not None:
        a += ["--token-file", str(token)]
    if spool is not None:
        a += ["--spool", str(spool)]
    return a


def local_records(r):
    return [json.loads(x) for x in r.out.decode().splitlines() if x]


def dscan(tree, args, state):
    return run(["scan", "--state", str(state), "--format", "jsonl", *args, str(tree)])


def flush(args, state):
    return run(["flush", "--state", str(state), *args])


def same_records(local, received):
    """Every local record arrived, as written; the run record arrived too."""
    got = {r["event_id"]: r for r in received}
    for rec in local:
        assert rec["event_id"] in got, rec
        assert got[rec["event_id"]] == rec
    assert any(r["type"] == "run" for r in received)


def spool_empty(state):
    sp = Path(state) / "spool"
    return not [p for p in sp.iterdir() if p.suffix in (".seg", ".open")]


# ---- the happy path and the request shape ---------------------------------------

def test_ndjson_delivers_every_record_gzip_with_headers(tmp_path, certs, collector, token,
                                                         findings_tree):
    c = collector(token="s3cret-T0ken")
    st = tmp_path / "state"
    r = dscan(findings_tree, deliver_args(c, certs, config(tmp_path), token), st)
    assert r.rc == 1, r.err          # violations; delivered, so not 3
    local = local_records(r)
    same_records(local, c.accepted())
    reqs = c.requests()
    for q in reqs:
        h = {k.lower(): v for k, v in q["headers"].items()}
        assert q["path"] == "/ingest"
        assert h["content-type"] == "application/x-ndjson"
        assert h["content-encoding"] == "gzip"
        assert h["authorization"] == "Bearer s3cret-T0ken"
        assert len(h["idempotency-key"]) == 64
    run_rec = [x for x in c.accepted() if x["type"] == "run"][0]
    summary = [x for x in local if x["type"] == "summary"][0]
    assert run_rec["scan_id"] == summary["scan_id"]
    assert run_rec["host_id"] == summary["host_id"]
    assert run_rec["rules"] == summary["rules"] and run_rec["roots"] == summary["roots"]
    assert run_rec["version"] == summary["version"]
    assert spool_empty(st)
    # The secret never shows.
    assert "s3cret" not in r.err


def test_clean_scan_still_reports_run_and_summary(tmp_path, certs, collector, token, plain_jpeg):
    c = collector()
    t = write_tree(tmp_path / "clean", {"a.jpg": plain_jpeg})
    st = tmp_path / "state"
    r = dscan(t, deliver_args(c, certs, config(tmp_path, gzip="false"), token), st)
    assert r.rc == 0, r.err
    types = [x["type"] for x in c.accepted()]
    assert types[0] == "run" and types[-1] == "summary"
    h = {k.lower(): v for k, v in c.requests()[0]["headers"].items()}
    assert "content-encoding" not in h


def test_splunk_hec_request_shape(tmp_path, certs, collector, token, findings_tree):
    """Splunk HEC /services/collector/event: 'Authorization: Splunk <token>',
    event objects concatenated (no array), each with time (epoch seconds,
    milliseconds), host, source, sourcetype, index and event."""
    c = collector(token="s3cret-T0ken")
    st = tmp_path / "state"
    cfg = config(tmp_path, index="cbp", source="cbpscan-test")
    r = dscan(findings_tree, deliver_args(c, certs, cfg, token, fmt="splunk-hec"), st)
    assert r.rc == 1, r.err
    local = local_records(r)
    envs = []
    for q in c.requests():
        h = {k.lower(): v for k, v in q["headers"].items()}
        assert q["path"] == "/ingest/services/collector/event"
        assert h["authorization"] == "Splunk s3cret-T0ken"
        assert h["content-type"] == "application/json"
        envs += q["records"]
    for e in envs:
        assert set(e) == {"time", "host", "source", "sourcetype", "index", "event"}
        assert isinstance(e["time"], float)
        assert e["source"] == "cbpscan-test" and e["index"] == "cbp"
        assert e["sourcetype"] == "cbpscan:" + e["event"]["type"]
        assert e["host"] == e["event"]["host"]
    same_records(local, [e["event"] for e in envs])
    body_ok = [e for e in envs if e["event"]["type"] == "summary"][0]
    import datetime
    t = datetime.datetime.strptime(body_ok["event"]["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert abs(t.replace(tzinfo=datetime.timezone.utc).timestamp() - body_ok["time"]) < 0.0015


def test_elastic_bulk_create_with_event_id(tmp_path, certs, collector, token, findings_tree):
    """_bulk: {"create":{"_id":event_id}} then the record, newline-ended."""
    c = collector()
    st = tmp_path / "state"
    r = dscan(findings_tree, deliver_args(c, certs, config(tmp_path, index="cbp"), token,
                                          fmt="elastic-bulk"), st)
    assert r.rc == 1, r.err
    for q in c.requests():
        assert q["path"] == "/ingest/_bulk"
        recs = q["records"]
        assert len(recs) % 2 == 0
        for act, doc in zip(recs[0::2], recs[1::2]):
            assert act == {"create": {"_index": "cbp", "_id": doc["event_id"]}}
        h = {k.lower(): v for k, v in q["headers"].items()}
        assert h["authorization"] == "ApiKey s3cret-T0ken"
    same_records(local_records(r), c.accepted())


def test_elastic_bulk_partial_failure(tmp_path, certs, collector, token, findings_tree):
    """Items answered 429 are re-sent, 409 counts as delivered, 400 is set aside."""
    c = collector(mode="bulkpart")
    st = tmp_path / "state"
    r = dscan(findings_tree, deliver_args(c, certs, config(tmp_path), token,
                                          fmt="elastic-bulk"), st)
    assert r.rc == 1, r.err
    reqs = c.requests()
    first = reqs[0]
    docs = first["records"][1::2]
    assert first["statuses"][:3] == [429, 409, 400]
    # The 429 item went again, alone, and was taken.
    later = [d for q in reqs[1:] for d in q["records"][1::2]]
    assert docs[0]["event_id"] in [d["event_id"] for d in later]
    assert docs[2]["event_id"] not in [d["event_id"] for d in later]
    rejected = (st / "spool" / "rejected").read_text().splitlines()
    assert [json.loads(x)["event_id"] for x in rejected] == [docs[2]["event_id"]]
    assert "refused 1 record" in r.err
    assert spool_empty(st)


# ---- Splunk HEC indexer acknowledgement ---------------------------------------

def hec_ack_cfg(tmp_path, **kw):
    d = {"ack": "true", "ack_poll_ms": 20, "ack_wait_ms": 60000}
    d.update(kw)
    return config(tmp_path, **d)


def test_hec_acks_late_delivered_only_when_true(tmp_path, certs, collector, token,
                                                 findings_tree):
    c = collector(ack="late")
    st = tmp_path / "state"
    r = dscan(findings_tree, deliver_args(c, certs, hec_ack_cfg(tmp_path), token,
                                          fmt="splunk-hec"), st)
    assert r.rc == 1, r.err
    reqs = c.requests()
    events = [q for q in reqs if "ack_id" in q]
    polls = [q for q in reqs if "ack_poll" in q]
    channel = {q["headers"]["X-Splunk-Request-Channel"] for q in events}
    assert len(channel) == 1
    host_id = local_records(r)[0]["host_id"]
    assert channel == {host_id}
    for q in polls:
        assert q["path"] == f"/ingest/services/collector/ack?channel={host_id}"
    # Polled until true: more polls than batches, and nothing re-sent.
    assert len(polls) > len(events)
    assert sorted(a for q in polls for a in q["acked"]) == sorted(q["ack_id"] for q in events)
    same_records(local_records(r), c.accepted())
    assert spool_empty(st)


def test_hec_acks_never_resent_then_spooled_then_flush(tmp_path, certs, collector, token,
                                                       findings_tree):
    """An ack still false after ack_wait_ms means re-send; at exit the
    outstanding acks stay spooled with their channel and ackIds (exit 3);
    flush polls them, and delivery completes without another send."""
    never = collector(ack="never")
    st = tmp_path / "state"
    cfg = hec_ack_cfg(tmp_path, ack_wait_ms=150, exit_wait_ms=1000)
    r = dscan(findings_tree, deliver_args(never, certs, cfg, token, fmt="splunk-hec"), st)
    assert r.rc == 3, r.err
    assert "acknowledgement" in r.err
    events = [q for q in never.requests() if "ack_id" in q]
    batches = {q["headers"]["Idempotency-Key"] for q in events}
    assert len(events) > len(batches)              # re-sent after ack_wait_ms
    side = list((st / "spool").glob("*.ack"))
    assert side
    text = side[0].read_text()
    assert text.startswith("channel " + local_records(r)[0]["host_id"] + "\n")
    assert never.accepted() == []
    # The indexer caught up: the stored ackIds now read true.  flush polls
    # them on the same channel and sends nothing again.
    stored = {int(line.split()[2]) for p in side for line in p.read_text().splitlines()[1:]}
    key_of = {q["ack_id"]: q["headers"]["Idempotency-Key"] for q in events}
    Path(str(never.log) + ".acks-on").touch()
    f = flush(deliver_args(never, certs, hec_ack_cfg(tmp_path), token, fmt="splunk-hec"), st)
    assert f.rc == 0, f.err
    flush_reqs = [q for q in never.requests() if q.get("nth", 0) > max(q2["nth"] for q2 in events)
                  and "ack_id" in q]
    # The batches whose acks were stored are not sent again: their acks are polled.
    assert not {q["headers"]["Idempotency-Key"] for q in flush_reqs} & \
        {key_of[a] for a in stored}
    acked = {a for q in never.requests() if "acked" in q for a in q["acked"]}
    assert stored <= acked
    same_records(local_records(r), never.accepted())
    assert spool_empty(st) and not list((st / "spool").glob("*.ack"))


# ---- failures that are retried ---------------------------------------------------

@pytest.mark.parametrize("mode", ["500", "hec9", "429", "reset", "hang"])
def test_retried_until_delivered(tmp_path, certs, collector, token, findings_tree, mode):
    c = collector(mode=mode, fail=2, hang=3.0)
    st = tmp_path / "state"
    fmt = "splunk-hec" if mode == "hec9" else "ndjson"
    r = dscan(findings_tree, deliver_args(c, certs, config(tmp_path), token, fmt=fmt), st)
    assert r.rc == 1, r.err
    same_records(local_records(r), c.accepted())  # HEC envelopes unwrapped
    assert len(c.requests()) >= 3
    # A re-sent batch carries the same idempotency key.
    keys = [q["headers"].get("Idempotency-Key") for q in c.requests()]
    assert len(set(keys)) < len(keys)
    assert spool_empty(st)


# ---- failures that keep the records spooled: exit 3, then flush ------------------

def test_bad_token_not_retried_exit3_then_flush(tmp_path, certs, collector, token,
                                               findings_tree):
    bad = tmp_path / "bad-token"
    bad.write_text("wrong\n")
    os.chmod(bad, 0o600)
    c = collector(token="s3cret-T0ken")
    st = tmp_path / "state"
    cfg = config(tmp_path)
    r = dscan(findings_tree, deliver_args(c, certs, cfg, bad, fmt="splunk-hec"), st)
    assert r.rc == 3, r.err
    assert "refused the token" in r.err
    assert len(c.requests()) == 1              # not retried in a loop
    assert not spool_empty(st)
    f = flush(deliver_args(c, certs, cfg, token, fmt="splunk-hec"), st)
    assert f.rc == 0, f.err
    same_records(local_records(r), c.accepted())
    assert spool_empty(st)


def test_wrong_ca_exit3_then_flush(tmp_path, certs, collector, token, findings_tree):
    wrong = collector(wrong=True)
    st = tmp_path / "state"
    cfg = config(tmp_path, exit_wait_ms=300)
    r = dscan(findings_tree, deliver_args(wrong, certs, cfg, token), st)
    assert r.rc == 3, r.err
    assert wrong.accepted() == []
    assert "certificate" in r.err.lower() or "ssl" in r.err.lower()
    good = collector()
    f = flush(deliver_args(good, certs, cfg, token), st)
    assert f.rc == 0, f.err
    same_records(local_records(r), good.accepted())


def test_mutual_tls(tmp_path, certs, collector, token, findings_tree):
    c = collector(client_ca=True)
    st = tmp_path / "state"
    cfg = config(tmp_path, exit_wait_ms=300)
    r = dscan(findings_tree, deliver_args(c, certs, cfg, token), st)
    assert r.rc == 3                       # no client certificate: refused
    a = deliver_args(c, certs, cfg, token) + ["--client-cert", str(certs / "client.pem"),
                                             "--client-key", str(certs / "client.key")]
    f = flush(a, st)
    assert f.rc == 0, f.err
    same_records(local_records(r), c.accepted())


def pin_of(cert):
    """libcurl's sha256//BASE64 pin of a certificate's public key."""
    pub = subprocess.run(["openssl", "x509", "-in", str(cert), "-pubkey", "-noout"],
                         check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub,
                         check=True, capture_output=True).stdout
    import base64
    import hashlib
    return "sha256//" + base64.b64encode(hashlib.sha256(der).digest()).decode()


def test_public_key_pinning(tmp_path, certs, collector, token, findings_tree):
    c = collector()
    st = tmp_path / "state"
    wrong = config(tmp_path, exit_wait_ms=300, pinned_public_key=pin_of(certs / "client.pem"))
    r = dscan(findings_tree, deliver_args(c, certs, wrong, token), st)
    assert r.rc == 3, r.err                 # a trusted certificate, but not the pinned key
    assert c.accepted() == []
    right = config(tmp_path, pinned_public_key=pin_of(certs / "server.pem"))
    f = flush(deliver_args(c, certs, right, token), st)
    assert f.rc == 0, f.err
    same_records(local_records(r), c.accepted())


def test_flush_replays_a_backlog_at_the_rate(tmp_path, certs, collector, token,
                                             findings_tree):
    """A backlog goes at most replay_rate records a second: at 2 a second,
    a flush given one second cannot send the backlog of a 15-file scan and
    exits 3 with the rest spooled (this can only fail if the rate is not
    applied); without a limit the next flush sends the rest."""
    down = collector(mode="500", fail=10**6)
    st = tmp_path / "state"
    r = dscan(findings_tree, deliver_args(down, certs, config(tmp_path, exit_wait_ms=100),
                                          token), st)
    assert r.rc == 3
    c = collector()
    slow = config(tmp_path, replay_rate=2, batch_records=1, flush_wait_ms=1000)
    f = flush(deliver_args(c, certs, slow, token), st)
    assert f.rc == 3, f.err
    assert len(c.accepted()) < len(local_records(r)) + 1
    f = flush(deliver_args(c, certs, config(tmp_path), token), st)
    assert f.rc == 0, f.err
    same_records(local_records(r), c.accepted())


def test_flush_with_nothing_spooled_and_usage(tmp_path, certs, collector, token):
    c = collector()
    st = tmp_path / "state"
    assert flush(deliver_args(c, certs, config(tmp_path), token), st).rc == 0
    r = flush([], st)
    assert r.rc == 2 and "no endpoint" in r.err


@pytest.mark.parametrize("url,why", [
    ("http://example.com/x", "only https"),
    ("https://user:pw@127.0.0.1/x", "user or password"),
    ("not a url", "not a URL"),
])
def test_endpoint_refused(tmp_path, plain_jpeg, url, why):
    t = write_tree(tmp_path / "t", {"a.jpg": plain_jpeg})
    r = run(["scan", "--state", str(tmp_path / "st"), "--endpoint", url, str(t)])
    assert r.rc == 2 and why in r.err


@pytest.mark.skipif(os.geteuid() != 0, reason="the token file mode is checked as root")
def test_token_file_readable_by_others_refused(tmp_path, certs, collector, token, plain_jpeg):
    c = collector()
    os.chmod(token, 0o644)
    t = write_tree(tmp_path / "t", {"a.jpg": plain_jpeg})
    r = dscan(t, deliver_args(c, certs, config(tmp_path), token), tmp_path / "st")
    assert r.rc == 2 and "chmod 600" in r.err
    assert "s3cret" not in r.err


@pytest.mark.skipif(os.geteuid() != 0, reason="the token file owner is checked as root")
def test_token_file_owned_by_another_user_refused(tmp_path, certs, collector, token, plain_jpeg):
    """Mode 600 is not enough: the owner can chmod it, or swap it."""
    c = collector()
    os.chown(token, 65534, 65534)
    t = write_tree(tmp_path / "t", {"a.jpg": plain_jpeg})
    r = dscan(t, deliver_args(c, certs, config(tmp_path), token), tmp_path / "st")
    assert r.rc == 2 and "owned by uid 65534" in r.err and "chown root" in r.err
    assert "s3cret" not in r.err


def test_spool_is_private(tmp_path, certs, collector, token, plain_jpeg):
    c = collector(mode="500", fail=1000)
    t = write_tree(tmp_path / "t", {"a.jpg": plain_jpeg})
    st = tmp_path / "state"
    r = dscan(t, deliver_args(c, certs, config(tmp_path, exit_wait_ms=100), token), st)
    assert r.rc == 3
    sp = st / "spool"
    assert sp.stat().st_mode & 0o777 == 0o700
    segs = list(sp.glob("*.seg"))
    assert segs and all(p.stat().st_mode & 0o777 == 0o600 for p in segs)


def test_torn_tail_is_skipped_and_reported(tmp_path, certs, collector, token, findings_tree):
    down = collector(mode="500", fail=1000)
    st = tmp_path / "state"
    cfg = config(tmp_path, exit_wait_ms=100)
    r = dscan(findings_tree, deliver_args(down, certs, cfg, token), st)
    assert r.rc == 3
    # A crash mid-append: a torn frame at the end of a segment left open.
    seg = sorted((st / "spool").glob("*.seg"))[-1]
    torn = seg.with_suffix(".open")
    torn.write_bytes(seg.read_bytes() + b"CBS1\xff\x00\x00\x00\x01\x02")
    seg.unlink()
    good = collector()
    f = flush(deliver_args(good, certs, cfg, token), st)
    assert f.rc == 0, f.err
    assert "torn record" in f.err
    same_records(local_records(r), good.accepted())


@pytest.mark.parametrize("fmt", ["splunk-hec", "elastic-bulk", "ndjson"])
def test_non_utf8_path_is_delivered(tmp_path, certs, collector, token, lpr_jpeg, fmt):
    """A name that is not UTF-8 travels as its \\udcXX escapes, in every format."""
    t = write_tree(tmp_path / "t", {b"lpr/caf\xe9-\xff.jpg": lpr_jpeg})
    c = collector()
    st = tmp_path / "state"
    r = dscan(t, deliver_args(c, certs, config(tmp_path), token, fmt=fmt), st)
    assert r.rc == 1, r.err
    same_records(local_records(r), c.accepted())
    f = [x for x in c.accepted() if x["type"] == "finding"][0]
    assert f["path"].encode("utf-8", "surrogateescape").endswith(b"caf\xe9-\xff.jpg")


# ---- the spool's byte cap, path masking -------------------------------------------

def test_spool_cap_drops_unscannable_first_and_says_so(tmp_path, certs, collector, token,
                                                      lpr_jpeg):
    """At the cap unscannable records are dropped (counted in the summary);
    the findings and the summary still go."""
    files = {f"bad/{i:03d}-{'x' * 150}.png": F.png_bad_length() for i in range(150)}
    files["lpr/one.jpg"] = lpr_jpeg
    t = write_tree(tmp_path / "t", files)
    down = collector(mode="500", fail=10**6)
    st = tmp_path / "state"
    cfg = config(tmp_path, spool_max="64K", exit_wait_ms=100)
    r = dscan(t, deliver_args(down, certs, cfg, token), st)
    assert r.rc == 3, r.err                 # the finding is spooled; delivery pending
    local = local_records(r)
    summary = local[-1]
    dropped = summary["delivery"]["spool_dropped"]
    assert summary["delivery"]["format"] == "ndjson"
    assert 0 < dropped < 150
    assert f"{dropped} unscannable record(s) were dropped" in r.err
    good = collector()
    f = flush(deliver_args(good, certs, cfg, token), st)
    assert f.rc == 0, f.err
    got = {x["event_id"]: x for x in good.accepted()}
    for rec in local:
        if rec["type"] != "unscannable":
            assert got[rec["event_id"]] == rec
    assert sum(1 for x in got.values() if x["type"] == "unscannable") == 150 - dropped


def test_spool_cap_refusing_a_finding_exits_2(tmp_path, certs, collector, token, lpr_jpeg):
    files = {f"lpr/{i:03d}-{'y' * 200}.jpg": lpr_jpeg for i in range(150)}
    t = write_tree(tmp_path / "t", files)
    down = collector(mode="500", fail=10**6)
    cfg = config(tmp_path, spool_max="64K", exit_wait_ms=100)
    r = dscan(t, deliver_args(down, certs, cfg, token), tmp_path / "state")
    assert r.rc == 2, r.err
    assert "could not be spooled" in r.err
    # The local output is whole: the spool's refusal is not a local write error.
    assert local_records(r)[-1]["type"] == "summary"
    assert local_records(r)[-1]["findings"] == 150


def test_mask_paths(tmp_path, certs, collector, token, lpr_jpeg):
    t = write_tree(tmp_path / "t", {"lpr/lane_7ABC123_20190531.jpg": lpr_jpeg})
    c = collector()
    st = tmp_path / "state"
    r = dscan(t, deliver_args(c, certs, config(tmp_path, mask_paths="true"), token), st)
    assert r.rc == 1, r.err
    local = [x for x in local_records(r) if x["type"] == "finding"][0]
    sent = [x for x in c.accepted() if x["type"] == "finding"][0]
    assert local["path"].endswith("lane_7ABC123_20190531.jpg")
    assert sent["path"].endswith("lane_7A***23_20190531.jpg")
    assert "7ABC123" not in json.dumps(c.accepted())
    # Same record otherwise: the ids come from the real path.
    assert {k: v for k, v in sent.items() if k != "path"} == \
        {k: v for k, v in local.items() if k != "path"}


def test_sigterm_during_exit_wait_stops_delivery(tmp_path, certs, collector, token,
                                                 findings_tree):
    """A scan waiting at exit for a failing endpoint (here up to 10 minutes)
    ends on SIGTERM, keeps the records spooled, and flush delivers them."""
    down = collector(mode="500", fail=10**6)
    st = tmp_path / "state"
    cfg = config(tmp_path, exit_wait_ms=600000)
    cmd = [str(CBPSCAN), "scan", "--state", str(st), "--format", "jsonl",
           *deliver_args(down, certs, cfg, token), str(findings_tree)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = []
    for line in p.stdout:
        lines.append(json.loads(line))
        if lines[-1]["type"] == "summary":
            break
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    assert p.returncode in (2, 3), err
    good = collector()
    f = flush(deliver_args(good, certs, cfg, token), st)
    assert f.rc == 0, f.err
    same_records(lines, good.accepted())


# ---- crashes ---------------------------------------------------------------------

@pytest.mark.slow
def test_sigkill_at_random_points_loses_nothing(tmp_path, certs, collector, token,
                                                 lpr_jpeg, plain_jpeg):
    """Kill the scanner at random points of the scan and of delivery, many
    times (and flush a few times), then flush: every record the scan wrote locally arrived, and a
    record received twice is the same record (same event_id, same bytes)."""
    files = {f"d{i % 5}/{i:04d}.jpg": (lpr_jpeg if i % 3 else plain_jpeg) for i in range(60)}
    t = write_tree(tmp_path / "big", files)
    c = collector(mode="500", fail=0)
    st = tmp_path / "state"
    cfg = config(tmp_path, batch_records=7)
    rnd = random.Random(int(os.environ.get("CBP_SEED", "11")))
    locals_ = []
    for i in range(24):
        out = tmp_path / f"out{i}.jsonl"
        cmd = [str(CBPSCAN), "scan", "--state", str(st), "--format", "jsonl", "--output",
               str(out), "--threads", "2", *deliver_args(c, certs, cfg, token), str(t)]
        p = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
        time.sleep(rnd.uniform(0.0, 0.4))
        p.send_signal(signal.SIGKILL)
        p.wait()
        if out.exists():
            locals_ += [json.loads(x) for x in out.read_text().splitlines() if x.endswith("}")]
    # flush killed too, between sending a batch and deleting its segment.
    for i in range(4):
        p = subprocess.Popen([str(CBPSCAN), "flush", "--state", str(st),
                              *deliver_args(c, certs, cfg, token)], stderr=subprocess.DEVNULL)
        time.sleep(rnd.uniform(0.0, 0.2))
        p.send_signal(signal.SIGKILL)
        p.wait()
    f = flush(deliver_args(c, certs, cfg, token), st)
    assert f.rc == 0, f.err
    assert spool_empty(st)
    got = {}
    for rec in c.accepted():
        if rec["event_id"] in got:
            assert got[rec["event_id"]] == rec      # a duplicate is the same record
        got[rec["event_id"]] = rec
    assert locals_, "no run got far enough to write a record"
    print(f"sigkill: {len(locals_)} local records, {len(c.accepted())} received, "
          f"{len(got)} distinct")
    for rec in locals_:
        assert got.get(rec["event_id"]) == rec
