"""`tape backtest` end to end on the recorded 2013-10-08 (IBM): the real OMS, algo engine
and fill model in sim time. The same day twice, under different PYTHONHASHSEEDs, gives
the same journal bytes; the journal replays through the production apps bit for bit;
the report says what each order did; a bad orders file is refused whole."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.backtest.orders import OrdersFileError, read_orders
from sequencer.journal import JournalReader
from sequencer.messages import TYPE_ID, decode
from sequencer.messages.orders import AlgoDecision, NewChild

DATE = "2013-10-08"
ORDERS = """\
# the algo quality cases on one symbol: full day both ways, auctions, a partial window
# with a limit, need-not-complete with a cap, an amendment mid-day, DMA
time,client,cl_ord_id,symbol,side,qty,limit,algo,start_time,end_time,must_complete,max_pct,open_auction,close_auction,action,orig_cl_ord_id,venue
09:00,GAMMA,FULL-B,IBM,buy,52000,,vwap,,,,,,,,,
09:00,GAMMA,FULL-S,IBM,sell,52000,,vwap,,,,,,,,,
09:10,GAMMA,AUCT,IBM,buy,30000,,vwap,,,,,Y,Y,,,
10:00,GAMMA,PART,IBM,sell,20000,179.50,vwap,10:30,13:00,,,,,,,
09:20,GAMMA,CAP,IBM,buy,1000000,,vwap,,,N,5,,,,,
09:25,GAMMA,AMEND,IBM,buy,40000,,vwap,,,,,,,,,
12:00,GAMMA,AMEND-2,IBM,buy,20000,,vwap,,,,,,,replace,AMEND,
10:15,DEMO,DMA-1,IBM,buy,500,181.00,dma,,,,,,,,,ARCX
"""


def _tape(*args: str, seed: str = "0", check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    r = subprocess.run([sys.executable, "-m", "deploy", *args], capture_output=True, text=True,
                       env=env, timeout=600, check=False)
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


def _frames(day: Path) -> list[bytes]:
    with JournalReader(day / "journal") as reader:
        out: list[bytes] = []
        while batch := reader.read_raw(65536):
            out += batch
    return out


@pytest.fixture(scope="module")
def days(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, object]]:
    root = tmp_path_factory.mktemp("backtest")
    orders = root / "orders.csv"
    orders.write_text(ORDERS)
    d1, d2 = root / "one", root / "two"
    r1 = _tape("backtest", "--date", DATE, "--orders", str(orders), "--out", str(d1), "--json",
               seed="1")
    _tape("backtest", "--date", DATE, "--orders", str(orders), "--out", str(d2), "--json",
          "--no-plots", seed="2")
    return d1, d2, json.loads(r1.stdout)


def test_the_same_day_twice_is_byte_identical(days: tuple[Path, Path, dict[str, object]]) -> None:
    d1, d2, _ = days
    f1, f2 = _frames(d1), _frames(d2)
    assert len(f1) > 150_000  # the whole recorded IBM day went through
    assert f1 == f2


def test_the_journal_replays_through_the_production_apps(
        days: tuple[Path, Path, dict[str, object]]) -> None:
    d1, _, _ = days
    r = _tape("replay", str(d1), "--app", "oms", "--app", "algo", "--app", "venue_sim",
              "--verify", check=False)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_report_per_order(days: tuple[Path, Path, dict[str, object]]) -> None:
    d1, _, out = days
    orders = {o["cl_ord_id"]: o for o in out["orders"]}  # type: ignore[attr-defined]  # JSON
    assert set(orders) == {"FULL-B", "FULL-S", "AUCT", "PART", "CAP", "AMEND", "DMA-1"}
    for cl in ("FULL-B", "FULL-S", "AUCT", "PART"):
        o = orders[cl]
        assert o["done_shares"] == o["qty_shares"], cl
        assert o["final_status"] == "filled", cl
        assert abs(o["slippage_bps"]) < 20, cl
        assert 0 < o["participation_pct"] < 5, cl
    assert orders["AMEND"]["qty_shares"] == 20000
    assert orders["AMEND"]["done_shares"] == 20000
    # need-not-complete at 5%: scheduled and done well short of its 2,000,000
    cap = orders["CAP"]
    assert cap["scheduled_shares"] < 0.06 * cap["market_volume_shares"]
    assert cap["done_shares"] <= cap["scheduled_shares"]
    assert orders["AUCT"]["auction_pct"] > 0  # it took part in the auctions
    assert orders["DMA-1"]["done_shares"] == 500
    assert (d1 / "reports" / "backtest.json").exists()
    pngs = sorted((d1 / "reports").glob("*.png"))
    assert len(pngs) == 7
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_the_partial_window_and_limit_are_kept(days: tuple[Path, Path, dict[str, object]]) -> None:
    d1, _, _ = days
    tid_new, tid_dec = TYPE_ID[NewChild], TYPE_ID[AlgoDecision]
    parent_of_part = ""
    first_child_ns = None
    for raw in _frames(d1):
        typ = int.from_bytes(raw[36:38], "little")
        if typ == tid_dec:
            m = decode(typ, raw[80:])
            assert isinstance(m, AlgoDecision)
            if m.kind == "schedule" and m.start_ns == _ns("10:30"):
                parent_of_part = m.order_id
                assert m.end_ns == _ns("13:00")
        elif typ == tid_new and parent_of_part:
            c = decode(typ, raw[80:])
            assert isinstance(c, NewChild)
            if c.parent_id == parent_of_part:
                ts = int.from_bytes(raw[16:24], "little")
                first_child_ns = first_child_ns or ts
                assert c.limit_px >= 1_795_000  # a sell never below its limit
                assert ts < _ns("13:00") + 60_000_000_000
    assert parent_of_part and first_child_ns is not None
    assert first_child_ns >= _ns("10:30")


def _ns(hhmm: str) -> int:
    from refdata.model import local_midnight_ns

    h, m = (int(x) for x in hhmm.split(":"))
    return local_midnight_ns(dt.date.fromisoformat(DATE), "America/New_York") + (
        h * 3600 + m * 60) * 1_000_000_000


def test_a_bad_orders_file_is_refused_whole(tmp_path: Path) -> None:
    f = tmp_path / "bad.csv"
    f.write_text("time,client,cl_ord_id,symbol,side,qty,limit\n"
                 "9:00,GAMMA,A,IBM,buy,100,\n"
                 "09:00,GAMMA,B,IBM,hold,100,\n"
                 "09:00,GAMMA,C,IBM,buy,-5,\n"
                 "09:00,GAMMA,D,IBM,buy,100,1.00001\n"
                 "09:00,GAMMA,E,IBM,buy,100,181\n")
    with pytest.raises(OrdersFileError) as e:
        read_orders(f, dt.date(2013, 10, 8))
    text = str(e.value)
    assert f"{f} line 2: column 'time'" in text
    assert f"{f} line 3: column 'side'" in text
    assert f"{f} line 4: column 'qty'" in text
    assert f"{f} line 5: column 'limit'" in text
    assert "line 6" not in text
    r = _tape("backtest", "--date", DATE, "--orders", str(f), "--out", str(tmp_path / "d"),
              check=False)
    assert r.returncode == 2
    assert "column 'side'" in r.stderr
    assert not (tmp_path / "d").exists()  # nothing was started


def test_an_unknown_column_and_bad_usage(tmp_path: Path) -> None:
    f = tmp_path / "cols.csv"
    f.write_text("time,client,cl_ord_id,symbol,side,qty,colour\n09:00,G,A,IBM,buy,1,red\n")
    with pytest.raises(OrdersFileError, match="unknown column 'colour'"):
        read_orders(f, dt.date(2013, 10, 8))
    assert _tape("backtest", "--date", "2013-13-01", "--orders", str(f),
                 check=False).returncode == 2


def test_bench_backtest_small(tmp_path: Path) -> None:
    r = _tape("bench", "backtest", "--symbols", "IBM", "--orders", "2", "--json")
    figures = json.loads(r.stdout)
    for name in ("day_wall_s", "frames_per_s", "ticker_only_wall_s"):
        assert figures[name] > 0, name
    assert figures["orders"] == 2
    assert figures["frames"] > 150_000


def test_the_post_trade_records_of_the_recorded_day(
        days: tuple[Path, Path, dict[str, object]]) -> None:
    """Every post-trade report of the recorded day, twice under different hash seeds on
    the two identical journals: the same bytes; the CAT files check out."""
    d1, d2, out = days
    r1 = _tape("post-trade", str(d1), "--json", seed="1", check=False)
    assert r1.returncode == 0, r1.stdout + r1.stderr
    r2 = _tape("post-trade", str(d2), "--json", seed="2", check=False)
    m1, m2 = json.loads(r1.stdout), json.loads(r2.stdout)
    assert m1["complete"] and m1["breaks"] == 0
    assert m1["files"] == m2["files"]  # digests included
    cat = m1["reports"]["cat"]["summary"]
    # AMEND-2 amends AMEND; every order went through the OMS, each child is a route.
    assert cat["events"]["MENO"] == 7 and cat["events"]["MEOM"] == 1, cat
    assert cat["events"]["MEOR"] > 100
    activity = m1["reports"]["activity"]["summary"]
    assert activity["orders"] == 7 and activity["shares"] > 100_000
    assert m1["reports"]["quality"]["summary"]["orders"] == 7
    c = _tape("post-trade", "check-cat", str(d1), check=False)
    assert c.returncode == 0, c.stdout + c.stderr
    # Rule 606 over the one recorded day: GAMMA's not-held (VWAP) orders, per venue. The
    # two runs of the day are siblings of one date: refused as ambiguous, so the day is
    # linked into a folder of its own.
    r = _tape("post-trade", "rule606", "--client", "GAMMA", "--from", str(d1), "--to", str(d1),
              check=False)
    assert r.returncode == 2 and "two day folders hold 2013-10-08" in r.stderr, r.stderr
    days_dir = d1.parent / "days"
    days_dir.mkdir(exist_ok=True)
    one = days_dir / DATE
    if not one.exists():
        one.symlink_to(d1)
    r = _tape("post-trade", "rule606", "--client", "GAMMA", "--from", str(one), "--to",
              str(one), "--json", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert sorted(Path(p).suffix for p in doc["files"]) == [".html", ".json", ".xml"]
    # every share GAMMA's orders got, as the backtest's own report counts them
    gamma = sum(o["done_shares"] for o in out["orders"]  # type: ignore[attr-defined]  # JSON
                if o["client"] == "GAMMA")
    assert doc["summary"]["days"] == 1
    assert doc["summary"]["executed_shares"] == gamma > 100_000, doc["summary"]
