"""Volume rules, and the session figures they give on the recorded real data."""

from __future__ import annotations

import pytest

from marketdata.recorded import TradeRow, default_data_dir, read_trades, tick_file
from marketdata.volume import REGULAR_CLOSE_MS, REGULAR_OPEN_MS, VolumeRules, session_volume

SHARED_DATA = default_data_dir() / "us_equities_2013-10"


def t(ms: float, price: int = 100_0000, size: int = 100, cond: str = "1",
      suspicious: bool = False) -> TradeRow:
    return TradeRow(ms, price, size, "N", cond, suspicious)


def test_session_bounds_suspicious_and_excluded_conditions() -> None:
    trades = [
        t(REGULAR_OPEN_MS - 1),  # pre-market: out
        t(REGULAR_OPEN_MS, price=10_0000, size=200),  # the open: in
        t(REGULAR_OPEN_MS + 5, price=12_0000, size=37),  # an odd lot: in
        t(REGULAR_OPEN_MS + 6, suspicious=True),  # suspicious: out
        t(REGULAR_OPEN_MS + 7, cond="X", size=1000),  # in, unless X is excluded
        t(REGULAR_CLOSE_MS - 0.5, price=11_0000, size=100),  # last instant: in
        t(REGULAR_CLOSE_MS),  # the close itself: out (end excluded)
    ]
    sv = session_volume(trades)
    assert (sv.trades, sv.volume) == (4, 1337)
    assert sv.notional == 10_0000 * 200 + 12_0000 * 37 + 100_0000 * 1000 + 11_0000 * 100
    ex = session_volume(trades, VolumeRules(excluded_conditions=frozenset({"X"})))
    assert (ex.trades, ex.volume) == (3, 337)
    assert ex.vwap == pytest.approx((10 * 200 + 12 * 37 + 11 * 100) / 337)
    assert session_volume([]).vwap == 0.0


# ../shared/data/README.md: regular hours 09:30 to 16:00, suspicious prints excluded.
README_2013_10_08 = {
    "AIG": (43_342, 8_408_382, 48.1898),
    "BAC": (125_872, 88_190_451, 13.7783),
    "IBM": (33_381, 5_203_752, 179.8698),
    "SPY": (451_545, 154_413_631, 166.3838),
}


@pytest.mark.parametrize("symbol", sorted(README_2013_10_08))
def test_regular_session_volume_and_vwap_match_the_data_readme(symbol: str) -> None:
    path = tick_file(SHARED_DATA, symbol, "2013-10-08", "trade")
    assert path.exists(), f"the recorded data is not beside the repo: {path}"
    res = read_trades(path)
    assert res.bad == []
    trades, volume, vwap = README_2013_10_08[symbol]
    assert len(res.rows) == trades  # the README's trade count is every row of the day
    sv = session_volume(res.rows)
    assert sv.volume == volume
    assert round(sv.vwap, 4) == vwap
