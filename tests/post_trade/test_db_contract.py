"""One contract, two databases: every test here runs against DuckDB and against a real
PostgreSQL server (the `backend` fixture), as the eventsourcing library runs one suite
against each of its stores.

- every message type `tape messages` lists reaches its table, every field intact;
- a load is exactly once: in any number of pieces, from any position, the same rows;
- DuckDB and PostgreSQL hold the same rows for the same journal (digests agree);
- a database of another schema is refused, and so is a second writer of a day;
- the canned views and the decimal views answer.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any, Literal

import msgspec
import pytest

from post_trade.db import schema
from post_trade.db.batch import Batch, UnknownFrame
from post_trade.db.load import digest, load_day
from post_trade.db.stores import SchemaMismatch, WriterBusy, open_store
from sequencer import sources
from sequencer.frames import encode_frame
from sequencer.journal import JournalReader, JournalWriter
from sequencer.messages import ALL_TYPES, TYPE_ID, Message, encode
from sequencer.messages.control import SystemStart, SystemStop
from tests.post_trade.conftest import StoreFactory

DATE = dt.date(2013, 10, 8)
T0 = 1_381_239_000_000_000_000  # 13:30 UTC


def sample_value(name: str, tp: Any, k: int) -> Any:
    """A value of the field's type, different per field (`k`) so a column mix-up shows."""
    origin = typing.get_origin(tp)
    if tp is bool:
        return k % 2 == 1
    if tp is int:
        return 1_000 + 37 * k
    if tp is str:
        return f"{name}-{k} 'quoted', \"double\"\ttab"
    if origin is Literal:
        args = typing.get_args(tp)
        return args[k % len(args)]
    if tp is dt.date:
        return DATE
    if tp is bytes:
        return bytes([k, 0, 255, 10])
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return (sample_value(name, args[0], k),)
        return tuple(sample_value(name, a, k + i) for i, a in enumerate(args))
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return sample(tp, k)
    raise TypeError(f"no sample for {name}: {tp!r}")


def sample(t: type[Any], k: int = 0) -> Any:
    hints = typing.get_type_hints(t)
    return t(**{f.name: sample_value(f.name, hints[f.name], k + i)
                for i, f in enumerate(msgspec.structs.fields(t))})


def write_day(day: Path, msgs: list[Message], *, start: bool = True, stop: bool = True,
              seed: int = 1) -> int:
    """A day folder whose journal holds `msgs` (after a SystemStart, before a SystemStop);
    the last seq."""
    w = JournalWriter(day / "journal")
    w.open()
    seq = w.state.last_seq
    ts0 = max(T0, w.state.last_ts)  # stream time never goes back
    out = bytearray()
    first = seq + 1
    body: list[Message] = []
    if start:
        body.append(SystemStart(session_date=DATE, seed=seed, config_digest="test"))
    body += msgs
    if stop:
        body.append(SystemStop(reason="test"))
    for m in body:
        seq += 1
        src = _source(m)
        out += encode_frame(seq, ts0 + seq * 1_000_000, src, TYPE_ID[type(m)], seq, encode(m),
                            recv_ns=T0 + seq * 1_000_500, cause_seq=seq - 1,
                            sent_ns=T0 + seq, event_ns=seq, proc_ns=seq % 7)
    w.append(bytes(out), first)
    w.close()
    return seq


def _source(m: Message) -> int:
    """Where the message would come from (a test source for the benches' Probe)."""
    if isinstance(m, SystemStart | SystemStop):
        return sources.SEQUENCER
    try:
        return sources.publisher(type(m))
    except KeyError:
        return sources.adhoc(0)


def every_type() -> list[Message]:
    return [sample(t, i) for i, t in enumerate(ALL_TYPES)
            if t not in (SystemStart, SystemStop)]


