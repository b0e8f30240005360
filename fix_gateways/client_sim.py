"""`tape clients`: simulated clients sending a file of orders over their own FIX sessions.

For the whole-day demo and the fault tests: several clients (each an order session
of `fix.toml`'s client gateway, by CompID: ALPHA on FIX 4.4, BETA on FIX 4.2, DEMO
on FIX 4.4 in the shipped config) send the rows of an orders file, each row when
the day's stream clock reaches its time, and follow every order to its end.

    tape clients --orders deploy/samples/day_orders.csv --day DAY [--config fix.toml]
                 [--wait 600] [--json]
    tape clients --orders FILE --check [--config fix.toml]      # check only, send nothing
    tape clients --generate --orders FILE [--seed 8] [--date 2013-10-08] [--data DIR]

The orders file is CSV with a header line; one row per client action, sent in file
order. Blank lines and lines starting with `#` are skipped. Columns (only `client`,
`action` and `cl_ord_id` must be present in the header; a column not listed here is
an error):
  at              HH:MM:SS, exchange-local time on the day's stream clock at which the
                  row is sent; blank: at once (after the rows before it). A row whose
                  time has passed goes at once.
  client          the CompID of an order session of the config (not a drop-copy one).
  action          new | replace | cancel.
  cl_ord_id       the ClOrdID (11) of this row's message: unique per client in the
                  file (a replace and a cancel take a new one, as FIX wants).
  orig_cl_ord_id  replace and cancel: a ClOrdID of an earlier row of the same client
                  (any of the order's chain; OrigClOrdID 41). Blank on a new row.
  symbol          new: the symbol. Replace and cancel: blank or the order's own.
  side            new: buy | sell | short. Replace and cancel: blank or the order's.
  qty             new: shares (OrderQty 38). Replace: the new quantity (blank: the
                  same). Cancel: blank.
  price           new: the limit price (44), blank for a market order. Replace: the new
                  limit (blank: the same). Cancel: blank.
  algo            new: DMA | VWAP (tag 7000). Blank on replace and cancel (a replace
                  cannot change the algo).
  venue           a DMA order's venue, a MIC (tag 7010; required for DMA).
  start, end      a VWAP order's window, HH:MM or HH:MM:SS exchange-local (tags 7001,
                  7002); a replace may change them.
  max_pct         a VWAP order's participation cap in percent (tag 7003).
  note            free text, never sent: why the row is there ("expect risk reject:
                  BAC is not among BETA's symbols").
The whole file is checked before any session starts (`--check` does only that): a bad
row exits 2 naming the file, the line, the column and what was expected (an unknown
client, a replace of an unknown ClOrdID, a ClOrdID used twice, a bad time, ...), and
nothing is sent. Symbols, venues and prices are not checked against the ref data: an
order the OMS refuses is part of a realistic day.

Pacing: the clock is `last_ts` of `DAY/sequencer.status.json` (the sequencer writes
it every 500 ms: in sim time the market data's time, in wall time the wall clock);
the session date is the day's `SystemStart` (the journal's first frame) and the time
zone that of the day's ref data venues (America/New_York without ref data). A row
whose time has not come waits, and so do the rows after it. A row due while its
client's session is down waits for the logon: nothing is dropped or sent twice.

Sessions: one QuickFIX initiator with one session per client of the file, each with
its message store and log under `DAY/clients/<CompID>/` (the settings QuickFIX ran
with are `DAY/clients/clients.cfg`). Sequence numbers are kept (no ResetOnLogon) and
a lost session is reconnected every second, so a client gateway killed and started
again resends what the clients missed (PossDup) and nothing is lost. A session is
one connection: while `tape clients` trades as DEMO, do not use `tape gateway order
--session DEMO` (it logs on as DEMO too, and resets the session's sequence numbers).
Run again on the same day, `tape clients` goes on with the stores' sequence numbers
but sends every row again (its ClOrdIDs then refused as duplicates): it keeps no
record of rows sent. TLS sessions are not supported (exit 2).

A replace carrying one VWAP parameter (start, end, max_pct) repeats the order's other
ones: the OMS takes a replace's algo parameters as the whole new set. A replace or a
cancel repeats the order's quantity (and a replace its limit) as last reported when
the row leaves them blank.

Tracking, per order (its ClOrdID chain): the last OrdStatus (39), CumQty (14), AvgPx
(6), the OMS's reject text (58), cancel rejects (35=9), and session-level (35=3) or
business (35=j) rejects of our requests. An execution report is counted once by its
ExecID (17): a PossDup resend after a reconnect is not counted again. A report for a
ClOrdID we never sent is logged and ignored.

The end: when every row is sent and answered and every order is done (filled,
canceled, rejected, expired or done for day; an order whose CumQty reached its
quantity counts as filled whatever its last OrdStatus, since a fill completing it
while a cancel is pending is reported as pending cancel); or on SIGTERM; or `--wait` seconds
after the last row was sent; or when the day stops (SystemStop) with rows unsent.
Then `DAY/clients/summary.json` is written (sorted keys): per client and in total,
`orders`, `replaces`, `cancels` (rows sent), `accepted`, `rejected` and
`rejected_texts` (ClOrdID -> text), `filled_orders`, `shares_filled`, `notional`
(dollars: CumQty x AvgPx), `still_open` (the orders' first ClOrdIDs),
`cancel_rejects` and `cancel_reject_texts`; `order_states` per order (status, cum
qty, avg px, chain, distinct reports); `rows` (sent, answered, the lines not sent or
not answered); `reports`, `duplicates` and `unknown_reports`; `ended` (why it
stopped). A one-line summary goes to stderr, the JSON to stdout with `--json`.

stdout: one JSON line `{"ready": "clients", "sessions": [...]}` once every session has
logged on (as the gateways do: a supervisor waits for it). Logs: `DAY/logs/clients.log`.

Exit 0 when every row was sent and answered, 1 otherwise (saying which rows), 2 for
bad usage or a bad orders file.

`--generate` writes a realistic day (`generate_orders`): seeded, so the same seed,
date and data give the same file byte for byte (`deploy/samples/day_orders.csv` is
seed 8 on 2013-10-08). Over three of the symbols with recorded data (BAC, IBM, SPY;
not AIG, whose million quotes would double the demo day's run time),
from ALPHA, BETA and DEMO, 09:31 to 15:30: DMA to the venues of the config and VWAP
(windows ending by 15:55), buys, sells and short sales (only where the ref data's
borrow table needs no locate), limits near the recorded minute-bar price at the
row's time, sizes within each client's limits of `clients.csv`, amendments and
cancels of earlier orders, and a few orders the OMS's risk checks refuse (a symbol
outside BETA's list, quantity or notional above a client's maximum, a limit outside
the collar), each with a note saying why.
"""

# determinism: edge module, a FIX client simulator (sockets, wall clock, QuickFIX threads, files)

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import queue
import random
import re
import signal
import sys
import time
from bisect import bisect_right
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, NoReturn

import structlog
import typer
from rich.console import Console

from fix_gateways.order_tool import describe_reject

if TYPE_CHECKING:
    from fix_gateways.config import ClientGateway, ClientSession, FixConfig

# QuickFIX (through fixmsg and session) is imported where the sessions start, not here:
# deploy/cli.py imports this module, and every `tape` process imports that.

log = structlog.get_logger("clients")

COLUMNS: Final = ("at", "client", "action", "cl_ord_id", "orig_cl_ord_id", "symbol", "side",
                  "qty", "price", "algo", "venue", "start", "end", "max_pct", "note")
REQUIRED_COLUMNS: Final = ("client", "action", "cl_ord_id")
ACTIONS: Final = ("new", "replace", "cancel")
SIDE_CODES: Final[dict[str, str]] = {"buy": "1", "sell": "2", "short": "5"}
ALGOS: Final = ("DMA", "VWAP")
# OrdStatus (39) of an order that is over: filled, canceled, rejected, expired, done for
# day. FIX 4.2's "replaced" (5) is a live order.
DONE: Final = frozenset({"2", "4", "8", "C", "3"})
STATUS_WORDS: Final[dict[str, str]] = {
    "0": "new", "1": "partially filled", "2": "filled", "3": "done for day",
    "4": "canceled", "5": "replaced", "6": "pending cancel", "8": "rejected",
    "A": "pending new", "C": "expired", "E": "pending replace"}
