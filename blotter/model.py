"""The blotter's picture of a day: the stream folded into rows, one table per view.

`Model.take(raw_frames)` applies journal frames in order; every row it touches
is marked changed, and `Model.changes()` hands over the changed rows once (the
server's batching: a row changed a thousand times between two calls is sent
once, in its last state). `Model.tick()` ages what time alone changes (quote
age, stale data, slippage against the market's VWAP so far), from the stream's
own clock: the model reads no wall clock, so the same frames give the same
picture, live or at `--at SEQ`.

Rows are msgspec structs, encoded to JSON as they are (field names are the
protocol's: docs/blotter.md). What the page does not show (a child's venue
events, an order's fills and the market's minute buckets for its chart, the
running VWAP sums) is kept beside the rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import msgspec

from sequencer import sources
from sequencer.frames import HEADER
from sequencer.messages import TYPE_ID, Message, control
from sequencer.messages import admin as adm
from sequencer.messages import executions as ex
from sequencer.messages import marketdata as md
from sequencer.messages import orders as od
from sequencer.messages.executions import AVG_PX_SCALE
from sequencer.messages.marketdata import PRICE_SCALE

SECOND_NS = 1_000_000_000
BUCKET_NS = 60 * SECOND_NS  # the order chart's bars: one a minute
TABLES = ("parents", "children", "executions", "alerts", "sessions", "market")
#: A parent's status once nothing more can happen to it.
DONE = frozenset({"filled", "canceled", "rejected", "done_for_day", "expired"})

_unpack = HEADER.unpack_from
_HEADER_SIZE = HEADER.size


def _px(v: int) -> float | None:
    return v / PRICE_SCALE if v else None


# ---------------------------------------------------------------------------- rows

class Parent(msgspec.Struct, gc=False):
    id: str
    client: str
    cl_ord_id: str
    symbol: str
    side: str
    qty: int
    ord_type: str
    limit_px: float | None
    algo: str
    status: str = "new"
    filled: int = 0
    leaves: int = 0
    avg_px: float | None = None
    ivwap: float | None = None
    slippage_bps: float | None = None
    children: int = 0
    arrived_ts: int = 0
    updated_ts: int = 0
    seq: int = 0


class Child(msgspec.Struct, gc=False):
    id: str
    parent_id: str
    client: str
    symbol: str
    side: str
    venue: str
    destination: str
    qty: int
    ord_type: str
    limit_px: float | None
    status: str = "sent"
    filled: int = 0
    leaves: int = 0
    avg_px: float | None = None
    venue_order_id: str = ""
    last_event: str = "sent"
    sent_ts: int = 0
    updated_ts: int = 0
    seq: int = 0


class Execution(msgspec.Struct, gc=False):
    id: str
    kind: str  # venue | client
    exec_id: str
    order_id: str
    child_id: str
    client: str
    symbol: str
    side: str
    qty: int
    px: float | None
    venue: str
    liquidity: str
    ts: int
    seq: int


class AlertRow(msgspec.Struct, gc=False):
    id: str
    ts: int
    severity: str
    source: str
    code: str
    text: str
    seq: int


class Session(msgspec.Struct, gc=False):
    id: str
    kind: str  # venue | client
    name: str
    counterparty: str
    status: str
    reason: str
    ts: int
    seq: int


class MarketRow(msgspec.Struct, gc=False):
    id: str
    symbol: str
    bid: float | None = None
    ask: float | None = None
    bid_size: int = 0
    ask_size: int = 0
    last: float | None = None
    volume: int = 0
    quote_ts: int = 0
    quote_age_s: float | None = None
    state: str = "no quotes"
    stale: bool = False
    phase: str = ""
    seq: int = 0


Row = Parent | Child | Execution | AlertRow | Session | MarketRow


class Event(msgspec.Struct, array_like=True, gc=False):
    """One thing that happened to a child at its venue (the detail pane's list)."""

    seq: int
    ts: int
    kind: str
    text: str
    qty: int = 0
    px: float | None = None


class _Sym(msgspec.Struct, gc=False):
    """A symbol's running market: VWAP sums and minute buckets (volume, px*volume, last)."""

    pv: int = 0  # sum of price * size of regular-way trades (PRICE_SCALE)
    v: int = 0
    buckets: dict[int, list[int]] = msgspec.field(default_factory=dict)
    traded: bool = False  # since the last tick


class _Order(msgspec.Struct, gc=False):
    """What the chart and the slippage need of a parent beyond its row."""

    pv0: int
    v0: int
    fills: list[tuple[int, int, int]] = msgspec.field(default_factory=list)  # ts, qty, px
    done_ts: int = 0
    notional: int = 0  # sum of fill qty * px (PRICE_SCALE) for the avg when reports lack it


# ---------------------------------------------------------------------------- the model

class Model:
    """The day's rows from its frames. `names`: symbol id -> symbol (the ref data's);
    `stale_s`: the quote age past which a symbol's market data counts as stale."""

    def __init__(self, names: dict[int, str] | None = None, *, stale_s: float = 5.0,
                 refdata_loader: Callable[[control.SystemStart], dict[int, str]] | None = None
                 ) -> None:
        self.names: dict[int, str] = dict(names or {})
        self.stale_ns = int(stale_s * SECOND_NS)
        self.refdata_loader = refdata_loader
        self.tables: dict[str, dict[str, Any]] = {t: {} for t in TABLES}
        # changed rows, by table: dicts as ordered sets (the order rows changed in)
        self._changed: dict[str, dict[str, None]] = {t: {} for t in TABLES}
        self.seq = 0
        self.ts = 0
        self.first_ts = 0
        self.date = ""
        self.started = False
        self.stopped = False
        self.frames = 0
        self.kids: dict[str, list[str]] = {}  # parent id -> child ids
        #: child id -> its venue events: (seq, ts, kind, message, a number the words need)
        self.events: dict[str, list[tuple[int, int, str, Any, int]]] = {}
        self.orders: dict[str, _Order] = {}
        self.syms: dict[str, _Sym] = {}
        self.open_filled: dict[str, dict[str, None]] = {}  # symbol -> parents to re-price
        self.child_fills: dict[tuple[str, str], int] = {}  # (child, venue exec id) -> qty
        self.child_px: dict[str, int] = {}  # child id -> sum of fill qty * px
        self.charts_changed: dict[str, None] = {}  # symbols and orders whose chart moved
        self._handlers: dict[int, tuple[msgspec.msgpack.Decoder[Any], Callable[..., None]]] = {
            TYPE_ID[t]: (msgspec.msgpack.Decoder(t), fn) for t, fn in (
                (control.SystemStart, self._start), (control.SystemStop, self._stop),
                (control.Alert, self._alert),
                (od.ParentAccepted, self._accepted), (od.ParentAmended, self._amended),
                (od.ParentReopened, self._reopened), (od.ParentDone, self._done),
                (od.ChildOrderSent, self._child_sent),
                (od.ChildRequestRejected, self._child_rejected),
                (ex.ExecutionReport, self._report), (ex.CancelReject, self._cancel_reject),
                (ex.VenueAck, self._v_ack), (ex.VenueReject, self._v_reject),
                (ex.VenueFill, self._v_fill), (ex.VenueCanceled, self._v_canceled),
                (ex.VenueReplaced, self._v_replaced),
                (ex.VenueCancelRejected, self._v_cancel_rejected),
                (ex.VenueRestated, self._v_restated),
                (ex.VenueTradeCanceled, self._v_trade_canceled),
                (ex.VenueTradeCorrected, self._v_trade_corrected),
                (ex.VenueStatus, self._venue_status),
                (ex.ClientSessionStatus, self._client_status),
                (md.Quote, self._quote), (md.Trade, self._trade),
                (md.TradingStatus, self._trading_status),
                (md.MarketSnapshot, self._snapshot),
                (adm.CancelParent, self._admin), (adm.EngageKillSwitch, self._admin),
                (adm.ReleaseKillSwitch, self._admin), (adm.SetRiskLimit, self._admin),
                (adm.HaltTrading, self._admin), (adm.ResumeTrading, self._admin),
                (adm.EndOfDay, self._admin), (adm.OperatorNote, self._admin),
            )}
        self._src = 0  # the frame's source (an admin command's row names it)
        self._cause = 0  # the frame's cause seq
        #: The server's own actions: the frames its source published (source seq ->
        #: seq), and the Alerts the apps raised about them (by the action's seq).
        self.own_source: int | None = None
        self.own_seen: dict[int, int] = {}
        self.own_seqs: set[int] = set()
        self.caused: dict[int, list[tuple[str, str, str]]] = {}

    # ------------------------------------------------------------ frames in

    def take(self, raws: Iterable[bytes]) -> None:
        """Apply raw journal frames (header and payload), in order."""
        handlers = self._handlers
        own = self.own_source
        n = 0
        for raw in raws:
            n += 1
            _m, _c, seq, ts, _r, src, tid, _f, ss, cause, _s, _e, _l, _p = _unpack(raw)
            self.seq, self.ts = seq, ts
            if src == own:
                self.own_seen[ss] = seq
                self.own_seqs.add(seq)
            h = handlers.get(tid)
            if h is not None:
                self._src, self._cause = src, cause
                h[1](h[0].decode(raw[_HEADER_SIZE:]))
        self.frames += n

    def apply(self, seq: int, ts: int, msg: Message, src: int = 0) -> None:
        """Apply one decoded message (tests that need no journal)."""
        self.seq, self.ts, self._src = seq, ts, src
        self.frames += 1
        h = self._handlers.get(TYPE_ID[type(msg)])
        if h is not None:
            h[1](msg)

    # ------------------------------------------------------------ changes out

    def _touch(self, table: str, row: Any) -> None:
        row.seq = self.seq
        self._changed[table][row.id] = None

    def changes(self) -> dict[str, list[Any]]:
        """The rows changed since the last call, by table (tables without changes left
        out); each row once, in its current state."""
        out: dict[str, list[Any]] = {}
        for t in TABLES:
            ids = self._changed[t]
            if ids:
                rows = self.tables[t]
                out[t] = [rows[i] for i in ids]
                self._changed[t] = {}
        return out

    def discard_changes(self) -> None:
        """Forget what changed (a full picture is about to be sent instead)."""
        for t in TABLES:
            self._changed[t] = {}
        self.charts_changed = {}

    def rows(self, table: str) -> list[Any]:
        return list(self.tables[table].values())

    def tick(self) -> None:
        """What stream time alone changes: quote ages and stale data, and the slippage
        of open orders against their symbol's VWAP so far."""
        now = self.ts
        for m in self.tables["market"].values():
            if not m.quote_ts:
                continue
            age = round((now - m.quote_ts) / SECOND_NS, 1)
            stale = now - m.quote_ts > self.stale_ns and m.phase not in ("closed", "halted")
            state = self._market_state(m, stale)
            if age != m.quote_age_s or stale != m.stale or state != m.state:
                m.quote_age_s, m.stale, m.state = age, stale, state
                self._changed["market"][m.id] = None  # not a stream change: seq stays
        for sym, s in self.syms.items():
            if not s.traded:
                continue
            s.traded = False
            for oid in self.open_filled.get(sym, ()):
                self._slippage(self.tables["parents"][oid])

    @staticmethod
    def _market_state(m: MarketRow, stale: bool) -> str:
        if m.phase == "halted":
            return "halted"
        if stale:
            return "stale"
        if m.bid is not None and m.ask is not None:
            if m.bid > m.ask:
                return "crossed"
            if m.bid == m.ask:
                return "locked"
        return "ok"

    # ------------------------------------------------------------ details

    def child_events(self, child_id: str) -> list[Event]:
        return [_describe(seq, ts, kind, m, n)
                for seq, ts, kind, m, n in self.events.get(child_id, ())]

    def chart(self, order_id: str) -> dict[str, Any] | None:
        """An order's chart: the market's volume and price a minute over its life (to now
        while it works), and its fills."""
        p = self.tables["parents"].get(order_id)
        o = self.orders.get(order_id)
        if p is None or o is None:
            return None
        s = self.syms.get(p.symbol) or _Sym()
        start = p.arrived_ts - p.arrived_ts % BUCKET_NS
        end = o.done_ts or self.ts
        buckets = []
        for b in sorted(k for k in s.buckets if start <= k <= end):
            vol, pv, last = s.buckets[b]
            buckets.append({"ts": b, "volume": vol, "vwap": pv / vol / PRICE_SCALE if vol
                            else None, "last": last / PRICE_SCALE})
        return {"symbol": p.symbol, "side": p.side, "qty": p.qty, "arrived_ts": p.arrived_ts,
                "bucket_ns": BUCKET_NS, "buckets": buckets, "done_ts": o.done_ts,
                "now_ts": self.ts,
                "fills": [{"ts": t, "qty": q, "px": px / PRICE_SCALE} for t, q, px in o.fills]}

    # ------------------------------------------------------------ control

    def _start(self, m: control.SystemStart) -> None:
        self.started = True
        self.first_ts = self.first_ts or self.ts
        self.date = m.session_date.isoformat()
        if self.refdata_loader is not None:
            self.names.update(self.refdata_loader(m))

    def _stop(self, m: control.SystemStop) -> None:
        self.stopped = True
        self._add_alert("INFO", "sequencer", "stop", "the day stopped" +
                        (f": {m.reason}" if m.reason else ""))

    def _add_alert(self, severity: str, source: str, code: str, text: str) -> None:
        a = AlertRow(id=str(self.seq), ts=self.ts, severity=severity, source=source,
                     code=code, text=text, seq=self.seq)
        rows = self.tables["alerts"]
        if a.id in rows:  # a second row from one frame (a snapshot's several symbols)
            a.id = f"{self.seq}.{len(rows)}"
        rows[a.id] = a
        self._changed["alerts"][a.id] = None

    def _alert(self, m: control.Alert) -> None:
        self._add_alert(m.severity.upper(), m.source, m.code, m.text)
        if self._cause in self.own_seqs:
            self.caused.setdefault(self._cause, []).append((m.severity, m.code, m.text))

    def _admin(self, m: Message) -> None:
        src = sources.BY_ID.get(self._src)
        name = src.name if src is not None else f"source {self._src}"
        fields = msgspec.structs.asdict(m)
        user = fields.pop("user", "")
        reason = fields.pop("reason", "")
        what = " ".join(f"{k}={v}" for k, v in fields.items() if v not in ("", None))
        text = f"{type(m).__name__} {what}".strip()
        if reason:
            text += f": {reason}"
        if user:
            text += f" (by {user})"
        severity = "CRITICAL" if isinstance(m, adm.EngageKillSwitch) else (
            "WARNING" if isinstance(m, adm.CancelParent | adm.HaltTrading) else "INFO")
        self._add_alert(severity, name, "command", text)

    # ------------------------------------------------------------ parents

    def _accepted(self, m: od.ParentAccepted) -> None:
        p = Parent(id=m.order_id, client=m.client, cl_ord_id=m.cl_ord_id, symbol=m.symbol,
                   side=m.side, qty=m.qty, ord_type=m.ord_type, limit_px=_px(m.limit_px),
                   algo=m.algo or "care", leaves=m.qty, arrived_ts=self.ts,
                   updated_ts=self.ts)
        self.tables["parents"][p.id] = p
        s = self._sym(m.symbol)
        self.orders[p.id] = _Order(pv0=s.pv, v0=s.v)
        self._touch("parents", p)

    def _amended(self, m: od.ParentAmended) -> None:
        p = self.tables["parents"].get(m.order_id)
        if p is None:
            return
        p.qty, p.limit_px = m.qty, _px(m.limit_px)
        p.leaves = max(0, m.qty - p.filled) if p.status not in DONE else 0
        p.updated_ts = self.ts
        self._touch("parents", p)

    def _reopened(self, m: od.ParentReopened) -> None:
        p = self.tables["parents"].get(m.order_id)
        if p is None:
            return
        p.status, p.filled, p.leaves = "partially_filled" if m.cum_qty else "new", \
            m.cum_qty, m.qty - m.cum_qty
        o = self.orders[p.id]
        o.done_ts = 0
        if m.cum_qty:
            self.open_filled.setdefault(p.symbol, {})[p.id] = None
        p.updated_ts = self.ts
        self._touch("parents", p)

    def _done(self, m: od.ParentDone) -> None:
        p = self.tables["parents"].get(m.order_id)
        if p is None:
            return
        p.status, p.filled, p.leaves = m.ord_status, m.cum_qty, 0
        self.orders[p.id].done_ts = self.ts
        self._slippage(p)
        self.open_filled.get(p.symbol, {}).pop(p.id, None)
        p.updated_ts = self.ts
        self._touch("parents", p)
        self.charts_changed[p.id] = None

    def _report(self, m: ex.ExecutionReport) -> None:
        p = self.tables["parents"].get(m.order_id)
        if m.exec_type == "rejected":
            what = f"{m.client} {m.side} {m.order_qty} {m.symbol} {m.cl_ord_id}"
            self._add_alert("ERROR", "oms", "order_rejected",
                            f"Order Rejected: {what}: {m.reject_reason or m.text}".rstrip(": "))
        if p is None:
            return
        if m.exec_type == "order_status":
            return
        p.cl_ord_id = m.cl_ord_id or p.cl_ord_id
        p.qty = m.order_qty or p.qty
        if m.limit_px:
            p.limit_px = _px(m.limit_px)
        p.status, p.filled, p.leaves = m.ord_status, m.cum_qty, m.leaves_qty
        if m.avg_px:
            p.avg_px = m.avg_px / AVG_PX_SCALE
        p.updated_ts = self.ts
        if m.exec_type == "trade" and m.last_qty:
            o = self.orders[p.id]
            o.fills.append((self.ts, m.last_qty, m.last_px))
            e = Execution(id=f"c:{m.exec_id}", kind="client", exec_id=m.exec_id,
                          order_id=p.id, child_id="", client=m.client, symbol=m.symbol,
                          side=m.side, qty=m.last_qty, px=_px(m.last_px), venue="",
                          liquidity=m.last_liquidity, ts=self.ts, seq=self.seq)
            self.tables["executions"][e.id] = e
            self._changed["executions"][e.id] = None
            if p.status not in DONE:
                self.open_filled.setdefault(p.symbol, {})[p.id] = None
            self._slippage(p)
            self.charts_changed[p.id] = None
        self._touch("parents", p)

    def _cancel_reject(self, m: ex.CancelReject) -> None:
        self._add_alert("WARNING", "oms", "cancel_rejected",
                        f"Cancel Rejected: {m.client} {m.orig_cl_ord_id} (order {m.order_id}, "
                        f"{m.response_to}): {m.reason}" + (f" {m.text}" if m.text else ""))

    def _slippage(self, p: Parent) -> None:
        """The order's average price against the market's VWAP over its life so far
        (positive: a cost to the client)."""
        o = self.orders.get(p.id)
        s = self.syms.get(p.symbol)
        if o is None or s is None or p.avg_px is None:
            return
        dv = s.v - o.v0
        if dv <= 0:
            return
        ivwap = (s.pv - o.pv0) / dv / PRICE_SCALE
        sign = 1.0 if p.side == "buy" else -1.0
        slip = round(sign * (p.avg_px - ivwap) / ivwap * 10_000, 2) if ivwap else None
        iv = round(ivwap, 4)
        if iv != p.ivwap or slip != p.slippage_bps:
            p.ivwap, p.slippage_bps = iv, slip
            self._changed["parents"][p.id] = None

    # ------------------------------------------------------------ children

    def _child_sent(self, m: od.ChildOrderSent) -> None:
        rows = self.tables["children"]
        if m.action == "new":
            parent = self.tables["parents"].get(m.parent_id)
            c = Child(id=m.child_id, parent_id=m.parent_id,
                      client=parent.client if parent is not None else "",
                      symbol=m.symbol, side=m.side, venue=m.venue, destination=m.destination,
                      qty=m.qty, ord_type=m.ord_type, limit_px=_px(m.limit_px),
                      leaves=m.qty, sent_ts=self.ts, updated_ts=self.ts)
            rows[c.id] = c
            self.kids.setdefault(m.parent_id, []).append(c.id)
            if parent is not None:
                parent.children += 1
                self._touch("parents", parent)
            self._event(c, "sent", m)
            return
        known = self._child(m.child_id)
        if known is None:
            return
        c = known
        c.status = f"pending_{m.action}"
        self._event(c, f"{m.action} sent", m)

    def _event(self, c: Child, kind: str, m: Message, n: int = 0) -> None:
        """Keep what happened to a child; its words are made when someone looks
        (`child_events`), not for each of a day's million events."""
        self.events.setdefault(c.id, []).append((self.seq, self.ts, kind, m, n))
        c.last_event = kind
        c.updated_ts = self.ts
        self._touch("children", c)

    def _child(self, child_id: str) -> Child | None:
        c: Child | None = self.tables["children"].get(child_id)
        return c

    def _child_rejected(self, m: od.ChildRequestRejected) -> None:
        c = self._child(m.child_id)
        self._add_alert("WARNING", "oms", "child_rejected",
                        f"Child {m.request} rejected: {m.child_id} of {m.parent_id}: {m.reason}")
        if c is None:
            return
        if m.request == "new":
            c.status, c.leaves = "rejected", 0
        else:
            c.status = self._working(c)
        self._event(c, f"{m.request} rejected", m)

    @staticmethod
    def _working(c: Child) -> str:
        if c.status in ("filled", "canceled", "rejected"):
            return c.status
        return "partially_filled" if c.filled else "new"

    def _v_ack(self, m: ex.VenueAck) -> None:
        c = self._child(m.child_id)
        if c is None:
            return
        c.venue_order_id = m.venue_order_id
        if c.status == "sent":
            c.status = "new"
        self._event(c, "ack", m)

    def _v_reject(self, m: ex.VenueReject) -> None:
        c = self._child(m.child_id)
        self._add_alert("ERROR", "venue", "venue_reject",
                        f"Order Rejected by venue: child {m.child_id}"
                        + (f" at {c.venue}" if c is not None else "") + f": {m.reason}")
        if c is None:
            return
        c.status, c.leaves = "rejected", 0
        self._event(c, "rejected", m)

    def _v_fill(self, m: ex.VenueFill) -> None:
        c = self._child(m.child_id)
        if c is None or (m.child_id, m.exec_id) in self.child_fills:
            return  # a repeated fill (same exec id) is applied once, as the OMS does
        self.child_fills[(m.child_id, m.exec_id)] = m.qty
        self._fill_child(c, m.qty, m.px)
        c.status = "filled" if c.filled >= c.qty else "partially_filled"
        e = Execution(id=f"v:{m.child_id}:{m.exec_id}", kind="venue", exec_id=m.exec_id,
                      order_id=c.parent_id, child_id=c.id, client=c.client, symbol=c.symbol,
                      side=c.side, qty=m.qty, px=_px(m.px), venue=c.venue,
                      liquidity=m.liquidity, ts=self.ts, seq=self.seq)
        self.tables["executions"][e.id] = e
        self._changed["executions"][e.id] = None
        self._event(c, "fill", m)

    def _fill_child(self, c: Child, qty: int, px: int) -> None:
        pv = self.child_px.get(c.id, 0) + qty * px
        self.child_px[c.id] = pv
        c.filled += qty
        c.leaves = max(0, c.qty - c.filled)
        c.avg_px = round(pv / c.filled / PRICE_SCALE, 6) if c.filled else None

    def _v_canceled(self, m: ex.VenueCanceled) -> None:
        c = self._child(m.child_id)
        if c is None:
            return
        c.status, c.leaves = "canceled", 0
        self._event(c, "canceled", m)

    def _v_replaced(self, m: ex.VenueReplaced) -> None:
        c = self._child(m.child_id)
        if c is None:
            return
        c.qty, c.limit_px = m.qty, _px(m.limit_px)
        c.leaves = max(0, c.qty - c.filled)
        c.status = "filled" if c.leaves == 0 else ("partially_filled" if c.filled else "new")
        self._event(c, "replaced", m)

    def _v_cancel_rejected(self, m: ex.VenueCancelRejected) -> None:
        c = self._child(m.child_id)
        if c is None:
            return
        c.status = self._working(c) if c.status.startswith("pending") else c.status
        self._event(c, f"{m.response_to} rejected", m)

    def _v_restated(self, m: ex.VenueRestated) -> None:
        c = self._child(m.child_id)
        if c is None:
            return
        c.qty, c.limit_px = m.qty, _px(m.limit_px)
        c.leaves = max(0, c.qty - c.filled)
        self._event(c, "restated", m)

    def _v_trade_canceled(self, m: ex.VenueTradeCanceled) -> None:
        c = self._child(m.child_id)
        if c is None or (m.child_id, m.exec_id) in self.child_fills:
            return
        qty = self.child_fills.get((m.child_id, m.ref_exec_id), 0)
        self.child_fills[(m.child_id, m.exec_id)] = 0
        c.filled = max(0, c.filled - qty)
        c.leaves = max(0, c.qty - c.filled) if c.status not in ("canceled", "rejected") else 0
        self._event(c, "trade canceled", m, qty)
        self._add_alert("WARNING", "venue", "trade_cancel",
                        f"Trade canceled by venue: child {c.id} fill {m.ref_exec_id}")

    def _v_trade_corrected(self, m: ex.VenueTradeCorrected) -> None:
        c = self._child(m.child_id)
        if c is None or (m.child_id, m.exec_id) in self.child_fills:
            return
        old = self.child_fills.get((m.child_id, m.ref_exec_id), 0)
        self.child_fills[(m.child_id, m.exec_id)] = m.qty
        c.filled = max(0, c.filled - old + m.qty)
        c.leaves = max(0, c.qty - c.filled) if c.status not in ("canceled", "rejected") else 0
        self._event(c, "trade corrected", m)
        self._add_alert("WARNING", "venue", "trade_correct",
                        f"Trade corrected by venue: child {c.id} fill {m.ref_exec_id}")

    # ------------------------------------------------------------ sessions

    def _session(self, sid: str, kind: str, name: str, counterparty: str, status: str,
                 reason: str) -> None:
        rows = self.tables["sessions"]
        old = rows.get(sid)
        rows[sid] = s = Session(id=sid, kind=kind, name=name, counterparty=counterparty,
                                status=status, reason=reason, ts=self.ts, seq=self.seq)
        self._touch("sessions", s)
        if status != "up":
            self._add_alert("ERROR", kind, "session_down",
                            f"Session down: {kind} {counterparty} ({name})"
                            + (f": {reason}" if reason else ""))
        elif old is not None and old.status != "up":
            self._add_alert("INFO", kind, "session_up",
                            f"Session up: {kind} {counterparty} ({name})")

    def _venue_status(self, m: ex.VenueStatus) -> None:
        self._session(f"venue:{m.destination}", "venue", m.destination, m.venue, m.status,
                      m.reason)

    def _client_status(self, m: ex.ClientSessionStatus) -> None:
        self._session(f"client:{m.session}", "client", m.session, m.client, m.status,
                      m.reason)

    # ------------------------------------------------------------ market data

    def _sym(self, symbol: str) -> _Sym:
        s = self.syms.get(symbol)
        if s is None:
            s = self.syms[symbol] = _Sym()
        return s

    def _market(self, symbol_id: int) -> MarketRow | None:
        name = self.names.get(symbol_id)
        if name is None:
            return None
        rows = self.tables["market"]
        m: MarketRow | None = rows.get(name)
        if m is None:
            m = rows[name] = MarketRow(id=name, symbol=name)
        return m

    def _quote(self, q: md.Quote) -> None:
        if not (q.nbbo_bid_px or q.nbbo_ask_px):
            return
        m = self._market(q.symbol_id)
        if m is None:
            return
        m.bid, m.ask = _px(q.nbbo_bid_px), _px(q.nbbo_ask_px)
        m.bid_size, m.ask_size = q.nbbo_bid_size, q.nbbo_ask_size
        m.quote_ts, m.quote_age_s, m.stale = self.ts, 0.0, False
        m.state = self._market_state(m, False)
        self._touch("market", m)

    def _trade(self, t: md.Trade) -> None:
        if not t.flags & md.REGULAR_WAY:
            return
        m = self._market(t.symbol_id)
        if m is None:
            return
        m.last = t.price / PRICE_SCALE
        m.volume += t.size
        s = self._sym(m.symbol)
        s.pv += t.price * t.size
        s.v += t.size
        s.traded = True
        b = self.ts - self.ts % BUCKET_NS
        bucket = s.buckets.get(b)
        if bucket is None:
            s.buckets[b] = [t.size, t.price * t.size, t.price]
        else:
            bucket[0] += t.size
            bucket[1] += t.price * t.size
            bucket[2] = t.price
        self.charts_changed[m.symbol] = None
        self._touch("market", m)

    def _trading_status(self, t: md.TradingStatus) -> None:
        m = self._market(t.symbol_id)
        if m is None or t.venue not in ("*", ""):
            return
        self._phase(m, t.status, t.reason)

    def _phase(self, m: MarketRow, status: str, reason: str) -> None:
        was = m.phase
        m.phase = status
        m.state = self._market_state(m, m.stale)
        self._touch("market", m)
        if status == "halted" and was != "halted":
            self._add_alert("WARNING", "ticker_plant", "halted",
                            f"{m.symbol} halted" + (f": {reason}" if reason else ""))

    def _snapshot(self, s: md.MarketSnapshot) -> None:
        for q in s.quotes:
            self._quote(q)
        m = self._market(s.symbol_id)
        if m is not None:
            if s.volume:
                m.volume = s.volume
            self._phase(m, s.status, s.reason)


def _g(px: int) -> str:
    return f"{px / PRICE_SCALE:g}"


def _describe(seq: int, ts: int, kind: str, m: Any, n: int) -> Event:
    """A child's event in words, with the quantity and price it is about."""
    qty, px = 0, 0
    if isinstance(m, od.ChildOrderSent):
        if m.action == "new":
            text = f"new {m.side} {m.qty} {m.ord_type}" + (f" @ {_g(m.limit_px)}"
                                                          if m.limit_px else "")
            qty, px = m.qty, m.limit_px
        else:
            text = f"{m.action} requested"
            if m.action == "replace":
                text += f": qty {m.qty}" + (f" @ {_g(m.limit_px)}" if m.limit_px else "")
                qty, px = m.qty, m.limit_px
    elif isinstance(m, ex.VenueAck):
        text = f"venue order {m.venue_order_id}"
    elif isinstance(m, ex.VenueFill):
        text, qty, px = f"filled {m.qty} @ {_g(m.px)}", m.qty, m.px
    elif isinstance(m, ex.VenueCanceled):
        text = ("unsolicited" if m.unsolicited else "as requested") + (
            f": {m.reason}" if m.reason else "")
    elif isinstance(m, ex.VenueReplaced):
        text = f"now {m.qty}" + (f" @ {_g(m.limit_px)}" if m.limit_px else "")
        qty, px = m.qty, m.limit_px
    elif isinstance(m, ex.VenueRestated):
        text, qty, px = m.reason, m.qty, m.limit_px
    elif isinstance(m, ex.VenueTradeCanceled):
        text, qty = f"fill {m.ref_exec_id} ({n}) canceled", n
    elif isinstance(m, ex.VenueTradeCorrected):
        text = f"fill {m.ref_exec_id} now {m.qty} @ {_g(m.px)}"
        qty, px = m.qty, m.px
    else:  # the refusals: a reason
        text = str(getattr(m, "reason", ""))
    return Event(seq, ts, kind, text, qty, _px(px))


def names_from_refdata(day: Path) -> Callable[[control.SystemStart], dict[int, str]]:
    """A loader of the day's symbol names for `Model` (the ref data set SystemStart
    names, as every consumer of the day reads it)."""

    def load(m: control.SystemStart) -> dict[int, str]:
        from refdata.load import load, load_for_day

        try:
            rd = (load_for_day(day, m.refdata_digest) if m.refdata_digest
                  else load(day / "refdata"))
        except Exception:  # a day without ref data: market rows cannot be named
            return {}
        return {s.id: s.name for s in rd.symbols}

    return load
