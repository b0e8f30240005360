"""Exchange-local clock arithmetic shared by the plant and the apps that read market data."""

from __future__ import annotations

import datetime as dt
import zoneinfo


def local_midnight_ns(day: dt.date, tz: str) -> int:
    """Unix time (ns) of midnight at the start of `day` in time zone `tz`.

    Deterministic: the zone's rules are fixed data (the tz database), not state.
    """
    zone = zoneinfo.ZoneInfo(tz)
    return int(dt.datetime.combine(day, dt.time(0), tzinfo=zone).timestamp()) * 1_000_000_000
