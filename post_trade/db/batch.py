"""Frames into columns: what the writer hands a database in one transaction.

A `Batch` collects consecutive frames as the journal holds them (`add`), and
turns them into one Arrow table per database table (`tables`): the frame
headers, read all at once as a NumPy record array, become the `frames` table
and the head of every message table; each payload, decoded with the stream's
own codec (so a journal written before a field was appended reads with the
field's default), becomes a row of its message's table. Columns, not rows,
because both databases take them in bulk: DuckDB reads Arrow directly and
PostgreSQL's COPY takes the CSV Arrow writes (`stores`).
"""

from __future__ import annotations

import datetime as dt
import struct
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa

from post_trade.db import schema
from sequencer.frames import HEADER_SIZE
from sequencer.messages import BY_ID, TYPE_ID
from sequencer.messages.control import SystemStop

#: The frame header (`sequencer.frames`) as a NumPy record.
HEADER_DTYPE = np.dtype([
    ("magic", "<u4"), ("crc", "<u4"), ("seq", "<u8"), ("ts_ns", "<i8"), ("recv_ns", "<i8"),
    ("source_id", "<u4"), ("type_id", "<u2"), ("flags", "<u2"), ("source_seq", "<u8"),
    ("cause_seq", "<u8"), ("sent_ns", "<i8"), ("event_ns", "<i8"), ("length", "<u4"),
    ("proc_ns", "<u4"),
])
assert HEADER_DTYPE.itemsize == HEADER_SIZE

_SEQ_TS = struct.Struct("<8xQq").unpack_from
_TYPE = struct.Struct("<36xH").unpack_from
_STOP = TYPE_ID[SystemStop]
# A list of one type's payloads decodes in one call: the payloads joined behind a
# msgpack array header.
_DECODERS: dict[int, Any] = {i: msgspec.msgpack.Decoder(list[t]) for i, t in BY_ID.items()}  # type: ignore[valid-type]  # t is a message type
_ARROW: dict[str, pa.DataType] = {"int": pa.int64(), "str": pa.string(), "bool": pa.bool_(),
                                  "date": pa.date32(), "bytes": pa.binary(),
                                  "json": pa.string()}
_EPOCH = dt.date(1970, 1, 1)


class UnknownFrame(ValueError):
    """A frame whose type this build has no table for (a newer writer's journal)."""


@dataclass
class Batch:
    """Consecutive frames, from `first_seq` to `last_seq`."""

    raws: list[bytes] = field(default_factory=list)
    first_seq: int = 0
    last_seq: int = 0
    first_ts_ns: int = 0
    last_ts_ns: int = 0
    stopped: bool = False  # holds the day's SystemStop

    def __len__(self) -> int:
        return len(self.raws)

    @property
    def row_count(self) -> int:
        """Rows this batch writes: a `frames` row and a message row per frame."""
        return 2 * len(self.raws)

    def add(self, raw: bytes) -> None:
        self.extend([raw])

    def extend(self, raws: list[bytes]) -> None:
        """Frames that follow the batch's last. Only the last of them is looked at for the
        day's SystemStop: nothing follows it on a stream (the sequencer takes no input
        after it)."""
        if not raws:
            return
        if not self.raws:
            self.first_seq, self.first_ts_ns = _SEQ_TS(raws[0])
        self.raws.extend(raws)
        last = raws[-1]
        self.last_seq, self.last_ts_ns = _SEQ_TS(last)
        if _TYPE(last)[0] == _STOP:
            self.stopped = True

    def tables(self, day: dt.date) -> list[tuple[schema.Table, pa.Table]]:
        """One Arrow table per database table the batch writes to, `frames` first."""
        raws = self.raws
        n = len(raws)
        heads = np.frombuffer(b"".join([r[:HEADER_SIZE] for r in raws]), HEADER_DTYPE)
        days = pa.array(np.full(n, (day - _EPOCH).days, np.int32)).view(pa.date32())
        out = [(schema.FRAMES, _frames_table(heads, days))]
        type_ids = heads["type_id"]
        for type_id in np.unique(type_ids).tolist():
            t = schema.BY_TYPE_ID.get(type_id)
            dec = _DECODERS.get(type_id)
            if t is None or dec is None:
                raise UnknownFrame(f"a frame of message type {type_id} has no table in this "
                                   "build (a journal of a newer build?)")
            at = np.flatnonzero(type_ids == type_id)
            payloads = [raws[i][HEADER_SIZE:] for i in at.tolist()]
            values = list(map(msgspec.structs.astuple, dec.decode(
                b"\xdd" + len(payloads).to_bytes(4, "big") + b"".join(payloads))))
            out.append((t, _message_table(t, heads[at], days[: len(at)], values)))
        return out


def _int64(a: np.ndarray) -> pa.Array:
    return pa.array(a.astype(np.int64, copy=False))


def _frames_table(heads: np.ndarray, days: pa.Array) -> pa.Table:
    cols: list[pa.Array] = [days, _int64(heads["seq"]), _int64(heads["ts_ns"])]
    for name in schema.FRAME_ROW[2:]:
        cols.append(_int64(heads[name]))
    return pa.Table.from_arrays(cols, names=[c.name for c in schema.FRAMES.stored])


def _message_table(t: schema.Table, heads: np.ndarray, days: pa.Array,
                   values: list[tuple[Any, ...]]) -> pa.Table:
    cols: list[pa.Array] = [days, _int64(heads["seq"]), _int64(heads["ts_ns"]),
                            _int64(heads["source_id"]), _int64(heads["source_seq"]),
                            _int64(heads["cause_seq"])]
    fields = t.fields
    if fields:
        for c, col in zip(fields, zip(*values, strict=True), strict=True):
            data = tuple(schema.to_json(v) if v else "[]" for v in col) if c.kind == "json" \
                else col
            cols.append(pa.array(data, _ARROW[c.kind]))
    return pa.Table.from_arrays(cols, names=[c.name for c in t.stored])
