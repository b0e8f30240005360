"""Executions family (type ids 500-599): the OMS's answers to clients, and venue events.

`ExecutionReport` and `CancelReject` carry FIX 4.4 semantics (ExecType,
OrdStatus, OrderQty, CumQty, LeavesQty, LastQty, LastPx, AvgPx, ExecID,
OrderID, ClOrdID and OrigClOrdID); the client gateway turns them into FIX.
Venue events are what the venue gateway puts on the stream from a venue's
FIX execution reports, for one child order.

Prices are fixed point (1/10,000). AvgPx is fixed point with 8 decimals
(`AVG_PX_SCALE`): notional / CumQty rounded half to even, stated here so the
figure a client sees is the same in every replay.
"""

from __future__ import annotations

from typing import Literal

from sequencer.messages.base import Message
from sequencer.messages.orders import Side

AVG_PX_SCALE = 100_000_000

# FIX 4.4 values (150=F "trade" reports a fill; 4.4 retired the partial fill and fill
# exec types, and OrdStatus "replaced": a replaced order shows its live status).
ExecType = Literal[
    "new", "done_for_day", "canceled", "replaced", "pending_cancel", "stopped", "rejected",
    "suspended", "pending_new", "calculated", "expired", "restated", "pending_replace",
    "trade", "order_status",
]
OrdStatus = Literal[
    "new", "partially_filled", "filled", "done_for_day", "canceled", "pending_cancel",
    "stopped", "rejected", "suspended", "pending_new", "calculated", "expired",
    "pending_replace",
]
Liquidity = Literal["added", "removed", "auction", ""]


class ExecutionReport(Message, tag=500, frozen=True):
    """The OMS's report of a parent order's state to its client (FIX 35=8)."""

    client: str
    order_id: str  # fixed for the order's life
    cl_ord_id: str
    orig_cl_ord_id: str
    exec_id: str  # unique for the day
    exec_type: ExecType
    ord_status: OrdStatus
    symbol: str
    side: Side
    order_qty: int
    cum_qty: int
    leaves_qty: int
    last_qty: int = 0
    last_px: int = 0
    avg_px: int = 0  # AVG_PX_SCALE
    limit_px: int = 0
    text: str = ""
    reject_reason: str = ""  # OrdRejReason, in words


class CancelReject(Message, tag=501, frozen=True):
    """A cancel or replace the OMS cannot carry out (FIX OrderCancelReject, 35=9)."""

    client: str
    order_id: str  # "NONE" when the order is unknown
    cl_ord_id: str
    orig_cl_ord_id: str
    ord_status: OrdStatus
    response_to: Literal["cancel", "replace"]
    reason: str  # CxlRejReason, in words
    text: str = ""


# ---------------------------------------------------------------- venue events (one child each)


class VenueAck(Message, tag=510, frozen=True):
    child_id: str
    venue_order_id: str


class VenueReject(Message, tag=511, frozen=True):
    child_id: str
    reason: str


class VenueFill(Message, tag=512, frozen=True):
    child_id: str
    exec_id: str  # the venue's; a repeated fill (same exec id) is applied once
    qty: int
    px: int
    liquidity: Liquidity = ""
    leaves_qty: int = 0  # as the venue reports it


class VenueCanceled(Message, tag=513, frozen=True):
    """The venue cancelled the child: on our request, or unsolicited (`unsolicited`)."""

    child_id: str
    unsolicited: bool = False
    reason: str = ""


class VenueReplaced(Message, tag=514, frozen=True):
    child_id: str
    qty: int
    limit_px: int


class VenueCancelRejected(Message, tag=515, frozen=True):
    """The venue refused a cancel or replace of the child (too late, locked in an
    auction, ...)."""

    child_id: str
    response_to: Literal["cancel", "replace"]
    reason: str


class VenueRestated(Message, tag=516, frozen=True):
    """The venue changed the child on its own (quantity or price), for a reason."""

    child_id: str
    qty: int
    limit_px: int
    reason: str


# ---------------------------------------------------------------- FIX sessions (gateways)

SessionState = Literal["up", "down"]


class VenueStatus(Message, tag=520, frozen=True):
    """The venue gateway's session to a destination logged on or was lost. Routing
    avoids a destination that is down (and a venue none of whose destinations is up)."""

    destination: str
    venue: str
    status: SessionState
    reason: str = ""


class ClientSessionStatus(Message, tag=521, frozen=True):
    """A client's FIX session at the client gateway logged on or off (for ops and the
    record: the OMS does not cancel on disconnect unless configured to)."""

    client: str
    session: str  # BeginString:SenderCompID->TargetCompID, as QuickFIX names it
    status: SessionState
    reason: str = ""
