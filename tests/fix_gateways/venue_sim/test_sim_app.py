"""The realistic market (`SimMarket`): the venue simulator app's latency on the stream
kit, and the market impact model (`fix_gateways.venue_sim.impact`) against its formula,
with the right answer known by construction."""

from __future__ import annotations

import math

from fix_gateways.venue_sim.app import SimVenueApp
from fix_gateways.venue_sim.impact import (
    ImpactBook,
    ImpactParams,
    MarketMover,
    SymbolImpact,
    daily_sigma,
    delta_of,
    shift,
    stats_of,
)
from sequencer import sources
from sequencer.kit import StreamKit
from sequencer.messages import TYPE_ID, decode, encode
from sequencer.messages.control import SimMarket
from sequencer.messages.executions import VenueAck, VenueCanceled, VenueFill
from sequencer.messages.marketdata import Quote, Trade, TradingStatus
from sequencer.messages.orders import ChildOrderSent
from tests.oms.fixtures import DAY, MS, OPEN_NS, oms_refdata

US = 1_000
AIG = 1  # oms_refdata: symbols in name order from 1
ADV = 1_000_000  # oms_refdata's stats: ADV 1,000,000, volatility 0.2 for every symbol
VOL = 0.2


def kit(market: SimMarket | None) -> StreamKit:
    k = StreamKit([SimVenueApp()], refdata=oms_refdata(), start_ns=OPEN_NS)
    k.start(DAY, at_ns=OPEN_NS)
    if market is not None:
        k.send(market, sources.SEQUENCER, at_ns=OPEN_NS)
    k.send(TradingStatus(AIG, "XNYS", "trading"), sources.TICKER_PLANT, at_ns=OPEN_NS + MS)
    return k


def quote(k: StreamKit, at: int, bid: int, bid_size: int, ask: int, ask_size: int) -> None:
    k.send(Quote(AIG, "XNAS", bid, bid_size, ask, ask_size, at), sources.TICKER_PLANT,
           at_ns=at)


def child(k: StreamKit, at: int, child_id: str, qty: int, limit: int = 0,
          tif: str = "ioc", side: str = "buy") -> None:
    k.send(ChildOrderSent("new", "P1", child_id, "XNAS", "DMA-XNAS", "AIG", side,  # type: ignore[arg-type]  # literal from a test's str
                          qty, "limit" if limit else "market", limit, tif),  # type: ignore[arg-type]  # idem
           sources.OMS, at_ns=at)


def answers(k: StreamKit) -> list[tuple[int, object]]:
    """The venue simulator's outputs on the stream: (stream time, message)."""
    return [(int.from_bytes(f[16:24], "little"), k.payload(f))
            for f in k.frames_of(sources.VENUE_SIM)]


def test_the_frame_layout_these_tests_read() -> None:
    k = kit(None)
    quote(k, OPEN_NS + 2 * MS, 48_1800, 500, 48_1900, 500)
    child(k, OPEN_NS + 3 * MS, "c1", 100)
    got = answers(k)
    assert [type(m) for _t, m in got] == [VenueAck, VenueFill]
    assert all(t == OPEN_NS + 3 * MS for t, _m in got)  # (the stream time at 16:24)


def test_without_latency_a_take_gets_the_quote_it_was_aimed_at() -> None:
    k = kit(SimMarket())
    t = OPEN_NS + 10 * MS
    quote(k, t, 48_1800, 500, 48_1900, 500)
    child(k, t + 1 * MS, "c1", 300, 48_1900)
    quote(k, t + 1 * MS + 100 * US, 48_1900, 500, 48_2000, 500)  # the ask moves away
    fills = [m for _t, m in answers(k) if isinstance(m, VenueFill)]
    assert [(f.qty, f.px) for f in fills] == [(300, 48_1900)]


def test_latency_a_take_misses_the_quote_that_moves_before_it_arrives() -> None:
    market = SimMarket(venue_latency_us=250, platform_latency_us=50)
    k = kit(market)
    t = OPEN_NS + 10 * MS
    quote(k, t, 48_1800, 500, 48_1900, 500)
    sent = t + 1 * MS
    child(k, sent, "c1", 300, 48_1900)
    assert [m for _t, m in answers(k)] == []  # on its way: nothing yet
    quote(k, sent + 100 * US, 48_1900, 500, 48_2000, 500)  # moves before it arrives
    k.run_timers(sent + 10 * MS)
    got = answers(k)
    # it reached the venue 300 us after it was sent and its answers came back 300 us later
    assert [(tm - sent, type(m).__name__) for tm, m in got] == [
        (600 * US, "VenueAck"), (600 * US, "VenueCanceled")]
    cancel = got[1][1]
    assert isinstance(cancel, VenueCanceled) and cancel.reason == "ioc remainder"
    # one sent after the move, aimed at the new ask, gets it
    child(k, sent + 1 * MS, "c2", 300, 48_2000)
    k.run_timers(sent + 10 * MS)
    fills = [m for _t, m in answers(k) if isinstance(m, VenueFill)]
    assert [(f.child_id, f.qty, f.px) for f in fills] == [("c2", 300, 48_2000)]


def test_a_venues_own_latency_overrides_the_default() -> None:
    market = SimMarket(venue_latency_us=250, venue_latencies=(("XNAS", 1_000),))
    assert market.latency_ns("XNAS") == 1_000 * US
    assert market.latency_ns("ARCX") == 250 * US
    k = kit(market)
    t = OPEN_NS + 10 * MS
    quote(k, t, 48_1800, 500, 48_1900, 500)
    child(k, t + MS, "c1", 100, 48_1900)
    k.run_timers(t + 10 * MS)
    assert [tm - (t + MS) for tm, _m in answers(k)] == [2_000 * US, 2_000 * US]


