"""What a client's FIX engine must see, to the letter of the FIX order state rules, as
the OMS answers it (the end-to-end tests over real sessions are in
`tests/fix_gateways/test_conformance.py`): duplicate ClOrdIDs and PossResend, the
OrigClOrdID of cancel rejects and status answers, the venue's liquidity flag,
unsolicited reductions and cancels with their ExecRestatementReason, trade
busts and corrections (FIX 4.4 Appendix D J; FIX 4.2 D34), trading halts,
CashOrderQty and ExecInst.

Reports are compared as tuples (ExecType, OrdStatus, ClOrdID, OrigClOrdID,
OrderQty, CumQty, LeavesQty, LastQty, LastPx, AvgPx), as in `test_scenarios`.
"""

from __future__ import annotations

from typing import Any

from sequencer import sources
from sequencer.messages.admin import (
    EngageKillSwitch,
    HaltTrading,
    ResumeTrading,
    SetParameter,
)
from sequencer.messages.control import Alert
from sequencer.messages.executions import (
    CancelReject,
    ExecutionReport,
    VenueAck,
    VenueCanceled,
    VenueFill,
    VenueRestated,
    VenueTradeCanceled,
    VenueTradeCorrected,
)
from sequencer.messages.marketdata import TradingStatus
from sequencer.messages.orders import (
    CancelOrder,
    ChildOrderSent,
    NewChild,
    NewOrder,
    OrderStatusRequest,
    ParentAccepted,
    ParentDone,
    ParentReopened,
    ReplaceOrder,
)
from tests.oms.fixtures import HOUR, Session, of_type
from tests.oms.test_scenarios import AVG, OID, P1, PX, cancel, child, er, ers, fill, new, replace

IBM = 3  # IBM's symbol id in the test ref data (AIG 1, BAC 2, IBM 3, PNY 4, SPY 5)


def dma(s: Session, cl: str = "D", qty: int = 1_000, px: int = PX, **kw: Any) -> str:
    """A DMA order to XNYS with its one child (acknowledged); its OrderID."""
    outs = s.client(NewOrder(client="ALPHA", cl_ord_id=cl, symbol="IBM", side="buy", qty=qty,
                             ord_type=kw.pop("ord_type", "limit"), limit_px=px, algo="dma",
                             algo_params=(("venue", "XNYS"),), **kw))
    (acc,) = of_type(outs, ParentAccepted)
    s.algo(NewChild(parent_id=acc.order_id, child_id=f"{acc.order_id}.1", venue="XNYS",
                    qty=acc.qty, ord_type=acc.ord_type, limit_px=acc.limit_px))
    s.venue(VenueAck(child_id=f"{acc.order_id}.1", venue_order_id="V1"))
    return acc.order_id


def alerts(outs: list[Any], code: str) -> list[Alert]:
    return [a for a in of_type(outs, Alert) if a.code == code]


# ------------------------------------------------------------------ 1. reports and rejects


def test_a_duplicate_clordid_is_rejected_with_the_live_order_as_it_stands() -> None:
    s = Session()
    new(s)
    child(s, "C1", 10_000)
    fill(s, "C1", 2_500)
    (r,) = of_type(new(s, qty=500), ExecutionReport)
    assert er(r) == ("rejected", "partially_filled", "X", "", 10_000, 2_500, 7_500, 0, 0,
                     P1 * AVG)
    assert (r.order_id, r.reject_reason) == (OID, "duplicate_order")
    assert s.app.state.parents[OID].qty == 10_000


