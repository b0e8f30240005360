"""The fill model (fix_gateways.venue_sim.market): each rule pinned with exact numbers."""

from __future__ import annotations

import pytest

from fix_gateways.venue_sim.market import (
    LOCKED_IN,
    Ack,
    Cancelled,
    CancelRejected,
    Fill,
    Reject,
    Replaced,
    Restated,
    TradeCanceled,
    TradeCorrected,
    Venue,
    VenueConfig,
    VenueEvent,
    VenueSim,
)

D = 10_000


def px(dollars: str) -> int:
    whole, _, frac = dollars.partition(".")
    return int(whole) * D + int((frac + "0000")[:4])


def fills(events: list[VenueEvent]) -> list[tuple[str, int, int, str]]:
    return [(e.order_id, e.qty, e.px, e.liquidity) for e in events if isinstance(e, Fill)]


def kinds(events: list[VenueEvent]) -> list[str]:
    return [type(e).__name__ for e in events]


def queue(v: Venue, order_id: str) -> int:
    o = v.order(order_id)
    assert o is not None, f"{order_id} is not live"
    return o.queue_ahead


def venue(config: VenueConfig | None = None, bid: str = "10.00", bid_size: int = 500,
          ask: str = "10.01", ask_size: int = 200) -> Venue:
    v = Venue("XT", config)
    v.on_quote("IBM", px(bid), bid_size, px(ask), ask_size, 1)
    return v


# ---------------------------------------------------------------- rule 1: taking


def test_a_marketable_order_walks_the_depth_model_and_the_rest_rests() -> None:
    v = venue()
    ev = v.new_order("b1", "IBM", "buy", 700, px=px("10.03"), ts_ns=5)
    assert ev == [
        Ack("XT", "b1", "XT-1", "XT-O1", 5),
        Fill("XT", "b1", "XT-2", 200, px("10.01"), "removed", 200, 500, 5),
        Fill("XT", "b1", "XT-3", 200, px("10.02"), "removed", 400, 300, 5),
        Fill("XT", "b1", "XT-4", 200, px("10.03"), "removed", 600, 100, 5),
    ]
    o = v.order("b1")
    assert o is not None and (o.leaves, o.px, o.queue_ahead) == (100, px("10.03"), 0)


def test_what_we_take_is_gone_until_that_side_of_the_quote_changes() -> None:
    v = venue()
    v.new_order("b1", "IBM", "buy", 300, px=px("10.02"))  # 200 @ 10.01, 100 @ 10.02
    # touch 10.01 and 4 further ticks of 200 each: 10.02 has 100 left, 10.05 is the last
    ev = v.new_order("m1", "IBM", "buy", 1000, ord_type="market")
    assert fills(ev) == [("m1", 100, px("10.02"), "removed"), ("m1", 200, px("10.03"), "removed"),
                         ("m1", 200, px("10.04"), "removed"), ("m1", 200, px("10.05"), "removed")]
    assert ev[-1] == Cancelled("XT", "m1", "XT-9", 300, "no liquidity", True, 0)
    # the same ask again, and a row that moves only the bid: still taken
    v.on_quote("IBM", px("10.00"), 500, px("10.01"), 200, 2)
    v.on_quote("IBM", px("9.99"), 700, px("10.01"), 200, 3)
    assert fills(v.new_order("m2", "IBM", "buy", 100, ord_type="market")) == []
    # the ask changes: the venue shows liquidity anew
    v.on_quote("IBM", px("9.99"), 700, px("10.01"), 300, 4)
    assert fills(v.new_order("m3", "IBM", "buy", 100, ord_type="market")) == [
        ("m3", 100, px("10.01"), "removed")]


# ---------------------------------------------------------------- rule 7: the interval cap

MINUTE = 60_000_000_000


