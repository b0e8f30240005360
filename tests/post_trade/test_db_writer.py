"""The writer as a process, against real databases and a real sequencer:

- `kill -9` ten times at random moments, on both back ends: the tables end up equal to
  a one-shot load of the same journal, no row missing or doubled;
- live: the writer follows a running day; PostgreSQL stopped and started again under it
  loses nothing, with one Alert each way on the stream; a wrong password is said and
  retried;
- a second writer of the day and database is refused; `tape db query` reads a DuckDB
  file the writer holds, through the writer;
- lag past the bound puts a warning Alert on the stream, and its recovery an info one.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import pytest

from post_trade.db.load import digest, load_day
from post_trade.db.pgcluster import Cluster
from post_trade.db.stores import open_store
from post_trade.db.writer import status_path
from sequencer import sources
from sequencer.journal import JournalReader
from sequencer.messages import decode
from sequencer.messages.control import Alert
from tests.conftest import Stack, frozen
from tests.post_trade.test_db_contract import write_day

pytestmark = pytest.mark.slow


def _status(day: Path, url: str | None) -> dict[str, Any]:
    try:
        st: dict[str, Any] = json.loads(status_path(day, url).read_text())
        return st
    except (OSError, ValueError):
        return {}


def _wait(pred: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.002)


def _alerts(day: Path) -> list[tuple[str, str]]:
    out = []
    with JournalReader(day / "journal") as r:
        while fs := r.read(65536):
            for f in fs:
                if f.source_id == sources.DB_WRITER:
                    m = decode(f.type_id, f.payload)
                    assert isinstance(m, Alert)
                    out.append((m.severity, m.code))
    return out


def same_as_one_shot_load(day: Path, url: str | None, fresh: Path,
                          oneshot_url: str | None) -> list[tuple[Any, ...]]:
    """Assert that the writer's database holds what a one-shot load of a copy of the
    journal into a new database holds, table by table; the writer's position row."""
    import shutil

    shutil.copytree(day / "journal", fresh / "journal")
    written = open_store(day, url)
    oneshot = open_store(fresh, oneshot_url)
    try:
        res = load_day(fresh, oneshot)
        assert digest(written, res.day) == digest(oneshot, res.day)
        return written.query("SELECT last_seq, frames, stopped FROM tape_writer")[1]
    finally:
        written.close()
        oneshot.close()


