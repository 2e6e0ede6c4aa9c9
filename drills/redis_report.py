"""Writes the Redis failover drill's report: drills/reports/redis-failover.{md,json}."""
from __future__ import annotations

import argparse
import json
import os
import time

SETTINGS = ("users", "prime", "login_threads", "check_threads", "wait_replicas", "fault_at",
            "restart_after", "tail", "grace", "reshard_slots")


def ms(value) -> str:
    return "—" if value is None else f"{value} ms"


def case_row(r: dict) -> str:
    window = r["error_window_ms"]
    window_text = (f"{window['first_ms']} → {window['last_ms']} ms ({window['length_ms']} ms)"
                   if window else "none")
    v = r["verification"]
    by_kind = r["by_kind_and_status"]
    ok = lambda kind: sum(n for s, n in by_kind.get(kind, {}).items() if s.startswith("2"))  # noqa: E731
    total = lambda kind: sum(by_kind.get(kind, {}).values())  # noqa: E731
    return (f"| {r['case']} | {'pass' if r['passed'] else 'FAIL'} | "
            f"{ok('login')}/{total('login')} | {ok('check')}/{total('check')} | "
            f"{ok('logout')}/{total('logout')} | {r['failed']} | {window_text} | "
            f"{ms(r['recovered_ms']) if 'killed_port' in r else '—'} | {len(r['failures_5xx_outside_window'])} | "
            f"{len(r['failures_not_5xx'])} | {len(v['lost'])} of {v['live_checked']} | "
            f"{len(v['revived'])} of {v['logged_out_checked']} |")


def details(r: dict) -> list[str]:
    lines = [f"### {r['case']}", ""]
    if "killed_port" in r:
        lines.append(f"- stopped the primary on port {r['killed_port']} ({r['signal']}) at 0 ms; the topology served "
                     f"every slot again at {ms(r['recovered_ms'])}; the node was started again at "
                     f"{ms(r.get('restarted_ms'))} and was a synchronised replica at "
                     f"{ms(r.get('rejoined_ms'))}")
    if "reshard" in r:
        rs = r["reshard"]
        for m in rs["moves"]:
            lines.append(f"- moved {m['slots']} slots from :{m['from']} to :{m['to']} in {m['seconds']} s")
        lines.append(f"- the moves began at 0 ms and ended at {ms(r['recovered_ms'])}")
        lines.append(f"- the sessions' accounts live in {rs['account_slots']} slots, "
                     f"{rs['account_slots_moved']} of them among those moved (twice)")
    statuses = "; ".join(f"{kind}: " + ", ".join(f"{n}× {s if s != '0' else 'no answer'}"
                                                 for s, n in sorted(counts.items()))
                         for kind, counts in r["by_kind_and_status"].items())
    lines.append(f"- {r['requests']} requests ({statuses}); {r['raced_logouts']} checks answered "
                 "401 because a logout of the same session overtook them (not failures)")
    lat = r["latency_ms"]
    lines.append(f"- latency: p50 {lat['p50']} ms, p99 {lat['p99']} ms, slowest {lat['max']} ms; "
                 f"{lat['over_1s']} took over 1 s")
    lines.append(f"- unacknowledged logouts (state unknown, not verified): "
                 f"{r['verification']['logouts_unacknowledged']}")
    if r["failures_5xx_outside_window"] or r["failures_not_5xx"]:
        lines.append(f"- failures outside the fault: {r['failures_5xx_outside_window']}; "
                     f"other than 5xx: {r['failures_not_5xx']}")
    if r["verification"]["lost"] or r["verification"]["revived"]:
        lines.append(f"- lost: {r['verification']['lost'][:10]}; revived: {r['verification']['revived'][:10]}")
    failing = [b for b in r["timeline"] if b["failed"]]
    if failing:
        lines.append("- seconds with failures (relative to the fault): " + ", ".join(
            f"{b['s']} s: {b['failed']} failed / {b['ok']} ok" for b in failing))
    return lines + [""]


def write_report(args: argparse.Namespace, results: list[dict], health: dict, duration: float) -> None:
    report = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "machine": {"cpus": os.cpu_count()},
              "settings": {k: getattr(args, k) for k in SETTINGS},
              "duration_s": duration, "cases": results, "topologies_after": health}
    args.report_dir.mkdir(parents=True, exist_ok=True)
    (args.report_dir / "redis-failover.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Redis failover drill",
        "",
        f"{report['date']}, {os.cpu_count()} CPUs, `drills/redis-failover.sh`, {duration} s in all "
        "(every request of a case: `$RUN_DIR/redis-failover/<case>.requests.jsonl`). "
        f"A release user-service with `REDIS_WAIT_REPLICAS={args.wait_replicas}` against the "
        "loopback topologies of `scripts/redis-topologies.sh` (TLS, passwords); "
        f"{args.login_threads} threads logging in, {args.check_threads} checking sessions "
        "(`GET /v1/auth/check`), 1 logging out; the fault "
        f"{args.fault_at:.0f} s into the load. Times are relative to the fault. A failure is a "
        "non-2xx answer or none; the error window runs from the first failed request's start to "
        "the last one's end (a negative start: the request was in flight when the node died). "
        "Recovered: the sentinels name the new primary, or the Cluster is `ok` with slot 0 on the "
        "promoted replica. Failures must fall between the fault and the recovery "
        f"plus {args.grace:.0f} s; after the load every acknowledged login must still "
        "authenticate (unless logged out) and every acknowledged logout must still be refused.",
        "",
        "| case | result | logins 2xx | checks 2xx | logouts 2xx | failed | error window | "
        "recovered | 5xx outside | non-5xx failures | sessions lost | logouts undone |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        *[case_row(r) for r in results],
        "",
        *[line for r in results for line in details(r)],
        "## Topologies afterwards",
        "",
        "The drill's topologies were stopped, started afresh with `scripts/redis-topologies.sh "
        f"start all` and checked: {'healthy' if health['healthy'] else 'NOT healthy'} "
        f"(TLS server answers: {health['tls_ping']}; Sentinel primary :{health['sentinel_primary']} "
        f"with {health['sentinel_replicas']} replicas online; Cluster state ok: "
        f"{health['cluster_state_ok']}, {health['cluster_masters']} primaries, "
        f"{health['cluster_replicas']} replicas), then stopped again (their ports are shared with "
        "the test suite).",
        "",
    ]
    (args.report_dir / "redis-failover.md").write_text("\n".join(lines))
    print("\n".join(lines))
