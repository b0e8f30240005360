"""Volume curves: the expected share of a day's volume in each minute of the
regular session, plus the opening and closing auctions, from recorded history.

A day's shares are 392 numbers in this order, summing to 1: the opening
auction, the 390 minutes 09:30 .. 15:59 of continuous trading, the closing
auction (`VolumeCurve.day_shares` keeps them per history day, in that order).

**Tick days** (`tick/<sym>/<day>_trade.zip`) separate the auctions. Only
non-suspicious prints count. The sale condition is a hex string of bit flags
(AlgoSeek via LEAN): bit 6 opening prints, bit 7 closing prints, bit 24 the
market centre's official close, bit 26 its official open.

- Opening auction: prints flagged opening prints or official open between
  09:28 and 09:45; closing auction: prints flagged closing prints or official
  close between 15:59 and 16:30. The closing cross prints after 16:00 (IBM's
  NYSE cross on 2013-10-08: 262,948 shares at 16:00:47) and opening crosses
  may come late (IBM 09:31:43 that day), hence the windows.
- One cross is sometimes reported twice on an exchange: as its pieces
  (bits 6/7) and as one official open/close print (bits 26/24); SPY's Arca
  open on 2013-10-08 is 271,271 shares in pieces and one official print of
  282,817, and its Arca close that day is only an official print (2,764,728,
  flagged regular too). So per exchange and side the auction volume is the
  larger of the two sums, never both; the prints of either kind are excluded
  from the continuous minutes.
- Continuous minutes: every other print from 09:30:00 to 15:59:59.999.

**Minute bars** (`minute/<sym>/<day>_trade.zip`), what they were measured to
hold (AIG, BAC, IBM, SPY, 2013-10-07..09 against the ticks): they cover the
extended session, 04:00 to 20:00 New York time, a bar only for a minute with
trades (the first may start after 09:30 on a quiet morning; AIG 2013-10-07 has
389 regular bars); the official open and close prints are never in them; the
NYSE crosses usually are, folded into the 09:30 bar (whenever the cross
printed) and the 15:59 bar (although it printed after 16:00; IBM 2013-10-08:
338,008 = 75,060 continuous + 262,948 cross), but not always (IBM's 09:31:43
opening cross that day is in no bar), and SPY's Arca auction pieces are left
out. Every other minute matches the ticks exactly. So a day known from bars
only keeps its minutes 09:31 .. 15:58; its auctions and its first and last
minutes are taken from the default curve (their share of the default, the
bars' minutes scaled to fill the rest). A day with both ticks and bars is
read from the ticks.

**A symbol's curve** (`build_curves`): the mean of its history days' shares
(each day weighs the same), from days strictly before the session date, and
only with at least `min_days` of them; then shrunk toward the default curve,
which counts as `prior_days` pseudo-days: `(n * mean + prior_days * default)
/ (n + prior_days)`. Two or three days of one stock's minutes are mostly
noise (a minute's share has a day-to-day standard deviation of 40% of its
mean for IBM and AIG on their tick days, 70% for SPY over 2011), so the
default's shape dominates until history accumulates: with 3 pseudo-days a
symbol's own days weigh half after three days, three quarters after nine.

**The default curve** (`default_curve_from_history`, shipped as
`defaults/curve.csv`): the minute shape of SPY over the 43 days of
`spy_minute_2011` (one-minute bars stamped in UTC at the minute's end; in New
York time each day has 390 regular bars; SPY's closing cross prints after
16:00 so it is outside them, its opening cross, about 0.3% of the day, may be
in the 09:30 bar), scaled to leave room for the auction shares, which are the
mean over every symbol and tick day before the as-of date of the shares the
rules above measure. `python -m refdata.curves --write-defaults` rewrites
`defaults/curve.csv` and `defaults/stats.csv` from the recorded data.

Shares are rounded to whole millionths that sum to exactly one million
(largest remainders), so they sum to 1 within 1e-9 and rebuild bit-identical.
"""

# determinism: edge module, offline tooling: volume curves from recorded files at build time

from __future__ import annotations

import argparse
import datetime as dt
import functools
import sys
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from refdata import history as h
from refdata.model import VolumeCurve

F64 = h.F64

