"""Forward-auth benchmark: GET /v1/auth/check (Redis only) against axum's hello world on the same
machine (the HTTP ceiling) and GET /v1/users/me (MongoDB), measured in one run with k6.

For each endpoint: the maximum throughput (VUS connections as fast as they go), then, for the
check, the latency at a fixed arrival rate of half its maximum. Targets (issue 14): the check at
least a quarter of the hello-world throughput, p99 under 5 ms at half its maximum rate.
Writes bench/reports/auth-check.{md,json}."""
import argparse
import json
import os
import platform
import subprocess
import time
import urllib.request

from lib import ROOT, UserService, free_port, session
from throughput import PASSWORD, k6, median_of


def start_hello(binary):
    port = free_port()
    proc = subprocess.Popen([str(binary), str(port)], stdout=subprocess.DEVNULL)
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.02)
    proc.kill()
    raise SystemExit("hello did not start")


def one_run(args, hello_base, service, token):
    common = {"DURATION": args.duration, "VUS": str(args.vus), "TOKEN": token}
    figures = {
        "hello_max": k6(args.k6, "me.js", {**common, "BASE": hello_base, "TARGET": "/"}),
        "check_max": k6(args.k6, "me.js", {**common, "BASE": service.base, "TARGET": "/v1/auth/check"}),
        "me_max": k6(args.k6, "me.js", {**common, "BASE": service.base, "TARGET": "/v1/users/me"}),
    }
    half = max(1, int(figures["check_max"]["rps"] / 2))
    figures["check_half_rate"] = {"rate": half, **k6(args.k6, "me.js", {
        **common, "BASE": service.base, "TARGET": "/v1/auth/check", "RATE": str(half)})}
    return figures


def report(figures, args):
    hello, check, me = (figures[k]["rps"] for k in ("hello_max", "check_max", "me_max"))
    half = figures["check_half_rate"]
    ratios = {"check_over_hello": round(check / hello, 3), "check_over_me": round(check / me, 2)}
    verdict = {
        "throughput_quarter_of_hello": ratios["check_over_hello"] >= 0.25,
        "p99_under_5ms_at_half_rate": half["p99_ms"] < 5.0,
    }
    meta = {"cpus": os.cpu_count(), "machine": platform.machine(), "runs": args.runs,
            "duration": args.duration, "vus": args.vus,
            "note": "k6 runs on the same machine as the services and shares its cores"}
    out = {"meta": meta, "figures": figures, "ratios": ratios, "targets_met": verdict}
    (ROOT / "bench/reports/auth-check.json").write_text(json.dumps(out, indent=2) + "\n")
    row = lambda name, f: f"| {name} | {f['rps']} | {f['p50_ms']} | {f['p99_ms']} | {f['failed_ratio']} |"  # noqa: E731
    md = [
        "# Forward-auth check benchmark", "",
        f"{meta['cpus']} CPUs ({meta['machine']}), median of {args.runs} runs of {args.duration}, "
        f"{args.vus} k6 VUs on the same machine. `bench/auth_check.sh`.", "",
        "| endpoint | req/s | p50 ms | p99 ms | failed |", "|---|---|---|---|---|",
        row("axum hello world (HTTP ceiling)", figures["hello_max"]),
        row("GET /v1/auth/check (Redis only)", figures["check_max"]),
        row("GET /v1/users/me (MongoDB)", figures["me_max"]),
        row(f"GET /v1/auth/check at {half['rate']}/s (half its max)", half), "",
        f"- check / hello world: **{ratios['check_over_hello']}** (target ≥ 0.25: "
        f"{'met' if verdict['throughput_quarter_of_hello'] else 'NOT met'})",
        f"- check / users/me: **{ratios['check_over_me']}×**",
        f"- p99 at half the check's maximum rate: **{half['p99_ms']} ms** (target < 5 ms: "
        f"{'met' if verdict['p99_under_5ms_at_half_rate'] else 'NOT met'})", "",
    ]
    (ROOT / "bench/reports/auth-check.md").write_text("\n".join(md))
    print("\n".join(md))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--k6", required=True)
    parser.add_argument("--binary", default=str(ROOT / "target/release/user-service"))
    parser.add_argument("--hello", default=str(ROOT / "target/release/examples/hello"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", default="10s")
    parser.add_argument("--vus", type=int, default=32)
    args = parser.parse_args()
    hello, hello_base = start_hello(args.hello)
    service = UserService(args.binary, {"ALLOW_UNVERIFIED_LOGIN": "true"})
    try:
        token = session(service, PASSWORD, "auth")
        runs = [one_run(args, hello_base, service, token) for _ in range(args.runs)]
    finally:
        service.stop()
        hello.kill()
    figures = {k: median_of([r[k] for r in runs]) for k in runs[0]}
    report(figures, args)


if __name__ == "__main__":
    main()
