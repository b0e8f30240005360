"""The fill model: our orders at simulated venues, trading against the recorded market.

Why it exists: the demo and the backtests send our child orders to venues that do
not exist; what those orders would have got is decided here, from the real
recorded quotes, trades and auction prints a driver feeds in. The algo's measured
quality depends on these rules, so they are stated exactly (the README quotes
this docstring).

A `Venue` holds OUR orders only, per symbol, plus the latest market state fed to
it (`on_quote`, `on_trade`, `run_auction`; the driver decides whether a venue sees
its own quotes or the consolidated NBBO). Our orders never trade with each other
(self-trade prevention). Prices are fixed point (1/10,000), quantities shares;
only integers are on the event path. A short sale is a sell. The tick is $0.01
(100) at or above $1.00 and $0.0001 (1) below.

Continuous trading:

1. Taking. An order is marketable on arrival if it is a market order or its
   limit reaches the other side's quote (buy limit >= ask; sell limit <= bid).
   It fills at once ("removed") against the quote's displayed size at the quote's
   price, then walks the depth model beyond it: each further tick level k = 1..N
   offers `depth[k-1]` percent of the touch's displayed size (rounded down); the
   default `depth = (100, 100, 100, 100)` is the touch size at each of 4 further
   ticks. A limit order stops at its limit. What our orders take from a side is
   gone until the venue's quote on that side changes (price or size): a quote
   row that repeats the side, or moves only the other side, does not give the
   liquidity back (the recording does not know us, so only a change on that
   side is evidence of fresh liquidity). Rule 4's crossing fills draw on the
   same budget.
   Then: a market or IOC remainder is cancelled; a FOK order that cannot fill in
   full is cancelled without any fill; a day (or GTC) limit remainder rests at
   its limit.
2. Queue position. A resting order gets the displayed size at its price on its
   side when it arrives: the quote's size if it joins the touch, 0 if it
   improves the quote (or the side is empty), the depth model's size if it is
   behind the touch (the last modelled level's size beyond the model). On each
   new quote, an order at the touch has its queue cut to the displayed size if
   that is smaller (cancellations count as ahead of us), and an order better
   than the quote's price on its side (the level ahead of it emptied) goes to 0.
   A quote with no price or size on a side says nothing about that side's
   queues: they stay as they were (trades still consume them, rule 3) and the
   rule applies again when the side comes back.
3. Trades. A recorded trade of S shares at price T fills our resting orders as
   makers ("added"), at OUR limit price, from a budget of S shares shared by our
   orders on each side, best price first, then time: a buy resting above T (the
   trade went THROUGH it) fills up to what is left of S; a buy resting at T first
   lets the trade consume the volume ahead of it in the queue, and fills from
   what is left. Sells mirror this. Bounding by the trade's size (rather than
   filling in full on any trade-through) is the conservative choice: the print
   proves only that S shares changed hands at a worse price.
4. Quote crossing. When a new quote crosses a resting order (ask at or below our
   buy's limit; bid at or above our sell's), the order fills as a MAKER at our
   price ("added"), up to the quote's displayed size at the touch shared by our
   orders in priority; the rest keeps resting with no queue ahead.
5. Post-only: rejected if marketable on arrival; a post-only replace that would
   take is refused.
6. Pegged orders (`peg="primary"` or `"mid"`). A primary peg is priced at its
   side's touch of the venue's quote (a buy at the bid, a sell at the ask); a
   mid peg at the midpoint of bid and ask, rounded to the tick away from
   crossing (a buy down, a sell up). A limit price caps it (a buy never above
   its limit, a sell never below); a market peg has no cap. The price comes
   from the latest quote alone: with no quote on the side it needs (both sides
   for a mid peg), or a locked or crossed quote, the order is unpriced: live,
   but it cannot fill until a quote prices it. A peg never takes: on arrival,
   and after a replace or a restatement, it rests at its price with the queue
   of rule 2 (or waits unpriced). On each quote, rules 2 and 4 act first at the
   order's price so far; then a peg whose price changes moves to the new one
   and gets a fresh queue position by rule 2 (a re-price loses priority); one
   whose price is unchanged keeps its place. Trades fill it by rule 3 at its
   price. A replace or restatement keeps the peg and sets its quantity and cap
   (a changed cap loses priority, like a changed limit). A peg is a day or GTC
   order (an IOC, FOK, OPG or CLS peg is rejected); post-only changes nothing
   for it (it never takes). Before the open it is held out of the opening
   auction and rests from the open; it takes no part in the closing auction
   and expires at the close like the other day orders left.
7. The interval cap (`VenueConfig(interval_ns=...)`, off by default; the backtest's
   realistic market sets one minute). In each interval of stream time, our orders
   on one side of a symbol at a venue get no more, across rules 1, 3 and 4, than
   the most the venue's other side displayed at its touch in the interval plus the
   shares the venue printed in it so far (auctions apart). So whatever the quotes
   do, our fills in any interval never exceed what the market printed and showed
   us there; a fill the cap stops is not made (a taking remainder goes on as rule 1
   says, a resting order keeps resting).

Auctions. With `VenueConfig(pre_open=True)` each symbol starts collecting for
its opening auction: every order is held (IOC, FOK and post-only orders are
rejected); nothing trades on quotes or trades. `run_auction(symbol, "opening",
px, volume)` uncrosses at the recorded opening print: our orders marketable at
`px` (market orders, buy limits >= px, sell limits <= px) fill at `px`
("auction"), market orders first, then by limit price, then time, up to
`volume * auction_share_bp // 10_000` shares per side (default: the whole printed
volume: beyond it the recorded auction had nobody left to trade with at that
price). Then continuous trading starts: market and OPG remainders are cancelled,
limit remainders rest with queue positions from the latest quote (a crossed one
fills at the next quote). CLS orders (market- and limit-on-close) are held for
the closing auction from whenever they arrive; `run_auction(symbol, "closing",
...)` fills them together with our resting day limit orders by the same rule,
then cancels everything left (day orders expire at the close) and the symbol is
closed (new orders are rejected). With `close_cutoff_ns` set, cancels and
replaces of CLS orders stamped at or after it are refused: "locked in the
closing auction".

The venue's own actions (scripted tests): `force_fill`, `unsolicited_cancel` and
`restate` (both may carry an ExecRestatementReason in words), and trade cancels
and corrects. `bust(order_id, exec_id)` breaks one of the order's fills, named by
its exec id (or by its last correction's); `correct(order_id, exec_id, qty, px)`
changes its quantity and price, and the correction has an exec id of its own,
which a later bust or correct names. Either moves the order's cum_qty by the
change and its quantity with it, so its leaves are unchanged: a live order keeps
working what it had left, and a done order stays done (a filled one stays
filled). An unknown order or exec id is a ValueError.

Output: events for our orders by our order id (the ClOrdID-level id the FIX
layer maps). Every event that becomes an execution report carries an exec id from
the venue's counter ("{venue}-{n}"); acks carry a venue order id
("{venue}-O{n}"). Nothing reads a clock or draws a random number.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import msgspec
from sortedcontainers import SortedDict  # type: ignore[import-untyped]  # no stubs

from sequencer.messages.executions import RestatementReason
from sequencer.messages.orders import ExecInst, OrdType, Side, TimeInForce

BookSide = Literal["buy", "sell"]
Peg = Literal["", "mid", "primary"]
SIDES: tuple[BookSide, BookSide] = ("buy", "sell")
Liquidity = Literal["added", "removed", "auction"]
AuctionKind = Literal["opening", "closing"]
Phase = Literal["pre_open", "continuous", "closed"]

LOCKED_IN = "locked in the closing auction"
ONE_DOLLAR = 10_000  # fixed point: the tick is $0.01 from here up, $0.0001 below


class VenueConfig(msgspec.Struct, frozen=True):
    depth: tuple[int, ...] = (100, 100, 100, 100)  # % of the touch size, per further tick
    auction_share_bp: int = 10_000  # our share of the printed auction volume, per side
    close_cutoff_ns: int = 0  # CLS orders locked from this stream time on (0: never)
    pre_open: bool = False  # symbols start collecting for the opening auction
    interval_ns: int = 0  # rule 7's interval (0: no interval cap)


class Quote(msgspec.Struct, frozen=True):
    bid_px: int = 0
    bid_size: int = 0
    ask_px: int = 0
    ask_size: int = 0
    ts_ns: int = 0


class SimOrder(msgspec.Struct):
    """One of our orders at a venue. `qty` is the total quantity (filled included);
    `held`: "" in the continuous book, "opening" or "closing" while an auction holds it."""

    order_id: str
    venue_order_id: str
    symbol: str
    side: Side
    qty: int
    px: int  # 0 for a market order
    ord_type: OrdType
    tif: TimeInForce
    post_only: bool
    seq: int
    cum_qty: int = 0
    queue_ahead: int = 0
    held: Literal["", "opening", "closing"] = ""
    peg: Peg = ""  # a pegged order: `px` is its peg price now (0: unpriced)
    cap: int = 0  # a pegged limit order's limit (0: none)
    # Its fills that stand, by exec id: (qty, px) (a correction replaces its fill).
    fills: dict[str, tuple[int, int]] = msgspec.field(default_factory=dict)

    @property
    def leaves(self) -> int:
        return max(0, self.qty - self.cum_qty)

    @property
    def book_side(self) -> BookSide:
        return "buy" if self.side == "buy" else "sell"


# ---------------------------------------------------------------- events


class Ack(msgspec.Struct, frozen=True):
    venue: str
    order_id: str
    exec_id: str
    venue_order_id: str
    ts_ns: int = 0


class Reject(msgspec.Struct, frozen=True):
    venue: str
    order_id: str
    exec_id: str
    reason: str
    ts_ns: int = 0


class Fill(msgspec.Struct, frozen=True):
    venue: str
    order_id: str
    exec_id: str
    qty: int
    px: int
    liquidity: Liquidity
    cum_qty: int
    leaves_qty: int
    ts_ns: int = 0


class Cancelled(msgspec.Struct, frozen=True):
    """The order is done; `qty` shares (its leaves) were cancelled. `unsolicited`:
    not on our request (IOC remainder, end of an auction, the venue's own cancel)."""

    venue: str
    order_id: str
    exec_id: str
    qty: int
    reason: str
    unsolicited: bool
    ts_ns: int = 0
    restatement_reason: RestatementReason = ""  # the venue's own cancel: ExecRestatementReason


class Replaced(msgspec.Struct, frozen=True):
    """The replace is done; `leaves_qty` 0 means the order is done (replaced to at or
    below its filled quantity)."""

    venue: str
    order_id: str
    exec_id: str
    qty: int
    px: int
    leaves_qty: int
    ts_ns: int = 0


class CancelRejected(msgspec.Struct, frozen=True):
    venue: str
    order_id: str
    response_to: Literal["cancel", "replace"]
    reason: str
    ts_ns: int = 0


class Restated(msgspec.Struct, frozen=True):
    """The venue changed the order on its own; `leaves_qty` 0: the order is done."""

    venue: str
    order_id: str
    exec_id: str
    qty: int
    px: int
    leaves_qty: int
    reason: str
    ts_ns: int = 0
    restatement_reason: RestatementReason = ""


class TradeCanceled(msgspec.Struct, frozen=True):
    """The venue broke fill `ref_exec_id` (`qty` at `px`); the order's quantity,
    cum_qty and leaves after it (leaves 0: the order is done)."""

    venue: str
    order_id: str
    exec_id: str
    ref_exec_id: str
    qty: int
    px: int
    order_qty: int
    cum_qty: int
    leaves_qty: int
    ts_ns: int = 0


class TradeCorrected(msgspec.Struct, frozen=True):
    """The venue corrected fill `ref_exec_id` (`prev_qty` at `prev_px`) to `qty` at
    `px`; the order's figures after it, as for `TradeCanceled`."""

    venue: str
    order_id: str
    exec_id: str
    ref_exec_id: str
    qty: int
    px: int
    prev_qty: int
    prev_px: int
    order_qty: int
    cum_qty: int
    leaves_qty: int
    ts_ns: int = 0


VenueEvent = (Ack | Reject | Fill | Cancelled | Replaced | CancelRejected | Restated
              | TradeCanceled | TradeCorrected)


def exec_inst_terms(exec_inst: Iterable[ExecInst]) -> tuple[bool, Peg]:
    """(post only, peg) of an order's ExecInst (18) in words; ValueError for two pegs."""
    post_only = False
    peg_kind: Peg = ""
    for word in exec_inst:
        if word == "participate_dont_initiate":
            post_only = True
        else:
            kind: Peg = "mid" if word == "mid_peg" else "primary"
            if peg_kind and peg_kind != kind:
                raise ValueError("an order cannot peg to both the midpoint and the touch")
            peg_kind = kind
    return post_only, peg_kind


def _up(px: int) -> int:
    return px + (100 if px >= ONE_DOLLAR else 1)


def _down(px: int) -> int:
    return px - (100 if px > ONE_DOLLAR else 1)


def _key(side: BookSide, px: int) -> int:
    return -px if side == "buy" else px


def _reaches(side: BookSide, limit: int, px: int) -> bool:
    return limit >= px if side == "buy" else limit <= px


def peg_price(quote: Quote, side: BookSide, peg: Peg, cap: int = 0) -> int:
    """A pegged order's price on `quote` (rule 6); 0: unpriced."""
    bid = quote.bid_px if quote.bid_px > 0 and quote.bid_size > 0 else 0
    ask = quote.ask_px if quote.ask_px > 0 and quote.ask_size > 0 else 0
    if bid and ask and bid >= ask:
        return 0  # locked or crossed
    if peg == "primary":
        p = bid if side == "buy" else ask
    elif not (bid and ask):
        return 0
    elif side == "buy":
        p = (bid + ask) // 2
        p -= p % 100 if p >= ONE_DOLLAR else 0
    else:
        p = -(-(bid + ask) // 2)
        p += -p % 100 if p >= ONE_DOLLAR else 0
    if p and cap:
        p = min(p, cap) if side == "buy" else max(p, cap)
    return p


class _Symbol:
    """One symbol at one venue: the market state and our orders."""

    def __init__(self, phase: Phase) -> None:
        self.phase: Phase = phase
        self.quote = Quote()
        self.taken: dict[BookSide, dict[int, int]] = {"buy": {}, "sell": {}}  # by taker side
        self.levels: dict[BookSide, SortedDict[int, dict[str, SimOrder]]] = {
            "buy": SortedDict(), "sell": SortedDict()}
        self.opening: dict[str, SimOrder] = {}
        self.closing: dict[str, SimOrder] = {}
        self.pegs: dict[str, SimOrder] = {}  # pegged orders in the continuous book
        # Rule 7, by our side: the interval, the most the other side showed in it, what
        # the venue printed in it, and what our orders on the side got in it.
        self.interval = -1
        self.shown: dict[BookSide, int] = {"buy": 0, "sell": 0}
        self.printed = 0
        self.used: dict[BookSide, int] = {"buy": 0, "sell": 0}

    def at_touch(self, side: BookSide) -> tuple[int, int]:
        """(price, displayed size) of the quote on `side` ((0, 0): none)."""
        q = self.quote
        px, size = (q.bid_px, q.bid_size) if side == "buy" else (q.ask_px, q.ask_size)
        return (px, size) if px > 0 and size > 0 else (0, 0)


class Venue:
    """Our orders at one simulated venue (see the module docstring for the rules)."""

    def __init__(self, code: str, config: VenueConfig | None = None) -> None:
        self.code = code
        self.config = config or VenueConfig()
        self._symbols: dict[str, _Symbol] = {}
        self._orders: dict[str, SimOrder] = {}  # the live ones
        self._every: dict[str, SimOrder] = {}  # every order accepted, live or done
        self._execs = 0
        self._venue_orders = 0
        self._seq = 0

    # ------------------------------------------------------------ queries

    def order(self, order_id: str) -> SimOrder | None:
        """A copy of a live order (None once it is done, or if unknown)."""
        o = self._orders.get(order_id)
        return msgspec.structs.replace(o) if o is not None else None

    def working(self) -> int:
        """How many of our orders are live here."""
        return len(self._orders)

    def open_orders(self, symbol: str | None = None) -> list[SimOrder]:
        """Copies of the live orders (of one symbol), in arrival order."""
        out = [msgspec.structs.replace(o) for o in self._orders.values()
               if symbol is None or o.symbol == symbol]
        return sorted(out, key=lambda o: o.seq)

    def quote(self, symbol: str) -> Quote:
        return self._sym(symbol).quote

    def phase(self, symbol: str) -> Phase:
        return self._sym(symbol).phase

    # ------------------------------------------------------------ helpers

    def _sym(self, symbol: str) -> _Symbol:
        s = self._symbols.get(symbol)
        if s is None:
            s = self._symbols[symbol] = _Symbol("pre_open" if self.config.pre_open
                                                else "continuous")
        return s

    def _exec_id(self) -> str:
        self._execs += 1
        return f"{self.code}-{self._execs}"

    def _roll(self, s: _Symbol, ts_ns: int) -> None:
        """Start rule 7's interval that `ts_ns` falls in, if it is a new one."""
        k = ts_ns // self.config.interval_ns
        if k != s.interval:
            s.interval = k
            s.shown = {"buy": s.at_touch("sell")[1], "sell": s.at_touch("buy")[1]}
            s.printed = 0
            s.used = {"buy": 0, "sell": 0}

    def _room(self, s: _Symbol, side: BookSide, ts_ns: int) -> int:
        """What our orders on `side` may still get in this interval (rule 7)."""
        if not self.config.interval_ns:
            return 1 << 62
        self._roll(s, ts_ns)
        return max(0, s.shown[side] + s.printed - s.used[side])

    def note_print(self, symbol: str, size: int, ts_ns: int) -> None:
        """A print at this venue while none of our orders rests here: rule 7 counts it."""
        if self.config.interval_ns and size > 0:
            s = self._sym(symbol)
            self._roll(s, ts_ns)
            s.printed += size

    def _fill(self, o: SimOrder, qty: int, px: int, liquidity: Liquidity, ts_ns: int,
              events: list[VenueEvent]) -> None:
        if self.config.interval_ns and liquidity != "auction":
            self._sym(o.symbol).used[o.book_side] += qty
        o.cum_qty += qty
        exec_id = self._exec_id()
        o.fills[exec_id] = (qty, px)
        events.append(Fill(self.code, o.order_id, exec_id, qty, px, liquidity,
                           o.cum_qty, o.leaves, ts_ns))
        if o.leaves == 0:
            self._drop(o)

    def _cancel(self, o: SimOrder, reason: str, unsolicited: bool, ts_ns: int,
                events: list[VenueEvent]) -> None:
        leaves = o.leaves
        self._drop(o)
        events.append(Cancelled(self.code, o.order_id, self._exec_id(), leaves, reason,
                                unsolicited, ts_ns))

    def _drop(self, o: SimOrder) -> None:
        """Take a live order out of every structure (it is done)."""
        if self._orders.pop(o.order_id, None) is None:
            return
        self._unplace(o)

    def _unplace(self, o: SimOrder) -> None:
        s = self._sym(o.symbol)
        if o.held == "opening":
            del s.opening[o.order_id]
        elif o.held == "closing":
            del s.closing[o.order_id]
        else:  # (not yet in the book while it takes on arrival)
            if o.peg:
                s.pegs.pop(o.order_id, None)
            levels = s.levels[o.book_side]
            key = _key(o.book_side, o.px)
            level = levels.get(key)
            if level is not None and level.pop(o.order_id, None) is not None and not level:
                del levels[key]

    def _rest(self, s: _Symbol, o: SimOrder) -> None:
        """Put a limit order in the continuous book, behind the displayed size (rule 2);
        a peg at its price from the latest quote, or unpriced (rule 6)."""
        o.held = ""
        if o.peg:
            s.pegs[o.order_id] = o
            o.px = peg_price(s.quote, o.book_side, o.peg, o.cap)
            if not o.px:
                o.queue_ahead = 0
                return
        o.queue_ahead = self._queue_on_arrival(s, o)
        levels = s.levels[o.book_side]
        key = _key(o.book_side, o.px)
        level = levels.get(key)
        if level is None:
            level = levels[key] = {}
        level[o.order_id] = o

    def _queue_on_arrival(self, s: _Symbol, o: SimOrder) -> int:
        side = o.book_side
        touch_px, size = s.at_touch(side)
        if size == 0 or not _reaches("sell" if side == "buy" else "buy", o.px, touch_px):
            return 0  # empty side, or our price improves the quote
        if o.px == touch_px:
            return size
        depth = self.config.depth
        p = touch_px
        for pct in depth:  # behind the touch: the depth model's size at our level
            p = _down(p) if side == "buy" else _up(p)
            if (p <= o.px) if side == "buy" else (p >= o.px):
                return size * pct // 100
        return size * depth[-1] // 100 if depth else size

    def _ladder(self, s: _Symbol, taker: BookSide) -> list[tuple[int, int]]:
        """What a `taker` order could take now: (price, shares left) at the other side's
        touch and each modelled level beyond it (rule 1)."""
        touch_px, size = s.at_touch("sell" if taker == "buy" else "buy")
        if size == 0:
            return []
        taken = s.taken[taker]
        out = []
        p = touch_px
        for level_size in (size, *(size * pct // 100 for pct in self.config.depth)):
            if p <= 0:
                break
            out.append((p, level_size - taken.get(p, 0)))
            p = _up(p) if taker == "buy" else _down(p)
        return out

    def _marketable(self, s: _Symbol, side: BookSide, ord_type: OrdType, px: int) -> bool:
        touch_px, size = s.at_touch("sell" if side == "buy" else "buy")
        return size > 0 and (ord_type == "market" or _reaches(side, px, touch_px))

    def _take(self, s: _Symbol, o: SimOrder, ts_ns: int, events: list[VenueEvent]) -> None:
        side = o.book_side
        ladder = [(p, n) for p, n in self._ladder(s, side)
                  if n > 0 and (o.ord_type == "market" or _reaches(side, o.px, p))]
        if o.tif == "fok" and min(sum(n for _p, n in ladder),
                                  self._room(s, side, ts_ns)) < o.leaves:
            return
        taken = s.taken[side]
        room = self._room(s, side, ts_ns)
        for p, n in ladder:
            if o.leaves == 0 or room == 0:
                break
            qty = min(o.leaves, n, room)
            room -= qty
            taken[p] = taken.get(p, 0) + qty
            self._fill(o, qty, p, "removed", ts_ns, events)

    def _arrive(self, s: _Symbol, o: SimOrder, ts_ns: int, events: list[VenueEvent]) -> None:
        """A continuous-trading arrival (new, or a replace that lost priority)."""
        if o.peg:  # never takes
            self._rest(s, o)
            return
        if self._marketable(s, o.book_side, o.ord_type, o.px):
            self._take(s, o, ts_ns, events)
        if o.leaves == 0:
            return
        if o.ord_type == "market":
            self._cancel(o, "no liquidity", True, ts_ns, events)
        elif o.tif == "ioc":
            self._cancel(o, "ioc remainder", True, ts_ns, events)
        elif o.tif == "fok":
            self._cancel(o, "fok: not fillable in full", True, ts_ns, events)
        else:
            self._rest(s, o)

    # ------------------------------------------------------------ our requests

    def new_order(self, order_id: str, symbol: str, side: Side, qty: int,
                  ord_type: OrdType = "limit", px: int = 0, tif: TimeInForce = "day",
                  post_only: bool = False, ts_ns: int = 0,
                  peg: Peg = "") -> list[VenueEvent]:
        """A new order (`px` is ignored for a market order; a pegged limit order's `px`
        is its cap)."""
        s = self._sym(symbol)
        book_side: BookSide = "buy" if side == "buy" else "sell"
        reason = self._refusal(s, order_id, book_side, qty, ord_type, px, tif, post_only,
                               peg)
        if reason:
            return [Reject(self.code, order_id, self._exec_id(), reason, ts_ns)]
        self._seq += 1
        self._venue_orders += 1
        limit = px if ord_type == "limit" else 0
        o = SimOrder(order_id, f"{self.code}-O{self._venue_orders}", symbol, side, qty,
                     0 if peg else limit, ord_type, tif, post_only, self._seq,
                     peg=peg, cap=limit if peg else 0)
        self._orders[order_id] = o
        self._every[order_id] = o
        events: list[VenueEvent] = [Ack(self.code, order_id, self._exec_id(),
                                        o.venue_order_id, ts_ns)]
        if tif == "cls":
            o.held = "closing"
            s.closing[order_id] = o
        elif s.phase == "pre_open":
            o.held = "opening"
            s.opening[order_id] = o
        else:
            self._arrive(s, o, ts_ns, events)
        return events

    def _refusal(self, s: _Symbol, order_id: str, side: BookSide, qty: int,
                 ord_type: OrdType, px: int, tif: TimeInForce, post_only: bool,
                 peg: Peg) -> str:
        if order_id in self._every:
            return "duplicate order id"
        if qty <= 0:
            return "quantity must be positive"
        if ord_type == "limit" and px <= 0:
            return "limit price must be positive"
        if peg and tif not in ("day", "gtc"):
            return "a pegged order must be a day or GTC order"
        post_only = post_only and not peg  # a peg never takes
        if post_only and (ord_type == "market" or tif in ("ioc", "fok", "opg", "cls")):
            return "a post-only order must be a resting limit order"
        if s.phase == "closed":
            return "venue closed"
        if tif == "opg" and s.phase != "pre_open":
            return "the opening auction is over"
        if s.phase == "pre_open":
            if tif in ("ioc", "fok"):
                return "not accepted before the open"
            if post_only:
                return "post-only not accepted before the open"
        elif post_only and self._marketable(s, side, ord_type, px):
            return "post-only order would take liquidity"
        return ""

    def _live(self, order_id: str, response_to: Literal["cancel", "replace"],
              ts_ns: int) -> SimOrder | CancelRejected:
        o = self._orders.get(order_id)
        if o is None:
            reason = "too late: order is done" if order_id in self._every else \
                "unknown order"
            return CancelRejected(self.code, order_id, response_to, reason, ts_ns)
        cutoff = self.config.close_cutoff_ns
        if o.held == "closing" and cutoff and ts_ns >= cutoff:
            return CancelRejected(self.code, order_id, response_to, LOCKED_IN, ts_ns)
        return o

    def cancel(self, order_id: str, ts_ns: int = 0) -> list[VenueEvent]:
        o = self._live(order_id, "cancel", ts_ns)
        if isinstance(o, CancelRejected):
            return [o]
        events: list[VenueEvent] = []
        self._cancel(o, "requested", False, ts_ns, events)
        return events

    def replace(self, order_id: str, qty: int, px: int, ts_ns: int = 0) -> list[VenueEvent]:
        """Set a live order's total quantity and limit price (the same price to keep it;
        0 for a market order; a peg's cap). Priority is kept only when the price is
        unchanged and the quantity does not go up; otherwise the order arrives anew at
        its price (and takes liquidity if it is now marketable; a peg never takes)."""
        o = self._live(order_id, "replace", ts_ns)
        if isinstance(o, CancelRejected):
            return [o]
        s = self._sym(o.symbol)
        reason = ""
        if qty <= 0:
            reason = "quantity must be positive"
        elif o.ord_type == "market" and px != 0:
            reason = "cannot reprice a market order"
        elif o.ord_type == "limit" and px <= 0:
            reason = "limit price must be positive"
        elif (o.post_only and not o.peg and not o.held and s.phase == "continuous"
              and self._marketable(s, o.book_side, o.ord_type, px)):
            reason = "post-only order would take liquidity"
        if reason:
            return [CancelRejected(self.code, order_id, "replace", reason, ts_ns)]
        if qty <= o.cum_qty:
            self._drop(o)
            return [Replaced(self.code, order_id, self._exec_id(), qty, px, 0, ts_ns)]
        if px == (o.cap if o.peg else o.px) and qty <= o.qty:
            o.qty = qty
            return [Replaced(self.code, order_id, self._exec_id(), qty, px, o.leaves, ts_ns)]
        self._seq += 1
        events: list[VenueEvent] = []
        if o.held:
            o.qty, o.seq = qty, self._seq
            _set_price(o, px)
            events.append(Replaced(self.code, order_id, self._exec_id(), qty, px, o.leaves,
                                   ts_ns))
            return events
        self._unplace(o)
        o.qty, o.seq = qty, self._seq
        _set_price(o, px)
        events.append(Replaced(self.code, order_id, self._exec_id(), qty, px, o.leaves, ts_ns))
        self._arrive(s, o, ts_ns, events)
        return events

    # ------------------------------------------------------------ the recorded market

    def on_quote(self, symbol: str, bid_px: int, bid_size: int, ask_px: int, ask_size: int,
                 ts_ns: int) -> list[VenueEvent]:
        """A new quote: replaces the market state, updates queues (rule 2) and fills
        resting orders it crosses (rule 4)."""
        s = self._sym(symbol)
        old = s.quote
        s.quote = Quote(bid_px, bid_size, ask_px, ask_size, ts_ns)
        # What we took stays taken until the venue's quote on that side changes (rule 1):
        # a row that changes only the other side says nothing new about this one.
        if (ask_px, ask_size) != (old.ask_px, old.ask_size):
            s.taken["buy"] = {}
        if (bid_px, bid_size) != (old.bid_px, old.bid_size):
            s.taken["sell"] = {}
        interval = self.config.interval_ns
        if interval:
            if ts_ns // interval != s.interval:
                self._roll(s, ts_ns)
            shown = s.shown
            if ask_px > 0 and ask_size > shown["buy"]:
                shown["buy"] = ask_size
            if bid_px > 0 and bid_size > shown["sell"]:
                shown["sell"] = bid_size
        events: list[VenueEvent] = []
        if s.phase != "continuous":
            return events
        for side in SIDES:
            other: BookSide = "sell" if side == "buy" else "buy"
            levels = s.levels[side]
            touch_px, size = s.at_touch(side)
            # A side gone from the quote tells nothing about the queues on it: they stay
            # as they were until it comes back (rule 2).
            if size:
                for key in list(levels.irange(maximum=_key(side, touch_px))):
                    for o in levels[key].values():
                        o.queue_ahead = min(o.queue_ahead, size) if abs(key) == touch_px else 0
            cross_px, size = s.at_touch(other)
            budget = size - s.taken[side].get(cross_px, 0) if size else 0
            if budget > 0 and levels:
                budget = min(budget, self._room(s, side, ts_ns))
            if budget <= 0:
                continue
            for key in list(levels.irange(maximum=_key(side, cross_px))):
                for o in list(levels[key].values()):
                    if budget == 0:
                        break
                    qty = min(o.leaves, budget)
                    budget -= qty
                    s.taken[side][cross_px] = s.taken[side].get(cross_px, 0) + qty
                    o.queue_ahead = 0
                    self._fill(o, qty, o.px, "added", ts_ns, events)
        if s.pegs:
            self._reprice(s)
        return events

    def _reprice(self, s: _Symbol) -> None:
        """Move each peg whose price the new quote changes, with a fresh queue (rule 6)."""
        for o in list(s.pegs.values()):
            new = peg_price(s.quote, o.book_side, o.peg, o.cap)
            if new == o.px:
                continue
            levels = s.levels[o.book_side]
            if o.px:
                key = _key(o.book_side, o.px)
                level = levels[key]
                del level[o.order_id]
                if not level:
                    del levels[key]
            self._seq += 1
            o.px, o.seq, o.queue_ahead = new, self._seq, 0
            if new:
                o.queue_ahead = self._queue_on_arrival(s, o)
                key = _key(o.book_side, new)
                level = levels.get(key)
                if level is None:
                    level = levels[key] = {}
                level[o.order_id] = o

    def on_trade(self, symbol: str, px: int, size: int, ts_ns: int) -> list[VenueEvent]:
        """A recorded trade: fills resting orders it trades through or at (rule 3)."""
        s = self._sym(symbol)
        events: list[VenueEvent] = []
        if s.phase != "continuous" or size <= 0:
            return events
        if self.config.interval_ns:
            self._roll(s, ts_ns)
            s.printed += size
        for side in SIDES:
            levels = s.levels[side]
            budget = size
            room = self._room(s, side, ts_ns) if levels else 0  # rule 7: ours only
            for key in list(levels.irange(maximum=_key(side, px))):
                orders = list(levels[key].values())
                if abs(key) != px:  # traded through: nothing is ahead of us any more
                    for o in orders:
                        o.queue_ahead = 0
                        qty = min(o.leaves, budget, room)
                        if qty:
                            budget -= qty
                            room -= qty
                            self._fill(o, qty, o.px, "added", ts_ns, events)
                    continue
                market_done = 0  # shares of the market's queue this trade consumed
                for o in orders:  # the queue moves for every order, even once S is used
                    ahead = max(0, o.queue_ahead - market_done)
                    consumed = min(ahead, budget)
                    budget -= consumed
                    market_done += consumed
                    o.queue_ahead = max(0, o.queue_ahead - market_done)
                    if o.queue_ahead == 0 and budget and room:
                        qty = min(o.leaves, budget, room)
                        budget -= qty
                        room -= qty
                        self._fill(o, qty, o.px, "added", ts_ns, events)
        return events

    def run_auction(self, symbol: str, kind: AuctionKind, px: int, volume: int,
                    ts_ns: int) -> list[VenueEvent]:
        """The recorded opening or closing print for `symbol`: fill our auction orders
        at `px` (see the module docstring), then open or close the symbol."""
        s = self._sym(symbol)
        if kind == "opening" and s.phase != "pre_open":
            raise ValueError(f"{self.code} {symbol}: no opening auction to run ({s.phase})")
        if kind == "closing" and s.phase == "closed":
            raise ValueError(f"{self.code} {symbol}: already closed")
        if kind == "opening":
            taking_part = list(s.opening.values())
        else:
            taking_part = list(s.closing.values()) + list(s.opening.values())
            for side in SIDES:
                for level in s.levels[side].values():
                    taking_part.extend(level.values())
            taking_part.extend(o for o in s.pegs.values() if not o.px)  # unpriced pegs
        events: list[VenueEvent] = []
        cap = volume * self.config.auction_share_bp // 10_000 if px > 0 else 0
        for side in SIDES:
            eligible = sorted(
                (o for o in taking_part if o.book_side == side and not o.peg
                 and (o.ord_type == "market" or _reaches(side, o.px, px))),
                key=lambda o: (o.ord_type != "market", _key(o.book_side, o.px), o.seq))
            budget = cap
            for o in eligible:
                if budget == 0:
                    break
                qty = min(o.leaves, budget)
                budget -= qty
                self._fill(o, qty, px, "auction", ts_ns, events)
        left = sorted((o for o in taking_part if o.order_id in self._orders),
                      key=lambda o: o.seq)
        if kind == "opening":
            s.phase = "continuous"
            for o in left:
                if (o.ord_type == "market" and not o.peg) or o.tif == "opg":
                    self._cancel(o, "unfilled in the opening auction", True, ts_ns, events)
                else:
                    del s.opening[o.order_id]
                    self._rest(s, o)
        else:
            s.phase = "closed"
            for o in left:
                reason = ("unfilled in the closing auction" if o.held == "closing"
                          else "expired at the close")
                self._cancel(o, reason, True, ts_ns, events)
        return events

    # ------------------------------------------------------------ the venue's own actions

    def force_fill(self, order_id: str, qty: int, px: int, liquidity: Liquidity = "added",
                   ts_ns: int = 0, exec_id: str = "") -> list[VenueEvent]:
        """Fill a live order as told (scripted tests). `qty` may exceed its leaves (an
        overfill; leaves then report 0); `exec_id` reuses an id (a duplicate report)."""
        o = self._orders.get(order_id)
        if o is None:
            raise KeyError(f"{self.code}: no live order {order_id}")
        o.cum_qty += qty
        exec_id = exec_id or self._exec_id()
        o.fills[exec_id] = (qty, px)
        events: list[VenueEvent] = [Fill(self.code, order_id, exec_id, qty, px, liquidity,
                                         o.cum_qty, o.leaves, ts_ns)]
        if o.leaves == 0:
            self._drop(o)
        return events

    def unsolicited_cancel(self, order_id: str, reason: str = "cancelled by the venue",
                           ts_ns: int = 0,
                           restatement_reason: RestatementReason = "") -> list[VenueEvent]:
        """Cancel a live order on the venue's own account (`restatement_reason`: its
        ExecRestatementReason in words, "" for none)."""
        o = self._orders.get(order_id)
        if o is None:
            raise KeyError(f"{self.code}: no live order {order_id}")
        leaves = o.leaves
        self._drop(o)
        return [Cancelled(self.code, order_id, self._exec_id(), leaves, reason, True, ts_ns,
                          restatement_reason)]

    def restate(self, order_id: str, qty: int, px: int, reason: str = "restated by the venue",
                ts_ns: int = 0,
                restatement_reason: RestatementReason = "") -> list[VenueEvent]:
        """Change a live order's total quantity and price (a peg's cap) on the venue's own
        account; it never trades on the spot (a crossed order fills at the next
        quote)."""
        o = self._orders.get(order_id)
        if o is None:
            raise KeyError(f"{self.code}: no live order {order_id}")
        if qty <= o.cum_qty:
            self._drop(o)
        elif px == (o.cap if o.peg else o.px) and qty <= o.qty:  # keeps its place
            o.qty = qty
        else:
            if not o.held:
                self._unplace(o)
            self._seq += 1
            o.qty, o.seq = qty, self._seq
            _set_price(o, px)
            if not o.held:
                self._rest(self._sym(o.symbol), o)
        leaves = o.leaves if order_id in self._orders else 0
        return [Restated(self.code, order_id, self._exec_id(), qty, px, leaves, reason,
                         ts_ns, restatement_reason)]

    def _fill_of(self, order_id: str, exec_id: str) -> tuple[SimOrder, int, int]:
        o = self._every.get(order_id)
        if o is None:
            raise ValueError(f"{self.code}: no order {order_id!r}")
        found = o.fills.get(exec_id)
        if found is None:
            raise ValueError(f"{self.code}: order {order_id!r} has no fill {exec_id!r} that "
                             "stands (a corrected fill goes by its correction's exec id, a "
                             "busted one is gone)")
        return o, found[0], found[1]

    def bust(self, order_id: str, exec_id: str, ts_ns: int = 0) -> list[VenueEvent]:
        """Break the order's fill `exec_id` (the venue's trade cancel): cum_qty and the
        order's quantity go down by the fill's; leaves stay as they were (a done order
        stays done)."""
        o, qty, px = self._fill_of(order_id, exec_id)
        del o.fills[exec_id]
        o.cum_qty -= qty
        o.qty -= qty
        leaves = o.leaves if order_id in self._orders else 0
        return [TradeCanceled(self.code, order_id, self._exec_id(), exec_id, qty, px, o.qty,
                              o.cum_qty, leaves, ts_ns)]

    def correct(self, order_id: str, exec_id: str, qty: int, px: int,
                ts_ns: int = 0) -> list[VenueEvent]:
        """Correct the order's fill `exec_id` to `qty` at `px` (the venue's trade
        correct, with an exec id of its own that a later bust or correct names):
        cum_qty and the order's quantity move by the change; leaves stay."""
        if qty <= 0 or px <= 0:
            raise ValueError(f"{self.code}: a correction needs a positive quantity and price "
                             f"(got {qty} at {px}; a bust takes a fill back)")
        o, prev_qty, prev_px = self._fill_of(order_id, exec_id)
        new_id = self._exec_id()
        del o.fills[exec_id]
        o.fills[new_id] = (qty, px)
        o.cum_qty += qty - prev_qty
        o.qty += qty - prev_qty
        leaves = o.leaves if order_id in self._orders else 0
        return [TradeCorrected(self.code, order_id, new_id, exec_id, qty, px, prev_qty,
                               prev_px, o.qty, o.cum_qty, leaves, ts_ns)]


def _set_price(o: SimOrder, px: int) -> None:
    """A new limit price (a peg's cap: its price comes from the quote when it rests)."""
    if o.peg:
        o.cap = px
    else:
        o.px = px


class VenueSim:
    """Several simulated venues in one process, by venue code (in the given order)."""

    def __init__(self, venues: dict[str, VenueConfig] | Iterable[str]) -> None:
        if isinstance(venues, dict):
            self.venues = {code: Venue(code, cfg) for code, cfg in venues.items()}
        else:
            self.venues = {code: Venue(code) for code in venues}

    def __getitem__(self, code: str) -> Venue:
        return self.venues[code]

    def _targets(self, venue: str | None) -> list[Venue]:
        return list(self.venues.values()) if venue is None else [self.venues[venue]]

    def on_quote(self, symbol: str, bid_px: int, bid_size: int, ask_px: int, ask_size: int,
                 ts_ns: int, venue: str | None = None) -> list[VenueEvent]:
        """A quote for one venue, or (venue None) for every venue, in order."""
        events: list[VenueEvent] = []
        for v in self._targets(venue):
            events += v.on_quote(symbol, bid_px, bid_size, ask_px, ask_size, ts_ns)
        return events

    def on_trade(self, symbol: str, px: int, size: int, ts_ns: int,
                 venue: str | None = None) -> list[VenueEvent]:
        events: list[VenueEvent] = []
        for v in self._targets(venue):
            events += v.on_trade(symbol, px, size, ts_ns)
        return events

    def run_auction(self, symbol: str, kind: AuctionKind, px: int, volume: int, ts_ns: int,
                    venue: str | None = None) -> list[VenueEvent]:
        events: list[VenueEvent] = []
        for v in self._targets(venue):
            events += v.run_auction(symbol, kind, px, volume, ts_ns)
        return events
