"""The stack of scripts/monitoring/live_check.py: a Prometheus of its own, the service binaries
(two user-service replicas, one of which loses its Redis) and the workload that feeds them."""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pika
import pymongo
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rule_tests  # noqa: E402

HOST = "127.0.0.1"
NS = "user-platform"
JOBS = {"user_job": "up-user-platform-user-service", "mail_job": "up-user-platform-mail-service",
        "rabbitmq_job": "up-user-platform-rabbitmq"}
RABBITMQ_METRICS = f"{HOST}:15692"
MONGODB_URI = f"mongodb://{HOST}:27017/?directConnection=true"
PASSWORD = "correct horse battery staple"


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_until(check, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - not there yet (no connection, no series)
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} not ready within {timeout} s")


def http(method, url, body=None, token=None):
    """(status, parsed JSON or None) of one request; never raises on an HTTP error status."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw.startswith(b"{") else None
    except urllib.error.HTTPError as e:
        return e.code, None


class CutProxy:
    """TCP proxy that can drop its connections and refuse new ones (a dependency gone away)."""

    def __init__(self, port):
        self.target, self.port, self.socks, self.closed = (HOST, port), free_port(), [], False
        self.listener = socket.create_server((HOST, self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
                if self.closed:
                    client.close()
                    return
                upstream = socket.create_connection(self.target)
            except OSError:
                return
            self.socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            s.close()

    def cut(self):
        self.closed = True
        try:   # wakes the thread blocked in accept(); close() alone would not
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        for s in self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Stack:
    """Prometheus, two user-service replicas (one to be broken) and a mail-service."""

    def __init__(self, args):
        args.run_dir = args.run_dir.resolve()
        self.args, self.procs = args, []
        self.run_id = f"mon{os.getpid()}"
        self.queue = f"monitoring_{self.run_id}"
        self.exchange = f"monitoring_{self.run_id}.events"
        self.database = f"monitoring_{self.run_id}"
        self.ports = {k: free_port() for k in ("prom", "http", "admin", "http_b", "admin_b", "mail_admin")}
        self.redis_proxy = CutProxy(6379)
        args.run_dir.mkdir(parents=True, exist_ok=True)

    def spawn(self, name, cmd, env=None):
        log = open(self.args.run_dir / f"{name}.log", "wb")
        p = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        self.procs.append((name, p))
        return p

    def prometheus(self):
        rules = self.args.run_dir / "rules.yaml"
        rule_tests.render_rules(self.args.helm, rules, ["--set", f"emailQueue={self.queue}"])
        static = lambda job, port: {"job_name": job, "static_configs": [  # noqa: E731
            {"targets": [f"{HOST}:{p}" for p in port], "labels": {"namespace": NS}}]}
        cfg = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
               "rule_files": [str(rules)],
               "scrape_configs": [static(JOBS["user_job"], [self.ports["admin"], self.ports["admin_b"]]),
                                  static(JOBS["mail_job"], [self.ports["mail_admin"]]),
                                  dict(static(JOBS["rabbitmq_job"], []), metrics_path="/metrics/per-object")]}
        cfg["scrape_configs"][2]["static_configs"][0]["targets"] = [RABBITMQ_METRICS]
        (self.args.run_dir / "prometheus.yml").write_text(yaml.safe_dump(cfg))
        data = self.args.run_dir / "prometheus-data"
        subprocess.run(["rm", "-rf", str(data)], check=True)
        self.spawn("prometheus", ["prometheus", f"--config.file={self.args.run_dir / 'prometheus.yml'}",
                                  f"--storage.tsdb.path={data}", f"--web.listen-address={HOST}:{self.ports['prom']}"])
        wait_until(lambda: http("GET", f"{self.prom}/-/ready")[0] == 200, 60, "prometheus")

    @property
    def prom(self):
        return f"http://{HOST}:{self.ports['prom']}"

    def services(self):
        common = {**os.environ, "RUST_LOG": "info", "AMQP_URL": "amqp://guest:guest@127.0.0.1:5672/%2f",
                  "EMAIL_QUEUE": self.queue, "REDIS_KEY_PREFIX": f"{self.run_id}:", "SHUTDOWN_TIMEOUT": "5s"}
        user = {**common, "MONGODB_URI": MONGODB_URI, "MONGODB_DATABASE": self.database,
                "EVENTS_EXCHANGE": self.exchange,
                "ALLOW_UNVERIFIED_LOGIN": "true", "RATE_LIMIT_LOGIN_ACCOUNT": "4/1m", "REQUEST_TIMEOUT": "2s"}
        b = self.args.bin_dir
        for sfx, redis in (("", 6379), ("_b", self.redis_proxy.port)):
            self.spawn(f"user-service{sfx}", [str(b / "user-service")], {
                **user, "REDIS_URL": f"redis://{HOST}:{redis}", "HTTP_ADDR": f"{HOST}:{self.ports['http' + sfx]}",
                "ADMIN_ADDR": f"{HOST}:{self.ports['admin' + sfx]}"})
        self.spawn("mail-service", [str(b / "mail-service")], {
            **common, "REDIS_URL": f"redis://{HOST}:6379", "ADMIN_ADDR": f"{HOST}:{self.ports['mail_admin']}",
            "SMTP_HOST": HOST, "SMTP_PORT": "2525", "SMTP_TLS": "none", "RETRY_DELAYS": "1s,2s",
            "MAIL_FROM": "Monitoring check <no-reply@localhost>"})
        for port in ("admin", "admin_b", "mail_admin"):
            wait_until(lambda p=port: http("GET", f"http://{HOST}:{self.ports[p]}/readyz")[0] == 200, 90, port)

    def stop(self):
        for _name, p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for _name, p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        try:   # the run's own queues and exchange
            conn = pika.BlockingConnection(pika.ConnectionParameters(HOST, 5672))
            ch = conn.channel()
            for q in [self.queue, f"{self.queue}.dead"] + [f"{self.queue}.retry.{i}" for i in range(2)]:
                ch.queue_delete(q)
            ch.exchange_delete(self.exchange)
            conn.close()
        except pika.exceptions.AMQPError as e:
            print(f"  note: could not delete the run's queues: {e}")
        try:   # and its database (Redis keys expire by themselves)
            pymongo.MongoClient(MONGODB_URI, serverSelectionTimeoutMS=3000).drop_database(self.database)
        except pymongo.errors.PyMongoError as e:
            print(f"  note: could not drop database {self.database}: {e}")


class Workload:
    """Every kind of event the panels show, in two rounds: a counter that appears with its first
    event is invisible to rate() until a later scrape sees it grow, so the first round creates
    every series and, once Prometheus has scraped them, the second makes them move."""

    def __init__(self, stack):
        self.stack, self.seen, rid = stack, {}, stack.run_id
        self.base = f"http://{HOST}:{stack.ports['http']}"
        self.base_b = f"http://{HOST}:{stack.ports['http_b']}"
        self.users = [f"{rid}-{i}@example.com" for i in range(4)]
        self.tokens = []

    def call(self, method, url, body=None, token=None):
        status, doc = http(method, url, body, token)
        self.seen[status] = self.seen.get(status, 0) + 1
        return status, doc

    def poison(self):
        conn = pika.BlockingConnection(pika.ConnectionParameters(HOST, 5672))
        conn.channel().basic_publish("", self.stack.queue, b"not json at all", pika.BasicProperties(delivery_mode=2))
        conn.close()

    def failing_replica(self):
        """The second replica, its Redis connection cut: 503 on the three SLO routes."""
        token = self.tokens[0]["token"] if self.tokens and self.tokens[0] else "x"
        self.call("POST", f"{self.base_b}/v1/sessions", {"email": self.users[0], "password": PASSWORD})
        self.call("POST", f"{self.base_b}/v1/users", {"email": f"{self.stack.run_id}-c@example.com", "password": PASSWORD})
        self.call("GET", f"{self.base_b}/v1/users/me", token=token)

    def first_round(self):
        rid = self.stack.run_id
        for email in self.users[:2] + [f"smtp550-{rid}@example.com"]:   # 550: dead-lettered at once
            self.call("POST", f"{self.base}/v1/users", {"email": email, "password": PASSWORD})
        self.tokens = [self.call("POST", f"{self.base}/v1/sessions", {"email": e, "password": PASSWORD})[1]
                       for e in self.users[:2]]
        self.poison()
        self.call("POST", f"{self.base_b}/v1/users", {"email": f"{rid}-b@example.com", "password": PASSWORD})
        self.stack.redis_proxy.cut()
        self.failing_replica()

    def second_round(self):
        rid, base = self.stack.run_id, self.base
        for email in self.users[2:] + [f"smtp451-{rid}@example.com", self.users[0]]:   # 451: retried; taken
            self.call("POST", f"{base}/v1/users", {"email": email, "password": PASSWORD})
        self.tokens += [self.call("POST", f"{base}/v1/sessions", {"email": self.users[2], "password": PASSWORD})[1]]
        for _ in range(6):                                    # wrong password, then rate-limited
            self.call("POST", f"{base}/v1/sessions", {"email": self.users[3], "password": "wrong " + PASSWORD})
        for t in [t for t in self.tokens if t] * 5:
            self.call("GET", f"{base}/v1/users/me", token=t["token"])
        self.call("GET", f"{base}/v1/users/me", token="not-a-token")
        for t in [t for t in self.tokens if t][:2] + [{"token": "not-a-token"}]:   # forward-auth
            self.call("GET", f"{base}/v1/auth/check", token=t["token"])
        self.call("POST", f"{base}/v1/users", {"email": "not an address", "password": "x"})
        self.call("GET", f"{base}/v1/no-such-route")
        self.call("PATCH", f"{base}/v1/users/me", {"display_name": "Ada"}, token=self.tokens[0]["token"])
        self.poison()
        self.failing_replica()
        self.failing_replica()

    def run(self):
        self.first_round()
        seen = 'count(http_requests_total{status="503"}) >= 3 and on () count(mail_messages_consumed_total{outcome="dead_lettered"}) >= 2'
        wait_until(lambda: api(self.stack.prom, "query", query=seen)[1]["result"], 60,
                   "the first round's series in Prometheus")
        time.sleep(2)
        self.second_round()
        return self.seen


def api(prom, path, **params):
    """(ok, data or error text) of a Prometheus HTTP API call."""
    url = f"{prom}/api/v1/{path}?" + urllib.parse.urlencode(params, doseq=True)
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return True, json.load(r)["data"]
    except urllib.error.HTTPError as e:
        return False, json.loads(e.read() or b"{}").get("error", str(e))
