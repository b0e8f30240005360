"""The message schema: every type round-trips, encodes deterministically, keeps its type id.

Strategies are built from each type's msgspec fields, so a new message type is
covered as soon as it is added to a family; a field type the builder does not
know makes the test fail loudly instead of being skipped.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import types
import typing
from typing import Any, Literal

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sequencer import messages
from sequencer.messages import ALL_TYPES, BY_ID, BY_NAME, TYPE_ID, Message, decode, encode

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)

#: The type ids of today's types. Changing one breaks every journal ever written.
PINNED_TYPE_IDS = {
    "SystemStart": 1,
    "SystemStop": 2,
    "ClockTick": 3,
    "Alert": 4,
    "Probe": 90,
    "Echo": 91,
    "Heartbeat": 92,
    "TakeSnapshot": 100,
    "OperatorNote": 101,
    "SetParameter": 102,
    "HaltTrading": 103,
    "ResumeTrading": 104,
    "Resubscribe": 105,
    "SetRiskLimit": 106,
    "EngageKillSwitch": 107,
    "ReleaseKillSwitch": 108,
    "Quote": 300,
    "Trade": 301,
    "TradingStatus": 302,
    "Subscribe": 303,
    "Unsubscribe": 304,
    "MarketSnapshot": 305,
    "NewOrder": 400,
    "CancelOrder": 401,
    "ReplaceOrder": 402,
    "OrderStatusRequest": 403,
    "NewChild": 410,
    "CancelChild": 411,
    "ReplaceChild": 412,
    "ChildOrderSent": 420,
    "ChildRequestRejected": 421,
    "ParentAccepted": 430,
    "ParentAmended": 431,
    "ParentCanceling": 432,
    "ParentDone": 433,
    "ExecutionReport": 500,
    "CancelReject": 501,
    "VenueAck": 510,
    "VenueReject": 511,
    "VenueFill": 512,
    "VenueCanceled": 513,
    "VenueReplaced": 514,
    "VenueCancelRejected": 515,
    "VenueRestated": 516,
    "VenueStatus": 520,
    "ClientSessionStatus": 521,
}


class UnsupportedFieldType(TypeError):
    """The strategy builder does not know this field type: extend `strategy_for_type`."""


def strategy_for_type(tp: Any, where: str) -> st.SearchStrategy[Any]:
    """A strategy for values of field type `tp` (named `where` in errors)."""
    if tp is str:
        return st.text(max_size=40)
    if tp is int:
        return INT64
    if tp is bytes:
        return st.binary(max_size=64)
    if tp is dt.date:
        return st.dates()
    if tp is bool:
        return st.booleans()
    if typing.get_origin(tp) is Literal:
        return st.sampled_from(typing.get_args(tp))
    if typing.get_origin(tp) is tuple and typing.get_args(tp)[1:] == (Ellipsis,):
        item = strategy_for_type(typing.get_args(tp)[0], where)
        return st.lists(item, max_size=3).map(tuple)
    if typing.get_origin(tp) is tuple:
        return st.tuples(*(strategy_for_type(a, where) for a in typing.get_args(tp)))
    if isinstance(tp, type) and issubclass(tp, Message):
        return strategy_for_message(tp)
    raise UnsupportedFieldType(
        f"{where}: no strategy for field type {tp!r}; extend strategy_for_type in {__file__}"
    )


def strategy_for_message(t: type[Message]) -> st.SearchStrategy[Message]:
    fields = {
        f.name: strategy_for_type(f.type, f"{t.__name__}.{f.name}")
        for f in msgspec.structs.fields(t)
    }
    return st.builds(t, **fields)


# Built at import time on purpose: an unsupported field type fails collection loudly.
MESSAGE_STRATEGIES = {t: strategy_for_message(t) for t in ALL_TYPES}
ANY_MESSAGE = st.one_of(*MESSAGE_STRATEGIES.values())


def field_values(msg: Message) -> dict[str, Any]:
    return {name: getattr(msg, name) for name in msg.__struct_fields__}


# --------------------------------------------------------------------------- builder


def test_strategy_builder_refuses_unknown_field_types() -> None:
    for tp in (float, list[int], dict[str, int], int | None, bool | str, types.NoneType):
        with pytest.raises(UnsupportedFieldType, match="no strategy for field type"):
            strategy_for_type(tp, "X.f")


def test_every_field_of_every_type_has_a_strategy() -> None:
    for t in ALL_TYPES:
        for f in msgspec.structs.fields(t):
            strategy_for_type(f.type, f"{t.__name__}.{f.name}")  # raises if unsupported


# --------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("t", ALL_TYPES, ids=lambda t: t.__name__)
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_encode_then_decode_is_identity(t: type[Message], data: st.DataObject) -> None:
    msg = data.draw(MESSAGE_STRATEGIES[t])
    raw = encode(msg)
    back = decode(TYPE_ID[t], raw)
    assert type(back) is t
    assert back == msg
    assert field_values(back) == field_values(msg)
    assert encode(back) == raw


@pytest.mark.parametrize("t", ALL_TYPES, ids=lambda t: t.__name__)
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_encoding_is_a_pure_function_of_the_fields(t: type[Message], data: st.DataObject) -> None:
    msg = data.draw(MESSAGE_STRATEGIES[t])
    raw = encode(msg)
    # The same field values, in a freshly built message, give the same bytes ...
    twin = t(**{k: _copy(v) for k, v in field_values(msg).items()})
    assert twin is not msg
    assert encode(twin) == raw
    # ... as does a fresh encoder, and encoding twice.
    assert msgspec.msgpack.Encoder().encode(twin) == raw
    assert encode(msg) == raw


def _copy(v: Any) -> Any:
    if isinstance(v, str):
        return "".join(list(v))
    if isinstance(v, bytes):
        return bytes(bytearray(v))
    if isinstance(v, dt.date):
        return dt.date(v.year, v.month, v.day)
    return v


@settings(max_examples=200, deadline=None)
@given(msg=ANY_MESSAGE)
def test_wire_format_is_an_array_led_by_the_type_id(msg: Message) -> None:
    raw = encode(msg)
    arr = msgspec.msgpack.decode(raw)
    assert isinstance(arr, list)
    assert arr[0] == TYPE_ID[type(msg)]
    assert len(arr) == 1 + len(msg.__struct_fields__)


@settings(max_examples=200, deadline=None)
@given(msg=ANY_MESSAGE)
def test_decoding_as_another_type_does_not_silently_succeed(msg: Message) -> None:
    raw = encode(msg)
    for other_id in BY_ID:
        if other_id == TYPE_ID[type(msg)]:
            continue
        with pytest.raises(msgspec.DecodeError):
            decode(other_id, raw)


def test_encoding_is_stable_across_processes_and_hash_seeds() -> None:
    script = (
        "import datetime as dt, sys\n"
        "from sequencer.messages import encode\n"
        "from sequencer.messages.control import SystemStart, Alert, Probe\n"
        "from sequencer.messages.admin import SetParameter\n"
        "ms = [SystemStart(dt.date(2024, 3, 15), 42, 'abc', 'sim'), Alert('error', 's', 't'),\n"
        "      Probe(-7, b'\\x00\\xff'), SetParameter('vwap', 'max_pov', '0.1')]\n"
        "sys.stdout.write(b''.join(encode(m) for m in ms).hex())\n"
    )
    outs = set()
    for seed in ("0", "1", "12345"):
        res = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
        )
        outs.add(res.stdout)
    assert len(outs) == 1
    assert outs.pop() != ""


# --------------------------------------------------------------------------- type ids


def test_type_ids_are_pinned() -> None:
    """Every pinned type still exists with its id (add new types to the pin once they ship)."""
    current = {t.__name__: TYPE_ID[t] for t in ALL_TYPES}
    assert {name: current.get(name) for name in PINNED_TYPE_IDS} == PINNED_TYPE_IDS
    # A new type never takes a pinned id (it would decode old frames as itself).
    newer = {name: i for name, i in current.items() if name not in PINNED_TYPE_IDS}
    assert not set(newer.values()) & set(PINNED_TYPE_IDS.values())


def test_type_ids_are_unique_and_tables_agree() -> None:
    ids = [TYPE_ID[t] for t in ALL_TYPES]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert set(BY_ID) == set(ids)
    for t in ALL_TYPES:
        assert BY_ID[TYPE_ID[t]] is t
        assert BY_NAME[t.__name__] is t
        assert t.__struct_config__.tag == TYPE_ID[t]
        assert messages.type_name(TYPE_ID[t]) == t.__name__
    assert len(BY_NAME) == len(ALL_TYPES)


def test_type_ids_sit_in_their_family_range() -> None:
    ranges = {messages.control: range(1, 100), messages.admin: range(100, 200)}
    for fam, ids in ranges.items():
        members = [t for t in ALL_TYPES if t.__module__ == fam.__name__]
        assert members, fam.__name__
        for t in members:
            assert TYPE_ID[t] in ids, t.__name__


def test_message_config_is_what_the_codec_relies_on() -> None:
    for t in ALL_TYPES:
        cfg = t.__struct_config__
        assert cfg.array_like, t.__name__
        assert cfg.frozen, t.__name__
        assert not cfg.omit_defaults, t.__name__


def test_unknown_type_id_is_refused() -> None:
    raw = encode(BY_NAME["OperatorNote"](author="a", text="b"))
    unused = max(BY_ID) + 1
    with pytest.raises(messages.UnknownMessageType, match=f"unknown message type id {unused}"):
        decode(unused, raw)
    assert messages.type_name(unused) == f"type#{unused}"


def test_to_builtins_names_the_type_and_every_field() -> None:
    start = BY_NAME["SystemStart"](
        session_date=dt.date(2024, 3, 15), seed=7, config_digest="d", time_mode="sim"
    )
    assert messages.to_builtins(start) == {
        "type": "SystemStart", "session_date": "2024-03-15", "seed": 7, "config_digest": "d",
        "time_mode": "sim", "refdata_digest": "",
    }
    probe = BY_NAME["Probe"](n=1, data=b"\x00\x01")
    assert messages.to_builtins(probe) == {"type": "Probe", "n": 1, "data": "AAE="}
