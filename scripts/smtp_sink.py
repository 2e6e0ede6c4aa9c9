#!/usr/bin/env python3
"""SMTP capture server for local development and CI.

Accepts every message on a loopback port and stores it, unmodified apart
from three prepended trace headers, in a Maildir, so tests can assert on
what the mail service actually put on the wire.

Where messages go
    <maildir>/new/<unique-name>, one file per accepted message, LF line
    endings. Files are written through ``mailbox.Maildir``, which writes into
    ``tmp/`` and then renames into ``new/``: a reader listing ``new/`` never
    sees a half-written file. Each file starts with:

        X-Peer: 127.0.0.1:54321
        X-MailFrom: sender@example.com         (SMTP envelope MAIL FROM)
        X-RcptTo: a@example.com, b@example.com (accepted RCPT TOs only)

    followed by the message exactly as the client sent it.

Failure injection (matched on the local part of each RCPT TO address,
case-insensitive prefix, so ``smtp451-anything@x`` works too)
    smtp451...  ->  451 4.3.0 Temporary failure       (transient; retry)
    smtp550...  ->  550 5.1.1 Mailbox unavailable     (permanent; give up)
    smtp421...  ->  421 4.3.2 Service not available, closing transmission
                    channel -- and the server then drops the connection
                    (transient; the client must reconnect to retry)
    Any other recipient is accepted with 250. In a message with several
    recipients only the matching ones are refused; the others are delivered.

Other behaviour
    * AUTH PLAIN/LOGIN is advertised and any credentials are accepted (not
      required), so a mail client configured with a username and password
      works unchanged. No STARTTLS: clients must be set up for plain SMTP.
    * SMTPUTF8 and 8BITMIME are supported.
    * One log line per accepted message on stderr (envelope, size, key);
      bodies are never logged.

Configuration (flag, then environment variable, then default)
    --host     SMTP_HOST     127.0.0.1
    --port     SMTP_PORT     2525
    --maildir  SMTP_MAILDIR  $RUN_DIR/maildir, RUN_DIR defaulting to
                             <repo>/.run

Stops cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import mailbox
import os
import signal
import sys
from pathlib import Path

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

log = logging.getLogger("smtp_sink")

# Prefix of the RCPT TO local part -> (reply, close the connection after it).
FAILURES: dict[str, tuple[str, bool]] = {
    "smtp451": ("451 4.3.0 Temporary failure", False),
    "smtp550": ("550 5.1.1 Mailbox unavailable", False),
    "smtp421": ("421 4.3.2 Service not available, closing transmission channel", True),
}


def peer_str(session: Session) -> str:
    peer = session.peer
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)


def injected_failure(address: str) -> tuple[str, bool] | None:
    local = address.rpartition("@")[0] or address
    local = local.lower()
    for prefix, failure in FAILURES.items():
        if local.startswith(prefix):
            return failure
    return None


class MaildirHandler:
    def __init__(self, maildir: Path) -> None:
        # factory=None: we only ever add raw bytes, never parse on read.
        self.box = mailbox.Maildir(str(maildir), factory=None, create=True)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        failure = injected_failure(address)
        if failure is None:
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
            return "250 2.1.5 OK"
        reply, close = failure
        log.info("refused rcpt=%s peer=%s: %s", address, peer_str(session), reply)
        if close:
            # aiosmtpd pushes our reply right after this hook returns; closing
            # on the next loop turn lets the 421 reach the client first, and
            # transport.close() still flushes anything buffered.
            assert server.transport is not None
            asyncio.get_running_loop().call_soon(server.transport.close)
        return reply

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        # Maildir files conventionally use LF; SMTP delivers CRLF.
        body = raw.replace(b"\r\n", b"\n")
        trace = (
            f"X-Peer: {peer_str(session)}\n"
            f"X-MailFrom: {envelope.mail_from}\n"
            f"X-RcptTo: {', '.join(envelope.rcpt_tos)}\n"
        ).encode("utf-8")
        key = self.box.add(trace + body)
        log.info(
            "accepted from=%s to=%s size=%d key=%s",
            envelope.mail_from,
            ",".join(envelope.rcpt_tos),
            len(raw),
            key,
        )
        return f"250 2.0.0 Ok: queued as {key}"


def accept_any_auth(server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: object) -> AuthResult:
    return AuthResult(success=True)


def default_maildir() -> Path:
    run_dir = os.environ.get("RUN_DIR") or str(Path(__file__).resolve().parent.parent / ".run")
    return Path(run_dir) / "maildir"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default=os.environ.get("SMTP_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("SMTP_PORT", "2525")))
    p.add_argument(
        "--maildir",
        type=Path,
        default=Path(os.environ["SMTP_MAILDIR"]) if os.environ.get("SMTP_MAILDIR") else default_maildir(),
    )
    return p.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    handler = MaildirHandler(args.maildir)
    loop = asyncio.get_running_loop()

    def factory() -> SMTP:
        return SMTP(
            handler,
            # A fixed name avoids a reverse-DNS lookup per connection.
            hostname="smtp-sink",
            enable_SMTPUTF8=True,
            authenticator=accept_any_auth,
            auth_required=False,
            auth_require_tls=False,
        )

    server = await loop.create_server(factory, host=args.host, port=args.port)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("listening on %s:%d, maildir %s", args.host, args.port, args.maildir)
    await stop.wait()
    # No wait_closed(): on newer Pythons it waits for every client to hang up.
    server.close()
    log.info("stopped")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # aiosmtpd logs every command line at INFO; we want one line per message.
    mail_log = logging.getLogger("mail.log")
    mail_log.setLevel(logging.WARNING)
    # aiosmtpd 1.4 trips its own deprecation warning on every successful AUTH.
    mail_log.addFilter(lambda record: "login_data is deprecated" not in record.getMessage())
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
