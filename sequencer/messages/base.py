"""The base every stream message derives from.

Messages are immutable msgspec Structs encoded as msgpack arrays whose first
element is the message's numeric type id (its tag). Arrays keep payloads small
and the codec fast; the price is a rule for schema changes, which a checked-in
journal under `tests/` pins: a field is only ever *appended*, with a default,
so a journal written before the change still decodes. Never reorder, rename in
place or remove a field, and never reuse a type id.
"""

from __future__ import annotations

import msgspec


class Message(msgspec.Struct, frozen=True, array_like=True, omit_defaults=False):
    """A stream message. Subclasses set `tag=<type id>`; see `sequencer.messages`."""
