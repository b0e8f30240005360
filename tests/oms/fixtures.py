"""A ref data set for OMS tests (clients, limits, borrow, destinations) and a session
that runs the OMS on the stream kit, the way the live stack does: each input is
sequenced, the OMS's outputs are sequenced right after it (so the engine's output
checker sees the recorded stream), and the whole day is kept as frames for replay
tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from oms.app import Oms
from refdata.model import (
    Destination,
    RefData,
    RefDataSet,
    Symbol,
    SymbolStats,
    Table,
    Venue,
    VolumeCurve,
    local_midnight_ns,
)
from sequencer import sources
from sequencer.kit import StreamKit
from sequencer.messages import Message
from sequencer.runtime.app import App

DAY = dt.date(2013, 10, 8)
MIDNIGHT = local_midnight_ns(DAY, "America/New_York")
MS = 1_000_000
OPEN_NS = MIDNIGHT + (9 * 3600 + 30 * 60) * 1000 * MS
CLIENT_GW = sources.CLIENT_GATEWAY
VENUE_GW = sources.VENUE_GATEWAY
ALGO = sources.ALGO
OPS = sources.INJECT
SECOND = 1_000 * MS
HOUR = 3_600 * SECOND

_CLIENT_COLS = ("client", "name", "odd_lots", "done_for_day", "pending_new", "max_order_qty",
                "max_order_notional", "max_gross_notional", "max_open_orders", "collar_bps",
                "symbols")


def client_row(client: str, *, odd_lots: bool = False, done_for_day: bool = False,
               pending_new: bool = False, max_order_qty: int = 1_000_000,
               max_order_notional: int = 50_000_000 * 10_000,
               max_gross_notional: int = 500_000_000 * 10_000, max_open_orders: int = 1000,
               collar_bps: int = 500, symbols: str = "*") -> dict[str, Any]:
    return {"client": client, "name": client.title(), "odd_lots": odd_lots,
            "done_for_day": done_for_day, "pending_new": pending_new,
            "max_order_qty": max_order_qty, "max_order_notional": max_order_notional,
            "max_gross_notional": max_gross_notional, "max_open_orders": max_open_orders,
            "collar_bps": collar_bps, "symbols": symbols}


def default_clients() -> dict[str, dict[str, Any]]:
    rows = [
        client_row("*", max_order_qty=5_000_000, max_open_orders=100_000, collar_bps=1000,
                   max_order_notional=100_000_000 * 10_000,
                   max_gross_notional=2_000_000_000 * 10_000),
        client_row("ALPHA"),
        client_row("BETA", odd_lots=True, done_for_day=True, pending_new=True,
                   max_order_qty=200_000, symbols="AIG IBM", collar_bps=300),
    ]
    return {r["client"]: r for r in sorted(rows, key=lambda r: r["client"])}


# symbol -> previous close (fixed point)
REF_PRICES = {"AIG": 48_1900, "BAC": 13_8100, "IBM": 182_0100, "SPY": 167_4300, "PNY": 5000}


def oms_refdata(clients: dict[str, dict[str, Any]] | None = None,
                restricted: dict[str, str] | None = None) -> RefData:
    restricted = restricted or {}
    names = sorted(REF_PRICES)
    syms = tuple(
        Symbol(i, n, n, "ARCX" if n == "SPY" else "XNYS", 100, "regnms", "USD",
               restricted=n in restricted, restricted_reason=restricted.get(n, ""))
        for i, n in enumerate(names, start=1))
    venues = tuple(
        Venue(code, code, sip, "America/New_York", 34_200_000, 57_600_000, True, True, rout)
        for code, sip, rout in (("ARCX", "P", True), ("BATS", "Z", True), ("FINR", "D", False),
                                ("XNAS", "Q", True), ("XNYS", "N", True)))
    dests = (*(Destination(f"DMA-{v.code}", v.code, f"TAPE->{v.code}", 0)
               for v in venues if v.routable),
             Destination("ALT-XNYS", "XNYS", "TAPE->XNYS2", 1))
    stats = tuple(SymbolStats(n, 1_000_000, 3.0, 0.2, 200, REF_PRICES[n], 20, "test")
                  for n in names)
    flat = VolumeCurve("*", tuple([0.9 / 390] * 390), 0.05, 0.05, (), "test")
    borrow = Table("borrow", "symbol", ("symbol", "locate_required"), {
        "AIG": {"symbol": "AIG", "locate_required": False},
        "IBM": {"symbol": "IBM", "locate_required": True},
    })
    rows = clients if clients is not None else default_clients()
    table = Table("clients", "client", _CLIENT_COLS, rows)
    data = RefDataSet(DAY, syms, venues, dests, stats, (flat,), (borrow, table))
    return RefData(data, "oms-test-digest")


class Session(StreamKit):
    """The OMS on the stream kit (`sequencer.kit`): `send` sequences an input and returns
    the OMS's outputs (decoded), which are sequenced after it; the shortcuts send as
    the client gateway, the venue gateway, the algo engine and ops."""

    def __init__(self, refdata: RefData | None = None, seed: int = 7,
                 start_ns: int = OPEN_NS, others: Sequence[App] = ()) -> None:
        """`others`: apps on the same stream beside the OMS."""
        self.refdata = refdata if refdata is not None else oms_refdata()
        self.app = Oms()
        super().__init__([self.app, *others], refdata=self.refdata, start_ns=start_ns,
                         default_gap_ns=MS)
        self.engine = self.engine_of("oms")
        self.start(DAY, seed=seed, config_digest="oms-test", at_ns=start_ns + MS)

    def client(self, msg: Message) -> list[Message]:
        return self.send(msg, CLIENT_GW)

    def venue(self, msg: Message) -> list[Message]:
        return self.send(msg, VENUE_GW)

    def algo(self, msg: Message) -> list[Message]:
        return self.send(msg, ALGO)

    def ops(self, msg: Message) -> list[Message]:
        return self.send(msg, OPS)


def of_type[T](outs: list[Message], t: type[T]) -> list[T]:
    return [o for o in outs if isinstance(o, t)]
