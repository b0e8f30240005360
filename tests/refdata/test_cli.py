"""`tape refdata build | show | verify` (the typer app the lead mounts as `tape refdata`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from refdata.cli import app
from refdata.load import REFDATA_FILE, digest_of
from tests.refdata.test_build import LISTINGS, fake_models, write_inputs

__all__ = ["fake_models"]  # the fixture, shared with test_build


def run(*args: str | Path) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    return write_inputs(tmp_path / "in")


@pytest.fixture
def built(tmp_path: Path, cfg: Path, fake_models: list[Any]) -> Path:
    res = run("build", "--date", "2013-10-08", "--out", tmp_path / "set", "--config", cfg,
              "--no-data")
    assert res.exit_code == 0, res.output
    return tmp_path / "set"


def test_build_prints_a_summary(tmp_path: Path, built: Path) -> None:
    res = run("build", "--date", "2013-10-08", "--out", tmp_path / "again", "--config",
              tmp_path / "in" / "refdata.toml", "--no-data")
    assert res.exit_code == 0, res.output
    digest = digest_of(tmp_path / "again")
    assert digest == digest_of(built)
    out = res.stdout
    assert "ref data for 2013-10-08" in out
    assert "symbols       3 (1 restricted)" in out
    assert "venues        3, destinations 3" in out
    assert "tables        none" in out
    assert "3 default, from the shipped default figures (no recorded data)" in out
    assert "curves        1 per symbol" in out
    assert digest in out


def test_build_json(tmp_path: Path, cfg: Path, fake_models: list[Any]) -> None:
    res = run("build", "--date", "2013-10-08", "--out", tmp_path / "set", "--config", cfg,
              "--no-data", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["digest"] == digest_of(tmp_path / "set")
    assert doc["symbols"] == 3 and doc["built_with"] == "defaults" and doc["data_dir"] is None


def test_bad_ref_data_is_usage_error_with_every_problem(tmp_path: Path,
                                                         fake_models: list[Any]) -> None:
    bad = LISTINGS.replace("XNYS,100", "XNYS,abc").replace("ARCX,100", "XXXX,100")
    cfg = write_inputs(tmp_path / "in", listings_csv=bad)
    res = run("build", "--date", "2013-10-08", "--out", tmp_path / "set", "--config", cfg,
              "--no-data")
    assert res.exit_code == 2
    assert "3 problem(s) with the ref data" in res.stderr
    assert 'listings.csv:3: column primary_venue: expected a venue of venues.csv, got "XXXX"' \
        in res.stderr
    assert 'listings.csv:4: column lot_size: expected a positive integer, got "abc"' \
        in res.stderr
    assert 'listings.csv:5: column lot_size: expected a positive integer, got "abc"' \
        in res.stderr
    assert not (tmp_path / "set").exists()


@pytest.mark.parametrize(("args", "expected"), [
    (("--date", "2013-10-32"), "--date: expected YYYY-MM-DD, got '2013-10-32'"),
    (("--date", "2013-10-08", "--data", "x", "--no-data"), "exclude each other"),
    (("--date", "2013-10-08", "--config", "absent.toml"), "absent.toml: no such config file"),
    (("--date", "2013-10-08", "--data", "absent-data"), "absent-data: no such data folder"),
])
def test_bad_usage_exits_2(tmp_path: Path, args: tuple[str, ...], expected: str) -> None:
    res = run("build", "--out", tmp_path / "set", *args)
    assert res.exit_code == 2
    assert expected in res.stderr
    assert not (tmp_path / "set").exists()


def test_show_summarises_a_set(built: Path) -> None:
    res = run("show", built)
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "ref data for 2013-10-08" in out and digest_of(built) in out
    for text in ("AIG", "SPY", "pending corporate action", "XNYS", "DMA-XNYS, BROKER-XNYS",
                 "(not routable)", "09:30-16:00", "open/close"):
        assert text in out, text


def test_show_one_symbol(built: Path) -> None:
    res = run("show", built, "--symbol", "AIG")
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "AIG (id 1): American International Group Inc." in out
    assert "primary venue XNYS, lot 100, tick rule regnms, USD" in out
    assert "ADV 1,000,000" in out and "ref price 48.19" in out
    assert "first 8 of 39 bins of 10 min" in out
    res = run("show", built, "--symbol", "AIG", "--json")
    doc = json.loads(res.stdout)
    assert doc["symbol"]["id"] == 1 and doc["stats"]["adv"] == 1_000_000
    assert doc["curve"]["symbol"] == "AIG" and len(doc["curve"]["minute_shares"]) == 390
    res = run("show", built, "--symbol", "MSFT")
    assert res.exit_code == 2 and "no symbol 'MSFT'" in res.stderr


def test_show_json(built: Path) -> None:
    res = run("show", built, "--json")
    doc = json.loads(res.stdout)
    assert doc["digest"] == digest_of(built)
    assert [s["name"] for s in doc["symbols"]] == ["AIG", "IBM", "SPY"]
    assert doc["curves"] == {"*": "default", "AIG": "symbol"}


def test_verify(built: Path, tmp_path: Path) -> None:
    res = run("verify", built)
    assert res.exit_code == 0 and "matches its manifest" in res.stdout
    res = run("verify", built, "--json")
    assert json.loads(res.stdout) == {"ok": True, "digest": digest_of(built)}
    path = built / REFDATA_FILE
    path.write_bytes(path.read_bytes().replace(b"AIG", b"AIH"))
    res = run("verify", built)
    assert res.exit_code == 1 and "digest mismatch" in res.stderr
    res = run("verify", built, "--json")
    assert res.exit_code == 1 and json.loads(res.stdout)["ok"] is False
    assert run("show", built).exit_code == 1
    res = run("verify", tmp_path / "nowhere")
    assert res.exit_code == 1 and "no such ref data set" in res.stderr
