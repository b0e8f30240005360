"""Symbol statistics from the recorded history strictly before the session date.

For a session date D, only days before D are read (no look-ahead):

- `adv`: mean daily volume of the last 20 daily bars before D (fewer when the
  history is shorter). The vendor's daily volume is the regular session's,
  auctions included (IBM 2013-10-09: 4,275,214 shares, exactly the sum of
  that day's 09:30-15:59 minute bars).
- `volatility`: annualised (x sqrt 252) sample standard deviation of daily log
  close-to-close returns over the last 60 returns before D; at least 20 are
  needed, else the default. The bars are unadjusted, so a split inside the
  window would show as a return (none falls in the windows used here).
- `ref_price`: the last daily close before D (fixed point, 1/10,000 dollar).
- `avg_spread_bps`: the mean quoted national best spread over mid, in basis
  points, on the most recent tick-quote day before D: the vendor's quote
  rows are the national best itself, one side a row (see `nbbo_spread_bps`),
  sampled once a second from 09:30:00 to 15:59:59, suspicious rows dropped;
  samples with a side missing or crossed (bid above ask) are skipped, locked
  ones count as zero. Without tick quotes: the same mean over the regular-session
  minute quote bars (bid close and ask close) of the most recent minute day
  before D. Otherwise the default.
- `avg_trade_size`: mean size of the regular-hours (09:30 to 16:00),
  non-suspicious prints on the tick-trade days before D (the last 20 at most),
  all sale conditions counted as `marketdata.volume` counts them (IBM
  2013-10-08: the data README's 5,203,752 shares, in 33,323 prints: 156).
- `days`: how many distinct history days the figures rest on.

A figure the history cannot give falls back to `defaults[symbol]`, else
`defaults["*"]`, field by field; `source` is "recorded" when at least one
figure came from the data, "default" when none did. Floats are rounded to 6
decimals and counts to integers, so a rebuild is bit-identical.

`refdata/defaults/stats.csv` holds the shipped figures (as of 2013-10-08, for
AIG, BAC, IBM, SPY and AAPL, plus a "*" row of medians across them for
unknown symbols); `python -m refdata.curves --write-defaults` rewrites it.
"""

# determinism: edge module, offline tooling: statistics from recorded files at build time

from __future__ import annotations

import csv
import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from refdata import history as h
from refdata.model import SymbolStats

ADV_DAYS = 20
VOL_RETURNS = 60
VOL_MIN_RETURNS = 20
TRADE_SIZE_DAYS = 20
ANNUALISE = math.sqrt(252)
SAMPLE_MS = 1_000

STATS_COLUMNS = ("symbol", "adv", "avg_spread_bps", "volatility", "avg_trade_size",
                 "ref_price", "days")


@dataclass
class Recorded:
    """The figures one symbol's history gives (None: the history cannot say)."""

    adv: int | None = None
    avg_spread_bps: float | None = None
    volatility: float | None = None
    avg_trade_size: int | None = None
    ref_price: int | None = None
    days: set[dt.date] = field(default_factory=set)

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.adv, self.avg_spread_bps, self.volatility,
                                           self.avg_trade_size, self.ref_price))


def _r6(x: float) -> float:
    return round(float(x), 6)


def nbbo_spread_bps(q: h.Quotes) -> float | None:
    """Mean national best spread (bps of mid) over the regular session, sampled each second.

    Each vendor quote row is the new national best on one side (the exchange
    at it and that exchange's size), not one exchange's own quote: read as
    per-exchange quotes, exchanges freeze at stale prices once they leave the
    best, and BAC on 2013-10-09 reads crossed 99.5% of the session; read as
    the national best, no second of it is crossed and the spread is one cent
    at the median, as its minute quote bars say (7.19 against 7.17 bps).
    """
    t = np.arange(h.REGULAR_OPEN_MS, h.REGULAR_CLOSE_MS, SAMPLE_MS, dtype=np.float64)
    sides = []
    for px, size in ((q.bid_px, q.bid_size), (q.ask_px, q.ask_size)):
        rows = ~q.suspicious & (px > 0)
        ms = q.ms[rows]
        order = np.argsort(ms, kind="stable")
        ms = ms[order]
        # A side shown with size 0 is no quote.
        shown = np.where(size[rows] > 0, px[rows], 0)[order]
        last = np.searchsorted(ms, t, side="right") - 1
        cur = np.zeros(len(t), np.int64)
        cur[last >= 0] = shown[last[last >= 0]]
        sides.append(cur)
    bid, ask = sides
    ok = (bid > 0) & (ask > 0) & (ask >= bid)
    if not ok.any():
        return None
    b = bid[ok].astype(np.float64)
    a = ask[ok].astype(np.float64)
    return float(np.mean((a - b) / ((a + b) / 2) * 1e4))


