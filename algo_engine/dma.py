"""DMA as a strategy: one child on the venue the client names, sized and priced as the
parent, with the parent's own order type and time in force.

The child is for the parent's leaves: all of it at a normal start; what a venue's
bust or correction left of a filled order when the OMS reopens it (its earlier
fills were on the children before).

An amendment is carried to the child with a downstream replace: while the OMS
holds the client's replace (pending), the child takes any reduction, and the new
price as far as the old limit allows, at once, and grows (or moves beyond the old
limit) once the replace is in force. A child in flight (the venue has not taken it
yet, or has not answered a replace) is amended once the venue answers: the
container holds the replace until then.

The order keeps a child working while it has shares left: a new one goes for them
when the child is gone but the order goes on, that is when
- an amendment in force finds the child ended (the OMS cancelled it to carry out
  the client's replace, or a refused replace had it cancelled);
- the OMS refused the child because the client's replace reached it first (the child
  was for the old terms): once, for the order as amended;
- the child filled whole while the order had grown beyond it (the growth could not
  reach a filled order).
A child the venue ends on its own ends the order at the OMS; a client's cancel is
the OMS's to carry out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from algo_engine.orders import REFUSED_BY_OMS, Parent
from algo_engine.strategy import Strategy

if TYPE_CHECKING:
    from algo_engine.context import OrderContext
    from algo_engine.orders import Child


class Dma(Strategy, tag="dma"):
    venue: str = ""
    child_id: str = ""
    #: an amendment reached the order while its child was still on its way (the OMS may
    #: have carried the client's replace out first, and then refuse the child)
    overtaken: bool = False

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
        if not child.live:
            if not p.frozen:
                self._again(c)
            return
        pending = p.frozen == "amend"
        new_qty = p.pend_qty if pending else p.qty
        if child.pending == "cancel" or new_qty <= p.cum_qty:
            return  # going, or amended to done (the OMS ends the order and its child)
        if child.status == "sent":
            self.overtaken = True
        # The child is the order less what earlier children filled (none, unless the
        # order was reopened). While the replace is pending the child may not grow beyond
        # what the venue has (or will have) nor leave the old limit: it takes the
        # reduction and the price as far as both limits allow now, the rest once in force.
        total = new_qty - (p.cum_qty - child.cum_qty)
        qty = min(total, child.committed[0]) if pending else total
        px = p.cap_px() if p.ord_type == "limit" else 0
        to_qty, to_px = child.target
        if qty != to_qty or (px and px != to_px):
            c.replace(self.child_id, qty, px)

    def on_child_done(self, c: OrderContext, child: Child) -> None:
        if child.child_id != self.child_id:
            return
        if (self.overtaken and child.end_reason.startswith(REFUSED_BY_OMS)) or (
                child.cum_qty >= child.qty):
            self._again(c)

    def _again(self, c: OrderContext) -> None:
        """A new child for what the order has left and no child covers (none while the
        order is frozen: an amendment in force or refused comes back here)."""
        p = c.parent
        qty = p.qty - p.cum_qty - c.open_qty()
        if qty > 0 and not p.frozen:
            self.overtaken = False
            self.child_id = c.send(self.venue, "dma", qty, p.limit_px)
