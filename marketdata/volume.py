"""Which prints count, and the session volume and VWAP they make.

The rules (configurable through `VolumeRules`):
- the regular session is 09:30 to 16:00 exchange time (start included, end
  excluded); prints outside it do not count;
- a print the vendor flags as suspicious (far from the market, likely to be
  busted) never counts;
- odd lots count as regular way, and so do opening and closing auction
  prints: they are volume and they set prices;
- any sale condition listed in `excluded_conditions` does not count (none by
  default: the recorded data's conditions are kept, and the figures below
  match the data's own README with none excluded).

On 2013-10-08 these rules give exactly the figures `../shared/data/README.md`
gives (for example IBM: 5,203,752 shares at a VWAP of 179.8698).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from marketdata.recorded import TradeRow

REGULAR_OPEN_MS = 9 * 3_600_000 + 30 * 60_000
REGULAR_CLOSE_MS = 16 * 3_600_000


@dataclass(frozen=True)
class VolumeRules:
    session_start_ms: int = REGULAR_OPEN_MS
    session_end_ms: int = REGULAR_CLOSE_MS
    excluded_conditions: frozenset[str] = field(default_factory=frozenset)

    def counts(self, t: TradeRow) -> bool:
        return (
            self.session_start_ms <= t.ms < self.session_end_ms
            and not t.suspicious
            and t.condition not in self.excluded_conditions
        )


@dataclass(frozen=True)
class SessionVolume:
    trades: int
    volume: int
    notional: int  # sum of price * size, in 1/10,000 dollar * shares

    @property
    def vwap(self) -> float:
        """Volume-weighted average price in dollars (0.0 without volume)."""
        return self.notional / self.volume / 10_000 if self.volume else 0.0


def session_volume(trades: Iterable[TradeRow], rules: VolumeRules | None = None) -> SessionVolume:
    rules = rules or VolumeRules()
    n = vol = notional = 0
    for t in trades:
        if rules.counts(t):
            n += 1
            vol += t.size
            notional += t.price * t.size
    return SessionVolume(n, vol, notional)
