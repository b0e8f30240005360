"""The blotter's model: a day built on the stream kit (the real OMS), folded into rows.

Checked against what the day holds by construction, and against a naive refold
(every order's fills summed from its executions, the market's VWAP over an
order's life recomputed from the prints)."""

from __future__ import annotations

from pathlib import Path

import pytest

from blotter.model import SECOND_NS, Model, names_from_refdata
from blotter.server import Timeline
from sequencer import sources
from sequencer.journal import read_all
from sequencer.messages.admin import CancelParent, EngageKillSwitch
from sequencer.messages.executions import ClientSessionStatus, VenueStatus
from sequencer.messages.marketdata import REGULAR_WAY
from sequencer.messages.orders import NewOrder
from tests.oms.fixtures import SECOND
from tests.post_trade.daykit import MIN, KitDay, planted_day


def fold(day: Path, until: int | None = None, stale_s: float = 5.0) -> Model:
    t = Timeline(day, stale_s, until)
    t.pump_all()
    t.close()
    return t.model


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    day = tmp_path_factory.mktemp("planted")
    _kit, facts = planted_day(day)
    return day, facts


def test_parents_children_and_executions(planted: tuple[Path, object]) -> None:
    day, f = planted
    m = fold(day)
    parents, children = m.tables["parents"], m.tables["children"]
    buy = parents[f.orders["A-BUY"]]  # type: ignore[attr-defined]  # Facts
    assert (buy.client, buy.symbol, buy.side, buy.qty, buy.algo) == ("ALPHA", "IBM", "buy",
                                                                   1_000, "vwap")
    assert (buy.status, buy.filled, buy.leaves, buy.children) == ("filled", 1_000, 0, 2)
    assert buy.avg_px == pytest.approx((500 * 182.0 + 500 * 182.1) / 1_000)
    assert buy.limit_px == 183.0
    beta = parents[f.orders["B-1"]]  # type: ignore[attr-defined]
    assert beta.status == "canceled" and beta.qty == 1_500 and beta.cl_ord_id == "B-3"
    assert children["C4"].status in ("canceled", "partially_filled", "filled")
    assert [e.kind for e in m.child_events("C1")] == ["sent", "ack", "fill"]
    assert children["C1"].venue_order_id == "VC1" and children["C1"].avg_px == 182.0
    # naive refold: each order's client fills add up to its filled quantity
    for p in parents.values():
        fills = [e for e in m.tables["executions"].values()
                 if e.kind == "client" and e.order_id == p.id]
        assert sum(e.qty for e in fills) == p.filled, p.id
    venue = [e for e in m.tables["executions"].values() if e.kind == "venue"]
    assert len(venue) == f.venue_fills  # type: ignore[attr-defined]
    assert m.stopped and m.date == "2013-10-08"


def test_alerts_say_what_happened(planted: tuple[Path, object]) -> None:
    day, _f = planted
    m = fold(day)
    texts = [(a.severity, a.text) for a in m.tables["alerts"].values()]
    assert ("CRITICAL", "planted critical alert") in texts
    assert any(s == "INFO" and "stopped" in t for s, t in texts)


def test_market_health_stale_crossed_locked(tmp_path: Path) -> None:
    d = KitDay(tmp_path)
    d.quote(181_9000, 182_0000)
    d.flush()
    m = fold(tmp_path, stale_s=2.0)
    ibm = m.tables["market"]["IBM"]
    assert (ibm.bid, ibm.ask, ibm.state, ibm.stale) == (181.9, 182.0, "ok", False)
    d.quote(182_0000, 182_0000)
    d.flush()
    assert fold(tmp_path).tables["market"]["IBM"].state == "locked"
    d.quote(182_1000, 182_0000)
    d.at(d.now + 3 * SECOND)
    d.advance(0)
    d.flush()
    m = fold(tmp_path, stale_s=2.0)
    ibm = m.tables["market"]["IBM"]
    assert ibm.stale and ibm.state == "stale" and ibm.quote_age_s >= 3.0
    m = fold(tmp_path, stale_s=10.0)
    assert m.tables["market"]["IBM"].state == "crossed"
    d.finish()


