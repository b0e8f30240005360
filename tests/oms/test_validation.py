"""New order validation, pre-trade risk limits (and changing them on the stream), the
kill switch and end of day. Every reject is pinned to its reason and its words."""

from __future__ import annotations

from typing import Any

import pytest

from sequencer import sources
from sequencer.messages import Message
from sequencer.messages.admin import (
    EndOfDay,
    EngageKillSwitch,
    ReleaseKillSwitch,
    SetParameter,
    SetRiskLimit,
)
from sequencer.messages.control import Alert
from sequencer.messages.executions import ExecutionReport, VenueAck, VenueCanceled, VenueFill
from sequencer.messages.marketdata import Quote
from sequencer.messages.orders import (
    CancelOrder,
    ChildOrderSent,
    ChildRequestRejected,
    NewChild,
    NewOrder,
    ParentDone,
)
from tests.oms.fixtures import (
    HOUR,
    SECOND,
    Session,
    client_row,
    default_clients,
    of_type,
    oms_refdata,
)

IBM = 182_0100  # IBM's reference price in the fixture (previous close)


def order(**kw: Any) -> NewOrder:
    base: dict[str, Any] = {"client": "ALPHA", "cl_ord_id": "X", "symbol": "IBM",
                            "side": "buy", "qty": 1_000, "ord_type": "limit",
                            "limit_px": 182_0000, "algo": "vwap"}
    base.update(kw)
    return NewOrder(**base)


def reject(outs: list[Message]) -> tuple[str, str]:
    (r,) = of_type(outs, ExecutionReport)
    assert (r.exec_type, r.ord_status, r.leaves_qty, r.cum_qty) == ("rejected", "rejected", 0, 0)
    return r.reject_reason, r.text


def accepted(outs: list[Message]) -> bool:
    return [r.exec_type for r in of_type(outs, ExecutionReport)][-1:] == ["new"]


REJECTS = [
    (order(client="NOBODY"), ("unknown_account", "unknown client 'NOBODY'")),
    (order(symbol="MSFT"), ("unknown_symbol", "unknown symbol 'MSFT'")),
    (order(qty=0), ("incorrect_quantity", "order quantity must be above 0, got 0")),
    (order(qty=150), ("incorrect_quantity", "order quantity 150 is not a whole number of round "
                                            "lots of 100 (odd lots are not enabled for this "
                                            "client)")),
    (order(limit_px=182_0050), ("other", "limit price 182.0050 is not on the tick (0.01)")),
    (order(limit_px=0), ("other", "a limit order needs a limit price above 0")),
    (order(ord_type="market", limit_px=5), ("other", "a market order takes no limit price")),
    (order(tif="gtc"), ("unsupported_order_characteristic",
                        "time in force GTC is not accepted (orders live for the day: DAY, IOC, "
                        "FOK, OPG, CLS)")),
    (order(algo=""), ("unsupported_order_characteristic",
                      "the order names no algo: choose one of DMA, VWAP")),
    (order(algo="twap"), ("unsupported_order_characteristic",
                          "unsupported algo 'TWAP': choose one of DMA, VWAP")),
    (order(algo_params=(("max_pct", "120"),)),
     ("unsupported_order_characteristic",
      "VWAP parameter max_pct expects a percentage above 0 and at most 100, got '120'")),
    (order(algo_params=(("start_time", "15:00"), ("end_time", "10:00"))),
     ("unsupported_order_characteristic", "VWAP start_time 15:00 is not before end_time 10:00")),
    (order(algo_params=(("speed", "fast"),)),
     ("unsupported_order_characteristic",
      "VWAP has no parameter 'speed' (it takes: start_time, end_time, max_pct, must_complete, "
      "open_auction, close_auction, aggression)")),
    (order(algo="DMA"), ("unsupported_order_characteristic", "DMA needs the parameter 'venue'")),
    (order(algo="dma", algo_params=(("venue", "FINR"),)),
     ("unsupported_order_characteristic", "DMA venue 'FINR' is not a routable venue")),
    (order(side="sell_short"), ("broker_option", "a short sale of IBM needs a locate: send the "
                                                 "locate broker (tag 5700)")),
    (order(side="sell_short", symbol="SPY", limit_px=167_4300),
     ("broker_option", "a short sale of SPY needs a locate: send the locate broker (tag 5700)")),
    (order(qty=2_000_000), ("order_exceeds_limit", "quantity 2,000,000 is above the maximum "
                                                   "order quantity of 1,000,000 for client "
                                                   "ALPHA")),
    (order(qty=300_000, limit_px=182_0000),
     ("order_exceeds_limit", "notional 54,600,000.00 is above the maximum order notional of "
                             "50,000,000.00 for client ALPHA")),
    (order(limit_px=192_0000), ("other", "limit 192.00 is more than 500 bp through the offer of "
                                         "182.01 (collar up to 191.1105)")),
    (order(side="sell", limit_px=172_0000),
     ("other", "limit 172.00 is more than 500 bp through the bid of 182.01 (collar down to "
               "172.9095)")),
    (order(client="BETA", symbol="SPY", limit_px=167_4300),
     ("broker_option", "SPY is not among the symbols allowed for client BETA")),
]


