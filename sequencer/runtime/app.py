"""The app contract: a class with handlers, snapshot, restore and state hash.

`Consumer` is what every follower of the stream shares (the dispatch table from
`@handles` marks); `App` adds the context, snapshots and timers; `StructApp` is
an app whose whole state is one msgspec Struct (snapshot and restore for free).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import msgspec

from sequencer import sources
from sequencer.messages import BY_ID, TYPE_ID, Message

if TYPE_CHECKING:
    from sequencer.runtime.context import AppContext

F = TypeVar("F", bound=Callable[..., None])

_HANDLES_ATTR = "__tape_handles__"


def handles(*types: type[Message]) -> Callable[[F], F]:
    """Mark a method as the handler of the given message types."""

    def mark(fn: F) -> F:
        setattr(fn, _HANDLES_ATTR, types)
        return fn

    return mark


def handler_table(cls: type) -> dict[int, str]:
    """type id -> method name, from the `@handles` marks of `cls` and its bases."""
    table: dict[int, str] = {}
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            for t in getattr(value, _HANDLES_ATTR, ()):
                table[TYPE_ID[t]] = attr
    return table


class Consumer:
    """Anything that follows the stream: one handler per message type it cares about,
    marked `@handles(MessageType)`. Apps (`App`) and the edge processes (the FIX
    gateways, the ticker plant) alike, so "who handles X?" has one answer, which
    `tape messages` reads from these marks.

    `name` and `source_id` (from `sequencer.sources`) say who it is and, if it
    publishes, as which source. Handlers take the decoded message."""

    name: ClassVar[str] = ""
    source_id: ClassVar[int] = sources.NOBODY
    #: type id -> method name, collected from @handles marks (the dispatch table).
    handler_names: ClassVar[dict[int, str]] = {}
    #: False for a consumer that handles every type and acts on none (the no-op bench
    #: app): `tape messages` leaves it out.
    indexed: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.handler_names = handler_table(cls)

    def dispatch_table(self) -> dict[int, tuple[Callable[[bytes], Any], Callable[[Any], None]]]:
        """type id -> (payload decoder, bound handler): what a dispatch loop looks up."""
        return {tid: (msgspec.msgpack.Decoder(BY_ID[tid]).decode, getattr(self, attr))
                for tid, attr in self.handler_names.items()}


class App(Consumer):
    """Base class of every app.

    Subclasses set `name` (how `tape app run NAME` finds them) and `source_id`
    (the stream source their outputs carry, from `sequencer.sources`), and mark
    handlers with `@handles(MessageType)`. A handler takes the decoded message;
    the frame header and stream time are on `self.ctx`. Timers call
    `on_timer(token)`.

    The runtime never hands an app its own outputs back.
    """

    ctx: AppContext

    def on_start(self) -> None:
        """Called once when the engine attaches the context (before any frame)."""

    def on_timer(self, token: Any) -> None:
        """A timer set with `ctx.set_timer(at, token)` is due."""

    def snapshot(self) -> bytes:
        """The app's whole state as bytes (deterministic for equal states)."""
        return b""

    def restore(self, data: bytes) -> None:
        """Load a state produced by `snapshot()`."""

    def state_hash(self) -> str:
        return hashlib.sha256(self.snapshot()).hexdigest()

    def describe(self) -> dict[str, Any]:
        """The state in readable form, for `tape replay --state-at`."""
        return {k: v for k, v in vars(self).items() if k != "ctx"}


class StructApp[S: msgspec.Struct](App):
    """An app whose whole state is one msgspec Struct at `self.state`: its snapshot
    is that struct encoded, its restore the struct decoded (deterministic bytes for
    equal states, and nothing to forget to save). Set `state_type` and build
    `self.state` in `__init__`; what is derived from the state and not kept in it
    is rebuilt in `after_restore`."""

    state_type: ClassVar[type[msgspec.Struct]]
    state: S
    _state_decoder: ClassVar[msgspec.msgpack.Decoder[Any]]
    _state_encoder: ClassVar[msgspec.msgpack.Encoder] = msgspec.msgpack.Encoder()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "state_type" in vars(cls):
            cls._state_decoder = msgspec.msgpack.Decoder(cls.state_type)

    def snapshot(self) -> bytes:
        return self._state_encoder.encode(self.state)

    def restore(self, data: bytes) -> None:
        self.state = self._state_decoder.decode(data)
        self.after_restore()

    def after_restore(self) -> None:
        """Rebuild what the app derives from its state (caches, indexes)."""

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = msgspec.to_builtins(self.state)
        return out