@pytest.fixture(scope="module")
def big_day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished day of orders, children and fills (the OMS bench's generator)."""
    from deploy.bench.oms_day import generate

    day = tmp_path_factory.mktemp("db") / "day"
    generate(day, 50_000, seed=3)
    return day


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_ten_kill9s_anywhere_leave_the_tables_of_a_one_shot_load(
        backend: str, big_day: Path, stack: Stack, tmp_path: Path,
        request: pytest.FixtureRequest) -> None:
    import shutil

    day = tmp_path / "day"
    shutil.copytree(big_day / "journal", day / "journal")
    write_day(day, [], start=False)  # the generated day ends with its SystemStop
    url = None
    oneshot_url = None
    if backend == "postgres":
        pg: Cluster = request.getfixturevalue("pg")
        url, oneshot_url = pg.fresh_db("kill9"), pg.fresh_db("kill9_oneshot")
    rng = random.Random(20131008)
    args = ["db", "run", "--day", str(day), "--batch-frames", "1000"]
    if url:
        args += ["--url", url]
    total = len(JournalReader(day / "journal").read_raw(1 << 20))
    progress = []
    # Ten kills at random places, one in each tenth of the day: each run is killed once it
    # has committed something and written past its target (the status file follows the
    # commits), wherever it is then.
    tenth = (total - 5000) // 10
    for k in range(10):
        target = k * tenth + rng.randrange(1, tenth // 2)
        p = stack.spawn("writer", stack.tape_argv(*args))
        _wait(lambda p=p, target=target: (
            (st := _status(day, url)).get("pid") == p.pid and st.get("commits", 0) > 0
            and st.get("last_seq", 0) >= target) or not p.alive(),
            f"the writer to pass seq {target}")
        time.sleep(rng.uniform(0.0, 0.01))
        assert p.alive(), p.describe()
        p.kill9()
        progress.append(_status(day, url).get("last_seq", 0))
    p = stack.spawn("writer", stack.tape_argv(*args))
    assert p.wait(120) == 0, p.describe()
    assert "SystemStop" in p.stderr_text()
    again = stack.spawn("writer", stack.tape_argv(*args))
    assert again.wait(60) == 0, again.describe()
    assert "nothing to do" in again.stderr_text()
    # It was killed part way each time, and got further every time.
    end = _status(day, url)["last_seq"]
    assert all(0 < s < end for s in progress), progress
    assert progress == sorted(progress) and len(set(progress)) == 10, progress
    rows = same_as_one_shot_load(day, url, tmp_path / "fresh", oneshot_url)
    assert rows == [(end, end, True)]


def _publisher(stack: Stack, count: int, rate: float, source_k: int) -> Any:
    p = stack.worker("publish", "--count", count, "--rate", rate,
                     "--source", sources.adhoc(source_k))
    p.expect("ready")
    return p


def test_live_postgres_stopped_and_started_under_the_writer_loses_nothing(
        stack: Stack, pg: Cluster, tmp_path: Path) -> None:
    stack.start_sequencer()
    url = pg.fresh_db("live")
    w = stack.spawn("writer", stack.tape_argv("db", "run", "--day", str(stack.day),
                                              "--url", url))
    day = stack.day
    _wait(lambda: _status(day, url).get("commits", 0) > 0, "the writer's first commit")
    pub = _publisher(stack, 3000, 2000.0, 1)
    pub.expect("done")
    _wait(lambda: _status(day, url).get("lag_frames", 1) == 0
          and _status(day, url).get("last_seq", 0) >= 3000, "the writer to catch up")
    pg.stop()
    try:
        pub = _publisher(stack, 3000, 2000.0, 2)
        pub.expect("done")
        _wait(lambda: _status(day, url).get("state") == "database unavailable",
              "the writer to notice", 30)
        time.sleep(1.0)  # a few retries
        assert w.alive(), w.describe()
        assert "database unavailable" in w.stderr_text()
    finally:
        pg.start()
    _wait(lambda: _status(day, url).get("state") == "running"
          and _status(day, url).get("last_seq", 0) >= 6000, "the writer to resume", 60)
    assert "database back" in w.stderr_text()
    r = stack.tape("sequencer", "stop", "--day", str(day))
    assert r.returncode == 0, r.stderr
    assert w.wait(60) == 0, w.describe()
    # Nothing lost, nothing doubled: the database holds the journal, as a one-shot load has it.
    same_as_one_shot_load(day, url, tmp_path / "fresh", None)
    alerts = _alerts(day)
    assert [a for a in alerts if a[1] in ("db_down", "db_up")] == [
        ("error", "db_down"), ("info", "db_up")], alerts


def test_a_wrong_password_is_said_and_retried(stack: Stack, pg: Cluster) -> None:
    import psycopg

    with psycopg.connect(pg.url(), autocommit=True) as c:
        c.execute("DROP ROLE IF EXISTS guarded")
        c.execute("CREATE ROLE guarded LOGIN PASSWORD 'right'")
    stack.start_sequencer()
    url = pg.url(user="guarded", password="wrong")
    w = stack.spawn("writer", stack.tape_argv("db", "run", "--day", str(stack.day),
                                              "--url", url))
    _wait(lambda: "database unavailable" in w.stderr_text(), "the writer to say why", 30)
    time.sleep(1.0)
    assert w.alive(), w.describe()
    text = w.stderr_text()
    assert "password authentication failed" in text, text
    assert "wrong" not in text.replace("wrong password", ""), "the password was printed"
    assert text.count("database unavailable") == 1, text  # said once, retried quietly
    assert _status(stack.day, url)["state"] == "database unavailable"


def test_a_second_writer_is_refused_and_queries_go_through_the_first(stack: Stack) -> None:
    stack.start_sequencer()
    day = stack.day
    w = stack.spawn("writer", stack.tape_argv("db", "run", "--day", str(day)))
    _wait(lambda: _status(day, None).get("commits", 0) > 0, "the writer's first commit")
    pub = _publisher(stack, 500, 0.0, 1)
    pub.expect("done")
    _wait(lambda: _status(day, None).get("last_seq", 0) >= 500, "the writer to catch up")
    second = stack.tape("db", "run", "--day", str(day))
    assert second.returncode == 1, second.stdout + second.stderr
    assert "is open in another process" in second.stderr
    q = stack.tape("db", "query", str(day), "SELECT count(*) AS n FROM probe", "--json")
    assert q.returncode == 0, q.stderr
    assert json.loads(q.stdout)["rows"] == [[500]]
    bad = stack.tape("db", "query", str(day), "SELECT nothing FROM nowhere")
    assert bad.returncode == 2 and "nowhere" in bad.stderr, bad.stderr
    assert w.alive()
    r = stack.tape("sequencer", "stop", "--day", str(day))
    assert r.returncode == 0, r.stderr
    assert w.wait(60) == 0, w.describe()


def test_lag_past_the_bound_is_alerted_and_so_is_its_recovery(stack: Stack) -> None:
    stack.start_sequencer()
    day = stack.day
    w = stack.spawn("writer", stack.tape_argv("db", "run", "--day", str(day),
                                              "--lag-frames", "200"))
    _wait(lambda: _status(day, None).get("commits", 0) > 0, "the writer's first commit")
    with frozen(w):
        pub = _publisher(stack, 2000, 0.0, 1)
        pub.expect("done")
        time.sleep(1.0)  # past the writer's next look at the sequencer
    _wait(lambda: _status(day, None).get("last_seq", 0) >= 2000
          and not _status(day, None).get("lagging", True), "the writer to catch up")
    time.sleep(0.5)
    r = stack.tape("sequencer", "stop", "--day", str(day))
    assert r.returncode == 0, r.stderr
    assert w.wait(60) == 0, w.describe()
    codes = [c for _s, c in _alerts(day)]
    assert codes == ["db_lag", "db_lag_recovered"], codes
