"""The execution-quality charts: one PNG per order of a `post_trade.quality` report.

Three panels, sharing exchange-local time:

- price: the NBBO mid as the simulated market showed it (a thin step line), our
  fills marked by how they traded (passive: added liquidity; aggressive: removed
  it; auction), the interval VWAP and the arrival mid as horizontal lines;
- running slippage: our cumulative average price against the interval VWAP of the
  window so far, at each fill, in bps (+ is a cost);
- per interval (the report's participation intervals): the plan's shares, ours and
  the market's (everyone's counted prints, ours included) as bars on ONE log scale
  of shares, so a small order's bars show and an interval where we out-traded the
  market stands above it; our participation in % on the right-hand axis.

Everything comes from the report (`BacktestReport.prints`, `quotes`, `own` and the
results); a report without them (made of results alone) has them read again from
the day's journal. matplotlib's Agg backend, no display.
"""

# determinism: edge module, offline tooling: draws files from a finished report

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import zoneinfo
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from post_trade.quality import (
    BPS,
    TZ,
    BacktestReport,
    OrderResult,
    Prints,
    Quotes,
    _counted,
    build_report,
)
from sequencer.messages.marketdata import PRICE_SCALE

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

I64 = npt.NDArray[np.int64]
Local = Callable[[Any], npt.NDArray[np.datetime64]]  # stream ns -> exchange-local time
MAX_POINTS = 3000  # of the mid line: more does not show at this width
_LIQUIDITY = (  # (liquidity, label, marker, colour)
    ("added", "passive (added)", "o", "#55a868"),
    ("removed", "aggressive (removed)", "^", "#c44e52"),
    ("auction", "auction", "s", "#8172b2"),
    ("", "other", "x", "#937860"),
)


def _file_name(order_id: str, used: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]", "_", order_id).lstrip(".") or "order"
    name, n = base, 1
    while name in used:  # two ids that sanitize alike keep a file each
        n += 1
        name = f"{base}-{n}"
    used.add(name)
    return f"{name}.png"


