"""The blotter's server: the day's stream in, batched row updates out, actions back in.

One asyncio loop (uvicorn's) runs everything:
- the feed (`Blotter.feed`) reads the day's journal in chunks, folds the frames
  into the shared `Model`, and every `FLUSH_EVERY_S` sends each live page the
  rows changed since (one JSON `update`); a `RowThrottle` holds back a row sent
  less than `batch_ms` ago, so a row travels at most 1000/batch_ms times a second
  however fast it changes, while a quiet row's change goes out at once;
- each page has a `Page`: its WebSocket, a queue and a writer task. A page
  too slow to keep up is not waited for: when its queue is long it is dropped
  and sent the whole picture again once it drains (`resync`);
- a page that seeks (`--at`, the time slider) gets a `Timeline` of its own,
  folded from the start in a worker thread; going back to live drops it;
- actions are checked (`actions.parse`), sequenced from the blotter's own
  source through the day's Aeron publication, and answered once their frame
  is on the journal (with any Alert the apps raised about them).
Security: every page and action needs a session (auth.Sessions); the
WebSocket needs the page's own origin; actions need the operator role,
whatever the page sends; every action, taken or refused, is logged to
`DAY/blotter/actions.jsonl` and the server's log.
"""

# determinism: edge module, a web server: wall-clock time, threads, sockets and files

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gc
import hmac
import json
import os
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from blotter import actions
from blotter.auth import Session, Sessions, User, bearer, check
from blotter.model import TABLES, Model, names_from_refdata
from sequencer import sources
from sequencer.frames import HEADER
from sequencer.journal import JournalReader
from sequencer.messages import Message

log = structlog.get_logger("blotter")

WEB = Path(__file__).parent / "web"
VENDOR = WEB / "node_modules" / "ag-grid-community" / "dist" / "ag-grid-community.min.js"
STATIC = {"app.js": "text/javascript", "app.css": "text/css"}
CHUNK_ROWS = 5_000  # rows per `rows` message of a full picture
READ_FRAMES = 5_000  # frames folded between two looks at the loop (keeps pages answered)
MAX_BACKLOG = 64  # queued messages after which a page is resynced instead
ACTION_WAIT_S = 5.0  # for an action's frame to reach the journal
ALERT_WAIT_S = 0.5  # then for the apps' word on it
FLUSH_EVERY_S = 0.05  # how often changed rows are looked for (each row: per batch_ms)
CLOCK_EVERY_S = 1.0  # an update with only the clock, when nothing else changed
_encoder = msgspec.json.Encoder()


def _encode(obj: object) -> str:
    return _encoder.encode(obj).decode()

_seq_of = HEADER.unpack_from


class BlotterError(RuntimeError):
    """The blotter cannot start (no journal, the page not built, a port in use)."""


def _seq(raw: bytes) -> int:
    return int(_seq_of(raw)[2])


class Timeline:
    """A `Model` fed from the day's journal, to its end (following it) or to `until`."""

    def __init__(self, day: Path, stale_s: float, until: int | None = None) -> None:
        self.day = day
        self.until = until
        self.model = Model(stale_s=stale_s, refdata_loader=names_from_refdata(day))
        self._reader: JournalReader | None = None
        self._held: list[bytes] = []  # read past `until`

    def pump(self, max_frames: int = READ_FRAMES) -> int:
        """Fold up to `max_frames` more frames; how many (0: at the end, or at `until`)."""
        if self.until is not None and self.model.seq >= self.until:
            return 0
        if self._reader is None:
            if not (self.day / "journal").exists():
                return 0
            self._reader = JournalReader(self.day / "journal", self.model.seq + 1)
        raws = self._held or self._reader.read_raw(max_frames)
        self._held = []
        if self.until is not None and raws and _seq(raws[-1]) > self.until:
            # frames past the point are held for a later, further `until`
            cut = next(i for i, r in enumerate(raws) if _seq(r) > self.until)
            raws, self._held = raws[:cut], raws[cut:]
        self.model.take(raws)
        # The model is millions of long-lived objects with no cycles among them;
        # left to the collector, each full collection walks them all (over a second
        # at 2M frames, stalling every page). Freezing moves what is alive now out of
        # its reach; rows still die by reference count. O(1): it splices lists.
        gc.freeze()
        return len(raws)

    def pump_all(self) -> None:
        while self.pump(50_000):
            pass
        self.model.tick()

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()


