"""`tape bench marketdata`: a recorded day through the ticker plant and the sequencer.

Three processes, as in production: the sequencer (embedded media driver,
group commit, `sim` time so the data's clock drives the stream), a
subscriber that subscribes to every symbol and counts what arrives, and the
ticker plant (this process), which reads the day's files, decides and
publishes. In the same run, a raw parse-only loop over the same files gives
the baseline.

Figures:
- `parse_rows_per_s`: the files decompressed and parsed into typed columns,
  nothing else (the plant's own reader, the same files, the same run);
- `stream_rows_per_s`: rows from the plant starting to publish (the day's
  files read and merged, as a plant does before the open) to the subscriber
  holding the last of them, each one decided by the plant, sequenced,
  journaled and delivered;
- `whole_day_s` (and `whole_day_rows_per_s`): from the plant starting to
  read the files to the subscriber holding the last row;
- `stream_ratio`: `stream_rows_per_s / parse_rows_per_s`.
Targets: `stream_rows_per_s` at least 300,000; the whole day under 15 s.
"""

# determinism: edge module, a benchmark harness

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from deploy.procs import ProcGroup, remove_aeron_dir, tape_argv

TARGETS = {"stream_rows_per_s": 300_000, "whole_day_s": 15}
SYMBOLS = ("AIG", "BAC", "IBM", "SPY")


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def role_subscriber(day: str, expect: int, symbol_ids: str) -> None:
    """Subscribe to the symbols, then count market data frames until `expect` arrived."""
    from sequencer import sources
    from sequencer.config import TransportConfig
    from sequencer.messages import TYPE_ID
    from sequencer.messages.marketdata import MarketSnapshot, Quote, Subscribe, Trade
    from sequencer.transport import StreamPublisher, StreamSubscriber, connect

    cfg = TransportConfig.for_day(Path(day))
    aeron = connect(cfg)
    pub = StreamPublisher(aeron, cfg, sources.bench(0))
    sub = StreamSubscriber(aeron, cfg, Path(day) / "journal", 1)
    for sid in symbol_ids.split(","):
        pub.publish(Subscribe(int(sid), "bench"))
    _emit({"ready": True})
    wanted = frozenset({TYPE_ID[Quote], TYPE_ID[Trade], TYPE_ID[MarketSnapshot]})
    snap = TYPE_ID[MarketSnapshot]
    seen = snapshots = 0
    h = hashlib.sha256()
    first = last = 0
    while seen < expect:
        # What a consumer of a few types does: frames of other types are skipped in place.
        batch = sub.poll(8192, wanted)
        if not batch:
            time.sleep(0.0002)
            continue
        if not seen:
            first = time.time_ns()
        for raw in batch:
            if int.from_bytes(raw[36:38], "little") == snap:
                snapshots += 1
            else:
                seen += 1
            h.update(raw[80:])  # the payload: the same bytes every run
        last = time.time_ns()
    _emit({"seen": seen, "snapshots": snapshots, "first_ns": first, "last_ns": last,
           "digest": h.hexdigest(), "last_seq": sub.next_seq - 1,
           "cpu_s": round(time.process_time(), 2)})
    sub.close()
    aeron.close()


ROLES = {"subscriber": lambda a: role_subscriber(a[0], int(a[1]), a[2])}


def _parse_only(data_dir: Path, day: dt.date) -> tuple[int, float]:
    """The baseline: every file of the day read into typed columns, and nothing else."""
    from marketdata.clock import local_midnight_ns
    from marketdata.recorded import read_file_columns, tick_file

    midnight = local_midnight_ns(day, "America/New_York")
    rows = 0
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tape-bench-parse-") as tmp:
        for sym in SYMBOLS:
            for kind, name in ((0, "quote"), (1, "trade")):
                path = tick_file(data_dir, sym, day.isoformat(), name)
                if path.exists():
                    rows += len(read_file_columns(path, kind, sym, midnight, Path(tmp)))
    return rows, time.perf_counter() - t0


