"""systemd service units written from the day's topology (`tape deploy units`).

One template per process, `tape-<name>@.service`, whose instance is the session date
(`tape-oms@2013-10-08.service` runs the OMS of 2013-10-08), and `tape-day@.target`
that wants every process a day always runs: `systemctl start tape-day@2013-10-08.target`
starts the day in dependency order, `systemctl stop` stops it in reverse. An optional
process (the venue simulator) is started by name on the days that run it.

Readiness is `sd_notify` (`Type=notify`): every process of the day says READY=1 once
it is up and caught up (`sequencer.notify`), the moment its health rule looks for;
liveness is its watchdog (`WatchdogSec=`), pinged from the loop that does the work, and
STOPPING=1 says a clean stop. The output is a function of the
topology and the options only (no timestamps, fixed order), so a redeploy that changes
nothing writes the same bytes.
"""

# determinism: edge module, ops tooling: reads the topology file and writes unit files

from __future__ import annotations

import re
import string
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from deploy.topology import DEFAULT_TOPOLOGY, Process, Topology, load_topology
from sequencer.config import DEFAULT_AERON_DIR, ConfigError

TARGET = "tape-day@.target"
DEFAULT_DAY_ROOT = Path("/var/lib/tape/days")
DEFAULT_USER = "tape"

#: systemd's restart policy for each of the topology's.
RESTART = {"always": "always", "on-failure": "on-failure", "never": "no"}

#: A user name systemd accepts without question (its "strict" rules, less the digits-only
#: names it would take for a uid).
USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


def unit_name(process: str, instance: str = "") -> str:
    """`tape-<process>@<instance>.service`; without an instance, the template's name."""
    return f"tape-{process}@{instance}.service"


def target_name(instance: str = "") -> str:
    return f"tape-day@{instance}.target"


# ---------------------------------------------------------------- escaping


def _spec(text: str) -> str:
    """`%` doubled: every setting of a unit file expands specifiers (%i, %n, ...)."""
    return text.replace("%", "%%")


def _exec_literal(text: str) -> str:
    """Text of an ExecStart argument taken literally: systemd expands specifiers (%),
    environment variables ($) and C escapes (backslash) there."""
    return _spec(text.replace("\\", "\\\\")).replace("$", "$$")


def _exec_word(word: str) -> str:
    """An already escaped argument as one word of the command line."""
    if word and not re.search(r"[\s\"';]", word):
        return word
    return '"' + word.replace('"', '\\"') + '"'


def _secs(s: float) -> str:
    return str(int(s)) if float(s).is_integer() else f"{round(s * 1000)}ms"


# ---------------------------------------------------------------- units


def _exec_start(proc: Process, values: dict[str, str]) -> str:
    """The process's command with its placeholders filled with (already escaped) values,
    everything else escaped: the argv the process gets is the topology's, exactly."""
    words = []
    for arg in proc.command:
        parts = []
        for literal, field, _fmt, _conv in string.Formatter().parse(arg):
            parts.append(_exec_literal(literal))
            if field is not None:
                parts.append(values[field])
        words.append(_exec_word("".join(parts)))
    return " ".join(words)


