"""A small ref data set built in code, for market data tests that need symbol ids and venues
(independent of the shipped files and of `tape refdata build`)."""

from __future__ import annotations

import datetime as dt

from refdata.model import RefData, RefDataSet, Symbol, Venue, VolumeCurve

# (code, name, SIP letter, routable)
_VENUES = [
    ("ARCX", "NYSE Arca", "P", True), ("BATS", "BATS BZX", "Z", True),
    ("BATY", "BATS BYX", "Y", True), ("CBSX", "CBOE Stock Exchange", "W", True),
    ("EDGA", "EDGA", "J", True), ("EDGX", "EDGX", "K", True),
    ("FINR", "FINRA TRF", "D", False), ("XASE", "NYSE MKT", "A", True),
    ("XBOS", "NASDAQ BX", "B", True), ("XCHI", "Chicago Stock Exchange", "M", True),
    ("XCIS", "National Stock Exchange", "C", True), ("XNAS", "NASDAQ", "Q", True),
    ("XNYS", "NYSE", "N", True), ("XPHL", "NASDAQ PSX", "X", True),
]


def make_refdata(session_date: dt.date = dt.date(2013, 10, 8),
                 symbols: tuple[str, ...] = ("AIG", "BAC", "IBM", "SPY")) -> RefData:
    primary = {"SPY": "ARCX"}
    syms = tuple(
        Symbol(i, name, name, primary.get(name, "XNYS"), 100, "regnms", "USD")
        for i, name in enumerate(sorted(symbols), start=1)
    )
    venues = tuple(
        Venue(code, name, sip, "America/New_York", 34_200_000, 57_600_000, True, True, routable)
        for code, name, sip, routable in _VENUES
    )
    flat = VolumeCurve("*", tuple([0.9 / 390] * 390), 0.05, 0.05, (), "test")
    data = RefDataSet(session_date, syms, venues, (), (), (flat,), ())
    return RefData(data, "test-digest")
