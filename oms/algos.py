"""The algos the OMS accepts, and the parameters each takes.

The OMS checks a client's algo and parameters at the door, so a bad
parameter is a clear reject to the client rather than a strategy failing
mid-day. Names are case-insensitive on the wire and kept lower-case. The algo
engine reads the same parameters from `ParentAccepted` / `ParentAmended`.

Parameter kinds: `time` (HH:MM or HH:MM:SS, exchange-local), `pct` (a number
above 0 and at most 100), `bool` (Y/N, true/false, 1/0), `venue` (a routable
venue of the ref data), `text`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

Params = tuple[tuple[str, str], ...]

ALGOS: Final[dict[str, dict[str, str]]] = {
    # Direct market access: one child on the venue the client names.
    "dma": {"venue": "venue"},
    # Volume-weighted average price over a window (the algo engine's first strategy).
    "vwap": {
        "start_time": "time", "end_time": "time", "max_pct": "pct", "must_complete": "bool",
        "open_auction": "bool", "close_auction": "bool", "aggression": "text",
    },
}
REQUIRED: Final[dict[str, tuple[str, ...]]] = {"dma": ("venue",), "vwap": ()}
_BOOLS = ("y", "n", "yes", "no", "true", "false", "1", "0")


def check_time(v: str) -> str | None:
    """Why `v` is not a time of day (HH:MM or HH:MM:SS), or None."""
    parts = v.split(":")
    if len(parts) not in (2, 3) or not all(p.isdigit() and len(p) == 2 for p in parts):
        return "a time as HH:MM or HH:MM:SS"
    h, m, s = (int(p) for p in [*parts, "00"][:3])
    if h > 23 or m > 59 or s > 59:
        return "a time of day (hours 00-23, minutes and seconds 00-59)"
    return None


def _pct(v: str) -> str | None:
    try:
        x = float(v)
    except ValueError:
        return "a percentage above 0 and at most 100"
    return None if 0 < x <= 100 else "a percentage above 0 and at most 100"


def _bool(v: str) -> str | None:
    return None if v.lower() in _BOOLS else "Y or N"


def _text(v: str) -> str | None:
    return None if v else "a value"


_CHECKS: Final[dict[str, Callable[[str], str | None]]] = {
    "time": check_time, "pct": _pct, "bool": _bool, "text": _text,
}


def time_ms(v: str) -> int:
    """Milliseconds after local midnight of a checked `time` parameter."""
    parts = [*v.split(":"), "00"][:3]
    return ((int(parts[0]) * 60 + int(parts[1])) * 60 + int(parts[2])) * 1000


def check_algo(algo: str, params: Params,
               routable: Callable[[str], bool]) -> str | None:
    """Why the algo and its parameters cannot be accepted, in words; None if they can."""
    spec = ALGOS.get(algo)
    if spec is None:
        known = ", ".join(a.upper() for a in ALGOS)
        return (f"unsupported algo {algo.upper()!r}: choose one of {known}" if algo
                else f"the order names no algo: choose one of {known}")
    seen: dict[str, str] = {}
    for name, value in params:
        kind = spec.get(name)
        if kind is None:
            allowed = ", ".join(spec)
            return f"{algo.upper()} has no parameter {name!r} (it takes: {allowed})"
        if name in seen:
            return f"parameter {name!r} given twice"
        seen[name] = value
        if kind == "venue":
            if not routable(value):
                return f"{algo.upper()} venue {value!r} is not a routable venue"
            continue
        why = _CHECKS[kind](value)
        if why is not None:
            return f"{algo.upper()} parameter {name} expects {why}, got {value!r}"
    for name in REQUIRED[algo]:
        if name not in seen:
            return f"{algo.upper()} needs the parameter {name!r}"
    if "start_time" in seen and "end_time" in seen and (
            time_ms(seen["start_time"]) >= time_ms(seen["end_time"])):
        return (f"{algo.upper()} start_time {seen['start_time']} is not before "
                f"end_time {seen['end_time']}")
    return None
