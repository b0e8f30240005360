"""The two databases a day can be written to, behind one interface (`Store`).

- `DuckDbStore`: an embedded DuckDB file, by default the day's own
  `DAY/db/tape.duckdb`. Rows go in as Arrow tables (DuckDB reads them in
  bulk; row inserts are hundreds of times slower).
- `PostgresStore`: a PostgreSQL database by URL, for firms that keep months
  of days in one place. Rows go in with psycopg's binary COPY.

Both create the same tables (`schema`), the same views (`views`), and keep
the writer's position (`tape_writer`) in the transaction that writes the
rows, which is what makes a restarted writer neither lose nor repeat a row.
A database created by a different schema is refused (`SchemaMismatch`), and
so is a second writer of the same day and database (`WriterBusy`).

`tests/post_trade/test_db_contract.py` runs one suite against both.
"""

# determinism: edge module, database I/O

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from post_trade.db import schema, views
from post_trade.db.batch import Batch

DEFAULT_FILE = Path("db") / "tape.duckdb"


#: A query's answer: the column names and the rows.
Answer = tuple[list[str], list[tuple[Any, ...]]]


class Position(NamedTuple):
    """Where a day stands in a database: the last frame written, and whether it was the
    day's SystemStop (the day is all there)."""

    last_seq: int = 0
    last_ts_ns: int = 0
    stopped: bool = False


class StoreError(RuntimeError):
    """The database cannot be used; the message says why, in one line."""


class StoreUnavailable(StoreError):
    """The database is down, full or refusing us: worth retrying later."""


class SchemaMismatch(StoreError):
    """The database was created by another schema: refused, nothing written."""


class WriterBusy(StoreError):
    """Another writer writes this day into this database."""


class JournalMismatch(StoreError):
    """The database holds the date from another day folder's journal."""


class BadQuery(StoreError):
    """A query the database refused (its own words)."""


class Store(Protocol):
    dialect: schema.Dialect
    where: str  # for people: the file, or the URL without its password

    def open(self, *, create: bool = True) -> None: ...
    def claim(self, day: dt.date, journal: str = "") -> None: ...
    def position(self, day: dt.date) -> Position: ...
    def write(self, day: dt.date, batch: Batch,
              tables: list[tuple[schema.Table, Any]] | None = None) -> None: ...
    def put_symbols(self, day: dt.date, rows: Sequence[tuple[Any, ...]]) -> None: ...
    def query(self, sql: str, params: Sequence[Any] = ()) -> Answer: ...
    def tables(self) -> list[str]: ...
    def close(self) -> None: ...


def mask(url: str) -> str:
    """A database URL with its password replaced, for messages and status files."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def open_store(day: Path | None, url: str | None, *, create: bool = True,
               read_only: bool = False) -> Store:
    """The store of `url` (PostgreSQL), or of the day's DuckDB file."""
    store: Store
    if url:
        if not url.startswith(("postgresql://", "postgres://")):
            raise StoreError(f"--url {mask(url)!r}: expected postgresql://USER@HOST:PORT/DB")
        store = PostgresStore(url)
    else:
        if day is None:
            raise StoreError("no day folder and no --url: nothing to open")
        store = DuckDbStore(Path(day) / DEFAULT_FILE, read_only=read_only)
    store.open(create=create)
    return store


def _check_schema(found: list[tuple[Any, ...]], where: str) -> None:
    want = schema.fingerprint()
    if not found:
        return
    version, fp, by = found[0]
    if fp != want:
        raise SchemaMismatch(
            f"{where} was created by schema version {version} (fingerprint {fp}, {by}); "
            f"this build writes version {schema.SCHEMA_VERSION} (fingerprint {want}): "
            "write to a new database, or load the day again into one of this version")


def _fixed_rows() -> dict[str, list[tuple[Any, ...]]]:
    from sequencer import sources
    from sequencer.messages import BY_ID

    types = [(t.type_id, BY_ID[t.type_id].__name__, t.name,
              BY_ID[t.type_id].__module__.rsplit(".", 1)[-1]) for t in schema.MESSAGE_TABLES]
    srcs = [(s.id, s.name, s.what) for s in sources.SOURCES]
    return {"message_types": types, "sources": srcs}


