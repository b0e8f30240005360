"""The plant's decisions: what subscribers get, snapshots, derived trade flags, session figures."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest

from marketdata.feed import QUOTE, TRADE, FeedBatch
from marketdata.plant import PlantCore
from marketdata.recorded import default_data_dir, load_day, local_midnight_ns
from sequencer.messages import BY_ID, TYPE_ID, decode, encode
from sequencer.messages.admin import Resubscribe
from sequencer.messages.control import Alert
from sequencer.messages.marketdata import (
    CLOSING_PRINT,
    ODD_LOT,
    OPENING_PRINT,
    REGULAR_WAY,
    SUSPICIOUS,
    MarketSnapshot,
    Quote,
    Subscribe,
    Trade,
    TradingStatus,
    Unsubscribe,
)
from tests.marketdata.refdata_fixture import make_refdata

DAY = dt.date(2013, 10, 8)
MIDNIGHT = local_midnight_ns(DAY, "America/New_York")
H = 3_600_000  # ms


def at(ms: float) -> int:
    return MIDNIGHT + int(ms * 1_000_000)


def batch(rows: list[tuple[Any, ...]], one_sided: bool = True) -> FeedBatch:
    """rows: (kind, ms, symbol, exchange, price, size, ask_px, ask_size, condition, suspicious)."""
    syms: dict[str, int] = {}
    exs: dict[str, int] = {}
    conds: dict[str, int] = {}
    cols: list[list[int]] = [[] for _ in range(11)]
    for i, (kind, ms, sym, ex, p, s, ap, asz, cond, susp) in enumerate(rows, start=1):
        vals = [kind, at(ms), syms.setdefault(sym, len(syms)), exs.setdefault(ex, len(exs)),
                p, s, ap, asz, conds.setdefault(cond, len(conds)), int(susp), i]
        for c, v in zip(cols, vals, strict=True):
            c.append(v)
    return FeedBatch(
        tuple(syms), tuple(exs), tuple(conds), np.array(cols[0], np.int8),
        np.array(cols[1], np.int64), np.array(cols[2], np.int32), np.array(cols[3], np.int32),
        np.array(cols[4], np.int64), np.array(cols[5], np.int64), np.array(cols[6], np.int64),
        np.array(cols[7], np.int64), np.array(cols[8], np.int32), np.array(cols[9], bool),
        np.array(cols[10], np.int64), one_sided=one_sided,
    )


class Sink:
    def __init__(self) -> None:
        self.out: list[tuple[Any, int, int]] = []  # (message, event_ns, cause_seq)

    def __call__(self, type_id: int, payload: bytes, event_ns: int, cause_seq: int) -> None:
        self.out.append((decode(type_id, payload), event_ns, cause_seq))

    def of(self, t: type) -> list[Any]:
        return [m for m, _, _ in self.out if isinstance(m, t)]


def run(rows: list[tuple[Any, ...]], commands: list[tuple[int, Any]] = (),  # type: ignore[assignment]
        one_sided: bool = True) -> tuple[PlantCore, Sink]:
    """Feed rows, applying each (row index, command) before that row."""
    core = PlantCore(make_refdata(), batch(rows, one_sided), MIDNIGHT)
    sink = Sink()
    cmds = sorted(commands, key=lambda c: c[0])
    for i, chunk in enumerate(core.feed.chunks(1)):
        for _, cmd in [c for c in cmds if c[0] == i]:
            core.on_frame(100 + i, TYPE_ID[type(cmd)], encode(cmd), sink)
        core.feed_rows(chunk, sink)
    for _, cmd in [c for c in cmds if c[0] >= len(rows)]:
        core.on_frame(999, TYPE_ID[type(cmd)], encode(cmd), sink)
    return core, sink


IBM = 3  # ids: AIG 1, BAC 2, IBM 3, SPY 4 (sorted names)


def test_only_subscribed_symbols_reach_the_stream_and_a_snapshot_answers_first() -> None:
    rows = [
        (QUOTE, 10 * H, "IBM", "N", 1_800_000, 200, 0, 0, "R", 0),
        (QUOTE, 10 * H + 1, "IBM", "N", 0, 0, 1_801_000, 300, "R", 0),
        (TRADE, 10 * H + 2, "IBM", "P", 1_800_500, 100, 0, 0, "1", 0),
        (QUOTE, 10 * H + 3, "AIG", "N", 480_000, 100, 481_000, 100, "R", 0),
        (QUOTE, 10 * H + 4, "IBM", "P", 1_800_100, 100, 1_800_900, 100, "R", 0),
        (TRADE, 10 * H + 5, "IBM", "N", 1_800_600, 50, 0, 0, "1", 0),
    ]
    core, sink = run(rows, [(3, Subscribe(IBM, "algo"))])
    snaps = sink.of(MarketSnapshot)
    assert len(snaps) == 1
    snap = snaps[0]
    # Before the subscription: N's two one-sided rows merged into one two-sided quote,
    # and P's regular-way trade.
    assert snap.quotes == (Quote(IBM, "XNYS", 1_800_000, 200, 1_801_000, 300, at(10 * H + 1),
                                 "R", 1_800_000, 200, 1_801_000, 300),)
    assert [t.venue for t in snap.trades] == ["ARCX"]
    assert snap.status == "trading" and snap.reason == "subscribe"
    assert snap.volume == 100  # the session's regular-way volume so far
    assert [(m, c) for m, _, c in sink.out if isinstance(m, MarketSnapshot)] == [(snap, 103)]
    # After it: IBM only (AIG is nobody's), in feed order, stamped with exchange time.
    updates = [(type(m).__name__, m.symbol_id, e) for m, e, _ in sink.out
               if isinstance(m, Quote | Trade)]
    assert updates == [("Quote", IBM, at(10 * H + 4)), ("Trade", IBM, at(10 * H + 5))]
    assert core.counters.rows == 6


def test_consolidated_quotes_drop_superseded_venues_and_carry_the_nbbo() -> None:
    """Vendor rows name the venue now at the national best on one side; a venue still
    showing a better price on that side is stale."""
    rows = [
        (QUOTE, 10 * H, "IBM", "N", 1_800_000, 200, 0, 0, "1", 0),  # best bid N 180.00
        (QUOTE, 10 * H + 1, "IBM", "P", 1_800_000, 300, 0, 0, "1", 0),  # P joins at 180.00
        (QUOTE, 10 * H + 2, "IBM", "K", 0, 0, 1_800_500, 100, "1", 0),  # best ask K 180.05
        (QUOTE, 10 * H + 3, "IBM", "Z", 1_799_000, 100, 0, 0, "1", 0),  # best bid now Z 179.90
        (QUOTE, 10 * H + 4, "IBM", "K", 1_800_500, 100, 0, 0, "1", 0),  # K bids its own ask
    ]
    core, sink = run(rows, [(0, Subscribe(IBM, "a"))])
    nbbo = [(q.nbbo_bid_px, q.nbbo_bid_size, q.nbbo_ask_px, q.nbbo_ask_size)
            for q in sink.of(Quote)]
    # The NBBO is what the rows say: the latest row on each side.
    assert nbbo == [
        (1_800_000, 200, 0, 0),
        (1_800_000, 300, 0, 0),
        (1_800_000, 300, 1_800_500, 100),
        (1_799_000, 100, 1_800_500, 100),
        (1_800_500, 100, 1_800_500, 100),  # locked, as the feed has it
    ]
    last = sink.of(Quote)[-1]
    assert (last.venue, last.bid_px, last.ask_px) == ("EDGX", 1_800_500, 1_800_500)
    # N and P at 180.00 were superseded when the best bid fell to Z's 179.90: stale,
    # even after the best rose past them again.
    snap = core.snapshot_of(IBM)
    assert [(q.venue, q.bid_px, q.ask_px) for q in snap.quotes] == [
        ("BATS", 1_799_000, 0), ("EDGX", 1_800_500, 1_800_500)]
    assert all(q.nbbo_bid_px == 1_800_500 for q in snap.quotes)


def test_two_sided_feeds_derive_the_nbbo_from_every_venue() -> None:
    rows = [
        (QUOTE, 10 * H, "IBM", "N", 1_800_000, 200, 1_800_500, 100, "", 0),
        (QUOTE, 10 * H + 1, "IBM", "P", 1_799_000, 300, 1_800_400, 100, "", 0),
        (QUOTE, 10 * H + 2, "IBM", "N", 1_798_000, 200, 1_801_000, 100, "", 0),
    ]
    _, sink = run(rows, [(0, Subscribe(IBM, "a"))], one_sided=False)
    assert [(q.nbbo_bid_px, q.nbbo_ask_px) for q in sink.of(Quote)] == [
        (1_800_000, 1_800_500), (1_800_000, 1_800_400), (1_799_000, 1_800_400)]


def test_unsubscribe_stops_a_symbol_only_when_its_last_subscriber_leaves() -> None:
    q = (QUOTE, 10 * H, "IBM", "N", 1_800_000, 200, 1_801_000, 100, "R", 0)
    rows = [q, q, q, q]
    _, sink = run(rows, [(0, Subscribe(IBM, "a")), (0, Subscribe(IBM, "b")),
                         (1, Unsubscribe(IBM, "a")), (2, Unsubscribe(IBM, "b"))])
    assert len(sink.of(MarketSnapshot)) == 2  # each subscriber is answered
    assert len(sink.of(Quote)) == 2  # rows 0 and 1; rows 2 and 3 after both left


def test_resubscribe_answers_with_a_fresh_snapshot_and_unknowns_get_alerts() -> None:
    rows = [(QUOTE, 10 * H, "IBM", "N", 1_800_000, 200, 1_801_000, 100, "R", 0)] * 2
    _, sink = run(rows, [(0, Subscribe(IBM, "a")), (1, Resubscribe("IBM", "feed dropped")),
                         (1, Resubscribe("AIG")), (1, Resubscribe("NOPE")),
                         (1, Subscribe(99, "a"))])
    snaps = sink.of(MarketSnapshot)
    assert [s.reason for s in snaps] == ["subscribe", "resubscribe"]
    assert snaps[1].quotes[0].bid_px == 1_800_000
    assert sorted(a.code for a in sink.of(Alert)) == [
        "not_subscribed", "unknown_symbol", "unknown_symbol"]


def test_trade_flags_auctions_odd_lots_suspicious_and_extended_hours() -> None:
    rows = [
        (TRADE, 8 * H, "IBM", "P", 1_800_000, 100, 0, 0, "2000", 0),  # pre-market
        (TRADE, 9.5 * H + 50, "IBM", "N", 1_800_000, 50_000, 0, 0, "40", 0),  # opening print
        (TRADE, 10 * H, "IBM", "Q", 1_800_100, 37, 0, 0, "1", 0),  # odd lot
        (TRADE, 10 * H + 1, "IBM", "Q", 1_900_000, 100, 0, 0, "1", 1),  # suspicious
        (TRADE, 16 * H + 47_000, "IBM", "N", 1_787_200, 262_948, 0, 0, "80", 0),  # close
        (TRADE, 16 * H + 48_000, "IBM", "D", 1_787_200, 6_305, 0, 0, "2000", 0),  # after
    ]
    core, sink = run(rows, [(0, Subscribe(IBM, "a"))])
    flags = [t.flags for t in sink.of(Trade)]
    assert flags == [
        0,
        REGULAR_WAY | OPENING_PRINT,
        REGULAR_WAY | ODD_LOT,
        SUSPICIOUS,
        REGULAR_WAY | CLOSING_PRINT,
        0,
    ]
    # Session figures: the window's regular-way prints (the close prints after 16:00).
    fig = core.session[IBM]
    assert (fig.trades, fig.volume) == (2, 50_037)
    # The last regular-way print per venue is the closing cross on N.
    snap = core.snapshot_of(IBM)
    assert {t.venue: t.price for t in snap.trades} == {
        "XNYS": 1_787_200, "XNAS": 1_800_100}


def test_session_phases_are_published_for_subscribed_symbols_at_the_data_clock() -> None:
    rows = [
        (QUOTE, 9 * H, "IBM", "N", 1_800_000, 200, 1_801_000, 100, "R", 0),
        (QUOTE, 10 * H, "IBM", "N", 1_800_000, 200, 1_801_000, 100, "R", 0),
        (QUOTE, 17 * H, "IBM", "N", 1_800_000, 200, 1_801_000, 100, "R", 0),
    ]
    _, sink = run(rows, [(0, Subscribe(IBM, "a"))])
    assert sink.of(MarketSnapshot)[0].status == "pre_open"
    st = [(m.status, e) for m, e, _ in sink.out if isinstance(m, TradingStatus)]
    assert st == [("trading", at(9.5 * H)), ("closed", at(16 * H))]


def test_unknown_symbols_and_venues_are_counted_not_fatal() -> None:
    rows = [(QUOTE, 10 * H, "ZZZZ", "N", 1, 1, 2, 1, "R", 0),
            (QUOTE, 10 * H, "IBM", "?", 1, 1, 2, 1, "R", 0)]
    core, _ = run(rows)
    assert core.counters.unknown_symbol_rows == 1
    assert core.unknown_symbols == ["ZZZZ"]
    assert core.unknown_venues == ["?"]


README_FIGURES = {  # ../shared/data/README.md, 2013-10-08, regular hours, suspicious excluded
    "AIG": (8_408_382, 48.1898),
    "BAC": (88_190_451, 13.7783),
    "IBM": (5_203_752, 179.8698),
    "SPY": (154_413_631, 166.3838),
}


def test_the_plant_reproduces_the_data_readme_volume_and_vwap_for_2013_10_08() -> None:
    data = default_data_dir() / "us_equities_2013-10"
    if not data.is_dir():
        pytest.fail(f"recorded data not found at {data} (set TAPE_DATA_DIR)")
    feed = load_day(data, list(README_FIGURES), DAY, quotes=False)
    assert not feed.bad
    rd = make_refdata()
    core = PlantCore(rd, feed, MIDNIGHT)
    for chunk in feed.chunks():
        core.feed_rows(chunk, lambda *a: None)
    got = {rd.symbol(sid).name: (f.volume, round(f.vwap, 4))
           for sid, f in sorted(core.session.items())}
    assert got == README_FIGURES


def test_type_ids_used_by_the_plant_are_registered() -> None:
    for t in (Quote, Trade, MarketSnapshot, TradingStatus, Alert):
        assert t in BY_ID.values()
