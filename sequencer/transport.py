"""The Aeron transport: media driver, publishers and subscribers of the stream.

- `start_driver` runs an embedded C media driver on a known directory and
  refuses to start one on a directory a live driver already uses (a second
  driver would silently take it over and cut the first one's clients off).
- `StreamPublisher` offers input records to the sequencer, numbering them per
  source, and learns from the sequencer's notice stream when its input was
  refused (after `SystemStop`, for example).
- `StreamSubscriber` delivers the sequenced stream in order with no gap and no
  duplicate: it reads the journal up to the live position, then follows the
  live stream, filling any gap from the journal by sequence number. Late
  joiners, restarted apps and subscribers that outlive a sequencer restart all
  use this one mechanism.

Aeron fragment buffers are valid only inside the poll handler, so handlers
copy them to `bytes` before keeping them.
"""

from __future__ import annotations

import gc
import os
import shutil
import struct
import time
from collections import deque
from collections.abc import Callable, Container
from pathlib import Path
from typing import Any

import msgspec
import pyaeron

from sequencer import frames, sources
from sequencer.config import TransportConfig
from sequencer.frames import HEADER_SIZE
from sequencer.journal import JournalReader
from sequencer.messages import TYPE_ID, Message, encode

# The embedded driver runs one shared thread with the C driver's default back-off
# (parks up to 1 ms): over IPC the data path is shared memory between clients,
# so the driver is off it. Measured here: about 2% of a core when idle, where
# "sleeping" without its duration argument took 27-30%.
_DRIVER_ENV = {"AERON_THREADING_MODE": "SHARED"}


_INPUT_PACK = frames.INPUT.pack
_POLL_EVERY = 256  # publishes between two looks at the notice stream
_AWAY_S = 0.25  # nobody subscribed this long: the sequencer is away (not a blip)
_JOIN_S = 3.0  # the longest a UDP subscriber waits to join the live stream (no sequencer)
_SEQ_LEN = struct.Struct("<8xQ56xI")  # a frame's seq and payload length
_SEQ_TYPE_LEN = struct.Struct("<8xQ20xH34xI")  # a frame's seq, type id and payload length
_type_of = struct.Struct("<H").unpack_from


class TransportError(RuntimeError):
    """The stream cannot be reached or used."""


class DriverInUse(TransportError):
    """A live media driver already owns the directory."""


class StreamStopped(TransportError):
    """The sequencer refused input because the day has stopped (or another reason it gave)."""


class Notice(msgspec.Struct, frozen=True, array_like=True):
    """Sequencer to publisher, on the notice stream: an input was refused, or (code
    "hello", source id 0, `source_seq` the sequencer's start time) which sequencer
    runs, sent every status interval."""

    source_id: int
    source_seq: int
    code: str  # "gap", "stopped", "malformed", "unknown_type", "refused", "too_large",
    # "undecodable", "hello"
    text: str
    expected: int = 0  # for "gap": the number to resend from


_notice_encoder = msgspec.msgpack.Encoder()
_notice_decoder = msgspec.msgpack.Decoder(Notice)


def encode_notice(n: Notice) -> bytes:
    return _notice_encoder.encode(n)


