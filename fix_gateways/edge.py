"""What both FIX gateways share: their place on the stream.

A gateway is an edge process with two sides. QuickFIX's threads call its
handlers and publish to the sequencer as the gateway's source; the lock makes
that safe, because an Aeron exclusive publication takes one writer at a time.
The main thread follows the stream from its first frame (the journal, then
live), hands each frame of the types it follows to `on_frame`, and stops at
`SystemStop`. When it ends it logs the sessions out and leaves the QuickFIX
engine alone (see `session.logout_all`).

At start the QuickFIX engines are made first (their sessions exist, so what
the catch-up sends is stored and goes out at logon, by the counterparty's
resend request), then the gateway catches up with the journal, and only then
are the sockets opened. A counterparty's first messages after a restart (a
venue's fills sent while we were down, a client's resent request) thus meet
the state the stream already holds: handled before the catch-up, a fill for a
child not yet read back would be dropped as unknown.
"""

# determinism: edge module, FIX sockets, wall clock and threads (QuickFIX's)

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

from fix_gateways.session import logout_all
from sequencer.config import TransportConfig
from sequencer.frames import ROUTE
from sequencer.messages import TYPE_ID, Message, encode
from sequencer.messages.control import SystemStop
from sequencer.runtime.runner import recorded_outputs
from sequencer.transport import (
    HeapFreezer,
    StreamPublisher,
    StreamSubscriber,
    connect,
    make_idle,
)

_STOP = TYPE_ID[SystemStop]
_route = ROUTE.unpack_from


class StreamGateway:
    """Base of the client and venue gateways. Subclasses set `NAME`, `SOURCE_ID` and
    `FOLLOWED` (the type ids `on_frame` gets), fill `sid` (session name -> QuickFIX
    SessionID), and implement `create_sessions` and `on_frame`."""

    NAME: ClassVar[str]
    SOURCE_ID: ClassVar[int]
    FOLLOWED: ClassVar[frozenset[int]]

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
        self._followed: frozenset[int] = frozenset()

    def create_sessions(self) -> bool:
        """Make the QuickFIX engine(s), kept in `engines`, and list in `to_start` what
        opens their sockets; False if there was none."""
        raise NotImplementedError

    def start_sessions(self) -> None:
        for thing in self.to_start:
            thing.start()

    def on_frame(self, raw: bytes, source_id: int, type_id: int, source_seq: int) -> None:
        raise NotImplementedError

    def publish(self, msg: Message) -> None:
        with self.lock:
            if self._pub is not None:
                self._pub.publish_raw(TYPE_ID[type(msg)], encode(msg))

    def stop(self, *_: object) -> None:
        self._running = False

    def run_gateway(self, max_seconds: float | None) -> None:
        self._running = True
        self._followed = self.FOLLOWED | {_STOP}
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        tcfg = TransportConfig.for_day(self.day)
        aeron = connect(tcfg)
        started = False
        try:
            self.published_before = recorded_outputs(self.day, self.SOURCE_ID)
            self._pub = StreamPublisher(aeron, tcfg, self.SOURCE_ID, self.published_before + 1)
            sub = StreamSubscriber(aeron, tcfg, self.day / "journal", 1)
            idle = make_idle(tcfg)
            created = self.create_sessions()
            while not sub.caught_up and self._running and not self.stopped_by_stream:
                self._step(sub, idle)  # the journal, before any socket opens
            if created and self._running and not self.stopped_by_stream:
                self.start_sessions()
                started = True
            sys.stdout.write(json.dumps({"ready": self.NAME, "sessions": list(self.sid)})
                             + "\n")
            sys.stdout.flush()
            self._loop(sub, idle, max_seconds)
        finally:
            if started:
                logout_all(self.sid.values())
            with self.lock:
                self._pub = None
            aeron.close()

    def _loop(self, sub: StreamSubscriber, idle: Any, max_seconds: float | None) -> None:
        end = None if max_seconds is None else time.monotonic() + max_seconds
        heap = HeapFreezer()
        while self._running and not self.stopped_by_stream:
            self._step(sub, idle)
            heap.tick()
            if end is not None and time.monotonic() >= end:
                break

    def _step(self, sub: StreamSubscriber, idle: Any) -> None:
        batch = sub.poll(4096, types=self._followed)
        for raw in batch:
            _ts, src, typ, sseq = _route(raw)
            if typ == _STOP:
                self.stopped_by_stream = True
                break
            self.on_frame(raw, src, typ, sseq)
        if not batch:
            with self.lock:
                if self._pub is not None:
                    self._pub.poll_notices()  # a gap notice: resend what was lost
        idle.idle(len(batch))
