"""Symbol statistics: the figures, no look-ahead, the fallbacks, the shipped defaults."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pytest

from marketdata.recorded import default_data_dir
from refdata import history as h
from refdata.curves import DEFAULTS_DIR
from refdata.model import SymbolStats
from refdata.stats import (
    compute_stats,
    load_default_stats,
    nbbo_spread_bps,
    regular_prints,
)
from tests.refdata import synth
from tests.refdata.synth import D1, D2, D3, EQ

DEFAULTS = {
    "AAA": SymbolStats("AAA", 5, 5.0, 0.5, 5, 5, 5, "default"),
    "*": SymbolStats("*", 7, 7.0, 0.7, 7, 7, 0, "default"),
}
REAL = default_data_dir() / EQ
needs_data = pytest.mark.skipif(not REAL.is_dir(), reason="no recorded data here")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return synth.make_root(tmp_path)


def test_figures_from_synthetic_history(root: Path) -> None:
    aaa, bbb = compute_stats(root / EQ, ["AAA", "BBB"], D3, DEFAULTS)
    # ADV: the last 20 daily bars before D3 are bars 59..78 (volume 1e6 + 1,000 i).
    assert aaa.adv == 1_068_500
    assert aaa.ref_price == 1_000_000  # bar 78 (even: the base close)
    # 60 log returns alternating +a, -a: sample stdev a * sqrt(60/59), annualised.
    a = math.log(round(1_000_000 * math.exp(0.01)) / 1_000_000)
    assert aaa.volatility == pytest.approx(a * math.sqrt(60 / 59) * math.sqrt(252), abs=1e-6)
    # The national best is 10.00 x 10.01 all session (exchanges at it change).
    assert aaa.avg_spread_bps == round(1_000 / 1_000_500 * 1e4, 6)
    # Tick days before D3: D1 (x1) and D2 (x2), 394 regular prints of 42,000 shares (x scale).
    assert aaa.avg_trade_size == round(42_000 * 3 / (394 * 2))
    assert aaa.days == 61 and aaa.source == "recorded"
    # BBB: daily bars only, so its spread and trade size are the "*" figures.
    assert (bbb.avg_spread_bps, bbb.avg_trade_size) == (7.0, 7)
    assert bbb.adv == 1_018_500  # bars 9..28 of 29 before D3
    assert bbb.ref_price == 500_000
    # 28 returns (>= 20 needed), 14 up and 14 down.
    b = math.log(round(500_000 * math.exp(0.01)) / 500_000)
    assert bbb.volatility == pytest.approx(b * math.sqrt(28 / 27) * math.sqrt(252), abs=1e-6)
    assert bbb.source == "recorded"
    # As of D2 the only tick day is D1 (x1): 42,000 shares in 394 prints.
    (aaa_d2,) = compute_stats(root / EQ, ["AAA"], D2, DEFAULTS)
    assert aaa_d2.avg_trade_size == round(42_000 / 394)


def test_no_look_ahead(root: Path, tmp_path: Path) -> None:
    eq = root / EQ
    before = compute_stats(eq, ["AAA"], D3, DEFAULTS)
    # Rewrite everything on and after D3: the session date's bar, its ticks, a later day.
    rows = [(d, c * 3 if d >= D3 else c, v * 100 if d >= D3 else v)
            for d, c, v in synth.daily_rows(80, D3)]
    rows.append((dt.date(2013, 10, 10), 9_999_999, 10**9))
    synth.write_daily(eq, "AAA", rows)
    synth.write_trades(eq, "AAA", D3, [(40_000_000.0, 1, 10**6, "Q", "1", 0)])
    synth.write_quotes(eq, "AAA", D3, [(36_000_000.0, 900_000, 1, 1_100_000, 1, "Q")])
    synth.write_trades(eq, "AAA", dt.date(2013, 10, 10), [(40_000_000.0, 1, 10**6, "Q", "1", 0)])
    assert compute_stats(eq, ["AAA"], D3, DEFAULTS) == before
    # ... while a change before D3 does show (the comparison above can fail).
    synth.write_trades(eq, "AAA", D2, [(40_000_000.0, 1, 10**6, "Q", "1", 0)])
    assert compute_stats(eq, ["AAA"], D3, DEFAULTS) != before


def test_short_history_and_no_data_fall_back_to_defaults(root: Path) -> None:
    # As of D1 AAA has 75 daily bars but no tick day before it: spread from the
    # minute quote bars of D0 (10.00 x 10.02), trade size from the defaults.
    (aaa,) = compute_stats(root / EQ, ["AAA"], D1, DEFAULTS)
    assert aaa.avg_spread_bps == round(2_000 / 1_001_000 * 1e4, 6)
    assert aaa.avg_trade_size == 5 and aaa.source == "recorded"
    # No data at all: every figure is the symbol's default row, else the "*" row.
    got = compute_stats(None, ["AAA", "ZZZ"], D3, DEFAULTS)
    assert got == [DEFAULTS["AAA"], SymbolStats("ZZZ", 7, 7.0, 0.7, 7, 7, 0, "default")]
    # A symbol the data does not hold, with data present: the "*" row too.
    (zzz,) = compute_stats(root / EQ, ["ZZZ"], D3, DEFAULTS)
    assert zzz.source == "default" and zzz.adv == 7
    with pytest.raises(KeyError):
        compute_stats(None, ["ZZZ"], D3, {"AAA": DEFAULTS["AAA"]})


def test_quote_rows_are_read_as_the_national_best(root: Path) -> None:
    q = h.read_tick_quotes(h.day_file(root / EQ, "tick", "AAA", D2, "quote"))
    # N's early 10.50 bid is no longer the best once Q's 10.00 row comes: read as
    # per-exchange quotes it would cross the 10.01 ask all day.
    assert nbbo_spread_bps(q) == pytest.approx(1_000 / 1_000_500 * 1e4)


def test_shipped_defaults_load() -> None:
    d = load_default_stats(DEFAULTS_DIR / "stats.csv")
    assert list(d) == ["AIG", "BAC", "IBM", "SPY", "AAPL", "*"]
    for s in d.values():
        assert s.source == "default"
        assert s.adv > 0 and s.avg_spread_bps > 0 and 0 < s.volatility < 2
        assert s.avg_trade_size > 0 and s.ref_price > 0
    assert d["SPY"].avg_spread_bps < d["BAC"].avg_spread_bps  # a penny on $167 vs on $14


def test_bad_default_files_are_refused(tmp_path: Path) -> None:
    p = tmp_path / "stats.csv"
    header = "symbol,adv,avg_spread_bps,volatility,avg_trade_size,ref_price,days\n"
    p.write_text(header + "AAA,1,1.0,0.1,1,1,1\n")
    with pytest.raises(ValueError, match="no '\\*' row"):
        load_default_stats(p)
    p.write_text("# c\n" + header + "*,1,1.0,0.1,1,1,1\nAAA,1,x,0.1,1,1,1\n")
    with pytest.raises(ValueError, match=r"stats.csv:4:"):
        load_default_stats(p)


@needs_data
def test_recorded_prints_match_the_data_readme() -> None:
    ibm = h.read_tick_trades(h.day_file(REAL, "tick", "IBM", dt.date(2013, 10, 8), "trade"))
    # The data README's figures: 33,381 prints in the file (all day), 5,203,752
    # shares in regular hours (those in 33,323 prints, as marketdata.volume counts).
    assert len(ibm.ms) == 33_381
    assert regular_prints(ibm) == (33_323, 5_203_752)
    # (test_curves checks that the generator reproduces the shipped stats.csv.)
