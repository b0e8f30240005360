"""`tape venue-sim`: the simulated venues behind one QuickFIX acceptor.

The venues are those the venue gateway connects to (`fix.toml`'s
`[[venue_gateway.sessions]]`, mirrored: the venue's CompID is the session's
target, ours its target here). Each venue is a `market.Venue` (the fill model)
or, with `--scripted`, a `scripted.ScriptedVenue` that tests drive through
commands on stdin, one JSON object per line, each naming the order (if any) by
"venue" (default: the first) and "cl_ord_id" (any of its chain), each answered
by one line `{"done": op, ...}` or `{"error": why}`:
  {"op": "hold" | "release", "kind": "acks" | "fills" | "unsolicited" |
      "requests" | "all" (release: optional), "cl_ord_id": optional}
  {"op": "fill", "cl_ord_id", "qty", "px", "liquidity": optional, "exec_id":
      optional (a repeat of that fill)} -> {"done": "fill", "exec_ids": [...]}
  {"op": "bust", "cl_ord_id", "exec_id"} -> {"done": "bust", "exec_id": new}
  {"op": "correct", "cl_ord_id", "exec_id", "qty", "px"}
      -> {"done": "correct", "exec_id": new} (a later bust or correct names it)
  {"op": "unsolicited_cancel", "cl_ord_id", "reason": optional,
      "restatement_reason": optional, in words}
  {"op": "restate", "cl_ord_id", "qty", "px", "reason": optional,
      "restatement_reason": optional}
  {"op": "refuse_cancels" | "allow_cancels", "cl_ord_id"}
  {"op": "quote", "symbol", "bid_px", "bid_size", "ask_px", "ask_size"}
  {"op": "trade", "symbol", "px", "size"}
Prices are fixed point (1/10,000). An unknown exec id for bust or correct is an
error answer.

QuickFIX's thread only queues what arrives; one loop owns the venues: it
applies our requests, follows the day's stream for market data (each venue
sees its own quotes and trades: `Quote.venue` is its code) when a day is
given, and answers with execution reports and cancel rejects in the session's
FIX version. ClOrdIDs: an order is known by its first ClOrdID; a cancel or
replace names it by OrigClOrdID (any ClOrdID of its chain), and the answer
carries the request's ClOrdID with the previous one as OrigClOrdID. A
NewOrderSingle resent with PossDupFlag (43=Y) for an order the venue holds is
ignored (a duplicate ClOrdID without it is rejected); one the venue does not
hold is a new order (printed with `"possdup": true` in scripted mode).

ExecInst (18): 6 is post only; M and R peg the order to the midpoint or to its
side's touch and need OrdType P (pegged), with Price 44 as the cap or without it;
any other value, two pegs, a peg ExecInst without OrdType P or OrdType P without
one is rejected (35=8 150=8, the reason in Text 58). A replace must declare the
order's ExecInst and pegging again, unchanged (FIX does not carry ExecInst
forward), or it is refused (35=9). An unsolicited cancel or restatement with an
ExecRestatementReason carries it as 378 (FIX 4.2 knows 0-5 only: the others go
as 4, broker option). A trade cancel or correct goes out in 4.4 as ExecType H or
G with ExecRefID 19, in 4.2 as ExecTransType 20=1 or 2 with ExecType 2 if the
order is filled after it, else 1; LastQty/LastPx are 0/0 for a cancel and the
corrected figures for a correct; CumQty, LeavesQty, AvgPx and OrdStatus are the
order's after it (OrdStatus by precedence: a live order new or partially filled,
a cancelled one cancelled, a done one filled if its fills still make its
quantity, else done for day).

With `--day` the loop writes `DAY/fix/venue_sim.status.json` every half second (pid,
state, each session logged on or not, orders working, fills, the seq its market data
has reached: `tape status` reads it). Under systemd (`sequencer.notify`) READY=1 goes
with the `{"ready": ...}` line, WATCHDOG=1 from the same half-second point, STOPPING=1
on a clean stop.
"""

# determinism: edge module, a FIX server with its own threads and sockets

from __future__ import annotations

import json
import queue
import signal
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import quickfix as fix
import structlog

