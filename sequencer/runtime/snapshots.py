"""Snapshot files: an app's state at a sequence number, in the day folder.

`DAY/snapshots/<app>/<seq>.snap` holds the engine snapshot (app state, timers,
random state, pending outputs) taken after frame `seq`. Files are written to a
temporary name and renamed, and carry a checksum, so a crash mid-write never
leaves a snapshot that loads; an unreadable one is skipped for the one before.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import structlog

MAGIC = b"TPS1"
_HEAD = struct.Struct("<4sIQ")  # magic, crc32 of data, seq
SUFFIX = ".snap"

log = structlog.get_logger("snapshots")


@dataclass(frozen=True)
class Snapshot:
    seq: int
    data: bytes
    path: Path


class SnapshotStore:
    def __init__(self, day: Path, app: str, keep: int = 3) -> None:
        self.dir = Path(day) / "snapshots" / app
        self.keep = keep

    def write(self, seq: int, data: bytes) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"{seq:020d}{SUFFIX}"
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(_HEAD.pack(MAGIC, zlib.crc32(data), seq) + data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
        for old in self.list()[: -self.keep]:
            old.unlink(missing_ok=True)
        return path

    def list(self) -> list[Path]:
        if not self.dir.exists():
            return []
        return sorted(p for p in self.dir.iterdir() if p.suffix == SUFFIX)

    def read(self, path: Path) -> Snapshot | None:
        raw = path.read_bytes()
        if len(raw) < _HEAD.size:
            return None
        magic, crc, seq = _HEAD.unpack_from(raw)
        data = raw[_HEAD.size :]
        if magic != MAGIC or zlib.crc32(data) != crc:
            return None
        return Snapshot(seq, data, path)

    def latest(self, at_most: int | None = None) -> Snapshot | None:
        """The newest readable snapshot (at or before seq `at_most`, if given)."""
        for path in reversed(self.list()):
            snap = self.read(path)
            if snap is None:
                log.warning("snapshot_unreadable", path=str(path))
                continue
            if at_most is None or snap.seq <= at_most:
                return snap
        return None
