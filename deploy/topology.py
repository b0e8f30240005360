"""The day's topology: which processes make a trading day, the command that starts each,
what each needs running first, how each shows it is up and caught up, how it is
restarted, and the day's alert rules (`deploy/configs/day.toml` is the shipped one).

One topology serves the embedded single-machine runner and the systemd units written
from it (`deploy.units`). A bad file is refused with a `ConfigError` naming the file,
the key and what was expected, as every config of the house is (`sequencer.config`):
unknown keys, unknown or circular dependencies, duplicate names and unknown command
placeholders included.
"""

# determinism: edge module, ops tooling: reads the topology file and status files

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterable, Mapping
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from sequencer.config import ConfigError, problems, read_toml

#: What a command may name in braces, and what each stands for.
PLACEHOLDERS: dict[str, str] = {
    "python": "the interpreter that runs Tape (an absolute path)",
    "day": "the day folder",
    "date": "the session date, YYYY-MM-DD",
    "aeron_dir": "the Aeron directory",
    "config_dir": "the folder of the day's configs (fix.toml): the shipped one, or the "
                  "copy `tape day prepare` puts in DAY/config",
    "time_mode": "the sequencer's clock: wall (a live day) or sim (a recorded day, on "
                 "the market's clock)",
    "speed": "the ticker plant's pace: real (a live day) or fast (a recorded day in sim "
             "time, as fast as it goes)",
    "subscribe": "symbols the ticker plant subscribes itself to, comma separated (a "
                 "recorded day's market, whole, for the clock and the monitor; empty: "
                 "only what the day's apps ask for)",
}

DEFAULT_TOPOLOGY = Path(__file__).resolve().parent / "configs" / "day.toml"

#: A process name becomes part of a systemd unit name (`tape-<name>@<date>.service`) and
#: of its log file: letters, digits, `_` and `-` only, so it needs no escaping anywhere.
NAME_RE = r"^[a-z][a-z0-9_-]{0,47}$"

Role = Literal["media_driver", "sequencer", "app", "marketdata", "venue_sim", "gateway",
               "db", "monitor", "journal_server"]
Restart = Literal["always", "on-failure", "never"]
Severity = Literal["info", "warning", "error", "critical"]
Scalar = str | bool | int | float


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Health(_Model):
    """How a process shows it is up and caught up.

    - `status_file`: `path` (relative to the day folder) exists, holds every key of
      `ready_when` with that value, and was updated (`updated_wall_ns`) within `stale_s`;
    - `ready_line`: the process prints a JSON line with a "ready" key on stdout;
    - `aeron_driver`: the media driver's heartbeat in the Aeron directory;
    - `started`: up once started (a process with no signal of its own).

    `timeout_s` is how long it may take to get there (systemd's TimeoutStartSec)."""

    kind: Literal["status_file", "ready_line", "aeron_driver", "started"]
    path: str | None = None
    ready_when: dict[str, Scalar] = Field(default_factory=dict)
    timeout_s: float = Field(default=60.0, gt=0, le=3600)
    stale_s: float | None = Field(default=None, gt=0, le=3600)

    @model_validator(mode="after")
    def _path_for_status_files(self) -> Health:
        if self.kind == "status_file":
            if not self.path:
                raise ValueError("kind 'status_file' needs a path (relative to the day folder)")
            if Path(self.path).is_absolute() or ".." in Path(self.path).parts:
                raise ValueError(f"path must stay inside the day folder, got {self.path!r}")
        elif self.path is not None or self.ready_when or self.stale_s is not None:
            raise ValueError(f"path, ready_when and stale_s are for kind 'status_file', "
                             f"not {self.kind!r}")
        return self


class Process(_Model):
    """One process of the day."""

    name: str = Field(pattern=NAME_RE)
    role: Role
    command: tuple[str, ...] = Field(min_length=1)
    depends_on: tuple[str, ...] = ()
    # Dependencies this process cannot outlive (systemd's BindsTo=): it is stopped
    # whenever one of them stops, a crash included. The others it waits for when they
    # are away. Each must be in depends_on.
    binds_to: tuple[str, ...] = ()
    health: Health
    restart: Restart = "on-failure"
    # Seconds between restarts (systemd's RestartSec).
    restart_s: float = Field(default=2.0, ge=0, le=3600)
    # 0: no watchdog. Otherwise the process must ping at least this often.
    watchdog_s: float = Field(default=0.0, ge=0, le=3600)
    # How long a stop (SIGTERM) may take before SIGKILL.
    stop_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    # Started only when the day asks (the venue simulator, on sim days). A process that
    # depends on an optional one is ordered after it, never pulls it in.
    optional: bool = False
    # The host it runs on (a `[[host]]` name); empty on a single-host day.
    host: str = ""


