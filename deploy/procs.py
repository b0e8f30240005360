"""Child processes for the starters that are not the supervisor: the benchmarks
(`deploy/bench/`) and the tests' stack (`tests/conftest.py`). One way to start a
process, to read what it says, to wait for it to be up and to stop it.

- `child_env(extra)`: a child's environment: ours, `extra` over it, the repository
  first on PYTHONPATH (so `python -m deploy` and `python -m tests...` resolve from
  any working directory) and PYTHONUNBUFFERED (so a line the child prints reaches
  the reader when printed, not when a buffer fills);
- `tape_argv(*args)`: the `tape` command as an argv, run by this interpreter;
- `run(argv, timeout)`: a command to completion, its output captured;
- `Proc`: one child. Its stderr goes to `LOG_DIR/NAME.stderr`; a thread reads its
  stdout, one JSON object a line (a line that is not one is kept as `{"text": ...}`).
  `expect(key)` waits for the next object holding `key`, `wait_ready()` for the
  `{"ready": ...}` line that the gateways, the venue simulator and the bench workers
  print once they are up, `wait_file(path, predicate)` for a status file the process
  writes (`DAY/sequencer.status.json`, `DAY/apps/<app>.status.json`), `wait_until`
  for anything else. `stop()` is SIGTERM, then SIGKILL if it lingers, and reaps;
  `kill9()` is SIGKILL and reaps. A wait that fails raises `Proc.failure`
  (`ProcError`; the tests' subclass raises AssertionError) whose message is
  `describe()`: name, pid, running or exit status, and the tail of its stderr;
- `ProcGroup`: the processes of one run, stopped in the reverse of their start
  order (a context manager; `close()` stops them all even when one stop fails).

Only the standard library is imported here: a starter imports this module, and the
processes it starts should not pay for what it does not need.
"""

# determinism: edge module, ops tooling: starts, signals and waits for child processes

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

REPO = Path(__file__).resolve().parents[1]

#: How long a process may take to go once SIGKILLed before we give up waiting.
KILL_WAIT_S = 30.0


class ProcError(Exception):
    """A child did not say, write or do what was waited for (the message says why)."""


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra or {})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def tape_argv(*args: str) -> list[str]:
    """`tape ARGS...`, run by this interpreter (the venv's, wherever `tape` is not on PATH)."""
    return [sys.executable, "-m", "deploy", *args]


