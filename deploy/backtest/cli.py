"""`tape backtest`: client orders through recorded days in sim time.

- `backtest_cmd`: the command. One day (`--date`) into one day folder, or every
  recorded session of a range (`--from/--to`) into a folder per day under one
  folder, with a report per day and an overall one.
- `_market`: the simulated market's options, checked, as the `SimMarket` the day
  sequences after `SystemStart` (None with `--plain-market`: no frame, the plain fill
  model).
- `_date`, `_data_dir`, `_fail`: shared with the benchmarks (`deploy.bench`).
"""

# determinism: edge module, a command line: files, progress and the wall clock

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

if TYPE_CHECKING:
    from deploy.backtest.day import DayResult
    from deploy.backtest.orders import ClientRequest
    from post_trade.quality import BacktestReport
    from sequencer.messages.control import SimMarket

console = Console(stderr=True)

#: The market options (parameter name: option), which `--plain-market` excludes.
MARKET_OPTIONS = {
    "impact": "--impact/--no-impact", "impact_y": "--impact-y",
    "impact_permanent": "--impact-permanent", "impact_decay_s": "--impact-decay-s",
    "latency_us": "--latency-us", "venue_latency": "--venue-latency",
    "platform_latency_us": "--platform-latency-us", "interval_cap_s": "--interval-cap-s",
}


def _fail(text: str, code: int) -> typer.Exit:
    console.print(f"[red]{text}", highlight=False, soft_wrap=True)  # one line, unwrapped
    return typer.Exit(code)


def _date(value: str, option: str = "--date") -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _fail(f"{option}: expected YYYY-MM-DD, got {value!r}", 2) from None


def _data_dir(data: Path | None) -> Path:
    from marketdata.recorded import default_data_dir

    d = data or default_data_dir() / "us_equities_2013-10"
    if not d.is_dir():
        raise _fail(f"--data: no recorded data folder {d}", 2)
    return d


def _progress(quiet: bool, label: str = "backtest") -> tuple[Progress | None, Any]:
    if quiet:
        return None, None
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                   TextColumn("{task.completed:,}/{task.total:,} rows"), TimeRemainingColumn(),
                   console=console, transient=True)
    task = bar.add_task(label, total=1)

    def update(done: int, total: int) -> None:
        # started at the first rows, not before: a day refused before its long part
        # (an unknown symbol or venue) leaves no trace of a bar on stderr
        if not bar.live.is_started:
            bar.start()
        bar.update(task, completed=done, total=total)

    return bar, update


def _venue_latencies(text: str) -> tuple[tuple[str, int], ...]:
    """`XNYS=300,ARCX=400` as ((venue, us), ...) sorted by venue (the frame's bytes do not
    depend on the order the options were written in)."""
    out: dict[str, int] = {}
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        venue, eq, us = (p.strip() for p in item.partition("="))
        if not eq or not venue:
            raise _fail(f"--venue-latency: expected VENUE=MICROSECONDS[,...] (e.g. "
                        f"XNYS=300,ARCX=400), got {item!r}", 2)
        try:
            n = int(us)
            if n < 0:
                raise ValueError
        except ValueError:
            raise _fail(f"--venue-latency: expected a whole number of microseconds >= 0 "
                        f"for {venue}, got {us!r}", 2) from None
        if venue.upper() in out:
            raise _fail(f"--venue-latency: {venue.upper()} is given twice", 2)
        out[venue.upper()] = n
    if not out:
        raise _fail("--venue-latency: expected VENUE=MICROSECONDS[,...] (e.g. "
                    "XNYS=300,ARCX=400), got nothing", 2)
    return tuple(sorted(out.items()))


