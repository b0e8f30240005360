"""The single-machine day under supervisord: the topology's processes as supervisord
programs, started in dependency order and waited for, restarted when they crash, stopped
in reverse order; supervisord driven through its XML-RPC API (`supervisor` is the
well-kept process manager many trading desks run on one box; systemd is the other, see
`deploy.units`).

    sv = Supervisor(day)
    sv.write_config(topology, names, values)   # DAY/supervisor/supervisord.conf
    sv.launch()                                # supervisord daemonises; returns when it answers
    sv.start(name)                             # one program; then `health` until ok
    sv.info(name)                              # supervisord's state, pid, exit status
    sv.stop(name); sv.shutdown()

Files (the day folder holds everything): `DAY/supervisor/supervisord.conf`,
`supervisord.pid` and `supervisord.log`, each program's captured stdout and stderr
as `DAY/logs/<name>.out` and `.err` (the processes' own JSON logs are
`DAY/logs/<name>.log`). The control socket is `DAY/supervisor/supervisord.sock`, or, when
that path is too long for a Unix socket (107 bytes, less what supervisord adds for
its temporary name), `/tmp/tape-sv-<hash of the day's
path>.sock`; `supervisord.conf` names it either way.

Restart policy, from the topology: `always` is supervisord's `autorestart=true`,
`on-failure` is `unexpected` with exit code 0 expected (an app that finishes at the day's
SystemStop stays finished; one killed by a signal or crashed comes back), `never` is
`false`. A program that dies within a second of starting is retried three times
(`startretries`) and then given up (FATAL), so a process that cannot start does not spin.
"""

# determinism: edge module, ops tooling: starts and watches processes

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy.topology import Health, Process, Topology, status_file_health

#: The longest control socket path used in the day folder: a Unix socket takes 107 bytes
#: (sun_path, less its NUL), and supervisord binds a temporary name (the path with a
#: dot and its pid) before renaming it into place.
_SUN_PATH_MAX = 90

#: supervisord's policy for each of the topology's.
AUTORESTART = {"always": "true", "on-failure": "unexpected", "never": "false"}


class SupervisorError(Exception):
    """supervisord could not be started or reached, or a program refused."""


def _ini(value: str) -> str:
    """A value for supervisord's ini file: `%` is its expansion character."""
    return value.replace("%", "%%")


@dataclass(frozen=True)
class ProgramInfo:
    """What supervisord says of one program."""

    name: str
    state: str  # STOPPED STARTING RUNNING BACKOFF STOPPING EXITED FATAL UNKNOWN
    pid: int
    exitstatus: int
    start: int  # wall seconds of the last start, 0 if never
    description: str

    @property
    def running(self) -> bool:
        return self.state in ("RUNNING", "STARTING")


