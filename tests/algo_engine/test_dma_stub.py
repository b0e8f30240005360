"""DMA, a strategy of the algo container, driven by the real OMS: a DMA parent becomes one
child on the client's venue, an amendment a downstream replace of that child."""

from __future__ import annotations

import pytest

from algo_engine.app import AlgoEngine
from algo_engine.strategies import STRATEGIES
from sequencer import sources
from sequencer.messages.admin import HaltTrading, ResumeTrading
from sequencer.messages.control import Alert
from sequencer.messages.executions import (
    ExecutionReport,
    VenueAck,
    VenueCanceled,
    VenueFill,
    VenueReplaced,
    VenueTradeCanceled,
)
from sequencer.messages.orders import (
    CancelOrder,
    ChildOrderSent,
    ChildRequestRejected,
    NewChild,
    NewOrder,
    ParentReopened,
    ReplaceOrder,
)
from tests.oms.fixtures import Session, of_type

PX = 182_0000


class Both(Session):
    """The OMS session of the OMS tests with the algo container on the same stream kit:
    the container sees the OMS's outputs and the venue events, the OMS its child
    requests, each sequenced after what caused it."""

    def __init__(self) -> None:
        self.container = AlgoEngine()
        super().__init__(others=[self.container])

    def alerts(self) -> list[str]:
        """The container's alerts so far, by code."""
        return [a.code for a in self.of_type(Alert) if a.source == "algo"]


def dma_order(qty: int = 1_000, venue: str = "ARCX") -> NewOrder:
    return NewOrder(client="ALPHA", cl_ord_id="D1", symbol="IBM", side="buy", qty=qty,
                    ord_type="limit", limit_px=PX, algo="DMA", algo_params=(("venue", venue),))


def test_a_dma_order_is_one_child_on_the_named_venue_and_fills_through() -> None:
    b = Both()
    outs = b.client(dma_order())
    sent = of_type(outs, ChildOrderSent)
    assert [(c.action, c.child_id, c.venue, c.destination, c.qty, c.limit_px) for c in sent] == [
        ("new", "20131008-1.1", "ARCX", "DMA-ARCX", 1_000, PX)]
    b.venue(VenueAck(child_id="20131008-1.1", venue_order_id="A1"))
    outs = b.venue(VenueFill(child_id="20131008-1.1", exec_id="F1", qty=1_000, px=PX))
    ers = of_type(outs, ExecutionReport)
    assert [(e.exec_type, e.ord_status, e.cum_qty) for e in ers] == [("trade", "filled", 1_000)]
    assert b.container.state.parents == {}
    assert b.alerts() == []  # nothing refused, no strategy stopped


def test_an_amendment_moves_the_child_with_a_replace() -> None:
    b = Both()
    b.client(dma_order())
    b.venue(VenueAck(child_id="20131008-1.1", venue_order_id="A1"))
    outs = b.client(ReplaceOrder(
        client="ALPHA", cl_ord_id="D2", orig_cl_ord_id="D1", symbol="IBM", side="buy",
        qty=600))
    sent = of_type(outs, ChildOrderSent)
    assert [(c.action, c.child_id, c.qty) for c in sent] == [("replace", "20131008-1.1", 600)]
    outs = b.venue(VenueReplaced(child_id="20131008-1.1", qty=600, limit_px=PX))
    ers = of_type(outs, ExecutionReport)
    assert [(e.exec_type, e.ord_status, e.order_qty, e.cl_ord_id) for e in ers] == [
        ("replaced", "new", 600, "D2")]
    assert b.alerts() == []  # nothing refused, no strategy stopped


def test_other_algos_wait_with_an_alert(monkeypatch: pytest.MonkeyPatch) -> None:
    """An algo the OMS accepts but the container does not run (here VWAP, taken out of the
    container's table) waits with the OMS, and ops are told."""
    monkeypatch.delitem(STRATEGIES, "vwap")
    b = Both()
    b.client(NewOrder(client="ALPHA", cl_ord_id="V1", symbol="IBM", side="buy", qty=1_000,
                      ord_type="limit", limit_px=PX, algo="vwap"))
    assert b.alerts() == ["algo_not_running"]
    assert b.container.state.counts.ignored == 1


CHILD = "20131008-1.1"


def test_a_replace_up_in_size_and_down_in_price_waits_for_the_child_then_grows_it() -> None:
    """A buy replaced to more shares at a lower limit: the child (above the new limit)
    must move first, so the OMS holds the replace pending. The stub reprices the child
    at its present size (growing it would break the OMS's open + filled <= parent rule
    while the old quantity stands), and grows it once the replace is in force."""
    b = Both()
    b.client(dma_order())
    b.venue(VenueAck(child_id=CHILD, venue_order_id="A1"))
    outs = b.client(ReplaceOrder(
        client="ALPHA", cl_ord_id="D2", orig_cl_ord_id="D1", symbol="IBM", side="buy",
        qty=1_500, limit_px=PX - 100))
    assert [(e.exec_type, e.ord_status) for e in of_type(outs, ExecutionReport)] == [
        ("pending_replace", "pending_replace")]
    assert not of_type(outs, ChildRequestRejected)
    sent = of_type(outs, ChildOrderSent)
    assert [(c.action, c.qty, c.limit_px) for c in sent] == [("replace", 1_000, PX - 100)]
    outs = b.venue(VenueReplaced(child_id=CHILD, qty=1_000, limit_px=PX - 100))
    ers = of_type(outs, ExecutionReport)
    assert [(e.exec_type, e.ord_status, e.order_qty, e.leaves_qty, e.limit_px, e.cl_ord_id,
             e.orig_cl_ord_id) for e in ers] == [
        ("replaced", "new", 1_500, 1_500, PX - 100, "D2", "D1")]
    sent = of_type(outs, ChildOrderSent)
    assert [(c.action, c.qty, c.limit_px) for c in sent] == [("replace", 1_500, PX - 100)]
    assert not of_type(outs, ChildRequestRejected)
    b.venue(VenueReplaced(child_id=CHILD, qty=1_500, limit_px=PX - 100))
    outs = b.venue(VenueFill(child_id=CHILD, exec_id="F1", qty=1_500, px=PX - 100))
    assert [(e.exec_type, e.ord_status, e.cum_qty) for e in of_type(outs, ExecutionReport)] == [
        ("trade", "filled", 1_500)]
    assert b.alerts() == []  # nothing refused, no strategy stopped


