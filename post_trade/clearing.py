"""Clearing: the end-of-day trade file for the clearing firm, and the reconciliation of
the drop copy the clearing firm got (and of the client fills) against the journal.

Files written into `DAY/post_trade/clearing/` (D = the session date as YYYYMMDD; CSV,
a header line, comma separated, `\\n` line ends, prices and amounts exact decimals):

`trades_D.csv`: the final state of the day's street executions, one row per venue
fill (a venue's repeat of a fill counted once), in stream order (seq). A busted fill
is left out; a corrected fill carries its corrected quantity and price (its ids and
time stay those of the original fill). Columns:

  trade_date        the session date, YYYY-MM-DD
  account           the client's clearing account (ref data `accounts.account`)
  client            the client (the OMS's name)
  symbol            the symbol
  side              B buy, S sell, SS short sale, SX short sale exempt
  quantity          shares executed at the venue (final: after a correction)
  price             the execution price, 4 decimals
  gross_amount      quantity x price, 4 decimals
  venue             the venue's MIC
  exec_time         the venue fill's stream time, ISO 8601 UTC with nanoseconds
  venue_exec_id     the venue's ExecID of the fill
  exec_id           our ExecID (17) of the client's report of it (blank: none sent)
  cl_ord_id         the client's ClOrdID (11) in force when the fill came
  order_id          our OrderID (37), the client order
  street_order_id   the child order id: the ClOrdID the venue got
  capacity          the firm's capacity: A agency, P principal, R riskless principal
  liquidity         added | removed | auction (blank: the venue did not say)
  alloc_account     the account the execution is allocated to: the client's
  alloc_qty         shares allocated: what the client was told, net of its busts and
                    corrections. Less than `quantity` when the OMS booked shares to the
                    error account (an overfill, a fill on a dead child): a break below
  status            new | corrected
  seq               the journal seq of the venue fill (the audit trail's link)

`amendments_D.csv`: for audit, every venue bust and correction in stream order:
seq, exec_time, kind (bust | correct), client, account, symbol, side, venue,
venue_exec_id (the bust's or correction's), ref_venue_exec_id (the fill it amends),
exec_id and exec_ref_id (our report of it to the client and what that names),
order_id, street_order_id, old_quantity, old_price, new_quantity, new_price
(a bust: 0 and blank), note.

`recon_D.csv`: the breaks, one per row, in the order below: check, kind, seq, client,
order_id, exec_id, exec_type, exec_ref_id, venue_exec_id, symbol, side, quantity,
price, session, detail. Checks and kinds:

- `drop_copy`: what the clearing firm's drop-copy session(s) actually sent, read from
  QuickFIX's message logs (`DAY/fix/client/log/<BeginString>-<Sender>-<Target>.messages.
  current.log`, and its `.messages.backup.N.log` rotations before it; each line
  `YYYYMMDD-HH:MM:SS.sss : <FIX>`), against the journal's client fills: every trade,
  trade cancel (150=H / 4.2 20=1) and trade correct (150=G / 20=2) the clients got must
  be in the drop copy exactly once. Our outgoing ExecutionReports (35=8, SenderCompID
  ours) are read; a PossDup (43=Y) or PossResend (97=Y) copy of an ExecID is a resend,
  not a duplicate. `missing`: a client fill no drop-copy session sent; `extra`: an
  ExecID the journal has no client fill of; `duplicate`: an ExecID sent twice in one
  session without PossDup; `mismatch`: quantity (32), price (31), side (54), symbol
  (55), ExecType, ExecRefID (19), OrderID (37) or Account (1, the client) differ from
  the journal; `no_drop_copy`: the day ran client FIX sessions (`DAY/fix/client`
  exists) and no drop-copy session is found in the logs ("the drop-copy session sent
  nothing"), fills or not. A day without `DAY/fix` (a backtest, a test day) ran no FIX
  session, and one without `DAY/fix/client` no client session: not reconciled, no break.
- `venue`: the client fills against the venue fills, per order: each client trade
  report must be backed by a venue fill of the order's children (a bust or correction
  by the venue's bust or correction of that fill), and each venue fill reported to the
  client. `unbacked`: a client report no venue execution backs; `unreported`: a venue
  execution the client was not told of (the OMS booked it to the error account, or
  ignored it); `net`: every report matched, yet the order's net shares or notional
  (client reports net of busts and corrections, against its venue fills net of theirs)
  differ (shares cut back to the error account). Together with the drop-copy check this
  reconciles the drop copy with the trade file: both come from the same fills.

Which sessions are drop copies. The day keeps no copy of `fix.toml`, so the logs say:
a session is a drop copy if its outgoing ExecutionReports carry Account (1) (the
gateway adds it to drop copies only: `fix_gateways.client_fix.drop_copy`; a client's
own reports never carry it) or its TargetCompID is `CLEARING` (the shipped config's
name, so a drop-copy session that had nothing to send is still found). With more than
one drop-copy session, a fill must reach at least one; duplicates are per session.

How a client report is tied to its venue fill. The record has no cause link, so it is
derived per order, which the OMS works in stream order: a client trade is matched to
the earliest unmatched venue fill of the order's children sequenced before it at the
same price and at least its quantity (the OMS reports the venue's price, and the
quantity or less: an overfill is cut back); a client trade cancel or correct to the
venue's bust or correction before it of the fill its ExecRefID's report was matched to.

`clearing.html` shows the summary and the breaks. Nothing here depends on the wall clock
or on set order: a rerun writes the same bytes.
"""

