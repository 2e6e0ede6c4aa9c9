#!/usr/bin/env python3
"""End-to-end test of the mail-service's EmailTemplate controller against an emulated Kubernetes
API server over HTTP (kmock, emulator.py), with the real mail-service binary, RabbitMQ, Redis
and the SMTP capture server:

1. an EmailTemplate is created: its status turns Ready and the next email has its subject;
2. an invalid edit: status TemplateInvalid, and the previous version still sends;
3. the API server restarts (watch streams cut, state kept): the watch resumes and a change made
   afterwards is applied;
4. the EmailTemplate is deleted: the built-in template is back.

Usage: controller_e2e.py MAIL_SERVICE_BINARY
Environment: AMQP_URL, REDIS_URL, SMTP_SINK_MAILDIR, SMTP_SINK_PORT (default 2525).
"""
import asyncio
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

import aiohttp
import kmock
import pika

from emulator import GROUP, VERSION, PLURAL, StampingEmulator

NS = "mail"
TIMEOUT = 60.0
BASE = f"/apis/{GROUP}/{VERSION}/namespaces/{NS}/{PLURAL}"
RUN = uuid.uuid4().hex[:8]
QUEUE = f"kmock_e2e_{RUN}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


STARTED = time.monotonic()


def step(msg: str) -> None:
    print(f"kmock e2e [{time.monotonic() - STARTED:5.1f}s]: {msg}", flush=True)


async def eventually(what: str, probe, timeout: float = TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


class Mail:
    def __init__(self) -> None:
        self.dir = pathlib.Path(os.environ["SMTP_SINK_MAILDIR"]) / "new"
        url = pika.URLParameters(os.environ["AMQP_URL"])
        self.conn = pika.BlockingConnection(url)
        self.channel = self.conn.channel()
        self.channel.confirm_delivery()
        self.user = url.credentials.username

    def send(self) -> str:
        """Publishes one verification email to a fresh recipient; returns the recipient."""
        to = f"kmock-{uuid.uuid4().hex}@example.com"
        message_id = str(uuid.uuid4())
        body = {"schema_version": 1, "message_id": message_id,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "to": {"email": to, "name": "Ada"}, "kind": "verify_email", "locale": "en",
                "data": {"token": "t" * 43, "action_url": "https://app.example.com/verify?token=x",
                         "expires_in_hours": 24}}
        props = pika.BasicProperties(delivery_mode=2, content_type="application/json",
                                     message_id=message_id, type="verify_email",
                                     app_id="user-service", user_id=self.user,
                                     headers={"x-schema-version": 1})
        self.channel.basic_publish("", QUEUE, json.dumps(body).encode(), props, mandatory=True)
        return to

    async def subject(self, to: str) -> str:
        needle = f"X-RcptTo: {to}\n"

        async def find():
            for f in self.dir.glob("*") if self.dir.exists() else []:
                text = f.read_text(errors="replace")
                if needle in text:
                    for line in text.splitlines():
                        if line.startswith("Subject: "):
                            return line[len("Subject: "):]
            return None
        return await eventually(f"the email to {to}", find)

    async def roundtrip(self) -> str:
        return await self.subject(self.send())

    def close(self) -> None:
        try:
            self.channel.queue_delete(QUEUE)
            self.channel.queue_delete(f"{QUEUE}.dead")
            for level in range(3):
                self.channel.queue_delete(f"{QUEUE}.retry.{level}")
        finally:
            self.conn.close()


def template(name: str, subject: str) -> dict:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "EmailTemplate",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"kind": "verify_email", "locale": "en", "subject": subject,
                     "text": "Hello {{ name }}, confirm: {{ action_url }}"}}


async def ready_reason(api: aiohttp.ClientSession, name: str, generation: int | None = None):
    async with api.get(f"{BASE}/{name}") as r:
        if r.status != 200:
            return None
        obj = await r.json()
    for c in (obj.get("status") or {}).get("conditions", []):
        if c.get("type") == "Ready" and (generation is None or c.get("observedGeneration") == generation):
            return c.get("reason")
    return None


def start_service(binary: str, kubeconfig: pathlib.Path, admin: int, log) -> subprocess.Popen:
    env = {**os.environ,
           "EMAIL_QUEUE": QUEUE, "REDIS_KEY_PREFIX": f"kmock-e2e-{RUN}:",
           "SMTP_HOST": "127.0.0.1", "SMTP_PORT": os.environ.get("SMTP_SINK_PORT", "2525"),
           "SMTP_TLS": "none", "MAIL_FROM": "Kmock <kmock@example.com>",
           "TEMPLATE_SOURCE": "kubernetes",
           # The links of the test messages point there (the mail-service refuses other origins).
           "ALLOWED_LINK_ORIGINS": "https://app.example.com", "POD_NAMESPACE": NS, "KUBECONFIG": str(kubeconfig),
           "ADMIN_ADDR": f"127.0.0.1:{admin}", "RETRY_DELAYS": "1s", "RUST_LOG": "info",
           "AMQP_PUBLISHER_USER": pika.URLParameters(os.environ["AMQP_URL"]).credentials.username}
    env.pop("TEMPLATE_DIR", None)
    return subprocess.Popen([binary], env=env, stdout=log, stderr=subprocess.STDOUT)