def test_a_flickering_quote_gives_no_more_than_it_showed_in_the_interval() -> None:
    """Every size change on the ask gives the liquidity back (rule 1); within one
    interval the cap holds our takes to the most the ask showed (no prints)."""
    flicker = [(200 if i % 2 == 0 else 250) for i in range(20)]

    def takes(config: VenueConfig) -> int:
        v = venue(config)
        done = 0
        for i, size in enumerate(flicker):
            v.on_quote("IBM", px("10.00"), 500, px("10.01"), size, 10 + i)
            done += sum(q for _o, q, _p, _l in fills(
                v.new_order(f"t{i}", "IBM", "buy", 1000, px=px("10.01"), tif="ioc",
                            ts_ns=10 + i)))
        return done

    assert takes(VenueConfig()) == sum(flicker)  # without the cap: 4,500 shares taken
    assert takes(VenueConfig(interval_ns=MINUTE)) == 250  # the most the ask showed


def test_the_venues_prints_add_to_what_the_interval_gives_and_a_new_interval_starts_afresh(
) -> None:
    v = venue(VenueConfig(interval_ns=MINUTE))
    assert fills(v.new_order("a", "IBM", "buy", 150, ord_type="market", ts_ns=2)) == [
        ("a", 150, px("10.01"), "removed")]
    v.note_print("IBM", 300, 3)  # printed while none of our orders rested
    v.on_quote("IBM", px("10.00"), 500, px("10.01"), 210, 4)  # shown so far: 210
    # room: 210 shown + 300 printed - 150 taken = 360; the quote offers 210 + depth
    assert sum(q for _o, q, _p, _l in fills(
        v.new_order("b", "IBM", "buy", 1000, ord_type="market", ts_ns=5))) == 360
    # the ask shows 220: 10 more than the interval's most so far, and only that is new
    v.on_quote("IBM", px("10.00"), 500, px("10.01"), 220, 6)
    assert fills(v.new_order("c", "IBM", "buy", 100, ord_type="market", ts_ns=7)) == [
        ("c", 10, px("10.01"), "removed")]
    # a resting buy is held to the room too: a print of 100 through it adds 100 to the
    # room, and 100 is what it gets of its 500
    v.new_order("r", "IBM", "buy", 500, px=px("10.00"), ts_ns=8)
    assert fills(v.on_trade("IBM", px("9.99"), 100, 9)) == [("r", 100, px("10.00"), "added")]
    assert fills(v.on_trade("IBM", px("9.99"), 50, 10)) == [("r", 50, px("10.00"), "added")]
    # the next interval: the quote's size is what is shown, prints start from 0
    v.on_quote("IBM", px("10.00"), 500, px("10.01"), 230, MINUTE + 1)
    assert sum(q for _o, q, _p, _l in fills(
        v.new_order("d", "IBM", "buy", 1000, ord_type="market", ts_ns=MINUTE + 2))) == 230
    # the sell side has its own room: the bid's 500 shown
    assert sum(q for _o, q, _p, _l in fills(
        v.new_order("e", "IBM", "sell", 1000, ord_type="market", ts_ns=MINUTE + 3))) == 500


def test_a_side_that_leaves_the_quote_keeps_the_queues_on_it() -> None:
    v = venue()
    v.new_order("b1", "IBM", "buy", 100, px=px("10.00"))  # joins the bid: 500 ahead
    v.new_order("b2", "IBM", "buy", 100, px=px("9.99"))  # behind the touch: 500 ahead
    assert [v.order(i).queue_ahead for i in ("b1", "b2")] == [500, 500]  # type: ignore[union-attr]
    v.on_quote("IBM", 0, 0, px("10.01"), 200, 2)  # the venue's bid leaves the quote
    assert [v.order(i).queue_ahead for i in ("b1", "b2")] == [500, 500]  # type: ignore[union-attr]
    # nothing trades us through while the side is away but a print that consumes the queue
    assert fills(v.on_trade("IBM", px("10.00"), 300, 3)) == []
    v.on_quote("IBM", px("10.00"), 400, px("10.01"), 200, 4)  # back, smaller: cut to 400
    assert [v.order(i).queue_ahead for i in ("b1", "b2")] == [200, 500]  # type: ignore[union-attr]
    v.on_quote("IBM", px("9.99"), 800, px("10.01"), 200, 5)  # back lower: 10.00 emptied
    assert [v.order(i).queue_ahead for i in ("b1", "b2")] == [0, 500]  # type: ignore[union-attr]