# determinism: edge module, offline tooling: writes the clearing file, reads FIX session logs

from __future__ import annotations

import contextlib
import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fix_gateways.fixmsg import SOH, parse_price, parse_qty, read
from post_trade import html
from post_trade.record import ClientFill, DayRecord, Execution
from post_trade.report import ReportResult, px_str, write_csv, write_text

NAME = "clearing"

SIDES = {"buy": "B", "sell": "S", "sell_short": "SS", "sell_short_exempt": "SX"}
FIX_SIDES = {"buy": "1", "sell": "2", "sell_short": "5", "sell_short_exempt": "6"}
_SIDE_OF = {code: SIDES[side] for side, code in FIX_SIDES.items()}
EXEC_TYPES_44 = {"trade": "F", "trade_cancel": "H", "trade_correct": "G"}
EXEC_TRANS_42 = {"trade": "0", "trade_cancel": "1", "trade_correct": "2"}
DROP_COPY_TARGET = "CLEARING"
NOT_RECONCILED = "not reconciled: the day ran without FIX sessions"
NO_CLIENT_FIX = "not reconciled: the day ran without client FIX sessions"
BREAK_KINDS = ("no_drop_copy", "missing", "extra", "duplicate", "mismatch", "unbacked",
               "unreported", "net")

TRADE_COLUMNS = ("trade_date", "account", "client", "symbol", "side", "quantity", "price",
                 "gross_amount", "venue", "exec_time", "venue_exec_id", "exec_id",
                 "cl_ord_id", "order_id", "street_order_id", "capacity", "liquidity",
                 "alloc_account", "alloc_qty", "status", "seq")
AMEND_COLUMNS = ("seq", "exec_time", "kind", "client", "account", "symbol", "side", "venue",
                 "venue_exec_id", "ref_venue_exec_id", "exec_id", "exec_ref_id", "order_id",
                 "street_order_id", "old_quantity", "old_price", "new_quantity", "new_price",
                 "note")
RECON_COLUMNS = ("check", "kind", "seq", "client", "order_id", "exec_id", "exec_type",
                 "exec_ref_id", "venue_exec_id", "symbol", "side", "quantity", "price",
                 "session", "detail")

# <prefix>.messages.current.log and QuickFIX's rotations <prefix>.messages.backup.N.log
_LOG_NAME = re.compile(r"^(?P<prefix>.+)\.messages\.(?:current|backup\.(?P<n>\d+))\.log$")