MAX_ID: Final = 64  # the client gateway's limit on text it puts on the stream
_TIME = re.compile(r"^(\d\d):(\d\d):(\d\d)$")
_WINDOW = re.compile(r"^(\d\d):(\d\d)(?::(\d\d))?$")
_PRICE = re.compile(r"^\d+(\.\d{1,4})?$")
_QTY = re.compile(r"^\d+$")
NS: Final = 1_000_000_000
DEFAULT_TZ: Final = "America/New_York"


# ---------------------------------------------------------------- the orders file


@dataclass
class Row:
    """One checked row. For a replace or a cancel, `symbol`, `side`, `algo` and `root`
    are its order's (taken from the new row when left blank)."""

    line: int
    at: int | None  # seconds after local midnight; None: at once
    client: str
    action: str
    cl_ord_id: str
    orig_cl_ord_id: str
    symbol: str
    side: str  # buy | sell | short
    qty: int  # 0: unchanged (replace) or none (cancel)
    price: str  # "": market (new), unchanged (replace)
    algo: str  # DMA | VWAP
    venue: str
    start: str
    end: str
    max_pct: str
    note: str
    root: str  # the first ClOrdID of the order the row belongs to

    @property
    def key(self) -> tuple[str, str]:
        return self.client, self.cl_ord_id


@dataclass(frozen=True)
class Problem:
    line: int
    column: str
    what: str


