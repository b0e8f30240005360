"""Market impact: how the simulated market's prices answer our trading.

The recorded market never saw our orders, so without a model its prices ignore us
and a large order costs what a small one does. Here every share we trade in a
symbol (all our orders and venues together, buys +, sells -) moves that symbol's
prices at every simulated venue, by the square-root law of impact with a
permanent part and a transient part that decays:

    Q(t) = sum of q_i                        every share we traded so far
    X(t) = sum of q_i * exp(-(t - t_i) / tau) what the book has not yet recovered
    I(t) = Y * sigma * (theta * g(Q / V) + (1 - theta) * g(X / V)),  g(x) = sign(x) sqrt(|x|)

`I(t)` is the relative move of the price. The whole book moves together: every
recorded price p of the symbol is seen as p + D(t), D(t) = I(t) x the symbol's
reference price (the ref data's previous close), to the nearest tick. So spreads
stay as recorded, and a move under half a tick does not show, as on a real book.
`sigma` is the symbol's daily volatility (the ref data's annualised figure over
sqrt 252) and `V` its average daily volume (the ref data's ADV), both from history
before the day.

What it does: an order of Q shares traded quickly (well within `tau`) peaks at
Y sigma sqrt(Q / V), the square-root law, and then relaxes to `theta` of that; an
order traded slowly carries the permanent part theta Y sigma sqrt(Q(t) / V) plus a
transient part of about (1 - theta) Y sigma sqrt(rate tau / V). Both are concave in
size: ten times the shares cost about three times as much per share.

The parameters (`sequencer.messages.control.SimMarket` carries them; these are the
defaults) and why:
- Y = 1: the square-root law's prefactor is "of order one" when sigma is daily and
  V daily volume (Toth, Lemperiere, Deremble, de Lataillade, Kockelkoren and Bouchaud,
  "Anomalous price impact and the critical nature of liquidity in financial
  markets", Phys. Rev. X 1, 021006, 2011; Bouchaud, Bonart, Donier and Gould, "Trades,
  Quotes and Prices", Cambridge 2018, ch. 12, which reports Y between about 0.5 and
  1 on equities). We take the top of the range: a backtest should not flatter.
- theta = 0.6667 (two thirds, to the basis point): after a metaorder ends, its
  impact relaxes to about two thirds of its peak (Bershova and Rakhlin, "The
  non-linear market impact of large trades: evidence from buy-side order flow",
  Quantitative Finance 13, 2013; Moro et al., "Market impact and trading profile of
  hidden orders in stock markets", Phys. Rev. E 80, 2009).
- tau = 300 s: the book's resilience, the exponential recovery of Obizhaeva and
  Wang ("Optimal trading strategy and supply/demand dynamics", J. Financial Markets
  16, 2013); the relaxation after a metaorder takes minutes, not seconds or hours,
  in the studies above.

Where it acts: `MarketMover`, in the backtest's driver (`deploy.backtest.runner`),
adds each fill when its `VenueFill` is sequenced and moves every quote (the venue's
and the NBBO), print and snapshot of the symbol before it is sequenced. So the
journal holds the market as our trading made it: the algo engine reacts to it, the
venues fill against it, the quality report measures against it, and a replay sees
it. The report rebuilds the same `ImpactBook` from the journal's `VenueFill`s to
tell the impact apart from the market's own moves (a recorded price is the
journal's less D(t)). Pure arithmetic on stream time: no clock, no randomness.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import msgspec

from fix_gateways.venue_sim.market import ONE_DOLLAR  # the tick is $0.01 from here up
from refdata.model import RefData
from sequencer.messages import TYPE_ID, encode
from sequencer.messages.executions import VenueFill
from sequencer.messages.marketdata import MarketSnapshot, Quote, Trade
from sequencer.messages.orders import ChildOrderSent

TRADING_DAYS = 252


@dataclass(frozen=True, slots=True)
class ImpactParams:
    y: float = 1.0
    permanent: float = 0.6667
    decay_s: float = 300.0

    def __post_init__(self) -> None:
        if not (self.y >= 0 and 0 <= self.permanent <= 1 and self.decay_s > 0):
            raise ValueError(f"impact parameters out of range: Y {self.y} (>= 0), "
                             f"permanent {self.permanent} (0 to 1), decay {self.decay_s} s "
                             "(> 0)")


def daily_sigma(annualised: float) -> float:
    """The ref data's annualised volatility as a daily one."""
    return annualised / math.sqrt(TRADING_DAYS)


def _g(x: float) -> float:
    return math.copysign(math.sqrt(abs(x)), x)


