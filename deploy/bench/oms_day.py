"""The OMS bench's day: a generated trading day of client, algo and venue messages
around a live OMS, journaled as the sequencer would have recorded it.

A seeded simulation (`random.Random(seed)`) plays the OMS's world around a
live `Oms` on the stream kit (`sequencer.kit`):
- clients send parent orders over the day (limit and market, VWAP or DMA
  with `venue=`, many symbols and clients, some short sales), amend some
  (quantity up or down, limit price), cancel some, ask for status now and
  then, and send a small share of bad requests as real clients do (odd lots,
  prices off the tick or through the collar, unknown or restricted symbols,
  unsupported algos, a resent ClOrdID, short sales without a locate, cancels
  of unknown orders, and requests that race a fill or a pending request);
- the algo engine slices each parent into children over the order's life
  (one child for DMA), re-prices, grows, shrinks or cancels resting ones,
  fits the children to a client's pending amendment, and tops up after a
  child ends;
- venues acknowledge, fill (partly and fully, each fill with its own exec
  id; now and then a fill is repeated with the same exec id), cancel and
  replace on request (or refuse as too late after a fill), and rarely reject
  a child or cancel it unsolicited.
Each input is sequenced, and the OMS's outputs are sequenced right after the
input that caused them, as on the live stream. Stream time runs from the
open to the close (a day's worth of flow for 1,000,000 messages; fewer
messages take a proportionally shorter stretch ending at the close), with
the sequencer's idle clock ticks (one per 100 ms without input), and the
day's end is included: ticks carry the stream to 16:05 New York, where the
OMS's end-of-day timer takes the remaining orders down and the venues
confirm the cancels. Quotes are not part of the mix (the OMS's collar uses
the previous close from the ref data).

`tape bench oms` (`deploy.bench.oms`) replays it; the day's ref data is
`bench_refdata()`.
"""

# determinism: edge module, benchmark tooling: wall-clock timing and temporary files

from __future__ import annotations

import datetime as dt
import hashlib
import heapq
import random  # determinism: allowed, the bench's world, seeded
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from oms.app import Oms
from refdata.model import (
    Destination,
    RefData,
    RefDataSet,
    Symbol,
    SymbolStats,
    Table,
    Venue,
    VolumeCurve,
    local_midnight_ns,
)
from sequencer import sources
from sequencer.kit import StreamKit
from sequencer.messages import TYPE_ID, Message, decode, encode
from sequencer.messages.control import Alert, ClockTick, SystemStart
from sequencer.messages.executions import (
    CancelReject,
    ExecutionReport,
    VenueAck,
    VenueCanceled,
    VenueCancelRejected,
    VenueFill,
    VenueReject,
    VenueReplaced,
)
from sequencer.messages.orders import (
    CancelChild,
    CancelOrder,
    ChildOrderSent,
    ChildRequestRejected,
    NewChild,
    NewOrder,
    OrderStatusRequest,
    ParentAccepted,
    ParentAmended,
    ParentCanceling,
    ParentDone,
    ReplaceChild,
    ReplaceOrder,
)

DAY = dt.date(2013, 10, 8)
TZ = "America/New_York"
US = 1_000
MS = 1_000_000
SECOND = 1_000_000_000
MIDNIGHT = local_midnight_ns(DAY, TZ)
OPEN_NS = MIDNIGHT + (9 * 3600 + 30 * 60) * SECOND
CLOSE_NS = MIDNIGHT + 16 * 3600 * SECOND
EOD_NS = MIDNIGHT + (16 * 3600 + 5 * 60) * SECOND  # the OMS's default end of day
FULL_DAY = CLOSE_NS - OPEN_NS
FULL_DAY_MESSAGES = 1_000_000  # this many messages fill the whole session
TICK_NS = 100 * MS  # the sequencer's idle clock tick
SEQUENCER, CLIENT_GW, VENUE_GW, ALGO = (sources.SEQUENCER, sources.CLIENT_GATEWAY,
                                       sources.VENUE_GATEWAY, sources.ALGO)
PX = 10_000  # fixed point

# name, previous close (fixed point), primary venue, share of the order flow,
# locate required for short sales, restricted (why)
SYMBOLS: tuple[tuple[str, int, str, float, bool, str], ...] = (
    ("AAPL", 487_7500, "XNAS", 10, False, ""),
    ("AIG", 48_1900, "XNYS", 6, False, ""),
    ("BAC", 13_8100, "XNYS", 12, False, ""),
    ("DELL", 13_8600, "XNAS", 0.3, False, "pending buyout"),
    ("GE", 24_0100, "XNYS", 8, False, ""),
    ("IBM", 182_0100, "XNYS", 7, True, ""),
    ("JPM", 52_1500, "XNYS", 8, False, ""),
    ("MSFT", 33_9000, "XNAS", 10, False, ""),
    ("PNY", 5000, "XNAS", 1, True, ""),  # below a dollar: ticks of 0.0001
    ("SPY", 167_4300, "ARCX", 15, False, ""),
    ("XOM", 86_6400, "XNYS", 6, False, ""),
    ("ZNGA", 3_7600, "XNAS", 3, True, ""),
)
VENUES = (("ARCX", "P", True), ("BATS", "Z", True), ("FINR", "D", False),
          ("XNAS", "Q", True), ("XNYS", "N", True))
ROUTABLE = ("ARCX", "BATS", "XNAS", "XNYS")

