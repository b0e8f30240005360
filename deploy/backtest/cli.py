"""`tape backtest`: client orders through a recorded day in sim time."""

# determinism: edge module, a command line: files, progress and the wall clock

from __future__ import annotations

import datetime as dt
import json
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
    from post_trade.quality import render, summary_line

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