def run(argv: Sequence[str], timeout: float = 60.0, env: Mapping[str, str] | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command to completion with `child_env(env)`; stdout and stderr captured as
    text. Its exit status is the caller's to judge (no `check`)."""
    return subprocess.run(list(argv), cwd=cwd, env=child_env(env), capture_output=True,
                          text=True, timeout=timeout, check=False)


class Proc:
    """A child process whose stdout JSON lines are collected by a reader thread.

    `messages` is the queue the reader fills; `history` holds every message an
    `expect` took from it; `pending` the ones an `expect(..., keep=True)` passed over,
    which later `expect`s look at first.
    """

    #: What a failed wait raises. A subclass may pick another exception (the tests
    #: raise AssertionError, so that pytest reports a failure, not an error).
    failure: ClassVar[type[Exception]] = ProcError

    def __init__(self, name: str, argv: Sequence[str], log_dir: Path,
                 env: Mapping[str, str] | None = None, *, cwd: Path | None = None) -> None:
        """Start `argv` with `child_env(env)` in `cwd` (default: ours, so that paths the
        user typed relative mean the same to the child)."""
        self.name = name
        self.argv = list(argv)
        log_dir.mkdir(parents=True, exist_ok=True)
        self.stderr_path = log_dir / f"{name}.stderr"
        # The child holds its own descriptor of the log: ours can go at once.
        with open(self.stderr_path, "wb") as err:
            self.popen = subprocess.Popen(
                self.argv, cwd=cwd, env=child_env(env), stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=err,
            )
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self.history: list[dict[str, Any]] = []
        self.pending: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, name=f"stdout of {name}",
                                        daemon=True)
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

    # ---- state

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def cpu_seconds(self) -> float | None:
        """User plus system CPU seconds the process has used so far (`/proc`); None once
        it has been reaped (its pid may then be another process's)."""
        if self.popen.returncode is not None:
            return None
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime

    def stderr_text(self) -> str:
        """Everything the process wrote to stderr so far."""
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def stderr_tail(self, lines: int = 30) -> str:
        return "\n".join(self.stderr_text().splitlines()[-lines:])

    def describe(self) -> str:
        rc = self.popen.poll()
        state = "running" if rc is None else f"exited {rc}"
        tail = self.stderr_tail()
        return f"{self.name} (pid {self.pid}, {state}); stderr:\n{tail}" if tail else (
            f"{self.name} (pid {self.pid}, {state}), no stderr"
        )

    # ---- waiting for it

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
                raise self.failure(f"no {key!r} from {self.describe()} within {timeout}s")
            try:
                msg = self.messages.get(timeout=min(left, 0.1))
            except queue.Empty:
                if not self.alive() and self.messages.empty():
                    # The reader may still hold the last lines the process printed.
                    self._reader.join(1)
                    if self.messages.empty():
                        raise self.failure(
                            f"{self.describe()}\nended before saying {key!r}"
                        ) from None
                continue
            self.history.append(msg)
            if key in msg:
                return msg
            if keep:
                self.pending.append(msg)

    def wait_ready(self, timeout: float = 30.0) -> dict[str, Any]:
        """The `{"ready": ...}` line a process prints once it is up."""
        return self.expect("ready", timeout)

    def wait_until(self, pred: Callable[[], Any], what: str, timeout: float = 30.0,
                   interval: float = 0.02) -> Any:
        """Poll `pred` until it returns something truthy, and return that; fail if the
        process ends first (after one last look: it may have done it, then exited) or
        after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            got = pred()
            if got:
                return got
            if not self.alive():
                got = pred()
                if got:
                    return got
                raise self.failure(f"{self.describe()}\nended before {what}")
            if time.monotonic() > deadline:
                raise self.failure(f"no {what} within {timeout}s from {self.describe()}")
            time.sleep(interval)

    def wait_file(self, path: Path, predicate: Callable[[Any], bool] | None = None,
                  timeout: float = 30.0, what: str | None = None,
                  interval: float = 0.02) -> Any:
        """The content of the JSON file `path` (a status file the process writes) once it
        is there and `predicate` accepts it (e.g. its `pid` is this process's, when an
        earlier process left one). A file not yet there, or not yet whole, counts as
        not yet written."""

        def look() -> tuple[Any] | None:
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                return None
            # In a tuple: an empty object is a file written, not a falsy "not yet".
            return (data,) if predicate is None or predicate(data) else None

        got: tuple[Any] = self.wait_until(look, what or str(path), timeout, interval)
        return got[0]

    # ---- talking to it, stopping it

    def send(self, line: str) -> None:
        """One line to its stdin."""
        assert self.popen.stdin is not None
        self.popen.stdin.write(line.encode() + b"\n")
        self.popen.stdin.flush()

    def signal(self, sig: int) -> None:
        if self.alive():
            self.popen.send_signal(sig)

    def wait(self, timeout: float = 30.0) -> int:
        """Its exit status, once it ends by itself within `timeout` seconds."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise self.failure(f"{self.describe()}\ndid not exit within {timeout}s") from None

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM (after SIGCONT, in case it is frozen), SIGKILL if it is still there
        after `timeout` seconds; reaped either way. Its exit status (negative: the
        signal that ended it)."""
        if self.alive():
            self.popen.send_signal(signal.SIGCONT)
            self.popen.send_signal(signal.SIGTERM)
            try:
                return self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.send_signal(signal.SIGKILL)
        return self._reap()

    def kill9(self) -> int:
        """SIGKILL, and wait for it to be gone."""
        if self.alive():
            self.popen.send_signal(signal.SIGKILL)
        return self._reap()

    def _reap(self) -> int:
        try:
            return self.popen.wait(KILL_WAIT_S)
        except subprocess.TimeoutExpired:  # stuck in the kernel (a dead disk, say)
            raise self.failure(f"{self.describe()}\nstill there {KILL_WAIT_S}s after "
                               "SIGKILL") from None

    def close(self) -> None:
        """Let go of its pipes (once it has been stopped)."""
        if self.popen.stdin is not None:
            with contextlib.suppress(OSError):  # a broken pipe: it is gone already
                self.popen.stdin.close()
        if self.popen.stdout is not None:
            self._reader.join(2)
            self.popen.stdout.close()


P = TypeVar("P", bound=Proc)


class ProcGroup:
    """The processes of one run, stopped in the reverse of their start order by
    `close()` (or at the end of a `with` block). Their stderr logs go to `log_dir`."""

    def __init__(self, log_dir: Path, *, cwd: Path | None = None,
                 stop_timeout: float = 20.0) -> None:
        self.log_dir = log_dir
        self.cwd = cwd
        self.stop_timeout = stop_timeout
        self.procs: list[Proc] = []
        self._names: dict[str, int] = {}

    @staticmethod
    def tape_argv(*args: str) -> list[str]:
        return tape_argv(*args)

    def unique_name(self, name: str) -> str:
        """`name`, then `name-2`, `name-3`...: each process its own log file."""
        n = self._names[name] = self._names.get(name, 0) + 1
        return name if n == 1 else f"{name}-{n}"

    def spawn(self, name: str, argv: Sequence[str],
              env: Mapping[str, str] | None = None) -> Proc:
        return self.add(Proc(self.unique_name(name), argv, self.log_dir, env, cwd=self.cwd))

    def add(self, proc: P) -> P:
        """Track a process started elsewhere (a subclass of `Proc`)."""
        self.procs.append(proc)
        return proc

    def check_alive(self) -> None:
        """Fail if any process has ended."""
        for p in self.procs:
            if not p.alive():
                raise p.failure(f"{p.describe()}\nended early")

    def stop_order(self) -> list[Proc]:
        return self.procs[::-1]

    def stop_one(self, proc: Proc) -> None:
        proc.stop(self.stop_timeout)

    def close(self) -> None:
        """Stop every process (`stop_order`, `stop_one`) and let go of its pipes. A stop
        that fails does not keep the others running: the first failure is raised once
        all have been stopped."""
        first: Exception | None = None
        for p in self.stop_order():
            try:
                self.stop_one(p)
            except Exception as e:  # raised below, once the others are stopped too
                first = first or e
            finally:
                p.close()
        if first is not None:
            raise first

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def remove_aeron_dir(aeron_dir: str | Path) -> None:
    """An Aeron directory a run made, and the owner lock the sequencer leaves beside it
    (`sequencer.ownership`): neither means anything once the run's processes are gone."""
    import shutil

    from sequencer.ownership import owner_file

    shutil.rmtree(aeron_dir, ignore_errors=True)
    owner_file(str(aeron_dir)).unlink(missing_ok=True)
