"""`tape inject`: typed messages from a JSON or CSV file into the stream.

Every row is validated (pydantic, against the message type it names) before
anything is sent; a bad row names the file, the line and the field, and then
nothing from that file is sent. Accepted files:

- JSON: an array of objects, or one object per line (JSON Lines);
- CSV: a header row with a `type` column and one column per field; an empty
  cell takes the field's default.

Each row names its message type in `type` (for example `"OperatorNote"`);
the other keys are the message's fields. The sequencer's own types
(`SystemStart`, `ClockTick`) cannot be injected, and a message larger than a
frame's payload limit is refused with the rest of the file.

A file is safe to inject again. Its rows go out as a source of the file's own
(`sources.inject_file`, from the file's bytes) numbered 1, 2, ... in file
order; the sequencer drops a number it has, so a second run sends only what
the stream does not hold yet (an inject cut off by a sequencer crash is
finished by running it again) and says how many rows were there already.
To send the same file again on purpose (the same halt, later in the day), `tape
inject --again` starts a new run of it: a source of its own (`file_source`), which
a plain rerun then finishes if it was cut off.

With `wait_s`, `inject` also collects the Alerts the rows caused (those whose
`cause_seq` is one of the rows' frames): an admin command an app refused (a
misspelt limit name, an unknown client) is reported to whoever injected it.
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import msgspec
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from sequencer import sources
from sequencer.frames import MAX_PAYLOAD
from sequencer.journal import JournalReader, JournalState
from sequencer.messages import BY_NAME, TYPE_ID, Message, decode, encode, to_builtins
from sequencer.messages.control import Alert, ClockTick, SystemStart

NOT_INJECTABLE = frozenset({SystemStart.__name__, ClockTick.__name__})
DEFAULT_SOURCE_ID = sources.INJECT
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_SHOWN = 100  # problems listed in full; the rest are counted


class InjectError(ValueError):
    """The file cannot be injected; `problems` lists every bad row (the message shows the
    first hundred, then a count)."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        head = f"{path}: {len(problems)} problem(s); nothing was sent"
        shown = problems[:MAX_SHOWN]
        if len(problems) > MAX_SHOWN:
            shown.append(f"... and {len(problems) - MAX_SHOWN} more problem(s)")
        super().__init__("\n".join([head, *shown]))


class InjectInterrupted(RuntimeError):
    """The sequencer stopped taking input part way; the message says how many rows are on
    the stream (a file: run it again to send the rest)."""


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

    counted = [0, 1]  # (position, its line): counted on from the last position asked

    def line_of(pos: int) -> int:
        at, line = counted
        line += text.count("\n", at, pos) if pos >= at else -text.count("\n", pos, at)
        counted[:] = [pos, line]
        return line

    def skip_space(pos: int) -> int:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        return pos

    if stripped.startswith("["):
        # An array, strictly: values separated by single commas, nothing after the `]`.
        pos = skip_space(text.index("[") + 1)
        if pos < len(text) and text[pos] == "]":
            pos += 1
        else:
            while True:
                if pos >= len(text):
                    raise ValueError("unterminated JSON array")
                line = line_of(pos)
                try:
                    obj, pos = dec.raw_decode(text, pos)
                except json.JSONDecodeError as e:
                    raise ValueError(f"line {e.lineno}: not valid JSON: {e.msg}") from None
                rows.append(Row(line, obj))
                pos = skip_space(pos)
                if pos >= len(text):
                    raise ValueError("unterminated JSON array")
                if text[pos] == "]":
                    pos += 1
                    break
                if text[pos] != ",":
                    raise ValueError(f"line {line_of(pos)}: expected ',' or ']' after a row, "
                                     f"got {text[pos]!r}")
                pos = skip_space(pos + 1)
                if pos < len(text) and text[pos] == "]":
                    raise ValueError(f"line {line_of(pos)}: a ',' before ']' (no row follows)")
        pos = skip_space(pos)
        if pos < len(text):
            raise ValueError(f"line {line_of(pos)}: text after the end of the JSON array")
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
        msg = t(**model.model_dump())
        size = len(encode(msg))
        if size > MAX_PAYLOAD:
            problems.append(f"{where}: the message is {size:,} bytes, over a frame's limit of "
                            f"{MAX_PAYLOAD:,}")
            continue
        out.append(msg)
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


def file_source(day: Path, content: bytes, again: bool = False) -> int:
    """The source a file's rows go out as: that of its latest run on the day's stream
    (the first run's if none), so that running it again finishes that run; with
    `again`, that of a new run."""
    from sequencer import sources

    _last, by_source = stream_position(day)
    run = 0
    while sources.inject_file(content, run + 1) in by_source:
        run += 1
    if again and sources.inject_file(content, run) in by_source:
        run += 1
    return sources.inject_file(content, run)


