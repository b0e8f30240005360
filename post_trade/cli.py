"""`tape post-trade ...`: the day's supervisory, regulatory and clearing records.

    tape post-trade DAY [--report NAME ...] [--set RULE=VALUE ...] [--json]
                                         every report (or those named) into DAY/post_trade/
    tape post-trade check-cat DAY        the CAT files' links, counts, fields (1 on a break)
    tape post-trade verify DAY           the report files against their manifest
    tape post-trade rule606 --client C --from DAY --to DAY [--out DIR]   606(b)(3), not held
    tape post-trade rule606 --held --from DAY --to DAY [--out DIR]       606(a)(1), quarterly
    tape post-trade clock-check --day DAY   log the host clock's synchronisation state

Exit codes: 0 done; 1 a break (a reconciliation break, a broken CAT link, a changed
report file) or a day the records cannot be made from (a journal that fails
verification, missing ref data); 2 bad usage. Supervisory flags are findings for a
person, listed in the activity report; they do not fail the command.
"""

# determinism: edge module, a command line: reads days, writes report files

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

from post_trade.db.cli import day_folder as _day
from post_trade.db.cli import fail as _fail

out = Console()
err = Console(stderr=True)


class _DefaultRun(typer.core.TyperGroup):
    """`tape post-trade DAY ...` means `tape post-trade run DAY ...`."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer's own click Context
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_DefaultRun, no_args_is_help=True,
    help="The day's post-trade records, from its journal: supervisory activity report, "
         "CAT order events, clearing trade file and drop-copy reconciliation, time sync, "
         "execution quality (tape post-trade DAY); Rule 606 reports over a date range.")

DayArg = Annotated[Path, typer.Argument(help="The day folder.")]


def _config(sets: list[str]) -> Any:
    from post_trade.record import Config

    fields = {f.name: f for f in dataclasses.fields(Config)}
    kw: dict[str, Any] = {}
    for item in sets:
        key, eq, value = item.partition("=")
        if not eq or key not in fields:
            raise _fail(f"--set {item!r}: expected RULE=VALUE with RULE one of "
                        f"{', '.join(fields)}", 2)
        kind = int if fields[key].type in ("int", int) else float
        try:
            kw[key] = kind(value)
        except ValueError:
            raise _fail(f"--set {key}: expected {'a whole number' if kind is int else 'a number'}"
                        f", got {value!r}", 2) from None
        if kw[key] < 0:
            raise _fail(f"--set {key}: expected a number >= 0, got {value!r}", 2)
    return Config(**kw)


def _read(day: Path, names: list[str], config: Any, quiet: bool) -> Any:
    from post_trade.report import read

    total = sum(p.stat().st_size for p in (day / "journal").glob("*.seg")) \
        if (day / "journal").is_dir() else 0
    if quiet or total < (64 << 20):
        return read(day, names or None, config)
    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                  TimeRemainingColumn(), console=err, transient=True) as bar:
        task = bar.add_task("reading the journal", total=total)
        return read(day, names or None, config, progress=lambda n: bar.advance(task, n))


@app.command("run")
def run_cmd(
    day: DayArg,
    report: Annotated[list[str] | None, typer.Option(
        "--report", "-r", help="Only this report (repeatable): activity, cat, clearing, "
                               "timesync, quality.")] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="A rule's parameter, RULE=VALUE (repeatable), e.g. "
                      "trade_through_tolerance_ms=10.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object: the manifest "
                                                         "with every report's figures.")] = False,
) -> None:
    """Every report of the day (or those named) into DAY/post_trade/, with a manifest of each
    file's SHA-256. Exit 1 on a reconciliation or CAT break, or a day that cannot be read."""
    from post_trade.record import PostTradeError
    from post_trade.refs import MissingRefData
    from post_trade.report import REPORTS, run

    day = _day(day)
    names = list(dict.fromkeys(report or []))
    for n in names:
        if n not in REPORTS:
            raise _fail(f"no report named {n!r}; reports: {', '.join(REPORTS)}", 2)
    config = _config(set_ or [])
    try:
        rec = _read(day, names, config, json_out)
        res = run(day, names or None, config, record=rec)
    except (PostTradeError, MissingRefData) as e:
        raise _fail(str(e), 1) from None
    if json_out:
        print(json.dumps({**res.manifest, "day": str(day), "out": str(res.out),
                          "breaks": res.breaks}, sort_keys=True))
    else:
        if not res.record.complete:
            out.print("[bold red]INCOMPLETE[/]: the journal has no SystemStop; every report "
                      "covers the day only up to its last frame "
                      f"(seq {res.record.last_seq:,})", highlight=False)
        for r in res.results:
            for line in r.lines:
                out.print(line, markup=False, highlight=False, soft_wrap=True)
        out.print(f"{len(res.manifest['files'])} files in {res.out} "
                  f"(manifest.json); {res.breaks} breaks", highlight=False)
    raise typer.Exit(1 if res.breaks else 0)


