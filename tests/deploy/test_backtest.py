"""`tape backtest` end to end on the recorded 2013-10-08 (IBM): the real OMS, algo engine
and fill model in sim time. The same day twice, under different PYTHONHASHSEEDs, gives
the same journal bytes (in the plain market and in the realistic one); the journal
replays through the production apps bit for bit; the report says what each order did;
a bad orders file is refused whole. The simulated market's settings are a `SimMarket`
frame right after `SystemStart` (none with --plain-market), and bad market options are
refused naming the option; --from/--to runs every recorded session of a range, a folder
per day and an overall report.

The algo quality cases (`days`) run in the plain market, the fill model their figures
were measured with; the realistic market's days here have orders that need not
complete, and no test compares fills between the two markets (the venue simulator's
model of impact, latency and caps has tests of its own)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.backtest.day import REALISTIC_MARKET
from deploy.backtest.orders import OrdersFileError, read_orders
from refdata.model import local_midnight_ns
from sequencer.journal import JournalReader
from sequencer.messages import TYPE_ID, decode
from sequencer.messages.control import SimMarket, SystemStart
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


def _head(day: Path, n: int = 3) -> list[tuple[int, int, bytes]]:
    """The journal's first `n` frames: (type id, stream time, payload)."""
    with JournalReader(day / "journal") as reader:
        raw = reader.read_raw(n)
    return [(int.from_bytes(f[36:38], "little"), int.from_bytes(f[16:24], "little"), f[80:])
            for f in raw]


def _market_frame(day: Path, date: str = DATE) -> SimMarket:
    """The day's SimMarket, checked to be the frame right after SystemStart, at midnight."""
    (t0, ts0, _), (t1, ts1, payload), _ = _head(day)
    assert t0 == TYPE_ID[SystemStart]
    assert t1 == TYPE_ID[SimMarket], "the second frame is not the SimMarket"
    assert ts1 == ts0 == local_midnight_ns(dt.date.fromisoformat(date), "America/New_York")
    m = decode(t1, payload)
    assert isinstance(m, SimMarket)
    return m


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
               "--plain-market", seed="1")
    _tape("backtest", "--date", DATE, "--orders", str(orders), "--out", str(d2), "--json",
          "--no-plots", "--plain-market", seed="2")
    return d1, d2, json.loads(r1.stdout)


# one order that need not complete (exit 0 whatever the market does to it), and on the
# range, a must-complete buy limited 45% under the market, which never fills (exit 1)
ONE_ORDER = "time,client,cl_ord_id,symbol,side,qty,limit,algo,must_complete\n" \
            "09:30,GAMMA,ONE,IBM,buy,2000,,vwap,N\n"
NEVER_FILLS = "09:45,GAMMA,LOW,IBM,buy,100,100.00,vwap,\n"
CHOSEN = ("--impact-y", "0.5", "--impact-permanent", "0.25", "--impact-decay-s", "120",
          "--latency-us", "200", "--venue-latency", "xnys=300, ARCX=400",
          "--platform-latency-us", "40", "--interval-cap-s", "0")


@pytest.fixture(scope="module")
def realistic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, object]]:
    """One order on the recorded day in the default (realistic) market, twice."""
    root = tmp_path_factory.mktemp("realistic")
    orders = root / "one.csv"
    orders.write_text(ONE_ORDER)
    d1, d2 = root / "one", root / "two"
    r1 = _tape("backtest", "--date", DATE, "--orders", str(orders), "--out", str(d1), "--json",
               "--no-plots", seed="1")
    _tape("backtest", "--date", DATE, "--orders", str(orders), "--out", str(d2), "--no-plots",
          seed="2")
    return d1, d2, json.loads(r1.stdout)


@pytest.fixture(scope="module")
def days_range(tmp_path_factory: pytest.TempPathFactory
               ) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """--from/--to over 2013-10-05 (a Saturday) to 2013-10-08 with chosen market settings."""
    root = tmp_path_factory.mktemp("range")
    orders = root / "orders.csv"
    orders.write_text(ONE_ORDER + NEVER_FILLS)
    out = root / "bt"
    r = _tape("backtest", "--from", "2013-10-05", "--to", "2013-10-08", "--orders",
              str(orders), "--out", str(out), "--json", "--no-plots", *CHOSEN, check=False)
    return out, r


def test_the_same_day_twice_is_byte_identical(days: tuple[Path, Path, dict[str, object]]) -> None:
    d1, d2, _ = days
    f1, f2 = _frames(d1), _frames(d2)
    assert len(f1) > 150_000  # the whole recorded IBM day went through
    assert f1 == f2


