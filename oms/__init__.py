"""The OMS: the book of record for every parent and child order of the day.

- `app`: `Oms`, the app. Client requests, the algo engine's child requests,
  venue events, quotes (for the collar) and ops' commands in; execution
  reports and cancel rejects to clients, child orders to the venue gateway,
  parent events to the algo engine, Alerts out.
- `states`: the life cycles as tables: the parent order's (transitions and
  OrdStatus by FIX precedence) and the child order's (status, and the request
  in flight at the venue).
- `book`: the OMS's state (`OmsState`: parents, children, limits in use) and
  the arithmetic on it (exposure, average price, price formats).
- `checks`: pre-trade checks, pure functions: why a new order, a client's
  amendment or an algo's child is refused (client and firm limits, the price
  collar, the kill switch, locates, ticks and lots).
- `config`: clients and their limits, read from the day's ref data (the
  `clients` table, checked when the set is built).
- `algos`: the algos the OMS accepts and the parameters each takes.
- `cli`: `tape oms orders`, the book at any seq, rebuilt by replaying the
  journal.

The OMS bench and its generated million-message day live with the other
benchmarks, in `deploy.bench`.
"""
