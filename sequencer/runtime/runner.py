"""`tape app run NAME --day DIR`: one app, one process, live on the stream.

Start-up: load the app's latest snapshot (if any), then catch up from the
journal and follow the live stream through one `StreamSubscriber`, which hands
over from journal to live by sequence number with no gap and no duplicate.

Outputs: the engine numbers every output (the app's source sequence). Those
the stream already recorded when the app started are only compared with the
recording (a difference stops the app with a `DeterminismError`); the rest are
published. A resend of something the sequencer already has is dropped by its
dedup, so a crash at any moment neither loses nor duplicates an output.

The app outlives its sequencer: while the sequencer is away (a crash, a
restart) an output waits for it, the app says so once on stderr and in its log,
and carries on when it is back (`StreamPublisher`'s `wait`). At the day's
`SystemStop` the app has done its work: it writes a last snapshot and status
and exits.

Under systemd the runner, never the app, speaks `sd_notify` (`sequencer.notify`):
READY=1 once the status it has just written says `caught_up` (the app's health rule),
WATCHDOG=1 and a STATUS= line (seq) from the loop's half-second status point and while
it waits for the sequencer, STOPPING=1 at the day's SystemStop or a stop request.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from sequencer import sources
from sequencer.config import TransportConfig
from sequencer.inject import stream_position
from sequencer.journal import JournalCorruption
from sequencer.messages.control import Alert
from sequencer.notify import Notifier
from sequencer.runtime.context import Output
from sequencer.runtime.engine import (
    AppEngine,
    DeterminismError,
    RefDataUnavailable,
    UndecodableFrame,
)
from sequencer.runtime.registry import load, refdata_loader
from sequencer.runtime.snapshots import SnapshotStore
from sequencer.transport import (
    HeapFreezer,
    StreamPublisher,
    StreamSubscriber,
    TransportError,
    connect,
    make_idle,
)

log = structlog.get_logger("runner")

APP_STATUS_SUFFIX = ".status.json"
# The status's state hash is refreshed once the stream has been quiet this long (the
# sequencer's idle clock ticks come every 100 ms), and no more often than every
# HASH_SPACING times what the last one cost.
HASH_QUIET_S = 0.05
HASH_SPACING = 50


@dataclass
class RunResult:
    frames: int
    outputs: int
    published: int
    last_seq: int
    state_hash: str
    started_from_snapshot: int


def recorded_outputs(day: Path, source_id: int) -> int:
    """The highest source seq the stream holds from `source_id` (0 if none)."""
    return stream_position(day)[1].get(source_id, 0)


class AppRunner:
    def __init__(self, name: str, day: Path, *, snapshot_every: int = 100_000) -> None:
        self.day = Path(day)
        self.app = load(name)()
        self.engine = AppEngine(self.app, self._sink, on_snapshot_request=self._snapshot_now,
                                refdata_loader=refdata_loader(self.day))
        self.store = SnapshotStore(self.day, self.app.name)
        self.snapshot_every = snapshot_every
        self.published = 0
        self.recorded_max = 0
        self._pub: StreamPublisher | None = None
        self._running = False
        self._last_snapshot_frames = 0
        self._busy_at = 0.0  # monotonic time of the last frames handled
        self._hash_seq = -1
        self._hash = ""
        self._hash_due = 0.0
        self.started_from = 0
        self.stopped_by_stream = False
        self._status_failing = False  # the last status write failed (a full disk)
        self._sd = Notifier()  # systemd's readiness and watchdog (no-ops without it)

    # ---- outputs

    def _sink(self, out: Output) -> None:
        if out.source_seq <= self.recorded_max:
            return  # the stream has it: compare only (the engine's checker does)
        assert self._pub is not None
        self._pub.resend_raw(out.record(time.time_ns()))
        self.published += 1

    def _snapshot_now(self, engine: AppEngine) -> None:
        path = self.store.write(engine.ctx.seq, engine.snapshot())
        self._last_snapshot_frames = engine.frames
        log.info("snapshot_written", app=self.app.name, seq=engine.ctx.seq, path=str(path))

    # ---- life cycle

    def stop(self, *_: object) -> None:
        self._running = False

    def run(self, max_seconds: float | None = None, until_seq: int | None = None) -> RunResult:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        snap = self.store.latest()
        start = 1
        if snap is not None:
            self.engine.restore(snap.data)
            start = snap.seq + 1
            self.started_from = snap.seq
            log.info("snapshot_loaded", app=self.app.name, seq=snap.seq)
        self.recorded_max = recorded_outputs(self.day, self.engine.ctx.source_id)
        cfg = TransportConfig.for_day(self.day)
        aeron = connect(cfg)
        self._running = True
        try:
            self._pub = StreamPublisher(aeron, cfg, self.engine.ctx.source_id,
                                        wait=self._keep_waiting, on_wait=self._say)
            # Outputs produced before the snapshot that never reached the stream.
            for out in sorted(self.engine.checker.pending.values(), key=lambda o: o.source_seq):
                self._sink(out)
            sub = StreamSubscriber(aeron, cfg, self.day / "journal", start)
            try:
                self._loop(sub, make_idle(cfg), max_seconds, until_seq)
            except DeterminismError as e:
                self._alert(aeron, cfg, e)
                raise
            finally:
                sub.close()
        finally:
            aeron.close()
            self._sd.close()
        return RunResult(self.engine.frames, self.engine.outputs, self.published,
                         self.engine.ctx.seq, self.engine.state_hash(), self.started_from)

    def _keep_waiting(self) -> bool:
        """Go on waiting for the sequencer? While it is away an output waits in here, out
        of the loop: the app is alive and doing what it should, so the watchdog hears so."""
        self._sd.beat(lambda: f"{self.app.name}: waiting for the sequencer at seq "
                              f"{self.engine.ctx.seq}")
        return self._running

    def _say(self, text: str) -> None:
        """One line for people (stderr) and the log: what the app is waiting for."""
        sys.stderr.write(f"app {self.app.name}: {text}\n")
        sys.stderr.flush()
        log.warning("app_waiting" if "waiting" in text else "app_resumed", app=self.app.name,
                    text=text)

    def _loop(self, sub: StreamSubscriber, idle: Any, max_seconds: float | None,
              until_seq: int | None) -> None:
        engine = self.engine
        end = None if max_seconds is None else time.monotonic() + max_seconds
        status_at = 0.0
        heap = HeapFreezer()
        while self._running:
            batch = sub.poll(4096)
            if batch:
                if until_seq is not None and engine.ctx.seq + len(batch) >= until_seq:
                    batch = batch[: max(0, until_seq - engine.ctx.seq)]
                    engine.feed(batch)
                    break
                engine.feed(batch)
                if engine.stopped_at:
                    # The day is over: a last snapshot (a restart starts from the end).
                    self._snapshot_now(engine)
                    self.stopped_by_stream = True
                    break
                if engine.frames - self._last_snapshot_frames >= self.snapshot_every:
                    self._snapshot_now(engine)
            else:
                assert self._pub is not None
                self._pub.poll_notices()  # a gap notice: resend what the sequencer lost
            idle.idle(len(batch))
            now = time.monotonic()
            if batch:
                self._busy_at = now
            if now >= status_at:
                self._write_status(sub, fresh_hash=(now - self._busy_at >= HASH_QUIET_S
                                                    and now >= self._hash_due))
                status_at = now + 0.5
                heap.tick()
                self._notify(sub)
            if end is not None and now >= end:
                break
        self._sd.stopping(lambda: f"{self.app.name}: stopping at seq {engine.ctx.seq}"
                          + (" (the day's SystemStop)" if self.stopped_by_stream else ""))
        self._write_status(sub, fresh_hash=True)

    def _notify(self, sub: StreamSubscriber) -> None:
        """systemd, from the status point: READY=1 once the status just written says
        caught up (what the app's health rule looks for), then the watchdog."""
        sd = self._sd
        if not sd.on:
            return
        seq = self.engine.ctx.seq
        if not sd.is_ready and sub.caught_up:
            sd.ready(f"{self.app.name}: caught up at seq {seq}")
        elif sd.is_ready:
            sd.beat(lambda: f"{self.app.name}: at seq {seq}")
        else:
            sd.beat(lambda: f"{self.app.name}: catching up from the journal, at seq {seq}")

    def _alert(self, aeron: Any, cfg: TransportConfig, err: DeterminismError) -> None:
        """Put the failure on the stream for everyone to see, from the runtime's own source
        (the app's outputs must stay exactly what the app produces)."""
        source = sources.runtime_alerts(self.engine.ctx.source_id)
        try:
            pub = StreamPublisher(aeron, cfg, source, recorded_outputs(self.day, source) + 1)
            pub.publish(Alert(severity="critical", source=f"runtime:{self.app.name}",
                              text=err.describe()[:4000], code="determinism"))
        except TransportError as e:
            log.error("alert_not_sent", app=self.app.name, error=str(e))

    def _write_status(self, sub: StreamSubscriber, fresh_hash: bool) -> None:
        """The status file. The state hash encodes the whole state (tens of ms for an OMS
        with a day of orders), so it is brought up to date only when the stream has been
        quiet for `HASH_QUIET_S` (and not too often, `HASH_SPACING`), or at the end:
        `state_hash_seq` says where it was taken."""
        path = self.day / "apps" / f"{self.app.name}{APP_STATUS_SUFFIX}"
        path.parent.mkdir(parents=True, exist_ok=True)
        if fresh_hash and self._hash_seq != self.engine.ctx.seq:
            t0 = time.monotonic()
            self._hash_seq, self._hash = self.engine.ctx.seq, self.engine.state_hash()
            t1 = time.monotonic()
            self._hash_due = t1 + HASH_SPACING * (t1 - t0)
        st = {
            "app": self.app.name,
            "pid": os.getpid(),  # for `tape status`: is the process that wrote this alive
            "seq": self.engine.ctx.seq,
            "frames": self.engine.frames,
            "outputs": self.engine.outputs,
            "published": self.published,
            "caught_up": sub.caught_up,
            "from_journal": sub.from_journal,
            "from_live": sub.from_live,
            "state_hash": self._hash,
            "state_hash_seq": self._hash_seq,
            "waiting_for_sequencer": self._pub is not None and self._pub.waiting,
            "stopped_by_stream": self.stopped_by_stream,
            "updated_wall_ns": time.time_ns(),
        }
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(st))
            tmp.replace(path)
        except OSError as e:
            # A full disk (the sequencer pauses the day then) must not take the app down:
            # the status is a report, written again half a second later.
            tmp.unlink(missing_ok=True)
            if not self._status_failing:
                log.warning("status_not_written", app=self.app.name, error=str(e))
            self._status_failing = True
        else:
            self._status_failing = False


