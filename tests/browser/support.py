"""Helpers of the hosted pages' browser tests: checks, test data, TOTP codes, the captured
mailbox and small servers for other origins (see pages.py)."""

import base64
import email.policy
import hashlib
import hmac
import html
import http.server
import re
import secrets
import struct
import sys
import threading
import time
import urllib.request
from pathlib import Path


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
    "--lang=en-US",
]


class ScenarioFailed(AssertionError):
    pass


class Mismatch:
    """Checks that record a departure from the contract and let the scenario go on (so that one
    run shows every one); each still fails the run."""

    def __init__(self, suite):
        self.suite = suite

    def __enter__(self):
        return self

    def __exit__(self, kind, error, tb):
        if isinstance(error, ScenarioFailed):
            self.suite.report.mismatches.append((self.suite.scenario, str(error)))
            print(f"    MISMATCH: {error}", file=sys.stderr, flush=True)
            return True
        return False


def check(condition, message):
    if not condition:
        raise ScenarioFailed(message)


def new_password():
    """A password our policy accepts: 15+ characters, random, unrelated to the address."""
    return f"Quartz-lantern-{secrets.token_hex(6)}"


def unique_email(tag):
    return f"browser-{tag}-{secrets.token_hex(8)}@example.com"


# ------------------------------------------------------------------------------ TOTP (RFC 6238)
def totp(secret_b32, counter, digits=6):
    secret = re.sub(r"\s+", "", secret_b32).upper()
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 10**digits:0{digits}d}"


class Authenticator:
    """An authenticator app: a code of the current 30 s step, never one it already gave (a
    server refuses a code used twice), and not in the last seconds of its step."""

    def __init__(self, secret):
        self.secret = secret
        self.last = -1

    def code(self):
        while True:
            now = time.time()
            counter = int(now // 30)
            if counter > self.last and now - counter * 30 < 27:
                self.last = counter
                return totp(self.secret, counter)
            time.sleep(0.5)


# ------------------------------------------------------------------------------------ mailbox
class Mailbox:
    """The SMTP capture server's Maildir: each message a file in new/."""

    def __init__(self, maildir):
        self.new = Path(maildir) / "new"
        self.seen = {}

    def messages_for(self, recipient):
        found = []
        if not self.new.is_dir():
            return found
        for path in self.new.iterdir():
            try:
                raw = path.read_bytes()
                mtime = path.stat().st_mtime
            except OSError:
                continue
            message = email.message_from_bytes(raw, policy=email.policy.default)
            to = message.get("To")
            addresses = getattr(to, "addresses", ()) if to is not None else ()
            if any(a.addr_spec.lower() == recipient.lower() for a in addresses):
                found.append((mtime, path.name, message))
        found.sort(key=lambda m: (m[0], m[1]))
        return [m[2] for m in found]

    def next_link(self, recipient, path, timeout=30):
        """The link to `path` in the text part of the next message for `recipient`."""
        want = self.seen.get(recipient, 0) + 1
        deadline = time.time() + timeout
        while True:
            messages = self.messages_for(recipient)
            if len(messages) >= want:
                break
            check(time.time() < deadline, f"no email number {want} for {recipient} within {timeout}s")
            time.sleep(0.2)
        self.seen[recipient] = want
        message = messages[want - 1]
        text = message.get_body(preferencelist=("plain",))
        check(text is not None, f"the email to {recipient} has no text part")
        links = re.findall(r"https?://[^\s<>\"']+", text.get_content())
        matching = [link for link in links if urllib.parse.urlsplit(link).path == path]
        check(matching, f"no link to {path} in the email to {recipient}: {links}")
        return matching[0]


# ---------------------------------------------------------------------------- small servers
class Site:
    """Another origin's pages, served by http.server on 127.0.0.1 in a thread."""

    def __init__(self, port, pages):
        site_pages = pages

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                body = site_pages.get(urllib.parse.urlsplit(self.path).path)
                if body is None:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def plain_page(title, body, head=""):
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">{head}'
        f"<title>{html.escape(title)}</title></head><body><main><h1>{html.escape(title)}</h1>"
        f"{body}</main></body></html>"
    )


# ------------------------------------------------------------------------------------- report
