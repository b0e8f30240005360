"""One backtest day, start to finish: ref data, the recorded feed, the run, the report.

`run_day` is what `tape backtest` and `tape bench backtest` call. The day folder
holds everything the day produced: `refdata/`, `journal/`, and
`reports/backtest.json` with one PNG per order.
"""

# determinism: edge module, builds files and reads the recorded data

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from deploy.backtest.orders import ClientRequest
from deploy.backtest.runner import DayRun, RunResult, session_ns, window_feed
from post_trade.quality import BacktestReport, build_report, plot_orders
from sequencer.runtime.app import App

FEED_START = "09:00"  # the plant starts here: half an hour of pre-market state
DAY_END = "16:10"  # after the OMS's end-of-day cancel (16:05)


@dataclass
class DayResult:
    run: RunResult
    feed_s: float
    refdata_s: float


def apps(ticker_only: bool = False) -> list[App]:
    """The apps of a backtest day: the OMS, the algo engine and the venue simulator."""
    if ticker_only:
        return []
    from algo_engine.app import AlgoEngine
    from fix_gateways.venue_sim.app import SimVenueApp
    from oms.app import Oms

    return [Oms(), AlgoEngine(), SimVenueApp()]


def prepare(day: Path, date: dt.date, *, data_dir: Path | None, replace: bool) -> float:
    """A fresh day folder with the day's ref data set; the seconds it took."""
    import time

    from refdata.build import build

    if day.exists() and any(day.iterdir()):
        if not replace:
            raise FileExistsError(f"{day} is not empty (use --replace to start it again)")
        shutil.rmtree(day)
    day.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    build(date, day / "refdata", data_dir=data_dir)
    return time.perf_counter() - t0


def run_day(day: Path, date: dt.date, requests: list[ClientRequest], *,
            data_dir: Path, symbols: list[str] | None = None, seed: int | None = None,
            ticker_only: bool = False, replace: bool = False,
            progress: Callable[[int, int], None] | None = None) -> DayResult:
    import time

    from marketdata.recorded import load_day
    from refdata.load import load
    from sequencer.config import SequencerConfig

    refdata_s = prepare(day, date, data_dir=data_dir, replace=replace)
    rd = load(day / "refdata")
    names = sorted({r.symbol for r in requests} | set(symbols or []))
    for n in names:
        rd.by_name(n)  # an unknown symbol is refused before the long part
    t0 = time.perf_counter()
    feed = window_feed(load_day(data_dir, names, date), session_ns(date, FEED_START),
                       session_ns(date, DAY_END))
    feed_s = time.perf_counter() - t0
    day_seed = seed if seed is not None else SequencerConfig().day_seed(date)
    run = DayRun(day, date, rd, feed, apps(ticker_only), requests, seed=day_seed,
                 end_ns=session_ns(date, DAY_END),
                 subscribe=names if ticker_only else list(symbols or []),
                 progress=progress)
    return DayResult(run.run(), feed_s, refdata_s)


def write_report(day: Path, plots: bool = True) -> BacktestReport:
    """The day's quality report: `reports/backtest.json` and a PNG per order."""
    report = build_report(day)
    out = day / "reports"
    out.mkdir(exist_ok=True)
    (out / "backtest.json").write_text(json.dumps(report.as_dict(), indent=1) + "\n")
    if plots:
        plot_orders(report, day, out)
    return report
