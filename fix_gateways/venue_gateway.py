"""The venue gateway: the OMS's child instructions out to venues over FIX, the venues'
answers back onto the stream.

An edge process. QuickFIX initiates one session per destination of `fix.toml`
and reconnects a lost one by itself. The main loop follows the stream for
`ChildOrderSent` and sends each to its destination's session as a
NewOrderSingle, OrderCancelRequest or OrderCancelReplaceRequest
(`venue_fix` assigns the ClOrdIDs, deterministically from the stream, so a
restarted gateway rebuilds the same ids). A venue's execution reports and
cancel rejects become venue events (`VenueAck`, `VenueFill` with the
LastLiquidityIndicator translated, `VenueTradeCanceled` and `VenueTradeCorrected`
for a venue's bust or correction of a fill, ...), published before QuickFIX
counts the message as received; a fill, a trade cancel or a trade correct
whose ExecID the stream already holds for the child (a resend after a crash in
between, or a venue's repeat) is dropped.
Logon and logout of a session become `VenueStatus` events, so routing avoids a
destination that is down.

On a restart the gateway reads the stream from the start, before it opens its
sockets (`edge`), and sends only what each session's store does not show as sent.

Its status file (`DAY/fix/venue_gateway.status.json`, written by `edge`) names each
session's destination and venue, and carries the counts below.
"""

# determinism: edge module, FIX sockets, wall clock and threads (QuickFIX's)

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import quickfix as fix
import structlog

from fix_gateways import venue_fix
from fix_gateways.config import BEGIN_STRING, VenueGateway, VenueSession, venue_settings
from fix_gateways.edge import StreamGateway
from fix_gateways.fixmsg import read
from fix_gateways.session import Callbacks, initiator, send_raw, session_name, write_settings
from fix_gateways.store import message_key, sent_keys, store_prefix
from fix_gateways.venue_fix import VenueEvent
from sequencer import sources
from sequencer.messages.executions import (
    VenueAck,
    VenueCanceled,
    VenueCancelRejected,
    VenueFill,
    VenueReject,
    VenueReplaced,
    VenueRestated,
    VenueStatus,
    VenueTradeCanceled,
    VenueTradeCorrected,
)
from sequencer.messages.orders import ChildOrderSent
from sequencer.runtime.app import handles

log = structlog.get_logger("venue_gateway")


@dataclass
class VenueCounts:
    requests_sent: int = 0
    requests_skipped: int = 0  # already in a session's store (a restart)
    no_session: int = 0
    events: int = 0
    ignored: int = 0  # venue messages that carry no news (pending states, no-op restatements)
    unknown: int = 0  # answers for ClOrdIDs the gateway never sent


