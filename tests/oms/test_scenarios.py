"""FIX 4.4 order state change matrices (Appendix D) as the OMS answers them, pinned
field by field, and the races an agency OMS meets between clients and venues.

Each test names the matrix it follows. Reports are compared as tuples of
(ExecType, OrdStatus, ClOrdID, OrigClOrdID, OrderQty, CumQty, LeavesQty,
LastQty, LastPx, AvgPx) so a wrong field shows at once.
"""

from __future__ import annotations

from typing import Any

from sequencer.messages import Message
from sequencer.messages.admin import EngageKillSwitch
from sequencer.messages.control import Alert
from sequencer.messages.executions import (
    CancelReject,
    ExecutionReport,
    VenueAck,
    VenueCanceled,
    VenueCancelRejected,
    VenueFill,
    VenueReject,
    VenueReplaced,
)
from sequencer.messages.orders import (
    CancelChild,
    CancelOrder,
    ChildOrderSent,
    ChildRequestRejected,
    NewChild,
    NewOrder,
    OrderStatusRequest,
    ParentAccepted,
    ParentAmended,
    ParentCanceling,
    ParentDone,
    ReplaceChild,
    ReplaceOrder,
)
from tests.oms.fixtures import HOUR, MS, SECOND, Session, of_type

OID = "20131008-1"
PX = 182_0000  # IBM limit 182.00
AVG = 10_000  # AvgPx scale over price scale


def er(o: ExecutionReport) -> tuple[Any, ...]:
    return (o.exec_type, o.ord_status, o.cl_ord_id, o.orig_cl_ord_id, o.order_qty, o.cum_qty,
            o.leaves_qty, o.last_qty, o.last_px, o.avg_px)


def ers(outs: list[Message]) -> list[tuple[Any, ...]]:
    return [er(o) for o in of_type(outs, ExecutionReport)]


def kinds(outs: list[Message]) -> list[str]:
    return [type(o).__name__ for o in outs]


def new(s: Session, qty: int = 10_000, cl: str = "X", client: str = "ALPHA",
        px: int = PX, **kw: Any) -> list[Message]:
    return s.client(NewOrder(client=client, cl_ord_id=cl, symbol="IBM", side="buy", qty=qty,
                             ord_type="limit", limit_px=px, algo="vwap", **kw))


def child(s: Session, cid: str, qty: int, px: int = PX - 100, oid: str = OID,
          ack: bool = True) -> list[Message]:
    outs = s.algo(NewChild(parent_id=oid, child_id=cid, venue="XNYS", qty=qty,
                           ord_type="limit", limit_px=px))
    if ack:
        outs += s.venue(VenueAck(child_id=cid, venue_order_id="V" + cid))
    return outs


def fill(s: Session, cid: str, qty: int, px: int = PX - 100, exec_id: str = "") -> list[Message]:
    n = sum(isinstance(o, ExecutionReport) for o in s.outputs)  # unique enough per session
    return s.venue(VenueFill(child_id=cid, exec_id=exec_id or f"F{s.seq}-{n}", qty=qty, px=px))


def cancel(s: Session, cl: str, orig: str) -> list[Message]:
    return s.client(CancelOrder(client="ALPHA", cl_ord_id=cl, orig_cl_ord_id=orig, symbol="IBM",
                                side="buy"))


def replace(s: Session, cl: str, orig: str, qty: int = 0, px: int = 0) -> list[Message]:
    return s.client(ReplaceOrder(client="ALPHA", cl_ord_id=cl, orig_cl_ord_id=orig,
                                 symbol="IBM", side="buy", qty=qty, limit_px=px))


P1 = PX - 100  # the children's price: 181.99
AV1 = P1 * AVG


# ------------------------------------------------------------------ vanilla


