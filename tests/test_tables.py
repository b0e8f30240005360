"""Tables for people fit 80 columns without cutting a figure (rich marks a cut with "…"),
and show prices as decimals: `tape oms orders`, `tape journal latency`, `tape replay`,
the backtest's quality table, and the prices `tape journal cat` prints.

Each is rendered at 80 columns (`COLUMNS=80`, which rich honours) with the widest
figures a day gives (millions of frames, second-long stalls, long app and type names).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from rich.console import Console
from rich.table import Table
from typer.testing import CliRunner

from deploy.cli import app
from sequencer.latency import Dist, GroupLatency, LatencyReport, SlowCase, SourceTransit
from sequencer.runtime.replay import AppReport, ReplayReport

WIDTH = 80


def at_80(*args: str) -> str:
    res = CliRunner().invoke(app, list(args), env={"COLUMNS": str(WIDTH)})
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    assert res.exit_code == 0, res.output
    return res.output


def rendered(*tables: Table) -> str:
    console = Console(width=WIDTH, record=True, file=open("/dev/null", "w"))  # noqa: SIM115 - closed with the console's output
    for t in tables:
        console.print(t)
    text = console.export_text()
    console.file.close()
    return text


def assert_fits(text: str) -> None:
    assert "…" not in text, text
    assert max(len(line) for line in text.splitlines()) <= WIDTH, text


# --------------------------------------------------------------------------- oms orders


@pytest.fixture(scope="module")
def oms_day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.oms.test_replay import record_day

    day = tmp_path_factory.mktemp("oms-day")
    record_day(day)
    return day


def test_oms_orders_fit_80_columns_with_decimal_prices(oms_day: Path) -> None:
    text = at_80("oms", "orders", str(oms_day))
    assert_fits(text)
    rows = [line.split() for line in text.splitlines()]
    # The first table: the order as asked, its limit as a decimal.
    assert ["20131008-1", "ALPHA", "R0", "buy", "2,000", "IBM", "182.00", "vwap"] in rows
    assert ["20131008-2", "BETA", "N1", "buy", "1,000", "AIG", "48.19", "vwap"] in rows
    # The second: where it stands; the average price a decimal (AVG_PX_SCALE undone).
    assert ["20131008-1", "canceled", "300", "0", "0", "0/2", "181.996667"] in rows
    assert "1820000" not in text and "18199666667" not in text


def test_journal_cat_prints_prices_as_decimals(oms_day: Path) -> None:
    text = at_80("journal", "cat", "--type", "ExecutionReport", "--to", "15", str(oms_day))
    fill = next(line for line in text.splitlines() if line.split()[0] == "15")
    assert "last_px=181.99 avg_px=181.995 limit_px=182.00" in fill
    # Machines keep the stream's integers.
    raw = at_80("journal", "cat", "--json", "--type", "ExecutionReport", "--to", "15",
                str(oms_day))
    assert '"avg_px": 18199500000' in raw and '"limit_px": 1820000' in raw


# --------------------------------------------------------------------------- latency


def wide_latency_report() -> LatencyReport:
    big = Dist(2_579_781, 12_345, 123.4, 2_345.6, 45_678.9, 512_345.6, 1_234_567.8)
    group = GroupLatency(sources_id := 70, "venue_gateway", "ExecutionReport", big, big, big,
                         big, big)
    slow = SlowCase(2_579_700, 2_579_600, sources_id, "venue_gateway", "ExecutionReport",
                    "MarketSnapshot", 1_234_567.8, 1_000_000.0, 200_000.0, 34_567.8,
                    999_000.5, 1_000.5)
    return LatencyReport(frames=2_579_781, first_seq=1, last_seq=2_579_781,
                         transit_frames=2_579_781, caused=1_234_567, matched=1_234_560,
                         unmatched=7, clamped=12_345, groups=[group],
                         transit_by_source=[SourceTransit(2_147_483_718, "market_monitor", big)],
                         slowest=[slow] * 3)


def test_latency_tables_fit_80_columns_at_a_days_widest() -> None:
    from sequencer.cli import _latency_tables

    text = rendered(*_latency_tables(wide_latency_report()))
    assert_fits(text)
    # Names may wrap at a space, never be cut; a tenth is shown below 1,000 only.
    for figure in ("2,579,781", "12,345", "123.4", "45,679", "512,346", "1,234,568",
                   "2579700", "2579600", "venue_gateway:", "ExecutionReport", "MarketSnapshot",
                   "1,000,000", "200,000", "34,568", "81%", "16%", "3%", "999,000", "1,000",
                   "2147483718", "market_monitor"):
        assert figure in text.split(), figure


def test_journal_latency_at_80_columns(tmp_path: Path) -> None:
    from tests.sequencer.test_latency import build as build_latency_day

    build_latency_day(tmp_path / "day")
    text = at_80("journal", "latency", str(tmp_path / "day"))
    assert_fits(text)
    assert "end to end" in text and "OperatorNote" in text


# --------------------------------------------------------------------------- replay


def test_replay_table_fits_80_columns() -> None:
    from sequencer.runtime.cli import _replay_table

    apps = [AppReport(name, 2_147_483_647, frames=2_579_781, outputs=1_234_567,
                      matched=1_234_567, unrecorded=12_345, state_hash=f"{i:x}" * 64)
            for i, name in enumerate(("market_monitor", "venue_gateway", "oms"), start=10)]
    report = ReplayReport(frames=2_579_781, last_seq=2_579_781, seconds=12.5, verify=True,
                          apps=apps)
    for verify in (True, False):
        text = rendered(_replay_table(report, verify))
        assert_fits(text)
        flat = " ".join(text.split())
        assert "market_monitor 2,579,781 1,234,567" + (" 1,234,567 0 12,345" if verify else "") \
            in flat, text
        for a in apps:
            assert f"{a.app} {a.state_hash[:16]}" in flat


def test_replay_of_a_day_at_80_columns(tmp_path: Path) -> None:
    from tests.sequencer.test_journal_cli import build_day

    build_day(tmp_path / "day")
    text = at_80("replay", "--app", "counter", "--app", "noop", "--verify", str(tmp_path / "day"))
    assert_fits(text)
    assert "counter" in text and "mismatches" in text


# --------------------------------------------------------------------------- backtest


def test_backtest_quality_table_fits_80_columns(tmp_path: Path) -> None:
    from post_trade.quality import build_report, render
    from tests.post_trade.test_quality import NAMES, the_day, write_day

    report = build_report(write_day(tmp_path / "day", the_day()), names=NAMES)
    wide = dataclasses.replace(report.results[0], order_id="CLIENT-ORDER-0001",
                               qty=1_000_000, done_qty=999_900)
    report = dataclasses.replace(report, results=(wide, *report.results[1:]))
    text = rendered(render(report))
    assert_fits(text)
    rows = [line.split() for line in text.splitlines()]
    assert ["CLIENT-ORDER-0001", "1,000,000", "10.0667", "-33.0", "15.0", "33"] in rows
    assert ["vwap", "buy", "AAA", "999,900", "10.1000"] in rows
    assert ["ORD", "3/A", "500", "-", "-", "0.0", "-"] in rows
