"""`tape inject` file parsing: JSON arrays, JSON Lines and CSV, all validated before sending."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sequencer.inject import InjectError, parse_file
from sequencer.messages.admin import (
    HaltTrading,
    OperatorNote,
    ResumeTrading,
    SetParameter,
    TakeSnapshot,
)
from sequencer.messages.control import Alert, Probe, SystemStop

PROBLEM = re.compile(r"^(?P<file>.+):(?P<line>\d+): field '(?P<field>[^']*)': (?P<what>.+)$")


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def problems_of(path: Path) -> list[str]:
    with pytest.raises(InjectError) as ei:
        parse_file(path)
    e = ei.value
    assert e.path == path
    assert str(e).splitlines()[0] == f"{path}: {len(e.problems)} problem(s); nothing was sent"
    assert str(e).splitlines()[1:] == e.problems
    return e.problems


def where(problems: list[str], path: Path) -> list[tuple[int, str]]:
    """(line, field) of each problem, checking that each names the file."""
    out = []
    for p in problems:
        m = PROBLEM.match(p)
        assert m is not None, p
        assert m["file"] == str(path), p
        out.append((int(m["line"]), m["field"]))
    return out


# --------------------------------------------------------------------------- accepted files


def test_json_array(tmp_path: Path) -> None:
    p = write(tmp_path, "msgs.json", """[
  {"type": "OperatorNote", "author": "ops", "text": "hello"},
  {"type": "TakeSnapshot"},
  {"type": "TakeSnapshot", "target": "oms"},
  {"type": "SetParameter", "target": "vwap", "key": "max_pov", "value": "0.1"},
  {"type": "HaltTrading", "scope": "*", "reason": "halt"},
  {"type": "ResumeTrading", "scope": "*"},
  {"type": "Alert", "severity": "error", "source": "ops", "text": "x"},
  {"type": "Probe", "n": -9223372036854775808, "data": "abc"},
  {"type": "SystemStop"}
]
""")
    assert parse_file(p) == [
        OperatorNote(author="ops", text="hello"),
        TakeSnapshot(),
        TakeSnapshot(target="oms"),
        SetParameter(target="vwap", key="max_pov", value="0.1"),
        HaltTrading(scope="*", reason="halt"),
        ResumeTrading(scope="*"),
        Alert(severity="error", source="ops", text="x"),
        Probe(n=-(2**63), data=b"abc"),
        SystemStop(),
    ]


def test_json_lines(tmp_path: Path) -> None:
    p = write(tmp_path, "msgs.jsonl", (
        '{"type": "OperatorNote", "author": "a", "text": "b"}\n'
        "\n"
        '{"type": "SystemStop", "reason": "eod"}\n'
    ))
    assert parse_file(p) == [OperatorNote(author="a", text="b"), SystemStop(reason="eod")]


def test_csv_with_defaults_from_empty_cells(tmp_path: Path) -> None:
    p = write(tmp_path, "msgs.csv", (
        "type,author,text,target,n,data\n"
        "OperatorNote,ops,\"with, comma\",,,\n"
        "TakeSnapshot,,,,,\n"
        "TakeSnapshot,,,oms,,\n"
        "Probe,,,,42,\n"
        "Probe,,,,-7,xyz\n"
    ))
    assert parse_file(p) == [
        OperatorNote(author="ops", text="with, comma"),
        TakeSnapshot(target="*"),
        TakeSnapshot(target="oms"),
        Probe(n=42, data=b""),
        Probe(n=-7, data=b"xyz"),
    ]


def test_demo_sample_file_parses() -> None:
    sample = Path(__file__).resolve().parents[2] / "deploy" / "samples" / "demo_messages.jsonl"
    msgs = parse_file(sample)
    assert msgs
    assert all(type(m).__name__ not in ("SystemStart", "ClockTick") for m in msgs)


# --------------------------------------------------------------------------- bad rows


def test_bad_rows_in_a_json_array_name_file_line_and_field(tmp_path: Path) -> None:
    p = write(tmp_path, "bad.json", """[
  {"type": "OperatorNote", "author": "ops", "text": "fine"},
  {"type": "Probe", "n": "abc"},
  {
    "type": "Alert",
    "severity": "loud",
    "source": "x"
  },
  {"type": "TakeSnapshot", "bogus": 1},
  {"type": "Probe", "n": 9223372036854775808},
  {"type": "OperatorNote", "author": "ops", "text": "fine too"}
]
""")
    probs = problems_of(p)
    assert where(probs, p) == [
        (3, "n"),
        (4, "severity"),
        (4, "text"),
        (9, "bogus"),
        (10, "n"),
    ]
    assert "valid integer" in probs[0]
    assert "(got 'abc')" in probs[0]
    assert "'info', 'warning', 'error' or 'critical'" in probs[1]
    assert "(got 'loud')" in probs[1]
    assert "Field required" in probs[2]
    assert "Extra inputs are not permitted" in probs[3]
    assert "less than or equal to 9223372036854775807" in probs[4]


def test_bad_rows_in_json_lines(tmp_path: Path) -> None:
    p = write(tmp_path, "bad.jsonl", (
        '{"type": "OperatorNote", "author": "ops"}\n'
        "\n"
        '{"type": "HaltTrading", "scope": 5, "reason": "r"}\n'
        '{"type": "SetParameter", "target": "t", "key": "k", "value": "v"}\n'
        '{"type": "Probe", "n": -9223372036854775809}\n'
    ))
    probs = problems_of(p)
    assert where(probs, p) == [(1, "text"), (3, "scope"), (5, "n")]
    assert "greater than or equal to -9223372036854775808" in probs[2]


def test_bad_rows_in_csv(tmp_path: Path) -> None:
    p = write(tmp_path, "bad.csv", (
        "type,severity,source,text,n\n"
        "Alert,info,ops,ok,\n"
        "Alert,sometimes,ops,bad severity,\n"
        "\n"
        "Probe,,,,twelve\n"
        "Alert,info,,missing source,\n"
        "Probe,,,,99999999999999999999\n"
    ))
    probs = problems_of(p)
    assert where(probs, p) == [(3, "severity"), (5, "n"), (6, "source"), (7, "n")]


def test_unknown_type(tmp_path: Path) -> None:
    p = write(tmp_path, "t.jsonl", (
        '{"type": "Nope"}\n'
        '{"author": "no type"}\n'
        '{"type": 5}\n'
    ))
    probs = problems_of(p)
    assert where(probs, p) == [(1, "type"), (2, "type"), (3, "type")]
    assert "unknown message type 'Nope'" in probs[0]
    assert "unknown message type None" in probs[1]
    # The list of known types offers only what may be injected.
    assert "OperatorNote" in probs[0]
    assert "SystemStart" not in probs[0]
    assert "ClockTick" not in probs[0]


@pytest.mark.parametrize("name", ["SystemStart", "ClockTick"])
def test_the_sequencers_own_types_are_refused(tmp_path: Path, name: str) -> None:
    row = (
        '{"type": "SystemStart", "session_date": "2024-03-15", "seed": 1, "config_digest": "d"}'
        if name == "SystemStart" else '{"type": "ClockTick"}'
    )
    p = write(tmp_path, "own.jsonl", '{"type": "TakeSnapshot"}\n' + row + "\n")
    probs = problems_of(p)
    assert where(probs, p) == [(2, "type")]
    assert f"{name} is sequenced only by the sequencer" in probs[0]


def test_a_row_that_is_not_an_object(tmp_path: Path) -> None:
    p = write(tmp_path, "rows.json", '[\n  {"type": "TakeSnapshot"},\n  5,\n  "x"\n]\n')
    assert problems_of(p) == [
        f"{p}:3: expected an object with a 'type' key",
        f"{p}:4: expected an object with a 'type' key",
    ]


def test_every_problem_is_listed_not_just_the_first(tmp_path: Path) -> None:
    lines = [
        '{"type": "OperatorNote"}' if i % 2 else '{"type": "TakeSnapshot"}' for i in range(1, 21)
    ]
    p = write(tmp_path, "many.jsonl", "\n".join(lines) + "\n")
    probs = problems_of(p)
    # Each OperatorNote lacks two fields: both are reported, for each of the ten rows.
    assert where(probs, p) == [(i, f) for i in range(1, 21, 2) for f in ("author", "text")]


# --------------------------------------------------------------------------- unusable files


@pytest.mark.parametrize(
    ("name", "text"),
    [("e.json", ""), ("e.jsonl", "\n  \n"), ("e.json", "[]"), ("e.json", " [ \n ] "),
     ("e.csv", ""), ("e.csv", "type,author,text\n")],
    ids=["empty-json", "blank-jsonl", "empty-array", "empty-array-spaced", "empty-csv",
         "csv-header-only"],
)
def test_empty_file(tmp_path: Path, name: str, text: str) -> None:
    p = write(tmp_path, name, text)
    assert problems_of(p) == [f"{p}: no rows"]


def test_invalid_json(tmp_path: Path) -> None:
    p = write(tmp_path, "x.jsonl", '{"type": "TakeSnapshot"}\n{"type": \n')
    (prob,) = problems_of(p)
    assert prob.startswith(f"{p}: line 2: not valid JSON")

    p = write(tmp_path, "y.json", '[\n  {"type": "TakeSnapshot"},\n  {"type": oops}\n]\n')
    (prob,) = problems_of(p)
    assert prob.startswith(f"{p}: line 3: not valid JSON")

    p = write(tmp_path, "z.json", '[\n  {"type": "TakeSnapshot"},\n')
    assert problems_of(p) == [f"{p}: unterminated JSON array"]


def test_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    (prob,) = problems_of(missing)
    assert prob.startswith(f"{missing}: cannot read:")

    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    (prob,) = problems_of(binary)
    assert prob.startswith(f"{binary}: cannot read:")