def render_units(
    topology: Topology,
    *,
    day_root: Path,
    user: str,
    python: Path,
    aeron_dir: str = DEFAULT_AERON_DIR,
    config_dir: Path | None = None,
    environment: dict[str, str] | None = None,
    source: str = "",
    host: str = "",
) -> dict[str, str]:
    """The unit files as {file name: text}, the target first then the services in start
    order. `source` names the topology in each file's header. On a multi-host day `host`
    picks that host's processes (each host gets its own units); a dependency on another
    host is left to the processes themselves (they wait for the sequencer)."""
    if topology.multi_host and not host:
        raise ValueError("the topology runs across hosts "
                         f"({', '.join(h.name for h in topology.hosts)}): name one with "
                         "--host")
    if host and not topology.multi_host:
        raise ValueError(f"--host {host}: the topology declares no hosts")
    if host:
        try:
            topology.host(host)
        except KeyError as e:
            raise ValueError(f"--host: {e.args[0]}") from None
        from sequencer.config import AERON_DIR_ENV, HOST_ENV

        environment = {HOST_ENV: host, AERON_DIR_ENV: aeron_dir, **(environment or {})}
    for what, path in (("python", python), ("day_root", day_root)):
        if not Path(path).is_absolute():
            raise ValueError(f"{what}: expected an absolute path, got {str(path)!r}")
    if not USER_RE.match(user):
        raise ValueError(f"user: expected a user name ({USER_RE.pattern}), got {user!r}")
    config_dir = Path(config_dir) if config_dir is not None else DEFAULT_TOPOLOGY.parent
    if not config_dir.is_absolute():
        raise ValueError(f"config_dir: expected an absolute path, got {str(config_dir)!r}")
    day_root_s = str(day_root).rstrip("/") or "/"
    values = {
        "python": _exec_literal(str(python)),
        "day": _exec_literal(day_root_s.rstrip("/")) + "/%i",
        "date": "%i",
        "aeron_dir": _exec_literal(aeron_dir),
        "config_dir": _exec_literal(str(config_dir)),
        # Production hosts run live days: the wall clock, market data as it comes.
        "time_mode": "wall",
        "speed": "real",
        "subscribe": "",
    }
    env = {"PYTHONUNBUFFERED": "1", **(environment or {})}
    for key in env:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            raise ValueError(f"environment: expected variable names, got {key!r}")
    header = ("# Generated by `tape deploy units`" + (f" from {source}" if source else "")
              + ": edit the topology and generate again, not this file.")
    here = set(topology.on_host(host))
    order = [n for n in topology.order() if n in here]
    always = [n for n in order if not topology.process(n).optional]
    target = [
        header,
        "[Unit]",
        f"Description={_spec(topology.description or 'Tape trading day')} (day %i)",
        *(f"Wants={unit_name(n, '%i')}" for n in always),
        *(f"After={unit_name(n, '%i')}" for n in always),
        "",
    ]
    out = {TARGET: "\n".join(target)}
    for name in order:
        out[unit_name(name)] = _service(topology.process(name), topology, values, env,
                                         day_root_s, user, header, here)
    return out


def _service(proc: Process, topology: Topology, values: dict[str, str], env: dict[str, str],
             day_root: str, user: str, header: str, here: set[str]) -> str:
    unit = [
        header,
        "[Unit]",
        f"Description=Tape {proc.name} ({proc.role.replace('_', ' ')}) of the day %i",
        # Stopping or restarting the day's target stops or restarts every process of it.
        f"PartOf={target_name('%i')}",
    ]
    deps = [d for d in proc.depends_on if d in here]  # a unit names units of its host
    for dep in deps:
        # A dependency the day may not run (optional) orders this process after it when
        # both start, and never pulls it in. Requires= stops this process when the
        # dependency is stopped, and keeps it through the dependency's crash and restart
        # (the day's processes wait for a sequencer that is away); BindsTo= stops it
        # whenever the dependency goes, crash included.
        if dep in proc.binds_to:
            unit.append(f"BindsTo={unit_name(dep, '%i')}")
        elif not topology.process(dep).optional:
            unit.append(f"Requires={unit_name(dep, '%i')}")
    for dep in deps:
        unit.append(f"After={unit_name(dep, '%i')}")
    unit += [
        # A process that keeps failing is left failed (and alerted on) rather than
        # restarted forever: five starts in five minutes.
        "StartLimitIntervalSec=300",
        "StartLimitBurst=5",
        "",
        "[Service]",
        "Type=notify",
        # Only the main process may say it is ready or alive, not a child it spawned.
        "NotifyAccess=main",
        f"ExecStart={_exec_start(proc, values)}",
        f"WorkingDirectory={_spec(day_root)}",
        f"User={user}",
        *(f'Environment="{_env_assignment(k, v)}"' for k, v in sorted(env.items())),
        "StandardOutput=journal",
        "StandardError=journal",
        f"SyslogIdentifier=tape-{proc.name}",
        f"Restart={RESTART[proc.restart]}",
        f"RestartSec={_secs(proc.restart_s)}",
    ]
    if proc.watchdog_s > 0:
        unit.append(f"WatchdogSec={_secs(proc.watchdog_s)}")
    unit += [
        f"TimeoutStartSec={_secs(proc.health.timeout_s)}",
        f"TimeoutStopSec={_secs(proc.stop_timeout_s)}",
        # Every process of the day finishes its writes on SIGTERM.
        "KillSignal=SIGTERM",
        "",
    ]
    return "\n".join(unit)


