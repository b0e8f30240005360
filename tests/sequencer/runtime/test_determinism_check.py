"""Apps must be deterministic functions of the stream: a static check of their source.

Over every module of the app packages (and the runtime's sample apps) this fails on:

- wall-clock reads: `time.time`, `time.time_ns`, `time.monotonic`, `time.perf_counter`
  (and their `_ns` forms), `datetime.now/utcnow/today`, `date.today`;
- threads: `threading`, `_thread`, `concurrent.futures`, `multiprocessing`;
- I/O: `open(`, pathlib reads and writes, `socket`, `subprocess`, `os.write` and kin;
- unseeded random: `import random` / `from random import` at module level, the `random`
  module's global functions, `numpy.random` without a seed, `secrets`, `os.urandom`;
- `uuid.uuid1` / `uuid.uuid4`;
- iteration over a set or frozenset (of strings, or of anything not declared `int`):
  `for x in set(...)`, `for x in {...}`, comprehensions, `list(s)`, `",".join(s)`, ...
  (their order changes with PYTHONHASHSEED); `sorted(s)` is the fix.

The check walks the syntax tree (imports and aliases resolved), not the text. A line
marked `# determinism: allowed, <why>` is exempt; the marker without a reason fails.

A whole module that is an edge process or offline tooling, never app code (the ticker
plant's process loop, benchmarks, CLIs, the ref data builder), says so on a line of its
own: `# determinism: edge module, <why>`. The modules that decide (`MUST_CHECK`) may not.
"""

from __future__ import annotations

import ast
import io
import re
import textwrap
import tokenize
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGES = ("oms", "algo_engine", "marketdata", "fix_gateways", "refdata", "post_trade")
EXTRA_FILES = ("sequencer/runtime/samples.py",)

EDGE = re.compile(r"^#\s*determinism\s*:\s*edge module\s*,\s*\S", re.MULTILINE)
#: The deciding parts of the edge packages and what apps read: always checked.
MUST_CHECK = ("marketdata/plant.py", "marketdata/monitor.py",
              "marketdata/nbbo.py", "marketdata/volume.py", "marketdata/feed.py",
              "refdata/model.py")

MARKER = re.compile(r"#\s*determinism\s*:\s*allowed\b(?P<rest>.*)$")
REASON = re.compile(r"^\s*,\s*\S")

WALL_CLOCK = {
    *(f"time.{f}" for f in ("time", "time_ns", "monotonic", "monotonic_ns", "perf_counter",
                            "perf_counter_ns", "process_time", "process_time_ns",
                            "clock_gettime", "clock_gettime_ns")),
    "datetime.datetime.now", "datetime.datetime.utcnow", "datetime.datetime.today",
    "datetime.date.today",
}
THREAD_MODULES = ("threading", "_thread", "concurrent.futures", "multiprocessing")
IO_MODULES = ("socket", "subprocess", "selectors", "urllib.request", "http.client", "requests")
IO_CALLS = {"open", "io.open", "builtins.open", "os.open", "os.write", "os.read", "os.system",
            "os.popen", "os.fdopen", "os.sendfile", "os.remove", "os.unlink", "os.rename",
            "os.replace", "os.mkdir", "os.makedirs", "shutil.copy", "shutil.copyfile",
            "shutil.move", "shutil.rmtree", "zipfile.ZipFile", "gzip.open", "bz2.open",
            "lzma.open", "tarfile.open"}
PATH_METHODS = {"read_text", "read_bytes", "write_text", "write_bytes", "touch", "mkdir",
                "unlink", "iterdir", "rmdir", "symlink_to", "hardlink_to"}
PATH_TYPES = {"pathlib.Path", "pathlib.PurePath", "pathlib.PosixPath", "Path"}
RANDOM_GLOBALS = {"random", "randint", "randrange", "choice", "choices", "shuffle", "sample",
                  "uniform", "gauss", "normalvariate", "lognormvariate", "expovariate",
                  "betavariate", "gammavariate", "triangular", "vonmisesvariate",
                  "paretovariate", "weibullvariate", "getrandbits", "randbytes", "seed",
                  "binomialvariate", "SystemRandom"}
