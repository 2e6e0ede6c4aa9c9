"""promtool tests of the SLO recording rules and burn-rate alerts, generated for every SLO.

The SLIs are written out here independently of the chart (which series are good, which bad):
a rule that selects the wrong route, status, bucket or outcome fails these tests. Objectives,
severities and annotations are read from the rendered rules, so changing a default in values.yaml
does not need a test change.

Every SLO gets four scenarios, 10000 events a minute (b = 1 - objective, the error budget):
  fast    from minute 60, 50×b of the events bad: at 50m nothing fires, at 100m both the fast
          (1h/5m, 14.4×) and the slow (6h/30m, 6×) alert fire; at 480m every window's error
          ratio is exactly 50×b
  slow    from minute 60, 10×b bad: at 300m the slow alert fires, the fast one must not
  within  0.5×b bad from the start: nothing fires at 400m; half the budget is left
  clean   no bad event at all (for 5xx/dead-letter SLIs: the bad series never existed): error
          ratio 0, the whole budget left, nothing fires
"""
import re
from pathlib import Path

import yaml

NS = "user-platform"
USER_JOB = "up-user-platform-user-service"
MAIL_JOB = "up-user-platform-mail-service"
TOTAL = 40000
WINDOWS = ("5m", "30m", "1h", "6h")
VALUES = Path(__file__).resolve().parent.parent.parent / "charts" / "user-platform" / "values.yaml"


def _le(seconds):
    """A bucket bound as the services write it (Rust `{}` of an f64: 1 not 1.0)."""
    return f"{float(seconds):g}"


def slis():
    """slo name -> (alert prefix, job, kind, good series, bad-or-total series). kind "bad": the
    two counters are good and bad events; kind "good": a bucket (good) and the count (total)."""
    obj = yaml.safe_load(VALUES.read_text())["slo"]["objectives"]
    out = {}
    for key, alert, method, route in (("login", "Login", "POST", "/v1/sessions"),
                                      ("signup", "Signup", "POST", "/v1/users"),
                                      ("session-check", "SessionCheck", "GET", "/v1/users/me"),
                                      ("forward-auth", "ForwardAuth", "GET", "/v1/auth/check")):
        base = {"job": USER_JOB, "namespace": NS, "method": method, "route": route}
        le = _le(obj[re.sub(r"-(\w)", lambda m: m.group(1).upper(), key) + "Latency"]["thresholdSeconds"])
        out[f"{key}-availability"] = (f"{alert}Availability", USER_JOB, "bad",
                                      ("http_requests_total", {**base, "status": "200"}),
                                      ("http_requests_total", {**base, "status": "500"}))
        out[f"{key}-latency"] = (f"{alert}Latency", USER_JOB, "good",
                                 ("http_request_duration_seconds_bucket", {**base, "le": le}),
                                 ("http_request_duration_seconds_count", base))
    mail = {"job": MAIL_JOB, "namespace": NS}
    le = _le(obj["emailDeliveryLatency"]["thresholdSeconds"])
    out["email-delivery-latency"] = ("EmailDeliveryLatency", MAIL_JOB, "good",
                                     ("mail_message_age_seconds_bucket", {**mail, "le": le}),
                                     ("mail_message_age_seconds_count", mail))
    out["email-dead-letters"] = ("EmailDeadLetters", MAIL_JOB, "bad",
                                 ("mail_messages_consumed_total", {**mail, "kind": "verify_email", "outcome": "sent"}),
                                 ("mail_messages_consumed_total", {**mail, "kind": "verify_email", "outcome": "dead_lettered"}))
    return out


def _series(phases):
    """promtool expanding notation of a counter: phases of (increment per minute, minutes)."""
    parts, v = [], 0
    for i, (inc, n) in enumerate(phases):
        parts.append(f"{v}+{inc}x{n}" if i == 0 else f"{v + inc}+{inc}x{n - 1}")
        v += inc * n
    return " ".join(parts)


def _labels(metric, labels):
    return metric + "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def _inputs(sli, bad_phases):
    """Input series of one SLI whose bad events per minute follow bad_phases."""
    _alert, _job, kind, good, other = sli
    good_phases = [(TOTAL - b, n) for b, n in bad_phases]
    out = [{"series": _labels(*good), "values": _series(good_phases)}]
    if kind == "bad":
        if any(b for b, _ in bad_phases):
            out.append({"series": _labels(*other), "values": _series(bad_phases)})
    else:
        out.append({"series": _labels(*other), "values": _series([(TOTAL, n) for _, n in bad_phases])})
    return out


