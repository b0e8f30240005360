"""`OrderContext`: the one door through which a strategy acts, for one parent order.

It is the container seen from a strategy: the order's terms and children, the
market books, stream time, timers, the day's seed, ref data, subscriptions,
and the requests for children, each checked against the container's
invariants before anything is published.

It reaches the container through two small interfaces and nothing else: the
runtime's `AppContext` (time, timers, ref data, the seed, publishing) and
`Container` (books, children, routing and the child requests), which the algo
engine implements. So this module imports nothing of `algo_engine.app`.
"""

from __future__ import annotations

from typing import Any, Protocol

from algo_engine.market import Book
from algo_engine.orders import Child, Parent, Style
from sequencer.messages.control import Severity
from sequencer.messages.orders import AlgoDecision
from sequencer.runtime.context import AppContext


class Container(Protocol):
    """What an order's context needs of the algo container."""

    def session_date(self) -> str: ...

    def book(self, symbol_id: int) -> Book: ...

    def child(self, child_id: str) -> Child | None: ...

    def subscribe(self, symbol: str, order_id: str) -> Book: ...

    def venue_up(self, venue: str) -> bool: ...

    def paused(self, p: Parent) -> bool: ...

    def new_child(self, p: Parent, venue: str, style: Style, qty: int, px: int) -> str: ...

    def replace_child(self, p: Parent, child_id: str, qty: int, px: int) -> None: ...

    def cancel_child(self, p: Parent, child_id: str, reason: str) -> None: ...

    def alert(self, severity: Severity, code: str, text: str) -> None: ...


class OrderContext:
    def __init__(self, container: Container, runtime: AppContext, parent: Parent) -> None:
        self._c = container
        self._rt = runtime
        self.parent = parent

    # ---- time, ref data, randomness

    @property
    def now(self) -> int:
        """Stream time (ns) of the frame or timer being handled."""
        return self._rt.now

    @property
    def refdata(self) -> Any:
        """The day's ref data (`refdata.model.RefData`): security master, statistics,
        volume curves, declared tables."""
        return self._rt.refdata

    @property
    def day_seed(self) -> int:
        """The day's seed (`SystemStart`): mix it with a key of the strategy's own, as
        `algo_engine.vwap.schedule.order_rng` does (a generator made from the seed and a
        key when needed, not kept, so a restored order draws the same)."""
        return self._rt.day_seed

    @property
    def session_date(self) -> str:
        return self._c.session_date()

    # ---- market data

    def subscribe(self, symbol: str) -> Book:
        """The book of `symbol` (any symbol of the security master), subscribing to it
        if nobody has; a new subscription starts from the ticker plant's snapshot."""
        return self._c.subscribe(symbol, self.parent.order_id)

    def book(self, symbol_id: int | None = None) -> Book:
        """A subscribed symbol's book (the order's own symbol by default)."""
        return self._c.book(self.parent.symbol_id if symbol_id is None else symbol_id)

    # ---- timers

    def set_timer(self, at_ns: int, token: str) -> int:
        """Wake `on_timer(c, token)` once stream time reaches `at_ns`."""
        return self._rt.set_timer(at_ns, f"{self.parent.order_id}|{token}")

    def cancel_timer(self, timer_id: int) -> bool:
        return self._rt.cancel_timer(timer_id)

    # ---- children

    def children(self, live_only: bool = True) -> list[Child]:
        out = [c for i in self.parent.children if (c := self._c.child(i)) is not None]
        return [c for c in out if c.live] if live_only else out

    def child(self, child_id: str) -> Child:
        c = self._c.child(child_id)
        if c is None:
            raise KeyError(child_id)
        return c

    def open_qty(self) -> int:
        """The most the live children can still fill (replaces in flight or waiting
        counted)."""
        return sum(c.exposure for c in self.children())

    def venue_up(self, venue: str) -> bool:
        return self._c.venue_up(venue)

    @property
    def paused(self) -> bool:
        """The order is paused by a halt (its symbol, its client or everything, by ops or
        by the market): its timers wait and the children it asks for are held."""
        return self._c.paused(self.parent)

    def send(self, venue: str, style: Style, qty: int, px: int = 0) -> str:
        """Ask for a new child; returns its id. Raises `InvariantError` (and alerts)
        for a request that breaks an invariant; nothing is sent then. While the order is
        paused, or the venue halted by ops, the child is held (status "held") and sent
        at the resume."""
        return self._c.new_child(self.parent, venue, style, qty, px)

    def replace(self, child_id: str, qty: int = 0, px: int = 0) -> None:
        """Amend a child in place: `qty` its new total (filled included), `px` its new
        limit (0 leaves either as the child is to be: `Child.target`). A held child is
        amended in the container; one in flight (not yet taken by the venue, or a
        replace unanswered) once the venue answers (`orders.AMEND`). Raises
        `InvariantError` for a child being cancelled or done."""
        self._c.replace_child(self.parent, child_id, qty, px)

    def cancel(self, child_id: str, reason: str = "") -> None:
        """Cancel a live child (a held one ends at once: `on_child_done` follows once the
        handler that cancelled it returns)."""
        self._c.cancel_child(self.parent, child_id, reason)

    # ---- the record

    def decide(self, kind: str, *, start_ns: int = 0, end_ns: int = 0, target_qty: int = 0,
               scheduled_qty: int = 0, expected_volume: int = 0, px: int = 0,
               text: str = "") -> None:
        """Put a decision on the stream (`AlgoDecision`) for the debugger and reports."""
        self._rt.publish(AlgoDecision(
            self.parent.order_id, kind, start_ns, end_ns, target_qty, self.parent.cum_qty,
            scheduled_qty, expected_volume, px, text))

    def alert(self, severity: Severity, code: str, text: str) -> None:
        self._c.alert(severity, code, f"{self.parent.order_id}: {text}")
