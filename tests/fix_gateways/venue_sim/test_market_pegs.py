"""Pegged orders in the fill model (fix_gateways.venue_sim.market, rule 6): priced from
the venue's quote and capped by their limit, re-priced on every quote with a fresh
queue, never taking; pinned with exact numbers, and a property over random quotes
and trades."""

from __future__ import annotations

from typing import Any

from hypothesis import given, note, settings
from hypothesis import strategies as st

from fix_gateways.venue_sim.market import (
    SIDES,
    Ack,
    Cancelled,
    Fill,
    Peg,
    Quote,
    Reject,
    Replaced,
    Restated,
    Venue,
    VenueConfig,
    VenueEvent,
    exec_inst_terms,
    peg_price,
)
from sequencer.messages.orders import TimeInForce
from tests.fix_gateways.venue_sim.test_market import fills, kinds, px, queue, venue

PEGS: tuple[Peg, ...] = ("mid", "primary")


def live(v: Venue, order_id: str) -> tuple[int, int]:
    """(price, queue ahead) of a live order."""
    o = v.order(order_id)
    assert o is not None, f"{order_id} is not live"
    return o.px, o.queue_ahead


# ---------------------------------------------------------------- the price


def test_peg_price_primary_mid_rounding_and_cap() -> None:
    q = Quote(px("10.00"), 500, px("10.03"), 200)
    assert peg_price(q, "buy", "primary") == px("10.00")
    assert peg_price(q, "sell", "primary") == px("10.03")
    # the midpoint 10.015 rounds to the tick away from crossing: a buy down, a sell up
    assert peg_price(q, "buy", "mid") == px("10.01")
    assert peg_price(q, "sell", "mid") == px("10.02")
    # the cap: a buy never above its limit, a sell never below
    assert peg_price(q, "buy", "mid", px("10.00")) == px("10.00")
    assert peg_price(q, "buy", "mid", px("10.05")) == px("10.01")
    assert peg_price(q, "sell", "primary", px("10.05")) == px("10.05")
    assert peg_price(q, "sell", "mid", px("9.00")) == px("10.02")
    # a one-tick spread: the mid peg joins the touch
    one = Quote(px("10.00"), 1, px("10.01"), 1)
    assert (peg_price(one, "buy", "mid"), peg_price(one, "sell", "mid")) == (
        px("10.00"), px("10.01"))
    # below a dollar the tick is 1/10,000
    sub = Quote(5_000, 1, 5_003, 1)
    assert (peg_price(sub, "buy", "mid"), peg_price(sub, "sell", "mid")) == (5_001, 5_002)
    # across the dollar: the sell's 1.00 is on the cent tick
    assert peg_price(Quote(9_999, 1, 10_100, 1), "sell", "mid") == 10_100
    assert peg_price(Quote(9_900, 1, 10_000, 1), "buy", "mid") == 9_950


def test_no_price_without_its_side_or_on_a_locked_or_crossed_quote() -> None:
    bid_only = Quote(px("10.00"), 500, 0, 0)
    assert peg_price(bid_only, "buy", "primary") == px("10.00")
    assert peg_price(bid_only, "sell", "primary") == 0
    assert peg_price(bid_only, "buy", "mid") == 0  # a mid needs both sides
    assert peg_price(Quote(px("10.00"), 0, px("10.01"), 5), "buy", "primary") == 0  # no size
    for locked in (Quote(px("10.00"), 5, px("10.00"), 5), Quote(px("10.01"), 5, px("10.00"), 5)):
        for side in SIDES:
            for peg in PEGS:
                assert peg_price(locked, side, peg, px("10.00")) == 0


def test_exec_inst_terms() -> None:
    assert exec_inst_terms(()) == (False, "")
    assert exec_inst_terms(("participate_dont_initiate", "mid_peg")) == (True, "mid")
    assert exec_inst_terms(("primary_peg", "primary_peg")) == (False, "primary")
    try:
        exec_inst_terms(("mid_peg", "primary_peg"))
    except ValueError as e:
        assert "both" in str(e)
    else:
        raise AssertionError("two pegs were accepted")


