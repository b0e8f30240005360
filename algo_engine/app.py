"""The algo container, as a stub: DMA orders only, one child per parent.

Until the algo engine issue builds the real container (market data, timers,
strategies, invariants), this app gives the platform a routing path: a parent
order accepted with algo `DMA` becomes one child on the venue the client named,
sized and priced as the parent, through the same child-order interface the
container will use (`NewChild`, `ReplaceChild` on the stream; the OMS checks
them and sends `ChildOrderSent`). An amendment of the parent is carried to the
child with a downstream replace (while the OMS holds the client's replace pending, the
child is repriced or reduced at once and grown once the replace is in force). A
child the venue ends on its own ends the DMA order at the OMS; a client's cancel
is the OMS's to carry out. Orders of other algos are left with the OMS
(an Alert says so): the algo engine issue replaces this module.
"""

from __future__ import annotations

from typing import Any

import msgspec

from sequencer.messages.control import Alert, Severity
from sequencer.messages.orders import (
    ChildRequestRejected,
    NewChild,
    ParentAccepted,
    ParentAmended,
    ParentDone,
    ReplaceChild,
)
from sequencer.runtime.app import App, handles

NAME = "algo"


class DmaOrder(msgspec.Struct):
    child_id: str
    venue: str
    qty: int
    limit_px: int


class AlgoState(msgspec.Struct):
    orders: dict[str, DmaOrder] = msgspec.field(default_factory=dict)  # parent id -> its child
    ignored: int = 0  # parents of algos this stub does not run


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(AlgoState)


class AlgoEngine(App):
    name = NAME
    source_id = 50

    def __init__(self) -> None:
        self.s = AlgoState()

    def _alert(self, severity: Severity, code: str, text: str) -> None:
        self.ctx.publish(Alert(severity=severity, source=NAME, text=text, code=code))

    @handles(ParentAccepted)
    def on_parent_accepted(self, m: ParentAccepted) -> None:
        if m.algo != "dma":
            self.s.ignored += 1
            self._alert("warning", "algo_not_running",
                        f"order {m.order_id} ({m.algo.upper()}) waits with the OMS: this "
                        "build runs DMA orders only")
            return
        venue = dict(m.algo_params).get("venue", "")
        child = DmaOrder(f"{m.order_id}.1", venue, m.qty, m.limit_px)
        self.s.orders[m.order_id] = child
        self.ctx.publish(NewChild(m.order_id, child.child_id, venue, m.qty, m.ord_type,
                                  m.limit_px, m.tif))

    @handles(ParentAmended)
    def on_parent_amended(self, m: ParentAmended) -> None:
        o = self.s.orders.get(m.order_id)
        if o is None or m.qty <= m.cum_qty:
            return  # not ours, or amended to done (the OMS ends it and cancels the child)
        # While the OMS holds the client's replace (`pending`), the child may not grow
        # beyond the order's present quantity: it takes the new price and any reduction
        # now, and the new quantity once the replace is in force (a second amendment).
        qty = min(m.qty, o.qty) if m.pending else m.qty
        if qty == o.qty and m.limit_px == o.limit_px:
            return
        o.qty, o.limit_px = qty, m.limit_px
        self.ctx.publish(ReplaceChild(m.order_id, o.child_id, qty, m.limit_px))

    @handles(ChildRequestRejected)
    def on_child_rejected(self, m: ChildRequestRejected) -> None:
        if m.parent_id in self.s.orders:
            self._alert("warning", "dma_child_refused",
                        f"the OMS refused the {m.request} of DMA child {m.child_id}: {m.reason}")

    @handles(ParentDone)
    def on_parent_done(self, m: ParentDone) -> None:
        self.s.orders.pop(m.order_id, None)

    def snapshot(self) -> bytes:
        return _encoder.encode(self.s)

    def restore(self, data: bytes) -> None:
        self.s = _decoder.decode(data)

    def describe(self) -> dict[str, Any]:
        return {"dma_orders": len(self.s.orders), "ignored": self.s.ignored}
