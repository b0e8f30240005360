"""client_fix: clients' D/F/G/H to stream requests or refusals, and the OMS's
ExecutionReport / CancelReject to FIX 4.2 and 4.4, every built message validated
by QuickFIX's own data dictionary."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fix_gateways import client_fix as cf
from fix_gateways.fixmsg import FIX42, FIX44, SOH, Fields, read
from sequencer.messages import encode
from sequencer.messages.executions import CancelReject, ExecutionReport
from sequencer.messages.orders import CancelOrder, NewOrder, OrderStatusRequest, ReplaceOrder
from tests.fix_gateways.test_fixmsg import validate

NS = 1_704_205_800_123_456_789
BOTH = pytest.mark.parametrize("v", [FIX42, FIX44])


def er(**kw: Any) -> ExecutionReport:
    base: dict[str, Any] = dict(
        client="acme", order_id="20240102-1", cl_ord_id="C1", orig_cl_ord_id="",
        exec_id="20240102-E1", exec_type="new", ord_status="new", symbol="IBM", side="buy",
        order_qty=1000, cum_qty=0, leaves_qty=1000, limit_px=1_500_000)
    base.update(kw)
    return ExecutionReport(**base)


def built(v: str, m: ExecutionReport) -> Fields:
    raw = cf.execution_report(v, m, NS)
    validate(raw)
    return read(raw)


def pick(f: Fields, *tags: str) -> dict[str, str | None]:
    return {t: f.get(t) for t in tags}


TAGS = ("20", "150", "39", "37", "11", "41", "17", "14", "151", "32", "31", "6", "44", "103")


@BOTH
def test_new(v: str) -> None:
    f = built(v, er())
    assert f["35"] == "8" and f["8"] == v
    assert pick(f, *TAGS) == {
        "20": "0" if v == FIX42 else None, "150": "0", "39": "0", "37": "20240102-1",
        "11": "C1", "41": None, "17": "20240102-E1", "14": "0", "151": "1000", "32": None,
        "31": None, "6": "0", "44": "150", "103": None}
    assert (f["55"], f["54"], f["38"], f["60"]) == ("IBM", "1", "1000", "20240102-14:30:00.123")


@BOTH
def test_partial_fill_and_fill(v: str) -> None:
    part = built(v, er(exec_type="trade", ord_status="partially_filled", cum_qty=300,
                       leaves_qty=700, last_qty=300, last_px=1_499_900,
                       avg_px=14_999_000_000))
    full = built(v, er(exec_type="trade", ord_status="filled", cum_qty=1000, leaves_qty=0,
                       last_qty=700, last_px=1_500_000, avg_px=14_999_700_000, side="sell"))
    assert pick(part, "150", "39", "32", "31", "14", "151", "6") == {
        "150": "1" if v == FIX42 else "F", "39": "1", "32": "300", "31": "149.99",
        "14": "300", "151": "700", "6": "149.99"}
    assert pick(full, "150", "39", "32", "31", "14", "151", "6", "54") == {
        "150": "2" if v == FIX42 else "F", "39": "2", "32": "700", "31": "150",
        "14": "1000", "151": "0", "6": "149.997", "54": "2"}


@BOTH
def test_fill_while_pending_cancel_is_a_partial_fill_in_42(v: str) -> None:
    f = built(v, er(exec_type="trade", ord_status="pending_cancel", cum_qty=300,
                    leaves_qty=700, last_qty=300, last_px=1_500_000, avg_px=15_000_000_000))
    assert (f["150"], f["39"]) == ("1" if v == FIX42 else "F", "6")


@BOTH
@pytest.mark.parametrize(("exec_type", "ord_status", "e44", "o44", "o42"), [
    ("canceled", "canceled", "4", "4", "4"),
    ("pending_cancel", "pending_cancel", "6", "6", "6"),
    ("pending_replace", "pending_replace", "E", "E", "E"),
    ("pending_new", "pending_new", "A", "A", "A"),
    ("replaced", "new", "5", "0", "5"),
    # FIX 4.2 precedence puts partially filled above replaced (Appendix D, D10).
    ("replaced", "partially_filled", "5", "1", "1"),
    ("replaced", "filled", "5", "2", "2"),
    ("done_for_day", "done_for_day", "3", "3", "3"),
    ("expired", "expired", "C", "C", "C"),
    ("restated", "new", "D", "0", "0"),
])
def test_states(v: str, exec_type: str, ord_status: str, e44: str, o44: str, o42: str) -> None:
    m = er(exec_type=exec_type, ord_status=ord_status, cl_ord_id="C2", orig_cl_ord_id="C1",
           text="cancel requested by the client")
    f = built(v, m)
    assert (f["150"], f["39"]) == (e44, o44 if v == FIX44 else o42)
    assert (f["11"], f["41"], f["58"]) == ("C2", "C1", "cancel requested by the client")


@BOTH
def test_reject(v: str) -> None:
    m = er(exec_type="rejected", ord_status="rejected", order_id="NONE", leaves_qty=0,
           reject_reason="unknown_account", text="unknown client 'acme'")
    f = built(v, m)
    assert pick(f, "150", "39", "103", "58", "37", "151") == {
        "150": "8", "39": "8", "103": "15" if v == FIX44 else "0",
        "58": "unknown client 'acme'", "37": "NONE", "151": "0"}


@pytest.mark.parametrize(("words", "c44", "c42"), [
    ("broker_option", "0", "0"), ("unknown_symbol", "1", "1"), ("order_exceeds_limit", "3", "3"),
    ("too_late_to_enter", "4", "4"), ("unknown_order", "5", "5"), ("duplicate_order", "6", "6"),
    ("unknown_account", "15", "0"), ("other", "99", "0"), ("something_new", "99", "0")])
def test_ord_rej_reasons(words: str, c44: str, c42: str) -> None:
    m = er(exec_type="rejected", ord_status="rejected", reject_reason=words)
    assert built(FIX44, m)["103"] == c44
    assert built(FIX42, m)["103"] == c42


@BOTH
def test_order_status(v: str) -> None:
    m = er(exec_type="order_status", ord_status="partially_filled", cum_qty=300,
           leaves_qty=700, avg_px=15_000_000_000)
    f = built(v, m)
    if v == FIX44:
        assert (f.get("20"), f["150"], f["39"]) == (None, "I", "1")
    else:  # 4.2: ExecTransType Status, ExecType = the order's current status
        assert (f["20"], f["150"], f["39"]) == ("3", "1", "1")
    unknown = built(v, er(exec_type="order_status", ord_status="rejected", order_id="NONE",
                          order_qty=0, leaves_qty=0, limit_px=0, reject_reason="unknown_order",
                          text="no order with ClOrdID 'C9' for acme"))
    assert (unknown["150"], unknown["39"], unknown["103"]) == (
        ("I" if v == FIX44 else "8"), "8", "5")
    assert "44" not in unknown


@BOTH
def test_no_transact_time_when_not_given(v: str) -> None:
    raw = cf.execution_report(v, er())
    validate(raw)
    assert "60" not in read(raw)


@BOTH
@pytest.mark.parametrize(("reason", "c44", "c42"), [
    ("too_late", "0", "0"), ("unknown_order", "1", "1"), ("broker_option", "2", "2"),
    ("already_pending", "3", "3"), ("duplicate_cl_ord_id", "6", "2"),
    ("unable_to_process", "99", "2"), ("other", "99", "2")])
def test_cancel_reject(v: str, reason: str, c44: str, c42: str) -> None:
    pairs: tuple[tuple[Literal["cancel", "replace"], str], ...] = (
        ("cancel", "1"), ("replace", "2"))
    for response_to, code in pairs:
        cr = CancelReject(client="acme", order_id="20240102-1", cl_ord_id="C2",
                          orig_cl_ord_id="C1", ord_status="partially_filled",
                          response_to=response_to, reason=reason, text="too late: filled")
        raw = cf.cancel_reject(v, cr, NS)
        validate(raw)
        f = read(raw)
        assert pick(f, "35", "37", "11", "41", "39", "434", "102", "58") == {
            "35": "9", "37": "20240102-1", "11": "C2", "41": "C1", "39": "1", "434": code,
            "102": c44 if v == FIX44 else c42, "58": "too late: filled"}


@BOTH
def test_drop_copy(v: str) -> None:
    fill = er(exec_type="trade", ord_status="partially_filled", cum_qty=300, leaves_qty=700,
              last_qty=300, last_px=1_500_000, avg_px=15_000_000_000)
    raw = cf.drop_copy(v, fill, NS)
    assert raw is not None
    validate(raw)
    copy, orig = read(raw), read(cf.execution_report(v, fill, NS))
    assert copy.pop("1") == "acme"
    for t in ("9", "10"):
        copy.pop(t)
        orig.pop(t)
    assert copy == orig
    assert cf.drop_copy(v, er(), NS) is None


# ---------------------------------------------------------------- inbound


def d(**extra: str) -> Fields:
    f = {"35": "D", "34": "12", "11": "C1", "55": "IBM", "54": "1", "38": "1000", "40": "2",
         "44": "150.25", "59": "0", "60": "20240102-14:30:00.123", "21": "1"}
    f.update(extra)
    return {k: v for k, v in f.items() if v != "-"}


@BOTH
def test_new_order(v: str) -> None:
    m = cf.from_client(v, "acme", d(**{"7000": "VWAP", "7002": "15:00", "7001": "10:00",
                                       "7003": "20", "7007": "high"}))
    assert m == NewOrder("acme", "C1", "IBM", "buy", 1000, "limit", 1_502_500, "day", "vwap",
                         (("start_time", "10:00"), ("end_time", "15:00"), ("max_pct", "20"),
                          ("aggression", "high")), "", NS - 456_789)


@BOTH
def test_new_order_variants(v: str) -> None:
    dma = cf.from_client(v, "acme", d(**{"7000": "dma", "7010": "XNAS", "40": "1", "44": "-",
                                         "59": "3"}))
    assert isinstance(dma, NewOrder)
    assert (dma.algo, dma.algo_params, dma.ord_type, dma.limit_px, dma.tif) == (
        "dma", (("venue", "XNAS"),), "market", 0, "ioc")
    short = cf.from_client(v, "acme", d(**{"54": "5", "5700": "GSCO"}))
    assert isinstance(short, NewOrder) and (short.side, short.locate_broker) == (
        "sell_short", "GSCO")
    exempt = cf.from_client(v, "acme", d(**{"54": "6", "5700": "GSCO"}))
    assert isinstance(exempt, NewOrder) and exempt.side == "sell_short_exempt"
    buy = cf.from_client(v, "acme", d(**{"5700": "GSCO", "59": "-", "60": "-"}))
    assert isinstance(buy, NewOrder)
    assert (buy.locate_broker, buy.tif, buy.transact_ns, buy.algo) == ("", "day", 0, "")
    for code, tif in (("1", "gtc"), ("2", "opg"), ("4", "fok"), ("7", "cls")):
        m = cf.from_client(v, "acme", d(**{"59": code}))
        assert isinstance(m, NewOrder) and m.tif == tif


def test_target_strategy_and_42_on_close() -> None:
    m = cf.from_client(FIX44, "acme", d(**{"847": "1"}))
    assert isinstance(m, NewOrder) and m.algo == "vwap"
    moc = cf.from_client(FIX42, "acme", d(**{"40": "5", "44": "-"}))
    assert isinstance(moc, NewOrder) and (moc.ord_type, moc.tif) == ("market", "cls")
    loc = cf.from_client(FIX42, "acme", d(**{"40": "B"}))
    assert isinstance(loc, NewOrder) and (loc.ord_type, loc.tif, loc.limit_px) == (
        "limit", "cls", 1_502_500)


REJECTS = [
    ({"40": "3"}, "11", "stop orders (40=3) are not supported: send market (1) or limit (2)"),
    ({"59": "5"}, "11", "time in force good till crossing (59=5) is not supported"),
    ({"54": "8"}, "11", "side cross (54=8) is not supported: we take buy (1), sell (2)"),
    ({"44": "150.12345"}, "99", "Price (44): price '150.12345' has more than 4 decimals"),
    ({"44": "abc"}, "99", "Price (44): price 'abc' is not a number"),
    ({"38": "100.5"}, "13", "OrderQty (38) must be a whole number of shares above 0, got '100.5'"),
    ({"38": "0"}, "13", "OrderQty (38) must be a whole number of shares above 0, got '0'"),
    ({"38": "-"}, "13", "the order has neither OrderQty (38) nor CashOrderQty (152)"),
    ({"847": "2"}, "11", "TargetStrategy (847) '2' is not supported"),
    ({"60": "yesterday"}, "99", "TransactTime (60): 'yesterday' is not a UTC timestamp"),
]


@BOTH
@pytest.mark.parametrize(("extra", "code44", "text"), REJECTS)
def test_new_order_refusals(v: str, extra: dict[str, str], code44: str, text: str) -> None:
    r = cf.from_client(v, "acme", d(**extra))
    assert isinstance(r, cf.Refusal)
    assert (r.msg_type, r.reason) == ("8", code44 if v == FIX44 else "0")
    assert r.text.startswith(text), r.text
    raw = r.answer("R-1", NS)
    validate(raw)
    f = read(raw)
    assert pick(f, "35", "150", "39", "37", "11", "17", "55", "54", "103", "58", "14", "151") == {
        "35": "8", "150": "8", "39": "8", "37": "NONE", "11": "C1", "17": "R-1", "55": "IBM",
        "54": extra.get("54", "1"), "103": r.reason, "58": r.text, "14": "0", "151": "0"}
    assert f.get("20") == ("0" if v == FIX42 else None)
    validate(r.raw)
    assert read(r.raw)["17"] == "R12-C1"


@BOTH
@pytest.mark.parametrize(("fields", "reason", "text"), [
    (d(**{"11": "-"}), "5", "NewOrderSingle without ClOrdID (11)"),
    (d(**{"55": "-"}), "5", "NewOrderSingle without Symbol (55)"),
    (d(**{"54": "Z"}), "0", "Side (54) 'Z' is not a FIX side"),
    ({"35": "E", "34": "3"}, "3", "NewOrderList (35=E) is not supported"),
    ({"35": "AB", "34": "3", "11": "M1"}, "3", "NewOrderMultileg (35=AB) is not supported"),
    ({"35": "F", "34": "3", "11": "C2", "55": "IBM", "54": "1"}, "5",
     "OrderCancelRequest without OrigClOrdID (41)"),
    ({"35": "F", "34": "3", "11": "C2", "41": "C1", "55": "IBM", "54": "3"}, "0",
     "OrderCancelRequest: side buy minus (54=3) is not supported"),
    ({"35": "G", "34": "3", "11": "C2", "41": "C1", "55": "IBM", "54": "1", "40": "3"}, "0",
     "OrderCancelReplaceRequest: OrdType (40) stop is not supported"),
    ({"35": "G", "34": "3", "11": "C2", "41": "C1", "55": "IBM", "54": "1", "38": "1.5"}, "0",
     "OrderCancelReplaceRequest: OrderQty (38) must be a whole number"),
    ({"35": "G", "34": "3", "11": "C2", "41": "C1", "55": "IBM", "54": "1", "44": "1.00001"},
     "0", "OrderCancelReplaceRequest: Price (44): price '1.00001' has more than 4 decimals"),
    ({"35": "H", "34": "3", "55": "IBM", "54": "1"}, "5",
     "OrderStatusRequest without ClOrdID (11)"),
])
def test_business_rejects(v: str, fields: Fields, reason: str, text: str) -> None:
    r = cf.from_client(v, "acme", fields)
    assert isinstance(r, cf.Refusal)
    assert (r.msg_type, r.reason) == ("j", reason)
    assert r.text.startswith(text), r.text
    raw = r.answer("unused", NS)
    validate(raw)
    f = read(raw)
    assert pick(f, "35", "45", "372", "379", "380", "58") == {
        "35": "j", "45": fields["34"], "372": fields["35"], "379": fields.get("11"),
        "380": reason, "58": r.text}


@BOTH
def test_cancel_replace_status(v: str) -> None:
    base = {"34": "4", "11": "C2", "41": "C1", "55": "IBM", "54": "2",
            "60": "20240102-14:30:00.123"}
    assert cf.from_client(v, "acme", {"35": "F", **base, "38": "1000"}) == CancelOrder(
        "acme", "C2", "C1", "IBM", "sell", NS - 456_789)
    assert cf.from_client(v, "acme", {"35": "G", **base, "38": "800", "40": "2",
                                    "44": "151", "7003": "10", "7002": "15:30"}) == ReplaceOrder(
        "acme", "C2", "C1", "IBM", "sell", 800, 1_510_000,
        (("end_time", "15:30"), ("max_pct", "10")), NS - 456_789)
    assert cf.from_client(v, "acme", {"35": "G", **base, "40": "1"}) == ReplaceOrder(
        "acme", "C2", "C1", "IBM", "sell", 0, 0, (), NS - 456_789)
    assert cf.from_client(v, "acme", {"35": "H", "11": "C1", "55": "IBM", "54": "5"}) == (
        OrderStatusRequest("acme", "C1", "IBM", "sell_short"))


def test_business_reject_helper() -> None:
    raw = cf.business_reject(FIX44, {"35": "D", "34": "9", "11": "C1"},
                             "a drop-copy session takes no requests")
    validate(raw)
    f = read(raw)
    assert pick(f, "35", "45", "372", "379", "380", "58") == {
        "35": "j", "45": "9", "372": "D", "379": "C1", "380": "0",
        "58": "a drop-copy session takes no requests"}


def test_wrong_version() -> None:
    with pytest.raises(ValueError):
        cf.from_client("FIX.4.3", "acme", d())
    with pytest.raises(ValueError):
        cf.execution_report("FIXT.1.1", er())


def test_text_is_made_safe() -> None:
    f = built(FIX44, er(text="limit \u20ac150\x01 through"))
    assert f["58"] == "limit ?150? through"
    assert SOH not in f["58"]


@BOTH
@pytest.mark.parametrize(("side", "code"), [("sell_short", "5"), ("sell_short_exempt", "6")])
def test_fill_of_a_short_sale_while_a_replace_is_pending(v: str, side: str, code: str) -> None:
    """What the end-to-end crossing shows a client: the fill against the order in force
    (old ClOrdID, no OrigClOrdID) with OrdStatus pending replace; 4.2's ExecType is a
    partial fill, 4.4's a trade; the short sale keeps its Side."""
    f = built(v, er(exec_type="trade", ord_status="pending_replace", side=side, cum_qty=30,
                    leaves_qty=970, last_qty=30, last_px=1_690_000, avg_px=16_900_000_000))
    assert pick(f, "20", "150", "39", "11", "41", "54", "32", "31") == {
        "20": "0" if v == FIX42 else None, "150": "1" if v == FIX42 else "F", "39": "E",
        "11": "C1", "41": None, "54": code, "32": "30", "31": "169"}