def test_a_depth_profile_and_an_ioc_remainder() -> None:
    v = venue(VenueConfig(depth=(50,)))
    ev = v.new_order("i1", "IBM", "buy", 500, px=px("10.05"), tif="ioc")
    assert fills(ev) == [("i1", 200, px("10.01"), "removed"), ("i1", 100, px("10.02"), "removed")]
    assert isinstance(ev[-1], Cancelled) and (ev[-1].qty, ev[-1].reason) == (200, "ioc remainder")
    assert v.order("i1") is None


def test_sells_walk_down_and_market_orders_on_an_empty_side_are_cancelled() -> None:
    v = venue(VenueConfig(depth=(100,)))
    ev = v.new_order("s1", "IBM", "sell_short", 800, px=px("9.99"))
    assert fills(ev) == [("s1", 500, px("10.00"), "removed"), ("s1", 300, px("9.99"), "removed")]
    v.on_quote("IBM", 0, 0, px("10.01"), 200, 2)
    ev = v.new_order("m1", "IBM", "sell", 100, ord_type="market")
    assert kinds(ev) == ["Ack", "Cancelled"] and ev[1] == Cancelled(
        "XT", "m1", "XT-5", 100, "no liquidity", True, 0)


def test_fill_or_kill_fills_in_full_or_not_at_all() -> None:
    v = venue(VenueConfig(depth=()))
    ev = v.new_order("f1", "IBM", "buy", 300, px=px("10.01"), tif="fok")
    assert fills(ev) == [] and isinstance(ev[-1], Cancelled) and ev[-1].qty == 300
    ev = v.new_order("f2", "IBM", "buy", 200, px=px("10.01"), tif="fok")
    assert fills(ev) == [("f2", 200, px("10.01"), "removed")]


# ---------------------------------------------------------------- rules 2 and 3: queues, trades


def test_trades_at_our_price_consume_the_queue_ahead_first() -> None:
    v = venue()
    v.new_order("b1", "IBM", "buy", 300, px=px("10.00"))
    assert queue(v, "b1") == 500
    assert v.on_trade("IBM", px("10.00"), 200, 3) == []
    assert queue(v, "b1") == 300
    ev = v.on_trade("IBM", px("10.00"), 400, 4)
    assert ev == [Fill("XT", "b1", "XT-2", 100, px("10.00"), "added", 100, 200, 4)]
    assert fills(v.on_trade("IBM", px("10.00"), 1000, 5)) == [("b1", 200, px("10.00"), "added")]
    assert v.order("b1") is None


def test_two_of_our_orders_in_one_queue() -> None:
    v = venue(bid_size=300)
    v.new_order("o1", "IBM", "buy", 200, px=px("10.00"))  # 300 ahead
    v.on_quote("IBM", px("10.00"), 500, px("10.01"), 200, 2)  # bigger: o1 keeps 300
    v.new_order("o2", "IBM", "buy", 400, px=px("10.00"))  # 500 ahead, 200 of them behind o1
    assert fills(v.on_trade("IBM", px("10.00"), 400, 3)) == [("o1", 100, px("10.00"), "added")]
    assert queue(v, "o2") == 200
    assert fills(v.on_trade("IBM", px("10.00"), 400, 4)) == [
        ("o1", 100, px("10.00"), "added"), ("o2", 100, px("10.00"), "added")]


def test_a_trade_through_fills_at_our_price_up_to_its_size_best_price_first() -> None:
    v = venue()
    v.new_order("a", "IBM", "buy", 100, px=px("10.01"))  # takes 100 @10.01
    v.on_quote("IBM", px("10.00"), 500, px("10.02"), 200, 2)
    v.new_order("b", "IBM", "buy", 100, px=px("10.01"))  # improves the bid: nothing ahead
    v.new_order("c", "IBM", "buy", 500, px=px("10.00"))  # 500 ahead
    ev = v.on_trade("IBM", px("9.99"), 150, 3)  # through both levels
    assert fills(ev) == [("b", 100, px("10.01"), "added"), ("c", 50, px("10.00"), "added")]
    assert queue(v, "c") == 0
    assert fills(v.on_trade("IBM", px("9.98"), 1000, 4)) == [("c", 450, px("10.00"), "added")]


