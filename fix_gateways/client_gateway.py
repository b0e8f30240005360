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
of every fill to the drop-copy sessions; it also reads back its own requests
(`NewOrder`, `CancelOrder`, `ReplaceOrder`) to know which ClOrdIDs the stream
holds. On a restart the gateway reads the
stream from the start and skips what each session's store shows it sent.

Its status file (`DAY/fix/client_gateway.status.json`, written by `edge`) names each
session's client and whether it is a drop copy, and carries the counts below.
"""

# determinism: edge module, FIX sockets, wall clock and threads (QuickFIX's)

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import quickfix as fix
import structlog

from fix_gateways import client_fix, tls
from fix_gateways.config import (
    BEGIN_STRING,
    ClientGateway,
    ClientSession,
    client_settings,
    tls_files,
)
from fix_gateways.edge import StreamGateway
from fix_gateways.fixmsg import read
from fix_gateways.session import Callbacks, acceptor, send_raw, session_name, write_settings
from fix_gateways.store import sent_counts, store_prefix
from sequencer import sources
from sequencer.messages.executions import CancelReject, ClientSessionStatus, ExecutionReport
from sequencer.messages.orders import CancelOrder, NewOrder, ReplaceOrder
from sequencer.runtime.app import handles

log = structlog.get_logger("client_gateway")


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


class ClientGatewayProcess(StreamGateway):
    """One client gateway for one day."""

    name = "client_gateway"
    source_id = sources.CLIENT_GATEWAY

    def __init__(self, day: Path, cfg: ClientGateway, config_dir: Path | None = None) -> None:
        super().__init__(day)
        self.cfg = cfg
        self.config_dir = config_dir
        self.counts = Counts()
        # session name -> its config; client -> its order session's name
        self._by_name: dict[str, ClientSession] = {}
        self._order_session: dict[str, str] = {}
        self._drop_sessions: list[str] = []
        self._sent: dict[str, Counter[str]] = {}  # keys in each session's store at start
        self._stream_keys: dict[str, dict[str, int]] = {}  # keys routed to it so far
        self._seen_requests: set[str] = set()  # client\0ClOrdID of requests on the stream
        for s in cfg.sessions:
            sid = fix.SessionID(BEGIN_STRING[s.fix_version], cfg.sender_comp_id, s.comp_id)
            name = session_name(sid)
            self._by_name[name] = s
            self.sid[name] = sid
            if s.drop_copy:
                self._drop_sessions.append(name)
            else:
                self._order_session[s.client] = name
            self._stream_keys[name] = {}
            self._sent[name] = sent_counts(store_prefix(
                self.day / "fix" / "client" / "store", BEGIN_STRING[s.fix_version],
                cfg.sender_comp_id, s.comp_id))

    # ------------------------------------------------------------------ QuickFIX threads

    def on_logon(self, sid: Any) -> None:
        s = self._by_name.get(session_name(sid))
        if s is not None:
            self.publish(ClientSessionStatus(s.client, session_name(sid), "up"))

    def on_logout(self, sid: Any) -> None:
        s = self._by_name.get(session_name(sid))
        if s is not None:
            self.publish(ClientSessionStatus(s.client, session_name(sid), "down"))

    def on_message(self, msg: Any, sid: Any) -> None:
        name = session_name(sid)
        s = self._by_name[name]
        f = read(msg)
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
        self.publish(result)
        self.counts.published += 1
        self.counts.by_client[s.client] = self.counts.by_client.get(s.client, 0) + 1

    def _send(self, raw: str, sid: Any) -> None:
        if not send_raw(raw, sid):
            log.warning("send_failed", session=session_name(sid))

    # ------------------------------------------------------------------ main thread

    def run(self, max_seconds: float | None = None) -> Counts:
        self.run_gateway(max_seconds)
        return self.counts

    def session_info(self, name: str) -> dict[str, Any]:
        s = self._by_name[name]
        return {"client": s.client, "drop_copy": s.drop_copy}

    def status_fields(self) -> dict[str, Any]:
        c = self.counts
        # QuickFIX's threads add to these as the main thread reads them: each figure is
        # read once, and the dict is copied in one step (dict() of a dict, under the GIL).
        return {"counts": {"received": c.received, "published": c.published,
                           "refused": c.refused, "possdup_dropped": c.possdup_dropped,
                           "reports_sent": c.reports_sent,
                           "reports_skipped": c.reports_skipped,
                           "drop_copies": c.drop_copies, "no_session": c.no_session,
                           "by_client": dict(c.by_client)}}

    def create_sessions(self) -> bool:
        """One acceptor for the plain sessions and one for TLS, as the config needs. The
        PyPI build of QuickFIX has no SSL, so the TLS sessions' acceptor listens in plain
        on loopback ports, behind the gateway's own TLS relays (`fix_gateways.tls`)."""
        for use_tls in (False, True):
            if not any(s.tls == use_tls for s in self.cfg.sessions):
                continue
            inner: dict[int, int] | None = None
            if use_tls:
                inner = {}
                for s in self.cfg.sessions:
                    if s.tls and s.port not in inner:
                        inner[s.port] = tls.free_loopback_port()
            name = "client-tls.cfg" if use_tls else "client.cfg"
            settings = write_settings(self.day / "fix" / name, client_settings(
                self.cfg, self.day, tls=use_tls, config_dir=self.config_dir,
                inner_ports=inner))
            app = Callbacks(self)
            eng = acceptor(app, settings)
            self.engines += [eng, app]
            self.to_start.append(eng)
            if inner:
                self._tls_relays(inner)
        return bool(self.engines)

    def _tls_relays(self, inner: dict[int, int]) -> None:
        """A TLS relay per TLS port, started after the acceptor it leads to."""
        assert self.cfg.tls is not None
        cert, key, ca = tls_files(self.cfg.tls, self.config_dir)
        ctx = tls.server_context(cert, key, ca, self.cfg.tls.verify_client)
        for outer, port in sorted(inner.items()):
            relay = tls.TlsRelay((self.cfg.host, outer), ("127.0.0.1", port), server_ctx=ctx,
                                 name=f"client-{outer}")
            self.engines.append(relay)
            self.to_start.append(relay)

    @handles(NewOrder, CancelOrder, ReplaceOrder)
    def on_request(self, m: NewOrder | CancelOrder | ReplaceOrder) -> None:
        """A client request on the stream: its ClOrdID is known (a PossDup resend of it
        is dropped). Requests of other sources (ops' inject) are not ours to dedup."""
        if self.frame_source == self.source_id:
            self._seen_requests.add(f"{m.client}\x00{m.cl_ord_id}")

    @handles(CancelReject)
    def on_cancel_reject(self, m: CancelReject) -> None:
        self._route(m.client, f"9:{m.cl_ord_id}",
                    lambda s: client_fix.cancel_reject(BEGIN_STRING[s.fix_version], m))

    @handles(ExecutionReport)
    def on_execution_report(self, m: ExecutionReport) -> None:
        self._route(m.client, f"8:{m.exec_id}",
                    lambda s: client_fix.execution_report(
                        BEGIN_STRING[s.fix_version], m, liquidity_42=s.liquidity_on_42))
        if m.exec_type in ("trade", "trade_cancel", "trade_correct"):
            for name in self._drop_sessions:
                s = self._by_name[name]
                if s.client not in ("*", m.client):
                    continue
                copy = client_fix.drop_copy(BEGIN_STRING[s.fix_version], m,
                                            liquidity_42=s.liquidity_on_42)
                if copy is not None and self._send_once(name, f"8:{m.exec_id}", copy):
                    self.counts.drop_copies += 1

    def _route(self, client: str, key: str, build: Callable[[ClientSession], str]) -> None:
        """Send to the client's order session the message `build` makes for it (its
        BeginString, its options), unless the session sent it already."""
        name = self._order_session.get(client)
        if name is None:
            self.counts.no_session += 1
            return
        if self._send_once(name, key, build(self._by_name[name])):
            self.counts.reports_sent += 1

    def _send_once(self, name: str, key: str, raw: str) -> bool:
        # The n-th message of a key on the stream is the n-th in the store: a key may
        # repeat (a second cancel reject for a repeated ClOrdID), so count, not a set.
        seen = self._stream_keys[name]
        n = seen[key] = seen.get(key, 0) + 1
        if n <= self._sent[name].get(key, 0):
            self.counts.reports_skipped += 1
            return False
        # Sent while the client is logged off, QuickFIX stores it and delivers it by the
        # client's resend request at the next logon (PossDup), as FIX prescribes.
        self._send(raw, self.sid[name])
        return True
