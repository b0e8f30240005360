"""End to end, all real: a client's QuickFIX session, the client gateway, the
sequencer, the OMS, the DMA stub of the algo container, the venue gateway and
the venue simulator (scripted), each its own process over Aeron and FIX sockets.
The client's execution reports are checked field by field.

One trading day (a day takes seconds to start) runs the whole matrix for two
clients logged on at once, one after the other: ALPHA on FIX 4.4 trading through
ARCX (a FIX 4.4 venue session, which sends LastLiquidityInd), then BETA on FIX
4.2 through XNYS (FIX 4.2, none; BETA's row in the clients table also asks for
PendingNew before New). Scenarios, in order, each on an order of its own unless
said:

1. new, partial fill, status request, fill; a status request for an unknown
   ClOrdID; the clearing drop copies; the venue's liquidity flag on the stream;
2. a partial fill, then a cancel (PendingCancel, Canceled), and a cancel of the
   cancelled order (too late);
3. a replace down in price and up in quantity (PendingReplace while the child
   is repriced, Replaced, the child grown), a fill, then a replace below the
   filled quantity (the child cancelled, Replaced and filled);
4. a fill crossing a replace: the venue holds the replace's ack, fills, then
   lets the ack go; a restatement that changes nothing reaches no one; the venue
   refuses a cancel (a CancelReject); the venue cancels the order on its own;
5. a short sale with a locate (5700), a replace the OMS refuses, the fill;
6. a DMA order the venue rejects (at-the-opening after the open);
7. rejects: unknown symbol, zero quantity and a stop order (answered by the
   gateway, never on the stream), a duplicate ClOrdID, a cancel and a replace of
   an unknown order.

Then: no report of one client reached the other's session, and the clearing
session's drop copies are every fill of both clients, in order, in FIX 4.4.
In 4.2 form a report has ExecTransType 20=0 (3 answering a status request) and
ExecType 1/2 for fills, the status request's ExecType being the OrdStatus, and
OrdStatus 5 for a replaced order without fills (partially filled ranks above
replaced in 4.2); in 4.4 form no tag 20, ExecType F and I, and a fill carries the
venue's LastLiquidityInd (851).
"""

from __future__ import annotations

import json
import queue
import time
from pathlib import Path
from typing import Any

import pytest

from sequencer.messages import Message
from sequencer.messages.executions import VenueFill, VenueReplaced, VenueRestated
from sequencer.messages.orders import ChildOrderSent, NewOrder
from tests.conftest import Proc, Stack
from tests.fix_gateways.day import ER, Day, got, pick, stream, wait_stream

pytestmark = pytest.mark.slow

ER20 = (*ER, "20")  # ...plus ExecTransType: 4.2 only
PX = 10_000  # the simulator's prices are 1/10,000