def test_the_tables_are_the_types_tape_messages_lists() -> None:
    """A type added to the stream without a table fails here."""
    r = subprocess.run([sys.executable, "-m", "deploy", "messages", "--json"],
                       capture_output=True, text=True, timeout=60, check=True)
    listed = {e["name"] for e in json.loads(r.stdout)}
    assert listed == {t.__name__ for t in ALL_TYPES}
    assert {schema.snake(n) for n in listed} == {t.name for t in schema.MESSAGE_TABLES}


def test_every_message_type_reaches_its_table_with_every_field(
        store_factory: StoreFactory, tmp_path: Path) -> None:
    day = tmp_path / "day"
    msgs = every_type()
    write_day(day, msgs)
    store, _url = store_factory(day)
    res = load_day(day, store)
    assert res.frames == len(msgs) + 2
    with JournalReader(day / "journal") as r:
        frames = {f.seq: f for f in r.read(1000)}
    for f in frames.values():
        t = schema.BY_TYPE_ID[f.type_id]
        cols = [c.q for c in t.columns]
        names, rows = store.query(f"SELECT {', '.join(cols)} FROM {t.name} WHERE seq = {f.seq}")
        assert len(rows) == 1, (t.name, rows)
        got = dict(zip(names, rows[0], strict=True))
        assert (got["day"], got["seq"], got["ts_ns"], got["source_id"], got["source_seq"],
                got["cause_seq"]) == (DATE, f.seq, f.ts_ns, f.source_id, f.source_seq,
                                      f.cause_seq), t.name
        assert int(got["ts"].timestamp() * 1_000_000) == f.ts_ns // 1000, t.name
        from sequencer.messages import decode

        msg = decode(f.type_id, f.payload)
        for c, value in zip(t.fields, msgspec.structs.astuple(msg), strict=True):
            want = schema.to_json(value) if c.kind == "json" else value
            have = got[c.name]
            if c.kind == "bytes":
                have = bytes(have)
            assert have == want, f"{t.name}.{c.name}: {have!r} != {want!r}"
    # ... and every frame is in `frames`, header and all.
    names, rows = store.query("SELECT seq, ts_ns, recv_ns, source_id, source_seq, type_id, "
                              "cause_seq, sent_ns, event_ns, proc_ns, length FROM frames "
                              "ORDER BY seq")
    assert rows == [(f.seq, f.ts_ns, f.recv_ns, f.source_id, f.source_seq, f.type_id,
                     f.cause_seq, f.sent_ns, f.event_ns, f.proc_ns, len(f.payload))
                    for f in frames.values()]


def test_a_load_in_pieces_is_the_load_in_one(store_factory: StoreFactory,
                                             tmp_path: Path) -> None:
    one, pieces = tmp_path / "one", tmp_path / "pieces"
    msgs = every_type() * 7
    for d in (one, pieces):
        write_day(d, msgs, stop=False)
    a, _ = store_factory(one)
    load_day(one, a)
    b, _ = store_factory(pieces)
    load_day(pieces, b, batch_frames=13)  # many transactions
    load_day(pieces, b)  # again: nothing new, nothing doubled
    assert digest(a, DATE) == digest(b, DATE)
    # The journal grows; a later load takes what is new, once.
    more = every_type()
    for d in (one, pieces):
        write_day(d, more, start=False)
    load_day(one, a)
    load_day(pieces, b, batch_frames=5)
    assert digest(a, DATE) == digest(b, DATE)
    assert b.query("SELECT frames, stopped FROM tape_writer")[1] == [
        (len(msgs) + len(more) + 2, True)]


def test_duckdb_and_postgresql_hold_the_same_rows(pg: Any, tmp_path: Path) -> None:
    day = tmp_path / "day"
    write_day(day, every_type() * 3)
    duck = open_store(day, None)
    post = open_store(day, pg.fresh_db("same_rows"))
    try:
        load_day(day, duck)
        load_day(day, post)
        assert digest(duck, DATE) == digest(post, DATE)
    finally:
        duck.close()
        post.close()


