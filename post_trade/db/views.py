"""The canned views: what supervisors ask of a day, in SQL both databases run.

`CANNED` names each view with a line saying what it answers (`tape db views`
lists them); `create_all(dialect)` is every `CREATE VIEW`, the `v_<table>`
decimal views of `schema` included. The one view whose best form differs by
database is `fills_nbbo` (the last quote before each fill): DuckDB's ASOF
join, PostgreSQL's LATERAL lookup on the (day, symbol_id, seq) index.

Conventions: prices in these views are exact decimals (`schema.decimal`), times
`ts` (timestamp with time zone); every view has `day`, so a PostgreSQL
database of many days answers per day.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from post_trade.db import schema
from sequencer.messages.executions import AVG_PX_SCALE
from sequencer.messages.marketdata import PRICE_SCALE

_px = schema.decimal

#: Order states in which an order can still trade.
_OPEN = ("'new', 'partially_filled', 'pending_new', 'pending_cancel', 'pending_replace', "
         "'accepted_for_bidding', 'suspended', 'stopped'")


@dataclass(frozen=True)
class View:
    name: str
    what: str
    sql: str  # the SELECT, for both databases unless `postgres` is set
    postgres: str = ""
    order: str = "day"  # how `tape db views DAY NAME` shows it (a view has no order)

    def create(self, dialect: schema.Dialect) -> str:
        body = self.postgres if dialect == "postgres" and self.postgres else self.sql
        return f"CREATE VIEW {self.name} AS {body}"


# The last execution report of each order: its state as the client last heard it.
_LAST_ER = """
    SELECT DISTINCT ON (day, order_id) *
    FROM execution_report
    WHERE order_id <> ''
    ORDER BY day, order_id, seq DESC"""

_CHILDREN = """
    SELECT day, parent_id, count(*) AS children,
           string_agg(child_id, ' ' ORDER BY seq) AS child_ids
    FROM child_order_sent WHERE action = 'new'
    GROUP BY day, parent_id"""

BLOTTER = View("blotter", "each order: its client, terms, status, filled, leaves, average "
               "price and its children", f"""
    SELECT e.day, e.order_id, e.client, e.cl_ord_id, e.symbol, e.side,
           a.ord_type, {_px("a.limit_px", PRICE_SCALE)} AS limit_px, a.tif, a.algo,
           e.ord_status, e.order_qty, e.cum_qty AS filled, e.leaves_qty AS leaves,
           {_px("e.avg_px", AVG_PX_SCALE)} AS avg_px,
           coalesce(c.children, 0) AS children, coalesce(c.child_ids, '') AS child_ids,
           e.ts AS last_update, e.seq AS last_seq
    FROM ({_LAST_ER}) e
    LEFT JOIN parent_accepted a ON a.day = e.day AND a.order_id = e.order_id
    LEFT JOIN ({_CHILDREN}) c ON c.day = e.day AND c.parent_id = e.order_id""",
    order="day, last_seq DESC")

_FILL_HEAD = f"""
    SELECT f.day, f.seq, f.ts, c.parent_id, f.child_id, c.symbol, c.side, c.venue,
           f.exec_id, f.qty, {_px("f.px", PRICE_SCALE)} AS px, f.liquidity,
           q.seq AS quote_seq,
           {_px("q.nbbo_bid_px", PRICE_SCALE)} AS nbbo_bid,
           {_px("q.nbbo_ask_px", PRICE_SCALE)} AS nbbo_ask,
           q.nbbo_bid_size, q.nbbo_ask_size,
           CASE WHEN q.nbbo_bid_px > 0 AND q.nbbo_ask_px > 0 THEN
             CAST((CASE WHEN c.side = 'buy' THEN 2 * f.px - q.nbbo_bid_px - q.nbbo_ask_px
                   ELSE q.nbbo_bid_px + q.nbbo_ask_px - 2 * f.px END)
                  * 10000.0 / (q.nbbo_bid_px + q.nbbo_ask_px) AS DECIMAL(18,2))
           END AS vs_mid_bps
    FROM venue_fill f
    JOIN child_order_sent c ON c.day = f.day AND c.child_id = f.child_id AND c.action = 'new'
    LEFT JOIN symbols s ON s.day = f.day AND s.symbol = c.symbol"""

FILLS_NBBO = View(
    "fills_nbbo", "each venue fill with the NBBO of the last quote before it (and the "
    "price against the mid, in basis points, positive worse)",
    _FILL_HEAD + """
    ASOF LEFT JOIN quote q
      ON q.day = f.day AND q.symbol_id = s.symbol_id AND f.seq > q.seq""",
    postgres=_FILL_HEAD + """
    LEFT JOIN LATERAL (
      SELECT * FROM quote q
      WHERE q.day = f.day AND q.symbol_id = s.symbol_id AND q.seq < f.seq
      ORDER BY q.seq DESC LIMIT 1) q ON true""", order="day, seq DESC")

CLIENT_ACTIVITY = View("client_activity", "per client: orders, shares ordered and filled, "
                       "notional, rejected and open orders", f"""
    SELECT day, client, count(*) AS orders, sum(order_qty) AS ordered, sum(cum_qty) AS filled,
           {_px("sum(cum_qty * avg_px)", AVG_PX_SCALE)} AS notional,
           sum(CASE WHEN ord_status = 'rejected' THEN 1 ELSE 0 END) AS rejected,
           sum(CASE WHEN ord_status IN ({_OPEN}) THEN 1 ELSE 0 END) AS open
    FROM ({_LAST_ER}) e
    GROUP BY day, client""", order="day, client")

VENUE_ACTIVITY = View("venue_activity", "per venue: children sent, shares sent and filled, "
                      "notional, fills, passive share, rejects and cancels", f"""
    SELECT c.day, c.venue, count(*) AS children, sum(c.qty) AS sent,
           coalesce(sum(f.filled), 0) AS filled, coalesce(sum(f.fills), 0) AS fills,
           {_px("coalesce(sum(f.notional), 0)", PRICE_SCALE)} AS notional,
           coalesce(sum(f.passive), 0) AS passive,
           sum(CASE WHEN r.child_id IS NULL THEN 0 ELSE 1 END) AS rejected,
           sum(CASE WHEN x.child_id IS NULL THEN 0 ELSE 1 END) AS canceled
    FROM child_order_sent c
    LEFT JOIN (SELECT day, child_id, sum(qty) AS filled, count(*) AS fills,
                      sum(qty * px) AS notional,
                      sum(CASE WHEN liquidity = 'added' THEN qty ELSE 0 END) AS passive
               FROM venue_fill GROUP BY day, child_id) f
      ON f.day = c.day AND f.child_id = c.child_id
    LEFT JOIN (SELECT DISTINCT day, child_id FROM venue_reject) r
      ON r.day = c.day AND r.child_id = c.child_id
    LEFT JOIN (SELECT DISTINCT day, child_id FROM venue_canceled) x
      ON x.day = c.day AND x.child_id = c.child_id
    WHERE c.action = 'new'
    GROUP BY c.day, c.venue""", order="day, venue")

OPEN_ORDERS = View("open_orders", "orders that can still trade, as their last execution "
                   "report left them", f"""
    SELECT day, order_id, client, cl_ord_id, symbol, side, ord_status, order_qty,
           cum_qty AS filled, leaves_qty AS leaves, {_px("avg_px", AVG_PX_SCALE)} AS avg_px,
           ts AS last_update
    FROM ({_LAST_ER}) e
    WHERE ord_status IN ({_OPEN}) AND leaves_qty > 0""", order="day, last_update")

REJECTS = View("rejects", "every refusal of the day, with its reason: client orders, "
               "cancels and replaces, child requests, venues", """
    SELECT day, seq, ts, 'order' AS kind, client AS party, order_id, cl_ord_id AS id,
           symbol, reject_reason AS code, text AS reason
    FROM execution_report WHERE exec_type = 'rejected'
    UNION ALL
    SELECT day, seq, ts, 'cancel ' || response_to, client, order_id, cl_ord_id, '',
           reason, text
    FROM cancel_reject
    UNION ALL
    SELECT day, seq, ts, 'child ' || request, 'algo', parent_id, child_id, '', '', reason
    FROM child_request_rejected
    UNION ALL
    SELECT day, seq, ts, 'venue', '', '', child_id, '', '', reason FROM venue_reject
    UNION ALL
    SELECT day, seq, ts, 'venue cancel', '', '', child_id, '', response_to, reason
    FROM venue_cancel_rejected""", order="day, seq DESC")

SLOWEST_ORDERS = View(
    "slowest_orders", "each new order's time from the sequencer receiving it to its "
    "acknowledgement (or rejection) and to its first child, slowest first (telemetry: "
    "the frames' receive times)", """
    SELECT n.day, e.order_id, n.client, n.cl_ord_id, n.symbol, n.ts,
           CAST((e.recv_ns - fn.recv_ns) / 1000.0 AS DECIMAL(18,1)) AS ack_us,
           CAST((fc.first_child_ns - fn.recv_ns) / 1000.0 AS DECIMAL(18,1)) AS first_child_us,
           e.exec_type AS answer
    FROM new_order n
    JOIN frames fn ON fn.day = n.day AND fn.seq = n.seq
    JOIN (SELECT DISTINCT ON (r.day, r.cause_seq) r.day, r.cause_seq, r.order_id,
                 r.exec_type, f.recv_ns
          FROM execution_report r JOIN frames f ON f.day = r.day AND f.seq = r.seq
          WHERE r.exec_type IN ('new', 'rejected', 'pending_new')
          ORDER BY r.day, r.cause_seq, r.seq) e ON e.day = n.day AND e.cause_seq = n.seq
    LEFT JOIN (SELECT c.day, c.parent_id, min(f.recv_ns) AS first_child_ns
               FROM child_order_sent c JOIN frames f ON f.day = c.day AND f.seq = c.seq
               WHERE c.action = 'new' GROUP BY c.day, c.parent_id) fc
      ON fc.day = e.day AND fc.parent_id = e.order_id
    WHERE n.poss_resend = false
""", order="day, ack_us DESC")

FRAMES_NAMED = View("v_frames", "every frame with its type and source by name", """
    SELECT f.*, t.name AS type, t.table_name, coalesce(s.name, '') AS source
    FROM frames f
    LEFT JOIN message_types t ON t.type_id = f.type_id
    LEFT JOIN sources s ON s.source_id = f.source_id""", order="day, seq")

CANNED: Final[tuple[View, ...]] = (BLOTTER, FILLS_NBBO, CLIENT_ACTIVITY, VENUE_ACTIVITY,
                                   OPEN_ORDERS, REJECTS, SLOWEST_ORDERS, FRAMES_NAMED)
BY_NAME: Final[dict[str, View]] = {v.name: v for v in CANNED}


def create_all(dialect: schema.Dialect) -> list[str]:
    """Every view, dropped first (PostgreSQL cannot replace a view whose columns
    changed): the tables' decimal views, then the canned ones."""
    out: list[str] = []
    for name, sql in [*((f"v_{t.name}", schema.decimal_view(t)) for t in schema.MESSAGE_TABLES),
                      *((v.name, v.create(dialect)) for v in CANNED)]:
        out += [f"DROP VIEW IF EXISTS {name}", sql]
    return out