# ---------------------------------------------------------------- what the stream can carry
# Found by the fuzz run (test_fuzz): a NewOrderSingle with bytes that are not UTF-8 in a
# tag the gateway carries (QuickFIX's Python binding hands them over as lone surrogates),
# or an OrderQty or Price beyond 64 bits, passed QuickFIX's dictionary and the
# translation, then failed in the stream's encoder: the client was never answered.

NOT_TEXT = "X\udcff\udcfe"  # the bytes ff fe, as QuickFIX's binding passes them
BAD_TEXT = [NOT_TEXT, "A\x00B", "tab\there", "\u00e9t\u00e9", "Z" * 65, "C" * 1_200_000]


@BOTH
@pytest.mark.parametrize("tag", ["11", "55"])
@pytest.mark.parametrize("value", BAD_TEXT, ids=["bytes", "nul", "tab", "utf8", "65", "1.2MB"])
def test_ids_the_stream_cannot_carry_get_a_business_reject(v: str, tag: str, value: str) -> None:
    r = cf.from_client(v, "acme", d(**{tag: value}))
    assert isinstance(r, cf.Refusal)
    assert (r.msg_type, r.reason) == ("j", "0")
    name = "ClOrdID (11)" if tag == "11" else "Symbol (55)"
    why = ("is" if len(value) > cf.MAX_TEXT else "holds characters other than printable ASCII")
    assert r.text.startswith(f"NewOrderSingle: {name} {why}"), r.text
    raw = r.answer("unused", NS)
    validate(raw)
    raw.encode()  # strict UTF-8: what the binding must be able to send
    assert pick(read(raw), "35", "45", "372", "379", "380") == {
        "35": "j", "45": "12", "372": "D", "380": "0",
        "379": None if tag == "11" else "C1"}  # never echoes what it cannot carry


