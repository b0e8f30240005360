"""The supervisor's daily activity report: what the desk did today, and every exception
the house's surveillance rules find in it, each with where to look in the journal.

`write(rec, out)` writes into `out`:

- `activity.html`: the day's headline figures; activity by client, by symbol and by
  venue (orders, shares ordered, shares filled, notional, fills, rejects, cancels,
  amendments) with bar charts; the exceptions, each with its rule, why (the figures)
  and where (order, client, journal seq, a link to the order at the bottom of the
  page); a section per rule stating the rule and its parameters; the day's orders;
- `activity.csv`: one row per flag; `activity_by_client.csv`, `activity_by_symbol.csv`,
  `activity_by_venue.csv`: the figures; `activity.json`: all of it, for machines.

Figures by client and by symbol are what the clients got (`client_fills`); figures by
venue are what the venues did (venue executions). Either is counted as it stands at the
end of the day: busted fills taken out, corrected fills at their corrected terms.

The rules (parameters from `record.Config`):

- Trade-through (Reg NMS 611): a buy filled above the best offer, or a sale below the
  best bid, of the NBBO at the fill's seq. A fill with no NBBO known on its side is not
  judged (counted as "no NBBO"). A fill whose price the widest NBBO within
  `trade_through_tolerance_ms` before it allowed is excused: listed, not flagged (the
  quote moved while the order was on its way). Fills and corrections, not repeats.
- Parent/child mismatches: an order whose client fills do not add up to the venue fills
  of its children; a venue fill on a child already done; a child (or a child's replace)
  larger than its parent's leaves when it was sent; an order or a child still open at
  the end of the day (saying whether an end-of-day cancel ran).
- Wash trades / self-matching: a client's buy and sale of a symbol at one price within
  `wash_window_ms` of each other, on any venues.
- Marking the close: a client's executions of a symbol in the closing window (the last
  `close_window_min` minutes of the session and the closing auction) of at least
  `close_share_pct` percent of the window's volume, with the close moved at least
  `close_move_bps` from the last price before the window in the client's net direction.
- Layering / spoofing: a client with at least `layering_min_cancels` orders of a symbol
  on one side cancelled without a fill within `layering_window_s` seconds, while it
  executed on the other side within that window.
- Order-to-trade: a client's (orders + amendments + cancels) per fill above
  `otr_max_ratio`, with at least `otr_min_messages` messages (no fill at all counts).
- Incidents: kill switches, client orders rejected (risk), child requests the OMS
  rejected, determinism alerts, and every critical or error Alert.

Flags are findings for a person, not failures: the result's `breaks` is always 0.
Times are shown in the session's local time (the primary venue's zone, by zoneinfo).
Nothing reads the wall clock and every set is sorted: the same record, the same bytes.
"""

# determinism: edge module, offline tooling: writes the supervisor's report

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from post_trade import html as h
from post_trade.record import MINUTE_NS, ClientFill, DayRecord, Execution, Order, side_sign
from post_trade.report import ReportResult, px_str, write_csv, write_json, write_text

NAME = "activity"
SECOND_NS = 1_000_000_000
MS_NS = 1_000_000

#: The rules, in the order the report shows them: name -> title.
RULES: dict[str, str] = {
    "trade_through": "Trade-through",
    "parent_child": "Parent/child mismatches",
    "wash": "Wash trades / self-matching",
    "marking_close": "Marking the close",
    "layering": "Layering / spoofing",
    "order_to_trade": "Order-to-trade ratio",
    "incidents": "Incidents",
}
#: The `Config` fields each rule reads (shown with the rule).
PARAMS: dict[str, tuple[str, ...]] = {
    "trade_through": ("trade_through_tolerance_ms",),
    "parent_child": (),
    "wash": ("wash_window_ms",),
    "marking_close": ("close_window_min", "close_share_pct", "close_move_bps"),
    "layering": ("layering_window_s", "layering_min_cancels"),
    "order_to_trade": ("otr_max_ratio", "otr_min_messages"),
    "incidents": (),
}
FLAG_COLUMNS = ("rule", "severity", "client", "symbol", "order_id", "child_id", "exec_id",
                "seq", "ts", "why")
FIGURE_COLUMNS = ("orders", "shares_ordered", "shares_filled", "notional", "fills",
                  "rejects", "cancels", "amendments")


@dataclass(frozen=True, slots=True)
class Flag:
    """One finding: which rule, how serious, where in the journal, and why."""

    rule: str
    severity: str  # high | medium | low (excused trade-throughs: "excused")
    client: str
    symbol: str
    order_id: str
    child_id: str
    exec_id: str
    seq: int
    ts: int  # stream ns
    why: str

    def key(self) -> tuple[int, int, str, str, str, str]:
        return (list(RULES).index(self.rule), self.seq, self.order_id, self.child_id,
                self.exec_id, self.why)


@dataclass(slots=True)
class Figures:
    """One row of activity (a client, a symbol or a venue)."""

    orders: int = 0
    shares_ordered: int = 0
    shares_filled: int = 0
    notional_fixed: int = 0  # shares x price (1/10,000 of a dollar): exact
    fills: int = 0
    rejects: int = 0
    cancels: int = 0
    amendments: int = 0

    @property
    def notional(self) -> float:
        return self.notional_fixed / 10_000

    def row(self) -> list[object]:
        return [self.orders, self.shares_ordered, self.shares_filled,
                px_str(self.notional_fixed), self.fills, self.rejects, self.cancels,
                self.amendments]


