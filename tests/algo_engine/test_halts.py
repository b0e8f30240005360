"""The container through halts, venues' busts and corrections, and reopened orders.

Halts: ops' `HaltTrading` by symbol, client, "*" or venue, and the market's
`TradingStatus` "halted" (for the symbol, or on its primary venue). A paused
order's timers wait and its new children are held (recorded, nothing
published); at the resume the held children go in the order asked (checked
again), the strategy hears "resumed", then its timers that waited fire.

Busts and corrections change a child's fills (kept by the venue's exec id), the
child's and the parent's filled quantity and notional, and never the child's
open quantity; a repeat is applied once; an unknown ref is an Alert. A reopened
order (`ParentReopened`) starts its strategy again for what is left.

The strategy is the container tests' `Chaos`, driven by a hook (`hooked`).
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

import algo_engine.strategies
from algo_engine.context import OrderContext
from algo_engine.strategy import InvariantError
from sequencer import sources
from sequencer.messages.admin import HaltTrading, ResumeTrading
from sequencer.messages.control import Alert
from sequencer.messages.executions import (
    VenueFill,
    VenueStatus,
    VenueTradeCanceled,
    VenueTradeCorrected,
)
from sequencer.messages.marketdata import MarketSnapshot, TradingStatus
from sequencer.messages.orders import (
    CancelChild,
    NewChild,
    ParentAccepted,
    ParentAmended,
    ParentCanceling,
    ParentDone,
    ParentReopened,
    ReplaceChild,
)
from tests.algo_engine.test_container import (
    MARKET,
    PX,
    TICK,
    A,
    B,
    Chaos,
    Rig,
    World,
    codes,
    hooked,
    of,
)
from tests.oms.fixtures import oms_refdata

INJECT = sources.INJECT
AIG, IBM = 1, 3  # oms_refdata's symbol ids (its names in order, from 1); IBM on XNYS


@pytest.fixture
def chaos(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(algo_engine.strategies.STRATEGIES, "chaos", Chaos)


def infos(msgs: Sequence[object]) -> list[str]:
    return [m.text for m in msgs if isinstance(m, Alert) and m.severity == "info"]


def status(rig: Rig, child_id: str) -> str:
    """A child's status now (a call: mypy keeps no narrowing of it between events)."""
    return rig.app.state.children[child_id].status


def in_force(oid: str, qty: int = 1_000, px: int = PX, cum: int = 0) -> ParentAmended:
    """The OMS's word that the order's terms are (still) these: the hooks send on it."""
    return ParentAmended(oid, qty, px, (), cum)


# ====================================================================== halts


