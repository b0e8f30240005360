"""Per-exchange best bid and offer, and the national best (NBBO) derived from them.

`Nbbo` keeps each exchange's bid and ask for one symbol and the national best
incrementally: an update that improves or matches the best is O(1); only an
update that worsens the exchange holding the best rescans the exchanges. The
tests check it against `naive_nbbo`, which rescans on every update.

The NBBO size at a price is the sum of the sizes every exchange shows there.
A side with size 0 is no quote. `crossed` (best bid above best ask) and
`locked` (equal) are read off after each update; the plant alerts on them.
"""

from __future__ import annotations

from typing import NamedTuple


class Best(NamedTuple):
    bid_px: int
    bid_size: int
    ask_px: int
    ask_size: int

    @property
    def crossed(self) -> bool:
        return bool(self.bid_size and self.ask_size and self.bid_px > self.ask_px)

    @property
    def locked(self) -> bool:
        return bool(self.bid_size and self.ask_size and self.bid_px == self.ask_px)


NO_QUOTE = Best(0, 0, 0, 0)


def _best(side: dict[str, tuple[int, int]], high: bool) -> tuple[int, int]:
    """(price, total size at it) of the best price on a side, or (0, 0)."""
    best_px = 0
    size = 0
    for px, sz in side.values():
        if not size or (px > best_px if high else px < best_px):
            best_px, size = px, sz
        elif px == best_px:
            size += sz
    return best_px, size


class Nbbo:
    """One symbol's quotes by exchange and its national best bid and offer."""

    def __init__(self) -> None:
        self.bids: dict[str, tuple[int, int]] = {}  # exchange -> (price, size)
        self.asks: dict[str, tuple[int, int]] = {}
        self.best = NO_QUOTE

    def update(self, exchange: str, bid: tuple[int, int] | None,
               ask: tuple[int, int] | None) -> Best:
        """Apply one exchange's new bid and/or ask ((price, size); size 0 pulls the quote)."""
        b = self.best
        bid_px, bid_size, ask_px, ask_size = b
        if bid is not None:
            bid_px, bid_size = self._side(self.bids, exchange, bid, bid_px, bid_size, True)
        if ask is not None:
            ask_px, ask_size = self._side(self.asks, exchange, ask, ask_px, ask_size, False)
        self.best = Best(bid_px, bid_size, ask_px, ask_size)
        return self.best

    @staticmethod
    def _side(side: dict[str, tuple[int, int]], exchange: str, new: tuple[int, int],
              best_px: int, best_size: int, high: bool) -> tuple[int, int]:
        old = side.get(exchange)
        px, size = new
        if size > 0:
            side[exchange] = (px, size)
        elif old is not None:
            del side[exchange]
        old_at_best = old is not None and best_size and old[0] == best_px
        if size > 0 and (not best_size or (px > best_px if high else px < best_px)):
            return px, size  # a new best price: only this exchange is there
        if size > 0 and best_size and px == best_px:
            # Joins (or resizes at) the best price.
            return best_px, best_size - (old[1] if old_at_best and old else 0) + size
        if old_at_best:
            return _best(side, high)  # the exchange left the best price: rescan
        return best_px, best_size


def naive_nbbo(bids: dict[str, tuple[int, int]], asks: dict[str, tuple[int, int]]) -> Best:
    """The reference: rescan every exchange."""
    bp, bs = _best(bids, True)
    ap, as_ = _best(asks, False)
    return Best(bp, bs, ap, as_)
