"""A seeded stochastic market: a day of quotes and trades when no recorded data is present.

`simulate(day, symbols, seed=...)` returns a `FeedBatch` like the recorded and
CSV readers do. Same seed, same inputs: the same columns, byte for byte.

Randomness
----------
Every draw comes from `numpy.random.default_rng` over a `SeedSequence` made
from the caller's seed and a key of the session date and the symbol's name
(`_symbol_seed`), never from the wall clock, Python's `hash` or a set. A
symbol's data therefore depends only on (seed, day, its own parameters, the
curve, the exchanges, the session), not on which other symbols are simulated
with it or in what order; and the same seed gives different (independent) data
on different days. Each symbol's sequence is split again into four streams
(price path, quotes, trades, auctions), so, for example, a different
`quotes_per_trade` leaves the symbol's trades and price path unchanged.
Byte-identical output is promised for one numpy version on one platform:
numpy keeps a bit generator's raw stream fixed but may change how a
distribution is drawn from it between versions, and its `exp` may differ in
the last bit between CPU builds (which the rounding to the tick almost never
reveals). A day that was streamed is in the journal, which is what replay uses.

The model
---------
Times: the session runs from `start` to `end` local time in `tz` on `day`
(09:30 to 16:00 New York by default), converted to ns since the epoch (UTC).
The curve's minute shares (390 for 09:30-16:00) are laid over the session,
stretched or squeezed if the session is not 390 minutes long.

Price path: a geometric Brownian motion of the mid on a 100 ms grid. The
daily variance is `(volatility / sqrt(252))**2` (volatility is annualised);
20% of it is an overnight gap between `ref_price` (the previous close) and the
opening mid, the rest is spread over the session's grid steps, half evenly and
half in proportion to the curve (busy minutes move more). Each step's log
increment has a drift of minus half its variance, so the mid is a martingale.

Quotes: the inside quote at each grid step is built from the mid (a float in
fixed-point units) and a spread of `k` ticks: `bid = tick * floor(mid/tick -
k/2 + 1/2)`, `ask = bid + k * tick`, with the tick 0.01 (100) from $1.00 and
0.0001 (1) below, an ask at or above $1.00 rounded down to a whole cent
(still above the bid, which is under $1.00 when the tick is 0.0001), and a
bid at least 0.0001. `k` is redrawn in spread regimes lasting 30 s on average:
with `S = avg_spread_bps * ref_price / 10_000 / tick` ticks, `k = floor(S)`
plus one with probability `S - floor(S)` (mean `S`), or 1 if `S < 1`.
Whenever the inside changes, every exchange re-quotes around it after its own
latency (exponential, mean 1 ms, at most 20 ms). An exchange's side sits at
the inside with probability 0.75, else 1, 2, ... ticks behind (geometric, mean
2). Sizes are whole lots, geometric with a mean of three average trades. The
exchanges that re-quote before the slowest one cap their bid at one tick
under the old inside ask (and their ask one tick over the old inside bid), so
they never lock or cross the quotes of exchanges that have not yet moved; once
the slowest has moved, the capped ones rejoin (a second quote 0.5 ms later on
average). In about 1 change in 50 (`LOCK_PROB`) nobody waits, so the NBBO is
locked or crossed for a millisecond or two, as real markets sometimes are.
Between changes, extra quote updates (sizes and depth changing) arrive at
`quotes_per_trade` times the expected trade count, timed by the curve and
spread over the exchanges like trades (none inside a re-quote's few
milliseconds). The first quotes of the day come a latency after `start`. An
exchange's own quote is never locked or crossed: its ask is always at least a
tick above its bid.

Trades: the day's continuous volume is `adv * (1 - open_auction -
close_auction)`; the number of trades is Poisson with mean that volume over the
mean trade size, and their times an inhomogeneous Poisson process whose
intensity follows the curve's minute shares (a multinomial over the minutes,
uniform within a minute). A trade prints at the inside ask or bid of its grid
step (buyer or seller initiated, even odds), or, when the spread is two ticks
or more, at a price strictly inside it with probability 0.15. Sizes: with
probability 0.2 an odd lot (uniform 1 to lot - 1, condition "80000000"), else
whole lots, geometric, with the mean set so the average trade is
`avg_trade_size` (for an average under a lot, more odd lots and single lots).
Exchanges are drawn with weights 1, 1/2, 1/3, ... in the order given.

Auctions: on the first exchange (the primary listing), an opening print at
`start` exactly (condition "40") at the opening mid rounded to the tick, and a
closing print at `end` exactly (condition "80") at the last mid rounded to the
tick, sized `adv` times the curve's auction share times a lognormal factor
(sigma 0.25, mean 1), rounded down to whole lots, at least one lot (none if
the share or `adv` is 0). The closing print sits at the session's end
instant, so volume rules that count `[start, end)` leave it out, as they leave
out the recorded data's closing cross (printed a few seconds after 16:00).

Float to stream: every price is an integer in 1/10,000 (`PRICE_SCALE`), every
size an integer share count, every time an integer ns. Floats are turned into
them only by the rules above: `floor` onto the tick grid for quotes, nearest
tick (`round half to even`) for auction prices, `floor` for times within the
session and for lots.

Default curve (`default_curve`): without a curve the simulator uses a U: the
weight of minute `m` of 390, at `x = (m + 0.5) / 390`, is
`1 + 3 exp(-x / 0.04) + 2.5 exp(-(1 - x) / 0.06)` (busy first quarter hour,
busier last half hour), scaled so the minutes hold 95% of the day, with 1% in
the opening auction and 4% in the closing auction.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt

from marketdata.feed import QUOTE, TRADE, FeedBatch, merge
from refdata.model import PRICE_SCALE, SymbolStats, VolumeCurve

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

# Condition text as the vendor data writes it (hex of its flag bits; the bits are
# `COND_*` in sequencer.messages.marketdata).
COND_REGULAR = "1"
COND_OPENING_PRINT = "40"
COND_CLOSING_PRINT = "80"
COND_ODD_LOT = "80000000"
CONDITIONS = (COND_REGULAR, COND_OPENING_PRINT, COND_CLOSING_PRINT, COND_ODD_LOT)
_REGULAR, _OPENING, _CLOSING, _ODD = range(4)

# Model constants (see the module docstring).
GRID_NS = 100_000_000  # price path step: 100 ms
TRADING_DAYS = 252  # annualised volatility -> daily
OVERNIGHT_VARIANCE = 0.2  # share of the daily variance in the opening gap
EVEN_VARIANCE = 0.5  # share of the session's variance spread evenly (the rest follows the curve)
SPREAD_REGIME_NS = 30 * 1_000_000_000  # mean life of a spread regime
P_AT_INSIDE = 0.75  # an exchange's side is at the inside
BEHIND_P = 0.5  # ticks behind the inside otherwise: geometric (mean 2)
QUOTE_DEPTH = 3.0  # mean displayed size, in average trades
LATENCY_NS = 1_000_000  # mean delay of an exchange's re-quote after the inside moves
REJOIN_NS = 500_000  # mean delay of a capped exchange's rejoin after the slowest re-quote
MAX_DELAY_NS = 20_000_000  # cap on both delays (well under GRID_NS)
MIN_DELAY_NS = 1_000
LOCK_PROB = 0.02  # share of inside changes where nobody waits (a brief locked/crossed NBBO)
ODD_LOT_SHARE = 0.2  # share of trades that are odd lots
P_INSIDE_TRADE = 0.15  # trades strictly inside a spread of 2+ ticks
AUCTION_SIGMA = 0.25  # lognormal noise on auction sizes
CENT = 100  # the tick from $1.00, fixed point


@dataclass(frozen=True)
class SimSymbol:
    """One simulated symbol's parameters (the fields of `SymbolStats` it uses)."""

    name: str
    ref_price: int  # previous close, fixed point (1/10,000)
    avg_spread_bps: float  # mean inside spread over mid, basis points
    volatility: float  # annualised standard deviation of daily log returns
    adv: int  # the day's expected volume, shares (auctions included)
    avg_trade_size: int  # mean continuous-trading print, shares
    lot_size: int = 100
    quotes_per_trade: float = 4.0  # extra quote updates (beyond re-quotes), per trade

    def __post_init__(self) -> None:
        problems = [
            what for ok, what in (
                (bool(self.name), "a name"),
                (self.ref_price > 0, "ref_price > 0"),
                (self.avg_spread_bps >= 0 and math.isfinite(self.avg_spread_bps),
                 "avg_spread_bps >= 0"),
                (self.volatility >= 0 and math.isfinite(self.volatility), "volatility >= 0"),
                (self.adv >= 0, "adv >= 0"),
                (self.avg_trade_size > 0, "avg_trade_size > 0"),
                (self.lot_size > 0, "lot_size > 0"),
                (self.quotes_per_trade >= 0 and math.isfinite(self.quotes_per_trade),
                 "quotes_per_trade >= 0"),
            ) if not ok
        ]
        if problems:
            raise ValueError(f"simulated symbol {self.name!r} needs {', '.join(problems)}")

    @classmethod
    def from_stats(cls, stats: SymbolStats, lot_size: int = 100) -> SimSymbol:
        return cls(stats.symbol, stats.ref_price, stats.avg_spread_bps, stats.volatility,
                   stats.adv, stats.avg_trade_size, lot_size)