def bar_spread_bps(start_ms: h.I64, bid: h.I64, ask: h.I64) -> float | None:
    """Mean close-of-bar spread (bps of mid) over the regular-session minute quote bars."""
    ok = ((start_ms >= h.REGULAR_OPEN_MS) & (start_ms < h.REGULAR_CLOSE_MS)
          & (bid > 0) & (ask >= bid))
    if not ok.any():
        return None
    b = bid[ok].astype(np.float64)
    a = ask[ok].astype(np.float64)
    return float(np.mean((a - b) / ((a + b) / 2) * 1e4))


def regular_prints(t: h.Trades) -> tuple[int, int]:
    """(prints, shares) of the regular-hours, non-suspicious prints of a tick day."""
    ok = (t.ms >= h.REGULAR_OPEN_MS) & (t.ms < h.REGULAR_CLOSE_MS) & ~t.suspicious
    return int(ok.sum()), int(t.size[ok].sum())


def recorded_figures(data_dir: Path | None, symbol: str, date: dt.date) -> Recorded:
    """What the history strictly before `date` says about `symbol`."""
    rec = Recorded()
    if data_dir is None:
        return rec
    daily = h.read_daily(data_dir, symbol)
    if daily is not None:
        past = daily.before(date)
        if len(past.dates):
            n = min(ADV_DAYS, len(past.dates))
            rec.adv = round(float(np.mean(past.volume[-n:])))
            rec.days.update(past.dates[-n:])
            rec.ref_price = int(past.close[-1])
            rec.days.add(past.dates[-1])
            closes = past.close[-(VOL_RETURNS + 1):]
            dates = past.dates[-(VOL_RETURNS + 1):]
            good = closes > 0
            closes = closes[good]
            if len(closes) - 1 >= VOL_MIN_RETURNS:
                r = np.diff(np.log(closes.astype(np.float64)))
                rec.volatility = _r6(float(np.std(r, ddof=1)) * ANNUALISE)
                rec.days.update(d for d, g in zip(dates, good.tolist(), strict=True) if g)
    quote_days = [d for d in h.tick_days(data_dir, symbol, "quote") if d < date]
    if quote_days:
        day = quote_days[-1]
        s = nbbo_spread_bps(h.read_tick_quotes(h.day_file(data_dir, "tick", symbol, day,
                                                          "quote")))
        if s is not None:
            rec.avg_spread_bps = _r6(s)
            rec.days.add(day)
    if rec.avg_spread_bps is None:
        bar_days = [d for d in h.minute_days(data_dir, symbol, "quote") if d < date]
        if bar_days:
            day = bar_days[-1]
            s = bar_spread_bps(*h.minute_quote_closes(
                h.day_file(data_dir, "minute", symbol, day, "quote")))
            if s is not None:
                rec.avg_spread_bps = _r6(s)
                rec.days.add(day)
    trade_days = [d for d in h.tick_days(data_dir, symbol, "trade") if d < date]
    prints = shares = 0
    for day in trade_days[-TRADE_SIZE_DAYS:]:
        n, v = regular_prints(h.read_tick_trades(h.day_file(data_dir, "tick", symbol, day,
                                                            "trade")))
        if n:
            prints += n
            shares += v
            rec.days.add(day)
    if prints:
        rec.avg_trade_size = round(shares / prints)
    return rec


def _fallback(symbol: str, defaults: Mapping[str, SymbolStats]) -> SymbolStats:
    d = defaults.get(symbol) or defaults.get("*")
    if d is None:
        raise KeyError(f"no default statistics for {symbol!r} and no '*' row")
    return d


def stats_from(symbol: str, rec: Recorded, fallback: SymbolStats) -> SymbolStats:
    """The recorded figures, each missing one taken from `fallback`."""
    if not rec.any:
        return SymbolStats(symbol, fallback.adv, fallback.avg_spread_bps, fallback.volatility,
                           fallback.avg_trade_size, fallback.ref_price, fallback.days, "default")
    return SymbolStats(
        symbol=symbol,
        adv=rec.adv if rec.adv is not None else fallback.adv,
        avg_spread_bps=(rec.avg_spread_bps if rec.avg_spread_bps is not None
                        else fallback.avg_spread_bps),
        volatility=rec.volatility if rec.volatility is not None else fallback.volatility,
        avg_trade_size=(rec.avg_trade_size if rec.avg_trade_size is not None
                        else fallback.avg_trade_size),
        ref_price=rec.ref_price if rec.ref_price is not None else fallback.ref_price,
        days=len(rec.days),
        source="recorded",
    )