class Flow:
    """One client's session and what the test needs to check its reports."""

    def __init__(self, d: Day, client: Proc, comp_id: str, version: str, venue: str) -> None:
        self.d, self.c, self.comp_id, self.venue = d, client, comp_id, venue
        self.v42 = version == "4.2"
        self.fills: list[dict[str, str]] = []  # the client's trade reports, in order
        self._early: list[dict[str, Any]] = []  # stdout lines read before their turn

    # ------------------------------------------------------------ sending

    def send(self, msg_type: str, **fields: str) -> None:
        """A request; D and G with HandlInst 21=1 (required by FIX 4.2)."""
        self.c.send(json.dumps({"send": {
            "35": msg_type, **({"21": "1"} if msg_type in "DG" else {}), **fields}}))
        assert self._next("sent")["sent"] is True

    def got(self) -> dict[str, str]:
        """The next message the client received."""
        return self._next("got")["got"]  # type: ignore[no-any-return]

    def _next(self, key: str, timeout: float = 20.0) -> dict[str, Any]:
        """The client's next stdout line holding `key`, keeping the others for later
        (`Proc.expect` drops them, and the answer to a request may be printed before
        the request's "sent")."""
        for i, m in enumerate(self._early):
            if key in m:
                return self._early.pop(i)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                m = self.c.messages.get(timeout=min(left, 0.1))
            except queue.Empty:
                assert self.c.alive(), self.c.describe()
                continue
            self.c.history.append(m)
            if key in m:
                return m
            self._early.append(m)
        raise AssertionError(f"no {key!r} from {self.c.describe()} within {timeout}s")

    def order(self, cl: str, qty: int = 100, px: str = "170", side: str = "1",
              extra: dict[str, str] | None = None) -> str:
        """A DMA limit order, acknowledged (BETA: PendingNew first); its OrderID. The
        child reaching the venue is checked too."""
        self.send("D", **{"11": cl, "55": "IBM", "54": side, "38": str(qty), "40": "2",
                          "44": px, "59": "0", "60": "20131008-13:30:00.000", "7000": "DMA",
                          "7010": self.venue, **(extra or {})})
        if self.v42:
            self.check(self.got(), "A", "A", cl, "", qty, 0, qty)
        new = self.got()
        self.check(new, "0", "0", cl, "", qty, 0, qty)
        assert (new["55"], new["54"], new["44"]) == ("IBM", side, px), new
        order_id = new["37"]
        arrived = self.d.sim.expect("order")
        assert (arrived["order"], arrived["venue"], arrived["symbol"], arrived["qty"]) == (
            f"{order_id}.1", self.venue, "IBM", qty)
        return order_id

    def fill(self, order_id: str, qty: int, px: int, liquidity: str = "added",
             child: int = 1) -> str:
        """The venue fills the order's `child`-th child; the venue's ExecID of the fill."""
        answer = self.d.venue(op="fill", venue=self.venue, cl_ord_id=f"{order_id}.{child}",
                              qty=qty, px=px, liquidity=liquidity)
        (exec_id,) = answer["exec_ids"]
        return str(exec_id)

    # ------------------------------------------------------------ checking

    def et(self, code44: str, code42: str | None = None) -> str:
        return code42 if self.v42 and code42 is not None else code44

    def check(self, m: dict[str, str], exec_type: str, status: str, cl: str, orig: str,
              qty: int, cum: int, leaves: int, last: tuple[int, str] | None = None,
              avg: str = "0", trans: str = "0") -> None:
        """An execution report, field by field (ExecType and OrdStatus as this
        session's version writes them; ExecTransType 20 only in 4.2)."""
        want = ("8", exec_type, status, cl, orig, str(qty), str(cum), str(leaves),
                str(last[0]) if last else "", last[1] if last else "", avg,
                trans if self.v42 else "")
        assert pick(m, *ER20) == want, m

    def trade(self, cl: str, status: str, qty: int, cum: int, leaves: int, last_qty: int,
              last_px: str, avg: str) -> dict[str, str]:
        """The next report, a fill: ExecType F (4.4), 1 or 2 (4.2, by OrdStatus)."""
        m = self.got()
        self.check(m, self.et("F", "2" if status == "2" else "1"), status, cl, "", qty, cum,
                   leaves, (last_qty, last_px), avg)
        self.fills.append(m)
        return m

    def cancel_reject(self, m: dict[str, str], cl: str, orig: str, order_id: str,
                      status: str, response_to: str, reason44: str, reason42: str,
                      text: str) -> None:
        assert pick(m, "35", "11", "41", "37", "39", "434", "102", "58") == (
            "9", cl, orig, order_id, status, response_to, self.et(reason44, reason42),
            text), m


def child_events(day: Path, child_id: str) -> list[Message]:
    return [m for _src, _seq, m in stream(day)
            if getattr(m, "child_id", None) == child_id
            and type(m).__name__.startswith("Venue")]


def test_fix44_and_fix42_clients_end_to_end(stack: Stack, tmp_path: Path) -> None:
    """Both clients logged on at once, each through the matrix in turn: every report
    reaches its own client's session, in that session's FIX version."""
    d = Day(stack, tmp_path)
    d.start()
    alpha = Flow(d, d.client("ALPHA", "4.4"), "ALPHA", "4.4", "ARCX")
    beta = Flow(d, d.client("BETA", "4.2"), "BETA", "4.2", "XNYS")
    clearing = d.client("CLEARING", "4.4", d.ports[1])
    matrix(alpha, stack.day)
    # BETA's first report is its own PendingNew (none of ALPHA's went to BETA) ...
    matrix(beta, stack.day)
    # ... and ALPHA's next one answers ALPHA's status request (none of BETA's went to
    # ALPHA, though they were all sequenced before it).
    alpha.send("H", **{"11": "A1", "55": "IBM", "54": "1"})
    last = alpha.got()
    alpha.check(last, "I", "2", "A1", "", 100, 100, 0, avg="169.994")
    # The drop copies: every fill of both clients, in order, as the client's report plus
    # Account (1); the clearing session is FIX 4.4, whatever the client's version.
    fills = [(f.comp_id, x) for f in (alpha, beta) for x in f.fills]
    copies = [got(clearing) for _ in fills]
    assert [pick(m, "1", "17", "11", "37", "32", "31", "14", "151", "150", "20")
            for m in copies] == [
        (who, x["17"], x["11"], x["37"], x["32"], x["31"], x["14"], x["151"], "F", "")
        for who, x in fills]
    assert [m["39"] for m in copies] == [x["39"] for _who, x in fills]


