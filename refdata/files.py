"""Delimited ref data files: reading, the column types, and precise errors.

A ref data file is UTF-8 text with a header row, one record per line, a
configurable one-character delimiter (default ","), and `#` comment lines and
blank lines anywhere. Line numbers in errors are the file's own physical
lines, 1-based, so a header on the first line is line 1 and an editor's "go
to line" lands on the row. (Quoted fields may hold the delimiter but not a
line break.)

Rows are validated with pydantic at this edge only (never on a hot path):
each column type below is a pydantic validator that takes the cell's text and
either returns the typed value or says what it expected. A `RefDataError`
carries every problem found, each naming the file, the line, the column and
the expectation, e.g.

    listings.csv:7: column lot_size: expected a positive integer, got "abc"

Problems are collected rather than raised one at a time, so one run shows a
file's mistakes together (up to `MAX_PROBLEMS_PER_FILE` per file).
"""

# determinism: edge module, offline tooling: reads the delimited source files

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import re
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainValidator, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError

from refdata.model import PRICE_SCALE

MAX_PROBLEMS_PER_FILE = 25


# ---------------------------------------------------------------- errors


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a ref data input, located as precisely as known."""

    file: str  # the file's name as the config spells it (relative, e.g. "listings.csv")
    what: str  # what was expected and what was found
    line: int | None = None  # 1-based physical line
    column: str | None = None  # a column of a delimited file
    key: str | None = None  # a key of a config file ("tables.borrow.key")

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        if self.column is not None:
            where += f": column {self.column}"
        if self.key is not None:
            where += f": key '{self.key}'"
        return f"{where}: {self.what}"


class RefDataError(ValueError):
    """Ref data that cannot be used: every problem found, each with file, line, column."""

    def __init__(self, problems: Sequence[Problem], not_shown: Mapping[str, int] | None = None):
        if not problems:
            raise ValueError("RefDataError needs at least one problem")
        self.problems = tuple(problems)
        self.not_shown = dict(not_shown or {})
        lines = [str(p) for p in self.problems]
        lines += [f"{name}: {n} more problem(s) not shown" for name, n in self.not_shown.items()]
        super().__init__("\n".join(lines))

    # The first problem's location, for callers (and tests) that expect one.
    @property
    def file(self) -> str:
        return self.problems[0].file

    @property
    def line(self) -> int | None:
        return self.problems[0].line

    @property
    def column(self) -> str | None:
        return self.problems[0].column


@dataclass
class Problems:
    """A collector: add problems as they are found, raise them together at the end."""

    items: list[Problem] = field(default_factory=list)
    not_shown: dict[str, int] = field(default_factory=dict)
    _per_file: dict[str, int] = field(default_factory=dict)

    def add(self, file: str, what: str, line: int | None = None, column: str | None = None,
            key: str | None = None) -> None:
        n = self._per_file[file] = self._per_file.get(file, 0) + 1
        if n > MAX_PROBLEMS_PER_FILE:
            self.not_shown[file] = self.not_shown.get(file, 0) + 1
        else:
            self.items.append(Problem(file, what, line, column, key))

    def count(self, file: str) -> int:
        return self._per_file.get(file, 0)

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise RefDataError(self.items, self.not_shown)


def got(value: object) -> str:
    """How a bad cell is quoted in an error: `got "abc"`."""
    return f"got {json.dumps(value)}" if isinstance(value, str) else f"got {value!r}"


# ---------------------------------------------------------------- column types
#
# Each parser takes a cell's text and returns the typed value or raises a
# PydanticCustomError whose message says what was expected (the offending text
# is added by `validate_row`). Wrapped as `PlainValidator`s, they replace
# pydantic's own coercion, so "1.0" is not an integer and " 7" is, exactly as
# documented here and nowhere else.


def _expected(what: str) -> PydanticCustomError:
    return PydanticCustomError("refdata", what)  # no context: the text is used as is


def _text(v: Any) -> str:
    if not isinstance(v, str):
        raise _expected("expected text")
    return v.strip()


def _nonempty(v: Any) -> str:
    s = _text(v)
    if not s:
        raise _expected("expected a value (the cell is empty)")
    return s


_INT = re.compile(r"[+-]?[0-9]+")


def _int(v: Any) -> int:
    s = _text(v)
    if not _INT.fullmatch(s):
        raise _expected("expected an integer")
    return int(s)


def _positive_int(v: Any) -> int:
    s = _text(v)
    if not _INT.fullmatch(s) or int(s) <= 0:
        raise _expected("expected a positive integer")
    return int(s)


def _nonnegative_int(v: Any) -> int:
    s = _text(v)
    if not _INT.fullmatch(s) or int(s) < 0:
        raise _expected("expected an integer >= 0")
    return int(s)


_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def _float(v: Any) -> float:
    s = _text(v)
    if not _FLOAT.fullmatch(s):  # no "nan", "inf" or "1_000": a number as people write it
        raise _expected("expected a number")
    return float(s)


_TRUE = ("true", "yes", "y", "1")
_FALSE = ("false", "no", "n", "0")


def _bool(v: Any) -> bool:
    s = _text(v).lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise _expected("expected true or false")


def _date(v: Any) -> str:
    """A calendar date, kept as its ISO text (JSON has no date type; see `COLUMN_TYPES`)."""
    s = _text(v)
    try:
        if len(s) != 10:
            raise ValueError(s)
        return dt.date.fromisoformat(s).isoformat()
    except ValueError:
        raise _expected("expected a date YYYY-MM-DD") from None


_PRICE = re.compile(r"(-?)([0-9]+)(?:\.([0-9]{1,4}))?")


def _price(v: Any) -> int:
    """Decimal text to fixed point (1/10,000), exactly: no float is involved."""
    m = _PRICE.fullmatch(_text(v))
    if not m:
        raise _expected("expected a price: a decimal with at most 4 places, like 48.19")
    sign, whole, frac = m.groups()
    units = int(whole) * PRICE_SCALE + int((frac or "").ljust(4, "0"))
    return -units if sign else units


_HHMM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


def _time_ms(v: Any) -> int:
    """ "HH:MM" (24-hour, local time) to ms after midnight."""
    m = _HHMM.fullmatch(_text(v))
    if not m:
        raise _expected("expected a time HH:MM (24-hour)")
    return (int(m[1]) * 60 + int(m[2])) * 60_000


_SYMBOL = re.compile(r"[A-Z][A-Z0-9.\-]{0,15}")


def _symbol(v: Any) -> str:
    s = _text(v)
    if not _SYMBOL.fullmatch(s):
        raise _expected("expected a symbol: upper-case letters, digits, '.' or '-', "
                        "starting with a letter, at most 16 characters")
    return s


_MIC = re.compile(r"[A-Z0-9]{4}")


def _venue_code(v: Any) -> str:
    s = _text(v)
    if not _MIC.fullmatch(s):
        raise _expected("expected a venue code (MIC): 4 upper-case letters or digits")
    return s


def _sip_letter(v: Any) -> str:
    s = _text(v)
    if s and not (len(s) == 1 and "A" <= s <= "Z"):
        raise _expected("expected one upper-case letter, or nothing")
    return s


def _currency(v: Any) -> str:
    s = _text(v)
    if not (len(s) == 3 and s.isascii() and s.isalpha() and s.isupper()):
        raise _expected("expected a 3-letter currency code like USD")
    return s


def _timezone(v: Any) -> str:
    s = _text(v)
    try:
        zoneinfo.ZoneInfo(s)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise _expected("expected an IANA time zone like America/New_York") from None
    return s


_COMP_ID = re.compile(r"[A-Za-z0-9_.]+")


def _fix_session(v: Any) -> str:
    parts = _text(v).split("->")
    if len(parts) != 2 or not all(_COMP_ID.fullmatch(p) for p in parts):
        raise _expected("expected a FIX session SENDER->TARGET "
                        "(CompIDs of letters, digits, '_' or '.')")
    return "->".join(parts)


_NAME = re.compile(r"[A-Za-z0-9_.\-]+")


def _name(v: Any) -> str:
    s = _text(v)
    if not _NAME.fullmatch(s):
        raise _expected("expected a name of letters, digits, '_', '.' or '-'")
    return s


def one_of(*choices: str) -> Callable[[Any], str]:
    def parse(v: Any) -> str:
        s = _text(v)
        if s not in choices:
            raise _expected(f"expected one of: {', '.join(choices)}")
        return s
    return parse


Text = Annotated[str, PlainValidator(_text)]
NonEmpty = Annotated[str, PlainValidator(_nonempty)]
Int = Annotated[int, PlainValidator(_int)]
PositiveInt = Annotated[int, PlainValidator(_positive_int)]
NonNegativeInt = Annotated[int, PlainValidator(_nonnegative_int)]
Float = Annotated[float, PlainValidator(_float)]
Bool = Annotated[bool, PlainValidator(_bool)]
IsoDate = Annotated[str, PlainValidator(_date)]
Price = Annotated[int, PlainValidator(_price)]
TimeMs = Annotated[int, PlainValidator(_time_ms)]
SymbolName = Annotated[str, PlainValidator(_symbol)]
VenueCode = Annotated[str, PlainValidator(_venue_code)]
SipLetter = Annotated[str, PlainValidator(_sip_letter)]
Currency = Annotated[str, PlainValidator(_currency)]
TimeZone = Annotated[str, PlainValidator(_timezone)]
FixSession = Annotated[str, PlainValidator(_fix_session)]
Name = Annotated[str, PlainValidator(_name)]

# The types a declared table's columns may have (`columns = {col = "int"}` in the
# config). "date" values are ISO text ("2013-10-08") in the set, checked to be
# real dates: JSON has no date type, so text is what a loaded set would hold
# anyway, and ISO text sorts and compares as dates do.
COLUMN_TYPES: dict[str, Any] = {
    "str": Text, "int": Int, "float": Float, "bool": Bool, "date": IsoDate, "price": Price,
}
_ADAPTERS: dict[str, TypeAdapter[Any]] = {k: TypeAdapter(t) for k, t in COLUMN_TYPES.items()}


class Row(BaseModel):
    """Base of the row models of the fixed files: every column declared, nothing else."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class SourceFile:
    """A file as read: its name for errors and `sources`, its bytes' digest, its text."""

    name: str
    path: Path
    sha256: str
    text: str


