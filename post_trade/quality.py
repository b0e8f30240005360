"""Execution quality: how a day's algo orders traded, a report per order, a chart of each.

Any day's journal, live or backtest (`tape backtest` runs it on its days);
everything here is worked out from that journal and the day's ref data, in one
pass. `docs/backtest.md` defines every figure, its sign and its units; in short,
for each order with an algo (`ParentAccepted.algo`, VWAP and DMA alike):

- the window: from the first "schedule" decision's start (or the order's acceptance,
  if later: a plan made mid-minute starts at the minute) to the last schedule's end
  (an amendment re-plans the rest of the order). An order without a schedule (DMA, or
  a VWAP whose window was already over) is measured from its acceptance to its
  `ParentDone` (else the journal's last frame);
- the scheduled shares: the last schedule's, re-measured by any later decision that
  states them (a need-not-complete order's cap follows the day's volume); the
  order's quantity without a schedule;
- our fills: the `VenueFill`s of its children, a venue's repeat (same child, same
  exec id) counted once as the OMS counts it; the average price, and the shares
  that added liquidity (passive) or traded in an auction;
- the market over the window: the prints the ticker plant flags regular way with
  stream time in [start, end), plus our own fills (every order's, as a real TCA
  sees the tape; `build_report(own_prints=False)` leaves them out). Auction prints
  are counted the way the algo engine buckets them (`algo_engine.market.Book`): a
  print flagged OPENING_PRINT or CLOSING_PRINT belongs to its auction and counts only
  when the order takes that auction (the schedule's text says ", opening auction" /
  ", closing auction"; a DMA order's time in force is opg / cls), the closing print
  also when it comes after the window's end, as it does. Prints whose sale condition
  VWAP practice leaves out (`NOT_IN_VWAP`) are not counted. The interval VWAP (with
  and without the auctions) and the full-day VWAP are the counted prints';
- the simulated market (a backtest day's `SimMarket`): with impact on, our fills
  moved its prices (`fix_gateways.venue_sim.impact`), and the journal holds the
  moved market (the backtest's driver moved every quote and print before it was
  sequenced), so the benchmarks are the prices the algos traded against. The pass
  rebuilds the same `ImpactBook` from the `VenueFill`s in journal order only to
  tell our impact apart from the market's own moves: the recorded price under a
  moved one is p - D, D the model's move of the whole book then;
- the NBBO (each `Quote` carries it): the arrival mid, the mid at each fill (moved
  and raw), the mid after it (markouts);
- the figures: slippage against the interval and the full-day VWAP; implementation
  shortfall against the arrival mid, split into delay, spread, impact and timing;
  opportunity cost of unfilled shares; participation per interval (the ref data's
  bin); effective spread, passive fill rate, markouts, fees, a venue breakdown.
  All costs are signed so that positive is worse for the client (markouts are the
  exception: positive means the fill looks good afterwards).

`build_report` makes the `BacktestReport` (summary figures and `as_dict` for JSON);
`render`, `render_costs` and `summary_line` print it; `plot_orders` (drawn in
`post_trade.quality_plots`) makes one PNG per order from the report's own copy of
the market.

Ratios without a denominator are None (JSON null), never NaN. Prices on the stream
are fixed point (`PRICE_SCALE`); the figures here are float dollars or bps, worked
out from exact integer sums where the inputs are integers, so that a replayed day
reports the same digits.
"""

# determinism: edge module, offline tooling: reads a finished day's journal, draws files

from __future__ import annotations

import datetime as dt
import math
import struct
import zoneinfo
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec
import numpy as np
import numpy.typing as npt
from rich.table import Table

from sequencer.frames import HEADER_SIZE
from sequencer.journal import JournalReader
from sequencer.messages import TYPE_ID
from sequencer.messages.control import SimMarket, SystemStart
from sequencer.messages.executions import VenueFill
from sequencer.messages.marketdata import (
    CLOSING_PRINT,
    NOT_IN_VWAP,
    OPENING_PRINT,
    PRICE_SCALE,
    REGULAR_WAY,
    Quote,
    Trade,
)
from sequencer.messages.orders import (
    AlgoDecision,
    ChildOrderSent,
    ParentAccepted,
    ParentAmended,
    ParentDone,
)

if TYPE_CHECKING:
    from fix_gateways.venue_sim.impact import ImpactBook
    from post_trade.refs import VenueFees
    from refdata.model import RefData

TZ = "America/New_York"
SECOND_NS = 1_000_000_000
MINUTE_NS = 60 * SECOND_NS
BPS = 10_000
OPENING_TEXT = ", opening auction"
CLOSING_TEXT = ", closing auction"
MARKOUTS_S = (1, 10, 60)  # markout horizons, seconds
DEFAULT_BIN_MINUTES = 5  # participation intervals when the ref data is not at hand
CAUTION = ("orders in one symbol (a buy and a sell, or size variants of one order) "
           "trade the same market and are not independent: when they are mixed, the "
           "confidence interval is too narrow")
# Children that cannot rest on a book: none of their shares were posted passively.
_NOT_POSTED_TIF = frozenset({"ioc", "fok", "opg", "cls"})

_ROUTE = struct.Struct("<16xq12xH")  # a raw frame's stream time and type id
_START = TYPE_ID[SystemStart]
_SIM = TYPE_ID[SimMarket]
_ACCEPTED = TYPE_ID[ParentAccepted]
_AMENDED = TYPE_ID[ParentAmended]
_CHILD = TYPE_ID[ChildOrderSent]
_FILL = TYPE_ID[VenueFill]
_DONE = TYPE_ID[ParentDone]
_DECISION = TYPE_ID[AlgoDecision]
_TRADE = TYPE_ID[Trade]
_QUOTE = TYPE_ID[Quote]
_ORDER_TYPES = frozenset({_START, _SIM, _ACCEPTED, _AMENDED, _CHILD, _FILL, _DONE,
                          _DECISION})
# Decoders of their own, typed: the messages are tagged, so one decoder takes them all.
_ORDER_DECODER = msgspec.msgpack.Decoder(
    SystemStart | SimMarket | ParentAccepted | ParentAmended | ChildOrderSent | VenueFill
    | ParentDone | AlgoDecision
)
_TRADE_DECODER = msgspec.msgpack.Decoder(Trade)
_QUOTE_DECODER = msgspec.msgpack.Decoder(Quote)

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


class Fill(NamedTuple):
    ts_ns: int
    qty: int
    px: int  # fixed point
    liquidity: str  # "added", "removed", "auction" or ""
    venue: str = ""
    child_id: str = ""
    flags: int = REGULAR_WAY  # as a print: REGULAR_WAY, with its auction's flag if any
    mid: float | None = None  # NBBO mid at the fill as the market showed it (fixed point)
    raw_mid: float | None = None  # the recorded mid, before our impact


class Target(NamedTuple):
    """An "interval" decision: by `end_ns`, `target_qty` of `scheduled_qty` done."""

    start_ns: int
    end_ns: int
    target_qty: int
    scheduled_qty: int


