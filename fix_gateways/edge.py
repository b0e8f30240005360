"""What both FIX gateways share: their place on the stream.

A gateway is an edge process with two sides. QuickFIX's threads call its
handlers and publish to the sequencer as the gateway's source; the lock makes
that safe, because an Aeron exclusive publication takes one writer at a time.
The main thread follows the stream from its first frame (the journal, then
live), hands each frame of the types it handles to its handler (`@handles`,
as in every consumer of the stream; `frame_source` and `frame_source_seq` say
who published it), and stops at `SystemStop`. When it ends it logs the
sessions out and leaves the QuickFIX engine alone (see `session.logout_all`).

At start the QuickFIX engines are made first (their sessions exist, so what
the catch-up sends is stored and goes out at logon, by the counterparty's
resend request), then the gateway catches up with the journal, and only then
are the sockets opened. A counterparty's first messages after a restart (a
venue's fills sent while we were down, a client's resent request) thus meet
the state the stream already holds: handled before the catch-up, a fill for a
child not yet read back would be dropped as unknown.

What it reports. Every half second the main loop (the catch-up included) writes
`DAY/fix/<name>.status.json` (`client_gateway`, `venue_gateway`): pid, state
("catching_up", "running", then "stopped" or "done" at the day's SystemStop), each
session logged on or not, the seq the gateway has reached and its counts (`tape status`
reads it). Under systemd (`sequencer.notify`) READY=1 goes with the `{"ready": ...}`
line, WATCHDOG=1 from the same half-second point (and from a QuickFIX thread that waits
for an absent sequencer), STOPPING=1 on a clean stop.
"""

# determinism: edge module, FIX sockets, wall clock and threads (QuickFIX's)

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import quickfix as fix
import structlog

from fix_gateways.session import logout_all
from sequencer import sources
from sequencer.config import TransportConfig
from sequencer.frames import HEADER_SIZE, ROUTE
from sequencer.messages import TYPE_ID, Message, encode
from sequencer.messages.control import SystemStop
from sequencer.notify import STATUS_EVERY_S, Notifier, StatusFile
from sequencer.runtime.app import Consumer, handles
from sequencer.runtime.runner import recorded_outputs
from sequencer.transport import (
    HeapFreezer,
    StreamPublisher,
    StreamSubscriber,
    connect,
    make_idle,
)

_route = ROUTE.unpack_from
log = structlog.get_logger("gateway")


