"""venue_fix: ChildOrderSent to venue D/F/G with deterministic ClOrdIDs and their
OrigClOrdID chain (ExecInst and pegs included), and venue answers to venue events
(trade cancels and corrects, restatement reasons), in FIX 4.2 and 4.4."""

from __future__ import annotations

from typing import Any

import pytest

from fix_gateways import fixmsg
from fix_gateways.fixmsg import FIX42, FIX44, Fields, read
from fix_gateways.venue_fix import VenueOrders
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
from sequencer.messages.orders import ChildOrderSent
from tests.fix_gateways.test_fixmsg import validate

NS = 1_704_205_800_123_456_789
BOTH = pytest.mark.parametrize("v", [FIX42, FIX44])


def sent(action: str = "new", **kw: Any) -> ChildOrderSent:
    base: dict[str, Any] = dict(
        action=action, parent_id="20240102-1", child_id="K1", venue="XNAS",
        destination="XNAS-1", symbol="IBM", side="buy", qty=500, ord_type="limit",
        limit_px=1_500_000, tif="day")
    base.update(kw)
    return ChildOrderSent(**base)


def req(orders: VenueOrders, v: str, m: ChildOrderSent) -> Fields:
    raw = orders.request(v, m, NS)
    validate(raw)
    return read(raw)


def er(et: str, cl: str = "K1", **extra: str) -> Fields:
    return {"35": "8", "150": et, "11": cl, "37": "V1", "17": "X1", **extra}


def live(v: str) -> VenueOrders:
    o = VenueOrders()
    o.request(v, sent(), NS)
    event, note = o.translate(v, er("0"))
    assert event is not None and not note
    o.apply(event)
    return o


@BOTH
def test_new_order_single(v: str) -> None:
    f = req(VenueOrders(), v, sent())
    assert {t: f.get(t) for t in ("35", "11", "21", "38", "40", "44", "54", "55", "59", "60",
                                  "41")} == {
        "35": "D", "11": "K1", "21": "1", "38": "500", "40": "2", "44": "150", "54": "1",
        "55": "IBM", "59": "0", "60": "20240102-14:30:00.123", "41": None}


@BOTH
def test_market_short_ioc(v: str) -> None:
    f = req(VenueOrders(), v, sent(ord_type="market", limit_px=0, side="sell_short",
                                   tif="ioc"))
    assert (f["40"], f.get("44"), f["54"], f["59"]) == ("1", None, "5", "3")


def test_at_the_close() -> None:
    f44 = req(VenueOrders(), FIX44, sent(tif="cls"))
    f42 = req(VenueOrders(), FIX42, sent(tif="cls"))
    assert (f44["40"], f44["59"]) == ("2", "7")
    assert (f42["40"], f42["59"]) == ("B", "0")  # 4.2: limit on close
    m42 = req(VenueOrders(), FIX42, sent(tif="cls", ord_type="market", limit_px=0))
    assert (m42["40"], m42["59"]) == ("5", "0")


@BOTH
def test_chain_replace_then_cancel(v: str) -> None:
    o = live(v)
    assert o.venue_order_id("K1") == "V1"
    g = req(o, v, sent("replace", qty=400, limit_px=1_490_000))
    assert {t: g[t] for t in ("35", "11", "41", "37", "38", "44", "40")} == {
        "35": "G", "11": "K1.1", "41": "K1", "37": "V1", "38": "400", "44": "149", "40": "2"}
    assert o.translate(v, er("E", "K1.1", **{"41": "K1"})) == (None, "")
    event, _ = o.translate(v, er("5", "K1.1", **{"41": "K1", "38": "400", "44": "149"}))
    assert event == VenueReplaced("K1", 400, 1_490_000)
    o.apply(event)
    f = req(o, v, sent("cancel", qty=400, limit_px=1_490_000))
    assert {t: f[t] for t in ("35", "11", "41", "37", "38", "54", "55")} == {
        "35": "F", "11": "K1.2", "41": "K1.1", "37": "V1", "38": "400", "54": "1", "55": "IBM"}
    assert o.translate(v, er("6", "K1.2")) == (None, "")
    event, _ = o.translate(v, er("4", "K1.2", **{"41": "K1.1"}))
    assert event == VenueCanceled("K1", False, "")
    for cl in ("K1", "K1.1", "K1.2"):
        assert o.child_of(cl) == "K1"


