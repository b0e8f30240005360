"""A price-time priority limit order book for one symbol at one venue, with auctions.

Why it exists: the venue simulator needs a venue whose orders trade with each
other (scripted scenarios, the demo's lit book, auctions), with the matching rules
written down and checked against a naive reference (tests/fix_gateways/venue_sim).

Units: prices are fixed point integers (1/10,000 of a dollar), quantities integers.
A `Side` here is "buy" or "sell" (a short sale is a sell to the book).

Storage: per side a `SortedDict` of price levels (bids keyed by minus the price, so
the first key is the best on both sides); a level is a dict order id -> `Order`,
whose insertion order is the level's time priority, so a cancel is O(1).

Continuous trading (phase "continuous"):

- A new order matches against the other side's best level first, and within a
  level the oldest order first; every fill is at the resting (maker) order's
  price. The maker's liquidity is "added", the taker's "removed".
- A limit order's remainder rests at its price ("day"); an IOC order's remainder
  is cancelled ("ioc"). A market order is always immediate or cancel: its
  remainder, and all of it when the other side is empty, is cancelled
  ("no liquidity").
- A post-only order that would take liquidity (its limit reaches the other
  side's best price) is REJECTED, not cancelled, and never trades (the usual
  venue behaviour); a post-only replace that would take is refused the same way.
- `replace(order_id, new_qty, new_px)` sets the order's total quantity and
  price. The order keeps its queue priority only when the price is unchanged and
  the quantity does not go up; any price change or quantity increase sends it to
  the back of its (new) level, and a repriced order that now crosses trades as a
  taker right away. A replace to at or below the filled quantity cancels the
  rest: one `Replaced` event with `leaves` 0, and the order is gone.

Auctions (phases "opening_auction" and "closing_auction"): the book only
collects day limit orders and market-on-auction orders (market orders); IOC and
post-only orders are rejected; nothing matches while collecting.
`uncross(reference_px)` picks the one price that

1. maximizes the executed volume, then
2. minimizes the imbalance (|buy volume - sell volume| at that price), then
3. is closest to the reference price, then
4. is the LOWER price,

among the book's limit prices and the reference price (0: no reference). Every
fill is at that price, liquidity "auction" on both sides; orders execute in
priority: market orders first (in arrival order), then limit orders by price,
then time. Each fill names the earlier-arrived order of the pair its maker. After
an opening auction the book is in continuous trading: limit remainders rest
(the book is never crossed then, since the price maximized the volume) and
unfilled market orders are cancelled. After a closing auction every remaining
order is cancelled (the day is over: leftover day orders expire) and the book is
"closed": it rejects new orders.

Locked in: `start_auction("closing", cancel_cutoff_ns=T)` makes the book refuse
cancels and replaces stamped at or after T (`ts_ns >= T`) with the reason
"locked in the closing auction"; the OMS relies on venues refusing such cancels.

Every operation returns the list of events it caused, in order. Events are
frozen msgspec Structs; match ids and arrival numbers are counters; nothing reads
a clock or draws a random number, so a book is a pure function of its inputs.
"""

from __future__ import annotations

from typing import Literal

import msgspec
from sortedcontainers import SortedDict  # type: ignore[import-untyped]  # no stubs

Side = Literal["buy", "sell"]
SIDES: tuple[Side, Side] = ("buy", "sell")
OrdType = Literal["limit", "market"]
Tif = Literal["day", "ioc"]
Phase = Literal["continuous", "opening_auction", "closing_auction", "closed"]
AuctionKind = Literal["opening", "closing"]
Liquidity = Literal["added", "removed", "auction"]

LOCKED_IN = "locked in the closing auction"


class Order(msgspec.Struct):
    """An order in the book. `qty` is the total order quantity (filled included);
    `seq` is its arrival number, renewed when a replace loses priority."""

    order_id: str
    side: Side
    qty: int
    px: int  # 0 for a market order
    ord_type: OrdType = "limit"
    tif: Tif = "day"
    post_only: bool = False
    cum_qty: int = 0
    seq: int = 0

    @property
    def leaves(self) -> int:
        return self.qty - self.cum_qty


# ---------------------------------------------------------------- events


class Accepted(msgspec.Struct, frozen=True):
    order_id: str


class Rejected(msgspec.Struct, frozen=True):
    order_id: str
    reason: str


