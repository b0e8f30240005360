"""Real QuickFIX sessions on loopback for the gateway tests: a free port, settings
files, and a recording application."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

from fix_gateways.config import data_dictionary
from fix_gateways.fixmsg import read
from fix_gateways.session import Callbacks, one_session, session_name


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings_text(kind: str, root: Path, begin: str, sender: str, target: str, port: int,
                  **extra: str) -> str:
    return one_session(kind, root, begin, sender, target, port,
                       data_dictionary(begin.removeprefix("FIX.")), **extra)


class Recorder:
    """A Handler keeping what arrived, with events to wait on."""

    def __init__(self) -> None:
        self.messages: list[dict[str, str]] = []
        self.logons: list[str] = []
        self.logouts: list[str] = []
        self.sid: Any = None
        self._cv = threading.Condition()

    def on_logon(self, sid: Any) -> None:
        with self._cv:
            self.sid = sid
            self.logons.append(session_name(sid))
            self._cv.notify_all()

    def on_logout(self, sid: Any) -> None:
        with self._cv:
            self.logouts.append(session_name(sid))
            self._cv.notify_all()

    def on_message(self, msg: Any, sid: Any) -> None:
        with self._cv:
            self.messages.append(read(msg))
            self._cv.notify_all()

    def wait(self, what: str, n: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cv:
            while len(getattr(self, what)) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"only {len(getattr(self, what))} {what} of {n}")
                self._cv.wait(left)

    def callbacks(self) -> Callbacks:
        return Callbacks(self)
