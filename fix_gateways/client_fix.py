"""Client side FIX <-> stream translation (our acceptor talking to clients), FIX 4.2 and 4.4.

Inbound, `from_client(begin_string, client, fields)` turns a client's
NewOrderSingle (D), OrderCancelRequest (F), OrderCancelReplaceRequest (G) or
OrderStatusRequest (H), read with `fixmsg.read`, into the stream message
(`NewOrder`, `CancelOrder`, `ReplaceOrder`, `OrderStatusRequest`), or into a
`Refusal` that says what to answer instead and why:
- a NewOrderSingle carrying a well-formed value we do not take (a stop order,
  a Side or TimeInForce we do not trade, a price with more than 4 decimals, a
  quantity that is not a whole number of shares, ...) is answered with an
  ExecutionReport reject (35=8 150=8 39=8, OrdRejReason 103, Text 58);
- a NewOrderSingle without what a reject must echo (ClOrdID, Symbol, a FIX Side),
  any F/G/H the gateway cannot put on the stream (it does not know the order's
  state, which a 35=9 must report), and every other application message type,
  are answered with a BusinessMessageReject (35=j, BusinessRejectReason 380).
Business rules (limits, the algo's parameter values, known symbols) are the
OMS's: the gateway refuses only what the stream messages cannot carry.

Custom tags (a client's FIX engine must allow user-defined fields, tags >= 5000):
  7000 Strategy: the algo by name, case-insensitive ("VWAP", "DMA"; absent: a
       care order). TargetStrategy 847=1 (FIX 4.4's VWAP) is also accepted; 847
       as text cannot be used because QuickFIX's 4.4 dictionary types it INT 1-3.
  7001 StartTime, 7002 EndTime (HH:MM[:SS] exchange-local), 7003 MaxPct,
  7004 MustComplete, 7005 OpenAuction, 7006 CloseAuction (Y/N), 7007 Aggression,
  7010 Venue (for DMA): the algo parameters, named as in `oms.algos.ALGOS`, in
       tag order (a FIX engine does not keep the client's field order).
  5700 LocateBroker: who located the shares of a short sale.
A replace (G) carrying any 7001-7010 tag replaces the algo parameters; the algo,
the OrdType and the TimeInForce of an order cannot be changed by a replace.

Standard tags beyond the basics:
  97 PossResend=Y (header) on a D, F or G: carried on the stream (`poss_resend`);
       the OMS answers a resend whose ClOrdID it knows with the order's status
       instead of a duplicate reject. PossDupFlag (43) stays the gateway's: a
       PossDup repeat of a request the stream holds is dropped.
  152 CashOrderQty on a D (instead of OrderQty): an amount the OMS converts to
       shares; both 38 and 152 is refused. A G cannot carry it.
  18 ExecInst: 6 (participate don't initiate), M (mid-price peg) and R (primary
       peg) are carried to the venue (DMA orders only, the OMS decides); any other
       value is refused with its name. OrdType P (pegged) is taken with a peg in
       18: a limit order if Price (44) caps it, else a market one. A G must
       re-declare the order's ExecInst (FIX: it is not carried forward).

FIX 4.2 also takes OrdType 5 (market on close) and B (limit on close) as market
or limit orders with TimeInForce "cls"; FIX 4.4 uses TimeInForce 7 for that.

Outbound, `execution_report`, `cancel_reject` and `drop_copy` give the raw
text (`fixmsg.compose`) for the client's FIX version; `fixmsg.message` makes it
a `quickfix.Message` for `Session.sendToTarget`. A fill carries the venue's
LastLiquidityInd (851: 1 added, 2 removed; an auction fill none, 4.4 has no
code for it); a trade cancel or correct its ExecRefID (19) and, like every
report of the order, CashOrderQty (152) and ExecInst (18) if the order had
them; an unsolicited cancel or a restatement its ExecRestatementReason (378).
FIX 4.2 differences: ExecTransType 20=0 (1 a trade cancel, 2 a trade correct,
3 a status response), ExecType 1/2 (partial fill / fill, by the order's status
after it) for a trade, a bust and a correction; a status response's ExecType is
the order's current status (4.2 has no 150=I); OrdStatus 5 (replaced) on a
replace of an order without fills (4.2's precedence puts partially filled and
filled above replaced: `ord_status_42`); only the 4.2 codes of OrdRejReason
(0-8), CxlRejReason (0-3) and ExecRestatementReason (0-5); and no 851 (the tag
does not exist in 4.2) unless the session is configured to take it
(`liquidity_on_42`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from fix_gateways.fixmsg import (
    EXEC_INST_WORDS,
    FIX42,
    FIX44,
    SOH,
    Fields,
    compose,
    fix_avg_px,
    fix_exec_inst,
    fix_price,
    fix_text,
    fix_time,
    parse_price,
    parse_qty,
    parse_time,
    restatement_code,
)
from sequencer.messages.executions import CancelReject, ExecType, ExecutionReport, OrdStatus
from sequencer.messages.orders import (
    CancelOrder,
    ExecInst,
    NewOrder,
    OrderStatusRequest,
    OrdType,
    ReplaceOrder,
    Side,
    TimeInForce,
)

ClientRequest = NewOrder | CancelOrder | ReplaceOrder | OrderStatusRequest

TAG_STRATEGY: Final = "7000"
TAG_TARGET_STRATEGY: Final = "847"
TAG_LOCATE_BROKER: Final = "5700"
ALGO_PARAM_TAGS: Final[dict[str, str]] = {
    "7001": "start_time", "7002": "end_time", "7003": "max_pct", "7004": "must_complete",
    "7005": "open_auction", "7006": "close_auction", "7007": "aggression", "7010": "venue",
}

SIDES: Final[dict[str, Side]] = {
    "1": "buy", "2": "sell", "5": "sell_short", "6": "sell_short_exempt"}
SIDE_CODES: Final[dict[Side, str]] = {v: k for k, v in SIDES.items()}
# Every Side either version defines, for the words of a refusal.
_FIX_SIDES: Final[dict[str, str]] = {
    "1": "buy", "2": "sell", "3": "buy minus", "4": "sell plus", "5": "sell short",
    "6": "sell short exempt", "7": "undisclosed", "8": "cross", "9": "cross short",
    "A": "cross short exempt", "B": "as defined", "C": "opposite", "D": "subscribe",
    "E": "redeem", "F": "lend", "G": "borrow"}
_SIDES_42: Final = frozenset("123456789")
ORD_TYPES: Final[dict[str, OrdType]] = {"1": "market", "2": "limit"}
_ORD_TYPE_NAMES: Final[dict[str, str]] = {
    "1": "market", "2": "limit", "3": "stop", "4": "stop limit", "5": "market on close",
    "6": "with or without", "7": "limit or better", "8": "limit with or without",
    "9": "on basis", "A": "on close", "B": "limit on close", "D": "previously quoted",
    "E": "previously indicated", "G": "forex swap", "I": "funari", "J": "market if touched",
    "K": "market with leftover as limit", "P": "pegged"}
_ORD_TYPES_42: Final = frozenset("123456789ABCDEFGHIP")
_ORD_TYPES_44: Final = frozenset("12346789DEGIJKLMP")
TIFS: Final[dict[str, TimeInForce]] = {
    "0": "day", "1": "gtc", "2": "opg", "3": "ioc", "4": "fok", "7": "cls"}
_TIF_NAMES: Final[dict[str, str]] = {
    "0": "day", "1": "good till cancel", "2": "at the opening", "3": "immediate or cancel",
    "4": "fill or kill", "5": "good till crossing", "6": "good till date", "7": "at the close"}

EXEC_TYPES_44: Final[dict[ExecType, str]] = {
    "new": "0", "done_for_day": "3", "canceled": "4", "replaced": "5", "pending_cancel": "6",
    "stopped": "7", "rejected": "8", "suspended": "9", "pending_new": "A", "calculated": "B",
    "expired": "C", "restated": "D", "pending_replace": "E", "trade": "F", "order_status": "I",
    "trade_cancel": "H", "trade_correct": "G"}
# A report about a fill: the figures of the fill (LastQty 32, LastPx 31) go with it.
_TRADES: Final = ("trade", "trade_cancel", "trade_correct")
# FIX 4.2 reports trades by ExecTransType (20): new, cancel (a bust), correct.
_TRANS_42: Final[dict[ExecType, str]] = {"trade": "0", "trade_cancel": "1", "trade_correct": "2"}
# LastLiquidityInd (851): FIX 4.4 has added (1), removed (2) and routed out (3); an
# auction print came with FIX 5.0 (4), which a 4.4 engine refuses: auction fills go
# without 851. FIX 4.2 has no tag 851 (sent only to a session configured to take it).
_LIQUIDITY_CODES: Final[dict[str, str]] = {"added": "1", "removed": "2"}
# ExecInst (18) values by name, for the words of a refusal.
_EXEC_INST_NAMES: Final[dict[str, str]] = {
    "1": "not held", "2": "work", "3": "go along", "4": "over the day", "5": "held",
    "6": "participate don't initiate", "7": "strict scale", "8": "try to scale",
    "9": "stay on bid side", "0": "stay on offer side", "A": "no cross", "B": "OK to cross",
    "C": "call first", "D": "percent of volume", "E": "do not increase",
    "F": "do not reduce", "G": "all or none", "H": "reinstate on system failure",
    "I": "institutions only", "J": "reinstate on trading halt",
    "K": "cancel on trading halt", "L": "last peg", "M": "mid-price peg",
    "N": "non-negotiable", "O": "opening peg", "P": "market peg",
    "Q": "cancel on system failure", "R": "primary peg", "S": "suspend",
    "U": "customer display instruction", "V": "netting", "W": "peg to VWAP",
    "X": "trade along", "Y": "try to stop", "Z": "cancel if not best",
    "a": "trailing stop peg", "b": "strict limit", "c": "ignore price validity checks",
    "d": "peg to limit price", "e": "work to target strategy"}
_EXEC_INST_TAKEN: Final = ("6 (participate don't initiate), M (mid-price peg) and R (primary "
                           "peg)")
ORD_STATUSES: Final[dict[OrdStatus, str]] = {
    "new": "0", "partially_filled": "1", "filled": "2", "done_for_day": "3", "canceled": "4",
    "pending_cancel": "6", "stopped": "7", "rejected": "8", "suspended": "9",
    "pending_new": "A", "calculated": "B", "expired": "C", "pending_replace": "E"}

# OrdRejReason (103): the OMS's words -> (FIX 4.4 code, FIX 4.2 code). 4.2 stops at 8
# and has no "other": what it cannot say goes as 0, broker option.
ORD_REJ_REASONS: Final[dict[str, tuple[str, str]]] = {
    "broker_option": ("0", "0"), "unknown_symbol": ("1", "1"), "exchange_closed": ("2", "2"),
    "order_exceeds_limit": ("3", "3"), "too_late_to_enter": ("4", "4"),
    "unknown_order": ("5", "5"), "duplicate_order": ("6", "6"), "stale_order": ("8", "8"),
    "unsupported_order_characteristic": ("11", "0"), "incorrect_quantity": ("13", "0"),
    "unknown_account": ("15", "0"), "other": ("99", "0")}
# CxlRejReason (102): the OMS's words -> (FIX 4.4, FIX 4.2). 4.2 has only 0-3; what it
# cannot say goes as 2, broker option.
CXL_REJ_REASONS: Final[dict[str, tuple[str, str]]] = {
    "too_late": ("0", "0"), "unknown_order": ("1", "1"), "broker_option": ("2", "2"),
    "already_pending": ("3", "3"), "duplicate_cl_ord_id": ("6", "2"),
    "unable_to_process": ("99", "2"), "other": ("99", "2")}

# BusinessRejectReason (380), in both versions.
BR_OTHER: Final = "0"
BR_UNSUPPORTED_MSG_TYPE: Final = "3"
BR_REQUIRED_FIELD_MISSING: Final = "5"

# What the stream can carry. Text put on the stream (ClOrdIDs, the symbol, the algo, its
# parameters, the locate broker) is printable ASCII, at most MAX_TEXT characters: FIX
# String fields are ASCII, and bytes that are not text (which the stream's encoder
# refuses) or a 100 KB ClOrdID would otherwise be lost unanswered or copied into every
# report. Quantities, fixed-point prices and times (ns) are signed 64-bit integers.
MAX_TEXT: Final = 64
MAX_INT: Final = 2**63 - 1
_ID_TAGS: Final = (("11", "ClOrdID"), ("41", "OrigClOrdID"), ("55", "Symbol"))
_CARRIED_NAMES: Final[dict[str, str]] = {
    TAG_STRATEGY: "Strategy", TAG_LOCATE_BROKER: "LocateBroker",
    **{tag: f"algo parameter {name}" for tag, name in ALGO_PARAM_TAGS.items()}}

_MSG_NAMES: Final[dict[str, str]] = {
    "D": "NewOrderSingle", "F": "OrderCancelRequest", "G": "OrderCancelReplaceRequest",
    "H": "OrderStatusRequest", "E": "NewOrderList", "s": "NewOrderCross",
    "AB": "NewOrderMultileg", "q": "OrderMassCancelRequest", "AF": "OrderMassStatusRequest",
    "R": "QuoteRequest", "V": "MarketDataRequest", "x": "SecurityListRequest",
    "c": "SecurityDefinitionRequest", "AC": "MultilegOrderCancelReplace", "J": "Allocation",
    "AE": "TradeCaptureReport", "8": "ExecutionReport", "9": "OrderCancelReject"}


@dataclass(frozen=True, slots=True)
class Refusal:
    """An inbound message the gateway does not put on the stream, and what to answer.

    `msg_type` "8": an ExecutionReport reject, `reason` its OrdRejReason (103);
    "j": a BusinessMessageReject, `reason` its BusinessRejectReason (380).
    `text` (58) says why, for a trader. The other fields are what the answer
    echoes; `answer()` composes it.
    """

    begin_string: str
    msg_type: Literal["8", "j"]
    reason: str
    text: str
    ref_msg_type: str = ""  # the refused message's MsgType (372)
    ref_seq_num: str = ""  # its MsgSeqNum (45)
    cl_ord_id: str = ""
    symbol: str = ""
    side: str = ""  # the FIX code, as received
    order_qty: int = 0
    ord_type: str = ""  # the FIX code, when well formed

    @property
    def why(self) -> str:
        return self.text

    @property
    def raw(self) -> str:
        """`answer()` with ExecID "R{MsgSeqNum}-{ClOrdID}" (unique while the client's
        session keeps its sequence numbers for the day) and no TransactTime."""
        return self.answer(f"R{self.ref_seq_num}-{self.cl_ord_id}")

    def answer(self, exec_id: str, transact_ns: int | None = None) -> str:
        """The raw FIX answer. `exec_id` (ExecID 17, unique for the day, chosen by the
        gateway) is used by an ExecutionReport reject only; TransactTime (60) is
        left out when `transact_ns` is None."""
        t = fix_text(self.text)
        if self.msg_type == "j":
            body = (f"45={self.ref_seq_num}{SOH}" if self.ref_seq_num.isdigit() else "") + (
                f"372={self.ref_msg_type}{SOH}")
            if self.cl_ord_id:
                body += f"379={self.cl_ord_id}{SOH}"
            body += f"380={self.reason}{SOH}58={t}{SOH}"
            return compose(self.begin_string, "j", body)
        v42 = self.begin_string == FIX42
        body = (f"6=0{SOH}11={self.cl_ord_id}{SOH}14=0{SOH}17={exec_id}{SOH}"
                + (f"20=0{SOH}" if v42 else "") + f"37=NONE{SOH}")
        if self.order_qty > 0:
            body += f"38={self.order_qty}{SOH}"
        body += f"39=8{SOH}"
        if self.ord_type:
            body += f"40={self.ord_type}{SOH}"
        body += (f"54={self.side}{SOH}55={self.symbol}{SOH}58={t}{SOH}" + _time(transact_ns)
                 + f"103={self.reason}{SOH}150=8{SOH}151=0{SOH}")
        return compose(self.begin_string, "8", body)


def _time(transact_ns: int | None) -> str:
    return "" if transact_ns is None else f"60={fix_time(transact_ns)}{SOH}"


# ---------------------------------------------------------------- inbound


def _bad_text(value: str) -> str:
    """Why `value` cannot go on the stream as text ("" if it can)."""
    if len(value) > MAX_TEXT:
        return f"is {len(value):,} characters long, above the {MAX_TEXT} we take"
    if not (value.isascii() and value.isprintable()):
        return "holds characters other than printable ASCII"
    return ""


def _business_reject(begin_string: str, f: Fields, reason: str, text: str) -> Refusal:
    cl_ord_id = f.get("11", "")
    return Refusal(begin_string, "j", reason, text, ref_msg_type=f.get("35", ""),
                   ref_seq_num=f.get("34", ""),
                   cl_ord_id="" if _bad_text(cl_ord_id) else cl_ord_id)


def _unfit_ids(begin_string: str, f: Fields, name: str) -> Refusal | None:
    """The BusinessMessageReject of a ClOrdID, OrigClOrdID or Symbol the stream cannot
    carry (an ExecutionReport reject would have to echo it)."""
    for tag, field in _ID_TAGS:
        why = _bad_text(f.get(tag, ""))
        if why:
            return _business_reject(begin_string, f, BR_OTHER, f"{name}: {field} ({tag}) {why}")
    return None


def _unfit_carried(f: Fields, tags: tuple[str, ...]) -> str:
    """Why one of the user-defined `tags` present cannot go on the stream ("" if none)."""
    for tag in tags:
        why = _bad_text(f.get(tag, ""))
        if why:
            return f"{_CARRIED_NAMES[tag]} ({tag}) {why}"
    return ""


def _time_ns(text: str) -> int:
    """`parse_time`, and ValueError for a time the stream cannot carry."""
    ns = parse_time(text)
    if not -MAX_INT <= ns <= MAX_INT:
        raise ValueError(f"{text!r} is out of range (years 1678 to 2262)")
    return ns


def _missing(begin_string: str, f: Fields, name: str, tags: tuple[tuple[str, str], ...]
             ) -> Refusal | None:
    for tag, field in tags:
        if not f.get(tag):
            return _business_reject(begin_string, f, BR_REQUIRED_FIELD_MISSING,
                                    f"{name} without {field} ({tag})")
    return None


def _exec_inst(f: Fields) -> tuple[ExecInst, ...] | str:
    """The ExecInst (18) values we carry, in words, or why one cannot be taken."""
    out: list[ExecInst] = []
    for code in f.get("18", "").split():
        word = EXEC_INST_WORDS.get(code)
        if word is None:
            name = _EXEC_INST_NAMES.get(code)
            what = f"{name} (18={code})" if name else f"ExecInst (18) value {code!r}"
            return f"{what} is not supported: we take {_EXEC_INST_TAKEN}"
        if word not in out:
            out.append(word)
    return tuple(out)


def _pegged(inst: tuple[ExecInst, ...]) -> bool:
    return any(i.endswith("_peg") for i in inst)


def _algo_params(f: Fields) -> tuple[tuple[str, str], ...]:
    return tuple((name, f[tag]) for tag, name in ALGO_PARAM_TAGS.items() if tag in f)


def _side(begin_string: str, code: str) -> tuple[Side | None, str]:
    """The side, or None and why not (unsupported, or "" when not a FIX side at all)."""
    side = SIDES.get(code)
    if side is not None:
        return side, ""
    valid = code in _SIDES_42 if begin_string == FIX42 else code in _FIX_SIDES
    if not valid:
        return None, ""
    return None, (f"side {_FIX_SIDES[code]} (54={code}) is not supported: we take buy (1), "
                  "sell (2), sell short (5) and sell short exempt (6)")


def from_client(begin_string: str, client: str, fields: Fields) -> ClientRequest | Refusal:
    """The stream message for a client's D, F, G or H (`fields` from `fixmsg.read`,
    MsgType 35 included), or the refusal to answer instead."""
    if begin_string not in (FIX42, FIX44):
        raise ValueError(f"unsupported FIX version {begin_string!r}")
    msg_type = fields.get("35", "")
    if msg_type == "D":
        return _new_order(begin_string, client, fields)
    if msg_type == "F":
        return _cancel(begin_string, client, fields)
    if msg_type == "G":
        return _replace(begin_string, client, fields)
    if msg_type == "H":
        return _status(begin_string, client, fields)
    name = _MSG_NAMES.get(msg_type, f"MsgType {msg_type!r}")
    return _business_reject(begin_string, fields, BR_UNSUPPORTED_MSG_TYPE,
                            f"{name} (35={msg_type}) is not supported: we take NewOrderSingle, "
                            "OrderCancelRequest, OrderCancelReplaceRequest and "
                            "OrderStatusRequest")


def business_reject(begin_string: str, fields: Fields, text: str, reason: str = BR_OTHER
                    ) -> str:
    """A BusinessMessageReject (35=j) of the message `fields`, saying `text`."""
    return _business_reject(begin_string, fields, reason, text).answer("")


def _new_order(v: str, client: str, f: Fields) -> NewOrder | Refusal:
    missing = _missing(v, f, "NewOrderSingle",
                       (("11", "ClOrdID"), ("55", "Symbol"), ("54", "Side")))
    if missing is None:
        missing = _unfit_ids(v, f, "NewOrderSingle")
    if missing is not None:
        return missing
    side_code = f["54"]
    side, why_side = _side(v, side_code)
    if side is None and not why_side:
        return _business_reject(v, f, BR_OTHER, f"Side (54) {side_code!r} is not a FIX side")
    v44 = v == FIX44
    unsupported = "11" if v44 else "0"
    ord_code = f.get("40", "")
    ord_code_ok = ord_code in (_ORD_TYPES_44 if v44 else _ORD_TYPES_42)

    def reject(reason: str, text: str, qty: int = 0) -> Refusal:
        return Refusal(v, "8", reason, text, ref_msg_type="D", ref_seq_num=f.get("34", ""),
                       cl_ord_id=f["11"], symbol=f["55"], side=side_code, order_qty=qty,
                       ord_type=ord_code if ord_code_ok else "")

    qty = 0
    qty_text = f.get("38", "")
    try:
        qty = parse_qty(qty_text)
    except ValueError:
        qty = 0
    if side is None:
        return reject(unsupported, why_side, qty)
    cash_qty = 0
    if f.get("152"):
        # CashOrderQty: an amount of money; the OMS converts it to shares.
        if qty_text:
            return reject("13" if v44 else "0",
                          "send OrderQty (38) or CashOrderQty (152), not both", qty)
        try:
            cash_qty = parse_price(f["152"])
        except ValueError as e:
            return reject("13" if v44 else "0",
                          f"CashOrderQty (152): {e}; amounts take at most 4 decimals")
        if cash_qty <= 0 or cash_qty > MAX_INT:
            return reject("13" if v44 else "0",
                          f"CashOrderQty (152) must be an amount above 0, got {f['152']!r}")
    elif not qty_text:
        return reject("13" if v44 else "0",
                      "the order has neither OrderQty (38) nor CashOrderQty (152)")
    elif qty <= 0:
        return reject("13" if v44 else "0",
                      f"OrderQty (38) must be a whole number of shares above 0, got {qty_text!r}")
    if qty > MAX_INT:
        return reject("13" if v44 else "0", f"OrderQty (38) is above the largest we take "
                      f"({MAX_INT:,})")
    inst = _exec_inst(f)
    if isinstance(inst, str):
        return reject(unsupported, inst, qty)
    tif_code = f.get("59", "0")
    if v == FIX42 and ord_code in ("5", "B"):  # market / limit on close
        ord_type: OrdType = "market" if ord_code == "5" else "limit"
        tif_code = "7" if tif_code == "0" else tif_code
    elif ord_code == "P":
        # Pegged: the peg is in ExecInst; a Price caps it (a limit order), else it has none.
        if not _pegged(inst):
            return reject(unsupported, "pegged orders (40=P) need a peg in ExecInst (18): "
                          "M (mid-price) or R (primary)", qty)
        ord_type = "limit" if f.get("44") else "market"
    else:
        maybe = ORD_TYPES.get(ord_code)
        if maybe is None:
            what = (f"{_ORD_TYPE_NAMES.get(ord_code, 'OrdType')} orders (40={ord_code}) are"
                    if ord_code_ok
                    else f"OrdType (40) {ord_code!r} is" if ord_code else "an order without "
                    "OrdType (40) is")
            return reject(unsupported, f"{what} not supported: send market (1) or limit (2)",
                          qty)
        ord_type = maybe
    tif = TIFS.get(tif_code)
    if tif is None:
        name = _TIF_NAMES.get(tif_code)
        what = f"time in force {name} (59={tif_code})" if name else f"TimeInForce (59) {tif_code!r}"
        return reject(unsupported, f"{what} is not supported: send day (0), good till cancel "
                      "(1), at the opening (2), immediate or cancel (3), fill or kill (4) or at "
                      "the close (7)", qty)
    limit_px = 0
    if "44" in f:
        try:
            limit_px = parse_price(f["44"])
        except ValueError as e:
            return reject("99" if v44 else "0",
                          f"Price (44): {e}; prices take at most 4 decimals", qty)
        if limit_px > MAX_INT:
            return reject("99" if v44 else "0", "Price (44) is above the largest we take "
                          f"({MAX_INT / 10_000:,.0f})", qty)
    algo = f.get(TAG_STRATEGY, "").strip().lower()
    if not algo and TAG_TARGET_STRATEGY in f:
        if f[TAG_TARGET_STRATEGY] != "1":
            return reject(unsupported, f"TargetStrategy (847) {f[TAG_TARGET_STRATEGY]!r} is not "
                          "supported: send 847=1 for VWAP, or the algo's name in tag 7000 "
                          "(VWAP, DMA)", qty)
        algo = "vwap"
    transact_ns = 0
    if f.get("60"):
        try:
            transact_ns = _time_ns(f["60"])
        except ValueError as e:
            return reject("99" if v44 else "0", f"TransactTime (60): {e}", qty)
    short = side in ("sell_short", "sell_short_exempt")
    why = _unfit_carried(f, (TAG_STRATEGY, *ALGO_PARAM_TAGS) + ((TAG_LOCATE_BROKER,) if short
                                                                 else ()))
    if why:
        return reject("99" if v44 else "0", why, qty)
    locate = f.get(TAG_LOCATE_BROKER, "") if short else ""
    return NewOrder(client, f["11"], f["55"], side, qty, ord_type, limit_px, tif, algo,
                    _algo_params(f), locate, transact_ns, f.get("97") == "Y", cash_qty, inst)


def _common(v: str, f: Fields, name: str, tags: tuple[tuple[str, str], ...]
            ) -> tuple[Side, int] | Refusal:
    """Side and TransactTime of an F, G or H, or the BusinessMessageReject."""
    missing = _missing(v, f, name, tags)
    if missing is None:
        missing = _unfit_ids(v, f, name)
    if missing is not None:
        return missing
    side, why = _side(v, f.get("54", "1"))
    if side is None:
        return _business_reject(v, f, BR_OTHER, f"{name}: " + (
            why or f"Side (54) {f['54']!r} is not a FIX side"))
    ns = 0
    if f.get("60"):
        try:
            ns = _time_ns(f["60"])
        except ValueError as e:
            return _business_reject(v, f, BR_OTHER, f"{name}: TransactTime (60): {e}")
    return side, ns


_CANCEL_TAGS: Final = (("11", "ClOrdID"), ("41", "OrigClOrdID"), ("55", "Symbol"), ("54", "Side"))


def _cancel(v: str, client: str, f: Fields) -> CancelOrder | Refusal:
    got = _common(v, f, "OrderCancelRequest", _CANCEL_TAGS)
    if isinstance(got, Refusal):
        return got
    side, ns = got
    return CancelOrder(client, f["11"], f["41"], f["55"], side, ns, f.get("97") == "Y")


def _replace(v: str, client: str, f: Fields) -> ReplaceOrder | Refusal:
    name = "OrderCancelReplaceRequest"
    got = _common(v, f, name, _CANCEL_TAGS)
    if isinstance(got, Refusal):
        return got
    side, ns = got
    inst = _exec_inst(f)
    if isinstance(inst, str):
        return _business_reject(v, f, BR_OTHER, f"{name}: {inst}")
    ord_code = f.get("40", "")
    if ord_code and ord_code not in ORD_TYPES and not (ord_code == "P" and _pegged(inst)):
        what = _ORD_TYPE_NAMES.get(ord_code, repr(ord_code))
        return _business_reject(v, f, BR_OTHER, f"{name}: OrdType (40) {what} is not "
                                "supported: an order stays market (1) or limit (2)")
    if f.get("152"):
        return _business_reject(v, f, BR_OTHER, f"{name}: CashOrderQty (152) cannot be "
                                "replaced: send the new OrderQty (38) in shares")
    qty = 0
    if f.get("38"):
        try:
            qty = parse_qty(f["38"])
        except ValueError:
            qty = 0
        if qty <= 0:
            return _business_reject(v, f, BR_OTHER, f"{name}: OrderQty (38) must be a whole "
                                    f"number of shares above 0, got {f["38"]!r}")
        if qty > MAX_INT:
            return _business_reject(v, f, BR_OTHER, f"{name}: OrderQty (38) is above the "
                                    f"largest we take ({MAX_INT:,})")
    limit_px = 0
    if f.get("44"):
        try:
            limit_px = parse_price(f["44"])
        except ValueError as e:
            return _business_reject(v, f, BR_OTHER,
                                    f"{name}: Price (44): {e}; prices take at most 4 decimals")
        if limit_px > MAX_INT:
            return _business_reject(v, f, BR_OTHER, f"{name}: Price (44) is above the largest "
                                    f"we take ({MAX_INT / 10_000:,.0f})")
    why = _unfit_carried(f, tuple(ALGO_PARAM_TAGS))
    if why:
        return _business_reject(v, f, BR_OTHER, f"{name}: {why}")
    return ReplaceOrder(client, f["11"], f["41"], f["55"], side, qty, limit_px, _algo_params(f), ns,
                        f.get("97") == "Y", inst)


def _status(v: str, client: str, f: Fields) -> OrderStatusRequest | Refusal:
    got = _common(v, f, "OrderStatusRequest", (("11", "ClOrdID"),))
    if isinstance(got, Refusal):
        return got
    return OrderStatusRequest(client, f["11"], f.get("55", ""), got[0])


# ---------------------------------------------------------------- outbound


def _rej_code(table: dict[str, tuple[str, str]], words: str, v42: bool) -> str:
    codes = table.get(words, table["other"])
    return codes[1] if v42 else codes[0]


def ord_status_42(exec_type: ExecType, ord_status: OrdStatus) -> str:
    """OrdStatus (39) as FIX 4.2 reports it. 4.2 has the status "replaced" (5), below
    partially filled in its precedence (Appendix D, D10): a replace accepted on an order
    without fills reports 5, one on a partially filled order 1, one that leaves it filled
    2; every other status is the 4.4 code."""
    if exec_type == "replaced" and ord_status == "new":
        return "5"
    return ORD_STATUSES[ord_status]


def _er_body(begin_string: str, er: ExecutionReport, transact_ns: int | None,
             account: str, liquidity_42: bool = False) -> str:
    v42 = begin_string == FIX42
    if begin_string not in (FIX42, FIX44):
        raise ValueError(f"unsupported FIX version {begin_string!r}")
    et = er.exec_type
    trans = "0"
    if not v42:
        exec_code = EXEC_TYPES_44[et]
        status = ORD_STATUSES[er.ord_status]
    else:
        status = ord_status_42(et, er.ord_status)
        if et in _TRADES:
            # 4.2: a fill, a bust or a correction is ExecType partial fill (1) or fill (2)
            # by the order's status after it, told apart by ExecTransType.
            exec_code = "2" if er.ord_status == "filled" else "1"
            trans = _TRANS_42[et]
        elif et == "order_status":
            trans = "3"
            exec_code = status  # 4.2's ExecType has a code for every OrdStatus we report
        else:
            exec_code = EXEC_TYPES_44[et]
    # Fields in tag order (QuickFIX re-sorts a body anyway; this keeps tests readable).
    parts = []
    if account:
        parts.append(f"1={account}{SOH}")
    parts.append(f"6={fix_avg_px(er.avg_px)}{SOH}11={er.cl_ord_id}{SOH}14={er.cum_qty}{SOH}"
                 f"17={er.exec_id}{SOH}")
    if er.exec_inst:
        parts.append(f"18={fix_exec_inst(er.exec_inst)}{SOH}")
    if er.exec_ref_id:
        parts.append(f"19={er.exec_ref_id}{SOH}")
    if v42:
        parts.append(f"20={trans}{SOH}")
    if et in _TRADES:
        parts.append(f"31={fix_price(er.last_px)}{SOH}32={er.last_qty}{SOH}")
    parts.append(f"37={er.order_id}{SOH}38={er.order_qty}{SOH}39={status}{SOH}")
    if er.orig_cl_ord_id:
        parts.append(f"41={er.orig_cl_ord_id}{SOH}")
    if er.limit_px > 0:
        parts.append(f"44={fix_price(er.limit_px)}{SOH}")
    parts.append(f"54={SIDE_CODES[er.side]}{SOH}55={er.symbol}{SOH}")
    if er.text:
        parts.append(f"58={fix_text(er.text)}{SOH}")
    parts.append(_time(transact_ns))
    if er.reject_reason:
        parts.append(f"103={_rej_code(ORD_REJ_REASONS, er.reject_reason, v42)}{SOH}")
    parts.append(f"150={exec_code}{SOH}151={er.leaves_qty}{SOH}")
    if er.cash_qty:
        parts.append(f"152={fix_price(er.cash_qty)}{SOH}")
    if er.restatement_reason:
        parts.append(f"378={restatement_code(er.restatement_reason, begin_string)}{SOH}")
    liquidity = _LIQUIDITY_CODES.get(er.last_liquidity)
    if liquidity is not None and et in _TRADES and (not v42 or liquidity_42):
        parts.append(f"851={liquidity}{SOH}")
    return "".join(parts)


def execution_report(begin_string: str, er: ExecutionReport,
                     transact_ns: int | None = None, *, liquidity_42: bool = False) -> str:
    """The raw FIX ExecutionReport (35=8) of `er` for a client on `begin_string`.
    `transact_ns` (TransactTime 60): the report's stream time; None leaves 60 out.
    `liquidity_42`: a FIX 4.2 session that takes LastLiquidityInd (851) as a user field."""
    return compose(begin_string, "8", _er_body(begin_string, er, transact_ns, "",
                                               liquidity_42))


def drop_copy(begin_string: str, er: ExecutionReport,
              transact_ns: int | None = None, *, liquidity_42: bool = False) -> str | None:
    """The clearing drop-copy of a fill, a trade cancel or a trade correct (None for any
    other report). It is the client's ExecutionReport, field for field, plus Account
    (1) = the client's name, since the drop-copy session carries every client's fills."""
    if er.exec_type not in _TRADES:
        return None
    return compose(begin_string, "8", _er_body(begin_string, er, transact_ns, er.client,
                                               liquidity_42))


def cancel_reject(begin_string: str, cr: CancelReject, transact_ns: int | None = None) -> str:
    """The raw FIX OrderCancelReject (35=9) of `cr` for a client on `begin_string`."""
    if begin_string not in (FIX42, FIX44):
        raise ValueError(f"unsupported FIX version {begin_string!r}")
    v42 = begin_string == FIX42
    body = (f"11={cr.cl_ord_id}{SOH}37={cr.order_id}{SOH}39={ORD_STATUSES[cr.ord_status]}{SOH}"
            f"41={cr.orig_cl_ord_id}{SOH}")
    if cr.text:
        body += f"58={fix_text(cr.text)}{SOH}"
    body += (_time(transact_ns) + f"102={_rej_code(CXL_REJ_REASONS, cr.reason, v42)}{SOH}"
             f"434={'1' if cr.response_to == 'cancel' else '2'}{SOH}")
    return compose(begin_string, "9", body)
