"""The algo container under a strategy that misbehaves on purpose.

`Chaos` is a strategy that asks for anything: children on any venue (down ones
included), in any style, of any size (0, negative, beyond the parent's leaves,
huge), at any price (beyond the limit, 0, negative); replaces that grow, move
beyond the limit or go below the filled quantity; cancels; replaces of children
that are not its own; and plain exceptions. It catches `InvariantError`
sometimes and lets it escape other times (which stops it). Hypothesis
interleaves its actions (run by its timers and by every event it is handed)
with what the stream brings: the OMS's answers (`ChildOrderSent`,
`ChildRequestRejected`), venue events (acknowledgements, fills, cancels,
replaces, refusals), the parent's amendments (pending, then in force or
refused; before or after the venue has taken the children), its cancel (and a
refused cancel), venue sessions going down and up, and ops' halts and resumes
(of everything, the symbol, the client or a venue: children asked for then are
held, and sent at the resume).

After every frame the test checks, from what the container published (and a
model of its own built from what it fed in and what came out), that whatever
the strategy did:
- every `NewChild` (a held child's at the resume too) and growing `ReplaceChild`
  left the open quantity of the
  parent's live children (an in-flight replace counted at the larger of its
  old and new size) within what the parent has left (its quantity, the smaller
  of the old and new one while an amendment is pending, less what is filled);
- every child's price is within the parent's limit then in force (the tighter of
  the old and new one while an amendment is pending; no market child of a limit
  parent);
- no `NewChild` names a destination of a venue that is down (a "dma" child goes
  on with no destination, for the OMS to refuse); no `NewChild` and no growing
  `ReplaceChild` while the parent is frozen (being cancelled, or an amendment
  pending);
- no `ReplaceChild` before the venue has taken the child (`VenueAck` or a fill),
  nor while a request of ours for it is unanswered; a replace asked for then is
  no refusal (only a child being cancelled or done cannot be amended): it waits
  with the child, and only while it must (a child the venue has, with nothing in
  flight, has nothing waiting after any frame);
- every refused request raised `InvariantError` in the strategy, published
  exactly one Alert "algo_invariant" and nothing else; every other request
  published exactly the one message it asked for (or nothing; a new child asked
  for through a halt nothing);
- a strategy that let an exception escape is stopped (one Alert
  "strategy_failed"), each of its children then live gets a `CancelChild`,
  and nothing new or amended is ever sent for it again;
- after an amendment (and the strategy's `on_amend`) every child, at the terms
  it is to have (a replace waiting, else the one in flight, else its own), is
  inside the new limit, and their sizes fit the new quantity (shrunk in place,
  now or once the venue answers, or cancelled);
- the strategy hears of each child's end once (`on_child_done`).

Example tests pin down the single cases: a child beyond the leaves, a venue
that is down, a sell below its limit, market children of a market order, a
strategy that raises, the in-place shrink and reprice of an amendment, and
round-robin over a venue's destinations. The last tests pin container bugs the
property test found (now fixed).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import msgspec
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import algo_engine.strategies
from algo_engine.app import AlgoEngine
from algo_engine.context import OrderContext
from algo_engine.orders import Child, Parent
from algo_engine.strategy import InvariantError, Strategy, Style
from sequencer import sources
from sequencer.kit import StreamKit
from sequencer.messages import Message
from sequencer.messages.admin import HaltTrading, ResumeTrading
from sequencer.messages.control import Alert, ClockTick
from sequencer.messages.executions import (
    VenueAck,
    VenueCanceled,
    VenueCancelRejected,
    VenueFill,
    VenueReject,
    VenueReplaced,
    VenueStatus,
)
from sequencer.messages.marketdata import (
    REGULAR_WAY,
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
    ReplaceChild,
    Side,
)
from tests.oms.fixtures import oms_refdata

DAY = dt.date(2013, 10, 8)
T0 = 1_381_239_000_000_000_000  # 2013-10-08 09:30 New York
MS = 1_000_000
SECOND = 1_000 * MS
PX = 100_0000  # a price (fixed point, 1/10,000)
TICK = 100
REF = PX  # where the chaos prices a market parent's limit children
CONTROL, MARKET, OMS, VENUE_GW, OPS = (sources.SEQUENCER, sources.TICKER_PLANT, sources.OMS,
                                       sources.VENUE_GATEWAY, sources.INJECT)
VENUES = ("ARCX", "XNYS", "BATS")
STYLES: tuple[Style, ...] = ("passive", "take", "open_auction", "close_auction", "dma")
A, B = "ORD-A", "ORD-B"


# ====================================================================== the chaos strategy

#: ("part", k): k/4 of the room left (on top of the child's size for a replace); ("room", d):
#: all of it + d; ("shrink", k): filled + k/4 of the child's open shares; ("filled", d); ("abs", n)
Qty = tuple[str, int]
Px = tuple[str, int]  # ("lim", t) / ("cap", t): t ticks inside the limit (< 0: beyond); ("abs", v)


@dataclass(frozen=True)
class Send:
    venue: str
    style: Style
    qty: Qty
    px: Px
    catch: bool


@dataclass(frozen=True)
class Amend:
    child: int  # index among the order's children; -1 one that does not exist, -2 another's
    qty: Qty
    px: Px
    catch: bool


@dataclass(frozen=True)
class Cancel:
    child: int
    catch: bool


@dataclass(frozen=True)
class Boom:
    """The strategy has a bug."""


Act = Send | Amend | Cancel | Boom


@dataclass
class Req:
    """One request the strategy made of its context, and what came of it."""

    parent: str
    kind: str  # send, replace, cancel
    before: int  # the number of outputs when it was made
    after: int = -1
    outcome: str = ""  # ok, refused, error
    child_id: str = ""  # what `send` returned
    error: str = ""  # the exception's text (refused or error)


@dataclass
class World:
    """What the test shares with the chaos strategy (the strategy's fields are its state,
    which the container snapshots; the test's plumbing lives here)."""

    outputs: list[Message] = field(default_factory=list)  # what the container published
    bursts: deque[list[Act]] = field(default_factory=deque)  # one per handler call
    hook: Callable[[str, OrderContext], None] | None = None  # instead of bursts
    log: list[Req] = field(default_factory=list)
    raised: list[str] = field(default_factory=list)  # parents whose strategy let one escape
    told_done: list[str] = field(default_factory=list)  # on_child_done, by child id
    child_ids: dict[str, list[str]] = field(default_factory=dict)  # parent -> its children
    careless: bool = True  # False: the strategy catches every refusal and has no bug


class Chaos(Strategy, tag="chaos"):
    """A strategy that asks for anything (`World.bursts`), or does what a test's hook says."""

    timers: int = 0
    world: ClassVar[World]

    @classmethod
    def from_params(cls, p: Parent) -> Chaos:
        return cls()

    # ---- handlers: each runs the next burst

    def on_start(self, c: OrderContext) -> None:
        c.set_timer(c.now + SECOND, "wake")
        self._turn("start", c)

    def on_amend(self, c: OrderContext) -> None:
        self._turn("amend", c)

    def on_canceling(self, c: OrderContext) -> None:
        self._turn("canceling", c)

    def on_timer(self, c: OrderContext, token: str) -> None:
        self.timers += 1
        c.set_timer(c.now + SECOND, "wake")
        self._turn("timer", c)

    def on_fill(self, c: OrderContext, child: Child, qty: int, px: int, liquidity: str) -> None:
        self._turn("fill", c)

    def on_child_done(self, c: OrderContext, child: Child) -> None:
        self.world.told_done.append(child.child_id)
        self._turn("child_done", c)

    def on_trade_amended(self, c: OrderContext, child: Child, qty_delta: int,
                         px: int) -> None:
        self._turn(f"trade_amended {child.child_id} {qty_delta} {px}", c)

    def on_market(self, c: OrderContext, symbol_id: int, event: str) -> None:
        self._turn(f"market {symbol_id} {event}", c)

    # ---- acting

    def _turn(self, event: str, c: OrderContext) -> None:
        w = self.world
        try:
            if w.hook is not None:
                w.hook(event, c)
            elif w.bursts:
                for act in w.bursts.popleft():
                    self._act(c, act)
        except BaseException:
            w.raised.append(c.parent.order_id)
            raise

    def _act(self, c: OrderContext, act: Act) -> None:
        w = self.world
        if isinstance(act, Boom):
            if w.careless:
                raise RuntimeError("chaos: a bug in the strategy")
            return
        p = c.parent
        req = Req(p.order_id, type(act).__name__.lower(), len(w.outputs))
        w.log.append(req)
        req.outcome = "skipped"  # no child to act on yet
        try:
            if isinstance(act, Send):
                room = p.cap_qty() - p.cum_qty - c.open_qty()
                qty = _qty(act.qty, room, 0, 0)
                req.child_id = c.send(act.venue, act.style, qty, _px(act.px, p))
            elif isinstance(act, Amend):
                cid = self._pick(c, act.child)
                if not cid:
                    return
                ch = self._find(c, cid)
                room = p.cap_qty() - p.cum_qty - c.open_qty()
                qty = _qty(act.qty, room, ch.qty if ch else 0, ch.cum_qty if ch else 0)
                c.replace(cid, qty, _px(act.px, p))
            else:
                cid = self._pick(c, act.child)
                if not cid:
                    return
                c.cancel(cid, "chaos")
            req.outcome = "ok"
        except InvariantError as e:
            req.outcome, req.error = "refused", str(e)
            if w.careless and not act.catch:
                raise
        except Exception as e:
            req.outcome, req.error = "error", f"{type(e).__name__}: {e}"
            raise
        finally:
            req.after = len(w.outputs)

    def _pick(self, c: OrderContext, i: int) -> str:
        """One of the order's children ("" if it has none yet), one of another order's, or
        one that does not exist."""
        mine = [ch.child_id for ch in c.children(live_only=False)]
        if i >= 0:
            return mine[i % len(mine)] if mine else ""
        if i == -2:
            theirs = [cid for oid, cids in self.world.child_ids.items()
                      if oid != c.parent.order_id for cid in cids]
            if theirs:
                return theirs[0]
        return f"{c.parent.order_id}.999"

    @staticmethod
    def _find(c: OrderContext, child_id: str) -> Child | None:
        for ch in c.children(live_only=False):
            if ch.child_id == child_id:
                return ch
        return None


def _qty(q: Qty, room: int, child_qty: int, child_filled: int) -> int:
    kind, n = q
    if kind == "part":
        return child_qty + max(room, 0) * n // 4
    if kind == "shrink":
        return child_filled + max(child_qty - child_filled, 0) * n // 4
    if kind == "room":
        return child_qty + room + n
    if kind == "filled":
        return child_filled + n
    return n


def _px(spec: Px, p: Parent) -> int:
    kind, t = spec
    if kind == "abs":
        return t
    base = (p.limit_px if kind == "lim" else p.cap_px()) if p.ord_type == "limit" else REF
    return base - t * TICK if p.side == "buy" else base + t * TICK


# ====================================================================== driving the container


class Rig(StreamKit):
    """The container on the stream kit: `feed` sequences a message and returns what the
    container published in answer (decoded). The world's outputs are the kit's, appended
    as the container publishes, so the chaos strategy sees its own requests' effect."""

    def __init__(self, world: World, refdata: Any = None) -> None:
        self.world = world
        Chaos.world = world
        self.app = AlgoEngine()
        super().__init__([self.app], refdata=refdata, start_ns=T0)
        world.outputs = self.outputs
        self.start(DAY, seed=7, config_digest="test", at_ns=T0 + MS)

    def feed(self, msg: Message, source: int = OMS, after_ns: int = MS) -> list[Message]:
        return self.send(msg, source, after_ns=after_ns)

    def tick(self) -> list[Message]:
        """A second passes: the strategies' timers fire."""
        return self.advance(SECOND)

    def accept(self, oid: str = A, side: Side = "buy", qty: int = 1_000,
               ord_type: OrdType = "limit", limit_px: int = PX) -> list[Message]:
        return self.feed(ParentAccepted(oid, "ALPHA", oid, "IBM", side, qty, ord_type,
                                        limit_px if ord_type == "limit" else 0, "day",
                                        "chaos", ()))

    def venue(self, msg: Message) -> list[Message]:
        return self.feed(msg, VENUE_GW)

    def routed(self, child_id: str) -> list[Message]:
        """The OMS sent the child on (the venue has yet to take it)."""
        c = self.app.state.children[child_id]
        return self.feed(ChildOrderSent("new", c.parent_id, child_id, c.venue, c.destination,
                                        "IBM", "buy", c.qty, c.ord_type, c.limit_px, c.tif))

    def sent(self, child_id: str) -> list[Message]:
        """The OMS sent the child on and the venue took it (it is live)."""
        return self.routed(child_id) + self.venue(VenueAck(child_id, f"V-{child_id}"))


def of[T](msgs: list[Message], t: type[T]) -> list[T]:
    return [m for m in msgs if isinstance(m, t)]


def codes(msgs: list[Message]) -> list[str]:
    return [a.code for a in of(msgs, Alert)]


@pytest.fixture
def chaos(monkeypatch: pytest.MonkeyPatch) -> None:
    """The container runs `Chaos` for the algo "chaos" (the very dict app.py imported)."""
    monkeypatch.setitem(algo_engine.strategies.STRATEGIES, "chaos", Chaos)


def hooked(hook: Callable[[str, OrderContext], None], refdata: Any = None) -> Rig:
    return Rig(World(hook=hook), refdata)


# ====================================================================== the model


@dataclass
class MChild:
    child_id: str
    parent: str
    venue: str
    destination: str  # "": the OMS refuses it
    ord_type: str
    qty: int
    px: int
    filled: int = 0
    status: str = "sent"  # sent (asked of the OMS), routed (sent on), live (at the venue), done
    pend: str = ""  # "", cancel, replace
    pend_qty: int = 0
    pend_px: int = 0

    @property
    def done(self) -> bool:
        return self.status == "done"

    def exposure(self) -> int:
        if self.done:
            return 0
        q = max(self.qty, self.pend_qty) if self.pend == "replace" else self.qty
        return max(0, q - self.filled)


@dataclass
class MParent:
    oid: str
    side: str
    ord_type: str
    qty: int
    limit: int
    cum: int = 0
    canceling: bool = False
    amending: bool = False  # an amendment pending
    pend_qty: int = 0
    pend_px: int = 0
    failed: bool = False

    def cap_qty(self) -> int:
        return min(self.qty, self.pend_qty) if self.amending else self.qty

    def cap_px(self) -> int:
        if self.amending and self.ord_type == "limit":
            return min(self.limit, self.pend_px) if self.side == "buy" else max(self.limit,
                                                                               self.pend_px)
        return self.limit

    @property
    def frozen(self) -> bool:
        return self.canceling or self.amending

    def priced_inside(self, ord_type: str, px: int) -> bool:
        if self.ord_type == "market":
            return ord_type == "market" or px > 0
        if ord_type != "limit" or px <= 0:
            return False
        cap = self.cap_px()
        return px <= cap if self.side == "buy" else px >= cap


_FAILED = re.compile(r"strategy of (\S+) stopped")


class Model:
    """What the container must have done, from what was fed in and what came out."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.parents: dict[str, MParent] = {}
        self.children: dict[str, MChild] = {}
        self.down: set[str] = set()  # destinations
        self.seen = 0  # outputs checked
        self.logged = 0  # requests checked
        self.refused = 0
        self.invariant_alerts = 0
        self.failed_alerts: dict[str, int] = {}
        self.fit_checks = 0
        self.met_in_flight = 0  # amendments that met a child the venue had not taken
        self.halts: list[str] = []  # ops' halts in force (scopes)
        self.ever_halted = False

    # ---- what was fed in

    def kids(self, oid: str) -> list[MChild]:
        return [c for c in self.children.values() if c.parent == oid]

    def open(self, oid: str) -> int:
        return sum(c.exposure() for c in self.kids(oid))

    def fed(self, msg: Message) -> None:
        if isinstance(msg, ParentAccepted):
            self.parents[msg.order_id] = MParent(msg.order_id, msg.side, msg.ord_type,
                                                 msg.qty, msg.limit_px)
        elif isinstance(msg, ParentAmended):
            p = self.parents[msg.order_id]
            if msg.pending:
                p.amending, p.pend_qty, p.pend_px = True, msg.qty, msg.limit_px
            else:  # in force: a new amendment, a refused one, or a refused cancel
                p.amending = p.canceling = False
                p.qty, p.limit = msg.qty, msg.limit_px
        elif isinstance(msg, ParentCanceling):
            # The OMS takes an order down during a pending amendment only on its own (kill
            # switch, end of day, venue: a client's cancel waits for the replace), and then
            # refuses the amendment: the old terms stand.
            p = self.parents[msg.order_id]
            p.canceling, p.amending = True, False
        elif isinstance(msg, VenueStatus):
            (self.down.add if msg.status == "down" else self.down.discard)(msg.destination)
        elif isinstance(msg, HaltTrading):
            if msg.scope not in self.halts:
                self.halts.append(msg.scope)
            self.ever_halted = True
        elif isinstance(msg, ResumeTrading):
            if msg.scope in self.halts:
                self.halts.remove(msg.scope)
        elif isinstance(msg, ChildOrderSent):
            c = self.children[msg.child_id]
            c.status = "routed" if c.status == "sent" else c.status
        elif isinstance(msg, VenueAck):
            c = self.children[msg.child_id]
            c.status = "live" if c.status in ("sent", "routed") else c.status
        elif isinstance(msg, VenueFill):
            c = self.children[msg.child_id]
            c.filled += msg.qty
            self.parents[c.parent].cum += msg.qty
            c.status = "done" if c.filled >= c.qty else "live"  # the venue's order is done
            if c.done and c.pend == "cancel":
                c.pend = ""  # moot (a replace in flight stays for the venue to refuse)
        elif isinstance(msg, (VenueCanceled, VenueReject)):
            c = self.children[msg.child_id]
            c.status, c.pend = "done", ""
        elif isinstance(msg, VenueReplaced):
            c = self.children[msg.child_id]
            c.qty, c.px, c.pend = msg.qty, msg.limit_px, ""
            if c.filled >= c.qty:
                c.status = "done"
        elif isinstance(msg, VenueCancelRejected):
            self.children[msg.child_id].pend = ""
        elif isinstance(msg, ChildRequestRejected):
            c = self.children[msg.child_id]
            if msg.request == "new":
                c.status = "done"
            c.pend = ""

    # ---- what came out

    def check(self) -> None:
        """Check what the container published since the last call, in order, and the
        requests the strategy made meanwhile."""
        outs = self.world.outputs
        must_cancel: dict[str, set[str]] = {}
        while self.seen < len(outs):
            m = outs[self.seen]
            self.seen += 1
            if isinstance(m, NewChild):
                self._new(m)
            elif isinstance(m, ReplaceChild):
                self._replace(m)
            elif isinstance(m, CancelChild):
                c = self.children[m.child_id]
                assert c.parent == m.parent_id
                c.pend = "cancel"
                must_cancel.get(m.parent_id, set()).discard(m.child_id)
            elif isinstance(m, Alert) and m.code == "algo_invariant":
                self.invariant_alerts += 1
            elif isinstance(m, Alert) and m.code == "strategy_failed":
                got = _FAILED.search(m.text)
                assert got, m.text
                oid = got.group(1)
                self.failed_alerts[oid] = self.failed_alerts.get(oid, 0) + 1
                self.parents[oid].failed = True
                must_cancel[oid] = {c.child_id for c in self.kids(oid)
                                    if not c.done and c.pend != "cancel"}
        for oid, left in must_cancel.items():
            assert not left, f"{oid}'s strategy stopped, but {sorted(left)} were not cancelled"
        self._requests()
        self._told()

    def _new(self, m: NewChild) -> None:
        p = self.parents[m.parent_id]
        assert not p.failed, f"a new child {m.child_id} of {p.oid} after its strategy stopped"
        assert not p.frozen, f"a new child {m.child_id} of {p.oid} while frozen"
        if f"DMA-{m.venue}" in self.down:
            # Only a "dma" child goes on to a venue that is down, with no destination: the
            # OMS refuses it (it ends a DMA order back to the client); nothing reaches the
            # venue. Its order type and time in force are the parent's.
            assert m.destination == "", f"a new child to {m.venue}, down, via {m.destination}"
            assert (m.ord_type, m.tif) == (p.ord_type, "day"), m
        else:
            assert m.destination == f"DMA-{m.venue}"
        assert m.qty > 0
        assert m.child_id not in self.children
        assert p.priced_inside(m.ord_type, m.limit_px), (
            f"{p.side} {p.ord_type} parent at {p.cap_px()}: a {m.ord_type} child at "
            f"{m.limit_px}")
        self.children[m.child_id] = MChild(m.child_id, p.oid, m.venue, m.destination,
                                           m.ord_type, m.qty, m.limit_px)
        self.world.child_ids.setdefault(p.oid, []).append(m.child_id)
        assert self.open(p.oid) <= p.cap_qty() - p.cum, (
            f"{p.oid}: open {self.open(p.oid)} > cap {p.cap_qty()} - filled {p.cum}")

    def _replace(self, m: ReplaceChild) -> None:
        p = self.parents[m.parent_id]
        c = self.children[m.child_id]
        assert c.parent == p.oid
        assert not p.failed, f"a replace of {c.child_id} after {p.oid}'s strategy stopped"
        assert c.status == "live" and not c.pend, (  # the venue has it, and nothing in flight
            f"a replace of {c.child_id} ({c.status}, {c.pend or 'nothing'} in flight)")
        assert m.qty > c.filled, f"a replace of {c.child_id} to {m.qty}, filled {c.filled}"
        px = m.limit_px or c.px
        assert p.priced_inside(c.ord_type, px if c.ord_type == "limit" else 0), (
            f"{p.side} parent at {p.cap_px()}: {c.child_id} replaced to {px}")
        c.pend, c.pend_qty, c.pend_px = "replace", m.qty, px
        if m.qty > c.qty:
            assert not p.frozen, f"{c.child_id} grows to {m.qty} while {p.oid} is frozen"
            assert self.open(p.oid) <= p.cap_qty() - p.cum, (
                f"{p.oid}: open {self.open(p.oid)} > cap {p.cap_qty()} - filled {p.cum}")

    def _requests(self) -> None:
        outs = self.world.outputs
        for r in self.world.log[self.logged:]:
            self.logged += 1
            made = outs[r.before:r.after]
            assert r.outcome != "error", r.error
            if r.outcome == "skipped":
                assert made == []
            elif r.outcome == "refused":
                self.refused += 1
                # a child in flight is no reason to refuse a replace: only one being
                # cancelled or done
                assert "(sent)" not in r.error and "replace is in flight" not in r.error, (
                    r.error)
                assert [(type(m), getattr(m, "code", "")) for m in made] == [
                    (Alert, "algo_invariant")], made
            elif r.kind == "send" and self.halts and made == []:
                pass  # held: sent at the resume, if it still fits then
            elif r.kind == "send":
                assert len(made) == 1 and isinstance(made[0], NewChild), made
                assert made[0].child_id == r.child_id
            elif r.kind == "amend":
                assert made == [] or (len(made) == 1 and isinstance(made[0], ReplaceChild)), made
            else:
                assert made == [] or (len(made) == 1 and isinstance(made[0], CancelChild)), made
        assert self.invariant_alerts == self.refused
        for oid in self.parents:
            assert self.failed_alerts.get(oid, 0) == min(1, self.world.raised.count(oid))

    def _told(self) -> None:
        """The strategy hears of each child's end once, once the venue is done with it."""
        told = self.world.told_done
        assert len(told) == len(set(told)), f"on_child_done twice: {told}"
        for cid in told:
            if cid not in self.children:
                assert self.ever_halted, f"{cid} reported done, never sent"
                continue  # held through a halt, ended before it was sent
            assert self.children[cid].done, f"{cid} reported done while it is live"
        for oid, p in self.parents.items():
            if p.failed:
                continue  # a stopped strategy hears nothing more
            missing = [c.child_id for c in self.kids(oid)
                       if c.done and not c.pend and c.child_id not in told]
            assert not missing, f"the strategy of {oid} never heard {missing} ended"

    def amended(self, oid: str, app: AlgoEngine) -> None:
        """After an amendment (and the strategy's on_amend) the container made the children
        fit the terms now in force: each child not being cancelled, at the terms it is to
        have (a replace waiting in the container, else the one in flight, else its own), is
        inside the limit, and their sizes fit in what the parent has left."""
        p = self.parents[oid]
        if p.canceling:
            return  # the OMS is cancelling every child
        self.fit_checks += 1
        total = 0
        for c in self.kids(oid):
            if c.done or c.pend == "cancel":
                continue
            ch = app.state.children[c.child_id]
            qty, px = ((ch.want_qty, ch.want_px) if ch.want_qty else
                       (c.pend_qty, c.pend_px) if c.pend == "replace" else (c.qty, c.px))
            total += max(0, qty - c.filled)
            assert p.priced_inside(c.ord_type, px), (
                f"{oid} amended to limit {p.cap_px()}: {c.child_id} to be at {px}")
        room = max(0, p.cap_qty() - p.cum)
        assert total <= room, (
            f"{oid} amended to {p.cap_qty()} (filled {p.cum}): the children will have "
            f"{total} open: {self.kids(oid)}")

    @staticmethod
    def waiting(app: AlgoEngine) -> None:
        """A replace waits only while it must: the venue has not taken the child, or a
        replace of ours before it is unanswered."""
        for c in app.state.children.values():
            if c.want_qty:
                assert c.live and c.amend_now == "wait", (
                    f"{c.child_id} ({c.status}, {c.pending or 'nothing'} in flight) holds a "
                    f"replace to {c.want_qty} at {c.want_px}")


# ====================================================================== hypothesis


_part = st.tuples(st.just("part"), st.integers(1, 4))  # a part of the room (send or grow)
_shrink = st.tuples(st.just("shrink"), st.integers(0, 4))  # a part of a child's open shares
_room = st.tuples(st.just("room"), st.integers(-3, 2))  # all the room, give or take
_filled = st.tuples(st.just("filled"), st.integers(-2, 2))  # around a child's filled shares
_abs = st.tuples(st.just("abs"), st.sampled_from([0, -1, -100, 1, 100, 10**9, 2**62]))
_send_qty = st.one_of(_part, _part, _part, _part, _room, _abs, _filled)
_replace_qty = st.one_of(_part, _part, _shrink, _shrink, _room, _filled, _abs)
_px_spec = st.one_of(
    st.tuples(st.sampled_from(["lim", "cap"]), st.integers(0, 5)),
    st.tuples(st.sampled_from(["lim", "cap"]), st.integers(-3, 5)),
    st.tuples(st.just("abs"), st.sampled_from([0, -TICK, 1, 10**9])),
)
_catch = st.sampled_from([True] * 7 + [False])
_which = st.sampled_from([0, 1, 2, 3, 4, 5, 0, 1, 2, -1, -2])  # a child of the order's
_acts: dict[str, st.SearchStrategy[Act]] = {
    "send": st.builds(Send, st.sampled_from(VENUES), st.sampled_from(STYLES), _send_qty,
                      _px_spec, _catch),
    "amend": st.builds(Amend, _which, _replace_qty, _px_spec, _catch),
    "cancel": st.builds(Cancel, _which, _catch),
    "boom": st.just(Boom()),
}
_act = st.sampled_from(["send"] * 10 + ["amend"] * 7 + ["cancel"] * 2 + ["boom"]).flatmap(
    _acts.__getitem__)
_burst = st.lists(_act, max_size=4)

#: what the stream brings: (kind, which parent or child, a number, a flag)
_event = st.tuples(
    st.sampled_from(["tick"] * 10 + ["sent"] * 4 + ["ack"] * 4 + ["fill"] * 5 + [
        "replaced"] * 4 + ["amend"] * 3 + ["amend_done"] * 2 + ["cancel_refused"] * 2 + [
        "cxl", "oms_rej", "venue_rej", "new_rej", "amend_refused", "canceling", "venue"] + [
        "halt"] * 2 + ["resume"] * 3),
    st.integers(0, 50), st.integers(-2_000, 2_000), st.booleans())

_parent = st.tuples(st.sampled_from(["buy", "sell", "sell_short"]),
                    st.sampled_from(["limit", "limit", "market"]),
                    st.one_of(*[st.integers(100, 5_000)] * 4, st.sampled_from([1, 2, 3, 7, 10])),
                    st.integers(-50, 50))


class Driver:
    """Turns abstract events into messages that make sense for the state of the model
    (a fill of a live child, a venue's answer to a request in flight, ...), feeds them
    and checks."""

    def __init__(self, rig: Rig, model: Model) -> None:
        self.rig, self.model = rig, model
        self.execs = 0

    def feed(self, msg: Message, source: int = OMS, after_ns: int = MS) -> None:
        if isinstance(msg, ParentAmended) and any(
                c.status in ("sent", "routed") or c.pend for c in self.model.kids(msg.order_id)
                if not c.done):
            self.model.met_in_flight += 1
        self.model.fed(msg)
        self.rig.feed(msg, source, after_ns)
        self.model.check()
        self.model.waiting(self.rig.app)
        if isinstance(msg, ParentAmended):
            self.model.amended(msg.order_id, self.rig.app)

    def _child(self, i: int, ok: Callable[[MChild], bool]) -> MChild | None:
        cands = [c for c in self.model.children.values() if ok(c)]
        return cands[i % len(cands)] if cands else None

    def _sent(self, c: MChild) -> None:
        """The OMS's answer to a new child: sent on, or refused (no destination)."""
        if not c.destination:
            self.feed(ChildRequestRejected(c.parent, c.child_id, "new", "venue down"))
            return
        self.feed(ChildOrderSent("new", c.parent, c.child_id, c.venue, c.destination, "IBM",
                                 "buy", c.qty, "limit" if c.ord_type == "limit" else "market",
                                 c.px))

    def step(self, kind: str, i: int, n: int, flag: bool) -> None:
        m = self.model
        oids = list(m.parents)
        p = m.parents[oids[i % len(oids)]]
        if kind == "tick":
            if flag:  # the OMS has sent on what was asked of it
                for asked in list(m.children.values()):
                    if asked.status == "sent" and not asked.pend:
                        self._sent(asked)
            self.feed(ClockTick(), CONTROL, SECOND)
        elif kind == "sent":
            c = self._child(i, lambda c: c.status == "sent" and not c.pend)
            if c:
                self._sent(c)
        elif kind == "ack":
            c = self._child(i, lambda c: c.status == "routed")
            if c:
                self.feed(VenueAck(c.child_id, f"V-{c.child_id}"), VENUE_GW)
        elif kind == "fill":  # (a fill of a child the venue had not acknowledged: it has it)
            c = self._child(i, lambda c: c.status in ("routed", "live"))
            if c:
                self.execs += 1
                left = c.qty - c.filled
                qty = left if flag else max(1, left * (abs(n) % 100) // 100)
                self.feed(VenueFill(c.child_id, f"E{self.execs}", qty, c.px or REF),
                          VENUE_GW)
        elif kind == "cxl":
            c = self._child(i, lambda c: c.status in ("routed", "live") or (
                c.status == "sent" and c.pend == "cancel"))
            if c:
                self.feed(VenueCanceled(c.child_id, unsolicited=c.pend != "cancel"), VENUE_GW)
        elif kind == "replaced":
            c = self._child(i, lambda c: c.pend == "replace" and not c.done)
            if c:
                self.feed(VenueReplaced(c.child_id, c.pend_qty, c.pend_px), VENUE_GW)
        elif kind == "oms_rej":
            c = self._child(i, lambda c: c.pend != "")
            if c:
                self.feed(ChildRequestRejected(c.parent, c.child_id,
                                               "cancel" if c.pend == "cancel" else "replace",
                                               "chaos"))
        elif kind == "venue_rej":
            c = self._child(i, lambda c: c.pend != "")
            if c:
                self.feed(VenueCancelRejected(c.child_id,
                                              "cancel" if c.pend == "cancel" else "replace",
                                              "too late"), VENUE_GW)
        elif kind == "new_rej":  # the OMS refuses what it has not sent on, the venue the rest
            c = self._child(i, lambda c: c.status in ("sent", "routed") and not c.pend)
            if c:
                if c.status == "sent":
                    self.feed(ChildRequestRejected(c.parent, c.child_id, "new", "chaos"))
                else:
                    self.feed(VenueReject(c.child_id, "chaos"), VENUE_GW)
        elif kind == "amend" and not p.frozen:
            qty = max(p.cum + 1, p.qty + n)
            px = max(TICK, p.limit + (n % 7 - 3) * TICK) if p.ord_type == "limit" else 0
            self.feed(ParentAmended(p.oid, qty, px, (), p.cum, pending=flag))
        elif kind == "amend_done" and p.amending and p.pend_qty > p.cum:
            self.feed(ParentAmended(p.oid, p.pend_qty, p.pend_px, (), p.cum))
        elif kind == "amend_refused" and p.amending:
            self.feed(ParentAmended(p.oid, p.qty, p.limit, (), p.cum))
        elif kind == "canceling" and not p.canceling:
            self.feed(ParentCanceling(p.oid, "client cancel"))
        elif kind == "cancel_refused" and p.canceling and not p.amending:
            self.feed(ParentAmended(p.oid, p.qty, p.limit, (), p.cum))
        elif kind == "venue":
            v = VENUES[i % len(VENUES)]
            self.feed(VenueStatus(f"DMA-{v}", v, "down" if flag else "up"), VENUE_GW)
        elif kind == "halt":
            scope = ("*", "IBM", "ALPHA", VENUES[i % len(VENUES)])[abs(n) % 4]
            self.feed(HaltTrading(scope, "chaos"), OPS)
        elif kind == "resume" and m.halts:
            self.feed(ResumeTrading(m.halts[i % len(m.halts)]), OPS)


@pytest.mark.usefixtures("chaos")
@settings(deadline=None, max_examples=800,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(careless=st.sampled_from([False, False, True]),
       parents=st.lists(_parent, min_size=1, max_size=2),
       down=st.frozensets(st.sampled_from(VENUES), max_size=1),
       bursts=st.lists(_burst, min_size=15, max_size=60),
       events=st.lists(_event, min_size=15, max_size=80))
def test_whatever_the_strategy_does_the_order_stays_safe(
        careless: bool, parents: list[tuple[str, str, int, int]], down: frozenset[str],
        bursts: list[list[Act]], events: list[tuple[str, int, int, bool]]) -> None:
    world = World(bursts=deque(bursts), careless=careless)
    rig = Rig(world)
    model = Model(world)
    drive = Driver(rig, model)
    for v in sorted(down):
        drive.feed(VenueStatus(f"DMA-{v}", v, "down"), VENUE_GW)
    for (side, ord_type, qty, ticks), oid in zip(parents, (A, B), strict=False):
        drive.feed(ParentAccepted(oid, "ALPHA", oid, "IBM", side,  # type: ignore[arg-type]
                                  qty, ord_type,  # type: ignore[arg-type]
                                  PX + ticks * TICK if ord_type == "limit" else 0, "day",
                                  "chaos", ()))
    for kind, i, n, flag in events:
        drive.step(kind, i, n, flag)
    # what the examples did (pytest --hypothesis-show-statistics)
    outs = world.outputs
    event(f"children sent: {min(len(of(outs, NewChild)), 5)}")
    event(f"children replaced: {min(len(of(outs, ReplaceChild)), 3)}")
    event(f"requests refused: {min(model.refused, 5)}")
    event(f"strategies stopped: {sum(model.failed_alerts.values())}")
    event(f"amendments checked: {min(model.fit_checks, 3)}")
    event(f"amendments that met a child in flight: {min(model.met_in_flight, 3)}")
    event(f"replaces that waited for the venue: {min(rig.app.state.counts.waited, 3)}")
    event(f"children held through a halt: {min(rig.app.state.counts.held, 3)}")
    # the strategies are part of the container's state: its snapshot holds them
    state = msgspec.msgpack.decode(rig.app.snapshot())
    assert set(state["strategies"]) == set(model.parents)


# ====================================================================== examples


def _refusal(c: OrderContext, *args: Any) -> str:
    try:
        c.send(*args)
    except InvariantError as e:
        return str(e)
    raise AssertionError("not refused")


@pytest.mark.usefixtures("chaos")
def test_a_child_beyond_the_parents_leaves_is_refused_with_an_alert() -> None:
    said: list[str] = []

    def hook(event: str, c: OrderContext) -> None:
        if event == "start":
            said.append(c.send("ARCX", "passive", 600, PX))
            said.append(_refusal(c, "XNYS", "passive", 401, PX))
            said.append(c.send("XNYS", "take", 400, PX))
            said.append(_refusal(c, "XNYS", "take", 1, PX))

    rig = hooked(hook)
    outs = rig.accept(qty=1_000)
    assert [(m.child_id, m.venue, m.qty, m.ord_type, m.tif, m.destination)
            for m in of(outs, NewChild)] == [
        ("ORD-A.1", "ARCX", 600, "limit", "day", "DMA-ARCX"),
        ("ORD-A.2", "XNYS", 400, "limit", "ioc", "DMA-XNYS")]
    assert "above what the parent has left (400 not yet placed)" in said[1]
    assert codes(outs) == ["algo_invariant", "algo_invariant"]
    assert rig.app.state.counts.refused_by_container == 2
    # a fill makes room only as the child's shares leave the open quantity: none
    rig.sent("ORD-A.1")
    rig.venue(VenueFill("ORD-A.1", "E1", 100, PX))
    assert rig.app.state.parents[A].failed == ""


@pytest.mark.usefixtures("chaos")
def test_a_child_to_a_venue_that_is_down_is_refused() -> None:
    said: list[str] = []

    def hook(event: str, c: OrderContext) -> None:
        if event == "timer":
            try:
                said.append(c.send("ARCX", "passive", 100, PX))
            except InvariantError as e:
                said.append(str(e))

    rig = hooked(hook)
    rig.accept()
    rig.venue(VenueStatus("DMA-ARCX", "ARCX", "down", "logged out"))
    outs = rig.tick()
    assert of(outs, NewChild) == [] and codes(outs) == ["algo_invariant"]
    assert said[-1] == "new child of 100 at ARCX: venue ARCX is down"
    rig.venue(VenueStatus("DMA-ARCX", "ARCX", "up"))
    outs = rig.tick()
    assert [(m.venue, m.destination) for m in of(outs, NewChild)] == [("ARCX", "DMA-ARCX")]
    assert codes(outs) == []


def test_a_dma_orders_child_to_a_venue_that_is_down_goes_to_the_oms_without_a_destination(
        ) -> None:
    """The one exception (app.py): a DMA order's child goes on with no destination, for the
    OMS to refuse (which ends the order back to its client); nothing reaches the venue."""
    rig = Rig(World())
    rig.venue(VenueStatus("DMA-ARCX", "ARCX", "down"))
    outs = rig.feed(ParentAccepted(A, "ALPHA", A, "IBM", "buy", 100, "limit", PX, "day",
                                   "dma", (("venue", "ARCX"),)))
    assert [(m.venue, m.destination, m.ord_type, m.tif) for m in of(outs, NewChild)] == [
        ("ARCX", "", "limit", "day")]
    assert codes(outs) == []


@pytest.mark.usefixtures("chaos")
def test_a_dma_style_child_of_another_strategy_to_a_venue_that_is_down_is_refused() -> None:
    """The exception is the DMA order's alone: any other strategy asking for the "dma"
    style on a venue that is down is refused like any other child."""
    said: list[str] = []

    def hook(event: str, c: OrderContext) -> None:
        if event == "start":
            said.append(_refusal(c, "ARCX", "dma", 100, PX))

    rig = hooked(hook)
    rig.venue(VenueStatus("DMA-ARCX", "ARCX", "down"))
    outs = rig.accept()
    assert of(outs, NewChild) == [] and codes(outs) == ["algo_invariant"]
    assert "down" in said[0]


@pytest.mark.usefixtures("chaos")
def test_a_sell_child_below_the_limit_and_a_market_child_of_a_limit_order_are_refused() -> None:
    said: list[str] = []

    def hook(event: str, c: OrderContext) -> None:
        if event == "start":
            said.append(_refusal(c, "ARCX", "passive", 100, PX - TICK))
            said.append(_refusal(c, "ARCX", "take", 100, 0))
            said.append(c.send("ARCX", "passive", 100, PX + TICK))
            said.append(c.send("ARCX", "dma", 100, PX))

    rig = hooked(hook)
    outs = rig.accept(side="sell")
    assert "a sell child at 999900 is below the parent's limit 1000000" in said[0]
    assert "a limit child needs a price" in said[1]
    assert [(m.qty, m.ord_type, m.limit_px) for m in of(outs, NewChild)] == [
        (100, "limit", PX + TICK), (100, "limit", PX)]
    assert codes(outs) == ["algo_invariant", "algo_invariant"]


@pytest.mark.usefixtures("chaos")
def test_a_market_order_may_have_market_children() -> None:
    def hook(event: str, c: OrderContext) -> None:
        if event == "start":
            c.send("ARCX", "take", 100)
            c.send("ARCX", "dma", 100)
            c.send("ARCX", "passive", 100, PX)

    rig = hooked(hook)
    outs = rig.accept(ord_type="market")
    assert [(m.ord_type, m.limit_px, m.tif) for m in of(outs, NewChild)] == [
        ("market", 0, "ioc"), ("market", 0, "day"), ("limit", PX, "day")]


@pytest.mark.usefixtures("chaos")
def test_a_strategy_that_raises_is_stopped_and_its_children_cancelled() -> None:
    called: list[str] = []

    def hook(event: str, c: OrderContext) -> None:
        called.append(event)
        if event == "start":
            c.send("ARCX", "passive", 300, PX)
            c.send("XNYS", "passive", 300, PX)
            c.send("BATS", "passive", 300, PX)
        elif event == "timer":
            c.cancel("ORD-A.3")
            raise ZeroDivisionError("oops")

    rig = hooked(hook)
    rig.accept()
    rig.sent("ORD-A.1")
    rig.sent("ORD-A.2")
    rig.venue(VenueFill("ORD-A.2", "E1", 300, PX))  # done before the failure
    outs = rig.tick()
    assert [(type(m).__name__, getattr(m, "child_id", getattr(m, "code", "")))
            for m in outs] == [
        ("CancelChild", "ORD-A.3"),  # the strategy's own, just before it raised
        ("Alert", "strategy_failed"),
        ("CancelChild", "ORD-A.1")]
    assert "ZeroDivisionError: oops" in of(outs, Alert)[0].text
    assert rig.app.state.counts.failed_strategies == 1
    # nothing reaches it any more: events, timers, amendments
    later = rig.venue(VenueFill("ORD-A.1", "E2", 100, PX))
    later += rig.tick()
    later += rig.feed(ParentAmended(A, 2_000, PX, (), 400))
    later += rig.venue(VenueCanceled("ORD-A.1"))
    later += rig.tick()
    assert later == []
    assert called == ["start", "fill", "child_done", "timer"]


@pytest.mark.usefixtures("chaos")
def test_an_uncaught_refusal_stops_the_strategy_too() -> None:
    def hook(event: str, c: OrderContext) -> None:
        if event == "start":
            c.send("ARCX", "passive", 500, PX)
            c.send("ARCX", "passive", 501, PX)

    rig = hooked(hook)
    outs = rig.accept()
    assert [(type(m).__name__, getattr(m, "code", "")) for m in outs] == [
        ("NewChild", ""), ("Alert", "algo_invariant"), ("Alert", "strategy_failed"),
        ("CancelChild", "")]


@pytest.mark.usefixtures("chaos")
def test_a_pending_amendment_shrinks_the_children_in_place() -> None:
    """The strategy does nothing: a pending amendment to fewer shares makes the container
    shrink the children in place (downstream replace), the newest last; a child that no
    longer has room is cancelled."""

    def hook(event: str, c: OrderContext) -> None:
        if event == "start":
            c.send("ARCX", "passive", 400, PX)
            c.send("XNYS", "passive", 400, PX)
            c.send("BATS", "passive", 200, PX)

    rig = hooked(hook)
    rig.accept(qty=1_000)
    for cid in ("ORD-A.1", "ORD-A.2"):
        rig.sent(cid)
    rig.venue(VenueFill("ORD-A.1", "E1", 100, PX))
    outs = rig.feed(ParentAmended(A, 600, PX, (), 100, pending=True))
    assert [(type(m).__name__, m.child_id, getattr(m, "qty", 0))
            for m in outs if isinstance(m, (ReplaceChild, CancelChild))] == [
        ("ReplaceChild", "ORD-A.2", 200), ("CancelChild", "ORD-A.3", 0)]
    assert of(outs, NewChild) == [] and codes(outs) == []
    assert of(outs, ReplaceChild)[0].limit_px == PX
    # in force: the children fit; nothing more to do
    rig.venue(VenueReplaced("ORD-A.2", 200, PX))
    rig.venue(VenueCanceled("ORD-A.3"))
    outs = rig.feed(ParentAmended(A, 600, PX, (), 100))
    assert outs == []


@pytest.mark.usefixtures("chaos")
def test_a_tighter_limit_reprices_the_children_in_place() -> None:
    def hook(event: str, c: OrderContext) -> None:
        if event == "start":
            c.send("ARCX", "passive", 300, PX)
            c.send("XNYS", "passive", 300, PX - 5 * TICK)

    rig = hooked(hook)
    rig.accept(side="buy")
    rig.sent("ORD-A.1")
    rig.sent("ORD-A.2")
    outs = rig.feed(ParentAmended(A, 1_000, PX - 2 * TICK, (), 0, pending=True))
    assert [(m.child_id, m.qty, m.limit_px) for m in of(outs, ReplaceChild)] == [
        ("ORD-A.1", 300, PX - 2 * TICK)]  # ORD-A.2 is inside the new limit already
    # a looser limit pending: the old one stays in force for children
    rig.venue(VenueReplaced("ORD-A.1", 300, PX - 2 * TICK))
    rig.feed(ParentAmended(A, 1_000, PX - 2 * TICK, (), 0))
    said: list[str] = []

    def hook2(event: str, c: OrderContext) -> None:
        if event == "amend":
            said.append(_refusal(c, "ARCX", "passive", 10, PX))
    rig.world.hook = hook2
    outs = rig.feed(ParentAmended(A, 1_000, PX + TICK, (), 0, pending=True))
    assert "being carried out" in said[0]
    assert of(outs, ReplaceChild) == [] and of(outs, NewChild) == []


@pytest.mark.usefixtures("chaos")
def test_children_go_round_robin_over_the_venues_destinations_that_are_up() -> None:
    """XNYS has two destinations in the test ref data (DMA-XNYS, then ALT-XNYS)."""

    def hook(event: str, c: OrderContext) -> None:
        if event == "timer":
            with contextlib.suppress(InvariantError):
                c.send("XNYS", "passive", 10, PX)

    rig = hooked(hook, oms_refdata())
    rig.accept()

    def dests(n: int) -> list[str]:
        out: list[str] = []
        for _ in range(n):
            out += [m.destination for m in of(rig.tick(), NewChild)]
        return out

    # before the venue gateway reports any session of the venue: the first by priority
    assert dests(2) == ["DMA-XNYS", "DMA-XNYS"]
    rig.venue(VenueStatus("DMA-XNYS", "XNYS", "up"))
    rig.venue(VenueStatus("ALT-XNYS", "XNYS", "up"))
    assert dests(4) == ["DMA-XNYS", "ALT-XNYS", "DMA-XNYS", "ALT-XNYS"]
    rig.venue(VenueStatus("DMA-XNYS", "XNYS", "down"))
    assert dests(2) == ["ALT-XNYS", "ALT-XNYS"]
    rig.venue(VenueStatus("ALT-XNYS", "XNYS", "down"))
    outs = rig.tick()
    assert of(outs, NewChild) == [] and codes(outs) == ["algo_invariant"]
    rig.venue(VenueStatus("DMA-XNYS", "XNYS", "up"))
    rig.venue(VenueStatus("ALT-XNYS", "XNYS", "up"))
    got = dests(4)
    assert sorted(got) == ["ALT-XNYS", "ALT-XNYS", "DMA-XNYS", "DMA-XNYS"]
    assert got[0] != got[1] and got[1] != got[2] and got[2] != got[3]


# ====================================================================== container bugs
# Each of these once failed (the property test found them); they pin the fixes.


@pytest.mark.usefixtures("chaos")
def test_a_stopped_strategys_children_are_cancelled_not_amended() -> None:
    """A strategy stopped, the venue refuses to cancel its child (too late), the client
    amends: the container must not amend the child (`ReplaceChild`) of a stopped strategy;
    it may cancel it again."""

    def hook(event: str, c: OrderContext) -> None:
        if event == "start":
            c.send("ARCX", "passive", 500, PX)
        elif event == "timer":
            raise RuntimeError("bug")

    rig = hooked(hook)
    rig.accept()
    rig.sent("ORD-A.1")
    assert [type(m) for m in rig.tick()] == [Alert, CancelChild]
    rig.venue(VenueCancelRejected("ORD-A.1", "cancel", "too late"))
    outs = rig.feed(ParentAmended(A, 300, PX - TICK, (), 0, pending=True))
    assert of(outs, ReplaceChild) == []


@pytest.mark.usefixtures("chaos")
def test_a_child_filled_while_a_replace_is_in_flight_ends() -> None:
    """The strategy grows its child; the child fills completely at its old size before the
    venue answers, and the venue refuses the replace (the order is filled). The child has
    ended: the strategy must hear it (`on_child_done`), and the container must not count
    it live (nor cancel it when the strategy stops)."""
    done: list[str] = []

    def hook(event: str, c: OrderContext) -> None:
        if event == "start":
            c.send("ARCX", "passive", 500, PX)
        elif event == "timer" and c.child("ORD-A.1").qty == 500:
            c.replace("ORD-A.1", 800)
        elif event == "child_done":
            done.append("ORD-A.1")

    rig = hooked(hook)
    rig.accept()
    rig.sent("ORD-A.1")
    assert [(m.child_id, m.qty) for m in of(rig.tick(), ReplaceChild)] == [("ORD-A.1", 800)]
    rig.venue(VenueFill("ORD-A.1", "E1", 500, PX))
    rig.venue(VenueCancelRejected("ORD-A.1", "replace", "order filled"))
    assert not rig.app.state.children["ORD-A.1"].live
    assert done == ["ORD-A.1"]


@pytest.mark.usefixtures("chaos")
def test_a_child_filled_completely_cannot_be_replaced_from_on_fill() -> None:
    """A strategy that tops its child up on every fill: on the fill that completes the
    child, the child is done; a replace of it must be refused, not sent."""
    said: list[str] = []

    def hook(event: str, c: OrderContext) -> None:
        if event == "start":
            c.send("ARCX", "passive", 500, PX)
        elif event == "fill":
            ch = c.child("ORD-A.1")
            try:
                c.replace(ch.child_id, ch.qty + 100)
            except InvariantError as e:
                said.append(str(e))

    rig = hooked(hook)
    rig.accept()
    rig.sent("ORD-A.1")
    outs = rig.venue(VenueFill("ORD-A.1", "E1", 500, PX))
    assert of(outs, ReplaceChild) == [] and len(said) == 1  # refused
    assert not rig.app.state.children["ORD-A.1"].live


@pytest.mark.usefixtures("chaos")
def test_an_amendment_fits_children_in_flight_too() -> None:
    """Two children, 600 and 400; the strategy is shrinking the first to 550 when the client
    amends the order to 700 (pending). The second must shrink to what the first leaves
    (150 at most), not stay at 400: otherwise the OMS's replace timeout cancels children."""

    def hook(event: str, c: OrderContext) -> None:
        if event == "start":
            c.send("ARCX", "passive", 600, PX)
            c.send("XNYS", "passive", 400, PX)
        elif event == "timer" and c.child("ORD-A.1").qty == 600 and not c.child(
                "ORD-A.1").pending:
            c.replace("ORD-A.1", 550)

    rig = hooked(hook)
    rig.accept()
    rig.sent("ORD-A.1")
    rig.sent("ORD-A.2")
    assert [(m.child_id, m.qty) for m in of(rig.tick(), ReplaceChild)] == [("ORD-A.1", 550)]
    outs = rig.feed(ParentAmended(A, 700, PX, (), 0, pending=True))
    fitted = [m for m in outs if isinstance(m, (ReplaceChild, CancelChild))
              and m.child_id == "ORD-A.2"]
    assert fitted and (isinstance(fitted[0], CancelChild) or fitted[0].qty <= 150)


@pytest.mark.usefixtures("chaos")
def test_a_refused_cancel_gives_the_order_back_to_the_strategy() -> None:
    """The OMS refuses a client's cancel (a venue would not let go of a child) and gives
    the algo engine the order's terms again (`ParentAmended`, in force): the order goes
    on, so the strategy may send children again."""
    said: list[str] = []

    def hook(event: str, c: OrderContext) -> None:
        if event == "start":
            c.send("ARCX", "passive", 300, PX)
        elif event == "timer":
            try:
                c.send("XNYS", "passive", 100, PX)
            except InvariantError as e:
                said.append(str(e))

    rig = hooked(hook)
    rig.accept()
    rig.feed(ParentCanceling(A, "client cancel"))
    rig.feed(ParentAmended(A, 1_000, PX, (), 0))  # the OMS's _refuse_cancel
    outs = rig.tick()
    assert said == [] and [m.venue for m in of(outs, NewChild)] == ["XNYS"]


@pytest.mark.usefixtures("chaos")
def test_a_strategy_subscribes_to_any_symbol_from_the_plants_snapshot() -> None:
    """An IBM order follows SPY as its reference: one `Subscribe` for the container
    (however many orders ask), the book starts from the plant's snapshot (quotes, last
    trade, phase, the session's volume so far) and follows the updates; the strategy
    hears the reference's phase changes."""
    heard: list[str] = []
    books: dict[str, tuple[int, int, int, int]] = {}

    def hook(event: str, c: OrderContext) -> None:
        if event == "start":
            c.subscribe("SPY")
        elif event.startswith("market"):
            heard.append(event)
        elif event == "timer":
            b = c.book(spy)
            books[c.parent.order_id] = (b.bid, b.ask, b.last_px, b.volume)

    rd = oms_refdata()
    spy = rd.by_name("SPY").id
    rig = hooked(hook, rd)
    outs = rig.accept()
    assert of(outs, Subscribe) == [Subscribe(spy, "algo")]
    assert of(rig.accept(B), Subscribe) == []  # already subscribed
    t = rig.now
    rig.feed(MarketSnapshot(spy, (Quote(spy, "ARCX", 167_4200, 500, 167_4300, 400, t, "",
                                        167_4200, 500, 167_4300, 400),),
                            (Trade(spy, "ARCX", 167_4250, 100, t, flags=REGULAR_WAY),),
                            "trading", volume=1_000_000), MARKET)
    rig.feed(Trade(spy, "BATS", 167_4300, 300, rig.now, flags=REGULAR_WAY), MARKET)
    rig.feed(TradingStatus(spy, "ARCX", "halted", "news"), MARKET)
    rig.tick()
    assert books == {A: (167_4200, 167_4300, 167_4300, 1_000_300),
                     B: (167_4200, 167_4300, 167_4300, 1_000_300)}
    # the snapshot's phase matches the book's ("trading"); the halt is news to both
    assert heard == [f"market {spy} trading", f"market {spy} trading",
                     f"market {spy} halted", f"market {spy} halted"]
