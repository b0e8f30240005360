"""The container's invariants, checked before any child request of a strategy
leaves the algo engine: whatever the strategy asks, the order stays safe.

- the open quantity of the parent's children never exceeds what the parent has
  left (its quantity less what is filled);
- no child is priced outside the parent's limit (a buy child at most the limit,
  a sell child at least; a market child only for a market parent);
- no child goes to a venue that is down;
- nothing new for a parent whose cancel or amendment is being carried out
  (`frozen`), beyond reducing or cancelling.

`check_new` and `check_replace` return the reason a request breaks one, or ""
when it is fine: the container turns a reason into an error for the strategy
and an Alert, and sends nothing. Pure functions of the state they are given.
"""

from __future__ import annotations

from dataclasses import dataclass

from sequencer.messages.orders import OrdType, Side


@dataclass(frozen=True)
class ParentTerms:
    """What the container knows of a parent when a strategy asks for a child."""

    side: Side
    qty: int
    cum_qty: int
    ord_type: OrdType
    limit_px: int  # 0 for a market parent
    open_child_qty: int  # the leaves of its live children, in flight included
    frozen: bool = False  # a cancel or an amendment is being carried out


def _buys(side: Side) -> bool:
    return side == "buy"


def price_outside(p: ParentTerms, ord_type: OrdType, limit_px: int) -> str:
    """Why a child's price is outside the parent's limit ("" if it is inside)."""
    if p.ord_type == "market":
        return "" if ord_type == "market" or limit_px > 0 else "a limit child needs a price"
    if ord_type == "market":
        return "a market child of a limit parent could trade through its limit"
    if limit_px <= 0:
        return "a limit child needs a price"
    if _buys(p.side) and limit_px > p.limit_px:
        return f"a buy child at {limit_px} is above the parent's limit {p.limit_px}"
    if not _buys(p.side) and limit_px < p.limit_px:
        return f"a sell child at {limit_px} is below the parent's limit {p.limit_px}"
    return ""


def check_new(p: ParentTerms, qty: int, ord_type: OrdType, limit_px: int, venue: str,
              venues_down: frozenset[str]) -> str:
    """Why a new child of `qty` may not be sent ("" if it may)."""
    if qty <= 0:
        return f"a child needs a quantity above 0, not {qty}"
    if p.frozen:
        return "the parent's cancel or amendment is being carried out: no new child"
    left = p.qty - p.cum_qty - p.open_child_qty
    if qty > left:
        return (f"a child of {qty:,} would put the open quantity above what the parent has "
                f"left ({max(left, 0):,} not yet placed)")
    if venue in venues_down:
        return f"venue {venue} is down"
    return price_outside(p, ord_type, limit_px)


def check_replace(p: ParentTerms, child_open_qty: int, new_open_qty: int, ord_type: OrdType,
                  new_limit_px: int) -> str:
    """Why a child whose open quantity is `child_open_qty` may not be amended to
    `new_open_qty` at `new_limit_px` ("" if it may). Reductions are always allowed
    while the parent is frozen; growth is checked against what the parent has left."""
    if new_open_qty < 0:
        return f"a child's quantity cannot go below what it has filled ({new_open_qty})"
    if new_open_qty > child_open_qty:
        if p.frozen:
            return "the parent's cancel or amendment is being carried out: no child grows"
        left = p.qty - p.cum_qty - p.open_child_qty
        if new_open_qty - child_open_qty > left:
            return (f"growing the child by {new_open_qty - child_open_qty:,} would put the "
                    f"open quantity above what the parent has left ({max(left, 0):,})")
    return price_outside(p, ord_type, new_limit_px)
