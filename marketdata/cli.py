"""`tape marketdata ...`: run the ticker plant for a day, and check a recorded day's figures.

Exit codes: 0 success, 1 a failure (a missing data file, the stream refused
input), 2 bad usage (a bad option, no ref data set or journal for the day).
"""

# determinism: edge module, a command line: files, clocks and progress bars

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from sequencer.cli import DayOpt, JsonOpt, _fail, err, out

marketdata_app = typer.Typer(help="The ticker plant: feed market data onto the stream.",
                             no_args_is_help=True)

FEEDS = ("recorded", "csv", "sim")
RECORDED_SET = "us_equities_2013-10"


def parse_speed(text: str) -> float | None:
    """`fast` -> None (as fast as the stream takes it), `real` -> 1.0, `10x` or `10` -> 10.0."""
    t = text.strip().lower()
    if t == "fast":
        return None
    if t == "real":
        return 1.0
    try:
        v = float(t.removesuffix("x"))
    except ValueError:
        v = 0.0
    if v <= 0:
        raise typer.BadParameter(f"expected fast, real or a positive multiple like 10x, "
                                 f"got {text!r}", param_hint="--speed")
    return v


def _session_of(day: Path) -> tuple[dt.date, int, str]:
    """(session date, day seed, time mode) from the day's SystemStart."""
    from sequencer.journal import JournalCorruption, JournalReader
    from sequencer.messages import decode
    from sequencer.messages.control import SystemStart

    if not (day / "journal").is_dir():
        raise _fail(f"{day}: no journal (start the day's sequencer first)", 2)
    try:
        with JournalReader(day / "journal", 1) as r:
            first = r.read_raw(1)
    except JournalCorruption as e:
        raise _fail(str(e), 1) from None
    if not first:
        raise _fail(f"{day}: the journal is empty (start the day's sequencer first)", 2)
    msg = decode(int.from_bytes(first[0][36:38], "little"), first[0][80:])
    if not isinstance(msg, SystemStart):
        raise _fail(f"{day}: the journal does not begin with SystemStart", 1)
    return msg.session_date, msg.seed, msg.time_mode


def _refdata(path: Path) -> Any:
    from refdata.files import RefDataError
    from refdata.load import load

    if not (path / "manifest.json").exists():
        raise _fail(f"no ref data set in {path} (build one: tape refdata build --date "
                    f"YYYY-MM-DD --out {path})", 2)
    try:
        return load(path)
    except RefDataError as e:
        raise _fail(str(e), 1) from None


def load_feed(kind: str, *, rd: Any, day: dt.date, seed: int, data: Path | None,
              file: Path | None, symbols: list[str]) -> Any:
    """The day's feed as a `FeedBatch`, from recorded files, a user CSV file or the simulator."""
    from marketdata.recorded import DataFileError, default_data_dir, load_day, tick_file

    if kind == "recorded":
        data_dir = data or default_data_dir() / RECORDED_SET
        if not symbols:
            stamp = day.isoformat()
            symbols = [s.name for s in rd.symbols
                       if tick_file(data_dir, s.name, stamp, "trade").exists()
                       or tick_file(data_dir, s.name, stamp, "quote").exists()]
            if not symbols:
                raise _fail(f"no recorded tick data for {day} under {data_dir}", 1)
        try:
            return load_day(data_dir, symbols, day)
        except DataFileError as e:
            raise _fail(str(e), 1) from None
    if kind == "csv":
        from marketdata.csvfeed import FeedFileError, read_csv_feed

        if file is None:
            raise _fail("--feed csv needs --file FILE", 2)
        try:
            return read_csv_feed(file, day=day)
        except FeedFileError as e:
            raise _fail(str(e), 1) from None
    from marketdata.simulator import SimSymbol, simulate

    names = symbols or [s.name for s in rd.symbols]
    sims = []
    for name in names:
        sym = rd.find(name)
        if sym is None:
            raise _fail(f"--symbols: no symbol {name!r} in the ref data", 2)
        sims.append(SimSymbol.from_stats(rd.stats(sym.id), lot_size=sym.lot_size))
    return simulate(day, sims, seed=seed, curve=rd.curve(rd.by_name(names[0]).id))


def _report_bad(feed: Any, day: Path | None) -> None:
    if not feed.bad:
        return
    err.print(f"{len(feed.bad):,} corrupt row(s) skipped:", highlight=False)
    for b in feed.bad[:20]:
        err.print(f"  {b}", highlight=False, markup=False)
    if len(feed.bad) > 20:
        err.print(f"  ... and {len(feed.bad) - 20:,} more", highlight=False)
    if day is not None:
        path = day / "marketdata" / "bad_rows.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{b}\n" for b in feed.bad))
        err.print(f"  (all of them in {path})", highlight=False)