def test_sells_fill_on_trades_at_or_above_their_price() -> None:
    v = venue(ask_size=100)
    v.new_order("s", "IBM", "sell", 300, px=px("10.01"))  # joins the ask: 100 ahead
    assert fills(v.on_trade("IBM", px("10.00"), 500, 2)) == []  # below our price
    assert fills(v.on_trade("IBM", px("10.01"), 150, 3)) == [("s", 50, px("10.01"), "added")]
    assert fills(v.on_trade("IBM", px("10.03"), 400, 4)) == [("s", 250, px("10.01"), "added")]


def test_queue_positions_behind_the_touch_and_on_quote_changes() -> None:
    v = venue(VenueConfig(depth=(100, 50)), bid_size=400)
    v.new_order("t", "IBM", "buy", 100, px=px("10.00"))
    v.new_order("k1", "IBM", "buy", 100, px=px("9.99"))
    v.new_order("k2", "IBM", "buy", 100, px=px("9.98"))
    v.new_order("k9", "IBM", "buy", 100, px=px("9.90"))
    queues = {o.order_id: o.queue_ahead for o in v.open_orders("IBM")}
    assert queues == {"t": 400, "k1": 400, "k2": 200, "k9": 200}
    v.on_quote("IBM", px("10.00"), 150, px("10.01"), 200, 2)  # fewer shown: cut to 150
    assert queue(v, "t") == 150
    v.on_quote("IBM", px("10.00"), 900, px("10.01"), 200, 3)  # more shown: still 150
    assert queue(v, "t") == 150
    v.on_quote("IBM", px("9.99"), 900, px("10.01"), 200, 4)  # the 10.00 level emptied
    assert queue(v, "t") == 0
    assert queue(v, "k1") == 400  # at the touch: min


# ---------------------------------------------------------------- rule 4: quote crossing


def test_a_quote_that_crosses_a_resting_order_fills_it_as_maker_at_our_price() -> None:
    v = venue()
    v.new_order("b", "IBM", "buy", 300, px=px("10.00"))
    v.new_order("c", "IBM", "buy", 300, px=px("9.99"))
    ev = v.on_quote("IBM", px("9.97"), 100, px("9.99"), 400, 2)
    assert ev == [Fill("XT", "b", "XT-3", 300, px("10.00"), "added", 300, 0, 2),
                  Fill("XT", "c", "XT-4", 100, px("9.99"), "added", 100, 200, 2)]
    assert queue(v, "c") == 0
    # a taker on the same quote finds the crossed size used up at 9.99
    assert fills(v.new_order("m", "IBM", "buy", 100, ord_type="market"))[0][2] == px("10.00")


# ---------------------------------------------------------------- post-only, cancel, replace


def test_post_only() -> None:
    v = venue()
    assert v.new_order("p", "IBM", "buy", 100, px=px("10.01"), post_only=True) == [
        Reject("XT", "p", "XT-1", "post-only order would take liquidity", 0)]
    assert kinds(v.new_order("q", "IBM", "buy", 100, px=px("10.00"), post_only=True)) == ["Ack"]
    assert v.replace("q", 100, px("10.01")) == [
        CancelRejected("XT", "q", "replace", "post-only order would take liquidity", 0)]
    assert v.new_order("r", "IBM", "buy", 100, ord_type="market", post_only=True)[0] == Reject(
        "XT", "r", "XT-3", "a post-only order must be a resting limit order", 0)


def test_cancel_and_its_refusals() -> None:
    v = venue()
    v.new_order("b", "IBM", "buy", 300, px=px("10.00"))
    assert v.cancel("b", 7) == [Cancelled("XT", "b", "XT-2", 300, "requested", False, 7)]
    assert v.cancel("b") == [CancelRejected("XT", "b", "cancel", "too late: order is done", 0)]
    assert v.cancel("zz") == [CancelRejected("XT", "zz", "cancel", "unknown order", 0)]
    assert v.new_order("b", "IBM", "buy", 1, px=px("10.00"))[0] == Reject(
        "XT", "b", "XT-3", "duplicate order id", 0)