def _stopped(day: Path) -> bool:
    """Has the day's sequencer reported the day stopped (its status file)?"""
    from sequencer.service import STATUS_FILE

    try:
        return bool(json.loads((Path(day) / STATUS_FILE).read_text())["state"] == "stopped")
    except (OSError, ValueError, KeyError):
        return False


@dataclass
class InjectResult:
    sent: int  # messages offered by this run
    first_seq: int  # of the run's frames (0 if none)
    last_seq: int
    source_id: int
    already: int = 0  # rows of a file the stream held before this run
    alerts: list[tuple[int, Alert]] = field(default_factory=list)  # (seq, Alert) they caused

    def as_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "already": self.already, "first_seq": self.first_seq,
                "last_seq": self.last_seq, "source_id": self.source_id,
                "alerts": [{"seq": q, **to_builtins(a)} for q, a in self.alerts]}


def inject(
    day: Path, messages: list[Message], source_id: int = DEFAULT_SOURCE_ID,
    timeout_s: float = 10.0, *, numbered: bool = False, wait_s: float = 0.0,
) -> InjectResult:
    """Send `messages` as `source_id` and wait until each is sequenced (or refused).

    `numbered`: the messages are a file's rows 1..n, the source is the file's own
    (`sources.inject_file`): rows the stream holds already are not sent again.
    `wait_s`: then follow the stream that long for the Alerts the messages caused.
    Raises `OwnershipError` if the day's sequencer is not running, `InjectInterrupted`
    if it stops taking input part way (saying how many went in)."""
    from sequencer.config import TransportConfig
    from sequencer.ownership import running
    from sequencer.transport import (
        StreamPublisher,
        StreamStopped,
        StreamSubscriber,
        TransportError,
        connect,
    )

    day = Path(day)
    running(day)
    if _stopped(day):
        raise InjectInterrupted(f"the day {day} is stopped (SystemStop was sequenced): no "
                                "input is accepted")
    cfg = TransportConfig.for_day(day)
    last_seq, by_source = stream_position(day)
    already = min(by_source.get(source_id, 0), len(messages)) if numbered else 0
    rows = messages[already:]
    aeron = connect(cfg)
    first = last = 0
    mine: set[int] = set()
    try:
        sub = StreamSubscriber(aeron, cfg, day / "journal", last_seq + 1)
        start = already + 1 if numbered else by_source.get(source_id, 0) + 1
        pub = StreamPublisher(aeron, cfg, source_id, start)
        first_sseq = pub.next_source_seq
        want = first_sseq + len(rows) - 1
        seen = first_sseq - 1

        def take(batch: list[bytes]) -> None:
            nonlocal seen, first, last
            for raw in batch:
                if int.from_bytes(raw[32:36], "little") == source_id:
                    seq = int.from_bytes(raw[8:16], "little")
                    seen = max(seen, int.from_bytes(raw[40:48], "little"))
                    first = first or seq
                    last = seq
                    mine.add(seq)

        try:
            for m in rows:
                pub.publish(m)
            deadline = time.monotonic() + timeout_s
            while seen < want:
                take(sub.poll())
                if pub.poll_notices():
                    pub.check()
                if time.monotonic() > deadline:
                    raise StreamStopped(f"not sequenced within {timeout_s}s")
                time.sleep(0.0005)
        except TransportError as e:
            on_stream = stream_position(day)[1].get(source_id, 0)
            got = on_stream - (first_sseq - 1)
            total = len(messages) if numbered else len(rows)
            have = on_stream if numbered else got
            again = "; run the same command again to send the rest" if numbered else ""
            raise InjectInterrupted(
                f"the sequencer stopped taking input ({e}): {have:,} of {total:,} "
                f"message(s) are on the stream{again}") from None
        alerts: list[tuple[int, Alert]] = []
        if wait_s > 0:
            alert_t = TYPE_ID[Alert]
            end = time.monotonic() + wait_s
            while time.monotonic() < end:
                for raw in sub.poll():
                    if int.from_bytes(raw[36:38], "little") == alert_t and (
                            int.from_bytes(raw[48:56], "little") in mine):
                        a = decode(alert_t, raw[80:])
                        assert isinstance(a, Alert)
                        alerts.append((int.from_bytes(raw[8:16], "little"), a))
                time.sleep(0.002)
        return InjectResult(len(rows), first, last, source_id, already, alerts)
    finally:
        aeron.close()
