"""The OMS's book: parent orders, their child orders, and the arithmetic on them.

Plain mutable msgspec Structs (fast attribute access, and a snapshot is one
encode). Quantities are shares; prices fixed point (1/10,000); a parent's
`notional` is the sum of fill quantity times fill price, so AvgPx is exact
until the one rounding `avg_px` states.

A child's *exposure* is what it could still fill: its leaves quantity, or
while a replace is in flight the larger of the old and the requested
leaves (the venue may apply either). A parent's `open_qty` is the sum of its
live children's exposure; the OMS keeps `cum_qty + open_qty <= qty` at all
times, which is what makes an overfill of a parent impossible.
"""

from __future__ import annotations

import msgspec

from oms.config import Client, Limits
from oms.states import (
    CHILD_LIVE,
    CHILD_MOVES,
    LIVE,
    ChildEvent,
    ChildStatus,
    InFlight,
    State,
)
from sequencer.messages.executions import AVG_PX_SCALE, RestatementReason
from sequencer.messages.orders import ExecInst, OrdType, Params, Side, TimeInForce

_AVG_MUL = AVG_PX_SCALE // 10_000  # notional is in 1/10,000 units
DEFAULT_EOD_MS = 16 * 3_600_000 + 5 * 60_000


class Child(msgspec.Struct, gc=False):
    child_id: str
    parent_id: str
    venue: str
    destination: str
    qty: int
    ord_type: OrdType
    limit_px: int
    tif: TimeInForce
    status: ChildStatus = "pending_new"
    pending: InFlight = ""  # a request in flight at the venue (`states.child_step`)
    pend_qty: int = 0  # the replace's quantity and price while one is in flight (kept
    # when a cancel follows it: the venue may still apply the replace first)
    pend_px: int = 0
    cum_qty: int = 0
    notional: int = 0
    overfill: int = 0  # shares a venue reported beyond the child (booked to error, alerted)
    venue_order_id: str = ""
    fills: int = 0  # venue ExecIDs of the child's in `OmsState.fills` (fills, busts, ...)


class Parent(msgspec.Struct, gc=False):
    order_id: str
    client: str
    cl_ord_id: str  # the current ClOrdID (of the last accepted new, replace or cancel)
    symbol: str
    symbol_id: int
    side: Side
    qty: int
    ord_type: OrdType
    limit_px: int
    tif: TimeInForce
    algo: str
    algo_params: Params
    locate_broker: str
    state: State = "pending_new"
    cum_qty: int = 0
    notional: int = 0  # sum of fill qty * fill price (1/10,000)
    px_ref: int = 0  # price at which open shares count toward gross notional
    open_qty: int = 0  # sum of live children's exposure
    live_children: int = 0
    children: tuple[str, ...] = ()
    # The client's pending cancel or replace: its ClOrdID and (replace) new terms.
    pend_cl_ord_id: str = ""
    pend_qty: int = 0
    pend_px: int = 0
    pend_params: Params = ()
    pend_px_ref: int = 0
    pend_timer: int = 0
    pend_overdue: bool = False  # the replace timeout passed: refuse once nothing is in flight
    # Why the OMS is taking the order down ("" if it is not): "client", "kill",
    # "eod", "replace" (a replace to at or below the filled quantity), "venue" (the
    # venue ended a DMA order's child on its own).
    closing: str = ""
    closing_text: str = ""
    closing_reason: RestatementReason = ""  # the ExecRestatementReason of that cancel
    orig_cl_ord_id: str = ""  # the ClOrdID before `cl_ord_id` (OrigClOrdID of a status)
    cash_qty: int = 0  # the client's CashOrderQty (fixed point), if it sent one
    exec_inst: tuple[ExecInst, ...] = ()

    @property
    def leaves_qty(self) -> int:
        return self.qty - self.cum_qty if self.state in LIVE else 0