def test_the_journal_replays_through_the_production_apps(
        days: tuple[Path, Path, dict[str, object]],
        realistic: tuple[Path, Path, dict[str, object]]) -> None:
    for day in (days[0], realistic[0]):
        r = _tape("replay", str(day), "--app", "oms", "--app", "algo", "--app", "venue_sim",
                  "--verify", check=False)
        assert r.returncode == 0, r.stdout + r.stderr


def test_the_plain_market_has_no_sim_market_frame(
        days: tuple[Path, Path, dict[str, object]]) -> None:
    d1, _, out = days
    assert TYPE_ID[SimMarket] not in {int.from_bytes(f[36:38], "little") for f in _frames(d1)}
    assert out["market"] == {  # the figures the plain fill model amounts to
        "plain": True, "impact": False, "impact_y": 1.0, "impact_permanent": 0.6667,
        "impact_decay_s": 300.0, "venue_latency_us": 0, "venue_latencies_us": {},
        "platform_latency_us": 0, "interval_cap_s": 0}


def test_the_realistic_market_by_default(
        realistic: tuple[Path, Path, dict[str, object]]) -> None:
    d1, d2, out = realistic
    m = _market_frame(d1)
    assert m == REALISTIC_MARKET
    assert (m.impact, m.impact_y_milli, m.impact_permanent_bp, m.impact_decay_ms) == (
        True, 1_000, 6_667, 300_000)
    assert (m.venue_latency_us, m.venue_latencies, m.platform_latency_us,
            m.interval_cap_s) == (250, (), 50, 60)
    assert out["market"] == {
        "plain": False, "impact": True, "impact_y": 1.0, "impact_permanent": 0.6667,
        "impact_decay_s": 300.0, "venue_latency_us": 250, "venue_latencies_us": {},
        "platform_latency_us": 50, "interval_cap_s": 60}
    assert _frames(d1) == _frames(d2)  # deterministic in this market too


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
    keep = tmp_path / "bench"
    r = _tape("bench", "backtest", "--symbols", "IBM", "--orders", "2", "--json", "--keep",
              str(keep))
    figures = json.loads(r.stdout)
    for name in ("day_wall_s", "frames_per_s", "ticker_only_wall_s", "impact_day_wall_s"):
        assert figures[name] > 0, name
    assert figures["orders"] == 2
    assert figures["frames"] > 150_000
    assert figures["impact_day_frames"] > 150_000
    assert figures["impact_to_day_ratio"] == round(
        figures["impact_day_wall_s"] / figures["day_wall_s"], 3)
    assert figures["impact_target_ratio"] == 1.3
    assert figures["impact_target_met"] is (
        figures["impact_day_wall_s"] / figures["day_wall_s"] <= 1.3)
    # the plain day has no SimMarket; the realistic one has tape backtest's defaults
    assert _head(keep / "day", 2)[1][0] != TYPE_ID[SimMarket]
    assert _market_frame(keep / "impact_day") == REALISTIC_MARKET


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