# ------------------------------------------------------------------ the trades

@dataclass(slots=True)
class Trade:
    """One street execution in its final state, and the client report tied to it."""

    fill: Execution
    qty: int
    px: int
    status: str = "new"  # new | corrected | busted
    report: ClientFill | None = None  # our report of the fill to the client
    alloc_qty: int = 0


@dataclass(slots=True)
class Amendment:
    ex: Execution
    trade: Trade | None  # None: it names no live fill (the OMS ignored it)
    old_qty: int = 0
    old_px: int = 0
    report: ClientFill | None = None


@dataclass(slots=True)
class Book:
    """The day's executions, tied to the client reports (see the module docstring)."""

    trades: list[Trade] = field(default_factory=list)
    amendments: list[Amendment] = field(default_factory=list)
    #: per OrderID: client reports no venue execution backs, venue executions
    #: (fills, busts, corrections) no client report tells of
    unbacked: list[ClientFill] = field(default_factory=list)
    unreported: list[Execution] = field(default_factory=list)
    #: per OrderID with a difference: (client shares, client notional, venue ..., ...)
    net: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)


def book(rec: DayRecord) -> Book:
    b = Book()
    live: dict[tuple[str, str], Trade] = {}  # (child, venue exec id) -> its trade
    by_order: dict[str, list[tuple[int, int, Execution | ClientFill]]] = {}
    for ex in rec.executions:
        if ex.repeat:
            continue  # the OMS applies a venue's repeat once, and so does clearing
        by_order.setdefault(ex.parent_id, []).append((ex.seq, 0, ex))
        if ex.kind == "fill":
            t = live[(ex.child_id, ex.exec_id)] = Trade(ex, ex.qty, ex.px)
            b.trades.append(t)
            continue
        amended = live.pop((ex.child_id, ex.ref_exec_id), None)
        b.amendments.append(Amendment(ex, amended, amended.qty if amended else 0,
                                      amended.px if amended else 0))
        if amended is None:
            continue
        if ex.kind == "bust":
            amended.status = "busted"
        else:
            amended.qty, amended.px, amended.status = ex.qty, ex.px, "corrected"
            # a later bust or correction names the correction's exec id
            live[(ex.child_id, ex.exec_id)] = amended
    for cf in rec.client_fills:
        by_order.setdefault(cf.order_id, []).append((cf.seq, 1, cf))
    trade_of = {id(t.fill): t for t in b.trades}
    amend_of = {id(a.ex): a for a in b.amendments}
    for order_id, events in by_order.items():
        _match(b, order_id, sorted(events, key=lambda e: (e[0], e[1])), trade_of, amend_of)
    return b


