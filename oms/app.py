"""The OMS app: the book of record for every parent and child order of the day.

Inputs (all from the stream): client requests (`NewOrder`, `CancelOrder`,
`ReplaceOrder`, `OrderStatusRequest`), the algo engine's child requests
(`NewChild`, `CancelChild`, `ReplaceChild`), venue events (`VenueAck`,
`VenueFill`, ..., `VenueTradeCanceled`, `VenueTradeCorrected`), quotes and
trading status for the price collar and halts, and ops' commands
(`SetRiskLimit`, `EngageKillSwitch`, `ReleaseKillSwitch`, `HaltTrading`,
`ResumeTrading`, `SetParameter`, `EndOfDay`: the end-of-day cancel now).

Outputs: `ExecutionReport` and `CancelReject` to clients (FIX 4.4 semantics),
`ChildOrderSent` / `ChildRequestRejected` for the venue gateway and the algo
engine, `ParentAccepted` / `ParentAmended` / `ParentCanceling` / `ParentDone` /
`ParentReopened` for the algo engine, `Subscribe` for market data, and `Alert`s.

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
  unsolicited cancel, an IOC remainder), the order is cancelled back to the client;
  when the venue reduces it (an unsolicited reduction), so is the order (Restated);
- a ClOrdID is used once a day: a repeat is refused with the order that has it, as
  it stands; a repeat resent with PossResend is answered with that order's status.
  Status answers and cancel rejects name the order by its last accepted ClOrdID
  (a replace's or an accepted cancel's), a status with the one before it;
- an unsolicited cancel says why in ExecRestatementReason (the venue's reason, or
  broker option for the kill switch and the close);
- a venue's trade cancel or correction is applied to the child and the order and
  reported (ExecRefID: our report of that fill); a filled order left short is live
  again (`ParentReopened`: the algo engine works the rest) unless its day is over;
- an order for an amount of money (CashOrderQty) is converted to shares at its
  limit (a market order: at the reference price), stated in its reports;
- ExecInst (post only, pegs) is a DMA order's, carried on its child to the venue;
- in a trading halt (ops' `HaltTrading` of everything, a symbol, a client or a
  venue, or the market's halt of a symbol) a new DMA order is refused, or with
  `dma_on_halt` hold accepted for the algo engine to hold its child; the algo
  engine pauses every order in the halt until the resume.

Parameters (`SetParameter(target="oms", key, value)`): `eod_time` (HH:MM or
HH:MM:SS exchange-local, default 16:05:00, after the closing auctions
print), `replace_timeout_ms` (default 2000: how long the algo engine has to
fit the children to a pending replace before the OMS cancels the misfits),
`dma_on_halt` (reject, the default, or hold: what a new DMA order into a
trading halt gets).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from oms import checks, states
from oms.algos import check_time, time_ms
from oms.book import (
    Child,
    OmsState,
    Parent,
    avg_px,
    exposure,
    fill_key,
    fmt_px,
    move_child,
    within_limit,
)
from oms.config import FIRM, clients_from_rows, parse_limit
from oms.states import CHILD_LIVE, ChildEvent
from refdata.model import local_midnight_ns
from sequencer import sources
from sequencer.messages.admin import (
    CancelParent,
    EndOfDay,
    EngageKillSwitch,
    HaltTrading,
    ReleaseKillSwitch,
    ResumeTrading,
    SetParameter,
    SetRiskLimit,
)
from sequencer.messages.control import Alert, Severity, SystemStart
from sequencer.messages.executions import (
    CancelReject,
    ExecType,
    ExecutionReport,
    Liquidity,
    OrdStatus,
    RestatementReason,
    VenueAck,
    VenueCanceled,
    VenueCancelRejected,
    VenueFill,
    VenueReject,
    VenueReplaced,
    VenueRestated,
    VenueStatus,
    VenueTradeCanceled,
    VenueTradeCorrected,
)
from sequencer.messages.marketdata import MarketSnapshot, Quote, Subscribe, TradingStatus
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
    ParentReopened,
    ReplaceChild,
    ReplaceOrder,
)
from sequencer.runtime.app import StructApp, handles

NAME = "oms"
MS = 1_000_000
DEFAULT_TZ = "America/New_York"
_KILL_SCOPES = ("all", "client", "symbol")
ChildRequest = Literal["new", "cancel", "replace"]


def _by(user: str) -> str:
    """Who took an admin command, for its alert (the blotter's commands name them)."""
    return f" by {user}" if user else ""


class Oms(StructApp[OmsState]):
    name = NAME
    source_id = sources.OMS
    state_type = OmsState

    def __init__(self) -> None:
        self.state = OmsState()
        self._routes_rd: Any = None
        self._routes: dict[str, tuple[str, ...]] = {}

    # ================================================================ day and config

    @handles(SystemStart)
    def on_system_start(self, msg: SystemStart) -> None:
        s = self.state
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
        s = self.state
        if s.eod_timer:
            self.ctx.cancel_timer(s.eod_timer)
        s.eod_timer = self.ctx.set_timer(s.midnight_ns + s.eod_ms * MS, "eod")

    @handles(SetParameter)
    def on_set_parameter(self, msg: SetParameter) -> None:
        if msg.target != NAME:
            return
        s = self.state
        if msg.key == "eod_time":
            why = check_time(msg.value)
            if why is not None:
                self._alert("warning", "bad_parameter",
                            f"oms eod_time: expected {why}, got {msg.value!r}")
                return
            s.eod_ms = time_ms(msg.value)
            if not s.eod_done:
                self._arm_eod()
        elif msg.key == "dma_on_halt":
            if msg.value not in ("reject", "hold"):
                self._alert("warning", "bad_parameter",
                            f"oms dma_on_halt: expected reject or hold, got {msg.value!r}")
                return
            s.dma_on_halt = msg.value
        elif msg.key == "replace_timeout_ms":
            if not msg.value.isdigit() or int(msg.value) <= 0:
                self._alert("warning", "bad_parameter",
                            f"oms replace_timeout_ms: expected a whole number above 0, "
                            f"got {msg.value!r}")
                return
            s.replace_timeout_ms = int(msg.value)
        else:
            self._alert("warning", "bad_parameter",
                        f"oms has no parameter {msg.key!r} (eod_time, replace_timeout_ms, "
                        "dma_on_halt)")

    @handles(SetRiskLimit)
    def on_set_risk_limit(self, msg: SetRiskLimit) -> None:
        s = self.state
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
                    f"{_by(msg.user)}"
                    + (f": {msg.reason}" if msg.reason else ""))

    # ================================================================ market data

    @handles(Quote)
    def on_quote(self, q: Quote) -> None:
        if q.nbbo_bid_px or q.nbbo_ask_px:
            self.state.nbbo[q.symbol_id] = (q.nbbo_bid_px, q.nbbo_ask_px)

    @handles(MarketSnapshot)
    def on_snapshot(self, snap: MarketSnapshot) -> None:
        for q in snap.quotes:
            self.on_quote(q)
        self._market_status(snap.symbol_id, "*", snap.status, snap.reason)

    # ================================================================ trading halts

    @handles(TradingStatus)
    def on_trading_status(self, m: TradingStatus) -> None:
        self._market_status(m.symbol_id, m.venue, m.status, m.reason)

    def _market_status(self, symbol_id: int, venue: str, status: str, reason: str) -> None:
        """A symbol's phase from market data: halted on the whole market or its primary
        venue is a halt of the symbol; any other phase there ends it."""
        rd = self.ctx.refdata
        if venue != "*" and rd is not None:
            try:
                if rd.symbol(symbol_id).primary_venue != venue:
                    return
            except KeyError:
                return
        if status == "halted":
            self.state.market_halts[symbol_id] = reason
        else:
            self.state.market_halts.pop(symbol_id, None)

    @handles(HaltTrading)
    def on_halt(self, m: HaltTrading) -> None:
        """Ops halt trading in a scope ("*", a symbol, a client or a venue): the algo
        engine pauses the orders in it and holds their new children; a new DMA order
        into it is refused or accepted to wait, by `dma_on_halt`."""
        self.state.halts[m.scope] = m.reason

    @handles(ResumeTrading)
    def on_resume(self, m: ResumeTrading) -> None:
        if self.state.halts.pop(m.scope, None) is None:
            self._alert("warning", "bad_halt", f"ResumeTrading: no halt of {m.scope!r} "
                        "in force")

    def _subscribe(self, symbol_id: int) -> None:
        if symbol_id not in self.state.subscribed:
            self.state.subscribed[symbol_id] = None
            self.ctx.publish(Subscribe(symbol_id=symbol_id, subscriber=NAME))

    def _reference(self, symbol_id: int, side: str) -> int:
        """The price a buy would pay / a sell receive now: the NBBO's far touch, else
        the previous close from the ref data's statistics, else 0."""
        bid, ask = self.state.nbbo.get(symbol_id, (0, 0))
        far = ask if side == "buy" else bid
        if far > 0:
            return far
        try:
            return int(self.ctx.refdata.stats(symbol_id).ref_price)
        except (KeyError, AttributeError):
            return 0

    # ================================================================ ids and reports

    def _exec_id(self) -> str:
        """The next ExecID of the day (one sequence for every execution report)."""
        s = self.state
        s.next_exec += 1
        return f"{s.day}-E{s.next_exec}"

    def _report(self, p: Parent, exec_type: ExecType, cl_ord_id: str = "", orig: str = "",
                last_qty: int = 0, last_px: int = 0, text: str = "",
                reject_reason: str = "", liquidity: Liquidity = "", exec_ref_id: str = "",
                restatement: RestatementReason = "") -> str:
        """Report the order to its client; returns the report's ExecID."""
        st = p.state
        cum = p.cum_qty
        qty = p.qty
        exec_id = self._exec_id()
        # Positional (ExecutionReport's field order): msgspec matches keywords one by one,
        # which costs about 1 microsecond for a struct this wide.
        self.ctx.publish(ExecutionReport(
            p.client, p.order_id, cl_ord_id or p.cl_ord_id, orig, exec_id,
            exec_type, states.ord_status(st, cum, qty), p.symbol, p.side, qty, cum,
            qty - cum if st in states.LIVE else 0,
            last_qty, last_px, avg_px(p.notional, cum), p.limit_px, text, reject_reason,
            liquidity, exec_ref_id, restatement, p.cash_qty, p.exec_inst))
        return exec_id

    def _status_report(self, p: Parent, text: str = "") -> None:
        """The order as it stands (ExecType order status): its current ClOrdID and the
        one before it (FIX: a status names the order by its last accepted ClOrdID)."""
        self._report(p, "order_status", orig=p.orig_cl_ord_id, text=text)

    def _cancel_reject(self, client: str, order_id: str, cl_ord_id: str, orig: str,
                       ord_status: OrdStatus, response_to: Literal["cancel", "replace"],
                       reason: str, text: str) -> None:
        self.ctx.publish(CancelReject(
            client=client, order_id=order_id, cl_ord_id=cl_ord_id, orig_cl_ord_id=orig,
            ord_status=ord_status, response_to=response_to, reason=reason, text=text))

    def _alert(self, severity: Severity, code: str, text: str) -> None:
        self.state.alerts += 1
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
        s = self.state
        key = m.client + "\x00" + m.cl_ord_id
        if key in s.cl_ord_ids:
            self._known_cl_ord_id(m, s.parents[s.cl_ord_ids[key]])
            return
        s.next_order += 1
        order_id = f"{s.day}-{s.next_order}"
        s.cl_ord_ids[key] = order_id
        sym = self.ctx.refdata.find(m.symbol) if self.ctx.refdata is not None else None
        p = Parent(order_id, m.client, m.cl_ord_id, m.symbol, sym.id if sym is not None else 0,
                   m.side, m.qty, m.ord_type, m.limit_px, m.tif, m.algo.lower(), m.algo_params,
                   m.locate_broker)
        # Set after, and only when there is one: keywords cost a Struct this wide ~1 us.
        if m.cash_qty:
            p.cash_qty = m.cash_qty
        if m.exec_inst:
            p.exec_inst = m.exec_inst
        s.parents[order_id] = p
        converted = ""
        if m.cash_qty:
            # An amount of money: the shares it buys at the limit (a market order: at the
            # reference price now), whole round lots unless the client trades odd lots.
            refusal, shares, converted = checks.cash_to_shares(
                s, m, sym, self._reference(p.symbol_id, m.side) if sym is not None else 0)
            if refusal is None:
                m = msgspec.structs.replace(m, qty=shares)
                p.qty = shares
        else:
            refusal = None
        if refusal is None:
            refusal, p.px_ref = checks.check_new(s, self.ctx.refdata, m, p, sym,
                                                 self._routable, self._reference)
        if refusal is not None:
            reason, text = refusal
            self._move(p, "reject")
            self._report(p, "rejected", text=text, reject_reason=reason)
            return
        client = s.clients[m.client]
        if client.pending_new:
            self._report(p, "pending_new", text=converted)
        g = s.gross  # _commit, inline: every accepted order commits its notional
        g[p.client] = g.get(p.client, 0) + p.qty * p.px_ref
        g[FIRM] = g.get(FIRM, 0) + p.qty * p.px_ref
        s.open_orders[p.client] = s.open_orders.get(p.client, 0) + 1
        s.open_orders[FIRM] = s.open_orders.get(FIRM, 0) + 1
        s.live[order_id] = None
        self._report(p, self._move(p, "accept"), text=converted)
        self.ctx.publish(ParentAccepted(
            order_id, p.client, p.cl_ord_id, p.symbol, m.side, p.qty, m.ord_type, p.limit_px,
            m.tif, p.algo, p.algo_params))
        self._subscribe(p.symbol_id)

    def _known_cl_ord_id(self, m: NewOrder | CancelOrder | ReplaceOrder, p: Parent) -> None:
        """A request whose ClOrdID the client already used today (for order `p`). Resent
        with PossResend (97=Y), it is the client asking what became of it: the answer
        is the order's status. Otherwise it is a duplicate: a new order is rejected
        with the order as it stands (FIX: the reject describes the existing order), a
        cancel or replace gets a CancelReject."""
        if m.poss_resend:
            self._status_report(p, f"PossResend of ClOrdID {m.cl_ord_id!r}: "
                                   f"the order's status")
            return
        text = (f"duplicate ClOrdID {m.cl_ord_id!r}: already used today by order "
                f"{p.order_id}")
        if isinstance(m, NewOrder):
            self._report(p, "rejected", cl_ord_id=m.cl_ord_id, text=text,
                         reject_reason="duplicate_order")
            return
        self._cancel_reject(m.client, p.order_id, m.cl_ord_id, p.cl_ord_id,
                            states.ord_status(p.state, p.cum_qty, p.qty),
                            "cancel" if isinstance(m, CancelOrder) else "replace",
                            "duplicate_cl_ord_id", text)

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

    def _commit(self, p: Parent, delta: int) -> None:
        """Change the committed (gross) notional of the parent's client and the firm."""
        if delta:
            g = self.state.gross
            g[p.client] = g.get(p.client, 0) + delta
            g[FIRM] = g.get(FIRM, 0) + delta

    # ================================================================ cancel, replace, status

    def _find(self, client: str, cl_ord_id: str) -> Parent | None:
        oid = self.state.cl_ord_ids.get(client + "\x00" + cl_ord_id)
        return self.state.parents.get(oid) if oid is not None else None

    def _check_request(self, m: CancelOrder | ReplaceOrder,
                       what: Literal["cancel", "replace"]) -> Parent | None:
        """The order a cancel or replace request is for, or None after a CancelReject."""
        s = self.state
        p = self._find(m.client, m.orig_cl_ord_id)
        if p is None:
            self._cancel_reject(m.client, "NONE", m.cl_ord_id, m.orig_cl_ord_id, "rejected",
                                what, "unknown_order",
                                f"no order with ClOrdID {m.orig_cl_ord_id!r} for {m.client}")
            return None
        key = m.client + "\x00" + m.cl_ord_id
        known = s.cl_ord_ids.get(key)
        if known is not None:
            self._known_cl_ord_id(m, s.parents[known])
            return None
        s.cl_ord_ids[key] = p.order_id
        # A refusal names the order by its last accepted ClOrdID as OrigClOrdID (FIX:
        # "ClOrdID of the previous accepted order"), whichever of its ClOrdIDs the
        # request named.
        status = states.ord_status(p.state, p.cum_qty, p.qty)
        why: tuple[str, str] | None = None
        if m.symbol != p.symbol or m.side != p.side:
            why = ("other", f"the request is for {m.side} {m.symbol} but order "
                            f"{m.orig_cl_ord_id} is {p.side} {p.symbol}")
        elif p.state != "working" or p.closing:
            text, reason = states.REFUSALS.get(
                p.state, ("the order is being cancelled by the broker", "broker_option"))
            if p.closing and p.state == "working":
                text, reason = f"the order is being cancelled ({p.closing_text})", "other"
            why = (reason, text)
        elif isinstance(m, ReplaceOrder) and m.exec_inst != p.exec_inst:
            why = ("other", "ExecInst (18) cannot be changed by a replace: declare the "
                            "order's own (" + (" ".join(p.exec_inst) or "none") + ")")
        if why is not None:
            self._cancel_reject(m.client, p.order_id, m.cl_ord_id, p.cl_ord_id, status,
                                what, *why)
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
        s = self.state
        why = checks.check_replace(s, self.ctx.refdata, p, m, self._routable, self._reference)
        if why is not None:
            self._cancel_reject(m.client, p.order_id, m.cl_ord_id, p.cl_ord_id,
                                states.ord_status(p.state, p.cum_qty, p.qty), "replace",
                                "other", why)
            return
        qty = m.qty or p.qty
        px = m.limit_px or p.limit_px
        params = m.algo_params or p.algo_params
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
            children = self.state.children
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
        p.orig_cl_ord_id, p.cl_ord_id = old_cl, p.pend_cl_ord_id
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
        self._status_report(p)

    # ================================================================ taking orders down

    def _take_down(self, p: Parent, why: str, text: str,
                   restatement: RestatementReason = "broker_option") -> None:
        """Cancel every live child of the parent and tell the algo engine to stop.
        `restatement`: the ExecRestatementReason of the unsolicited cancel that ends it
        (the broker's own decision unless a venue's)."""
        if p.state == "pending_replace" and why in ("kill", "eod", "venue", "ops"):
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
        p.closing_reason = restatement if why != "client" else ""
        self.ctx.publish(ParentCanceling(order_id=p.order_id, reason=text))
        children = self.state.children
        for cid in p.children:
            c = children[cid]
            if c.status in CHILD_LIVE:
                self._cancel_child(p, c)
        self._progress(p)

    def _cancel_child(self, p: Parent, c: Child) -> None:
        if c.pending == "cancel":
            return
        move_child(c, "cancel_sent")
        self.ctx.publish(ChildOrderSent("cancel", p.order_id, c.child_id, c.venue,
                                        c.destination, p.symbol, p.side, c.qty, c.ord_type,
                                        c.limit_px, c.tif, p.exec_inst))

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
            s = self.state
            if (st == "pending_cancel" and p.closing == "client" and not self._in_flight(p)
                    and not s.eod_done and not checks.killed(s, p.client, p.symbol)):
                self._refuse_cancel(p, refused or "a venue refused to cancel the order's "
                                    "open shares")
            return
        if st == "pending_cancel":
            self._finish(p, "cancel_done", cl_ord_id=p.pend_cl_ord_id, orig=p.cl_ord_id)
        elif st == "working" and p.closing in ("kill", "eod", "venue", "halt", "ops"):
            client = self.state.clients.get(p.client)
            if p.closing == "eod" and client is not None and client.done_for_day:
                self._finish(p, "done_for_day", text=p.closing_text)
            else:
                self._finish(p, "unsolicited_cancel", text=p.closing_text,
                             restatement=p.closing_reason)

    def _finish(self, p: Parent, event: states.Event, *, cl_ord_id: str = "", orig: str = "",
                text: str = "", last_qty: int = 0, last_px: int = 0,
                report: bool = True, liquidity: Liquidity = "", exec_ref_id: str = "",
                restatement: RestatementReason = "", exec_type: ExecType | None = None) -> str:
        """The parent reaches a final state: report it (with the table's ExecType, or
        `exec_type`), release its limits, tell the algo. Returns the report's ExecID
        ("" if none)."""
        s = self.state
        leaves = p.qty - p.cum_qty
        moved = self._move(p, event)
        exec_type = exec_type or moved
        if event == "cancel_done" and cl_ord_id:
            # The accepted cancel's ClOrdID is the order's from now on.
            p.orig_cl_ord_id, p.cl_ord_id = p.cl_ord_id, cl_ord_id
        if p.pend_timer:
            self.ctx.cancel_timer(p.pend_timer)
            p.pend_timer = 0
        self._clear_pending(p)
        self._commit(p, -leaves * p.px_ref)
        s.open_orders[p.client] -= 1
        s.open_orders[FIRM] -= 1
        s.live.pop(p.order_id, None)
        exec_id = ""
        if report:
            exec_id = self._report(p, exec_type, cl_ord_id=cl_ord_id, orig=orig, text=text,
                                   last_qty=last_qty, last_px=last_px, liquidity=liquidity,
                                   exec_ref_id=exec_ref_id, restatement=restatement)
        self.ctx.publish(ParentDone(p.order_id, states.ord_status(p.state, p.cum_qty, p.qty),
                                    p.cum_qty))
        return exec_id

    def on_timer(self, token: Any) -> None:
        if token == "eod":
            self._end_of_day()
        elif isinstance(token, str) and token.startswith("replace:"):
            p = self.state.parents.get(token[8:])
            if p is not None and p.state == "pending_replace":
                p.pend_timer = 0
                self._replace_timeout(p)

    def _in_flight(self, p: Parent) -> bool:
        """Has any live child of the parent a cancel or replace the venue has not answered?"""
        children = self.state.children
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
        children = self.state.children
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
                    f"{self.state.replace_timeout_ms} ms; the OMS is cancelling the misfits")
        self._progress(p)

    @handles(EndOfDay)
    def on_end_of_day(self, msg: EndOfDay) -> None:
        """Ops' end-of-day cancel, now: the same as the `eod_time` timer (which it
        disarms); a second one finds nothing open and says so."""
        if self.state.eod_timer:
            self.ctx.cancel_timer(self.state.eod_timer)
        self._end_of_day()

    def _end_of_day(self) -> None:
        s = self.state
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

    @handles(CancelParent)
    def on_cancel_parent(self, m: CancelParent) -> None:
        """Ops cancel one order (the blotter's cancel button): taken down as the broker's
        decision, like the kill switch but for this order alone."""
        s = self.state
        who = _by(m.user)
        p = s.parents.get(m.order_id)
        if p is None or m.order_id not in s.live:
            self._alert("warning", "bad_cancel",
                        f"cancel{who}: order {m.order_id!r} is not open"
                        + ("" if p is None else f" ({p.state})"))
            return
        if p.closing or p.state not in ("working", "pending_replace"):
            self._alert("warning", "bad_cancel",
                        f"cancel{who}: order {m.order_id} is already being cancelled")
            return
        text = "cancelled by the broker" + (f": {m.reason}" if m.reason else "")
        self._take_down(p, "ops", text)
        self._alert("warning", "ops_cancel", f"order {p.order_id} ({p.client} {p.side} "
                    f"{p.qty} {p.symbol}) cancelled{who}"
                    + (f": {m.reason}" if m.reason else ""))

    # ================================================================ kill switch

    @handles(EngageKillSwitch)
    def on_kill(self, m: EngageKillSwitch) -> None:
        s = self.state
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
                    f"kill switch engaged for {scope}{_by(m.user)}: {n} orders being cancelled"
                    + (f" ({m.reason})" if m.reason else ""))

    @handles(ReleaseKillSwitch)
    def on_release(self, m: ReleaseKillSwitch) -> None:
        s = self.state
        value = m.value if m.scope != "all" else ""
        before = len(s.kills)
        s.kills = [k for k in s.kills if k[:2] != (m.scope, value)]
        scope = "everything" if m.scope == "all" else f"{m.scope} {m.value}"
        if len(s.kills) == before:
            self._alert("warning", "bad_kill_switch", f"no kill switch engaged for {scope}")
            return
        self._alert("warning", "kill_switch_released",
                    f"kill switch released for {scope}{_by(m.user)}"
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
        p = self.state.parents.get(parent_id)
        if p is None:
            self._child_reject(parent_id, child_id, request, f"no parent order {parent_id}",
                               True)
            return None
        return p

    @handles(NewChild)
    def on_new_child(self, m: NewChild) -> None:
        s = self.state
        p = self._parent_for_child(m.parent_id, m.child_id, "new")
        if p is None:
            return
        dests = self._dests(m.venue)
        why, alert = checks.check_child(s, self.ctx.refdata, p, m, dests)
        if why is not None:
            self._child_reject(m.parent_id, m.child_id, "new", why, alert)
            return
        # The first destination that is up (checks.check_child made sure there is one).
        dest = m.destination or (
            next(d for d in dests if d not in s.down) if s.down else dests[0])
        c = Child(m.child_id, p.order_id, m.venue, dest, m.qty, m.ord_type, m.limit_px, m.tif)
        s.children[m.child_id] = c
        p.children += (m.child_id,)
        p.live_children += 1
        p.open_qty += m.qty
        self.ctx.publish(ChildOrderSent("new", p.order_id, m.child_id, m.venue, dest, p.symbol,
                                        p.side, m.qty, m.ord_type, m.limit_px, m.tif,
                                        p.exec_inst))

    @handles(CancelChild)
    def on_cancel_child(self, m: CancelChild) -> None:
        p = self._parent_for_child(m.parent_id, m.child_id, "cancel")
        if p is None:
            return
        c = self.state.children.get(m.child_id)
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
        c = self.state.children.get(m.child_id)
        why = self._child_state_problem(p, c, m.child_id)
        if why is not None or c is None:
            self._child_reject(m.parent_id, m.child_id, "replace", why or "", False)
            return
        if c.pending:
            self._child_reject(m.parent_id, m.child_id, "replace",
                               f"a {c.pending} of child {m.child_id} is already in flight", False)
            return
        why, alert = checks.check_child_replace(self.ctx.refdata, p, c, m)
        if why is not None:
            self._child_reject(m.parent_id, m.child_id, "replace", why, alert)
            return
        qty = m.qty or c.qty
        px = m.limit_px or c.limit_px
        before = exposure(c)
        move_child(c, "replace_sent")
        c.pend_qty = qty
        c.pend_px = px
        p.open_qty += exposure(c) - before
        self.ctx.publish(ChildOrderSent("replace", p.order_id, c.child_id, c.venue,
                                        c.destination, p.symbol, p.side, qty, c.ord_type, px,
                                        c.tif, p.exec_inst))

    # ================================================================ venue events

    def _child(self, child_id: str, what: str) -> tuple[Child, Parent] | None:
        c = self.state.children.get(child_id)
        if c is None:
            self._alert("error", "unknown_child", f"{what} for unknown child {child_id!r}")
            return None
        return c, self.state.parents[c.parent_id]

    def _close_child(self, p: Parent, c: Child, end: ChildEvent, before: int) -> None:
        """A live child is done (`end`: filled, canceled or rejected); `before` is its
        exposure before the change that ended it (the parent's open quantity drops by
        exactly that)."""
        move_child(c, end)
        p.live_children -= 1
        p.open_qty -= before

    @handles(VenueAck)
    def on_venue_ack(self, m: VenueAck) -> None:
        found = self._child(m.child_id, "an acknowledgement")
        if found is None:
            return
        c, _p = found
        c.venue_order_id = m.venue_order_id
        move_child(c, "ack")

    @handles(VenueReject)
    def on_venue_reject(self, m: VenueReject) -> None:
        found = self._child(m.child_id, "a reject")
        if found is None:
            return
        c, p = found
        if c.status in CHILD_LIVE:
            self._close_child(p, c, "rejected", exposure(c))
            if not self._dma_ended(p, f"{c.venue} rejected the order: {m.reason}",
                                   "market_option"):
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
        # An unsolicited cancel says why in ExecRestatementReason (the venue's, else the
        # exchange's option); an IOC's remainder or an expiry is what the order asked for.
        restatement: RestatementReason = (m.restatement_reason or "market_option") if (
            m.unsolicited) else ""
        if requested or not self._dma_ended(p, f"{c.venue} cancelled the order"
                                            + (f": {m.reason}" if m.reason else ""),
                                            restatement):
            self._progress(p)

    def _dma_ended(self, p: Parent, text: str, restatement: RestatementReason) -> bool:
        """A DMA order is its one child at the venue the client named: when the venue
        ends that child on its own (a reject, its own cancel, an IOC's remainder), the
        order ends with it, cancelled back to the client with the venue's reason (a
        pending replace is refused first). Other algos carry on: their engine decides."""
        if p.algo != "dma" or p.live_children or p.closing or p.state not in (
                "working", "pending_replace"):
            return False
        self._take_down(p, "venue", text, restatement)
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
        """A venue changed a child on its own. A DMA order is its child, so a reduction
        (an unsolicited reduction: ExecRestatementReason partial decline, a halt, ...)
        reduces the order too, and the client is told (ExecType Restated, OrderQty and
        LeavesQty reduced; filled if nothing is left). Another algo's child shrinking
        leaves the order as it is: the algo engine works the shares elsewhere."""
        found = self._child(m.child_id, "a restatement")
        if found is None:
            return
        c, p = found
        if c.status not in CHILD_LIVE:
            return
        cut = c.qty - max(m.qty, c.cum_qty)
        self._resize(p, c, m.qty, m.limit_px, "restatement")
        if cut > 0 and p.algo == "dma" and p.state in ("working", "pending_cancel",
                                                      "pending_replace"):
            self._restated(p, min(cut, p.qty - p.cum_qty), m)
            return
        self._progress(p)

    def _restated(self, p: Parent, cut: int, m: VenueRestated) -> None:
        """Reduce a DMA order by what its venue cut from its child, and report it."""
        reason: RestatementReason = m.restatement_reason or "partial_decline"
        text = f"the venue reduced the order by {cut:,}" + (f": {m.reason}" if m.reason
                                                            else "")
        left = p.qty - p.cum_qty - cut
        if left <= 0 and not p.cum_qty:
            # Reduced to nothing: the venue has cancelled the order.
            if not self._dma_ended(p, text, reason):
                self._progress(p)
            return
        self._commit(p, -cut * p.px_ref)
        p.qty -= cut
        if left <= 0:
            # Nothing left to trade: the order is done, filled at what it has.
            self._completed(p, "complete", "restated", last_qty=0, last_px=0, text=text,
                            restatement=reason)
            return
        self._report(p, self._move(p, "restate"), text=text, restatement=reason)
        self._progress(p)

    def _resize(self, p: Parent, c: Child, qty: int, px: int, what: str) -> None:
        """The venue says the child is now `qty` (total, filled included) at `px`."""
        before = exposure(c)
        move_child(c, "replaced")
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
        move_child(c, "replace_refused" if m.response_to == "replace"
                         else "cancel_refused")
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
            if m.destination not in self.state.down:
                self._alert("warning", "destination_down",
                            f"destination {m.destination} ({m.venue}) is down"
                            + (f": {m.reason}" if m.reason else "")
                            + "; new children avoid it")
            self.state.down[m.destination] = m.reason or "session down"
        elif self.state.down.pop(m.destination, None) is not None:
            self._alert("info", "destination_up",
                        f"destination {m.destination} ({m.venue}) is up again")

    @handles(VenueFill)
    def on_venue_fill(self, m: VenueFill) -> None:
        s = self.state
        c = s.children.get(m.child_id)
        if c is None:
            self._alert("error", "unknown_child", f"a fill for unknown child {m.child_id!r}")
            return
        p = s.parents[c.parent_id]
        fills = s.fills
        key = m.child_id + "\x00" + m.exec_id  # fill_key, inline
        if key in fills:
            return  # a venue's repeat (resend, PossDup): applied once already
        c.fills += 1
        qty = m.qty
        if qty <= 0 or m.px <= 0:
            fills[key] = (0, m.px, "", False)
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
                fills[key] = (0, m.px, "", False)
                return
        before = exposure(c)
        if c.pend_qty > c.qty and c.cum_qty + qty > c.qty:
            # More than the child had: the venue applied the replace up in flight (its
            # confirmation is behind this fill).
            c.qty = c.pend_qty
            move_child(c, "replaced")
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
            fills[key] = (qty, m.px, self._completed(
                p, "complete", "trade", last_qty=qty, last_px=m.px, liquidity=m.liquidity),
                True)
            return
        fills[key] = (qty, m.px, self._report(
            p, self._move(p, "fill"), "", "", qty, m.px, "", "", m.liquidity), True)
        self._progress(p)

    def _completed(self, p: Parent, event: states.Event, exec_type: ExecType, *,
                   last_qty: int, last_px: int, liquidity: Liquidity = "",
                   exec_ref_id: str = "", text: str = "",
                   restatement: RestatementReason = "") -> str:
        """The order's quantity is filled (by a fill, or a venue's correction): report it,
        end it, refuse a cancel or replace the client has pending, and cancel the
        children still open. Returns the report's ExecID."""
        pend_cl, pend_state = p.pend_cl_ord_id, p.state
        if pend_state in ("pending_cancel", "pending_replace"):
            # The fill is reported while the request is still pending (FIX's
            # precedence keeps the pending status), then the request is refused.
            exec_id = self._report(p, exec_type, last_qty=last_qty, last_px=last_px,
                                   liquidity=liquidity, exec_ref_id=exec_ref_id, text=text,
                                   restatement=restatement)
            self._finish(p, event, report=False)
            self._cancel_reject(p.client, p.order_id, pend_cl, p.cl_ord_id, "filled",
                                "cancel" if pend_state == "pending_cancel" else "replace",
                                "too_late", "too late: the order is filled")
        else:
            exec_id = self._finish(p, event, last_qty=last_qty, last_px=last_px,
                                   liquidity=liquidity, exec_ref_id=exec_ref_id, text=text,
                                   restatement=restatement, exec_type=exec_type)
        for cid in p.children:
            ch = self.state.children[cid]
            if ch.status in CHILD_LIVE:
                self._cancel_child(p, ch)
        return exec_id

    # ================================================================ busts and corrections

    @handles(VenueTradeCanceled)
    def on_trade_canceled(self, m: VenueTradeCanceled) -> None:
        self._amend_fill(m.child_id, m.exec_id, m.ref_exec_id, None)

    @handles(VenueTradeCorrected)
    def on_trade_corrected(self, m: VenueTradeCorrected) -> None:
        self._amend_fill(m.child_id, m.exec_id, m.ref_exec_id, (m.qty, m.px))

    def _amend_fill(self, child_id: str, exec_id: str, ref: str,
                    correct: tuple[int, int] | None) -> None:
        """A venue broke (`correct` None) or corrected (to qty, px) the fill `ref` of a
        child after the fact. The child, the order and the day's committed notional are
        recomputed, and the client is told (Trade Cancel or Trade Correct, ExecRefID
        the ExecID of our report of that fill). A filled order left short of its
        quantity is live again: the algo engine is given it back to work the rest
        (`ParentReopened`), unless the day is over for it (then it ends at once). A
        correction that brings an order to its quantity fills it."""
        what = "trade correction" if correct else "trade cancel"
        found = self._child(child_id, f"a {what}")
        if found is None:
            return
        c, p = found
        fills = self.state.fills
        key, ref_key = fill_key(child_id, exec_id), fill_key(child_id, ref)
        if key in fills:
            return  # a venue's repeat
        c.fills += 1
        rec = fills.get(ref_key)
        if rec is None or not rec[3]:
            fills[key] = (0, 0, "", False)
            self._alert("error", "unknown_fill",
                        f"{c.venue} {what} {exec_id} of child {c.child_id} ({p.order_id}) "
                        f"refers to {ref!r}, "
                        + ("a fill already broken or corrected" if rec else "no fill of it")
                        + ": ignored, ops must reconcile")
            return
        old_qty, old_px, our_ref, _ = rec
        new_qty, new_px = correct if correct is not None else (0, old_px)
        if new_qty < 0 or (correct is not None and new_px <= 0):
            fills[key] = (0, 0, "", False)
            self._alert("error", "bad_fill", f"{c.venue} {what} {exec_id} of child "
                        f"{c.child_id} to {new_qty:,} at {fmt_px(new_px)}: ignored")
            return
        live_before = p.state in states.LIVE
        dq = new_qty - old_qty
        if dq > 0:
            # More filled: within what the order may still have (its quantity less what
            # is filled and what its other children have open), the rest to error.
            room = p.qty - p.cum_qty - (p.open_qty - exposure(c))
            if dq > room:
                excess = dq - room
                c.overfill += excess
                self._alert("critical", "overfill",
                            f"{c.venue} corrected fill {ref} of child {c.child_id} of "
                            f"{p.order_id} up by {dq:,} with only {room:,} open: "
                            f"{excess:,} shares booked to the error account")
                dq = room
                new_qty = old_qty + dq
        # The child, on the safe side of what the venue may do with the order's open
        # shares: fewer filled leaves the open quantity as it was (a bust does not give
        # the venue more to fill), more filled takes it from the open quantity. Either
        # way the parent's filled plus open stays within its quantity; shares a venue
        # fills beyond that go to the error account with a critical alert (`on_venue_fill`).
        before = exposure(c)
        c.cum_qty += dq
        c.notional += new_qty * new_px - old_qty * old_px
        if dq < 0:
            c.qty += dq
        elif c.cum_qty > c.qty:
            c.qty = c.cum_qty
        if c.status in CHILD_LIVE and c.cum_qty >= c.qty:
            self._close_child(p, c, "filled", before)
        else:
            p.open_qty += exposure(c) - before
        # The order, and what it commits: open shares count at the reference price while
        # the order lives, filled ones at their price.
        notional_change = new_qty * new_px - old_qty * old_px
        p.cum_qty += dq
        p.notional += notional_change
        self._commit(p, notional_change - (dq * p.px_ref if live_before else 0))
        if correct is None:
            event: states.Event = "bust_reopen" if p.state == "filled" else "bust"
        elif p.state == "filled" and p.cum_qty < p.qty:
            event = "correct_reopen"
        elif live_before and p.cum_qty >= p.qty:
            event = "correct_complete"
        else:
            event = "correct"
        exec_type: ExecType = "trade_cancel" if correct is None else "trade_correct"
        text = (f"{c.venue} broke the fill of {old_qty:,} at {fmt_px(old_px)}"
                if correct is None else
                f"{c.venue} corrected the fill of {old_qty:,} at {fmt_px(old_px)} to "
                f"{new_qty:,} at {fmt_px(new_px)}")
        self._alert("warning", "trade_" + ("cancel" if correct is None else "correct"),
                    f"{text} (child {c.child_id} of {p.order_id})")
        if event == "correct_complete":
            our_id = self._completed(p, event, exec_type, last_qty=new_qty, last_px=new_px,
                                     exec_ref_id=our_ref)
        else:
            self._move(p, event)
            if event in ("bust_reopen", "correct_reopen"):
                self._take_up_again(p)
            # A correction states the fill as corrected; a bust, no fill (0 at 0).
            our_id = self._report(p, exec_type, last_qty=new_qty,
                                  last_px=new_px if correct is not None else 0,
                                  text=text, exec_ref_id=our_ref)
        fills[ref_key] = (old_qty, old_px, our_ref, False)
        fills[key] = (new_qty, new_px, our_id, correct is not None)
        if event in ("bust_reopen", "correct_reopen"):
            self._resume_reopened(p)

    def _take_up_again(self, p: Parent) -> None:
        """A filled order is live again (its shares left count as open and committed)."""
        s = self.state
        s.live[p.order_id] = None
        s.open_orders[p.client] = s.open_orders.get(p.client, 0) + 1
        s.open_orders[FIRM] = s.open_orders.get(FIRM, 0) + 1
        self._commit(p, (p.qty - p.cum_qty) * p.px_ref)

    def _resume_reopened(self, p: Parent) -> None:
        """Give a reopened order back to the algo engine, or end it at once if its day is
        over (the close went by, a kill switch covers it, or its time in force passed)."""
        s = self.state
        why_killed = checks.killed(s, p.client, p.symbol) if s.kills else ""
        if s.eod_done:
            client = s.clients.get(p.client)
            self._take_down(p, "eod", "done for day at the close" if (
                client is not None and client.done_for_day) else "cancelled at the close")
            return
        if why_killed or p.tif not in ("day", "gtc"):
            self._take_down(p, "kill", f"kill switch engaged ({why_killed})" if why_killed
                            else f"a {p.tif.upper()} order's time has passed")
            return
        p.closing = p.closing_text = ""
        p.closing_reason = ""
        self.ctx.publish(ParentReopened(
            p.order_id, p.client, p.cl_ord_id, p.symbol, p.side, p.qty, p.ord_type,
            p.limit_px, p.tif, p.algo, p.algo_params, p.cum_qty, p.notional))

    # ================================================================ state

    def describe(self) -> dict[str, Any]:
        s = self.state
        return {
            "live_orders": len(s.live), "orders": len(s.parents), "children": len(s.children),
            "gross": dict(s.gross), "open_orders": dict(s.open_orders), "kills": s.kills,
            "alerts": s.alerts,
        }
