"""The ticker plant's deciding part: from feed rows and stream commands to messages.

`PlantCore` is pure: it is given feed rows (a `FeedBatch`, chunk by chunk) and
the sequenced frames that concern it (`Subscribe`, `Unsubscribe`,
`Resubscribe`, and `SystemStop`, its `@handles` handlers), and returns the
messages to publish. The process around it
(`marketdata.service`) does the I/O: reading files, pacing, Aeron.

What it decides:
- symbol ids and venue codes: feed symbols through the security master
  (an unknown symbol is counted and skipped), SIP letters through the venue
  table (a letter not in it is kept as it is and counted);
- every `Quote` is the venue's two-sided quote with the NBBO after it
  appended. The recorded vendor quotes are a consolidated feed: each row says
  which venue now shows the national best bid (or offer) and its size, and
  never withdraws what it supersedes. So the NBBO is what the rows say (the
  latest row on each side), and a venue still showing a better price than a
  new best on that side is stale: its side is dropped. Read naively, as independent venue
  quotes, the NBBO of these files is crossed most of the day. Two-sided feeds
  (user CSV, simulator) are venue quotes: the NBBO is derived from all of
  them (`marketdata.nbbo.Nbbo`);
- `Trade.flags` by the volume rules (`marketdata.volume`);
- per symbol, every venue's latest quote and last regular-way trade, kept for
  every symbol in the feed, subscribed or not, so a subscription is answered
  at once with a `MarketSnapshot`;
- which symbols the stream carries: only those with a subscriber;
- the session phase per symbol from its primary venue's hours
  (`TradingStatus` when the data's clock crosses the open and the close);
- the session volume and VWAP per symbol (regular-way prints inside the
  session window), for the day's record and the README check.

A backtest with market impact sets `reprice` (`fix_gateways.venue_sim.impact.
MarketMover`): the quotes and prints it publishes of the symbols in
`reprice.moving` go out with the prices our trading moved; what the plant keeps
(and its snapshots, which the backtest's driver moves itself) stays as recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import msgspec

from marketdata.feed import QUOTE, FeedBatch
from marketdata.nbbo import NO_QUOTE, Best, Nbbo
from marketdata.volume import SessionVolume, VolumeRules, condition_bits
from refdata.model import RefData
from sequencer import sources
from sequencer.messages import TYPE_ID, encode
from sequencer.messages.admin import Resubscribe
from sequencer.messages.control import Alert, SystemStop
from sequencer.messages.marketdata import (
    REGULAR_WAY,
    MarketSnapshot,
    Quote,
    Status,
    Subscribe,
    Trade,
    TradingStatus,
    Unsubscribe,
)
from sequencer.runtime.app import Consumer, handles

#: emit(type_id, payload, event_ns, cause_seq); what it returns is ignored
Emit = Callable[[int, bytes, int, int], object]

_QUOTE = TYPE_ID[Quote]


class Reprice(Protocol):
    """Moves the prices of what the plant publishes (a backtest's market impact)."""

    @property
    def moving(self) -> Mapping[int, object]:
        """The symbols whose prices move (the others go out as recorded)."""
        ...

    def quote(self, q: Quote, t_ns: int) -> Quote: ...

    def trade(self, tr: Trade, t_ns: int) -> Trade: ...


class _AsRecorded:
    moving: Mapping[int, object] = {}

    def quote(self, q: Quote, t_ns: int) -> Quote:
        return q

    def trade(self, tr: Trade, t_ns: int) -> Trade:
        return tr


AS_RECORDED: Reprice = _AsRecorded()


def _nowhere(type_id: int, payload: bytes, event_ns: int, cause_seq: int) -> None:
    raise RuntimeError("the plant answers a command only while handling it")


NO_SIDE = (0, 0)
_TRADE = TYPE_ID[Trade]


@dataclass
class PlantCounters:
    rows: int = 0
    published: int = 0
    quotes: int = 0
    trades: int = 0
    unknown_symbol_rows: int = 0
    unknown_venue_rows: int = 0
    snapshots: int = 0


@dataclass
class PlantCore(Consumer):
    name = "ticker_plant"
    source_id = sources.TICKER_PLANT

    refdata: RefData
    feed: FeedBatch
    midnight_ns: int  # local midnight of the session date, Unix ns
    rules: VolumeRules = field(default_factory=VolumeRules)
    source: str = "ticker_plant"

    def __post_init__(self) -> None:
        rd = self.refdata
        self.symbol_ids: list[int] = []
        self.lot_sizes: list[int] = []
        self.unknown_symbols: list[str] = []
        for name in self.feed.symbols:
            s = rd.find(name)
            self.symbol_ids.append(s.id if s is not None else 0)
            self.lot_sizes.append(s.lot_size if s is not None else 100)
            if s is None:
                self.unknown_symbols.append(name)
        self.venues: list[str] = []
        self.unknown_venues: list[str] = []
        known = {v.code for v in rd.venues}
        for code in self.feed.exchanges:
            v = rd.venue_by_sip(code)
            if v is not None:
                self.venues.append(v.code)
            else:
                self.venues.append(code)
                if code not in known:
                    self.unknown_venues.append(code)
        self.cond_bits = [condition_bits(c) for c in self.feed.conditions]
        self.cond_excluded = [self.rules.excludes(c) for c in self.feed.conditions]
        self.subscribers: dict[int, list[str]] = {}
        self.quotes: dict[int, dict[str, Quote]] = {}  # latest Quote message per venue
        self.books: dict[int, Nbbo] = {}  # two-sided feeds: the venues' quotes and NBBO
        # consolidated feeds: the NBBO as the feed states it, and each venue's last sides
        self.consolidated: dict[int, list[int]] = {}  # [bid px, bid size, ask px, ask size]
        self.venue_bids: dict[int, dict[str, tuple[int, int]]] = {}
        self.venue_asks: dict[int, dict[str, tuple[int, int]]] = {}
        self.trades: dict[int, dict[str, Trade]] = {}
        self.session: dict[int, SessionVolume] = {}
        self.counters = PlantCounters()
        self.reprice: Reprice = AS_RECORDED
        self.now_ns = 0  # the feed's clock: exchange time of the latest row
        # Session phases: (boundary ns, status), from the primary venues' hours.
        self._open_ms = min((v.open_ms for v in rd.venues if v.routable), default=34_200_000)
        self._close_ms = max((v.close_ms for v in rd.venues if v.routable), default=57_600_000)
        self._phases: list[tuple[int, Status]] = [
            (self.midnight_ns + self._open_ms * 1_000_000, "trading"),
            (self.midnight_ns + self._close_ms * 1_000_000, "closed"),
        ]
        self._status: Status = "pre_open"
        self._table = self.dispatch_table()
        #: type ids of the frames `on_frame` acts on (the commands and `SystemStop`)
        self.followed = frozenset(self._table)
        self.commands = self.followed - {TYPE_ID[SystemStop]}
        self.stopped = False  # a SystemStop was sequenced
        self._seq = 0  # the command being handled, and where its answers go
        self._emit: Emit = _nowhere

    # ---------------------------------------------------------------- stream commands

    def on_frame(self, seq: int, type_id: int, payload: bytes, emit: Emit) -> None:
        """A sequenced frame of one of the `followed` types, at `seq`; its answers (a
        snapshot, an alert) go to `emit`, caused by `seq`."""
        decode, handler = self._table[type_id]
        self._seq, self._emit = seq, emit
        try:
            handler(decode(payload))
        finally:
            self._emit = _nowhere

    @handles(Subscribe)
    def on_subscribe(self, msg: Subscribe) -> None:
        seq, emit = self._seq, self._emit
        if not any(s.id == msg.symbol_id for s in self.refdata.symbols):
            self._alert(emit, seq, "unknown_symbol",
                        f"{msg.subscriber} subscribed to unknown symbol id {msg.symbol_id}")
            return
        subs = self.subscribers.setdefault(msg.symbol_id, [])
        if msg.subscriber not in subs:
            subs.append(msg.subscriber)
            subs.sort()
        self._snapshot(msg.symbol_id, "subscribe", seq, emit)

    @handles(Unsubscribe)
    def on_unsubscribe(self, msg: Unsubscribe) -> None:
        subs = self.subscribers.get(msg.symbol_id, [])
        if msg.subscriber in subs:
            subs.remove(msg.subscriber)
        if not subs:
            self.subscribers.pop(msg.symbol_id, None)

    @handles(Resubscribe)
    def on_resubscribe(self, msg: Resubscribe) -> None:
        seq, emit = self._seq, self._emit
        sym = self.refdata.find(msg.symbol)
        if sym is None:
            self._alert(emit, seq, "unknown_symbol", f"resubscribe: no symbol {msg.symbol!r}")
        elif sym.id not in self.subscribers:
            self._alert(emit, seq, "not_subscribed",
                        f"resubscribe {msg.symbol}: nobody is subscribed to it")
        else:
            self._snapshot(sym.id, "resubscribe", seq, emit)

    @handles(SystemStop)
    def on_system_stop(self, msg: SystemStop) -> None:
        self.stopped = True

    def snapshot_of(self, symbol_id: int, reason: str = "") -> MarketSnapshot:
        """Every venue's live quote and last regular-way trade, by venue code, and the
        session volume so far. (From a consolidated feed, a side that a better price has
        since superseded is not live.)"""
        qs = self.quotes.get(symbol_id, {})
        live = []
        for v in sorted(qs):
            q = qs[v]
            if q.bid_size or q.ask_size:
                best = self.best(symbol_id)
                if self.feed.one_sided:
                    bid = self.venue_bids[symbol_id].get(v, NO_SIDE)
                    ask = self.venue_asks[symbol_id].get(v, NO_SIDE)
                    if not (bid[1] or ask[1]):
                        continue
                    q = msgspec.structs.replace(q, bid_px=bid[0], bid_size=bid[1],
                                                ask_px=ask[0], ask_size=ask[1])
                live.append(msgspec.structs.replace(
                    q, nbbo_bid_px=best.bid_px, nbbo_bid_size=best.bid_size,
                    nbbo_ask_px=best.ask_px, nbbo_ask_size=best.ask_size))
        ts = self.trades.get(symbol_id, {})
        fig = self.session.get(symbol_id)
        return MarketSnapshot(
            symbol_id=symbol_id,
            quotes=tuple(live),
            trades=tuple(ts[v] for v in sorted(ts)),
            status=self._status,
            reason=reason,
            volume=fig.volume if fig is not None else 0,
        )

    def best(self, symbol_id: int) -> Best:
        """The symbol's NBBO now."""
        st = self.consolidated.get(symbol_id)
        if st is not None:
            return Best(*st)
        nb = self.books.get(symbol_id)
        return nb.best if nb is not None else NO_QUOTE

    def _snapshot(self, symbol_id: int, reason: str, seq: int, emit: Emit) -> None:
        self.counters.snapshots += 1
        snap = self.snapshot_of(symbol_id, reason)
        emit(TYPE_ID[MarketSnapshot], encode(snap), self.now_ns, seq)

    def _alert(self, emit: Emit, seq: int, code: str, text: str) -> None:
        emit(TYPE_ID[Alert], encode(Alert(severity="warning", source=self.source, text=text,
                                          code=code)), self.now_ns, seq)

    # ---------------------------------------------------------------- feed rows

    def feed_rows(self, chunk: tuple[list[int], ...], emit: Emit) -> None:
        """Apply one chunk of feed rows (`FeedBatch.chunks`), emitting what subscribers get."""
        sym_ids = self.symbol_ids
        venues = self.venues
        cond_bits = self.cond_bits
        cond_excluded = self.cond_excluded
        lots = self.lot_sizes
        conds = self.feed.conditions
        quotes = self.quotes
        books = self.books
        cons = self.consolidated
        vbids = self.venue_bids
        vasks = self.venue_asks
        trades = self.trades
        subscribed = self.subscribers
        session = self.session
        rules_flags = self.rules.flags
        one_sided = self.feed.one_sided
        midnight = self.midnight_ns
        start_ms = self.rules.session_start_ms
        end_ms = self.rules.session_end_ms
        phase_at = self._phases[0][0] if self._phases else 1 << 62
        c = self.counters
        reprice = self.reprice
        moving = reprice.moving
        n_quotes = n_trades = published = 0
        t = self.now_ns
        for kind, t, sym, ex, p, s, ap, asz, cond, susp, _line in zip(*chunk, strict=True):
            if t >= phase_at:
                self._advance_phase(t, emit)
                phase_at = self._phases[0][0] if self._phases else 1 << 62
            sid = sym_ids[sym]
            if not sid:
                c.unknown_symbol_rows += 1
                continue
            venue = venues[ex]
            if kind == QUOTE:
                n_quotes += 1
                if one_sided:
                    # A consolidated row: `venue` now shows the national best on the
                    # side(s) the row carries; the NBBO is what the feed says.
                    st = cons.get(sid)
                    if st is None:
                        st = cons[sid] = [0, 0, 0, 0]
                        vbids[sid] = {}
                        vasks[sid] = {}
                    vb = vbids[sid]
                    va = vasks[sid]
                    if p or s:
                        if p < st[0]:  # the best fell: venues above it are stale
                            for v in [v for v, b in vb.items() if b[0] > p]:
                                del vb[v]
                        st[0] = p
                        st[1] = s
                        vb[venue] = (p, s)
                    if ap or asz:
                        if ap > st[2]:  # the best offer rose: venues below it are stale
                            for v in [v for v, a in va.items() if a[0] < ap]:
                                del va[v]
                        st[2] = ap
                        st[3] = asz
                        va[venue] = (ap, asz)
                    bid = vb.get(venue, NO_SIDE)
                    ask = va.get(venue, NO_SIDE)
                    q = Quote(sid, venue, bid[0], bid[1], ask[0], ask[1], t, conds[cond],
                              st[0], st[1], st[2], st[3])
                else:
                    nb = books.get(sid)
                    if nb is None:
                        nb = books[sid] = Nbbo()
                    best = nb.update(venue, (p, s), (ap, asz))
                    q = Quote(sid, venue, p, s, ap, asz, t, conds[cond], *best)
                vq = quotes.get(sid)
                if vq is None:
                    vq = quotes[sid] = {}
                vq[venue] = q
                if sid in subscribed:
                    emit(_QUOTE, encode(reprice.quote(q, t) if sid in moving else q), t, 0)
                    published += 1
            else:
                n_trades += 1
                local_ms = (t - midnight) / 1_000_000
                flags = rules_flags(local_ms, s, lots[sym], cond_bits[cond], susp,
                                    cond_excluded[cond])
                tr = Trade(sid, venue, p, s, t, conds[cond], flags)
                if flags & REGULAR_WAY:
                    by_venue_t = trades.get(sid)
                    if by_venue_t is None:
                        by_venue_t = trades[sid] = {}
                    by_venue_t[venue] = tr
                    if start_ms <= local_ms < end_ms:
                        fig = session.get(sid)
                        if fig is None:
                            fig = session[sid] = SessionVolume()
                        fig.trades += 1
                        fig.volume += s
                        fig.notional += p * s
                if sid in subscribed:
                    emit(_TRADE, encode(reprice.trade(tr, t) if sid in moving else tr), t, 0)
                    published += 1
        self.now_ns = t
        c.rows += len(chunk[0])
        c.quotes += n_quotes
        c.trades += n_trades
        c.published += published

    def _advance_phase(self, t: int, emit: Emit) -> None:
        while self._phases and self._phases[0][0] <= t:
            at, status = self._phases.pop(0)
            self._status = status
            for sid in sorted(self.subscribers):
                venue = self.refdata.symbol(sid).primary_venue
                emit(TYPE_ID[TradingStatus],
                     encode(TradingStatus(sid, venue, self._status, "session hours")), at, 0)

    def finish(self, emit: Emit) -> None:
        """End of the feed: the remaining phase changes (a day's data ends after the close)."""
        self._advance_phase(1 << 62, emit)