class SymbolSummary(NamedTuple):
    symbol: str
    quotes: int
    trades: int
    volume: int  # all prints, auctions included
    notional: int  # sum of price * size (fixed point * shares)
    mean_spread_bps: float  # over two-sided quote rows
    crossed_rows: int  # quote rows whose own bid is at or above its own ask

    @property
    def vwap(self) -> float:
        """Volume-weighted average price in currency units (0.0 without volume)."""
        return self.notional / self.volume / PRICE_SCALE if self.volume else 0.0

    def __str__(self) -> str:
        return (f"{self.symbol}: {self.quotes:,} quotes, {self.trades:,} trades, "
                f"volume {self.volume:,}, VWAP {self.vwap:.4f}, "
                f"mean spread {self.mean_spread_bps:.2f} bps")


def default_curve() -> VolumeCurve:
    """The U-shaped curve used when none is given (formula in the module docstring)."""
    x = (np.arange(390) + 0.5) / 390
    w = 1 + 3 * np.exp(-x / 0.04) + 2.5 * np.exp(-(1 - x) / 0.06)
    open_share, close_share = 0.01, 0.04
    shares = w / w.sum() * (1 - open_share - close_share)
    return VolumeCurve("*", tuple(float(s) for s in shares), open_share, close_share, (),
                       "simulator default U shape")


