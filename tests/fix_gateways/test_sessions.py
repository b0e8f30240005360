"""Session-level behaviour of the FIX gateways, all real processes: a CompID the
config does not know cannot log on (and does no harm); a venue that goes away
becomes `VenueStatus` down on the stream, routing avoids it, and the venue
gateway's QuickFIX session comes back by itself when the venue does."""

from __future__ import annotations

from pathlib import Path

import pytest

from sequencer.messages import Message
from sequencer.messages.control import Alert
from sequencer.messages.executions import ClientSessionStatus, VenueStatus
from sequencer.messages.orders import ChildOrderSent, ChildRequestRejected
from tests.conftest import Proc, Stack
from tests.fix_gateways.day import ER, Day, got, got_until, pick, send, stream, wait_stream
from tests.sequencer.runtime.conftest import wait_for

pytestmark = pytest.mark.slow


def _events(p: Proc) -> str:
    """What a client's QuickFIX event log says."""
    root = Path(p.argv[p.argv.index("--root") + 1])
    return "\n".join(f.read_text(errors="replace")
                     for f in sorted((root / "log").glob("*event*")))


def _printed(p: Proc) -> list[dict[str, object]]:
    while not p.messages.empty():
        p.history.append(p.messages.get_nowait())
    return list(p.history)


def _order(cl: str, venue: str) -> dict[str, str]:
    return {"35": "D", "11": cl, "55": "IBM", "54": "1", "38": "100", "40": "2", "44": "170",
            "59": "0", "60": "20131008-13:30:00.000", "7000": "DMA", "7010": venue}


def test_an_unknown_comp_id_cannot_log_on(stack: Stack, tmp_path: Path) -> None:
    d = Day(stack, tmp_path)
    d.start()
    # GAMMA is no session of fix.toml: QuickFIX drops the connection at its logon,
    # again at every retry (ReconnectInterval=1).
    gamma = d.client("GAMMA", "4.4", logon=False)

    def cut_off_twice() -> bool:
        assert not any("logon" in m for m in _printed(gamma)), "GAMMA logged on"
        return _events(gamma).count("Disconnecting") >= 2

    wait_for(cut_off_twice, "GAMMA to be cut off twice", 30, lambda: _events(gamma))
    events = _events(gamma)
    assert "Initiated logon request" in events and "Received logon" not in events, events
    # It is the gateway's QuickFIX that knows no such session.
    gw_log = (stack.day / "fix" / "client" / "log" / "GLOBAL.event.current.log").read_text()
    assert "Session not found for incoming message" in gw_log and "49=GAMMA" in gw_log, gw_log
    assert gamma.alive() and d.client_gw.alive(), d.client_gw.describe()
    # A known client still logs on, on the same port, and trades.
    alpha = d.client("ALPHA", "4.4")
    send(alpha, **_order("A1", "ARCX"))
    assert pick(got(alpha), *ER) == ("8", "0", "0", "A1", "", "100", "0", "100", "", "", "0")
    assert not any("logon" in m for m in _printed(gamma))
    seen = [m for _src, _seq, m in stream(stack.day) if isinstance(m, ClientSessionStatus)]
    assert [(m.client, m.status) for m in seen] == [("ALPHA", "up")]


def _statuses(msgs: list[Message]) -> list[tuple[str, str]]:
    return [(m.destination, m.status) for m in msgs if isinstance(m, VenueStatus)]


def _alerts(msgs: list[Message], code: str) -> list[Alert]:
    return [m for m in msgs if isinstance(m, Alert) and m.code == code]


BOTH = {"DMA-ARCX", "DMA-XNYS"}


def test_a_lost_venue_is_avoided_and_its_session_comes_back_by_itself(
        stack: Stack, tmp_path: Path) -> None:
    d = Day(stack, tmp_path)
    d.start()
    wait_stream(stack.day, lambda ms: {dest for dest, st in _statuses(ms) if st == "up"} == BOTH,
                "both venue sessions up")
    alpha = d.client("ALPHA", "4.4")
    send(alpha, **_order("A1", "ARCX"))
    assert got(alpha)["150"] == "0"
    assert d.sim.expect("order")["order"] == "20131008-1.1"
    venue_gw_pid = d.venue_gw.pid

    # The venue goes away: its sessions go down on the stream and the OMS alerts.
    d.sim.kill9()
    msgs = wait_stream(stack.day, lambda ms: ms if len(_alerts(ms, "destination_down")) == 2
                       else None, "the OMS's destination_down alerts")
    downs = [m for m in msgs if isinstance(m, VenueStatus) and m.status == "down"]
    assert {(m.destination, m.venue) for m in downs} == {("DMA-ARCX", "ARCX"),
                                                          ("DMA-XNYS", "XNYS")}
    assert len(downs) == 2, _statuses(msgs)
    assert {a.text.split()[1] for a in _alerts(msgs, "destination_down")} == BOTH

    # ARCX has no other destination: the child is refused. XNYS has another
    # (BROKER-XNYS): the child is routed there.
    send(alpha, **_order("A2", "ARCX"))
    send(alpha, **_order("A3", "XNYS"))
    msgs = wait_stream(stack.day, lambda ms: ms if any(
        isinstance(m, ChildOrderSent) and m.child_id == "20131008-3.1" for m in ms) else None,
        "the XNYS child")
    refused = [m for m in msgs if isinstance(m, ChildRequestRejected)]
    assert [(m.child_id, m.reason) for m in refused] == [
        ("20131008-2.1", "venue ARCX is down: no destination to it is up")]
    sent = {m.child_id: m.destination for m in msgs if isinstance(m, ChildOrderSent)}
    assert sent == {"20131008-1.1": "DMA-ARCX", "20131008-3.1": "BROKER-XNYS"}

    # The venue comes back on the same port: the gateway's sessions log on again by
    # themselves (ReconnectInterval), the same process all along.
    d.start_sim()
    msgs = wait_stream(stack.day, lambda ms: ms if len(_alerts(ms, "destination_up")) == 2
                       else None, "the OMS's destination_up alerts")
    statuses = _statuses(msgs)
    assert [set(statuses[i:i + 2]) for i in (0, 2, 4)] == [
        {(dest, "up") for dest in BOTH}, {(dest, "down") for dest in BOTH},
        {(dest, "up") for dest in BOTH}] and len(statuses) == 6, statuses
    assert d.venue_gw.alive() and d.venue_gw.pid == venue_gw_pid

    # A new order reaches the venue and fills. (The venue, killed, may have lost A1's
    # order before its FIX store counted it received: the gateway then resends it,
    # flagged PossDup, as FIX prescribes.)
    send(alpha, **_order("A4", "ARCX"))
    while (order := d.sim.expect("order"))["order"] != "20131008-4.1":
        assert order["order"] == "20131008-1.1" and order.get("possdup") is True, order
    assert order["venue"] == "ARCX" and "possdup" not in order
    d.venue(op="fill", venue="ARCX", cl_ord_id="20131008-4.1", qty=100, px=1_700_000)
    fill = got_until(alpha, lambda m: m.get("11") == "A4" and m.get("150") == "F")
    assert pick(fill, "39", "32", "31") == ("2", "100", "170")
