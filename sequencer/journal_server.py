"""Catch-up over the network: the journal served to processes on other hosts.

A process that joins a day late, restarts, or loses part of the live stream catches up
from the journal (`transport.StreamSubscriber`). On the sequencer's host it reads the
day folder; on another host it asks the journal server instead:

- `JournalServer` (run as `tape journal serve --day DAY` on the sequencer's host)
  takes replay requests on `replay_channel` and answers each on the channel and stream
  the request names, with the frames the journal holds from the asked seq: up to the
  asked last seq, or without one up to the journal's end as the server reads it.
  Requests are served side by side, a chunk each in turn, so one host catching up a
  whole day does not hold up another filling a gap of three frames. An answer sends
  only what the reply publication takes now (it never waits on a slow or lost
  requester); a requester gone longer than `_REQUESTER_S` is dropped.
- `RemoteJournal` is the requester's side, with the journal reader's interface
  (`read_raw`, `next_seq`, `close`), so the subscriber uses either the same way.

Replies are whole frames, the journal's bytes, so a frame read over the network is
the frame on disk. Answers on the wire: `b"F"` and frames, `b"E"` and the next seq
(the answer is complete), `b"X"` and a reason (the server cannot answer).
"""

# determinism: edge module, network I/O serving the journal

from __future__ import annotations

import os
import secrets
import signal
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from sequencer.config import TransportConfig
from sequencer.frames import HEADER_SIZE
from sequencer.journal import JournalReader
from sequencer.transport import TransportError, connect, make_idle

_CHUNK_BYTES = 60_000  # frames per answer message: a few dozen UDP datagrams
_REQUESTER_S = 10.0  # a requester not connected this long is gone
_END = struct.Struct("<Q")
_len_of = struct.Struct("<72xI").unpack_from  # a frame's payload length
_REPLY_STREAM_BASE = 1 << 20  # reply stream ids: above the day's own (`ownership`)
STATUS_FILE = "journal_server.status.json"  # in the day folder (`tape status` reads it)


class ReplayRequest(msgspec.Struct, frozen=True, array_like=True):
    """Frames `from_seq` .. `to_seq` (0: to the journal's end now), answered on
    `reply_channel`, stream `reply_stream`."""

    request_id: int
    from_seq: int
    to_seq: int
    reply_channel: str
    reply_stream: int


_req_enc = msgspec.msgpack.Encoder()
_req_dec = msgspec.msgpack.Decoder(ReplayRequest)


@dataclass
class _Answer:
    req: ReplayRequest
    pub: Any
    reader: JournalReader
    opened: float  # last seen connected (monotonic s)
    asked: float  # when the request came
    pending: bytes = b""  # a message the publication did not take yet
    done: bool = False
    frames: int = 0
    buf: list[bytes] = field(default_factory=list)


class JournalServer:
    """Serves `day`'s journal to replay requests on `cfg.replay_channel`."""

    def __init__(self, day: Path, cfg: TransportConfig, aeron: Any,
                 say: Callable[[str], None] = lambda _s: None) -> None:
        if not cfg.replay_channel:
            raise TransportError("the day's transport has no replay_channel: every process "
                                 "reads the journal from the day folder")
        self.day = Path(day)
        self.cfg = cfg
        self._aeron = aeron
        self._sub = aeron.add_subscription(cfg.replay_channel, cfg.replay_stream)
        self._answers: list[_Answer] = []
        self._handler = self._on_request
        self._say = say
        self.served = 0
        self.frames_sent = 0
        self.dropped = 0

    def _on_request(self, buf: Any, _header: Any) -> None:
        try:
            req = _req_dec.decode(buf.tobytes())
        except msgspec.DecodeError:
            return  # not ours: nothing to answer to
        pub = self._aeron.add_exclusive_publication(req.reply_channel, req.reply_stream)
        reader = JournalReader(self.day / "journal", max(1, req.from_seq), verify=False)
        now = time.monotonic()
        self._answers.append(_Answer(req, pub, reader, now, now))
        self._say(f"replay {req.request_id}: seq {req.from_seq}.."
                  f"{req.to_seq or 'end'} to {req.reply_channel} stream {req.reply_stream}")

    def poll(self) -> int:
        """Take requests, send a chunk of each answer; the work done (0: idle)."""
        work = int(self._sub.poll(self._handler, 16))
        for a in list(self._answers):
            work += self._step(a)
        return work

    def _step(self, a: _Answer) -> int:
        if not a.pub.is_connected:
            if time.monotonic() - a.opened > _REQUESTER_S:
                self._finish(a, dropped=True)
            return 0
        a.opened = time.monotonic()
        if not a.pending:
            a.pending = self._next_message(a)
            if not a.pending:
                return 0
        if a.pub.offer(a.pending) > 0:
            a.pending = b""
            if a.done and not a.buf:
                self._finish(a)
            return 1
        return 0

    def _next_message(self, a: _Answer) -> bytes:
        if a.buf:
            return a.buf.pop(0)
        if a.done:
            return b""
        to = a.req.to_seq
        want = 64 if not to else min(64, to - a.reader.next_seq + 1)
        frames = a.reader.read_raw(want) if want > 0 else []
        if frames:
            a.frames += len(frames)
            self.frames_sent += len(frames)
            msg = bytearray(b"F")
            for f in frames:
                if len(msg) > 1 and len(msg) + len(f) > _CHUNK_BYTES:
                    a.buf.append(bytes(msg))
                    msg = bytearray(b"F")
                msg += f
            a.buf.append(bytes(msg))
            return a.buf.pop(0)
        if to and a.reader.next_seq <= to:
            # Asked for frames the journal does not hold yet (a gap fill racing the
            # sequencer's write): they come, the request waits for them.
            if time.monotonic() - a.asked > _REQUESTER_S:
                a.done = True
                return b"X" + f"seq {a.reader.next_seq} not in the journal".encode()
            return b""
        a.done = True
        return b"E" + _END.pack(a.reader.next_seq)

    def _finish(self, a: _Answer, dropped: bool = False) -> None:
        self._answers.remove(a)
        a.reader.close()
        a.pub.close()
        if dropped:
            self.dropped += 1
        else:
            self.served += 1

    def close(self) -> None:
        for a in list(self._answers):
            self._finish(a, dropped=True)
        self._sub.close()


