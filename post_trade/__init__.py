"""Post-trade: what a day's journal says, while the day runs and after the fact, for
any day, live or backtest.

- `db`: the database writer, an edge consumer that follows the stream and writes
  every frame into DuckDB (the day's own file) or PostgreSQL, exactly once, with
  canned views for supervisors (`tape db ...`);
- `quality`: execution quality, a pure function of the journal: each algo order's
  average price against the interval VWAP (slippage), participation, passive and
  auction shares, and a chart per order.

The end-of-day records a broker owes (supervisory, regulatory, clearing) belong
here too; they are not built yet.
"""
