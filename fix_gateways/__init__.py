"""The FIX edge: the client and venue gateways, the translation between FIX and the
stream, and the venue simulator.

- `client_gateway`, `venue_gateway`: the two gateway processes (a QuickFIX
  acceptor for clients, initiators to venues) on the stream; `edge`: what both
  share (publishing under a lock from QuickFIX's threads, following the stream
  with `@handles` handlers, stopping at `SystemStop`).
- `client_fix`, `venue_fix`: FIX 4.2 and 4.4 to stream messages and back;
  `fixmsg`: reading and composing raw FIX text fast.
- `config`: the gateways' TOML file and the QuickFIX settings generated from
  it; `session`: QuickFIX plumbing; `store`: reading QuickFIX's message stores
  (what a restarted gateway already sent); `tls`: the TLS relay (the PyPI build
  of QuickFIX has no SSL).
- `order_tool`: `tape gateway order`, one order over a client session.
- `venue_sim/`: the venue simulator: a price-time book with auctions, the fill
  model against the recorded market, scripted venues for tests, its FIX server
  (`tape venue-sim`), and `venue_sim.app`, the fill model as a stream app for
  backtests.
- `cli`: `tape gateway client | venue | order` and `tape venue-sim`.

The FIX bench lives with the other benchmarks, in `deploy.bench`.
"""
