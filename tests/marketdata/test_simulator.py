"""The seeded market simulator: deterministic, independent per symbol, and shaped like a day."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from marketdata.feed import QUOTE, TRADE, FeedBatch
from marketdata.nbbo import Nbbo
from marketdata.simulator import (
    CONDITIONS,
    SimSymbol,
    default_curve,
    describe,
    simulate,
)
from refdata.model import SymbolStats, VolumeCurve

DAY = dt.date(2013, 10, 8)
T0 = 1_381_239_000 * 10**9  # 2013-10-08 09:30 New York (EDT) = 13:30 UTC
T1 = T0 + 390 * 60 * 10**9
MINUTE = 60 * 10**9
AIG = SimSymbol("AIG", 48_1900, 2.2, 0.25, 2_000_000, 200)
IBM = SimSymbol("IBM", 179_8700, 3.0, 0.10, 1_000_000, 150)
PENNY = SimSymbol("PNY", 9990, 5.0, 0.6, 400_000, 300)  # straddles $1.00
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def day() -> FeedBatch:
    return simulate(DAY, [AIG, IBM, PENNY], seed=7)


def columns(b: FeedBatch) -> tuple[object, ...]:
    return (b.symbols, b.exchanges, b.conditions, b.kind.tobytes(), b.t_ns.tobytes(),
            b.symbol.tobytes(), b.exchange.tobytes(), b.price.tobytes(), b.size.tobytes(),
            b.ask_px.tobytes(), b.ask_size.tobytes(), b.condition.tobytes(),
            b.suspicious.tobytes(), b.line.tobytes(), b.one_sided)


def rows_of(b: FeedBatch, name: str) -> FeedBatch:
    return b.select(b.symbol == b.symbols.index(name))


def symbol_columns(b: FeedBatch, name: str) -> tuple[bytes, ...]:
    """A symbol's rows, every column but the symbol code (which depends on the table)."""
    s = rows_of(b, name)
    return tuple(c.tobytes() for c in (s.kind, s.t_ns, s.exchange, s.price, s.size, s.ask_px,
                                       s.ask_size, s.condition))


def test_same_seed_same_bytes_and_another_seed_differs(day: FeedBatch) -> None:
    again = simulate(DAY, [AIG, IBM, PENNY], seed=7)
    assert columns(again) == columns(day)
    other = simulate(DAY, [AIG, IBM, PENNY], seed=8)
    assert len(other) != len(day) or not np.array_equal(other.price, day.price)
    assert not np.array_equal(rows_of(other, "AIG").t_ns[:100], rows_of(day, "AIG").t_ns[:100])
    # and the same seed on another day is another day's data
    assert symbol_columns(simulate(dt.date(2013, 10, 9), [AIG], seed=7), "AIG") != \
        symbol_columns(day, "AIG")


def test_a_symbol_does_not_depend_on_the_others(day: FeedBatch) -> None:
    alone = simulate(DAY, [AIG], seed=7)
    reordered = simulate(DAY, [PENNY, AIG], seed=7)
    assert symbol_columns(alone, "AIG") == symbol_columns(day, "AIG")
    assert symbol_columns(reordered, "AIG") == symbol_columns(day, "AIG")
    assert symbol_columns(reordered, "PNY") == symbol_columns(day, "PNY")
    assert reordered.symbols == ("PNY", "AIG")


def test_quote_density_leaves_the_trades_alone(day: FeedBatch) -> None:
    busy = SimSymbol(**{**AIG.__dict__, "quotes_per_trade": 10.0})
    got = rows_of(simulate(DAY, [busy], seed=7), "AIG")
    base = rows_of(day, "AIG")
    gt, bt = got.select(got.kind == TRADE), base.select(base.kind == TRADE)
    assert got.quote_rows - base.quote_rows > 4 * len(bt)  # 6 more per trade, a few dropped
    assert np.array_equal(gt.t_ns, bt.t_ns) and np.array_equal(gt.price, bt.price)
    assert np.array_equal(gt.size, bt.size)


def test_determinism_does_not_depend_on_the_hash_seed(day: FeedBatch) -> None:
    script = (
        "import datetime as dt, hashlib\n"
        "from marketdata.simulator import SimSymbol, simulate\n"
        f"b = simulate(dt.date(2013, 10, 8), [{AIG!r}, {IBM!r}, {PENNY!r}], seed=7)\n"
        "h = hashlib.sha256(repr((b.symbols, b.exchanges, b.conditions)).encode())\n"
        "for c in (b.kind, b.t_ns, b.symbol, b.exchange, b.price, b.size, b.ask_px,\n"
        "          b.ask_size, b.condition, b.suspicious, b.line):\n"
        "    h.update(c.tobytes())\n"
        "print(h.hexdigest())\n"
    )
    here = hashlib.sha256(repr((day.symbols, day.exchanges, day.conditions)).encode())
    for c in (day.kind, day.t_ns, day.symbol, day.exchange, day.price, day.size, day.ask_px,
              day.ask_size, day.condition, day.suspicious, day.line):
        here.update(c.tobytes())
    digests = set()
    for hash_seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(REPO)}
        out = subprocess.run([sys.executable, "-c", script], env=env, cwd=REPO,
                             capture_output=True, text=True, check=True)
        digests.add(out.stdout.strip())
    assert digests == {here.hexdigest()}


