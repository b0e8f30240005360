"""The day's record: one verified pass over a day's journal into plain facts that every
post-trade report is a pure function of.

`read_day(day, config)` reads `DAY/journal` once (CRC-checked; a journal that fails
verification is refused with `PostTradeError` naming the seq), loads the day's ref
data (the set `SystemStart` names) and returns a `DayRecord`:

- `orders`: each client order (parent) by OrderID, in the order the OMS took them:
  its terms, the client requests that reached it (`Request`: new, replace, cancel with
  the frame's seq and stream time), every ExecutionReport the client got (`Report`),
  its children, its final state (`ParentDone`) and why it was cancelled;
- `rejected`: client orders the OMS refused (no OrderID in force);
- `children`: each child order by child id: its route events (`Route`: every
  `ChildOrderSent`, with the ClOrdID the venue got, exactly as the venue gateway
  numbers them), the venue's answers, its executions and when it ended;
- `executions`: every venue execution in stream order (`Execution`: fill, bust or
  correction), with the NBBO at its seq and the widest NBBO of the configured
  tolerance before it, whether its child was already done, and a repeat flag;
- `client_fills`: every trade, trade cancel and trade correct reported to a client;
- `market`: per symbol, the day's regular-way volume, the closing print, and the
  volume and price of the closing window (for the marking-the-close rule);
- `incidents`: Alerts, kill switches, halts and risk parameter changes;
- `clock`: per source, telemetry bounds on its clock against the sequencer's;
- `complete`: whether the journal ends with `SystemStop` (else every report is
  marked incomplete).

Nothing here reads the wall clock or iterates a set: the record, and so every report,
is the same for the same journal under any `PYTHONHASHSEED`.
"""

# determinism: edge module, offline tooling: reads a finished (or running) day's journal

from __future__ import annotations

import datetime as dt
import gc
from array import array
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from post_trade.refs import Refs, refs_for
from refdata.model import RefData, local_midnight_ns
from sequencer.frames import HEADER
from sequencer.journal import JournalCorruption, JournalReader
from sequencer.messages import TYPE_ID, control
from sequencer.messages import admin as adm
from sequencer.messages import executions as ex
from sequencer.messages import marketdata as md
from sequencer.messages import orders as od
from sequencer.sources import BY_ID

MINUTE_NS = 60_000_000_000


class PostTradeError(Exception):
    """A day the records cannot be made from: says why and where (file, seq)."""


@dataclass(frozen=True, slots=True)
class Config:
    """The rules' parameters (defaults are the house's; `tape post-trade --set` overrides)."""

    #: A fill outside the NBBO is excused if the NBBO allowed its price at any moment
    #: within this many ms before the fill (quotes that moved within the venue's latency).
    trade_through_tolerance_ms: int = 5
    #: Wash trades: a client's buy and sell of a symbol at one price within this window.
    wash_window_ms: int = 1_000
    #: Marking the close: the last minutes of the regular session plus the closing auction.
    close_window_min: int = 10
    close_share_pct: float = 20.0  # the firm's share of the window's volume ...
    close_move_bps: float = 10.0  # ... with the close moved this far its way
    #: Layering / spoofing: in any window, this many orders on one side cancelled
    #: without a fill while the client executed on the other side.
    layering_window_s: int = 60
    layering_min_cancels: int = 3
    #: Order to trade: (orders + amendments + cancels) per fill, above this ratio with at
    #: least `otr_min_messages` messages.
    otr_max_ratio: float = 20.0
    otr_min_messages: int = 20


@dataclass(slots=True)
class Request:
    """A client request frame (NewOrder, ReplaceOrder, CancelOrder) for an order."""

    seq: int
    ts_ns: int
    kind: str  # "new" | "replace" | "cancel"
    cl_ord_id: str
    orig_cl_ord_id: str
    qty: int
    limit_px: int
    transact_ns: int


@dataclass(slots=True)
class Report:
    """An ExecutionReport the client got (order status answers are left out)."""

    seq: int
    ts_ns: int
    exec_type: str
    ord_status: str
    cl_ord_id: str
    orig_cl_ord_id: str
    exec_id: str
    order_qty: int
    cum_qty: int
    leaves_qty: int
    last_qty: int
    last_px: int
    avg_px: int
    limit_px: int
    text: str
    reject_reason: str
    last_liquidity: str
    exec_ref_id: str