def _same_journal(day: dt.date, had: str, journal: str, where: str) -> None:
    """A database holds one journal per date: another day folder of the same date (a
    rerun, a backtest) is refused rather than mixed in."""
    if had and journal and had != journal:
        raise JournalMismatch(
            f"{where} holds {day} from another journal (id {had}); this day's journal is "
            f"{journal}: a database keeps one journal per date (use another database)")


#: The writer's position moves in the transaction of the rows (`claim` made its row).
_ADVANCE = ("UPDATE tape_writer SET last_seq = %s, last_ts_ns = %s, frames = frames + %s, "
            "stopped = %s WHERE day = %s")


def _day_key(day: dt.date) -> int:
    """The advisory lock number of a day's writer."""
    h = hashlib.sha256(f"tape-db-writer {day.isoformat()}".encode()).digest()
    return int.from_bytes(h[:8], "big", signed=True)


# ---------------------------------------------------------------- DuckDB


class DuckDbStore:
    dialect: schema.Dialect = "duckdb"

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.where = str(self.path)
        self.read_only = read_only
        self.con: Any = None

    def open(self, *, create: bool = True) -> None:
        import duckdb

        if not self.path.exists():
            if not create or self.read_only:
                raise StoreError(f"{self.path}: no database here (has `tape db run` or "
                                 "`tape db load` written this day?)")
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(self.path), read_only=self.read_only)
            # Checkpoints (the write-ahead log folded into the file) every 256 MB of log,
            # not DuckDB's 16 MB: a loading writer spends its time writing rows, not
            # rewriting them.
            self.con.execute("SET checkpoint_threshold = '256MB'")
        except duckdb.IOException as e:
            text = str(e)
            if "lock" in text.lower():
                pid = re.search(r"PID (\d+)", text)
                raise WriterBusy(
                    f"{self.path} is open in another process"
                    + (f" (pid {pid.group(1)})" if pid else "")
                    + ": one writer per database file; `tape db query` asks a running "
                    "writer instead") from None
            raise StoreUnavailable(f"{self.path}: {text.splitlines()[0]}") from None
        if not self.read_only:
            self._create()
        self._check()

    def _check(self) -> None:
        try:
            found = self.con.execute("SELECT version, fingerprint, created_by FROM tape_schema"
                                     ).fetchall()
        except Exception:
            raise StoreError(f"{self.path} is not a Tape database (no tape_schema table)"
                             ) from None
        _check_schema(found, self.where)

    def _create(self) -> None:
        con = self.con
        has = con.execute("SELECT count(*) FROM information_schema.tables "
                          "WHERE table_name = 'tape_schema'").fetchone()[0]
        if has:
            self._check()
            # The views are not part of the schema's fingerprint: a newer build's replace
            # an older one's.
            con.execute("BEGIN")
            for sql in views.create_all("duckdb"):
                con.execute(sql)
            con.execute("COMMIT")
            return
        con.execute("BEGIN")
        for t in schema.ALL_TABLES:
            con.execute(t.ddl("duckdb"))
        for name, rows in _fixed_rows().items():
            marks = ", ".join("?" * len(rows[0]))
            con.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)
        con.execute("INSERT INTO tape_schema VALUES (?, ?, ?)",
                    [schema.SCHEMA_VERSION, schema.fingerprint(), "tape db"])
        for sql in views.create_all("duckdb"):
            con.execute(sql)
        con.execute("COMMIT")

    def claim(self, day: dt.date, journal: str = "") -> None:
        # DuckDB locks its file for the process that writes it (see `open`): the claim
        # makes the day's position row, or checks that it is this journal's.
        con = self.con
        con.execute("BEGIN")
        row = con.execute("SELECT journal FROM tape_writer WHERE day = ?", [day]).fetchone()
        if row is None:
            con.execute("INSERT INTO tape_writer VALUES (?, 0, 0, 0, false, ?)", [day, journal])
        con.execute("COMMIT")
        _same_journal(day, row[0] if row else journal, journal, self.where)

    def position(self, day: dt.date) -> Position:
        row = self.con.execute("SELECT last_seq, last_ts_ns, stopped FROM tape_writer "
                               "WHERE day = ?", [day]).fetchone()
        return Position(int(row[0]), int(row[1]), bool(row[2])) if row else Position()

    def write(self, day: dt.date, batch: Batch,
              tables: list[tuple[schema.Table, Any]] | None = None) -> None:
        """The batch's rows and the day's new position, in one transaction (`tables`: the
        batch's, if already made)."""
        import duckdb

        con = self.con
        try:
            con.execute("BEGIN")
            for t, arrow in tables or batch.tables(day):
                self._insert(t, arrow)
            con.execute(_ADVANCE.replace("%s", "?"), [batch.last_seq, batch.last_ts_ns,
                                                      len(batch), batch.stopped, day])
            con.execute("COMMIT")
        except duckdb.Error as e:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            raise StoreUnavailable(f"{self.path}: {str(e).splitlines()[0]}") from None

    def _insert(self, t: schema.Table, arrow: Any) -> None:
        self.con.register("_tape_rows", arrow)
        try:
            self.con.execute(f"INSERT INTO {t.name} ({', '.join(c.q for c in t.stored)}) "
                             "SELECT * FROM _tape_rows")
        finally:
            self.con.unregister("_tape_rows")

    def put_symbols(self, day: dt.date, rows: Sequence[tuple[Any, ...]]) -> None:
        self.con.execute("BEGIN")
        self.con.execute("DELETE FROM symbols WHERE day = ?", [day])
        if rows:
            self.con.executemany("INSERT INTO symbols VALUES (?, ?, ?, ?, ?)",
                                 [(day, *r) for r in rows])
        self.con.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] = ()) -> Answer:
        import duckdb

        try:
            cur = self.con.execute(sql, list(params))
            if cur is None or not cur.description:  # a statement that returns nothing
                return [], []
            rows = cur.fetchall()
        except duckdb.Error as e:
            raise BadQuery(str(e).strip()) from None
        return [d[0] for d in cur.description], rows

    def tables(self) -> list[str]:
        return [r[0] for r in self.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
            "ORDER BY table_name").fetchall()]

    def close(self) -> None:
        if self.con is not None:
            self.con.close()
            self.con = None