def compute_stats(data_dir: Path | None, symbols: Sequence[str], date: dt.date,
                  defaults: Mapping[str, SymbolStats]) -> list[SymbolStats]:
    """One `SymbolStats` per symbol, in order, from history strictly before `date`.

    `data_dir` is the `us_equities_2013-10` folder, or None when there is no
    recorded data (every symbol then gets its default figures).
    """
    return [stats_from(sym, recorded_figures(data_dir, sym, date), _fallback(sym, defaults))
            for sym in symbols]


# ---------------------------------------------------------------- the shipped defaults


def default_stats_rows(data_dir: Path, symbols: Sequence[str],
                       date: dt.date) -> list[SymbolStats]:
    """The rows of `defaults/stats.csv`: each symbol's recorded figures, then a "*" row.

    The "*" row (for symbols nobody has history for) is the median, across the
    symbols, of each figure the history gave; a symbol's missing figure (AAPL
    has daily bars only, so no spread or trade size) is taken from it.
    """
    recs = [(sym, recorded_figures(data_dir, sym, date)) for sym in symbols]

    def med(values: list[float | int | None]) -> float:
        got = [float(v) for v in values if v is not None]
        if not got:
            raise ValueError(f"no recorded figures before {date} in {data_dir}")
        return float(np.median(got))

    star = SymbolStats(
        symbol="*",
        adv=round(med([r.adv for _, r in recs])),
        avg_spread_bps=_r6(med([r.avg_spread_bps for _, r in recs])),
        volatility=_r6(med([r.volatility for _, r in recs])),
        avg_trade_size=round(med([r.avg_trade_size for _, r in recs])),
        ref_price=round(med([r.ref_price for _, r in recs])),
        days=0,
        source="default",
    )
    rows = [stats_from(sym, rec, star) for sym, rec in recs]
    return [*rows, star]


def write_default_stats(path: Path, rows: Sequence[SymbolStats], comment: str) -> None:
    lines = [f"# {c}" for c in comment.splitlines()]
    lines.append(",".join(STATS_COLUMNS))
    for s in rows:
        lines.append(f"{s.symbol},{s.adv},{s.avg_spread_bps:.6f},{s.volatility:.6f},"
                     f"{s.avg_trade_size},{s.ref_price},{s.days}")
    path.write_text("\n".join(lines) + "\n", encoding="ascii")


def load_default_stats(path: Path) -> dict[str, SymbolStats]:
    """The shipped figures by symbol (`source` "default"); "*" is for unknown symbols."""
    out: dict[str, SymbolStats] = {}
    text = Path(path).read_text(encoding="utf-8")
    lines = [(i, ln) for i, ln in enumerate(text.splitlines(), start=1)
             if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise ValueError(f"{path}: no header")
    header = next(csv.reader([lines[0][1]]))
    if tuple(c.strip() for c in header) != STATS_COLUMNS:
        raise ValueError(f"{path}:{lines[0][0]}: header must be {','.join(STATS_COLUMNS)}")
    for line_no, line in lines[1:]:
        f = [c.strip() for c in next(csv.reader([line]))]
        try:
            if len(f) != len(STATS_COLUMNS):
                raise ValueError(f"expected {len(STATS_COLUMNS)} fields, found {len(f)}")
            s = SymbolStats(f[0], int(f[1]), float(f[2]), float(f[3]), int(f[4]), int(f[5]),
                            int(f[6]), "default")
            if not s.symbol or s.adv < 0 or s.avg_spread_bps < 0 or s.volatility < 0 \
                    or s.avg_trade_size < 0 or s.ref_price < 0 or s.days < 0:
                raise ValueError("empty symbol or a negative figure")
        except ValueError as e:
            raise ValueError(f"{path}:{line_no}: {e}") from None
        if s.symbol in out:
            raise ValueError(f"{path}:{line_no}: {s.symbol} listed twice")
        out[s.symbol] = s
    if "*" not in out:
        raise ValueError(f"{path}: no '*' row (the figures for unknown symbols)")
    return out