@dataclass(slots=True)
class Activity:
    """Everything the report shows, computed once from the record."""

    rec: DayRecord
    tz: ZoneInfo
    execs: list[Execution]  # venue fills in force at the end of the day
    fills: list[ClientFill]  # client fills in force at the end of the day
    by_client: dict[str, Figures]
    by_symbol: dict[str, Figures]
    by_venue: dict[str, Figures]
    flags: list[Flag]
    excused: list[Flag]  # trade-throughs the tolerance excused
    no_nbbo: int  # fills not judged for trade-through: no NBBO on their side
    not_judged_close: list[str]  # symbols with no window volume or price before it

    def local(self, ts: int) -> dt.datetime:
        return dt.datetime.fromtimestamp(ts // SECOND_NS, self.tz).replace(
            microsecond=ts % SECOND_NS // 1_000)

    def iso(self, ts: int) -> str:
        return self.local(ts).isoformat(timespec="microseconds") if ts else ""

    def hms(self, ts: int) -> str:
        return self.local(ts).strftime("%H:%M:%S.%f")[:-3] if ts else ""


# ------------------------------------------------------------------ the day in force

def net_executions(execs: Iterable[Execution]) -> list[Execution]:
    """Venue fills as they stand: repeats dropped, busts remove the fill they name, a
    correction replaces it (a later bust of the correction removes that)."""
    live: dict[tuple[str, str], Execution] = {}
    for e in execs:
        if e.repeat:
            continue
        if e.kind != "fill":
            live.pop((e.child_id, e.ref_exec_id), None)
        if e.kind != "bust":
            live[(e.child_id, e.exec_id)] = e
    return sorted(live.values(), key=lambda e: e.seq)


def net_client_fills(fills: Iterable[ClientFill]) -> list[ClientFill]:
    """Client trades as they stand: less trade cancels, corrections replacing."""
    live: dict[tuple[str, str], ClientFill] = {}
    for f in fills:
        if f.exec_type != "trade":
            live.pop((f.order_id, f.exec_ref_id), None)
        if f.exec_type != "trade_cancel":
            live[(f.order_id, f.exec_id)] = f
    return sorted(live.values(), key=lambda f: f.seq)


def session_tz(rec: DayRecord) -> ZoneInfo:
    """The zone of the session: the primary venue of the day's first symbol traded."""
    names = sorted({o.symbol for o in rec.orders.values()} | set(rec.market))
    sym = rec.refdata.find(names[0]) if names else None
    code = sym.primary_venue if sym is not None else "XNYS"
    try:
        return ZoneInfo(rec.refdata.venue(code).timezone)
    except KeyError:
        return ZoneInfo("America/New_York")


def _fill_text(side: str, qty: int, px: int) -> str:
    return f"{'bought' if side_sign(side) > 0 else 'sold'} {qty:,} @ {px_str(px)}"


def _flag(rule: str, severity: str, e: Execution, why: str) -> Flag:
    return Flag(rule, severity, e.client, e.symbol, e.parent_id, e.child_id, e.exec_id,
                e.seq, e.ts_ns, why)


# ------------------------------------------------------------------ the rules

def trade_through(rec: DayRecord) -> tuple[list[Flag], list[Flag], int]:
    """Fills outside the NBBO at their seq: (flagged, excused by the tolerance, no NBBO)."""
    flagged, excused, unknown = [], [], 0
    tol = rec.config.trade_through_tolerance_ms
    for e in rec.executions:
        if e.kind not in ("fill", "correct") or e.repeat:
            continue
        buy = side_sign(e.side) > 0
        best, widest = (e.nbbo_ask, e.tol_ask) if buy else (e.nbbo_bid, e.tol_bid)
        if not best:  # the NBBO on the fill's side is unknown: nothing to judge against
            unknown += 1
            continue
        if (e.px <= best) if buy else (e.px >= best):
            continue
        where = "above the best offer" if buy else "below the best bid"
        what = (f"{_fill_text(e.side, e.qty, e.px)} {where} {px_str(best)} (NBBO "
                f"{px_str(e.nbbo_bid)} x {px_str(e.nbbo_ask)} from seq {e.nbbo_seq})")
        if widest and ((e.px <= widest) if buy else (e.px >= widest)):
            excused.append(_flag("trade_through", "excused", e, f"{what}; excused: the "
                                 f"{'offer' if buy else 'bid'} was {px_str(widest)} within "
                                 f"{tol} ms before the fill"))
        else:
            flagged.append(_flag("trade_through", "high", e, f"{what}; the widest "
                                 f"{'offer' if buy else 'bid'} within {tol} ms before was "
                                 f"{px_str(widest) if widest else 'unknown'}"))
    return flagged, excused, unknown


def _unpaired(cfs: list[ClientFill], ves: list[Execution]
              ) -> tuple[list[ClientFill], list[Execution]]:
    """Pair client fills with venue fills of the same quantity and price, in stream order:
    what is left over is where an order's two sides part."""
    left = list(ves)
    lone: list[ClientFill] = []
    for f in cfs:
        mate = next((e for e in left if (e.qty, e.px) == (f.qty, f.px)), None)
        if mate is None:
            lone.append(f)
        else:
            left.remove(mate)
    return lone, left


def _eod_cancel(rec: DayRecord) -> str:
    """Whether the OMS's end-of-day cancel ran, and where (said on every open-order flag)."""
    seqs = [i.seq for i in rec.incidents if i.code == "end_of_day" or "end of day" in
            i.text.lower()]
    seqs += [o.cancel_seq for o in rec.orders.values() if o.cancel_seq and any(
        w in o.cancel_reason.lower() for w in ("end of day", "at the close"))]
    return f"the end-of-day cancel ran at seq {min(seqs)}" if seqs else \
        "no end-of-day cancel in the journal"


def parent_child(rec: DayRecord, execs: list[Execution], fills: list[ClientFill]
                 ) -> list[Flag]:
    """Orders whose client and venue sides disagree, fills on dead children, children
    larger than their parent's leaves, and what is left open at the end of the day."""
    out: list[Flag] = []
    client_by: dict[str, list[ClientFill]] = defaultdict(list)
    venue_by: dict[str, list[Execution]] = defaultdict(list)
    for f in fills:
        client_by[f.order_id].append(f)
    for e in execs:
        venue_by[e.parent_id].append(e)
    for oid in sorted(set(client_by) | set(venue_by)):
        cfs, ves = client_by.get(oid, []), venue_by.get(oid, [])
        cq, vq = sum(f.qty for f in cfs), sum(e.qty for e in ves)
        if cq == vq:
            continue
        lone_c, lone_v = _unpaired(cfs, ves)
        parts = [f"client fill {f.exec_id} {f.qty:,} @ {px_str(f.px)} (seq {f.seq}) has no "
                 f"venue fill behind it" for f in lone_c]
        parts += [f"venue fill {e.exec_id} {e.qty:,} @ {px_str(e.px)} on child {e.child_id} "
                  f"(seq {e.seq}) was not reported to the client" for e in lone_v]
        # pairs are equal, so unequal totals leave at least one fill unpaired: the first
        # is where to look
        seq, ts, exec_id, child_id = min([(f.seq, f.ts_ns, f.exec_id, "") for f in lone_c]
                                         + [(e.seq, e.ts_ns, e.exec_id, e.child_id)
                                            for e in lone_v])
        o = rec.orders.get(oid)
        client = o.client if o else (cfs[0].client if cfs else ves[0].client)
        symbol = o.symbol if o else (cfs[0].symbol if cfs else ves[0].symbol)
        out.append(Flag("parent_child", "high", client, symbol, oid, child_id, exec_id, seq,
                        ts, f"client fills {cq:,} shares, venue fills of its children "
                        f"{vq:,}" + "".join(f"; {p}" for p in parts)))
    for e in rec.executions:
        if e.child_done_before and e.kind == "fill":
            c = rec.children[e.child_id]
            ended = f"ended ({c.done_how}) at seq {c.done_seq}" if c.done_seq else "had ended"
            out.append(_flag("parent_child", "high", e, f"venue fill {e.exec_id} "
                             f"{e.qty:,} @ {px_str(e.px)} on child {e.child_id}, which {ended}"))
    for c in rec.children.values():
        if c.parent_id not in rec.orders:  # no parent, no leaves to compare with
            continue
        mine = net_executions(rec.executions[i] for i in c.executions)
        for r in c.routes:
            if r.action == "cancel":
                continue
            # a replace asks for a new total: what it leaves open is that less the fills
            filled = sum(e.qty for e in mine if e.seq < r.seq) if r.action == "replace" else 0
            if r.qty - filled > r.parent_leaves:
                out.append(Flag("parent_child", "medium", c.client, c.symbol, c.parent_id,
                                c.child_id, "", r.seq, r.ts_ns,
                                f"child {c.child_id} {r.action} for {r.qty:,} shares"
                                + (f" ({filled:,} filled)" if filled else "")
                                + f" to {c.venue} while the parent's leaves were "
                                f"{r.parent_leaves:,}"))
    eod = _eod_cancel(rec)
    for o in rec.orders.values():
        if o.open:
            last = o.reports[-1].seq if o.reports else o.received_seq
            out.append(Flag("parent_child", "medium", o.client, o.symbol, o.order_id, "", "",
                            o.received_seq, o.received_ts,
                            f"order open at the end of the day: {o.ord_status or 'no status'}"
                            f", {o.cum_qty:,} of {o.cur_qty:,} filled (last report seq "
                            f"{last}); {eod}"))
    for c in rec.children.values():
        if not c.done_seq and c.routes:
            out.append(Flag("parent_child", "medium", c.client, c.symbol, c.parent_id,
                            c.child_id, "", c.routes[0].seq, c.routes[0].ts_ns,
                            f"child {c.child_id} at {c.venue} open at the end of the day: "
                            f"{c.cum_qty:,} of {c.qty:,} filled; {eod}"))
    return out


def wash(rec: DayRecord, execs: list[Execution]) -> list[Flag]:
    """A client's buy and sale of a symbol at one price within the wash window: one flag
    on the later fill, naming the earlier ones it pairs with."""
    window = rec.config.wash_window_ms * MS_NS
    groups: dict[tuple[str, str], list[Execution]] = defaultdict(list)
    for e in execs:
        groups[(e.client, e.symbol)].append(e)
    out: list[Flag] = []
    for key in sorted(groups):
        xs = sorted(groups[key], key=lambda e: (e.ts_ns, e.seq))
        lo = 0
        for i, e in enumerate(xs):
            while xs[lo].ts_ns < e.ts_ns - window:
                lo += 1
            mates = [m for m in xs[lo:i] if m.px == e.px
                     and side_sign(m.side) != side_sign(e.side)]
            if not mates:
                continue
            named = "; ".join(f"{(e.ts_ns - m.ts_ns) // MS_NS:,} ms after it "
                              f"{_fill_text(m.side, m.qty, m.px)} ({m.exec_id} at {m.venue}, "
                              f"order {m.parent_id}, seq {m.seq})" for m in mates[:5])
            more = f"; and {len(mates) - 5} more" if len(mates) > 5 else ""
            out.append(_flag("wash", "high", e, f"{e.client} {_fill_text(e.side, e.qty, e.px)} "
                             f"({e.exec_id} at {e.venue}) {named}{more}"))
    return out


def marking_close(rec: DayRecord, execs: list[Execution]) -> tuple[list[Flag], list[str]]:
    """A client's large share of the closing window with the close moved its way.
    Returns the flags and the symbols that could not be judged."""
    cfg = rec.config
    per: dict[tuple[str, str], list[Execution]] = defaultdict(list)
    starts: dict[str, int] = {}  # symbol -> the window's start
    for e in execs:
        if e.symbol not in starts:
            starts[e.symbol] = rec.close_ns(e.symbol) - cfg.close_window_min * MINUTE_NS
        if e.ts_ns >= starts[e.symbol]:
            per[(e.symbol, e.client)].append(e)
    out: list[Flag] = []
    unjudged: set[str] = set()
    for sym, client in sorted(per):
        mk = rec.market.get(sym)
        if mk is None or not (mk.window_volume and mk.window_start_px and mk.close_px):
            unjudged.add(sym)
            continue
        xs = per[(sym, client)]
        gross = sum(e.qty for e in xs)
        net = sum(side_sign(e.side) * e.qty for e in xs)
        share = 100.0 * gross / mk.window_volume
        move = (mk.close_px - mk.window_start_px) * 10_000 / mk.window_start_px
        if net == 0 or share < cfg.close_share_pct or move * (1 if net > 0 else -1) \
                < cfg.close_move_bps:
            continue
        last = max(xs, key=lambda e: e.seq)
        out.append(_flag("marking_close", "high", last,
                         f"{client} {'bought' if net > 0 else 'sold'} net {abs(net):,} "
                         f"({gross:,} executed in {len(xs)} fills) in the closing window: "
                         f"{share:.1f}% of its {mk.window_volume:,} shares; the close "
                         f"{px_str(mk.close_px)} (seq {mk.close_seq}) moved {move:+.1f} bps "
                         f"from {px_str(mk.window_start_px)} before the window"))
    return out, sorted(unjudged)


def _cancelled_unfilled(rec: DayRecord, fills: list[ClientFill]
                        ) -> list[tuple[int, int, Order]]:
    """Orders cancelled with nothing filled: (ts, seq) of the client's cancel (or of the
    order's end when the broker cancelled it) and the order."""
    filled = {f.order_id for f in fills}
    out = []
    for o in rec.orders.values():
        if (o.done_status or o.ord_status) != "canceled" or o.order_id in filled \
                or o.cum_qty:
            continue
        req = next((r for r in reversed(o.requests) if r.kind == "cancel"), None)
        out.append((req.ts_ns, req.seq, o) if req else (o.done_ts, o.done_seq, o))
    return out


def _clusters(evs: list[tuple[int, int, Order]], other: list[Execution], window: int,
              need: int) -> list[tuple[int, int, list[Execution]]]:
    """Runs i..k of at least `need` cancels (by time) that fit in one window together
    with executions on the other side: (i, k, those executions), not overlapping."""
    def hits(i: int, k: int) -> list[Execution]:
        # a window holds cancels i..k and an execution when the execution is within
        # `window` of both the first and the last cancel (and they of each other)
        lo, hi = evs[k][0] - window, evs[i][0] + window
        return [e for e in other if lo <= e.ts_ns <= hi] if evs[k][0] - evs[i][0] <= window \
            else []

    out = []
    i = 0
    while i + need <= len(evs):
        k = i + need - 1
        if not hits(i, k):
            i += 1
            continue
        while k + 1 < len(evs) and hits(i, k + 1):
            k += 1
        out.append((i, k, hits(i, k)))
        i = k + 1
    return out


def layering(rec: DayRecord, execs: list[Execution], fills: list[ClientFill]) -> list[Flag]:
    """Clusters of one side's orders cancelled unfilled within the window, with the
    client executing on the other side within that same window."""
    cfg = rec.config
    cancels: dict[tuple[str, str, int], list[tuple[int, int, Order]]] = defaultdict(list)
    for ts, seq, o in _cancelled_unfilled(rec, fills):
        cancels[(o.client, o.symbol, side_sign(o.side))].append((ts, seq, o))
    traded: dict[tuple[str, str, int], list[Execution]] = defaultdict(list)
    for e in execs:
        traded[(e.client, e.symbol, side_sign(e.side))].append(e)
    out: list[Flag] = []
    for client, symbol, sign in sorted(cancels):
        evs = sorted(cancels[(client, symbol, sign)], key=lambda c: (c[0], c[1]))
        other = traded.get((client, symbol, -sign), [])
        for i, k, ex in _clusters(evs, other, cfg.layering_window_s * SECOND_NS,
                                  cfg.layering_min_cancels):
            out.append(Flag("layering", "high", client, symbol, evs[i][2].order_id, "",
                            ex[0].exec_id, evs[i][1], evs[i][0],
                            f"{k - i + 1} {'buy' if sign > 0 else 'sell'} orders cancelled "
                            f"unfilled within {(evs[k][0] - evs[i][0]) / SECOND_NS:.1f} s ("
                            + ", ".join(f"{o.order_id} seq {s}" for _, s, o in evs[i:k + 1])
                            + f") while {client} "
                            + ", ".join(f"{_fill_text(e.side, e.qty, e.px)} ({e.exec_id} "
                                        f"seq {e.seq})" for e in ex[:5])
                            + (f" and {len(ex) - 5} more" if len(ex) > 5 else "")))
    return out


def order_to_trade(rec: DayRecord, fills: list[ClientFill]) -> list[Flag]:
    """Clients sending many messages per fill."""
    cfg = rec.config
    msgs: dict[str, list[tuple[int, int]]] = defaultdict(list)  # client -> (seq, ts)
    for o in [*rec.orders.values(), *rec.rejected]:
        msgs[o.client].append((o.received_seq, o.received_ts))
        msgs[o.client] += [(r.seq, r.ts_ns) for r in o.requests if r.kind != "new"]
    n_fills: dict[str, int] = defaultdict(int)
    for f in fills:
        n_fills[f.client] += 1
    out: list[Flag] = []
    for client in sorted(msgs):
        n, nf = len(msgs[client]), n_fills[client]
        if n < cfg.otr_min_messages or (nf and n / nf <= cfg.otr_max_ratio):
            continue
        seq, ts = max(msgs[client])
        ratio = f"{n / nf:.1f} messages per fill" if nf else "no fill at all"
        out.append(Flag("order_to_trade", "medium", client, "", "", "", "", seq, ts,
                        f"{n:,} messages (orders, amendments, cancels) for {nf:,} fills: "
                        f"{ratio}; the last message at seq {seq}"))
    return out


def incidents(rec: DayRecord) -> list[Flag]:
    """Kill switches, rejects, determinism alerts and every critical or error Alert."""
    out: list[Flag] = []
    for i in rec.incidents:
        if i.kind in ("kill_switch", "release"):
            what = "engaged" if i.kind == "kill_switch" else "released"
            out.append(Flag("incidents", "high" if i.kind == "kill_switch" else "low", "", "",
                            "", "", "", i.seq, i.ts_ns,
                            f"kill switch {what} by {i.source}: {i.text}"))
        elif i.kind == "alert" and ("determinism" in i.code
                                    or i.severity in ("critical", "error")):
            sev = "high" if i.severity == "critical" or "determinism" in i.code else "medium"
            out.append(Flag("incidents", sev, "", "", "", "", "", i.seq, i.ts_ns,
                            f"{i.severity} alert {i.code} from {i.source}: {i.text}"))
    for r in rec.rejected:
        rep = r.reports[0] if r.reports else None
        reason = (rep.reject_reason or rep.text) if rep else ""
        out.append(Flag("incidents", "low", r.client, r.symbol, r.order_id, "", "",
                        rep.seq if rep else r.received_seq, rep.ts_ns if rep else r.received_ts,
                        f"client order {r.cl_ord_id} ({r.side} {r.qty:,}) rejected: "
                        f"{reason or 'no reason given'}"))
    for seq, ts, parent, child, request, reason in rec.child_rejects:
        o = rec.orders.get(parent)
        out.append(Flag("incidents", "low", o.client if o else "", o.symbol if o else "",
                        parent, child, "", seq, ts,
                        f"child {request} request for {child} rejected by the OMS: {reason}"))
    return out


# ------------------------------------------------------------------ the figures

def figures(rec: DayRecord, execs: list[Execution], fills: list[ClientFill]
            ) -> tuple[dict[str, Figures], dict[str, Figures], dict[str, Figures]]:
    """Activity by client, by symbol and by venue (each sorted by its key)."""
    cl: dict[str, Figures] = defaultdict(Figures)
    sy: dict[str, Figures] = defaultdict(Figures)
    ve: dict[str, Figures] = defaultdict(Figures)
    for o in [*rec.orders.values(), *rec.rejected]:
        for f in (cl[o.client], sy[o.symbol]):
            f.orders += 1
            f.shares_ordered += o.qty
            f.cancels += sum(1 for r in o.requests if r.kind == "cancel")
            f.amendments += sum(1 for r in o.requests if r.kind == "replace")
    for r in rec.rejected:
        cl[r.client].rejects += 1
        sy[r.symbol].rejects += 1
    for cf in fills:
        for f in (cl[cf.client], sy[cf.symbol]):
            f.fills += 1
            f.shares_filled += cf.qty
            f.notional_fixed += cf.qty * cf.px
    for c in rec.children.values():
        f = ve[c.venue or "(unknown)"]
        f.orders += 1
        f.shares_ordered += c.routes[0].qty if c.routes else c.qty
        f.cancels += sum(1 for r in c.routes if r.action == "cancel")
        f.amendments += sum(1 for r in c.routes if r.action == "replace")
    # child rejects: the venue's (the child ended rejected) and the OMS's (never sent)
    rejects = [(c.parent_id, c.child_id) for c in rec.children.values()
               if c.done_how == "rejected"]
    rejects += [(parent, child) for _, _, parent, child, _, _ in rec.child_rejects]
    for parent, child in rejects:
        owner, sent = rec.orders.get(parent), rec.children.get(child)
        if owner is not None:
            cl[owner.client].rejects += 1
            sy[owner.symbol].rejects += 1
        ve[sent.venue if sent is not None and sent.venue else "(not sent)"].rejects += 1
    for e in execs:
        f = ve[e.venue or "(unknown)"]
        f.fills += 1
        f.shares_filled += e.qty
        f.notional_fixed += e.qty * e.px
    return (dict(sorted(cl.items())), dict(sorted(sy.items())), dict(sorted(ve.items())))


def analyse(rec: DayRecord) -> Activity:
    """The report's content: figures and flags."""
    execs = net_executions(rec.executions)
    fills = net_client_fills(rec.client_fills)
    tt, excused, no_nbbo = trade_through(rec)
    close, unjudged = marking_close(rec, execs)
    flags = [*tt, *parent_child(rec, execs, fills), *wash(rec, execs), *close,
             *layering(rec, execs, fills), *order_to_trade(rec, fills), *incidents(rec)]
    by_client, by_symbol, by_venue = figures(rec, execs, fills)
    return Activity(rec, session_tz(rec), execs, fills, by_client, by_symbol, by_venue,
                    sorted(flags, key=Flag.key), excused, no_nbbo, unjudged)


# ------------------------------------------------------------------ the files

def _headline(a: Activity) -> dict[str, Any]:
    rec = a.rec
    return {
        "session_date": rec.session_date.isoformat(),
        "complete": rec.complete,
        "first_frame": a.iso(rec.first_ts),
        "last_frame": a.iso(rec.last_ts),
        "last_seq": rec.last_seq,
        "frames": rec.frames,
        "clients": len(a.by_client),
        "symbols": len(a.by_symbol),
        "orders": len(rec.orders) + len(rec.rejected),
        "rejected": len(rec.rejected),
        "shares_ordered": sum(f.shares_ordered for f in a.by_client.values()),
        "fills": len(a.fills),
        "shares": sum(f.qty for f in a.fills),
        "notional": sum(f.qty * f.px for f in a.fills) / 10_000,
        "venue_fills": len(a.execs),
        "children": len(rec.children),
        "open_orders": sum(1 for o in rec.orders.values() if o.open),
    }


def _counts(a: Activity) -> dict[str, int]:
    return {r: sum(1 for f in a.flags if f.rule == r) for r in RULES}


def _flag_json(a: Activity, f: Flag) -> dict[str, Any]:
    return {**dataclasses.asdict(f), "time": a.iso(f.ts)}


def _flag_row(a: Activity, f: Flag) -> list[object]:
    return [f.rule, f.severity, f.client, f.symbol, f.order_id, f.child_id, f.exec_id, f.seq,
            a.iso(f.ts), f.why]


def _figures_csv(path: Path, key: str, figs: dict[str, Figures]) -> Path:
    return write_csv(path, (key, *FIGURE_COLUMNS), ([k, *f.row()] for k, f in figs.items()))


def _figures_json(figs: dict[str, Figures]) -> dict[str, Any]:
    return {k: {**{c: getattr(f, c) for c in FIGURE_COLUMNS if c != "notional"},
                "notional": f.notional} for k, f in figs.items()}


def write(rec: DayRecord, out: Path) -> ReportResult:
    """Write the activity report of `rec` into `out` and say what it found."""
    out = Path(out)
    a = analyse(rec)
    head, counts = _headline(a), _counts(a)
    files = [
        write_text(out / "activity.html", render(a)),
        write_csv(out / "activity.csv", FLAG_COLUMNS, (_flag_row(a, f) for f in a.flags)),
        _figures_csv(out / "activity_by_client.csv", "client", a.by_client),
        _figures_csv(out / "activity_by_symbol.csv", "symbol", a.by_symbol),
        _figures_csv(out / "activity_by_venue.csv", "venue", a.by_venue),
        write_json(out / "activity.json", {
            "headline": head,
            "timezone": str(a.tz),
            "config": dataclasses.asdict(rec.config),
            "by_client": _figures_json(a.by_client),
            "by_symbol": _figures_json(a.by_symbol),
            "by_venue": _figures_json(a.by_venue),
            "flag_counts": counts,
            "flags": [_flag_json(a, f) for f in a.flags],
            "excused_trade_throughs": [_flag_json(a, f) for f in a.excused],
            "no_nbbo_fills": a.no_nbbo,
            "close_not_judged": a.not_judged_close,
        }),
    ]
    found = ", ".join(f"{r} {n}" for r, n in counts.items() if n) or "none"
    lines = [f"activity: {head['orders']:,} orders, {head['fills']:,} fills, "
             f"{head['shares']:,} shares, ${head['notional']:,.2f}",
             f"activity flags: {found}"]
    if not rec.complete:
        lines.append("activity: INCOMPLETE day (no SystemStop)")
    return ReportResult(name=NAME, files=files, breaks=0, lines=lines, summary={
        "flags": counts, "orders": head["orders"], "fills": head["fills"],
        "shares": head["shares"], "notional": head["notional"], "complete": rec.complete})


# ------------------------------------------------------------------ the page

def _anchor(o: Order) -> str:
    return f"order-{o.order_id}" if o.order_id else f"rejected-{o.client}-{o.cl_ord_id}"


def _rule_text(rule: str, rec: DayRecord) -> str:
    c = rec.config
    return {
        "trade_through": "A buy filled above the best offer, or a sale below the best bid, of "
        "the NBBO at the fill's seq (Reg NMS Rule 611). A fill the widest NBBO within "
        f"{c.trade_through_tolerance_ms} ms before it allowed is excused (the quote moved "
        "while the order travelled): listed below, not flagged. A fill with no NBBO known "
        "on its side is not judged.",
        "parent_child": "An order's client fills must add up to the venue fills of its "
        "children (busts out, corrections in); no venue fill may come on a child already "
        "done; no child (or child replace) may exceed its parent's leaves when sent; "
        "nothing may stay open at the end of the day.",
        "wash": f"A client's buy and sale of one symbol at one price within "
        f"{c.wash_window_ms:,} ms of each other, on any venues.",
        "marking_close": f"A client's executions of a symbol in the last {c.close_window_min} "
        f"minutes and the closing auction of at least {c.close_share_pct:g}% of the window's "
        f"volume, with the close at least {c.close_move_bps:g} bps from the last price "
        "before the window, in the direction the client bought or sold (net).",
        "layering": f"At least {c.layering_min_cancels} of a client's orders of a symbol on one "
        f"side cancelled without a fill within {c.layering_window_s} s, while the client "
        "executed on the other side in that window.",
        "order_to_trade": f"A client's orders, amendments and cancels per fill above "
        f"{c.otr_max_ratio:g}, with at least {c.otr_min_messages} messages (or messages "
        "and no fill).",
        "incidents": "Kill switches, client orders rejected, child requests the OMS "
        "rejected, determinism alerts and every critical or error alert.",
    }[rule]


def _flags_table(a: Activity, flags: Sequence[Flag], anchors: set[str], *,
                 with_rule: bool = True) -> str:
    if not flags:
        return '<p class="ok">Nothing flagged.</p>'
    rows = []
    for f in flags:
        target = f"order-{f.order_id}"
        order = h.link(f.order_id, "#" + target) if target in anchors else h.esc(f.order_id)
        row: list[object] = [f.severity, f.client, f.symbol, order, f.child_id, f.exec_id,
                             f.seq, a.hms(f.ts), f.why]
        rows.append([RULES[f.rule], *row] if with_rule else row)
    heads = ["Severity", "Client", "Symbol", "Order", "Child", "Exec", "Seq", "Time", "Why"]
    off = 1 if with_rule else 0
    return h.table(["Rule", *heads] if with_rule else heads, rows, numeric=[6 + off],
                   raw=[3 + off])


def _figures_html(title: str, key: str, figs: dict[str, Figures]) -> str:
    heads = [key, "Orders", "Shares ordered", "Shares filled", "Notional ($)", "Fills",
             "Rejects", "Cancels", "Amendments"]
    rows = [[k, h.num(f.orders), h.num(f.shares_ordered), h.num(f.shares_filled),
             h.money(f.notional), h.num(f.fills), h.num(f.rejects), h.num(f.cancels),
             h.num(f.amendments)] for k, f in figs.items()]
    keys = list(figs)
    return (f"<h3>{h.esc(title)}</h3>" + h.table(heads, rows, numeric=range(1, 9))
            + h.bars(keys, [figs[k].notional for k in keys], title=f"Notional by {key}",
                     unit=" $")
            + h.bars(keys, [float(figs[k].shares_filled) for k in keys],
                     title=f"Shares filled by {key}"))


#: A day of more orders than this lists only its flagged orders on the page (a person
#: reads the exceptions; `tape oms orders DAY` and the database hold the whole book).
MAX_LISTED = 2_000


def _listed(a: Activity) -> list[Order]:
    every = [*a.rec.orders.values(), *a.rec.rejected]
    if len(every) <= MAX_LISTED:
        return every
    flagged = {f.order_id for f in a.flags if f.order_id}
    return [o for o in every if o.order_id in flagged]


def _orders_html(a: Activity, anchors: list[str]) -> str:
    rec = a.rec
    listed = _listed(a)
    total = len(rec.orders) + len(rec.rejected)
    note = ("" if len(listed) == total else
            f'<p class="muted">{total:,} orders: the {len(listed):,} with a flag are listed '
            "(every order: <code>tape oms orders DAY</code>, or the day's database).</p>")
    flagged: dict[str, list[str]] = defaultdict(list)
    for f in a.flags:
        if f.order_id and RULES[f.rule] not in flagged[f.order_id]:
            flagged[f.order_id].append(RULES[f.rule])
    rows = []
    for o in listed:
        kids = ", ".join(f"{c} ({rec.children[c].venue})" for c in o.children
                         if c in rec.children)
        status = o.ord_status + (" (open)" if o.open else "")
        rows.append([o.order_id, o.client, o.cl_ord_id, o.symbol, o.side, h.num(o.qty),
                     h.px(o.limit_px) if o.limit_px else "market", h.num(o.cum_qty), status,
                     o.received_seq, a.hms(o.received_ts), kids,
                     "; ".join(flagged.get(o.order_id, []))])
    return note + h.table(["Order", "Client", "ClOrdID", "Symbol", "Side", "Qty", "Limit",
                           "Filled", "Status", "Seq", "Received", "Children", "Flags"], rows,
                          numeric=[5, 6, 7, 9], anchors=anchors)


def render(a: Activity) -> str:
    """The HTML page."""
    rec, head, counts = a.rec, _headline(a), _counts(a)
    orders = _listed(a)
    anchors = [_anchor(o) for o in orders]
    known = set(anchors)
    figs = [("Session date", head["session_date"]), ("Orders", h.num(head["orders"])),
            ("Rejected orders", h.num(head["rejected"])),
            ("Shares ordered", h.num(head["shares_ordered"])),
            ("Client fills", h.num(head["fills"])), ("Shares filled", h.num(head["shares"])),
            ("Notional ($)", h.money(head["notional"])),
            ("Children", h.num(head["children"])), ("Venue fills", h.num(head["venue_fills"])),
            ("Clients", h.num(head["clients"])), ("Symbols", h.num(head["symbols"])),
            ("Orders open at the end", h.num(head["open_orders"])),
            ("Exceptions", h.num(len(a.flags))),
            ("Journal", f"{rec.frames:,} frames to seq {rec.last_seq:,}, "
                        f"{a.hms(rec.first_ts)} to {a.hms(rec.last_ts)}"
                        + ("" if rec.complete else " (no SystemStop)"))]
    counts_rows = [[h.link(RULES[r], f"#rule-{r}"), h.num(n)] for r, n in counts.items()]
    body = [
        h.section("Headline", h.table(["Figure", "Value"], figs, numeric=[1]),
                  h.table(["Rule", "Flags"], counts_rows, numeric=[1], raw=[0]),
                  h.bars([RULES[r] for r in counts], [float(n) for n in counts.values()],
                         title="Flags by rule")),
        h.section("Activity",
                  _figures_html("By client", "Client", a.by_client),
                  _figures_html("By symbol", "Symbol", a.by_symbol),
                  _figures_html("By venue", "Venue", a.by_venue),
                  '<p class="muted">By client and by symbol: the client fills in force '
                  "at the end of the day; by venue: the venue fills and the children sent. "
                  "Rejects: client orders refused and child requests rejected.</p>"),
        h.section("Exceptions",
                  '<p class="muted">To read the frames of a flag: <code>tape journal cat '
                  "DAY --from SEQ --to SEQ</code> (DAY: this day's folder).</p>",
                  _flags_table(a, a.flags, known), anchor="exceptions"),
    ]
    for r, title in RULES.items():
        params = ", ".join(f"{p} = {getattr(rec.config, p)}" for p in PARAMS[r])
        parts = [f"<p>{h.esc(_rule_text(r, rec))}</p>"]
        if params:
            parts.append(f'<p class="muted">Parameters: <code>{h.esc(params)}</code></p>')
        parts.append(_flags_table(a, [f for f in a.flags if f.rule == r], known,
                                  with_rule=False))
        if r == "trade_through":
            parts.append(f"<h3>Excused by the tolerance ({len(a.excused)})</h3>"
                         + _flags_table(a, a.excused, known, with_rule=False)
                         + f'<p class="muted">Fills not judged (no NBBO): {a.no_nbbo:,}</p>')
        if r == "marking_close" and a.not_judged_close:
            parts.append('<p class="muted">Not judged (no closing-window volume or no '
                         "price before the window): "
                         f"{h.esc(', '.join(a.not_judged_close))}</p>")
        body.append(h.section(title, *parts, anchor=f"rule-{r}"))
    body.append(h.section("Orders", _orders_html(a, anchors), anchor="orders"))
    return h.page(f"Daily activity {rec.session_date.isoformat()}", "".join(body),
                  subtitle=f"Supervisor's report. Times in {a.tz}.",
                  incomplete=not rec.complete)
