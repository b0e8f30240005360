"""One backtest day, start to finish: ref data, the recorded feed, the run, the report.

`run_day` is what `tape backtest` and `tape bench backtest` call. The day folder
holds everything the day produced: `refdata/`, `journal/`, and
`reports/backtest.json` with one PNG per order.

Also here: `recorded_sessions` (the days a data folder has, for `tape backtest
--from/--to`), the simulated market of a day (`REALISTIC_MARKET`, the defaults of
`tape backtest`'s market options; None is the plain fill model) and how it is
reported (`market_dict`, `market_line`); `sim_market` builds one from the figures
people use.
"""

# determinism: edge module, builds files and reads the recorded data

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from deploy.backtest.orders import ClientRequest
from deploy.backtest.runner import DayRun, RunResult, session_ns, window_feed
from post_trade.quality import BacktestReport, build_report, plot_orders
from sequencer.messages.control import SimMarket
from sequencer.runtime.app import App

FEED_START = "09:00"  # the plant starts here: half an hour of pre-market state
DAY_END = "16:10"  # after the OMS's end-of-day cancel (16:05)


def sim_market(*, impact: bool = True, impact_y: float = 1.0,
               impact_permanent: float = 2 / 3, impact_decay_s: float = 300.0,
               latency_us: int = 250, venue_latencies: tuple[tuple[str, int], ...] = (),
               platform_latency_us: int = 50, interval_cap_s: int = 60) -> SimMarket:
    """A simulated market from its figures in the units people use (the defaults are
    `tape backtest`'s). The frame carries integers: Y in thousandths, the permanent share
    in basis points, the decay in milliseconds, each rounded to the nearest."""
    return SimMarket(impact=impact, impact_y_milli=round(impact_y * 1_000),
                     impact_permanent_bp=round(impact_permanent * 10_000),
                     impact_decay_ms=round(impact_decay_s * 1_000),
                     platform_latency_us=platform_latency_us, venue_latency_us=latency_us,
                     venue_latencies=tuple(sorted(venue_latencies)),
                     interval_cap_s=interval_cap_s)


#: The realistic market `tape backtest` simulates unless told otherwise (its options'
#: defaults; `fix_gateways.venue_sim.impact` says why these impact parameters): impact on,
#: 250 us one way between the platform and each venue, 50 us inside the platform, our
#: fills per venue, side and minute capped by what the market showed and printed.
REALISTIC_MARKET = sim_market()

_TICK_FILE = re.compile(r"(\d{8})_(?:trade|quote)\.zip")


class UnknownVenue(ValueError):
    """A venue latency names a venue the day's ref data does not have."""

    def __init__(self, venue: str, known: list[str]) -> None:
        self.venue = venue
        self.known = known
        super().__init__(f"no venue {venue!r} in the day's ref data (known: "
                         f"{', '.join(known)})")


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


def recorded_sessions(data_dir: Path, first: dt.date, last: dt.date) -> list[dt.date]:
    """The sessions in [first, last] that the data folder has tick files of (any symbol:
    `tick/<sym>/<YYYYMMDD>_<trade|quote>.zip`), in date order."""
    found: set[dt.date] = set()
    for f in (Path(data_dir) / "tick").glob("*/*.zip"):
        m = _TICK_FILE.fullmatch(f.name)
        if m is None:
            continue
        try:
            d = dt.datetime.strptime(m.group(1), "%Y%m%d").date()
        except ValueError:  # eight digits that are not a date: not a session's file
            continue
        if first <= d <= last:
            found.add(d)
    return sorted(found)


def market_dict(market: SimMarket | None) -> dict[str, object]:
    """The market's settings for JSON output. The plain market (None) is reported with
    the figures it amounts to, so that the keys are always the same: no impact, no
    latency, no interval cap (`SimMarket`'s own defaults)."""
    m = market if market is not None else SimMarket()
    return {
        "plain": market is None,
        "impact": m.impact,
        "impact_y": m.impact_y,
        "impact_permanent": m.impact_permanent,
        "impact_decay_s": m.impact_decay_s,
        "venue_latency_us": m.venue_latency_us,
        "venue_latencies_us": dict(m.venue_latencies),
        "platform_latency_us": m.platform_latency_us,
        "interval_cap_s": m.interval_cap_s,
    }


def market_line(market: SimMarket | None) -> str:
    """The market's settings in one line, for people."""
    if market is None:
        return "market: plain (no SimMarket: no impact, no latency, no interval cap)"
    impact = (f"impact Y {market.impact_y:g}, permanent {market.impact_permanent:.3g}, "
              f"decay {market.impact_decay_s:g} s" if market.impact else "no impact")
    overrides = "".join(f", {v} {us}" for v, us in market.venue_latencies)
    cap = (f"interval cap {market.interval_cap_s} s" if market.interval_cap_s
           else "no interval cap")
    return (f"market: {impact}; latency one way (us): venues {market.venue_latency_us}"
            f"{overrides}, inside the platform {market.platform_latency_us}; {cap}")


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
            progress: Callable[[int, int], None] | None = None,
            market: SimMarket | None = None) -> DayResult:
    """Run one day into folder `day`. `market`: the simulated market's settings,
    sequenced after `SystemStart`; None is the plain fill model (no `SimMarket` frame).
    Refused before the long part, and the day folder left as it was found empty
    (`KeyError`, `UnknownVenue`): a symbol or a latency's venue the day's ref data does
    not have."""
    import time

    from marketdata.recorded import load_day
    from refdata.load import load
    from sequencer.config import SequencerConfig

    refdata_s = prepare(day, date, data_dir=data_dir, replace=replace)
    rd = load(day / "refdata")
    names = sorted({r.symbol for r in requests} | set(symbols or []))
    try:
        for n in names:
            rd.by_name(n)  # an unknown symbol is refused before the long part
        known = sorted(v.code for v in rd.venues)
        for venue, _ in market.venue_latencies if market is not None else ():
            if venue not in known:
                raise UnknownVenue(venue, known)
    except (KeyError, UnknownVenue):
        # Nothing ran: leave no half-built day behind (prepare made the folder fresh, so
        # the ref data set is all it holds), and the corrected command needs no --replace.
        shutil.rmtree(day / "refdata", ignore_errors=True)
        with contextlib.suppress(OSError):  # a folder that held more before: kept
            day.rmdir()
        raise
    t0 = time.perf_counter()
    feed = window_feed(load_day(data_dir, names, date), session_ns(date, FEED_START),
                       session_ns(date, DAY_END))
    feed_s = time.perf_counter() - t0
    day_seed = seed if seed is not None else SequencerConfig().day_seed(date)
    run = DayRun(day, date, rd, feed, apps(ticker_only), requests, seed=day_seed,
                 end_ns=session_ns(date, DAY_END),
                 subscribe=names if ticker_only else list(symbols or []),
                 progress=progress, market=market)
    return DayResult(run.run(), feed_s, refdata_s)


def write_report(day: Path, plots: bool = True, own_prints: bool = True) -> BacktestReport:
    """The day's quality report: `reports/backtest.json` and a PNG per order
    (`own_prints`: our fills count in the benchmarks, `post_trade.quality`)."""
    report = build_report(day, own_prints=own_prints)
    out = day / "reports"
    out.mkdir(exist_ok=True)
    (out / "backtest.json").write_text(json.dumps(report.as_dict(), indent=1) + "\n")
    if plots:
        plot_orders(report, day, out)
    return report