OPENING_PRINTS = 1 << 6
CLOSING_PRINTS = 1 << 7
OFFICIAL_CLOSE = 1 << 24
OFFICIAL_OPEN = 1 << 26
OPEN_AUCTION_MS = (9 * 3_600_000 + 28 * 60_000, 9 * 3_600_000 + 45 * 60_000)
CLOSE_AUCTION_MS = (15 * 3_600_000 + 59 * 60_000, 16 * 3_600_000 + 30 * 60_000)

N = h.SESSION_MINUTES
EQUITIES = "us_equities_2013-10"
SPY_2011 = "spy_minute_2011"
DEFAULTS_DIR = Path(__file__).resolve().parent / "defaults"
DEFAULT_AS_OF = dt.date(2013, 10, 8)
DEFAULT_STATS_SYMBOLS = ("AIG", "BAC", "IBM", "SPY", "AAPL")


@dataclass(frozen=True)
class DayVolume:
    """One day's shares traded in the opening auction, each minute, the closing auction."""

    open_auction: int
    minutes: h.I64  # 390
    close_auction: int

    @property
    def total(self) -> int:
        return self.open_auction + int(self.minutes.sum()) + self.close_auction

    def shares(self) -> F64:
        v = np.concatenate(([self.open_auction], self.minutes, [self.close_auction]))
        return v.astype(np.float64) / self.total


def _auction(t: h.Trades, ok: np.ndarray, window: tuple[int, int], pieces_bit: int,
             official_bit: int) -> tuple[int, np.ndarray]:
    """(auction volume, mask of the prints it came from) for one side of the day."""
    inside = ok & (t.ms >= window[0]) & (t.ms < window[1])
    official = inside & ((t.cond & official_bit) != 0)
    pieces = inside & ((t.cond & pieces_bit) != 0) & ~official
    volume = 0
    for ex in sorted(set(t.exchange[pieces | official].tolist())):
        on = t.exchange == ex
        volume += max(int(t.size[pieces & on].sum()), int(t.size[official & on].sum()))
    return volume, pieces | official