def _match(b: Book, order_id: str, events: list[tuple[int, int, Execution | ClientFill]],
           trade_of: dict[int, Trade], amend_of: dict[int, Amendment]) -> None:
    pending: list[Execution] = []  # this order's venue executions not yet reported
    venue_of: dict[str, Execution] = {}  # our ExecID -> the venue execution it reports
    client: dict[str, tuple[int, int]] = {}  # our live ExecIDs -> (qty, px), net
    root: dict[str, str] = {}  # our ExecID -> the ExecID of the trade report it amends
    for _seq, _k, e in events:
        if isinstance(e, Execution):
            pending.append(e)
            continue
        ref = venue_of.get(e.exec_ref_id)
        for i, ex in enumerate(pending):
            if e.exec_type == "trade":
                ok = ex.kind == "fill" and ex.px == e.px and ex.qty >= e.qty
            else:
                ok = (ref is not None and ex.kind == ("bust" if e.exec_type == "trade_cancel"
                                                      else "correct")
                      and ex.child_id == ref.child_id and ex.ref_exec_id == ref.exec_id)
            if ok:
                venue_of[e.exec_id] = pending.pop(i)
                break
        else:
            b.unbacked.append(e)
        # The client's side, net: a cancel takes the report it names away, a correct
        # replaces it.
        if e.exec_type == "trade":
            client[e.exec_id], root[e.exec_id] = (e.qty, e.px), e.exec_id
        else:
            client.pop(e.exec_ref_id, None)
            r = root.get(e.exec_ref_id, "")
            if e.exec_type == "trade_correct":
                client[e.exec_id], root[e.exec_id] = (e.qty, e.px), r
        v = venue_of.get(e.exec_id)
        if v is not None:
            t = trade_of.get(id(v))
            if t is not None:
                t.report = e
            a = amend_of.get(id(v))
            if a is not None:
                a.report = e
    b.unreported += pending
    # Allocation: each trade gets what the client was told of it, net.
    trades = {id(t): t for ex in venue_of.values() if (t := trade_of.get(id(ex)))}
    by_root: dict[str, int] = {}
    for eid, (qty, _px) in client.items():
        by_root[root[eid]] = by_root.get(root[eid], 0) + qty
    for t in trades.values():
        if t.report is not None:
            t.alloc_qty = by_root.get(t.report.exec_id, 0)
    cq = sum(q for q, _ in client.values())
    cn = sum(q * p for q, p in client.values())
    vq = vn = 0
    for _seq, _k, e in events:
        if isinstance(e, Execution) and e.kind == "fill":
            t = trade_of[id(e)]
            if t.status != "busted":
                vq, vn = vq + t.qty, vn + t.qty * t.px
    if (cq, cn) != (vq, vn):
        b.net[order_id] = (cq, cn, vq, vn)


# ------------------------------------------------------------------ the drop copy

@dataclass(slots=True)
class Copy:
    session: str
    line: int  # in the session's log, counted across its rotations
    fields: dict[str, str]

    @property
    def resend(self) -> bool:
        return self.fields.get("43") == "Y" or self.fields.get("97") == "Y"


@dataclass(slots=True)
class DropCopy:
    status: str  # "reconciled" | NOT_RECONCILED | NO_CLIENT_FIX | "no drop-copy session"
    sessions: list[str] = field(default_factory=list)
    copies: list[Copy] = field(default_factory=list)  # outgoing 35=8, in log order
    unreadable: int = 0  # log lines that are not a FIX message


def read_drop_copy(day: Path) -> DropCopy:
    """What the day's drop-copy sessions sent (see the module docstring)."""
    logs = day / "fix" / "client" / "log"
    if not (day / "fix").is_dir():
        return DropCopy(NOT_RECONCILED)
    if not (day / "fix" / "client").is_dir():
        return DropCopy(NO_CLIENT_FIX)  # venue sessions only: no client gateway ran
    files: dict[str, list[tuple[int, Path]]] = {}
    for p in sorted(logs.iterdir()) if logs.is_dir() else []:
        m = _LOG_NAME.match(p.name)
        if m and p.is_file():
            # backups in their order, the current file last
            n = int(m["n"]) if m["n"] is not None else 1 << 62
            files.setdefault(m["prefix"], []).append((n, p))
    out = DropCopy("no drop-copy session")
    for prefix in sorted(files):
        msgs, bad = _read_log([p for _n, p in sorted(files[prefix])])
        out.unreadable += bad
        begin, _, ids = prefix.partition("-")
        ours = _our_comp_id(ids, msgs)
        sent = [f for f in msgs if f.get("49") == ours and f.get("35") == "8"]
        target = ids[len(ours) + 1:] if ours and ids.startswith(ours + "-") else ids
        if target != DROP_COPY_TARGET and not any("1" in f for f in sent):
            continue  # a client's own order session
        name = f"{begin}:{ours}->{target}"
        out.sessions.append(name)
        out.copies += [Copy(name, i + 1, f) for i, f in enumerate(sent)]
    if out.sessions:
        out.status = "reconciled"
    return out


