"""The parent order's state machine: one table, and OrdStatus by FIX precedence.

States are the OMS's view of a parent order. An event either moves the order
to a next state and names the ExecType the client is told (None: nothing is
reported for the transition itself), or is not allowed in that state, and
the caller answers with the reason from `REFUSALS`.

Fills do not change the state while a cancel or replace is pending: FIX
reports them against the old ClOrdID and quantity with the pending status,
which has precedence. A fill that completes the order ends any pending
request (the request can no longer be carried out). A venue's trade cancel or
correction is reported in whatever state the order is in; one that takes a
filled order below its quantity makes it live again, one that brings an order
to its full quantity fills it.

OrdStatus is derived, never stored: `ord_status(state, cum, qty)`. FIX 4.4
precedence (Appendix D): pending cancel 12, pending replace 11, done for day
10, calculated 9, filled 8, stopped 7, suspended 6, canceled 5, expired 5,
partially filled 4, new 2, rejected 2, pending new 2.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

from sequencer.messages.executions import ExecType, OrdStatus

State = Literal[
    "pending_new", "working", "pending_cancel", "pending_replace",
    "filled", "canceled", "done_for_day", "rejected", "expired",
]
Event = Literal[
    "accept",            # validated: the order is live
    "reject",            # refused at entry
    "fill",              # a fill that leaves shares open
    "complete",          # a fill that brings CumQty to OrderQty
    "cancel_request",    # the client asks to cancel; children still open
    "cancel_done",       # no child open any more: the order is cancelled
    "replace_request",   # the client amends; children must first fit the new terms
    "replace_done",      # the amendment is in force (at once, or after pending)
    "replace_filled",    # the amendment leaves no shares (new qty <= CumQty)
    "unsolicited_cancel",  # the broker cancels: kill switch, end of day, venue gone
    "done_for_day",      # end of day, per the client's configuration
    "expire",            # an IOC/FOK or OPG/CLS order whose chance has passed
    "replace_refused",   # the broker drops a pending replace (kill switch, end of day)
    "cancel_refused",    # a venue will not let go of an open child: the cancel is rejected
    "restate",           # a venue reduced a DMA order's child on its own: so is the order
    "bust",              # a venue broke a fill; the order stays as it was (not filled)
    "correct",           # a venue corrected a fill; the order stays filled or not filled
    "bust_reopen",       # a venue broke a fill of a filled order: it has shares left again
    "correct_reopen",    # ... corrected one down
    "correct_complete",  # a venue corrected a fill up to the order's full quantity
]

PRECEDENCE: Final[dict[str, int]] = {
    "pending_cancel": 12, "pending_replace": 11, "done_for_day": 10, "calculated": 9,
    "filled": 8, "stopped": 7, "suspended": 6, "canceled": 5, "expired": 5,
    "partially_filled": 4, "new": 2, "rejected": 2, "pending_new": 2,
}

TERMINAL: Final[frozenset[str]] = frozenset(
    {"filled", "canceled", "done_for_day", "rejected", "expired"})

#: States in which the order is live (it has shares that may still trade).
LIVE: Final[tuple[State, ...]] = ("pending_new", "working", "pending_cancel", "pending_replace")

# (state, event) -> (next state, ExecType reported, or None)
TRANSITIONS: Final[dict[tuple[State, Event], tuple[State, ExecType | None]]] = {
    ("pending_new", "accept"): ("working", "new"),
    ("pending_new", "reject"): ("rejected", "rejected"),
    ("pending_new", "unsolicited_cancel"): ("canceled", "canceled"),
    ("working", "fill"): ("working", "trade"),
    ("working", "complete"): ("filled", "trade"),
    ("working", "cancel_request"): ("pending_cancel", "pending_cancel"),
    ("working", "cancel_done"): ("canceled", "canceled"),
    ("working", "replace_request"): ("pending_replace", "pending_replace"),
    ("working", "replace_done"): ("working", "replaced"),
    ("working", "replace_filled"): ("filled", "replaced"),
    ("working", "unsolicited_cancel"): ("canceled", "canceled"),
    ("working", "done_for_day"): ("done_for_day", "done_for_day"),
    ("working", "expire"): ("expired", "expired"),
    ("pending_cancel", "fill"): ("pending_cancel", "trade"),
    ("pending_cancel", "complete"): ("filled", "trade"),
    ("pending_cancel", "cancel_done"): ("canceled", "canceled"),
    ("pending_cancel", "unsolicited_cancel"): ("canceled", "canceled"),
    ("pending_cancel", "done_for_day"): ("canceled", "canceled"),
    ("pending_cancel", "cancel_refused"): ("working", None),
    ("pending_replace", "fill"): ("pending_replace", "trade"),
    ("pending_replace", "complete"): ("filled", "trade"),
    ("pending_replace", "replace_done"): ("working", "replaced"),
    ("pending_replace", "replace_filled"): ("filled", "replaced"),
    ("pending_replace", "replace_refused"): ("working", None),
    ("pending_replace", "unsolicited_cancel"): ("canceled", "canceled"),
    ("pending_replace", "done_for_day"): ("done_for_day", "done_for_day"),
    # A venue's restatement of a DMA order's child (an unsolicited reduction).
    ("working", "restate"): ("working", "restated"),
    ("pending_cancel", "restate"): ("pending_cancel", "restated"),
    ("pending_replace", "restate"): ("pending_replace", "restated"),
    # Trade busts and corrections: reported in any state; a filled order can come back
    # to life (FIX 4.4 Appendix D, J; FIX 4.2 D34), one short of filled can complete.
    **{(st, "bust"): (st, "trade_cancel") for st in (
        "working", "pending_cancel", "pending_replace", "canceled", "done_for_day",
        "expired")},
    **{(st, "correct"): (st, "trade_correct") for st in (
        "working", "pending_cancel", "pending_replace", "filled", "canceled",
        "done_for_day", "expired")},
    ("filled", "bust_reopen"): ("working", "trade_cancel"),
    ("filled", "correct_reopen"): ("working", "trade_correct"),
    ("working", "correct_complete"): ("filled", "trade_correct"),
    ("pending_cancel", "correct_complete"): ("filled", "trade_correct"),
    ("pending_replace", "correct_complete"): ("filled", "trade_correct"),
}

# Why a client request is refused in a state (CancelReject text; CxlRejReason).
REFUSALS: Final[dict[State, tuple[str, str]]] = {
    "pending_new": ("the order is not yet accepted", "unable_to_process"),
    "pending_cancel": ("a cancel of this order is already pending", "already_pending"),
    "pending_replace": ("a replace of this order is already pending", "already_pending"),
    "filled": ("too late: the order is filled", "too_late"),
    "canceled": ("too late: the order is cancelled", "too_late"),
    "done_for_day": ("too late: the order is done for the day", "too_late"),
    "rejected": ("the order was rejected", "too_late"),
    "expired": ("too late: the order has expired", "too_late"),
}


def step(state: State, event: Event) -> tuple[State, ExecType | None] | None:
    """The next state and the ExecType to report, or None if `event` is not allowed."""
    return TRANSITIONS.get((state, event))


def ord_status(state: State, cum_qty: int, order_qty: int) -> OrdStatus:
    """The OrdStatus to report: the state, or for a working order its fill level. A
    cancelled or expired order a venue's correction brought to its full quantity is
    filled too (filled, 8, is above canceled and expired, 5)."""
    if state == "working":
        if cum_qty >= order_qty:
            return "filled"
        return "partially_filled" if cum_qty else "new"
    if cum_qty >= order_qty and state in ("canceled", "expired"):
        return "filled"
    return state


def ord_status_by_precedence(conditions: list[str]) -> str:
    """The status FIX reports for an order in several conditions at once (a check
    of `ord_status` used by the tests)."""
    return max(conditions, key=lambda c: PRECEDENCE[c])


# ---------------------------------------------------------------- child orders
#
# A child order at a venue has a status and, beside it, the request of ours the
# venue has not answered yet (`in flight`: "", "cancel" or "replace"). The
# replace's terms ride with it (`pend_qty`, `pend_px` on `oms.book.Child`); a
# cancel sent after a replace takes the place of the replace in flight but keeps
# its terms, since the venue may still apply the replace first.

ChildStatus = Literal["pending_new", "new", "filled", "canceled", "rejected"]
InFlight = Literal["", "cancel", "replace"]
ChildEvent = Literal[
    "ack",              # the venue took the order
    "cancel_sent",      # we asked the venue to cancel it
    "replace_sent",     # we asked the venue to replace it
    "replaced",         # the venue replaced or restated it (or a fill shows the replace)
    "replace_refused",  # the venue refused the replace
    "cancel_refused",   # the venue refused the cancel
    "filled",           # done: filled
    "canceled",         # done: cancelled (asked for or not)
    "rejected",         # done: refused by the venue
]

#: Statuses in which a child may still trade.
CHILD_LIVE: Final[tuple[ChildStatus, ...]] = ("pending_new", "new")

#: (status, event) -> the status after it; events not listed leave the status alone.
CHILD_STATUS: Final[dict[tuple[ChildStatus, ChildEvent], ChildStatus]] = {
    ("pending_new", "ack"): "new",
    ("pending_new", "filled"): "filled",
    ("pending_new", "canceled"): "canceled",
    ("pending_new", "rejected"): "rejected",
    ("new", "filled"): "filled",
    ("new", "canceled"): "canceled",
    ("new", "rejected"): "rejected",
}

#: (request in flight, event) -> the request in flight after it; events not listed
#: leave it alone. Every end of the child ends what was in flight.
IN_FLIGHT: Final[dict[tuple[InFlight, ChildEvent], InFlight]] = {
    ("", "cancel_sent"): "cancel",
    ("replace", "cancel_sent"): "cancel",
    ("", "replace_sent"): "replace",
    ("replace", "replaced"): "",
    ("replace", "replace_refused"): "",
    ("cancel", "cancel_refused"): "",
    ("cancel", "filled"): "",
    ("replace", "filled"): "",
    ("cancel", "canceled"): "",
    ("replace", "canceled"): "",
    ("cancel", "rejected"): "",
    ("replace", "rejected"): "",
}

#: Events that end the child's replace terms (`pend_qty`, `pend_px`) along with it.
CLEARS_REPLACE_TERMS: Final[frozenset[ChildEvent]] = frozenset(
    {"replaced", "replace_refused", "filled", "canceled", "rejected"})


def child_step(status: ChildStatus, in_flight: InFlight,
               event: ChildEvent) -> tuple[ChildStatus, InFlight]:
    """A child's status and request in flight after `event`."""
    return (CHILD_STATUS.get((status, event), status),
            IN_FLIGHT.get((in_flight, event), in_flight))


#: (status, in flight, event) -> (status, in flight, whether the replace's terms end): the
#: tables above joined, so that applying an event (`oms.book.move_child`) is one lookup.
CHILD_MOVES: Final[dict[tuple[ChildStatus, InFlight, ChildEvent],
                        tuple[ChildStatus, InFlight, bool]]] = {
    (st, fl, ev): (*child_step(st, fl, ev), ev in CLEARS_REPLACE_TERMS)
    for st in get_args(ChildStatus) for fl in get_args(InFlight) for ev in get_args(ChildEvent)
}
