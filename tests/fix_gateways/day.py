"""A trading day of real processes for the FIX tests: refdata, the sequencer (sim
time), the OMS and algo apps, the venue simulator, the venue gateway and the
client gateway, with a fix.toml written for free ports. `Day.client` starts a
client's QuickFIX session as a worker (`tests.fix_gateways.fix_client`);
`send`, `got` and `pick` talk to it. `start_sim`, `start_venue_gw` and
`start_client_gw` (re)start one process (the restart tests kill and start them
again); `stream` and `wait_stream` read the day's journal.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sequencer.journal import JournalReader
from sequencer.messages import Message, decode
from tests.conftest import Proc, Stack
from tests.fix_gateways.qf import free_port
from tests.sequencer.runtime.conftest import wait_for

DATE = "2013-10-08"


def _config(path: Path, client_port: int, clearing_port: int, venue_port: int) -> Path:
    path.write_text(f"""
[client_gateway]
[[client_gateway.sessions]]
client = "ALPHA"
comp_id = "ALPHA"
fix_version = "4.4"
port = {client_port}
[[client_gateway.sessions]]
client = "BETA"
comp_id = "BETA"
fix_version = "4.2"
port = {client_port}
[[client_gateway.sessions]]
client = "*"
comp_id = "CLEARING"
fix_version = "4.4"
port = {clearing_port}
drop_copy = true
[venue_gateway]
reconnect_s = 1
[[venue_gateway.sessions]]
destination = "DMA-ARCX"
venue = "ARCX"
port = {venue_port}
target_comp_id = "ARCX"
fix_version = "4.4"
[[venue_gateway.sessions]]
destination = "DMA-XNYS"
venue = "XNYS"
port = {venue_port}
target_comp_id = "XNYS"
fix_version = "4.2"
""")
    return path


class Day:
    """`extra_config` is TOML appended to the generated fix.toml (more client sessions,
    a `[client_gateway.tls]` table)."""

    def __init__(self, stack: Stack, tmp: Path, extra_config: str = "") -> None:
        self.s = stack
        self.tmp = tmp
        self.n_injects = 0
        self.ports = (free_port(), free_port(), free_port())
        self.config = _config(tmp / "fix.toml", *self.ports)
        if extra_config:
            with self.config.open("a") as f:
                f.write(extra_config)

    def start(self, driver: str = "embedded") -> None:
        """Build the ref data, start the sequencer (`driver`: "auto" runs the media driver
        in a process of its own, which outlives the sequencer) and every other process."""
        s, day = self.s, self.s.day
        r = s.tape("refdata", "build", "--date", DATE, "--out", str(day / "refdata"),
                   timeout=300)
        assert r.returncode == 0, r.stderr
        self.sequencer = self.start_sequencer(driver)
        self.apps: dict[str, Proc] = {}
        for app in ("oms", "algo"):
            p = self.apps[app] = s.spawn(app, s.tape_argv("app", "run", app, "--day", str(day)))
            wait_for(lambda a=app, p=p: (day / "apps" / f"{a}.status.json").exists()  # type: ignore[misc]
                     or not p.alive(), f"the {app} app to start")
            assert p.alive(), p.describe()
        self.start_sim()
        self.start_venue_gw()
        self.start_client_gw()

    def start_sequencer(self, driver: str = "embedded") -> Proc:
        """The day's sequencer (again, after a crash: it recovers the journal)."""
        self.sequencer = self.s.start_sequencer(
            driver, None, "--time-mode", "sim", "--session-date", DATE, "--fsync", "none")
        return self.sequencer

    def start_sim(self) -> Proc:
        """The scripted venue simulator (again: the same FIX store, so the same session
        sequence numbers)."""
        self.sim = self.s.spawn("venue_sim", self.s.tape_argv(
            "venue-sim", "--config", str(self.config), "--root", str(self.tmp / "sim"),
            "--scripted"))
        self.sim.expect("ready")
        return self.sim

    def start_venue_gw(self) -> Proc:
        self.venue_gw = self.s.spawn("venue_gw", self.s.tape_argv(
            "gateway", "venue", "--day", str(self.s.day), "--config", str(self.config)))
        self.venue_gw.expect("ready")
        return self.venue_gw

    def start_client_gw(self) -> Proc:
        self.client_gw = self.s.spawn("client_gw", self.s.tape_argv(
            "gateway", "client", "--day", str(self.s.day), "--config", str(self.config)))
        self.client_gw.expect("ready")
        return self.client_gw

    def client(self, comp_id: str, version: str, port: int | None = None, *,
               tls: dict[str, Path] | None = None, name: str = "",
               logon: bool = True) -> Proc:
        """A client's QuickFIX initiator. `tls` (keys `ca`, and `cert` and `key` for a
        client certificate) makes it a TLS initiator; `name` keeps two workers with one
        CompID apart (their own FIX store); `logon=False` does not wait for a logon."""
        name = name or comp_id
        argv = [*self.s.tape_argv()[:1], "-m", "tests.fix_gateways.fix_client",
                "--port", str(port or self.ports[0]), "--comp-id", comp_id,
                "--version", version, "--root", str(self.tmp / f"client-{name}")]
        for key, path in (tls or {}).items():
            argv += [f"--tls-{key}", str(path)]
        p = self.s.spawn(f"client_{name}", argv)
        if logon:
            p.expect("logon")
        return p

    def venue(self, **cmd: Any) -> dict[str, Any]:
        """A scripted-venue command (`fix_gateways.venue_sim.server`); its answer (a fill's
        `exec_ids`, a bust's or correction's `exec_id`)."""
        self.sim.send(json.dumps(cmd))
        try:
            answer: dict[str, Any] = self.sim.expect("done", timeout=10)
        except AssertionError:
            raise AssertionError(f"the venue simulator did not do {cmd}: "
                                 f"{self.sim.history[-5:]}") from None
        assert answer["done"] == cmd["op"]
        return answer

    def inject(self, *messages: dict[str, Any]) -> None:
        """Ops' commands onto the day's stream (`tape inject`)."""
        self.n_injects += 1
        path = self.tmp / f"inject-{self.n_injects}.json"
        path.write_text(json.dumps(list(messages)))
        # --again: the same commands may be sent more than once in a day (a second halt).
        r = self.s.tape("inject", str(path), "--day", str(self.s.day), "--again")
        assert r.returncode == 0, r.stderr