def _read_log(paths: list[Path]) -> tuple[list[dict[str, str]], int]:
    msgs: list[dict[str, str]] = []
    bad = 0
    for p in paths:
        for line in p.read_text(encoding="utf-8", errors="replace").splitlines():
            _stamp, sep, raw = line.partition(" : ")
            if not (sep and raw.startswith("8=") and SOH in raw):
                bad += bool(line.strip())
                continue
            msgs.append(read(raw))
    return msgs, bad


def _our_comp_id(ids: str, msgs: list[dict[str, str]]) -> str:
    """Our SenderCompID of a session named "<Sender>-<Target>" (either may hold a dash:
    the messages tell which split it is)."""
    for f in msgs:
        s, t = f.get("49", ""), f.get("56", "")
        if ids == f"{s}-{t}":
            return s
        if ids == f"{t}-{s}":
            return t
    return ids.partition("-")[0]


# ------------------------------------------------------------------ the breaks

@dataclass(slots=True)
class Break:
    check: str
    kind: str
    seq: int = 0
    client: str = ""
    order_id: str = ""
    exec_id: str = ""
    exec_type: str = ""
    exec_ref_id: str = ""
    venue_exec_id: str = ""
    symbol: str = ""
    side: str = ""
    qty: int | None = None
    px: str = ""
    session: str = ""
    detail: str = ""

    def row(self) -> tuple[object, ...]:
        return (self.check, self.kind, self.seq or "", self.client, self.order_id,
                self.exec_id, self.exec_type, self.exec_ref_id, self.venue_exec_id,
                self.symbol, self.side, self.qty, self.px, self.session, self.detail)


def _fill_break(kind: str, cf: ClientFill, detail: str, session: str = "") -> Break:
    return Break("drop_copy", kind, cf.seq, cf.client, cf.order_id, cf.exec_id, cf.exec_type,
                 cf.exec_ref_id, "", cf.symbol, SIDES.get(cf.side, cf.side), cf.qty,
                 px_str(cf.px), session, detail)


def reconcile_drop_copy(rec: DayRecord, dc: DropCopy) -> list[Break]:
    if dc.status in (NOT_RECONCILED, NO_CLIENT_FIX):
        return []
    if not dc.sessions:
        return [Break("drop_copy", "no_drop_copy", detail=(
            "the drop-copy session sent nothing: no session in fix/client/log sent "
            "ExecutionReports with Account (1) or has TargetCompID CLEARING"))]
    by_id: dict[str, list[Copy]] = {}
    for c in dc.copies:
        by_id.setdefault(c.fields.get("17", ""), []).append(c)
    out: list[Break] = []
    known: set[str] = set()
    for cf in rec.client_fills:
        known.add(cf.exec_id)
        copies = by_id.get(cf.exec_id, [])
        if not copies:
            out.append(_fill_break("missing", cf, "no drop-copy session sent this ExecID"))
            continue
        first: dict[str, Copy] = {}
        for c in copies:
            if c.session not in first:
                first[c.session] = c
            elif not c.resend:
                out.append(_fill_break("duplicate", cf, f"sent again without PossDup "
                                       f"(43=Y) at line {c.line} of the session's log, "
                                       f"first at line {first[c.session].line}", c.session))
        for c in first.values():
            diff = _differences(cf, c.fields)
            if diff:
                out.append(_fill_break("mismatch", cf, "; ".join(diff), c.session))
    for eid, copies in by_id.items():
        if eid not in known:
            f = copies[0].fields
            out.append(Break("drop_copy", "extra", 0, f.get("1", ""), f.get("37", ""), eid,
                             f.get("150", ""), f.get("19", ""), "", f.get("55", ""),
                             _SIDE_OF.get(f.get("54", ""), f.get("54", "")), None,
                             f.get("31", ""), copies[0].session,
                             f"the journal has no client fill with this ExecID "
                             f"({len(copies)} copies)"))
    return out


