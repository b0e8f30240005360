"""The venue simulator's order book: hand-pinned cases and property tests.

The property tests run random sequences of adds (limit, market, IOC, post-only,
invalid ones, duplicate ids), cancels and replaces (down, up, repriced, below the
filled quantity, of dead orders) through the fast book and the naive reference
(`naive_book.py`), and require the same events (fills with the same match ids,
makers, takers, quantities, prices and leaves, in the same order) and the same
resting book after every step. Also after every step: the book is not crossed,
no order is filled beyond its quantity, and every resting order's leaves are its
quantity less its fills. The auction property compares the uncross price with a
brute force over every integer price, and checks the allocation.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from fix_gateways.venue_sim.book import (
    LOCKED_IN,
    Accepted,
    Book,
    Cancelled,
    CancelRejected,
    Event,
    Fill,
    Liquidity,
    OrdType,
    Rejected,
    Replaced,
    Side,
    Tif,
    Uncrossed,
)
from tests.fix_gateways.venue_sim.naive_book import NaiveBook

D = 10_000  # one dollar, fixed point


def px(dollars: str) -> int:
    whole, _, frac = dollars.partition(".")
    return int(whole) * D + int((frac + "0000")[:4])


def fills(events: list[Event]) -> list[Fill]:
    return [e for e in events if isinstance(e, Fill)]


# ---------------------------------------------------------------- continuous trading


def test_price_then_time_priority_and_fills_at_the_makers_price() -> None:
    b = Book()
    b.add("s1", "sell", 100, px("10.02"))
    b.add("s2", "sell", 100, px("10.01"))
    b.add("s3", "sell", 100, px("10.01"))
    ev = b.add("b1", "buy", 150, px("10.05"))
    assert ev == [
        Accepted("b1"),
        Fill(1, "s2", "b1", 100, px("10.01"), "added", "removed", 0, 50),
        Fill(2, "s3", "b1", 50, px("10.01"), "added", "removed", 50, 0),
    ]
    assert b.resting() == [("sell", px("10.01"), "s3", 50), ("sell", px("10.02"), "s1", 100)]


def test_a_partial_fill_walks_levels_and_the_rest_rests_at_the_limit() -> None:
    b = Book()
    b.add("s1", "sell", 100, px("10.00"))
    b.add("s2", "sell", 200, px("10.01"))
    b.add("s3", "sell", 300, px("10.03"))
    ev = b.add("b1", "buy", 500, px("10.02"))
    assert [(f.maker_id, f.qty, f.px) for f in fills(ev)] == [
        ("s1", 100, px("10.00")), ("s2", 200, px("10.01"))]
    assert b.best_bid() == (px("10.02"), 200)
    assert b.best_ask() == (px("10.03"), 300)
    assert b.depth("buy") == [(px("10.02"), 200, 1)]


def test_replace_down_at_the_same_price_keeps_priority() -> None:
    b = Book()
    b.add("a", "buy", 300, px("10.00"))
    b.add("b", "buy", 300, px("10.00"))
    assert b.replace("a", 200, px("10.00")) == [Replaced("a", 200, px("10.00"), 200, True)]
    ev = b.add("s", "sell", 250, px("10.00"))
    assert [(f.maker_id, f.qty) for f in fills(ev)] == [("a", 200), ("b", 50)]


def test_replace_up_or_repriced_loses_priority() -> None:
    b = Book()
    b.add("a", "buy", 300, px("10.00"))
    b.add("b", "buy", 300, px("10.00"))
    assert b.replace("a", 400, px("10.00")) == [Replaced("a", 400, px("10.00"), 400, False)]
    assert [r[2] for r in b.resting()] == ["b", "a"]
    b.add("c", "buy", 100, px("9.99"))
    b.replace("b", 300, px("9.99"))  # repriced: behind c at its new level
    assert [r[2] for r in b.resting()] == ["a", "c", "b"]


def test_a_repriced_order_that_crosses_trades_as_a_taker() -> None:
    b = Book()
    b.add("s", "sell", 100, px("10.01"))
    b.add("a", "buy", 300, px("10.00"))
    ev = b.replace("a", 300, px("10.01"))
    assert ev == [Replaced("a", 300, px("10.01"), 300, False),
                  Fill(1, "s", "a", 100, px("10.01"), "added", "removed", 0, 200)]
    assert b.best_bid() == (px("10.01"), 200)


def test_replace_to_at_or_below_the_filled_quantity_ends_the_order() -> None:
    b = Book()
    b.add("a", "buy", 300, px("10.00"))
    b.add("s", "sell", 100, px("10.00"))
    assert b.replace("a", 100, px("10.00")) == [Replaced("a", 100, px("10.00"), 0, False)]
    assert b.order("a") is None and b.best_bid() is None
    assert b.cancel("a") == [CancelRejected("a", "cancel", "unknown order")]


def test_post_only_that_would_take_is_rejected() -> None:
    b = Book()
    b.add("s", "sell", 100, px("10.01"))
    assert b.add("p", "buy", 100, px("10.01"), post_only=True) == [
        Rejected("p", "post-only order would take liquidity")]
    assert b.add("q", "buy", 100, px("10.00"), post_only=True) == [Accepted("q")]
    assert b.replace("q", 100, px("10.02")) == [
        CancelRejected("q", "replace", "post-only order would take liquidity")]
    assert b.resting() == [("buy", px("10.00"), "q", 100), ("sell", px("10.01"), "s", 100)]


def test_ioc_remainder_is_cancelled() -> None:
    b = Book()
    b.add("s", "sell", 100, px("10.00"))
    ev = b.add("i", "buy", 300, px("10.00"), tif="ioc")
    assert ev[1:] == [Fill(1, "s", "i", 100, px("10.00"), "added", "removed", 0, 200),
                      Cancelled("i", 200, "ioc")]
    assert len(b) == 0


def test_market_order_on_an_empty_side_is_cancelled() -> None:
    b = Book()
    b.add("bid", "buy", 100, px("10.00"))
    assert b.add("m", "buy", 100, ord_type="market") == [
        Accepted("m"), Cancelled("m", 100, "no liquidity")]
    ev = b.add("m2", "sell", 250, ord_type="market")
    assert ev[1:] == [Fill(1, "bid", "m2", 100, px("10.00"), "added", "removed", 0, 150),
                      Cancelled("m2", 150, "no liquidity")]


def test_invalid_orders_are_rejected() -> None:
    b = Book()
    assert b.add("a", "buy", 0, px("10.00")) == [Rejected("a", "quantity must be positive")]
    assert b.add("a", "buy", 100, 0) == [Rejected("a", "limit price must be positive")]
    assert b.add("a", "buy", 100, px("10.00")) == [Accepted("a")]
    assert b.add("a", "buy", 100, px("10.00")) == [Rejected("a", "duplicate order id")]


# ---------------------------------------------------------------- auctions


def test_opening_auction_uncross_price_and_allocation() -> None:
    b = Book(phase="opening_auction")
    b.add("B1", "buy", 200, ord_type="market")
    b.add("B2", "buy", 300, px("10.02"))
    b.add("B3", "buy", 400, px("10.00"))
    b.add("S1", "sell", 250, px("9.99"))
    b.add("S2", "sell", 300, px("10.01"))
    b.add("S3", "sell", 400, px("10.03"))
    b.add("B4", "buy", 500, px("9.98"))
    b.add("S4", "sell", 100, ord_type="market")
    b.add("S5", "sell", 100, px("10.02"))
    assert b.best_bid() == (px("10.02"), 300) and b.best_ask() == (px("9.99"), 250)  # crossed
    # Executable volume at each price (buy / sell): 9.98 1400/100, 9.99 900/350,
    # 10.00 900/350, 10.01 500/650, 10.02 500/750, 10.03 200/1150. 10.01 and 10.02
    # both trade 500; 10.01 has the smaller imbalance (150 against 250).
    assert b.auction_price(px("10.02")) == (px("10.01"), 500)
    ev = b.uncross(px("10.02"))
    a: Liquidity = "auction"
    assert ev == [
        Uncrossed("opening", px("10.01"), 500),
        Fill(1, "B1", "S4", 100, px("10.01"), a, a, 100, 0),  # market orders first
        Fill(2, "B1", "S1", 100, px("10.01"), a, a, 0, 150),
        Fill(3, "B2", "S1", 150, px("10.01"), a, a, 150, 0),
        Fill(4, "B2", "S2", 150, px("10.01"), a, a, 0, 150),
    ]
    assert b.phase == "continuous"
    assert b.resting() == [
        ("buy", px("10.00"), "B3", 400), ("buy", px("9.98"), "B4", 500),
        ("sell", px("10.01"), "S2", 150), ("sell", px("10.02"), "S5", 100),
        ("sell", px("10.03"), "S3", 400)]
    # continuous trading now: a marketable order trades at once
    assert fills(b.add("x", "buy", 50, px("10.01")))[0].px == px("10.01")


def test_auction_ties_go_to_the_reference_price_then_the_lower_price() -> None:
    def book() -> Book:
        b = Book(phase="opening_auction")
        b.add("b", "buy", 100, px("10.03"))
        b.add("s", "sell", 100, px("10.00"))
        return b

    # 100 shares trade anywhere from 10.00 to 10.03 with no imbalance
    assert book().auction_price(px("10.02")) == (px("10.02"), 100)
    assert book().auction_price(px("10.05")) == (px("10.03"), 100)
    assert book().auction_price(px("9.00")) == (px("10.00"), 100)
    assert book().auction_price(0) == (px("10.00"), 100)  # no reference: the lower
    b = book()
    b.add("b2", "buy", 100, px("10.01"))
    # 100 trade at each candidate (the limit prices and the reference); at 10.00 and 10.01
    # 200 are bid (imbalance 100), at 10.03 only 100: the smaller imbalance wins over
    # the distance to the reference
    assert b.auction_price(px("10.00")) == (px("10.03"), 100)


def test_opening_auction_without_a_match_cancels_market_orders_and_opens() -> None:
    b = Book(phase="opening_auction")
    b.add("m", "buy", 100, ord_type="market")
    b.add("l", "buy", 100, px("10.00"))
    assert b.add("i", "buy", 100, px("10.00"), tif="ioc") == [
        Rejected("i", "ioc not accepted during an auction")]
    ev = b.uncross(px("10.00"))
    assert ev == [Uncrossed("opening", 0, 0),
                  Cancelled("m", 100, "market order unfilled in the opening auction")]
    assert b.phase == "continuous" and b.resting() == [("buy", px("10.00"), "l", 100)]


def test_closing_auction_cancels_leftover_day_orders_and_closes() -> None:
    b = Book()
    b.add("b1", "buy", 300, px("10.00"))
    b.add("b2", "buy", 200, px("9.99"))
    b.add("s1", "sell", 100, px("10.02"))
    b.start_auction("closing")
    b.add("moc", "sell", 400, ord_type="market")
    assert b.add("x", "sell", 100, px("9.00")) == [Accepted("x")]  # collected, no trade
    assert b.best_bid() == (px("10.00"), 300)
    ev = b.uncross(px("10.01"))
    # sell 500 (moc 400 + x 100) against buys 300 at 10.00 or 500 at 9.99: 10.00 trades 300
    # with imbalance 200, 9.99 trades 500 with imbalance 0 -> 9.99, 500 shares
    assert ev[0] == Uncrossed("closing", px("9.99"), 500)
    assert [(f.maker_id, f.taker_id, f.qty) for f in fills(ev)] == [
        ("b1", "moc", 300), ("b2", "moc", 100), ("b2", "x", 100)]
    assert ev[4:] == [Cancelled("s1", 100, "expired after the closing auction")]
    assert b.phase == "closed" and len(b) == 0
    assert b.add("late", "buy", 100, px("10.00")) == [Rejected("late", "book closed")]


def test_closing_auction_refuses_cancels_after_the_cutoff() -> None:
    b = Book()
    b.add("a", "buy", 300, px("10.00"))
    b.add("b", "buy", 300, px("10.00"))
    b.start_auction("closing", cancel_cutoff_ns=1_000)
    assert b.cancel("a", ts_ns=999) == [Cancelled("a", 300, "requested")]
    assert b.cancel("b", ts_ns=1_000) == [CancelRejected("b", "cancel", LOCKED_IN)]
    assert b.replace("b", 100, px("10.00"), ts_ns=2_000) == [
        CancelRejected("b", "replace", LOCKED_IN)]
    assert b.resting() == [("buy", px("10.00"), "b", 300)]


# ---------------------------------------------------------------- properties: continuous

PRICES = [px("9.98"), px("9.99"), px("10.00"), px("10.01"), px("10.02")]


@dataclass
class Tracked:
    side: Side
    qty: int
    px: int
    filled: int = 0
    live: bool = True


class BookMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.fast = Book()
        self.naive = NaiveBook()
        self.ids: list[str] = []
        self.orders: dict[str, Tracked] = {}

    def _check(self, fast: list[Event], naive: list[Event]) -> None:
        for e in fast:
            note(f"  {e!r}")
        assert fast == naive
        for e in fast:
            if isinstance(e, Fill):
                maker, taker = self.orders[e.maker_id], self.orders[e.taker_id]
                assert maker.live and maker.side != taker.side
                assert e.px == maker.px, "a fill is at the maker's price"
                assert taker.px == 0 or (  # a market order, or a limit that reaches e.px
                    taker.px >= e.px if taker.side == "buy" else taker.px <= e.px)
                for o, leaves in ((maker, e.maker_leaves), (taker, e.taker_leaves)):
                    o.filled += e.qty
                    assert o.filled <= o.qty, "overfilled"
                    assert leaves == o.qty - o.filled
                    o.live = leaves > 0
            elif isinstance(e, Cancelled):
                o = self.orders[e.order_id]
                assert e.qty == o.qty - o.filled
                o.live = False
            elif isinstance(e, Replaced):
                o = self.orders[e.order_id]
                o.qty, o.px = e.qty, e.px
                o.live = e.leaves > 0
                assert e.leaves == max(0, e.qty - o.filled)
        assert self.fast.resting() == self.naive.resting()

    @rule(side=st.sampled_from(["buy", "sell"]), qty=st.integers(0, 6),
          level=st.integers(0, len(PRICES) - 1),
          kind=st.sampled_from(["limit", "limit", "limit", "ioc", "market", "post_only"]),
          dup=st.integers(0, 15))
    def add(self, side: Side, qty: int, level: int, kind: str, dup: int) -> None:
        reuse = dup == 0 and self.ids  # now and then a duplicate id
        order_id = self.ids[len(self.ids) // 2] if reuse else f"o{len(self.ids)}"
        ord_type: OrdType = "market" if kind == "market" else "limit"
        tif: Tif = "ioc" if kind == "ioc" else "day"
        price = 0 if ord_type == "market" else PRICES[level]
        args = (order_id, side, qty * 50, price, ord_type, tif, kind == "post_only")
        note(f"add{args}")
        fast, naive = self.fast.add(*args), self.naive.add(*args)
        if fast and isinstance(fast[0], Accepted):
            self.ids.append(order_id)
            self.orders[order_id] = Tracked(side, qty * 50, price)
        self._check(fast, naive)

    @rule(i=st.integers(0, 1 << 16))
    def cancel(self, i: int) -> None:
        if not self.ids:
            return
        order_id = self.ids[i % len(self.ids)]
        note(f"cancel({order_id})")
        self._check(self.fast.cancel(order_id), self.naive.cancel(order_id))

    @rule(i=st.integers(0, 1 << 16), qty=st.integers(0, 8),
          level=st.integers(0, len(PRICES) - 1), same_px=st.booleans())
    def replace(self, i: int, qty: int, level: int, same_px: bool) -> None:
        if not self.ids:
            return
        order_id = self.ids[i % len(self.ids)]
        o = self.orders[order_id]
        price = o.px if same_px and o.px else PRICES[level]
        note(f"replace({order_id}, {qty * 50}, {price})")
        self._check(self.fast.replace(order_id, qty * 50, price),
                    self.naive.replace(order_id, qty * 50, price))

    @invariant()
    def not_crossed(self) -> None:
        bid, ask = self.fast.best_bid(), self.fast.best_ask()
        if bid is not None and ask is not None:
            assert bid[0] < ask[0], f"crossed: {bid} {ask}"

    @invariant()
    def resting_quantities_are_conserved(self) -> None:
        resting = self.fast.resting()
        live = {oid for oid, o in self.orders.items() if o.live}
        assert {r[2] for r in resting} == live
        for _side, price, order_id, leaves in resting:
            o = self.orders[order_id]
            assert price == o.px and leaves == o.qty - o.filled > 0


BookMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40,
                                         derandomize=True, deadline=None)
TestBookAgainstNaive = BookMachine.TestCase


# ---------------------------------------------------------------- properties: auctions

AUCTION_ORDERS = st.lists(
    st.tuples(st.sampled_from(["buy", "sell"]), st.integers(1, 5),
              st.sampled_from([0, *PRICES])),  # price 0: a market order
    min_size=1, max_size=14)


def brute_force_price(orders: list[tuple[str, int, int]], ref: int) -> tuple[int, int]:
    """The rule read literally, over the candidates: the limit prices and the reference."""

    def volumes(p: int) -> tuple[int, int]:
        bv = sum(q for s, q, x in orders if s == "buy" and (x == 0 or x >= p))
        sv = sum(q for s, q, x in orders if s == "sell" and (x == 0 or x <= p))
        return bv, sv

    best: tuple[int, int, int, int] | None = None
    for p in [x for _s, _q, x in orders if x] + [ref]:
        bv, sv = volumes(p)
        if min(bv, sv) == 0:
            continue
        rank = (-min(bv, sv), abs(bv - sv), abs(p - ref), p)
        best = rank if best is None or rank < best else best
    # no price at all, candidate or not, trades more
    most = max(min(volumes(p)) for p in range(PRICES[0] - 3, PRICES[-1] + 4))
    assert most == (0 if best is None else -best[0])
    return (0, 0) if best is None else (best[3], -best[0])


@settings(max_examples=300, derandomize=True, deadline=None)
@given(AUCTION_ORDERS, st.sampled_from(PRICES), st.sampled_from(["opening", "closing"]))
def test_auction_uncross_maximizes_volume_and_allocates_by_priority(
        raw: list[tuple[str, int, int]], ref: int, kind: str) -> None:
    orders = [(s, q * 100, x) for s, q, x in raw]
    b = Book(phase="opening_auction" if kind == "opening" else "closing_auction")
    for n, (side, qty, price) in enumerate(orders):
        side_: Side = "buy" if side == "buy" else "sell"
        b.add(f"o{n}", side_, qty, price, "market" if price == 0 else "limit")
    expected = brute_force_price(orders, ref)
    assert b.auction_price(ref) == expected
    ev = b.uncross(ref)
    assert ev[0] == Uncrossed("opening" if kind == "opening" else "closing", *expected)
    p, volume = expected
    filled = [0] * len(orders)
    for f in fills(ev):
        assert f.px == p and f.maker_liquidity == f.taker_liquidity == "auction"
        filled[int(f.maker_id[1:])] += f.qty
        filled[int(f.taker_id[1:])] += f.qty
    for side in ("buy", "sell"):
        idx = [n for n, o in enumerate(orders) if o[0] == side]
        assert sum(filled[n] for n in idx) == volume
        for n in idx:
            _s, qty, price = orders[n]
            assert filled[n] <= qty
            if filled[n]:  # executable at p
                assert price == 0 or (price >= p if side == "buy" else price <= p)
            # priority: an order with a strictly better rank is filled in full
            # before a worse one gets anything
            rank_n = (price != 0, -price if side == "buy" else price, n)
            for m in idx:
                _s2, _q2, price_m = orders[m]
                rank_m = (price_m != 0, -price_m if side == "buy" else price_m, m)
                if rank_m < rank_n and filled[n]:
                    assert filled[m] == orders[m][1]
    if kind == "opening":
        assert b.phase == "continuous"
        bid, ask = b.best_bid(), b.best_ask()
        assert bid is None or ask is None or bid[0] < ask[0]
    else:
        assert b.phase == "closed" and len(b) == 0
    for e in ev:
        if isinstance(e, Cancelled):
            n = int(e.order_id[1:])
            assert e.qty == orders[n][1] - filled[n]


def test_uncross_outside_an_auction_is_an_error() -> None:
    with pytest.raises(ValueError, match="no auction"):
        Book().uncross(px("10.00"))
