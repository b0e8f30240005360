"""The ticker plant: recorded, CSV or simulated market data onto the stream.

- `plant`: `PlantCore`, the plant's deciding part: feed rows and the sequenced
  subscriptions in (its `@handles` handlers), quotes with the NBBO appended,
  trades, trading status and snapshots out.
- `service`: the plant process around it (`tape marketdata run`): reading,
  pacing, publishing, following its commands, resuming after a stop.
- feeds, each a columnar `feed.FeedBatch`: `recorded` (the recorded real
  data), `csvfeed` (a user's CSV), `simulator` (a simulated day).
- `nbbo`: the NBBO book; `volume`: which prints count as session volume;
  `clock`: exchange-local time.
- `monitor`: `MarketMonitor`, the app that alerts on stale quotes and crossed
  markets.
- `cli`: `tape marketdata run | stats`.

The market data bench lives with the other benchmarks, in `deploy.bench`.
"""