class LogRule(_Model):
    """An alert on a line of a process's JSON log: its `level` one of these, and/or the
    line matching `pattern` (a regular expression); `processes` empty means all."""

    code: str = Field(min_length=1)
    severity: Severity
    pattern: str | None = None
    level: tuple[Literal["debug", "info", "warning", "error", "critical"], ...] = ()
    processes: tuple[str, ...] = ()

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as e:
                raise ValueError(f"expected a regular expression: {e}") from None
        return v

    @model_validator(mode="after")
    def _says_something(self) -> LogRule:
        if self.pattern is None and not self.level:
            raise ValueError("a log rule needs a pattern, a level, or both")
        return self

    def matches(self, process: str, line: str) -> bool:
        if self.processes and process not in self.processes:
            return False
        if self.level:
            try:
                rec = json.loads(line)
            except ValueError:
                return False
            if not isinstance(rec, dict) or str(rec.get("level", "")).lower() not in self.level:
                return False
        return self.pattern is None or re.search(self.pattern, line) is not None


class StreamRule(_Model):
    """An alert on a stream message: its type `message` with every field of `where`
    equal to the value given (`message = "Alert"`, `where = { code = "db_lag" }`)."""

    code: str = Field(min_length=1)
    severity: Severity
    message: str
    where: dict[str, Scalar] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_type_and_fields(self) -> StreamRule:
        from sequencer.messages import BY_NAME

        cls = BY_NAME.get(self.message)
        if cls is None:
            raise ValueError(f"unknown message type {self.message!r} (see `tape messages`)")
        fields = cls.__struct_fields__
        for key in self.where:
            if key not in fields:
                raise ValueError(f"{self.message} has no field {key!r}; expected one of "
                                 f"{', '.join(fields)}")
        return self

    def matches(self, msg: object) -> bool:
        return type(msg).__name__ == self.message and all(
            getattr(msg, k, _MISSING) == v for k, v in self.where.items())


_MISSING = object()


class ProcessRule(_Model):
    """An alert on what happens to a process: restarted, exited with a failure, or
    unhealthy (its health check failed or went stale)."""

    code: str = Field(min_length=1)
    severity: Severity
    event: Literal["restart", "failed", "unhealthy"]
    processes: tuple[str, ...] = ()


def _default_log_rules() -> tuple[LogRule, ...]:
    return (LogRule(code="error_line", severity="error", level=("error", "critical")),
            LogRule(code="order_rejected", severity="warning", pattern="Order Rejected"))


def _default_stream_rules() -> tuple[StreamRule, ...]:
    return (
        StreamRule(code="order_rejected", severity="warning", message="ExecutionReport",
                   where={"ord_status": "rejected"}),
        StreamRule(code="venue_down", severity="error", message="VenueStatus",
                   where={"status": "down"}),
        StreamRule(code="determinism", severity="critical", message="Alert",
                   where={"code": "determinism"}),
        StreamRule(code="db_lag", severity="warning", message="Alert",
                   where={"code": "db_lag"}),
    )


def _default_process_rules() -> tuple[ProcessRule, ...]:
    return (ProcessRule(code="process_restart", severity="error", event="restart"),)


class Alerts(_Model):
    """The day's alert rules; a kind of rule the file leaves out keeps its defaults
    (any ERROR line, "Order Rejected", a venue down, a determinism failure, a writer lag
    breach, a process restart)."""

    log: tuple[LogRule, ...] = Field(default_factory=_default_log_rules)
    stream: tuple[StreamRule, ...] = Field(default_factory=_default_stream_rules)
    process: tuple[ProcessRule, ...] = Field(default_factory=_default_process_rules)

    def on_log(self, process: str, line: str) -> list[LogRule]:
        return [r for r in self.log if r.matches(process, line)]

    def on_message(self, msg: object) -> list[StreamRule]:
        return [r for r in self.stream if r.matches(msg)]

    def on_process(self, process: str, event: str) -> list[ProcessRule]:
        return [r for r in self.process
                if r.event == event and (not r.processes or process in r.processes)]


