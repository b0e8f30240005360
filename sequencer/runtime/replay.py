"""`tape replay`: re-run apps over a journal's inputs, in one process, as fast as possible.

With `verify`, every output an app produces is compared byte for byte
(telemetry aside) with what the stream recorded from it; the report lists the
first mismatches decoded side by side. This is how a new build is tried on a
past day.

With breaks, one app replays under the replay debugger
(`sequencer.runtime.debugger`): it stops in the app's own handler for a frame (by
seq, by an expression over `msg`, `app`, `frame` and `ctx`), or where the app
publishes an output (of a type, an Alert, one that differs from the recording).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import msgspec

from sequencer.journal import JournalReader
from sequencer.messages import decode
from sequencer.runtime.context import Output
from sequencer.runtime.debugger import Breaks, ReplayDebugger
from sequencer.runtime.engine import AppEngine, DeterminismError
from sequencer.runtime.registry import load, refdata_loader
from sequencer.runtime.snapshots import SnapshotStore


@dataclass
class AppReport:
    app: str
    source_id: int
    frames: int = 0
    outputs: int = 0
    matched: int = 0
    mismatches: list[DeterminismError] = field(default_factory=list)
    unrecorded: int = 0  # produced after the app's last recorded output (e.g. after SystemStop)
    state_hash: str = ""
    outputs_digest: str = ""

    def to_json(self, show: int = 5) -> dict[str, Any]:
        return {
            "app": self.app,
            "source_id": self.source_id,
            "frames": self.frames,
            "outputs": self.outputs,
            "matched": self.matched,
            "mismatches": len(self.mismatches),
            "first_mismatches": [
                {"seq": e.seq, "source_seq": e.source_seq, "why": e.why, "text": e.describe()}
                for e in self.mismatches[:show]
            ],
            "unrecorded": self.unrecorded,
            "state_hash": self.state_hash,
            "outputs_digest": self.outputs_digest,
        }


@dataclass
class ReplayReport:
    frames: int = 0
    last_seq: int = 0
    seconds: float = 0.0
    verify: bool = False
    apps: list[AppReport] = field(default_factory=list)
    from_snapshot: int = 0  # the debugged app started from its snapshot at this seq

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def mismatches(self) -> int:
        return sum(len(a.mismatches) for a in self.apps)

    def to_json(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "last_seq": self.last_seq,
            "seconds": self.seconds,
            "frames_per_s": self.frames_per_s,
            "verify": self.verify,
            "mismatches": self.mismatches,
            "apps": [a.to_json() for a in self.apps],
        }


class _Digest:
    """Sink that hashes every output in order (what PYTHONHASHSEED tests compare)."""

    def __init__(self) -> None:
        self.h = hashlib.sha256()

    def __call__(self, out: Output) -> None:
        self.h.update(out.comparable())


class _NoCheck:
    """Checker stand-in when not verifying: outputs are produced and counted only."""

    def __init__(self) -> None:
        self.pending: dict[int, Output] = {}
        self.matched = 0
        self.mismatches: list[DeterminismError] = []
        self.produced_before_start = 0

    def produced(self, out: Output) -> None:
        pass

    def recorded(self, raw: bytes, seq: int) -> None:
        pass


def _day_of(path: Path) -> Path:
    """The day folder of a day folder or of its journal folder (where `refdata/` lives)."""
    return path.parent if path.name == "journal" and not (path / "journal").exists() else path


def make_engines(apps: list[str], verify: bool, day: Path | None = None
                 ) -> list[tuple[AppEngine, _Digest]]:
    out = []
    loader = refdata_loader(day) if day is not None else None
    for name in apps:
        digest = _Digest()
        eng = AppEngine(load(name)(), digest, refdata_loader=loader)
        if verify:
            eng.checker.raise_on_mismatch = False
        else:
            eng.checker = _NoCheck()  # type: ignore[assignment]  # same duck type
        out.append((eng, digest))
    return out


def replay(
    day: Path,
    apps: list[str],
    *,
    until: int | None = None,
    verify: bool = False,
    breaks: Breaks | None = None,
    from_start: bool = False,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    progress: Callable[[int], None] | None = None,
    check_journal: bool = True,
    say: Callable[[str], None] = lambda _s: None,
) -> tuple[ReplayReport, list[AppEngine]]:
    """Replay `apps` over the journal of `day` up to seq `until` (inclusive).

    With `check_journal` every frame read is checked (checksum, no seq missing or
    repeated; `JournalCorruption` at the first damaged one); nothing after `until` is
    read. A frame an app cannot decode raises `UndecodableFrame`.

    With `breaks` (one app) the replay runs under the replay debugger
    (`sequencer.runtime.debugger`); a break at a seq starts from the app's newest
    snapshot before it, unless `from_start`. `QuitReplay` if the user quits."""
    engines = make_engines(apps, verify, _day_of(Path(day)))
    report = ReplayReport(verify=verify)
    dbg: ReplayDebugger | None = None
    start = 1
    if breaks is not None and breaks.any:
        eng0 = engines[0][0]
        if breaks.at is not None and not from_start:
            snap = SnapshotStore(_day_of(Path(day)), eng0.name).latest(at_most=breaks.at - 1)
            if snap is not None:
                eng0.restore(snap.data)
                start = snap.seq + 1
                report.from_snapshot = snap.seq
                say(f"from {eng0.name}'s snapshot at seq {snap.seq:,} ({snap.path}): "
                    f"replaying the tail (--from-start replays the whole day)")
        recorded = (_recorded_outputs(Path(day), eng0.ctx.source_id, check_journal)
                    if breaks.on_mismatch and verify else None)
        dbg = ReplayDebugger(eng0, breaks, stdin=stdin, stdout=stdout,
                             recorded=recorded.get if recorded is not None else None)
    t0 = time.perf_counter()
    with JournalReader(Path(day), start, verify=check_journal) as reader:
        while True:
            # Never read past `until`: what lies after it (damage included) is not asked for.
            room = 65536 if until is None else min(65536, until - reader.next_seq + 1)
            if room <= 0:
                break
            batch = reader.read_raw(room)
            if not batch:
                break
            if dbg is not None:
                _debug_batch(dbg, batch, verify)
            else:
                for eng, _ in engines:
                    eng.feed(batch)
            report.frames += len(batch)
            if batch:
                report.last_seq = int.from_bytes(batch[-1][8:16], "little")
            if progress is not None:
                progress(len(batch))
            if until is not None and report.last_seq >= until:
                break
    report.seconds = time.perf_counter() - t0
    for eng, digest in engines:
        ar = AppReport(app=eng.name, source_id=eng.ctx.source_id, frames=eng.frames,
                       outputs=eng.outputs, matched=eng.checker.matched,
                       mismatches=list(eng.checker.mismatches),
                       unrecorded=len(eng.checker.pending) if verify else 0,
                       state_hash=eng.state_hash(), outputs_digest=digest.h.hexdigest())
        report.apps.append(ar)
    return report, [e for e, _ in engines]


def missing_refdata(day: Path) -> Path | None:
    """The ref data folder the day's `SystemStart` needs, when the day folder has none
    (the journal copied without it, or the wrong folder named): a usage error to report
    before replaying, rather than from inside the first app."""
    from sequencer.messages.control import SystemStart

    with JournalReader(Path(day), 1, verify=False) as reader:
        first = reader.read(1)
    if not first:
        return None
    try:
        msg = decode(first[0].type_id, first[0].payload)
    except (msgspec.DecodeError, ValueError):
        return None  # the replay itself reports it
    where = _day_of(Path(day)) / "refdata"
    if isinstance(msg, SystemStart) and msg.refdata_digest and not where.is_dir():
        return where
    return None


def _debug_batch(dbg: ReplayDebugger, batch: list[bytes], verify: bool) -> None:
    """One app's frames one by one, each checked against the breaks."""
    eng = dbg.engine
    checker = eng.checker
    for raw in batch:
        seen = len(checker.mismatches)
        if dbg.wants(raw):
            dbg.handle(raw)
        else:
            eng.handle(raw)
        dbg.after_frame()
        if verify and dbg.stops_on.on_mismatch and len(checker.mismatches) > seen:
            err = checker.mismatches[seen]
            if err.produced is None:
                # What no handler can show: the stream recorded an output the app did not
                # produce. Stop here, after the frame that revealed it. (An output that
                # differs was stopped at where the app published it.)
                dbg.missing_output(err, raw)


def _recorded_outputs(day: Path, source_id: int, check: bool) -> dict[int, bytes]:
    """The outputs the journal recorded from `source_id`, by their source seq."""
    out: dict[int, bytes] = {}
    with JournalReader(day, 1, verify=check) as reader:
        while True:
            batch = reader.read_raw(65536)
            if not batch:
                return out
            for raw in batch:
                if int.from_bytes(raw[32:36], "little") == source_id:
                    out[int.from_bytes(raw[40:48], "little")] = raw
