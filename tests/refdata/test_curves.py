"""Volume curves: the tick-day rules, sums, bins, no look-ahead, shrinkage, the default curve."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from marketdata.recorded import default_data_dir
from refdata import history as h
from refdata.curves import (
    DEFAULTS_DIR,
    build_curves,
    default_curve_from_history,
    default_vector,
    load_default_curve,
    tick_day_volume,
    write_defaults,
)
from refdata.model import VolumeCurve
from tests.refdata import synth
from tests.refdata.synth import D0, D1, D2, D3, EQ

REAL_ROOT = default_data_dir()
needs_data = pytest.mark.skipif(not (REAL_ROOT / EQ).is_dir(), reason="no recorded data here")


def tick_shares() -> h.F64:
    """The shares of `synth.tick_day` (any scale): 1,600 | 300, 100 x 388, 300 | 3,100."""
    v = np.array([1_600, 300, *([100] * 388), 300, 3_100], np.float64)
    shares: h.F64 = v / v.sum()
    return shares


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return synth.make_root(tmp_path)


@pytest.fixture(scope="module")
def default() -> VolumeCurve:
    return load_default_curve(DEFAULTS_DIR / "curve.csv")


def assert_normalised(c: VolumeCurve) -> None:
    assert len(c.minute_shares) == 390
    total = sum(c.minute_shares) + c.open_auction + c.close_auction
    assert abs(total - 1.0) < 1e-9
    for x in (*c.minute_shares, c.open_auction, c.close_auction):
        assert x >= 0 and round(x, 6) == x


def test_tick_day_rules() -> None:
    path_rows = synth.tick_day(scale=2)
    t = h.Trades(
        np.array([r[0] for r in path_rows], float), np.array([r[1] for r in path_rows]),
        np.array([r[2] for r in path_rows]), np.array([r[3] for r in path_rows]),
        np.array([int(r[4], 16) for r in path_rows]), np.array([r[5] == 1 for r in path_rows]),
    )
    dv = tick_day_volume(t)
    # Arca open: pieces 2,000 and an official print 2,200 of one cross -> 2,200, not
    # 4,200; NYSE's late cross 1,000 -> 3,200. Close: NYSE 6,000 at 16:00:47, Nasdaq 200.
    assert (dv.open_auction, dv.close_auction) == (3_200, 6_200)
    assert dv.minutes[0] == dv.minutes[389] == 600
    assert (dv.minutes[1:389] == 200).all()  # the suspicious print and the auctions left out
    assert dv.total == 88_200


def test_curve_sums_to_one_and_bins(root: Path, default: VolumeCurve) -> None:
    curves = build_curves(root / EQ, ["AAA"], D3, default)
    assert [c.symbol for c in curves] == ["AAA", "*"]
    aaa = curves[0]
    assert_normalised(aaa)
    assert aaa.source.startswith("blend:")
    for b in range(1, 31):
        bins = aaa.binned(b)
        assert len(bins) == -(-390 // b)
        assert sum(bins) == pytest.approx(sum(aaa.minute_shares), abs=1e-12)
    for bad in (0, 31):
        with pytest.raises(ValueError, match="1 to 30"):
            aaa.binned(bad)


def test_days_shares_and_shrinkage(root: Path, default: VolumeCurve) -> None:
    (aaa, _) = build_curves(root / EQ, ["AAA"], D3, default, prior_days=3.0)
    assert aaa.days == (D0.isoformat(), D1.isoformat(), D2.isoformat())
    d = default_vector(default)
    bar_day, tick1, tick2 = (np.array(x) for x in aaa.day_shares)
    # D1 and D2 have ticks and bars: the ticks are read (the bars say 50 + m).
    assert tick1 == pytest.approx(tick_shares(), abs=1e-6)
    assert tick2 == pytest.approx(tick_shares(), abs=1e-6)
    # D0 has bars only: auctions and first and last minute the default's, the rest
    # the bars' shape (50 + m at minute m) scaled to the default's share of them.
    assert bar_day[[0, 1, 390, 391]] == pytest.approx(d[[0, 1, 390, 391]], abs=1e-6)
    bars = np.arange(1, 389) + 50.0
    assert bar_day[2:390] == pytest.approx(bars / bars.sum() * d[2:390].sum(), abs=1e-6)
    # The blend: 3 days and the default as 3 pseudo-days.
    want = (bar_day + tick1 + tick2 + 3 * d) / 6
    got = np.array([aaa.open_auction, *aaa.minute_shares, aaa.close_auction])
    assert got == pytest.approx(want, abs=2e-6)
    # Without the prior the curve is the days' own mean.
    (own, _) = build_curves(root / EQ, ["AAA"], D3, default, prior_days=0)
    own_v = np.array([own.open_auction, *own.minute_shares, own.close_auction])
    assert own_v == pytest.approx((bar_day + tick1 + tick2) / 3, abs=2e-6)
    assert abs(own.close_auction - aaa.close_auction) > 1e-3  # the prior did move it


def test_no_look_ahead(root: Path, default: VolumeCurve) -> None:
    eq = root / EQ
    before = build_curves(eq, ["AAA"], D3, default)
    assert all(d < D3.isoformat() for d in before[0].days)
    # Change the session day and add a later one: nothing changes.
    synth.write_trades(eq, "AAA", D3, [(43_200_000.0, 1, 10**7, "Q", "1", 0)])
    synth.write_minute_trades(eq, "AAA", D3, {720: 10**7})
    synth.write_trades(eq, "AAA", dt.date(2013, 10, 10), [(43_200_000.0, 1, 10**7, "Q", "1", 0)])
    assert build_curves(eq, ["AAA"], D3, default) == before
    # A change to an earlier day does change it (so the comparison can fail).
    synth.write_trades(eq, "AAA", D2, [(43_200_000.0, 1, 10**7, "Q", "1", 0)])
    assert build_curves(eq, ["AAA"], D3, default) != before


def test_short_history_and_no_data_get_the_default(root: Path, default: VolumeCurve) -> None:
    # As of D1, AAA has one day (D0, bars): fewer than min_days.
    assert build_curves(root / EQ, ["AAA", "ZZZ"], D1, default) == [default]
    (aaa, star) = build_curves(root / EQ, ["AAA"], D1, default, min_days=1)
    assert aaa.days == (D0.isoformat(),) and star is default
    assert build_curves(None, ["AAA"], D3, default) == [default]
    renamed = VolumeCurve("X", default.minute_shares, default.open_auction,
                          default.close_auction, (), "default")
    assert build_curves(None, [], D3, renamed)[0].symbol == "*"


def test_the_shipped_default_curve(default: VolumeCurve) -> None:
    assert_normalised(default)
    assert default.symbol == "*" and default.source.split(":")[0] == "default"
    assert len([d for d in default.days if d.startswith("2011-")]) == 43
    for b in (5, 15, 30):
        bins = default.binned(b)
        low = min(bins)
        assert bins[0] > 1.5 * low and bins[-1] > 1.5 * low  # the U shape
        assert bins.index(low) not in (0, len(bins) - 1)
    assert 0.005 < default.open_auction < default.close_auction < 0.1


@pytest.mark.parametrize(("edit", "message"), [
    (lambda s: s.replace("minute,share", "minute,shares"), "header"),
    (lambda s: "\n".join(ln for ln in s.splitlines() if not ln.startswith("17,")), "389"),
    (lambda s: re.sub(r"close_auction,[0-9.]+", "close_auction,0.5", s), "sum to"),
    (lambda s: s.replace("\n3,", "\n-3,"), "outside"),
])
def test_bad_curve_files_are_refused(tmp_path: Path, edit: Callable[[str], str],
                                     message: str) -> None:
    text = (DEFAULTS_DIR / "curve.csv").read_text()
    p = tmp_path / "curve.csv"
    p.write_text(edit(text))
    with pytest.raises(ValueError, match=message):
        load_default_curve(p)


def test_default_curve_from_synthetic_history(root: Path) -> None:
    c = default_curve_from_history(root, before=D3)
    assert_normalised(c)
    # Auctions: the ticks of AAA on D1 and D2 (both 1,600 and 3,100 of 44,100).
    assert c.open_auction == pytest.approx(1_600 / 44_100, abs=1e-6)
    assert c.close_auction == pytest.approx(3_100 / 44_100, abs=1e-6)
    # Minutes: the mean of the two 2011 days' shapes (New York time, one day in
    # winter and one in summer time), scaled to leave room for the auctions.
    shapes = []
    for k in range(2):
        v = np.array([synth.spy_2011_volume(k, m) for m in range(390)], float)
        shapes.append(v / v.sum())
    want = np.mean(shapes, axis=0) * (1 - 4_700 / 44_100)
    assert np.array(c.minute_shares) == pytest.approx(want, abs=2e-6)
    assert c.days == ("2011-01-03", "2011-03-14", D1.isoformat(), D2.isoformat())
    assert len(c.day_shares) == 2


@needs_data
def test_recorded_tick_day_and_shipped_defaults_reproduce(tmp_path: Path) -> None:
    eq = REAL_ROOT / EQ
    ibm = tick_day_volume(h.read_tick_trades(h.day_file(eq, "tick", "IBM",
                                                        dt.date(2013, 10, 8), "trade")))
    # Continuous minutes + opening auction = the data README's regular-hours volume;
    # the close is NYSE's cross at 16:00:47 and the Nasdaq and Arca official closes.
    assert int(ibm.minutes.sum()) + ibm.open_auction == 5_203_752
    assert ibm.close_auction == 262_948 + 1_500 + 555
    # The generator rewrites the shipped files byte for byte.
    write_defaults(REAL_ROOT, dt.date(2013, 10, 8), tmp_path)
    for name in ("curve.csv", "stats.csv"):
        assert (tmp_path / name).read_bytes() == (DEFAULTS_DIR / name).read_bytes(), name
