"""Execution quality: how a day's algo orders traded, a report per order, a chart of each.

Any day's journal, live or backtest (`tape backtest` runs it on its days);
everything here is worked out from that journal alone, in one pass. For each
order with an algo (`ParentAccepted.algo`, VWAP and DMA alike):

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
  stream time in [start, end). Auction prints are counted the way the algo engine
  buckets them (`algo_engine.market.Book`): a print flagged OPENING_PRINT or
  CLOSING_PRINT belongs to its auction and counts only when the order takes that
  auction (the schedule's text says ", opening auction" / ", closing auction"; a DMA
  order's time in force is opg / cls), the closing print also when it comes after
  the window's end, as it does. Prints whose sale condition VWAP practice leaves out
  (`NOT_IN_VWAP`: cash, next day and seller's option settlement, derivatively priced,
  stock-option and average-price trades: their price was not the market's at the
  time) are not counted. The interval VWAP and volume are the counted prints';
- slippage against the interval VWAP, in basis points, signed as a cost so that
  positive is worse than the market: a buy (avg - vwap) / vwap, a sell or short sale
  (vwap - avg) / vwap, times 10,000. None without fills or without market volume;
- participation: our shares over the market's shares of the window.

`build_report` makes the `BacktestReport` (summary figures and `as_dict` for JSON);
`render` and `summary_line` print it; `plot_orders` draws one PNG per order: the
market's and our progress through the window against the plan's targets, and
shares per minute.

Ratios without a denominator are None (JSON null), never NaN. Prices on the stream
are fixed point (`PRICE_SCALE`); the figures here are float dollars, worked out from
exact integer sums so that a replayed day reports the same digits.
"""

# determinism: edge module, offline tooling: reads a finished day's journal, draws files

from __future__ import annotations

