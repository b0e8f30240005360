"""The algo container: a strategy per parent order, driven only by the stream.

Inputs: the OMS's parent events (`ParentAccepted`, `ParentAmended`,
`ParentCanceling`, `ParentDone`, `ParentReopened`), the child events
(`ChildOrderSent`, `ChildRequestRejected` from the OMS; `VenueAck`, `VenueFill`,
`VenueCanceled`, `VenueReplaced`, `VenueRestated`, `VenueReject`,
`VenueCancelRejected`, `VenueTradeCanceled`, `VenueTradeCorrected` from the venue
gateway), venue sessions (`VenueStatus`), ops' halts (`HaltTrading`,
`ResumeTrading`), market data of subscribed symbols (`MarketSnapshot`, `Quote`,
`Trade`, `TradingStatus`) and timers.
Outputs: child requests to the OMS (`NewChild`, `ReplaceChild`, `CancelChild`),
`Subscribe`, `AlgoDecision` (the strategies' record) and `Alert`s.

The container, whatever a strategy does:
- never lets the open quantity of a parent's children exceed what the parent has
  left, nor a child's limit leave the parent's, nor a child go to a venue that is
  down (`algo_engine.guard`; a request that would is refused with
  `InvariantError` and an Alert, and nothing is sent);
- respects a parent's cancel and amendment at once: nothing new while either is
  carried out; on an amendment the strategy is handed the new terms first, then
  the container amends in place (downstream replace) any child that still does
  not fit, or cancels it where nothing of it fits;
- sends a child's replace only once the venue has the child (`VenueAck`, or a
  fill or restatement, which say as much) and has answered our replace before
  it: one asked for earlier (by the strategy, or by the fit of an amendment
  that meets a child in flight) waits with the child (`orders.AMEND`) and goes
  when the venue answers, fitted then to the order's terms (nothing grows while
  the order is frozen, nor beyond what it has left); a cancel or the child's
  end drops it. An amendment that meets a child in flight is no breach of an
  invariant: the strategy goes on;
- stops a strategy that raises (an Alert says why), cancels its children and
  leaves the parent with the OMS for ops to decide;
- picks the destination of each child: the venue's destinations whose sessions
  are up, in turn (round-robin), from the ref data's destination table (before
  the venue gateway has reported any session of the venue, the first by
  priority that is not down);
- pauses an order while its symbol, its client or everything is halted (ops'
  `HaltTrading` of that scope, or the market's `TradingStatus` "halted" for the
  symbol as a whole or on its primary venue, as the book's phase says): its
  timers wait, and a child its strategy asks for is *held* (checked, given its
  id, recorded with status "held", nothing published); a child to a venue ops
  halted is held the same way. A held child's cancel ends it at once (the
  strategy hears `on_child_done` once its handler returns), its replace amends
  it in place. Children already at venues stay there. At the resume
  (`ResumeTrading` of the scope, or the market's phase leaving "halted"), the
  held children are sent in the order asked, each checked again (one that no
  longer fits ends with the reason, and an Alert; one whose order has an
  amendment pending waits until it is carried out or refused), then the
  strategy hears "resumed" and the timers that waited fire, in order. An order
  taken down (`ParentCanceling`) ends its held children. Strategies hear
  `on_market(c, symbol_id, "halted" / "resumed")`; an info Alert says what a
  halt paused and what its resume sent;
- keeps each child's fills by the venue's exec id: a venue's bust
  (`VenueTradeCanceled`) takes a fill out of the child's and the parent's
  filled quantity and notional, a correction (`VenueTradeCorrected`) changes it
  (then known by the correction's exec id, which a later correction refers to);
  the child's quantity moves with it, so its open quantity at the venue is
  unchanged, and a child that was done stays done. A repeat (the same exec id)
  is applied once; a fill the child does not have (broken already, or never
  there) is an Alert and changes nothing. The strategy hears
  `on_trade_amended`. A bust is not undone by the OMS's figures: an amendment's
  `cum_qty` counts only above what busts and corrections took off;
- starts a filled order again when the OMS reopens it (`ParentReopened`, after a
  bust or a correction): its strategy starts afresh for the shares left, with
  the parent's `cum_qty` and `notional` as the OMS says, and its new children
  numbered on from its old ones.

Strategies: `algo_engine.strategies.STRATEGIES` (DMA and VWAP). A parent whose
algo the container does not run waits with the OMS (an Alert says so).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from typing import Any

import msgspec

from algo_engine import guard
from algo_engine.context import OrderContext
from algo_engine.market import Book
from algo_engine.orders import REFUSED_BY_OMS, Child, ChildEvent, Parent, Style, move_child
from algo_engine.strategies import STRATEGIES, AnyStrategy
from algo_engine.strategy import InvariantError, Strategy
from refdata.model import local_midnight_ns
from sequencer import sources
from sequencer.messages.admin import HaltTrading, ResumeTrading
from sequencer.messages.control import Alert, Severity, SystemStart
from sequencer.messages.executions import (
    VenueAck,
    VenueCanceled,
    VenueCancelRejected,
    VenueFill,
    VenueReject,
    VenueReplaced,
    VenueRestated,
    VenueStatus,
    VenueTradeCanceled,
    VenueTradeCorrected,
)
from sequencer.messages.marketdata import (
    MarketSnapshot,
    Quote,
    Subscribe,
    Trade,
    TradingStatus,
)
from sequencer.messages.orders import (
    CancelChild,
    ChildOrderSent,
    ChildRequestRejected,
    NewChild,
    OrdType,
    ParentAccepted,
    ParentAmended,
    ParentCanceling,
    ParentDone,
    ParentReopened,
    ReplaceChild,
    TimeInForce,
)
from sequencer.runtime.app import StructApp, handles

NAME = "algo"

#: style -> (order type, time in force); "dma" takes the parent's
_STYLES: dict[str, tuple[OrdType, TimeInForce]] = {
    "passive": ("limit", "day"),
    "take": ("limit", "ioc"),
    "open_auction": ("limit", "opg"),
    "close_auction": ("limit", "cls"),
}


class Counts(msgspec.Struct):
    parents: int = 0
    children: int = 0
    refused_by_container: int = 0  # invariant breaches stopped here
    refused_by_oms: int = 0
    failed_strategies: int = 0
    ignored: int = 0  # parents of algos the container does not run
    reopened: int = 0  # parents started again after a bust or a correction
    held: int = 0  # children held through a halt
    waited: int = 0  # replaces that met a child in flight and waited for the venue
    trade_amendments: int = 0  # venues' busts and corrections applied


class AlgoState(msgspec.Struct):
    session_date: str = ""
    parents: dict[str, Parent] = msgspec.field(default_factory=dict)
    strategies: dict[str, AnyStrategy] = msgspec.field(default_factory=dict)
    children: dict[str, Child] = msgspec.field(default_factory=dict)
    books: dict[int, Book] = msgspec.field(default_factory=dict)
    down: dict[str, str] = msgspec.field(default_factory=dict)  # destination -> why
    up: dict[str, str] = msgspec.field(default_factory=dict)  # destination -> its venue
    turn: dict[str, int] = msgspec.field(default_factory=dict)  # venue -> next dest index
    # ops' halts in force: scope ("*", a symbol, a client or a venue) -> why
    halts: dict[str, str] = msgspec.field(default_factory=dict)
    # (order id, timer token) of the timers due while their order was paused, in order
    deferred: list[tuple[str, str]] = msgspec.field(default_factory=list)
    # order id -> the next child number of an order forgotten at ParentDone (a reopened
    # order numbers its children on from it: a child id is never used twice)
    child_numbers: dict[str, int] = msgspec.field(default_factory=dict)
    counts: Counts = msgspec.field(default_factory=Counts)


class AlgoEngine(StructApp[AlgoState]):
    """The container; it is the `Container` its orders' contexts reach it through."""

    name = NAME
    source_id = sources.ALGO
    state_type = AlgoState

    def __init__(self) -> None:
        self.state = AlgoState()
        self._ctxs: dict[str, OrderContext] = {}
        # Held children ended while a strategy's handler runs (order id, child id): it
        # hears of them once the handler returns. Empty between frames (not state).
        self._later: list[tuple[str, str]] = []
        self._in_call = 0

    # ================================================================ helpers

    def alert(self, severity: Severity, code: str, text: str) -> None:
        self.ctx.publish(Alert(severity=severity, source=NAME, text=text, code=code))

    # ---- the Container the orders' contexts see (see algo_engine.context)

    def session_date(self) -> str:
        return self.state.session_date

    def book(self, symbol_id: int) -> Book:
        return self.state.books[symbol_id]

    def child(self, child_id: str) -> Child | None:
        return self.state.children.get(child_id)

    def _octx(self, p: Parent) -> OrderContext:
        c = self._ctxs.get(p.order_id)
        if c is None or c.parent is not p:
            c = self._ctxs[p.order_id] = OrderContext(self, self.ctx, p)
        return c

    def _call(self, p: Parent, method: str, *args: Any) -> None:
        """Run a strategy handler; a strategy that raises is stopped, its children
        cancelled, and the parent left with the OMS."""
        strat = self.state.strategies.get(p.order_id)
        if strat is None or p.failed:
            return
        with self._news_after():
            try:
                getattr(strat, method)(self._octx(p), *args)
            except Exception as e:  # any strategy bug must leave the order safe
                self._fail(p, f"{type(e).__name__}: {e}")

    @contextlib.contextmanager
    def _news_after(self) -> Iterator[None]:
        """Strategies hear of the held children ended inside this block (`_end_held`)
        once it is over, never from inside their own handler."""
        self._in_call += 1
        try:
            yield
        finally:
            self._in_call -= 1
        if self._later and not self._in_call:
            self._tell_later()

    def _tell_later(self) -> None:
        while self._later:
            oid, cid = self._later.pop(0)
            p, c = self.state.parents.get(oid), self.state.children.get(cid)
            if p is not None and c is not None:
                self._call(p, "on_child_done", c)

    def _fail(self, p: Parent, why: str) -> None:
        p.failed = why
        self.state.counts.failed_strategies += 1
        self.alert("error", "strategy_failed",
                   f"the {p.algo.upper()} strategy of {p.order_id} stopped ({why}); its "
                   "children are cancelled and the order waits with the OMS")
        for c in self._live_children(p):
            if c.pending != "cancel":
                self._send_cancel(p, c, "strategy stopped")

    def _live_children(self, p: Parent) -> list[Child]:
        cs = self.state.children
        return [cs[i] for i in p.children if i in cs and cs[i].live]

    def terms(self, p: Parent) -> guard.ParentTerms:
        return guard.ParentTerms(
            side=p.side, qty=p.cap_qty(), cum_qty=p.cum_qty, ord_type=p.ord_type,
            limit_px=p.cap_px(), open_child_qty=sum(c.exposure for c in self._live_children(p)),
            frozen=p.frozen != "")

    # ================================================================ the day

    @handles(SystemStart)
    def on_system_start(self, m: SystemStart) -> None:
        self.state.session_date = m.session_date.isoformat()

    # ================================================================ venues and routing

    def venue_up(self, venue: str) -> bool:
        dests = self._destinations(venue)
        return any(d not in self.state.down for d in dests)

    def _destinations(self, venue: str) -> list[str]:
        rd = self.ctx.refdata
        if rd is None:
            return [f"DMA-{venue}"]
        return [d.name for d in rd.destinations_for(venue)]

    def _venues_down(self, venue: str) -> frozenset[str]:
        return frozenset() if self.venue_up(venue) else frozenset((venue,))

    def _pick_destination(self, venue: str) -> str:
        """The venue's destinations whose sessions the venue gateway reported up, in
        turn; before any report for the venue (a backtest has no gateway), the first
        by priority that is not down."""
        dests = [d for d in self._destinations(venue) if d not in self.state.down]
        up = [d for d in dests if d in self.state.up]
        if not up:
            return dests[0] if dests else ""
        i = self.state.turn.get(venue, 0)
        self.state.turn[venue] = i + 1
        return up[i % len(up)]

    @handles(VenueStatus)
    def on_venue_status(self, m: VenueStatus) -> None:
        if m.status == "down":
            self.state.down[m.destination] = m.reason or "session down"
            self.state.up.pop(m.destination, None)
        else:
            self.state.down.pop(m.destination, None)
            self.state.up[m.destination] = m.venue

    # ================================================================ halts

    def paused(self, p: Parent) -> bool:
        """`p` is paused: its symbol, its client or everything halted by ops, or its
        symbol halted on the market (its book's phase)."""
        h = self.state.halts
        if h and ("*" in h or p.symbol in h or p.client in h):
            return True
        b = self.state.books.get(p.symbol_id)
        return b is not None and b.status == "halted"

    def _holds(self, p: Parent, venue: str) -> bool:
        """A new child of `p` to `venue` is held now (its order paused, its venue halted)."""
        return venue in self.state.halts or self.paused(p)

    def _paused_ids(self) -> set[str]:
        """The orders paused now (for membership: never iterated)."""
        return {oid for oid, p in self.state.parents.items() if self.paused(p)}

    def _scope_name(self, scope: str) -> str:
        return "all trading" if scope == "*" else scope

    def _is_venue(self, scope: str) -> bool:
        rd = self.ctx.refdata
        if rd is None:
            return False
        try:
            rd.venue(scope)
        except KeyError:
            return False
        return True

    @handles(HaltTrading)
    def on_halt(self, m: HaltTrading) -> None:
        halts = self.state.halts
        if m.scope in halts:
            halts[m.scope] = m.reason
            return
        before = self._paused_ids()
        halts[m.scope] = m.reason
        self._halted(before, f"{self._scope_name(m.scope)} halted by ops", m.reason,
                     venue=m.scope if self._is_venue(m.scope) else "")

    @handles(ResumeTrading)
    def on_resume(self, m: ResumeTrading) -> None:
        if m.scope not in self.state.halts:
            return
        before = self._paused_ids()
        del self.state.halts[m.scope]
        self._resumed(before, f"{self._scope_name(m.scope)} resumed by ops")

    def _halted(self, before: set[str], what: str, reason: str, *, book: Book | None = None,
                venue: str = "") -> None:
        """A halt began (`before`: the orders paused until now): say so, and tell the
        strategies of the orders it pauses (a book's subscribers hear its phase)."""
        s = self.state
        paused = [p for oid, p in s.parents.items() if oid not in before and self.paused(p)]
        self.alert("info", "halted", f"{what}" + (f" ({reason})" if reason else "")
                   + f": {_count(len(paused), 'order')} paused"
                   + (f", new children to {venue} held" if venue else ""))
        if book is not None:
            self._market_event(book, "halted")
        for p in paused:
            if book is None or p.order_id not in book.subscribers:
                self._call(p, "on_market", p.symbol_id, "halted")

    def _resumed(self, before: set[str], what: str, *, book: Book | None = None) -> None:
        """A halt ended: send the held children nothing holds now (in the order asked),
        say so, then the book's subscribers hear its phase, the orders that go on hear
        "resumed", and the timers they missed fire (in order)."""
        s = self.state
        going = [p for oid, p in s.parents.items() if oid in before and not self.paused(p)]
        with self._news_after():  # held children that no longer fit: heard after the rest
            sent, ended = self._release()
            self.alert("info", "resumed", f"{what}: {_count(len(going), 'order')} "
                       + ("goes" if len(going) == 1 else "go") + " on"
                       + (f", {_count(sent, 'held child', 'held children')} sent"
                          if sent else "")
                       + (f", {ended} no longer fit" if ended else ""))
        if book is not None:
            self._market_event(book, book.status)
        for p in going:
            if s.parents.get(p.order_id) is p:
                self._call(p, "on_market", p.symbol_id, "resumed")
        if s.deferred:
            due: list[tuple[str, str]] = []
            wait: list[tuple[str, str]] = []
            for d in s.deferred:
                q = s.parents.get(d[0])
                if q is not None:
                    (wait if self.paused(q) else due).append(d)
            s.deferred = wait
            for oid, why in due:
                q = s.parents.get(oid)
                if q is not None:
                    self._call(q, "on_timer", why)

    def _release(self, only: Parent | None = None) -> tuple[int, int]:
        """Send each held child (of `only`, or of every order) nothing holds any more, in
        the order asked, checked again as a new child (the held ones after it not
        counted); one that no longer fits ends. A child of an order whose amendment is
        pending waits for it to be carried out or refused. Returns (sent, ended)."""
        s = self.state
        sent = ended = 0
        cs = s.children
        pool = [cs[i] for i in only.children if i in cs] if only else cs.values()
        for c in [c for c in pool if c.status == "held"]:
            p = s.parents.get(c.parent_id)
            if (p is None or c.status != "held" or p.frozen == "amend"
                    or self._holds(p, c.venue)):
                continue
            why, dest = self._check_held(p, c)
            if why:
                ended += 1
                s.counts.refused_by_container += 1
                self.alert("warning", "held_child_ended",
                           f"{p.algo.upper()} {p.order_id}: held child {c.child_id} of "
                           f"{c.qty - c.cum_qty:,} at {c.venue} ends at the resume: {why}")
                self._end_held(p, c, f"no longer fits at the resume: {why}")
                continue
            sent += 1
            move_child(c, "released")
            c.destination, c.sent_ns = dest, self.ctx.now
            self._publish_new(p, c)
        return sent, ended

    def _check_held(self, p: Parent, c: Child) -> tuple[str, str]:
        """(why a held child may not be sent now, "" if it may; its destination)."""
        if p.failed:
            return "its strategy stopped", ""
        dma = c.style == "dma" and p.algo == "dma"
        others = sum(o.exposure for o in self._live_children(p) if o.status != "held")
        terms = guard.ParentTerms(
            side=p.side, qty=p.cap_qty(), cum_qty=p.cum_qty, ord_type=p.ord_type,
            limit_px=p.cap_px(), open_child_qty=others, frozen=p.frozen != "")
        down = frozenset() if dma else self._venues_down(c.venue)
        why = guard.check_new(terms, c.qty - c.cum_qty, c.ord_type, c.limit_px, c.venue, down)
        dest = self._pick_destination(c.venue) if not why else ""
        if not why and not dest and not dma:
            why = f"venue {c.venue} has no destination"
        return why, dest

    def _end_held(self, p: Parent, c: Child, why: str) -> None:
        """A held child ends (nothing of it was ever published); its strategy hears of
        it once the handler running now returns."""
        self._mark_done(c, why)
        self._later.append((p.order_id, c.child_id))
        if not self._in_call:
            self._tell_later()

    # ================================================================ market data

    def subscribe(self, symbol: str, order_id: str) -> Book:
        rd = self.ctx.refdata
        sym = rd.by_name(symbol)
        b = self.state.books.get(sym.id)
        if b is None:
            venue = rd.venue(sym.primary_venue)
            midnight = local_midnight_ns(dt.date.fromisoformat(self.state.session_date),
                                         venue.timezone)
            b = self.state.books[sym.id] = Book(sym.id, midnight + venue.open_ms * 1_000_000,
                                            midnight + venue.close_ms * 1_000_000)
            self.ctx.publish(Subscribe(symbol_id=sym.id, subscriber=NAME))
        if order_id not in b.subscribers:
            b.subscribers.append(order_id)
        return b

    @handles(MarketSnapshot)
    def on_snapshot(self, m: MarketSnapshot) -> None:
        b = self.state.books.get(m.symbol_id)
        if b is None:
            return
        if m.volume and not b.volume and self.ctx.refdata is not None:
            curve = self.ctx.refdata.curve(m.symbol_id)
            b.spread_before(m.volume, self.ctx.now,
                            (curve.open_auction, *curve.minute_shares, curve.close_auction))
        for q in m.quotes:
            b.on_quote(q)
        for t in m.trades:
            if t.exch_time_ns >= b.last_ns:
                b.last_px, b.last_ns = t.price, t.exch_time_ns
        self._status(b, m.status, m.reason)

    @handles(Quote)
    def on_quote(self, q: Quote) -> None:
        b = self.state.books.get(q.symbol_id)
        if b is not None:
            b.on_quote(q)

    @handles(Trade)
    def on_trade(self, t: Trade) -> None:
        b = self.state.books.get(t.symbol_id)
        if b is None:
            return
        opened = b.opened
        b.on_trade(t, self.ctx.now)
        if b.opened and not opened:
            self._market_event(b, "opened")

    @handles(TradingStatus)
    def on_trading_status(self, m: TradingStatus) -> None:
        b = self.state.books.get(m.symbol_id)
        if b is None:
            return
        rd = self.ctx.refdata
        if m.venue != "*" and rd is not None and m.venue != rd.symbol(
                m.symbol_id).primary_venue:
            return  # one venue's phase, not the symbol's (its primary venue's, or "*")
        self._status(b, m.status, m.reason)

    def _status(self, b: Book, status: str, reason: str = "") -> None:
        if status == b.status:
            return
        if status != "halted" and b.status != "halted":
            b.status = status
            self._market_event(b, status)
            return
        before = self._paused_ids()
        b.status = status
        rd = self.ctx.refdata
        name = rd.symbol(b.symbol_id).name if rd is not None else str(b.symbol_id)
        if status == "halted":
            self._halted(before, f"{name} halted on the market", reason, book=b)
        else:
            self._resumed(before, f"{name} resumed on the market ({status})", book=b)

    def _market_event(self, b: Book, event: str) -> None:
        for oid in list(b.subscribers):
            p = self.state.parents.get(oid)
            if p is not None:
                self._call(p, "on_market", b.symbol_id, event)

    # ================================================================ parent events

    @handles(ParentAccepted)
    def on_parent_accepted(self, m: ParentAccepted) -> None:
        self._start(m)

    @handles(ParentReopened)
    def on_parent_reopened(self, m: ParentReopened) -> None:
        """A filled order is live again (a venue broke or corrected a fill): its strategy
        starts afresh for the shares left, with what stays filled as the OMS counts it."""
        p = self.state.parents.get(m.order_id)
        if p is not None:  # still working here (no ParentDone seen): the OMS's figures
            p.cum_qty, p.notional = m.cum_qty, m.notional
            return
        self._start(m)

    def _start(self, m: ParentAccepted | ParentReopened) -> None:
        cls = STRATEGIES.get(m.algo)
        if cls is None:
            self.state.counts.ignored += 1
            self.alert("warning", "algo_not_running",
                       f"order {m.order_id} ({m.algo.upper() or 'care'}) waits with the OMS: "
                       f"the algo engine runs {', '.join(a.upper() for a in STRATEGIES)}")
            return
        symbol_id = 0
        rd = self.ctx.refdata
        if rd is not None:
            sym = rd.find(m.symbol)
            symbol_id = sym.id if sym is not None else 0
        p = Parent(m.order_id, m.client, m.symbol, symbol_id, m.side, m.qty, m.ord_type,
                   m.limit_px, m.tif, m.algo, dict(m.algo_params), self.ctx.now)
        if isinstance(m, ParentReopened):
            p.cum_qty, p.notional = m.cum_qty, m.notional
            p.next_child = self.state.child_numbers.pop(m.order_id, 1)
            self.state.counts.reopened += 1
        else:
            self.state.counts.parents += 1
        self.state.parents[m.order_id] = p
        try:
            strat = cls.from_params(p)
        except ValueError as e:
            self.state.strategies[m.order_id] = cls()
            self._fail(p, f"bad parameters: {e}")
            return
        self.state.strategies[m.order_id] = strat
        self._call(p, "on_start")

    @handles(ParentAmended)
    def on_parent_amended(self, m: ParentAmended) -> None:
        p = self.state.parents.get(m.order_id)
        if p is None:
            return
        # The OMS's count catches ours up (fills of children we do not know), but never
        # undoes a bust or a correction down we applied after it counted.
        p.cum_qty = max(p.cum_qty, m.cum_qty - p.taken_off)
        if m.pending:
            p.frozen = "amend"
            p.pend_qty, p.pend_px = m.qty, m.limit_px
        else:
            # In force: an amendment carried out, or the order given back after the OMS
            # refused a replace or a cancel (it accepts neither while the other is open).
            p.frozen = ""
            p.qty, p.limit_px = m.qty, m.limit_px
            p.pend_qty = p.pend_px = 0
            if m.algo_params:
                p.params = dict(m.algo_params)
        self._call(p, "on_amend")
        self._fit(p)
        if not p.frozen and any(self.state.children[i].status == "held" for i in p.children
                                if i in self.state.children):
            with self._news_after():  # held through the amendment, and nothing holds them
                self._release(p)

    def _fit(self, p: Parent, refused: Child | None = None, request: str = "") -> None:
        """Make every live child fit the parent's terms now in force (an amendment the
        strategy did not carry out itself): reprice or shrink it in place, or cancel it
        where nothing of it fits. A child in flight (the venue has not taken it yet, or
        not answered a replace of ours) is amended once the venue answers: the replace
        waits (`_amend`).

        Each child is taken at the terms it is to have (a replace waiting, else the one
        in flight, else its own): those with a replace in flight first, keeping what they
        will have open if that fits, then the others, in the order sent, in what is left
        (a child being cancelled takes no room). Nothing grows while the order is frozen,
        and a growth goes only into what the parent has left beside the others' exposure.
        Once a request is answered, `_refit` looks again; the child whose `request` was
        `refused` is not asked the same again (a refused replace becomes a cancel, unless
        a newer replace waited behind it, which goes instead; a refused cancel is left to
        the OMS's replace timeout). The children of a stopped strategy are cancelled,
        never amended."""
        with self._news_after():
            self._fit_children(p, refused, request)

    def _fit_children(self, p: Parent, refused: Child | None, request: str) -> None:
        live = self._live_children(p)
        if p.failed:
            for c in live:
                if c.pending != "cancel":
                    self._send_cancel(p, c, "strategy stopped")
            return
        cap_px = p.cap_px()
        terms = self.terms(p)  # (its price limit is all the loop reads)
        frozen = p.frozen != ""
        room = p.cap_qty() - p.cum_qty
        for c in [c for c in live if c.pending == "replace"] + [
                c for c in live if not c.pending]:
            qty, px = c.target
            if c.ord_type == "limit" and p.ord_type == "limit" and guard.price_outside(
                    terms, c.ord_type, px):
                px = cap_px
            want = max(0, qty - c.cum_qty)
            if frozen:  # nothing grows beyond what the venue has (or will have)
                want = min(want, max(0, c.committed[0] - c.cum_qty))
            keep = min(want, max(room, 0))
            room -= keep
            new_qty = c.cum_qty + keep
            if (new_qty, px) == c.target and not (c.want_qty and c.amend_now == "send"):
                continue  # as it is to be, and nothing waits that could go now
            if c.status == "held":  # amended in the container
                if keep <= 0:
                    self._end_held(p, c, "does not fit the amended order")
                else:
                    c.qty, c.limit_px = new_qty, px
                continue
            if c is refused and request == "cancel":
                continue
            if keep <= 0 or (c is refused and request == "replace" and not c.want_qty):
                self._send_cancel(p, c, "does not fit the amended order")
                continue
            if new_qty > c.committed[0] and c.amend_now == "send":
                # a growth: into what the parent has left beside the others' exposure
                others = sum(o.exposure for o in live if o is not c)
                new_qty = min(new_qty, max(c.committed[0],
                                           c.cum_qty + p.cap_qty() - p.cum_qty - others))
            self._amend(p, c, new_qty, px)

    def _amend(self, p: Parent, c: Child, qty: int, px: int) -> None:
        """Have a sent or live child become `qty` (its total) at `px`: the replace goes now
        if the venue has the child and nothing of ours is in flight, else it waits for the
        venue's answer (`orders.AMEND`, `_answered`); nothing goes (and nothing waits) if
        the venue will have those terms anyway."""
        px = px if c.ord_type == "limit" else 0
        if (qty, px) == c.committed:
            c.want_qty = c.want_px = 0
        elif c.amend_now == "send":
            c.want_qty = c.want_px = 0
            self._send_replace(p, c, qty, px)
        else:
            if not c.want_qty:
                self.state.counts.waited += 1
            c.want_qty, c.want_px = qty, px

    def _refit(self, c: Child, p: Parent, refused: str = "") -> None:
        """A request of the child was answered (`refused`: the request refused), or the
        venue took a child a replace waits for: end it if it is filled, and fit the
        parent's children again (an amendment may have come meanwhile; a replace that
        waited goes now). An order being taken down drops what waited."""
        if c.cum_qty >= c.qty:
            self._end(c, p, "filled")
        elif c.live and not p.failed and p.frozen != "cancel":
            self._fit(p, c, refused)
        elif c.live:
            c.want_qty = c.want_px = 0

    def _answered(self, c: Child, p: Parent) -> None:
        """The venue said something of the child (it has it): a replace that waited for
        that goes now."""
        if c.want_qty and c.amend_now == "send":
            self._refit(c, p)

    @handles(ParentCanceling)
    def on_parent_canceling(self, m: ParentCanceling) -> None:
        p = self.state.parents.get(m.order_id)
        if p is None:
            return
        p.frozen = "cancel"
        for c in self._live_children(p):  # the OMS cancels them: nothing waits to amend them
            c.want_qty = c.want_px = 0
        self._call(p, "on_canceling")
        with self._news_after():  # nothing new goes now: a held child never will
            for c in self._live_children(p):
                if c.status == "held":
                    self._end_held(p, c, "the order is being cancelled")

    @handles(ParentDone)
    def on_parent_done(self, m: ParentDone) -> None:
        p = self.state.parents.pop(m.order_id, None)
        self.state.strategies.pop(m.order_id, None)
        self._ctxs.pop(m.order_id, None)
        if p is None:
            return
        self.state.child_numbers[m.order_id] = p.next_child
        if self.state.deferred:
            self.state.deferred = [d for d in self.state.deferred if d[0] != m.order_id]
        for cid in p.children:
            self.state.children.pop(cid, None)
        for b in self.state.books.values():
            if m.order_id in b.subscribers:
                b.subscribers.remove(m.order_id)

    # ================================================================ child requests

    def new_child(self, p: Parent, venue: str, style: Style, qty: int, px: int) -> str:
        if style == "dma":
            ord_type, tif = p.ord_type, p.tif
        else:
            ord_type, tif = _STYLES[style]
            if p.ord_type == "market" and px == 0:
                ord_type = "market"
        # A DMA order's child to a down venue goes on to the OMS, which refuses it and so
        # ends the order back to the client (a DMA order is its one child); nothing reaches
        # the venue. Any other strategy is refused here.
        dma = style == "dma" and p.algo == "dma"
        down = frozenset() if dma else self._venues_down(venue)
        why = guard.check_new(self.terms(p), qty, ord_type, px if ord_type == "limit" else 0,
                              venue, down)
        # Through a halt the child is held: its destination is picked when it is sent.
        hold = not why and self._holds(p, venue)
        dest = self._pick_destination(venue) if not why and not hold else ""
        if not why and not hold and not dest and not dma:
            why = f"venue {venue} has no destination"
        if why:
            self._refuse(p, f"new child of {qty:,} at {venue}: {why}")
        child_id = f"{p.order_id}.{p.next_child}"
        p.next_child += 1
        c = Child(child_id, p.order_id, venue, dest, style, ord_type, tif, qty,
                  px if ord_type == "limit" else 0, self.ctx.now,
                  status="held" if hold else "sent")
        self.state.children[child_id] = c
        p.children.append(child_id)
        self.state.counts.children += 1
        if hold:
            self.state.counts.held += 1
        else:
            self._publish_new(p, c)
        return child_id

    def _publish_new(self, p: Parent, c: Child) -> None:
        self.ctx.publish(NewChild(p.order_id, c.child_id, c.venue, c.qty, c.ord_type,
                                  c.limit_px, c.tif, c.destination))

    def _refuse(self, p: Parent, why: str) -> None:
        self.state.counts.refused_by_container += 1
        self.alert("warning", "algo_invariant", f"{p.algo.upper()} {p.order_id}: {why}")
        raise InvariantError(why)

    def _own_child(self, p: Parent, child_id: str) -> Child:
        c = self.state.children.get(child_id)
        if c is None or c.parent_id != p.order_id:
            self._refuse(p, f"no child {child_id} of this order")
            raise AssertionError  # unreachable: _refuse raises
        return c

    def replace_child(self, p: Parent, child_id: str, qty: int, px: int) -> None:
        """The strategy's replace: checked now against the terms the child is to have
        (0 keeps them) and its exposure; amended in place if held, sent, or waiting for
        the venue's answer while the child is in flight (`orders.AMEND`)."""
        c = self._own_child(p, child_id)
        now = c.amend_now
        if now == "refuse":
            self._refuse(p, f"child {child_id} cannot be amended now ("
                         + ("a cancel is in flight" if c.pending == "cancel" else c.status)
                         + ")")
        to_qty, to_px = c.target
        new_qty = qty or to_qty
        new_px = (px or to_px) if c.ord_type == "limit" else 0
        why = guard.check_replace(self.terms(p), c.exposure, new_qty - c.cum_qty, c.ord_type,
                                  new_px)
        if not why and new_qty <= c.cum_qty:
            why = f"a child cannot be amended to {new_qty:,}, at or below its filled quantity"
        if why:
            self._refuse(p, f"replace of {child_id}: {why}")
        if now == "in_place":  # held: nothing published yet
            c.qty, c.limit_px = new_qty, new_px
            return
        self._amend(p, c, new_qty, new_px)

    def _send_replace(self, p: Parent, c: Child, qty: int, px: int) -> None:
        move_child(c, "replace_sent")
        c.pend_qty, c.pend_px = qty, px
        self.ctx.publish(ReplaceChild(p.order_id, c.child_id, qty,
                                      px if c.ord_type == "limit" else 0))

    def cancel_child(self, p: Parent, child_id: str, reason: str) -> None:
        c = self._own_child(p, child_id)
        if c.live and c.pending != "cancel":
            self._send_cancel(p, c, reason)

    def _send_cancel(self, p: Parent, c: Child, reason: str) -> None:
        if c.status == "held":  # nothing published yet: it ends here
            self._end_held(p, c, reason or "cancelled while held")
            return
        move_child(c, "cancel_sent")
        self.ctx.publish(CancelChild(p.order_id, c.child_id, reason))

    # ================================================================ child events

    def _child_event(self, child_id: str) -> tuple[Child, Parent] | None:
        c = self.state.children.get(child_id)
        if c is None:
            return None
        p = self.state.parents.get(c.parent_id)
        return None if p is None else (c, p)

    def _end(self, c: Child, p: Parent, why: str) -> None:
        if c.status == "done":
            return
        self._mark_done(c, why)
        self._call(p, "on_child_done", c)

    @staticmethod
    def _mark_done(c: Child, why: str) -> None:
        move_child(c, "done")
        c.end_reason = why

    def _child_moves(self, child_id: str, event: ChildEvent) -> None:
        got = self._child_event(child_id)
        if got is not None:
            move_child(got[0], event)

    @handles(ChildOrderSent)
    def on_child_sent(self, m: ChildOrderSent) -> None:
        if m.action == "new":  # on its way: the child stays sent until the venue has it
            self._child_moves(m.child_id, "sent")

    @handles(ChildRequestRejected)
    def on_child_rejected(self, m: ChildRequestRejected) -> None:
        got = self._child_event(m.child_id)
        if got is None:
            return
        c, p = got
        self.state.counts.refused_by_oms += 1
        self.alert("warning", "child_refused",
                   f"the OMS refused the {m.request} of {p.algo.upper()} child {m.child_id}: "
                   f"{m.reason}")
        if m.request == "new":
            self._end(c, p, f"{REFUSED_BY_OMS}: {m.reason}")
        else:
            move_child(c, "refused")
            self._refit(c, p, m.request)

    @handles(VenueAck)
    def on_venue_ack(self, m: VenueAck) -> None:
        got = self._child_event(m.child_id)
        if got is not None:
            move_child(got[0], "ack")
            self._answered(*got)

    @handles(VenueFill)
    def on_venue_fill(self, m: VenueFill) -> None:
        got = self._child_event(m.child_id)
        if got is None:
            return
        c, p = got
        eid = m.exec_id
        if eid:
            if eid in c.fills or eid in c.gone:
                return  # a venue's repeat: applied once
            c.fills[eid] = (m.qty, m.px)
        move_child(c, "fill")
        c.cum_qty += m.qty
        c.notional += m.qty * m.px
        p.cum_qty += m.qty
        p.notional += m.qty * m.px
        # A filled child is done before the strategy hears of the fill, so that it cannot
        # amend it from on_fill (unless a replace is in flight: its answer decides).
        filled = c.cum_qty >= c.qty and c.pending != "replace" and c.status != "done"
        if filled:
            self._mark_done(c, "filled")
        else:
            self._answered(c, p)
        self._call(p, "on_fill", c, m.qty, m.px, m.liquidity)
        if filled:
            self._call(p, "on_child_done", c)

    @handles(VenueTradeCanceled)
    def on_trade_canceled(self, m: VenueTradeCanceled) -> None:
        self._amend_fill(m.child_id, m.exec_id, m.ref_exec_id, None)

    @handles(VenueTradeCorrected)
    def on_trade_corrected(self, m: VenueTradeCorrected) -> None:
        self._amend_fill(m.child_id, m.exec_id, m.ref_exec_id, (m.qty, m.px))

    def _amend_fill(self, child_id: str, exec_id: str, ref: str,
                    correct: tuple[int, int] | None) -> None:
        """A venue broke (`correct` None) or corrected (to qty, px) the child's fill `ref`:
        the child's and the parent's filled quantity and notional change, the child's
        quantity with them (its open quantity at the venue does not), and its status
        stays. A child of an order forgotten (done) is the OMS's to reopen."""
        got = self._child_event(child_id)
        if got is None:
            return
        c, p = got
        if exec_id and (exec_id in c.fills or exec_id in c.gone):
            return  # a venue's repeat: applied once
        what = "correction" if correct else "bust"
        rec = c.fills.get(ref)
        new_qty, new_px = correct if correct is not None else (0, rec[1] if rec else 0)
        if rec is None or new_qty < 0 or new_px <= 0:
            if exec_id:
                c.gone.append(exec_id)
            self.alert("warning", "unknown_fill" if rec is None else "bad_fill",
                       f"{c.venue} {what} {exec_id} of {p.algo.upper()} child {c.child_id} "
                       + (f"refers to {ref!r}, " + ("a fill already broken or corrected"
                                                   if ref in c.gone else "no fill of it")
                          if rec is None else f"to {new_qty:,} at {new_px}")
                       + ": nothing changes")
            return
        old_qty, old_px = rec
        dq = new_qty - old_qty
        if dq > 0:  # never beyond the order (the OMS books any excess to its error account)
            dq = min(dq, max(0, p.qty - p.cum_qty))
            new_qty = old_qty + dq
        change = new_qty * new_px - old_qty * old_px
        c.cum_qty += dq
        c.qty += dq
        c.notional += change
        p.cum_qty += dq
        p.notional += change
        p.taken_off += max(0, -dq)
        del c.fills[ref]
        key = exec_id or ref  # a correction is known by its own exec id from now on
        if correct is not None:
            c.fills[key] = (new_qty, new_px)
        if key != ref or correct is None:
            c.gone.append(ref)
        if exec_id and correct is None:
            c.gone.append(exec_id)
        self.state.counts.trade_amendments += 1
        self._call(p, "on_trade_amended", c, dq, new_px)

    @handles(VenueReject)
    def on_venue_reject(self, m: VenueReject) -> None:
        got = self._child_event(m.child_id)
        if got is not None:
            self._end(got[0], got[1], f"rejected by the venue: {m.reason}")

    @handles(VenueCanceled)
    def on_venue_canceled(self, m: VenueCanceled) -> None:
        got = self._child_event(m.child_id)
        if got is not None:
            self._end(got[0], got[1], m.reason or "cancelled")

    @handles(VenueReplaced)
    def on_venue_replaced(self, m: VenueReplaced) -> None:
        got = self._child_event(m.child_id)
        if got is None:
            return
        c, p = got
        c.qty, c.limit_px = m.qty, m.limit_px
        move_child(c, "replaced")
        self._refit(c, p)

    @handles(VenueRestated)
    def on_venue_restated(self, m: VenueRestated) -> None:
        got = self._child_event(m.child_id)
        if got is None:
            return
        c, p = got
        c.qty, c.limit_px = m.qty, m.limit_px
        move_child(c, "restated")
        if c.cum_qty >= c.qty:
            self._end(c, p, f"restated to done: {m.reason}")
        else:
            self._answered(c, p)

    @handles(VenueCancelRejected)
    def on_venue_cancel_rejected(self, m: VenueCancelRejected) -> None:
        got = self._child_event(m.child_id)
        if got is not None:
            c = got[0]
            move_child(c, "refused")
            self._refit(c, got[1], m.response_to)

    # ================================================================ timers

    def on_timer(self, token: Any) -> None:
        if not isinstance(token, str) or "|" not in token:
            return
        order_id, _, why = token.partition("|")
        p = self.state.parents.get(order_id)
        if p is None:
            return
        if self.paused(p):  # delivered at the resume
            self.state.deferred.append((order_id, why))
            return
        self._call(p, "on_timer", why)

    # ================================================================ state

    def after_restore(self) -> None:
        self._ctxs = {}  # contexts hold the parents they were made for
        self._later, self._in_call = [], 0

    def describe(self) -> dict[str, Any]:
        s = self.state
        return {
            "parents": {oid: {"algo": p.algo, "symbol": p.symbol, "side": p.side,
                              "qty": p.qty, "cum_qty": p.cum_qty, "frozen": p.frozen,
                              "failed": p.failed,
                              "strategy": msgspec.to_builtins(s.strategies.get(oid))}
                        for oid, p in s.parents.items()},
            "live_children": sum(1 for c in s.children.values() if c.live),
            "held_children": sum(1 for c in s.children.values() if c.status == "held"),
            "waiting_replaces": sum(1 for c in s.children.values() if c.want_qty),
            "halts": dict(s.halts),
            "deferred_timers": len(s.deferred),
            "books": {sid: {"bid": b.bid, "ask": b.ask, "volume": b.volume,
                            "status": b.status} for sid, b in s.books.items()},
            "down": dict(s.down),
            "counts": msgspec.to_builtins(s.counts),
        }


def _count(n: int, one: str, many: str = "") -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


__all__ = ["AlgoEngine", "AlgoState", "Strategy"]
