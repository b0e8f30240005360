"""Stateful property tests of the OMS (hypothesis).

Random sequences of client requests (new orders, valid and not; cancels;
replaces up, down, below the filled quantity, repriced; status requests),
the algo engine's child requests (new children that fit and ones that must be
refused; child cancels and replaces), venue events (acks, rejects, partial and
full fills, fills beyond the old size while a replace up is in flight, over-
and late fills, repeated exec ids, solicited and unsolicited cancels, replace
confirmations, cancel/replace rejects), time passing (past the replace
timeout), kill switches and the close, run through the OMS the way the live
stack runs it (`tests.oms.fixtures.Session`).

The machine keeps its own model of every order as its client sees it, built
from the ExecTypes of the reports and the CancelRejects (never from their
OrdStatus), and a model of every child as its venue sees it, built from the
OMS's `ChildOrderSent`; the venue rules answer from that model, in order.
Checked after every step:

- OrderQty = CumQty + LeavesQty while the order is live; LeavesQty 0 once done;
- CumQty is the sum of the trade reports' LastQty (so it never decreases);
- AvgPx is notional over CumQty, rounded half to even at AVG_PX_SCALE, exactly;
- no parent is filled beyond its OrderQty, no child beyond its quantity in the
  book; a parent's CumQty is its children's; CumQty plus the live children's
  exposure stays within OrderQty (the OMS's core invariant), and the book's
  running totals (open quantity, live children) agree with its children;
- every ExecID is unique;
- OrdStatus is the FIX 4.4 precedence of the order's simultaneous conditions.
  A pending cancel or replace lasts until the client is answered (Canceled,
  Replaced or a CancelReject), as in FIX 4.4 Appendix D: a fill that completes
  the order while a cancel is pending reports Pending Cancel, and the
  CancelReject that follows reports Filled;
- a cancel or replace still pending when the order ends is answered in the same
  step: an order the client has been told is done has no request pending (the
  fill that completes it is followed by the request's CancelReject, too late);
- every report carries the order's one OrderID; fills while a request is
  pending carry the old ClOrdID and OrderQty;
- every cancel, replace and status request is answered at once, and a pending
  replace is settled once its timeout has passed and the venues have answered;
- child requests that would let the parent overfill or trade beyond its limit
  are refused, and those that fit a working parent are sent; no new child goes
  out after the parent is done;
- a venue fill within what the child has open reaches the client whole, once;
  a repeated venue ExecID changes nothing;
- a venue's bust or correction of a fill (or of a correction) reaches the client
  once, naming our report of that fill (ExecRefID); CumQty and AvgPx follow
  it, a filled order broken below its quantity is live again and one corrected
  up to it is filled; the invariants above hold through it;
- the engine never raises (a handler exception fails the step) and its output
  checker matched every output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

from hypothesis import note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from oms.book import Parent, exposure, fill_key, tighter, within_limit
from oms.states import CHILD_LIVE, ord_status_by_precedence
from sequencer.messages import Message
from sequencer.messages.admin import EngageKillSwitch, ReleaseKillSwitch, SetParameter
from sequencer.messages.executions import (
    AVG_PX_SCALE,
    CancelReject,
    ExecutionReport,
    VenueAck,
    VenueCanceled,
    VenueCancelRejected,
    VenueFill,
    VenueReject,
    VenueReplaced,
    VenueTradeCanceled,
    VenueTradeCorrected,
)
from sequencer.messages.orders import (
    CancelChild,
    CancelOrder,
    ChildOrderSent,
    ChildRequestRejected,
    NewChild,
    NewOrder,
    OrderStatusRequest,
    OrdType,
    ParentDone,
    ReplaceChild,
    ReplaceOrder,
    Side,
)
from tests.oms.fixtures import MS, REF_PRICES, Session

DAY = "20131008"
LOT = 100
PRICE_SCALE = 10_000
AVG_MUL = AVG_PX_SCALE // PRICE_SCALE
CLIENTS = ("ALPHA", "BETA")
ODD_LOT_CLIENTS = ("BETA",)
SYMBOLS = {"ALPHA": ("AIG", "BAC", "IBM", "PNY", "SPY"), "BETA": ("AIG", "IBM")}
SIDES: tuple[Side, ...] = ("buy", "buy", "sell", "sell", "sell_short")
VENUES = ("XNYS", "XNAS", "ARCX", "BATS")
KILLS = (("all", ""), ("client", "ALPHA"), ("client", "BETA"), ("symbol", "AIG"),
         ("symbol", "IBM"))
FINAL_EXEC_TYPES = {"rejected": "rejected", "canceled": "canceled",
                    "done_for_day": "done_for_day", "expired": "expired"}
IDX = st.integers(0, 1 << 20)


def tick(px: int) -> int:
    """The Reg NMS tick at `px`."""
    return 1 if px < PRICE_SCALE else 100


def expected_avg_px(notional: int, cum: int) -> int:
    """Notional (qty x price at 1/10,000) over CumQty at AVG_PX_SCALE, half to even."""
    return round(Fraction(notional * AVG_MUL, cum)) if cum else 0


@dataclass
class Request:
    """A client request the OMS tied to an order (its ClOrdID is taken)."""

    kind: Literal["new", "cancel", "replace"]
    order_id: str
    orig: str = ""
    qty: int = 0
    px: int = 0


@dataclass
class Order:
    """An order as its client sees it, from the reports' ExecTypes."""

    order_id: str
    client: str
    symbol: str
    side: Side
    ord_type: OrdType
    cl_ord_id: str  # the ClOrdID in force (the new order's, then each replace's)
    qty: int  # the OrderQty in force
    limit_px: int
    clids: list[str] = field(default_factory=list)  # every ClOrdID the OMS ties to it
    accepted: bool = False
    final: str = ""  # "", "filled", "canceled", "done_for_day", "rejected", "expired"
    pending: str = ""  # "cancel" / "replace": answered Pending*, not yet settled
    pending_cl: str = ""
    pending_since: int = 0  # stream time (ns) of the Pending* report
    cum: int = 0
    notional: int = 0
    parent_done: bool = False


