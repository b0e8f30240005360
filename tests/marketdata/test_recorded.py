"""The vendor tick reader: good rows parsed, bad rows reported (file, line), bad files refused."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from marketdata.recorded import (
    DataFileError,
    QuoteRow,
    TradeRow,
    read_quotes,
    read_trades,
    tick_file,
)


def write_zip(path: Path, text: str, names: tuple[str, ...] = ("data.csv",)) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for n in names:
            z.writestr(n, text)
    return path


def test_trades_parse_and_bad_rows_are_reported_not_fatal(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "t.zip", "\n".join([
        "34200000,1821000,300,P,2000,0",
        "34200001.5,1820600,100,K,20000020,1",
        "34200002,abc,100,K,2000,0",  # line 3: price not a number
        "34200003,1820600,100,K",  # line 4: too few fields
        "34200004,1820600,0,K,2000,0",  # line 5: size 0
        "34200005,1820700,50,N,1,0",
    ]) + "\n")
    res = read_trades(path)
    assert res.rows == [
        TradeRow(34200000.0, 1821000, 300, "P", "2000", False),
        TradeRow(34200001.5, 1820600, 100, "K", "20000020", True),
        TradeRow(34200005.0, 1820700, 50, "N", "1", False),
    ]
    assert [(b.file, b.line) for b in res.bad] == [(str(path), 3), (str(path), 4), (str(path), 5)]
    assert "expected 6 fields, found 4" in res.bad[1].why
    assert str(res.bad[0]).startswith(f"{path}:3: ")


def test_quotes_parse_one_side_per_row(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "q.zip", "14400640,1800100,200,0,0,P,1,0\n"
                                         "14400640,0,0,1826200,100,P,1,0\n"
                                         "14400641,-1,0,0,0,P,1,0\n")
    res = read_quotes(path)
    assert res.rows == [
        QuoteRow(14400640.0, 1800100, 200, 0, 0, "P", "1", False),
        QuoteRow(14400640.0, 0, 0, 1826200, 100, "P", "1", False),
    ]
    assert [(b.line, b.why) for b in res.bad] == [(3, "negative price or size")]


def test_missing_unreadable_and_malformed_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="no such data file"):
        read_trades(tmp_path / "nope.zip")
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    with pytest.raises(DataFileError, match="cannot read as a zip"):
        read_trades(tmp_path / "junk.zip")
    two = write_zip(tmp_path / "two.zip", "x", names=("a.csv", "b.csv"))
    with pytest.raises(DataFileError, match="expected one CSV in the zip, found 2"):
        read_quotes(two)


def test_tick_file_layout() -> None:
    assert tick_file(Path("/d"), "IBM", "2013-10-08", "trade") == Path(
        "/d/tick/ibm/20131008_trade.zip")
