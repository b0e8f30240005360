"""Read a built ref data set back, checking it is the set its manifest describes.

    rd = load(Path("day/refdata"))     # RefData: what ctx.refdata is
    rd.by_name("AIG").id, rd.digest

`load` recomputes the SHA-256 of `refdata.json` and compares it with the
digest in `manifest.json`; a set that was edited or damaged after it was
built is refused with a `RefDataError` naming the file. `digest_of` reads the
manifest's digest only (cheap: what a day records in `SystemStart`), and
`verify` checks a set without keeping it.
"""

# determinism: edge module, reads the built set from the day folder once, at start

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import msgspec

from refdata.files import Problem, RefDataError
from refdata.model import RefData, RefDataSet

REFDATA_FILE = "refdata.json"  # the canonical RefDataSet; its SHA-256 is the digest
MANIFEST_FILE = "manifest.json"
FORMAT = 1  # of manifest.json


def _set_dir(path: Path) -> Path:
    """A set's folder, also when given the path of its refdata.json or manifest.json."""
    path = Path(path)
    return path.parent if path.name in (REFDATA_FILE, MANIFEST_FILE) and path.is_file() else path


def _damage(path: Path, what: str) -> RefDataError:
    return RefDataError([Problem(str(path), what)])


def read_manifest(path: Path) -> dict[str, Any]:
    """The set's manifest, checked for the fields a reader relies on."""
    mpath = _set_dir(path) / MANIFEST_FILE
    try:
        doc = json.loads(mpath.read_bytes())
    except FileNotFoundError:
        where = _set_dir(path)
        what = "no such ref data set" if not where.exists() else f"no {MANIFEST_FILE} here"
        raise _damage(where, what) from None
    except (OSError, ValueError) as e:
        raise _damage(mpath, f"expected a JSON manifest: {e}") from None
    if not isinstance(doc, dict):
        raise _damage(mpath, "expected a JSON object")
    if doc.get("format") != FORMAT:
        raise _damage(mpath, f"expected manifest format {FORMAT}, got {doc.get('format')!r}")
    digest = doc.get("digest")
    if not (isinstance(digest, str) and len(digest) == 64):
        raise _damage(mpath, f"expected a SHA-256 digest, got {digest!r}")
    return doc


def digest_of(path: Path) -> str:
    """The set's digest as its manifest records it (what goes into `SystemStart`)."""
    return str(read_manifest(path)["digest"])


def read_set(path: Path) -> tuple[RefDataSet, str]:
    """The decoded set and its digest, after checking the bytes against the manifest."""
    doc = read_manifest(path)
    rpath = _set_dir(path) / REFDATA_FILE
    try:
        blob = rpath.read_bytes()
    except FileNotFoundError:
        raise _damage(rpath, "missing (the manifest is there, the set is not)") from None
    except OSError as e:
        raise _damage(rpath, f"cannot read: {e}") from None
    digest = hashlib.sha256(blob).hexdigest()
    if digest != doc["digest"]:
        raise _damage(rpath, f"digest mismatch: the file hashes to {digest}, the manifest "
                             f"says {doc['digest']} (changed or damaged since it was built)")
    try:
        data = msgspec.json.decode(blob, type=RefDataSet)
    except msgspec.DecodeError as e:  # the digest matches, so the set was built like this
        raise _damage(rpath, f"expected a ref data set: {e}") from None
    if data.session_date.isoformat() != doc.get("session_date"):
        raise _damage(_set_dir(path) / MANIFEST_FILE,
                      f"session_date {doc.get('session_date')!r} disagrees with "
                      f"{REFDATA_FILE} ({data.session_date.isoformat()})")
    return data, digest


def load(path: Path) -> RefData:
    """The set in folder `path`, ready for apps; `RefDataError` if it is absent or damaged."""
    data, digest = read_set(path)
    return RefData(data, digest)


def verify(path: Path) -> str:
    """Check a set (digest, decoding); its digest, or `RefDataError` saying what is wrong."""
    return read_set(path)[1]


def load_for_day(day: Path, digest: str) -> RefData:
    """The set `DAY/refdata` for the runtime (`ctx.refdata`), which must be the one the
    day's `SystemStart` names: a day replayed on other ref data is refused, loudly."""
    rd = load(Path(day) / "refdata")
    if rd.digest != digest:
        raise RefDataError([Problem(
            file=str(Path(day) / "refdata" / MANIFEST_FILE), key="digest",
            what=f"the day ran on ref data {digest[:16]}..., this set is {rd.digest[:16]}...",
        )], {})
    return rd


def save(path: Path, data: RefDataSet) -> RefData:
    """Write a set made in code (a generated day's, a test's) as `tape refdata build`
    would leave it: `refdata.json` and a manifest naming its digest. Returns it loaded."""
    blob = msgspec.json.encode(data)
    digest = hashlib.sha256(blob).hexdigest()
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    (out / REFDATA_FILE).write_bytes(blob)
    (out / MANIFEST_FILE).write_text(json.dumps(
        {"format": FORMAT, "digest": digest, "session_date": data.session_date.isoformat(),
         "built_with": "refdata.load.save", "files": {REFDATA_FILE: {
             "bytes": len(blob), "sha256": digest}}}, indent=2, sort_keys=True) + "\n")
    return RefData(msgspec.json.decode(blob, type=RefDataSet), digest)