def test_a_reduction_pending_shrinks_the_child_once() -> None:
    b = Both()
    b.client(dma_order())
    b.venue(VenueAck(child_id=CHILD, venue_order_id="A1"))
    b.venue(VenueFill(child_id=CHILD, exec_id="F1", qty=200, px=PX))
    outs = b.client(ReplaceOrder(
        client="ALPHA", cl_ord_id="D2", orig_cl_ord_id="D1", symbol="IBM", side="buy",
        qty=600))
    assert [(c.action, c.qty) for c in of_type(outs, ChildOrderSent)] == [("replace", 600)]
    outs = b.venue(VenueReplaced(child_id=CHILD, qty=600, limit_px=PX))
    assert [(e.exec_type, e.order_qty, e.cum_qty, e.leaves_qty)
            for e in of_type(outs, ExecutionReport)] == [("replaced", 600, 200, 400)]
    assert of_type(outs, ChildOrderSent) == []  # the child is already what the order is
    assert b.alerts() == []  # nothing refused, no strategy stopped


def test_a_client_cancel_and_a_venue_cancel_end_the_dma_order() -> None:
    b = Both()
    b.client(dma_order())
    b.venue(VenueAck(child_id=CHILD, venue_order_id="A1"))
    outs = b.client(CancelOrder(client="ALPHA", cl_ord_id="D2",
                                              orig_cl_ord_id="D1", symbol="IBM", side="buy"))
    assert [(c.action, c.child_id) for c in of_type(outs, ChildOrderSent)] == [
        ("cancel", CHILD)]
    outs = b.venue(VenueCanceled(child_id=CHILD))
    assert [(e.exec_type, e.cl_ord_id, e.orig_cl_ord_id)
            for e in of_type(outs, ExecutionReport)] == [("canceled", "D2", "D1")]
    assert b.container.state.parents == {}
    # a second order, cancelled by the venue on its own
    b.client(NewOrder(client="ALPHA", cl_ord_id="E1", symbol="IBM", side="buy",
                                    qty=500, ord_type="limit", limit_px=PX, algo="DMA",
                                    algo_params=(("venue", "ARCX"),)))
    outs = b.venue(VenueCanceled(child_id="20131008-2.1", unsolicited=True,
                                 reason="symbol halted"))
    assert [(e.exec_type, e.ord_status, e.cl_ord_id, e.text)
            for e in of_type(outs, ExecutionReport)] == [
        ("canceled", "canceled", "E1", "ARCX cancelled the order: symbol halted")]
    assert b.container.state.parents == {}
    assert b.alerts() == []  # nothing refused, no strategy stopped


def test_a_bust_of_a_filled_dma_order_reopens_it_and_a_child_goes_for_the_rest() -> None:
    """The OMS reopens the filled order (`ParentReopened`); the container starts DMA again,
    whose child is for the order's leaves, numbered on from the first."""
    b = Both()
    b.client(dma_order())
    b.venue(VenueAck(child_id=CHILD, venue_order_id="A1"))
    b.venue(VenueFill(child_id=CHILD, exec_id="F1", qty=600, px=PX))
    b.venue(VenueFill(child_id=CHILD, exec_id="F2", qty=400, px=PX))
    assert b.container.state.parents == {}
    outs = b.venue(VenueTradeCanceled(CHILD, "X1", "F2"))
    [reopened] = of_type(outs, ParentReopened)
    assert (reopened.qty, reopened.cum_qty) == (1_000, 600)
    sent = of_type(outs, ChildOrderSent)
    assert [(c.action, c.child_id, c.venue, c.qty, c.limit_px) for c in sent] == [
        ("new", "20131008-1.2", "ARCX", 400, PX)]
    assert b.alerts() == []


def test_a_dma_order_reopened_during_a_halt_of_its_symbol_waits_for_the_resume() -> None:
    """The OMS refuses a new DMA order while its symbol is halted (its call), but a bust
    can reopen one then: the container holds its child until the resume."""
    b = Both()
    b.client(dma_order())
    b.venue(VenueAck(child_id=CHILD, venue_order_id="A1"))
    b.venue(VenueFill(child_id=CHILD, exec_id="F1", qty=1_000, px=PX))
    b.send(HaltTrading("IBM", "news pending"), sources.INJECT)
    outs = b.venue(VenueTradeCanceled(CHILD, "X1", "F1"))
    assert of_type(outs, ParentReopened) and of_type(outs, NewChild) == []
    outs = b.send(ResumeTrading("IBM"), sources.INJECT)
    assert [(c.child_id, c.qty) for c in of_type(outs, NewChild)] == [("20131008-1.2", 1_000)]
    assert [(c.action, c.child_id) for c in of_type(outs, ChildOrderSent)] == [
        ("new", "20131008-1.2")]
