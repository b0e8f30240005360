"""The incremental NBBO against the naive rescan, on random updates and on recorded quotes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from marketdata.nbbo import Best, Nbbo, naive_nbbo
from marketdata.recorded import default_data_dir, read_quotes, tick_file

EXCHANGES = ["N", "P", "Q", "Z", "K"]
Side = tuple[int, int] | None

side = st.one_of(st.none(), st.tuples(st.integers(100, 110), st.integers(0, 3)))
updates = st.lists(st.tuples(st.sampled_from(EXCHANGES), side, side), max_size=200)


@settings(max_examples=300, deadline=None)
@given(updates)
def test_incremental_nbbo_equals_the_naive_rescan(ups: list[tuple[str, Side, Side]]) -> None:
    book = Nbbo()
    for ex, bid, ask in ups:
        got = book.update(ex, bid, ask)
        assert got == naive_nbbo(book.bids, book.asks)


def test_best_sizes_add_up_and_a_pulled_best_falls_back() -> None:
    book = Nbbo()
    book.update("N", (1000, 100), (1010, 200))
    book.update("P", (1000, 300), (1011, 100))
    assert book.best == Best(1000, 400, 1010, 200)
    book.update("N", (0, 0), None)  # N pulls its bid
    assert book.best == Best(1000, 300, 1010, 200)
    book.update("P", (999, 50), None)  # P steps back: nothing at 1000 any more
    assert book.best == Best(999, 50, 1010, 200)


def test_crossed_and_locked() -> None:
    book = Nbbo()
    assert not book.update("N", (1000, 1), (1001, 1)).crossed
    locked = book.update("P", (1001, 1), None)
    assert locked.locked and not locked.crossed
    crossed = book.update("Q", (1002, 1), None)
    assert crossed.crossed and not crossed.locked


def test_recorded_ibm_quotes_incremental_equals_naive() -> None:
    """A real day's quote updates (first 100,000 of IBM 2013-10-08)."""
    path = tick_file(default_data_dir() / "us_equities_2013-10", "IBM", "2013-10-08", "quote")
    assert path.exists(), f"the recorded data is not beside the repo: {path}"
    rows = read_quotes(path).rows[:100_000]
    book = Nbbo()
    crossed = 0
    for r in rows:
        bid = (r.bid_px, r.bid_size) if r.bid_px or r.bid_size else None
        ask = (r.ask_px, r.ask_size) if r.ask_px or r.ask_size else None
        got = book.update(r.exchange, bid, ask)
        assert got == naive_nbbo(book.bids, book.asks)
        crossed += got.crossed
    assert book.best.bid_size and book.best.ask_size
    assert book.best.bid_px <= book.best.ask_px or crossed
