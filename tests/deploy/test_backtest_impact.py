"""The market impact model's size effect on a recorded day (2013-10-08): a VWAP buy of
1% of AIG's ADV and one of 10% of IBM's, each in a symbol of its own (the impact of
one order would otherwise move the other's prices), the same day with the impact
model on and off.

What the square-root law says (`fix_gateways.venue_sim.impact`): an order of Q shares
traded through the day carries, at each fill, the permanent part theta Y sigma
sqrt(q / V) of what it has done so far (q grows to Q; over fills spread with the
volume that averages 2/3 of its final value) plus a small transient part. So the
impact part of the shortfall is about (2/3) theta Y sigma sqrt(Q / V), and ten times
the size costs about sqrt(10) times as much per share. Against the interval VWAP
the impact barely shows: the benchmark's prints moved with us.

Two days run at once (two processes on a 2-core machine): about a minute.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fix_gateways.venue_sim.impact import ImpactParams, daily_sigma
from refdata.load import load

DATE = "2013-10-08"
ORDERS = """time,client,cl_ord_id,symbol,side,qty
09:00,GAMMA,AIG-1PCT,AIG,buy,77400
09:00,GAMMA,IBM-10PCT,IBM,buy,345700
"""


def _run(out: Path, orders: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    return subprocess.Popen(
        [sys.executable, "-m", "deploy", "backtest", "--date", DATE, "--orders", str(orders),
         "--out", str(out), "--json", "--no-plots", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("impact")
    orders = root / "orders.csv"
    orders.write_text(ORDERS)
    procs = {"on": _run(root / "on", orders), "off": _run(root / "off", orders, "--no-impact")}
    out: dict[str, Any] = {"root": root}
    for name, p in procs.items():
        stdout, stderr = p.communicate(timeout=900)
        assert p.returncode == 0, stderr[-2000:]
        out[name] = {o["order_id"]: o for o in json.loads(stdout)["orders"]}
    return out


def _by_client_id(orders: dict[str, Any]) -> dict[str, Any]:
    return {o["cl_ord_id"]: o for o in orders.values()}


def test_both_orders_complete_on_both_days(runs: dict[str, Any]) -> None:
    for name in ("on", "off"):
        for o in runs[name].values():
            assert o["done_shares"] == o["qty_shares"], (name, o["cl_ord_id"])


def test_the_impact_part_follows_the_square_root_law(runs: dict[str, Any]) -> None:
    rd = load(runs["root"] / "on" / "refdata")
    p = ImpactParams()
    on, off = _by_client_id(runs["on"]), _by_client_id(runs["off"])
    per_root_adv = {}
    for cl, sym in (("AIG-1PCT", "AIG"), ("IBM-10PCT", "IBM")):
        st = rd.stats(rd.by_name(sym).id)
        q = on[cl]["qty_shares"]
        peak_bps = 10_000 * p.y * daily_sigma(st.volatility) * math.sqrt(q / st.adv)
        permanent_bps = 2 / 3 * p.permanent * peak_bps
        impact = on[cl]["is_impact_bps"]
        # the permanent part's average, plus a transient part that is a small share
        assert permanent_bps <= impact <= 1.25 * permanent_bps, (cl, impact, permanent_bps)
        assert off[cl]["is_impact_bps"] == 0.0
        # the shortfall grew by the impact (the market's own moves are the same days')
        grew = on[cl]["is_bps"] - off[cl]["is_bps"]
        assert grew == pytest.approx(impact, abs=0.25 * impact), cl
        per_root_adv[cl] = impact / (10_000 * p.y * daily_sigma(st.volatility))
    # per unit of Y sigma: ten times the share of ADV costs about sqrt(10) times more
    ratio = per_root_adv["IBM-10PCT"] / per_root_adv["AIG-1PCT"]
    assert 0.8 * math.sqrt(10) < ratio < 1.25 * math.sqrt(10), ratio


def test_one_percent_of_adv_barely_moves_against_the_interval_vwap(
        runs: dict[str, Any]) -> None:
    on, off = _by_client_id(runs["on"]), _by_client_id(runs["off"])
    small = on["AIG-1PCT"]["slippage_bps"] - off["AIG-1PCT"]["slippage_bps"]
    assert abs(small) < 1.0, small
    # while its shortfall against arrival grew by several basis points
    assert on["AIG-1PCT"]["is_bps"] - off["AIG-1PCT"]["is_bps"] > 3.0
    # and the 10% order paid measurably more than the 1% one
    assert (on["IBM-10PCT"]["is_bps"] - off["IBM-10PCT"]["is_bps"]
            > 2 * (on["AIG-1PCT"]["is_bps"] - off["AIG-1PCT"]["is_bps"]))
