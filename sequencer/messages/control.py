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


class SimMarket(Message, tag=5, frozen=True):
    """How a sim-time day's simulated market behaves (`tape backtest` sequences it once,
    right after `SystemStart`); a day without it has the plain fill model: no impact,
    no latency, no interval cap. The venue simulator app and the quality report read it
    (`fix_gateways.venue_sim.impact` states the impact model and its parameters).

    Integers on the stream, as everywhere: the model's parameters in thousandths,
    basis points and milliseconds; the float properties are what the model takes."""

    impact: bool = False  # our fills move the simulated market's prices
    impact_y_milli: int = 1_000  # the square-root law's prefactor Y, in 1/1000
    impact_permanent_bp: int = 6_667  # the share of the impact that never decays, in bp
    impact_decay_ms: int = 300_000  # the transient part's e-folding time, stream ms
    platform_latency_us: int = 0  # one way, inside the platform (decision to gateway)
    venue_latency_us: int = 0  # one way, platform to a venue (and back), by default
    venue_latencies: tuple[tuple[str, int], ...] = ()  # (venue, us) overriding the default
    interval_cap_s: int = 0  # our fills per venue, side and interval <= shown + printed

    @property
    def impact_y(self) -> float:
        return self.impact_y_milli / 1_000

    @property
    def impact_permanent(self) -> float:
        return self.impact_permanent_bp / 10_000

    @property
    def impact_decay_s(self) -> float:
        return self.impact_decay_ms / 1_000

    def latency_ns(self, venue: str) -> int:
        """One-way delay from the platform's decision to `venue` (and back), in ns."""
        us = dict(self.venue_latencies).get(venue, self.venue_latency_us)
        return (us + self.platform_latency_us) * 1_000


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