NUMPY_SEEDABLE = {"default_rng", "Generator", "RandomState", "SeedSequence", "PCG64",
                  "PCG64DXSM", "MT19937", "Philox", "SFC64", "BitGenerator"}
UUID_CALLS = {"uuid.uuid1", "uuid.uuid4"}
SET_TYPES = {"set", "frozenset", "Set", "FrozenSet", "AbstractSet", "MutableSet"}
STABLE_ELEMENTS = {"int", "bool"}
ORDERED_FROM_ITERABLE = {"list", "tuple", "enumerate", "iter", "zip", "map", "filter",
                         "reversed", "deque", "collections.deque", "dict.fromkeys"}
ORDER_FREE_CONSUMERS = {"sorted", "set", "frozenset", "len", "any", "all", "min", "max", "sum"}


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    rule: str
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: [{self.rule}] {self.what}"


def dotted(node: ast.AST) -> str | None:
    """`a.b.c` for a Name/Attribute chain, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def annotation_set_kind(ann: ast.AST | None) -> str | None:
    """'stable' for a set of ints, 'unstable' for any other set or frozenset, else None."""
    if ann is None:
        return None
    if isinstance(ann, ast.Constant) and isinstance(ann.value, str):
        try:
            ann = ast.parse(ann.value, mode="eval").body
        except SyntaxError:
            return None
    if isinstance(ann, ast.BinOp):  # X | None
        kinds = {annotation_set_kind(ann.left), annotation_set_kind(ann.right)} - {None}
        return "unstable" if "unstable" in kinds else kinds.pop() if kinds else None
    base, elem = ann, None
    if isinstance(ann, ast.Subscript):
        base, elem = ann.value, ann.slice
    name = dotted(base)
    if name is None or name.rsplit(".", 1)[-1] not in SET_TYPES:
        return None
    return "stable" if elem is not None and dotted(elem) in STABLE_ELEMENTS else "unstable"


class Checker(ast.NodeVisitor):
    def __init__(self, path: str, source: str) -> None:
        self.path = path
        self.source = source
        self.tree = ast.parse(source, filename=path)
        self.found: list[tuple[int, int, str, str]] = []  # (line, end line, rule, what)
        self.aliases: dict[str, str] = {}
        self.set_names: dict[str, str] = {}  # name (or ".attr") -> stable | unstable
        self.depth = 0  # function nesting
        self.order_free: set[int] = set()  # ids of generator expressions consumed order-free
        self._prepass()

    # ---- pre-pass: imports and what is known to be a set

    def _prepass(self) -> None:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname:
                        self.aliases[a.asname] = a.name
                    else:
                        head = a.name.split(".")[0]
                        self.aliases[head] = head
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for a in node.names:
                    self.aliases[a.asname or a.name] = f"{node.module}.{a.name}"
        for node in ast.walk(self.tree):
            if isinstance(node, ast.AnnAssign):
                kind = annotation_set_kind(node.annotation)
                if kind is not None:
                    self._declare(node.target, kind)
            elif isinstance(node, ast.Assign):
                if self.set_expr(node.value, prepass=True):
                    for t in node.targets:
                        self._declare(t, "unstable")
            elif isinstance(node, ast.arg):
                kind = annotation_set_kind(node.annotation)
                if kind is not None:
                    self.set_names[node.arg] = kind

    def _declare(self, target: ast.AST, kind: str) -> None:
        if isinstance(target, ast.Name):
            self.set_names[target.id] = kind
            self.set_names["." + target.id] = kind  # a class field becomes an attribute
        elif isinstance(target, ast.Attribute):
            self.set_names["." + target.attr] = kind

    # ---- names

    def qualified(self, node: ast.AST) -> str | None:
        name = dotted(node)
        if name is None:
            return None
        head, _, rest = name.partition(".")
        head = self.aliases.get(head, head)
        return f"{head}.{rest}" if rest else head

    def set_expr(self, node: ast.AST, prepass: bool = False) -> str | None:
        """What makes `node` a hash-ordered set, or None."""
        if isinstance(node, ast.Set):
            return "a set literal"
        if isinstance(node, ast.SetComp):
            return "a set comprehension"
        if isinstance(node, ast.Call):
            fn = self.qualified(node.func)
            if fn in ("set", "frozenset", "builtins.set", "builtins.frozenset"):
                return f"{fn}(...)"
            if isinstance(node.func, ast.Attribute) and node.func.attr in (
                    "union", "intersection", "difference", "symmetric_difference", "copy"):
                inner = self.set_expr(node.func.value, prepass)
                return f"{inner}.{node.func.attr}(...)" if inner else None
        if isinstance(node, ast.BinOp) and isinstance(
                node.op, (ast.BitOr, ast.BitAnd, ast.Sub, ast.BitXor)):
            return self.set_expr(node.left, prepass) or self.set_expr(node.right, prepass)
        if prepass:
            return None
        if isinstance(node, ast.Name) and self.set_names.get(node.id) == "unstable":
            return f"the set {node.id!r}"
        if isinstance(node, ast.Attribute) and self.set_names.get("." + node.attr) == (
                "unstable"):
            return f"the set {dotted(node) or node.attr!r}"
        return None

    # ---- reporting

    def flag(self, node: ast.AST, rule: str, what: str) -> None:
        line = getattr(node, "lineno", 1)
        end = getattr(node, "end_lineno", line) or line
        self.found.append((line, end, rule, what))

    def check_iteration(self, node: ast.AST, how: str) -> None:
        why = self.set_expr(node)
        if why:
            self.flag(node, "set-iteration",
                      f"{how} {why}: hash order changes with PYTHONHASHSEED (use sorted())")

    # ---- visitors

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef  # noqa: N815

    def visit_Import(self, node: ast.Import) -> None:
        self._check_imports(node, [a.name for a in node.names])
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        mod = node.module or ""
        if not node.level:  # relative imports are the project's own modules
            self._check_imports(node, [mod] + [f"{mod}.{a.name}" for a in node.names])
            if mod == "numpy.random":
                for a in node.names:
                    if a.name not in NUMPY_SEEDABLE:
                        self.flag(node, "unseeded-random",
                                  f"numpy.random.{a.name} draws from numpy's global state")
        self.generic_visit(node)

    def _check_imports(self, node: ast.AST, names: list[str]) -> None:
        def hit(mods: tuple[str, ...]) -> str | None:
            return next((n for n in names
                         if any(n == m or n.startswith(m + ".") for m in mods)), None)

        if found := hit(THREAD_MODULES):
            self.flag(node, "threads", f"import of {found}: apps never start threads")
        if found := hit(IO_MODULES):
            self.flag(node, "io", f"import of {found}: apps do no I/O")
        if self.depth == 0 and (found := hit(("random",))):
            self.flag(node, "unseeded-random",
                      f"module-level import of {found}: use ctx.random (seeded by the day)")
        if found := hit(("secrets",)):
            self.flag(node, "unseeded-random", f"import of {found}: unseeded randomness")

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self._check_reference(node, self.qualified(node))

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.ctx, ast.Load):
            self._check_reference(node, self.qualified(node))
        self.generic_visit(node)

    def _check_reference(self, node: ast.AST, name: str | None) -> None:
        if name is None:
            return
        if name in WALL_CLOCK:
            self.flag(node, "wall-clock", f"{name} reads the wall clock: use ctx.now")
        elif name in UUID_CALLS:
            self.flag(node, "uuid", f"{name} is not a function of the stream")
        elif name == "os.urandom" or name.startswith("secrets."):
            self.flag(node, "unseeded-random", f"{name}: unseeded randomness")
        elif name.startswith("random.") and name.split(".", 1)[1] in RANDOM_GLOBALS:
            self.flag(node, "unseeded-random",
                      f"{name} uses the random module's global generator: use ctx.random")
        elif name.startswith("numpy.random."):
            fn = name.split(".")[2]
            if fn not in NUMPY_SEEDABLE:
                self.flag(node, "unseeded-random",
                          f"{name} draws from numpy's global state: use a seeded Generator")

    def visit_Call(self, node: ast.Call) -> None:
        fn = self.qualified(node.func)
        if fn in IO_CALLS:
            self.flag(node, "io", f"{fn}(...) does I/O")
        if fn and (fn.startswith("numpy.random.") or fn == "random.Random") and (
                fn.rsplit(".", 1)[-1] in NUMPY_SEEDABLE | {"Random"}):
            unseeded = (not node.args and not node.keywords) or (
                bool(node.args) and isinstance(node.args[0], ast.Constant)
                and node.args[0].value is None)
            if unseeded:
                self.flag(node, "unseeded-random", f"{fn}() without a seed")
        if isinstance(node.func, ast.Attribute):
            attr = node.func.attr
            recv = node.func.value
            if attr in PATH_METHODS:
                self.flag(node, "io", f".{attr}(...) does file I/O")
            elif attr == "open" and isinstance(recv, ast.Call) and (
                    self.qualified(recv.func) in PATH_TYPES):
                self.flag(node, "io", "Path(...).open(...) does file I/O")
            elif attr in ("join", "extend") and node.args:
                self.check_iteration(node.args[0], f".{attr}() over")
            elif attr == "pop" and not node.args and self.set_expr(recv):
                self.check_iteration(recv, "pop() from")
            elif attr == "fromkeys" and node.args:
                self.check_iteration(node.args[0], "dict.fromkeys() over")
        if fn in ORDERED_FROM_ITERABLE:
            for arg in node.args:
                self.check_iteration(arg, f"{fn}() over")
        if fn in ORDER_FREE_CONSUMERS:
            for arg in node.args:
                if isinstance(arg, ast.GeneratorExp | ast.ListComp):
                    self.order_free.add(id(arg))
        self.generic_visit(node)

    def visit_For(self, node: ast.For) -> None:
        self.check_iteration(node.iter, "for loop over")
        self.generic_visit(node)

    visit_AsyncFor = visit_For  # noqa: N815

    def _comprehension(self, node: ast.ListComp | ast.GeneratorExp | ast.DictComp) -> None:
        if id(node) not in self.order_free:
            for gen in node.generators:
                self.check_iteration(gen.iter, "comprehension over")
        self.generic_visit(node)

    visit_ListComp = _comprehension  # noqa: N815
    visit_GeneratorExp = _comprehension  # noqa: N815
    visit_DictComp = _comprehension  # noqa: N815

    def visit_Starred(self, node: ast.Starred) -> None:
        self.check_iteration(node.value, "unpacking of")
        self.generic_visit(node)

    # ---- run

    def run(self) -> list[Violation]:
        self.visit(self.tree)
        markers: dict[int, bool] = {}  # line -> marker has a reason
        for tok in tokenize.generate_tokens(io.StringIO(self.source).readline):
            if tok.type == tokenize.COMMENT:
                m = MARKER.search(tok.string)
                if m:
                    markers[tok.start[0]] = bool(REASON.match(m.group("rest")))
        out = [Violation(self.path, line, "marker-without-reason",
                         "'# determinism: allowed' needs a reason: "
                         "'# determinism: allowed, <why>'")
               for line, ok in sorted(markers.items()) if not ok]
        for line, end, rule, what in sorted(set(self.found)):
            if any(markers.get(n) for n in range(line, end + 1)):
                continue
            out.append(Violation(self.path, line, rule, what))
        return out


def check_source(source: str, path: str = "<snippet>") -> list[Violation]:
    return Checker(path, source).run()


def app_sources() -> list[Path]:
    files: list[Path] = []
    for pkg in PACKAGES:
        root = REPO / pkg
        assert (root / "__init__.py").is_file(), f"app package {pkg} is missing"
        files += sorted(root.rglob("*.py"))
    for extra in EXTRA_FILES:
        path = REPO / extra
        assert path.is_file(), f"{extra} is missing"
        files.append(path)
    return files


# ---------------------------------------------------------------- the real check


def test_app_sources_are_deterministic() -> None:
    files = app_sources()
    assert any(p.name == "samples.py" for p in files)
    problems: list[Violation] = []
    for path in files:
        source = path.read_text()
        if EDGE.search(source):
            continue
        problems += check_source(source, str(path.relative_to(REPO)))
    assert not problems, (
        f"{len(problems)} determinism problem(s) in app code (mark a deliberate exception "
        "with '# determinism: allowed, <why>'):\n" + "\n".join(map(str, problems)))


def test_deciding_modules_are_not_marked_as_edge_modules() -> None:
    for rel in MUST_CHECK:
        path = REPO / rel
        assert path.is_file(), f"{rel} is missing"
        assert not EDGE.search(path.read_text()), f"{rel} decides: it may not opt out"


# ---------------------------------------------------------------- the checker checks


BAD = {
    "wall-clock": [
        "import time\nx = time.time()",
        "import time\nx = time.time_ns()",
        "import time as t\nx = t.monotonic()",
        "import time\nx = time.perf_counter()",
        "import time\nclock = time.monotonic_ns",
        "from time import perf_counter_ns\nx = perf_counter_ns()",
        "import datetime\nx = datetime.datetime.now()",
        "import datetime as dt\nx = dt.datetime.utcnow()",
        "from datetime import datetime\nx = datetime.now(tz=None)",
        "from datetime import datetime\nx = datetime.today()",
        "from datetime import date\nx = date.today()",
        "import datetime as dt\nx = dt.date.today()",
    ],
    "threads": [
        "import threading",
        "from threading import Thread",
        "import concurrent.futures",
        "from concurrent.futures import ThreadPoolExecutor",
        "from concurrent import futures",
        "import multiprocessing",
    ],
    "io": [
        "f = open('x')",
        "def f():\n    with open('x', 'w') as fh:\n        fh.write('y')",
        "from pathlib import Path\nPath('x').write_text('y')",
        "def f(p):\n    return p.read_bytes()",
        "def f(p):\n    return p.read_text()",
        "from pathlib import Path\nfh = Path('x').open()",
        "import socket",
        "import subprocess",
        "from subprocess import run",
        "import os\nos.write(1, b'x')",
        "from os import write\nwrite(1, b'x')",
    ],
    "unseeded-random": [
        "import random",
        "from random import choice",
        "def f():\n    import random\n    return random.random()",
        "def f(xs):\n    import random\n    random.shuffle(xs)",
        "def f():\n    import random\n    return random.Random()",
        "import numpy as np\nx = np.random.rand(3)",
        "import numpy\nx = numpy.random.normal()",
        "import numpy as np\nrng = np.random.default_rng()",
        "import numpy as np\nrng = np.random.default_rng(None)",
        "from numpy.random import randint",
        "import os\nx = os.urandom(8)",
        "import secrets",
    ],
    "uuid": [
        "import uuid\nx = uuid.uuid4()",
        "import uuid\nx = uuid.uuid1()",
        "from uuid import uuid4\nx = uuid4()",
    ],
    "set-iteration": [
        "def f(names):\n    for x in set(names):\n        print(x)",
        "for x in {'a', 'b'}:\n    pass",
        "def f(y):\n    for x in frozenset(y):\n        pass",
        "def f(y):\n    return [x for x in set(y)]",
        "def f(y):\n    return {x: 1 for x in set(y)}",
        "def f(s: set[str]):\n    for x in s:\n        pass",
        "def f(s: 'frozenset[str]'):\n    return list(s)",
        "class A:\n    tags: frozenset[str]\n\n    def f(self):\n        return tuple(self.tags)",
        "class A:\n    def __init__(self):\n        self.seen = set()\n\n"
        "    def f(self):\n        for x in self.seen:\n            pass",
        "def f(a, b):\n    return ','.join(set(a) | set(b))",
        "def f():\n    s = {'x', 'y'}\n    return s.pop()",
        "def f(y):\n    return [*set(y)]",
        "def f(a, b):\n    for x in set(a).union(b):\n        pass",
    ],
}

GOOD = [
    "def f(y):\n    for x in sorted(set(y)):\n        pass",
    "def f(y):\n    return sorted(x.upper() for x in set(y))",
    "def f(y):\n    return len(set(y)), {x for x in set(y)}, max(set(y))",
    "def f(s: set[int]):\n    for x in s:\n        pass",
    "def f(xs: list[str]):\n    for x in xs:\n        pass",
    "def f(d: dict[str, int]):\n    for k in d:\n        pass",
    "import numpy as np\nrng = np.random.default_rng(42)",
    "import numpy as np\nrng = np.random.Generator(np.random.PCG64(7))",
    "def f(seed):\n    import random\n    return random.Random(seed)",
    "def f(self):\n    return self.ctx.random.random(), self.ctx.now",
    "def f(bar):\n    return bar.open + bar.close",
    "import datetime as dt\nd = dt.date(2026, 1, 5)",
    "import datetime as dt\nd = dt.datetime.fromtimestamp(0, tz=dt.UTC)",
    "from sequencer.messages.control import Echo\nx = Echo(text='a', n=1, roll=2)",
    "def f(x):\n    return x.time + 1",
]


@pytest.mark.parametrize(("rule", "snippet"),
                         [(r, s) for r, snippets in BAD.items() for s in snippets])
def test_checker_catches(rule: str, snippet: str) -> None:
    found = check_source(snippet)
    assert rule in {v.rule for v in found}, f"not caught as {rule}:\n{snippet}\nfound: {found}"


@pytest.mark.parametrize("snippet", GOOD)
def test_checker_passes_deterministic_code(snippet: str) -> None:
    assert check_source(snippet) == []


@pytest.mark.parametrize(("rule", "snippet"),
                         [(r, s) for r, snippets in BAD.items() for s in snippets])
def test_marker_with_a_reason_exempts_the_line(rule: str, snippet: str) -> None:
    found = check_source(snippet)
    lines = {v.line for v in found}
    src = snippet.splitlines()
    marked = "\n".join(
        f"{ln}  # determinism: allowed, edge app: {rule} on purpose" if i in lines else ln
        for i, ln in enumerate(src, start=1))
    assert check_source(marked) == []


@pytest.mark.parametrize("marker", ["# determinism: allowed", "# determinism: allowed,",
                                    "# determinism: allowed,   ", "#determinism:allowed"])
def test_marker_without_a_reason_fails(marker: str) -> None:
    found = check_source(f"import time\nx = time.time()  {marker}\n")
    assert {v.rule for v in found} == {"marker-without-reason", "wall-clock"}, found
    assert all(v.line == 2 for v in found)


def test_marker_only_exempts_its_own_line() -> None:
    src = textwrap.dedent("""\
        import time
        a = time.time()  # determinism: allowed, log stamp at the edge
        b = time.time()
    """)
    assert [(v.line, v.rule) for v in check_source(src)] == [(3, "wall-clock")]


def test_a_marker_inside_a_string_is_not_a_marker() -> None:
    src = "import time\nx = (time.time(), '# determinism: allowed, not a comment')\n"
    assert [v.rule for v in check_source(src)] == ["wall-clock"]


def test_the_real_check_fails_on_a_bad_app_file(tmp_path: Path) -> None:
    """The package scan reports file and line of what it finds."""
    bad = tmp_path / "bad_app.py"
    bad.write_text("import threading\n\n\ndef f(names):\n    for n in set(names):\n"
                   "        print(n)\n")
    found = check_source(bad.read_text(), str(bad))
    assert [(v.line, v.rule) for v in found] == [(1, "threads"), (5, "set-iteration")]
    assert str(found[1]).startswith(f"{bad}:5: [set-iteration]")
