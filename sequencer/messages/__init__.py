"""Stream message schema and codec.

One module per family; each type carries an explicit, stable numeric type id
(its msgspec tag). `encode` and `decode` are the codec every package uses; the
encoding of a message is a pure function of its fields.

Type-id ranges: control 1-99, admin 100-199, market data 300-399, orders
400-499, executions 500-599; later families take their own hundreds.
"""

from __future__ import annotations

from typing import Any

import msgspec

from sequencer.messages import admin, control, executions, marketdata, orders
from sequencer.messages.base import Message

FAMILIES = (control, admin, marketdata, orders, executions)

#: Every message type, in type-id order.
ALL_TYPES: tuple[type[Message], ...] = tuple(
    sorted(
        (
            obj
            for fam in FAMILIES
            for obj in vars(fam).values()
            if isinstance(obj, type) and issubclass(obj, Message) and obj is not Message
        ),
        key=lambda t: int(t.__struct_config__.tag),  # type: ignore[arg-type]  # tags are ints here
    )
)


def _tag(t: type[Message]) -> int:
    tag = t.__struct_config__.tag
    if not isinstance(tag, int):
        raise TypeError(f"{t.__name__} must have an integer tag, has {tag!r}")
    return tag


TYPE_ID: dict[type[Message], int] = {t: _tag(t) for t in ALL_TYPES}
BY_ID: dict[int, type[Message]] = {i: t for t, i in TYPE_ID.items()}
BY_NAME: dict[str, type[Message]] = {t.__name__: t for t in ALL_TYPES}

if len(BY_ID) != len(ALL_TYPES):
    raise RuntimeError("two message types share a type id")

_encoder = msgspec.msgpack.Encoder()
_decoders: dict[int, msgspec.msgpack.Decoder[Any]] = {
    i: msgspec.msgpack.Decoder(t) for i, t in BY_ID.items()
}


class UnknownMessageType(ValueError):
    """A frame names a type id this build does not know."""


def encode(msg: Message) -> bytes:
    """msgpack bytes of `msg` (deterministic: a pure function of its fields)."""
    return _encoder.encode(msg)


def decode(type_id: int, payload: bytes | memoryview) -> Message:
    """Decode `payload` as the message type `type_id`."""
    try:
        dec = _decoders[type_id]
    except KeyError:
        raise UnknownMessageType(f"unknown message type id {type_id}") from None
    msg: Message = dec.decode(payload)
    return msg


def type_name(type_id: int) -> str:
    t = BY_ID.get(type_id)
    return t.__name__ if t is not None else f"type#{type_id}"


def to_builtins(msg: Message) -> dict[str, Any]:
    """Field dict of `msg` with JSON-friendly values (for `--json` output and logs)."""
    out: dict[str, Any] = {"type": type(msg).__name__}
    for name in msg.__struct_fields__:
        out[name] = msgspec.to_builtins(getattr(msg, name))
    return out


__all__ = [
    "ALL_TYPES",
    "BY_ID",
    "BY_NAME",
    "TYPE_ID",
    "Message",
    "UnknownMessageType",
    "admin",
    "control",
    "decode",
    "encode",
    "executions",
    "marketdata",
    "orders",
    "to_builtins",
    "type_name",
]