def _market(ctx: typer.Context, plain: bool, *, impact: bool, impact_y: float,
            impact_permanent: float, impact_decay_s: float, latency_us: int,
            venue_latency: str | None, platform_latency_us: int,
            interval_cap_s: int) -> SimMarket | None:
    """The day's simulated market from the options, each checked (exit 2 naming it)."""
    from deploy.backtest.day import sim_market

    if plain:
        # set explicitly: on the command line or from the environment, not the default
        # (by the source's name: typer's ParameterSource is its own click's, not public)
        given = [opt for name, opt in MARKET_OPTIONS.items()
                 if getattr(ctx.get_parameter_source(name), "name", "DEFAULT") != "DEFAULT"]
        if given:
            raise _fail(f"--plain-market: it has no impact, latency or interval cap to set; "
                        f"drop it or {', '.join(given)}", 2)
        return None

    def number(option: str, x: float, ok: Callable[[float], bool], expected: str) -> None:
        if not (math.isfinite(x) and ok(x)):
            raise _fail(f"{option}: expected {expected}, got {x!r}", 2)

    # (the frame holds Y in thousandths and the decay in milliseconds: a figure that
    # rounds to 0 there would be 0)
    number("--impact-y", impact_y, lambda x: round(x * 1_000) > 0,
           "a number of at least 0.001 (--no-impact turns impact off)")
    number("--impact-permanent", impact_permanent, lambda x: 0 <= x <= 1,
           "a share between 0 and 1")
    number("--impact-decay-s", impact_decay_s, lambda x: round(x * 1_000) > 0,
           "seconds above 0 (at least 0.001)")
    for option, n in (("--latency-us", latency_us), ("--platform-latency-us",
                                                     platform_latency_us)):
        if n < 0:
            raise _fail(f"{option}: expected microseconds >= 0, got {n}", 2)
    if interval_cap_s < 0:
        raise _fail(f"--interval-cap-s: expected seconds >= 0 (0: no cap), got "
                    f"{interval_cap_s}", 2)
    return sim_market(impact=impact, impact_y=impact_y, impact_permanent=impact_permanent,
                      impact_decay_s=impact_decay_s, latency_us=latency_us,
                      venue_latencies=_venue_latencies(venue_latency)
                      if venue_latency is not None else (),
                      platform_latency_us=platform_latency_us, interval_cap_s=interval_cap_s)


def _span(date: str | None, first: str | None,
          last: str | None) -> dt.date | tuple[dt.date, dt.date]:
    """The one `--date`, or the (first, last) of `--from/--to`: exactly one form."""
    if date is not None:
        if first is not None or last is not None:
            raise _fail("--date: give either --date or --from and --to, not both", 2)
        return _date(date)
    if first is None or last is None:
        missing = "--to" if first is not None else "--from" if last is not None else "--date"
        raise _fail(f"{missing}: give either --date or both --from and --to", 2)
    d1, d2 = _date(first, "--from"), _date(last, "--to")
    if d1 > d2:
        raise _fail(f"--from: {d1} is after --to {d2}", 2)
    return d1, d2


def _run(day: Path, session: dt.date, requests: list[ClientRequest], *, data_dir: Path,
         symbols: list[str], seed: int | None, replace: bool, quiet: bool,
         market: SimMarket | None, label: str = "backtest") -> DayResult:
    """One day, with its progress bar; its refusals as exit 2."""
    from deploy.backtest.day import UnknownVenue, run_day
    from marketdata.recorded import DataFileError

    bar, update = _progress(quiet, label)
    try:
        try:
            return run_day(day, session, requests, data_dir=data_dir, symbols=symbols,
                           seed=seed, replace=replace, progress=update, market=market)
        finally:
            if bar is not None and bar.live.is_started:
                bar.stop()
    except FileExistsError as e:
        raise _fail(str(e), 2) from None
    except UnknownVenue as e:
        raise _fail(f"--venue-latency: {e}", 2) from None
    except KeyError as e:
        raise _fail(f"unknown symbol: {e}", 2) from None
    except DataFileError as e:
        raise _fail(f"no recorded data for {session}: {e}", 2) from None


def _figures(res: DayResult) -> dict[str, Any]:
    run = res.run
    return {"frames": run.frames, "rows": run.rows, "wall_s": round(run.wall_s, 3),
            "frames_per_s": round(run.frames_per_s), "journal_sha256": run.journal_sha256}


def _print_day(out: Console, day: Path, res: DayResult, report: BacktestReport) -> None:
    from post_trade.quality import render, render_costs, summary_line

    run = res.run
    out.print(render(report))
    out.print(render_costs(report))
    out.print(summary_line(report), highlight=False)
    out.print(f"{run.frames:,} frames from {run.rows:,} recorded rows in "
              f"{run.wall_s:.1f} s ({run.frames_per_s:,.0f} frames/s); journal sha256 "
              f"{run.journal_sha256[:16]}; day folder {day}, charts in {day}/reports",
              highlight=False)


def _incomplete(report: BacktestReport) -> list[str]:
    return [r.order_id for r in report.results if r.must_complete and not r.complete]


