"""How a long-running process of the day tells the world it is alive: systemd's
`sd_notify` (readiness, the watchdog, a line of status, stopping) and its status file.

Started by systemd (`Type=notify`, the units `tape deploy units` writes), a process
says READY=1 once it is up and, if it follows the stream, caught up with the journal;
WATCHDOG=1 at least every `watchdog_interval()` seconds from the loop that does its
work (a hung loop stops pinging and systemd restarts the process); STATUS= lines now
and then; STOPPING=1 when it stops cleanly.

The protocol is one datagram of `KEY=VALUE` lines to the AF_UNIX socket named by
`$NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace). Without
`NOTIFY_SOCKET` (not started by systemd: a terminal, a test, the embedded runner)
every call is a no-op, so a process calls these unconditionally.

The module functions (`ready`, `watchdog`, `status`, `stopping`) look the socket up on
each call: for tools and tests. A process's loop uses one `Notifier`, which looks once,
at start, so that without systemd each of its calls costs an attribute test and nothing
else. `StatusFile` writes the JSON file `tape status` reads (`deploy.status`), the way
every process of the day writes its own: atomically, and never failing the process
over a full disk.

In `sequencer/` because the processes (sequencer, apps, ticker plant, gateways, venue
simulator, database writer) import `sequencer` and never `deploy`.
"""

# determinism: edge module, talks to systemd over a socket and writes status files

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger("notify")

#: The processes ping from the status points of their loops, which come every half
#: second: a watchdog shorter than that cannot be kept (`WatchdogSec=` over 1 s is).
STATUS_EVERY_S = 0.5
#: STATUS= lines when there is no watchdog to pace them: one every this many seconds.
_STATUS_SPACING_S = 2.0


def _address() -> str | None:
    path = os.environ.get("NOTIFY_SOCKET", "")
    if path.startswith("@"):
        # The abstract namespace: a leading NUL byte instead of the "@" systemd writes.
        return "\0" + path[1:]
    if path.startswith("/"):
        return path
    # Unset, empty, or a kind of address this client does not speak (systemd's vsock:):
    # as if not under systemd.
    return None


def notify(state: str) -> bool:
    """Send `state` (newline-separated `KEY=VALUE` assignments) to systemd. True if it
    was sent; False without a notify socket, or when the socket refused it: a
    process must not fail over its own status report (a watchdog ping that does not
    arrive is seen by systemd anyway, and acted on)."""
    addr = _address()
    if addr is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.connect(addr)
            s.sendall(state.encode())
    except OSError:
        return False
    return True


def ready(status_text: str | None = None) -> bool:
    """The process is up (and caught up): systemd starts what is ordered after it."""
    return notify("READY=1" if status_text is None else f"READY=1\nSTATUS={_line(status_text)}")


def watchdog() -> bool:
    """The process is alive: call at least every `watchdog_interval()` seconds."""
    return notify("WATCHDOG=1")


def status(text: str) -> bool:
    """A line of what the process is doing, shown by `systemctl status`."""
    return notify(f"STATUS={_line(text)}")


def stopping() -> bool:
    """The process is stopping (on SIGTERM, before its last writes)."""
    return notify("STOPPING=1")


def _line(text: str) -> str:
    # A newline would start another assignment of the protocol.
    return " ".join(text.splitlines())


