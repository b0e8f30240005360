"""What a strategy is, and what the container gives it.

A strategy is one msgspec struct per parent order: its fields are its state (so
the algo engine's snapshot holds it), its methods the handlers the container
calls, each with the order's `OrderContext`:

- `on_start(c)`: the parent was accepted, or reopened (`ParentReopened`: a venue
  broke or corrected a fill of a filled order; `c.parent.cum_qty` and `notional`
  hold what stays filled, and the strategy works `c.parent.leaves`);
- `on_amend(c)`: the client amended it (`c.parent` has the terms; while
  `c.parent.frozen == "amend"` the new terms wait, `c.parent.pend_qty` and
  `pend_px`, and children may only shrink or move inside both limits);
- `on_canceling(c)`: the OMS is taking the order down (nothing new may be sent);
- `on_timer(c, token)`: a wake-up the strategy set, with its token (while the
  order is paused by a halt, held back and delivered, in order, at the resume);
- `on_fill(c, child, qty, px, liquidity)`, `on_child_done(c, child)`: child events;
- `on_trade_amended(c, child, qty_delta, px)`: a venue broke (`qty_delta` the
  fill's quantity, negative; `px` its price) or corrected (`qty_delta` the change,
  `px` the corrected price) one of the child's fills; the child's and the parent's
  `cum_qty` and `notional` already say so, the child's open quantity is unchanged
  (its `qty` moved with its fills) and a child that was done stays done;
- `on_market(c, symbol_id, event)`: a subscribed symbol's phase changed
  ("opened", "trading", "closing_auction", "closed", "halted", ...); and, for the
  order's own symbol, "halted" when the order is paused (its symbol, its client or
  everything halted by ops, or the symbol halted by the market) and "resumed" when
  it goes on.

While an order is paused (`c.paused`) its timers wait, and a child it asks for is
*held*: `send` checks it and returns its id as usual, but nothing is published
until the resume (a child to a venue ops halted is held the same way); `cancel`
ends a held child at once (`on_child_done` follows once the strategy's handler
returns) and `replace` amends it in place. At the resume the held children are
sent in the order asked, each checked again (one that no longer fits ends:
`on_child_done`, with its `end_reason`), then "resumed", then the timers that
waited. Children already at venues stay there through a halt.

Everything with an effect goes through the context: children (`send`,
`replace`, `cancel`), timers, subscriptions, decisions for the record, ref
data. The container checks every child request against its invariants
(`algo_engine.guard`); one that would break them raises `InvariantError` and
alerts ops, and nothing is sent. A `replace` of a child in flight (the venue has
not taken it yet, or not answered a replace before) is no breach: it waits with
the child (`want_qty`, `want_px`; `target` is what the child is to be) and goes
once the venue answers, fitted to the order's terms then. Only a child being
cancelled or done cannot be amended.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from algo_engine.orders import Style

if TYPE_CHECKING:
    from algo_engine.context import OrderContext
    from algo_engine.orders import Child


class InvariantError(Exception):
    """A child request that would break one of the container's invariants."""


class Strategy(msgspec.Struct, tag_field="strategy"):
    """Base of every strategy (subclasses add `tag="name"` and their state)."""

    def on_start(self, c: OrderContext) -> None:
        """The parent was accepted."""

    def on_amend(self, c: OrderContext) -> None:
        """The client amended the parent (pending or in force)."""

    def on_canceling(self, c: OrderContext) -> None:
        """The order is being taken down: no new child will be accepted."""

    def on_timer(self, c: OrderContext, token: str) -> None:
        """A timer set with `c.set_timer(at, token)` is due."""

    def on_fill(self, c: OrderContext, child: Child, qty: int, px: int,
                liquidity: str) -> None:
        """A child filled `qty` at `px` ("added", "removed", "auction" or "")."""

    def on_child_done(self, c: OrderContext, child: Child) -> None:
        """A child ended (filled, cancelled, rejected or refused by the OMS)."""

    def on_trade_amended(self, c: OrderContext, child: Child, qty_delta: int,
                         px: int) -> None:
        """A venue broke (`qty_delta` < 0: the fill's quantity, at its price `px`) or
        corrected (`qty_delta` the change in quantity, `px` the corrected price) one of
        `child`'s fills; the child and the parent already count it."""

    def on_market(self, c: OrderContext, symbol_id: int, event: str) -> None:
        """A subscribed symbol's phase changed, or its opening auction printed; for the
        order's own symbol, "halted" / "resumed" as the order is paused and goes on."""


__all__ = ["InvariantError", "Strategy", "Style"]