def test_d1_filled_order() -> None:
    s = Session()
    outs = new(s)
    assert kinds(outs) == ["ExecutionReport", "ParentAccepted", "Subscribe"]
    assert ers(outs) == [("new", "new", "X", "", 10_000, 0, 10_000, 0, 0, 0)]
    accepted = of_type(outs, ParentAccepted)[0]
    assert (accepted.order_id, accepted.algo, accepted.qty, accepted.limit_px) == (
        OID, "vwap", 10_000, PX)
    sent = of_type(child(s, "C1", 10_000), ChildOrderSent)[0]
    assert (sent.action, sent.venue, sent.destination, sent.qty, sent.limit_px, sent.side) == (
        "new", "XNYS", "DMA-XNYS", 10_000, P1, "buy")
    assert ers(fill(s, "C1", 2_000)) == [
        ("trade", "partially_filled", "X", "", 10_000, 2_000, 8_000, 2_000, P1, AV1)]
    outs = fill(s, "C1", 8_000, px=PX)
    assert ers(outs) == [("trade", "filled", "X", "", 10_000, 10_000, 0, 8_000, PX,
                          (2_000 * P1 + 8_000 * PX) * AVG // 10_000)]
    assert of_type(outs, ParentDone) == [ParentDone(order_id=OID, ord_status="filled",
                                                    cum_qty=10_000)]
    assert len({o.exec_id for o in of_type(s.outputs, ExecutionReport)}) == 3


def test_d2_part_filled_day_order_done_for_day() -> None:
    """A client configured for done-for-day gets ExecType 3 at the close, not a cancel."""
    s = Session()
    s.client(NewOrder(client="BETA", cl_ord_id="X", symbol="IBM", side="buy", qty=1_000,
                      ord_type="limit", limit_px=PX, algo="vwap"))
    child(s, "C1", 1_000)
    fill(s, "C1", 300)
    outs = s.advance(7 * HOUR)  # past 16:05
    assert [(o.action, o.child_id) for o in of_type(outs, ChildOrderSent)] == [("cancel", "C1")]
    assert ers(outs) == []  # nothing for the client until the venue confirms
    outs = s.venue(VenueCanceled(child_id="C1"))
    assert ers(outs) == [("done_for_day", "done_for_day", "X", "", 1_000, 300, 0, 0, 0,
                          P1 * AVG)]
    assert of_type(outs, ParentDone)[0].ord_status == "done_for_day"


def test_pending_new_then_new_for_clients_configured_so() -> None:
    s = Session()
    outs = s.client(NewOrder(client="BETA", cl_ord_id="X", symbol="IBM", side="buy", qty=150,
                             ord_type="limit", limit_px=PX, algo="vwap"))
    assert ers(outs) == [("pending_new", "pending_new", "X", "", 150, 0, 150, 0, 0, 0),
                         ("new", "new", "X", "", 150, 0, 150, 0, 0, 0)]


# ------------------------------------------------------------------ cancel


def test_d3_cancel_of_a_zero_filled_order_without_children_is_immediate() -> None:
    s = Session()
    new(s)
    outs = cancel(s, "Y", "X")
    assert ers(outs) == [("canceled", "canceled", "Y", "X", 10_000, 0, 0, 0, 0, 0)]
    assert of_type(outs, ParentDone)[0].ord_status == "canceled"


def test_d4_executions_while_a_cancel_is_pending_report_against_the_old_clordid() -> None:
    s = Session()
    new(s)
    child(s, "C1", 5_000)
    child(s, "C2", 5_000)
    fill(s, "C1", 1_000)
    outs = cancel(s, "Y", "X")
    assert ers(outs) == [("pending_cancel", "pending_cancel", "Y", "X", 10_000, 1_000, 9_000,
                          0, 0, AV1)]
    assert [(o.action, o.child_id) for o in of_type(outs, ChildOrderSent)] == [
        ("cancel", "C1"), ("cancel", "C2")]
    assert of_type(outs, ParentCanceling)[0].order_id == OID
    # A fill crosses the cancel: reported against X, with pending cancel's precedence.
    assert ers(fill(s, "C2", 500)) == [
        ("trade", "pending_cancel", "X", "", 10_000, 1_500, 8_500, 500, P1, AV1)]
    assert ers(s.venue(VenueCanceled(child_id="C1"))) == []
    outs = s.venue(VenueCanceled(child_id="C2"))
    assert ers(outs) == [("canceled", "canceled", "Y", "X", 10_000, 1_500, 0, 0, 0, AV1)]


def test_d5_order_filled_before_the_cancel_can_complete() -> None:
    s = Session()
    new(s, qty=1_000)
    child(s, "C1", 1_000)
    cancel(s, "Y", "X")
    outs = fill(s, "C1", 1_000)
    # reported while the cancel is still pending: that status has precedence over filled
    assert ers(outs) == [("trade", "pending_cancel", "X", "", 1_000, 1_000, 0, 1_000, P1, AV1)]
    rej = of_type(outs, CancelReject)
    assert [(r.cl_ord_id, r.orig_cl_ord_id, r.ord_status, r.response_to, r.reason)
            for r in rej] == [("Y", "X", "filled", "cancel", "too_late")]
    # the fill is reported before the reject
    assert kinds(outs).index("ExecutionReport") < kinds(outs).index("CancelReject")
    # the venue's late cancel answer changes nothing
    assert s.venue(VenueCanceled(child_id="C1")) == []


def answers(outs: list[Message]) -> list[tuple[Any, ...]]:
    """What the client is told, in order: ExecutionReports (8: ExecType, OrdStatus,
    ClOrdID, OrigClOrdID, CumQty, LeavesQty) and CancelRejects (9: CxlRejResponseTo,
    OrdStatus, ClOrdID, OrigClOrdID, CxlRejReason)."""
    return [("8", o.exec_type, o.ord_status, o.cl_ord_id, o.orig_cl_ord_id, o.cum_qty,
             o.leaves_qty) if isinstance(o, ExecutionReport) else
            ("9", o.response_to, o.ord_status, o.cl_ord_id, o.orig_cl_ord_id, o.reason)
            for o in outs if isinstance(o, ExecutionReport | CancelReject)]


def test_d5_a_part_filled_order_fills_completely_while_the_cancel_is_pending() -> None:
    """FIX 4.4 Appendix D5 with two children: the OMS has accepted the cancel (Pending
    Cancel) and asked the venues to cancel; their fills arrive first. Each fill is
    reported with Pending Cancel's precedence; the one that completes the order is
    followed by the cancel's reject (too late, OrdStatus Filled), so the client's last
    word on the order is Filled, and nothing after it says otherwise."""
    s = Session()
    new(s)
    child(s, "C1", 5_000)
    child(s, "C2", 5_000)
    fill(s, "C1", 1_000)
    outs = cancel(s, "Y", "X")
    assert [(o.action, o.child_id) for o in of_type(outs, ChildOrderSent)] == [
        ("cancel", "C1"), ("cancel", "C2")]
    assert answers(fill(s, "C1", 4_000)) == [
        ("8", "trade", "pending_cancel", "X", "", 5_000, 5_000)]
    outs = fill(s, "C2", 5_000)
    assert kinds(outs) == ["ExecutionReport", "ParentDone", "CancelReject"]
    assert answers(outs) == [
        ("8", "trade", "pending_cancel", "X", "", 10_000, 0),
        ("9", "cancel", "filled", "Y", "X", "too_late")]
    assert of_type(outs, ParentDone) == [ParentDone(order_id=OID, ord_status="filled",
                                                    cum_qty=10_000)]
    assert of_type(outs, CancelReject)[0].text == "too late: the order is filled"
    p = s.app.state.parents[OID]
    assert (p.state, p.pend_cl_ord_id, p.cl_ord_id, p.live_children) == ("filled", "", "X", 0)
    # The venues refuse our cancels (filled): nothing more for anyone.
    for cid in ("C1", "C2"):
        assert s.venue(VenueCancelRejected(child_id=cid, response_to="cancel",
                                           reason="too late: filled")) == []
    # The client asks: filled, under the ClOrdID in force (the rejected cancel's is not).
    assert answers(s.client(OrderStatusRequest(client="ALPHA", cl_ord_id="Y", symbol="IBM",
                                               side="buy"))) == [
        ("8", "order_status", "filled", "X", "", 10_000, 0)]
    assert answers(cancel(s, "Z", "X")) == [("9", "cancel", "filled", "Z", "X", "too_late")]
    # The whole day as the client saw it.
    assert answers(s.outputs) == [
        ("8", "new", "new", "X", "", 0, 10_000),
        ("8", "trade", "partially_filled", "X", "", 1_000, 9_000),
        ("8", "pending_cancel", "pending_cancel", "Y", "X", 1_000, 9_000),
        ("8", "trade", "pending_cancel", "X", "", 5_000, 5_000),
        ("8", "trade", "pending_cancel", "X", "", 10_000, 0),
        ("9", "cancel", "filled", "Y", "X", "too_late"),
        ("8", "order_status", "filled", "X", "", 10_000, 0),
        ("9", "cancel", "filled", "Z", "X", "too_late")]


def test_a_part_filled_order_fills_while_the_cancel_is_pending_then_is_cancelled() -> None:
    """FIX 4.4 Appendix D4, the normal path beside D5: fills while the cancel is pending
    leave shares open, so the venues' cancels end the order Canceled under the cancel's
    ClOrdID, and no CancelReject is sent."""
    s = Session()
    new(s)
    child(s, "C1", 5_000)
    child(s, "C2", 5_000)
    cancel(s, "Y", "X")
    assert answers(fill(s, "C1", 2_000)) == [
        ("8", "trade", "pending_cancel", "X", "", 2_000, 8_000)]
    assert answers(s.venue(VenueCanceled(child_id="C2"))) == []
    assert answers(fill(s, "C1", 1_000)) == [
        ("8", "trade", "pending_cancel", "X", "", 3_000, 7_000)]
    outs = s.venue(VenueCanceled(child_id="C1"))
    assert kinds(outs) == ["ExecutionReport", "ParentDone"]
    assert of_type(outs, ParentDone)[0].ord_status == "canceled"
    assert answers(s.outputs) == [
        ("8", "new", "new", "X", "", 0, 10_000),
        ("8", "pending_cancel", "pending_cancel", "Y", "X", 0, 10_000),
        ("8", "trade", "pending_cancel", "X", "", 2_000, 8_000),
        ("8", "trade", "pending_cancel", "X", "", 3_000, 7_000),
        ("8", "canceled", "canceled", "Y", "X", 3_000, 0)]
    assert answers(s.client(OrderStatusRequest(client="ALPHA", cl_ord_id="X", symbol="IBM",
                                               side="buy"))) == [
        ("8", "order_status", "canceled", "Y", "X", 3_000, 0)]


def test_a_part_filled_order_fills_completely_while_a_replace_is_pending() -> None:
    """As D5 for a replace (FIX 4.4 D7's pending replace, then the fill that completes
    the order at its old terms): the fill is reported with Pending Replace's precedence
    against the old ClOrdID and quantity, then the replace is rejected (too late,
    OrdStatus Filled); the algo engine is not handed the new terms, and the replace's
    timer, when it comes, does nothing."""
    s = Session()
    new(s)
    child(s, "C1", 10_000)
    fill(s, "C1", 2_000)
    # Up to 12,000 at 181.98: the child at 181.99 does not fit, so the replace waits.
    outs = replace(s, "Y", "X", qty=12_000, px=P1 - 100)
    assert answers(outs) == [
        ("8", "pending_replace", "pending_replace", "Y", "X", 2_000, 8_000)]
    outs = fill(s, "C1", 8_000)
    assert kinds(outs) == ["ExecutionReport", "ParentDone", "CancelReject"]
    assert ers(outs) == [("trade", "pending_replace", "X", "", 10_000, 10_000, 0, 8_000, P1,
                          AV1)]
    assert answers(outs) == [
        ("8", "trade", "pending_replace", "X", "", 10_000, 0),
        ("9", "replace", "filled", "Y", "X", "too_late")]
    p = s.app.state.parents[OID]
    assert (p.state, p.qty, p.limit_px, p.pend_cl_ord_id, p.pend_timer) == (
        "filled", 10_000, PX, "", 0)
    outs = s.advance(5 * SECOND)  # past the replace timeout
    assert answers(outs) == [] and not of_type(outs, ParentAmended)
    assert answers(s.client(OrderStatusRequest(client="ALPHA", cl_ord_id="X", symbol="IBM",
                                               side="buy"))) == [
        ("8", "order_status", "filled", "X", "", 10_000, 0)]
    assert answers(s.outputs) == [
        ("8", "new", "new", "X", "", 0, 10_000),
        ("8", "trade", "partially_filled", "X", "", 2_000, 8_000),
        ("8", "pending_replace", "pending_replace", "Y", "X", 2_000, 8_000),
        ("8", "trade", "pending_replace", "X", "", 10_000, 0),
        ("9", "replace", "filled", "Y", "X", "too_late"),
        ("8", "order_status", "filled", "X", "", 10_000, 0)]


def test_cancel_of_a_filled_order_is_rejected_too_late() -> None:
    s = Session()
    new(s, qty=100)
    child(s, "C1", 100)
    fill(s, "C1", 100)
    rej = of_type(cancel(s, "Y", "X"), CancelReject)[0]
    assert (rej.order_id, rej.ord_status, rej.reason, rej.text) == (
        OID, "filled", "too_late", "too late: the order is filled")


def test_cancel_of_an_unknown_order_and_a_second_cancel() -> None:
    s = Session()
    rej = of_type(cancel(s, "Y", "NOPE"), CancelReject)[0]
    assert (rej.order_id, rej.ord_status, rej.reason) == ("NONE", "rejected", "unknown_order")
    new(s)
    child(s, "C1", 100)
    cancel(s, "Y2", "X")
    rej = of_type(cancel(s, "Y3", "X"), CancelReject)[0]
    assert (rej.ord_status, rej.reason) == ("pending_cancel", "already_pending")
    rej = of_type(cancel(s, "Y2", "X"), CancelReject)[0]
    assert rej.reason == "duplicate_cl_ord_id"


def test_a_cancel_the_venue_refuses_is_rejected_to_the_client() -> None:
    """A child locked in the closing auction: the venue refuses the cancel. With nothing
    else in flight the client's cancel gets a CancelReject (FIX 4.4: the order goes
    back to its status before the cancel), the order goes on, and the algo engine
    (told to stop by ParentCanceling) gets the order's terms again."""
    s = Session()
    new(s, qty=1_000)
    child(s, "C1", 1_000)
    fill(s, "C1", 100)
    cancel(s, "Y", "X")
    outs = s.venue(VenueCancelRejected(child_id="C1", response_to="cancel",
                                       reason="locked in the closing auction"))
    assert ers(outs) == []
    rej = of_type(outs, CancelReject)
    assert [(r.order_id, r.cl_ord_id, r.orig_cl_ord_id, r.ord_status, r.response_to,
             r.reason, r.text) for r in rej] == [
        (OID, "Y", "X", "partially_filled", "cancel", "broker_option",
         "XNYS refused to cancel the order: locked in the closing auction")]
    assert of_type(outs, ParentAmended) == [ParentAmended(
        order_id=OID, qty=1_000, limit_px=PX, algo_params=(), cum_qty=100, pending=False)]
    assert not of_type(outs, Alert)
    p = s.app.state.parents[OID]
    assert (p.state, p.closing, p.pend_cl_ord_id) == ("working", "", "")
    outs = fill(s, "C1", 400)
    assert ers(outs) == [("trade", "partially_filled", "X", "", 1_000, 500, 500, 400, P1, AV1)]
    # the client may cancel again (a new ClOrdID); this time the venue lets go
    assert ers(cancel(s, "Z", "X"))[0][:4] == ("pending_cancel", "pending_cancel", "Z", "X")
    outs = s.venue(VenueCanceled(child_id="C1"))
    assert ers(outs) == [("canceled", "canceled", "Z", "X", 1_000, 500, 0, 0, 0, AV1)]


def test_a_refused_cancel_waits_for_the_other_children() -> None:
    """Two children: one refuses, the other's cancel is still in flight; the client is
    answered once the last venue has answered: the order stands with the refusing one."""
    s = Session()
    new(s, qty=1_000)
    child(s, "C1", 500)
    child(s, "C2", 500)
    cancel(s, "Y", "X")
    outs = s.venue(VenueCancelRejected(child_id="C1", response_to="cancel", reason="locked"))
    assert not of_type(outs, CancelReject) and ers(outs) == []
    assert [a.code for a in of_type(outs, Alert)] == ["cancel_refused"]
    outs = s.venue(VenueCanceled(child_id="C2"))
    assert ers(outs) == []
    assert [(r.cl_ord_id, r.ord_status, r.text) for r in of_type(outs, CancelReject)] == [
        ("Y", "new", "a venue refused to cancel the order's open shares")]
    p = s.app.state.parents[OID]
    assert (p.state, p.live_children, p.open_qty) == ("working", 1, 500)


def test_a_refused_cancel_stays_pending_under_a_kill_switch() -> None:
    s = Session()
    new(s, qty=1_000)
    child(s, "C1", 1_000)
    cancel(s, "Y", "X")
    s.ops(EngageKillSwitch(scope="symbol", value="IBM", reason="test"))
    outs = s.venue(VenueCancelRejected(child_id="C1", response_to="cancel", reason="locked"))
    assert not of_type(outs, CancelReject)
    assert [a.code for a in of_type(outs, Alert)] == ["cancel_refused"]
    assert s.app.state.parents[OID].state == "pending_cancel"


def dma(s: Session, tif: str = "day") -> list[Message]:
    return s.client(NewOrder(client="ALPHA", cl_ord_id="X", symbol="IBM", side="buy",
                             qty=1_000, ord_type="limit", limit_px=PX, algo="dma",
                             algo_params=(("venue", "XNYS"),), tif=tif))  # type: ignore[arg-type]


def test_a_dma_order_ends_with_its_child_at_the_venue() -> None:
    """DMA: the venue's own cancel of the one child (after a fill) cancels the order back
    to the client with the venue's reason; a venue reject of the child likewise."""
    s = Session()
    dma(s)
    child(s, "C1", 1_000, px=PX)
    fill(s, "C1", 300, px=PX)
    outs = s.venue(VenueCanceled(child_id="C1", unsolicited=True, reason="halted"))
    assert ers(outs) == [("canceled", "canceled", "X", "", 1_000, 300, 0, 0, 0, PX * AVG)]
    assert of_type(outs, ExecutionReport)[0].text == "XNYS cancelled the order: halted"
    assert [a.code for a in of_type(outs, Alert)] == ["unsolicited_cancel"]
    assert [d.ord_status for d in of_type(outs, ParentDone)] == ["canceled"]
    s2 = Session()
    dma(s2, tif="opg")
    child(s2, "C1", 1_000, px=PX, ack=False)
    outs = s2.venue(VenueReject(child_id="C1", reason="the opening auction is over"))
    assert ers(outs) == [("canceled", "canceled", "X", "", 1_000, 0, 0, 0, 0, 0)]
    assert of_type(outs, ExecutionReport)[0].text == (
        "XNYS rejected the order: the opening auction is over")


def test_a_dma_order_with_a_replace_pending_refuses_it_then_ends() -> None:
    s = Session()
    dma(s)
    child(s, "C1", 1_000, px=PX)
    assert ers(replace(s, "Y", "X", px=PX - 100))[0][:2] == ("pending_replace",
                                                             "pending_replace")
    outs = s.venue(VenueCanceled(child_id="C1", unsolicited=True, reason="halted"))
    assert [(r.cl_ord_id, r.orig_cl_ord_id, r.response_to, r.ord_status)
            for r in of_type(outs, CancelReject)] == [("Y", "X", "replace", "new")]
    assert ers(outs) == [("canceled", "canceled", "X", "", 1_000, 0, 0, 0, 0, 0)]


def test_the_venue_cancelling_on_request_or_other_algos_end_nothing() -> None:
    """Our own cancel of a DMA child (the algo's CancelChild) or a venue's cancel of a
    VWAP child leave the order working: the algo decides what comes next."""
    s = Session()
    dma(s)
    child(s, "C1", 1_000, px=PX)
    s.algo(CancelChild(parent_id=OID, child_id="C1"))
    outs = s.venue(VenueCanceled(child_id="C1"))
    assert ers(outs) == [] and s.app.state.parents[OID].state == "working"
    s2 = Session()
    new(s2, qty=1_000)
    child(s2, "C1", 1_000)
    outs = s2.venue(VenueCanceled(child_id="C1", unsolicited=True, reason="halted"))
    assert ers(outs) == [] and s2.app.state.parents[OID].state == "working"


# ------------------------------------------------------------------ replace


def test_d6_replace_to_increase_qty_of_a_zero_filled_order() -> None:
    s = Session()
    new(s)
    outs = replace(s, "Y", "X", qty=11_000)
    assert ers(outs) == [("replaced", "new", "Y", "X", 11_000, 0, 11_000, 0, 0, 0)]
    assert of_type(outs, ParentAmended) == [ParentAmended(
        order_id=OID, qty=11_000, limit_px=PX, algo_params=(), cum_qty=0, pending=False)]
    # the new ClOrdID is the order's now
    assert ers(s.client(OrderStatusRequest(client="ALPHA", cl_ord_id="Y", symbol="IBM"))) == [
        ("order_status", "new", "Y", "X", 11_000, 0, 11_000, 0, 0, 0)]  # and its chain


def test_d7_execution_while_a_replace_is_pending_reports_the_old_terms() -> None:
    """Lowering the limit below a working child makes the replace wait for the child;
    a fill meanwhile is reported with the old ClOrdID, quantity and pending status."""
    s = Session()
    new(s)
    child(s, "C1", 5_000)
    fill(s, "C1", 1_000)
    outs = replace(s, "Y", "X", qty=12_000, px=P1 - 100)
    assert ers(outs) == [("pending_replace", "pending_replace", "Y", "X", 10_000, 1_000, 9_000,
                          0, 0, AV1)]
    assert of_type(outs, ParentAmended)[0].pending is True
    assert ers(fill(s, "C1", 1_000)) == [
        ("trade", "pending_replace", "X", "", 10_000, 2_000, 8_000, 1_000, P1, AV1)]
    # A new child during the pending replace must fit the stricter terms.
    rej = of_type(child(s, "C2", 100, px=P1, ack=False), ChildRequestRejected)
    assert rej and "above the parent's buy limit 181.98" in rej[0].reason
    # The algo engine re-prices the child in place; the venue confirms; the replace lands.
    sent = of_type(s.algo(ReplaceChild(parent_id=OID, child_id="C1", limit_px=P1 - 100)),
                   ChildOrderSent)[0]
    assert (sent.action, sent.qty, sent.limit_px) == ("replace", 5_000, P1 - 100)
    outs = s.venue(VenueReplaced(child_id="C1", qty=5_000, limit_px=P1 - 100))
    assert ers(outs) == [("replaced", "partially_filled", "Y", "X", 12_000, 2_000, 10_000, 0, 0,
                          AV1)]


def test_d8_replace_of_a_filled_order_is_rejected() -> None:
    s = Session()
    new(s, qty=100)
    child(s, "C1", 100)
    fill(s, "C1", 100)
    rej = of_type(replace(s, "Y", "X", qty=200), CancelReject)[0]
    assert (rej.response_to, rej.ord_status, rej.reason) == ("replace", "filled", "too_late")


def test_d10_replace_down_above_cum_then_filled() -> None:
    s = Session()
    new(s)
    child(s, "C1", 5_000)
    fill(s, "C1", 1_000)
    # open 4,000 + filled 1,000 fits 7,000: in force at once
    assert ers(replace(s, "Y", "X", qty=7_000)) == [
        ("replaced", "partially_filled", "Y", "X", 7_000, 1_000, 6_000, 0, 0, AV1)]
    child(s, "C2", 2_000)
    fill(s, "C1", 4_000)
    outs = fill(s, "C2", 2_000)
    assert ers(outs) == [("trade", "filled", "Y", "", 7_000, 7_000, 0, 2_000, P1, AV1)]


def test_d11_replace_to_the_filled_qty_makes_the_order_filled() -> None:
    s = Session()
    new(s)
    child(s, "C1", 7_000)
    fill(s, "C1", 7_000)
    outs = replace(s, "Y", "X", qty=7_000)
    assert ers(outs) == [("replaced", "filled", "Y", "X", 7_000, 7_000, 0, 0, 0, AV1)]
    assert of_type(outs, ParentDone)[0].ord_status == "filled"


def test_d12_replace_below_cum_amends_the_qty_to_cum_once_children_are_down() -> None:
    s = Session()
    new(s)
    child(s, "C1", 10_000)
    fill(s, "C1", 7_000)
    outs = replace(s, "Y", "X", qty=5_000)
    assert ers(outs) == [("pending_replace", "pending_replace", "Y", "X", 10_000, 7_000, 3_000,
                          0, 0, AV1)]
    assert [(o.action, o.child_id) for o in of_type(outs, ChildOrderSent)] == [("cancel", "C1")]
    outs = s.venue(VenueCanceled(child_id="C1"))
    assert ers(outs) == [("replaced", "filled", "Y", "X", 7_000, 7_000, 0, 0, 0, AV1)]


def test_d13_two_replaces_in_sequence_and_d14_a_rejected_one_between() -> None:
    s = Session()
    new(s)
    assert ers(replace(s, "Y", "X", qty=9_000))[0][:4] == ("replaced", "new", "Y", "X")
    rej = of_type(replace(s, "Z", "Y", qty=9_050), CancelReject)[0]  # not whole lots
    assert (rej.reason, rej.ord_status) == ("other", "new")
    assert "round lots" in rej.text
    assert ers(replace(s, "W", "Y", px=PX - 500)) == [
        ("replaced", "new", "W", "Y", 9_000, 0, 9_000, 0, 0, 0)]
    assert s.app.state.parents[OID].limit_px == PX - 500


def test_replace_timeout_cancels_the_children_that_do_not_fit() -> None:
    s = Session()
    new(s)
    child(s, "C1", 4_000)
    child(s, "C2", 4_000)
    replace(s, "Y", "X", qty=5_000)
    outs = s.advance(2_001 * MS)
    assert [(o.action, o.child_id) for o in of_type(outs, ChildOrderSent)] == [("cancel", "C2")]
    assert [a.code for a in of_type(outs, Alert)] == ["replace_timeout"]
    outs = s.venue(VenueCanceled(child_id="C2"))
    assert ers(outs) == [("replaced", "new", "Y", "X", 5_000, 0, 5_000, 0, 0, 0)]


# ------------------------------------------------------------------ races


def test_full_fill_while_a_child_replace_up_is_in_flight() -> None:
    """The child is filled at its old size while a replace to a larger size is in
    flight: the fill reaches the client first; the venue then refuses the replace; the
    algo engine's new child for the rest is accepted after it."""
    s = Session()
    new(s, qty=1_000)
    child(s, "C1", 500)
    s.algo(ReplaceChild(parent_id=OID, child_id="C1", qty=1_000))
    # exposure counts the larger size: no room for another child meanwhile
    assert of_type(child(s, "C2", 100, ack=False), ChildRequestRejected)
    outs = fill(s, "C1", 500)
    assert ers(outs) == [("trade", "partially_filled", "X", "", 1_000, 500, 500, 500, P1, AV1)]
    assert s.venue(VenueCancelRejected(child_id="C1", response_to="replace",
                                       reason="too late: filled")) == []
    sent = of_type(child(s, "C3", 500, ack=False), ChildOrderSent)
    assert [(o.action, o.qty) for o in sent] == [("new", 500)]


def test_replace_crossing_an_acknowledgement() -> None:
    """The algo engine replaces a child the venue has not acknowledged yet; the ack and
    the replace cross; both land and the book agrees with the venue."""
    s = Session()
    new(s, qty=1_000)
    child(s, "C1", 400, ack=False)
    s.algo(ReplaceChild(parent_id=OID, child_id="C1", qty=600))
    s.venue(VenueAck(child_id="C1", venue_order_id="V1"))
    s.venue(VenueReplaced(child_id="C1", qty=600, limit_px=P1))
    c = s.app.state.children["C1"]
    assert (c.status, c.qty, c.pending, s.app.state.parents[OID].open_qty) == ("new", 600, "", 600)


def test_a_repeated_venue_fill_is_applied_once() -> None:
    s = Session()
    new(s, qty=1_000)
    child(s, "C1", 1_000)
    assert len(ers(fill(s, "C1", 100, exec_id="E-1"))) == 1
    assert fill(s, "C1", 100, exec_id="E-1") == []
    assert s.app.state.parents[OID].cum_qty == 100


def test_an_overfill_from_a_venue_never_reaches_the_client() -> None:
    s = Session()
    new(s, qty=1_000)
    child(s, "C1", 300)
    outs = fill(s, "C1", 500)
    assert ers(outs) == [("trade", "partially_filled", "X", "", 1_000, 300, 700, 300, P1, AV1)]
    alert = of_type(outs, Alert)[0]
    assert (alert.severity, alert.code) == ("critical", "overfill")
    assert "200 shares booked to the error account" in alert.text


# ------------------------------------------------------------------ child invariants


def test_child_requests_that_break_an_invariant_are_rejected_and_alerted() -> None:
    s = Session()
    new(s, qty=1_000)
    child(s, "C1", 800)
    cases = [
        (NewChild(parent_id=OID, child_id="C2", venue="XNYS", qty=300, ord_type="limit",
                  limit_px=P1),
         "child of 300 would put open (800) plus filled (0) above the parent's 1,000"),
        (NewChild(parent_id=OID, child_id="C3", venue="XNYS", qty=100, ord_type="limit",
                  limit_px=PX + 100), "child limit 182.01 is above the parent's buy limit 182.00"),
        (NewChild(parent_id=OID, child_id="C4", venue="XNYS", qty=100, ord_type="market"),
         "a market child of a limit parent could trade beyond its 182.00"),
        (NewChild(parent_id=OID, child_id="C5", venue="FINR", qty=100, ord_type="limit",
                  limit_px=P1), "venue 'FINR' is not routable"),
        (ReplaceChild(parent_id=OID, child_id="C1", qty=1_100),
         "replace to 1,100 would put open (1,100) plus filled (0) above the parent's 1,000"),
        (ReplaceChild(parent_id=OID, child_id="C1", limit_px=PX + 1),
         "limit price 182.0001 is not on the tick (0.01)"),
    ]
    for msg, reason in cases:
        outs = s.algo(msg)
        rej = of_type(outs, ChildRequestRejected)
        assert [r.reason for r in rej] == [reason], msg
        assert [a.code for a in of_type(outs, Alert)] == ["child_rejected"], msg
        assert not of_type(outs, ChildOrderSent)
    # requests that are merely late are refused without an alert
    outs = s.algo(CancelChild(parent_id=OID, child_id="NOPE"))
    assert [r.reason for r in of_type(outs, ChildRequestRejected)] == [
        f"no child NOPE of parent {OID}"]
    assert not of_type(outs, Alert)


def test_a_parent_being_cancelled_takes_no_new_children() -> None:
    s = Session()
    new(s, qty=1_000)
    child(s, "C1", 500)
    cancel(s, "Y", "X")
    rej = of_type(child(s, "C2", 100, ack=False), ChildRequestRejected)[0]
    assert rej.reason == f"parent {OID} is pending_cancel (cancel requested by the client): " \
                         "no new children"


def test_a_replace_the_venue_will_not_let_happen_is_refused_after_the_timeout() -> None:
    """The timeout's cancel of a misfit child is refused by the venue: with nothing left
    in flight the replace gets a CancelReject and the order stands on its old terms."""
    s = Session()
    new(s, qty=1_000)
    child(s, "C1", 1_000)
    replace(s, "Y", "X", qty=500)
    assert [o.action for o in of_type(s.advance(2_001 * MS), ChildOrderSent)] == ["cancel"]
    outs = s.venue(VenueCancelRejected(child_id="C1", response_to="cancel", reason="locked"))
    rej = of_type(outs, CancelReject)
    assert [(r.cl_ord_id, r.orig_cl_ord_id, r.ord_status, r.response_to) for r in rej] == [
        ("Y", "X", "new", "replace")]
    assert of_type(outs, ParentAmended) == [ParentAmended(
        order_id=OID, qty=1_000, limit_px=PX, algo_params=(), cum_qty=0, pending=False)]
    assert s.app.state.parents[OID].state == "working"
    # and the client can go on: a cancel now works
    assert ers(cancel(s, "Z", "X"))[0][:2] == ("pending_cancel", "pending_cancel")


def test_the_timeout_counts_a_child_replace_in_flight_outside_the_new_limit() -> None:
    s = Session()
    new(s, qty=1_000)
    child(s, "C1", 1_000, px=PX - 1_000)
    s.algo(ReplaceChild(parent_id=OID, child_id="C1", limit_px=PX))  # in flight
    replace(s, "Y", "X", px=PX - 500)
    assert [o.action for o in of_type(s.advance(2_001 * MS), ChildOrderSent)] == ["cancel"]
    s.venue(VenueReplaced(child_id="C1", qty=1_000, limit_px=PX))
    outs = s.venue(VenueCanceled(child_id="C1"))
    assert ers(outs) == [("replaced", "new", "Y", "X", 1_000, 0, 1_000, 0, 0, 0)]