def backtest_cmd(
    ctx: typer.Context,
    orders: Annotated[Path, typer.Option("--orders", help="The client orders (CSV, see "
                                         "deploy/backtest/orders.py and the README); with "
                                         "--from/--to, played on every session.")],
    date: Annotated[str | None, typer.Option(
        "--date", help="The recorded session, YYYY-MM-DD.")] = None,
    first: Annotated[str | None, typer.Option(
        "--from", help="Every recorded session from this date (YYYY-MM-DD; with --to).")
    ] = None,
    last: Annotated[str | None, typer.Option(
        "--to", help="... to this date, inclusive (YYYY-MM-DD; with --from).")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="The day folder (default ./backtest-DATE); with --from/--to, the "
        "folder of the day folders DIR/YYYY-MM-DD (default ./backtest-D1-to-D2).")] = None,
    data: Annotated[Path | None, typer.Option(
        "--data", help="Recorded data folder (default ../shared/data/us_equities_2013-10).")
    ] = None,
    symbols: Annotated[str, typer.Option(
        help="More symbols to play (comma-separated), besides the orders' own.")] = "",
    seed: Annotated[int | None, typer.Option(
        help="The day's seed (default: from the date); with --from/--to, every day's.")
    ] = None,
    replace: Annotated[bool, typer.Option(
        help="Start the day folder(s) again if not empty.")] = False,
    impact: Annotated[bool, typer.Option(
        "--impact/--no-impact", help="Our fills move the simulated market's prices "
        "(square-root law, fix_gateways/venue_sim/impact.py).")] = True,
    impact_y: Annotated[float, typer.Option(
        "--impact-y", help="The impact law's prefactor Y (> 0).")] = 1.0,
    impact_permanent: Annotated[float, typer.Option(
        "--impact-permanent", help="The share of impact that never decays (0 to 1).",
        show_default="2/3")] = 2 / 3,
    impact_decay_s: Annotated[float, typer.Option(
        "--impact-decay-s", help="The transient impact's e-folding time, seconds (> 0).")
    ] = 300.0,
    latency_us: Annotated[int, typer.Option(
        "--latency-us", help="One-way latency between the platform and each venue, us.")
    ] = 250,
    venue_latency: Annotated[str | None, typer.Option(
        "--venue-latency", help="Per-venue one-way latencies overriding --latency-us, us: "
        "XNYS=300,ARCX=400 (venue codes of the day's ref data).")] = None,
    platform_latency_us: Annotated[int, typer.Option(
        "--platform-latency-us", help="One-way latency inside the platform (decision to "
        "gateway), us.")] = 50,
    interval_cap_s: Annotated[int, typer.Option(
        "--interval-cap-s", help="Cap our fills per venue, side and interval of this many "
        "seconds at what the market showed and printed (0: no cap).")] = 60,
    plain_market: Annotated[bool, typer.Option(
        "--plain-market", help="No simulated market settings at all: the plain fill model "
        "(no impact, no latency, no interval cap), as before they existed, to reproduce "
        "earlier figures. Excludes the options above.")] = False,
    own_prints: Annotated[bool, typer.Option(
        "--own-prints/--no-own-prints", help="Count our own fills in the market's volume "
        "and VWAPs, as a real TCA sees the tape (--no-own-prints: the market's prints "
        "alone).")] = True,
    plots: Annotated[bool, typer.Option(help="Draw a PNG per order into DAY/reports.")] = True,
    json_: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Run a recorded day (--date) or every recorded session of a range (--from/--to) in
    sim time through the OMS, the algo engine and the venue simulator's fill model in a
    simulated market (impact, latencies, interval cap; --plain-market: none), with
    client orders from a file, as fast as it goes; report per order: shares done,
    average price, the market's interval VWAP, slippage, participation, passive share;
    over a range, per day and overall. Exit 1 if a must-complete order was left
    unfinished on any day."""
    from deploy.backtest.day import market_dict, market_line, recorded_sessions, write_report
    from deploy.backtest.orders import OrdersFileError, read_orders

    span = _span(date, first, last)
    market = _market(ctx, plain_market, impact=impact, impact_y=impact_y,
                     impact_permanent=impact_permanent, impact_decay_s=impact_decay_s,
                     latency_us=latency_us, venue_latency=venue_latency,
                     platform_latency_us=platform_latency_us, interval_cap_s=interval_cap_s)
    d = _data_dir(data)
    if isinstance(span, dt.date):
        sessions = [span]
    else:
        sessions = recorded_sessions(d, *span)
        if not sessions:
            raise _fail(f"--from/--to: no recorded session from {span[0]} to {span[1]} "
                        f"in {d}", 2)
    try:
        # every session's requests before any runs: a bad file is refused whole, at once
        requests = {s: read_orders(orders, s) for s in sessions}
    except OrdersFileError as e:
        raise _fail(str(e), 2) from None
    extra = [s.strip().upper() for s in symbols.split(",") if s.strip()]
    market_d = market_dict(market)

    if isinstance(span, dt.date):
        session = span
        day = out or Path(f"backtest-{session.isoformat()}")
        res = _run(day, session, requests[session], data_dir=d, symbols=extra, seed=seed,
                   replace=replace, quiet=json_, market=market)
        report = write_report(day, plots=plots, own_prints=own_prints)
        if json_:
            print(json.dumps({"day": str(day), **_figures(res), **report.as_dict(),
                              "market": market_d}, separators=(",", ":")))
        else:
            out_c = Console()
            _print_day(out_c, day, res, report)
            out_c.print(market_line(market), highlight=False)
        incomplete = _incomplete(report)
        if incomplete:
            console.print(f"[yellow]must-complete orders not done: {', '.join(incomplete)}")
            raise typer.Exit(1)
        return
    _range(sessions, requests, out=out, data_dir=d, symbols=extra, seed=seed,
           replace=replace, plots=plots, json_=json_, market=market, own_prints=own_prints)


def _range(sessions: list[dt.date], requests: dict[dt.date, list[ClientRequest]], *,
           out: Path | None, data_dir: Path, symbols: list[str], seed: int | None,
           replace: bool, plots: bool, json_: bool, market: SimMarket | None,
           own_prints: bool = True) -> None:
    """Every session into ROOT/YYYY-MM-DD, then the overall report into ROOT/reports."""
    from deploy.backtest.day import market_dict, market_line, write_report
    from post_trade.quality import BacktestReport, summary_line

    root = out or Path(f"backtest-{sessions[0].isoformat()}-to-{sessions[-1].isoformat()}")
    folders = {s: root / s.isoformat() for s in sessions}
    if not replace:
        # refused before the first day runs, not after it
        busy = [str(f) for f in folders.values() if f.exists() and any(f.iterdir())]
        if busy:
            raise _fail(f"{', '.join(busy)} not empty (use --replace to start again)", 2)
    out_c = Console()
    days: list[dict[str, Any]] = []
    reports: list[BacktestReport] = []
    incomplete: list[str] = []
    for s in sessions:
        day = folders[s]
        res = _run(day, s, requests[s], data_dir=data_dir, symbols=symbols, seed=seed,
                   replace=replace, quiet=json_, market=market,
                   label=f"backtest {s.isoformat()}")
        report = write_report(day, plots=plots, own_prints=own_prints)
        reports.append(report)
        incomplete += _incomplete(report)  # (an order id starts with its date)
        days.append({"date": s.isoformat(), "day": str(day), **_figures(res),
                     **report.as_dict()})
        if not json_:
            out_c.rule(s.isoformat())
            _print_day(out_c, day, res, report)
    overall = BacktestReport(root, tuple(r for rep in reports for r in rep.results))
    summary = overall.summary()
    market_d = market_dict(market)
    (root / "reports").mkdir(parents=True, exist_ok=True)
    (root / "reports" / "backtest.json").write_text(json.dumps(
        {"days": [r.as_dict() for r in reports], "overall": summary, "market": market_d},
        indent=1) + "\n")
    if json_:
        print(json.dumps({"days": days, "overall": summary, "market": market_d},
                         separators=(",", ":")))
    else:
        out_c.rule(f"overall: {len(sessions)} sessions, {sessions[0]} to {sessions[-1]}")
        out_c.print(summary_line(overall), highlight=False)
        out_c.print(market_line(market), highlight=False)
        out_c.print(f"day folders in {root}, the overall report in {root}/reports/"
                    "backtest.json", highlight=False)
    if incomplete:
        console.print(f"[yellow]must-complete orders not done: {', '.join(incomplete)}")
        raise typer.Exit(1)
