"""The container's market book: a late subscription's volume so far, spread by the curve."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from algo_engine.market import BUCKETS, CLOSE_BUCKET, MINUTE_NS, Book

OPEN = 1_000 * MINUTE_NS
CLOSE = OPEN + 390 * MINUTE_NS
FLAT = [1.0] * BUCKETS


def book() -> Book:
    return Book(1, OPEN, CLOSE)


def test_the_volume_before_a_late_subscription_is_spread_by_the_curve() -> None:
    b = book()
    shares = [0.0] * BUCKETS
    shares[0], shares[1], shares[2], shares[3] = 2.0, 1.0, 1.0, 4.0
    # 10:32:30 (bucket 3, half gone): weights 2, 1, 1 and half of 4
    b.spread_before(6_000, OPEN + 2 * MINUTE_NS + 30 * 10**9, shares)
    assert b.buckets[:5] == [2_000, 1_000, 1_000, 2_000, 0]
    assert b.volume == 6_000 and b.opened


def test_nothing_is_spread_before_the_open_or_without_volume() -> None:
    b = book()
    b.spread_before(5_000, OPEN - MINUTE_NS, FLAT)
    b.spread_before(0, OPEN + 60 * MINUTE_NS, FLAT)
    assert sum(b.buckets) == 0 and b.volume == 0 and not b.opened


def test_after_the_close_the_closing_auction_is_not_counted_as_gone() -> None:
    b = book()
    b.spread_before(392_000, CLOSE + MINUTE_NS, FLAT)
    assert b.buckets[CLOSE_BUCKET] == 0 and sum(b.buckets) == 392_000


@given(volume=st.integers(1, 10**9), minute=st.integers(0, 400),
       shares=st.lists(st.floats(0.0, 1.0), min_size=BUCKETS, max_size=BUCKETS))
def test_the_spread_adds_up_to_the_volume_exactly(volume: int, minute: int,
                                                   shares: list[float]) -> None:
    b = book()
    now = OPEN + minute * MINUTE_NS + 7 * 10**9
    b.spread_before(volume, now, shares)
    gone = b.bucket_at(now)
    assert all(v >= 0 for v in b.buckets) and all(v == 0 for v in b.buckets[gone + 1:])
    assert sum(b.buckets) == (volume if b.volume else 0)
