"""Pre-trade checks: why the OMS refuses a client's order, an amendment or a child.

Pure functions of the OMS's book (`oms.book.OmsState`), the day's ref data and
the request; none changes anything. A refusal of a client request is
`(reason, text)`: the OrdRejReason (or CxlRejReason) in words and a sentence
for the trader. The order of the checks is the order a trader reads them in:
the day and the client first, then the symbol, the kill switch, quantity,
time in force, price, algo and ExecInst, a trading halt (a DMA order, when the
OMS is set to refuse those), short-sale locate, and the limits last. An order
for an amount of money is converted to shares first (`cash_to_shares`).

Limits are the client's, then the firm's (`oms.config`): order quantity,
order notional, open orders, the day's committed (gross) notional, and the
price collar around the NBBO's far touch (or the previous close).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from oms import states
from oms.algos import check_algo
from oms.book import Child, OmsState, Parent, fmt_money, fmt_px, tighter, within_limit
from oms.config import FIRM, Client
from sequencer.messages.orders import NewChild, NewOrder, ReplaceChild, ReplaceOrder

Refusal = tuple[str, str]
TIFS = ("day", "ioc", "fok", "opg", "cls")


def killed(s: OmsState, client: str, symbol: str) -> str:
    """The kill switch that covers `client` or `symbol`, in words ("" if none)."""
    if not s.kills:
        return ""
    for scope, value, why in s.kills:
        if scope == "all" or (scope == "client" and value == client) or (
                scope == "symbol" and value == symbol):
            what = "everything" if scope == "all" else f"{scope} {value}"
            return f"{what}: {why}" if why else what
    return ""


def check_qty(qty: int, lot: int, odd_lots: bool) -> str | None:
    if qty <= 0:
        return f"order quantity must be above 0, got {qty}"
    if not odd_lots and lot > 1 and qty % lot:
        return (f"order quantity {qty:,} is not a whole number of round lots of "
                f"{lot} (odd lots are not enabled for this client)")
    return None


def check_tick(rd: Any, symbol_id: int, px: int) -> str | None:
    tick = rd.tick_size(symbol_id, px)
    if px % tick:
        return f"limit price {fmt_px(px)} is not on the tick ({fmt_px(tick)})"
    return None


def locate_required(rd: Any, symbol: str) -> bool:
    """Short sales need a locate unless the stock loan desk's borrow table lists the
    symbol as not requiring one (its easy-to-borrow list)."""
    try:
        row = rd.table("borrow").get(symbol)
    except KeyError:
        return True
    return row is None or bool(row.get("locate_required", True))


def cash_to_shares(s: OmsState, m: NewOrder, sym: Any,
                   reference: int) -> tuple[Refusal | None, int, str]:
    """An order for an amount of money (CashOrderQty): the shares it buys, at the limit
    price or, for a market order, at the reference price now (the far touch, else the
    previous close), rounded down to whole round lots unless the client trades odd lots;
    and the conversion in words for the execution reports. Or why it cannot be done."""
    px = m.limit_px if m.ord_type == "limit" else reference
    cash = fmt_money(m.cash_qty)
    if m.qty:
        return ("incorrect_quantity", "send OrderQty or CashOrderQty, not both"), 0, ""
    if sym is None:
        return ("unknown_symbol", f"unknown symbol {m.symbol!r}"), 0, ""
    if px <= 0:
        return ("other", f"no price for {m.symbol} to convert CashOrderQty {cash} "
                         "into shares at"), 0, ""
    shares = m.cash_qty // px
    client = s.clients.get(m.client)
    lot = sym.lot_size if client is not None and not client.odd_lots else 1
    if lot > 1:
        shares -= shares % lot
    if shares <= 0:
        return ("incorrect_quantity", f"CashOrderQty {cash} buys no "
                + ("round lot" if lot > 1 else "share") + f" at {fmt_px(px)}"), 0, ""
    at = "the limit" if m.ord_type == "limit" else "the reference price"
    return None, shares, (f"CashOrderQty {cash} at {at} {fmt_px(px)}: "
                          f"{shares:,} shares")


def halted(s: OmsState, client: str, symbol: str, symbol_id: int, venue: str = "") -> str:
    """The trading halt that covers an order (ops' for everything, its symbol, client or
    venue; the market's for its symbol), in words ("" if none)."""
    if s.halts:
        for scope in ("*", symbol, client, venue):
            if scope and scope in s.halts:
                why = s.halts[scope]
                what = "everything" if scope == "*" else scope
                return f"{what} halted" + (f" ({why})" if why else "")
    if symbol_id in s.market_halts:
        why = s.market_halts[symbol_id]
        return f"{symbol} halted by the market" + (f" ({why})" if why else "")
    return ""


def check_exec_inst(m: NewOrder, algo: str) -> str | None:
    """Why the order's ExecInst cannot be carried out (None if it can): it reaches a venue
    only on a DMA order's child; a post-only order must have a price to rest at; a pegged
    or post-only order rests for the day (one peg at a time)."""
    inst = m.exec_inst
    if not inst:
        return None
    if algo != "dma":
        return (f"ExecInst (18) {' '.join(inst)} applies to DMA orders only: the "
                f"{algo.upper() or 'care'} order's children are the algo's to place")
    pegs = [i for i in inst if i.endswith("_peg")]
    if len(pegs) > 1:
        return "one peg at a time in ExecInst (18): mid-price (M) or primary (R)"
    if "participate_dont_initiate" in inst and m.ord_type == "market" and not pegs:
        return "a participate-don't-initiate (18=6) order needs a limit price to rest at"
    if (pegs or "participate_dont_initiate" in inst) and m.tif != "day":
        return (f"a pegged or participate-don't-initiate order rests: time in force "
                f"{m.tif.upper()} cannot be used with it (DAY only)")
    return None


def check_new(s: OmsState, rd: Any, m: NewOrder, p: Parent, sym: Any,
              routable: Callable[[str], bool],
              reference: Callable[[int, str], int]) -> tuple[Refusal | None, int]:
    """Why the new order `m` (booked as `p`) is refused, and the price its notional
    counts at (its limit, or for a market order the reference price now)."""
    if s.eod_done:
        return ("too_late_to_enter", "too late: the OMS has closed the day's trading"), 0
    client = s.clients.get(m.client)
    if client is None:
        return ("unknown_account", f"unknown client {m.client!r}"), 0
    if rd is None or sym is None:
        return ("unknown_symbol", f"unknown symbol {m.symbol!r}"), 0
    if sym.restricted:
        because = f" ({sym.restricted_reason})" if sym.restricted_reason else ""
        return ("broker_option", f"{m.symbol} is on the firm's restricted list{because}"), 0
    for lim in (client.limits, s.firm):
        if not lim.allows(m.symbol):
            who = "the firm" if lim is s.firm else f"client {m.client}"
            return ("broker_option",
                    f"{m.symbol} is not among the symbols allowed for {who}"), 0
    if s.kills:
        why_killed = killed(s, m.client, m.symbol)
        if why_killed:
            return ("broker_option", f"kill switch engaged ({why_killed}): no new orders"), 0
    why = check_qty(m.qty, sym.lot_size, client.odd_lots)
    if why is not None:
        return ("incorrect_quantity", why), 0
    if m.tif not in TIFS:
        return ("unsupported_order_characteristic",
                f"time in force {m.tif.upper()} is not accepted (orders live for the day: "
                f"{', '.join(t.upper() for t in TIFS)})"), 0
    if m.ord_type == "limit":
        if m.limit_px <= 0:
            return ("other", "a limit order needs a limit price above 0"), 0
        why = check_tick(rd, p.symbol_id, m.limit_px)
        if why is not None:
            return ("other", why), 0
    elif m.limit_px:
        return ("other", "a market order takes no limit price"), 0
    why = check_algo(p.algo, m.algo_params, routable)
    if why is None:
        why = check_exec_inst(m, p.algo)
    if why is not None:
        return ("unsupported_order_characteristic", why), 0
    if p.algo == "dma" and s.dma_on_halt == "reject" and (s.halts or s.market_halts):
        why_halted = halted(s, m.client, m.symbol, p.symbol_id,
                            dict(m.algo_params).get("venue", ""))
        if why_halted:
            return ("exchange_closed", f"{why_halted}: DMA orders are refused during a "
                                       "halt"), 0
    if m.side in ("sell_short", "sell_short_exempt") and not m.locate_broker and (
            locate_required(rd, m.symbol)):
        return ("broker_option", (f"a short sale of {m.symbol} needs a locate: "
                                  "send the locate broker (tag 5700)")), 0
    ref = reference(p.symbol_id, m.side)
    if m.ord_type == "market" and ref <= 0:
        return ("other", f"no price for {m.symbol} to check a market order against"), 0
    px_ref = m.limit_px if m.ord_type == "limit" else ref
    return check_risk(s, p, client, m.qty, m.limit_px, ref, px_ref, m.qty * px_ref,
                      new=True), px_ref


def check_risk(s: OmsState, p: Parent, client: Client, qty: int, limit_px: int, ref: int,
               px_ref: int, open_change: int, new: bool) -> Refusal | None:
    """Pre-trade limits, the client's then the firm's. `qty` is the order's (new)
    quantity, `px_ref` the price its notional counts at, `open_change` the change
    in the day's committed notional; `limit_px` a new limit to collar (0: none)."""
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


def check_replace(s: OmsState, rd: Any, p: Parent, m: ReplaceOrder,
                  routable: Callable[[str], bool],
                  reference: Callable[[int, str], int]) -> str | None:
    """Why a client's replace of a working order is refused (the CancelReject text)."""
    qty = m.qty or p.qty
    px = m.limit_px or p.limit_px
    params = m.algo_params or p.algo_params
    why: str | None = None
    if m.limit_px and p.ord_type == "market":
        why = "a market order has no limit price to amend"
    elif m.qty < 0 or m.limit_px < 0:
        why = "quantity and limit price must be above 0"
    else:
        sym = rd.symbol(p.symbol_id)
        why = check_qty(qty, sym.lot_size, s.clients[p.client].odd_lots)
        if why is None and m.limit_px:
            why = check_tick(rd, p.symbol_id, px)
        if why is None and m.algo_params:
            why = check_algo(p.algo, params, routable)
    if why is None:
        ref = reference(p.symbol_id, p.side)
        new_ref = px if p.ord_type == "limit" else p.px_ref
        target = max(qty, p.cum_qty)
        change = (target - p.cum_qty) * new_ref - (p.qty - p.cum_qty) * p.px_ref
        refusal = check_risk(s, p, s.clients[p.client], target, px if m.limit_px else 0, ref,
                             new_ref, change, new=False)
        if refusal is not None:
            why = refusal[1]
    return why


# ---------------------------------------------------------------- the algo engine's children


def check_child(s: OmsState, rd: Any, p: Parent, m: NewChild,
                dests: tuple[str, ...]) -> tuple[str | None, bool]:
    """Why a new child is refused, and whether that is an invariant (alerted).
    `dests`: the destinations reaching the child's venue, best first."""
    if m.child_id in s.children:
        return f"child id {m.child_id!r} is already in use", True
    if p.state not in ("working", "pending_replace") or p.closing:
        return (f"parent {p.order_id} is {states.ord_status(p.state, p.cum_qty, p.qty)}"
                + (f" ({p.closing_text})" if p.closing else "") + ": no new children",
                False)
    if s.kills:
        why_killed = killed(s, p.client, p.symbol)
        if why_killed:
            return f"kill switch engaged ({why_killed})", False
    if m.qty <= 0:
        return f"child quantity must be above 0, got {m.qty}", True
    if not dests:
        return f"venue {m.venue!r} is not routable", True
    if s.down:
        if m.destination in s.down:
            return (f"destination {m.destination} is down "
                    f"({s.down[m.destination]})"), False
        if all(d in s.down for d in dests):
            return f"venue {m.venue} is down: no destination to it is up", False
    if m.destination and m.destination not in dests:
        return f"destination {m.destination!r} does not reach {m.venue}", True
    cap = min(p.qty, p.pend_qty) if p.state == "pending_replace" else p.qty
    if p.cum_qty + p.open_qty + m.qty > cap:
        return (f"child of {m.qty:,} would put open ({p.open_qty:,}) plus filled "
                f"({p.cum_qty:,}) above the parent's {cap:,}"), True
    why = check_child_px(rd, p, m.ord_type, m.limit_px)
    return why, why is not None


def check_child_px(rd: Any, p: Parent, ord_type: str, px: int) -> str | None:
    """A child's price against its own kind and the parent's limit (the tighter of
    the old and new one while the client's replace is pending)."""
    if ord_type == "limit":
        if px <= 0:
            return "a limit child needs a limit price above 0"
        why = check_tick(rd, p.symbol_id, px)
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


def check_child_replace(rd: Any, p: Parent, c: Child, m: ReplaceChild) -> tuple[str | None,
                                                                                bool]:
    """Why a replace of a live child with nothing in flight is refused, and whether that
    is an invariant (alerted)."""
    qty = m.qty or c.qty
    px = m.limit_px or c.limit_px
    if qty <= c.cum_qty:
        return (f"new quantity {qty:,} is not above the child's filled "
                f"{c.cum_qty:,} (cancel it instead)"), False
    if m.limit_px and c.ord_type != "limit":
        return "a market child has no limit price to amend", True
    why: str | None = None
    cap = min(p.qty, p.pend_qty) if p.state == "pending_replace" else p.qty
    grow = max(qty - c.qty, 0)
    if grow and p.cum_qty + p.open_qty + grow > cap:
        why = (f"replace to {qty:,} would put open ({p.open_qty + grow:,}) plus filled "
               f"({p.cum_qty:,}) above the parent's {cap:,}")
    elif m.limit_px:
        why = check_child_px(rd, p, c.ord_type, px)
    if why is None and (grow or m.limit_px) and (
            p.closing or p.state not in ("working", "pending_replace")):
        return f"parent {p.order_id} is being taken down: only reductions", False
    return why, why is not None