@dataclass(frozen=True)
class RawRow:
    line: int
    cells: dict[str, str]  # column -> text, header order


def read_source(path: Path, name: str, problems: Problems) -> SourceFile | None:
    """Read a file once (its digest and its text come from the same bytes)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        problems.add(name, f"no such file ({path})")
        return None
    except OSError as e:
        problems.add(name, f"cannot read {path}: {e.strerror or e}")
        return None
    try:
        text = data.decode("utf-8-sig")  # a spreadsheet's byte-order mark is not a column
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        problems.add(name, "expected UTF-8 text", line=line)
        return None
    return SourceFile(name, Path(path), hashlib.sha256(data).hexdigest(), text)


def parse_rows(
    src: SourceFile,
    problems: Problems,
    *,
    required: Sequence[str],
    optional: Sequence[str] = (),
    delimiter: str = ",",
) -> list[RawRow]:
    """The file's data rows as text cells, after checking the header.

    The header must name every `required` column, may name `optional` ones, and
    nothing else. A row with the wrong number of cells is a problem. Rows of a
    file whose header is wrong are not returned (their cells mean nothing).
    """
    header: list[str] | None = None
    header_line = 0
    rows: list[RawRow] = []
    for n, text in enumerate(src.text.splitlines(), start=1):
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        cells = next(csv.reader([text], delimiter=delimiter, skipinitialspace=True))
        if header is None:
            header, header_line = [c.strip() for c in cells], n
            continue
        if len(cells) != len(header):
            problems.add(src.name, f"expected {len(header)} fields (as the header on line "
                                   f"{header_line}), got {len(cells)}", line=n)
            continue
        rows.append(RawRow(n, dict(zip(header, cells, strict=True))))
    if header is None:
        problems.add(src.name, "expected a header row, the file has none")
        return []
    before = problems.count(src.name)
    known = [*required, *optional]
    seen: set[str] = set()
    for col in header:
        if col in seen:
            problems.add(src.name, "appears twice in the header", line=header_line, column=col)
        elif col not in known:
            problems.add(src.name, f"unknown column (expected columns: {', '.join(known)})",
                         line=header_line, column=col or '""')
        seen.add(col)
    for col in required:
        if col not in seen:
            problems.add(src.name, "missing from the header", line=header_line, column=col)
    return rows if problems.count(src.name) == before else []


def _describe(e: Any) -> str:
    """A pydantic error entry as "expected ..., got ..."."""
    msg: str = e["msg"]
    if e["type"] == "extra_forbidden":
        return "unknown column"
    if e["type"] == "missing":
        return "missing"
    return f"{msg}, {got(e.get('input'))}" if "input" in e else msg


def validate_row[M: BaseModel](model: type[M], src: SourceFile, row: RawRow,
                               problems: Problems) -> M | None:
    """The row as `model`, or None with every bad cell added to `problems`."""
    try:
        return model.model_validate(row.cells)
    except ValidationError as err:
        for e in err.errors():
            column = str(e["loc"][0]) if e["loc"] else None
            problems.add(src.name, _describe(e), line=row.line, column=column)
        return None


def validate_cell(type_name: str, src: SourceFile, row: RawRow, column: str,
                  problems: Problems) -> tuple[bool, Any]:
    """A declared table's cell as its column type: (ok, value)."""
    try:
        return True, _ADAPTERS[type_name].validate_python(row.cells[column])
    except ValidationError as err:
        for e in err.errors():
            problems.add(src.name, _describe(e), line=row.line, column=column)
        return False, None
