"""Orders family (type ids 400-499): client requests and child order requests.

Client requests are what the client gateway puts on the stream from FIX
(NewOrderSingle, OrderCancelRequest, OrderCancelReplaceRequest,
OrderStatusRequest), by client and ClOrdID. Child requests are the algo
engine's asks of the OMS for one parent order at one venue; the OMS checks
them against the parent and answers with `ChildOrderSent` (what the venue
gateway acts on) or `ChildRequestRejected`.

Prices are fixed point (1/10,000, `PRICE_SCALE`), quantities shares. Algo
parameters are (name, value) text pairs in the order the client sent them,
so the encoding is a pure function of the request.
"""

from __future__ import annotations

from typing import Literal

from sequencer.messages.base import Message

Side = Literal["buy", "sell", "sell_short", "sell_short_exempt"]
OrdType = Literal["market", "limit"]
TimeInForce = Literal["day", "ioc", "fok", "gtc", "opg", "cls"]
Params = tuple[tuple[str, str], ...]
# ExecInst (18) values we carry, in words: post only (6, participate don't initiate),
# pegged to the midpoint (M) or to the same side's touch (R, primary peg).
ExecInst = Literal["participate_dont_initiate", "mid_peg", "primary_peg"]


# ---------------------------------------------------------------- client requests


class NewOrder(Message, tag=400, frozen=True):
    """A client's new parent order (FIX NewOrderSingle)."""

    client: str
    cl_ord_id: str
    symbol: str
    side: Side
    qty: int
    ord_type: OrdType
    limit_px: int = 0  # fixed point; 0 for a market order
    tif: TimeInForce = "day"
    algo: str = ""  # "" for a care order the OMS holds; "vwap", ...
    algo_params: Params = ()
    locate_broker: str = ""  # who located the shares of a short sale
    transact_ns: int = 0  # the client's TransactTime
    # Resent by the client with PossResend (97=Y): if the ClOrdID is known, the order's
    # status is the answer, not a duplicate reject.
    poss_resend: bool = False
    # An order for an amount of money (CashOrderQty 152, fixed point) instead of shares:
    # `qty` is 0 and the OMS converts (at the limit, or a reference price for a market
    # order).
    cash_qty: int = 0
    exec_inst: tuple[ExecInst, ...] = ()


class CancelOrder(Message, tag=401, frozen=True):
    """Cancel a live order (FIX OrderCancelRequest)."""

    client: str
    cl_ord_id: str  # this request's id
    orig_cl_ord_id: str  # the order's current ClOrdID
    symbol: str
    side: Side
    transact_ns: int = 0
    poss_resend: bool = False  # PossResend (97=Y): see `NewOrder`


class ReplaceOrder(Message, tag=402, frozen=True):
    """Amend a live order in place (FIX OrderCancelReplaceRequest): quantity, limit
    price and/or algo parameters. Fields left at their defaults keep their value."""

    client: str
    cl_ord_id: str
    orig_cl_ord_id: str
    symbol: str
    side: Side
    qty: int = 0  # 0: unchanged
    limit_px: int = 0  # 0: unchanged
    algo_params: Params = ()  # empty: unchanged
    transact_ns: int = 0
    poss_resend: bool = False  # PossResend (97=Y): see `NewOrder`
    # ExecInst (18) as the replace declares it (FIX: not carried forward unless
    # re-declared); an order's ExecInst cannot be changed, so it must match.
    exec_inst: tuple[ExecInst, ...] = ()


class OrderStatusRequest(Message, tag=403, frozen=True):
    """Ask for an order's current state (answered with an ExecutionReport, ExecType I)."""

    client: str
    cl_ord_id: str
    symbol: str = ""
    side: Side = "buy"


# ---------------------------------------------------------------- child order requests


class NewChild(Message, tag=410, frozen=True):
    """The algo engine asks for a child order of a parent at a venue."""

    parent_id: str  # the parent's OrderID
    child_id: str  # unique for the day, chosen by the algo engine
    venue: str  # a venue code; the OMS picks the destination that reaches it
    qty: int
    ord_type: OrdType
    limit_px: int = 0
    tif: TimeInForce = "day"
    destination: str = ""  # "" lets the OMS pick the venue's first destination