@dataclass(eq=False)
class Page:
    """One connected page."""

    ws: WebSocket
    session: Session
    queue: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    own: Timeline | None = None  # the page's own timeline while it looks at the past
    chart: str | None = None  # the order whose chart it follows
    resync: bool = False  # dropped for falling behind: the whole picture once it drains
    ready: bool = False  # has had its first whole picture

    def send(self, text: str) -> None:
        if self.queue.qsize() >= MAX_BACKLOG:
            while not self.queue.empty():
                self.queue.get_nowait()
            self.resync = True
            return
        self.queue.put_nowait(text)


class RowThrottle:
    """A row at most once a window: what changed goes out now unless it went out less
    than `window_s` ago, in which case it waits for its window's end and goes out then
    in its state at that moment (once, however often it changed meanwhile)."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._sent: dict[tuple[str, str], float] = {}  # (table, id) -> when last sent
        self._log: deque[tuple[float, list[tuple[str, str]]]] = deque()  # oldest first
        self._held: dict[tuple[str, str], None] = {}

    def due(self, changes: dict[str, list[Any]], tables: dict[str, dict[str, Any]],
            now: float) -> dict[str, list[Any]]:
        """Of `changes` (rows by table) and the rows held before, those to send at
        `now`; `tables` gives a held row's current state."""
        out: dict[str, list[Any]] = {}
        released: list[tuple[str, str]] = []
        horizon = now - self.window_s
        while self._log and self._log[0][0] <= horizon:
            at, keys = self._log.popleft()
            for k in keys:
                if self._sent.get(k) == at:
                    del self._sent[k]
                    if k in self._held:
                        del self._held[k]
                        released.append(k)
        sent: list[tuple[str, str]] = []
        for table, ident in released:
            row = tables[table].get(ident)
            if row is not None:
                out.setdefault(table, []).append(row)
                sent.append((table, ident))
        for table, rows in changes.items():
            for row in rows:
                k = (table, row.id)
                if k in self._sent:
                    self._held[k] = None
                else:
                    out.setdefault(table, []).append(row)
                    sent.append(k)
        for k in sent:
            self._sent[k] = now
        if sent:
            self._log.append((now, sent))
        return out

    def next_due(self) -> float:
        """When the oldest window ends (a held row may be due then); inf if none."""
        return self._log[0][0] + self.window_s if self._held and self._log else float("inf")