class StreamGateway(Consumer):
    """Base of the client and venue gateways. Subclasses set `name` and `source_id`,
    mark their handlers `@handles(...)`, fill `sid` (session name -> QuickFIX
    SessionID), and implement `create_sessions`."""

    def __init__(self, day: Path) -> None:
        self.day = Path(day)
        self.sid: dict[str, Any] = {}
        self.lock = threading.Lock()  # the publisher is shared with QuickFIX's threads
        self.stopped_by_stream = False
        # Our outputs up to here were published by an earlier run of this gateway.
        self.published_before = 0
        # QuickFIX engines and their applications must outlive their start: dropping the
        # Python objects destroys the C++ ones under QuickFIX's running threads.
        self.engines: list[Any] = []
        # What `start_sessions` starts, in order (QuickFIX engines, TLS relays).
        self.to_start: list[Any] = []
        self._pub: StreamPublisher | None = None
        self._running = False
        self._table = self.dispatch_table()
        self._followed = frozenset(self._table)
        self._allowed = sources.allowed_outputs(self.source_id)
        # who published the frame being handled
        self.frame_source = sources.SEQUENCER
        self.frame_source_seq = 0
        self.state = "starting"
        self._status = StatusFile(self.day / "fix" / f"{self.name}.status.json", self.name)
        self._sd = Notifier()  # systemd's readiness and watchdog (no-ops without it)

    def create_sessions(self) -> bool:
        """Make the QuickFIX engine(s), kept in `engines`, and list in `to_start` what
        opens their sockets; False if there was none."""
        raise NotImplementedError

    def start_sessions(self) -> None:
        for thing in self.to_start:
            thing.start()

    def session_info(self, name: str) -> dict[str, Any]:
        """What the status file says of session `name` besides whether it is logged on
        (its client, its destination)."""
        return {}

    def status_fields(self) -> dict[str, Any]:
        """The gateway's own figures for its status file (its counts)."""
        return {}

    @handles(SystemStop)
    def on_system_stop(self, m: SystemStop) -> None:
        self.stopped_by_stream = True

    def publish(self, msg: Message) -> None:
        tid = TYPE_ID[type(msg)]
        if self._allowed is not None and tid not in self._allowed:
            raise TypeError(f"{self.name} may not publish {type(msg).__name__} "
                            "(sequencer.sources lists what each source publishes)")
        with self.lock:
            if self._pub is not None:
                self._pub.publish_raw(tid, encode(msg))

    def stop(self, *_: object) -> None:
        self._running = False

    def _keep_waiting(self) -> bool:
        """Go on waiting for the sequencer? A request waits in here while it is away
        (on a QuickFIX thread, holding the lock the main loop then waits for): the
        gateway is alive and doing what it should, so the watchdog hears so."""
        self._sd.beat(lambda: f"{self.name}: waiting for the sequencer")
        return self._running

    def _say(self, text: str) -> None:
        """What the gateway waits for, once, for people (stderr) and the log."""
        sys.stderr.write(f"{self.name}: {text}\n")
        sys.stderr.flush()
        log.warning("waiting" if "waiting" in text else "resumed", gateway=self.name,
                    text=text)

    def run_gateway(self, max_seconds: float | None) -> None:
        self._running = True
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        tcfg = TransportConfig.for_day(self.day)
        aeron = connect(tcfg)
        started = False
        try:
            self.published_before = recorded_outputs(self.day, self.source_id)
            # The gateway outlives the sequencer: while it is away, a request waits for it
            # (said once) and goes in when it is back; a stop request ends the wait.
            self._pub = StreamPublisher(aeron, tcfg, self.source_id, self.published_before + 1,
                                        wait=self._keep_waiting, on_wait=self._say)
            sub = StreamSubscriber(aeron, tcfg, self.day / "journal", 1)
            idle = make_idle(tcfg)
            created = self.create_sessions()
            self.state = "catching_up"
            status_at = 0.0
            while not sub.caught_up and self._running and not self.stopped_by_stream:
                self._step(sub, idle)  # the journal, before any socket opens
                now = time.monotonic()
                if now >= status_at:
                    self._report(sub)
                    status_at = now + STATUS_EVERY_S
            if created and self._running and not self.stopped_by_stream:
                self.start_sessions()
                started = True
            self.state = "running"
            self._report(sub)
            sys.stdout.write(json.dumps({"ready": self.name, "sessions": list(self.sid)})
                             + "\n")
            sys.stdout.flush()
            self._sd.ready(lambda: f"{self.name}: {len(self.sid)} session(s) started, caught "
                                   f"up at seq {sub.next_seq - 1}")
            self._loop(sub, idle, max_seconds)
            self.state = "done" if self.stopped_by_stream else "stopped"
            self._sd.stopping(lambda: f"{self.name}: {self.state} at seq {sub.next_seq - 1}")
            self._report(sub)
        finally:
            if started:
                logout_all(self.sid.values())
            with self.lock:
                self._pub = None
            aeron.close()
            self._sd.close()

    def _loop(self, sub: StreamSubscriber, idle: Any, max_seconds: float | None) -> None:
        end = None if max_seconds is None else time.monotonic() + max_seconds
        heap = HeapFreezer()
        status_at = time.monotonic() + STATUS_EVERY_S  # written just before the loop
        while self._running and not self.stopped_by_stream:
            self._step(sub, idle)
            heap.tick()
            now = time.monotonic()
            if now >= status_at:
                self._report(sub)
                status_at = now + STATUS_EVERY_S
            if end is not None and now >= end:
                break

    def _report(self, sub: StreamSubscriber) -> None:
        """The status file and the watchdog, from the main loop every half second."""
        sessions: dict[str, dict[str, Any]] = {}
        for name, sid in self.sid.items():
            # None before the engine that holds it is made.
            s = fix.Session.lookupSession(sid)
            sessions[name] = {"logged_on": bool(s is not None and s.isLoggedOn()),
                              **self.session_info(name)}
        pub = self._pub
        seq = sub.next_seq - 1
        self._status.write({
            "gateway": self.name, "state": self.state, "seq": seq,
            "caught_up": sub.caught_up, "sessions": sessions,
            "waiting_for_sequencer": pub is not None and pub.waiting,
            "stopped_by_stream": self.stopped_by_stream, **self.status_fields()})
        up = sum(1 for s in sessions.values() if s["logged_on"])
        self._sd.beat(lambda: f"{self.name}: {self.state}, {up}/{len(sessions)} session(s) "
                              f"logged on, at seq {seq}")

    def _step(self, sub: StreamSubscriber, idle: Any) -> None:
        table = self._table
        batch = sub.poll(4096, types=self._followed)
        for raw in batch:
            _ts, src, typ, sseq = _route(raw)
            decode, handler = table[typ]
            self.frame_source, self.frame_source_seq = src, sseq
            handler(decode(raw[HEADER_SIZE:]))
            if self.stopped_by_stream:
                break
        if not batch:
            with self.lock:
                if self._pub is not None:
                    self._pub.poll_notices()  # a gap notice: resend what was lost
        idle.idle(len(batch))
