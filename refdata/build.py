"""Build the day's ref data set: read and cross-check the sources, then write atomically.

    report = build(dt.date(2013, 10, 8), Path("day/refdata"))

What goes in, from the config (`refdata.config`):

- the security master: `listings` (one row per symbol) and `restricted`
  (symbols on the restricted list, with a reason);
- `venues` (MIC, SIP letter, hours, auctions) and `destinations` (the ways to
  reach a venue: an algo chooses a venue, the container a destination);
- symbol statistics and volume curves, from the recorded data strictly before
  the session date where present (`refdata.stats`, `refdata.curves`), else
  from the shipped default figures;
- every declared table (`[tables.NAME]`), typed as declared.

Symbol ids are stable for the day: a symbol's id is its 1-based position in
the listings sorted by name (code-point order, so "BAC" < "BRK.B" < "C"); the
same listings give the same ids on any machine, whatever order the file is in.

Checks, each naming file, line and column: malformed cells, duplicate
symbols, venues, SIP letters, destinations, restricted entries and table
keys; a listing or destination naming an unknown (or non-routable) venue; a
restricted symbol that is not listed; a session that closes before it opens.
A reference to an entry whose own row is wrong (a venue with a bad SIP letter,
say) is not reported again, so one mistake does not echo through the other
files; a file that is absent or has a wrong header is not checked against.

Output: `OUT/refdata.json` (the canonical `RefDataSet` as JSON, whose SHA-256
is the set's digest) and `OUT/manifest.json` (digest, date, counts, sources).
The bytes are a pure function of the inputs: every tuple is in a sorted order,
floats are rounded to 6 decimals, and sources are named relative to the
config, so two checkouts build the same digest. The set is built in a
temporary folder beside OUT, synced, then renamed into place; on any error
nothing is written and an existing set is left as it was.
"""

# determinism: edge module, offline tooling: builds the day's set from files before the day starts

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any

import msgspec
from pydantic import PlainValidator

from refdata.config import Config, load_config
from refdata.files import (
    Bool,
    Currency,
    FixSession,
    Name,
    NonEmpty,
    NonNegativeInt,
    PositiveInt,
    Problem,
    Problems,
    RawRow,
    RefDataError,
    Row,
    SipLetter,
    SourceFile,
    SymbolName,
    TimeMs,
    TimeZone,
    VenueCode,
    got,
    one_of,
    parse_rows,
    read_source,
    validate_cell,
    validate_row,
)
from refdata.load import FORMAT, MANIFEST_FILE, REFDATA_FILE
from refdata.model import (
    Destination,
    RefDataSet,
    Symbol,
    SymbolStats,
    Table,
    Venue,
    VolumeCurve,
)
from sequencer.journal import fsync_dir

DATA_SET = "us_equities_2013-10"  # the recorded data set under the data folder

# (step description, steps done, steps in all); called before each step and at the end.
ProgressFn = Callable[[str, int, int], None]
STEPS = ("reading ref data files", "symbol statistics", "volume curves", "writing the set")

TickRule = Annotated[str, PlainValidator(one_of("regnms"))]


# ---------------------------------------------------------------- row models


class ListingRow(Row):
    symbol: SymbolName
    description: NonEmpty
    primary_venue: VenueCode
    lot_size: PositiveInt
    tick_rule: TickRule
    currency: Currency


class VenueRow(Row):
    code: VenueCode
    name: NonEmpty
    sip_code: SipLetter
    timezone: TimeZone
    open: TimeMs
    close: TimeMs
    opening_auction: Bool
    closing_auction: Bool
    routable: Bool = True


class DestinationRow(Row):
    name: Name
    venue: VenueCode
    session: FixSession
    priority: NonNegativeInt = 0


class RestrictedRow(Row):
    symbol: SymbolName
    reason: NonEmpty


def _columns(model: type[Row]) -> tuple[list[str], list[str]]:
    """(required, optional) columns of a row model, in declaration order."""
    fields = model.model_fields
    return ([n for n, f in fields.items() if f.is_required()],
            [n for n, f in fields.items() if not f.is_required()])


