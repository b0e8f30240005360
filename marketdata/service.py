"""The ticker plant process: a feed in, market data onto the stream.

An edge app: it reads files (or simulates), paces by the data's clock, and
publishes through the sequencer as its own source. What it publishes is
decided by `PlantCore` from the feed rows and the sequenced commands it
follows on the stream (subscriptions), so the journal holds everything a
replay needs; the plant itself is never replayed.

Pacing (`speed`): `None` publishes as fast as the stream takes it
(back-pressure is the only brake); a number N publishes each row at N times
the data's own pace (1 is real time), measured from the first row, to the
millisecond. Every
message carries the row's exchange time as its `event_ns`, so in the `sim`
time mode the stream's clock is the market's.

A plant that stopped mid-day is started again with `resume=True`
(`--resume`): it takes its subscriptions and its place in the feed back from
the journal and goes on after its last message. Without it, a plant refuses
a day whose journal already has its output, rather than publish the day twice.

What it reports. Every half second (from `_follow`, which every part of the run calls:
the catch-up, the wait for subscribers, the pump, the paced waits) the plant writes
`DAY/marketdata/plant.status.json`: pid, state ("starting", "waiting_for_subscribers",
"running", then "done" at the end of its feed or the day's SystemStop, or "stopped"),
whether it has caught up with the journal, the seq it has reached, rows read and
messages published, the market time of the latest row, the symbols subscribed (`tape
status` reads it; `plant.json` is the report of a finished run). Under systemd
(`sequencer.notify`): READY=1 once it has caught up with the journal, WATCHDOG=1 from
the same half-second point (and while it waits for the sequencer), STOPPING=1 when it
ends without a failure (with READY=1 first if a short feed ended before that).
"""

# determinism: edge module, the plant process paces by the wall clock and does the I/O

from __future__ import annotations

import bisect
import signal
import struct
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import structlog

from marketdata.feed import FeedBatch
from marketdata.plant import PlantCore
from marketdata.volume import VolumeRules
from refdata.model import RefData
from sequencer import sources
from sequencer.config import TransportConfig
from sequencer.inject import stream_position
from sequencer.messages.marketdata import Subscribe
from sequencer.notify import STATUS_EVERY_S, Notifier, StatusFile
from sequencer.transport import StreamPublisher, StreamSubscriber, connect, make_idle

log = structlog.get_logger("marketdata")

_HEAD = 80  # frame header bytes
_SEQ_TYPE = struct.Struct("<8xQ20xH")  # a frame's seq and type id
_SOURCE = struct.Struct("<32xI")  # a frame's source id
_EVENT = struct.Struct("<64xq")  # a frame's event time
_POLL_EVERY_ROWS = 512


class PlantError(RuntimeError):
    """The plant cannot run as asked (its output already on the stream, say)."""


