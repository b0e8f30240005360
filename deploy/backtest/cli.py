"""`tape backtest` and `tape bench backtest`."""

# determinism: edge module, a command line: files, progress and the wall clock

from __future__ import annotations

import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

console = Console(stderr=True)


def _fail(text: str, code: int) -> typer.Exit:
    console.print(f"[red]{text}", highlight=False)
    return typer.Exit(code)


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _fail(f"--date: expected YYYY-MM-DD, got {value!r}", 2) from None


def _data_dir(data: Path | None) -> Path:
    from marketdata.recorded import default_data_dir

    d = data or default_data_dir() / "us_equities_2013-10"
    if not d.is_dir():
        raise _fail(f"--data: no recorded data folder {d}", 2)
    return d


def _progress(quiet: bool) -> tuple[Progress | None, Any]:
    if quiet:
        return None, None
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                   TextColumn("{task.completed:,}/{task.total:,} rows"), TimeRemainingColumn(),
                   console=console, transient=True)
    task = bar.add_task("backtest", total=1)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return bar, update


def backtest_cmd(
    date: Annotated[str, typer.Option("--date", help="The recorded session, YYYY-MM-DD.")],
    orders: Annotated[Path, typer.Option("--orders", help="The client orders (CSV, see "
                                         "deploy/backtest/orders.py and the README).")],
    out: Annotated[Path | None, typer.Option(
        "--out", help="The day folder (default ./backtest-DATE).")] = None,
    data: Annotated[Path | None, typer.Option(
        "--data", help="Recorded data folder (default ../shared/data/us_equities_2013-10).")
    ] = None,
    symbols: Annotated[str, typer.Option(
        help="More symbols to play (comma-separated), besides the orders' own.")] = "",
    seed: Annotated[int | None, typer.Option(
        help="The day's seed (default: from the date).")] = None,
    replace: Annotated[bool, typer.Option(
        help="Start the day folder again if it is not empty.")] = False,
    plots: Annotated[bool, typer.Option(help="Draw a PNG per order into DAY/reports.")] = True,
    json_: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Run a recorded day in sim time through the OMS, the algo engine and the venue
    simulator's fill model, with client orders from a file, as fast as it goes; report
    per order: shares done, average price, the market's interval VWAP, slippage,
    participation, passive share. Exit 1 if a must-complete order was left unfinished."""
    from deploy.backtest.day import run_day, write_report
    from deploy.backtest.orders import OrdersFileError, read_orders
    from deploy.backtest.report import render, summary_line

    session = _date(date)
    try:
        requests = read_orders(orders, session)
    except OrdersFileError as e:
        raise _fail(str(e), 2) from None
    d = _data_dir(data)
    day = out or Path(f"backtest-{session.isoformat()}")
    extra = [s.strip().upper() for s in symbols.split(",") if s.strip()]
    bar, update = _progress(json_)
    try:
        if bar is not None:
            bar.start()
        try:
            res = run_day(day, session, requests, data_dir=d, symbols=extra, seed=seed,
                          replace=replace, progress=update)
        finally:
            if bar is not None:
                bar.stop()
    except FileExistsError as e:
        raise _fail(str(e), 2) from None
    except KeyError as e:
        raise _fail(f"unknown symbol: {e}", 2) from None
    report = write_report(day, plots=plots)
    run = res.run
    figures = {"frames": run.frames, "rows": run.rows, "wall_s": round(run.wall_s, 3),
               "frames_per_s": round(run.frames_per_s), "journal_sha256": run.journal_sha256}
    incomplete = [r.order_id for r in report.results if r.must_complete and not r.complete]
    if json_:
        print(json.dumps({"day": str(day), **figures, **report.as_dict()},
                         separators=(",", ":")))
    else:
        out_c = Console()
        out_c.print(render(report))
        out_c.print(summary_line(report), highlight=False)
        out_c.print(f"{run.frames:,} frames from {run.rows:,} recorded rows in "
                    f"{run.wall_s:.1f} s ({run.frames_per_s:,.0f} frames/s); journal sha256 "
                    f"{run.journal_sha256[:16]}; day folder {day}, charts in {day}/reports",
                    highlight=False)
    if incomplete:
        console.print(f"[yellow]must-complete orders not done: {', '.join(incomplete)}")
        raise typer.Exit(1)


BENCH_SYMBOLS = ("AIG", "BAC", "IBM", "SPY")


def bench_orders(date: dt.date, rd: Any, symbols: list[str], n: int = 20) -> list[Any]:
    """`n` VWAP orders over the symbols with quotes (SPY, with trades only, is played as
    the index reference), buys and sells of 1% to 10% of the symbols' daily volume."""
    from deploy.backtest.orders import ClientRequest
    from refdata.model import local_midnight_ns
    from sequencer.messages.orders import NewOrder, Side

    at = local_midnight_ns(date, "America/New_York") + 9 * 3_600_000_000_000
    out = []
    traded = [s for s in symbols if s != "SPY"] or ["IBM"]
    for i in range(n):
        sym = traded[i % len(traded)]
        pct = 1 + (i * 7) % 10
        adv = rd.stats(rd.by_name(sym).id).adv
        qty = max(100, adv * pct // 100 // 100 * 100)
        side: Side = "buy" if i % 2 == 0 else "sell"
        out.append(ClientRequest(at, i + 1, NewOrder("GAMMA", f"BENCH-{i + 1}", sym, side,
                                                     qty, "market", 0, "day", "vwap", ())))
    return out


def bench_backtest(
    date: Annotated[str, typer.Option("--date", help="The recorded session.")] = "2013-10-08",
    data: Annotated[Path | None, typer.Option("--data", help="Recorded data folder.")] = None,
    keep: Annotated[Path | None, typer.Option(
        "--keep", help="Keep the day folders here.")] = None,
    symbols: Annotated[str, typer.Option(help="The symbols to play.")] = ",".join(
        BENCH_SYMBOLS),
    orders_n: Annotated[int, typer.Option("--orders", min=1,
                                          help="How many VWAP orders.")] = 20,
    json_: Annotated[bool, typer.Option("--json", help="One JSON object on one line.")] = False,
) -> None:
    """A recorded day of four symbols (AIG, BAC, IBM, SPY) with twenty VWAP orders, end to
    end in sim time (plant, sequencing, journal, OMS, algo engine, fill model), next to
    the ticker-plant-only run of the same day (plant, sequencing, journal) in the same
    invocation. Target: the full day in under 60 s."""
    from deploy.backtest.day import run_day
    from refdata.build import build
    from refdata.load import load

    session = _date(date)
    d = _data_dir(data)
    names = [x.strip().upper() for x in symbols.split(",") if x.strip()]
    if not names:
        raise _fail("--symbols: name at least one symbol", 2)
    root = keep or Path(tempfile.mkdtemp(prefix="tape-bench-backtest-"))
    root.mkdir(parents=True, exist_ok=True)
    build(session, root / "rd", data_dir=d)
    rd = load(root / "rd")
    try:
        orders = bench_orders(session, rd, names, orders_n)
    except KeyError as e:
        raise _fail(f"--symbols: unknown symbol {e}", 2) from None
    t0 = time.perf_counter()
    ticker = run_day(root / "ticker_only", session, [], data_dir=d,
                     symbols=names, ticker_only=True, replace=True)
    full = run_day(root / "day", session, orders, data_dir=d, symbols=names, replace=True)
    total_s = time.perf_counter() - t0
    figures = {
        "date": session.isoformat(),
        "symbols": len(names),
        "orders": len(orders),
        "rows": full.run.rows,
        "frames": full.run.frames,
        "day_wall_s": round(full.run.wall_s, 3),
        "frames_per_s": round(full.run.frames_per_s),
        "ticker_only_wall_s": round(ticker.run.wall_s, 3),
        "ticker_only_frames_per_s": round(ticker.run.frames_per_s),
        "day_to_ticker_only_ratio": round(full.run.wall_s / ticker.run.wall_s, 3)
        if ticker.run.wall_s else None,
        "feed_load_s": round(full.feed_s, 3),
        "bench_total_s": round(total_s, 3),
        "target_day_wall_s": 60.0,
        "target_met": full.run.wall_s < 60.0,
    }
    if keep is None:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    if json_:
        print(json.dumps(figures, separators=(",", ":")))
        return
    from rich.table import Table

    t = Table(title=f"tape bench backtest: {session} ({', '.join(names)}; {len(orders)} VWAP "
              "orders)")
    t.add_column("figure")
    t.add_column("value", justify="right")
    for k, v in figures.items():
        t.add_row(k, f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v))
    Console().print(t)
    sys.stdout.flush()
