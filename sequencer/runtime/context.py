"""The app's context: the only door through which an app touches the world.

Stream time (`now`), the frame being handled (`seq`, `frame_source_id`), publishing,
timers, the day's seeded random generator, ref data and a logger. The engine
owns the context and updates it before each handler call.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from collections.abc import Callable
from typing import Any

import msgspec
import structlog

from sequencer import sources
from sequencer.frames import INPUT
from sequencer.messages import TYPE_ID, Message

_INPUT_PACK = INPUT.pack
_TYPE_ID = TYPE_ID
# `sequencer.messages.encode`'s encoder without the wrapper call (the same bytes: a plain
# msgpack Encoder), on the publish path every output takes.
_encode = msgspec.msgpack.Encoder().encode
NEVER = 2**63 - 1
Token = str | int | None


class Output(msgspec.Struct, gc=False):
    """One message an app published, as the sequencer will see it (telemetry aside).

    A struct, not a class with `__init__`: one is built for every output, and the
    struct's positional constructor is C. No container fields, so the GC need not
    track it."""

    source_id: int
    source_seq: int
    type_id: int
    cause_seq: int
    payload: bytes
    proc_ns: int = 0

    def comparable(self) -> bytes:
        """The bytes the determinism check compares (telemetry zeroed)."""
        return _INPUT_PACK(
            self.source_id, self.type_id, 0, self.source_seq, self.cause_seq, 0, 0,
            len(self.payload), 0,
        ) + self.payload

    def record(self, sent_ns: int) -> bytes:
        """The input record to offer the sequencer (with telemetry)."""
        return _INPUT_PACK(
            self.source_id, self.type_id, 0, self.source_seq, self.cause_seq, sent_ns, 0,
            len(self.payload), min(self.proc_ns, 0xFFFFFFFF),
        ) + self.payload


def recorded_comparable(raw: bytes) -> bytes:
    """The comparable bytes of a recorded frame (the input record, telemetry zeroed)."""
    return raw[32:56] + bytes(8) + raw[64:76] + bytes(4) + raw[80:]


def app_seed(day_seed: int, app_name: str) -> int:
    """The app's own seed: the day's seed and the app's name, hashed (stable everywhere)."""
    h = hashlib.sha256(f"{day_seed}:{app_name}".encode()).digest()
    return int.from_bytes(h[:8], "big")


class AppContext:
    """What an app may use. See the package docstring for the rules."""

    def __init__(self, app_name: str, source_id: int, sink: Callable[[Output], None]) -> None:
        self.app_name = app_name
        self.source_id = source_id
        self.now = 0  # stream time (ns) of the frame being handled
        self.seq = 0  # its sequence number
        self.frame_source_id = sources.SEQUENCER  # who published the frame being handled
        self.out_seq = 0  # last source seq this app published
        self.day_seed = 0
        self.random = random.Random(0)
        self.refdata: Any = None  # the day's ref data set (`refdata.model.RefData`), if any
        self.refdata_digest = ""  # which set: kept in snapshots, reloaded on restore
        self._sink = sink
        self._timers: list[tuple[int, int, Any]] = []  # heap of (at_ns, id, token)
        self._cancelled: set[int] = set()
        self._next_timer_id = 1
        self._deadline = NEVER  # earliest pending deadline, or NEVER (the engine's fast check)
        self._log = structlog.get_logger("app").bind(app=app_name)

    # ---- publishing

    def publish(self, msg: Message) -> int:
        """Send `msg` to the sequencer as this app; returns its source sequence number."""
        self.out_seq = n = self.out_seq + 1
        self._sink(Output(self.source_id, n, _TYPE_ID[type(msg)], self.seq, _encode(msg)))
        return n

    # ---- timers

    def set_timer(self, at_ns: int, token: Token = None) -> int:
        """Wake the app (`on_timer(token)`) once stream time reaches `at_ns`. Returns an id.

        The token (a str, an int or None) says why the timer was set; it is
        kept in snapshots, hence the narrow type.
        """
        tid = self._next_timer_id
        self._next_timer_id += 1
        heapq.heappush(self._timers, (at_ns, tid, token))
        self._deadline = min(self._deadline, at_ns)
        return tid

    def cancel_timer(self, timer_id: int) -> bool:
        """Cancel a pending timer; False if it already fired or never existed."""
        if any(t[1] == timer_id for t in self._timers) and timer_id not in self._cancelled:
            self._cancelled.add(timer_id)
            return True
        return False

    def refresh_deadline(self) -> None:
        while self._timers and self._timers[0][1] in self._cancelled:
            self._cancelled.discard(heapq.heappop(self._timers)[1])
        self._deadline = self._timers[0][0] if self._timers else NEVER

    def pop_due(self, now: int) -> tuple[int, int, Any] | None:
        """The next timer due at `now` (deadline order, then creation order), if any."""
        while self._timers and self._timers[0][0] <= now:
            t = heapq.heappop(self._timers)
            if t[1] in self._cancelled:
                self._cancelled.discard(t[1])
                continue
            return t
        return None

    @property
    def pending_timers(self) -> list[tuple[int, int, Any]]:
        return sorted(t for t in self._timers if t[1] not in self._cancelled)

    # ---- logging

    @property
    def log(self) -> Any:
        """A structlog logger bound to this app and the frame being handled."""
        return self._log.bind(seq=self.seq)

    # ---- runtime state (part of every snapshot)

    def seed_day(self, day_seed: int) -> None:
        self.day_seed = day_seed
        self.random = random.Random(app_seed(day_seed, self.app_name))

    def runtime_state(self) -> dict[str, Any]:
        version, internal, gauss = self.random.getstate()
        return {
            "seq": self.seq,
            "now": self.now,
            "out_seq": self.out_seq,
            "day_seed": self.day_seed,
            "random": [version, list(internal), gauss],
            "timers": [list(t) for t in self.pending_timers],
            "next_timer_id": self._next_timer_id,
            "refdata_digest": self.refdata_digest,
        }

    def load_runtime_state(self, st: dict[str, Any]) -> None:
        self.seq = st["seq"]
        self.now = st["now"]
        self.out_seq = st["out_seq"]
        self.day_seed = st["day_seed"]
        version, internal, gauss = st["random"]
        self.random.setstate((version, tuple(internal), gauss))
        self._timers = [(a, i, tok) for a, i, tok in st["timers"]]
        heapq.heapify(self._timers)
        self._cancelled = set()
        self._next_timer_id = st["next_timer_id"]
        self.refdata_digest = st.get("refdata_digest", "")
        self.refresh_deadline()
