"""The deterministic app runtime.

An app (`App`) is one class with a handler per message type it cares about;
everything with an effect goes through its context (`AppContext`): stream
time, publishing, timers, the day's seeded random generator, ref data, logs.
The `AppEngine` drives an app over frames, and the same engine runs live
(`runner`), on restart (catch-up from a snapshot and the journal), in replay
(`replay`) and in one process on the stream kit (`sequencer.kit`), so they
cannot drift apart. `Consumer` is what apps share with the edge processes
that follow the stream (the `@handles` dispatch table); `StructApp` is an app
whose state is one msgspec Struct; `registry` finds apps by name.
"""

from sequencer.runtime.app import App, Consumer, StructApp, handles
from sequencer.runtime.context import AppContext, Output
from sequencer.runtime.engine import AppEngine, DeterminismError

__all__ = ["App", "AppContext", "AppEngine", "Consumer", "DeterminismError", "Output",
           "StructApp", "handles"]
