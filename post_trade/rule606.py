"""SEC Rule 606 order routing reports, over a range of day folders.

- `write_b3(days, client, out)`: 606(b)(3), on a client's request: how the firm handled
  the client's not-held orders over up to six months, per calendar month, directed and
  non-directed, per venue: shares routed (and IOC), average order size, shares executed,
  fill rate, average fill size, net fee or rebate, shares executed at the midpoint, near
  and far side of the NBBO, liquidity provided (with the average order duration) and
  removed. Files `606b3_<client>_<from>_<to>.xml` (valid against the SEC's schema
  `oh-20191231.xsd`), `.html` and `.json`.
- `write_a1(days, out)`: 606(a)(1), the quarterly public report of held orders: per
  month, S&P 500 stocks and other stocks, the share of non-directed orders and their
  split into market, marketable limit, non-marketable limit and other, then per venue
  the same percentages and the net payment per order type. Files `606a1_<year>Q<q>.*`.
- `days_between(first, last)`: the day folders of a range (first's siblings, by the
  session date of their journal), refused when reversed or longer than six months.

Each day is read once (`post_trade.record.read_day`) and folded into a small running
aggregate per month before the next is read, so six months never sit in memory.

The house's rules, as the record can tell them:

- Held or not held: an order with no algo (a care order the desk works; the OMS of
  today refuses them, so they come only from another journal) is a held order and goes
  to 606(a)(1). Every algo order (VWAP, DMA, ...) gives the firm discretion or is
  worked by the firm's systems: the house treats it as not held, for 606(b)(3).
- Directed: a DMA order names its venue (`oms/algos.py` requires the parameter), so
  it is directed; every other order is non-directed.
- A child order is one order routed to its venue. Its shares routed are the largest
  quantity it carried (a replace up routes more; a cut does not un-route); IOC counts
  children with time in force IOC or FOK. Further routable shares are not known from
  the record (the venues' routing instructions are not journaled): reported blank.
- Executions: a venue's repeat (same exec id) counts once, a bust removes the fill it
  names, a correction replaces its quantity and price (keeping the liquidity and the
  NBBO of the fill it corrects). A fill is at the midpoint when its price is exactly
  the mid of the NBBO at the fill; else on the near side when better for the order
  than the mid (a buy below it, a sale above it), on the far side when worse. A fill
  with no NBBO known is counted as executed but in none of the three.
- Fees: the day's venue fee schedule (`venue_fees`), per fill by its liquidity. In the
  SEC's figures a fee paid is negative and a rebate received positive (the opposite of
  the schedule's sign); 606(a)(1)'s net payment uses the same sign. Cents per hundred
  shares are over the shares executed. The firm neither pays nor receives payment for
  order flow.
- Order duration (liquidity provided): from the child's first route to its end (fill,
  cancel, reject), or to the day's last frame for a child still open; averaged over the
  children that added liquidity, in ms.
- 606(a)(1) order types: a market order is market; a limit order with special handling
  (time in force OPG or CLS, a peg or post-only ExecInst) is other; a limit order is
  marketable when its limit reaches the NBBO at its receipt (a buy at or above the
  offer, a sale at or below the bid). The record keeps the NBBO at each fill, not at
  each order's receipt: it is exact when some fill of the symbol after the receipt
  carries a quote sequenced before it (no quote changed in between); otherwise the
  NBBO at the order's own first fill stands in for it; an order with neither counts as
  non-marketable (it never executed). A venue's order percentages count each order
  once per venue it was routed to, over all the section's non-directed orders.
- S&P 500: the ref data has no index constituents table; `SP500` below lists the
  members among the symbols the firm trades (as of 2013); any other symbol, an ETF such
  as SPY included, is in "other stocks".

Figures are exact integer or Decimal sums, rounded half up at the end (percentages to
2 places, cents per hundred shares to 4, dollars to 2). No wall clock (the schema's
timestamp is optional and left out), no set iterated: same days, same bytes.
"""

# determinism: edge module, offline tooling: writes Rule 606 reports

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from post_trade import html
from post_trade.record import Child, DayRecord, Order, read_day
from post_trade.report import ReportResult, write_json, write_text
from sequencer.journal import JournalReader
from sequencer.messages import decode
from sequencer.messages.control import SystemStart

