"""`tape bench backtest`: a recorded day of four symbols with twenty VWAP orders end to
end in sim time, in the plain market and in the realistic one (`SimMarket`: impact,
latencies, interval cap, `tape backtest`'s defaults), against the ticker-plant-only run
of the same day.

The figures: `day_wall_s` and its neighbours are the plain market's (no `SimMarket`
frame, comparable with earlier runs); `impact_*` the realistic market's, whose target
is at most 1.3 times the plain day's wall time."""

# determinism: edge module, benchmark tooling: wall-clock timing and temporary files

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

from deploy.backtest.cli import _data_dir, _date, _fail

BENCH_SYMBOLS = ("AIG", "BAC", "IBM", "SPY")
#: The realistic market may cost this much more wall time than the plain one, at most.
IMPACT_TARGET_RATIO = 1.3


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
    end in sim time (plant, sequencing, journal, OMS, algo engine, fill model), in the
    plain market and again in the realistic one (impact, latencies, interval cap: tape
    backtest's defaults), next to the ticker-plant-only run of the same day (plant,
    sequencing, journal) in the same invocation. Targets: the plain day in under 60 s,
    the realistic day in at most 1.3 times the plain day's time."""
    from deploy.backtest.day import REALISTIC_MARKET, run_day
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
    impact = run_day(root / "impact_day", session, orders, data_dir=d, symbols=names,
                     replace=True, market=REALISTIC_MARKET)
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
        "impact_day_wall_s": round(impact.run.wall_s, 3),
        "impact_day_frames": impact.run.frames,
        "impact_to_day_ratio": round(impact.run.wall_s / full.run.wall_s, 3)
        if full.run.wall_s else None,
        "impact_target_ratio": IMPACT_TARGET_RATIO,
        "impact_target_met": full.run.wall_s > 0
        and impact.run.wall_s / full.run.wall_s <= IMPACT_TARGET_RATIO,
    }
    if keep is None:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    if json_:
        print(json.dumps(figures, separators=(",", ":")))
        return
    from rich.table import Table

    t = Table(title=f"tape bench backtest: {session} ({', '.join(names)}; {len(orders)} VWAP "
              "orders; plain market, then realistic: impact_*)")
    t.add_column("figure")
    t.add_column("value", justify="right")
    for k, v in figures.items():
        t.add_row(k, f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v))
    Console().print(t)
    sys.stdout.flush()