@BOTH
@pytest.mark.parametrize(("extra", "text"), [
    ({"7000": "VW\u00c4P"}, "Strategy (7000) holds characters other than printable ASCII"),
    ({"7000": "D" * 65}, "Strategy (7000) is 65 characters long, above the 64 we take"),
    ({"7000": "DMA", "7010": "AR\x00CX"}, "algo parameter venue (7010) holds characters"),
    ({"7000": "VWAP", "7003": NOT_TEXT}, "algo parameter max_pct (7003) holds characters"),
    ({"54": "5", "5700": "\udcfe\udcff"}, "LocateBroker (5700) holds characters"),
])
def test_carried_text_the_stream_cannot_carry_gets_an_execution_report_reject(
        v: str, extra: dict[str, str], text: str) -> None:
    r = cf.from_client(v, "acme", d(**extra))
    assert isinstance(r, cf.Refusal)
    assert (r.msg_type, r.reason) == ("8", "99" if v == FIX44 else "0")
    assert r.text.startswith(text), r.text
    validate(r.raw)
    assert pick(read(r.raw), "11", "55", "150", "39", "38") == {
        "11": "C1", "55": "IBM", "150": "8", "39": "8", "38": "1000"}


@BOTH
def test_a_locate_broker_not_carried_is_not_checked(v: str) -> None:
    m = cf.from_client(v, "acme", d(**{"5700": NOT_TEXT}))  # a buy: no locate to carry
    assert isinstance(m, NewOrder) and m.locate_broker == ""
    encode(m)