def _env_assignment(key: str, value: str) -> str:
    return _spec(f"{key}={value}".replace("\\", "\\\\").replace('"', '\\"'))


def write_units(
    topology: Topology,
    out_dir: Path,
    *,
    day_root: Path,
    user: str,
    python: Path,
    aeron_dir: str = DEFAULT_AERON_DIR,
    config_dir: Path | None = None,
    environment: dict[str, str] | None = None,
    source: str = "",
    host: str = "",
) -> list[Path]:
    """Write the day's unit files into `out_dir` (created if needed); their paths, sorted.
    A file whose text is already that is left alone (its modification time too)."""
    units = render_units(topology, day_root=day_root, user=user, python=python,
                         aeron_dir=aeron_dir, config_dir=config_dir,
                         environment=environment, source=source, host=host)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in units.items():
        path = out_dir / name
        if not (path.exists() and path.read_text() == text):
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(text)
            tmp.replace(path)
        paths.append(path)
    return sorted(paths)


# ---------------------------------------------------------------- command line

deploy_app = typer.Typer(help="Deployment: systemd units from the day's topology.",
                         no_args_is_help=True)
err = Console(stderr=True, highlight=False)


@deploy_app.command("units")
def units_cmd(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the unit files into.")],
    topology: Annotated[Path | None, typer.Option(
        "--topology", help="The topology file (default: deploy/configs/day.toml).")] = None,
    day_root: Annotated[Path, typer.Option(
        "--day-root", help="The folder of the day folders (DAY = ROOT/DATE).")] = (
        DEFAULT_DAY_ROOT),
    user: Annotated[str, typer.Option("--user", help="The user the processes run as.")] = (
        DEFAULT_USER),
    python: Annotated[Path | None, typer.Option(
        "--python", help="The interpreter that runs Tape (default: this one).")] = None,
    aeron_dir: Annotated[str, typer.Option("--aeron-dir", help="Aeron directory.")] = (
        DEFAULT_AERON_DIR),
    host: Annotated[str, typer.Option(
        "--host", help="A multi-host topology: this host's processes.")] = "",
) -> None:
    """Write a systemd service template per process of the topology and the day's target."""
    try:
        topo = load_topology(topology)
        # Not resolved: a virtualenv's python is a symlink whose target is another prefix.
        py = python if python is not None else Path(sys.executable)
        paths = write_units(topo, out, day_root=day_root, user=user, python=py,
                            aeron_dir=aeron_dir, host=host,
                            source=str(topology if topology is not None else DEFAULT_TOPOLOGY))
    except (ConfigError, ValueError) as e:
        # soft_wrap: a terminal's width must not break the file's name; escape: the
        # message quotes TOML, whose [tables] are rich's markup.
        err.print(f"[red]error:[/red] {escape(str(e))}", soft_wrap=True)
        raise typer.Exit(2) from None
    services = sum(1 for p in paths if p.suffix == ".service")
    print(f"wrote {len(paths)} units to {out} ({services} services and {TARGET}); start a day "
          f"with: systemctl start {target_name('DATE')}")
