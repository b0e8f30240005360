"""The ticker plant process: a feed in, market data onto the stream.

An edge app: it reads files (or simulates), paces by the data's clock, and
publishes through the sequencer as its own source. What it publishes is
decided by `PlantCore` from the feed rows and the sequenced commands it
follows on the stream (subscriptions), so the journal holds everything a
replay needs; the plant itself is never replayed.

Pacing (`speed`): `None` publishes as fast as the stream takes it
(back-pressure is the only brake); a number N publishes at N times the
data's own pace (1 is real time), measured from the first row. Every
message carries the row's exchange time as its `event_ns`, so in the `sim`
time mode the stream's clock is the market's.

The process is restartable only from the start of a feed: a plant that
dies mid-day is started again with `--from-seq` of its last output's time
(see the README); it skips rows the stream already has by exchange time.
"""

# determinism: edge module, the plant process paces by the wall clock and does the I/O

from __future__ import annotations

import signal
import struct
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import structlog

from marketdata.feed import FeedBatch
from marketdata.plant import PlantCore
from marketdata.volume import VolumeRules
from refdata.model import RefData
from sequencer.config import TransportConfig
from sequencer.inject import stream_position
from sequencer.messages import TYPE_ID, Message, decode
from sequencer.messages.admin import Resubscribe
from sequencer.messages.control import SystemStop
from sequencer.messages.marketdata import Subscribe, Unsubscribe
from sequencer.transport import StreamPublisher, StreamSubscriber, connect, make_idle

log = structlog.get_logger("marketdata")

PLANT_SOURCE_ID = 30
_COMMANDS = {TYPE_ID[t] for t in (Subscribe, Unsubscribe, Resubscribe)}
_STOP = TYPE_ID[SystemStop]
_FOLLOWED = frozenset({*_COMMANDS, _STOP})
_HEAD = 80  # frame header bytes
_SEQ_TYPE = struct.Struct("<8xQ20xH")  # a frame's seq and type id
_POLL_EVERY_ROWS = 512


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
                 speed: float | None = None, source_id: int = PLANT_SOURCE_ID,
                 subscribe: list[str] | None = None, wait_subscribed: int = 0,
                 rules: VolumeRules | None = None,
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

    def stop(self, *_: object) -> None:
        self._running = False
        self._stopped_by = "signal"

    # ---------------------------------------------------------------- stream side

    def _emit(self, type_id: int, payload: bytes, event_ns: int, cause_seq: int) -> None:
        assert self._pub is not None
        self._pub.add(type_id, payload, event_ns, cause_seq)

    def _follow(self) -> None:
        """Handle the sequenced commands that arrived (subscriptions, stop)."""
        assert self._sub is not None and self._pub is not None
        for raw in self._sub.poll_types(_FOLLOWED, 4096):
            seq, typ = _SEQ_TYPE.unpack_from(raw)
            if typ in _COMMANDS:
                msg: Message = decode(typ, raw[_HEAD:])
                self.core.on_command(msg, seq, self._emit)
                self._pub.flush()
            elif typ == _STOP:
                self._running = False
                self._stopped_by = "system_stop"

    # ---------------------------------------------------------------- the loop

    def run(self, max_seconds: float | None = None) -> PlantResult:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        cfg = TransportConfig.for_day(self.day)
        aeron = connect(cfg)
        t0 = time.monotonic()
        try:
            _, sources = stream_position(self.day)
            self._pub = StreamPublisher(aeron, cfg, self.source_id,
                                        sources.get(self.source_id, 0) + 1)
            self._sub = StreamSubscriber(aeron, cfg, self.day / "journal")
            self._follow()
            for name in self.subscribe:
                sym = self.core.refdata.by_name(name)
                self._pub.publish(Subscribe(sym.id, "ticker_plant"))
            self._wait_for_subscribers(t0, max_seconds)
            self._pump(t0, max_seconds)
            if self._running:
                self.core.finish(self._emit)
            self._pub.flush()
            self._pub.check()
        finally:
            if self._sub is not None:
                self._sub.close()
            aeron.close()
        c = self.core.counters
        return PlantResult(c.rows, c.published, c.snapshots, time.monotonic() - t0,
                           self._stopped_by, len(self.feed.bad), c.unknown_symbol_rows,
                           self.core.unknown_venues)

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
        first_t: int | None = None
        wall0 = 0
        speed = self.speed
        deadline = None if max_seconds is None else t0 + max_seconds
        for chunk in feed.chunks(_POLL_EVERY_ROWS):
            if not self._running:
                break
            if speed is not None:
                t_first = chunk[1][0]
                if first_t is None:
                    first_t, wall0 = t_first, time.perf_counter_ns()
                # Pace per chunk start; rows within a chunk follow at once (a chunk is
                # a few ms of a busy market, far below what a reader of the stream sees).
                due = wall0 + int((t_first - first_t) / speed)
                while (wait := due - time.perf_counter_ns()) > 0 and self._running:
                    time.sleep(min(wait / 1e9, 0.05))
                    self._follow()
            self.core.feed_rows(chunk, add)
            self._pub.flush()
            self._follow()
            done += len(chunk[0])
            if self.progress is not None:
                self.progress(done, total)
            if deadline is not None and time.monotonic() > deadline:
                self._running = False
                self._stopped_by = "time_limit"
