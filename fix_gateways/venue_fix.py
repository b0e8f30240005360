"""Venue side FIX <-> stream translation (our initiators talking to venues), FIX 4.2 and 4.4.

One `VenueOrders` per venue session holds what the translation needs:

- ClOrdIDs, chosen deterministically from the stream: a child's NewOrderSingle
  goes out as ClOrdID = the child id; its n-th later request (cancel or
  replace, n = 1, 2, ...) as "{child_id}.{n}". Replaying the same
  `ChildOrderSent`s gives the same ids.
- The OrigClOrdID chain: a request names the child's last ClOrdID that was not
  rejected (FIX: "the previous non rejected order"), pending or confirmed; a
  cancel or replace the venue rejects drops out of the chain.
- The venue's OrderID (37), sent back on cancels and replaces once known.
- Every ClOrdID we used, mapped back to its child, so an answer naming any of
  them (11, or failing that 41) finds the child.

Requests: `request(begin_string, ChildOrderSent, transact_ns)` -> raw FIX D / F / G text.
A child's ExecInst (`ChildOrderSent.exec_inst`) goes out as ExecInst 18 (space
separated codes, `fixmsg.EXEC_INST_CODES`: 6 post only, M mid peg, R primary
peg). A pegged child (M or R) is OrdType 40=P on 4.2 and 4.4, with Price 44 as
its cap when the child is a limit order (none when it is a market order); post
only alone keeps the child's order type. An at-the-close child on 4.2 keeps
OrdType 5/B (4.2 has no other way to say at the close), its ExecInst still sent.
The ExecInst is the child's own, remembered from its new order: a replace (G)
declares it again, with the same OrdType (FIX does not carry ExecInst forward
unless the replace re-declares it), whatever the replace's `exec_inst` says.

Answers: `translate(begin_string, fields)` -> (venue event | None, note). It
does not change the state; `apply(event)` does. Either call `apply` with each
venue event as it comes back sequenced, live and on catch-up alike, or use
`from_venue` live (translate and apply at once) and `apply` only on catch-up;
never both for one event. Either way the state is a function of the stream.
The note is "" when all is well, else a description for the gateway's
log/alert (an unknown ClOrdID, an unreadable report, a fill price rounded to
the tick).

ExecutionReport (35=8) by ExecType (150):
  0 new -> VenueAck (a repeated ack with the same OrderID is dropped);
  8 rejected -> VenueReject for the child's new order; for one of our cancel or
    replace requests -> VenueCancelRejected;
  F trade (4.4), 1 partial fill / 2 fill (4.2, accepted on 4.4 too) -> VenueFill:
    ExecID 17, LastQty 32, LastPx 31 (rounded half-even to 1/10,000 if finer,
    noted), LeavesQty 151, LastLiquidityInd 851: 1 added, 2 removed, 3 routed
    out -> removed (we took liquidity through the venue), 4 auction; absent or
    any other value -> "" (unknown; another value is noted);
  4 canceled, 3 done for day, C expired -> VenueCanceled. Unsolicited when no
    cancel of ours is pending for the child (we sent an OrderCancelRequest that
    the venue has not rejected); an IOC/FOK child's cancel and an expiry are
    what the order asked for, so not unsolicited. Done for day is the venue
    ending the order, so it is a cancel (reason "done for day");
  5 replaced -> VenueReplaced with the venue's OrderQty 38 / Price 44 (ours
    where it omits them);
  D restated -> VenueRestated when OrderQty or Price differ from what we know;
    a restatement that changes neither is dropped (None);
  On D and on the cancels (4, 3, C), ExecRestatementReason 378 becomes the
    event's `restatement_reason` in words (`fixmsg.RESTATEMENT_WORDS`; absent:
    "", an unknown code: "other", noted); the text `reason` is Text 58, else
    (D) the code's name;
  H trade cancel (4.4; taken on 4.2 too) and 4.2's ExecTransType 20=1 (whatever
    its 150) -> VenueTradeCanceled; G trade correct and 4.2's 20=2 ->
    VenueTradeCorrected with LastQty 32 and LastPx 31 (rounded half-even to
    1/10,000 if finer, noted). Each names the fill it amends by ExecRefID 19 (the fill's ExecID, or
    its last correction's); without 19 or its own ExecID 17 (or, for a correct,
    32/31) it is unreadable: dropped, noted. The gateway does not check that 19
    names a fill of the child: the OMS does;
  6 pending cancel, E pending replace, A pending new, I order status (and 4.2's
    ExecTransType 3 status) -> None.
OrderCancelReject (35=9) -> VenueCancelRejected, CxlRejResponseTo 434: 1 cancel,
2 replace (if absent: what our request with that ClOrdID was).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

from fix_gateways.client_fix import SIDE_CODES
from fix_gateways.fixmsg import (
    FIX42,
    FIX44,
    RESTATEMENT_WORDS,
    SOH,
    Fields,
    compose,
    fix_exec_inst,
    fix_price,
    fix_time,
    parse_price,
    parse_qty,
    round_price,
)
from sequencer.messages.executions import (
    Liquidity,
    RestatementReason,
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
from sequencer.messages.orders import ChildOrderSent, ExecInst, TimeInForce

VenueEvent = (VenueAck | VenueReject | VenueFill | VenueCanceled | VenueReplaced
              | VenueCancelRejected | VenueRestated | VenueTradeCanceled
              | VenueTradeCorrected)
Request = Literal["cancel", "replace"]

PEGS: Final[frozenset[ExecInst]] = frozenset(("mid_peg", "primary_peg"))
TIF_CODES: Final[dict[TimeInForce, str]] = {
    "day": "0", "gtc": "1", "opg": "2", "ioc": "3", "fok": "4", "cls": "7"}
LIQUIDITY: Final[dict[str, Liquidity]] = {
    "1": "added", "2": "removed", "3": "removed", "4": "auction"}
_ORD_REJ: Final = {
    "0": "broker option", "1": "unknown symbol", "2": "exchange closed",
    "3": "order exceeds limit", "4": "too late to enter", "5": "unknown order",
    "6": "duplicate order", "7": "duplicate of a verbally communicated order",
    "8": "stale order", "9": "trade along required", "10": "invalid investor id",
    "11": "unsupported order characteristic", "13": "incorrect quantity",
    "14": "incorrect allocated quantity", "15": "unknown account", "99": "other"}
_CXL_REJ: Final = {
    "0": "too late to cancel", "1": "unknown order", "2": "broker option",
    "3": "already pending cancel or replace", "4": "unable to process",
    "5": "OrigOrdModTime mismatch", "6": "duplicate ClOrdID", "99": "other"}
_RESTATE: Final = {
    "0": "GT corporate action", "1": "GT renewal / restatement", "2": "verbal change",
    "3": "repricing of order", "4": "broker option", "5": "partial decline of OrderQty",
    "6": "cancel on trading halt", "7": "cancel on system failure", "8": "market option",
    "9": "canceled, not best", "10": "warehouse recap", "99": "other"}


@dataclass(slots=True)
class _Child:
    child_id: str
    symbol: str
    side: str  # FIX code
    qty: int  # as the venue last confirmed (or as sent, before any answer)
    ord_type: str  # FIX code: 1 market or 2 limit (a peg's 40=P comes from exec_inst)
    limit_px: int
    tif: TimeInForce
    last_cl_ord_id: str  # the last ClOrdID not rejected: the next request's OrigClOrdID
    exec_inst: tuple[ExecInst, ...] = ()  # the new order's, declared again on replaces
    n: int = 0  # requests after the new order
    venue_order_id: str = ""
    # Requests the venue has not answered, oldest first: (ClOrdID, OrigClOrdID, kind).
    pending: list[tuple[str, str, Request]] = field(default_factory=list)

    def cancel_pending(self) -> bool:
        return any(kind == "cancel" for _, _, kind in self.pending)


@dataclass(slots=True)
class VenueOrders:
    """The venue gateway's child orders, across its venue sessions (FIX 4.2 or 4.4 each:
    every call names the session's BeginString)."""

    _children: dict[str, _Child] = field(default_factory=dict)
    _by_cl_ord_id: dict[str, str] = field(default_factory=dict)  # every ClOrdID -> child id
    _kinds: dict[str, Request] = field(default_factory=dict)  # request ClOrdID -> kind
    note: str = ""  # what `from_venue` last had to say ("" when all was well)

    # ------------------------------------------------------------ state, read only

    def child_of(self, cl_ord_id: str) -> str | None:
        """The child id a ClOrdID of ours belongs to."""
        return self._by_cl_ord_id.get(cl_ord_id)

    def cl_ord_id(self, child_id: str) -> str:
        """The child's last ClOrdID not rejected (what its next request names as 41)."""
        return self._children[child_id].last_cl_ord_id

    def venue_order_id(self, child_id: str) -> str:
        return self._children[child_id].venue_order_id

    # ------------------------------------------------------------ requests

    def request(self, begin_string: str, m: ChildOrderSent,
                transact_ns: int | None = None) -> str:
        """The raw FIX request for the OMS's instruction: NewOrderSingle (D),
        OrderCancelRequest (F) or OrderCancelReplaceRequest (G). `transact_ns`
        (TransactTime 60, required by FIX 4.2) is the instruction's stream time; None
        sends the zero time."""
        v = begin_string
        if v not in (FIX42, FIX44):
            raise ValueError(f"unsupported FIX version {v!r}")
        ns = transact_ns or 0
        if m.action == "new":
            if m.child_id in self._children:
                raise ValueError(f"child {m.child_id!r} was already sent")
            ord_code = "1" if m.ord_type == "market" else "2"
            c = _Child(m.child_id, m.symbol, SIDE_CODES[m.side], m.qty, ord_code,
                       m.limit_px if m.ord_type == "limit" else 0, m.tif, m.child_id,
                       m.exec_inst)
            self._children[m.child_id] = c
            self._by_cl_ord_id[m.child_id] = m.child_id
            return compose(v, "D", f"11={c.child_id}{SOH}21=1{SOH}" + _terms(
                v, c, m.qty, c.limit_px, ns))
        found = self._children.get(m.child_id)
        if found is None:
            raise ValueError(f"{m.action} of child {m.child_id!r}, which was never sent")
        c = found
        c.n += 1
        cl = f"{c.child_id}.{c.n}"
        orig = c.last_cl_ord_id
        c.last_cl_ord_id = cl
        c.pending.append((cl, orig, m.action))
        self._by_cl_ord_id[cl] = c.child_id
        self._kinds[cl] = m.action
        head = f"11={cl}{SOH}"
        if m.action == "cancel":
            body = (head + (f"37={c.venue_order_id}{SOH}" if c.venue_order_id else "")
                    + f"38={c.qty}{SOH}41={orig}{SOH}54={c.side}{SOH}55={c.symbol}{SOH}"
                    f"60={fix_time(ns)}{SOH}")
            return compose(v, "F", body)
        px = m.limit_px if c.ord_type == "2" else 0
        body = (head + f"21=1{SOH}" + (f"37={c.venue_order_id}{SOH}" if c.venue_order_id else "")
                + f"41={orig}{SOH}" + _terms(v, c, m.qty, px, ns))
        return compose(v, "G", body)

    # ------------------------------------------------------------ answers

    def _find(self, f: Fields) -> tuple[_Child | None, str]:
        for tag in ("11", "41"):
            child_id = self._by_cl_ord_id.get(f.get(tag, ""))
            if child_id is not None:
                return self._children[child_id], ""
        what = {"8": "an ExecutionReport", "9": "an OrderCancelReject"}.get(
            f.get("35", ""), f"MsgType {f.get("35", '')!r}")
        return None, (f"{what} for ClOrdID {f.get("11", '')!r} (OrigClOrdID {f.get("41", '')!r}, "
                      f"OrderID {f.get("37", '')!r}): no order of ours has it; dropped")

    def from_venue(self, begin_string: str, fields: Fields) -> VenueEvent | None:
        """`translate`, then `apply` at once (live use without waiting for the event to
        come back sequenced; on catch-up call `apply` with the journal's events).
        The note goes to `self.note`."""
        event, self.note = self.translate(begin_string, fields)
        if event is not None:
            self.apply(event)
        return event

    def translate(self, begin_string: str, fields: Fields) -> tuple[VenueEvent | None, str]:
        """The venue event for a venue's ExecutionReport or OrderCancelReject (`fields`
        from `fixmsg.read`), or None when it carries nothing for the stream; and a
        note for the log ("" when all is well)."""
        c, why = self._find(fields)
        if c is None:
            return None, why
        try:
            if fields.get("35") == "9":
                return self._cancel_rejected(c, fields)
            if fields.get("35") == "8":
                return self._report(begin_string, c, fields)
        except (ValueError, KeyError) as e:
            return None, (f"unreadable report for child {c.child_id} "
                          f"(ClOrdID {fields.get("11", '')!r}): {e}")
        return None, f"MsgType {fields.get("35", '')!r} for child {c.child_id} is not an answer"

    def _cancel_rejected(self, c: _Child, f: Fields) -> tuple[VenueEvent | None, str]:
        code = f.get("434", "")
        kind: Request
        if code in ("1", "2"):
            kind = "cancel" if code == "1" else "replace"
        else:
            known = self._kinds.get(f.get("11", ""))
            if known is None:
                return None, (f"OrderCancelReject for child {c.child_id} without "
                              "CxlRejResponseTo (434) for no request of ours; dropped")
            kind = known
        return VenueCancelRejected(c.child_id, kind, _reason(f, "102", _CXL_REJ)), ""

    def _report(self, v: str, c: _Child, f: Fields) -> tuple[VenueEvent | None, str]:
        et = f.get("150", "")
        trans = f.get("20", "0") if v == FIX42 else "0"
        if trans == "3" or et == "I":
            return None, ""  # a status report: nothing happened
        if trans in ("1", "2") or et in ("G", "H"):
            return self._trade_amended(c, f, trans == "2" or (trans == "0" and et == "G"))
        if et in ("F", "1", "2"):
            return self._fill(c, f)
        if et == "0":
            voi = f.get("37", "")
            if voi and voi == c.venue_order_id:
                return None, ""  # the same ack again
            return VenueAck(c.child_id, voi), ""
        if et == "8":
            kind = self._kinds.get(f.get("11", ""))
            reason = _reason(f, "103", _ORD_REJ)
            if kind is not None:
                return VenueCancelRejected(c.child_id, kind, reason), ""
            return VenueReject(c.child_id, reason), ""
        if et in ("4", "3", "C"):
            why = {"4": "", "3": "done for day", "C": "expired"}[et]
            text = f.get("58", "")
            reason = f"{why}: {text}" if why and text else why or text
            expected = c.cancel_pending() or et == "C" or c.tif in ("ioc", "fok")
            restatement, note = _restatement(c, f)
            return VenueCanceled(c.child_id, not expected, reason, restatement), note
        if et == "5":
            qty = parse_qty(f["38"]) if f.get("38") else c.qty
            px = parse_price(f["44"]) if f.get("44") and c.ord_type == "2" else c.limit_px
            return VenueReplaced(c.child_id, qty, px), ""
        if et == "D":
            qty = parse_qty(f["38"]) if f.get("38") else c.qty
            px = parse_price(f["44"]) if f.get("44") and c.ord_type == "2" else c.limit_px
            if qty == c.qty and px == c.limit_px:
                return None, ""  # a restatement that changes nothing
            reason = f.get("58", "") or _RESTATE.get(f.get("378", ""), "restated by the venue")
            restatement, note = _restatement(c, f)
            return VenueRestated(c.child_id, qty, px, reason, restatement), note
        if et in ("6", "E", "A"):
            return None, ""
        return None, f"ExecType {et!r} for child {c.child_id} is not handled; dropped"

    def _trade_amended(self, c: _Child, f: Fields,
                       correct: bool) -> tuple[VenueEvent | None, str]:
        """A trade cancel (bust) or correct of one of the child's fills."""
        what = "trade correct" if correct else "trade cancel"
        exec_id, ref = f.get("17", ""), f.get("19", "")
        if not exec_id or not ref:
            return None, (f"unreadable {what} for child {c.child_id} (ExecID {exec_id!r}, "
                          f"ExecRefID {ref!r}): it needs both ExecID (17) and ExecRefID "
                          "(19); dropped")
        if not correct:
            return VenueTradeCanceled(c.child_id, exec_id, ref), ""
        if not f.get("32") or not f.get("31"):
            raise ValueError("a trade correct without LastQty (32) or LastPx (31)")
        qty = parse_qty(f["32"])
        px, note = _last_px(c, f, f"trade correct {exec_id}")
        return VenueTradeCorrected(c.child_id, exec_id, ref, qty, px), note

    def _fill(self, c: _Child, f: Fields) -> tuple[VenueEvent | None, str]:
        qty = parse_qty(f["32"])
        px, note = _last_px(c, f, f"fill {f.get("17", '')}")
        ind = f.get("851", "")
        liquidity = LIQUIDITY.get(ind, "")
        if ind and ind not in LIQUIDITY:
            note = (note + "; " if note else "") + (
                f"fill {f.get("17", '')} of child {c.child_id}: unknown LastLiquidityInd "
                f"(851) {ind!r}")
        leaves = parse_qty(f["151"]) if f.get("151") else 0
        if not f.get("17"):
            raise ValueError("a fill without ExecID (17)")
        return VenueFill(c.child_id, f["17"], qty, px, liquidity, leaves), note

    # ------------------------------------------------------------ state changes

    def apply(self, event: VenueEvent) -> None:
        """Bring the state up to a sequenced venue event (live and on catch-up)."""
        c = self._children.get(event.child_id)
        if c is None:
            return
        if isinstance(event, VenueAck):
            if event.venue_order_id:
                c.venue_order_id = event.venue_order_id
        elif isinstance(event, VenueReplaced):
            for i, (_, _, kind) in enumerate(c.pending):
                if kind == "replace":
                    del c.pending[i]
                    break
            c.qty, c.limit_px = event.qty, event.limit_px
        elif isinstance(event, VenueRestated):
            c.qty, c.limit_px = event.qty, event.limit_px
        elif isinstance(event, VenueCancelRejected):
            for i, (cl, orig, kind) in enumerate(c.pending):
                if kind == event.response_to:
                    del c.pending[i]
                    if c.last_cl_ord_id == cl:
                        c.last_cl_ord_id = orig
                    break
        elif isinstance(event, VenueCanceled | VenueReject):
            c.pending.clear()


