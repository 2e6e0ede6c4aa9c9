#!/usr/bin/env python3
"""Failure drills: prove that no signup's email is lost or sent twice when a part fails.

Each drill starts a stack of its own (private Redis, MongoDB-compatible server and SMTP capture
server; the machine's RabbitMQ behind a fault proxy; the user-service and mail-service binaries),
runs a steady stream of signups, injects one fault mid-stream, heals it, and then checks the
ledger: every accepted signup's verification email reached the SMTP server exactly once, every
account exists once, and nothing crashed. Clients retry a signup answered with 503 (what the API
asks them to do), so an outage delays signups but must never lose one.

Faults:
  rabbitmq_outage       the broker unreachable for 20 s (the proxy drops every connection and
                        refuses new ones, as when the broker stops), then back
  mail_sigkill          mail-service killed with SIGKILL, restarted
  mail_sigterm          mail-service stopped with SIGTERM (a scale-in), restarted
  smtp_outage           the SMTP server down for 20 s
  redis_restart         Redis killed and restarted empty (sessions, tokens and delivery records
                        are gone, by design: see docs/operations.md)
  mongo_restart         the MongoDB-compatible server stopped and restarted on its data
  poison_burst          malformed messages published straight into the work queue

The RabbitMQ on this machine is shared with other work, so it is not stopped; its outage is
injected at the network level instead, which is what the services see of a stopped broker (the
queue's contents survive either way: it is a durable quorum queue).

Writes drills/reports/latest.{md,json}; exits 1 if any drill lost or duplicated an email, left an
account missing or duplicated, or saw a service crash.
"""
from __future__ import annotations

import argparse
import email.header
import email.utils
import json
import mailbox
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pika
import pymongo

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
VERIFY_SUBJECT = (ROOT / "services/mail-service/templates/verify_email/en/subject.txt").read_text().strip()
PASSWORD = "correct horse battery staple"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_until(check, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(interval)
    raise RuntimeError(f"{what} did not come up within {timeout:.0f} s")


class FaultProxy:
    """A TCP proxy that can drop every connection and refuse new ones, then accept again."""

    def __init__(self, target_port: int):
        self.target = (HOST, target_port)
        self.port = free_port()
        self.lock = threading.Lock()
        self.sockets: set[socket.socket] = set()
        self.listener: socket.socket | None = None
        self.heal()

    def heal(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, self.port))
        listener.listen(128)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        assert self.listener is not None
        self.listener.close()
        with self.lock:
            for s in list(self.sockets):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self.sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass
            with self.lock:
                self.sockets -= {src, dst}


class Process:
    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log: Path, ready):
        self.name, self.cmd, self.env, self.log, self.ready = name, cmd, env, log, ready
        self.proc: subprocess.Popen | None = None
        self.unexpected_exits: list[int] = []
        self.expected_stop = False

    def start(self, timeout: float = 60) -> None:
        self.expected_stop = False
        log = self.log.open("ab")
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        wait_until(self.ready, timeout, self.name)

    def signal(self, sig: int, wait: float = 30) -> int | None:
        assert self.proc is not None
        self.expected_stop = True
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def check_alive(self) -> None:
        """Records an exit nobody asked for (a crash)."""
        if self.proc and not self.expected_stop and self.proc.poll() is not None:
            self.unexpected_exits.append(self.proc.returncode)
            self.expected_stop = True

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.signal(signal.SIGTERM)


def http_ready(port: int):
    return lambda: urllib.request.urlopen(f"http://{HOST}:{port}/readyz", timeout=1).status == 200


def tcp_banner(port: int, prefix: bytes):
    def check() -> bool:
        with socket.create_connection((HOST, port), timeout=1) as s:
            return s.recv(64).startswith(prefix)
    return check


