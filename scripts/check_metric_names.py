#!/usr/bin/env python3
"""Every metric a dashboard or alert queries must exist, or the panel stays empty and the alert
never fires, silently.

Usage:
  check_metric_names.py --update             regenerate scripts/metrics-exported.txt from the
                                             services' metric registrations
  check_metric_names.py RENDERED.yaml ...    check the PrometheusRules in rendered charts and the
                                             dashboards in charts/user-platform/dashboards/

The list of exported names is generated from the Rust sources (the `Opts::new("...")`,
`HistogramOpts::new("...")` and `IntGauge::new("...")` registrations and their label lists),
committed, and checked to be current, so a renamed metric fails here before it ships. Histograms
add their `_bucket`, `_sum` and `_count` series. RabbitMQ (rabbitmq_prometheus) and
kube-state-metrics names are listed below by hand, with where they come from.

This is a static check: the Rust tests should also compare the list with a real /metrics scrape
(a registration made outside these patterns would be missed here).

PromQL is parsed with promql-parser (Prometheus' grammar), not regular expressions, so label
names, functions and keywords are never mistaken for metric names. Label matchers on the
services' metrics are checked against the registered label names plus the labels Prometheus
adds when scraping.
"""
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIST = ROOT / "scripts" / "metrics-exported.txt"
DASHBOARDS = ROOT / "charts" / "user-platform" / "dashboards"
SOURCES = sorted((ROOT / "services").glob("*/src/**/*.rs"))

# Metrics of other exporters that the dashboards and alerts use. None of these can be grepped
# from this repository, so they are named here with their origin.
EXTERNAL = {
    # rabbitmq_prometheus plugin (RabbitMQ 4.0), per-object endpoint /metrics/per-object,
    # families queue_coarse_metrics and queue_consumer_count; labels vhost, queue.
    "rabbitmq_queue_messages_ready": "rabbitmq_prometheus",
    "rabbitmq_queue_messages_unacked": "rabbitmq_prometheus",
    "rabbitmq_queue_messages": "rabbitmq_prometheus",
    "rabbitmq_queue_consumers": "rabbitmq_prometheus",
    # kube-state-metrics v2 Deployment metrics; labels namespace, deployment.
    "kube_deployment_spec_replicas": "kube-state-metrics",
    "kube_deployment_status_replicas": "kube-state-metrics",
    "kube_deployment_status_replicas_available": "kube-state-metrics",
    # Prometheus' own per-target series; labels job, instance (and the target labels).
    "up": "Prometheus",
    # redis_exporter v1.69 (redis.metrics), from INFO; labels instance (and the target labels).
    "redis_memory_used_bytes": "redis_exporter",
    "redis_memory_max_bytes": "redis_exporter",
    "redis_evicted_keys_total": "redis_exporter",
    "redis_master_link_up": "redis_exporter",
    "redis_connected_slaves": "redis_exporter",
    "redis_instance_info": "redis_exporter",   # labels role (master|slave), redis_version, ...
    # KEDA 2.20 operator; labels namespace, scaledObject, scaler, triggerIndex, metric, type.
    "keda_scaler_detail_errors_total": "KEDA",
}
# Series recorded by the PrometheusRules' recording rules (the SLOs), filled in by main().
RECORDED = set()
# Labels Prometheus (prometheus-operator's ServiceMonitor relabelling) puts on every target.
TARGET_LABELS = {"job", "namespace", "pod", "service", "endpoint", "instance", "container"}

REGISTRATION = re.compile(
    r'\b(?P<ctor>HistogramOpts|Opts|IntGauge|Gauge|IntCounter|Counter)::new\(\s*"(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)"',
)
LABELS = re.compile(r'&\[\s*((?:"[a-z_][a-z0-9_]*"\s*,?\s*)+)\]')


