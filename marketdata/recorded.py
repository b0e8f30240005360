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

# determinism: edge module, the feed adapter reads files; what it yields is the input

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from marketdata.clock import local_midnight_ns
from marketdata.feed import QUOTE, TRADE, BadRow, FeedBatch, merge


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


@dataclass
class ReadResult[R]:
    rows: list[R] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)


def _open_csv(path: Path) -> tuple[zipfile.ZipFile, io.TextIOWrapper]:
    try:
        z = zipfile.ZipFile(path)
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


# ---------------------------------------------------------------- columnar reading (the plant's)

_TRADE_COLUMNS = {"ms": "DOUBLE", "price": "BIGINT", "size": "BIGINT", "exchange": "VARCHAR",
                  "cond": "VARCHAR", "suspicious": "INTEGER"}
_QUOTE_COLUMNS = {"ms": "DOUBLE", "bid_px": "BIGINT", "bid_size": "BIGINT", "ask_px": "BIGINT",
                  "ask_size": "BIGINT", "exchange": "VARCHAR", "cond": "VARCHAR",
                  "suspicious": "INTEGER"}


def _codes(values: npt.NDArray[np.object_]) -> tuple[tuple[str, ...], npt.NDArray[np.int32]]:
    """(distinct strings in first-seen order, each value's index among them).

    A dict does this in one pass, ten times faster than `np.unique` on strings.
    """
    table: dict[str, int] = {}
    put = table.setdefault
    items = values.tolist()
    codes = np.fromiter((put(v, len(table)) for v in items), np.int32, len(items))
    return tuple(table), codes


def read_file_columns(path: Path, kind: int, symbol: str, midnight_ns: int,
                      tmp: Path) -> FeedBatch:
    """One vendor file as a `FeedBatch` (rows in file order), through DuckDB's CSV reader.

    DuckDB parses and types the columns in C++ (about 1.5 million rows/s here,
    four times Python's csv module with conversions); rows it cannot read are
    kept aside with their line numbers (`store_rejects`) and reported, and the
    rows that parse but make no sense (a trade without price) are reported too.
    """
    import duckdb

    z, _ = _open_csv(path)
    with z:
        csv_path = tmp / f"{path.parent.name}_{path.stem}.csv"
        with z.open(z.namelist()[0]) as src, open(csv_path, "wb") as dst:
            while block := src.read(1 << 22):
                dst.write(block)
    cols = _TRADE_COLUMNS if kind == TRADE else _QUOTE_COLUMNS
    con = duckdb.connect()
    try:
        con.execute("SET preserve_insertion_order = true")
        # Row numbers come from the file itself: parallel reading keeps order,
        # but the line of each row is what reports need.
        rel = con.read_csv(str(csv_path), header=False, columns=cols, store_rejects=True,
                           auto_detect=False, delimiter=",", quotechar="")
        data = rel.fetchnumpy()
        rejects = con.execute(
            "SELECT line, min(coalesce(column_name, '')), min(error_message) "
            "FROM reject_errors GROUP BY line ORDER BY line"
        ).fetchall()
    finally:
        con.close()
        csv_path.unlink(missing_ok=True)
    bad = [BadRow(str(path), int(line), (f"column {col}: " if col else "") + str(msg))
           for line, col, msg in rejects]
    n = len(data["ms"])
    # Line numbers: the accepted rows in order, skipping the rejected lines.
    line = np.arange(1, n + len(bad) + 1, dtype=np.int64)
    if bad:
        line = np.delete(line, [b.line - 1 for b in bad])
    ms = np.asarray(data["ms"], np.float64)
    if kind == TRADE:
        price = np.asarray(data["price"], np.int64)
        size = np.asarray(data["size"], np.int64)
        ask_px = ask_size = np.zeros(n, np.int64)
        ok = (price > 0) & (size > 0)
        why = "price and size must be positive"
    else:
        price = np.asarray(data["bid_px"], np.int64)
        size = np.asarray(data["bid_size"], np.int64)
        ask_px = np.asarray(data["ask_px"], np.int64)
        ask_size = np.asarray(data["ask_size"], np.int64)
        ok = (price >= 0) & (size >= 0) & (ask_px >= 0) & (ask_size >= 0)
        why = "negative price or size"
    ok &= (ms >= 0) & (ms < 86_400_000)
    if not ok.all():
        for i in np.flatnonzero(~ok).tolist():
            bad.append(BadRow(str(path), int(line[i]), why if ms[i] >= 0 and ms[i] < 86_400_000
                              else f"time {ms[i]} ms is outside the day"))
        bad.sort(key=lambda b: b.line)
    exchanges, ex_codes = _codes(np.asarray(data["exchange"], object))
    conditions, cond_codes = _codes(np.asarray(data["cond"], object))
    kept = int(ok.sum())
    t_ns = midnight_ns + np.rint(ms * 1_000_000).astype(np.int64)
    return FeedBatch(
        (symbol,), exchanges, conditions,
        np.full(kept, kind, np.int8), t_ns[ok], np.zeros(kept, np.int32), ex_codes[ok],
        price[ok], size[ok], ask_px[ok], ask_size[ok], cond_codes[ok],
        (np.asarray(data["suspicious"], np.int64) == 1)[ok], line[ok],
        one_sided=kind == QUOTE, bad=bad, files=[str(path)],
    )


def load_day(data_dir: Path, symbols: Sequence[str], day: dt.date,
             tz: str = "America/New_York", *, quotes: bool = True,
             trades: bool = True) -> FeedBatch:
    """A recorded day of `symbols` (trades and quotes, where the files exist) in time order.

    A symbol with neither file for the day is an error (`DataFileError`); one
    with trades only (SPY here) is fine.
    """
    midnight = local_midnight_ns(day, tz)
    stamp = day.strftime("%Y%m%d")
    batches: list[FeedBatch] = []
    with tempfile.TemporaryDirectory(prefix="tape-feed-") as tmpdir:
        tmp = Path(tmpdir)
        for sym in symbols:
            found = 0
            for kind, name, wanted in ((QUOTE, "quote", quotes), (TRADE, "trade", trades)):
                path = tick_file(data_dir, sym, stamp, name)
                if not path.exists():
                    continue
                found += 1
                if wanted:
                    batches.append(read_file_columns(path, kind, sym, midnight, tmp))
            if not found:
                raise DataFileError(
                    f"{tick_file(data_dir, sym, stamp, 'trade')}: no such data file "
                    f"(nor a quote file) for {sym} on {day}"
                )
    return merge(batches)