@pytest.mark.parametrize(("msg", "expected"), REJECTS, ids=[e[1][1][:40] for e in REJECTS])
def test_new_order_rejects_say_why(msg: NewOrder, expected: tuple[str, str]) -> None:
    s = Session()
    assert reject(s.client(msg)) == expected


def test_what_the_rules_allow() -> None:
    s = Session()
    assert accepted(s.client(order(side="sell_short", locate_broker="GSCO", cl_ord_id="A")))
    assert accepted(s.client(order(side="sell_short", symbol="AIG", limit_px=48_1900,
                                   cl_ord_id="B")))  # easy to borrow: no locate needed
    assert accepted(s.client(order(client="BETA", qty=150, cl_ord_id="C")))  # odd lots on
    assert accepted(s.client(order(ord_type="market", limit_px=0, cl_ord_id="D")))
    assert accepted(s.client(order(algo="dma", algo_params=(("venue", "XNAS"),),
                                   cl_ord_id="E")))
    assert accepted(s.client(order(limit_px=191_1100, cl_ord_id="F")))  # just inside the collar
    ids = [r.order_id for r in of_type(s.outputs, ExecutionReport) if r.exec_type == "new"]
    assert ids == [f"20131008-{i}" for i in range(1, 7)]


def test_duplicate_clordid_is_rejected_without_touching_the_order() -> None:
    s = Session()
    s.client(order())
    outs = s.client(order(qty=500))
    (r,) = of_type(outs, ExecutionReport)
    # The reject describes the live order as it stands (FIX), not the refused request.
    assert (r.order_id, r.cl_ord_id, r.exec_type, r.reject_reason) == (
        "20131008-1", "X", "rejected", "duplicate_order")
    assert (r.ord_status, r.order_qty, r.cum_qty, r.leaves_qty) == ("new", 1_000, 0, 1_000)
    assert r.text == "duplicate ClOrdID 'X': already used today by order 20131008-1"
    assert s.app.state.parents["20131008-1"].qty == 1_000


def test_the_collar_follows_the_nbbo_once_quotes_arrive() -> None:
    s = Session()
    s.send(Quote(symbol_id=3, venue="XNYS", bid_px=199_9900, bid_size=100, ask_px=200_0000,
                 ask_size=100, exch_time_ns=0, nbbo_bid_px=199_9900, nbbo_bid_size=100,
                 nbbo_ask_px=200_0000, nbbo_ask_size=100), sources.TICKER_PLANT)
    assert accepted(s.client(order(limit_px=209_0000)))  # 4.5% through a 200.00 offer
    assert reject(s.client(order(limit_px=211_0000, cl_ord_id="Y")))[1].startswith(
        "limit 211.00 is more than 500 bp through the offer of 200.00")


def test_restricted_list_and_firm_limits() -> None:
    s = Session(refdata=oms_refdata(restricted={"IBM": "pending corporate action"}))
    assert reject(s.client(order())) == (
        "broker_option", "IBM is on the firm's restricted list (pending corporate action)")
    clients = default_clients()
    clients["*"] = client_row("*", max_open_orders=1)
    s = Session(refdata=oms_refdata(clients))
    assert accepted(s.client(order()))
    assert reject(s.client(order(cl_ord_id="Y"))) == (
        "order_exceeds_limit", "the firm already has the maximum of 1 open orders")


def test_gross_notional_is_committed_on_entry_and_released_on_cancel() -> None:
    clients = default_clients()
    clients["ALPHA"] = client_row("ALPHA", max_gross_notional=400_000 * 10_000)
    s = Session(refdata=oms_refdata(clients))
    assert accepted(s.client(order(qty=2_000)))  # 364,000.00 committed
    assert reject(s.client(order(cl_ord_id="Y", qty=200)))[1] == (
        "the day's gross notional would reach 400,400.00, above the limit of 400,000.00 for "
        "client ALPHA")
    s.client(CancelOrder(client="ALPHA", cl_ord_id="C", orig_cl_ord_id="X", symbol="IBM",
                         side="buy"))
    assert s.app.state.gross["ALPHA"] == 0
    assert accepted(s.client(order(cl_ord_id="Z", qty=200)))


