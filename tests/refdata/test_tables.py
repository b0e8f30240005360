"""Declared tables: any delimited file, named in the config, becomes `RefData.table(NAME)`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from refdata.build import build
from refdata.config import DEFAULTS_DIR, load_config
from refdata.files import RefDataError
from refdata.load import load
from tests.refdata.test_build import DAY, fake_models, write_inputs

__all__ = ["fake_models"]  # the fixture, shared with test_build

LOCATES = """\
# the stock loan desk's file, ';' separated
sym;shares;fee;easy;as_of;limit;note
IBM;1500000;25.5;true;2013-10-07;163.809;
AIG;4000000;30;no;2013-10-07;43.857;watch
"""
DECL = """\
[tables.locates]
path = "locates.csv"
key = "sym"
delimiter = ";"

[tables.locates.columns]
sym = "str"
shares = "int"
fee = "float"
easy = "bool"
as_of = "date"
limit = "price"
note = "str"
"""


def build_with(tmp_path: Path, table: str, decl: str = DECL, out: str = "set") -> Path:
    cfg = write_inputs(tmp_path / "in", refdata_toml=decl)
    (tmp_path / "in" / "locates.csv").write_text(table)
    build(DAY, tmp_path / out, config_path=cfg, use_data=False)
    return tmp_path / out


def errors(tmp_path: Path, table: str, decl: str = DECL) -> list[str]:
    with pytest.raises(RefDataError) as exc:
        build_with(tmp_path, table, decl)
    assert not (tmp_path / "set").exists()
    return [str(p) for p in exc.value.problems]


def test_a_declared_table_is_typed_and_keyed(tmp_path: Path, fake_models: list[Any]) -> None:
    rd = load(build_with(tmp_path, LOCATES))
    t = rd.table("locates")
    assert t.key == "sym" and t.columns == ("sym", "shares", "fee", "easy", "as_of", "limit",
                                             "note")
    assert list(t.rows) == ["AIG", "IBM"]  # in key order, whatever the file's order
    assert t["IBM"] == {"sym": "IBM", "shares": 1_500_000, "fee": 25.5, "easy": True,
                        "as_of": "2013-10-07", "limit": 1_638_090, "note": ""}
    aig = t["AIG"]
    assert aig["easy"] is False and aig["limit"] == 438_570 and aig["note"] == "watch"
    assert type(aig["fee"]) is float and type(aig["shares"]) is int
    assert t.get("MSFT") is None
    with pytest.raises(KeyError, match="table 'locates' has no row with sym = 'MSFT'"):
        t["MSFT"]
    with pytest.raises(KeyError, match=r"no ref data table 'borrow' \(declared: locates\)"):
        rd.table("borrow")


def test_tables_go_into_the_digest_and_sources(tmp_path: Path, fake_models: list[Any]) -> None:
    a = load(build_with(tmp_path / "a", LOCATES))
    b = load(build_with(tmp_path / "b", LOCATES.replace("25.5", "25.6")))
    assert a.digest != b.digest
    assert any(s.endswith("  locates.csv") for s in a.data.sources)


def test_a_bad_row_names_file_line_and_column(tmp_path: Path, fake_models: list[Any]) -> None:
    bad = LOCATES.replace("IBM;1500000;25.5;true", "IBM;1.5M;25.5;sure").replace(
        "2013-10-07;43.857", "2013-13-07;43.8575")
    assert errors(tmp_path, bad) == [
        'locates.csv:3: column shares: expected an integer, got "1.5M"',
        'locates.csv:3: column easy: expected true or false, got "sure"',
        'locates.csv:4: column as_of: expected a date YYYY-MM-DD, got "2013-13-07"',
    ]


def test_a_price_with_too_many_places_is_refused(tmp_path: Path,
                                                 fake_models: list[Any]) -> None:
    assert errors(tmp_path, LOCATES.replace("163.809", "163.80901")) == [
        'locates.csv:3: column limit: expected a price: a decimal with at most 4 places, '
        'like 48.19, got "163.80901"']


def test_duplicate_and_empty_keys(tmp_path: Path, fake_models: list[Any]) -> None:
    table = LOCATES + "IBM;1;1;yes;2013-10-07;1;again\n;1;1;yes;2013-10-07;1;nameless\n"
    assert errors(tmp_path, table) == [
        "locates.csv:5: column sym: duplicate key 'IBM' (first on line 3)",
        "locates.csv:6: column sym: expected a key (the cell is empty)",
    ]


def test_header_must_match_the_declaration(tmp_path: Path, fake_models: list[Any]) -> None:
    table = LOCATES.replace("sym;shares;fee", "sym;qty;fee")
    got = errors(tmp_path, table)
    assert got[0].startswith("locates.csv:2: column qty: unknown column (expected columns: "
                             "sym, shares, fee")
    assert got[1] == "locates.csv:2: column shares: missing from the header"


def test_a_missing_table_file_is_named(tmp_path: Path, fake_models: list[Any]) -> None:
    cfg = write_inputs(tmp_path / "in", refdata_toml=DECL.replace("locates.csv", "nope.csv"))
    with pytest.raises(RefDataError, match=r"^nope.csv: no such file"):
        build(DAY, tmp_path / "set", config_path=cfg, use_data=False)


@pytest.mark.parametrize(("decl", "expected"), [
    (DECL.replace('key = "sym"', 'key = "symbol"'),
     "key 'tables.locates.key': expected one of the declared columns (sym, shares, fee, easy, "
     "as_of, limit, note), got 'symbol'"),
    (DECL.replace('limit = "price"', 'limit = "decimal"'),
     "key 'tables.locates.columns.limit': expected one of 'str', 'int', 'float', 'bool', "
     "'date' or 'price', got 'decimal'"),
    (DECL.replace('delimiter = ";"', 'delimiter = ";;"'),
     "key 'tables.locates.delimiter': expected at most 1 character(s), got ';;'"),
    (DECL.replace('path = "locates.csv"\n', ""),
     "key 'tables.locates.path': required key is missing"),
    (DECL.replace("tables.locates", "tables.Locates"),
     "key 'tables.Locates': expected a table name of lower-case letters"),
    (DECL.replace('delimiter = ";"', 'delimiter = ";"\ncolums = 1'),
     "key 'tables.locates.colums': unknown key, got 1"),
])
def test_declaration_errors_name_the_key(tmp_path: Path, decl: str, expected: str) -> None:
    cfg = write_inputs(tmp_path / "in", refdata_toml=decl)
    with pytest.raises(RefDataError) as exc:
        load_config(cfg)
    first = str(exc.value.problems[0])
    assert first.startswith(f"{cfg}: {expected}"), first


def test_the_shipped_example_table(tmp_path: Path, fake_models: list[Any]) -> None:
    """The shipped borrow.csv, declared as the shipped config declares it."""
    shipped = (DEFAULTS_DIR / "refdata.toml").read_text()
    decl = shipped[shipped.index("[tables.borrow]"):shipped.index("[tables.firm]")].replace(
        'path = "borrow.csv"', f'path = "{DEFAULTS_DIR / "borrow.csv"}"').replace(
        'path = "clients.csv"', f'path = "{DEFAULTS_DIR / "clients.csv"}"')
    cfg = write_inputs(tmp_path / "in", refdata_toml=decl)
    rep = build(DAY, tmp_path / "set", config_path=cfg, use_data=False)
    assert rep.tables == {"borrow": 5, "clients": 5}
    # an absolute path is named by its file name only, so the digest is checkout-independent
    assert any(s.endswith("  borrow.csv") for s in rep.sources)
    borrow = load(tmp_path / "set").table("borrow")
    assert borrow["IBM"]["fee_bps"] == 25.0 and borrow["IBM"]["locate_required"] is False
    assert borrow["SPY"]["ssr_trigger"] == 1_506_780 and borrow["SPY"]["shares"] == 20_000_000


def test_a_table_is_checked_by_the_package_that_reads_it(tmp_path: Path,
                                                        fake_models: list[Any]) -> None:
    """The OMS declares a check of `clients` (entry point tape.refdata.checks): a value
    the OMS could not use is refused at build time with the file, line and column."""
    shipped = (DEFAULTS_DIR / "refdata.toml").read_text()
    rows = (DEFAULTS_DIR / "clients.csv").read_text().replace(
        "ALPHA,Alpha Asset Management,false,false,false,1000000,",
        "ALPHA,Alpha Asset Management,false,false,false,0,").replace(
        "AIG IBM SPY", "AIG IBMM")
    (tmp_path / "clients.csv").write_text(rows)
    decl = shipped[shipped.index("[tables.clients]"):shipped.index("[tables.firm]")].replace(
        'path = "clients.csv"', f'path = "{tmp_path / "clients.csv"}"')
    cfg = write_inputs(tmp_path / "in", refdata_toml=decl)
    with pytest.raises(RefDataError) as exc:
        build(DAY, tmp_path / "set", config_path=cfg, use_data=False)
    lines = rows.splitlines()
    alpha = next(i for i, ln in enumerate(lines, 1) if ln.startswith("ALPHA,"))
    beta = next(i for i, ln in enumerate(lines, 1) if ln.startswith("BETA,"))
    assert [str(p) for p in exc.value.problems] == [
        f"clients.csv:{alpha}: column max_order_qty: expected a value above 0, got 0",
        f"clients.csv:{beta}: column symbols: expected symbols of the security master, "
        "got 'IBMM'",
    ]
    assert not (tmp_path / "set").exists()


def test_the_post_trade_tables_are_checked_at_build(tmp_path: Path,
                                                    fake_models: list[Any]) -> None:
    """The post-trade records declare checks of their tables (post_trade/refs.py): a CAT
    account holder type that does not exist and an FDID used twice are refused."""
    shipped = (DEFAULTS_DIR / "refdata.toml").read_text()
    rows = (DEFAULTS_DIR / "accounts.csv").read_text().replace(
        "ALPHA,ALPHA-001,A,FDID-ALPHA-01", "ALPHA,ALPHA-001,Q,FDID-ALPHA-01").replace(
        "FDID-BETA-01", "FDID-ALPHA-01")
    (tmp_path / "accounts.csv").write_text(rows)
    decl = shipped[shipped.index("[tables.accounts]"):shipped.index("[tables.venue_fees]")]
    decl = decl.replace('path = "accounts.csv"', f'path = "{tmp_path / "accounts.csv"}"')
    cfg = write_inputs(tmp_path / "in", refdata_toml=decl)
    with pytest.raises(RefDataError) as exc:
        build(DAY, tmp_path / "set", config_path=cfg, use_data=False)
    lines = rows.splitlines()
    alpha = next(i for i, ln in enumerate(lines, 1) if ln.startswith("ALPHA,"))
    beta = next(i for i, ln in enumerate(lines, 1) if ln.startswith("BETA,"))
    problems = [str(p) for p in exc.value.problems]
    assert problems[0].startswith(f"accounts.csv:{alpha}: column account_holder_type: "
                                  "expected one of A, E, F, I, O, V, P, X"), problems
    assert problems[1].startswith(f"accounts.csv:{beta}: column firm_designated_id: "
                                  "expected a unique FDID"), problems