def test_a_possresend_of_a_known_order_is_answered_with_its_status() -> None:
    s = Session()
    new(s)
    child(s, "C1", 10_000)
    fill(s, "C1", 1_000)
    outs = new(s, poss_resend=True)
    assert ers(outs) == [("order_status", "partially_filled", "X", "", 10_000, 1_000, 9_000,
                          0, 0, P1 * AVG)]
    assert not of_type(outs, ParentAccepted)
    # A resent cancel and replace whose ClOrdIDs are known: the status too, nothing done.
    replace(s, "Y", "X", qty=12_000)
    outs = s.client(ReplaceOrder(client="ALPHA", cl_ord_id="Y", orig_cl_ord_id="X",
                                 symbol="IBM", side="buy", qty=12_000, poss_resend=True))
    assert ers(outs) == [("order_status", "partially_filled", "Y", "X", 12_000, 1_000,
                          11_000, 0, 0, P1 * AVG)]
    assert not of_type(outs, CancelReject)
    # A resend of something the OMS never saw is a request like any other.
    outs = s.client(CancelOrder(client="ALPHA", cl_ord_id="Z", orig_cl_ord_id="Y",
                                symbol="IBM", side="buy", poss_resend=True))
    assert [e[0] for e in ers(outs)] == ["pending_cancel"]
    # Without PossResend a repeat is a duplicate.
    (cr,) = of_type(cancel(s, "Z", "Y"), CancelReject)
    assert (cr.reason, cr.orig_cl_ord_id) == ("duplicate_cl_ord_id", "Y")


def test_a_replace_refused_behind_a_pending_replace_names_the_last_accepted_clordid() -> None:
    s = Session()
    new(s)
    child(s, "C1", 10_000)
    replace(s, "Y", "X", qty=5_000)  # pending: the child must shrink first
    assert s.app.state.parents[OID].state == "pending_replace"
    (cr,) = of_type(replace(s, "Z", "Y", qty=4_000), CancelReject)
    assert (cr.cl_ord_id, cr.orig_cl_ord_id, cr.reason, cr.ord_status) == (
        "Z", "X", "already_pending", "pending_replace")


def test_status_answers_carry_the_current_clordid_and_its_chain() -> None:
    s = Session()
    new(s)
    replace(s, "Y", "X", qty=12_000)
    replace(s, "Z", "Y", qty=13_000)
    # Asked by an old ClOrdID or the current one: the current one, and the one before it.
    for asked in ("X", "Z"):
        (r,) = of_type(s.client(OrderStatusRequest(client="ALPHA", cl_ord_id=asked,
                                                   symbol="IBM")), ExecutionReport)
        assert (r.exec_type, r.cl_ord_id, r.orig_cl_ord_id, r.order_qty) == (
            "order_status", "Z", "Y", 13_000)
    # An accepted cancel's ClOrdID is the order's from then on.
    cancel(s, "W", "Z")
    (r,) = of_type(s.client(OrderStatusRequest(client="ALPHA", cl_ord_id="X")),
                   ExecutionReport)
    assert (r.exec_type, r.ord_status, r.cl_ord_id, r.orig_cl_ord_id) == (
        "order_status", "canceled", "W", "Z")
    (cr,) = of_type(cancel(s, "V", "W"), CancelReject)
    assert (cr.orig_cl_ord_id, cr.reason) == ("W", "too_late")


def test_a_fill_report_carries_the_venues_liquidity_flag() -> None:
    s = Session()
    new(s)
    child(s, "C1", 10_000)
    outs = s.venue(VenueFill(child_id="C1", exec_id="F1", qty=100, px=P1, liquidity="removed"))
    (r,) = of_type(outs, ExecutionReport)
    assert (r.exec_type, r.last_liquidity) == ("trade", "removed")
    outs = s.venue(VenueFill(child_id="C1", exec_id="F2", qty=9_900, px=P1, liquidity="added"))
    assert [(r.exec_type, r.ord_status, r.last_liquidity)
            for r in of_type(outs, ExecutionReport)] == [("trade", "filled", "added")]


# ------------------------------------------------------------------ 2. the venue's own events


def test_an_unsolicited_reduction_of_a_dma_child_reduces_the_order() -> None:
    s = Session()
    oid = dma(s)
    fill(s, f"{oid}.1", 200)
    outs = s.venue(VenueRestated(child_id=f"{oid}.1", qty=600, limit_px=PX,
                                 reason="exchange reduced it"))
    (r,) = of_type(outs, ExecutionReport)
    assert er(r) == ("restated", "partially_filled", "D", "", 600, 200, 400, 0, 0, P1 * AVG)
    assert (r.restatement_reason, r.text) == (
        "partial_decline", "the venue reduced the order by 400: exchange reduced it")
    # Reduced to what is filled: the order is done, filled.
    outs = s.venue(VenueRestated(child_id=f"{oid}.1", qty=200, limit_px=PX, reason="",
                                 restatement_reason="market_option"))
    assert [er(r)[:7] for r in of_type(outs, ExecutionReport)] == [
        ("restated", "filled", "D", "", 200, 200, 0)]
    assert of_type(outs, ParentDone)[0].ord_status == "filled"
    # A VWAP order's child shrinking is the algo engine's business, not the client's.
    new(s, cl="V")
    child(s, "C9", 5_000, oid="20131008-2")
    assert not of_type(s.venue(VenueRestated(child_id="C9", qty=3_000, limit_px=P1,
                                             reason="")), ExecutionReport)


