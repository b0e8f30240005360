"""Days for the post-trade tests, built with the stream kit where the right answer is
known by construction.

`KitDay(path)` is the real OMS on the stream kit (`tests.oms.fixtures`), its journal
written to `path/journal` and its ref data (the OMS tests' set plus the post-trade
tables) to `path/refdata`, so `tape post-trade path` reads it like any day. Shortcuts
send what each process would: `order` (the client gateway's NewOrder), `child` (the
algo engine's NewChild, acked by the venue), `fill` (the venue's fill), `quote` (the
ticker plant's quote with the NBBO it derives), `cancel`, `replace`, `stop`. Anything
else goes through `send(msg, source)`, so a test can plant what the OMS would never
publish (a client fill with no venue fill behind it, a fill on a dead child).

`planted_day(path)` is the standard day of the report tests: ALPHA buys and sells IBM,
BETA's order is cancelled and replaced, with a planted trade-through, a planted wash
trade, a fill on a child already cancelled, a client report no venue fill backs, and
an order left open at the end of the day. Its `Facts` says what each report must find.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from oms.app import Oms
from refdata.load import save
from refdata.model import RefData, RefDataSet, Table
from sequencer import sources
from sequencer.kit import StreamKit
from sequencer.messages import Message
from sequencer.messages.control import Alert
from sequencer.messages.executions import ExecutionReport, VenueAck, VenueCanceled, VenueFill
from sequencer.messages.marketdata import CLOSING_PRINT, REGULAR_WAY, Quote, Trade
from sequencer.messages.orders import (
    CancelChild,
    CancelOrder,
    NewChild,
    NewOrder,
    ReplaceOrder,
    Side,
)
from tests.oms.fixtures import DAY, MS, OPEN_NS, SECOND, oms_refdata

MIN = 60 * SECOND
CLOSE_NS = OPEN_NS + 390 * MIN
TICKER = sources.TICKER_PLANT
IBM = 3  # symbol ids of the OMS tests' set (AIG BAC IBM PNY SPY)

_TABLES: dict[str, tuple[str, tuple[str, ...], list[dict[str, Any]]]] = {
    "firm": ("firm", ("firm", "name", "imid", "submitter_id", "crd", "dept_type",
                      "clearing_firm", "time_tolerance_ms"),
             [{"firm": "TAPE", "name": "Tape Agency Securities LLC", "imid": "TAPE",
               "submitter_id": "TAPE", "crd": "999001", "dept_type": "A",
               "clearing_firm": "APXC", "time_tolerance_ms": 50}]),
    "accounts": ("client", ("client", "account", "account_holder_type", "firm_designated_id",
                            "affiliate", "capacity"),
                 [{"client": c, "account": f"{c}-001", "account_holder_type": "A",
                   "firm_designated_id": f"FDID-{c}", "affiliate": False, "capacity": "A"}
                  for c in ("ALPHA", "BETA")]),
    "venue_fees": ("venue", ("venue", "cat_id", "add_per_100", "remove_per_100",
                             "auction_per_100"),
                   [{"venue": v, "cat_id": cid, "add_per_100": -20.0, "remove_per_100": 30.0,
                     "auction_per_100": 10.0}
                    for v, cid in (("ARCX", "ARCA"), ("BATS", "BATS"), ("XNAS", "NSDQ"),
                                   ("XNYS", "NYSE"))]),
    "cat_routes": ("destination", ("destination", "destination_type", "cat_destination"),
                   [{"destination": d, "destination_type": t, "cat_destination": c}
                    for d, t, c in (("DMA-ARCX", "E", "ARCA"), ("DMA-BATS", "E", "BATS"),
                                    ("DMA-XNAS", "E", "NSDQ"), ("DMA-XNYS", "E", "NYSE"),
                                    ("ALT-XNYS", "F", "ALTB"))]),
}


def post_trade_data(drop: tuple[str, ...] = ()) -> RefDataSet:
    """The OMS tests' set plus the post-trade tables (`drop` leaves some out)."""
    base = oms_refdata().data
    tables = list(base.tables)
    for name, (key, cols, rows) in _TABLES.items():
        if name not in drop:
            tables.append(Table(name, key, cols, {r[key]: r for r in rows}))
    return msgspec.structs.replace(base, tables=tuple(tables))


def post_trade_refdata(drop: tuple[str, ...] = ()) -> RefData:
    blob = msgspec.json.encode(post_trade_data(drop))
    return RefData(msgspec.json.decode(blob, type=RefDataSet), hashlib.sha256(blob).hexdigest())