def redis_ready(port: int):
    def check() -> bool:
        with socket.create_connection((HOST, port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    return check


def mongo_ready(port: int):
    def check() -> bool:
        client = pymongo.MongoClient(f"mongodb://{HOST}:{port}/?directConnection=true",
                                     serverSelectionTimeoutMS=500)
        try:
            return client.admin.command("ping").get("ok") == 1
        finally:
            client.close()
    return check


class Stack:
    """One drill's private world."""

    def __init__(self, name: str, args: argparse.Namespace):
        self.name = name
        self.dir = args.run_dir / name
        shutil.rmtree(self.dir, ignore_errors=True)
        (self.dir / "logs").mkdir(parents=True)
        self.run_id = uuid.uuid4().hex[:10]
        self.queue = f"drill_{name}_{self.run_id}"
        self.exchange = f"drill.events.{self.run_id}"
        self.amqp = FaultProxy(args.amqp_port)
        ports = {k: free_port() for k in ("redis", "mongo", "smtp", "http", "user_admin", "mail_admin")}
        self.ports = ports
        self.maildir = self.dir / "maildir"
        logs = self.dir / "logs"
        base_env = {"PATH": os.environ.get("PATH", ""), "LOG_FORMAT": "json", "RUST_LOG": "info"}
        conf = self.dir / "secantusd.toml"
        conf.write_text("# flags come from drills/run.py\n")
        services_bin = Path(args.services_python).parent
        self.redis = Process("redis", ["redis-server", "--port", str(ports["redis"]), "--bind", HOST,
                                       "--save", "", "--appendonly", "no"],
                             base_env, logs / "redis.log", redis_ready(ports["redis"]))
        self.mongo = Process("mongo", [str(services_bin / "secantusd-py"), "--config", str(conf),
                                       "--host", HOST, "--port", str(ports["mongo"]),
                                       "--storage-path", str(self.dir / "mongo-data")],
                             base_env, logs / "mongo.log", mongo_ready(ports["mongo"]))
        self.smtp = Process("smtp", [args.services_python, str(ROOT / "scripts/smtp_sink.py"),
                                     "--host", HOST, "--port", str(ports["smtp"]),
                                     "--maildir", str(self.maildir)],
                            base_env, logs / "smtp.log", tcp_banner(ports["smtp"], b"220"))
        amqp_url = f"amqp://guest:guest@{HOST}:{self.amqp.port}/%2f"
        self.mongodb_uri = f"mongodb://{HOST}:{ports['mongo']}/?directConnection=true"
        user_env = {
            **base_env,
            "HTTP_ADDR": f"{HOST}:{ports['http']}", "ADMIN_ADDR": f"{HOST}:{ports['user_admin']}",
            "MONGODB_URI": self.mongodb_uri, "MONGODB_DATABASE": "drill",
            "REDIS_URL": f"redis://{HOST}:{ports['redis']}", "REDIS_KEY_PREFIX": "drill:",
            "AMQP_URL": amqp_url, "EMAIL_QUEUE": self.queue, "EVENTS_EXCHANGE": self.exchange,
            "OUTBOX_POLL_INTERVAL": "1s", "REQUEST_TIMEOUT": "5s", "HASH_CONCURRENCY": "1",
            "RATE_LIMIT_LOGIN_IP": "off", "RATE_LIMIT_LOGIN_ACCOUNT": "off",
            "RATE_LIMIT_SIGNUP_IP": "off", "RATE_LIMIT_EMAIL_ADDRESS": "off", "RATE_LIMIT_EMAIL_IP": "off",
        }
        mail_env = {
            **base_env,
            "ADMIN_ADDR": f"{HOST}:{ports['mail_admin']}", "AMQP_URL": amqp_url,
            "EMAIL_QUEUE": self.queue, "PREFETCH": "8",
            "SMTP_HOST": HOST, "SMTP_PORT": str(ports["smtp"]), "SMTP_TLS": "none",
            "SMTP_TIMEOUT": "5s", "MAIL_FROM": "Drill <drill@example.com>",
            "REDIS_URL": f"redis://{HOST}:{ports['redis']}", "REDIS_KEY_PREFIX": "drill:",
            # Long enough in total to outlast a 20 s SMTP outage.
            "RETRY_DELAYS": "2s,5s,10s,20s,30s", "SHUTDOWN_TIMEOUT": "10s",
        }
        self.user = Process("user-service", [str(args.bin_dir / "user-service")], user_env,
                            logs / "user-service.log", http_ready(ports["user_admin"]))
        self.mail = Process("mail-service", [str(args.bin_dir / "mail-service")], mail_env,
                            logs / "mail-service.log", http_ready(ports["mail_admin"]))
        self.base = f"http://{HOST}:{ports['http']}"
        self.amqp_port = args.amqp_port

    def start(self) -> None:
        for p in (self.redis, self.mongo, self.smtp, self.user, self.mail):
            p.start()

    def processes(self) -> list[Process]:
        return [self.redis, self.mongo, self.smtp, self.user, self.mail]

    def teardown(self) -> None:
        for p in reversed(self.processes()):
            p.stop()
        self.amqp.cut()
        try:
            conn = pika.BlockingConnection(pika.ConnectionParameters(HOST, self.amqp_port))
            ch = conn.channel()
            for q in [self.queue, f"{self.queue}.dead"] + [f"{self.queue}.retry.{i}" for i in range(5)]:
                ch.queue_delete(q)
            ch.exchange_delete(self.exchange)
            conn.close()
        except Exception as e:  # noqa: BLE001 - cleanup only
            print(f"  cleanup: {e}")

    def dead_letters(self) -> tuple[int, list[str]]:
        conn = pika.BlockingConnection(pika.ConnectionParameters(HOST, self.amqp_port))
        ch = conn.channel()
        reasons = []
        while True:
            method, props, _ = ch.basic_get(f"{self.queue}.dead", auto_ack=False)
            if method is None:
                break
            reasons.append(str((props.headers or {}).get("x-death-reason", "")))
        conn.close()  # unacked: they stay in the queue
        return len(reasons), reasons


class SignupStream:
    """`count` signups at `rate` per second; a 503 or a refused connection is retried."""

    def __init__(self, base: str, count: int, rate: float, run_id: str):
        self.base, self.count, self.rate, self.run_id = base, count, rate, run_id
        self.accepted: dict[str, float] = {}
        self.failed: dict[str, str] = {}
        self.retries = 0
        self.lock = threading.Lock()

    def _one(self, i: int) -> None:
        address = f"drill-{self.run_id}-{i}@example.com"
        body = json.dumps({"email": address, "password": PASSWORD}).encode()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            req = urllib.request.Request(f"{self.base}/v1/users", data=body, method="POST",
                                         headers={"content-type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    if resp.status == 202:
                        with self.lock:
                            self.accepted[address] = time.monotonic()
                        return
            except urllib.error.HTTPError as e:
                if e.code not in (429, 503):
                    with self.lock:
                        self.failed[address] = f"HTTP {e.code}"
                    return
            except OSError:
                pass
            with self.lock:
                self.retries += 1
            time.sleep(0.5)
        with self.lock:
            self.failed[address] = "gave up after 120 s"

    def run(self) -> None:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=48) as pool:
            for i in range(self.count):
                delay = started + i / self.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(self._one, i)


def verification_ledger(maildir: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    if not (maildir / "new").exists():
        return counts
    for message in mailbox.Maildir(str(maildir), create=False):
        subject = str(email.header.make_header(email.header.decode_header(message.get("Subject", ""))))
        if subject != VERIFY_SUBJECT:
            continue
        to = email.utils.getaddresses([message.get("To", "")])
        if to:
            address = to[0][1].lower()
            counts[address] = counts.get(address, 0) + 1
    return counts


def publish_poison(port: int, queue: str, count: int) -> None:
    conn = pika.BlockingConnection(pika.ConnectionParameters(HOST, port))
    ch = conn.channel()
    ch.confirm_delivery()
    bodies = [b"not json at all", b"{}", b'{"schema_version": 99}', b"\xff\xfe\x00",
              json.dumps({"schema_version": 1, "message_id": str(uuid.uuid4()), "kind": "no_such_kind",
                          "to": {"email": "x@example.com"}, "locale": "en", "data": {},
                          "created_at": "2026-01-01T00:00:00Z"}).encode()]
    for i in range(count):
        ch.basic_publish("", queue, bodies[i % len(bodies)],
                         pika.BasicProperties(delivery_mode=2, message_id=f"poison-{i}"))
    conn.close()


def drill(name: str, args: argparse.Namespace) -> dict:
    stack = Stack(name, args)
    result: dict = {"drill": name}
    try:
        stack.start()
        stream = SignupStream(stack.base, args.signups, args.rate, stack.run_id)
        runner = threading.Thread(target=stream.run)
        t0 = time.monotonic()
        runner.start()
        time.sleep(args.fault_at)
        mail_pid = stack.mail.proc.pid if stack.mail.proc else None
        poison = 0
        fault_at = time.monotonic()
        if name == "rabbitmq_outage":
            stack.amqp.cut()
            time.sleep(args.outage)
            stack.amqp.heal()
        elif name == "mail_sigkill":
            stack.mail.signal(signal.SIGKILL)
            time.sleep(2)
            stack.mail.start()
        elif name == "mail_sigterm":
            result["sigterm_exit_code"] = stack.mail.signal(signal.SIGTERM)
            time.sleep(1)
            stack.mail.start()
        elif name == "smtp_outage":
            stack.smtp.signal(signal.SIGKILL)
            time.sleep(args.outage)
            stack.smtp.start()
        elif name == "redis_restart":
            stack.redis.signal(signal.SIGKILL)
            time.sleep(2)
            stack.redis.start()
        elif name == "mongo_restart":
            stack.mongo.signal(signal.SIGTERM)
            time.sleep(2)
            stack.mongo.start()
        elif name == "poison_burst":
            poison = args.poison
            publish_poison(stack.amqp_port, stack.queue, poison)
        healed_at = time.monotonic()
        result["fault_s"] = round(healed_at - fault_at, 1)
        # Recovery of the mail path: when everything accepted before the heal has arrived.
        backlog = set(stream.accepted)
        drained_at: list[float] = []

        def watch_backlog() -> None:
            while time.monotonic() < healed_at + args.settle + 60:
                if backlog <= set(verification_ledger(stack.maildir)):
                    drained_at.append(time.monotonic())
                    return
                time.sleep(0.25)

        watcher = threading.Thread(target=watch_backlog, daemon=True)
        watcher.start()
        runner.join()
        # Every accepted signup's email, or the settle time runs out.
        deadline = time.monotonic() + args.settle
        while time.monotonic() < deadline:
            for p in stack.processes():
                p.check_alive()
            ledger = verification_ledger(stack.maildir)
            if all(a in ledger for a in stream.accepted):
                break
            time.sleep(0.5)
        # Late duplicates would show up now.
        time.sleep(3)
        for p in stack.processes():
            p.check_alive()
        ledger = verification_ledger(stack.maildir)
        accepted = set(stream.accepted)
        first_ok = min((t for t in stream.accepted.values() if t > healed_at), default=None)
        client = pymongo.MongoClient(stack.mongodb_uri, serverSelectionTimeoutMS=5000)
        users = client["drill"]["users"]
        account_counts = {a: 0 for a in accepted}
        for doc in users.find({}, {"email": 1}):
            if doc["email"] in account_counts:
                account_counts[doc["email"]] += 1
        client.close()
        dead, reasons = stack.dead_letters()
        result.update({
            "signups": args.signups,
            "accepted": len(accepted),
            "client_retries": stream.retries,
            "refused": len(stream.failed),
            "delivered": sum(1 for a in accepted if ledger.get(a, 0) >= 1),
            "duplicated": sum(ledger.get(a, 0) - 1 for a in accepted if ledger.get(a, 0) > 1),
            "lost": sum(1 for a in accepted if a not in ledger),
            "accounts_missing": sum(1 for c in account_counts.values() if c == 0),
            "accounts_duplicated": sum(1 for c in account_counts.values() if c > 1),
            "dead_lettered": dead,
            "poison_published": poison,
            "crashes": {p.name: p.unexpected_exits for p in stack.processes() if p.unexpected_exits},
            "first_signup_after_heal_s": round(first_ok - healed_at, 2) if first_ok else None,
            "backlog_delivered_after_heal_s": round(drained_at[0] - healed_at, 1) if drained_at else None,
            "duration_s": round(time.monotonic() - t0, 1),
        })
        if name == "poison_burst":
            result["dead_letter_reasons"] = sorted(set(r[:80] for r in reasons))
            result["mail_service_pid_unchanged"] = stack.mail.proc.pid == mail_pid
    finally:
        stack.teardown()
    return result


def passed(r: dict) -> bool:
    ok = (r["lost"] == 0 and r["duplicated"] == 0 and r["refused"] == 0
          and r["accounts_missing"] == 0 and r["accounts_duplicated"] == 0 and not r["crashes"]
          and r["accepted"] == r["signups"])
    if r["drill"] == "poison_burst":
        ok = ok and r["dead_lettered"] == r["poison_published"] and r["mail_service_pid_unchanged"]
    else:
        ok = ok and r["dead_lettered"] == 0
    return ok


DRILLS = ["rabbitmq_outage", "mail_sigkill", "mail_sigterm", "smtp_outage", "redis_restart",
          "mongo_restart", "poison_burst"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", choices=DRILLS, help="run only these drills")
    ap.add_argument("--bin-dir", type=Path, default=ROOT / "target/debug")
    ap.add_argument("--run-dir", type=Path, default=ROOT / ".run/drills")
    ap.add_argument("--services-python", default=str(ROOT / ".run/venv/bin/python"))
    ap.add_argument("--amqp-port", type=int, default=5672)
    ap.add_argument("--signups", type=int, default=240)
    ap.add_argument("--rate", type=float, default=8.0, help="signups per second")
    ap.add_argument("--fault-at", type=float, default=5.0, help="seconds into the stream")
    ap.add_argument("--outage", type=float, default=20.0, help="seconds a service stays down")
    ap.add_argument("--poison", type=int, default=50)
    ap.add_argument("--settle", type=float, default=120.0,
                    help="seconds to wait for the last email after the stream")
    ap.add_argument("--report-dir", type=Path, default=ROOT / "drills/reports")
    args = ap.parse_args()

    results = []
    started = time.monotonic()
    for name in args.only or DRILLS:
        print(f"==> drill {name}", flush=True)
        r = drill(name, args)
        r["passed"] = passed(r)
        results.append(r)
        print(f"    {'PASS' if r['passed'] else 'FAIL'} {json.dumps(r)}", flush=True)

    args.report_dir.mkdir(parents=True, exist_ok=True)
    report = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "machine": {"cpus": os.cpu_count()},
              "settings": {k: v for k, v in vars(args).items() if k in ("signups", "rate", "fault_at", "outage", "poison")},
              "duration_s": round(time.monotonic() - started, 1), "drills": results}
    (args.report_dir / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Failure drills",
        "",
        f"{report['date']}, {os.cpu_count()} CPUs, {args.signups} signups at {args.rate}/s per drill, "
        f"fault {args.fault_at:.0f} s into the stream; {report['duration_s']} s in all. "
        "Delivered/duplicated/lost count verification emails at the SMTP server per accepted signup; "
        "the backlog is every signup accepted before the fault was healed.",
        "",
        "| drill | result | accepted | client retries | delivered | duplicated | lost | accounts missing/duplicated | dead-lettered | crashes | fault lasted | first signup after heal | backlog delivered after heal |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['drill']} | {'pass' if r['passed'] else 'FAIL'} | {r['accepted']}/{r['signups']} | "
            f"{r['client_retries']} | {r['delivered']} | {r['duplicated']} | {r['lost']} | "
            f"{r['accounts_missing']}/{r['accounts_duplicated']} | {r['dead_lettered']}"
            f"{' of ' + str(r['poison_published']) + ' poison' if r['poison_published'] else ''} | "
            f"{sum(len(v) for v in r['crashes'].values())} | {r['fault_s']} s | "
            f"{r['first_signup_after_heal_s'] if r['first_signup_after_heal_s'] is not None else '—'} s | "
            f"{r['backlog_delivered_after_heal_s'] if r['backlog_delivered_after_heal_s'] is not None else '—'} s |")
    (args.report_dir / "latest.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    sys.exit(0 if all(r["passed"] for r in results) else 1)


if __name__ == "__main__":
    main()
