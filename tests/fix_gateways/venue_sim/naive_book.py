"""A deliberately naive order book: the reference the fast book is checked against.

Why it exists: `fix_gateways.venue_sim.book.Book` keeps sorted price levels and
per-level dicts for speed; this one keeps one plain list of live orders and sorts
the other side from scratch on every step, so its price-time priority is obvious
by reading. It implements the same continuous-trading rules (see the book's
module docstring) and emits the same event types, so the property tests can
compare the two event by event. Auctions are not modelled here.
"""

from __future__ import annotations

from dataclasses import dataclass

from fix_gateways.venue_sim.book import (
    Accepted,
    Cancelled,
    CancelRejected,
    Event,
    Fill,
    OrdType,
    Rejected,
    Replaced,
    Side,
    Tif,
)


@dataclass
class NaiveOrder:
    order_id: str
    side: Side
    qty: int
    px: int
    ord_type: OrdType
    tif: Tif
    post_only: bool
    cum_qty: int
    seq: int


def _priority(o: NaiveOrder) -> tuple[int, int]:
    return (-o.px if o.side == "buy" else o.px, o.seq)


def _reaches(side: Side, limit: int, other_px: int) -> bool:
    if side == "buy":
        return limit >= other_px
    return limit <= other_px


class NaiveBook:
    def __init__(self) -> None:
        self.live: list[NaiveOrder] = []
        self.ids_used: list[str] = []
        self.seq = 0
        self.matches = 0

    def _side(self, side: Side) -> list[NaiveOrder]:
        return sorted((o for o in self.live if o.side == side), key=_priority)

    def _find(self, order_id: str) -> NaiveOrder | None:
        for o in self.live:
            if o.order_id == order_id:
                return o
        return None

    def _would_take(self, side: Side, px: int) -> bool:
        other = self._side("sell" if side == "buy" else "buy")
        return bool(other) and _reaches(side, px, other[0].px)

    def resting(self) -> list[tuple[Side, int, str, int]]:
        return [(o.side, o.px, o.order_id, o.qty - o.cum_qty)
                for o in self._side("buy") + self._side("sell")]

    def add(self, order_id: str, side: Side, qty: int, px: int = 0,
            ord_type: OrdType = "limit", tif: Tif = "day",
            post_only: bool = False) -> list[Event]:
        if order_id in self.ids_used:
            return [Rejected(order_id, "duplicate order id")]
        if qty <= 0:
            return [Rejected(order_id, "quantity must be positive")]
        if ord_type == "limit" and px <= 0:
            return [Rejected(order_id, "limit price must be positive")]
        if ord_type == "market" and post_only:
            return [Rejected(order_id, "a market order cannot be post-only")]
        if post_only and self._would_take(side, px):
            return [Rejected(order_id, "post-only order would take liquidity")]
        self.ids_used.append(order_id)
        self.seq += 1
        o = NaiveOrder(order_id, side, qty, px if ord_type == "limit" else 0, ord_type, tif,
                       post_only, 0, self.seq)
        events: list[Event] = [Accepted(order_id)]
        self._match(o, events)
        left = o.qty - o.cum_qty
        if left > 0:
            if ord_type == "market":
                events.append(Cancelled(order_id, left, "no liquidity"))
            elif tif == "ioc":
                events.append(Cancelled(order_id, left, "ioc"))
            else:
                self.live.append(o)
        return events

    def _match(self, o: NaiveOrder, events: list[Event]) -> None:
        while o.qty > o.cum_qty:
            other = self._side("sell" if o.side == "buy" else "buy")
            if not other:
                return
            m = other[0]
            if o.ord_type == "limit" and not _reaches(o.side, o.px, m.px):
                return
            qty = min(o.qty - o.cum_qty, m.qty - m.cum_qty)
            o.cum_qty += qty
            m.cum_qty += qty
            self.matches += 1
            events.append(Fill(self.matches, m.order_id, o.order_id, qty, m.px, "added",
                               "removed", m.qty - m.cum_qty, o.qty - o.cum_qty))
            if m.cum_qty == m.qty:
                self.live.remove(m)

    def cancel(self, order_id: str) -> list[Event]:
        o = self._find(order_id)
        if o is None:
            return [CancelRejected(order_id, "cancel", "unknown order")]
        self.live.remove(o)
        return [Cancelled(order_id, o.qty - o.cum_qty, "requested")]

    def replace(self, order_id: str, new_qty: int, new_px: int) -> list[Event]:
        o = self._find(order_id)
        if o is None:
            return [CancelRejected(order_id, "replace", "unknown order")]
        if new_qty <= 0:
            return [CancelRejected(order_id, "replace", "quantity must be positive")]
        if new_px <= 0:
            return [CancelRejected(order_id, "replace", "limit price must be positive")]
        if o.post_only and new_px != o.px and self._would_take(o.side, new_px):
            return [CancelRejected(order_id, "replace", "post-only order would take liquidity")]
        if new_qty <= o.cum_qty:
            self.live.remove(o)
            return [Replaced(order_id, new_qty, new_px, 0, False)]
        if new_px == o.px and new_qty <= o.qty:
            o.qty = new_qty
            return [Replaced(order_id, new_qty, new_px, new_qty - o.cum_qty, True)]
        self.live.remove(o)
        self.seq += 1
        o.qty, o.px, o.seq = new_qty, new_px, self.seq
        events: list[Event] = [Replaced(order_id, new_qty, new_px, new_qty - o.cum_qty, False)]
        self._match(o, events)
        if o.qty > o.cum_qty:
            self.live.append(o)
        return events
