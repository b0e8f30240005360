"""Control family (type ids 1-99): the day's life cycle, time and alerts."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from sequencer.messages.base import Message

Severity = Literal["info", "warning", "error", "critical"]


class SystemStart(Message, tag=1, frozen=True):
    """First frame of every day: what the day runs on."""

    session_date: dt.date
    seed: int
    config_digest: str
    time_mode: Literal["wall", "sim"] = "wall"
    refdata_digest: str = ""  # the day's ref data set (empty: the day runs without one)


class SystemStop(Message, tag=2, frozen=True):
    """End of the day's stream: after it, the sequencer accepts no input."""

    reason: str = ""


class ClockTick(Message, tag=3, frozen=True):
    """Sequenced when the stream is idle, so that timers in apps can fire."""


class Alert(Message, tag=4, frozen=True):
    """Something people must see: a gap in a source's numbering, a determinism failure, ..."""

    severity: Severity
    source: str
    text: str
    code: str = ""  # what kind, for filters and tests: "gap", "stale_quote", "crossed", ...


class Probe(Message, tag=90, frozen=True):
    """Diagnostic message used by benchmarks and connectivity checks."""

    n: int
    data: bytes = b""


class Echo(Message, tag=91, frozen=True):
    """A sample app's answer to an operator note (exercises app outputs end to end)."""

    text: str
    n: int
    roll: int


class Heartbeat(Message, tag=92, frozen=True):
    """An app's periodic sign of life, driven by a stream-time timer."""

    app: str
    n: int
    frames: int