def set_timer_slack(ns: int = 1000) -> None:
    """Make short parks short: Linux stretches sleeps by 50 us of timer slack by default,
    which would turn a 5 us back-off park into 55 us of latency."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(29, ctypes.c_ulong(ns), 0, 0, 0)  # PR_SET_TIMERSLACK, this thread
    except (OSError, AttributeError):
        pass  # not Linux: the park is just less precise


class HeapFreezer:
    """Keeps the garbage collector's full collections short in a long-running loop.

    A day process accumulates state (orders, books, ids); CPython's full
    collection walks every tracked object, which took 30 to 190 ms in the apps and
    gateways at a few tens of thousands of orders, stalling the stream for that
    long. `tick()`, called from the loop, moves whatever is alive to the permanent
    generation every `every_s` (`gc.freeze`, a list splice, microseconds), so a
    collection only walks what is younger. The price: a reference cycle that dies
    after it was frozen is never reclaimed, for the life of the process (a day).
    """

    def __init__(self, every_s: float = 0.5) -> None:
        self._every_ns = int(every_s * 1e9)
        self._due = 0
        self._clock = time.monotonic_ns

    def tick(self) -> None:
        now = self._clock()
        if now >= self._due:
            gc.freeze()
            self._due = now + self._every_ns


class AdaptiveIdle:
    """Back off to short parks while traffic is recent, to long sleeps once it is not.

    Short parks keep a busy stream's round trip in microseconds; but a loop that
    parks 20 us forever burns most of a core doing nothing, and on a 2-core
    machine that starves everyone else. After `fast_for_ms` without work the
    loop sleeps `slow_park_us` at a time until work comes back.
    """

    def __init__(self, fast: Any, slow: Any, fast_for_ms: int) -> None:
        self._fast = fast
        self._slow = slow
        self._fast_for_ns = fast_for_ms * 1_000_000
        self._idle_since = 0
        self._clock = time.monotonic_ns

    def idle(self, work_count: int = 0) -> None:
        if work_count > 0:
            self._idle_since = 0
            self._fast.idle(work_count)
            return
        now = self._clock()
        if not self._idle_since:
            self._idle_since = now
        if now - self._idle_since < self._fast_for_ns:
            self._fast.idle(0)
        else:
            self._slow.idle(0)

    def reset(self) -> None:
        self._idle_since = 0
        self._fast.reset()


def make_idle(cfg: TransportConfig) -> Any:
    """The idle strategy for a poll loop: backs off so that two cores are enough."""
    set_timer_slack()
    if cfg.idle == "busy_spin":
        return pyaeron.IdleStrategy.busy_spin()
    if cfg.idle == "yielding":
        return pyaeron.IdleStrategy.yielding()
    if cfg.idle == "sleeping":
        return pyaeron.IdleStrategy.sleeping(cfg.max_park_us * 1000)
    if cfg.idle == "yield_then_sleep":
        # A park is never shorter than the kernel's timer wake-up (about 60 us on these
        # VMs), paid at every hop; a yield returns at once when nothing else is runnable.
        fast = pyaeron.IdleStrategy.yielding()
    else:
        fast = pyaeron.IdleStrategy.backoff(
            max_spins=20, max_yields=50, min_park_ns=1000, max_park_ns=cfg.max_park_us * 1000
        )
    slow = pyaeron.IdleStrategy.sleeping(cfg.slow_park_us * 1000)
    return AdaptiveIdle(fast, slow, cfg.fast_idle_ms)


def max_message_length(channel: str) -> int:
    """The largest message a publication on `channel` takes: an eighth of its term.

    From the channel's `term-length` parameter, else the driver's defaults
    (64 MiB terms for IPC, 16 MiB for UDP); Aeron caps it at 16 MiB.
    """
    term = (64 << 20) if channel.startswith("aeron:ipc") else (16 << 20)
    for param in channel.partition("?")[2].split("|"):
        key, _, value = param.partition("=")
        if key.strip() == "term-length":
            v = value.strip().lower()
            mult = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}.get(v[-1:], 1)
            term = int(v.rstrip("kmg")) * mult
    return min(term // 8, 16 << 20)


#: A driver whose heartbeat in its directory is older than this is taken for dead. An
#: idle driver beats about once a second (measured here: a 500 ms window saw a live,
#: idle driver as dead half the time), and a false "dead" lets a second driver take the
#: directory over and cut the first one's clients off.
DRIVER_ALIVE_MS = 3_000


def driver_active(aeron_dir: str, timeout_ms: int = DRIVER_ALIVE_MS) -> bool:
    """Is a live media driver on `aeron_dir` (its heartbeat newer than `timeout_ms`)?"""
    return Path(aeron_dir).exists() and bool(pyaeron.is_driver_active(aeron_dir, timeout_ms))


def start_driver(aeron_dir: str) -> Any:
    """Start an embedded media driver on `aeron_dir`, unless a live one is there.

    A driver that died a moment ago (a killed process) still looks alive until its last
    heartbeat is `DRIVER_ALIVE_MS` old: wait that long for a heartbeat to go stale
    before refusing."""
    deadline = time.monotonic() + DRIVER_ALIVE_MS / 1000 + 0.5
    while driver_active(aeron_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    if driver_active(aeron_dir):
        raise DriverInUse(
            f"a media driver is already running on {aeron_dir}; attach to it "
            "(driver = 'external' or 'auto') or choose another Aeron directory"
        )
    for k, v in _DRIVER_ENV.items():
        os.environ.setdefault(k, v)
    Path(aeron_dir).parent.mkdir(parents=True, exist_ok=True)
    return pyaeron.MediaDriver(
        dir=aeron_dir, threading="shared", dir_delete_on_start=True, dir_delete_on_shutdown=True
    )


def stop_driver(driver: Any) -> None:
    """Close an embedded driver and make sure its ~50 MB directory is gone."""
    d = str(driver.dir)
    try:
        driver.close()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def connect(cfg: TransportConfig, timeout_s: float = 5.0) -> Any:
    """An Aeron client on the day's media driver (which must be running)."""
    deadline = time.monotonic() + timeout_s
    while not driver_active(cfg.aeron_dir):
        if time.monotonic() > deadline:
            raise TransportError(
                f"no media driver on {cfg.aeron_dir}: start the sequencer or `tape driver` first"
            )
        time.sleep(0.05)
    return pyaeron.Aeron(dir=cfg.aeron_dir)


