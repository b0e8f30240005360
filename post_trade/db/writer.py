"""`tape db run --day DAY`: the day's stream into a database, exactly once, live.

The writer is an edge consumer: it follows the stream as an app does (the
journal from its position, then the live stream through a `StreamSubscriber`,
which fills any gap from the journal), decides nothing, and may publish only
Alerts. The sequencer never waits for it: it may fall behind, crash or be
stopped at any moment.

Exactly once. Each batch of frames is written in one transaction that also
moves the day's position (`tape_writer.last_seq`); a restart reads the
position and goes on from the next frame. A crash loses only an uncommitted
batch, which the journal still has.

Batches. A batch is committed when it holds `batch_frames` frames, when the
stream time it spans reaches `batch_ms`, or when the stream has nothing more
for now and the last commit is `idle_commit_ms` old: behind, the writer
writes big batches; caught up, small ones soon after the frames arrive.

Lag. The status file (`DAY/db/writer.status.json`, or `writer-<id>.status.json`
for a PostgreSQL URL) says every half second where the writer is and how far
behind the sequencer, in frames and in stream seconds. Past `lag_frames` or
`lag_s` a warning Alert (`db_lag`) goes on the stream, and an info Alert
(`db_lag_recovered`) when the lag is back under half of both. A day in `sim`
time (a replayed market's clock, running at the replay's pace) is held to the
frame bound only: its stream seconds say nothing about how stale the database is.

The database away (stopped, full, refusing the password): nothing is lost.
The writer says so in one line, puts an error Alert (`db_down`) on the
stream, drops its uncommitted batch, and retries with back-off (to
`retry_max_s`); once the database answers it reads its position there and
reads the journal from that frame on, and says so (`db_up`).

At the day's `SystemStop` it commits, writes its status and exits 0.

Under systemd (`sequencer.notify`): READY=1 once its status says "running" (the store
is open and claimed: the writer's health rule), WATCHDOG=1 and a STATUS= line (seq,
lag) from the loop's half-second status point and from the back-off while the database
is away, STOPPING=1 when it stops cleanly (its SystemStop, a stop request).
"""

# determinism: edge module, database and stream I/O

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from post_trade.db.batch import Batch
from post_trade.db.load import day_start, journal_id, symbol_rows
from post_trade.db.service import QueryServer
from post_trade.db.stores import (
    DEFAULT_FILE,
    Store,
    StoreError,
    StoreUnavailable,
    mask,
    open_store,
)
from sequencer import sources
from sequencer.journal import JournalReader
from sequencer.messages.control import Alert
from sequencer.notify import Notifier

log = structlog.get_logger("db_writer")


@dataclass
class WriterConfig:
    batch_frames: int = 20_000
    batch_ms: int = 250  # stream time a batch may span
    idle_commit_ms: int = 20  # caught up: commit what is pending once the last commit is this old
    lag_frames: int = 200_000
    lag_s: float = 30.0
    retry_max_s: float = 10.0


@dataclass
class WriterStats:
    frames: int = 0
    rows: int = 0
    commits: int = 0
    outages: int = 0
    alerts: int = 0
    # Wall-clock lag of each committed frame (commit time minus the sequencer's receive
    # time), when asked for (`tape bench db`).
    lag_ns: list[int] = field(default_factory=list)


def status_path(day: Path, url: str | None) -> Path:
    """Where the writer of `day` into `url` (the day's DuckDB file if None) reports."""
    if not url:
        return Path(day) / "db" / "writer.status.json"
    tag = hashlib.sha256(mask(url).encode()).hexdigest()[:8]
    return Path(day) / "db" / f"writer-{tag}.status.json"


class _Link:
    """The writer's attachment to the day's transport: one Aeron client, kept for the
    writer's life (its Alerts' publisher lives on it), made when first needed."""

    def __init__(self, day: Path) -> None:
        self.day = day
        self.aeron: Any = None
        self.cfg: Any = None

    def connect(self) -> str | None:
        """None once connected, else why not (yet)."""
        from sequencer.config import TransportConfig
        from sequencer.transport import TransportError, connect

        if self.aeron is not None:
            return None
        try:
            self.cfg = TransportConfig.for_day(self.day)
            self.aeron = connect(self.cfg, timeout_s=1.0)
        except TransportError as e:
            return str(e)
        return None

    def close(self) -> None:
        if self.aeron is not None:
            self.aeron.close()
            self.aeron = None