def stream(day: Path) -> list[tuple[int, int, Message]]:
    """(source id, source seq, message) of every frame the day's journal holds now."""
    out: list[tuple[int, int, Message]] = []
    with JournalReader(day / "journal", 1) as r:
        for f in r:
            out.append((f.source_id, f.source_seq, decode(f.type_id, f.payload)))
    return out


def wait_stream(day: Path, pred: Callable[[list[Message]], Any], what: str,
                timeout: float = 30.0) -> Any:
    """Read the journal until `pred(messages)` is truthy; return that value."""

    def check() -> Any:
        return pred([m for _src, _seq, m in stream(day)])

    return wait_for(check, what, timeout)


def send(p: Proc, **fields: str) -> None:
    p.send(json.dumps({"send": fields}))
    # keep: a fast answer may be printed before "sent"; `got` finds it set aside
    assert p.expect("sent", keep=True)["sent"] is True


def got(p: Proc, timeout: float = 20.0) -> dict[str, str]:
    return p.expect("got", timeout)["got"]  # type: ignore[no-any-return]


def got_until(p: Proc, pred: Callable[[dict[str, str]], bool],
              timeout: float = 20.0) -> dict[str, str]:
    """The next message that `pred` accepts (the ones before it stay in `p.history`)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no such message from {p.name} within {timeout}s; "
                                 f"got {[m.get('got') for m in p.history[-10:]]}")
        m = got(p, left)
        if pred(m):
            return m


def pick(m: dict[str, str], *tags: str) -> tuple[str, ...]:
    return tuple(m.get(t, "") for t in tags)


ER = ("35", "150", "39", "11", "41", "38", "14", "151", "32", "31", "6")