class Host(_Model):
    """A machine of a multi-host day: its name (what processes' `host` says) and the
    address the others reach it at."""

    name: str = Field(pattern=NAME_RE)
    address: IPv4Address


class Network(_Model):
    """How the stream travels between the hosts of a multi-host day (see the README's
    "A day across hosts").

    - input: UDP unicast to the sequencer's host, port `base_port`;
    - output (the sequenced stream) and notices: `mdc`, multi-destination cast, the
      sequencer sending a copy to each host that subscribed (control ports base_port+1
      and +2; subscribers join by themselves); or `multicast`, one send that the
      network copies (group `multicast_group`, ports base_port+1 and +2), where the
      network routes multicast;
    - catch-up: replay requests to the journal server on the sequencer's host (port
      base_port+3), answers to each requesting host's port base_port+4;
    - on every other host the stream and the notices come to ports base_port+5 and +6
      (`mdc`), one copy per host whatever its number of subscribers; on the sequencer's
      host they are read from the sequencer's publication in shared memory (an Aeron
      spy), so its slow followers (the database writer) do not pace the others.
    """

    output: Literal["mdc", "multicast"] = "mdc"
    base_port: int = Field(default=40100, ge=1024, le=65530)
    multicast_group: IPv4Address = IPv4Address("239.255.77.1")
    # The UDP term buffer of the stream's publications: a sixteenth of it is the most a
    # publisher may run ahead of the slowest subscriber's window before back-pressure.
    term_length: Literal["64k", "256k", "1m", "4m", "16m", "64m"] = "16m"
    # A host that sends no status for this long stops pacing the stream (fc=min's timeout).
    receiver_timeout_s: int = Field(default=5, ge=1, le=60)
    # How far a host's subscriber may fall behind before it holds the stream back (its
    # receive window; the socket's buffer is made as large). Aeron's default, 128 KiB,
    # paced a whole day's stream to 3,300 frames/s across three hosts here: with every
    # host in step at the slowest, the window is what a busy app may lag by. An IPC
    # subscriber may lag by half a 64 MiB term. The kernel caps the socket buffer at
    # net.core.rmem_max (4 MiB here).
    receiver_window: Literal["128k", "256k", "512k", "1m", "2m", "4m"] = "2m"

    def ports(self) -> dict[str, int]:
        b = self.base_port
        return {"input": b, "output": b + 1, "notice": b + 2, "replay": b + 3,
                "replay_reply": b + 4, "output_sub": b + 5, "notice_sub": b + 6}