@BOTH
def test_rejected_replace_leaves_the_chain(v: str) -> None:
    o = live(v)
    o.request(v, sent("replace", qty=400), NS)
    assert o.cl_ord_id("K1") == "K1.1"
    event, _ = o.translate(v, {"35": "9", "11": "K1.1", "41": "K1", "37": "V1", "39": "0",
                               "434": "2", "102": "0"})
    assert event == VenueCancelRejected("K1", "replace", "too late to cancel")
    o.apply(event)
    assert o.cl_ord_id("K1") == "K1"
    f = req(o, v, sent("cancel"))
    assert (f["11"], f["41"]) == ("K1.2", "K1")
    # A cancel reject without 434: the kind of our request with that ClOrdID.
    event, _ = o.translate(v, {"35": "9", "11": "K1.2", "41": "K1", "58": "auction lock"})
    assert event == VenueCancelRejected("K1", "cancel", "auction lock")


@BOTH
def test_ack_reject(v: str) -> None:
    o = VenueOrders()
    o.request(v, sent(), NS)
    assert o.from_venue(v, er("0")) == VenueAck("K1", "V1")
    assert o.from_venue(v, er("0")) is None  # the same ack again
    assert o.from_venue(v, er("A")) is None
    o.request(v, sent(child_id="K2"), NS)
    assert o.translate(v, er("8", "K2", **{"103": "1"})) == (
        VenueReject("K2", "unknown symbol"), "")
    assert o.translate(v, er("8", "K2", **{"58": "halted"})) == (VenueReject("K2", "halted"), "")


@BOTH
@pytest.mark.parametrize(("ind", "liquidity"), [
    ("1", "added"), ("2", "removed"), ("3", "removed"), ("4", "auction"), (None, "")])
def test_fill(v: str, ind: str | None, liquidity: str) -> None:
    o = live(v)
    et = "F" if v == FIX44 else "1"
    extra = {"32": "200", "31": "149.99", "151": "300", "17": "F1"}
    if ind is not None:
        extra["851"] = ind
    assert o.translate(v, er(et, **extra)) == (
        VenueFill("K1", "F1", 200, 1_499_900, liquidity, 300), "")  # type: ignore[arg-type]


def test_fill_42_full_and_notes() -> None:
    o = live(FIX42)
    event, note = o.translate(FIX42, er("2", **{"32": "500", "31": "150", "151": "0", "20": "0"}))
    assert event == VenueFill("K1", "X1", 500, 1_500_000, "", 0) and note == ""
    event, note = o.translate(FIX44, er("F", **{"32": "5", "31": "150.00005", "851": "9"}))
    assert event == VenueFill("K1", "X1", 5, 1_500_000, "", 0)
    assert "rounded" in note and "unknown LastLiquidityInd (851) '9'" in note
    event, note = o.translate(FIX44, er("F", **{"31": "150"}))
    assert event is None and "unreadable" in note and "K1" in note


@BOTH
def test_cancels(v: str) -> None:
    o = live(v)
    assert o.translate(v, er("4", **{"58": "halt"})) == (VenueCanceled("K1", True, "halt"), "")
    assert o.translate(v, er("3")) == (VenueCanceled("K1", True, "done for day"), "")
    assert o.translate(v, er("C")) == (VenueCanceled("K1", False, "expired"), "")
    ioc = VenueOrders()
    ioc.request(v, sent(tif="ioc"), NS)
    assert ioc.translate(v, er("4")) == (VenueCanceled("K1", False, ""), "")
    o.request(v, sent("cancel"), NS)
    assert o.translate(v, er("4", "K1.1")) == (VenueCanceled("K1", False, ""), "")
    # Once the venue refused our cancel, a cancel is unsolicited again.
    o.apply(VenueCancelRejected("K1", "cancel", "too late"))
    assert o.translate(v, er("4", "K1")) == (VenueCanceled("K1", True, ""), "")


@BOTH
def test_restated(v: str) -> None:
    o = live(v)
    assert o.translate(v, er("D", **{"38": "500", "44": "150"})) == (None, "")
    assert o.translate(v, er("D")) == (None, "")
    event, _ = o.translate(v, er("D", **{"38": "300", "378": "5"}))
    assert event == VenueRestated("K1", 300, 1_500_000, "partial decline of OrderQty",
                                  "partial_decline")
    o.apply(event)
    assert o.translate(v, er("D", **{"38": "300"})) == (None, "")
    event, _ = o.translate(v, er("D", **{"44": "149.5", "58": "price band"}))
    assert event == VenueRestated("K1", 300, 1_495_000, "price band")


