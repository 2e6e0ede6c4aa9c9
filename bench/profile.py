"""A CPU profile of one request path under load: the user-service (built by bench/profile.sh with
symbols and frame pointers) serves wrk on PATH while perf samples the process; the samples become
a flame graph (inferno) and a table of where the time goes. Writes
bench/reports/flame/<name>.svg and <name>.md. Not a test.

Paths: `admin:/healthz` (the admin listener), `/no-such-path` (the public listener's 404),
`/v1/auth/check` and `/v1/users/me` (with a session token), `signup` and `login` (POST, argon2)."""
import argparse
import collections
import os
import platform
import subprocess
import time
import uuid
from pathlib import Path

from lib import ROOT, UserService, call, session, start_wrk, wrk_result

PASSWORD = "correct horse battery staple"
OUT = ROOT / "bench/reports/flame"

# Frames whose inclusive share the summary gives: the costs issue 29 asks about.
GROUPS = {
    "allocator (malloc/free/realloc)": ("malloc", "free", "realloc", "calloc", "mi_", "_int_",
                                        "malloc_consolidate", "cfree"),
    "random numbers (getrandom)": ("getrandom",),
    "tracing spans and logs": ("tracing_subscriber::", "tracing_core::", "tracing::span"),
    "metrics (prometheus)": ("prometheus::",),
    "kernel: network (tcp/loopback)": ("tcp_", "ip_", "__dev_queue_xmit", "net_rx", "__netif"),
    "syscall entry/exit": ("entry_SYSCALL", "syscall_exit", "do_syscall_64"),
    "hyper (HTTP/1 parse and write)": ("hyper::",),
    "redis client": ("redis::",),
    "mongodb driver": ("mongodb::",),
    "argon2": ("argon2::", "blake2"),
}


def accounts(service, n=16) -> list[str]:
    emails = [f"prof-{uuid.uuid4().hex[:8]}-{i}@example.com" for i in range(n)]
    for email in emails:
        status, _, _ = call(service.base, "POST", "/v1/users", {"email": email, "password": PASSWORD})
        assert status == 202, status
    return emails


def load(path: str, service) -> tuple[str, dict]:
    """The URL and wrk variables of a path name."""
    if path.startswith("admin:"):
        return f"http://127.0.0.1:{service.admin}{path.removeprefix('admin:')}", {"MODE": "check"}
    if path == "signup":
        return service.base + "/v1/users", {"MODE": "signup", "RUN": uuid.uuid4().hex[:8],
                                            "PASSWORD": PASSWORD}
    if path == "login":
        return service.base + "/v1/sessions", {"MODE": "login", "PASSWORD": PASSWORD,
                                               "EMAILS": ",".join(accounts(service))}
    env = {"MODE": "check"}
    if path.startswith("/v1/"):
        env["TOKEN"] = session(service, PASSWORD, "prof")
    return service.base + path, env


def folded_stacks(perf_data: Path, args) -> str:
    script = subprocess.run(["perf", "script", "-i", str(perf_data)], check=True,
                            capture_output=True, text=True).stdout
    return subprocess.run([args.collapse], input=script, check=True, capture_output=True,
                          text=True).stdout


def shares(folded: str) -> tuple[list, list, int]:
    """Self time by function (top 25) and the inclusive share of each group, of the total."""
    own, groups, total = collections.Counter(), collections.Counter(), 0
    for line in folded.splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        frames = stack.split(";")
        total += n
        own[frames[-1]] += n
        for group, needles in GROUPS.items():
            if any(any(f.startswith(x) or f"::{x}" in f for x in needles) for f in frames):
                groups[group] += n
    top = [(f, round(100 * n / total, 1)) for f, n in own.most_common(25)]
    grouped = [(g, round(100 * groups[g] / total, 1)) for g in GROUPS]
    return top, grouped, total


def write_report(args, name, svg, figures, top, grouped, total):
    md = [f"# Profile: {args.path}", "",
          f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} on {os.cpu_count()} CPUs "
          f"({platform.platform()}); binary `{args.binary_label}`; wrk -t{args.threads} "
          f"-c{args.connections}, perf at {args.frequency} Hz for {args.duration} s, "
          f"RUST_LOG={args.rust_log}.", "",
          f"Load while sampled: {figures['rps']} req/s, p50 {figures['p50_ms']} ms, "
          f"p99 {figures['p99_ms']} ms, {figures['errors']} non-2xx or failed; perf samples weighted "
          f"by their period (cycles), {total} in all.", "",
          f"Flame graph: [{svg.name}]({svg.name})", "",
          "| group (inclusive, % of the weight) | share |", "|---|---|"]
    md += [f"| {g} | {s} % |" for g, s in grouped]
    md += ["", "| function (self, % of the weight) | share |", "|---|---|"]
    md += [f"| `{f.replace('|', '/')[:140]}` | {s} % |" for f, s in top]
    (OUT / f"{name}.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--binary-label", default="user-service (profiling build)")
    ap.add_argument("--path", default="/v1/auth/check")
    ap.add_argument("--name", help="report name (default: from the path)")
    ap.add_argument("--duration", type=int, default=10, help="seconds sampled")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1, help="wrk threads")
    ap.add_argument("--frequency", type=int, default=999, help="perf samples per second")
    ap.add_argument("--rust-log", default="info", help="the service's RUST_LOG (chart default: info)")
    ap.add_argument("--wrk", default="wrk")
    ap.add_argument("--collapse", default="inferno-collapse-perf")
    ap.add_argument("--flamegraph", default="inferno-flamegraph")
    args = ap.parse_args()
    name = args.name or args.path.strip("/:").replace("/", "-").replace(":", "-") or "root"
    OUT.mkdir(parents=True, exist_ok=True)
    service = UserService(Path(args.binary), {"ALLOW_UNVERIFIED_LOGIN": "true", "RUST_LOG": args.rust_log})
    perf_data = Path(os.environ.get("RUN_DIR", ROOT / ".run")) / f"perf-{name}.data"
    try:
        url, env = load(args.path, service)
        wrk = start_wrk(args.wrk, url, env, args.connections, f"{args.duration + 3}s", args.threads)
        time.sleep(1.5)
        subprocess.run(["perf", "record", "-q", "-F", str(args.frequency), "-g", "-p",
                        str(service.proc.pid), "-o", str(perf_data), "--", "sleep",
                        str(args.duration)], check=True)
        figures = wrk_result(wrk)
    finally:
        service.stop()
    folded = folded_stacks(perf_data, args)
    # Kept beside the samples, for questions the summary does not answer.
    perf_data.with_suffix(".folded").write_text(folded)
    svg = OUT / f"{name}.svg"
    with svg.open("w") as out:
        subprocess.run([args.flamegraph, "--title", f"user-service {args.path} under wrk",
                        "--minwidth", "0.2"], input=folded, stdout=out, check=True, text=True)
    top, grouped, total = shares(folded)
    write_report(args, name, svg, figures, top, grouped, total)


if __name__ == "__main__":
    main()