# ---------------------------------------------------------------- report


@dataclass(frozen=True)
class BuildReport:
    out_dir: Path
    session_date: dt.date
    digest: str
    built_with: str  # "data" (recorded history found) or "defaults" (shipped figures only)
    data_dir: Path | None
    symbols: int
    venues: int
    destinations: int
    restricted: int
    tables: dict[str, int]  # name -> rows
    stats_sources: dict[str, int]  # SymbolStats.source -> symbols
    curves_built: int  # per-symbol curves (the "*" default curve not counted)
    curve_sources: dict[str, int]  # kind of VolumeCurve.source -> curves, "*" included
    sources: tuple[str, ...]  # "<sha256>  <name>" of every input file, by name

    def to_json(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir), "session_date": self.session_date.isoformat(),
            "digest": self.digest, "built_with": self.built_with,
            "data_dir": None if self.data_dir is None else str(self.data_dir),
            "symbols": self.symbols, "venues": self.venues,
            "destinations": self.destinations, "restricted": self.restricted,
            "tables": self.tables, "stats_sources": self.stats_sources,
            "curves_built": self.curves_built, "curve_sources": self.curve_sources,
            "sources": list(self.sources),
        }


def default_data_dir() -> Path | None:
    """The recorded data set when it is present on this machine, else None."""
    from marketdata.recorded import default_data_dir as data_root

    path = data_root() / DATA_SET
    return path if path.is_dir() else None


# ---------------------------------------------------------------- build


def build(
    date: dt.date,
    out_dir: Path,
    *,
    config_path: Path | None = None,
    data_dir: Path | None = None,
    use_data: bool = True,
    progress: ProgressFn | None = None,
) -> BuildReport:
    """Build and write the ref data set for `date` into `out_dir`.

    `data_dir` is the recorded data set to compute statistics and curves from;
    None finds it (`default_data_dir`). `use_data=False` builds from the
    shipped default figures even where recorded data exists. Raises
    `RefDataError` (every problem, located) for bad inputs; writes nothing then.
    """
    out_dir = Path(out_dir).absolute()
    _check_replaceable(out_dir)  # fail before the long steps, not after them
    config = load_config(config_path)
    if not use_data:
        data_dir = None
    elif data_dir is None:
        data_dir = default_data_dir()
    elif not Path(data_dir).is_dir():
        raise RefDataError([Problem(str(data_dir), "no such data folder")])

    def step(i: int) -> None:
        if progress is not None:
            progress(STEPS[i] if i < len(STEPS) else "done", i, len(STEPS))

    step(0)
    master = read_master(config)
    names = [s.name for s in master.symbols]
    step(1)
    stats = _statistics(config, data_dir, names, date)
    step(2)
    curves = _curves(config, data_dir, names, date)
    step(3)
    refset = RefDataSet(
        session_date=date,
        symbols=master.symbols,
        venues=master.venues,
        destinations=master.destinations,
        stats=stats,
        curves=curves,
        tables=master.tables,
        bin_minutes=config.settings.bin_minutes,
        sources=tuple(f"{s.sha256}  {s.name}" for s in master.sources),
    )
    blob = msgspec.json.encode(refset)
    digest = hashlib.sha256(blob).hexdigest()
    report = BuildReport(
        out_dir=out_dir, session_date=date, digest=digest,
        built_with="defaults" if data_dir is None else "data", data_dir=data_dir,
        symbols=len(refset.symbols), venues=len(refset.venues),
        destinations=len(refset.destinations),
        restricted=sum(1 for s in refset.symbols if s.restricted),
        tables={t.name: len(t.rows) for t in refset.tables},
        stats_sources=_count(s.source for s in stats),
        curves_built=sum(1 for c in curves if c.symbol != "*"),
        # by kind: a blend's source is a long description ("blend: AIG over 2 days ...")
        curve_sources=_count(c.source.split(":", 1)[0] for c in curves),
        sources=refset.sources,
    )
    _write_set(out_dir, {REFDATA_FILE: blob, MANIFEST_FILE: _manifest(report, master, blob)})
    step(len(STEPS))
    return report


