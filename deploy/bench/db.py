"""`tape bench db`: days loaded into DuckDB and PostgreSQL, and the writer's live lag.

Two journals: the recorded 2013-10-08 day of `tape bench backtest` (four
symbols, twenty VWAP orders: about 2.6 million frames, mostly quotes) and the
OMS bench's generated order day (`oms_day`, a million messages). Each is
loaded with `post_trade.db.load.load_day` into a new DuckDB file and into a
new database of a throwaway PostgreSQL cluster (`post_trade.db.pgcluster`),
and, in the same run, read and decoded without writing anything (the
baseline: the journal reader and the stream's codec, the part of the work no
database can save).

Rows are database rows: each frame is a `frames` row and a row of its
message's table, so a frame counts two, in the baseline as in the loads.

Then the live figure: a sequencer in wall time fed at `--rate` messages per
second by a paced publisher, with the writer (DuckDB) following it;
`live_lag_p99_ms` is the 99th percentile, over every frame, of the time from
the sequencer receiving the frame to the writer's commit holding it.

Targets on this project's 2-core machine: DuckDB 300,000 rows/s, PostgreSQL
150,000 rows/s, `live_lag_p99_ms` under 500.
"""

# determinism: edge module, benchmark tooling: wall-clock timing, processes, temporary files

from __future__ import annotations

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

TARGETS = {"duckdb_rows_per_s": 300_000, "postgres_rows_per_s": 150_000,
           "live_lag_p99_ms": 500}


def _say(quiet: bool, text: str) -> None:
    if not quiet:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()


def decode_pass(day: Path) -> tuple[int, float]:
    """(rows, seconds) of reading and decoding the journal, writing nothing."""
    from sequencer.frames import HEADER_SIZE
    from sequencer.journal import JournalReader
    from sequencer.messages import decode

    t0 = time.perf_counter()
    n = 0
    with JournalReader(day / "journal") as r:
        while raws := r.read_raw(100_000):
            for raw in raws:
                decode(int.from_bytes(raw[36:38], "little"), raw[HEADER_SIZE:])
            n += len(raws)
    return 2 * n, time.perf_counter() - t0


def load_into(day: Path, url: str | None) -> tuple[int, float]:
    """(rows, seconds) of a one-shot load into a new database."""
    from post_trade.db.load import load_day
    from post_trade.db.stores import open_store

    shutil.rmtree(day / "db", ignore_errors=True)
    store = open_store(day, url)
    try:
        res = load_day(day, store)
    finally:
        store.close()
    return res.rows, res.seconds


def make_recorded_day(root: Path, date: str, quiet: bool) -> Path:
    from deploy.backtest.cli import _data_dir, _date
    from deploy.backtest.day import run_day
    from deploy.bench.backtest import BENCH_SYMBOLS, bench_orders
    from refdata.build import build
    from refdata.load import load

    session = _date(date)
    data = _data_dir(None)
    build(session, root / "rd", data_dir=data)
    rd = load(root / "rd")
    orders = bench_orders(session, rd, list(BENCH_SYMBOLS), 20)
    _say(quiet, f"bench db: running the recorded {session} (backtest of {len(orders)} orders)")
    run_day(root / "recorded", session, orders, data_dir=data, symbols=list(BENCH_SYMBOLS),
            replace=True)
    return root / "recorded"


def make_oms_day(root: Path, messages: int, quiet: bool) -> Path:
    from deploy.bench.oms_day import generate

    _say(quiet, f"bench db: generating the OMS bench's order day ({messages:,} messages)")
    generate(root / "orders", messages)
    return root / "orders"


# ---------------------------------------------------------------- live


def role_publish(day: str, count: int, rate: float) -> None:
    """Publish `count` probes at `rate` per second (paced), then the day's SystemStop."""
    from sequencer import sources
    from sequencer.config import TransportConfig
    from sequencer.messages import TYPE_ID, encode
    from sequencer.messages.control import Probe, SystemStop
    from sequencer.transport import StreamPublisher, connect

    cfg = TransportConfig.for_day(Path(day))
    aeron = connect(cfg)
    pub = StreamPublisher(aeron, cfg, sources.bench(0), wait_connected_s=30)
    probe_t = TYPE_ID[Probe]
    payload = encode(Probe(n=0, data=b"x" * 32))
    t0 = time.monotonic()
    for i in range(count):
        ahead = t0 + i / rate - time.monotonic()
        if ahead > 0.0002:
            time.sleep(ahead)
        pub.publish_raw(probe_t, payload, timeout_s=30)
    pub.publish(SystemStop(reason="bench db done"))
    pub.close()
    aeron.close()


