"""A recorded day through the real stack: ref data build, sequencer in `sim` time, ticker
plant, the market monitor app; then the journal is checked and replayed bit for bit."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from marketdata.clock import local_midnight_ns
from marketdata.recorded import default_data_dir
from sequencer import sources
from sequencer.journal import read_all
from sequencer.messages import TYPE_ID, decode
from sequencer.messages.control import Alert, SystemStart
from sequencer.messages.marketdata import (
    REGULAR_WAY,
    MarketSnapshot,
    Quote,
    Subscribe,
    Trade,
    TradingStatus,
)
from tests.conftest import REPO, Stack, child_env
from tests.sequencer.runtime.conftest import wait_for

DATE = "2013-10-08"
PLANT_SOURCE = sources.TICKER_PLANT
IBM_README = (5_203_752, 179.8698)

pytestmark = pytest.mark.slow


def _replay(day: Path, *extra: str, env: dict[str, str] | None = None) -> Any:
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "deploy", "replay", str(day), "--app",
                        "market_monitor", "--json", *extra], cwd=REPO,
                       env=env or child_env(), capture_output=True, text=True, timeout=300,
                       check=False)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def recorded_ibm_day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """IBM's 2013-10-08 (159,131 rows) through the stack, once for the module's tests."""
    import uuid

    data = default_data_dir() / "us_equities_2013-10"
    if not (data / "tick" / "ibm").is_dir():
        pytest.fail(f"recorded data not found at {data} (set TAPE_DATA_DIR)")
    tmp = tmp_path_factory.mktemp("md")
    day = tmp / "day"
    s = Stack(tmp, day, f"/dev/shm/tape-test-md-{uuid.uuid4().hex[:8]}")
    try:
        r = s.tape("refdata", "build", "--date", DATE, "--out", str(day / "refdata"),
                   timeout=300)
        assert r.returncode == 0, r.stderr
        seq = s.start_sequencer("embedded", None, "--time-mode", "sim", "--session-date", DATE,
                                "--fsync", "none")
        mon = s.spawn("monitor", s.tape_argv("app", "run", "market_monitor", "--day", str(day)))
        wait_for(lambda: (day / "apps" / "market_monitor.status.json").exists() or
                 not mon.alive(), "the monitor to start")
        assert mon.alive(), mon.describe()
        r = s.tape("marketdata", "run", "--day", str(day), "--symbols", "IBM",
                   "--subscribe", "IBM", "--json", timeout=300)
        assert r.returncode == 0, r.stderr
        res = json.loads(r.stdout)
        assert res["rows"] == 159_131 and res["bad_rows"] == 0 and res["snapshots"] == 1
        last = s.status()["last_seq"]
        wait_for(lambda: json.loads((day / "apps" / "market_monitor.status.json").read_text())
                 .get("seq", 0) >= last, "the monitor to catch up")
        r = s.tape("sequencer", "stop", "--day", str(day), "--reason", "test over")
        assert r.returncode == 0, r.stderr
        mon.terminate()
        s.stop_sequencer(seq)
    finally:
        s.close()
        shutil.rmtree(s.aeron_dir, ignore_errors=True)
    return day


def test_the_stream_carries_a_snapshot_then_the_days_updates_on_the_markets_clock(
        recorded_ibm_day: Path) -> None:
    frames = read_all(recorded_ibm_day / "journal")
    msgs = [(f, decode(f.type_id, f.payload)) for f in frames]
    start = msgs[0][1]
    assert isinstance(start, SystemStart) and start.refdata_digest
    manifest = json.loads((recorded_ibm_day / "refdata" / "manifest.json").read_text())
    assert start.refdata_digest == manifest["digest"]
    sub = next(f for f, m in msgs if isinstance(m, Subscribe))
    plant = [(f, m) for f, m in msgs if f.source_id == PLANT_SOURCE]
    # The plant's first answer is the snapshot, caused by the subscription.
    assert plant[1][0].cause_seq == sub.seq or plant[0][0].cause_seq == sub.seq
    snap = next((f, m) for f, m in plant if isinstance(m, MarketSnapshot))
    assert snap[0].cause_seq == sub.seq and snap[1].reason == "subscribe"
    md = [(f, m) for f, m in plant if isinstance(m, Quote | Trade)]
    assert len(md) == 159_131
    # sim time: the stream's clock is the data's (never going back).
    assert all(f.ts_ns == max(f.event_ns, prev.ts_ns) for (prev, _), (f, _) in
               itertools.pairwise(md))
    midnight = local_midnight_ns(start.session_date, "America/New_York")
    assert (md[-1][0].ts_ns - midnight) // 3_600_000_000_000 in (19, 20)
    statuses = [m.status for _, m in plant if isinstance(m, TradingStatus)]
    assert statuses == ["trading", "closed"]
    # The session's volume and VWAP from the stream itself match the data's README.
    vol = notional = 0
    for f, m in md:
        local_ms = (f.event_ns - midnight) / 1e6
        if isinstance(m, Trade) and m.flags & REGULAR_WAY and 34_200_000 <= local_ms < 57_600_000:
            vol += m.size
            notional += m.size * m.price
    assert (vol, round(notional / vol / 10_000, 4)) == IBM_README


def test_the_monitor_saw_the_day_and_its_alerts_are_on_the_stream(
        recorded_ibm_day: Path) -> None:
    frames = read_all(recorded_ibm_day / "journal")
    alerts = [decode(f.type_id, f.payload) for f in frames
              if f.type_id == TYPE_ID[Alert] and f.source_id == sources.MARKET_MONITOR]
    assert all(isinstance(a, Alert) and a.code in ("stale_quote", "quote_resumed", "crossed")
               for a in alerts)
    st = json.loads((recorded_ibm_day / "apps" / "market_monitor.status.json").read_text())
    assert st["outputs"] == len(alerts)


def test_a_recorded_day_replays_bit_for_bit_under_any_hash_seed(recorded_ibm_day: Path) -> None:
    got = {}
    for seed in ("0", "4242"):
        env = child_env()
        env["PYTHONHASHSEED"] = seed
        rep = _replay(recorded_ibm_day, "--verify", env=env)
        assert rep["mismatches"] == 0, rep
        app = rep["apps"][0]
        got[seed] = (app["outputs_digest"], app["state_hash"], app["outputs"])
    assert got["0"] == got["4242"]


def test_a_stopped_plant_resumes_after_its_last_message(tmp_path: Path) -> None:
    import uuid

    day = tmp_path / "day"
    s = Stack(tmp_path, day, f"/dev/shm/tape-test-md-{uuid.uuid4().hex[:8]}")
    try:
        assert s.tape("refdata", "build", "--date", DATE, "--out", str(day / "refdata"),
                      timeout=300).returncode == 0
        seq = s.start_sequencer("embedded", None, "--time-mode", "sim", "--session-date", DATE,
                                "--fsync", "none")
        run = ("marketdata", "run", "--day", str(day), "--symbols", "IBM", "--json")
        # 16 hours of data at 4000 times real speed: stopped after 4 s, mid-morning.
        r = s.tape(*run, "--subscribe", "IBM", "--speed", "4000x", "--max-seconds", "4")
        assert r.returncode == 0, r.stderr
        first = json.loads(r.stdout)
        assert first["stopped_by"] == "time_limit" and 0 < first["published"] < 159_131
        again = s.tape(*run)
        assert again.returncode == 1 and "--resume" in again.stderr
        r = s.tape(*run, "--resume")
        assert r.returncode == 0, r.stderr
        s.tape("sequencer", "stop", "--day", str(day))
        s.stop_sequencer(seq)
    finally:
        s.close()
        shutil.rmtree(s.aeron_dir, ignore_errors=True)
    md = [f for f in read_all(day / "journal")
          if f.source_id == PLANT_SOURCE and f.type_id in (TYPE_ID[Quote], TYPE_ID[Trade])]
    events = [f.event_ns for f in md]
    assert events == sorted(events)  # nothing published twice, nothing out of order
    assert 159_131 - 10 <= len(md) <= 159_131  # at most the rows of one millisecond missed
    assert [f.source_seq for f in read_all(day / "journal") if f.source_id == PLANT_SOURCE] \
        == list(range(1, len([f for f in read_all(day / "journal")
                               if f.source_id == PLANT_SOURCE]) + 1))
