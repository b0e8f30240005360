"""The venue gateway: the OMS's child instructions out to venues over FIX, the venues'
answers back onto the stream.

An edge process. QuickFIX initiates one session per destination of `fix.toml`
and reconnects a lost one by itself. The main loop follows the stream for
`ChildOrderSent` and sends each to its destination's session as a
NewOrderSingle, OrderCancelRequest or OrderCancelReplaceRequest
(`venue_fix` assigns the ClOrdIDs, deterministically from the stream, so a
restarted gateway rebuilds the same ids). A venue's execution reports and
cancel rejects become venue events (`VenueAck`, `VenueFill` with the
LastLiquidityIndicator translated, ...), published before QuickFIX counts
the message as received. Logon and logout of a session become `VenueStatus`
events, so routing avoids a destination that is down.

On a restart the gateway reads the stream from the start and sends only what
each session's store does not show as sent.
"""

# determinism: edge module, FIX sockets, wall clock and threads (QuickFIX's)

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import quickfix as fix
import structlog

from fix_gateways import venue_fix
from fix_gateways.config import BEGIN_STRING, VenueGateway, VenueSession, venue_settings
from fix_gateways.session import (
    Callbacks,
    fields_of,
    initiator,
    logout_all,
    send_raw,
    session_name,
    write_settings,
)
from fix_gateways.store import message_key, sent_keys, store_prefix
from sequencer.config import TransportConfig
from sequencer.messages import TYPE_ID, decode, encode
from sequencer.messages.control import SystemStop
from sequencer.messages.executions import (
    VenueAck,
    VenueCanceled,
    VenueCancelRejected,
    VenueFill,
    VenueReject,
    VenueReplaced,
    VenueRestated,
    VenueStatus,
)
from sequencer.messages.orders import ChildOrderSent
from sequencer.runtime.runner import recorded_outputs
from sequencer.transport import StreamPublisher, StreamSubscriber, connect, make_idle

log = structlog.get_logger("venue_gateway")

SOURCE_ID = 70
_SENT = TYPE_ID[ChildOrderSent]
_REJECT = TYPE_ID[VenueReject]
_STOP = TYPE_ID[SystemStop]
_EVENTS = frozenset(TYPE_ID[t] for t in (VenueAck, VenueCanceled, VenueCancelRejected,
                                          VenueFill, VenueReject, VenueReplaced, VenueRestated))
_FOLLOWED = frozenset({_SENT, _STOP, *_EVENTS})
_SOURCE_AT = 32  # a frame's source id offset (sequencer.frames.HEADER)
_TYPE_AT = 36
_SSEQ_AT = 40  # its source sequence number


@dataclass
class VenueCounts:
    requests_sent: int = 0
    requests_skipped: int = 0  # already in a session's store (a restart)
    no_session: int = 0
    events: int = 0
    ignored: int = 0  # venue messages that carry no news (pending states, no-op restatements)
    unknown: int = 0  # answers for ClOrdIDs the gateway never sent