def test_another_journal_of_the_same_date_is_refused(store_factory: StoreFactory,
                                                    tmp_path: Path) -> None:
    from post_trade.db.stores import JournalMismatch

    day, rerun = tmp_path / "day", tmp_path / "rerun"
    write_day(day, every_type())
    write_day(rerun, every_type()[:3], seed=2)  # the same date, another journal
    store, _ = store_factory(day)
    load_day(day, store)
    load_day(day, store)  # the same journal again: fine, nothing to do
    with pytest.raises(JournalMismatch, match="holds 2013-10-08 from another journal"):
        load_day(rerun, store)


def test_a_database_of_another_schema_is_refused(store_factory: StoreFactory,
                                                 tmp_path: Path) -> None:
    day = tmp_path / "day"
    write_day(day, every_type())
    store, url = store_factory(day)
    store.query("UPDATE tape_schema SET fingerprint = 'feedfacefeedface', version = 0")
    store.close()
    with pytest.raises(SchemaMismatch) as e:
        open_store(day, url)
    assert "schema version 0 (fingerprint feedfacefeedface" in str(e.value)
    assert schema.fingerprint() in str(e.value)


def test_a_second_writer_of_the_day_is_refused(store_factory: StoreFactory, backend: str,
                                               tmp_path: Path) -> None:
    day = tmp_path / "day"
    write_day(day, every_type())
    first, url = store_factory(day)
    first.claim(DATE)
    if backend == "postgres":
        second = open_store(day, url)
        with pytest.raises(WriterBusy, match="another writer is writing 2013-10-08"):
            second.claim(DATE)
        second.claim(dt.date(2013, 10, 9))  # another day in the same database is fine
        second.close()
        return
    # DuckDB: the file is the lock; another process cannot open it.
    r = subprocess.run([sys.executable, "-c",
                        "import sys; from pathlib import Path; "
                        "from post_trade.db.stores import open_store, WriterBusy\n"
                        "try:\n    open_store(Path(sys.argv[1]), None)\n"
                        "except WriterBusy as e:\n    print(e); sys.exit(3)\n",
                        str(day)], capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "is open in another process" in r.stdout


def test_the_decimal_views_show_prices_exactly(store_factory: StoreFactory,
                                               tmp_path: Path) -> None:
    from decimal import Decimal

    from sequencer.messages.executions import ExecutionReport

    day = tmp_path / "day"
    er = sample(ExecutionReport, 3)
    er = msgspec.structs.replace(er, last_px=1_815_001, avg_px=18_150_012_345, limit_px=1)
    write_day(day, [er])
    store, _ = store_factory(day)
    load_day(day, store)
    _n, rows = store.query("SELECT last_px, avg_px, limit_px FROM v_execution_report")
    assert rows == [(Decimal("181.5001"), Decimal("181.50012345"), Decimal("0.0001"))]


def test_the_canned_views_answer(store_factory: StoreFactory, tmp_path: Path) -> None:
    from post_trade.db.views import CANNED

    day = tmp_path / "day"
    write_day(day, every_type())
    store, _ = store_factory(day)
    load_day(day, store)
    for v in CANNED:
        names, _rows = store.query(f"SELECT * FROM {v.name}")
        assert "day" in names, v.name


def test_a_bad_query_says_what_is_wrong(store_factory: StoreFactory, tmp_path: Path) -> None:
    from post_trade.db.stores import BadQuery

    day = tmp_path / "day"
    write_day(day, [])
    store, _ = store_factory(day)
    with pytest.raises(BadQuery, match="no_such_table"):
        store.query("SELECT * FROM no_such_table")
    assert store.query("SELECT count(*) FROM frames")[1] == [(0,)]  # still usable


def test_the_batch_refuses_a_type_it_has_no_table_for() -> None:
    raw = encode_frame(1, T0, sources.SEQUENCER, 4242, 1, b"\x91\x00")
    b = Batch()
    b.add(raw)
    with pytest.raises(UnknownFrame, match="message type 4242"):
        b.tables(DATE)
