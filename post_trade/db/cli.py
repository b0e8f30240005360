"""`tape db ...`: write a day into a database, and ask it questions.

    tape db run --day DAY [--url postgresql://...]   follow the day, write every frame
    tape db load DAY... [--url ...]                  one-shot loads (several days, one database)
    tape db query DAY "SQL" [--json | --csv]         any query
    tape db views DAY [NAME] [--json | --csv]        the canned views, or one of them
    tape db export DAY --parquet DIR                 every table as Parquet
    tape db digest DAY                               a digest of every table (equal = same rows)

Without `--url` the database is the day's DuckDB file, `DAY/db/tape.duckdb`.
While `tape db run` holds that file, `query`, `views` and `digest` ask the
running writer (`post_trade.db.service`), since DuckDB lets one process at a
time open a file for writing.
"""

# determinism: edge module, a command line: files, databases, sockets

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import sys
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

app = typer.Typer(help="The day's stream in a database (DuckDB by default, PostgreSQL by "
                  "URL): the writer, queries, views, loads and exports.",
                  no_args_is_help=True)
out = Console()
err = Console(stderr=True)

DayArg = Annotated[Path, typer.Argument(help="The day folder.")]
UrlOpt = Annotated[str | None, typer.Option(
    "--url", envvar="TAPE_DB_URL",
    help="A PostgreSQL database (postgresql://USER[:PASSWORD]@HOST:PORT/DB) instead of the "
         "day's DuckDB file.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object.")]
CsvOpt = Annotated[bool, typer.Option("--csv", help="CSV with a header line.")]