import datetime as dt
import re
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
from sequencer.messages.control import SystemStart
from sequencer.messages.executions import VenueFill
from sequencer.messages.marketdata import (
    CLOSING_PRINT,
    NOT_IN_VWAP,
    OPENING_PRINT,
    PRICE_SCALE,
    REGULAR_WAY,
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
    from matplotlib.figure import Figure

TZ = "America/New_York"
MINUTE_NS = 60_000_000_000
BPS = 10_000
OPENING_TEXT = ", opening auction"
CLOSING_TEXT = ", closing auction"

_ROUTE = struct.Struct("<16xq12xH")  # a raw frame's stream time and type id
_START = TYPE_ID[SystemStart]
_ACCEPTED = TYPE_ID[ParentAccepted]
_AMENDED = TYPE_ID[ParentAmended]
_CHILD = TYPE_ID[ChildOrderSent]
_FILL = TYPE_ID[VenueFill]
_DONE = TYPE_ID[ParentDone]
_DECISION = TYPE_ID[AlgoDecision]
_TRADE = TYPE_ID[Trade]
_ORDER_TYPES = frozenset({_START, _ACCEPTED, _AMENDED, _CHILD, _FILL, _DONE, _DECISION})
# Decoders of their own, typed: the messages are tagged, so one decoder takes them all.
_ORDER_DECODER = msgspec.msgpack.Decoder(
    SystemStart | ParentAccepted | ParentAmended | ChildOrderSent | VenueFill | ParentDone
    | AlgoDecision
)
_TRADE_DECODER = msgspec.msgpack.Decoder(Trade)

I64 = npt.NDArray[np.int64]


class Fill(NamedTuple):
    ts_ns: int
    qty: int
    px: int  # fixed point
    liquidity: str  # "added", "removed", "auction" or ""


class Target(NamedTuple):
    """An "interval" decision: by `end_ns`, `target_qty` of `scheduled_qty` done."""

    start_ns: int
    end_ns: int
    target_qty: int
    scheduled_qty: int


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
    market_volume: int  # shares
    slippage_bps: float | None  # cost-signed: positive is worse than the market
    participation: float | None  # done_qty / market_volume, a fraction
    passive_share: float | None  # shares that added liquidity / done_qty
    auction_share: float | None  # shares traded in an auction / done_qty
    children: int  # new children sent
    decisions: dict[str, int]  # AlgoDecision kind -> how many
    final_status: str  # ParentDone.ord_status, or "working"
    fills: tuple[Fill, ...] = field(default=(), repr=False)
    targets: tuple[Target, ...] = field(default=(), repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
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
        }


@dataclass(frozen=True)
class Prints:
    """A symbol's regular-way prints in stream order (stream time, price, size, flags)."""

    ts_ns: I64
    px: I64
    size: I64
    flags: I64
    cond: I64  # the vendor's sale-condition bits


@dataclass(frozen=True)
class BacktestReport:
    day: Path
    results: tuple[OrderResult, ...]
    # The market's prints of the orders' symbols by symbol id, kept for `plot_orders`
    # so that drawing needs no second pass over the journal.
    prints: dict[int, Prints] = field(default_factory=dict, repr=False, compare=False)

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

    def summary(self) -> dict[str, Any]:
        return {
            "orders": self.orders,
            "filled_orders": self.filled_orders,
            "must_complete": self.must_complete,
            "complete_must_complete": self.complete_must_complete,
            "mean_slippage_bps": self.mean_slippage_bps,
            "mean_abs_slippage_bps": self.mean_abs_slippage_bps,
            "max_abs_slippage_bps": self.max_abs_slippage_bps,
        }

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the summary figures and one entry per order (units in the names)."""
        return {
            "day": str(self.day),
            "summary": self.summary(),
            "orders": [r.as_dict() for r in self.results],
        }


def _pct(x: float | None) -> float | None:
    return None if x is None else 100 * x


# --------------------------------------------------------------------------- the pass


@dataclass
class _Order:
    """An order as the pass collects it."""

    accepted: ParentAccepted
    accepted_ns: int
    qty: int
    params: dict[str, str]
    children: int = 0
    fills: list[Fill] = field(default_factory=list)
    exec_ids: set[tuple[str, str]] = field(default_factory=set)
    first_schedule: AlgoDecision | None = None
    last_schedule: AlgoDecision | None = None
    scheduled_qty: int = 0
    targets: list[Target] = field(default_factory=list)
    decisions: dict[str, int] = field(default_factory=dict)
    status: str = "working"
    done_ns: int = 0


class _PrintColumns:
    def __init__(self) -> None:
        self.ts = array("q")
        self.px = array("q")
        self.size = array("q")
        self.flags = array("q")
        self.cond = array("q")

    def freeze(self) -> Prints:
        return Prints(*(np.frombuffer(a, dtype=np.int64) if len(a) else np.zeros(0, np.int64)
                        for a in (self.ts, self.px, self.size, self.flags, self.cond)))


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


def _read_prints(day: Path, want: set[int] | None) -> tuple[dict[int, Prints], int]:
    """The regular-way prints of symbols `want` (all if None), and the journal's end."""
    cols: dict[int, _PrintColumns] = {}
    end_ns = 0
    for ts, tid, payload in _frames(day, frozenset({_TRADE})):
        if tid == _TRADE:
            _add_print(cols, ts, payload, want)
        else:
            end_ns = ts
    return {sid: c.freeze() for sid, c in cols.items()}, end_ns


def _add_print(cols: dict[int, _PrintColumns], ts: int, payload: bytes,
               want: set[int] | None) -> None:
    t = _TRADE_DECODER.decode(payload)
    if not t.flags & REGULAR_WAY or (want is not None and t.symbol_id not in want):
        return
    c = cols.get(t.symbol_id)
    if c is None:
        c = cols[t.symbol_id] = _PrintColumns()
    c.ts.append(ts)
    c.px.append(t.price)
    c.size.append(t.size)
    c.flags.append(t.flags)
    c.cond.append(_condition_bits(t.conditions))


#: The frames the report reads (`build_report`'s `frames`, when another pass keeps them).
FRAME_TYPES = _ORDER_TYPES | {_TRADE}


def build_report(day: Path, *, names: dict[int, str] | None = None,
                 frames: Iterable[tuple[int, int, bytes]] | None = None) -> BacktestReport:
    """The report of day folder `day` from its journal, in one pass.

    `names` maps symbol ids to names (tests); by default the day's ref data does,
    the set its `SystemStart` names. `frames`: the (stream time, type id, payload) of
    the day's `FRAME_TYPES` frames and then (end time, -1, b"") for the journal's end,
    as `post_trade.record.read_day(keep=FRAME_TYPES)` keeps them; read from the
    journal when None.
    """
    day = Path(day)
    orders: dict[str, _Order] = {}
    child_parent: dict[str, str] = {}
    cols: dict[int, _PrintColumns] = {}
    digest = ""
    end_ns = 0
    for ts, tid, payload in (frames if frames is not None else _frames(day, FRAME_TYPES)):
        if tid == _TRADE:
            _add_print(cols, ts, payload, None)  # which symbols matter is known at the end
            continue
        if tid == -1:
            end_ns = ts
            continue
        m = _ORDER_DECODER.decode(payload)
        if isinstance(m, VenueFill):
            pid = child_parent.get(m.child_id)
            if pid is None:
                continue
            o = orders[pid]
            key = (m.child_id, m.exec_id)
            if key in o.exec_ids or m.qty <= 0 or m.px <= 0:
                continue  # a venue's repeat, or a fill the OMS refuses too
            o.exec_ids.add(key)
            o.fills.append(Fill(ts, m.qty, m.px, m.liquidity))
        elif isinstance(m, ChildOrderSent):
            if m.action == "new" and m.parent_id in orders:
                child_parent[m.child_id] = m.parent_id
                orders[m.parent_id].children += 1
        elif isinstance(m, AlgoDecision):
            o_ = orders.get(m.order_id)
            if o_ is not None:
                _decision(o_, m)
        elif isinstance(m, ParentAccepted):
            if m.algo:
                orders[m.order_id] = _Order(m, ts, m.qty, dict(m.algo_params))
        elif isinstance(m, ParentAmended):
            o_ = orders.get(m.order_id)
            if o_ is not None and not m.pending:
                o_.qty = m.qty
                if m.algo_params:
                    o_.params = dict(m.algo_params)
        elif isinstance(m, ParentDone):
            o_ = orders.get(m.order_id)
            if o_ is not None:
                o_.status, o_.done_ns = m.ord_status, ts
        elif isinstance(m, SystemStart):
            digest = m.refdata_digest
    ids = _symbol_ids(day, digest, names, sorted({o.accepted.symbol for o in orders.values()}))
    empty = _PrintColumns().freeze()
    # every symbol of the orders, those without prints too (so drawing needs no re-read)
    prints = {sid: cols[sid].freeze() if sid in cols else empty
              for sid in sorted(set(ids.values()))}
    results = []
    for o in orders.values():
        sid = ids.get(o.accepted.symbol, 0)
        results.append(_result(o, sid, prints.get(sid, empty), end_ns))
    return BacktestReport(day, tuple(results), prints)


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


def _symbol_ids(day: Path, digest: str, names: dict[int, str] | None,
                symbols: list[str]) -> dict[str, int]:
    """Symbol name -> id for the orders' symbols (those the ref data knows)."""
    if names is not None:
        by_name = {n: i for i, n in names.items()}
        return {s: by_name[s] for s in symbols if s in by_name}
    if not symbols:
        return {}
    from refdata.load import load, load_for_day

    rd = load_for_day(day, digest) if digest else load(day / "refdata")
    out: dict[str, int] = {}
    for s in symbols:
        sym = rd.find(s)
        if sym is not None:
            out[s] = sym.id
    return out


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


def _result(o: _Order, symbol_id: int, p: Prints, end_ns: int) -> OrderResult:
    a = o.accepted
    start, end, opening, closing = _window(o, end_ns)
    m_px: list[int] = []
    m_size: list[int] = []
    if len(p.ts_ns):
        mask = _counted(p, start, end, opening, closing)
        m_px, m_size = p.px[mask].tolist(), p.size[mask].tolist()
    # Python ints: a liquid name's day of price x size overflows int64.
    m_volume = sum(m_size)
    m_notional = sum(x * q for x, q in zip(m_px, m_size, strict=True))
    done = sum(f.qty for f in o.fills)
    notional = sum(f.qty * f.px for f in o.fills)
    avg_px = notional / done / PRICE_SCALE if done else None
    vwap = m_notional / m_volume / PRICE_SCALE if m_volume else None
    slippage = None
    if done and m_volume and m_notional:
        # (avg - vwap) / vwap with both as exact ratios, rounded once.
        diff = notional * m_volume - m_notional * done
        sign = 1 if a.side == "buy" else -1
        slippage = sign * BPS * diff / (m_notional * done)
    must_complete = o.params.get("must_complete", "Y").lower() in ("y", "yes", "true", "1")
    return OrderResult(
        order_id=a.order_id, client=a.client, cl_ord_id=a.cl_ord_id, symbol=a.symbol,
        symbol_id=symbol_id, side=a.side, qty=o.qty, algo=a.algo, params=dict(o.params),
        window_start_ns=start, window_end_ns=end, opening_auction=opening,
        closing_auction=closing,
        scheduled_qty=o.scheduled_qty if o.last_schedule is not None else o.qty,
        done_qty=done, must_complete=must_complete, complete=done >= o.qty,
        avg_px=avg_px, market_vwap=vwap, market_volume=m_volume, slippage_bps=slippage,
        participation=done / m_volume if m_volume else None,
        passive_share=_share(o.fills, "added", done),
        auction_share=_share(o.fills, "auction", done),
        children=o.children, decisions=dict(sorted(o.decisions.items())),
        final_status=o.status, fills=tuple(o.fills), targets=tuple(o.targets),
    )


def _share(fills: list[Fill], liquidity: str, done: int) -> float | None:
    return sum(f.qty for f in fills if f.liquidity == liquidity) / done if done else None


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
        slip = _fmt(r.slippage_bps, "+.1f")
        if r.slippage_bps is not None:
            slip = f"[red]{slip}[/]" if r.slippage_bps > 0 else f"[green]{slip}[/]"
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


def summary_line(report: BacktestReport) -> str:
    """One line: completion of the must-complete orders and the slippage figures."""
    return (
        f"{report.orders} algo orders, {report.filled_orders} with fills; "
        f"must-complete done {report.complete_must_complete}/{report.must_complete}; "
        f"slippage vs interval VWAP (bps, + is a cost): "
        f"mean {_fmt(report.mean_slippage_bps, '+.2f')}, "
        f"mean |.| {_fmt(report.mean_abs_slippage_bps, '.2f')}, "
        f"max |.| {_fmt(report.max_abs_slippage_bps, '.2f')}"
    )


# --------------------------------------------------------------------------- the charts


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
    """One PNG per order in `out_dir` (`{order_id}.png`), in exchange-local time `tz`.

    Top: over the window, the market's cumulative volume as a fraction of the
    window's, our cumulative fills as a fraction of the scheduled shares, and each
    interval's target. Bottom: the market's shares per minute and ours. The market
    is the report's own copy of the prints; a report without one (not made by
    `build_report`) has them read again from `day`'s journal.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    prints = report.prints
    wanted = {r.symbol_id for r in report.results if r.symbol_id}
    if not wanted.issubset(prints):
        prints, _ = _read_prints(Path(day), wanted)
    zone = zoneinfo.ZoneInfo(tz)
    empty = _PrintColumns().freeze()
    used: set[str] = set()
    paths: list[Path] = []
    for r in report.results:
        fig = Figure(figsize=(12, 7.5), dpi=100, layout="constrained")
        FigureCanvasAgg(fig)
        _draw(fig, r, prints.get(r.symbol_id, empty), zone)
        path = out_dir / _file_name(r.order_id, used)
        fig.savefig(path)
        paths.append(path)
    return paths


def _draw(fig: Figure, r: OrderResult, p: Prints, zone: zoneinfo.ZoneInfo) -> None:
    import matplotlib.dates as mdates

    mask = _counted(p, r.window_start_ns, r.window_end_ns, r.opening_auction,
                    r.closing_auction)
    m_ts, m_size = p.ts_ns[mask], p.size[mask]
    f_ts = np.array([f.ts_ns for f in r.fills], dtype=np.int64)
    f_qty = np.array([f.qty for f in r.fills], dtype=np.int64)
    lo = r.window_start_ns
    hi = max(r.window_end_ns, int(m_ts[-1]) + 1 if len(m_ts) else 0,
             int(f_ts.max()) + 1 if len(f_ts) else 0)
    # Trading hours never straddle a change of UTC offset, so one offset serves the day.
    offset = dt.datetime.fromtimestamp(lo / 1e9, zone).utcoffset() or dt.timedelta(0)
    shift = int(offset.total_seconds()) * 1_000_000_000

    def local(ns: I64) -> npt.NDArray[np.datetime64]:
        return (ns + shift).astype("datetime64[ns]")

    ax, bx = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    sched = r.scheduled_qty or r.qty
    if len(m_ts):
        # One point per second is plenty at this scale (a liquid day has a million prints).
        cum = np.cumsum(m_size)
        sec = m_ts // 1_000_000_000
        last = np.r_[sec[1:] != sec[:-1], True]
        xs = np.r_[lo, m_ts[last], hi]
        ys = np.r_[0.0, cum[last] / cum[-1], 1.0]
        ax.step(local(xs), ys, where="post", color="#4c72b0", linewidth=1.4,
                label=f"market volume ({r.market_volume:,} shares)")
    if len(f_ts):
        cum_f = np.cumsum(f_qty) / sched
        xs = np.r_[lo, f_ts, hi]
        ys = np.r_[0.0, cum_f, cum_f[-1]]
        ax.step(local(xs), ys, where="post", color="#c44e52", linewidth=1.6,
                label=f"our fills ({r.done_qty:,} of {sched:,} scheduled)")
    if r.targets:
        # Each interval's target where it is due, joined from the start: the plan's path.
        t_end = np.array([lo, *(t.end_ns for t in r.targets)], dtype=np.int64)
        t_frac = [0.0, *(t.target_qty / (t.scheduled_qty or sched) for t in r.targets)]
        ax.plot(local(t_end), t_frac, linestyle="--", linewidth=1, marker="o", markersize=4,
                color="#55a868", label="interval targets")
    for x in (r.window_start_ns, r.window_end_ns):
        ax.axvline(local(np.array([x], dtype=np.int64))[0], color="grey", linewidth=0.8,
                   linestyle=":")
    ax.set_ylabel("fraction done")
    ax.set_ylim(0, max(1.05, float(np.sum(f_qty)) / sched * 1.05 if sched else 1.05))
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", fontsize=9)
    if not len(m_ts):
        ax.text(0.5, 0.5, "no market prints in the window", transform=ax.transAxes,
                ha="center", va="center", color="grey")

    edges = np.arange(lo - lo % MINUTE_NS, hi + MINUTE_NS, MINUTE_NS, dtype=np.int64)
    width = np.timedelta64(MINUTE_NS, "ns")
    if len(edges) > 1:
        m_min = np.histogram(m_ts, bins=edges, weights=m_size)[0]
        bx.bar(local(edges[:-1]), m_min, width=width, align="edge", color="#4c72b0",
               alpha=0.45, linewidth=0, label="market")
        bx.set_ylabel("market shares / minute")
        if len(f_ts):
            # Ours on their own scale (right), as narrow bars inside the market's: a
            # small order would not show on the market's scale.
            f_min = np.histogram(f_ts, bins=edges, weights=f_qty)[0]
            cx = bx.twinx()
            cx.bar(local(edges[:-1] + MINUTE_NS // 2), f_min, width=width * 0.4,
                   align="center", color="#c44e52", alpha=0.85, linewidth=0, label="ours")
            cx.set_ylabel("our shares / minute (right)")
            cx.set_ylim(bottom=0)
            handles = [*bx.get_legend_handles_labels()[0], *cx.get_legend_handles_labels()[0]]
            cx.legend(handles=handles, loc="upper left", fontsize=9)
    bx.grid(alpha=0.3)
    hhmm = mdates.DateFormatter("%H:%M")  # type: ignore[no-untyped-call]  # untyped in mpl
    bx.xaxis.set_major_formatter(hhmm)
    bx.set_xlabel(f"exchange time ({zone.key})")
    slip = "-" if r.slippage_bps is None else f"{r.slippage_bps:+.1f} bps"
    fig.suptitle(f"{r.order_id}  {r.symbol} {r.side} {r.qty:,} ({r.algo}): "
                 f"slippage vs interval VWAP {slip}, status {r.final_status}")