@pytest.mark.usefixtures("chaos")
@pytest.mark.parametrize(("scope", "b_paused"), [("IBM", False), ("*", True), ("ALPHA", False)])
def test_an_ops_halt_pauses_the_orders_in_its_scope(scope: str, b_paused: bool) -> None:
    """A (ALPHA, IBM) is paused by a halt of IBM, of ALPHA or of everything; B (BETA, AIG)
    only by the last. A paused order's new child is held (its id returned, nothing
    published), its timer waits; at the resume the child goes, the strategy hears
    "resumed", then the timer fires."""
    heard: list[tuple[str, str]] = []
    asked: dict[str, str] = {}

    def hook(event: str, c: OrderContext) -> None:
        heard.append((c.parent.order_id, event))
        if event == "amend":
            asked[c.parent.order_id] = c.send("ARCX", "passive", 100, PX)
            assert c.paused == (c.parent.order_id == A or b_paused)

    rig = hooked(hook, oms_refdata())
    rig.accept(A)
    rig.feed(ParentAccepted(B, "BETA", B, "AIG", "buy", 1_000, "limit", PX, "day", "chaos",
                            ()))
    heard.clear()
    outs = rig.feed(HaltTrading(scope, "news pending"), INJECT)
    name = "all trading" if scope == "*" else scope
    orders = "2 orders" if b_paused else "1 order"
    assert infos(outs) == [f"{name} halted by ops (news pending): {orders} paused"]
    assert heard == [(A, f"market {IBM} halted")] + ([(B, f"market {AIG} halted")]
                                                     if b_paused else [])
    heard.clear()
    outs = rig.feed(in_force(A)) + rig.feed(in_force(B))
    assert [m.child_id for m in of(outs, NewChild)] == ([] if b_paused else ["ORD-B.1"])
    assert asked == {A: "ORD-A.1", B: "ORD-B.1"}
    assert status(rig, "ORD-A.1") == "held"
    outs = rig.tick() + rig.tick()
    assert outs == []
    assert [h for h in heard if h[1] == "timer"] == ([] if b_paused else [(B, "timer")] * 2)
    heard.clear()
    outs = rig.feed(ResumeTrading(scope), INJECT)
    sent = of(outs, NewChild)
    assert [(m.child_id, m.venue, m.qty, m.limit_px, m.destination) for m in sent] == [
        ("ORD-A.1", "ARCX", 100, PX, "DMA-ARCX")] + (
        [("ORD-B.1", "ARCX", 100, PX, "DMA-ARCX")] if b_paused else [])
    assert isinstance(outs[len(sent)], Alert)  # the children first, then what ops read
    went = "2 orders go on, 2 held children" if b_paused else "1 order goes on, 1 held child"
    assert infos(outs) == [f"{name} resumed by ops: {went} sent"]
    want = [(A, f"market {IBM} resumed")] + ([(B, f"market {AIG} resumed")] if b_paused else [])
    want += [(A, "timer")] + ([(B, "timer")] if b_paused else [])
    assert heard == want
    assert status(rig, "ORD-A.1") == "sent"
    assert rig.app.state.halts == {} and rig.app.state.deferred == []


@pytest.mark.usefixtures("chaos")
def test_a_venue_halt_holds_the_children_to_it_and_nothing_else() -> None:
    heard: list[str] = []

    def hook(event: str, c: OrderContext) -> None:
        heard.append(event)
        if event == "amend":
            c.send("ARCX", "passive", 100, PX)
            c.send("XNYS", "passive", 200, PX)
            assert not c.paused

    rig = hooked(hook, oms_refdata())
    rig.accept()
    outs = rig.feed(HaltTrading("ARCX", "venue trouble"), INJECT)
    assert infos(outs) == [
        "ARCX halted by ops (venue trouble): 0 orders paused, new children to ARCX held"]
    outs = rig.feed(in_force(A))
    assert [m.child_id for m in of(outs, NewChild)] == ["ORD-A.2"]
    assert status(rig, "ORD-A.1") == "held"
    heard.clear()
    assert rig.tick() == [] and heard == ["timer"]  # the order is not paused
    outs = rig.feed(ResumeTrading("ARCX"), INJECT)
    assert [(m.child_id, m.destination) for m in of(outs, NewChild)] == [
        ("ORD-A.1", "DMA-ARCX")]
    assert infos(outs) == ["ARCX resumed by ops: 0 orders go on, 1 held child sent"]


@pytest.mark.usefixtures("chaos")
def test_a_market_halt_of_the_symbol_pauses_its_orders_until_the_status_changes() -> None:
    """Only "*" or the symbol's primary venue (XNYS for IBM) halts the symbol."""
    heard: list[str] = []

    def hook(event: str, c: OrderContext) -> None:
        heard.append(event)
        if event == "start":
            c.subscribe("IBM")
        elif event == "amend":
            c.send("BATS", "passive", 100, PX)

    rig = hooked(hook, oms_refdata())
    rig.accept()
    rig.feed(MarketSnapshot(IBM, (), (), "trading"), MARKET)
    heard.clear()
    assert rig.feed(TradingStatus(IBM, "ARCX", "halted", "one venue"), MARKET) == []
    assert heard == [] and rig.app.state.books[IBM].status == "trading"
    outs = rig.feed(TradingStatus(IBM, "XNYS", "halted", "news pending"), MARKET)
    assert infos(outs) == ["IBM halted on the market (news pending): 1 order paused"]
    assert heard == [f"market {IBM} halted"]  # once: the book's phase is the notice
    assert of(rig.feed(in_force(A)), NewChild) == []
    rig.tick()
    heard.clear()
    outs = rig.feed(TradingStatus(IBM, "*", "trading"), MARKET)
    assert [m.child_id for m in of(outs, NewChild)] == ["ORD-A.1"]
    assert infos(outs) == [
        "IBM resumed on the market (trading): 1 order goes on, 1 held child sent"]
    assert heard == [f"market {IBM} trading", f"market {IBM} resumed", "timer"]


