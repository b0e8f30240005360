"""The day's ref data set as apps see it (`ctx.refdata`).

Everything here is plain data: frozen msgspec Structs, built by
`refdata.build`, written as one canonical JSON document (`refdata.json`)
whose SHA-256 is the set's digest, and read back by `refdata.load`. Apps
only read it; lookups are by integer id or by name through dicts built at
load time, never by iterating a set.

Prices are fixed-point integers (`PRICE_SCALE`, 1/10,000); figures that are
models (spreads, volatility, curve shares) are floats, rounded to 6
decimals when the set is built so the digest does not depend on the last
bit of a float sum.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import msgspec

PRICE_SCALE = 10_000
REGULAR_OPEN_MS = 9 * 3_600_000 + 30 * 60_000
REGULAR_CLOSE_MS = 16 * 3_600_000


def local_midnight_ns(day: dt.date, tz: str) -> int:
    """Unix time (ns) of midnight at the start of `day` in time zone `tz` (a venue's).

    Deterministic: the zone's rules are fixed data (the tz database), not state.
    """
    zone = zoneinfo.ZoneInfo(tz)
    return int(dt.datetime.combine(day, dt.time(0), tzinfo=zone).timestamp()) * 1_000_000_000


class Symbol(msgspec.Struct, frozen=True):
    """One line of the security master."""

    id: int  # stable for the day: the listing's position in symbol order, from 1
    name: str  # "AIG"
    description: str
    primary_venue: str  # a venue code (MIC), e.g. "XNYS"
    lot_size: int  # shares in a round lot
    tick_rule: str  # "regnms": 0.0001 below 1.00, 0.01 from 1.00
    currency: str
    restricted: bool = False
    restricted_reason: str = ""


class Venue(msgspec.Struct, frozen=True):
    code: str  # MIC, e.g. "XNYS"
    name: str
    sip_code: str  # the letter the consolidated feed uses, "" if none
    timezone: str  # "America/New_York"
    open_ms: int  # regular session, ms after local midnight
    close_ms: int
    opening_auction: bool
    closing_auction: bool
    routable: bool = True  # False for reporting facilities (FINRA TRF) that take no orders


class Destination(msgspec.Struct, frozen=True):
    """A way to reach a venue: an algo picks the venue, the container picks the destination."""

    name: str  # "DMA-XNYS"
    venue: str  # venue code it reaches
    session: str  # FIX session (SenderCompID->TargetCompID) the venue gateway uses
    priority: int = 0  # lower first when several reach one venue


class SymbolStats(msgspec.Struct, frozen=True):
    """Statistics from history strictly before the session date (no look-ahead)."""

    symbol: str
    adv: int  # average daily volume, shares
    avg_spread_bps: float  # mean quoted spread over mid, basis points
    volatility: float  # annualised standard deviation of daily log returns
    avg_trade_size: int  # mean regular-hours print size, shares
    ref_price: int  # previous close, fixed point
    days: int  # history days the figures rest on
    source: str  # "recorded" (computed here) or "default" (shipped figures)


class VolumeCurve(msgspec.Struct, frozen=True):
    """Expected share of the day's volume: opening auction, each minute of the
    regular session (continuous trading), closing auction. The three parts sum
    to 1. Stored at one-minute resolution; `VolumeCurve.binned` re-bins."""

    symbol: str  # "*" for the default curve
    minute_shares: tuple[float, ...]  # 390 entries, 09:30 .. 15:59
    open_auction: float
    close_auction: float
    days: tuple[str, ...]  # the history days it was built from (ISO dates)
    source: str  # "symbol", "default" or a description of a blend
    day_shares: tuple[tuple[float, ...], ...] = ()  # per history day, for plots

    def binned(self, bin_minutes: int) -> tuple[float, ...]:
        """Shares per `bin_minutes` interval (1 to 30); the last bin may be shorter."""
        if not 1 <= bin_minutes <= 30:
            raise ValueError(f"bin width must be 1 to 30 minutes, got {bin_minutes}")
        m = self.minute_shares
        return tuple(sum(m[i:i + bin_minutes]) for i in range(0, len(m), bin_minutes))


class Table(msgspec.Struct, frozen=True):
    """A declared delimited file: rows by key, values typed as the config says."""

    name: str
    key: str
    columns: tuple[str, ...]
    rows: dict[str, dict[str, Any]]

    def get(self, key: str) -> dict[str, Any] | None:
        return self.rows.get(key)

    def __getitem__(self, key: str) -> dict[str, Any]:
        try:
            return self.rows[key]
        except KeyError:
            raise KeyError(f"table {self.name!r} has no row with {self.key} = {key!r}") from None


class RefDataSet(msgspec.Struct, frozen=True):
    """What `refdata.json` holds (the digest is computed over its bytes)."""

    session_date: dt.date
    symbols: tuple[Symbol, ...]
    venues: tuple[Venue, ...]
    destinations: tuple[Destination, ...]
    stats: tuple[SymbolStats, ...]
    curves: tuple[VolumeCurve, ...]  # per symbol where history allows, plus the "*" default
    tables: tuple[Table, ...]
    bin_minutes: int = 5  # the configured default bin width
    sources: tuple[str, ...] = ()  # the files it was built from, with their SHA-256


class RefData:
    """The loaded set with its lookups. Read-only; what `ctx.refdata` is."""

    def __init__(self, data: RefDataSet, digest: str) -> None:
        self.data = data
        self.digest = digest
        self.session_date = data.session_date
        self.symbols = data.symbols
        self.venues = data.venues
        self.destinations = data.destinations
        self.bin_minutes = data.bin_minutes
        self._by_id = {s.id: s for s in data.symbols}
        self._by_name = {s.name: s for s in data.symbols}
        self._venues = {v.code: v for v in data.venues}
        self._by_sip = {v.sip_code: v for v in data.venues if v.sip_code}
        self._stats = {s.symbol: s for s in data.stats}
        self._curves = {c.symbol: c for c in data.curves}
        self._tables = {t.name: t for t in data.tables}

    def symbol(self, symbol_id: int) -> Symbol:
        try:
            return self._by_id[symbol_id]
        except KeyError:
            raise KeyError(f"no symbol with id {symbol_id} in the ref data") from None

    def by_name(self, name: str) -> Symbol:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no symbol {name!r} in the ref data") from None

    def find(self, name: str) -> Symbol | None:
        return self._by_name.get(name)

    def venue(self, code: str) -> Venue:
        try:
            return self._venues[code]
        except KeyError:
            raise KeyError(f"no venue {code!r} in the ref data") from None

    def venue_by_sip(self, letter: str) -> Venue | None:
        return self._by_sip.get(letter)

    def destinations_for(self, venue: str) -> tuple[Destination, ...]:
        """Destinations that reach `venue`, best first (priority, then name)."""
        return tuple(sorted((d for d in self.destinations if d.venue == venue),
                            key=lambda d: (d.priority, d.name)))

    def stats(self, symbol_id: int) -> SymbolStats:
        return self._stats[self.symbol(symbol_id).name]

    def curve(self, symbol_id: int) -> VolumeCurve:
        """The symbol's own curve where history allowed one, else the default curve."""
        c = self._curves.get(self.symbol(symbol_id).name)
        return c if c is not None else self._curves["*"]

    def tick_size(self, symbol_id: int, price: int) -> int:
        """Minimum price increment at `price` (fixed point)."""
        rule = self.symbol(symbol_id).tick_rule
        if rule == "regnms":
            return 1 if price < PRICE_SCALE else 100
        raise ValueError(f"unknown tick rule {rule!r}")

    def table(self, name: str) -> Table:
        try:
            return self._tables[name]
        except KeyError:
            known = ", ".join(sorted(self._tables)) or "none"
            raise KeyError(f"no ref data table {name!r} (declared: {known})") from None
