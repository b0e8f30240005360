"""The market monitor on crafted streams: stale quotes, crossed markets, parameters,
snapshot/restore, and determinism of its outputs."""

from __future__ import annotations

import datetime as dt

from marketdata.clock import local_midnight_ns
from marketdata.monitor import MarketMonitor
from sequencer import sources
from sequencer.kit import StreamKit
from sequencer.messages import Message
from sequencer.messages.admin import SetParameter
from sequencer.messages.control import Alert
from sequencer.messages.marketdata import MarketSnapshot, Quote
from tests.marketdata.refdata_fixture import make_refdata

DAY = dt.date(2013, 10, 8)
MIDNIGHT = local_midnight_ns(DAY, "America/New_York")
S = 1_000_000_000
OPEN = MIDNIGHT + (9 * 3600 + 1800) * S


class Stream(StreamKit):
    """The market monitor on the stream kit; `feed` sequences a message at stream time
    `ts` (from the ticker plant unless told)."""

    def __init__(self, with_refdata: bool = True) -> None:
        super().__init__([MarketMonitor()], refdata=make_refdata() if with_refdata else None)
        self.engine = self.engine_of("market_monitor")

    def feed(self, msg: Message, ts: int, source: int = sources.TICKER_PLANT) -> None:
        self.send(msg, source, at_ns=ts)

    def open_day(self) -> None:
        self.start(DAY, seed=1, config_digest="x", at_ns=MIDNIGHT)

    def alerts(self) -> list[Alert]:
        return self.of_type(Alert)

    def codes(self) -> list[str]:
        return [a.code for a in self.alerts()]

    def records(self) -> list[bytes]:
        """The monitor's outputs as the stream holds them (their input records)."""
        return [f[32:] for f in self.frames_of(sources.MARKET_MONITOR)]


def quote(sid: int, venue: str, bid: int, ask: int, t: int) -> Quote:
    return Quote(sid, venue, bid, 100, ask, 100, t, "R")


def test_a_symbol_that_stops_quoting_in_regular_hours_raises_one_stale_alert() -> None:
    s = Stream()
    s.open_day()
    s.feed(SetParameter("market_monitor", "stale_after_ms", "5000"), OPEN)
    s.feed(quote(3, "XNYS", 1_800_000, 1_801_000, OPEN + S), OPEN + S)
    for k in range(2, 13):  # another symbol keeps the clock moving, IBM is silent
        s.feed(quote(1, "XNYS", 480_000, 481_000, OPEN + k * S), OPEN + k * S)
    stale = [a for a in s.alerts() if a.code == "stale_quote"]
    assert len(stale) == 1
    assert "IBM (id 3)" in stale[0].text and stale[0].severity == "warning"
    # It quotes again: resumed, and a later silence alerts again.
    s.feed(quote(3, "XNYS", 1_800_000, 1_801_000, OPEN + 13 * S), OPEN + 13 * S)
    assert s.codes()[-1] == "quote_resumed"
    for k in range(14, 25):
        s.feed(quote(1, "XNYS", 480_000, 481_000, OPEN + k * S), OPEN + k * S)
    assert s.codes().count("stale_quote") == 2


def test_no_stale_alert_outside_regular_hours_or_while_quoting() -> None:
    s = Stream()
    s.open_day()
    s.feed(SetParameter("market_monitor", "stale_after_ms", "2000"), MIDNIGHT)
    pre = OPEN - 600 * S
    s.feed(quote(3, "XNYS", 1_800_000, 1_801_000, pre), pre)
    for k in range(1, 300):  # ten minutes before the open, IBM silent
        s.feed(quote(1, "XNYS", 480_000, 481_000, pre + k * S), pre + k * S)
    assert "stale_quote" not in s.codes()
    for k in range(0, 20):  # in hours, both quoting every second
        t = OPEN + k * S
        s.feed(quote(3, "XNYS", 1_800_000, 1_801_000, t), t)
        s.feed(quote(1, "XNYS", 480_000, 481_000, t), t)
    assert "stale_quote" not in s.codes()


def test_a_crossed_nbbo_raises_one_alert_per_crossing_and_locked_is_only_counted() -> None:
    s = Stream()
    s.open_day()
    t = OPEN + S
    s.feed(quote(1, "XNYS", 480_000, 481_000, t), t)
    s.feed(quote(1, "ARCX", 481_000, 482_000, t), t)  # locked: N's ask = P's bid
    assert s.codes() == []
    s.feed(quote(1, "ARCX", 481_500, 482_000, t), t)  # crossed
    s.feed(quote(1, "ARCX", 481_600, 482_000, t), t)  # still crossed: no second alert
    assert s.codes() == ["crossed"]
    text = s.alerts()[0].text
    assert "AIG (id 1)" in text and "48.15 (ARCX)" in text and "48.10 (XNYS)" in text
    s.feed(quote(1, "ARCX", 479_000, 482_000, t), t)  # uncrossed
    s.feed(quote(1, "XNAS", 481_200, 481_300, t), t)  # crossed again
    assert s.codes() == ["crossed", "crossed"]
    d = s.engine.app.describe()["symbols"][1]
    assert d["crossed_events"] == 2 and d["locked_events"] == 1


def test_a_snapshot_resets_the_symbol_from_its_quotes() -> None:
    s = Stream()
    s.open_day()
    t = OPEN + S
    s.feed(quote(1, "XNYS", 480_000, 481_000, t), t)
    snap = MarketSnapshot(1, (quote(1, "BATS", 470_000, 471_000, t),), (), "trading")
    s.feed(snap, t)
    assert s.engine.app.describe()["symbols"][1]["nbbo"] == (470_000, 100, 471_000, 100)


def test_bad_parameters_are_reported_not_applied() -> None:
    s = Stream()
    s.open_day()
    s.feed(SetParameter("market_monitor", "stale_after_ms", "soon"), OPEN)
    s.feed(SetParameter("market_monitor", "colour", "red"), OPEN)
    s.feed(SetParameter("someone_else", "stale_after_ms", "1"), OPEN)
    assert s.codes() == ["bad_parameter", "bad_parameter"]
    assert s.engine.app.state.stale_after_ms == 30_000


def test_snapshot_and_restore_give_the_same_future() -> None:
    def feed(s: Stream, ks: range) -> None:
        for k in ks:
            t = OPEN + k * S
            s.feed(quote(1, "XNYS", 480_000 + 100 * (k % 7), 481_000, t), t)
            if k % 5 == 0:
                s.feed(quote(1, "ARCX", 481_500, 482_000, t), t)
                s.feed(quote(1, "ARCX", 470_000, 482_000, t), t)

    a = Stream()
    a.open_day()
    feed(a, range(0, 40))
    data = a.engine.snapshot()
    b = Stream()
    b.engine.restore(data)
    b.seq = a.seq
    feed(a, range(40, 80))
    feed(b, range(40, 80))
    assert a.engine.state_hash() == b.engine.state_hash()
    assert b.records() and a.records()[-len(b.records()):] == b.records()
