"""Every process of a day logs to `DAY/logs/<process>.log`, as JSON lines (structlog):
off the hot path, a line per event. `configure(day, process)` is called once by each
command that runs a process of the day."""

# determinism: edge module, opens the process's log file

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import structlog


def configure(day: Path, process: str) -> Path:
    """Send this process's log to `DAY/logs/<process>.log`; the file."""
    folder = Path(day) / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{process}.log"
    handler = logging.FileHandler(path)
    logging.basicConfig(level=logging.INFO, handlers=[handler], format="%(message)s",
                        force=True)
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
    )
    # One line per start: `tape status` and the metrics count restarts by it.
    structlog.get_logger().info("process_started", process=process, pid=os.getpid(),
                                argv=sys.argv[1:])
    return path
