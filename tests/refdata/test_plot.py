"""The curve plot (a PNG) and `tape refdata curve`: outputs and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
import typer
from typer.testing import CliRunner

from refdata.curves import DEFAULTS_DIR, build_curves, load_default_curve
from refdata.model import RefDataSet, VolumeCurve
from refdata.plot import clock, curve_cmd, plot_curve
from tests.refdata import synth
from tests.refdata.synth import D3, EQ

PNG = b"\x89PNG\r\n\x1a\n"

app = typer.Typer()
app.command("curve")(curve_cmd)


@app.command("other")
def _other() -> None:
    """A second command, so that `curve` is a subcommand as it is under `tape refdata`."""


runner = CliRunner()


@pytest.fixture(scope="module")
def default() -> VolumeCurve:
    return load_default_curve(DEFAULTS_DIR / "curve.csv")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return synth.make_root(tmp_path)


def is_png(path: Path) -> bool:
    data = path.read_bytes()
    return data.startswith(PNG) and len(data) > 10_000


def test_plot_writes_a_png(root: Path, default: VolumeCurve, tmp_path: Path) -> None:
    aaa = build_curves(root / EQ, ["AAA"], D3, default)[0]
    assert aaa.day_shares
    for curve, b in ((aaa, 7), (default, 1), (default, 30)):  # 7: a short last bin
        out = plot_curve(curve, b, tmp_path / f"{curve.symbol}-{b}.png", title="t")
        assert is_png(out)
    with pytest.raises(ValueError, match="1 to 30"):
        plot_curve(default, 31, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
    assert (clock(0), clock(389)) == ("09:30", "15:59")


def test_command_computes_from_history(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "c.png"
    r = runner.invoke(app, ["curve", "AAA", "--out", str(out), "--data", str(root),
                            "--bin", "15", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert is_png(out) and doc["png"] == str(out)
    # Default date: the day after the last history day (D3), so D0..D3 are used.
    assert doc["date"] == "2013-10-10" and len(doc["days"]) == 4
    assert len(doc["bins"]) == 26 and doc["bins"][1]["start"] == "09:45"
    total = sum(b["share"] for b in doc["bins"]) + doc["open_auction"] + doc["close_auction"]
    assert total == pytest.approx(1.0, abs=1e-5)
    r = runner.invoke(app, ["curve", "AAA", "--out", str(out), "--data", str(root / EQ),
                            "--date", "2013-10-08"])
    assert r.exit_code == 0, r.output
    assert "wrote" in r.stdout and "09:30" in r.stdout and "close auction" in r.stdout


@pytest.mark.parametrize(("symbol", "args", "why"), [
    ("AAA", ["--bin", "0"], "1 to 30"),
    ("AAA", ["--bin", "31"], "1 to 30"),
    ("AAA", ["--date", "2013-13-01"], "not a date"),
    ("ZZZ", [], "unknown symbol"),
    ("AAA", ["--data", "/no/such/folder"], "no such folder"),
])
def test_command_bad_usage_exits_2(root: Path, tmp_path: Path, symbol: str, args: list[str],
                                   why: str) -> None:
    if "--data" not in args:
        args = [*args, "--data", str(root)]
    out = tmp_path / "c.png"
    r = runner.invoke(app, ["curve", symbol, "--out", str(out), *args])
    assert r.exit_code == 2, r.output
    assert why in r.stderr
    assert not out.exists()


def test_command_without_data_and_from_a_set(tmp_path: Path, default: VolumeCurve,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAPE_DATA_DIR", str(tmp_path / "nothing-here"))
    out = tmp_path / "d.png"
    r = runner.invoke(app, ["curve", "*", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert is_png(out)
    # From a built set: the symbol's curve, or the default for a symbol without one.
    own = VolumeCurve("AAA", default.minute_shares, default.open_auction,
                      default.close_auction, ("2013-10-07",), "blend: test")
    data = RefDataSet(session_date=D3, symbols=(), venues=(), destinations=(), stats=(),
                      curves=(own, default), tables=())
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "refdata.json").write_bytes(msgspec.json.encode(data))
    r = runner.invoke(app, ["curve", "AAA", "--refdata", str(tmp_path / "set"), "--out",
                            str(out), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["curve"] == "AAA"
    r = runner.invoke(app, ["curve", "BBB", "--refdata", str(tmp_path / "set"), "--out",
                            str(out)])
    assert r.exit_code == 2, r.output  # not in the set
    (tmp_path / "set" / "refdata.json").write_text("{not json")
    r = runner.invoke(app, ["curve", "AAA", "--refdata", str(tmp_path / "set"), "--out",
                            str(out)])
    assert r.exit_code == 1, r.output
    r = runner.invoke(app, ["curve", "*", "--out", str(tmp_path / "no" / "dir" / "x.png")])
    assert r.exit_code == 1, r.output  # the PNG cannot be written
