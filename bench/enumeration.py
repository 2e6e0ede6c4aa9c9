#!/usr/bin/env python3
"""Account-enumeration timing benchmark for the user service (not a test: run it on purpose).

The API gives the same status and body for an address with and without an account; this measures
whether the *time* differs. It starts its own user-service (rate limits off, a fresh database,
key prefix and queue), then sends interleaved requests of each pair of classes one at a time and
reports per class the median and p10/p90 latency, and the difference of the medians.

    bench/enumeration.sh            # builds the release binary if needed, then runs this
    bench/enumeration.py --binary target/release/user-service --samples 200

Needs the dependency services (scripts/services.sh start) and pymongo (their venv has it).
Writes bench/reports/enumeration.{md,json}.
"""
import argparse
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base: str, method: str, path: str, body: dict) -> tuple[int, bytes, float]:
    data = json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"content-type": "application/json"})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            payload = resp.read()
            status = resp.status
    except urllib.error.HTTPError as e:
        payload = e.read()
        status = e.code
    return status, payload, (time.perf_counter() - started) * 1000


def summary(samples: list[float]) -> dict:
    q = statistics.quantiles(samples, n=10)
    return {"n": len(samples), "median_ms": round(statistics.median(samples), 3),
            "p10_ms": round(q[0], 3), "p90_ms": round(q[-1], 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=str(ROOT / "target/release/user-service"))
    ap.add_argument("--samples", type=int, default=200)
    args = ap.parse_args()

    run_id = uuid.uuid4().hex[:12]
    http, admin = free_port(), free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HTTP_ADDR": f"127.0.0.1:{http}", "ADMIN_ADDR": f"127.0.0.1:{admin}",
        "MONGODB_URI": "mongodb://127.0.0.1:27017/?directConnection=true",
        "MONGODB_DATABASE": f"bench_enum_{run_id}",
        "REDIS_URL": "redis://127.0.0.1:6379", "REDIS_KEY_PREFIX": f"bench:{run_id}:",
        "AMQP_URL": "amqp://guest:guest@127.0.0.1:5672/%2f",
        "EMAIL_QUEUE": f"bench_enum_{run_id}", "EVENTS_EXCHANGE": f"bench.events.{run_id}",
        "RATE_LIMIT_LOGIN_IP": "off", "RATE_LIMIT_LOGIN_ACCOUNT": "off",
        "RATE_LIMIT_SIGNUP_IP": "off", "RATE_LIMIT_EMAIL_ADDRESS": "off",
        "RATE_LIMIT_EMAIL_IP": "off", "LOG_FORMAT": "json", "RUST_LOG": "warn",
    }
    proc = subprocess.Popen([args.binary], env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{http}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{admin}/readyz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        else:
            sys.exit("user-service did not become ready")

        taken = f"taken-{run_id}@example.com"
        assert call(base, "POST", "/v1/users", {"email": taken, "password": PASSWORD})[0] == 202
        fresh = lambda: f"new-{uuid.uuid4().hex}@example.com"  # noqa: E731
        pairs = {
            "signup": ("POST", "/v1/users",
                       lambda: {"email": fresh(), "password": PASSWORD},
                       lambda: {"email": taken, "password": PASSWORD}),
            "login": ("POST", "/v1/sessions",
                      lambda: {"email": fresh(), "password": PASSWORD},
                      lambda: {"email": taken, "password": "wrong wrong wrong wrong"}),
            "password_reset": ("POST", "/v1/password-resets",
                               lambda: {"email": fresh()}, lambda: {"email": taken}),
            "verification_resend": ("POST", "/v1/email-verifications",
                                    lambda: {"email": fresh()}, lambda: {"email": taken}),
        }
        results = {}
        for name, (method, path, unknown, known) in pairs.items():
            times = {"unknown": [], "known": []}
            answers = {"unknown": set(), "known": set()}
            # Warm-up, then interleave the classes in random order so drift hits both alike.
            for _ in range(10):
                call(base, method, path, unknown())
            order = ["unknown", "known"] * args.samples
            random.shuffle(order)
            for cls in order:
                status, body, ms = call(base, method, path, (unknown if cls == "unknown" else known)())
                times[cls].append(ms)
                answers[cls].add((status, body))
            u, k = summary(times["unknown"]), summary(times["known"])
            results[name] = {
                "unknown_address": u, "existing_account": k,
                "median_difference_ms": round(k["median_ms"] - u["median_ms"], 3),
                "median_difference_pct": round(100 * (k["median_ms"] - u["median_ms"]) / u["median_ms"], 1),
                "same_status_and_body": answers["unknown"] == answers["known"] and len(answers["known"]) == 1,
            }
            print(f"{name}: {results[name]}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        try:
            import pymongo
            pymongo.MongoClient(env["MONGODB_URI"]).drop_database(env["MONGODB_DATABASE"])
        except Exception as e:  # noqa: BLE001 - cleanup only
            print(f"cleanup: {e}", file=sys.stderr)
        for q in (env["EMAIL_QUEUE"], env["EMAIL_QUEUE"] + ".dead"):
            subprocess.run(["rabbitmqctl", "-q", "delete_queue", q], capture_output=True)
        subprocess.run(["rabbitmqctl", "-q", "eval",
                        f'rabbit_exchange:delete(rabbit_misc:r(<<"/">>, exchange, <<"{env["EVENTS_EXCHANGE"]}">>), false, <<"bench">>).'],
                       capture_output=True)

    report = {
        "benchmark": "account enumeration timing",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "binary": os.path.relpath(args.binary, ROOT),
        "samples_per_class": args.samples,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": results,
    }
    out = ROOT / "bench/reports"
    out.mkdir(parents=True, exist_ok=True)
    (out / "enumeration.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Account enumeration timing",
        "",
        f"{report['date']}, {report['machine']['cpus']} CPUs, {report['machine']['platform']}, "
        f"`{report['binary']}`, {args.samples} sequential requests per class, interleaved at random.",
        "Existing account vs unknown address: same status and body, and the latency difference.",
        "",
        "| endpoint | unknown: median (p10–p90) ms | existing: median (p10–p90) ms | difference of medians | same answer |",
        "|---|---|---|---|---|",
    ]
    for name, r in results.items():
        u, k = r["unknown_address"], r["existing_account"]
        lines.append(
            f"| {name} | {u['median_ms']} ({u['p10_ms']}–{u['p90_ms']}) | {k['median_ms']} "
            f"({k['p10_ms']}–{k['p90_ms']}) | {r['median_difference_ms']:+} ms ({r['median_difference_pct']:+}%) "
            f"| {'yes' if r['same_status_and_body'] else 'NO'} |")
    (out / "enumeration.md").write_text("\n".join(lines) + "\n")
    print(f"report: {out / 'enumeration.md'}")


if __name__ == "__main__":
    main()