_CLIENT_COLS = ("client", "name", "odd_lots", "done_for_day", "pending_new", "max_order_qty",
                "max_order_notional", "max_gross_notional", "max_open_orders", "collar_bps",
                "symbols")
# client, odd lots, done for day, pending new, max order qty, max order notional ($),
# max gross notional ($), max open orders, collar bp, symbols, share of the order flow
CLIENTS: tuple[tuple[str, bool, bool, bool, int, int, int, int, int, str, float], ...] = (
    ("*", False, False, False, 5_000_000, 200_000_000, 500_000_000_000, 100_000, 1000, "*", 0),
    ("ALPHA", False, False, False, 1_000_000, 50_000_000, 20_000_000_000, 5000, 500, "*", 20),
    ("BETA", True, True, True, 200_000, 10_000_000, 5_000_000_000, 500, 300,
     "AIG IBM SPY", 5),
    ("CEDAR", False, False, False, 1_000_000, 50_000_000, 20_000_000_000, 5000, 500, "*", 15),
    ("DELTA", False, False, True, 1_000_000, 50_000_000, 20_000_000_000, 5000, 500, "*", 10),
    ("EMBER", False, True, False, 1_000_000, 50_000_000, 20_000_000_000, 5000, 500, "*", 10),
    ("FJORD", True, False, False, 500_000, 25_000_000, 10_000_000_000, 2000, 500, "*", 8),
    ("GAMMA", False, False, False, 1_000_000, 50_000_000, 20_000_000_000, 5000, 500, "*", 12),
    ("HALO", False, False, False, 1_000_000, 50_000_000, 20_000_000_000, 5000, 500,
     "AAPL MSFT SPY", 8),
    ("IONA", False, False, False, 1_000_000, 50_000_000, 20_000_000_000, 5000, 500, "*", 6),
    # a small client whose day's gross notional limit bites in a full day
    ("JUNO", False, False, False, 100_000, 5_000_000, 700_000_000, 500, 500, "*", 4),
)
LOTS = (1, 2, 3, 5, 10, 20, 30, 50, 100, 200)
LOT_WEIGHTS = (16, 14, 10, 14, 16, 10, 6, 7, 5, 2)
VWAP_PARAMS: tuple[tuple[tuple[str, str], ...], ...] = (
    (), (("max_pct", "15"),), (("end_time", "15:55"), ("must_complete", "Y")),
    (("max_pct", "10"), ("aggression", "passive")),
)


def bench_refdata() -> RefData:
    """The day's ref data set for the bench: symbols, venues, destinations, statistics,
    a flat volume curve, the borrow table and the clients table."""
    syms = tuple(
        Symbol(i, name, name, venue, 100, "regnms", "USD", restricted=bool(why),
               restricted_reason=why)
        for i, (name, _px, venue, _w, _loc, why) in enumerate(SYMBOLS, start=1))
    venues = tuple(Venue(code, code, sip, TZ, 34_200_000, 57_600_000, True, True, rout)
                   for code, sip, rout in VENUES)
    dests = (*(Destination(f"DMA-{code}", code, f"TAPE->{code}", 0)
               for code, _sip, rout in VENUES if rout),
             Destination("ALT-XNYS", "XNYS", "TAPE->XNYS2", 1))
    stats = tuple(SymbolStats(name, 5_000_000, 3.0, 0.2, 200, px, 20, "bench")
                  for name, px, *_ in SYMBOLS)
    flat = VolumeCurve("*", tuple([0.9 / 390] * 390), 0.05, 0.05, (), "bench")
    borrow = Table("borrow", "symbol", ("symbol", "locate_required"), {
        name: {"symbol": name, "locate_required": loc} for name, _p, _v, _w, loc, _r in SYMBOLS})
    rows: dict[str, dict[str, Any]] = {}
    for (cid, odd, dfd, pnew, mqty, mnot, mgross, mopen, collar, allowed, _w) in CLIENTS:
        rows[cid] = {"client": cid, "name": "firm" if cid == "*" else cid.title(),
                     "odd_lots": odd, "done_for_day": dfd, "pending_new": pnew,
                     "max_order_qty": mqty, "max_order_notional": mnot * PX,
                     "max_gross_notional": mgross * PX, "max_open_orders": mopen,
                     "collar_bps": collar, "symbols": allowed}
    clients = Table("clients", "client", _CLIENT_COLS, rows)
    data = RefDataSet(DAY, syms, venues, dests, stats, (flat,),
                      (borrow, clients, *_post_trade_tables(dests)))
    return RefData(data, hashlib.sha256(msgspec.json.encode(data)).hexdigest())


def _post_trade_tables(dests: tuple[Destination, ...]) -> tuple[Table, ...]:
    """What the post-trade records read (post_trade/refs.py): the firm, each client's
    account, each routable venue's fees and CAT id, each destination's CAT identity."""
    firm = {"firm": "TAPE", "name": "Tape Agency Securities LLC", "imid": "TAPE",
            "submitter_id": "TAPE", "crd": "999001", "dept_type": "A",
            "clearing_firm": "APXC", "time_tolerance_ms": 50}
    accounts = {c[0]: {"client": c[0], "account": f"{c[0]}-001", "account_holder_type": "A",
                       "firm_designated_id": f"FDID-{c[0]}", "affiliate": False,
                       "capacity": "A"} for c in CLIENTS if c[0] != "*"}
    fees = {v: {"venue": v, "cat_id": v, "add_per_100": -20.0, "remove_per_100": 30.0,
                "auction_per_100": 10.0} for v in ROUTABLE}
    routes = {d.name: {"destination": d.name, "destination_type": "E" if d.priority == 0
                       else "F", "cat_destination": d.venue if d.priority == 0 else "ALTB"}
              for d in dests}
    return (
        Table("firm", "firm", tuple(firm), {"TAPE": firm}),
        Table("accounts", "client", ("client", "account", "account_holder_type",
                                     "firm_designated_id", "affiliate", "capacity"), accounts),
        Table("venue_fees", "venue", ("venue", "cat_id", "add_per_100", "remove_per_100",
                                      "auction_per_100"), fees),
        Table("cat_routes", "destination", ("destination", "destination_type",
                                            "cat_destination"), routes),
    )