@dataclass(slots=True)
class Order:
    """A client's order (the parent), by its OrderID."""

    order_id: str
    client: str
    cl_ord_id: str  # as first sent
    symbol: str
    side: str
    qty: int  # as first accepted
    ord_type: str
    limit_px: int
    tif: str
    algo: str
    exec_inst: tuple[str, ...]
    received_seq: int  # the NewOrder frame (0 if not in this journal)
    received_ts: int
    transact_ns: int
    requests: list[Request] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    accepted_seq: int = 0  # the report that accepted it (new or pending new)
    cancel_reason: str = ""  # from ParentCanceling: client, end of day, kill switch ...
    cancel_seq: int = 0
    done_seq: int = 0
    done_ts: int = 0
    done_status: str = ""
    # Current state, from the last report
    cur_cl_ord_id: str = ""
    cur_qty: int = 0
    cur_limit_px: int = 0
    cum_qty: int = 0
    leaves_qty: int = 0
    ord_status: str = ""

    @property
    def open(self) -> bool:
        return self.done_seq == 0 and self.ord_status not in (
            "filled", "canceled", "rejected", "done_for_day", "expired")


@dataclass(slots=True)
class Route:
    """One `ChildOrderSent`: what went to the venue, with the ClOrdID it carried."""

    seq: int
    ts_ns: int
    action: str  # new | cancel | replace
    cl_ord_id: str
    orig_cl_ord_id: str
    qty: int
    limit_px: int
    ord_type: str
    tif: str
    parent_leaves: int  # the parent's leaves when it was sent (new: before this child)


@dataclass(slots=True)
class Child:
    child_id: str
    parent_id: str
    client: str
    venue: str
    destination: str
    symbol: str
    side: str
    qty: int
    ord_type: str
    limit_px: int
    tif: str
    exec_inst: tuple[str, ...]
    routes: list[Route] = field(default_factory=list)
    venue_order_id: str = ""
    acked_seq: int = 0
    rejected_reason: str = ""
    cum_qty: int = 0
    done_seq: int = 0  # filled, cancelled or rejected at the venue
    done_ts: int = 0
    done_how: str = ""  # filled | canceled | rejected
    executions: list[int] = field(default_factory=list)  # indexes into DayRecord.executions
    _seen_exec_ids: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class Execution:
    """A venue execution of a child: a fill, a bust of one, or a correction."""

    seq: int
    ts_ns: int
    kind: str  # fill | bust | correct
    child_id: str
    parent_id: str
    client: str
    symbol: str
    side: str
    venue: str
    destination: str
    exec_id: str
    ref_exec_id: str
    qty: int  # the fill's; a correction's new quantity; a bust's busted quantity
    px: int
    liquidity: str
    nbbo_bid: int  # at the fill's seq (0: none known)
    nbbo_ask: int
    nbbo_seq: int  # the quote that set it
    tol_bid: int  # the lowest bid / highest offer within the tolerance before the fill
    tol_ask: int
    child_done_before: bool  # the child had already ended when this came
    repeat: bool  # the same exec id again (the OMS applies it once)


@dataclass(slots=True)
class ClientFill:
    seq: int
    ts_ns: int
    client: str
    order_id: str
    cl_ord_id: str
    symbol: str
    side: str
    exec_type: str  # trade | trade_cancel | trade_correct
    exec_id: str
    exec_ref_id: str
    qty: int
    px: int
    liquidity: str


@dataclass(slots=True)
class Market:
    """One symbol's prints over the day (regular way) and its closing window."""

    symbol: str
    volume: int = 0
    trades: int = 0
    close_px: int = 0
    close_size: int = 0
    close_seq: int = 0
    window_volume: int = 0  # regular-way shares in the closing window, the auction included
    window_start_px: int = 0  # the last regular-way price before the window
    last_px: int = 0


@dataclass(slots=True)
class Incident:
    seq: int
    ts_ns: int
    kind: str  # alert | kill_switch | release | halt | resume | risk_limit | parameter | ops_cancel
    severity: str
    source: str
    code: str
    text: str


@dataclass(slots=True)
class ClockBucket:
    """One source's clock against the sequencer's over a bucket of the day (wall ns).

    `lo` <= (source clock - sequencer clock) <= `hi`, from the frames' telemetry: a
    source stamps `sent_ns` before the sequencer stamps `recv_ns` (lo = sent - recv),
    and receives a frame after the sequencer received its input (hi = sent - proc -
    recv of the cause)."""

    start_ns: int
    frames: int = 0
    lo: int = -(1 << 62)
    hi: int = 1 << 62