def write_refdata(day: Path, rd: RefData) -> None:
    """`DAY/refdata` as `tape refdata build` leaves it (the set and its manifest)."""
    save(day / "refdata", rd.data)


class KitDay(StreamKit):
    """The OMS on the stream kit writing a day folder (see the module docstring)."""

    def __init__(self, day: Path, refdata: RefData | None = None, seed: int = 7) -> None:
        self.day = Path(day)
        self.day.mkdir(parents=True, exist_ok=True)
        rd = refdata if refdata is not None else post_trade_refdata()
        write_refdata(self.day, rd)
        super().__init__([Oms()], refdata=rd, start_ns=OPEN_NS - MIN, default_gap_ns=MS,
                         journal=self.day / "journal")
        self.start(DAY, seed=seed, config_digest="post-trade-test", refdata_digest=rd.digest,
                   at_ns=OPEN_NS - MIN + MS)
        self._oid = 0
        self._fills = 0

    def at(self, ns: int) -> None:
        """Move stream time to `ns` (never back)."""
        self.now = max(self.now, ns)

    def outputs_of[T](self, t: type[T]) -> list[T]:
        return [o for o in self.outputs if isinstance(o, t)]

    def order(self, client: str, cl: str, side: Side = "buy", qty: int = 1_000,
              px: int = 182_0000, symbol: str = "IBM", algo: str = "vwap") -> str:
        """A client's limit order; returns its OrderID (the OMS's)."""
        outs = self.send(NewOrder(client=client, cl_ord_id=cl, symbol=symbol, side=side,
                                  qty=qty, ord_type="limit", limit_px=px, algo=algo,
                                  transact_ns=self.now), sources.CLIENT_GATEWAY)
        reps = [o for o in outs if isinstance(o, ExecutionReport)]
        assert reps and reps[0].exec_type in ("new", "pending_new"), reps
        return reps[0].order_id

    def child(self, oid: str, cid: str, qty: int, px: int = 182_0000, venue: str = "XNYS"
              ) -> None:
        self.send(NewChild(parent_id=oid, child_id=cid, venue=venue, qty=qty,
                           ord_type="limit", limit_px=px), sources.ALGO)
        self.send(VenueAck(child_id=cid, venue_order_id="V" + cid), sources.VENUE_GATEWAY)

    def fill(self, cid: str, qty: int, px: int, liquidity: str = "removed",
             exec_id: str = "") -> str:
        self._fills += 1
        eid = exec_id or f"X{self._fills}"
        self.send(VenueFill(child_id=cid, exec_id=eid, qty=qty, px=px, liquidity=liquidity),  # type: ignore[arg-type]  # a Literal from a test's str
                  sources.VENUE_GATEWAY)
        return eid

    def quote(self, bid: int, ask: int, symbol_id: int = IBM, venue: str = "XNYS") -> None:
        self.send(Quote(symbol_id=symbol_id, venue=venue, bid_px=bid, bid_size=500,
                        ask_px=ask, ask_size=500, exch_time_ns=self.now, nbbo_bid_px=bid,
                        nbbo_bid_size=500, nbbo_ask_px=ask, nbbo_ask_size=500), TICKER)

    def print_(self, px: int, size: int, flags: int = REGULAR_WAY, symbol_id: int = IBM) -> None:
        self.send(Trade(symbol_id=symbol_id, venue="XNYS", price=px, size=size,
                        exch_time_ns=self.now, flags=flags), TICKER)

    def cancel(self, client: str, cl: str, orig: str, side: Side = "buy",
               symbol: str = "IBM") -> None:
        self.send(CancelOrder(client=client, cl_ord_id=cl, orig_cl_ord_id=orig, symbol=symbol,
                              side=side), sources.CLIENT_GATEWAY)

    def replace(self, client: str, cl: str, orig: str, qty: int = 0, px: int = 0,
                side: Side = "buy", symbol: str = "IBM") -> None:
        self.send(ReplaceOrder(client=client, cl_ord_id=cl, orig_cl_ord_id=orig,
                               symbol=symbol, side=side, qty=qty, limit_px=px),
                  sources.CLIENT_GATEWAY)

    def cancel_child(self, oid: str, cid: str) -> None:
        self.send(CancelChild(parent_id=oid, child_id=cid), sources.ALGO)
        self.send(VenueCanceled(child_id=cid), sources.VENUE_GATEWAY)

    def finish(self, reason: str = "test day over") -> Path:
        self.stop(reason)
        self.close()
        return self.day