# ---------------------------------------------------------------- arrival


def test_a_peg_rests_at_its_price_with_the_queue_of_rule_2_and_never_takes() -> None:
    v = venue()  # 10.00 x 500 / 10.01 x 200
    assert v.new_order("pb", "IBM", "buy", 300, ord_type="market", peg="primary", ts_ns=3) == [
        Ack("XT", "pb", "XT-1", "XT-O1", 3)]
    assert live(v, "pb") == (px("10.00"), 500)  # joins the bid behind its size
    v.new_order("ps", "IBM", "sell", 300, ord_type="market", peg="primary")
    assert live(v, "ps") == (px("10.01"), 200)
    # capped far through the other side: a limit order would take, a peg rests
    assert kinds(v.new_order("mb", "IBM", "buy", 100, px=px("10.50"), peg="mid")) == ["Ack"]
    assert live(v, "mb") == (px("10.00"), 500)  # one-tick spread: mid rounds down to the bid
    assert kinds(v.new_order("lim", "IBM", "buy", 100, px=px("10.50"))) == ["Ack", "Fill"]
    # post only changes nothing for a peg (it never takes), even on a marketable cap
    assert kinds(v.new_order("po", "IBM", "sell", 100, px=px("9.00"), peg="primary",
                             post_only=True)) == ["Ack"]
    assert live(v, "po") == (px("10.01"), 200)
    # a cap behind the touch: the depth model's size there
    v.new_order("deep", "IBM", "buy", 100, px=px("9.98"), peg="primary")
    assert live(v, "deep") == (px("9.98"), 500)


def test_a_peg_inside_the_spread_has_nothing_ahead() -> None:
    v = venue(ask="10.05")  # the midpoint is 10.025
    v.new_order("ms", "IBM", "sell", 100, ord_type="market", peg="mid")
    v.new_order("mb", "IBM", "buy", 100, ord_type="market", peg="mid")
    assert live(v, "ms") == (px("10.03"), 0)  # up, improving the ask: nothing ahead
    assert live(v, "mb") == (px("10.02"), 0)  # down, improving the bid


def test_pegs_must_rest() -> None:
    v = venue()
    tifs: tuple[TimeInForce, ...] = ("ioc", "fok", "opg", "cls")
    for tif in tifs:
        ev = v.new_order(f"x-{tif}", "IBM", "buy", 100, ord_type="market", tif=tif, peg="mid")
        assert len(ev) == 1 and isinstance(ev[0], Reject)
        assert ev[0].reason == "a pegged order must be a day or GTC order"
    assert kinds(v.new_order("g", "IBM", "buy", 100, ord_type="market", tif="gtc",
                             peg="mid")) == ["Ack"]
    assert kinds(v.new_order("bad", "IBM", "buy", 100, px=0, peg="mid")) == ["Reject"]


