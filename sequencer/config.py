"""Sequencer and transport configuration (TOML files, validated with pydantic).

A bad file is refused with an error naming the file, the key and what was
expected. The effective transport settings of a running day are written to
`DAY/stream.json`, so every tool and app that joins the day finds the same
Aeron directory, channels and streams.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sequencer.journal import DEFAULT_SEGMENT_BYTES, FsyncPolicy

DEFAULT_AERON_DIR = "/dev/shm/tape-aeron"
STREAM_FILE = "stream.json"


class ConfigError(ValueError):
    """A config file that cannot be used; the message names file, key and expectation."""


class TransportConfig(BaseModel):
    """Where the stream lives: one Aeron directory, three streams."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    aeron_dir: str = DEFAULT_AERON_DIR
    input_channel: str = "aeron:ipc"
    input_stream: int = Field(default=1001, ge=1)
    output_channel: str = "aeron:ipc"
    output_stream: int = Field(default=1002, ge=1)
    notice_channel: str = "aeron:ipc"
    notice_stream: int = Field(default=1003, ge=1)
    # backoff: spin, yield, then park up to max_park_us while traffic is recent (fast_idle_ms),
    # then sleep slow_park_us at a time. yield_then_sleep: yield (no park) while traffic is
    # recent, then sleep the same way: the lowest latency that still rests when idle, for
    # a box whose cores the day's processes may keep busy while it trades.
    idle: Literal["backoff", "yield_then_sleep", "sleeping", "yielding", "busy_spin"] = (
        "backoff")
    max_park_us: int = Field(default=20, ge=1, le=100_000)
    fast_idle_ms: int = Field(default=5, ge=0, le=60_000)
    slow_park_us: int = Field(default=1000, ge=1, le=1_000_000)

    def write(self, day: Path) -> None:
        tmp = day / (STREAM_FILE + ".tmp")
        tmp.write_text(self.model_dump_json(indent=2))
        tmp.replace(day / STREAM_FILE)

    @classmethod
    def for_day(cls, day: Path | None) -> TransportConfig:
        """The transport a day runs on (defaults when the day has not said)."""
        if day is not None and (Path(day) / STREAM_FILE).exists():
            path = Path(day) / STREAM_FILE
            try:
                return cls.model_validate_json(path.read_text())
            except ValidationError as e:
                raise ConfigError(_describe(path, e, "")) from None
        return cls()


class SequencerConfig(BaseModel):
    """Everything the sequencer service takes from its config file."""

    model_config = ConfigDict(extra="forbid")

    transport: TransportConfig = TransportConfig()
    driver: Literal["auto", "embedded", "external"] = "auto"
    time_mode: Literal["wall", "sim"] = "wall"
    session_date: dt.date | None = None
    timezone: str = "America/New_York"
    seed: int | None = Field(default=None, ge=0, lt=2**63)
    fsync: FsyncPolicy = FsyncPolicy.GROUP
    group_commit_us: int = Field(default=1000, ge=10, le=1_000_000)
    group_commit_bytes: int = Field(default=4 << 20, ge=4096)
    segment_bytes: int = Field(default=DEFAULT_SEGMENT_BYTES, ge=1 << 16)
    clock_tick_ms: int = Field(default=100, ge=1, le=3_600_000)
    gap_wait_ms: int = Field(default=2000, ge=0, le=3_600_000)
    status_interval_ms: int = Field(default=500, ge=10)
    publish_chunk_bytes: int = Field(default=32 << 10, ge=1024, le=1 << 22)
    max_unpublished_bytes: int = Field(default=64 << 20, ge=1 << 16)

    def digest(self) -> str:
        """Digest of the settings that shape the day's stream (goes into `SystemStart`)."""
        canon = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canon.encode()).hexdigest()[:16]

    def day_seed(self, session_date: dt.date) -> int:
        if self.seed is not None:
            return self.seed
        h = hashlib.sha256(f"tape-seed:{session_date.isoformat()}".encode()).digest()
        return int.from_bytes(h[:8], "big") & (2**63 - 1)


def _describe(path: Path, err: ValidationError, prefix: str) -> str:
    lines = [f"{path}: invalid configuration"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"])
        key = f"{prefix}{key}" if key else prefix.rstrip(".") or "(top level)"
        got = e.get("input")
        got_s = "" if isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"  key '{key}': {e['msg']}{got_s}")
    return "\n".join(lines)


def load_sequencer_config(
    path: Path | None, overrides: dict[str, Any] | None = None
) -> SequencerConfig:
    """Read a TOML file's `[sequencer]` table (or the whole file), apply overrides, validate."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            raw = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such config file") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: not valid TOML: {e}") from None
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: cannot read: {e}") from None
        data = raw.get("sequencer", raw)
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: key 'sequencer': expected a table, got {data!r}")
    for k, v in (overrides or {}).items():
        if v is not None:
            data[k] = v
    try:
        return SequencerConfig.model_validate(data)
    except ValidationError as e:
        prefix = "sequencer." if path is not None and "sequencer" in tomllib.loads(
            path.read_text()) else ""
        raise ConfigError(_describe(path or Path("<command line>"), e, prefix)) from None