def test_unsolicited_cancels_say_why_in_exec_restatement_reason() -> None:
    s = Session()
    oid = dma(s, cl="D1")
    outs = s.venue(VenueCanceled(child_id=f"{oid}.1", unsolicited=True, reason="halted",
                                 restatement_reason="trading_halt"))
    (r,) = of_type(outs, ExecutionReport)
    assert (r.exec_type, r.ord_status, r.restatement_reason) == (
        "canceled", "canceled", "trading_halt")
    oid = dma(s, cl="D2")
    outs = s.venue(VenueCanceled(child_id=f"{oid}.1", unsolicited=True, reason="gone"))
    assert of_type(outs, ExecutionReport)[0].restatement_reason == "market_option"
    # The broker's own: the kill switch.
    new(s, cl="V")
    outs = s.ops(EngageKillSwitch(scope="all", reason="test"))
    (r,) = of_type(outs, ExecutionReport)
    assert (r.exec_type, r.restatement_reason) == ("canceled", "broker_option")
    # The client's cancel is no unsolicited cancel.
    s2 = Session()
    new(s2)
    (r,) = of_type(cancel(s2, "Y", "X"), ExecutionReport)
    assert (r.exec_type, r.restatement_reason) == ("canceled", "")


# ------------------------------------------------------------------ busts and corrections


def test_a_bust_on_a_working_order_takes_the_fill_out() -> None:
    s = Session()
    new(s)
    child(s, "C1", 10_000)
    (fill_er,) = of_type(fill(s, "C1", 3_000, exec_id="F1"), ExecutionReport)
    fill(s, "C1", 1_000, px=PX, exec_id="F2")
    outs = s.venue(VenueTradeCanceled(child_id="C1", exec_id="B1", ref_exec_id="F1"))
    (r,) = of_type(outs, ExecutionReport)
    assert er(r) == ("trade_cancel", "partially_filled", "X", "", 10_000, 1_000, 9_000, 0, 0,
                     PX * AVG)
    assert r.exec_ref_id == fill_er.exec_id
    p, c = s.app.state.parents[OID], s.app.state.children["C1"]
    assert (p.cum_qty, p.notional, c.cum_qty) == (1_000, 1_000 * PX, 1_000)
    # The child's open shares at the venue are as before: the parent may not place more.
    assert p.open_qty == 6_000 and p.cum_qty + p.open_qty <= p.qty
    assert alerts(outs, "trade_cancel")
    # A repeat is applied once; a second bust of the same fill is refused with an alert.
    assert not s.venue(VenueTradeCanceled(child_id="C1", exec_id="B1", ref_exec_id="F1"))
    outs = s.venue(VenueTradeCanceled(child_id="C1", exec_id="B2", ref_exec_id="F1"))
    assert not of_type(outs, ExecutionReport) and alerts(outs, "unknown_fill")
    assert s.app.state.parents[OID].cum_qty == 1_000


