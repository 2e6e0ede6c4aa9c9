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
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from live_stack import JOBS, NS, Stack, Workload, api, wait_until  # noqa: E402

DASHBOARDS = Path(__file__).resolve().parent.parent.parent / "charts" / "user-platform" / "dashboards"
# Panel queries that cannot return data here, by (dashboard file, panel title): the reason.
ALLOW_NO_DATA = {
    ("user-service.json", "Replicas"): "kube-state-metrics (kube_deployment_*): no Kubernetes here",
    ("email-pipeline.json", "Replicas"): "kube-state-metrics (kube_deployment_*): no Kubernetes here",
}
# Grafana's interval variables, as Grafana would set them for a short time range.
BUILTIN = {"__rate_interval": "1m", "__interval": "15s", "__range": "5m"}


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
