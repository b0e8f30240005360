"""Users' own market data: one simple CSV table of quotes and trades.

The format
----------
A UTF-8 text file of comma-separated values. The first line that is neither
blank nor a comment (a line starting with `#`) is the header; blank lines and
comment lines are skipped anywhere. Header names are matched without regard to
case or surrounding spaces, in any order; columns not listed here are ignored.
Every field has its surrounding spaces stripped.

Columns (all required but `condition`):

- `time`: exchange local time, `YYYY-MM-DDTHH:MM:SS[.fraction]` (a space may
  replace the `T`), or `HH:MM:SS[.fraction]` on the session date; the fraction
  has 1 to 9 digits (down to ns); no time zone suffix
- `symbol`: the symbol as the security master spells it, e.g. `AIG`
- `kind`: `Q` for a quote, `T` for a trade (either case)
- `venue`: where it was quoted or printed: an exchange letter (`N`, `P`, `Q`,
  ...) or a venue code
- `bid`, `bid_size`, `ask`, `ask_size`: a quote's bid and ask, prices and
  sizes in shares; empty on a trade
- `price`, `size`: a trade's price and size in shares (at least 1); empty on a
  quote
- `condition` (optional column, optional value): the vendor-style condition
  flags in hex (`1` regular, `40` opening print, `80` closing print,
  `80000000` odd lot; flags combine, e.g. `80000040`), or empty for none; read
  as hex and written back in upper case without leading zeros (`0040` is `40`)

Prices are decimal text in the currency unit, digits with an optional point
(`48.19`, `0.0001`, `180`), read exactly, without floating point, into the
stream's fixed point of 1/10,000: `48.19` is 481900. A price must be a whole
number of 0.0001: `48.12345` is refused, `48.123400` is read as 48.1234.
Sizes are whole numbers of shares (`300`, not `300.0`).

A quote row carries the venue's whole quote, both sides. A side that is absent
(the venue shows no bid, or no offer) has its size empty or 0 and its price
empty or 0; a quote with both sides absent means the venue has pulled its
quote. A present side has a price above 0. A quote whose bid is at or above its
own ask is refused (a venue never crosses itself).

Times are read as wall-clock time in the caller's time zone
(`America/New_York` by default) and stored as ns since the epoch (UTC); a
wall-clock time that occurs twice when clocks go back is read as the first.
A row dated on another day than the session's is refused. Rows need not be in
time order (a file of quotes followed by a file of trades is fine): the
reader sorts them by time, keeping the file's order between equal times.

A row that cannot be read is reported as a `BadRow` (file, line, `column X:
expected ..., got ...`) and counted in `FeedBatch.bad`; the rest of the file is
still read. A missing or unreadable file, a file without a header, or a header
without one of the required columns, is a `FeedFileError` naming the file (and
the column).

Example (`marketdata/samples/user_feed.csv` has a full minute of two symbols):

    time,symbol,kind,venue,bid,bid_size,ask,ask_size,price,size,condition
    2013-10-08T09:30:00.412,AIG,Q,N,48.18,500,48.20,700,,,
    09:30:01.5,AIG,T,P,,,,,48.19,200,1
"""

# determinism: edge module, the feed adapter reads its file; what it yields is the input

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt

from marketdata.feed import QUOTE, TRADE, BadRow, FeedBatch
from refdata.model import PRICE_SCALE

PRICE_DECIMALS = 4
MAX_PRICE = 10**15  # fixed point: $100 billion, far beyond any quote, well inside int64
MAX_SIZE = 10**12

REQUIRED = ("time", "symbol", "kind", "venue", "bid", "bid_size", "ask", "ask_size",
            "price", "size")
OPTIONAL = ("condition",)
COLUMNS = REQUIRED + OPTIONAL

_TIME = re.compile(
    r"(?:(\d{4})-(\d{2})-(\d{2})[T ])?(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?", re.ASCII)
_DECIMAL = re.compile(r"(\d+)(?:\.(\d+))?", re.ASCII)  # ASCII: no other scripts' digits
_WHOLE = re.compile(r"\d+", re.ASCII)
_HEX = re.compile(r"[0-9A-Fa-f]{1,8}")
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_DAY_NS = 86_400 * 1_000_000_000
_TIME_FORMS = "YYYY-MM-DDTHH:MM:SS[.fraction] or HH:MM:SS[.fraction] (local time)"


class FeedFileError(OSError):
    """A user feed file that is missing, unreadable, or lacks a required header column."""


class _Bad(ValueError):
    """A field that cannot be read: `column X: expected ..., got ...`."""

    def __init__(self, column: str, expected: str, got: str) -> None:
        super().__init__(f"column {column}: expected {expected}, got {got!r}")


