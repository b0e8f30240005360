"""Post-trade: what a day's journal says after the fact, each a pure function of the
journal and the day's ref data, for any day, live or backtest.

- `quality`: execution quality: each algo order's average price against the
  interval VWAP (slippage), participation, passive and auction shares, and a
  chart per order.

The database writer and the end-of-day records a broker owes (supervisory,
regulatory, clearing) belong here too; they are not built yet.
"""