@pytest.mark.usefixtures("chaos")
def test_held_children_go_in_the_order_asked_and_an_ops_halt_outlasts_a_market_one() -> None:
    def hook(event: str, c: OrderContext) -> None:
        if event == "start":
            c.subscribe("IBM")
        elif event == "amend":
            for venue, qty in (("ARCX", 100), ("XNYS", 200), ("BATS", 300)):
                c.send(venue, "passive", qty, PX)

    rig = hooked(hook, oms_refdata())
    rig.accept()
    rig.accept(B)
    rig.feed(MarketSnapshot(IBM, (), (), "halted", "news pending"), MARKET)  # halted already
    rig.feed(HaltTrading("IBM", "ops too"), INJECT)
    rig.feed(in_force(B))
    rig.feed(in_force(A))
    outs = rig.feed(TradingStatus(IBM, "XNYS", "trading"), MARKET)
    assert of(outs, NewChild) == []  # ops' halt still holds them
    assert infos(outs) == ["IBM resumed on the market (trading): 0 orders go on"]
    outs = rig.feed(ResumeTrading("IBM"), INJECT)
    assert [(m.child_id, m.qty) for m in of(outs, NewChild)] == [
        ("ORD-B.1", 100), ("ORD-B.2", 200), ("ORD-B.3", 300),
        ("ORD-A.1", 100), ("ORD-A.2", 200), ("ORD-A.3", 300)]


@pytest.mark.usefixtures("chaos")
def test_a_cancel_of_a_held_child_ends_it_at_once_and_a_replace_amends_it_in_place() -> None:
    log: list[str] = []

    def hook(event: str, c: OrderContext) -> None:
        if event == "amend" and not c.children():
            one = c.send("ARCX", "passive", 300, PX)
            two = c.send("XNYS", "passive", 300, PX)
            c.cancel(one, "changed my mind")
            log.append("cancelled")
            c.replace(two, 200, PX - TICK)
            try:
                c.replace(two, 2_000)
            except InvariantError:
                log.append("growth refused")
            log.append("replaced")
        elif event == "child_done":
            log.append("child_done")

    rig = hooked(hook)
    rig.accept()
    rig.feed(HaltTrading("*", "market-wide"), INJECT)
    outs = rig.feed(in_force(A))
    # nothing published but the growth's refusal; the strategy hears of the cancelled
    # child after its handler, not from inside it
    assert not of(outs, NewChild) and not of(outs, CancelChild) and not of(outs, ReplaceChild)
    assert codes(outs) == ["algo_invariant"]
    assert log == ["cancelled", "growth refused", "replaced", "child_done"]
    one, two = rig.app.state.children["ORD-A.1"], rig.app.state.children["ORD-A.2"]
    assert (one.status, one.end_reason) == ("done", "changed my mind")
    assert (two.status, two.qty, two.limit_px) == ("held", 200, PX - TICK)
    # a pending amendment to fewer shares shrinks the held child in place, too
    assert rig.feed(ParentAmended(A, 150, PX, (), 0, pending=True)) == []
    assert (two.status, two.qty) == ("held", 150)
    rig.feed(ParentAmended(A, 150, PX, (), 0))
    outs = rig.feed(ResumeTrading("*"), INJECT)
    assert [(m.child_id, m.qty, m.limit_px) for m in of(outs, NewChild)] == [
        ("ORD-A.2", 150, PX - TICK)]


