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
    """Stop new orders for a scope ("*" for everything, or a symbol, client or venue)."""

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
