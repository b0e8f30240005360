"""`tape app ...` and `tape replay`: run apps live, replay and debug a day."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.pretty import Pretty
from rich.table import Table

from sequencer.cli import DayOpt, _fail, err, out

if TYPE_CHECKING:
    from rich.console import RenderableType

    from sequencer.runtime.replay import ReplayReport

app_app = typer.Typer(help="Run apps on the live stream.", no_args_is_help=True)


@app_app.command("run")
def app_run(
    name: Annotated[str, typer.Argument(help="App name (see `tape app list`).")],
    day: DayOpt,
    snapshot_every: Annotated[int, typer.Option(help="Snapshot every N frames.")] = 100_000,
    max_seconds: Annotated[float | None, typer.Option(help="Exit after this long.")] = None,
    until_seq: Annotated[int | None, typer.Option(help="Exit after this frame.")] = None,
) -> None:
    """Run one app: catch up from its snapshot and the journal, then follow the live stream."""
    from sequencer.cli import _configure_logging
    from sequencer.ownership import NoSuchDay, require_day
    from sequencer.runtime.registry import UnknownApp, load
    from sequencer.runtime.runner import run_app
    from sequencer.transport import TransportError

    try:
        load(name)
        require_day(day)  # never created here: only the commands that start a day do
    except (UnknownApp, NoSuchDay) as e:
        raise _fail(str(e), 2) from None
    _configure_logging(day, name)
    try:
        code = run_app(name, day, snapshot_every=snapshot_every, max_seconds=max_seconds,
                       until_seq=until_seq)
    except TransportError as e:
        raise _fail(str(e), 1) from None
    raise typer.Exit(code)


@app_app.command("list")
def app_list(json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Apps this build knows (built-in samples and the `tape.apps` entry points)."""
    from sequencer.runtime.registry import available

    found = available()
    if json_:
        print(json.dumps(found))
        return
    for name, where in found.items():
        out.print(f"{name:12s} {where}", highlight=False)


@app_app.command("snapshot")
def app_snapshot(
    day: DayOpt,
    target: Annotated[str, typer.Option(help="App name, or * for every app.")] = "*",
) -> None:
    """Ask apps to snapshot their state now (sequences a TakeSnapshot admin command)."""
    from sequencer.inject import InjectInterrupted, inject
    from sequencer.messages.admin import TakeSnapshot
    from sequencer.ownership import NoSuchDay, OwnershipError
    from sequencer.transport import TransportError

    try:
        res = inject(day, [TakeSnapshot(target=target)])
    except NoSuchDay as e:
        raise _fail(str(e), 2) from None
    except (TransportError, OwnershipError, InjectInterrupted) as e:
        raise _fail(str(e), 1) from None
    out.print(f"TakeSnapshot({target}) sequenced at seq {res.last_seq}")


