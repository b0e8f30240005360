"""A tiny sd_notify client: a process started by systemd (`Type=notify`, the units
`tape deploy units` writes) tells it that it is ready, that it is alive (the
watchdog), what it is doing, and that it is stopping.

The protocol is one datagram of `KEY=VALUE` lines to the AF_UNIX socket named by
`$NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace). Without
`NOTIFY_SOCKET` (not started by systemd: a terminal, a test, the embedded runner)
every call is a no-op, so a process calls these unconditionally.
"""

# determinism: edge module, ops tooling: talks to systemd over a socket

from __future__ import annotations

import os
import socket


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
