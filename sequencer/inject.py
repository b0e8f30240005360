"""`tape inject`: typed messages from a JSON or CSV file into the stream.

Every row is validated (pydantic, against the message type it names) before
anything is sent; a bad row names the file, the line and the field, and then
nothing from that file is sent. Accepted files:

- JSON: an array of objects, or one object per line (JSON Lines);
- CSV: a header row with a `type` column and one column per field; an empty
  cell takes the field's default.

Each row names its message type in `type` (for example `"OperatorNote"`);
the other keys are the message's fields. The sequencer's own types
(`SystemStart`, `ClockTick`) cannot be injected.
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import msgspec
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from sequencer import sources
from sequencer.journal import JournalReader, JournalState
from sequencer.messages import BY_NAME, Message
from sequencer.messages.control import ClockTick, SystemStart

NOT_INJECTABLE = frozenset({SystemStart.__name__, ClockTick.__name__})
DEFAULT_SOURCE_ID = sources.INJECT
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class InjectError(ValueError):
    """The file cannot be injected; `problems` lists every bad row."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        head = f"{path}: {len(problems)} problem(s); nothing was sent"
        super().__init__("\n".join([head, *problems]))


@cache
def row_model(t: type[Message]) -> type[BaseModel]:
    """A pydantic model mirroring message type `t` (validation at the edge)."""
    fields: dict[str, Any] = {}
    for f in msgspec.structs.fields(t):
        # An int outside int64 would pass pydantic and then fail to encode mid-send.
        typ = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)] if f.type is int else f.type
        if f.default is not msgspec.NODEFAULT:
            fields[f.name] = (typ, f.default)
        elif f.default_factory is not msgspec.NODEFAULT:
            fields[f.name] = (typ, f.default_factory())
        else:
            fields[f.name] = (typ, ...)
    model: type[BaseModel] = create_model(
        f"{t.__name__}Row", __config__=ConfigDict(extra="forbid"), **fields
    )
    return model


@dataclass
class Row:
    line: int
    data: dict[str, Any]


def _rows_json(text: str) -> list[Row]:
    stripped = text.lstrip()
    rows: list[Row] = []
    dec = json.JSONDecoder()
    if stripped.startswith("["):
        pos = text.index("[") + 1
        while True:
            while pos < len(text) and text[pos] in " \t\r\n,":
                pos += 1
            if pos >= len(text):
                raise ValueError("unterminated JSON array")
            if text[pos] == "]":
                break
            line = text.count("\n", 0, pos) + 1
            try:
                obj, pos = dec.raw_decode(text, pos)
            except json.JSONDecodeError as e:
                raise ValueError(f"line {e.lineno}: not valid JSON: {e.msg}") from None
            rows.append(Row(line, obj))
        return rows
    for i, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            rows.append(Row(i, json.loads(raw)))
        except json.JSONDecodeError as e:
            raise ValueError(f"line {i}: not valid JSON: {e.msg}") from None
    return rows


def _rows_csv(text: str) -> list[Row]:
    reader = csv.DictReader(io.StringIO(text))
    rows: list[Row] = []
    for rec in reader:
        data = {k: v for k, v in rec.items() if k is not None and v not in (None, "")}
        rows.append(Row(reader.line_num, data))
    return rows


def parse_file(path: Path) -> list[Message]:
    """Read and validate every row; raise `InjectError` listing all problems."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise InjectError(path, [f"{path}: cannot read: {e}"]) from None
    try:
        rows = _rows_csv(text) if path.suffix.lower() == ".csv" else _rows_json(text)
    except (ValueError, csv.Error) as e:
        raise InjectError(path, [f"{path}: {e}"]) from None
    problems: list[str] = []
    out: list[Message] = []
    for row in rows:
        where = f"{path}:{row.line}"
        if not isinstance(row.data, dict):
            problems.append(f"{where}: expected an object with a 'type' key")
            continue
        data = dict(row.data)
        name = data.pop("type", None)
        if not isinstance(name, str) or name not in BY_NAME:
            known = ", ".join(sorted(n for n in BY_NAME if n not in NOT_INJECTABLE))
            problems.append(
                f"{where}: field 'type': unknown message type {name!r} (one of {known})"
            )
            continue
        if name in NOT_INJECTABLE:
            problems.append(f"{where}: field 'type': {name} is sequenced only by the sequencer")
            continue
        t = BY_NAME[name]
        try:
            model = row_model(t).model_validate(data)
        except ValidationError as e:
            for err in e.errors():
                fld = ".".join(str(p) for p in err["loc"]) or "(row)"
                got = err.get("input")
                problems.append(f"{where}: field '{fld}': {err['msg']} (got {got!r})")
            continue
        out.append(t(**model.model_dump()))
    if not rows:
        problems.append(f"{path}: no rows")
    if problems:
        raise InjectError(path, problems)
    return out


def last_source_seqs(journal: Path, hint: JournalState | None = None) -> tuple[int, dict[int, int]]:
    """(last seq, each source's last number) of a journal, scanning from a hint."""
    by_source = dict(hint.sources) if hint else {}
    start = (hint.last_seq + 1) if hint else 1
    last = start - 1
    if not journal.exists():
        return last, by_source
    with JournalReader(journal, start) as r:
        for f in r:
            by_source[f.source_id] = f.source_seq
            last = f.seq
    return last, by_source


def stream_position(day: Path) -> tuple[int, dict[int, int]]:
    """(last seq, each source's last number) of a day's stream, now.

    The sequencer's status file is a hint (it is rewritten every half second);
    the journal from there on is the truth.
    """
    from sequencer.service import STATUS_FILE

    hint = None
    status = Path(day) / STATUS_FILE
    if status.exists():
        st = json.loads(status.read_text())
        hint = JournalState(last_seq=int(st["last_seq"]), last_ts=int(st["last_ts"]),
                            sources={int(k): int(v) for k, v in st["sources"].items()})
    return last_source_seqs(Path(day) / "journal", hint)


@dataclass
class InjectResult:
    sent: int
    first_seq: int
    last_seq: int
    source_id: int


def inject(
    day: Path, messages: list[Message], source_id: int = DEFAULT_SOURCE_ID, timeout_s: float = 10.0
) -> InjectResult:
    """Send `messages` as `source_id` and wait until each is sequenced (or refused)."""
    from sequencer.config import TransportConfig
    from sequencer.transport import StreamPublisher, StreamStopped, StreamSubscriber, connect

    day = Path(day)
    cfg = TransportConfig.for_day(day)
    last_seq, by_source = stream_position(day)
    aeron = connect(cfg)
    try:
        sub = StreamSubscriber(aeron, cfg, day / "journal", last_seq + 1)
        pub = StreamPublisher(aeron, cfg, source_id, by_source.get(source_id, 0) + 1)
        first_sseq = pub.next_source_seq
        for m in messages:
            pub.publish(m)
        want = pub.next_source_seq - 1
        seen = first_sseq - 1
        first = last = 0
        deadline = time.monotonic() + timeout_s
        while seen < want:
            for raw in sub.poll():
                src = int.from_bytes(raw[32:36], "little")
                if src == source_id:
                    seq = int.from_bytes(raw[8:16], "little")
                    seen = int.from_bytes(raw[40:48], "little")
                    first = first or seq
                    last = seq
            if pub.poll_notices():
                pub.check()
            if time.monotonic() > deadline:
                raise StreamStopped(
                    f"only {seen - first_sseq + 1} of {len(messages)} messages were sequenced "
                    f"within {timeout_s}s"
                )
            time.sleep(0.0005)
        return InjectResult(len(messages), first, last, source_id)
    finally:
        aeron.close()