def shift(px: int, delta: int) -> int:
    """A recorded price `px` moved by `delta` (0, no price, stays 0; never below a
    tick)."""
    if px <= 0 or not delta:
        return px
    out = px + delta
    return out if out > 0 else (100 if px >= ONE_DOLLAR else 1)


def delta_of(ref_px: int, fraction: float) -> int:
    """D: the move `fraction` of reference price `ref_px`, to the nearest tick."""
    if ref_px >= ONE_DOLLAR:
        return round(ref_px * fraction / 100) * 100
    return round(ref_px * fraction)


class SymbolImpact:
    """One symbol's impact state: our fills in, the price move at a time out."""

    __slots__ = ("_decay_ns", "_last", "_scale", "_t", "_theta", "_x", "adv", "q", "ref_px",
                 "sigma")

    def __init__(self, sigma: float, adv: int, ref_px: int, params: ImpactParams) -> None:
        self.sigma = sigma
        self.adv = max(1, adv)
        self.ref_px = ref_px
        self._scale = params.y * sigma
        self._theta = params.permanent
        self._decay_ns = params.decay_s * 1e9
        self.q = 0  # Q: signed shares traded
        self._x = 0.0  # X at stream time _t
        self._t = 0
        self._last = (-1, 0.0, 0)  # (time, I, D): many rows share a time

    def on_fill(self, t_ns: int, signed_qty: int) -> None:
        self._x = self.transient(t_ns) + signed_qty
        self._t = t_ns
        self.q += signed_qty
        self._last = (-1, 0.0, 0)

    def transient(self, t_ns: int) -> float:
        """X(t), in shares."""
        if self._x == 0.0 or t_ns <= self._t:
            return self._x
        return self._x * math.exp(-(t_ns - self._t) / self._decay_ns)

    def fraction(self, t_ns: int) -> float:
        """I(t): the relative price move now (+ up)."""
        return self._at(t_ns)[1]

    def delta(self, t_ns: int) -> int:
        """D(t): the move of every price of the symbol now, fixed point, a whole tick."""
        return self._at(t_ns)[2]

    def _at(self, t_ns: int) -> tuple[int, float, int]:
        if self.q == 0 and self._x == 0.0:
            return (t_ns, 0.0, 0)
        last = self._last
        if last[0] == t_ns:
            return last
        v = self.adv
        th = self._theta
        f = self._scale * (th * _g(self.q / v) + (1 - th) * _g(self.transient(t_ns) / v))
        self._last = last = (t_ns, f, delta_of(self.ref_px, f))
        return last



class ImpactBook:
    """Every symbol's impact state, by symbol id. `stats` gives (daily sigma, ADV,
    reference price) of the symbols that can be traded; a fill in any other symbol
    moves nothing."""

    def __init__(self, params: ImpactParams,
                 stats: Mapping[int, tuple[float, int, int]]) -> None:
        self.params = params
        self.symbols = {sid: SymbolImpact(sigma, adv, ref_px, params)
                        for sid, (sigma, adv, ref_px) in stats.items()}

    def on_fill(self, symbol_id: int, t_ns: int, signed_qty: int) -> None:
        s = self.symbols.get(symbol_id)
        if s is not None:
            s.on_fill(t_ns, signed_qty)

    def fraction(self, symbol_id: int, t_ns: int) -> float:
        s = self.symbols.get(symbol_id)
        return 0.0 if s is None else s.fraction(t_ns)

    def delta(self, symbol_id: int, t_ns: int) -> int:
        s = self.symbols.get(symbol_id)
        return 0 if s is None else s.delta(t_ns)



def stats_of(refdata: RefData) -> dict[int, tuple[float, int, int]]:
    """(daily sigma, ADV, reference price) by symbol id from a loaded ref data set: the
    symbols it has statistics for (and a reference price)."""
    out: dict[int, tuple[float, int, int]] = {}
    for s in refdata.symbols:
        try:
            st = refdata.stats(s.id)
        except KeyError:
            continue
        if st.ref_price > 0:
            out[s.id] = (daily_sigma(st.volatility), st.adv, st.ref_price)
    return out


