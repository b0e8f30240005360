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
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
STATUS_FILE = "sequencer.status.json"


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra or {})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Proc:
    """A child process whose stdout JSON lines are collected by a reader thread."""

    def __init__(
        self, name: str, argv: list[str], log_dir: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.argv = argv
        log_dir.mkdir(parents=True, exist_ok=True)
        self.stderr_path = log_dir / f"{name}.stderr"
        self._stderr = open(self.stderr_path, "wb")  # noqa: SIM115 - closed in close()
        self.popen = subprocess.Popen(
            argv, cwd=REPO, env=child_env(env), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self.history: list[dict[str, Any]] = []
        self.pending: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                msg = {"text": line.decode(errors="replace").rstrip()}
            if not isinstance(msg, dict):
                msg = {"value": msg}
            self.messages.put(msg)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stderr_text(self) -> str:
        """Everything the process wrote to stderr so far."""
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def stderr_tail(self, lines: int = 30) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def describe(self) -> str:
        rc = self.popen.poll()
        state = "running" if rc is None else f"exited {rc}"
        tail = self.stderr_tail()
        return f"{self.name} (pid {self.pid}, {state}); stderr:\n{tail}" if tail else (
            f"{self.name} (pid {self.pid}, {state}), no stderr"
        )

    def expect(self, key: str, timeout: float = 30.0, keep: bool = False) -> dict[str, Any]:
        """The next stdout message holding `key` (others are kept in `history`). With
        `keep`, the others passed over are also set aside for later `expect`s, which
        look there first (a report that overtook the acknowledgement of its request)."""
        for i, msg in enumerate(self.pending):
            if key in msg:
                return self.pending.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {key!r} from {self.describe()} within {timeout}s")
            try:
                msg = self.messages.get(timeout=min(left, 0.1))
            except queue.Empty:
                if not self.alive() and self.messages.empty():
                    self._reader.join(1)
                    if self.messages.empty():
                        raise AssertionError(
                            f"{self.describe()}\nended before saying {key!r}"
                        ) from None
                continue
            self.history.append(msg)
            if key in msg:
                return msg
            if keep:
                self.pending.append(msg)

    def send(self, line: str) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(line.encode() + b"\n")
        self.popen.stdin.flush()

    def signal(self, sig: int) -> None:
        if self.alive():
            self.popen.send_signal(sig)

    def wait(self, timeout: float = 30.0) -> int:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.describe()}\ndid not exit within {timeout}s") from None

    def kill9(self) -> int:
        """SIGKILL, and wait for it to be gone."""
        if self.alive():
            self.popen.send_signal(signal.SIGKILL)
        return self.popen.wait(30)

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM (after SIGCONT, in case it is frozen); SIGKILL if it lingers."""
        if self.alive():
            self.popen.send_signal(signal.SIGCONT)
            self.popen.send_signal(signal.SIGTERM)
            try:
                return self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.send_signal(signal.SIGKILL)
        return self.popen.wait(30)

    def close(self) -> None:
        if self.popen.stdin is not None:
            with contextlib.suppress(OSError):
                self.popen.stdin.close()
        self._stderr.close()
        if self.popen.stdout is not None:
            self._reader.join(2)
            self.popen.stdout.close()


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


class Stack:
    """The processes of one test, all stopped at teardown."""

    def __init__(self, tmp_path: Path, day: Path, aeron_dir: str) -> None:
        self.tmp = tmp_path
        self.day = day
        self.aeron_dir = aeron_dir
        self.logs = tmp_path / "logs"
        self.procs: list[Proc] = []
        self._names: dict[str, int] = {}

    # ---- processes

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Proc:
        n = self._names[name] = self._names.get(name, 0) + 1
        p = Proc(f"{name}-{n}", argv, self.logs, env)
        self.procs.append(p)
        return p

    @staticmethod
    def tape_argv(*args: str) -> list[str]:
        return [sys.executable, "-m", "deploy", *args]

    def start_driver(self, timeout: float = 30.0, env: dict[str, str] | None = None) -> Proc:
        """A standalone media driver (`tape driver`) on the test's Aeron directory.

        `env` may set the C driver's `AERON_*` settings (its context reads them).
        """
        from sequencer.transport import driver_active

        p = self.spawn("driver", self.tape_argv("driver", "--aeron-dir", self.aeron_dir), env)
        deadline = time.monotonic() + timeout
        while not driver_active(self.aeron_dir, 100):
            if not p.alive() or time.monotonic() > deadline:
                raise AssertionError(f"media driver did not come up: {p.describe()}")
            time.sleep(0.02)
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
        deadline = time.monotonic() + timeout
        while True:
            st = self.status(missing_ok=True)
            if st is not None and st.get("pid") == p.pid:
                return st
            if not p.alive():
                raise AssertionError(f"sequencer did not start: {p.describe()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no status from the sequencer within {timeout}s: "
                                     f"{p.describe()}")
            time.sleep(0.01)

    def stop_sequencer(self, p: Proc, timeout: float = 30.0) -> dict[str, Any]:
        """SIGTERM; the sequencer must exit 0 and leave a closed status."""
        p.signal(signal.SIGTERM)
        rc = p.wait(timeout)
        assert rc == 0, f"sequencer exited {rc} on SIGTERM: {p.describe()}"
        st = self.status()
        assert st["pid"] == p.pid and st["state"] == "closed", st
        return st

    def worker(self, role: str, *args: object) -> Proc:
        argv = [sys.executable, "-m", "tests.sequencer.workers", role, "--day", str(self.day)]
        return self.spawn(role, argv + [str(a) for a in args])

    def tape(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run a `tape` command to completion."""
        return subprocess.run(
            self.tape_argv(*args), cwd=REPO, env=child_env(), capture_output=True, text=True,
            timeout=timeout, check=False,
        )

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

    def close(self) -> None:
        # Workers first, then sequencers, the standalone driver last.
        def rank(p: Proc) -> int:
            return 2 if p.name.startswith("driver") else 1 if p.name.startswith("sequencer") else 0

        for p in sorted(self.procs, key=rank):
            try:
                if p.name.startswith(("sequencer", "driver")):
                    p.terminate()
                else:
                    p.kill9()
            finally:
                p.close()


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
