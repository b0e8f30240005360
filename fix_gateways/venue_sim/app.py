"""The venue simulator as an app on the stream, for backtests: the fill model without FIX.

`tape backtest` runs a recorded day in one process, as fast as it goes; there the
venue gateway and the FIX venue simulator are replaced by this app, which reads
the OMS's `ChildOrderSent` and the day's market data from the stream and answers
with the venue events the venue gateway would have put there (`VenueAck`,
`VenueFill`, `VenueCanceled`, ...), as a source of its own (`sources.VENUE_SIM`,
so that a replay holds it, and not the venue gateway, to those outputs). The
fills are the fill model's (`fix_gateways.venue_sim.market`, whose docstring
states the rules): each venue sees its own quotes and prints; the primary venue's opening
and closing prints run its auctions; the other venues open when the symbol's
trading starts and close with it. A child's ExecInst (`ChildOrderSent.exec_inst`)
reaches the fill model: post only, and a peg to the midpoint or the touch (two
pegs at once are rejected); a venue's trade cancels and corrects, which the fill
model makes only when a test tells it to, would become `VenueTradeCanceled` and
`VenueTradeCorrected`.

A deterministic app like any other: a replay of the backtest's journal runs it
and checks its outputs byte for byte. Its state (the fill model's books) is not
snapshotted: a restart replays the day from its start.

Quotes of a venue where none of our orders rests for the symbol are kept aside and
handed to the fill model just before our next request there, which gives the
fill model the same market state at a fraction of the work (a quote with none of
our orders resting changes nothing but the state).

The realistic market (a `SimMarket` frame after `SystemStart`, which `tape backtest`
sequences unless told `--plain-market`; a day without one has none of this):
- Latency: a child order reaches its venue `SimMarket.latency_ns(venue)` after the
  OMS sent it (the platform's own one-way delay plus the venue's), in stream time,
  and the venue's answers reach the platform as long after the venue made them. In
  between the market goes on: quotes and prints stamped before the arrival act on
  the venue first, so a take can miss the quote it was aimed at. A timer at each
  arrival and each answer's return keeps the times exact when no market data comes.
- Market impact is not here: the backtest's driver moves the market data itself
  before it is sequenced (`fix_gateways.venue_sim.impact.MarketMover`), so that the
  algo engine, the venues and the report all see the market our trading made.
- The interval cap (the fill model's rule 7) over `SimMarket.interval_cap_s`; prints
  at a venue where none of our orders rests still count toward it.
"""

from __future__ import annotations

import heapq
from typing import Any

from fix_gateways.venue_sim.market import (
    Ack,
    Cancelled,
    CancelRejected,
    Fill,
    Reject,
    Replaced,
    Restated,
    TradeCanceled,
    TradeCorrected,
    Venue,
    VenueConfig,
    VenueEvent,
    exec_inst_terms,
)
from sequencer import sources
from sequencer.messages.base import Message
from sequencer.messages.control import SimMarket, SystemStart
from sequencer.messages.executions import (
    VenueAck,
    VenueCanceled,
    VenueCancelRejected,
    VenueFill,
    VenueReject,
    VenueReplaced,
    VenueRestated,
    VenueTradeCanceled,
    VenueTradeCorrected,
)
from sequencer.messages.marketdata import (
    CLOSING_PRINT,
    OPENING_PRINT,
    REGULAR_WAY,
    MarketSnapshot,
    Quote,
    Trade,
    TradingStatus,
)
from sequencer.messages.orders import ChildOrderSent
from sequencer.runtime.app import App, handles

NAME = "venue_sim"
OPEN_FALLBACK_NS = 900_000_000_000  # no opening print 15 minutes into trading: open anyway


