"""Who runs a day: one sequencer per day folder and per Aeron directory.

A running sequencer holds two locks for as long as it lives (`fcntl.flock`,
which the kernel releases when the process ends, however it ends: a crash
never leaves a stale owner):

- `DAY/sequencer.lock`, the day folder's: a second sequencer on the same day is
  refused;
- `<aeron dir>.owner`, the Aeron directory's. It sits beside the directory,
  not in it (a media driver empties its directory when it starts), and says
  which day the sequencer serves, so a second sequencer of another day on the
  same Aeron directory is refused, and a command meant for one day can tell
  that the sequencer it would reach serves another.

Commands that act on a running day (`tape inject`, `tape sequencer stop`) call
`running(day)`: it names the day's own sequencer or says, in one line, that it
is not running. Processes that follow a day (apps, gateways, the ticker plant)
check that the day exists (`require_day`) and never create it: only the
commands that start a day (`tape sequencer run`, `tape backtest`, `tape
refdata build`) do.

Each day also gets stream ids of its own on the Aeron directory
(`day_streams`), so a process of one day left attached to the directory never
exchanges a message with the sequencer of another.
"""

# determinism: edge module, file locks and process ids

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

DAY_LOCK = "sequencer.lock"
OWNER_SUFFIX = ".owner"
#: Stream ids a day derives from its folder start here, four apart (input, output,
#: notices, one spare), and stay below 2**31.
STREAM_BASE = 100_000
STREAM_SLOTS = 100_000_000


class OwnershipError(RuntimeError):
    """A day or an Aeron directory that this process may not use; the message says why."""


class DayInUse(OwnershipError):
    """Another live sequencer runs the day."""


class AeronDirInUse(OwnershipError):
    """A live sequencer of another day uses the Aeron directory."""


class NoSuchDay(OwnershipError):
    """The day folder does not exist (a command that targets a day never creates it)."""


class NotRunning(OwnershipError):
    """The day's sequencer is not running (or the Aeron directory serves another day)."""


@dataclass(frozen=True)
class Owner:
    """What a running sequencer says of itself in its locks."""

    day: str  # the day folder, resolved
    pid: int
    aeron_dir: str
    started_wall_ns: int

    def describe(self) -> str:
        return f"day {self.day} (sequencer pid {self.pid})"


def day_key(day: Path) -> str:
    """How a day is named in the locks: its folder, resolved."""
    return str(Path(day).resolve())


def owner_file(aeron_dir: str) -> Path:
    return Path(str(Path(aeron_dir)) + OWNER_SUFFIX)


def day_streams(day: Path) -> tuple[int, int, int]:
    """The day's own (input, output, notice) stream ids, from its folder's name."""
    slot = zlib.crc32(day_key(day).encode()) % STREAM_SLOTS
    base = STREAM_BASE + 4 * slot
    return base, base + 1, base + 2


def require_day(day: Path) -> Path:
    """`day` if it is a day folder, else `NoSuchDay` (bad usage: exit 2)."""
    p = Path(day)
    if not p.is_dir():
        raise NoSuchDay(f"no day folder {p}" + (" (it is a file)" if p.exists() else ""))
    return p


def _read(f: IO[str]) -> dict[str, Any] | None:
    f.seek(0)
    text = f.read()
    try:
        d = json.loads(text)
    except ValueError:
        return None
    return d if isinstance(d, dict) else None


def _owner(d: dict[str, Any] | None) -> Owner | None:
    if d is None:
        return None
    try:
        return Owner(str(d["day"]), int(d["pid"]), str(d["aeron_dir"]),
                     int(d["started_wall_ns"]))
    except (KeyError, TypeError, ValueError):
        return None


