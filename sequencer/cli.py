"""`tape` subcommands of the sequencer package: journal, sequencer, driver, inject.

Exit codes: 0 success, 1 a failure or damage found, 2 bad usage (including a
bad config or inject file).
"""

from __future__ import annotations

import json
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
NoVerifyOpt = Annotated[bool, typer.Option(
    "--no-check", help="Skip the checks of every frame read (checksum, no seq missing or "
                        "repeated): faster, and damage goes unnoticed.")]


def _fail(msg: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {msg}", highlight=False, markup=True, soft_wrap=True)
    return typer.Exit(code)


def _journal_or_exit(path: Path) -> Path:
    from sequencer.journal import resolve_journal_dir

    try:
        return resolve_journal_dir(path, strict=True)
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
    no_check: NoVerifyOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Print frames, decoded, one per line. Every frame read is checked (checksum, no seq
    missing or repeated): damage stops it with exit 1, naming file, offset and seq."""
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
        _cat(jdir, from_seq, to_seq, wanted, json_, w, verify=not no_check)
    except JournalCorruption as e:
        raise _fail(str(e), 1) from None


def _cat(jdir: Path, from_seq: int, to_seq: int | None, wanted: set[int] | None, json_: bool,
         w: Any, *, verify: bool = True) -> None:
    import msgspec

    from sequencer.journal import read_all
    from sequencer.messages import decode, to_builtins, type_name
    from sequencer.stats import iso

    for f in read_all(jdir, from_seq, to_seq, verify=verify):
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
            fields = " ".join(f"{k}={_human(k, v)}" for k, v in body.items())
            w(f"{f.seq:>10} {iso(f.ts_ns)} src={f.source_id}/{f.source_seq} {name} {fields}\n")


def _human(name: str, value: Any) -> str:
    """A field as `tape journal cat` shows it: prices (fixed point on the stream) as
    decimals, everything else as Python writes it (--json keeps the stream's integers)."""
    if isinstance(value, int) and not isinstance(value, bool) and (
            name in ("px", "price") or name.endswith("_px")):
        from sequencer.messages.executions import AVG_PX_SCALE
        from sequencer.messages.marketdata import PRICE_SCALE

        return _decimal(value, AVG_PX_SCALE if name == "avg_px" else PRICE_SCALE)
    return repr(value)


def _decimal(value: int, scale: int) -> str:
    """An exact decimal of a fixed-point integer, with at least two decimals."""
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), scale)
    digits = len(str(scale)) - 1
    text = f"{frac:0{digits}d}".rstrip("0")
    return f"{sign}{whole}.{text:0<2}"


@journal_app.command("stats")
def journal_stats(path: PathArg, no_check: NoVerifyOpt = False, json_: JsonOpt = False) -> None:
    """Counts by type and source, first and last stream time, rate over time. Every frame is
    checked (checksum, no seq missing or repeated): damage exits 1, naming where."""
    from sequencer.journal import JournalCorruption
    from sequencer.stats import compute, iso

    try:
        st = compute(_journal_or_exit(path), verify=not no_check)
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


@journal_app.command("serve")
def journal_serve(
    day: DayOpt,
    max_seconds: Annotated[float | None, typer.Option(help="Exit after this long.")] = None,
) -> None:
    """Serve the day's journal to processes on other hosts (catch-up over the network):
    replay requests on the day's replay channel, answered from the journal. Runs on the
    sequencer's host until SIGTERM."""
    from sequencer.config import ConfigError
    from sequencer.journal_server import serve
    from sequencer.transport import TransportError

    try:
        raise typer.Exit(serve(day, max_seconds=max_seconds,
                               say=lambda t: err.print(t, highlight=False)))
    except (ConfigError, TransportError) as e:
        raise _fail(str(e), 1) from None


@journal_app.command("latency")
def journal_latency(
    path: PathArg,
    slowest: Annotated[
        int, typer.Option("--slowest", min=0, help="How many of the slowest outputs to show.")
    ] = 10,
    json_: JsonOpt = False,
) -> None:
    """Latency from the frames' telemetry: transit, queueing, processing, return, end to end."""
    from sequencer.journal import JournalCorruption
    from sequencer.latency import compute

    try:
        rep = compute(_journal_or_exit(path), slowest)
    except JournalCorruption as e:
        raise _fail(str(e), 1) from None
    if json_:
        out.print_json(json.dumps(rep.to_json()))
        return
    out.print(f"[bold]{rep.frames:,}[/bold] frames (seq {rep.first_seq}..{rep.last_seq}); "
              f"{rep.transit_frames:,} with a send time; {rep.caused:,} caused outputs, "
              f"{rep.matched:,} matched to their cause ({rep.unmatched:,} not)")
    if rep.clamped or rep.proc_saturated:
        out.print(f"[yellow]{rep.clamped:,} negative figure(s) clamped to 0 (clock steps); "
                  f"{rep.proc_saturated:,} processing time(s) saturated[/yellow]")
    for t in _latency_tables(rep):
        out.print()
        out.print(t)


