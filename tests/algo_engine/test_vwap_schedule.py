"""VWAP's schedule arithmetic against hand-computed cases."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from algo_engine.vwap.schedule import (
    BUCKETS,
    CLOSE_AUCTION,
    OPEN_AUCTION,
    VolumeModel,
    Window,
    bucket_of_minute,
    expected_shares,
    interval_shares,
    intervals,
    order_rng,
    scheduled_qty,
    target_done,
)

# A flat session: each minute 1/400 of the day, 5/400 in each auction.
FLAT = expected_shares([1 / 400] * 390, 5 / 400, 5 / 400)


def model(prior: float = 400_000.0, as_expected_until: int = 0) -> VolumeModel:
    """A model of a 400,000-share day whose buckets before `as_expected_until` traded
    exactly what the curve expects (1,000 a minute, 5,000 in the open)."""
    m = VolumeModel(FLAT, prior, prior_weight_days=0.25, floor_weight=0.0)
    for b in range(as_expected_until):
        m.observe(b, round(FLAT[b] * 400_000))
    return m


def test_windows_map_minutes_and_auctions_to_buckets() -> None:
    assert Window.of(30, 90) == Window(31, 91)  # 10:00 to 11:00
    assert Window.of(0, 390, open_auction=True, close_auction=True) == Window(0, 392)
    assert Window.of(0, 390) == Window(1, 391)
    assert Window.of(10, 390, open_auction=True) == Window(11, 391)  # the open is past
    assert bucket_of_minute(0) == 1 and bucket_of_minute(389) == 390
    with pytest.raises(ValueError, match="0 <= start < end"):
        Window.of(90, 30)
    with pytest.raises(ValueError, match="outside the regular session"):
        bucket_of_minute(390)


def test_target_on_a_flat_curve_is_the_share_of_the_window_elapsed() -> None:
    w = Window.of(30, 90)  # sixty minutes
    m = model(as_expected_until=31)
    # At 10:00 (bucket 31), on a day as expected: half the window's volume by 10:30.
    assert target_done(6000, w, m, now=31, upto=61) == 3000
    assert target_done(6000, w, m, now=31, upto=31) == 0
    assert target_done(6000, w, m, now=31, upto=91) == 6000
    assert target_done(6000, w, m, now=31, upto=46) == 1500


def test_catch_up_makes_up_a_shortfall_and_does_not_repeat_a_lead() -> None:
    w = Window.of(30, 90)
    m = model(as_expected_until=61)
    # At 10:30, on a day as expected: by 10:45 the target is 4,500.
    assert interval_shares(6000, 2000, w, m, now=61, upto=76) == 2500  # 1,000 behind
    assert interval_shares(6000, 3000, w, m, now=61, upto=76) == 1500  # on schedule
    assert interval_shares(6000, 5000, w, m, now=61, upto=76) == 0  # ahead: wait
    # Not a fresh proportion of what remains: (6000-2000)/2 would be 2,000.


def test_the_volume_model_blends_the_prior_with_what_the_day_shows() -> None:
    m = model(prior=400_000.0)
    assert m.predicted_total(0) == pytest.approx(400_000.0)  # nothing known: the prior
    # An open auction that traded nothing lowers the day's expectation.
    assert m.predicted_total(1) == pytest.approx(400_000.0 * 0.25 / (5 / 400 + 0.25))
    # The first hour traded twice what the curve expected of a 400,000 day.
    m.observe(OPEN_AUCTION, 10_000)
    for b in range(1, 61):
        m.observe(b, 2_000)
    done = 65 / 400
    seen = 10_000 + 120_000
    assert m.predicted_total(61) == pytest.approx((seen + 0.25 * 400_000) / (done + 0.25))
    assert m.predicted_total(61) > 400_000
    # The window's volume counts what was seen, and predicts the rest with the revised total.
    w = Window.of(30, 90)
    assert m.window_volume(w, now=61, upto=91) == pytest.approx(
        30 * 2_000 + m.predicted_total(61) * 30 / 400)


def test_a_light_day_is_expected_to_make_up_half_of_it_towards_the_prior() -> None:
    light = VolumeModel(FLAT, 400_000.0, prior_weight_days=0.1, floor_weight=0.5)
    for b in range(61):
        light.observe(b, 500)  # half of what the curve expects of a 400,000 day
    done, seen = 65 / 400, 61 * 500
    blend = (seen + 0.1 * 400_000) / (done + 0.1)
    floor = (400_000 - seen) / (1 - done)  # what would keep the whole day at the prior
    assert blend < floor
    assert light.predicted_total(61) == pytest.approx(blend + 0.5 * (floor - blend))
    # a busy day is above the floor: the blend stands
    busy = VolumeModel(FLAT, 400_000.0, prior_weight_days=0.1, floor_weight=0.5)
    for b in range(61):
        busy.observe(b, 4_000)
    assert busy.predicted_total(61) == pytest.approx(
        (61 * 4_000 + 0.1 * 400_000) / (done + 0.1))


def test_a_busier_morning_moves_the_target_forward() -> None:
    w = Window.of(30, 90)
    quiet, busy = model(as_expected_until=31), model(as_expected_until=31)
    for b in range(31, 61):
        quiet.observe(b, 1_000)  # as the curve expects
        busy.observe(b, 3_000)  # three times
    assert target_done(6000, w, busy, now=61, upto=76) > target_done(6000, w, quiet, 61, 76)


def test_need_not_complete_orders_are_capped_at_a_participation_of_expected_volume() -> None:
    w = Window.of(30, 90)
    m = model(as_expected_until=31)
    expected = m.window_volume(w, now=31, upto=91)  # 60 minutes of a 400,000 day: 60,000
    assert expected == pytest.approx(60_000)
    assert scheduled_qty(50_000, False, w, m, now=31, max_participation=0.1) == 6000
    assert scheduled_qty(50_000, True, w, m, now=31, max_participation=0.1) == 50_000
    assert scheduled_qty(3_000, False, w, m, now=31, max_participation=0.1) == 3_000
    with pytest.raises(ValueError, match="participation cap"):
        scheduled_qty(1, False, w, m, now=31, max_participation=0.0)


def test_intervals_cover_the_window_longer_in_the_morning_and_are_seeded() -> None:
    w = Window.of(0, 390, open_auction=True, close_auction=True)
    a = intervals(w, order_rng(7, "20131008-1"))
    assert a == intervals(w, order_rng(7, "20131008-1"))
    assert a != intervals(w, order_rng(7, "20131008-2"))
    assert a[0] == OPEN_AUCTION and a[1] == 1 and a[-1] == BUCKETS
    assert a[-2] == CLOSE_AUCTION  # the close auction is an interval of its own
    lengths = [b - a_ for a_, b in itertools.pairwise(a[1:-1])]
    assert all(n >= 1 for n in lengths)
    morning = lengths[:5]
    afternoon = lengths[-5:]
    assert sum(morning) / 5 > sum(afternoon) / 5


@given(st.integers(0, 389), st.integers(1, 390), st.integers(0, 2**32), st.booleans(),
       st.booleans())
def test_intervals_are_increasing_and_end_at_the_window_end(
        start: int, length: int, seed: int, open_: bool, close: bool) -> None:
    end = min(390, start + length)
    if end <= start:
        return
    w = Window.of(start, end, open_auction=open_, close_auction=close)
    b = intervals(w, order_rng(seed, "x"))
    assert b[0] == w.first and b[-1] == w.end
    assert all(x < y for x, y in itertools.pairwise(b))


@given(st.lists(st.integers(0, 50_000), min_size=60, max_size=60), st.integers(1, 100_000))
def test_targets_never_fall_and_end_at_the_quantity(seen: list[int], qty: int) -> None:
    w = Window.of(30, 90)
    m = model()
    for i, v in enumerate(seen[:30]):
        m.observe(31 + i, v)
    targets = [target_done(qty, w, m, now=61, upto=u) for u in range(61, 92)]
    assert all(x <= y for x, y in itertools.pairwise(targets))
    assert targets[-1] == qty and 0 <= targets[0] <= qty
