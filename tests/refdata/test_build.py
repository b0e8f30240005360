"""`refdata.build`: combining and cross-checking the sources, ids, digest, atomic writes.

Most tests build from small inputs written here, with statistics and curves
from a stand-in (`fake_models`) so they test this module alone; the tests at
the end build the shipped defaults with the real `refdata.stats` and
`refdata.curves`.

The helpers here (`write_inputs`, `fake_models`, `build_fake`) are shared with
the other ref data test modules.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import types
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from refdata.build import BuildReport, build, read_master
from refdata.config import DEFAULT_CONFIG, load_config
from refdata.files import RefDataError
from refdata.load import MANIFEST_FILE, REFDATA_FILE, load
from refdata.model import SymbolStats, VolumeCurve
from tests.conftest import REPO, child_env

DAY = dt.date(2013, 10, 8)

LISTINGS = """\
# a comment line, then the header
symbol,description,primary_venue,lot_size,tick_rule,currency
SPY,SPDR S&P 500 ETF Trust,ARCX,100,regnms,USD
IBM,International Business Machines Corp.,XNYS,100,regnms,USD
AIG,American International Group Inc.,XNYS,100,regnms,USD
"""
VENUES = """\
code,name,sip_code,timezone,open,close,opening_auction,closing_auction,routable
XNYS,New York Stock Exchange,N,America/New_York,09:30,16:00,true,true,true
ARCX,NYSE Arca,P,America/New_York,09:30,16:00,true,true,true
FINN,FINRA trade reporting facilities,D,America/New_York,09:30,16:00,false,false,false
"""
DESTINATIONS = """\
name,venue,session,priority
DMA-XNYS,XNYS,TAPE->XNYS,0
BROKER-XNYS,XNYS,TAPE->BRKR,1
DMA-ARCX,ARCX,TAPE->ARCX,0
"""
RESTRICTED = """\
symbol,reason
IBM,pending corporate action
"""
CONFIG = """\
bin_minutes = 10
"""
BASE = {
    "listings.csv": LISTINGS, "venues.csv": VENUES, "destinations.csv": DESTINATIONS,
    "restricted.csv": RESTRICTED, "stats.csv": "figures read by the stand-in\n",
    "curve.csv": "the curve read by the stand-in\n", "refdata.toml": CONFIG,
}


def write_inputs(root: Path, **files: str) -> Path:
    """The small inputs in `root`, a keyword such as `listings_csv="..."` replacing
    one file; the config's path."""
    root.mkdir(parents=True, exist_ok=True)
    contents = dict(BASE)
    contents.update({k.replace("_csv", ".csv").replace("_toml", ".toml"): v
                     for k, v in files.items()})
    for name, text in contents.items():
        (root / name).write_text(text)
    return root / "refdata.toml"


# ---------------------------------------------------------------- stand-in models


def _stats(symbol: str, source: str = "default") -> SymbolStats:
    return SymbolStats(symbol=symbol, adv=1_000_000, avg_spread_bps=1 / 3, volatility=0.2,
                       avg_trade_size=150, ref_price=481_900, days=0, source=source)


def _flat_curve(symbol: str, source: str) -> VolumeCurve:
    return VolumeCurve(symbol=symbol, minute_shares=(0.9 / 390,) * 390, open_auction=0.04,
                       close_auction=0.06, days=(), source=source)


def fake_modules(calls: list[tuple[str, Any]] | None = None) -> dict[str, types.ModuleType]:
    """Stand-ins for refdata.stats and refdata.curves with their public signatures."""
    log = calls if calls is not None else []

    def load_default_stats(path: Path) -> dict[str, SymbolStats]:
        log.append(("load_default_stats", Path(path).name))
        return {"*": _stats("*")}

    def compute_stats(data_dir: Path | None, symbols: Sequence[str], date: dt.date,
                      defaults: dict[str, SymbolStats]) -> list[SymbolStats]:
        log.append(("compute_stats", (data_dir, list(symbols), date)))
        return [_stats(s) for s in reversed(symbols)]  # any order: build sorts

    def load_default_curve(path: Path) -> VolumeCurve:
        log.append(("load_default_curve", Path(path).name))
        return _flat_curve("*", "default")

    def build_curves(data_dir: Path | None, symbols: Sequence[str], date: dt.date,
                     default: VolumeCurve, *, min_days: int = 2,
                     prior_days: float = 3.0) -> list[VolumeCurve]:
        log.append(("build_curves", (data_dir, list(symbols), min_days, prior_days)))
        return [_flat_curve(symbols[0], "symbol"), default]

    stats = types.ModuleType("refdata.stats")
    stats.compute_stats = compute_stats  # type: ignore[attr-defined]
    stats.load_default_stats = load_default_stats  # type: ignore[attr-defined]
    curves = types.ModuleType("refdata.curves")
    curves.build_curves = build_curves  # type: ignore[attr-defined]
    curves.load_default_curve = load_default_curve  # type: ignore[attr-defined]
    return {"refdata.stats": stats, "refdata.curves": curves}


