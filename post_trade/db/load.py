"""One-shot loads: a day's journal into a database, from where the database left off.

`load_day` is what `tape db load` runs for each day it is given, and what
the writer's exactly-once promise is checked against: the tables a writer
leaves after any number of crashes equal those of one `load_day` of the same
journal (`digest`). `session_date` and `symbol_rows` say which day a journal
is and which symbols it names; both the writer and the loads use them.
"""

# determinism: edge module, database and journal I/O, a thread for the database

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from post_trade.db import schema
from post_trade.db.batch import Batch
from post_trade.db.stores import Store, StoreError
from sequencer.journal import JournalReader
from sequencer.messages import decode
from sequencer.messages.control import SystemStart


class NotADay(StoreError):
    """A folder without a journal that starts with the day's SystemStart."""


def session_date(day: Path) -> dt.date:
    """The session date the day's `SystemStart` (its first frame) names."""
    return day_start(day).session_date


def day_start(day: Path) -> SystemStart:
    """The day's `SystemStart`, its first frame."""
    jdir = Path(day) / "journal"
    if not jdir.is_dir():
        raise NotADay(f"{day}: no journal here (not a day folder?)")
    with JournalReader(jdir, 1) as r:
        first = r.read(1)
    if not first:
        raise NotADay(f"{day}: the journal is empty (the day has not started)")
    msg = decode(first[0].type_id, first[0].payload)
    if not isinstance(msg, SystemStart):
        raise NotADay(f"{day}: the journal starts with {type(msg).__name__}, not SystemStart")
    return msg


def journal_id(day: Path) -> str:
    """The identity of a day's journal: a digest of its first frame (the SystemStart,
    with its stream time and seed), the same for every copy of the journal."""
    with JournalReader(Path(day) / "journal", 1) as r:
        first = r.read_raw(1)
    return hashlib.sha256(first[0]).hexdigest()[:16] if first else ""


def symbol_rows(day: Path) -> list[tuple[Any, ...]]:
    """(symbol_id, symbol, primary venue, lot size) of the day's ref data, if it has any."""
    rd_dir = Path(day) / "refdata"
    if not (rd_dir / "refdata.json").exists():
        return []
    from refdata.load import load

    rd = load(rd_dir)
    return [(s.id, s.name, s.primary_venue, s.lot_size) for s in rd.symbols]


@dataclass
class LoadResult:
    day: dt.date
    frames: int
    rows: int
    last_seq: int
    seconds: float


def load_day(day: Path, store: Store, *, batch_frames: int = 100_000,
             on_batch: Callable[[int], None] | None = None) -> LoadResult:
    """Write what the journal holds past the store's position for the day, in batches
    of `batch_frames` (each a transaction that also moves the position)."""
    import time

    t0 = time.perf_counter()
    date = session_date(day)
    store.claim(date, journal_id(day))
    symbols = symbol_rows(day)
    if symbols:
        store.put_symbols(date, symbols)
    last = store.position(date).last_seq
    frames = rows = 0
    # Two stages: this thread reads and decodes the next batch while the database takes
    # the last one in a thread of its own (DuckDB and psycopg let go of the GIL while
    # they work). One batch in flight at a time, in order: each is still one transaction
    # with the position it brings the day to.
    with JournalReader(Path(day) / "journal", last + 1) as reader, \
            ThreadPoolExecutor(1, thread_name_prefix="db-load") as pool:
        pending: Future[None] | None = None
        while True:
            raws = reader.read_raw(batch_frames)
            if not raws:
                break
            b = Batch()
            b.extend(raws)
            tables = b.tables(date)
            if pending is not None:
                pending.result()  # the last batch's failure, if any, stops the load here
            pending = pool.submit(store.write, date, b, tables)
            frames += len(b)
            rows += b.row_count
            last = b.last_seq
            if on_batch is not None:
                on_batch(len(b))
        if pending is not None:
            pending.result()
    return LoadResult(date, frames, rows, last, time.perf_counter() - t0)


def digest(store: Store, day: dt.date | None = None) -> dict[str, str]:
    """A SHA-256 of each table's rows in seq order (of one day, or all): equal digests,
    equal contents. Values are compared as Python sees them, `ts` left out (it is
    `ts_ns` again), so a DuckDB and a PostgreSQL database of the same journal agree."""
    out: dict[str, str] = {}
    for t in (schema.FRAMES, *schema.MESSAGE_TABLES):
        cols = [c.q for c in t.columns if c.name != "ts"]
        where = "" if day is None else f" WHERE day = DATE '{day.isoformat()}'"
        _names, rows = store.query(f"SELECT {', '.join(cols)} FROM {t.name}{where} "
                                   "ORDER BY day, seq")
        h = hashlib.sha256()
        for r in rows:
            h.update(repr(tuple(bytes(v) if isinstance(v, memoryview) else v for v in r)
                          ).encode())
        out[t.name] = f"{len(rows)}:{h.hexdigest()[:16]}"
    return out