def run_bench(data_dir: Path, day: dt.date, aeron_dir: str,
              progress: Any = None) -> dict[str, Any]:
    from marketdata.clock import local_midnight_ns
    from marketdata.recorded import load_day
    from marketdata.service import TickerPlant
    from refdata.build import build
    from refdata.load import load

    def step(what: str) -> None:
        if progress is not None:
            progress(what)

    res: dict[str, Any] = {"date": day.isoformat()}
    step("parse-only baseline")
    rows, parse_s = _parse_only(data_dir, day)
    res["rows"] = rows
    res["parse_s"] = round(parse_s, 3)
    res["parse_rows_per_s"] = rows / parse_s

    daydir = Path(tempfile.mkdtemp(prefix="tape-bench-md-"))
    try:
        # The logs go with the day: a failure quotes their tails before the folder goes.
        with ProcGroup(daydir / "logs", stop_timeout=60.0) as procs:
            step("ref data")
            build(day, daydir / "refdata")
            rd = load(daydir / "refdata")
            ids = ",".join(str(rd.by_name(s).id) for s in SYMBOLS)
            step("sequencer")
            seq = procs.spawn("sequencer", tape_argv(
                "sequencer", "run", "--day", str(daydir), "--aeron-dir", aeron_dir,
                "--driver", "embedded", "--fsync", "group", "--time-mode", "sim",
                "--session-date", day.isoformat()))
            seq.wait_file(daydir / "sequencer.status.json", timeout=30,
                          what="the sequencer's status")
            sub = procs.spawn("subscriber", [
                sys.executable, "-m", "deploy.bench.marketdata", "subscriber", str(daydir),
                str(rows), ids])
            sub.wait_ready(60)
            step("stream the day")
            t_start = time.time_ns()
            cpu0 = time.process_time()
            feed = load_day(data_dir, SYMBOLS, day)
            t_loaded = time.time_ns()
            plant = TickerPlant(daydir, feed, rd, local_midnight_ns(day, "America/New_York"),
                                wait_subscribed=len(SYMBOLS))
            pres = plant.run(max_seconds=600)
            # The plant has published the whole day; the subscriber answers once it has
            # seen every row (never, if some were lost): two minutes more is ample.
            got = sub.expect("seen", timeout=120)
            sub.wait(60)
            seq_cpu = seq.cpu_seconds()
        res["cpu_s"] = {"plant": round(time.process_time() - cpu0, 2),
                        "sequencer": float("nan") if seq_cpu is None else round(seq_cpu, 2),
                        "subscriber": got["cpu_s"]}
        res["published"] = pres.published
        res["seen"] = got["seen"]
        res["lost"] = pres.published - got["seen"]
        res["snapshots"] = got["snapshots"]
        res["load_s"] = round((t_loaded - t_start) / 1e9, 3)
        res["stream_s"] = round((got["last_ns"] - t_loaded) / 1e9, 3)
        res["stream_rows_per_s"] = rows / res["stream_s"]
        res["whole_day_s"] = round((got["last_ns"] - t_start) / 1e9, 3)
        res["whole_day_rows_per_s"] = rows / res["whole_day_s"]
        res["stream_ratio"] = res["stream_rows_per_s"] / res["parse_rows_per_s"]
        res["digest"] = got["digest"][:16]
    finally:
        shutil.rmtree(daydir, ignore_errors=True)
        remove_aeron_dir(aeron_dir)
    return res


def bench_marketdata(
    json_: Annotated[bool, typer.Option("--json", help="One JSON object on one line.")] = False,
    date: Annotated[str, typer.Option(help="The recorded day, YYYY-MM-DD.")] = "2013-10-08",
    data: Annotated[Path | None, typer.Option(help="Recorded data folder.")] = None,
) -> None:
    """A recorded day of all four symbols through the ticker plant and the sequencer."""
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from marketdata.recorded import default_data_dir

    err = Console(stderr=True)
    data_dir = data or default_data_dir() / "us_equities_2013-10"
    if not (data_dir / "tick").is_dir():
        err.print(f"[red]error:[/red] no recorded tick data under {data_dir}")
        raise typer.Exit(1)
    try:
        day = dt.date.fromisoformat(date)
    except ValueError:
        err.print(f"[red]error:[/red] --date: expected YYYY-MM-DD, got {date!r}")
        raise typer.Exit(2) from None
    aeron_dir = f"/dev/shm/tape-bench-md-{os.getpid()}"
    with Progress(console=err, transient=True) as prog:
        task = prog.add_task("bench marketdata", total=None)
        res = run_bench(data_dir, day, aeron_dir,
                        lambda what: prog.update(task, description=f"bench marketdata: {what}"))
    if json_:
        print(json.dumps(res, separators=(",", ":")))
        return
    t = Table(title=f"tape bench marketdata ({res['date']}, {res['rows']:,} rows, "
                    f"{', '.join(SYMBOLS)})")
    t.add_column("figure")
    t.add_column("value", justify="right")
    t.add_column("ratio to parse-only", justify="right")
    t.add_column("target")
    base = res["parse_rows_per_s"]
    t.add_row("parse-only rows/s (baseline)", f"{base:,.0f}", "1.00", "")
    t.add_row("stream rows/s (plant + sequencer + journal + subscriber)",
              f"{res['stream_rows_per_s']:,.0f}", f"{res['stream_ratio']:.2f}",
              f">= {TARGETS['stream_rows_per_s']:,}")
    t.add_row("whole day rows/s (reading the files included)",
              f"{res['whole_day_rows_per_s']:,.0f}",
              f"{res['whole_day_rows_per_s'] / base:.2f}", "")
    t.add_row("whole day, s (of which reading the files)",
              f"{res['whole_day_s']:.2f} ({res['load_s']:.2f})", "",
              f"< {TARGETS['whole_day_s']}")
    cpu = res["cpu_s"]
    t.add_row("CPU s: plant / sequencer / subscriber",
              f"{cpu['plant']} / {cpu['sequencer']} / {cpu['subscriber']}", "", "")
    t.add_row("rows published / seen / lost",
              f"{res['published']:,} / {res['seen']:,} / {res['lost']}", "", "")
    Console().print(t)


if __name__ == "__main__":
    ROLES[sys.argv[1]](sys.argv[2:])