class Blotter:
    """The server's state: the day's live timeline, the pages, the action publisher."""

    def __init__(self, day: Path, users: dict[str, User], *, at: int | None = None,
                 batch_ms: int = 250, stale_s: float = 5.0,
                 allow_origins: tuple[str, ...] = ()) -> None:
        self.day = Path(day)
        self.users = users
        self.sessions = Sessions(users, Sessions.secret_in(self.day / "blotter"))
        self.at = at
        self.batch_s = batch_ms / 1000
        self.throttle = RowThrottle(self.batch_s)
        self.stale_s = stale_s
        self.allow_origins = allow_origins
        self.live = Timeline(self.day, stale_s, until=at)
        self.live.model.own_source = sources.BLOTTER
        self.pages: set[Page] = set()
        self.caught_up = asyncio.Event()
        self._pub: Any = None
        self._pub_lock = asyncio.Lock()
        self._lock_fd: int | None = None
        self._waiting: dict[int, asyncio.Future[int]] = {}  # source seq -> its frame's seq
        self._stop = False
        self.audit = self.day / "blotter" / "actions.jsonl"

    # ------------------------------------------------------------ the feed

    @property
    def mode(self) -> str:
        if self.at is not None:
            return "replay"
        return "finished" if self.live.model.stopped else "live"

    async def feed(self) -> None:
        """Follow the journal; send each batch of changes to the live pages."""
        model = self.live.model
        next_flush = time.monotonic()
        last_clock = 0.0
        try:
            while not self._stop:
                n = self.live.pump()
                if n:
                    self._resolve()
                if n == READ_FRAMES:
                    await asyncio.sleep(0)  # more to read: let the pages be answered
                    if not self.caught_up.is_set():
                        continue
                elif not self.caught_up.is_set():
                    model.tick()
                    model.discard_changes()
                    self.caught_up.set()
                    log.info("caught_up", seq=model.seq, frames=model.frames)
                now = time.monotonic()
                if now >= next_flush:
                    model.tick()
                    changes = self.throttle.due(model.changes(), model.tables, now)
                    # the next look: in FLUSH_EVERY_S, or when a held row's window ends
                    next_flush = min(now + min(FLUSH_EVERY_S, self.batch_s),
                                     self.throttle.next_due())
                    if changes or now - last_clock >= CLOCK_EVERY_S:
                        last_clock = now
                        self._broadcast(changes)
                if n < READ_FRAMES:
                    await asyncio.sleep(min(0.01, self.batch_s / 4))
        finally:
            self.live.close()

    def _update(self, model: Model, changes: dict[str, list[Any]]) -> str:
        # sent_ms (this host's wall clock) lets a page on the same host split an
        # update's lag into the server's part and the socket's and page's part.
        return _encode({"t": "update", "seq": model.seq, "ts": model.ts,
                        "last_seq": self.live.model.seq, "sent_ms": time.time() * 1000,
                        "tables": changes})

    def _broadcast(self, changes: dict[str, list[Any]]) -> None:
        model = self.live.model
        live = [p for p in self.pages if p.own is None and p.ready]
        if live:
            text = self._update(model, changes)
            for p in live:
                if p.resync and p.queue.empty():
                    p.resync = False
                    self._picture(p, model)
                    continue
                p.send(text)
                if p.chart is not None and self._chart_moved(model, p.chart):
                    p.send(self._chart(model, p.chart))
        for p in self.pages:  # pages looking at the past still see where live is
            if p.own is not None and p.ready:
                p.send(_encode({"t": "clock", "last_seq": model.seq}))
        model.charts_changed = {}

    @staticmethod
    def _chart_moved(model: Model, order_id: str) -> bool:
        if order_id in model.charts_changed:
            return True
        p = model.tables["parents"].get(order_id)
        return p is not None and p.symbol in model.charts_changed

    @staticmethod
    def _chart(model: Model, order_id: str) -> str:
        return _encode({"t": "chart", "order_id": order_id, "chart": model.chart(order_id)})

    def _picture(self, page: Page, model: Model) -> None:
        """The whole picture: `reset`, then every table in chunks."""
        page.send(_encode({"t": "reset", "seq": model.seq, "ts": model.ts,
                           "first_ts": model.first_ts, "last_seq": self.live.model.seq,
                           "mode": self.mode if page.own is None else "replay"}))
        for t in TABLES:
            rows = model.rows(t)
            for i in range(0, len(rows), CHUNK_ROWS):
                page.queue.put_nowait(_encode({"t": "rows", "table": t,
                                               "rows": rows[i:i + CHUNK_ROWS]}))
        page.queue.put_nowait(self._update(model, {}))  # the picture's end
        if page.chart is not None:
            page.send(self._chart(model, page.chart))
        page.ready = True

    # ------------------------------------------------------------ pages

    def hello(self, page: Page) -> str:
        u = page.session.user
        m = self.live.model
        return _encode({"t": "hello", "user": u.name, "role": u.role,
                        "can_act": u.can_act and self.at is None, "day": self.day.name,
                        "date": m.date, "mode": self.mode,
                        "batch_ms": int(self.batch_s * 1000), "stale_s": self.stale_s})

    async def serve_page(self, page: Page) -> None:
        writer = asyncio.create_task(self._write(page))
        self.pages.add(page)
        try:
            page.send(self.hello(page))
            await self.caught_up.wait()
            self._picture(page, self.live.model)
            while True:
                text = await page.ws.receive_text()
                await self._on_message(page, text)
        except WebSocketDisconnect:
            pass
        finally:
            self.pages.discard(page)
            writer.cancel()
            if page.own is not None:
                page.own.close()

    async def _write(self, page: Page) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, asyncio.CancelledError):
            while True:
                text = await page.queue.get()
                await page.ws.send_text(text)

    async def _on_message(self, page: Page, text: str) -> None:
        try:
            msg = json.loads(text)
        except ValueError:
            page.send(_encode({"t": "error", "text": "not JSON"}))
            return
        kind = msg.get("t") if isinstance(msg, dict) else None
        model = page.own.model if page.own is not None else self.live.model
        if kind == "seek":
            await self._seek(page, msg.get("seq"))
        elif kind == "events" and isinstance(msg.get("child_id"), str):
            page.send(_encode({"t": "events", "child_id": msg["child_id"],
                               "events": [msgspec.structs.asdict(e) for e in
                                          model.child_events(msg["child_id"])]}))
        elif kind == "chart":
            oid = msg.get("order_id")
            page.chart = oid if isinstance(oid, str) else None
            if page.chart is not None:
                page.send(self._chart(model, page.chart))
        elif kind == "action":
            result = await self.act(page.session, msg)
            page.send(_encode({"t": "action_result", "id": msg.get("id"), **result}))
        else:
            page.send(_encode({"t": "error", "text": f"unknown request {kind!r}"}))

    async def _seek(self, page: Page, seq: object) -> None:
        """Show the page the day at `seq` (None: live again, or `--at`'s point)."""
        if seq is None:
            if page.own is not None:
                page.own.close()
                page.own = None
            self._picture(page, self.live.model)
            return
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            page.send(_encode({"t": "error", "text": "seek: seq must be a positive integer"}))
            return
        own = page.own
        forward = own is not None and seq >= own.model.seq
        if own is None or not forward:
            if own is not None:
                own.close()
            own = Timeline(self.day, self.stale_s, until=seq)
        else:
            own.until = seq
            own.model.discard_changes()
        page.own = own
        await asyncio.to_thread(own.pump_all)
        if forward:
            changes = own.model.changes()
            page.send(self._update(own.model, changes))
            if page.chart is not None and self._chart_moved(own.model, page.chart):
                page.send(self._chart(own.model, page.chart))
            own.model.charts_changed = {}
        else:
            own.model.discard_changes()
            self._picture(page, own.model)

    # ------------------------------------------------------------ actions

    def _audit(self, user: User | None, payload: object, ok: bool, text: str,
               seq: int | None = None) -> None:
        rec = {"wall_ns": time.time_ns(), "user": user.name if user else None,
               "role": user.role if user else None, "ok": ok, "text": text, "seq": seq,
               "action": payload if isinstance(payload, dict) else repr(payload)[:200]}
        (log.info if ok else log.warning)("action" if ok else "action_refused",
                                          user=rec["user"], role=rec["role"], why=text,
                                          action=str(rec["action"])[:200], seq=seq)
        try:
            self.audit.parent.mkdir(parents=True, exist_ok=True)
            with self.audit.open("a") as f:
                f.write(json.dumps(rec, sort_keys=True, default=str) + "\n")
        except OSError as e:
            log.warning("audit_not_written", error=str(e))

    async def act(self, session: Session | None, payload: object) -> dict[str, Any]:
        """Carry out an action for `session`'s user; {ok, text, seq}."""
        user = session.user if session is not None else None
        if user is None:
            self._audit(None, payload, False, "not signed in")
            return {"ok": False, "text": "refused: not signed in", "seq": None}
        if not user.can_act:
            self._audit(user, payload, False, "viewer")
            return {"ok": False, "text": f"refused: {user.name} is a viewer; actions need "
                    "the operator role", "seq": None}
        if self.at is not None:
            self._audit(user, payload, False, "past day")
            return {"ok": False, "text": "refused: this blotter shows the day at a past "
                    "point (--at); actions need a live blotter", "seq": None}
        if self.live.model.stopped:
            self._audit(user, payload, False, "day stopped")
            return {"ok": False, "text": "refused: the day has stopped", "seq": None}
        try:
            msg = actions.parse(payload, user.name)
        except actions.ActionError as e:
            self._audit(user, payload, False, str(e))
            return {"ok": False, "text": f"refused: {e}", "seq": None}
        try:
            async with self._pub_lock:
                sseq = await asyncio.to_thread(self._publish, msg)
                fut = self._waiting[sseq] = asyncio.get_running_loop().create_future()
            self._resolve()
            seq = await asyncio.wait_for(fut, ACTION_WAIT_S)
        except (OSError, RuntimeError, ValueError, TimeoutError) as e:
            text = f"not sequenced: {e or 'no answer from the sequencer'}"
            self._audit(user, payload, False, text)
            return {"ok": False, "text": text, "seq": None}
        await asyncio.sleep(ALERT_WAIT_S)
        said = self.live.model.caused.pop(seq, [])
        refused = [t for sev, code, t in said if code.startswith("bad_")]
        text = (f"refused by the OMS: {refused[0]}" if refused
                else "; ".join(t for _s, _c, t in said) or "sequenced")
        self._audit(user, payload, not refused, text, seq)
        return {"ok": not refused, "text": text, "seq": seq}

    def _publish(self, msg: Message) -> int:
        """Offer one admin command as the blotter's source (in a worker thread)."""
        from sequencer.config import TransportConfig
        from sequencer.runtime.runner import recorded_outputs
        from sequencer.transport import StreamPublisher, connect

        if self._pub is None:
            self._take_source()
            cfg = TransportConfig.for_day(self.day)
            aeron = connect(cfg, timeout_s=2.0)
            self._pub = StreamPublisher(aeron, cfg, sources.BLOTTER,
                                        recorded_outputs(self.day, sources.BLOTTER) + 1,
                                        wait_connected_s=2.0)
        sseq: int = self._pub.publish(msg, timeout_s=2.0)
        return sseq

    def _take_source(self) -> None:
        """One blotter per day publishes: two would number the source's messages twice,
        and the sequencer would drop the second one's as duplicates."""
        path = self.day / "blotter" / "publisher.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = path.read_text().strip() or "another process"
            raise RuntimeError(f"another blotter ({holder}) takes this day's actions") \
                from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}".encode())
        self._lock_fd = fd

    def _resolve(self) -> None:
        """Answer the actions whose frames the feed has read."""
        seen = self.live.model.own_seen
        for sseq in [s for s in self._waiting if s in seen]:
            fut = self._waiting.pop(sseq)
            if not fut.done():
                fut.set_result(seen.pop(sseq))

    def stop(self) -> None:
        self._stop = True
        if self._pub is not None:
            with contextlib.suppress(Exception):
                self._pub.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)


