"""The backtest quality report, on a hand-made journal with hand-computed figures.

The day: symbol AAA (id 7) trades, in stream time,

    T0 - 1 min   400 @  9.80   regular way          before every window
    T0           500 @  9.90   opening print        counts only for an opening-auction window
    T0 + 3 min   600 @ 10.00   regular way
    T0 + 5 min  5000 @ 20.00   suspicious           never counts (not regular way)
    T0 + 9 min   600 @ 10.20   regular way
    T0 + 10m5s  3000 @ 10.50   closing print        after the windows' end; closing windows only
    T0 + 11 min 1000 @ 11.00   regular way          after every window

and symbol BBB (id 8) prints 1000 @ 50.00 at T0 + 4 min (another symbol: never counts).
Our own fills are prints too (every order's, as a real tape shows them): 800 shares in
AAA between T0 + 3 min 1 s and T0 + 9 min 1 s, for 8,080.00 (an average of 10.10).
The VWAP orders' window is [T0, T0 + 10 min): so the plain window's prints are the two
regular ones and ours, 2,000 shares at a VWAP of (6,000 + 6,120 + 8,080) / 2,000 = 10.10.
(Since our prints count, the market's regular prints are 600 shares each, not 1,000 as
before, and the care order fills at 10.20: so every figure the table test in
tests/test_tables.py reads stayed what it was.)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from pathlib import Path

import msgspec
import pytest

from post_trade.quality import (
    BacktestReport,
    build_report,
    plot_orders,
    render,
    summary_line,
)
from sequencer import sources
from sequencer.kit import StreamKit
from sequencer.messages import Message
from sequencer.messages.control import SystemStart, SystemStop
from sequencer.messages.executions import VenueFill
from sequencer.messages.marketdata import (
    CLOSING_PRINT,
    OPENING_PRINT,
    PRICE_SCALE,
    REGULAR_WAY,
    SUSPICIOUS,
    Trade,
)
from sequencer.messages.orders import (
    AlgoDecision,
    ChildOrderSent,
    ParentAccepted,
    ParentDone,
    Side,
)
from tests.marketdata.refdata_fixture import make_refdata

T0 = 1_710_509_400_000_000_000  # 2024-03-15 09:30:00 America/New_York
S = 1_000_000_000
MIN = 60 * S
AAA, BBB = 7, 8
NAMES = {AAA: "AAA", BBB: "BBB"}
PNG = b"\x89PNG\r\n\x1a\n"


def px(dollars: str) -> int:
    whole, _, frac = dollars.partition(".")
    return int(whole) * PRICE_SCALE + int((frac + "0000")[:4])


def trade(sym: int, price: str, size: int, flags: int, conditions: str = "") -> Trade:
    return Trade(symbol_id=sym, venue="XNYS", price=px(price), size=size,
                 exch_time_ns=0, flags=flags, conditions=conditions)


def accepted(oid: str, side: Side, qty: int, algo: str = "vwap",
             params: tuple[tuple[str, str], ...] = ()) -> ParentAccepted:
    return ParentAccepted(order_id=oid, client="C1", cl_ord_id=f"cl-{oid}", symbol="AAA",
                          side=side, qty=qty, ord_type="market", limit_px=0, tif="day",
                          algo=algo, algo_params=params)


def child(oid: str, cid: str, side: Side, qty: int) -> ChildOrderSent:
    return ChildOrderSent(action="new", parent_id=oid, child_id=cid, venue="XNYS",
                          destination="XNYS-1", symbol="AAA", side=side, qty=qty,
                          ord_type="limit", limit_px=px("10.00"))


def fill(cid: str, eid: str, qty: int, price: str, liq: str) -> VenueFill:
    return VenueFill(child_id=cid, exec_id=eid, qty=qty, px=px(price),
                     liquidity=liq)  # type: ignore[arg-type]  # a Literal, checked by msgspec


def schedule(oid: str, start: int, end: int, qty: int, text: str = "") -> AlgoDecision:
    return AlgoDecision(order_id=oid, kind="schedule", start_ns=start, end_ns=end,
                        target_qty=qty, scheduled_qty=qty, text=f"2 intervals{text}")


def interval(oid: str, start: int, end: int, target: int, sched: int) -> AlgoDecision:
    return AlgoDecision(order_id=oid, kind="interval", start_ns=start, end_ns=end,
                        target_qty=target, scheduled_qty=sched)


def write_day(day: Path, timeline: list[tuple[int, Message]], refdata_digest: str = "") -> Path:
    """A day folder whose journal holds `timeline` (stream time, message) in time order."""
    start = SystemStart(session_date=dt.date(2024, 3, 15), seed=1, config_digest="test",
                        time_mode="sim", refdata_digest=refdata_digest)
    frames: list[tuple[int, Message]] = [(T0 - 30 * MIN, start)]
    frames += sorted(timeline, key=lambda e: e[0])  # stable: same-time frames keep order
    frames.append((frames[-1][0], SystemStop(reason="end of day")))
    kit = StreamKit(journal=day / "journal")
    for ts, m in frames:
        kit.send(m, sources.publisher(type(m)), at_ns=ts)
    kit.close()
    return day


def the_day() -> list[tuple[int, Message]]:
    return [
        # The market.
        (T0 - 1 * MIN, trade(AAA, "9.80", 400, REGULAR_WAY)),
        (T0, trade(AAA, "9.90", 500, REGULAR_WAY | OPENING_PRINT)),
        (T0 + 3 * MIN, trade(AAA, "10.00", 600, REGULAR_WAY)),
        (T0 + 4 * MIN, trade(BBB, "50.00", 1000, REGULAR_WAY)),
        (T0 + 5 * MIN, trade(AAA, "20.00", 5000, SUSPICIOUS)),
        # Regular way, but of the sale conditions VWAP practice leaves out (a stock-option
        # trade, an average-price one): in no benchmark, or every VWAP below moves.
        (T0 + 6 * MIN, trade(AAA, "30.00", 2000, REGULAR_WAY, conditions="40000")),
        (T0 + 7 * MIN, trade(AAA, "5.00", 2000, REGULAR_WAY, conditions="100001")),
        (T0 + 9 * MIN, trade(AAA, "10.20", 600, REGULAR_WAY)),
        (T0 + 10 * MIN + 5 * S, trade(AAA, "10.50", 3000, REGULAR_WAY | CLOSING_PRINT)),
        (T0 + 11 * MIN, trade(AAA, "11.00", 1000, REGULAR_WAY)),
        # O1, a VWAP buy of 300. Re-planned once: the window is the first schedule's
        # start to the last one's end, [T0, T0 + 10 min).
        (T0 - 10 * MIN, accepted("O1", "buy", 300)),
        (T0 - 10 * MIN, schedule("O1", T0, T0 + 8 * MIN, 300)),
        (T0, interval("O1", T0, T0 + 5 * MIN, 150, 300)),
        (T0 + 2 * MIN, schedule("O1", T0 + 2 * MIN, T0 + 10 * MIN, 300)),
        (T0 + 2 * MIN, child("O1", "C1", "buy", 300)),
        (T0 + 3 * MIN + S, fill("C1", "E1", 100, "10.00", "added")),
        (T0 + 5 * MIN, interval("O1", T0 + 5 * MIN, T0 + 10 * MIN, 300, 300)),
        (T0 + 9 * MIN + S, fill("C1", "E2", 200, "10.10", "removed")),
        (T0 + 10 * MIN, ParentDone(order_id="O1", ord_status="filled", cum_qty=300)),
        # O2, a VWAP sell of 300, the same fills; the venue repeats E3 (counted once).
        (T0 - 10 * MIN, accepted("O2", "sell", 300)),
        (T0 - 10 * MIN, schedule("O2", T0, T0 + 10 * MIN, 300)),
        (T0 + 1 * MIN, child("O2", "C2", "sell", 300)),
        (T0 + 3 * MIN + S, fill("C2", "E3", 100, "10.00", "added")),
        (T0 + 3 * MIN + 2 * S, fill("C2", "E3", 100, "10.00", "added")),
        (T0 + 9 * MIN + S, fill("C2", "E4", 200, "10.10", "removed")),
        (T0 + 10 * MIN, ParentDone(order_id="O2", ord_status="filled", cum_qty=300)),
        # O3, need-not-complete with both auctions, never filled: no slippage.
        (T0 - 10 * MIN, accepted("ORD 3/A", "buy", 500, params=(("must_complete", "N"),))),
        (T0 - 10 * MIN, schedule("ORD 3/A", T0, T0 + 10 * MIN, 500,
                                 ", opening auction, closing auction, need not complete")),
        # O4, DMA: measured from its acceptance to its end, [T0 + 1 min, T0 + 9 min 2 s).
        (T0 + 1 * MIN, accepted("O4", "buy", 100, "dma", (("venue", "XNYS"),))),
        (T0 + 1 * MIN, child("O4", "C4", "buy", 100)),
        (T0 + 9 * MIN + S, fill("C4", "E5", 100, "10.20", "removed")),
        (T0 + 9 * MIN + 2 * S, ParentDone(order_id="O4", ord_status="filled", cum_qty=100)),
        # O5 arrives mid-minute, after the 10.00 print; its plan starts at the minute.
        (T0 + 3 * MIN + S // 2, accepted("O5", "buy", 100)),
        (T0 + 3 * MIN + S // 2, schedule("O5", T0 + 3 * MIN, T0 + 10 * MIN, 100)),
        # A care order (no algo): not in the report; its fill is one of our prints.
        (T0 - 10 * MIN, accepted("CARE", "buy", 100, "")),
        (T0 + 1 * MIN, child("CARE", "C9", "buy", 100)),
        (T0 + 3 * MIN + S, fill("C9", "E9", 100, "10.20", "added")),
        # A fill for a child nobody sent: ignored.
        (T0 + 3 * MIN + S, fill("C404", "E404", 100, "10.00", "added")),
    ]


@pytest.fixture
def report(tmp_path: Path) -> BacktestReport:
    return build_report(write_day(tmp_path / "day", the_day()), names=NAMES)


def test_a_buy_against_its_interval_vwap(report: BacktestReport) -> None:
    r = {x.order_id: x for x in report.results}["O1"]
    assert (r.window_start_ns, r.window_end_ns) == (T0, T0 + 10 * MIN)
    assert not r.opening_auction and not r.closing_auction
    assert (r.qty, r.done_qty, r.scheduled_qty, r.children) == (300, 300, 300, 1)
    assert r.complete and r.must_complete and r.final_status == "filled"
    # avg = (100 x 10.00 + 200 x 10.10) / 300 = 3,020 / 300 = 10.0667
    assert r.avg_px == pytest.approx(3020 / 300)
    # The opening print (no opening auction), the suspicious print, the prints outside
    # the window and BBB's are all left out; the two regular prints (1,200 shares) and
    # our 800 count: 2,000 shares at 10.10.
    assert r.market_volume == 2000 and r.own_volume == 800
    assert r.market_vwap == pytest.approx(10.10)
    # (avg - vwap) / vwap = (3,020/300 - 10.1) / 10.1 = -(1/30) / 10.1 = -1/303,
    # x 10,000 = -33.0033 bps: bought better than the market, a negative cost.
    assert r.slippage_bps == pytest.approx(-10_000 / 303, rel=1e-12)
    # 300 / (1,200 + 800): our own volume is in the denominator (it was not before;
    # the market's prints were made smaller so that the figure stays 15%).
    assert r.participation == pytest.approx(0.15)
    assert r.passive_share == pytest.approx(1 / 3)  # 100 of 300 added liquidity
    assert r.auction_share == 0
    assert r.decisions == {"interval": 2, "schedule": 2}
    assert [(t.end_ns, t.target_qty) for t in r.targets] == [
        (T0 + 5 * MIN, 150), (T0 + 10 * MIN, 300)]


def test_a_sell_has_the_opposite_sign_and_a_repeated_fill_counts_once(
        report: BacktestReport) -> None:
    r = {x.order_id: x for x in report.results}["O2"]
    assert r.done_qty == 300  # E3 twice: 100 once
    assert len(r.fills) == 2
    assert r.avg_px == pytest.approx(3020 / 300)
    assert r.market_vwap == pytest.approx(10.10)
    # (vwap - avg) / vwap = +1/303: sold below the market's VWAP, a cost.
    assert r.slippage_bps == pytest.approx(10_000 / 303, rel=1e-12)
    assert r.passive_share == pytest.approx(1 / 3)


def test_an_order_without_fills_has_no_slippage_and_counts_its_auctions(
        report: BacktestReport) -> None:
    r = {x.order_id: x for x in report.results}["ORD 3/A"]
    assert r.done_qty == 0 and r.children == 0
    assert r.avg_px is None and r.slippage_bps is None
    assert r.passive_share is None and r.auction_share is None
    assert not r.must_complete and not r.complete and r.final_status == "working"
    assert r.opening_auction and r.closing_auction
    # The opening print (at the window's start) and the closing print (after its end)
    # join the two regular ones and ours: 500 + 1,200 + 800 + 3,000 = 5,500 shares,
    # (4,950 + 6,000 + 6,120 + 8,080 + 31,500) / 5,500 = 56,650 / 5,500 = 10.30.
    assert r.market_volume == 5500
    assert r.market_vwap == pytest.approx(10.30)
    assert r.participation == 0


def test_a_dma_order_is_measured_from_acceptance_to_its_end(report: BacktestReport) -> None:
    r = {x.order_id: x for x in report.results}["O4"]
    assert (r.window_start_ns, r.window_end_ns) == (T0 + 1 * MIN, T0 + 9 * MIN + 2 * S)
    assert r.params == {"venue": "XNYS"} and r.decisions == {}
    assert r.scheduled_qty == 100  # no schedule: the order's quantity
    assert r.market_volume == 2000 and r.market_vwap == pytest.approx(10.10)
    # (10.20 - 10.10) / 10.10 = 1/101 -> +99.0099 bps
    assert r.slippage_bps == pytest.approx(10_000 / 101, rel=1e-12)
    assert r.participation == pytest.approx(0.05)
    assert r.passive_share == 0


def test_the_window_starts_no_earlier_than_the_order(report: BacktestReport) -> None:
    r = {x.order_id: x for x in report.results}["O5"]
    assert (r.window_start_ns, r.window_end_ns) == (T0 + 3 * MIN + S // 2, T0 + 10 * MIN)
    # The 10.00 print is before it; the 10.20 one and all 800 of our shares are in:
    # (6,120 + 8,080) / 1,400. (Without our prints it was 1,000 @ 10.20.)
    assert r.market_volume == 1400 and r.market_vwap == pytest.approx(14_200 / 1400)
    assert not r.complete and r.final_status == "working" and r.slippage_bps is None


def test_only_algo_orders_are_reported(report: BacktestReport) -> None:
    assert [r.order_id for r in report.results] == ["O1", "O2", "ORD 3/A", "O4", "O5"]


def test_summary_figures(report: BacktestReport) -> None:
    assert report.orders == 5
    assert report.filled_orders == 3
    assert report.must_complete == 4  # O1, O2, the DMA and O5 (the default is Y)
    assert report.complete_must_complete == 3  # not O5
    # Slippages -1/303, +1/303 and +1/101 (x 10,000); the unfilled orders have none.
    # mean |s| = (10,000/303 x 2 + 30,000/303) / 3 = 50,000/909 = 55.0055
    assert report.mean_abs_slippage_bps == pytest.approx(50_000 / 909, rel=1e-12)
    assert report.max_abs_slippage_bps == pytest.approx(10_000 / 101, rel=1e-12)
    assert report.mean_slippage_bps == pytest.approx(10_000 / 303, rel=1e-12)
    d = json.loads(json.dumps(report.as_dict(), allow_nan=False))
    assert d["summary"]["orders"] == 5
    assert d["summary"]["mean_abs_slippage_bps"] == pytest.approx(50_000 / 909)
    o1 = d["orders"][0]
    assert o1["participation_pct"] == pytest.approx(15.0)
    assert o1["avg_px_usd"] == pytest.approx(3020 / 300)
    assert d["orders"][2]["slippage_bps"] is None


def test_no_orders_no_figures(tmp_path: Path) -> None:
    day = write_day(tmp_path / "day", [(T0, trade(AAA, "10.00", 100, REGULAR_WAY))])
    rep = build_report(day, names=NAMES)
    assert rep.results == ()
    assert rep.mean_abs_slippage_bps is None and rep.max_abs_slippage_bps is None
    assert "0 algo orders" in summary_line(rep)


def test_table_and_summary_line(report: BacktestReport) -> None:
    table = render(report)
    assert table.row_count == 5
    line = summary_line(report)
    assert "must-complete done 3/4" in line and "55.01" in line and "99.01" in line


def test_one_png_per_order(report: BacktestReport, tmp_path: Path) -> None:
    paths = plot_orders(report, report.day, tmp_path / "plots")
    assert [p.name for p in paths] == ["O1.png", "O2.png", "ORD_3_A.png", "O4.png", "O5.png"]
    for p in paths:
        assert p.read_bytes()[:8] == PNG and p.stat().st_size > 10_000
    # A report that kept no prints has them read again from the day's journal.
    bare = dataclasses.replace(report, prints={})
    again = plot_orders(bare, report.day, tmp_path / "again")
    assert [p.read_bytes()[:8] for p in again] == [PNG] * 5


def write_refdata(day: Path) -> str:
    """`DAY/refdata` as a build leaves it (the set and its manifest); its digest."""
    data = make_refdata(dt.date(2024, 3, 15), ("AAA", "BBB")).data  # AAA is 1, BBB 2
    blob = msgspec.json.encode(data)
    digest = hashlib.sha256(blob).hexdigest()
    (day / "refdata").mkdir(parents=True)
    (day / "refdata" / "refdata.json").write_bytes(blob)
    (day / "refdata" / "manifest.json").write_text(json.dumps(
        {"format": 1, "digest": digest, "session_date": "2024-03-15"}))
    return digest


def test_symbols_are_named_by_the_days_ref_data(tmp_path: Path) -> None:
    day = tmp_path / "day"
    digest = write_refdata(day)
    write_day(day, [
        (T0 - MIN, accepted("O1", "buy", 100)),
        (T0 - MIN, schedule("O1", T0, T0 + 10 * MIN, 100)),
        (T0 + MIN, child("O1", "C1", "buy", 100)),
        (T0 + 2 * MIN, trade(1, "10.00", 400, REGULAR_WAY)),  # AAA
        (T0 + 2 * MIN, trade(2, "50.00", 400, REGULAR_WAY)),  # BBB
        (T0 + 2 * MIN + S, fill("C1", "E1", 100, "10.05", "removed")),
    ], refdata_digest=digest)
    (r,) = build_report(day).results
    # The market's 400 @ 10.00 and our own 100 @ 10.05: 5,005 / 500 = 10.01.
    assert r.symbol_id == 1 and r.market_volume == 500
    assert r.slippage_bps == pytest.approx(10_000 * 0.04 / 10.01)
    # Without our prints: bought at 10.05 against 10.00. Participation counts ours
    # in its denominator either way: 100 / 500.
    (x,) = build_report(day, own_prints=False).results
    assert x.market_volume == 400 and x.slippage_bps == pytest.approx(50.0)
    assert r.participation == x.participation == pytest.approx(0.2)