def test_times_sorted_and_inside_the_session(day: FeedBatch) -> None:
    assert np.all(np.diff(day.t_ns) >= 0)
    assert day.t_ns[0] == T0 and day.t_ns[-1] == T1
    at_end = day.t_ns == T1
    assert np.all(day.kind[at_end] == TRADE)
    assert {day.conditions[c] for c in day.condition[at_end]} == {"80"}
    assert not day.one_sided and not day.suspicious.any() and not day.line.any()
    assert day.bad == [] and day.files == []


def test_quotes_two_sided_and_never_crossed_at_one_exchange(day: FeedBatch) -> None:
    q = day.select(day.kind == QUOTE)
    assert len(q) > 10_000
    assert np.all(q.price < q.ask_px)
    assert np.all(q.price > 0)
    assert np.all((q.size > 0) & (q.ask_size > 0))
    assert np.all(q.size % 100 == 0) and np.all(q.ask_size % 100 == 0)
    assert all(s.crossed_rows == 0 for s in describe(day))


def test_prices_on_the_tick_grid(day: FeedBatch) -> None:
    px = np.concatenate([day.price, day.ask_px[day.kind == QUOTE]])
    assert np.all(px > 0)
    assert np.all(px[px >= 10_000] % 100 == 0)  # whole cents from $1.00
    penny = rows_of(day, "PNY")
    # the $1.00 boundary is really exercised: sub-penny prices below it, cents above
    assert (penny.price < 10_000).any() and (penny.price >= 10_000).any()
    assert (penny.price[penny.price < 10_000] % 100 != 0).any()


def test_nbbo_is_rarely_locked_and_spreads_follow_the_target() -> None:
    b = simulate(DAY, [AIG, IBM], seed=11)
    for name, ticks in (("AIG", 1.0), ("IBM", 3.0e-4 * 179.87 / 0.01)):
        s = rows_of(b, name)
        book = Nbbo()
        n = bad = 0
        spreads = []
        for kind, _t, _s, ex, px, sz, apx, asz, *_ in zip(*next(s.chunks(len(s))), strict=True):
            if kind != QUOTE:
                continue
            best = book.update(s.exchanges[ex], (px, sz), (apx, asz))
            n += 1
            bad += best.locked or best.crossed
            spreads.append(best.ask_px - best.bid_px)
        assert bad / n < 0.01, (name, bad, n)
        assert ticks * 0.85 < np.mean(spreads) / 100 < ticks * 1.15, (name, np.mean(spreads))


def trade_counts(b: FeedBatch, name: str, first_minute: int, minutes: int = 30) -> int:
    t = rows_of(b, name)
    t = t.select(t.kind == TRADE)
    lo = T0 + first_minute * MINUTE
    return int(np.count_nonzero((t.t_ns >= lo) & (t.t_ns < lo + minutes * MINUTE)))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_activity_follows_the_curve(seed: int) -> None:
    b = simulate(DAY, [AIG], seed=seed)
    first, midday, last = (trade_counts(b, "AIG", m) for m in (0, 180, 360))
    assert first > 1.6 * midday and last > 1.6 * midday, (first, midday, last)
    # a flat curve is flat, and a curve with nothing in the afternoon has no afternoon
    flat = VolumeCurve("*", (1 / 390,) * 390, 0.0, 0.0, (), "flat")
    b = simulate(DAY, [AIG], seed=seed, curve=flat)
    first, midday, last = (trade_counts(b, "AIG", m) for m in (0, 180, 360))
    assert 0.8 < first / midday < 1.25 and 0.8 < last / midday < 1.25
    morning = VolumeCurve("*", (1 / 195,) * 195 + (0.0,) * 195, 0.0, 0.0, (), "morning")
    b = simulate(DAY, [AIG], seed=seed, curve=morning)
    assert trade_counts(b, "AIG", 195, 195) == 0 and trade_counts(b, "AIG", 0, 195) > 5_000
    assert not (b.condition == CONDITIONS.index("40")).any()  # no auction share, no print


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_day_volume_and_trade_sizes(seed: int) -> None:
    b = simulate(DAY, [AIG, PENNY], seed=seed)
    for sym in (AIG, PENNY):
        s = rows_of(b, sym.name)
        t = s.select(s.kind == TRADE)
        assert 0.9 * sym.adv < t.size.sum() < 1.1 * sym.adv
        cont = t.select(t.condition != CONDITIONS.index("40"))
        cont = cont.select(cont.condition != CONDITIONS.index("80"))
        assert 0.9 * sym.avg_trade_size < cont.size.mean() < 1.1 * sym.avg_trade_size
        odd = cont.condition == CONDITIONS.index("80000000")
        assert 0.1 < odd.mean() < 0.3
        assert np.all(cont.size[odd] < sym.lot_size) and np.all(cont.size[~odd] % 100 == 0)
        assert np.all(cont.condition[~odd] == CONDITIONS.index("1"))


