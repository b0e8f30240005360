"""Which prints count, and the session volume and VWAP they make.

The rules (configurable through `VolumeRules`):
- the regular session is 09:30 to 16:00 exchange time (start included, end
  excluded); a print inside it is regular way unless a rule below says not;
- a print the vendor flags as suspicious (far from the market, likely to be
  busted) never counts;
- odd lots count as regular way, and so do opening and closing auction
  prints: they are volume and they set prices. An auction print counts even
  when it is reported outside the session window (the NYSE closing cross
  prints a minute or so after 16:00: IBM's 262,948 shares at 16:00:47 on
  2013-10-08); it then adds to the day's volume, not the session's;
- a print whose sale-condition flags intersect `excluded_mask` does not count
  (no bits by default: the recorded data's conditions are kept, and the
  figures below match the data's own README with none excluded).

The *session* volume and VWAP are the regular-way prints inside the window.
On 2013-10-08 they are exactly the figures `../shared/data/README.md` gives
(for example IBM: 5,203,752 shares at a VWAP of 179.8698).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from marketdata.recorded import TradeRow
from sequencer.messages.marketdata import (
    CLOSING_PRINT,
    COND_CLOSING_PRINT,
    COND_ODD_LOT,
    COND_OPENING_PRINT,
    COND_REOPENING_PRINT,
    ODD_LOT,
    OPENING_PRINT,
    REGULAR_WAY,
    SUSPICIOUS,
)

REGULAR_OPEN_MS = 9 * 3_600_000 + 30 * 60_000
REGULAR_CLOSE_MS = 16 * 3_600_000


@dataclass(frozen=True)
class VolumeRules:
    session_start_ms: int = REGULAR_OPEN_MS
    session_end_ms: int = REGULAR_CLOSE_MS
    excluded_conditions: frozenset[str] = field(default_factory=frozenset)
    excluded_mask: int = 0  # sale-condition bits that make a print not count
    auction_prints_count: bool = True

    def excludes(self, condition: str) -> bool:
        """A print with this sale condition never counts (by its text or its bits)."""
        return (condition in self.excluded_conditions
                or bool(condition_bits(condition) & self.excluded_mask))

    def counts(self, t: TradeRow) -> bool:
        """Counts towards the session's volume and VWAP (the data README's rule)."""
        return (
            self.session_start_ms <= t.ms < self.session_end_ms
            and not t.suspicious
            and not self.excludes(t.condition)
        )

    def flags(self, local_ms: float, size: int, lot_size: int, cond: int,
              suspicious: bool, excluded: bool) -> int:
        """The `Trade.flags` the plant derives for one print (`cond`: the vendor's bits;
        `excluded`: what `excludes` says of its condition, worked out once per text)."""
        f = 0
        if cond & (COND_OPENING_PRINT | COND_REOPENING_PRINT):
            f |= OPENING_PRINT
        if cond & COND_CLOSING_PRINT:
            f |= CLOSING_PRINT
        if size < lot_size or cond & COND_ODD_LOT:
            f |= ODD_LOT
        if suspicious:
            return f | SUSPICIOUS
        if excluded:
            return f
        if self.session_start_ms <= local_ms < self.session_end_ms or (
            self.auction_prints_count and f & (OPENING_PRINT | CLOSING_PRINT)
        ):
            f |= REGULAR_WAY
        return f

def condition_bits(text: str) -> int:
    """The vendor's sale condition (hex text of flag bits) as an int; 0 if not hex."""
    try:
        return int(text, 16) if text else 0
    except ValueError:
        return 0


@dataclass
class SessionVolume:
    trades: int = 0
    volume: int = 0
    notional: int = 0  # sum of price * size, in 1/10,000 dollar * shares

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
