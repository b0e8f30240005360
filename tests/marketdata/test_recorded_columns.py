"""The plant's columnar reader (DuckDB) against the simple row reader, corrupt rows,
missing files, and the merged day's order; the CLI's speed option."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import numpy as np
import pytest
import typer

from marketdata.cli import parse_speed
from marketdata.clock import local_midnight_ns
from marketdata.feed import QUOTE, TRADE
from marketdata.recorded import (
    DataFileError,
    default_data_dir,
    load_day,
    read_file_columns,
    read_trades,
    tick_file,
)

DAY = dt.date(2013, 10, 8)
MIDNIGHT = local_midnight_ns(DAY, "America/New_York")


def _zip(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("data.csv", text)
    return path


def test_corrupt_rows_are_reported_with_file_and_line_and_the_rest_is_read(
        tmp_path: Path) -> None:
    path = _zip(tmp_path / "tick" / "ibm" / "20131008_trade.zip", "\n".join([
        "34200000,1800000,100,N,1,0",
        "34200001,1800100,,N,1,0",  # empty size
        "34200002,abc,100,N,1,0",  # not a price
        "34200003,1800200,100,N,1",  # a field short
        "34200004,1800300,0,N,1,0",  # no shares
        "34200005.5,1800400,200,P,40,1",
    ]) + "\n")
    b = read_file_columns(path, TRADE, "IBM", MIDNIGHT, tmp_path)
    assert [x.line for x in b.bad] == [2, 3, 4, 5]
    assert all(x.file == str(path) for x in b.bad)
    assert "size" in b.bad[0].why and "price" in b.bad[1].why
    assert b.line.tolist() == [1, 6]
    assert b.price.tolist() == [1_800_000, 1_800_400]
    assert b.t_ns.tolist() == [MIDNIGHT + 34_200_000 * 1_000_000,
                               MIDNIGHT + 34_200_005_500_000]
    assert [b.exchanges[i] for i in b.exchange] == ["N", "P"]
    assert [b.conditions[i] for i in b.condition] == ["1", "40"]
    assert b.suspicious.tolist() == [False, True]


def test_a_missing_or_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="no such data file"):
        read_file_columns(tmp_path / "nope.zip", TRADE, "IBM", MIDNIGHT, tmp_path)
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(DataFileError, match="cannot read as a zip"):
        read_file_columns(bad, TRADE, "IBM", MIDNIGHT, tmp_path)
    with pytest.raises(DataFileError, match="no such data file"):
        load_day(tmp_path, ["IBM"], DAY)


def test_the_columnar_reader_agrees_with_the_row_reader_on_a_recorded_file(
        tmp_path: Path) -> None:
    data = default_data_dir() / "us_equities_2013-10"
    path = tick_file(data, "IBM", "20131008", "trade")
    if not path.exists():
        pytest.fail(f"recorded data not found at {data} (set TAPE_DATA_DIR)")
    rows = read_trades(path).rows
    b = read_file_columns(path, TRADE, "IBM", MIDNIGHT, tmp_path)
    assert len(b) == len(rows) and not b.bad
    assert b.price.tolist() == [r.price for r in rows]
    assert b.size.tolist() == [r.size for r in rows]
    assert [b.exchanges[i] for i in b.exchange.tolist()] == [r.exchange for r in rows]
    assert b.t_ns.tolist() == [MIDNIGHT + round(r.ms * 1_000_000) for r in rows]


def test_a_merged_day_is_in_time_order_and_keeps_file_order_on_ties() -> None:
    data = default_data_dir() / "us_equities_2013-10"
    b = load_day(data, ["IBM", "SPY"], DAY)
    assert b.quote_rows == 125_750 and b.trade_rows == 33_381 + 451_545
    assert bool(np.all(np.diff(b.t_ns) >= 0))
    # Within one file's rows, lines only go up.
    for sym in range(len(b.symbols)):
        for kind in (QUOTE, TRADE):
            lines = b.line[(b.symbol == sym) & (b.kind == kind)]
            assert bool(np.all(np.diff(lines) > 0))


@pytest.mark.parametrize(("text", "speed"), [("fast", None), ("real", 1.0), ("10x", 10.0),
                                             ("2.5", 2.5)])
def test_speed_option(text: str, speed: float | None) -> None:
    assert parse_speed(text) == speed


@pytest.mark.parametrize("text", ["0", "-3x", "warp"])
def test_bad_speed_is_refused(text: str) -> None:
    with pytest.raises(typer.BadParameter):
        parse_speed(text)
