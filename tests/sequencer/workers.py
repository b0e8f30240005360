"""Worker processes for the multi-process stream tests.

Run as `python -m tests.sequencer.workers ROLE --day DAY [options]` from the
repository root. Every worker joins the day's stream as the sequencer wrote
it in `DAY/stream.json` (Aeron directory, channels, streams), prints JSON
lines on stdout (`{"ready": ...}` once its Aeron resources are up, then its
result) and takes commands as lines on stdin (`go`, `stop`).

Roles:

- `publish`: Probe messages (`Probe(n=source_seq)`) as one source, flat out
  or at a rate, a fixed count or until told to stop.
- `subscribe`: follows the stream with `StreamSubscriber` from seq 1 until
  `SystemStop`, checking every frame (checksum, seq continuity, each
  source's numbering) and hashing all frame bytes in order; can pause
  polling for a while, and can append every frame it receives to a file.
- `dedup`: publishes, resends every record with the same source seq, then a
  marker, and waits for the marker to be sequenced.
- `gap`: publishes, skips source numbers, publishes again, and reports the
  frames around the skip as seen on the stream.
- `refused`: publishes one message and waits for the sequencer's notice.
- `crash_publish`: publishes at a rate while the sequencer is killed and
  restarted; tracks which of its messages came back sequenced and resends
  the rest.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import select
import sys
import time
from pathlib import Path
from typing import Any

from sequencer import frames, sources
from sequencer.config import TransportConfig
from sequencer.messages import TYPE_ID, decode, encode
from sequencer.messages.control import Alert, Probe, SystemStop
from sequencer.transport import (
    StreamPublisher,
    StreamStopped,
    StreamSubscriber,
    TransportError,
    connect,
    make_idle,
)

PROBE = TYPE_ID[Probe]
STOP = TYPE_ID[SystemStop]
ALERT = TYPE_ID[Alert]


def emit(**kw: Any) -> None:
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def seq_of(raw: bytes) -> int:
    return int.from_bytes(raw[8:16], "little")


def src_of(raw: bytes) -> int:
    return int.from_bytes(raw[32:36], "little")


def type_of(raw: bytes) -> int:
    return int.from_bytes(raw[36:38], "little")


def sseq_of(raw: bytes) -> int:
    return int.from_bytes(raw[40:48], "little")


class Commands:
    """Lines from stdin, read without blocking."""

    def __init__(self) -> None:
        self.fd = sys.stdin.fileno()
        self.buf = b""
        self.eof = False

    def read(self) -> list[str]:
        while not self.eof and select.select([self.fd], [], [], 0)[0]:
            chunk = os.read(self.fd, 4096)
            if not chunk:
                self.eof = True
                break
            self.buf += chunk
        *lines, self.buf = self.buf.split(b"\n")
        return [ln.decode().strip() for ln in lines if ln.strip()]

    def wait_for(self, word: str, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while word not in self.read():
            if self.eof or time.monotonic() > deadline:
                raise SystemExit(f"worker: no {word!r} on stdin")
            time.sleep(0.005)


def join(day: Path) -> tuple[TransportConfig, Any]:
    cfg = TransportConfig.for_day(day)
    return cfg, connect(cfg, timeout_s=30)


# ---------------------------------------------------------------- publish


def role_publish(a: argparse.Namespace) -> None:
    cfg, aeron = join(a.day)
    pub = StreamPublisher(aeron, cfg, a.source, a.start_seq, wait_connected_s=30)
    cmds = Commands()
    emit(ready=True, pid=os.getpid())
    if a.wait_go:
        cmds.wait_for("go")
    period = 1.0 / a.rate if a.rate > 0 else 0.0
    t0 = time.monotonic()
    sent = 0
    first = pub.next_source_seq
    while a.count <= 0 or sent < a.count:
        if a.until_stop and sent % 64 == 0 and "stop" in cmds.read():
            break
        if period:
            ahead = t0 + sent * period - time.monotonic()
            if ahead > 0.0005:
                time.sleep(ahead)
        sseq = pub.next_source_seq
        pub.publish_raw(PROBE, encode(Probe(n=sseq)), timeout_s=60)
        sent += 1
        if sent == a.announce_after:
            emit(publishing=sent)
    emit(done=True, sent=sent, first=first, last=pub.next_source_seq - 1,
         refused=[n.code for n in pub.poll_notices()], resent=pub.resent, outages=pub.outages)
    pub.close()
    aeron.close()


# ---------------------------------------------------------------- subscribe


def role_subscribe(a: argparse.Namespace) -> None:
    cfg, aeron = join(a.day)
    sub = StreamSubscriber(aeron, cfg, a.day / "journal", 1)
    idle = make_idle(cfg)
    out = open(a.out, "ab") if a.out else None  # noqa: SIM115 - appended to until the end
    digest = hashlib.sha256()
    count = 0
    expect = 1
    errors: list[str] = []
    # source id -> [frames, highest source seq, skipped-ahead, went-back]
    sources: dict[int, list[int]] = {}
    published = 0  # frames from sources other than the sequencer
    live_at = 0
    paused = False
    done = False
    emit(ready=True, pid=os.getpid())
    deadline = time.monotonic() + a.timeout
    while not done:
        batch = sub.poll()
        if not batch:
            if time.monotonic() > deadline:
                break
            idle.idle(0)
            continue
        idle.reset()
        if not live_at and sub.caught_up:
            live_at = seq_of(batch[0])
            emit(live=live_at, from_journal=sub.from_journal)
        for raw in batch:
            seq = seq_of(raw)
            if seq != expect and len(errors) < 20:
                errors.append(f"seq {seq} where {expect} was expected")
            expect = seq + 1
            why = frames.check_at(raw, 0)
            if why is not None and len(errors) < 20:
                errors.append(f"frame {seq}: {why}")
            if len(raw) != frames.HEADER_SIZE + int.from_bytes(raw[72:76], "little"):
                errors.append(f"frame {seq}: {len(raw)} bytes is not one whole frame")
            src = src_of(raw)
            sseq = sseq_of(raw)
            st = sources.get(src)
            if st is None:
                st = sources[src] = [0, 0, 0, 0]
            if sseq <= st[1]:
                st[3] += 1
            elif sseq != st[1] + 1:
                st[2] += 1
            st[0] += 1
            st[1] = max(st[1], sseq)
            if src:
                published += 1
            digest.update(raw)
            count += 1
            if type_of(raw) == STOP:
                done = True
                if raw is not batch[-1]:
                    errors.append(f"frames after SystemStop at seq {seq}")
        if out is not None:
            out.write(b"".join(batch))
            out.flush()
        if a.pause_after and not paused and published >= a.pause_after:
            paused = True
            emit(paused=published)
            time.sleep(a.pause_s)
            emit(resumed=True)
    if out is not None:
        out.close()
    emit(result=True, stopped=done, count=count, last_seq=expect - 1, digest=digest.hexdigest(),
         errors=errors, sources={str(k): v for k, v in sorted(sources.items())},
         live_at=live_at, from_journal=sub.from_journal, from_live=sub.from_live,
         gap_fills=sub.gap_fills)
    sub.close()
    aeron.close()
    if not done:
        raise SystemExit(f"subscriber: no SystemStop within {a.timeout}s (at seq {expect - 1})")


# ---------------------------------------------------------------- dedup, gap, refused


def _wait_sequenced(
    sub: StreamSubscriber, idle: Any, source: int, sseq: int, timeout_s: float = 30.0
) -> list[bytes]:
    """Frames from the stream until `source`'s message `sseq` is among them."""
    seen: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    while True:
        batch = sub.poll()
        seen.extend(batch)
        if any(src_of(r) == source and sseq_of(r) == sseq for r in batch):
            return seen
        if time.monotonic() > deadline:
            raise SystemExit(f"message {sseq} of source {source} not sequenced in {timeout_s}s")
        idle.idle(len(batch))