def offer(pub: Any, data: bytes, idle: Any, timeout_s: float = 10.0,
          wait: Callable[[], bool] | None = None) -> bool:
    """Offer until appended. False if nobody is subscribed (NOT_CONNECTED past the timeout;
    with `wait`, for as long as `wait()` says to keep waiting)."""
    r = pub.offer(data)
    if r:
        return True
    start = time.monotonic()
    deadline = start + timeout_s
    while True:
        if r is pyaeron.NOT_CONNECTED:
            now = time.monotonic()
            if wait is None:
                if now > deadline:
                    return False
            elif now - start > _AWAY_S and not wait():  # (`wait` says once that it waits)
                return False
        if r is pyaeron.BACK_PRESSURED and time.monotonic() > deadline:
            raise TransportError(f"back-pressured for {timeout_s}s offering to {pub.channel}")
        idle.idle(0)
        r = pub.offer(data)
        if r:
            idle.reset()
            return True


class StreamPublisher:
    """Offers messages to the sequencer as one source.

    A source numbers its messages from 1 and keeps numbering across restarts
    (`next_source_seq`); the sequencer drops a number it has already seen, so
    resending after a failure is harmless. Input a dying sequencer never
    journaled is gone: the next sequencer holds what comes after the gap and
    sends a "gap" notice, and the publisher resends from its window of recent
    records (`poll_notices`, called every few publishes and by idle loops).
    When the sequencer comes back after an outage the publisher resends its
    whole window at once (the sequencer drops what it has), so even a last
    record the dead sequencer took but never journaled, with nothing after it
    to reveal the gap, gets in.

    A long-running process passes `wait`: while the sequencer is away it waits
    for it (as long as `wait()` returns True, which lets a stop request end the
    wait) instead of failing, and says once, through `on_wait`, what it is
    waiting for. A command (`tape inject`) passes nothing and fails fast.
    """

    def __init__(
        self,
        aeron: Any,
        cfg: TransportConfig,
        source_id: int,
        next_source_seq: int = 1,
        *,
        wait_connected_s: float = 10.0,
        resend_window: int = 1 << 16,
        batch_bytes: int = 16_384,
        wait: Callable[[], bool] | None = None,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        if not sources.SEQUENCER < source_id < 2**32:
            raise ValueError(
                f"source id {source_id} out of range (1 .. 2**32-1; 0 is the sequencer)"
            )
        self.cfg = cfg
        self.source_id = source_id
        self.next_source_seq = next_source_seq
        self.idle = make_idle(cfg)
        self._pub = aeron.add_exclusive_publication(cfg.input_channel, cfg.input_stream)
        self._notices = aeron.add_subscription(cfg.notice_subscription, cfg.notice_stream)
        self.refused: list[Notice] = []
        self.resent = 0
        self._sent: deque[tuple[int, bytes]] = deque(maxlen=resend_window)
        self._pending = bytearray()  # records `add` queued for the next `flush`
        self._pending_n = 0
        self._batch_bytes = min(batch_bytes, max_message_length(cfg.input_channel))
        self._resend_from = 0
        self._until_poll = _POLL_EVERY
        self._notice_handler = self._on_notice
        self._wait = wait
        self._on_wait = on_wait
        self._waiting = False  # said that we wait for the sequencer, not yet that it is back
        # The start time of the sequencer we publish to (from stream.json, then its hellos).
        self._incarnation = cfg.incarnation
        self._stopped = False  # the day is stopped: nothing is resent
        self.outages = 0  # times the sequencer went away and came back
        if wait_connected_s > 0:
            deadline = time.monotonic() + wait_connected_s
            while not self._pub.is_connected:
                if time.monotonic() > deadline and (wait is None or not self._still_waiting()):
                    raise TransportError(
                        f"no sequencer subscribed to {cfg.input_channel} stream {cfg.input_stream}"
                    )
                time.sleep(0.001 if not self._waiting else 0.05)
            self._back()
        self._connected = True

    # ---- the sequencer's absence

    @property
    def waiting(self) -> bool:
        """Waiting for the sequencer now (it is away)."""
        return self._waiting

    def _still_waiting(self) -> bool:
        """Go on waiting for the sequencer? Says once what we wait for."""
        assert self._wait is not None
        if not self._waiting:
            self._waiting = True
            if self._on_wait is not None:
                self._on_wait(f"waiting for the sequencer (nothing subscribed to "
                              f"{self.cfg.input_channel} stream {self.cfg.input_stream} on "
                              f"{self.cfg.aeron_dir})")
        return self._wait()

    def _back(self) -> None:
        if self._waiting:
            self._waiting = False
            if self._on_wait is not None:
                self._on_wait("the sequencer is back")

    def _check_connection(self) -> None:
        """After an outage, resend the whole window: the new sequencer drops what it has
        and so receives what the old one took but never journaled."""
        connected = bool(self._pub.is_connected)
        if connected and not self._connected:
            self.outages += 1
            self._back()
            if self._sent and not self._stopped and (
                    not self._resend_from or self._sent[0][0] < self._resend_from):
                self._resend_from = self._sent[0][0]
        self._connected = connected

    def _offer(self, data: bytes, timeout_s: float) -> None:
        if self._pub.offer(data):
            return
        wait = self._still_waiting if self._wait is not None else None
        if not offer(self._pub, data, self.idle, timeout_s, wait):
            raise TransportError("the sequencer is not subscribed to the input stream")
        if not self._connected or self._waiting:  # it was away: catch up what it lost
            self._connected = False
            self._check_connection()
            self._resend_window_if_asked()

    def _on_notice(self, buf: Any, _header: Any) -> None:
        n = _notice_decoder.decode(buf.tobytes())
        if n.code == "hello":
            # A later sequencer than the one we published to (a restart): resend the
            # window; the new one drops what it has. Only a later one: the driver may
            # still hand out the last hellos of the one before it (its notice
            # publication lingers after it closed).
            if n.source_seq <= self._incarnation:
                return
            if self._incarnation:
                self.outages += 1
                if self._sent and not self._stopped and (
                        not self._resend_from or self._sent[0][0] < self._resend_from):
                    self._resend_from = self._sent[0][0]
            self._incarnation = n.source_seq
            return
        if n.source_id != self.source_id:
            return
        if n.code == "stopped":
            self._stopped = True  # nothing more will be taken: never resend
        if n.code == "gap":
            if not self._resend_from or n.expected < self._resend_from:
                self._resend_from = n.expected
        else:
            self.refused.append(n)

    def poll_notices(self) -> list[Notice]:
        """Read the sequencer's notices; resend what a gap notice asks for (or the window
        after an outage). Returns refusals."""
        self._until_poll = _POLL_EVERY
        self._notices.poll(self._notice_handler, 100)
        self._check_connection()
        self._resend_window_if_asked()
        return self.refused

    def _resend_window_if_asked(self) -> None:
        if self._resend_from and self._stopped:
            self._resend_from = 0
        if self._resend_from:
            start, self._resend_from = self._resend_from, 0
            # Entries are (last source seq in it, one record or a batch of them).
            for last, rec in list(self._sent):
                if last >= start:
                    self.resend_raw(rec, remember=False)
                    self.resent += 1

    def check(self) -> None:
        """Raise `StreamStopped` if the sequencer has refused any of our input."""
        self.poll_notices()
        if self.refused:
            n = self.refused[0]
            raise StreamStopped(
                f"sequencer refused message {n.source_seq} of source {n.source_id}: {n.text}"
            )

    def publish(
        self, msg: Message, *, cause_seq: int = 0, event_ns: int = 0, timeout_s: float = 10.0
    ) -> int:
        """Offer one message; returns its source sequence number."""
        return self.publish_raw(
            TYPE_ID[type(msg)], encode(msg), cause_seq=cause_seq, event_ns=event_ns,
            timeout_s=timeout_s,
        )

    def publish_raw(
        self, type_id: int, payload: bytes, *, cause_seq: int = 0, event_ns: int = 0,
        timeout_s: float = 10.0,
    ) -> int:
        sseq = self.next_source_seq
        rec = _INPUT_PACK(
            self.source_id, type_id, 0, sseq, cause_seq, time.time_ns(), event_ns, len(payload), 0
        ) + payload
        self._offer(rec, timeout_s)
        self.next_source_seq = sseq + 1
        self._sent.append((sseq, rec))
        self._until_poll -= 1
        if not self._until_poll:
            self.poll_notices()
        return sseq

    def add(self, type_id: int, payload: bytes, event_ns: int = 0, cause_seq: int = 0) -> int:
        """Queue a message for the next `flush()`; returns its source sequence number.

        Queued records go out together, in order, as one Aeron message (the
        sequencer splits it), which saves a high-rate source such as the ticker
        plant most of the cost of an offer per message. A full batch is flushed
        at once; call `flush()` when a burst ends.
        """
        sseq = self.next_source_seq
        self.next_source_seq = sseq + 1
        pending = self._pending
        pending += _INPUT_PACK(self.source_id, type_id, 0, sseq, cause_seq, time.time_ns(),
                               event_ns, len(payload), 0)
        pending += payload
        self._pending_n += 1
        if len(pending) >= self._batch_bytes:
            self.flush()
        return sseq

    def flush(self, timeout_s: float = 10.0) -> None:
        """Offer what `add` queued."""
        if not self._pending_n:
            return
        data = bytes(self._pending)
        self._pending.clear()
        n, self._pending_n = self._pending_n, 0
        # Kept before it is offered: if the offer waits out an outage, the window's resend
        # must not send it ahead of what it follows.
        self._sent.append((self.next_source_seq - 1, data))
        self._offer(data, timeout_s)
        self._until_poll -= n
        if self._until_poll <= 0:
            self.poll_notices()

    def resend_raw(self, record: bytes, timeout_s: float = 10.0, *, remember: bool = True
                   ) -> None:
        """Offer an input record (again, or numbered by the caller) unchanged; the sequencer
        drops a number it already has."""
        wait = self._still_waiting if self._wait is not None else None
        if not offer(self._pub, record, self.idle, timeout_s, wait):
            raise TransportError("the sequencer is not subscribed to the input stream")
        self._back()
        if remember:
            sseq = int.from_bytes(record[8:16], "little")
            if not self._sent or sseq > self._sent[-1][0]:
                self._sent.append((sseq, record))

    def close(self) -> None:
        self._pub.close()
        self._notices.close()


class StreamSubscriber:
    """The sequenced stream in order, from `from_seq`, without gaps or duplicates.

    With a journal (the day folder on this host) it catches up from the
    journal first and fills any gap in the live stream from it. `poll()`
    returns whole frames as the bytes the journal holds.
    """

    def __init__(
        self,
        aeron: Any,
        cfg: TransportConfig,
        journal: Path | None,
        from_seq: int = 1,
    ) -> None:
        self.cfg = cfg
        self.next_seq = from_seq
        self._chunks: list[bytes] = []
        self._handler = self._on_fragment
        # Subscribe first, then read the journal: every frame is in the
        # journal before it is published, so whatever the live stream
        # starts with, the journal covers what came before it.
        self._aeron = aeron
        self._journal = journal
        self.remote_reads = 0  # readers opened on another host's journal server
        self._sub = aeron.add_subscription(cfg.output_subscription, cfg.output_stream)
        if cfg.output_subscription.startswith("aeron:udp"):
            # Over UDP a subscription joins the stream only once the sequencer's driver has
            # heard from it (some milliseconds): what is published before that is the
            # journal's to give, so the journal is read after the join, not before.
            deadline = time.monotonic() + _JOIN_S
            while not self._sub.is_connected and time.monotonic() < deadline:
                time.sleep(0.002)
        self._reader = self._open_journal(from_seq) if journal is not None else None
        self.caught_up = self._reader is None
        self.from_journal = 0
        self.from_live = 0
        self.gap_fills = 0

    def _open_journal(self, from_seq: int, to_seq: int = 0) -> Any:
        """A reader of the journal from `from_seq`: the day folder's on the journal's
        host, its journal server's on another (`sequencer.journal_server`)."""
        if self.cfg.remote_journal() and self.cfg.replay_channel:
            from sequencer.journal_server import RemoteJournal

            self.remote_reads += 1
            return RemoteJournal(self._aeron, self.cfg, from_seq, to_seq)
        assert self._journal is not None
        return JournalReader(self._journal, from_seq)

    def _on_fragment(self, buf: Any, _header: Any) -> None:
        self._chunks.append(buf.tobytes())

    def close(self) -> None:
        self._sub.close()
        if self._reader is not None:
            self._reader.close()

    def poll(self, max_frames: int = 65536, types: Container[int] | None = None
             ) -> list[bytes]:
        """The next frames in order. With `types`, only the frames of those types are
        returned, the others stepped over in place (not copied out of their chunks):
        what a follower acting on a few message types wants (the ticker plant
        watching for subscriptions). The position advances over every frame."""
        if not self.caught_up:
            assert self._reader is not None
            out = self._reader.read_raw(max_frames)
            if out:
                self.next_seq = self._reader.next_seq
                self.from_journal += len(out)
                # Keep the live buffer from growing without bound while we catch up.
                self._sub.poll(self._handler, 1000)
                self._chunks = self._trim(self._chunks)
                return out if types is None else [f for f in out if _type_of(f, 36)[0] in types]
            self.caught_up = True
        self._sub.poll(self._handler, 256)
        if not self._chunks:
            return []
        chunks, self._chunks = self._chunks, []
        return self._sequence(chunks, types)

    def _trim(self, chunks: list[bytes]) -> list[bytes]:
        """Drop buffered live chunks wholly before `next_seq`."""
        keep: list[bytes] = []
        for c in chunks:
            last = _last_seq_in(c)
            if last >= self.next_seq:
                keep.append(c)
        return keep

    def _sequence(self, chunks: list[bytes], types: Container[int] | None) -> list[bytes]:
        out: list[bytes] = []
        nxt = self.next_seq
        live = 0
        unpack = _SEQ_TYPE_LEN.unpack_from
        for chunk in chunks:
            off = 0
            n = len(chunk)
            while off < n:
                seq, typ, length = unpack(chunk, off)
                end = off + HEADER_SIZE + length
                if seq >= nxt:
                    if seq > nxt:
                        nxt = self._fill_gap(out, nxt, seq, types)
                    if types is None or typ in types:
                        out.append(chunk[off:end])
                    nxt += 1
                    live += 1
                off = end
        self.from_live += live
        self.next_seq = nxt
        return out

    def _fill_gap(self, out: list[bytes], nxt: int, upto: int,
                  types: Container[int] | None = None) -> int:
        """Append frames nxt .. upto-1 (of `types`, if given) from the journal; return upto."""
        if self._reader is None:
            raise TransportError(
                f"gap in the live stream: expected seq {nxt}, got {upto}, and no journal to fill it"
            )
        self.gap_fills += 1
        # A reader of its own from `nxt`: the one of the catch-up may hold bytes of a tail
        # a killed sequencer tore and its successor truncated and wrote over.
        self._reader.close()
        self._reader = self._open_journal(nxt, upto - 1)
        deadline = time.monotonic() + 5.0
        while self._reader.next_seq < upto:
            got = self._reader.read_raw(upto - self._reader.next_seq)
            if not got:
                if time.monotonic() > deadline:
                    raise TransportError(
                        f"frames {self._reader.next_seq}..{upto - 1} are on the stream "
                        "but not in the journal"
                    )
                time.sleep(0.0005)
                continue
            out.extend(got if types is None else [f for f in got if _type_of(f, 36)[0] in types])
            self.from_journal += len(got)
        return upto


def _last_seq_in(chunk: bytes) -> int:
    off = 0
    seq = -1
    n = len(chunk)
    unpack = _SEQ_LEN.unpack_from
    while off < n:
        seq, length = unpack(chunk, off)
        off += HEADER_SIZE + length
    return seq