class OrdersFileError(Exception):
    def __init__(self, path: Path, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(self.text())

    def text(self, limit: int = 50) -> str:
        lines = [f"{self.path}:{p.line}: " + (f"column {p.column}: " if p.column else "")
                 + p.what for p in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"... and {len(self.problems) - limit} more problems")
        return "\n".join(lines)


def _hms(text: str) -> int:
    """Seconds after midnight of HH:MM:SS; ValueError saying what was expected."""
    m = _TIME.match(text)
    if m is None:
        raise ValueError(f"expected a time HH:MM:SS (exchange-local) or blank, got {text!r}")
    h, mi, s = (int(x) for x in m.groups())
    if h > 23 or mi > 59 or s > 59:
        raise ValueError(f"expected a time of day (hours 00-23, minutes and seconds 00-59), "
                         f"got {text!r}")
    return (h * 60 + mi) * 60 + s


def _window_s(text: str) -> int:
    """Seconds after midnight of a VWAP window time (HH:MM or HH:MM:SS, as the OMS takes)."""
    m = _WINDOW.match(text)
    if m is None:
        raise ValueError(f"expected a time HH:MM or HH:MM:SS, got {text!r}")
    h, mi, s = int(m[1]), int(m[2]), int(m[3] or 0)
    if h > 23 or mi > 59 or s > 59:
        raise ValueError(f"expected a time of day (hours 00-23, minutes and seconds 00-59), "
                         f"got {text!r}")
    return (h * 60 + mi) * 60 + s


def fmt_hms(seconds: int) -> str:
    h, rest = divmod(seconds, 3600)
    return f"{h:02d}:{rest // 60:02d}:{rest % 60:02d}"


def _fine_id(value: str) -> str | None:
    if not value:
        return "expected a ClOrdID"
    if len(value) > MAX_ID:
        return f"expected at most {MAX_ID} characters, got {len(value)}"
    if not (value.isascii() and value.isprintable()) or " " in value:
        return f"expected printable ASCII without spaces, got {value!r}"
    return None


def read_orders(path: Path, sessions: Collection[str], drop_copy: Collection[str] = (),
                ) -> list[Row]:
    """The rows of the orders file `path`, checked against the order sessions' CompIDs
    (`sessions`; `drop_copy`: the drop-copy ones, named in the error). Every problem
    of the file is gathered: `OrdersFileError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise OrdersFileError(path, [Problem(0, "", f"cannot read the orders file: {e}")]
                              ) from None
    problems: list[Problem] = []
    header: list[str] | None = None
    rows: list[Row] = []
    by_cl: dict[tuple[str, str], Row] = {}
    known = ", ".join(sorted(sessions)) or "none"
    for line_no, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        # One line per row: a quoted field may hold commas, not line breaks.
        fields = next(csv.reader([raw]))
        if header is None:
            header = [f.strip() for f in fields]
            unknown = [c for c in header if c not in COLUMNS]
            if unknown:
                problems.append(Problem(line_no, unknown[0], "unknown column: expected "
                                        "columns among " + ", ".join(COLUMNS)))
            for c in REQUIRED_COLUMNS:
                if c not in header:
                    problems.append(Problem(line_no, c, "missing column in the header"))
            twice = sorted({c for c in header if header.count(c) > 1})
            if twice:
                problems.append(Problem(line_no, twice[0], "column named twice in the header"))
            if problems:
                raise OrdersFileError(path, problems)
            continue
        if len(fields) != len(header):
            problems.append(Problem(line_no, "", f"expected {len(header)} fields as the "
                                    f"header has, found {len(fields)}"))
            continue
        values = dict.fromkeys(COLUMNS, "")
        values.update({c: v.strip() if c != "note" else v for c, v in zip(header, fields,
                                                                         strict=True)})
        row = _check_row(line_no, values, sessions, drop_copy, known, by_cl, problems)
        if row is not None:
            rows.append(row)
            by_cl[row.key] = row
    if header is None:
        problems.append(Problem(0, "", "empty file: expected a header line and rows"))
    elif not rows and not problems:
        problems.append(Problem(0, "", "no rows: nothing to send"))
    if problems:
        raise OrdersFileError(path, problems)
    return rows


def _check_row(n: int, v: dict[str, str], sessions: Collection[str],
               drop_copy: Collection[str], known: str, by_cl: dict[tuple[str, str], Row],
               problems: list[Problem]) -> Row | None:
    """The row of line `n`, or None after adding its problems."""
    before = len(problems)

    def bad(column: str, what: str) -> None:
        problems.append(Problem(n, column, what))

    at: int | None = None
    if v["at"]:
        try:
            at = _hms(v["at"])
        except ValueError as e:
            bad("at", str(e))
    client = v["client"]
    if client in drop_copy and client not in sessions:
        bad("client", f"{client!r} is a drop-copy session: expected the CompID of an order "
                      f"session ({known})")
    elif client not in sessions:
        bad("client", f"unknown client {client!r}: expected the CompID of an order session "
                      f"of the config ({known})")
    action = v["action"]
    if action not in ACTIONS:
        bad("action", f"expected new, replace or cancel, got {action!r}")
    cl = v["cl_ord_id"]
    why = _fine_id(cl)
    if why:
        bad("cl_ord_id", why)
    elif (client, cl) in by_cl:
        bad("cl_ord_id", f"ClOrdID {cl!r} is already used by {client} on line "
                         f"{by_cl[(client, cl)].line}: expected a new one")
    orig = v["orig_cl_ord_id"]
    order: Row | None = None
    if action == "new":
        if orig:
            bad("orig_cl_ord_id", "expected blank on a new row")
    elif action in ("replace", "cancel"):
        if not orig:
            bad("orig_cl_ord_id", f"a {action} needs the ClOrdID of an earlier row of "
                                  f"{client or 'the client'}")
        else:
            order = by_cl.get((client, orig))
            if order is None:
                others = sorted(c for c, x in by_cl if x == orig)
                bad("orig_cl_ord_id", f"{action} of unknown ClOrdID {orig!r}: expected a "
                    f"ClOrdID of an earlier row of {client}" + (
                        f" (it is {', '.join(others)}'s)" if others else ""))
    if action == "new":
        return _check_new(n, v, at, cl, bad, before, problems)
    if action not in ("replace", "cancel"):
        return None
    root = by_cl[(client, order.root)] if order is not None else None
    for col in ("symbol", "side"):
        if v[col] and root is not None and v[col] != getattr(root, col):
            bad(col, f"expected blank or the order's own {getattr(root, col)!r}, "
                     f"got {v[col]!r}")
    for col in ("algo", "venue"):
        if v[col]:
            bad(col, f"expected blank on a {action} (the order's {col} cannot change)")
    qty = 0
    if action == "cancel":
        for col in ("qty", "price", "start", "end", "max_pct"):
            if v[col]:
                bad(col, "expected blank on a cancel")
    else:
        if v["qty"]:
            qty = _qty(v["qty"], bad)
        if v["price"] and not _price_ok(v["price"]):
            bad("price", f"expected a price above 0 with at most 4 decimals, got {v['price']!r}")
        if root is not None and root.algo != "VWAP":
            for col in ("start", "end", "max_pct"):
                if v[col]:
                    bad(col, "expected blank: only a VWAP order has a window and a cap")
        else:
            _check_vwap(v, bad)
        if not any(v[c] for c in ("qty", "price", "start", "end", "max_pct")):
            bad("qty", "a replace changes something: expected qty, price, start, end or "
                       "max_pct")
    if len(problems) > before or root is None:
        return None
    return Row(n, at, client, action, cl, orig, root.symbol, root.side, qty, v["price"],
               root.algo, "", v["start"], v["end"], v["max_pct"], v["note"], root.cl_ord_id)


def _qty(text: str, bad: Callable[[str, str], None]) -> int:
    if not _QTY.match(text) or int(text) <= 0:
        bad("qty", f"expected a whole number of shares above 0, got {text!r}")
        return 0
    return int(text)


def _price_ok(text: str) -> bool:
    return bool(_PRICE.match(text)) and Decimal(text) > 0


def _check_vwap(v: dict[str, str], bad: Callable[[str, str], None]) -> None:
    times: dict[str, int] = {}
    for col in ("start", "end"):
        if v[col]:
            try:
                times[col] = _window_s(v[col])
            except ValueError as e:
                bad(col, str(e))
    if len(times) == 2 and times["start"] >= times["end"]:
        bad("end", f"expected a time after start {v['start']}, got {v['end']}")
    if v["max_pct"]:
        try:
            pct = float(v["max_pct"])
        except ValueError:
            pct = -1.0
        if not 0 < pct <= 100:
            bad("max_pct", f"expected a percentage above 0 and at most 100, got "
                           f"{v['max_pct']!r}")


def _check_new(n: int, v: dict[str, str], at: int | None, cl: str,
               bad: Callable[[str, str], None], before: int, problems: list[Problem],
               ) -> Row | None:
    if not v["symbol"]:
        bad("symbol", "expected the symbol")
    elif _fine_id(v["symbol"]):
        bad("symbol", f"expected printable ASCII without spaces, got {v['symbol']!r}")
    if v["side"] not in SIDE_CODES:
        bad("side", f"expected buy, sell or short, got {v['side']!r}")
    qty = _qty(v["qty"], bad)
    if v["price"] and not _price_ok(v["price"]):
        bad("price", f"expected a limit price above 0 with at most 4 decimals (blank: a "
                     f"market order), got {v['price']!r}")
    algo = v["algo"].upper()
    if algo not in ALGOS:
        bad("algo", f"expected DMA or VWAP, got {v['algo']!r}")
    elif algo == "DMA":
        if not v["venue"]:
            bad("venue", "a DMA order needs its venue (a MIC)")
        for col in ("start", "end", "max_pct"):
            if v[col]:
                bad(col, "expected blank: only a VWAP order has a window and a cap")
    else:
        if v["venue"]:
            bad("venue", "expected blank: only a DMA order names a venue")
        _check_vwap(v, bad)
    if len(problems) > before:
        return None
    return Row(n, at, v["client"], "new", cl, "", v["symbol"], v["side"], qty, v["price"],
               algo, v["venue"], v["start"], v["end"], v["max_pct"], v["note"], cl)


# ---------------------------------------------------------------- tracking


@dataclass
class Order:
    client: str
    cl_ord_id: str  # the first
    line: int
    symbol: str
    side: str
    algo: str
    order_qty: int
    price: str  # the limit in force ("" a market order)
    limit: bool  # a limit order (its OrdType, 40, cannot change)
    params: dict[str, str] = field(default_factory=dict)  # algo parameters in force, by tag
    chain: list[str] = field(default_factory=list)
    status: str = ""  # the last OrdStatus (39)
    cum_qty: int = 0
    avg_px: str = "0"
    accepted: bool = False
    reject_text: str | None = None
    reports: int = 0

    @property
    def filled(self) -> bool:
        """Filled, also when the report of the last fill says otherwise: a fill that
        completes an order while a cancel is pending comes as OrdStatus pending cancel
        (6) with LeavesQty 0, and no later report says filled."""
        return self.status == "2" or 0 < self.order_qty <= self.cum_qty

    @property
    def done(self) -> bool:
        return self.status in DONE or self.filled

    def state(self) -> dict[str, Any]:
        return {"status": STATUS_WORDS.get(self.status, self.status or "not answered"),
                "cum_qty": self.cum_qty, "avg_px": self.avg_px, "order_qty": self.order_qty,
                "chain": list(self.chain), "reports": self.reports, "line": self.line,
                "symbol": self.symbol, "side": self.side, "algo": self.algo,
                **({"reject_text": self.reject_text} if self.reject_text is not None else {})}


def _fields_text(m: dict[str, str]) -> str:
    return "|".join(f"{k}={v}" for k, v in m.items())[:500]


class Tracker:
    """What the clients sent and what came back. Fed from one thread (the main loop);
    never raises on odd input from the gateway: it logs it and goes on."""

    def __init__(self) -> None:
        self.orders: dict[tuple[str, str], Order] = {}  # (client, first ClOrdID)
        self.of_cl: dict[tuple[str, str], Order] = {}  # (client, any ClOrdID) -> order
        self.rows: dict[tuple[str, str], Row] = {}  # (client, ClOrdID) -> the row sent
        self.answered: set[tuple[str, str]] = set()
        self.sent_seq: dict[tuple[str, str], tuple[str, str]] = {}  # (client, 34) -> (35, 11)
        self.seen: set[tuple[str, ...]] = set()
        self.cancel_rejects: dict[str, dict[str, str]] = {}  # client -> {ClOrdID: text}
        self.reports = 0
        self.duplicates = 0
        self.unknown = 0
        self.counts: dict[str, dict[str, int]] = {}
        # A replace's algo parameters, in force once it is reported replaced (150=5).
        self.pending_params: dict[tuple[str, str], dict[str, str]] = {}

    # ------------------------------------------------------------ what we sent

    def sent(self, row: Row) -> None:
        c = self.counts.setdefault(row.client, {"new": 0, "replace": 0, "cancel": 0})
        c[row.action] += 1
        self.rows[row.key] = row
        if row.action == "new":
            o = Order(row.client, row.cl_ord_id, row.line, row.symbol, row.side, row.algo,
                      row.qty, row.price, bool(row.price), row_params(row), [row.cl_ord_id])
            self.orders[row.key] = o
            self.of_cl[row.key] = o
            return
        o_or_none = self.orders.get((row.client, row.root))
        if o_or_none is None:  # its new row was not sent: cannot happen in file order
            log.warning("request_for_unsent_order", client=row.client, cl_ord_id=row.cl_ord_id)
            return
        o_or_none.chain.append(row.cl_ord_id)
        self.of_cl[row.key] = o_or_none
        if row.action == "replace" and row_params(row):
            self.pending_params[row.key] = send_params(row, o_or_none)

    def on_sent_message(self, client: str, m: dict[str, str]) -> None:
        """A message QuickFIX is sending for us (toApp): its MsgSeqNum names it in a
        session-level reject's RefSeqNum (45)."""
        if "34" in m:
            self.sent_seq[(client, m["34"])] = (m.get("35", ""), m.get("11", ""))

    # ------------------------------------------------------------ what came back

    def on_message(self, client: str, m: dict[str, str]) -> None:
        kind = m.get("35", "")
        if kind == "8":
            self._report(client, m)
        elif kind == "9":
            self._cancel_reject(client, m)
        elif kind in ("3", "j"):
            self._reject(client, m)
        else:
            log.info("message_ignored", client=client, msg_type=kind, message=_fields_text(m))

    def _order_of(self, client: str, m: dict[str, str]) -> Order | None:
        o = self.of_cl.get((client, m.get("11", "")))
        if o is None and m.get("41"):
            o = self.of_cl.get((client, m["41"]))
        return o

    def _first(self, key: tuple[str, ...]) -> bool:
        """True the first time `key` is seen; a repeat is a duplicate."""
        if key in self.seen:
            self.duplicates += 1
            return False
        self.seen.add(key)
        return True

    def _report(self, client: str, m: dict[str, str]) -> None:
        exec_id = m.get("17")
        key = (client, "8", exec_id) if exec_id else (client, "8#", m.get("34", ""))
        if not self._first(key):
            log.info("duplicate_report", client=client, exec_id=exec_id,
                     poss_dup=m.get("43", "N"))
            return
        o = self._order_of(client, m)
        if o is None:
            self.unknown += 1
            log.warning("report_for_unknown_cl_ord_id", client=client,
                        cl_ord_id=m.get("11", ""), message=_fields_text(m))
            return
        self.reports += 1
        o.reports += 1
        cl = m.get("11", "")
        if (client, cl) in self.rows:
            self.answered.add((client, cl))
        status = m.get("39", "")
        try:
            cum = int(Decimal(m.get("14", "0")))
            qty = int(Decimal(m["38"])) if m.get("38") else o.order_qty
        except (InvalidOperation, ValueError):
            log.warning("report_unreadable", client=client, message=_fields_text(m))
            return
        if status == "8" and not o.accepted and not o.done:
            o.reject_text = m.get("58", "")
        elif status not in ("", "8", "A"):  # PendingNew is not yet an acceptance
            o.accepted = True
        if o.done and status not in DONE:
            # A late report of an order already over (a resend out of order cannot
            # happen in FIX; a bust reopening a filled order can): take it as it says.
            log.info("order_reopened", client=client, cl_ord_id=o.cl_ord_id, status=status)
        o.status = status or o.status
        o.cum_qty = cum
        o.order_qty = qty
        o.avg_px = m.get("6", o.avg_px)
        o.price = m.get("44", o.price)  # the limit in force, for a replace that keeps it
        if m.get("150") == "5" and (client, cl) in self.pending_params:
            o.params = self.pending_params.pop((client, cl))
        log.info("report", client=client, cl_ord_id=cl, exec_id=exec_id,
                 exec_type=m.get("150", ""), status=STATUS_WORDS.get(status, status),
                 cum_qty=cum, avg_px=o.avg_px, last_qty=m.get("32", ""),
                 last_px=m.get("31", ""), text=m.get("58", ""), poss_dup=m.get("43", "N"))

    def _cancel_reject(self, client: str, m: dict[str, str]) -> None:
        cl = m.get("11", "")
        # One request, one answer: a second reject of the same request is a repeat.
        if not self._first((client, "9", cl, m.get("41", ""))):
            return
        text = m.get("58", "") or "cancel rejected"
        self.cancel_rejects.setdefault(client, {})[cl] = text
        if (client, cl) in self.rows:
            self.answered.add((client, cl))
        else:
            self.unknown += 1
        # Its OrdStatus (39) is not taken: for an unknown OrigClOrdID it says "rejected"
        # of no order of ours; the order's own reports tell its status.
        log.info("cancel_reject", client=client, cl_ord_id=cl, orig_cl_ord_id=m.get("41", ""),
                 status=m.get("39", ""), response_to=m.get("434", ""), text=text)

    def _reject(self, client: str, m: dict[str, str]) -> None:
        """A session-level Reject (35=3) or a BusinessMessageReject (35=j) of a request:
        named by RefSeqNum (45, the MsgSeqNum we sent it with) or, for 35=j, by
        BusinessRejectRefID (379, our ClOrdID)."""
        ref = self.sent_seq.get((client, m.get("45", "")))
        cl = ref[1] if ref is not None else m.get("379", "") if m.get("35") == "j" else ""
        text = describe_reject(m)
        if not self._first((client, m.get("35", ""), m.get("45", ""), cl)):
            return
        row = self.rows.get((client, cl))
        if row is None:
            self.unknown += 1
            log.warning("reject_of_unknown_request", client=client, text=text,
                        message=_fields_text(m))
            return
        self.answered.add(row.key)
        o = self.of_cl.get(row.key)
        if row.action == "new" and o is not None:
            o.status = "8"
            o.reject_text = text
        else:
            self.cancel_rejects.setdefault(client, {})[cl] = text
        log.warning("request_rejected", client=client, cl_ord_id=cl, action=row.action,
                    text=text)

    # ------------------------------------------------------------ the end

    def finished(self) -> bool:
        return all(o.done for o in self.orders.values()) and all(
            k in self.answered for k in self.rows)

    def summary(self) -> dict[str, Any]:
        clients = sorted(set(self.counts) | {c for c, _ in self.orders})
        per: dict[str, dict[str, Any]] = {}
        for c in clients:
            orders = [o for (cc, _), o in self.orders.items() if cc == c]
            counts = self.counts.get(c, {})
            notional = sum((Decimal(o.cum_qty) * _decimal(o.avg_px) for o in orders),
                           Decimal(0))
            per[c] = {
                "orders": counts.get("new", 0), "replaces": counts.get("replace", 0),
                "cancels": counts.get("cancel", 0),
                "accepted": sum(o.accepted for o in orders),
                "rejected": sum(o.reject_text is not None for o in orders),
                "rejected_texts": {o.cl_ord_id: o.reject_text for o in orders
                                   if o.reject_text is not None},
                "filled_orders": sum(o.filled for o in orders),
                "shares_filled": sum(o.cum_qty for o in orders),
                "notional": float(round(notional, 2)),
                "still_open": sorted(o.cl_ord_id for o in orders if not o.done),
                "cancel_rejects": len(self.cancel_rejects.get(c, {})),
                "cancel_reject_texts": dict(self.cancel_rejects.get(c, {})),
            }
        total: dict[str, Any] = {}
        for k in ("orders", "replaces", "cancels", "accepted", "rejected", "filled_orders",
                  "shares_filled", "cancel_rejects"):
            total[k] = sum(p[k] for p in per.values())
        total["notional"] = float(round(sum((Decimal(str(p["notional"])) for p in per.values()),
                                            Decimal(0)), 2))
        total["still_open"] = [f"{c}:{cl}" for c in clients for cl in per[c]["still_open"]]
        for k in ("rejected_texts", "cancel_reject_texts"):
            total[k] = {f"{c}:{cl}": t for c in clients for cl, t in per[c][k].items()}
        return {
            "clients": per, "total": total, "reports": self.reports,
            "duplicates": self.duplicates, "unknown_reports": self.unknown,
            "order_states": {c: {o.cl_ord_id: o.state() for (cc, _), o in
                                 sorted(self.orders.items()) if cc == c} for c in clients},
        }


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        return Decimal(0)


# ---------------------------------------------------------------- the day's clock


class DayClock:
    """The day's stream time from `DAY/sequencer.status.json` (read at most every 0.1 s)
    and the exchange-local midnight of its session date."""

    def __init__(self, day: Path, midnight_ns: int | None = None) -> None:
        self.day = Path(day)
        self.last_ts = 0
        self.state = ""
        self._read_at = -1.0
        # Known in advance only in tests; else from the day's journal and ref data.
        self._midnight = midnight_ns
        self._waiting_said = False

    def poll(self, now: float) -> None:
        if now - self._read_at < 0.1:
            return
        self._read_at = now
        try:
            st = json.loads((self.day / "sequencer.status.json").read_text())
            self.last_ts = max(self.last_ts, int(st["last_ts"]))
            self.state = str(st.get("state", ""))
        except (OSError, ValueError, KeyError, TypeError):
            return  # not written yet (the day starting), or mid-replace: next time

    def midnight_ns(self) -> int | None:
        """Local midnight of the session date (ns), once the day's journal has begun."""
        if self._midnight is None:
            date = _session_date(self.day)
            if date is None:
                if not self._waiting_said:
                    log.info("waiting_for_the_day_to_start", day=str(self.day))
                    self._waiting_said = True
                return None
            tz = _timezone(self.day)
            import zoneinfo

            midnight = dt.datetime.combine(date, dt.time(0), tzinfo=zoneinfo.ZoneInfo(tz))
            self._midnight = int(midnight.timestamp()) * NS
            log.info("day_clock", session_date=str(date), timezone=tz)
        return self._midnight

    def reached(self, at_s: int, now: float) -> bool:
        self.poll(now)
        midnight = self.midnight_ns()
        return midnight is not None and self.last_ts >= midnight + at_s * NS

    def local(self) -> str:
        midnight = self._midnight
        if midnight is None or not self.last_ts:
            return ""
        return fmt_hms(max(0, (self.last_ts - midnight) // NS))


def _session_date(day: Path) -> dt.date | None:
    """The session date of the day's `SystemStart`; None while the journal is empty."""
    from sequencer.journal import JournalReader
    from sequencer.messages import decode
    from sequencer.messages.control import SystemStart

    jdir = day / "journal"
    if not jdir.is_dir():
        return None
    try:
        with JournalReader(jdir, 1) as r:
            first = r.read(1)
    except (OSError, ValueError) as e:
        log.warning("journal_unreadable", error=str(e))
        return None
    if not first:
        return None
    msg = decode(first[0].type_id, first[0].payload)
    return msg.session_date if isinstance(msg, SystemStart) else None


def _timezone(day: Path) -> str:
    """The time zone of the day's ref data venues (America/New_York without ref data)."""
    if not (day / "refdata").is_dir():
        return DEFAULT_TZ
    from refdata.files import RefDataError
    from refdata.load import load

    try:
        rd = load(day / "refdata")
    except (RefDataError, OSError, ValueError) as e:
        log.warning("refdata_unreadable", error=str(e), timezone=DEFAULT_TZ)
        return DEFAULT_TZ
    zones = sorted({v.timezone for v in rd.venues if v.routable})
    if len(zones) != 1:
        log.warning("venue_timezones", zones=zones, timezone=zones[0] if zones else DEFAULT_TZ)
    return zones[0] if zones else DEFAULT_TZ


# ---------------------------------------------------------------- FIX


def request_body(row: Row, version: str, o: Order | None, transact_ns: int) -> tuple[str, str]:
    """(MsgType, body) of the row's request: a NewOrderSingle (D), an
    OrderCancelReplaceRequest (G) or an OrderCancelRequest (F). A replace or cancel
    repeats the order's quantity and limit as last reported (`o`) where the row leaves
    them blank. FIX 4.2 needs HandlInst (21) on D and G."""
    from fix_gateways.fixmsg import SOH, fix_time

    side = SIDE_CODES[row.side]
    head = f"11={row.cl_ord_id}{SOH}"
    tail = f"60={fix_time(transact_ns)}{SOH}" + (f"21=1{SOH}" if version == "4.2" else "")
    if row.action == "new":
        body = (head + f"55={row.symbol}{SOH}54={side}{SOH}38={row.qty}{SOH}"
                f"40={'2' if row.price else '1'}{SOH}"
                + (f"44={row.price}{SOH}" if row.price else "")
                + f"59=0{SOH}7000={row.algo}{SOH}" + _params(row_params(row))
                + (f"7010={row.venue}{SOH}" if row.venue else "") + tail)
        return "D", body
    qty = row.qty or (o.order_qty if o is not None else 0)
    if row.action == "cancel":
        body = (head + f"41={row.orig_cl_ord_id}{SOH}55={row.symbol}{SOH}54={side}{SOH}"
                + (f"38={qty}{SOH}" if qty else "")
                + f"60={fix_time(transact_ns)}{SOH}")
        return "F", body
    limit = o is not None and o.limit
    price = row.price or (o.price if o is not None else "")
    body = (head + f"41={row.orig_cl_ord_id}{SOH}55={row.symbol}{SOH}54={side}{SOH}"
            + (f"38={qty}{SOH}" if qty else "")
            + f"40={'2' if limit else '1'}{SOH}"
            + (f"44={price}{SOH}" if price else "") + _params(send_params(row, o)) + tail)
    return "G", body


PARAM_TAGS: Final = ("7001", "7002", "7003")  # start_time, end_time, max_pct


def row_params(row: Row) -> dict[str, str]:
    """The algo parameters a row gives, by tag."""
    return {tag: value for tag, value in zip(PARAM_TAGS, (row.start, row.end, row.max_pct),
                                             strict=True) if value}


def send_params(row: Row, o: Order | None) -> dict[str, str]:
    """The algo parameters the row's message carries. A replace that carries any
    replaces them all (client_fix: the OMS takes the new set whole), so a replace
    changing one repeats the others as they stand."""
    given = row_params(row)
    if row.action == "replace" and given and o is not None:
        return o.params | given
    return given


def _params(params: dict[str, str]) -> str:
    return "".join(f"{tag}={params[tag]}\x01" for tag in PARAM_TAGS if tag in params)


def settings_text(gw: ClientGateway, sessions: list[ClientSession], root: Path) -> str:
    """QuickFIX initiator settings: one session per client, each `one_session`'s keys
    with its own store and log under `root/<CompID>/`, and no ResetOnLogon, so sequence
    numbers (and resends) carry across a reconnect."""
    from fix_gateways.config import BEGIN_STRING, data_dictionary
    from fix_gateways.session import one_session

    # QuickFIX's engine-wide event log goes to the [DEFAULT] paths.
    out = ["[DEFAULT]", "ConnectionType=initiator", f"FileStorePath={root / 'store'}",
           f"FileLogPath={root / 'log'}", ""]
    for s in sessions:
        text = one_session("initiator", root / s.comp_id, BEGIN_STRING[s.fix_version],
                           s.comp_id, gw.sender_comp_id, s.port,
                           data_dictionary(s.fix_version, gw.data_dictionary_dir),
                           host=gw.host)
        default, _, session = text.partition("[SESSION]\n")
        # Its [DEFAULT] keys become the session's own; the heartbeat is the gateway's.
        keys = [f"HeartBtInt={gw.heartbeat_s}" if line.startswith("HeartBtInt=") else line
                for line in default.splitlines()[1:]
                if line and not line.startswith("ConnectionType=")]
        out += ["[SESSION]", *keys, *session.splitlines(), ""]
    return "\n".join(out)


class _Handler:
    """QuickFIX's callbacks (its threads) into one queue for the main loop."""

    def __init__(self) -> None:
        self.events: queue.Queue[tuple[str, str, dict[str, str]]] = queue.Queue()

    @staticmethod
    def _client(sid: Any) -> str:
        return str(sid.getSenderCompID().getValue())

    def on_logon(self, sid: Any) -> None:
        self.events.put(("logon", self._client(sid), {}))

    def on_logout(self, sid: Any) -> None:
        self.events.put(("logout", self._client(sid), {}))

    def on_message(self, msg: Any, sid: Any) -> None:
        from fix_gateways.fixmsg import read

        self.events.put(("message", self._client(sid), read(msg)))

    def on_admin(self, msg: Any, sid: Any) -> None:
        """Session-level messages in: only a Reject (35=3) is about our requests."""
        from fix_gateways.fixmsg import read

        m = read(msg)
        if m.get("35") == "3":
            self.events.put(("message", self._client(sid), m))

    def on_sent(self, msg: Any, sid: Any) -> None:
        from fix_gateways.fixmsg import read

        self.events.put(("sent", self._client(sid), read(msg)))


def _callbacks(handler: _Handler) -> Any:
    from fix_gateways.session import Callbacks

    class SimCallbacks(Callbacks):
        """`Callbacks`, plus our own outgoing application messages (toApp: the header is
        filled, MsgSeqNum included, also on a resend)."""

        def toApp(self, msg: Any, sid: Any) -> None:  # noqa: N802 - QuickFIX's name
            try:
                handler.on_sent(msg, sid)
            except Exception:  # a bug of ours must not stop the message going out
                log.exception("to_app_failed")

    return SimCallbacks(handler, on_admin_in=handler.on_admin)


# ---------------------------------------------------------------- the run


@dataclass
class RunResult:
    ended: str
    unsent: list[int]
    unanswered: list[int]
    summary: dict[str, Any]


class ClientSim:
    """The main loop: pacing, sending, tracking. QuickFIX runs on its own threads and
    only fills `handler.events`; everything else happens here."""

    def __init__(self, rows: list[Row], gw: ClientGateway, day: Path, wait: float,
                 send: Callable[[str, str], bool] | None = None,
                 clock: DayClock | None = None) -> None:
        """`send(raw, client)` replaces QuickFIX's send (tests); `clock` the day's."""
        self.rows = rows
        self.gw = gw
        self.day = Path(day)
        self.wait = wait
        self.handler = _Handler()
        self.tracker = Tracker()
        self.clock = clock or DayClock(day)
        self.up: set[str] = set()
        self.stop = ""
        self._send = send
        self.engine: Any = None  # QuickFIX's, referenced until the process ends
        clients = sorted({r.client for r in rows})
        self.sessions = [next(s for s in gw.sessions if s.comp_id == c and not s.drop_copy)
                         for c in clients]
        self.version = {s.comp_id: s.fix_version for s in self.sessions}

    def start(self) -> None:
        """Start the QuickFIX initiator."""
        from fix_gateways.session import initiator, write_settings

        root = self.day / "clients"
        settings = write_settings(root / "clients.cfg",
                                  settings_text(self.gw, self.sessions, root))
        self.engine = initiator(_callbacks(self.handler), settings)
        self.engine.start()

    def sid(self, client: str) -> Any:
        import quickfix as fix

        from fix_gateways.config import BEGIN_STRING

        return fix.SessionID(BEGIN_STRING[self.version[client]], client,
                             self.gw.sender_comp_id)

    def _say(self, obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    def _drain(self, timeout: float) -> None:
        try:
            kind, client, m = self.handler.events.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            self._event(kind, client, m)
            try:
                kind, client, m = self.handler.events.get_nowait()
            except queue.Empty:
                return

    def _event(self, kind: str, client: str, m: dict[str, str]) -> None:
        if kind == "logon":
            self.up.add(client)
            log.info("logon", client=client)
        elif kind == "logout":
            if client in self.up:
                log.warning("logout", client=client)
            self.up.discard(client)
        elif kind == "sent":
            self.tracker.on_sent_message(client, m)
        else:
            try:
                self.tracker.on_message(client, m)
            except Exception:  # odd input must not end the day's clients
                log.exception("message_failed", client=client, message=_fields_text(m))

    def _send_row(self, row: Row) -> None:
        from fix_gateways.fixmsg import compose
        from fix_gateways.session import send_raw

        version = self.version[row.client]
        o = self.tracker.orders.get((row.client, row.root))
        self.clock.poll(time.monotonic())
        # TransactTime (60): the stream's time (in a sim day, the market's), once known.
        ts = self.clock.last_ts or time.time_ns()
        msg_type, body = request_body(row, version, o, ts)
        # The row counts as sent before the message goes: an answer may come back
        # before send_raw returns.
        self.tracker.sent(row)
        raw = compose("FIX." + version, msg_type, body)
        ok = (self._send(raw, row.client) if self._send is not None
              else send_raw(raw, self.sid(row.client)))
        log.info("row_sent", line=row.line, client=row.client, action=row.action,
                 cl_ord_id=row.cl_ord_id, symbol=row.symbol, side=row.side, qty=row.qty,
                 price=row.price, algo=row.algo, venue=row.venue,
                 stream_time=self.clock.local(), queued=not ok)

    def run(self) -> RunResult:
        i = 0
        n = len(self.rows)
        deadline: float | None = None
        ready = False
        stopped_at: float | None = None
        waiting_for = ""
        while True:
            self._drain(0.05)
            now = time.monotonic()
            if not ready and self.up >= set(self.version):
                ready = True
                self._say({"ready": "clients", "sessions": sorted(self.version)})
            while i < n and stopped_at is None:
                row = self.rows[i]
                if row.at is not None and not self.clock.reached(row.at, now):
                    what = f"line {row.line}: stream time {fmt_hms(row.at)}"
                    break
                if row.client not in self.up:
                    what = f"line {row.line}: {row.client}'s logon"
                    break
                self._send_row(row)
                i += 1
                what = ""
                if i == n:
                    deadline = now + self.wait
                    log.info("all_rows_sent", rows=n)
            else:
                what = ""
            if what != waiting_for:
                if what:
                    log.info("waiting", what=what)
                waiting_for = what
            if self.stop:
                ended = self.stop
                break
            if i == n and self.tracker.finished():
                ended = "done"
                break
            if deadline is not None and now >= deadline:
                ended = "wait"
                break
            if i < n:
                # A day stopped (SystemStop) or a sequencer closed takes no more input:
                # nothing more is sent, and after a short grace (a restarted sequencer
                # comes back "running") the rows left are given up.
                self.clock.poll(now)
                if self.clock.state in ("stopped", "closed"):
                    if stopped_at is None:
                        stopped_at = now
                        log.warning("day_stopped_with_rows_unsent", state=self.clock.state,
                                    unsent=n - i)
                    elif now - stopped_at >= min(self.wait, 10.0):
                        ended = "day stopped"
                        break
                elif stopped_at is not None:
                    stopped_at = None
                    log.info("day_running_again")
        unsent = [r.line for r in self.rows[i:]]
        unanswered = [r.line for r in self.rows[:i] if r.key not in self.tracker.answered]
        summary = self.tracker.summary()
        summary["ended"] = ended
        summary["rows"] = {"total": n, "sent": i, "answered": i - len(unanswered),
                           "unsent_lines": unsent, "unanswered_lines": unanswered}
        return RunResult(ended, unsent, unanswered, summary)


# ---------------------------------------------------------------- the generator


#: The generated day's symbols: the recorded ones but AIG, whose million quotes that day
#: would double the whole-day demo's run time (the demo plays these: deploy/demo.py).
GEN_SYMBOLS: Final = ("BAC", "IBM", "SPY")
GEN_CLIENTS: Final = (("ALPHA", 45), ("BETA", 25), ("DEMO", 30))
GEN_NEW: Final = 240  # ordinary new orders; the risk refusals come on top
GEN_FIRST: Final = 9 * 3600 + 31 * 60  # 09:31:00
GEN_LAST: Final = 15 * 3600 + 30 * 60  # 15:30:00
GEN_VWAP_END: Final = 15 * 3600 + 55 * 60  # 15:55:00
_OPEN: Final = 9 * 3600 + 30 * 60
_CLOSE: Final = 16 * 3600
# Dollar sizes (log-uniform between the bounds), by kind of client and algo.
_SIZES: Final[dict[tuple[bool, str], tuple[float, float]]] = {
    (False, "DMA"): (25_000, 750_000), (False, "VWAP"): (250_000, 6_000_000),
    (True, "DMA"): (10_000, 250_000), (True, "VWAP"): (100_000, 1_500_000)}


@dataclass
class _Limits:
    max_order_qty: int
    max_order_notional: Decimal
    collar_bps: int
    symbols: tuple[str, ...]  # () every symbol


def _csv_rows(path: Path) -> list[dict[str, str]]:
    text = "\n".join(line for line in path.read_text().splitlines()
                     if line.strip() and not line.lstrip().startswith("#"))
    return list(csv.DictReader(io.StringIO(text)))


def _limits(defaults: Path) -> dict[str, _Limits]:
    out = {}
    for r in _csv_rows(defaults / "clients.csv"):
        syms = tuple(r["symbols"].split()) if r["symbols"].strip() != "*" else ()
        out[r["client"]] = _Limits(int(r["max_order_qty"]), Decimal(r["max_order_notional"]),
                                   int(r["collar_bps"]), syms)
    return out


def _shortable(defaults: Path) -> set[str]:
    """Symbols the borrow table lets us sell short without a locate."""
    return {r["symbol"] for r in _csv_rows(defaults / "borrow.csv")
            if int(r["shares"]) > 0 and r["locate_required"].strip().lower() == "false"
            and r["availability"].strip().lower() not in ("none", "")}


def _minute_closes(data_dir: Path, symbol: str, date: dt.date) -> tuple[list[int], list[int]]:
    """(end of each regular-hours one-minute trade bar, s after midnight; its close)."""
    import zipfile

    path = data_dir / "minute" / symbol.lower() / f"{date:%Y%m%d}_trade.zip"
    with zipfile.ZipFile(path) as z, z.open(z.namelist()[0]) as f:
        text = f.read().decode("ascii")
    ends: list[int] = []
    closes: list[int] = []
    for rec in csv.reader(io.StringIO(text)):
        start_s = int(float(rec[0])) // 1000
        if _OPEN <= start_s < _CLOSE:
            ends.append(start_s + 60)
            closes.append(int(rec[4]))
    if not ends:
        raise ValueError(f"{path}: no regular-hours bars")
    return ends, closes


def _px(bars: tuple[list[int], list[int]], t: int) -> int:
    """The last close of a bar that ended by `t` (no look-ahead), fixed point."""
    ends, closes = bars
    return closes[max(0, bisect_right(ends, t) - 1)]


def _cents(px: int) -> int:
    """A fixed-point price rounded to the cent (the tick at and above $1)."""
    return (px + 50) // 100 * 100


def _fmt_px(px: int) -> str:
    return f"{px // 10_000}.{px % 10_000 // 100:02d}"


def _at_bps(px: int, bps: int) -> int:
    return _cents(px * (10_000 + bps) // 10_000)


def _lots(dollars: float, px: int, cap: int) -> int:
    lots = max(1, round(dollars / (px / 10_000) / 100))
    return min(lots * 100, cap // 100 * 100)


def _draw_time(rng: random.Random) -> int:
    """A time of day, busier near the open and the close, as trading is."""
    u = rng.random()
    if u < 0.3:
        t = GEN_FIRST + int(rng.triangular(0, 3600, 0))
    elif u < 0.55:
        t = GEN_LAST - int(rng.triangular(0, 3600, 0))
    else:
        t = rng.randint(GEN_FIRST, GEN_LAST)
    return min(max(t, GEN_FIRST), GEN_LAST)


def generate_orders(seed: int = 8, date: str = "2013-10-08", data_dir: Path | None = None,
                    venues: Iterable[str] | None = None) -> list[dict[str, str]]:
    """A realistic day of orders (rows of the orders file, in file order). Reads the
    recorded minute bars of `data_dir` (default: the recorded set us_equities_2013-10
    of marketdata's data folder) for prices, and the shipped ref data defaults
    (clients.csv, borrow.csv) for the clients' limits and the shortable symbols."""
    from marketdata.cli import RECORDED_SET
    from marketdata.recorded import default_data_dir
    from refdata.config import DEFAULTS_DIR

    day = dt.date.fromisoformat(date)
    data = Path(data_dir) if data_dir is not None else default_data_dir() / RECORDED_SET
    if venues is None:
        from fix_gateways.config import load_fix_config

        venues = [s.venue for s in load_fix_config()[0].venue_gateway.sessions]
    dma_venues = sorted(set(venues))
    limits = _limits(DEFAULTS_DIR)
    shortable = _shortable(DEFAULTS_DIR)
    bars = {s: _minute_closes(data, s, day) for s in GEN_SYMBOLS}
    rng = random.Random(seed)
    clients = [c for c, _ in GEN_CLIENTS]
    weights = [w for _, w in GEN_CLIENTS]

    orders: list[dict[str, Any]] = []
    for _ in range(GEN_NEW):
        client = rng.choices(clients, weights)[0]
        lim = limits[client]
        small = client == "BETA"  # the pension fund's limits are ten times smaller
        allowed = [s for s in GEN_SYMBOLS if not lim.symbols or s in lim.symbols]
        symbol = rng.choice(allowed)
        t = _draw_time(rng)
        px = _px(bars[symbol], t)
        algo = "VWAP" if rng.random() < 0.4 else "DMA"
        u = rng.random()
        side = "buy" if u < 0.48 else "sell" if u < 0.88 or symbol not in shortable else "short"
        lo, hi = _SIZES[(small, algo)]
        dollars = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        cap = min(lim.max_order_qty // 2,
                  int(lim.max_order_notional / 2 / (Decimal(px) / 10_000)))
        qty = _lots(dollars, px, cap)
        sign = 1 if side == "buy" else -1
        o: dict[str, Any] = {"t": t, "client": client, "symbol": symbol, "side": side,
                             "qty": qty, "algo": algo, "price": "", "venue": "", "start": "",
                             "end": "", "max_pct": "", "note": ""}
        if algo == "DMA":
            o["venue"] = rng.choice(dma_venues)
            if rng.random() < 0.8:
                # From a few bp passive to slightly marketable.
                o["price"] = _fmt_px(_at_bps(px, sign * rng.randint(-40, 15)))
        else:
            start = t + rng.randint(0, 300)
            start = min(-(-start // 60) * 60, GEN_LAST + 5 * 60)
            end = min(start + 60 * rng.choice((30, 45, 60, 90, 120, 180, 240)), GEN_VWAP_END)
            if end - start < 15 * 60:
                end = GEN_VWAP_END
            if rng.random() < 0.8:
                o["start"] = fmt_hms(start)
            o["end"] = fmt_hms(end)
            if rng.random() < 0.5:
                o["max_pct"] = rng.choice(("5", "10", "15", "20", "25"))
            if rng.random() < 0.5:
                # A protective cap, well inside the client's collar.
                o["price"] = _fmt_px(_at_bps(px, sign * rng.randint(50, lim.collar_bps // 2)))
        orders.append(o)

    orders += _refusals(rng, limits, bars, dma_venues)
    orders.sort(key=lambda o: o["t"])  # stable: equal times keep the drawing order
    numbers: dict[str, int] = {}
    for o in orders:
        numbers[o["client"]] = numbers.get(o["client"], 0) + 1
        o["cl"] = f"{o['client']}-{numbers[o['client']]:04d}"

    rows: list[tuple[int, int, dict[str, str]]] = []

    def add(t: int, row: dict[str, str]) -> None:
        rows.append((t, len(rows), {c: row.get(c, "") for c in COLUMNS} | {"at": fmt_hms(t)}))

    for o in orders:
        add(o["t"], {"client": o["client"], "action": "new",
                     "cl_ord_id": o["cl"], "symbol": o["symbol"], "side": o["side"],
                     "qty": str(o["qty"]), "price": o["price"], "algo": o["algo"],
                     "venue": o["venue"], "start": o["start"], "end": o["end"],
                     "max_pct": o["max_pct"], "note": o["note"]})
    for o in orders:
        if o["note"]:
            continue  # the refusals are never accepted: nothing to amend
        _follow_ups(rng, o, bars, limits[o["client"]], add)
    rows.sort(key=lambda r: (r[0], r[1]))
    return [r for _t, _n, r in rows]


def _refusals(rng: random.Random, limits: dict[str, _Limits],
              bars: dict[str, tuple[list[int], list[int]]], venues: list[str],
              ) -> list[dict[str, Any]]:
    """Orders the OMS's pre-trade checks refuse (oms/checks.py), each saying why."""
    out: list[dict[str, Any]] = []

    def order(client: str, symbol: str, side: str, qty: int, price: str, algo: str,
              note: str, t: int) -> None:
        out.append({"t": t, "client": client, "symbol": symbol, "side": side, "qty": qty,
                    "algo": algo, "price": price, "venue": rng.choice(venues) if algo == "DMA"
                    else "", "start": "", "end": fmt_hms(GEN_VWAP_END) if algo == "VWAP"
                    else "", "max_pct": "", "note": "expect risk reject: " + note})

    beta, alpha, demo = limits["BETA"], limits["ALPHA"], limits["DEMO"]
    outside = next(s for s in GEN_SYMBOLS if beta.symbols and s not in beta.symbols)
    t = rng.randint(GEN_FIRST, GEN_LAST)
    order("BETA", outside, "buy", 1_000, _fmt_px(_px(bars[outside], t)), "DMA",
          f"{outside} is not among the symbols allowed for BETA "
          f"({' '.join(beta.symbols)})", t)
    t = rng.randint(GEN_FIRST, GEN_LAST)
    qty = alpha.max_order_qty + 100_000
    order("ALPHA", "BAC", "buy", qty, "", "VWAP", f"quantity {qty:,} is above ALPHA's "
          f"maximum order quantity of {alpha.max_order_qty:,}", t)
    t = rng.randint(GEN_FIRST, GEN_LAST)
    qty = beta.max_order_qty + 50_000
    order("BETA", "SPY", "sell", qty, "", "VWAP", f"quantity {qty:,} is above BETA's "
          f"maximum order quantity of {beta.max_order_qty:,}", t)
    t = rng.randint(GEN_FIRST, GEN_LAST)
    px = _px(bars["IBM"], t)
    qty = int(beta.max_order_notional * Decimal("1.1") / (Decimal(px) / 10_000)) // 100 * 100
    order("BETA", "IBM", "buy", qty, _fmt_px(_cents(px)), "DMA", f"notional about "
          f"${qty * px // 10_000:,} is above BETA's maximum order notional of "
          f"${beta.max_order_notional:,.0f}", t)
    for client, symbol, side, lim in (("ALPHA", "IBM", "buy", alpha),
                                      ("BETA", "SPY", "sell", beta),
                                      ("DEMO", "BAC", "sell", demo)):
        t = rng.randint(GEN_FIRST, GEN_LAST)
        px = _px(bars[symbol], t)
        bps = lim.collar_bps * 3 // 2
        sign = 1 if side == "buy" else -1
        order(client, symbol, side, 500, _fmt_px(_at_bps(px, sign * bps)), "DMA",
              f"a {side} limit {bps / 100:g}% {'above' if sign > 0 else 'below'} the market, "
              f"outside {client}'s collar of {lim.collar_bps / 100:g}%", t)
    t = rng.randint(GEN_FIRST, GEN_LAST)
    qty = demo.max_order_qty + 500_000
    order("DEMO", "BAC", "sell", qty, "", "VWAP", f"quantity {qty:,} is above DEMO's "
          f"maximum order quantity of {demo.max_order_qty:,}", t)
    return out


def _follow_ups(rng: random.Random, o: dict[str, Any],
                bars: dict[str, tuple[list[int], list[int]]], lim: _Limits,
                add: Callable[[int, dict[str, str]], None]) -> None:
    """Some orders are amended (price or quantity), some cancelled, later in the day."""
    t = o["t"]
    last_cl = o["cl"]
    qty = o["qty"]
    base = {"client": o["client"]}
    if rng.random() < 0.13:
        t += rng.randint(60, 1800)
        if t > GEN_LAST:
            return
        row = {**base, "action": "replace", "cl_ord_id": f"{o['cl']}-R1",
               "orig_cl_ord_id": last_cl}
        if o["price"] and rng.random() < 0.6:
            # Chase the market: a limit moved toward (or through) where it trades now.
            px = _px(bars[o["symbol"]], t)
            sign = 1 if o["side"] == "buy" else -1
            new = _at_bps(px, sign * rng.randint(0, 20))
            if _fmt_px(new) == o["price"]:
                new += sign * 100
            row["price"] = _fmt_px(new)
            row["note"] = f"amend: limit {o['price']} -> {row['price']}"
        else:
            factor = rng.choice((0.5, 0.75, 1.25, 1.5, 2.0))
            cap = lim.max_order_qty // 2
            new_qty = min(max(100, round(qty * factor / 100) * 100), cap // 100 * 100)
            if new_qty == qty:
                new_qty = qty + 100
            row["qty"] = str(new_qty)
            row["note"] = f"amend: quantity {qty:,} -> {new_qty:,}"
            qty = new_qty
        add(t, row)
        last_cl = row["cl_ord_id"]
    if rng.random() < 0.09:
        t += rng.randint(60, 2700)
        if t > GEN_LAST:
            return
        add(t, {**base, "action": "cancel", "cl_ord_id": f"{o['cl']}-C",
                "orig_cl_ord_id": last_cl, "note": "cancel: no longer wanted"})


def orders_text(rows: list[dict[str, str]]) -> str:
    """The orders file's text: the header, then the rows."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow([r.get(c, "") for c in COLUMNS])
    return buf.getvalue()


# ---------------------------------------------------------------- the command


def _config(config: Path | None, err: Console) -> FixConfig:
    from fix_gateways.config import load_fix_config
    from sequencer.config import ConfigError

    try:
        return load_fix_config(config)[0]
    except ConfigError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None


def _fail(err: Console, text: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {text}", markup=True, highlight=False)
    return typer.Exit(2)


def clients_cmd(
    orders: Annotated[Path, typer.Option(
        "--orders", help="The orders file (CSV; the module docstring of "
                         "fix_gateways/client_sim.py lists its columns). Written with "
                         "--generate.")],
    day: Annotated[Path | None, typer.Option(
        "--day", help="The day folder: the stream clock, the sessions' stores, the "
                      "summary and the log live there (required unless --check or "
                      "--generate).")] = None,
    config: Annotated[Path | None, typer.Option(
        "--config", help="The gateways' TOML file (default: deploy/configs/fix.toml).")
    ] = None,
    wait: Annotated[float, typer.Option(
        help="Seconds to keep following the orders after the last row is sent.")] = 600.0,
    json_: Annotated[bool, typer.Option("--json", help="Print the summary as JSON too.")
                     ] = False,
    check: Annotated[bool, typer.Option(
        "--check", help="Check the orders file against the config and exit; nothing is "
                        "sent.")] = False,
    generate: Annotated[bool, typer.Option(
        "--generate", help="Write a generated realistic day of orders to --orders and "
                           "exit.")] = False,
    seed: Annotated[int, typer.Option(help="--generate: the random seed.")] = 8,
    date: Annotated[str, typer.Option(
        help="--generate: the recorded day whose prices the limits follow.")] = "2013-10-08",
    data: Annotated[Path | None, typer.Option(
        "--data", help="--generate: the recorded data set (default: us_equities_2013-10 "
                       "of $TAPE_DATA_DIR, or of shared/data beside the repository).")
    ] = None,
) -> None:
    """Simulated clients: send a file of orders over the clients' own FIX sessions, each
    row when the day's stream clock reaches its time, and summarise what came back."""
    err = Console(stderr=True, highlight=False)
    cfg = _config(config, err)
    gw = cfg.client_gateway
    if generate:
        _generate(orders, seed, date, data, cfg, err)
        return
    if wait <= 0:
        raise _fail(err, "--wait must be positive")
    order_sessions = {s.comp_id for s in gw.sessions if not s.drop_copy}
    drop_copy = {s.comp_id for s in gw.sessions if s.drop_copy}
    try:
        rows = read_orders(orders, order_sessions, drop_copy)
    except OrdersFileError as e:
        err.print(f"[red]error:[/red] the orders file is refused; nothing was sent:\n"
                  f"{e.text()}", markup=True, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    clients = sorted({r.client for r in rows})
    twice = [c for c in clients if sum(s.comp_id == c and not s.drop_copy
                                      for s in gw.sessions) > 1]
    if twice:
        raise _fail(err, f"CompID {twice[0]} has several order sessions in the config: "
                         "the file cannot say which to use")
    tls = [s.comp_id for s in gw.sessions if s.comp_id in clients and s.tls]
    if tls:
        raise _fail(err, f"session {tls[0]} is TLS: the client simulator speaks plain FIX "
                         "only")
    if check:
        err.print(f"{orders}: {len(rows)} rows, fine ({_counts_text(rows)})")
        return
    if day is None:
        raise _fail(err, "--day is required (the day folder the clients trade in)")
    from sequencer.logs import configure
    from sequencer.ownership import NoSuchDay, require_day

    try:
        require_day(day)
    except NoSuchDay as e:
        raise _fail(err, str(e)) from None
    configure(day, "clients")
    run_clients(rows, gw, day, wait, json_, err, str(orders))


def _counts_text(rows: list[Row]) -> str:
    n = {a: sum(r.action == a for r in rows) for a in ACTIONS}
    clients = sorted({r.client for r in rows})
    return (f"{n['new']} orders, {n['replace']} replaces, {n['cancel']} cancels from "
            + ", ".join(clients))


def run_clients(rows: list[Row], gw: ClientGateway, day: Path, wait: float, json_: bool,
                err: Console, orders_file: str = "") -> NoReturn:
    """Run the sessions to the end, write the summary and end the process with the exit
    code. It never returns: QuickFIX's engine must outlive everything but the process
    (its teardown can crash it: fix_gateways.session.logout_all)."""
    from fix_gateways.session import exit_now, logout_all

    sim = ClientSim(rows, gw, day, wait)
    signal.signal(signal.SIGTERM, lambda *_: setattr(sim, "stop", "sigterm"))
    signal.signal(signal.SIGINT, lambda *_: setattr(sim, "stop", "interrupted"))
    log.info("clients_starting", rows=len(rows), clients=sorted(sim.version),
             orders_file=orders_file)
    sim.start()
    result = sim.run()
    result.summary["orders_file"] = orders_file
    path = Path(day) / "clients" / "summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result.summary, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    logout_all([sim.sid(c) for c in sim.version])
    t = result.summary["total"]
    line = (f"clients ({result.ended}): {t['orders']} orders ({t['accepted']} accepted, "
            f"{t['rejected']} rejected), {t['replaces']} replaces, {t['cancels']} cancels "
            f"({t['cancel_rejects']} cancel rejects); {t['filled_orders']} filled, "
            f"{t['shares_filled']:,} shares, ${t['notional']:,.2f}; "
            f"{len(t['still_open'])} still open")
    err.print(line, markup=False)
    if json_:
        sys.stdout.write(json.dumps(result.summary, sort_keys=True) + "\n")
        sys.stdout.flush()
    log.info("clients_done", ended=result.ended, unsent=result.unsent,
             unanswered=result.unanswered, summary=str(path))
    if result.unsent:
        err.print(f"not sent: {len(result.unsent)} rows, lines " + _lines(result.unsent),
                  markup=False)
    if result.unanswered:
        err.print(f"not answered: {len(result.unanswered)} rows, lines "
                  + _lines(result.unanswered), markup=False)
    code = 1 if result.unsent or result.unanswered else 0
    exit_now(code)
    raise SystemExit(code)  # not reached: exit_now ends the process


def _lines(lines: list[int], limit: int = 20) -> str:
    text = ", ".join(str(n) for n in lines[:limit])
    return text + (f", ... ({len(lines) - limit} more)" if len(lines) > limit else "")


def _generate(out: Path, seed: int, date: str, data: Path | None, cfg: FixConfig,
              err: Console) -> None:
    try:
        dt.date.fromisoformat(date)
    except ValueError:
        raise _fail(err, f"--date expects YYYY-MM-DD, got {date!r}") from None
    venues = [s.venue for s in cfg.venue_gateway.sessions]
    if not venues:
        raise _fail(err, "the config has no [[venue_gateway.sessions]]: no DMA venue")
    try:
        rows = generate_orders(seed, date, data, venues)
    except (OSError, KeyError, ValueError) as e:
        raise _fail(err, f"cannot generate the orders: {e}") from None
    text = orders_text(rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    gw = cfg.client_gateway
    try:
        checked = read_orders(out, {s.comp_id for s in gw.sessions if not s.drop_copy})
    except OrdersFileError as e:  # the config lacks a client the generator uses
        err.print(f"[yellow]warning:[/yellow] the generated file does not fit this config:\n"
                  f"{e.text(10)}", soft_wrap=True)
        return
    err.print(f"wrote {out}: {len(checked)} rows ({_counts_text(checked)}), seed {seed}, "
              f"{date}")