class Topology(_Model):
    """The processes of a day (file order kept) and its alert rules."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    description: str = ""
    processes: tuple[Process, ...] = Field(alias="process")
    alerts: Alerts = Field(default_factory=Alerts)
    # A multi-host day: its hosts, and how the stream crosses between them. None: every
    # process on one host, the stream over shared memory (aeron:ipc).
    hosts: tuple[Host, ...] = Field(default=(), alias="host")
    network: Network = Field(default_factory=Network)

    @model_validator(mode="after")
    def _consistent(self) -> Topology:
        found = self.problems()
        if found:
            # One error carrying every problem, each with the key it is about (the
            # loader reports them by key, as pydantic's own errors are).
            raise PydanticCustomError("topology", "{summary}", {
                "summary": "; ".join(f"{k}: {w}" for k, w in found), "problems": found})
        return self

    # ---- checks

    def problems(self) -> list[tuple[str, str]]:
        """(key, what was expected) for each inconsistency between the processes."""
        out: list[tuple[str, str]] = []
        if not self.processes:
            out.append(("process", "at least one [[process]]"))
        index: dict[str, int] = {}
        for i, p in enumerate(self.processes):
            if p.name in index:
                out.append((f"process.{i}.name", f"a name of its own; {p.name!r} is "
                            f"process.{index[p.name]}'s name already"))
            else:
                index[p.name] = i
        names = ", ".join(index)
        for i, p in enumerate(self.processes):
            for j, arg in enumerate(p.command):
                what = _placeholder_problem(arg)
                if what:
                    out.append((f"process.{i}.command.{j}", what))
            seen: set[str] = set()
            for dep in p.depends_on:
                if dep == p.name:
                    out.append((f"process.{i}.depends_on", f"another process; {p.name!r} "
                                "cannot depend on itself"))
                elif dep not in index:
                    out.append((f"process.{i}.depends_on", f"a process of this topology "
                                f"({names}); got unknown {dep!r}"))
                elif dep in seen:
                    out.append((f"process.{i}.depends_on", f"each dependency once; {dep!r} "
                                "is named twice"))
                seen.add(dep)
            for dep in p.binds_to:
                if dep not in p.depends_on:
                    out.append((f"process.{i}.binds_to", f"names from depends_on "
                                f"({', '.join(p.depends_on) or 'none'}); got {dep!r}"))
                elif dep in index and self.processes[index[dep]].optional:
                    out.append((f"process.{i}.binds_to", f"processes the day always runs; "
                                f"{dep!r} is optional"))
        for r, rule in enumerate(self.alerts.log):
            for name in rule.processes:
                if name not in index:
                    out.append((f"alerts.log.{r}.processes", f"a process of this topology "
                                f"({names}); got unknown {name!r}"))
        for r, prule in enumerate(self.alerts.process):
            for name in prule.processes:
                if name not in index:
                    out.append((f"alerts.process.{r}.processes", f"a process of this "
                                f"topology ({names}); got unknown {name!r}"))
        out += self._host_problems(index)
        if not out:
            cycle = self._cycle()
            if cycle:
                first = index[cycle[0]]
                out.append((f"process.{first}.depends_on", "no dependency cycle; found "
                            + " -> ".join(cycle)))
        return out

    def _host_problems(self, index: Mapping[str, int]) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        hosts = [h.name for h in self.hosts]
        seen: dict[str, int] = {}
        for i, h in enumerate(self.hosts):
            if h.name in seen:
                out.append((f"host.{i}.name", f"a name of its own; {h.name!r} is "
                            f"host.{seen[h.name]}'s name already"))
            seen.setdefault(h.name, i)
        for i, p in enumerate(self.processes):
            if hosts and not p.host:
                out.append((f"process.{i}.host", f"the host it runs on, one of "
                            f"{', '.join(hosts)}"))
            elif p.host and p.host not in seen:
                out.append((f"process.{i}.host", (f"one of the [[host]] names "
                            f"({', '.join(hosts)})" if hosts else "no host: this topology "
                            "declares no [[host]] (a single-host day)")
                            + f"; got {p.host!r}"))
        if hosts:
            seqs = [p for p in self.processes if p.role == "sequencer"]
            if len(seqs) != 1:
                out.append(("process", "exactly one process of role 'sequencer' on a "
                            f"multi-host day; found {len(seqs)}"))
            else:
                servers = [(i, p) for i, p in enumerate(self.processes)
                           if p.role == "journal_server"]
                if not servers:
                    out.append(("process", "a process of role 'journal_server' on the "
                                f"sequencer's host {seqs[0].host!r}: other hosts catch up "
                                "from it"))
                for i, p in servers:
                    if p.host != seqs[0].host:
                        out.append((f"process.{i}.host", f"the sequencer's host "
                                    f"{seqs[0].host!r} (the journal is there); got "
                                    f"{p.host!r}"))
            drivers = {p.host for p in self.processes if p.role == "media_driver"}
            for name in hosts:
                if name not in drivers and any(p.host == name for p in self.processes):
                    out.append(("process", f"a media driver (role 'media_driver') on host "
                                f"{name!r}: every host runs its own"))
        return out

    def _cycle(self) -> list[str]:
        """A dependency cycle as names (the first one repeated at the end), or []. Searched
        from each process in file order, so the same file always names the same cycle."""
        deps = {p.name: p.depends_on for p in self.processes}
        state: dict[str, int] = {}  # 1 on the current path, 2 done
        path: list[str] = []

        def visit(n: str) -> list[str]:
            state[n] = 1
            path.append(n)
            for d in deps[n]:
                if state.get(d) == 1:
                    return [*path[path.index(d):], d]
                if d not in state:
                    found = visit(d)
                    if found:
                        return found
            path.pop()
            state[n] = 2
            return []

        for p in self.processes:
            if p.name not in state:
                found = visit(p.name)
                if found:
                    # Start the cycle at the member listed first in the file.
                    ring = found[:-1]
                    k = min(range(len(ring)), key=lambda i: self._position(ring[i]))
                    ring = ring[k:] + ring[:k]
                    return [*ring, ring[0]]
        return []

    def _position(self, name: str) -> int:
        return next(i for i, p in enumerate(self.processes) if p.name == name)

    # ---- use

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.processes)

    def process(self, name: str) -> Process:
        for p in self.processes:
            if p.name == name:
                return p
        raise KeyError(f"no process {name!r} in the topology; expected one of "
                       f"{', '.join(self.names)}")

    def order(self) -> list[str]:
        """The start order: every process after what it depends on; among those ready at
        once, the one listed first in the file."""
        placed: list[str] = []
        left = list(self.processes)
        while left:
            done = set(placed)
            nxt = next(p for p in left if all(d in done for d in p.depends_on))
            placed.append(nxt.name)
            left.remove(nxt)
        return placed

    def reverse_order(self) -> list[str]:
        """The stop order: dependents before what they depend on."""
        return self.order()[::-1]

    def selected(self, optional: Iterable[str] = ()) -> list[str]:
        """The start order of a day that runs these optional processes besides the
        others (`optional=["venue_sim"]` on a sim day)."""
        asked = list(optional)
        for name in asked:
            if not self.process(name).optional:
                raise ValueError(f"{name!r} is not optional: it always runs")
        return [n for n in self.order() if not self.process(n).optional or n in asked]

    # ---- hosts

    @property
    def multi_host(self) -> bool:
        return bool(self.hosts)

    def host(self, name: str) -> Host:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(f"no host {name!r} in the topology; expected one of "
                       f"{', '.join(h.name for h in self.hosts) or '(none: one host)'}")

    def on_host(self, host: str) -> tuple[str, ...]:
        """The processes of `host`, in file order (all of them on a single-host day)."""
        return tuple(p.name for p in self.processes if not host or p.host == host)

    def sequencer_host(self) -> Host | None:
        for p in self.processes:
            if p.role == "sequencer" and p.host:
                return self.host(p.host)
        return None

    def transport(self) -> dict[str, Any]:
        """The stream's channels as `[sequencer.transport]` settings: empty on a
        single-host day (shared memory, the defaults); on a multi-host day UDP as the
        `[network]` table says (`channels`)."""
        seq = self.sequencer_host()
        return {} if seq is None else channels(seq.name, str(seq.address), self.network)

    def argv(self, name: str, **values: str) -> list[str]:
        """The command of process `name` with its placeholders filled in. Every
        placeholder the command uses must be given; a value for an unknown one is an
        error (a misspelt keyword would otherwise go unnoticed)."""
        unknown = sorted(set(values) - set(PLACEHOLDERS))
        if unknown:
            raise ValueError(f"unknown placeholder(s) {', '.join(unknown)}; expected "
                             f"{', '.join(PLACEHOLDERS)}")
        out = []
        for arg in self.process(name).command:
            try:
                out.append(arg.format_map(values))
            except KeyError as e:
                raise ValueError(f"process {name!r}: no value for placeholder "
                                 f"{{{e.args[0]}}} in {arg!r}") from None
        return out


def channels(seq_host: str, seq_address: str, net: Network) -> dict[str, Any]:
    """The stream's channels with the sequencer on `seq_host` at `seq_address`, as
    `[sequencer.transport]` settings. The same for every host: subscribers name no
    address of their own (endpoint 0.0.0.0), so one stream.json serves them all."""
    ports = net.ports()
    a = seq_address
    extra = f"|term-length={net.term_length}"
    window = f"|rcv-wnd={net.receiver_window}|so-rcvbuf={net.receiver_window}"
    # The sequencer's publications go at the pace of the slowest host that follows
    # them (fc=min), as an IPC publication does: Aeron's default for a one-to-many
    # channel follows the fastest, and a host that fell a term behind could never
    # be repaired. A host silent for `receiver_timeout` no longer holds it back (and
    # catches up from the journal when it comes back).
    fc = f"|fc=min,t:{net.receiver_timeout_s}s"
    if net.output == "mdc":
        def pub(port: int) -> str:
            return f"aeron:udp?control={a}:{port}|control-mode=dynamic{fc}{extra}"

        def sub(port: int) -> str:
            # Each host's subscribers on one port of its own (output +4, notices +4):
            # one copy per host, whatever its number of subscribers.
            return (f"aeron:udp?endpoint=0.0.0.0:{port + 4}|control={a}:{port}"
                    f"|control-mode=dynamic{extra}{window}")
    else:
        group = str(net.multicast_group)

        def pub(port: int) -> str:
            return f"aeron:udp?endpoint={group}:{port}|ttl=8{fc}{extra}"

        def sub(port: int) -> str:
            return f"aeron:udp?endpoint={group}:{port}{extra}{window}"

    return {
        "input_channel": f"aeron:udp?endpoint={a}:{ports['input']}{extra}",
        "output_channel": pub(ports["output"]),
        "output_sub_channel": sub(ports["output"]),
        "notice_channel": pub(ports["notice"]),
        "notice_sub_channel": sub(ports["notice"]),
        "output_local_channel": "aeron-spy:" + pub(ports["output"]),
        "notice_local_channel": "aeron-spy:" + pub(ports["notice"]),
        "replay_channel": f"aeron:udp?endpoint={a}:{ports['replay']}",
        "replay_reply_port": ports["replay_reply"],
        "journal_host": seq_host,
    }


def placeholders(arg: str) -> list[str]:
    """The placeholder names of one command argument, in order."""
    return [f for _lit, f, _spec, _conv in string.Formatter().parse(arg) if f is not None]


def _placeholder_problem(arg: str) -> str:
    """What is wrong with the braces of a command argument, or ''."""
    expected = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
    try:
        parsed = list(string.Formatter().parse(arg))
    except ValueError as e:
        return f"braces that close ({e}); a literal brace is written twice: {{{{ or }}}}"
    for _lit, field, spec, conv in parsed:
        if field is None:
            continue
        if field not in PLACEHOLDERS:
            return f"a placeholder of {expected}; got {{{field}}} in {arg!r}"
        if spec or conv:
            return f"a bare placeholder (no format or conversion); got {arg!r}"
    return ""


def load_topology(path: Path | None = None) -> Topology:
    """The topology of a file (the shipped `deploy/configs/day.toml` by default), or
    `ConfigError` naming the file, each bad key and what was expected."""
    path = Path(path) if path is not None else DEFAULT_TOPOLOGY
    data = read_toml(path)
    try:
        return Topology.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_describe(path, e), path=path, what=_what(e)) from None


def _problems_of(err: ValidationError) -> list[tuple[str, str, Any]]:
    out: list[tuple[str, str, Any]] = []
    for (key, msg, got), e in zip(problems(err), err.errors(), strict=True):
        ctx = e.get("ctx") or {}
        if e["type"] == "topology":
            out += [(k, f"expected {w}", None) for k, w in ctx["problems"]]
        else:
            out.append((key, msg.removeprefix("Value error, "), got))
    return out


def _describe(path: Path, err: ValidationError) -> str:
    lines = [f"{path}: invalid topology"]
    for key, msg, got in _problems_of(err):
        got_s = "" if got is None or isinstance(got, dict | list) else f" (got {got!r})"
        lines.append(f"  key '{key}': {msg}{got_s}")
    return "\n".join(lines)


def _what(err: ValidationError) -> str:
    return "; ".join(f"key '{k}': {m}" for k, m, _ in _problems_of(err))


# ---------------------------------------------------------------- health of a status file


def status_file_health(health: Health, day: Path, now_wall_ns: int) -> tuple[bool, str]:
    """(healthy, why) for a `status_file` health rule at wall time `now_wall_ns`: the file
    is there, says what `ready_when` asks, and is fresher than `stale_s`."""
    if health.kind != "status_file" or health.path is None:
        raise ValueError(f"not a status file rule: {health.kind}")
    path = Path(day) / health.path
    try:
        st: Mapping[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return False, f"no {health.path} yet"
    except (OSError, ValueError) as e:
        return False, f"{health.path} unreadable: {e}"
    for key, want in health.ready_when.items():
        if st.get(key) != want:
            return False, f"{health.path}: {key} is {st.get(key)!r}, not {want!r}"
    if health.stale_s is not None:
        age_s = (now_wall_ns - int(st.get("updated_wall_ns", 0))) / 1e9
        if age_s > health.stale_s:
            return False, f"{health.path}: last updated {age_s:.1f} s ago (> {health.stale_s} s)"
    return True, "ok"