def test_replace_keeps_the_queue_only_down_at_the_same_price() -> None:
    v = venue()
    v.new_order("b", "IBM", "buy", 300, px=px("10.00"))
    v.on_trade("IBM", px("10.00"), 100, 2)  # 400 ahead now
    assert v.replace("b", 200, px("10.00")) == [
        Replaced("XT", "b", "XT-2", 200, px("10.00"), 200, 0)]
    assert queue(v, "b") == 400
    v.replace("b", 250, px("10.00"))  # up: to the back, behind the displayed 500
    assert queue(v, "b") == 500
    ev = v.replace("b", 250, px("10.01"))  # repriced to marketable: takes at once
    assert kinds(ev) == ["Replaced", "Fill"]
    assert fills(ev) == [("b", 200, px("10.01"), "removed")]
    o = v.order("b")  # the rest rests at 10.01, better than the 10.00 bid: nothing ahead
    assert o is not None and (o.leaves, o.px, o.queue_ahead) == (50, px("10.01"), 0)


def test_replace_to_at_or_below_the_filled_quantity_ends_the_order() -> None:
    v = venue()
    v.new_order("b", "IBM", "buy", 300, px=px("10.00"))
    v.on_trade("IBM", px("9.99"), 100, 2)
    assert v.replace("b", 100, px("10.00")) == [
        Replaced("XT", "b", "XT-3", 100, px("10.00"), 0, 0)]
    assert v.order("b") is None and v.open_orders() == []


# ---------------------------------------------------------------- auctions


def test_opening_auction_fills_at_the_print_in_priority_up_to_the_volume() -> None:
    v = Venue("XT", VenueConfig(pre_open=True))
    v.new_order("mb", "IBM", "buy", 300, ord_type="market")
    v.new_order("lb", "IBM", "buy", 500, px=px("10.02"))
    v.new_order("lo", "IBM", "buy", 200, px=px("9.95"))
    v.new_order("so", "IBM", "sell", 400, px=px("10.00"), tif="opg")
    assert v.new_order("i", "IBM", "buy", 100, px=px("10.00"), tif="ioc")[0] == Reject(
        "XT", "i", "XT-5", "not accepted before the open", 0)
    assert v.on_quote("IBM", px("9.90"), 100, px("9.92"), 100, 1) == []  # collecting only
    assert v.on_trade("IBM", px("9.91"), 5000, 2) == []
    ev = v.run_auction("IBM", "opening", px("10.00"), 600, 3)
    assert fills(ev) == [("mb", 300, px("10.00"), "auction"), ("lb", 300, px("10.00"), "auction"),
                         ("so", 400, px("10.00"), "auction")]
    assert v.phase("IBM") == "continuous"
    rest = {o.order_id: (o.leaves, o.held, o.queue_ahead) for o in v.open_orders("IBM")}
    assert rest == {"lb": (200, "", 0), "lo": (200, "", 0)}  # both improve the 9.90 bid
    with pytest.raises(ValueError, match="no opening auction"):
        v.run_auction("IBM", "opening", px("10.00"), 600, 4)


def test_auction_share_caps_our_fills_and_unfilled_opg_orders_are_cancelled() -> None:
    v = Venue("XT", VenueConfig(pre_open=True, auction_share_bp=2_500))
    v.new_order("so", "IBM", "sell", 400, px=px("10.00"), tif="opg")
    v.new_order("mb", "IBM", "buy", 300, ord_type="market")
    ev = v.run_auction("IBM", "opening", px("10.01"), 1000, 3)  # 250 per side
    assert fills(ev) == [("mb", 250, px("10.01"), "auction"), ("so", 250, px("10.01"), "auction")]
    assert [(e.order_id, e.qty) for e in ev if isinstance(e, Cancelled)] == [
        ("so", 150), ("mb", 50)]
    assert v.open_orders() == []