def _count(items: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for x in items:
        counts[x] = counts.get(x, 0) + 1
    return dict(sorted(counts.items()))


# ---------------------------------------------------------------- the files


@dataclass(frozen=True)
class Master:
    """What the delimited files say, validated and in set order."""

    symbols: tuple[Symbol, ...]
    venues: tuple[Venue, ...]
    destinations: tuple[Destination, ...]
    tables: tuple[Table, ...]
    sources: tuple[SourceFile, ...]  # sorted by name


@dataclass(frozen=True)
class FileRows[R]:
    """A fixed file as read: every data row's text, and the rows that validated."""

    src: SourceFile | None
    raws: list[RawRow]
    good: list[tuple[RawRow, R]]


@dataclass(frozen=True)
class Known[V]:
    """What one file declares, for checking another file's references to it.

    `good` holds the entries that passed every check; `mentioned` every key the
    file names at all. A reference to a key that is mentioned but not good is
    not reported again: its own row already was.
    """

    good: dict[str, V]
    mentioned: frozenset[str]


def _read[R: Row](config: Config, name: str, problems: Problems, model: type[R],
                  delimiter: str) -> FileRows[R]:
    """A fixed file's rows, each validated as `model` (bad rows are left out of `good`)."""
    src = read_source(config.resolve(name), Config.display(name), problems)
    if src is None:
        return FileRows(None, [], [])
    required, optional = _columns(model)
    raws = parse_rows(src, problems, required=required, optional=optional, delimiter=delimiter)
    good = []
    for raw in raws:
        row = validate_row(model, src, raw, problems)
        if row is not None:
            good.append((raw, row))
    return FileRows(src, raws, good)


def _known[V](rows: FileRows[Any], column: str, good: dict[str, V],
              problems: Problems) -> Known[V] | None:
    """What a file declares; None when it is absent or its header is wrong (then no
    reference to it can be judged, and none is reported)."""
    if rows.src is None or (not rows.raws and problems.count(rows.src.name)):
        return None
    return Known(good, frozenset(r.cells[column].strip() for r in rows.raws))


def read_master(config: Config) -> Master:
    """Read, validate and cross-check every delimited source; raise all problems found."""
    files = config.settings.files
    delim = config.settings.delimiter
    problems = Problems()
    v_rows = _read(config, files.venues, problems, VenueRow, delim)
    l_rows = _read(config, files.listings, problems, ListingRow, delim)
    d_rows = _read(config, files.destinations, problems, DestinationRow, delim)
    r_rows = _read(config, files.restricted, problems, RestrictedRow, delim)
    # The default figures are read by refdata.stats / refdata.curves; they are
    # hashed here so that `sources` covers every file the set depends on.
    extra = [read_source(config.resolve(n), Config.display(n), problems)
             for n in (files.default_stats, files.default_curve)]

    vname = Config.display(files.venues)
    venues = _venues(v_rows, problems)
    known_venues = _known(v_rows, "code", venues, problems)
    listings = _listings(l_rows, known_venues, vname, problems)
    known_listings = _known(l_rows, "symbol", listings, problems)
    destinations = _destinations(d_rows, known_venues, vname, problems)
    restricted = _restricted(r_rows, known_listings, problems)
    tables, t_srcs = _tables(config, problems, tuple(sorted(listings)))
    problems.raise_if_any()

    symbols = tuple(
        Symbol(id=i, name=row.symbol, description=row.description,
               primary_venue=row.primary_venue, lot_size=row.lot_size,
               tick_rule=row.tick_rule, currency=row.currency,
               restricted=row.symbol in restricted,
               restricted_reason=restricted.get(row.symbol, ""))
        for i, row in enumerate(sorted(listings.values(), key=lambda r: r.symbol), start=1)
    )
    srcs = [s for s in (v_rows.src, l_rows.src, d_rows.src, r_rows.src, *extra, *t_srcs)
            if s is not None]
    return Master(
        symbols=symbols,
        venues=tuple(venues[k] for k in sorted(venues)),
        destinations=tuple(destinations[k] for k in sorted(destinations)),
        tables=tables,
        sources=tuple(sorted(srcs, key=lambda s: (s.name, s.sha256))),
    )


def _first_seen(problems: Problems, src: SourceFile, raw: RawRow, column: str, what: str,
                first: dict[str, int], key: str) -> bool:
    """Record `key` as seen on this line; False (and a problem) if it was seen before."""
    if key in first:
        problems.add(src.name, f"duplicate {what} {key!r} (first on line {first[key]})",
                     line=raw.line, column=column)
        return False
    first[key] = raw.line
    return True


def _venues(rows: FileRows[VenueRow], problems: Problems) -> dict[str, Venue]:
    venues: dict[str, Venue] = {}
    src = rows.src
    if src is None:
        return venues
    first: dict[str, int] = {}
    first_sip: dict[str, int] = {}
    for raw, row in rows.good:
        if not _first_seen(problems, src, raw, "code", "venue", first, row.code):
            continue
        if row.sip_code and not _first_seen(problems, src, raw, "sip_code", "SIP letter",
                                            first_sip, row.sip_code):
            continue
        if row.close <= row.open:
            problems.add(src.name, f"expected a time after open ({raw.cells['open'].strip()}), "
                         f"{got(raw.cells['close'].strip())}", line=raw.line, column="close")
            continue
        venues[row.code] = Venue(
            code=row.code, name=row.name, sip_code=row.sip_code, timezone=row.timezone,
            open_ms=row.open, close_ms=row.close, opening_auction=row.opening_auction,
            closing_auction=row.closing_auction, routable=row.routable)
    return venues


def _venue_problem(venues: Known[Venue] | None, code: str, venues_file: str) -> str | None:
    """What is wrong with naming `code` as a venue to trade on, or None."""
    if venues is None:
        return None
    v = venues.good.get(code)
    if v is None:
        return None if code in venues.mentioned else (
            f"expected a venue of {venues_file}, {got(code)}")
    if not v.routable:
        return f"expected a routable venue, {got(code)} ({venues_file} has routable = false)"
    return None


def _listings(rows: FileRows[ListingRow], venues: Known[Venue] | None, venues_file: str,
              problems: Problems) -> dict[str, ListingRow]:
    listings: dict[str, ListingRow] = {}
    src = rows.src
    if src is None:
        return listings
    first: dict[str, int] = {}
    for raw, row in rows.good:
        if not _first_seen(problems, src, raw, "symbol", "symbol", first, row.symbol):
            continue
        if why := _venue_problem(venues, row.primary_venue, venues_file):
            problems.add(src.name, why, line=raw.line, column="primary_venue")
            continue
        listings[row.symbol] = row
    return listings


def _destinations(rows: FileRows[DestinationRow], venues: Known[Venue] | None,
                  venues_file: str, problems: Problems) -> dict[str, Destination]:
    out: dict[str, Destination] = {}
    src = rows.src
    if src is None:
        return out
    first: dict[str, int] = {}
    for raw, row in rows.good:
        if not _first_seen(problems, src, raw, "name", "destination", first, row.name):
            continue
        if why := _venue_problem(venues, row.venue, venues_file):
            problems.add(src.name, why, line=raw.line, column="venue")
            continue
        out[row.name] = Destination(name=row.name, venue=row.venue, session=row.session,
                                    priority=row.priority)
    return out


def _restricted(rows: FileRows[RestrictedRow], listings: Known[ListingRow] | None,
                problems: Problems) -> dict[str, str]:
    reasons: dict[str, str] = {}
    src = rows.src
    if src is None:
        return reasons
    first: dict[str, int] = {}
    for raw, row in rows.good:
        if not _first_seen(problems, src, raw, "symbol", "restricted symbol", first, row.symbol):
            continue
        if listings is not None and row.symbol not in listings.mentioned:
            problems.add(src.name, f"expected a symbol of the listings, {got(row.symbol)}",
                         line=raw.line, column="symbol")
            continue
        reasons[row.symbol] = row.reason
    return reasons


def _table_checks() -> dict[str, Callable[..., list[tuple[str, str, str]]]]:
    """Checks other packages declare for a table (entry point group
    `tape.refdata.checks`, named after the table): `fn(rows, symbol_names)`
    returns (row key, column, what was expected) for each problem."""
    found: dict[str, Callable[..., list[tuple[str, str, str]]]] = {}
    for ep in entry_points(group="tape.refdata.checks"):
        module, _, attr = ep.value.partition(":")
        found[ep.name] = getattr(importlib.import_module(module), attr)
    return found


def _tables(config: Config, problems: Problems,
            symbol_names: tuple[str, ...] = ()) -> tuple[tuple[Table, ...], list[SourceFile]]:
    """Every declared table, typed as declared, rows in key order, checked by the
    package that reads it where one declares a check."""
    tables: list[Table] = []
    srcs: list[SourceFile] = []
    checks = _table_checks()
    for name in sorted(config.settings.tables):
        decl = config.settings.tables[name]
        src = read_source(config.resolve(decl.path), Config.display(decl.path), problems)
        if src is None:
            continue
        srcs.append(src)
        columns = list(decl.columns)
        raws = parse_rows(src, problems, required=columns, delimiter=decl.delimiter)
        rows: dict[str, dict[str, Any]] = {}
        first: dict[str, int] = {}
        lines: dict[str, int] = {}
        for raw in raws:
            key = raw.cells[decl.key].strip()
            if not key:
                problems.add(src.name, "expected a key (the cell is empty)", line=raw.line,
                             column=decl.key)
                continue
            if not _first_seen(problems, src, raw, decl.key, "key", first, key):
                continue
            row: dict[str, Any] = {}
            ok = True
            for col in columns:
                good, value = validate_cell(decl.columns[col], src, raw, col, problems)
                ok = ok and good
                row[col] = value
            if ok:
                rows[key] = row
                lines[key] = raw.line
        check = checks.get(name)
        if check is not None and rows:
            for key, col, what in check(rows, symbol_names):
                problems.add(src.name, what, line=lines.get(key), column=col)
        tables.append(Table(name=name, key=decl.key, columns=tuple(columns),
                            rows={k: rows[k] for k in sorted(rows)}))
    return tuple(tables), srcs


# ---------------------------------------------------------------- statistics and curves


def _r6(x: float) -> float:
    """Round a model figure for the set (float() also turns numpy scalars into floats)."""
    return round(float(x), 6)


def _statistics(config: Config, data_dir: Path | None, names: Sequence[str],
                date: dt.date) -> tuple[SymbolStats, ...]:
    from refdata.stats import compute_stats, load_default_stats

    path_name = config.settings.files.default_stats
    display = Config.display(path_name)
    try:
        defaults = load_default_stats(config.resolve(path_name))
        computed = compute_stats(data_dir, names, date, defaults)
    except RefDataError:
        raise
    except (ValueError, OSError, KeyError) as e:
        # Their messages name the file and line already.
        raise RefDataError([Problem("statistics", str(e))]) from None
    by_symbol: dict[str, SymbolStats] = {}
    for s in computed:
        by_symbol.setdefault(s.symbol, s)
    missing = [n for n in names if n not in by_symbol]
    if missing:  # every listed symbol must come out with statistics
        raise RefDataError([Problem(display, f"no statistics for {', '.join(missing)} "
                                    "(and no default row '*' to fall back on)")])
    return tuple(
        SymbolStats(symbol=n, adv=int(s.adv), avg_spread_bps=_r6(s.avg_spread_bps),
                    volatility=_r6(s.volatility), avg_trade_size=int(s.avg_trade_size),
                    ref_price=int(s.ref_price), days=int(s.days), source=str(s.source))
        for n in names for s in (by_symbol[n],)
    )


def _curves(config: Config, data_dir: Path | None, names: Sequence[str],
            date: dt.date) -> tuple[VolumeCurve, ...]:
    from refdata.curves import build_curves, load_default_curve

    path_name = config.settings.files.default_curve
    display = Config.display(path_name)
    params = config.settings.curves
    try:
        default = load_default_curve(config.resolve(path_name))
        built = build_curves(data_dir, names, date, default, min_days=params.min_days,
                             prior_days=params.prior_days)
    except RefDataError:
        raise
    except (ValueError, OSError, KeyError) as e:
        raise RefDataError([Problem("volume curves", str(e))]) from None
    wanted = {"*", *names}
    by_symbol: dict[str, VolumeCurve] = {}
    for c in built:
        if c.symbol in wanted:
            by_symbol.setdefault(c.symbol, c)
    if "*" not in by_symbol:
        raise RefDataError([Problem(display, "no default curve '*' was built")])
    return tuple(
        VolumeCurve(
            symbol=c.symbol,
            minute_shares=tuple(_r6(x) for x in c.minute_shares),
            open_auction=_r6(c.open_auction),
            close_auction=_r6(c.close_auction),
            days=tuple(str(d) for d in c.days),
            source=str(c.source),
            day_shares=tuple(tuple(_r6(x) for x in day) for day in c.day_shares),
        )
        for c in (by_symbol[k] for k in sorted(by_symbol))
    )


# ---------------------------------------------------------------- writing


def _manifest(report: BuildReport, master: Master, blob: bytes) -> bytes:
    doc = {
        "format": FORMAT,
        "digest": report.digest,
        "session_date": report.session_date.isoformat(),
        "built_with": report.built_with,
        # The data set's name, not its path: the manifest of two checkouts agrees.
        "data": None if report.data_dir is None else report.data_dir.name,
        "counts": {
            "symbols": report.symbols, "venues": report.venues,
            "destinations": report.destinations, "restricted": report.restricted,
            "tables": report.tables, "curves_built": report.curves_built,
        },
        "stats_sources": report.stats_sources,
        "curve_sources": report.curve_sources,
        "sources": [{"name": s.name, "sha256": s.sha256} for s in master.sources],
        "files": {REFDATA_FILE: {"bytes": len(blob), "sha256": report.digest}},
    }
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


def _check_replaceable(out: Path) -> None:
    """`out` may be absent, an empty folder or a previous set; nothing else is replaced."""
    if not out.exists() and not out.is_symlink():
        return
    if out.is_dir() and not out.is_symlink():
        if (out / MANIFEST_FILE).is_file():
            return
        if not any(out.iterdir()):
            return
    what = ("is a symbolic link" if out.is_symlink()
            else f"exists and is not a ref data set (no {MANIFEST_FILE})")
    raise RefDataError([Problem(str(out), f"{what}; refusing to replace it")])


def _write_set(out: Path, files: dict[str, bytes]) -> None:
    """Write `files` into `out` atomically: a synced temp folder renamed into place.

    Replacing a previous set takes two renames (the old set aside, the new one
    in); a reader between them finds no set, never half of one.
    """
    _check_replaceable(out)
    parent = out.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=parent))
    old: Path | None = None
    try:
        for name, blob in files.items():
            with open(tmp / name, "xb") as fh:
                fh.write(blob)
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a set is for every app to read
        fsync_dir(tmp)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=parent))
            os.replace(out, old / "set")
            old_set = old / "set"
            try:
                os.replace(tmp, out)
            except BaseException:
                os.replace(old_set, out)
                raise
        else:
            os.replace(tmp, out)
        fsync_dir(parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not (old / "set").exists():
            shutil.rmtree(old, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
