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
               "db", "monitor"]
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


class Topology(_Model):
    """The processes of a day (file order kept) and its alert rules."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    description: str = ""
    processes: tuple[Process, ...] = Field(alias="process")
    alerts: Alerts = Field(default_factory=Alerts)

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
        if not out:
            cycle = self._cycle()
            if cycle:
                first = index[cycle[0]]
                out.append((f"process.{first}.depends_on", "no dependency cycle; found "
                            + " -> ".join(cycle)))
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
