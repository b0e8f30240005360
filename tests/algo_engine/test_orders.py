"""The container's child life cycle table, checked as data."""

from __future__ import annotations

from typing import get_args

from algo_engine import orders
from algo_engine.orders import AMEND, CHILD_MOVES, Child, child_step, move_child

EVENTS = get_args(orders.ChildEvent)
STATUSES = get_args(orders.ChildStatus)
PENDING = get_args(orders.Pending)


def test_a_done_child_stays_done_and_done_ends_what_was_in_flight() -> None:
    for pend in PENDING:
        for ev in EVENTS:
            assert child_step("done", pend, ev)[0] == "done"
        for st in STATUSES:
            assert child_step(st, pend, "done") == ("done", "")


def test_the_venue_taking_a_child_makes_it_live_the_oms_sending_it_on_does_not() -> None:
    for ev in ("ack", "fill", "restated"):
        assert child_step("sent", "", ev) == ("live", "")
    assert child_step("sent", "", "sent") == ("sent", "")  # on its way: not at the venue yet
    assert child_step("live", "replace", "fill") == ("live", "replace")


def test_a_held_child_is_released_to_the_oms_or_ends_and_nothing_else_moves_it() -> None:
    assert child_step("held", "", "released") == ("sent", "")
    assert child_step("held", "", "done") == ("done", "")
    for ev in EVENTS:
        if ev not in ("released", "done"):
            assert child_step("held", "", ev)[0] == "held", ev
    for st in STATUSES:
        if st != "held":
            assert child_step(st, "", "released")[0] == st  # only a held child is released


def test_an_answered_request_is_no_longer_in_flight_and_its_terms_go() -> None:
    c = Child("P.1", "P", "XNYS", "DMA-XNYS", "passive", "limit", "day", 500, 100, 0,
              status="live")
    move_child(c, "replace_sent")
    c.pend_qty, c.pend_px = 800, 99
    assert (c.pending, c.exposure) == ("replace", 800)
    move_child(c, "cancel_sent")  # a cancel after it: the replace's terms stay
    assert (c.pending, c.pend_qty) == ("cancel", 800)
    move_child(c, "refused")
    assert (c.status, c.pending, c.pend_qty, c.pend_px) == ("live", "", 0, 0)


def test_the_joined_table_is_the_step() -> None:
    for (st, pend, ev), (nxt, after, clears, drops) in CHILD_MOVES.items():
        assert (nxt, after) == child_step(st, pend, ev)
        assert clears == (ev in orders.CLEARS_REPLACE_TERMS)
        assert drops == (ev in orders.DROPS_WAITING)
    assert len(CHILD_MOVES) == len(STATUSES) * len(PENDING) * len(EVENTS)


def test_a_replace_goes_only_to_a_child_the_venue_has_with_nothing_in_flight() -> None:
    """`AMEND` covers every state: a replace is sent only to a live child with nothing in
    flight, waits while the child is in flight (not taken yet, or a replace unanswered),
    is refused only for a child being cancelled or done, and a held one is amended in
    the container."""
    assert set(AMEND) == {(st, pend) for st in STATUSES for pend in PENDING}
    assert [k for k, v in AMEND.items() if v == "send"] == [("live", "")]
    assert AMEND[("sent", "")] == AMEND[("live", "replace")] == "wait"
    assert AMEND[("held", "")] == "in_place"
    for (st, pend), now in AMEND.items():
        assert (now == "refuse") == (st == "done" or pend == "cancel"), (st, pend)


def test_a_waiting_replace_counts_in_the_exposure_and_goes_with_a_cancel_or_the_end(
        ) -> None:
    for ev in ("cancel_sent", "refused", "done", "ack", "replaced", "fill"):
        c = Child("P.1", "P", "XNYS", "DMA-XNYS", "passive", "limit", "day", 500, 100, 0,
                  status="sent" if ev != "replaced" else "live",
                  pending="replace" if ev in ("replaced", "refused") else "",
                  pend_qty=600, want_qty=800, want_px=99)
        assert c.exposure == 800 and c.target == (800, 99)
        move_child(c, ev)
        dropped = ev in ("cancel_sent", "done")
        assert (c.want_qty, c.want_px) == ((0, 0) if dropped else (800, 99)), ev
    c = Child("P.1", "P", "XNYS", "DMA-XNYS", "passive", "limit", "day", 500, 100, 0,
              status="live", pending="replace", pend_qty=300, pend_px=98)
    assert (c.committed, c.target, c.exposure, c.amend_now) == ((300, 98), (300, 98), 500,
                                                                 "wait")