def fail(msg: str, code: int) -> typer.Exit:
    """Say `msg` on stderr; the exit to raise (`tape post-trade` uses it too)."""
    err.print(f"error: {msg}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code)


def day_folder(day: Path) -> Path:
    """`day` if it is a day folder, else exit 2 saying so."""
    from sequencer.ownership import NoSuchDay, require_day

    try:
        return require_day(day)
    except NoSuchDay as e:
        raise fail(str(e), 2) from None


# ---------------------------------------------------------------- run / load


@app.command("run")
def run_cmd(
    day: Annotated[Path, typer.Option("--day", help="The day folder.")],
    url: UrlOpt = None,
    batch_frames: Annotated[int, typer.Option(min=1, help="Commit at most this many frames "
                                              "at once.")] = 20_000,
    batch_ms: Annotated[int, typer.Option(min=1, help="Commit once a batch spans this much "
                                          "stream time (ms).")] = 250,
    lag_frames: Annotated[int, typer.Option(min=1, help="Alert when this many frames "
                                            "behind the sequencer.")] = 200_000,
    lag_s: Annotated[float, typer.Option(min=0.001, help="Alert when this many stream "
                                         "seconds behind the sequencer.")] = 30.0,
    max_seconds: Annotated[float | None, typer.Option(help="Stop after this long.")] = None,
) -> None:
    """Follow the day's stream (the journal, then live) and write every frame, exactly
    once, until the day's SystemStop."""
    from post_trade.db.load import NotADay
    from post_trade.db.writer import WriterConfig, run_writer
    from sequencer.logs import configure

    d = day_folder(day)
    configure(d, "db_writer")
    cfg = WriterConfig(batch_frames=batch_frames, batch_ms=batch_ms, lag_frames=lag_frames,
                       lag_s=lag_s)
    try:
        code = run_writer(d, url, cfg, max_seconds)
    except NotADay as e:
        raise fail(str(e), 2) from None
    raise typer.Exit(code)


@app.command("load")
def load_cmd(
    days: Annotated[list[Path], typer.Argument(help="Day folders.")],
    url: UrlOpt = None,
    batch_frames: Annotated[int, typer.Option(min=1, help="Frames per transaction.")] = 100_000,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Load days' journals (from where each left off): into one PostgreSQL database with
    --url (the days keyed by date), else each into its own DuckDB file."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from post_trade.db.load import NotADay, load_day
    from post_trade.db.stores import StoreError, open_store
    from sequencer.inject import stream_position

    results = []
    for day in days:
        d = day_folder(day)
        try:
            total = stream_position(d)[0]
            store = open_store(d, url)
        except (StoreError, FileNotFoundError) as e:
            raise fail(str(e), 1) from None
        try:
            with Progress(TextColumn("{task.description}"), BarColumn(),
                          TextColumn("{task.completed:,}/{task.total:,} frames"),
                          TimeRemainingColumn(), console=err,
                          disable=quiet or json_) as bar:
                task = bar.add_task(f"{d.name} -> {store.where}", total=total)
                done = store.position(load_date(d)).last_seq if total else 0
                bar.update(task, completed=done)
                res = load_day(d, store, batch_frames=batch_frames,
                               on_batch=partial(bar.advance, task))
        except NotADay as e:
            raise fail(str(e), 2) from None
        except StoreError as e:
            raise fail(str(e), 1) from None
        finally:
            store.close()
        results.append({"day": str(d), "date": res.day.isoformat(), "database": store.where,
                        "frames": res.frames, "rows": res.rows, "last_seq": res.last_seq,
                        "seconds": round(res.seconds, 3),
                        "rows_per_s": round(res.rows / res.seconds) if res.seconds else 0})
    if json_:
        out.print_json(json.dumps({"loaded": results}))
        return
    for r in results:
        out.print(f"{r['day']} ({r['date']}): {r['frames']:,} frames, {r['rows']:,} rows in "
                  f"{r['seconds']} s ({r['rows_per_s']:,} rows/s) into {r['database']}, "
                  f"at seq {r['last_seq']}", highlight=False)


def load_date(day: Path) -> dt.date:
    from post_trade.db.load import session_date

    return session_date(day)


# ---------------------------------------------------------------- questions


def _ask(day: Path, url: str | None, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run `sql` on the day's database: PostgreSQL by URL, the DuckDB file directly, or
    the running writer that holds it."""
    from post_trade.db import service
    from post_trade.db.stores import BadQuery, StoreError, WriterBusy, open_store

    try:
        if url or not service.running(day):
            try:
                store = open_store(day, url, create=False, read_only=not url)
            except WriterBusy:
                if not service.running(day):
                    raise
                return service.ask(day, sql)
            try:
                return store.query(sql)
            finally:
                store.close()
        return service.ask(day, sql)
    except BadQuery as e:
        raise fail(str(e), 2) from None
    except StoreError as e:
        raise fail(str(e), 1) from None


def _cell(v: Any) -> Any:
    """A value for JSON and CSV: exact decimals as text, times in ISO 8601."""
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, dt.datetime | dt.date | dt.time):
        return v.isoformat()
    if isinstance(v, bytes | memoryview):
        return bytes(v).hex()
    return v


def show(columns: list[str], rows: list[tuple[Any, ...]], *, json_: bool, csv_: bool,
         title: str = "") -> None:
    if json_:
        sys.stdout.write(json.dumps({"columns": columns,
                                     "rows": [[_cell(v) for v in r] for r in rows]}) + "\n")
        return
    if csv_:
        w = csv.writer(sys.stdout)
        w.writerow(columns)
        for r in rows:
            w.writerow([_cell(v) for v in r])
        return
    from rich.table import Table

    cells = [["" if v is None else str(_cell(v)) for v in r] for r in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    if sum(widths) + 3 * len(widths) + 1 > out.width and len(columns) > 2:
        # Too wide for the terminal: one record at a time, a line per column (psql's \x).
        name_w = max(len(c) for c in columns)
        if title:
            out.print(title, highlight=False)
        for n, line in enumerate(cells, start=1):
            out.print(f"-[ {n} ]" + "-" * max(0, name_w - 3), highlight=False)
            for c, v in zip(columns, line, strict=True):
                out.print(f"{c:<{name_w}} | {v}", highlight=False, soft_wrap=True)
    else:
        t = Table(title=title or None, title_justify="left")
        for c in columns:
            t.add_column(c, overflow="fold")
        for line in cells:
            t.add_row(*line)
        out.print(t)
    out.print(f"{len(rows):,} row{'s' if len(rows) != 1 else ''}", highlight=False)


@app.command("query")
def query_cmd(
    day: DayArg,
    sql: Annotated[str, typer.Argument(help="The query (the tables: `tape db views DAY "
                                       "--tables`).")],
    url: UrlOpt = None,
    json_: JsonOpt = False,
    csv_: CsvOpt = False,
) -> None:
    """Run one SQL query on the day's database; a query the database refuses exits 2."""
    d = day if url else day_folder(day)
    cols, rows = _ask(d, url, sql)
    show(cols, rows, json_=json_, csv_=csv_)


@app.command("views")
def views_cmd(
    day: DayArg,
    name: Annotated[str | None, typer.Argument(help="A view to show (all listed if left "
                                               "out).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Rows of a view shown.")] = 50,
    tables: Annotated[bool, typer.Option("--tables", help="List the tables too.")] = False,
    url: UrlOpt = None,
    json_: JsonOpt = False,
    csv_: CsvOpt = False,
) -> None:
    """The canned views (the blotter, fills with the NBBO, activity per client and venue,
    open orders, rejects, the slowest orders), or the rows of one."""
    from post_trade.db import schema, views

    d = day if url else day_folder(day)
    if name is not None:
        if name not in views.BY_NAME and not name.startswith("v_"):
            raise fail(f"no view {name!r}: the views are {', '.join(views.BY_NAME)} and "
                        "v_<table> for each table", 2)
        view = views.BY_NAME.get(name)
        order = f" ORDER BY {view.order}" if view is not None else ""
        cols, rows = _ask(d, url, f"SELECT * FROM {name}{order} LIMIT {limit}")
        show(cols, rows, json_=json_, csv_=csv_, title=name)
        return
    listed = [(v.name, v.what) for v in views.CANNED]
    if tables:
        listed += [(t.name, t.doc) for t in (*schema.FIXED_TABLES, *schema.MESSAGE_TABLES)]
    counts = _ask(d, url, " UNION ALL ".join(
        f"SELECT '{n}', count(*) FROM {n}" for n, _w in listed))[1]
    n_rows = {str(r[0]): int(r[1]) for r in counts}
    show(["name", "rows", "what"], [(n, n_rows.get(n, 0), w) for n, w in listed],
         json_=json_, csv_=csv_)


@app.command("digest")
def digest_cmd(day: DayArg, url: UrlOpt = None, json_: JsonOpt = False) -> None:
    """A digest of every table's rows in seq order: two databases of the same journal
    agree table by table."""
    from post_trade.db.load import digest

    d = day if url else day_folder(day)
    date = load_date(d) if (d / "journal").is_dir() else None
    digests = _digest(d, url, date, digest)
    if json_:
        sys.stdout.write(json.dumps(digests) + "\n")
        return
    show(["table", "rows:sha256"], sorted(digests.items()), json_=False, csv_=False)


def _digest(day: Path, url: str | None, date: dt.date | None, fn: Any) -> dict[str, str]:
    class _Asker:
        def query(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
            return _ask(day, url, sql)

    result: dict[str, str] = fn(_Asker(), date)
    return result


@app.command("export")
def export_cmd(
    day: DayArg,
    parquet: Annotated[Path, typer.Option("--parquet", help="The folder to write "
                                          "TABLE.parquet files into.")],
    url: UrlOpt = None,
) -> None:
    """Every table of the day as a Parquet file, for research tools."""
    from post_trade.db import schema

    d = day if url else day_folder(day)
    date = load_date(d)
    parquet = parquet.resolve()
    parquet.mkdir(parents=True, exist_ok=True)
    total = 0
    for t in schema.ALL_TABLES:
        where = f" WHERE day = DATE '{date.isoformat()}'" if any(
            c.name == "day" for c in t.columns) else ""
        order = " ORDER BY seq" if any(c.name == "seq" for c in t.columns) else ""
        select = f"SELECT * FROM {t.name}{where}{order}"
        target = parquet / f"{t.name}.parquet"
        if url:
            total += _parquet_from_rows(_ask(d, url, select), target)
        else:
            # DuckDB writes Parquet itself (through the running writer if there is one).
            quoted = str(target).replace("'", "''")
            total += int(_ask(d, None, f"COPY ({select}) TO '{quoted}' (FORMAT parquet)"
                              )[1][0][0])
    out.print(f"{len(schema.ALL_TABLES)} tables, {total:,} rows -> {parquet}", highlight=False)


def _parquet_from_rows(answer: tuple[list[str], list[tuple[Any, ...]]], target: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols, rows = answer
    table = pa.table({c: pa.array([r[i] for r in rows]) for i, c in enumerate(cols)})
    pq.write_table(table, target)
    return len(rows)
