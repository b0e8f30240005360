"""Readiness, watchdog and stopping by sd_notify, from real processes of a day on a real
sequencer over Aeron, each started with NOTIFY_SOCKET naming a datagram socket of the
test's own (and a one-second watchdog, as systemd would set WATCHDOG_USEC), as
`tape deploy units` runs them; and the status files of the edge processes (ticker
plant, FIX gateways, venue simulator) as `tape status` reads them.

Each socket asks for the sender's credentials (SO_PASSCRED), as systemd does, so the
tests also check that every datagram came from the process itself (`NotifyAccess=main`:
a media driver the sequencer spawns must not speak for it)."""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy.status import day_status
from tests.conftest import Proc, Stack
from tests.fix_gateways.qf import free_port
from tests.sequencer.runtime.conftest import app_status, wait_for

_UCRED = struct.Struct("iII")  # struct ucred: pid, uid, gid


class NotifySocket:
    """A notify socket of the test's own: every datagram received, with its sender's pid,
    collected by a reader thread."""

    def __init__(self) -> None:
        # /tmp, not tmp_path: a socket's path must fit in 108 bytes.
        self.path = f"/tmp/tape-sd-{os.getpid()}-{uuid.uuid4().hex[:10]}.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.settimeout(0.2)
        self.got: list[tuple[int, dict[str, str], float]] = []  # (pid, fields, when)
        self._lock = threading.Lock()
        self._open = True
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def env(self) -> dict[str, str]:
        """What systemd sets for a `Type=notify` service with `WatchdogSec=1`."""
        return {"NOTIFY_SOCKET": self.path, "WATCHDOG_USEC": "1000000"}

    def _read(self) -> None:
        while self._open:
            try:
                data, anc, _flags, _addr = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
            except TimeoutError:
                continue
            except OSError:
                return
            pid = 0
            for level, kind, raw in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = _UCRED.unpack(raw[:_UCRED.size])[0]
            fields = dict(line.split("=", 1) for line in data.decode().splitlines())
            with self._lock:
                self.got.append((pid, fields, time.monotonic()))

    def messages(self) -> list[tuple[int, dict[str, str], float]]:
        with self._lock:
            return list(self.got)

    def wait(self, key: str, count: int = 1, timeout: float = 30.0, after: float = 0.0,
             context: Callable[[], str] | None = None) -> list[dict[str, str]]:
        """The first `count` datagrams holding `key` (received after `after`)."""

        def found() -> list[dict[str, str]] | None:
            hits = [f for _p, f, t in self.messages() if key in f and t >= after]
            return hits[:count] if len(hits) >= count else None

        got: list[dict[str, str]] = wait_for(
            found, f"{count} x {key} on {self.path}", timeout,
            lambda: f"received {self.messages()}" + (f"\n{context()}" if context else ""))
        return got

    def senders(self) -> set[int]:
        return {p for p, _f, _t in self.messages()}

    def close(self) -> None:
        self._open = False
        self._reader.join(2)
        self.sock.close()
        Path(self.path).unlink(missing_ok=True)


@pytest.fixture
def notify_sockets(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], NotifySocket]]:
    """Make notify sockets; the test's own environment has none (were pytest itself run
    by systemd, its processes would otherwise all speak to systemd)."""
    for var in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        monkeypatch.delenv(var, raising=False)
    made: list[NotifySocket] = []

    def make() -> NotifySocket:
        made.append(NotifySocket())
        return made[-1]

    yield make
    for s in made:
        s.close()


def _json(path: Path) -> dict[str, Any] | None:
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) else None


def _start_sequencer(stack: Stack, env: dict[str, str] | None = None, *extra: str,
                     driver: str = "embedded") -> Proc:
    p = stack.spawn("sequencer", stack.tape_argv(
        "sequencer", "run", "--day", str(stack.day), "--aeron-dir", stack.aeron_dir,
        "--driver", driver, *extra), env)
    stack.wait_up(p)
    return p


def _stop_day(stack: Stack) -> None:
    r = stack.tape("sequencer", "stop", "--day", str(stack.day), "--reason", "test over")
    assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------- sequencer and an app


