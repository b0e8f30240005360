"""Market data monitoring: stale quotes and crossed markets, as Alerts on the stream.

`MarketMonitor` is a deterministic app (run it with `tape app run
market_monitor`). It keeps every symbol's venue quotes and NBBO from the
stream and raises:

- `stale_quote` (warning): during regular hours, a symbol the plant carries
  whose quotes have not updated for `stale_after_ms` of stream time. Checked
  every `check_every_ms` of stream time; raised once until the symbol quotes
  again (then an info Alert `quote_resumed`). The remedy for a dropped feed
  is `tape inject` of a `Resubscribe` for the symbol.
- `crossed` (warning): the NBBO's best bid went above its best ask; raised
  once per crossing, when it starts. Locked markets (bid equal to ask) are
  counted, not alerted: they are common and usually brief.

Parameters, changed on the stream with `SetParameter(target="market_monitor",
key=..., value=...)`: `stale_after_ms` (default 30000), `check_every_ms`
(1000). Regular hours are the symbol's primary venue's session from the ref
data, or 09:30 to 16:00 New York time when the day runs without ref data.
"""

from __future__ import annotations

from typing import Any

import msgspec

from marketdata.clock import local_midnight_ns
from marketdata.nbbo import Best, Nbbo
from sequencer import sources
from sequencer.messages.admin import SetParameter
from sequencer.messages.control import Alert, Severity, SystemStart
from sequencer.messages.marketdata import MarketSnapshot, Quote
from sequencer.runtime.app import StructApp, handles

MS = 1_000_000
DEFAULT_OPEN_MS = 9 * 3_600_000 + 30 * 60_000
DEFAULT_CLOSE_MS = 16 * 3_600_000


class SymbolWatch(msgspec.Struct):
    quotes: dict[str, Quote] = msgspec.field(default_factory=dict)
    best: tuple[int, int, int, int] = (0, 0, 0, 0)  # the NBBO: bid px, size, ask px, size
    last_quote_ns: int = 0
    stale: bool = False
    crossed: bool = False
    crossed_events: int = 0
    locked_events: int = 0
    locked: bool = False


class MonitorState(msgspec.Struct):
    stale_after_ms: int = 30_000
    check_every_ms: int = 1_000
    midnight_ns: int = 0
    open_ms: int = DEFAULT_OPEN_MS
    close_ms: int = DEFAULT_CLOSE_MS
    symbols: dict[int, SymbolWatch] = msgspec.field(default_factory=dict)
    alerts: int = 0