def role_dedup(a: argparse.Namespace) -> None:
    cfg, aeron = join(a.day)
    sub = StreamSubscriber(aeron, cfg, a.day / "journal", 1)
    pub = StreamPublisher(aeron, cfg, a.source, 1, wait_connected_s=30)
    idle = make_idle(cfg)
    emit(ready=True, pid=os.getpid())
    records = []
    for _ in range(a.count):
        sseq = pub.next_source_seq
        payload = encode(Probe(n=sseq))
        pub.publish_raw(PROBE, payload, timeout_s=30)
        records.append(frames.encode_input(a.source, PROBE, sseq, payload, sent_ns=time.time_ns()))
    for _ in range(a.times):
        for rec in records:
            pub.resend_raw(rec, timeout_s=30)
    marker = pub.publish_raw(PROBE, encode(Probe(n=-1)), timeout_s=30)
    seen = _wait_sequenced(sub, idle, a.source, marker)
    mine = [sseq_of(r) for r in seen if src_of(r) == a.source]
    emit(result=True, resent=len(records) * a.times, marker=marker, seen_source_seqs=mine)
    pub.close()
    sub.close()
    aeron.close()


def role_gap(a: argparse.Namespace) -> None:
    cfg, aeron = join(a.day)
    sub = StreamSubscriber(aeron, cfg, a.day / "journal", 1)
    pub = StreamPublisher(aeron, cfg, a.source, 1, wait_connected_s=30)
    idle = make_idle(cfg)
    emit(ready=True, pid=os.getpid())
    for _ in range(a.count):
        pub.publish_raw(PROBE, encode(Probe(n=pub.next_source_seq)), timeout_s=30)
    pub.next_source_seq += a.skip
    after = pub.publish_raw(PROBE, encode(Probe(n=pub.next_source_seq)), timeout_s=30)
    seen = _wait_sequenced(sub, idle, a.source, after)
    i = next(k for k, r in enumerate(seen) if src_of(r) == a.source and sseq_of(r) == after)
    msg = seen[i]
    prev = seen[i - 1]
    body: dict[str, Any] = {}
    if type_of(prev) == ALERT:
        al = decode(ALERT, prev[frames.HEADER_SIZE:])
        assert isinstance(al, Alert)
        body = {"severity": al.severity, "source": al.source, "text": al.text}
    alerts = [seq_of(r) for r in seen if type_of(r) == ALERT]
    emit(result=True, after=after, msg_seq=seq_of(msg), prev_seq=seq_of(prev),
         prev_type=type_of(prev), prev_source=src_of(prev), alert=body, alert_seqs=alerts)
    pub.close()
    sub.close()
    aeron.close()