class _Source:
    """The frames from `next_seq`: the journal alone while it has them (a finished day
    needs no transport), then the live stream."""

    def __init__(self, day: Path, next_seq: int, max_frames: int = 8192) -> None:
        self.day = day
        self.max_frames = max_frames
        self.next_seq = next_seq
        self._reader: JournalReader | None = JournalReader(day / "journal", next_seq)
        self._sub: Any = None
        self.live = False

    def poll(self) -> list[bytes]:
        if self._reader is not None:
            raws = self._reader.read_raw(self.max_frames)
            if raws:
                self.next_seq = self._reader.next_seq
                return raws
            self._reader.close()
            self._reader = None
        if self._sub is None:
            return []
        live: list[bytes] = self._sub.poll(self.max_frames)
        if live:
            self.next_seq = self._sub.next_seq
        return live

    @property
    def from_journal(self) -> bool:
        return self._reader is not None

    def go_live(self, link: _Link) -> str | None:
        """Follow the live stream from `next_seq`; None, or why not (yet)."""
        from sequencer.transport import StreamSubscriber, TransportError

        why = link.connect()
        if why is not None:
            return why
        try:
            self._sub = StreamSubscriber(link.aeron, link.cfg, self.day / "journal",
                                         self.next_seq)
        except TransportError as e:
            return str(e)
        self.live = True
        return None

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._sub is not None:
            self._sub.close()
            self._sub = None
        self.live = False


