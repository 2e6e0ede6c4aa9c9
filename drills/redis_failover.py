#!/usr/bin/env python3
"""Redis failover drill: sessions survive a primary's death and a Cluster reshard.

A release user-service runs against the loopback topologies of scripts/redis-topologies.sh
(TLS, passwords) with REDIS_WAIT_REPLICAS=1 while threads log in, check sessions
(`GET /v1/auth/check`) and log out (drills/redis_load.py). Cases:

  sentinel_failover   the Sentinel primary is stopped (`kill-primary sentinel`, SIGTERM: Redis
                      lets lagging replicas catch up, then exits); the sentinels promote a
                      replica; the stopped node is started again and rejoins as replica
  sentinel_sigkill    the same with SIGKILL: the primary dies on the spot
  cluster_failover    the primary of slot 0 is stopped (`kill-primary cluster`, SIGTERM); its
                      replica takes over; the node is started again and rejoins as replica
  cluster_sigkill     the same with SIGKILL
  cluster_reshard     slots move from one primary to another and back (`redis-cli --cluster
                      reshard`) under load: MOVED and ASK redirections, no fault

Afterwards every session whose login was acknowledged must still authenticate (unless logged
out), every acknowledged logout must stay logged out, and failures (5xx, or no answer) must fall
inside the fault: between the kill and the topology serving every slot again, plus a grace
period. The topologies are then stopped, started afresh and checked healthy, and stopped again
(their ports are fixed and shared with the test suite). Writes drills/reports/redis-failover.md
and .json; exits 1 when a case fails.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pymongo

from redis_load import HOST, Load, Marks, analyse, signup
from redis_report import write_report
from run import Process, free_port, http_ready

ROOT = Path(__file__).resolve().parent.parent
TOPOLOGIES = ROOT / "scripts/redis-topologies.sh"
MONGODB_URI = "mongodb://127.0.0.1:27017/?directConnection=true"
CASES = ["sentinel_failover", "sentinel_sigkill", "cluster_failover", "cluster_sigkill",
         "cluster_reshard"]
TOPOLOGY_PORTS = [6390, 6391, 6392, 6393, 26391, 26392, 26393, *range(7001, 7007)]


def topo(*args: str) -> str:
    done = subprocess.run([str(TOPOLOGIES), *args], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"redis-topologies.sh {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def topo_env(mode: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in topo("env", mode, "").splitlines() if "=" in line)


class Cli:
    """redis-cli against one node of the topologies, with their TLS files and password."""

    def __init__(self, run_dir: Path, password: str):
        self.run_dir = run_dir
        d = run_dir / "redis-topologies"
        self.base = ["redis-cli", "-h", HOST, "--tls", "--cacert", str(d / "ca.crt"), "--cert",
                     str(d / "client.crt"), "--key", str(d / "client.key"), "--no-auth-warning",
                     "-a", password]

    def __call__(self, port: int, *args: str, timeout: float = 5) -> str:
        try:
            done = subprocess.run([*self.base[:3], "-p", str(port), *self.base[3:], *args],
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return ""
        return done.stdout if done.returncode == 0 else ""

    def cluster(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([*self.base, "--cluster", *args], capture_output=True, text=True,
                              timeout=timeout)


def wait_for(check, timeout: float, what: str, interval: float = 0.1) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        time.sleep(interval)
    raise RuntimeError(f"{what}: not within {timeout:.0f} s")


def cluster_nodes(cli: Cli, ports: list[int]) -> list[dict]:
    """CLUSTER NODES from the first node that answers: id, port, flags, master id, slots."""
    for port in ports:
        out = cli(port, "cluster", "nodes")
        if out:
            nodes = []
            for line in out.splitlines():
                f = line.split()
                nodes.append({"id": f[0], "port": int(f[1].split("@")[0].rsplit(":", 1)[1]),
                              "flags": f[2].split(","), "master": f[3], "slots": f[8:]})
            return nodes
    return []


def cluster_ok(cli: Cli, ports: list[int]) -> bool:
    return any("cluster_state:ok" in cli(p, "cluster", "info") for p in ports)


def sentinel_moved_on(run_dir: Path, env: dict[str, str], killed: int) -> bool:
    """The first sentinel names a primary other than the killed node."""
    sentinel_port = int(env["REDIS_SENTINELS"].split(",")[0].rsplit(":", 1)[1])
    sentinels = Cli(run_dir, env["REDIS_SENTINEL_PASSWORD"])
    named = sentinels(sentinel_port, "sentinel", "get-master-addr-by-name", env["REDIS_SENTINEL_MASTER"])
    return bool(named) and named.split()[-1] != str(killed)


def cluster_moved_on(cli: Cli, killed: int) -> bool:
    """The Cluster is ok and another node serves slot 0 (the killed primary's first slot)."""
    alive = [p for p in range(7001, 7007) if p != killed]
    return cluster_ok(cli, alive) and any(
        "master" in n["flags"] and n["slots"] and n["slots"][0].startswith("0-") and n["port"] != killed
        for n in cluster_nodes(cli, alive))


def replica_synced(cli: Cli, port: int) -> bool:
    info = cli(port, "info", "replication")
    return "role:slave" in info and "master_link_status:up" in info


class Service:
    """The release user-service against one topology, on free ports, with its own database."""

    def __init__(self, args: argparse.Namespace, name: str, redis_env: dict[str, str]):
        self.database = f"drill_redis_{uuid.uuid4().hex[:10]}"
        self.http, admin = free_port(), free_port()
        env = {
            "PATH": os.environ.get("PATH", ""), "LOG_FORMAT": "json",
            "RUST_LOG": "warn,user_platform_common=info",
            "HTTP_ADDR": f"{HOST}:{self.http}", "ADMIN_ADDR": f"{HOST}:{admin}",
            "MONGODB_URI": MONGODB_URI, "MONGODB_DATABASE": self.database,
            # No broker: signups keep their emails in the outbox (nothing reaches the shared
            # RabbitMQ); the drill is about Redis.
            "AMQP_URL": "amqp://guest:guest@127.0.0.1:1/%2f",
            "REDIS_KEY_PREFIX": f"drill-{uuid.uuid4().hex[:8]}:",
            "REDIS_WAIT_REPLICAS": str(args.wait_replicas), "ALLOW_UNVERIFIED_LOGIN": "true",
            "SESSION_MAX_PER_ACCOUNT": "1000", "HASH_CONCURRENCY": "2",
            "RATE_LIMIT_LOGIN_IP": "off", "RATE_LIMIT_LOGIN_ACCOUNT": "off",
            "RATE_LIMIT_SIGNUP_IP": "off", "RATE_LIMIT_EMAIL_ADDRESS": "off",
            "RATE_LIMIT_EMAIL_IP": "off", **redis_env,
        }
        (args.run_dir / "redis-failover").mkdir(exist_ok=True)
        log = args.run_dir / "redis-failover" / f"{name}.user-service.log"
        log.unlink(missing_ok=True)
        self.proc = Process("user-service", [str(args.binary)], env, log, http_ready(admin))
        self.proc.start()

    def stop(self) -> list[int]:
        self.proc.check_alive()
        self.proc.stop()
        pymongo.MongoClient(MONGODB_URI).drop_database(self.database)
        return self.proc.unexpected_exits


def prepare(args: argparse.Namespace, name: str, mode: str) -> tuple[Service, Load]:
    topo("stop")
    topo("start", mode)
    service = Service(args, name, topo_env(mode))
    emails = [f"redis-drill-{uuid.uuid4().hex[:8]}-{i}@example.com" for i in range(args.users)]
    signup(service.http, emails)
    load = Load(service.http, emails, logins=args.login_threads, checkers=args.check_threads)
    load.prime(args.prime)
    return service, load


def failover_case(args: argparse.Namespace, name: str, cli: Cli) -> dict:
    mode = name.split("_")[0]
    signal = "KILL" if name.endswith("sigkill") else "TERM"
    service, load = prepare(args, name, mode)
    env = topo_env(mode)
    marks = Marks(start=time.monotonic())
    load.start()
    try:
        time.sleep(args.fault_at)
        # The signal is the script's last step (after finding the primary): the fault is when
        # it returns.
        marks.fault_from = time.monotonic()
        killed = int(topo("kill-primary", mode, signal).strip())
        marks.fault = time.monotonic()
        if mode == "sentinel":
            promoted = lambda: sentinel_moved_on(args.run_dir, env, killed)  # noqa: E731
        else:
            promoted = lambda: cluster_moved_on(cli, killed)  # noqa: E731
        marks.recovered = wait_for(promoted, 60, "failover")
        time.sleep(args.restart_after)
        marks.extra["restarted"] = time.monotonic()
        topo("start", mode)
        marks.extra["rejoined"] = wait_for(lambda: replica_synced(cli, killed), 60,
                                           f"node {killed} rejoining as a replica")
        time.sleep(args.tail)
    finally:
        load.stop()
    verification = load.verify()
    crashes = service.stop()
    return summarise(name, mode, load, marks, verification, crashes, args, killed_port=killed,
                     signal=f"SIG{signal}")


def reshard_case(args: argparse.Namespace, cli: Cli) -> dict:
    name = "cluster_reshard"
    service, load = prepare(args, name, "cluster")
    marks = Marks(start=time.monotonic())
    moves = []
    load.start()
    try:
        time.sleep(args.fault_at)
        marks.fault = time.monotonic()
        masters = sorted((n for n in cluster_nodes(cli, [7001, 7002, 7003]) if "master" in n["flags"]),
                         key=lambda n: n["port"])
        a, b = masters[0], masters[1]
        for src, dst in ((a, b), (b, a)):
            t0 = time.monotonic()
            done = cli.cluster("reshard", f"{HOST}:{src['port']}", "--cluster-from", src["id"],
                               "--cluster-to", dst["id"], "--cluster-slots", str(args.reshard_slots),
                               "--cluster-yes")
            moves.append({"from": src["port"], "to": dst["port"], "slots": args.reshard_slots,
                          "seconds": round(time.monotonic() - t0, 1), "exit": done.returncode})
            if done.returncode != 0:
                raise RuntimeError(f"reshard failed: {done.stdout[-2000:]} {done.stderr[-2000:]}")
        marks.recovered = time.monotonic()
        time.sleep(args.tail)
    finally:
        load.stop()
    verification = load.verify()
    crashes = service.stop()
    result = summarise(name, "cluster", load, marks, verification, crashes, args)
    moved = set(range(args.reshard_slots))  # redis-cli moves the lowest slots of the source
    slots = {key_slot("u:" + token[:4]) for token in load.tokens()}
    result["reshard"] = {"moves": moves, "account_slots": len(slots),
                         "account_slots_moved": len(slots & moved) if a["slots"][0].startswith("0-") else None}
    return result


def key_slot(tag: str) -> int:
    """The Cluster slot of a hash tag: CRC16 (XMODEM) of its bytes, modulo 16384."""
    crc = 0
    for byte in tag.encode():
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc % 16384


def summarise(name: str, mode: str, load: Load, marks: Marks, verification: dict,
              crashes: list[int], args: argparse.Namespace, **extra) -> dict:
    figures = analyse(load, marks, args.grace)
    (args.run_dir / "redis-failover").mkdir(exist_ok=True)
    load.dump(args.run_dir / "redis-failover" / f"{name}.requests.jsonl", marks.fault or marks.start)
    rel = lambda t: round((t - marks.fault) * 1000) if t and marks.fault else None  # noqa: E731
    result = {
        "case": name, "topology": mode, **extra,
        "recovered_ms": rel(marks.recovered), **{f"{k}_ms": rel(v) for k, v in marks.extra.items()},
        "sessions": len(load.sessions), **figures, "verification": verification, "crashes": crashes,
    }
    result["passed"] = (not verification["lost"] and not verification["revived"] and not crashes
                        and not figures["failures_5xx_outside_window"] and not figures["failures_not_5xx"]
                        and (name != "cluster_reshard" or figures["failed"] == 0))
    return result


def foreign_topologies(run_dir: Path) -> list[int]:
    """Topology ports that answer although this RUN_DIR started nothing there."""
    ours = any((run_dir / "redis-topologies").glob("*.pid"))
    busy = []
    for port in TOPOLOGY_PORTS:
        with socket.socket() as s:
            s.settimeout(0.3)
            if s.connect_ex((HOST, port)) == 0:
                busy.append(port)
    return [] if ours else busy


def health(cli: Cli) -> dict:
    env = topo_env("sentinel")
    sentinel_cli = Cli(cli.run_dir, env["REDIS_SENTINEL_PASSWORD"])
    primary = sentinel_cli(26391, "sentinel", "get-master-addr-by-name", env["REDIS_SENTINEL_MASTER"])
    nodes = cluster_nodes(cli, [7001, 7002, 7003])
    tls = subprocess.run([*cli.base[:3], "-p", "6390", *cli.base[3:-2], "ping"],
                         capture_output=True, text=True, timeout=5).stdout
    found = {
        "tls_ping": "PONG" in tls,
        "sentinel_primary": primary.split()[-1] if primary else None,
        "sentinel_replicas": cli(6391, "info", "replication").count("state=online"),
        "cluster_state_ok": cluster_ok(cli, [7001]),
        "cluster_masters": sum("master" in n["flags"] and bool(n["slots"]) for n in nodes),
        "cluster_replicas": sum("slave" in n["flags"] for n in nodes),
    }
    found["healthy"] = (found["tls_ping"] and found["sentinel_primary"] == "6391"
                        and found["sentinel_replicas"] == 2 and found["cluster_state_ok"]
                        and found["cluster_masters"] == 3 and found["cluster_replicas"] == 3)
    return found


def restore(cli: Cli) -> dict:
    """Stops the drill's topologies, starts all afresh, waits (at most 60 s) until they are
    healthy (replicas synchronised, every node's role known), and stops them again."""
    topo("stop")
    topo("start", "all")
    deadline = time.monotonic() + 60
    while not (found := health(cli))["healthy"] and time.monotonic() < deadline:
        time.sleep(1)
    topo("stop")
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", choices=CASES)
    ap.add_argument("--binary", type=Path, default=ROOT / "target/release/user-service")
    ap.add_argument("--run-dir", type=Path, default=ROOT / ".run")
    ap.add_argument("--users", type=int, default=48)
    ap.add_argument("--prime", type=int, default=40, help="sessions made before the load starts")
    ap.add_argument("--login-threads", type=int, default=2)
    ap.add_argument("--check-threads", type=int, default=3)
    ap.add_argument("--wait-replicas", type=int, default=1)
    ap.add_argument("--fault-at", type=float, default=5.0, help="seconds into the load")
    ap.add_argument("--restart-after", type=float, default=3.0,
                    help="seconds after the failover before the stopped node is started again")
    ap.add_argument("--tail", type=float, default=5.0, help="seconds of load after the fault")
    ap.add_argument("--grace", type=float, default=2.0,
                    help="seconds after recovery in which failures still count as the fault's")
    ap.add_argument("--reshard-slots", type=int, default=4000)
    ap.add_argument("--report-dir", type=Path, default=ROOT / "drills/reports")
    args = ap.parse_args()
    args.run_dir = args.run_dir.resolve()
    busy = foreign_topologies(args.run_dir)
    if busy:
        sys.exit(f"ports {busy} answer, but not for topologies of {args.run_dir}: another run "
                 "(the test suite?) is using them; try again when it is done")
    password = topo_env("cluster")["REDIS_PASSWORD"]
    cli = Cli(args.run_dir, password)
    results, started = [], time.monotonic()
    try:
        for name in args.only or CASES:
            print(f"==> {name}", flush=True)
            r = (reshard_case(args, cli) if name == "cluster_reshard"
                 else failover_case(args, name, cli))
            results.append(r)
            print(f"    {'PASS' if r['passed'] else 'FAIL'} {json.dumps({k: v for k, v in r.items() if k != 'timeline'})}",
                  flush=True)
    finally:
        print("==> restoring the topologies", flush=True)
        health = restore(cli)
    write_report(args, results, health, round(time.monotonic() - started, 1))
    sys.exit(0 if all(r["passed"] for r in results) and health["healthy"] else 1)


if __name__ == "__main__":
    shutil.which("redis-cli") or sys.exit("redis-cli is needed (apt-get install redis-tools)")
    main()
