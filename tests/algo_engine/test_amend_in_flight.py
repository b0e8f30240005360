"""Amendments that meet a child in flight.

A child is in flight from the `NewChild` that asks for it until the venue takes it
(`VenueAck`, or a fill or restatement, which say as much), and while a request of
ours (a replace) waits for the venue's answer. A client's amendment
(`ParentAmended`, after a replace) can reach the container in that time: the
OMS may even have carried it out before it saw the child. None of that is an
invariant violation: the change waits for the venue's answer and goes then,
fitted to the order's terms in force (never more open than the parent has
left), and the strategy goes on.

DMA runs with the real OMS (`Lagged`: the OMS and the container on the stream
kit, outputs held back where the test says, so that a client's replace
overtakes the child); VWAP with the strategy tests' `Sim` whose venue holds its
acknowledgements (`SlowVenue`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import algo_engine.strategies
from algo_engine.context import OrderContext
from algo_engine.orders import Child
from algo_engine.strategy import InvariantError
from refdata import build as refdata_build
from refdata import load as refdata_load
from refdata.model import RefData
from sequencer import sources
from sequencer.frames import encode_input
from sequencer.messages import TYPE_ID, Message, decode, encode
from sequencer.messages.control import Alert, ClockTick
from sequencer.messages.executions import (
    ExecutionReport,
    VenueAck,
    VenueCanceled,
    VenueCancelRejected,
    VenueFill,
    VenueReplaced,
)
from sequencer.messages.orders import (
    CancelChild,
    ChildOrderSent,
    ChildRequestRejected,
    NewChild,
    ParentAmended,
    ReplaceChild,
    ReplaceOrder,
)
from tests.algo_engine.test_container import PX as PX_C
from tests.algo_engine.test_container import TICK, A, Chaos, Rig, codes, hooked, of
from tests.algo_engine.test_dma_stub import PX, Both, dma_order
from tests.algo_engine.test_vwap_strategy import (
    ARRIVAL,
    ASK,
    BID,
    CENT,
    DAY,
    GATEWAY,
    OMS,
    OPEN,
    SECOND,
    Sim,
    VChild,
    at,
)
from tests.oms.fixtures import ALGO, CLIENT_GW, MS, VENUE_GW, of_type

CHILD = "20131008-1.1"
CHILD2 = "20131008-1.2"
OMS_SOURCE, SEQUENCER = sources.OMS, sources.SEQUENCER


# ====================================================================== the container


def chaos_rig(hook: Callable[[str, OrderContext], None]) -> Rig:
    """The container tests' rig, its `Chaos` strategy doing what `hook` says."""
    rig = hooked(hook)
    rig.accept(qty=1_000)
    return rig