# ---------------------------------------------------------------------------- HTTP

_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data:; font-src 'self' data:; "
                               "connect-src 'self'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def make_app(b: Blotter) -> Starlette:
    """The blotter's ASGI app around `b`."""
    if not VENDOR.exists():
        raise BlotterError(f"{VENDOR}: AG Grid is not installed; run `make` (it runs npm "
                           "ci in blotter/web)")

    def session_of(request: Request | WebSocket) -> Session | None:
        return b.sessions.get(request.cookies.get(Sessions.COOKIE), time.time())

    async def index(request: Request) -> Response:
        return FileResponse(WEB / "index.html", headers=_HEADERS)

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:
            return Response("not found", 404)
        return FileResponse(WEB / name, media_type=STATIC[name], headers=_HEADERS)

    async def vendor(request: Request) -> Response:
        return FileResponse(VENDOR, media_type="text/javascript", headers=_HEADERS)

    async def body_of(request: Request) -> Any:
        try:
            return await request.json()
        except ValueError:
            return None

    async def login(request: Request) -> Response:
        body = await body_of(request)
        name = body.get("user") if isinstance(body, dict) else None
        token = body.get("token") if isinstance(body, dict) else None
        if not (isinstance(name, str) and isinstance(token, str)):
            return JSONResponse({"error": "expected {\"user\": ..., \"token\": ...}"}, 400)
        user = check(b.users, name, token)
        if user is None:
            log.warning("login_refused", user=name[:64], client=_peer(request))
            return JSONResponse({"error": "unknown user or wrong token"}, 401)
        s = b.sessions.open(user, time.time())
        log.info("login", user=user.name, role=user.role, client=_peer(request))
        r = JSONResponse({"user": user.name, "role": user.role, "csrf": s.csrf})
        r.set_cookie(Sessions.COOKIE, s.sid, max_age=Sessions.MAX_AGE_S, httponly=True,
                     samesite="strict", path="/")
        return r

    async def logout(request: Request) -> Response:
        b.sessions.close(request.cookies.get(Sessions.COOKIE))
        r = JSONResponse({"ok": True})
        r.delete_cookie(Sessions.COOKIE, path="/")
        return r

    async def me(request: Request) -> Response:
        s = session_of(request)
        if s is None:
            return JSONResponse({"error": "not signed in"}, 401)
        return JSONResponse({"user": s.user.name, "role": s.user.role, "csrf": s.csrf,
                             "can_act": s.user.can_act and b.at is None})

    async def action(request: Request) -> Response:
        body = await body_of(request)
        auth = request.headers.get("authorization", "")
        session: Session | None = None
        if auth.lower().startswith("bearer "):
            user = bearer(b.users, auth[7:].strip())
            if user is not None:
                session = Session(user, "", "")
        else:
            s = session_of(request)
            csrf = request.headers.get("x-tape-csrf", "")
            if s is not None and hmac.compare_digest(csrf.encode(), s.csrf.encode()):
                session = s
            elif s is not None:
                b._audit(s.user, body, False, "missing or wrong X-Tape-CSRF")
                return JSONResponse({"ok": False, "text": "refused: missing or wrong "
                                     "X-Tape-CSRF header"}, 403)
        if session is None:
            b._audit(None, body, False, "not signed in")
            return JSONResponse({"ok": False, "text": "refused: not signed in"}, 401)
        result = await b.act(session, body)
        status = 200 if result["ok"] else (403 if "viewer" in result["text"] else 400)
        return JSONResponse(result, status)

    async def ws_endpoint(ws: WebSocket) -> None:
        origin = ws.headers.get("origin", "")
        host = ws.headers.get("host", "")
        if origin not in (f"http://{host}", f"https://{host}", *b.allow_origins):
            log.warning("ws_refused", why="origin", origin=origin[:100], host=host[:100])
            await ws.close(code=1008)
            return
        s = session_of(ws)
        if s is None:
            log.warning("ws_refused", why="not signed in", origin=origin[:100])
            await ws.close(code=1008)
            return
        await ws.accept()
        page = Page(ws=ws, session=s)
        try:
            await b.serve_page(page)
        finally:
            if ws.client_state == WebSocketState.CONNECTED:
                with contextlib.suppress(RuntimeError):
                    await ws.close()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(b.feed())
        try:
            yield
        finally:
            b.stop()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return Starlette(routes=[
        Route("/", index, methods=["GET"]),
        Route("/static/{name}", static, methods=["GET"]),
        Route("/vendor/ag-grid-community.min.js", vendor, methods=["GET"]),
        Route("/api/login", login, methods=["POST"]),
        Route("/api/logout", logout, methods=["POST"]),
        Route("/api/me", me, methods=["GET"]),
        Route("/api/action", action, methods=["POST"]),
        WebSocketRoute("/ws", ws_endpoint),
    ], lifespan=lifespan)


def _peer(request: Request) -> str:
    return f"{request.client.host}:{request.client.port}" if request.client else "?"
