"""The market monitor on crafted streams: stale quotes, crossed markets, parameters,
snapshot/restore, and determinism of its outputs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from marketdata.clock import local_midnight_ns
from marketdata.monitor import MarketMonitor
from sequencer.frames import encode_frame
from sequencer.messages import TYPE_ID, Message, decode, encode
from sequencer.messages.admin import SetParameter
from sequencer.messages.control import Alert, SystemStart
from sequencer.messages.marketdata import MarketSnapshot, Quote
from sequencer.runtime.context import Output
from sequencer.runtime.engine import AppEngine
from tests.marketdata.refdata_fixture import make_refdata

DAY = dt.date(2013, 10, 8)
MIDNIGHT = local_midnight_ns(DAY, "America/New_York")
S = 1_000_000_000
OPEN = MIDNIGHT + (9 * 3600 + 1800) * S


class Stream:
    """Frames for one engine, numbered and timed as a sequencer would."""

    def __init__(self, with_refdata: bool = True) -> None:
        self.outs: list[Output] = []
        rd = make_refdata() if with_refdata else None
        self.engine = AppEngine(MarketMonitor(), self.outs.append,
                                refdata_loader=(lambda _d: rd) if rd is not None else None)
        self.seq = 0

    def send(self, msg: Message, ts: int, source: int = 30) -> None:
        self.seq += 1
        self.engine.handle(encode_frame(self.seq, ts, source, TYPE_ID[type(msg)], self.seq,
                                        encode(msg)))

    def start(self) -> None:
        self.send(SystemStart(session_date=DAY, seed=1, config_digest="x", time_mode="sim",
                              refdata_digest="test-digest"), MIDNIGHT, source=0)

    def alerts(self) -> list[Alert]:
        msgs = [decode(o.type_id, o.payload) for o in self.outs]
        return [m for m in msgs if isinstance(m, Alert)]

    def codes(self) -> list[str]:
        return [a.code for a in self.alerts()]


def quote(sid: int, venue: str, bid: int, ask: int, t: int) -> Quote:
    return Quote(sid, venue, bid, 100, ask, 100, t, "R")


def test_a_symbol_that_stops_quoting_in_regular_hours_raises_one_stale_alert() -> None:
    s = Stream()
    s.start()
    s.send(SetParameter("market_monitor", "stale_after_ms", "5000"), OPEN)
    s.send(quote(3, "XNYS", 1_800_000, 1_801_000, OPEN + S), OPEN + S)
    for k in range(2, 13):  # another symbol keeps the clock moving, IBM is silent
        s.send(quote(1, "XNYS", 480_000, 481_000, OPEN + k * S), OPEN + k * S)
    stale = [a for a in s.alerts() if a.code == "stale_quote"]
    assert len(stale) == 1
    assert "IBM (id 3)" in stale[0].text and stale[0].severity == "warning"
    # It quotes again: resumed, and a later silence alerts again.
    s.send(quote(3, "XNYS", 1_800_000, 1_801_000, OPEN + 13 * S), OPEN + 13 * S)
    assert s.codes()[-1] == "quote_resumed"
    for k in range(14, 25):
        s.send(quote(1, "XNYS", 480_000, 481_000, OPEN + k * S), OPEN + k * S)
    assert s.codes().count("stale_quote") == 2


def test_no_stale_alert_outside_regular_hours_or_while_quoting() -> None:
    s = Stream()
    s.start()
    s.send(SetParameter("market_monitor", "stale_after_ms", "2000"), MIDNIGHT)
    pre = OPEN - 600 * S
    s.send(quote(3, "XNYS", 1_800_000, 1_801_000, pre), pre)
    for k in range(1, 300):  # ten minutes before the open, IBM silent
        s.send(quote(1, "XNYS", 480_000, 481_000, pre + k * S), pre + k * S)
    assert "stale_quote" not in s.codes()
    for k in range(0, 20):  # in hours, both quoting every second
        t = OPEN + k * S
        s.send(quote(3, "XNYS", 1_800_000, 1_801_000, t), t)
        s.send(quote(1, "XNYS", 480_000, 481_000, t), t)
    assert "stale_quote" not in s.codes()


def test_a_crossed_nbbo_raises_one_alert_per_crossing_and_locked_is_only_counted() -> None:
    s = Stream()
    s.start()
    t = OPEN + S
    s.send(quote(1, "XNYS", 480_000, 481_000, t), t)
    s.send(quote(1, "ARCX", 481_000, 482_000, t), t)  # locked: N's ask = P's bid
    assert s.codes() == []
    s.send(quote(1, "ARCX", 481_500, 482_000, t), t)  # crossed
    s.send(quote(1, "ARCX", 481_600, 482_000, t), t)  # still crossed: no second alert
    assert s.codes() == ["crossed"]
    text = s.alerts()[0].text
    assert "AIG (id 1)" in text and "48.15 (ARCX)" in text and "48.10 (XNYS)" in text
    s.send(quote(1, "ARCX", 479_000, 482_000, t), t)  # uncrossed
    s.send(quote(1, "XNAS", 481_200, 481_300, t), t)  # crossed again
    assert s.codes() == ["crossed", "crossed"]
    d = s.engine.app.describe()["symbols"][1]
    assert d["crossed_events"] == 2 and d["locked_events"] == 1


def test_a_snapshot_resets_the_symbol_from_its_quotes() -> None:
    s = Stream()
    s.start()
    t = OPEN + S
    s.send(quote(1, "XNYS", 480_000, 481_000, t), t)
    snap = MarketSnapshot(1, (quote(1, "BATS", 470_000, 471_000, t),), (), "trading")
    s.send(snap, t)
    assert s.engine.app.describe()["symbols"][1]["nbbo"] == (470_000, 100, 471_000, 100)


def test_bad_parameters_are_reported_not_applied() -> None:
    s = Stream()
    s.start()
    s.send(SetParameter("market_monitor", "stale_after_ms", "soon"), OPEN)
    s.send(SetParameter("market_monitor", "colour", "red"), OPEN)
    s.send(SetParameter("someone_else", "stale_after_ms", "1"), OPEN)
    assert s.codes() == ["bad_parameter", "bad_parameter"]
    assert s.engine.app.state.stale_after_ms == 30_000


def test_snapshot_and_restore_give_the_same_future() -> None:
    def feed(s: Stream, ks: range) -> None:
        for k in ks:
            t = OPEN + k * S
            s.send(quote(1, "XNYS", 480_000 + 100 * (k % 7), 481_000, t), t)
            if k % 5 == 0:
                s.send(quote(1, "ARCX", 481_500, 482_000, t), t)
                s.send(quote(1, "ARCX", 470_000, 482_000, t), t)

    a = Stream()
    a.start()
    feed(a, range(0, 40))
    data = a.engine.snapshot()
    b = Stream()
    b.engine.restore(data)
    b.seq = a.seq
    feed(a, range(40, 80))
    feed(b, range(40, 80))
    assert a.engine.state_hash() == b.engine.state_hash()
    tail: Any = [o.comparable() for o in a.outs][-len(b.outs):]
    assert tail == [o.comparable() for o in b.outs]