def test_a_correction_refers_to_the_last_execution_of_a_fill_fix42_d34() -> None:
    """FIX 4.2 D34: fills of 1000 @ 100 and 9000 @ 110; the first busted; the second
    corrected to 100, then to 120 (the second correction refers to the first)."""
    s = Session()
    new(s, px=120_0000)
    child(s, "C1", 10_000, px=120_0000)
    (a,) = of_type(fill(s, "C1", 1_000, px=100_0000, exec_id="C"), ExecutionReport)
    outs = fill(s, "C1", 9_000, px=110_0000, exec_id="D")
    (b,) = of_type(outs, ExecutionReport)
    assert (b.ord_status, b.cum_qty) == ("filled", 10_000)
    # The bust of 1000 reopens the filled order (the algo engine is given the rest).
    outs = s.venue(VenueTradeCanceled(child_id="C1", exec_id="E", ref_exec_id="C"))
    (r,) = of_type(outs, ExecutionReport)
    assert er(r) == ("trade_cancel", "partially_filled", "X", "", 10_000, 9_000, 1_000, 0, 0,
                     110_0000 * AVG)
    assert r.exec_ref_id == a.exec_id
    (reopened,) = of_type(outs, ParentReopened)
    assert (reopened.order_id, reopened.qty, reopened.cum_qty, reopened.notional) == (
        OID, 10_000, 9_000, 9_000 * 110_0000)
    assert OID in s.app.state.live
    # The 9000 corrected to 100: still partially filled.
    (f,) = of_type(s.venue(VenueTradeCorrected(child_id="C1", exec_id="F", ref_exec_id="D",
                                               qty=9_000, px=100_0000)), ExecutionReport)
    assert er(f) == ("trade_correct", "partially_filled", "X", "", 10_000, 9_000, 1_000,
                     9_000, 100_0000, 100_0000 * AVG)
    assert f.exec_ref_id == b.exec_id
    # A new child fills the last 1000 @ 120: filled.
    child(s, "C2", 1_000, px=120_0000)
    (g,) = of_type(fill(s, "C2", 1_000, px=120_0000, exec_id="G"), ExecutionReport)
    assert (g.ord_status, g.avg_px) == ("filled", 102_0000 * AVG)
    # The correction corrected again (it refers to F, not D): 9000 @ 120.
    outs = s.venue(VenueTradeCorrected(child_id="C1", exec_id="H", ref_exec_id="F",
                                       qty=9_000, px=120_0000))
    (h,) = of_type(outs, ExecutionReport)
    assert er(h) == ("trade_correct", "filled", "X", "", 10_000, 10_000, 0, 9_000, 120_0000,
                     120_0000 * AVG)
    assert h.exec_ref_id == f.exec_id and not of_type(outs, ParentReopened)
    # D, the corrected fill, stands no more.
    outs = s.venue(VenueTradeCorrected(child_id="C1", exec_id="I", ref_exec_id="D",
                                       qty=1, px=1_0000))
    assert alerts(outs, "unknown_fill") and not of_type(outs, ExecutionReport)


def test_a_correction_up_to_the_full_quantity_fills_the_order() -> None:
    s = Session()
    new(s, qty=1_000)
    child(s, "C1", 1_000)
    fill(s, "C1", 600, exec_id="F1")
    outs = s.venue(VenueTradeCorrected(child_id="C1", exec_id="K", ref_exec_id="F1",
                                       qty=1_000, px=P1))
    assert [er(r)[:7] for r in of_type(outs, ExecutionReport)] == [
        ("trade_correct", "filled", "X", "", 1_000, 1_000, 0)]
    assert of_type(outs, ParentDone)[0].ord_status == "filled"
    assert [m.action for m in of_type(outs, ChildOrderSent)] == []  # the child was full
    # Beyond the quantity: booked to the error account, alerted.
    s2 = Session()
    new(s2, qty=1_000)
    child(s2, "C1", 1_000)
    fill(s2, "C1", 600, exec_id="F1")
    outs = s2.venue(VenueTradeCorrected(child_id="C1", exec_id="K", ref_exec_id="F1",
                                        qty=1_500, px=P1))
    assert alerts(outs, "overfill")
    assert s2.app.state.parents[OID].cum_qty == 1_000


def test_a_bust_after_the_close_ends_the_reopened_order_at_once() -> None:
    s = Session()
    oid = dma(s, qty=500)
    fill(s, f"{oid}.1", 500, exec_id="F1")
    s.advance(8 * HOUR)  # past the OMS's end of day
    outs = s.venue(VenueTradeCanceled(child_id=f"{oid}.1", exec_id="B", ref_exec_id="F1"))
    assert [er(r)[:7] for r in of_type(outs, ExecutionReport)] == [
        ("trade_cancel", "new", "D", "", 500, 0, 500),
        ("canceled", "canceled", "D", "", 500, 0, 0)]
    assert not of_type(outs, ParentReopened)
    assert oid not in s.app.state.live


