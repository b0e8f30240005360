"""A raw-socket FIX client for the fuzz run: it speaks just enough FIX to stay a
correct counterparty while it sends whatever bytes it is given.

`RawSession` logs on with a hand-built Logon, keeps its own outgoing MsgSeqNum
(advanced only for the messages the acceptor counts), answers TestRequests
with a Heartbeat and ResendRequests with a SequenceReset-GapFill (it never
resends application messages), answers a Logout with a Logout, and logs on
again when the acceptor has disconnected it. It asks for what the acceptor
sent while it was logged off (a gap in the acceptor's MsgSeqNums) with a
ResendRequest, and drops the resent copies of what it already has. A reader thread parses what the
gateway sends by BodyLength and keeps every message as {tag: value}, with
the MsgSeqNum it answers (RefSeqNum 45) or the ClOrdID (11) it concerns.

Used in-thread by `test_fuzz`: `send(data, counted=...)` writes bytes, `sync()`
round-trips a TestRequest so that everything sent before it was processed.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

SOH = b"\x01"
_EXPECTING = re.compile(r"expecting (\d+)")


def utc_now() -> str:
    """SendingTime (52) for now, with milliseconds."""
    ns = time.time_ns()
    sec, sub = divmod(ns, 1_000_000_000)
    return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(sec)) + f".{sub // 1_000_000:03d}"


def frame(begin: str, pairs: list[tuple[str, str | bytes]], *, length_delta: int = 0,
          length_text: str | None = None, checksum_delta: int = 0,
          checksum_format: str = "{:03d}", checksum_text: str | None = None) -> bytes:
    """A FIX message: 8, 9, then `pairs` in the order given, then 10. The deltas and
    texts spoil BodyLength and CheckSum on purpose (QuickFIX reads a CheckSum as a
    number: "0014" is 14, so only a delta spoils it for sure). A pair with tag "" is a raw field
    (its value without "tag=")."""
    body = b"".join((t.encode() + b"=" if t else b"")
                    + (v if isinstance(v, bytes) else v.encode()) + SOH for t, v in pairs)
    length = length_text if length_text is not None else str(len(body) + length_delta)
    head = f"8={begin}\x019={length}\x01".encode() + body
    cs = checksum_text if checksum_text is not None else (
        checksum_format.format((sum(head) + checksum_delta) % 256))
    return head + f"10={cs}\x01".encode()


def parse_fields(raw: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in raw.split(SOH):
        tag, eq, value = part.partition(b"=")
        t = tag.decode("latin-1")
        if eq and t not in out:
            out[t] = value.decode("latin-1")
    return out


@dataclass
class Tally:
    """What happened on the session, apart from the application answers."""

    logons: int = 0
    logon_attempts: int = 0
    logouts_received: list[str] = field(default_factory=list)
    disconnects: int = 0
    resend_requests: int = 0  # the acceptor's
    resends_asked: int = 0  # ours
    test_requests: int = 0


class RawSession:
    def __init__(self, port: int, begin: str, sender: str, target: str = "TAPE",
                 host: str = "127.0.0.1", heartbeat_s: int = 30) -> None:
        self.addr = (host, port)
        self.begin = begin
        self.sender = sender
        self.target = target
        self.heartbeat_s = heartbeat_s
        self.next_out = 1  # our next MsgSeqNum, kept across connections as FIX requires
        self.received: list[dict[str, str]] = []  # application messages and session rejects
        self.tally = Tally()
        self.on_message: Callable[[dict[str, str]], None] | None = None
        self._send_lock = threading.Lock()
        self._cv = threading.Condition()
        self._sock: socket.socket | None = None
        self._up = False
        self._conn = 0  # connection number, so a stale reader cannot touch a new one
        self._heartbeats: set[str] = set()
        # MsgSeqNums we skipped on purpose, [from, to): what a ResendRequest may ask for
        self._skipped: list[tuple[int, int]] = []
        self._logging_out = False
        self.next_in = 1  # the MsgSeqNum we expect from the acceptor next
        self._seen_in: set[int] = set()
        self._missing: set[int] = set()
        self._asked_from = 0
        self.unexplained_resends: list[str] = []

    # ---------------------------------------------------------------- connection

    @property
    def up(self) -> bool:
        return self._up

    def logon(self, timeout: float = 20.0, garbage: bytes = b"") -> None:
        """Connect and log on (after `garbage`, which the acceptor skips up to the
        Logon's "8="); when the acceptor refuses the MsgSeqNum as too low it says
        what it expects, and we log on again with that."""
        deadline = time.monotonic() + timeout
        while True:
            n = self._connect()
            self.tally.logon_attempts += 1
            self._send_admin("A", [("98", "0"), ("108", str(self.heartbeat_s))], garbage)
            with self._cv:
                while self._conn == n and not self._up and self._sock is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise AssertionError(f"{self.sender}: no Logon answer within {timeout}s")
                    self._cv.wait(left)
                if self._up:
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.sender}: could not log on: "
                                     f"{self.tally.logouts_received[-3:]}")
            time.sleep(0.05)

    def _connect(self) -> int:
        sock = socket.create_connection(self.addr, timeout=10)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._cv:
            self._conn += 1
            n = self._conn
            self._sock = sock
            self._up = False
        threading.Thread(target=self._read, args=(sock, n), daemon=True,
                         name=f"fuzz-reader-{self.sender}-{n}").start()
        return n

    def wait_down(self, timeout: float = 20.0) -> None:
        """Until the acceptor has ended the connection (after a Logout it sent)."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while self._sock is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{self.sender}: the gateway did not disconnect")
                self._cv.wait(left)

    def close(self) -> None:
        with self._cv:
            sock, self._sock, self._up = self._sock, None, False
            self._conn += 1
        if sock is not None:
            sock.close()

    # ---------------------------------------------------------------- sending

    def header(self, msg_type: str, seq: int, sending_time: str | None = None
               ) -> list[tuple[str, str | bytes]]:
        return [("35", msg_type), ("49", self.sender), ("56", self.target), ("34", str(seq)),
                ("52", sending_time or utc_now())]

    def _send_admin(self, msg_type: str, body: list[tuple[str, str | bytes]],
                    prefix: bytes = b"") -> None:
        with self._send_lock:
            s = self.next_out
            self._write(prefix + frame(self.begin, self.header(msg_type, s) + body))
            self.next_out = s + 1

    def logout(self) -> None:
        """Log out (the acceptor answers with a Logout and disconnects)."""
        self._logging_out = True
        try:
            self._send_admin("5", [])
            self.wait_down()
        finally:
            self._logging_out = False

    def before_logon(self, data: bytes) -> None:
        """A new connection that starts with `data` instead of a Logon: FIX has the
        acceptor drop it. Returns once it has."""
        self._connect()
        self._write(data)
        self.wait_down()

    def send(self, build: Callable[[int], bytes], counted: bool, seq_offset: int = 0) -> int:
        """Write `build(MsgSeqNum)`; the MsgSeqNum advances past it if the acceptor counts
        it. Returns the MsgSeqNum used."""
        with self._send_lock:
            s = self.next_out + seq_offset
            if seq_offset > 0:
                self._skipped.append((self.next_out, s))
            self._write(build(s))
            if counted:
                self.next_out = s + 1
            return s

    def _write(self, data: bytes) -> None:
        sock = self._sock
        if sock is None:
            raise ConnectionError(f"{self.sender}: not connected")
        sock.sendall(data)

    def sync(self, timeout: float = 30.0) -> None:
        """A TestRequest and its Heartbeat: the acceptor has processed all sent before."""
        ident = f"SYNC-{self.next_out}-{time.monotonic_ns()}"
        self._send_admin("1", [("112", ident)])
        deadline = time.monotonic() + timeout
        with self._cv:
            while ident not in self._heartbeats:
                left = deadline - time.monotonic()
                if left <= 0 or self._sock is None:
                    raise AssertionError(f"{self.sender}: no Heartbeat for {ident} "
                                         f"(connected: {self._sock is not None})")
                self._cv.wait(min(left, 1.0))
            self._heartbeats.discard(ident)

    def wait_for(self, pred: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cv:
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{self.sender}: timed out waiting for {what}")
                self._cv.wait(min(left, 0.5))

    # ---------------------------------------------------------------- receiving

    def _read(self, sock: socket.socket, n: int) -> None:
        buf = b""
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
                while True:
                    raw, buf = _next_message(buf)
                    if raw is None:
                        break
                    self._handle(parse_fields(raw), n)
        except OSError:
            pass
        with self._cv:
            if self._conn == n:
                self._sock = None
                self._up = False
                self.tally.disconnects += 1
            self._cv.notify_all()
        with contextlib.suppress(OSError):
            sock.close()

    def _handle(self, f: dict[str, str], n: int) -> None:
        t = f.get("35", "")
        seq = int(f["34"]) if f.get("34", "").isdigit() else 0
        with self._cv:
            if seq in self._seen_in:
                return  # a resent copy (PossDup) of what we have
            self._seen_in.add(seq)
            self._missing.discard(seq)
            if t == "4":  # the acceptor's gap fill over what it does not resend
                new_seq = int(f.get("36", "0"))
                self._missing.difference_update(range(seq, new_seq))
                self.next_in = max(self.next_in, new_seq)
                return
            if seq > self.next_in:
                self._missing.update(range(self.next_in, seq))
            self.next_in = max(self.next_in, seq + 1)
        self._dispatch(t, f, n)
        # A gap: what the acceptor sent while we were away (it keeps what it sends a
        # logged-off session, for a ResendRequest at the next logon). Asked for once.
        with self._cv:
            ask = min(self._missing) if self._missing and self._up else 0
            if ask == self._asked_from:
                ask = 0
            elif ask:
                self._asked_from = ask
                self.tally.resends_asked += 1
        if ask:
            self._send_admin("2", [("7", str(ask)), ("16", "0")])

    def _dispatch(self, t: str, f: dict[str, str], n: int) -> None:
        if t == "0":
            with self._cv:
                if "112" in f:
                    self._heartbeats.add(f["112"])
                self._cv.notify_all()
        elif t == "1":
            with self._cv:
                self.tally.test_requests += 1
            self._send_admin("0", [("112", f.get("112", ""))])
        elif t == "2":
            # We resend nothing: a gap fill over the whole range (FIX's answer when the
            # messages are not to be resent), numbered as the first missing message.
            with self._cv:
                self.tally.resend_requests += 1
            begin_seq = int(f.get("7", "1"))
            with self._send_lock:
                new_seq = next((hi for lo, hi in self._skipped if lo <= begin_seq < hi), None)
                if new_seq is None:  # not a gap we made: fill up to now, and say so
                    new_seq = self.next_out
                    self.unexplained_resends.append(f"{f.get('7')}..{f.get('16')}")
                now = utc_now()
                data = frame(self.begin, [*self.header("4", begin_seq, now), ("43", "Y"),
                                          ("122", now), ("36", str(new_seq)), ("123", "Y")])
                self._write(data)
        elif t == "A":
            with self._cv:
                if self._conn == n:
                    self._up = True
                    self.tally.logons += 1
                self._cv.notify_all()
        elif t == "5":
            text = f.get("58", "")
            m = _EXPECTING.search(text)
            with self._cv:
                was_up = self._up
            if was_up and not self._logging_out:  # FIX: answer a Logout with a Logout
                with contextlib.suppress(OSError):
                    self._send_admin("5", [])
            with self._cv:
                self.tally.logouts_received.append(text)
                self._up = False
                if m and "too low" in text:  # the acceptor says what it expects
                    with self._send_lock:
                        self.next_out = int(m.group(1))
                self._cv.notify_all()
        else:
            with self._cv:
                self.received.append(f)
                self._cv.notify_all()
            if self.on_message is not None:
                self.on_message(f)


def _next_message(buf: bytes) -> tuple[bytes | None, bytes]:
    """The first whole message of `buf` (by BodyLength) and the rest; (None, buf) if
    there is none yet. The gateway sends only well-formed messages."""
    start = buf.find(b"8=")
    if start < 0:
        return None, buf
    i = buf.find(b"\x019=", start)
    if i < 0:
        return None, buf
    j = buf.find(SOH, i + 3)
    if j < 0:
        return None, buf
    end = j + 1 + int(buf[i + 3:j]) + 7  # the body, then "10=nnn\x01"
    if len(buf) < end:
        return None, buf
    return buf[start:end], buf[end:]