@pytest.fixture
def fake_models(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, Any]]]:
    """Install the stand-ins for the test; yields the log of their calls."""
    calls: list[tuple[str, Any]] = []
    for name, mod in fake_modules(calls).items():
        monkeypatch.setitem(sys.modules, name, mod)
    yield calls


def build_fake(tmp_path: Path, out: str = "set", **files: str) -> BuildReport:
    cfg = write_inputs(tmp_path / "in", **files)
    return build(DAY, tmp_path / out, config_path=cfg, use_data=False)


def problems_of(exc: pytest.ExceptionInfo[RefDataError]) -> list[str]:
    return [str(p) for p in exc.value.problems]


# ---------------------------------------------------------------- a good build


def test_build_writes_a_loadable_set(tmp_path: Path, fake_models: list[Any]) -> None:
    rep = build_fake(tmp_path)
    out = tmp_path / "set"
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST_FILE, REFDATA_FILE]
    rd = load(out)
    assert rd.digest == rep.digest
    assert rd.session_date == DAY and rd.bin_minutes == 10
    assert (rep.symbols, rep.venues, rep.destinations, rep.restricted) == (3, 3, 3, 1)
    assert rep.built_with == "defaults" and rep.data_dir is None
    assert rep.stats_sources == {"default": 3}
    assert rep.curves_built == 1 and rep.curve_sources == {"default": 1, "symbol": 1}
    ibm = rd.by_name("IBM")
    assert ibm.restricted and ibm.restricted_reason == "pending corporate action"
    assert not rd.by_name("AIG").restricted
    assert rd.venue("XNYS").open_ms == 9 * 3_600_000 + 30 * 60_000
    assert rd.venue("XNYS").close_ms == 16 * 3_600_000
    assert rd.venue("FINN").routable is False
    assert [d.name for d in rd.destinations_for("XNYS")] == ["DMA-XNYS", "BROKER-XNYS"]
    # stats and curves came from the models with the config's parameters
    names = dict(fake_models)
    assert names["compute_stats"] == (None, ["AIG", "IBM", "SPY"], DAY)
    assert names["build_curves"] == (None, ["AIG", "IBM", "SPY"], 2, 3.0)
    assert names["load_default_stats"] == "stats.csv"


def test_ids_are_positions_in_name_order(tmp_path: Path, fake_models: list[Any]) -> None:
    build_fake(tmp_path)
    rd = load(tmp_path / "set")
    assert [(s.id, s.name) for s in rd.symbols] == [(1, "AIG"), (2, "IBM"), (3, "SPY")]
    assert rd.symbol(2).name == "IBM" and rd.by_name("SPY").id == 3
    # the same listings in another order: the same ids and the same digest
    lines = LISTINGS.splitlines()
    shuffled = "\n".join([*lines[:2], lines[4], lines[2], lines[3]]) + "\n"
    rep2 = build_fake(tmp_path / "b", listings_csv=shuffled)
    rd2 = load(rep2.out_dir)
    assert [(s.id, s.name) for s in rd2.symbols] == [(1, "AIG"), (2, "IBM"), (3, "SPY")]
    assert rd2.data.symbols == rd.data.symbols


def test_stats_are_merged_for_every_symbol_and_rounded(tmp_path: Path,
                                                       fake_models: list[Any]) -> None:
    build_fake(tmp_path)
    rd = load(tmp_path / "set")
    for s in rd.symbols:
        st = rd.stats(s.id)
        assert st.symbol == s.name
        assert st.avg_spread_bps == 0.333333  # 1/3 rounded to 6 decimals for the digest
    assert [st.symbol for st in rd.data.stats] == ["AIG", "IBM", "SPY"]
    assert rd.curve(rd.by_name("AIG").id).source == "symbol"
    assert rd.curve(rd.by_name("IBM").id).symbol == "*"  # no curve of its own