class Interval(NamedTuple):
    """One participation interval of an order's window (the ref data's bin)."""

    start_ns: int
    end_ns: int
    target_qty: int | None  # the plan's shares for it (None: the order had no plan)
    done_qty: int  # the order's shares
    own_qty: int  # every order of ours in the symbol (the order's included)
    market_qty: int  # everyone else's counted prints
    participation: float | None  # done / (market + own)
    symbol_participation: float | None  # own / (market + own)

    def as_dict(self) -> dict[str, Any]:
        return {"start_ns": self.start_ns, "end_ns": self.end_ns,
                "target_shares": self.target_qty, "done_shares": self.done_qty,
                "own_shares": self.own_qty, "market_shares": self.market_qty,
                "participation_pct": _pct(self.participation),
                "symbol_participation_pct": _pct(self.symbol_participation)}


class VenueRow(NamedTuple):
    venue: str
    fills: int
    shares: int
    passive_shares: int
    avg_px: float  # dollars
    fees_usd: float | None  # None without the fee table

    def as_dict(self) -> dict[str, Any]:
        return {"venue": self.venue, "fills": self.fills, "shares": self.shares,
                "passive_shares": self.passive_shares, "avg_px_usd": self.avg_px,
                "fees_usd": self.fees_usd}


@dataclass(frozen=True)
class OrderResult:
    order_id: str
    client: str
    cl_ord_id: str
    symbol: str
    symbol_id: int  # 0: not in the ref data (no market figures then)
    side: str
    qty: int  # as last amended
    algo: str
    params: dict[str, str]
    window_start_ns: int
    window_end_ns: int
    opening_auction: bool  # the window takes the opening / closing auction
    closing_auction: bool
    scheduled_qty: int
    done_qty: int
    must_complete: bool
    complete: bool  # done_qty >= qty
    avg_px: float | None  # dollars; None without fills
    market_vwap: float | None  # dollars; None without market volume in the window
    market_volume: int  # shares (our own prints included when the report counts them)
    slippage_bps: float | None  # cost-signed: positive is worse than the market
    participation: float | None  # the order's shares / (market's + all of ours), a fraction
    passive_share: float | None  # shares that added liquidity / done_qty
    auction_share: float | None  # shares traded in an auction / done_qty
    children: int  # new children sent
    decisions: dict[str, int]  # AlgoDecision kind -> how many
    final_status: str  # ParentDone.ord_status, or "working"
    fills: tuple[Fill, ...] = field(default=(), repr=False)
    targets: tuple[Target, ...] = field(default=(), repr=False)
    # --- benchmarks (part 2); see docs/backtest.md
    market_vwap_ex_auctions: float | None = None  # the window's VWAP without auctions
    slippage_ex_auctions_bps: float | None = None
    day_vwap: float | None = None  # every counted print of the day, auctions included
    day_slippage_bps: float | None = None
    own_volume: int = 0  # our shares (every order) among the window's counted prints
    # --- implementation shortfall, bps of the arrival mid, cost-signed
    arrival_mid: float | None = None  # dollars: NBBO mid at acceptance
    first_child_ns: int = 0  # when the first child was sent (0: none)
    is_bps: float | None = None  # = delay + spread + impact + timing
    is_delay_bps: float | None = None
    is_spread_bps: float | None = None
    is_impact_bps: float | None = None
    is_timing_bps: float | None = None
    opportunity_bps: float | None = None  # the unfilled shares' cost, bps of the order
    fees_usd: float | None = None  # + paid, - rebate received
    fees_bps: float | None = None  # of our notional
    # --- how it traded
    effective_spread_bps: float | None = None
    passive_fill_rate: float | None = None  # added / posted shares, a fraction
    markouts_bps: tuple[tuple[int, float | None], ...] = ()  # (seconds, bps), + good
    max_interval_participation: float | None = None
    symbol_max_interval_participation: float | None = None
    intervals: tuple[Interval, ...] = field(default=(), repr=False)
    venues: tuple[VenueRow, ...] = field(default=(), repr=False)
    child_requests: dict[str, int] = field(default_factory=dict)  # new, cancel, replace

    def markout(self, seconds: int) -> float | None:
        return dict(self.markouts_bps).get(seconds)

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "order_id": self.order_id,
            "client": self.client,
            "cl_ord_id": self.cl_ord_id,
            "symbol": self.symbol,
            "side": self.side,
            "algo": self.algo,
            "params": dict(self.params),
            "window_start_ns": self.window_start_ns,
            "window_end_ns": self.window_end_ns,
            "opening_auction": self.opening_auction,
            "closing_auction": self.closing_auction,
            "qty_shares": self.qty,
            "scheduled_shares": self.scheduled_qty,
            "done_shares": self.done_qty,
            "must_complete": self.must_complete,
            "complete": self.complete,
            "avg_px_usd": self.avg_px,
            "market_vwap_usd": self.market_vwap,
            "market_volume_shares": self.market_volume,
            "slippage_bps": self.slippage_bps,
            "participation_pct": _pct(self.participation),
            "passive_pct": _pct(self.passive_share),
            "auction_pct": _pct(self.auction_share),
            "children": self.children,
            "fills": len(self.fills),
            "decisions": dict(self.decisions),
            "final_status": self.final_status,
            "market_vwap_ex_auctions_usd": self.market_vwap_ex_auctions,
            "slippage_ex_auctions_bps": self.slippage_ex_auctions_bps,
            "day_vwap_usd": self.day_vwap,
            "day_slippage_bps": self.day_slippage_bps,
            "own_volume_shares": self.own_volume,
            "arrival_mid_usd": self.arrival_mid,
            "is_bps": self.is_bps,
            "is_delay_bps": self.is_delay_bps,
            "is_spread_bps": self.is_spread_bps,
            "is_impact_bps": self.is_impact_bps,
            "is_timing_bps": self.is_timing_bps,
            "opportunity_bps": self.opportunity_bps,
            "fees_usd": self.fees_usd,
            "fees_bps": self.fees_bps,
            "effective_spread_bps": self.effective_spread_bps,
            "passive_fill_rate_pct": _pct(self.passive_fill_rate),
        }
        for s, v in self.markouts_bps:
            d[f"markout_{s}s_bps"] = v
        d["max_interval_participation_pct"] = _pct(self.max_interval_participation)
        d["symbol_max_interval_participation_pct"] = _pct(
            self.symbol_max_interval_participation)
        d["intervals"] = [i.as_dict() for i in self.intervals]
        d["venues"] = [v.as_dict() for v in self.venues]
        d["child_orders"] = dict(self.child_requests)
        return d


@dataclass(frozen=True)
class Prints:
    """A symbol's regular-way prints in stream order (stream time, price, size, flags).

    `px` is the price as the simulated market showed it (moved by our impact; the
    recorded price on a day without impact)."""

    ts_ns: I64
    px: I64
    size: I64
    flags: I64
    cond: I64  # the vendor's sale-condition bits


