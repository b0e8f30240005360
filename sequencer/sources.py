"""Every publisher on the stream: its source id, its name and what it publishes.

A frame's source id says who published it; the sequencer drops duplicates and
finds gaps per source, an app recognises its own outputs by it, and the
latency report and `tape messages` name sources by it. This table is the one
place a source id is written as a number: everything else imports the
constants below.

Each entry also lists the message types the source publishes. Handlers are
read from the code (`@handles`); publishers cannot be, so they are declared
here, and the stream kit (`sequencer.kit`) refuses, in every test that runs an
app, an output of a type its source does not list. `tape messages` joins the
two.

Ranges beside the fixed ids: `bench(k)` for benchmark publishers, `adhoc(k)`
for test publishers, `inject_file(content)` for the rows of a file `tape
inject` sends (a source of the file's own, so that a second run of the same
file is recognised), and `runtime_alerts(app)` for the runtime speaking for an
app (the Alert of a determinism failure, kept off the app's own numbering).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

from sequencer.messages import Message, admin, control, executions, marketdata, orders

SEQUENCER: Final = 0
COUNTER: Final = 10
NOOP: Final = 11
MARKET_MONITOR: Final = 21
TICKER_PLANT: Final = 30
OMS: Final = 40
ALGO: Final = 50
CLIENT_GATEWAY: Final = 60
VENUE_GATEWAY: Final = 70
#: The venue simulator app (`venue_sim`): the venue gateway's part in a backtest, with
#: an id of its own so that a replay of a day holds each to its own outputs.
VENUE_SIM: Final = 71
#: The database writer (`tape db run`), an edge consumer: its Alerts only.
DB_WRITER: Final = 80
#: The day's watcher (`tape day watch`), an edge process: the alert rules' Alerts.
WATCH: Final = 90
#: The web blotter (`tape blotter`): the admin commands its operators take.
BLOTTER: Final = 95
INJECT: Final = 900
#: What a consumer that publishes nothing has as its source id (a publisher refuses it).
NOBODY: Final = -1

BENCH_BASE: Final = 1000
TEST_BASE: Final = 2000
INJECT_FILE_BASE: Final = 1 << 30
INJECT_FILE_SPAN: Final = 1 << 29
RUNTIME_ALERT_BASE: Final = 1 << 31


def _family(module: object) -> tuple[type[Message], ...]:
    return tuple(t for t in vars(module).values()
                 if isinstance(t, type) and issubclass(t, Message) and t is not Message)


@dataclass(frozen=True)
class Source:
    id: int
    name: str
    what: str
    publishes: tuple[type[Message], ...]


_O, _E, _M, _C, _A = orders, executions, marketdata, control, admin

SOURCES: Final[tuple[Source, ...]] = (
    Source(SEQUENCER, "sequencer",
           "the sequencer itself: the day's start and stop, idle clock ticks, gap alerts, "
           "a backtest's simulated market settings",
           (_C.SystemStart, _C.SimMarket, _C.SystemStop, _C.ClockTick, _C.Alert)),
    Source(COUNTER, "counter", "sample app (sequencer.runtime.samples)",
           (_C.Echo, _C.Heartbeat)),
    Source(NOOP, "noop", "sample app that publishes nothing (the runtime bench)", ()),
    Source(MARKET_MONITOR, "market_monitor", "stale-quote and crossed-market alerts",
           (_C.Alert,)),
    Source(TICKER_PLANT, "ticker_plant",
           "market data: quotes with the NBBO, trades, trading status, snapshots",
           (_M.Quote, _M.Trade, _M.TradingStatus, _M.MarketSnapshot, _M.Subscribe, _C.Alert)),
    Source(OMS, "oms", "the OMS: execution reports, child orders sent, parent events",
           (_E.ExecutionReport, _E.CancelReject, _O.ChildOrderSent, _O.ChildRequestRejected,
            _O.ParentAccepted, _O.ParentAmended, _O.ParentCanceling, _O.ParentDone,
            _O.ParentReopened, _M.Subscribe, _C.Alert)),
    Source(ALGO, "algo", "the algo container: child requests and the strategies' decisions",
           (_O.NewChild, _O.ReplaceChild, _O.CancelChild, _O.AlgoDecision, _M.Subscribe,
            _C.Alert)),
    Source(CLIENT_GATEWAY, "client_gateway",
           "clients' FIX requests and session status",
           (_O.NewOrder, _O.CancelOrder, _O.ReplaceOrder, _O.OrderStatusRequest,
            _E.ClientSessionStatus)),
    Source(VENUE_GATEWAY, "venue_gateway", "venues' answers and session status",
           (_E.VenueAck, _E.VenueReject, _E.VenueFill, _E.VenueCanceled, _E.VenueReplaced,
            _E.VenueCancelRejected, _E.VenueRestated, _E.VenueTradeCanceled,
            _E.VenueTradeCorrected, _E.VenueStatus)),
    Source(VENUE_SIM, "venue_sim",
           "the venue simulator app: simulated venues' answers in a backtest",
           (_E.VenueAck, _E.VenueReject, _E.VenueFill, _E.VenueCanceled, _E.VenueReplaced,
            _E.VenueCancelRejected, _E.VenueRestated, _E.VenueTradeCanceled,
            _E.VenueTradeCorrected)),
    Source(DB_WRITER, "db_writer",
           "the database writer: its lag and the database's outages, as Alerts",
           (_C.Alert,)),
    Source(WATCH, "watch",
           "the day's watcher: Alerts raised by the topology's alert rules on logs, "
           "stream events and process restarts",
           (_C.Alert,)),
    Source(BLOTTER, "blotter",
           "the web blotter (`tape blotter`): ops' actions, each naming its user",
           (_A.CancelParent, _A.EngageKillSwitch, _A.ReleaseKillSwitch, _A.SetRiskLimit,
            _A.OperatorNote)),
    Source(INJECT, "inject",
           "ops' `tape inject` (admin commands, notes, alerts; it may send any type but "
           "SystemStart and ClockTick)",
           (*_family(admin), _C.Alert)),
)

BY_ID: Final[dict[int, Source]] = {s.id: s for s in SOURCES}
BY_SOURCE_NAME: Final[dict[str, Source]] = {s.name: s for s in SOURCES}

if len(BY_ID) != len(SOURCES) or len(BY_SOURCE_NAME) != len(SOURCES):
    raise RuntimeError("two sources share an id or a name")


def bench(k: int) -> int:
    """The k-th benchmark publisher (k from 0)."""
    return BENCH_BASE + k


def adhoc(k: int) -> int:
    """The k-th ad-hoc publisher (k from 0): tests that need publishers of their own.
    (Not named test_...: pytest would collect it from a test module that imports it.)"""
    return TEST_BASE + k


def inject_file(content: bytes, run: int = 0) -> int:
    """The source a file's rows go out as from `tape inject`: the file's own, from its
    bytes, numbered by row, so the sequencer drops the rows a second run sends again.
    `run` k > 0 is the k-th time the same file is sent on purpose (`inject --again`:
    the same halt on a later afternoon), a source of its own."""
    h = hashlib.sha256(content if not run else content + f"\x00again {run}".encode())
    return INJECT_FILE_BASE + int.from_bytes(h.digest()[:8], "big") % INJECT_FILE_SPAN


def is_inject_file(source_id: int) -> bool:
    """Is `source_id` the rows of an inject file (`inject_file`)?"""
    return INJECT_FILE_BASE <= source_id < INJECT_FILE_BASE + INJECT_FILE_SPAN


def runtime_alerts(app_source: int) -> int:
    """The source the runtime publishes an app's determinism Alert as."""
    return RUNTIME_ALERT_BASE + app_source


