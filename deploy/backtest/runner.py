"""A recorded day in sim time, in one process, as fast as it goes.

The parts are the production ones: the ticker plant's deciding core
(`marketdata.plant.PlantCore`) on the recorded files, a sequencer's stamping and
journal (`sequencer.frames.stamp`, `sequencer.journal.JournalWriter`), and the
apps under the same `AppEngine` the live runner uses: the OMS, the algo engine
and the venue simulator's fill model as an app (`fix_gateways.venue_sim.app`).
What differs from a live day is only who waits for whom: here every app has
handled a frame, and everything it published in answer has been sequenced, before
the next market data row goes in (zero latency between apps), and the clock is
the recorded data's. That lockstep is what makes a backtest byte-identical run
after run; the journal is a day's journal like any other (`tape replay DAY
--app oms --app algo --app venue_sim --verify` checks it).

Sequencing rules:
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
import hashlib
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deploy.backtest.orders import ClientRequest
from marketdata.feed import FeedBatch
from marketdata.plant import PlantCore
from refdata.model import RefData, local_midnight_ns
from sequencer.frames import encode_input, stamp
from sequencer.journal import JournalWriter
from sequencer.messages import TYPE_ID, decode, encode
from sequencer.messages.control import ClockTick, SystemStart, SystemStop
from sequencer.messages.marketdata import Subscribe, Unsubscribe
from sequencer.runtime.app import App
from sequencer.runtime.context import NEVER, Output
from sequencer.runtime.engine import AppEngine

TZ = "America/New_York"
SEQUENCER_SOURCE = 0
PLANT_SOURCE = 30
CLIENT_SOURCE = 60  # client orders come in as the client gateway puts them
CHUNK_ROWS = 512
FLUSH_BYTES = 8 << 20
_PLANT_COMMANDS = (TYPE_ID[Subscribe], TYPE_ID[Unsubscribe])
_CLOCK_TICK = TYPE_ID[ClockTick]
_TICK_PAYLOAD = encode(ClockTick())
_TYPE = struct.Struct("<36xH")  # a frame's type id


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
    """One backtest day: the apps, the plant's core and the journal, in lockstep."""

    def __init__(self, day: Path, date: dt.date, rd: RefData, feed: FeedBatch,
                 apps: list[App], requests: list[ClientRequest], *, seed: int,
                 end_ns: int, subscribe: list[str] | None = None,
                 progress: Callable[[int, int], None] | None = None) -> None:
        self.day = day
        self.date = date
        self.rd = rd
        self.feed = feed
        self.end_ns = end_ns
        self.seed = seed
        self.progress = progress
        self.subscribe = subscribe or []
        self.midnight = local_midnight_ns(date, TZ)
        self.core = PlantCore(rd, feed, self.midnight)
        self.engines = [AppEngine(a, self._collect, refdata_loader=self._refdata)
                        for a in apps]
        self.requests = sorted(requests, key=lambda r: (r.at_ns, r.line))
        self._next_req = 0
        self.pending: deque[bytes] = deque()
        self.plant_cmds: list[tuple[int, bytes]] = []
        self.seq = 0
        self.ts = self.midnight
        self.source_seqs: dict[int, int] = {}
        self.buf = bytearray()
        self.buf_first = 1
        self.digest = hashlib.sha256()
        self.writer = JournalWriter(day / "journal")

    def _refdata(self, digest: str) -> RefData:
        if digest != self.rd.digest:
            raise ValueError(f"the day names ref data {digest[:12]}, the backtest loaded "
                             f"{self.rd.digest[:12]}")
        return self.rd

    def _collect(self, out: Output) -> None:
        self.pending.append(out.comparable())

    # ---------------------------------------------------------------- the sequencer

    def _record(self, source: int, type_id: int, payload: bytes, event_ns: int,
                cause: int = 0) -> bytes:
        n = self.source_seqs.get(source, 0) + 1
        self.source_seqs[source] = n
        return encode_input(source, type_id, n, payload, cause_seq=cause, event_ns=event_ns)

    def _sequence(self, rec: bytes, event_ns: int) -> None:
        self.ts = max(self.ts, event_ns)
        self.seq += 1
        frame = stamp(rec, self.seq, self.ts, 0)
        self.buf += frame
        if len(self.buf) >= FLUSH_BYTES:
            self._flush()
        batch = [frame]
        for eng in self.engines:
            eng.feed(batch)
        typ = _TYPE.unpack_from(frame)[0]
        if typ in _PLANT_COMMANDS:
            self.plant_cmds.append((self.seq, frame))

    def _drain(self) -> None:
        pending = self.pending
        while pending:
            rec = pending.popleft()
            # app outputs come as comparable records: their source counts are their own
            src, sseq = struct.unpack_from("<I4xQ", rec)
            self.source_seqs[src] = sseq
            self._sequence(rec, 0)

    def _flush(self) -> None:
        if self.buf:
            data = bytes(self.buf)
            self.writer.append(data, self.buf_first)
            self.digest.update(data)
            self.buf_first = self.seq + 1
            self.buf = bytearray()

    def _deadline(self) -> int:
        return min((e.ctx._deadline for e in self.engines), default=NEVER)

    def _catch_up(self, t: int) -> None:
        """Everything due before stream time `t`: client requests and app timers."""
        reqs = self.requests
        while True:
            at_req = reqs[self._next_req].at_ns if self._next_req < len(reqs) else NEVER
            deadline = self._deadline()
            nxt = min(at_req, deadline)
            if nxt > t:
                return
            if at_req <= deadline:
                r = reqs[self._next_req]
                self._next_req += 1
                self._sequence(self._record(CLIENT_SOURCE, TYPE_ID[type(r.msg)],
                                            encode(r.msg), r.at_ns), r.at_ns)
            else:
                self._sequence(self._record(SEQUENCER_SOURCE, _CLOCK_TICK, _TICK_PAYLOAD,
                                            deadline), deadline)
            self._drain()

    def _emit(self, type_id: int, payload: bytes, event_ns: int, cause: int) -> None:
        self._catch_up(event_ns)
        self._sequence(self._record(PLANT_SOURCE, type_id, payload, event_ns, cause), event_ns)
        self._drain()

    def _plant_commands(self) -> None:
        while self.plant_cmds:
            cmds, self.plant_cmds = self.plant_cmds, []
            for seq, frame in cmds:
                typ = _TYPE.unpack_from(frame)[0]
                self.core.on_command(decode(typ, frame[80:]), seq, self._emit)

    # ---------------------------------------------------------------- the day

    def run(self) -> RunResult:
        t0 = time.perf_counter()
        self.writer.open()
        if self.writer.state.last_seq:
            raise FileExistsError(f"{self.day / 'journal'} already holds a journal")
        start = SystemStart(session_date=self.date, seed=self.seed,
                            config_digest="backtest", time_mode="sim",
                            refdata_digest=self.rd.digest)
        self._sequence(self._record(SEQUENCER_SOURCE, TYPE_ID[SystemStart], encode(start),
                                    self.midnight), self.midnight)
        self._drain()
        for name in self.subscribe:
            sym = self.rd.by_name(name)
            self._sequence(self._record(PLANT_SOURCE, TYPE_ID[Subscribe],
                                        encode(Subscribe(sym.id, "backtest")), 0), 0)
        self._plant_commands()
        total = len(self.feed)
        done = 0
        for chunk in self.feed.chunks(CHUNK_ROWS):
            # (rows of symbols nobody follows emit nothing, so requests and timers due
            # before the chunk go in here, not only before an emitted row)
            self._catch_up(chunk[1][0] - 1)
            self._plant_commands()
            self.core.feed_rows(chunk, self._emit)
            self._plant_commands()
            done += len(chunk[0])
            if self.progress is not None:
                self.progress(done, total)
        self.core.finish(self._emit)
        self._catch_up(self.end_ns)
        self._sequence(self._record(SEQUENCER_SOURCE, TYPE_ID[SystemStop],
                                    encode(SystemStop("backtest over")), self.end_ns),
                       self.end_ns)
        self._drain()
        self._flush()
        self.writer.sync()
        self.writer.close()
        return RunResult(self.day, self.seq, total, time.perf_counter() - t0,
                         self.digest.hexdigest(), dict(sorted(self.source_seqs.items())))


def window_feed(feed: FeedBatch, start_ns: int, end_ns: int) -> FeedBatch:
    """The rows of [start_ns, end_ns] (the rest of a recorded day is pre- and post-market)."""
    mask = (feed.t_ns >= start_ns) & (feed.t_ns <= end_ns)
    return feed.select(np.asarray(mask))


__all__ = ["DayRun", "RunResult", "session_ns", "window_feed"]
