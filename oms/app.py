"""The OMS app: the book of record for every parent and child order of the day.

Inputs (all from the stream): client requests (`NewOrder`, `CancelOrder`,
`ReplaceOrder`, `OrderStatusRequest`), the algo engine's child requests
(`NewChild`, `CancelChild`, `ReplaceChild`), venue events (`VenueAck`,
`VenueFill`, ...), quotes for the price collar, and ops' commands
(`SetRiskLimit`, `EngageKillSwitch`, `ReleaseKillSwitch`, `SetParameter`).

Outputs: `ExecutionReport` and `CancelReject` to clients (FIX 4.4 semantics),
`ChildOrderSent` / `ChildRequestRejected` for the venue gateway and the algo
engine, `ParentAccepted` / `ParentAmended` / `ParentCanceling` / `ParentDone`
for the algo engine, `Subscribe` for market data, and `Alert`s.

Rules the code keeps (see `oms.book` for the arithmetic, `oms.states` for the
one transition table):
- a child request that would let the open child quantity plus the filled
  quantity exceed the parent's quantity, or put a child's limit outside the
  parent's, is rejected to the algo engine with the reason, and alerted;
- a venue fill updates the child, then the parent, then reaches the client,
  each once: a repeated venue exec id is ignored;
- a fill is reported before whatever it causes (a cancel reject, children
  cancelled, the parent done), so the client's view is consistent;
- cancels and replaces that must wait for children are answered at once with
  PendingCancel / PendingReplace and finished when the venues answer; a client's
  cancel that a venue refuses (nothing else in flight) gets a CancelReject and the
  order goes on;
- a DMA order is its one child: when the venue ends it on its own (a reject, an
  unsolicited cancel, an IOC remainder), the order is cancelled back to the client.

Parameters (`SetParameter(target="oms", key, value)`): `eod_time` (HH:MM or
HH:MM:SS exchange-local, default 16:05:00, after the closing auctions
print), `replace_timeout_ms` (default 2000: how long the algo engine has to
fit the children to a pending replace before the OMS cancels the misfits).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from oms import states
from oms.algos import check_algo, check_time, time_ms
from oms.book import (
    CHILD_LIVE,
    Child,
    ChildStatus,
    Parent,
    avg_px,
    exposure,
    fmt_money,
    fmt_px,
    tighter,
    within_limit,
)
from oms.config import FIRM, Client, Limits, clients_from_rows, parse_limit
from refdata.model import local_midnight_ns
from sequencer.messages.admin import (
    EngageKillSwitch,
    ReleaseKillSwitch,
    SetParameter,
    SetRiskLimit,
)
from sequencer.messages.control import Alert, Severity, SystemStart
from sequencer.messages.executions import (
    CancelReject,
    ExecType,
    ExecutionReport,
    OrdStatus,
    VenueAck,
    VenueCanceled,
    VenueCancelRejected,
    VenueFill,
    VenueReject,
    VenueReplaced,
    VenueRestated,
    VenueStatus,
)
from sequencer.messages.marketdata import MarketSnapshot, Quote, Subscribe
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
from sequencer.runtime.app import App, handles

NAME = "oms"
MS = 1_000_000
DEFAULT_EOD_MS = 16 * 3_600_000 + 5 * 60_000
DEFAULT_TZ = "America/New_York"
_TIFS = ("day", "ioc", "fok", "opg", "cls")
_KILL_SCOPES = ("all", "client", "symbol")
ChildRequest = Literal["new", "cancel", "replace"]


class OmsState(msgspec.Struct):
    """Everything the OMS knows; its snapshot is this, encoded."""

    day: str = ""  # YYYYMMDD, the prefix of OrderIDs and ExecIDs
    next_order: int = 0
    next_exec: int = 0
    parents: dict[str, Parent] = msgspec.field(default_factory=dict)
    children: dict[str, Child] = msgspec.field(default_factory=dict)
    # (client + "\x00" + ClOrdID) -> OrderID, for every ClOrdID a client used today
    cl_ord_ids: dict[str, str] = msgspec.field(default_factory=dict)
    live: dict[str, None] = msgspec.field(default_factory=dict)  # live OrderIDs, in age order
    firm: Limits = msgspec.field(default_factory=Limits)
    clients: dict[str, Client] = msgspec.field(default_factory=dict)
    gross: dict[str, int] = msgspec.field(default_factory=dict)  # scope -> committed notional
    open_orders: dict[str, int] = msgspec.field(default_factory=dict)  # scope -> live parents
    kills: list[tuple[str, str, str]] = msgspec.field(default_factory=list)  # scope, value, why
    nbbo: dict[int, tuple[int, int]] = msgspec.field(default_factory=dict)  # id -> bid, ask
    subscribed: dict[int, None] = msgspec.field(default_factory=dict)
    midnight_ns: int = 0
    eod_ms: int = DEFAULT_EOD_MS
    eod_timer: int = 0
    eod_done: bool = False
    replace_timeout_ms: int = 2000
    alerts: int = 0
    down: dict[str, str] = msgspec.field(default_factory=dict)  # destination -> why it is down


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(OmsState)


class Oms(App):
    name = NAME
    source_id = 40

    def __init__(self) -> None:
        self.s = OmsState()
        self._routes_rd: Any = None
        self._routes: dict[str, tuple[str, ...]] = {}

    # ================================================================ day and config

    @handles(SystemStart)
    def on_system_start(self, msg: SystemStart) -> None:
        s = self.s
        s.day = msg.session_date.strftime("%Y%m%d")
        rd = self.ctx.refdata
        tz = DEFAULT_TZ
        if rd is not None:
            if rd.venues:
                tz = rd.venues[0].timezone
            try:
                table = rd.table("clients")
            except KeyError:
                self._alert("error", "no_clients",
                            "the day's ref data has no clients table: every order is refused")
            else:
                s.firm, s.clients = clients_from_rows(table.rows)
        s.midnight_ns = local_midnight_ns(msg.session_date, tz)
        self._arm_eod()

    def _arm_eod(self) -> None:
        s = self.s
        if s.eod_timer:
            self.ctx.cancel_timer(s.eod_timer)
        s.eod_timer = self.ctx.set_timer(s.midnight_ns + s.eod_ms * MS, "eod")

    @handles(SetParameter)
    def on_set_parameter(self, msg: SetParameter) -> None:
        if msg.target != NAME:
            return
        s = self.s
        if msg.key == "eod_time":
            why = check_time(msg.value)
            if why is not None:
                self._alert("warning", "bad_parameter",
                            f"oms eod_time: expected {why}, got {msg.value!r}")
                return
            s.eod_ms = time_ms(msg.value)
            if not s.eod_done:
                self._arm_eod()
        elif msg.key == "replace_timeout_ms":
            if not msg.value.isdigit() or int(msg.value) <= 0:
                self._alert("warning", "bad_parameter",
                            f"oms replace_timeout_ms: expected a whole number above 0, "
                            f"got {msg.value!r}")
                return
            s.replace_timeout_ms = int(msg.value)
        else:
            self._alert("warning", "bad_parameter",
                        f"oms has no parameter {msg.key!r} (eod_time, replace_timeout_ms)")

    @handles(SetRiskLimit)
    def on_set_risk_limit(self, msg: SetRiskLimit) -> None:
        s = self.s
        if msg.scope == FIRM:
            limits = s.firm
        else:
            client = s.clients.get(msg.scope)
            if client is None:
                self._alert("warning", "bad_risk_limit",
                            f"SetRiskLimit: no client {msg.scope!r} (use '*' for the firm)")
                return
            limits = client.limits
        try:
            value = parse_limit(msg.limit, msg.value)
        except ValueError as e:
            self._alert("warning", "bad_risk_limit", f"SetRiskLimit {msg.scope}: {e}")
            return
        old = getattr(limits, msg.limit)
        setattr(limits, msg.limit, value)
        self._alert("info", "risk_limit",
                    f"risk limit {msg.limit} of {msg.scope} changed from {old} to {value}"
                    + (f": {msg.reason}" if msg.reason else ""))

    # ================================================================ market data

    @handles(Quote)
    def on_quote(self, q: Quote) -> None:
        if q.nbbo_bid_px or q.nbbo_ask_px:
            self.s.nbbo[q.symbol_id] = (q.nbbo_bid_px, q.nbbo_ask_px)

    @handles(MarketSnapshot)
    def on_snapshot(self, snap: MarketSnapshot) -> None:
        for q in snap.quotes:
            self.on_quote(q)

    def _subscribe(self, symbol_id: int) -> None:
        if symbol_id not in self.s.subscribed:
            self.s.subscribed[symbol_id] = None
            self.ctx.publish(Subscribe(symbol_id=symbol_id, subscriber=NAME))

    def _reference(self, symbol_id: int, side: str) -> int:
        """The price a buy would pay / a sell receive now: the NBBO's far touch, else
        the previous close from the ref data's statistics, else 0."""
        bid, ask = self.s.nbbo.get(symbol_id, (0, 0))
        far = ask if side == "buy" else bid
        if far > 0:
            return far
        try:
            return int(self.ctx.refdata.stats(symbol_id).ref_price)
        except (KeyError, AttributeError):
            return 0

    # ================================================================ ids and reports

    def _exec_id(self) -> str:
        self.s.next_exec += 1
        return f"{self.s.day}-E{self.s.next_exec}"

    def _report(self, p: Parent, exec_type: ExecType, cl_ord_id: str = "", orig: str = "",
                last_qty: int = 0, last_px: int = 0, text: str = "",
                reject_reason: str = "") -> None:
        st = p.state
        cum = p.cum_qty
        qty = p.qty
        # Positional (ExecutionReport's field order): msgspec matches keywords one by one,
        # which costs about 1 microsecond for a struct this wide.
        s = self.s
        s.next_exec += 1
        self.ctx.publish(ExecutionReport(
            p.client, p.order_id, cl_ord_id or p.cl_ord_id, orig, f"{s.day}-E{s.next_exec}",
            exec_type, states.ord_status(st, cum, qty), p.symbol, p.side, qty, cum,
            qty - cum if st in states.LIVE else 0,
            last_qty, last_px, avg_px(p.notional, cum), p.limit_px, text, reject_reason))

    def _cancel_reject(self, client: str, order_id: str, cl_ord_id: str, orig: str,
                       ord_status: OrdStatus, response_to: Literal["cancel", "replace"],
                       reason: str, text: str) -> None:
        self.ctx.publish(CancelReject(
            client=client, order_id=order_id, cl_ord_id=cl_ord_id, orig_cl_ord_id=orig,
            ord_status=ord_status, response_to=response_to, reason=reason, text=text))

    def _alert(self, severity: Severity, code: str, text: str) -> None:
        self.s.alerts += 1
        self.ctx.publish(Alert(severity=severity, source=NAME, text=text, code=code))

    def _move(self, p: Parent, event: states.Event) -> ExecType:
        """Apply `event` to the parent by the transition table; the ExecType to report
        ("new" where the transition reports nothing; callers of such events ignore it)."""
        nxt = states.step(p.state, event)
        if nxt is None:  # a bug in the OMS, not bad input: every caller checks first
            raise RuntimeError(f"order {p.order_id}: {event} is not allowed in {p.state}")
        p.state = nxt[0]
        return nxt[1] or "new"

    # ================================================================ new orders

    @handles(NewOrder)
    def on_new_order(self, m: NewOrder) -> None:
        s = self.s
        key = m.client + "\x00" + m.cl_ord_id
        if key in s.cl_ord_ids:
            self.ctx.publish(ExecutionReport(
                client=m.client, order_id="NONE", cl_ord_id=m.cl_ord_id, orig_cl_ord_id="",
                exec_id=self._exec_id(), exec_type="rejected", ord_status="rejected",
                symbol=m.symbol, side=m.side, order_qty=m.qty, cum_qty=0, leaves_qty=0,
                limit_px=m.limit_px, reject_reason="duplicate_order",
                text=f"duplicate ClOrdID {m.cl_ord_id!r}: already used today by order "
                     f"{s.cl_ord_ids[key]}"))
            return
        s.next_order += 1
        order_id = f"{s.day}-{s.next_order}"
        s.cl_ord_ids[key] = order_id
        sym = self.ctx.refdata.find(m.symbol) if self.ctx.refdata is not None else None
        p = Parent(order_id, m.client, m.cl_ord_id, m.symbol, sym.id if sym is not None else 0,
                   m.side, m.qty, m.ord_type, m.limit_px, m.tif, m.algo.lower(), m.algo_params,
                   m.locate_broker)
        s.parents[order_id] = p
        refusal = self._check_new(m, p, sym)
        if refusal is not None:
            reason, text = refusal
            self._move(p, "reject")
            self._report(p, "rejected", text=text, reject_reason=reason)
            return
        client = s.clients[m.client]
        if client.pending_new:
            self._report(p, "pending_new")
        g = s.gross  # _commit, inline: every accepted order commits its notional
        g[p.client] = g.get(p.client, 0) + p.qty * p.px_ref
        g[FIRM] = g.get(FIRM, 0) + p.qty * p.px_ref
        s.open_orders[p.client] = s.open_orders.get(p.client, 0) + 1
        s.open_orders[FIRM] = s.open_orders.get(FIRM, 0) + 1
        s.live[order_id] = None
        self._report(p, self._move(p, "accept"))
        self.ctx.publish(ParentAccepted(
            order_id, p.client, p.cl_ord_id, p.symbol, m.side, p.qty, m.ord_type, p.limit_px,
            m.tif, p.algo, p.algo_params))
        self._subscribe(p.symbol_id)

    def _check_new(self, m: NewOrder, p: Parent, sym: Any) -> tuple[str, str] | None:
        """Why the new order is refused: (OrdRejReason in words, text for a trader)."""
        s = self.s
        rd = self.ctx.refdata
        if s.eod_done:
            return "too_late_to_enter", "too late: the OMS has closed the day's trading"
        client = s.clients.get(m.client)
        if client is None:
            return "unknown_account", f"unknown client {m.client!r}"
        if rd is None or sym is None:
            return "unknown_symbol", f"unknown symbol {m.symbol!r}"
        if sym.restricted:
            because = f" ({sym.restricted_reason})" if sym.restricted_reason else ""
            return "broker_option", f"{m.symbol} is on the firm's restricted list{because}"
        for lim in (client.limits, s.firm):
            if not lim.allows(m.symbol):
                who = "the firm" if lim is s.firm else f"client {m.client}"
                return "broker_option", f"{m.symbol} is not among the symbols allowed for {who}"
        if s.kills:
            killed = self._killed(m.client, m.symbol)
            if killed:
                return "broker_option", f"kill switch engaged ({killed}): no new orders"
        why = self._check_qty(m.qty, sym.lot_size, client.odd_lots)
        if why is not None:
            return "incorrect_quantity", why
        if m.tif not in _TIFS:
            return ("unsupported_order_characteristic",
                    f"time in force {m.tif.upper()} is not accepted (orders live for the day: "
                    f"{', '.join(t.upper() for t in _TIFS)})")
        if m.ord_type == "limit":
            if m.limit_px <= 0:
                return "other", "a limit order needs a limit price above 0"
            why = self._check_tick(p.symbol_id, m.limit_px)
            if why is not None:
                return "other", why
        elif m.limit_px:
            return "other", "a market order takes no limit price"
        why = check_algo(p.algo, m.algo_params, self._routable)
        if why is not None:
            return "unsupported_order_characteristic", why
        if m.side in ("sell_short", "sell_short_exempt") and not m.locate_broker and (
                self._locate_required(m.symbol)):
                return "broker_option", (f"a short sale of {m.symbol} needs a locate: "
                                         "send the locate broker (tag 5700)")
        ref = self._reference(p.symbol_id, m.side)
        if m.ord_type == "market" and ref <= 0:
            return "other", f"no price for {m.symbol} to check a market order against"
        p.px_ref = m.limit_px if m.ord_type == "limit" else ref
        return self._check_risk(p, client, m.qty, m.limit_px, ref, p.px_ref,
                                m.qty * p.px_ref, new=True)

    @staticmethod
    def _check_qty(qty: int, lot: int, odd_lots: bool) -> str | None:
        if qty <= 0:
            return f"order quantity must be above 0, got {qty}"
        if not odd_lots and lot > 1 and qty % lot:
            return (f"order quantity {qty:,} is not a whole number of round lots of "
                    f"{lot} (odd lots are not enabled for this client)")
        return None

    def _check_tick(self, symbol_id: int, px: int) -> str | None:
        tick = self.ctx.refdata.tick_size(symbol_id, px)
        if px % tick:
            return f"limit price {fmt_px(px)} is not on the tick ({fmt_px(tick)})"
        return None

    def _dests(self, venue: str) -> tuple[str, ...]:
        """Names of the destinations reaching a routable venue, best first; () if none.
        Cached per ref data set (a restore or a new day may bring another)."""
        rd = self.ctx.refdata
        if rd is not self._routes_rd:
            self._routes_rd = rd
            self._routes = {} if rd is None else {
                v.code: tuple(d.name for d in rd.destinations_for(v.code))
                for v in rd.venues if v.routable}
        return self._routes.get(venue, ())

    def _routable(self, venue: str) -> bool:
        return bool(self._dests(venue))

    def _locate_required(self, symbol: str) -> bool:
        """Short sales need a locate unless the stock loan desk's borrow table lists the
        symbol as not requiring one (its easy-to-borrow list)."""
        try:
            row = self.ctx.refdata.table("borrow").get(symbol)
        except KeyError:
            return True
        return row is None or bool(row.get("locate_required", True))

    def _check_risk(self, p: Parent, client: Client, qty: int, limit_px: int, ref: int,
                    px_ref: int, open_change: int, new: bool) -> tuple[str, str] | None:
        """Pre-trade limits, the client's then the firm's. `qty` is the order's (new)
        quantity, `px_ref` the price its notional counts at, `open_change` the change
        in the day's committed notional; `limit_px` a new limit to collar (0: none)."""
        s = self.s
        notional = qty * px_ref
        for scope, lim in ((p.client, client.limits), (FIRM, s.firm)):
            if (qty <= lim.max_order_qty and notional <= lim.max_order_notional
                    and not (new and s.open_orders.get(scope, 0) >= lim.max_open_orders)
                    and not (open_change > 0 and s.gross.get(scope, 0) + open_change
                             > lim.max_gross_notional)):
                continue  # within every limit of this scope (the usual case)
            who = f"client {p.client}" if scope != FIRM else "the firm"
            if qty > lim.max_order_qty:
                return "order_exceeds_limit", (f"quantity {qty:,} is above the maximum order "
                                               f"quantity of {lim.max_order_qty:,} for {who}")
            if notional > lim.max_order_notional:
                return "order_exceeds_limit", (
                    f"notional {fmt_money(notional)} is above the maximum order notional of "
                    f"{fmt_money(lim.max_order_notional)} for {who}")
            if new and s.open_orders.get(scope, 0) >= lim.max_open_orders:
                return "order_exceeds_limit", (f"{who} already has the maximum of "
                                               f"{lim.max_open_orders:,} open orders")
            gross = s.gross.get(scope, 0) + open_change
            if open_change > 0 and gross > lim.max_gross_notional:
                return "order_exceeds_limit", (
                    f"the day's gross notional would reach {fmt_money(gross)}, above the limit "
                    f"of {fmt_money(lim.max_gross_notional)} for {who}")
        if p.ord_type == "limit" and ref > 0 and limit_px > 0:
            bps = min(client.limits.collar_bps, s.firm.collar_bps)
            if p.side == "buy":
                bound = ref * (10_000 + bps) // 10_000
                if limit_px > bound:
                    return "other", (f"limit {fmt_px(limit_px)} is more than {bps} bp through "
                                     f"the offer of {fmt_px(ref)} (collar up to "
                                     f"{fmt_px(bound)})")
            else:
                bound = -(-ref * (10_000 - bps) // 10_000)
                if limit_px < bound:
                    return "other", (f"limit {fmt_px(limit_px)} is more than {bps} bp through "
                                     f"the bid of {fmt_px(ref)} (collar down to "
                                     f"{fmt_px(bound)})")
        return None

    def _commit(self, p: Parent, delta: int) -> None:
        """Change the committed (gross) notional of the parent's client and the firm."""
        if delta:
            g = self.s.gross
            g[p.client] = g.get(p.client, 0) + delta
            g[FIRM] = g.get(FIRM, 0) + delta

    def _killed(self, client: str, symbol: str) -> str:
        if not self.s.kills:
            return ""
        for scope, value, why in self.s.kills:
            if scope == "all" or (scope == "client" and value == client) or (
                    scope == "symbol" and value == symbol):
                what = "everything" if scope == "all" else f"{scope} {value}"
                return f"{what}: {why}" if why else what
        return ""

    # ================================================================ cancel, replace, status

    def _find(self, client: str, cl_ord_id: str) -> Parent | None:
        oid = self.s.cl_ord_ids.get(client + "\x00" + cl_ord_id)
        return self.s.parents.get(oid) if oid is not None else None

    def _check_request(self, m: CancelOrder | ReplaceOrder,
                       what: Literal["cancel", "replace"]) -> Parent | None:
        """The order a cancel or replace request is for, or None after a CancelReject."""
        s = self.s
        p = self._find(m.client, m.orig_cl_ord_id)
        if p is None:
            self._cancel_reject(m.client, "NONE", m.cl_ord_id, m.orig_cl_ord_id, "rejected",
                                what, "unknown_order",
                                f"no order with ClOrdID {m.orig_cl_ord_id!r} for {m.client}")
            return None
        status = states.ord_status(p.state, p.cum_qty, p.qty)
        key = m.client + "\x00" + m.cl_ord_id
        if key in s.cl_ord_ids:
            self._cancel_reject(m.client, p.order_id, m.cl_ord_id, m.orig_cl_ord_id, status,
                                what, "duplicate_cl_ord_id",
                                f"duplicate ClOrdID {m.cl_ord_id!r}: already used today")
            return None
        s.cl_ord_ids[key] = p.order_id
        if m.symbol != p.symbol or m.side != p.side:
            self._cancel_reject(m.client, p.order_id, m.cl_ord_id, m.orig_cl_ord_id, status,
                                what, "other",
                                f"the request is for {m.side} {m.symbol} but order "
                                f"{m.orig_cl_ord_id} is {p.side} {p.symbol}")
            return None
        if p.state != "working" or p.closing:
            text, reason = states.REFUSALS.get(
                p.state, ("the order is being cancelled by the broker", "broker_option"))
            if p.closing and p.state == "working":
                text, reason = f"the order is being cancelled ({p.closing_text})", "other"
            self._cancel_reject(m.client, p.order_id, m.cl_ord_id, m.orig_cl_ord_id, status,
                                what, reason, text)
            return None
        return p

    @handles(CancelOrder)
    def on_cancel_order(self, m: CancelOrder) -> None:
        p = self._check_request(m, "cancel")
        if p is None:
            return
        if p.live_children == 0:
            self._finish(p, "cancel_done", cl_ord_id=m.cl_ord_id, orig=p.cl_ord_id)
            return
        p.pend_cl_ord_id = m.cl_ord_id
        self._report(p, self._move(p, "cancel_request"), cl_ord_id=m.cl_ord_id,
                     orig=p.cl_ord_id)
        self._take_down(p, "client", "cancel requested by the client")

    @handles(ReplaceOrder)
    def on_replace_order(self, m: ReplaceOrder) -> None:
        p = self._check_request(m, "replace")
        if p is None:
            return
        s = self.s
        status = states.ord_status(p.state, p.cum_qty, p.qty)
        qty = m.qty or p.qty
        px = m.limit_px or p.limit_px
        params = m.algo_params or p.algo_params
        why: str | None = None
        if m.limit_px and p.ord_type == "market":
            why = "a market order has no limit price to amend"
        elif m.qty < 0 or m.limit_px < 0:
            why = "quantity and limit price must be above 0"
        else:
            sym = self.ctx.refdata.symbol(p.symbol_id)
            why = self._check_qty(qty, sym.lot_size, s.clients[p.client].odd_lots)
            if why is None and m.limit_px:
                why = self._check_tick(p.symbol_id, px)
            if why is None and m.algo_params:
                why = check_algo(p.algo, params, self._routable)
        if why is None:
            ref = self._reference(p.symbol_id, p.side)
            new_ref = px if p.ord_type == "limit" else p.px_ref
            target = max(qty, p.cum_qty)
            change = (target - p.cum_qty) * new_ref - (p.qty - p.cum_qty) * p.px_ref
            refusal = self._check_risk(p, s.clients[p.client], target,
                                       px if m.limit_px else 0, ref, new_ref, change, new=False)
            if refusal is not None:
                why = refusal[1]
        if why is not None:
            self._cancel_reject(m.client, p.order_id, m.cl_ord_id, m.orig_cl_ord_id, status,
                                "replace", "other", why)
            return
        p.pend_cl_ord_id = m.cl_ord_id
        p.pend_qty = qty
        p.pend_px = px
        p.pend_params = params
        p.pend_px_ref = px if p.ord_type == "limit" else p.px_ref
        if self._fits(p, qty, px):
            self._apply_replace(p)
            return
        self._report(p, self._move(p, "replace_request"), cl_ord_id=m.cl_ord_id,
                     orig=p.cl_ord_id)
        p.pend_timer = self.ctx.set_timer(
            self.ctx.now + s.replace_timeout_ms * MS, "replace:" + p.order_id)
        if qty <= p.cum_qty:
            self._take_down(p, "replace", "replaced to at or below the filled quantity")
            return
        self.ctx.publish(ParentAmended(order_id=p.order_id, qty=qty, limit_px=px,
                                       algo_params=params, cum_qty=p.cum_qty, pending=True))

    def _fits(self, p: Parent, qty: int, px: int) -> bool:
        """Do the open children fit terms (qty, px)? Then a replace to them is safe now."""
        target = max(qty, p.cum_qty)
        if p.cum_qty + p.open_qty > target:
            return False
        if target == p.cum_qty and p.live_children:
            return False
        if p.ord_type == "limit" and p.live_children and px != p.limit_px:
            children = self.s.children
            for cid in p.children:
                c = children[cid]
                if c.status in CHILD_LIVE and (
                        not within_limit(p.side, px, c.limit_px) or (
                        c.pend_px and not within_limit(p.side, px, c.pend_px))):
                    return False
        return True

    def _apply_replace(self, p: Parent) -> None:
        """The pending replace takes effect: the new terms, then the report."""
        if p.pend_timer:
            self.ctx.cancel_timer(p.pend_timer)
            p.pend_timer = 0
        old_cl = p.cl_ord_id
        old_open = p.qty - p.cum_qty
        target = max(p.pend_qty, p.cum_qty)
        self._commit(p, (target - p.cum_qty) * p.pend_px_ref - old_open * p.px_ref)
        p.qty = target
        p.limit_px = p.pend_px
        p.algo_params = p.pend_params
        p.px_ref = p.pend_px_ref
        p.cl_ord_id = p.pend_cl_ord_id
        self._clear_pending(p)
        if p.closing == "replace":
            p.closing = p.closing_text = ""
        if target == p.cum_qty:
            self._finish(p, "replace_filled", cl_ord_id=p.cl_ord_id, orig=old_cl)
            return
        self._report(p, self._move(p, "replace_done"), orig=old_cl)
        self.ctx.publish(ParentAmended(order_id=p.order_id, qty=p.qty, limit_px=p.limit_px,
                                       algo_params=p.algo_params, cum_qty=p.cum_qty))

    @staticmethod
    def _clear_pending(p: Parent) -> None:
        p.pend_overdue = False
        p.pend_cl_ord_id = ""
        p.pend_qty = p.pend_px = p.pend_px_ref = 0
        p.pend_params = ()

    @handles(OrderStatusRequest)
    def on_status_request(self, m: OrderStatusRequest) -> None:
        p = self._find(m.client, m.cl_ord_id)
        if p is None:
            self.ctx.publish(ExecutionReport(
                client=m.client, order_id="NONE", cl_ord_id=m.cl_ord_id, orig_cl_ord_id="",
                exec_id=self._exec_id(), exec_type="order_status", ord_status="rejected",
                symbol=m.symbol, side=m.side, order_qty=0, cum_qty=0, leaves_qty=0,
                reject_reason="unknown_order",
                text=f"no order with ClOrdID {m.cl_ord_id!r} for {m.client}"))
            return
        self._report(p, "order_status", cl_ord_id=m.cl_ord_id)

    # ================================================================ taking orders down

    def _take_down(self, p: Parent, why: str, text: str) -> None:
        """Cancel every live child of the parent and tell the algo engine to stop."""
        if p.state == "pending_replace" and why in ("kill", "eod", "venue"):
            # The broker takes the order down: the client's replace cannot be carried out.
            pend_cl = p.pend_cl_ord_id
            if p.pend_timer:
                self.ctx.cancel_timer(p.pend_timer)
                p.pend_timer = 0
            self._clear_pending(p)
            self._move(p, "replace_refused")
            self._cancel_reject(p.client, p.order_id, pend_cl, p.cl_ord_id,
                                states.ord_status(p.state, p.cum_qty, p.qty), "replace",
                                "broker_option", f"the order is being cancelled ({text})")
        p.closing = why
        p.closing_text = text
        self.ctx.publish(ParentCanceling(order_id=p.order_id, reason=text))
        children = self.s.children
        for cid in p.children:
            c = children[cid]
            if c.status in CHILD_LIVE:
                self._cancel_child(p, c)
        self._progress(p)

    def _cancel_child(self, p: Parent, c: Child) -> None:
        if c.pending == "cancel":
            return
        c.pending = "cancel"
        self.ctx.publish(ChildOrderSent("cancel", p.order_id, c.child_id, c.venue,
                                        c.destination, p.symbol, p.side, c.qty, c.ord_type,
                                        c.limit_px, c.tif))

    def _progress(self, p: Parent, refused: str = "") -> None:
        """After any change to a parent's children: finish what was waiting for them.
        `refused`: why, if a venue has just refused to cancel a child (for a client's
        cancel that the venues leave nothing more to answer)."""
        st = p.state
        if st == "pending_replace":
            if self._fits(p, p.pend_qty, p.pend_px):
                self._apply_replace(p)
            elif p.pend_overdue and not self._in_flight(p):
                self._refuse_replace(p)
            return
        if p.live_children:
            if (st == "pending_cancel" and p.closing == "client" and not self._in_flight(p)
                    and not self.s.eod_done and not self._killed(p.client, p.symbol)):
                self._refuse_cancel(p, refused or "a venue refused to cancel the order's "
                                    "open shares")
            return
        if st == "pending_cancel":
            self._finish(p, "cancel_done", cl_ord_id=p.pend_cl_ord_id, orig=p.cl_ord_id)
        elif st == "working" and p.closing in ("kill", "eod", "venue"):
            client = self.s.clients.get(p.client)
            if p.closing == "eod" and client is not None and client.done_for_day:
                self._finish(p, "done_for_day", text=p.closing_text)
            else:
                self._finish(p, "unsolicited_cancel", text=p.closing_text)

    def _finish(self, p: Parent, event: states.Event, *, cl_ord_id: str = "", orig: str = "",
                text: str = "", last_qty: int = 0, last_px: int = 0,
                report: bool = True) -> None:
        """The parent reaches a final state: report it, release its limits, tell the algo."""
        s = self.s
        leaves = p.qty - p.cum_qty
        exec_type = self._move(p, event)
        if p.pend_timer:
            self.ctx.cancel_timer(p.pend_timer)
            p.pend_timer = 0
        self._clear_pending(p)
        self._commit(p, -leaves * p.px_ref)
        s.open_orders[p.client] -= 1
        s.open_orders[FIRM] -= 1
        s.live.pop(p.order_id, None)
        if report:
            self._report(p, exec_type, cl_ord_id=cl_ord_id, orig=orig, text=text,
                         last_qty=last_qty, last_px=last_px)
        self.ctx.publish(ParentDone(p.order_id, states.ord_status(p.state, p.cum_qty, p.qty),
                                    p.cum_qty))

    def on_timer(self, token: Any) -> None:
        if token == "eod":
            self._end_of_day()
        elif isinstance(token, str) and token.startswith("replace:"):
            p = self.s.parents.get(token[8:])
            if p is not None and p.state == "pending_replace":
                p.pend_timer = 0
                self._replace_timeout(p)

    def _in_flight(self, p: Parent) -> bool:
        """Has any live child of the parent a cancel or replace the venue has not answered?"""
        children = self.s.children
        for cid in p.children:
            c = children[cid]
            if c.status in CHILD_LIVE and (c.pending or c.pend_qty or c.pend_px):
                return True
        return False

    def _refuse_replace(self, p: Parent) -> None:
        """The children cannot be brought within the client's replace (a venue refused to
        let go of one): the replace is rejected and the order goes on on its old terms."""
        pend_cl = p.pend_cl_ord_id
        self._clear_pending(p)
        if p.closing == "replace":
            p.closing = p.closing_text = ""
        self._move(p, "replace_refused")
        self._cancel_reject(p.client, p.order_id, pend_cl, p.cl_ord_id,
                            states.ord_status(p.state, p.cum_qty, p.qty), "replace", "other",
                            "the replace could not be carried out: a venue did not release "
                            "the order's open children; the order stands on its old terms")
        self.ctx.publish(ParentAmended(order_id=p.order_id, qty=p.qty, limit_px=p.limit_px,
                                       algo_params=p.algo_params, cum_qty=p.cum_qty))

    def _refuse_cancel(self, p: Parent, text: str) -> None:
        """A venue refused to cancel a child and nothing else is in flight: the client's
        cancel is rejected (FIX: the order goes back to its status before the cancel)
        and the order goes on; the algo engine, told to stop by `ParentCanceling`, is
        given the order's terms again."""
        pend_cl = p.pend_cl_ord_id
        self._clear_pending(p)
        p.closing = p.closing_text = ""
        self._move(p, "cancel_refused")
        self._cancel_reject(p.client, p.order_id, pend_cl, p.cl_ord_id,
                            states.ord_status(p.state, p.cum_qty, p.qty), "cancel",
                            "broker_option", text)
        self.ctx.publish(ParentAmended(order_id=p.order_id, qty=p.qty, limit_px=p.limit_px,
                                       algo_params=p.algo_params, cum_qty=p.cum_qty))

    def _replace_timeout(self, p: Parent) -> None:
        """The algo engine did not fit the children to the replace in time: cancel the
        children outside the new limit (at their price or a replace's in flight), then the
        newest until the quantity fits. Once nothing is in flight and the children still
        do not fit, the replace is refused (`_progress`)."""
        p.pend_overdue = True
        children = self.s.children
        live = [children[cid] for cid in p.children
                if children[cid].status in CHILD_LIVE]
        exposure_left = p.open_qty
        for c in live:
            if p.ord_type == "limit" and (
                    not within_limit(p.side, p.pend_px, c.limit_px)
                    or (c.pend_px and not within_limit(p.side, p.pend_px, c.pend_px))):
                self._cancel_child(p, c)
                exposure_left -= exposure(c)
        for c in reversed(live):
            if p.cum_qty + exposure_left <= p.pend_qty:
                break
            if c.pending != "cancel":
                self._cancel_child(p, c)
                exposure_left -= exposure(c)
        self._alert("warning", "replace_timeout",
                    f"order {p.order_id}: children did not fit the client's replace within "
                    f"{self.s.replace_timeout_ms} ms; the OMS is cancelling the misfits")
        self._progress(p)

    def _end_of_day(self) -> None:
        s = self.s
        s.eod_done = True
        s.eod_timer = 0
        n = 0
        for oid in list(s.live):
            p = s.parents[oid]
            if p.state in ("working", "pending_replace") and not p.closing:
                n += 1
                client = s.clients.get(p.client)
                dfd = client is not None and client.done_for_day
                self._take_down(p, "eod", "done for day at the close" if dfd
                                else "cancelled at the close")
        self._alert("info", "end_of_day", f"end of day: {n} open orders taken down")

    # ================================================================ kill switch

    @handles(EngageKillSwitch)
    def on_kill(self, m: EngageKillSwitch) -> None:
        s = self.s
        if m.scope not in _KILL_SCOPES or (m.scope != "all" and not m.value):
            self._alert("warning", "bad_kill_switch",
                        f"kill switch scope must be all, client NAME or symbol NAME; "
                        f"got {m.scope!r} {m.value!r}")
            return
        entry = (m.scope, m.value if m.scope != "all" else "", m.reason)
        s.kills = [k for k in s.kills if k[:2] != entry[:2]] + [entry]
        text = f"kill switch: {m.reason}" if m.reason else "kill switch"
        n = 0
        for oid in list(s.live):
            p = s.parents[oid]
            if p.closing in ("kill",) or not (
                    m.scope == "all" or (m.scope == "client" and p.client == m.value)
                    or (m.scope == "symbol" and p.symbol == m.value)):
                continue
            n += 1
            if p.state == "pending_cancel":
                # The client's cancel is already taking the children down; make sure of it.
                for cid in p.children:
                    c = s.children[cid]
                    if c.status in CHILD_LIVE:
                        self._cancel_child(p, c)
                continue
            self._take_down(p, "kill", text)
        scope = "everything" if m.scope == "all" else f"{m.scope} {m.value}"
        self._alert("critical", "kill_switch",
                    f"kill switch engaged for {scope}: {n} orders being cancelled"
                    + (f" ({m.reason})" if m.reason else ""))

    @handles(ReleaseKillSwitch)
    def on_release(self, m: ReleaseKillSwitch) -> None:
        s = self.s
        value = m.value if m.scope != "all" else ""
        before = len(s.kills)
        s.kills = [k for k in s.kills if k[:2] != (m.scope, value)]
        scope = "everything" if m.scope == "all" else f"{m.scope} {m.value}"
        if len(s.kills) == before:
            self._alert("warning", "bad_kill_switch", f"no kill switch engaged for {scope}")
            return
        self._alert("warning", "kill_switch_released", f"kill switch released for {scope}"
                    + (f" ({m.reason})" if m.reason else ""))

    # ================================================================ child requests

    def _child_reject(self, parent_id: str, child_id: str, request: ChildRequest, reason: str,
                      alert: bool) -> None:
        self.ctx.publish(ChildRequestRejected(parent_id=parent_id, child_id=child_id,
                                              request=request, reason=reason))
        if alert:
            self._alert("warning", "child_rejected",
                        f"child {child_id} of {parent_id} ({request}) rejected: {reason}")

    def _parent_for_child(self, parent_id: str, child_id: str,
                          request: ChildRequest) -> Parent | None:
        p = self.s.parents.get(parent_id)
        if p is None:
            self._child_reject(parent_id, child_id, request, f"no parent order {parent_id}",
                               True)
            return None
        return p

    @handles(NewChild)
    def on_new_child(self, m: NewChild) -> None:
        s = self.s
        p = self._parent_for_child(m.parent_id, m.child_id, "new")
        if p is None:
            return
        why, alert = self._check_child(p, m)
        if why is not None:
            self._child_reject(m.parent_id, m.child_id, "new", why, alert)
            return
        # The first destination that is up (_check_child made sure there is one).
        dests = self._dests(m.venue)
        dest = m.destination or (
            next(d for d in dests if d not in s.down) if s.down else dests[0])
        c = Child(m.child_id, p.order_id, m.venue, dest, m.qty, m.ord_type, m.limit_px, m.tif)
        s.children[m.child_id] = c
        p.children += (m.child_id,)
        p.live_children += 1
        p.open_qty += m.qty
        self.ctx.publish(ChildOrderSent("new", p.order_id, m.child_id, m.venue, dest, p.symbol,
                                        p.side, m.qty, m.ord_type, m.limit_px, m.tif))

    def _check_child(self, p: Parent, m: NewChild) -> tuple[str | None, bool]:
        """Why a new child is refused, and whether that is an invariant (alerted)."""
        if m.child_id in self.s.children:
            return f"child id {m.child_id!r} is already in use", True
        if p.state not in ("working", "pending_replace") or p.closing:
            return (f"parent {p.order_id} is {states.ord_status(p.state, p.cum_qty, p.qty)}"
                    + (f" ({p.closing_text})" if p.closing else "") + ": no new children",
                    False)
        if self.s.kills:
            killed = self._killed(p.client, p.symbol)
            if killed:
                return f"kill switch engaged ({killed})", False
        if m.qty <= 0:
            return f"child quantity must be above 0, got {m.qty}", True
        dests = self._dests(m.venue)
        if not dests:
            return f"venue {m.venue!r} is not routable", True
        if self.s.down:
            if m.destination in self.s.down:
                return (f"destination {m.destination} is down "
                        f"({self.s.down[m.destination]})"), False
            if all(d in self.s.down for d in dests):
                return f"venue {m.venue} is down: no destination to it is up", False
        if m.destination and m.destination not in dests:
            return f"destination {m.destination!r} does not reach {m.venue}", True
        cap = min(p.qty, p.pend_qty) if p.state == "pending_replace" else p.qty
        if p.cum_qty + p.open_qty + m.qty > cap:
            return (f"child of {m.qty:,} would put open ({p.open_qty:,}) plus filled "
                    f"({p.cum_qty:,}) above the parent's {cap:,}"), True
        why = self._check_child_px(p, m.ord_type, m.limit_px)
        return why, why is not None

    def _check_child_px(self, p: Parent, ord_type: str, px: int) -> str | None:
        if ord_type == "limit":
            if px <= 0:
                return "a limit child needs a limit price above 0"
            why = self._check_tick(p.symbol_id, px)
            if why is not None:
                return why
        elif px:
            return "a market child takes no limit price"
        if p.ord_type != "limit":
            return None
        lim = tighter(p.side, p.limit_px, p.pend_px) if (
            p.state == "pending_replace" and p.pend_px) else p.limit_px
        if ord_type != "limit":
            return f"a market child of a limit parent could trade beyond its {fmt_px(lim)}"
        if not within_limit(p.side, lim, px):
            word = "above" if p.side == "buy" else "below"
            return (f"child limit {fmt_px(px)} is {word} the parent's {p.side} limit "
                    f"{fmt_px(lim)}")
        return None

    @handles(CancelChild)
    def on_cancel_child(self, m: CancelChild) -> None:
        p = self._parent_for_child(m.parent_id, m.child_id, "cancel")
        if p is None:
            return
        c = self.s.children.get(m.child_id)
        why = self._child_state_problem(p, c, m.child_id)
        if why is None and c is not None and c.pending == "cancel":
            why = f"a cancel of child {m.child_id} is already in flight"
        if why is not None or c is None:
            self._child_reject(m.parent_id, m.child_id, "cancel", why or "", False)
            return
        self._cancel_child(p, c)

    def _child_state_problem(self, p: Parent, c: Child | None, child_id: str) -> str | None:
        if c is None or c.parent_id != p.order_id:
            return f"no child {child_id} of parent {p.order_id}"
        if c.status not in CHILD_LIVE:
            return f"child {child_id} is {c.status}"
        return None

    @handles(ReplaceChild)
    def on_replace_child(self, m: ReplaceChild) -> None:
        p = self._parent_for_child(m.parent_id, m.child_id, "replace")
        if p is None:
            return
        c = self.s.children.get(m.child_id)
        why = self._child_state_problem(p, c, m.child_id)
        if why is not None or c is None:
            self._child_reject(m.parent_id, m.child_id, "replace", why or "", False)
            return
        if c.pending:
            self._child_reject(m.parent_id, m.child_id, "replace",
                               f"a {c.pending} of child {m.child_id} is already in flight", False)
            return
        qty = m.qty or c.qty
        px = m.limit_px or c.limit_px
        alert = True
        if qty <= c.cum_qty:
            why, alert = (f"new quantity {qty:,} is not above the child's filled "
                          f"{c.cum_qty:,} (cancel it instead)"), False
        elif m.limit_px and c.ord_type != "limit":
            why = "a market child has no limit price to amend"
        else:
            cap = min(p.qty, p.pend_qty) if p.state == "pending_replace" else p.qty
            grow = max(qty - c.qty, 0)
            if grow and p.cum_qty + p.open_qty + grow > cap:
                why = (f"replace to {qty:,} would put open ({p.open_qty + grow:,}) plus filled "
                       f"({p.cum_qty:,}) above the parent's {cap:,}")
            elif m.limit_px:
                why = self._check_child_px(p, c.ord_type, px)
            if why is None and (grow or m.limit_px) and (
                    p.closing or p.state not in ("working", "pending_replace")):
                why, alert = f"parent {p.order_id} is being taken down: only reductions", False
        if why is not None:
            self._child_reject(m.parent_id, m.child_id, "replace", why, alert)
            return
        before = exposure(c)
        c.pending = "replace"
        c.pend_qty = qty
        c.pend_px = px
        p.open_qty += exposure(c) - before
        self.ctx.publish(ChildOrderSent("replace", p.order_id, c.child_id, c.venue,
                                        c.destination, p.symbol, p.side, qty, c.ord_type, px,
                                        c.tif))

    # ================================================================ venue events

    def _child(self, child_id: str, what: str) -> tuple[Child, Parent] | None:
        c = self.s.children.get(child_id)
        if c is None:
            self._alert("error", "unknown_child", f"{what} for unknown child {child_id!r}")
            return None
        return c, self.s.parents[c.parent_id]

    @staticmethod
    def _close_child(p: Parent, c: Child, status: ChildStatus, before: int) -> None:
        """A live child is done; `before` is its exposure before the change that ended it
        (the parent's open quantity drops by exactly that)."""
        c.status = status
        c.pending = ""
        c.pend_qty = c.pend_px = 0
        p.live_children -= 1
        p.open_qty -= before

    @handles(VenueAck)
    def on_venue_ack(self, m: VenueAck) -> None:
        found = self._child(m.child_id, "an acknowledgement")
        if found is None:
            return
        c, _p = found
        c.venue_order_id = m.venue_order_id
        if c.status == "pending_new":
            c.status = "new"

    @handles(VenueReject)
    def on_venue_reject(self, m: VenueReject) -> None:
        found = self._child(m.child_id, "a reject")
        if found is None:
            return
        c, p = found
        if c.status in CHILD_LIVE:
            self._close_child(p, c, "rejected", exposure(c))
            if not self._dma_ended(p, f"{c.venue} rejected the order: {m.reason}"):
                self._progress(p)

    @handles(VenueCanceled)
    def on_venue_canceled(self, m: VenueCanceled) -> None:
        found = self._child(m.child_id, "a cancel")
        if found is None:
            return
        c, p = found
        if c.status not in CHILD_LIVE:
            return
        requested = c.pending == "cancel"
        self._close_child(p, c, "canceled", exposure(c))
        if m.unsolicited:
            self._alert("warning", "unsolicited_cancel",
                        f"{c.venue} cancelled child {c.child_id} of {p.order_id} "
                        f"({c.cum_qty:,} of {c.qty:,} filled)"
                        + (f": {m.reason}" if m.reason else ""))
        if requested or not self._dma_ended(p, f"{c.venue} cancelled the order"
                                            + (f": {m.reason}" if m.reason else "")):
            self._progress(p)

    def _dma_ended(self, p: Parent, text: str) -> bool:
        """A DMA order is its one child at the venue the client named: when the venue
        ends that child on its own (a reject, its own cancel, an IOC's remainder), the
        order ends with it, cancelled back to the client with the venue's reason (a
        pending replace is refused first). Other algos carry on: their engine decides."""
        if p.algo != "dma" or p.live_children or p.closing or p.state not in (
                "working", "pending_replace"):
            return False
        self._take_down(p, "venue", text)
        return True

    @handles(VenueReplaced)
    def on_venue_replaced(self, m: VenueReplaced) -> None:
        found = self._child(m.child_id, "a replace")
        if found is None:
            return
        c, p = found
        if c.status not in CHILD_LIVE:
            return
        self._resize(p, c, m.qty, m.limit_px, "replace")
        self._progress(p)

    @handles(VenueRestated)
    def on_venue_restated(self, m: VenueRestated) -> None:
        found = self._child(m.child_id, "a restatement")
        if found is None:
            return
        c, p = found
        if c.status not in CHILD_LIVE:
            return
        self._resize(p, c, m.qty, m.limit_px, "restatement")
        self._progress(p)

    def _resize(self, p: Parent, c: Child, qty: int, px: int, what: str) -> None:
        """The venue says the child is now `qty` (total, filled included) at `px`."""
        before = exposure(c)
        if c.pending == "replace":
            c.pending = ""
        c.pend_qty = c.pend_px = 0
        c.qty = max(qty, c.cum_qty)
        if px and c.ord_type == "limit":
            c.limit_px = px
        if c.cum_qty >= c.qty:
            self._close_child(p, c, "filled", before)
            return
        p.open_qty += exposure(c) - before
        broken = p.cum_qty + p.open_qty > p.qty or (
            p.ord_type == "limit" and not within_limit(p.side, p.limit_px, c.limit_px))
        if broken:
            self._alert("error", "child_out_of_bounds",
                        f"{c.venue} {what} left child {c.child_id} at {c.qty:,} @ "
                        f"{fmt_px(c.limit_px)}, outside parent {p.order_id}: cancelling it")
            self._cancel_child(p, c)

    @handles(VenueCancelRejected)
    def on_venue_cancel_rejected(self, m: VenueCancelRejected) -> None:
        found = self._child(m.child_id, "a cancel reject")
        if found is None:
            return
        c, p = found
        if c.status not in CHILD_LIVE:
            return
        before = exposure(c)
        if m.response_to == "replace":
            c.pend_qty = c.pend_px = 0
        if c.pending == m.response_to:
            c.pending = ""
        p.open_qty += exposure(c) - before
        if m.response_to != "cancel":
            self._progress(p)
            return
        self._progress(p, f"{c.venue} refused to cancel the order: {m.reason}")
        if p.closing or p.state == "pending_cancel":
            self._alert("warning", "cancel_refused",
                        f"{c.venue} refused to cancel child {c.child_id} of {p.order_id} "
                        f"({m.reason}); the order stays pending until the venue answers")

    @handles(VenueStatus)
    def on_venue_status(self, m: VenueStatus) -> None:
        """Routing avoids a destination whose session is down; children already there
        stay with the venue (it answers for them when the session is back)."""
        if m.status == "down":
            if m.destination not in self.s.down:
                self._alert("warning", "destination_down",
                            f"destination {m.destination} ({m.venue}) is down"
                            + (f": {m.reason}" if m.reason else "")
                            + "; new children avoid it")
            self.s.down[m.destination] = m.reason or "session down"
        elif self.s.down.pop(m.destination, None) is not None:
            self._alert("info", "destination_up",
                        f"destination {m.destination} ({m.venue}) is up again")

    @handles(VenueFill)
    def on_venue_fill(self, m: VenueFill) -> None:
        s = self.s
        c = s.children.get(m.child_id)
        if c is None:
            self._alert("error", "unknown_child", f"a fill for unknown child {m.child_id!r}")
            return
        p = s.parents[c.parent_id]
        if m.exec_id in c.exec_ids:
            return  # a venue's repeat (resend, PossDup): applied once already
        c.exec_ids += (m.exec_id,)
        qty = m.qty
        if qty <= 0 or m.px <= 0:
            self._alert("error", "bad_fill", f"{c.venue} fill {m.exec_id} of child "
                        f"{c.child_id} has quantity {qty} at {fmt_px(m.px)}: ignored")
            return
        room = min(exposure(c), p.qty - p.cum_qty if p.state in (
            "working", "pending_cancel", "pending_replace") else 0)
        if qty > room:
            excess = qty - room
            c.overfill += excess
            self._alert("critical", "overfill",
                        f"{c.venue} filled {qty:,} on child {c.child_id} of {p.order_id} with "
                        f"only {room:,} open: {excess:,} shares booked to the error account")
            qty = room
            if qty == 0:
                return
        before = exposure(c)
        if c.pend_qty > c.qty and c.cum_qty + qty > c.qty:
            # More than the child had: the venue applied the replace up in flight (its
            # confirmation is behind this fill).
            c.qty = c.pend_qty
            c.pend_qty = c.pend_px = 0
            if c.pending == "replace":
                c.pending = ""
        c.cum_qty += qty
        c.notional += qty * m.px
        if c.cum_qty >= c.qty:
            # Done at the venue, even with a replace up in flight: the venue filled the
            # order it had, and will refuse the replace as too late.
            self._close_child(p, c, "filled", before)
        else:
            p.open_qty -= qty
        # The parent.
        p.cum_qty += qty
        p.notional += qty * m.px
        delta = qty * (m.px - p.px_ref)
        if delta:  # _commit, inline on the commonest path
            g = s.gross
            g[p.client] = g.get(p.client, 0) + delta
            g[FIRM] = g.get(FIRM, 0) + delta
        if p.cum_qty >= p.qty:
            pend_cl, pend_state = p.pend_cl_ord_id, p.state
            if pend_state in ("pending_cancel", "pending_replace"):
                # The fill is reported while the request is still pending (FIX's
                # precedence keeps the pending status), then the request is refused.
                self._report(p, "trade", last_qty=qty, last_px=m.px)
                self._finish(p, "complete", report=False)
                self._cancel_reject(p.client, p.order_id, pend_cl, p.cl_ord_id, "filled",
                                    "cancel" if pend_state == "pending_cancel" else "replace",
                                    "too_late", "too late: the order is filled")
            else:
                self._finish(p, "complete", last_qty=qty, last_px=m.px)
            for cid in p.children:
                ch = self.s.children[cid]
                if ch.status in CHILD_LIVE:
                    self._cancel_child(p, ch)
            return
        self._report(p, self._move(p, "fill"), "", "", qty, m.px)
        self._progress(p)

    # ================================================================ state

    def snapshot(self) -> bytes:
        return _encoder.encode(self.s)

    def restore(self, data: bytes) -> None:
        self.s = _decoder.decode(data)

    def describe(self) -> dict[str, Any]:
        s = self.s
        return {
            "live_orders": len(s.live), "orders": len(s.parents), "children": len(s.children),
            "gross": dict(s.gross), "open_orders": dict(s.open_orders), "kills": s.kills,
            "alerts": s.alerts,
        }