@pytest.mark.usefixtures("chaos")
def test_timers_wait_through_the_halt_and_fire_in_order_after_the_held_children() -> None:
    heard: list[str] = []

    def hook(event: str, c: OrderContext) -> None:
        heard.append(event)
        if event == "start":
            c.set_timer(c.now + 3_000_000_000, "three")
            c.set_timer(c.now + 2_000_000_000, "two")
        elif event == "amend":
            c.send("ARCX", "passive", 100, PX)

    rig = hooked(hook)
    rig.accept()
    rig.feed(HaltTrading("IBM", ""), INJECT)
    rig.feed(in_force(A))
    for _ in range(4):
        assert rig.tick() == []
    assert [w for _, w in rig.app.state.deferred] == ["wake", "two", "three"]
    seen: list[tuple[str, int, int]] = []  # (event, stream time, children published)

    def after(event: str, c: OrderContext) -> None:
        seen.append((event, c.now, len(of(rig.outputs, NewChild))))

    rig.world.hook = after
    outs = rig.feed(ResumeTrading("IBM"), INJECT)
    assert [type(m).__name__ for m in outs] == ["NewChild", "Alert"]
    # at the resume's time, once the held child is out: "resumed", then the timers
    assert seen == [(e, rig.now, 1) for e in ("market 0 resumed", "timer", "timer", "timer")]


@pytest.mark.usefixtures("chaos")
def test_a_held_child_that_no_longer_fits_at_the_resume_ends() -> None:
    done: list[tuple[str, str]] = []

    def hook(event: str, c: OrderContext) -> None:
        if event == "amend" and not c.children(live_only=False):
            c.send("ARCX", "passive", 100, PX)
            c.send("XNYS", "passive", 100, PX)
        elif event == "child_done":
            done.extend((ch.child_id, ch.end_reason) for ch in c.children(live_only=False)
                        if not ch.live)

    rig = hooked(hook)
    rig.accept()
    rig.feed(HaltTrading("ALPHA", "client review"), INJECT)
    rig.feed(in_force(A))
    rig.venue(VenueStatus("DMA-ARCX", "ARCX", "down", "logged out"))
    outs = rig.feed(ResumeTrading("ALPHA"), INJECT)
    assert [m.child_id for m in of(outs, NewChild)] == ["ORD-A.2"]
    assert codes(outs) == ["held_child_ended", "resumed"]
    assert infos(outs) == ["ALPHA resumed by ops: 1 order goes on, 1 held child sent, "
                           "1 no longer fit"]
    assert done == [("ORD-A.1", "no longer fits at the resume: venue ARCX is down")]


@pytest.mark.usefixtures("chaos")
def test_a_held_child_of_an_order_being_amended_waits_for_the_amendment() -> None:
    """Nothing new goes while an amendment is pending: the held child goes once it is in
    force (or refused), shrunk to the new terms if need be."""

    def hook(event: str, c: OrderContext) -> None:
        if event == "amend" and not c.children(live_only=False):
            c.send("ARCX", "passive", 300, PX)

    rig = hooked(hook)
    rig.accept()
    rig.feed(HaltTrading("IBM", ""), INJECT)
    rig.feed(in_force(A))
    rig.feed(ParentAmended(A, 200, PX, (), 0, pending=True))
    outs = rig.feed(ResumeTrading("IBM"), INJECT)
    assert of(outs, NewChild) == [] and infos(outs) == ["IBM resumed by ops: 1 order goes on"]
    outs = rig.feed(ParentAmended(A, 200, PX, (), 0))
    assert [(m.child_id, m.qty) for m in of(outs, NewChild)] == [("ORD-A.1", 200)]


@pytest.mark.usefixtures("chaos")
def test_an_order_taken_down_during_a_halt_ends_its_held_children() -> None:
    heard: list[str] = []

    def hook(event: str, c: OrderContext) -> None:
        heard.append(event)
        if event == "amend":
            c.send("ARCX", "passive", 100, PX)

    rig = hooked(hook)
    rig.accept()
    rig.feed(HaltTrading("IBM", ""), INJECT)
    rig.feed(in_force(A))
    heard.clear()
    assert rig.feed(ParentCanceling(A, "client cancel")) == []
    assert heard == ["canceling", "child_done"]
    assert rig.app.state.children["ORD-A.1"].end_reason == "the order is being cancelled"
    rig.feed(ParentDone(A, "canceled", 0))
    outs = rig.feed(ResumeTrading("IBM"), INJECT)
    assert infos(outs) == ["IBM resumed by ops: 0 orders go on"] and len(outs) == 1