@BOTH
def test_dropped_with_a_reason(v: str) -> None:
    o = live(v)
    event, note = o.translate(v, er("0", "NOPE", **{"41": "ALSO"}))
    assert event is None and "'NOPE'" in note and "no order of ours" in note
    assert o.translate(v, er("I")) == (None, "")
    for pending in ("6", "E", "A"):
        assert o.translate(v, er(pending)) == (None, "")
    # An answer naming only our OrigClOrdID still finds the child.
    assert o.translate(v, er("4", "THEIRS", **{"41": "K1"}))[0] == VenueCanceled(
        "K1", True, "")


def test_42_exec_trans_type() -> None:
    o = live(FIX42)
    assert o.translate(FIX42, er("1", **{"20": "3", "32": "0", "31": "0"})) == (None, "")
    # 20=1 cancel / 20=2 correct, whatever the ExecType (4.2 sends 1 or 2 there)
    for et in ("1", "2"):
        assert o.translate(FIX42, er(et, **{"20": "1", "19": "F1", "32": "0", "31": "0"})) == (
            VenueTradeCanceled("K1", "X1", "F1"), "")
        assert o.translate(FIX42, er(et, **{"20": "2", "19": "F1", "32": "150",
                                            "31": "149.97"})) == (
            VenueTradeCorrected("K1", "X1", "F1", 150, 1_499_700), "")
    # 20 means nothing on a 4.4 session: an ExecType 1 there is a (4.2 style) fill
    event, _ = o.translate(FIX44, er("1", **{"20": "1", "19": "F1", "32": "5", "31": "1"}))
    assert event == VenueFill("K1", "X1", 5, 10_000, "", 0)


@BOTH
def test_trade_cancel_and_correct(v: str) -> None:
    o = live(v)
    cancel, correct = ("H", "G") if v == FIX44 else ("1", "2")

    def amend(kind: str, **extra: str) -> Fields:
        tags = {"19": "F1", "17": "B1", **extra}
        if v == FIX44:
            return er(kind, **tags)
        return er("1", **{"20": kind, **tags})

    assert o.translate(v, amend(cancel, **{"32": "0", "31": "0"})) == (
        VenueTradeCanceled("K1", "B1", "F1"), "")
    assert o.translate(v, amend(correct, **{"32": "120", "31": "150.01"})) == (
        VenueTradeCorrected("K1", "B1", "F1", 120, 1_500_100), "")
    # a correction's price finer than the tick is rounded half to even, with a note
    event, note = o.translate(v, amend(correct, **{"32": "120", "31": "150.00015"}))
    assert event == VenueTradeCorrected("K1", "B1", "F1", 120, 1_500_002)
    assert "rounded" in note and "B1" in note
    event, _ = o.translate(v, amend(correct, **{"32": "1", "31": "150.00005"}))
    assert event == VenueTradeCorrected("K1", "B1", "F1", 1, 1_500_000)
    # an answer naming only the OrigClOrdID still finds the child
    event, _ = o.translate(v, {**amend(cancel), "11": "THEIRS", "41": "K1"})
    assert event == VenueTradeCanceled("K1", "B1", "F1")
    # the gateway state does not change
    o.apply(VenueTradeCanceled("K1", "B1", "F1"))
    assert (o.cl_ord_id("K1"), o.venue_order_id("K1")) == ("K1", "V1")


@BOTH
@pytest.mark.parametrize("drop", ["17", "19"])
def test_a_trade_cancel_or_correct_without_its_ids_is_unreadable(v: str, drop: str) -> None:
    o = live(v)
    for kind in ("cancel", "correct"):
        f = er("H" if kind == "cancel" else "G", **{"19": "F1", "32": "10", "31": "150"})
        if v == FIX42:
            f = er("1", **{"20": "1" if kind == "cancel" else "2", "19": "F1", "32": "10",
                           "31": "150"})
        del f[drop]
        event, note = o.translate(v, f)
        assert event is None
        assert f"unreadable trade {kind}" in note and "dropped" in note and "K1" in note


@BOTH
def test_a_trade_correct_without_its_figures_is_unreadable(v: str) -> None:
    o = live(v)
    head = {"150": "G"} if v == FIX44 else {"150": "1", "20": "2"}
    for tags in ({"31": "150"}, {"32": "10"}, {"32": "ten", "31": "150"}):
        event, note = o.translate(v, {**er("G", **{"19": "F1"}), **head, **tags})
        assert event is None and "unreadable" in note


@BOTH
@pytest.mark.parametrize(("code", "word"), [
    ("0", "gt_corporate_action"), ("3", "repricing"), ("5", "partial_decline"),
    ("6", "trading_halt"), ("10", "warehouse_recap"), ("99", "other")])