def test_risk_limits_change_on_the_stream() -> None:
    s = Session()
    outs = s.ops(SetRiskLimit(scope="ALPHA", limit="max_order_qty", value="500",
                              reason="desk request"))
    assert [a.text for a in of_type(outs, Alert)] == [
        "risk limit max_order_qty of ALPHA changed from 1000000 to 500: desk request"]
    assert reject(s.client(order()))[0] == "order_exceeds_limit"
    s.ops(SetRiskLimit(scope="*", limit="symbols", value="AIG BAC"))
    assert reject(s.client(order(cl_ord_id="Y", qty=100)))[1] == (
        "IBM is not among the symbols allowed for the firm")
    s.ops(SetRiskLimit(scope="*", limit="symbols", value="*"))
    s.ops(SetRiskLimit(scope="ALPHA", limit="max_order_notional", value="10,000.00"))
    assert reject(s.client(order(cl_ord_id="Z", qty=100)))[1] == (
        "notional 18,200.00 is above the maximum order notional of 10,000.00 for client ALPHA")
    for bad, text in [
        (SetRiskLimit(scope="NOBODY", limit="max_order_qty", value="1"),
         "SetRiskLimit: no client 'NOBODY' (use '*' for the firm)"),
        (SetRiskLimit(scope="ALPHA", limit="max_order_qty", value="lots"),
         "SetRiskLimit ALPHA: max_order_qty expects a whole number, got 'lots'"),
        (SetRiskLimit(scope="ALPHA", limit="max_order_notional", value="1.00001"),
         "SetRiskLimit ALPHA: max_order_notional expects an amount >= 0 with at most 4 decimals,"
         " got '1.00001'"),
        (SetRiskLimit(scope="ALPHA", limit="speed", value="1"),
         "SetRiskLimit ALPHA: no limit named 'speed'; limits are: max_order_qty, "
         "max_order_notional, max_gross_notional, max_open_orders, collar_bps, symbols"),
    ]:
        (a,) = of_type(s.ops(bad), Alert)
        assert (a.severity, a.code, a.text) == ("warning", "bad_risk_limit", text)


def _working(s: Session, cl: str, client: str = "ALPHA", symbol: str = "IBM",
             px: int = 182_0000) -> str:
    outs = s.client(order(cl_ord_id=cl, client=client, symbol=symbol, limit_px=px, qty=1_000))
    oid = of_type(outs, ExecutionReport)[-1].order_id
    s.algo(NewChild(parent_id=oid, child_id="C" + cl, venue="XNYS", qty=500, ord_type="limit",
                    limit_px=px))
    s.venue(VenueAck(child_id="C" + cl, venue_order_id="V" + cl))
    s.venue(VenueFill(child_id="C" + cl, exec_id="F" + cl, qty=100, px=px))
    return oid


def test_kill_switch_for_a_client_cancels_its_children_then_its_orders() -> None:
    s = Session()
    a = _working(s, "A1")
    b = _working(s, "B1", client="BETA")
    outs = s.ops(EngageKillSwitch(scope="client", value="ALPHA", reason="runaway algo"))
    assert [(o.action, o.child_id) for o in of_type(outs, ChildOrderSent)] == [("cancel", "CA1")]
    (alert,) = of_type(outs, Alert)
    assert (alert.severity, alert.code) == ("critical", "kill_switch")
    assert alert.text == "kill switch engaged for client ALPHA: 1 orders being cancelled " \
                         "(runaway algo)"
    # the killed client's algo may not send more; the other client is untouched
    rej = of_type(s.algo(NewChild(parent_id=a, child_id="X2", venue="XNYS", qty=100,
                                  ord_type="limit", limit_px=182_0000)), ChildRequestRejected)
    assert rej[0].reason.startswith(f"parent {a} is partially_filled (kill switch: runaway algo)")
    assert not of_type(s.algo(NewChild(parent_id=b, child_id="Y2", venue="XNYS", qty=100,
                                       ord_type="limit", limit_px=182_0000)),
                       ChildRequestRejected)
    outs = s.venue(VenueCanceled(child_id="CA1"))
    (r,) = of_type(outs, ExecutionReport)
    # an unsolicited cancel: the order's own ClOrdID, no OrigClOrdID, the reason in Text
    assert (r.exec_type, r.ord_status, r.cl_ord_id, r.orig_cl_ord_id, r.cum_qty, r.leaves_qty,
            r.text) == ("canceled", "canceled", "A1", "", 100, 0, "kill switch: runaway algo")
    assert reject(s.client(order(cl_ord_id="A2")))[1] == (
        "kill switch engaged (client ALPHA: runaway algo): no new orders")
    outs = s.ops(ReleaseKillSwitch(scope="client", value="ALPHA"))
    assert [a.code for a in of_type(outs, Alert)] == ["kill_switch_released"]
    assert accepted(s.client(order(cl_ord_id="A3")))


