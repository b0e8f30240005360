"""Shared fixtures for the multi-process tests over real Aeron IPC.

- `aeron_dir`: a unique Aeron directory under /dev/shm, removed afterwards
  even when the test fails;
- `day`: an empty day folder in the test's tmp_path;
- `stack`: starts and tracks the processes of a test (sequencer, standalone
  media driver, workers from `tests.sequencer.workers`, `tape` commands) and
  stops every one of them at teardown, before the Aeron directory goes.

Processes run from the repository root with `sys.executable`, so
`python -m deploy ...` is the `tape` command and `python -m
tests.sequencer.workers ROLE ...` runs a worker. Their stderr goes to files
under tmp_path/logs, quoted in failure messages.

`Proc` and `Stack` are the shared process runner's (`deploy.procs`: `Proc`,
`ProcGroup`) with the tests' habits: a failed wait is an AssertionError, and a
stack stops its workers before its sequencers and its media driver last.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from deploy import procs
from deploy.procs import REPO, child_env

# What the tests import from here (REPO and child_env are the process runner's).
__all__ = ["REPO", "STATUS_FILE", "Proc", "Stack", "child_env", "frozen"]

STATUS_FILE = "sequencer.status.json"


class Proc(procs.Proc):
    """A child process whose stdout JSON lines are collected by a reader thread
    (`deploy.procs.Proc`), run from the repository root."""

    failure = AssertionError

    def __init__(
        self, name: str, argv: Sequence[str], log_dir: Path, env: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(name, argv, log_dir, env, cwd=REPO)

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM (after SIGCONT, in case it is frozen); SIGKILL if it lingers."""
        return self.stop(timeout)


@contextlib.contextmanager
def frozen(proc: Proc) -> Iterator[None]:
    """SIGSTOP the process (waiting until it is stopped) and SIGCONT it afterwards.

    A system call in progress (a journal write) completes before the process
    stops, so a journal read while its writer is frozen holds whole writes.
    """
    proc.signal(signal.SIGSTOP)
    stat = Path(f"/proc/{proc.pid}/stat")
    deadline = time.monotonic() + 10
    try:
        while True:
            try:
                state = stat.read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                break  # gone
            if state in ("T", "t", "Z", "X"):
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"{proc.name} did not stop on SIGSTOP (state {state})")
            time.sleep(0.001)
        yield
    finally:
        proc.signal(signal.SIGCONT)


class Stack(procs.ProcGroup):
    """The processes of one test, all stopped at teardown."""

    def __init__(self, tmp_path: Path, day: Path, aeron_dir: str) -> None:
        super().__init__(tmp_path / "logs", cwd=REPO)
        self.tmp = tmp_path
        self.day = day
        self.aeron_dir = aeron_dir
        self.logs = self.log_dir

    # ---- processes

    def unique_name(self, name: str) -> str:
        # Numbered from the first (`sequencer-1`), so a restart's log sits beside it.
        n = self._names[name] = self._names.get(name, 0) + 1
        return f"{name}-{n}"

    def spawn(
        self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None
    ) -> Proc:
        return self.add(Proc(self.unique_name(name), argv, self.logs, env))

    def start_driver(self, timeout: float = 30.0, env: dict[str, str] | None = None) -> Proc:
        """A standalone media driver (`tape driver`) on the test's Aeron directory.

        `env` may set the C driver's `AERON_*` settings (its context reads them).
        """
        from sequencer.transport import driver_active

        p = self.spawn("driver", self.tape_argv("driver", "--aeron-dir", self.aeron_dir), env)
        p.wait_until(lambda: driver_active(self.aeron_dir, 100), "the media driver up", timeout)
        return p

    def start_sequencer(
        self, driver: str = "embedded", config: Path | None = None, *extra: str, wait: bool = True
    ) -> Proc:
        argv = self.tape_argv(
            "sequencer", "run", "--day", str(self.day), "--aeron-dir", self.aeron_dir,
            "--driver", driver,
        )
        if config is not None:
            argv += ["--config", str(config)]
        p = self.spawn("sequencer", [*argv, *extra])
        if wait:
            self.wait_up(p)
        return p

    def wait_up(self, p: Proc, timeout: float = 30.0) -> dict[str, Any]:
        """Wait for the sequencer's status file, written by this very process."""
        st: dict[str, Any] = p.wait_file(
            self.day / STATUS_FILE, lambda st: st.get("pid") == p.pid, timeout,
            "the sequencer's status", interval=0.01)
        return st

    def stop_sequencer(self, p: Proc, timeout: float = 30.0) -> dict[str, Any]:
        """SIGTERM; the sequencer must exit 0 and leave a closed status."""
        p.signal(signal.SIGTERM)
        rc = p.wait(timeout)
        assert rc == 0, f"sequencer exited {rc} on SIGTERM: {p.describe()}"
        st: dict[str, Any] = self.status()
        assert st["pid"] == p.pid and st["state"] == "closed", st
        return st

    def worker(self, role: str, *args: object) -> Proc:
        argv = [sys.executable, "-m", "tests.sequencer.workers", role, "--day", str(self.day)]
        return self.spawn(role, argv + [str(a) for a in args])

    def tape(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run a `tape` command to completion."""
        return procs.run(self.tape_argv(*args), timeout, cwd=REPO)

    # ---- state

    def status(self, missing_ok: bool = False) -> Any:
        path = self.day / STATUS_FILE
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            if missing_ok:
                return None
            raise

    def wait_status(
        self, pred: Callable[[dict[str, Any]], bool], what: str, timeout: float = 30.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        st = None
        while time.monotonic() < deadline:
            st = self.status(missing_ok=True)
            if st is not None and pred(st):
                return dict(st)
            time.sleep(0.02)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; last status {st}")

    def write_config(self, text: str, name: str = "sequencer.toml") -> Path:
        path = self.tmp / name
        path.write_text(text)
        return path

    # ---- teardown

    def stop_order(self) -> list[procs.Proc]:
        # Workers first, then sequencers, the standalone driver last.
        def rank(p: procs.Proc) -> int:
            return 2 if p.name.startswith("driver") else 1 if p.name.startswith("sequencer") else 0

        return sorted(super().stop_order(), key=rank)

    def stop_one(self, proc: procs.Proc) -> None:
        # A worker has nothing to save: SIGKILL. A sequencer or a driver gets SIGTERM, as
        # in production, so that it closes its journal and its Aeron directory before the
        # fixture removes that directory.
        if proc.name.startswith(("sequencer", "driver")):
            proc.stop()
        else:
            proc.kill9()


@pytest.fixture
def aeron_dir() -> Iterator[str]:
    from sequencer.driver import pid_file, stop_spawned
    from sequencer.ownership import owner_file

    path = f"/dev/shm/tape-test-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    try:
        yield path
    finally:
        stop_spawned(path)  # a standalone driver a sequencer started (driver = "auto")
        shutil.rmtree(path, ignore_errors=True)
        for left in (owner_file(path), pid_file(path)):
            left.unlink(missing_ok=True)


@pytest.fixture
def day(tmp_path: Path) -> Path:
    d = tmp_path / "day"
    d.mkdir()
    return d


@pytest.fixture
def stack(tmp_path: Path, day: Path, aeron_dir: str) -> Iterator[Stack]:
    s = Stack(tmp_path, day, aeron_dir)
    try:
        yield s
    finally:
        s.close()
