#!/usr/bin/env python3
"""Unit tests of the shipped alerting and recording rules, with promtool.

1. Renders the chart's PrometheusRule (release `up`, namespace `user-platform`, every alert on:
   mailService.templates.source=kubernetes, the Redis exporter, a cluster that serves
   ServiceMonitors and KEDA) and writes its spec as a plain rules file.
2. `promtool check rules` on it.
3. `promtool test rules` on the hand-written tests in scripts/monitoring/rules-tests/ (one
   file per group of alerts) and on the SLO tests generated here (slo_tests.py): for every SLO,
   synthetic series that burn its budget fast, slowly, within budget, and not at all.
4. Coverage: every alert has a test case where it fires and one where it must not; every
   recording rule (per SLO) is asserted by a promql_expr_test; every runbook_url points at a
   section of docs/operations.md that exists.
5. Self-test: the same tests against rules with one burn-rate factor changed must fail.

Usage: rule_tests.py HELM OUT_DIR
"""
import copy
import re
import subprocess
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import slo_tests  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent.parent
CHART = ROOT / "charts" / "user-platform"
TESTS = Path(__file__).resolve().parent / "rules-tests"
RUNBOOK = ROOT / "docs" / "operations.md"
RENDER_FLAGS = ["--namespace", "user-platform", "--set", "prometheusRule.enabled=true",
                "--set", "mailService.smtp.host=smtp.example.com",
                "--set", "mailService.templates.source=kubernetes", "--set", "redis.metrics.enabled=true",
                "--api-versions", "monitoring.coreos.com/v1/PrometheusRule",
                "--api-versions", "monitoring.coreos.com/v1/ServiceMonitor",
                "--api-versions", "keda.sh/v1alpha1/ScaledObject"]


def render_rules(helm, out, extra=()):
    """The PrometheusRule of `helm template up CHART` as a rules file; returns its groups."""
    text = subprocess.run([helm, "template", "up", str(CHART), *RENDER_FLAGS, *extra],
                          check=True, capture_output=True, text=True).stdout
    rules = [d for d in yaml.safe_load_all(text) if d and d.get("kind") == "PrometheusRule"]
    if len(rules) != 1:
        sys.exit(f"expected one PrometheusRule in the render, found {len(rules)}")
    groups = rules[0]["spec"]["groups"]
    out.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False, allow_unicode=True))
    return groups


def promtool(*args):
    res = subprocess.run(["promtool", *args], capture_output=True, text=True)
    return res.returncode, res.stdout + res.stderr


def write_tests(rules_file, out_dir, groups):
    """Test files next to the rules file: the hand-written ones and the generated SLO tests."""
    files = []
    for src in sorted(TESTS.glob("*.yaml")):
        doc = yaml.safe_load(src.read_text())
        doc["rule_files"] = [rules_file.name]
        dst = out_dir / src.name
        dst.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
        files.append(dst)
    dst = out_dir / "slo-generated.yaml"
    doc = slo_tests.generate(groups)
    doc["rule_files"] = [rules_file.name]
    dst.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=1000))
    files.append(dst)
    return files


def coverage(groups, test_files):
    """Errors: alerts without a firing and a quiet case, recording rules never asserted,
    runbook_urls without their section."""
    errors = []
    fired, quiet, asserted = set(), set(), ""
    for f in test_files:
        for t in yaml.safe_load(f.read_text()).get("tests", []):
            for a in t.get("alert_rule_test", []):
                (fired if a.get("exp_alerts") else quiet).add(a["alertname"])
            asserted += "\n".join(e["expr"] for e in t.get("promql_expr_test", [])) + "\n"
    anchors = set(re.findall(r'<a id="([a-z0-9-]+)"></a>', RUNBOOK.read_text()))
    anchors |= {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
                for h in re.findall(r"^#+ (.+)$", RUNBOOK.read_text(), re.M)}
    n_alerts = n_records = 0
    for g in groups:
        for r in g["rules"]:
            if "alert" in r:
                n_alerts += 1
                name = r["alert"]
                for got, what in ((fired, "fires"), (quiet, "must not fire")):
                    if name not in got:
                        errors.append(f"alert {name}: no test case where it {what}")
                anchor = r["annotations"].get("runbook_url", "").rpartition("#")[2]
                if anchor not in anchors:
                    errors.append(f"alert {name}: runbook_url anchor #{anchor} is not in docs/operations.md")
            else:
                n_records += 1
                slo = (r.get("labels") or {}).get("slo") or re.search(r'slo="([^"]+)"', r["expr"]).group(1)
                if not re.search(re.escape(r["record"]) + r'\{slo="' + re.escape(slo) + '"', asserted):
                    errors.append(f"recording rule {r['record']} (slo {slo}): no promql_expr_test asserts it")
    return errors, n_alerts, n_records