def simulate(
    day: dt.date,
    symbols: Sequence[SimSymbol],
    *,
    seed: int,
    curve: VolumeCurve | None = None,
    exchanges: Sequence[str] = ("N", "P", "Q", "Z", "K"),
    tz: str = "America/New_York",
    start: dt.time = dt.time(9, 30),
    end: dt.time = dt.time(16),
) -> FeedBatch:
    """A simulated day of quotes and trades for `symbols`, deterministic in `seed`."""
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    names = [s.name for s in symbols]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"symbols simulated twice: {', '.join(dupes)}")
    exs = tuple(exchanges)
    if not exs or len(set(exs)) != len(exs) or not all(exs):
        raise ValueError(f"exchanges must be distinct non-empty names, got {exs}")
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {tz!r}") from None
    t0, t1 = _local_ns(day, start, zone), _local_ns(day, end, zone)
    if t1 <= t0:
        raise ValueError(f"the session must end after it starts: {start} to {end}")
    if curve is None:
        curve = default_curve()
    shares = np.asarray(curve.minute_shares, np.float64)
    if not len(shares) or (shares < 0).any() or not np.isfinite(shares).all():
        raise ValueError(f"curve {curve.symbol!r}: minute shares must be finite and >= 0")
    batches = [
        _symbol_day(sym, _symbol_seed(seed, day, sym.name), t0, t1, shares,
                    curve.open_auction, curve.close_auction, exs)
        for sym in symbols
    ]
    out = merge(batches)
    if not batches:
        out.exchanges, out.conditions = exs, CONDITIONS
    return out


def describe(batch: FeedBatch) -> tuple[SymbolSummary, ...]:
    """Per symbol (in the batch's symbol order): quotes, trades, volume, VWAP, spread."""
    out = []
    quote = batch.kind == QUOTE
    two_sided = quote & (batch.size > 0) & (batch.ask_size > 0)
    for i, name in enumerate(batch.symbols):
        mine = batch.symbol == i
        q, t, qq = quote & mine, (batch.kind == TRADE) & mine, two_sided & mine
        bid, ask = batch.price[qq], batch.ask_px[qq]
        mid = (bid + ask) / 2
        spread = float(np.mean((ask - bid) / mid) * 10_000) if len(mid) else 0.0
        px, sz = batch.price[t], batch.size[t]
        out.append(SymbolSummary(
            name, int(np.count_nonzero(q)), int(np.count_nonzero(t)), int(sz.sum()),
            int(np.dot(px, sz)), spread, int(np.count_nonzero(bid >= ask))))
    return tuple(out)


# ---------------------------------------------------------------------------------------------


_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_DAY_NS = 86_400 * 1_000_000_000