def test_a_dma_orders_child_is_held_and_amended_through_the_halt() -> None:
    rig = Rig(World())
    rig.feed(HaltTrading("IBM", "news pending"), INJECT)
    outs = rig.feed(ParentAccepted(A, "ALPHA", A, "IBM", "buy", 500, "limit", PX, "day", "dma",
                                   (("venue", "ARCX"),)))
    assert of(outs, NewChild) == []
    outs = rig.feed(ParentAmended(A, 600, PX - TICK, (), 0))
    assert of(outs, ReplaceChild) == []
    outs = rig.feed(ResumeTrading("IBM"), INJECT)
    assert [(m.child_id, m.venue, m.qty, m.limit_px, m.tif) for m in of(outs, NewChild)] == [
        ("ORD-A.1", "ARCX", 600, PX - TICK, "day")]


# ====================================================================== busts and corrections


@pytest.mark.usefixtures("chaos")
def test_a_bust_and_corrections_of_a_live_childs_fills() -> None:
    heard: list[str] = []

    def hook(event: str, c: OrderContext) -> None:
        heard.append(event)
        if event == "start":
            c.send("ARCX", "passive", 500, PX)

    rig = hooked(hook)
    rig.accept()
    rig.sent("ORD-A.1")
    rig.venue(VenueFill("ORD-A.1", "E1", 200, PX))
    rig.venue(VenueFill("ORD-A.1", "E2", 100, PX - TICK))
    rig.venue(VenueFill("ORD-A.1", "E2", 100, PX - TICK))  # a repeat: once
    ch, p = rig.app.state.children["ORD-A.1"], rig.app.state.parents[A]
    assert (ch.cum_qty, p.cum_qty) == (300, 300)
    heard.clear()

    def looks() -> tuple[int, int, int, int, int, int]:
        return ch.cum_qty, ch.qty, ch.open_qty, ch.notional, p.cum_qty, p.notional

    assert rig.venue(VenueTradeCanceled("ORD-A.1", "X1", "E1")) == []
    assert looks() == (100, 300, 200, 100 * (PX - TICK), 100, 100 * (PX - TICK))
    assert heard == [f"trade_amended ORD-A.1 -200 {PX}"]
    assert rig.venue(VenueTradeCanceled("ORD-A.1", "X1", "E1")) == []  # a repeat: once
    rig.venue(VenueTradeCorrected("ORD-A.1", "C1", "E2", 150, PX))
    assert looks() == (150, 350, 200, 150 * PX, 150, 150 * PX)
    rig.venue(VenueTradeCorrected("ORD-A.1", "C2", "C1", 120, PX - TICK))  # of the correction
    assert looks() == (120, 320, 200, 120 * (PX - TICK), 120, 120 * (PX - TICK))
    assert heard == [f"trade_amended ORD-A.1 -200 {PX}", f"trade_amended ORD-A.1 50 {PX}",
                     f"trade_amended ORD-A.1 -30 {PX - TICK}"]
    assert ch.fills == {"C2": (120, PX - TICK)}
    # the OMS's count from before the bust does not undo it; the strategy has room again
    rig.feed(ParentAmended(A, 1_000, PX, (), 300))
    assert p.cum_qty == 120 and ch.status == "live"


