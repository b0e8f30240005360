"""Scripted mode: a venue whose answers a test holds back and lets go on command.

Why it exists: the nastiest cases for the OMS and the gateways are crossings (a
fill arriving while a replace is pending, a cancel answered after the order
filled, an unsolicited cancel during a replace). A real venue produces them
only by chance; this wrapper over `market.Venue` produces them on demand.

Two ways to hold, combinable, each globally or for one order id:

- `hold("acks")`, `hold("fills")`, `hold("unsolicited")`, `hold("all")` hold
  the venue's EVENTS after the venue has acted: its state already includes them,
  only their delivery waits (so a replace applied by the venue and a fill after it
  can be delivered fill first). "acks" are the answers to our requests (Ack,
  Reject, Replaced, CancelRejected and requested Cancelled); "fills" are fills
  and the venue's trade cancels and corrects; "unsolicited" are the venue's own
  cancels (IOC remainders, auction ends, `unsolicited_cancel`) and restatements.
- `hold("requests")` holds our REQUESTS (new, cancel, replace) before the venue
  sees them, so a fill can still hit the order's old terms.

`release(kind=None, order_id=None)` lifts the matching holds and delivers what
they held, in the order it was held; held requests are carried out then, and what
they cause goes through the holds still in place. `fill`, `unsolicited_cancel`,
`restate` (the last two with an optional ExecRestatementReason in words), `bust`
and `correct` (a trade cancel or correct of a fill, named by its exec id) make
the venue act on its own; `refuse_cancels(order_id)` makes it refuse every
cancel and replace of that order. Every method returns the events delivered
now, in order; `acted` holds the venue's events of its last action, held or
not (so a test learns the exec id of a fill it made while fills are held).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import msgspec

from fix_gateways.venue_sim.market import (
    AuctionKind,
    Cancelled,
    CancelRejected,
    Fill,
    Liquidity,
    Peg,
    Restated,
    TradeCanceled,
    TradeCorrected,
    Venue,
    VenueEvent,
)
from sequencer.messages.executions import RestatementReason
from sequencer.messages.orders import OrdType, Side, TimeInForce

HoldKind = Literal["acks", "fills", "unsolicited", "requests", "all"]
REFUSED = "refused by the venue (scripted)"


def event_kind(e: VenueEvent) -> HoldKind:
    """Which hold holds an event: "fills", "unsolicited" or "acks"."""
    if isinstance(e, Fill | TradeCanceled | TradeCorrected):
        return "fills"
    if isinstance(e, Restated) or (isinstance(e, Cancelled) and e.unsolicited):
        return "unsolicited"
    return "acks"


class _Held(msgspec.Struct):
    kind: HoldKind
    order_id: str
    event: VenueEvent | None = None  # a held event, or
    request: Callable[[], list[VenueEvent]] | None = None  # a held request


class ScriptedVenue:
    """A `Venue` (default: a fresh one named `code`) whose answers can be held."""

    def __init__(self, venue: Venue | str = "SIM") -> None:
        self.venue = venue if isinstance(venue, Venue) else Venue(venue)
        self._holds: list[tuple[HoldKind, str | None]] = []
        self._queue: list[_Held] = []
        self._refusing: dict[str, str] = {}
        self.acted: list[VenueEvent] = []  # the venue's events of its last action

    # ------------------------------------------------------------ holding

    def hold(self, kind: HoldKind, order_id: str | None = None) -> None:
        """Hold `kind` (for one order, or for all) until released."""
        if (kind, order_id) not in self._holds:
            self._holds.append((kind, order_id))

    def held(self) -> list[VenueEvent]:
        """The events held now, in order (held requests are not events yet)."""
        return [h.event for h in self._queue if h.event is not None]

    def pending_requests(self) -> int:
        return sum(1 for h in self._queue if h.request is not None)

    def release(self, kind: HoldKind | None = None,
                order_id: str | None = None) -> list[VenueEvent]:
        """Lift the holds within the filter (`kind` None: every kind; `order_id` None:
        every order) and deliver what is held within it, in order."""

        def within(k: HoldKind, oid: str | None) -> bool:
            return (kind in (None, "all") or k == kind) and (order_id is None or oid == order_id)

        self._holds = [(k, oid) for k, oid in self._holds if not within(k, oid)]
        out: list[VenueEvent] = []
        queue, self._queue = self._queue, []
        for h in queue:
            if not within(h.kind, h.order_id):
                self._queue.append(h)
            elif h.event is not None:
                out.append(h.event)
            elif h.request is not None:
                out += self._pass(h.request())
        return out

    def _held_by(self, kind: HoldKind, order_id: str) -> bool:
        return any((k in ("all", kind)) and oid in (None, order_id)
                   for k, oid in self._holds)

    def _pass(self, events: list[VenueEvent]) -> list[VenueEvent]:
        self.acted = events
        out: list[VenueEvent] = []
        for e in events:
            kind = event_kind(e)
            if self._held_by(kind, e.order_id):
                self._queue.append(_Held(kind, e.order_id, event=e))
            else:
                out.append(e)
        return out

    def _request(self, order_id: str,
                 request: Callable[[], list[VenueEvent]]) -> list[VenueEvent]:
        if any(k == "requests" and oid in (None, order_id) for k, oid in self._holds):
            self._queue.append(_Held("requests", order_id, request=request))
            return []
        return self._pass(request())

    # ------------------------------------------------------------ our requests

    def new_order(self, order_id: str, symbol: str, side: Side, qty: int,
                  ord_type: OrdType = "limit", px: int = 0, tif: TimeInForce = "day",
                  post_only: bool = False, ts_ns: int = 0,
                  peg: Peg = "") -> list[VenueEvent]:
        return self._request(order_id, lambda: self.venue.new_order(
            order_id, symbol, side, qty, ord_type, px, tif, post_only, ts_ns, peg))

    def cancel(self, order_id: str, ts_ns: int = 0) -> list[VenueEvent]:
        def run() -> list[VenueEvent]:
            if order_id in self._refusing:
                return [CancelRejected(self.venue.code, order_id, "cancel",
                                       self._refusing[order_id], ts_ns)]
            return self.venue.cancel(order_id, ts_ns)
        return self._request(order_id, run)

    def replace(self, order_id: str, qty: int, px: int, ts_ns: int = 0) -> list[VenueEvent]:
        def run() -> list[VenueEvent]:
            if order_id in self._refusing:
                return [CancelRejected(self.venue.code, order_id, "replace",
                                       self._refusing[order_id], ts_ns)]
            return self.venue.replace(order_id, qty, px, ts_ns)
        return self._request(order_id, run)

    # ------------------------------------------------------------ the market

    def on_quote(self, symbol: str, bid_px: int, bid_size: int, ask_px: int, ask_size: int,
                 ts_ns: int) -> list[VenueEvent]:
        return self._pass(self.venue.on_quote(symbol, bid_px, bid_size, ask_px, ask_size,
                                              ts_ns))

    def on_trade(self, symbol: str, px: int, size: int, ts_ns: int) -> list[VenueEvent]:
        return self._pass(self.venue.on_trade(symbol, px, size, ts_ns))

    def run_auction(self, symbol: str, kind: AuctionKind, px: int, volume: int,
                    ts_ns: int) -> list[VenueEvent]:
        return self._pass(self.venue.run_auction(symbol, kind, px, volume, ts_ns))

    # ------------------------------------------------------------ the venue on its own

    def fill(self, order_id: str, qty: int, px: int, liquidity: Liquidity = "added",
             ts_ns: int = 0, exec_id: str = "") -> list[VenueEvent]:
        """Fill a live order now (beyond its leaves: an overfill; `exec_id`: reuse one)."""
        return self._pass(self.venue.force_fill(order_id, qty, px, liquidity, ts_ns, exec_id))

    def unsolicited_cancel(self, order_id: str, reason: str = "cancelled by the venue",
                           ts_ns: int = 0,
                           restatement_reason: RestatementReason = "") -> list[VenueEvent]:
        return self._pass(self.venue.unsolicited_cancel(order_id, reason, ts_ns,
                                                        restatement_reason))

    def restate(self, order_id: str, qty: int, px: int, reason: str = "restated by the venue",
                ts_ns: int = 0,
                restatement_reason: RestatementReason = "") -> list[VenueEvent]:
        return self._pass(self.venue.restate(order_id, qty, px, reason, ts_ns,
                                             restatement_reason))

    def bust(self, order_id: str, exec_id: str, ts_ns: int = 0) -> list[VenueEvent]:
        """Break the order's fill `exec_id` (ValueError if it has no such fill)."""
        return self._pass(self.venue.bust(order_id, exec_id, ts_ns))

    def correct(self, order_id: str, exec_id: str, qty: int, px: int,
                ts_ns: int = 0) -> list[VenueEvent]:
        """Correct the order's fill `exec_id` to `qty` at `px`."""
        return self._pass(self.venue.correct(order_id, exec_id, qty, px, ts_ns))

    def refuse_cancels(self, order_id: str, reason: str = REFUSED) -> None:
        """Refuse every cancel and replace of `order_id` from now on."""
        self._refusing[order_id] = reason

    def allow_cancels(self, order_id: str) -> None:
        self._refusing.pop(order_id, None)
