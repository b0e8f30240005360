"""The sequencer service: stamp, journal, publish.

One writer, one loop:

1. poll the input stream (every publisher offers input records there);
2. for each record: drop it if its (source id, source seq) was seen before,
   sequence an `Alert` first if the source skipped numbers, refuse it (with
   a notice to the publisher) after `SystemStop`; otherwise stamp it with the
   next sequence number and the stream time;
3. write the stamped frames to the journal and, per the fsync policy, make
   them durable;
4. only then publish them on the output stream, in chunks of whole frames.

Publication back-pressure (a slow subscriber) never drops a frame: frames wait
in the unpublished queue, which the status file reports as lag, and input is
not polled while that queue is over its bound.

Time: `wall` mode stamps the wall clock (never going backwards); `sim` mode
takes the stream time from the inputs' `event_ns` (recorded data drives the
clock), never going backwards either. When no input arrives for
`clock_tick_ms` (wall mode), a `ClockTick` is sequenced so timers can fire.

Under systemd (`sequencer.notify`): READY=1 once the journal is recovered and the
transport is up (the status file says "running" from then on), WATCHDOG=1 and a STATUS=
line (seq, lag) from the loop's status point every `status_interval_ms`, also while a
full disk pauses the day (the loop is alive and retrying), STOPPING=1 on a clean stop.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import errno
import gc
import json
import os
import signal
import struct
import sys
import time
import zlib
import zoneinfo
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import msgspec
import pyaeron
import structlog

from sequencer import frames, sources
from sequencer.config import SequencerConfig, TransportConfig
from sequencer.frames import HEADER_SIZE, INPUT_SIZE, MAGIC, MAX_PAYLOAD
from sequencer.journal import FsyncPolicy, JournalWriter
from sequencer.messages import BY_ID, TYPE_ID, encode
from sequencer.messages.control import Alert, ClockTick, SystemStart, SystemStop
from sequencer.notify import Notifier
from sequencer.ownership import Ownership, day_streams
from sequencer.transport import (
    Notice,
    connect,
    driver_active,
    encode_notice,
    make_idle,
    max_message_length,
    start_driver,
    stop_driver,
)

log = structlog.get_logger("sequencer")

STATUS_FILE = "sequencer.status.json"
# source_id, type_id, flags, source_seq, (cause_seq, sent_ns skipped), event_ns, length
_IN_HEAD = struct.Struct("<IHHQ16xqI")
_STAMP_PACK = frames.STAMP.pack
_PREFIX_PACK = frames.PREFIX.pack
_CRC32 = zlib.crc32
_STOP = TYPE_ID[SystemStop]
#: Telemetry side file: (last seq of a published chunk, wall time it was offered).
_PUBLISHED = struct.Struct("<Qq")
PUBLISHED_FILE = "telemetry/published.bin"
REFDATA_MANIFEST = "refdata/manifest.json"  # written by `tape refdata build --out DAY/refdata`


_LEN_OFF = 40  # offset of the payload length in an input record
_RETRY_NS = 1_000_000_000  # a journal that could not be written is tried again this often
_len_at = struct.Struct("<I").unpack_from


def _split(data: bytes, n: int, append: Any) -> None:
    """Append each input record of a batch; whatever does not parse as a whole record
    goes as one malformed record, for the usual refusal."""
    off = 0
    while off < n:
        if n - off < INPUT_SIZE:
            append(data[off:])
            return
        end = off + INPUT_SIZE + _len_at(data, off + _LEN_OFF)[0]
        if end > n:
            append(data[off:])
            return
        append(data[off:end])
        off = end


class SequencerError(RuntimeError):
    """The sequencer cannot start the day as configured."""
_KNOWN = frozenset(BY_ID)
#: Types a publisher may send; the sequencer alone originates the others.
_ACCEPTED = _KNOWN - {TYPE_ID[SystemStart], TYPE_ID[ClockTick]}
#: Each type's payload check: what does not decode as its declared type is refused here,
#: not met by every app (an undecodable frame would stop them all, on every restart).
_CHECKS: dict[int, Any] = {tid: msgspec.msgpack.Decoder(t).decode for tid, t in BY_ID.items()}
_DECODE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError)


MAX_HELD_PER_SOURCE = 1 << 20
_ASK_AGAIN_NS = 250_000_000


@dataclass
class Held:
    """Input of one source waiting for a gap before it to be filled."""

    since_ns: int
    asked_ns: int = 0
    records: dict[int, bytes] = field(default_factory=dict)  # source seq -> input record
    told: bool = False  # an Alert said what is missing (the rows of an inject file)


@dataclass
class Counters:
    inputs: int = 0
    sequenced: int = 0
    duplicates: int = 0
    gaps: int = 0  # gaps seen in a source's numbers
    held: int = 0  # inputs held until a gap before them was filled
    skips: int = 0  # gaps never filled: accepted with an Alert after gap_wait_ms
    refused: int = 0
    clock_ticks: int = 0
    fsyncs: int = 0
    fsync_ns_total: int = 0  # time spent in fsync, for its mean
    fsync_ns_max: int = 0
    back_pressured: int = 0
    published_frames: int = 0
    published_chunks: int = 0


#: Upper bounds (ns) of the fsync latency histogram's buckets (the last: everything).
FSYNC_BUCKETS_NS: tuple[int, ...] = (
    100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000,
    50_000_000, 100_000_000, 250_000_000, 1_000_000_000)


@dataclass
class Status:
    pid: int
    state: str
    time_mode: str
    fsync: str
    last_seq: int
    last_ts: int
    published_seq: int
    lag_frames: int
    unpublished_bytes: int
    counters: Counters
    sources: dict[str, int] = field(default_factory=dict)
    recovery: dict[str, Any] = field(default_factory=dict)
    updated_wall_ns: int = 0
    #: fsyncs per latency bucket (`FSYNC_BUCKETS_NS`, then one for the slower ones)
    fsync_buckets: list[int] = field(default_factory=list)


class Sequencer:
    """The day's sequencer. `run()` until SIGTERM/SIGINT or `stop()`."""

    def __init__(self, cfg: SequencerConfig, day: Path) -> None:
        self.cfg = cfg
        self.day = Path(day)
        self.day.mkdir(parents=True, exist_ok=True)
        self.tcfg = cfg.transport
        self.journal = JournalWriter(self.day / "journal", segment_bytes=cfg.segment_bytes)
        self.counters = Counters()
        self._fsync_buckets = [0] * (len(FSYNC_BUCKETS_NS) + 1)
        self._running = False
        self._driver: Any = None
        self._aeron: Any = None
        self._sub: Any = None
        self._pub: Any = None
        self._notice_pub: Any = None
        self._inbox: list[bytes] = []
        self._telemetry: BinaryIO  # opened by open()
        self._unpublished: deque[tuple[int, bytes]] = deque()  # (last seq in chunk, chunk)
        self._unpublished_bytes = 0
        self._published_seq = 0
        self._durable_seq = 0  # frames up to here may be published (fsync policy met)
        self._seq = 0
        self._ts = 0
        self._sources: dict[int, int] = {}
        self._held: dict[int, Held] = {}  # source id -> input waiting for a gap to fill
        self.recovery: dict[str, Any] = {}  # what opening the journal found (set by open())
        self._chunk_max = cfg.publish_chunk_bytes  # both set from the publication in open()
        self._max_payload = MAX_PAYLOAD
        self._stopped = False
        self._own_seq = 0
        self._ownership: Ownership | None = None
        self._stop_requested = False
        self._incarnation = time.time_ns()  # which sequencer this is (the `hello` notices)
        # The journal could not be written (a full disk): the batch waits here, input is
        # not polled, and the write is tried again until it goes through.
        self._blocked: tuple[bytearray, int, list[tuple[int, int]], bool] | None = None
        self._blocked_since_ns = 0
        self._blocked_why = ""
        self._blocked_first_seq = 0
        self._retry_at = 0
        self._sd = Notifier()  # systemd's readiness and watchdog (no-ops without it)

    # ------------------------------------------------------------------ lifecycle

    def open(self) -> None:
        """Take the day and its Aeron directory, recover the journal, bring up the
        transport, sequence SystemStart on a new day."""
        # A stop request from here on ends the day cleanly (the status file written below
        # is what tells the world the sequencer is up).
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        # One sequencer per day and per Aeron directory (`sequencer.ownership`): before
        # the journal is touched, so that two sequencers never both write it.
        self._ownership = Ownership(self.day, self.tcfg.aeron_dir).acquire()
        # Later than the sequencer before it even if the clock stepped back: publishers
        # take a hello only from a later one (`StreamPublisher._on_notice`).
        before = TransportConfig.for_day(self.day).incarnation
        self._incarnation = max(self._incarnation, before + 1)
        update: dict[str, Any] = {"incarnation": self._incarnation}
        if self.cfg.day_streams:
            inp, outp, notice = day_streams(self.day)
            update |= {"input_stream": inp, "output_stream": outp, "notice_stream": notice}
        self.tcfg = self.tcfg.model_copy(update=update)
        rep = self.journal.open()
        st = self.journal.state
        self._seq, self._ts, self._stopped = st.last_seq, st.last_ts, st.stopped
        self._sources = dict(st.sources)
        self._own_seq = self._sources.get(sources.SEQUENCER, 0)
        self._published_seq = self._seq
        self._durable_seq = self._seq
        self.recovery = asdict(rep)
        if rep.truncated_bytes:
            log.warning(
                "journal_tail_truncated", file=rep.truncated_file, bytes=rep.truncated_bytes,
                last_good_seq=rep.last_good_seq, reason=rep.truncated_reason,
            )
        log.info("journal_recovered", last_seq=self._seq, segments=rep.segments,
                 frames_scanned=rep.frames_scanned, stopped=self._stopped)

        d = self.tcfg.aeron_dir
        if self.cfg.driver == "embedded":
            self._driver = start_driver(d)
        elif self.cfg.driver == "auto" and not driver_active(d):
            # A driver of its own: the day's processes must outlive this sequencer.
            from sequencer.driver import spawn

            pid = spawn(d, self.day / "logs" / "driver.log")
            log.info("driver_started", aeron_dir=d, pid=pid)
        self._aeron = connect(self.tcfg)
        tel = self.day / PUBLISHED_FILE
        tel.parent.mkdir(parents=True, exist_ok=True)
        self._telemetry = open(tel, "ab", buffering=1 << 16)  # noqa: SIM115 - open for the day
        self._sub = self._aeron.add_subscription(self.tcfg.input_channel, self.tcfg.input_stream)
        self._pub = self._aeron.add_exclusive_publication(
            self.tcfg.output_channel, self.tcfg.output_stream
        )
        # A publish chunk is whole frames; it must fit in one Aeron message. Chunks are
        # cut once they reach _chunk_max, so a chunk is under _chunk_max plus one frame:
        # both halves are kept within half the publication's largest message.
        half = max_message_length(self.tcfg.output_channel) // 2
        self._chunk_max = min(self.cfg.publish_chunk_bytes, half)
        self._max_payload = min(MAX_PAYLOAD, half - HEADER_SIZE)
        self._notice_pub = self._aeron.add_publication(
            self.tcfg.notice_channel, self.tcfg.notice_stream
        )
        self.tcfg.write(self.day)
        if self._seq == 0:
            self._start_day()
        self._write_status()

    def _start_day(self) -> None:
        date = self.cfg.session_date or dt.date.today()
        if self.cfg.time_mode == "sim":
            tz = zoneinfo.ZoneInfo(self.cfg.timezone)
            midnight = dt.datetime.combine(date, dt.time(0), tzinfo=tz)
            self._ts = int(midnight.timestamp()) * 1_000_000_000
        else:
            self._ts = time.time_ns()
        start = SystemStart(
            session_date=date, seed=self.cfg.day_seed(date), config_digest=self.cfg.digest(),
            time_mode=self.cfg.time_mode, refdata_digest=self._refdata_digest(date),
        )
        out = bytearray()
        self._own(out, TYPE_ID[SystemStart], encode(start), time.time_ns())
        self._commit(out, self._seq, [], force_sync=True)
        self._publish_pending()
        log.info("day_started", session_date=str(date), seed=start.seed)

    def _refdata_digest(self, date: dt.date) -> str:
        """The digest of the day's ref data set (`DAY/refdata/manifest.json`), if one was
        built; the sequencer reads only the manifest, never the set itself."""
        path = self.day / REFDATA_MANIFEST
        if not path.exists():
            return ""
        try:
            manifest = json.loads(path.read_text())
            digest = str(manifest["digest"])
            built_for = str(manifest.get("session_date", date.isoformat()))
        except (OSError, ValueError, KeyError) as e:
            raise SequencerError(f"{path}: not a ref data manifest ({e})") from None
        if built_for != date.isoformat():
            raise SequencerError(
                f"{path}: the ref data set was built for {built_for}, the day is {date}"
            )
        return digest

    def close(self) -> None:
        try:
            self.journal.sync()
            self._durable_seq = self._seq
            if self._unpublished:
                self._publish_pending(final=True)
            self.journal.close()
            with contextlib.suppress(OSError):  # best effort: see _flush_telemetry
                self._telemetry.close()
            self._write_status(state="closed")
        finally:
            if self._aeron is not None:
                self._aeron.close()
                self._aeron = None
            if self._driver is not None:
                stop_driver(self._driver)
                self._driver = None
            if self._ownership is not None:
                self._ownership.release()
                self._ownership = None

    def stop(self, *_: object) -> None:
        self._stop_requested = True
        self._running = False

    # ------------------------------------------------------------------ the loop

    def run(self, max_seconds: float | None = None) -> None:
        self._running = not self._stop_requested  # a stop asked for since open() holds
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        cfg = self.cfg
        idle = make_idle(self.tcfg)
        inbox = self._inbox
        append = inbox.append

        def handler(buf: Any, _header: Any) -> None:
            data = buf.tobytes()  # the fragment is only valid inside this call
            n = len(data)
            if n < INPUT_SIZE or INPUT_SIZE + _len_at(data, _LEN_OFF)[0] >= n:
                append(data)  # one record (or a malformed one, refused later)
            else:
                _split(data, n, append)  # a publisher's batch of records

        sub_poll = self._sub.poll
        group = cfg.fsync is FsyncPolicy.GROUP
        group_ns = cfg.group_commit_us * 1000
        group_bytes = cfg.group_commit_bytes
        tick_ns = cfg.clock_tick_ms * 1_000_000
        status_ns = cfg.status_interval_ms * 1_000_000
        wall_mode = cfg.time_mode == "wall"
        max_unpub = cfg.max_unpublished_bytes
        mono = time.monotonic_ns
        now = mono()
        last_input = now
        last_sync = now
        next_status = now + status_ns
        end = None if max_seconds is None else now + int(max_seconds * 1e9)
        # The hot path makes no reference cycles; automatic collection would only
        # add pauses. Collect the young generations with each status report instead.
        gc.freeze()
        gc.disable()
        # Up: the journal is recovered, the transport is up and the status says so.
        self._sd.ready(self._sd_text)
        while self._running:
            work = 0
            if self._blocked is not None:
                # The journal cannot be written: no input, no clock ticks, no alerts of
                # our own until it can (the publishers wait; Aeron holds their input).
                now = mono()
                if now >= self._retry_at:
                    self._retry_blocked()
                if now >= next_status:
                    self._write_status(state="disk_full")
                    self._sd.beat(self._sd_text)  # alive: retrying the journal
                    next_status = now + status_ns
                idle.idle(0)
                if end is not None and now >= end:
                    break
                continue
            if self._unpublished_bytes < max_unpub:
                work = sub_poll(handler, 4096)
            now = mono()
            if inbox:
                batch = inbox[:]
                inbox.clear()
                before = self._seq
                self._sequence(batch)
                if self._seq != before:  # duplicates alone must not hold back clock ticks
                    last_input = now
            if self._held:
                self._check_held(now)
            if group and self.journal.unsynced_bytes and (
                now - last_sync >= group_ns or self.journal.unsynced_bytes >= group_bytes
            ):
                self._sync()
                self._durable_seq = self._seq
                last_sync = now
            if self._unpublished:
                work += self._publish_pending()
            if wall_mode and not self._stopped and now - last_input >= tick_ns:
                self._tick()
                last_input = now
                work += 1
            if now >= next_status:
                self._hello()
                self._flush_telemetry()
                self._write_status()
                self._sd.beat(self._sd_text)
                gc.collect(1)
                next_status = now + status_ns
                if end is not None and now >= end:
                    break
            idle.idle(work)
        gc.enable()
        self._sd.stopping(lambda: f"stopping at seq {self._seq}")
        self.close()
        self._sd.close()

    def _sd_text(self) -> str:
        """The STATUS= line systemd shows for the sequencer."""
        if self._blocked is not None:
            return (f"journal write failed ({self._blocked_why}): input paused at seq "
                    f"{self._blocked_first_seq}")
        return (f"{'day stopped' if self._stopped else 'running'}: seq {self._seq}, "
                f"{self._seq - self._published_seq} unpublished")

    def _sequence(self, batch: list[bytes]) -> None:
        """Stamp and journal a batch of input records (the hot path).

        The common case (next number from a known source, a known type, a
        consistent length) costs one unpack, one dict update, two CRC calls
        and two appends; everything else goes through `_exceptional`.
        """
        out = bytearray()
        bounds: list[tuple[int, int]] = []  # (end offset, last seq) of each full publish chunk
        chunk_max = self._chunk_max
        max_payload = self._max_payload
        chunk_start = 0
        last_by_source = self._sources
        get = last_by_source.get
        c = self.counters
        c.inputs += len(batch)
        stamped = 0
        seq = self._seq
        recv = time.time_ns()
        sim = self.cfg.time_mode == "sim"
        ts = self._ts if sim or recv <= self._ts else recv
        always = self.cfg.fsync is FsyncPolicy.ALWAYS
        unpack = _IN_HEAD.unpack_from
        pack_stamp = _STAMP_PACK
        pack_prefix = _PREFIX_PACK
        crc32 = _CRC32
        accepted = _ACCEPTED
        check = _CHECKS
        decode_errors = _DECODE_ERRORS
        held = self._held
        for rec in batch:
            try:
                src, typ, _flags, sseq, ev, length = unpack(rec)
            except struct.error:
                self._refuse(
                    0, 0, "malformed", f"input of {len(rec)} bytes is shorter than a header"
                )
                continue
            last = get(src, 0)
            if sseq <= last:
                c.duplicates += 1
                continue
            if (
                sseq != last + 1 or typ not in accepted or not src or self._stopped
                or length + INPUT_SIZE != len(rec) or length > max_payload
            ):
                self._seq, self._ts = seq, ts
                if not self._exceptional(rec, src, typ, sseq, last, length):
                    continue
            try:
                check[typ](rec[INPUT_SIZE:])
            except decode_errors as e:
                self._refuse(src, sseq, "undecodable",
                             f"the payload does not decode as {BY_ID[typ].__name__}: {e}")
                continue
            last_by_source[src] = sseq
            if held and src in held:
                batch.extend(self._released(src, sseq))
            if sim and ev > ts:
                ts = ev
            seq += 1
            stamped += 1
            out += pack_prefix(MAGIC, crc32(rec, crc32(pack_stamp(seq, ts, recv))), seq, ts, recv)
            out += rec
            if always:
                self._seq, self._ts = seq, ts
                self._commit(out, seq, [], force_sync=True)
                out = bytearray()
                chunk_start = 0
            elif len(out) - chunk_start >= chunk_max:
                chunk_start = len(out)
                bounds.append((chunk_start, seq))
            if typ == _STOP:
                self._stopped = True
                log.info("day_stopped", seq=seq)
        c.sequenced += stamped
        self._seq = seq
        self._ts = ts
        if out:
            self._commit(out, seq, bounds)

    def _exceptional(
        self, rec: bytes, src: int, typ: int, sseq: int, last: int, length: int
    ) -> bool:
        """The uncommon cases of an input: True to sequence it now, False if refused or held."""
        why: tuple[str, str] | None = None
        if self._stopped:
            why = "stopped", "the day is stopped (SystemStop was sequenced); no input is accepted"
        elif not src:
            why = "refused", "source id 0 belongs to the sequencer"
        elif typ not in _KNOWN:
            why = "unknown_type", f"unknown message type id {typ}"
        elif typ not in _ACCEPTED:
            why = "refused", f"{BY_ID[typ].__name__} is sequenced only by the sequencer itself"
        elif length > self._max_payload:
            why = "too_large", f"payload of {length} bytes is over the {self._max_payload} limit"
        elif length + INPUT_SIZE != len(rec):
            why = "malformed", (
                f"header says {length} payload bytes, record has {len(rec) - INPUT_SIZE}"
            )
        if why is not None:
            self._refuse(src, sseq, *why)
            return False
        if sseq != last + 1:
            self._hold(rec, src, sseq, last)
            return False
        return True

    def _hold(self, rec: bytes, src: int, sseq: int, last: int) -> None:
        """Input past a gap in its source's numbers waits for the missing ones.

        Input polled from Aeron but not yet journaled when a sequencer dies is
        gone from the log, and so is input offered to a dead sequencer; the
        publisher must send it again. Holding what comes after the gap (and
        telling the publisher where to resume) keeps every source's messages in
        order with none lost. If nothing fills the gap within `gap_wait_ms`, the
        skip is accepted: an Alert names the missing numbers and the held input
        is sequenced.
        """
        held = self._held.get(src)
        if held is None:
            held = self._held[src] = Held(time.monotonic_ns())
            self.counters.gaps += 1
        if sseq in held.records:
            self.counters.duplicates += 1
            return
        if len(held.records) >= MAX_HELD_PER_SOURCE:
            self._refuse(src, sseq, "gap", f"too much input held past the gap at {last + 1}; "
                         f"resend from {last + 1}", last + 1)
            return
        held.records[sseq] = rec
        self.counters.held += 1
        if not held.asked_ns:
            self._ask_resend(src, last + 1, held)

    def _ask_resend(self, src: int, expected: int, held: Held) -> None:
        held.asked_ns = time.monotonic_ns()
        first = min(held.records)
        self._refuse(src, first, "gap",
                     f"numbers {expected}..{first - 1} are missing; resend from {expected}",
                     expected)

    def _released(self, src: int, upto: int) -> list[bytes]:
        """Held input of `src` that follows `upto` without a gap (now in order)."""
        held = self._held[src]
        out = []
        nxt = upto + 1
        while nxt in held.records:
            out.append(held.records.pop(nxt))
            nxt += 1
        if not held.records:
            del self._held[src]
        return out

    def _check_held(self, now: int) -> None:
        """Ask again for missing input, or accept the skip once `gap_wait_ms` has passed."""
        wait = self.cfg.gap_wait_ms * 1_000_000
        for src in sorted(self._held):
            held = self._held[src]
            expected = self._sources.get(src, 0) + 1
            if now - held.since_ns < wait:
                if now - held.asked_ns >= _ASK_AGAIN_NS:
                    self._ask_resend(src, expected, held)
                continue
            if sources.is_inject_file(src):
                # A file's rows: whoever sent them may be gone (a `tape inject` cut off by
                # a crash), but running the same file again sends exactly the missing ones.
                # Skipping them would lose them for good: the rest waits, and ops are told.
                if not held.told:
                    held.told = True
                    out = bytearray()
                    self._own(out, TYPE_ID[Alert], encode(Alert(
                        severity="warning", source="sequencer",
                        text=f"rows {expected}..{min(held.records) - 1} of inject file source "
                             f"{src} are missing; the {len(held.records):,} rows after them "
                             "wait: run the same `tape inject` again",
                        code="gap")), time.time_ns())
                    self._commit(out, self._seq, [])
                if now - held.asked_ns >= _ASK_AGAIN_NS:
                    self._ask_resend(src, expected, held)
                continue
            del self._held[src]
            first = min(held.records)
            out = bytearray()
            self._own(out, TYPE_ID[Alert], encode(Alert(
                severity="warning", source="sequencer",
                text=f"source {src} skipped numbers {expected}..{first - 1} "
                     f"(not resent within {self.cfg.gap_wait_ms} ms)",
                code="gap",
            )), time.time_ns())
            self._commit(out, self._seq, [])
            self._sources[src] = first - 1
            self.counters.skips += 1
            self._sequence([held.records[k] for k in sorted(held.records)])

    def _own(self, out: bytearray, type_id: int, payload: bytes, recv: int) -> None:
        """Append a frame the sequencer itself originates (source 0)."""
        self._own_seq += 1
        self._sources[sources.SEQUENCER] = self._own_seq
        self._seq += 1
        out += frames.encode_frame(
            self._seq, self._ts, sources.SEQUENCER, type_id, self._own_seq, payload,
            recv_ns=recv, sent_ns=recv,
        )
        self.counters.sequenced += 1

    def _tick(self) -> None:
        out = bytearray()
        now = time.time_ns()
        self._ts = max(self._ts, now)
        self._own(out, TYPE_ID[ClockTick], encode(ClockTick()), now)
        self.counters.clock_ticks += 1
        self._commit(out, self._seq, [])

    # ------------------------------------------------------------------ a full disk

    def _block(self, out: bytearray, last_seq: int, bounds: list[tuple[int, int]],
               force_sync: bool, err: OSError) -> None:
        """The journal cannot take a batch (the disk is full): keep the batch, stop taking
        input (the publishers wait: nothing is lost), say so, and try again every second.
        The media driver and every app stay up; the day resumes when space returns."""
        self._blocked = (out, last_seq, bounds, force_sync)
        self._blocked_since_ns = time.time_ns()
        self._blocked_why = err.strerror or str(err)
        self._retry_at = time.monotonic_ns() + _RETRY_NS
        self._blocked_first_seq = frames.HEADER.unpack_from(out, 0)[2]
        line = (f"journal write failed ({self._blocked_why}): input paused at seq "
                f"{self._blocked_first_seq}; the day resumes when there is space again")
        log.error("journal_write_failed", error=self._blocked_why,
                  seq=self._blocked_first_seq)
        sys.stderr.write(f"sequencer: {line}\n")
        sys.stderr.flush()
        self._write_status(state="disk_full")

    def _retry_blocked(self) -> None:
        assert self._blocked is not None
        out, last_seq, bounds, force_sync = self._blocked
        try:
            self.journal.append(out, self._blocked_first_seq)
        except OSError as e:
            if e.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            self._retry_at = time.monotonic_ns() + _RETRY_NS
            return
        self._blocked = None
        self._committed(out, last_seq, bounds, force_sync)
        paused_s = (time.time_ns() - self._blocked_since_ns) / 1e9
        text = (f"the journal could not be written for {paused_s:.1f} s "
                f"({self._blocked_why}): input was paused at seq {self._blocked_first_seq} "
                "and has resumed; nothing was lost")
        log.warning("journal_write_resumed", paused_s=round(paused_s, 3))
        sys.stderr.write(f"sequencer: {text}\n")
        sys.stderr.flush()
        alert = bytearray()
        self._own(alert, TYPE_ID[Alert], encode(Alert(
            severity="critical", source="sequencer", text=text, code="journal_full")),
            time.time_ns())
        self._commit(alert, self._seq, [])

    def _hello(self) -> None:
        """Tell every publisher which sequencer this is (its start time), every status
        interval: a publisher that sees a new one resends its window of recent input,
        so what a killed sequencer took and never journaled gets in even when nothing
        after it would reveal the gap (a restart within the driver's client timeout
        leaves the publishers no other sign of it)."""
        self._notice_pub.offer(encode_notice(Notice(
            sources.SEQUENCER, self._incarnation, "hello", "")))

    def _refuse(self, src: int, sseq: int, code: str, text: str, expected: int = 0) -> None:
        if code != "gap":
            self.counters.refused += 1
        self._notice_pub.offer(encode_notice(Notice(src, sseq, code, text, expected)))

    def _commit(
        self, out: bytearray, last_seq: int, bounds: list[tuple[int, int]],
        force_sync: bool = False,
    ) -> None:
        """Journal a batch (fsync per policy) and queue it for publishing.

        `bounds` splits the batch into publish chunks of whole frames: the end
        offset and last seq of each chunk but the final one.
        """
        if self._blocked is not None:
            # An earlier batch waits for space: this one goes after it, in order.
            bout, blast, bbounds, bforce = self._blocked
            shift = len(bout)
            bout += out
            bbounds.append((shift, blast))
            bbounds += [(end + shift, seq) for end, seq in bounds]
            self._blocked = (bout, last_seq, bbounds, bforce or force_sync)
            return
        first = frames.HEADER.unpack_from(out, 0)[2]
        try:
            self.journal.append(out, first)
        except OSError as e:
            if e.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            self._block(out, last_seq, bounds, force_sync, e)
            return
        self._committed(out, last_seq, bounds, force_sync)

    def _committed(self, out: bytearray, last_seq: int, bounds: list[tuple[int, int]],
                   force_sync: bool) -> None:
        """A batch is in the journal: sync it per policy and queue it for publishing."""
        st = self.journal.state
        st.last_seq, st.last_ts, st.stopped = last_seq, self._ts, self._stopped
        # A copy: a segment roll inside the next append must summarise this batch, not
        # numbers of a batch that may yet be lost in a crash.
        st.sources = dict(self._sources)
        if force_sync or self.cfg.fsync is FsyncPolicy.ALWAYS:
            self._sync()
            self._durable_seq = last_seq
        elif self.cfg.fsync is FsyncPolicy.NONE:
            self._durable_seq = last_seq
        view = memoryview(out)
        start = 0
        for end, seq in bounds:
            self._unpublished.append((seq, bytes(view[start:end])))
            start = end
        if start < len(out):
            self._unpublished.append((last_seq, bytes(view[start:])))
        view.release()
        self._unpublished_bytes += len(out)

    def _flush_telemetry(self) -> None:
        """Telemetry is best effort: a full disk loses it, never the day."""
        try:
            self._telemetry.flush()
        except OSError as e:
            log.warning("telemetry_not_written", error=str(e))

    def _publish_pending(self, final: bool = False) -> int:
        """Offer queued chunks; stop at back-pressure (they stay queued: lag, not loss)."""
        pub = self._pub
        n = 0
        give_up = time.monotonic() + 5.0
        while self._unpublished:
            last_seq, chunk = self._unpublished[0]
            if last_seq > self._durable_seq:
                break  # group commit: not fsynced yet
            r = pub.offer(chunk)
            if not r and r is not pyaeron.NOT_CONNECTED:
                self.counters.back_pressured += 1
                if not final or time.monotonic() > give_up:
                    break  # at close, a stuck subscriber reads the rest from the journal
                time.sleep(0.0001)
                continue
            try:  # noqa: SIM105 - cheaper than contextlib.suppress on the publish path
                self._telemetry.write(_PUBLISHED.pack(last_seq, time.time_ns()))
            except OSError:
                pass  # best effort (a full disk): the latency report misses a chunk
            # NOT_CONNECTED: nobody subscribed; subscribers read the journal when they join.
            self._unpublished.popleft()
            self._unpublished_bytes -= len(chunk)
            self.counters.published_frames += last_seq - self._published_seq
            self.counters.published_chunks += 1
            self._published_seq = last_seq
            n += 1
        return n

    # ------------------------------------------------------------------ status

    def status(self, state: str | None = None) -> Status:
        return Status(
            pid=os.getpid(),
            state=state or ("stopped" if self._stopped else "running"),
            time_mode=self.cfg.time_mode,
            fsync=str(self.cfg.fsync),
            last_seq=self._seq,
            last_ts=self._ts,
            published_seq=self._published_seq,
            lag_frames=self._seq - self._published_seq,
            unpublished_bytes=self._unpublished_bytes,
            counters=self.counters,
            sources={str(k): v for k, v in sorted(self._sources.items())},
            recovery=self.recovery,
            updated_wall_ns=time.time_ns(),
            fsync_buckets=list(self._fsync_buckets),
        )

    def _sync(self) -> None:
        """fsync the journal, timed (the metrics' fsync latency): two clock reads per
        fsync, nothing next to the fsync itself."""
        t0 = time.perf_counter_ns()
        self.journal.sync()
        took = time.perf_counter_ns() - t0
        c = self.counters
        c.fsyncs += 1
        c.fsync_ns_total += took
        c.fsync_ns_max = max(c.fsync_ns_max, took)
        self._fsync_buckets[bisect.bisect_left(FSYNC_BUCKETS_NS, took)] += 1

    def _write_status(self, state: str | None = None) -> None:
        path = self.day / STATUS_FILE
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(asdict(self.status(state)), indent=2))
            tmp.replace(path)
        except OSError as e:  # best effort: a full disk must not stop the day
            log.warning("status_not_written", error=str(e))
            tmp.unlink(missing_ok=True)
