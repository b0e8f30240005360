"""Post-trade: what a day's journal says, while the day runs and after the fact, for
any day, live or backtest.

- `db`: the database writer, an edge consumer that follows the stream and writes
  every frame into DuckDB (the day's own file) or PostgreSQL, exactly once, with
  canned views for supervisors (`tape db ...`);
- the end-of-day records (`tape post-trade ...`, manual `docs/post_trade.md`), each a
  pure function of the day's journal and ref data:
  - `record`: the one verified pass over the journal every report is computed from
    (`read_day` -> `DayRecord`: orders, children and their routes, executions with the
    NBBO at their seq, client fills, the market's closing window, incidents, clock
    bounds per process), and the rules' parameters (`Config`);
  - `refs`: what the records read from the ref data (firm, accounts, venue fees, CAT
    routes), checked up front;
  - `report`: a report's result, file writing, and `run`: every report of a day into
    `DAY/post_trade/` with a manifest of digests;
  - `activity` (the supervisor's report and its surveillance rules), `cat` (FINRA CAT
    order events and their independent check), `clearing` (the trade file and the
    drop-copy reconciliation), `timesync` (clock synchronisation), `quality_report`
    (execution quality as a day's report), `rule606` (SEC Rule 606 over a date range);
  - `html`: the reports' self-contained HTML and SVG charts; `cli`: the commands;
- `quality`: execution quality, a pure function of the journal: each algo order's
  average price against the interval VWAP (slippage), participation, passive and
  auction shares, and a chart per order.
"""
