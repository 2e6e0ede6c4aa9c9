#!/usr/bin/env python3
"""Prints the links of the emails the local SMTP capture server received, newest first.

    scripts/mail-links.py              # the newest email's links
    scripts/mail-links.py -n 5         # the five newest
    scripts/mail-links.py --to ada@example.com

The capture server (scripts/smtp_sink.py, started by scripts/services.sh) writes one file per
message into <run dir>/maildir/new; this decodes them (MIME, quoted-printable) so the links can
be opened in a browser, e.g. the verification link of a sign-up on the hosted pages.
"""

import argparse
import email
import email.policy
import os
import pathlib
import re
import sys

LINK = re.compile(r"https?://[^\s<>\"']+")


def main() -> int:
    repo = pathlib.Path(__file__).resolve().parent.parent
    default_dir = pathlib.Path(os.environ.get("RUN_DIR", repo / ".run")) / "maildir"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1, help="how many emails (default 1)")
    parser.add_argument("--to", help="only emails to this address")
    parser.add_argument("--maildir", default=os.environ.get("SMTP_SINK_MAILDIR", default_dir))
    args = parser.parse_args()
    new = pathlib.Path(args.maildir) / "new"
    files = sorted(new.glob("*"), key=lambda p: p.stat().st_mtime, reverse=True) if new.is_dir() else []
    shown = 0
    for path in files:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if args.to and args.to.lower() not in str(message.get("To", "")).lower():
            continue
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        print(f"{message.get('Date')}  to {message.get('To')}: {message.get('Subject')}")
        for link in dict.fromkeys(LINK.findall(text)):
            print(f"  {link}")
        shown += 1
        if shown >= args.n:
            break
    if shown == 0:
        print(f"no captured email{' to ' + args.to if args.to else ''} in {new}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