def scan_sources():
    """[(name, type, labels, file)] of every registration in the services' sources."""
    found = []
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        for m in REGISTRATION.finditer(text):
            name, ctor = m.group("name"), m.group("ctor")
            # The label list, if any, follows the Opts within the same constructor call.
            tail = text[m.end():m.end() + 400]
            lm = LABELS.search(tail.split("::new(")[0] if "::new(" in tail else tail)
            labels = re.findall(r'"([a-z_][a-z0-9_]*)"', lm.group(1)) if lm else []
            # Opts are wrapped by the collector that decides the type: IntCounterVec::new(Opts..).
            outer = re.search(r"(\w+)::(?:new|with_opts)\(\s*$", text[max(0, m.start() - 60):m.start()])
            kind_of = outer.group(1) if outer and ctor.endswith("Opts") else ctor
            kind = "histogram" if "Histogram" in kind_of else \
                "gauge" if "Gauge" in kind_of else "counter" if "Counter" in kind_of else "unknown"
            found.append((name, kind, ",".join(labels) or "-", str(path.relative_to(ROOT))))
        found += scan_helpers(text, str(path.relative_to(ROOT)))
    return sorted(set(found))


# Registration helpers of the services: a definition constant used by the collector it makes
# (`const LOGINS: Def = Def { name: "…", labels: &[…] }` … `defs::LOGINS.counter_vec()`), and a
# registrar method named after the type (`r.counters("…", "help", &[…])`, `r.histogram("…", …)`).
DEF = re.compile(r'const\s+(?P<const>[A-Z_][A-Z0-9_]*)\s*:\s*Def\s*=\s*Def\s*\{\s*name:\s*"(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)"')
REGISTRAR = re.compile(r'\br\.(?P<method>counters|counter|histograms|histogram|gauges|gauge)\(\s*"(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)"')


def _kind(word):
    return "histogram" if "histogram" in word.lower() else \
        "gauge" if "gauge" in word.lower() else "counter" if "counter" in word.lower() else "unknown"


def scan_helpers(text, where):
    found = []
    for m in DEF.finditer(text):
        body = text[m.end():text.find("}", m.end())]
        lm = LABELS.search(body)
        labels = re.findall(r'"([a-z_][a-z0-9_]*)"', lm.group(1)) if lm else []
        use = re.search(rf"\b{m.group('const')}\.(\w+)\(", text)
        found.append((m.group("name"), _kind(use.group(1)) if use else "unknown",
                      ",".join(labels) or "-", where))
    for m in REGISTRAR.finditer(text):
        tail = text[m.end():m.end() + 300].split(")?")[0]
        lm = LABELS.search(tail)
        labels = re.findall(r'"([a-z_][a-z0-9_]*)"', lm.group(1)) if lm else []
        found.append((m.group("name"), _kind(m.group("method")), ",".join(labels) or "-", where))
    return found


def render_list(found):
    lines = ["# Metrics the services register, generated by scripts/check_metric_names.py --update",
             "# from the Rust sources (do not edit). name  type  labels  source"]
    lines += ["\t".join(row) for row in found]
    return "\n".join(lines) + "\n"


def load_list():
    names, labels = {}, {}
    for line in LIST.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        name, kind, lbls, _src = line.split("\t")
        series = [name] + ([f"{name}_bucket", f"{name}_sum", f"{name}_count"] if kind == "histogram" else [])
        for s in series:
            names[s] = kind
            labels[s] = set() if lbls == "-" else set(lbls.split(","))
            if s.endswith("_bucket"):
                labels[s].add("le")
    return names, labels


def selectors(expr):
    """Every VectorSelector in a parsed PromQL expression."""
    out, stack = [], [expr]
    while stack:
        e = stack.pop()
        if type(e).__name__ == "VectorSelector":
            out.append(e)
            continue
        for attr in ("expr", "lhs", "rhs", "args", "param", "vector_selector"):
            v = getattr(e, attr, None)
            if v is not None:
                stack.extend(v if isinstance(v, list) else [v])
    return out


GRAFANA_VAR = re.compile(r"\$\{?(\w+)(?::\w+)?\}?")


