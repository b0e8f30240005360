"""The standalone media driver: an Aeron directory's driver in a process of its own.

A day's processes talk through the media driver of their Aeron directory. If
that driver lived inside the sequencer, a crash of the sequencer would take it
down and every app, gateway and the ticker plant with it. So by default
(`driver = "auto"` when no driver runs on the directory) the sequencer starts
this standalone driver in a process of its own, in a session of its own, and
attaches to it: the driver, and with it the day's processes, outlive the
sequencer, which a restart simply attaches to again.

`run_driver` refuses a directory a live driver already uses (a second driver
would take it over and cut the first one's clients off). With `linger_s` it
ends once no sequencer has owned its directory for that long (the day is
over, or nobody restarted a dead sequencer in time), so a spawned driver does
not outlive its use; without it, it runs until stopped. It keeps its process
id in `<aeron dir>.driver`, so `stop_spawned` can end it (tests, the demo).

Run as `python -m sequencer.driver --aeron-dir DIR [--linger S] [--log FILE]`
(`tape driver` is the same for people).

Under systemd (`sequencer.notify`) it says READY=1 once the driver is up, pings the
watchdog from its loop and says STOPPING=1 when it ends. A driver the sequencer spawns
is not the service's main process: it gets no notify socket.
"""

# determinism: edge module, a process that runs the Aeron media driver

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sequencer.notify import Notifier
from sequencer.ownership import owner_of_aeron_dir
from sequencer.transport import DriverInUse, driver_active, start_driver, stop_driver

PID_SUFFIX = ".driver"
#: How long a spawned driver waits for a sequencer before it ends (a dead sequencer
#: restarted within this keeps the day's processes up).
DEFAULT_LINGER_S = 600.0


def pid_file(aeron_dir: str) -> Path:
    return Path(str(Path(aeron_dir)) + PID_SUFFIX)


def run_driver(aeron_dir: str, linger_s: float | None = None,
               say: Callable[[str], None] = lambda _s: None) -> None:
    """Run a driver on `aeron_dir` until SIGTERM/SIGINT (or `linger_s` without a
    sequencer owning the directory)."""
    other = _spawned_pid(aeron_dir)
    if other is not None:
        raise DriverInUse(f"a media driver (pid {other}) already runs on {aeron_dir}")
    drv = start_driver(aeron_dir)  # DriverInUse if a live driver is there
    pid_file(aeron_dir).write_text(str(os.getpid()))
    running = True

    def _stop(*_: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    say(f"media driver running on {aeron_dir} (pid {os.getpid()})"
        + (f", ending after {linger_s:g} s without a sequencer" if linger_s else ""))
    sd = Notifier()
    sd.ready(f"media driver running on {aeron_dir}")
    owned_at = time.monotonic()
    try:
        while running:
            time.sleep(0.2)
            sd.beat()
            if linger_s is not None:
                now = time.monotonic()
                if owner_of_aeron_dir(aeron_dir) is not None:
                    owned_at = now
                elif now - owned_at > linger_s:
                    say(f"no sequencer on {aeron_dir} for {linger_s:g} s: the driver ends")
                    break
        sd.stopping("media driver stopping")
    finally:
        sd.close()
        with contextlib.suppress(OSError):
            if pid_file(aeron_dir).read_text().strip() == str(os.getpid()):
                pid_file(aeron_dir).unlink()
        stop_driver(drv)


def _spawned_pid(aeron_dir: str) -> int | None:
    """The pid of a live standalone driver of `aeron_dir` by its pid file (None if none):
    a second guard beside the driver's heartbeat, which beats only once a second."""
    try:
        pid = int(pid_file(aeron_dir).read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists() and b"sequencer.driver" not in cmdline.read_bytes():
        return None  # the pid was reused by another process
    return pid


def spawn(aeron_dir: str, log: Path, linger_s: float = DEFAULT_LINGER_S,
          timeout_s: float = 10.0) -> int:
    """Start a standalone driver on `aeron_dir` in a session of its own (a signal to the
    caller's process group does not reach it), wait until it is up; its pid. If one is
    already up (its pid file names a live driver), that one's pid."""
    other = _spawned_pid(aeron_dir)
    if other is not None:
        return other
    log.parent.mkdir(parents=True, exist_ok=True)
    # The sequencer's systemd notify socket and watchdog are the sequencer's: a driver
    # that inherited them would say READY=1 and ping for it.
    env = {k: v for k, v in os.environ.items()
           if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sequencer.driver", "--aeron-dir", aeron_dir,
             "--linger", str(linger_s)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
            env=env)
    deadline = time.monotonic() + timeout_s
    while not driver_active(aeron_dir):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise DriverInUse(f"the media driver for {aeron_dir} did not start (see {log})")
        time.sleep(0.02)
    return proc.pid


def stop_spawned(aeron_dir: str, timeout_s: float = 10.0) -> bool:
    """End the standalone driver of `aeron_dir` (by its pid file); False if none ran."""
    try:
        pid = int(pid_file(aeron_dir).read_text().strip())
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return True


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sequencer.driver", description=__doc__)
    p.add_argument("--aeron-dir", required=True)
    p.add_argument("--linger", type=float, default=None,
                   help="end after this many seconds without a sequencer on the directory")
    a = p.parse_args(argv)
    try:
        run_driver(a.aeron_dir, a.linger,
                   lambda s: print(s, file=sys.stderr, flush=True))
    except DriverInUse as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
