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
from rich.console import Console
from rich.table import Table

from oms.book import avg_px, fmt_px

app = typer.Typer(help="The OMS: the day's book of orders.", no_args_is_help=True)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def book_rows(day: Path, until: int | None = None) -> tuple[list[dict[str, Any]], int]:
    """Every parent order of the day (after seq `until`), and the last seq replayed."""
    from oms.app import Oms
    from sequencer.runtime.replay import replay

    report, engines = replay(day, ["oms"], until=until)
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
            "avg_px": f"{avg_px(p.notional, p.cum_qty) / 100_000_000:.6f}" if p.cum_qty else "",
            "closing": p.closing_text,
        })
    return rows, report.last_seq


@app.command("orders")
def orders_cmd(
    day: Annotated[Path, typer.Argument(help="The day folder.")],
    until: Annotated[int | None, typer.Option(min=1, help="The book as of this seq.")] = None,
    client: Annotated[str | None, typer.Option(help="Only this client's orders.")] = None,
    live: Annotated[bool, typer.Option("--live", help="Only orders still working.")] = False,
    json_: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """The day's parent orders as the OMS holds them: state, filled, open, average price."""
    from sequencer.journal import resolve_journal_dir

    try:
        resolve_journal_dir(day)
    except FileNotFoundError as e:
        err.print(f"[red]{e}")
        raise typer.Exit(2) from None
    rows, last = book_rows(day, until)
    if client:
        rows = [r for r in rows if r["client"] == client]
    if live:
        rows = [r for r in rows if r["leaves_qty"] > 0]
    if json_:
        print(json.dumps({"as_of_seq": last, "orders": rows}))
        return
    t = Table(title=f"OMS book of {day} as of seq {last}")
    cols = ("order_id", "client", "cl_ord_id", "symbol", "side", "qty", "limit_px", "algo",
            "state", "cum_qty", "leaves_qty", "open_child_qty", "avg_px")
    for c in cols:
        t.add_column(c, justify="right" if c.endswith(("qty", "px")) else "left")
    for r in rows:
        t.add_row(*(f"{r[c]:,}" if isinstance(r[c], int) else str(r[c]) for c in cols))
    out.print(t)