@marketdata_app.command("run")
def run_cmd(
    day: DayOpt,
    feed: Annotated[str, typer.Option(help="recorded | csv | sim")] = "recorded",
    file: Annotated[Path | None, typer.Option(help="The user CSV file (--feed csv).")] = None,
    data: Annotated[Path | None, typer.Option(help="Recorded data folder (us_equities_...).")
                    ] = None,
    symbols: Annotated[str, typer.Option(help="Only these symbols, comma separated.")] = "",
    speed: Annotated[str, typer.Option(help="fast | real | a multiple such as 10x.")] = "fast",
    subscribe: Annotated[str, typer.Option(
        help="Subscribe the plant itself to these symbols (comma separated).")] = "",
    wait_subscribed: Annotated[int, typer.Option(
        help="Hold the feed until this many symbols have subscribers.")] = 0,
    max_seconds: Annotated[float | None, typer.Option(help="Stop after this long.")] = None,
    resume: Annotated[bool, typer.Option(
        help="Go on after the plant's last message in the journal (after a stop).")] = False,
    json_: JsonOpt = False,
) -> None:
    """Feed the day's market data onto the stream (the sequencer must be running)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from marketdata.clock import local_midnight_ns
    from marketdata.service import PlantError, TickerPlant
    from sequencer.journal import JournalCorruption
    from sequencer.transport import StreamStopped, TransportError

    if feed not in FEEDS:
        raise _fail(f"--feed: expected one of {', '.join(FEEDS)}, got {feed!r}", 2)
    pace = parse_speed(speed)
    from sequencer.logs import configure

    session, seed, _mode = _session_of(day)
    configure(day, "ticker_plant")
    rd = _refdata(day / "refdata")
    names = [s.strip() for s in symbols.split(",") if s.strip()]
    batch = load_feed(feed, rd=rd, day=session, seed=seed, data=data, file=file, symbols=names)
    _report_bad(batch, day)
    subs = [s.strip() for s in subscribe.split(",") if s.strip()]
    for s in subs:
        if rd.find(s) is None:
            raise _fail(f"--subscribe: no symbol {s!r} in the ref data", 2)
    tz = next((v.timezone for v in rd.venues if v.routable), "America/New_York")
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,}"
                  "/{task.total:,} rows"), TimeRemainingColumn(), console=err,
                  transient=True, disable=json_) as prog:
        task = prog.add_task(f"ticker plant ({feed}, {speed})", total=len(batch))
        plant = TickerPlant(day, batch, rd, local_midnight_ns(session, tz), speed=pace,
                            subscribe=subs, wait_subscribed=wait_subscribed, resume=resume,
                            progress=lambda done, _t: prog.update(task, completed=done))
        try:
            res = plant.run(max_seconds)
        except (StreamStopped, TransportError, PlantError, JournalCorruption) as e:
            raise _fail(str(e), 1) from None
    report = res.as_dict() | {"feed": feed, "session_date": session.isoformat()}
    (day / "marketdata").mkdir(exist_ok=True)
    (day / "marketdata" / "plant.json").write_text(json.dumps(report, indent=2) + "\n")
    if json_:
        print(json.dumps(report, separators=(",", ":")))
        return
    out.print(f"ticker plant: {res.rows:,} rows in {res.seconds:.1f} s, {res.published:,} "
              f"published, {res.snapshots} snapshot(s), {res.bad_rows} corrupt row(s); "
              f"stopped by {res.stopped_by}", highlight=False)
    if res.unknown_venues:
        err.print(f"venue codes not in the ref data (kept as they are): "
                  f"{', '.join(res.unknown_venues)}", highlight=False)


@marketdata_app.command("stats")
def stats_cmd(
    date: Annotated[str, typer.Option(help="The recorded day, YYYY-MM-DD.")] = "2013-10-08",
    data: Annotated[Path | None, typer.Option(help="Recorded data folder.")] = None,
    symbols: Annotated[str, typer.Option(help="Comma separated (default: all with data).")
                       ] = "",
    json_: JsonOpt = False,
) -> None:
    """A recorded day through the plant's rules, off the stream: session volume and VWAP."""
    import tempfile

    from rich.table import Table

    from marketdata.clock import local_midnight_ns
    from marketdata.plant import PlantCore
    from refdata.build import build
    from refdata.load import load

    try:
        day = dt.date.fromisoformat(date)
    except ValueError:
        raise _fail(f"--date: expected YYYY-MM-DD, got {date!r}", 2) from None
    with tempfile.TemporaryDirectory(prefix="tape-md-stats-") as tmp:
        # Symbol ids and venues are all this needs: no statistics or curves from history.
        build(day, Path(tmp) / "refdata", use_data=False)
        rd = load(Path(tmp) / "refdata")
    names = [s.strip() for s in symbols.split(",") if s.strip()]
    batch = load_feed("recorded", rd=rd, day=day, seed=0, data=data, file=None, symbols=names)
    _report_bad(batch, None)
    core = PlantCore(rd, batch, local_midnight_ns(day, "America/New_York"))
    for chunk in batch.chunks():
        core.feed_rows(chunk, lambda *_: None)
    rows: list[dict[str, Any]] = []
    for sid, f in sorted(core.session.items()):
        rows.append({"symbol": rd.symbol(sid).name, "session_trades": f.trades,
                     "session_volume": f.volume, "session_vwap": round(f.vwap, 4)})
    if json_:
        print(json.dumps({"date": date, "rows": len(batch), "bad_rows": len(batch.bad),
                          "symbols": rows}, separators=(",", ":")))
        return
    t = Table(title=f"{date}: regular session (09:30-16:00, regular-way prints)")
    for c in ("symbol", "trades", "volume", "VWAP"):
        t.add_column(c, justify="left" if c == "symbol" else "right")
    for r in rows:
        t.add_row(r["symbol"], f"{r['session_trades']:,}", f"{r['session_volume']:,}",
                  f"{r['session_vwap']:.4f}")
    out.print(t)