async def readyz(admin: int) -> bool:
    def get():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{admin}/readyz", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False
    return await asyncio.to_thread(get)


class ApiServer:
    """The emulator on a fixed port, so it can go away and come back at the same address."""

    def __init__(self, emulator: StampingEmulator, port: int) -> None:
        self.emulator, self.port, self.server = emulator, port, None

    async def start(self) -> None:
        self.server = kmock.Server(self.emulator, port=self.port)
        await self.server.__aenter__()

    async def stop(self) -> None:
        # Open watch streams would keep the server's shutdown waiting: end them as a dying API
        # server does.
        self.emulator.cut_watches()
        await self.server.__aexit__(None, None, None)

    def kubeconfig(self, path: pathlib.Path) -> pathlib.Path:
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "emulator",
            "clusters": [{"name": "emulator", "cluster": {"server": f"http://127.0.0.1:{self.port}"}}],
            "users": [{"name": "none", "user": {}}],
            "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "none", "namespace": NS}}],
        }))
        return path


async def merge_patch(api: aiohttp.ClientSession, name: str, patch: dict) -> None:
    async with api.patch(f"{BASE}/{name}", json=patch,
                         headers={"Content-Type": "application/merge-patch+json"}) as r:
        assert r.status == 200, await r.text()


async def lifecycle(api: aiohttp.ClientSession, mail: "Mail", server: ApiServer) -> None:
    """The four steps of the module docstring."""
    builtin = await mail.roundtrip()
    step(f"built-in subject: {builtin!r}")

    async with api.post(BASE, json=template("verify-en", f"Custom {RUN}")) as r:
        assert r.status in (200, 201), await r.text()
    await eventually("Ready=Applied", lambda: _is(api, "verify-en", "Applied", 1))
    await eventually("the custom subject", lambda: _subject_is(mail, f"Custom {RUN}"))
    step("created: status Applied, the next email uses the new subject")

    await merge_patch(api, "verify-en", {"spec": {"subject": "{{ broken"}})
    await eventually("TemplateInvalid", lambda: _is(api, "verify-en", "TemplateInvalid", 2))
    assert await mail.roundtrip() == f"Custom {RUN}", "the previous version must still send"
    step("invalid edit: status TemplateInvalid, the previous version still sends")

    watches = server.emulator.watches
    await server.stop()
    step("API server stopped (watch streams cut)")
    await asyncio.sleep(2)
    await server.start()
    await merge_patch(api, "verify-en", {"spec": {"subject": f"Resumed {RUN}"}})
    await eventually("Ready=Applied after the restart", lambda: _is(api, "verify-en", "Applied", 3))
    assert server.emulator.watches > watches, "no new watch after the restart"
    await eventually("the subject set after the restart", lambda: _subject_is(mail, f"Resumed {RUN}"))
    step("API server restarted: the watch resumed and applied the change")

    async with api.delete(f"{BASE}/verify-en") as r:
        assert r.status == 200, await r.text()
    await eventually("the built-in subject", lambda: _subject_is(mail, builtin))
    step("deleted: the built-in template is back")


async def scenario(binary: str, workdir: pathlib.Path) -> None:
    admin = free_port()
    mail = Mail()
    log_path = workdir / "mail-service.log"
    service = None
    try:
        async with StampingEmulator() as emulator:
            server = ApiServer(emulator, free_port())
            await server.start()
            with open(log_path, "wb") as log:
                service = start_service(binary, server.kubeconfig(workdir / "kubeconfig"), admin, log)
                await eventually("mail-service /readyz (the first list of EmailTemplates)", lambda: readyz(admin))
                async with aiohttp.ClientSession(f"http://127.0.0.1:{server.port}") as api:
                    await lifecycle(api, mail, server)
                stop_service(service)
                service = None
            await server.stop()
    except BaseException:
        if log_path.exists():
            sys.stderr.write(log_path.read_text(errors="replace")[-6000:])
        raise
    finally:
        if service is not None:
            stop_service(service)
        mail.close()


def stop_service(service: subprocess.Popen) -> None:
    service.terminate()
    try:
        service.wait(timeout=60)
    except subprocess.TimeoutExpired:
        service.kill()
        service.wait()


async def _is(api, name, reason, generation):
    return await ready_reason(api, name, generation) == reason


async def _subject_is(mail: Mail, subject: str) -> bool:
    return await mail.roundtrip() == subject


def main() -> int:
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="kmock-e2e-") as d:
        asyncio.run(scenario(binary, pathlib.Path(d)))
    step("passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
