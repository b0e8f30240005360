"""The algo container and its strategies: DMA, and VWAP first of the algos.

- `app`: `AlgoEngine`, the container: a strategy per parent order, the
  parent's children, the market books of subscribed symbols, routing (the
  destinations of a venue, in turn), and the invariants it keeps whatever a
  strategy does.
- `context`: `OrderContext`, what a strategy sees and acts through. It reaches
  the container only through the `Container` interface and the runtime's
  `AppContext`, so nothing here imports the app.
- `strategy`: the `Strategy` base (a msgspec struct per order: its fields are
  its state) and `InvariantError`; `strategies`: the algos the container runs.
- `orders`: the container's parent and child records, and the child's life
  cycle as one table.
- `guard`: the invariants as pure checks; `market`: a subscribed symbol's book
  and its volume by bucket.
- `dma`: DMA, one child on the venue the client names.
- `vwap/`: VWAP: `schedule` (the curve, the volume model, catch-up targets,
  seeded intervals) and `strategy` (passive slices, re-pricing, the finish,
  auctions).
"""