def test_sources_are_relative_names_with_digests(tmp_path: Path,
                                                 fake_models: list[Any]) -> None:
    rep = build_fake(tmp_path)
    names = [s.split("  ", 1)[1] for s in rep.sources]
    assert names == sorted(["curve.csv", "destinations.csv", "listings.csv", "restricted.csv",
                            "stats.csv", "venues.csv"])
    assert all(len(s.split("  ", 1)[0]) == 64 for s in rep.sources)
    assert str(tmp_path) not in json.dumps(rep.sources)
    manifest = json.loads((tmp_path / "set" / MANIFEST_FILE).read_text())
    assert manifest["digest"] == rep.digest
    assert manifest["session_date"] == "2013-10-08"
    assert manifest["built_with"] == "defaults" and manifest["data"] is None
    assert manifest["counts"]["symbols"] == 3
    assert [s["name"] for s in manifest["sources"]] == names
    assert str(tmp_path) not in json.dumps(manifest)


def test_digest_is_the_same_in_two_places(tmp_path: Path, fake_models: list[Any]) -> None:
    """Two checkouts (inputs in different folders), two output folders: one digest."""
    a = build(DAY, tmp_path / "out-a", config_path=write_inputs(tmp_path / "x" / "in"),
              use_data=False)
    b = build(DAY, tmp_path / "elsewhere" / "out-b",
              config_path=write_inputs(tmp_path / "y" / "deeper" / "in"), use_data=False)
    assert a.digest == b.digest
    assert (a.out_dir / REFDATA_FILE).read_bytes() == (b.out_dir / REFDATA_FILE).read_bytes()
    assert (a.out_dir / MANIFEST_FILE).read_bytes() == (b.out_dir / MANIFEST_FILE).read_bytes()
    # and a different input gives a different digest
    c = build_fake(tmp_path / "z", restricted_csv="symbol,reason\n")
    assert c.digest != a.digest


def test_progress_reports_each_step(tmp_path: Path, fake_models: list[Any]) -> None:
    seen: list[tuple[str, int, int]] = []
    cfg = write_inputs(tmp_path / "in")
    build(DAY, tmp_path / "set", config_path=cfg, use_data=False,
          progress=lambda *a: seen.append(a))
    assert [d for _, d, _ in seen] == [0, 1, 2, 3, 4]
    assert all(t == 4 for _, _, t in seen)
    assert seen[1][0] == "symbol statistics"


