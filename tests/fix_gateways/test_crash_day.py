"""A sequencer killed (SIGKILL) ten times during a trading day with FIX orders and
`tape inject` files in flight takes no other process down, and loses or doubles
nothing.

The day is real processes: the sequencer with its media driver in a process of its own
(driver "auto"), the OMS and algo apps, the scripted venue simulator, the venue and
client gateways, a FIX client. Each round a client sends orders over FIX and an inject
file is sent, the sequencer is killed at a random moment (a fixed seed), every other
process must still be up, and the sequencer is started again. Afterwards:

- every order the client sent is on the stream once and acknowledged to the client;
- every row of every inject file is on the stream once (an inject cut off by a kill is
  run again, as ops would);
- at the day's SystemStop the apps and gateways end by themselves, exit 0;
- `tape journal verify` is clean and `tape replay --verify` of the OMS and the algo
  engine matches every output byte for byte.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from pathlib import Path

import pytest

from sequencer import sources
from sequencer.journal import read_all
from sequencer.messages.orders import NewOrder
from tests.conftest import Proc, Stack
from tests.fix_gateways.day import Day, got_until, send, stream

pytestmark = pytest.mark.slow

SEED = 20261206
KILLS = 10
ORDERS_PER_ROUND = 3
ROWS_PER_FILE = 200


def _order(cl: str) -> dict[str, str]:
    return {"35": "D", "11": cl, "55": "IBM", "54": "1", "38": "100", "40": "2", "44": "170",
            "59": "0", "60": "20131008-13:30:00.000", "7000": "DMA", "7010": "ARCX"}


def _inject(stack: Stack, path: Path) -> Proc:
    return stack.spawn("inject", stack.tape_argv("inject", str(path), "--day", str(stack.day),
                                                 "--timeout", "10"))


def test_ten_sequencer_crashes_take_nothing_down_and_lose_or_double_nothing(
        stack: Stack, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    d = Day(stack, tmp_path)
    d.start(driver="auto")
    alpha = d.client("ALPHA", "4.4")
    others = [*d.apps.values(), d.sim, d.venue_gw, d.client_gw]
    sent: list[str] = []
    files: list[Path] = []
    for k in range(KILLS):
        for i in range(ORDERS_PER_ROUND):
            cl = f"R{k}-{i}"
            send(alpha, **_order(cl))
            sent.append(cl)
        path = tmp_path / f"inject-{k}.json"
        path.write_text(json.dumps([{"type": "OperatorNote", "author": "ops",
                                     "text": f"round {k} row {j}"}
                                    for j in range(ROWS_PER_FILE)]))
        files.append(path)
        inj = _inject(stack, path)
        time.sleep(rng.uniform(0.0, 0.4))
        d.sequencer.kill9()
        time.sleep(rng.uniform(0.0, 0.6))
        down = [p.describe() for p in others if not p.alive()]
        assert not down, f"round {k}: the sequencer's crash took processes down: {down}"
        d.start_sequencer("auto")
        if inj.wait(60) != 0:  # cut off by the kill: run it again, as ops would
            again = stack.tape("inject", str(path), "--day", str(stack.day), "--timeout", "30")
            assert again.returncode == 0, again.stderr
    # Every order acknowledged to the client, once each on the stream.
    acked = set()
    while len(acked) < len(sent):
        m = got_until(alpha, lambda m: m.get("35") == "8" and m.get("150") == "0", 60)
        acked.add(m["11"])
    assert acked == set(sent)
    orders = Counter(m.cl_ord_id for src, _s, m in stream(stack.day)
                     if isinstance(m, NewOrder) and src == sources.CLIENT_GATEWAY)
    assert orders == Counter(sent), orders
    for path in files:
        src = sources.inject_file(path.read_bytes())
        seqs = [f.source_seq for f in read_all(stack.day / "journal") if f.source_id == src]
        assert seqs == list(range(1, ROWS_PER_FILE + 1)), (path.name, len(seqs))
    assert all(p.alive() for p in others)
    # The day's end: the apps and gateways finish by themselves.
    r = stack.tape("sequencer", "stop", "--day", str(stack.day))
    assert r.returncode == 0, r.stderr
    for p in [*d.apps.values(), d.venue_gw, d.client_gw]:
        assert p.wait(60) == 0, p.describe()
    r = stack.tape("journal", "verify", str(stack.day))
    assert r.returncode == 0, r.stdout + r.stderr
    r = stack.tape("replay", str(stack.day), "--app", "oms", "--app", "algo", "--verify",
                   "--json", timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    rep = json.loads(r.stdout)
    assert all(a["mismatches"] == 0 and a["matched"] == a["outputs"] > 0 for a in rep["apps"]), rep
