"""Schema compatibility: the journal checked in under `tests/data/journal_v1/` still decodes.

`tests/data/make_journal_v1.py` wrote that journal once; its bytes are the
record of schema v1 and are never regenerated. Here today's code must read it
and find exactly the values pinned below. The rule that keeps this true (see
`sequencer/messages/base.py`): a field is only ever appended, with a default.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import msgspec
import pytest

from sequencer.journal import list_segments, read_all, resolve_journal_dir, verify
from sequencer.messages import BY_ID, TYPE_ID, Message, decode, encode
from sequencer.messages.admin import OperatorNote

DAY = Path(__file__).resolve().parent.parent / "data" / "journal_v1"

SEG_SHA256 = "77ed164ff1709b36df25afbdfc567e199a86ae8588f6486bb274bb868f8b016b"
IDX_SHA256 = "4cbbd8ca5215b8d161aec181a74b694f4e24b001d5b081dc0030ed797a8973e0"

T0 = 1_710_509_400_000_000_000  # 2024-03-15 09:30 America/New_York

# seq, ts_ns, recv_ns, source_id, type_id, flags, source_seq, cause_seq, sent_ns, event_ns
HEADERS = [
    (1, 1710509400000000000, 1710509400000000017, 0, 1, 0, 1, 0, 0, 0),
    (2, 1710509400001000000, 1710509400001000034, 0, 3, 0, 2, 0, 0, 0),
    (3, 1710509400002000000, 1710509400002000051, 7, 90, 0, 1, 0, 1710509400001997000,
     1710509399997000000),
    (4, 1710509400003000000, 1710509400003000068, 7, 90, 0, 2, 0, 1710509400002996000, 0),
    (5, 1710509400004000000, 1710509400004000085, 0, 4, 0, 3, 4, 0, 0),
    (6, 1710509400005000000, 1710509400005000102, 900, 100, 0, 1, 0, 1710509400004994000, 0),
    (7, 1710509400006000000, 1710509400006000119, 900, 100, 0, 2, 0, 1710509400005993000, 0),
    (8, 1710509400007000000, 1710509400007000136, 900, 101, 0, 3, 0, 1710509400006992000, 0),
    (9, 1710509400008000000, 1710509400008000153, 900, 102, 0, 4, 8, 1710509400007991000, 0),
    (10, 1710509400009000000, 1710509400009000170, 900, 103, 0, 5, 0, 1710509400008990000, 0),
    (11, 1710509400010000000, 1710509400010000187, 900, 104, 0, 6, 10, 1710509400009989000, 0),
    (12, 1710509400011000000, 1710509400011000204, 0, 4, 0, 4, 0, 0, 0),
    (13, 1710509400012000000, 1710509400012000221, 900, 2, 0, 7, 0, 1710509400011987000, 0),
]

# The v1 fields of each frame's message, in v1 field order, with the values written.
MESSAGES: list[tuple[str, dict[str, Any]]] = [
    ("SystemStart", {"session_date": dt.date(2024, 3, 15), "seed": 0x1234_5678_9ABC_DEF0,
                     "config_digest": "0123456789abcdef", "time_mode": "sim"}),
    ("ClockTick", {}),
    ("Probe", {"n": -42, "data": b"\x00\x01\xfe\xff"}),
    ("Probe", {"n": 2**63 - 1, "data": b""}),
    ("Alert", {"severity": "warning", "source": "sequencer",
               "text": "source 7 skipped numbers 3..4"}),
    ("TakeSnapshot", {"target": "*"}),
    ("TakeSnapshot", {"target": "oms"}),
    ("OperatorNote", {"author": "ops", "text": "open \u2014 na\u00efve \u00fcnicode \u2713"}),
    ("SetParameter", {"target": "vwap", "key": "max_pov", "value": "0.12"}),
    ("HaltTrading", {"scope": "AAPL", "reason": "news pending"}),
    ("ResumeTrading", {"scope": "AAPL"}),
    ("Alert", {"severity": "critical", "source": "replay", "text": ""}),
    ("SystemStop", {"reason": "end of day"}),
]

V1_TYPE_IDS = {
    "SystemStart": 1, "SystemStop": 2, "ClockTick": 3, "Alert": 4, "Probe": 90,
    "TakeSnapshot": 100, "OperatorNote": 101, "SetParameter": 102, "HaltTrading": 103,
    "ResumeTrading": 104,
}


def v1_frames() -> list[Any]:
    return list(read_all(DAY))


def test_the_record_is_unchanged() -> None:
    jdir = resolve_journal_dir(DAY)
    assert jdir == DAY / "journal"
    assert [p.name for p in sorted(jdir.iterdir())] == [
        "00000000000000000001.idx", "00000000000000000001.seg",
    ]
    assert hashlib.sha256((jdir / "00000000000000000001.seg").read_bytes()).hexdigest() == (
        SEG_SHA256
    )
    assert hashlib.sha256((jdir / "00000000000000000001.idx").read_bytes()).hexdigest() == (
        IDX_SHA256
    )


def test_the_record_verifies_clean() -> None:
    rep = verify(DAY)
    assert rep.clean, rep.damage
    assert (rep.segments, rep.frames, rep.first_seq, rep.last_seq) == (1, 13, 1, 13)
    assert len(list_segments(DAY / "journal")) == 1


def test_the_record_holds_every_v1_type() -> None:
    assert {f.type_id for f in v1_frames()} == set(V1_TYPE_IDS.values())
    for name, tid in V1_TYPE_IDS.items():
        assert TYPE_ID[BY_ID[tid]] == tid
        assert BY_ID[tid].__name__ == name


def test_headers_are_pinned() -> None:
    assert [tuple(f[:10]) for f in v1_frames()] == HEADERS
    assert [f.proc_ns for f in v1_frames()] == [0] * len(HEADERS)  # reserved (0) in v1
    assert v1_frames()[0].ts_ns == T0


@pytest.mark.parametrize("i", range(len(MESSAGES)), ids=[m[0] for m in MESSAGES])
def test_every_frame_decodes_to_the_pinned_values(i: int) -> None:
    f = v1_frames()[i]
    name, v1_fields = MESSAGES[i]
    msg = decode(f.type_id, f.payload)
    t = type(msg)
    assert t.__name__ == name
    assert TYPE_ID[t] == V1_TYPE_IDS[name]
    # v1 fields keep their names and their order; any field after them is new and defaulted.
    assert t.__struct_fields__[: len(v1_fields)] == tuple(v1_fields)
    for k, v in v1_fields.items():
        got = getattr(msg, k)
        assert got == v, k
        assert type(got) is type(v), k
    for fi in msgspec.structs.fields(t)[len(v1_fields) :]:
        assert fi.default is not msgspec.NODEFAULT or fi.default_factory is not msgspec.NODEFAULT
    # Today's class built from the pinned values is the same message.
    assert msg == t(**v1_fields)


@pytest.mark.parametrize("i", range(len(MESSAGES)), ids=[m[0] for m in MESSAGES])
def test_unchanged_types_reencode_to_the_journaled_bytes(i: int) -> None:
    """Replay compares outputs byte for byte: the codec must keep encoding v1 the same way."""
    f = v1_frames()[i]
    msg = decode(f.type_id, f.payload)
    n_v1 = len(MESSAGES[i][1])
    if len(msg.__struct_fields__) == n_v1:
        assert encode(msg) == f.payload
    else:  # the type gained (defaulted) fields since v1: its v1 part still encodes the same
        assert msgspec.msgpack.decode(encode(msg))[: 1 + n_v1] == msgspec.msgpack.decode(f.payload)


# --------------------------------------------------------------------------- schema evolution


class OperatorNoteV2(Message, tag=101, frozen=True):
    """What `OperatorNote` would be with a field appended under the rule."""

    author: str
    text: str
    priority: int = 0


def test_a_field_appended_with_a_default_decodes_the_old_bytes() -> None:
    f = v1_frames()[7]
    assert f.type_id == TYPE_ID[OperatorNote]
    new = msgspec.msgpack.Decoder(OperatorNoteV2).decode(f.payload)
    assert new == OperatorNoteV2(author="ops", text=MESSAGES[7][1]["text"], priority=0)
    assert new.priority == 0


@pytest.mark.parametrize("i", range(len(MESSAGES)), ids=[m[0] for m in MESSAGES])
def test_every_v1_frame_decodes_with_a_field_appended(i: int) -> None:
    f = v1_frames()[i]
    t = BY_ID[f.type_id]
    extended = _extend(t, ("zz_appended", int, 7), ("zz_note", str, "new"))
    got = msgspec.msgpack.Decoder(extended).decode(f.payload)
    for k, v in MESSAGES[i][1].items():
        assert getattr(got, k) == v
    assert got.zz_appended == 7
    assert got.zz_note == "new"


def test_breaking_the_rule_is_caught() -> None:
    """The rule matters: the same old bytes fail without a default or with a field inserted."""
    f = v1_frames()[7]
    no_default = _extend(OperatorNote, ("priority", int))
    with pytest.raises(msgspec.ValidationError):
        msgspec.msgpack.Decoder(no_default).decode(f.payload)

    inserted = msgspec.defstruct(
        "OperatorNoteInserted", [("author", str), ("priority", int, 0), ("text", str, "")],
        bases=(Message,), tag=101,
    )
    with pytest.raises(msgspec.ValidationError):
        msgspec.msgpack.Decoder(inserted).decode(f.payload)

    renumbered = _extend(OperatorNote, ("priority", int, 0), tag=105)
    with pytest.raises(msgspec.ValidationError):
        msgspec.msgpack.Decoder(renumbered).decode(f.payload)


def _extend(t: type[Message], *extra: tuple[Any, ...], tag: int | None = None) -> Any:
    fields: list[tuple[Any, ...]] = []
    for fi in msgspec.structs.fields(t):
        if fi.default is not msgspec.NODEFAULT:
            fields.append((fi.name, fi.type, fi.default))
        elif fi.default_factory is not msgspec.NODEFAULT:
            fields.append((fi.name, fi.type, msgspec.field(default_factory=fi.default_factory)))
        else:
            fields.append((fi.name, fi.type))
    return msgspec.defstruct(
        f"{t.__name__}Next", [*fields, *extra], bases=(Message,),
        tag=t.__struct_config__.tag if tag is None else tag,
    )