@dataclass(slots=True)
class DayRecord:
    day: Path
    session_date: dt.date
    time_mode: str
    seed: int
    refdata: RefData
    refs: Refs
    config: Config
    frames: int = 0
    last_seq: int = 0
    first_ts: int = 0
    last_ts: int = 0
    complete: bool = False  # ends with SystemStop
    stop_reason: str = ""
    orders: dict[str, Order] = field(default_factory=dict)
    rejected: list[Order] = field(default_factory=list)
    children: dict[str, Child] = field(default_factory=dict)
    executions: list[Execution] = field(default_factory=list)
    client_fills: list[ClientFill] = field(default_factory=list)
    cancel_rejects: list[tuple[int, int, str, str, str, str]] = field(default_factory=list)
    child_rejects: list[tuple[int, int, str, str, str, str]] = field(default_factory=list)
    market: dict[str, Market] = field(default_factory=dict)
    incidents: list[Incident] = field(default_factory=list)
    clock: dict[str, list[ClockBucket]] = field(default_factory=dict)
    type_counts: dict[str, int] = field(default_factory=dict)
    #: (ts, type id, payload) of the frames of the types `read_day` was asked to keep,
    #: then (last ts, -1, b"") for the journal's end (a report's own pass, saved).
    kept: list[tuple[int, int, bytes]] = field(default_factory=list)

    def close_ns(self, symbol: str) -> int:
        """The regular session's close of `symbol`'s primary venue, stream ns."""
        sym = self.refdata.find(symbol)
        code = sym.primary_venue if sym is not None else "XNYS"
        try:
            v = self.refdata.venue(code)
        except KeyError:
            return local_midnight_ns(self.session_date, "America/New_York") + 16 * 3_600 * 10**9
        return local_midnight_ns(self.session_date, v.timezone) + v.close_ms * 1_000_000

    def source_name(self, source_id: int) -> str:
        s = BY_ID.get(source_id)
        return s.name if s is not None else f"source {source_id}"


# ---------------------------------------------------------------------------- reading

_T = TYPE_ID
_WANT: dict[int, type[Any]] = {
    _T[t]: t for t in (
        control.SystemStart, control.SystemStop, control.Alert,
        adm.EngageKillSwitch, adm.ReleaseKillSwitch, adm.HaltTrading, adm.ResumeTrading,
        adm.SetRiskLimit, adm.SetParameter, adm.CancelParent,
        md.Quote, md.Trade, md.MarketSnapshot,
        od.NewOrder, od.CancelOrder, od.ReplaceOrder, od.ChildOrderSent,
        od.ChildRequestRejected, od.ParentAccepted, od.ParentCanceling, od.ParentDone,
        ex.ExecutionReport, ex.CancelReject, ex.VenueAck, ex.VenueReject, ex.VenueFill,
        ex.VenueCanceled, ex.VenueReplaced, ex.VenueRestated, ex.VenueTradeCanceled,
        ex.VenueTradeCorrected,
    )
}
_DECODERS = {tid: msgspec.msgpack.Decoder(t) for tid, t in _WANT.items()}
_unpack = HEADER.unpack_from
_CLOCK_BUCKET_NS = 10 * MINUTE_NS
_ACCEPTS = frozenset(("new", "pending_new"))
_ANSWERS = frozenset(("replaced", "canceled", "pending_cancel", "pending_replace"))
_TRADES = frozenset(("trade", "trade_cancel", "trade_correct"))


