"""The load of the Redis failover drill (drills/redis_failover.py) and what it proves.

Threads log in (each acknowledged login adds a session), check sessions with
`GET /v1/auth/check` and log sessions out, each recording every request: when it started and
ended, what it was, its status (0: no HTTP answer) and which session. Afterwards `verify` asks
about every session once more and `analyse` turns the records into the drill's figures.
"""
from __future__ import annotations

import http.client
import json
import random
import threading
import time
from dataclasses import dataclass, field

HOST = "127.0.0.1"
PASSWORD = "correct horse battery staple"


@dataclass
class Record:
    t0: float  # time.monotonic() when the request was sent
    t1: float  # ... and when its answer (or failure) came
    kind: str  # login | check | logout | verify
    status: int  # HTTP status, 0 when there was no answer
    session: str  # the session's id, "-" for a login that made none


@dataclass
class Session:
    id: str
    token: str
    state: str = "live"  # live | out (logout acknowledged) | unknown (logout not acknowledged)
    logout_t0: float | None = None


class Client:
    """One keep-alive HTTP connection per thread; reconnects after a failure."""

    def __init__(self, port: int):
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: dict | None = None,
                token: str | None = None) -> tuple[int, dict]:
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        for attempt in (1, 2):
            reused = self.conn is not None
            if self.conn is None:
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=15)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                payload = resp.read()
                return resp.status, (json.loads(payload) if payload.startswith(b"{") else {})
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                # A kept-alive connection the server closed in between: send once more on a new
                # one. A fresh connection that fails is an answer (none).
                if not reused or attempt == 2:
                    return 0, {}
        return 0, {}


def signup(port: int, emails: list[str]) -> None:
    client = Client(port)
    for email in emails:
        status, _ = client.request("POST", "/v1/users", {"email": email, "password": PASSWORD})
        if status != 202:
            raise RuntimeError(f"signup of {email} answered {status}")


class Load:
    def __init__(self, port: int, emails: list[str], logins: int = 2, checkers: int = 3,
                 logouts: int = 1, pause: float = 0.01, logout_every: float = 0.25):
        self.port, self.emails = port, emails
        self.threads_per_kind = {"login": logins, "check": checkers, "logout": logouts}
        self.pause, self.logout_every = pause, logout_every
        self.lock = threading.Lock()
        self.sessions: dict[str, Session] = {}
        self.live: list[str] = []
        self.records: list[Record] = []
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []

    # ---- the requests

    def _record(self, t0: float, kind: str, status: int, session: str) -> None:
        with self.lock:
            self.records.append(Record(t0, time.monotonic(), kind, status, session))

    def login(self, client: Client) -> None:
        t0 = time.monotonic()
        status, body = client.request("POST", "/v1/sessions",
                                      {"email": random.choice(self.emails), "password": PASSWORD})
        sid = body.get("id", "-") if 200 <= status < 300 else "-"
        self._record(t0, "login", status, sid)
        if sid != "-":
            with self.lock:
                self.sessions[sid] = Session(sid, body["token"])
                self.live.append(sid)

    def check(self, client: Client) -> None:
        with self.lock:
            if not self.live:
                return
            session = self.sessions[random.choice(self.live)]
        t0 = time.monotonic()
        status, _ = client.request("GET", "/v1/auth/check", token=session.token)
        self._record(t0, "check", status, session.id)

    def logout(self, client: Client) -> None:
        with self.lock:
            if len(self.live) < 10:
                return
            sid = self.live.pop(random.randrange(len(self.live)))
            session = self.sessions[sid]
            session.state = "unknown"
        t0 = time.monotonic()
        session.logout_t0 = t0
        status, _ = client.request("DELETE", "/v1/sessions/current", token=session.token)
        self._record(t0, "logout", status, sid)
        if 200 <= status < 300:
            session.state = "out"

    # ---- running

    def prime(self, count: int) -> None:
        """Sessions that exist before the load starts."""
        client = Client(self.port)
        for _ in range(count):
            self.login(client)

    def _loop(self, kind: str) -> None:
        client = Client(self.port)
        step = {"login": self.login, "check": self.check, "logout": self.logout}[kind]
        pause = self.logout_every if kind == "logout" else self.pause
        while not self.stopping.is_set():
            step(client)
            self.stopping.wait(pause)

    def start(self) -> None:
        for kind, count in self.threads_per_kind.items():
            for _ in range(count):
                t = threading.Thread(target=self._loop, args=(kind,), daemon=True)
                t.start()
                self.threads.append(t)

    def stop(self) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=30)

    def verify(self) -> dict:
        """Every acknowledged login still authenticates unless logged out; every acknowledged
        logout stays logged out."""
        client = Client(self.port)
        lost, revived, checked_live, checked_out = [], [], 0, 0
        for session in list(self.sessions.values()):
            if session.state == "unknown":
                continue
            t0 = time.monotonic()
            status, _ = client.request("GET", "/v1/auth/check", token=session.token)
            self._record(t0, "verify", status, session.id)
            if session.state == "live":
                checked_live += 1
                if status != 200:
                    lost.append({"session": session.id, "status": status})
            else:
                checked_out += 1
                if status != 401:
                    revived.append({"session": session.id, "status": status})
        return {"live_checked": checked_live, "lost": lost, "logged_out_checked": checked_out,
                "revived": revived,
                "logouts_unacknowledged": sum(s.state == "unknown" for s in self.sessions.values())}

    def dump(self, path, origin: float) -> None:
        """Every request as a JSON line: start and end (ms from `origin`), kind, status, session."""
        with open(path, "w") as out:
            for r in sorted(self.records, key=lambda r: r.t0):
                out.write(json.dumps({"t0_ms": round((r.t0 - origin) * 1000, 1),
                                      "t1_ms": round((r.t1 - origin) * 1000, 1), "kind": r.kind,
                                      "status": r.status, "session": r.session}) + "\n")

    def tokens(self) -> list[str]:
        return [s.token for s in self.sessions.values()]