def test_closing_auction_locks_cls_orders_and_cancels_the_rest() -> None:
    v = venue(VenueConfig(close_cutoff_ns=1_000))
    v.new_order("moc", "IBM", "buy", 300, ord_type="market", tif="cls")
    v.new_order("loc", "IBM", "buy", 300, px=px("10.05"), tif="cls")
    v.new_order("day", "IBM", "buy", 200, px=px("9.99"))
    v.new_order("far", "IBM", "buy", 200, px=px("9.50"))
    assert v.on_trade("IBM", px("9.00"), 10_000, 5) == [  # held orders do not trade
        Fill("XT", "day", "XT-5", 200, px("9.99"), "added", 200, 0, 5),
        Fill("XT", "far", "XT-6", 200, px("9.50"), "added", 200, 0, 5)]
    v.new_order("day2", "IBM", "buy", 200, px=px("10.00"))
    assert v.cancel("loc", 999)[0].__class__ is Cancelled
    v.new_order("loc2", "IBM", "buy", 300, px=px("10.05"), tif="cls")
    assert v.cancel("moc", 1_000) == [CancelRejected("XT", "moc", "cancel", LOCKED_IN, 1_000)]
    assert v.replace("loc2", 100, px("10.05"), 2_000)[0] == CancelRejected(
        "XT", "loc2", "replace", LOCKED_IN, 2_000)
    assert kinds(v.cancel("day2", 2_000)) == ["Cancelled"]  # a day order is not locked
    v.new_order("day3", "IBM", "buy", 100, px=px("10.00"))
    ev = v.run_auction("IBM", "closing", px("10.02"), 500, 3_000)
    assert fills(ev) == [("moc", 300, px("10.02"), "auction"),
                         ("loc2", 200, px("10.02"), "auction")]
    assert [(e.order_id, e.qty, e.reason) for e in ev if isinstance(e, Cancelled)] == [
        ("loc2", 100, "unfilled in the closing auction"), ("day3", 100, "expired at the close")]
    assert v.phase("IBM") == "closed" and v.open_orders() == []
    assert v.new_order("late", "IBM", "buy", 1, px=px("10.00"))[0].__class__ is Reject


# ---------------------------------------------------------------- the venue's own actions


def test_force_fill_unsolicited_cancel_and_restate() -> None:
    v = venue()
    v.new_order("b", "IBM", "buy", 300, px=px("10.00"))
    assert v.force_fill("b", 100, px("10.00"), ts_ns=4) == [
        Fill("XT", "b", "XT-2", 100, px("10.00"), "added", 100, 200, 4)]
    assert v.restate("b", 250, px("9.99"), "price band") == [
        Restated("XT", "b", "XT-3", 250, px("9.99"), 150, "price band", 0)]
    o = v.order("b")
    assert o is not None and (o.px, o.leaves, o.queue_ahead) == (px("9.99"), 150, 500)
    assert v.unsolicited_cancel("b", "halt") == [
        Cancelled("XT", "b", "XT-4", 150, "halt", True, 0)]
    with pytest.raises(KeyError):
        v.force_fill("b", 1, px("10.00"))


def test_unsolicited_cancel_and_restate_carry_a_restatement_reason() -> None:
    v = venue()
    v.new_order("b", "IBM", "buy", 300, px=px("10.00"))
    assert v.restate("b", 200, px("10.00"), "lot", 3, "partial_decline") == [
        Restated("XT", "b", "XT-2", 200, px("10.00"), 200, "lot", 3, "partial_decline")]
    assert v.unsolicited_cancel("b", "halt", 4, "trading_halt") == [
        Cancelled("XT", "b", "XT-3", 200, "halt", True, 4, "trading_halt")]
    assert v.open_orders() == []


def test_a_bust_takes_the_fill_back_and_leaves_the_leaves() -> None:
    v = venue()
    v.new_order("b", "IBM", "buy", 300, px=px("10.00"))
    v.force_fill("b", 100, px("10.00"))  # XT-2
    v.on_trade("IBM", px("9.99"), 50, 2)  # XT-3: 50 more
    assert v.bust("b", "XT-2", 5) == [
        TradeCanceled("XT", "b", "XT-4", "XT-2", 100, px("10.00"), 200, 50, 150, 5)]
    o = v.order("b")
    assert o is not None and (o.qty, o.cum_qty, o.leaves) == (200, 50, 150)
    assert o.fills == {"XT-3": (50, px("10.00"))}
    # still working: the next trade through fills it up to its leaves
    assert fills(v.on_trade("IBM", px("9.98"), 1000, 6)) == [("b", 150, px("10.00"), "added")]
    with pytest.raises(ValueError, match="no fill 'XT-2'"):
        v.bust("b", "XT-2")  # once only