from fix_gateways.client_fix import SIDE_CODES, SIDES, TIFS
from fix_gateways.config import BEGIN_STRING, VenueGateway, data_dictionary
from fix_gateways.fixmsg import (
    RESTATEMENT_CODES,
    SOH,
    compose,
    fix_price,
    parse_exec_inst,
    parse_price,
    read,
    restatement_code,
)
from fix_gateways.session import (
    Callbacks,
    acceptor,
    logout_all,
    send_raw,
    session_name,
    write_settings,
)
from fix_gateways.venue_sim import market, scripted
from sequencer.frames import HEADER_SIZE, ROUTE
from sequencer.messages.control import SystemStart, SystemStop
from sequencer.messages.executions import RestatementReason
from sequencer.messages.marketdata import Quote, Trade
from sequencer.messages.orders import ExecInst, Side
from sequencer.notify import STATUS_EVERY_S, Notifier, StatusFile
from sequencer.runtime.app import Consumer, handles
from sequencer.transport import HeapFreezer

log = structlog.get_logger("venue_sim")

# LastLiquidityInd (851) as FIX 4.4 defines it (1 added, 2 removed; FIX 4.2 has no 851).
# An auction print (4) came with FIX 5.0: QuickFIX's 4.4 dictionary rejects it, so an
# auction fill carries no 851.
_LIQ = {"added": "1", "removed": "2"}


@dataclass
class _Order:
    """What the FIX side knows of an order at a venue."""

    venue: str
    session: str
    order_id: str  # the first ClOrdID: the venue core's id
    symbol: str
    side: Side
    qty: int
    px: int
    current: str  # the ClOrdID the order goes by now
    venue_order_id: str = ""
    cum_qty: int = 0
    notional: int = 0
    requests: deque[tuple[str, str]] = field(default_factory=deque)  # (kind, ClOrdID)
    exec_inst: tuple[ExecInst, ...] = ()
    done: str = ""  # the OrdStatus the order ended with ("": live)


@dataclass
class SimCounts:
    requests: int = 0
    refused: int = 0
    reports: int = 0
    fills: int = 0
    quotes: int = 0
    trades: int = 0
    possdup_ignored: int = 0  # PossDup resends of orders the venue holds


def sim_settings(cfg: VenueGateway, root: Path) -> str:
    default = {"ConnectionType": "acceptor", "SocketAcceptHost": "127.0.0.1",
               "FileStorePath": str(root / "store"), "FileLogPath": str(root / "log"),
               "StartTime": "00:00:00", "EndTime": "00:00:00", "HeartBtInt": "30",
               "UseDataDictionary": "Y", "ValidateUserDefinedFields": "N",
               "SocketNodelay": "Y"}
    lines = ["[DEFAULT]", *(f"{k}={v}" for k, v in default.items()), ""]
    for s in cfg.sessions:
        lines += ["[SESSION]", f"BeginString={BEGIN_STRING[s.fix_version]}",
                  f"SenderCompID={s.target_comp_id}", f"TargetCompID={cfg.sender_comp_id}",
                  f"SocketAcceptPort={s.port}",
                  f"DataDictionary={data_dictionary(s.fix_version, cfg.data_dictionary_dir)}",
                  ""]
    return "\n".join(lines)


