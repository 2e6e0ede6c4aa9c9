"""The request path against its goals (issue 29), a candidate build and a baseline build of the
user-service measured in one run, interleaved: each figure the median of `--runs`.

Ceilings with wrk (`-t1`, `--connections` as fast as they go): the admin listener's /healthz
(bare axum: the unit every ratio is of), the public listener's 404, GET /v1/auth/check (Redis),
GET /v1/users/me (MongoDB); signup and login with `--hash-connections` against the hashing bound
(argon2id with the service's parameters on all cores, examples/hash_bound). Latency at a fixed
rate with k6: GET /v1/users/me, then GET /v1/auth/check, at `--storm-rate` while wrk logs in as
fast as it can. Idle RSS
one second after ready. Writes bench/reports/request-path.{md,json}."""
import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import time
import uuid
from pathlib import Path

from lib import ROOT, UserService, call, median_at, start_wrk, wrk_result
from throughput import hash_bound, k6

PASSWORD = "correct horse battery staple"
ACCOUNTS = 16

GOALS = [
    # (key, label, goal text, test on the candidate's figures)
    ("not_found_ratio", "public 404 / admin /healthz", "≥ 0.7", lambda v: v >= 0.7),
    ("check_ratio", "GET /v1/auth/check / admin /healthz", "≥ 0.5", lambda v: v >= 0.5),
    ("storm_p99_ms", "reads at the storm rate during a login storm: p99 ms", "< 20", lambda v: v < 20),
    ("signup_ratio", "signup / hashing bound", "≥ 0.8", lambda v: v >= 0.8),
    ("login_ratio", "login / hashing bound", "≥ 0.9", lambda v: v >= 0.9),
    # The same two bounds counting only the service's own CPU time: what they would be with
    # MongoDB, Redis, RabbitMQ and the load generator on cores of their own, as in a cluster.
    ("signup_service_ratio", "signup / hashing bound, the service's own CPU", "≥ 0.8",
     lambda v: v >= 0.8),
    ("login_service_ratio", "login / hashing bound, the service's own CPU", "≥ 0.9",
     lambda v: v >= 0.9),
]


TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")
# The processes sharing the cores with the service, by the name pgrep finds them under.
NEIGHBOURS = {"mongodb": "secantusd", "rabbitmq": "beam.smp", "redis": "redis-server"}