@BOTH
@pytest.mark.parametrize(("extra", "code44", "text"), [
    ({"38": "9" * 30}, "13", "OrderQty (38) is above the largest we take"),
    ({"38": str(2**63) + ".00"}, "13", "OrderQty (38) is above the largest we take"),
    ({"44": "9" * 30}, "99", "Price (44) is above the largest we take"),
    ({"44": "922337203685477.5808"}, "99", "Price (44) is above the largest we take"),
    ({"60": "99991231-23:59:59"}, "99",
     "TransactTime (60): '99991231-23:59:59' is out of range (years 1678 to 2262)"),
    ({"60": "00010101-00:00:00"}, "99", "TransactTime (60): '00010101-00:00:00' is out of range"),
])
def test_numbers_beyond_64_bits_get_an_execution_report_reject(
        v: str, extra: dict[str, str], code44: str, text: str) -> None:
    r = cf.from_client(v, "acme", d(**extra))
    assert isinstance(r, cf.Refusal)
    assert (r.msg_type, r.reason) == ("8", code44 if v == FIX44 else "0")
    assert r.text.startswith(text), r.text
    validate(r.raw)


@BOTH
def test_the_largest_values_the_stream_carries_are_taken(v: str) -> None:
    m = cf.from_client(v, "acme", d(**{
        "11": "K" * cf.MAX_TEXT, "38": str(cf.MAX_INT), "44": "922337203685477.5807",
        "60": "22620411-23:47:16.854775807", "7000": "VWAP", "7007": "a" * cf.MAX_TEXT}))
    assert isinstance(m, NewOrder)
    assert (m.qty, m.limit_px, m.transact_ns) == (cf.MAX_INT, cf.MAX_INT, cf.MAX_INT)
    encode(m)