def value_checks(helm, out_dir):
    """Errors: the SLO and per-alert values must be refused when wrong and obeyed when right."""
    errors = []
    for flags, want in ((["--set-json", "slo.objectives.loginLatency.thresholdSeconds=0.3"], "must be a bucket bound"),
                        (["--set", "prometheusRule.alerts.NoSuchAlert.enabled=false"], "NoSuchAlert"),
                        (["--set", "slo.objectives.signupAvailability.objective=100"], "objective")):
        try:
            render_rules(helm, out_dir / "neg.yaml", flags)
            errors.append(f"{' '.join(flags)}: rendered although it should be refused")
        except subprocess.CalledProcessError as e:
            if want not in e.stderr:
                errors.append(f"{' '.join(flags)}: refused, but not for {want!r}: {e.stderr.strip()}")
    groups = render_rules(helm, out_dir / "neg.yaml", [
        "--set", "prometheusRule.alerts.EmailQueueBacklog.enabled=false",
        "--set", "prometheusRule.alerts.LoginLatencySlowBurn.severity=critical",
        "--set", "slo.objectives.emailDeadLetters.enabled=false"])
    rules = {r.get("alert") or f"{r['record']} {r.get('labels', {}).get('slo')}": r for g in groups for r in g["rules"]}
    if "EmailQueueBacklog" in rules or rules["LoginLatencySlowBurn"]["labels"]["severity"] != "critical" \
            or any("email-dead-letters" in k or k.startswith("EmailDeadLetters") and "Growing" not in k for k in rules):
        errors.append("prometheusRule.alerts / slo.objectives.*.enabled overrides not applied")
    return errors


def main(helm, out_dir):
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rules_file = out_dir / "rules.yaml"
    groups = render_rules(helm, rules_file)
    ok = True
    rc, text = promtool("check", "rules", str(rules_file))
    print(f"  promtool check rules: {text.strip().splitlines()[-1] if text.strip() else rc}")
    ok &= rc == 0
    files = write_tests(rules_file, out_dir, groups)
    # One promtool per file, in parallel: the generated SLO scenarios take the longest.
    runs = [subprocess.Popen(["promtool", "test", "rules", str(f)], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True) for f in files]
    outputs = [r.communicate()[0] for r in runs]
    rc = max(r.returncode for r in runs)
    for f, r, text in zip(files, runs, outputs):
        if r.returncode != 0:
            print(f"  {f.name}:\n{text}")
    print(f"  promtool test rules: {len(files)} files, {'SUCCESS' if rc == 0 else 'FAILED'}")
    ok &= rc == 0
    errors, n_alerts, n_records = coverage(groups, files)
    for e in errors:
        print(f"  ERROR: {e}")
    print(f"  coverage: {n_alerts} alerts each with a firing and a quiet case, {n_records} recording "
          f"rules asserted, runbook sections present: {'yes' if not errors else 'NO'}")
    ok &= not errors
    errors = value_checks(helm, out_dir)
    for e in errors:
        print(f"  ERROR: {e}")
    print(f"  values: wrong SLO thresholds, objectives and alert names refused, overrides applied: {'yes' if not errors else 'NO'}")
    ok &= not errors
    # Self-test: the fast-burn factor changed in the expressions only (annotations unchanged).
    broken = copy.deepcopy(groups)
    for g in broken:
        for r in g["rules"]:
            if r.get("alert", "").endswith("FastBurn"):
                r["expr"] = r["expr"].replace("> 14.4 *", "> 60 *")
    (out_dir / "rules.yaml").write_text(yaml.safe_dump({"groups": broken}, sort_keys=False, allow_unicode=True))
    fast = yaml.safe_load((out_dir / "slo-generated.yaml").read_text())
    fast["tests"] = [dict(fast["tests"][0], promql_expr_test=[])]   # the fast scenario's alerts
    (out_dir / "self-test.yaml").write_text(yaml.safe_dump(fast, sort_keys=False, width=1000))
    rc, _ = promtool("test", "rules", str(out_dir / "self-test.yaml"))
    (out_dir / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}, sort_keys=False, allow_unicode=True))
    print(f"  self-test: a fast-burn factor changed to 60 {'is caught' if rc != 0 else 'PASSES (tests too weak)'}")
    ok &= rc != 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
