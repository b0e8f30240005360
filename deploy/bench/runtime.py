"""`tape bench runtime`: replay dispatch speed against a raw decode-only loop.

One journal of `frames` frames (mostly `Probe`, with clock ticks and operator
notes) is written to a temporary folder; then, in the same process and the
same run:
- raw: read the journal and decode every payload, nothing else;
- noop: the same through an `AppEngine` running `NoopApp`, which has a handler
  for every type, so every frame is decoded and dispatched;
- stateful: the same with `CounterApp` (counts, timers, outputs).
Each is timed as the best of `repeat` passes.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import struct
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer

from sequencer import sources
from sequencer.frames import encode_frame
from sequencer.journal import JournalReader, JournalWriter
from sequencer.messages import BY_ID, TYPE_ID, encode
from sequencer.messages.admin import OperatorNote
from sequencer.messages.control import ClockTick, Probe, SystemStart
from sequencer.runtime.engine import AppEngine
from sequencer.runtime.samples import CounterApp, NoopApp

_TYPE = struct.Struct("<36xH")


def write_journal(day: Path, n: int) -> None:
    w = JournalWriter(day / "journal")
    w.open()
    ts = 1_700_000_000_000_000_000
    start = encode(SystemStart(session_date=dt.date(2026, 1, 5), seed=7, config_digest="bench"))
    tick = encode(ClockTick())
    probe_t, tick_t, note_t = TYPE_ID[Probe], TYPE_ID[ClockTick], TYPE_ID[OperatorNote]
    probes = [encode(Probe(n=i)) for i in range(1000)]
    buf = bytearray(encode_frame(1, ts, sources.SEQUENCER, TYPE_ID[SystemStart], 1, start))
    first = 1
    own = 1
    for seq in range(2, n + 1):
        ts += 2_000  # 500,000 frames per stream second
        if seq % 1000 == 0:
            own += 1
            buf += encode_frame(seq, ts, sources.SEQUENCER, tick_t, own, tick)
        elif seq % 10_007 == 0:
            buf += encode_frame(seq, ts, sources.INJECT, note_t, seq,
                                encode(OperatorNote(author="bench", text=f"note {seq}")))
        else:
            buf += encode_frame(seq, ts, sources.bench(0), probe_t, seq, probes[seq % 1000])
        if len(buf) > 1 << 20:
            w.append(buf, first)
            first = seq + 1
            buf = bytearray()
    if buf:
        w.append(buf, first)
    w.close()


def run_raw(day: Path) -> tuple[int, float]:
    decoders = {t: msgspec.msgpack.Decoder(cls).decode for t, cls in BY_ID.items()}
    unpack = _TYPE.unpack_from
    t0 = time.perf_counter()
    n = 0
    with JournalReader(day, 1) as r:
        while True:
            batch = r.read_raw(65536)
            if not batch:
                break
            for raw in batch:
                decoders[unpack(raw)[0]](raw[80:])
            n += len(batch)
    return n, time.perf_counter() - t0


def run_app(day: Path, app: Any) -> tuple[int, float, AppEngine]:
    eng = AppEngine(app)
    t0 = time.perf_counter()
    with JournalReader(day, 1) as r:
        while True:
            batch = r.read_raw(65536)
            if not batch:
                break
            eng.feed(batch)
    return eng.frames, time.perf_counter() - t0, eng


def run_bench(frames: int, repeat: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="tape-bench-runtime-"))
    try:
        write_journal(tmp, frames)
        best: dict[str, float] = {}
        counts: dict[str, int] = {}
        for _ in range(repeat):
            for name in ("raw", "noop", "stateful"):
                if name == "raw":
                    n, s = run_raw(tmp)
                else:
                    n, s, _eng = run_app(tmp, NoopApp() if name == "noop" else CounterApp())
                counts[name] = n
                best[name] = min(best.get(name, float("inf")), s)
        res = {f"{k}_frames_per_s": counts[k] / best[k] for k in best}
        res["frames"] = counts["raw"]
        res["noop_ratio"] = res["noop_frames_per_s"] / res["raw_frames_per_s"]
        res["stateful_ratio"] = res["stateful_frames_per_s"] / res["raw_frames_per_s"]
        return res
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench_runtime(
    json_: Annotated[bool, typer.Option("--json", help="One JSON object on one line.")] = False,
    frames: Annotated[int, typer.Option(help="Frames in the journal.")] = 2_000_000,
    repeat: Annotated[int, typer.Option(help="Passes; the best is kept.")] = 3,
) -> None:
    """Replay dispatch of a no-op and a stateful app, against a raw decode-only loop."""
    from rich.console import Console
    from rich.table import Table

    with Console(stderr=True).status("bench runtime: writing and replaying the journal"):
        res = run_bench(frames, repeat)
    if json_:
        print(json.dumps(res, separators=(",", ":")))
        return
    t = Table(title=f"tape bench runtime ({res['frames']:,} frames, best of {repeat})")
    t.add_column("loop")
    t.add_column("frames/s", justify="right")
    t.add_column("ratio to raw", justify="right")
    t.add_column("target")
    t.add_row("raw decode only", f"{res['raw_frames_per_s']:,.0f}", "1.00", "")
    t.add_row("no-op app (decode + dispatch)", f"{res['noop_frames_per_s']:,.0f}",
              f"{res['noop_ratio']:.2f}", ">= 800,000/s and >= 0.60")
    t.add_row("stateful app (CounterApp)", f"{res['stateful_frames_per_s']:,.0f}",
              f"{res['stateful_ratio']:.2f}", "")
    Console().print(t)