@pytest.mark.usefixtures("chaos")
def test_a_bust_of_a_done_childs_fill_leaves_it_done() -> None:
    heard: list[str] = []

    def hook(event: str, c: OrderContext) -> None:
        heard.append(event)
        if event == "start":
            c.send("ARCX", "passive", 500, PX)

    rig = hooked(hook)
    rig.accept()
    rig.sent("ORD-A.1")
    rig.venue(VenueFill("ORD-A.1", "E1", 300, PX))
    rig.venue(VenueFill("ORD-A.1", "E2", 200, PX))
    ch, p = rig.app.state.children["ORD-A.1"], rig.app.state.parents[A]
    assert ch.status == "done"
    heard.clear()
    rig.venue(VenueTradeCanceled("ORD-A.1", "X1", "E2"))
    assert (ch.status, ch.cum_qty, ch.qty, ch.open_qty, p.cum_qty) == ("done", 300, 300, 0,
                                                                       300)
    assert heard == [f"trade_amended ORD-A.1 -200 {PX}"]  # no second child_done
    rig.venue(VenueTradeCorrected("ORD-A.1", "C1", "E1", 350, PX))
    assert (ch.status, ch.cum_qty, ch.qty, p.cum_qty) == ("done", 350, 350, 350)


@pytest.mark.usefixtures("chaos")
def test_a_bust_or_correction_of_a_fill_the_child_does_not_have_alerts_and_changes_nothing(
        ) -> None:
    def hook(event: str, c: OrderContext) -> None:
        if event == "start":
            c.send("ARCX", "passive", 500, PX)

    rig = hooked(hook)
    rig.accept()
    rig.sent("ORD-A.1")
    rig.venue(VenueFill("ORD-A.1", "E1", 200, PX))
    rig.venue(VenueTradeCanceled("ORD-A.1", "X1", "E1"))
    ch = rig.app.state.children["ORD-A.1"]
    before = (ch.cum_qty, ch.qty, ch.notional, rig.app.state.parents[A].cum_qty)
    outs = rig.venue(VenueTradeCanceled("ORD-A.1", "X2", "NOPE"))
    outs += rig.venue(VenueTradeCorrected("ORD-A.1", "C1", "E1", 100, PX))
    outs += rig.venue(VenueTradeCorrected("ORD-A.1", "C1", "E1", 100, PX))  # a repeat: once
    assert codes(outs) == ["unknown_fill", "unknown_fill"]
    texts = [a.text for a in of(outs, Alert)]
    assert "refers to 'NOPE', no fill of it" in texts[0]
    assert "refers to 'E1', a fill already broken or corrected" in texts[1]
    assert (ch.cum_qty, ch.qty, ch.notional, rig.app.state.parents[A].cum_qty) == before
    # a bust of a child the container forgot (its order is done) is the OMS's business
    assert rig.venue(VenueTradeCanceled("ORD-Z.1", "X3", "E9")) == []


# ====================================================================== reopened orders


def test_a_reopened_dma_order_sends_a_child_for_its_leaves() -> None:
    rig = Rig(World())
    accepted = ParentAccepted(A, "ALPHA", A, "IBM", "buy", 1_000, "limit", PX, "day", "dma",
                              (("venue", "ARCX"),))
    assert [m.qty for m in of(rig.feed(accepted), NewChild)] == [1_000]
    rig.sent("ORD-A.1")
    rig.venue(VenueFill("ORD-A.1", "E1", 600, PX))
    rig.venue(VenueFill("ORD-A.1", "E2", 400, PX))
    rig.feed(ParentDone(A, "filled", 1_000))
    assert rig.app.state.parents == {}
    assert rig.venue(VenueTradeCanceled("ORD-A.1", "X1", "E2")) == []  # forgotten here
    outs = rig.feed(ParentReopened(A, "ALPHA", A, "IBM", "buy", 1_000, "limit", PX, "day",
                                   "dma", (("venue", "ARCX"),), 600, 600 * PX))
    assert [(m.child_id, m.venue, m.qty, m.limit_px) for m in of(outs, NewChild)] == [
        ("ORD-A.2", "ARCX", 400, PX)]  # numbered on: ORD-A.1 is the OMS's still
    p = rig.app.state.parents[A]
    assert (p.cum_qty, p.notional, p.leaves) == (600, 600 * PX, 400)
    assert rig.app.state.counts.reopened == 1 and codes(outs) == []
    # an amendment moves the new child by what the order has left
    rig.sent("ORD-A.2")
    outs = rig.feed(ParentAmended(A, 800, PX, (), 600))
    assert [(m.child_id, m.qty) for m in of(outs, ReplaceChild)] == [("ORD-A.2", 200)]