@contextmanager
def no_gc() -> Iterator[None]:
    """The cyclic garbage collector off for a while: a day's record is millions of small
    objects and no cycles, and each full collection would walk all of them (half the
    time of a pass over an order-heavy day). Nested uses keep it off until the outer
    one ends."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def read_day(day: Path, config: Config | None = None, *, refdata: RefData | None = None,
             verify: bool = True, progress: Callable[[int], None] | None = None,
             keep: frozenset[int] = frozenset()) -> DayRecord:
    """One pass over `DAY/journal` into a `DayRecord` (see the module docstring).
    `progress` is called with the bytes of each batch read (for a progress bar);
    frames of the type ids `keep` are kept raw in `DayRecord.kept`."""
    day = Path(day)
    jdir = day / "journal"
    if not jdir.is_dir():
        raise PostTradeError(f"{day}: no journal (expected {jdir})")
    r = _Reader(day, config or Config(), refdata, keep)
    try:
        with no_gc(), JournalReader(jdir, verify=verify) as reader:
            while batch := reader.read_raw(65536):
                r.take(batch)
                if progress is not None:
                    progress(sum(map(len, batch)))
    except JournalCorruption as e:
        raise PostTradeError(f"{jdir}: the journal fails verification at seq {e.seq} "
                             f"({e.why}); run `tape journal verify {day}`") from None
    except (ValueError, OSError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise PostTradeError(f"{jdir}: the journal cannot be read: {e}") from None
    return r.finish()


def _by(user: str) -> str:
    """Who took an admin command, when the command names them (the blotter's do)."""
    return f" (by {user})" if user else ""


class _Reader:
    def __init__(self, day: Path, config: Config, refdata: RefData | None,
                 keep: frozenset[int] = frozenset()) -> None:
        self.day = day
        self.keep = keep
        self.kept: list[tuple[int, int, bytes]] = []
        self.config = config
        self.refdata_given = refdata
        self.rec: DayRecord | None = None
        self.r: DayRecord  # = rec, once SystemStart has come (the handlers' shorthand)
        self.recv = array("q", [0])  # recv_ns by seq (telemetry, for the clock bounds)
        # current NBBO per symbol id (bid, ask, seq) and its recent history
        self.nbbo: dict[int, tuple[int, int, int]] = {}
        self.history: dict[int, deque[tuple[int, int, int]]] = {}
        self.names: dict[int, str] = {}
        self.ids: dict[str, int] = {}
        self.requests: dict[tuple[str, str], Request] = {}  # (client, ClOrdID) -> request
        self.by_cl: dict[tuple[str, str], str] = {}  # (client, ClOrdID) -> OrderID
        self.route_n: dict[str, int] = {}
        self.window_start: dict[str, int] = {}
        self.tol_ns = config.trade_through_tolerance_ms * 1_000_000
        self.counts = [0] * 65_536  # frames by type id
        self.before_start = 0  # frames before SystemStart (none in a well-formed journal)
        # type id -> handler(seq, ts, source, message): only SystemStart until the day starts
        self.handlers: dict[int, Callable[[int, int, int, Any], None]] = {
            _T[control.SystemStart]: self._on_start}

    # ---------------------------------------------------------------- frames
    def take(self, batch: list[bytes]) -> None:
        recv_append = self.recv.append
        counts = self.counts
        decoders = _DECODERS
        handlers = self.handlers
        clock = self._clock
        keep, kept_append = self.keep, self.kept.append
        seq = ts = 0
        for raw in batch:
            _m, _c, seq, ts, recv_ns, src, tid, _f, _ss, cause, sent, _e, _l, proc = _unpack(raw)
            recv_append(recv_ns)
            counts[tid] += 1
            if keep and tid in keep:
                kept_append((ts, tid, raw[80:]))
            if sent and src and recv_ns:
                clock(src, sent, recv_ns, cause, proc)
            h = handlers.get(tid)
            if h is not None:
                h(seq, ts, src, decoders[tid].decode(raw[80:]))
        rec = self.rec
        if rec is not None and batch:
            rec.frames = len(self.recv) - 1 - self.before_start
            rec.last_seq, rec.last_ts = seq, ts

    def _clock(self, src: int, sent: int, recv_ns: int, cause: int, proc: int) -> None:
        rec = self.rec
        if rec is None:
            return
        name = rec.source_name(src)
        buckets = rec.clock.get(name)
        if buckets is None:
            buckets = rec.clock[name] = []
        start = recv_ns - recv_ns % _CLOCK_BUCKET_NS
        if not buckets or buckets[-1].start_ns != start:
            buckets.append(ClockBucket(start_ns=start))
        b = buckets[-1]
        b.frames += 1
        lo = sent - recv_ns
        b.lo = max(b.lo, lo)
        if 0 < cause < len(self.recv):
            crecv = self.recv[cause]
            if crecv:
                hi = sent - proc - crecv
                b.hi = min(b.hi, hi)

    def _on_start(self, seq: int, ts: int, src: int, m: control.SystemStart) -> None:
        if self.rec is not None:
            return
        self.before_start = len(self.recv) - 2
        self._start(seq, ts, m)
        # One handler per type (no isinstance chain: most frames of a day go through
        # here). In place: `take` holds this dict for the rest of its batch.
        table: dict[type[Any], Callable[[int, int, int, Any], None]] = {
            md.Quote: self._quote, md.Trade: self._trade, md.MarketSnapshot: self._snapshot,
            ex.VenueFill: self._fill, ex.ExecutionReport: self._report,
            od.ChildOrderSent: self._route, od.NewOrder: self._request,
            od.ReplaceOrder: self._request, od.CancelOrder: self._request,
            od.ParentAccepted: self._accepted, ex.VenueAck: self._ack,
            ex.VenueReject: self._venue_reject, ex.VenueCanceled: self._venue_canceled,
            ex.VenueReplaced: self._venue_changed, ex.VenueRestated: self._venue_changed,
            ex.VenueTradeCanceled: self._trade_canceled,
            ex.VenueTradeCorrected: self._trade_corrected,
            od.ParentCanceling: self._canceling, od.ParentDone: self._done,
            ex.CancelReject: self._cancel_reject, od.ChildRequestRejected: self._child_reject,
            control.Alert: self._alert, adm.EngageKillSwitch: self._kill,
            adm.ReleaseKillSwitch: self._kill, adm.HaltTrading: self._halt,
            adm.ResumeTrading: self._halt, adm.SetRiskLimit: self._risk_limit,
            adm.SetParameter: self._ignore, adm.CancelParent: self._ops_cancel,
            control.SystemStop: self._stop,
            control.SystemStart: self._ignore,
        }
        self.handlers.clear()
        self.handlers.update({_T[t]: fn for t, fn in table.items()})

    def _start(self, seq: int, ts: int, m: control.SystemStart) -> None:
        from refdata.load import load, load_for_day

        rd = self.refdata_given
        if rd is None:
            try:
                rd = (load_for_day(self.day, m.refdata_digest) if m.refdata_digest
                      else load(self.day / "refdata"))
            except Exception as e:
                raise PostTradeError(f"{self.day}: the day's ref data cannot be used: {e}") \
                    from None
        refs = refs_for(rd)
        self.rec = self.r = DayRecord(
            day=self.day, session_date=m.session_date, time_mode=m.time_mode, seed=m.seed,
            refdata=rd, refs=refs, config=self.config, frames=1, last_seq=seq, first_ts=ts,
            last_ts=ts)
        for s in rd.symbols:
            self.names[s.id] = s.name
            self.ids[s.name] = s.id

    # ---------------------------------------------------------------- messages
    # Each handler takes (seq, ts, source id, message); `self.r` is the day's record.
    def _ignore(self, seq: int, ts: int, src: int, m: Any) -> None:
        pass

    def _snapshot(self, seq: int, ts: int, src: int, m: md.MarketSnapshot) -> None:
        for q in m.quotes:
            self._quote(seq, ts, src, q)

    def _ack(self, seq: int, ts: int, src: int, m: ex.VenueAck) -> None:
        c = self._child(self.r, m.child_id)
        c.venue_order_id = c.venue_order_id or m.venue_order_id
        c.acked_seq = c.acked_seq or seq

    def _venue_reject(self, seq: int, ts: int, src: int, m: ex.VenueReject) -> None:
        c = self._child(self.r, m.child_id)
        c.rejected_reason = m.reason
        self._child_done(c, seq, ts, "rejected")

    def _venue_canceled(self, seq: int, ts: int, src: int, m: ex.VenueCanceled) -> None:
        self._child_done(self._child(self.r, m.child_id), seq, ts, "canceled")

    def _venue_changed(self, seq: int, ts: int, src: int,
                       m: ex.VenueReplaced | ex.VenueRestated) -> None:
        c = self.r.children.get(m.child_id)
        if c is not None:
            c.qty = m.qty
            c.limit_px = m.limit_px or c.limit_px
            if c.cum_qty >= c.qty > 0:
                self._child_done(c, seq, ts, "filled")

    def _trade_canceled(self, seq: int, ts: int, src: int, m: ex.VenueTradeCanceled) -> None:
        self._bust(self.r, seq, ts, m.child_id, m.exec_id, m.ref_exec_id, None)

    def _trade_corrected(self, seq: int, ts: int, src: int, m: ex.VenueTradeCorrected
                         ) -> None:
        self._bust(self.r, seq, ts, m.child_id, m.exec_id, m.ref_exec_id, (m.qty, m.px))

    def _canceling(self, seq: int, ts: int, src: int, m: od.ParentCanceling) -> None:
        o = self.r.orders.get(m.order_id)
        if o is not None and not o.cancel_seq:
            o.cancel_reason, o.cancel_seq = m.reason, seq

    def _done(self, seq: int, ts: int, src: int, m: od.ParentDone) -> None:
        o = self.r.orders.get(m.order_id)
        if o is not None:
            o.done_seq, o.done_ts, o.done_status = seq, ts, m.ord_status

    def _cancel_reject(self, seq: int, ts: int, src: int, m: ex.CancelReject) -> None:
        self.r.cancel_rejects.append((seq, ts, m.client, m.cl_ord_id, m.response_to, m.reason))

    def _child_reject(self, seq: int, ts: int, src: int, m: od.ChildRequestRejected) -> None:
        self.r.child_rejects.append((seq, ts, m.parent_id, m.child_id, m.request, m.reason))

    def _alert(self, seq: int, ts: int, src: int, m: control.Alert) -> None:
        self.r.incidents.append(Incident(seq, ts, "alert", m.severity, m.source, m.code,
                                         m.text))

    def _kill(self, seq: int, ts: int, src: int,
              m: adm.EngageKillSwitch | adm.ReleaseKillSwitch) -> None:
        engage = isinstance(m, adm.EngageKillSwitch)
        self.r.incidents.append(Incident(
            seq, ts, "kill_switch" if engage else "release",
            "critical" if engage else "warning", self.r.source_name(src), m.scope,
            f"{m.scope} {m.value} {m.reason}".strip() + _by(m.user)))

    def _halt(self, seq: int, ts: int, src: int,
              m: adm.HaltTrading | adm.ResumeTrading) -> None:
        kind = "halt" if isinstance(m, adm.HaltTrading) else "resume"
        self.r.incidents.append(Incident(
            seq, ts, kind, "warning", self.r.source_name(src), kind,
            " ".join(str(v) for v in msgspec.structs.astuple(m) if v)))

    def _risk_limit(self, seq: int, ts: int, src: int, m: adm.SetRiskLimit) -> None:
        self.r.incidents.append(Incident(
            seq, ts, "risk_limit", "info", self.r.source_name(src), m.limit,
            f"{m.scope} {m.value} {m.limit} {m.reason}".strip() + _by(m.user)))

    def _ops_cancel(self, seq: int, ts: int, src: int, m: adm.CancelParent) -> None:
        self.r.incidents.append(Incident(
            seq, ts, "ops_cancel", "warning", self.r.source_name(src), m.order_id,
            f"{m.order_id} {m.reason}".strip() + _by(m.user)))

    def _stop(self, seq: int, ts: int, src: int, m: control.SystemStop) -> None:
        self.r.complete, self.r.stop_reason = True, m.reason

    def _quote(self, seq: int, ts: int, src: int, q: md.Quote) -> None:
        if not (q.nbbo_bid_px or q.nbbo_ask_px):
            return
        sid = q.symbol_id
        new = (q.nbbo_bid_px, q.nbbo_ask_px, seq)
        old = self.nbbo.get(sid)
        self.nbbo[sid] = new
        if self.tol_ns and old is not None and (old[0], old[1]) != (new[0], new[1]):
            h = self.history.get(sid)
            if h is None:
                h = self.history[sid] = deque()
            h.append((ts, old[0], old[1]))  # the NBBO that held until ts
            limit = ts - self.tol_ns
            while h and h[0][0] < limit:
                h.popleft()

    def _trade(self, seq: int, ts: int, src: int, t: md.Trade) -> None:
        rec = self.r
        name = self.names.get(t.symbol_id)
        if name is None or not t.flags & md.REGULAR_WAY:
            return
        mk = rec.market.get(name)
        if mk is None:
            mk = rec.market[name] = Market(symbol=name)
            self.window_start[name] = rec.close_ns(name) - rec.config.close_window_min \
                * MINUTE_NS
        mk.volume += t.size
        mk.trades += 1
        if t.flags & md.CLOSING_PRINT:
            mk.close_px, mk.close_size, mk.close_seq = t.price, mk.close_size + t.size, seq
        if ts >= self.window_start[name] or t.flags & md.CLOSING_PRINT:
            mk.window_volume += t.size
        elif not t.flags & md.OPENING_PRINT:
            mk.window_start_px = t.price
        mk.last_px = t.price

    def _request(self, seq: int, ts: int, src: int,
                 m: od.NewOrder | od.ReplaceOrder | od.CancelOrder) -> None:
        if isinstance(m, od.NewOrder):
            r = Request(seq, ts, "new", m.cl_ord_id, "", m.qty, m.limit_px, m.transact_ns)
        elif isinstance(m, od.ReplaceOrder):
            r = Request(seq, ts, "replace", m.cl_ord_id, m.orig_cl_ord_id, m.qty, m.limit_px,
                        m.transact_ns)
        else:
            r = Request(seq, ts, "cancel", m.cl_ord_id, m.orig_cl_ord_id, 0, 0, m.transact_ns)
        self.requests[(m.client, m.cl_ord_id)] = r

    def _accepted(self, seq: int, ts: int, src: int, m: od.ParentAccepted) -> None:
        rec = self.r
        o = rec.orders.get(m.order_id)
        if o is None:
            o = self._new_order(rec, m.order_id, m.client, m.cl_ord_id, m.symbol, m.side,
                                m.qty, m.ord_type, m.limit_px, m.tif, seq, ts)
        # the accepted terms are the order's (a report may have come first)
        o.qty, o.ord_type, o.limit_px, o.tif, o.algo = (m.qty, m.ord_type, m.limit_px, m.tif,
                                                         m.algo)

    def _new_order(self, rec: DayRecord, order_id: str, client: str, cl_ord_id: str,
                   symbol: str, side: str, qty: int, ord_type: str, limit_px: int, tif: str,
                   seq: int, ts: int) -> Order:
        req = self.requests.get((client, cl_ord_id))
        o = Order(order_id=order_id, client=client, cl_ord_id=cl_ord_id, symbol=symbol,
                  side=side, qty=qty, ord_type=ord_type, limit_px=limit_px, tif=tif, algo="",
                  exec_inst=(), received_seq=req.seq if req else seq,
                  received_ts=req.ts_ns if req else ts,
                  transact_ns=req.transact_ns if req else 0,
                  cur_cl_ord_id=cl_ord_id, cur_qty=qty, cur_limit_px=limit_px)
        if req is not None:
            o.requests.append(req)
        rec.orders[order_id] = o
        self.by_cl[(client, cl_ord_id)] = order_id
        return o

    def _report(self, seq: int, ts: int, src: int, m: ex.ExecutionReport) -> None:
        rec = self.r
        if m.exec_type == "order_status":
            return
        o = rec.orders.get(m.order_id)
        if o is None:
            if m.exec_type == "rejected" and (m.client, m.cl_ord_id) not in self.by_cl:
                req = self.requests.get((m.client, m.cl_ord_id))
                r = Order(order_id=m.order_id, client=m.client, cl_ord_id=m.cl_ord_id,
                          symbol=m.symbol, side=m.side, qty=m.order_qty, ord_type="limit"
                          if m.limit_px else "market", limit_px=m.limit_px, tif="day",
                          algo="", exec_inst=m.exec_inst,
                          received_seq=req.seq if req else seq,
                          received_ts=req.ts_ns if req else ts,
                          transact_ns=req.transact_ns if req else 0, ord_status="rejected")
                r.reports.append(_as_report(seq, ts, m))
                rec.rejected.append(r)
                return
            o = self._new_order(rec, m.order_id, m.client, m.cl_ord_id, m.symbol, m.side,
                                m.order_qty, "limit" if m.limit_px else "market", m.limit_px,
                                "day", seq, ts)
        if m.exec_inst and not o.exec_inst:
            o.exec_inst = m.exec_inst
        et = m.exec_type
        o.reports.append(_as_report(seq, ts, m))
        if et in _ACCEPTS and not o.accepted_seq:
            o.accepted_seq = seq
        cl = m.cl_ord_id
        if et in _ANSWERS or (et == "rejected" and cl != o.cl_ord_id):
            req = self.requests.get((m.client, cl))
            if req is not None and all(q is not req for q in o.requests):
                o.requests.append(req)
        if cl != o.cur_cl_ord_id and cl:
            self.by_cl[(m.client, cl)] = o.order_id
            o.cur_cl_ord_id = cl
        o.cur_qty, o.cum_qty, o.leaves_qty = m.order_qty, m.cum_qty, m.leaves_qty
        if m.limit_px:
            o.cur_limit_px = m.limit_px
        o.ord_status = m.ord_status
        if et in _TRADES:
            rec.client_fills.append(ClientFill(
                seq, ts, m.client, m.order_id, cl, m.symbol, m.side, et, m.exec_id,
                m.exec_ref_id, m.last_qty, m.last_px, m.last_liquidity))

    def _route(self, seq: int, ts: int, src: int, m: od.ChildOrderSent) -> None:
        rec = self.r
        o = rec.orders.get(m.parent_id)
        c = rec.children.get(m.child_id)
        if m.action == "new" or c is None:
            # Venue events may precede the route in stream order (the OMS's output is
            # sequenced after inputs that arrived while it decided): they are the child's.
            early = c if c is not None and not c.routes else None
            leaves = o.cur_qty - o.cum_qty if o is not None else 0
            c = Child(child_id=m.child_id, parent_id=m.parent_id,
                      client=o.client if o is not None else "", venue=m.venue,
                      destination=m.destination, symbol=m.symbol, side=m.side, qty=m.qty,
                      ord_type=m.ord_type, limit_px=m.limit_px, tif=m.tif,
                      exec_inst=m.exec_inst)
            if early is not None:
                self._adopt(rec, c, early)
            rec.children[m.child_id] = c
            if o is not None:
                o.children.append(m.child_id)
            c.routes.append(Route(seq, ts, "new", m.child_id, "", m.qty, m.limit_px,
                                  m.ord_type, m.tif, leaves))
            return
        # The venue gateway's numbering (fix_gateways/venue_fix.py): the n-th request
        # after the new order goes out as "{child_id}.{n}", naming the previous one.
        n = self.route_n.get(m.child_id, 0) + 1
        self.route_n[m.child_id] = n
        prev = c.routes[-1].cl_ord_id
        leaves = o.cur_qty - o.cum_qty if o is not None else 0
        c.routes.append(Route(seq, ts, m.action, f"{m.child_id}.{n}", prev, m.qty, m.limit_px,
                              m.ord_type, m.tif, leaves))

    @staticmethod
    def _adopt(rec: DayRecord, c: Child, early: Child) -> None:
        """`c` takes over the venue events recorded on `early` before its route."""
        c.executions, c.cum_qty, c._seen_exec_ids = (early.executions, early.cum_qty,
                                                     early._seen_exec_ids)
        c.venue_order_id, c.acked_seq, c.rejected_reason = (early.venue_order_id,
                                                            early.acked_seq,
                                                            early.rejected_reason)
        c.done_seq, c.done_ts, c.done_how = early.done_seq, early.done_ts, early.done_how
        for i in c.executions:
            e = rec.executions[i]
            e.parent_id, e.client, e.symbol, e.side = c.parent_id, c.client, c.symbol, c.side
            e.venue, e.destination = c.venue, c.destination

    @staticmethod
    def _child(rec: DayRecord, child_id: str) -> Child:
        """The child, or a placeholder for a child whose route is not (yet) on the stream."""
        c = rec.children.get(child_id)
        if c is None:
            c = Child(child_id=child_id, parent_id="", client="", venue="", destination="",
                      symbol="", side="", qty=0, ord_type="", limit_px=0, tif="", exec_inst=())
            rec.children[child_id] = c
        return c

    def _fill(self, seq: int, ts: int, src: int, m: ex.VenueFill) -> None:
        rec = self.r
        c = self._child(rec, m.child_id)
        repeat = m.exec_id in c._seen_exec_ids
        done_before = bool(c.done_seq) and not repeat
        e = self._execution(rec, seq, ts, "fill", c, m.exec_id, "", m.qty, m.px, m.liquidity,
                            done_before, repeat)
        if not repeat:
            c._seen_exec_ids[m.exec_id] = len(rec.executions)
            c.cum_qty += m.qty
        rec.executions.append(e)
        c.executions.append(len(rec.executions) - 1)
        if not repeat and c.qty and c.cum_qty >= c.qty and not c.done_seq:
            self._child_done(c, seq, ts, "filled")

    def _bust(self, rec: DayRecord, seq: int, ts: int, child_id: str, exec_id: str,
              ref: str, correct: tuple[int, int] | None) -> None:
        c = rec.children.get(child_id)
        if c is None:
            return
        repeat = exec_id in c._seen_exec_ids
        prior = c._seen_exec_ids.get(ref)
        old_qty = rec.executions[prior].qty if prior is not None else 0
        if correct is None:
            e = self._execution(rec, seq, ts, "bust", c, exec_id, ref, old_qty,
                                rec.executions[prior].px if prior is not None else 0, "",
                                False, repeat)
            if not repeat:
                c.cum_qty -= old_qty
        else:
            e = self._execution(rec, seq, ts, "correct", c, exec_id, ref, correct[0],
                                correct[1], rec.executions[prior].liquidity
                                if prior is not None else "", False, repeat)
            if not repeat:
                c.cum_qty += correct[0] - old_qty
        if not repeat:
            c._seen_exec_ids[exec_id] = len(rec.executions)
        rec.executions.append(e)
        c.executions.append(len(rec.executions) - 1)
        if c.done_how == "filled" and c.cum_qty < c.qty:
            c.done_seq, c.done_ts, c.done_how = 0, 0, ""

    def _execution(self, rec: DayRecord, seq: int, ts: int, kind: str, c: Child, exec_id: str,
                   ref: str, qty: int, px: int, liquidity: str, done_before: bool,
                   repeat: bool) -> Execution:
        sid = self.ids.get(c.symbol, 0)
        bid, ask, nseq = self.nbbo.get(sid, (0, 0, 0))
        tol_bid, tol_ask = bid, ask
        h = self.history.get(sid)
        if h:
            limit = ts - self.tol_ns
            for t_end, b, a in h:
                if t_end >= limit:
                    if b and (not tol_bid or b < tol_bid):
                        tol_bid = b
                    tol_ask = max(tol_ask, a)
        return Execution(seq, ts, kind, c.child_id, c.parent_id, c.client, c.symbol, c.side,
                         c.venue, c.destination, exec_id, ref, qty, px, liquidity, bid, ask,
                         nseq, tol_bid, tol_ask, done_before, repeat)

    @staticmethod
    def _child_done(c: Child, seq: int, ts: int, how: str) -> None:
        if not c.done_seq:
            c.done_seq, c.done_ts, c.done_how = seq, ts, how

    def finish(self) -> DayRecord:
        rec = self.rec
        if rec is None:
            raise PostTradeError(f"{self.day / 'journal'}: no SystemStart (an empty or "
                                 f"foreign journal)")
        from sequencer.messages import type_name

        rec.type_counts = {type_name(t): n for t, n in enumerate(self.counts) if n}
        if self.keep:
            rec.kept = self.kept
            rec.kept.append((rec.last_ts, -1, b""))
        clients = {o.client for o in rec.orders.values()}
        dests = {c.destination for c in rec.children.values() if c.destination}
        rec.refs = refs_for(rec.refdata, sorted(clients), sorted(dests))
        return rec


def _as_report(seq: int, ts: int, m: ex.ExecutionReport) -> Report:
    return Report(seq, ts, m.exec_type, m.ord_status, m.cl_ord_id, m.orig_cl_ord_id, m.exec_id,
                  m.order_qty, m.cum_qty, m.leaves_qty, m.last_qty, m.last_px, m.avg_px,
                  m.limit_px, m.text, m.reject_reason, m.last_liquidity, m.exec_ref_id)


def side_sign(side: str) -> int:
    """+1 for a buy, -1 for any sale."""
    return 1 if side == "buy" else -1

