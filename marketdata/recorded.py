"""Recorded market data: the vendor tick format of `../shared/data` (AlgoSeek via LEAN).

`tick/<sym>/<YYYYMMDD>_trade.zip` and `..._quote.zip`, each a zip holding one
headerless CSV, times in ms since midnight New York time (possibly with a
fraction), prices in 1/10,000 dollar (the stream's own fixed point):

- trades: `ms, price, size, exchange, sale_condition, suspicious`
- quotes: `ms, bid_price, bid_size, ask_price, ask_size, exchange, quote_condition,
  suspicious` (each row updates one side; the other side is 0)

A corrupt row is reported (file, line, why) and counted, never fatal; a
missing or unreadable file is a clear error.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple


class TradeRow(NamedTuple):
    ms: float  # since midnight, exchange local time
    price: int  # 1/10,000 dollar
    size: int
    exchange: str
    condition: str
    suspicious: bool


class QuoteRow(NamedTuple):
    ms: float
    bid_px: int
    bid_size: int
    ask_px: int
    ask_size: int
    exchange: str
    condition: str
    suspicious: bool


class DataFileError(OSError):
    """A data file that is missing, unreadable or not the expected zip of one CSV."""


@dataclass(frozen=True)
class BadRow:
    file: str
    line: int
    why: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.why}"


@dataclass
class ReadResult[R]:
    rows: list[R] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)


def _open_csv(path: Path) -> tuple[zipfile.ZipFile, io.TextIOWrapper]:
    try:
        z = zipfile.ZipFile(path)  # determinism: allowed, the feed adapter reads files
    except FileNotFoundError:
        raise DataFileError(f"{path}: no such data file") from None
    except (OSError, zipfile.BadZipFile) as e:
        raise DataFileError(f"{path}: cannot read as a zip of one CSV: {e}") from None
    names = z.namelist()
    if len(names) != 1:
        z.close()
        raise DataFileError(f"{path}: expected one CSV in the zip, found {len(names)}")
    return z, io.TextIOWrapper(z.open(names[0]), encoding="ascii", errors="replace")


def read_trades(path: Path) -> ReadResult[TradeRow]:
    """Every trade row of a vendor trade file, and the rows that could not be read."""
    out: ReadResult[TradeRow] = ReadResult()
    z, text = _open_csv(Path(path))
    with z, text:
        for line, rec in enumerate(csv.reader(text), start=1):
            try:
                if len(rec) != 6:
                    raise ValueError(f"expected 6 fields, found {len(rec)}")
                row = TradeRow(float(rec[0]), int(rec[1]), int(rec[2]), rec[3].strip(),
                               rec[4].strip(), rec[5].strip() == "1")
                if row.price <= 0 or row.size <= 0:
                    raise ValueError(f"price {row.price} and size {row.size} must be positive")
            except ValueError as e:
                out.bad.append(BadRow(str(path), line, str(e)))
                continue
            out.rows.append(row)
    return out


def read_quotes(path: Path) -> ReadResult[QuoteRow]:
    """Every quote row of a vendor quote file, and the rows that could not be read."""
    out: ReadResult[QuoteRow] = ReadResult()
    z, text = _open_csv(Path(path))
    with z, text:
        for line, rec in enumerate(csv.reader(text), start=1):
            try:
                if len(rec) != 8:
                    raise ValueError(f"expected 8 fields, found {len(rec)}")
                row = QuoteRow(float(rec[0]), int(rec[1]), int(rec[2]), int(rec[3]),
                               int(rec[4]), rec[5].strip(), rec[6].strip(),
                               rec[7].strip() == "1")
                if min(row.bid_px, row.bid_size, row.ask_px, row.ask_size) < 0:
                    raise ValueError("negative price or size")
            except ValueError as e:
                out.bad.append(BadRow(str(path), line, str(e)))
                continue
            out.rows.append(row)
    return out


def default_data_dir() -> Path:
    """Where the recorded data lives: `$TAPE_DATA_DIR`, else `shared/data` beside the repo."""
    env = os.environ.get("TAPE_DATA_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def tick_file(data_dir: Path, symbol: str, day: str, kind: str) -> Path:
    """`DATA/tick/<sym>/<YYYYMMDD>_<kind>.zip` (symbols are stored lower case)."""
    return Path(data_dir) / "tick" / symbol.lower() / f"{day.replace('-', '')}_{kind}.zip"
