"""`tape replay`: re-run apps over a journal's inputs, in one process, as fast as possible.

With `verify`, every output an app produces is compared byte for byte
(telemetry aside) with what the stream recorded from it; the report lists the
first mismatches decoded side by side. This is how a new build is tried on a
past day.

The debugger hooks stop in `pdb` just before a frame is handled
(`break_at`), or at the first frame for which an expression over `msg`,
`app`, `frame` and `ctx` is true (`break_when`), with those names in scope;
`step` follows the frame into the app's handler.
"""

from __future__ import annotations

import hashlib
import pdb
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import msgspec

from sequencer import frames
from sequencer.journal import JournalReader
from sequencer.messages import decode
from sequencer.runtime.context import Output
from sequencer.runtime.engine import AppEngine, DeterminismError
from sequencer.runtime.registry import load, refdata_loader


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
    break_at: int | None = None,
    break_when: str | None = None,
    debugger: Callable[[dict[str, Any]], None] | None = None,
    progress: Callable[[int], None] | None = None,
    check_journal: bool = True,
) -> tuple[ReplayReport, list[AppEngine]]:
    """Replay `apps` over the journal of `day` up to seq `until` (inclusive).

    With `check_journal` every frame read is checked (checksum, no seq missing or
    repeated; `JournalCorruption` at the first damaged one); nothing after `until` is
    read. A frame an app cannot decode raises `UndecodableFrame`."""
    engines = make_engines(apps, verify, _day_of(Path(day)))
    report = ReplayReport(verify=verify)
    cond = compile(break_when, "--break-when", "eval") if break_when else None
    stepping = break_at is not None or cond is not None
    broke = False
    debug = debugger or _pdb_stop
    t0 = time.perf_counter()
    with JournalReader(Path(day), 1, verify=check_journal) as reader:
        while True:
            # Never read past `until`: what lies after it (damage included) is not asked for.
            room = 65536 if until is None else min(65536, until - reader.next_seq + 1)
            if room <= 0:
                break
            batch = reader.read_raw(room)
            if not batch:
                break
            if stepping and not broke:
                for raw in batch:
                    for eng, _ in engines:
                        if not broke and _should_break(raw, eng, break_at, cond):
                            broke = True
                            debug(_scope(raw, eng))
                        eng.handle(raw)
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


def _should_break(raw: bytes, eng: AppEngine, break_at: int | None, cond: Any) -> bool:
    seq = int.from_bytes(raw[8:16], "little")
    if break_at is not None:
        return seq == break_at
    scope = _scope(raw, eng)
    try:
        # ops' own expression, evaluated like a debugger's condition
        return bool(eval(cond, {"__builtins__": __builtins__}, scope))
    except Exception:  # an expression that does not apply to this frame is simply false
        return False


def _scope(raw: bytes, eng: AppEngine) -> dict[str, Any]:
    frame = frames.parse_at(raw, 0)
    try:
        msg: Any = decode(frame.type_id, frame.payload)
    except (msgspec.DecodeError, ValueError) as e:
        msg = e
    return {"app": eng.app, "msg": msg, "frame": frame, "ctx": eng.ctx, "engine": eng}


def _pdb_stop(scope: dict[str, Any], stdin: TextIO | None = None,
              stdout: TextIO | None = None) -> None:
    """Stop in pdb with app, msg, frame and ctx as locals; `c` resumes the replay."""
    app, msg, frame, ctx = scope["app"], scope["msg"], scope["frame"], scope["ctx"]
    out = stdout or sys.stdout
    out.write(
        f"--- tape replay: stopped before seq {frame.seq} (stream time {frame.ts_ns}), "
        f"app {app.name!r}, {type(msg).__name__} ---\n"
        "    in scope: app, msg, frame, ctx.  'c' continues, 'q' quits.\n"
    )
    out.flush()
    debugger = pdb.Pdb(stdin=stdin, stdout=stdout)
    if stdin is not None:
        debugger.use_rawinput = False
    debugger.set_trace()
    # The frame is handled right after this function returns.
    del app, msg, frame, ctx