def _rules(groups):
    alerts, objectives = {}, {}
    for g in groups:
        for r in g["rules"]:
            if "alert" in r:
                alerts[r["alert"]] = r
            elif r["record"] == "slo:objective:ratio":
                objectives[r["labels"]["slo"]] = float(re.fullmatch(r"vector\(([0-9.]+) / 100\)", r["expr"]).group(1))
    return alerts, objectives


def _alert_case(alerts, name, slo, job, at, fires):
    rule = alerts[name]
    exp = [{"exp_labels": {**rule["labels"], "slo": slo, "namespace": NS, "job": job},
            "exp_annotations": rule["annotations"]}] if fires else []
    return {"eval_time": at, "alertname": name, "exp_alerts": exp}


def _expr(record, slo, scale, value, at, job):
    return {"expr": f"round({scale} * {record}{{slo=\"{slo}\"}})", "eval_time": at,
            "exp_samples": [{"labels": f'{{job="{job}", namespace="{NS}", slo="{slo}"}}', "value": value}]}


def generate(groups):
    alerts, objectives = _rules(groups)
    table = {k: v for k, v in slis().items() if k in objectives}
    _check(table, objectives)
    tests = []
    for scenario, minutes in (("fast", 480), ("slow", 300), ("within", 400), ("clean", 60)):
        series, cases, exprs = [], [], []
        for slo, sli in table.items():
            prefix, job = sli[0], sli[1]
            budget = round(TOTAL * (1 - objectives[slo] / 100))   # bad events a minute at 1×
            fast, slow = f"{prefix}FastBurn", f"{prefix}SlowBurn"
            if scenario == "fast":
                series += _inputs(sli, [(0, 60), (50 * budget, minutes - 60)])
                for name in (fast, slow):
                    cases += [_alert_case(alerts, name, slo, job, "50m", False),
                              _alert_case(alerts, name, slo, job, "100m", True)]
                exprs += [_expr(f"slo:sli_error:ratio_rate{w}", slo, TOTAL, 50 * budget, "480m", job) for w in WINDOWS]
            elif scenario == "slow":
                series += _inputs(sli, [(0, 60), (10 * budget, minutes - 60)])
                cases += [_alert_case(alerts, fast, slo, job, "300m", False),
                          _alert_case(alerts, slow, slo, job, "300m", True)]
            elif scenario == "within":
                series += _inputs(sli, [(budget // 2, minutes)])
                cases += [_alert_case(alerts, n, slo, job, "400m", False) for n in (fast, slow)]
                exprs += [_expr("slo:sli_requests:rate5m", slo, 60, TOTAL, "400m", job),
                          _expr("slo:sli_errors:rate5m", slo, 60, budget // 2, "400m", job),
                          _expr("slo:sli_error:ratio_period", slo, TOTAL, budget // 2, "400m", job),
                          _expr("slo:error_budget_remaining:ratio", slo, 100, 50, "400m", job),
                          _expr("slo:objective:ratio", slo, 10000, round(objectives[slo] * 100), "400m", job)]
            else:
                series += _inputs(sli, [(0, minutes)])
                cases += [_alert_case(alerts, n, slo, job, "60m", False) for n in (fast, slow)]
                exprs += [_expr("slo:sli_error:ratio_rate5m", slo, TOTAL, 0, "60m", job),
                          _expr("slo:error_budget_remaining:ratio", slo, 100, 100, "60m", job)]
        cases = [c for c in cases if c["alertname"] in alerts]   # alerts switched off are not rendered
        tests.append({"name": f"SLO scenario {scenario}", "interval": "1m", "input_series": series,
                      "alert_rule_test": cases, "promql_expr_test": exprs})
    return {"evaluation_interval": "1m", "tests": tests}


def _check(table, objectives):
    for slo in table:
        exact = TOTAL * (1 - objectives[slo] / 100)
        if abs(exact - round(exact)) > 1e-6 or round(exact) % 2:
            raise SystemExit(f"SLO {slo}: objective {objectives[slo]} gives no whole number of bad events "
                             f"at 0.5× burn out of {TOTAL}; extend slo_tests.TOTAL")
