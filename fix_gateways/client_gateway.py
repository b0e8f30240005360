"""The client gateway: clients' FIX sessions in, their requests onto the stream, the
OMS's answers back out.

An edge process. QuickFIX accepts the sessions of `fix.toml` (one acceptor for
plain sessions, one for TLS) and calls `on_message` on its thread; the
gateway translates the message (`client_fix`) and publishes the request to the
sequencer before returning, so a request QuickFIX has counted as received is
already on its way to the stream (a crash in between loses nothing: the
client's resend arrives flagged PossDup, and a request whose ClOrdID the
stream already holds is dropped). A message that cannot become a valid
request is answered at once (an execution report reject or a business message
reject) and never reaches the stream; QuickFIX's data dictionary has already
answered malformed messages with a session-level reject.

The main loop follows the stream for `ExecutionReport` and `CancelReject` and
sends each to its client's session in that session's FIX version, and a copy
of every fill to the drop-copy sessions. On a restart the gateway reads the
stream from the start and skips what each session's store shows it sent.
"""

# determinism: edge module, FIX sockets, wall clock and threads (QuickFIX's)

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from fix_gateways import client_fix
from fix_gateways.config import BEGIN_STRING, ClientGateway, ClientSession, client_settings
from fix_gateways.session import (
    Callbacks,
    acceptor,
    fields_of,
    logout_all,
    send_raw,
    session_name,
    write_settings,
)
from fix_gateways.store import sent_keys, store_prefix
from sequencer.config import TransportConfig
from sequencer.messages import TYPE_ID, decode, encode
from sequencer.messages.control import SystemStop
from sequencer.messages.executions import CancelReject, ClientSessionStatus, ExecutionReport
from sequencer.messages.orders import CancelOrder, NewOrder, ReplaceOrder
from sequencer.runtime.runner import recorded_outputs
from sequencer.transport import StreamPublisher, StreamSubscriber, connect, make_idle

log = structlog.get_logger("client_gateway")

SOURCE_ID = 60
_ER = TYPE_ID[ExecutionReport]
_CR = TYPE_ID[CancelReject]
_STOP = TYPE_ID[SystemStop]
_OWN_REQUESTS = {TYPE_ID[t] for t in (NewOrder, CancelOrder, ReplaceOrder)}
_FOLLOWED = frozenset({_ER, _CR, _STOP, *_OWN_REQUESTS})
_SOURCE_AT = 32  # a frame's source id offset (sequencer.frames.HEADER)
_TYPE_AT = 36  # its type id


@dataclass
class Counts:
    received: int = 0
    published: int = 0
    refused: int = 0
    possdup_dropped: int = 0
    reports_sent: int = 0
    reports_skipped: int = 0  # already in a session's store (a restart)
    drop_copies: int = 0
    no_session: int = 0
    by_client: dict[str, int] = field(default_factory=dict)