class Supervisor:
    """One day's supervisord: its files in `DAY/supervisor/`, its programs the day's
    processes."""

    def __init__(self, day: Path, host: str = "") -> None:
        self.day = Path(day).resolve()
        # A multi-host day runs a supervisord per host (`tape day start --host`).
        self.host = host
        self.dir = self.day / "supervisor" / host if host else self.day / "supervisor"
        self.conf = self.dir / "supervisord.conf"
        self.pidfile = self.dir / "supervisord.pid"
        self.logs = self.day / "logs"
        sock = self.dir / "supervisord.sock"
        if len(str(sock)) > _SUN_PATH_MAX:
            digest = hashlib.sha256(f"{self.day}#{host}".encode()).hexdigest()[:16]
            sock = Path(f"/tmp/tape-sv-{digest}.sock")
        self.sock = sock
        self._proxy: Any = None

    # ---------------------------------------------------------------- config

    def write_config(self, topology: Topology, names: Sequence[str],
                     values: Mapping[str, str], env: Mapping[str, str] | None = None) -> None:
        """supervisord.conf for the processes `names` of `topology`, commands filled from
        `values`. No program starts by itself: `start` starts each in the topology's
        order once the one before it is healthy."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        environment = {"PYTHONUNBUFFERED": "1", **(env or {})}
        env_line = ",".join(f'{k}="{_ini(v)}"' for k, v in sorted(environment.items()))
        lines = [
            "; Written by `tape day start` from the day's topology: do not edit.",
            "[unix_http_server]",
            f"file={_ini(str(self.sock))}",
            "chmod=0700",
            "",
            "[supervisord]",
            # Not in DAY/logs: that folder is the day's processes' (tape status reads it).
            f"logfile={_ini(str(self.dir / 'supervisord.log'))}",
            "logfile_maxbytes=0",
            f"pidfile={_ini(str(self.pidfile))}",
            f"directory={_ini(str(self.day))}",
            "nodaemon=false",
            "silent=true",
            "loglevel=info",
            "",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
            "",
            "[supervisorctl]",
            f"serverurl=unix://{_ini(str(self.sock))}",
        ]
        for i, name in enumerate(names):
            p = topology.process(name)
            argv = topology.argv(name, **values)
            lines += ["", f"[program:{name}]", *self._program(p, argv, env_line),
                      # supervisord stops by priority, highest first: the topology's
                      # reverse order (the media driver last), on its own shutdown too.
                      f"priority={100 + i}"]
        text = "\n".join(lines) + "\n"
        tmp = self.conf.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.conf)

    def _program(self, p: Process, argv: list[str], env_line: str) -> list[str]:
        return [
            f"command={_ini(shlex.join(argv))}",
            f"directory={_ini(str(self.day))}",
            "autostart=false",
            f"autorestart={AUTORESTART[p.restart]}",
            "exitcodes=0",
            "startsecs=1",
            "startretries=3",
            "stopsignal=TERM",
            f"stopwaitsecs={max(1, round(p.stop_timeout_s))}",
            "stopasgroup=true",
            "killasgroup=true",
            f"stdout_logfile={_ini(str(self.logs / f'{p.name}.out'))}",
            "stdout_logfile_maxbytes=0",
            f"stderr_logfile={_ini(str(self.logs / f'{p.name}.err'))}",
            "stderr_logfile_maxbytes=0",
            f"environment={env_line}",
        ]

    # ---------------------------------------------------------------- supervisord

    @property
    def rpc(self) -> Any:
        if self._proxy is None:
            from supervisor.xmlrpc import (  # type: ignore[import-untyped]  # no stubs
                SupervisorTransport,
            )

            transport = SupervisorTransport(None, None, serverurl=f"unix://{self.sock}")
            # The host part of the URL is not used: the transport speaks to the socket.
            self._proxy = xmlrpc.client.ServerProxy("http://tape-day", transport=transport)
        return self._proxy

    def pid(self) -> int | None:
        """supervisord's pid when it runs (its pid file names a live process)."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return pid
        return None if stat.rsplit(")", 1)[-1].split()[0] == "Z" else pid

    def answering(self) -> bool:
        try:
            return bool(self.rpc.supervisor.getState()["statename"] == "RUNNING")
        except (OSError, xmlrpc.client.Fault, xmlrpc.client.ProtocolError):
            return False

    def launch(self, timeout_s: float = 15.0) -> None:
        """Start supervisord on the written config (it daemonises); return once it
        answers on its socket."""
        if self.pid() is not None and self.answering():
            raise SupervisorError(f"supervisord already runs for {self.day} "
                                  f"(pid {self.pid()})")
        with contextlib.suppress(FileNotFoundError):
            self.sock.unlink()  # a dead supervisord's socket
        r = subprocess.run([sys.executable, "-m", "supervisor.supervisord", "-c",
                            str(self.conf)], capture_output=True, text=True, check=False,
                           cwd=self.day)
        if r.returncode != 0:
            raise SupervisorError(f"supervisord did not start (exit {r.returncode}): "
                                  f"{(r.stderr or r.stdout).strip()}")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.answering():
                return
            time.sleep(0.05)
        raise SupervisorError(f"supervisord did not answer on {self.sock} within "
                              f"{timeout_s:g} s (see {self.dir / 'supervisord.log'})")

    def shutdown(self, timeout_s: float = 60.0) -> None:
        """Stop every program (in reverse of the topology's order, by priority) and
        supervisord itself; wait until it is gone. Past `timeout_s`, what still runs is
        killed, the programs before supervisord (killed first, it would leave them
        running with nobody to stop them)."""
        pid = self.pid()
        if pid is None:
            return
        programs: list[int] = []
        with contextlib.suppress(OSError, xmlrpc.client.Fault, xmlrpc.client.ProtocolError):
            programs = [i.pid for i in self.all_info().values() if i.pid]
            self.rpc.supervisor.shutdown()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.pid() is not None:
            time.sleep(0.05)
        if self.pid() is not None:
            for p in [*programs, pid]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p, 9)

    # ---------------------------------------------------------------- programs

    def info(self, name: str) -> ProgramInfo:
        try:
            d = self.rpc.supervisor.getProcessInfo(name)
        except xmlrpc.client.Fault as e:
            raise SupervisorError(f"supervisord: {name}: {e.faultString}") from None
        return _program_info(d)

    def all_info(self) -> dict[str, ProgramInfo]:
        return {d["name"]: _program_info(d) for d in self.rpc.supervisor.getAllProcessInfo()}

    def start(self, name: str) -> None:
        """Start program `name` without waiting for it (the caller waits for its health:
        supervisord's own wait is only `startsecs`)."""
        self._control("start", name, self.rpc.supervisor.startProcess, "ALREADY_STARTED")

    def stop(self, name: str) -> None:
        """Stop program `name` (SIGTERM, then SIGKILL after its stop timeout); waits."""
        self._control("stop", name, self.rpc.supervisor.stopProcess, "NOT_RUNNING")

    @staticmethod
    def _control(what: str, name: str, call: Any, done_already: str) -> None:
        """`call(name, wait)` (start: no wait, stop: wait); a fault that says it is so
        already is no fault."""
        try:
            call(name, what == "stop")
        except xmlrpc.client.Fault as e:
            if done_already not in e.faultString:
                raise SupervisorError(f"supervisord could not {what} {name}: "
                                      f"{e.faultString}") from None

    def out_offset(self, name: str) -> int:
        """How far program `name`'s captured stdout goes now (a ready line is looked for
        after it)."""
        try:
            return (self.logs / f"{name}.out").stat().st_size
        except OSError:
            return 0

    def err_tail(self, name: str, lines: int = 15) -> str:
        """The end of what program `name` wrote on stderr."""
        try:
            text = (self.logs / f"{name}.err").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def health(self, p: Process, out_from: int, aeron_dir: str) -> tuple[bool, str]:
        """(healthy, why) of process `p` by its topology health rule, now."""
        try:
            info = self.info(p.name)
        except (SupervisorError, OSError) as e:
            return False, str(e)
        if not info.running:
            return False, f"{info.state.lower()} ({info.description})"
        return check_health(p.health, self.day, self.logs / f"{p.name}.out", out_from,
                            aeron_dir)


def _program_info(d: Mapping[str, Any]) -> ProgramInfo:
    return ProgramInfo(name=str(d["name"]), state=str(d["statename"]), pid=int(d["pid"]),
                       exitstatus=int(d["exitstatus"]), start=int(d["start"]),
                       description=str(d["description"]))


def check_health(health: Health, day: Path, out: Path, out_from: int,
                 aeron_dir: str) -> tuple[bool, str]:
    """(healthy, why) of a running process by its health rule."""
    if health.kind == "status_file":
        return status_file_health(health, day, time.time_ns())
    if health.kind == "ready_line":
        try:
            with out.open("rb") as f:
                f.seek(out_from)
                for line in f:
                    if line.startswith(b"{"):
                        with contextlib.suppress(ValueError):
                            if "ready" in json.loads(line):
                                return True, "ok"
        except OSError:
            pass
        return False, "no ready line yet"
    if health.kind == "aeron_driver":
        from sequencer.transport import driver_active

        return (True, "ok") if driver_active(aeron_dir) else (False, "no live media driver")
    return True, "ok"  # started: up once running
