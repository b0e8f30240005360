"""A recorded day in sim time, in one process, as fast as it goes.

The parts are the production ones: the ticker plant's deciding core
(`marketdata.plant.PlantCore`) on the recorded files, and the apps on the
stream kit (`sequencer.kit.StreamKit`: the sequencer's stamping and journal,
and the same `AppEngine` the live runner uses): the OMS, the algo engine and
the venue simulator's fill model as an app (`fix_gateways.venue_sim.app`).
What differs from a live day is only who waits for whom: here every app has
handled a frame, and everything it published in answer has been sequenced, before
the next market data row goes in (zero latency between apps), and the clock is
the recorded data's. That lockstep is what makes a backtest byte-identical run
after run; the journal is a day's journal like any other (`tape replay DAY
--app oms --app algo --app venue_sim --verify` checks it).

Sequencing rules:
- the day opens with `SystemStart` and, for a realistic market, one `SimMarket`
  (how the venue simulator's market answers us: impact, latencies, interval
  cap), both at local midnight, before any subscription; a plain-market day has
  no `SimMarket` (its journal is byte for byte what it was before there was one);
- with the impact model on (`SimMarket.impact`), every quote, print and snapshot
  of a symbol we have traded is moved by our impact before it is sequenced
  (`fix_gateways.venue_sim.impact.MarketMover`: the plant's `reprice` as it makes
  quotes and prints, here for its snapshots): the journal holds the market our
  trading made, which the algo engine, the venues and the report all see; our fills
  count from the moment their `VenueFill` is sequenced;
- stream time is the latest event time: a market data row's exchange time, a
  client order's time from the orders file; apps' outputs take the time of the
  frame they answer;
- before a row, every client order due by its time goes in, and a `ClockTick` at
  each app timer's deadline that falls before it (timers fire at their time, not
  at the next row's);
- the plant applies subscriptions at the end of the 512-row chunk in which they
  were sequenced (a live plant polls its commands every 512 rows too), and
  answers with a `MarketSnapshot`;
- telemetry fields (receive, send and processing times) are 0: they would be the
  only bytes that differ between two runs.
"""

# determinism: edge module, it reads the recorded files and writes the journal

from __future__ import annotations

import datetime as dt
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import numpy as np

from deploy.backtest.orders import ClientRequest
from fix_gateways.venue_sim.impact import ImpactBook, ImpactParams, MarketMover, stats_of
from marketdata.feed import FeedBatch
from marketdata.plant import PlantCore
from refdata.model import RefData, local_midnight_ns
from sequencer import sources
from sequencer.frames import HEADER_SIZE
from sequencer.kit import StreamKit
from sequencer.messages import TYPE_ID, encode
from sequencer.messages.control import ClockTick, SimMarket, SystemStart, SystemStop
from sequencer.messages.executions import VenueFill
from sequencer.messages.marketdata import MarketSnapshot, Subscribe, Unsubscribe
from sequencer.messages.orders import ChildOrderSent
from sequencer.runtime.app import App
from sequencer.runtime.context import NEVER

TZ = "America/New_York"
CHUNK_ROWS = 512
FLUSH_BYTES = 8 << 20
_CLOCK_TICK = TYPE_ID[ClockTick]
_TICK_PAYLOAD = encode(ClockTick())
_TS = struct.Struct("<16xq")  # a frame's stream time
_SNAPSHOT = TYPE_ID[MarketSnapshot]
_CHILD_DECODER = msgspec.msgpack.Decoder(ChildOrderSent)
_FILL_DECODER = msgspec.msgpack.Decoder(VenueFill)


@dataclass
class RunResult:
    day: Path
    frames: int
    rows: int
    wall_s: float
    journal_sha256: str
    by_source: dict[int, int] = field(default_factory=dict)

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.wall_s if self.wall_s else 0.0


def session_ns(day: dt.date, hhmm: str) -> int:
    h, m = (int(x) for x in hhmm.split(":")[:2])
    return local_midnight_ns(day, TZ) + (h * 3600 + m * 60) * 1_000_000_000