def name(source_id: int) -> str:
    """A source's name for people: the table's, or what its range says."""
    s = BY_ID.get(source_id)
    if s is not None:
        return s.name
    if source_id >= RUNTIME_ALERT_BASE:
        return f"runtime:{name(source_id - RUNTIME_ALERT_BASE)}"
    if source_id >= INJECT_FILE_BASE:
        return f"inject-file#{source_id - INJECT_FILE_BASE}"
    if source_id >= TEST_BASE:
        return f"adhoc#{source_id - TEST_BASE}"
    if source_id >= BENCH_BASE:
        return f"bench#{source_id - BENCH_BASE}"
    return f"source {source_id}"


def publisher(msg_type: type[Message]) -> int:
    """The first source in the table that publishes `msg_type` (tests that write a day
    of given messages put each where it would come from)."""
    for s in SOURCES:
        if msg_type in s.publishes:
            return s.id
    raise KeyError(f"no source publishes {msg_type.__name__}")


def allowed_outputs(source_id: int) -> frozenset[int] | None:
    """Type ids `source_id` may publish per the table (None: a range, not checked)."""
    from sequencer.messages import TYPE_ID

    s = BY_ID.get(source_id)
    if s is None:
        if source_id >= RUNTIME_ALERT_BASE:
            return frozenset({TYPE_ID[_C.Alert]})
        return None
    return frozenset(TYPE_ID[t] for t in s.publishes)


__all__ = [
    "ALGO", "BY_ID", "BY_SOURCE_NAME", "CLIENT_GATEWAY", "COUNTER", "DB_WRITER", "INJECT",
    "MARKET_MONITOR", "NOOP", "OMS", "SEQUENCER", "SOURCES", "TICKER_PLANT", "VENUE_GATEWAY",
    "VENUE_SIM",
    "Source", "adhoc", "allowed_outputs", "bench", "inject_file", "is_inject_file", "name",
    "publisher",
    "runtime_alerts",
]