def _differences(cf: ClientFill, f: dict[str, str]) -> list[str]:
    v42 = f.get("8") == "FIX.4.2"
    want = {"32": str(cf.qty), "31": px_str(cf.px), "54": FIX_SIDES.get(cf.side, cf.side),
            "55": cf.symbol, "19": cf.exec_ref_id, "37": cf.order_id, "1": cf.client,
            "20" if v42 else "150": (EXEC_TRANS_42 if v42 else EXEC_TYPES_44)[cf.exec_type]}
    got = dict(f)
    # Numbers compared as numbers ("500" and "500.0" are one quantity); text that is not
    # a number is left as sent, and so differs.
    with contextlib.suppress(ValueError):
        got["32"] = str(parse_qty(got.get("32", "")))
    with contextlib.suppress(ValueError):
        got["31"] = px_str(parse_price(got.get("31", "")))
    return [f"{tag}: journal {v!r}, drop copy {got.get(tag, '')!r}"
            for tag, v in want.items() if got.get(tag, "") != v]


def reconcile_venue(rec: DayRecord, b: Book) -> list[Break]:
    out: list[Break] = []
    for cf in b.unbacked:
        out.append(Break("venue", "unbacked", cf.seq, cf.client, cf.order_id, cf.exec_id,
                         cf.exec_type, cf.exec_ref_id, "", cf.symbol,
                         SIDES.get(cf.side, cf.side), cf.qty, px_str(cf.px), "",
                         "a client report no venue execution of the order's children "
                         "backs"))
    for ex in b.unreported:
        why = ("the fill came after the child had ended: the OMS booked it to the error "
               "account" if ex.child_done_before else "no client report tells of it")
        if not ex.parent_id:
            why = "an execution of a child the OMS does not know"
        out.append(Break("venue", "unreported", ex.seq, ex.client, ex.parent_id, "",
                         ex.kind, ex.ref_exec_id, ex.exec_id, ex.symbol,
                         SIDES.get(ex.side, ex.side), ex.qty, px_str(ex.px), "",
                         f"venue {ex.kind} on child {ex.child_id} at {ex.venue}: {why}"))
    flagged = {x.order_id for x in out}
    for oid, (cq, cn, vq, vn) in b.net.items():
        if oid in flagged:
            continue  # its unmatched executions say why
        o = rec.orders.get(oid)
        out.append(Break("venue", "net", 0, o.client if o else "", oid, symbol=o.symbol
                         if o else "", detail=f"client reports net {cq:,} shares "
                         f"{px_str(cn)}, venue fills net {vq:,} shares {px_str(vn)}"))
    return out


# ------------------------------------------------------------------ the files

def _utc(ns: int) -> str:
    sec, sub = divmod(ns, 1_000_000_000)
    return f"{dt.datetime.fromtimestamp(sec, dt.UTC):%Y-%m-%dT%H:%M:%S}.{sub:09d}Z"


def _cl_ord_id(rec: DayRecord, t: Trade) -> str:
    """The client's ClOrdID in force when the fill came (its report's, if it got one)."""
    if t.report is not None:
        return t.report.cl_ord_id
    o = rec.orders.get(t.fill.parent_id)
    if o is None:
        return ""
    cl = o.cl_ord_id
    for r in o.reports:
        if r.seq > t.fill.seq:
            break
        cl = r.cl_ord_id or cl
    return cl


def trade_rows(rec: DayRecord, b: Book) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    date = rec.session_date.isoformat()
    for t in sorted(b.trades, key=lambda t: t.fill.seq):
        if t.status == "busted":
            continue
        ex = t.fill
        acct = rec.refs.accounts.get(ex.client)
        account = acct.account if acct else ""
        rows.append((date, account, ex.client, ex.symbol, SIDES.get(ex.side, ex.side), t.qty,
                     px_str(t.px), px_str(t.qty * t.px), ex.venue, _utc(ex.ts_ns), ex.exec_id,
                     t.report.exec_id if t.report else "", _cl_ord_id(rec, t), ex.parent_id,
                     ex.child_id, acct.capacity if acct else "", ex.liquidity,
                     account if t.alloc_qty else "", t.alloc_qty, t.status, ex.seq))
    return rows