def pids(pattern: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def cpu_ms(pid: int) -> float:
    """User and system CPU time of a process so far, in ms (0 once it is gone)."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) * TICK_MS


class CpuMeter:
    """CPU time per request of the service, its neighbours and the load generators (this
    process's finished children: wrk and k6)."""

    def __init__(self, service_pid: int):
        self.pids = {"user-service": [service_pid], **{k: pids(v) for k, v in NEIGHBOURS.items()}}

    def snapshot(self) -> dict:
        used = {k: sum(cpu_ms(p) for p in v) for k, v in self.pids.items()}
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        used["load generator"] = (children.ru_utime + children.ru_stime) * 1000
        return used

    def per_request(self, before: dict, requests: int) -> dict:
        after = self.snapshot()
        return {k: round((after[k] - before[k]) / max(requests, 1), 3) for k in after}


class Target:
    """One build under test: its service, a session token and login accounts."""

    def __init__(self, label: str, binary: Path, rust_log: str, env: dict):
        self.label = label
        self.service = UserService(binary, {"ALLOW_UNVERIFIED_LOGIN": "true", "RUST_LOG": rust_log, **env})
        time.sleep(1)
        self.idle_rss_mib = round(self.service.rss_mib(), 1)
        tag = uuid.uuid4().hex[:8]
        self.emails = [f"rp-{tag}-{i}@example.com" for i in range(ACCOUNTS + 1)]
        for email in self.emails:
            status, _, _ = call(self.service.base, "POST", "/v1/users", {"email": email, "password": PASSWORD})
            assert status == 202, status
        status, body, _ = call(self.service.base, "POST", "/v1/sessions",
                               {"email": self.emails[-1], "password": PASSWORD})
        assert status == 201, status
        self.token = json.loads(body)["token"]
        self.cpu = CpuMeter(self.service.proc.pid)


def settle(targets: dict, limit_s: float = 30.0) -> float:
    """Waits until every service under test and its neighbours use under 10 % of a core (over
    half a second), at most `limit_s`: a service may still be hashing for logins whose clients
    the storm's end disconnected, and the next build's first figures would pay for it. Answers
    the seconds waited."""
    pids_all = [p for t in targets.values() for v in t.cpu.pids.values() for p in v]
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        before = sum(cpu_ms(p) for p in pids_all)
        time.sleep(0.5)
        if sum(cpu_ms(p) for p in pids_all) - before < 50:
            break
    return round(time.monotonic() - started, 1)


def ceiling(args, t: "Target", url, env, connections=None):
    """wrk as fast as it goes, with the CPU time per request of each process."""
    before = t.cpu.snapshot()
    result = wrk_result(start_wrk(args.wrk, url, env, connections or args.connections, args.duration, 1))
    result["cpu_ms_per_request"] = t.cpu.per_request(before, result["requests"])
    return result


def one_run(args, t: Target, bound: float) -> dict:
    s = t.service
    check = {"MODE": "check", "TOKEN": t.token}
    login = {"MODE": "login", "EMAILS": ",".join(t.emails[:-1]), "PASSWORD": PASSWORD}
    f = {
        "healthz": ceiling(args, t, f"http://127.0.0.1:{s.admin}/healthz", {"MODE": "check"}),
        "not_found": ceiling(args, t, s.base + "/no-such-path", {"MODE": "check"}),
        "check": ceiling(args, t, s.base + "/v1/auth/check", check),
        "me": ceiling(args, t, s.base + "/v1/users/me", check),
        "signup": ceiling(args, t, s.base + "/v1/users", {"MODE": "signup", "RUN": uuid.uuid4().hex[:8],
                                                          "PASSWORD": PASSWORD}, args.hash_connections),
        "login": ceiling(args, t, s.base + "/v1/sessions", login, args.hash_connections),
    }
    # The storm: logins as fast as they go, during which k6 reads at a fixed rate, first
    # GET /v1/users/me (MongoDB), then GET /v1/auth/check (Redis only).
    seconds = int(args.duration.rstrip("s"))
    storm = start_wrk(args.wrk, s.base + "/v1/sessions", login, args.hash_connections,
                      f"{2 * seconds + 4}s", 1)
    time.sleep(1.5)
    reads = {"BASE": s.base, "TOKEN": t.token, "VUS": "64", "RATE": str(args.storm_rate),
             "DURATION": args.duration}
    f["storm_reads"] = k6(args.k6, "me.js", {**reads, "TARGET": "/v1/users/me"})
    f["storm_checks"] = k6(args.k6, "me.js", {**reads, "TARGET": "/v1/auth/check"})
    f["storm_logins"] = wrk_result(storm)
    f["hash_bound"] = bound
    return f


def summarise(runs: list[dict], idle_rss: float) -> dict:
    def med(path):
        return median_at(runs, path)

    out = {name: med([name, "rps"]) for name in ("healthz", "not_found", "check", "me", "signup", "login")}
    out["hash_bound"] = med(["hash_bound"])
    out["check_p99_ms"] = med(["check", "p99_ms"])
    out["not_found_ratio"] = med_ratio(runs, "not_found", "healthz")
    out["check_ratio"] = med_ratio(runs, "check", "healthz")
    out["signup_ratio"] = round(statistics.median(r["signup"]["rps"] / r["hash_bound"] for r in runs), 3)
    out["login_ratio"] = round(statistics.median(r["login"]["rps"] / r["hash_bound"] for r in runs), 3)
    out["storm_p99_ms"] = med(["storm_reads", "p99_ms"])
    out["storm_p50_ms"] = med(["storm_reads", "p50_ms"])
    out["storm_check_p50_ms"] = med(["storm_checks", "p50_ms"])
    out["storm_check_p99_ms"] = med(["storm_checks", "p99_ms"])
    out["storm_login_rps"] = med(["storm_logins", "rps"])
    # wrk counts every non-2xx answer as an error: the 404 run is nothing but those.
    out["errors"] = sum(r[k]["errors"] for r in runs for k in ("healthz", "check", "me", "signup",
                                                                "login", "storm_logins"))
    out["cpu_ms_per_request"] = {
        name: {proc: round(statistics.median(r[name]["cpu_ms_per_request"][proc] for r in runs), 3)
               for proc in runs[0][name]["cpu_ms_per_request"]}
        for name in ("healthz", "not_found", "check", "me", "signup", "login")}
    out["idle_rss_mib"] = idle_rss
    # One hash's CPU time on the bound's cores, against the service's CPU time per operation.
    hash_ms = os.cpu_count() * 1000 / out["hash_bound"]
    for name in ("signup", "login"):
        used = out["cpu_ms_per_request"][name]["user-service"]
        out[f"{name}_service_ratio"] = round(hash_ms / used, 3) if used else 0.0
    return out


def med_ratio(runs, a, b):
    """The median of the per-run ratios: both figures of a run share that run's conditions."""
    return round(statistics.median(r[a]["rps"] / r[b]["rps"] for r in runs), 3)


def report(args, figures: dict, raw: dict) -> None:
    base, cand = figures.get("baseline"), figures["candidate"]
    labels = {k: raw[k]["label"] for k in raw}
    builds = list(figures)
    md = ["# Request path (issue 29)", "",
          f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} on {os.cpu_count()} CPUs "
          f"({platform.platform()}), load average {args.load_before:.2f} before the run; wrk -t1 "
          f"-c{args.connections} for the ceilings, -c{args.hash_connections} for signup/login; "
          f"{args.duration} per figure, median of {args.runs} interleaved runs; RUST_LOG={args.rust_log} "
          "(the chart's default), tracing export off; load generators on the same cores.", "",
          "Builds: " + "; ".join(f"**{k}** {v}" for k, v in labels.items()), "",
          "What changed, what each change bought and why the unmet goals are unmet: "
          "[request-path-changes.md](request-path-changes.md); flame graphs: [flame/](flame/).", "",
          "## Goals (met: by the candidate)", "",
          "| figure | goal | " + " | ".join(builds) + " | met |",
          "|---|---|" + "---|" * len(builds) + "---|"]
    for key, label, goal, test in GOALS:
        md.append(f"| {label} | {goal} | " + " | ".join(str(figures[b][key]) for b in builds) +
                  f" | {'yes' if test(cand[key]) else 'no'} |")
    if base:
        grew = cand["idle_rss_mib"] / base["idle_rss_mib"] - 1
        md.append(f"| idle RSS (MiB) | ≤ +10 % | " +
                  " | ".join(str(figures[b]["idle_rss_mib"]) for b in builds) +
                  f" ({grew:+.1%} candidate / baseline) | {'yes' if grew <= 0.10 else 'no'} |")
    md += ["", "## Figures (requests/s unless named)", "",
           "| figure | " + " | ".join(builds) + " |" + (" candidate / baseline |" if base else ""),
           "|---|" + "---|" * len(builds) + ("---|" if base else "")]
    for key in ("healthz", "not_found", "check", "check_p99_ms", "me", "signup", "login", "hash_bound",
                "storm_p50_ms", "storm_p99_ms", "storm_check_p50_ms", "storm_check_p99_ms", "storm_login_rps", "idle_rss_mib", "errors"):
        row = f"| {key} | " + " | ".join(str(figures[b][key]) for b in builds) + " |"
        if base:
            row += f" {cand[key] / base[key]:.2f} |" if base[key] else " — |"
        md.append(row)
    md += cpu_table(figures)
    (ROOT / "bench/reports/request-path.md").write_text("\n".join(md) + "\n")
    (ROOT / "bench/reports/request-path.json").write_text(json.dumps(
        {"settings": {k: v for k, v in vars(args).items()
                      if k not in ("wrk", "k6", "binary", "baseline", "hash_bound")},
         "figures": figures, "runs": raw}, indent=1, default=str))
    print("\n".join(md))


def cpu_table(figures: dict) -> list[str]:
    """CPU time per request (ms) of every process, per build and figure."""
    procs = list(next(iter(figures.values()))["cpu_ms_per_request"]["signup"])
    md = ["", "## CPU time per request (ms, all cores)", "",
          "| build | figure | " + " | ".join(procs) + " |", "|---|---|" + "---|" * len(procs)]
    for build, f in figures.items():
        for name, used in f["cpu_ms_per_request"].items():
            md.append(f"| {build} | {name} | " + " | ".join(str(used[p]) for p in procs) + " |")
    return md


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", required=True, type=Path)
    ap.add_argument("--label", default="the working tree")
    ap.add_argument("--baseline", type=Path, help="the user-service binary to compare with")
    ap.add_argument("--baseline-label", default="baseline")
    ap.add_argument("--hash-bound", required=True, type=Path)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", default="5s")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--hash-connections", type=int, default=16)
    ap.add_argument("--storm-rate", type=int, default=200)
    ap.add_argument("--rust-log", default="info")
    ap.add_argument("--wrk", default="wrk")
    ap.add_argument("--k6", required=True)
    ap.add_argument("--copies-off", action="store_true",
                    help="also measure the candidate with SESSION_CACHE_MAX_AGE=0s")
    args = ap.parse_args()
    args.load_before = os.getloadavg()[0]
    builds = {"candidate": (args.label, args.binary, {})}
    if args.baseline:
        builds = {"baseline": (args.baseline_label, args.baseline, {}), **builds}
    if args.copies_off:
        # The same candidate with its session copies off: every check reads Redis.
        builds["copies_off"] = (args.label + ", SESSION_CACHE_MAX_AGE=0s", args.binary,
                                {"SESSION_CACHE_MAX_AGE": "0s"})
    targets = {}
    try:
        for key, (label, binary, env) in builds.items():
            targets[key] = Target(label, binary, args.rust_log, env)
        runs = {key: [] for key in targets}
        for _ in range(args.runs):
            bound = hash_bound(args.hash_bound, 5)
            for key, t in targets.items():
                settle(targets)
                runs[key].append(one_run(args, t, bound))
    finally:
        for t in targets.values():
            t.service.stop()
    figures = {k: summarise(runs[k], targets[k].idle_rss_mib) for k in targets}
    raw = {k: {"label": targets[k].label, "runs": runs[k]} for k in targets}
    report(args, figures, raw)


if __name__ == "__main__":
    main()