def role_refused(a: argparse.Namespace) -> None:
    cfg, aeron = join(a.day)
    pub = StreamPublisher(aeron, cfg, a.source, a.start_seq, wait_connected_s=30)
    emit(ready=True, pid=os.getpid())
    sseq = pub.publish_raw(PROBE, encode(Probe(n=0)), timeout_s=30)
    deadline = time.monotonic() + a.timeout
    error = ""
    while time.monotonic() < deadline:
        try:
            pub.check()
        except StreamStopped as e:
            error = str(e)
            break
        time.sleep(0.002)
    notices = [{"source_id": n.source_id, "source_seq": n.source_seq, "code": n.code,
                "text": n.text} for n in pub.poll_notices()]
    emit(result=True, source_seq=sseq, stream_stopped=error, notices=notices)
    pub.close()
    aeron.close()


# ---------------------------------------------------------------- crash_publish


def role_crash_publish(a: argparse.Namespace) -> None:
    """Publish at a rate through sequencer crashes; resend what did not come back sequenced.

    The publisher learns what was sequenced from the output stream (with the
    journal behind it). A message not seen sequenced `resend_s` after it was
    last offered is offered again with the same source seq: if the sequencer
    already has it, dedup drops it. A number passed over (a later one came
    back sequenced first) is "lost": it stays out of the window of messages in
    flight, and is still resent now and then in case the sequencer takes it.
    On `stop` it makes no new messages and resends until every one is
    sequenced, for up to `drain_s`.
    """
    cfg, aeron = join(a.day)
    pub = StreamPublisher(aeron, cfg, a.source, 1, wait_connected_s=30)
    sub = StreamSubscriber(aeron, cfg, a.day / "journal", 1)
    idle = make_idle(cfg)
    cmds = Commands()
    unacked: dict[int, float] = {}  # source seq -> when last offered
    lost: dict[int, float] = {}  # passed over by a later number -> when last offered
    acked: set[int] = set()
    seen_twice: list[int] = []
    top = 0  # highest source seq seen sequenced
    expect = 1  # the next seq on the stream
    stream_errors: list[str] = []
    next_resend_check = 0.0
    resends = offer_failures = 0
    period = 1.0 / a.rate
    t0 = time.monotonic()
    made = 0
    stopping = False
    stop_deadline = 0.0
    emit(ready=True, pid=os.getpid())
    last_cmd = 0.0

    def resend(s: int) -> bool:
        nonlocal resends, offer_failures
        rec = frames.encode_input(a.source, PROBE, s, encode(Probe(n=s)), sent_ns=time.time_ns())
        try:
            pub.resend_raw(rec, timeout_s=0.5)
        except TransportError:
            offer_failures += 1
            return False
        resends += 1
        return True

    while True:
        now = time.monotonic()
        if now - last_cmd > 0.02:
            last_cmd = now
            if not stopping and "stop" in cmds.read():
                stopping = True
                stop_deadline = now + a.drain_s
        for raw in sub.poll(4096):
            seq = seq_of(raw)
            if seq != expect and len(stream_errors) < 20:
                stream_errors.append(f"seq {seq} where {expect} was expected")
            expect = seq + 1
            if src_of(raw) != a.source:
                continue
            s = sseq_of(raw)
            if s in acked:
                seen_twice.append(s)
            acked.add(s)
            unacked.pop(s, None)
            lost.pop(s, None)
            if s > top:
                for n in range(top + 1, s):
                    if n in unacked:
                        lost[n] = unacked.pop(n)
                top = s
        if stopping:
            if (not unacked and not lost) or now > stop_deadline:
                break
        elif len(unacked) < a.window and now >= t0 + made * period:
            if now - (t0 + made * period) > 0.1:
                t0 = now - made * period  # fell behind (sequencer down): no catch-up burst
            try:
                sseq = pub.publish_raw(PROBE, encode(Probe(n=pub.next_source_seq)), timeout_s=0.5)
            except TransportError:
                offer_failures += 1
            else:
                made += 1
                unacked[sseq] = now
            continue
        if now >= next_resend_check:
            next_resend_check = now + 0.05
            for pending, after in ((unacked, a.resend_s), (lost, 4 * a.resend_s)):
                for s in sorted(s for s, t in pending.items() if now - t > after):
                    if not resend(s):
                        break
                    pending[s] = time.monotonic()
        idle.idle(0)
    emit(result=True, sent=made, last=pub.next_source_seq - 1, resends=resends,
         offer_failures=offer_failures, unacked=sorted(unacked), lost=sorted(lost),
         seen_twice=seen_twice[:100], gap_fills=sub.gap_fills, stream_errors=stream_errors)
    pub.close()
    sub.close()
    aeron.close()


