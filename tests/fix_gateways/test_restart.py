"""Gateways killed (SIGKILL) and started again within the day, all real processes.
A restarted gateway rebuilds its state from the stream and its QuickFIX store:

- the client gateway: every execution report reaches the client exactly once,
  those produced while the gateway was down included; a repeat is allowed only
  as FIX's resend of the same message (43=Y, its first MsgSeqNum). A request the client
  sent while the gateway was down reaches the stream once.
- the venue gateway: no child order goes to the venue twice (beyond a PossDup
  resend), none is lost, a venue's fill sent while the gateway was down reaches
  the stream once, a fill the venue sends again is dropped, and no venue event
  is on the stream twice.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from fix_gateways.fixmsg import read
from sequencer.messages import Message
from sequencer.messages.executions import ExecutionReport, VenueAck, VenueFill, VenueReject
from sequencer.messages.orders import NewOrder
from tests.conftest import Proc, Stack
from tests.fix_gateways.day import Day, got, got_until, send, stream, wait_stream

pytestmark = pytest.mark.slow


def _order(cl: str, qty: int = 100) -> dict[str, str]:
    return {"35": "D", "11": cl, "55": "IBM", "54": "1", "38": str(qty), "40": "2",
            "44": "170", "59": "0", "60": "20131008-13:30:00.000", "7000": "DMA",
            "7010": "ARCX"}


def _received(p: Proc) -> list[dict[str, str]]:
    """Every application message the client worker has printed so far."""
    while not p.messages.empty():
        p.history.append(p.messages.get_nowait())
    return [m["got"] for m in p.history if "got" in m]


def _check_once(got_msgs: list[dict[str, str]], want: list[str], who: str) -> None:
    """Each ExecID of `want` received, and no other execution report. A repeat is
    allowed only as FIX's resend of the same message: PossDup (43=Y) under its first
    MsgSeqNum (34). A report the gateway sent twice has a new MsgSeqNum, even when
    QuickFIX delivers it by a resend (it was stored while the client was away)."""
    first: dict[str, dict[str, str]] = {}
    for m in got_msgs:
        if m.get("35") != "8":
            continue
        was = first.get(m["17"])
        if was is None:
            first[m["17"]] = m
            continue
        assert m.get("43") == "Y" and m["34"] == was["34"], (
            f"{who}: ExecID {m['17']} sent twice (MsgSeqNum {was['34']}, then {m['34']} "
            f"with PossDupFlag {m.get('43', 'N')})")
        assert _body(m) == _body(was), f"{who}: a resend of {m['17']} differs"
    assert sorted(first) == sorted(want), f"{who}: got {sorted(first)}, want {sorted(want)}"


def _body(m: dict[str, str]) -> tuple[str, ...]:
    return tuple(m.get(t, "") for t in ("11", "17", "150", "39", "14", "151", "32", "31"))


def _reports(msgs: list[Message], client: str = "ALPHA") -> list[ExecutionReport]:
    return [m for m in msgs if isinstance(m, ExecutionReport) and m.client == client]


def test_a_client_gateway_restart_loses_and_repeats_no_execution_report(
        stack: Stack, tmp_path: Path) -> None:
    d = Day(stack, tmp_path)
    d.start()
    alpha = d.client("ALPHA", "4.4")
    clearing = d.client("CLEARING", "4.4", d.ports[1])
    for cl in ("A1", "A2", "A3"):
        send(alpha, **_order(cl))
        assert got(alpha)["150"] == "0"
    children = [d.sim.expect("order")["order"] for _ in range(3)]
    assert children == ["20131008-1.1", "20131008-2.1", "20131008-3.1"]
    d.venue(op="fill", venue="ARCX", cl_ord_id=children[0], qty=40, px=1_700_000)
    assert got_until(alpha, lambda m: m.get("150") == "F")["11"] == "A1"
    assert got(clearing)["32"] == "40"

    d.client_gw.kill9()
    # While the gateway is down, the venue fills (the OMS's reports go on the stream)
    # and the client sends an order (QuickFIX keeps it for the next logon).
    d.venue(op="fill", venue="ARCX", cl_ord_id=children[0], qty=60, px=1_700_000)
    d.venue(op="fill", venue="ARCX", cl_ord_id=children[1], qty=100, px=1_699_900)
    d.venue(op="fill", venue="ARCX", cl_ord_id=children[2], qty=30, px=1_700_000)
    wait_stream(stack.day, lambda ms: sum(r.exec_type == "trade" for r in _reports(ms)) == 4,
                "the OMS's reports of the fills made while the client gateway was down")
    send(alpha, **_order("A4"))

    d.start_client_gw()
    alpha.expect("logon")
    clearing.expect("logon")
    # A4 reaches the stream (once) and is acknowledged; then one more order, whose
    # acknowledgement comes after anything the restart could have sent.
    got_until(alpha, lambda m: m.get("11") == "A4" and m.get("150") == "0", timeout=30)
    assert d.sim.expect("order")["order"] == "20131008-4.1"
    send(alpha, **_order("A5"))
    got_until(alpha, lambda m: m.get("11") == "A5" and m.get("150") == "0")
    msgs = [m for _src, _seq, m in stream(stack.day)]
    news = Counter(m.cl_ord_id for m in msgs if isinstance(m, NewOrder))
    assert news == {f"A{i}": 1 for i in range(1, 6)}, news
    reports = _reports(msgs)
    assert len(reports) == 9  # 5 acknowledgements, 4 fills
    _check_once(_received(alpha), [r.exec_id for r in reports], "ALPHA")
    # The drop copy had its fills (one more, after the restart, closes its check),
    # once each, and nothing else.
    assert d.sim.expect("order")["order"] == "20131008-5.1"
    d.venue(op="fill", venue="ARCX", cl_ord_id="20131008-5.1", qty=1, px=1_700_000)
    got_until(clearing, lambda m: m.get("11") == "A5")
    _check_once(_received(clearing), [r.exec_id for r in _reports(
        [m for _src, _seq, m in stream(stack.day)]) if r.exec_type == "trade"], "CLEARING")


def test_a_venue_gateway_restart_sends_no_child_twice_and_loses_no_fill(
        stack: Stack, tmp_path: Path) -> None:
    d = Day(stack, tmp_path)
    d.start()
    alpha = d.client("ALPHA", "4.4")
    for cl in ("B1", "B2"):
        send(alpha, **_order(cl))
    orders = [d.sim.expect("order")["order"] for _ in range(2)]
    assert orders == ["20131008-1.1", "20131008-2.1"]
    d.venue(op="fill", venue="ARCX", cl_ord_id=orders[0], qty=50, px=1_700_000)
    got_until(alpha, lambda m: m.get("11") == "B1" and m.get("150") == "F")

    # Killed in the middle of orders: B3's child may or may not have gone out.
    send(alpha, **_order("B3"))
    d.venue_gw.kill9()
    # While it is down: a new order's child waits on the stream, and the venue fills
    # B2 (its report waits in the venue's FIX store for the gateway's resend request).
    send(alpha, **_order("B4"))
    d.venue(op="fill", venue="ARCX", cl_ord_id=orders[1], qty=100, px=1_699_900)
    wait_stream(stack.day, lambda ms: any(isinstance(m, ExecutionReport) and m.cl_ord_id == "B4"
                                          for m in ms), "B4 accepted by the OMS")

    d.start_venue_gw()
    # B2's fill, sent by the venue while the gateway was down, reaches the client.
    fill = got_until(alpha, lambda m: m.get("11") == "B2" and m.get("150") == "F", timeout=30)
    assert (fill["32"], fill["39"]) == ("100", "2")
    seen = {orders[0], orders[1]}
    while len(seen) < 4:
        o = d.sim.expect("order", timeout=30)["order"]
        assert o not in seen, f"child {o} sent to the venue twice"
        seen.add(o)
    assert seen == {f"20131008-{i}.1" for i in range(1, 5)}
    d.venue(op="fill", venue="ARCX", cl_ord_id="20131008-3.1", qty=100, px=1_700_000)
    got_until(alpha, lambda m: m.get("11") == "B3" and m.get("150") == "F")
    # A fill the venue sends again (as after a crash of ours between publishing it
    # and QuickFIX counting it received) reaches the stream once.
    d.venue(op="fill", venue="ARCX", cl_ord_id="20131008-4.1", qty=40, px=1_700_000)
    assert got_until(alpha, lambda m: m.get("11") == "B4" and m.get("150") == "F")["32"] == "40"
    again = wait_stream(stack.day, lambda ms: [m.exec_id for m in ms if isinstance(m, VenueFill)
                                               and m.child_id == "20131008-4.1"], "B4's fill")
    d.venue(op="fill", venue="ARCX", cl_ord_id="20131008-4.1", qty=40, px=1_700_000,
            exec_id=again[0])
    d.venue(op="fill", venue="ARCX", cl_ord_id="20131008-4.1", qty=20, px=1_700_000)
    last = got_until(alpha, lambda m: m.get("11") == "B4" and m.get("150") == "F")
    assert (last["32"], last["14"]) == ("20", "60")

    msgs = [m for _src, _seq, m in stream(stack.day)]
    assert not [m for m in msgs if isinstance(m, VenueReject)]
    acks = Counter(m.child_id for m in msgs if isinstance(m, VenueAck))
    assert acks == {f"20131008-{i}.1": 1 for i in range(1, 5)}, acks
    fills = Counter((m.child_id, m.exec_id) for m in msgs if isinstance(m, VenueFill))
    assert sorted(c for c, _e in fills) == sorted(
        ["20131008-1.1", "20131008-2.1", "20131008-3.1", "20131008-4.1", "20131008-4.1"])
    assert set(fills.values()) == {1}, fills
    # The venue's own record: each child's NewOrderSingle arrived once, apart from
    # QuickFIX's PossDup resends.
    log = "".join(f.read_text(errors="replace") for f in sorted(
        (tmp_path / "sim" / "log").glob("*ARCX*messages*")))
    new_orders = [read(line.split(" : ", 1)[1]) for line in log.splitlines()
                  if "\x0135=D\x01" in line]
    children = {f"20131008-{i}.1" for i in range(1, 5)}
    assert set(Counter(f["11"] for f in new_orders)) == children
    firsts = Counter(f["11"] for f in new_orders if f.get("43") != "Y")
    assert set(firsts.values()) <= {1}, firsts
