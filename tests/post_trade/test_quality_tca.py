"""The report's cost figures (issue 23), on a hand-made backtest day with impact on.

Symbol AAA (id 1 in the day's ref data: ADV 10,000 shares, daily sigma 2%), stream
time from T0 = 09:30. The day's `SimMarket`: impact on, Y = 1, permanent 1/2, decay
60 s. The impact model is written out again below (`fraction`, `move`), from its
formula rather than from `ImpactBook`, and every expected figure is worked out from
it and from the prices here. As the backtest's driver does, the day's journal holds
the market moved by our impact: every quote and print below is written moved by
the model at its own stream time (recorded prices are the ones listed).

    NBBO (raw)  T0 - 5 m  9.99 / 10.01   arrival mid 10.00 for both orders
                T0 - 4 m  0    / 10.50   a side missing: dropped
                T0 + 20 s 10.00 / 10.02  B's first child goes out after it (M1 10.01)
                T0+2m1s, T0+3m1s  10.00 / 10.02;  T0+4m10s 10.01 / 10.03;
                T0 + 11 m 10.03 / 10.05
    prints      T0 500 @ 9.99 opening; T0+1m 1,000 @ 10.00; T0+2m30s 400 @ 10.02
                stock-option (left out); T0+5m30s 1,000 @ 10.02; T0+10m5s 3,000
                @ 10.04 closing; T0+12m 200 @ 10.06 (after the windows)
    B  buy 300, VWAP [T0, T0+10m) with the closing auction
       B1 (XNYS, day, 200): 100 @ 10.01 added at T0+2m, 100 @ 10.02 removed at T0+4m
       B2 (ARCX, cls, 100): 100 @ 10.04 in the closing auction at T0+10m6s
    S  sell 400, VWAP [T0, T0+10m), need not complete
       S1 (ARCX, day, 400): 200 @ 10.03 added at T0+3m (a venue repeat of it too),
       cancelled at T0+10m: 200 unfilled
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import msgspec
import pytest
from rich.console import Console

from post_trade.quality import (
    BacktestReport,
    OrderResult,
    build_report,
    plot_orders,
    render,
    render_costs,
    summary_line,
)
from refdata.load import save
from refdata.model import SymbolStats, Table
from sequencer import sources
from sequencer.kit import StreamKit
from sequencer.messages import Message
from sequencer.messages.control import SimMarket, SystemStart, SystemStop
from sequencer.messages.executions import VenueFill
from sequencer.messages.marketdata import (
    CLOSING_PRINT,
    OPENING_PRINT,
    REGULAR_WAY,
    Quote,
    Trade,
)
from sequencer.messages.orders import (
    AlgoDecision,
    ChildOrderSent,
    ParentAccepted,
    ParentDone,
    Side,
    TimeInForce,
)
from tests.marketdata.refdata_fixture import make_refdata
from tests.post_trade.test_quality import PNG, T0, px

S = 1_000_000_000
MIN = 60 * S
AAA = 1
ADV = 10_000
SIGMA = 0.02  # daily; the ref data holds it annualised
Y, THETA, TAU_S = 1.0, 0.5, 60.0
FEES = {  # cents per 100 shares: (added, removed, auction); - is a rebate
    "XNYS": (-0.20, 0.30, 0.10),
    "ARCX": (-0.25, 0.30, 0.15),
}

# Our fills: (stream time, signed shares, price, liquidity, venue, order)
F1 = (T0 + 2 * MIN, +100, px("10.01"), "added", "XNYS", "B")
F2 = (T0 + 3 * MIN, -200, px("10.03"), "added", "ARCX", "S")
F3 = (T0 + 4 * MIN, +100, px("10.02"), "removed", "XNYS", "B")
F4 = (T0 + 10 * MIN + 6 * S, +100, px("10.04"), "auction", "ARCX", "B")
FILLS = (F1, F2, F3, F4)


# --------------------------------------------------------------- the model, by hand


def fraction(t: int, impact: bool = True) -> float:
    """I(t) = Y sigma (theta g(Q / V) + (1 - theta) g(X / V)) over our fills before t."""
    if not impact:
        return 0.0
    before = [(ti, q) for ti, q, *_ in FILLS if ti < t]
    if not before:
        return 0.0
    big_q = sum(q for _, q in before)
    x = sum(q * math.exp(-(t - ti) / (TAU_S * S)) for ti, q in before)

    def g(v: float) -> float:
        return math.copysign(math.sqrt(abs(v)), v)

    return Y * SIGMA * (THETA * g(big_q / ADV) + (1 - THETA) * g(x / ADV))


def move(price: int, f: float) -> int:
    """The whole book moves by D = I x the reference price ($10.00), to the cent."""
    return price + round(px("10.00") * f / 100) * 100


def mid(bid: str, ask: str, t: int, impact: bool = True) -> float:
    """The NBBO mid seen at stream time t (moved by the impact there), fixed point."""
    f = fraction(t, impact)
    return (move(px(bid), f) + move(px(ask), f)) / 2


def unmoved_mid(bid: str, ask: str, t: int) -> float:
    """The mid without our impact, as the report works it out from the journal's moved
    prices (each less D): the recorded mid, exactly."""
    return (px(bid) + px(ask)) / 2


# --------------------------------------------------------------- the day


def refdata_set(day: Path) -> str:
    base = make_refdata(dt.date(2024, 3, 15), ("AAA", "BBB")).data  # AAA is 1
    stats = tuple(SymbolStats(symbol=n, adv=ADV, avg_spread_bps=2.0,
                              volatility=SIGMA * math.sqrt(252), avg_trade_size=100,
                              ref_price=px("10.00"), days=20, source="default")
                  for n in ("AAA", "BBB"))
    fees = Table(name="venue_fees", key="venue",
                 columns=("venue", "cat_id", "add_per_100", "remove_per_100",
                          "auction_per_100"),
                 rows={v: {"venue": v, "cat_id": v, "add_per_100": a, "remove_per_100": r,
                           "auction_per_100": u} for v, (a, r, u) in FEES.items()})
    return save(day / "refdata", msgspec.structs.replace(base, stats=stats,
                                                         tables=(fees,))).digest


def quote(t: int, bid: str, ask: str, impact: bool) -> tuple[int, Message]:
    f = fraction(t, impact)
    b, a = (move(px(bid), f) if bid != "0" else 0), move(px(ask), f)
    return t, Quote(symbol_id=AAA, venue="XNYS", bid_px=b, bid_size=100, ask_px=a,
                    ask_size=100, exch_time_ns=0, nbbo_bid_px=b, nbbo_bid_size=100,
                    nbbo_ask_px=a, nbbo_ask_size=100)


def trade(t: int, price: str, size: int, impact: bool, flags: int = 0,
          cond: str = "") -> tuple[int, Message]:
    return t, Trade(symbol_id=AAA, venue="XNYS", price=move(px(price), fraction(t, impact)),
                    size=size,
                    exch_time_ns=0, flags=REGULAR_WAY | flags, conditions=cond)


def parent(oid: str, side: Side, qty: int, text: str,
           params: tuple[tuple[str, str], ...] = ()) -> list[tuple[int, Message]]:
    return [
        (T0 - MIN, ParentAccepted(order_id=oid, client="C1", cl_ord_id=f"cl-{oid}",
                                  symbol="AAA", side=side, qty=qty, ord_type="market",
                                  limit_px=0, tif="day", algo="vwap", algo_params=params)),
        (T0 - MIN, AlgoDecision(order_id=oid, kind="schedule", start_ns=T0,
                                end_ns=T0 + 10 * MIN, target_qty=qty, scheduled_qty=qty,
                                text=f"2 intervals{text}")),
    ]


def child(t: int, oid: str, cid: str, side: Side, qty: int, venue: str,
          tif: TimeInForce = "day", action: str = "new") -> tuple[int, Message]:
    return t, ChildOrderSent(action=action, parent_id=oid, child_id=cid,  # type: ignore[arg-type]  # a Literal, checked by msgspec
                             venue=venue, destination=venue, symbol="AAA", side=side,
                             qty=qty, ord_type="limit", limit_px=px("10.02"), tif=tif)


def fill(f: tuple[int, int, int, str, str, str], cid: str, eid: str) -> tuple[int, Message]:
    t, q, p, liq, _, _ = f
    return t, VenueFill(child_id=cid, exec_id=eid, qty=abs(q), px=p,
                        liquidity=liq)  # type: ignore[arg-type]  # a Literal, checked by msgspec


def timeline(impact: bool) -> list[tuple[int, Message]]:
    return [
        quote(T0 - 5 * MIN, "9.99", "10.01", impact),
        quote(T0 - 4 * MIN, "0", "10.50", impact),
        quote(T0 + 20 * S, "10.00", "10.02", impact),
        quote(T0 + 2 * MIN + S, "10.00", "10.02", impact),
        quote(T0 + 3 * MIN + S, "10.00", "10.02", impact),
        quote(T0 + 4 * MIN + 10 * S, "10.01", "10.03", impact),
        quote(T0 + 11 * MIN, "10.03", "10.05", impact),
        trade(T0, "9.99", 500, impact, OPENING_PRINT),
        trade(T0 + MIN, "10.00", 1000, impact),
        trade(T0 + 2 * MIN + 30 * S, "10.02", 400, impact, cond="40000"),
        trade(T0 + 5 * MIN + 30 * S, "10.02", 1000, impact),
        trade(T0 + 10 * MIN + 5 * S, "10.04", 3000, impact, CLOSING_PRINT),
        trade(T0 + 12 * MIN, "10.06", 200, impact),
        *parent("B", "buy", 300, ", closing auction"),
        (T0, AlgoDecision(order_id="B", kind="interval", start_ns=T0, end_ns=T0 + 5 * MIN,
                          target_qty=150, scheduled_qty=300)),
        (T0 + 5 * MIN, AlgoDecision(order_id="B", kind="interval", start_ns=T0 + 5 * MIN,
                                    end_ns=T0 + 10 * MIN, target_qty=300,
                                    scheduled_qty=300)),
        *parent("S", "sell", 400, "", (("must_complete", "N"),)),
        child(T0 + 30 * S, "B", "B1", "buy", 200, "XNYS"),
        child(T0 + MIN, "B", "B1", "buy", 200, "XNYS", action="replace"),
        child(T0 + MIN, "S", "S1", "sell", 400, "ARCX"),
        child(T0 + 6 * MIN, "B", "B2", "buy", 100, "ARCX", "cls"),
        fill(F1, "B1", "E1"),
        fill(F2, "S1", "E2"),
        (F2[0] + S // 2, fill(F2, "S1", "E2")[1]),  # the venue repeats it: once
        fill(F3, "B1", "E3"),
        child(T0 + 10 * MIN, "S", "S1", "sell", 400, "ARCX", action="cancel"),
        (T0 + 10 * MIN, ParentDone(order_id="S", ord_status="canceled", cum_qty=200)),
        fill(F4, "B2", "E4"),
        (F4[0], ParentDone(order_id="B", ord_status="filled", cum_qty=300)),
    ]


def write_day(day: Path, impact: bool = True) -> Path:
    digest = refdata_set(day)
    start = SystemStart(session_date=dt.date(2024, 3, 15), seed=1, config_digest="test",
                        time_mode="sim", refdata_digest=digest)
    sim = SimMarket(impact=impact, impact_y_milli=1000, impact_permanent_bp=5000,
                    impact_decay_ms=60_000, platform_latency_us=50, venue_latency_us=250)
    events = sorted(timeline(impact), key=lambda e: e[0])
    kit = StreamKit(journal=day / "journal")
    kit.send(start, sources.publisher(SystemStart), at_ns=T0 - 30 * MIN)
    kit.send(sim, sources.SEQUENCER, at_ns=T0 - 30 * MIN)
    for ts, m in events:
        kit.send(m, sources.publisher(type(m)), at_ns=ts)
    kit.send(SystemStop(reason="end of day"), sources.publisher(SystemStop),
             at_ns=events[-1][0])
    kit.close()
    return day


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_day(tmp_path_factory.mktemp("tca") / "day")


@pytest.fixture(scope="module")
def report(day: Path) -> BacktestReport:
    return build_report(day)


def order(report: BacktestReport, oid: str) -> OrderResult:
    return {r.order_id: r for r in report.results}[oid]


# --------------------------------------------------------------- expected, by hand

M0 = px("10.00")  # the arrival mid: 9.99 / 10.01 (the one-sided quote after is dropped)
M1_B = px("10.01")  # B's first child at T0 + 30 s, after the 10.00 / 10.02 quote

# The mid at each fill: the latest quote before it, moved as it was at its own time.
MID = {
    F1: (mid("10.00", "10.02", T0 + 20 * S), px("10.01")),  # before any fill: no move
    F2: (mid("10.00", "10.02", T0 + 2 * MIN + S),
         unmoved_mid("10.00", "10.02", T0 + 2 * MIN + S)),
    F3: (mid("10.00", "10.02", T0 + 3 * MIN + S),
         unmoved_mid("10.00", "10.02", T0 + 3 * MIN + S)),
    F4: (mid("10.01", "10.03", T0 + 4 * MIN + 10 * S),
         unmoved_mid("10.01", "10.03", T0 + 4 * MIN + 10 * S)),
}


def moved_print(t: int, price: str) -> int:
    return move(px(price), fraction(t))


P55 = moved_print(T0 + 5 * MIN + 30 * S, "10.02")
PCLOSE = moved_print(T0 + 10 * MIN + 5 * S, "10.04")
P12 = moved_print(T0 + 12 * MIN, "10.06")


def vwap(rows: list[tuple[int, int]]) -> float:
    """Dollars, from (fixed-point price, shares)."""
    return sum(p * q for p, q in rows) / sum(q for _, q in rows) / 10_000


OURS = [(f[2], abs(f[1])) for f in FILLS]


def test_the_model_moved_the_market() -> None:
    """The figures below mean something only if the model moves prices here."""
    assert MID[F2][0] > MID[F2][1]  # after B's buy, the mid is up
    assert MID[F3][0] != MID[F3][1]
    assert MID[F4][0] != MID[F4][1]


def test_interval_vwaps_with_and_without_auctions_and_own_prints(day: Path,
                                                                  report: BacktestReport
                                                                  ) -> None:
    b = order(report, "B")
    # The opening print (B does not take it) and the stock-option one are out; the
    # closing print (after the window; B takes the close) is in; prints are moved.
    market = [(px("10.00"), 1000), (P55, 1000), (PCLOSE, 3000)]
    assert b.market_volume == 5000 + 500 and b.own_volume == 500
    assert b.market_vwap == pytest.approx(vwap(market + OURS), rel=1e-12)
    ex = [(px("10.00"), 1000), (P55, 1000)]
    assert b.market_vwap_ex_auctions == pytest.approx(vwap(ex + OURS[:3]), rel=1e-12)
    day_rows = [(px("9.99"), 500), *market, (P12, 200)]
    assert b.day_vwap == pytest.approx(vwap(day_rows + OURS), rel=1e-12)
    avg = (px("10.01") + px("10.02") + px("10.04")) / 3
    assert b.market_vwap is not None and b.day_vwap is not None
    assert b.avg_px == pytest.approx(avg / 10_000)
    assert b.slippage_bps == pytest.approx(
        10_000 * (avg / 10_000 - b.market_vwap) / b.market_vwap, rel=1e-9)
    assert b.day_slippage_bps == pytest.approx(
        10_000 * (avg / 10_000 - b.day_vwap) / b.day_vwap, rel=1e-9)
    # S sells, takes no auction: its window has no auction print, ours or the market's.
    s = order(report, "S")
    assert s.market_vwap is not None
    assert s.market_vwap == pytest.approx(vwap(ex + OURS[:3]), rel=1e-12)
    assert s.market_vwap_ex_auctions == s.market_vwap
    assert s.slippage_bps == pytest.approx(
        10_000 * (s.market_vwap - 10.03) / s.market_vwap, rel=1e-9)
    # Without our prints: the market's alone.
    alone = order(build_report(day, own_prints=False), "B")
    assert alone.market_volume == 5000
    assert alone.market_vwap == pytest.approx(vwap(market), rel=1e-12)
    assert alone.participation == b.participation  # ours stay in its denominator


def test_implementation_shortfall_parts(report: BacktestReport) -> None:
    b = order(report, "B")
    assert b.arrival_mid == pytest.approx(10.00)
    fills = [(F1, 100), (F3, 100), (F4, 100)]
    n = 300
    total = 10_000 * (sum(f[2] * q for f, q in fills) / n - M0) / M0
    delay = 10_000 * (M1_B - M0) / M0
    spread = 10_000 * sum(q * (f[2] - MID[f][0]) for f, q in fills) / (n * M0)
    impact = 10_000 * sum(q * (MID[f][0] - MID[f][1]) for f, q in fills) / (n * M0)
    assert delay == pytest.approx(10.0)  # 10.00 -> 10.01
    assert b.is_bps == pytest.approx(total, rel=1e-12)
    assert b.is_delay_bps == pytest.approx(delay, rel=1e-12)
    assert b.is_spread_bps == pytest.approx(spread, rel=1e-9)
    assert b.is_impact_bps == pytest.approx(impact, rel=1e-9)
    # By F3, S's 200 sold outweigh B's 100 bought: the model had pushed the mids B
    # then bought at down, a gain for B.
    assert impact < 0
    assert b.is_timing_bps == pytest.approx(total - delay - spread - impact, abs=1e-9)
    assert (b.is_delay_bps is not None and b.is_spread_bps is not None
            and b.is_impact_bps is not None and b.is_timing_bps is not None)
    assert (b.is_delay_bps + b.is_spread_bps + b.is_impact_bps + b.is_timing_bps
            == pytest.approx(b.is_bps, abs=1e-9))
    assert b.opportunity_bps == 0.0  # complete
    # S, a sell: cost-signed the other way; 200 of 400 unfilled at the end mid (its
    # ParentDone at T0 + 10 m: the quote of T0 + 4 m 10 s, moved then).
    s = order(report, "S")
    s_total = -10_000 * (px("10.03") - M0) / M0
    assert s.is_bps is not None and s.is_bps < 0
    assert s.is_bps == pytest.approx(s_total, rel=1e-12)
    assert s.is_delay_bps == pytest.approx(-10_000 * (px("10.01") - M0) / M0)
    assert s.is_spread_bps == pytest.approx(-10_000 * 200 * (F2[2] - MID[F2][0]) / (200 * M0))
    assert s.is_impact_bps == pytest.approx(-10_000 * (MID[F2][0] - MID[F2][1]) / M0)
    end = MID[F4][0]
    assert s.opportunity_bps == pytest.approx(-10_000 * (end - M0) / M0 * 200 / 400)


def test_impact_off_moves_nothing(tmp_path: Path) -> None:
    rep = build_report(write_day(tmp_path / "day", impact=False))
    b = order(rep, "B")
    assert b.is_impact_bps == 0.0
    raw = [(px("10.00"), 1000), (px("10.02"), 1000), (px("10.04"), 3000)]
    assert b.market_vwap == pytest.approx(vwap(raw + OURS), rel=1e-12)
    assert rep.benchmark is not None and rep.benchmark["impact"] is None


def test_participation_per_interval(report: BacktestReport) -> None:
    b = order(report, "B")
    # [T0, T0+5m): market 1,000; ours F1 + F2 + F3 = 400, B's 200.
    # [T0+5m, T0+10m) and the closing auction after it: market 1,000 + 3,000; ours F4.
    assert [(i.start_ns, i.end_ns) for i in b.intervals] == [
        (T0, T0 + 5 * MIN), (T0 + 5 * MIN, T0 + 10 * MIN)]
    assert [(i.market_qty, i.own_qty, i.done_qty, i.target_qty) for i in b.intervals] == [
        (1000, 400, 200, 150), (4000, 100, 100, 150)]
    assert b.intervals[0].participation == pytest.approx(200 / 1400)
    assert b.intervals[1].participation == pytest.approx(100 / 4100)
    assert b.max_interval_participation == pytest.approx(200 / 1400)
    assert b.symbol_max_interval_participation == pytest.approx(400 / 1400)
    assert b.participation == pytest.approx(300 / 5500)
    s = order(report, "S")  # no auction: F4 is not in its window's prints
    assert [(i.market_qty, i.own_qty, i.done_qty, i.target_qty) for i in s.intervals] == [
        (1000, 400, 200, None), (1000, 0, 0, None)]
    assert s.max_interval_participation == pytest.approx(200 / 1400)
    assert s.intervals[1].participation == 0
    assert s.participation == pytest.approx(200 / 2400)


def test_effective_spread_passive_rate_and_markouts(report: BacktestReport) -> None:
    b = order(report, "B")
    fills = (F1, F3, F4)
    eff = 10_000 * sum(100 * 2 * (f[2] - MID[f][0]) / MID[f][0] for f in fills) / 300
    assert b.effective_spread_bps == pytest.approx(eff, rel=1e-9)
    # B1 posted 200 - 100 removed = 100, all filled adding; B2 (cls) posted nothing.
    assert b.passive_fill_rate == pytest.approx(1.0)
    # S1 posted 400 and 200 filled adding.
    assert order(report, "S").passive_fill_rate == pytest.approx(0.5)
    # The mid h seconds after each fill: the latest quote at or before it.
    q2 = mid("10.00", "10.02", T0 + 2 * MIN + S)
    q3 = mid("10.00", "10.02", T0 + 3 * MIN + S)
    q4 = mid("10.01", "10.03", T0 + 4 * MIN + 10 * S)
    q5 = mid("10.03", "10.05", T0 + 11 * MIN)
    after = {1: (q2, q3, q4), 10: (q2, q4, q4), 60: (q2, q4, q5)}
    for h, mids in after.items():
        want = 10_000 * sum(100 * (m - f[2]) / f[2] for f, m in zip(fills, mids,
                                                                     strict=True)) / 300
        assert b.markout(h) == pytest.approx(want, rel=1e-9), h
    s = order(report, "S")  # a sell: + when the price falls after it
    assert s.markout(60) == pytest.approx(-10_000 * (q3 - F2[2]) / F2[2], rel=1e-9)


def test_fees_venues_and_child_counts(report: BacktestReport) -> None:
    b = order(report, "B")
    # -0.20 c rebate (100 added, XNYS) + 0.30 c (100 removed, XNYS) + 0.15 c (auction,
    # ARCX) = 0.25 cents.
    assert b.fees_usd == pytest.approx(0.0025)
    assert b.fees_bps == pytest.approx(10_000 * 0.0025 / (10.01 * 100 + 10.02 * 100
                                                          + 10.04 * 100))
    assert order(report, "S").fees_usd == pytest.approx(-0.005)  # 200 added: a rebate
    assert [(v.venue, v.fills, v.shares, v.passive_shares) for v in b.venues] == [
        ("ARCX", 1, 100, 0), ("XNYS", 2, 200, 100)]
    assert b.venues[1].avg_px == pytest.approx(10.015)
    assert b.venues[0].fees_usd == pytest.approx(0.0015)
    assert b.venues[1].fees_usd == pytest.approx(0.001)
    assert b.child_requests == {"new": 2, "cancel": 0, "replace": 1}
    s = order(report, "S")
    assert s.child_requests == {"new": 1, "cancel": 1, "replace": 0}
    assert len(s.fills) == 1  # the repeat counted once


def test_dispersion_in_the_summary(report: BacktestReport) -> None:
    slips = [order(report, o).slippage_bps for o in ("B", "S")]
    shortfalls = [order(report, o).is_bps for o in ("B", "S")]
    t1 = math.tan(0.475 * math.pi)  # Student t, 1 degree of freedom, 97.5%
    s = report.summary()
    for key, xs in (("slippage", slips), ("is", shortfalls)):
        a, b = (x for x in xs if x is not None)
        mean, sd = (a + b) / 2, abs(a - b) / math.sqrt(2)
        assert s[f"{key}_n"] == 2
        assert s[f"{key}_sd_bps"] == pytest.approx(sd, rel=1e-9)
        assert s[f"{key}_ci95_low_bps"] == pytest.approx(mean - t1 * sd / math.sqrt(2),
                                                         rel=1e-7)
        assert s[f"{key}_ci95_high_bps"] == pytest.approx(mean + t1 * sd / math.sqrt(2),
                                                          rel=1e-7)
    assert s["mean_is_bps"] == pytest.approx(sum(x for x in shortfalls if x) / 2)
    assert "not independent" in s["dispersion_caution"]
    # From the results alone (a report over several days has nothing else).
    assert BacktestReport(Path("days"), report.results).summary() == s


def test_student_t_quantiles() -> None:
    from post_trade.quality import t_975

    # Closed forms: nu = 1 tan(0.475 pi); nu = 2 sqrt(2) q / sqrt(1 - q^2), q = 0.95.
    assert t_975(1) == pytest.approx(math.tan(0.475 * math.pi), rel=1e-10)
    assert t_975(2) == pytest.approx(math.sqrt(2) * 0.95 / math.sqrt(1 - 0.95**2), rel=1e-10)
    assert t_975(30) == pytest.approx(2.0423, abs=1e-4)  # the printed tables
    assert t_975(1000) == pytest.approx(1.9623, abs=1e-4)


def test_json_states_the_choices_and_has_no_nan(report: BacktestReport) -> None:
    d = json.loads(json.dumps(report.as_dict(), allow_nan=False))
    bench = d["benchmark"]
    assert bench["own_prints_included"] is True
    assert bench["impact"] == {"rebuilt": True, "y": 1.0, "permanent": 0.5, "decay_s": 60.0}
    assert bench["latency_us"] == {"platform": 50, "venue": 250, "venues": {}}
    assert bench["interval_minutes"] == 5 and "stock option" in bench["sale_conditions_left_out"]
    b = next(o for o in d["orders"] if o["order_id"] == "B")
    for key in ("is_bps", "is_delay_bps", "is_spread_bps", "is_impact_bps", "is_timing_bps",
                "opportunity_bps", "fees_usd", "fees_bps", "effective_spread_bps",
                "passive_fill_rate_pct", "markout_1s_bps", "markout_10s_bps",
                "markout_60s_bps", "day_vwap_usd", "market_vwap_ex_auctions_usd",
                "max_interval_participation_pct", "symbol_max_interval_participation_pct"):
        assert isinstance(b[key], float), key
    assert b["intervals"][0]["participation_pct"] == pytest.approx(100 * 200 / 1400)
    assert b["venues"][1]["venue"] == "XNYS" and b["child_orders"]["replace"] == 1


def test_tables_fit_80_columns_and_charts_are_written(report: BacktestReport,
                                                      tmp_path: Path) -> None:
    console = Console(width=200, record=True, color_system=None)
    for table in (render(report), render_costs(report)):
        console.print(table)
    text = console.export_text()
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 80
    assert "IS vs arrival" in summary_line(report)
    paths = plot_orders(report, report.day, tmp_path / "charts")
    assert [p.name for p in paths] == ["B.png", "S.png"]
    assert all(p.read_bytes()[:8] == PNG and p.stat().st_size > 10_000 for p in paths)
