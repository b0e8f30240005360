"""Admin family (type ids 100-199): typed commands from ops, through `tape inject`."""

from __future__ import annotations

from sequencer.messages.base import Message


class TakeSnapshot(Message, tag=100, frozen=True):
    """Ask an app (or every app, with target "*") to snapshot its state now."""

    target: str = "*"


class OperatorNote(Message, tag=101, frozen=True):
    """A free-text note from ops, kept in the stream for the day's record."""

    author: str
    text: str


class SetParameter(Message, tag=102, frozen=True):
    """Change a named runtime parameter of one app (the app validates the value)."""

    target: str
    key: str
    value: str


class HaltTrading(Message, tag=103, frozen=True):
    """Halt trading in a scope ("*" for everything, or a symbol, client or venue): the
    algo engine pauses the orders in it and holds their new children until the
    `ResumeTrading`; the OMS refuses a new DMA order into it (or accepts it to wait,
    by its `dma_on_halt` parameter)."""

    scope: str
    reason: str


class ResumeTrading(Message, tag=104, frozen=True):
    """Undo a `HaltTrading` for the same scope."""

    scope: str


class Resubscribe(Message, tag=105, frozen=True):
    """Re-initiate one symbol's market data (the remedy for a dropped feed): the
    ticker plant answers with a fresh `MarketSnapshot`."""

    symbol: str
    reason: str = ""


class SetRiskLimit(Message, tag=106, frozen=True):
    """Change one pre-trade risk limit for the rest of the day.

    `scope` is a client id, or "*" for the firm-wide limits; `limit` one of
    the OMS's limit names (max_order_qty, max_order_notional,
    max_gross_notional, max_open_orders, collar_bps, symbols); `value` its
    text as in the clients table (a price such as 2500000.00 for notionals).
    Sequenced, so a replay sees the same limits at the same moment."""

    scope: str
    limit: str
    value: str
    reason: str = ""
    user: str = ""  # who took it (the blotter's signed-in user; "" from a file)


class EngageKillSwitch(Message, tag=107, frozen=True):
    """Stop new child orders and cancel every open child and parent order in scope:
    `scope` "all", or "client" / "symbol" with `value` naming it."""

    scope: str
    value: str = ""
    reason: str = ""
    user: str = ""  # who took it (the blotter's signed-in user; "" from a file)


class ReleaseKillSwitch(Message, tag=108, frozen=True):
    """Lift an `EngageKillSwitch` of the same scope and value."""

    scope: str
    value: str = ""
    reason: str = ""
    user: str = ""  # who took it (the blotter's signed-in user; "" from a file)


class EndOfDay(Message, tag=109, frozen=True):
    """The end-of-day cancel, now (ops' `tape day eod`, or the scheduler's job at the
    close): the OMS cancels every open order back to its client (done for day for a
    client so marked), the algo engine cancels each one's children at their venues.
    The OMS does the same by itself at its `eod_time`; the second of the two finds
    nothing left to take down."""

    reason: str = ""


class CancelParent(Message, tag=110, frozen=True):
    """Ops cancel one client order (`order_id`, the OMS's OrderID): the OMS takes it
    down as the broker's own decision (the client gets an unsolicited cancel, the
    algo engine cancels its children at their venues). An order already done or
    being cancelled is left alone, with an Alert saying so."""

    order_id: str
    reason: str = ""
    user: str = ""  # who took it (the blotter's signed-in user; "" from a file)
