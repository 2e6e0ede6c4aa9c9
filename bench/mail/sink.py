#!/usr/bin/env python3
"""A minimal aiosmtpd sink for the mail benchmark.

Accepts every message and stores nothing but one line per accepted recipient,
"<recipient>\t<unix time with microseconds>", taken just before the 250 reply,
in the file named by --log (flushed, with a final "# end" line, on SIGTERM or
SIGINT). Unlike the development
capture server (scripts/smtp_sink.py) it writes no Maildir file and logs
nothing per message, so the benchmark measures the mail service rather than
the sink's disk writes.

    sink.py --port 2526 --log accepted.tsv
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time

from aiosmtpd.smtp import SMTP


class Recorder:
    def __init__(self, path: str) -> None:
        self.out = open(path, "w", buffering=1 << 20)

    async def handle_DATA(self, server, session, envelope) -> str:
        now = time.time()
        for rcpt in envelope.rcpt_tos:
            self.out.write(f"{rcpt}\t{now:.6f}\n")
        return "250 2.0.0 OK"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2526)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()

    recorder = Recorder(args.log)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(recorder, enable_SMTPUTF8=True), args.host, args.port
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"bench sink listening on {args.host}:{args.port}", flush=True)
    await stop.wait()
    server.close()
    # The benchmark waits for this line before reading the file.
    recorder.out.write("# end\n")
    recorder.out.close()


if __name__ == "__main__":
    asyncio.run(main())
