"""What the container keeps of each parent order and its children.

Plain structs (part of the algo engine's snapshot). A child's quantity is its
total, filled included, as venues count it; `open_qty` is what can still trade
and `exposure` the most it could trade while a replace is in flight or waits.

A child's life cycle, as the container sees it, is one table (`child_step`):
its status (held in the container through a halt; sent, not yet taken by the
venue; live at the venue; done) and, beside it, the request of ours still
unanswered (a cancel or a replace, whose terms ride in `pend_qty` and
`pend_px`). What becomes of a replace asked for in each of these states is one
table too (`AMEND`): sent at once only to a child the venue has taken with
nothing of ours in flight; to a child in flight (not yet taken, or a replace
unanswered) it *waits*, its terms in `want_qty` and `want_px`, and goes once
the venue answers (the container fits it to the order's terms then); a cancel
or the child's end drops it.

A child keeps its fills by the venue's exec id (`fills`), so that a venue's
bust or correction of one (`VenueTradeCanceled`, `VenueTradeCorrected`) can
be taken out or changed; `gone` holds the exec ids that no longer stand (fills
broken or corrected, the busts and corrections themselves), so that a repeat
is applied once.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

import msgspec

from sequencer.messages.orders import OrdType, Side, TimeInForce

#: held: asked for while its order is paused by a halt (or its venue halted), kept in the
#: container, nothing published yet; sent: asked of the OMS (and maybe sent on by it), not
#: yet taken by the venue; live: the venue has it (acknowledged, filled or restated)
ChildStatus = Literal["held", "sent", "live", "done"]
Pending = Literal["", "cancel", "replace"]
#: What becomes of a replace asked for now (`AMEND`)
AmendNow = Literal["in_place", "send", "wait", "refuse"]
Frozen = Literal["", "amend", "cancel"]
#: How a strategy asks for a child; the container turns a style into an order type and
#: a time in force. "dma" copies the parent's own.
Style = Literal["passive", "take", "open_auction", "close_auction", "dma"]


ChildEvent = Literal[
    "released",      # nothing holds it any more (its halt ended): asked of the OMS now
    "sent",          # the OMS sent it on to the venue (which has yet to take it)
    "ack",           # the venue took it
    "fill",          # the venue filled some of it (so it has it)
    "restated",      # the venue changed it on its own (so it has it)
    "cancel_sent",   # we asked to cancel it
    "replace_sent",  # we asked to replace it
    "refused",       # our cancel or replace was refused (by the OMS or the venue)
    "replaced",      # the venue replaced it
    "done",          # it ended: filled, cancelled, rejected, refused by the OMS; or, held,
                     # cancelled, its order taken down, or no longer fitting at the resume
]

#: (status, event) -> the status after it; events not listed leave the status alone.
CHILD_STATUS: Final[dict[tuple[ChildStatus, ChildEvent], ChildStatus]] = {
    ("held", "released"): "sent",
    ("held", "done"): "done",
    ("sent", "ack"): "live",
    ("sent", "fill"): "live",
    ("sent", "restated"): "live",
    ("sent", "done"): "done",
    ("live", "done"): "done",
}

#: (request in flight, event) -> the request in flight after it; events not listed
#: leave it alone.
IN_FLIGHT: Final[dict[tuple[Pending, ChildEvent], Pending]] = {
    ("", "cancel_sent"): "cancel",
    ("replace", "cancel_sent"): "cancel",
    ("", "replace_sent"): "replace",
    ("cancel", "replace_sent"): "replace",
    ("cancel", "refused"): "",
    ("replace", "refused"): "",
    ("cancel", "replaced"): "",
    ("replace", "replaced"): "",
    ("cancel", "done"): "",
    ("replace", "done"): "",
}

#: How `Child.end_reason` begins for a child the OMS refused (it never reached a venue).
REFUSED_BY_OMS: Final = "refused by the OMS"

#: Events after which the replace's terms (`pend_qty`, `pend_px`) are gone.
CLEARS_REPLACE_TERMS: Final[frozenset[ChildEvent]] = frozenset({"refused", "replaced"})

#: Events after which a replace waiting (`want_qty`, `want_px`) is dropped: the child is
#: being cancelled or has ended. (A refusal of the request before it does not drop it:
#: it is newer, and goes once the container has fitted it to the order.)
DROPS_WAITING: Final[frozenset[ChildEvent]] = frozenset({"cancel_sent", "done"})

#: (status, request in flight) -> what becomes of a replace asked for now: amended
#: "in_place" (held: nothing published yet), "send" it, let it "wait" for the venue's
#: answer (the venue has not taken the child yet, or has not answered our replace before
#: it: a replace before either would reach a venue order that is not there yet, or
#: cross the one in flight), or "refuse" it (being cancelled, or done).
AMEND: Final[dict[tuple[ChildStatus, Pending], AmendNow]] = {
    ("held", ""): "in_place",
    ("held", "cancel"): "refuse",  # (never: a held child's cancel ends it at once)
    ("held", "replace"): "in_place",  # (never: a held child is amended in place)
    ("sent", ""): "wait",
    ("sent", "cancel"): "refuse",
    ("sent", "replace"): "wait",  # (never: nothing is replaced before the venue has it)
    ("live", ""): "send",
    ("live", "cancel"): "refuse",
    ("live", "replace"): "wait",
    ("done", ""): "refuse",
    ("done", "cancel"): "refuse",
    ("done", "replace"): "refuse",
}


def child_step(status: ChildStatus, pending: Pending,
               event: ChildEvent) -> tuple[ChildStatus, Pending]:
    """A child's status and request in flight after `event`."""
    return (CHILD_STATUS.get((status, event), status),
            IN_FLIGHT.get((pending, event), pending))