class SimVenueApp(App):
    name = NAME
    source_id = sources.VENUE_SIM  # it plays the venue gateway, as a source of its own

    def __init__(self) -> None:
        self.venues: dict[str, Venue] = {}
        self.live: dict[tuple[str, str], dict[str, None]] = {}  # (venue, symbol) -> children
        self.where: dict[str, tuple[str, str]] = {}  # child -> (venue, symbol)
        self.aside: dict[tuple[str, str], tuple[int, int, int, int, int]] = {}
        self.names: dict[int, str] = {}
        self.primary: dict[int, str] = {}
        self.trading_since: dict[int, int] = {}  # symbol id -> when trading started
        self.open_everywhere: dict[int, None] = {}  # symbols open on every venue
        self.events = 0
        self.market = SimMarket()  # the plain fill model until a SimMarket says otherwise
        # In flight (latency): (due, n, what) with what a child order on its way to
        # its venue, or the venue's answers on their way back.
        self.flight: list[tuple[int, int, ChildOrderSent | tuple[Message, ...]]] = []
        self._flights = 0
        self.latency: dict[str, int] = {}  # venue -> one-way ns (none: no latency)

    # ---------------------------------------------------------------- set up

    @handles(SystemStart)
    def on_system_start(self, m: SystemStart) -> None:
        rd = self.ctx.refdata
        if rd is None:
            return
        self._make_venues()
        for s in rd.data.symbols:
            self.names[s.id] = s.name
            self.primary[s.id] = s.primary_venue

    def _make_venues(self) -> None:
        rd = self.ctx.refdata
        assert rd is not None
        config = VenueConfig(pre_open=True,
                             interval_ns=self.market.interval_cap_s * 1_000_000_000)
        self.venues = {v.code: Venue(v.code, config) for v in rd.data.venues if v.routable}

    @handles(SimMarket)
    def on_sim_market(self, m: SimMarket) -> None:
        """The day's market settings (before any order: the venues start again)."""
        rd = self.ctx.refdata
        if rd is None:
            return
        self.market = m
        self.latency = {v.code: m.latency_ns(v.code) for v in rd.data.venues}
        self._make_venues()

    # ---------------------------------------------------------------- latency

    def _later(self, due: int, what: ChildOrderSent | tuple[Message, ...]) -> None:
        self._flights += 1
        heapq.heappush(self.flight, (due, self._flights, what))
        self.ctx.set_timer(due, "flight")

    def _land(self, now: int) -> None:
        """Everything in flight that has arrived by `now`, in order of arrival."""
        flight = self.flight
        while flight and flight[0][0] <= now:
            due, _n, what = heapq.heappop(flight)
            if isinstance(what, ChildOrderSent):
                self._at_venue(what, due)
            else:
                for msg in what:
                    self.ctx.publish(msg)

    def on_timer(self, token: Any) -> None:
        self._land(self.ctx.now)

    # ---------------------------------------------------------------- our orders

    def _flush(self, key: tuple[str, str]) -> None:
        q = self.aside.pop(key, None)
        if q is not None:
            self._emit(self.venues[key[0]].on_quote(key[1], *q), key[0], self.ctx.now)

    @handles(ChildOrderSent)
    def on_child(self, m: ChildOrderSent) -> None:
        now = self.ctx.now
        self._land(now)
        delay = self.latency.get(m.venue, 0)
        if delay:
            self._later(now + delay, m)
        else:
            self._at_venue(m, now)

    def _at_venue(self, m: ChildOrderSent, now: int) -> None:
        """The child request reaches its venue at stream time `now`."""
        v = self.venues.get(m.venue)
        if v is None:
            self._answer(m.venue, now, [VenueReject(m.child_id,
                                                    f"no simulated venue {m.venue}")])
            return
        key = (m.venue, m.symbol)
        self._flush(key)
        if m.action == "new":
            try:
                post_only, peg = exec_inst_terms(m.exec_inst)
            except ValueError as e:
                self._answer(m.venue, now, [VenueReject(m.child_id, str(e))])
                return
            self.live.setdefault(key, {})[m.child_id] = None
            self.where[m.child_id] = key
            self._emit(v.new_order(m.child_id, m.symbol, m.side, m.qty, m.ord_type,
                                   m.limit_px, m.tif, post_only, now, peg), m.venue, now)
        elif m.action == "cancel":
            self._emit(v.cancel(m.child_id, now), m.venue, now)
        else:
            self._emit(v.replace(m.child_id, m.qty, m.limit_px, now), m.venue, now)

    def _answer(self, venue: str, now: int, msgs: list[Message]) -> None:
        """The venue's answers, made at `now`, on their way back to the platform."""
        if not msgs:
            return
        delay = self.latency.get(venue, 0)
        if delay:
            self._later(now + delay, tuple(msgs))
        else:
            for msg in msgs:
                self.ctx.publish(msg)

    def _done(self, child_id: str) -> None:
        key = self.where.pop(child_id, None)
        if key is not None:
            self.live.get(key, {}).pop(child_id, None)

    def _emit(self, events: list[VenueEvent], venue: str, now: int) -> None:
        """The fill model's events at `venue`, made at `now`, as the venue gateway's
        messages (sent back now, or after the venue's latency)."""
        if not events:
            return
        out: list[Message] = []
        pub = out.append
        for e in events:
            self.events += 1
            if isinstance(e, Fill):
                pub(VenueFill(e.order_id, e.exec_id, e.qty, e.px, e.liquidity, e.leaves_qty))
                if e.leaves_qty == 0:
                    self._done(e.order_id)
            elif isinstance(e, Ack):
                pub(VenueAck(e.order_id, e.venue_order_id))
            elif isinstance(e, Cancelled):
                pub(VenueCanceled(e.order_id, e.unsolicited, e.reason, e.restatement_reason))
                self._done(e.order_id)
            elif isinstance(e, Reject):
                pub(VenueReject(e.order_id, e.reason))
                self._done(e.order_id)
            elif isinstance(e, Replaced):
                pub(VenueReplaced(e.order_id, e.qty, e.px))
                if e.leaves_qty == 0:
                    self._done(e.order_id)
            elif isinstance(e, CancelRejected):
                pub(VenueCancelRejected(e.order_id, e.response_to, e.reason))
            elif isinstance(e, Restated):
                pub(VenueRestated(e.order_id, e.qty, e.px, e.reason, e.restatement_reason))
                if e.leaves_qty == 0:
                    self._done(e.order_id)
            elif isinstance(e, TradeCanceled):
                pub(VenueTradeCanceled(e.order_id, e.exec_id, e.ref_exec_id))
            elif isinstance(e, TradeCorrected):
                pub(VenueTradeCorrected(e.order_id, e.exec_id, e.ref_exec_id, e.qty, e.px))
        self._answer(venue, now, out)

    # ---------------------------------------------------------------- the market

    @handles(Quote)
    def on_quote(self, q: Quote) -> None:
        name = self.names.get(q.symbol_id)
        if name is None or q.venue not in self.venues:
            return
        key = (q.venue, name)
        row = (q.bid_px, q.bid_size, q.ask_px, q.ask_size, self.ctx.now)
        if self.live.get(key):
            self._emit(self.venues[q.venue].on_quote(name, *row), q.venue, self.ctx.now)
        else:
            self.aside[key] = row

    @handles(MarketSnapshot)
    def on_snapshot(self, m: MarketSnapshot) -> None:
        for q in m.quotes:
            self.on_quote(q)
        if m.status not in ("pre_open", "opening_auction"):
            self._open_all(m.symbol_id, primary_too=True)

    @handles(Trade)
    def on_trade(self, t: Trade) -> None:
        name = self.names.get(t.symbol_id)
        if name is None or not t.flags & REGULAR_WAY:
            return
        now = self.ctx.now
        primary = self.primary[t.symbol_id]
        px = t.price
        if t.flags & OPENING_PRINT:
            v = self.venues.get(primary)
            if v is not None and v.phase(name) == "pre_open":
                self._flush((primary, name))
                self._emit(v.run_auction(name, "opening", px, t.size, now), primary, now)
            return
        if t.flags & CLOSING_PRINT:
            v = self.venues.get(primary)
            if v is not None and v.phase(name) != "closed":
                self._flush((primary, name))
                self._emit(v.run_auction(name, "closing", px, t.size, now), primary, now)
            return
        since = self.trading_since.get(t.symbol_id)
        if (since is not None and now - since > OPEN_FALLBACK_NS
                and t.symbol_id not in self.open_everywhere):
            self._open_all(t.symbol_id, primary_too=True)
        key = (t.venue, name)
        v = self.venues.get(t.venue)
        if v is None:
            return
        if self.live.get(key):
            self._flush(key)
            self._emit(v.on_trade(name, px, t.size, now), t.venue, now)
        else:
            v.note_print(name, t.size, now)

    @handles(TradingStatus)
    def on_status(self, m: TradingStatus) -> None:
        if m.status == "trading" and m.symbol_id not in self.trading_since:
            self.trading_since[m.symbol_id] = self.ctx.now
            self._open_all(m.symbol_id, primary_too=False)
        elif m.status == "closed":
            self._close_all(m.symbol_id)

    def _open_all(self, symbol_id: int, primary_too: bool) -> None:
        """Open the symbol on the venues without its opening auction (the primary too
        when its print never came)."""
        name = self.names.get(symbol_id)
        if name is None:
            return
        for code, v in self.venues.items():
            if (primary_too or code != self.primary[symbol_id]) and v.phase(name) == "pre_open":
                self._flush((code, name))
                self._emit(v.run_auction(name, "opening", 0, 0, self.ctx.now), code,
                           self.ctx.now)
        if primary_too:  # (every later print would look again, for nothing)
            self.open_everywhere[symbol_id] = None

    def _close_all(self, symbol_id: int) -> None:
        """The session is over: the venues without the closing print expire our orders."""
        name = self.names.get(symbol_id)
        if name is None:
            return
        for code, v in self.venues.items():
            if code != self.primary[symbol_id] and v.phase(name) != "closed":
                self._flush((code, name))
                self._emit(v.run_auction(name, "closing", 0, 0, self.ctx.now), code,
                           self.ctx.now)

    def describe(self) -> dict[str, Any]:
        return {"venues": list(self.venues), "events": self.events,
                "live": sum(len(v) for v in self.live.values()),
                "in_flight": len(self.flight)}
