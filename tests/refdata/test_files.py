"""`refdata.files`: reading delimited files, the column types, located errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from refdata import files as f
from refdata.files import (
    MAX_PROBLEMS_PER_FILE,
    Problem,
    Problems,
    RefDataError,
    Row,
    parse_rows,
    read_source,
    validate_row,
)


def src_of(tmp_path: Path, text: str | bytes, name: str = "t.csv") -> f.SourceFile:
    path = tmp_path / name
    if isinstance(text, str):
        path.write_text(text)
    else:
        path.write_bytes(text)
    problems = Problems()
    src = read_source(path, name, problems)
    assert src is not None and not problems, problems.items
    return src


def rows_of(tmp_path: Path, text: str, required: tuple[str, ...] = ("a", "b"),
            optional: tuple[str, ...] = (), delimiter: str = ",") -> tuple[list[f.RawRow],
                                                                         list[str]]:
    problems = Problems()
    rows = parse_rows(src_of(tmp_path, text), problems, required=required, optional=optional,
                      delimiter=delimiter)
    return rows, [str(p) for p in problems.items]


# ---------------------------------------------------------------- column types


def parse(t: Any, text: str) -> Any:
    return TypeAdapter(t).validate_python(text)


def expectation(t: Any, text: str) -> str:
    with pytest.raises(ValidationError) as exc:
        parse(t, text)
    return str(exc.value.errors()[0]["msg"])


@pytest.mark.parametrize(("t", "text", "value"), [
    (f.Int, " -7 ", -7), (f.Int, "+12", 12), (f.PositiveInt, "100", 100),
    (f.NonNegativeInt, "0", 0), (f.Float, "2.5", 2.5), (f.Float, "1e-3", 0.001),
    (f.Float, ".5", 0.5), (f.Bool, "TRUE", True), (f.Bool, "no", False), (f.Bool, "1", True),
    (f.IsoDate, "2013-10-08", "2013-10-08"), (f.TimeMs, "09:30", 34_200_000),
    (f.TimeMs, "16:00", 57_600_000), (f.Price, "48.19", 481_900), (f.Price, "0.0001", 1),
    (f.Price, "179.8698", 1_798_698), (f.Price, "-1.5", -15_000), (f.Price, "12", 120_000),
    (f.SymbolName, "BRK.B", "BRK.B"), (f.VenueCode, "XNYS", "XNYS"), (f.SipLetter, "", ""),
    (f.Currency, "USD", "USD"), (f.TimeZone, "America/New_York", "America/New_York"),
    (f.FixSession, "TAPE->XNYS", "TAPE->XNYS"), (f.Text, "  a b ", "a b"),
])
def test_types_parse(t: Any, text: str, value: Any) -> None:
    got = parse(t, text)
    assert got == value and type(got) is type(value)


def test_price_is_exact_fixed_point() -> None:
    # 0.1 + 0.2 style float error cannot happen: the digits are read as integers
    for cents in range(0, 100_000, 7):
        text = f"{cents // 100}.{cents % 100:02d}"
        assert parse(f.Price, text) == cents * 100


@pytest.mark.parametrize(("t", "text", "expected"), [
    (f.Int, "1.0", "expected an integer"),
    (f.Int, "1_000", "expected an integer"),
    (f.PositiveInt, "0", "expected a positive integer"),
    (f.PositiveInt, "abc", "expected a positive integer"),
    (f.Float, "nan", "expected a number"),
    (f.Float, "inf", "expected a number"),
    (f.Bool, "maybe", "expected true or false"),
    (f.IsoDate, "2013-02-30", "expected a date YYYY-MM-DD"),
    (f.IsoDate, "20131008", "expected a date YYYY-MM-DD"),
    (f.Price, "48.19001", "expected a price: a decimal with at most 4 places, like 48.19"),
    (f.Price, "$48", "expected a price: a decimal with at most 4 places, like 48.19"),
    (f.Price, "1e3", "expected a price: a decimal with at most 4 places, like 48.19"),
    (f.TimeMs, "24:00", "expected a time HH:MM (24-hour)"),
    (f.TimeMs, "9:30", "expected a time HH:MM (24-hour)"),
    (f.VenueCode, "NYSE1", "expected a venue code (MIC): 4 upper-case letters or digits"),
    (f.SipLetter, "n", "expected one upper-case letter, or nothing"),
    (f.Currency, "US", "expected a 3-letter currency code like USD"),
    (f.TimeZone, "Mars/Olympus", "expected an IANA time zone like America/New_York"),
    (f.FixSession, "TAPE->", "expected a FIX session SENDER->TARGET"),
    (f.NonEmpty, "  ", "expected a value (the cell is empty)"),
])
def test_types_say_what_they_expected(t: Any, text: str, expected: str) -> None:
    assert expectation(t, text).startswith(expected)


# ---------------------------------------------------------------- reading


def test_comments_blank_lines_and_physical_line_numbers(tmp_path: Path) -> None:
    rows, problems = rows_of(tmp_path, "# leading comment\n\na,b\n1,2\n  # indented\n\n3, 4\n")
    assert not problems
    assert [(r.line, r.cells) for r in rows] == [(4, {"a": "1", "b": "2"}),
                                                (7, {"a": "3", "b": "4"})]


def test_delimiter_and_quoting(tmp_path: Path) -> None:
    rows, problems = rows_of(tmp_path, 'a;b\n"x;y";2\n', delimiter=";")
    assert not problems and rows[0].cells == {"a": "x;y", "b": "2"}
    rows, problems = rows_of(tmp_path, 'a|b\nx|"say ""hi"""\n', delimiter="|")
    assert not problems and rows[0].cells == {"a": "x", "b": 'say "hi"'}


