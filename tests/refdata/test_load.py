"""`refdata.load`: a set is read back only when it is the set its manifest describes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from refdata.files import RefDataError
from refdata.load import MANIFEST_FILE, REFDATA_FILE, digest_of, load, read_set, verify
from refdata.model import PRICE_SCALE, RefData
from tests.refdata.test_build import build_fake, fake_models

__all__ = ["fake_models"]  # the fixture, shared with test_build


@pytest.fixture
def built(tmp_path: Path, fake_models: list[Any]) -> Path:
    build_fake(tmp_path)
    return tmp_path / "set"


def test_load_round_trips_the_set(built: Path) -> None:
    data, digest = read_set(built)
    rd = load(built)
    assert isinstance(rd, RefData)
    assert rd.data == data and rd.digest == digest == digest_of(built) == verify(built)
    # given the file rather than the folder, the same set
    assert load(built / REFDATA_FILE).digest == digest


def test_lookups(built: Path) -> None:
    rd = load(built)
    aig = rd.by_name("AIG")
    assert rd.symbol(aig.id) == aig and rd.find("MSFT") is None
    assert rd.venue_by_sip("N") is rd.venue("XNYS")
    assert rd.venue_by_sip("Q") is None
    assert rd.venue(aig.primary_venue).name == "New York Stock Exchange"
    assert [d.name for d in rd.destinations_for("ARCX")] == ["DMA-ARCX"]
    assert rd.destinations_for("FINN") == ()
    assert rd.stats(aig.id).adv == 1_000_000
    assert rd.tick_size(aig.id, PRICE_SCALE - 1) == 1
    assert rd.tick_size(aig.id, 48 * PRICE_SCALE) == 100
    assert len(rd.curve(aig.id).binned(rd.bin_minutes)) == 39
    with pytest.raises(KeyError, match="no symbol with id 99"):
        rd.symbol(99)


def test_a_tampered_set_is_refused(built: Path) -> None:
    path = built / REFDATA_FILE
    blob = path.read_bytes()
    path.write_bytes(blob.replace(b'"lot_size":100', b'"lot_size":10', 1))
    with pytest.raises(RefDataError) as exc:
        load(built)
    assert exc.value.file == str(path)
    assert "digest mismatch" in str(exc.value)
    with pytest.raises(RefDataError, match="digest mismatch"):
        verify(built)
    # the manifest's digest alone still reads (it is what the day recorded)
    assert len(digest_of(built)) == 64


def test_a_manifest_edited_to_match_other_bytes_is_refused(built: Path) -> None:
    m = json.loads((built / MANIFEST_FILE).read_text())
    m["digest"] = "0" * 64
    (built / MANIFEST_FILE).write_text(json.dumps(m))
    with pytest.raises(RefDataError, match="the manifest says 0000"):
        load(built)


def test_a_manifest_disagreeing_on_the_date_is_refused(built: Path) -> None:
    m = json.loads((built / MANIFEST_FILE).read_text())
    m["session_date"] = "2013-10-09"
    (built / MANIFEST_FILE).write_text(json.dumps(m))
    with pytest.raises(RefDataError, match="session_date '2013-10-09' disagrees"):
        load(built)


@pytest.mark.parametrize(("damage", "expected"), [
    (lambda d: (d / MANIFEST_FILE).unlink(), f"no {MANIFEST_FILE} here"),
    (lambda d: (d / REFDATA_FILE).unlink(), "missing (the manifest is there, the set is not)"),
    (lambda d: (d / MANIFEST_FILE).write_text("{not json"), "expected a JSON manifest"),
    (lambda d: (d / MANIFEST_FILE).write_text("[]"), "expected a JSON object"),
    (lambda d: (d / MANIFEST_FILE).write_text('{"format": 9}'), "expected manifest format 1"),
])
def test_damage_is_named(built: Path, damage: Any, expected: str) -> None:
    damage(built)
    with pytest.raises(RefDataError, match=re.escape(expected)):
        load(built)


def test_an_absent_set(tmp_path: Path) -> None:
    with pytest.raises(RefDataError, match="no such ref data set"):
        load(tmp_path / "nowhere")
    with pytest.raises(RefDataError, match="no such ref data set"):
        digest_of(tmp_path / "nowhere")


def test_undecodable_bytes_with_a_matching_digest(built: Path) -> None:
    """A set whose manifest was rewritten to match broken bytes still fails, by name."""
    import hashlib

    blob = b'{"session_date": "2013-10-08"}'
    (built / REFDATA_FILE).write_bytes(blob)
    m = json.loads((built / MANIFEST_FILE).read_text())
    m["digest"] = hashlib.sha256(blob).hexdigest()
    (built / MANIFEST_FILE).write_text(json.dumps(m))
    with pytest.raises(RefDataError, match="expected a ref data set"):
        load(built)
