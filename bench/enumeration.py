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
import statistics
import time
import uuid
from pathlib import Path

import pymongo

from lib import MONGODB_URI, ROOT, UserService, call

PASSWORD = "correct horse battery staple"


def summary(samples: list[float]) -> dict:
    q = statistics.quantiles(samples, n=10)
    return {"n": len(samples), "median_ms": round(statistics.median(samples), 3),
            "p10_ms": round(q[0], 3), "p90_ms": round(q[-1], 3)}


def comparable(body: bytes, address: str) -> str:
    """The answer without what differs by construction: the request id every problem document
    carries, and the address the caller sent (an email change echoes it as pending)."""
    try:
        doc = json.loads(body)
    except ValueError:
        return body.decode(errors="replace")
    if isinstance(doc, dict):
        doc.pop("request_id", None)
    return json.dumps(doc, sort_keys=True).replace(address, "<address>")


def verified_session(service: UserService, email: str) -> str:
    """A session of a new account whose address is marked verified in the database (the
    benchmark has no mailbox to read the link from)."""
    assert call(service.base, "POST", "/v1/users", {"email": email, "password": PASSWORD})[0] == 202
    db = pymongo.MongoClient(MONGODB_URI)[service.env["MONGODB_DATABASE"]]
    assert db.users.update_one({"email": email}, {"$set": {"email_verified": True}}).modified_count == 1
    status, body, _ = call(service.base, "POST", "/v1/sessions", {"email": email, "password": PASSWORD})
    assert status == 201, body
    return json.loads(body)["token"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=str(ROOT / "target/release/user-service"))
    ap.add_argument("--samples", type=int, default=200)
    args = ap.parse_args()

    run_id = uuid.uuid4().hex[:12]
    service = UserService(Path(args.binary))
    base = service.base
    try:
        taken = f"taken-{run_id}@example.com"
        assert call(base, "POST", "/v1/users", {"email": taken, "password": PASSWORD})[0] == 202
        fresh = lambda: f"new-{uuid.uuid4().hex}@example.com"  # noqa: E731
        session = verified_session(service, f"changer-{run_id}@example.com")
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
            "email_change": ("PATCH", "/v1/users/me",
                             lambda: {"email": fresh(), "current_password": PASSWORD},
                             lambda: {"email": taken, "current_password": PASSWORD}),
        }
        results = {}
        for name, (method, path, unknown, known) in pairs.items():
            times = {"unknown": [], "known": []}
            answers = {"unknown": set(), "known": set()}
            # Warm-up, then interleave the classes in random order so drift hits both alike.
            token = session if method == "PATCH" else None
            for _ in range(10):
                call(base, method, path, unknown(), token)
            order = ["unknown", "known"] * args.samples
            random.shuffle(order)
            for cls in order:
                sent = (unknown if cls == "unknown" else known)()
                status, body, ms = call(base, method, path, sent, token)
                times[cls].append(ms)
                answers[cls].add((status, comparable(body, sent["email"])))
            u, k = summary(times["unknown"]), summary(times["known"])
            results[name] = {
                "unknown_address": u, "existing_account": k,
                "median_difference_ms": round(k["median_ms"] - u["median_ms"], 3),
                "median_difference_pct": round(100 * (k["median_ms"] - u["median_ms"]) / u["median_ms"], 1),
                "same_status_and_body": answers["unknown"] == answers["known"] and len(answers["known"]) == 1,
            }
            print(f"{name}: {results[name]}")
    finally:
        service.stop()

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