def test_the_sequencer_and_an_app_say_ready_ping_and_stop(
        stack: Stack, notify_sockets: Callable[[], NotifySocket]) -> None:
    seq_sd, app_sd = notify_sockets(), notify_sockets()
    # driver "auto": the sequencer spawns a media driver, which must stay silent.
    seq = _start_sequencer(stack, seq_sd.env(), driver="auto")
    ready = seq_sd.wait("READY", context=seq.describe)[0]
    assert ready["READY"] == "1" and ready["STATUS"].startswith("running: seq ")
    assert stack.status()["state"] == "running"  # what its health rule looks for
    seq_sd.wait("WATCHDOG", 2, timeout=10)

    # Frames in the journal before the app starts (the idle sequencer's clock ticks):
    # the app has a journal to catch up from before it is ready.
    stack.wait_status(lambda st: st["last_seq"] >= 20, "20 frames in the journal")
    app = stack.spawn("app", stack.tape_argv("app", "run", "counter", "--day",
                                             str(stack.day)), app_sd.env())
    ready = app_sd.wait("READY", context=app.describe)[0]
    st = app_status(stack.day)
    # Its status said caught up (and how much came from the journal) before READY=1.
    assert st is not None and st["caught_up"] is True and st["from_journal"] >= 20, st
    assert ready["STATUS"].startswith("counter: caught up at seq "), ready
    t_ready = next(t for _p, f, t in app_sd.messages() if "READY" in f)
    app_sd.wait("WATCHDOG", 2, timeout=10, after=t_ready)

    # The day's SystemStop: the app says it stops, and ends by itself.
    _stop_day(stack)
    stop = app_sd.wait("STOPPING", context=app.describe)[0]
    assert "SystemStop" in stop.get("STATUS", ""), stop
    assert app.wait(30) == 0, app.describe()
    # SIGTERM: the sequencer says it stops, and ends cleanly.
    stack.stop_sequencer(seq)
    seq_sd.wait("STOPPING", context=seq.describe)
    # Each said READY=1 once, and every datagram came from the process itself.
    assert sum("READY" in f for _p, f, _t in seq_sd.messages()) == 1
    assert sum("READY" in f for _p, f, _t in app_sd.messages()) == 1
    assert seq_sd.senders() == {seq.pid}, (seq_sd.messages(), seq.pid)
    assert app_sd.senders() == {app.pid}, (app_sd.messages(), app.pid)


# ---------------------------------------------------------------- the database writer


def test_the_db_writer_says_ready_once_running_and_stops_at_the_days_end(
        stack: Stack, notify_sockets: Callable[[], NotifySocket]) -> None:
    sd = notify_sockets()
    _start_sequencer(stack)
    w = stack.spawn("writer", stack.tape_argv("db", "run", "--day", str(stack.day)), sd.env())
    ready = sd.wait("READY", context=w.describe)[0]
    assert ready["STATUS"].startswith("db writer: writing into "), ready
    st = _json(stack.day / "db" / "writer.status.json")
    assert st is not None and st["state"] == "running" and st["pid"] == w.pid, st
    t_ready = next(t for _p, f, t in sd.messages() if "READY" in f)
    sd.wait("WATCHDOG", 2, timeout=10, after=t_ready)
    _stop_day(stack)
    sd.wait("STOPPING", context=w.describe)
    assert w.wait(60) == 0, w.describe()
    assert sd.senders() == {w.pid}


# ---------------------------------------------------------------- FIX gateways, venue simulator


def _fix_config(path: Path) -> Path:
    path.write_text(f"""
[client_gateway]
[[client_gateway.sessions]]
client = "ALPHA"
comp_id = "ALPHA"
fix_version = "4.4"
port = {free_port()}
[venue_gateway]
reconnect_s = 1
[[venue_gateway.sessions]]
destination = "DMA-ARCX"
venue = "ARCX"
port = {free_port()}
target_comp_id = "ARCX"
fix_version = "4.4"
""")
    return path


