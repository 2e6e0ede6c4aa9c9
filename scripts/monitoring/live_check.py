#!/usr/bin/env python3
"""Every dashboard panel and recording rule evaluated against a real Prometheus.

Starts a Prometheus of its own (scrape and rule interval 1 s) scraping the user-service and
mail-service binaries and RabbitMQ's rabbitmq_prometheus plugin (/metrics/per-object on 15692),
with the rules rendered from the chart loaded. The jobs are named as the chart's ServiceMonitors
name them (release `up`, namespace `user-platform`), so the rules select exactly what they would
in a cluster. The services get a queue, exchange, database and Redis key prefix of their own.

A short workload runs: signups (one address already taken, one whose SMTP server answers 451 so
it is retried until dead-lettered, one answered 550), logins good and bad, session checks,
malformed requests, a poison message on the queue, and 5xx answers from a second user-service
replica whose Redis connection is cut (a fault proxy, as in the failure drills).

Then every panel query of every dashboard in charts/user-platform/dashboards/ (template variables
resolved from their label_values() queries, as Grafana would) must parse and return data, unless
it is in ALLOW_NO_DATA with the reason; every rule must evaluate without error and every
recording rule must produce a series. Self-test: a copy of a dashboard with a misspelt metric
and one with a PromQL syntax error must both be reported.

Usage: live_check.py --helm HELM --bin-dir TARGET/debug --run-dir DIR
"""
import argparse
import json
import os
import re
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
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rule_tests  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent.parent
DASHBOARDS = ROOT / "charts" / "user-platform" / "dashboards"
HOST = "127.0.0.1"
NS = "user-platform"
JOBS = {"user_job": "up-user-platform-user-service", "mail_job": "up-user-platform-mail-service",
        "rabbitmq_job": "up-user-platform-rabbitmq"}
RABBITMQ_METRICS = f"{HOST}:15692"
PASSWORD = "correct horse battery staple"