def _by_hand(q: int, x: float) -> float:
    """The impact formula written out: Y sigma (theta g(Q/V) + (1 - theta) g(X/V))."""
    sigma = VOL / math.sqrt(252)
    return 1.0 * sigma * (0.6667 * math.sqrt(q / ADV) + (1 - 0.6667) * math.sqrt(x / ADV))


def _mover() -> MarketMover:
    rd = oms_refdata()
    return MarketMover(ImpactBook(ImpactParams(), stats_of(rd)),
                       {s.name: s.id for s in rd.symbols})


def _moved(mover: MarketMover, t: int, msg: Quote | Trade) -> Quote | Trade:
    out = decode(TYPE_ID[type(msg)], mover.payload(TYPE_ID[type(msg)], encode(msg), t))
    assert isinstance(out, (Quote, Trade))
    return out


def test_the_market_moves_by_the_square_root_law_and_the_transient_part_decays() -> None:
    mover = _mover()
    q = Quote(AIG, "XNAS", 48_1800, 500, 48_1900, 500, 0, "", 48_1800, 900, 48_1900, 900)
    t = OPEN_NS
    assert mover.payload(TYPE_ID[Quote], encode(q), t) == encode(q)  # nothing traded yet
    mover.on_child(ChildOrderSent("new", "P1", "c1", "XNAS", "DMA-XNAS", "AIG", "buy",
                                  10_000, "market"))
    mover.on_child(ChildOrderSent("new", "P1", "c2", "XNAS", "DMA-XNAS", "IBM", "sell",
                                  10_000, "market"))
    mover.on_fill(t, VenueFill("c1", "X-1", 10_000, 48_1900))  # 1% of ADV at once
    mover.on_fill(t, VenueFill("c2", "X-2", 10_000, 182_0000))
    mover.on_fill(t, VenueFill("unknown", "X-3", 10_000, 182_0000))  # not ours: nothing
    # right after: Q = X = 10,000 -> Y sigma sqrt(1%) = 12.6 bp: 6 cents on $48.19
    assert abs(_by_hand(10_000, 10_000) - daily_sigma(VOL) * 0.1) < 1e-12
    m = _moved(mover, t, q)
    assert isinstance(m, Quote)
    assert (m.bid_px, m.ask_px, m.nbbo_bid_px, m.nbbo_ask_px) == (
        48_2400, 48_2500, 48_2400, 48_2500)
    assert (m.bid_size, m.ask_size, m.exch_time_ns) == (500, 500, 0)  # sizes stay
    assert mover.quote(q, t) == m  # the plant's hook moves the same way
    assert list(mover.moving) == [AIG, 3]  # the symbols traded (IBM is 3)
    # ten minutes on: X has decayed by e^-2, Q stays: 10.2 bp, 5 cents
    later = t + 600_000 * MS
    expect = _by_hand(10_000, 10_000 * math.exp(-2))
    tr = _moved(mover, later, Trade(AIG, "XNAS", 48_1900, 100, 0))
    # every price moves by D = I x the reference price (AIG's: $48.19) to the tick
    assert tr.price == 48_1900 + round(48_1900 * expect / 100) * 100 == 48_2400
    # the other symbol's fill was a sell: IBM moves down; an untraded symbol not at all
    ibm = _moved(mover, later, Trade(3, "XNAS", 182_0000, 100, 0))
    assert ibm.price == 182_0000 - round(182_0100 * expect / 100) * 100 == 181_8200
    bac = Trade(2, "XNAS", 13_8100, 100, 0)
    assert mover.payload(TYPE_ID[Trade], encode(bac), later) == encode(bac)


def test_the_impact_model_against_its_formula() -> None:
    p = ImpactParams()
    s = SymbolImpact(0.01, 1_000_000, 48_1900, p)
    s.on_fill(0, 40_000)  # 4% of ADV at once: sigma * sqrt(0.04) = 20 bp
    assert abs(s.fraction(0) - 0.002) < 1e-15
    tau = 300e9
    for t in (0, int(tau), int(5 * tau)):
        x = 40_000 * math.exp(-t / tau)
        want = 0.01 * (0.6667 * 0.2 + 0.3333 * math.sqrt(x / 1e6))
        assert abs(s.fraction(t) - want) < 1e-15
    s.on_fill(int(tau), -40_000)  # selling it all back: Q = 0, X = 40,000/e - 40,000
    x = 40_000 * math.exp(-1) - 40_000
    assert abs(s.fraction(int(tau)) - 0.01 * 0.3333 * -math.sqrt(-x / 1e6)) < 1e-15
    # the book moves by whole ticks of the reference price; under half a tick: not at all
    assert delta_of(48_1900, 0.0001) == 0  # 0.48 cents
    assert delta_of(48_1900, 0.000104) == 100  # 0.501 cents
    fresh = SymbolImpact(0.01, 1_000_000, 48_1900, p)
    fresh.on_fill(0, 40_000)
    assert fresh.delta(0) == delta_of(48_1900, 0.002) == 1000  # 20 bp of $48.19: 9.6 c
    assert delta_of(5000, -0.001) == -5  # sub-dollar ticks of $0.0001
    assert shift(48_1800, 1000) == 48_2800 and shift(0, 1000) == 0  # no price stays none
    assert shift(300, -500) == 1  # never below a tick