def _terms(v: str, c: _Child, qty: int, px: int, ns: int) -> str:
    """18, 38, 40, 44, 54, 55, 59 and 60 of a D or G (4.2 has no TimeInForce at the
    close: a market/limit on close goes as OrdType 5/B, TimeInForce day; a pegged
    child is OrdType P, its Price the cap)."""
    ord_code, tif = c.ord_type, TIF_CODES[c.tif]
    if v == FIX42 and c.tif == "cls":
        ord_code, tif = ("5" if ord_code == "1" else "B"), "0"
    elif PEGS.intersection(c.exec_inst):
        ord_code = "P"
    inst = fix_exec_inst(c.exec_inst)
    return ((f"18={inst}{SOH}" if inst else "") + f"38={qty}{SOH}40={ord_code}{SOH}"
            + (f"44={fix_price(px)}{SOH}" if px else "")
            + f"54={c.side}{SOH}55={c.symbol}{SOH}59={tif}{SOH}60={fix_time(ns)}{SOH}")


def _last_px(c: _Child, f: Fields, what: str) -> tuple[int, str]:
    """LastPx (31) as fixed point, rounded half-even to the 1/10,000 tick if finer (with
    a note)."""
    try:
        return parse_price(f["31"]), ""
    except ValueError:
        return round_price(f["31"]), (f"{what} of child {c.child_id}: LastPx {f["31"]} "
                                      "rounded to the 1/10,000 tick")


def _restatement(c: _Child, f: Fields) -> tuple[RestatementReason, str]:
    """ExecRestatementReason (378) in words ("" when absent; an unknown code: "other",
    with a note)."""
    code = f.get("378", "")
    if not code:
        return "", ""
    word = RESTATEMENT_WORDS.get(code)
    if word is None:
        return "other", (f"child {c.child_id}: unknown ExecRestatementReason (378) {code!r} "
                         "taken as other")
    return word, ""


def _reason(f: Fields, tag: str, names: dict[str, str]) -> str:
    """The venue's reason: Text 58, else the name of its code."""
    text = f.get("58", "")
    if text:
        return text
    code = f.get(tag, "")
    return names.get(code, f"code {code}") if code else "no reason given"