def test_slippage_against_interval_vwap_recomputed_naively(tmp_path: Path) -> None:
    d = KitDay(tmp_path)
    d.print_(181_0000, 1_000)  # a minute before the order: not in its interval
    d.at(d.now + MIN)
    d.quote(181_9000, 182_0000)
    oid = d.order("ALPHA", "S-1", "buy", 1_000, 183_0000)
    prints = [(182_0000, 300), (182_2000, 500), (181_8000, 200)]
    for px, size in prints:
        d.at(d.now + MIN)
        d.print_(px, size)
    d.child(oid, "K1", 400)
    d.fill("K1", 400, 182_1000)
    d.print_(181_9000, 100, flags=0)  # not regular way: not in the VWAP
    d.flush()
    m = fold(tmp_path)
    p = m.tables["parents"][oid]
    ivwap = sum(px * s for px, s in prints) / sum(s for _, s in prints) / 10_000
    assert p.ivwap == pytest.approx(ivwap, abs=1e-4)
    assert p.slippage_bps == pytest.approx((182.1 - ivwap) / ivwap * 10_000, abs=0.01)
    chart = m.chart(oid)
    assert chart is not None and [f["qty"] for f in chart["fills"]] == [400]
    assert sum(b["volume"] for b in chart["buckets"]) == sum(s for _, s in prints)
    d.finish()


def test_changes_hand_each_row_once_in_its_last_state(tmp_path: Path) -> None:
    d = KitDay(tmp_path)
    oid = d.order("ALPHA", "B-1", "buy", 1_000, 183_0000)
    d.child(oid, "K1", 1_000)
    for _ in range(10):
        d.fill("K1", 100, 182_0000)
    d.flush()
    m = Model(refdata_loader=names_from_refdata(tmp_path))
    raws = [r for r in _raw(tmp_path)]
    m.take(raws[:5])
    m.changes()
    m.take(raws[5:])
    ch = m.changes()
    assert [p.id for p in ch["parents"]] == [oid]  # ten fills, one row
    assert ch["parents"][0].filled == 1_000 and ch["parents"][0].status == "filled"
    assert [c.id for c in ch["children"]] == ["K1"]
    assert len(ch["executions"]) == 20  # every fill is a row of its own, venue and client
    assert m.changes() == {}  # handed over once
    d.finish()


def test_sessions_and_admin_commands_name_their_user(tmp_path: Path) -> None:
    d = KitDay(tmp_path)
    oid = d.order("ALPHA", "B-1", "buy", 1_000, 183_0000)
    d.send(VenueStatus(destination="DMA-XNYS", venue="XNYS", status="down", reason="logout"),
           sources.VENUE_GATEWAY)
    d.send(ClientSessionStatus(client="ALPHA", session="FIX.4.2:TAPE->ALPHA", status="up"),
           sources.CLIENT_GATEWAY)
    d.send(CancelParent(order_id=oid, reason="fat finger", user="alice"), sources.BLOTTER)
    d.send(EngageKillSwitch(scope="client", value="BETA", user="bob"), sources.BLOTTER)
    d.send(NewOrder(client="ALPHA", cl_ord_id="B-1", symbol="IBM", side="buy", qty=100,
                    ord_type="limit", limit_px=182_0000, algo="vwap"), sources.CLIENT_GATEWAY)
    d.flush()
    m = fold(tmp_path)
    s = m.tables["sessions"]
    assert s["venue:DMA-XNYS"].status == "down" and s["client:FIX.4.2:TAPE->ALPHA"].status == "up"
    texts = [a.text for a in m.tables["alerts"].values()]
    assert any("Session down" in t and "XNYS" in t for t in texts)
    assert any(t.startswith("CancelParent") and "(by alice)" in t for t in texts)
    assert any(f"order {oid}" in t and "cancelled by alice" in t for t in texts)  # the OMS's
    assert any("kill switch engaged for client BETA by bob" in t for t in texts)
    assert any(t.startswith("Order Rejected") for t in texts)  # the duplicate ClOrdID
    assert m.tables["parents"][oid].status == "canceled"
    d.finish()


def test_at_seq_is_the_day_as_it_stood(planted: tuple[Path, object]) -> None:
    day, f = planted
    whole = fold(day)
    buy = whole.tables["parents"][f.orders["A-BUY"]]  # type: ignore[attr-defined]
    first_fill = min(e.seq for e in whole.tables["executions"].values()
                     if e.order_id == buy.id)
    before = fold(day, until=first_fill - 1)
    assert before.seq == first_fill - 1
    assert before.tables["parents"][buy.id].filled == 0
    assert fold(day, until=first_fill).tables["executions"]


def test_trades_without_names_are_ignored_and_no_wall_clock() -> None:
    m = Model()
    from sequencer.messages.marketdata import Trade

    m.apply(1, 5 * SECOND_NS, Trade(symbol_id=99, venue="X", price=1, size=1, exch_time_ns=0,
                                    flags=REGULAR_WAY))
    assert m.tables["market"] == {} and m.ts == 5 * SECOND_NS


def _raw(day: Path) -> list[bytes]:
    from sequencer.journal import JournalReader

    with JournalReader(day / "journal") as r:
        out: list[bytes] = []
        while True:
            b = r.read_raw()
            if not b:
                return out
            out += b


__all__ = ["read_all"]