class DayRun:
    """One backtest day: the apps on the stream kit, and the plant's core, in lockstep."""

    def __init__(self, day: Path, date: dt.date, rd: RefData, feed: FeedBatch,
                 apps: list[App], requests: list[ClientRequest], *, seed: int,
                 end_ns: int, subscribe: list[str] | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 market: SimMarket | None = None) -> None:
        self.day = day
        self.market = market  # None: the plain fill model (no SimMarket frame)
        self.mover: MarketMover | None = None
        if market is not None and market.impact:
            params = ImpactParams(market.impact_y, market.impact_permanent,
                                  market.impact_decay_s)
            self.mover = MarketMover(ImpactBook(params, stats_of(rd)),
                                     {s.name: s.id for s in rd.symbols})
        self.date = date
        self.rd = rd
        self.feed = feed
        self.end_ns = end_ns
        self.seed = seed
        self.progress = progress
        self.subscribe = subscribe or []
        self.midnight = local_midnight_ns(date, TZ)
        self.core = PlantCore(rd, feed, self.midnight)
        if self.mover is not None:
            self.core.reprice = self.mover
        self.apps = apps
        self.requests = sorted(requests, key=lambda r: (r.at_ns, r.line))
        self._next_req = 0
        self.plant_cmds: list[tuple[int, bytes]] = []
        self.kit: StreamKit | None = None

    def _command(self, seq: int, frame: bytes) -> None:
        self.plant_cmds.append((seq, frame))

    # ---------------------------------------------------------------- the sequencer

    def _catch_up(self, kit: StreamKit, t: int) -> None:
        """Everything due before stream time `t`: client requests and app timers. (A
        tick carries its deadline as its event time.)"""
        reqs = self.requests
        while True:
            at_req = reqs[self._next_req].at_ns if self._next_req < len(reqs) else NEVER
            deadline = kit.next_deadline()
            nxt = min(at_req, deadline)
            if nxt > t:
                return
            if at_req <= deadline:
                r = reqs[self._next_req]
                self._next_req += 1
                kit.input(sources.CLIENT_GATEWAY, TYPE_ID[type(r.msg)], encode(r.msg),
                          event_ns=r.at_ns)
            else:
                kit.input(sources.SEQUENCER, _CLOCK_TICK, _TICK_PAYLOAD, event_ns=deadline)

    def _emit(self, type_id: int, payload: bytes, event_ns: int, cause: int) -> None:
        assert self.kit is not None
        self._catch_up(self.kit, event_ns)
        if self.mover is not None and type_id == _SNAPSHOT:
            # (quotes and prints the plant moves itself as it makes them: `reprice`)
            payload = self.mover.payload(type_id, payload, max(event_ns, self.kit.now))
        self.kit.input(sources.TICKER_PLANT, type_id, payload, event_ns=event_ns,
                       cause_seq=cause)

    def _plant_commands(self) -> None:
        while self.plant_cmds:
            cmds, self.plant_cmds = self.plant_cmds, []
            for seq, frame in cmds:
                self.core.on_frame(seq, int.from_bytes(frame[36:38], "little"), frame[80:],
                                   self._emit)

    # ---------------------------------------------------------------- the day

    def run(self) -> RunResult:
        t0 = time.perf_counter()
        kit = self.kit = StreamKit(self.apps, refdata=self.rd, start_ns=self.midnight,
                                   journal=self.day / "journal", flush_bytes=FLUSH_BYTES,
                                   keep=False)
        kit.watch(Subscribe, self._command)
        kit.watch(Unsubscribe, self._command)
        if self.mover is not None:
            mover = self.mover

            def child(_seq: int, frame: bytes) -> None:
                mover.on_child(_CHILD_DECODER.decode(frame[HEADER_SIZE:]))

            def fill(_seq: int, frame: bytes) -> None:
                mover.on_fill(_TS.unpack_from(frame)[0], _FILL_DECODER.decode(
                    frame[HEADER_SIZE:]))

            kit.watch(ChildOrderSent, child)
            kit.watch(VenueFill, fill)
        start = SystemStart(session_date=self.date, seed=self.seed,
                            config_digest="backtest", time_mode="sim",
                            refdata_digest=self.rd.digest)
        kit.input(sources.SEQUENCER, TYPE_ID[SystemStart], encode(start),
                  event_ns=self.midnight)
        if self.market is not None:
            # Before the subscriptions, so that the venue simulator knows its market
            # before the first quote reaches it; at midnight, like SystemStart: it is
            # part of how the day starts, not an event of the session.
            kit.input(sources.SEQUENCER, TYPE_ID[SimMarket], encode(self.market),
                      event_ns=self.midnight)
        for name in self.subscribe:
            sym = self.rd.by_name(name)
            kit.input(sources.TICKER_PLANT, TYPE_ID[Subscribe],
                      encode(Subscribe(sym.id, "backtest")))
        self._plant_commands()
        total = len(self.feed)
        done = 0
        for chunk in self.feed.chunks(CHUNK_ROWS):
            # (rows of symbols nobody follows emit nothing, so requests and timers due
            # before the chunk go in here, not only before an emitted row)
            self._catch_up(kit, chunk[1][0] - 1)
            self._plant_commands()
            self.core.feed_rows(chunk, self._emit)
            self._plant_commands()
            done += len(chunk[0])
            if self.progress is not None:
                self.progress(done, total)
        self.core.finish(self._emit)
        self._catch_up(kit, self.end_ns)
        kit.input(sources.SEQUENCER, TYPE_ID[SystemStop], encode(SystemStop("backtest over")),
                  event_ns=self.end_ns)
        kit.close()
        return RunResult(self.day, kit.seq, total, time.perf_counter() - t0,
                         kit.journal_sha256, dict(sorted(kit.source_seqs.items())))


def window_feed(feed: FeedBatch, start_ns: int, end_ns: int) -> FeedBatch:
    """The rows of [start_ns, end_ns] (the rest of a recorded day is pre- and post-market)."""
    mask = (feed.t_ns >= start_ns) & (feed.t_ns <= end_ns)
    return feed.select(np.asarray(mask))


__all__ = ["DayRun", "RunResult", "session_ns", "window_feed"]
