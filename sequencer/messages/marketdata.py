"""Market data family (type ids 300-399): quotes, trades, status, subscriptions.

Prices are fixed-point integers in units of 1/10,000 of a currency unit
(`PRICE_SCALE`), the unit of the recorded vendor data, so a recorded price
enters the stream unchanged. Sizes are shares. Times are ns since the epoch.
"""

from __future__ import annotations

from typing import Literal

from sequencer.messages.base import Message

PRICE_SCALE = 10_000

# Trade flags the ticker plant derives (a bit set in `Trade.flags`).
REGULAR_WAY = 1  # counts towards volume and VWAP
ODD_LOT = 2  # fewer shares than a round lot (still regular way)
OPENING_PRINT = 4  # the opening auction's print
CLOSING_PRINT = 8  # the closing auction's print
SUSPICIOUS = 16  # flagged by the vendor as far from the market; never regular way

# Vendor sale-condition bits (the recorded data's hex `sale_condition`, AlgoSeek's flags)
# that the plant reads when it derives the flags above.
COND_OPENING_PRINT = 1 << 6
COND_CLOSING_PRINT = 1 << 7
COND_REOPENING_PRINT = 1 << 8
COND_ODD_LOT = 1 << 31
# Prints that VWAP practice leaves out of a benchmark: their price was not set by the
# market at the time of the print (settlement other than regular way, an average or
# derived price, or a leg of an option trade). They still count as volume.
COND_CASH = 1 << 1
COND_NEXT_DAY = 1 << 2
COND_SELLERS_OPTION = 1 << 3
COND_DERIVATIVELY_PRICED = 1 << 9
COND_STOCK_OPTION = 1 << 18
COND_AVERAGE_PRICE = 1 << 20
NOT_IN_VWAP = (COND_CASH | COND_NEXT_DAY | COND_SELLERS_OPTION | COND_DERIVATIVELY_PRICED
               | COND_STOCK_OPTION | COND_AVERAGE_PRICE)

Status = Literal["pre_open", "opening_auction", "trading", "halted", "closing_auction", "closed"]


class Quote(Message, tag=300, frozen=True):
    """One exchange's best bid and offer for a symbol (a side with size 0 is absent)."""

    symbol_id: int
    venue: str
    bid_px: int
    bid_size: int
    ask_px: int
    ask_size: int
    exch_time_ns: int
    condition: str = ""
    # The national best bid and offer after this quote, derived by the plant from every
    # venue's quote (as a consolidated feed's NBBO appendage does); 0s when not derived.
    nbbo_bid_px: int = 0
    nbbo_bid_size: int = 0
    nbbo_ask_px: int = 0
    nbbo_ask_size: int = 0


class Trade(Message, tag=301, frozen=True):
    """A print on an exchange (or a trade reporting facility)."""

    symbol_id: int
    venue: str
    price: int
    size: int
    exch_time_ns: int
    conditions: str = ""
    flags: int = 0


class TradingStatus(Message, tag=302, frozen=True):
    """A symbol's trading phase on a venue ("*" for the whole market)."""

    symbol_id: int
    venue: str
    status: Status
    reason: str = ""


class Subscribe(Message, tag=303, frozen=True):
    """Ask the ticker plant for a symbol's market data (answered by a `MarketSnapshot`)."""

    symbol_id: int
    subscriber: str


class Unsubscribe(Message, tag=304, frozen=True):
    """Withdraw a `Subscribe`; the plant stops a symbol when nobody is left."""

    symbol_id: int
    subscriber: str


class MarketSnapshot(Message, tag=305, frozen=True):
    """A symbol's state when a subscription starts (or restarts): the latest quote
    and the last regular-way trade from each exchange, in exchange order, the
    trading phase, and the session's regular-way volume so far (so that a late
    subscriber knows how much the day has traded). Updates follow as `Quote` and
    `Trade`."""

    symbol_id: int
    quotes: tuple[Quote, ...]
    trades: tuple[Trade, ...]
    status: Status
    reason: str = ""
    volume: int = 0
