"""The supervisor's activity report (post_trade.activity) on days where the answer is
known by construction: the planted day (`daykit.planted_day`) and small KitDay days of
our own for the rules the planted day leaves alone (layering, order-to-trade, marking
the close), each also read with a parameter just past the case, so the rule can fail.
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from post_trade import activity
from post_trade.activity import Flag
from post_trade.record import Config, DayRecord, read_day
from post_trade.report import ReportResult
from sequencer.messages.marketdata import CLOSING_PRINT, REGULAR_WAY
from tests.oms.fixtures import MS, SECOND
from tests.post_trade.daykit import CLOSE_NS, MIN, Facts, KitDay, planted_day

ROOT = Path(__file__).resolve().parents[2]


def flags_of(rec: DayRecord, rule: str) -> list[Flag]:
    return [f for f in activity.analyse(rec).flags if f.rule == rule]


def seq_of(rec: DayRecord, exec_id: str) -> int:
    """The seq of a venue execution or a client fill, by its exec id."""
    seqs = [e.seq for e in rec.executions if e.exec_id == exec_id]
    seqs += [f.seq for f in rec.client_fills if f.exec_id == exec_id]
    assert len(seqs) == 1, (exec_id, seqs)
    return seqs[0]


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Facts, DayRecord]:
    day = tmp_path_factory.mktemp("planted")
    _, facts = planted_day(day)
    return day, facts, read_day(day)


@pytest.fixture(scope="module")
def written(planted: tuple[Path, Facts, DayRecord], tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[Path, ReportResult]:
    out = tmp_path_factory.mktemp("activity")
    return out, activity.write(planted[2], out)


# ------------------------------------------------------------------ the planted day

def test_the_planted_trade_through_is_flagged_and_the_excused_fill_is_not(
        planted: tuple[Path, Facts, DayRecord]) -> None:
    _, facts, rec = planted
    a = activity.analyse(rec)
    tt = [f for f in a.flags if f.rule == "trade_through"]
    assert [(f.exec_id, f.order_id, f.child_id, f.seq) for f in tt] == [
        (facts.trade_through_exec, facts.orders["A-BUY"], "C2",
         seq_of(rec, facts.trade_through_exec))]
    assert "above the best offer 182.0000" in tt[0].why
    assert [f.exec_id for f in a.excused] == [facts.excused_exec]
    assert a.excused[0].order_id == facts.orders["A-SELL"]
    assert facts.excused_exec not in {f.exec_id for f in a.flags if f.rule == "trade_through"}
    assert a.no_nbbo == 0
    # without the tolerance, nothing excuses the sale below the bid
    strict = activity.analyse(read_day(planted[0], Config(trade_through_tolerance_ms=0)))
    assert {f.exec_id for f in strict.flags if f.rule == "trade_through"} == {
        facts.trade_through_exec, facts.excused_exec}
    assert strict.excused == []


def test_parent_child_mismatches_of_the_planted_day(
        planted: tuple[Path, Facts, DayRecord]) -> None:
    _, facts, rec = planted
    pc = flags_of(rec, "parent_child")
    beta, a3 = facts.orders["B-1"], facts.open_order
    # the client fill no venue fill backs: its order, its exec id, its seq
    unbacked = [f for f in pc if f.exec_id == facts.unbacked_exec]
    assert [(f.order_id, f.client, f.seq) for f in unbacked] == [
        (a3, "ALPHA", seq_of(rec, facts.unbacked_exec))]
    assert "client fills 100 shares, venue fills of its children 0" in unbacked[0].why
    # the fill on the cancelled child, and so BETA's venue fills exceed its client fills
    dead = [e for e in rec.executions if e.child_id == facts.dead_child]
    assert len(dead) == 1
    on_dead = [f for f in pc if f.child_id == facts.dead_child]
    assert {(f.order_id, f.exec_id, f.seq) for f in on_dead} == {(beta, dead[0].exec_id,
                                                                  dead[0].seq)}
    assert any("which ended (canceled)" in f.why for f in on_dead)
    assert any("venue fills of its children 100" in f.why for f in on_dead)
    # the order left open, and no end-of-day cancel ran
    open_ = [f for f in pc if "open at the end of the day" in f.why]
    assert [(f.order_id, f.seq) for f in open_] == [(a3, rec.orders[a3].received_seq)]
    assert "no end-of-day cancel" in open_[0].why
    assert len(pc) == 4  # nothing else: the filled orders add up


def test_the_planted_wash_trade_is_found_within_its_window(
        planted: tuple[Path, Facts, DayRecord]) -> None:
    day, facts, rec = planted
    buy = next(e for e in rec.executions if e.parent_id == facts.orders["A-BUY"]
               and e.px == 182_0000)
    sale = next(e for e in rec.executions if e.exec_id == facts.excused_exec)
    # the rule's boundary, whatever the kit's gap between the two fills
    gap_ms = math.ceil((sale.ts_ns - buy.ts_ns) / MS)
    inside = flags_of(read_day(day, Config(wash_window_ms=gap_ms)), "wash")
    assert [(f.client, f.order_id, f.exec_id, f.seq) for f in inside] == [
        (facts.wash_client, facts.orders["A-SELL"], sale.exec_id, sale.seq)]
    assert f"{buy.exec_id} at XNYS, order {facts.orders['A-BUY']}, seq {buy.seq}" \
        in inside[0].why
    assert flags_of(read_day(day, Config(wash_window_ms=gap_ms - 1)), "wash") == []


def test_incidents_of_the_planted_day(planted: tuple[Path, Facts, DayRecord]) -> None:
    _, _, rec = planted
    inc = flags_of(rec, "incidents")
    alerts = {i.code: i.seq for i in rec.incidents if i.kind == "alert"}
    assert [(f.severity, f.seq) for f in inc] == [("high", alerts["overfill"]),
                                                  ("high", alerts["planted"])]
    assert "planted critical alert" in inc[1].why
    assert flags_of(rec, "marking_close") == flags_of(rec, "layering") == []
    assert flags_of(rec, "order_to_trade") == []


def test_the_files_and_the_result(planted: tuple[Path, Facts, DayRecord],
                                  written: tuple[Path, ReportResult]) -> None:
    _, facts, rec = planted
    out, res = written
    assert res.name == "activity" and res.breaks == 0
    assert sorted(p.name for p in res.files) == [
        "activity.csv", "activity.html", "activity.json", "activity_by_client.csv",
        "activity_by_symbol.csv", "activity_by_venue.csv"]
    assert all(p.parent == out and p.is_file() for p in res.files)
    # 500 @ 182.00 + 500 @ 182.10 + 500 @ 182.00 + 100 @ 182.00 (the planted report)
    assert res.summary == {
        "flags": {"trade_through": 1, "parent_child": 4, "wash": 1, "marking_close": 0,
                  "layering": 0, "order_to_trade": 0, "incidents": 2},
        "orders": 4, "fills": facts.client_fills, "shares": 1_600, "notional": 291_250.0,
        "complete": True}
    rows = list(csv.DictReader((out / "activity.csv").open()))
    assert len(rows) == 8  # 1 trade-through, 4 parent/child, 1 wash, 2 incidents
    tt = next(r for r in rows if r["rule"] == "trade_through")
    assert (tt["order_id"], tt["exec_id"], tt["seq"]) == (
        facts.orders["A-BUY"], facts.trade_through_exec,
        str(seq_of(rec, facts.trade_through_exec)))
    assert tt["ts"].startswith("2013-10-08T") and tt["ts"].endswith("-04:00")  # New York, EDT
    by_client = {r["client"]: r for r in csv.DictReader((out / "activity_by_client.csv").open())}
    assert by_client["ALPHA"]["shares_filled"] == "1600"
    assert by_client["ALPHA"]["notional"] == "291250.0000"
    assert (by_client["BETA"]["cancels"], by_client["BETA"]["amendments"]) == ("1", "1")
    by_venue = list(csv.DictReader((out / "activity_by_venue.csv").open()))
    assert [(r["venue"], r["orders"], r["fills"], r["shares_filled"]) for r in by_venue] == [
        ("XNYS", "4", str(facts.venue_fills), "1600")]
    js = json.loads((out / "activity.json").read_text())
    assert len(js["flags"]) == 8 and js["flag_counts"] == res.summary["flags"]
    assert [f["exec_id"] for f in js["excused_trade_throughs"]] == [facts.excused_exec]


def test_the_page_links_each_flag_to_its_order(planted: tuple[Path, Facts, DayRecord],
                                               written: tuple[Path, ReportResult]) -> None:
    _, facts, rec = planted
    page = (written[0] / "activity.html").read_text()
    assert "INCOMPLETE" not in page
    for oid in facts.orders.values():
        assert f'id="order-{oid}"' in page
    for oid in (facts.orders["A-BUY"], facts.orders["B-1"], facts.open_order):
        assert f'href="#order-{oid}"' in page
    for title in activity.RULES.values():
        assert f">{title}</h2>" in page.replace("&#x27;", "'")
    assert "wash_window_ms = 1000" in page and "layering_min_cancels = 3" in page
    assert "tape journal cat DAY --from SEQ --to SEQ" in page
    assert f"<td class=\"n\">{seq_of(rec, facts.trade_through_exec)}</td>" in page
    assert "<svg" in page


def test_identical_bytes_on_a_second_run_under_another_hash_seed(
        planted: tuple[Path, Facts, DayRecord], written: tuple[Path, ReportResult],
        tmp_path: Path) -> None:
    day, _, _ = planted
    again = activity.write(read_day(day), tmp_path / "again")
    other = tmp_path / "seeded"
    code = ("import sys; from pathlib import Path; from post_trade import activity; "
            "from post_trade.record import read_day; "
            "activity.write(read_day(Path(sys.argv[1])), Path(sys.argv[2]))")
    subprocess.run([sys.executable, "-c", code, str(day), str(other)], check=True, cwd=ROOT,
                   env={**os.environ, "PYTHONHASHSEED": "12345"})
    first = {p.name: p.read_bytes() for p in written[1].files}
    assert first == {p.name: p.read_bytes() for p in again.files}
    assert first == {p.name: p.read_bytes() for p in sorted(other.iterdir())}


def test_an_incomplete_day_says_so(tmp_path: Path) -> None:
    d, _ = planted_day(tmp_path / "day", stop=False)
    d.close()
    rec = read_day(tmp_path / "day")
    assert not rec.complete
    res = activity.write(rec, tmp_path / "out")
    assert res.summary["complete"] is False
    assert any("INCOMPLETE" in line for line in res.lines)
    assert 'class="banner">INCOMPLETE' in (tmp_path / "out" / "activity.html").read_text()


# ------------------------------------------------------------------ days of our own

def test_a_clean_day_flags_nothing(tmp_path: Path) -> None:
    d = KitDay(tmp_path / "day")
    d.quote(181_9000, 182_1000)
    oid = d.order("ALPHA", "K-1", "buy", 500, 183_0000)
    d.child(oid, "K1", 300, px=182_1000)
    d.fill("K1", 300, 182_1000)  # at the offer: not through it
    d.child(oid, "K2", 200, px=182_1000)
    d.fill("K2", 200, 182_0000)
    sell = d.order("BETA", "K-2", "sell", 100, 181_0000)
    d.child(sell, "K3", 100, px=181_9000)
    d.fill("K3", 100, 181_9000)  # at the bid
    rec = read_day(d.finish())
    res = activity.write(rec, tmp_path / "out")
    assert activity.analyse(rec).flags == []
    assert set(res.summary["flags"].values()) == {0}
    assert res.summary["fills"] == 3 and res.summary["shares"] == 600
    assert (tmp_path / "out" / "activity.csv").read_text().count("\n") == 1  # the header
    assert "Nothing flagged." in (tmp_path / "out" / "activity.html").read_text()


def test_layering(tmp_path: Path) -> None:
    """BETA rests three sell orders above the market, buys, and cancels the sells, all
    within 30 s: three cancels unfilled on one side with a buy in the window."""
    d = KitDay(tmp_path / "day")
    d.quote(181_9000, 182_1000)
    sells = [d.order("BETA", f"S-{i}", "sell", 1_000, 182_5000 + i * 100) for i in range(3)]
    d.at(d.now + 5 * SECOND)
    buy = d.order("BETA", "B-1", "buy", 200, 182_2000)
    d.child(buy, "L1", 200, px=182_1000)
    d.fill("L1", 200, 182_1000)
    for i in range(3):
        d.at(d.now + 5 * SECOND)
        d.cancel("BETA", f"S-{i}-X", f"S-{i}", side="sell")
    rec = read_day(d.finish())
    assert all(rec.orders[o].done_status == "canceled" for o in sells)
    lay = flags_of(rec, "layering")
    assert [(f.client, f.symbol, f.order_id, f.exec_id) for f in lay] == [
        ("BETA", "IBM", sells[0], "X1")]
    assert lay[0].seq == rec.orders[sells[0]].requests[-1].seq  # the first cancel
    assert lay[0].why.startswith("3 sell orders cancelled unfilled within 10.0 s")
    assert flags_of(read_day(d.day, Config(layering_min_cancels=4)), "layering") == []
    # in 9 s windows no window holds the three cancels (10 s apart end to end)
    assert flags_of(read_day(d.day, Config(layering_window_s=9)), "layering") == []


def test_order_to_trade(tmp_path: Path) -> None:
    """ALPHA sends 11 orders and cancels 10 of them for one fill: 21 messages a fill."""
    d = KitDay(tmp_path / "day")
    d.quote(181_9000, 182_1000)
    for i in range(10):
        d.order("ALPHA", f"O-{i}", "buy", 100, 181_0000)
        d.cancel("ALPHA", f"O-{i}-X", f"O-{i}")
    oid = d.order("ALPHA", "O-F", "buy", 100, 182_1000)
    d.child(oid, "F1", 100, px=182_1000)
    d.fill("F1", 100, 182_1000)
    rec = read_day(d.finish())
    otr = flags_of(rec, "order_to_trade")
    assert [(f.client, f.severity) for f in otr] == [("ALPHA", "medium")]
    assert otr[0].why.startswith("21 messages (orders, amendments, cancels) for 1 fills: "
                                 "21.0 messages per fill")
    assert flags_of(read_day(d.day, Config(otr_max_ratio=21)), "order_to_trade") == []
    assert flags_of(read_day(d.day, Config(otr_min_messages=22)), "order_to_trade") == []
    assert flags_of(rec, "layering") == []  # all one side


def test_marking_the_close(tmp_path: Path) -> None:
    """IBM last prints 182.00 before the window; in it ALPHA buys 3,000 of the window's
    5,000 shares (60%) and the close is 182.40: +21.98 bps its way."""
    d = KitDay(tmp_path / "day")
    d.at(CLOSE_NS - 20 * MIN)
    d.quote(181_9000, 182_0000)
    d.print_(182_0000, 1_000)
    d.at(CLOSE_NS - 5 * MIN)
    oid = d.order("ALPHA", "M-1", "buy", 3_000, 183_0000)
    d.quote(182_1000, 182_2000)
    d.child(oid, "M1", 3_000, px=182_2000)
    d.fill("M1", 3_000, 182_2000)
    d.print_(182_2000, 3_000)
    d.at(CLOSE_NS)
    d.print_(182_4000, 2_000, REGULAR_WAY | CLOSING_PRINT)
    rec = read_day(d.finish())
    mk = rec.market["IBM"]
    assert (mk.window_volume, mk.window_start_px, mk.close_px) == (5_000, 182_0000, 182_4000)
    mc = flags_of(rec, "marking_close")
    assert [(f.client, f.symbol, f.order_id, f.exec_id, f.seq) for f in mc] == [
        ("ALPHA", "IBM", oid, "X1", seq_of(rec, "X1"))]
    assert "60.0% of its 5,000 shares" in mc[0].why and "+22.0 bps" in mc[0].why
    # the share is at least the parameter: 60% is enough for 60, not for 61
    assert len(flags_of(read_day(d.day, Config(close_share_pct=60)), "marking_close")) == 1
    assert flags_of(read_day(d.day, Config(close_share_pct=61)), "marking_close") == []
    assert flags_of(read_day(d.day, Config(close_move_bps=22.5)), "marking_close") == []
    # a window that starts after the fill holds none of it
    assert flags_of(read_day(d.day, Config(close_window_min=4)), "marking_close") == []
    assert [f.rule for f in activity.analyse(rec).flags] == ["marking_close"]