def watchdog_interval() -> float | None:
    """Seconds between watchdog pings: half of `$WATCHDOG_USEC`, as systemd recommends,
    or None without a watchdog (unset, not a positive number, or `$WATCHDOG_PID` naming
    another process: the watchdog is then not ours)."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        return None
    try:
        n = int(usec)
    except ValueError:
        return None
    return n / 2 / 1e6 if n > 0 else None


Text = str | Callable[[], str]


class Notifier:
    """One process's sd_notify, for its loop. The environment is read once, here: with
    no notify socket `on` is False and every method returns at its first line, so a
    loop calls them unconditionally. Status texts may be given as callables, called
    only when a line is actually sent (no formatting without systemd).

    - `ready(text)`: READY=1 with a STATUS= line, once (later calls do nothing);
    - `beat(text)`: from the loop's periodic status point (or any loop that waits,
      such as a wait for the sequencer): WATCHDOG=1 if systemd asked for a watchdog,
      and a STATUS= line. Paced here to a quarter of the watchdog interval (at most
      `_STATUS_SPACING_S`), so it may be called as often as the loop likes;
    - `stopping(text)`: STOPPING=1, once, on a clean stop (with READY=1 first if the
      process never said it: systemd takes a `Type=notify` service that exits before
      READY=1 for a failure, and one that is done at once, such as an app started after
      the day's SystemStop, has not failed).
    """

    def __init__(self) -> None:
        self._addr = _address()
        self.on = self._addr is not None
        self.interval = watchdog_interval() if self.on else None
        self.is_ready = False
        self.is_stopping = False
        # Made now, not at the first send: gateways ping from QuickFIX's threads too.
        self._sock: socket.socket | None = self._socket() if self.on else None
        spacing = _STATUS_SPACING_S if self.interval is None else min(
            self.interval / 4, _STATUS_SPACING_S)
        self._spacing_ns = int(spacing * 1e9)
        self._due_ns = 0
        if self.interval is not None and self.interval < STATUS_EVERY_S:
            log.warning("watchdog_too_short", interval_s=self.interval,
                        text=f"pings come every {STATUS_EVERY_S} s; WatchdogSec= should be "
                             f"at least {2 * STATUS_EVERY_S:g} s")

    @staticmethod
    def _socket() -> socket.socket | None:
        # Non-blocking: a systemd that does not read its socket (its queue full) costs
        # a ping, never a stall of the loop that sends it.
        try:
            return socket.socket(socket.AF_UNIX,
                                 socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
        except OSError:
            return None  # out of descriptors: tried again at the next send

    def _send(self, state: str) -> bool:
        if self._addr is None:
            return False
        if self._sock is None:
            self._sock = self._socket()
            if self._sock is None:
                return False
        try:
            self._sock.sendto(state.encode(), self._addr)
        except OSError:
            return False  # see `notify`: the report must not fail the process
        return True

    def ready(self, text: Text = "") -> None:
        if not self.on or self.is_ready:
            return
        self.is_ready = True
        line = text() if callable(text) else text
        self._send(f"READY=1\nSTATUS={_line(line)}" if line else "READY=1")

    def beat(self, text: Text | None = None) -> None:
        if not self.on:
            return
        now = time.monotonic_ns()
        if now < self._due_ns:
            return
        self._due_ns = now + self._spacing_ns
        lines = ["WATCHDOG=1"] if self.interval is not None else []
        if text is not None:
            lines.append("STATUS=" + _line(text() if callable(text) else text))
        if lines:
            self._send("\n".join(lines))

    def stopping(self, text: Text = "") -> None:
        if not self.on or self.is_stopping:
            return
        self.is_stopping = True
        lines = [] if self.is_ready else ["READY=1"]
        self.is_ready = True
        lines.append("STOPPING=1")
        line = text() if callable(text) else text
        if line:
            lines.append("STATUS=" + _line(line))
        self._send("\n".join(lines))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class StatusFile:
    """A process's status file, `DAY/<path>`: JSON, written whole to a temporary file
    and renamed over it, so a reader never sees half of one. A write that fails (a full
    disk: the sequencer pauses the day then) is dropped, logged once until one succeeds
    again, and never raised: the status is a report, written again half a second later.
    Every status carries `pid` and `updated_wall_ns` (when it was written: the
    heartbeat `tape status` judges)."""

    def __init__(self, path: Path, process: str) -> None:
        self.path = Path(path)
        self.process = process
        self.failing = False

    def write(self, doc: dict[str, Any]) -> bool:
        st = {"pid": os.getpid(), **doc, "updated_wall_ns": time.time_ns()}
        tmp = self.path.with_suffix(".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(st))
            tmp.replace(self.path)
        except OSError as e:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            if not self.failing:
                log.warning("status_not_written", process=self.process, path=str(self.path),
                            error=str(e))
            self.failing = True
            return False
        self.failing = False
        return True


__all__ = ["STATUS_EVERY_S", "Notifier", "StatusFile", "notify", "ready", "status",
           "stopping", "watchdog", "watchdog_interval"]