# ---------------------------------------------------------------- main


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="python -m tests.sequencer.workers")
    p.add_argument("role", choices=sorted(ROLES))
    p.add_argument("--day", type=Path, required=True)
    p.add_argument("--source", type=int, default=sources.adhoc(1))
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--start-seq", type=int, default=1)
    p.add_argument("--rate", type=float, default=0.0)
    p.add_argument("--wait-go", action="store_true")
    p.add_argument("--until-stop", action="store_true")
    p.add_argument("--announce-after", type=int, default=0)
    p.add_argument("--out", type=Path)
    p.add_argument("--pause-after", type=int, default=0)
    p.add_argument("--pause-s", type=float, default=0.0)
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--times", type=int, default=1)
    p.add_argument("--skip", type=int, default=10)
    p.add_argument("--window", type=int, default=2000)
    p.add_argument("--resend-s", type=float, default=0.5)
    p.add_argument("--drain-s", type=float, default=20.0)
    a = p.parse_args(argv)
    ROLES[a.role](a)


ROLES = {
    "publish": role_publish,
    "subscribe": role_subscribe,
    "dedup": role_dedup,
    "gap": role_gap,
    "refused": role_refused,
    "crash_publish": role_crash_publish,
}

if __name__ == "__main__":
    main(sys.argv[1:])
