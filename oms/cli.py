"""`tape oms orders`: the OMS's book of a day, as of its end or any sequence number.

The book is rebuilt the only way that is always right: by replaying the day's
journal through the OMS (the same code that ran live), then reading its state.
"""

# determinism: edge module, a command-line view: reads the journal and prints

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from oms.book import avg_px, fmt_px
from sequencer.messages.executions import AVG_PX_SCALE

app = typer.Typer(help="The OMS: the day's book of orders.", no_args_is_help=True)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def book_rows(day: Path, until: int | None = None, *, check_journal: bool = True
              ) -> tuple[list[dict[str, Any]], int]:
    """Every parent order of the day (after seq `until`), and the last seq replayed."""
    from oms.app import Oms
    from sequencer.runtime.replay import replay

    report, engines = replay(day, ["oms"], until=until, check_journal=check_journal)
    oms = engines[0].app
    assert isinstance(oms, Oms)
    rows = []
    for p in oms.state.parents.values():
        rows.append({
            "order_id": p.order_id, "client": p.client, "cl_ord_id": p.cl_ord_id,
            "symbol": p.symbol, "side": p.side, "qty": p.qty, "ord_type": p.ord_type,
            "limit_px": fmt_px(p.limit_px) if p.limit_px else "",
            "algo": p.algo, "state": p.state, "cum_qty": p.cum_qty,
            "leaves_qty": p.leaves_qty, "open_child_qty": p.open_qty,
            "live_children": p.live_children, "children": len(p.children),
            "avg_px": f"{avg_px(p.notional, p.cum_qty) / AVG_PX_SCALE:.6f}" if p.cum_qty else "",
            "closing": p.closing_text,
        })
    return rows, report.last_seq


@app.command("orders")
def orders_cmd(
    day: Annotated[Path, typer.Argument(help="The day folder.")],
    until: Annotated[int | None, typer.Option(min=1, help="The book as of this seq.")] = None,
    client: Annotated[str | None, typer.Option(help="Only this client's orders.")] = None,
    live: Annotated[bool, typer.Option("--live", help="Only orders still working.")] = False,
    no_check: Annotated[bool, typer.Option(
        "--no-check", help="Skip the checks of every journal frame read (faster).")] = False,
    json_: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """The day's parent orders as the OMS holds them: state, filled, open, average price."""
    from sequencer.journal import JournalCorruption, resolve_journal_dir
    from sequencer.runtime.engine import RefDataUnavailable, UndecodableFrame
    from sequencer.runtime.replay import missing_refdata

    try:
        resolve_journal_dir(day, strict=True)
        refdata = missing_refdata(day)
    except FileNotFoundError as e:
        err.print(f"error: {e}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except JournalCorruption as e:
        err.print(f"error: {e}", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    if refdata is not None:
        err.print(f"error: no ref data set at {refdata}: the day's SystemStart names one",
                  markup=False, soft_wrap=True)
        raise typer.Exit(2)
    try:
        rows, last = book_rows(day, until, check_journal=not no_check)
    except (JournalCorruption, UndecodableFrame, RefDataUnavailable) as e:
        err.print(f"error: {e}", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    if client:
        rows = [r for r in rows if r["client"] == client]
    if live:
        rows = [r for r in rows if r["leaves_qty"] > 0]
    if json_:
        print(json.dumps({"as_of_seq": last, "orders": rows}))
        return
    for i, t in enumerate(book_tables(rows, f"OMS book of {day} as of seq {last:,}")):
        if i:
            out.print()
        out.print(t)


def _avg(text: str) -> str:
    """An average price for people: the decimal, its trailing zeros dropped (2 kept)."""
    if not text:
        return ""
    whole, _, frac = text.partition(".")
    frac = frac.rstrip("0")
    return f"{whole}.{frac:0<2}"


def book_tables(rows: list[dict[str, Any]], title: str) -> list[Table]:
    """The book in two tables that each fit 80 columns, one row per order in each, keyed
    by order id: the orders as asked, then where each stands. Prices are decimals."""
    def table(caption: str) -> Table:
        return Table(title=caption, title_justify="left", box=box.SIMPLE_HEAD,
                     show_edge=False, pad_edge=False)

    asked = table(f"{title}: the orders")
    for c, right in (("order id", False), ("client", False), ("ClOrdID", False),
                     ("order", False), ("limit", True), ("algo", False)):
        asked.add_column(c, justify="right" if right else "left", overflow="fold")
    stand = table("where they stand (at venues: shares in open child orders)")
    for c, right in (("order id", False), ("state", False), ("filled", True),
                     ("leaves", True), ("at venues", True), ("children", True),
                     ("avg px", True)):
        stand.add_column(c, justify="right" if right else "left", overflow="fold")
    for r in rows:
        asked.add_row(r["order_id"], r["client"], r["cl_ord_id"],
                      f"{r['side']} {r['qty']:,} {r['symbol']}",
                      r["limit_px"] or r["ord_type"], r["algo"])
        stand.add_row(r["order_id"], r["state"], f"{r['cum_qty']:,}", f"{r['leaves_qty']:,}",
                      f"{r['open_child_qty']:,}", f"{r['live_children']}/{r['children']}",
                      _avg(r["avg_px"]))
    return [asked, stand]
