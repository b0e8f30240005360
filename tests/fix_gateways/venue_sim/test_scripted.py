"""Scripted mode (fix_gateways.venue_sim.scripted): crossings produced on demand."""

from __future__ import annotations

from fix_gateways.venue_sim.market import (
    Ack,
    Cancelled,
    CancelRejected,
    Fill,
    Replaced,
    Restated,
    TradeCanceled,
    TradeCorrected,
    Venue,
    VenueEvent,
)
from fix_gateways.venue_sim.scripted import REFUSED, ScriptedVenue

PX = 100_000  # $10.00


def scripted() -> ScriptedVenue:
    v = Venue("SIM")
    v.on_quote("IBM", PX, 500, PX + 100, 200, 1)
    sv = ScriptedVenue(v)
    assert isinstance(sv.new_order("b", "IBM", "buy", 300, px=PX)[0], Ack)
    return sv


def fill_qtys(events: list[VenueEvent]) -> list[tuple[str, int]]:
    return [(e.order_id, e.qty) for e in events if isinstance(e, Fill)]


def names(events: list[VenueEvent]) -> list[str]:
    return [type(e).__name__ for e in events]


def test_a_fill_delivered_while_the_replace_confirmation_is_held() -> None:
    sv = scripted()
    sv.hold("acks")
    assert sv.replace("b", 200, PX) == []
    assert names(sv.held()) == ["Replaced"]
    # the venue applied the replace: the fill is against the new quantity
    assert sv.fill("b", 100, PX) == [Fill("SIM", "b", "SIM-3", 100, PX, "added", 100, 100)]
    assert sv.release("acks") == [Replaced("SIM", "b", "SIM-2", 200, PX, 200)]
    assert sv.held() == [] and sv.replace("b", 150, PX)[0].__class__ is Replaced


def test_a_held_request_lets_a_fill_hit_the_old_terms() -> None:
    sv = scripted()
    sv.hold("requests", "b")
    assert sv.replace("b", 200, PX) == [] and sv.pending_requests() == 1
    assert sv.fill("b", 150, PX) == [Fill("SIM", "b", "SIM-2", 150, PX, "added", 150, 150)]
    assert sv.release("requests", "b") == [Replaced("SIM", "b", "SIM-3", 200, PX, 50)]
    assert sv.pending_requests() == 0


def test_a_cancel_racing_a_fill_that_completes_the_order() -> None:
    sv = scripted()
    sv.hold("requests")
    assert sv.cancel("b") == []
    assert sv.fill("b", 300, PX)[0] == Fill("SIM", "b", "SIM-2", 300, PX, "added", 300, 0)
    assert sv.release() == [CancelRejected("SIM", "b", "cancel", "too late: order is done")]


def test_released_requests_still_go_through_other_holds() -> None:
    sv = scripted()
    sv.hold("requests")
    sv.hold("acks")
    assert sv.cancel("b") == []
    assert sv.release("requests") == []  # carried out; its answer is held as an ack
    assert sv.held() == [Cancelled("SIM", "b", "SIM-2", 300, "requested", False)]
    assert sv.release() == [Cancelled("SIM", "b", "SIM-2", 300, "requested", False)]


def test_fills_held_per_order_or_globally_come_out_in_order() -> None:
    sv = scripted()
    sv.new_order("c", "IBM", "buy", 100, px=PX)  # at the bid too, behind b
    sv.hold("fills", "b")
    ev = sv.on_trade("IBM", PX - 100, 350, 2)  # through both: b first (earlier), then c
    assert fill_qtys(ev) == [("c", 50)]
    assert fill_qtys(sv.held()) == [("b", 300)]
    sv.hold("fills")
    assert sv.fill("c", 10, PX) == []
    assert fill_qtys(sv.release(order_id="b")) == [("b", 300)]
    assert [e.order_id for e in sv.held()] == ["c"]  # the global hold stays
    assert fill_qtys(sv.release("fills")) == [("c", 10)]


def test_acks_held_for_one_order_only() -> None:
    sv = scripted()
    sv.hold("acks", "x")
    assert sv.new_order("x", "IBM", "sell", 100, px=PX + 500) == []
    assert names(sv.new_order("y", "IBM", "sell", 100, px=PX + 500)) == ["Ack"]
    assert [e.order_id for e in sv.release(order_id="x")] == ["x"]


def test_refused_cancels_and_replaces() -> None:
    sv = scripted()
    sv.refuse_cancels("b")
    assert sv.cancel("b", 5) == [CancelRejected("SIM", "b", "cancel", REFUSED, 5)]
    assert sv.replace("b", 100, PX) == [CancelRejected("SIM", "b", "replace", REFUSED, 0)]
    assert sv.venue.order("b") is not None
    sv.allow_cancels("b")
    assert names(sv.cancel("b")) == ["Cancelled"]


def test_unsolicited_cancel_and_restate_can_be_held() -> None:
    sv = scripted()
    sv.hold("unsolicited")
    assert sv.restate("b", 200, PX, "lot size") == []
    assert sv.unsolicited_cancel("b", "halted") == []
    assert sv.release() == [Restated("SIM", "b", "SIM-2", 200, PX, 200, "lot size"),
                            Cancelled("SIM", "b", "SIM-3", 200, "halted", True)]


def test_a_repeated_exec_id_and_an_overfill() -> None:
    sv = scripted()
    first = sv.fill("b", 100, PX)
    assert sv.fill("b", 100, PX, exec_id="SIM-2") == [
        Fill("SIM", "b", "SIM-2", 100, PX, "added", 200, 100)]
    assert isinstance(first[0], Fill) and first[0].exec_id == "SIM-2"
    assert sv.fill("b", 250, PX)[0] == Fill("SIM", "b", "SIM-3", 250, PX, "added", 450, 0)
    assert sv.venue.order("b") is None


def test_busts_and_corrects_are_held_with_the_fills_in_order() -> None:
    sv = scripted()
    sv.hold("fills", "b")
    assert sv.fill("b", 100, PX) == []
    assert [e.exec_id for e in sv.acted if isinstance(e, Fill)] == ["SIM-2"]  # though held
    assert sv.correct("b", "SIM-2", 90, PX - 100) == []
    assert sv.bust("b", "SIM-3") == []
    assert sv.release("fills", "b") == [
        Fill("SIM", "b", "SIM-2", 100, PX, "added", 100, 200),
        TradeCorrected("SIM", "b", "SIM-3", "SIM-2", 90, PX - 100, 100, PX, 290, 90, 200),
        TradeCanceled("SIM", "b", "SIM-4", "SIM-3", 90, PX - 100, 200, 0, 200)]


def test_restatement_reasons_pass_through() -> None:
    sv = scripted()
    assert sv.restate("b", 200, PX, "lot", restatement_reason="repricing") == [
        Restated("SIM", "b", "SIM-2", 200, PX, 200, "lot", 0, "repricing")]
    assert sv.unsolicited_cancel("b", "halt", restatement_reason="trading_halt") == [
        Cancelled("SIM", "b", "SIM-3", 200, "halt", True, 0, "trading_halt")]


def test_a_scripted_peg() -> None:
    sv = scripted()
    assert names(sv.new_order("p", "IBM", "sell", 100, ord_type="market", peg="mid")) == [
        "Ack"]
    o = sv.venue.order("p")
    assert o is not None and (o.peg, o.px) == ("mid", PX + 100)  # one-tick spread: the ask