def test_an_unpriced_peg_waits_and_cannot_fill() -> None:
    v = Venue("XT")
    v.new_order("p", "IBM", "buy", 300, ord_type="market", peg="primary")
    v.new_order("m", "IBM", "sell", 300, px=px("10.00"), peg="mid")
    assert live(v, "p") == (0, 0) and live(v, "m") == (0, 0)
    assert v.on_trade("IBM", px("1.00"), 10_000, 1) == []
    assert v.on_trade("IBM", px("99.00"), 10_000, 2) == []
    assert v.on_quote("IBM", 0, 0, px("10.01"), 200, 3) == []  # no bid: p and m wait
    assert live(v, "p") == (0, 0) and live(v, "m") == (0, 0)
    assert v.on_quote("IBM", px("10.00"), 400, px("10.04"), 200, 4) == []
    assert live(v, "p") == (px("10.00"), 400)
    assert live(v, "m") == (px("10.02"), 0)
    # a locked quote that crosses neither unprices them again (no fill, no take)
    assert v.on_quote("IBM", px("10.01"), 100, px("10.01"), 100, 5) == []
    assert live(v, "p") == (0, 0) and live(v, "m") == (0, 0)
    assert v.on_trade("IBM", px("10.01"), 10_000, 6) == []
    assert [o.order_id for o in v.open_orders("IBM")] == ["p", "m"]
    # a locked quote at a peg's own price crosses it first (rule 4 at its price so far)
    v.on_quote("IBM", px("10.00"), 400, px("10.04"), 200, 7)
    assert fills(v.on_quote("IBM", px("10.02"), 100, px("10.02"), 100, 8)) == [
        ("m", 100, px("10.02"), "added")]
    assert live(v, "m") == (0, 0)


# ---------------------------------------------------------------- quotes


def test_every_quote_reprices_with_a_fresh_queue_and_an_unchanged_price_keeps_its_place(
) -> None:
    v = venue()
    v.new_order("l", "IBM", "buy", 100, px=px("10.00"))  # a plain limit at the bid: 500 ahead
    v.new_order("p", "IBM", "buy", 300, ord_type="market", peg="primary")  # 500 ahead too
    assert v.on_trade("IBM", px("10.00"), 400, 2) == []
    assert queue(v, "p") == 100
    # the bid grows at the same price: the peg keeps its place (rule 2: cut only)
    v.on_quote("IBM", px("10.00"), 900, px("10.01"), 200, 3)
    assert live(v, "p") == (px("10.00"), 100)
    # the bid moves up: re-priced to 10.01, behind the displayed 300, later in time
    v.on_quote("IBM", px("10.01"), 300, px("10.02"), 200, 4)
    assert live(v, "p") == (px("10.01"), 300)
    # back down: a new price again, a fresh queue of the displayed size (priority lost)
    v.on_quote("IBM", px("10.00"), 700, px("10.01"), 200, 5)
    assert live(v, "p") == (px("10.00"), 700)
    assert queue(v, "l") == 100  # the plain limit kept its place
    assert [o.order_id for o in v.open_orders("IBM")] == ["l", "p"]
    # a trade at 10.00 fills the limit (its queue is consumed first), not the peg
    assert fills(v.on_trade("IBM", px("10.00"), 250, 6)) == [("l", 100, px("10.00"), "added")]
    assert queue(v, "p") == 550


def test_the_cap_holds_through_requotes() -> None:
    v = venue()
    v.new_order("c", "IBM", "buy", 200, px=px("10.01"), peg="primary")
    assert live(v, "c")[0] == px("10.00")
    for bid in ("10.01", "10.02", "10.05"):
        v.on_quote("IBM", px(bid), 100, px("10.10"), 100, 2)
        assert live(v, "c")[0] == px("10.01")  # never above its limit
    # capped at 10.01 while the bid is 10.05: behind the touch, the depth model's size
    assert queue(v, "c") == 100
    v.on_quote("IBM", px("9.95"), 100, px("10.10"), 100, 3)
    assert live(v, "c") == (px("9.95"), 100)


def test_a_quote_that_crosses_the_peg_fills_it_at_its_old_price_then_it_reprices() -> None:
    v = venue()
    v.new_order("p", "IBM", "buy", 300, ord_type="market", peg="primary")
    ev = v.on_quote("IBM", px("9.98"), 400, px("9.99"), 200, 2)  # the market fell through us
    assert ev == [Fill("XT", "p", "XT-2", 200, px("10.00"), "added", 200, 100, 2)]
    assert live(v, "p") == (px("9.98"), 400)  # the rest re-priced to the new bid


