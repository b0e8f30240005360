"""End to end, all real: a client's QuickFIX session, the client gateway, the
sequencer, the OMS, the DMA stub of the algo container, the venue gateway and
the venue simulator (scripted), each its own process over Aeron and FIX sockets.
The client's execution reports are checked field by field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Proc, Stack
from tests.fix_gateways.qf import free_port
from tests.sequencer.runtime.conftest import wait_for

pytestmark = pytest.mark.slow

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
    def __init__(self, stack: Stack, tmp: Path) -> None:
        self.s = stack
        self.tmp = tmp
        self.ports = (free_port(), free_port(), free_port())
        self.config = _config(tmp / "fix.toml", *self.ports)

    def start(self) -> None:
        s, day = self.s, self.s.day
        r = s.tape("refdata", "build", "--date", DATE, "--out", str(day / "refdata"),
                   timeout=300)
        assert r.returncode == 0, r.stderr
        s.start_sequencer("embedded", None, "--time-mode", "sim", "--session-date", DATE,
                          "--fsync", "none")
        for app in ("oms", "algo"):
            p = s.spawn(app, s.tape_argv("app", "run", app, "--day", str(day)))
            wait_for(lambda a=app, p=p: (day / "apps" / f"{a}.status.json").exists()  # type: ignore[misc]
                     or not p.alive(), f"the {app} app to start")
            assert p.alive(), p.describe()
        self.sim = s.spawn("venue_sim", s.tape_argv(
            "venue-sim", "--config", str(self.config), "--root", str(self.tmp / "sim"),
            "--scripted"))
        self.sim.expect("ready")
        self.venue_gw = s.spawn("venue_gw", s.tape_argv(
            "gateway", "venue", "--day", str(day), "--config", str(self.config)))
        self.venue_gw.expect("ready")
        self.client_gw = s.spawn("client_gw", s.tape_argv(
            "gateway", "client", "--day", str(day), "--config", str(self.config)))
        self.client_gw.expect("ready")

    def client(self, comp_id: str, version: str, port: int | None = None) -> Proc:
        p = self.s.spawn(f"client_{comp_id}", [
            *self.s.tape_argv()[:1], "-m", "tests.fix_gateways.fix_client",
            "--port", str(port or self.ports[0]), "--comp-id", comp_id, "--version", version,
            "--root", str(self.tmp / f"client-{comp_id}")])
        p.expect("logon")
        return p

    def venue(self, **cmd: Any) -> None:
        self.sim.send(json.dumps(cmd))
        try:
            answer = self.sim.expect("done", timeout=10)
        except AssertionError:
            raise AssertionError(f"the venue simulator did not do {cmd}: "
                                 f"{self.sim.history[-5:]}") from None
        assert answer["done"] == cmd["op"]


def send(p: Proc, **fields: str) -> None:
    p.send(json.dumps({"send": fields}))
    assert p.expect("sent")["sent"] is True


def got(p: Proc, timeout: float = 20.0) -> dict[str, str]:
    return p.expect("got", timeout)["got"]  # type: ignore[no-any-return]


def pick(m: dict[str, str], *tags: str) -> tuple[str, ...]:
    return tuple(m.get(t, "") for t in tags)


ER = ("35", "150", "39", "11", "41", "38", "14", "151", "32", "31", "6")


def test_fix44_dma_order_fills_in_two_parts_with_a_drop_copy(stack: Stack,
                                                             tmp_path: Path) -> None:
    d = Day(stack, tmp_path)
    d.start()
    alpha = d.client("ALPHA", "4.4")
    clearing = d.client("CLEARING", "4.4", d.ports[1])
    send(alpha, **{"35": "D", "11": "A1", "55": "IBM", "54": "1", "38": "100", "40": "2",
                   "44": "170", "59": "0", "60": "20131008-13:30:00.000", "7000": "DMA",
                   "7010": "ARCX"})
    new = got(alpha)
    assert pick(new, *ER) == ("8", "0", "0", "A1", "", "100", "0", "100", "", "", "0")
    assert new["37"] == "20131008-1" and new["55"] == "IBM" and new["54"] == "1"
    order = d.sim.expect("order")
    assert (order["order"], order["venue"], order["qty"]) == ("20131008-1.1", "ARCX", 100)
    d.venue(op="fill", venue="ARCX", cl_ord_id="20131008-1.1", qty=40, px=1_700_000)
    part = got(alpha)
    assert pick(part, *ER) == ("8", "F", "1", "A1", "", "100", "40", "60", "40", "170", "170")
    d.venue(op="fill", venue="ARCX", cl_ord_id="20131008-1.1", qty=60, px=1_699_900)
    full = got(alpha)
    assert pick(full, *ER) == ("8", "F", "2", "A1", "", "100", "100", "0", "60", "169.99",
                               "169.994")
    copies = [got(clearing), got(clearing)]
    assert [pick(c, "17", "1", "32", "31") for c in copies] == [
        (part["17"], "ALPHA", "40", "170"), (full["17"], "ALPHA", "60", "169.99")]
