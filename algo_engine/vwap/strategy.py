"""The VWAP strategy: trade an order in line with the market's volume over its window.

Parameters (checked by the OMS at the door, `oms.algos`): `start_time`,
`end_time` (exchange-local HH:MM[:SS]; default the whole session from when the
order arrives), `must_complete` (Y, the default: all shares by the window's end;
N: the information-leakage cap applies), `max_pct` (a participation cap, percent
of the market's volume), `open_auction` and `close_auction` (take part in the
auctions; default N), `aggression` (`low`, `medium` (default) or `high`: how
early in an interval the strategy starts crossing the spread).

How it trades (`schedule` holds the arithmetic):
- Plan: the window's buckets, the interval boundaries (seeded, longer in the
  morning), the scheduled shares: the order's quantity, or for a need-not-complete
  order at most `max_pct` (default 20%) of the window's expected volume,
  re-measured as the day's volume arrives. Progress is measured against the
  scheduled shares. The plan is an `AlgoDecision` ("schedule").
- Opening auction (`open_auction=Y`, window from the open): an OPG limit child on
  the primary venue for the auction bucket's target, priced at the auction collar
  (`AUCTION_COLLAR_BP` through the reference price, wider than intraday crossing,
  which never goes beyond the far touch). The first continuous interval is
  decided only once the auction printed and the child is done.
- Each continuous interval: the target is where the whole order should be by
  the interval's end by the latest volume prediction (catch-up: the target less
  what is done, so a shortfall is made up and a lead not repeated), capped by
  `max_pct` of the interval's predicted volume. The shares are shown passively at
  the near touch, in slices that keep what is due `PACE_LEAD_MIN` minute ahead on
  show (older slices keep their queue places). A slice left away from the touch
  on two checks in a row (a sustained move) is re-priced to the touch, within the
  limit. In the interval's last part the passive slices are cancelled and what
  is then missing of the target is taken at the far touch (IOC), split over the
  venues showing it (slices left up would show the taken shares a second time).
- A limit order skips an interval whose market is beyond its limit when it starts
  (the interval's volume leaves the schedule: the rest of the order is spread over
  volume it can trade), and never prices a child beyond the limit.
- Closing auction (`close_auction=Y`, window to the close): a CLS limit child for
  the auction bucket's target, sent `CLOSE_SEND_MIN` minutes before the close.
Every decision is put on the stream (`AlgoDecision`) with its figures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from algo_engine.market import MINUTE_NS, Book
from algo_engine.orders import Child, Parent
from algo_engine.strategy import InvariantError, Strategy
from algo_engine.vwap.schedule import (
    CLOSE_AUCTION,
    OPEN_AUCTION,
    SESSION_MINUTES,
    VolumeModel,
    Window,
    expected_shares,
    intervals,
    order_rng,
    scheduled_qty,
    target_done,
)

if TYPE_CHECKING:
    from algo_engine.context import OrderContext

SECOND_NS = 1_000_000_000
CHECK_NS = 10 * SECOND_NS  # how often a working interval looks at its passive child
RETRY_NS = 2 * SECOND_NS  # how soon a take that left shares missing is tried again
AUCTION_COLLAR_BP = 200  # auction children may trade up to 2% through the reference
DEFAULT_CAP_PCT = 20.0  # need-not-complete orders: at most this share of the volume
CLOSE_SEND_MIN = 12  # the closing auction child goes this long before the close
PACE_LEAD_MIN = 1  # passive children show what is due this many minutes ahead
OPEN_WAIT_NS = 600 * SECOND_NS  # no opening print 10 minutes after the open: trade on
#: aggression -> the part of an interval (in 1/100) left for crossing the spread
FINISH_PART = {"low": 5, "medium": 10, "high": 25}
MIN_FINISH_NS = 20 * SECOND_NS
LAST_FINISH_NS = 150 * SECOND_NS  # the window's last interval starts finishing this early


def _minutes(v: str) -> int:
    """Session minute of an HH:MM[:SS] time (0 is 09:30; clamped to the session)."""
    parts = [*v.split(":"), "00"][:3]
    m = int(parts[0]) * 60 + int(parts[1]) - 570 + (1 if int(parts[2]) else 0)
    return min(max(m, 0), SESSION_MINUTES)


def _yes(v: str) -> bool:
    return v.lower() in ("y", "yes", "true", "1")


class Vwap(Strategy, tag="vwap"):
    start_min: int = 0
    end_min: int = SESSION_MINUTES
    must_complete: bool = True
    max_pct: float = 0.0  # 0: no participation cap
    open_auction: bool = False
    close_auction: bool = False
    aggression: str = "medium"
    # the plan
    gen: int = 0  # plan generation: timers of an older plan are ignored
    first: int = 0  # the window's buckets [first, end)
    end: int = 0
    bounds: list[int] = msgspec.field(default_factory=list)  # interval boundaries (buckets)
    k: int = -1  # the interval being worked (index into bounds), -1 before the first
    scheduled: int = 0
    base: int = 0  # shares done when the plan was made (a re-plan's starting point)
    excluded: list[int] = msgspec.field(default_factory=list)  # buckets removed by the limit
    iv_target: int = 0
    iv_end_ns: int = 0
    phase: str = "waiting"  # waiting, open_auction, continuous, closing, done, stopped
    # children
    # the live passive children, oldest first
    passive: list[str] = msgspec.field(default_factory=list)
    takes: list[str] = msgspec.field(default_factory=list)  # the take (IOC) children out now
    opg_id: str = ""
    cls_id: str = ""
    away: int = 0  # checks in a row a passive child was away from the touch
    want_take: int = 0  # shares to take once the passive child's cancel is done

    @classmethod
    def from_params(cls, p: Parent) -> Vwap:
        q = p.params
        v = cls()
        if "start_time" in q:
            v.start_min = _minutes(q["start_time"])
        if "end_time" in q:
            v.end_min = _minutes(q["end_time"])
        if v.start_min >= v.end_min:
            raise ValueError(f"the window {q.get('start_time')} to {q.get('end_time')} "
                             "leaves no minute of the session")
        v.must_complete = _yes(q.get("must_complete", "Y"))
        v.max_pct = float(q.get("max_pct", "0"))
        v.open_auction = _yes(q.get("open_auction", "N"))
        v.close_auction = _yes(q.get("close_auction", "N"))
        v.aggression = q.get("aggression", "medium").lower()
        if v.aggression not in FINISH_PART:
            raise ValueError(f"aggression {v.aggression!r} is not one of low, medium, high")
        return v

    # ================================================================ the model

    def _model(self, c: OrderContext, book: Book) -> VolumeModel:
        rd = c.refdata
        sid = c.parent.symbol_id
        curve = rd.curve(sid)
        try:
            adv = float(rd.stats(sid).adv)
        except KeyError:
            adv = 0.0
        m = VolumeModel(expected_shares(curve.minute_shares, curve.open_auction,
                                        curve.close_auction),
                        adv if adv > 0 else max(float(book.volume), 1.0))
        m.seen = book.buckets  # the day's volume as the container keeps it (read only)
        return m

    def _window(self) -> Window:
        return Window(self.first, self.end)

    def _target(self, c: OrderContext, book: Book, upto: int) -> tuple[int, int]:
        """(the shares to have done by bucket `upto`, the window's expected volume)."""
        model = self._model(c, book)
        now = book.bucket_at(c.now)
        w = self._window()
        if not self.must_complete:
            cap = (self.max_pct or DEFAULT_CAP_PCT) / 100
            sched = max(scheduled_qty(c.parent.qty, False, w, model, now, cap),
                        c.parent.cum_qty)
            if sched != self.scheduled:
                c.decide("cap", scheduled_qty=sched,
                         expected_volume=int(model.window_volume(w, now, w.end)),
                         text=f"need-not-complete: {cap:.0%} of the window's expected volume")
                self.scheduled = sched
        base = min(self.base, self.scheduled)
        return (base + target_done(self.scheduled - base, w, model, now, upto, self.excluded),
                int(model.window_volume(w, now, w.end)))

    # ================================================================ the plan

    def on_start(self, c: OrderContext) -> None:
        book = c.subscribe(c.parent.symbol)
        self._plan(c, book, f"{c.parent.order_id}")

    def _plan(self, c: OrderContext, book: Book, seed_key: str) -> None:
        p = c.parent
        self.gen += 1
        now_b = book.bucket_at(c.now)
        start_min = self.start_min
        if c.now >= book.open_ns:
            start_min = max(start_min, min(now_b - 1, SESSION_MINUTES - 1))
        if start_min >= self.end_min:
            self.phase = "done"
            c.decide("complete", text="the window is over: nothing scheduled")
            return
        w = Window.of(start_min, self.end_min,
                      self.open_auction and c.now < book.open_ns and not book.opened,
                      self.close_auction)
        self.first, self.end = w.first, w.end
        self.bounds = intervals(w, order_rng(c.day_seed, seed_key))
        self.k = -1
        # a re-plan schedules what is left from now: the shares done count as its base
        self.base = p.cum_qty if c.now >= book.open_ns else 0
        self.scheduled = p.qty if self.must_complete else 0
        _, vol = self._target(c, book, w.end)
        c.decide("schedule", start_ns=book.time_of(w.first), end_ns=book.time_of(w.end),
                 target_qty=self.scheduled, scheduled_qty=self.scheduled, expected_volume=vol,
                 text=f"{len(self.bounds) - 1} intervals, buckets {w.first}-{w.end - 1}"
                 + (", opening auction" if w.first == OPEN_AUCTION else "")
                 + (", closing auction" if w.end > CLOSE_AUCTION else "")
                 + ("" if self.must_complete else ", need not complete"))
        if self.close_auction and w.end > CLOSE_AUCTION and not self.cls_id:
            c.set_timer(book.close_ns - CLOSE_SEND_MIN * MINUTE_NS, f"cls:{self.gen}")
        if w.first == OPEN_AUCTION:
            self.phase = "open_auction"
            if not (self.opg_id and c.child(self.opg_id).live):
                self._open_auction(c, book)
            c.set_timer(book.open_ns + OPEN_WAIT_NS, f"open:{self.gen}")
        else:
            self.phase = "waiting"
            self._at(c, book.time_of(w.first), "iv", 0)

    def _at(self, c: OrderContext, at_ns: int, what: str, k: int) -> None:
        c.set_timer(max(at_ns, c.now), f"{what}:{self.gen}:{k}")

    # ================================================================ auctions

    def _collar(self, c: OrderContext, book: Book) -> int:
        """The auction child's limit: the reference price (last trade, else the previous
        close) moved `AUCTION_COLLAR_BP` in the order's direction, within its limit."""
        p = c.parent
        ref = book.last_px or (book.bid + book.ask) // 2
        if not ref:
            try:
                ref = int(c.refdata.stats(p.symbol_id).ref_price)
            except KeyError:
                ref = 0
        if not ref:
            return p.limit_px
        tick: int = c.refdata.tick_size(p.symbol_id, ref)
        if p.buy:
            px = ref * (10_000 + AUCTION_COLLAR_BP) // 10_000 // tick * tick
            return min(px, p.limit_px) if p.ord_type == "limit" else px
        px = -(-ref * (10_000 - AUCTION_COLLAR_BP) // 10_000 // tick) * tick
        return max(px, p.limit_px) if p.ord_type == "limit" else px

    def _open_auction(self, c: OrderContext, book: Book) -> None:
        target, vol = self._target(c, book, OPEN_AUCTION + 1)
        if target <= 0:
            return
        px = self._collar(c, book)
        venue = c.refdata.symbol(c.parent.symbol_id).primary_venue
        try:
            self.opg_id = c.send(venue, "open_auction", target, px)
        except InvariantError:
            return
        c.decide("auction", start_ns=book.open_ns, end_ns=book.open_ns, target_qty=target,
                 scheduled_qty=self.scheduled, expected_volume=vol, px=px,
                 text=f"opening auction on {venue}")

    def _close_auction(self, c: OrderContext, book: Book) -> None:
        p = c.parent
        before, _ = self._target(c, book, CLOSE_AUCTION)
        model = self._model(c, book)
        now = book.bucket_at(c.now)
        qty = self.scheduled - before
        room = p.cap_qty() - p.cum_qty - c.open_qty()
        qty = min(qty, room)
        if qty <= 0:
            return
        px = self._collar(c, book)
        venue = c.refdata.symbol(p.symbol_id).primary_venue
        try:
            self.cls_id = c.send(venue, "close_auction", qty, px)
        except InvariantError:
            return
        vol = int(model.predicted_total(now) * model.shares[CLOSE_AUCTION])
        c.decide("auction", start_ns=book.close_ns, end_ns=book.close_ns, target_qty=qty,
                 scheduled_qty=self.scheduled, expected_volume=vol, px=px,
                 text=f"closing auction on {venue}")

    def _begin_continuous(self, c: OrderContext, book: Book) -> None:
        if self.phase != "open_auction":
            return
        self.phase = "waiting"
        self._interval(c, book, 1 if self.bounds[0] == OPEN_AUCTION else 0)

    # ================================================================ intervals

    def _interval(self, c: OrderContext, book: Book, k: int) -> None:
        """Start interval `k` (bounds[k] to bounds[k+1]), or end the window."""
        p = c.parent
        self.k = k
        if k >= len(self.bounds) - 1:
            self._window_over(c, book)
            return
        b0, b1 = self.bounds[k], self.bounds[k + 1]
        if b0 == CLOSE_AUCTION:  # the closing auction child is already working
            self.phase = "closing"
            self._at(c, book.close_ns + MINUTE_NS, "iv", k + 1)
            return
        self.phase = "continuous"
        end_ns = book.time_of(b1)
        self.iv_end_ns = end_ns
        buy = p.buy
        near = book.near(buy)
        lim = p.cap_px() if p.ord_type == "limit" else 0
        if lim and near and (near > lim if buy else near < lim):
            self.excluded.extend(range(b0, b1))
            c.decide("limit_out", start_ns=c.now, end_ns=end_ns, px=near,
                     text=f"the market ({near}) is beyond the limit {lim}: interval removed")
            self._at(c, end_ns, "iv", k + 1)
            return
        target, _ = self._target(c, book, b1)
        if b1 >= CLOSE_AUCTION and self.cls_id:
            # the last continuous interval does what the closing auction child does not
            target = max(0, self.scheduled - c.child(self.cls_id).qty)
        model = self._model(c, book)
        now_b = book.bucket_at(c.now)
        w = self._window()
        iv_vol = int(model.window_volume(w, now_b, b1) - model.window_volume(w, now_b, b0))
        need = max(0, target - p.cum_qty)
        if self.max_pct:
            capped = int(iv_vol * self.max_pct / 100)
            if capped < need:
                need = capped
                target = p.cum_qty + need
                c.decide("cap", start_ns=c.now, end_ns=end_ns, target_qty=target,
                         expected_volume=iv_vol, text=f"max participation {self.max_pct}%")
        self.iv_target = target
        px = self._passive_px(c, book)
        c.decide("interval", start_ns=c.now, end_ns=end_ns, target_qty=target,
                 scheduled_qty=self.scheduled, expected_volume=iv_vol, px=px,
                 text=f"interval {k + 1} of {len(self.bounds) - 1}: {need:,} to do")
        self.want_take = 0
        self._trim(c, target)
        self._pace(c, book)
        length = end_ns - c.now
        last = k == len(self.bounds) - 2 or b1 >= CLOSE_AUCTION
        lead = max(MIN_FINISH_NS, length * FINISH_PART[self.aggression] // 100)
        if last and self.must_complete:
            lead = max(lead, LAST_FINISH_NS)
        self._at(c, end_ns - min(lead, length), "fin", k)
        self._at(c, c.now + CHECK_NS, "chk", k)
        self._at(c, end_ns, "iv", k + 1)

    def _window_over(self, c: OrderContext, book: Book) -> None:
        p = c.parent
        if self.phase in ("done", "stopped"):
            return
        if (self.must_complete and p.cum_qty < self.scheduled and self.phase != "late"
                and c.now < book.close_ns - RETRY_NS and not self.cls_id):
            # a must-complete order still short at its window's end takes the rest
            self.phase = "late"
            self.iv_target = self.scheduled
            self.iv_end_ns = book.close_ns
            c.decide("finish", start_ns=c.now, end_ns=book.close_ns, target_qty=self.scheduled,
                     text=f"window over with {self.scheduled - p.cum_qty:,} to do: taking them")
            self._finish(c, book, self.k)
            self._at(c, book.close_ns, "iv", self.k)
            return
        self.phase = "done"
        for ch in c.children():
            if ch.child_id not in (self.cls_id,) and ch.pending != "cancel":
                c.cancel(ch.child_id, "the window is over")
        c.decide("complete", end_ns=c.now, target_qty=self.scheduled,
                 scheduled_qty=self.scheduled,
                 text=f"window over: {p.cum_qty:,} of {self.scheduled:,} scheduled done")

    def _passive_px(self, c: OrderContext, book: Book) -> int:
        p = c.parent
        px = book.near(p.buy)
        if not px:
            px = book.last_px
        if p.ord_type == "limit":
            lim = p.cap_px()
            px = min(px, lim) if p.buy else max(px, lim)
        return px

    def _venue(self, c: OrderContext, book: Book, buy_side: bool, px: int) -> str:
        """Where to send: the venue quoting `px` on the side with the most shares shown,
        else the primary venue (among venues that are up)."""
        best, size = "", -1
        for v, sz in book.venues_at(buy_side, px):
            if sz > size and c.venue_up(v):
                best, size = v, sz
        return best or c.refdata.symbol(c.parent.symbol_id).primary_venue

    def _passive(self, c: OrderContext) -> list[Child]:
        """The live passive children (oldest first); forgets those that ended."""
        live = [c.child(i) for i in self.passive if c.child(i).live]
        self.passive = [ch.child_id for ch in live]
        return live

    def _pace(self, c: OrderContext, book: Book) -> None:
        """Show passively what the schedule wants done `PACE_LEAD_MIN` minutes from now
        (never beyond the interval's target): a new slice at the touch when the shown
        shares fall a round lot or more short, so that the order trades through the
        interval with the market rather than all at its start."""
        p = c.parent
        if p.frozen or self.k < 0 or self.k >= len(self.bounds) - 1 or self.want_take:
            return
        b1 = self.bounds[self.k + 1]
        upto = min(book.bucket_at(c.now) + PACE_LEAD_MIN, b1)
        pace, _ = self._target(c, book, upto)
        pace = min(pace, self.iv_target)
        live = self._passive(c)
        shown = sum(ch.exposure for ch in live)
        room = p.cap_qty() - p.cum_qty - c.open_qty()
        want = min(pace - p.cum_qty - shown, room)
        if want < c.refdata.symbol(p.symbol_id).lot_size:
            return
        px = self._passive_px(c, book)
        if px <= 0:
            return
        self.passive.append(c.send(self._venue(c, book, p.buy, px), "passive", want, px))

    def _trim(self, c: OrderContext, target: int) -> None:
        """Ahead of the schedule: cancel the newest passive children that show more than
        the interval's target still needs (the oldest keep their queue places)."""
        p = c.parent
        live = self._passive(c)
        excess = p.cum_qty + sum(ch.exposure for ch in live) - target
        for ch in reversed(live):
            if excess < ch.exposure:
                break
            if ch.pending != "cancel":
                c.cancel(ch.child_id, "ahead of schedule")
            excess -= ch.exposure

    def _check(self, c: OrderContext, book: Book, k: int) -> None:
        """Re-price passive children left away from the touch by a sustained move (two
        checks in a row), then top up the shown shares to the schedule's pace."""
        p = c.parent
        if k != self.k or self.phase != "continuous":
            return
        if c.now + CHECK_NS < self.iv_end_ns:
            self._at(c, c.now + CHECK_NS, "chk", k)
        if p.frozen or self.want_take:
            return
        touch = self._passive_px(c, book)
        away = [ch for ch in self._passive(c) if not ch.pending and (
            touch > ch.limit_px if p.buy else touch < ch.limit_px)]
        if not away:
            self.away = 0
        else:
            self.away += 1
            if self.away >= 2:
                c.decide("reprice", start_ns=c.now, end_ns=self.iv_end_ns,
                         target_qty=self.iv_target, px=touch,
                         text=f"{len(away)} passive child(ren) from {away[0].limit_px} to "
                         f"the touch {touch}")
                for ch in away:
                    c.replace(ch.child_id, 0, touch)
                self.away = 0
        self._pace(c, book)

    def _finish(self, c: OrderContext, book: Book, k: int) -> None:
        """Take what the interval still lacks at the far touch, once its passive children
        are cancelled."""
        p = c.parent
        if k != self.k or self.phase not in ("continuous", "late") or p.frozen:
            return
        short = self.iv_target - p.cum_qty
        if short <= 0:
            return
        self.takes = [i for i in self.takes if c.child(i).live]
        if self.takes:
            return  # the last takes are still out: their end decides again
        far = book.far(p.buy)
        if not far:
            self._at(c, c.now + RETRY_NS, "fin", k)
            return
        px = far
        if p.ord_type == "limit":
            lim = p.cap_px()
            if far > lim if p.buy else far < lim:
                # the far touch is beyond the limit: nothing to take (the passive child
                # stays at the limit)
                self._at(c, c.now + RETRY_NS, "fin", k)
                return
        # The passive children would show again the shares the take buys (a print through
        # the touch would fill both): cancel them all and take once they are done, for
        # exactly what the interval still lacks then.
        waiting = False
        for ch in self._passive(c):
            if ch.pending != "cancel":
                c.cancel(ch.child_id, "crossing the spread to finish the interval")
            waiting = True
        if waiting:
            self.want_take = short
            return
        room = p.cap_qty() - p.cum_qty - c.open_qty()
        qty = min(short, room)
        if qty <= 0:
            return
        self.want_take = 0
        sent = []
        for venue, size in self._sweep(c, book, not p.buy, far, qty):
            self.takes.append(c.send(venue, "take", size, px))
            sent.append(f"{size:,} on {venue}")
        c.decide("finish", start_ns=c.now, end_ns=self.iv_end_ns, target_qty=self.iv_target,
                 px=px, text="take " + ", ".join(sent))

    def _sweep(self, c: OrderContext, book: Book, bid_side: bool, px: int,
               qty: int) -> list[tuple[str, int]]:
        """Split a take of `qty` at `px` over the venues showing that price, each up to
        what it shows (most first); what no venue shows goes to the one showing most
        (or the primary venue)."""
        shown = sorted(((v, sz) for v, sz in book.venues_at(bid_side, px) if c.venue_up(v)),
                       key=lambda vs: (-vs[1], vs[0]))
        out: list[tuple[str, int]] = []
        left = qty
        for v, sz in shown:
            if left <= 0:
                break
            take = min(sz, left)
            out.append((v, take))
            left -= take
        if left > 0:
            if out:
                out[0] = (out[0][0], out[0][1] + left)
            else:
                out.append((self._venue(c, book, bid_side, px), left))
        return out

    # ================================================================ events

    def on_timer(self, c: OrderContext, token: str) -> None:
        what, gen, *rest = token.split(":")
        if int(gen) != self.gen or self.phase in ("done", "stopped"):
            return
        book = c.book()
        k = int(rest[0]) if rest else 0
        if what == "iv":
            if self.phase == "open_auction":
                return
            self._interval(c, book, k)
        elif what == "fin":
            self._finish(c, book, k)
        elif what == "chk":
            self._check(c, book, k)
        elif what == "open":
            self._begin_continuous(c, book)
        elif what == "cls":
            self._close_auction(c, book)

    def on_market(self, c: OrderContext, symbol_id: int, event: str) -> None:
        if symbol_id != c.parent.symbol_id or self.phase != "open_auction":
            return
        if event == "opened" and not (self.opg_id and c.child(self.opg_id).live):
            self._begin_continuous(c, c.book())

    def on_child_done(self, c: OrderContext, child: Child) -> None:
        book = c.book()
        if child.child_id == self.opg_id and self.phase == "open_auction" and book.opened:
            self._begin_continuous(c, book)
        elif child.child_id in self.passive:
            self.passive.remove(child.child_id)
            if self.want_take and self.phase in ("continuous", "late") and not any(
                    c.child(i).pending == "cancel" for i in self.passive):
                self._finish(c, book, self.k)
        elif child.child_id in self.takes and self.phase in ("continuous", "late"):
            self.takes.remove(child.child_id)
            if not self.takes and self.iv_target > c.parent.cum_qty and (
                    c.now < self.iv_end_ns):
                self._at(c, c.now + RETRY_NS, "fin", self.k)

    def on_amend(self, c: OrderContext) -> None:
        p = c.parent
        if p.frozen or self.phase in ("done", "stopped"):
            return  # pending: the container fits the children to both sets of terms
        try:
            new = Vwap.from_params(p)
        except ValueError as e:
            c.alert("warning", "vwap_amend", f"amended parameters refused ({e}); kept the old")
            new = self
        book = c.book()
        self.start_min, self.end_min = new.start_min, new.end_min
        self.must_complete, self.max_pct = new.must_complete, new.max_pct
        self.close_auction, self.aggression = new.close_auction, new.aggression
        self._plan(c, book, f"{p.order_id}#{self.gen}")

    def on_canceling(self, c: OrderContext) -> None:
        self.phase = "stopped"