class Fill(msgspec.Struct, frozen=True):
    """One execution between two orders, at `px`, for `qty`."""

    match_id: int
    maker_id: str
    taker_id: str
    qty: int
    px: int
    maker_liquidity: Liquidity
    taker_liquidity: Liquidity
    maker_leaves: int
    taker_leaves: int


class Cancelled(msgspec.Struct, frozen=True):
    """The order is gone; `qty` is the quantity cancelled (its leaves)."""

    order_id: str
    qty: int
    reason: str


class Replaced(msgspec.Struct, frozen=True):
    order_id: str
    qty: int
    px: int
    leaves: int
    priority_kept: bool


class CancelRejected(msgspec.Struct, frozen=True):
    order_id: str
    response_to: Literal["cancel", "replace"]
    reason: str


class Uncrossed(msgspec.Struct, frozen=True):
    """An auction's result: its price and executed volume (0 and 0: no match)."""

    kind: AuctionKind
    px: int
    qty: int


Event = Accepted | Rejected | Fill | Cancelled | Replaced | CancelRejected | Uncrossed


def _key(side: Side, px: int) -> int:
    return -px if side == "buy" else px


def _crosses(side: Side, limit: int, other_px: int) -> bool:
    """A `side` order at `limit` reaches a resting price `other_px` on the other side."""
    return limit >= other_px if side == "buy" else limit <= other_px