def plot_orders(report: BacktestReport, day: Path, out_dir: Path, *,
                tz: str = TZ) -> list[Path]:
    """One PNG per order in `out_dir` (`{order_id}.png`), in exchange-local time `tz`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted = {r.symbol_id for r in report.results if r.symbol_id}
    if not (wanted.issubset(report.prints) and wanted.issubset(report.quotes)
            and wanted.issubset(report.own)):
        # Made of results alone: read the market again (the names come from them).
        again = build_report(Path(day), names={r.symbol_id: r.symbol for r in report.results
                                               if r.symbol_id})
        report = dataclasses.replace(report, prints=again.prints, quotes=again.quotes,
                                     own=again.own, benchmark=again.benchmark)
    own_prints = bool((report.benchmark or {}).get("own_prints_included", True))
    zone = zoneinfo.ZoneInfo(tz)
    used: set[str] = set()
    paths: list[Path] = []
    empty_p = Prints(*(np.zeros(0, np.int64),) * 5)
    empty_q = Quotes(*(np.zeros(0, np.int64),) * 5)
    for r in report.results:
        fig = Figure(figsize=(12, 10), dpi=100, layout="constrained")
        FigureCanvasAgg(fig)
        _draw(fig, r, report.prints.get(r.symbol_id, empty_p),
              report.own.get(r.symbol_id, empty_p) if own_prints else empty_p,
              report.quotes.get(r.symbol_id, empty_q), zone)
        path = out_dir / _file_name(r.order_id, used)
        fig.savefig(path)
        paths.append(path)
    return paths


def _draw(fig: Figure, r: OrderResult, p: Prints, own: Prints, q: Quotes,
          zone: zoneinfo.ZoneInfo) -> None:
    import matplotlib.dates as mdates

    f_ts = np.array([f.ts_ns for f in r.fills], dtype=np.int64)
    lo = r.window_start_ns
    hi = max(r.window_end_ns, int(f_ts.max()) + 1 if len(f_ts) else 0, lo + 1)
    # Trading hours never straddle a change of UTC offset, so one offset serves the day.
    offset = dt.datetime.fromtimestamp(lo / 1e9, zone).utcoffset() or dt.timedelta(0)
    shift = int(offset.total_seconds()) * 1_000_000_000

    def local(ns: I64) -> npt.NDArray[np.datetime64]:
        return (np.asarray(ns, dtype=np.int64) + shift).astype("datetime64[ns]")

    ax, bx, cx = fig.subplots(3, 1, sharex=True, height_ratios=[3, 2, 2])
    _price(ax, r, q, lo, hi, local)
    _running(bx, r, p, own, local)
    _intervals(cx, r, local)
    for a in (ax, bx, cx):
        a.grid(alpha=0.3)
        for x in (r.window_start_ns, r.window_end_ns):
            a.axvline(local(np.array([x]))[0], color="grey", linewidth=0.8, linestyle=":")
    hhmm = mdates.DateFormatter("%H:%M")  # type: ignore[no-untyped-call]  # untyped in mpl
    cx.xaxis.set_major_formatter(hhmm)
    cx.set_xlabel(f"exchange time ({zone.key})")
    slip = "-" if r.slippage_bps is None else f"{r.slippage_bps:+.1f}"
    shortfall = "-" if r.is_bps is None else f"{r.is_bps:+.1f}"
    fig.suptitle(f"{r.order_id}  {r.symbol} {r.side} {r.qty:,} ({r.algo}), "
                 f"{r.done_qty:,} done: vs interval VWAP {slip} bps, IS {shortfall} bps, "
                 f"status {r.final_status}")


def _price(ax: Axes, r: OrderResult, q: Quotes, lo: int, hi: int, local: Local) -> None:
    to_local = local
    inside = (q.ts_ns >= lo) & (q.ts_ns < hi)
    # The mid in force at the window's start, then each change inside it.
    first = int(np.searchsorted(q.ts_ns, lo, side="right")) - 1
    keep = np.flatnonzero(inside)
    if first >= 0:
        keep = np.r_[first, keep]
    if len(keep):
        ts = np.maximum(q.ts_ns[keep], lo)
        mid = (q.bid[keep] + q.ask[keep]) / 2 / PRICE_SCALE
        if len(ts) > MAX_POINTS:
            # The last mid of each of MAX_POINTS slices of the window.
            step = max(1, (hi - lo) // MAX_POINTS)
            b = (ts - lo) // step
            last = np.r_[b[1:] != b[:-1], True]
            ts, mid = ts[last], mid[last]
        ax.step(to_local(np.r_[ts, hi]), np.r_[mid, mid[-1]], where="post",
                linewidth=0.6, color="#4c72b0", label="NBBO mid")
    else:
        ax.text(0.5, 0.5, "no NBBO in the window", transform=ax.transAxes, ha="center",
                va="center", color="grey")
    for liq, label, marker, colour in _LIQUIDITY:
        fs = [f for f in r.fills if f.liquidity == liq]
        if fs:
            ax.scatter(to_local(np.array([f.ts_ns for f in fs])),
                       [f.px / PRICE_SCALE for f in fs],
                       s=[max(8.0, min(80.0, 8 + f.qty / 50)) for f in fs], marker=marker,
                       color=colour, alpha=0.8, linewidths=0.5, label=label, zorder=3)
    if r.market_vwap is not None:
        ax.axhline(r.market_vwap, color="#dd8452", linestyle="--", linewidth=1,
                   label=f"interval VWAP {r.market_vwap:.4f}")
    if r.arrival_mid is not None:
        ax.axhline(r.arrival_mid, color="black", linestyle=":", linewidth=1,
                   label=f"arrival mid {r.arrival_mid:.4f}")
    ax.set_ylabel("price ($)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", fontsize=8, ncols=3)


def _running(ax: Axes, r: OrderResult, p: Prints, own: Prints, local: Local) -> None:
    """Cost-signed (avg so far - VWAP so far) / VWAP so far, at each fill."""
    sign = 1 if r.side == "buy" else -1
    parts = []
    for x in (p, own):
        m = _counted(x, r.window_start_ns, r.window_end_ns, r.opening_auction,
                     r.closing_auction)
        parts.append((x.ts_ns[m], x.px[m].astype(np.float64) * x.size[m], x.size[m]))
    ts = np.concatenate([a for a, _, _ in parts])
    order = np.argsort(ts, kind="stable")
    ts = ts[order]
    cum_not = np.cumsum(np.concatenate([b for _, b, _ in parts])[order])
    cum_vol = np.cumsum(np.concatenate([c for _, _, c in parts])[order])
    xs, ys = [], []
    done = notional = 0
    for f in r.fills:
        done += f.qty
        notional += f.qty * f.px
        i = int(np.searchsorted(ts, f.ts_ns, side="right")) - 1
        if i < 0 or not cum_vol[i]:
            continue
        vwap = float(cum_not[i]) / float(cum_vol[i])
        xs.append(f.ts_ns)
        ys.append(sign * BPS * (notional / done - vwap) / vwap)
    if xs:
        ax.step(local(np.array(xs)), ys, where="post", color="#c44e52", linewidth=1.2,
                marker=".", markersize=3, label="our average vs the VWAP so far")
        ax.legend(loc="upper left", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no fills against market volume", transform=ax.transAxes,
                ha="center", va="center", color="grey")
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_ylabel("running slippage (bps, + cost)")


def _intervals(ax: Axes, r: OrderResult, local: Local) -> None:
    """Plan, ours and the market per interval on one scale of shares; % on the right."""
    if not r.intervals:
        ax.text(0.5, 0.5, "no intervals", transform=ax.transAxes, ha="center",
                va="center", color="grey")
        return
    starts = np.array([i.start_ns for i in r.intervals], dtype=np.int64)
    widths = np.array([i.end_ns - i.start_ns for i in r.intervals], dtype=np.int64)
    third = widths // 3
    series = [("market (all prints)", [i.market_qty + i.own_qty for i in r.intervals],
               "#4c72b0", 0)]
    if any(i.target_qty is not None for i in r.intervals):
        series.append(("plan", [i.target_qty or 0 for i in r.intervals], "#55a868", 1))
    series.append(("ours", [i.done_qty for i in r.intervals], "#c44e52", 2))
    for label, ys, colour, k in series:
        ax.bar(local(starts + k * third), ys,
               width=(third * 0.95).astype("timedelta64[ns]"), align="edge",
               color=colour, alpha=0.8, linewidth=0, label=label)
    # One log scale for all three: a 1% order's bars show beside the market's, and a
    # minute where we out-traded the market still stands above it (a second axis for
    # ours would hide exactly that).
    ax.set_yscale("log", nonpositive="clip")
    top = max(max(ys) for _l, ys, _c, _k in series)
    ax.set_ylim(0.8, max(10.0, top * 2.0))
    ax.set_ylabel("shares per interval (log)")
    tx = ax.twinx()
    pct = [np.nan if i.participation is None else 100 * i.participation for i in r.intervals]
    mids = starts + widths // 2
    tx.plot(local(mids), pct, color="black", marker="o", markersize=3,
            linewidth=1, label="our participation %")
    tx.set_ylabel("participation (%, right)")
    tx.set_ylim(bottom=0)
    handles = [*ax.get_legend_handles_labels()[0], *tx.get_legend_handles_labels()[0]]
    ax.legend(handles=handles, loc="upper left", fontsize=8, ncols=4)
