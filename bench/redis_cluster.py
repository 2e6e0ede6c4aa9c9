"""Redis Cluster against one Redis server: GET /v1/auth/check and login (POST /v1/sessions) of the
same user-service binary against the 3-primary TLS Cluster and the TLS standalone server of
scripts/redis-topologies.sh (optionally also the plain Redis on 6379), in one run with wrk.

For each mode and run (modes interleaved): the check's ceiling (`--connections` connections as
fast as they go), its latency with 4 connections, and the login throughput (argon2-bound:
reported as measured, and as a ratio). Each figure is the median of `--runs`. Target: the
Cluster at least 0.9 of the single server on the check. Writes
bench/reports/redis-cluster.{md,json}."""
import argparse
import json
import os
import platform
import statistics
import subprocess
import uuid

from lib import ROOT, UserService, call, wrk_result
from lib import start_wrk as lib_start_wrk

PASSWORD = "correct horse battery staple"
ACCOUNTS = 16


def topo_env(mode):
    out = subprocess.run([str(ROOT / "scripts/redis-topologies.sh"), "env", mode, ""],
                         capture_output=True, text=True, check=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def modes(args):
    """name -> the Redis variables of the user-service (REDIS_URL None: not standalone)."""
    found = {
        "tls": topo_env("tls"),
        "cluster": {"REDIS_URL": None, **topo_env("cluster")},
        "cluster_wait1": {"REDIS_URL": None, **topo_env("cluster"), "REDIS_WAIT_REPLICAS": "1"},
    }
    if args.plain:
        found["plain"] = {"REDIS_URL": "redis://127.0.0.1:6379"}
    return found


def accounts(service):
    """The accounts the logins cycle through, and the session token of one more account that
    nobody logs in to (its session is never the oldest one a login ends)."""
    emails = [f"rc-{uuid.uuid4().hex[:8]}-{i}@example.com" for i in range(ACCOUNTS + 1)]
    for email in emails:
        status, _, _ = call(service.base, "POST", "/v1/users", {"email": email, "password": PASSWORD})
        assert status == 202, status
    status, body, _ = call(service.base, "POST", "/v1/sessions", {"email": emails[-1], "password": PASSWORD})
    assert status == 201, status
    return emails[:-1], json.loads(body)["token"]


def start_wrk(args, service, env, path, connections, duration, threads=None):
    return lib_start_wrk(args.wrk, service.base + path, env, connections, duration,
                         threads or min(connections, args.threads))


def wrk(args, service, env, path, connections, duration, threads=None):
    return wrk_result(start_wrk(args, service, env, path, connections, duration, threads))


def one_run(args, service, emails, token):
    check = {"MODE": "check", "TOKEN": token}
    login = {"MODE": "login", "EMAILS": ",".join(emails), "PASSWORD": PASSWORD}
    figures = {
        "check_max": wrk(args, service, check, "/v1/auth/check", args.connections, args.duration),
        "check_4conn": wrk(args, service, check, "/v1/auth/check", 4, args.duration),
        "login_max": wrk(args, service, login, "/v1/sessions", args.login_connections, args.duration),
    }
    # Checks while logins run: with REDIS_WAIT_REPLICAS a login's WAIT shares the connection.
    logins = start_wrk(args, service, login, "/v1/sessions", 4, args.duration, threads=1)
    figures["check_during_logins"] = wrk(args, service, check, "/v1/auth/check", 16, args.duration, threads=1)
    figures["logins_during_checks"] = wrk_result(logins)
    return figures


def median_of(runs):
    """Each figure's median over the runs, and the spread of the throughput."""
    out = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    out["rps_min"], out["rps_max"] = min(r["rps"] for r in runs), max(r["rps"] for r in runs)
    out["errors"] = sum(r["errors"] for r in runs)
    return out


def report(figures, args):
    base = figures["tls"]
    ratio = lambda mode, kind: round(figures[mode][kind]["rps"] / base[kind]["rps"], 3)  # noqa: E731
    ratios = {mode: {kind: ratio(mode, kind) for kind in base} for mode in figures if mode != "tls"}
    target = ratios["cluster"]["check_max"] >= 0.9
    meta = {"cpus": os.cpu_count(), "machine": platform.machine(), "runs": args.runs,
            "duration": args.duration, "connections": args.connections,
            "login_connections": args.login_connections, "wrk_threads": args.threads,
            "load_average_before": args.load_before, "load_average_after": os.getloadavg()[0],
            "note": "wrk, the user-service and every Redis node run on the same machine and share its cores"}
    out = {"meta": meta, "figures": figures, "ratios_to_tls_standalone": ratios,
           "target_cluster_check_at_least_0_9": target}
    (ROOT / "bench/reports/redis-cluster.json").write_text(json.dumps(out, indent=2) + "\n")
    labels = {"tls": "standalone, TLS (mutual), :6390", "cluster": "Cluster, 3 primaries + 3 replicas, TLS",
              "cluster_wait1": "Cluster, TLS, REDIS_WAIT_REPLICAS=1", "plain": "standalone, plain TCP, :6379"}
    row = lambda mode, kind: (  # noqa: E731
        f"| {labels[mode]} | {figures[mode][kind]['rps']} ({figures[mode][kind]['rps_min']}–"
        f"{figures[mode][kind]['rps_max']}) | {figures[mode][kind]['p50_ms']} | "
        f"{figures[mode][kind]['p90_ms']} | {figures[mode][kind]['p99_ms']} | {figures[mode][kind]['errors']} | "
        f"{'1.0' if mode == 'tls' else ratios[mode][kind]} |")
    header = ["| Redis | req/s (runs' min–max) | p50 ms | p90 ms | p99 ms | errors (all runs) | ratio to standalone TLS |",
              "|---|---|---|---|---|---|---|"]
    md = [
        "# Redis Cluster against one Redis server", "",
        f"{meta['cpus']} CPUs ({meta['machine']}), median of {args.runs} runs of {args.duration} per "
        f"figure, modes interleaved, one user-service binary per mode (the same release build), "
        f"wrk with {args.threads} threads on the same machine. `bench/redis-cluster.sh`. Both the "
        "Cluster and the standalone server use TLS (the topologies of "
        "`scripts/redis-topologies.sh`; the standalone one also asks for a client certificate, "
        "which costs only at connection time). `REDIS_WAIT_REPLICAS=0` unless said. Load average "
        f"(1 min) before the runs {args.load_before:.1f}, after {meta['load_average_after']:.1f}: "
        "anything else running on the machine shows in the runs' spread.", "",
        f"## GET /v1/auth/check, {args.connections} connections as fast as they go", "",
        *header, *[row(m, "check_max") for m in figures], "",
        "## GET /v1/auth/check, 4 connections (latency below saturation)", "",
        *header, *[row(m, "check_4conn") for m in figures], "",
        f"## Login (POST /v1/sessions), {args.login_connections} connections: argon2-bound", "",
        *header, *[row(m, "login_max") for m in figures], "",
        "## GET /v1/auth/check, 16 connections, while 4 connections log in", "",
        *header, *[row(m, "check_during_logins") for m in figures], "",
        "The logins of that run:", "",
        *header, *[row(m, "logins_during_checks") for m in figures], "",
        f"- Cluster / standalone on the check's ceiling: **{ratios['cluster']['check_max']}** "
        f"(target ≥ 0.9: {'met' if target else 'NOT met'})",
        f"- Cluster / standalone on login: **{ratios['cluster']['login_max']}**; with WAIT 1: "
        f"**{ratios['cluster_wait1']['login_max']}**",
        "- p99 of the checks while logins run: " + ", ".join(
            f"{labels[m].split(',')[0]}{' + WAIT 1' if m == 'cluster_wait1' else ''} "
            f"{figures[m]['check_during_logins']['p99_ms']} ms" for m in figures), "",
    ]
    (ROOT / "bench/reports/redis-cluster.md").write_text("\n".join(md))
    print("\n".join(md))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wrk", default="wrk")
    parser.add_argument("--binary", default=str(ROOT / "target/release/user-service"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", default="10s")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--login-connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--plain", action="store_true", help="also the plain Redis on 6379")
    args = parser.parse_args()
    args.load_before = os.getloadavg()[0]
    services, measured = {}, {}
    try:
        for name, env in modes(args).items():
            services[name] = UserService(args.binary, {"ALLOW_UNVERIFIED_LOGIN": "true", **env})
            services[name].sessions = accounts(services[name])
            measured[name] = []
        for _ in range(args.runs):
            for name, service in services.items():
                measured[name].append(one_run(args, service, *service.sessions))
    finally:
        for service in services.values():
            service.stop()
    figures = {name: {k: median_of([r[k] for r in runs]) for k in runs[0]} for name, runs in measured.items()}
    report(figures, args)


if __name__ == "__main__":
    main()
