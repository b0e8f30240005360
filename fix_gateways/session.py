"""QuickFIX plumbing shared by the gateways: settings files, engines, callbacks.

QuickFIX runs its sessions on its own threads and calls the `Application`
callbacks there. `Callbacks` forwards them to plain Python handlers, so a
gateway is written as one class with `on_logon`, `on_logout` and `on_message`
methods and never subclasses QuickFIX types itself. A callback that raises is
logged and swallowed: QuickFIX would otherwise reject or drop the session for
an error of ours, not of the counterparty's.
"""

# determinism: edge module, QuickFIX sessions do socket I/O on their own threads

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import quickfix as fix
import structlog

from fix_gateways.fixmsg import message

log = structlog.get_logger("fix")


class Handler(Protocol):
    def on_logon(self, sid: Any) -> None: ...

    def on_logout(self, sid: Any) -> None: ...

    def on_message(self, msg: Any, sid: Any) -> None: ...


class Callbacks(fix.Application):  # type: ignore[misc]  # quickfix has no type stubs
    """QuickFIX's Application interface, forwarded to a `Handler`."""

    def __init__(self, handler: Handler, on_admin_in: Callable[[Any, Any], None] | None = None,
                 ) -> None:
        super().__init__()
        self.handler = handler
        self.on_admin_in = on_admin_in

    def onCreate(self, sid: Any) -> None:  # noqa: N802 - QuickFIX's name
        pass

    def onLogon(self, sid: Any) -> None:  # noqa: N802
        try:
            self.handler.on_logon(sid)
        except Exception:
            log.exception("on_logon_failed", session=sid.toString())

    def onLogout(self, sid: Any) -> None:  # noqa: N802
        try:
            self.handler.on_logout(sid)
        except Exception:
            log.exception("on_logout_failed", session=sid.toString())

    def toAdmin(self, msg: Any, sid: Any) -> None:  # noqa: N802
        pass

    def fromAdmin(self, msg: Any, sid: Any) -> None:  # noqa: N802
        if self.on_admin_in is not None:
            self.on_admin_in(msg, sid)

    def toApp(self, msg: Any, sid: Any) -> None:  # noqa: N802
        pass

    def fromApp(self, msg: Any, sid: Any) -> None:  # noqa: N802
        try:
            self.handler.on_message(msg, sid)
        except Exception:
            log.exception("on_message_failed", session=sid.toString(),
                          message=msg.toString().replace("\x01", "|")[:500])


def write_settings(path: Path, text: str) -> Any:
    """Write generated QuickFIX settings (kept in the day folder for ops) and load them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return fix.SessionSettings(str(path))


def one_session(kind: str, root: Path, begin: str, sender: str, target: str, port: int,
                dictionary: Path | None, host: str = "127.0.0.1", **extra: str) -> str:
    """QuickFIX settings text for a single session (a tool's, a bench's or a test's
    counterparty; the gateways generate theirs from fix.toml in `config`): store and
    log under `root`, always on, TCP_NODELAY, the data dictionary if one is given,
    and any `extra` keys in [DEFAULT]."""
    lines = [
        "[DEFAULT]", f"ConnectionType={kind}", f"FileStorePath={root / 'store'}",
        f"FileLogPath={root / 'log'}", "StartTime=00:00:00", "EndTime=00:00:00",
        "HeartBtInt=30", "ReconnectInterval=1", "SocketNodelay=Y",
        "ValidateUserDefinedFields=N", *(f"{k}={v}" for k, v in extra.items()), "",
        "[SESSION]", f"BeginString={begin}", f"SenderCompID={sender}",
        f"TargetCompID={target}",
    ]
    lines += (["UseDataDictionary=Y", f"DataDictionary={dictionary}"] if dictionary
              else ["UseDataDictionary=N"])
    if kind == "acceptor":
        lines += [f"SocketAcceptHost={host}", f"SocketAcceptPort={port}"]
    else:
        lines += [f"SocketConnectHost={host}", f"SocketConnectPort={port}"]
    return "\n".join(lines) + "\n"


def acceptor(app: Callbacks, settings: Any) -> Any:
    """A plain acceptor: the PyPI build of quickfix has no SSL (`fix_gateways.tls`
    terminates TLS in front of it)."""
    return fix.SocketAcceptor(app, fix.FileStoreFactory(settings), settings,
                              fix.FileLogFactory(settings))


def initiator(app: Callbacks, settings: Any) -> Any:
    return fix.SocketInitiator(app, fix.FileStoreFactory(settings), settings,
                               fix.FileLogFactory(settings))


def logout_all(sids: Any, wait_s: float = 0.3) -> None:
    """Log every session out and give the logouts a moment to go out.

    We never call the engine's `stop()`: in quickfix 1.16's Python bindings it
    crashes the process (a segfault) about one time in six here, whichever side
    stops first. A gateway logs out, then its process exits without stopping
    the engine (`exit_now`); the store has every message already."""
    import time

    for sid in sids:
        s = fix.Session.lookupSession(sid)
        if s is not None and s.isLoggedOn():
            s.logout("shutting down")
    time.sleep(wait_s)


def exit_now(code: int = 0) -> None:
    """End the process without tearing QuickFIX down (see `logout_all`)."""
    import os
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def session_name(sid: Any) -> str:
    return str(sid.toString())


def send_raw(raw: str, sid: Any) -> bool:
    """Send a message built as text (the fast way: QuickFIX parses it once and fills in
    the real header fields, sequence number, sending time, length and checksum)."""
    return bool(fix.Session.sendToTarget(message(raw), sid))
