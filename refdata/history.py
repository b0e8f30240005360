"""Readers of the recorded history that statistics and volume curves are built from.

Build-time code, not app code: it reads files. Everything comes back as numpy
arrays in file order; the callers pick the days strictly before the session
date (no look-ahead), which is why every listing here returns dates.

The folder is `us_equities_2013-10` of the recorded data (its README gives the
formats); prices are integers in 1/10,000 dollar throughout, which the daily
bars share (IBM closed 2013-10-08 at 1,787,200, i.e. $178.72).

- `daily/<sym>.zip`: `YYYYMMDD HH:MM, open, high, low, close, volume`.
- `minute/<sym>/<YYYYMMDD>_trade.zip`: `ms_bar_start, open, high, low, close,
  volume`; `..._quote.zip`: `ms_bar_start, bid open/high/low/close, bid_size,
  ask open/high/low/close, ask_size`.
- `tick/<sym>/<YYYYMMDD>_trade.zip` and `_quote.zip`: see `marketdata.recorded`.

Tick files are large (up to 1.4 million quote rows a day), so they are read
through DuckDB's CSV reader from a decompressed temporary copy, a few times
faster than Python's csv module; the small files are read with numpy.
"""

# determinism: edge module, offline tooling: reads recorded history files at build time

from __future__ import annotations

import datetime as dt
import io
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from marketdata.feed import QUOTE, TRADE, FeedBatch
from marketdata.recorded import DataFileError, read_file_columns

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

REGULAR_OPEN_MS = 9 * 3_600_000 + 30 * 60_000
REGULAR_CLOSE_MS = 16 * 3_600_000
SESSION_MINUTES = 390


class HistoryError(ValueError):
    """A history file that cannot be read as the format it should have."""


