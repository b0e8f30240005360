"""`tape refdata ...`: build, show and verify the day's ref data set.

Exit codes: 0 success, 1 a failure or damage found (a set that does not match
its manifest), 2 bad usage, including a bad ref data or config file (the
precise list of problems goes to stderr).
"""

# determinism: edge module, a command line

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from sequencer.cli import _fail, err, out

if TYPE_CHECKING:
    from refdata.build import BuildReport
    from refdata.files import RefDataError
    from refdata.model import RefData

app = typer.Typer(help="Build, show and verify the day's ref data set.", no_args_is_help=True)

SetArg = Annotated[Path, typer.Argument(help="A built ref data set (its folder).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _problems(e: RefDataError, code: int) -> typer.Exit:
    """Every problem, one per line, on stderr; then exit with `code`."""
    n = len(e.problems) + sum(e.not_shown.values())
    err.print(f"[red]error:[/red] {n} problem(s) with the ref data:", markup=True)
    err.print(str(e), highlight=False, markup=False, soft_wrap=True)
    return typer.Exit(code)


def _clock(ms: int) -> str:
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}"


def _price(units: int) -> str:
    from refdata.model import PRICE_SCALE

    """Fixed point as dollars: cents when the price is whole cents, else all 4 places."""
    return f"{units / PRICE_SCALE:,.{2 if units % 100 == 0 else 4}f}"


# ---------------------------------------------------------------- build


@app.command("build")
def build_cmd(
    date: Annotated[str, typer.Option("--date", help="The session date, YYYY-MM-DD.")],
    out_dir: Annotated[Path, typer.Option("--out", help="The folder to write the set to.")],
    config: Annotated[
        Path | None, typer.Option("--config", help="Ref data config (default: the shipped one).")
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Recorded data set (default: us_equities_2013-10 if present)."),
    ] = None,
    no_data: Annotated[
        bool, typer.Option("--no-data", help="Use the shipped default figures only.")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Build the day's ref data set (security master, venues, statistics, curves, tables)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from refdata.build import build
    from refdata.files import RefDataError

    try:
        session = dt.date.fromisoformat(date)
    except ValueError:
        raise _fail(f"--date: expected YYYY-MM-DD, got {date!r}", 2) from None
    if data is not None and no_data:
        raise _fail("--data and --no-data exclude each other", 2)
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=err, transient=True, disable=json_) as bar:
        task = bar.add_task("ref data", total=1)

        def progress(step: str, done: int, total: int) -> None:
            bar.update(task, description=step, completed=done, total=total)

        try:
            rep = build(session, out_dir, config_path=config, data_dir=data,
                        use_data=not no_data, progress=progress)
        except RefDataError as e:
            raise _problems(e, 2) from None
        except OSError as e:
            raise _fail(f"cannot write the set to {out_dir}: {e}", 1) from None
    if json_:
        print(json.dumps(rep.to_json()))
        return
    _print_report(rep)


def _print_report(rep: BuildReport) -> None:
    how = ("the shipped default figures (no recorded data)" if rep.data_dir is None
           else f"recorded data in {rep.data_dir}")
    stats = ", ".join(f"{n} {src}" for src, n in rep.stats_sources.items())
    curves = ", ".join(f"{n} {src}" for src, n in rep.curve_sources.items())
    tables = ", ".join(f"{name} ({n} rows)" for name, n in rep.tables.items()) or "none"
    out.print(f"[bold]ref data for {rep.session_date}[/bold] written to {rep.out_dir}")
    out.print(f"  symbols       {rep.symbols} ({rep.restricted} restricted)", highlight=False)
    out.print(f"  venues        {rep.venues}, destinations {rep.destinations}", highlight=False)
    out.print(f"  tables        {tables}", highlight=False)
    out.print(f"  statistics    {stats}, from {how}", highlight=False)
    out.print(f"  curves        {rep.curves_built} per symbol; sources: {curves}",
              highlight=False)
    out.print(f"  digest        {rep.digest}", highlight=False)


# ---------------------------------------------------------------- show


def _load_or_exit(path: Path) -> RefData:
    from refdata.files import RefDataError
    from refdata.load import load

    try:
        return load(path)
    except RefDataError as e:
        raise _problems(e, 1) from None


@app.command("show")
def show_cmd(
    path: SetArg,
    symbol: Annotated[str | None, typer.Option("--symbol", help="One symbol in detail.")] = None,
    json_: JsonOpt = False,
) -> None:
    """A readable summary of a built set, or one symbol's master, statistics and curve."""
    import msgspec

    rd = _load_or_exit(path)
    if symbol is not None:
        sym = rd.find(symbol)
        if sym is None:
            raise _fail(f"no symbol {symbol!r} in the set (known: "
                        f"{', '.join(s.name for s in rd.symbols)})", 2)
        if json_:
            doc = {"digest": rd.digest, "symbol": msgspec.to_builtins(sym),
                   "stats": msgspec.to_builtins(rd.stats(sym.id)),
                   "curve": msgspec.to_builtins(rd.curve(sym.id))}
            print(json.dumps(doc))
            return
        _show_symbol(rd, sym.id)
        return
    if json_:
        print(json.dumps(_summary(rd)))
        return
    _show_set(rd)


def _summary(rd: RefData) -> dict[str, Any]:
    return {
        "digest": rd.digest, "session_date": rd.session_date.isoformat(),
        "bin_minutes": rd.bin_minutes,
        "symbols": [{"id": s.id, "name": s.name, "primary_venue": s.primary_venue,
                     "restricted": s.restricted} for s in rd.symbols],
        "venues": [v.code for v in rd.venues],
        "destinations": [{"name": d.name, "venue": d.venue} for d in rd.destinations],
        "tables": {t.name: len(t.rows) for t in rd.data.tables},
        "curves": {c.symbol: c.source for c in rd.data.curves},
        "sources": list(rd.data.sources),
    }


def _curve_kind(rd: RefData, symbol_id: int) -> str:
    """The kind of curve a symbol gets ("symbol", "blend", "default"); a blend's full
    source is a sentence, shown by `show --symbol`."""
    c = rd.curve(symbol_id)
    return "default" if c.symbol == "*" else c.source.split(":", 1)[0]


def _show_set(rd: RefData) -> None:
    out.print(f"[bold]ref data for {rd.session_date}[/bold]  digest {rd.digest}")
    t = Table(title="symbols")
    for c in ("id", "symbol", "venue", "ADV", "ref price", "stats", "curve", "restricted"):
        t.add_column(c, justify="right" if c in ("id", "ADV", "ref price") else "left",
                     no_wrap=c != "restricted")  # figures stay whole; a reason may wrap
    for s in rd.symbols:
        st = rd.stats(s.id)
        t.add_row(str(s.id), s.name, s.primary_venue, f"{st.adv:,}", _price(st.ref_price),
                  st.source, _curve_kind(rd, s.id),
                  s.restricted_reason if s.restricted else "")
    out.print(t)
    t = Table(title="venues")
    for c in ("code", "name", "SIP", "hours", "auctions", "destinations"):
        t.add_column(c)
    for v in rd.venues:
        auctions = "/".join(x for x, on in (("open", v.opening_auction),
                                            ("close", v.closing_auction)) if on) or "-"
        dests = ", ".join(d.name for d in rd.destinations_for(v.code))
        t.add_row(v.code, v.name, v.sip_code or "-",
                  f"{_clock(v.open_ms)}-{_clock(v.close_ms)}", auctions,
                  dests or ("(not routable)" if not v.routable else "-"))
    out.print(t)
    if rd.data.tables:
        t = Table(title="declared tables")
        for c in ("table", "key", "rows", "columns"):
            t.add_column(c)
        for tb in rd.data.tables:
            t.add_row(tb.name, tb.key, str(len(tb.rows)), ", ".join(tb.columns))
        out.print(t)
    out.print(f"volume curves: {len(rd.data.curves) - 1} per symbol plus the default; "
              f"bins of {rd.bin_minutes} minutes")


def _show_symbol(rd: RefData, symbol_id: int, bins: int = 8) -> None:
    s = rd.symbol(symbol_id)
    st = rd.stats(symbol_id)
    c = rd.curve(symbol_id)
    out.print(f"[bold]{s.name}[/bold] (id {s.id}): {s.description}", highlight=False)
    out.print(f"  primary venue {s.primary_venue}, lot {s.lot_size}, tick rule {s.tick_rule}, "
              f"{s.currency}" + (f", RESTRICTED: {s.restricted_reason}" if s.restricted else ""),
              highlight=False)
    out.print(f"  statistics ({st.source}, {st.days} day(s)): ADV {st.adv:,}, spread "
              f"{st.avg_spread_bps:.2f} bps, volatility {st.volatility:.4f}, trade size "
              f"{st.avg_trade_size:,}, ref price {_price(st.ref_price)}", highlight=False)
    shares = c.binned(rd.bin_minutes)
    head = ", ".join(f"{x:.4f}" for x in shares[:bins])
    out.print(f"  curve {c.symbol!r} ({c.source}, days {', '.join(c.days) or '-'}): open "
              f"auction {c.open_auction:.4f}, close auction {c.close_auction:.4f}", highlight=False)
    out.print(f"  first {min(bins, len(shares))} of {len(shares)} bins of {rd.bin_minutes} min: "
              f"{head}", highlight=False)


# ---------------------------------------------------------------- verify


@app.command("verify")
def verify_cmd(path: SetArg, json_: JsonOpt = False) -> None:
    """Check a set against its manifest. Exit 0 intact, 1 damaged or absent."""
    from refdata.files import RefDataError
    from refdata.load import verify

    try:
        digest = verify(path)
    except RefDataError as e:
        if json_:
            print(json.dumps({"ok": False, "problems": [str(p) for p in e.problems]}))
            raise typer.Exit(1) from None
        raise _problems(e, 1) from None
    if json_:
        print(json.dumps({"ok": True, "digest": digest}))
    else:
        out.print(f"[green]ok[/green]: {path} matches its manifest, digest {digest}")