# ==================================================================== the simulated world

LIVE, DONE = 1, 2


class _Sym:
    __slots__ = ("hard_to_borrow", "lo", "mid", "name", "primary", "ref")

    def __init__(self, name: str, ref: int, primary: str, hard_to_borrow: bool) -> None:
        self.name = name
        self.ref = ref
        self.mid = ref
        self.lo = ref * 98 // 100  # the day's price stays within 2% of the previous close
        self.primary = primary
        self.hard_to_borrow = hard_to_borrow


def _tick(px: int) -> int:
    return 1 if px < PX else 100


def _on_tick(px: int) -> int:
    t = _tick(px)
    return max(t, px - px % t)


def _buy(side: str) -> bool:
    return side == "buy"


def _within(side: str, parent_px: int, child_px: int) -> bool:
    return child_px <= parent_px if side == "buy" else child_px >= parent_px


class _Parent:
    """A parent order as its client and the algo engine know it (from the stream)."""

    __slots__ = ("accepted", "algo", "amend_pending", "cl_ord_id", "client", "closing", "cum",
                 "done", "end", "kids", "limit_px", "live", "odd_lots", "ord_type", "order_id",
                 "pend_cl", "pend_px", "pend_qty", "pending", "qty", "side", "slices_left",
                 "sym", "venue")

    def __init__(self, client: str, cl_ord_id: str, sym: _Sym, side: str, qty: int,
                 ord_type: str, limit_px: int, algo: str, venue: str, odd_lots: bool) -> None:
        self.client = client
        self.cl_ord_id = cl_ord_id  # the client's current ClOrdID for the order
        self.order_id = ""
        self.sym = sym
        self.side = side
        self.qty = qty
        self.ord_type = ord_type
        self.limit_px = limit_px
        self.algo = algo
        self.venue = venue
        self.odd_lots = odd_lots
        self.accepted = False
        self.live = True  # not in a final state (client's view)
        self.done = False  # ParentDone seen
        self.closing = False  # ParentCanceling seen: no new children
        self.pending = ""  # the client's request in flight: "", "cancel" or "replace"
        self.pend_cl = ""
        self.amend_pending = False  # a ParentAmended(pending=True) is waiting for the children
        self.pend_qty = 0
        self.pend_px = 0
        self.cum = 0
        self.kids: list[_Child] = []  # live children
        self.slices_left = 0
        self.end = 0  # when the algo means to be done


class _Child:
    __slots__ = ("cid", "cum", "fills", "ord_type", "p", "pend_px", "pend_qty", "pending", "px",
                 "qty", "state", "venue", "vt")

    def __init__(self, cid: str, p: _Parent, venue: str, qty: int, ord_type: str,
                 px: int) -> None:
        self.cid = cid
        self.p = p
        self.venue = venue
        self.qty = qty  # as the venue holds it
        self.ord_type = ord_type
        self.px = px
        self.cum = 0
        self.state = 0  # 0 requested, LIVE, DONE
        self.pending = ""
        self.pend_qty = 0
        self.pend_px = 0
        self.vt = 0  # time of the venue's last event for the child (its events stay in order)
        self.fills = False  # a fill is scheduled

    def exposure(self) -> int:
        """What the OMS counts as the child's open quantity (see oms.book.exposure)."""
        if self.state != LIVE:
            return 0
        if self.pending == "replace" and self.pend_qty > self.qty:
            return self.pend_qty - self.cum
        return self.qty - self.cum


Event = Callable[[int, Any], None]


class GenStats(msgspec.Struct):
    messages: int = 0  # inputs from clients, the algo engine and venues
    frames: int = 0
    oms_outputs: int = 0
    clock_ticks: int = 0
    eod_taken_down: int = 0  # parents still open at the OMS's end of day
    parents: int = 0
    children: int = 0
    first_ns: int = 0
    last_ns: int = 0
    mix: dict[str, int] = msgspec.field(default_factory=dict)  # message type -> frames
    alerts: dict[str, int] = msgspec.field(default_factory=dict)  # OMS alert code -> count
    rejects: dict[str, int] = msgspec.field(default_factory=dict)  # why, in short -> count