def test_auction_prints(day: FeedBatch) -> None:
    curve = default_curve()
    for sym in (AIG, IBM, PENNY):
        s = rows_of(day, sym.name)
        for cond, when, share in (("40", T0, curve.open_auction),
                                  ("80", T1, curve.close_auction)):
            hit = s.select(s.condition == day.conditions.index(cond))
            assert len(hit) == 1 and hit.kind[0] == TRADE
            assert hit.t_ns[0] == when and day.exchanges[hit.exchange[0]] == "N"
            assert 0.3 < hit.size[0] / (sym.adv * share) < 3 and hit.size[0] % 100 == 0
        trades = s.select(s.kind == TRADE)
        assert trades.condition[0] == day.conditions.index("40")  # the day opens with it
        assert trades.condition[-1] == day.conditions.index("80")
        # the opening print is near the previous close (an overnight gap, not a jump)
        assert abs(trades.price[0] / sym.ref_price - 1) < 0.1


def test_session_in_other_zones_and_hours() -> None:
    b = simulate(dt.date(2024, 1, 15), [AIG], seed=1, tz="Europe/London",
                 start=dt.time(8), end=dt.time(8, 5), exchanges=("L",))
    t0 = 1_705_305_600 * 10**9  # 2024-01-15 08:00 London (GMT) = 08:00 UTC
    assert b.t_ns[0] == t0 and b.t_ns[-1] == t0 + 5 * MINUTE
    assert b.exchanges == ("L",) and set(b.exchange.tolist()) == {0}


def test_describe_adds_up(day: FeedBatch) -> None:
    summary = {s.symbol: s for s in describe(day)}
    assert list(summary) == ["AIG", "IBM", "PNY"]
    s = rows_of(day, "IBM")
    t = s.select(s.kind == TRADE)
    ibm = summary["IBM"]
    assert (ibm.quotes, ibm.trades) == (s.quote_rows, len(t))
    assert ibm.volume == int(t.size.sum())
    assert ibm.vwap == pytest.approx(float((t.price * t.size).sum() / t.size.sum() / 10_000))
    assert 170 < ibm.vwap < 190
    assert "IBM:" in str(ibm)


def test_from_stats_and_the_default_curve() -> None:
    stats = SymbolStats("BAC", 88_000_000, 7.3, 0.22, 700, 13_7800, 20, "recorded")
    sym = SimSymbol.from_stats(stats)
    assert sym == SimSymbol("BAC", 13_7800, 7.3, 0.22, 88_000_000, 700, 100)
    c = default_curve()
    m = c.minute_shares
    assert len(m) == 390
    assert sum(m) + c.open_auction + c.close_auction == pytest.approx(1.0)
    assert m[0] > 2 * m[195] and m[-1] > 2 * m[195] and min(m) == min(m[150:250])


@pytest.mark.parametrize("bad", [
    {"ref_price": 0}, {"adv": -1}, {"avg_trade_size": 0}, {"lot_size": 0},
    {"volatility": float("nan")}, {"avg_spread_bps": -1.0}, {"name": ""},
])
def test_bad_parameters_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="needs"):
        SimSymbol(**{**AIG.__dict__, **bad})


def test_bad_calls_are_refused() -> None:
    with pytest.raises(ValueError, match="twice: AIG"):
        simulate(DAY, [AIG, AIG], seed=1)
    with pytest.raises(ValueError, match="exchanges"):
        simulate(DAY, [AIG], seed=1, exchanges=())
    with pytest.raises(ValueError, match="end after"):
        simulate(DAY, [AIG], seed=1, start=dt.time(16), end=dt.time(9, 30))
    with pytest.raises(ValueError, match="unknown time zone"):
        simulate(DAY, [AIG], seed=1, tz="Nowhere/Special")
    with pytest.raises(ValueError, match="non-negative"):
        simulate(DAY, [AIG], seed=-1)
    empty = simulate(DAY, [], seed=1)
    assert len(empty) == 0 and empty.exchanges == ("N", "P", "Q", "Z", "K")