class MarketMover:
    """Market data as our trading moved it: the backtest driver passes every quote,
    print and snapshot through `payload` before it is sequenced, and tells it of our
    children (`on_child`, for their symbol and side) and fills (`on_fill`, at the
    `VenueFill` frame's stream time) as they are sequenced. So the algo engine, the
    venues and the report all see the same moved market, and a replay of the journal
    sees it too. A symbol we have not traded passes through untouched (the bytes as
    they came)."""

    def __init__(self, book: ImpactBook, symbol_ids: Mapping[str, int]) -> None:
        self.book = book
        self.symbol_ids = symbol_ids
        self.children: dict[str, tuple[int, int]] = {}  # child -> (symbol id, +1 / -1)
        self.moving: dict[int, None] = {}  # the symbols we have traded (their prices move)

    def on_child(self, m: ChildOrderSent) -> None:
        sid = self.symbol_ids.get(m.symbol)
        if m.action == "new" and sid is not None:
            self.children[m.child_id] = (sid, 1 if m.side == "buy" else -1)

    def on_fill(self, t_ns: int, m: VenueFill) -> None:
        c = self.children.get(m.child_id)
        if c is not None and m.qty > 0 and c[0] in self.book.symbols:
            self.book.on_fill(c[0], t_ns, c[1] * m.qty)
            self.moving[c[0]] = None

    def quote(self, q: Quote, t_ns: int) -> Quote:
        """`q` as the market shows it at `t_ns` (the plant's hook, `marketdata.plant`)."""
        d = self.book.delta(q.symbol_id, t_ns)
        if not d:
            return q
        return self._quote(q, d)

    def trade(self, tr: Trade, t_ns: int) -> Trade:
        d = self.book.delta(tr.symbol_id, t_ns)
        if not d:
            return tr
        return msgspec.structs.replace(tr, price=shift(tr.price, d))

    @staticmethod
    def _quote(q: Quote, d: int) -> Quote:
        return msgspec.structs.replace(
            q, bid_px=shift(q.bid_px, d), ask_px=shift(q.ask_px, d),
            nbbo_bid_px=shift(q.nbbo_bid_px, d), nbbo_ask_px=shift(q.nbbo_ask_px, d))

    def payload(self, type_id: int, payload: bytes, t_ns: int) -> bytes:
        """The message's payload with its prices moved by the impact at `t_ns`."""
        if type_id not in _MOVABLE:
            return payload
        # Most rows are of a symbol we have not traded: tell from the symbol id, read
        # from the bytes (the tag, then the id), without decoding the whole message.
        # (The common case inline: a fixarray, the tag as a uint16, an id under 128.)
        sid = (payload[4] if payload[0] & 0xF0 == 0x90 and payload[1] == 0xCD
               and payload[4] < 0x80 else _symbol_id(payload))
        s = self.book.symbols.get(sid)
        if s is None:
            return payload
        d = s.delta(t_ns)
        if not d:
            return payload
        if type_id == _SNAPSHOT:  # rare: typed
            m = _SNAPSHOT_DECODER.decode(payload)
            return encode(msgspec.structs.replace(
                m, quotes=tuple(self._quote(q, d) for q in m.quotes),
                trades=tuple(msgspec.structs.replace(t, price=shift(t.price, d))
                             for t in m.trades)))
        # A quote or a print, as the array it is encoded as (tag first): the same bytes
        # as the struct's, at a third of the cost of decoding and encoding one.
        row = msgspec.msgpack.decode(payload)
        for i in _PRICES[type_id]:
            row[i] = shift(row[i], d)
        return msgspec.msgpack.encode(row)


def _symbol_id(payload: bytes) -> int:
    """The symbol id of an encoded Quote, Trade or MarketSnapshot: read from the bytes
    (a fixarray, the tag as a uint16, then the id), else decoded."""
    if len(payload) > 6 and payload[0] & 0xF0 == 0x90 and payload[1] == 0xCD:
        b = payload[4]
        if b < 0x80:
            return b
        if b == 0xCC:
            return payload[5]
        if b == 0xCD:
            return int.from_bytes(payload[5:7], "big")
    m: Quote | Trade | MarketSnapshot = _DECODER.decode(payload)
    return m.symbol_id


_MOVABLE = frozenset({TYPE_ID[Quote], TYPE_ID[Trade], TYPE_ID[MarketSnapshot]})
_SNAPSHOT = TYPE_ID[MarketSnapshot]
_DECODER = msgspec.msgpack.Decoder(Quote | Trade | MarketSnapshot)
_SNAPSHOT_DECODER = msgspec.msgpack.Decoder(MarketSnapshot)
# The prices in a Quote's and a Trade's arrays (index 0 is the tag): the fields in order.
_PRICES = {
    TYPE_ID[Quote]: tuple(1 + Quote.__struct_fields__.index(f)
                          for f in ("bid_px", "ask_px", "nbbo_bid_px", "nbbo_ask_px")),
    TYPE_ID[Trade]: (1 + Trade.__struct_fields__.index("price"),),
}