NAME = "rule606"
SCHEMA_VERSION = "1.2"
#: S&P 500 members (2013) among the symbols the firm trades; SPY is an ETF: other stocks.
SP500: frozenset[str] = frozenset({"AAPL", "AIG", "BAC", "IBM"})
HELD_ALGOS = ("",)  # care orders: held (606(a)(1)); every algo order is not held
DIRECTED_ALGOS = ("dma",)  # the order names its venue
IOC_TIFS = ("ioc", "fok")
SPECIAL_TIFS = ("opg", "cls")
CATEGORIES = ("market", "marketable_limit", "non_marketable_limit", "other")
MAX_MONTHS = 6
_MIC = re.compile(r"[A-Z0-9]{4}")
ZERO = Decimal(0)


def is_held(o: Order) -> bool:
    return o.algo in HELD_ALGOS


def is_directed(o: Order) -> bool:
    return o.algo in DIRECTED_ALGOS


# ------------------------------------------------------------------------ the range

def session_date(day: Path) -> dt.date:
    """The session date of a day folder, from its journal's first frame (SystemStart)."""
    jdir = Path(day) / "journal"
    if not jdir.is_dir():
        raise ValueError(f"{day}: not a day folder (no journal at {jdir})")
    with JournalReader(jdir) as r:
        frames = r.read(1)
    m = decode(frames[0].type_id, frames[0].payload) if frames else None
    if not isinstance(m, SystemStart):
        raise ValueError(f"{jdir}: the journal does not start with SystemStart")
    return m.session_date


