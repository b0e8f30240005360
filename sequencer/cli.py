"""`tape` subcommands of the sequencer package: journal, sequencer, driver, inject.

Exit codes: 0 success, 1 a failure or damage found, 2 bad usage (including a
bad config or inject file).
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from sequencer import sources

journal_app = typer.Typer(help="Read, summarise and verify a journal.", no_args_is_help=True)
sequencer_app = typer.Typer(help="Run and inspect the day's sequencer.", no_args_is_help=True)

out = Console()
err = Console(stderr=True)

PathArg = Annotated[Path, typer.Argument(help="A day folder, its journal folder or a .seg file.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
DayOpt = Annotated[Path, typer.Option("--day", help="The day folder.")]


def _fail(msg: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {msg}", highlight=False, markup=True, soft_wrap=True)
    return typer.Exit(code)


def _journal_or_exit(path: Path) -> Path:
    from sequencer.journal import resolve_journal_dir

    try:
        return resolve_journal_dir(path)
    except FileNotFoundError as e:
        raise _fail(str(e), 2) from None


# ---------------------------------------------------------------- messages


def messages_cmd(
    name: Annotated[str | None, typer.Argument(
        help="One message type (its fields are listed); all types if left out.")] = None,
    family: Annotated[str | None, typer.Option(
        help="Only this family: control, admin, marketdata, orders, executions.")] = None,
    fields: Annotated[bool, typer.Option(
        "--fields", help="Every type in full: fields, publishers, handlers.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Every stream message type: its id, family and fields, the sources that publish it
    and the apps and gateways that handle it (read from the code)."""
    import json
    import textwrap

    from sequencer import index

    entries = index.build()
    if name is not None:
        entries = [e for e in entries if e.name.lower() == name.lower()]
        if not entries:
            raise _fail(f"no message type {name!r} (tape messages lists them)", 2)
        fields = True
    if family is not None:
        known = sorted({e.family for e in index.build()})
        if family not in known:
            raise _fail(f"no family {family!r}: one of {', '.join(known)}", 2)
        entries = [e for e in entries if e.family == family]
    if json_:
        out.print_json(json.dumps([e.to_json() for e in entries]))
        return
    if fields:
        for e in entries:
            out.print(f"[bold]{e.name}[/bold] (type id {e.type_id}, {e.family}): {e.doc}",
                      highlight=False)
            for n, ty in e.fields:
                out.print(textwrap.fill(f"{n}: {ty}", width=78, initial_indent="    ",
                                        subsequent_indent="        "), highlight=False)
            out.print("  published by: " + (", ".join(e.publishers) or f"({e.elsewhere})"),
                      highlight=False)
            out.print("  handled by:   " + ("\n                ".join(e.handlers)
                                             or f"(for the record: {e.record})"),
                      highlight=False)
            out.print()
        return
    t = Table(title="stream messages (tape messages NAME: one type's fields and handlers)")
    t.add_column("id", justify="right")
    t.add_column("type")
    t.add_column("published by")
    t.add_column("handled by")
    for e in entries:
        apps = sorted({h.split(".")[0].split(" ")[0] for h in e.handlers})
        handlers = ", ".join(apps) or "[dim](for the record)[/dim]"
        who = ", ".join(e.publishers) or "[dim](elsewhere)[/dim]"
        t.add_row(str(e.type_id), e.name, who, handlers)
    out.print(t)


# ---------------------------------------------------------------- journal