def live_lag(root: Path, rate: float, seconds: float, quiet: bool) -> dict[str, Any]:
    """The writer following a sequencer fed at `rate`: lag percentiles (ms)."""
    import numpy as np

    from post_trade.db.writer import DbWriter, WriterConfig

    day = root / "live"
    aeron_dir = f"/dev/shm/tape-bench-db-{os.getpid()}"
    try:
        with ProcGroup(root / "logs", stop_timeout=30.0) as procs:
            seq = procs.spawn("sequencer", tape_argv(
                "sequencer", "run", "--day", str(day), "--aeron-dir", aeron_dir,
                "--driver", "embedded"))
            seq.wait_file(day / "sequencer.status.json", timeout=30,
                          what="the bench's sequencer status")
            count = int(rate * seconds)
            _say(quiet, f"bench db: live, {count:,} messages at {rate:,.0f}/s with the writer "
                 "following")
            pub = procs.spawn("publisher", [sys.executable, "-m", "deploy.bench.db", "publish",
                                            str(day), str(count), str(rate)])
            writer = DbWriter(day, None, WriterConfig(), keep_lag=True, quiet=True)
            writer.run(max_seconds=seconds * 3 + 60)
            pub.wait(60)
    finally:
        remove_aeron_dir(aeron_dir)
    lag = np.array(writer.stats.lag_ns, dtype=np.float64) / 1e6
    return {"live_frames": int(lag.size), "live_rate_per_s": rate,
            "live_lag_p50_ms": round(float(np.percentile(lag, 50)), 2),
            "live_lag_p99_ms": round(float(np.percentile(lag, 99)), 2),
            "live_lag_max_ms": round(float(lag.max()), 2),
            "live_commits": writer.stats.commits}


# ---------------------------------------------------------------- the command


def run_bench(*, oms_messages: int, date: str, recorded: bool, rate: float,
              live_seconds: float, keep: Path | None, quiet: bool) -> dict[str, Any]:
    from post_trade.db.pgcluster import cluster

    root = keep or Path(tempfile.mkdtemp(prefix="tape-bench-db-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        days = []
        if recorded:
            days.append(("recorded", make_recorded_day(root, date, quiet)))
        if oms_messages:
            days.append(("orders", make_oms_day(root, oms_messages, quiet)))
        fig: dict[str, Any] = {}
        totals: dict[str, list[float]] = {"decode": [0, 0.0], "duckdb": [0, 0.0],
                                          "postgres": [0, 0.0]}
        with cluster() as pg:
            for name, day in days:
                for what in ("decode", "duckdb", "postgres"):
                    _say(quiet, f"bench db: {name} day: {what}")
                    if what == "decode":
                        rows, secs = decode_pass(day)
                    else:
                        url = pg.fresh_db(f"bench_{name}") if what == "postgres" else None
                        rows, secs = load_into(day, url)
                    fig[f"{name}_{what}_rows_per_s"] = round(rows / secs)
                    totals[what][0] += rows
                    totals[what][1] += secs
                fig[f"{name}_rows"] = rows
        for what, (all_rows, all_secs) in totals.items():
            fig[f"{what}_rows_per_s"] = round(all_rows / all_secs) if all_secs else 0
        base = fig["decode_rows_per_s"] or 1
        fig["duckdb_ratio"] = round(fig["duckdb_rows_per_s"] / base, 3)
        fig["postgres_ratio"] = round(fig["postgres_rows_per_s"] / base, 3)
        if live_seconds > 0:
            fig.update(live_lag(root, rate, live_seconds, quiet))
        fig["targets"] = TARGETS
        fig["target_met"] = {k: (fig.get(k, 0) >= v if k.endswith("_per_s")
                                 else fig.get(k, 1e9) < v) for k, v in TARGETS.items()}
        return fig
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)


def bench_db(
    oms_messages: Annotated[int, typer.Option(
        "--oms-messages", min=0, help="Size of the generated order day (0: leave it out).")
    ] = 1_000_000,
    date: Annotated[str, typer.Option("--date", help="The recorded session.")] = "2013-10-08",
    recorded: Annotated[bool, typer.Option(
        "--recorded/--no-recorded", help="Load the recorded day too.")] = True,
    rate: Annotated[float, typer.Option(min=1.0, help="Live: messages per second.")] = 10_000.0,
    live_seconds: Annotated[float, typer.Option(
        min=0.0, help="Live: how long to feed the sequencer (0: leave it out).")] = 20.0,
    keep: Annotated[Path | None, typer.Option(help="Keep the day folders here.")] = None,
    json_: Annotated[bool, typer.Option("--json", help="One JSON object on one line.")] = False,
) -> None:
    """Days into DuckDB and PostgreSQL against a decode-only pass of the same journals, and
    the live writer's lag behind a sequencer fed at 10,000 messages/s."""
    fig = run_bench(oms_messages=oms_messages, date=date, recorded=recorded, rate=rate,
                    live_seconds=live_seconds, keep=keep, quiet=json_)
    if json_:
        sys.stdout.write(json.dumps(fig, separators=(",", ":")) + "\n")
        return
    print_figures("tape bench db", fig)


def print_figures(title: str, fig: dict[str, Any]) -> None:
    """A bench's figures as a two-column table (`tape bench post-trade` uses it too)."""
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title)
    t.add_column("figure")
    t.add_column("value", justify="right")
    for k, v in fig.items():
        t.add_row(k, f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v))
    Console().print(t)


def main(argv: list[str]) -> None:
    if argv[:1] == ["publish"]:
        role_publish(argv[1], int(argv[2]), float(argv[3]))
        return
    raise SystemExit(f"usage: python -m deploy.bench.db publish DAY COUNT RATE (got {argv})")


if __name__ == "__main__":
    main(sys.argv[1:])
