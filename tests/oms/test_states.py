"""The parent order transition table and OrdStatus precedence, checked as data."""

from __future__ import annotations

from typing import get_args

from hypothesis import given
from hypothesis import strategies as st

from oms import states
from oms.states import PRECEDENCE, TERMINAL, TRANSITIONS, State, ord_status


def test_only_a_venues_trade_cancel_or_correction_leaves_a_final_state() -> None:
    # In a final state only a venue's bust or correction is reported, and the order stays
    # where it is; a filled order comes back to life if one takes it below its quantity.
    for (state, event), (nxt, exec_type) in TRANSITIONS.items():
        if state not in TERMINAL:
            continue
        assert event in ("bust", "correct", "bust_reopen", "correct_reopen"), event
        assert exec_type in ("trade_cancel", "trade_correct"), (state, event)
        assert nxt == state or (state, event, nxt) in (
            ("filled", "bust_reopen", "working"), ("filled", "correct_reopen", "working"))
    assert states.step("rejected", "bust") is None, "a rejected order has no fills"
    assert set(get_args(State)) >= {nxt for nxt, _x in TRANSITIONS.values()}


def test_a_pending_request_ends_only_by_its_answer_a_fill_or_the_broker() -> None:
    for (state, event), (nxt, _x) in TRANSITIONS.items():
        if state == "pending_cancel" and nxt != "pending_cancel":
            assert event in ("cancel_done", "complete", "unsolicited_cancel", "done_for_day",
                             "cancel_refused", "correct_complete")
        if state == "pending_replace" and nxt != "pending_replace":
            assert event in ("replace_done", "replace_filled", "complete", "unsolicited_cancel",
                             "done_for_day", "replace_refused", "correct_complete")


def test_fills_while_pending_keep_the_pending_status() -> None:
    assert TRANSITIONS[("pending_cancel", "fill")] == ("pending_cancel", "trade")
    assert TRANSITIONS[("pending_replace", "fill")] == ("pending_replace", "trade")
    assert states.step("filled", "fill") is None
    assert states.step("canceled", "cancel_request") is None


@given(st.sampled_from(sorted(get_args(State))), st.integers(0, 1000), st.integers(1, 1000))
def test_ord_status_is_the_highest_precedence_condition(state: State, cum: int,
                                                        qty: int) -> None:
    # Reachable combinations only: a filled order has cum == qty; any other state but
    # working has shares left (a fill that completes an order ends any other state),
    # except a cancelled, expired or done-for-day one that a venue's correction of a
    # fill brought to its full quantity.
    corrected = ("working", "canceled", "expired", "done_for_day")
    cum = qty if state == "filled" else min(cum, qty if state in corrected else qty - 1)
    conditions: list[str]
    if state in ("pending_new", "rejected"):  # never accepted, never filled
        cum, conditions = 0, [state]
    else:
        conditions = ["new"]
        if cum:
            conditions.append("filled" if cum >= qty else "partially_filled")
        if state != "working":
            conditions.append(state)
    assert ord_status(state, cum, qty) == states.ord_status_by_precedence(conditions)
    assert PRECEDENCE[ord_status(state, cum, qty)] == max(PRECEDENCE[c] for c in conditions)


# ---------------------------------------------------------------- child orders

CHILD_STATUSES = get_args(states.ChildStatus)
IN_FLIGHT = get_args(states.InFlight)
CHILD_EVENTS = get_args(states.ChildEvent)
ENDS = ("filled", "canceled", "rejected")


def test_a_child_that_is_done_stays_done_and_nothing_is_in_flight_for_it() -> None:
    for st_ in CHILD_STATUSES:
        for fl in IN_FLIGHT:
            for ev in CHILD_EVENTS:
                nxt, after = states.child_step(st_, fl, ev)
                if st_ not in states.CHILD_LIVE:
                    assert nxt == st_, (st_, ev)
                if ev in ENDS:
                    assert after == "" and (nxt in ENDS or st_ not in states.CHILD_LIVE)


def test_a_request_in_flight_ends_only_by_its_answer_or_the_end_of_the_child() -> None:
    ended_by = {"cancel": {*ENDS, "cancel_refused"},
                "replace": {*ENDS, "replaced", "replace_refused", "cancel_sent"}}
    for fl in ("cancel", "replace"):
        for ev in CHILD_EVENTS:
            _, after = states.child_step("new", fl, ev)
            assert (after != fl) == (ev in ended_by[fl]), (fl, ev)
    # a cancel sent after a replace takes its place; the replace's terms stay (the venue
    # may apply the replace first), and its answer no longer clears the cancel
    assert states.child_step("new", "replace", "cancel_sent") == ("new", "cancel")
    assert "cancel_sent" not in states.CLEARS_REPLACE_TERMS
    assert states.child_step("new", "cancel", "replace_refused") == ("new", "cancel")
    assert states.child_step("pending_new", "", "ack") == ("new", "")


def test_the_joined_child_table_is_the_two_tables() -> None:
    for (st_, fl, ev), (nxt, after, clears) in states.CHILD_MOVES.items():
        assert (nxt, after) == states.child_step(st_, fl, ev)
        assert clears == (ev in states.CLEARS_REPLACE_TERMS)
    assert len(states.CHILD_MOVES) == len(CHILD_STATUSES) * len(IN_FLIGHT) * len(CHILD_EVENTS)