def replay_cmd(
    day: Annotated[Path, typer.Argument(help="The day folder (or its journal).")],
    app: Annotated[list[str] | None, typer.Option("--app", help="App to replay (repeatable; "
                                                   "default every known app).")] = None,
    until: Annotated[int | None, typer.Option(
        min=1, help="Stop after this seq (nothing after it is read).")] = None,
    verify: Annotated[bool, typer.Option(
        "--verify", help="Compare every output with the recording.")] = False,
    no_check: Annotated[bool, typer.Option(
        "--no-check", help="Skip the checks of every frame read from the journal (checksum, "
                           "no seq missing or repeated): faster, and damage goes "
                           "unnoticed.")] = False,
    break_at: Annotated[int | None, typer.Option(
        help="Debugger in the app's handler for this seq (from the app's newest snapshot "
             "before it).")] = None,
    break_when: Annotated[str | None, typer.Option(
        help="Debugger in the app's handler at each frame where this expression (over msg, "
             "app, frame, ctx) is true.")] = None,
    break_on_output: Annotated[str | None, typer.Option(
        help="Debugger where the app publishes an output of TYPE (TYPE:EXPR: for which EXPR, "
             "over the output's fields and `output`, is true).")] = None,
    break_on_mismatch: Annotated[bool, typer.Option(
        "--break-on-mismatch", help="With --verify: debugger where the app publishes an "
        "output that differs from the recorded one (both in scope).")] = False,
    break_on_alert: Annotated[bool, typer.Option(
        "--break-on-alert", help="Debugger where the app raises an Alert.")] = False,
    from_start: Annotated[bool, typer.Option(
        "--from-start", help="A --break-at replays the whole day, not from the newest "
        "snapshot before it.")] = False,
    state_at: Annotated[int | None, typer.Option(
        min=1, help="Print the app's state at this seq.")] = None,
    json_: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Re-run apps over a day's journal; with --verify, prove they behave as recorded.
    Every frame read is checked (checksum, no seq missing or repeated): damage stops the
    replay with exit 1, naming file, offset and seq."""
    from rich.progress import Progress

    from sequencer.journal import JournalCorruption, resolve_journal_dir
    from sequencer.runtime.debugger import Breaks, QuitReplay, check_breaks
    from sequencer.runtime.engine import RefDataUnavailable, UndecodableFrame
    from sequencer.runtime.registry import UnknownApp, available, load
    from sequencer.runtime.replay import missing_refdata, replay

    names = app or list(available())
    try:
        for n in names:
            load(n)
        resolve_journal_dir(day, strict=True)
    except (UnknownApp, FileNotFoundError) as e:
        raise _fail(str(e), 2) from None
    breaks = Breaks(at=break_at, when=break_when, on_output=break_on_output,
                    on_mismatch=break_on_mismatch, on_alert=break_on_alert)
    debugging = breaks.any
    if (debugging or state_at is not None) and len(names) != 1:
        raise _fail("--break-at, --break-when, --break-on-* and --state-at need exactly one "
                    "--app", 2)
    if break_on_mismatch and not verify:
        raise _fail("--break-on-mismatch compares with the recording: add --verify", 2)
    why = check_breaks(breaks)
    if why:
        raise _fail(why, 2)
    try:
        refdata = missing_refdata(day)
    except JournalCorruption as e:
        raise _fail(str(e), 1) from None
    if refdata is not None:
        raise _fail(f"no ref data set at {refdata}: the day's SystemStart names one (copy the "
                    "day's refdata/ folder beside its journal, or build it with tape refdata "
                    "build)", 2)
    stop = state_at if state_at is not None else until
    check = not no_check
    try:
        if debugging or json_ or state_at is not None:
            report, engines = replay(
                day, names, until=stop, verify=verify, breaks=breaks if debugging else None,
                from_start=from_start, check_journal=check,
                say=lambda t: err.print(t, highlight=False))
        else:
            with Progress(console=err, transient=True) as prog:
                task = prog.add_task("replay", total=None)
                report, engines = replay(day, names, until=stop, verify=verify,
                                         progress=lambda n: prog.advance(task, n),
                                         check_journal=check)
    except (JournalCorruption, UndecodableFrame, RefDataUnavailable) as e:
        raise _fail(str(e), 1) from None
    except QuitReplay:
        err.print("replay ended from the debugger", highlight=False)
        raise typer.Exit(0) from None
    if state_at is not None:
        eng = engines[0]
        if eng.ctx.seq < state_at:
            err.print(f"note: the journal ends at seq {report.last_seq}; this is the state "
                      "there", highlight=False)
        state = {
            "app": eng.name,
            "seq": eng.ctx.seq,
            "stream_time_ns": eng.ctx.now,
            "state": eng.app.describe(),
            "timers": eng.ctx.pending_timers,
            "outputs_published": eng.ctx.out_seq,
            "state_hash": eng.state_hash(),
        }
        if json_:
            print(json.dumps(state, default=str))
        else:
            out.print(Pretty(state))
        raise typer.Exit(0)
    if json_:
        print(json.dumps(report.to_json()))
    else:
        out.print(_replay_table(report, verify))
        for a in report.apps:
            for mismatch in a.mismatches[:5]:
                out.print(mismatch.describe(), highlight=False)
    raise typer.Exit(1 if report.mismatches else 0)


def _replay_table(report: ReplayReport, verify: bool) -> RenderableType:
    """One row per app, within 80 columns: the output checks' columns only with --verify,
    the state hashes (first 16 hex digits, enough to compare two replays) after it. The
    heading and the hashes are lines of their own: as a table's title and caption they
    would be wrapped to the table's width."""
    from rich import box
    from rich.console import Group
    from rich.text import Text

    heading = Text(f"replay of {report.frames:,} frames (last seq {report.last_seq:,}) in "
                   f"{report.seconds:.2f} s: {report.frames_per_s:,.0f} frames/s")
    hashes = Text("state hash: " + "; ".join(f"{a.app} {a.state_hash[:16]}"
                                             for a in report.apps))
    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    cols = ["app", "frames", "outputs"] + (["matched", "mismatches", "unrecorded"]
                                           if verify else [])
    for col in cols:
        t.add_column(col, justify="left" if col == "app" else "right", overflow="fold")
    for a in report.apps:
        cells = [a.app, f"{a.frames:,}", f"{a.outputs:,}"]
        if verify:
            cells += [f"{a.matched:,}", f"{len(a.mismatches):,}", f"{a.unrecorded:,}"]
        t.add_row(*cells)
    return Group(heading, t, hashes)
