"""What the container keeps of each parent order and its children.

Plain structs (part of the algo engine's snapshot). A child's quantity is its
total, filled included, as venues count it; `open_qty` is what can still trade
and `exposure` the most it could trade while a replace is in flight.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from sequencer.messages.orders import OrdType, Side, TimeInForce

ChildStatus = Literal["sent", "live", "done"]  # sent: asked of the OMS, not yet sent on
Pending = Literal["", "cancel", "replace"]
Frozen = Literal["", "amend", "cancel"]


class Child(msgspec.Struct):
    child_id: str
    parent_id: str
    venue: str
    destination: str
    style: str
    ord_type: OrdType
    tif: TimeInForce
    qty: int
    limit_px: int
    sent_ns: int
    cum_qty: int = 0
    notional: int = 0  # sum of fill qty * px
    status: ChildStatus = "sent"
    pending: Pending = ""
    pend_qty: int = 0
    pend_px: int = 0
    end_reason: str = ""

    @property
    def live(self) -> bool:
        return self.status != "done"

    @property
    def open_qty(self) -> int:
        return max(0, self.qty - self.cum_qty) if self.status != "done" else 0

    @property
    def exposure(self) -> int:
        if self.status == "done":
            return 0
        q = max(self.qty, self.pend_qty) if self.pending == "replace" else self.qty
        return max(0, q - self.cum_qty)


class Parent(msgspec.Struct):
    order_id: str
    client: str
    symbol: str
    symbol_id: int
    side: Side
    qty: int
    ord_type: OrdType
    limit_px: int
    tif: TimeInForce
    algo: str
    params: dict[str, str]
    accepted_ns: int
    cum_qty: int = 0
    notional: int = 0
    frozen: Frozen = ""
    pend_qty: int = 0  # an amendment's terms while it is pending
    pend_px: int = 0
    children: list[str] = msgspec.field(default_factory=list)
    next_child: int = 1
    failed: str = ""  # why the strategy was stopped ("" while it runs)

    @property
    def buy(self) -> bool:
        return self.side == "buy"

    @property
    def leaves(self) -> int:
        return max(0, self.qty - self.cum_qty)

    def cap_qty(self) -> int:
        """The quantity children may fill up to now: while an amendment is pending,
        the smaller of the old and the new."""
        return min(self.qty, self.pend_qty) if self.frozen == "amend" and self.pend_qty else (
            self.qty)

    def cap_px(self) -> int:
        """The limit children must respect now: while an amendment is pending, the
        tighter of the old and the new."""
        if self.frozen == "amend" and self.pend_px and self.ord_type == "limit":
            return min(self.limit_px, self.pend_px) if self.buy else max(self.limit_px,
                                                                         self.pend_px)
        return self.limit_px

    @property
    def avg_px(self) -> float:
        return self.notional / self.cum_qty if self.cum_qty else 0.0