@dataclass(frozen=True)
class Quotes:
    """A symbol's NBBO in stream order, a row per change (fixed point).

    `bid` and `ask` as the simulated market showed them (the journal's: moved by our
    impact when there is one); `raw_*` without our impact (p - D, D the model's move
    of the book at the quote's stream time)."""

    ts_ns: I64
    bid: I64
    ask: I64
    raw_bid: I64
    raw_ask: I64

    def index_at(self, ts: I64) -> I64:
        """Row of the latest quote at or before each time; -1 where there is none."""
        return np.searchsorted(self.ts_ns, ts, side="right").astype(np.int64) - 1

    def mid_at(self, ts_ns: int, raw: bool = False) -> float | None:
        i = int(self.index_at(np.array([ts_ns], dtype=np.int64))[0])
        if i < 0:
            return None
        b, a = (self.raw_bid, self.raw_ask) if raw else (self.bid, self.ask)
        return (int(b[i]) + int(a[i])) / 2

    def arrival_at(self, ts_ns: int) -> float | None:
        """The mid at `ts_ns`; for an order that came before the day's first quote (a
        backtest's feed starts at 09:00), the first mid after it."""
        m = self.mid_at(ts_ns)
        if m is None and len(self.ts_ns):
            m = (int(self.bid[0]) + int(self.ask[0])) / 2
        return m


