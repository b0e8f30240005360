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
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sequencer.journal import DEFAULT_SEGMENT_BYTES, FsyncPolicy

DEFAULT_AERON_DIR = "/dev/shm/tape-aeron"
STREAM_FILE = "stream.json"
#: The host a process runs on, as the day's topology names it (set by `tape day start
#: --host`; unset on a single-host day).
HOST_ENV = "TAPE_HOST"
#: That host's Aeron directory, where it differs from the sequencer's (stream.json's).
AERON_DIR_ENV = "TAPE_AERON_DIR"


class ConfigError(ValueError):
    """A config file that cannot be used; the message names file, key and expectation.
    Raised for the file as a whole, it also keeps the file (`path`) and what is wrong
    with it (`what`), for callers that report problems their own way."""

    def __init__(self, message: str, *, path: Path | None = None, what: str = "") -> None:
        super().__init__(message)
        self.path = path
        self.what = what or message


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
    # Across hosts a publication's channel and its subscriptions' differ (multi-destination
    # cast: the sequencer publishes to a control address, subscribers name it and their
    # own endpoint). Empty: subscribers use the publication's channel (IPC, multicast).
    output_sub_channel: str = ""
    notice_sub_channel: str = ""
    # What subscribers on the sequencer's own host use instead (an Aeron spy on its
    # publication: shared memory, no network). Empty: the channels above.
    output_local_channel: str = ""
    notice_local_channel: str = ""
    # Catch-up over the network (`sequencer.journal_server`): where a process on another
    # host than the journal's asks for frames, and the port its replies come to on its
    # own host. Empty: every process reads the journal from the day folder.
    replay_channel: str = ""
    replay_stream: int = Field(default=1004, ge=1)
    replay_reply_port: int = Field(default=0, ge=0, le=65535)
    # The host whose day folder holds the journal (the sequencer's). A process knows its
    # own host from TAPE_HOST; on another host it catches up through `replay_channel`.
    journal_host: str = ""
    # backoff: spin, yield, then park up to max_park_us while traffic is recent (fast_idle_ms),
    # then sleep slow_park_us at a time. yield_then_sleep: yield (no park) while traffic is
    # recent, then sleep the same way: the lowest latency that still rests when idle, for
    # a box whose cores the day's processes may keep busy while it trades.
    idle: Literal["backoff", "yield_then_sleep", "sleeping", "yielding", "busy_spin"] = (
        "backoff")
    max_park_us: int = Field(default=20, ge=1, le=100_000)
    fast_idle_ms: int = Field(default=5, ge=0, le=60_000)
    slow_park_us: int = Field(default=1000, ge=1, le=1_000_000)
    # Not a setting: the start time of the sequencer that wrote the day's stream.json. A
    # publisher that later hears another sequencer's `hello` knows it restarted, and
    # resends what that one may have taken and lost.
    incarnation: int = Field(default=0, ge=0)

    @property
    def output_subscription(self) -> str:
        """The channel a subscriber of the stream uses here."""
        if self.output_local_channel and not self.remote_journal():
            return self.output_local_channel
        return self.output_sub_channel or self.output_channel

    @property
    def notice_subscription(self) -> str:
        if self.notice_local_channel and not self.remote_journal():
            return self.notice_local_channel
        return self.notice_sub_channel or self.notice_channel

    def remote_journal(self) -> bool:
        """Is this process on another host than the sequencer's (TAPE_HOST; unset: on
        its host)? It then catches up over the network and follows the stream by UDP."""
        return bool(self.journal_host
                    and os.environ.get(HOST_ENV, self.journal_host) != self.journal_host)

    def here(self) -> TransportConfig:
        """These settings as a process on this host uses them: its own host's Aeron
        directory (TAPE_AERON_DIR, set by `tape day start --host`)."""
        local = os.environ.get(AERON_DIR_ENV, "")
        return self.model_copy(update={"aeron_dir": local}) if local else self

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
                return cls.model_validate_json(path.read_text()).here()
            except ValidationError as e:
                raise ConfigError(_describe(path, e, "")) from None
        return cls().here()


class SequencerConfig(BaseModel):
    """Everything the sequencer service takes from its config file."""

    model_config = ConfigDict(extra="forbid")

    transport: TransportConfig = TransportConfig()
    # auto: attach to the Aeron directory's driver, or start a standalone one that
    # outlives the sequencer; embedded: a driver inside the sequencer (it dies with it);
    # external: attach to one started beforehand (`tape driver`).
    driver: Literal["auto", "embedded", "external"] = "auto"
    # Stream ids of the day's own, derived from its folder (`sequencer.ownership`), so two
    # days never share a stream on one Aeron directory; false keeps the configured ids.
    day_streams: bool = True
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
        # Where the stream travels (channels, driver) does not shape it: a day on one host
        # and the same day across hosts carry the same SystemStart.
        canon = json.dumps(self.model_dump(mode="json", exclude={"transport", "driver"}),
                           sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canon.encode()).hexdigest()[:16]

    def day_seed(self, session_date: dt.date) -> int:
        if self.seed is not None:
            return self.seed
        h = hashlib.sha256(f"tape-seed:{session_date.isoformat()}".encode()).digest()
        return int.from_bytes(h[:8], "big") & (2**63 - 1)


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file's tables, or `ConfigError` naming the file and what is wrong with it
    (missing, unreadable, not TOML). The one TOML reader of every config in Tape."""
    try:
        return tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        what = "no such config file"
    except tomllib.TOMLDecodeError as e:
        what = f"expected valid TOML: {e}"
    except (OSError, UnicodeDecodeError) as e:
        what = f"cannot read: {e}"
    raise ConfigError(f"{path}: {what}", path=Path(path), what=what)


def problems(err: ValidationError, prefix: str = "") -> list[tuple[str, str, Any]]:
    """(key, what pydantic says, the value given) for each error: the key dotted from
    the file's top (`prefix` is where the validated table sits in the file)."""
    out = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"])
        key = f"{prefix}{key}" if key else prefix.rstrip(".") or "(top level)"
        out.append((key, str(e["msg"]), e.get("input")))
    return out


def validate[M: BaseModel](model: type[M], data: Any, path: Path, prefix: str = "") -> M:
    """`data` (read from `path`) as `model`, or `ConfigError` naming the file, each bad
    key and what was expected."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_describe(path, e, prefix)) from None


def _describe(path: Path, err: ValidationError, prefix: str) -> str:
    lines = [f"{path}: invalid configuration"]
    for key, msg, got in problems(err, prefix):
        got_s = "" if isinstance(got, dict | list) else f" (got {got!r})"
        lines.append(f"  key '{key}': {msg}{got_s}")
    return "\n".join(lines)


def load_sequencer_config(
    path: Path | None, overrides: dict[str, Any] | None = None
) -> SequencerConfig:
    """Read a TOML file's `[sequencer]` table (or the whole file), apply overrides, validate."""
    data: dict[str, Any] = {}
    prefix = ""
    if path is not None:
        path = Path(path)
        raw = read_toml(path)
        data = raw.get("sequencer", raw)
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: key 'sequencer': expected a table, got {data!r}")
        prefix = "sequencer." if "sequencer" in raw else ""
    for k, v in (overrides or {}).items():
        if v is not None:
            data[k] = v
    return validate(SequencerConfig, data, path or Path("<command line>"), prefix)
