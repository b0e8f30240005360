"""The blotter in a real browser on a real day: Debian's Chromium, driven by Playwright.

A sim day is prepared and started under supervisord with its market held back; the
blotter joins it, an operator (alice) and a viewer (bob) sign in, each in a browser
context of their own. Over real FIX sessions (`tape gateway order`), BETA sends an
order that rests and ALPHA one that waits for the market. Alice cancels BETA's order
with the page's button: the cancel is on the stream (from the blotter, naming alice)
and BETA's FIX session gets the execution report. Then the market opens, ALPHA's order
fills in the page, a rejected order shows in the alerts, and alice filters them. Bob
has no action on his page, and the action he forges over the page's own WebSocket is
refused. A screenshot of each view goes to test-output/blotter/ for review."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from blotter.auth import add_user
from blotter.bench import CHROMIUM, CHROMIUM_ARGS
from sequencer import sources
from sequencer.journal import read_all
from sequencer.messages import decode
from sequencer.messages.admin import CancelParent
from sequencer.messages.executions import ExecutionReport
from sequencer.messages.orders import ParentAccepted
from tests.conftest import REPO
from tests.deploy.daykit import DATE, DayRoot, wait_for

if TYPE_CHECKING:
    from playwright.sync_api import Locator

SHOTS = Path(os.environ.get("TAPE_TEST_OUTPUT", REPO / "test-output")) / "blotter"
VIEWS = ("parents", "children", "executions", "alerts", "sessions", "market")


@pytest.fixture
def root(tmp_path: Path) -> Iterator[DayRoot]:
    r = DayRoot(tmp_path)
    yield r
    r.cleanup()


def order(root: DayRoot, session: str, cl: str, qty: int, price: str,
          wait: float = 120) -> subprocess.Popen[str]:
    """A client's order over its real FIX session; its reports as JSON lines."""
    return subprocess.Popen(
        [sys.executable, "-m", "deploy", "gateway", "order", "--session", session,
         "--symbol", "IBM", "--side", "buy", "--qty", str(qty), "--price", price,
         "--algo", "DMA", "--venue", "XNYS", "--cl-ord-id", cl, "--wait", str(wait),
         "--json", "--config", str(root.fix)],
        cwd=REPO, env=root.env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def order_id(day: Path, cl: str) -> str:
    for f in read_all(day / "journal"):
        if f.source_id == sources.OMS:
            m = decode(f.type_id, f.payload)
            if isinstance(m, ParentAccepted) and m.cl_ord_id == cl:
                return m.order_id
    return ""


def sign_in(browser: Any, url: str, user: str, token: str) -> Any:
    page = browser.new_context(viewport={"width": 1600, "height": 1000}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    page.goto(url)
    page.fill("#login-user", user)
    page.fill("#login-token", token)
    page.click("#login-submit")
    page.wait_for_function("() => window.tapeBlotter && window.tapeBlotter.ready",
                           timeout=30_000)
    return page


def row(page: Any, view: str, text: str) -> Any:
    return page.locator(f'.panel[data-view="{view}"] .ag-row', has_text=text).first


def rows_when(panel: Locator, match: Callable[[str], bool], timeout_s: float = 15) -> list[str]:
    """The panel's row texts once there are some and every one matches (a filter is
    applied a moment after typing), or fail with what it shows."""
    deadline = time.monotonic() + timeout_s
    while True:
        texts = panel.locator(".ag-row").all_inner_texts()
        if texts and all(match(t) for t in texts):
            return texts
        if time.monotonic() > deadline:
            raise AssertionError(f"rows never all matched: {texts}")
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.timeout(900)  # a whole day of processes and a browser: minutes when loaded
def test_the_blotter_in_a_browser_on_a_real_day(root: DayRoot, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    for r in (root.tape("day", "prepare", "--date", DATE),
              root.tape("day", "start", "--date", DATE, "--hold-market")):
        assert r.returncode == 0, r.stdout + r.stderr
    users = tmp_path / "users.toml"
    tokens = {"alice": add_user(users, "alice", "operator"),
              "bob": add_user(users, "bob", "viewer")}
    server = subprocess.Popen(
        [sys.executable, "-m", "deploy", "blotter", "--day", str(root.day), "--port", "0",
         "--users", str(users)], cwd=REPO, env=root.env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    procs: list[subprocess.Popen[str]] = [server]
    try:
        assert server.stdout is not None
        url = json.loads(server.stdout.readline())["url"]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=CHROMIUM_ARGS)
            alice = sign_in(browser, url, "alice", tokens["alice"])
            bob = sign_in(browser, url, "bob", tokens["bob"])
            expect(alice.locator("#user-badge")).to_contain_text("alice (operator)")

            # BETA's order rests (no market yet); it appears in both pages
            procs.append(rest := order(root, "BETA", "B-REST", 1_000, "170.00"))
            oid = wait_for("B-REST accepted", lambda: order_id(root.day, "B-REST"), 60)
            expect(row(alice, "parents", "B-REST")).to_be_visible(timeout=15_000)
            expect(row(bob, "parents", "B-REST")).to_be_visible(timeout=15_000)

            # the viewer: no actions on the page, and a forged one is refused
            assert bob.locator("#actions-bar").count() == 0
            assert bob.locator("button.cancel-btn").count() == 0
            forged = bob.evaluate("""oid => new Promise(done => {
                const ws = new WebSocket(`ws://${location.host}/ws`);
                ws.onmessage = e => { const m = JSON.parse(e.data);
                    if (m.t === 'hello') ws.send(JSON.stringify({t: 'action', id: 'x',
                        action: 'cancel_parent', order_id: oid, user: 'alice'}));
                    if (m.t === 'action_result') { ws.close(); done(m); } };
            })""", oid)
            assert not forged["ok"] and forged["text"].startswith("refused"), forged

            # the operator cancels it with the page's button
            alice.click(f'button.cancel-btn[data-order-id="{oid}"]')
            alice.fill("#confirm-reason", "client asked by phone")
            alice.click("#confirm-ok")
            expect(alice.locator("#action-log li").first).to_contain_text(
                "cancelled by alice", timeout=20_000)
            expect(row(alice, "parents", "B-REST")).to_contain_text("canceled",
                                                                    timeout=20_000)
            out, err = rest.communicate(timeout=60)
            reports = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
            assert reports[-1]["39"] == "4" and reports[-1]["150"] == "4", out + err
            cmds = [(f.source_id, decode(f.type_id, f.payload))
                    for f in read_all(root.day / "journal")
                    if f.source_id == sources.BLOTTER]
            assert cmds == [(sources.BLOTTER, CancelParent(
                order_id=oid, reason="client asked by phone", user="alice"))]
            ers = [decode(f.type_id, f.payload) for f in read_all(root.day / "journal")
                   if f.source_id == sources.OMS]
            assert any(isinstance(m, ExecutionReport) and m.order_id == oid
                       and m.exec_type == "canceled" for m in ers)

            # ALPHA's order waits for the market, then fills in the page
            procs.append(fill := order(root, "ALPHA", "A-FILL", 500, "182.50"))
            procs.append(bad := order(root, "BETA", "B-HUGE", 300_000, "181.00"))
            expect(row(alice, "parents", "A-FILL")).to_be_visible(timeout=30_000)
            r = root.tape("day", "open-market", "--date", DATE)
            assert r.returncode == 0, r.stdout + r.stderr
            expect(row(alice, "parents", "A-FILL")).to_contain_text("filled", timeout=90_000)
            assert fill.wait(timeout=60) == 0 and bad.wait(timeout=60) == 1
            expect(row(alice, "executions", "A-FILL").or_(
                alice.locator('.panel[data-view="executions"] .ag-row').first)).to_be_visible()

            # alerts, filtered by a word and by a phrase
            alerts = alice.locator('.panel[data-view="alerts"]')
            alerts.locator(".panel-filter").fill("order rejected")  # words, in any order
            texts = rows_when(alerts, lambda t: "order" in t.lower() and "rejected" in t.lower())
            alerts.locator(".panel-filter").fill('"Order Rejected"')  # a phrase
            phrase = rows_when(alerts, lambda t: "order rejected" in t.lower())
            assert len(phrase) < len(texts)  # the watcher's order_rejected alert is out
            alerts.locator(".panel-filter").fill("ERROR")
            texts = rows_when(alerts, lambda t: "ERROR" in t)
            assert bob.locator('.panel[data-view="alerts"] .ag-row').count() > len(texts)

            # a big grid (the infinite row model, filtered and sorted by the page)
            parents = alice.locator('.panel[data-view="parents"]')
            parents.locator(".panel-filter").fill("alpha")
            rows_when(parents, lambda t: "ALPHA" in t and "BETA" not in t)
            expect(parents.locator(".panel-count")).to_have_text("1 / 2")
            parents.locator(".panel-filter").fill("")
            expect(parents.locator(".ag-row")).to_have_count(2)
            qty = parents.locator('.ag-header-cell-sortable[col-id="qty"] .ag-header-cell-label')
            qty.click()  # ascending
            expect(parents.locator('.ag-row[row-index="0"]')).to_contain_text("A-FILL")
            qty.click()  # descending
            expect(parents.locator('.ag-row[row-index="0"]')).to_contain_text("B-REST")
            parents.locator('.ag-floating-filter[col-id="client"] input').fill("bet")
            rows_when(parents, lambda t: "BETA" in t and "ALPHA" not in t)
            expect(parents.locator(".panel-count")).to_have_text("1 / 2")
            parents.locator('.ag-floating-filter[col-id="client"] input').fill("")

            # a screenshot of each view, and of an order's detail with its chart
            for view in VIEWS:
                alice.locator(f'.panel[data-view="{view}"]').first.screenshot(
                    path=str(SHOTS / f"{view}.png"))
            alice.screenshot(path=str(SHOTS / "blotter.png"), full_page=True)
            row(alice, "parents", "A-FILL").dblclick()
            expect(alice.locator("#detail")).to_be_visible()
            expect(alice.locator("#detail-chart svg")).to_be_visible(timeout=10_000)
            alice.locator("#detail").screenshot(path=str(SHOTS / "detail.png"))
            bob.screenshot(path=str(SHOTS / "viewer.png"), full_page=True)
            assert alice.errors == [] and bob.errors == []
            browser.close()
        for stage in ("eod", "stop"):
            r = root.tape("day", stage, "--date", DATE)
            assert r.returncode == 0, r.stdout + r.stderr
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
    print(f"screenshots in {SHOTS}")