@dataclass(frozen=True)
class BacktestReport:
    day: Path
    results: tuple[OrderResult, ...]
    # The market's prints of the orders' symbols by symbol id, kept for `plot_orders`
    # so that drawing needs no second pass over the journal.
    prints: dict[int, Prints] = field(default_factory=dict, repr=False, compare=False)
    # The NBBO and our own fills as prints (every order's), by symbol id, likewise.
    quotes: dict[int, Quotes] = field(default_factory=dict, repr=False, compare=False)
    own: dict[int, Prints] = field(default_factory=dict, repr=False, compare=False)
    # The day's benchmark choices (`as_dict()["benchmark"]`); None for a report made
    # of results alone (several days).
    benchmark: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def orders(self) -> int:
        return len(self.results)

    @property
    def filled_orders(self) -> int:
        return sum(1 for r in self.results if r.done_qty > 0)

    @property
    def must_complete(self) -> int:
        return sum(1 for r in self.results if r.must_complete)

    @property
    def complete_must_complete(self) -> int:
        return sum(1 for r in self.results if r.must_complete and r.complete)

    def _slippages(self) -> list[float]:
        return [r.slippage_bps for r in self.results if r.slippage_bps is not None]

    @property
    def mean_slippage_bps(self) -> float | None:
        s = self._slippages()
        return sum(s) / len(s) if s else None

    @property
    def mean_abs_slippage_bps(self) -> float | None:
        s = self._slippages()
        return sum(abs(x) for x in s) / len(s) if s else None

    @property
    def max_abs_slippage_bps(self) -> float | None:
        s = self._slippages()
        return max(abs(x) for x in s) if s else None

    @property
    def mean_is_bps(self) -> float | None:
        s = [r.is_bps for r in self.results if r.is_bps is not None]
        return sum(s) / len(s) if s else None

    def summary(self) -> dict[str, Any]:
        """The day's (or days') figures, from `results` alone."""
        out: dict[str, Any] = {
            "orders": self.orders,
            "filled_orders": self.filled_orders,
            "must_complete": self.must_complete,
            "complete_must_complete": self.complete_must_complete,
            "mean_slippage_bps": self.mean_slippage_bps,
            "mean_abs_slippage_bps": self.mean_abs_slippage_bps,
            "max_abs_slippage_bps": self.max_abs_slippage_bps,
        }
        for name, xs in (("slippage", self._slippages()),
                         ("is", [r.is_bps for r in self.results if r.is_bps is not None])):
            d = dispersion(xs)
            out[f"{name}_n"] = d.n
            if name == "is":
                out["mean_is_bps"] = d.mean
            out[f"{name}_sd_bps"] = d.sd
            out[f"{name}_ci95_low_bps"] = d.low
            out[f"{name}_ci95_high_bps"] = d.high
        out["dispersion_caution"] = CAUTION
        return out

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the benchmark choices, the summary figures and one entry per
        order (units in the names)."""
        return {
            "day": str(self.day),
            "benchmark": self.benchmark,
            "summary": self.summary(),
            "orders": [r.as_dict() for r in self.results],
        }


def _pct(x: float | None) -> float | None:
    return None if x is None else 100 * x


# --------------------------------------------------------------------------- dispersion


class Dispersion(NamedTuple):
    n: int
    mean: float | None
    sd: float | None  # sample standard deviation (n - 1); None below two values
    low: float | None  # the 95% confidence interval of the mean (Student t)
    high: float | None


def dispersion(xs: list[float]) -> Dispersion:
    """Mean, sample standard deviation and 95% Student-t interval of the mean."""
    n = len(xs)
    if n == 0:
        return Dispersion(0, None, None, None, None)
    mean = math.fsum(xs) / n
    if n < 2:
        return Dispersion(n, mean, None, None, None)
    sd = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
    half = t_975(n - 1) * sd / math.sqrt(n)
    return Dispersion(n, mean, sd, mean - half, mean + half)


def _t_two_sided(t: float, nu: int) -> float:
    """P(|T| <= t) for Student's t with `nu` (integer) degrees of freedom: the closed
    form series (Abramowitz and Stegun 26.7.3 and 26.7.4)."""
    theta = math.atan(t / math.sqrt(nu))
    c2, s = math.cos(theta) ** 2, math.sin(theta)
    if nu % 2:
        if nu == 1:
            return 2 * theta / math.pi
        term = total = math.cos(theta)
        for j in range(1, (nu - 3) // 2 + 1):
            term *= 2 * j / (2 * j + 1) * c2
            total += term
        return 2 / math.pi * (theta + s * total)
    term = total = 1.0
    for j in range(1, (nu - 2) // 2 + 1):
        term *= (2 * j - 1) / (2 * j) * c2
        total += term
    return s * total


def t_975(nu: int) -> float:
    """The 97.5% quantile of Student's t with `nu` degrees of freedom (no scipy here):
    bisection on the exact distribution up to 200, the Cornish-Fisher expansion in
    1/nu above (its error there is below 1e-8)."""
    if nu > 200:
        z = 1.959963984540054
        g = ((z**3 + z) / 4, (5 * z**5 + 16 * z**3 + 3 * z) / 96,
             (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384,
             (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160)
        return z + math.fsum(gi / float(nu) ** (i + 1) for i, gi in enumerate(g))
    lo, hi = 0.0, 100.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if _t_two_sided(mid, nu) < 0.95:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


# --------------------------------------------------------------------------- the pass


@dataclass
class _Order:
    """An order as the pass collects it."""

    accepted: ParentAccepted
    accepted_ns: int
    qty: int
    params: dict[str, str]
    children: int = 0
    first_child_ns: int = 0
    requests: dict[str, int] = field(default_factory=lambda: {"new": 0, "cancel": 0,
                                                             "replace": 0})
    fills: list[Fill] = field(default_factory=list)
    first_schedule: AlgoDecision | None = None
    last_schedule: AlgoDecision | None = None
    scheduled_qty: int = 0
    targets: list[Target] = field(default_factory=list)
    decisions: dict[str, int] = field(default_factory=dict)
    status: str = "working"
    done_ns: int = 0


@dataclass
class _Child:
    """Any child of ours (every order's, algo or not): what its fills mean."""

    parent_id: str
    symbol_id: int  # 0: unknown symbol
    sign: int  # +1 buy, -1 sell or short
    venue: str
    tif: str
    qty: int  # as last sent (new or replace)
    removed: int = 0
    added: int = 0
    auction: int = 0


class _PrintColumns:
    def __init__(self) -> None:
        self.ts = array("q")
        self.px = array("q")
        self.size = array("q")
        self.flags = array("q")
        self.cond = array("q")

    def freeze(self) -> Prints:
        return Prints(*(_np(a) for a in (self.ts, self.px, self.size, self.flags, self.cond)))


class _QuoteColumns:
    __slots__ = ("ask", "bid", "delta", "last", "ts")

    def __init__(self) -> None:
        self.ts = array("q")
        self.bid = array("q")
        self.ask = array("q")
        self.delta = array("q")  # the impact model's move of the book at the quote
        self.last: tuple[int, int, int] = (0, 0, 0)

    def freeze(self) -> Quotes:
        ts, bid, ask, delta = _np(self.ts), _np(self.bid), _np(self.ask), _np(self.delta)
        return Quotes(ts, bid, ask, _unmove(bid, delta), _unmove(ask, delta))


def _np(a: array[int]) -> I64:
    return np.frombuffer(a, dtype=np.int64) if len(a) else np.zeros(0, np.int64)


def _unmove(px: I64, delta: I64) -> I64:
    """The recorded prices under the journal's moved ones: the moved less D, the impact
    model's move of the whole book at the quote (`fix_gateways.venue_sim.impact`)."""
    if not len(px) or not delta.any():
        return px
    out: I64 = np.where(px > 0, px - delta, px)
    return out


def _frames(day: Path, types: frozenset[int]) -> Iterator[tuple[int, int, bytes]]:
    """(stream time, type id, payload) of the frames of `types`, and of the last frame.

    Reads raw frames and looks at the type id in the header: a day has millions of
    frames and building a `Frame` for each would cost more than the report itself.
    """
    unpack = _ROUTE.unpack_from
    last: bytes | None = None
    with JournalReader(day) as r:
        while batch := r.read_raw():
            for raw in batch:
                ts, tid = unpack(raw)
                if tid in types:
                    yield ts, tid, raw[HEADER_SIZE:]
            last = batch[-1]
    if last is not None:
        yield unpack(last)[0], -1, b""  # the end of the day, for orders still working


#: The frames the report reads (`build_report`'s `frames`, when another pass keeps them).
FRAME_TYPES = _ORDER_TYPES | {_TRADE, _QUOTE}


class _Ref:
    """The day's ref data, loaded when first needed (a day without orders needs none)."""

    def __init__(self, day: Path, names: dict[int, str] | None,
                 refdata: RefData | None) -> None:
        self.day, self.names, self._rd = day, names, refdata
        self.digest = ""
        self._loaded = refdata is not None
        self._ids: dict[str, int] | None = None

    @property
    def rd(self) -> RefData | None:
        if not self._loaded:
            self._loaded = True
            from refdata.files import RefDataError
            from refdata.load import load, load_for_day

            try:
                self._rd = (load_for_day(self.day, self.digest) if self.digest
                            else load(self.day / "refdata"))
            except (RefDataError, OSError):
                if self.names is None:
                    raise  # nothing else names the symbols: say why
                self._rd = None  # names given (tests): fees, stats and bins optional
        return self._rd

    def sid(self, name: str) -> int:
        if self._ids is None:
            if self.names is not None:
                self._ids = {n: i for i, n in self.names.items()}
            else:
                rd = self.rd
                self._ids = {s.name: s.id for s in rd.symbols} if rd is not None else {}
        return self._ids.get(name, 0)


def build_report(day: Path, *, names: dict[int, str] | None = None,
                 frames: Iterable[tuple[int, int, bytes]] | None = None,
                 own_prints: bool = True, refdata: RefData | None = None) -> BacktestReport:
    """The report of day folder `day` from its journal, in one pass.

    `names` maps symbol ids to names (tests); by default the day's ref data does,
    the set its `SystemStart` names. `refdata`: that set, when the caller has it
    loaded (fees, symbol statistics for the impact model, the interval width).
    `frames`: the (stream time, type id, payload) of the day's `FRAME_TYPES` frames and
    then (end time, -1, b"") for the journal's end, as
    `post_trade.record.read_day(keep=FRAME_TYPES)` keeps them; read from the journal
    when None. `own_prints`: our fills count in the market's volume and VWAPs (as on
    a real tape); False leaves them out of the benchmarks (participation always
    counts them in its denominator).
    """
    day = Path(day)
    ref = _Ref(day, names, refdata)
    orders: dict[str, _Order] = {}
    children: dict[str, _Child] = {}
    seen: set[tuple[str, str]] = set()
    cols: dict[int, _PrintColumns] = {}
    own: dict[int, _PrintColumns] = {}
    qcols: dict[int, _QuoteColumns] = {}
    book: ImpactBook | None = None
    sim: SimMarket | None = None
    noon_ns = 0
    end_ns = 0
    qdecode, tdecode, odecode = (_QUOTE_DECODER.decode, _TRADE_DECODER.decode,
                                 _ORDER_DECODER.decode)
    for ts, tid, payload in (frames if frames is not None else _frames(day, FRAME_TYPES)):
        if tid == _QUOTE:
            # The hot loop: a day has millions of quotes. Keep a row per change of
            # the (moved) NBBO, of every symbol (which ones matter is known at the end).
            q = qdecode(payload)
            b, a = q.nbbo_bid_px, q.nbbo_ask_px
            if b <= 0 or a <= 0:
                continue
            sid = q.symbol_id
            d = book.delta(sid, ts) if book is not None else 0
            qc = qcols.get(sid)
            if qc is None:
                qc = qcols[sid] = _QuoteColumns()
            row = (b, a, d)
            if row != qc.last:
                qc.last = row
                qc.ts.append(ts)
                qc.bid.append(b)
                qc.ask.append(a)
                qc.delta.append(d)
            continue
        if tid == _TRADE:
            t = tdecode(payload)
            if t.flags & REGULAR_WAY:
                _append(cols, t.symbol_id, ts, t.price, t.size, t.flags,
                        _condition_bits(t.conditions))
            continue
        if tid == -1:
            end_ns = ts
            continue
        m = odecode(payload)
        if isinstance(m, VenueFill):
            c = children.get(m.child_id)
            key = (m.child_id, m.exec_id)
            if c is None or key in seen or m.qty <= 0 or m.px <= 0:
                continue  # a child nobody sent, a venue's repeat, or a fill the OMS refuses
            seen.add(key)
            if m.liquidity == "removed":
                c.removed += m.qty
            elif m.liquidity == "added":
                c.added += m.qty
            elif m.liquidity == "auction":
                c.auction += m.qty
            flags = REGULAR_WAY
            if m.liquidity == "auction":
                # Which auction: the child's time in force says; else the time of day.
                opening = c.tif == "opg" or (c.tif != "cls" and ts < noon_ns)
                flags |= OPENING_PRINT if opening else CLOSING_PRINT
            if c.symbol_id:
                # The simulator applies the fill to its model when it publishes it,
                # at this frame's stream time: so does the report.
                if book is not None:
                    book.on_fill(c.symbol_id, ts, c.sign * m.qty)
                _append(own, c.symbol_id, ts, m.px, m.qty, flags, 0)
            o = orders.get(c.parent_id)
            if o is not None:
                o.fills.append(Fill(ts, m.qty, m.px, m.liquidity, c.venue, m.child_id, flags))
        elif isinstance(m, ChildOrderSent):
            o = orders.get(m.parent_id)
            if m.action == "new":
                children[m.child_id] = _Child(m.parent_id, ref.sid(m.symbol),
                                              1 if m.side == "buy" else -1, m.venue, m.tif,
                                              m.qty)
                if o is not None:
                    o.children += 1
                    o.first_child_ns = o.first_child_ns or ts
            elif m.action == "replace" and m.child_id in children:
                children[m.child_id].qty = m.qty
            if o is not None:
                o.requests[m.action] = o.requests.get(m.action, 0) + 1
        elif isinstance(m, AlgoDecision):
            o = orders.get(m.order_id)
            if o is not None:
                _decision(o, m)
        elif isinstance(m, ParentAccepted):
            if m.algo:
                orders[m.order_id] = _Order(m, ts, m.qty, dict(m.algo_params))
        elif isinstance(m, ParentAmended):
            o = orders.get(m.order_id)
            if o is not None and not m.pending:
                o.qty = m.qty
                if m.algo_params:
                    o.params = dict(m.algo_params)
        elif isinstance(m, ParentDone):
            o = orders.get(m.order_id)
            if o is not None:
                o.status, o.done_ns = m.ord_status, ts
        elif isinstance(m, SystemStart):
            ref.digest = m.refdata_digest
            noon = dt.datetime.combine(m.session_date, dt.time(12),
                                       zoneinfo.ZoneInfo(TZ))
            noon_ns = int(noon.timestamp()) * SECOND_NS
        elif isinstance(m, SimMarket):
            sim = m
            book = _impact_book(m, ref.rd) if m.impact else None

    rd = ref.rd if orders else None
    bin_ns = (rd.bin_minutes if rd is not None and rd.bin_minutes > 0
              else DEFAULT_BIN_MINUTES) * MINUTE_NS
    fees = _fee_table(rd)
    ids = {s: ref.sid(s) for s in sorted({o.accepted.symbol for o in orders.values()})}
    wanted = sorted({i for i in ids.values() if i})
    empty = _PrintColumns().freeze()
    # every symbol of the orders, those without prints too (so drawing needs no re-read)
    prints = {sid: cols[sid].freeze() if sid in cols else empty for sid in wanted}
    owns = {sid: own[sid].freeze() if sid in own else empty for sid in wanted}
    quotes = {sid: qcols[sid].freeze() if sid in qcols else _QuoteColumns().freeze()
              for sid in wanted}
    by_parent: dict[str, list[_Child]] = {}
    for c in children.values():
        by_parent.setdefault(c.parent_id, []).append(c)
    ctx = _Context(bin_ns, fees, own_prints, by_parent)
    results = []
    for o in orders.values():
        sid = ids.get(o.accepted.symbol, 0)
        results.append(_result(o, sid, prints.get(sid, empty), owns.get(sid, empty),
                               quotes.get(sid), end_ns, ctx))
    bench = _benchmark(own_prints, sim, book is not None, bin_ns, fees is not None)
    return BacktestReport(day, tuple(results), prints, quotes, owns, bench)


def _append(cols: dict[int, _PrintColumns], sid: int, ts: int, px: int, size: int,
            flags: int, cond: int) -> None:
    c = cols.get(sid)
    if c is None:
        c = cols[sid] = _PrintColumns()
    c.ts.append(ts)
    c.px.append(px)
    c.size.append(size)
    c.flags.append(flags)
    c.cond.append(cond)


def _impact_book(m: SimMarket, rd: RefData | None) -> ImpactBook | None:
    """The simulator's impact state, rebuilt empty as the day starts."""
    from fix_gateways.venue_sim.impact import ImpactBook, ImpactParams, stats_of

    if rd is None:
        return None  # no symbol statistics: the impact cannot be rebuilt (benchmark says)
    return ImpactBook(ImpactParams(m.impact_y, m.impact_permanent, m.impact_decay_s),
                      stats_of(rd))


def _fee_table(rd: RefData | None) -> dict[str, VenueFees] | None:
    """The day's `venue_fees` rows, as `post_trade.refs` reads them; None without."""
    if rd is None:
        return None
    from post_trade.refs import VenueFees

    try:
        rows = rd.table("venue_fees").rows
    except KeyError:
        return None
    return {k: VenueFees(venue=k, cat_id=str(r.get("cat_id") or ""),
                         add_per_100=float(r.get("add_per_100") or 0.0),
                         remove_per_100=float(r.get("remove_per_100") or 0.0),
                         auction_per_100=float(r.get("auction_per_100") or 0.0))
            for k, r in rows.items()}


def _benchmark(own_prints: bool, sim: SimMarket | None, impact: bool, bin_ns: int,
               fees: bool) -> dict[str, Any]:
    """The choices behind the day's figures, stated in the JSON."""
    return {
        "own_prints_included": own_prints,
        "sale_conditions_left_out": _NOT_IN_VWAP_NAMES,
        "auctions": "an auction print counts in the interval VWAP only when the order "
                    "takes that auction (the closing print also after the window's end); "
                    "interval_vwap_ex_auctions leaves every auction print out; the "
                    "full-day VWAP counts them all",
        "arrival": "NBBO mid (as the simulated market showed it) at or before the "
                   "order's acceptance; the day's first NBBO mid for an order accepted "
                   "before any quote",
        "interval_minutes": bin_ns // MINUTE_NS,
        "markout_sign": "+ means the price moved our way after the fill (good)",
        "cost_sign": "+ is worse for the client",
        "fees_table": fees,
        "sim_market": sim is not None,
        "impact": None if sim is None or not sim.impact else {
            "rebuilt": impact, "y": sim.impact_y, "permanent": sim.impact_permanent,
            "decay_s": sim.impact_decay_s},
        "latency_us": None if sim is None else {
            "platform": sim.platform_latency_us, "venue": sim.venue_latency_us,
            "venues": dict(sim.venue_latencies)},
    }


_NOT_IN_VWAP_NAMES = ["cash", "next day", "seller's option", "derivatively priced",
                      "stock option", "average price"]


def _decision(o: _Order, m: AlgoDecision) -> None:
    o.decisions[m.kind] = o.decisions.get(m.kind, 0) + 1
    if m.kind == "schedule":
        if o.first_schedule is None:
            o.first_schedule = m
        o.last_schedule = m
        o.scheduled_qty = m.scheduled_qty
    elif m.kind == "interval":
        o.targets.append(Target(m.start_ns, m.end_ns, m.target_qty, m.scheduled_qty))
    if m.scheduled_qty and o.last_schedule is not None:
        o.scheduled_qty = m.scheduled_qty


def _window(o: _Order, end_ns: int) -> tuple[int, int, bool, bool]:
    """(start, end, takes the opening auction, takes the closing auction)."""
    first, last = o.first_schedule, o.last_schedule
    if first is not None and last is not None:
        # A plan made mid-minute starts at the minute's start (its volume bucket); the
        # order could not trade what printed before it arrived.
        start = max(first.start_ns, o.accepted_ns)
        return start, last.end_ns, OPENING_TEXT in first.text, CLOSING_TEXT in last.text
    tif = o.accepted.tif
    return o.accepted_ns, o.done_ns or end_ns, tif == "opg", tif == "cls"


def _condition_bits(text: str) -> int:
    """The vendor's sale condition (hex text of flag bits) as an int; 0 if not hex."""
    try:
        return int(text, 16) & 0x7FFF_FFFF_FFFF_FFFF if text else 0
    except ValueError:
        return 0


def _counted(p: Prints, start: int, end: int, opening: bool,
             closing: bool) -> npt.NDArray[np.bool_]:
    """Which of `p` the window counts (see the module's docstring)."""
    ts, flags = p.ts_ns, p.flags
    auction_open: npt.NDArray[np.bool_] = (flags & OPENING_PRINT) != 0
    auction_close: npt.NDArray[np.bool_] = (flags & CLOSING_PRINT) != 0
    inside: npt.NDArray[np.bool_] = (ts >= start) & (ts < end)
    mask = inside & ~auction_open & ~auction_close
    if opening:
        mask |= inside & auction_open
    if closing:
        mask |= (ts >= start) & auction_close
    priced: npt.NDArray[np.bool_] = (p.cond & NOT_IN_VWAP) == 0
    return mask & priced


def _not_auction(p: Prints) -> npt.NDArray[np.bool_]:
    out: npt.NDArray[np.bool_] = (p.flags & (OPENING_PRINT | CLOSING_PRINT)) == 0
    return out


def _sums(p: Prints, mask: npt.NDArray[np.bool_]) -> tuple[int, int]:
    """(shares, fixed-point notional) of `p[mask]`, in Python ints: a liquid name's
    day of price x size overflows int64."""
    px, size = p.px[mask].tolist(), p.size[mask].tolist()
    return sum(size), sum(x * q for x, q in zip(px, size, strict=True))


def _slippage(sign: int, notional: int, done: int, b_notional: int,
              b_volume: int) -> float | None:
    """sign x (avg - benchmark) / benchmark x 10,000 from exact ratios, rounded once."""
    if not (done and b_volume and b_notional):
        return None
    return sign * BPS * (notional * b_volume - b_notional * done) / (b_notional * done)


@dataclass(frozen=True)
class _Context:
    bin_ns: int
    fees: dict[str, VenueFees] | None
    own_prints: bool
    by_parent: dict[str, list[_Child]]  # an order's children, in the order sent


def _result(o: _Order, symbol_id: int, p: Prints, own: Prints, quotes: Quotes | None,
            end_ns: int, ctx: _Context) -> OrderResult:
    a = o.accepted
    sign = 1 if a.side == "buy" else -1
    start, end, opening, closing = _window(o, end_ns)
    fills = _with_mids(o.fills, quotes)
    # The window's counted prints: the market's, ours (every order), with and without
    # the auctions.
    m_mask = _counted(p, start, end, opening, closing)
    w_mask = _counted(own, start, end, opening, closing)
    m_vol, m_not = _sums(p, m_mask)
    w_vol, w_not = _sums(own, w_mask)
    x_vol, x_not = _sums(p, m_mask & _not_auction(p))
    xw_vol, xw_not = _sums(own, w_mask & _not_auction(own))
    d_mask = (p.cond & NOT_IN_VWAP) == 0  # the day's: every counted print
    d_vol, d_not = _sums(p, d_mask)
    dw_vol, dw_not = _sums(own, np.ones(len(own.ts_ns), dtype=np.bool_))
    if ctx.own_prints:
        m_vol, m_not = m_vol + w_vol, m_not + w_not
        x_vol, x_not = x_vol + xw_vol, x_not + xw_not
        d_vol, d_not = d_vol + dw_vol, d_not + dw_not
    done = sum(f.qty for f in fills)
    notional = sum(f.qty * f.px for f in fills)
    avg_px = notional / done / PRICE_SCALE if done else None
    parts = _shortfall(o, sign, fills, quotes, notional, done, end_ns)
    fees = _fees(fills, ctx.fees)
    intervals = _intervals(o, p, own, fills, start, end, opening, closing, ctx.bin_ns)
    must_complete = o.params.get("must_complete", "Y").lower() in ("y", "yes", "true", "1")
    order_in = _order_counted(fills, start, end, opening, closing)
    part_den = (m_vol if ctx.own_prints else m_vol + w_vol)
    return OrderResult(
        order_id=a.order_id, client=a.client, cl_ord_id=a.cl_ord_id, symbol=a.symbol,
        symbol_id=symbol_id, side=a.side, qty=o.qty, algo=a.algo, params=dict(o.params),
        window_start_ns=start, window_end_ns=end, opening_auction=opening,
        closing_auction=closing,
        scheduled_qty=o.scheduled_qty if o.last_schedule is not None else o.qty,
        done_qty=done, must_complete=must_complete, complete=done >= o.qty,
        avg_px=avg_px, market_vwap=m_not / m_vol / PRICE_SCALE if m_vol else None,
        market_volume=m_vol, slippage_bps=_slippage(sign, notional, done, m_not, m_vol),
        participation=order_in / part_den if part_den else None,
        passive_share=_share(fills, "added", done),
        auction_share=_share(fills, "auction", done),
        children=o.children, decisions=dict(sorted(o.decisions.items())),
        final_status=o.status, fills=tuple(fills), targets=tuple(o.targets),
        market_vwap_ex_auctions=x_not / x_vol / PRICE_SCALE if x_vol else None,
        slippage_ex_auctions_bps=_slippage(sign, notional, done, x_not, x_vol),
        day_vwap=d_not / d_vol / PRICE_SCALE if d_vol else None,
        day_slippage_bps=_slippage(sign, notional, done, d_not, d_vol),
        own_volume=w_vol,
        arrival_mid=None if parts.m0 is None else parts.m0 / PRICE_SCALE,
        first_child_ns=o.first_child_ns,
        is_bps=parts.total, is_delay_bps=parts.delay, is_spread_bps=parts.spread,
        is_impact_bps=parts.impact, is_timing_bps=parts.timing,
        opportunity_bps=parts.opportunity,
        fees_usd=fees, fees_bps=(BPS * fees * PRICE_SCALE / notional
                                 if fees is not None and notional else None),
        effective_spread_bps=_effective_spread(fills, sign),
        passive_fill_rate=_passive_fill_rate(ctx.by_parent.get(a.order_id, [])),
        markouts_bps=tuple((h, _markout(fills, sign, quotes, h)) for h in MARKOUTS_S),
        max_interval_participation=_max(i.participation for i in intervals),
        symbol_max_interval_participation=_max(i.symbol_participation for i in intervals),
        intervals=tuple(intervals), venues=_venues(fills, ctx.fees),
        child_requests=dict(o.requests),
    )


def _share(fills: list[Fill], liquidity: str, done: int) -> float | None:
    return sum(f.qty for f in fills if f.liquidity == liquidity) / done if done else None


def _max(xs: Iterable[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return max(vals) if vals else None


def _with_mids(fills: list[Fill], quotes: Quotes | None) -> list[Fill]:
    """The fills with the NBBO mid at each (the latest quote at or before it)."""
    if quotes is None or not len(quotes.ts_ns) or not fills:
        return list(fills)
    idx = quotes.index_at(np.array([f.ts_ns for f in fills], dtype=np.int64)).tolist()
    bid, ask = quotes.bid.tolist(), quotes.ask.tolist()
    rb, ra = quotes.raw_bid.tolist(), quotes.raw_ask.tolist()
    return [f if i < 0 else f._replace(mid=(bid[i] + ask[i]) / 2, raw_mid=(rb[i] + ra[i]) / 2)
            for f, i in zip(fills, idx, strict=True)]


class _Shortfall(NamedTuple):
    m0: float | None  # arrival mid, fixed point
    total: float | None
    delay: float | None
    spread: float | None
    impact: float | None
    timing: float | None
    opportunity: float | None


def _shortfall(o: _Order, sign: int, fills: list[Fill], quotes: Quotes | None,
               notional: int, done: int, end_ns: int) -> _Shortfall:
    """Implementation shortfall against the arrival mid M0, in bps of M0, over the
    filled shares: total = sign (avg - M0) / M0 = delay + spread + impact + timing.

    delay: sign (M1 - M0) / M0, M1 the mid when the first child was sent;
    spread: sign sum q (p - m) / (n M0), m the mid at the fill as the market showed it;
    impact: sign sum q (m - m_raw) / (n M0), the impact model's move at the fill;
    timing: the rest, the market's own drift from M1 to the fills.
    The opportunity cost of the unfilled shares is apart: sign (M_end - M0) / M0 times
    the unfilled fraction of the order, M_end the mid at the order's end."""
    none = _Shortfall(None, None, None, None, None, None, None)
    if quotes is None:
        return none
    m0 = quotes.arrival_at(o.accepted_ns)
    if m0 is None:
        return none
    end = quotes.mid_at(o.done_ns or end_ns)
    unfilled = max(0, o.qty - done)
    opportunity = (0.0 if not unfilled else None if end is None
                   else sign * BPS * (end - m0) / m0 * unfilled / o.qty)
    if not done:
        return _Shortfall(m0, None, None, None, None, None, opportunity)
    total = sign * BPS * (notional / done - m0) / m0
    m1 = quotes.mid_at(o.first_child_ns) if o.first_child_ns else None
    delay = None if m1 is None else sign * BPS * (m1 - m0) / m0
    if any(f.mid is None or f.raw_mid is None for f in fills):
        return _Shortfall(m0, total, delay, None, None, None, opportunity)
    spread = sign * BPS * math.fsum(f.qty * (f.px - (f.mid or 0.0)) for f in fills) / (done * m0)
    impact = sign * BPS * math.fsum(f.qty * ((f.mid or 0.0) - (f.raw_mid or 0.0))
                                    for f in fills) / (done * m0)
    timing = None if delay is None else total - delay - spread - impact
    return _Shortfall(m0, total, delay, spread, impact, timing, opportunity)


def _effective_spread(fills: list[Fill], sign: int) -> float | None:
    """Volume-weighted 2 sign (p - m) / m, bps: twice what we paid over the mid."""
    with_mid = [f for f in fills if f.mid]
    n = sum(f.qty for f in with_mid)
    if not n:
        return None
    return BPS * math.fsum(f.qty * 2 * sign * (f.px - (f.mid or 0.0)) / (f.mid or 1.0)
                           for f in with_mid) / n


def _markout(fills: list[Fill], sign: int, quotes: Quotes | None,
             seconds: int) -> float | None:
    """Volume-weighted sign (mid(t + h) - p) / p, bps: + means the price went our way
    after the fill (a buy the market then bid up), the fill looks good."""
    if quotes is None or not len(quotes.ts_ns) or not fills:
        return None
    at = np.array([f.ts_ns + seconds * SECOND_NS for f in fills], dtype=np.int64)
    idx = quotes.index_at(at).tolist()
    bid, ask = quotes.bid.tolist(), quotes.ask.tolist()
    num, n = [], 0
    for f, i in zip(fills, idx, strict=True):
        if i < 0:
            continue
        num.append(f.qty * sign * ((bid[i] + ask[i]) / 2 - f.px) / f.px)
        n += f.qty
    return BPS * math.fsum(num) / n if n else None


def _fees(fills: list[Fill], table: dict[str, VenueFees] | None) -> float | None:
    """Net fees in dollars (+ paid, - rebate received); None without the fee table."""
    if table is None:
        return None
    cents = math.fsum(table[f.venue].cents(f.liquidity, f.qty) for f in fills
                      if f.venue in table)
    return cents / 100


def _passive_fill_rate(children: list[_Child]) -> float | None:
    """Of the shares an order's children posted (a child's quantity as last sent, less
    what it took on arrival or in an auction; none for ioc, fok and auction orders),
    the fraction that filled adding liquidity. A child that rested and never filled
    counts its shares as posted."""
    posted = added = 0
    for c in children:
        if c.tif in _NOT_POSTED_TIF:
            continue
        posted += max(0, c.qty - c.removed - c.auction)
        added += c.added
    return added / posted if posted else None


def _venues(fills: list[Fill], table: dict[str, VenueFees] | None) -> tuple[VenueRow, ...]:
    rows = []
    for v in sorted({f.venue for f in fills}):
        fs = [f for f in fills if f.venue == v]
        shares = sum(f.qty for f in fs)
        fee = (None if table is None or v not in table else
               math.fsum(table[v].cents(f.liquidity, f.qty) for f in fs) / 100)
        rows.append(VenueRow(v, len(fs), shares,
                             sum(f.qty for f in fs if f.liquidity == "added"),
                             sum(f.qty * f.px for f in fs) / shares / PRICE_SCALE, fee))
    return tuple(rows)


def _as_prints(fills: list[Fill]) -> Prints:
    z = np.zeros(len(fills), dtype=np.int64)
    return Prints(np.array([f.ts_ns for f in fills], dtype=np.int64),
                  np.array([f.px for f in fills], dtype=np.int64),
                  np.array([f.qty for f in fills], dtype=np.int64),
                  np.array([f.flags for f in fills], dtype=np.int64), z)


def _order_counted(fills: list[Fill], start: int, end: int, opening: bool,
                   closing: bool) -> int:
    """The order's shares among the window's counted prints."""
    if not fills:
        return 0
    p = _as_prints(fills)
    return int(p.size[_counted(p, start, end, opening, closing)].sum())


def _intervals(o: _Order, p: Prints, own: Prints, fills: list[Fill], start: int, end: int,
               opening: bool, closing: bool, bin_ns: int) -> list[Interval]:
    """The window cut at the bin's multiples of stream time (9:30, 9:35, ...); a
    counted print after the window's end (the closing auction) in the last one."""
    if end <= start:
        return []
    edges = [start, *range(start - start % bin_ns + bin_ns, end, bin_ns), end]
    e = np.array(edges, dtype=np.int64)
    n = len(edges) - 1

    def binned(x: Prints) -> list[int]:
        mask = _counted(x, start, end, opening, closing)
        ts = np.clip(x.ts_ns[mask], start, end - 1)
        i = np.searchsorted(e, ts, side="right") - 1
        return [int(v) for v in np.bincount(i, weights=x.size[mask].astype(np.float64),
                                            minlength=n)[:n]]

    market = binned(p)
    ours = binned(own)
    mine = binned(_as_prints(fills)) if fills else [0] * n
    planned: list[int | None] = [None] * n
    if o.targets:
        planned = [0] * n
        prev = 0
        for t in sorted(o.targets, key=lambda t: t.end_ns):
            k = min(n - 1, max(0, int(np.searchsorted(e, t.start_ns, side="right")) - 1))
            planned[k] = (planned[k] or 0) + max(0, t.target_qty - prev)
            prev = max(prev, t.target_qty)
    out = []
    for k in range(n):
        den = market[k] + ours[k]
        out.append(Interval(edges[k], edges[k + 1], planned[k], mine[k], ours[k], market[k],
                            mine[k] / den if den else None, ours[k] / den if den else None))
    return out


# --------------------------------------------------------------------------- the tables


def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def render(report: BacktestReport) -> Table:
    """One row per order: what it did against the market of its window. Each row is
    three lines (the order, then its algo, side and symbol, then its status; shares
    asked over done; our average price over the market's), so the table fits 80
    columns without cutting a figure."""
    from rich import box
    from rich.markup import escape

    t = Table(title=f"backtest orders ({report.orders})", title_justify="left",
              box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
              caption="interval VWAP: the market's over the order's own interval; "
                      "slippage against it, + is a cost", caption_justify="left")
    t.add_column("order\nalgo side symbol\nstatus", overflow="fold")
    for name in ("qty\ndone", "avg px\ninterval VWAP", "slippage\nbps", "particip.\n%",
                 "passive\n%"):
        t.add_column(name, justify="right", overflow="fold")
    for r in report.results:
        slip = _colour(_fmt(r.slippage_bps, "+.1f"), r.slippage_bps)
        status = r.final_status if r.complete or not r.must_complete else \
            f"[yellow]{r.final_status}[/]"
        t.add_row(
            f"{escape(r.order_id)}\n{r.algo} {r.side} {escape(r.symbol)}\n{status}",
            f"{r.qty:,}\n{r.done_qty:,}",
            f"{_fmt(r.avg_px, '.4f')}\n{_fmt(r.market_vwap, '.4f')}", slip,
            _fmt(_pct(r.participation), ".1f"), _fmt(_pct(r.passive_share), ".0f"),
            end_section=True,
        )
    return t


def _colour(text: str, cost: float | None) -> str:
    if cost is None:
        return text
    return f"[red]{text}[/]" if cost > 0 else f"[green]{text}[/]"


def render_costs(report: BacktestReport) -> Table:
    """One row per order: its implementation shortfall against the arrival mid and
    the parts it splits into, the unfilled shares' cost, fees and the 60 s markout,
    all in bps (+ is a cost, but a markout + is good). Fits 80 columns."""
    from rich import box
    from rich.markup import escape

    t = Table(title="costs against arrival (bps)", title_justify="left",
              box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
              caption="IS = delay + spread + impact + timing, over the filled shares; "
                      "opport.: the unfilled shares; markout 60 s: + is good",
              caption_justify="left")
    t.add_column("order\nside symbol", overflow="fold")
    for name in ("IS", "delay", "spread", "impact", "timing", "opport.", "fees",
                 "mkout\n60s"):
        t.add_column(name, justify="right", overflow="fold")
    for r in report.results:
        t.add_row(f"{escape(r.order_id)}\n{r.side} {escape(r.symbol)}",
                  _colour(_fmt(r.is_bps, "+.1f"), r.is_bps),
                  *(_fmt(x, "+.1f") for x in (r.is_delay_bps, r.is_spread_bps,
                                              r.is_impact_bps, r.is_timing_bps,
                                              r.opportunity_bps, r.fees_bps,
                                              r.markout(60))),
                  end_section=True)
    return t


def summary_line(report: BacktestReport) -> str:
    """One line: completion of the must-complete orders and the slippage figures."""
    return (
        f"{report.orders} algo orders, {report.filled_orders} with fills; "
        f"must-complete done {report.complete_must_complete}/{report.must_complete}; "
        f"slippage vs interval VWAP (bps, + is a cost): "
        f"mean {_fmt(report.mean_slippage_bps, '+.2f')}, "
        f"mean |.| {_fmt(report.mean_abs_slippage_bps, '.2f')}, "
        f"max |.| {_fmt(report.max_abs_slippage_bps, '.2f')}; "
        f"IS vs arrival mean {_fmt(report.mean_is_bps, '+.2f')}"
    )


# --------------------------------------------------------------------------- the charts


def plot_orders(report: BacktestReport, day: Path, out_dir: Path, *,
                tz: str = TZ) -> list[Path]:
    """One PNG per order in `out_dir` (`{order_id}.png`): see
    `post_trade.quality_plots.plot_orders` (imported when drawing: matplotlib)."""
    from post_trade.quality_plots import plot_orders as plot

    return plot(report, day, out_dir, tz=tz)