class DayGenerator:
    """Plays clients, the algo engine and venues around a live OMS, journaling the day."""

    def __init__(self, day: Path, messages: int, seed: int,
                 progress: Callable[[int], None] | None = None) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.target = messages
        self.progress = progress
        self.refdata = bench_refdata()
        self.stats = GenStats()
        self.heap: list[tuple[int, int, Event, Any]] = []
        self.n_events = 0
        span = FULL_DAY * min(1.0, messages / FULL_DAY_MESSAGES)
        self.scale = span / FULL_DAY
        self.start = CLOSE_NS - int(span)
        self.cutoff = CLOSE_NS - int(10 * 60 * SECOND * self.scale)  # last client orders
        self.syms = {name: _Sym(name, px, venue, loc) for name, px, venue, _w, loc, _r in SYMBOLS}
        self.sym_names = [s[0] for s in SYMBOLS]
        self.sym_weights = [s[3] for s in SYMBOLS]
        self.client_names = [c[0] for c in CLIENTS if c[0] != "*"]
        self.client_weights = [c[10] for c in CLIENTS if c[0] != "*"]
        self.client_syms = {c[0]: c[9].split() for c in CLIENTS if c[9] != "*"}
        self.odd_lots = {c[0]: c[1] for c in CLIENTS}
        self.next_cl: dict[str, int] = {}
        self.last_new: dict[str, NewOrder] = {}
        self.by_cl: dict[tuple[str, str], _Parent] = {}  # new orders not yet answered
        self.parents: dict[str, _Parent] = {}
        self.children: dict[str, _Child] = {}
        self.n_child = 0
        self.n_exec = 0
        self.n_vid = 0
        self.parents_sent = 0
        self.app = Oms()
        # The OMS on the stream kit; its answers reach the sequencer a little later.
        self.kit = StreamKit([self.app], refdata=self.refdata, journal=day / "journal",
                             flush_bytes=1 << 20, output_gap_ns=5 * US, keep=False,
                             on_frame=self._count)
        self.react: dict[int, Callable[[Any], None]] = {
            TYPE_ID[ExecutionReport]: self._on_report,
            TYPE_ID[CancelReject]: self._on_cancel_reject,
            TYPE_ID[ParentAccepted]: self._on_accepted,
            TYPE_ID[ParentAmended]: self._on_amended,
            TYPE_ID[ParentCanceling]: self._on_canceling,
            TYPE_ID[ParentDone]: self._on_done,
            TYPE_ID[ChildOrderSent]: self._on_child_sent,
            TYPE_ID[ChildRequestRejected]: self._on_child_rejected,
            TYPE_ID[Alert]: self._on_alert,
        }
        self.names = {tid: cls.__name__ for cls, tid in TYPE_ID.items()}

    # ---------------------------------------------------------------- the stream

    @property
    def ts(self) -> int:
        """Stream time: the last frame's."""
        return self.kit.now

    def _count(self, frame: bytes) -> None:
        mix = self.stats.mix
        name = self.names[int.from_bytes(frame[36:38], "little")]
        mix[name] = mix.get(name, 0) + 1

    def _sequence(self, t: int, source: int, msg: Message) -> None:
        """Sequence `msg` from `source` at stream time `t` (or just after the last frame),
        with the sequencer's idle ticks before it; then the OMS's outputs."""
        while t - self.ts >= TICK_NS and self.ts:
            self._input(self.ts + TICK_NS, SEQUENCER, ClockTick())
            self.stats.clock_ticks += 1
        self._input(max(t, self.ts + US), source, msg)
        if source != SEQUENCER:
            self.stats.messages += 1
            if self.progress is not None and self.stats.messages % 20_000 == 0:
                self.progress(self.stats.messages)

    def _input(self, ts: int, source: int, msg: Message) -> None:
        outs = self.kit.input(source, TYPE_ID[type(msg)], encode(msg), at_ns=ts)
        self.stats.oms_outputs += len(outs)
        react = self.react
        for o in outs:
            h = react.get(o.type_id)
            if h is not None:
                h(decode(o.type_id, o.payload))

    def _at(self, t: int, fn: Event, arg: Any = None) -> None:
        self.n_events += 1
        heapq.heappush(self.heap, (t, self.n_events, fn, arg))

    # ---------------------------------------------------------------- the day

    def run(self) -> GenStats:
        t0 = self.start - SECOND
        self._input(t0, SEQUENCER, SystemStart(
            session_date=DAY, seed=self.seed, config_digest="oms-bench",
            refdata_digest=self.refdata.digest))
        self.stats.first_ns = t0
        self._at(self.start, self._arrival)
        self._at(EOD_NS + 50 * MS, self._end_of_day)
        heap = self.heap
        pop = heapq.heappop
        while heap:
            t, _n, fn, arg = pop(heap)
            fn(t, arg)
        self.kit.close()
        self.stats.frames = self.kit.seq
        self.stats.last_ns = self.ts
        self.stats.parents = self.parents_sent
        self.stats.children = self.n_child
        return self.stats

    def _end_of_day(self, t: int, _arg: Any) -> None:
        # Idle ticks up to here: the one that crosses 16:05 fires the OMS's end of day.
        self._sequence(t, SEQUENCER, ClockTick())
        self.stats.clock_ticks += 1

    # ---------------------------------------------------------------- clients

    def _arrival(self, t: int, _arg: Any) -> None:
        self._new_order(t)
        self.parents_sent += 1
        done = self.stats.messages
        if done >= self.target:
            return  # enough flow: the orders in flight play out, then the day ends
        per = done / self.parents_sent if self.parents_sent >= 50 else 12.0
        still = max(1.0, (self.target - done) / max(per, 1.0))
        mean = max((self.cutoff - t) / still, 20 * US)
        self._at(t + 1 + int(self.rng.expovariate(1.0 / mean)), self._arrival)

    def _cl_ord_id(self, client: str) -> str:
        n = self.next_cl[client] = self.next_cl.get(client, 0) + 1
        return f"{client[:2]}{n:07d}"

    def _new_order(self, t: int) -> None:
        rng = self.rng
        client = rng.choices(self.client_names, self.client_weights)[0]
        allowed = self.client_syms.get(client)
        if allowed is not None and rng.random() < 0.99:
            name = rng.choice(allowed)
        else:
            name = rng.choices(self.sym_names, self.sym_weights)[0]
        sym = self.syms[name]
        r = rng.random()
        side = "buy" if r < 0.5 else "sell" if r < 0.97 else "sell_short"
        qty = rng.choices(LOTS, LOT_WEIGHTS)[0] * 100
        if self.odd_lots[client] and rng.random() < 0.1:
            qty += rng.randrange(1, 100)
        market = rng.random() < 0.3
        px = 0
        if not market:
            off = rng.uniform(-0.004, 0.008) * sym.mid  # mostly at or through the touch
            px = _on_tick(int(sym.mid + off if _buy(side) else sym.mid - off))
        if rng.random() < 0.65:
            algo, params = "vwap", rng.choice(VWAP_PARAMS)
            venue = ""
        else:
            venue = sym.primary if rng.random() < 0.5 else "XNYS"
            algo, params = "dma", (("venue", venue),)
        locate = "GSCO" if side == "sell_short" and (sym.hard_to_borrow or rng.random() < 0.3) \
            else ""
        # The share of bad requests a real day has.
        bad = rng.random()
        if bad < 0.012:
            self.stats.rejects["client_bad_new"] = self.stats.rejects.get("client_bad_new", 0) + 1
            if bad < 0.003 and not self.odd_lots[client]:
                qty += 37  # an odd lot
            elif bad < 0.005 and px:
                px += 1 if _tick(px) > 1 else 0  # off the tick (PNY has none to miss)
            elif bad < 0.007 and px:
                px = _on_tick(px * 12 // 10 if _buy(side) else px * 8 // 10)  # the collar
            elif bad < 0.008:
                name = "ZZZZ"
            elif bad < 0.009:
                algo, params = "twap", ()
            elif bad < 0.010:
                qty = 2_000_000
            elif bad < 0.011 and client in self.last_new:
                self._sequence(t, CLIENT_GW, self.last_new[client])  # a resent ClOrdID
                return
            else:
                side, locate = "sell_short", ""
                sym = self.syms["IBM"]
                name = sym.name
                px = _on_tick(sym.mid) if px else 0
        cl = self._cl_ord_id(client)
        msg = NewOrder(client=client, cl_ord_id=cl, symbol=name, side=side,  # type: ignore[arg-type]
                       qty=qty, ord_type="market" if market else "limit", limit_px=px,
                       algo=algo, algo_params=params, locate_broker=locate,
                       transact_ns=t)
        self.last_new[client] = msg
        self.by_cl[(client, cl)] = _Parent(client, cl, sym, side, qty, msg.ord_type, px, algo,
                                           venue, self.odd_lots[client])
        self._sequence(t, CLIENT_GW, msg)
        if rng.random() < 0.0005:  # a cancel for an order the OMS never had
            self._at(t + 3 * MS, self._unknown_cancel, client)

    def _unknown_cancel(self, t: int, client: str) -> None:
        self._sequence(t, CLIENT_GW, CancelOrder(
            client=client, cl_ord_id=self._cl_ord_id(client), orig_cl_ord_id="XX0000000",
            symbol="IBM", side="buy", transact_ns=t))

    def _client_plans(self, p: _Parent) -> None:
        """Once an order is accepted: maybe amend it, cancel it, or ask for its status."""
        rng = self.rng
        life = max(int(rng.uniform(1, 300) * SECOND * self.scale), 2 * MS)
        r = rng.random()
        if r < 0.07:
            self._at(self.ts + life, self._client_replace, p)
        elif r < 0.13:
            self._at(self.ts + life, self._client_cancel, p)
        if rng.random() < 0.01:
            self._at(self.ts + life // 2, self._client_status, p)

    def _client_replace(self, t: int, p: _Parent) -> None:
        rng = self.rng
        if t >= self.cutoff:
            return
        if (not p.live or p.pending or p.closing) and rng.random() > 0.05:
            return  # most clients know; some race a fill or their own request
        kind = rng.random()
        qty = px = 0
        lot = 100
        if kind < 0.3 and p.ord_type == "limit":
            step = rng.choice((-3, -2, -1, 1, 2, 3)) * _tick(p.limit_px)
            px = p.limit_px + step
            sym = p.sym
            if not sym.lo <= px <= sym.ref * 103 // 100:
                px = p.limit_px - step
        elif kind < 0.65:
            qty = p.qty + rng.choice(LOTS[:6]) * lot
        else:
            qty = max(lot, p.qty - rng.choice(LOTS[:6]) * lot)
            if p.odd_lots and rng.random() < 0.2:
                qty = max(1, qty - rng.randrange(1, 100))
        if qty == p.qty and not px:
            qty += lot
        cl = self._cl_ord_id(p.client)
        if p.live and not p.pending:
            p.pending, p.pend_cl = "replace", cl
        self._sequence(t, CLIENT_GW, ReplaceOrder(
            client=p.client, cl_ord_id=cl, orig_cl_ord_id=p.cl_ord_id, symbol=p.sym.name,
            side=p.side, qty=qty, limit_px=px, transact_ns=t))  # type: ignore[arg-type]
        if p.live and rng.random() < 0.3:  # and later, perhaps, changes their mind
            self._at(t + max(int(rng.uniform(1, 120) * SECOND * self.scale), MS),
                     self._client_cancel, p)

    def _client_cancel(self, t: int, p: _Parent) -> None:
        if t >= self.cutoff:
            return
        if (not p.live or p.pending) and self.rng.random() > 0.05:
            return
        cl = self._cl_ord_id(p.client)
        if p.live and not p.pending:
            p.pending, p.pend_cl = "cancel", cl
        self._sequence(t, CLIENT_GW, CancelOrder(
            client=p.client, cl_ord_id=cl, orig_cl_ord_id=p.cl_ord_id, symbol=p.sym.name,
            side=p.side, transact_ns=t))  # type: ignore[arg-type]

    def _client_status(self, t: int, p: _Parent) -> None:
        self._sequence(t, CLIENT_GW, OrderStatusRequest(
            client=p.client, cl_ord_id=p.cl_ord_id, symbol=p.sym.name,
            side=p.side))  # type: ignore[arg-type]

    # ---------------------------------------------------------------- the algo engine

    def _cap(self, p: _Parent) -> int:
        return min(p.qty, p.pend_qty) if p.amend_pending else p.qty

    def _room(self, p: _Parent) -> int:
        return self._cap(p) - p.cum - sum(c.exposure() for c in p.kids)

    def _limit(self, p: _Parent) -> int:
        if p.amend_pending and p.pend_px:
            return min(p.limit_px, p.pend_px) if _buy(p.side) else max(p.limit_px, p.pend_px)
        return p.limit_px

    def _working(self, p: _Parent) -> bool:
        return p.accepted and not p.done and not p.closing

    def _child_terms(self, p: _Parent, aggressive: bool) -> tuple[str, int]:
        rng = self.rng
        mid = p.sym.mid
        tick = _tick(mid)
        buy = _buy(p.side)
        if p.ord_type == "market":
            if aggressive or rng.random() < 0.6:
                return "market", 0
            k = rng.randrange(0, 3) * tick
            return "limit", _on_tick(mid - k if buy else mid + k)
        lim = self._limit(p)
        if aggressive:
            return "limit", lim
        k = rng.randrange(0, 4) * tick
        px = _on_tick(mid - k if buy else mid + k)
        return "limit", (min(px, lim) if buy else max(px, lim))

    def _on_accepted(self, m: ParentAccepted) -> None:
        p = self.parents.get(m.order_id)
        if p is None:
            return
        rng = self.rng
        if p.algo == "dma":
            p.slices_left = 1
            p.end = self.ts
        else:
            p.slices_left = rng.randrange(2, 7)
            p.end = self.ts + max(int(rng.uniform(20, 900) * SECOND * self.scale), 50 * MS)
        self._at(self.ts + rng.randrange(50, 300) * US, self._slice, p)

    def _slice(self, t: int, p: _Parent) -> None:
        rng = self.rng
        if not self._working(p) or t >= CLOSE_NS:
            return
        if p.slices_left > 0:
            p.slices_left -= 1
        room = self._room(p)
        if room > 0:
            if p.slices_left <= 0:
                qty = room
            else:
                share = room / (p.slices_left + 1) * rng.uniform(0.6, 1.4)
                qty = min(room, max(100, int(share) // 100 * 100))
            aggressive = p.algo == "dma" or p.slices_left == 0 or rng.random() < 0.3
            ord_type, px = self._child_terms(p, aggressive)
            venue = p.venue or (p.sym.primary if rng.random() < 0.5 else rng.choice(ROUTABLE))
            self.n_child += 1
            cid = f"K{self.n_child}"
            c = _Child(cid, p, venue, qty, ord_type, px)
            self.children[cid] = c
            p.kids.append(c)
            self._sequence(t, ALGO, NewChild(parent_id=p.order_id, child_id=cid, venue=venue,
                                             qty=qty, ord_type=ord_type,  # type: ignore[arg-type]
                                             limit_px=px))
        if p.slices_left > 0:
            gap = max((p.end - t) / (p.slices_left + 1), 1 * MS)
            self._at(t + int(gap * rng.uniform(0.5, 1.5)), self._slice, p)

    def _child_ended(self, c: _Child) -> None:
        p = c.p
        if c in p.kids:
            p.kids.remove(c)
        if p.amend_pending:
            self._at(self.ts + self.rng.randrange(50, 300) * US, self._fit, p)
        elif self._working(p) and p.slices_left == 0 and not p.kids and self._room(p) > 0:
            delay = max(int(self.rng.uniform(0.001, 5) * SECOND * self.scale), 200 * US)
            self._at(self.ts + delay, self._slice, p)

    def _schedule_reprice(self, c: _Child) -> None:
        delay = max(int(self.rng.expovariate(1 / 8) * SECOND * self.scale), MS)
        self._at(self.ts + delay, self._reprice, c)

    def _reprice(self, t: int, c: _Child) -> None:
        """The algo engine looks at a resting child: re-price it, resize it, or cancel it."""
        rng = self.rng
        p = c.p
        if c.state != LIVE:
            if rng.random() < 0.02:  # the algo engine had not seen the fill yet
                self._sequence(t, ALGO, CancelChild(parent_id=p.order_id, child_id=c.cid,
                                                    reason="reprice"))
            return
        if c.pending or not self._working(p) or p.amend_pending or t >= CLOSE_NS:
            return
        r = rng.random()
        if r < 0.55 and c.ord_type == "limit":
            tick = _tick(c.px)
            lim = self._limit(p) if p.ord_type == "limit" else 0
            px = c.px + (tick if _buy(p.side) else -tick) * rng.randrange(1, 3)
            if lim:
                px = min(px, lim) if _buy(p.side) else max(px, lim)
            if px > 0 and px != c.px:
                self._sequence(t, ALGO, ReplaceChild(parent_id=p.order_id, child_id=c.cid,
                                                     limit_px=px))
                if rng.random() < 0.5:
                    self._schedule_reprice(c)
                return
        if r < 0.7:
            room = self._room(p)
            if room > 0:
                add = min(room, rng.choice(LOTS[:5]) * 100)
                self._sequence(t, ALGO, ReplaceChild(parent_id=p.order_id, child_id=c.cid,
                                                     qty=c.qty + add))
                return
        if r < 0.8 and c.qty - 100 > c.cum:
            self._sequence(t, ALGO, ReplaceChild(parent_id=p.order_id, child_id=c.cid,
                                                 qty=c.qty - 100))
            return
        self._sequence(t, ALGO, CancelChild(parent_id=p.order_id, child_id=c.cid,
                                            reason="reprice"))

    def _fit(self, t: int, p: _Parent) -> None:
        """Fit the children to the client's pending amendment (as the OMS asks)."""
        if not p.amend_pending or p.done:
            return
        target = max(p.pend_qty, p.cum)
        excess = p.cum + sum(c.exposure() for c in p.kids) - target
        px = p.pend_px if p.ord_type == "limit" else 0
        for c in reversed(list(p.kids)):
            if c.pending or c.state != LIVE:
                continue
            new_px = px if px and not _within(p.side, px, c.px) else 0
            leaves = c.qty - c.cum
            if target == p.cum or (excess > 0 and leaves <= excess):
                self._sequence(t, ALGO, CancelChild(parent_id=p.order_id, child_id=c.cid,
                                                    reason="client amendment"))
                excess -= leaves
            elif excess > 0:
                self._sequence(t, ALGO, ReplaceChild(parent_id=p.order_id, child_id=c.cid,
                                                     qty=c.qty - excess, limit_px=new_px))
                excess = 0
            elif new_px:
                self._sequence(t, ALGO, ReplaceChild(parent_id=p.order_id, child_id=c.cid,
                                                     limit_px=new_px))

    # ---------------------------------------------------------------- venues

    def _venue_at(self, c: _Child, delay: int, fn: Event) -> None:
        t = max(self.ts + delay, c.vt + US)
        c.vt = t
        self._at(t, fn, c)

    def _venue_new(self, t: int, c: _Child) -> None:
        rng = self.rng
        if rng.random() < 0.002:
            self._sequence(t, VENUE_GW, VenueReject(child_id=c.cid,
                                                    reason="price outside the venue's band"))
            c.state = DONE
            self._child_ended(c)
            return
        self.n_vid += 1
        self._sequence(t, VENUE_GW, VenueAck(child_id=c.cid,
                                             venue_order_id=f"{c.venue}-{self.n_vid}"))
        self._schedule_fill(c, first=True)
        if rng.random() < (0.1 if self._marketable(c) else 0.8):
            self._schedule_reprice(c)
        if rng.random() < 0.0005:
            self._at(t + max(int(rng.uniform(1, 60) * SECOND * self.scale), MS),
                     self._venue_unsolicited, c)

    def _marketable(self, c: _Child) -> bool:
        if c.ord_type == "market":
            return True
        mid = c.p.sym.mid
        return c.px >= mid if _buy(c.p.side) else c.px <= mid

    def _schedule_fill(self, c: _Child, first: bool = False) -> None:
        rng = self.rng
        if c.fills:
            return
        if self._marketable(c):
            if not first and rng.random() < 0.1:
                return  # the visible liquidity is gone: the rest rests
            delay = rng.randrange(200, 3000) * US
        else:
            if rng.random() < 0.04:
                return  # nobody comes to this price today
            mean = 5 if rng.random() < 0.7 else 60  # or not for a while
            delay = max(int(rng.expovariate(1 / mean) * SECOND * self.scale), MS)
        c.fills = True
        self._at(self.ts + delay, self._venue_fill, c)

    def _venue_fill(self, t: int, c: _Child) -> None:
        c.fills = False
        if c.state != LIVE or t >= CLOSE_NS:
            return
        rng = self.rng
        sym = c.p.sym
        step = _tick(sym.mid) * rng.choice((-1, 0, 0, 1))
        if sym.lo <= sym.mid + step <= sym.ref * 102 // 100:
            sym.mid += step
        leaves = c.qty - c.cum
        qty = leaves if leaves <= 200 or rng.random() < 0.45 else \
            min(leaves, rng.randrange(1, leaves // 100 + 1) * 100)
        buy = _buy(c.p.side)
        touch = sym.mid + _tick(sym.mid) if buy else sym.mid - _tick(sym.mid)
        px = touch if c.ord_type == "market" else min(c.px, touch) if buy else max(c.px, touch)
        self.n_exec += 1
        fill = VenueFill(child_id=c.cid, exec_id=f"{c.venue[0]}X{self.n_exec}", qty=qty, px=px,
                         liquidity="removed" if self._marketable(c) else "added",
                         leaves_qty=leaves - qty)
        c.vt = max(c.vt, t)
        c.cum += qty
        c.p.cum += qty
        if c.cum >= c.qty:
            c.state = DONE
        self._sequence(t, VENUE_GW, fill)
        if rng.random() < 0.004:  # the venue resends it (PossDup): same exec id
            self._at(t + rng.randrange(1, 20) * MS, self._venue_repeat, fill)
        if c.state == DONE:
            self._child_ended(c)
        else:
            self._schedule_fill(c)

    def _venue_repeat(self, t: int, fill: VenueFill) -> None:
        if t < CLOSE_NS:
            self._sequence(t, VENUE_GW, fill)

    def _venue_cancel(self, t: int, c: _Child) -> None:
        if c.state == LIVE:
            c.state = DONE
            c.pending = ""
            self._sequence(t, VENUE_GW, VenueCanceled(child_id=c.cid))
            self._child_ended(c)
        else:
            self._sequence(t, VENUE_GW, VenueCancelRejected(
                child_id=c.cid, response_to="cancel", reason="too late to cancel"))

    def _venue_unsolicited(self, t: int, c: _Child) -> None:
        if c.state == LIVE and t < CLOSE_NS:
            c.state = DONE
            c.pending = ""
            self._sequence(t, VENUE_GW, VenueCanceled(child_id=c.cid, unsolicited=True,
                                                      reason="self-match prevention"))
            self._child_ended(c)

    def _venue_replace(self, t: int, c: _Child) -> None:
        if c.state != LIVE or c.pend_qty <= c.cum:
            c.pending = ""
            self._sequence(t, VENUE_GW, VenueCancelRejected(
                child_id=c.cid, response_to="replace", reason="too late to replace"))
            if c.p.amend_pending:
                self._at(t + self.rng.randrange(50, 300) * US, self._fit, c.p)
            return
        c.qty = c.pend_qty
        c.px = c.pend_px
        c.pending = ""
        self._sequence(t, VENUE_GW, VenueReplaced(child_id=c.cid, qty=c.qty, limit_px=c.px))
        self._schedule_fill(c)

    # ---------------------------------------------------------------- the OMS's outputs

    def _on_report(self, m: ExecutionReport) -> None:
        if m.order_id == "NONE":
            return
        p = self.parents.get(m.order_id)
        if p is None:
            p = self.by_cl.pop((m.client, m.cl_ord_id), None)
            if p is None:
                return
            p.order_id = m.order_id
            self.parents[m.order_id] = p
        et = m.exec_type
        if et == "new":
            p.accepted = True
            self._client_plans(p)
        elif et == "replaced":
            p.cl_ord_id = m.cl_ord_id
            p.qty = m.order_qty
            p.limit_px = m.limit_px
            p.pending = ""
        elif et in ("rejected", "canceled", "done_for_day", "expired") or (
                m.ord_status == "filled"):
            p.live = False
            p.pending = ""
            if et == "rejected":
                self._count_reject("order_rejected")

    def _on_cancel_reject(self, m: CancelReject) -> None:
        self._count_reject(f"{m.response_to}_rejected_{m.reason}")
        p = self.parents.get(m.order_id)
        if p is not None and p.pending and m.cl_ord_id == p.pend_cl:
            p.pending = ""

    def _count_reject(self, what: str) -> None:
        self.stats.rejects[what] = self.stats.rejects.get(what, 0) + 1

    def _on_amended(self, m: ParentAmended) -> None:
        p = self.parents.get(m.order_id)
        if p is None:
            return
        if m.pending:
            p.amend_pending = True
            p.pend_qty = m.qty
            p.pend_px = m.limit_px
            self._at(self.ts + self.rng.randrange(50, 300) * US, self._fit, p)
            return
        p.amend_pending = False
        p.qty = m.qty
        p.limit_px = m.limit_px
        if self._working(p) and p.slices_left == 0 and not p.kids and self._room(p) > 0:
            self._at(self.ts + self.rng.randrange(100, 2000) * US, self._slice, p)

    def _on_canceling(self, m: ParentCanceling) -> None:
        if self.ts >= EOD_NS:
            self.stats.eod_taken_down += 1
        p = self.parents.get(m.order_id)
        if p is not None:
            p.closing = True

    def _on_done(self, m: ParentDone) -> None:
        p = self.parents.get(m.order_id)
        if p is not None:
            p.done = True
            p.live = False
            p.amend_pending = False

    def _on_child_sent(self, m: ChildOrderSent) -> None:
        c = self.children.get(m.child_id)
        if c is None:
            return
        lat = self.rng.randrange(100, 800) * US
        if m.action == "new":
            c.state = LIVE
            self._venue_at(c, lat, self._venue_new)
        elif m.action == "cancel":
            c.pending = "cancel"
            self._venue_at(c, lat, self._venue_cancel)
        else:
            c.pending = "replace"
            c.pend_qty = m.qty
            c.pend_px = m.limit_px
            self._venue_at(c, lat, self._venue_replace)

    def _on_child_rejected(self, m: ChildRequestRejected) -> None:
        self._count_reject(f"child_{m.request}_rejected")
        if m.request == "new":
            c = self.children.get(m.child_id)
            if c is not None and c.state == 0:
                c.state = DONE
                self._child_ended(c)

    def _on_alert(self, m: Alert) -> None:
        self.stats.alerts[m.code] = self.stats.alerts.get(m.code, 0) + 1


def generate(day: Path, messages: int, seed: int = 1,
             progress: Callable[[int], None] | None = None) -> GenStats:
    """Write the day's journal under `day/journal` and its ref data set under
    `day/refdata` (so the day's tools, `tape post-trade` among them, read it like any
    day); what was written."""
    from refdata.load import save

    gen = DayGenerator(day, messages, seed, progress)
    save(Path(day) / "refdata", gen.refdata.data)
    return gen.run()
