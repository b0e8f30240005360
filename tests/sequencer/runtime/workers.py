"""Worker processes for the runtime's multi-process tests.

Run as `python -m tests.sequencer.runtime.workers feed --day DAY [options]`
from the repository root (the `stack` fixture's `spawn` does). The worker
joins the day's stream as `DAY/stream.json` says and prints JSON lines on
stdout: `{"ready": ...}` once its publisher is connected, then `{"done": ...}`.

Role `feed`: publishes as one source, at a rate, `Probe(n=k)` messages with
an `OperatorNote(author="feed", text=f"{prefix}-{k}")` every `note_every`-th
message (k is the message's source sequence number), a fixed count or until
a `stop` line arrives on stdin.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import sys
import time
from pathlib import Path
from typing import Any

from sequencer import sources
from sequencer.config import TransportConfig
from sequencer.messages.admin import OperatorNote
from sequencer.messages.control import Probe
from sequencer.transport import StreamPublisher, connect


def emit(**kw: Any) -> None:
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def stop_requested(fd: int, buf: list[bytes]) -> bool:
    """True once a `stop` line (or end of input) has arrived on stdin; never blocks."""
    while select.select([fd], [], [], 0)[0]:
        chunk = os.read(fd, 4096)
        if not chunk:
            return True
        buf.append(chunk)
    return b"stop" in b"".join(buf)


def role_feed(a: argparse.Namespace) -> None:
    cfg = TransportConfig.for_day(a.day)
    aeron = connect(cfg, timeout_s=30)
    pub = StreamPublisher(aeron, cfg, a.source, a.start_seq, wait_connected_s=30)
    emit(ready=True, pid=os.getpid())
    fd = sys.stdin.fileno()
    buf: list[bytes] = []
    period = 1.0 / a.rate
    t0 = time.monotonic()
    sent = notes = 0
    while a.count <= 0 or sent < a.count:
        if stop_requested(fd, buf):
            break
        ahead = t0 + sent * period - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
        k = pub.next_source_seq
        if a.note_every and k % a.note_every == 0:
            pub.publish(OperatorNote(author="feed", text=f"{a.prefix}-{k}"), timeout_s=30)
            notes += 1
        else:
            pub.publish(Probe(n=k), timeout_s=30)
        sent += 1
    emit(done=True, sent=sent, notes=notes, last=pub.next_source_seq - 1)
    pub.close()
    aeron.close()


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="python -m tests.sequencer.runtime.workers")
    p.add_argument("role", choices=["feed"])
    p.add_argument("--day", type=Path, required=True)
    p.add_argument("--source", type=int, default=sources.adhoc(700))
    p.add_argument("--start-seq", type=int, default=1)
    p.add_argument("--rate", type=float, default=100.0)
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--note-every", type=int, default=0)
    p.add_argument("--prefix", default="feed")
    a = p.parse_args(argv)
    role_feed(a)


if __name__ == "__main__":
    main(sys.argv[1:])
