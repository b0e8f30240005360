"""The algo container and its strategies: DMA, and VWAP first of the algos.

- `app`: `AlgoEngine`, the container: a strategy per parent order, the
  parent's children, the market books of subscribed symbols, routing (the
  destinations of a venue, in turn), and the invariants it keeps whatever a
  strategy does. Halts (ops' `HaltTrading` by symbol, client, venue or "*",
  and the market's by symbol) pause orders: their timers wait and new children
  are held in the container, sent (checked again) at the resume. Venues'
  busts and corrections of fills change the child's and the parent's fills;
  an order the OMS reopens after one starts its strategy again for the rest.
- `context`: `OrderContext`, what a strategy sees and acts through. It reaches
  the container only through the `Container` interface and the runtime's
  `AppContext`, so nothing here imports the app.
- `strategy`: the `Strategy` base (a msgspec struct per order: its fields are
  its state) and `InvariantError`; `strategies`: the algos the container runs.
- `orders`: the container's parent and child records (a child's fills by the
  venue's exec id), the child's life cycle as one table (held, sent, live,
  done), and what becomes of a replace in each state (`AMEND`: in place, sent,
  or waiting for the venue's answer while the child is in flight).
- `guard`: the invariants as pure checks; `market`: a subscribed symbol's book
  and its volume by bucket.
- `dma`: DMA, one child on the venue the client names (for the order's
  leaves; a new one if an amendment leaves the order without it).
- `vwap/`: VWAP: `schedule` (the curve, the volume model, catch-up targets,
  seeded intervals) and `strategy` (passive slices, re-pricing, the finish,
  auctions).
"""
