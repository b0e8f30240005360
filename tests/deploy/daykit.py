"""A whole supervised day for the operations tests: `tape day ...` commands on a recorded
day in sim time, under a root folder of the test's own, with the shipped FIX sessions
moved to free ports (so that tests and a running demo never meet)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deploy.day import DEFAULT_FIX, fix_config_on_free_ports
from tests.conftest import REPO, child_env

DATE = "2013-10-08"


class DayRoot:
    """A root of day folders, an archive store and the FIX config, and `tape` run
    against them through the environment a scheduler would set."""

    def __init__(self, tmp: Path) -> None:
        self.root = tmp / "days"
        self.root.mkdir()
        self.archive = tmp / "archive"
        self.fix = fix_config_on_free_ports(DEFAULT_FIX, tmp / "fix.toml")
        self.day = self.root / DATE
        self.env = child_env({"TAPE_DAYS": str(self.root), "TAPE_ARCHIVE": str(self.archive),
                              "TAPE_FIX_CONFIG": str(self.fix), "TAPE_MODE": "sim",
                              # IBM's day (160,000 rows) is a whole day's work at a
                              # tenth of the recorded market's frames.
                              "TAPE_SYMBOLS": "IBM", "DATE": DATE})

    def tape(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "deploy", *args], cwd=REPO,
                              env=self.env, text=True, capture_output=True, timeout=timeout,
                              check=False)

    def sh(self, command: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """A shell command as a pipeline's `sh` step runs it (`tape` is this
        interpreter's)."""
        bindir = Path(sys.executable).parent
        env = dict(self.env, PATH=f"{bindir}{os.pathsep}{self.env.get('PATH', '')}")
        return subprocess.run(["bash", "-c", command], cwd=REPO, env=env, text=True,
                              capture_output=True, timeout=timeout, check=False)

    def job(self, stage: str) -> dict[str, Any]:
        return dict(json.loads((self.day / "jobs" / f"{stage}.json").read_text()))

    def status(self) -> dict[str, Any]:
        r = self.tape("status", "--day", str(self.day), "--json")
        return dict(json.loads(r.stdout))

    def cleanup(self) -> None:
        """Stop whatever still runs (a failed test) and lift the archive's immutability so
        that pytest can remove the folder."""
        from deploy.supervise import Supervisor
        from tests.deploy.test_archive import _lift

        if self.day.exists():
            Supervisor(self.day).shutdown(timeout_s=30)
        _lift(self.archive)  # only the archive is write-once


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        v = check()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.1)