def parse_price(text: str, column: str = "price") -> int:
    """Decimal text to fixed point (1/10,000), exactly: "48.19" -> 481900, "0.0001" -> 1."""
    m = _DECIMAL.fullmatch(text)
    if m is None:
        raise _Bad(column, "a decimal price such as 48.19", text)
    whole, frac = m.group(1), m.group(2) or ""
    if frac[PRICE_DECIMALS:].strip("0"):
        raise _Bad(column, f"a price in whole 0.0001 (at most {PRICE_DECIMALS} decimals)", text)
    value = int(whole) * PRICE_SCALE + int(frac[:PRICE_DECIMALS].ljust(PRICE_DECIMALS, "0"))
    if value >= MAX_PRICE:
        raise _Bad(column, "a price under 100,000,000,000", text)
    return value


def parse_size(text: str, column: str = "size") -> int:
    if _WHOLE.fullmatch(text) is None:
        raise _Bad(column, "a whole number of shares", text)
    value = int(text)
    if value >= MAX_SIZE:
        raise _Bad(column, "a size under 1,000,000,000,000", text)
    return value


class _Clock:
    """Local wall time on a date -> ns since the epoch (UTC), offsets cached per minute."""

    def __init__(self, day: dt.date, tz: str) -> None:
        try:
            self.zone = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {tz!r}") from None
        self.day = day
        self._offsets: dict[tuple[int, int], int] = {}

    def parse(self, text: str) -> int:
        m = _TIME.fullmatch(text)
        if m is None:
            raise _Bad("time", _TIME_FORMS, text)
        y, mo, d, hh, mm, ss, frac = m.groups()
        day = self.day
        if y is not None:
            try:
                day = dt.date(int(y), int(mo), int(d))
            except ValueError:
                raise _Bad("time", "a real calendar date", text) from None
            if day != self.day:
                raise _Bad("time", f"a time on the session date {self.day.isoformat()}", text)
        h, mi, s = int(hh), int(mm), int(ss)
        if h > 23 or mi > 59 or s > 59:
            raise _Bad("time", "hours 00-23, minutes and seconds 00-59", text)
        ns = ((h * 60 + mi) * 60 + s) * 1_000_000_000 + int((frac or "").ljust(9, "0"))
        return (day.toordinal() - _EPOCH_ORDINAL) * _DAY_NS + ns - self._offset(day, h, mi)

    def _offset(self, day: dt.date, hour: int, minute: int) -> int:
        key = (day.toordinal(), hour * 60 + minute)
        off = self._offsets.get(key)
        if off is None:
            utc = dt.datetime.combine(day, dt.time(hour, minute), tzinfo=self.zone).utcoffset()
            assert utc is not None  # a ZoneInfo always gives one
            off = self._offsets[key] = utc // dt.timedelta(microseconds=1) * 1000
        return off


def _side(rec: dict[str, str], px_col: str, size_col: str) -> tuple[int, int]:
    """(price, size) of one quote side; (0, 0) when absent (size empty or 0)."""
    px_text, size_text = rec[px_col], rec[size_col]
    size = parse_size(size_text, size_col) if size_text else 0
    if size == 0:
        if px_text and parse_price(px_text, px_col) != 0:
            raise _Bad(px_col, f"empty or 0 when {size_col} is empty or 0", px_text)
        return 0, 0
    if not px_text:
        raise _Bad(px_col, f"a price when {size_col} is {size}", px_text)
    px = parse_price(px_text, px_col)
    if px == 0:
        raise _Bad(px_col, f"a price above 0 when {size_col} is {size}", px_text)
    return px, size


def _empty(rec: dict[str, str], columns: tuple[str, ...], on: str) -> None:
    for c in columns:
        if rec[c]:
            raise _Bad(c, f"empty on a {on} row", rec[c])


def _index(table: dict[str, int], name: str) -> int:
    return table.setdefault(name, len(table))