def test_gateways_and_the_venue_simulator_say_ready_and_write_their_status(
        stack: Stack, tmp_path: Path, notify_sockets: Callable[[], NotifySocket]) -> None:
    sim_sd, venue_sd, client_sd = notify_sockets(), notify_sockets(), notify_sockets()
    config = _fix_config(tmp_path / "fix.toml")
    day = stack.day
    _start_sequencer(stack)
    sim = stack.spawn("venue_sim", stack.tape_argv(
        "venue-sim", "--day", str(day), "--config", str(config)), sim_sd.env())
    sim.expect("ready")
    sim_sd.wait("READY", context=sim.describe)
    venue = stack.spawn("venue_gw", stack.tape_argv(
        "gateway", "venue", "--day", str(day), "--config", str(config)), venue_sd.env())
    client = stack.spawn("client_gw", stack.tape_argv(
        "gateway", "client", "--day", str(day), "--config", str(config)), client_sd.env())
    for p, sd in ((venue, venue_sd), (client, client_sd)):
        p.expect("ready")  # the `{"ready": ...}` line, the gateways' health rule
        ready = sd.wait("READY", context=p.describe)[0]
        assert "caught up at seq" in ready["STATUS"], ready
    for sd in (sim_sd, venue_sd, client_sd):
        sd.wait("WATCHDOG", 2, timeout=10)

    # The venue gateway logs on to the simulator: both status files say so.
    venue_file = day / "fix" / "venue_gateway.status.json"
    sim_file = day / "fix" / "venue_sim.status.json"
    wait_for(lambda: (st := _json(venue_file)) is not None and all(
        s["logged_on"] for s in st["sessions"].values()), "the venue session logged on",
        context=lambda: f"{_json(venue_file)}\n{venue.describe()}")
    wait_for(lambda: (st := _json(sim_file)) is not None and all(
        s["logged_on"] for s in st["sessions"].values()), "the simulator's session logged on",
        context=lambda: f"{_json(sim_file)}\n{sim.describe()}")
    vst = _json(venue_file)
    assert vst is not None
    assert vst["pid"] == venue.pid and vst["state"] == "running" and vst["caught_up"] is True
    assert list(vst["sessions"].values()) == [
        {"logged_on": True, "destination": "DMA-ARCX", "venue": "ARCX"}]
    assert vst["counts"]["requests_sent"] == 0
    sim_st = _json(sim_file)
    assert sim_st is not None and sim_st["pid"] == sim.pid
    assert (sim_st["orders_working"], sim_st["fills"]) == (0, 0)
    cst = _json(day / "fix" / "client_gateway.status.json")
    assert cst is not None and cst["pid"] == client.pid
    assert list(cst["sessions"].values()) == [
        {"logged_on": False, "client": "ALPHA", "drop_copy": False}]

    # `tape status`: each with its pid, a fresh heartbeat from its status file, a seq.
    st = day_status(day, stale_s=5.0)
    for name, p in (("venue_gateway", venue), ("client_gateway", client), ("venue_sim", sim)):
        ps = st.get(name)
        assert ps is not None, [x.name for x in st.processes]
        assert (ps.state, ps.pid, ps.healthy) == ("up", p.pid, True), ps
        assert ps.status_file is not None and ps.status_file.endswith(".status.json")
        assert ps.heartbeat_age_s is not None and ps.heartbeat_age_s < 5.0, ps
        assert ps.seq is not None and ps.lag_frames is not None, ps

    # SIGTERM: the client gateway says it stops and leaves a "stopped" status; the day
    # is not over, so it shows down.
    client.signal(15)
    client_sd.wait("STOPPING", context=client.describe)
    assert client.wait(30) == 0, client.describe()
    cst = _json(day / "fix" / "client_gateway.status.json")
    assert cst is not None and cst["state"] == "stopped", cst
    ps = day_status(day).get("client_gateway")
    assert ps is not None and (ps.state, ps.healthy) == ("down", False), ps

    # SIGKILL: no word from the venue gateway; it shows down at the next look.
    venue.kill9()
    ps = day_status(day).get("venue_gateway")
    assert ps is not None and (ps.state, ps.up, ps.healthy) == ("down", False, False), ps
    assert f"pid {venue.pid} gone" in ps.why
    for sd, p in ((sim_sd, sim), (venue_sd, venue), (client_sd, client)):
        assert sd.senders() == {p.pid}, (sd.messages(), p.pid)


# ---------------------------------------------------------------- the ticker plant


def test_the_ticker_plant_says_ready_once_caught_up_and_writes_its_status(
        stack: Stack, notify_sockets: Callable[[], NotifySocket]) -> None:
    from tests.conftest import REPO

    sd = notify_sockets()
    day = stack.day
    r = stack.tape("refdata", "build", "--date", "2013-10-08", "--out", str(day / "refdata"),
                   "--no-data", timeout=300)
    assert r.returncode == 0, r.stderr
    _start_sequencer(stack, None, "--session-date", "2013-10-08")
    # It holds its feed until a symbol has a subscriber (none will): up, caught up,
    # waiting, for as long as the test likes.
    plant = stack.spawn("plant", stack.tape_argv(
        "marketdata", "run", "--day", str(day), "--feed", "csv", "--file",
        str(REPO / "marketdata" / "samples" / "user_feed.csv"), "--wait-subscribed", "1"),
        sd.env())
    ready = sd.wait("READY", context=plant.describe)[0]
    assert ready["STATUS"].startswith("ticker plant: caught up at seq "), ready
    sd.wait("WATCHDOG", 2, timeout=10)
    path = day / "marketdata" / "plant.status.json"
    st = _json(path)
    assert st is not None, plant.describe()
    assert (st["pid"], st["state"], st["caught_up"]) == (
        plant.pid, "waiting_for_subscribers", True), st
    assert st["published"] == 0 and st["symbols_subscribed"] == [] and st["feed_rows"] > 0

    ps = day_status(day, stale_s=5.0).get("ticker_plant")
    assert ps is not None
    assert (ps.state, ps.pid, ps.healthy, ps.status_file) == ("up", plant.pid, True, str(path))
    assert ps.heartbeat_age_s is not None and ps.heartbeat_age_s < 5.0, ps
    assert ps.seq is not None and ps.seq >= 1
    plant.kill9()
    ps = day_status(day).get("ticker_plant")
    assert ps is not None and (ps.state, ps.healthy) == ("down", False), ps
    assert sd.senders() == {plant.pid}