def test_data_dir_is_passed_to_the_models(tmp_path: Path, fake_models: list[Any]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    rep = build(DAY, tmp_path / "set", config_path=write_inputs(tmp_path / "in"),
                data_dir=data)
    assert rep.built_with == "data" and rep.data_dir == data
    assert dict(fake_models)["compute_stats"][0] == data
    with pytest.raises(RefDataError, match="no such data folder"):
        build(DAY, tmp_path / "set2", config_path=write_inputs(tmp_path / "in"),
              data_dir=tmp_path / "absent")


# ---------------------------------------------------------------- bad input, precisely


@pytest.mark.parametrize(("file", "text", "expected"), [
    ("listings_csv", LISTINGS.replace("IBM,International Business Machines Corp.,XNYS,100",
                                      "IBM,International Business Machines Corp.,XNYS,abc"),
     'listings.csv:4: column lot_size: expected a positive integer, got "abc"'),
    ("listings_csv", LISTINGS.replace("AIG,American International Group Inc.,XNYS,100,regnms",
                                      "AIG,American International Group Inc.,XNYS,100,decimal"),
     'listings.csv:5: column tick_rule: expected one of: regnms, got "decimal"'),
    ("venues_csv", VENUES.replace("ARCX,NYSE Arca,P,America/New_York,09:30",
                                  "ARCX,NYSE Arca,P,America/New_York,9h30"),
     'venues.csv:3: column open: expected a time HH:MM (24-hour), got "9h30"'),
    ("venues_csv", VENUES.replace("true,true,true\nARCX", "true,maybe,true\nARCX"),
     'venues.csv:2: column closing_auction: expected true or false, got "maybe"'),
    ("destinations_csv", DESTINATIONS.replace("TAPE->BRKR", "TAPE=>BRKR"),
     "destinations.csv:3: column session: expected a FIX session SENDER->TARGET"),
    ("destinations_csv", DESTINATIONS.replace("TAPE->ARCX,0", "TAPE->ARCX,-1"),
     'destinations.csv:4: column priority: expected an integer >= 0, got "-1"'),
    ("restricted_csv", "symbol,reason\nIBM,\n",
     'restricted.csv:2: column reason: expected a value (the cell is empty), got ""'),
    ("restricted_csv", "symbol,reason\nibm,lower case\n",
     "restricted.csv:2: column symbol: expected a symbol"),
])
def test_a_malformed_row_names_file_line_column_and_expectation(
        tmp_path: Path, fake_models: list[Any], file: str, text: str, expected: str) -> None:
    with pytest.raises(RefDataError) as exc:
        build_fake(tmp_path, **{file: text})
    assert problems_of(exc)[0].startswith(expected), problems_of(exc)
    assert not (tmp_path / "set").exists()


def test_duplicate_symbol(tmp_path: Path, fake_models: list[Any]) -> None:
    text = LISTINGS + "IBM,IBM again,XNYS,100,regnms,USD\n"
    with pytest.raises(RefDataError) as exc:
        build_fake(tmp_path, listings_csv=text)
    assert problems_of(exc) == [
        "listings.csv:6: column symbol: duplicate symbol 'IBM' (first on line 4)"]
    assert (exc.value.file, exc.value.line, exc.value.column) == ("listings.csv", 6, "symbol")


def test_unknown_or_unroutable_venue_in_listings(tmp_path: Path, fake_models: list[Any]) -> None:
    text = LISTINGS.replace("SPY,SPDR S&P 500 ETF Trust,ARCX", "SPY,SPDR S&P 500 ETF Trust,XXXX")
    text = text.replace("AIG,American International Group Inc.,XNYS",
                        "AIG,American International Group Inc.,FINN")
    with pytest.raises(RefDataError) as exc:
        build_fake(tmp_path, listings_csv=text)
    assert problems_of(exc) == [
        'listings.csv:3: column primary_venue: expected a venue of venues.csv, got "XXXX"',
        'listings.csv:5: column primary_venue: expected a routable venue, got "FINN" '
        "(venues.csv has routable = false)",
    ]


def test_unknown_venue_in_destinations(tmp_path: Path, fake_models: list[Any]) -> None:
    text = DESTINATIONS + "DMA-XNAS,XNAS,TAPE->XNAS,0\n"
    with pytest.raises(RefDataError) as exc:
        build_fake(tmp_path, destinations_csv=text)
    assert problems_of(exc) == [
        'destinations.csv:5: column venue: expected a venue of venues.csv, got "XNAS"']


def test_duplicate_destination_venue_and_sip_letter(tmp_path: Path,
                                                    fake_models: list[Any]) -> None:
    venues = VENUES + "XNYS,NYSE again,Q,America/New_York,09:30,16:00,true,true,true\n" \
                      "XNAS,Nasdaq,N,America/New_York,09:30,16:00,true,true,true\n"
    with pytest.raises(RefDataError) as exc:
        build_fake(tmp_path, venues_csv=venues,
                   destinations_csv=DESTINATIONS + "DMA-ARCX,ARCX,TAPE->ARCX2,0\n")
    assert problems_of(exc) == [
        "venues.csv:5: column code: duplicate venue 'XNYS' (first on line 2)",
        "venues.csv:6: column sip_code: duplicate SIP letter 'N' (first on line 2)",
        "destinations.csv:5: column name: duplicate destination 'DMA-ARCX' (first on line 4)",
    ]


def test_session_must_close_after_it_opens(tmp_path: Path, fake_models: list[Any]) -> None:
    venues = VENUES.replace("ARCX,NYSE Arca,P,America/New_York,09:30,16:00",
                            "ARCX,NYSE Arca,P,America/New_York,09:30,09:00")
    with pytest.raises(RefDataError) as exc:
        build_fake(tmp_path, venues_csv=venues)
    assert problems_of(exc) == [
        'venues.csv:3: column close: expected a time after open (09:30), got "09:00"']


def test_restricted_symbol_must_be_listed(tmp_path: Path, fake_models: list[Any]) -> None:
    with pytest.raises(RefDataError) as exc:
        build_fake(tmp_path, restricted_csv=RESTRICTED + "# why\n\nMSFT,not ours\nIBM,twice\n")
    assert problems_of(exc) == [
        'restricted.csv:5: column symbol: expected a symbol of the listings, got "MSFT"',
        "restricted.csv:6: column symbol: duplicate restricted symbol 'IBM' (first on line 2)",
    ]


def test_all_problems_of_all_files_are_reported(tmp_path: Path, fake_models: list[Any]) -> None:
    listings = LISTINGS.replace(",USD\nIBM", ",usd\nIBM").replace("XNYS,100,regnms,USD\nAIG",
                                                                 "XNYS,0,regnms,USD\nAIG")
    with pytest.raises(RefDataError) as exc:
        build_fake(tmp_path, listings_csv=listings,
                   destinations_csv=DESTINATIONS.replace("TAPE->ARCX,0", "TAPE->ARCX"))
    assert problems_of(exc) == [
        'listings.csv:3: column currency: expected a 3-letter currency code like USD, got "usd"',
        'listings.csv:4: column lot_size: expected a positive integer, got "0"',
        "destinations.csv:4: expected 4 fields (as the header on line 1), got 3",
    ]


def test_a_bad_venue_row_does_not_echo(tmp_path: Path, fake_models: list[Any]) -> None:
    """One mistake in venues.csv does not echo as 'unknown venue' in every other file."""
    venues = VENUES.replace("XNYS,New York Stock Exchange,N", "XNYS,New York Stock Exchange,NN")
    with pytest.raises(RefDataError) as exc:
        build_fake(tmp_path, venues_csv=venues)
    assert problems_of(exc) == [
        'venues.csv:2: column sip_code: expected one upper-case letter, or nothing, got "NN"']


def test_references_are_checked_past_a_bad_row(tmp_path: Path, fake_models: list[Any]) -> None:
    """A bad lot size in IBM's row does not hide an unlisted restricted symbol, nor make
    IBM itself 'unlisted'."""
    listings = LISTINGS.replace("XNYS,100,regnms,USD\nAIG", "XNYS,-5,regnms,USD\nAIG")
    with pytest.raises(RefDataError) as exc:
        build_fake(tmp_path, listings_csv=listings, restricted_csv=RESTRICTED + "MSFT,x\n")
    assert problems_of(exc) == [
        'listings.csv:4: column lot_size: expected a positive integer, got "-5"',
        'restricted.csv:3: column symbol: expected a symbol of the listings, got "MSFT"',
    ]


def test_missing_file_and_bad_header(tmp_path: Path, fake_models: list[Any]) -> None:
    cfg = write_inputs(tmp_path / "in", listings_csv=LISTINGS.replace("currency", "ccy"))
    (tmp_path / "in" / "restricted.csv").unlink()
    with pytest.raises(RefDataError) as exc:
        build(DAY, tmp_path / "set", config_path=cfg, use_data=False)
    got = problems_of(exc)
    assert got[0].startswith("listings.csv:2: column ccy: unknown column (expected columns: ")
    assert got[1] == "listings.csv:2: column currency: missing from the header"
    assert got[2].startswith("restricted.csv: no such file (")
    assert len(got) == 3


def test_stats_for_every_symbol_are_required(tmp_path: Path, fake_models: list[Any],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    mod = sys.modules["refdata.stats"]
    monkeypatch.setattr(mod, "compute_stats", lambda d, symbols, date, defaults: [
        _stats(s) for s in symbols if s != "IBM"])
    with pytest.raises(RefDataError, match="no statistics for IBM"):
        build_fake(tmp_path)
    assert not (tmp_path / "set").exists()


def test_model_errors_become_ref_data_errors(tmp_path: Path, fake_models: list[Any],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(path: Path) -> VolumeCurve:
        raise ValueError(f"{path}:3: expected 392 shares")

    monkeypatch.setattr(sys.modules["refdata.curves"], "load_default_curve", broken)
    with pytest.raises(RefDataError, match=r"volume curves: .*curve.csv:3: expected 392"):
        build_fake(tmp_path)


# ---------------------------------------------------------------- nothing half-built


def test_nothing_is_written_on_failure(tmp_path: Path, fake_models: list[Any]) -> None:
    with pytest.raises(RefDataError):
        build_fake(tmp_path, out="deep/er/set", venues_csv="code\n")
    assert not (tmp_path / "deep").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def test_an_existing_set_is_untouched_by_a_failed_build(tmp_path: Path,
                                                        fake_models: list[Any]) -> None:
    first = build_fake(tmp_path)
    before = {p.name: p.read_bytes() for p in (tmp_path / "set").iterdir()}
    with pytest.raises(RefDataError):
        build_fake(tmp_path, listings_csv=LISTINGS + "AIG,again,XNYS,100,regnms,USD\n")
    assert {p.name: p.read_bytes() for p in (tmp_path / "set").iterdir()} == before
    assert load(tmp_path / "set").digest == first.digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "set"]  # no temp left


def test_a_failed_write_leaves_the_old_set(tmp_path: Path, fake_models: list[Any],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    first = build_fake(tmp_path)
    import refdata.build as b

    real = b.fsync_dir

    def failing(path: Path) -> None:
        if ".building-" in path.name:
            raise OSError(28, "No space left on device")
        real(path)

    monkeypatch.setattr(b, "fsync_dir", failing)
    with pytest.raises(OSError, match="No space"):
        build_fake(tmp_path, restricted_csv="symbol,reason\n")
    assert load(tmp_path / "set").digest == first.digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "set"]


def test_a_good_build_replaces_the_set(tmp_path: Path, fake_models: list[Any]) -> None:
    first = build_fake(tmp_path)
    second = build_fake(tmp_path, restricted_csv="symbol,reason\n")
    assert first.digest != second.digest
    assert load(tmp_path / "set").digest == second.digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "set"]


def test_a_folder_that_is_not_a_set_is_never_replaced(tmp_path: Path,
                                                      fake_models: list[Any]) -> None:
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "notes.txt").write_text("mine")
    with pytest.raises(RefDataError, match="is not a ref data set"):
        build_fake(tmp_path)
    assert (tmp_path / "set" / "notes.txt").read_text() == "mine"
    (tmp_path / "empty").mkdir()
    build_fake(tmp_path, out="empty")  # an empty folder is fine
    assert (tmp_path / "empty" / MANIFEST_FILE).is_file()


