"""Sequencer config files: a bad file names the file, the key and what was expected."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sequencer.config import (
    STREAM_FILE,
    ConfigError,
    SequencerConfig,
    TransportConfig,
    load_sequencer_config,
)
from sequencer.journal import FsyncPolicy


def write(tmp_path: Path, text: str, name: str = "seq.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def error_of(path: Path | None, overrides: dict[str, Any] | None = None) -> str:
    with pytest.raises(ConfigError) as ei:
        load_sequencer_config(path, overrides)
    return str(ei.value)


# --------------------------------------------------------------------------- good files


def test_defaults_without_a_file() -> None:
    cfg = load_sequencer_config(None)
    assert cfg == SequencerConfig()
    assert cfg.fsync is FsyncPolicy.GROUP


def test_sequencer_table_and_whole_file_forms(tmp_path: Path) -> None:
    a = write(tmp_path, '[sequencer]\nfsync = "always"\ngroup_commit_us = 500\n', "a.toml")
    b = write(tmp_path, 'group_commit_us = 500\nfsync = "always"\n', "b.toml")
    ca, cb = load_sequencer_config(a), load_sequencer_config(b)
    assert ca == cb
    assert ca.fsync is FsyncPolicy.ALWAYS
    assert ca.group_commit_us == 500


def test_nested_transport_table(tmp_path: Path) -> None:
    p = write(tmp_path, '[sequencer.transport]\naeron_dir = "/dev/shm/x"\ninput_stream = 7\n')
    cfg = load_sequencer_config(p)
    assert cfg.transport.aeron_dir == "/dev/shm/x"
    assert cfg.transport.input_stream == 7


def test_overrides_win_and_none_is_ignored(tmp_path: Path) -> None:
    p = write(tmp_path, '[sequencer]\nfsync = "always"\ntime_mode = "sim"\n')
    cfg = load_sequencer_config(p, {"fsync": "none", "time_mode": None, "seed": 9})
    assert cfg.fsync is FsyncPolicy.NONE
    assert cfg.time_mode == "sim"
    assert cfg.seed == 9


# --------------------------------------------------------------------------- bad files


def test_bad_values_name_the_file_the_key_and_the_expectation(tmp_path: Path) -> None:
    p = write(tmp_path, (
        "[sequencer]\n"
        'fsync = "sometimes"\n'
        "group_commit_us = -5\n"
        "bogus = 1\n"
        "[sequencer.transport]\n"
        "input_stream = 0\n"
    ))
    msg = error_of(p)
    lines = msg.splitlines()
    assert lines[0] == f"{p}: invalid configuration"
    body = sorted(lines[1:])
    assert body == sorted([
        "  key 'sequencer.fsync': Input should be 'always', 'group' or 'none' (got 'sometimes')",
        "  key 'sequencer.group_commit_us': Input should be greater than or equal to 10 (got -5)",
        "  key 'sequencer.bogus': Extra inputs are not permitted (got 1)",
        "  key 'sequencer.transport.input_stream': Input should be greater than or equal to 1 "
        "(got 0)",
    ])


def test_keys_are_named_without_prefix_in_a_whole_file_config(tmp_path: Path) -> None:
    p = write(tmp_path, 'fsync = "sometimes"\nclock_tick_ms = 0\n')
    lines = error_of(p).splitlines()
    assert lines[0] == f"{p}: invalid configuration"
    assert sorted(lines[1:]) == sorted([
        "  key 'fsync': Input should be 'always', 'group' or 'none' (got 'sometimes')",
        "  key 'clock_tick_ms': Input should be greater than or equal to 1 (got 0)",
    ])


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ('fsync = "sometimes"', "fsync", "'always', 'group' or 'none'"),
        ("group_commit_us = -5", "group_commit_us", "greater than or equal to 10"),
        ("group_commit_us = 1_000_001", "group_commit_us", "less than or equal to 1000000"),
        ('group_commit_us = "fast"', "group_commit_us", "valid integer"),
        ("segment_bytes = 100", "segment_bytes", "greater than or equal to 65536"),
        ("seed = -1", "seed", "greater than or equal to 0"),
        ('session_date = "2024-13-01"', "session_date", "valid date"),
        ('driver = "turbo"', "driver", "'auto', 'embedded' or 'external'"),
        ("unknown_key = true", "unknown_key", "Extra inputs are not permitted"),
        ('transport = { idle = "nap" }', "transport.idle",
         "'backoff', 'yield_then_sleep', 'sleeping'"),
        ("transport = { nope = 1 }", "transport.nope", "Extra inputs are not permitted"),
        ('transport = "x"', "transport", "valid dictionary"),
    ],
)
def test_each_bad_key(tmp_path: Path, text: str, key: str, expected: str) -> None:
    p = write(tmp_path, "[sequencer]\n" + text + "\n")
    msg = error_of(p)
    assert msg.startswith(f"{p}: invalid configuration\n")
    (line,) = [ln for ln in msg.splitlines()[1:]]
    assert line.startswith(f"  key 'sequencer.{key}': ")
    assert expected in line


def test_invalid_toml(tmp_path: Path) -> None:
    p = write(tmp_path, '[sequencer]\nfsync = "always\n')
    msg = error_of(p)
    assert msg.startswith(f"{p}: expected valid TOML: ")
    assert "line 2" in msg


def test_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "nope.toml"
    assert error_of(p) == f"{p}: no such config file"


def test_unreadable_file(tmp_path: Path) -> None:
    assert error_of(tmp_path).startswith(f"{tmp_path}: cannot read: ")
    p = tmp_path / "bin.toml"
    p.write_bytes(b"\xff\xfe fsync")
    assert error_of(p).startswith(f"{p}: cannot read: ")


def test_a_sequencer_key_that_is_not_a_table(tmp_path: Path) -> None:
    p = write(tmp_path, 'sequencer = "fast"\n')
    expected = f"{p}: key 'sequencer': expected a table, got 'fast'"
    assert error_of(p) == expected
    assert error_of(p, {"fsync": "always"}) == expected


def test_bad_override_names_the_command_line() -> None:
    msg = error_of(None, {"fsync": "sometimes"})
    assert msg.splitlines() == [
        "<command line>: invalid configuration",
        "  key 'fsync': Input should be 'always', 'group' or 'none' (got 'sometimes')",
    ]


def test_bad_stream_file_names_the_file(tmp_path: Path) -> None:
    (tmp_path / STREAM_FILE).write_text(json.dumps({"input_stream": 0}))
    with pytest.raises(ConfigError) as ei:
        TransportConfig.for_day(tmp_path)
    msg = str(ei.value)
    assert msg.startswith(f"{tmp_path / STREAM_FILE}: invalid configuration")
    assert "key 'input_stream': Input should be greater than or equal to 1 (got 0)" in msg


def test_stream_file_round_trip(tmp_path: Path) -> None:
    assert TransportConfig.for_day(tmp_path) == TransportConfig()
    t = TransportConfig(aeron_dir="/dev/shm/t", input_stream=11)
    t.write(tmp_path)
    assert TransportConfig.for_day(tmp_path) == t
    assert not (tmp_path / (STREAM_FILE + ".tmp")).exists()


# --------------------------------------------------------------------------- digest


def test_digest_is_stable(tmp_path: Path) -> None:
    a = write(tmp_path, '[sequencer]\nfsync = "none"\nseed = 5\n', "a.toml")
    b = write(tmp_path, 'seed = 5\nfsync = "none"\n', "b.toml")
    da = load_sequencer_config(a).digest()
    assert da == load_sequencer_config(a).digest()
    assert da == load_sequencer_config(b).digest()
    assert da == SequencerConfig(fsync=FsyncPolicy.NONE, seed=5).digest()
    assert len(da) == 16
    int(da, 16)


def test_digest_is_the_same_in_another_process() -> None:
    script = (
        "from sequencer.config import SequencerConfig\n"
        "print(SequencerConfig(seed=5, fsync='always').digest())\n"
    )
    here = SequencerConfig(seed=5, fsync=FsyncPolicy.ALWAYS).digest()
    for seed in ("0", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env
        )
        assert out.stdout.strip() == here


CHANGES: dict[str, Any] = {
    "transport": {"input_stream": 4242},
    "driver": "embedded",
    "day_streams": False,
    "time_mode": "sim",
    "session_date": dt.date(2024, 3, 15),
    "timezone": "Europe/London",
    "seed": 1,
    "fsync": "always",
    "group_commit_us": 2000,
    "group_commit_bytes": 8192,
    "segment_bytes": 1 << 20,
    "clock_tick_ms": 50,
    "gap_wait_ms": 500,
    "status_interval_ms": 1000,
    "publish_chunk_bytes": 2048,
    "max_unpublished_bytes": 1 << 17,
}


def test_digest_changes_cover_every_setting() -> None:
    """A new setting must be added to CHANGES (and so be shown to move the digest)."""
    assert set(CHANGES) == set(SequencerConfig.model_fields)


#: Where the stream travels, not what it holds: a day on one host and the same day across
#: hosts (UDP channels, a driver per host) carry the same SystemStart.
NOT_IN_DIGEST = {"transport", "driver"}


@pytest.mark.parametrize("key", sorted(CHANGES))
def test_digest_changes_when_a_setting_changes(key: str) -> None:
    base = SequencerConfig()
    changed = SequencerConfig.model_validate({key: CHANGES[key]})
    assert getattr(changed, key) != getattr(base, key)
    if key in NOT_IN_DIGEST:
        assert changed.digest() == base.digest()
    else:
        assert changed.digest() != base.digest()


def test_day_seed() -> None:
    d = dt.date(2024, 3, 15)
    cfg = SequencerConfig()
    assert cfg.day_seed(d) == cfg.day_seed(d)
    assert cfg.day_seed(d) != cfg.day_seed(d + dt.timedelta(days=1))
    assert 0 <= cfg.day_seed(d) < 2**63
    assert SequencerConfig(seed=77).day_seed(d) == 77