class Child(msgspec.Struct):
    child_id: str
    parent_id: str
    venue: str
    destination: str
    style: str
    ord_type: OrdType
    tif: TimeInForce
    qty: int
    limit_px: int
    sent_ns: int
    cum_qty: int = 0
    notional: int = 0  # sum of fill qty * px
    status: ChildStatus = "sent"
    pending: Pending = ""
    pend_qty: int = 0
    pend_px: int = 0
    #: a replace asked for that waits for the venue's answer (`AMEND`): its quantity (0:
    #: none waits) and limit
    want_qty: int = 0
    want_px: int = 0
    end_reason: str = ""
    #: venue exec id -> (qty, px) of each fill that stands (a corrected one under the
    #: correction's exec id)
    fills: dict[str, tuple[int, int]] = msgspec.field(default_factory=dict)
    gone: list[str] = msgspec.field(default_factory=list)  # exec ids that no longer stand

    @property
    def live(self) -> bool:
        return self.status != "done"

    @property
    def open_qty(self) -> int:
        return max(0, self.qty - self.cum_qty) if self.status != "done" else 0

    @property
    def exposure(self) -> int:
        """The most it could fill: its open quantity, or more with a replace in flight
        or waiting (counted at the larger of the sizes)."""
        if self.status == "done":
            return 0
        q = max(self.qty, self.pend_qty) if self.pending == "replace" else self.qty
        return max(0, max(q, self.want_qty) - self.cum_qty)

    @property
    def committed(self) -> tuple[int, int]:
        """(qty, limit) the venue will have once our request in flight is carried out."""
        return (self.pend_qty, self.pend_px) if self.pending == "replace" else (
            self.qty, self.limit_px)

    @property
    def target(self) -> tuple[int, int]:
        """(qty, limit) it is to have: the replace waiting, else as `committed`."""
        return (self.want_qty, self.want_px) if self.want_qty else self.committed

    @property
    def amend_now(self) -> AmendNow:
        """What becomes of a replace asked for now (`AMEND`)."""
        return AMEND[(self.status, self.pending)]


#: (status, in flight, event) -> (status, in flight, whether the replace's terms end,
#: whether a replace waiting is dropped): the tables joined, so that applying an event is
#: one lookup.
CHILD_MOVES: Final[dict[tuple[ChildStatus, Pending, ChildEvent],
                        tuple[ChildStatus, Pending, bool, bool]]] = {
    (st, fl, ev): (*child_step(st, fl, ev), ev in CLEARS_REPLACE_TERMS, ev in DROPS_WAITING)
    for st in get_args(ChildStatus) for fl in get_args(Pending) for ev in get_args(ChildEvent)
}


def move_child(c: Child, event: ChildEvent) -> None:
    """Apply an event to a child by the table (`child_step`)."""
    c.status, c.pending, clears, drops = CHILD_MOVES[(c.status, c.pending, event)]
    if clears:
        c.pend_qty = c.pend_px = 0
    if drops:
        c.want_qty = c.want_px = 0


class Parent(msgspec.Struct):
    order_id: str
    client: str
    symbol: str
    symbol_id: int
    side: Side
    qty: int
    ord_type: OrdType
    limit_px: int
    tif: TimeInForce
    algo: str
    params: dict[str, str]
    accepted_ns: int
    cum_qty: int = 0
    notional: int = 0
    frozen: Frozen = ""
    pend_qty: int = 0  # an amendment's terms while it is pending
    pend_px: int = 0
    children: list[str] = msgspec.field(default_factory=list)
    next_child: int = 1
    failed: str = ""  # why the strategy was stopped ("" while it runs)
    taken_off: int = 0  # shares venues' busts and corrections down took off its fills

    @property
    def buy(self) -> bool:
        return self.side == "buy"

    @property
    def leaves(self) -> int:
        return max(0, self.qty - self.cum_qty)

    def cap_qty(self) -> int:
        """The quantity children may fill up to now: while an amendment is pending,
        the smaller of the old and the new."""
        return min(self.qty, self.pend_qty) if self.frozen == "amend" and self.pend_qty else (
            self.qty)

    def cap_px(self) -> int:
        """The limit children must respect now: while an amendment is pending, the
        tighter of the old and the new."""
        if self.frozen == "amend" and self.pend_px and self.ord_type == "limit":
            return min(self.limit_px, self.pend_px) if self.buy else max(self.limit_px,
                                                                         self.pend_px)
        return self.limit_px

    @property
    def avg_px(self) -> float:
        return self.notional / self.cum_qty if self.cum_qty else 0.0
