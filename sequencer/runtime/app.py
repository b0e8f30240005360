"""The app contract: a class with handlers, snapshot, restore and state hash."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from sequencer.messages import TYPE_ID, Message

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


class App:
    """Base class of every app.

    Subclasses set `name` (how `tape app run NAME` finds them) and `source_id`
    (the stream source their outputs carry), and mark handlers with
    `@handles(MessageType)`. A handler takes the decoded message; the frame
    header and stream time are on `self.ctx`. Timers call `on_timer(token)`.

    The runtime never hands an app its own outputs back.
    """

    name: ClassVar[str] = ""
    source_id: ClassVar[int] = 0
    #: type id -> method name, collected from @handles marks (the dispatch table).
    handler_names: ClassVar[dict[int, str]] = {}

    ctx: AppContext

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table: dict[int, str] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                for t in getattr(value, _HANDLES_ATTR, ()):
                    table[TYPE_ID[t]] = attr
        cls.handler_names = table

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
