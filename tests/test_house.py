"""House rules read from the code itself: no import circles, the arrows between
packages that DESIGN.md draws, and no source id written as a number outside the
source registry (`sequencer.sources`)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("sequencer", "oms", "algo_engine", "fix_gateways", "marketdata", "refdata",
            "post_trade", "deploy")


def modules(roots: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """Every module of the given top-level folders, by dotted name."""
    out: dict[str, Path] = {}
    for root in roots:
        for path in sorted((REPO / root).rglob("*.py")):
            rel = path.relative_to(REPO).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def imports(path: Path, name: str, *, top_level_only: bool) -> Iterator[str]:
    """The modules `path` imports (TYPE_CHECKING imports included: a circle through
    them is still a circle for the reader). With `top_level_only`, imports inside
    functions (the CLI's lazy imports) are left out."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def walk(node: ast.AST, in_function: bool) -> Iterator[str]:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import) and not (top_level_only and in_function):
                for a in child.names:
                    yield a.name
            elif isinstance(child, ast.ImportFrom) and not (top_level_only and in_function):
                base = child.module or ""
                if child.level:
                    up = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*up, base] if base else up)
                yield base
                for a in child.names:
                    yield f"{base}.{a.name}"
            yield from walk(child, inner)

    yield from walk(tree, False)


def graph(top_level_only: bool = True) -> dict[str, set[str]]:
    mods = modules()
    g: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        for imp in imports(path, m, top_level_only=top_level_only):
            if imp in mods and imp != m:
                g[m].add(imp)
    return g


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(g[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def test_no_import_circles() -> None:
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _top(m: str) -> str:
    return m.split(".", maxsplit=1)[0]


def arrows(g: dict[str, set[str]]) -> set[tuple[str, str]]:
    """(importing module, imported module) across top-level packages."""
    return {(m, i) for m, deps in g.items() for i in deps if _top(m) != _top(i)}


def test_the_sequencer_imports_no_other_package() -> None:
    bad = sorted((m, i) for m, i in arrows(graph(top_level_only=False))
                 if _top(m) == "sequencer")
    assert bad == []


def test_apps_never_import_each_other() -> None:
    apps = ("oms", "algo_engine")
    bad = sorted((m, i) for m, i in arrows(graph(top_level_only=False))
                 if _top(m) in apps and _top(i) in (*apps, "fix_gateways", "deploy",
                                                     "post_trade"))
    assert bad == []


def test_the_app_facing_refdata_modules_reach_nothing_but_refdata_and_sequencer() -> None:
    g = graph(top_level_only=False)
    for m in ("refdata.model", "refdata.load"):
        seen: set[str] = set()
        todo = [m]
        while todo:  # everything they reach, not only what they import directly
            v = todo.pop()
            if v in seen:
                continue
            seen.add(v)
            todo += g.get(v, ())
        assert not [v for v in seen if _top(v) not in ("refdata", "sequencer")], m


# ---------------------------------------------------------------- source ids

#: Files that may write a source id as a number, and why.
EXEMPT = {
    "sequencer/sources.py": "the registry itself",
    "tests/sequencer/test_frames.py": "the frame codec over arbitrary field values",
    "tests/data/make_journal_v1.py": "frozen: it wrote the pinned journal of long ago",
    "tests/test_house.py": "this test's own examples",
}

#: Calls whose argument at this position is a source id: the frame codec, a publisher,
#: the stream kit's `send` and `input`, and the frame builders of the tests (`add`).
SOURCE_ARGS = {"encode_frame": 2, "encode_input": 0, "StreamPublisher": 2, "inject": 2,
               "send": 1, "input": 0, "add": 1}
#: Names of the registry's constants: a file that gives one of them a number of its own
#: is writing a source id as a number.
REGISTRY_NAMES = ("SEQUENCER", "COUNTER", "NOOP", "MONITOR", "PLANT", "OMS", "ALGO",
                  "CLIENT_GW", "VENUE_GW", "GATEWAY", "INJECT", "OPS", "CLOCK", "MARKET")


def _int(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int


def _sourcey(name: str) -> bool:
    n = name.lower()
    return n == "src" or n.endswith(("source", "source_id", "_src", "source_ids")) or (
        n.startswith("source") and not n.startswith("source_seq")) or (
        name.isupper() and name.endswith(REGISTRY_NAMES))


def numbered_sources(source: str) -> list[tuple[int, str]]:
    """(line, what) for each place `source` writes a source id as a number."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                names = t.elts if isinstance(t, ast.Tuple) else [t]
                values = (node.value.elts if isinstance(node.value, ast.Tuple)
                          and isinstance(t, ast.Tuple) else [node.value] * len(names))
                for n, v in zip(names, values, strict=False):
                    name = n.id if isinstance(n, ast.Name) else (
                        n.attr if isinstance(n, ast.Attribute) else "")
                    if name and _sourcey(name) and _int(v):
                        found.append((node.lineno, f"{name} = {ast.unparse(v)}"))
        elif isinstance(node, ast.Call):
            fn = node.func.id if isinstance(node.func, ast.Name) else (
                node.func.attr if isinstance(node.func, ast.Attribute) else "")
            for kw in node.keywords:
                if kw.arg and _sourcey(kw.arg) and _int(kw.value):
                    found.append((node.lineno, f"{kw.arg}={ast.unparse(kw.value)}"))
            pos = SOURCE_ARGS.get(fn)
            if pos is not None and len(node.args) > pos and _int(node.args[pos]) and (
                    fn != "add" or len(node.args) >= 3):
                found.append((node.lineno, f"{fn}(... {ast.unparse(node.args[pos])} ...)"))
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            named = [s for s in sides if (isinstance(s, ast.Name) and _sourcey(s.id)) or (
                isinstance(s, ast.Attribute) and _sourcey(s.attr)) or (
                isinstance(s, ast.Subscript) and isinstance(s.slice, ast.Constant)
                and isinstance(s.slice.value, str) and _sourcey(s.slice.value))]
            if named and any(_int(s) for s in sides):
                found.append((node.lineno, ast.unparse(node)))
    return sorted(found)


def test_the_finder_finds_numbered_sources() -> None:
    code = ("SOURCE = 70\nclass A:\n    source_id = 40\nf(source=30)\n"
            "encode_frame(1, 2, 900, 4, 5, b'')\nif f.source_id == 21: pass\n"
            "ok = sources.OMS\nencode_frame(1, 2, sources.OMS, 4, 5, b'')\n"
            "x = row['source_id'] == 10\nINJECT = 900\ns.add(note('x'), 900, 10)\n"
            "kit.send(msg, 30)\nseen.add(3)\n")
    assert [line for line, _ in numbered_sources(code)] == [1, 3, 4, 5, 6, 9, 10, 11, 12]


@pytest.mark.parametrize("root", ["sequencer", "oms", "algo_engine", "fix_gateways",
                                  "marketdata", "refdata", "post_trade", "deploy", "tests"])
def test_no_source_id_is_written_as_a_number(root: str) -> None:
    bad = []
    for path in sorted((REPO / root).rglob("*.py")):
        rel = str(path.relative_to(REPO))
        if rel in EXEMPT:
            continue
        bad += [f"{rel}:{line}: {what}" for line, what in numbered_sources(path.read_text())]
    assert bad == [], "use sequencer.sources:\n" + "\n".join(bad)