class CancelChild(Message, tag=411, frozen=True):
    parent_id: str
    child_id: str
    reason: str = ""


class ReplaceChild(Message, tag=412, frozen=True):
    """Amend a live child in place (keeps queue priority where the venue allows)."""

    parent_id: str
    child_id: str
    qty: int = 0  # 0: unchanged
    limit_px: int = 0  # 0: unchanged


class ChildOrderSent(Message, tag=420, frozen=True):
    """The OMS's validated instruction to the venue gateway: new, cancel or replace."""

    action: Literal["new", "cancel", "replace"]
    parent_id: str
    child_id: str
    venue: str
    destination: str
    symbol: str
    side: Side
    qty: int
    ord_type: OrdType
    limit_px: int = 0
    tif: TimeInForce = "day"
    exec_inst: tuple[ExecInst, ...] = ()  # a DMA order's own ExecInst, for the venue


class ChildRequestRejected(Message, tag=421, frozen=True):
    """A child request the OMS refused (it would break an invariant, or the parent
    is not live); the algo engine reads the reason."""

    parent_id: str
    child_id: str
    request: Literal["new", "cancel", "replace"]
    reason: str


# ---------------------------------------------------------------- the OMS to the algo engine


class ParentAccepted(Message, tag=430, frozen=True):
    """A client's order the OMS accepted: the terms the algo engine works it to."""

    order_id: str
    client: str
    cl_ord_id: str
    symbol: str
    side: Side
    qty: int
    ord_type: OrdType
    limit_px: int
    tif: TimeInForce
    algo: str
    algo_params: Params


class ParentAmended(Message, tag=431, frozen=True):
    """The client amended the order. With `pending` False the new terms are in force.
    With `pending` True the OMS holds the client's replace until the open children
    fit the new terms (quantity, limit): the algo engine reduces or re-prices
    them, by downstream replace where it can; the OMS cancels what still does
    not fit after its replace timeout."""

    order_id: str
    qty: int
    limit_px: int
    algo_params: Params
    cum_qty: int
    pending: bool = False


class ParentCanceling(Message, tag=432, frozen=True):
    """The OMS is cancelling the order's open children (client cancel, kill switch,
    end of day, replace below the filled quantity): send no new children."""

    order_id: str
    reason: str


class ParentReopened(Message, tag=434, frozen=True):
    """A filled order is live again: a venue broke or corrected a fill, and the order
    has shares left (`qty` - `cum_qty`). The algo engine works the rest as it would a
    new order (its terms are here in full: it forgot the order at `ParentDone`)."""

    order_id: str
    client: str
    cl_ord_id: str
    symbol: str
    side: Side
    qty: int
    ord_type: OrdType
    limit_px: int
    tif: TimeInForce
    algo: str
    algo_params: Params
    cum_qty: int
    notional: int  # sum of fill qty * px of what stays filled (1/10,000)


class ParentDone(Message, tag=433, frozen=True):
    """The order reached a final state; no child of it may trade any more."""

    order_id: str
    ord_status: str
    cum_qty: int


# ---------------------------------------------------------------- the algo engine's record


class AlgoDecision(Message, tag=440, frozen=True):
    """A strategy's decision about a parent, put on the stream so that the replay
    debugger, `tape journal cat` and the reports show why the order traded as it did.

    `kind` says which decision: "schedule" (the plan: window, scheduled shares),
    "interval" (an interval's target: the shares the order should have done by
    `end_ns` by the latest volume prediction), "auction" (an auction child),
    "finish" (crossing the spread for what the interval still lacks), "reprice",
    "limit_out" (an interval the market spends beyond the limit, removed),
    "cap" (the need-not-complete or participation cap), "complete"."""

    order_id: str
    kind: str
    start_ns: int = 0
    end_ns: int = 0
    target_qty: int = 0  # shares the order should have done by end_ns
    done_qty: int = 0  # shares done when deciding
    scheduled_qty: int = 0  # the shares the order means to do in its whole window
    expected_volume: int = 0  # the market's predicted volume over [start_ns, end_ns)
    px: int = 0  # a price decided on (a child's limit), 0 if none
    text: str = ""
