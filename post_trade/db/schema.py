"""The database schema, read off the stream's message types.

One table per message type (`tape messages` lists them), named after it in
snake case (`ExecutionReport` -> `execution_report`), whose rows are the frames
of that type: the frame's place on the stream (`day`, `seq`, `ts_ns`, `ts`,
`source_id`, `source_seq`, `cause_seq`), then every field of the message in
its declared order. A message type added to the stream gets its table without
a line written here, and a field appended to a message is a column appended
to its table (which changes the schema's fingerprint: see `SCHEMA_VERSION`).

Besides those:
- `frames`: every frame's header (seq, stream time, telemetry, source, source
  seq, type id, length), clock ticks and control messages included, so any
  row of any table leads back to the journal;
- `message_types`, `sources`, `symbols`: the names behind type ids, source
  ids and symbol ids (the last from the day's ref data);
- `tape_schema` (the version and fingerprint a database was created with) and
  `tape_writer` (per day, the last seq written, in the same transaction as the
  rows: what makes the writer exactly once).

Column types: integers are BIGINT (prices stay the stream's fixed point, see
`PRICE_COLUMNS`; the `v_<table>` views show them as decimals), strings and
literals text, booleans, dates, bytes, and the tuples (algo parameters,
ExecInst, a snapshot's quotes) as JSON text. `ts` is the stream time as a
timestamp with time zone; `ts_ns` the same in nanoseconds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import typing
from dataclasses import dataclass
from typing import Any, Final, Literal

import msgspec

from sequencer.messages import ALL_TYPES, TYPE_ID, Message
from sequencer.messages.executions import AVG_PX_SCALE
from sequencer.messages.marketdata import PRICE_SCALE

#: Bumped by hand when the layout of the fixed tables changes; the fingerprint of the
#: whole schema (message tables included) is checked as well.
SCHEMA_VERSION: Final = 1

Kind = Literal["int", "str", "bool", "date", "bytes", "json", "ts"]
Dialect = Literal["duckdb", "postgres"]

_SQL: Final[dict[Kind, dict[Dialect, str]]] = {
    "int": {"duckdb": "BIGINT", "postgres": "BIGINT"},
    "str": {"duckdb": "VARCHAR", "postgres": "TEXT"},
    "bool": {"duckdb": "BOOLEAN", "postgres": "BOOLEAN"},
    "date": {"duckdb": "DATE", "postgres": "DATE"},
    "bytes": {"duckdb": "BLOB", "postgres": "BYTEA"},
    "json": {"duckdb": "VARCHAR", "postgres": "TEXT"},
    "ts": {"duckdb": "TIMESTAMPTZ", "postgres": "TIMESTAMPTZ"},
}

#: Fixed-point columns and their scale: shown as decimals in the `v_` views.
PRICE_COLUMNS: Final[dict[str, int]] = {"avg_px": AVG_PX_SCALE}


def price_scale(column: str) -> int | None:
    """The fixed-point scale of a price or money column, None for other columns."""
    if column in PRICE_COLUMNS:
        return PRICE_COLUMNS[column]
    if column in ("px", "price", "notional", "cash_qty") or column.endswith("_px"):
        return PRICE_SCALE
    return None


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind

    def sql(self, dialect: Dialect) -> str:
        return _SQL[self.kind][dialect]

    @property
    def q(self) -> str:
        """The name quoted (a field may be an SQL keyword: SetRiskLimit.limit)."""
        return f'"{self.name}"'


#: What every message table starts with: where the frame sits on the stream.
HEAD: Final = (
    Column("day", "date"), Column("seq", "int"), Column("ts_ns", "int"), Column("ts", "ts"),
    Column("source_id", "int"), Column("source_seq", "int"), Column("cause_seq", "int"),
)
#: The head columns a row carries (day is the writer's constant, ts derived from ts_ns).
ROW_HEAD: Final = ("seq", "ts_ns", "source_id", "source_seq", "cause_seq")


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    type_id: int = 0  # the message type a message table holds (0: a fixed table)
    doc: str = ""
    key: tuple[str, ...] = ()  # a primary key, on the few fixed tables that have one

    @property
    def fields(self) -> tuple[Column, ...]:
        """The message's own columns (after the head)."""
        return self.columns[len(HEAD):] if self.type_id else ()

    def ddl(self, dialect: Dialect) -> str:
        cols = []
        for c in self.columns:
            if c.name == "ts" and dialect == "postgres" and self._has_ts_ns:
                # Computed from ts_ns, never sent: microseconds, as PostgreSQL keeps time.
                cols.append("ts TIMESTAMPTZ GENERATED ALWAYS AS "
                            "(to_timestamp(ts_ns / 1000000000.0)) STORED")
            elif c.name == "ts" and self._has_ts_ns:
                # DuckDB: computed when read (its generated columns are virtual), to the
                # microsecond as in PostgreSQL; the batch does not carry it.
                cols.append("ts TIMESTAMPTZ GENERATED ALWAYS AS "
                            "(CAST(make_timestamp(ts_ns // 1000) AS TIMESTAMPTZ)) VIRTUAL")
            elif c.name == "day" and dialect == "postgres" and self._has_ts_ns:
                # The writer's session says which day it writes (`SET tape.day`), so
                # COPY does not send the same date on every row.
                cols.append("day DATE NOT NULL DEFAULT (current_setting('tape.day')::date)")
            else:
                cols.append(f"{c.q} {c.sql(dialect)}")
        if self.key:
            cols.append(f"PRIMARY KEY ({', '.join(self.key)})")
        return f"CREATE TABLE IF NOT EXISTS {self.name} ({', '.join(cols)})"

    @property
    def stored(self) -> tuple[Column, ...]:
        """The columns a batch carries: all but the computed `ts`."""
        return tuple(c for c in self.columns if not (c.name == "ts" and self._has_ts_ns))

    @property
    def _has_ts_ns(self) -> bool:
        return any(c.name == "ts_ns" for c in self.columns)


