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
from sequencer.messages.orders import ExecInst, Side

AVG_PX_SCALE = 100_000_000

# FIX 4.4 values (150=F "trade" reports a fill; 4.4 retired the partial fill and fill
# exec types, and OrdStatus "replaced": a replaced order shows its live status).
ExecType = Literal[
    "new", "done_for_day", "canceled", "replaced", "pending_cancel", "stopped", "rejected",
    "suspended", "pending_new", "calculated", "expired", "restated", "pending_replace",
    "trade", "order_status", "trade_cancel", "trade_correct",
]
OrdStatus = Literal[
    "new", "partially_filled", "filled", "done_for_day", "canceled", "pending_cancel",
    "stopped", "rejected", "suspended", "pending_new", "calculated", "expired",
    "pending_replace",
]
Liquidity = Literal["added", "removed", "auction", ""]
# ExecRestatementReason (378) in words: why a venue or the broker restated an order or
# cancelled it unsolicited ("" for none). The FIX codes are the gateways' (4.2 knows
# the first six only).
RestatementReason = Literal[
    "", "gt_corporate_action", "gt_renewal", "verbal_change", "repricing", "broker_option",
    "partial_decline", "trading_halt", "system_failure", "market_option",
    "canceled_not_best", "warehouse_recap", "other",
]


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
    last_liquidity: Liquidity = ""  # a fill's LastLiquidityInd (851), from the venue
    exec_ref_id: str = ""  # a trade cancel or correct: the ExecID of the report it amends
    restatement_reason: RestatementReason = ""  # ExecRestatementReason (378)
    cash_qty: int = 0  # CashOrderQty (152), fixed point, of an order sent as an amount
    exec_inst: tuple[ExecInst, ...] = ()  # ExecInst (18) the order carries


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
    restatement_reason: RestatementReason = ""  # the venue's 378 on an unsolicited cancel


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
    restatement_reason: RestatementReason = ""  # the venue's 378


class VenueTradeCanceled(Message, tag=517, frozen=True):
    """The venue broke (cancelled) one of the child's fills: the trade never happened
    (FIX ExecType Trade Cancel, or 4.2's ExecTransType Cancel). `ref_exec_id` is the
    venue's ExecID of the fill (or of its last correction)."""

    child_id: str
    exec_id: str  # the venue's, of this cancel (a repeat is applied once)
    ref_exec_id: str


class VenueTradeCorrected(Message, tag=518, frozen=True):
    """The venue corrected one of the child's fills to `qty` at `px` (FIX ExecType Trade
    Correct, or 4.2's ExecTransType Correct)."""

    child_id: str
    exec_id: str  # the venue's, of this correction; a later one refers to it
    ref_exec_id: str
    qty: int
    px: int


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