@journal_app.command("cat")
def journal_cat(
    path: PathArg,
    from_seq: Annotated[int, typer.Option("--from", help="First sequence number.")] = 1,
    to_seq: Annotated[int | None, typer.Option("--to", help="Last sequence number.")] = None,
    type_: Annotated[
        list[str] | None, typer.Option("--type", help="Only this message type (repeatable).")
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Print frames, decoded, one per line."""
    from sequencer.journal import JournalCorruption
    from sequencer.messages import BY_NAME, TYPE_ID

    jdir = _journal_or_exit(path)
    wanted: set[int] | None = None
    if type_:
        unknown = [t for t in type_ if t not in BY_NAME]
        if unknown:
            raise _fail(f"unknown message type(s) {unknown}; known: {sorted(BY_NAME)}", 2)
        wanted = {TYPE_ID[BY_NAME[t]] for t in type_}
    w = sys.stdout.write
    try:
        _cat(jdir, from_seq, to_seq, wanted, json_, w)
    except JournalCorruption as e:
        raise _fail(str(e), 1) from None


def _cat(jdir: Path, from_seq: int, to_seq: int | None, wanted: set[int] | None, json_: bool,
         w: Any) -> None:
    import msgspec

    from sequencer.journal import read_all
    from sequencer.messages import decode, to_builtins, type_name
    from sequencer.stats import iso

    for f in read_all(jdir, from_seq, to_seq):
        if wanted is not None and f.type_id not in wanted:
            continue
        try:
            body: Any = to_builtins(decode(f.type_id, f.payload))
        except (msgspec.DecodeError, ValueError) as e:
            body = {"type": type_name(f.type_id), "undecodable": str(e)}
        if json_:
            w(json.dumps({
                "seq": f.seq, "ts_ns": f.ts_ns, "source_id": f.source_id,
                "source_seq": f.source_seq, "cause_seq": f.cause_seq, "msg": body,
            }) + "\n")
        else:
            name = body.pop("type")
            fields = " ".join(f"{k}={v!r}" for k, v in body.items())
            w(f"{f.seq:>10} {iso(f.ts_ns)} src={f.source_id}/{f.source_seq} {name} {fields}\n")


@journal_app.command("stats")
def journal_stats(path: PathArg, json_: JsonOpt = False) -> None:
    """Counts by type and source, first and last stream time, rate over time."""
    from sequencer.journal import JournalCorruption
    from sequencer.stats import compute, iso

    try:
        st = compute(_journal_or_exit(path))
    except JournalCorruption as e:
        raise _fail(str(e), 1) from None
    if json_:
        out.print_json(json.dumps(st.to_json()))
        return
    out.print(f"[bold]{st.frames:,}[/bold] frames, {st.bytes:,} bytes in {st.segments} segment(s); "
              f"seq {st.first_seq}..{st.last_seq}")
    out.print(f"stream time {iso(st.first_ts)} .. {iso(st.last_ts)} ({st.span_s:,.3f} s)")
    t = Table(title="by type")
    t.add_column("type")
    t.add_column("frames", justify="right")
    for name, n in sorted(st.by_type.items(), key=lambda kv: -kv[1]):
        t.add_row(name, f"{n:,}")
    out.print(t)
    t = Table(title="by source")
    t.add_column("source id", justify="right")
    t.add_column("frames", justify="right")
    for src, n in st.by_source.items():
        t.add_row(f"{src} ({sources.name(src)})", f"{n:,}")
    out.print(t)
    if st.rate:
        t = Table(title=f"rate over time ({st.bucket_s} s buckets)")
        t.add_column("from")
        t.add_column("frames", justify="right")
        t.add_column("per s", justify="right")
        t.add_column("")
        peak = max(n for _, n in st.rate)
        for b, n in st.rate:
            bar = "█" * max(1, round(30 * n / peak))
            t.add_row(iso(b)[:19].replace("T", " "), f"{n:,}", f"{n / st.bucket_s:,.1f}", bar)
        out.print(t)


@journal_app.command("verify")
def journal_verify(path: PathArg, json_: JsonOpt = False) -> None:
    """Check checksums, sequence continuity and time order. Exit 0 clean, 1 damaged."""
    from sequencer.journal import verify

    rep = verify(_journal_or_exit(path))
    if json_:
        print(json.dumps({
            "clean": rep.clean, "segments": rep.segments, "frames": rep.frames,
            "bytes": rep.bytes, "first_seq": rep.first_seq, "last_seq": rep.last_seq,
            "damage": [d.__dict__ for d in rep.damage],
        }))
    else:
        state = "[green]clean[/green]" if rep.clean else "[red]DAMAGED[/red]"
        out.print(f"{state}: {rep.frames:,} frames (seq {rep.first_seq}..{rep.last_seq}) "
                  f"in {rep.segments} segment(s), {rep.bytes:,} bytes")
        for d in rep.damage:
            out.print(f"  {d.file} at byte {d.offset} (seq {d.seq}): {d.what}", highlight=False)
    raise typer.Exit(0 if rep.clean else 1)


@journal_app.command("latency")
def journal_latency(
    path: PathArg,
    slowest: Annotated[
        int, typer.Option("--slowest", min=0, help="How many of the slowest outputs to show.")
    ] = 10,
    json_: JsonOpt = False,
) -> None:
    """Latency from the frames' telemetry: transit, queueing, processing, return, end to end."""
    from sequencer.latency import Dist, compute

    rep = compute(_journal_or_exit(path), slowest)
    if json_:
        out.print_json(json.dumps(rep.to_json()))
        return

    def us(x: float | None) -> str:
        return "-" if x is None else f"{x:,.1f}"

    def dist_cells(d: Dist) -> list[str]:
        return [f"{d.count:,}", us(d.p50), us(d.p99), us(d.p99_9), us(d.max),
                f"{d.clamped:,}" if d.clamped else ""]

    def dist_columns(t: Table) -> None:
        for c in ("count", "p50", "p99", "p99.9", "max", "clamped"):
            t.add_column(c, justify="right")

    out.print(f"[bold]{rep.frames:,}[/bold] frames (seq {rep.first_seq}..{rep.last_seq}); "
              f"{rep.transit_frames:,} with a send time; {rep.caused:,} caused outputs, "
              f"{rep.matched:,} matched to their cause ({rep.unmatched:,} not)")
    if rep.clamped or rep.proc_saturated:
        out.print(f"[yellow]{rep.clamped:,} negative figure(s) clamped to 0 (clock steps); "
                  f"{rep.proc_saturated:,} processing time(s) saturated[/yellow]")
    caused = [g for g in rep.groups if g.end_to_end.count]
    if caused:
        t = Table(title="caused outputs by app and type (microseconds)")
        t.add_column("app")
        t.add_column("type")
        t.add_column("stage")
        dist_columns(t)
        for g in caused:
            stages = (("queueing", g.queueing), ("processing", g.processing),
                      ("return", g.return_), ("end to end", g.end_to_end))
            for i, (stage, d) in enumerate(stages):
                t.add_row(g.app if i == 0 else "", g.type if i == 0 else "", stage,
                          *dist_cells(d), end_section=i == len(stages) - 1)
        out.print(t)
    if rep.transit_by_source:
        t = Table(title="inbound transit, publisher offer -> sequencer receive (microseconds)")
        t.add_column("source", justify="right")
        t.add_column("app")
        dist_columns(t)
        for s in rep.transit_by_source:
            t.add_row(str(s.source_id), s.app, *dist_cells(s.transit))
        out.print(t)
    if rep.slowest:
        t = Table(title=f"slowest {len(rep.slowest)} by end to end (microseconds)")
        for c in ("seq", "cause"):
            t.add_column(c, justify="right")
        t.add_column("app")
        t.add_column("type")
        t.add_column("cause type")
        for c in ("end to end", "queueing", "processing", "return"):
            t.add_column(c, justify="right")
        split = any(sc.sequencer_us is not None for sc in rep.slowest)
        if split:
            t.add_column("queueing: in sequencer / transport", justify="right")

        for sc in rep.slowest:
            parts = (sc.queueing_us, sc.processing_us, sc.return_us)
            whole = sum(parts)  # the end to end time, unless a part was clamped
            cells = [str(sc.seq), str(sc.cause_seq), sc.app, sc.type, sc.cause_type,
                     us(sc.end_to_end_us),
                     *(f"{x:,.1f} ({100 * x / whole:.0f}%)" if whole > 0 else us(x)
                       for x in parts)]
            if split:
                cells.append("-" if sc.sequencer_us is None or sc.transport_us is None
                             else f"{us(sc.sequencer_us)} / {us(sc.transport_us)}")
            t.add_row(*cells)
        out.print(t)


# ---------------------------------------------------------------- sequencer


@sequencer_app.command("run")
def sequencer_run(
    day: DayOpt,
    config: Annotated[Path | None, typer.Option(help="TOML config file.")] = None,
    fsync: Annotated[str | None, typer.Option(help="always | group | none")] = None,
    time_mode: Annotated[str | None, typer.Option(help="wall | sim")] = None,
    driver: Annotated[str | None, typer.Option(help="auto | embedded | external")] = None,
    aeron_dir: Annotated[str | None, typer.Option(help="Aeron directory.")] = None,
    session_date: Annotated[str | None, typer.Option(help="YYYY-MM-DD (default today).")] = None,
    seed: Annotated[int | None, typer.Option(help="The day's seed.")] = None,
    max_seconds: Annotated[float | None, typer.Option(help="Exit after this long.")] = None,
) -> None:
    """Run the sequencer for a day folder until SIGTERM or Ctrl-C."""
    from sequencer.config import ConfigError, load_sequencer_config
    from sequencer.journal import JournalCorruption
    from sequencer.service import Sequencer, SequencerError
    from sequencer.transport import TransportError

    overrides: dict[str, Any] = {
        "fsync": fsync, "time_mode": time_mode, "driver": driver, "seed": seed,
        "session_date": session_date,
    }
    try:
        cfg = load_sequencer_config(config, overrides)
        if aeron_dir is not None:
            cfg.transport = cfg.transport.model_copy(update={"aeron_dir": aeron_dir})
    except ConfigError as e:
        raise _fail(str(e), 2) from None
    _configure_logging(day)
    seq = Sequencer(cfg, day)
    try:
        seq.open()
    except (JournalCorruption, TransportError, SequencerError) as e:
        raise _fail(str(e), 1) from None
    rep = seq.journal.report
    if rep.truncated_bytes:
        err.print(f"recovery: truncated a damaged tail of {rep.truncated_bytes} bytes from "
                  f"{rep.truncated_file} ({rep.truncated_reason}); last good seq "
                  f"{rep.last_good_seq}", highlight=False)
    err.print(f"sequencer running: day {day}, aeron {cfg.transport.aeron_dir}, fsync {cfg.fsync}, "
              f"time {cfg.time_mode}, last seq {seq.journal.state.last_seq}", highlight=False)
    seq.run(max_seconds)


@sequencer_app.command("status")
def sequencer_status(day: DayOpt, json_: JsonOpt = False) -> None:
    """The sequencer's last reported state: position, lag, counters."""
    from sequencer.service import STATUS_FILE

    path = day / STATUS_FILE
    if not path.exists():
        raise _fail(f"no sequencer status in {day} (has a sequencer run there?)", 1)
    st = json.loads(path.read_text())
    age_s = (time.time_ns() - st["updated_wall_ns"]) / 1e9
    st["age_s"] = round(age_s, 3)
    if json_:
        print(json.dumps(st))
        return
    out.print(f"state {st['state']} (pid {st['pid']}, reported {age_s:.1f} s ago), "
              f"fsync {st['fsync']}, time {st['time_mode']}")
    out.print(f"last seq {st['last_seq']:,}, published {st['published_seq']:,}, "
              f"lag {st['lag_frames']:,} frames ({st['unpublished_bytes']:,} bytes)")
    t = Table(title="counters")
    t.add_column("counter")
    t.add_column("value", justify="right")
    for k, v in st["counters"].items():
        t.add_row(k, f"{v:,}")
    out.print(t)


@sequencer_app.command("stop")
def sequencer_stop(
    day: DayOpt,
    reason: Annotated[str, typer.Option(help="Why the day stops.")] = "end of day",
) -> None:
    """Sequence SystemStop: the day accepts no more input."""
    from sequencer.inject import inject
    from sequencer.messages.control import SystemStop
    from sequencer.transport import TransportError

    try:
        res = inject(day, [SystemStop(reason=reason)])
    except TransportError as e:
        raise _fail(str(e), 1) from None
    out.print(f"SystemStop sequenced at seq {res.last_seq}")


# ---------------------------------------------------------------- inject, driver


def inject_cmd(
    file: Annotated[Path, typer.Argument(help="A .json, .jsonl or .csv file of messages.")],
    day: DayOpt,
    source: Annotated[int, typer.Option(help="Source id to publish as.")] = 900,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for sequencing.")] = 10.0,
    json_: JsonOpt = False,
) -> None:
    """Send typed messages from a file into the stream (validated first, all or nothing)."""
    from sequencer.inject import InjectError, inject, parse_file
    from sequencer.transport import TransportError

    try:
        msgs = parse_file(file)
    except InjectError as e:
        raise _fail(str(e), 2) from None
    try:
        res = inject(day, msgs, source, timeout)
    except TransportError as e:
        raise _fail(str(e), 1) from None
    if json_:
        print(json.dumps(res.__dict__))
    else:
        out.print(f"injected {res.sent} message(s) from {file} as source {res.source_id}: "
                  f"seq {res.first_seq}..{res.last_seq}")


def driver_cmd(
    aeron_dir: Annotated[str, typer.Option(help="Aeron directory.")] = "/dev/shm/tape-aeron",
) -> None:
    """Run a standalone Aeron media driver that the host's processes attach to."""
    from sequencer.transport import DriverInUse, start_driver, stop_driver

    try:
        drv = start_driver(aeron_dir)
    except DriverInUse as e:
        raise _fail(str(e), 1) from None
    running = True

    def _stop(*_: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    err.print(f"media driver running on {aeron_dir}")
    try:
        while running:
            time.sleep(0.1)
    finally:
        stop_driver(drv)


def _configure_logging(day: Path, process: str = "sequencer") -> None:
    """JSON logs to DAY/logs/<process>.log (off the hot path: a line per event)."""
    import logging

    import structlog

    (day / "logs").mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(day / "logs" / f"{process}.log")
    logging.basicConfig(level=logging.INFO, handlers=[handler], format="%(message)s")
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
    )