_G = {"35": "G", "34": "3", "11": "C2", "41": "C1", "55": "IBM", "54": "1", "40": "2"}


@BOTH
@pytest.mark.parametrize(("fields", "text"), [
    ({**_G, "35": "F", "41": NOT_TEXT}, "OrderCancelRequest: OrigClOrdID (41) holds characters"),
    ({**_G, "35": "F", "11": "Z" * 65}, "OrderCancelRequest: ClOrdID (11) is 65 characters"),
    ({**_G, "35": "F", "60": "99991231-23:59:59"},
     "OrderCancelRequest: TransactTime (60): '99991231-23:59:59' is out of range"),
    ({**_G, "38": "9" * 30}, "OrderCancelReplaceRequest: OrderQty (38) is above the largest"),
    ({**_G, "44": "9" * 30}, "OrderCancelReplaceRequest: Price (44) is above the largest"),
    ({**_G, "7003": "\x07"},
     "OrderCancelReplaceRequest: algo parameter max_pct (7003) holds characters"),
    ({"35": "H", "34": "3", "11": "C2", "54": "1", "55": "\u00c9"},
     "OrderStatusRequest: Symbol (55) holds characters"),
])
def test_cancel_replace_status_the_stream_cannot_carry_get_a_business_reject(
        v: str, fields: Fields, text: str) -> None:
    r = cf.from_client(v, "acme", fields)
    assert isinstance(r, cf.Refusal)
    assert (r.msg_type, r.reason) == ("j", "0")
    assert r.text.startswith(text), r.text
    raw = r.answer("unused", NS)
    validate(raw)
    assert read(raw).get("379") == (None if len(fields["11"]) > cf.MAX_TEXT else "C2")


_VALUES = st.one_of(
    st.text(max_size=70),
    st.binary(max_size=70).map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["", "1", "100", "150.25", "20240102-14:30:00", "99991231-23:59:59"]))
_TAGS = ["11", "41", "55", "54", "38", "40", "44", "59", "60", "847", "7000", "7001", "7003",
         "7010", "5700"]


@settings(max_examples=300, deadline=None)
@given(msg_type=st.sampled_from(["D", "F", "G", "H"]), v=st.sampled_from([FIX42, FIX44]),
       extra=st.dictionaries(st.sampled_from(_TAGS), _VALUES, max_size=4))
def test_whatever_the_translation_takes_the_stream_can_carry(
        msg_type: str, v: str, extra: dict[str, str]) -> None:
    """Any values in the tags the gateway reads: a refusal it can send, or a request the
    stream's encoder takes."""
    fields = {**d(), "35": msg_type, "41": "C0", **extra}
    r = cf.from_client(v, "acme", fields)
    if isinstance(r, cf.Refusal):
        r.answer("R-1", NS).encode()
    else:
        encode(r)