def _seq_of(frame: bytes) -> int:
    return int.from_bytes(frame[8:16], "little")


def local_address(toward: str) -> str:
    """This host's address on the route to `toward` (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((toward, 9))
        return str(s.getsockname()[0])


def _channel_host(channel: str) -> str:
    for param in channel.partition("?")[2].split("|"):
        k, _, v = param.partition("=")
        if k in ("endpoint", "control"):
            return v.rsplit(":", 1)[0]
    raise TransportError(f"no endpoint in {channel!r}")


class RemoteJournal:
    """The journal of another host, from seq `from_seq` (to `to_seq`, 0: its end now),
    read through its journal server. Reads as `JournalReader.read_raw` does."""

    def __init__(self, aeron: Any, cfg: TransportConfig, from_seq: int, to_seq: int = 0,
                 *, timeout_s: float = 30.0) -> None:
        self.cfg = cfg
        self.next_seq = max(1, from_seq)
        self._to = to_seq
        self._aeron = aeron
        self._timeout_s = timeout_s
        self._frames: list[bytes] = []
        self._ended = False
        self._error = ""
        self._handler = self._on_answer
        self._idle = make_idle(cfg)
        here = local_address(_channel_host(cfg.replay_channel))
        self._rid = secrets.randbits(62)
        stream = _REPLY_STREAM_BASE + secrets.randbelow(1 << 30)
        reply = f"aeron:udp?endpoint={here}:{cfg.replay_reply_port}"
        self._sub = aeron.add_subscription(reply, stream)
        self._pub = aeron.add_exclusive_publication(cfg.replay_channel, cfg.replay_stream)
        req = ReplayRequest(self._rid, self.next_seq, to_seq, reply, stream)
        self._send(_req_enc.encode(req))
        self.requests = 1

    def _send(self, data: bytes) -> None:
        deadline = time.monotonic() + self._timeout_s
        while self._pub.offer(data) <= 0:
            if time.monotonic() > deadline:
                raise TransportError(
                    f"no journal server answers on {self.cfg.replay_channel} stream "
                    f"{self.cfg.replay_stream}: start `tape journal serve` on the "
                    f"journal's host ({self.cfg.journal_host})")
            self._idle.idle(0)

    def _on_answer(self, buf: Any, _header: Any) -> None:
        data = buf.tobytes()
        kind = data[:1]
        if kind == b"F":
            off, n = 1, len(data)
            while off < n:
                end = off + HEADER_SIZE + _len_of(data, off)[0]
                self._frames.append(data[off:end])
                off = end
        elif kind == b"E":
            self._ended = True
        elif kind == b"X":
            self._error = data[1:].decode(errors="replace")
            self._ended = True

    def read_raw(self, max_frames: int = 65536) -> list[bytes]:
        """The next frames (at most `max_frames`); [] once the answer is complete and
        every frame of it was read."""
        deadline = time.monotonic() + self._timeout_s
        while not self._frames and not self._ended:
            if self._sub.poll(self._handler, 64):
                deadline = time.monotonic() + self._timeout_s
                continue
            if time.monotonic() > deadline:
                raise TransportError(
                    f"the journal server went quiet answering from seq {self.next_seq}")
            self._idle.idle(0)
        if self._error and not self._frames:
            raise TransportError(f"the journal server cannot answer: {self._error}")
        out, self._frames = self._frames[:max_frames], self._frames[max_frames:]
        if out:
            self.next_seq = _seq_of(out[-1]) + 1
        return out

    def close(self) -> None:
        self._sub.close()
        self._pub.close()


def serve(day: Path, *, max_seconds: float | None = None,
          say: Callable[[str], None] = lambda _s: None) -> int:
    """Run a journal server for `day` until SIGTERM (or `max_seconds`)."""
    cfg = TransportConfig.for_day(day)
    deadline = time.monotonic() + 60.0
    while not cfg.replay_channel and time.monotonic() < deadline:
        time.sleep(0.2)  # the sequencer writes stream.json once it is up
        cfg = TransportConfig.for_day(day)
    aeron = connect(cfg, timeout_s=30.0)
    server = JournalServer(day, cfg, aeron, say)
    running = True

    def _stop(*_: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    idle = make_idle(cfg)
    status = Path(day) / STATUS_FILE
    end = time.monotonic() + max_seconds if max_seconds else None
    next_status = 0.0
    say(f"journal server on {cfg.replay_channel} stream {cfg.replay_stream} (pid {os.getpid()})")
    try:
        while running and (end is None or time.monotonic() < end):
            idle.idle(server.poll())
            now = time.monotonic()
            if now >= next_status:
                next_status = now + 0.5
                _write_status(status, server)
    finally:
        server.close()
        aeron.close()
    return 0


def _write_status(path: Path, server: JournalServer) -> None:
    import json

    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({
        "state": "running", "pid": os.getpid(), "updated_wall_ns": time.time_ns(),
        "served": server.served, "dropped": server.dropped, "frames_sent": server.frames_sent,
        "open": len(server._answers)}))
    os.replace(tmp, path)