def _us(x: float | None) -> str:
    """Microseconds for people: a tenth below 1,000, whole ones above (the JSON has all)."""
    if x is None:
        return "-"
    return f"{x:,.1f}" if x < 1000 else f"{x:,.0f}"


def _narrow_table(title: str) -> Table:
    """A table for 80 columns: no outer border, columns apart by spaces (rich's ruled
    boxes cost 3 columns a column), words folded rather than cut."""
    from rich import box

    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
                 pad_edge=False)


def _latency_tables(rep: Any) -> list[Table]:
    """`tape journal latency`'s tables, each within 80 columns for a day's figures: a group
    (app and type, source) heads its rows instead of taking columns, and a slow output's
    cause and shares go on a second line."""
    from sequencer.latency import Dist, LatencyReport

    assert isinstance(rep, LatencyReport)
    tables: list[Table] = []

    def dist_table(title: str, first: str) -> Table:
        t = _narrow_table(title)
        t.add_column(first, overflow="fold")
        for c in ("count", "p50", "p99", "p99.9", "max", "clamped"):
            t.add_column(c, justify="right", overflow="fold")
        return t

    def cells(d: Dist) -> list[str]:
        return [f"{d.count:,}", _us(d.p50), _us(d.p99), _us(d.p99_9), _us(d.max),
                f"{d.clamped:,}" if d.clamped else ""]

    caused = [g for g in rep.groups if g.end_to_end.count]
    if caused:
        t = dist_table("caused outputs by app and type (microseconds)", "app: type, stage")
        for g in caused:
            t.add_row(f"[bold]{g.app}: {g.type}[/bold]", *[""] * 6)
            stages = (("queueing", g.queueing), ("processing", g.processing),
                      ("return", g.return_), ("end to end", g.end_to_end))
            for i, (stage, d) in enumerate(stages):
                t.add_row(f"  {stage}", *cells(d), end_section=i == len(stages) - 1)
        tables.append(t)
    if rep.transit_by_source:
        t = dist_table("inbound transit, publisher offer -> sequencer receive (microseconds)",
                       "source")
        for s in rep.transit_by_source:
            t.add_row(f"{s.source_id} {s.app}", *cells(s.transit))
        tables.append(t)
    if rep.slowest:
        t = _narrow_table(f"slowest {len(rep.slowest)} by end to end (microseconds; under "
                          "each part, its share of the whole)")
        t.add_column("seq\n← cause", justify="right", overflow="fold")
        t.add_column("app: type\n← cause type", overflow="fold")
        for c in ("end to end", "queueing", "processing", "return"):
            t.add_column(c, justify="right", overflow="fold")
        for sc in rep.slowest:
            parts = (sc.queueing_us, sc.processing_us, sc.return_us)
            whole = sum(parts)  # the end to end time, unless a part was clamped
            t.add_row(f"{sc.seq}\n← {sc.cause_seq}", f"{sc.app}: {sc.type}\n← {sc.cause_type}",
                      _us(sc.end_to_end_us),
                      *(f"{_us(x)}\n{100 * x / whole:.0f}%" if whole > 0 else _us(x)
                        for x in parts), end_section=True)
        tables.append(t)
        if any(sc.sequencer_us is not None for sc in rep.slowest):
            t = _narrow_table("their queueing, split where the sequencer published the cause "
                              "(microseconds)")
            for c in ("seq", "queueing", "in sequencer", "in transport"):
                t.add_column(c, justify="right", overflow="fold")
            for sc in rep.slowest:
                t.add_row(str(sc.seq), _us(sc.queueing_us), _us(sc.sequencer_us),
                          _us(sc.transport_us))
            tables.append(t)
    return tables


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
    from sequencer.ownership import OwnershipError
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
    except (JournalCorruption, TransportError, SequencerError, OwnershipError) as e:
        raise _fail(str(e), 1) from None
    rep = seq.journal.report
    if rep.truncated_bytes:
        err.print(f"recovery: truncated a damaged tail of {rep.truncated_bytes} bytes from "
                  f"{rep.truncated_file} ({rep.truncated_reason}); last good seq "
                  f"{rep.last_good_seq}", highlight=False)
    err.print(f"sequencer running: day {day}, aeron {seq.tcfg.aeron_dir} (streams "
              f"{seq.tcfg.input_stream}/{seq.tcfg.output_stream}), fsync {cfg.fsync}, "
              f"time {cfg.time_mode}, last seq {seq.journal.state.last_seq}", highlight=False)
    seq.run(max_seconds)


