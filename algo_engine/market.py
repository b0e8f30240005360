"""The container's view of a symbol's market, kept from the stream for its strategies.

One `Book` per subscribed symbol: the NBBO (as the ticker plant appends it to every
quote), each venue's latest quote, the last regular-way trade, the trading phase,
and the day's regular-way volume per VWAP bucket (opening auction, the 390
minutes, closing auction: `algo_engine.vwap.schedule`). A subscription starts from
the plant's `MarketSnapshot` (a late one spreads the day's volume so far over the
buckets gone, by the curve) and follows `Quote`, `Trade` and `TradingStatus`.
Integers only; the update path is a few attribute stores per message.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from sequencer.messages.marketdata import (
    CLOSING_PRINT,
    OPENING_PRINT,
    REGULAR_WAY,
    Quote,
    Trade,
)

BUCKETS = 392
CLOSE_BUCKET = 391
MINUTE_NS = 60_000_000_000


class Book(msgspec.Struct):
    symbol_id: int
    open_ns: int  # the regular session's open and close on the primary venue, stream time
    close_ns: int
    bid: int = 0  # NBBO
    bid_size: int = 0
    ask: int = 0
    ask_size: int = 0
    # venue -> (bid, bid size, ask, ask size): each venue's latest two-sided quote
    venues: dict[str, tuple[int, int, int, int]] = msgspec.field(default_factory=dict)
    last_px: int = 0
    last_ns: int = 0
    volume: int = 0  # regular-way shares today (auctions included)
    status: str = "pre_open"
    opened: bool = False  # the opening auction printed (or the session started without one)
    open_px: int = 0
    close_px: int = 0
    buckets: list[int] = msgspec.field(default_factory=lambda: [0] * BUCKETS)
    subscribers: list[str] = msgspec.field(default_factory=list)  # parent ids, in order

    def on_quote(self, q: Quote) -> None:
        if q.nbbo_bid_px or q.nbbo_ask_px:
            self.bid, self.bid_size = q.nbbo_bid_px, q.nbbo_bid_size
            self.ask, self.ask_size = q.nbbo_ask_px, q.nbbo_ask_size
        self.venues[q.venue] = (q.bid_px, q.bid_size, q.ask_px, q.ask_size)

    def on_trade(self, t: Trade, now: int) -> None:
        flags = t.flags
        if not flags & REGULAR_WAY:
            return
        self.last_px = t.price
        self.last_ns = now
        if flags & OPENING_PRINT:
            self.opened = True
            self.open_px = t.price
            bucket = 0
        elif flags & CLOSING_PRINT:
            self.close_px = t.price
            bucket = CLOSE_BUCKET
        elif self.open_ns <= now < self.close_ns:
            bucket = 1 + (now - self.open_ns) // MINUTE_NS
        else:
            return
        self.volume += t.size
        self.buckets[bucket] += t.size

    def spread_before(self, volume: int, now: int, shares: Sequence[float]) -> None:
        """A late subscription: the `volume` the day traded before `now` (the plant's
        snapshot says how much, not when) spread over the buckets before it in
        proportion to the curve's `shares` (the bucket `now` falls in by the part of it
        gone), so that the day's volume so far counts as traded, not as nothing."""
        cur = self.bucket_at(now)
        weights = list(shares[:cur])
        if 0 < cur < CLOSE_BUCKET:
            weights.append(shares[cur] * (now - self.time_of(cur)) / MINUTE_NS)
        total = sum(weights)
        if volume <= 0 or total <= 0:
            return
        # cumulative rounding: the parts add up to `volume` exactly
        acc = 0.0
        given = 0
        for b, w in enumerate(weights):
            acc += w
            upto = round(volume * acc / total)
            self.buckets[b] += upto - given
            given = upto
        self.volume += volume
        self.opened = self.opened or now >= self.open_ns

    def bucket_at(self, now: int) -> int:
        """The bucket stream time `now` falls in (0 before the open, 391 from the close)."""
        if now < self.open_ns:
            return 0
        if now >= self.close_ns:
            return CLOSE_BUCKET
        return 1 + (now - self.open_ns) // MINUTE_NS

    def time_of(self, bucket: int) -> int:
        """When bucket `bucket` starts (the open for the opening auction, the close for
        the closing auction and beyond)."""
        if bucket <= 1:
            return self.open_ns
        return min(self.open_ns + (bucket - 1) * MINUTE_NS, self.close_ns)

    def near(self, buy: bool) -> int:
        """The touch a passive order joins: the bid for a buy, the offer for a sell."""
        return self.bid if buy else self.ask

    def far(self, buy: bool) -> int:
        """The touch an aggressive order takes: the offer for a buy, the bid for a sell."""
        return self.ask if buy else self.bid

    def two_sided(self) -> bool:
        return self.bid > 0 and self.ask > 0 and self.bid < self.ask

    def venues_at(self, buy_side: bool, px: int) -> list[tuple[str, int]]:
        """(venue, size) of the venues quoting `px` on a side (bids if `buy_side`), in
        venue-code order (a dict of strings is iterated in insertion order, which
        follows the stream, but sorting makes the choice plain)."""
        out = []
        for v in sorted(self.venues):
            b, bs, a, as_ = self.venues[v]
            if buy_side and b == px and bs > 0:
                out.append((v, bs))
            elif not buy_side and a == px and as_ > 0:
                out.append((v, as_))
        return out
