"""The deterministic app runtime.

An app (`App`) is one class with a handler per message type it cares about;
everything with an effect goes through its context (`AppContext`): stream
time, publishing, timers, the day's seeded random generator, ref data, logs.
The `AppEngine` drives an app over frames, and the same engine runs live
(`runner`), on restart (catch-up from a snapshot and the journal) and in
replay (`replay`), so the three cannot drift apart.
"""

from sequencer.runtime.app import App, handles
from sequencer.runtime.context import AppContext, Output
from sequencer.runtime.engine import AppEngine, DeterminismError

__all__ = ["App", "AppContext", "AppEngine", "DeterminismError", "Output", "handles"]