class Book:
    """One symbol's book at one venue (see the module docstring for the rules)."""

    def __init__(self, symbol: str = "", phase: Phase = "continuous") -> None:
        self.symbol = symbol
        self.phase: Phase = phase
        self.cancel_cutoff_ns: int | None = None
        self._levels: dict[Side, SortedDict[int, dict[str, Order]]] = {
            "buy": SortedDict(), "sell": SortedDict()}
        self._market: dict[Side, dict[str, Order]] = {"buy": {}, "sell": {}}  # in auctions
        self._orders: dict[str, Order] = {}
        self._seen: set[str] = set()  # membership only, never iterated
        self._seq = 0
        self._match = 0

    # ------------------------------------------------------------ queries

    def best(self, side: Side) -> tuple[int, int] | None:
        """(price, total leaves) of the side's best level, or None if it is empty."""
        levels = self._levels[side]
        if not levels:
            return None
        key, level = levels.peekitem(0)
        return abs(key), sum(o.leaves for o in level.values())

    def best_bid(self) -> tuple[int, int] | None:
        return self.best("buy")

    def best_ask(self) -> tuple[int, int] | None:
        return self.best("sell")

    def depth(self, side: Side, levels: int = 5) -> list[tuple[int, int, int]]:
        """The side's best `levels` levels as (price, total leaves, order count)."""
        out = []
        for key, level in self._levels[side].items()[:levels]:
            out.append((abs(key), sum(o.leaves for o in level.values()), len(level)))
        return out

    def order(self, order_id: str) -> Order | None:
        """A copy of a live order (None once it is filled, cancelled or unknown)."""
        o = self._orders.get(order_id)
        return msgspec.structs.replace(o) if o is not None else None

    def resting(self) -> list[tuple[Side, int, str, int]]:
        """Every live order as (side, price, id, leaves) in priority order, bids first
        (market-on-auction orders first on their side, at price 0)."""
        out: list[tuple[Side, int, str, int]] = []
        for side in SIDES:
            out.extend((side, 0, o.order_id, o.leaves) for o in self._market[side].values())
            for key, level in self._levels[side].items():
                out.extend((side, abs(key), o.order_id, o.leaves) for o in level.values())
        return out

    def __len__(self) -> int:
        return len(self._orders)

    # ------------------------------------------------------------ order entry

    def add(self, order_id: str, side: Side, qty: int, px: int = 0,
            ord_type: OrdType = "limit", tif: Tif = "day",
            post_only: bool = False) -> list[Event]:
        """A new order; `px` is ignored (0) for a market order."""
        reason = self._refusal(order_id, side, qty, px, ord_type, tif, post_only)
        if reason:
            return [Rejected(order_id, reason)]
        self._seen.add(order_id)
        self._seq += 1
        o = Order(order_id, side, qty, px if ord_type == "limit" else 0, ord_type, tif,
                  post_only, 0, self._seq)
        events: list[Event] = [Accepted(order_id)]
        if self.phase != "continuous":  # collecting for an auction
            self._orders[order_id] = o
            if ord_type == "market":
                self._market[side][order_id] = o
            else:
                self._rest(o)
            return events
        self._take(o, events)
        if o.leaves > 0:
            if ord_type == "market":
                events.append(Cancelled(order_id, o.leaves, "no liquidity"))
            elif tif == "ioc":
                events.append(Cancelled(order_id, o.leaves, "ioc"))
            else:
                self._orders[order_id] = o
                self._rest(o)
        return events

    def _refusal(self, order_id: str, side: Side, qty: int, px: int, ord_type: OrdType,
                 tif: Tif, post_only: bool) -> str:
        if order_id in self._seen:
            return "duplicate order id"
        if side not in ("buy", "sell"):
            return "unknown side"
        if qty <= 0:
            return "quantity must be positive"
        if ord_type == "limit" and px <= 0:
            return "limit price must be positive"
        if ord_type == "market" and post_only:
            return "a market order cannot be post-only"
        if self.phase == "closed":
            return "book closed"
        if self.phase != "continuous":
            if tif == "ioc":
                return "ioc not accepted during an auction"
            if post_only:
                return "post-only not accepted during an auction"
        elif post_only and self._would_take(side, px):
            return "post-only order would take liquidity"
        return ""

    def _would_take(self, side: Side, px: int) -> bool:
        other = self.best("sell" if side == "buy" else "buy")
        return other is not None and _crosses(side, px, other[0])

    def cancel(self, order_id: str, ts_ns: int = 0) -> list[Event]:
        """Cancel a live order; refused if unknown or done, or locked in the close."""
        o = self._orders.get(order_id)
        if o is None:
            return [CancelRejected(order_id, "cancel", "unknown order")]
        if self._locked(ts_ns):
            return [CancelRejected(order_id, "cancel", LOCKED_IN)]
        self._remove(o)
        return [Cancelled(order_id, o.leaves, "requested")]

    def replace(self, order_id: str, new_qty: int, new_px: int,
                ts_ns: int = 0) -> list[Event]:
        """Set a live order's total quantity and price (a market order's price stays 0)."""
        o = self._orders.get(order_id)
        if o is None:
            return [CancelRejected(order_id, "replace", "unknown order")]
        if self._locked(ts_ns):
            return [CancelRejected(order_id, "replace", LOCKED_IN)]
        if new_qty <= 0:
            return [CancelRejected(order_id, "replace", "quantity must be positive")]
        if o.ord_type == "market":
            if new_px != 0:
                return [CancelRejected(order_id, "replace", "cannot reprice a market order")]
        elif new_px <= 0:
            return [CancelRejected(order_id, "replace", "limit price must be positive")]
        if (o.post_only and self.phase == "continuous" and new_px != o.px
                and self._would_take(o.side, new_px)):
            return [CancelRejected(order_id, "replace", "post-only order would take liquidity")]
        if new_qty <= o.cum_qty:
            self._remove(o)
            return [Replaced(order_id, new_qty, new_px, 0, False)]
        if new_px == o.px and new_qty <= o.qty:
            o.qty = new_qty
            return [Replaced(order_id, new_qty, new_px, o.leaves, True)]
        self._remove(o)
        self._seq += 1
        o.qty, o.px, o.seq = new_qty, new_px, self._seq
        events: list[Event] = [Replaced(order_id, new_qty, new_px, o.leaves, False)]
        if self.phase == "continuous":
            self._take(o, events)
        if o.leaves > 0:
            self._orders[order_id] = o
            if o.ord_type == "market":
                self._market[o.side][order_id] = o
            else:
                self._rest(o)
        return events

    def _locked(self, ts_ns: int) -> bool:
        return (self.phase == "closing_auction" and self.cancel_cutoff_ns is not None
                and ts_ns >= self.cancel_cutoff_ns)

    # ------------------------------------------------------------ matching

    def _rest(self, o: Order) -> None:
        levels = self._levels[o.side]
        key = _key(o.side, o.px)
        level = levels.get(key)
        if level is None:
            level = levels[key] = {}
        level[o.order_id] = o

    def _remove(self, o: Order) -> None:
        del self._orders[o.order_id]
        if o.ord_type == "market":
            del self._market[o.side][o.order_id]
            return
        levels = self._levels[o.side]
        key = _key(o.side, o.px)
        level = levels[key]
        del level[o.order_id]
        if not level:
            del levels[key]

    def _take(self, o: Order, events: list[Event]) -> None:
        """Match `o` as a taker against the other side while it crosses."""
        other = self._levels["sell" if o.side == "buy" else "buy"]
        market = o.ord_type == "market"
        while o.leaves > 0 and other:
            key, level = other.peekitem(0)
            px = abs(key)
            if not market and not _crosses(o.side, o.px, px):
                break
            while o.leaves > 0 and level:
                maker = next(iter(level.values()))
                qty = min(o.leaves, maker.leaves)
                maker.cum_qty += qty
                o.cum_qty += qty
                self._match += 1
                events.append(Fill(self._match, maker.order_id, o.order_id, qty, px,
                                   "added", "removed", maker.leaves, o.leaves))
                if maker.leaves == 0:
                    del level[maker.order_id]
                    del self._orders[maker.order_id]
            if not level:
                del other[key]

    # ------------------------------------------------------------ auctions

    def start_auction(self, kind: AuctionKind, cancel_cutoff_ns: int | None = None) -> None:
        """Start collecting for an auction. Resting orders stay and take part in it.
        `cancel_cutoff_ns` (closing only): cancels and replaces stamped at or after it
        are refused."""
        self.phase = "opening_auction" if kind == "opening" else "closing_auction"
        self.cancel_cutoff_ns = cancel_cutoff_ns if kind == "closing" else None

    def auction_price(self, reference_px: int) -> tuple[int, int]:
        """The uncross price and volume the book would give now ((0, 0): no match)."""
        prices = set(self._levels["buy"].keys()) | set(self._levels["sell"].keys())
        candidates = sorted({abs(k) for k in prices} | ({reference_px} - {0}))
        mkt_buy = sum(o.leaves for o in self._market["buy"].values())
        mkt_sell = sum(o.leaves for o in self._market["sell"].values())
        best: tuple[int, int, int, int] | None = None
        for p in candidates:
            bv = mkt_buy + self._volume_within("buy", p)
            sv = mkt_sell + self._volume_within("sell", p)
            vol = min(bv, sv)
            if vol == 0:
                continue
            rank = (-vol, abs(bv - sv), abs(p - reference_px) if reference_px else 0, p)
            if best is None or rank < best:
                best = rank
        if best is None:
            return 0, 0
        return best[3], -best[0]

    def _volume_within(self, side: Side, px: int) -> int:
        """Total leaves of the side's limit orders at `px` or better."""
        levels = self._levels[side]
        return sum(sum(o.leaves for o in levels[key].values())
                   for key in levels.irange(maximum=_key(side, px)))

    def _auction_queue(self, side: Side, px: int) -> list[Order]:
        queue = list(self._market[side].values())
        levels = self._levels[side]
        for key in levels.irange(maximum=_key(side, px)):
            queue.extend(levels[key].values())
        return queue

    def uncross(self, reference_px: int = 0) -> list[Event]:
        """Run the auction being collected (see the module docstring)."""
        if self.phase not in ("opening_auction", "closing_auction"):
            raise ValueError(f"no auction to uncross: the book is {self.phase}")
        kind: AuctionKind = "opening" if self.phase == "opening_auction" else "closing"
        px, volume = self.auction_price(reference_px)
        events: list[Event] = [Uncrossed(kind, px, volume)]
        if volume:
            buys, sells = self._auction_queue("buy", px), self._auction_queue("sell", px)
            i = j = 0
            left = volume
            while left > 0:
                b, s = buys[i], sells[j]
                qty = min(b.leaves, s.leaves, left)
                b.cum_qty += qty
                s.cum_qty += qty
                left -= qty
                maker, taker = (b, s) if b.seq < s.seq else (s, b)
                self._match += 1
                events.append(Fill(self._match, maker.order_id, taker.order_id, qty, px,
                                   "auction", "auction", maker.leaves, taker.leaves))
                for o in (b, s):
                    if o.leaves == 0:
                        self._remove(o)
                if b.leaves == 0:
                    i += 1
                if s.leaves == 0:
                    j += 1
        self.cancel_cutoff_ns = None
        if kind == "opening":
            self.phase = "continuous"
            for side in SIDES:
                for o in list(self._market[side].values()):
                    self._remove(o)
                    events.append(Cancelled(o.order_id, o.leaves,
                                            "market order unfilled in the opening auction"))
        else:
            self.phase = "closed"
            for _side, _px, order_id, leaves in self.resting():
                self._remove(self._orders[order_id])
                events.append(Cancelled(order_id, leaves, "expired after the closing auction"))
        return events
