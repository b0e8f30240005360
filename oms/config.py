"""The OMS's configuration: clients and their pre-trade limits, from the day's ref data.

Clients are a declared ref data table, `clients` (see
`refdata/defaults/clients.csv` and `[tables.clients]` in `refdata.toml`), so
the configuration a day ran with is part of its ref data set, pinned by the
digest in `SystemStart`: a replay runs on the same clients and limits. The
row keyed "*" holds the firm-wide limits, which apply on top of each
client's own.

Columns:
- `client`: the id the client gateway puts on orders (the FIX SenderCompID);
- `name`: for people;
- `odd_lots` (bool): orders need not be whole round lots;
- `done_for_day` (bool): at the close, open orders end as done for day
  (ExecType 3) instead of cancelled;
- `pending_new` (bool): acknowledge each order with PendingNew before New;
- `max_order_qty` (int), `max_order_notional` (price), `max_gross_notional`
  (price; the day's committed notional: filled plus open, buys plus sells),
  `max_open_orders` (int), `collar_bps` (int: how far through the far touch
  of the NBBO, or the reference price, a limit may be), `symbols` ("*" or
  the allowed symbols separated by spaces).

`check_clients_table` is what `tape refdata build` runs on the table (entry
point `tape.refdata.checks`), so a bad value is refused in the morning with
the file, the row and the column, not found by the OMS at the open.
`SetRiskLimit` changes a limit during the day; `parse_limit` reads its value.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

PRICE_SCALE = 10_000
FIRM = "*"
LIMIT_NAMES = ("max_order_qty", "max_order_notional", "max_gross_notional",
               "max_open_orders", "collar_bps", "symbols")
_INT_LIMITS = ("max_order_qty", "max_open_orders", "collar_bps")
_PRICE_LIMITS = ("max_order_notional", "max_gross_notional")
NO_LIMIT = 1 << 62


class Limits(msgspec.Struct):
    """One scope's limits (a client's, or the firm's). Notionals are fixed point."""

    max_order_qty: int = NO_LIMIT
    max_order_notional: int = NO_LIMIT
    max_gross_notional: int = NO_LIMIT
    max_open_orders: int = NO_LIMIT
    collar_bps: int = 1000
    symbols: tuple[str, ...] = ()  # empty: every symbol

    def allows(self, symbol: str) -> bool:
        return not self.symbols or symbol in self.symbols


class Client(msgspec.Struct):
    client: str
    name: str = ""
    odd_lots: bool = False
    done_for_day: bool = False
    pending_new: bool = False
    limits: Limits = msgspec.field(default_factory=Limits)


def parse_limit(limit: str, text: str) -> Any:
    """A limit's value from its text; ValueError saying what was expected."""
    text = text.strip()
    if limit in _INT_LIMITS:
        try:
            v = int(text.replace("_", ""))
        except ValueError:
            raise ValueError(f"{limit} expects a whole number, got {text!r}") from None
        if v < 0:
            raise ValueError(f"{limit} expects a number >= 0, got {text!r}")
        return v
    if limit in _PRICE_LIMITS:
        try:
            d = Decimal(text.replace(",", "").replace("_", ""))
        except InvalidOperation:
            raise ValueError(f"{limit} expects an amount such as 2500000.00, got {text!r}") \
                from None
        if not d.is_finite() or d < 0 or d * PRICE_SCALE != int(d * PRICE_SCALE):
            raise ValueError(f"{limit} expects an amount >= 0 with at most 4 decimals, "
                             f"got {text!r}")
        return int(d * PRICE_SCALE)
    if limit == "symbols":
        return parse_symbols(text)
    raise ValueError(f"no limit named {limit!r}; limits are: {', '.join(LIMIT_NAMES)}")


def parse_symbols(text: str) -> tuple[str, ...]:
    text = text.strip()
    if text in ("", "*"):
        return ()
    return tuple(sorted(dict.fromkeys(text.replace(",", " ").split())))


def _limits_from_row(row: dict[str, Any]) -> Limits:
    return Limits(
        max_order_qty=int(row["max_order_qty"]),
        max_order_notional=int(row["max_order_notional"]),
        max_gross_notional=int(row["max_gross_notional"]),
        max_open_orders=int(row["max_open_orders"]),
        collar_bps=int(row["collar_bps"]),
        symbols=parse_symbols(str(row["symbols"])),
    )


def clients_from_rows(rows: dict[str, dict[str, Any]]) -> tuple[Limits, dict[str, Client]]:
    """The firm's limits and the clients, from the `clients` table's rows."""
    firm = Limits()
    clients: dict[str, Client] = {}
    for key, row in rows.items():  # the table keeps its rows in key order
        if key == FIRM:
            firm = _limits_from_row(row)
            continue
        clients[key] = Client(
            client=key, name=str(row.get("name", "")), odd_lots=bool(row["odd_lots"]),
            done_for_day=bool(row["done_for_day"]), pending_new=bool(row["pending_new"]),
            limits=_limits_from_row(row),
        )
    return firm, clients


def check_clients_table(rows: dict[str, dict[str, Any]],
                        symbols: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """Problems in the clients table, as (row key, column, what was expected)."""
    known = set(symbols)
    problems: list[tuple[str, str, str]] = []
    for key, row in rows.items():
        for col in ("max_order_qty", "max_open_orders", "collar_bps",
                    "max_order_notional", "max_gross_notional"):
            if col in row and int(row[col]) <= 0:
                problems.append((key, col, f"expected a value above 0, got {row[col]}"))
        if "collar_bps" in row and int(row["collar_bps"]) > 10_000:
            problems.append((key, "collar_bps",
                             f"expected at most 10000 (100%), got {row['collar_bps']}"))
        for sym in parse_symbols(str(row.get("symbols", "*"))):
            if sym not in known:
                problems.append((key, "symbols",
                                 f"expected symbols of the security master, got {sym!r}"))
    if FIRM not in rows:
        problems.append((FIRM, "client", 'expected a row "*" with the firm-wide limits'))
    return problems