@sequencer_app.command("status")
def sequencer_status(day: DayOpt, json_: JsonOpt = False) -> None:
    """The sequencer's last reported state: position, lag, counters."""
    from sequencer.ownership import NoSuchDay, OwnershipError, require_day, running
    from sequencer.service import STATUS_FILE

    try:
        require_day(day)
    except NoSuchDay as e:
        raise _fail(str(e), 2) from None
    path = day / STATUS_FILE
    if not path.exists():
        raise _fail(f"no sequencer status in {day} (has a sequencer run there?)", 1)
    st = json.loads(path.read_text())
    age_s = (time.time_ns() - st["updated_wall_ns"]) / 1e9
    st["age_s"] = round(age_s, 3)
    try:
        running(day)
        st["running"] = True
    except OwnershipError as e:
        st["running"] = False
        st["not_running"] = str(e)
    if json_:
        print(json.dumps(st))
        return
    if not st["running"]:
        out.print(f"{st['not_running']}; its last status follows", highlight=False)
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
    from sequencer.inject import InjectInterrupted, inject
    from sequencer.messages.control import SystemStop
    from sequencer.ownership import NoSuchDay, OwnershipError
    from sequencer.transport import TransportError

    try:
        res = inject(day, [SystemStop(reason=reason)])
    except NoSuchDay as e:
        raise _fail(str(e), 2) from None
    except (TransportError, OwnershipError, InjectInterrupted) as e:
        raise _fail(str(e), 1) from None
    out.print(f"SystemStop sequenced at seq {res.last_seq}")


# ---------------------------------------------------------------- inject, driver


def inject_cmd(
    file: Annotated[Path, typer.Argument(help="A .json, .jsonl or .csv file of messages.")],
    day: DayOpt,
    source: Annotated[int | None, typer.Option(
        help="Publish as this source id, numbering on from its last message (default: the "
             "file's own source, so that running the same file again sends only what the "
             "stream does not hold yet).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for sequencing.")] = 10.0,
    again: Annotated[bool, typer.Option(
        "--again", help="Send the file's rows again as new messages, though an earlier run "
                        "sent them (the same halt on a later afternoon).")] = False,
    wait: Annotated[float, typer.Option(
        help="Then follow the stream this many seconds and show the Alerts the messages "
             "caused (an app refusing a command); exit 1 if any is a warning or "
             "worse.")] = 0.0,
    json_: JsonOpt = False,
) -> None:
    """Send typed messages from a file into the stream (validated first, all or nothing;
    safe to run again)."""
    from sequencer import sources
    from sequencer.inject import InjectError, InjectInterrupted, file_source, inject, parse_file
    from sequencer.ownership import NoSuchDay, OwnershipError, require_day
    from sequencer.transport import TransportError

    try:
        require_day(day)
    except NoSuchDay as e:
        raise _fail(str(e), 2) from None
    try:
        msgs = parse_file(file)
    except InjectError as e:
        raise _fail(str(e), 2) from None
    numbered = source is None
    if again and not numbered:
        raise _fail("--again and --source cannot be used together: a source of your own "
                    "numbers on from its last message anyway", 2)
    src = file_source(day, file.read_bytes(), again) if source is None else source
    try:
        res = inject(day, msgs, src, timeout, numbered=numbered, wait_s=wait)
    except (TransportError, OwnershipError, InjectInterrupted) as e:
        raise _fail(str(e), 1) from None
    flagged = [a for _q, a in res.alerts if a.severity != "info"]
    if json_:
        print(json.dumps(res.as_dict()))
    else:
        if res.sent:
            out.print(f"injected {res.sent} message(s) from {file} as source {res.source_id} "
                      f"({sources.name(res.source_id)}): seq {res.first_seq}..{res.last_seq}"
                      + (f"; {res.already} row(s) were on the stream already"
                         if res.already else ""), highlight=False)
        else:
            out.print(f"all {res.already} row(s) of {file} are on the stream already (an "
                      "earlier run); nothing sent (to send them again as new messages: "
                      "--again)", highlight=False)
        for seq, a in res.alerts:
            out.print(f"  seq {seq}: {a.severity} from {a.source}: {a.text}", highlight=False)
        if wait and not res.alerts:
            out.print(f"  no alert caused within {wait:g} s", highlight=False)
    if flagged:
        raise typer.Exit(1)


def driver_cmd(
    aeron_dir: Annotated[str, typer.Option(help="Aeron directory.")] = "/dev/shm/tape-aeron",
    linger: Annotated[float | None, typer.Option(
        help="End after this many seconds without a sequencer on the directory (default: "
             "run until stopped).")] = None,
) -> None:
    """Run a standalone Aeron media driver that the host's processes attach to (a
    sequencer started with driver = "auto" starts one itself when none runs)."""
    from sequencer.driver import run_driver
    from sequencer.transport import DriverInUse

    try:
        run_driver(aeron_dir, linger, lambda text: err.print(text, highlight=False))
    except DriverInUse as e:
        raise _fail(str(e), 1) from None


def _configure_logging(day: Path, process: str = "sequencer") -> None:
    """JSON logs to DAY/logs/<process>.log (`sequencer.logs`)."""
    from sequencer.logs import configure

    configure(day, process)
