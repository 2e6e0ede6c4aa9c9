"""Shared by the benchmark scripts: a user-service of its own (fresh database, key prefix, queue
and exchange, rate limits off) against the dependency services, and cleaning up after it."""
import json
import os
import socket
import statistics
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WRK_LUA = ROOT / "bench/wrk/auth.lua"
MONGODB_URI = "mongodb://127.0.0.1:27017/?directConnection=true"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int) -> float:
    """Resident memory of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def call(base: str, method: str, path: str, body: dict | None = None,
         token: str | None = None) -> tuple[int, bytes, float]:
    """One request; returns status, body and latency in ms."""
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            payload, status = resp.read(), resp.status
    except urllib.error.HTTPError as e:
        payload, status = e.read(), e.code
    return status, payload, (time.perf_counter() - started) * 1000


def session(service: "UserService", password: str, prefix: str = "bench") -> str:
    """The session token of a new account (the service must allow unverified logins)."""
    email = f"{prefix}-{uuid.uuid4().hex[:8]}@example.com"
    status, _, _ = call(service.base, "POST", "/v1/users", {"email": email, "password": password})
    assert status == 202, status
    status, body, _ = call(service.base, "POST", "/v1/sessions", {"email": email, "password": password})
    assert status == 201, status
    return json.loads(body)["token"]


def median_at(runs: list[dict], path: list[str]) -> float:
    """The median over the runs of the figure at `path` (keys into each run's nested dict)."""
    values = []
    for run in runs:
        value = run
        for key in path:
            value = value[key]
        values.append(value)
    return round(statistics.median(values), 3)


def start_wrk(wrk_bin: str, url: str, env: dict[str, str], connections: int, duration: str,
              threads: int) -> subprocess.Popen:
    """wrk with bench/wrk/auth.lua (MODE and its variables in `env`), started in the background."""
    return subprocess.Popen(
        [wrk_bin, f"-t{threads}", f"-c{connections}", f"-d{duration}", "--timeout", "5s",
         "-s", str(WRK_LUA), url],
        env={**os.environ, **env}, stdout=subprocess.PIPE, text=True)


def wrk_result(proc: subprocess.Popen) -> dict:
    """Requests/s, the error count and latency percentiles (ms) of a wrk run started above."""
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"wrk failed ({proc.returncode})")
    line = next(line for line in out.splitlines() if line.startswith("WRKJSON "))
    raw = json.loads(line.removeprefix("WRKJSON "))
    errors = sum(raw["errors"].values())
    return {"rps": round(raw["requests"] / (raw["duration_us"] / 1e6), 1), "requests": raw["requests"],
            "errors": errors, **{k.replace("_us", "_ms"): round(raw[k] / 1000, 2)
                                 for k in ("p50_us", "p90_us", "p99_us", "p999_us", "max_us")}}


class UserService:
    """A release user-service process on free loopback ports."""

    def __init__(self, binary: Path, extra_env: dict[str, str | None] | None = None):
        """`extra_env` adds or replaces variables; a None value removes one (REDIS_URL, for
        another Redis mode)."""
        run_id = uuid.uuid4().hex[:12]
        self.http, self.admin = free_port(), free_port()
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HTTP_ADDR": f"127.0.0.1:{self.http}", "ADMIN_ADDR": f"127.0.0.1:{self.admin}",
            "MONGODB_URI": MONGODB_URI, "MONGODB_DATABASE": f"bench_{run_id}",
            "REDIS_URL": "redis://127.0.0.1:6379", "REDIS_KEY_PREFIX": f"bench:{run_id}:",
            "AMQP_URL": "amqp://guest:guest@127.0.0.1:5672/%2f",
            "EMAIL_QUEUE": f"bench_{run_id}", "EVENTS_EXCHANGE": f"bench.events.{run_id}",
            "RATE_LIMIT_LOGIN_IP": "off", "RATE_LIMIT_LOGIN_ACCOUNT": "off",
            "RATE_LIMIT_SIGNUP_IP": "off", "RATE_LIMIT_EMAIL_ADDRESS": "off",
            "RATE_LIMIT_EMAIL_IP": "off", "RATE_LIMIT_EMAIL_CHANGE": "off",
            "LOG_FORMAT": "json", "RUST_LOG": "warn",
            **(extra_env or {}),
        }
        self.env = {k: v for k, v in self.env.items() if v is not None}
        self.base = f"http://127.0.0.1:{self.http}"
        started = time.perf_counter()
        # A session of its own: where the kernel groups tasks per session for fair scheduling
        # (autogroup), the service then has a group of its own, as a pod has its own cgroup,
        # instead of sharing one with the load generators started from this process.
        self.proc = subprocess.Popen([str(binary)], env=self.env, stdout=subprocess.DEVNULL,
                                     start_new_session=True)
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/readyz", timeout=1)
                break
            except OSError:
                time.sleep(0.02)
        else:
            self.stop()
            raise SystemExit("user-service did not become ready")
        self.start_to_ready_ms = (time.perf_counter() - started) * 1000

    def rss_mib(self) -> float:
        return rss_mib(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        try:
            import pymongo
            pymongo.MongoClient(MONGODB_URI).drop_database(self.env["MONGODB_DATABASE"])
        except Exception as e:  # noqa: BLE001 - cleanup only
            print(f"cleanup: {e}")
        queue = self.env["EMAIL_QUEUE"]
        for q in (queue, queue + ".dead"):
            subprocess.run(["rabbitmqctl", "-q", "delete_queue", q], capture_output=True)
        exchange = self.env["EVENTS_EXCHANGE"]
        subprocess.run(["rabbitmqctl", "-q", "eval",
                        f'rabbit_exchange:delete(rabbit_misc:r(<<"/">>, exchange, <<"{exchange}">>), false, <<"bench">>).'],
                       capture_output=True)