class VenueSimServer:
    def __init__(self, cfg: VenueGateway, root: Path, *, day: Path | None = None,
                 scripted_mode: bool = False) -> None:
        self.cfg = cfg
        self.root = Path(root)
        self.day = day
        self.counts = SimCounts()
        self.scripted = scripted_mode
        self.venues: dict[str, Any] = {}
        self._cores: dict[str, market.Venue] = {}  # the fill models, scripted or not
        self._session_of_venue: dict[str, str] = {}
        self._venue_of_session: dict[str, str] = {}
        self._begin: dict[str, str] = {}
        self._sid: dict[str, Any] = {}
        for s in cfg.sessions:
            core = market.Venue(s.venue)
            self._cores[s.venue] = core
            self.venues[s.venue] = scripted.ScriptedVenue(core) if scripted_mode else core
            sid = fix.SessionID(BEGIN_STRING[s.fix_version], s.target_comp_id,
                                cfg.sender_comp_id)
            name = session_name(sid)
            self._sid[name] = sid
            self._begin[name] = BEGIN_STRING[s.fix_version]
            self._venue_of_session[name] = s.venue
            self._session_of_venue[s.venue] = name
        self._orders: dict[tuple[str, str], _Order] = {}  # (venue, any ClOrdID) -> order
        self._inbox: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._running = False
        self._now = 0
        self.state = "starting"
        self._status = (StatusFile(day / "fix" / "venue_sim.status.json", "venue_sim")
                        if day is not None else None)
        self._sd = Notifier()  # systemd's readiness and watchdog (no-ops without it)

    # ------------------------------------------------------------ QuickFIX thread

    def on_logon(self, sid: Any) -> None:
        log.info("logon", session=session_name(sid))

    def on_logout(self, sid: Any) -> None:
        log.info("logout", session=session_name(sid))

    def on_message(self, msg: Any, sid: Any) -> None:
        self._inbox.put(("fix", (session_name(sid), read(msg))))

    # ------------------------------------------------------------ the loop

    def stop(self, *_: object) -> None:
        self._running = False

    def run(self, max_seconds: float | None = None) -> SimCounts:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        settings = write_settings(self.root / "venue-sim.cfg", sim_settings(self.cfg, self.root))
        eng = acceptor(Callbacks(self), settings)
        eng.start()
        if self.scripted:
            threading.Thread(target=self._read_commands, daemon=True).start()
        sys.stdout.write(json.dumps({"ready": "venue_sim", "venues": list(self.venues)}) + "\n")
        sys.stdout.flush()
        feed = MarketFeed(self.day) if self.day is not None else None
        self._running = True
        self.state = "running"
        self._report_status(feed)
        self._sd.ready(lambda: f"venue simulator: {len(self.venues)} venue(s) listening")
        end = None if max_seconds is None else time.monotonic() + max_seconds
        status_at = time.monotonic() + STATUS_EVERY_S
        heap = HeapFreezer()
        try:
            while self._running:
                heap.tick()
                now = time.monotonic()
                if now >= status_at:
                    self._report_status(feed)
                    status_at = now + STATUS_EVERY_S
                busy = False
                try:
                    kind, item = self._inbox.get(timeout=0.0005)
                    busy = True
                    if kind == "fix":
                        self._on_fix(*item)
                    else:
                        self._on_command(item)
                except queue.Empty:
                    pass
                if feed is not None:
                    for ev in feed.poll():
                        busy = True
                        self._on_market(ev)
                    if feed.stopped:
                        break  # the day's SystemStop: the venues close with it
                if end is not None and now >= end:
                    break
                if not busy:
                    time.sleep(0.0002)
            self.state = "done" if feed is not None and feed.stopped else "stopped"
            self._sd.stopping(lambda: f"venue simulator: {self.state}")
            self._report_status(feed)
        finally:
            logout_all(self._sid.values())
            if feed is not None:
                feed.close()
            self._sd.close()
        return self.counts

    def _report_status(self, feed: MarketFeed | None) -> None:
        """The status file (with `--day`) and the watchdog, every half second."""
        working = sum(v.working() for v in self._cores.values())
        if self._status is not None:
            sessions = {}
            for name, sid in self._sid.items():
                s = fix.Session.lookupSession(sid)
                sessions[name] = {"venue": self._venue_of_session[name],
                                  "logged_on": bool(s is not None and s.isLoggedOn())}
            self._status.write({
                "process": "venue_sim", "state": self.state, "sessions": sessions,
                "orders_working": working, "fills": self.counts.fills,
                "counts": dict(vars(self.counts)),
                **({"seq": feed.seq, "caught_up": feed.caught_up} if feed is not None
                   else {})})
        self._sd.beat(lambda: f"venue simulator: {self.state}, {working} order(s) working, "
                              f"{self.counts.fills} fill(s)")

    # ------------------------------------------------------------ our orders

    def _on_fix(self, session: str, f: dict[str, str]) -> None:
        venue = self._venue_of_session[session]
        v = self.venues[venue]
        typ = f.get("35")
        self.counts.requests += 1
        if typ == "D":
            cl = f.get("11", "")
            try:
                qty = int(f.get("38", "0"))
                px = parse_price(f["44"]) if "44" in f else 0
            except ValueError as e:
                self._reject_new(session, f, f"bad quantity or price: {e}")
                return
            side = SIDES.get(f.get("54", ""))
            if f.get("43") == "Y" and (venue, cl) in self._orders:
                self.counts.possdup_ignored += 1  # a resend of an order we hold
                return
            if side is None or (venue, cl) in self._orders or qty <= 0:
                why = ("duplicate ClOrdID" if (venue, cl) in self._orders
                       else "unsupported side" if side is None else "quantity must be above 0")
                self._reject_new(session, f, why)
                return
            try:
                exec_inst, post_only, peg = _instructions(f)
            except ValueError as e:
                self._reject_new(session, f, str(e))
                return
            o = _Order(venue, session, cl, f.get("55", ""), side, qty, px, cl,
                       exec_inst=exec_inst)
            self._orders[(venue, cl)] = o
            ord_type = "market" if f.get("40") == "1" or (peg and not px) else "limit"
            tif = TIFS.get(f.get("59", "0"), "day")
            if self.scripted:  # a test waits for the order before it scripts the venue
                self._say({"order": cl, "venue": venue, "symbol": o.symbol, "qty": qty,
                           **({"possdup": True} if f.get("43") == "Y" else {})})
            self._emit(v.new_order(cl, o.symbol, side, qty, ord_type, px, tif, post_only,
                                   self._now, peg))
        elif typ in ("F", "G"):
            found = self._orders.get((venue, f.get("41", "")))
            cl = f.get("11", "")
            if found is None:
                self._cancel_reject(session, cl, f.get("41", ""), "", "1" if typ == "F" else "2",
                                    "1", "unknown order")
                return
            o = found
            if typ == "G":
                try:
                    same = _instructions(f)[0] == o.exec_inst
                except ValueError:
                    same = False
                if not same:
                    self._cancel_reject(session, cl, o.current, o.venue_order_id, "2", "2",
                                        "ExecInst and pegging cannot change: a replace "
                                        "declares the order's own again")
                    return
            self._orders[(venue, cl)] = o
            o.requests.append(("cancel" if typ == "F" else "replace", cl))
            if typ == "F":
                self._emit(v.cancel(o.order_id, self._now))
            else:
                try:
                    qty = int(f.get("38", str(o.qty)))
                    px = parse_price(f["44"]) if "44" in f else o.px
                except ValueError:
                    qty, px = o.qty, o.px
                self._emit(v.replace(o.order_id, qty, px, self._now))
        else:
            self.counts.refused += 1

    def _reject_new(self, session: str, f: dict[str, str], why: str) -> None:
        self.counts.refused += 1
        body = (f"37=NONE{SOH}11={f.get('11', '')}{SOH}17=REJ-{f.get('11', '')}{SOH}"
                + self._exec_fields(session, "8", "8") + f"55={f.get('55', '?')}{SOH}"
                f"54={f.get('54', '1')}{SOH}38={f.get('38', '0')}{SOH}14=0{SOH}151=0{SOH}"
                f"6=0{SOH}58={why}{SOH}")
        self._send(session, "8", body)

    def _exec_fields(self, session: str, exec_type: str, status: str,
                     trans: str = "0") -> str:
        if self._begin[session] == "FIX.4.2":
            return f"20={trans}{SOH}150={exec_type}{SOH}39={status}{SOH}"
        return f"150={exec_type}{SOH}39={status}{SOH}"

    def _cancel_reject(self, session: str, cl: str, orig: str, voi: str, response_to: str,
                       reason: str, text: str) -> None:
        body = (f"37={voi or 'NONE'}{SOH}11={cl}{SOH}41={orig}{SOH}39=8{SOH}"
                f"434={response_to}{SOH}102={reason}{SOH}58={text}{SOH}")
        self._send(session, "9", body)

    def _send(self, session: str, msg_type: str, body: str) -> None:
        send_raw(compose(self._begin[session], msg_type, body), self._sid[session])
        self.counts.reports += 1

    def _emit(self, events: list[Any]) -> None:
        for ev in events:
            o = self._orders.get((ev.venue, ev.order_id))
            if o is None:
                continue
            self._report(o, ev)

    def _report(self, o: _Order, ev: Any) -> None:
        s = o.session
        v42 = self._begin[s] == "FIX.4.2"
        cl, orig = o.current, ""
        if isinstance(ev, market.Ack):
            o.venue_order_id = ev.venue_order_id
            self._er(o, ev.exec_id, "0", "0", cl, orig)
        elif isinstance(ev, market.Reject):
            o.done = "8"
            self._er(o, ev.exec_id, "8", "8", cl, orig, text=ev.reason, leaves=0)
        elif isinstance(ev, market.Fill):
            o.cum_qty = ev.cum_qty
            o.notional += ev.qty * ev.px
            done = ev.leaves_qty == 0
            if done:
                o.done = "2"
            exec_type = ("2" if done else "1") if v42 else "F"
            self._er(o, ev.exec_id, exec_type, "2" if done else "1", cl, orig,
                     last=(ev.qty, ev.px, ev.liquidity), leaves=ev.leaves_qty)
            self.counts.fills += 1
        elif isinstance(ev, market.TradeCanceled | market.TradeCorrected):
            self._trade_amended(o, ev, cl, v42)
        elif isinstance(ev, market.Cancelled):
            if not ev.unsolicited and o.requests and o.requests[0][0] == "cancel":
                _k, req = o.requests.popleft()
                cl, orig = req, o.current
                o.current = req
            o.done = "4"
            self._er(o, ev.exec_id, "4", "4", cl, orig, text=ev.reason, leaves=0,
                     restatement=ev.restatement_reason)
        elif isinstance(ev, market.Replaced):
            if o.requests and o.requests[0][0] == "replace":
                _k, req = o.requests.popleft()
                cl, orig = req, o.current
                o.current = req
            o.qty, o.px = ev.qty, ev.px
            status = "2" if ev.leaves_qty == 0 and o.cum_qty else (
                "1" if o.cum_qty else "0")
            if ev.leaves_qty == 0:
                o.done = "2" if o.cum_qty else "4"
            self._er(o, ev.exec_id, "5", status, cl, orig, leaves=ev.leaves_qty)
        elif isinstance(ev, market.Restated):
            o.qty, o.px = ev.qty, ev.px
            if ev.leaves_qty == 0:
                o.done = "2" if o.cum_qty else "4"
            self._er(o, ev.exec_id, "D", "1" if o.cum_qty else "0", cl, orig, text=ev.reason,
                     leaves=ev.leaves_qty, restatement=ev.restatement_reason)
        elif isinstance(ev, market.CancelRejected):
            req = ""
            for i, (kind, c) in enumerate(o.requests):
                if kind == ev.response_to:
                    req = c
                    del o.requests[i]
                    break
            self._cancel_reject(s, req, o.current, o.venue_order_id,
                                "1" if ev.response_to == "cancel" else "2", "0", ev.reason)

    def _trade_amended(self, o: _Order, ev: market.TradeCanceled | market.TradeCorrected,
                       cl: str, v42: bool) -> None:
        """A trade cancel or correct: 4.4 ExecType H / G, 4.2 ExecTransType 1 / 2."""
        bust = isinstance(ev, market.TradeCanceled)
        if bust:
            o.notional -= ev.qty * ev.px
            last = (0, 0, "")
        else:
            assert isinstance(ev, market.TradeCorrected)
            o.notional += ev.qty * ev.px - ev.prev_qty * ev.prev_px
            last = (ev.qty, ev.px, "")
        o.qty, o.cum_qty = ev.order_qty, ev.cum_qty
        if ev.leaves_qty:
            status = "1" if o.cum_qty else "0"
        elif o.done == "4":
            status = "4"
        else:
            status = "2" if o.cum_qty and o.cum_qty >= o.qty else "3"
        if v42:
            exec_type, trans = ("2" if status == "2" else "1"), ("1" if bust else "2")
        else:
            exec_type, trans = ("H" if bust else "G"), "0"
        self._er(o, ev.exec_id, exec_type, status, cl, "", leaves=ev.leaves_qty, last=last,
                 ref=ev.ref_exec_id, trans=trans)

    def _er(self, o: _Order, exec_id: str, exec_type: str, status: str, cl: str, orig: str,
            *, text: str = "", leaves: int | None = None,
            last: tuple[int, int, str] | None = None, ref: str = "", trans: str = "0",
            restatement: RestatementReason = "") -> None:
        left = o.qty - o.cum_qty if leaves is None else leaves
        avg = (o.notional // o.cum_qty) if o.cum_qty else 0
        code = restatement_code(restatement, self._begin[o.session])
        body = (f"37={o.venue_order_id or 'NONE'}{SOH}11={cl}{SOH}"
                + (f"41={orig}{SOH}" if orig else "") + f"17={exec_id}{SOH}"
                + (f"19={ref}{SOH}" if ref else "")
                + self._exec_fields(o.session, exec_type, status, trans)
                + f"55={o.symbol}{SOH}54={SIDE_CODES[o.side]}{SOH}38={o.qty}{SOH}"
                + (f"44={fix_price(o.px)}{SOH}" if o.px else "")
                + (f"32={last[0]}{SOH}31={fix_price(last[1])}{SOH}" if last else "")
                + f"151={max(left, 0)}{SOH}14={o.cum_qty}{SOH}6={fix_price(avg)}{SOH}"
                + (f"58={text}{SOH}" if text else "")
                + (f"378={code}{SOH}" if code else "")
                + (f"851={_LIQ[last[2]]}{SOH}" if last and last[2] in _LIQ and (
                    self._begin[o.session] != "FIX.4.2") else ""))
        self._send(o.session, "8", body)

    # ------------------------------------------------------------ market data

    def _on_market(self, ev: tuple[str, str, str, tuple[int, ...]]) -> None:
        kind, venue, symbol, vals = ev
        v = self.venues.get(venue)
        if v is None:
            return
        self._now = vals[-1]
        if kind == "quote":
            self.counts.quotes += 1
            self._emit(v.on_quote(symbol, *vals))
        else:
            self.counts.trades += 1
            self._emit(v.on_trade(symbol, *vals))

    # ------------------------------------------------------------ scripted mode

    def _read_commands(self) -> None:
        for raw_line in sys.stdin:
            line = raw_line.strip()
            if not line:
                continue
            try:
                cmd = json.loads(line)
            except ValueError:
                sys.stdout.write(json.dumps({"error": f"not JSON: {line[:80]}"}) + "\n")
                sys.stdout.flush()
                continue
            self._inbox.put(("cmd", cmd))

    def _on_command(self, cmd: dict[str, Any]) -> None:
        """One scripted-mode command. Orders are named by venue and ClOrdID (any of the
        chain)."""
        try:
            op = cmd["op"]
            v = self.venues[cmd.get("venue", next(iter(self.venues)))]
            o = None
            if "cl_ord_id" in cmd:
                o = self._orders[(v.venue.code, cmd["cl_ord_id"])]
            oid = o.order_id if o is not None else None
            answer: dict[str, Any] = {"done": op}
            if op == "hold":
                v.hold(cmd["kind"], oid)
            elif op == "release":
                self._emit(v.release(cmd.get("kind"), oid))
            elif op == "fill" and oid is not None:
                self._emit(v.fill(oid, int(cmd["qty"]), int(cmd["px"]),
                                  cmd.get("liquidity", "added"), self._now,
                                  cmd.get("exec_id", "")))
                answer["exec_ids"] = [e.exec_id for e in v.acted if isinstance(e, market.Fill)]
            elif op in ("bust", "correct") and oid is not None:
                self._emit(v.bust(oid, str(cmd["exec_id"]), self._now) if op == "bust" else
                           v.correct(oid, str(cmd["exec_id"]), int(cmd["qty"]),
                                     int(cmd["px"]), self._now))
                answer["exec_id"] = v.acted[0].exec_id
            elif op == "unsolicited_cancel" and oid is not None:
                self._emit(v.unsolicited_cancel(oid, cmd.get("reason", "cancelled by the venue"),
                                                self._now, _restatement(cmd)))
            elif op == "restate" and oid is not None:
                self._emit(v.restate(oid, int(cmd["qty"]), int(cmd["px"]),
                                     cmd.get("reason", "restated by the venue"), self._now,
                                     _restatement(cmd)))
            elif op == "refuse_cancels" and oid is not None:
                v.refuse_cancels(oid)
            elif op == "allow_cancels" and oid is not None:
                v.allow_cancels(oid)
            elif op == "quote":
                self._emit(v.on_quote(cmd["symbol"], int(cmd["bid_px"]), int(cmd["bid_size"]),
                                      int(cmd["ask_px"]), int(cmd["ask_size"]), self._now))
            elif op == "trade":
                self._emit(v.on_trade(cmd["symbol"], int(cmd["px"]), int(cmd["size"]),
                                      self._now))
            else:
                raise KeyError(op)
        except (KeyError, ValueError, TypeError) as e:
            answer = {"error": f"bad command {cmd!r}: {e}"}
        self._say(answer)

    @staticmethod
    def _say(obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def _instructions(f: dict[str, str]) -> tuple[tuple[ExecInst, ...], bool, market.Peg]:
    """A D's or G's ExecInst (18) in words, post only, and its peg; ValueError (the
    reason to answer) for an ExecInst we do not support, two pegs, or a peg without
    OrdType P (or OrdType P without a peg)."""
    words = parse_exec_inst(f.get("18", ""))
    post_only, peg = market.exec_inst_terms(words)
    if peg and f.get("40") != "P":
        raise ValueError("a pegged order (ExecInst M or R) must be OrdType P")
    if not peg and f.get("40") == "P":
        raise ValueError("OrdType P (pegged) needs ExecInst M or R")
    return words, post_only, peg


def _restatement(cmd: dict[str, Any]) -> RestatementReason:
    """A scripted command's optional "restatement_reason", in words."""
    word = cmd.get("restatement_reason", "")
    if not word:
        return ""
    for known in RESTATEMENT_CODES:
        if known == word:
            return known
    raise ValueError(f"unknown restatement_reason {word!r}")


class MarketFeed(Consumer):
    """The day's quotes and trades, from the stream (journal first, then live), for the
    FIX venue simulator's fill model. `poll` hands back what arrived since the last
    call, as (kind, venue, symbol, figures)."""

    name = "venue_simulator"

    def __init__(self, day: Path) -> None:
        from sequencer.config import TransportConfig
        from sequencer.transport import StreamSubscriber, connect

        self._table = self.dispatch_table()
        self._types = frozenset(self._table)
        cfg = TransportConfig.for_day(day)
        self._aeron = connect(cfg)
        self._sub = StreamSubscriber(self._aeron, cfg, day / "journal", 1)
        self._day = day
        self._names: dict[int, str] = {}
        self._ts = 0
        self._out: list[tuple[str, str, str, tuple[int, ...]]] = []
        self.stopped = False  # the day's SystemStop went by

    def poll(self) -> list[tuple[str, str, str, tuple[int, ...]]]:
        self._out = []
        table = self._table
        for raw in self._sub.poll(4096, types=self._types):
            self._ts, _src, typ, _sseq = ROUTE.unpack_from(raw)
            decode, handler = table[typ]
            handler(decode(raw[HEADER_SIZE:]))
        return self._out

    @handles(SystemStart)
    def on_system_start(self, m: SystemStart) -> None:
        from sequencer.runtime.registry import refdata_loader

        loader = refdata_loader(self._day)
        if loader is None or not m.refdata_digest:
            return
        rd = loader(m.refdata_digest)
        self._names = {s.id: s.name for s in rd.symbols}

    @handles(SystemStop)
    def on_system_stop(self, m: SystemStop) -> None:
        self.stopped = True

    @handles(Quote)
    def on_quote(self, m: Quote) -> None:
        self._out.append(("quote", m.venue, self._names.get(m.symbol_id, ""),
                          (m.bid_px, m.bid_size, m.ask_px, m.ask_size, self._ts)))

    @handles(Trade)
    def on_trade(self, m: Trade) -> None:
        self._out.append(("trade", m.venue, self._names.get(m.symbol_id, ""),
                          (m.price, m.size, self._ts)))

    @property
    def seq(self) -> int:
        """The last seq read (every frame counts, of the types followed or not)."""
        return int(self._sub.next_seq) - 1

    @property
    def caught_up(self) -> bool:
        return bool(self._sub.caught_up)

    def close(self) -> None:
        self._sub.close()
        self._aeron.close()