# ---------------------------------------------------------------- PostgreSQL

class PostgresStore:
    dialect: schema.Dialect = "postgres"

    def __init__(self, url: str) -> None:
        self.url = url
        self.where = mask(url)
        self.conn: Any = None
        self._day: dt.date | None = None
        self._copy_sql: dict[str, str] = {}

    def open(self, *, create: bool = True) -> None:
        import psycopg

        try:
            self.conn = psycopg.connect(self.url, connect_timeout=5)
        except psycopg.OperationalError as e:
            raise StoreUnavailable(f"{self.where}: {_pg_words(e)}") from None
        if create:
            self._create()
        self._check()

    def _check(self) -> None:
        import psycopg

        try:
            with self.conn.transaction():
                found = self.conn.execute(
                    "SELECT version, fingerprint, created_by FROM tape_schema").fetchall()
        except psycopg.errors.UndefinedTable:
            raise StoreError(f"{self.where} is not a Tape database (no tape_schema table)"
                             ) from None
        _check_schema(found, self.where)

    def _create(self) -> None:
        import psycopg

        conn = self.conn
        try:
            with conn.transaction():
                # One creator at a time (two writers of two days starting together).
                conn.execute("SELECT pg_advisory_xact_lock(7261706501)")
                has = conn.execute("SELECT to_regclass('tape_schema') IS NOT NULL").fetchone()[0]
                if has:
                    found = conn.execute("SELECT version, fingerprint, created_by "
                                         "FROM tape_schema").fetchall()
                    _check_schema(found, self.where)
                    for sql in views.create_all("postgres"):  # a newer build's views
                        conn.execute(sql)
                    return
                for t in schema.ALL_TABLES:
                    conn.execute(t.ddl("postgres"))
                with conn.cursor() as cur:
                    for name, rows in _fixed_rows().items():
                        marks = ", ".join(["%s"] * len(rows[0]))
                        cur.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)
                conn.execute("INSERT INTO tape_schema VALUES (%s, %s, %s)",
                             (schema.SCHEMA_VERSION, schema.fingerprint(), "tape db"))
                for sql in schema.indexes("postgres"):
                    conn.execute(sql)
                for sql in views.create_all("postgres"):
                    conn.execute(sql)
        except psycopg.OperationalError as e:
            raise StoreUnavailable(f"{self.where}: {_pg_words(e)}") from None

    def _set_day(self, day: dt.date) -> None:
        if self._day != day:
            self.conn.execute(f"SET tape.day = '{day.isoformat()}'")
            self.conn.commit()
            self._day = day

    def claim(self, day: dt.date, journal: str = "") -> None:
        got = self.conn.execute("SELECT pg_try_advisory_lock(%s)", (_day_key(day),)).fetchone()[0]
        self.conn.commit()
        if not got:
            raise WriterBusy(f"another writer is writing {day} into {self.where}: "
                             "one writer per day and database")
        with self.conn.transaction():
            self.conn.execute("INSERT INTO tape_writer VALUES (%s, 0, 0, 0, false, %s) "
                              "ON CONFLICT (day) DO NOTHING", (day, journal))
            had = self.conn.execute("SELECT journal FROM tape_writer WHERE day = %s",
                                    (day,)).fetchone()[0]
        try:
            _same_journal(day, had, journal, self.where)
        except StoreError:
            self.conn.execute("SELECT pg_advisory_unlock(%s)", (_day_key(day),))
            self.conn.commit()
            raise

    def position(self, day: dt.date) -> Position:
        row = self.conn.execute("SELECT last_seq, last_ts_ns, stopped FROM tape_writer "
                                "WHERE day = %s", (day,)).fetchone()
        self.conn.commit()
        return Position(int(row[0]), int(row[1]), bool(row[2])) if row else Position()

    def _copy(self, t: schema.Table) -> str:
        got = self._copy_sql.get(t.name)
        if got is None:
            cols = [c for c in t.columns if c.name not in ("day", "ts")]
            got = (f"COPY {t.name} ({', '.join(c.q for c in cols)}) FROM STDIN "
                   "(FORMAT csv)")
            self._copy_sql[t.name] = got
        return got

    def write(self, day: dt.date, batch: Batch,
              tables: list[tuple[schema.Table, Any]] | None = None) -> None:
        import psycopg

        try:
            self._set_day(day)
            with self.conn.transaction(), self.conn.cursor() as cur:
                for t, arrow in tables or batch.tables(day):
                    self._copy_table(cur, t, arrow)
                cur.execute(_ADVANCE, (batch.last_seq, batch.last_ts_ns, len(batch),
                                       batch.stopped, day))
        except psycopg.Error as e:
            self._reset()
            raise StoreUnavailable(f"{self.where}: {_pg_words(e)}") from None

    def _copy_table(self, cur: Any, t: schema.Table, arrow: Any) -> None:
        """The table as CSV (Arrow writes it, quoting every string, so an empty string
        stays one and is not taken for NULL) into COPY."""
        import pyarrow as pa
        import pyarrow.csv as pa_csv

        sql = self._copy(t)
        arrow = arrow.drop_columns(["day"])
        for c in t.columns:
            if c.kind == "bytes":
                # bytea in text form: \\x and hex digits.
                i = arrow.schema.get_field_index(c.name)
                hexed = pa.array(["\\x" + bytes(v).hex() for v in arrow.column(i).to_pylist()])
                arrow = arrow.set_column(i, c.name, hexed)
        sink = pa.BufferOutputStream()
        pa_csv.write_csv(arrow, sink, pa_csv.WriteOptions(include_header=False))
        with cur.copy(sql) as cp:
            cp.write(sink.getvalue().to_pybytes())

    def put_symbols(self, day: dt.date, rows: Sequence[tuple[Any, ...]]) -> None:
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute("DELETE FROM symbols WHERE day = %s", (day,))
            if rows:
                cur.executemany("INSERT INTO symbols VALUES (%s, %s, %s, %s, %s)",
                                [(day, *r) for r in rows])

    def query(self, sql: str, params: Sequence[Any] = ()) -> Answer:
        import psycopg

        try:
            with self.conn.transaction(), self.conn.cursor() as cur:
                cur.execute(sql, params or None)
                rows = cur.fetchall() if cur.description else []
                return [d.name for d in cur.description or ()], rows
        except psycopg.OperationalError as e:
            self._reset()
            raise StoreUnavailable(f"{self.where}: {_pg_words(e)}") from None
        except psycopg.Error as e:
            raise BadQuery(_pg_words(e)) from None

    def tables(self) -> list[str]:
        return [r[0] for r in self.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = "
            "current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name")[1]]

    def _reset(self) -> None:
        """After a failure: the connection is not to be trusted any more."""
        try:
            if self.conn is not None and not self.conn.closed:
                self.conn.rollback()
        except Exception:
            self.close()

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = None
                self._day = None


def _pg_words(e: Exception) -> str:
    """PostgreSQL's own words, on one line."""
    text = " ".join(str(e).split())
    return text or type(e).__name__