def matrix(f: Flow, day: Path) -> None:
    """The scenarios of the module docstring for one client."""
    d, comp_id, venue = f.d, f.comp_id, f.venue

    # 1. new, partial fill, status, fill; the drop copies are checked at the end.
    a = f.order("A1")
    f.fill(a, 40, 170 * PX, "added")
    first = f.trade("A1", "1", 100, 40, 60, 40, "170", "170")
    # The venue's LastLiquidityInd reaches the client on 4.4 (4.2 has no tag 851, and the
    # 4.2 venue sends none).
    assert first.get("851", "") == ("" if f.v42 else "1"), first
    f.send("H", **{"11": "A1", "55": "IBM", "54": "1"})
    status = f.got()
    # 4.4: ExecType I; 4.2: ExecTransType 3 (status) and ExecType the current OrdStatus.
    f.check(status, f.et("I", "1"), "1", "A1", "", 100, 40, 60, avg="170", trans="3")
    assert status["37"] == a
    f.fill(a, 60, 1_699_900, "removed")
    f.trade("A1", "2", 100, 100, 0, 60, "169.99", "169.994")
    f.send("H", **{"11": "NOPE", "55": "IBM", "54": "1"})
    unknown = f.got()
    f.check(unknown, f.et("I", "8"), "8", "NOPE", "", 0, 0, 0, trans="3")
    assert pick(unknown, "37", "103", "58") == (
        "NONE", "5", f"no order with ClOrdID 'NOPE' for {comp_id}")
    fills = [m for m in child_events(day, f"{a}.1") if isinstance(m, VenueFill)]
    # LastLiquidityInd (851) comes from FIX 4.4 venues only; it is carried on the stream
    # and in the 4.4 client's report.
    assert [(m.qty, m.px, m.liquidity, m.leaves_qty) for m in fills] == [
        (40, 1_700_000, "" if f.v42 else "added", 60),
        (60, 1_699_900, "" if f.v42 else "removed", 0)]

    # 2. a partial fill, then a cancel; then a cancel of the cancelled order.
    b = f.order("B1")
    f.fill(b, 30, 170 * PX)
    f.trade("B1", "1", 100, 30, 70, 30, "170", "170")
    f.send("F", **{"11": "B2", "41": "B1", "55": "IBM", "54": "1", "38": "100",
                   "60": "20131008-13:31:00.000"})
    f.check(f.got(), "6", "6", "B2", "B1", 100, 30, 70, avg="170")
    done = f.got()
    f.check(done, "4", "4", "B2", "B1", 100, 30, 0, avg="170")
    assert done["37"] == b
    f.send("F", **{"11": "B3", "41": "B2", "55": "IBM", "54": "1",
                   "60": "20131008-13:31:01.000"})
    f.cancel_reject(f.got(), "B3", "B2", b, "4", "1", "0", "0",
                    "too late: the order is cancelled")

    # 3. a replace down in price and up in size: the child (above the new limit) is
    # repriced first, so the replace is pending; once in force the child grows.
    c = f.order("C1")
    f.send("G", **{"11": "C2", "41": "C1", "55": "IBM", "54": "1", "38": "200", "40": "2",
                   "44": "169", "60": "20131008-13:32:00.000"})
    f.check(f.got(), "E", "E", "C2", "C1", 100, 0, 100)
    replaced = f.got()
    # 4.2 reports a replaced live order as OrdStatus 5 (replaced); 4.4 as its status.
    f.check(replaced, "5", f.et("0", "5"), "C2", "C1", 200, 0, 200)
    assert replaced["44"] == "169" and replaced["37"] == c
    wait_stream(day, lambda ms: VenueReplaced(f"{c}.1", 200, 169 * PX) in ms,
                "the venue to confirm the child grown to 200")
    f.fill(c, 150, 169 * PX)
    f.trade("C2", "1", 200, 150, 50, 150, "169", "169")
    # ... then below the filled quantity: the child is cancelled, the order ends filled
    # at 150 (FIX 4.4 matrix D12).
    f.send("G", **{"11": "C3", "41": "C2", "55": "IBM", "54": "1", "38": "100", "40": "2",
                   "44": "169", "60": "20131008-13:32:30.000"})
    f.check(f.got(), "E", "E", "C3", "C2", 200, 150, 50, avg="169")
    f.check(f.got(), "5", "2", "C3", "C2", 150, 150, 0, avg="169")
    sent = [(m.action, m.qty, m.limit_px) for _s, _q, m in stream(day)
            if isinstance(m, ChildOrderSent) and m.child_id == f"{c}.1"]
    assert sent == [("new", 100, 170 * PX), ("replace", 100, 169 * PX),
                    ("replace", 200, 169 * PX), ("cancel", 200, 169 * PX)]

    # 4. a fill crossing a replace: the venue applies the replace and fills, and its
    # ack of the replace comes after the fill.
    dd = f.order("D1")
    child = f"{dd}.1"
    d.venue(op="hold", kind="acks", venue=venue, cl_ord_id=child)
    f.send("G", **{"11": "D2", "41": "D1", "55": "IBM", "54": "1", "38": "100", "40": "2",
                   "44": "169", "60": "20131008-13:33:00.000"})
    f.check(f.got(), "E", "E", "D2", "D1", 100, 0, 100)
    wait_stream(day, lambda ms: any(isinstance(m, ChildOrderSent) and m.child_id == child
                                    and m.action == "replace" for m in ms),
                "the OMS to send the child's replace")
    f.fill(dd, 30, 169 * PX)
    # Reported against the order in force (old ClOrdID), with the pending status.
    f.trade("D1", "E", 100, 30, 70, 30, "169", "169")
    d.venue(op="release", kind="acks", venue=venue, cl_ord_id=child)
    # Partially filled, in both versions (FIX 4.2's precedence puts it above replaced).
    f.check(f.got(), "5", "1", "D2", "D1", 100, 30, 70, avg="169")
    kinds = [type(m).__name__ for m in child_events(day, child)]
    assert kinds == ["VenueAck", "VenueFill", "VenueReplaced"], kinds
    # A restatement that changes nothing is dropped by the venue gateway: the next
    # report the client gets is the next fill.
    d.venue(op="restate", venue=venue, cl_ord_id=child, qty=100, px=169 * PX)
    f.fill(dd, 10, 169 * PX)
    f.trade("D2", "1", 100, 40, 60, 10, "169", "169")
    assert not any(isinstance(m, VenueRestated) for m in child_events(day, child))
    # The venue refuses a cancel: PendingCancel, then a CancelReject; the order goes on.
    d.venue(op="refuse_cancels", venue=venue, cl_ord_id=child)
    f.send("F", **{"11": "D3", "41": "D2", "55": "IBM", "54": "1",
                   "60": "20131008-13:33:30.000"})
    f.check(f.got(), "6", "6", "D3", "D2", 100, 40, 60, avg="169")
    f.cancel_reject(f.got(), "D3", "D2", dd, "1", "1", "2", "2",
                    f"{venue} refused to cancel the order: refused by the venue (scripted)")
    # The venue then cancels the order on its own: the client is told, Canceled.
    d.venue(op="unsolicited_cancel", venue=venue, cl_ord_id=child, reason="symbol halted")
    gone = f.got()
    f.check(gone, "4", "4", "D2", "", 100, 40, 0, avg="169")
    assert gone["58"] == f"{venue} cancelled the order: symbol halted"

    # 5. a short sale with a locate: 5700 goes onto the stream with the order.
    g = f.order("G1", px="185", side="5", extra={"5700": "GSCO"})
    orders = [m for _s, _q, m in stream(day) if isinstance(m, NewOrder)
              and (m.client, m.cl_ord_id) == (comp_id, "G1")]
    assert [(m.client, m.side, m.locate_broker) for m in orders] == [
        (comp_id, "sell_short", "GSCO")]
    assert [m.side for _s, _q, m in stream(day)
            if isinstance(m, ChildOrderSent) and m.child_id == f"{g}.1"] == ["sell_short"]
    # A replace the OMS refuses (off the tick): a CancelReject, the order untouched.
    f.send("G", **{"11": "G2", "41": "G1", "55": "IBM", "54": "5", "38": "100", "40": "2",
                   "44": "185.005", "60": "20131008-13:34:00.000"})
    f.cancel_reject(f.got(), "G2", "G1", g, "0", "2", "99", "2",
                    "limit price 185.0050 is not on the tick (0.01)")
    f.fill(g, 100, 185 * PX)
    assert f.trade("G1", "2", 100, 100, 0, 100, "185", "185")["54"] == "5"

    # 6. the venue rejects a DMA order (at the opening, sent after the open): the
    # order was acknowledged, so it is cancelled back with the venue's reason.
    h = f.order("H1", extra={"59": "2"})
    out = f.got()
    f.check(out, "4", "4", "H1", "", 100, 0, 0)
    assert (out["37"], out["58"]) == (h, f"{venue} rejected the order: the opening auction "
                                          "is over")

    # 7. rejects. The OMS's: unknown symbol, duplicate ClOrdID.
    f.send("D", **{"11": "E1", "55": "ZZZZ", "54": "1", "38": "100", "40": "2", "44": "10",
                   "59": "0", "60": "20131008-13:35:00.000", "7000": "DMA", "7010": venue})
    rej = f.got()
    f.check(rej, "8", "8", "E1", "", 100, 0, 0)
    assert pick(rej, "55", "103", "58") == ("ZZZZ", "1", "unknown symbol 'ZZZZ'")
    assert rej["37"] != "NONE"
    f.send("D", **{"11": "A1", "55": "IBM", "54": "1", "38": "100", "40": "2", "44": "170",
                   "59": "0", "60": "20131008-13:35:01.000", "7000": "DMA", "7010": venue})
    rej = f.got()
    # The reject describes the order that has the ClOrdID, as it stands: A1 is filled.
    f.check(rej, "8", "2", "A1", "", 100, 100, 0, avg="169.994")
    assert pick(rej, "37", "103", "58") == (
        a, "6", f"duplicate ClOrdID 'A1': already used today by order {a}")
    # The gateway's, never on the stream: zero quantity, a stop order.
    f.send("D", **{"11": "E2", "55": "IBM", "54": "1", "38": "0", "40": "2", "44": "170",
                   "59": "0", "60": "20131008-13:35:02.000"})
    rej = f.got()
    assert pick(rej, *ER20, "37", "103", "58") == (
        "8", "8", "8", "E2", "", "", "0", "0", "", "", "0", f.et("", "0"), "NONE",
        f.et("13", "0"), "OrderQty (38) must be a whole number of shares above 0, got '0'")
    f.send("D", **{"11": "E3", "55": "IBM", "54": "1", "38": "100", "40": "3", "99": "171",
                   "59": "0", "60": "20131008-13:35:03.000"})
    rej = f.got()
    f.check(rej, "8", "8", "E3", "", 100, 0, 0)
    assert pick(rej, "37", "40", "103", "58") == (
        "NONE", "3", f.et("11", "0"),
        "stop orders (40=3) are not supported: send market (1) or limit (2)")
    assert not [m for _s, _q, m in stream(day)
                if isinstance(m, NewOrder) and m.client == comp_id
                and m.cl_ord_id in ("E2", "E3")]
    # Cancel and replace of an order the OMS does not know.
    f.send("F", **{"11": "E4", "41": "NOPE", "55": "IBM", "54": "1",
                   "60": "20131008-13:35:04.000"})
    f.cancel_reject(f.got(), "E4", "NOPE", "NONE", "8", "1", "1", "1",
                    f"no order with ClOrdID 'NOPE' for {comp_id}")
    f.send("G", **{"11": "E5", "41": "NOPE", "55": "IBM", "54": "1", "38": "100", "40": "2",
                   "44": "170", "60": "20131008-13:35:05.000"})
    f.cancel_reject(f.got(), "E5", "NOPE", "NONE", "8", "2", "1", "1",
                    f"no order with ClOrdID 'NOPE' for {comp_id}")