# ---------------------------------------------------------------- the config


@pytest.mark.parametrize(("toml", "expected"), [
    ("bin_minutes = 45\n", "refdata.toml: key 'bin_minutes': expected at most 30, got 45"),
    ("bin_minutes = 0\n", "refdata.toml: key 'bin_minutes': expected at least 1, got 0"),
    ("bin_minute = 5\n", "refdata.toml: key 'bin_minute': unknown key, got 5"),
    ("[curves]\nmin_days = 'two'\n",
     "refdata.toml: key 'curves.min_days': expected an integer, got 'two'"),
    ("[curves]\nprior_days = 'x'\n",
     "refdata.toml: key 'curves.prior_days': expected a number, got 'x'"),
    ("[files]\nlistings = 3\n", "refdata.toml: key 'files.listings': expected a string, got 3"),
    ("files = 3\n", "refdata.toml: key 'files': expected a table, got 3"),
    ("delimiter = ';;'\n",
     "refdata.toml: key 'delimiter': expected at most 1 character(s), got ';;'"),
    ("bin_minutes = \n", "refdata.toml: expected valid TOML"),
])
def test_config_errors_name_key_and_expectation(tmp_path: Path, toml: str, expected: str) -> None:
    cfg = write_inputs(tmp_path / "in", refdata_toml=toml)
    with pytest.raises(RefDataError) as exc:
        load_config(cfg)
    assert str(exc.value).replace(str(cfg), "refdata.toml").startswith(expected), str(exc.value)