class OmsState(msgspec.Struct):
    """Everything the OMS knows; its snapshot is this, encoded."""

    day: str = ""  # YYYYMMDD, the prefix of OrderIDs and ExecIDs
    next_order: int = 0
    next_exec: int = 0
    parents: dict[str, Parent] = msgspec.field(default_factory=dict)
    children: dict[str, Child] = msgspec.field(default_factory=dict)
    # (client + "\x00" + ClOrdID) -> OrderID, for every ClOrdID a client used today
    cl_ord_ids: dict[str, str] = msgspec.field(default_factory=dict)
    live: dict[str, None] = msgspec.field(default_factory=dict)  # live OrderIDs, in age order
    firm: Limits = msgspec.field(default_factory=Limits)
    clients: dict[str, Client] = msgspec.field(default_factory=dict)
    gross: dict[str, int] = msgspec.field(default_factory=dict)  # scope -> committed notional
    open_orders: dict[str, int] = msgspec.field(default_factory=dict)  # scope -> live parents
    kills: list[tuple[str, str, str]] = msgspec.field(default_factory=list)  # scope, value, why
    nbbo: dict[int, tuple[int, int]] = msgspec.field(default_factory=dict)  # id -> bid, ask
    subscribed: dict[int, None] = msgspec.field(default_factory=dict)
    midnight_ns: int = 0
    eod_ms: int = DEFAULT_EOD_MS
    eod_timer: int = 0
    eod_done: bool = False
    replace_timeout_ms: int = 2000
    alerts: int = 0
    down: dict[str, str] = msgspec.field(default_factory=dict)  # destination -> why it is down
    # The venues' fills by `fill_key(child id, the venue's ExecID)`: (shares booked,
    # price, the ExecID of our report of it, whether it stands). A broken fill, and one a
    # correction replaced, stand no more (the correction stands under its own ExecID); a
    # trade cancel or correction is kept under its ExecID too, so that a venue's repeat
    # of any of them is applied once. One dict for the day, not one per child: a
    # container per child would be that many more objects for the garbage collector to
    # walk (the OMS bench measured 7%).
    fills: dict[str, tuple[int, int, str, bool]] = msgspec.field(default_factory=dict)
    # Trading halts: ops' (`HaltTrading` scope "*", a symbol, a client or a venue -> why)
    # and the market's (symbol id -> why, from `TradingStatus`). A new DMA order into a
    # halt is refused ("reject") or accepted for its child to wait ("hold").
    halts: dict[str, str] = msgspec.field(default_factory=dict)
    market_halts: dict[int, str] = msgspec.field(default_factory=dict)
    dma_on_halt: str = "reject"


def fill_key(child_id: str, exec_id: str) -> str:
    """The key of a venue's execution of a child in `OmsState.fills`."""
    return child_id + "\x00" + exec_id


def exposure(c: Child) -> int:
    """What a live child could still fill (0 once it is done)."""
    if c.status not in CHILD_LIVE:
        return 0
    if c.pend_qty > c.qty:  # a replace up in flight (a cancel may be in flight too)
        return c.pend_qty - c.cum_qty
    return c.qty - c.cum_qty


def move_child(c: Child, event: ChildEvent) -> None:
    """Apply a venue event or a request of ours to a child by the child table
    (`oms.states.child_step`); an event that ends the replace in flight ends its terms."""
    c.status, c.pending, clears = CHILD_MOVES[(c.status, c.pending, event)]
    if clears:
        c.pend_qty = c.pend_px = 0


def avg_px(notional: int, cum_qty: int) -> int:
    """Notional over CumQty in AVG_PX_SCALE units, rounded half to even."""
    if cum_qty <= 0:
        return 0
    q, r = divmod(notional * _AVG_MUL, cum_qty)
    twice = 2 * r
    if twice > cum_qty or (twice == cum_qty and q & 1):
        q += 1
    return q


def within_limit(side: Side, parent_px: int, child_px: int) -> bool:
    """A child's limit is no worse than the parent's (buy: at or below; sell: at or above)."""
    if side == "buy":
        return child_px <= parent_px
    return child_px >= parent_px


def tighter(side: Side, a: int, b: int) -> int:
    """The stricter of two limits for `side`."""
    return min(a, b) if side == "buy" else max(a, b)


def fmt_px(px: int) -> str:
    """A fixed-point price for people: 2 decimals, or 4 where needed."""
    sign = "-" if px < 0 else ""
    whole, frac = divmod(abs(px), 10_000)
    if frac % 100 == 0:
        return f"{sign}{whole}.{frac // 100:02d}"
    return f"{sign}{whole}.{frac:04d}"


def fmt_money(amount: int) -> str:
    """A fixed-point amount as dollars with thousands separators."""
    whole, frac = divmod(amount, 10_000)
    return f"{whole:,}.{frac // 100:02d}"