def _csv_text(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            if len(names) != 1:
                raise HistoryError(f"{path}: expected one CSV in the zip, found {len(names)}")
            return z.read(names[0]).decode("ascii", errors="replace")
    except (OSError, zipfile.BadZipFile) as e:
        raise HistoryError(f"{path}: cannot read as a zip of one CSV: {e}") from None


def _int_table(path: Path, columns: int, delimiter: str = ",") -> I64:
    """A headerless all-integer CSV as an (n, columns) int64 array."""
    text = _csv_text(path)
    if not text.strip():
        return np.zeros((0, columns), np.int64)
    try:
        a = np.loadtxt(io.StringIO(text), delimiter=delimiter, dtype=np.int64, ndmin=2)
    except ValueError as e:
        raise HistoryError(f"{path}: {e}") from None
    if a.shape[1] != columns:
        raise HistoryError(f"{path}: expected {columns} columns, found {a.shape[1]}")
    return a


def _day(stamp: str) -> dt.date:
    return dt.date(int(stamp[:4]), int(stamp[4:6]), int(stamp[6:8]))


def _days(folder: Path, kind: str) -> list[dt.date]:
    """Dates of the `<YYYYMMDD>_<kind>.zip` files in a folder, ascending."""
    if not folder.is_dir():
        return []
    out = []
    for p in folder.glob(f"*_{kind}.zip"):
        stamp = p.name.split("_", 1)[0]
        if len(stamp) == 8 and stamp.isdigit():
            out.append(_day(stamp))
    return sorted(out)


def tick_days(data_dir: Path, symbol: str, kind: str) -> list[dt.date]:
    """Days with a tick file of `kind` ("trade" or "quote") for `symbol`."""
    return _days(data_dir / "tick" / symbol.lower(), kind)


def minute_days(data_dir: Path, symbol: str, kind: str) -> list[dt.date]:
    """Days with a minute-bar file of `kind` ("trade" or "quote") for `symbol`."""
    return _days(data_dir / "minute" / symbol.lower(), kind)


def day_file(data_dir: Path, res: str, symbol: str, day: dt.date, kind: str) -> Path:
    """`DATA/<res>/<sym>/<YYYYMMDD>_<kind>.zip` (`res` is "tick" or "minute")."""
    return data_dir / res / symbol.lower() / f"{day:%Y%m%d}_{kind}.zip"


def has_history(data_dir: Path | None, symbol: str) -> bool:
    """Whether the recorded data holds anything for `symbol` (daily, minute or tick)."""
    if data_dir is None:
        return False
    s = symbol.lower()
    return ((data_dir / "daily" / f"{s}.zip").is_file() or (data_dir / "minute" / s).is_dir()
            or (data_dir / "tick" / s).is_dir())


# ---------------------------------------------------------------- daily bars


@dataclass(frozen=True)
class DailyBars:
    dates: tuple[dt.date, ...]
    close: I64  # 1/10,000 dollar, unadjusted
    volume: I64

    def before(self, date: dt.date) -> DailyBars:
        """The bars of days strictly before `date` (the file is in date order)."""
        n = sum(1 for d in self.dates if d < date)
        return DailyBars(self.dates[:n], self.close[:n], self.volume[:n])


def read_daily(data_dir: Path, symbol: str) -> DailyBars | None:
    """The symbol's daily bars, or None when it has no daily file."""
    path = data_dir / "daily" / f"{symbol.lower()}.zip"
    if not path.is_file():
        return None
    dates: list[dt.date] = []
    close: list[int] = []
    volume: list[int] = []
    for line_no, line in enumerate(_csv_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        f = line.split(",")
        try:
            if len(f) != 6:
                raise ValueError(f"expected 6 fields, found {len(f)}")
            dates.append(_day(f[0].strip()[:8]))
            close.append(int(f[4]))
            volume.append(int(f[5]))
        except ValueError as e:
            raise HistoryError(f"{path}:{line_no}: {e}") from None
    order = sorted(range(len(dates)), key=dates.__getitem__)
    return DailyBars(tuple(dates[i] for i in order), np.array(close, np.int64)[order],
                     np.array(volume, np.int64)[order])


# ---------------------------------------------------------------- minute bars


def minute_volumes(path: Path) -> I64:
    """Volume per minute of the day (1,440 entries, index = minute after midnight)."""
    a = _int_table(path, 6)
    out = np.zeros(1440, np.int64)
    if len(a):
        np.add.at(out, a[:, 0] // 60_000, a[:, 5])
    return out


def minute_quote_closes(path: Path) -> tuple[I64, I64, I64]:
    """(bar start ms, bid close, ask close) of a minute quote-bar file."""
    a = _int_table(path, 11)
    return a[:, 0], a[:, 4], a[:, 9]


# ---------------------------------------------------------------- ticks


@dataclass(frozen=True)
class Trades:
    ms: F64
    price: I64
    size: I64
    exchange: npt.NDArray[np.str_]
    cond: I64  # the sale condition's bit flags
    suspicious: npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Quotes:
    ms: F64
    bid_px: I64
    bid_size: I64
    ask_px: I64
    ask_size: I64
    exchange: npt.NDArray[np.str_]
    suspicious: npt.NDArray[np.bool_]


def _tick_file(path: Path, kind: int) -> FeedBatch:
    """A vendor tick file's columns, through the ticker plant's own reader. History is
    strict where the plant is forgiving: a row it cannot read is an error here."""
    with tempfile.TemporaryDirectory(prefix="tape-hist-") as tmp:
        try:
            b = read_file_columns(path, kind, "", 0, Path(tmp))
        except DataFileError as e:
            raise HistoryError(str(e)) from None
    if b.bad:
        raise HistoryError(f"{b.bad[0]} ({len(b.bad)} unreadable row(s))")
    return b


def _conditions(b: FeedBatch) -> I64:
    """The rows' hex sale conditions as integers, each distinct text parsed once."""
    try:
        parsed = np.array([int(c.strip() or "0", 16) for c in b.conditions] or [0], np.int64)
    except ValueError as e:
        raise HistoryError(f"bad sale condition: {e}") from None
    return parsed[b.condition]


def _exchanges(b: FeedBatch) -> npt.NDArray[np.str_]:
    return np.array(b.exchanges or ("",), dtype=str)[b.exchange]


def read_tick_trades(path: Path) -> Trades:
    b = _tick_file(path, TRADE)
    return Trades(b.t_ns / 1e6, b.price, b.size, _exchanges(b), _conditions(b), b.suspicious)


def read_tick_quotes(path: Path) -> Quotes:
    b = _tick_file(path, QUOTE)
    return Quotes(b.t_ns / 1e6, b.price, b.size, b.ask_px, b.ask_size, _exchanges(b),
                  b.suspicious)