class VenueGatewayProcess:
    def __init__(self, day: Path, cfg: VenueGateway) -> None:
        self.day = Path(day)
        self.cfg = cfg
        self.counts = VenueCounts()
        self.orders = venue_fix.VenueOrders()
        self._lock = threading.Lock()
        self._pub: StreamPublisher | None = None
        self._running = False
        self._by_name: dict[str, VenueSession] = {}
        self._by_dest: dict[str, str] = {}
        self._sid: dict[str, Any] = {}
        self._sent: dict[str, set[str]] = {}
        self._answered: set[str] = set()  # children this gateway refused (own VenueReject)
        self._up: dict[str, bool] = {}
        # Our own venue events up to here were published by an earlier run of the gateway:
        # on catch-up they rebuild the ClOrdID book's state (later ones were applied live).
        self._published_before = 0
        self.stopped_by_stream = False

    # ------------------------------------------------------------------ QuickFIX threads

    def on_logon(self, sid: Any) -> None:
        s = self._by_name.get(session_name(sid))
        if s is not None:
            self._up[s.destination] = True
            self._publish(VenueStatus(s.destination, s.venue, "up"))

    def on_logout(self, sid: Any) -> None:
        s = self._by_name.get(session_name(sid))
        if s is not None and self._up.get(s.destination, True):
            self._up[s.destination] = False
            self._publish(VenueStatus(s.destination, s.venue, "down", "session lost"))

    def on_message(self, msg: Any, sid: Any) -> None:
        s = self._by_name[session_name(sid)]
        with self._lock:  # the order book of ClOrdIDs is shared with the main loop
            event = self.orders.from_venue(BEGIN_STRING[s.fix_version], fields_of(msg))
            note = self.orders.note
        if event is None:
            self.counts.ignored += 1
            if note:
                log.info("venue_message_not_passed", session=session_name(sid), why=note)
            return
        self.counts.events += 1
        self._publish(event)

    def _publish(self, msg: Any) -> None:
        with self._lock:
            if self._pub is not None:
                self._pub.publish_raw(TYPE_ID[type(msg)], encode(msg))

    # ------------------------------------------------------------------ main thread

    def stop(self, *_: object) -> None:
        self._running = False

    def run(self, max_seconds: float | None = None) -> VenueCounts:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        for s in self.cfg.sessions:
            sid = fix.SessionID(BEGIN_STRING[s.fix_version], self.cfg.sender_comp_id,
                                s.target_comp_id)
            name = session_name(sid)
            self._by_name[name] = s
            self._by_dest[s.destination] = name
            self._sid[name] = sid
            self._sent[name] = sent_keys(store_prefix(
                self.day / "fix" / "venue" / "store", BEGIN_STRING[s.fix_version],
                self.cfg.sender_comp_id, s.target_comp_id))
        tcfg = TransportConfig.for_day(self.day)
        aeron = connect(tcfg)
        eng: Any = None
        try:
            self._published_before = recorded_outputs(self.day, SOURCE_ID)
            self._pub = StreamPublisher(aeron, tcfg, SOURCE_ID, self._published_before + 1)
            sub = StreamSubscriber(aeron, tcfg, self.day / "journal", 1)
            if self.cfg.sessions:
                settings = write_settings(self.day / "fix" / "venue.cfg",
                                          venue_settings(self.cfg, self.day))
                eng = initiator(Callbacks(self), settings)
                eng.start()
            sys.stdout.write(json.dumps({"ready": "venue_gateway",
                                         "sessions": list(self._sid)}) + "\n")
            sys.stdout.flush()
            self._loop(sub, make_idle(tcfg), max_seconds)
        finally:
            if eng is not None:
                logout_all(self._sid.values())
            with self._lock:
                self._pub = None
            aeron.close()
        return self.counts

    def _loop(self, sub: StreamSubscriber, idle: Any, max_seconds: float | None) -> None:
        self._running = True
        end = None if max_seconds is None else time.monotonic() + max_seconds
        while self._running and not self.stopped_by_stream:
            batch = sub.poll(4096, types=_FOLLOWED)
            for raw in batch:
                self._on_frame(raw)
            if not batch:
                with self._lock:
                    if self._pub is not None:
                        self._pub.poll_notices()
            idle.idle(len(batch))
            if end is not None and time.monotonic() >= end:
                break

    def _on_frame(self, raw: bytes) -> None:
        typ = int.from_bytes(raw[_TYPE_AT:_TYPE_AT + 2], "little")
        if typ == _STOP:
            self.stopped_by_stream = True
            return
        m = decode(typ, raw[80:])
        if typ in _EVENTS:
            if int.from_bytes(raw[_SOURCE_AT:_SOURCE_AT + 4], "little") != SOURCE_ID:
                return
            if isinstance(m, VenueReject):
                self._answered.add(m.child_id)
            if int.from_bytes(raw[_SSEQ_AT:_SSEQ_AT + 8], "little") <= self._published_before:
                with self._lock:
                    self.orders.apply(m)  # type: ignore[arg-type]  # one of _EVENTS
            return
        assert isinstance(m, ChildOrderSent)
        name = self._by_dest.get(m.destination)
        if name is None:
            self.counts.no_session += 1
            if m.action == "new" and m.child_id not in self._answered:
                self._answered.add(m.child_id)
                self._publish(VenueReject(m.child_id, f"no FIX session to destination "
                                                      f"{m.destination}"))
            return
        s = self._by_name[name]
        with self._lock:
            raw_fix = self.orders.request(BEGIN_STRING[s.fix_version], m)
        key = message_key(raw_fix)
        sent = self._sent[name]
        if key is not None and key in sent:
            self.counts.requests_skipped += 1
            return
        if key is not None:
            sent.add(key)
        if not send_raw(raw_fix, self._sid[name]):
            log.warning("send_failed", session=name, child=m.child_id)
        self.counts.requests_sent += 1