class ClientGatewayProcess:
    """One client gateway for one day."""

    def __init__(self, day: Path, cfg: ClientGateway, config_dir: Path | None = None) -> None:
        self.day = Path(day)
        self.cfg = cfg
        self.config_dir = config_dir
        self.counts = Counts()
        self._lock = threading.Lock()  # the publisher is used from QuickFIX's threads
        self._pub: StreamPublisher | None = None
        self._running = False
        # session name -> its config; client -> its order session's name
        self._by_name: dict[str, ClientSession] = {}
        self._sid: dict[str, Any] = {}
        self._order_session: dict[str, str] = {}
        self._drop_sessions: list[str] = []
        self._sent: dict[str, set[str]] = {}
        self._seen_requests: set[str] = set()  # client\0ClOrdID of requests on the stream
        self.stopped_by_stream = False

    # ------------------------------------------------------------------ QuickFIX threads

    def on_logon(self, sid: Any) -> None:
        s = self._by_name.get(session_name(sid))
        if s is not None:
            self._publish(ClientSessionStatus(s.client, session_name(sid), "up"))

    def on_logout(self, sid: Any) -> None:
        s = self._by_name.get(session_name(sid))
        if s is not None:
            self._publish(ClientSessionStatus(s.client, session_name(sid), "down"))

    def on_message(self, msg: Any, sid: Any) -> None:
        name = session_name(sid)
        s = self._by_name[name]
        f = fields_of(msg)
        self.counts.received += 1
        if s.drop_copy:
            self._send(client_fix.business_reject(
                BEGIN_STRING[s.fix_version], f, "a drop-copy session takes no requests"), sid)
            self.counts.refused += 1
            return
        result = client_fix.from_client(BEGIN_STRING[s.fix_version], s.client, f)
        if isinstance(result, client_fix.Refusal):
            self._send(result.raw, sid)
            self.counts.refused += 1
            log.info("request_refused", session=name, why=result.why)
            return
        key = f"{s.client}\x00{f.get('11', '')}"
        if f.get("43") == "Y" and key in self._seen_requests:
            self.counts.possdup_dropped += 1  # a resend of a request the stream holds
            return
        self._seen_requests.add(key)
        self._publish(result)
        self.counts.published += 1
        self.counts.by_client[s.client] = self.counts.by_client.get(s.client, 0) + 1

    def _publish(self, msg: Any) -> None:
        with self._lock:
            if self._pub is None:
                return
            self._pub.publish_raw(TYPE_ID[type(msg)], encode(msg))

    def _send(self, raw: str, sid: Any) -> None:
        if not send_raw(raw, sid):
            log.warning("send_failed", session=session_name(sid))

    # ------------------------------------------------------------------ main thread

    def stop(self, *_: object) -> None:
        self._running = False

    def _sessions(self) -> None:
        import quickfix as fix

        for s in self.cfg.sessions:
            sid = fix.SessionID(BEGIN_STRING[s.fix_version], self.cfg.sender_comp_id, s.comp_id)
            name = session_name(sid)
            self._by_name[name] = s
            self._sid[name] = sid
            if s.drop_copy:
                self._drop_sessions.append(name)
            else:
                self._order_session[s.client] = name
            self._sent[name] = sent_keys(store_prefix(
                self.day / "fix" / "client" / "store", BEGIN_STRING[s.fix_version],
                self.cfg.sender_comp_id, s.comp_id))

    def run(self, max_seconds: float | None = None) -> Counts:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        self._sessions()
        tcfg = TransportConfig.for_day(self.day)
        aeron = connect(tcfg)
        engines: list[Any] = []
        try:
            self._pub = StreamPublisher(aeron, tcfg, SOURCE_ID,
                                        recorded_outputs(self.day, SOURCE_ID) + 1)
            sub = StreamSubscriber(aeron, tcfg, self.day / "journal", 1)
            self._catch_up_requests(sub)
            for tls in (False, True):
                if any(s.tls == tls for s in self.cfg.sessions):
                    name = "client-tls.cfg" if tls else "client.cfg"
                    settings = write_settings(self.day / "fix" / name, client_settings(
                        self.cfg, self.day, tls=tls, config_dir=self.config_dir))
                    eng = acceptor(Callbacks(self), settings, tls=tls)
                    eng.start()
                    engines.append(eng)
            self._ready()
            self._loop(sub, make_idle(tcfg), max_seconds)
        finally:
            if engines:
                logout_all(self._sid.values())
            with self._lock:
                self._pub = None
            aeron.close()
        return self.counts

    def _ready(self) -> None:
        import json
        import sys

        sys.stdout.write(json.dumps({"ready": "client_gateway", "sessions": list(self._sid)})
                         + "\n")
        sys.stdout.flush()

    def _catch_up_requests(self, sub: StreamSubscriber) -> None:
        """Nothing to do before the acceptor starts: requests and reports are both handled
        in stream order by the loop; the set of requests already on the stream is
        built as the loop reads them (a PossDup arriving before the loop caught up is
        rare and still safe: the OMS refuses a repeated ClOrdID)."""

    def _loop(self, sub: StreamSubscriber, idle: Any, max_seconds: float | None) -> None:
        self._running = True
        end = None if max_seconds is None else time.monotonic() + max_seconds
        while self._running:
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
            if self.stopped_by_stream:
                break

    def _on_frame(self, raw: bytes) -> None:
        typ = int.from_bytes(raw[_TYPE_AT:_TYPE_AT + 2], "little")
        if typ in _OWN_REQUESTS:
            if int.from_bytes(raw[_SOURCE_AT:_SOURCE_AT + 4], "little") == SOURCE_ID:
                req = decode(typ, raw[80:])
                assert isinstance(req, NewOrder | CancelOrder | ReplaceOrder)
                self._seen_requests.add(f"{req.client}\x00{req.cl_ord_id}")
            return
        if typ == _STOP:
            self.stopped_by_stream = True
            return
        m = decode(typ, raw[80:])
        if isinstance(m, ExecutionReport):
            self._report(m)
        elif isinstance(m, CancelReject):
            cr = m
            self._route(m.client, f"9:{m.cl_ord_id}",
                        lambda v: client_fix.cancel_reject(BEGIN_STRING[v], cr))

    def _report(self, m: ExecutionReport) -> None:
        self._route(m.client, f"8:{m.exec_id}",
                    lambda v: client_fix.execution_report(BEGIN_STRING[v], m))
        if m.exec_type == "trade":
            for name in self._drop_sessions:
                s = self._by_name[name]
                if s.client not in ("*", m.client):
                    continue
                copy = client_fix.drop_copy(BEGIN_STRING[s.fix_version], m)
                if copy is not None and self._send_once(name, f"8:{m.exec_id}", copy):
                    self.counts.drop_copies += 1

    def _route(self, client: str, key: str, build: Any) -> None:
        name = self._order_session.get(client)
        if name is None:
            self.counts.no_session += 1
            return
        if self._send_once(name, key, build(self._by_name[name].fix_version)):
            self.counts.reports_sent += 1

    def _send_once(self, name: str, key: str, raw: str) -> bool:
        sent = self._sent[name]
        if key in sent:
            self.counts.reports_skipped += 1
            return False
        sent.add(key)
        # Sent while the client is logged off, QuickFIX stores it and delivers it by the
        # client's resend request at the next logon (PossDup), as FIX prescribes.
        self._send(raw, self._sid[name])
        return True