def _local_ns(day: dt.date, t: dt.time, zone: ZoneInfo) -> int:
    """Local wall time `t` on `day` in `zone` as ns since the epoch (UTC)."""
    offset = dt.datetime.combine(day, t, tzinfo=zone).utcoffset()
    assert offset is not None  # a ZoneInfo always gives one
    local = ((day.toordinal() - _EPOCH_ORDINAL) * _DAY_NS
             + ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000_000 + t.microsecond * 1000)
    return local - offset // dt.timedelta(microseconds=1) * 1000


def _symbol_seed(seed: int, day: dt.date, name: str) -> np.random.SeedSequence:
    """The symbol's own sequence: keyed by the date and the name's bytes (never `hash`)."""
    raw = name.encode("utf-8")
    return np.random.SeedSequence(seed, spawn_key=(day.toordinal(), len(raw), *raw))


def _on_grid(px: I64) -> I64:
    """A price at or above $1.00 rounded down to a whole cent (below, any 0.0001 is a tick).

    Only an ask or an inside print built on the 0.0001 grid (a mid under $1.00,
    so a bid under $1.00) can be off the cent grid: rounded down it stays at or
    above $1.00, so still above the bid."""
    return np.where(px >= PRICE_SCALE, px // CENT * CENT, px)


def _ticks_behind(rng: np.random.Generator, shape: tuple[int, ...]) -> I64:
    behind = rng.geometric(BEHIND_P, shape).astype(np.int64)
    return np.where(rng.random(shape) < P_AT_INSIDE, 0, behind)


def _lots(rng: np.random.Generator, mean_lots: float, lot: int, shape: tuple[int, ...]) -> I64:
    return rng.geometric(1 / max(mean_lots, 1.0), shape).astype(np.int64) * lot


def _times(rng: np.random.Generator, n: int, shares: F64, length: int) -> I64:
    """`n` times (ns offsets in [0, length)) with density following the minute shares."""
    total = shares.sum()
    p = shares / total if total > 0 else np.full(len(shares), 1 / len(shares))
    per_minute = rng.multinomial(n, p)
    minute = np.repeat(np.arange(len(shares)), per_minute)
    pos = (minute + rng.random(n)) * (length / len(shares))
    return np.minimum(np.floor(pos).astype(np.int64), length - 1)


class _Quotes(NamedTuple):
    t: I64
    ex: I64
    bid: I64
    bid_size: I64
    ask: I64
    ask_size: I64


def _symbol_day(sym: SimSymbol, ss: np.random.SeedSequence, t0: int, t1: int, shares: F64,
                open_share: float, close_share: float, exchanges: tuple[str, ...]) -> FeedBatch:
    r_path, r_quote, r_trade, r_auction = (np.random.default_rng(s) for s in ss.spawn(4))
    length = t1 - t0
    n_steps = -(-length // GRID_NS)
    step_t = np.arange(n_steps, dtype=np.int64) * GRID_NS
    n_ex = len(exchanges)
    lot = sym.lot_size

    # --- the mid: GBM on the grid, variance half even, half following the curve
    minute = np.minimum((step_t + GRID_NS // 2) * len(shares) // length, len(shares) - 1)
    act = shares[minute]
    act = act / act.sum() if act.sum() > 0 else np.full(n_steps, 1 / n_steps)
    day_var = (sym.volatility / math.sqrt(TRADING_DAYS)) ** 2
    step_var = (EVEN_VARIANCE / n_steps + (1 - EVEN_VARIANCE) * act) * day_var * (
        1 - OVERNIGHT_VARIANCE)
    gap_var = day_var * OVERNIGHT_VARIANCE
    gap = r_path.standard_normal() * math.sqrt(gap_var) - gap_var / 2
    incr = r_path.standard_normal(n_steps) * np.sqrt(step_var) - step_var / 2
    incr[0] = 0.0  # the first step is the opening mid
    mid = sym.ref_price * np.exp(gap + np.cumsum(incr))

    # --- the inside quote per step: spread regimes of k ticks
    tick = np.where(mid >= PRICE_SCALE, CENT, 1).astype(np.int64)
    ref_tick = CENT if sym.ref_price >= PRICE_SCALE else 1
    target = sym.avg_spread_bps * sym.ref_price / 10_000 / ref_tick
    n_regimes = 1 + int(r_path.poisson(length / SPREAD_REGIME_NS))
    cuts = np.sort(r_path.integers(0, length, n_regimes - 1))
    whole = math.floor(target)
    k_regime = (np.where(r_path.random(n_regimes) < target - whole, whole + 1, whole)
                if target >= 1 else np.ones(n_regimes, np.int64)).astype(np.int64)
    k = k_regime[np.searchsorted(cuts, step_t, side="right")]
    bid = np.maximum(np.floor(mid / tick - k / 2 + 0.5).astype(np.int64) * tick, 1)
    ask = _on_grid(bid + k * tick)
    k = (ask - bid) // tick  # after the $1.00 rounding (only differs right at the boundary)

    # --- re-quotes when the inside changes, with caps and rejoins (no stale lock)
    lev = np.flatnonzero(np.r_[True, (bid[1:] != bid[:-1]) | (ask[1:] != ask[:-1])])
    n_lev = len(lev)
    mean_lots = QUOTE_DEPTH * sym.avg_trade_size / lot
    shape = (n_lev, n_ex)
    lat = np.clip(r_quote.exponential(LATENCY_NS, shape).astype(np.int64),
                  MIN_DELAY_NS, MAX_DELAY_NS)
    new_bid = bid[lev][:, None] - _ticks_behind(r_quote, shape) * tick[lev][:, None]
    new_ask = _on_grid(ask[lev][:, None] + _ticks_behind(r_quote, shape) * tick[lev][:, None])
    new_bid = np.maximum(new_bid, 1)
    bsz, asz = _lots(r_quote, mean_lots, lot, shape), _lots(r_quote, mean_lots, lot, shape)
    free = r_quote.random(n_lev) < LOCK_PROB
    prev = np.maximum(lev - 1, 0)
    pb, pa = bid[prev], ask[prev]
    cap_bid = (pa - np.where(pa > PRICE_SCALE, CENT, 1))[:, None]
    cap_ask = (pb + np.where(pb >= PRICE_SCALE, CENT, 1))[:, None]
    slowest = lat.argmax(axis=1)
    lat[np.arange(n_lev), slowest] += 1  # strictly the slowest, even on a tie
    waits = np.ones(shape, np.bool_)
    waits[np.arange(n_lev), slowest] = False
    waits &= (~free & (lev > 0))[:, None]
    first_bid = np.where(waits, np.minimum(new_bid, cap_bid), new_bid)
    first_ask = np.where(waits, np.maximum(new_ask, cap_ask), new_ask)
    rejoin = (first_bid != new_bid) | (first_ask != new_ask)
    lat_max = lat.max(axis=1)
    rejoin_t = lat_max[:, None] + np.clip(
        r_quote.exponential(REJOIN_NS, shape).astype(np.int64), MIN_DELAY_NS, MAX_DELAY_NS)
    window = np.where(rejoin, rejoin_t, lat_max[:, None]).max(axis=1)
    base = step_t[lev][:, None]
    ex_idx = np.broadcast_to(np.arange(n_ex, dtype=np.int64), shape)
    # Kept inside the session; only a session of a few ms, shorter than the delays, clips.
    requotes = _Quotes(
        np.minimum(np.concatenate([(base + lat).ravel(), (base + rejoin_t)[rejoin]]),
                   length - 1),
        np.concatenate([ex_idx.ravel(), ex_idx[rejoin]]),
        np.concatenate([first_bid.ravel(), new_bid[rejoin]]),
        np.concatenate([bsz.ravel(), bsz[rejoin]]),
        np.concatenate([first_ask.ravel(), new_ask[rejoin]]),
        np.concatenate([asz.ravel(), asz[rejoin]]),
    )

    # --- trades: Poisson count, times following the curve, at the inside
    cont_volume = sym.adv * max(0.0, 1.0 - open_share - close_share)
    odd_share, round_lots = _trade_size_mix(sym.avg_trade_size, lot)
    n_trades = int(r_trade.poisson(cont_volume / sym.avg_trade_size))
    tt = _times(r_trade, n_trades, shares, length)
    ts = tt // GRID_NS
    buy = r_trade.random(n_trades) < 0.5
    tk = k[ts]
    inside = (tk >= 2) & (r_trade.random(n_trades) < P_INSIDE_TRADE)
    steps_in = r_trade.integers(1, np.maximum(tk, 2))
    t_price = np.where(buy, ask[ts], bid[ts])
    t_price = np.where(inside, _on_grid(bid[ts] + steps_in * tick[ts]), t_price)
    odd = r_trade.random(n_trades) < odd_share
    t_size = np.where(odd, r_trade.integers(1, max(lot, 2), n_trades),
                      _lots(r_trade, round_lots, lot, (n_trades,)))
    weights = 1 / np.arange(1, n_ex + 1)
    t_ex = r_trade.choice(n_ex, n_trades, p=weights / weights.sum()).astype(np.int64)

    # --- extra quote updates between re-quotes (none inside a re-quote window)
    n_extra = int(r_quote.poisson(sym.quotes_per_trade * cont_volume / sym.avg_trade_size))
    qt = _times(r_quote, n_extra, shares, length)
    qs = qt // GRID_NS
    ql = np.searchsorted(lev, qs, side="right") - 1
    keep = qt >= step_t[lev[ql]] + window[ql]
    qt, qs = qt[keep], qs[keep]
    n_q = len(qt)
    extra = _Quotes(
        qt, r_quote.choice(n_ex, n_q, p=weights / weights.sum()).astype(np.int64),
        np.maximum(bid[qs] - _ticks_behind(r_quote, (n_q,)) * tick[qs], 1),
        _lots(r_quote, mean_lots, lot, (n_q,)),
        _on_grid(ask[qs] + _ticks_behind(r_quote, (n_q,)) * tick[qs]),
        _lots(r_quote, mean_lots, lot, (n_q,)),
    )

    # --- auctions on the primary: at start and at end exactly
    a_t, a_px, a_sz, a_cond = [], [], [], []
    for share, when, px, a_code in ((open_share, 0, mid[0], _OPENING),
                                  (close_share, length, mid[-1], _CLOSING)):
        noise = math.exp(r_auction.standard_normal() * AUCTION_SIGMA - AUCTION_SIGMA ** 2 / 2)
        if share > 0 and sym.adv > 0:
            a_tick = CENT if px >= PRICE_SCALE else 1
            a_t.append(when)
            a_px.append(max(round(float(px) / a_tick) * a_tick, 1))
            a_sz.append(max(math.floor(sym.adv * share * noise / lot), 1) * lot)
            a_cond.append(a_code)
    n_a = len(a_t)

    # --- one batch, stable-sorted by time: auctions, re-quotes, extra quotes, trades
    n_rq = len(requotes.t)
    n_quotes = n_rq + n_q
    t = np.concatenate([np.array(a_t, np.int64), requotes.t, extra.t, tt])
    order = np.argsort(t, kind="stable")
    zeros_t = np.zeros(n_trades + n_a, np.int64)
    kind = np.concatenate([np.full(n_a, TRADE, np.int8), np.full(n_quotes, QUOTE, np.int8),
                           np.full(n_trades, TRADE, np.int8)])
    ex = np.concatenate([np.zeros(n_a, np.int64), requotes.ex, extra.ex, t_ex])
    price = np.concatenate([np.array(a_px, np.int64), requotes.bid, extra.bid, t_price])
    size = np.concatenate([np.array(a_sz, np.int64), requotes.bid_size, extra.bid_size, t_size])
    ask_px = np.concatenate([zeros_t[:n_a], requotes.ask, extra.ask, zeros_t[n_a:]])
    ask_size = np.concatenate([zeros_t[:n_a], requotes.ask_size, extra.ask_size, zeros_t[n_a:]])
    cond = np.concatenate([np.array(a_cond, np.int32), np.full(n_quotes, _REGULAR, np.int32),
                           np.where(odd, _ODD, _REGULAR).astype(np.int32)])
    n = len(t)
    return FeedBatch(
        (sym.name,), exchanges, CONDITIONS,
        kind[order], t[order] + t0, np.zeros(n, np.int32), ex[order].astype(np.int32),
        price[order], size[order], ask_px[order], ask_size[order], cond[order],
        np.zeros(n, np.bool_), np.zeros(n, np.int64),
    )


def _trade_size_mix(avg: int, lot: int) -> tuple[float, float]:
    """(odd-lot share, mean lots of a round-lot trade) that make the mean trade `avg`.

    Odd lots average half a lot. With the usual share of odd lots the round-lot
    mean is solved for; when that would fall under one lot (an average trade
    near or under a lot), round-lot trades are single lots and the odd-lot share
    is solved for instead (all odd lots if even that is too big)."""
    if lot == 1:
        return 0.0, float(avg)
    half = lot / 2
    round_mean = (avg - ODD_LOT_SHARE * half) / ((1 - ODD_LOT_SHARE) * lot)
    if round_mean >= 1:
        return ODD_LOT_SHARE, round_mean
    return min(1.0, max(0.0, (lot - avg) / (lot - half))), 1.0

