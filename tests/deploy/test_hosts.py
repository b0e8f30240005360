"""A day across hosts, on real network stacks: three hosts as Linux network namespaces on
a bridge (`deploy.netlab`), each with its own address and media driver, the stream on
Aeron UDP as the shipped three-host topology places it (`deploy/configs/hosts.toml`).

- the stream under faults on the links (5% and 1% loss, 2 ms of delay with 1 ms of
  jitter, which reorders packets, a 2-second cut, and a cut longer than the drivers'
  timeouts): an app on another host than the journal's loses
  no frame and repeats none, catches up over the network as a late joiner and after a
  restart from its snapshot, and replays to the same outputs;
- the journal of the same inputs is the same, frame for frame, on one host and across
  three (all but the wall-clock telemetry);
- a recorded day with its FIX clients, started host by host with `tape day start
  --host`: the sequencer on one host, the OMS and the algo engine on a second, the
  gateways, the venue simulator and the clients on the third, with loss on the links
  and a link cut in the middle of the market; every order completes, no execution report
  is lost, `tape replay --verify` passes.

The kernel here has no netem (CONFIG_NET_SCH_NETEM is not set): delay, jitter and the
reordering they cause come from `NetLab.delay`, which holds the packets in user space
(NFQUEUE) for the delay drawn for each.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy.day import write_transport
from deploy.netlab import NetLab
from deploy.procs import REPO, child_env
from deploy.topology import load_topology
from sequencer import sources
from sequencer.journal import JournalReader
from tests.deploy.daykit import wait_for
from tests.deploy.test_day import ORDERS  # the day's clients: every kind of order

HOSTS_TOML = REPO / "deploy" / "configs" / "hosts.toml"
HOSTS = ("core", "trading", "edge")


@pytest.fixture(scope="module")
def lab() -> Iterator[NetLab]:
    with NetLab(HOSTS) as lab:  # the addresses hosts.toml names (10.77.0.1 ..)
        yield lab


class Hosts:
    """Processes on the lab's hosts for one day folder: each host its own Aeron directory,
    every process told its host (as `tape day start --host` tells them)."""

    def __init__(self, lab: NetLab, day: Path, tag: str) -> None:
        self.lab = lab
        self.day = day
        self.tag = tag
        self.procs: list[subprocess.Popen[bytes]] = []

    def aeron_dir(self, host: str) -> str:
        return f"/dev/shm/tape-{self.tag}-{os.getpid()}-{host}"

    def env(self, host: str) -> dict[str, str]:
        return child_env({"TAPE_HOST": host, "TAPE_AERON_DIR": self.aeron_dir(host)})

    def spawn(self, host: str, name: str, *args: str) -> subprocess.Popen[bytes]:
        p = self.lab.popen(host, [sys.executable, "-m", "deploy", *args], env=self.env(host),
                           log=self.day / "logs" / f"{name}.out", cwd=REPO)
        self.procs.append(p)
        return p

    def tape(self, host: str, *args: str, timeout: float = 120
             ) -> subprocess.CompletedProcess[str]:
        return self.lab.run(host, [sys.executable, "-m", "deploy", *args],
                            env=self.env(host), cwd=REPO, timeout=timeout)

    def drivers(self) -> None:
        for h in HOSTS:
            self.spawn(h, f"driver_{h}", "driver", "--aeron-dir", self.aeron_dir(h))
        wait_for("the media drivers", lambda: all(
            Path(self.aeron_dir(h), "cnc.dat").exists() for h in HOSTS), 30)

    def close(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in reversed(self.procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        for h in HOSTS:
            subprocess.run(["rm", "-rf", self.aeron_dir(h), self.aeron_dir(h) + ".driver",
                            self.aeron_dir(h) + ".owner"], check=False)


def status(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def notes(path: Path, n: int, start: int = 0) -> Path:
    rows = "\n".join(f"OperatorNote,ops,note {i}" for i in range(start, start + n))
    path.write_text("type,author,text\n" + rows + "\n")
    return path


def _day(tmp: Path) -> Path:
    day = tmp / "day"
    (day / "config").mkdir(parents=True)
    write_transport(day, load_topology(HOSTS_TOML))
    return day


def _sequencer(h: Hosts) -> None:
    """The sequencer and the journal server on core."""
    h.spawn("core", "sequencer", "sequencer", "run", "--day", str(h.day), "--config",
            str(h.day / "config" / "sequencer.toml"), "--aeron-dir", h.aeron_dir("core"),
            "--driver", "external", "--time-mode", "sim", "--session-date", "2013-10-08")
    wait_for("the sequencer", lambda: status(h.day / "sequencer.status.json").get("state")
             == "running", 60)
    h.spawn("core", "journal_server", "journal", "serve", "--day", str(h.day))
    wait_for("the journal server", lambda: status(
        h.day / "journal_server.status.json").get("state") == "running", 30)


def test_an_app_across_hosts_loses_and_repeats_nothing_under_faults(
        lab: NetLab, tmp_path: Path) -> None:
    day = _day(tmp_path)
    h = Hosts(lab, day, "faults")
    app_status = day / "apps" / "counter.status.json"
    try:
        h.drivers()
        _sequencer(h)

        def send_notes(name: str, n: int, start: int) -> int:
            r = h.tape("edge", "inject", str(notes(tmp_path / name, n, start)),
                       "--day", str(day), "--json")
            assert r.returncode == 0, r.stderr
            return int(json.loads(r.stdout)["last_seq"])

        # Traffic before the app exists: it joins late, from another host than the
        # journal's, and catches up over the network.
        lab.loss("edge", 5)
        send_notes("a.csv", 1500, 0)
        h.spawn("trading", "counter", "app", "run", "counter", "--day", str(day))
        wait_for("the late joiner", lambda: status(app_status).get("caught_up"), 60)
        assert status(app_status)["from_journal"] >= 1500  # through the journal server

        # Loss on both links while it follows the live stream.
        lab.loss("trading", 5)
        lab.loss("edge", 1)
        last = send_notes("b.csv", 1500, 1500)
        wait_for("the app through 5% loss", lambda: status(app_status).get("seq", 0) >= last)

        # A snapshot, then the app killed and restarted: from its snapshot, the rest from
        # the journal server.
        r = h.tape("edge", "app", "snapshot", "--day", str(day), "--target", "counter")
        assert r.returncode == 0, r.stderr
        wait_for("the snapshot", lambda: list((day / "snapshots" / "counter").glob("*.snap")))
        app = h.procs[-1]
        os.killpg(app.pid, signal.SIGKILL)
        app.wait()
        last = send_notes("c.csv", 500, 3000)
        h.spawn("trading", "counter", "app", "run", "counter", "--day", str(day))
        wait_for("the restart", lambda: status(app_status).get("seq", 0) >= last)

        # 2 ms of delay with 1 ms of jitter both ways on the app's link and the
        # publisher's: packets closer than the jitter overtake each other.
        lab.heal()
        lab.delay("trading", 2.0, 1.0, report=tmp_path / "delay-trading.json")
        lab.delay("edge", 2.0, 1.0, seed=2, report=tmp_path / "delay-edge.json")
        last = send_notes("g.csv", 1000, 4700)
        wait_for("the app through delay and reordering",
                 lambda: status(app_status).get("seq", 0) >= last)
        lab.undelay("trading")
        lab.undelay("edge")
        held = json.loads((tmp_path / "delay-trading.json").read_text())
        assert held["held"] > 100 and held["reordered"] > 0, held

        # A two-second cut of the app's link while traffic flows, then healed.
        lab.heal()
        lab.cut("trading")
        last = send_notes("d.csv", 500, 3500)
        time.sleep(2.0)
        lab.heal("trading")
        wait_for("the app after a 2 s cut", lambda: status(app_status).get("seq", 0) >= last)

        # A cut longer than the drivers' timeouts (the sequencer's flow control drops the
        # host after 5 s, its image of the stream goes after 10 s): the app rejoins the
        # live stream and fills what it missed from the journal.
        before = status(app_status)["from_journal"]
        lab.cut("trading")
        last = send_notes("e.csv", 500, 4000)
        time.sleep(13.0)
        lab.heal("trading")
        last = send_notes("f.csv", 200, 4500)
        wait_for("the app after a long cut", lambda: status(app_status).get("seq", 0) >= last,
                 90)
        assert status(app_status)["from_journal"] - before >= 500  # filled from the journal

        r = h.tape("edge", "sequencer", "stop", "--day", str(day))
        assert r.returncode == 0, r.stderr
        wait_for("the app at SystemStop", lambda: status(app_status).get("stopped_by_stream"))
    finally:
        h.close()
    # Every frame once, in order: the app's count of frames is the journal's.
    st = status(app_status)
    with JournalReader(day / "journal") as reader:
        frames = [f for batch in iter(reader.read, []) for f in batch]
    assert [f.seq for f in frames] == list(range(1, len(frames) + 1))
    assert st["seq"] == frames[-1].seq
    notes_seen = [f for f in frames if f.source_id != sources.SEQUENCER
                  and f.type_id == frames[1].type_id]
    assert len(notes_seen) == 5700  # no input lost or taken twice through the faults
    # Its outputs, sequenced through the faults, are what a replay of the journal makes.
    r = subprocess.run([sys.executable, "-m", "deploy", "replay", str(day), "--app",
                        "counter", "--verify"], cwd=REPO, env=child_env(), text=True,
                       capture_output=True, timeout=120, check=False)
    assert r.returncode == 0, r.stdout + r.stderr


def _telemetry_free(day: Path) -> list[tuple[Any, ...]]:
    """Every frame but its wall-clock telemetry (publish, receive and processing times,
    and the checksum over them)."""
    with JournalReader(day / "journal") as reader:
        return [(f.seq, f.ts_ns, f.source_id, f.type_id, f.source_seq, f.cause_seq,
                 f.event_ns, bytes(f.payload))
                for batch in iter(reader.read, []) for f in batch]


def test_the_journal_is_the_same_on_one_host_and_across_hosts(
        lab: NetLab, tmp_path: Path) -> None:
    inputs = notes(tmp_path / "in.csv", 800)
    # Across hosts: the sequencer on core, the inputs from edge.
    multi = _day(tmp_path / "multi")
    h = Hosts(lab, multi, "same")
    try:
        h.drivers()
        _sequencer(h)
        r = h.tape("edge", "inject", str(inputs), "--day", str(multi))
        assert r.returncode == 0, r.stderr
        r = h.tape("edge", "sequencer", "stop", "--day", str(multi))
        assert r.returncode == 0, r.stderr
    finally:
        h.close()
    # One host: shared memory, the default transport.
    one = tmp_path / "one" / "day"
    one.mkdir(parents=True)
    aeron = f"/dev/shm/tape-same-one-{os.getpid()}"
    env = child_env()
    seq = subprocess.Popen([sys.executable, "-m", "deploy", "sequencer", "run", "--day",
                            str(one), "--aeron-dir", aeron, "--driver", "embedded",
                            "--time-mode", "sim", "--session-date", "2013-10-08"],
                           cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for("the one-host sequencer", lambda: status(one / "sequencer.status.json").get(
            "state") == "running", 60)
        for args in (["inject", str(inputs)], ["sequencer", "stop"]):
            r = subprocess.run([sys.executable, "-m", "deploy", *args, "--day", str(one)],
                               cwd=REPO, env=env, text=True, capture_output=True,
                               timeout=120, check=False)
            assert r.returncode == 0, r.stderr
    finally:
        os.killpg(seq.pid, signal.SIGTERM)
        seq.wait(timeout=30)
        subprocess.run(["rm", "-rf", aeron, aeron + ".owner"], check=False)
    a, b = _telemetry_free(one), _telemetry_free(multi)
    assert len(a) == 802  # SystemStart, the inputs, SystemStop
    assert a == b


# ---------------------------------------------------------------- a recorded day on three hosts

@pytest.mark.timeout(900)  # a whole day of processes on three hosts: minutes
def test_a_recorded_day_on_three_hosts_with_loss_and_a_cut(lab: NetLab, tmp_path: Path
                                                           ) -> None:
    from deploy.bench.day import check_day
    from deploy.supervise import Supervisor
    from tests.deploy.daykit import DATE, DayRoot

    root = DayRoot(tmp_path)
    day = root.day
    orders = tmp_path / "orders.csv"
    orders.write_text(ORDERS)

    def tape(host: str | None, *args: str, timeout: float = 300) -> str:
        argv = [sys.executable, "-m", "deploy", *args]
        r = subprocess.run(lab.argv(host, argv) if host else argv, cwd=REPO, env=root.env,
                           text=True, capture_output=True, timeout=timeout, check=False)
        assert r.returncode == 0, f"tape {' '.join(args)} on {host}: {r.stdout}{r.stderr}"
        return r.stdout

    clients: subprocess.Popen[bytes] | None = None
    try:
        tape(None, "day", "prepare", "--date", DATE, "--topology", str(HOSTS_TOML),
             "--symbols", "IBM")
        # Host by host, the sequencer's first; the market held until the clients are in.
        tape("core", "day", "start", "--day", str(day), "--host", "core", "--hold-market")
        tape("trading", "day", "start", "--day", str(day), "--host", "trading")
        tape("edge", "day", "start", "--day", str(day), "--host", "edge")
        # From any host, every host's processes.
        st = json.loads(subprocess.run(
            lab.argv("trading", [sys.executable, "-m", "deploy", "status", "--day", str(day),
                                 "--json"]), cwd=REPO, env=root.env, text=True,
            capture_output=True, timeout=60, check=False).stdout)
        hosts = {p["name"]: p["host"] for p in st["processes"]}
        assert hosts["sequencer"] == "core" and hosts["oms"] == "trading"
        assert hosts["client_gateway"] == "edge" and hosts["venue_sim"] == "edge"
        clients = lab.popen("edge", [sys.executable, "-m", "deploy", "clients", "--orders",
                                     str(orders), "--day", str(day), "--config",
                                     str(day / "config" / "fix.toml"), "--json"],
                            env=root.env, log=day / "logs" / "clients.out", cwd=REPO)
        wait_for("the clients logged on", lambda: "ready" in (
            day / "logs" / "clients.out").read_text(), 60)
        lab.loss("trading", 1)
        lab.loss("edge", 1)
        tape("core", "day", "open-market", "--day", str(day))
        # In the middle of the market, the OMS and algo engine's host cut off for 2 s.
        wait_for("the market under way", lambda: status(
            day / "sequencer.status.json").get("last_seq", 0) > 60_000, 300)
        lab.cut("trading")
        time.sleep(2.0)
        lab.loss("trading", 1)
        tape("core", "day", "wait-close", "--day", str(day), "--timeout", "600", timeout=660)
        tape("core", "day", "eod", "--day", str(day))
        clients.wait(timeout=120)
        assert clients.returncode == 0
        lab.heal()
        for host in ("edge", "trading", "core"):
            tape(host, "day", "stop", "--day", str(day), "--host", host)
    finally:
        if clients is not None and clients.poll() is None:
            os.killpg(clients.pid, signal.SIGKILL)
            clients.wait()
        lab.heal()
        for host in HOSTS:
            Supervisor(day, host).shutdown(timeout_s=30)
    chk = check_day(day)
    assert chk["duplicate_exec_ids"] == 0
    assert chk["open_orders"] == []
    assert chk["replay_ok"]  # the OMS and the algo engine replay to the same bytes
    total = chk["clients"]["total"]
    assert total["orders"] == 7 and total["replaces"] == 1 and total["cancels"] == 1
    assert total["rejected"] == 1 and total["still_open"] == []
    # Every execution report the journal holds reached its client over FIX, once.
    assert chk["clients"]["reports"] == chk["execution_reports"]
    assert chk["clients"]["duplicates"] == 0
    # Every app saw every frame, once: the day's last seq, each from the network.
    last = status(day / "sequencer.status.json")["last_seq"]
    for app in ("oms", "algo"):
        assert status(day / "apps" / f"{app}.status.json")["seq"] == last