@dataclass
class VenueChild:
    """A child order as its venue sees it."""

    child_id: str
    parent_id: str
    symbol: str
    side: Side
    ord_type: OrdType
    qty: int
    px: int
    cum: int = 0
    acked: bool = False
    done: bool = False
    cancel: bool = False  # a cancel request in flight
    replace: tuple[int, int] | None = None  # a replace request in flight: (qty, px)
    applied: tuple[int, int] | None = None  # a replace applied, its confirmation not yet sent


def expected_status(o: Order) -> str:
    """OrdStatus by FIX precedence over the order's simultaneous conditions."""
    if o.final == "rejected":
        return "rejected"
    conditions = []
    if o.pending:
        conditions.append("pending_" + o.pending)
    if o.final in ("canceled", "done_for_day", "expired"):
        conditions.append(o.final)
    if o.qty > 0 and o.cum >= o.qty:
        conditions.append("filled")
    elif o.cum:
        conditions.append("partially_filled")
    conditions.append("new" if o.accepted else "pending_new")
    return ord_status_by_precedence(conditions)


class OmsMachine(RuleBasedStateMachine):
    """One trading day of the OMS; rules pick orders and children by index, mostly live
    ones, and rare events (kill switch, the close, venue errors) pass on most draws."""

    def __init__(self) -> None:
        super().__init__()
        self.s = Session()
        self.orders: dict[str, Order] = {}
        self.order_ids: list[str] = []
        self.clids: dict[tuple[str, str], str] = {}  # (client, ClOrdID) -> OrderID
        self.requests: dict[tuple[str, str], Request] = {}
        self.exec_ids: set[str] = set()
        self.children: dict[str, VenueChild] = {}
        self.child_ids: list[str] = []
        self.fills: list[VenueFill] = []
        # The venue's fills and corrections that stand: (child id, venue ExecID).
        self.standing: list[tuple[str, str]] = []
        self.trades: dict[str, tuple[int, int]] = {}  # our fill reports' ExecID -> qty, px
        self.kills: set[tuple[str, str]] = set()
        self.eod = False
        self.n_orders = 0
        self.n_ids = 0
        # the client request being answered, if its ClOrdID was already used
        self.dup_request: tuple[str, str] | None = None

    # ------------------------------------------------------------------ plumbing

    def _id(self, prefix: str) -> str:
        self.n_ids += 1
        return f"{prefix}{self.n_ids}"

    def _send(self, to: Literal["client", "algo", "venue", "ops"], msg: Message) -> list[Message]:
        note(f"{to} <- {msg!r}")
        outs = {"client": self.s.client, "algo": self.s.algo, "venue": self.s.venue,
                "ops": self.s.ops}[to](msg)
        self._see(outs)
        return outs

    def _see(self, outs: list[Message]) -> None:
        for out in outs:
            note(f"    -> {out!r}")
        for out in outs:
            if isinstance(out, ExecutionReport):
                self._on_report(out)
            elif isinstance(out, CancelReject):
                self._on_cancel_reject(out)
            elif isinstance(out, ChildOrderSent):
                self._on_child_sent(out)
            elif isinstance(out, ParentDone):
                o = self.orders[out.order_id]
                assert not o.parent_done, f"two ParentDone for {o.order_id}"
                assert o.final, f"ParentDone for {o.order_id} before its client was told"
                assert out.cum_qty == o.cum
                o.parent_done = True

    def _killed(self, client: str, symbol: str) -> bool:
        return bool({("all", ""), ("client", client), ("symbol", symbol)} & self.kills)

    @property
    def book_parents(self) -> dict[str, Parent]:
        return self.s.app.state.parents

    def _accepted(self) -> list[str]:
        return [oid for oid in self.order_ids if self.orders[oid].accepted]

    def _room(self, p: Parent) -> int:
        """How much more the parent's children may be given, from the book's children."""
        cap = min(p.qty, p.pend_qty) if p.state == "pending_replace" else p.qty
        kids = self.s.app.state.children
        return cap - p.cum_qty - sum(exposure(kids[c]) for c in p.children)

    @staticmethod
    def _child_limit(p: Parent) -> int:
        if p.state == "pending_replace" and p.pend_px:
            return tighter(p.side, p.limit_px, p.pend_px)
        return p.limit_px

    # ------------------------------------------------------------------ the client's view

    def _on_report(self, er: ExecutionReport) -> None:
        assert er.exec_id not in self.exec_ids, f"ExecID {er.exec_id} used twice"
        self.exec_ids.add(er.exec_id)
        if er.order_id == "NONE":
            assert er.exec_type in ("rejected", "order_status"), er
            assert er.ord_status == "rejected" and er.cum_qty == er.leaves_qty == 0, er
            return
        o = self.orders[er.order_id]
        assert (er.client, er.symbol, er.side) == (o.client, o.symbol, o.side), er
        # The order's one OrderID: its ClOrdIDs are the ones tied to it.
        assert self.clids.get((o.client, er.cl_ord_id)) == o.order_id, er
        if er.orig_cl_ord_id:
            assert self.clids.get((o.client, er.orig_cl_ord_id)) == o.order_id, er
        et = er.exec_type
        if et == "rejected" and er.reject_reason == "duplicate_order":
            # A new order reusing this order's ClOrdID: refused, with this order as it
            # stands (FIX), which the refusal does not change.
            assert er.cum_qty == o.cum and er.order_qty == o.qty, er
            assert er.ord_status == expected_status(o), er
            return
        assert not o.final or et in ("order_status", "trade_cancel", "trade_correct"), (
            f"{er.exec_type} report for {o.order_id}, already {o.final}")
        if et in ("pending_new", "new"):
            assert not o.accepted, er
            assert er.cl_ord_id == o.cl_ord_id and not er.orig_cl_ord_id, er
            o.accepted = et == "new"
        elif et == "rejected":
            assert not o.accepted, er
            o.final = "rejected"
        elif et == "trade":
            assert o.accepted and er.last_qty > 0 and er.last_px > 0, er
            # Against the order in force: a pending request changes nothing yet.
            assert er.cl_ord_id == o.cl_ord_id and not er.orig_cl_ord_id, er
            assert er.order_qty == o.qty, er
            o.cum += er.last_qty
            o.notional += er.last_qty * er.last_px
            self.trades[er.exec_id] = (er.last_qty, er.last_px)
            if o.cum >= o.qty:
                o.final = "filled"
        elif et in ("pending_cancel", "pending_replace"):
            kind = et.removeprefix("pending_")
            req = self.requests[(o.client, er.cl_ord_id)]
            assert req.kind == kind and req.order_id == o.order_id, er
            assert o.accepted and not o.pending, er
            assert er.orig_cl_ord_id == o.cl_ord_id and er.order_qty == o.qty, er
            o.pending, o.pending_cl, o.pending_since = kind, er.cl_ord_id, self.s.now
        elif et == "canceled":
            if o.pending == "cancel":
                assert (er.cl_ord_id, er.orig_cl_ord_id) == (o.pending_cl, o.cl_ord_id), er
                o.pending = ""
            elif er.cl_ord_id != o.cl_ord_id:  # the client's cancel, carried out at once
                req = self.requests[(o.client, er.cl_ord_id)]
                assert req.kind == "cancel" and er.orig_cl_ord_id == o.cl_ord_id, er
            else:  # the broker's
                assert not er.orig_cl_ord_id, er
            o.final = "canceled"
        elif et == "replaced":
            req = self.requests[(o.client, er.cl_ord_id)]
            assert req.kind == "replace" and req.order_id == o.order_id, er
            assert not o.pending or (o.pending, o.pending_cl) == ("replace", er.cl_ord_id), er
            assert er.orig_cl_ord_id == o.cl_ord_id, er
            o.pending = ""
            o.qty = max(req.qty or o.qty, o.cum)
            o.limit_px = req.px or o.limit_px
            o.cl_ord_id = er.cl_ord_id
            if o.cum >= o.qty:
                o.final = "filled"
        elif et in ("trade_cancel", "trade_correct"):
            # A venue's bust or correction of the fill our report `exec_ref_id` told of
            # (or of its last correction): that report's figures come out, the
            # correction's go in.
            assert er.exec_ref_id in self.trades, f"ExecRefID of no standing fill: {er}"
            old_qty, old_px = self.trades.pop(er.exec_ref_id)
            new_qty = er.last_qty if et == "trade_correct" else 0
            assert et == "trade_correct" or (er.last_qty, er.last_px) == (0, 0), er
            o.cum += new_qty - old_qty
            o.notional += new_qty * er.last_px - old_qty * old_px
            if et == "trade_correct":
                self.trades[er.exec_id] = (new_qty, er.last_px)
            if o.final == "filled" and o.cum < o.qty:
                o.final, o.parent_done = "", False  # live again
            elif not o.final and o.cum >= o.qty:
                o.final = "filled"
        elif et in FINAL_EXEC_TYPES:
            o.final = FINAL_EXEC_TYPES[et]
        else:
            assert et == "order_status", er
        assert er.cum_qty == o.cum, f"CumQty {er.cum_qty}, fills add up to {o.cum}: {er}"
        assert er.avg_px == expected_avg_px(o.notional, o.cum), er
        assert er.order_qty == o.qty and er.limit_px == o.limit_px, er
        if o.final == "rejected":
            assert er.cum_qty == er.leaves_qty == 0, er
        else:
            assert 0 <= er.cum_qty <= er.order_qty, f"overfilled: {er}"
            if o.final:
                assert er.leaves_qty == 0, er
            else:
                assert er.order_qty == er.cum_qty + er.leaves_qty, er
        assert er.ord_status == expected_status(o), (
            f"OrdStatus {er.ord_status}, FIX precedence gives {expected_status(o)}: {er}")

    def _on_cancel_reject(self, cr: CancelReject) -> None:
        if cr.order_id == "NONE":
            assert cr.reason == "unknown_order" and cr.ord_status == "rejected", cr
            return
        o = self.orders[cr.order_id]
        assert cr.client == o.client, cr
        if self.dup_request == (cr.client, cr.cl_ord_id):
            assert cr.reason == "duplicate_cl_ord_id", cr
        else:
            req = self.requests[(o.client, cr.cl_ord_id)]
            assert req.order_id == o.order_id and req.kind == cr.response_to, cr
            if o.pending and cr.cl_ord_id == o.pending_cl:
                assert cr.orig_cl_ord_id == o.cl_ord_id, cr
                if o.final == "filled":  # filled while pending: too late (FIX 4.4 D5)
                    assert (cr.response_to, cr.reason) == (o.pending, "too_late"), cr
                o.pending = ""
        assert cr.ord_status == expected_status(o), (
            f"OrdStatus {cr.ord_status}, FIX precedence gives {expected_status(o)}: {cr}")

    def _on_child_sent(self, m: ChildOrderSent) -> None:
        if m.action == "new":
            o = self.orders[m.parent_id]
            assert not o.parent_done and not o.final, f"new child of a done order: {m}"
            assert m.child_id not in self.children, m
            self.children[m.child_id] = VenueChild(
                m.child_id, m.parent_id, m.symbol, m.side, m.ord_type, m.qty, m.limit_px)
            self.child_ids.append(m.child_id)
            return
        c = self.children[m.child_id]
        # One request in flight at a time (unless the venue already sent more than the
        # child had, and the OMS may have drawn its own conclusions).
        if m.action == "cancel":
            assert c.done or not c.cancel, f"a second cancel in flight: {m}"
            c.cancel = True
        else:
            assert c.done or (c.replace is None and not c.cancel), f"request in flight: {m}"
            c.replace = (m.qty, m.limit_px)

    def _request_clid(self, client: str, fresh: bool) -> str:
        used = [cl for (cli, cl) in self.clids if cli == client]
        return self._id("R") if fresh or not used else used[len(used) // 2]

    def _answers(self, outs: list[Message], client: str, clid: str,
                 exec_types: tuple[str, ...]) -> list[Message]:
        return [x for x in outs if (
            (isinstance(x, ExecutionReport) and x.exec_type in exec_types)
            or isinstance(x, CancelReject)) and (x.client, x.cl_ord_id) == (client, clid)]

    # ------------------------------------------------------------------ client rules

    @rule(client=st.sampled_from(CLIENTS), sym=IDX, side=st.sampled_from(SIDES),
          lots=st.integers(1, 20), odd=st.integers(0, 99), market=st.integers(0, 5),
          ticks=st.integers(-15, 15))
    def new_order(self, client: str, sym: int, side: Side, lots: int, odd: int, market: int,
                  ticks: int) -> None:
        """A valid order (refused only while a kill switch or the close forbids it)."""
        self._new_order(client, sym, side, lots, odd, market, ticks, "ok")

    @rule(client=st.sampled_from(CLIENTS), sym=IDX, side=st.sampled_from(SIDES),
          lots=st.integers(1, 20), market=st.integers(0, 5), ticks=st.integers(-15, 15),
          how=st.sampled_from(("bad_qty", "off_tick", "unknown_symbol", "dup")),
          chance=st.integers(0, 1))
    def new_order_refused(self, client: str, sym: int, side: Side, lots: int, market: int,
                          ticks: int, how: str, chance: int) -> None:
        """An order to refuse: a bad quantity, off tick, unknown symbol, a used ClOrdID."""
        if chance:
            return
        self._new_order(client, sym, side, lots, 0, market, ticks, how)

    def _new_order(self, client: str, sym: int, side: Side, lots: int, odd: int, market: int,
                   ticks: int, how: str) -> None:
        symbol = SYMBOLS[client][sym % len(SYMBOLS[client])]
        ord_type: OrdType = "market" if market == 0 else "limit"
        qty = lots * LOT + (odd if client in ODD_LOT_CLIENTS else 0)
        clid = self._id("N")
        if how == "bad_qty":
            qty = (0, -LOT, LOT + 50)[lots % (2 if client in ODD_LOT_CLIENTS else 3)]
        elif how == "off_tick":
            symbol, ord_type = ("AIG" if symbol == "PNY" else symbol), "limit"
        elif how == "unknown_symbol":
            symbol = "XYZ"
        elif how == "dup":
            clid = self._request_clid(client, fresh=False)
        ref = REF_PRICES.get(symbol, 10 * PRICE_SCALE)
        px = ref + ticks * tick(ref) if ord_type == "limit" else 0
        if how == "off_tick":
            px += 50
        dup = (client, clid) in self.clids
        order_id = ""
        if not dup:
            self.n_orders += 1
            order_id = f"{DAY}-{self.n_orders}"
            self.orders[order_id] = Order(order_id, client, symbol, side, ord_type, clid, qty,
                                          px, clids=[clid])
            self.order_ids.append(order_id)
            self.clids[(client, clid)] = order_id
            self.requests[(client, clid)] = Request("new", order_id)
        outs = self._send("client", NewOrder(
            client=client, cl_ord_id=clid, symbol=symbol, side=side, qty=qty,
            ord_type=ord_type, limit_px=px, algo="vwap",
            locate_broker="GSCO" if side == "sell_short" else ""))
        ers = [x for x in outs if isinstance(x, ExecutionReport)]
        if dup:
            # The reject describes the order that has the ClOrdID, as it stands (checked
            # field by field in `_on_report`).
            assert [(x.order_id, x.reject_reason) for x in ers] == [
                (self.clids[(client, clid)], "duplicate_order")]
            return
        assert ers and all(x.order_id == order_id for x in ers), ers
        if how not in ("ok", "dup") or self._killed(client, symbol) or self.eod:
            assert [x.exec_type for x in ers] == ["rejected"], ers
        else:
            assert [x.exec_type for x in ers] == (
                ["pending_new", "new"] if client == "BETA" else ["new"]), ers

    @initialize(client=st.sampled_from(CLIENTS), side=st.sampled_from(SIDES),
                lots=st.integers(1, 20), ticks=st.integers(-15, 15))
    def first_order(self, client: str, side: Side, lots: int, ticks: int) -> None:
        self._new_order(client, 0, side, lots, 0, 1, ticks, "ok")

    def _pick_order(self, i: int, working: bool = False) -> Order:
        """Mostly a live order (if any), now and then any order of the day; `working`:
        mostly one with children working, if any."""
        live = [oid for oid in self.order_ids if not self.orders[oid].final]
        if working and i % 5:
            busy = [oid for oid in live if self.book_parents[oid].live_children]
            live = busy or live
        ids = live if live and i % 5 else self.order_ids
        return self.orders[ids[i // 5 % len(ids)]]

    def _client_request(self, o: Order, orig_how: int, fresh: bool,
                        kind: Literal["cancel", "replace"], qty: int = 0,
                        px: int = 0) -> tuple[str, str, bool, bool]:
        """ClOrdID and OrigClOrdID for a request on `o`; registers what the OMS will."""
        orig = o.cl_ord_id if orig_how < 8 else o.clids[0] if orig_how < 9 else "NOPE"
        clid = self._request_clid(o.client, fresh)
        resolves = (o.client, orig) in self.clids
        dup = (o.client, clid) in self.clids
        target = self.clids.get((o.client, orig), "")
        if resolves and not dup:
            self.clids[(o.client, clid)] = target
            self.orders[target].clids.append(clid)
            self.requests[(o.client, clid)] = Request(kind, target, orig, qty, px)
        self.dup_request = (o.client, clid) if resolves and dup else None
        return clid, orig, resolves, dup

    def _check_answer(self, outs: list[Message], o: Order, clid: str, resolves: bool,
                      dup: bool, exec_types: tuple[str, ...]) -> None:
        answers = self._answers(outs, o.client, clid, exec_types)
        assert len(answers) == 1, f"request {clid} answered {len(answers)} times: {answers}"
        if not resolves:
            assert isinstance(answers[0], CancelReject) and answers[0].order_id == "NONE"
        elif dup:
            assert isinstance(answers[0], CancelReject)
        self.dup_request = None

    @precondition(lambda self: bool(self.order_ids))
    @rule(i=IDX, orig_how=st.integers(0, 9), fresh=st.integers(0, 9), chance=st.integers(0, 2))
    def cancel_order(self, i: int, orig_how: int, fresh: int, chance: int) -> None:
        """A cancel, mostly of a live order by its current ClOrdID (now and then by its
        first one, an unknown one, or under a ClOrdID already used)."""
        if chance:
            return
        o = self._pick_order(i)
        clid, orig, resolves, dup = self._client_request(o, orig_how, fresh > 0, "cancel")
        outs = self._send("client", CancelOrder(client=o.client, cl_ord_id=clid,
                                                orig_cl_ord_id=orig, symbol=o.symbol,
                                                side=o.side))
        self._check_answer(outs, o, clid, resolves, dup, ("pending_cancel", "canceled"))

    @precondition(lambda self: bool(self.order_ids))
    @rule(i=IDX, qty_how=st.sampled_from(("same", "up", "down", "down", "below_cum", "odd")),
          px_how=st.sampled_from(("same", "same", "up", "down", "off_tick")),
          k=st.integers(1, 10), orig_how=st.integers(0, 9), fresh=st.integers(0, 9))
    def replace_order(self, i: int, qty_how: str, px_how: str, k: int, orig_how: int,
                      fresh: int) -> None:
        """A replace: quantity up, down, to or below the filled quantity, not a round lot;
        limit up, down, off the tick (ClOrdIDs as for cancels); mostly of an order with
        children working, so that the replace has to wait for them."""
        o = self._pick_order(i, working=True)
        lot = 1 if o.client in ODD_LOT_CLIENTS else LOT
        qty = {"same": 0, "up": o.qty + k * LOT, "down": max(o.qty - k * LOT, LOT),
               "below_cum": max(o.cum - o.cum % lot - (k - 1) * lot, lot),
               "odd": o.qty + 50}[qty_how]
        base = o.limit_px or REF_PRICES.get(o.symbol, PRICE_SCALE)
        px = {"same": 0, "up": base + k * tick(base), "down": max(base - k * tick(base), 1),
              "off_tick": base + (50 if tick(base) > 1 else 1)}[px_how]
        clid, orig, resolves, dup = self._client_request(o, orig_how, fresh > 0, "replace",
                                                         qty, px)
        outs = self._send("client", ReplaceOrder(client=o.client, cl_ord_id=clid,
                                                 orig_cl_ord_id=orig, symbol=o.symbol,
                                                 side=o.side, qty=qty, limit_px=px))
        self._check_answer(outs, o, clid, resolves, dup, ("pending_replace", "replaced"))

    @precondition(lambda self: bool(self.order_ids))
    @rule(i=IDX, which=IDX, unknown=st.integers(0, 9), chance=st.integers(0, 2))
    def status_request(self, i: int, which: int, unknown: int, chance: int) -> None:
        if chance:
            return
        o = self._pick_order(i)
        clid = "UNKNOWN" if unknown == 0 else o.clids[which % len(o.clids)]
        outs = self._send("client", OrderStatusRequest(client=o.client, cl_ord_id=clid,
                                                       symbol=o.symbol, side=o.side))
        ers = [x for x in outs if isinstance(x, ExecutionReport)]
        assert len(ers) == 1 and ers[0].exec_type == "order_status", ers
        assert ers[0].order_id == ("NONE" if unknown == 0 else o.order_id), ers

    # ------------------------------------------------------------------ algo rules

    @precondition(lambda self: any(o.accepted for o in self.orders.values()))
    @rule(i=IDX, venue=st.sampled_from(VENUES), frac=st.sampled_from((100, 100, 50, 25, 10, 1)),
          ticks=st.integers(0, 3), ack=st.integers(0, 3))
    def new_child(self, i: int, venue: str, frac: int, ticks: int, ack: int) -> None:
        """A child within the parent's open quantity and limit; the venue acknowledges it
        at once (`ack` > 0) or later (`venue_ack`)."""
        self._new_child(i, "fit", venue, frac, ticks, ack)

    @precondition(lambda self: any(o.accepted for o in self.orders.values()))
    @rule(i=IDX, how=st.sampled_from(("too_big", "outside", "market", "dup_id")),
          venue=st.sampled_from(VENUES), frac=st.integers(1, 100), ticks=st.integers(0, 3),
          chance=st.integers(0, 1))
    def new_child_refused(self, i: int, how: str, venue: str, frac: int, ticks: int,
                          chance: int) -> None:
        """A child the OMS must refuse: beyond the parent's open quantity, beyond its limit,
        a market child of a limit parent, a child id in use."""
        if chance:
            return
        self._new_child(i, how, venue, frac, ticks, 1)

    def _new_child(self, i: int, how: str, venue: str, frac: int, ticks: int,
                   ack: int) -> None:
        o = self._pick_order(i)
        if not o.accepted:
            accepted = self._accepted()
            o = self.orders[accepted[i % len(accepted)]]
        p = self.book_parents[o.order_id]
        room = self._room(p)
        qty = max(1, room * frac // 100)
        ord_type: OrdType = "limit"
        cid = self._id("K")
        if p.ord_type == "limit":
            lim = self._child_limit(p)
            step = tick(lim) * (ticks + 1 if how == "outside" else -ticks)
            px = lim + step if p.side == "buy" else lim - step
        else:
            ref = REF_PRICES[o.symbol]
            px = ref + ticks * tick(ref)
        if how == "too_big":
            qty = max(room, 0) + 1 + ticks * LOT
        elif how == "market":
            ord_type, px = "market", 0
        elif how == "dup_id" and self.child_ids:
            cid = self.child_ids[i % len(self.child_ids)]
        must_refuse = qty > room or cid in self.children or (
            ord_type == "limit" and px <= 0) or (p.ord_type == "limit" and (
                ord_type == "market" or not within_limit(p.side, self._child_limit(p), px)))
        must_send = not must_refuse and p.state in ("working", "pending_replace") and (
            not p.closing and not self._killed(p.client, p.symbol))
        outs = self._send("algo", NewChild(parent_id=o.order_id, child_id=cid, venue=venue,
                                           qty=qty, ord_type=ord_type, limit_px=px))
        sent = [x for x in outs if isinstance(x, ChildOrderSent) and x.child_id == cid]
        refused = [x for x in outs if isinstance(x, ChildRequestRejected) and x.child_id == cid]
        if sent and ack:
            self.children[cid].acked = True
            self._send("venue", VenueAck(child_id=cid, venue_order_id="V" + cid))
        if must_refuse:
            assert not sent and len(refused) == 1, f"child {qty} @ {px}, room {room}: {outs}"
        elif must_send:
            assert not refused and [(x.action, x.qty, x.limit_px) for x in sent] == [
                ("new", qty, px)], f"child {qty} @ {px}, room {room}: {outs}"
        else:
            assert len(sent) + len(refused) == 1, outs

    def _pick_child(self, i: int) -> VenueChild:
        """Mostly a child live at its venue (if any), now and then any child."""
        live = [cid for cid in self.child_ids if not self.children[cid].done]
        ids = live if live and i % 5 else self.child_ids
        return self.children[ids[i // 5 % len(ids)]]

    @precondition(lambda self: bool(self.child_ids))
    @rule(i=IDX)
    def cancel_child(self, i: int) -> None:
        """Any child, or (half the time) one with a replace in flight if there is one."""
        c = self._pick_child(i)
        if i % 2 == 0:
            c = self._venue_pick(i // 2, "replacing") or c
        bc = self.s.app.state.children[c.child_id]
        must_send = bc.status in CHILD_LIVE and bc.pending != "cancel"
        outs = self._send("algo", CancelChild(parent_id=c.parent_id, child_id=c.child_id))
        sent = [x for x in outs if isinstance(x, ChildOrderSent)]
        refused = [x for x in outs if isinstance(x, ChildRequestRejected)]
        assert (len(sent), len(refused)) == ((1, 0) if must_send else (0, 1)), outs

    @precondition(lambda self: bool(self.child_ids))
    @rule(i=IDX, how=st.sampled_from(("up", "up", "down", "below_cum", "px", "px_out")),
          k=st.integers(1, 5))
    def replace_child(self, i: int, how: str, k: int) -> None:
        """A child replace: up (mostly within the parent's room), down, to or below its
        filled quantity, repriced within or beyond the parent's limit."""
        c = self._pick_child(i)
        bc = self.s.app.state.children[c.child_id]
        p = self.book_parents[c.parent_id]
        qty = px = 0
        if how == "up":  # mostly within the parent's room
            room = self._room(p)
            qty = bc.qty + (min(k * LOT, room) if room > 0 and k < 5 else k * LOT)
        elif how == "down":
            qty = max(bc.qty - k * LOT, 1)
        elif how == "below_cum":
            qty = max(bc.cum_qty - k + 1, 1)
        elif bc.ord_type == "limit":
            lim = self._child_limit(p) if p.ord_type == "limit" else bc.limit_px
            step = tick(lim) * (k if how == "px_out" else -k + 1)
            px = lim + step if p.side == "buy" else lim - step
        new_qty = qty or bc.qty
        grow = max(new_qty - bc.qty, 0)
        must_refuse = bc.status not in CHILD_LIVE or bool(bc.pending) or (
            new_qty <= bc.cum_qty or 0 < grow > self._room(p) or px < 0 or (
                px and p.ord_type == "limit" and not within_limit(
                    p.side, self._child_limit(p), px)))
        must_send = not must_refuse and (
            not (grow or px) or (p.state in ("working", "pending_replace") and not p.closing))
        outs = self._send("algo", ReplaceChild(parent_id=c.parent_id, child_id=c.child_id,
                                               qty=qty, limit_px=px))
        sent = [x for x in outs if isinstance(x, ChildOrderSent)]
        refused = [x for x in outs if isinstance(x, ChildRequestRejected)]
        if must_refuse:
            assert not sent and len(refused) == 1, outs
        elif must_send:
            assert not refused and [(x.action, x.qty, x.limit_px) for x in sent] == [
                ("replace", new_qty, px or bc.limit_px)], outs
        else:
            assert len(sent) + len(refused) == 1, outs

    # ------------------------------------------------------------------ venue rules

    def _venue_pick(self, i: int, ok: str) -> VenueChild | None:
        cands = [c for c in (self.children[cid] for cid in self.child_ids) if _VENUE_OK[ok](c)]
        return cands[i % len(cands)] if cands else None

    def _can(self, ok: str) -> bool:
        return any(_VENUE_OK[ok](c) for c in self.children.values())

    @precondition(lambda self: self._can("unacked"))
    @rule(i=IDX)
    def venue_ack(self, i: int) -> None:
        c = self._venue_pick(i, "unacked")
        assert c is not None
        c.acked = True
        self._send("venue", VenueAck(child_id=c.child_id, venue_order_id="V" + c.child_id))

    @precondition(lambda self: self._can("unacked"))
    @rule(i=IDX, chance=st.integers(0, 2))
    def venue_reject(self, i: int, chance: int) -> None:
        if chance:
            return
        c = self._venue_pick(i, "unacked")
        assert c is not None
        c.done = True
        self._send("venue", VenueReject(child_id=c.child_id, reason="unknown symbol"))

    @precondition(lambda self: self._can("working"))
    @rule(i=IDX, how=st.sampled_from(("part", "part", "full", "beyond", "beyond")),
          frac=st.integers(1, 100), ticks=st.integers(0, 2))
    def venue_fill(self, i: int, how: str, frac: int, ticks: int) -> None:
        """A fill of part or all of what the child has open at the venue; or ("beyond")
        the venue applies a replace up in flight and fills beyond the old size, the fill
        reaching the OMS before the replace's confirmation."""
        self._venue_fill(i, how, frac, ticks)

    @precondition(lambda self: self._can("working") or self._can("done"))
    @rule(i=IDX, how=st.sampled_from(("over", "late")), frac=st.integers(1, 100),
          ticks=st.integers(0, 2))
    def venue_fill_wrong(self, i: int, how: str, frac: int, ticks: int) -> None:
        """A venue's error: a fill beyond what the child has open, or after it is done."""
        self._venue_fill(i, how, frac, ticks)

    def _venue_fill(self, i: int, how: str, frac: int, ticks: int) -> None:
        c = self._venue_pick(i, {"late": "done", "over": "replacing",
                                 "beyond": "growing"}.get(how, "working"))
        if c is None and how in ("over", "beyond"):
            c, how = self._venue_pick(i, "working"), "part" if how == "beyond" else how
        if c is None:
            c = self._venue_pick(i, "working" if how == "late" else "done")
        assert c is not None
        leaves = max(c.qty - c.cum, 0)
        qty = {"part": max(1, leaves * frac // 100), "full": max(leaves, 1),
               "over": leaves + frac, "late": frac * 10, "beyond": 0}[how]
        if how == "beyond":
            assert c.replace is not None
            qty = leaves + max(1, (c.replace[0] - c.qty) * frac // 100)
            c.qty, c.px = c.applied = c.replace
            c.replace = None
        if c.ord_type == "limit":
            better = tick(c.px) * ticks
            px = c.px - better if c.side == "buy" else c.px + better
        else:
            px = REF_PRICES[c.symbol] + tick(REF_PRICES[c.symbol]) * ticks
        c.cum += qty
        c.done = c.done or c.cum >= c.qty
        fill = VenueFill(child_id=c.child_id, exec_id=self._id("X"), qty=qty, px=px,
                         leaves_qty=max(c.qty - c.cum, 0))
        self.fills.append(fill)
        outs = self._send("venue", fill)
        booked = self.s.app.state.fills[fill_key(c.child_id, fill.exec_id)]
        if booked[3]:
            self.standing.append((c.child_id, fill.exec_id))
        if how in ("part", "full", "beyond"):
            # Within what the child has open: the client gets the whole fill, once.
            trades = [(x.order_id, x.last_qty, x.last_px) for x in outs
                      if isinstance(x, ExecutionReport) and x.exec_type == "trade"]
            assert trades == [(c.parent_id, qty, px)], f"fill of {qty} @ {px}: {outs}"

    @precondition(lambda self: bool(self.fills))
    @rule(i=IDX, chance=st.integers(0, 1))
    def venue_fill_repeated(self, i: int, chance: int) -> None:
        if chance:
            return
        fill = self.fills[i % len(self.fills)]
        bc = self.s.app.state.children[fill.child_id]
        before = (bc.cum_qty, bc.overfill, bc.fills, len(self.s.app.state.fills))
        outs = self._send("venue", fill)
        trades = [x for x in outs if isinstance(x, ExecutionReport) and x.exec_type == "trade"]
        assert not trades and (bc.cum_qty, bc.overfill, bc.fills,
                               len(self.s.app.state.fills)) == before, (
            f"a repeated venue ExecID was applied again: {outs}")

    @precondition(lambda self: bool(self.standing))
    @rule(i=IDX, how=st.sampled_from(("bust", "down", "up", "px")), frac=st.integers(1, 99),
          chance=st.integers(0, 2))
    def venue_trade_amended(self, i: int, how: str, frac: int, chance: int) -> None:
        """A venue breaks a fill, or corrects it (fewer shares, more, another price),
        after the fact; a correction may be corrected or broken in its turn."""
        if chance:
            return
        child_id, ref = self.standing.pop(i % len(self.standing))
        qty, px, _ours, live = self.s.app.state.fills[fill_key(child_id, ref)]
        assert live, f"fill {ref} stands in the test's view, not in the book's"
        c = self.children[child_id]
        exec_id = self._id("T")
        msg: VenueTradeCanceled | VenueTradeCorrected
        if how == "bust":
            new_qty = 0
            msg = VenueTradeCanceled(child_id=child_id, exec_id=exec_id, ref_exec_id=ref)
        else:
            new_qty = {"down": max(1, qty * frac // 100), "up": qty + max(1, qty * frac // 100),
                       "px": qty}[how]
            new_px = px + tick(px) * (1 if how == "px" else 0)
            msg = VenueTradeCorrected(child_id=child_id, exec_id=exec_id, ref_exec_id=ref,
                                      qty=new_qty, px=new_px)
        outs = self._send("venue", msg)
        # The venue's book moves as the OMS assumes: fewer shares filled leave the child's
        # open shares as they were, more take from them (as many as the OMS booked: more
        # than the order may have goes to the error account).
        booked = self.s.app.state.fills[fill_key(child_id, exec_id)][0]
        c.cum += booked - qty
        if booked < qty:
            c.qty -= qty - booked
        c.done = c.done or c.cum >= c.qty
        amended = [x for x in outs if isinstance(x, ExecutionReport)
                   and x.exec_type in ("trade_cancel", "trade_correct")]
        assert len(amended) == 1, f"a {how} answered with {outs}"
        if how != "bust" and self.s.app.state.fills[fill_key(child_id, exec_id)][3]:
            self.standing.append((child_id, exec_id))
        # A repeat of it is applied once.
        assert not [x for x in self._send("venue", msg) if isinstance(x, ExecutionReport)]

    @precondition(lambda self: self._can("cancel_due"))
    @rule(i=IDX)
    def venue_canceled(self, i: int) -> None:
        c = self._venue_pick(i, "cancel_due")
        assert c is not None
        c.done, c.cancel = True, False
        self._send("venue", VenueCanceled(child_id=c.child_id))

    @precondition(lambda self: self._can("working"))
    @rule(i=IDX, chance=st.integers(0, 2))
    def venue_canceled_unsolicited(self, i: int, chance: int) -> None:
        if chance:
            return
        c = self._venue_pick(i, "working")
        assert c is not None
        c.done = True
        self._send("venue", VenueCanceled(child_id=c.child_id, unsolicited=True,
                                          reason="venue halted the symbol"))

    @precondition(lambda self: self._can("replace_due"))
    @rule(i=IDX)
    def venue_replaced(self, i: int) -> None:
        c = self._venue_pick(i, "replace_due")
        assert c is not None
        if c.applied is not None:  # confirming a replace applied already
            qty, px = c.applied
            c.applied = None
        else:
            assert c.replace is not None
            c.qty, c.px = qty, px = c.replace
            c.replace = None
            c.done = c.cum >= c.qty
        self._send("venue", VenueReplaced(child_id=c.child_id, qty=qty, limit_px=px))

    @precondition(lambda self: self._can("in_flight"))
    @rule(i=IDX)
    def venue_cancel_rejected(self, i: int) -> None:
        c = self._venue_pick(i, "in_flight")
        assert c is not None
        # A venue answers in order: a replace in flight went before any cancel.
        response_to: Literal["cancel", "replace"] = "replace" if c.replace else "cancel"
        if c.replace:
            c.replace = None
        else:
            c.cancel = False
        self._send("venue", VenueCancelRejected(child_id=c.child_id, response_to=response_to,
                                                reason="too late" if c.done else "locked"))

    # ------------------------------------------------------------------ time and ops

    @rule(ms=st.sampled_from((1, 250, 2001, 2500, 10_000)))
    def time_passes(self, ms: int) -> None:
        note(f"time passes: {ms} ms")
        self._see(self.s.advance(ms * MS))

    @rule(which=st.integers(0, len(KILLS) - 1), chance=st.integers(0, 11))
    def kill_switch(self, which: int, chance: int) -> None:
        if chance:
            return
        scope, value = KILLS[which]
        self.kills.add((scope, value))
        self._send("ops", EngageKillSwitch(scope=scope, value=value, reason="test"))

    @precondition(lambda self: bool(self.kills))
    @rule(i=IDX, chance=st.integers(0, 1))
    def release_kill_switch(self, i: int, chance: int) -> None:
        if chance:
            return
        scope, value = sorted(self.kills)[i % len(self.kills)]
        self.kills.discard((scope, value))
        self._send("ops", ReleaseKillSwitch(scope=scope, value=value))

    @precondition(lambda self: not self.eod)
    @rule(chance=st.integers(0, 49))
    def end_of_day(self, chance: int) -> None:
        """The close (rarely, as it ends the day's trading)."""
        if chance:
            return
        self.eod = True
        self._send("ops", SetParameter(target="oms", key="eod_time", value="09:30:00"))
        self.time_passes(1)

    # ------------------------------------------------------------------ the book

    @invariant()
    def book_is_consistent(self) -> None:
        state = self.s.app.state
        kids = state.children
        for c in kids.values():
            assert 0 <= c.cum_qty <= c.qty, f"child {c.child_id} overfilled in the book: {c}"
        for p in state.parents.values():
            o = self.orders[p.order_id]
            assert (p.cum_qty, p.qty, p.notional) == (o.cum, o.qty, o.notional), (p, o)
            if p.state == "rejected":
                continue
            mine = [kids[cid] for cid in p.children]
            live = [c for c in mine if c.status in CHILD_LIVE]
            assert all(c.parent_id == p.order_id for c in mine), p
            assert p.cum_qty == sum(c.cum_qty for c in mine), p
            assert p.notional == sum(c.notional for c in mine), p
            assert 0 <= p.cum_qty <= p.qty, f"parent {p.order_id} overfilled: {p}"
            open_qty = sum(exposure(c) for c in live)
            assert p.cum_qty + open_qty <= p.qty, (
                f"parent {p.order_id}: filled {p.cum_qty} + live children's exposure "
                f"{open_qty} > {p.qty}")
            assert (p.open_qty, p.live_children) == (open_qty, len(live)), (
                f"parent {p.order_id}: book says open {p.open_qty} in {p.live_children} "
                f"children, its children say {open_qty} in {len(live)}")

    @invariant()
    def pending_replace_is_answered(self) -> None:
        """A pending replace is not left hanging: once the replace timeout has passed and
        the venues have answered every request for the order's children, the OMS has
        answered the client (Replaced or a CancelReject) or has a new request out.
        (A pending cancel the venue refused stays pending by design, alerted: not checked.)"""
        timeout = self.s.app.state.replace_timeout_ms * MS
        for o in self.orders.values():
            if o.pending != "replace" or self.s.now < o.pending_since + timeout:
                continue
            kids = [c for c in self.children.values() if c.parent_id == o.order_id]
            if any(c.cancel or c.replace is not None or c.applied is not None for c in kids):
                continue  # a venue has yet to answer
            waited = (self.s.now - o.pending_since) // MS
            raise AssertionError(
                f"{o.order_id}: the client's replace {o.pending_cl} is still pending {waited} ms "
                f"on (timeout {timeout // MS} ms), with every venue request answered")

    @invariant()
    def a_done_order_has_no_request_pending(self) -> None:
        """A client's cancel or replace pending when its order ended was answered with
        the end: after a fill completes the order (reported with the pending status's
        precedence) comes the request's CancelReject (too late, OrdStatus Filled), so
        the client is never left with a finished order still pending."""
        for o in self.orders.values():
            assert not (o.final and o.pending), (
                f"{o.order_id} is {o.final} but the client's {o.pending} "
                f"{o.pending_cl} was never answered")

    @invariant()
    def outputs_match_the_stream(self) -> None:
        checker = self.s.engine.checker
        assert not checker.mismatches and not checker.pending


_VENUE_OK: dict[str, Callable[[VenueChild], bool]] = {
    "unacked": lambda c: not c.acked and not c.done,
    "working": lambda c: c.acked and not c.done,
    "done": lambda c: c.done,
    # A venue answers in order: a replace sent before a cancel is answered first.
    "cancel_due": lambda c: c.cancel and c.replace is None and c.applied is None and not c.done,
    "replace_due": lambda c: c.applied is not None or (c.replace is not None and not c.done),
    "replacing": lambda c: c.replace is not None and c.acked and not c.done,
    "growing": lambda c: c.replace is not None and c.replace[0] > c.qty and c.acked and (
        not c.done),
    "in_flight": lambda c: c.replace is not None or (c.cancel and c.applied is None),
}

# Derandomized: the same 300 sequences of up to 60 steps every run (a few seconds), so
# CI is reproducible; run with a hypothesis seed by hand to explore further.
# Derandomized (the same sequences on every run, no example database): about 15 s when
# every example passes.
OmsMachine.TestCase.settings = settings(
    max_examples=300, stateful_step_count=150, deadline=None, derandomize=True, database=None)
TestOmsProperties = OmsMachine.TestCase