# Panel queries that cannot return data here, by (dashboard file, panel title): the reason.
ALLOW_NO_DATA = {
    ("user-service.json", "Replicas"): "kube-state-metrics (kube_deployment_*): no Kubernetes here",
    ("email-pipeline.json", "Replicas"): "kube-state-metrics (kube_deployment_*): no Kubernetes here",
}
# Grafana's interval variables, as Grafana would set them for a short time range.
BUILTIN = {"__rate_interval": "1m", "__interval": "15s", "__range": "5m"}


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
        user = {**common, "MONGODB_URI": "mongodb://127.0.0.1:27017/?directConnection=true",
                "MONGODB_DATABASE": f"monitoring_{self.run_id}", "EVENTS_EXCHANGE": self.exchange,
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


VAR = re.compile(r"\$\{?(\w+)(?::\w+)?\}?")


def substitute(q, values):
    return VAR.sub(lambda m: values.get(m.group(1), m.group(0)), q)


def resolve_variables(prom, name, dash, expected):
    """Variable values as Grafana would resolve them (label_values() through the label values
    API); single-value variables take the expected value, which must be among the options."""
    values, errors = dict(BUILTIN), []
    for var in dash.get("templating", {}).get("list", []):
        if var["type"] == "datasource":
            continue
        q = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        m = re.fullmatch(r"\s*label_values\((.+),\s*(\w+)\)\s*", q) if var["type"] == "query" else None
        if not m:
            errors.append(f"{name}: variable {var['name']}: only label_values() queries are checked here")
            continue
        ok, options = api(prom, f"label/{m.group(2)}/values", **{"match[]": substitute(m.group(1), values)})
        if not ok:
            errors.append(f"{name}: variable {var['name']}: {options}")
            continue
        if var.get("regex"):
            rx = re.compile(var["regex"].strip("/"))
            options = [o for o in options if rx.search(o)]
        if var.get("multi") or var.get("includeAll"):
            # Grafana's escaping of multi-value variables for Prometheus regex matchers.
            esc = [re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\\\1", o) for o in options]
            values[var["name"]] = "(" + "|".join(esc) + ")" if options else "$none"
        elif expected.get(var["name"]) in options:
            values[var["name"]] = expected[var["name"]]
        else:
            errors.append(f"{name}: variable {var['name']}: {expected.get(var['name'])!r} not among {options}")
    return values, errors


def panel_targets(panels):
    for p in panels:
        yield from panel_targets(p.get("panels", []))
        for t in p.get("targets", []):
            if t.get("expr"):
                yield p.get("title"), t.get("refId"), t["expr"]


def check_dashboards(prom, dashboards, expected):
    """(lines for the report, errors) for [(file name, dashboard)]."""
    lines, errors = [], []
    for name, dash in dashboards:
        values, errs = resolve_variables(prom, name, dash, expected)
        errors += errs
        for title, ref, expr in panel_targets(dash.get("panels", [])):
            q = substitute(expr, values)
            where = f"{name}: {title!r} {ref}"
            if "$" in q:
                errors.append(f"{where}: unresolved variable in {q}")
                continue
            ok, data = api(prom, "query", query=q)
            if not ok:
                errors.append(f"{where}: {data}\n      {q}")
            elif data["result"]:
                lines.append(f"data     {where}: {len(data['result'])} series")
            elif (name, title) in ALLOW_NO_DATA:
                lines.append(f"allowed  {where}: no data ({ALLOW_NO_DATA[(name, title)]})")
            else:
                errors.append(f"{where}: no data\n      {q}")
    return lines, errors


def check_rules(prom):
    """Every rule healthy; every recording rule (per SLO) produced a series."""
    ok, data = api(prom, "rules")
    if not ok:
        return 0, [f"rules API: {data}"]
    errors, n = [], 0
    for g in data["groups"]:
        for r in g["rules"]:
            n += 1
            name = r["name"]
            if r["health"] != "ok":
                errors.append(f"rule {name}: health {r['health']}: {r.get('lastError', '')}")
            if r["type"] == "recording":
                sel = f'{name}{{slo="{r["labels"]["slo"]}"}}' if "slo" in (r.get("labels") or {}) else name
                ok, res = api(prom, "query", query=sel)
                if not ok or not res["result"]:
                    errors.append(f"recording rule {sel}: no series")
    return n, errors


def check_slis(prom):
    """The workload's failures show in the SLIs that should see them (the rules select the
    services' real series, not just any series)."""
    errors = []
    for slo in ("login-availability", "signup-availability", "session-check-availability", "email-dead-letters"):
        ok, res = api(prom, "query", query=f'slo:sli_error:ratio_rate5m{{slo="{slo}"}} > 0')
        if not ok or not res["result"]:
            errors.append(f"SLO {slo}: the workload's failures do not show in slo:sli_error:ratio_rate5m")
    return errors


def self_test(prom, expected):
    """A misspelt metric and a syntax error in a copy of a dashboard must both be reported."""
    broken = json.loads((DASHBOARDS / "user-service.json").read_text())
    panels = [p for p in broken["panels"] if "http_requests_total" in json.dumps(p.get("targets", []))]
    typo, syntax = panels[0], panels[1]
    typo["targets"][0]["expr"] = typo["targets"][0]["expr"].replace("http_requests_total", "http_request_total")
    syntax["targets"][0]["expr"] += ")"
    _lines, errors = check_dashboards(prom, [("typo.json", broken)], expected)
    return any(f"{typo['title']!r}" in e and "no data" in e for e in errors) and \
        any(f"{syntax['title']!r}" in e and "parse error" in e for e in errors)


def settle(stack):
    """Waits until the four dead letters (2 poison, 550, 451 after its retries) are counted."""
    q = 'sum(mail_messages_consumed_total{outcome="dead_lettered"})'
    wait_until(lambda: float(api(stack.prom, "query", query=q)[1]["result"][0]["value"][1]) >= 4, 90,
               "mail-service dead-lettering the poison message and the refused emails")
    time.sleep(4)   # a few more scrapes and rule evaluations


def run(stack):
    stack.prometheus()
    stack.services()
    wait_until(lambda: all(t["health"] == "up" for t in api(stack.prom, "targets")[1]["activeTargets"]), 60,
               "all four scrape targets")
    seen = Workload(stack).run()
    print("  workload answers by status: " + ", ".join(f"{k}: {v}" for k, v in sorted(seen.items())))
    settle(stack)
    expected = {"namespace": NS, "queue": stack.queue, **JOBS}
    files = [(p.name, json.loads(p.read_text())) for p in sorted(DASHBOARDS.glob("*.json"))]
    lines, errors = check_dashboards(stack.prom, files, expected)
    for line in lines:
        print(f"  {line}")
    n_rules, rule_errors = check_rules(stack.prom)
    print(f"  rules: {n_rules} loaded from the chart, {len(rule_errors)} errors")
    errors += rule_errors
    sli_errors = check_slis(stack.prom)
    print(f"  SLIs: the 5xx answers and dead letters of the workload show in their error ratios: {'yes' if not sli_errors else 'NO'}")
    errors += sli_errors
    if self_test(stack.prom, expected):
        print("  self-test: a misspelt metric and a syntax error in a dashboard are both reported")
    else:
        errors.append("self-test: a broken dashboard was not reported as such")
    for e in errors:
        print(f"  ERROR: {e}")
    n_data = sum(1 for line in lines if line.startswith("data"))
    print(f"  dashboards: {len(files)} files, {n_data} panel queries with data, "
          f"{len(lines) - n_data} allow-listed, {len(errors)} errors")
    return not errors


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--helm", required=True)
    ap.add_argument("--bin-dir", type=Path, required=True)
    ap.add_argument("--run-dir", type=Path, required=True)
    args = ap.parse_args()
    stack = Stack(args)
    try:
        ok = run(stack)
    except RuntimeError as e:
        print(f"  ERROR: {e} (logs in {args.run_dir})")
        ok = False
    finally:
        stack.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
