"""Market data family (type ids 300-399): quotes, trades, trading status.

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
