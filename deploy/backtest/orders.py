"""The orders file of `tape backtest`: client requests, one per line, at their times.

A CSV file with a header; `#` starts a comment line. Columns (only the first six
are required; empty cells take the default):

    time,client,cl_ord_id,symbol,side,qty,limit,algo,start_time,end_time,
    must_complete,max_pct,open_auction,close_auction,aggression,action,orig_cl_ord_id

- `time`: when the request reaches the OMS, exchange-local HH:MM[:SS];
- `side`: buy, sell, sell_short; `qty` shares; `limit` a price in dollars (empty:
  a market order);
- `algo`: vwap (default) or dma; the algo parameters as the OMS takes them
  (`oms.algos`); a `venue` column for DMA;
- `action`: new (default), replace (with `orig_cl_ord_id`, and the new `qty`,
  `limit` or parameters) or cancel (with `orig_cl_ord_id`).

A bad file is refused whole, each problem located: file, line, column, what was
expected and what was found.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from oms.algos import check_time, time_ms
from refdata.model import local_midnight_ns
from sequencer.messages.marketdata import PRICE_SCALE
from sequencer.messages.orders import CancelOrder, NewOrder, ReplaceOrder, Side

REQUIRED = ("time", "client", "cl_ord_id", "symbol", "side", "qty")
PARAMS = ("start_time", "end_time", "must_complete", "max_pct", "open_auction",
          "close_auction", "aggression", "venue")
OPTIONAL = ("limit", "algo", "action", "orig_cl_ord_id", *PARAMS)
SIDES: tuple[Side, ...] = ("buy", "sell", "sell_short", "sell_short_exempt")


class OrdersFileError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class ClientRequest:
    at_ns: int
    line: int
    msg: NewOrder | ReplaceOrder | CancelOrder

    @property
    def symbol(self) -> str:
        return self.msg.symbol


def _price(v: str) -> int:
    d = Decimal(v)
    if d <= 0 or (d * PRICE_SCALE) != (d * PRICE_SCALE).to_integral_value():
        raise InvalidOperation
    return int(d * PRICE_SCALE)


def read_orders(path: Path, date: dt.date, tz: str = "America/New_York") -> list[ClientRequest]:
    """The requests of the file, in file order; `OrdersFileError` lists every problem."""
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise OrdersFileError([f"{path}: cannot read the orders file ({e.strerror})"]) from None
    lines = [ln for ln in text.splitlines()]
    rows = [(i + 1, ln) for i, ln in enumerate(lines) if ln.strip() and not ln.lstrip()
            .startswith("#")]
    if not rows:
        raise OrdersFileError([f"{path}: no header and no orders"])
    header = [h.strip() for h in next(csv.reader([rows[0][1]]))]
    problems: list[str] = []
    for col in REQUIRED:
        if col not in header:
            problems.append(f"{path} line {rows[0][0]}: the header lacks column {col!r} "
                            f"(required: {', '.join(REQUIRED)})")
    for col in header:
        if col not in REQUIRED and col not in OPTIONAL:
            problems.append(f"{path} line {rows[0][0]}: unknown column {col!r} (known: "
                            f"{', '.join((*REQUIRED, *OPTIONAL))})")
    if problems:
        raise OrdersFileError(problems)
    midnight = local_midnight_ns(date, tz)
    out: list[ClientRequest] = []
    for lineno, text_line in rows[1:]:
        cells = next(csv.reader([text_line]))
        if len(cells) > len(header):
            problems.append(f"{path} line {lineno}: {len(cells)} cells, the header has "
                            f"{len(header)}")
            continue
        row = {h: (cells[i].strip() if i < len(cells) else "") for i, h in enumerate(header)}

        def bad(col: str, expected: str, row: dict[str, str] = row,
                lineno: int = lineno) -> None:
            problems.append(f"{path} line {lineno}: column {col!r}: expected {expected}, "
                            f"got {row.get(col, '')!r}")

        why = check_time(row["time"]) if row["time"] else "a time"
        if why:
            bad("time", why)
            continue
        at_ns = midnight + time_ms(row["time"]) * 1_000_000
        side = row["side"].lower()
        if side not in SIDES:
            bad("side", " or ".join(SIDES))
            continue
        action = (row.get("action") or "new").lower()
        if action not in ("new", "replace", "cancel"):
            bad("action", "new, replace or cancel")
            continue
        for col in ("client", "cl_ord_id", "symbol"):
            if not row[col]:
                bad(col, "a value")
        qty = 0
        if row["qty"] or action == "new":
            try:
                qty = int(row["qty"])
                if qty <= 0:
                    raise ValueError
            except ValueError:
                bad("qty", "a whole number of shares above 0")
                continue
        px = 0
        if row.get("limit"):
            try:
                px = _price(row["limit"])
            except (InvalidOperation, ValueError):
                bad("limit", "a price in dollars above 0, to the 1/10,000")
                continue
        params = tuple((k, row[k]) for k in PARAMS if row.get(k))
        algo = (row.get("algo") or "vwap").lower()
        msg: NewOrder | ReplaceOrder | CancelOrder
        if action == "new":
            msg = NewOrder(row["client"], row["cl_ord_id"], row["symbol"].upper(), side,
                           qty, "limit" if px else "market", px, "day", algo, params,
                           transact_ns=at_ns)
        else:
            if not row.get("orig_cl_ord_id"):
                bad("orig_cl_ord_id", f"the ClOrdID of the order to {action}")
                continue
            if action == "replace":
                msg = ReplaceOrder(row["client"], row["cl_ord_id"], row["orig_cl_ord_id"],
                                   row["symbol"].upper(), side, qty, px, params,
                                   transact_ns=at_ns)
            else:
                msg = CancelOrder(row["client"], row["cl_ord_id"], row["orig_cl_ord_id"],
                                  row["symbol"].upper(), side, transact_ns=at_ns)
        out.append(ClientRequest(at_ns, lineno, msg))
    if problems:
        raise OrdersFileError(problems)
    if not out:
        raise OrdersFileError([f"{path}: a header and no orders"])
    return out