def test_a_bust_on_a_cancelled_order_keeps_it_cancelled_fix44_j1b() -> None:
    s = Session()
    new(s)
    child(s, "C1", 10_000)
    fill(s, "C1", 5_000, exec_id="B")
    cancel(s, "Y", "X")
    s.venue(VenueCanceled(child_id="C1"))
    outs = s.venue(VenueTradeCanceled(child_id="C1", exec_id="E", ref_exec_id="B"))
    assert [er(r) for r in of_type(outs, ExecutionReport)] == [
        ("trade_cancel", "canceled", "Y", "", 10_000, 0, 0, 0, 0, 0)]
    assert s.app.state.gross.get("ALPHA", 0) == 0


# ------------------------------------------------------------------ halts


def test_a_dma_order_into_a_halt_is_refused_or_held_as_configured() -> None:
    s = Session()
    s.ops(HaltTrading(scope="IBM", reason="news pending"))
    outs = s.client(NewOrder(client="ALPHA", cl_ord_id="D1", symbol="IBM", side="buy",
                             qty=100, ord_type="limit", limit_px=PX, algo="dma",
                             algo_params=(("venue", "XNYS"),)))
    (r,) = of_type(outs, ExecutionReport)
    assert (r.exec_type, r.reject_reason, r.text) == (
        "rejected", "exchange_closed",
        "IBM halted (news pending): DMA orders are refused during a halt")
    # A VWAP order is accepted: the algo engine pauses it until the resume.
    assert [e[0] for e in ers(new(s, cl="V"))] == ["new"]
    s.ops(SetParameter(target="oms", key="dma_on_halt", value="hold"))
    assert [e[0] for e in ers(s.client(NewOrder(
        client="ALPHA", cl_ord_id="D2", symbol="IBM", side="buy", qty=100,
        ord_type="limit", limit_px=PX, algo="dma", algo_params=(("venue", "XNYS"),))))] == [
        "new"]
    s.ops(SetParameter(target="oms", key="dma_on_halt", value="reject"))
    s.ops(ResumeTrading(scope="IBM"))
    assert [e[0] for e in ers(s.client(NewOrder(
        client="ALPHA", cl_ord_id="D3", symbol="IBM", side="buy", qty=100,
        ord_type="limit", limit_px=PX, algo="dma", algo_params=(("venue", "XNYS"),))))] == [
        "new"]
    assert alerts(s.ops(ResumeTrading(scope="IBM")), "bad_halt")
    assert alerts(s.ops(SetParameter(target="oms", key="dma_on_halt", value="maybe")),
                  "bad_parameter")


def test_a_market_halt_on_the_primary_venue_halts_the_symbol() -> None:
    s = Session()
    s.send(TradingStatus(symbol_id=IBM, venue="BATS", status="halted"), sources.TICKER_PLANT)
    assert not s.app.state.market_halts, "a halt on another venue than the primary"
    s.send(TradingStatus(symbol_id=IBM, venue="XNYS", status="halted", reason="LULD"),
           sources.TICKER_PLANT)
    outs = s.client(NewOrder(client="ALPHA", cl_ord_id="D1", symbol="IBM", side="buy",
                             qty=100, ord_type="limit", limit_px=PX, algo="dma",
                             algo_params=(("venue", "XNYS"),)))
    assert of_type(outs, ExecutionReport)[0].text == (
        "IBM halted by the market (LULD): DMA orders are refused during a halt")
    s.send(TradingStatus(symbol_id=IBM, venue="XNYS", status="trading"), sources.TICKER_PLANT)
    assert not s.app.state.market_halts


# ------------------------------------------------------------------ order types


