"""The container's invariants under a strategy that asks for anything (hypothesis):
whatever sequence of child requests it makes, the ones the guard lets through
never put the open quantity above the parent's leaves, never price a child
outside the parent's limit, and never reach a venue that is down."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from algo_engine.guard import ParentTerms, check_new, check_replace, price_outside

BUY = ParentTerms(side="buy", qty=1000, cum_qty=200, ord_type="limit", limit_px=1_700_000,
                  open_child_qty=300)
SELL = replace(BUY, side="sell")


def test_a_child_beyond_the_parents_leaves_is_refused() -> None:
    assert check_new(BUY, 500, "limit", 1_700_000, "ARCX", frozenset()) == ""
    why = check_new(BUY, 501, "limit", 1_700_000, "ARCX", frozenset())
    assert "above what the parent has left (500 not yet placed)" in why


def test_prices_outside_the_limit_and_market_children_of_limit_parents_are_refused() -> None:
    assert "above the parent's limit" in check_new(BUY, 100, "limit", 1_700_100, "ARCX",
                                                   frozenset())
    assert check_new(BUY, 100, "limit", 1_699_900, "ARCX", frozenset()) == ""
    assert "below the parent's limit" in check_new(SELL, 100, "limit", 1_699_900, "ARCX",
                                                   frozenset())
    assert "trade through its limit" in check_new(BUY, 100, "market", 0, "ARCX", frozenset())
    market = replace(BUY, ord_type="market", limit_px=0)
    assert check_new(market, 100, "market", 0, "ARCX", frozenset()) == ""
    assert check_new(market, 100, "limit", 1_800_000, "ARCX", frozenset()) == ""
    assert "needs a price" in price_outside(BUY, "limit", 0)


def test_a_venue_that_is_down_and_a_frozen_parent_get_nothing_new() -> None:
    assert check_new(BUY, 100, "limit", 1_700_000, "ARCX", frozenset({"ARCX"})) == (
        "venue ARCX is down")
    frozen = replace(BUY, frozen=True)
    assert "being carried out" in check_new(frozen, 100, "limit", 1_700_000, "ARCX",
                                            frozenset())
    # ... but its children may still shrink, not grow.
    assert check_replace(frozen, 300, 100, "limit", 1_700_000) == ""
    assert "no child grows" in check_replace(frozen, 300, 400, "limit", 1_700_000)


def test_a_replace_may_grow_a_child_only_into_the_parents_leaves() -> None:
    assert check_replace(BUY, 300, 800, "limit", 1_700_000) == ""
    assert "above what the parent has left" in check_replace(BUY, 300, 801, "limit",
                                                             1_700_000)
    assert "above the parent's limit" in check_replace(BUY, 300, 300, "limit", 1_700_001)


_request = st.tuples(st.sampled_from(["new", "grow", "shrink", "fill"]),
                     st.integers(-50, 1500), st.sampled_from(["limit", "market"]),
                     st.integers(0, 3_400_000), st.sampled_from(["ARCX", "XNYS", "BATS"]))


@given(st.sampled_from(["buy", "sell"]), st.integers(1, 2000), st.integers(1, 3_400_000),
       st.frozensets(st.sampled_from(["ARCX", "XNYS", "BATS"])),
       st.lists(_request, max_size=60))
def test_whatever_a_strategy_asks_the_order_stays_safe(
        side: str, qty: int, limit: int, down: frozenset[str],
        requests: list[tuple[str, int, str, int, str]]) -> None:
    p = ParentTerms(side="buy" if side == "buy" else "sell", qty=qty, cum_qty=0,
                    ord_type="limit", limit_px=limit, open_child_qty=0)
    children: list[int] = []  # open quantity of each live child
    for kind, n, ord_type, px, venue in requests:
        if kind == "new":
            # ord_type is drawn from the two OrdType values; hypothesis types it as str
            if check_new(p, n, ord_type, px, venue, down) == "":  # type: ignore[arg-type]
                assert venue not in down and ord_type == "limit" and px > 0
                assert (px <= limit) if side == "buy" else (px >= limit)
                children.append(n)
        elif kind in ("grow", "shrink") and children:
            i = n % len(children)
            new = children[i] + abs(n) if kind == "grow" else max(0, children[i] - abs(n))
            if check_replace(p, children[i], new, "limit", limit) == "":
                children[i] = new
        elif kind == "fill" and children:
            i = n % len(children)
            done = min(children[i], abs(n))
            children[i] -= done
            p = replace(p, cum_qty=p.cum_qty + done)
        p = replace(p, open_child_qty=sum(children))
        assert p.open_child_qty + p.cum_qty <= p.qty
