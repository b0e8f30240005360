"""DMA as a strategy: one child on the venue the client names, sized and priced as the
parent, with the parent's own order type and time in force.

The child is for the parent's leaves: all of it at a normal start; what a venue's
bust or correction left of a filled order when the OMS reopens it (its earlier
fills were on the children before).

An amendment is carried to the child with a downstream replace: while the OMS
holds the client's replace (pending), the child takes the new price and any
reduction at once and grows once the replace is in force. A child the venue ends
on its own ends the order at the OMS; a client's cancel is the OMS's to carry out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from algo_engine.orders import Parent
from algo_engine.strategy import Strategy

if TYPE_CHECKING:
    from algo_engine.context import OrderContext


class Dma(Strategy, tag="dma"):
    venue: str = ""
    child_id: str = ""

    @classmethod
    def from_params(cls, p: Parent) -> Dma:
        venue = p.params.get("venue", "")
        if not venue:
            raise ValueError("DMA needs a venue")
        return cls(venue=venue)

    def on_start(self, c: OrderContext) -> None:
        p = c.parent
        self.child_id = c.send(self.venue, "dma", p.leaves, p.limit_px)

    def on_amend(self, c: OrderContext) -> None:
        p = c.parent
        if not self.child_id:
            return
        child = c.child(self.child_id)
        new_qty = p.pend_qty if p.frozen == "amend" else p.qty
        new_px = p.pend_px if p.frozen == "amend" else p.limit_px
        if not child.live or new_qty <= p.cum_qty or child.pending:
            return  # amended to done: the OMS ends the order and cancels the child
        # The child is the order less what earlier children filled (none, unless the
        # order was reopened). While the replace is pending the child may not grow
        # beyond the order's present quantity: it takes the new price and any reduction
        # now, the rest once in force.
        total = new_qty - (p.cum_qty - child.cum_qty)
        qty = min(total, child.qty) if p.frozen == "amend" else total
        px = new_px if p.ord_type == "limit" else 0
        if qty != child.qty or (px and px != child.limit_px):
            c.replace(self.child_id, qty, px)
