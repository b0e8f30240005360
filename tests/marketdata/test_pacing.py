"""`tape marketdata run --max-seconds N` at a paced speed stops within about a second of
N, however sparse the data: the limit is checked while the plant waits for a row's
time, not only between chunks of 512 rows (a paced run once ran 619 s of a 20 s
limit).

The plant runs on a fake clock (its `time` module replaced: `sleep` moves the clock),
so what is checked is the clock the plant saw when it stopped and the rows it had let
out by then, not how long the test took.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from marketdata import service
from marketdata.clock import local_midnight_ns
from marketdata.csvfeed import read_csv_feed
from marketdata.service import TickerPlant
from tests.marketdata.refdata_fixture import make_refdata

DAY = dt.date(2013, 10, 8)
SAMPLE = Path(__file__).parents[2] / "marketdata" / "samples" / "user_feed.csv"


class FakeClock:
    """What the plant reads of `time`; sleeping advances it."""

    def __init__(self) -> None:
        self.ns = 5_000_000_000_000

    def perf_counter_ns(self) -> int:
        return self.ns

    def monotonic(self) -> float:
        return self.ns / 1e9

    def time_ns(self) -> int:
        return self.ns

    def sleep(self, seconds: float) -> None:
        self.ns += max(1, int(seconds * 1e9))


class Publisher:
    def __init__(self) -> None:
        self.records = 0

    def add(self, *_: Any) -> None:
        self.records += 1

    def flush(self) -> None:
        pass


def pump(speed: float | None, max_seconds: float, monkeypatch: pytest.MonkeyPatch
         ) -> tuple[TickerPlant, float, list[int]]:
    """The plant's feeding loop over the sample CSV feed (no stream: the publisher is a
    stand-in, subscriptions are not followed). Returns the plant, the clock's seconds
    when it stopped, and the feed's row times."""
    clock = FakeClock()
    monkeypatch.setattr(service, "time", clock)
    feed = read_csv_feed(SAMPLE, day=DAY)
    plant = TickerPlant(Path("unused"), feed, make_refdata(),
                        local_midnight_ns(DAY, "America/New_York"), speed=speed)
    plant._pub = Publisher()  # type: ignore[assignment]  # the two methods the loop calls
    monkeypatch.setattr(plant, "_follow", lambda: None)
    t0 = clock.monotonic()
    plant._pump(t0, max_seconds)
    return plant, clock.monotonic() - t0, [int(t) for t in feed.t_ns]


@pytest.mark.parametrize("speed", [1.0, 10.0], ids=["real", "10x"])
def test_a_paced_run_stops_at_its_time_limit(speed: float,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    plant, elapsed, times = pump(speed, 2.0, monkeypatch)
    span_s = (times[-1] - times[0]) / 1e9
    assert span_s / speed > 4  # the feed would take longer than the limit at this pace
    assert len(times) < 512  # one chunk: the old check between chunks never came
    assert plant._stopped_by == "time_limit"
    assert 2.0 <= elapsed <= 2.0 + 0.1  # the clock the plant saw: within a sleep step
    fed = plant.core.counters.rows
    assert 0 < fed < len(times)
    # What went out was due by then; what was not due stayed in.
    assert (times[fed - 1] - times[0]) / 1e9 <= 2.0 * speed + 0.001
    assert (times[fed] - times[0]) / 1e9 > 2.0 * speed - 0.051 * speed


def test_an_unlimited_paced_run_feeds_every_row(monkeypatch: pytest.MonkeyPatch) -> None:
    plant, elapsed, times = pump(10.0, 1e9, monkeypatch)
    assert plant._stopped_by == "end_of_feed"
    assert plant.core.counters.rows == len(times)
    assert elapsed >= (times[-1] - times[0]) / 1e9 / 10.0


def test_a_fast_run_is_not_paced(monkeypatch: pytest.MonkeyPatch) -> None:
    plant, elapsed, times = pump(None, 2.0, monkeypatch)
    assert plant._stopped_by == "end_of_feed"
    assert plant.core.counters.rows == len(times)
    assert elapsed == 0  # it never slept
