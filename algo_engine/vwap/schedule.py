"""VWAP's arithmetic: where the order should be by a time, and when it next decides.

Pure functions and one small model, no I/O and no clock: the strategy feeds them
stream time and the day's trades, so a replay makes the same decisions.

The day is 392 buckets: the opening auction (0), the 390 minutes of the regular
session (1 to 390, 09:30 to 15:59) and the closing auction (391). A volume curve
from the ref data gives each bucket's expected share of the day's volume.

- `Window`: the buckets an order may trade in, from its start and end times and
  whether it takes part in the auctions.
- `VolumeModel`: the day's volume expected so far and from here, revised as the
  real volume arrives. The day's total is a blend of the prior (the symbol's
  average daily volume) and what the volume so far implies: (observed + k *
  prior) / (expected share so far + k), with k the prior's weight in days
  (0.1 by default: the day's own volume soon dominates). A day running light so
  far is expected to make up part of it later: the level moves `floor_weight`
  (half) of the way up to what would keep the whole day at the prior. On the
  recorded days (AIG, BAC, IBM, 2013-10-07 to 09) this took the worst schedule
  error, an afternoon-heavy AIG on 2013-10-08, from 19 to 14 bps and the mean
  from 4.1 to 3.8 bps (schedule alone, followed minute by minute). The shape of
  what is left stays the curve's.
- `target_done`: catch-up scheduling. The shares the order should have done by
  the end of an interval are its quantity times the share of the window's
  volume expected by then, by the latest prediction (the volume already seen in
  the window counted as it was, the rest predicted). An interval's shares are
  that target less what is done, so a shortfall is made up and a lead is not
  repeated; it is never a fresh proportion of what remains.
- `intervals`: the decision times. An interval is longer in the morning than
  towards the close (from `open_minutes` down to `close_minutes`, linearly over
  the session), jittered by a seeded random draw so that the order's rhythm is
  not predictable from outside; the seed is the day's, mixed with the order id.
- `scheduled_qty`: a need-not-complete order is capped at a participation of the
  window's expected volume, so that it does not chase volume that is not there.
"""

from __future__ import annotations

import hashlib
import random  # determinism: allowed, seeded from the day's seed and the order id
from collections.abc import Sequence
from dataclasses import dataclass

OPEN_AUCTION = 0
CLOSE_AUCTION = 391
BUCKETS = 392
SESSION_MINUTES = 390


def bucket_of_minute(minute: int) -> int:
    """The bucket of minute `minute` of the regular session (0 is 09:30)."""
    if not 0 <= minute < SESSION_MINUTES:
        raise ValueError(f"minute {minute} is outside the regular session (0 to 389)")
    return minute + 1


def expected_shares(minute_shares: Sequence[float], open_auction: float,
                    close_auction: float) -> tuple[float, ...]:
    """A curve's 392 bucket shares (a `refdata.model.VolumeCurve`'s fields)."""
    if len(minute_shares) != SESSION_MINUTES:
        raise ValueError(f"a curve has {SESSION_MINUTES} minutes, not {len(minute_shares)}")
    return (open_auction, *minute_shares, close_auction)


@dataclass(frozen=True)
class Window:
    """The buckets [first, end) an order trades in."""

    first: int
    end: int

    @classmethod
    def of(cls, start_minute: int, end_minute: int, open_auction: bool = False,
           close_auction: bool = False) -> Window:
        """From session minutes [start_minute, end_minute) (0 is 09:30, 390 the close);
        the auctions are included only where the window reaches them."""
        if not 0 <= start_minute < end_minute <= SESSION_MINUTES:
            raise ValueError(f"a window needs 0 <= start < end <= {SESSION_MINUTES} minutes, "
                             f"got {start_minute} to {end_minute}")
        first = OPEN_AUCTION if open_auction and start_minute == 0 else start_minute + 1
        end = CLOSE_AUCTION + 1 if close_auction and end_minute == SESSION_MINUTES else (
            end_minute + 1)
        return cls(first, end)

    def __contains__(self, bucket: int) -> bool:
        return self.first <= bucket < self.end