def test_several_days(days_range: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    out, r = days_range
    # LOW never fills: a must-complete order unfinished, on each day
    assert r.returncode == 1, r.stdout + r.stderr
    assert "20131007-2" in r.stderr and "20131008-2" in r.stderr, r.stderr
    doc = json.loads(r.stdout)
    assert [d["date"] for d in doc["days"]] == ["2013-10-07", "2013-10-08"]  # 5, 6: none
    for d in doc["days"]:
        assert d["day"] == str(out / d["date"])
        assert d["frames"] > 100_000 and len(d["journal_sha256"]) == 64
        assert [o["cl_ord_id"] for o in d["orders"]] == ["ONE", "LOW"]
        assert d["orders"][1]["done_shares"] == 0
        assert d["summary"]["orders"] == 2
    assert doc["days"][0]["journal_sha256"] != doc["days"][1]["journal_sha256"]
    assert doc["overall"]["orders"] == 4
    assert doc["overall"]["must_complete"] == 2 and doc["overall"]["complete_must_complete"] == 0
    assert sorted(p.name for p in out.iterdir()) == ["2013-10-07", "2013-10-08", "reports"]
    report = json.loads((out / "reports" / "backtest.json").read_text())
    assert report["overall"] == doc["overall"]
    assert [d["orders"][0]["order_id"] for d in report["days"]] == ["20131007-1", "20131008-1"]
    for d in doc["days"]:  # each day's own report and journal, the chosen market on it
        assert (out / d["date"] / "reports" / "backtest.json").exists()
        m = _market_frame(out / d["date"], d["date"])
        assert (m.impact, m.impact_y_milli, m.impact_permanent_bp, m.impact_decay_ms) == (
            True, 500, 2_500, 120_000)
        assert (m.venue_latency_us, m.venue_latencies, m.platform_latency_us,
                m.interval_cap_s) == (200, (("ARCX", 400), ("XNYS", 300)), 40, 0)
    assert doc["market"] == {
        "plain": False, "impact": True, "impact_y": 0.5, "impact_permanent": 0.25,
        "impact_decay_s": 120.0, "venue_latency_us": 200,
        "venue_latencies_us": {"ARCX": 400, "XNYS": 300}, "platform_latency_us": 40,
        "interval_cap_s": 0}


def _backtest_here(*args: str) -> tuple[int, str]:
    """`tape backtest ARGS` in this process (refusals come before any run: no need for a
    process of their own, which costs a second or two each): (exit code, stderr)."""
    import typer
    from typer.testing import CliRunner

    from deploy.backtest.cli import backtest_cmd

    app = typer.Typer()
    app.command()(backtest_cmd)
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.stderr


@pytest.mark.parametrize(("args", "option", "expected"), [
    (("--impact-y", "0"), "--impact-y", "at least 0.001"),
    (("--impact-y", "nan"), "--impact-y", "at least 0.001"),
    (("--impact-permanent", "1.5"), "--impact-permanent", "between 0 and 1"),
    (("--impact-decay-s", "0"), "--impact-decay-s", "above 0"),
    (("--latency-us", "-1"), "--latency-us", "microseconds >= 0"),
    (("--platform-latency-us", "-5"), "--platform-latency-us", "microseconds >= 0"),
    (("--interval-cap-s", "-60"), "--interval-cap-s", "seconds >= 0"),
    (("--venue-latency", "XNYS"), "--venue-latency", "VENUE=MICROSECONDS"),
    (("--venue-latency", "XNYS=fast"), "--venue-latency", "whole number of microseconds"),
    (("--venue-latency", "XNYS=1,xnys=2"), "--venue-latency", "XNYS is given twice"),
    (("--plain-market", "--no-impact"), "--plain-market", "--impact/--no-impact"),
    (("--plain-market", "--interval-cap-s", "60", "--venue-latency", "XNYS=1"),
     "--plain-market", "--venue-latency, --interval-cap-s"),
    (("--from", "2013-10-07"), "--to", "both --from and --to"),
    (("--to", "2013-10-07"), "--from", "both --from and --to"),
    (("--from", "2013-10-07", "--to", "2013-10-08", "--date", DATE), "--date", "not both"),
    (("--from", "2013-10-09", "--to", "2013-10-07"), "--from", "after --to 2013-10-07"),
    (("--from", "2013-10-12", "--to", "2013-10-14"), "--from/--to", "no recorded session"),
    (("--from", "2013-10-7", "--to", "2013-10-08"), "--from", "YYYY-MM-DD"),
])
def test_bad_market_and_range_options(tmp_path: Path, args: tuple[str, ...], option: str,
                                      expected: str) -> None:
    orders = tmp_path / "one.csv"
    orders.write_text(ONE_ORDER)
    date = () if {"--from", "--to"} & set(args) else ("--date", DATE)
    code, err = _backtest_here("--orders", str(orders), "--out", str(tmp_path / "d"), *date,
                               *args)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{option}: ") and expected in lines[0], err
    assert not (tmp_path / "d").exists()  # refused before anything started


def test_no_date_at_all(tmp_path: Path) -> None:
    orders = tmp_path / "one.csv"
    orders.write_text(ONE_ORDER)
    code, err = _backtest_here("--orders", str(orders))
    assert code == 2 and err.strip() == "--date: give either --date or both --from and --to"


def test_an_unknown_venue_latency(tmp_path: Path) -> None:
    orders = tmp_path / "one.csv"
    orders.write_text(ONE_ORDER)
    r = _tape("backtest", "--date", DATE, "--orders", str(orders), "--out", str(tmp_path / "d"),
              "--venue-latency", "XNYS=300,XXXX=1", check=False)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith("--venue-latency: no venue 'XXXX' in the day's ref data "
                               "(known: "), r.stderr
    assert "XNYS" in r.stderr
    assert not (tmp_path / "d").exists()  # nothing left behind: the same command can be fixed


def test_the_benchmark_with_and_without_our_own_prints(
        realistic: tuple[Path, Path, dict[str, object]]) -> None:
    """`tape backtest` counts our fills in the market's volume by default (as a real TCA
    sees the tape); `--no-own-prints` is the market's prints alone."""
    from post_trade.quality import build_report

    d1, _, out = realistic
    with_ours = out["orders"][0]  # type: ignore[index]  # JSON
    assert out["benchmark"]["own_prints_included"] is True  # type: ignore[index]  # JSON
    alone = build_report(d1, own_prints=False)
    assert alone.benchmark is not None and alone.benchmark["own_prints_included"] is False
    r = alone.results[0]
    assert with_ours["own_volume_shares"] >= with_ours["done_shares"] > 0
    assert r.market_volume == with_ours["market_volume_shares"] - with_ours["own_volume_shares"]
    assert r.market_vwap != with_ours["market_vwap_usd"]