def amendment_rows(rec: DayRecord, b: Book) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for a in b.amendments:
        ex = a.ex
        acct = rec.refs.accounts.get(ex.client)
        bust = ex.kind == "bust"
        note = "" if a.trade is not None else "names no live fill: the OMS ignored it"
        rows.append((ex.seq, _utc(ex.ts_ns), ex.kind, ex.client, acct.account if acct else "",
                     ex.symbol, SIDES.get(ex.side, ex.side), ex.venue, ex.exec_id,
                     ex.ref_exec_id, a.report.exec_id if a.report else "",
                     a.report.exec_ref_id if a.report else "", ex.parent_id, ex.child_id,
                     a.old_qty, px_str(a.old_px), 0 if bust else ex.qty,
                     "" if bust else px_str(ex.px), note))
    return rows


def write(rec: DayRecord, out: Path) -> ReportResult:
    d = rec.session_date.strftime("%Y%m%d")
    b = book(rec)
    trades = trade_rows(rec, b)
    dc = read_drop_copy(rec.day)
    breaks = reconcile_drop_copy(rec, dc) + reconcile_venue(rec, b)
    by_kind = {k: sum(x.kind == k for x in breaks) for k in BREAK_KINDS}
    shares = sum(t.qty for t in b.trades if t.status != "busted")
    notional = sum(t.qty * t.px for t in b.trades if t.status != "busted")
    copies = {
        "status": dc.status, "sessions": dc.sessions, "messages": len(dc.copies),
        "resends": sum(c.resend for c in dc.copies),
        "exec_ids": len({c.fields.get("17", "") for c in dc.copies}),
        "client_fills": len(rec.client_fills), "unreadable_lines": dc.unreadable}
    summary: dict[str, Any] = {
        "trades": len(trades), "shares": shares, "notional": px_str(notional),
        "busts": sum(a.ex.kind == "bust" for a in b.amendments),
        "corrections": sum(a.ex.kind == "correct" for a in b.amendments),
        "clearing_firm": rec.refs.firm.clearing_firm, "drop_copy": copies,
        "breaks": by_kind, "complete": rec.complete}
    files = [
        write_csv(out / f"trades_{d}.csv", TRADE_COLUMNS, trades),
        write_csv(out / f"amendments_{d}.csv", AMEND_COLUMNS, amendment_rows(rec, b)),
        write_csv(out / f"recon_{d}.csv", RECON_COLUMNS, (x.row() for x in breaks)),
    ]
    lines = [f"clearing: {len(trades)} trades, {shares:,} shares, {px_str(notional)} gross "
             f"for {rec.refs.firm.clearing_firm} (trades_{d}.csv); "
             f"{summary['busts']} busts, {summary['corrections']} corrections"]
    if dc.status == "reconciled":
        lines.append(f"drop copy: {len(dc.copies)} messages ({copies['resends']} resends) on "
                     f"{', '.join(dc.sessions)} against {len(rec.client_fills)} client fills")
    else:
        lines.append(f"drop copy: {dc.status}")
    lines.append(f"breaks: {len(breaks)}" + "".join(
        f", {k} {n}" for k, n in by_kind.items() if n) + f" (recon_{d}.csv)")
    files.append(write_text(out / "clearing.html", _html(rec, lines, breaks)))
    return ReportResult(name=NAME, files=files, summary=summary, breaks=len(breaks),
                        lines=lines)


def _html(rec: DayRecord, lines: list[str], breaks: list[Break]) -> str:
    body = html.section("Summary", *(f"<p>{html.esc(x)}</p>" for x in lines))
    body += html.section("Breaks", html.table(RECON_COLUMNS, (x.row() for x in breaks))
                         if breaks else '<p class="ok">none</p>')
    return html.page(f"Clearing {rec.session_date.isoformat()}", body,
                     subtitle=f"clearing firm {rec.refs.firm.clearing_firm}",
                     incomplete=not rec.complete)