def test_cash_order_qty_is_converted_to_shares_at_the_limit() -> None:
    s = Session()
    outs = s.client(NewOrder(client="ALPHA", cl_ord_id="M1", symbol="IBM", side="buy", qty=0,
                             ord_type="limit", limit_px=PX, algo="vwap",
                             cash_qty=1_000_000_0000))
    (r,) = of_type(outs, ExecutionReport)
    # $1,000,000 at 182.00 buys 5,494 shares: 5,400 in round lots (ALPHA trades no odd lots).
    assert (r.exec_type, r.order_qty, r.leaves_qty, r.cash_qty) == ("new", 5_400, 5_400,
                                                                    1_000_000_0000)
    assert r.text == "CashOrderQty 1,000,000.00 at the limit 182.00: 5,400 shares"
    assert of_type(outs, ParentAccepted)[0].qty == 5_400
    # Every later report states the amount too.
    child(s, "C1", 100)
    assert of_type(fill(s, "C1", 100), ExecutionReport)[0].cash_qty == 1_000_000_0000
    # A market order converts at the reference price (no quote yet: the previous close).
    outs = s.client(NewOrder(client="BETA", cl_ord_id="M2", symbol="IBM", side="buy", qty=0,
                             ord_type="market", algo="vwap", cash_qty=10_000_0000))
    pending, r = of_type(outs, ExecutionReport)  # BETA is told PendingNew first
    assert (pending.exec_type, pending.order_qty, pending.text) == ("pending_new", 54, r.text)
    assert (r.exec_type, r.order_qty) == ("new", 54)  # BETA trades odd lots: 10,000 / 182.01
    assert r.text == "CashOrderQty 10,000.00 at the reference price 182.01: 54 shares"
    # Too little for a round lot, and both quantities at once: rejected.
    for qty, cash, text in ((0, 100_0000, "CashOrderQty 100.00 buys no round lot at 182.00"),
                            (100, 100_000_0000, "send OrderQty or CashOrderQty, not both")):
        (r,) = of_type(s.client(NewOrder(
            client="ALPHA", cl_ord_id=f"M{cash}", symbol="IBM", side="buy", qty=qty,
            ord_type="limit", limit_px=PX, algo="vwap", cash_qty=cash)), ExecutionReport)
        assert (r.exec_type, r.reject_reason, r.text) == ("rejected", "incorrect_quantity",
                                                          text)


def test_exec_inst_reaches_the_venue_on_a_dma_order_and_is_refused_elsewhere() -> None:
    s = Session()
    oid = dma(s, exec_inst=("participate_dont_initiate",))
    sent = [m for m in s.outputs if isinstance(m, ChildOrderSent)]
    assert [(m.action, m.exec_inst) for m in sent] == [("new", ("participate_dont_initiate",))]
    assert of_type(s.outputs, ExecutionReport)[0].exec_inst == ("participate_dont_initiate",)
    # A replace must declare the same ExecInst (FIX: not carried forward).
    (cr,) = of_type(s.client(ReplaceOrder(client="ALPHA", cl_ord_id="D2",
                                          orig_cl_ord_id="D", symbol="IBM", side="buy",
                                          qty=900)), CancelReject)
    assert cr.text.startswith("ExecInst (18) cannot be changed by a replace"), cr
    outs = s.client(ReplaceOrder(client="ALPHA", cl_ord_id="D3", orig_cl_ord_id="D",
                                 symbol="IBM", side="buy", qty=900,
                                 exec_inst=("participate_dont_initiate",)))
    assert not of_type(outs, CancelReject) and oid in s.app.state.live
    refusals: dict[str, tuple[dict[str, Any], str]] = {
        "V1": (dict(algo="vwap", exec_inst=("mid_peg",)), "applies to DMA orders only"),
        "V2": (dict(algo="dma", algo_params=(("venue", "XNYS"),),
                    exec_inst=("mid_peg", "primary_peg")), "one peg at a time"),
        "V3": (dict(algo="dma", algo_params=(("venue", "XNYS"),), ord_type="market",
                    limit_px=0, exec_inst=("participate_dont_initiate",)),
               "needs a limit price to rest at"),
        "V4": (dict(algo="dma", algo_params=(("venue", "XNYS"),), tif="ioc",
                    exec_inst=("primary_peg",)), "cannot be used with it"),
    }
    for cl, (kw, words) in refusals.items():
        fields: dict[str, Any] = dict(client="ALPHA", cl_ord_id=cl, symbol="IBM", side="buy",
                                      qty=100, ord_type="limit", limit_px=PX) | kw
        (r,) = of_type(s.client(NewOrder(**fields)), ExecutionReport)
        assert (r.exec_type, r.reject_reason) == ("rejected",
                                                  "unsupported_order_characteristic"), r
        assert words in r.text, r.text