class MarketMonitor(StructApp[MonitorState]):
    name = "market_monitor"
    source_id = sources.MARKET_MONITOR
    state_type = MonitorState

    def __init__(self) -> None:
        self.state = MonitorState()
        self._nbbo: dict[int, Nbbo] = {}  # rebuilt from state.symbols on restore

    # ---------------------------------------------------------------- lifecycle

    @handles(SystemStart)
    def on_system_start(self, msg: SystemStart) -> None:
        st = self.state
        tz = "America/New_York"
        rd = self.ctx.refdata
        if rd is not None and rd.venues:
            routable = [v for v in rd.venues if v.routable]
            tz = routable[0].timezone if routable else tz
            st.open_ms = min(v.open_ms for v in routable)
            st.close_ms = max(v.close_ms for v in routable)
        st.midnight_ns = local_midnight_ns(msg.session_date, tz)
        self.ctx.set_timer(self.ctx.now + st.check_every_ms * MS, "check")

    @handles(SetParameter)
    def on_set_parameter(self, msg: SetParameter) -> None:
        if msg.target != self.name:
            return
        st = self.state
        if msg.key in ("stale_after_ms", "check_every_ms"):
            try:
                value = int(msg.value)
                if value <= 0:
                    raise ValueError
            except ValueError:
                self._alert("warning", "bad_parameter",
                            f"{msg.key} must be a positive integer, got {msg.value!r}")
                return
            setattr(st, msg.key, value)
        else:
            self._alert("warning", "bad_parameter", f"no parameter {msg.key!r} "
                        "(known: stale_after_ms, check_every_ms)")

    # ---------------------------------------------------------------- market data

    @handles(MarketSnapshot)
    def on_snapshot(self, msg: MarketSnapshot) -> None:
        w = SymbolWatch()
        self.state.symbols[msg.symbol_id] = w
        nb = self._nbbo[msg.symbol_id] = Nbbo()
        for q in msg.quotes:
            w.quotes[q.venue] = q
            nb.update(q.venue, (q.bid_px, q.bid_size), (q.ask_px, q.ask_size))
        w.last_quote_ns = self.ctx.now
        w.best = tuple(nb.best)  # type: ignore[assignment]  # a Best is four ints
        self._check_cross(msg.symbol_id, w)

    @handles(Quote)
    def on_quote(self, q: Quote) -> None:
        sid = q.symbol_id
        w = self.state.symbols.get(sid)
        if w is None:
            w = self.state.symbols[sid] = SymbolWatch()
            self._nbbo[sid] = Nbbo()
        w.quotes[q.venue] = q
        # The plant appends the NBBO it derived (a consolidated feed's quotes cannot be
        # read venue by venue); only a quote without it is read as one venue's own.
        if q.nbbo_bid_size or q.nbbo_ask_size:
            w.best = (q.nbbo_bid_px, q.nbbo_bid_size, q.nbbo_ask_px, q.nbbo_ask_size)
        else:
            nb = self._nbbo[sid]
            nb.update(q.venue, (q.bid_px, q.bid_size), (q.ask_px, q.ask_size))
            w.best = tuple(nb.best)  # type: ignore[assignment]  # a Best is four ints
        w.last_quote_ns = self.ctx.now
        if w.stale:
            w.stale = False
            self._alert("info", "quote_resumed", f"{self._name(sid)} quotes again")
        self._check_cross(sid, w)

    def _check_cross(self, sid: int, w: SymbolWatch) -> None:
        best = Best(*w.best)
        crossed = best.crossed
        if crossed and not w.crossed:
            w.crossed_events += 1
            bid_v = min((v for v, q in w.quotes.items()
                         if q.bid_size and q.bid_px == best.bid_px), default="?")
            ask_v = min((v for v, q in w.quotes.items()
                         if q.ask_size and q.ask_px == best.ask_px), default="?")
            self._alert("warning", "crossed",
                        f"crossed market: {self._name(sid)} bid {_px(best.bid_px)} ({bid_v}) "
                        f"above ask {_px(best.ask_px)} ({ask_v})")
        w.crossed = crossed
        locked = best.locked
        if locked and not w.locked:
            w.locked_events += 1
        w.locked = locked

    # ---------------------------------------------------------------- stale check

    def on_timer(self, token: Any) -> None:
        if token != "check":
            return
        st = self.state
        now = self.ctx.now
        local_ms = (now - st.midnight_ns) // MS
        if st.open_ms <= local_ms < st.close_ms:
            limit = st.stale_after_ms * MS
            for sid in sorted(st.symbols):
                w = st.symbols[sid]
                # A symbol's clock starts at the open: pre-market quiet is not staleness.
                since = max(w.last_quote_ns, st.midnight_ns + st.open_ms * MS)
                if not w.stale and now - since >= limit:
                    w.stale = True
                    self._alert(
                        "warning", "stale_quote",
                        f"stale quote: {self._name(sid)} has not updated for "
                        f"{(now - since) / 1e9:.1f} s of stream time (limit "
                        f"{st.stale_after_ms / 1000:g} s); remedy: inject Resubscribe")
        self.ctx.set_timer(now + st.check_every_ms * MS, "check")

    # ---------------------------------------------------------------- helpers

    def _name(self, sid: int) -> str:
        rd = self.ctx.refdata
        if rd is not None:
            try:
                return f"{rd.symbol(sid).name} (id {sid})"
            except KeyError:
                pass
        return f"symbol {sid}"

    def _alert(self, severity: Severity, code: str, text: str) -> None:
        self.state.alerts += 1
        self.ctx.publish(Alert(severity=severity, source=self.name, text=text, code=code))

    # ---------------------------------------------------------------- state

    def after_restore(self) -> None:
        self._nbbo = {}
        for sid, w in self.state.symbols.items():
            nb = self._nbbo[sid] = Nbbo()
            for venue in sorted(w.quotes):
                q = w.quotes[venue]
                nb.update(venue, (q.bid_px, q.bid_size), (q.ask_px, q.ask_size))

    def describe(self) -> dict[str, Any]:
        st = self.state
        return {
            "stale_after_ms": st.stale_after_ms,
            "check_every_ms": st.check_every_ms,
            "alerts": st.alerts,
            "symbols": {
                sid: {"nbbo": tuple(w.best), "stale": w.stale,
                      "crossed": w.crossed, "crossed_events": w.crossed_events,
                      "locked_events": w.locked_events}
                for sid, w in sorted(st.symbols.items())
            },
        }


def _px(p: int) -> str:
    return f"{p / 10_000:.4f}".rstrip("0").rstrip(".") if p % 100 else f"{p / 10_000:.2f}"