def test_wrong_field_count_names_the_line(tmp_path: Path) -> None:
    rows, problems = rows_of(tmp_path, "a,b\n1,2\n1,2,3\n1\n")
    assert [r.line for r in rows] == [2]
    assert problems == ["t.csv:3: expected 2 fields (as the header on line 1), got 3",
                        "t.csv:4: expected 2 fields (as the header on line 1), got 1"]


def test_header_problems_name_the_column(tmp_path: Path) -> None:
    rows, problems = rows_of(tmp_path, "# c\na,x,a\n1,2,3\n", required=("a", "b"),
                             optional=("c",))
    assert rows == []  # cells under a wrong header mean nothing
    assert problems == ["t.csv:2: column x: unknown column (expected columns: a, b, c)",
                        "t.csv:2: column a: appears twice in the header",
                        "t.csv:2: column b: missing from the header"]


def test_optional_columns_may_be_absent(tmp_path: Path) -> None:
    rows, problems = rows_of(tmp_path, "b,a\n1,2\n", optional=("c",))
    assert not problems and rows[0].cells == {"b": "1", "a": "2"}


def test_empty_file_has_no_header(tmp_path: Path) -> None:
    rows, problems = rows_of(tmp_path, "# only a comment\n\n")
    assert rows == [] and problems == ["t.csv: expected a header row, the file has none"]


def test_missing_unreadable_and_non_utf8_files(tmp_path: Path) -> None:
    problems = Problems()
    assert read_source(tmp_path / "absent.csv", "absent.csv", problems) is None
    (tmp_path / "latin.csv").write_bytes(b"a,b\nx,y\ncaf\xe9,1\n")
    assert read_source(tmp_path / "latin.csv", "latin.csv", problems) is None
    assert read_source(tmp_path, "folder.csv", problems) is None
    got = [str(p) for p in problems.items]
    assert got[0] == f"absent.csv: no such file ({tmp_path / 'absent.csv'})"
    assert got[1] == "latin.csv:3: expected UTF-8 text"
    assert got[2].startswith("folder.csv: cannot read ")


def test_byte_order_mark_is_not_part_of_the_header(tmp_path: Path) -> None:
    src = src_of(tmp_path, "\ufeffa,b\n1,2\n".encode())
    problems = Problems()
    rows = parse_rows(src, problems, required=("a", "b"))
    assert not problems and rows[0].cells == {"a": "1", "b": "2"}


def test_source_digest_is_of_the_bytes(tmp_path: Path) -> None:
    import hashlib

    src = src_of(tmp_path, "a,b\n1,2\n")
    assert src.sha256 == hashlib.sha256(b"a,b\n1,2\n").hexdigest()


# ---------------------------------------------------------------- rows and errors


class Pair(Row):
    a: f.PositiveInt
    b: f.Price


def test_every_bad_cell_of_a_row_is_reported(tmp_path: Path) -> None:
    src = src_of(tmp_path, "a,b\n0,x\n3,1.25\n")
    problems = Problems()
    rows = parse_rows(src, problems, required=("a", "b"))
    got = [validate_row(Pair, src, r, problems) for r in rows]
    assert got[0] is None and got[1] is not None and (got[1].a, got[1].b) == (3, 12_500)
    assert [str(p) for p in problems.items] == [
        't.csv:2: column a: expected a positive integer, got "0"',
        't.csv:2: column b: expected a price: a decimal with at most 4 places, like 48.19, '
        'got "x"',
    ]


def test_problems_are_capped_per_file_and_the_rest_counted(tmp_path: Path) -> None:
    n = MAX_PROBLEMS_PER_FILE + 7
    src = src_of(tmp_path, "a,b\n" + "0,1\n" * n)
    problems = Problems()
    for r in parse_rows(src, problems, required=("a", "b")):
        validate_row(Pair, src, r, problems)
    problems.add("other.csv", "also wrong", line=3)
    with pytest.raises(RefDataError) as exc:
        problems.raise_if_any()
    assert len(exc.value.problems) == MAX_PROBLEMS_PER_FILE + 1
    assert exc.value.not_shown == {"t.csv": 7}
    text = str(exc.value).splitlines()
    assert text[0] == 't.csv:2: column a: expected a positive integer, got "0"'
    assert text[-2] == "other.csv:3: also wrong"
    assert text[-1] == "t.csv: 7 more problem(s) not shown"


def test_problem_and_error_formats() -> None:
    p = Problem("listings.csv", 'expected a positive integer, got "abc"', line=7,
                column="lot_size")
    assert str(p) == 'listings.csv:7: column lot_size: expected a positive integer, got "abc"'
    assert str(Problem("refdata.toml", "unknown key", key="tables.x")) == (
        "refdata.toml: key 'tables.x': unknown key")
    e = RefDataError([p])
    assert (e.file, e.line, e.column) == ("listings.csv", 7, "lot_size")
    assert isinstance(e, ValueError)
    with pytest.raises(ValueError, match="at least one"):
        RefDataError([])
