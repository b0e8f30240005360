"""`tape bench oms`: a generated trading day of client and venue messages through the OMS.

The day is `deploy.bench.oms_day`'s (generated and journaled first). Then, in
the same run, each timed as the best of `repeat` passes over the journal
(read from disk as part of the loop, as `tape bench runtime` does):
- noop: `NoopApp` through an `AppEngine`: every frame decoded and dispatched;
- oms: a fresh `Oms` through an `AppEngine`, whose output checker compares
  every output with the recorded one byte for byte (a difference fails).

`messages` counts the inputs from clients, the algo engine and venues: not
the OMS's outputs, `SystemStart` or clock ticks (all of which are in the
journal and in both passes). Figures: `oms_msgs_per_s = messages / oms_s`,
`noop_msgs_per_s = messages / noop_s`, `oms_ratio` (oms over noop).
Target: `oms_msgs_per_s` at least 150,000 and `oms_ratio` at least 0.20
(`target_met`); a missed target is reported, not an error (exit 0), as in the
other benches. A determinism failure exits 1.
"""

# determinism: edge module, benchmark tooling: wall-clock timing and temporary files

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from deploy.bench.oms_day import SECOND, bench_refdata, generate
from oms.app import Oms
from refdata.model import RefData
from sequencer.journal import JournalReader
from sequencer.runtime.engine import AppEngine, DeterminismError
from sequencer.runtime.samples import NoopApp

TARGETS = {"oms_msgs_per_s": 150_000, "oms_ratio": 0.20}


# ==================================================================== the measurement


def _replay(day: Path, engine: AppEngine) -> float:
    t0 = time.perf_counter()  # determinism: allowed, bench timing
    with JournalReader(day, 1) as r:
        while True:
            batch = r.read_raw(65536)
            if not batch:
                break
            engine.feed(batch)
    return time.perf_counter() - t0  # determinism: allowed, bench timing


def run_oms(day: Path, refdata: RefData) -> tuple[float, AppEngine]:
    """One OMS replay pass over the journal; raises DeterminismError on any difference."""
    eng = AppEngine(Oms(), refdata_loader=lambda digest: refdata)
    s = _replay(day, eng)
    if eng.checker.pending:
        first = min(eng.checker.pending)
        out = eng.checker.pending[first]
        raise DeterminismError(eng.name, 0, first, None, out.comparable(),
                               f"the app produced {len(eng.checker.pending)} output(s) the "
                               "stream did not record")
    return s, eng


