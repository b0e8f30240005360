"""A consumer's view of the market, kept from the stream (what apps embed).

`MarketBook` applies `MarketSnapshot`, `Quote` and `Trade` messages and keeps,
per symbol id: each venue's quote, the NBBO (the plant's appendage on each
quote, or `marketdata.nbbo.Nbbo` over the venues' quotes without one), the
last regular-way price, and the session's volume and notional from the flags
the plant derived. It is deterministic (dicts keyed by ints and venue codes,
filled in stream order) and cheap enough for every app's hot path.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from marketdata.nbbo import NO_QUOTE, Best, Nbbo
from sequencer.messages.marketdata import (
    CLOSING_PRINT,
    OPENING_PRINT,
    REGULAR_WAY,
    MarketSnapshot,
    Quote,
    Trade,
)


@dataclass
class SymbolBook:
    symbol_id: int
    nbbo: Nbbo = field(default_factory=Nbbo)
    quotes: dict[str, Quote] = field(default_factory=dict)  # venue -> latest quote
    last_trades: dict[str, Trade] = field(default_factory=dict)  # venue -> last regular way
    last_price: int = 0
    last_quote_ns: int = 0  # stream time of the latest quote update
    volume: int = 0  # regular-way shares since the book started (auctions included)
    notional: int = 0  # sum of price * size of those
    trades: int = 0
    open_price: int = 0
    close_price: int = 0

    best: Best = NO_QUOTE  # the NBBO: the plant's appendage, else derived from the venues

    @property
    def vwap(self) -> float:
        """Volume-weighted price in currency units (0.0 without volume)."""
        return self.notional / self.volume / 10_000 if self.volume else 0.0


class MarketBook:
    """Books for every symbol seen on the stream."""

    def __init__(self) -> None:
        self.books: dict[int, SymbolBook] = {}

    def book(self, symbol_id: int) -> SymbolBook:
        b = self.books.get(symbol_id)
        if b is None:
            b = self.books[symbol_id] = SymbolBook(symbol_id)
        return b

    def best(self, symbol_id: int) -> Best:
        b = self.books.get(symbol_id)
        return b.best if b is not None else NO_QUOTE

    def on_quote(self, q: Quote, now: int) -> SymbolBook:
        b = self.book(q.symbol_id)
        b.quotes[q.venue] = q
        b.nbbo.update(q.venue, (q.bid_px, q.bid_size), (q.ask_px, q.ask_size))
        if q.nbbo_bid_size or q.nbbo_ask_size:
            b.best = Best(q.nbbo_bid_px, q.nbbo_bid_size, q.nbbo_ask_px, q.nbbo_ask_size)
        else:
            b.best = b.nbbo.best
        b.last_quote_ns = now
        return b

    def on_trade(self, t: Trade) -> SymbolBook:
        b = self.book(t.symbol_id)
        f = t.flags
        if f & REGULAR_WAY:
            b.last_trades[t.venue] = t
            b.last_price = t.price
            b.volume += t.size
            b.notional += t.price * t.size
            b.trades += 1
            if f & OPENING_PRINT and not b.open_price:
                b.open_price = t.price
            if f & CLOSING_PRINT:
                b.close_price = t.price
        return b

    def on_snapshot(self, s: MarketSnapshot, now: int) -> SymbolBook:
        """Start the symbol afresh from a snapshot (a resubscription replaces what we had;
        volume counted so far is kept: the snapshot carries no history)."""
        old = self.books.get(s.symbol_id)
        b = SymbolBook(s.symbol_id)
        if old is not None:
            b.volume, b.notional, b.trades = old.volume, old.notional, old.trades
            b.open_price, b.close_price = old.open_price, old.close_price
        self.books[s.symbol_id] = b
        for q in s.quotes:
            b.quotes[q.venue] = q
            b.nbbo.update(q.venue, (q.bid_px, q.bid_size), (q.ask_px, q.ask_size))
        for t in s.trades:
            b.last_trades[t.venue] = t
        b.best = b.nbbo.best
        if s.trades:
            b.last_price = max(s.trades, key=lambda t: t.exch_time_ns).price
        b.last_quote_ns = now
        return b