@dataclass
class Facts:
    """What the planted day holds, for the reports to find."""

    orders: dict[str, str] = field(default_factory=dict)  # cl_ord_id -> OrderID
    trade_through_exec: str = ""  # the venue exec id of the planted trade-through
    excused_exec: str = ""  # a fill outside the NBBO but inside the tolerance
    wash_client: str = "ALPHA"
    dead_child: str = ""  # a child that got a fill after it was cancelled
    unbacked_exec: str = ""  # a client ExecID with no venue fill behind it
    open_order: str = ""  # OrderID still open at the end of the day
    venue_fills: int = 0  # venue fills (not repeats) on the day
    client_fills: int = 0  # client trade reports on the day


def planted_day(path: Path, *, stop: bool = True) -> tuple[KitDay, Facts]:
    """The standard planted day (see the module docstring)."""
    d = KitDay(path)
    f = Facts()
    d.quote(181_9000, 182_0000)
    # ALPHA buys 1,000 IBM in two children; the second fill is a trade-through: bought at
    # 182.10 with the offer at 182.00 for a second.
    f.orders["A-BUY"] = buy = d.order("ALPHA", "A-BUY", "buy", 1_000, 183_0000)
    d.child(buy, "C1", 500)
    d.fill("C1", 500, 182_0000)
    d.at(d.now + SECOND // 2)  # the sale below comes within the wash window of this buy
    d.child(buy, "C2", 500, px=183_0000)
    f.trade_through_exec = d.fill("C2", 500, 182_1000)
    # ALPHA sells 500 IBM at 182.00 within the wash window of the buy at 182.00: a wash
    # trade by the rule (same client, symbol, price within the window). The quote moves
    # first, and the sale at the old bid is excused by the tolerance.
    f.orders["A-SELL"] = sell = d.order("ALPHA", "A-SELL", "sell", 500, 181_0000)
    d.child(sell, "C3", 500, px=181_0000)
    d.quote(182_0500, 182_1000)
    d.at(d.now + 2 * MS)
    f.excused_exec = d.fill("C3", 500, 182_0000)
    # BETA: an order replaced (qty down), then cancelled, its child cancelled; a fill
    # comes on the cancelled child (the venue's late fill).
    d.at(d.now + MIN)
    f.orders["B-1"] = beta = d.order("BETA", "B-1", "buy", 2_000, 182_5000)
    d.child(beta, "C4", 1_000, px=182_0000)
    d.replace("BETA", "B-2", "B-1", qty=1_500)
    d.at(d.now + SECOND)
    d.cancel("BETA", "B-3", "B-2")
    d.send(VenueCanceled(child_id="C4"), sources.VENUE_GATEWAY)
    f.dead_child = "C4"
    d.fill("C4", 100, 182_0000)
    # A client fill no venue fill backs (a planted OMS report).
    d.at(d.now + MIN)
    f.orders["A-3"] = a3 = d.order("ALPHA", "A-3", "buy", 300, 183_0000)
    f.unbacked_exec = "PLANTED-E1"
    d.send(ExecutionReport(client="ALPHA", order_id=a3, cl_ord_id="A-3", orig_cl_ord_id="",
                           exec_id=f.unbacked_exec, exec_type="trade",
                           ord_status="partially_filled", symbol="IBM", side="buy",
                           order_qty=300, cum_qty=100, leaves_qty=200, last_qty=100,
                           last_px=182_0000, avg_px=182_0000 * 10_000, limit_px=183_0000),
           sources.INJECT)  # not as the OMS: the kit would hold the OMS to its own outputs
    f.open_order = a3
    d.send(Alert(severity="critical", source="oms", text="planted critical alert",
                 code="planted"), sources.INJECT)
    # The close: a closing print.
    d.at(CLOSE_NS)
    d.print_(182_0000, 10_000, REGULAR_WAY | CLOSING_PRINT)
    f.venue_fills = 4
    f.client_fills = sum(1 for o in d.outputs_of(ExecutionReport) if o.exec_type == "trade") + 1
    if stop:
        d.finish()
    return d, f


__all__ = [
    "CLOSE_NS",
    "MIN",
    "Facts",
    "KitDay",
    "Message",
    "planted_day",
    "post_trade_refdata",
    "write_refdata",
]
