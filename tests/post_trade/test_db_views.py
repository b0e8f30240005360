"""The canned views against the journal itself, on both databases: a seeded day of
quotes on three symbols and orders worked in children that fill at random moments.
What the views say is worked out here again in Python, straight from the messages:
the NBBO of the last quote before each fill, the blotter's states and average prices,
the activity per client and per venue, the open orders, the rejects."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

from post_trade.db.load import load_day
from sequencer.messages import Message
from sequencer.messages.executions import AVG_PX_SCALE, ExecutionReport, VenueFill, VenueReject
from sequencer.messages.marketdata import Quote
from sequencer.messages.orders import ChildOrderSent, NewOrder, ParentAccepted
from tests.post_trade.conftest import StoreFactory
from tests.post_trade.test_db_contract import DATE, write_day

SYMBOLS = {1: "AAA", 2: "BBB", 3: "CCC"}


def day_of_orders(seed: int = 7) -> list[Message]:
    rng = random.Random(seed)
    msgs: list[Message] = []
    mid = {s: 100_0000 + 10_0000 * s for s in SYMBOLS}
    orders: dict[str, dict[str, object]] = {}
    for step in range(3000):
        r = rng.random() if step >= len(SYMBOLS) else 0.0  # a quote of each symbol first
        if r < 0.6:
            s = rng.choice(list(SYMBOLS)) if step >= len(SYMBOLS) else step + 1
            mid[s] += rng.choice((-100, 0, 100))
            bid, ask = mid[s] - 100 * rng.randint(1, 3), mid[s] + 100 * rng.randint(1, 3)
            msgs.append(Quote(symbol_id=s, venue="XNYS", bid_px=bid, bid_size=100,
                              ask_px=ask, ask_size=200, exch_time_ns=step, nbbo_bid_px=bid,
                              nbbo_bid_size=300 + s, nbbo_ask_px=ask, nbbo_ask_size=400 + s))
        elif (r < 0.7 or not orders) and len(orders) < 40:
            oid = f"O{len(orders) + 1}"
            sym = SYMBOLS[rng.choice(list(SYMBOLS))]
            side = rng.choice(("buy", "sell"))
            client = rng.choice(("ALPHA", "BETA"))
            qty = 100 * rng.randint(5, 30)
            msgs.append(NewOrder(client=client, cl_ord_id=f"C{oid}", symbol=sym, side=side,
                                 qty=qty, ord_type="market"))
            # The acknowledgement first: its cause (the frame before it) is the order.
            msgs.append(ExecutionReport(client=client, order_id=oid, cl_ord_id=f"C{oid}",
                                        orig_cl_ord_id="", exec_id=f"E{oid}-0", exec_type="new",
                                        ord_status="new", symbol=sym, side=side,
                                        order_qty=qty, cum_qty=0, leaves_qty=qty))
            msgs.append(ParentAccepted(order_id=oid, client=client, cl_ord_id=f"C{oid}",
                                       symbol=sym, side=side, qty=qty, ord_type="market",
                                       limit_px=0, tif="day", algo="dma", algo_params=()))
            orders[oid] = {"client": client, "sym": sym, "side": side, "qty": qty, "cum": 0,
                           "notional": 0, "children": [], "n": 0}
        else:
            oid = rng.choice(sorted(orders))
            o = orders[oid]
            left = int(o["qty"]) - int(o["cum"])  # type: ignore[call-overload]
            if left <= 0:
                continue
            kids: list[str] = o["children"]  # type: ignore[assignment]
            cid = f"{oid}.{len(kids) + 1}"
            kids.append(cid)
            venue = rng.choice(("XNYS", "ARCX"))
            msgs.append(ChildOrderSent(action="new", parent_id=oid, child_id=cid, venue=venue,
                                       destination=f"DMA-{venue}", symbol=str(o["sym"]),
                                       side=o["side"], qty=left, ord_type="market"))  # type: ignore[arg-type]
            if rng.random() < 0.15:
                msgs.append(VenueReject(child_id=cid, reason="no route"))
                continue
            q = min(left, 100 * rng.randint(1, 10))
            sid = next(k for k, v in SYMBOLS.items() if v == o["sym"])
            px = mid[sid] + rng.choice((-100, 0, 100))
            o["cum"] = int(o["cum"]) + q  # type: ignore[call-overload]
            o["notional"] = int(o["notional"]) + q * px  # type: ignore[call-overload]
            o["n"] = int(o["n"]) + 1  # type: ignore[call-overload]
            msgs.append(VenueFill(child_id=cid, exec_id=f"V{cid}", qty=q, px=px,
                                  liquidity=rng.choice(("added", "removed")),
                                  leaves_qty=left - q))
            cum, qty = int(o["cum"]), int(o["qty"])  # type: ignore[call-overload]
            avg = int(o["notional"]) * AVG_PX_SCALE // 10_000 // cum  # type: ignore[call-overload]
            msgs.append(ExecutionReport(
                client=str(o["client"]), order_id=oid, cl_ord_id=f"C{oid}", orig_cl_ord_id="",
                exec_id=f"E{oid}-{o['n']}", exec_type="trade",
                ord_status="filled" if cum == qty else "partially_filled", symbol=str(o["sym"]),
                side=o["side"], order_qty=qty, cum_qty=cum, leaves_qty=qty - cum,  # type: ignore[arg-type]
                last_qty=q, last_px=px, avg_px=avg))
    return msgs


def _dec(v: int, scale: int = 10_000) -> Decimal:
    return Decimal(v) / scale


def test_the_views_say_what_the_journal_says(store_factory: StoreFactory,
                                             tmp_path: Path) -> None:
    day = tmp_path / "day"
    msgs = day_of_orders()
    write_day(day, msgs)
    store, _ = store_factory(day)
    load_day(day, store)
    store.put_symbols(DATE, [(k, v, "XNYS", 100) for k, v in SYMBOLS.items()])

    # The journal's seqs: SystemStart is 1, the messages follow.
    last_quote: dict[int, tuple[int, Quote]] = {}
    children: dict[str, ChildOrderSent] = {}
    want_fills = []
    last_er: dict[str, ExecutionReport] = {}
    kids: dict[str, list[str]] = {}
    for seq, m in enumerate(msgs, start=2):
        if isinstance(m, Quote):
            last_quote[m.symbol_id] = (seq, m)
        elif isinstance(m, ChildOrderSent):
            children[m.child_id] = m
            kids.setdefault(m.parent_id, []).append(m.child_id)
        elif isinstance(m, ExecutionReport):
            last_er[m.order_id] = m
        elif isinstance(m, VenueFill):
            c = children[m.child_id]
            sid = next(k for k, v in SYMBOLS.items() if v == c.symbol)
            qseq, q = last_quote[sid]
            mid2 = q.nbbo_bid_px + q.nbbo_ask_px
            bps = ((2 * m.px - mid2) if c.side == "buy" else (mid2 - 2 * m.px)) * 10_000 / mid2
            want_fills.append((seq, c.parent_id, m.child_id, c.symbol, c.side, c.venue, m.qty,
                               _dec(m.px), qseq, _dec(q.nbbo_bid_px), _dec(q.nbbo_ask_px),
                               Decimal(f"{bps:.2f}")))
    assert len(want_fills) > 100
    _n, got = store.query(
        "SELECT seq, parent_id, child_id, symbol, side, venue, qty, px, quote_seq, nbbo_bid, "
        "nbbo_ask, vs_mid_bps FROM fills_nbbo ORDER BY seq")
    assert [tuple(r) for r in got] == want_fills

    _n, got = store.query(
        "SELECT order_id, client, ord_status, order_qty, filled, leaves, avg_px, children, "
        "child_ids FROM blotter ORDER BY order_id")
    want = sorted((e.order_id, e.client, e.ord_status, e.order_qty, e.cum_qty, e.leaves_qty,
                   _dec(e.avg_px, AVG_PX_SCALE), len(kids.get(e.order_id, [])),
                   " ".join(kids.get(e.order_id, []))) for e in last_er.values())
    assert [tuple(r) for r in got] == want

    _n, got = store.query("SELECT client, orders, ordered, filled FROM client_activity "
                          "ORDER BY client")
    per: dict[str, list[int]] = {}
    for e in last_er.values():
        row = per.setdefault(e.client, [0, 0, 0])
        row[0] += 1
        row[1] += e.order_qty
        row[2] += e.cum_qty
    assert [tuple(r) for r in got] == [(c, *v) for c, v in sorted(per.items())]

    _n, got = store.query("SELECT venue, children, sent, filled, fills, rejected "
                          "FROM venue_activity ORDER BY venue")
    rejected = {m.child_id for m in msgs if isinstance(m, VenueReject)}
    fills = [m for m in msgs if isinstance(m, VenueFill)]
    venues: dict[str, list[int]] = {}
    for c in children.values():
        row = venues.setdefault(c.venue, [0, 0, 0, 0, 0])
        row[0] += 1
        row[1] += c.qty
        row[2] += sum(f.qty for f in fills if f.child_id == c.child_id)
        row[3] += sum(1 for f in fills if f.child_id == c.child_id)
        row[4] += c.child_id in rejected
    assert [tuple(r) for r in got] == [(v, *x) for v, x in sorted(venues.items())]

    _n, got = store.query("SELECT order_id, leaves FROM open_orders ORDER BY order_id")
    assert [tuple(r) for r in got] == sorted(
        (e.order_id, e.leaves_qty) for e in last_er.values() if e.leaves_qty > 0)

    _n, got = store.query("SELECT kind, id, reason FROM rejects ORDER BY seq")
    assert [tuple(r) for r in got] == [("venue", m.child_id, m.reason) for m in msgs
                                       if isinstance(m, VenueReject)]

    _n, got = store.query("SELECT order_id, answer FROM slowest_orders ORDER BY order_id")
    assert sorted(tuple(r) for r in got) == sorted(
        (e.order_id, "new") for e in last_er.values())
