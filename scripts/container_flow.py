#!/usr/bin/env python3
"""HTTP steps of the container tests (scripts/images.sh), standard library only.

    container_flow.py ready URL TIMEOUT          wait until URL answers 200; print the seconds
    container_flow.py admin ADMIN_BASE           /healthz, /readyz and /metrics answer 200
    container_flow.py signup API_BASE MAILDIR    sign up, the email reaches MAILDIR, confirm, log in
    container_flow.py drain API_BASE ADMIN_BASE CONTAINER
                                                 holds a request in flight, sends SIGTERM to the
                                                 container, sees /readyz turn to draining, then
                                                 completes the request
    container_flow.py watch-drain ADMIN_BASE CONTAINER
                                                 SIGTERM, and polls /readyz until it refuses
                                                 connections; prints whether it saw draining
"""

import email
import email.policy
import json
import os
import pathlib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

DOCKER = os.environ.get("DOCKER", "docker")
PASSWORD = "container test: correct horse battery staple"


def request(method, url, body=None, token=None, timeout=5):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")


def ready(url, timeout):
    start = time.monotonic()
    while time.monotonic() - start < float(timeout):
        try:
            if request("GET", url, timeout=1)[0] == 200:
                print(f"{time.monotonic() - start:.2f}")
                return 0
        except OSError:
            pass
        time.sleep(0.05)
    print(f"{url} not ready after {timeout} s", file=sys.stderr)
    return 1


def admin(base):
    for path, want in (("/healthz", None), ("/readyz", None), ("/metrics", "# TYPE")):
        status, text = request("GET", base + path)
        if status != 200 or (want and want not in text):
            print(f"{base}{path}: {status} {text[:200]}", file=sys.stderr)
            return 1
    print(f"{base}: /healthz, /readyz, /metrics answer 200")
    return 0


def token_for(maildir, recipient, timeout=30):
    new = pathlib.Path(maildir) / "new"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in new.glob("*") if new.is_dir() else []:
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if recipient.lower() not in str(message.get("To", "")).lower():
                continue
            text = message.get_body(preferencelist=("plain",)).get_content()
            for line in text.splitlines():
                if line.strip().startswith("Token: "):
                    return line.strip().removeprefix("Token: ").strip()
        time.sleep(0.1)
    raise SystemExit(f"no email for {recipient} reached {new} in {timeout} s")


def signup(api, maildir):
    address = f"container-{os.getpid()}-{int(time.time() * 1000)}@example.com"
    started = time.monotonic()
    status, text = request("POST", api + "/v1/users", {"email": address, "password": PASSWORD})
    if status != 202:
        raise SystemExit(f"signup: {status} {text[:300]}")
    token = token_for(maildir, address)
    print(f"signup {address}: 202; the email reached the SMTP capture server in {time.monotonic() - started:.2f} s")
    status, text = request("POST", api + "/v1/email-verifications/confirm", {"token": token})
    if status != 200:
        raise SystemExit(f"confirm: {status} {text[:300]}")
    status, text = request("POST", api + "/v1/sessions", {"email": address, "password": PASSWORD})
    if status not in (200, 201):
        raise SystemExit(f"login: {status} {text[:300]}")
    session = json.loads(text)["token"]
    status, text = request("GET", api + "/v1/users/me", token=session)
    if status != 200 or json.loads(text).get("email_verified") is not True:
        raise SystemExit(f"/v1/users/me: {status} {text[:300]}")
    print("confirm: 200; login: session; /v1/users/me: email_verified true")
    return 0


def readyz(admin_base):
    try:
        return request("GET", admin_base + "/readyz", timeout=1)
    except OSError:
        return None, ""


def drain(api, admin_base, container):
    """A signup whose body is half sent keeps a request in flight across SIGTERM."""
    body = json.dumps({"email": f"drain-{os.getpid()}@example.com", "password": PASSWORD}).encode()
    host, port = urllib.parse.urlsplit(api).netloc.rsplit(":", 1)
    conn = socket.create_connection((host, int(port)), timeout=10)
    head = f"POST /v1/users HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
    conn.sendall(f"{head}content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode() + body[:10])
    time.sleep(0.3)
    subprocess.run([DOCKER, "kill", "--signal", "TERM", container], check=True, capture_output=True)
    deadline = time.monotonic() + 5
    seen = ""
    while time.monotonic() < deadline:
        status, text = readyz(admin_base)
        if status == 503 and "draining" in text:
            seen = text.strip().replace("\n", " ")[:120]
            break
        time.sleep(0.02)
    conn.sendall(body[10:])
    reply = conn.recv(4096).decode(errors="replace").split("\r\n", 1)[0]
    conn.close()
    if not seen:
        raise SystemExit("after SIGTERM /readyz never reported draining")
    print(f"after SIGTERM: /readyz 503 ({seen}); the request in flight completed: {reply}")
    return 0


def watch_drain(admin_base, container):
    subprocess.run([DOCKER, "kill", "--signal", "TERM", container], check=True, capture_output=True)
    seen = False
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status, text = readyz(admin_base)
        if status is None:
            break
        seen = seen or (status == 503 and "draining" in text)
        time.sleep(0.005)
    print("after SIGTERM: /readyz " + ("reported draining until the admin port closed" if seen
                                       else "closed before a poll saw draining (nothing in flight)"))
    return 0


def main(argv):
    commands = {"ready": ready, "admin": admin, "signup": signup, "drain": drain, "watch-drain": watch_drain}
    if len(argv) < 2 or argv[1] not in commands:
        raise SystemExit(__doc__)
    return commands[argv[1]](*argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