@pytest.fixture
def chaos(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(algo_engine.strategies.STRATEGIES, "chaos", Chaos)


@pytest.mark.usefixtures("chaos")
def test_a_replace_of_a_child_the_venue_has_not_taken_waits_and_goes_fitted() -> None:
    """The strategy shrinks its child while it is on its way (the OMS has sent it on, the
    venue has not taken it): nothing goes, and nothing is refused. A pending amendment
    to 300 comes meanwhile: what waits is fitted to it. The venue takes the child: the
    replace goes, for what fits."""
    said: list[str] = []

    def hook(event: str, c: OrderContext) -> None:
        if event == "start":
            c.send("ARCX", "passive", 500, PX_C)
        elif event == "timer" and c.child("ORD-A.1").target == (500, PX_C):
            try:
                c.replace("ORD-A.1", 400)
            except InvariantError as e:
                said.append(str(e))

    rig = chaos_rig(hook)
    rig.routed("ORD-A.1")
    outs = rig.tick()
    assert said == [] and outs == []
    ch = rig.app.state.children["ORD-A.1"]
    assert (ch.status, ch.want_qty, ch.want_px, ch.exposure) == ("sent", 400, PX_C, 500)
    outs = rig.feed(ParentAmended(A, 300, PX_C, (), 0, pending=True))
    assert outs == [] and (ch.want_qty, ch.want_px) == (300, PX_C)
    outs = rig.venue(VenueAck("ORD-A.1", "V1"))
    assert [(m.child_id, m.qty, m.limit_px) for m in of(outs, ReplaceChild)] == [
        ("ORD-A.1", 300, PX_C)]
    assert (ch.status, ch.pending, ch.want_qty) == ("live", "replace", 0)
    assert rig.app.state.counts.waited == 1 and codes(rig.outputs) == []


@pytest.mark.usefixtures("chaos")
def test_a_replace_while_one_is_in_flight_waits_for_its_answer() -> None:
    def hook(event: str, c: OrderContext) -> None:
        if event == "start":
            c.send("ARCX", "passive", 500, PX_C)

    rig = chaos_rig(hook)
    rig.sent("ORD-A.1")
    ctx = rig.app._octx(rig.app.state.parents[A])
    ctx.replace("ORD-A.1", 400)
    ctx.replace("ORD-A.1", 350, PX_C - TICK)  # the first is in flight: this one waits
    assert [(m.qty, m.limit_px) for m in of(rig.outputs, ReplaceChild)] == [(400, PX_C)]
    outs = rig.venue(VenueReplaced("ORD-A.1", 400, PX_C))
    assert [(m.qty, m.limit_px) for m in of(outs, ReplaceChild)] == [(350, PX_C - TICK)]
    # a third, back to what the venue will have: nothing more goes
    ctx.replace("ORD-A.1", 400, PX_C)
    assert rig.app.state.children["ORD-A.1"].want_qty == 400
    ctx.replace("ORD-A.1", 350, PX_C - TICK)
    assert rig.app.state.children["ORD-A.1"].want_qty == 0
    rig.venue(VenueReplaced("ORD-A.1", 350, PX_C - TICK))
    assert len(of(rig.outputs, ReplaceChild)) == 2 and codes(rig.outputs) == []


@pytest.mark.usefixtures("chaos")
def test_a_cancel_drops_a_waiting_replace_and_a_child_being_cancelled_is_not_amended(
        ) -> None:
    def hook(event: str, c: OrderContext) -> None:
        if event == "start":
            c.send("ARCX", "passive", 500, PX_C)

    rig = chaos_rig(hook)
    rig.routed("ORD-A.1")
    ctx = rig.app._octx(rig.app.state.parents[A])
    ctx.replace("ORD-A.1", 400)
    ctx.cancel("ORD-A.1")
    ch = rig.app.state.children["ORD-A.1"]
    assert (ch.pending, ch.want_qty) == ("cancel", 0)
    with pytest.raises(InvariantError, match="a cancel is in flight"):
        ctx.replace("ORD-A.1", 300)
    outs = rig.venue(VenueAck("ORD-A.1", "V1"))
    assert of(outs, ReplaceChild) == []


@pytest.mark.usefixtures("chaos")
def test_a_waiting_growth_goes_only_into_what_the_order_has_left() -> None:
    """Two children of 300 in an order of 1,000. The first grows to 500 while on its way:
    that counts in the open quantity at once (the second may not grow into it). The
    order is amended to 700: the second shrinks to 200. When the venue takes the first,
    its growth goes only as far as the order allows beside the second's exposure (300
    until its shrink is answered): to 400."""
    def hook(event: str, c: OrderContext) -> None:
        if event == "start":
            c.send("ARCX", "passive", 300, PX_C)
            c.send("XNYS", "passive", 300, PX_C)

    rig = chaos_rig(hook)
    rig.routed("ORD-A.1")
    rig.sent("ORD-A.2")
    ctx = rig.app._octx(rig.app.state.parents[A])
    ctx.replace("ORD-A.1", 500)  # waits; counts in the open quantity
    with pytest.raises(InvariantError, match="above what the parent has left"):
        ctx.replace("ORD-A.2", 600)
    rig.feed(ParentAmended(A, 700, PX_C, (), 0))  # in force: less room
    outs = rig.venue(VenueAck("ORD-A.1", "V1"))
    assert [(m.child_id, m.qty) for m in of(outs, ReplaceChild)] == [("ORD-A.1", 400)]


# ====================================================================== DMA with the OMS


class Lagged(Both):
    """The OMS and the container on the stream kit, with the latency of a live day where
    the test wants it: `hold` sequences a client's message and leaves what it causes
    queued; `step` sequences the oldest queued output only; `drain` the rest."""

    def hold(self, msg: Message) -> None:
        n = self.source_seqs.get(CLIENT_GW, 0) + 1
        self.source_seqs[CLIENT_GW] = n
        self.sequence(encode_input(CLIENT_GW, TYPE_ID[type(msg)], n, encode(msg)),
                      self.now + MS)

    def step(self) -> Message:
        out = self._queue.popleft()
        self.source_seqs[out.source_id] = out.source_seq
        self.sequence(out.comparable())
        return decode(out.type_id, out.payload)

    def queued(self) -> list[Message]:
        return [decode(o.type_id, o.payload) for o in self._queue]

    def until_queued(self, t: type[Message]) -> None:
        """Sequence outputs until one of type `t` waits in the queue."""
        while not any(isinstance(m, t) for m in self.queued()):
            self.step()

    def race(self, msg: Message) -> list[Message]:
        """A client's message sequenced now, ahead of what waits in the queue; what it
        and the queue cause (everything published from now on)."""
        before = len(self.outputs)
        self.hold(msg)
        self.drain()
        return self.outputs[before:]

    def child(self, child_id: str = CHILD) -> Child:
        return self.container.state.children[child_id]

    def failed(self) -> list[str]:
        return [p.failed for p in self.container.state.parents.values() if p.failed]

    def bad_alerts(self) -> list[Alert]:
        """The Alerts that say something went wrong: a strategy stopped, an invariant, or
        anything critical."""
        return [a for a in self.of_type(Alert) if a.severity == "critical" or a.code in (
            "strategy_failed", "algo_invariant", "child_out_of_bounds", "overfill")]


def replace(qty: int = 0, px: int = 0, cl: str = "D2", orig: str = "D1") -> ReplaceOrder:
    return ReplaceOrder(client="ALPHA", cl_ord_id=cl, orig_cl_ord_id=orig, symbol="IBM",
                        side="buy", qty=qty, limit_px=px)


def overtaken(order_qty: int = 1_000) -> Lagged:
    """A DMA order whose child the algo engine has asked for, the `NewChild` not yet
    sequenced: a client's replace sequenced now reaches the OMS first."""
    b = Lagged()
    b.hold(dma_order(order_qty))
    b.until_queued(NewChild)
    return b


def amended_before_the_ack(order_qty: int = 1_000) -> Lagged:
    """A DMA order whose child the OMS has sent on to the venue, which has not taken it
    yet."""
    b = Lagged()
    b.client(dma_order(order_qty))
    assert [c.action for c in b.of_type(ChildOrderSent)] == ["new"]
    assert b.child().status == "sent"
    return b


def reports(outs: list[Message]) -> list[tuple[str, str, int, int, str]]:
    return [(e.exec_type, e.ord_status, e.order_qty, e.limit_px, e.cl_ord_id)
            for e in of_type(outs, ExecutionReport)]


def test_a_dma_order_reduced_before_its_child_reaches_the_oms_sends_a_child_that_fits(
        ) -> None:
    """The race of the simulated day: the OMS carries the replace out at once (it has no
    child yet), then refuses the child, which is for the old quantity. The container gets
    the amendment while the child is `sent`: it waits, then DMA sends a child for the
    order as amended."""
    b = overtaken()
    outs = b.race(replace(qty=600))
    assert reports(outs) == [("replaced", "new", 600, PX, "D2")]
    assert [(m.request, m.child_id) for m in of_type(outs, ChildRequestRejected)] == [
        ("new", CHILD)]
    assert b.failed() == [] and b.bad_alerts() == []
    assert [(c.action, c.child_id, c.qty, c.limit_px) for c in of_type(outs, ChildOrderSent)
            ] == [("new", CHILD2, 600, PX)]
    assert of_type(outs, ReplaceChild) == [] and of_type(outs, CancelChild) == []
    b.venue(VenueAck(CHILD2, "A2"))
    outs = b.venue(VenueFill(CHILD2, "F1", 600, PX))
    assert [(e.exec_type, e.ord_status, e.cum_qty) for e in of_type(outs, ExecutionReport)
            ] == [("trade", "filled", 600)]
    assert b.container.state.parents == {} and b.bad_alerts() == []


def test_a_dma_order_repriced_before_its_child_reaches_the_oms_sends_a_child_at_the_new_limit(
        ) -> None:
    b = overtaken()
    outs = b.race(replace(px=PX - 100))
    assert reports(outs) == [("replaced", "new", 1_000, PX - 100, "D2")]
    assert b.failed() == [] and b.bad_alerts() == []
    assert [(c.action, c.child_id, c.qty, c.limit_px) for c in of_type(outs, ChildOrderSent)
            ] == [("new", CHILD2, 1_000, PX - 100)]


def test_a_dma_order_grown_before_its_child_reaches_the_oms_grows_it_once_acknowledged(
        ) -> None:
    """The child for the old 1,000 fits the order amended to 1,500 at a higher limit: the
    OMS sends it on; the container grows and reprices it once the venue has it."""
    b = overtaken()
    outs = b.race(replace(qty=1_500, px=PX + 100))
    assert [(c.action, c.qty, c.limit_px) for c in of_type(outs, ChildOrderSent)] == [
        ("new", 1_000, PX)]
    assert of_type(outs, ReplaceChild) == [] and b.failed() == [] and b.bad_alerts() == []
    outs = b.venue(VenueAck(CHILD, "A1"))
    assert [(c.action, c.qty, c.limit_px) for c in of_type(outs, ChildOrderSent)] == [
        ("replace", 1_500, PX + 100)]
    b.venue(VenueReplaced(CHILD, 1_500, PX + 100))
    ch = b.child()
    assert (ch.qty, ch.limit_px, ch.pending, ch.want_qty) == (1_500, PX + 100, "", 0)
    outs = b.venue(VenueFill(CHILD, "F1", 1_500, PX))
    assert [(e.ord_status, e.cum_qty) for e in of_type(outs, ExecutionReport)] == [
        ("filled", 1_500)]
    assert b.bad_alerts() == []


@pytest.mark.parametrize(("qty", "px", "child"), [
    (600, 0, (600, PX)),  # reduced below what is in flight
    (0, PX - 100, (1_000, PX - 100)),  # a lower limit for a buy
    (700, PX - 100, (700, PX - 100)),
])
def test_a_dma_order_amended_after_its_child_is_sent_waits_for_the_ack_then_replaces_it(
        qty: int, px: int, child: tuple[int, int]) -> None:
    """The OMS has sent the child on; the venue has not taken it when the client replaces
    the order. The OMS holds the replace pending (the child does not fit it); the
    container sends nothing to the venue before it has the child, then the replace that
    fits the order, which the OMS then carries out."""
    b = amended_before_the_ack()
    outs = b.client(replace(qty=qty, px=px))
    assert reports(outs) == [("pending_replace", "pending_replace", 1_000, PX, "D2")]
    [amended] = of_type(outs, ParentAmended)
    assert amended.pending
    assert of_type(outs, ReplaceChild) == [] and of_type(outs, CancelChild) == []
    assert b.failed() == [] and b.bad_alerts() == []
    assert (b.child().want_qty, b.child().want_px) == child
    outs = b.venue(VenueAck(CHILD, "A1"))
    assert [(m.child_id, m.qty, m.limit_px) for m in of_type(outs, ReplaceChild)] == [
        (CHILD, *child)]
    outs = b.venue(VenueReplaced(CHILD, *child))
    assert reports(outs) == [("replaced", "new", child[0], child[1], "D2")]
    ch = b.child()
    assert (ch.qty, ch.limit_px, ch.pending, ch.want_qty) == (*child, "", 0)
    assert of_type(outs, ReplaceChild) == []  # the child is what the order is
    assert b.bad_alerts() == []


def test_a_dma_order_grown_after_its_child_is_sent_grows_it_once_acknowledged() -> None:
    b = amended_before_the_ack()
    outs = b.client(replace(qty=1_500))
    assert reports(outs) == [("replaced", "new", 1_500, PX, "D2")]  # in force: it fits
    assert of_type(outs, ReplaceChild) == [] and b.failed() == []
    outs = b.venue(VenueAck(CHILD, "A1"))
    assert [(m.qty, m.limit_px) for m in of_type(outs, ReplaceChild)] == [(1_500, PX)]


def test_a_dma_child_that_fills_before_the_ack_takes_the_waiting_growth_to_a_new_child(
        ) -> None:
    """The order grows while its child is in flight; the venue fills the child whole
    (its fill is its acknowledgement): the growth cannot go to a filled order, so DMA
    sends a child for what the order still has left."""
    b = amended_before_the_ack()
    b.client(replace(qty=1_500))
    outs = b.venue(VenueFill(CHILD, "F1", 1_000, PX))
    assert of_type(outs, ReplaceChild) == []
    assert [(c.action, c.child_id, c.qty) for c in of_type(outs, ChildOrderSent)] == [
        ("new", CHILD2, 500)]
    assert b.bad_alerts() == [] and b.failed() == []


def test_a_client_replace_while_a_child_replace_is_in_flight_waits_for_its_answer() -> None:
    """The client's first replace (more shares, a lower limit) has the child repriced,
    then grown once in force; while that growth is in flight the client replaces again,
    to fewer shares. The container neither fails nor cancels the child: the reduction
    waits for the venue's answer to the growth, then goes."""
    b = Lagged()
    b.client(dma_order())
    b.venue(VenueAck(CHILD, "A1"))
    b.client(replace(qty=1_500, px=PX - 100))
    b.venue(VenueReplaced(CHILD, 1_000, PX - 100))  # in force: the child grows
    assert (b.child().pending, b.child().pend_qty) == ("replace", 1_500)
    outs = b.client(replace(qty=1_200, px=PX - 100, cl="D3", orig="D2"))
    assert reports(outs) == [("pending_replace", "pending_replace", 1_500, PX - 100, "D3")]
    assert of_type(outs, ReplaceChild) == [] and of_type(outs, CancelChild) == []
    assert b.failed() == [] and b.bad_alerts() == []
    outs = b.venue(VenueReplaced(CHILD, 1_500, PX - 100))
    assert [(m.qty, m.limit_px) for m in of_type(outs, ReplaceChild)] == [(1_200, PX - 100)]
    outs = b.venue(VenueReplaced(CHILD, 1_200, PX - 100))
    assert reports(outs) == [("replaced", "new", 1_200, PX - 100, "D3")]
    assert (b.child().qty, b.child().want_qty) == (1_200, 0)
    assert b.bad_alerts() == []


def test_a_dma_order_whose_child_the_oms_cancelled_for_the_replace_gets_a_new_one() -> None:
    """The venue does not take the child within the OMS's replace timeout: the OMS cancels
    it and carries the client's replace out. DMA, its child gone and the amendment in
    force, sends a child for the order as amended."""
    b = amended_before_the_ack()
    b.client(replace(qty=600))
    outs = b.advance(3 * SECOND)  # the OMS's replace_timeout_ms (2 s) passes
    assert [(c.action, c.child_id) for c in of_type(outs, ChildOrderSent)] == [
        ("cancel", CHILD)]
    outs = b.venue(VenueCanceled(CHILD))
    assert reports(outs) == [("replaced", "new", 600, PX, "D2")]
    assert [(c.action, c.child_id, c.qty, c.limit_px) for c in of_type(outs, ChildOrderSent)
            ] == [("new", CHILD2, 600, PX)]
    assert b.failed() == [] and b.bad_alerts() == []


def test_a_dma_order_reduced_at_a_looser_limit_moves_its_child_within_both() -> None:
    """A buy replaced to fewer shares at a higher limit: the OMS holds it pending (the
    child is too big); the child shrinks at its price (the old limit still binds while
    pending: the higher one would be refused as beyond it), then takes the new limit once
    the replace is in force."""
    b = Lagged()
    b.client(dma_order())
    b.venue(VenueAck(CHILD, "A1"))
    outs = b.client(replace(qty=600, px=PX + 100))
    assert [(m.qty, m.limit_px) for m in of_type(outs, ReplaceChild)] == [(600, PX)]
    assert b.failed() == [] and b.bad_alerts() == []
    outs = b.venue(VenueReplaced(CHILD, 600, PX))
    assert reports(outs) == [("replaced", "new", 600, PX + 100, "D2")]
    assert [(m.qty, m.limit_px) for m in of_type(outs, ReplaceChild)] == [(600, PX + 100)]


# ---------------------------------------------------------------------- DMA races, at random


@dataclass
class VenueOrder:
    """The venue's view of a child: what it has, and our requests it has yet to answer."""

    qty: int = 0
    px: int = 0
    cum: int = 0
    taken: bool = False  # it answered the new order
    done: bool = False
    requests: list[ChildOrderSent] = field(default_factory=list)

    def exposure(self) -> int:
        """The most it could fill: what it has, or a replace not yet answered."""
        if self.done:
            return 0
        sizes = [self.qty] + [r.qty for r in self.requests if r.action in ("new", "replace")]
        return max(0, max(sizes) - self.cum)


class Race(Lagged):
    """`Lagged` where everything waits to be sequenced: the OMS's and the container's
    outputs (each app's in the order published, the two interleaved as the test picks),
    the venue's answers (each child's requests answered in order) and the client's
    replaces. The venue is honest: it acknowledges, fills, replaces and cancels what it
    has, and refuses what it no longer has."""

    def __init__(self) -> None:
        super().__init__()
        self.venue_orders: dict[str, VenueOrder] = {}
        self.replaces = 0
        self.execs = 0

    def put(self, msg: Message, source: int) -> None:
        """An input sequenced now; what it causes waits."""
        n = self.source_seqs.get(source, 0) + 1
        self.source_seqs[source] = n
        self.sequence(encode_input(source, TYPE_ID[type(msg)], n, encode(msg)),
                      self.now + MS)
        self.check()

    def deliver(self, source: int) -> bool:
        """Sequence the oldest output `source` has queued (False if none)."""
        for i, out in enumerate(self._queue):
            if out.source_id == source:
                del self._queue[i]
                self.source_seqs[out.source_id] = out.source_seq
                self.sequence(out.comparable())
                m = decode(out.type_id, out.payload)
                if isinstance(m, ChildOrderSent):
                    self.venue_orders.setdefault(m.child_id, VenueOrder()).requests.append(m)
                self.check()
                return True
        return False

    def answer(self, child_id: str) -> bool:
        """The venue answers the child's oldest request (False if none waits)."""
        v = self.venue_orders[child_id]
        if not v.requests:
            return False
        r = v.requests.pop(0)
        if r.action == "new":
            v.qty, v.px, v.taken = r.qty, r.limit_px, True
            self.put(VenueAck(child_id, f"V-{child_id}"), VENUE_GW)
        elif v.done:
            self.put(VenueCancelRejected(child_id, r.action, "too late"), VENUE_GW)
        elif r.action == "replace":
            v.qty, v.px = max(r.qty, v.cum), r.limit_px
            v.done = v.cum >= v.qty
            self.put(VenueReplaced(child_id, v.qty, v.px), VENUE_GW)
        else:
            v.done = True
            self.put(VenueCanceled(child_id), VENUE_GW)
        return True

    def fill(self, child_id: str, part: int) -> None:
        v = self.venue_orders[child_id]
        if v.taken and not v.done and v.qty > v.cum:
            qty = max(1, (v.qty - v.cum) * part // 4)
            v.cum += qty
            v.done = v.cum >= v.qty
            self.execs += 1
            self.put(VenueFill(child_id, f"F{self.execs}", qty, v.px), VENUE_GW)

    def replace_order(self, qty: int, px: int) -> None:
        self.replaces += 1
        self.put(replace(qty=qty, px=px, cl=f"R{self.replaces}"), CLIENT_GW)

    def settle(self) -> None:
        """Let everything in flight arrive and be answered, until nothing moves."""
        moved = True
        while moved:
            moved = self.deliver(ALGO) or self.deliver(OMS_SOURCE)
            for cid in list(self.venue_orders):
                moved = self.answer(cid) or moved

    def check(self) -> None:
        """After every frame: nothing stopped, refused by an invariant or alerted as
        critical, and the venue never has more of the order open than the OMS's terms in
        force leave."""
        assert self.failed() == [], self.failed()
        assert self.bad_alerts() == [], self.bad_alerts()
        for p in self.app.state.parents.values():
            open_ = sum(self.venue_orders[c].exposure() for c in p.children
                        if c in self.venue_orders)
            assert open_ <= p.qty - p.cum_qty, (
                f"{open_:,} open at the venue, the order {p.qty:,} with {p.cum_qty:,} filled")


#: (what, a number, another): deliver an app's next output, the venue's answer to a child's
#: next request or a fill, a client's replace (quantity and limit in ticks), time passing
_race_step = st.tuples(
    st.sampled_from(["algo"] * 4 + ["oms"] * 4 + ["answer"] * 4 + ["fill"] * 2 + [
        "replace"] * 2 + ["tick"]),
    st.integers(0, 7), st.integers(-3, 3))


@settings(deadline=None, max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(asked=st.booleans(), steps=st.lists(_race_step, min_size=5, max_size=60))
def test_dma_orders_amended_at_any_moment_never_stop_nor_overcommit_nor_sit(
        asked: bool, steps: list[tuple[str, int, int]]) -> None:
    """A DMA order of 1,000 with the OMS, the container and an honest venue, everything
    arriving late and in any order the stream allows, the client replacing the order at
    any moment (often before its child reached the OMS or the venue): the strategy never
    stops, no invariant is refused, the venue never holds more than the terms in force
    leave, and once everything has arrived the order is filled or done, or has children
    working exactly what it has left (it does not sit with the OMS). `asked`: start
    with the container's `NewChild` on its way."""
    b = Race()
    b.put(dma_order(), CLIENT_GW)
    while asked and not any(isinstance(m, NewChild) for m in b.queued()):
        b.deliver(OMS_SOURCE)  # the container has asked for the child: the race is on
    for what, i, d in steps:
        kids = sorted(b.venue_orders)
        if what == "algo":
            b.deliver(ALGO)
        elif what == "oms":
            b.deliver(OMS_SOURCE)
        elif what == "answer" and kids:
            b.answer(kids[i % len(kids)])
        elif what == "fill" and kids:
            b.fill(kids[i % len(kids)], 1 + i % 4)
        elif what == "replace":
            b.replace_order(max(100, 1_000 + 100 * d * (1 + i)), PX + 100 * (i % 3 - 1))
        elif what == "tick":
            b.put(ClockTick(), SEQUENCER)
            b.now += 3 * SECOND  # past the OMS's replace timeout
    b.settle()
    b.put(ClockTick(), SEQUENCER)
    b.now += 3 * SECOND
    b.settle()
    [p] = b.app.state.parents.values()
    event(f"order at the end: {p.state}")
    event(f"children: {min(len(p.children), 3)}")
    event(f"replaces that waited for the venue: {min(b.container.state.counts.waited, 3)}")
    event(f"child requests the OMS refused: {min(b.container.state.counts.refused_by_oms, 2)}")
    if p.state in ("working", "pending_replace") and not p.closing:
        assert p.state == "working"
        ours = [b.child(c) for c in b.container.state.parents[p.order_id].children]
        working = sum(c.open_qty for c in ours if c.live)
        assert working == p.qty - p.cum_qty, (p, ours)
        assert all(c.want_qty == 0 and c.status == "live" for c in ours if c.live)


# ====================================================================== VWAP, a slow venue


@pytest.fixture(scope="module")
def rd(tmp_path_factory: pytest.TempPathFactory) -> RefData:
    out: Path = tmp_path_factory.mktemp("vwap") / "refdata"
    refdata_build.build(DAY, out, use_data=False)
    return refdata_load.load(out)


class SlowVenue(Sim):
    """The strategy tests' `Sim` with latency where the test wants it: while `slow`, the
    OMS sends new children on (`ChildOrderSent`) and the venue takes them only at `ack`;
    while `oms_slow`, the OMS has not even seen them (`NewChild` waits: `refuse_unseen`
    has it refuse them, as after a replace it carried out first). After every frame it
    checks that no replace reaches a child the venue has not taken, and that the venue
    never has more of an order open than the terms in force leave (the OMS holds a
    replace pending until the children fit it)."""

    def __init__(self, rd: RefData) -> None:
        self.slow = self.oms_slow = False
        self.unacked: list[str] = []
        self.unseen: list[NewChild] = []
        self.in_force: dict[str, int] = {}
        self.replaces: list[ReplaceChild] = []  # every replace that reached the OMS
        self.slow_replaces = False  # the venue sits on replaces (`answer_replaces`)
        self.held_replaces: list[ReplaceChild] = []
        super().__init__(rd, start=ARRIVAL)

    def _answer(self, m: Message) -> None:
        if isinstance(m, ReplaceChild):
            assert m.child_id not in self.unacked, f"a replace of {m.child_id} before the ack"
            assert not any(n.child_id == m.child_id for n in self.unseen)
            self.replaces.append(m)
            if self.slow_replaces:
                self.held_replaces.append(m)
                return
        if isinstance(m, NewChild):
            if self.oms_slow:
                self.unseen.append(m)
            else:
                self._send_on(m)
            return
        if isinstance(m, CancelChild) and any(n.child_id == m.child_id for n in self.unseen):
            # the OMS has the new child before the cancel: it sends both on
            [new] = [n for n in self.unseen if n.child_id == m.child_id]
            self.unseen.remove(new)
            self._send_on(new)
        if isinstance(m, CancelChild) and m.child_id in self.unacked:
            self.unacked.remove(m.child_id)  # its cancel answers for it
        super()._answer(m)

    def _send_on(self, m: NewChild) -> None:
        """The OMS sends the child on; the venue takes it now, or (`slow`) at `ack`."""
        if not self.slow or m.tif == "ioc":
            super()._answer(m)
            return
        p = self.parents[m.parent_id]
        self.children[m.child_id] = VChild(m.child_id, m.parent_id, m.qty, m.limit_px, m.tif,
                                           m.venue, self.now)
        self._frame(OMS, ChildOrderSent("new", m.parent_id, m.child_id, m.venue,
                                        m.destination, p.symbol, p.side, m.qty, m.ord_type,
                                        m.limit_px, m.tif))
        self.unacked.append(m.child_id)

    def feed(self, source: int, msg: Message) -> None:
        super().feed(source, msg)
        for oid, qty in self.in_force.items():
            kids = [c for c in self.children.values() if c.parent_id == oid]
            open_ = sum(c.qty - c.cum for c in kids if c.live)
            assert open_ <= qty - sum(c.cum for c in kids), (
                f"{oid}: {open_:,} open at the venue, {qty:,} in force")

    def order(self, qty: int, *, side: str = "buy", limit: int = 0, oid: str = "O1",
              **params: str) -> str:
        self.in_force[oid] = qty
        return super().order(qty, side=side, limit=limit, oid=oid, **params)

    def amend(self, oid: str, qty: int, *, pending: bool, limit: int = 0,
              **params: str) -> None:
        if not pending:
            self.in_force[oid] = qty
        super().amend(oid, qty, pending=pending, limit=limit, **params)

    def ack(self) -> None:
        while self.unacked:
            cid = self.unacked.pop(0)
            self.feed(GATEWAY, VenueAck(cid, f"V{cid}"))

    def answer_replaces(self) -> None:
        while self.held_replaces:
            m = self.held_replaces.pop(0)
            ch = self.children[m.child_id]
            ch.qty, ch.px = m.qty or ch.qty, m.limit_px or ch.px
            self.feed(GATEWAY, VenueReplaced(m.child_id, ch.qty, ch.px))

    def pass_unseen(self) -> None:
        """The OMS sends on what it had not seen (the venue as `slow` says)."""
        self.oms_slow = False
        while self.unseen:
            self._send_on(self.unseen.pop(0))
            while self._todo:
                self._answer(self._todo.pop(0))

    def refuse_unseen(self, why: str) -> None:
        self.oms_slow = False
        while self.unseen:
            m = self.unseen.pop(0)
            self.feed(OMS, ChildRequestRejected(m.parent_id, m.child_id, "new", why))

    def child(self, child_id: str) -> Child:
        return self.app.state.children[child_id]

    def bad_alerts(self) -> list[Alert]:
        return [a for a in self.alerts() if a.severity == "critical" or a.code in (
            "strategy_failed", "algo_invariant", "vwap_amend")]


START, END = "10:00", "11:00"  # the window (exchange-local)
SLICE = "O1.1"


def slice_in_flight(rd: RefData, *, limit: int = 0, oms_slow: bool = False) -> SlowVenue:
    """A VWAP buy of 10,000 from 10:00 to 11:00 (as `ten_to_eleven`); at 10:00 its first
    passive slice goes, and the venue (or, `oms_slow`, the OMS) has not answered it yet."""
    sim = SlowVenue(rd)
    sim.quote(BID, ASK)
    sim.order(10_000, limit=limit, start_time=START, end_time=END)
    sim.script(OPEN, lambda: sim.trading("trading"))
    sim.curve_volume(OPEN, at(11, 0))
    sim.run_to(at(9, 59, 59))
    sim.slow, sim.oms_slow = True, oms_slow
    sim.run_to(at(10, 0, 1))
    assert sim.child(SLICE).status == "sent"
    assert [(c.qty, c.px) for c in sim.children.values()] == ([] if oms_slow else [
        (sim.child(SLICE).qty, BID)])
    return sim


def test_vwap_grown_while_a_slice_is_in_flight_leaves_it_and_trades_the_rest(
        rd: RefData) -> None:
    sim = slice_in_flight(rd)
    qty = sim.child(SLICE).qty
    sim.amend("O1", 12_000, pending=False, start_time=START, end_time=END)
    assert sim.bad_alerts() == [] and sim.app.state.parents["O1"].failed == ""
    [(_, plan)] = sim.decisions("schedule", since=at(10, 0, 1))
    assert plan.scheduled_qty == 12_000
    sim.slow = False
    sim.ack()
    assert (sim.child(SLICE).qty, sim.child(SLICE).limit_px, sim.replaces) == (qty, BID, [])
    sim.run_to(at(11, 0) + SECOND)
    assert sim.cum() == 12_000 and sim.bad_alerts() == []


def test_vwap_reduced_below_a_slice_in_flight_shrinks_it_once_the_venue_has_it(
        rd: RefData) -> None:
    """The OMS holds the client's replace (200 shares) pending: the slice in flight is
    for more. The container shrinks it to 200 once the venue has it, then the OMS
    carries the replace out and the plan is on 200."""
    sim = slice_in_flight(rd)
    assert sim.child(SLICE).qty > 200
    sim.amend("O1", 200, pending=True, start_time=START, end_time=END)
    assert sim.replaces == [] and sim.bad_alerts() == []
    assert sim.child(SLICE).want_qty == 200
    sim.slow = False
    sim.ack()
    assert [(r.child_id, r.qty, r.limit_px) for r in sim.replaces] == [(SLICE, 200, BID)]
    assert (sim.child(SLICE).qty, sim.child(SLICE).want_qty) == (200, 0)
    sim.amend("O1", 200, pending=False, start_time=START, end_time=END)  # they fit: in force
    sim.run_to(at(11, 0) + SECOND)
    assert sim.cum() == 200 and sim.bad_alerts() == []


def test_vwap_reduced_before_the_oms_saw_the_slice_sends_one_that_fits(rd: RefData) -> None:
    """The OMS carries the client's replace out at once (it had no child yet), then
    refuses the slice, which is for more than the order now has: the strategy goes on
    and slices within the new quantity."""
    sim = slice_in_flight(rd, oms_slow=True)
    sim.amend("O1", 200, pending=False, start_time=START, end_time=END)
    assert sim.bad_alerts() == [] and sim.replaces == []
    sim.refuse_unseen("child of 331 would put open (0) plus filled (0) above the parent's 200")
    assert sim.child(SLICE).status == "done" and sim.app.state.parents["O1"].failed == ""
    sim.slow = False
    sim.run_to(at(11, 0) + SECOND)
    assert sim.cum() == 200
    assert [a.code for a in sim.alerts()] == ["child_refused"]  # a warning, nothing more


def test_vwap_repriced_while_a_slice_is_in_flight_moves_it_once_the_venue_has_it(
        rd: RefData) -> None:
    sim = slice_in_flight(rd, limit=183_0000)
    qty = sim.child(SLICE).qty
    new_limit = BID - CENT
    sim.amend("O1", 10_000, pending=True, limit=new_limit, start_time=START, end_time=END)
    assert sim.replaces == [] and sim.bad_alerts() == []
    sim.slow = False
    sim.ack()
    assert [(r.qty, r.limit_px) for r in sim.replaces] == [(qty, new_limit)]
    assert (sim.child(SLICE).limit_px, sim.children[SLICE].px) == (new_limit, new_limit)
    sim.amend("O1", 10_000, pending=False, limit=new_limit, start_time=START, end_time=END)
    sim.run_to(at(10, 30))
    assert all(c.px <= new_limit for c in sim.children.values())
    assert sim.bad_alerts() == []


def test_vwap_given_a_new_end_time_while_a_slice_is_in_flight_replans(rd: RefData) -> None:
    sim = slice_in_flight(rd)
    sim.amend("O1", 10_000, pending=False, start_time="10:00", end_time="10:30")
    [(_, plan)] = sim.decisions("schedule", since=at(10, 0, 1))
    assert plan.end_ns == at(10, 30) and sim.bad_alerts() == []
    sim.slow = False
    sim.ack()
    sim.run_to(at(10, 30) + SECOND)
    assert sim.cum() == 10_000 and sim.bad_alerts() == []


def test_vwap_amended_while_its_own_reprice_of_a_slice_is_in_flight(rd: RefData) -> None:
    """The bid moved up and stayed: the strategy reprices its slice, and the venue has not
    answered when the client amends to fewer shares than the slice (the OMS holds that
    pending). The reduction waits for the reprice's answer, then goes; nothing fails and
    nothing is cancelled."""
    sim = slice_in_flight(rd)
    sim.slow = False
    sim.ack()
    qty = sim.child(SLICE).qty
    sim.script(at(10, 0, 5), lambda: sim.quote(BID + CENT, ASK + CENT))
    sim.slow_replaces = True
    sim.run_to(at(10, 0, 21))
    assert [(r.qty, r.limit_px) for r in sim.held_replaces] == [(qty, BID + CENT)]
    assert sim.child(SLICE).pending == "replace"
    sim.amend("O1", 100, pending=True, start_time=START, end_time=END)
    assert sim.bad_alerts() == [] and len(sim.replaces) == 1
    assert sim.child(SLICE).want_qty == 100
    sim.slow_replaces = False
    sim.answer_replaces()
    assert [(r.qty, r.limit_px) for r in sim.replaces] == [(qty, BID + CENT),
                                                          (100, BID + CENT)]
    assert (sim.child(SLICE).qty, sim.child(SLICE).limit_px) == (100, BID + CENT)
    assert sim.of(CancelChild) == []
    sim.amend("O1", 100, pending=False, start_time=START, end_time=END)
    sim.run_to(at(11, 0) + SECOND)
    assert sim.cum() == 100 and sim.bad_alerts() == []


def test_vwap_repricing_a_slice_the_venue_has_not_taken_waits_for_it(rd: RefData) -> None:
    """The bid moves up and stays while the first slice is still on its way (here the OMS
    has not even answered it): the strategy's reprice of it (`_check`) once stopped the
    strategy ("cannot be amended now (sent)"); it waits for the venue now."""
    sim = slice_in_flight(rd, oms_slow=True)
    sim.script(at(10, 0, 5), lambda: sim.quote(BID + CENT, ASK + CENT))
    sim.run_to(at(10, 0, 21))
    assert [d.kind for _, d in sim.decisions("reprice")] == ["reprice"]
    assert sim.bad_alerts() == [] and sim.app.state.parents["O1"].failed == ""
    assert (sim.child(SLICE).want_px, sim.replaces) == (BID + CENT, [])
    sim.pass_unseen()
    assert sim.replaces == [] and sim.child(SLICE).status == "sent"
    sim.slow = False
    sim.ack()
    assert [(r.child_id, r.limit_px) for r in sim.replaces] == [(SLICE, BID + CENT)]
    assert (sim.child(SLICE).limit_px, sim.child(SLICE).want_qty) == (BID + CENT, 0)
    sim.run_to(at(11, 0) + SECOND)
    assert sim.cum() == 10_000 and sim.bad_alerts() == []