def test_a_filled_order_stays_done_after_a_bust() -> None:
    v = venue()
    v.new_order("b", "IBM", "buy", 300, px=px("10.01"))  # takes 200 @10.01 (XT-2)
    v.on_trade("IBM", px("10.00"), 100, 2)  # 100 @10.01 through it (XT-3): filled
    assert v.order("b") is None
    ev = v.bust("b", "XT-2")
    assert ev == [TradeCanceled("XT", "b", "XT-4", "XT-2", 200, px("10.01"), 100, 100, 0, 0)]
    assert v.order("b") is None and v.open_orders() == []
    assert v.on_trade("IBM", px("9.00"), 10_000, 3) == []  # nothing comes back to life
    assert v.cancel("b")[0] == CancelRejected("XT", "b", "cancel", "too late: order is done")


def test_a_correct_replaces_the_fill_and_a_later_one_names_the_correction() -> None:
    v = venue()
    v.new_order("b", "IBM", "buy", 300, px=px("10.00"))
    v.force_fill("b", 100, px("10.00"))  # XT-2
    assert v.correct("b", "XT-2", 80, px("9.99"), 7) == [
        TradeCorrected("XT", "b", "XT-3", "XT-2", 80, px("9.99"), 100, px("10.00"), 280, 80,
                       200, 7)]
    o = v.order("b")
    assert o is not None and (o.qty, o.cum_qty, o.leaves) == (280, 80, 200)
    with pytest.raises(ValueError, match="correction's exec id"):
        v.correct("b", "XT-2", 50, px("9.99"))  # the corrected fill goes by XT-3 now
    assert v.correct("b", "XT-3", 120, px("9.98"))[0] == TradeCorrected(
        "XT", "b", "XT-4", "XT-3", 120, px("9.98"), 80, px("9.99"), 320, 120, 200)
    assert v.bust("b", "XT-4")[0] == TradeCanceled(
        "XT", "b", "XT-5", "XT-4", 120, px("9.98"), 200, 0, 200)
    o = v.order("b")
    assert o is not None and (o.qty, o.cum_qty, o.fills) == (200, 0, {})


def test_bust_and_correct_refuse_what_they_cannot_find() -> None:
    v = venue()
    v.new_order("b", "IBM", "buy", 300, px=px("10.00"))
    v.force_fill("b", 100, px("10.00"))
    with pytest.raises(ValueError, match="no order 'zz'"):
        v.bust("zz", "XT-2")
    with pytest.raises(ValueError, match="no fill 'XT-1'"):
        v.bust("b", "XT-1")  # the ack's exec id is no fill
    for qty, price in ((0, px("10.00")), (100, 0), (-5, px("10.00"))):
        with pytest.raises(ValueError, match="positive"):
            v.correct("b", "XT-2", qty, price)
    o = v.order("b")
    assert o is not None and o.cum_qty == 100  # nothing changed


# ---------------------------------------------------------------- several venues


def test_venue_sim_hosts_venues_with_their_own_counters() -> None:
    sim = VenueSim(["AAA", "BBB"])
    sim.on_quote("IBM", px("10.00"), 500, px("10.01"), 200, 1)
    sim["AAA"].new_order("a", "IBM", "buy", 100, px=px("10.00"))
    sim["BBB"].new_order("b", "IBM", "buy", 100, px=px("9.99"))
    ev = sim.on_quote("IBM", px("9.98"), 500, px("9.99"), 600, 2)
    assert [(e.venue, e.order_id, e.exec_id, e.px) for e in ev if isinstance(e, Fill)] == [
        ("AAA", "a", "AAA-2", px("10.00")), ("BBB", "b", "BBB-2", px("9.99"))]
    assert sim.on_trade("IBM", px("9.99"), 100, 3, venue="AAA") == []


def test_the_same_inputs_give_the_same_events() -> None:
    def day() -> list[VenueEvent]:
        v = Venue("XT", VenueConfig(pre_open=True))
        out = v.new_order("x", "IBM", "buy", 300, px=px("10.00"))
        out += v.run_auction("IBM", "opening", px("10.00"), 100, 1)
        out += v.on_quote("IBM", px("10.00"), 300, px("10.01"), 300, 2)
        out += v.new_order("y", "IBM", "sell", 500, px=px("10.00"))
        out += v.on_trade("IBM", px("10.00"), 700, 3)
        return out

    first = day()
    assert first == day() and any(isinstance(e, Ack) for e in first)