def grafana_to_promql(q):
    """Grafana variables replaced by something PromQL parses: durations for the interval
    variables, a plain word elsewhere (they only ever stand for label values)."""
    return GRAFANA_VAR.sub(lambda m: "5m" if m.group(1).startswith("__") else "x", q)


def check(where, query, promql_parser, names, labels, used, errors):
    try:
        ast = promql_parser.parse(query)
    except Exception as e:  # the parser raises plain ValueError/RuntimeError subclasses
        errors.append(f"{where}: PromQL does not parse: {e}\n    {query}")
        return
    for vs in selectors(ast):
        name = vs.name or next((m.value for m in vs.matchers.matchers if m.name == "__name__"), None)
        if not name:
            errors.append(f"{where}: selector without a metric name: {vs}")
            continue
        used.add(name)
        if name in names:
            for m in vs.matchers.matchers:
                if m.name not in labels[name] | TARGET_LABELS | {"__name__"}:
                    errors.append(f"{where}: {name} has no label {m.name!r} "
                                  f"(registered: {', '.join(sorted(labels[name])) or 'none'})")
        elif name not in EXTERNAL and name not in RECORDED:
            errors.append(f"{where}: metric {name!r} is neither exported by the services "
                          f"(scripts/metrics-exported.txt) nor a known name of another exporter (EXTERNAL)")


def main(argv):
    found = scan_sources()
    if argv[:1] == ["--update"]:
        LIST.write_text(render_list(found), encoding="utf-8")
        print(f"wrote {LIST.relative_to(ROOT)}: {len(found)} metrics")
        return 0
    import promql_parser  # only needed for checking, installed by check-deploy.sh
    import yaml

    errors = []
    if not LIST.exists() or LIST.read_text(encoding="utf-8") != render_list(found):
        errors.append(f"{LIST.relative_to(ROOT)} is not current with the services' registrations; "
                      f"run scripts/check_metric_names.py --update and commit it")
    names, labels = load_list()
    used, n_queries = set(), 0
    for rendered in argv:
        for doc in yaml.safe_load_all(open(rendered, encoding="utf-8")):
            if doc and doc.get("kind") == "PrometheusRule":
                RECORDED.update(r["record"] for g in doc["spec"]["groups"] for r in g["rules"] if r.get("record"))
    for rendered in argv:
        for doc in yaml.safe_load_all(open(rendered, encoding="utf-8")):
            if not doc or doc.get("kind") != "PrometheusRule":
                continue
            for g in doc["spec"]["groups"]:
                for rule in g["rules"]:
                    n_queries += 1
                    where = f"{Path(rendered).name}: PrometheusRule {rule.get('alert') or rule.get('record')}"
                    check(where, rule["expr"], promql_parser, names, labels, used, errors)
    for path in sorted(DASHBOARDS.glob("*.json")):
        dash = json.loads(path.read_text(encoding="utf-8"))
        panels = list(dash.get("panels", []))
        for p in list(panels):
            panels.extend(p.get("panels", []))   # panels inside collapsed rows
        for p in panels:
            for t in p.get("targets", []):
                if t.get("expr"):
                    n_queries += 1
                    check(f"{path.name}: panel {p.get('title')!r}", grafana_to_promql(t["expr"]),
                          promql_parser, names, labels, used, errors)
        for var in dash.get("templating", {}).get("list", []):
            q = var.get("query")
            q = q.get("query") if isinstance(q, dict) else q
            m = re.fullmatch(r"\s*label_values\((.+),\s*(\w+)\)\s*", q or "") if var.get("type") == "query" else None
            if m:
                n_queries += 1
                check(f"{path.name}: variable {var['name']}", grafana_to_promql(m.group(1)),
                      promql_parser, names, labels, used, errors)
    for e in errors:
        print(f"  ERROR: {e}")
    print(f"  metric names: {n_queries} queries, {len(used)} distinct metrics "
          f"({len(used & set(names))} from the services, {len(used & set(EXTERNAL))} other exporters, "
          f"{len(used & RECORDED)} recorded by the rules), "
          f"{len(errors)} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