@dataclass
class Marks:
    """Moments of the fault, as time.monotonic() values (None: did not happen)."""
    start: float
    fault: float | None = None
    fault_from: float | None = None  # when the fault was asked for (it took effect by `fault`)
    recovered: float | None = None  # the topology serves every key again
    extra: dict[str, float] = field(default_factory=dict)


def raced_logout(r: Record, sessions: dict[str, Session]) -> bool:
    """A check answered 401 because a logout of the same session overtook it."""
    s = sessions.get(r.session)
    return (r.kind == "check" and r.status == 401 and s is not None
            and s.logout_t0 is not None and s.logout_t0 < r.t1)


def analyse(load: Load, marks: Marks, grace: float) -> dict:
    """Counts, the error window (first to last failed request, relative to the fault) and the
    5xx (or unanswered requests) outside [fault, recovered + grace]."""
    records = [r for r in load.records if r.kind != "verify"]
    rel = lambda t: round((t - (marks.fault or marks.start)) * 1000)  # noqa: E731
    failed = [r for r in records if not 200 <= r.status < 300 and not raced_logout(r, load.sessions)]
    counts: dict[str, dict[str, int]] = {}
    for r in records:
        bucket = counts.setdefault(r.kind, {})
        bucket[str(r.status)] = bucket.get(str(r.status), 0) + 1
    allowed_end = (marks.recovered + grace) if marks.recovered else None
    outside = [r for r in failed if r.status == 0 or r.status >= 500]
    if marks.fault is not None and allowed_end is not None:
        allowed_start = marks.fault_from or marks.fault
        outside = [r for r in outside if r.t1 < allowed_start or r.t0 > allowed_end]
    not_5xx = [r for r in failed if 0 < r.status < 500]
    window = None
    if failed:
        window = {"first_ms": rel(min(r.t0 for r in failed)), "last_ms": rel(max(r.t1 for r in failed))}
        window["length_ms"] = window["last_ms"] - window["first_ms"]
    latency = sorted((r.t1 - r.t0) * 1000 for r in records)
    pct = lambda q: round(latency[min(len(latency) - 1, int(q * len(latency)))]) if latency else None  # noqa: E731
    return {
        "requests": len(records), "by_kind_and_status": counts,
        "latency_ms": {"p50": pct(0.5), "p99": pct(0.99), "max": pct(1.0),
                       "over_1s": sum(v > 1000 for v in latency)},
        "failed": len(failed), "raced_logouts": sum(raced_logout(r, load.sessions) for r in records),
        "error_window_ms": window,
        "failures_5xx_outside_window": [(r.kind, r.status, rel(r.t0)) for r in outside][:20],
        "failures_not_5xx": [(r.kind, r.status, r.session, rel(r.t0)) for r in not_5xx][:20],
        "timeline": timeline(records, load.sessions, marks),
    }


def timeline(records: list[Record], sessions: dict[str, Session], marks: Marks) -> list[dict]:
    """Requests per second relative to the fault: answered 2xx, and failed."""
    origin = marks.fault or marks.start
    bins: dict[int, list[int]] = {}
    for r in records:
        second = int((r.t0 - origin) // 1)
        ok = 200 <= r.status < 300 or raced_logout(r, sessions)
        bins.setdefault(second, [0, 0])[0 if ok else 1] += 1
    return [{"s": s, "ok": v[0], "failed": v[1]} for s, v in sorted(bins.items())]
