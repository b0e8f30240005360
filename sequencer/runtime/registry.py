"""Where `tape app run NAME` and `tape replay --app NAME` find apps.

Built-in sample apps, plus any package's apps declared as entry points in the
group `tape.apps` (`name = "package.module:Class"`), so a new app needs no
change here.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from sequencer.runtime.app import App

BUILTIN = {
    "noop": "sequencer.runtime.samples:NoopApp",
    "counter": "sequencer.runtime.samples:CounterApp",
}


class UnknownApp(LookupError):
    pass


#: Another build of an app, tried against a past day: `NAME=package.module:Class`,
#: comma separated (the replay debugger's tests; ops replaying a fix before it ships).
OVERRIDE_ENV = "TAPE_APP_OVERRIDE"


def available() -> dict[str, str]:
    """Every app name and where it lives, sorted by name."""
    found = dict(BUILTIN)
    for ep in entry_points(group="tape.apps"):
        found[ep.name] = ep.value
    for item in os.environ.get(OVERRIDE_ENV, "").split(","):
        name, _, where = item.partition("=")
        if name.strip() and where.strip():
            found[name.strip()] = where.strip()
    return dict(sorted(found.items()))


def load(name: str) -> type[App]:
    where = available().get(name)
    if where is None:
        raise UnknownApp(f"no app named {name!r}; known: {', '.join(available())}")
    module, _, attr = where.partition(":")
    cls = getattr(importlib.import_module(module), attr)
    if not (isinstance(cls, type) and issubclass(cls, App)):
        raise UnknownApp(f"{where} is not an App")
    return cls


def refdata_loader(day: Path) -> Callable[[str], Any] | None:
    """How apps of `day` get `ctx.refdata`: the loader a package declares in the
    entry point group `tape.refdata` (the `refdata` package's), bound to the day
    folder. It is called with the digest `SystemStart` names and must return a
    set with exactly that digest. None if no package declares one."""
    for ep in entry_points(group="tape.refdata"):
        module, _, attr = ep.value.partition(":")
        fn = getattr(importlib.import_module(module), attr)
        return lambda digest: fn(Path(day), digest)
    return None