def test_config_paths_are_relative_to_the_config(tmp_path: Path, fake_models: list[Any]) -> None:
    root = tmp_path / "in"
    write_inputs(root)
    (root / "lists").mkdir()
    (root / "venues.csv").rename(root / "lists" / "v.csv")
    cfg = root / "refdata.toml"
    cfg.write_text('[files]\nvenues = "lists/v.csv"\n')
    rep = build(DAY, tmp_path / "set", config_path=cfg, use_data=False)
    assert any(s.endswith("  lists/v.csv") for s in rep.sources)
    with pytest.raises(RefDataError, match="no such config file"):
        load_config(tmp_path / "absent.toml")


# ---------------------------------------------------------------- the shipped defaults


def test_the_shipped_files_are_consistent() -> None:
    """Every routable venue is reachable; one venue has two destinations; the set builds."""
    cfg = load_config(DEFAULT_CONFIG)
    master = read_master(cfg)
    assert [s.name for s in master.symbols] == ["AAPL", "AIG", "BAC", "IBM", "SPY"]
    assert [s.id for s in master.symbols] == [1, 2, 3, 4, 5]
    routable = [v.code for v in master.venues if v.routable]
    reach: dict[str, int] = {}
    for d in master.destinations:
        reach[d.venue] = reach.get(d.venue, 0) + 1
    assert sorted(reach) == sorted(routable)
    assert max(reach.values()) == 2
    sips = {v.sip_code: v.code for v in master.venues}
    assert sips["N"] == "XNYS" and sips["P"] == "ARCX" and sips["Q"] == "XNAS"
    assert sips["D"] == "FINN" and not next(v for v in master.venues if v.code == "FINN").routable
    assert [t.name for t in master.tables] == ["accounts", "borrow", "cat_routes", "clients",
                                               "firm", "venue_fees"]
    # The post-trade tables cover what the shipped day uses: every routable venue has
    # fees, every destination a CAT identity, every client (not the firm row) an account.
    tables = {t.name: t for t in master.tables}
    assert sorted(tables["venue_fees"].rows) == sorted(routable)
    assert sorted(tables["cat_routes"].rows) == sorted(d.name for d in master.destinations)
    assert sorted(tables["accounts"].rows) == sorted(c for c in tables["clients"].rows
                                                     if c != "*")