def _held_by(path: Path) -> Owner | None:
    """The live owner of a lock file (None if nobody holds it)."""
    if not path.exists():
        return None
    try:
        f = open(path)  # noqa: SIM115 - closed below; flock needs the open file
    except OSError:
        return None
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            # Held: the owner writes its name just after taking the lock.
            for _ in range(50):
                owner = _owner(_read(f))
                if owner is not None:
                    return owner
                time.sleep(0.01)
            return Owner("(unknown)", 0, "", 0)
        fcntl.flock(f, fcntl.LOCK_UN)
        return None


def owner_of_aeron_dir(aeron_dir: str) -> Owner | None:
    """The live sequencer that uses `aeron_dir`, if any."""
    return _held_by(owner_file(aeron_dir))


def owner_of_day(day: Path) -> Owner | None:
    """The live sequencer of `day`, if any."""
    return _held_by(Path(day) / DAY_LOCK)


class Ownership:
    """The two locks of a running sequencer. `release()` (or the process's end) frees
    them."""

    def __init__(self, day: Path, aeron_dir: str) -> None:
        self.day = Path(day)
        self.aeron_dir = aeron_dir
        self.owner = Owner(day_key(day), os.getpid(), aeron_dir, time.time_ns())
        self._files: list[IO[str]] = []

    def acquire(self) -> Ownership:
        try:
            self._take(self.day / DAY_LOCK, DayInUse, lambda o: (
                f"day {self.day} is already run by the sequencer pid {o.pid}; "
                "one sequencer per day"))
            owner_file(self.aeron_dir).parent.mkdir(parents=True, exist_ok=True)
            self._take(owner_file(self.aeron_dir), AeronDirInUse, lambda o: (
                f"the Aeron directory {self.aeron_dir} is used by the sequencer of "
                f"{o.describe()}; give this day another Aeron directory (--aeron-dir) or "
                "stop that day first"))
        except BaseException:
            self.release()
            raise
        return self

    def _take(self, path: Path, error: type[OwnershipError], why: Any) -> None:
        f = open(path, "a+")  # noqa: SIM115 - held open for the sequencer's life
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            f.close()
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            other = _held_by(path) or Owner("(unknown)", 0, "", 0)
            raise error(why(other)) from None
        f.seek(0)
        f.truncate()
        f.write(json.dumps({"day": self.owner.day, "pid": self.owner.pid,
                            "aeron_dir": self.aeron_dir,
                            "started_wall_ns": self.owner.started_wall_ns}))
        f.flush()
        self._files.append(f)

    def release(self) -> None:
        for f in self._files:
            with contextlib.suppress(OSError):
                fcntl.flock(f, fcntl.LOCK_UN)
            f.close()
        self._files = []


def running(day: Path) -> Owner:
    """The live sequencer of `day`, reachable on the Aeron directory the day names, or
    an `OwnershipError` saying why not (no such day: `NoSuchDay`; otherwise
    `NotRunning`)."""
    from sequencer.config import STREAM_FILE, TransportConfig

    require_day(day)
    if not (Path(day) / STREAM_FILE).exists():
        raise NotRunning(f"the sequencer of {day} is not running (no sequencer has run there)")
    cfg = TransportConfig.for_day(day)
    aeron_dir = cfg.aeron_dir
    if cfg.remote_journal():
        # The sequencer runs on another host: its locks are there, not here. Whether it
        # runs shows when a publisher connects to its input channel (or does not).
        return Owner(day_key(day), 0, aeron_dir, 0)
    owner = owner_of_aeron_dir(aeron_dir)
    if owner is not None and owner.day != day_key(day):
        raise NotRunning(f"the sequencer of {day} is not running: its Aeron directory "
                         f"{aeron_dir} now serves {owner.describe()}")
    if owner is None or owner_of_day(day) is None:
        raise NotRunning(f"the sequencer of {day} is not running")
    return owner


__all__ = [
    "AeronDirInUse", "DayInUse", "NoSuchDay", "NotRunning", "Owner", "Ownership",
    "OwnershipError", "day_key", "day_streams", "owner_of_aeron_dir", "owner_of_day",
    "require_day", "running",
]