def tick_day_volume(t: h.Trades) -> DayVolume:
    """Auction and continuous-minute volumes of one tick day (the rules in the module doc)."""
    ok = ~t.suspicious
    open_v, open_mask = _auction(t, ok, OPEN_AUCTION_MS, OPENING_PRINTS, OFFICIAL_OPEN)
    close_v, close_mask = _auction(t, ok, CLOSE_AUCTION_MS, CLOSING_PRINTS, OFFICIAL_CLOSE)
    cont = (ok & ~open_mask & ~close_mask & (t.ms >= h.REGULAR_OPEN_MS)
            & (t.ms < h.REGULAR_CLOSE_MS))
    minute = ((t.ms[cont] - h.REGULAR_OPEN_MS) // 60_000).astype(np.int64)
    minutes = np.bincount(minute, weights=t.size[cont], minlength=N)[:N]
    return DayVolume(open_v, np.rint(minutes).astype(np.int64), close_v)


@functools.lru_cache(maxsize=64)
def _tick_day_cached(path: str, mtime_ns: int, size: int) -> DayVolume:
    del mtime_ns, size  # part of the cache key only: a changed file is read again
    return tick_day_volume(h.read_tick_trades(Path(path)))


def read_tick_day(path: Path) -> DayVolume:
    st = path.stat()
    return _tick_day_cached(str(path), st.st_mtime_ns, st.st_size)


def bar_day_shares(minute_volumes: h.I64, default: VolumeCurve) -> F64 | None:
    """A bar-only day's 392 shares: minutes 09:31..15:58 from the bars, the rest the default's."""
    d = default_vector(default)
    session = minute_volumes[h.REGULAR_OPEN_MS // 60_000:h.REGULAR_CLOSE_MS // 60_000]
    interior = session.astype(np.float64)[1:-1]
    total = float(interior.sum())
    if total <= 0:
        return None
    out = d.copy()
    out[2:-2] = interior / total * float(d[2:-2].sum())
    return out


def default_vector(curve: VolumeCurve) -> F64:
    return np.array([curve.open_auction, *curve.minute_shares, curve.close_auction], np.float64)


def finish(v: F64) -> F64:
    """Normalised and rounded to whole millionths that sum to exactly one million.

    Largest remainders: every share is floored to a millionth, and the
    millionths still missing go one each to the shares that lost the most (ties
    to the earlier), so no share moves by a millionth or more.
    """
    x = np.asarray(v, np.float64)
    if (x < 0).any() or not float(x.sum()) > 0:
        raise ValueError("shares must be non-negative with a positive sum")
    micro = x / float(x.sum()) * 1e6
    units = np.floor(micro)
    missing = round(1e6 - float(units.sum()))
    order = np.argsort(-(micro - units), kind="stable")
    units[order[:missing]] += 1
    return np.round(units / 1e6, 6)


def curve_of(symbol: str, v: F64, days: Sequence[str], source: str,
             day_shares: Sequence[F64] = ()) -> VolumeCurve:
    r = finish(v)
    floats = [float(x) for x in r.tolist()]
    return VolumeCurve(
        symbol=symbol,
        minute_shares=tuple(floats[1:-1]),
        open_auction=floats[0],
        close_auction=floats[-1],
        days=tuple(days),
        source=source,
        day_shares=tuple(tuple(float(x) for x in finish(d).tolist()) for d in day_shares),
    )


def history_days(data_dir: Path, symbol: str, date: dt.date) -> list[tuple[dt.date, str]]:
    """(day, "tick" or "minute") of the symbol's days before `date`, ticks preferred."""
    ticks = {d for d in h.tick_days(data_dir, symbol, "trade") if d < date}
    bars = {d for d in h.minute_days(data_dir, symbol, "trade") if d < date} - ticks
    return sorted([(d, "tick") for d in ticks] + [(d, "minute") for d in bars])


def symbol_curve(data_dir: Path, symbol: str, date: dt.date, default: VolumeCurve, *,
                 min_days: int = 2, prior_days: float = 3.0) -> VolumeCurve | None:
    """The symbol's own curve, or None when it has fewer than `min_days` history days."""
    days: list[str] = []
    shares: list[F64] = []
    n_tick = n_bar = 0
    for day, kind in history_days(data_dir, symbol, date):
        if kind == "tick":
            dv = read_tick_day(h.day_file(data_dir, "tick", symbol, day, "trade"))
            s = dv.shares() if dv.total > 0 else None
        else:
            s = bar_day_shares(h.minute_volumes(h.day_file(data_dir, "minute", symbol, day,
                                                           "trade")), default)
        if s is None:
            continue
        days.append(day.isoformat())
        shares.append(s)
        n_tick += kind == "tick"
        n_bar += kind == "minute"
    n = len(shares)
    if n < max(min_days, 1):
        return None
    mean = np.mean(np.array(shares), axis=0)
    blended = (n * mean + prior_days * default_vector(default)) / (n + prior_days)
    parts = [f"{n_tick} tick"] if n_tick else []
    if n_bar:
        parts.append(f"{n_bar} minute-bar (auctions, 09:30 and 15:59 from the default)")
    source = (f"blend: {symbol} over {n} days ({', '.join(parts)}) with the default "
              f"as {prior_days:g} pseudo-days")
    return curve_of(symbol, blended, days, source, shares)


def build_curves(data_dir: Path | None, symbols: Sequence[str], date: dt.date,
                 default: VolumeCurve, *, min_days: int = 2,
                 prior_days: float = 3.0) -> list[VolumeCurve]:
    """Each symbol's own curve where its history before `date` allows, then the "*" default.

    `data_dir` is the `us_equities_2013-10` folder, None when there is no data.
    """
    if min_days < 1 or prior_days < 0:
        raise ValueError("min_days must be at least 1 and prior_days not negative")
    out: list[VolumeCurve] = []
    if data_dir is not None:
        for sym in symbols:
            c = symbol_curve(data_dir, sym, date, default, min_days=min_days,
                             prior_days=prior_days)
            if c is not None:
                out.append(c)
    if default.symbol != "*":
        default = VolumeCurve("*", default.minute_shares, default.open_auction,
                              default.close_auction, default.days, default.source,
                              default.day_shares)
    out.append(default)
    return out


# ---------------------------------------------------------------- the default curve


def read_spy_2011(folder: Path) -> dict[dt.date, h.I64]:
    """`spy_minute_2011`: per New York day, the volume of each regular-session minute (390)."""
    ny = zoneinfo.ZoneInfo("America/New_York")  # tz rules are fixed data
    days: dict[dt.date, h.I64] = {}
    files = sorted(folder.glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"{folder}: no minute bar files")
    for path in files:
        for line_no, line in enumerate(path.read_text(encoding="ascii").splitlines(), 1):
            if not line.strip():
                continue
            f = line.split(";")
            try:
                if len(f) != 6:
                    raise ValueError(f"expected 6 fields, found {len(f)}")
                end = dt.datetime.strptime(f[0], "%Y%m%d %H%M%S").replace(tzinfo=dt.UTC)
                volume = int(f[5])
            except ValueError as e:
                raise h.HistoryError(f"{path}:{line_no}: {e}") from None
            start = end.astimezone(ny) - dt.timedelta(minutes=1)
            m = start.hour * 60 + start.minute - h.REGULAR_OPEN_MS // 60_000
            if 0 <= m < N:
                days.setdefault(start.date(), np.zeros(N, np.int64))[m] += volume
    return {d: v for d, v in sorted(days.items()) if v.sum() > 0}


def auction_shares(data_dir: Path, before: dt.date | None) -> tuple[float, float, list[str]]:
    """Mean opening and closing auction shares over every symbol's tick days (before `before`)."""
    opens: list[float] = []
    closes: list[float] = []
    used: set[str] = set()
    tick_root = data_dir / "tick"
    symbols = sorted(p.name for p in tick_root.iterdir() if p.is_dir()) \
        if tick_root.is_dir() else []
    for sym in symbols:
        for day in h.tick_days(data_dir, sym, "trade"):
            if before is not None and day >= before:
                continue
            dv = read_tick_day(h.day_file(data_dir, "tick", sym, day, "trade"))
            if dv.total <= 0:
                continue
            opens.append(dv.open_auction / dv.total)
            closes.append(dv.close_auction / dv.total)
            used.add(f"{sym.upper()} {day.isoformat()}")
    if not opens:
        raise ValueError(f"no tick trade days under {tick_root}"
                         + (f" before {before}" if before else ""))
    return float(np.mean(opens)), float(np.mean(closes)), sorted(used)


def default_curve_from_history(root: Path, *, before: dt.date | None = None) -> VolumeCurve:
    """The "*" curve: SPY's 2011 minute shape with the auction shares the ticks measured.

    `root` is the recorded data root (holding `spy_minute_2011` and
    `us_equities_2013-10`); `before` limits the tick days to those before it.
    `day_shares` holds the 2011 days (their minutes with the measured auctions).
    """
    spy = read_spy_2011(root / SPY_2011)
    a_open, a_close, used = auction_shares(root / EQUITIES, before)
    day_minute = [v.astype(np.float64) / float(v.sum()) for v in spy.values()]
    shape = np.mean(np.array(day_minute), axis=0)
    rest = 1.0 - a_open - a_close

    def full(minutes: F64) -> F64:
        return np.concatenate(([a_open], rest * minutes, [a_close]))

    tick_days = sorted({u.split()[1] for u in used})
    symbols = sorted({u.split()[0] for u in used})
    source = (f"default: SPY minute shape over {len(spy)} days of {SPY_2011} "
              f"({min(spy)}..{max(spy)}); auction shares the mean over "
              f"{len(used)} symbol-days of ticks ({' '.join(symbols)}; "
              f"{', '.join(tick_days)})")
    days = sorted({d.isoformat() for d in spy} | set(tick_days))
    return curve_of("*", full(shape), days, source, [full(m) for m in day_minute])


CURVE_HEADER = "minute,share"


def write_default_curve(path: Path, curve: VolumeCurve, comment: str) -> None:
    lines = [f"# {c}" for c in comment.splitlines()]
    lines.append(f"# source: {curve.source}")
    lines.append(f"# days: {' '.join(curve.days)}")
    lines.append(CURVE_HEADER)
    lines.append(f"open_auction,{curve.open_auction:.6f}")
    lines.extend(f"{i},{s:.6f}" for i, s in enumerate(curve.minute_shares))
    lines.append(f"close_auction,{curve.close_auction:.6f}")
    path.write_text("\n".join(lines) + "\n", encoding="ascii")


def load_default_curve(path: Path) -> VolumeCurve:
    """The shipped "*" curve (`defaults/curve.csv`), checked: 390 minutes, two auctions, sum 1.

    Its `source` is the file's "# source: default: ..." line (plain "default"
    without one), its `days` the "# days:" line.
    """
    minutes: dict[int, float] = {}
    auctions: dict[str, float] = {}
    days: tuple[str, ...] = ()
    source = "default"
    header = False
    for line_no, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            if line.startswith("# days:"):
                days = tuple(line.removeprefix("# days:").split())
            elif line.startswith("# source: default"):
                source = line.removeprefix("# source:").strip()
            continue
        if not header:
            if line.replace(" ", "") != CURVE_HEADER:
                raise ValueError(f"{path}:{line_no}: header must be {CURVE_HEADER}")
            header = True
            continue
        key, _, value = line.partition(",")
        key = key.strip()
        try:
            share = float(value)
            if not share >= 0:
                raise ValueError(f"share {value!r} is negative or not a number")
            if key in ("open_auction", "close_auction"):
                if key in auctions:
                    raise ValueError(f"{key} listed twice")
                auctions[key] = share
                continue
            m = int(key)
            if not 0 <= m < N or m in minutes:
                raise ValueError(f"minute {m} is outside 0..{N - 1} or listed twice")
            minutes[m] = share
        except ValueError as e:
            raise ValueError(f"{path}:{line_no}: {e}") from None
    if len(minutes) != N or len(auctions) != 2:
        raise ValueError(f"{path}: needs minutes 0..{N - 1} and both auctions, found "
                         f"{len(minutes)} minutes and {len(auctions)} auctions")
    shares = tuple(minutes[i] for i in range(N))
    total = sum(shares) + auctions["open_auction"] + auctions["close_auction"]
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"{path}: shares sum to {total:.9f}, not 1")
    return VolumeCurve("*", shares, auctions["open_auction"], auctions["close_auction"],
                       days, source)


# ---------------------------------------------------------------- the generator


def write_defaults(root: Path, as_of: dt.date, out_dir: Path) -> tuple[Path, Path]:
    """Rewrite `curve.csv` and `stats.csv` from the recorded data under `root`, as of `as_of`."""
    from refdata.stats import default_stats_rows, write_default_stats

    how = (f"Computed by `python -m refdata.curves --write-defaults` from the recorded data "
           f"(../shared/data), history before {as_of.isoformat()}.")
    curve = default_curve_from_history(root, before=as_of)
    out_dir.mkdir(parents=True, exist_ok=True)
    curve_path = out_dir / "curve.csv"
    write_default_curve(curve_path, curve, how + "\nThe default volume curve (\"*\"): share "
                        "of the day's volume in the opening auction, each minute from 09:30 "
                        "(minute 0) to 15:59 (minute 389), the closing auction.")
    stats_path = out_dir / "stats.csv"
    rows = default_stats_rows(root / EQUITIES, DEFAULT_STATS_SYMBOLS, as_of)
    write_default_stats(stats_path, rows, how + "\nadv shares/day; avg_spread_bps of mid; "
                        "volatility annualised; avg_trade_size shares; ref_price 1/10,000 $ "
                        "(previous close); days of history.\n\"*\": medians across the "
                        "symbols, for symbols without history (and a symbol's missing "
                        "figures).")
    return curve_path, stats_path


def main(argv: Sequence[str] | None = None) -> int:
    from marketdata.recorded import default_data_dir

    p = argparse.ArgumentParser(prog="python -m refdata.curves",
                                description="Rebuild the shipped default ref data figures.")
    p.add_argument("--write-defaults", action="store_true",
                   help="write defaults/curve.csv and defaults/stats.csv")
    p.add_argument("--data", type=Path, default=None, help="the recorded data root")
    p.add_argument("--as-of", default=DEFAULT_AS_OF.isoformat(),
                   help="use history strictly before this date (YYYY-MM-DD)")
    p.add_argument("--out", type=Path, default=DEFAULTS_DIR, help="the folder to write")
    args = p.parse_args(argv)
    if not args.write_defaults:
        p.print_help()
        return 2
    root = args.data or default_data_dir()
    try:
        as_of = dt.date.fromisoformat(args.as_of)
    except ValueError:
        print(f"error: --as-of {args.as_of!r} is not a date", file=sys.stderr)
        return 2
    if not (root / EQUITIES).is_dir() or not (root / SPY_2011).is_dir():
        print(f"error: no recorded data under {root}", file=sys.stderr)
        return 1
    for path in write_defaults(root, as_of, args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