def read_csv_feed(path: Path, *, day: dt.date, tz: str = "America/New_York") -> FeedBatch:
    """Every row of a user CSV feed file (format in the module docstring), sorted by time."""
    path = Path(path)
    clock = _Clock(day, tz)
    try:
        f = path.open(
            encoding="utf-8-sig", errors="replace", newline="")
    except FileNotFoundError:
        raise FeedFileError(f"{path}: no such feed file") from None
    except OSError as e:
        raise FeedFileError(f"{path}: cannot read the feed file: {e.strerror or e}") from None
    symbols: dict[str, int] = {}
    venues: dict[str, int] = {}
    conditions: dict[str, int] = {}
    cols: dict[str, list[int]] = {c: [] for c in (
        "kind", "t_ns", "symbol", "exchange", "price", "size", "ask_px", "ask_size",
        "condition", "line")}
    bad: list[BadRow] = []
    name = str(path)
    try:
        with f:
            reader = csv.reader(f)
            header: list[str] | None = None
            while True:
                try:
                    rec = next(reader)
                except StopIteration:
                    break
                except csv.Error as e:  # e.g. a field over the csv module's size limit
                    bad.append(BadRow(name, reader.line_num, f"not a CSV row: {e}"))
                    continue
                line = reader.line_num
                if not rec or (len(rec) == 1 and not rec[0].strip()) or rec[0].startswith("#"):
                    continue
                fields = [x.strip() for x in rec]
                if header is None:
                    header = _header(name, fields)
                    continue
                try:
                    row = _row(fields, header, clock)
                except ValueError as e:
                    bad.append(BadRow(name, line, str(e)))
                    continue
                kind, t, sym, venue, px, sz, apx, asz, cond = row
                cols["kind"].append(kind)
                cols["t_ns"].append(t)
                cols["symbol"].append(_index(symbols, sym))
                cols["exchange"].append(_index(venues, venue))
                cols["price"].append(px)
                cols["size"].append(sz)
                cols["ask_px"].append(apx)
                cols["ask_size"].append(asz)
                cols["condition"].append(_index(conditions, cond))
                cols["line"].append(line)
    except OSError as e:
        raise FeedFileError(f"{path}: cannot read the feed file: {e.strerror or e}") from None
    if header is None:
        raise FeedFileError(f"{path}: no header row (expected columns {', '.join(REQUIRED)})")
    t_ns = np.array(cols["t_ns"], np.int64)
    order = np.argsort(t_ns, kind="stable")

    def col(key: str, dtype: npt.DTypeLike) -> npt.NDArray[Any]:
        return np.array(cols[key], dtype)[order]

    n = len(t_ns)
    return FeedBatch(
        tuple(symbols), tuple(venues), tuple(conditions),
        col("kind", np.int8), t_ns[order], col("symbol", np.int32), col("exchange", np.int32),
        col("price", np.int64), col("size", np.int64), col("ask_px", np.int64),
        col("ask_size", np.int64), col("condition", np.int32), np.zeros(n, np.bool_),
        col("line", np.int64), False, bad, [name],
    )


def _header(name: str, fields: list[str]) -> list[str]:
    header = [h.lower() for h in fields]
    for c in COLUMNS:
        if header.count(c) > 1:
            raise FeedFileError(f"{name}: header names column {c!r} twice")
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise FeedFileError(
            f"{name}: header lacks column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(c) for c in missing)} (found {', '.join(fields)})")
    return header


_Row = tuple[int, int, str, str, int, int, int, int, str]


def _row(fields: list[str], header: list[str], clock: _Clock) -> _Row:
    if any("\ufffd" in x for x in fields):
        raise ValueError("not UTF-8 text")
    if len(fields) != len(header):
        raise ValueError(f"expected {len(header)} fields as in the header, found {len(fields)}")
    rec = {h: x for h, x in zip(header, fields, strict=True) if h in COLUMNS}
    t = clock.parse(rec["time"])
    sym, venue = rec["symbol"], rec["venue"]
    if not sym:
        raise _Bad("symbol", "a symbol", sym)
    kind_text = rec["kind"].upper()
    if kind_text not in ("Q", "T"):
        raise _Bad("kind", "Q (quote) or T (trade)", rec["kind"])
    if not venue:
        raise _Bad("venue", "a venue or exchange letter", venue)
    cond = rec.get("condition", "")
    if cond:
        if _HEX.fullmatch(cond) is None:
            raise _Bad("condition", "hex condition flags such as 1 or 80000040, or empty", cond)
        cond = f"{int(cond, 16):X}"
    if kind_text == "T":
        _empty(rec, ("bid", "bid_size", "ask", "ask_size"), "trade")
        if not rec["price"]:
            raise _Bad("price", "a trade price", "")
        px = parse_price(rec["price"], "price")
        if px == 0:
            raise _Bad("price", "a trade price above 0", rec["price"])
        size = parse_size(rec["size"], "size")
        if size == 0:
            raise _Bad("size", "a trade size of at least 1 share", rec["size"])
        return TRADE, t, sym, venue, px, size, 0, 0, cond
    _empty(rec, ("price", "size"), "quote")
    bid, bid_size = _side(rec, "bid", "bid_size")
    ask, ask_size = _side(rec, "ask", "ask_size")
    if bid_size and ask_size and bid >= ask:
        raise ValueError(
            f"columns bid, ask: expected a bid below the ask at one venue, "
            f"got bid {rec['bid']} and ask {rec['ask']}")
    return QUOTE, t, sym, venue, bid, bid_size, ask, ask_size, cond
