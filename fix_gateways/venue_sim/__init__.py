"""The venue simulator's pure core (no FIX, no I/O), used by tests and the demo.

- `book`: a price-time priority limit order book with opening and closing
  auctions (a venue whose orders trade with each other);
- `market`: the fill model: our orders at simulated venues trading against the
  recorded real market (quotes, trades and auction prints fed by a driver);
- `scripted`: a wrapper over a `market.Venue` that holds and releases its answers
  on command, so tests can produce crossing messages on demand.

Everything here is deterministic: ids come from counters, nothing reads a clock
or draws a random number, and no hash-ordered container of strings is iterated.
"""