def add_months(d: dt.date, n: int) -> dt.date:
    """`d` plus `n` calendar months (the day clamped to the month's end)."""
    y, m = divmod(d.month - 1 + n, 12)
    year, month = d.year + y, m + 1
    nxt = dt.date(year + month // 12, month % 12 + 1, 1)
    return dt.date(year, month, min(d.day, (nxt - dt.timedelta(days=1)).day))


def check_span(first: dt.date, last: dt.date) -> None:
    """Refuse a reversed range or one longer than six months (first + 6 months - 1 day)."""
    if last < first:
        raise ValueError(f"the range is reversed: {first} is after {last}")
    if last >= add_months(first, MAX_MONTHS):
        raise ValueError(f"the range {first} to {last} exceeds six months (the last day "
                         f"may be {add_months(first, MAX_MONTHS) - dt.timedelta(days=1)} "
                         f"at the latest)")


def days_between(first: Path, last: Path) -> list[Path]:
    """The day folders beside `first` whose session date is in [first's, last's], by
    date (a sibling with no journal is not a day folder and is passed over)."""
    first, last = Path(first), Path(last)
    lo, hi = session_date(first), session_date(last)
    check_span(lo, hi)
    found = [(d, p) for p in sorted(first.parent.iterdir())
             if (p / "journal").is_dir() and lo <= (d := session_date(p)) <= hi]
    seen: dict[dt.date, Path] = {}
    for d, p in found:  # one journal per session date, or a day would count twice
        if d in seen:
            raise ValueError(f"two day folders hold {d}: {seen[d]} and {p}; keep one day "
                             "folder per date beside --from (a copy elsewhere)")
        seen[d] = p
    return [p for _, p in sorted(found)]


# ------------------------------------------------------------------- executions

@dataclass(frozen=True, slots=True)
class Fill:
    qty: int
    px: int
    liquidity: str
    bid: int
    ask: int


def net_fills(rec: DayRecord, c: Child) -> list[Fill]:
    """A child's fills as they stand: repeats once, busts removed, corrections applied."""
    live: dict[str, Fill] = {}
    alias: dict[str, str] = {}  # a corrected exec id -> the correction's
    for i in c.executions:
        e = rec.executions[i]
        if e.repeat:
            continue
        if e.kind == "fill":
            live[e.exec_id] = Fill(e.qty, e.px, e.liquidity, e.nbbo_bid, e.nbbo_ask)
            continue
        ref = e.ref_exec_id
        while ref in alias:
            ref = alias[ref]
        old = live.pop(ref, None)
        if e.kind == "correct" and old is not None:
            live[e.exec_id] = Fill(e.qty, e.px, old.liquidity, old.bid, old.ask)
            alias[ref] = e.exec_id
    return [f for f in live.values() if f.qty > 0]


def nbbo_side(side: str, f: Fill) -> str:
    """"mid", "near", "far", or "" with no NBBO (see the module docstring)."""
    if f.bid <= 0 or f.ask <= 0:
        return ""
    d = 2 * f.px - (f.bid + f.ask)  # twice the distance from the mid: exact
    if d == 0:
        return "mid"
    return "near" if (d < 0) == (side == "buy") else "far"


def fee_cents(rec: DayRecord, venue: str, f: Fill) -> Decimal:
    """The fill's fee, positive paid (the schedule's sign), in cents, exact."""
    return Decimal(repr(rec.refs.venue_fees(venue).cents(f.liquidity, f.qty)))


def venue_name(rec: DayRecord, code: str) -> str:
    try:
        return rec.refdata.venue(code).name or code
    except KeyError:
        return code


# ------------------------------------------------------------------- 606(b)(3)

@dataclass(slots=True)
class VenueFig:
    """One venue, one month, one section (directed or not) of a client's orders."""

    routed: int = 0
    ioc: int = 0
    orders: int = 0
    executed: int = 0
    fills: int = 0
    fee: Decimal = ZERO  # cents, positive paid
    mid: int = 0
    near: int = 0
    far: int = 0
    added: int = 0
    added_fee: Decimal = ZERO
    added_orders: int = 0
    added_ns: int = 0
    removed: int = 0
    removed_fee: Decimal = ZERO


Month = tuple[int, int]


@dataclass
class B3Agg:
    """The running sums of a 606(b)(3) report: a few numbers per month and venue."""

    client: str
    sent: dict[tuple[Month, bool], int] = field(default_factory=dict)
    venues: dict[tuple[Month, bool, str], VenueFig] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    dates: list[dt.date] = field(default_factory=list)
    incomplete: list[dt.date] = field(default_factory=list)
    bd: str = ""


def accumulate_b3(agg: B3Agg, rec: DayRecord) -> None:
    """Fold one day's record into `agg` (bucketed by the day's month)."""
    ym = (rec.session_date.year, rec.session_date.month)
    agg.dates.append(rec.session_date)
    if not rec.complete:
        agg.incomplete.append(rec.session_date)
    agg.bd = rec.refs.firm.name
    for o in rec.orders.values():
        if o.client != agg.client or is_held(o):
            continue
        directed = is_directed(o)
        sent = max([o.qty, o.cur_qty, *(r.qty for r in o.requests if r.kind != "cancel")])
        agg.sent[(ym, directed)] = agg.sent.get((ym, directed), 0) + sent
        for cid in o.children:
            c = rec.children[cid]
            agg.names[c.venue] = venue_name(rec, c.venue)
            v = agg.venues.setdefault((ym, directed, c.venue), VenueFig())
            routed = max((r.qty for r in c.routes if r.action != "cancel"), default=0)
            v.routed += routed
            v.orders += 1
            if c.tif in IOC_TIFS:
                v.ioc += routed
            added = 0
            for f in net_fills(rec, c):
                fee = fee_cents(rec, c.venue, f)
                v.executed += f.qty
                v.fills += 1
                v.fee += fee
                where = nbbo_side(c.side, f)
                if where:
                    setattr(v, where, getattr(v, where) + f.qty)
                if f.liquidity == "added":
                    added += f.qty
                    v.added_fee += fee
                elif f.liquidity == "removed":
                    v.removed += f.qty
                    v.removed_fee += fee
            if added:
                v.added += added
                v.added_orders += 1
                start = c.routes[0].ts_ns if c.routes else rec.first_ts
                v.added_ns += max(0, (c.done_ts or rec.last_ts) - start)


def _q(x: Decimal, places: str) -> str:
    return str(x.quantize(Decimal(places), ROUND_HALF_UP) + 0)  # + 0: no "-0.00"


def pct(num: int, den: int) -> str:
    """A percentage to 2 places, or "" (not meaningful) without a denominator."""
    return _q(Decimal(num) * 100 / den, "0.01") if den else ""


def cph(cents: Decimal, shares: int) -> str:
    """Cents per hundred shares to 4 places, or "" without shares."""
    return _q(cents * 100 / shares, "0.0001") if shares else ""


def usd(cents: Decimal) -> str:
    return _q(cents / 100, "0.01")


def avg(num: int, den: int) -> str:
    return _q(Decimal(num) / den, "0.01") if den else ""


#: The iVenue elements after venueName and mic, in the schema's order: (element, key).
B3_FIELDS = ("routedShr", "iocRoutedShr", "furtherRoutableShr", "orderSizeShr",
             "executedShr", "filledPct", "fillSizeShr", "netFeeOrRebateCph", "midpointShr",
             "midpointPct", "nearsideShr", "nearsidePct", "farsideShr", "farsidePct",
             "providedLiqudityShr", "providedLiquidityPct", "orderDurationMsec",
             "providedLiquidityNetCph", "removedLiquidityShr", "removedLiquidityPct",
             "removedLiquidityNetCph")


def b3_venue(code: str, name: str, v: VenueFig) -> dict[str, Any]:
    """One venue's figures, keyed by the schema's element names (plus dollars)."""
    ex = v.executed
    dur = (v.added_ns + v.added_orders * 500_000) // (v.added_orders * 1_000_000) \
        if v.added_orders else ""  # ms, rounded half up on the exact ns sum
    return {
        "venueName": name, "mic": code if _MIC.fullmatch(code) else "",
        "routedShr": str(v.routed), "iocRoutedShr": str(v.ioc), "furtherRoutableShr": "",
        "orderSizeShr": avg(v.routed, v.orders), "executedShr": str(ex),
        "filledPct": pct(ex, v.routed), "fillSizeShr": avg(ex, v.fills),
        "netFeeOrRebateCph": cph(-v.fee, ex), "netFeeOrRebateUsd": usd(-v.fee),
        "midpointShr": str(v.mid), "midpointPct": pct(v.mid, ex),
        "nearsideShr": str(v.near), "nearsidePct": pct(v.near, ex),
        "farsideShr": str(v.far), "farsidePct": pct(v.far, ex),
        "providedLiqudityShr": str(v.added), "providedLiquidityPct": pct(v.added, ex),
        "orderDurationMsec": str(dur), "providedLiquidityNetCph": cph(-v.added_fee, v.added),
        "providedLiquidityNetUsd": usd(-v.added_fee),
        "removedLiquidityShr": str(v.removed), "removedLiquidityPct": pct(v.removed, ex),
        "removedLiquidityNetCph": cph(-v.removed_fee, v.removed),
        "removedLiquidityNetUsd": usd(-v.removed_fee),
        "orders": v.orders, "fills": v.fills,
    }


def months_of(first: dt.date, last: dt.date) -> list[Month]:
    out, ym = [], (first.year, first.month)
    while ym <= (last.year, last.month):
        out.append(ym)
        ym = (ym[0] + ym[1] // 12, ym[1] % 12 + 1)
    return out


def b3_figures(agg: B3Agg) -> dict[str, Any]:
    """The report as plain data: every month of the period in both sections."""
    first, last = min(agg.dates), max(agg.dates)
    sections: dict[str, list[dict[str, Any]]] = {}
    for label, directed in (("directed", True), ("nondirected", False)):
        months = []
        for ym in months_of(first, last):
            vs = sorted(((c, v) for (m, d, c), v in agg.venues.items()
                         if m == ym and d == directed), key=lambda cv: (-cv[1].routed, cv[0]))
            months.append({"year": ym[0], "mon": ym[1],
                           "sentShr": str(agg.sent.get((ym, directed), 0)),
                           "executedAsPrincipalShr": "0", "ioiExposedOrd": "0",
                           "venues": [b3_venue(c, agg.names[c], v) for c, v in vs]})
        sections[label] = months
    return {"report": "SEC Rule 606(b)(3) not-held order handling", "version": SCHEMA_VERSION,
            "customer": agg.client, "bd": agg.bd, "startDate": first.isoformat(),
            "endDate": last.isoformat(), "days": [d.isoformat() for d in sorted(agg.dates)],
            "incomplete_days": [d.isoformat() for d in sorted(agg.incomplete)],
            "sections": sections}


def _el(name: str, value: object, indent: int) -> str:
    return f"{'  ' * indent}<{name}>{escape(str(value))}</{name}>"


def b3_xml(fig: dict[str, Any]) -> str:
    out = ['<?xml version="1.0" encoding="UTF-8"?>', "<notHeldOrderHandlingCustomerReport>",
           *(_el(k, fig[k], 1) for k in ("version", "customer", "bd", "startDate", "endDate"))]
    for tag, label in (("hDirected", "directed"), ("hNondirected", "nondirected")):
        out.append(f"  <{tag}>")
        for m in fig["sections"][label]:
            out += ["    <hMonthly>", *(_el(k, m[k], 3) for k in (
                "year", "mon", "sentShr", "executedAsPrincipalShr", "ioiExposedOrd")),
                "      <ioiExposedVenueList/>", "      <routingVenueList>"]
            for v in m["venues"]:
                out += ["        <iVenue>", _el("venueName", v["venueName"], 5)]
                out += [_el("mic", v["mic"], 5)] if v["mic"] else []
                out += [_el(k, v[k], 5) for k in B3_FIELDS]
                out.append("        </iVenue>")
            out += ["      </routingVenueList>", "    </hMonthly>"]
        out.append(f"  </{tag}>")
    out.append("</notHeldOrderHandlingCustomerReport>")
    return "\n".join(out) + "\n"


_B3_COLS = (("Venue", "venueName"), ("MIC", "mic"), ("Routed", "routedShr"),
            ("IOC", "iocRoutedShr"), ("Avg order", "orderSizeShr"),
            ("Executed", "executedShr"), ("Fill %", "filledPct"),
            ("Avg fill", "fillSizeShr"), ("Net cph", "netFeeOrRebateCph"),
            ("Net $", "netFeeOrRebateUsd"), ("Mid", "midpointShr"),
            ("Near", "nearsideShr"), ("Far", "farsideShr"),
            ("Added", "providedLiqudityShr"), ("Added %", "providedLiquidityPct"),
            ("Duration ms", "orderDurationMsec"), ("Added cph", "providedLiquidityNetCph"),
            ("Removed", "removedLiquidityShr"), ("Removed %", "removedLiquidityPct"),
            ("Removed cph", "removedLiquidityNetCph"))

RULES_TEXT = ("Not held: every algo order (DMA, VWAP, ...); held: orders with no algo. "
              "Directed: DMA orders (they name the venue). Fees: negative a fee paid, "
              "positive a rebate received, in cents per 100 shares executed. Mid, near "
              "and far side: against the NBBO at the fill (near: better for the order "
              "than the mid). Further routable shares are not recorded (blank).")


def b3_html(fig: dict[str, Any]) -> str:
    parts = [f'<p class="muted">{html.esc(RULES_TEXT)}</p>']
    routed: dict[str, int] = {}
    executed: dict[str, int] = {}
    for label, title in (("directed", "Directed orders"), ("nondirected",
                                                          "Non-directed orders")):
        body = []
        for m in fig["sections"][label]:
            body.append(f"<h3>{m['year']}-{m['mon']:02d}: {html.num(int(m['sentShr']))} "
                        f"shares sent</h3>")
            rows = [[v[k] for _, k in _B3_COLS] for v in m["venues"]]
            body.append(html.table([h for h, _ in _B3_COLS], rows,
                                   numeric=range(2, len(_B3_COLS)))
                        if rows else '<p class="muted">No orders routed.</p>')
            for v in m["venues"]:
                routed[v["venueName"]] = routed.get(v["venueName"], 0) + int(v["routedShr"])
                executed[v["venueName"]] = (executed.get(v["venueName"], 0)
                                            + int(v["executedShr"]))
        parts.append(html.section(title, *body))
    names = sorted(routed, key=lambda n: (-routed[n], n))
    parts.append(html.section(
        "Shares per venue",
        html.bars(names, [float(routed[n]) for n in names], title="Shares routed"),
        html.bars(names, [float(executed[n]) for n in names], title="Shares executed")))
    return html.page(f"Rule 606(b)(3): {fig['customer']}", "".join(parts),
                     subtitle=f"{fig['bd']}, not-held orders {fig['startDate']} to "
                              f"{fig['endDate']} ({len(fig['days'])} days)",
                     incomplete=bool(fig["incomplete_days"]))


def write_b3(days: Sequence[Path], client: str, out: Path) -> ReportResult:
    """The 606(b)(3) report of `client` over `days` into `out` (XML, HTML, JSON)."""
    if not days:
        raise ValueError("606(b)(3): no days given")
    agg = B3Agg(client=client)
    for day in days:  # one day in memory at a time
        accumulate_b3(agg, read_day(Path(day)))
    check_span(min(agg.dates), max(agg.dates))
    fig = b3_figures(agg)
    stem = f"606b3_{re.sub(r'[^A-Za-z0-9_.-]', '_', client)}_{fig['startDate']}_" \
           f"{fig['endDate']}"
    out = Path(out)
    files = [write_text(out / f"{stem}.xml", b3_xml(fig)),
             write_text(out / f"{stem}.html", b3_html(fig)),
             write_json(out / f"{stem}.json", fig)]
    executed = sum(int(v["executedShr"]) for s in fig["sections"].values() for m in s
                   for v in m["venues"])
    summary = {"client": client, "start": fig["startDate"], "end": fig["endDate"],
               "days": len(agg.dates), "executed_shares": executed,
               "incomplete_days": fig["incomplete_days"]}
    return ReportResult(NAME, files, summary, lines=[
        f"606(b)(3) {client} {fig['startDate']} to {fig['endDate']}: {len(agg.dates)} days, "
        f"{executed:,} shares executed -> {files[0]}"])


# ------------------------------------------------------------------- 606(a)(1)

@dataclass(slots=True)
class A1Section:
    """One month, S&P 500 or other stocks: held orders and the non-directed split."""

    orders: int = 0
    ndo: list[int] = field(default_factory=lambda: [0, 0, 0, 0])  # by CATEGORIES


@dataclass(slots=True)
class A1Venue:
    orders: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    shares: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    net: list[Decimal] = field(default_factory=lambda: [ZERO] * 4)  # cents, + received


@dataclass
class A1Agg:
    sections: dict[tuple[Month, str], A1Section] = field(default_factory=dict)
    venues: dict[tuple[Month, str, str], A1Venue] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    schedules: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    dates: list[dt.date] = field(default_factory=list)
    incomplete: list[dt.date] = field(default_factory=list)
    bd: str = ""


def _receipt_nbbo(rec: DayRecord) -> dict[str, list[tuple[int, int, int, int]]]:
    """Per symbol, (fill seq, quote seq, bid, ask) of every fill carrying an NBBO."""
    by: dict[str, list[tuple[int, int, int, int]]] = {}
    for e in rec.executions:
        if e.kind == "fill" and e.nbbo_seq and not e.repeat:
            by.setdefault(e.symbol, []).append((e.seq, e.nbbo_seq, e.nbbo_bid, e.nbbo_ask))
    return by


def category(rec: DayRecord, o: Order, fills: dict[str, list[tuple[int, int, int, int]]]
             ) -> int:
    """The order's 606(a)(1) type, an index into CATEGORIES (see the module docstring)."""
    if o.ord_type == "market":
        return 0
    if o.tif in SPECIAL_TIFS or o.exec_inst:
        return 3
    bid = ask = 0
    # The first fill of the symbol after the receipt: if its quote came before the
    # receipt, that quote was the NBBO at the receipt (quote seqs only grow).
    after = [f for f in fills.get(o.symbol, ()) if f[0] > o.received_seq]
    if after and after[0][1] <= o.received_seq:
        bid, ask = after[0][2], after[0][3]
    else:
        own = [e for cid in o.children for i in rec.children[cid].executions
               if (e := rec.executions[i]).kind == "fill" and e.nbbo_seq]
        if own:
            first = min(own, key=lambda e: e.seq)
            bid, ask = first.nbbo_bid, first.nbbo_ask
    buy = o.side == "buy"
    marketable = (buy and ask > 0 and o.limit_px >= ask) or (
        not buy and bid > 0 and o.limit_px <= bid)
    return 1 if marketable else 2


def accumulate_a1(agg: A1Agg, rec: DayRecord) -> None:
    """Fold one day's held orders into `agg`."""
    ym = (rec.session_date.year, rec.session_date.month)
    agg.dates.append(rec.session_date)
    if not rec.complete:
        agg.incomplete.append(rec.session_date)
    agg.bd = rec.refs.firm.name
    held = [o for o in rec.orders.values() if is_held(o)]
    fills = _receipt_nbbo(rec) if held else {}
    for o in held:
        sec = "sp500" if o.symbol in SP500 else "other"
        s = agg.sections.setdefault((ym, sec), A1Section())
        s.orders += 1
        if is_directed(o):
            continue
        cat = category(rec, o, fills)
        s.ndo[cat] += 1
        seen: list[str] = []
        for cid in o.children:
            c = rec.children[cid]
            agg.names[c.venue] = venue_name(rec, c.venue)
            vf = rec.refs.venue_fees(c.venue)
            agg.schedules[c.venue] = (vf.add_per_100, vf.remove_per_100, vf.auction_per_100)
            v = agg.venues.setdefault((ym, sec, c.venue), A1Venue())
            if c.venue not in seen:
                seen.append(c.venue)
                v.orders[cat] += 1
            for f in net_fills(rec, c):
                v.shares[cat] += f.qty
                v.net[cat] -= fee_cents(rec, c.venue, f)


_CAT_XML = ("Market", "MarketableLimit", "NonMarketableLimit", "Other")


def material_aspects(bd: str, name: str, sched: tuple[float, float, float]) -> str:
    add, remove, auction = sched
    return (f"{bd} routes held orders to {name} as a member, under the venue's published "
            f"fee schedule: {add:g} cents per 100 shares to add liquidity, {remove:g} to "
            f"remove it, {auction:g} in an auction (a negative figure is a rebate to the "
            f"firm). The firm receives no payment for order flow and has no profit-sharing "
            f"relationship with the venue; rebates are not passed to it for routing.")


def a1_figures(agg: A1Agg) -> dict[str, Any]:
    dates = sorted(agg.dates)
    year, qtr = dates[-1].year, (dates[-1].month - 1) // 3 + 1
    months = []
    for mon in range(3 * qtr - 2, 3 * qtr + 1):
        ym = (year, mon)
        secs = {}
        for sec in ("sp500", "other"):
            s = agg.sections.get((ym, sec), A1Section())
            nd = sum(s.ndo)
            vs = sorted(((c, v) for (m, k, c), v in agg.venues.items() if m == ym and k == sec),
                        key=lambda cv: (-sum(cv[1].orders), cv[0]))
            venues = []
            for code, v in vs:
                row: dict[str, Any] = {
                    "name": agg.names[code], "mic": code if _MIC.fullmatch(code) else "",
                    "orderPct": pct(sum(v.orders), nd)}
                for i, (cat, key) in enumerate(zip(CATEGORIES, (
                        "marketPct", "marketableLimitPct", "nonMarketableLimitPct",
                        "otherPct"), strict=True)):
                    row[key] = pct(v.orders[i], s.ndo[i])
                    row[f"{cat}_orders"], row[f"{cat}_shares"] = v.orders[i], v.shares[i]
                for i, x in enumerate(_CAT_XML):
                    row[f"netPmtPaidRecv{x}OrdersUsd"] = usd(v.net[i])
                    row[f"netPmtPaidRecv{x}OrdersCph"] = cph(v.net[i], v.shares[i])
                row["materialAspects"] = material_aspects(agg.bd, agg.names[code],
                                                          agg.schedules[code])
                venues.append(row)
            secs[sec] = {"orders": s.orders, "nondirected": nd, "ndoPct": pct(nd, s.orders),
                         "ndoMarketPct": pct(s.ndo[0], nd),
                         "ndoMarketableLimitPct": pct(s.ndo[1], nd),
                         "ndoNonmarketableLimitPct": pct(s.ndo[2], nd),
                         "ndoOtherPct": pct(s.ndo[3], nd), "venues": venues}
        months.append({"year": year, "mon": mon, **secs})
    return {"report": "SEC Rule 606(a)(1) held order routing", "version": SCHEMA_VERSION,
            "bd": agg.bd, "year": year, "qtr": qtr, "days": [d.isoformat() for d in dates],
            "incomplete_days": [d.isoformat() for d in sorted(agg.incomplete)],
            "months": months}


_A1_VENUE = ("orderPct", "marketPct", "marketableLimitPct", "nonMarketableLimitPct",
             "otherPct", *(f"netPmtPaidRecv{x}Orders{u}" for x in _CAT_XML
                           for u in ("Usd", "Cph")), "materialAspects")
_A1_SECTION = ("ndoPct", "ndoMarketPct", "ndoMarketableLimitPct", "ndoNonmarketableLimitPct",
               "ndoOtherPct")


def a1_xml(fig: dict[str, Any]) -> str:
    out = ['<?xml version="1.0" encoding="UTF-8"?>', "<heldOrderRoutingPublicReport>",
           *(_el(k, fig[k], 1) for k in ("version", "bd", "year", "qtr"))]
    for m in fig["months"]:
        out += ["  <rMonthly>", _el("year", m["year"], 2), _el("mon", m["mon"], 2)]
        for tag, sec in (("rSP500", "sp500"), ("rOtherStocks", "other")):
            s = m[sec]
            out += [f"    <{tag}>", *(_el(k, s[k], 3) for k in _A1_SECTION), "      <rVenues>"]
            for v in s["venues"]:
                out += ["        <rVenue>", _el("name", v["name"], 5)]
                out += [_el("mic", v["mic"], 5)] if v["mic"] else []
                out += [*(_el(k, v[k], 5) for k in _A1_VENUE), "        </rVenue>"]
            out += ["      </rVenues>", f"    </{tag}>"]
        out.append("  </rMonthly>")
    out.append("</heldOrderRoutingPublicReport>")
    return "\n".join(out) + "\n"


def a1_html(fig: dict[str, Any]) -> str:
    heads = ["Venue", "MIC", "Orders %", "Market %", "Mkt limit %", "Non-mkt limit %",
             "Other %", "Market $", "Market cph", "Mkt limit $", "Mkt limit cph",
             "Non-mkt limit $", "Non-mkt limit cph", "Other $", "Other cph"]
    parts = [f'<p class="muted">{html.esc(RULES_TEXT)} Net payment: positive received '
             f"by the firm, negative paid.</p>"]
    aspects: dict[str, str] = {}
    for m in fig["months"]:
        body = []
        for sec, title in (("sp500", "S&P 500 stocks"), ("other", "Other stocks")):
            s = m[sec]
            body.append(f"<h3>{title}: {s['orders']} held orders, non-directed "
                        f"{s['ndoPct'] or '-'} %</h3>")
            body.append(html.table(["Non-directed", "Market %", "Marketable limit %",
                                    "Non-marketable limit %", "Other %"],
                                   [[s["nondirected"], *(s[k] for k in _A1_SECTION[1:])]],
                                   numeric=range(5)))
            rows = [[v["name"], v["mic"], *(v[k] for k in _A1_VENUE[:-1])]
                    for v in s["venues"]]
            for v in s["venues"]:
                aspects[v["name"]] = v["materialAspects"]
            if rows:
                body.append(html.table(heads, rows, numeric=range(2, len(heads))))
        parts.append(html.section(f"{m['year']}-{m['mon']:02d}", *body))
    parts.append(html.section("Material aspects", *(
        f"<p><b>{html.esc(n)}</b>: {html.esc(aspects[n])}</p>" for n in sorted(aspects))))
    return html.page(f"Rule 606(a)(1): {fig['year']} Q{fig['qtr']}", "".join(parts),
                     subtitle=f"{fig['bd']}, held orders ({len(fig['days'])} days)",
                     incomplete=bool(fig["incomplete_days"]))


def write_a1(days: Sequence[Path], out: Path) -> ReportResult:
    """The 606(a)(1) quarterly report of held orders over `days` (one calendar quarter)."""
    if not days:
        raise ValueError("606(a)(1): no days given")
    agg = A1Agg()
    for day in days:
        accumulate_a1(agg, read_day(Path(day)))
    quarters = sorted({(d.year, (d.month - 1) // 3 + 1) for d in agg.dates})
    if len(quarters) != 1:
        raise ValueError(f"606(a)(1) covers one calendar quarter; the days span "
                         f"{', '.join(f'{y} Q{q}' for y, q in quarters)}")
    fig = a1_figures(agg)
    stem = f"606a1_{fig['year']}Q{fig['qtr']}"
    out = Path(out)
    files = [write_text(out / f"{stem}.xml", a1_xml(fig)),
             write_text(out / f"{stem}.html", a1_html(fig)),
             write_json(out / f"{stem}.json", fig)]
    held = sum(m[s]["orders"] for m in fig["months"] for s in ("sp500", "other"))
    summary = {"year": fig["year"], "qtr": fig["qtr"], "days": len(agg.dates),
               "held_orders": held, "incomplete_days": fig["incomplete_days"]}
    return ReportResult(NAME, files, summary, lines=[
        f"606(a)(1) {fig['year']} Q{fig['qtr']}: {len(agg.dates)} days, {held} held orders "
        f"-> {files[0]}"])