def snake(name: str) -> str:
    """`ExecutionReport` -> `execution_report`."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _kind(tp: Any) -> Kind:
    if tp is bool:
        return "bool"
    if tp is int:
        return "int"
    if tp is str or typing.get_origin(tp) is Literal:
        return "str"
    if tp is dt.date:
        return "date"
    if tp is bytes:
        return "bytes"
    if typing.get_origin(tp) is tuple:
        return "json"
    raise TypeError(f"no column type for a field of type {tp!r}")


def message_table(t: type[Message]) -> Table:
    hints = typing.get_type_hints(t)
    head = {c.name for c in HEAD}
    cols = []
    for f in msgspec.structs.fields(t):
        if f.name in head:
            raise TypeError(f"{t.__name__}.{f.name} clashes with a frame column")
        cols.append(Column(f.name, _kind(hints[f.name])))
    doc = (t.__doc__ or "").strip().splitlines()[0] if t.__doc__ else ""
    return Table(snake(t.__name__), (*HEAD, *cols), TYPE_ID[t], doc)


MESSAGE_TABLES: Final[tuple[Table, ...]] = tuple(message_table(t) for t in ALL_TYPES)
BY_TYPE_ID: Final[dict[int, Table]] = {t.type_id: t for t in MESSAGE_TABLES}

FRAMES: Final = Table("frames", (
    Column("day", "date"), Column("seq", "int"), Column("ts_ns", "int"), Column("ts", "ts"),
    Column("recv_ns", "int"), Column("source_id", "int"), Column("source_seq", "int"),
    Column("type_id", "int"), Column("cause_seq", "int"), Column("sent_ns", "int"),
    Column("event_ns", "int"), Column("proc_ns", "int"), Column("length", "int"),
), doc="every frame's header: the journal, row by row, without the payloads")
#: The frame columns a `frames` row carries.
FRAME_ROW: Final = ("seq", "ts_ns", "recv_ns", "source_id", "source_seq", "type_id",
                    "cause_seq", "sent_ns", "event_ns", "proc_ns", "length")

MESSAGE_TYPES: Final = Table("message_types", (
    Column("type_id", "int"), Column("name", "str"), Column("table_name", "str"),
    Column("family", "str"),
), doc="the stream's message types and the table each lands in")
SOURCES: Final = Table("sources", (
    Column("source_id", "int"), Column("name", "str"), Column("what", "str"),
), doc="the stream's publishers")
SYMBOLS: Final = Table("symbols", (
    Column("day", "date"), Column("symbol_id", "int"), Column("symbol", "str"),
    Column("primary_venue", "str"), Column("lot_size", "int"),
), doc="the day's security master (market data names symbols by id)")
TAPE_SCHEMA: Final = Table("tape_schema", (
    Column("version", "int"), Column("fingerprint", "str"), Column("created_by", "str"),
), doc="the schema this database was created with")
TAPE_WRITER: Final = Table("tape_writer", (
    Column("day", "date"), Column("last_seq", "int"), Column("last_ts_ns", "int"),
    Column("frames", "int"), Column("stopped", "bool"), Column("journal", "str"),
), doc="per day, the last frame written (committed with the rows) and the journal it "
   "came from", key=("day",))

FIXED_TABLES: Final = (FRAMES, MESSAGE_TYPES, SOURCES, SYMBOLS, TAPE_SCHEMA, TAPE_WRITER)
ALL_TABLES: Final = (*FIXED_TABLES, *MESSAGE_TABLES)


def fingerprint() -> str:
    """A digest of every table's columns and types: two builds write the same layout
    exactly when their fingerprints agree."""
    h = hashlib.sha256(f"v{SCHEMA_VERSION}".encode())
    for t in ALL_TABLES:
        h.update(f"{t.name}({','.join(f'{c.name}:{c.kind}' for c in t.columns)});".encode())
    return h.hexdigest()[:16]


def indexes(dialect: Dialect) -> list[str]:
    """What the canned views look rows up by. DuckDB needs none (its joins scan)."""
    if dialect != "postgres":
        return []
    return [
        "CREATE INDEX IF NOT EXISTS quote_symbol_seq ON quote (day, symbol_id, seq)",
        "CREATE INDEX IF NOT EXISTS frames_seq ON frames (day, seq)",
        "CREATE INDEX IF NOT EXISTS execution_report_order ON execution_report (day, order_id)",
        "CREATE INDEX IF NOT EXISTS child_order_sent_child ON child_order_sent (day, child_id)",
    ]


def decimal_view(t: Table) -> str:
    """`v_<table>`: the table with its fixed-point prices as exact decimals."""
    cols = []
    for c in t.columns:
        scale = price_scale(c.name) if c.kind == "int" else None
        if scale is None:
            cols.append(c.q)
        else:
            cols.append(f"{decimal(c.q, scale)} AS {c.q}")
    return f"CREATE VIEW v_{t.name} AS SELECT {', '.join(cols)} FROM {t.name}"


def decimal(expr: str, scale: int) -> str:
    """SQL for the exact decimal of a fixed-point integer expression, the same in DuckDB
    and PostgreSQL (DuckDB divides a decimal into a double; a product stays exact)."""
    digits = len(str(scale)) - 1
    return (f"CAST(CAST({expr} AS DECIMAL(38,0)) * 0.{'0' * (digits - 1)}1 "
            f"AS DECIMAL(38,{digits}))")


def to_json(value: Any) -> str:
    """A tuple field as JSON text (structs as objects)."""
    return msgspec.json.encode(value).decode()