def test_trades_fill_a_peg_at_its_current_price() -> None:
    v = venue()
    v.new_order("m", "IBM", "sell", 300, ord_type="market", peg="mid")
    v.on_quote("IBM", px("10.00"), 500, px("10.04"), 200, 2)
    assert live(v, "m") == (px("10.02"), 0)
    assert fills(v.on_trade("IBM", px("10.02"), 100, 3)) == [("m", 100, px("10.02"), "added")]
    assert fills(v.on_trade("IBM", px("10.03"), 500, 4)) == [("m", 200, px("10.02"), "added")]
    assert v.order("m") is None


# ---------------------------------------------------------------- replace, restate


def test_replace_keeps_the_peg_and_changes_its_quantity_or_cap() -> None:
    v = venue()
    v.new_order("c", "IBM", "buy", 300, px=px("10.00"), peg="mid")
    v.on_trade("IBM", px("10.00"), 100, 2)
    assert live(v, "c") == (px("10.00"), 400)
    # down at the same cap: its place kept
    assert v.replace("c", 200, px("10.00")) == [
        Replaced("XT", "c", "XT-2", 200, px("10.00"), 200, 0)]
    assert live(v, "c") == (px("10.00"), 400)
    # a lower cap: still pegged, now at the cap, a fresh queue (depth model); never takes
    assert kinds(v.replace("c", 200, px("9.99"))) == ["Replaced"]
    assert live(v, "c") == (px("9.99"), 500)
    # a cap through the ask: the mid peg rests at the midpoint (the bid here), no take
    assert kinds(v.replace("c", 200, px("10.50"))) == ["Replaced"]
    assert live(v, "c") == (px("10.00"), 500)
    o = v.order("c")
    assert o is not None and (o.peg, o.cap, o.qty) == ("mid", px("10.50"), 200)
    v.on_quote("IBM", px("10.02"), 100, px("10.06"), 100, 3)
    assert live(v, "c")[0] == px("10.04")


def test_replace_of_a_market_peg_and_of_a_peg_held_before_the_open() -> None:
    v = venue()
    v.new_order("m", "IBM", "sell", 300, ord_type="market", peg="primary")
    assert v.replace("m", 300, px("10.01"))[0].__class__.__name__ == "CancelRejected"
    assert kinds(v.replace("m", 400, 0)) == ["Replaced"]  # up: the back of the queue
    assert live(v, "m") == (px("10.01"), 200)
    pre = Venue("XT", VenueConfig(pre_open=True))
    pre.new_order("h", "IBM", "buy", 100, px=px("10.00"), peg="primary")
    assert kinds(pre.replace("h", 100, px("10.05"))) == ["Replaced"]
    o = pre.order("h")
    assert o is not None and (o.held, o.cap, o.px) == ("opening", px("10.05"), 0)


def test_restate_keeps_the_peg() -> None:
    v = venue()
    v.new_order("p", "IBM", "buy", 300, px=px("10.05"), peg="primary")
    assert v.restate("p", 300, px("9.99"), "cap", restatement_reason="repricing") == [
        Restated("XT", "p", "XT-2", 300, px("9.99"), 300, "cap", 0, "repricing")]
    assert live(v, "p") == (px("9.99"), 500)
    v.on_quote("IBM", px("9.97"), 100, px("10.01"), 100, 2)
    assert live(v, "p") == (px("9.97"), 100)


# ---------------------------------------------------------------- auctions


