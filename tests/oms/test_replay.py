"""A recorded OMS session replays to identical bytes: in process, and through
`tape replay --verify` in fresh processes under different PYTHONHASHSEEDs."""

from __future__ import annotations

from pathlib import Path

import pytest

from oms.app import Oms
from refdata.build import build
from refdata.load import load
from sequencer.journal import JournalWriter
from sequencer.messages.admin import EngageKillSwitch, SetRiskLimit, TakeSnapshot
from sequencer.messages.executions import (
    ExecutionReport,
    VenueAck,
    VenueCanceled,
    VenueFill,
    VenueReplaced,
)
from sequencer.messages.orders import (
    CancelOrder,
    NewChild,
    NewOrder,
    ReplaceChild,
    ReplaceOrder,
)
from tests.conftest import child_env
from tests.oms.fixtures import DAY, HOUR, Session, of_type
from tests.sequencer.runtime.conftest import replay_json


def play_day(s: Session) -> None:
    """A short day: orders from two clients, children, fills (one repeated), a replace
    in place and one pending, a cancel, a limit change, a kill switch, the close."""
    px = {"IBM": 182_0000, "AIG": 48_1900, "SPY": 167_4300}
    n = 0
    for i, (client, sym) in enumerate([("ALPHA", "IBM"), ("BETA", "AIG"), ("ALPHA", "SPY"),
                                       ("ALPHA", "AIG"), ("BETA", "IBM")]):
        outs = s.client(NewOrder(client=client, cl_ord_id=f"N{i}", symbol=sym, side="buy",
                                 qty=1_000, ord_type="limit", limit_px=px[sym], algo="vwap"))
        oid = of_type(outs, ExecutionReport)[-1].order_id
        for j in range(2):
            n += 1
            cid = f"C{i}.{j}"
            s.algo(NewChild(parent_id=oid, child_id=cid, venue="XNYS", qty=400,
                            ord_type="limit", limit_px=px[sym] - 100 * j))
            s.venue(VenueAck(child_id=cid, venue_order_id=f"V{n}"))
            s.venue(VenueFill(child_id=cid, exec_id=f"E{n}", qty=100, px=px[sym] - 100 * j))
        s.venue(VenueFill(child_id=f"C{i}.0", exec_id=f"E{n}", qty=100, px=px[sym]))
    s.client(ReplaceOrder(client="ALPHA", cl_ord_id="R0", orig_cl_ord_id="N0", symbol="IBM",
                          side="buy", qty=2_000))
    s.client(ReplaceOrder(client="ALPHA", cl_ord_id="R2", orig_cl_ord_id="N2", symbol="SPY",
                          side="buy", qty=600))
    s.algo(ReplaceChild(parent_id="20131008-3", child_id="C2.1", qty=200))
    s.venue(VenueReplaced(child_id="C2.1", qty=200, limit_px=167_4200))
    s.ops(SetRiskLimit(scope="ALPHA", limit="max_order_qty", value="5000"))
    s.ops(TakeSnapshot())
    s.client(CancelOrder(client="ALPHA", cl_ord_id="K3", orig_cl_ord_id="N3", symbol="AIG",
                         side="buy"))
    s.venue(VenueCanceled(child_id="C3.0"))
    s.venue(VenueCanceled(child_id="C3.1"))
    s.ops(EngageKillSwitch(scope="client", value="BETA", reason="test"))
    for cid in ("C1.0", "C1.1", "C4.0", "C4.1"):
        s.venue(VenueCanceled(child_id=cid))
    s.advance(7 * HOUR)  # the close
    for cid in ("C0.0", "C0.1", "C2.0", "C2.1"):
        s.venue(VenueCanceled(child_id=cid))


def record_day(day: Path) -> Session:
    """`play_day` written as a day folder (ref data and journal); the session played."""
    build(DAY, day / "refdata", use_data=False)
    s = Session(refdata=load(day / "refdata"))
    play_day(s)
    w = JournalWriter(day / "journal")
    w.open()
    w.append(b"".join(s.frames), 1)
    w.close()
    return s


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Session]:
    day = tmp_path_factory.mktemp("oms-day")
    return day, record_day(day)


def test_the_day_exercised_what_it_claims(recorded: tuple[Path, Session]) -> None:
    _day, s = recorded
    types = [r.exec_type for r in of_type(s.outputs, ExecutionReport)]
    for kind in ("new", "trade", "replaced", "pending_replace", "canceled"):
        assert kind in types, kind
    assert s.app.state.live == {}
    assert s.engine.checker.mismatches == [] and s.engine.checker.pending == {}


def test_in_process_replay_gives_the_same_bytes_and_state(
        recorded: tuple[Path, Session]) -> None:
    _day, s = recorded
    eng = s.replay(Oms())  # the checker compares every output with the recorded one
    assert eng.checker.matched == eng.outputs == len(s.outputs)
    assert eng.state_hash() == s.engine.state_hash()


def test_tape_replay_verifies_under_any_hash_seed(recorded: tuple[Path, Session]) -> None:
    day, s = recorded
    seen = set()
    for seed in ("0", "4242"):
        env = child_env({"PYTHONHASHSEED": seed})
        rep = replay_json(day, "--app", "oms", "--verify", env=env)
        (app,) = rep["apps"]
        assert (app["mismatches"], app["matched"], app["outputs"]) == (
            0, len(s.outputs), len(s.outputs)), rep
        seen.add((app["outputs_digest"], app["state_hash"]))
    assert len(seen) == 1


def test_a_snapshot_taken_mid_day_restores_to_the_same_future(
        recorded: tuple[Path, Session]) -> None:
    """Restart from a snapshot: the restored OMS produces the rest of the day's outputs
    exactly as recorded, and ends in the same state."""
    _day, s = recorded
    half = len(s.frames) // 2
    first = s.replay(Oms(), until_seq=half)
    second = s.replay(Oms(), snapshot=first.snapshot(), after_seq=half)
    assert second.checker.mismatches == []
    assert second.checker.matched > 0
    assert second.state_hash() == s.engine.state_hash()


def test_tape_oms_orders_shows_the_book_at_any_point(recorded: tuple[Path, Session]) -> None:
    import json

    from typer.testing import CliRunner

    from deploy.cli import app

    day, s = recorded
    r = CliRunner().invoke(app, ["oms", "orders", str(day), "--json"])
    assert r.exit_code == 0, r.output
    book = json.loads(r.output)
    assert book["as_of_seq"] == len(s.frames)
    by_id = {o["order_id"]: o for o in book["orders"]}
    assert len(by_id) == 5 and all(o["leaves_qty"] == 0 for o in by_id.values())
    first = by_id["20131008-1"]
    assert (first["cl_ord_id"], first["qty"], first["cum_qty"], first["state"]) == (
        "R0", 2_000, 300, "canceled")
    # as of the first order's acknowledgement, only it exists and it is working
    first_er = next(i for i, f in enumerate(s.frames, 1) if f[36:38] == (500).to_bytes(2,
                                                                                   "little"))
    r = CliRunner().invoke(app, ["oms", "orders", str(day), "--until", str(first_er),
                                 "--json", "--live"])
    early = json.loads(r.output)["orders"]
    assert [(o["order_id"], o["state"], o["leaves_qty"]) for o in early] == [
        ("20131008-1", "working", 1_000)]
    r = CliRunner().invoke(app, ["oms", "orders", str(day / "nope")])
    assert r.exit_code == 2