def run_bench(messages: int, repeat: int, seed: int = 1,
              progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    def step(what: str, done: int, total: int) -> None:
        if progress is not None:
            progress(what, done, total)

    tmp = Path(tempfile.mkdtemp(prefix="tape-bench-oms-"))
    try:
        step("generating the day", 0, messages)
        t0 = time.perf_counter()  # determinism: allowed, bench timing
        st = generate(tmp, messages, seed, lambda n: step("generating the day", n, messages))
        gen_s = time.perf_counter() - t0  # determinism: allowed, bench timing
        refdata = bench_refdata()
        best = {"noop": float("inf"), "oms": float("inf")}
        matched = 0
        for i in range(repeat):
            step(f"replaying (pass {i + 1} of {repeat})", i, repeat)
            noop = AppEngine(NoopApp(), refdata_loader=lambda digest: refdata)
            best["noop"] = min(best["noop"], _replay(tmp, noop))
            del noop
            s, eng = run_oms(tmp, refdata)
            best["oms"] = min(best["oms"], s)
            matched = eng.checker.matched
            del eng  # a day's OMS state is large: the next pass starts without it
        step("done", repeat, repeat)
        res: dict[str, Any] = {
            "messages": st.messages,
            "frames": st.frames,
            "oms_outputs": st.oms_outputs,
            "oms_outputs_matched": matched,
            "oms_mismatches": st.oms_outputs - matched,
            "noop_s": round(best["noop"], 3),
            "oms_s": round(best["oms"], 3),
            "noop_msgs_per_s": st.messages / best["noop"],
            "oms_msgs_per_s": st.messages / best["oms"],
        }
        res["oms_ratio"] = res["oms_msgs_per_s"] / res["noop_msgs_per_s"]
        res["target_met"] = bool(res["oms_msgs_per_s"] >= TARGETS["oms_msgs_per_s"]
                                 and res["oms_ratio"] >= TARGETS["oms_ratio"])
        res["generate_s"] = round(gen_s, 2)
        res["parents"] = st.parents
        res["children"] = st.children
        res["clock_ticks"] = st.clock_ticks
        res["eod_taken_down"] = st.eod_taken_down
        res["stream_s"] = round((st.last_ns - st.first_ns) / SECOND, 1)
        res["mix"] = st.mix
        res["oms_alerts"] = st.alerts
        res["rejects"] = st.rejects
        return res
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench_oms(
    json_: Annotated[bool, typer.Option("--json", help="One JSON object on one line.")] = False,
    messages: Annotated[int, typer.Option(
        help="Client, algo and venue messages in the generated day (at least).")] = 1_000_000,
    repeat: Annotated[int, typer.Option(help="Passes; the best is kept.")] = 3,
    seed: Annotated[int, typer.Option(help="Seed of the generated day.")] = 1,
) -> None:
    """A generated day of client, algo and venue messages replayed through the OMS,
    against the no-op app's dispatch rate on the same journal."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table as RichTable

    err = Console(stderr=True)
    if messages < 1 or repeat < 1:
        err.print("[red]error:[/red] --messages and --repeat must be at least 1")
        raise typer.Exit(2)
    with Progress(TextColumn("bench oms: {task.description}"), BarColumn(),
                  TextColumn("{task.completed:,}/{task.total:,}"), TimeElapsedColumn(),
                  console=err, transient=True) as prog:
        task = prog.add_task("starting", total=messages)

        def progress(what: str, done: int, total: int) -> None:
            prog.update(task, description=what, completed=done, total=total)

        try:
            res = run_bench(messages, repeat, seed, progress)
        except DeterminismError as e:
            prog.stop()
            err.print(f"[red]error:[/red] the OMS replay differs from the recorded day\n{e}")
            raise typer.Exit(1) from None
    if json_:
        print(json.dumps(res, separators=(",", ":")))
        return
    t = RichTable(title=f"tape bench oms ({res['messages']:,} messages, {res['frames']:,} "
                        f"frames, best of {repeat})")
    t.add_column("loop")
    t.add_column("messages/s", justify="right")
    t.add_column("seconds", justify="right")
    t.add_column("ratio to no-op", justify="right")
    t.add_column("target")
    t.add_row("no-op app (decode + dispatch)", f"{res['noop_msgs_per_s']:,.0f}",
              f"{res['noop_s']:.3f}", "1.00", "")
    t.add_row("OMS (outputs checked byte for byte)", f"{res['oms_msgs_per_s']:,.0f}",
              f"{res['oms_s']:.3f}", f"{res['oms_ratio']:.2f}",
              f">= {TARGETS['oms_msgs_per_s']:,}/s and >= {TARGETS['oms_ratio']:.2f}")
    out = Console()
    out.print(t)
    met = "[green]met[/green]" if res["target_met"] else "[red]missed[/red]"
    out.print(f"target {met}; {res['oms_outputs']:,} OMS outputs, all matched; "
              f"{res['parents']:,} parent orders, {res['children']:,} children over "
              f"{res['stream_s']:,.0f} stream seconds; day generated in "
              f"{res['generate_s']:.1f} s")
    mix = ", ".join(f"{k} {v:,}" for k, v in sorted(res["mix"].items(), key=lambda kv: -kv[1]))
    out.print(f"mix: {mix}")
    alerts = ", ".join(f"{k} {v:,}" for k, v in sorted(res["oms_alerts"].items())) or "none"
    out.print(f"OMS alerts: {alerts}")