def test_pegs_sit_out_the_auctions() -> None:
    v = Venue("XT", VenueConfig(pre_open=True))
    v.new_order("p", "IBM", "buy", 300, ord_type="market", peg="primary")
    v.new_order("m", "IBM", "buy", 300, ord_type="market")  # a market order does take part
    v.on_quote("IBM", px("9.99"), 100, px("10.01"), 100, 1)
    ev = v.run_auction("IBM", "opening", px("10.00"), 10_000, 2)
    assert fills(ev) == [("m", 300, px("10.00"), "auction")]
    assert live(v, "p") == (px("9.99"), 100)  # rests from the open at the latest quote
    v.new_order("u", "IBM", "sell", 100, ord_type="market", peg="mid")
    v.on_quote("IBM", 0, 0, px("10.01"), 100, 3)  # no bid: p and u are unpriced
    assert live(v, "u") == (0, 0) and live(v, "p") == (0, 0)
    v.on_quote("IBM", px("9.99"), 100, px("10.01"), 100, 4)
    ev = v.run_auction("IBM", "closing", px("10.00"), 10_000, 5)
    assert fills(ev) == []
    assert sorted((e.order_id, e.qty, e.reason) for e in ev if isinstance(e, Cancelled)) == [
        ("p", 300, "expired at the close"), ("u", 100, "expired at the close")]
    assert v.open_orders() == []


def test_an_unpriced_peg_expires_at_the_close_too() -> None:
    v = Venue("XT")
    v.new_order("u", "IBM", "buy", 100, ord_type="market", peg="mid")
    ev = v.run_auction("IBM", "closing", px("10.00"), 1_000, 1)
    assert [(e.order_id, e.reason) for e in ev if isinstance(e, Cancelled)] == [
        ("u", "expired at the close")]


# ---------------------------------------------------------------- property

PRICES = [px("9.97"), px("9.98"), px("9.99"), px("10.00"), px("10.01"), px("10.02"),
          px("10.03")]
ORDERS = st.tuples(st.sampled_from(["buy", "sell"]), st.sampled_from(["mid", "primary"]),
                   st.sampled_from([0, *PRICES]), st.integers(1, 500))
# a quote: the bid (0: none), a size, the spread in ticks (None: no ask; 0 locked, -1
# crossed), a size
STEPS = st.lists(st.one_of(
    st.tuples(st.just("quote"), st.sampled_from([0, *PRICES]), st.integers(0, 400),
              st.one_of(st.none(), st.integers(-1, 4)), st.integers(0, 400)),
    st.tuples(st.just("trade"), st.sampled_from(PRICES), st.integers(1, 1200)),
    st.tuples(st.just("order"), ORDERS),
), max_size=30)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(STEPS)
def test_pegs_sit_at_their_capped_price_and_never_take(steps: list[tuple[Any, ...]]) -> None:
    v = Venue("XT")
    priced: dict[str, int] = {}  # each peg's price after the last step
    n = 0
    for step in steps:
        note(repr(step))
        events: list[VenueEvent]
        if step[0] == "quote":
            _k, bid, bid_size, spread, ask_size = step
            ask = 0 if spread is None else (bid or px("10.00")) + 100 * spread
            events = v.on_quote("IBM", bid, bid_size, ask, ask_size, 1)
        elif step[0] == "trade":
            _k, p, size = step
            events = v.on_trade("IBM", p, size, 1)
        else:
            side, peg, cap, qty = step[1]
            n += 1
            events = v.new_order(f"o{n}", "IBM", side, qty, "limit" if cap else "market", cap,
                                 peg=peg)
            assert kinds(events) == ["Ack"]  # accepted, and nothing taken
        for e in events:
            if isinstance(e, Fill):  # a maker fill at the price it had before this step
                assert e.liquidity == "added" and e.px == priced[e.order_id] > 0
        quote = v.quote("IBM")
        priced = {}
        for o in v.open_orders("IBM"):
            want = peg_price(quote, o.book_side, o.peg, o.cap)
            assert o.px == want
            if o.cap and o.px:
                assert (o.px <= o.cap) if o.book_side == "buy" else (o.px >= o.cap)
            assert 0 <= o.cum_qty < o.qty
            priced[o.order_id] = o.px


def test_peg_kind_literal_matches_exec_inst() -> None:
    assert tuple(exec_inst_terms((w,))[1] for w in ("mid_peg", "primary_peg")) == PEGS