class VolumeModel:
    """The day's volume, expected and seen, bucket by bucket."""

    def __init__(self, shares: Sequence[float], prior_total: float,
                 prior_weight_days: float = 0.1, floor_weight: float = 0.5) -> None:
        if len(shares) != BUCKETS:
            raise ValueError(f"expected {BUCKETS} bucket shares, got {len(shares)}")
        if prior_total <= 0 or prior_weight_days <= 0:
            raise ValueError("the prior volume and its weight must be positive")
        total = sum(shares)
        self.shares = tuple(s / total for s in shares)
        self.prior_total = prior_total
        self.k = prior_weight_days
        self.floor_weight = floor_weight
        self.seen = [0] * BUCKETS
        # cumulative expected share before each bucket, for O(1) sums
        self._cum = [0.0]
        for s in self.shares:
            self._cum.append(self._cum[-1] + s)

    def observe(self, bucket: int, qty: int) -> None:
        """Real volume traded in `bucket` (the market's, from the trades on the stream)."""
        self.seen[bucket] += qty

    def expected_share(self, first: int, end: int) -> float:
        """The curve's share of the day in buckets [first, end)."""
        return self._cum[max(end, first)] - self._cum[first]

    def predicted_total(self, now: int) -> float:
        """The day's total volume, predicted with everything seen before bucket `now`."""
        done = self._cum[now]
        seen = sum(self.seen[:now])
        level = (seen + self.k * self.prior_total) / (done + self.k)
        if self.floor_weight and done < 1:
            # a day running light so far is expected to make up part of it later: the
            # level moves `floor_weight` of the way up to what keeps the day at the prior
            floor = (self.prior_total - seen) / (1 - done)
            level += self.floor_weight * max(0.0, floor - level)
        return level

    def window_volume(self, window: Window, now: int, upto: int) -> float:
        """The window's volume in buckets [window.first, upto): seen before `now`,
        predicted from `now` on."""
        upto = min(max(upto, window.first), window.end)
        past_end = min(max(now, window.first), upto)
        seen = sum(self.seen[window.first:past_end])
        ahead = self.predicted_total(now) * self.expected_share(past_end, upto)
        return seen + ahead


def excluded_volume(model: VolumeModel, window: Window, now: int, upto: int,
                    excluded: Sequence[int]) -> float:
    """The volume of the `excluded` buckets inside [window.first, upto): seen before
    `now`, predicted from `now` on."""
    total = 0.0
    predicted = 0.0
    for b in excluded:
        if window.first <= b < min(upto, window.end):
            if b < now:
                total += model.seen[b]
            else:
                if not predicted:
                    predicted = model.predicted_total(now)
                total += predicted * model.shares[b]
    return total


def target_done(qty: int, window: Window, model: VolumeModel, now: int, upto: int,
                excluded: Sequence[int] = ()) -> int:
    """Shares the order should have done by the start of bucket `upto`, by the latest
    prediction made at bucket `now` (rounded down; the whole quantity at the window's end).
    Buckets in `excluded` (the market spent them beyond the order's limit) count for
    nothing: the order's shares are spread over the volume it can trade."""
    if upto >= window.end:
        return qty
    whole = model.window_volume(window, now, window.end) - excluded_volume(
        model, window, now, window.end, excluded)
    if whole <= 0:
        return 0
    part = model.window_volume(window, now, upto) - excluded_volume(
        model, window, now, upto, excluded)
    # (a hair over, so that an exact share computed in floating point is not rounded
    # a share down)
    return min(qty, max(0, int(qty * part / whole + 1e-9)))


def interval_shares(qty: int, done: int, window: Window, model: VolumeModel, now: int,
                    upto: int) -> int:
    """Catch-up: what the interval [now, upto) must do to be on schedule at its end."""
    return max(0, target_done(qty, window, model, now, upto) - done)


def scheduled_qty(qty: int, must_complete: bool, window: Window, model: VolumeModel,
                  now: int, max_participation: float) -> int:
    """The shares to schedule: all of them for a must-complete order; otherwise no more
    than `max_participation` of the window's expected volume (the information
    leakage cap), measured from `now` with what is known then."""
    if must_complete:
        return qty
    if not 0 < max_participation <= 1:
        raise ValueError(f"a participation cap is above 0 and at most 1, not {max_participation}")
    cap = int(max_participation * model.window_volume(window, now, window.end))
    return min(qty, cap)


def order_rng(day_seed: int, order_id: str) -> random.Random:
    """The order's own seeded generator: the day's seed mixed with its id (a stable
    digest, not Python's salted `hash`)."""
    digest = hashlib.sha256(f"{day_seed}:{order_id}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def intervals(window: Window, rng: random.Random, open_minutes: float = 10.0,
              close_minutes: float = 3.0, jitter: float = 0.3) -> list[int]:
    """The buckets where the order's intervals start, from `window.first`, ending with
    `window.end`. Auction buckets are intervals of their own; a continuous interval
    lasts from `open_minutes` (at 09:30) down to `close_minutes` (at 16:00), times a
    uniform draw in [1 - jitter, 1 + jitter], and at least one minute."""
    if not 0 <= jitter < 1 or open_minutes < 1 or close_minutes < 1:
        raise ValueError("interval lengths are at least a minute and the jitter below 1")
    out = [window.first]
    b = window.first
    while b < window.end:
        if b in (OPEN_AUCTION, CLOSE_AUCTION):
            b += 1
        else:
            minute = b - 1
            base = open_minutes + (close_minutes - open_minutes) * minute / SESSION_MINUTES
            length = max(1, round(base * rng.uniform(1 - jitter, 1 + jitter)))
            b = min(b + length, CLOSE_AUCTION if window.end > CLOSE_AUCTION else window.end)
        out.append(min(b, window.end))
    return out
