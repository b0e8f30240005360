"""What a strategy is, and what the container gives it.

A strategy is one msgspec struct per parent order: its fields are its state (so
the algo engine's snapshot holds it), its methods the handlers the container
calls, each with the order's `OrderContext`:

- `on_start(c)`: the parent was accepted;
- `on_amend(c)`: the client amended it (`c.parent` has the terms; while
  `c.parent.frozen == "amend"` the new terms wait, `c.parent.pend_qty` and
  `pend_px`, and children may only shrink or move inside both limits);
- `on_canceling(c)`: the OMS is taking the order down (nothing new may be sent);
- `on_timer(c, token)`: a wake-up the strategy set, with its token;
- `on_fill(c, child, qty, px, liquidity)`, `on_child_done(c, child)`: child events;
- `on_market(c, symbol_id, event)`: a subscribed symbol's phase changed
  ("opened", "trading", "closing_auction", "closed", "halted", ...).

Everything with an effect goes through the context: children (`send`,
`replace`, `cancel`), timers, subscriptions, decisions for the record, ref
data. The container checks every child request against its invariants
(`algo_engine.guard`); one that would break them raises `InvariantError` and
alerts ops, and nothing is sent.
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

    def on_market(self, c: OrderContext, symbol_id: int, event: str) -> None:
        """A subscribed symbol's phase changed, or its opening auction printed."""


__all__ = ["InvariantError", "Strategy", "Style"]