def run_app(name: str, day: Path, *, snapshot_every: int = 100_000,
            max_seconds: float | None = None, until_seq: int | None = None) -> int:
    """Run one app; the process exit code (1 on a determinism failure, a frame it cannot
    decode, a damaged journal or ref data it cannot load)."""
    runner = AppRunner(name, day, snapshot_every=snapshot_every)
    try:
        res = runner.run(max_seconds, until_seq)
    except DeterminismError as e:
        sys.stderr.write(e.describe() + "\n")
        log.error("determinism_failure", app=name, seq=e.seq, source_seq=e.source_seq,
                  why=e.why)
        return 1
    except UndecodableFrame as e:
        # The app cannot go past this frame: one line saying where, no traceback (a restart
        # stops at the same frame until the journal or the build is put right).
        sys.stderr.write(f"error: {e}\n")
        log.error("undecodable_frame", app=name, seq=e.seq, type_id=e.type_id,
                  source_id=e.source_id, why=e.why)
        return 1
    except (JournalCorruption, RefDataUnavailable) as e:
        sys.stderr.write(f"error: {e}\n")
        log.error("cannot_run", app=name, error=str(e))
        return 1
    sys.stderr.write(
        f"app {name}: {res.frames} frames, {res.outputs} outputs ({res.published} published), "
        f"last seq {res.last_seq}, state {res.state_hash[:16]}"
        + (" (the day's SystemStop: done)" if runner.stopped_by_stream else "") + "\n"
    )
    return 0