def test_restatement_reason_on_restatements_and_cancels(v: str, code: str, word: str) -> None:
    o = live(v)
    event, note = o.translate(v, er("D", **{"38": "400", "378": code}))
    assert isinstance(event, VenueRestated) and note == ""
    assert event.restatement_reason == word
    assert event.reason  # the text stays: the code's name when there is no Text 58
    for et in ("4", "3", "C"):
        event, note = o.translate(v, er(et, **{"378": code, "58": "halted"}))
        assert isinstance(event, VenueCanceled) and note == ""
        assert event.restatement_reason == word and "halted" in event.reason


@BOTH
def test_restatement_reason_absent_or_unknown(v: str) -> None:
    o = live(v)
    assert o.translate(v, er("4", **{"58": "halt"})) == (VenueCanceled("K1", True, "halt"), "")
    event, note = o.translate(v, er("4", **{"378": "42"}))
    assert event == VenueCanceled("K1", True, "", "other")
    assert "unknown ExecRestatementReason (378) '42'" in note
    event, note = o.translate(v, er("D", **{"38": "10", "378": "77", "58": "lot"}))
    assert event == VenueRestated("K1", 10, 1_500_000, "lot", "other") and "'77'" in note
    # a restatement that changes nothing is still dropped, reason or not
    assert o.translate(v, er("D", **{"378": "3"})) == (None, "")


@BOTH
@pytest.mark.parametrize(("inst", "ord_type", "limit", "tags"), [
    (("participate_dont_initiate",), "limit", 1_500_000, ("6", "2", "150")),
    (("participate_dont_initiate",), "market", 0, ("6", "1", None)),
    (("mid_peg",), "limit", 1_500_000, ("M", "P", "150")),
    (("mid_peg",), "market", 0, ("M", "P", None)),
    (("primary_peg",), "limit", 1_499_900, ("R", "P", "149.99")),
    (("participate_dont_initiate", "primary_peg"), "market", 0, ("6 R", "P", None)),
    ((), "limit", 1_500_000, (None, "2", "150")),
])
def test_exec_inst_and_pegs_in_requests(v: str, inst: tuple[str, ...], ord_type: str,
                                       limit: int, tags: tuple[str | None, ...]) -> None:
    o = VenueOrders()
    f = req(o, v, sent(exec_inst=inst, ord_type=ord_type, limit_px=limit))
    assert (f.get("18"), f["40"], f.get("44")) == tags
    assert fixmsg.parse_exec_inst(f.get("18", "")) == inst
    # a replace declares the ExecInst and OrdType again (FIX does not carry 18 forward),
    # even when the OMS's replace does not repeat them
    g = req(o, v, sent("replace", qty=300, ord_type=ord_type, limit_px=limit and limit - 100))
    assert (g["35"], g.get("18"), g["40"], g["38"]) == ("G", tags[0], tags[1], "300")
    assert g.get("44") == (None if not limit else fixmsg.fix_price(limit - 100))
    # a cancel carries no ExecInst
    assert "18" not in req(o, v, sent("cancel"))


def test_a_pegged_order_at_the_close_on_42_keeps_its_on_close_type() -> None:
    f = req(VenueOrders(), FIX42, sent(exec_inst=("mid_peg",), tif="cls"))
    assert (f["18"], f["40"], f["59"]) == ("M", "B", "0")
    f = req(VenueOrders(), FIX44, sent(exec_inst=("mid_peg",), tif="cls"))
    assert (f["18"], f["40"], f["59"]) == ("M", "P", "7")


def test_request_errors() -> None:
    o = VenueOrders()
    with pytest.raises(ValueError, match="never sent"):
        o.request(FIX44, sent("cancel"), NS)
    o.request(FIX44, sent(), NS)
    with pytest.raises(ValueError, match="already sent"):
        o.request(FIX44, sent(), NS)
    with pytest.raises(ValueError, match="FIX version"):
        o.request("FIX.4.3", sent(child_id="K9"), NS)


def test_same_stream_same_ids() -> None:
    def run() -> list[str]:
        o = VenueOrders()
        out = [o.request(FIX44, sent(child_id=c), NS) for c in ("A", "B")]
        out += [o.request(FIX44, sent("replace", child_id="A", qty=100), NS),
                o.request(FIX44, sent("cancel", child_id="A"), NS),
                o.request(FIX44, sent("cancel", child_id="B"), NS)]
        return out
    first = run()
    assert first == run()
    assert [read(r)["11"] for r in first] == ["A", "B", "A.1", "A.2", "B.1"]
