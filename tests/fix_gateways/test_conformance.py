"""FIX conformance end to end: what a client's FIX engine sees, against the FIX 4.4 and
4.2 order state change matrices, over real sessions (the client's QuickFIX, the
client gateway, the sequencer, the OMS, the algo container, the venue gateway and the
scripted venue simulator, each its own process).

One day, both clients at once: ALPHA on FIX 4.4 through ARCX (a 4.4 venue), BETA on
FIX 4.2 through XNYS (4.2). For each, in turn, on orders of their own:

1. a new order reusing a live order's ClOrdID is rejected with that order as it stands;
   resent with PossResend (97=Y) it is answered with the order's status;
2. a replace refused because another is pending names the last accepted ClOrdID as
   OrigClOrdID; a status after the replace carries the current ClOrdID and its chain;
   the replace of a partially filled order is Partially Filled in 4.2 as in 4.4;
3. a venue's unsolicited reduction reaches the client (Restated, 378, OrderQty and
   LeavesQty reduced); its unsolicited cancel carries 378 (4.2 knows 0-5 only);
4. a venue's trade cancel reopens a filled order (Trade Cancel / ExecTransType Cancel,
   ExecRefID our fill's ExecID) and the DMA algo sends the rest again; a trade correct
   of the new fill (Trade Correct / ExecTransType Correct); the clearing drop copy
   gets both;
5. a halt (ops' HaltTrading) refuses a new DMA order; set to hold, one is accepted and
   its child waits for the ResumeTrading;
6. CashOrderQty is converted to shares and stated; ExecInst 6 reaches the venue, a
   pegged order (40=P, 18=M) too, an unsupported ExecInst is refused with its name.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sequencer.messages.orders import ChildOrderSent, NewOrder
from tests.conftest import Stack
from tests.fix_gateways.day import Day, got, pick, stream
from tests.fix_gateways.test_e2e import PX, Flow

pytestmark = pytest.mark.slow


def test_fix44_and_fix42_clients_see_the_order_state_rules(stack: Stack,
                                                           tmp_path: Path) -> None:
    d = Day(stack, tmp_path)
    d.start()
    alpha = Flow(d, d.client("ALPHA", "4.4"), "ALPHA", "4.4", "ARCX")
    beta = Flow(d, d.client("BETA", "4.2"), "BETA", "4.2", "XNYS")
    clearing = d.client("CLEARING", "4.4", d.ports[1])
    copies: list[dict[str, str]] = []
    for f in (alpha, beta):
        conformance(f, stack.day)
        # The clearing session's copies of this client's fills, busts and corrections.
        copies += [got(clearing) for _ in f.fills]
    # The clearing session is FIX 4.4 whatever the client's version: a 4.2 client's
    # ExecTransType new / cancel / correct is ExecType F / H / G there.
    assert [pick(m, "1", "17", "150", "19", "32", "31", "14") for m in copies] == [
        (f.comp_id, x["17"], {"0": "F", "1": "H", "2": "G"}[x["20"]] if f.v42 else x["150"],
         x.get("19", ""), x["32"], x["31"], x["14"])
        for f in (alpha, beta) for x in f.fills]


def conformance(f: Flow, day: Path) -> None:
    d, venue, v42 = f.d, f.venue, f.v42
    t = f.comp_id[0]  # ClOrdIDs of this client's orders start with its initial

    # 1. A duplicate ClOrdID of a live, partially filled order: rejected, describing it.
    a = f.order(f"{t}P1")
    f.fill(a, 40, 170 * PX)
    f.trade(f"{t}P1", "1", 100, 40, 60, 40, "170", "170")
    f.send("D", **{"11": f"{t}P1", "55": "IBM", "54": "1", "38": "500", "40": "2",
                   "44": "170", "59": "0", "60": "20131008-13:40:00.000", "7000": "DMA",
                   "7010": venue})
    rej = f.got()
    f.check(rej, "8", "1", f"{t}P1", "", 100, 40, 60, avg="170")
    assert pick(rej, "37", "103") == (a, "6"), rej
    # ... and resent with PossResend: the order's status (4.2: ExecTransType status).
    f.send("D", **{"97": "Y", "11": f"{t}P1", "55": "IBM", "54": "1", "38": "100",
                   "40": "2", "44": "170", "59": "0", "60": "20131008-13:40:00.000",
                   "7000": "DMA", "7010": venue})
    status = f.got()
    f.check(status, f.et("I", "1"), "1", f"{t}P1", "", 100, 40, 60, avg="170", trans="3")
    assert status["37"] == a

    # 2. A replace behind a pending replace: the CancelReject names the last accepted
    # ClOrdID (P1), not the pending one (P2) the request named.
    d.venue(op="hold", kind="acks", venue=venue, cl_ord_id=f"{a}.1")
    f.send("G", **{"11": f"{t}P2", "41": f"{t}P1", "55": "IBM", "54": "1", "38": "100",
                   "40": "2", "44": "169", "60": "20131008-13:40:01.000"})
    f.check(f.got(), "E", "E", f"{t}P2", f"{t}P1", 100, 40, 60, avg="170")
    f.send("G", **{"11": f"{t}P3", "41": f"{t}P2", "55": "IBM", "54": "1", "38": "100",
                   "40": "2", "44": "168", "60": "20131008-13:40:02.000"})
    f.cancel_reject(f.got(), f"{t}P3", f"{t}P1", a, "E", "2", "3", "3",
                    "a replace of this order is already pending")
    d.venue(op="release", kind="acks", venue=venue, cl_ord_id=f"{a}.1")
    # Replaced, partially filled in both versions.
    f.check(f.got(), "5", "1", f"{t}P2", f"{t}P1", 100, 40, 60, avg="170")
    f.send("H", **{"11": f"{t}P1", "55": "IBM", "54": "1"})
    f.check(f.got(), f.et("I", "1"), "1", f"{t}P2", f"{t}P1", 100, 40, 60, avg="170",
            trans="3")

    # 3. The venue reduces the order on its own: the client is told, with 378.
    d.venue(op="restate", venue=venue, cl_ord_id=f"{a}.1", qty=80, px=169 * PX,
            reason="partial decline", restatement_reason="partial_decline")
    restated = f.got()
    f.check(restated, "D", "1", f"{t}P2", "", 80, 40, 40, avg="170")
    assert pick(restated, "378", "37") == ("5", a), restated
    # ... then cancels it for a halt: 378 6, which 4.2 does not have (4, broker option).
    d.venue(op="unsolicited_cancel", venue=venue, cl_ord_id=f"{a}.1", reason="halted",
            restatement_reason="trading_halt")
    gone = f.got()
    f.check(gone, "4", "4", f"{t}P2", "", 80, 40, 0, avg="170")
    assert gone["378"] == f.et("6", "4"), gone

    # 4. A trade cancel of a filled order's fill: partially filled... here nothing left
    # filled, so New again, and the DMA algo sends the shares again.
    b = f.order(f"{t}Q1")
    fill1 = f.fill(b, 100, 170 * PX)
    first = f.trade(f"{t}Q1", "2", 100, 100, 0, 100, "170", "170")
    d.venue(op="bust", venue=venue, cl_ord_id=f"{b}.1", exec_id=fill1)
    bust = f.got()
    assert pick(bust, "150", "20", "39", "19", "32", "31", "14", "151", "6", "37") == (
        f.et("H", "1"), f.et("", "1"), "0", first["17"], "0", "0", "0", "100", "0", b), bust
    f.fills.append(bust)
    again = d.sim.expect("order")
    assert (again["order"], again["qty"]) == (f"{b}.2", 100), again
    fill2 = f.fill(b, 100, 171 * PX, child=2)
    second = f.trade(f"{t}Q1", "2", 100, 100, 0, 100, "171", "171")
    # ... and a trade correct of the new fill's price: ExecRefID is that fill's ExecID.
    d.venue(op="correct", venue=venue, cl_ord_id=f"{b}.2", exec_id=fill2, qty=100,
            px=1_705_000)
    corrected = f.got()
    assert pick(corrected, "150", "20", "39", "19", "32", "31", "14", "151", "6") == (
        f.et("G", "2"), f.et("", "2"), "2", second["17"], "100", "170.5", "100", "0",
        "170.5"), corrected
    f.fills.append(corrected)

    # 5. Ops halt IBM: a new DMA order is refused (OrdRejReason 2, exchange closed) ...
    d.inject({"type": "HaltTrading", "scope": "IBM", "reason": "news pending"})
    f.send("D", **{"11": f"{t}H1", "55": "IBM", "54": "1", "38": "100", "40": "2",
                   "44": "170", "59": "0", "60": "20131008-13:41:00.000", "7000": "DMA",
                   "7010": venue})
    refused = f.got()
    f.check(refused, "8", "8", f"{t}H1", "", 100, 0, 0)
    assert pick(refused, "103", "58") == (
        "2", "IBM halted (news pending): DMA orders are refused during a halt"), refused
    # ... unless the OMS is set to hold them: accepted, its child waits for the resume.
    d.inject({"type": "SetParameter", "target": "oms", "key": "dma_on_halt",
              "value": "hold"})
    f.send("D", **{"11": f"{t}H2", "55": "IBM", "54": "1", "38": "100", "40": "2",
                   "44": "170", "59": "0", "60": "20131008-13:41:01.000", "7000": "DMA",
                   "7010": venue})
    if v42:
        f.check(f.got(), "A", "A", f"{t}H2", "", 100, 0, 100)
    held = f.got()
    f.check(held, "0", "0", f"{t}H2", "", 100, 0, 100)
    time.sleep(0.5)
    assert not [m for _s, _q, m in stream(day) if isinstance(m, ChildOrderSent)
                and m.parent_id == held["37"]], "a child went out during the halt"
    d.inject({"type": "ResumeTrading", "scope": "IBM"},
             {"type": "SetParameter", "target": "oms", "key": "dma_on_halt",
              "value": "reject"})
    resumed = d.sim.expect("order")
    assert (resumed["order"], resumed["qty"]) == (f"{held['37']}.1", 100), resumed

    # 6. CashOrderQty: $17,085 at the limit 170.85 buys 100 shares, stated in the reports.
    f.send("D", **{"11": f"{t}C1", "55": "IBM", "54": "1", "152": "17085", "40": "2",
                   "44": "170.85", "59": "0", "60": "20131008-13:42:00.000", "7000": "DMA",
                   "7010": venue})
    if v42:
        f.got()  # PendingNew
    cash = f.got()
    f.check(cash, "0", "0", f"{t}C1", "", 100, 0, 100)
    assert pick(cash, "152", "58") == (
        "17085", "CashOrderQty 17,085.00 at the limit 170.85: 100 shares"), cash
    assert d.sim.expect("order")["qty"] == 100
    # ExecInst 6 (participate don't initiate) reaches the venue with the order.
    f.send("D", **{"11": f"{t}X1", "55": "IBM", "54": "1", "38": "100", "40": "2",
                   "44": "169", "59": "0", "18": "6", "60": "20131008-13:42:01.000",
                   "7000": "DMA", "7010": venue})
    if v42:
        f.got()
    post_only = f.got()
    assert pick(post_only, "150", "18") == ("0", "6"), post_only
    assert d.sim.expect("order")["qty"] == 100
    # A mid-price peg capped at 171 (OrdType P).
    f.send("D", **{"11": f"{t}X2", "55": "IBM", "54": "1", "38": "100", "40": "P",
                   "44": "171", "59": "0", "18": "M", "60": "20131008-13:42:02.000",
                   "7000": "DMA", "7010": venue})
    if v42:
        f.got()
    pegged = f.got()
    assert pick(pegged, "150", "18", "44") == ("0", "M", "171"), pegged
    assert d.sim.expect("order")["qty"] == 100
    sent = {m.child_id: m.exec_inst for _s, _q, m in stream(day)
            if isinstance(m, ChildOrderSent) and m.action == "new"}
    assert sent[f"{post_only['37']}.1"] == ("participate_dont_initiate",)
    assert sent[f"{pegged['37']}.1"] == ("mid_peg",)
    # An ExecInst we do not carry: refused by the gateway with its name, never on the stream.
    f.send("D", **{"11": f"{t}X3", "55": "IBM", "54": "1", "38": "100", "40": "2",
                   "44": "169", "59": "0", "18": "G", "60": "20131008-13:42:03.000",
                   "7000": "DMA", "7010": venue})
    refused = f.got()
    f.check(refused, "8", "8", f"{t}X3", "", 100, 0, 0)
    assert pick(refused, "103", "58") == (
        f.et("11", "0"), "all or none (18=G) is not supported: we take 6 (participate "
        "don't initiate), M (mid-price peg) and R (primary peg)"), refused
    assert not [m for _s, _q, m in stream(day) if isinstance(m, NewOrder)
                and m.cl_ord_id == f"{t}X3"]
