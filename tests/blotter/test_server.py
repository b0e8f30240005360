"""The blotter's server without a browser: sign-in, the WebSocket's guards, batching,
late join, a restart, the time slider, and actions (refused, forged, taken).

The day is the real OMS on the stream kit (`KitDay`), its journal growing while the
server follows it. Actions go through the server's whole path; only the last step,
Aeron's publication, is the kit's `send` from the blotter's source (the browser test
in test_browser.py takes the real path on a real day)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from blotter.auth import Sessions, add_user, load_users
from blotter.server import Blotter, make_app
from sequencer import sources
from sequencer.journal import read_all
from sequencer.messages import decode
from sequencer.messages.admin import CancelParent
from sequencer.messages.executions import ExecutionReport
from sequencer.messages.orders import NewChild
from tests.post_trade.daykit import KitDay

ORIGIN = {"origin": "http://testserver"}


class Day:
    """A growing day, its users and a blotter server on it."""

    def __init__(self, tmp: Path) -> None:
        self.path = tmp / "day"
        self.kit = KitDay(self.path)
        self.lock = threading.Lock()
        self.users = tmp / "users.toml"
        self.tokens = {"alice": add_user(self.users, "alice", "operator"),
                       "bob": add_user(self.users, "bob", "viewer")}
        self.open_order = self.kit.order("ALPHA", "O-1", "buy", 1_000, 183_0000)
        self.kit.flush()

    def publish(self, msg: Any) -> int:
        """The kit in Aeron's place: the command sequenced from the blotter's source."""
        with self.lock:
            self.kit.send(msg, sources.BLOTTER)
            self.kit.flush()
            return self.kit.source_seqs[sources.BLOTTER]

    def server(self, **kw: Any) -> tuple[Blotter, TestClient]:
        b = Blotter(self.path, load_users(self.users), batch_ms=kw.pop("batch_ms", 50), **kw)
        b._publish = self.publish  # type: ignore[method-assign]  # Aeron's last step
        return b, TestClient(make_app(b), base_url="http://testserver")

    def login(self, c: TestClient, user: str) -> dict[str, Any]:
        r = c.post("/api/login", json={"user": user, "token": self.tokens[user]})
        assert r.status_code == 200, r.text
        return dict(r.json())


@pytest.fixture
def day(tmp_path: Path) -> Iterator[Day]:
    d = Day(tmp_path)
    yield d
    d.kit.close()


def until(ws: Any, pred: Any, limit: int = 500) -> list[dict[str, Any]]:
    """Messages received until one satisfies `pred` (that one last)."""
    got = []
    for _ in range(limit):
        m = ws.receive_json()
        got.append(m)
        if pred(m):
            return got
    raise AssertionError(f"not seen in {limit} messages: {got[-3:]}")


def picture(ws: Any) -> dict[str, list[dict[str, Any]]]:
    """hello, reset, rows...: the tables of the whole picture."""
    msgs = until(ws, lambda m: m["t"] == "update")
    assert [m["t"] for m in msgs[:2]] == ["hello", "reset"]
    tables: dict[str, list[dict[str, Any]]] = {}
    for m in msgs:
        if m["t"] == "rows":
            tables.setdefault(m["table"], []).extend(m["rows"])
    return tables


def test_sign_in_refuses_bad_or_missing_credentials(day: Day) -> None:
    _b, c = day.server()
    with c:
        assert c.get("/api/me").status_code == 401
        assert c.post("/api/login", content=b"not json").status_code == 400
        assert c.post("/api/login", json={"user": "alice"}).status_code == 400
        assert c.post("/api/login", json={"user": "alice", "token": "wrong"}).status_code == 401
        assert c.post("/api/login", json={"user": "eve", "token": "x" * 32}).status_code == 401
        assert Sessions.COOKIE not in c.cookies
        me = day.login(c, "bob")
        assert me["role"] == "viewer" and me["csrf"]
        assert c.get("/api/me").json()["user"] == "bob"
        forged = c.cookies[Sessions.COOKIE][:-3] + "abc"
        c.cookies.clear()
        c.cookies.set(Sessions.COOKIE, forged)
        assert c.get("/api/me").status_code == 401
    log = (day.path / "logs" / "blotter.log")
    assert not log.exists() or "wrong" not in log.read_text()  # tokens are never logged


def test_websocket_needs_a_session_and_the_pages_origin(day: Day) -> None:
    _b, c = day.server()
    with c:
        with pytest.raises(WebSocketDisconnect) as e, c.websocket_connect("/ws", headers=ORIGIN):
            pass
        assert e.value.code == 1008
        day.login(c, "bob")
        for bad in ({"origin": "http://evil.example"}, {}):
            with pytest.raises(WebSocketDisconnect) as e, c.websocket_connect("/ws", headers=bad):
                pass
            assert e.value.code == 1008
        with c.websocket_connect("/ws", headers=ORIGIN) as ws:
            tables = picture(ws)
            assert [p["id"] for p in tables["parents"]] == [day.open_order]


def test_a_late_page_gets_the_whole_day_then_batched_updates(day: Day) -> None:
    kit = day.kit
    kit.child(day.open_order, "K1", 1_000)
    kit.flush()
    _b, c = day.server(batch_ms=300)
    with c:
        day.login(c, "alice")
        with c.websocket_connect("/ws", headers=ORIGIN) as ws:
            tables = picture(ws)
            assert [r["id"] for r in tables["children"]] == ["K1"]
            # 100 fills in a burst: the parent row travels a few times, not 100
            with day.lock:
                for _ in range(100):
                    kit.fill("K1", 10, 182_0000)
                kit.flush()
            seen: list[dict[str, Any]] = []

            def done(m: dict[str, Any]) -> bool:
                if m["t"] == "update":
                    seen.extend(p for p in m["tables"].get("parents", ()))
                return bool(seen) and seen[-1]["status"] == "filled"

            until(ws, done)
            assert 1 <= len(seen) <= 5, len(seen)
            assert seen[-1]["filled"] == 1_000 and seen[-1]["avg_px"] == 182.0


def test_a_page_carries_on_after_the_server_restarts(day: Day) -> None:
    _b, c = day.server()
    with c:
        day.login(c, "bob")
        with c.websocket_connect("/ws", headers=ORIGIN) as ws:
            picture(ws)
    cookie = c.cookies[Sessions.COOKIE]
    with day.lock:
        second = day.kit.order("BETA", "B-9", "sell", 500, 181_0000)
        day.kit.flush()
    _b2, c2 = day.server()  # a new process: no memory of the first
    with c2:
        c2.cookies.set(Sessions.COOKIE, cookie)  # what the browser still holds
        assert c2.get("/api/me").json()["user"] == "bob"
        with c2.websocket_connect("/ws", headers=ORIGIN) as ws:
            ids = {p["id"] for p in picture(ws)["parents"]}
            assert ids == {day.open_order, second}


def test_a_viewer_is_refused_every_action_and_it_is_logged(day: Day) -> None:
    b, c = day.server()
    with c:
        me = day.login(c, "bob")
        with c.websocket_connect("/ws", headers=ORIGIN) as ws:
            picture(ws)
            ws.send_json({"t": "action", "id": "a1", "action": "cancel_parent",
                          "order_id": day.open_order})
            r = until(ws, lambda m: m["t"] == "action_result")[-1]
            assert r["id"] == "a1" and not r["ok"] and "viewer" in r["text"]
        r2 = c.post("/api/action", json={"action": "engage_kill", "scope": "all"},
                    headers={"x-tape-csrf": me["csrf"]})
        assert r2.status_code == 403 and not r2.json()["ok"]
        r3 = c.post("/api/action", json={"action": "engage_kill", "scope": "all"},
                    headers={"authorization": f"Bearer {day.tokens['bob']}"})
        assert r3.status_code == 403
    audit = [json.loads(x) for x in b.audit.read_text().splitlines()]
    assert [(a["user"], a["ok"]) for a in audit] == [("bob", False)] * 3
    assert not _from_blotter(day.path)


def test_forged_or_malformed_actions_are_refused(day: Day) -> None:
    b, c = day.server()
    with c:
        me = day.login(c, "alice")
        assert c.get("/api/action").status_code == 405  # never over a plain GET
        r = c.post("/api/action", json={"action": "cancel_parent", "order_id": "X"})
        assert r.status_code == 403  # a session without its CSRF header
        with c.websocket_connect("/ws", headers=ORIGIN) as ws:
            picture(ws)
            forged: list[dict[str, object]] = [
                {"action": "cancel_parent", "order_id": day.open_order, "user": "bob"},
                {"action": "rm_rf"},
                {"action": "engage_kill", "scope": "planet"},
                {"action": "engage_kill", "scope": "client"},
                {"action": "set_risk_limit", "scope": "*", "limit": "infinite", "value": "1"},
                {"action": "cancel_parent", "order_id": 42},
                {"action": "cancel_parent", "order_id": "x\u0000y"},
            ]
            for i, f in enumerate(forged):
                ws.send_json({"t": "action", "id": f"f{i}"} | f)
                res = until(ws, lambda m: m["t"] == "action_result")[-1]
                assert res["id"] == f"f{i}" and not res["ok"], res
                assert res["text"].startswith("refused"), res
            ws.send_text("{not json")
            assert until(ws, lambda m: m["t"] == "error")[-1]["text"] == "not JSON"
        assert c.post("/api/action", content=b"[]", headers={"x-tape-csrf": me["csrf"]}
                      ).status_code == 400
    assert not _from_blotter(day.path)
    audit = [json.loads(x) for x in b.audit.read_text().splitlines()]
    assert len(audit) == 9 and not any(a["ok"] for a in audit)
    assert "user" in audit[1]["text"]


def test_an_operator_cancels_an_order_through_the_stream(day: Day) -> None:
    _b, c = day.server()
    with c:
        day.login(c, "alice")
        with c.websocket_connect("/ws", headers=ORIGIN) as ws:
            picture(ws)
            ws.send_json({"t": "action", "id": "c1", "action": "cancel_parent",
                          "order_id": day.open_order, "reason": "client called"})
            msgs = until(ws, lambda m: m["t"] == "action_result")
            r = msgs[-1]
            assert r["ok"] and r["seq"] > 0, r
            assert f"order {day.open_order}" in r["text"]  # the OMS's word on it

            def is_canceled(m: dict[str, Any]) -> bool:
                return m["t"] == "update" and any(
                    p["status"] == "canceled" for p in m["tables"].get("parents", ()))

            if not any(is_canceled(m) for m in msgs):
                until(ws, is_canceled)
            # a second cancel: the OMS says it is not open, and the page hears it
            ws.send_json({"t": "action", "id": "c2", "action": "cancel_parent",
                          "order_id": day.open_order})
            r2 = until(ws, lambda m: m["t"] == "action_result")[-1]
            assert not r2["ok"] and "refused by the OMS" in r2["text"]
        # a script with a bearer token
        r3 = c.post("/api/action", json={"action": "release_kill", "scope": "all"},
                    headers={"authorization": f"Bearer {day.tokens['alice']}"})
        assert r3.status_code == 400 and "no kill switch" in r3.json()["text"]
    cmds = _from_blotter(day.path)
    assert [type(m).__name__ for m in cmds] == ["CancelParent", "CancelParent",
                                                "ReleaseKillSwitch"]
    assert cmds[0] == CancelParent(order_id=day.open_order, reason="client called",
                                   user="alice")
    reports = [decode(f.type_id, f.payload) for f in read_all(day.path / "journal")
               if f.source_id == sources.OMS]
    canceled = [m for m in reports if isinstance(m, ExecutionReport)
                and m.order_id == day.open_order and m.exec_type == "canceled"]
    assert len(canceled) == 1 and "client called" in canceled[0].text


def test_the_slider_shows_the_day_as_it_stood(day: Day) -> None:
    with day.lock:
        day.kit.send(NewChild(parent_id=day.open_order, child_id="K1", venue="XNYS", qty=100,
                              ord_type="limit", limit_px=182_0000), sources.ALGO)
        day.kit.flush()
    sent = next(f.seq for f in read_all(day.path / "journal") if f.source_id == sources.OMS
                and type(decode(f.type_id, f.payload)).__name__ == "ChildOrderSent")
    _b, c = day.server()
    with c:
        day.login(c, "bob")
        with c.websocket_connect("/ws", headers=ORIGIN) as ws:
            assert picture(ws)["children"]
            ws.send_json({"t": "seek", "seq": sent - 1})
            msgs = until(ws, lambda m: m["t"] == "update")
            reset = next(m for m in msgs if m["t"] == "reset")
            assert reset["seq"] == sent - 1 and reset["mode"] == "replay"
            assert not any(m["t"] == "rows" and m["table"] == "children" for m in msgs)
            ws.send_json({"t": "seek", "seq": sent})  # forward: only what changed
            fwd = until(ws, lambda m: m["t"] == "update")[-1]
            assert [r["id"] for r in fwd["tables"]["children"]] == ["K1"]
            ws.send_json({"t": "seek", "seq": None})
            assert picture_after_reset(ws)["children"]
            ws.send_json({"t": "seek", "seq": "soon"})
            assert until(ws, lambda m: m["t"] == "error")[-1]["text"].startswith("seek")


def test_at_a_past_seq_there_are_no_actions(day: Day) -> None:
    b, c = day.server(at=3)
    with c:
        me = day.login(c, "alice")
        assert c.get("/api/me").json()["can_act"] is False
        with c.websocket_connect("/ws", headers=ORIGIN) as ws:
            hello = ws.receive_json()
            assert hello["mode"] == "replay" and hello["can_act"] is False
        r = c.post("/api/action", json={"action": "engage_kill", "scope": "all"},
                   headers={"x-tape-csrf": me["csrf"]})
        assert not r.json()["ok"] and "--at" in r.json()["text"]
    assert b.live.model.seq == 3


def picture_after_reset(ws: Any) -> dict[str, list[dict[str, Any]]]:
    msgs = until(ws, lambda m: m["t"] == "update")
    tables: dict[str, list[dict[str, Any]]] = {}
    for m in msgs:
        if m["t"] == "rows":
            tables.setdefault(m["table"], []).extend(m["rows"])
    return tables


def _from_blotter(day: Path) -> list[Any]:
    time.sleep(0.05)
    return [decode(f.type_id, f.payload) for f in read_all(day / "journal")
            if f.source_id == sources.BLOTTER]


def test_the_row_throttle_sends_a_row_at_most_once_a_window() -> None:
    from blotter.server import RowThrottle

    @dataclass
    class R:
        id: str
        v: int

    rows = {"parents": {"P1": R("P1", 1), "P2": R("P2", 1)}}
    t = RowThrottle(0.25)
    assert t.due({"parents": [rows["parents"]["P1"]]}, rows, 0.0) == {"parents": [R("P1", 1)]}
    # P1 changes twice more inside its window: held; P2, quiet until now, goes at once
    rows["parents"]["P1"].v = 2
    assert t.due({"parents": [rows["parents"]["P1"], rows["parents"]["P2"]]}, rows, 0.05) \
        == {"parents": [R("P2", 1)]}
    rows["parents"]["P1"].v = 3
    assert t.due({"parents": [rows["parents"]["P1"]]}, rows, 0.10) == {}
    assert t.due({}, rows, 0.20) == {}
    assert t.next_due() == 0.25  # the feed looks again when P1's window ends
    # the window ends: P1 once, in its latest state
    assert t.due({}, rows, 0.25) == {"parents": [R("P1", 3)]}
    assert t.due({}, rows, 0.30) == {}
    # a row held again after its release waits for the next window, not forever
    rows["parents"]["P1"].v = 4
    assert t.due({"parents": [rows["parents"]["P1"]]}, rows, 0.35) == {}
    assert t.due({}, rows, 0.50) == {"parents": [R("P1", 4)]}
    # nothing held: a quiet row goes out on its first change
    assert t.due({}, rows, 2.0) == {}
    assert t.next_due() == float("inf")
    rows["parents"]["P1"].v = 5
    assert t.due({"parents": [rows["parents"]["P1"]]}, rows, 2.0) == {"parents": [R("P1", 5)]}