def test_kill_switch_for_a_symbol_and_for_everything() -> None:
    s = Session()
    _working(s, "A1")
    _working(s, "A2", symbol="AIG", px=48_1900)
    outs = s.ops(EngageKillSwitch(scope="symbol", value="AIG"))
    assert [o.child_id for o in of_type(outs, ChildOrderSent)] == ["CA2"]
    outs = s.ops(EngageKillSwitch(scope="all", reason="market wide halt"))
    assert [o.child_id for o in of_type(outs, ChildOrderSent)] == ["CA1"]
    assert reject(s.client(order(cl_ord_id="Z")))[1].startswith("kill switch engaged")
    (a,) = of_type(s.ops(EngageKillSwitch(scope="desk", value="x")), Alert)
    assert a.code == "bad_kill_switch"


def test_end_of_day_cancels_every_open_order_and_child() -> None:
    s = Session()
    a = _working(s, "A1")
    s.client(order(cl_ord_id="A2"))  # no children: cancelled at once at the close
    outs = s.advance(6 * HOUR + 34 * 60 * SECOND)  # 09:30 + 6h34m = 16:04
    assert of_type(outs, ExecutionReport) == []
    outs = s.advance(60 * SECOND)  # 16:05
    assert [(o.action, o.child_id) for o in of_type(outs, ChildOrderSent)] == [("cancel", "CA1")]
    reports = of_type(outs, ExecutionReport)
    assert [(r.cl_ord_id, r.exec_type, r.text) for r in reports] == [
        ("A2", "canceled", "cancelled at the close")]
    assert [a.text for a in of_type(outs, Alert)] == ["end of day: 2 open orders taken down"]
    outs = s.venue(VenueCanceled(child_id="CA1"))
    assert [(r.order_id, r.exec_type, r.cum_qty) for r in of_type(outs, ExecutionReport)] == [
        (a, "canceled", 100)]
    assert of_type(outs, ParentDone)[0].ord_status == "canceled"
    assert reject(s.client(order(cl_ord_id="late")))[0] == "too_late_to_enter"
    assert s.app.state.live == {}


def test_ops_end_of_day_cancels_now_and_disarms_the_timer() -> None:
    s = Session()
    a = _working(s, "A1")
    s.client(order(cl_ord_id="A2"))
    outs = s.ops(EndOfDay(reason="tape day eod"))  # at 09:30, long before eod_time
    assert [(o.action, o.child_id) for o in of_type(outs, ChildOrderSent)] == [("cancel", "CA1")]
    assert [(r.cl_ord_id, r.exec_type) for r in of_type(outs, ExecutionReport)] == [
        ("A2", "canceled")]
    assert [x.text for x in of_type(outs, Alert)] == ["end of day: 2 open orders taken down"]
    outs = s.venue(VenueCanceled(child_id="CA1"))
    assert [(r.order_id, r.exec_type) for r in of_type(outs, ExecutionReport)] == [
        (a, "canceled")]
    # The timer is disarmed: 16:05 passes with nothing more; a second EndOfDay finds
    # nothing open, and a new order is too late.
    assert of_type(s.advance(7 * HOUR), Alert) == []
    assert [x.text for x in of_type(s.ops(EndOfDay()), Alert)] == [
        "end of day: 0 open orders taken down"]
    assert reject(s.client(order(cl_ord_id="late")))[0] == "too_late_to_enter"


def test_the_close_time_is_a_parameter() -> None:
    s = Session()
    s.client(order())
    s.ops(SetParameter(target="oms", key="eod_time", value="09:31"))
    outs = s.advance(60 * SECOND)
    assert [r.exec_type for r in of_type(outs, ExecutionReport)] == ["canceled"]
    (a,) = of_type(s.ops(SetParameter(target="oms", key="eod_time", value="25:00")), Alert)
    assert a.text == ("oms eod_time: expected a time of day (hours 00-23, minutes and seconds "
                      "00-59), got '25:00'")
