"""The message index: every stream message type, who publishes it and who handles it.

Generated from the code, so it cannot drift: the types and their fields from
`sequencer.messages`, the publishers from the source registry
(`sequencer.sources`, which the stream kit holds every app to), and the
handlers from the `@handles` marks of every consumer of the stream: the apps
`tape app list` knows (entry point group `tape.apps`) and the edge processes
that follow the stream (group `tape.consumers`: the FIX gateways, the ticker
plant). The runtime itself handles `SystemStart`, `TakeSnapshot` and
`ClockTick` for every app.

A type nobody handles must say why in `FOR_THE_RECORD` (it is kept for people,
the reports or the debugger); a test holds every type to that.
`tape messages` prints the index.
"""

from __future__ import annotations

import datetime as dt
import importlib
import types
import typing
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import msgspec

from sequencer import sources
from sequencer.messages import ALL_TYPES, TYPE_ID, Message, admin, control, executions, orders
from sequencer.messages import marketdata as md
from sequencer.runtime import registry
from sequencer.runtime.app import Consumer

#: Types nobody acts on, and why they are on the stream anyway.
FOR_THE_RECORD: dict[type[Message], str] = {
    control.Alert: "for people: `tape journal cat --type Alert`, the blotter and the "
                   "day's reports",
    control.Echo: "the counter sample app's answer to a note (runtime tests, the demo)",
    control.Heartbeat: "the counter sample app's sign of life (runtime tests, the demo)",
    orders.AlgoDecision: "the strategies' reasoning, for the replay debugger and the "
                         "execution-quality report",
    executions.ClientSessionStatus: "client sessions up and down, for ops and the record",
}

#: Types no source in the registry publishes, and who does.
PUBLISHED_ELSEWHERE: dict[type[Message], str] = {
    control.Probe: "benchmarks and connectivity checks, from their own sources",
    md.Unsubscribe: "nobody yet: a subscriber that stops following a symbol would",
}

#: What the runtime does for every app with these types (before or after the app's own
#: handler, if it has one).
RUNTIME: dict[type[Message], str] = {
    control.SystemStart: "seeds the app's random generator, loads the day's ref data",
    admin.TakeSnapshot: "writes the app's snapshot",
    control.ClockTick: "fires the app's due timers (as every frame does)",
}


@dataclass
class Entry:
    """One message type in the index."""

    type_id: int
    name: str
    family: str
    doc: str
    fields: list[tuple[str, str]]
    publishers: list[str] = field(default_factory=list)
    handlers: list[str] = field(default_factory=list)
    record: str = ""  # why it is on the stream if nobody handles it
    elsewhere: str = ""  # who publishes it if no registered source does

    def to_json(self) -> dict[str, Any]:
        return {
            "type_id": self.type_id, "name": self.name, "family": self.family,
            "doc": self.doc,
            "fields": [{"name": n, "type": t} for n, t in self.fields],
            "publishers": self.publishers, "handlers": self.handlers,
            "for_the_record": self.record, "published_elsewhere": self.elsewhere,
        }


def type_text(t: Any) -> str:
    """A field's type, short and readable: int, str, buy|sell, tuple[Quote, ...]."""
    if t is type(None):
        return "None"
    if isinstance(t, type):
        return {dt.date: "date", bytes: "bytes"}.get(t, t.__name__)
    origin = typing.get_origin(t)
    args = typing.get_args(t)
    if origin is typing.Literal:
        return " | ".join(str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_text(a) for a in args)
    if origin is not None:
        inner = ", ".join("..." if a is Ellipsis else type_text(a) for a in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    return str(t)


def consumers() -> list[tuple[str, str, type[Consumer]]]:
    """(name, kind, class) of every consumer of the stream this build knows: the apps
    ("app") and the edge processes ("edge"), by name."""
    found: list[tuple[str, str, type[Consumer]]] = []
    for name in registry.available():
        found.append((name, "app", registry.load(name)))
    for ep in sorted(entry_points(group="tape.consumers"), key=lambda e: e.name):
        module, _, attr = ep.value.partition(":")
        cls = getattr(importlib.import_module(module), attr)
        if not (isinstance(cls, type) and issubclass(cls, Consumer)):
            raise TypeError(f"entry point tape.consumers {ep.name} = {ep.value} is not a "
                            "Consumer")
        found.append((ep.name, "edge", cls))
    return sorted(found, key=lambda c: (c[1] != "app", c[0]))


def build() -> list[Entry]:
    """The index, in type-id order."""
    handled: dict[int, list[str]] = {}
    for name, _kind, cls in consumers():
        if not cls.indexed:
            continue
        for tid, method in sorted(cls.handler_names.items()):
            handled.setdefault(tid, []).append(f"{name}.{method}")
    out: list[Entry] = []
    for t in ALL_TYPES:
        tid = TYPE_ID[t]
        hints = typing.get_type_hints(t)
        fields = [(f.name, type_text(hints.get(f.name, f.type)))
                  for f in msgspec.structs.fields(t)]
        handlers = list(handled.get(tid, []))
        if t in RUNTIME:
            handlers.insert(0, f"runtime (every app): {RUNTIME[t]}")
        out.append(Entry(
            type_id=tid, name=t.__name__, family=t.__module__.rsplit(".", 1)[-1],
            doc=(t.__doc__ or "").strip().split("\n\n")[0].replace("\n", " "),
            fields=fields,
            publishers=[s.name for s in sources.SOURCES if t in s.publishes],
            handlers=handlers,
            record=FOR_THE_RECORD.get(t, ""),
            elsewhere=PUBLISHED_ELSEWHERE.get(t, ""),
        ))
    return out


__all__ = ["FOR_THE_RECORD", "PUBLISHED_ELSEWHERE", "RUNTIME", "Entry", "build", "consumers",
           "type_text"]
