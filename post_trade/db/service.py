"""Questions to a running writer: how `tape db query` reads a DuckDB file in use.

DuckDB lets one process open a database file for writing, and then no other
process may open it at all. So while `tape db run` writes a day's DuckDB
file, it also answers queries on a Unix socket (`DAY/db/query.sock`, or one
under /tmp named after the day when that path is too long for a socket), in
its own loop between two batches: a query sees every committed frame and
never a half-written batch. A query holds the writer up while it runs, as a
reader of one file must.

The wire: one JSON line each way. Values that JSON has no type for travel
tagged (`{"$date": ...}`, `{"$dec": ...}`, `{"$ts": ...}`, `{"$bytes": ...}`)
and come back as the same Python values, so an answer through the writer is
the answer the file would give.
"""

# determinism: edge module, a socket server

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import hashlib
import json
import socket
from pathlib import Path
from typing import Any

from post_trade.db.stores import BadQuery, Store, StoreError

_MAX_PATH = 100


def socket_path(day: Path) -> Path:
    p = Path(day).resolve() / "db" / "query.sock"
    if len(str(p)) < _MAX_PATH:
        return p
    tag = hashlib.sha256(str(Path(day).resolve()).encode()).hexdigest()[:16]
    return Path("/tmp") / f"tape-db-{tag}.sock"


def _enc(v: Any) -> Any:
    if isinstance(v, decimal.Decimal):
        return {"$dec": str(v)}
    if isinstance(v, dt.datetime):
        return {"$ts": v.isoformat()}
    if isinstance(v, dt.date):
        return {"$date": v.isoformat()}
    if isinstance(v, bytes | memoryview | bytearray):
        return {"$bytes": bytes(v).hex()}
    if isinstance(v, dt.time | dt.timedelta):
        return str(v)
    return v


def _dec(v: Any) -> Any:
    if isinstance(v, dict) and len(v) == 1:
        (k, x), = v.items()
        if k == "$dec":
            return decimal.Decimal(x)
        if k == "$ts":
            return dt.datetime.fromisoformat(x)
        if k == "$date":
            return dt.date.fromisoformat(x)
        if k == "$bytes":
            return bytes.fromhex(x)
    return v


class QueryServer:
    """The writer's side: `serve()` answers whoever is waiting, then returns."""

    def __init__(self, day: Path, store: Store) -> None:
        self.store = store
        self.path = socket_path(day)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a crashed writer's (the database lock says we are alone)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(str(self.path))
        self._sock.listen(8)
        self._sock.setblocking(False)
        self.answered = 0

    def serve(self) -> None:
        while True:
            try:
                conn, _addr = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            with conn:
                conn.settimeout(5.0)
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        try:
            f = conn.makefile("rwb")
            line = f.readline()
            if not line.strip():
                return  # `running()` knocking, or an asker that went away
            req = json.loads(line)
            try:
                cols, rows = self.store.query(str(req.get("sql", "")))
                reply: dict[str, Any] = {"columns": cols,
                                         "rows": [[_enc(v) for v in r] for r in rows]}
            except BadQuery as e:
                reply = {"error": str(e), "bad_query": True}
            except StoreError as e:
                reply = {"error": str(e)}
            except Exception as e:
                reply = {"error": f"{type(e).__name__}: {e}"}
            f.write(json.dumps(reply).encode() + b"\n")
            f.flush()
            self.answered += 1
        except (OSError, ValueError):
            return  # the asker went away, or sent nonsense: nothing to answer

    def close(self) -> None:
        self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def running(day: Path) -> bool:
    """Is a writer answering queries for `day`?"""
    p = socket_path(day)
    if not p.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(str(p))
        except OSError:
            return False
    return True


def ask(day: Path, sql: str, timeout_s: float = 300.0) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run `sql` through the day's running writer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout_s)
        try:
            s.connect(str(socket_path(day)))
            f = s.makefile("rwb")
            f.write(json.dumps({"sql": sql}).encode() + b"\n")
            f.flush()
            reply = json.loads(f.readline() or b"{}")
        except (OSError, ValueError) as e:
            raise StoreError(f"the running writer of {day} did not answer: {e}") from None
    if "error" in reply:
        raise (BadQuery if reply.get("bad_query") else StoreError)(reply["error"])
    return list(reply["columns"]), [tuple(_dec(v) for v in r) for r in reply["rows"]]