@app.command("check-cat")
def check_cat_cmd(
    day: DayArg,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Check the day's CAT files on their own: every route and amendment linked to a known
    order, keys unique, required fields present, counts equal to the journal's."""
    from post_trade import cat
    from post_trade.record import PostTradeError
    from post_trade.refs import MissingRefData

    day = _day(day)
    try:
        res = cat.check(day)
    except (PostTradeError, MissingRefData) as e:
        raise _fail(str(e), 1) from None
    if json_out:
        print(json.dumps(dataclasses.asdict(res), sort_keys=True, default=str))
    else:
        for b in res.breaks[:200]:
            out.print(f"break: {b}", markup=False, highlight=False, soft_wrap=True)
        if len(res.breaks) > 200:
            out.print(f"... and {len(res.breaks) - 200} more", highlight=False)
        counts = ", ".join(f"{k} {v}" for k, v in sorted(res.counts.items()))
        out.print(f"CAT check: {counts}; {len(res.breaks)} breaks", highlight=False)
    raise typer.Exit(1 if res.breaks else 0)


@app.command("verify")
def verify_cmd(day: DayArg) -> None:
    """The report files of DAY/post_trade against its manifest: changed, missing, added."""
    from post_trade.report import MANIFEST, verify_manifest

    day = _day(day)
    if not (day / "post_trade" / MANIFEST).is_file():
        raise _fail(f"{day / 'post_trade'}: no manifest (run tape post-trade {day})", 1)
    problems = verify_manifest(day)
    for p in problems:
        out.print(p, markup=False, highlight=False)
    out.print(f"{len(problems)} problems", highlight=False)
    raise typer.Exit(1 if problems else 0)


@app.command("rule606")
def rule606_cmd(
    first: Annotated[Path, typer.Option("--from", help="The first day folder.")],
    last: Annotated[Path, typer.Option("--to", help="The last day folder (same parent).")],
    client: Annotated[str | None, typer.Option(
        "--client", help="606(b)(3): the not-held order report for this client.")] = None,
    held: Annotated[bool, typer.Option(
        "--held", help="606(a)(1): the public quarterly report of held orders.")] = False,
    out_dir: Annotated[Path | None, typer.Option(
        "--out", help="Where to write (default: the last day's post_trade/rule606).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """SEC Rule 606 routing reports over a range of day folders (at most six months), as XML
    (the SEC's schema), HTML and JSON."""
    from post_trade import rule606
    from post_trade.record import PostTradeError
    from post_trade.refs import MissingRefData

    if (client is None) == (not held):
        raise _fail("name either --client C (606(b)(3)) or --held (606(a)(1))", 2)
    first, last = _day(first), _day(last)
    try:
        days = rule606.days_between(first, last)
    except ValueError as e:
        raise _fail(str(e), 2) from None
    dest = out_dir or (last / "post_trade" / "rule606")
    dest.mkdir(parents=True, exist_ok=True)
    try:
        res = (rule606.write_b3(days, client, dest) if client is not None
               else rule606.write_a1(days, dest))
    except (PostTradeError, MissingRefData) as e:
        raise _fail(str(e), 1) from None
    if json_out:
        print(json.dumps({"files": [str(p) for p in res.files], "summary": res.summary},
                         sort_keys=True, default=str))
    else:
        for line in res.lines:
            out.print(line, markup=False, highlight=False, soft_wrap=True)
        for p in res.files:
            out.print(f"  {p}", markup=False, highlight=False)
    raise typer.Exit(1 if res.breaks else 0)


@app.command("clock-check")
def clock_check_cmd(
    day: Annotated[Path, typer.Option("--day", help="The day folder.")],
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Log the host clock's synchronisation state (kernel adjtimex) to
    DAY/logs/clock_checks.jsonl, for the time sync report. Exit 1 if it is not
    synchronised within the firm's tolerance (50 ms by default)."""
    from post_trade.timesync import clock_check

    day = _day(day)
    c = clock_check(day)
    ok = bool(c.get("synchronised")) and float(c.get("max_error_us", 0)) <= 50_000
    if json_out:
        print(json.dumps(c, sort_keys=True))
    else:
        out.print(("synchronised" if c.get("synchronised") else "NOT synchronised")
                  + f", est. error {c.get('est_error_us', '?')} us, max error "
                  f"{c.get('max_error_us', '?')} us ({c.get('error', 'adjtimex')})",
                  markup=False, highlight=False)
    raise typer.Exit(0 if ok else 1)