@dataclass
class PlantResult:
    rows: int
    published: int
    snapshots: int
    seconds: float
    stopped_by: str  # "end_of_feed", "system_stop", "signal", "time_limit"
    bad_rows: int
    unknown_symbol_rows: int
    unknown_venues: list[str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class TickerPlant:
    def __init__(self, day: Path, feed: FeedBatch, refdata: RefData, midnight_ns: int, *,
                 speed: float | None = None, source_id: int = sources.TICKER_PLANT,
                 subscribe: list[str] | None = None, wait_subscribed: int = 0,
                 rules: VolumeRules | None = None, resume: bool = False,
                 progress: Callable[[int, int], None] | None = None) -> None:
        self.day = day
        self.feed = feed
        self.core = PlantCore(refdata, feed, midnight_ns, rules or VolumeRules())
        self.speed = speed
        self.source_id = source_id
        self.subscribe = subscribe or []
        # The plant's own subscriptions count once they come back sequenced: until then
        # rows would pass unpublished.
        self.wait_subscribed = max(wait_subscribed, len(set(self.subscribe)))
        self.progress = progress
        self._running = True
        self._stopped_by = "end_of_feed"
        self._pub: StreamPublisher | None = None
        self._sub: StreamSubscriber | None = None
        self.resume = resume
        self._skip_rows = 0  # rows a resume applied without publishing
        self._t_first: int | None = None  # pacing: the first row's exchange time
        self._deadline: float | None = None  # --max-seconds, in time.monotonic()
        self._wall0 = 0  # and when it went out
        self.state = "starting"
        self._status = StatusFile(self.day / "marketdata" / "plant.status.json",
                                  "ticker_plant")
        self._status_at = 0.0  # when the status is next due (time.monotonic())
        self._sd = Notifier()  # systemd's readiness and watchdog (no-ops without it)

    def stop(self, *_: object) -> None:
        self._running = False
        self._stopped_by = "signal"

    def _keep_waiting(self) -> bool:
        """Go on waiting for the sequencer? The plant is alive while it waits: the
        watchdog hears so."""
        self._sd.beat("ticker plant: waiting for the sequencer")
        return self._running

    def _say(self, text: str) -> None:
        """What the plant waits for, once, for people (stderr) and the log."""
        sys.stderr.write(f"ticker plant: {text}\n")
        sys.stderr.flush()
        log.warning("plant_waiting" if "waiting" in text else "plant_resumed", text=text)

    # ---------------------------------------------------------------- stream side

    def _emit(self, type_id: int, payload: bytes, event_ns: int, cause_seq: int) -> None:
        assert self._pub is not None
        self._pub.add(type_id, payload, event_ns, cause_seq)

    def _follow(self) -> None:
        """Handle the sequenced commands that arrived (subscriptions, stop)."""
        assert self._sub is not None and self._pub is not None
        core = self.core
        for raw in self._sub.poll(4096, core.followed):
            seq, typ = _SEQ_TYPE.unpack_from(raw)
            core.on_frame(seq, typ, raw[_HEAD:], self._emit)
            self._pub.flush()
            if core.stopped:
                self._running = False
                self._stopped_by = "system_stop"
                break
        # Called for every part of rows and every paced wait: one clock read each.
        if time.monotonic() >= self._status_at:
            self._report()

    def _report(self) -> None:
        """The status file and systemd: READY=1 once caught up with the journal, then
        the watchdog."""
        self._status_at = time.monotonic() + STATUS_EVERY_S
        core, sub = self.core, self._sub
        c = core.counters
        caught_up = sub is not None and sub.caught_up
        seq = sub.next_seq - 1 if sub is not None else 0
        self._status.write({
            "process": "ticker_plant", "state": self.state, "caught_up": caught_up,
            "seq": seq, "rows": c.rows, "feed_rows": len(self.feed),
            "published": c.published, "quotes": c.quotes, "trades": c.trades,
            "snapshots": c.snapshots, "last_market_ns": core.now_ns,
            "symbols_subscribed": sorted(core.refdata.symbol(sid).name
                                         for sid in core.subscribers),
            "waiting_for_sequencer": self._pub is not None and self._pub.waiting,
            "stopped_by": self._stopped_by if self.state in ("done", "stopped") else "",
        })
        sd = self._sd
        if not sd.on:
            return
        if caught_up and not sd.is_ready:
            sd.ready(f"ticker plant: caught up at seq {seq}, {len(core.subscribers)} "
                     "symbol(s) subscribed")
        else:
            sd.beat(lambda: f"ticker plant: {self.state}, {c.published} published, "
                            f"{len(core.subscribers)} symbol(s) subscribed")

    # ---------------------------------------------------------------- the loop

    def run(self, max_seconds: float | None = None) -> PlantResult:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        cfg = TransportConfig.for_day(self.day)
        aeron = connect(cfg)
        t0 = time.monotonic()
        try:
            last_seq, by_source = stream_position(self.day)
            published = by_source.get(self.source_id, 0)
            if published and not self.resume:
                raise PlantError(
                    f"the journal of {self.day} already holds {published:,} messages of the "
                    f"ticker plant (source {self.source_id}); run it with --resume to go on "
                    "after them, or feed another day folder"
                )
            # It outlives the sequencer: while it is away the plant waits for it (says so
            # once) and goes on when it is back; a stop request ends the wait.
            self._pub = StreamPublisher(aeron, cfg, self.source_id, published + 1,
                                        wait=self._keep_waiting, on_wait=self._say)
            self._report()
            from_seq = 1
            if published:
                from_seq = self._recover(last_seq)
            self._sub = StreamSubscriber(aeron, cfg, self.day / "journal", from_seq)
            self._follow()
            for name in self.subscribe:
                sym = self.core.refdata.by_name(name)
                self._pub.publish(Subscribe(sym.id, "ticker_plant"))
            if len(self.core.subscribers) < self.wait_subscribed:
                self.state = "waiting_for_subscribers"
            self._wait_for_subscribers(t0, max_seconds)
            self.state = "running"
            self._pump(t0, max_seconds)
            if self._running:
                self.core.finish(self._emit)
            self._pub.flush()
            self._pub.check()
            self.state = "done" if self._stopped_by in ("end_of_feed", "system_stop") else (
                "stopped")
            self._sd.stopping(f"ticker plant: {self.state} ({self._stopped_by}), "
                              f"{self.core.counters.published} published")
            self._report()
        finally:
            if self._sub is not None:
                self._sub.close()
            aeron.close()
            self._sd.close()
        c = self.core.counters
        return PlantResult(c.rows, c.published, c.snapshots, time.monotonic() - t0,
                           self._stopped_by, len(self.feed.bad), c.unknown_symbol_rows,
                           self.core.unknown_venues)

    def _recover(self, last_seq: int) -> int:
        """Resume after a plant that stopped mid-day: take back the subscriptions and the
        feed position from the journal, silently (what they caused is on the stream
        already), and return the seq to follow the stream from.

        Feed rows up to the exchange time of the plant's last message are applied to the
        plant's state without being published. Rows that share that very millisecond
        and were not yet published are the only ones a resume can miss."""
        from sequencer.journal import JournalReader

        last_event = 0
        nothing: Callable[..., None] = lambda *_: None  # noqa: E731  # a silent emit
        with JournalReader(self.day / "journal", 1) as reader:
            while batch := reader.read_raw(65536):
                if time.monotonic() >= self._status_at:
                    self._report()  # a long journal: the heartbeat goes on meanwhile
                for raw in batch:
                    seq, typ = _SEQ_TYPE.unpack_from(raw)
                    if seq > last_seq:
                        break
                    if typ in self.core.commands:
                        self.core.on_frame(seq, typ, raw[_HEAD:], nothing)
                    elif _SOURCE.unpack_from(raw)[0] == self.source_id:
                        last_event = max(last_event, _EVENT.unpack_from(raw)[0])
        skipped = 0
        for chunk in self.feed.chunks(_POLL_EVERY_ROWS):
            ts = chunk[1]
            if ts[0] > last_event:
                break
            j = bisect.bisect_right(ts, last_event)
            self.core.feed_rows(tuple(col[:j] for col in chunk), nothing)
            skipped += j
            if j < len(ts):
                break
        self._skip_rows = skipped
        log.info("plant_resumed", subscriptions=len(self.core.subscribers),
                 skipped_rows=skipped, after_event_ns=last_event)
        return last_seq + 1

    def _wait_for_subscribers(self, t0: float, max_seconds: float | None) -> None:
        idle = make_idle(TransportConfig.for_day(self.day))
        while self._running and len(self.core.subscribers) < self.wait_subscribed:
            self._follow()
            idle.idle(0)
            if max_seconds is not None and time.monotonic() - t0 > max_seconds:
                self._running = False
                self._stopped_by = "time_limit"

    def _pump(self, t0: float, max_seconds: float | None) -> None:
        assert self._pub is not None
        add = self._pub.add  # the core's emit, called per row: no wrapper
        feed = self.feed
        total = len(feed)
        done = 0
        deadline = None if max_seconds is None else t0 + max_seconds
        # A paced run can wait long inside a chunk (512 rows of a quiet symbol span minutes
        # of market time): `_paced` checks the limit while it waits, not only per chunk.
        self._deadline = deadline
        for whole in feed.chunks(_POLL_EVERY_ROWS):
            if not self._running:
                break
            chunk = whole
            if done < self._skip_rows:  # applied already by a resume
                take = min(len(whole[0]), self._skip_rows - done)
                done += take
                chunk = tuple(col[take:] for col in whole)
                if not chunk[0]:
                    continue
            for part in (self._paced(chunk) if self.speed is not None else (chunk,)):
                self.core.feed_rows(part, add)
                self._pub.flush()
                self._follow()
            done += len(chunk[0])
            if self.progress is not None:
                self.progress(done, total)
            if deadline is not None and time.monotonic() > deadline:
                self._time_up()

    def _time_up(self) -> None:
        self._running = False
        self._stopped_by = "time_limit"

    def _paced(self, chunk: tuple[list[int], ...]) -> Iterator[tuple[list[int], ...]]:
        """The chunk's rows in slices, each released when its first row is due: a row
        of exchange time t goes out at (t - first row's t) / speed after the start,
        to the millisecond (rows due within the same millisecond go together)."""
        assert self.speed is not None
        speed = self.speed
        ts = chunk[1]
        if self._t_first is None:
            self._t_first, self._wall0 = ts[0], time.perf_counter_ns()
        t_first, wall0 = self._t_first, self._wall0
        i, n = 0, len(ts)
        while i < n and self._running:
            due = wall0 + int((ts[i] - t_first) / speed)
            while (wait := due - time.perf_counter_ns()) > 0 and self._running:
                time.sleep(min(wait / 1e9, 0.05))
                self._follow()
                if self._deadline is not None and time.monotonic() > self._deadline:
                    self._time_up()
            if not self._running:
                return  # stopped while waiting: the rows not yet due stay unpublished
            horizon = t_first + int((time.perf_counter_ns() - wall0 + 1_000_000) * speed)
            j = max(i + 1, bisect.bisect_right(ts, horizon, i))
            yield tuple(col[i:j] for col in chunk)
            i = j
