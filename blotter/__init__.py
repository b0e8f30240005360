"""The web blotter: the day's orders, alerts and market health in a browser.

`tape blotter --day DAY` follows the day's stream like any consumer and serves
a page that shows it, live, with the actions ops take. The manual is
docs/blotter.md (it also fixes the wire protocol between server and page).

Map:
- `model`: the stream folded into the blotter's rows (parents, children,
  executions, alerts, sessions, market data health), with the changed rows
  handed over in batches; a pure function of the frames.
- `feed`: a model fed from a day's journal, to the end (live) or to a seq (`--at`).
- `auth`: users and roles from the users file, sessions, safe comparisons.
- `actions`: what an operator may do, checked and turned into admin commands.
- `server`: the Starlette app: HTTP, the WebSocket, batching, the publisher.
- `cli`: `tape blotter` and `tape blotter add-user`.
- `bench`: `tape bench blotter` (a day through the server into a headless browser).
- `web/`: the page (plain HTML, JS and CSS; AG Grid Community from npm).
"""