class VenueGatewayProcess(StreamGateway):
    name = "venue_gateway"
    source_id = sources.VENUE_GATEWAY

    def __init__(self, day: Path, cfg: VenueGateway) -> None:
        super().__init__(day)
        self.cfg = cfg
        self.counts = VenueCounts()
        self.orders = venue_fix.VenueOrders()  # shared with QuickFIX's thread: under lock
        self._by_name: dict[str, VenueSession] = {}
        self._by_dest: dict[str, str] = {}
        self._sent: dict[str, set[str]] = {}
        self._answered: set[str] = set()  # children this gateway refused (own VenueReject)
        self._up: dict[str, bool] = {}
        # child\0ExecID of the fills on the stream: a venue's resend of a fill we published
        # just before a crash (QuickFIX had not counted it received) is not published twice.
        self._fills: set[str] = set()
        # The same for the venues' trade cancels and corrects (child\0ExecID).
        self._amends: set[str] = set()
        for s in cfg.sessions:
            sid = fix.SessionID(BEGIN_STRING[s.fix_version], cfg.sender_comp_id,
                                s.target_comp_id)
            name = session_name(sid)
            self._by_name[name] = s
            self._by_dest[s.destination] = name
            self.sid[name] = sid
            self._sent[name] = sent_keys(store_prefix(
                self.day / "fix" / "venue" / "store", BEGIN_STRING[s.fix_version],
                cfg.sender_comp_id, s.target_comp_id))

    # ------------------------------------------------------------------ QuickFIX threads

    def on_logon(self, sid: Any) -> None:
        s = self._by_name.get(session_name(sid))
        if s is not None:
            self._up[s.destination] = True
            self.publish(VenueStatus(s.destination, s.venue, "up"))

    def on_logout(self, sid: Any) -> None:
        s = self._by_name.get(session_name(sid))
        if s is not None and self._up.get(s.destination, True):
            self._up[s.destination] = False
            self.publish(VenueStatus(s.destination, s.venue, "down", "session lost"))

    def on_message(self, msg: Any, sid: Any) -> None:
        s = self._by_name[session_name(sid)]
        with self.lock:
            event = self.orders.from_venue(BEGIN_STRING[s.fix_version], read(msg))
            note = self.orders.note
            if isinstance(event, VenueFill | VenueTradeCanceled | VenueTradeCorrected):
                seen = self._fills if isinstance(event, VenueFill) else self._amends
                key = f"{event.child_id}\x00{event.exec_id}"
                if key in seen:
                    what = ("fill" if isinstance(event, VenueFill) else "trade cancel"
                            if isinstance(event, VenueTradeCanceled) else "trade correct")
                    note = (f"{what} {event.exec_id} of child {event.child_id} is on the "
                            "stream already (a repeat or resend)")
                    event = None
                else:
                    seen.add(key)
        if event is None:
            self.counts.ignored += 1
            if note:
                log.info("venue_message_not_passed", session=session_name(sid), why=note)
            return
        self.counts.events += 1
        self.publish(event)

    # ------------------------------------------------------------------ main thread

    def run(self, max_seconds: float | None = None) -> VenueCounts:
        self.run_gateway(max_seconds)
        return self.counts

    def session_info(self, name: str) -> dict[str, Any]:
        s = self._by_name[name]
        return {"destination": s.destination, "venue": s.venue}

    def status_fields(self) -> dict[str, Any]:
        # Plain ints, each read once (QuickFIX's threads count events as we read).
        return {"counts": dict(vars(self.counts))}

    def create_sessions(self) -> bool:
        if not self.cfg.sessions:
            return False
        settings = write_settings(self.day / "fix" / "venue.cfg",
                                  venue_settings(self.cfg, self.day))
        app = Callbacks(self)
        eng = initiator(app, settings)
        self.engines += [eng, app]
        self.to_start.append(eng)
        return True

    @handles(VenueAck, VenueCanceled, VenueCancelRejected, VenueReplaced, VenueRestated)
    def on_venue_event(self, m: VenueEvent) -> None:
        """Our own venue events read back: published by an earlier run, they rebuild the
        ClOrdID book on catch-up (this run's were applied live, by `from_venue`)."""
        if self.frame_source == self.source_id and (
                self.frame_source_seq <= self.published_before):
            with self.lock:
                self.orders.apply(m)

    @handles(VenueReject)
    def on_venue_reject(self, m: VenueReject) -> None:
        if self.frame_source == self.source_id:
            self._answered.add(m.child_id)
            self.on_venue_event(m)

    @handles(VenueFill)
    def on_venue_fill(self, m: VenueFill) -> None:
        if self.frame_source == self.source_id:
            with self.lock:
                self._fills.add(f"{m.child_id}\x00{m.exec_id}")
            self.on_venue_event(m)

    @handles(VenueTradeCanceled, VenueTradeCorrected)
    def on_trade_amended(self, m: VenueTradeCanceled | VenueTradeCorrected) -> None:
        if self.frame_source == self.source_id:
            with self.lock:
                self._amends.add(f"{m.child_id}\x00{m.exec_id}")

    @handles(ChildOrderSent)
    def on_child_order(self, m: ChildOrderSent) -> None:
        name = self._by_dest.get(m.destination)
        if name is None:
            self.counts.no_session += 1
            if m.action == "new" and m.child_id not in self._answered:
                self._answered.add(m.child_id)
                self.publish(VenueReject(m.child_id, f"no FIX session to destination "
                                                     f"{m.destination}"))
            return
        s = self._by_name[name]
        with self.lock:
            raw_fix = self.orders.request(BEGIN_STRING[s.fix_version], m)
        key = message_key(raw_fix)
        sent = self._sent[name]
        if key is not None and key in sent:
            self.counts.requests_skipped += 1
            return
        if key is not None:
            sent.add(key)
        if not send_raw(raw_fix, self.sid[name]):
            log.warning("send_failed", session=name, child=m.child_id)
        self.counts.requests_sent += 1