def build_defaults(out: Path, seed: str) -> str:
    """Build the shipped defaults (no recorded data) in a fresh interpreter; the digest."""
    code = ("import datetime as dt, sys; from pathlib import Path; "
            "from refdata.build import build; "
            "print(build(dt.date(2013, 10, 8), Path(sys.argv[1]), use_data=False).digest)")
    res = subprocess.run([sys.executable, "-c", code, str(out)], cwd=REPO,
                         env=child_env({"PYTHONHASHSEED": seed}), capture_output=True, text=True,
                         timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def test_digest_does_not_depend_on_the_hash_seed(tmp_path: Path) -> None:
    a = build_defaults(tmp_path / "a", "1")
    b = build_defaults(tmp_path / "b", "4242")
    assert len(a) == 64 and a == b
    blob = (tmp_path / "a" / REFDATA_FILE).read_bytes()
    assert blob == (tmp_path / "b" / REFDATA_FILE).read_bytes()


def test_defaults_build_without_recorded_data(tmp_path: Path) -> None:
    rep = build(DAY, tmp_path / "set", use_data=False)
    rd = load(tmp_path / "set")
    assert rep.built_with == "defaults"
    assert rep.stats_sources == {"default": 5}
    for s in rd.symbols:
        assert rd.stats(s.id).source == "default"
        c = rd.curve(s.id)
        assert abs(sum(c.minute_shares) + c.open_auction + c.close_auction - 1) < 1e-4
    assert rd.table("borrow")["AIG"]["ssr_trigger"] == 438_570


@pytest.fixture
def data_or_none() -> Path | None:
    """The recorded data set where this machine has it, else None (the defaults)."""
    from refdata.build import default_data_dir

    return default_data_dir()


def test_build_uses_the_recorded_data_where_present(tmp_path: Path,
                                                   data_or_none: Path | None) -> None:
    rep = build(DAY, tmp_path / "set")  # finds the data by itself
    assert rep.data_dir == data_or_none
    rd = load(tmp_path / "set")
    assert all(rd.stats(s.id).symbol == s.name for s in rd.symbols)
    if data_or_none is None:
        assert rep.built_with == "defaults" and rep.stats_sources == {"default": 5}
    else:
        assert rep.built_with == "data"
        # history strictly before the day: IBM's reference price is the 2013-10-07 close
        assert rd.stats(rd.by_name("IBM").id).ref_price == 1_820_100
        assert rd.stats(rd.by_name("IBM").id).source == "recorded"