class DbWriter:
    def __init__(self, day: Path, url: str | None = None, cfg: WriterConfig | None = None,
                 *, keep_lag: bool = False, quiet: bool = False) -> None:
        self.day = Path(day)
        self.url = url
        self.cfg = cfg or WriterConfig()
        self.where = mask(url) if url else str(self.day / DEFAULT_FILE)
        self.stats = WriterStats()
        self.keep_lag = keep_lag
        self.quiet = quiet
        start = day_start(self.day)
        self.date = start.session_date
        # In `sim` time the stream's clock runs at the replay's pace: seconds of it say
        # nothing about how stale the database is, so only frames are held to a bound.
        self.sim_time = start.time_mode == "sim"
        self.store: Store | None = None
        self.last_seq = 0
        self.last_ts_ns = 0
        self.stopped_by_stream = False
        self.state = "starting"
        self.lagging = False
        self.db_down = False
        self._running = True
        self._pub: Any = None
        self._head = (0, 0)  # the sequencer's last seq and stream time, as last seen
        self._status_at = 0.0  # when the status file was last written (monotonic)
        self._sd = Notifier()  # systemd's readiness and watchdog (no-ops without it)

    # ---- life cycle

    def stop(self, *_: object) -> None:
        self._running = False

    def say(self, text: str) -> None:
        """One line for people (stderr) and the log."""
        if not self.quiet:
            sys.stderr.write(f"db writer: {text}\n")
            sys.stderr.flush()
        log.info("db_writer", day=str(self.day), where=self.where, text=text)

    def _connect(self, first: bool) -> bool:
        """Open the store (retrying while it is unavailable); False if asked to stop.
        Refusals that a retry cannot cure (another writer, another schema) raise."""
        delay = 0.25
        while self._running:
            try:
                self.store = open_store(self.day, self.url)
                self.store.claim(self.date, journal_id(self.day))
                symbols = symbol_rows(self.day) if first else []
                if symbols:
                    self.store.put_symbols(self.date, symbols)
                self.last_seq, self.last_ts_ns, self.stopped_by_stream = self.store.position(
                    self.date)
                return True
            except StoreUnavailable as e:
                if self.store is not None:
                    self.store.close()
                    self.store = None
                self._down(str(e))
                self._sleep(delay)
                delay = min(delay * 2, self.cfg.retry_max_s)
        return False

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while self._running and time.monotonic() < end:
            time.sleep(min(0.05, seconds))
            self._write_status()
            self._notify()  # alive: waiting for the database

    def _down(self, why: str) -> None:
        if not self.db_down:
            self.db_down = True
            self.stats.outages += 1
            self.state = "database unavailable"
            self.say(f"database unavailable ({why}); nothing is lost: retrying, and going on "
                     f"from the last committed frame ({self.last_seq})")
            self._alert("error", "db_down", f"database writer: {self.where} unavailable "
                        f"({why[:300]}); retrying from seq {self.last_seq}")

    def _up(self) -> None:
        if self.db_down:
            self.db_down = False
            self.say(f"database back: going on from seq {self.last_seq + 1}")
            self._alert("info", "db_up", f"database writer: {self.where} back, writing from "
                        f"seq {self.last_seq + 1}")

    def run(self, max_seconds: float | None = None) -> int:
        """Write until the day's SystemStop (0), a stop request (0) or `max_seconds`."""
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        end = None if max_seconds is None else time.monotonic() + max_seconds
        if not self._connect(first=True):
            return 0
        assert self.store is not None
        if self.stopped_by_stream:
            self.say(f"{self.date} is all in {self.where} already (to its SystemStop, seq "
                     f"{self.last_seq}): nothing to do")
            self.store.close()
            self._write_status()
            self._sd.stopping(f"db writer: {self.date} is all in already")
            self._sd.close()
            return 0
        self.say(f"writing {self.date} ({self.day}) into {self.where}, from seq "
                 f"{self.last_seq + 1}")
        src = _Source(self.day, self.last_seq + 1, min(8192, self.cfg.batch_frames))
        server = None if self.url else QueryServer(self.day, self.store)
        link = _Link(self.day)
        batch = Batch()
        last_commit = time.monotonic()
        status_at = 0.0
        live_retry_at = 0.0
        said_waiting = False
        try:
            while self._running:
                now = time.monotonic()
                if end is not None and now >= end:
                    break
                raws = src.poll()
                if raws:
                    batch.extend(raws)
                if now >= status_at:
                    # Before the commit: the lag is what the stream has that the database
                    # does not, and frames just read are not in the database yet.
                    self._lag_check()
                    self._write_status()
                    self._notify()
                    status_at = now + 0.5
                due = bool(batch) and (
                    len(batch) >= self.cfg.batch_frames
                    or batch.last_ts_ns - batch.first_ts_ns >= self.cfg.batch_ms * 1_000_000
                    or batch.stopped
                    or (not raws and (now - last_commit) * 1000 >= self.cfg.idle_commit_ms))
                if due:
                    if not self._commit(batch):
                        # The database went away: start again from its position.
                        src.close()
                        batch = Batch()
                        if not self._connect(first=False):
                            break
                        if server is not None:
                            server.store = self.store
                        self._up()
                        src = _Source(self.day, self.last_seq + 1, min(8192, self.cfg.batch_frames))
                        continue
                    batch = Batch()
                    last_commit = time.monotonic()
                    if self.stopped_by_stream:
                        self.say(f"the day's SystemStop (seq {self.last_seq}) is written: done")
                        break
                if not raws and not src.from_journal and not src.live and now >= live_retry_at:
                    why = src.go_live(link)
                    if why is None:
                        if self._pub is None:
                            self._publisher(link)
                        if said_waiting:
                            self.say("following the live stream")
                    elif not said_waiting:
                        said_waiting = True
                        self.say(f"caught up at seq {self.last_seq}; waiting for the day's "
                                 f"stream ({why})")
                    live_retry_at = now + 1.0
                if server is not None:
                    server.serve()
                if not raws:
                    time.sleep(0.0005)
            self._sd.stopping(lambda: f"db writer: stopping at seq {self.last_seq}")
        finally:
            src.close()
            if self._pub is not None:
                self._pub.close()
                self._pub = None
            link.close()
            if server is not None:
                server.close()
            self._write_status()
            if self.store is not None:
                self.store.close()
            self._sd.close()
        return 0

    def _notify(self) -> None:
        """systemd, from the status points: READY=1 once the status just written says
        "running" (the writer's health rule), then the watchdog."""
        sd = self._sd
        if not sd.on:
            return
        if not sd.is_ready and not self.db_down and not self.stopped_by_stream:
            sd.ready(f"db writer: writing into {self.where} from seq {self.last_seq + 1}")
            return
        frames, _secs = self.lag
        sd.beat(lambda: ("db writer: database unavailable, retrying" if self.db_down else
                         f"db writer: at seq {self.last_seq}, {frames} frames behind"))

    # ---- writing

    def _commit(self, batch: Batch) -> bool:
        assert self.store is not None
        try:
            self.store.write(self.date, batch)
        except StoreUnavailable as e:
            self.store.close()
            self.store = None
            self._down(str(e))
            return False
        self.last_seq, self.last_ts_ns = batch.last_seq, batch.last_ts_ns
        self.stats.frames += len(batch)
        self.stats.rows += batch.row_count
        self.stats.commits += 1
        if time.monotonic() - self._status_at >= 0.02:
            self._write_status()  # position news is worth a small file every 20 ms
        if batch.stopped:
            self.stopped_by_stream = True
        if self.keep_lag:
            now = time.time_ns()  # determinism: allowed, the bench's wall-clock lag telemetry
            self.stats.lag_ns.extend(now - int.from_bytes(r[24:32], "little", signed=True)
                                     for r in batch.raws)
        return True

    # ---- lag, alerts, status

    def _lag_check(self) -> None:
        from sequencer.service import STATUS_FILE

        head_seq, head_ts = self._head
        try:
            st = json.loads((self.day / STATUS_FILE).read_text())
            head_seq, head_ts = max(head_seq, int(st["last_seq"])), max(head_ts,
                                                                        int(st["last_ts"]))
        except (OSError, ValueError, KeyError):
            pass
        self._head = (max(head_seq, self.last_seq), max(head_ts, self.last_ts_ns))
        frames, secs = self.lag
        if self.sim_time:
            secs = 0.0
        if not self.lagging and (frames > self.cfg.lag_frames or secs > self.cfg.lag_s):
            self.lagging = True
            self._alert("warning", "db_lag", f"database writer {frames} frames, {secs:.1f} s "
                        f"behind the sequencer (bound {self.cfg.lag_frames} frames, "
                        f"{self.cfg.lag_s:g} s)")
        elif self.lagging and frames <= self.cfg.lag_frames / 2 and secs <= self.cfg.lag_s / 2:
            self.lagging = False
            self._alert("info", "db_lag_recovered", f"database writer back within "
                        f"{frames} frames, {secs:.1f} s of the sequencer")

    @property
    def lag(self) -> tuple[int, float]:
        """(frames, stream seconds) the writer is behind the sequencer, as last seen."""
        head_seq, head_ts = self._head
        return (max(0, head_seq - self.last_seq),
                max(0.0, (head_ts - self.last_ts_ns) / 1e9) if self.last_ts_ns else 0.0)

    def _publisher(self, link: _Link) -> None:
        from sequencer.runtime.runner import recorded_outputs
        from sequencer.transport import StreamPublisher, TransportError

        try:
            self._pub = StreamPublisher(link.aeron, link.cfg, sources.DB_WRITER,
                                        recorded_outputs(self.day, sources.DB_WRITER) + 1,
                                        wait_connected_s=2.0)
        except TransportError as e:
            self._pub = None
            log.warning("no_alert_publisher", error=str(e))

    def _alert(self, severity: str, code: str, text: str) -> None:
        """Put an Alert on the stream if the writer follows a live one (a finished day has
        nobody to tell: the line on stderr says it)."""
        if self._pub is None:
            return
        from sequencer.transport import TransportError

        try:
            self._pub.publish(Alert(severity=severity, source="db_writer",  # type: ignore[arg-type]
                                    text=text, code=code), timeout_s=1.0)
            self.stats.alerts += 1
        except TransportError as e:
            log.warning("alert_not_sent", code=code, error=str(e))

    def _write_status(self) -> None:
        self._status_at = time.monotonic()
        path = status_path(self.day, self.url)
        frames, secs = self.lag
        st = {
            "writer": "db", "pid": os.getpid(), "day": str(self.day), "date": self.date.isoformat(),
            "database": self.where, "time_mode": "sim" if self.sim_time else "wall",
            "state": "database unavailable" if self.db_down else (
                "done" if self.stopped_by_stream else "running"),
            "last_seq": self.last_seq, "last_ts_ns": self.last_ts_ns,
            "lag_frames": frames, "lag_s": round(secs, 3), "lagging": self.lagging,
            "frames_written": self.stats.frames, "rows_written": self.stats.rows,
            "commits": self.stats.commits, "outages": self.stats.outages,
            "updated_wall_ns": time.time_ns(),  # determinism: allowed, when the status was seen
        }
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(st))
            tmp.replace(path)
        except OSError as e:  # a full disk must not stop the writer's own retries
            log.warning("status_not_written", error=str(e))


def run_writer(day: Path, url: str | None, cfg: WriterConfig,
               max_seconds: float | None = None) -> int:
    """`tape db run`: the exit code (1: refused, with the reason on stderr)."""
    try:
        w = DbWriter(day, url, cfg)
        code = w.run(max_seconds)
    except StoreError as e:
        sys.stderr.write(f"error: {e}\n")
        return 1
    sys.stderr.write(f"db writer: {w.stats.frames} frames ({w.stats.rows} rows) in "
                     f"{w.stats.commits} commits, at seq {w.last_seq}\n")
    return code
